/*
 * spool.h - the gateway's durable store-and-forward spool: device batches
 * committed to SQLite (WAL, synchronous FULL) before the gateway sends its
 * receipt, kept in order per device and lane until central's end-to-end acks
 * cover every item, within a disk budget that sheds telemetry (never
 * interactions or priority) and then refuses. One thread at a time.
 * Schema and accounting: docs/gateway.md ("The spool").
 */
#ifndef GATEWAY_SPOOL_H
#define GATEWAY_SPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/clock.h"
#include "common/uuid.h"
#include "common/wire.h"

#ifdef __cplusplus
extern "C" {
#endif

/* What a batch costs against the budget: its bytes plus a fixed allowance for
 * its rows and index entries (so many tiny batches cannot hide). */
#define GW_SPOOL_BATCH_OVERHEAD 256
#define GW_SPOOL_ITEM_OVERHEAD 64

struct gw_spool;

/* Open (creating and migrating) the spool at path for store_id. A spool
 * written for another store is refused (RG_ERR_STATE). clock is borrowed. */
int gw_spool_open(const char *path, const char *store_id, int64_t budget_bytes,
		  const struct rg_clock *clock, struct gw_spool **out);
void gw_spool_close(struct gw_spool *s);
void gw_spool_set_budget(struct gw_spool *s, int64_t budget_bytes);

/* One accepted batch, already validated (uplink.h). Borrowed. */
struct gw_spool_in {
	const char *device;
	enum rg_lane lane;
	struct rg_uuid batch_id;
	const char *payload; /* the document exactly as received */
	size_t len;
	const struct rg_uuid *ids; /* its items' ids */
	size_t n_ids;
};

enum gw_put_status {
	GW_PUT_SPOOLED = 0,   /* committed once gw_spool_commit returns 0 */
	GW_PUT_DUPLICATE = 1, /* the same bytes from the same device are spooled already */
	GW_PUT_FULL = 2,      /* over budget even after shedding telemetry: refused */
};

struct gw_put_result {
	enum gw_put_status status;
	int64_t seq;	  /* the spool entry (new or the duplicate's) */
	int shed_batches; /* telemetry batches dropped to make room */
	int shed_items;
};

/* Group commit: begin, put one or more batches, commit. Nothing put is
 * durable (or may be acknowledged to a device) before commit returns 0; on
 * any error call gw_spool_rollback and treat every put as not done. */
int gw_spool_begin(struct gw_spool *s);
int gw_spool_put(struct gw_spool *s, const struct gw_spool_in *in, struct gw_put_result *r);
int gw_spool_commit(struct gw_spool *s);
void gw_spool_rollback(struct gw_spool *s);
/* begin + put + commit. */
int gw_spool_put1(struct gw_spool *s, const struct gw_spool_in *in, struct gw_put_result *r);

/* A spooled batch. payload is malloc'd and owned by the caller (free). */
struct gw_spool_entry {
	int64_t seq;
	char device[RG_WIRE_ID_MAX + 1];
	enum rg_lane lane;
	struct rg_uuid batch_id;
	char *payload;
	size_t len;
	int items;   /* in the batch */
	int pending; /* not yet covered by an ack */
};

/* The oldest batch of device in lane: 1 with *e filled, 0 when none. */
int gw_spool_head(struct gw_spool *s, const char *device, enum rg_lane lane,
		  struct gw_spool_entry *e);
/* The oldest entries of device in lane, in order, into es[0..*n): at most
 * max of them, and past the first no more than max_bytes (each entry's
 * length + 1) and max_items in all. 1 with *n >= 1, 0 when none; on error
 * nothing is left allocated. */
int gw_spool_run(struct gw_spool *s, const char *device, enum rg_lane lane, size_t max,
		 size_t max_bytes, int max_items, struct gw_spool_entry *es, size_t *n);
/* The oldest seq of device in lane without reading it: 1/0 like head. */
int gw_spool_head_seq(struct gw_spool *s, const char *device, enum rg_lane lane, int64_t *seq);
/* 1 if the entry still exists, 0 if not. */
int gw_spool_exists(struct gw_spool *s, int64_t seq);
void gw_spool_entry_free(struct gw_spool_entry *e);

/* Every (device, lane) with something spooled, in no order; fn returning
 * non-zero stops. Returns the count visited or an error. */
int gw_spool_queues(struct gw_spool *s, int (*fn)(void *ctx, const char *device, enum rg_lane lane),
		    void *ctx);

struct gw_ack_result {
	int matched;	     /* spooled items the ack covered (all copies) */
	int batches_deleted; /* entries now fully covered, removed */
};
/* Apply one end-to-end ack of device: every listed id is done. One
 * transaction. Ids that match nothing are fine (already deleted, shed, or
 * never spooled here). */
int gw_spool_ack(struct gw_spool *s, const char *device, const struct rg_uuid *ids, size_t n,
		 struct gw_ack_result *r);

/* 1 if device ever had a batch accepted by this spool, else 0. */
int gw_spool_device_known(struct gw_spool *s, const char *device);

struct gw_spool_stats {
	int64_t batches[RG_LANE__COUNT];
	int64_t items; /* not yet acked, all lanes */
	int64_t bytes; /* accounted against the budget */
	int64_t budget;
};
int gw_spool_stats(struct gw_spool *s, struct gw_spool_stats *out);

#ifdef __cplusplus
}
#endif

#endif
