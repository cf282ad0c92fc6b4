/*
 * device_internal.h - the device core's state, shared by device.c (reads)
 * and api.c (the staff API, /metrics, /healthz).
 */
#ifndef FIRMWARE_DAEMON_DEVICE_INTERNAL_H
#define FIRMWARE_DAEMON_DEVICE_INTERNAL_H

#include <pthread.h>

#include "common/uuid.h"
#include "device.h"

#define DEVICE_SCANS 64		 /* recent scans remembered for "link this card" */
#define DEVICE_SCAN_TTL_MS 600000 /* a scan can be linked for 10 minutes */

struct device_scan {
	int no; /* 0 = empty slot */
	int64_t at_ms; /* monotonic */
	bool unknown;  /* matched no profile (linkable) */
	enum ident_type type;
	uint8_t token[RG_TOKEN_LEN];
};

struct device {
	pthread_mutex_t mu; /* everything below except body_buf and edit_mu's */
	struct devcfg cfg;
	struct ident_pipeline *pipe;
	struct web_server *web;
	struct device_remote remote;
	bool has_remote;
	struct rg_uuid7_gen ids; /* episode ids */
	int scan_seq;
	struct device_scan scans[DEVICE_SCANS];
	struct device_counters n;
	char *last_screen; /* the newest screen event, for GET /screen */
	enum view_state last_state; /* of last_screen (VIEW_IDLE when none) */
	bool closed;		    /* a kiosk outside screen.hours */
	int64_t hours_minute;	    /* wall minute of the last hours check, -1: check now */
	char *config_json;	    /* GET /api/config: {"effective","report"}; NULL: none */

	struct store *store;
	const struct rg_clock *clock;
	const char *channel; /* "kiosk" / "handheld": the role, as outbox bodies name it */
	pthread_mutex_t edit_mu; /* serialises staff edits of cached bodies */
	/* The main loop's lookup buffer: reads are handled on one thread. */
	char body_buf[STORE_BODY_MAX + 1];
};

int device__identify_buf(struct device *d, enum ident_source src, const void *data, size_t len,
			 struct device_outcome *o, char *buf, size_t cap);
void device__view_opts(struct device *d, struct view_opts *o);
void device__iso_time(struct device *d, char out[32]);
int device__record(struct device *d, enum rg_kind kind, const char *profile_id,
		   const uint8_t *token, cJSON *body, struct store_outbox_ref *ref);
void device__broadcast(struct device *d, const char *event, const char *json);
/* The screen to show when nothing is being shown (idle, or closed). */
cJSON *device__rest_screen(struct device *d);

#endif
