/*
 * wire.h - the uplink wire format: batches of interactions (device -> gateway
 * -> central) and end-to-end acknowledgements (central -> gateway -> device),
 * as JSON documents with strict, size-capped parsing. Everything here parses
 * outside data: a parse either yields a fully validated value or an error
 * message naming the first problem, never a partial result.
 * See docs/wire.md for the byte-level format.
 */
#ifndef COMMON_WIRE_H
#define COMMON_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cJSON.h>

#include "common/crypto.h"
#include "common/hlc.h"
#include "common/uuid.h"

#ifdef __cplusplus
extern "C" {
#endif

#define RG_WIRE_VERSION 1
#define RG_WIRE_MAX_BYTES (256 * 1024) /* a whole batch or ack document */
#define RG_WIRE_MAX_ITEMS 500          /* interactions per batch */
#define RG_WIRE_MAX_BODY 8192          /* one interaction's body, as JSON text */
#define RG_WIRE_ID_MAX 64              /* device / gateway / profile ids */
#define RG_WIRE_STORE_MAX 32
#define RG_WIRE_ERR_MAX 256
/* A bundle: several spooled batches of one device and lane that a gateway
 * forwards to central as one message, applied in order under one commit.
 * Its bytes stay under the brokers' max_packet_size (1 MiB) with the topic. */
#define RG_WIRE_BUNDLE_MAX_BATCHES 16
#define RG_WIRE_BUNDLE_MAX_ITEMS 2000
#define RG_WIRE_BUNDLE_MAX_BYTES (1000 * 1024)

/* What an interaction records. Names are the wire strings; values are stable. */
enum rg_kind {
	RG_KIND_IDENTIFIED = 0,
	RG_KIND_UNKNOWN_IDENTIFIER = 1,
	RG_KIND_NOTE = 2,
	RG_KIND_EPISODE_OPENED = 3,
	RG_KIND_EPISODE_UPDATED = 4,
	RG_KIND_EPISODE_RESOLVED = 5,
	RG_KIND_CARD_LINKED = 6,
	RG_KIND_CONSENT_CHANGED = 7,
	RG_KIND_PREFERENCE_CHANGED = 8,
	RG_KIND_POINTS_REDEEMED = 9,
	RG_KIND_ERASURE_REQUESTED = 10,
	RG_KIND_TELEMETRY = 11,
	RG_KIND__COUNT
};

/* Priority lanes, highest first: what the gateway forwards (and keeps) first. */
enum rg_lane {
	RG_LANE_PRIORITY = 0,     /* erasure and consent */
	RG_LANE_INTERACTIONS = 1, /* everything a customer or staff member did */
	RG_LANE_TELEMETRY = 2,    /* device health; shed first under disk pressure */
	RG_LANE__COUNT
};

const char *rg_kind_name(enum rg_kind k);
/* Returns the kind or RG_ERR_PARSE. */
int rg_kind_parse(const char *name);
enum rg_lane rg_kind_lane(enum rg_kind k);
const char *rg_lane_name(enum rg_lane l);

/* 1 if s is a valid identity (device, gateway, cloud worker): 1..64 chars of
 * [a-z0-9-], not starting with '-'. These become MQTT usernames and topic
 * levels, so '+', '#', '/' and the like can never appear. */
int rg_wire_identity_valid(const char *s);

struct rg_wire_item {
	struct rg_uuid id;
	struct rg_hlc hlc;
	enum rg_kind kind;
	char profile[RG_WIRE_ID_MAX + 1]; /* "" when not known (unknown identifier) */
	bool has_token;
	uint8_t token[RG_TOKEN_LEN];
	const cJSON *body; /* an object; borrowed from the batch's tree */
};

struct rg_wire_batch {
	char device[RG_WIRE_ID_MAX + 1];
	char store[RG_WIRE_STORE_MAX + 1];
	struct rg_uuid batch_id;
	size_t n_items;
	struct rg_wire_item *items; /* owned */
	cJSON *root;                /* owned; items' bodies point into it */
};

/* Parse and validate a batch. On success *out owns its memory: release it with
 * rg_wire_batch_free(). Errors: RG_ERR_TOOBIG, RG_ERR_PARSE, RG_ERR_MISSING,
 * RG_ERR_TYPE, RG_ERR_RANGE, RG_ERR_NOMEM, with a message in err. Item ids
 * must be unique within the batch and items in strictly increasing HLC order. */
int rg_wire_batch_parse(const char *buf, size_t len, struct rg_wire_batch *out, char *err,
			size_t errcap);
void rg_wire_batch_free(struct rg_wire_batch *b);

/* What a gateway forwards to central: one batch, or a bundle of 1..16
 * batches of one device and store (docs/wire.md, "Bundle"), in order. */
struct rg_wire_uplink {
	size_t n;
	struct rg_wire_batch *batches; /* owned, n of them */
	bool bundle;		       /* it came as a bundle */
};
/* Parse either form; a lone batch has exactly rg_wire_batch_parse's rules,
 * a bundle is all or nothing (one bad batch refuses it). Release with
 * rg_wire_uplink_free (also safe after an error). */
int rg_wire_uplink_parse(const char *buf, size_t len, struct rg_wire_uplink *out, char *err,
			 size_t errcap);
void rg_wire_uplink_free(struct rg_wire_uplink *u);
/* Wrap n (1..RG_WIRE_BUNDLE_MAX_BATCHES) batch documents, each exactly as
 * validated by rg_wire_batch_parse, into a bundle. *out malloc'd (caller
 * frees). RG_ERR_TOOBIG past RG_WIRE_BUNDLE_MAX_BYTES, RG_ERR_RANGE on n. */
int rg_wire_bundle_build(const char *const *docs, const size_t *lens, size_t n, char **out,
			 size_t *len);

/* Building a batch: begin, add items, then render to JSON text. */
struct rg_wire_writer;
int rg_wire_writer_new(const char *device, const char *store, const struct rg_uuid *batch_id,
		       struct rg_wire_writer **out);
/* body_json is an object's JSON text (validated, <= RG_WIRE_MAX_BODY). token may be NULL. */
int rg_wire_writer_add(struct rg_wire_writer *w, const struct rg_uuid *id, const struct rg_hlc *hlc,
		       enum rg_kind kind, const char *profile, const uint8_t *token,
		       const char *body_json);
size_t rg_wire_writer_count(const struct rg_wire_writer *w);
/* Render: *out is a malloc'd NUL-terminated string owned by the caller (free()).
 * RG_ERR_TOOBIG if the document would exceed RG_WIRE_MAX_BYTES. */
int rg_wire_writer_finish(struct rg_wire_writer *w, char **out, size_t *len);
void rg_wire_writer_free(struct rg_wire_writer *w);

/* End-to-end acknowledgement from central: every listed id is committed
 * (or was already, by an earlier copy) in the central store. */
struct rg_wire_ack {
	char device[RG_WIRE_ID_MAX + 1];
	struct rg_uuid batch_id;
	size_t n_ids;
	struct rg_uuid *ids; /* owned */
};

int rg_wire_ack_parse(const char *buf, size_t len, struct rg_wire_ack *out, char *err,
		      size_t errcap);
void rg_wire_ack_free(struct rg_wire_ack *a);
/* *out malloc'd, caller frees. */
int rg_wire_ack_encode(const char *device, const struct rg_uuid *batch_id,
		       const struct rg_uuid *ids, size_t n, char **out, size_t *len);

#ifdef __cplusplus
}
#endif

#endif
