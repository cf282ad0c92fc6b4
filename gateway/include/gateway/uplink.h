/*
 * uplink.h - what the gateway checks before it spools anything a device
 * sends, and the small documents it answers with: the store-broker topic
 * tree, the batch checks (size, identity, store, lane, rg_wire_batch_parse),
 * receipts (docs/gateway.md) and the checks on central's acks before relay.
 * Every function here parses outside data and never trusts it.
 */
#ifndef GATEWAY_UPLINK_H
#define GATEWAY_UPLINK_H

#include <stdbool.h>
#include <stddef.h>

#include "common/uuid.h"
#include "common/wire.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Why a batch was refused. Each has a counter (its name) and the receipt
 * reason the device gets (docs/gateway.md, "Refusals"). Values are stable. */
enum gw_refusal {
	GW_ACCEPT = 0,
	GW_REFUSE_MALFORMED = 1,       /* rg_wire_batch_parse said no */
	GW_REFUSE_TOO_BIG = 2,	       /* over RG_WIRE_MAX_BYTES */
	GW_REFUSE_DEVICE_MISMATCH = 3, /* batch "device" is not the publishing identity */
	GW_REFUSE_STORE_MISMATCH = 4,  /* batch "store" is not this gateway's store */
	GW_REFUSE_NOT_DEVICE = 5,      /* the publisher is a gw-* identity */
	GW_REFUSE_UNKNOWN_DEVICE = 6,  /* not in known_devices (when configured) */
	GW_REFUSE_LANE_MISMATCH = 7,   /* an item's kind is not of the topic's lane */
	GW_REFUSE_SPOOL_FULL = 8,      /* over the disk budget after shedding telemetry */
	GW_REFUSE__COUNT
};

/* Counter / log name, e.g. "lane_mismatch". */
const char *gw_refusal_name(enum gw_refusal r);
/* The receipt's reason (proto): malformed, too_big, device_mismatch,
 * store_mismatch or spool_full. */
const char *gw_refusal_reason(enum gw_refusal r);

/* A topic on the store broker the gateway reads. */
enum gw_topic_kind { GW_TOPIC_UP = 0, GW_TOPIC_REQ = 1, GW_TOPIC_STATUS = 2 };
struct gw_topic {
	enum gw_topic_kind kind;
	char device[RG_WIRE_ID_MAX + 1]; /* the publishing identity (ACL-enforced) */
	enum rg_lane lane;		 /* GW_TOPIC_UP */
	char op[32];			 /* GW_TOPIC_REQ: [a-z_]{1,31} */
};
/* Parse rg/v1/s/<store_id>/d/<dev>/up/<lane>, .../req/<op> or .../status.
 * RG_ERR_PARSE for anything else (another store included). */
int gw_topic_parse(const char *topic, const char *store_id, struct gw_topic *out);

/* The verdict on one uplink message. */
struct gw_uplink {
	enum gw_refusal refusal;
	bool has_batch_id; /* known even for most refusals, for the receipt */
	struct rg_uuid batch_id;
	struct rg_wire_batch batch; /* parsed, when refusal == GW_ACCEPT */
	struct rg_uuid *ids;	    /* batch.n_items ids, when accepted; owned */
	char detail[RG_WIRE_ERR_MAX];
};

/* Check one message from identity `device` on lane for store_id. device_known
 * says whether the configuration accepts this identity (gwcfg_device_known).
 * Returns 0 with out->refusal set (GW_ACCEPT or why not), or RG_ERR_NOMEM.
 * Always release with gw_uplink_free. */
int gw_uplink_check(const char *store_id, const char *device, bool device_known, enum rg_lane lane,
		    const void *payload, size_t len, struct gw_uplink *out);
void gw_uplink_free(struct gw_uplink *u);

#define GW_RECEIPT_MAX 160
/* {"v":1,"type":"receipt","batch":"<uuid>","status":"spooled"} or with
 * "status":"refused","reason":"<reason>". Returns the length, or RG_ERR_INVAL. */
int gw_receipt_encode(const struct rg_uuid *batch, enum gw_refusal r, char *buf, size_t cap);

/* Parse central's ack (rg_wire_ack_parse) and check it may be relayed: its
 * device is a device identity (not gw-*). 0 with *out to free
 * (rg_wire_ack_free), or a parse error with err filled. */
int gw_ack_check(const void *payload, size_t len, struct rg_wire_ack *out, char *err,
		 size_t errcap);

#ifdef __cplusplus
}
#endif

#endif
