/*
 * device.h - the core of regulars-device, without the process around it:
 * identify a read (pipeline -> local cache -> remote seam), build the view
 * for the role, record the interaction durably, then tell the screens; and
 * serve the staff API (docs/device-api.md). main.c owns the process (config,
 * keys, readers, signals, the web server's lifetime); tests and the
 * benchmark drive this directly.
 *
 * Threads: device_handle_read runs on the main loop's thread; the web ops
 * run on the web server's threads. The store is thread-safe; the pipeline
 * and the device's own state are guarded by the device's lock.
 */
#ifndef FIRMWARE_DAEMON_DEVICE_H
#define FIRMWARE_DAEMON_DEVICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cJSON.h>

#include "common/clock.h"
#include "common/ident.h"
#include "firmware/devconfig.h"
#include "firmware/store.h"
#include "view.h"
#include "web.h"

/* How the device reaches beyond its cache (the uplink, when configured). */
struct device_remote {
	void *ctx;
	/* A row was appended to the outbox: send soon. Cheap, non-blocking. */
	void (*notify)(void *ctx);
	/* Ask upstream for the profile of a token the cache does not know:
	 * 1 with {"id","version","hlc","body"} in buf, 0 not found, <0 offline. */
	int (*lookup)(void *ctx, const uint8_t token[RG_TOKEN_LEN], int timeout_ms, char *buf,
		      size_t cap);
	/* For /healthz and /metrics: whether the uplink is connected. */
	bool (*connected)(void *ctx);
};

struct device;

/* cfg is copied; store and pipeline are borrowed (the pipeline is replaced
 * by device_reload, after which the device owns the new one... see there). */
int device_new(const struct devcfg *cfg, struct store *store, struct ident_pipeline *pipeline,
	       const struct rg_clock *clock, struct device **out);
void device_free(struct device *d);
/* Wire the web server (for broadcasts) and the remote seam; either may be NULL. */
void device_set_web(struct device *d, struct web_server *web);
void device_set_remote(struct device *d, const struct device_remote *remote);
/* The web ops to pass to web_start with d as ctx. */
extern const struct web_ops device_web_ops;

/* What identification found, before anything is recorded. */
struct device_outcome {
	enum view_state state;	  /* GREETING (cached profile), UNKNOWN, REFUSED */
	struct ident_result ident; /* the pipeline's verdict and token */
	char profile_id[STORE_ID_MAX + 1];
	cJSON *screen;		  /* the kiosk view model (owned; device_outcome_clear) */
	bool remote;		  /* found by asking upstream */
};
void device_outcome_clear(struct device_outcome *o);

/* Read -> view model: classify, look up (cache, then the remote seam if the
 * cache misses and one is wired), build the kiosk view. No write. Returns 0
 * (see o->state) or a negative rg_err when it could not decide. */
int device_identify(struct device *d, enum ident_source src, const void *data, size_t len,
		    struct device_outcome *o);
/* A whole read: device_identify, then (unless refused) the outbox row,
 * committed, and only then the screen and scan events. Returns 0 or an rg_err.
 * A kiosk outside screen.hours ignores the read: *state VIEW_CLOSED, nothing
 * recorded, nothing shown, counted in reads_closed. */
int device_handle_read(struct device *d, enum ident_source src, const void *data, size_t len,
		       enum view_state *state);
/* A copy of the newest screen event's JSON (free()), or NULL. */
char *device_screen_copy(struct device *d);

/* Apply a reloaded or pushed config (the effective one: devcfg_overlay;
 * only reloadable keys differ: devcfg_reload_check) and, if non-NULL, a
 * pipeline built from it; the device then frees the old pipeline it was
 * given (the caller must not). Lowered cache limits evict now
 * (store_set_limits). Screen settings take effect at once: a kiosk
 * showing its idle or closed screen shows it again with the new texts, and
 * the opening hours are checked again now. */
void device_reload(struct device *d, const struct devcfg *cfg, struct ident_pipeline *pipeline);
/* Ownership of the current pipeline passes back to the caller (for free at exit). */
struct ident_pipeline *device_pipeline(struct device *d);

/* Idle work for the main loop (last_seen flush). */
void device_idle(struct device *d);
/* Call often (the main loop: every wakeup, at least once a second): a kiosk
 * with screen.hours checks the local time (localtime_r) when the minute
 * changed, and switches to and from its closed screen. Returns whether the
 * kiosk is closed now. Reads are checked again on their own. */
bool device_tick(struct device *d);
/* What GET /api/config answers (a JSON object as text; copied). */
void device_set_config_json(struct device *d, const char *json);

struct device_counters {
	int64_t reads, greeted, unknown, refused, errors, remote_hits, recorded, record_failures;
	int64_t reads_closed; /* reads a closed kiosk ignored (not in reads) */
	int64_t identify_us_sum, identify_us_max;
};
void device_counters_get(struct device *d, struct device_counters *out);

#endif
