/*
 * uplink.h - the device's sync link to the store gateway (docs/uplink.md):
 * sends the outbox as batches per lane over MQTT, deletes rows only when
 * central's end-to-end ack lists them, follows the gateway's receipts, and
 * asks the gateway for a profile on a local cache miss; takes in the signed
 * configuration documents the gateway relays (docs/config.md) and hands
 * them to the daemon, and publishes the device's retained status with the
 * daemon's configuration report. It runs two threads
 * of its own (the rg_mqtt client and a sender); every function here is
 * thread-safe. It never writes the store except store_outbox_mark_sent and
 * store_outbox_ack.
 */
#ifndef FIRMWARE_UPLINK_H
#define FIRMWARE_UPLINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/clock.h"
#include "firmware/store.h"

#ifdef __cplusplus
extern "C" {
#endif

#define UPLINK_BATCH_MAX 500	       /* rows per batch (the wire limit) */
#define UPLINK_WINDOW 8		       /* batches published and awaiting their receipt */
#define UPLINK_TRACK_MAX 32	       /* batches awaiting central's ack (window included) */
#define UPLINK_LOOKUP_MAX 64	       /* lookups waiting at once */
#define UPLINK_PROFILE_MAX (48 * 1024) /* a lookup answer's profile, as JSON text */

struct uplink;

struct uplink_config {
	const char *device_id; /* this device's identity = its certificate CN */
	const char *store_id;  /* the store (topic prefix rg/v1/s/<store>/) */
	const char *host;      /* the store broker */
	int port;
	const char *ca_file, *cert_file, *key_file; /* tenant CA, device cert and key (PEM) */
	int batch_max;				    /* rows per batch, 1..500; 0: 100 */
	int resend_ms;		      /* resend rows not acknowledged after this; 0: 30000 */
	int lookup_timeout_ms;	      /* default for uplink_lookup(timeout_ms <= 0); 0: 1500 */
	struct store *store;	      /* borrowed; must outlive the uplink */
	const struct rg_clock *clock; /* borrowed; NULL: rg_clock_system() */
	/* Optional, tests: the reconnect backoff (rg_mqtt), 0: rg_mqtt's defaults. */
	int backoff_min_ms, backoff_max_ms;
	/* Optional: pushed configuration. When set, the uplink subscribes to
	 * rg/v1/s/<store>/config/# and rg/v1/s/<store>/d/<dev>/config and
	 * calls this on its MQTT thread for each message, with the scope the
	 * topic names (enum cfgdoc_scope; config/keys/<n> is CFGDOC_SCOPE_KEYS).
	 * The payload is borrowed for the call: copy it, do not block. */
	void (*on_config)(void *ctx, int scope, const char *topic, const void *payload,
			  size_t len);
	void *config_ctx;
	/* Optional: replication (docs/replication.md). When on_notice is set
	 * the uplink subscribes to the store-wide rg/v1/s/<store>/down/changes
	 * (QoS 1) and calls it with the notice's latest; on_online is called
	 * after every (re)connect. Both run on the MQTT thread: do not block. */
	void (*on_notice)(void *ctx, int64_t latest);
	void (*on_online)(void *ctx);
	void *replica_ctx;
};

/* Validate cfg and start the MQTT client and the sender thread (returns at
 * once; connecting happens in the background). RG_ERR_CONFIG with a logged
 * message for a bad config. On success *out is owned by the caller
 * (uplink_stop). */
int uplink_start(const struct uplink_config *cfg, struct uplink **out);
/* New rows are in the outbox: send soon. Cheap and non-blocking. */
void uplink_notify(struct uplink *u);
/* Publish nothing more, publish the retained status {"online":false} (a clean
 * DISCONNECT discards the Will), disconnect, join both threads and free u.
 * NULL is a no-op. Rows stay in the outbox. The caller makes sure no other
 * uplink call is running or starts (the daemon stops its users first). */
void uplink_stop(struct uplink *u);

/* Change the sync parameters while running (pushed configuration): the
 * same ranges and 0-defaults as uplink_config. Batches already in flight
 * keep their timers; the next ones use the new values. 0 or RG_ERR_CONFIG
 * (nothing changed). */
int uplink_set_params(struct uplink *u, int batch_max, int resend_ms, int lookup_timeout_ms);

/* The configuration report (cfgstate_report as compact JSON; copied) that the
 * retained status carries as "config" from now on; published at once when
 * connected, and with every status after a reconnect. NULL removes it. */
int uplink_set_config_report(struct uplink *u, const char *json);

struct uplink_status {
	bool connected;
	int64_t batches_sent;	  /* batch publishes, resends included */
	int64_t rows_sent;	  /* rows in those batches */
	int64_t rows_acked;	  /* outbox rows deleted on central's acks */
	int64_t receipts_spooled; /* gateway receipts: spooled */
	int64_t receipts_refused; /* gateway receipts: refused (any reason) */
	int64_t acks_received;	  /* acks applied */
	int64_t acks_invalid;	  /* acks, receipts, answers refused (malformed / not ours) */
	int64_t last_ack_ms;	  /* wall ms of the last ack applied, 0 if none */
	int64_t config_messages;  /* configuration messages handed to on_config */
	int64_t notices;	  /* change notices handed to on_notice */
	int64_t notices_invalid;  /* notices refused (malformed) */
	int64_t pulls;		  /* replication requests answered */
	int64_t responses_unexpected; /* answers whose correlation data matched no request */
};
void uplink_status_get(struct uplink *u, struct uplink_status *out);

/* Ask the gateway for the profile behind a token (a local cache miss).
 * Blocking, for up to timeout_ms (<= 0: the configured default). Returns 1
 * with the profile as a JSON object {"id","version","hlc","body"} in buf
 * (NUL-terminated), 0 if the gateway and central do not know the token,
 * RG_ERR_CLOSED when offline or stopping, RG_ERR_TIMEOUT when no valid
 * answer came in time, RG_ERR_TOOBIG if cap is short, RG_ERR_BUSY when
 * UPLINK_LOOKUP_MAX lookups are already waiting. */
int uplink_lookup(struct uplink *u, const uint8_t token[32], int timeout_ms, char *buf, size_t cap);

#define UPLINK_PULL_MAX 2 /* replication requests waiting at once */

/* A replication request (docs/replication.md): publish req (a "changes" or
 * "snapshot" request, common/delta.h's delta_request_build) on
 * rg/v1/s/<store>/d/<dev>/req/<op> (op "changes" or "snapshot") with the
 * Response Topic .../down/resp and fresh correlation data, and wait up to
 * timeout_ms for the answer. Returns 0 with the raw answer (malloc'd,
 * NUL-terminated, *len bytes, the caller frees and parses it) in *out;
 * RG_ERR_CLOSED offline or stopping, RG_ERR_TIMEOUT, RG_ERR_BUSY when
 * UPLINK_PULL_MAX requests wait already, RG_ERR_INVAL for a bad op. */
int uplink_pull(struct uplink *u, const char *op, const char *req, size_t req_len,
		int timeout_ms, char **out, size_t *len);

/* Make every uplink_pull waiting now, and every later one, return
 * RG_ERR_CLOSED at once (the daemon stops its puller before the uplink). */
void uplink_pull_cancel(struct uplink *u);

/* The replica's position the retained status carries from now on as
 * "replica":{"cursor":N,"latest":L,"as_of":ms}; published at once when it
 * changed and the uplink is connected. */
void uplink_set_replica(struct uplink *u, int64_t cursor, int64_t latest, int64_t as_of_ms);

#ifdef __cplusplus
}
#endif

#endif
