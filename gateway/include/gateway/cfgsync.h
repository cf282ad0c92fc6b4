/*
 * cfgsync.h - the gateway's part of configuration over MQTT (docs/gateway.md,
 * "Configuration documents"): IT's retained documents are relayed byte for
 * byte from the central broker to the store broker, the devices' retained
 * statuses are mirrored to the central broker, and the gateway's own
 * settings come from the same documents through a cfgstate of its own
 * (common/cfgstate.h). The latest message of every relayed topic is kept in
 * memory and published again whenever the receiving broker reconnects.
 *
 * No MQTT here: the daemon hands each message in and publishes through the
 * ops, so all of it runs in unit tests. Single-threaded (the main loop).
 */
#ifndef GATEWAY_CFGSYNC_H
#define GATEWAY_CFGSYNC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cJSON.h>

#include "common/cfgdoc.h"
#include "common/clock.h"

#ifdef __cplusplus
extern "C" {
#endif

#define GW_CFG_TOPIC_MAX 256
#define GW_CFG_CACHE_TOPICS 4096	  /* topics kept per direction */
#define GW_CFG_CACHE_BYTES (32u << 20)	  /* payload bytes kept per direction */
#define GW_STATUS_MAX CFGDOC_ENVELOPE_MAX /* a device status bigger is not mirrored */

enum gw_broker { GW_BROKER_STORE = 0, GW_BROKER_CENTRAL = 1 };

/* What the gateway does with a message under rg/v1/config/ on central. */
enum gw_cfg_route_kind {
	GW_ROUTE_RELAY = 0,	  /* republish on the store broker (route.store_topic) */
	GW_ROUTE_OWN = 1,	  /* the gateway's own device-scope document: not relayed */
	GW_ROUTE_OTHER_STORE = 2, /* a well-formed topic of another store */
	GW_ROUTE_BAD_TOPIC = 3,	  /* not a configuration topic of this protocol */
};

struct gw_cfg_route {
	enum gw_cfg_route_kind kind;
	int scope;			    /* enum cfgdoc_scope of the topic (RELAY, OWN) */
	bool own;			    /* also offered to the gateway's own settings */
	char store_topic[GW_CFG_TOPIC_MAX]; /* RELAY: where it goes on the store broker */
};

/*
 * Route a central topic for store (gw_identity = "gw-<store>"):
 *   rg/v1/config/tenant              -> rg/v1/s/<store>/config/tenant          (own)
 *   rg/v1/config/store/<store>       -> rg/v1/s/<store>/config/store           (own)
 *   rg/v1/config/keys/<version>      -> rg/v1/s/<store>/config/keys/<version>  (own)
 *   rg/v1/config/device/<store>/<d>  -> rg/v1/s/<store>/d/<d>/config
 *   rg/v1/config/device/<store>/gw-<store> -> OWN (not relayed)
 * <version> is decimal, 1..15 digits, no leading zero; <d> a device
 * identity that is not gw-*. Always fills out; returns out->kind.
 */
int gw_cfg_route(const char *topic, const char *store, const char *gw_identity,
		 struct gw_cfg_route *out);

/* rg/v1/s/<store>/d/<dev>/status: 0 with dev filled (a valid identity, not
 * gw-*); RG_ERR_PARSE when the topic has that shape but <dev> is not a
 * device identity; RG_ERR_NOTFOUND when it is no device status topic. */
int gw_status_topic_device(const char *topic, const char *store, char dev[65]);

struct gw_cfgsync_ops {
	/* Publish retained, QoS 1, on broker b. 0, or a negative rg_err
	 * (RG_ERR_CLOSED while the link is down): the message stays kept and
	 * goes out again on gw_cfgsync_link_up(b). Required. */
	int (*publish)(void *ctx, enum gw_broker b, const char *topic, const void *payload,
		       size_t len);
	/* Whether dev is one of this store's devices (gwcfg_device_known). Required. */
	int (*device_known)(void *ctx, const char *dev);
	/* The gateway's applied settings changed: merged is every applied
	 * scope's settings (borrowed for the call). Optional. */
	void (*settings)(void *ctx, const cJSON *merged);
	/* cfgstate's validate hook: may the merged settings be applied?
	 * 0, or RG_ERR_CONFIG with "key: why". Optional. */
	int (*validate)(void *ctx, const cJSON *merged, char *err, size_t errcap);
	/* The report (gw_cfgsync_report) changed: publish the status. Optional. */
	void (*report_changed)(void *ctx);
};

struct gw_cfgsync_params {
	const char *store_id; /* this store */
	const char *identity; /* gw-<store> */
	/* The gateway's own settings: both NULL for none (relay and mirror
	 * still run). The anchor file is read once here. */
	const char *trust_anchor;
	const char *state_path;
	const struct rg_clock *clock; /* NULL: rg_clock_system() */
	const struct gw_cfgsync_ops *ops;
	void *ctx;
};

struct gw_cfgsync_stats {
	int64_t relayed;	/* documents republished on the store broker (clears included) */
	int64_t cleared;	/* of which clears (empty payloads) */
	int64_t unchanged;	/* the same bytes again: nothing to republish */
	int64_t other_store;	/* another store's topic: not relayed */
	int64_t bad_topic;	/* not a configuration topic: not relayed */
	int64_t too_large;	/* over CFGDOC_ENVELOPE_MAX: not relayed */
	int64_t uncached;	/* relayed but not kept (cache full): not republished */
	int64_t republished;	/* messages sent again after a reconnect */
	int64_t deferred;	/* a publish the client refused (link down): sent on reconnect */
	int64_t mirrored;	/* device statuses republished on central */
	int64_t mirror_unknown; /* statuses of devices this gateway does not know */
	int64_t mirror_too_large;
	int64_t offered;      /* documents offered to the gateway's own settings */
	int64_t applied;      /* offers that changed the applied settings */
	int64_t refused;      /* offers refused (reason in the report) */
	int64_t state_errors; /* cfgstate failures (disk) */
};

struct gw_cfgsync;

/* Make one. With params->trust_anchor set, reads the anchor and opens (or
 * creates) the state file; RG_ERR_CONFIG with a message naming the file
 * when that fails. On success *out is the caller's (gw_cfgsync_free). */
int gw_cfgsync_new(const struct gw_cfgsync_params *p, struct gw_cfgsync **out, char *err,
		   size_t errcap);
void gw_cfgsync_free(struct gw_cfgsync *s);
bool gw_cfgsync_own_enabled(const struct gw_cfgsync *s);

/*
 * A message from the central broker. payload NULL with len >
 * CFGDOC_ENVELOPE_MAX: one that was too large to copy (refused unread).
 * Returns 1 if the topic is under rg/v1/config/ (handled: relayed, offered,
 * or logged and counted), 0 if it is not (the caller's), or a negative rg_err
 * when memory ran out.
 */
int gw_cfgsync_central(struct gw_cfgsync *s, const char *topic, const void *payload, size_t len);
/* A message from the store broker: 1 if it is a device status (mirrored or
 * logged and counted), 0 if not (the caller's). payload NULL with len >
 * GW_STATUS_MAX: too large (not mirrored). */
int gw_cfgsync_store(struct gw_cfgsync *s, const char *topic, const void *payload, size_t len);
/* Broker b (re)connected: publish everything kept for it again. Returns the
 * number of messages published. */
int gw_cfgsync_link_up(struct gw_cfgsync *s, enum gw_broker b);

/* The merged applied settings (a new object; cJSON_Delete), {} when none;
 * NULL when the gateway has no settings of its own or memory ran out. */
cJSON *gw_cfgsync_merged(struct gw_cfgsync *s);
/* cfgstate_report() for the status, or NULL when the gateway has no
 * settings of its own. A new object. */
cJSON *gw_cfgsync_report(struct gw_cfgsync *s);
/* Re-check expiry (cfgstate_tick); calls report_changed when it changed. */
void gw_cfgsync_tick(struct gw_cfgsync *s);
void gw_cfgsync_stats_get(const struct gw_cfgsync *s, struct gw_cfgsync_stats *out);

#ifdef __cplusplus
}
#endif

#endif
