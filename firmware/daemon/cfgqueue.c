/*
 * cfgqueue.c - the bounded hand-over of configuration messages from the MQTT
 * thread to the main loop (cfgqueue.h): a ring of CFGQ_MAX slots under one
 * mutex; payloads are copied outside the lock.
 */
#include "cfgqueue.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cfgdoc.h"
#include "common/err.h"

struct cfgq {
	pthread_mutex_t mu;
	struct cfgq_item slot[CFGQ_MAX]; /* ring: head is the oldest */
	size_t head, n;
	struct cfgq_stats st;
	void (*notify)(void *ctx);
	void *ctx;
};

int cfgq_new(void (*notify)(void *ctx), void *ctx, struct cfgq **out)
{
	struct cfgq *q;
	if (!out)
		return RG_ERR_INVAL;
	*out = NULL;
	if (!(q = calloc(1, sizeof *q)))
		return RG_ERR_NOMEM;
	pthread_mutex_init(&q->mu, NULL);
	q->notify = notify;
	q->ctx = ctx;
	*out = q;
	return 0;
}

void cfgq_item_clear(struct cfgq_item *it)
{
	if (!it)
		return;
	free(it->payload);
	memset(it, 0, sizeof *it);
}

void cfgq_free(struct cfgq *q)
{
	if (!q)
		return;
	for (size_t i = 0; i < CFGQ_MAX; i++)
		cfgq_item_clear(&q->slot[i]);
	pthread_mutex_destroy(&q->mu);
	free(q);
}

int cfgq_push(struct cfgq *q, int scope, const char *topic, const void *payload, size_t len)
{
	struct cfgq_item it = {.scope = scope, .len = len};
	int rc = 1;

	if (!q || !topic || (len && !payload))
		return RG_ERR_INVAL;
	if (len == 0) {
		pthread_mutex_lock(&q->mu);
		q->st.empty++;
		pthread_mutex_unlock(&q->mu);
		return 0;
	}
	snprintf(it.topic, sizeof it.topic, "%s", topic);
	if (len > CFGDOC_ENVELOPE_MAX) {
		it.too_large = true; /* refused unread: never copied */
	} else {
		if (!(it.payload = malloc(len + 1)))
			return RG_ERR_NOMEM;
		memcpy(it.payload, payload, len);
		it.payload[len] = '\0';
	}

	pthread_mutex_lock(&q->mu);
	size_t i;
	for (i = 0; i < q->n; i++)
		if (!strcmp(q->slot[(q->head + i) % CFGQ_MAX].topic, it.topic))
			break;
	if (i < q->n) {
		struct cfgq_item *old = &q->slot[(q->head + i) % CFGQ_MAX];
		free(old->payload);
		*old = it;
		q->st.replaced++;
	} else if (q->n == CFGQ_MAX) {
		q->st.dropped++;
		rc = RG_ERR_BUSY;
	} else {
		q->slot[(q->head + q->n) % CFGQ_MAX] = it;
		q->n++;
	}
	if (rc == 1) {
		q->st.queued++;
		q->st.too_large += it.too_large;
	}
	pthread_mutex_unlock(&q->mu);
	if (rc != 1) {
		free(it.payload);
		return rc;
	}
	if (q->notify)
		q->notify(q->ctx);
	return 1;
}

int cfgq_pop(struct cfgq *q, struct cfgq_item *out)
{
	if (!q || !out)
		return RG_ERR_INVAL;
	memset(out, 0, sizeof *out);
	pthread_mutex_lock(&q->mu);
	if (q->n == 0) {
		pthread_mutex_unlock(&q->mu);
		return 0;
	}
	*out = q->slot[q->head];
	memset(&q->slot[q->head], 0, sizeof q->slot[q->head]);
	q->head = (q->head + 1) % CFGQ_MAX;
	q->n--;
	pthread_mutex_unlock(&q->mu);
	return 1;
}

void cfgq_stats_get(struct cfgq *q, struct cfgq_stats *out)
{
	if (!out)
		return;
	memset(out, 0, sizeof *out);
	if (!q)
		return;
	pthread_mutex_lock(&q->mu);
	*out = q->st;
	pthread_mutex_unlock(&q->mu);
}
