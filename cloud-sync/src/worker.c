/*
 * worker.c - the regulars-cloud daemon. Threads: the rg_mqtt client's
 * thread only copies what arrives into bounded queues (a full queue makes
 * it wait, which stops it reading from the broker); the main thread owns
 * the store and every decision about batches; lookups and replication
 * requests (changes pages, snapshot chunks: docs/replication.md) have a
 * thread and a store connection of their own (when main.c opens one), so
 * rendering them never holds a batch's apply. A batch is applied all or
 * nothing (with the batches queued behind it under one commit: group
 * commit) and its ack is published only after the commit; a refused batch
 * is logged and counted, never acked. The change log is pruned to
 * replication.retention_days at start and hourly, and watched every
 * replication.notice_ms: a change that is not a device's update (an
 * erasure, a merge, an import) is announced to every gateway at once on
 * RG_TOPIC_CENTRAL_CHANGES, so they pull it now instead of at their next pull.
 */
#include "worker.h"

#include <errno.h>
#include <stdatomic.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/delta.h"
#include "common/err.h"
#include "common/wake.h"
#include "common/log.h"
#include "common/json.h"
#include "common/mqtt.h"

#define COMP "cloud"
#define UP_FILTER "$share/cloud/rg/v1/g/+/up/#"
#define REQ_FILTER "$share/cloud/rg/v1/g/+/req/#"
#define BUSY_RETRIES 5
#define GROUP_ITEMS 2000 /* a group stops growing at this many items */
#define PRUNE_EVERY_MS (3600 * 1000)
#define DAY_MS (24LL * 3600 * 1000)

struct ev {
	struct ev *next;
	char *topic;
	char *payload; /* NUL-terminated copy */
	size_t len;
	char *response_topic;
	uint8_t corr[RG_MQTT_CORR_MAX];
	size_t corr_len;
	size_t bytes;
};

/* The request counters are counted by the request thread and read by the
 * main one's stats line: atomic. */
struct counters {
	int64_t batches, bundles, groups, items, applied, duplicates, unresolved, erased;
	_Atomic int64_t refused[CLOUD_REFUSE__COUNT];
	int64_t acks, acks_unsent, apply_failed;
	_Atomic int64_t lookups, lookup_hits, lookups_refused, requests_unsupported;
	_Atomic int64_t changes_requests, pages_sent, snapshot_chunks, requests_refused;
	int64_t notices;
};

/* A bounded FIFO of events, under the worker's mu. */
struct evq {
	struct ev *head, *tail;
	size_t bytes;
	pthread_cond_t room; /* signalled when an event leaves */
};

struct cloud_worker {
	struct cloud_config cfg;
	char *config_path;
	struct cloud_store *store;  /* batches, pruning: the main thread */
	struct cloud_store *rstore; /* requests: the request thread (NULL: main thread) */
	struct rg_mqtt *mqtt;

	pthread_mutex_t mu;
	struct evq q; /* batches (and requests without a request thread) */
	size_t q_max; /* bytes each queue may hold */
	bool closing;

	/* Lookups and replication requests, answered on their own thread and
	 * connection so that rendering a page or a snapshot chunk never holds
	 * the batches (and acks) queued behind it. Under mu. */
	struct evq rq;
	pthread_cond_t rq_ready;
	pthread_t rthread;
	bool rthread_started;
	struct cloud_repl_policy repl; /* w->cfg.repl, as the request thread reads it */

	struct counters n;
	int64_t last_stats_ms;
	int64_t last_prune_ms;

	/* The change-log watch (main thread): seen = how far it has read,
	 * announced = the newest notable seq published, -1 before the first
	 * look (which only finds where the log ends). */
	int64_t watch_seen, announced, last_watch_ms;
	bool watch_off;	     /* the backend cannot watch */
	bool pending_notice; /* announced not yet published */
};

static void wake(void)
{
	rg_wake_post(RG_WAKE_WORK);
}

static int64_t mono_ms(void)
{
	return rg_clock_mono_ns(rg_clock_system()) / 1000000;
}

/* ---- the queues (MQTT thread -> main thread, request thread) ---- */

static void ev_free(struct ev *e)
{
	if (!e)
		return;
	free(e->topic);
	free(e->payload);
	free(e->response_topic);
	free(e);
}

/* Append e (mu held), waiting while the queue is over q_max: that stops
 * the MQTT thread reading from the broker. */
static void evq_push(struct cloud_worker *w, struct evq *q, struct ev *e)
{
	while (!w->closing && q->head && q->bytes + e->bytes > w->q_max)
		pthread_cond_wait(&q->room, &w->mu);
	if (q->tail)
		q->tail->next = e;
	else
		q->head = e;
	q->tail = e;
	q->bytes += e->bytes;
}

/* The oldest event, or NULL (mu held). */
static struct ev *evq_take(struct evq *q)
{
	struct ev *e = q->head;
	if (e) {
		q->head = e->next;
		if (!q->head)
			q->tail = NULL;
		q->bytes -= e->bytes;
		pthread_cond_signal(&q->room);
	}
	return e;
}

static void on_message(void *ctx, const struct rg_mqtt_msg *m)
{
	struct cloud_worker *w = ctx;
	struct ev *e = calloc(1, sizeof *e);

	if (!e || !(e->topic = strdup(m->topic)) || !(e->payload = malloc(m->len + 1)) ||
	    (m->response_topic && !(e->response_topic = strdup(m->response_topic)))) {
		/* not acked, so the gateway resends it: nothing is lost */
		rg_error(COMP, "queue_nomem", "bytes=%zu", m->len);
		ev_free(e);
		return;
	}
	memcpy(e->payload, m->payload, m->len);
	e->payload[m->len] = '\0';
	e->len = m->len;
	if (m->corr && m->corr_len <= sizeof e->corr) {
		memcpy(e->corr, m->corr, m->corr_len);
		e->corr_len = m->corr_len;
	}
	e->bytes = m->len + strlen(m->topic) + sizeof *e;
	struct cloud_topic t;
	bool request = w->rstore && cloud_topic_parse(e->topic, &t) == 0 && t.is_request;
	pthread_mutex_lock(&w->mu);
	evq_push(w, request ? &w->rq : &w->q, e);
	if (request)
		pthread_cond_signal(&w->rq_ready);
	pthread_mutex_unlock(&w->mu);
	if (!request)
		wake();
}

static struct ev *pop(struct cloud_worker *w)
{
	struct ev *e;
	pthread_mutex_lock(&w->mu);
	e = evq_take(&w->q);
	pthread_mutex_unlock(&w->mu);
	return e;
}

/* The next event if it is a batch (its topic parsed into *t), else NULL. */
static struct ev *pop_if_batch(struct cloud_worker *w, struct cloud_topic *t)
{
	struct ev *e = NULL;
	pthread_mutex_lock(&w->mu);
	if (w->q.head && cloud_topic_parse(w->q.head->topic, t) == 0 && !t->is_request)
		e = evq_take(&w->q);
	pthread_mutex_unlock(&w->mu);
	return e;
}

static void on_connect(void *ctx, bool session_present)
{
	struct cloud_worker *w = ctx;
	/* Subscribing again is harmless and covers a forgotten session. */
	if (rg_mqtt_subscribe(w->mqtt, UP_FILTER, 1) < 0 ||
	    rg_mqtt_subscribe(w->mqtt, REQ_FILTER, 1) < 0)
		rg_warn(COMP, "subscribe_failed", "session_present=%d", session_present);
	rg_info(COMP, "connected", "identity=%s session_present=%d", w->cfg.identity,
		session_present);
}

static void on_disconnect(void *ctx, int reason)
{
	struct cloud_worker *w = ctx;
	rg_warn(COMP, "disconnected", "identity=%s reason=%d", w->cfg.identity, reason);
}

static void on_publish(void *ctx, int mid, int reason)
{
	(void)ctx;
	if (reason >= 128)
		rg_error(COMP, "publish_refused", "mid=%d reason=%d", mid, reason);
}

/* ---- batches ---- */

static void refuse(struct cloud_worker *w, enum cloud_refusal why, const char *topic,
		   const struct rg_wire_batch *b, const char *detail)
{
	char q[RG_WIRE_ERR_MAX + 8], tq[RG_MQTT_TOPIC_MAX + 8], id[RG_UUID_STR_LEN + 1];
	w->n.refused[why]++;
	rg_warn(COMP, "batch_refused", "reason=%s topic=%s device=%s store=%s batch=%s detail=%s",
		cloud_refusal_name(why), rg_log_quote(tq, sizeof tq, topic), b ? b->device : "-",
		b ? b->store : "-", b ? rg_uuid_format(&b->batch_id, id) : "-",
		rg_log_quote(q, sizeof q, detail ? detail : ""));
}

static void batch_ack(struct cloud_worker *w, const struct cloud_topic *t,
		      const struct rg_wire_batch *b)
{
	char topic[RG_MQTT_TOPIC_MAX];
	struct rg_uuid *ids;
	char *doc = NULL;
	size_t len = 0;
	int rc, n;

	if (!(ids = calloc(b->n_items, sizeof *ids))) {
		w->n.acks_unsent++;
		return;
	}
	for (size_t i = 0; i < b->n_items; i++)
		ids[i] = b->items[i].id;
	rc = rg_wire_ack_encode(b->device, &b->batch_id, ids, b->n_items, &doc, &len);
	free(ids);
	n = snprintf(topic, sizeof topic, "rg/v1/g/%.*s/down/ack", RG_WIRE_ID_MAX, t->gateway);
	if (rc == 0 && (n < 0 || (size_t)n >= sizeof topic))
		rc = RG_ERR_RANGE;
	if (rc == 0)
		rc = rg_mqtt_publish(w->mqtt, topic, doc, len, 1, false, NULL);
	free(doc);
	if (rc < 0) {
		/* committed but not acked: the gateway resends, we ack the duplicate */
		w->n.acks_unsent++;
		rg_warn(COMP, "ack_unsent", "gateway=%s device=%s error=%s", t->gateway, b->device,
			rg_errname(rc));
		return;
	}
	w->n.acks++;
}

/* A batch taken from the queue, parsed and checked, waiting for its group. */
struct taken {
	struct cloud_topic t;
	struct rg_wire_batch b;
};

/* Parse e (a batch or a bundle of one device's batches), check each batch
 * and append them to ks[*n..] (the caller leaves room for a whole bundle);
 * false when the message is refused (logged, counted; nothing of it is
 * taken). */
static bool batch_take(struct cloud_worker *w, const struct ev *e, const struct cloud_topic *t,
		       struct taken *ks, size_t *n)
{
	char err[RG_WIRE_ERR_MAX];
	struct rg_wire_uplink u;
	int why = 0;
	size_t i;

	if (rg_wire_uplink_parse(e->payload, e->len, &u, err, sizeof err) < 0) {
		refuse(w, CLOUD_REFUSE_MALFORMED, e->topic, NULL, err);
		return false;
	}
	for (i = 0; i < u.n && !why; i++)
		why = cloud_batch_check(t, &u.batches[i]);
	if (why > 0) {
		/* One batch of a bundle refused: all of it is (the gateway
		 * validated each, so this is a bug; the batches come again). */
		refuse(w, (enum cloud_refusal)why, e->topic, &u.batches[i - 1],
		       why == CLOUD_REFUSE_STORE ? "the batch's store is not the gateway's"
						 : "an item's kind is not of the topic's lane");
		rg_wire_uplink_free(&u);
		return false;
	}
	if (u.bundle)
		w->n.bundles++;
	for (i = 0; i < u.n; i++) {
		ks[*n].t = *t;
		ks[*n].b = u.batches[i]; /* moved: u no longer owns it */
		(*n)++;
	}
	free(u.batches);
	return true;
}

/* Apply the taken batches under one commit (group commit: one sync for
 * all, pages they share written once), then ack each that committed, in
 * the order they came. Each batch is still all or nothing. */
static void group_apply(struct cloud_worker *w, struct taken *ks, size_t n)
{
	const struct rg_wire_batch *bs[CLOUD_GROUP_MAX];
	struct cloud_apply_result rs[CLOUD_GROUP_MAX];
	int rcs[CLOUD_GROUP_MAX], rc;
	char id[RG_UUID_STR_LEN + 1];

	for (size_t i = 0; i < n; i++)
		bs[i] = &ks[i].b;
	for (int attempt = 0;; attempt++) {
		rc = cloud_store_apply_batches(w->store, bs, n, rs, rcs);
		if (rc != RG_ERR_BUSY || attempt >= BUSY_RETRIES)
			break;
		rg_warn(COMP, "apply_busy", "batches=%zu attempt=%d", n, attempt + 1);
	}
	if (rc == 0)
		w->n.groups++;
	for (size_t i = 0; i < n; i++) {
		const struct rg_wire_batch *b = bs[i];
		const struct cloud_apply_result *r = &rs[i];
		if (rcs[i] < 0) {
			/* nothing committed, nothing acked: the gateway resends later */
			w->n.apply_failed++;
			rg_error(COMP, "apply_failed", "device=%s batch=%s items=%zu error=%s",
				 b->device, rg_uuid_format(&b->batch_id, id), b->n_items,
				 rg_errname(rcs[i]));
			continue;
		}
		w->n.batches++;
		w->n.items += (int64_t)b->n_items;
		w->n.applied += (int64_t)r->applied;
		w->n.duplicates += (int64_t)r->duplicates;
		w->n.unresolved += (int64_t)r->unresolved;
		w->n.erased += (int64_t)r->erased;
		rg_debug(COMP, "batch_applied",
			 "device=%s store=%s lane=%s batch=%s items=%zu applied=%zu duplicates=%zu "
			 "unresolved=%zu erased=%zu group=%zu",
			 b->device, b->store, rg_lane_name(ks[i].t.lane),
			 rg_uuid_format(&b->batch_id, id), b->n_items, r->applied, r->duplicates,
			 r->unresolved, r->erased, n);
		batch_ack(w, &ks[i].t, b);
	}
	for (size_t i = 0; i < n; i++)
		rg_wire_batch_free(&ks[i].b);
}

/* ---- lookups ---- */

static void lookup_handle(struct cloud_worker *w, struct cloud_store *store, const struct ev *e,
			  const struct cloud_topic *t)
{
	char want[RG_MQTT_TOPIC_MAX], err[RG_JSON_ERR_MAX], q[RG_JSON_ERR_MAX + 8];
	uint8_t token[RG_TOKEN_LEN];
	struct cloud_profile p;
	char *doc = NULL;
	size_t len = 0;
	int rc;

	/* answer only on the requesting gateway's own response topic */
	snprintf(want, sizeof want, "rg/v1/g/%s/down/resp", t->gateway);
	if (!e->response_topic || strcmp(e->response_topic, want) || !e->corr_len) {
		w->n.lookups_refused++;
		rg_warn(COMP, "lookup_refused", "gateway=%s reason=response_topic", t->gateway);
		return;
	}
	if (cloud_lookup_parse(e->payload, e->len, token, err, sizeof err) < 0) {
		w->n.lookups_refused++;
		rg_warn(COMP, "lookup_refused", "gateway=%s reason=malformed detail=%s", t->gateway,
			rg_log_quote(q, sizeof q, err));
		return;
	}
	w->n.lookups++;
	rc = cloud_store_profile_by_token(store, token, &p);
	if (rc < 0) {
		rg_error(COMP, "lookup_failed", "gateway=%s error=%s", t->gateway, rg_errname(rc));
		return; /* no answer: the requester times out and works offline */
	}
	if (rc == 1)
		w->n.lookup_hits++;
	rc = cloud_lookup_result(rc == 1 ? &p : NULL, &doc, &len);
	cloud_profile_clear(&p);
	if (rc == 0)
		rc = rg_mqtt_request(w->mqtt, want, doc, len, NULL, e->corr, e->corr_len, NULL);
	free(doc);
	if (rc < 0)
		rg_warn(COMP, "lookup_unanswered", "gateway=%s error=%s", t->gateway,
			rg_errname(rc));
}

/* ---- replication requests ---- */

static void repl_refuse(struct cloud_worker *w, const struct cloud_topic *t, const char *reason,
			const char *detail)
{
	char q[RG_JSON_ERR_MAX + 8];
	w->n.requests_refused++;
	rg_warn(COMP, "request_refused", "gateway=%s op=%s reason=%s detail=%s", t->gateway, t->op,
		reason, rg_log_quote(q, sizeof q, detail));
}

/* req/changes and req/snapshot: strict request, answered on the gateway's
 * own down/resp with its correlation data; a bad request gets no answer. */
static void repl_handle(struct cloud_worker *w, struct cloud_store *store, const struct ev *e,
			const struct cloud_topic *t)
{
	char want[RG_MQTT_TOPIC_MAX], err[RG_JSON_ERR_MAX];
	bool snapshot = !strcmp(t->op, "snapshot");
	struct cloud_repl_policy repl;
	struct cloud_repl_result res;
	struct delta_request rq;
	int64_t now = rg_clock_wall_ms(rg_clock_system());
	char *doc = NULL;
	size_t len = 0;
	int rc;

	snprintf(want, sizeof want, "rg/v1/g/%s/down/resp", t->gateway);
	if (!e->response_topic || strcmp(e->response_topic, want) || !e->corr_len) {
		repl_refuse(w, t, "response_topic",
			    "not the gateway's own down/resp, or no "
			    "correlation data");
		return;
	}
	if (delta_request_parse(e->payload, e->len, &rq, err, sizeof err) < 0) {
		repl_refuse(w, t, "malformed", err);
		return;
	}
	if (rq.snapshot != snapshot) {
		repl_refuse(w, t, "type_mismatch", "the request's type is not the topic's");
		return;
	}
	pthread_mutex_lock(&w->mu);
	repl = w->repl;
	pthread_mutex_unlock(&w->mu);
	if (snapshot)
		rc = cloud_repl_snapshot_answer(store, t->store, &repl, &rq, now, &doc, &len, &res);
	else {
		w->n.changes_requests++;
		rc = cloud_repl_changes_answer(store, t->store, &repl, &rq, now, &doc, &len, &res);
	}
	if (rc < 0) {
		/* no answer: the gateway asks again later */
		rg_error(COMP, "repl_failed", "gateway=%s op=%s error=%s", t->gateway, t->op,
			 rg_errname(rc));
		return;
	}
	rc = rg_mqtt_request(w->mqtt, want, doc, len, NULL, e->corr, e->corr_len, NULL);
	free(doc);
	if (rc < 0) {
		rg_warn(COMP, "repl_unanswered", "gateway=%s op=%s error=%s", t->gateway, t->op,
			rg_errname(rc));
		return;
	}
	if (snapshot) {
		w->n.snapshot_chunks++;
		rg_debug(COMP, "snapshot_chunk_sent",
			 "gateway=%s snapshot=%lld seq=%lld profiles=%zu done=%d bytes=%zu",
			 t->gateway, (long long)res.snapshot, (long long)res.seq, res.n, res.done,
			 len);
	} else {
		w->n.pages_sent++;
		rg_debug(COMP, "page_sent",
			 "gateway=%s since=%lld next=%lld latest=%lld changes=%zu filtered=%zu "
			 "more=%d snapshot_needed=%d bytes=%zu",
			 t->gateway, (long long)rq.since, (long long)res.next,
			 (long long)res.latest, res.n, res.filtered, res.more, res.snapshot_needed,
			 len);
	}
}

static void request_handle(struct cloud_worker *w, struct cloud_store *store, const struct ev *e,
			   const struct cloud_topic *t)
{
	if (!strcmp(t->op, "lookup"))
		lookup_handle(w, store, e, t);
	else if (!strcmp(t->op, "changes") || !strcmp(t->op, "snapshot"))
		repl_handle(w, store, e, t);
	else {
		w->n.requests_unsupported++;
		rg_warn(COMP, "request_unsupported", "gateway=%s op=%s", t->gateway, t->op);
	}
}

/* The request thread: requests in the order they came, on rstore. */
static void *request_main(void *arg)
{
	struct cloud_worker *w = arg;
	for (;;) {
		struct cloud_topic t;
		struct ev *e;
		pthread_mutex_lock(&w->mu);
		while (!w->closing && !w->rq.head)
			pthread_cond_wait(&w->rq_ready, &w->mu);
		if (w->closing) {
			pthread_mutex_unlock(&w->mu);
			return NULL;
		}
		e = evq_take(&w->rq);
		pthread_mutex_unlock(&w->mu);
		if (cloud_topic_parse(e->topic, &t) == 0)
			request_handle(w, w->rstore, e, &t);
		ev_free(e);
	}
}

/* Drop change-log rows older than retention_days (the newest stays). */
static void prune(struct cloud_worker *w)
{
	int64_t removed = 0, now = rg_clock_wall_ms(rg_clock_system());
	int rc = cloud_store_repl_prune(
	    w->store, now - (int64_t)w->cfg.repl.retention_days * DAY_MS, &removed);
	if (rc < 0)
		rg_warn(COMP, "prune_failed", "error=%s", rg_errname(rc));
	w->last_prune_ms = mono_ms();
}

/* Announce a notable change the gateways have not been told about. A
 * failed publish is tried again at the next look; a gateway that missed a
 * notice (away, or QoS 0 dropped) pulls at connect and every pull_ms. */
static void watch(struct cloud_worker *w)
{
	int64_t latest = 0, notable = 0;
	char *text;
	int rc;

	w->last_watch_ms = mono_ms();
	if (w->watch_off || w->cfg.notice_ms <= 0)
		return;
	rc = cloud_store_repl_watch(w->store, w->watch_seen, &latest, &notable);
	if (rc == RG_ERR_NOSYS) {
		w->watch_off = true;
		rg_info(COMP, "notices_off", "reason=\"backend %s cannot watch the change log\"",
			cloud_store_backend(w->store));
		return;
	}
	if (rc < 0) {
		rg_warn(COMP, "watch_failed", "error=%s", rg_errname(rc));
		return;
	}
	if (w->watch_seen < 0) { /* the first look: where the log ends */
		w->watch_seen = w->announced = latest;
		return;
	}
	w->watch_seen = latest;
	if (notable > w->announced) {
		w->announced = notable; /* a later notable one supersedes it */
		w->pending_notice = true;
	}
	if (!w->pending_notice || !rg_mqtt_connected(w->mqtt))
		return;
	if (!(text = delta_notice_build(w->announced)))
		return;
	if ((rc = rg_mqtt_publish(w->mqtt, RG_TOPIC_CENTRAL_CHANGES, text, strlen(text), 0, false,
				  NULL)) == 0) {
		w->pending_notice = false;
		w->n.notices++;
		rg_debug(COMP, "notice_sent", "latest=%lld", (long long)w->announced);
	} else {
		rg_warn(COMP, "notice_unsent", "latest=%lld error=%s", (long long)w->announced,
			rg_errname(rc));
	}
	free(text);
}

/* One event; a batch (or bundle) takes the messages queued right behind it
 * into its group while there is room: a group holds at most
 * CLOUD_GROUP_MAX batches and stops growing at GROUP_ITEMS items. */
static void handle(struct cloud_worker *w, const struct ev *e)
{
	struct taken ks[CLOUD_GROUP_MAX];
	struct cloud_topic t;
	size_t n = 0, items = 0;
	struct ev *next;

	if (cloud_topic_parse(e->topic, &t) < 0) {
		refuse(w, CLOUD_REFUSE_TOPIC, e->topic, NULL, "not a topic this worker serves");
		return;
	}
	if (t.is_request) {
		request_handle(w, w->store, e, &t); /* no request thread */
		return;
	}
	batch_take(w, e, &t, ks, &n);
	for (size_t i = 0; i < n; i++)
		items += ks[i].b.n_items;
	/* A message may be a bundle of up to RG_WIRE_BUNDLE_MAX_BATCHES. */
	while (n + RG_WIRE_BUNDLE_MAX_BATCHES <= CLOUD_GROUP_MAX && items < GROUP_ITEMS &&
	       (next = pop_if_batch(w, &t))) {
		size_t from = n;
		batch_take(w, next, &t, ks, &n);
		for (size_t i = from; i < n; i++)
			items += ks[i].b.n_items;
		ev_free(next);
	}
	if (n)
		group_apply(w, ks, n);
}

/* ---- stats, reload, loop ---- */

static void stats_line(struct cloud_worker *w)
{
	const struct counters *n = &w->n;
	struct rg_mqtt_stats ms;
	rg_mqtt_stats_get(w->mqtt, &ms);
	rg_info(COMP, "stats",
		"identity=%s connected=%d batches=%lld bundles=%lld groups=%lld items=%lld "
		"applied=%lld "
		"duplicates=%lld "
		"unresolved=%lld erased=%lld refused_malformed=%lld refused_store=%lld "
		"refused_lane=%lld refused_topic=%lld acks=%lld acks_unsent=%lld apply_failed=%lld "
		"lookups=%lld lookup_hits=%lld lookups_refused=%lld changes_requests=%lld "
		"pages_sent=%lld snapshot_chunks=%lld requests_refused=%lld notices=%lld "
		"queue_bytes=%zu mqtt_received=%lld",
		w->cfg.identity, rg_mqtt_connected(w->mqtt), (long long)n->batches,
		(long long)n->bundles, (long long)n->groups, (long long)n->items,
		(long long)n->applied, (long long)n->duplicates, (long long)n->unresolved,
		(long long)n->erased, (long long)n->refused[CLOUD_REFUSE_MALFORMED],
		(long long)n->refused[CLOUD_REFUSE_STORE], (long long)n->refused[CLOUD_REFUSE_LANE],
		(long long)n->refused[CLOUD_REFUSE_TOPIC], (long long)n->acks,
		(long long)n->acks_unsent, (long long)n->apply_failed, (long long)n->lookups,
		(long long)n->lookup_hits, (long long)n->lookups_refused,
		(long long)n->changes_requests, (long long)n->pages_sent,
		(long long)n->snapshot_chunks, (long long)n->requests_refused,
		(long long)n->notices, w->q.bytes, (long long)ms.received);
}

static void reload(struct cloud_worker *w)
{
	struct cloud_config c;
	char err[768], q[800];
	const char *key = NULL;

	if (cloud_config_load(w->config_path, &c, err, sizeof err) < 0) {
		rg_error(COMP, "reload_failed", "error=%s", rg_log_quote(q, sizeof q, err));
		return;
	}
	if (strcmp(c.identity, w->cfg.identity))
		key = "identity";
	else if (strcmp(c.host, w->cfg.host) || c.port != w->cfg.port)
		key = "broker";
	else if (strcmp(c.ca_file, w->cfg.ca_file) || strcmp(c.cert_file, w->cfg.cert_file) ||
		 strcmp(c.key_file, w->cfg.key_file))
		key = "tls";
	else if (strcmp(c.backend, w->cfg.backend) || strcmp(c.db_path, w->cfg.db_path))
		key = "store";
	if (key)
		rg_warn(COMP, "reload_partial", "key=%s detail=\"changed: needs a restart\"", key);
	w->cfg.stats_interval_s = c.stats_interval_s;
	w->cfg.log_level = c.log_level;
	w->cfg.repl = c.repl;
	w->cfg.notice_ms = c.notice_ms;
	pthread_mutex_lock(&w->mu);
	w->repl = c.repl;
	pthread_mutex_unlock(&w->mu);
	if (!getenv("REGULARS_LOG_LEVEL"))
		rg_log_set_level((enum rg_log_level)c.log_level);
	rg_info(COMP, "reloaded", "stats_interval_s=%d log_level=%d replication=%s notice_ms=%d",
		c.stats_interval_s, c.log_level, cloud_repl_policy_name(c.repl.kind), c.notice_ms);
}

int cloud_worker_new(const struct cloud_config *cfg, const char *config_path,
		     struct cloud_store *store, struct cloud_store *rstore,
		     struct cloud_worker **out)
{
	struct rg_mqtt_handlers h = {.on_connect = on_connect,
				     .on_disconnect = on_disconnect,
				     .on_message = on_message,
				     .on_publish = on_publish};
	struct rg_mqtt_config mc;
	struct cloud_worker *w;
	int rc;

	*out = NULL;
	if (!(w = calloc(1, sizeof *w)))
		return RG_ERR_NOMEM;
	w->cfg = *cfg;
	w->repl = cfg->repl;
	w->store = store;
	w->rstore = rstore;
	w->q_max = (size_t)cfg->queue_max_kib * 1024;
	if (!(w->config_path = strdup(config_path ? config_path : ""))) {
		free(w);
		return RG_ERR_NOMEM;
	}
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->q.room, NULL);
	pthread_cond_init(&w->rq.room, NULL);
	pthread_cond_init(&w->rq_ready, NULL);
	memset(&mc, 0, sizeof mc);
	mc.name = "mqtt";
	mc.host = w->cfg.host;
	mc.port = w->cfg.port;
	mc.client_id = w->cfg.identity;
	mc.ca_file = w->cfg.ca_file;
	mc.cert_file = w->cfg.cert_file;
	mc.key_file = w->cfg.key_file;
	mc.clean_start = false; /* persistent session: QoS 1 queued while we are away */
	if ((rc = rg_mqtt_new(&mc, &h, w, &w->mqtt)) < 0) {
		cloud_worker_free(w);
		return rc;
	}
	*out = w;
	return 0;
}

/* Closing: the queues stop waiting for room, the request thread ends
 * after the request it is answering. */
static void requests_stop(struct cloud_worker *w)
{
	pthread_mutex_lock(&w->mu);
	w->closing = true;
	pthread_cond_broadcast(&w->q.room);
	pthread_cond_broadcast(&w->rq.room);
	pthread_cond_broadcast(&w->rq_ready);
	pthread_mutex_unlock(&w->mu);
	if (w->rthread_started)
		pthread_join(w->rthread, NULL);
	w->rthread_started = false;
}

void cloud_worker_free(struct cloud_worker *w)
{
	struct ev *e;
	if (!w)
		return;
	requests_stop(w);
	if (w->mqtt)
		rg_mqtt_free(w->mqtt);
	while ((e = evq_take(&w->q)))
		ev_free(e);
	while ((e = evq_take(&w->rq)))
		ev_free(e);
	pthread_cond_destroy(&w->rq_ready);
	pthread_cond_destroy(&w->rq.room);
	pthread_cond_destroy(&w->q.room);
	pthread_mutex_destroy(&w->mu);
	free(w->config_path);
	free(w);
}

int cloud_worker_run(struct cloud_worker *w)
{
	struct ev *e;
	int rc;

	if ((rc = rg_wake_open()) < 0)
		return rc;
	if (w->rstore) {
		if ((rc = pthread_create(&w->rthread, NULL, request_main, w)) != 0) {
			rg_error(COMP, "start_failed", "what=request_thread errno=%d", rc);
			return RG_ERR_NOMEM;
		}
		w->rthread_started = true;
	}
	if ((rc = rg_mqtt_start(w->mqtt)) < 0) {
		rg_error(COMP, "start_failed", "error=%s", rg_errname(rc));
		return rc;
	}
	rg_info(COMP, "started",
		"identity=%s broker=%s:%d backend=%s replication=%s recent_days=%d "
		"retention_days=%d notice_ms=%d request_thread=%d",
		w->cfg.identity, w->cfg.host, w->cfg.port, cloud_store_backend(w->store),
		cloud_repl_policy_name(w->cfg.repl.kind), w->cfg.repl.recent_days,
		w->cfg.repl.retention_days, w->cfg.notice_ms, w->rstore != NULL);
	w->last_stats_ms = mono_ms();
	prune(w);
	w->watch_seen = w->announced = -1;
	watch(w);
	while (!rg_wake_stopping()) {
		struct pollfd pfd = {.fd = rg_wake_fd(), .events = POLLIN};
		int64_t now, wait = 1000;

		if (w->cfg.notice_ms > 0 && !w->watch_off) {
			wait = w->last_watch_ms + w->cfg.notice_ms - mono_ms();
			wait = wait < 0 ? 0 : wait > 1000 ? 1000 : wait;
		}
		poll(&pfd, 1, (int)wait);
		if (rg_wake_take() & RG_WAKE_RELOAD)
			reload(w);
		while (!rg_wake_stopping() && (e = pop(w))) {
			handle(w, e);
			ev_free(e);
		}
		now = mono_ms();
		if (now - w->last_stats_ms >= (int64_t)w->cfg.stats_interval_s * 1000) {
			w->last_stats_ms = now;
			stats_line(w);
		}
		if (now - w->last_prune_ms >= PRUNE_EVERY_MS)
			prune(w);
		if (w->cfg.notice_ms > 0 && now - w->last_watch_ms >= w->cfg.notice_ms)
			watch(w);
	}
	rg_info(COMP, "stopping", "identity=%s", w->cfg.identity);
	requests_stop(w); /* the request being answered finishes first */
	stats_line(w);
	rg_mqtt_stop(w->mqtt);
	rg_wake_close();
	return 0;
}
