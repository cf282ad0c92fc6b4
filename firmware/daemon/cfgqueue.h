/*
 * cfgqueue.h - configuration messages on their way from the uplink's MQTT
 * thread to the main loop, which alone owns the configuration state
 * (common/cfgstate.h is not thread-safe). Bounded and mutex-protected; the
 * producer copies each payload once, and a payload over CFGDOC_ENVELOPE_MAX
 * is never copied: it is queued as too_large with its length only, for the
 * main loop to refuse (and report) like any other document.
 */
#ifndef FIRMWARE_DAEMON_CFGQUEUE_H
#define FIRMWARE_DAEMON_CFGQUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CFGQ_MAX 32 /* messages waiting at once (each at most 64 KiB) */
#define CFGQ_TOPIC_MAX 256

struct cfgq_item {
	int scope;		    /* enum cfgdoc_scope */
	char topic[CFGQ_TOPIC_MAX]; /* for logs, and to replace an older message */
	bool too_large;		    /* payload NULL, len the size that came */
	char *payload;		    /* owned (cfgq_item_clear); NULL when too_large */
	size_t len;
};

struct cfgq_stats {
	int64_t queued;	   /* messages taken in */
	int64_t replaced;  /* a newer message on the same topic replaced a waiting one */
	int64_t dropped;   /* the queue was full */
	int64_t too_large; /* queued without their payload */
	int64_t empty;	   /* empty payloads (a cleared retained topic): ignored */
};

struct cfgq;

/* notify (may be NULL) is called after each message is queued, without the
 * queue's lock held: the daemon wakes its main loop with it. */
int cfgq_new(void (*notify)(void *ctx), void *ctx, struct cfgq **out);
void cfgq_free(struct cfgq *q);

/* Any thread. Returns 1 queued, 0 ignored (an empty payload), RG_ERR_BUSY
 * when CFGQ_MAX messages are waiting (dropped and counted; the broker sends
 * retained documents again on the next subscribe), RG_ERR_NOMEM, or
 * RG_ERR_INVAL. A message on a topic that already has one waiting replaces
 * it (retained topics: only the newest counts). */
int cfgq_push(struct cfgq *q, int scope, const char *topic, const void *payload, size_t len);
/* The oldest message: 1 with *out filled (cfgq_item_clear it), 0 if none. */
int cfgq_pop(struct cfgq *q, struct cfgq_item *out);
void cfgq_item_clear(struct cfgq_item *it);
void cfgq_stats_get(struct cfgq *q, struct cfgq_stats *out);

#endif
