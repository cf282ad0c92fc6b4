/*
 * uplink_internal.h - the pure parts of the device uplink, apart from its
 * threads so unit tests and the fuzzer drive them directly: the gateway's
 * receipts and lookup answers (parsed from the network, strictly), the
 * lookup request, and the batcher that splits outbox rows by lane into wire
 * batches under the count and size caps.
 */
#ifndef FIRMWARE_UPLINK_INTERNAL_H
#define FIRMWARE_UPLINK_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/uuid.h"
#include "common/wire.h"
#include "firmware/store.h"
#include "firmware/uplink.h"

#define UPLINK_MSG_MAX (64 * 1024)	/* a receipt or lookup answer document */
#define UPLINK_BATCH_BYTES (224 * 1024) /* size budget per batch, below RG_WIRE_MAX_BYTES */
#define UPLINK_ITEM_OVERHEAD 400	/* wire bytes of one item besides its body, at most */
#define UPLINK_CORR_LEN 16
#define UPLINK_LOOKUP_REQ_MAX 128

/* ---- receipts (docs/wire.md, "Receipts and the ack protocol") ---- */

enum uplink_receipt_status { UPLINK_SPOOLED = 0, UPLINK_REFUSED = 1 };

enum uplink_refusal {
	UPLINK_REFUSAL_NONE = 0,
	UPLINK_REFUSAL_SPOOL_FULL,
	UPLINK_REFUSAL_MALFORMED,
	UPLINK_REFUSAL_TOO_BIG,
	UPLINK_REFUSAL_DEVICE_MISMATCH,
	UPLINK_REFUSAL_STORE_MISMATCH,
};

struct uplink_receipt {
	struct rg_uuid batch;
	enum uplink_receipt_status status;
	enum uplink_refusal reason; /* NONE when spooled */
};

/* Strict: unknown keys, a missing or unknown reason on a refusal, or a
 * reason on "spooled" are errors. 0 or a negative code with err set. */
int uplink__receipt_parse(const char *buf, size_t len, struct uplink_receipt *out, char *err,
			  size_t errcap);
const char *uplink__refusal_name(enum uplink_refusal r);

/* ---- lookups ---- */

/* {"v":1,"type":"lookup","token":"<64 hex>"}; returns its length. */
int uplink__lookup_request(const uint8_t token[RG_TOKEN_LEN], char *buf, size_t cap);
/* Parse {"v":1,"type":"lookup_result","found":..,"profile":{..}} strictly.
 * Returns 1 with the profile re-rendered as compact JSON in profile (NUL-
 * terminated), 0 when found is false, or a negative code with err set
 * (RG_ERR_TOOBIG when cap is short). */
int uplink__lookup_result_parse(const char *buf, size_t len, char *profile, size_t cap, char *err,
				size_t errcap);

/* ---- configuration topics (docs/config.md) ---- */

/* The scope (enum cfgdoc_scope) a configuration topic of this store and
 * device names: rg/v1/s/<store>/config/tenant | store | keys/<1..2^53-1>,
 * rg/v1/s/<store>/d/<device>/config; -1 for any other topic. */
int uplink__config_topic(const char *store, const char *device, const char *topic);

/* ---- batches ---- */

/* The rows of one batch, by seq (ascending) and id. */
struct uplink_batch {
	struct rg_uuid id;
	enum rg_lane lane;
	size_t n;
	int64_t seq[UPLINK_BATCH_MAX];
	struct rg_uuid ids[UPLINK_BATCH_MAX];
	/* tracking, owned by uplink.c */
	int mid;	/* of the last publish, 0 if none */
	bool in_window; /* published, no receipt or PUBACK refusal yet */
	bool spooled;	/* the gateway's receipt said spooled */
	bool refused;	/* refused as a bug (not spool_full): never holds new rows back */
	int publishes;	/* times published */
	int64_t due_ms; /* monotonic ms: publish (again) at or after this */
};

/* Splits rows, in outbox order, into one batch per lane. Feed rows with
 * uplink__batcher_add until it answers 1 (a lane is full: that row was not
 * taken), then take each lane's document with uplink__batcher_finish. */
struct uplink_batcher {
	const char *device, *store;
	size_t batch_max; /* 1..UPLINK_BATCH_MAX */
	struct rg_wire_writer *w[RG_LANE__COUNT];
	struct uplink_batch *b[RG_LANE__COUNT]; /* caller-provided, one per lane */
	size_t bytes[RG_LANE__COUNT];		/* estimated document size */
	int64_t last_seq;			/* of the last row taken, -1 if none */
	size_t taken;
	/* Resending one batch: only rows whose seq is in `only` are taken, into
	 * lane only->lane, under only->id. NULL for new rows. */
	const struct uplink_batch *only;
};

/* b[] point to caller storage (zeroed here); ids for new batches come from
 * gen (not thread-safe: the caller's). */
void uplink__batcher_init(struct uplink_batcher *bt, const char *device, const char *store,
			  size_t batch_max, struct uplink_batch *b[RG_LANE__COUNT],
			  const struct uplink_batch *only);
/* 0 taken (or skipped: not in `only`), 1 full (row not taken), < 0 error. */
int uplink__batcher_add(struct uplink_batcher *bt, struct rg_uuid7_gen *gen,
			const struct store_outbox_row *row);
/* The lane's batch document (malloc'd, caller frees) or *out NULL when the
 * lane got no rows. */
int uplink__batcher_finish(struct uplink_batcher *bt, enum rg_lane lane, char **out, size_t *len);
void uplink__batcher_free(struct uplink_batcher *bt);

/* 1 if seq is one of b's rows (binary search). */
bool uplink__batch_has(const struct uplink_batch *b, int64_t seq);
/* Drop the rows whose id is in ids; returns rows left. */
size_t uplink__batch_remove(struct uplink_batch *b, const struct rg_uuid *ids, size_t n);

#endif
