/*
 * puller.h - the device's replication puller (docs/replication.md, "Device"):
 * a thread of its own that asks the gateway for "changes since cursor" (or
 * snapshot chunks when the gateway says its log no longer reaches back) and
 * applies each answer to the store in one transaction. It pulls when kicked
 * (a (re)connect), on a notice whose latest is above the cursor, and every
 * pull_ms; a page with more=true is followed at once. Reads and taps never
 * wait for it: the store's lock is held only for the apply itself.
 *
 * The link to the gateway is a seam (the uplink in the daemon, a fake in
 * tests). Answers are parsed with common/delta.h; a refused answer applies
 * nothing, is logged as event=delta_refused reason=.. detail=.. and counted.
 */
#ifndef FIRMWARE_DAEMON_PULLER_H
#define FIRMWARE_DAEMON_PULLER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "firmware/store.h"

struct puller_link {
	void *ctx;
	/* Send req (JSON) as a "changes" or "snapshot" request and wait for the
	 * answer: 0 with the raw answer in *out (malloc'd; the puller frees), or
	 * a negative rg_err (offline, timeout). */
	int (*request)(void *ctx, const char *op, const char *req, size_t len, int timeout_ms,
		       char **out, size_t *out_len);
	/* The replica's position changed (the retained status). Optional. */
	void (*report)(void *ctx, int64_t cursor, int64_t latest, int64_t as_of_ms);
	/* Make a request being waited for return now (stopping). Optional. */
	void (*cancel)(void *ctx);
};

struct puller_config {
	struct store *store; /* borrowed */
	struct puller_link link;
	int pull_ms;	/* pull at least this often; 0: 60000 */
	int timeout_ms; /* wait for an answer; 0: 10000 */
	int max;	/* changes per page / profiles per chunk asked for; 0: 200 */
};

struct puller_stats {
	int64_t rounds;		  /* pull rounds run */
	int64_t pages_applied;	  /* pages applied (empty ones included) */
	int64_t pages_refused;	  /* pages and chunks refused whole */
	int64_t chunks_applied;	  /* snapshot chunks applied */
	int64_t snapshots_done;	  /* snapshots completed */
	int64_t request_failures; /* no answer (offline, timeout) */
	int64_t notices;	  /* notices seen */
	int64_t latest_heard;	  /* the highest latest of a notice or page */
};

struct puller;

/* Make a puller (no thread yet: puller_start). *out owned by the caller. */
int puller_new(const struct puller_config *cfg, struct puller **out);
/* Start its thread. It pulls at once. */
int puller_start(struct puller *p);
/* Stop and join the thread (a request being waited for is cancelled through
 * link.cancel, else runs out), free. */
void puller_free(struct puller *p);
/* Pull soon (a reconnect). Any thread, cheap. */
void puller_kick(struct puller *p);
/* A notice said the gateway is at latest: pull if that is above the cursor. */
void puller_notice(struct puller *p, int64_t latest);
/* Change the interval while running (0: the default). */
void puller_set_interval(struct puller *p, int pull_ms);
void puller_stats_get(struct puller *p, struct puller_stats *out);

/* One round now, on the caller's thread (tests): pull until the gateway has
 * nothing more or an answer is refused. Returns pages + chunks applied, or
 * the first refusal / request error. */
int puller_round(struct puller *p);

#endif
