/*
 * uplink.c - the device uplink (firmware/uplink.h, docs/uplink.md): a sender
 * thread that turns the outbox into batches per lane and keeps a bounded
 * window of them in flight, and the rg_mqtt thread whose callbacks apply the
 * gateway's receipts, central's acks and lookup answers, and hand pushed
 * configuration documents to the daemon. Rows leave the outbox only through
 * store_outbox_ack on an ack naming them.
 *
 * Locking: u->mu guards everything in struct uplink below it. Store calls
 * are never made under u->mu (the store has its own lock), so a slow fsync
 * never holds up an ack, a receipt or a lookup answer.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"
#include "common/crypto.h"
#include "common/delta.h"
#include "common/err.h"
#include "common/log.h"
#include "common/mqtt.h"
#include "uplink_internal.h"

#define COMP "uplink"
#define DEFAULT_BATCH_MAX 100
#define DEFAULT_RESEND_MS 30000
#define DEFAULT_LOOKUP_MS 1500
#define IDLE_WAKE_MS 1000     /* the sender re-checks its timers at least this often */
#define SPOOLED_BACKOFF_MAX 4 /* a spooled batch waits resend_ms << min(n, 4) */
#define FULL_BACKOFF_MIN_MS 1000
#define TOPIC_MAX RG_MQTT_TOPIC_MAX

enum lookup_state { LK_FREE = 0, LK_WAITING, LK_FOUND, LK_NOT_FOUND, LK_ERROR };

struct lookup_slot {
	enum lookup_state state;
	uint8_t corr[UPLINK_CORR_LEN];
	char *buf;
	size_t cap;
	int err; /* LK_ERROR: RG_ERR_TOOBIG */
};

/* A replication request waiting for its answer (uplink_pull). */
struct pull_slot {
	bool waiting, answered;
	uint8_t corr[UPLINK_CORR_LEN];
	char *answer; /* malloc'd copy of the payload, NUL-terminated */
	size_t len;
};

struct uplink {
	char device[RG_WIRE_ID_MAX + 1], store_id[RG_WIRE_STORE_MAX + 1];
	struct store *store;
	const struct rg_clock *clock;
	size_t batch_max;
	int resend_ms, lookup_ms;
	struct rg_mqtt *mq;
	char topic_up[RG_LANE__COUNT][TOPIC_MAX], topic_req[TOPIC_MAX], topic_resp[TOPIC_MAX],
	    topic_status[TOPIC_MAX], topic_down[TOPIC_MAX], prefix_down[TOPIC_MAX],
	    topic_cfg_store[TOPIC_MAX], topic_cfg_dev[TOPIC_MAX], topic_notice[TOPIC_MAX];
	void (*on_config)(void *ctx, int scope, const char *topic, const void *payload, size_t len);
	void *config_ctx;
	void (*on_notice)(void *ctx, int64_t latest);
	void (*on_online)(void *ctx);
	void *replica_ctx;

	/* the sender's own (no lock) */
	pthread_t sender;
	struct rg_uuid7_gen gen;
	int64_t cursor; /* seq of the last row handed to a new batch */
	struct uplink_batch scratch[RG_LANE__COUNT], resend_copy;

	pthread_mutex_t mu;
	pthread_cond_t cv;    /* the sender's wake-up */
	pthread_cond_t lk_cv; /* lookup answers */
	bool stop, wake, connected;
	bool pulls_cancelled; /* uplink_pull_cancel */
	struct uplink_batch *track[UPLINK_TRACK_MAX]; /* awaiting central's ack */
	size_t n_track;
	int64_t pause_until_ms; /* after spool_full: no publishing before this */
	int full_streak;
	struct lookup_slot lookups[UPLINK_LOOKUP_MAX];
	struct pull_slot pulls[UPLINK_PULL_MAX];
	struct uplink_status st;
	char *config_report; /* the "config" member of the status, JSON text, or NULL */
	bool has_replica;    /* the "replica" member of the status: */
	int64_t rep_cursor, rep_latest, rep_as_of;
	pthread_mutex_t
	    status_mu; /* one status publish at a time, so the newest is retained last */
};

static int64_t now_ms(const struct uplink *u)
{
	return rg_clock_mono_ns(u->clock) / 1000000;
}

/* Batches published and awaiting a receipt, not yet overdue (an overdue
 * one is resent and no longer holds its place). */
static size_t in_window(const struct uplink *u, int64_t now)
{
	size_t n = 0;
	for (size_t i = 0; i < u->n_track; i++)
		n += u->track[i]->in_window && u->track[i]->due_ms > now;
	return n;
}

/* A tracked batch the gateway has not confirmed as spooled. New rows wait
 * for it: a batch lost on the way (a gateway killed between libmosquitto's
 * PUBACK and its spool commit) is resent before anything newer, so the
 * spool, and central after it, see each lane in outbox order. */
static bool unspooled_locked(const struct uplink *u)
{
	for (size_t i = 0; i < u->n_track; i++)
		if (!u->track[i]->spooled && !u->track[i]->refused)
			return true;
	return false;
}

static struct uplink_batch *track_find(struct uplink *u, const struct rg_uuid *id)
{
	for (size_t i = 0; i < u->n_track; i++)
		if (!rg_uuid_cmp(&u->track[i]->id, id))
			return u->track[i];
	return NULL;
}

static void track_drop(struct uplink *u, struct uplink_batch *b)
{
	for (size_t i = 0; i < u->n_track; i++)
		if (u->track[i] == b) {
			u->track[i] = u->track[--u->n_track];
			free(b);
			return;
		}
}

/* When a published batch may go again: resend_ms, doubled per spooled
 * publish so a long central outage does not turn into a resend storm. */
static int64_t resend_after(const struct uplink *u, const struct uplink_batch *b)
{
	int shift = b->spooled ? (b->publishes - 1 < SPOOLED_BACKOFF_MAX ? b->publishes - 1
									 : SPOOLED_BACKOFF_MAX)
			       : 0;
	if (shift < 0)
		shift = 0;
	return (int64_t)u->resend_ms << shift;
}

/* Nobody can take batches now (spool full, no gateway): pause all
 * publishing for 1 s doubling per time in a row up to resend_ms, with jitter
 * in [half, full]. Returns the pause. */
static int64_t pause_locked(struct uplink *u, int64_t now)
{
	int64_t base = (int64_t)FULL_BACKOFF_MIN_MS << (u->full_streak < 10 ? u->full_streak : 10);
	uint32_t rnd = 0;
	if (base > u->resend_ms)
		base = u->resend_ms;
	rg_random(&rnd, sizeof rnd);
	int64_t wait = base / 2 + (int64_t)(rnd % (uint32_t)(base / 2 + 1));
	u->full_streak++;
	if (now + wait > u->pause_until_ms)
		u->pause_until_ms = now + wait;
	return wait;
}

static void wake_locked(struct uplink *u)
{
	u->wake = true;
	pthread_cond_signal(&u->cv);
}

/* ---- MQTT callbacks (rg_mqtt's thread) ---- */

/* The retained status: {"online":true,"outbox":N[,"config":{report}]} or
 * {"online":false}. Any thread; status_mu keeps publishes in order. */
static void publish_status(struct uplink *u, bool online)
{
	char head[224], *buf = NULL;
	int n, rows = online ? store_outbox_count(u->store) : 0;

	pthread_mutex_lock(&u->status_mu);
	if (online) {
		pthread_mutex_lock(&u->mu);
		n = snprintf(head, sizeof head, "{\"online\":true,\"outbox\":%d",
			     rows < 0 ? 0 : rows);
		if (u->has_replica)
			n += snprintf(head + n, sizeof head - (size_t)n,
				      ",\"replica\":{\"cursor\":%lld,\"latest\":%lld,\"as_of\":%lld}",
				      (long long)u->rep_cursor, (long long)u->rep_latest,
				      (long long)u->rep_as_of);
		size_t rl = u->config_report ? strlen(u->config_report) : 0;
		if ((buf = malloc((size_t)n + rl + 16))) {
			if (rl)
				n = snprintf(buf, (size_t)n + rl + 16, "%s,\"config\":%s}", head,
					     u->config_report);
			else
				n = snprintf(buf, (size_t)n + rl + 16, "%s}", head);
		}
		pthread_mutex_unlock(&u->mu);
	} else {
		buf = strdup("{\"online\":false}");
		n = buf ? (int)strlen(buf) : 0;
	}
	if (buf)
		rg_mqtt_publish(u->mq, u->topic_status, buf, (size_t)n, 1, true, NULL);
	else
		rg_warn(COMP, "status_failed", "error=%s", rg_errname(RG_ERR_NOMEM));
	pthread_mutex_unlock(&u->status_mu);
	free(buf);
}

static void on_connect(void *ctx, bool session_present)
{
	struct uplink *u = ctx;
	int64_t now = now_ms(u);
	/* Subscribing again is harmless with a kept session and needed without. */
	if (rg_mqtt_subscribe(u->mq, u->topic_down, 1) < 0)
		rg_warn(COMP, "subscribe_failed", "filter=%s", u->topic_down);
	/* Configuration is state, not a stream of events: the retained document
	 * of each scope comes with every subscribe, so a device that was away
	 * gets the latest one (the daemon ignores repeats). QoS 0 so that the
	 * broker does not also queue, in the kept session, every version pushed
	 * while the device was away; a delivery lost to a dropped link comes
	 * back retained with the next connect's subscribe. */
	if (u->on_config && (rg_mqtt_subscribe(u->mq, u->topic_cfg_store, 0) < 0 ||
			     rg_mqtt_subscribe(u->mq, u->topic_cfg_dev, 0) < 0))
		rg_warn(COMP, "subscribe_failed", "filter=%s", u->topic_cfg_store);
	if (u->on_notice && rg_mqtt_subscribe(u->mq, u->topic_notice, 1) < 0)
		rg_warn(COMP, "subscribe_failed", "filter=%s", u->topic_notice);
	publish_status(u, true);
	pthread_mutex_lock(&u->mu);
	u->connected = true;
	/* Resend everything unacknowledged after every reconnect. */
	for (size_t i = 0; i < u->n_track; i++) {
		u->track[i]->in_window = false;
		u->track[i]->due_ms = now;
	}
	rg_info(COMP, "online", "session_present=%d unacked_batches=%zu", session_present,
		u->n_track);
	wake_locked(u);
	pthread_mutex_unlock(&u->mu);
	if (u->on_online)
		u->on_online(u->replica_ctx);
}

static void on_disconnect(void *ctx, int reason)
{
	struct uplink *u = ctx;
	(void)reason;
	pthread_mutex_lock(&u->mu);
	u->connected = false;
	pthread_mutex_unlock(&u->mu);
}

static void on_publish(void *ctx, int mid, int reason)
{
	struct uplink *u = ctx;
	int64_t now = now_ms(u);
	pthread_mutex_lock(&u->mu);
	for (size_t i = 0; i < u->n_track; i++) {
		struct uplink_batch *b = u->track[i];
		char id[RG_UUID_STR_LEN + 1];
		if (b->mid != mid || !b->in_window)
			continue;
		if (reason >= 128) {
			/* 135: our own topic refused us; a bug (wrong store id?), not load. */
			rg_error(COMP, "batch_refused_by_broker", "batch=%s lane=%s reason=%d",
				 rg_uuid_format(&b->id, id), rg_lane_name(b->lane), reason);
			b->refused = true;
			b->in_window = false;
			b->due_ms = now + u->resend_ms;
		} else if (reason == 16) {
			/* No matching subscribers: no gateway session, nobody got it.
			 * Back off like spool_full and send it again. */
			int64_t wait = pause_locked(u, now);
			rg_warn(COMP, "no_gateway", "batch=%s lane=%s backoff_ms=%lld",
				rg_uuid_format(&b->id, id), rg_lane_name(b->lane), (long long)wait);
			b->in_window = false;
			b->due_ms = u->pause_until_ms;
		}
		wake_locked(u);
		break;
	}
	pthread_mutex_unlock(&u->mu);
}

static void handle_receipt(struct uplink *u, const char *buf, size_t len)
{
	struct uplink_receipt r;
	char err[RG_WIRE_ERR_MAX], q[RG_WIRE_ERR_MAX + 8], id[RG_UUID_STR_LEN + 1];
	int64_t now = now_ms(u);
	int rc = uplink__receipt_parse(buf, len, &r, err, sizeof err);

	pthread_mutex_lock(&u->mu);
	if (rc < 0) {
		u->st.acks_invalid++;
		pthread_mutex_unlock(&u->mu);
		rg_warn(COMP, "receipt_invalid", "error=%s", rg_log_quote(q, sizeof q, err));
		return;
	}
	rg_uuid_format(&r.batch, id);
	struct uplink_batch *b = track_find(u, &r.batch);
	if (r.status == UPLINK_SPOOLED) {
		u->st.receipts_spooled++;
		u->full_streak = 0;
		if (b) {
			b->spooled = true;
			b->in_window = false;
			b->due_ms = now + resend_after(u, b);
		}
		rg_debug(COMP, "receipt", "batch=%s status=spooled known=%d", id, b != NULL);
	} else {
		u->st.receipts_refused++;
		if (r.reason == UPLINK_REFUSAL_SPOOL_FULL) {
			/* Back off everything, with jitter, and try again later. */
			int64_t wait = pause_locked(u, now);
			if (b) {
				b->in_window = false;
				b->due_ms = u->pause_until_ms;
			}
			rg_warn(COMP, "gateway_spool_full", "batch=%s backoff_ms=%lld", id,
				(long long)wait);
		} else {
			/* The gateway says our batch is wrong: a bug on one side. Keep the rows. */
			if (b) {
				b->refused = true;
				b->in_window = false;
				b->due_ms = now + u->resend_ms;
			}
			rg_error(COMP, "batch_refused", "batch=%s reason=%s", id,
				 uplink__refusal_name(r.reason));
		}
	}
	wake_locked(u);
	pthread_mutex_unlock(&u->mu);
}

static void handle_ack(struct uplink *u, const char *buf, size_t len)
{
	struct rg_wire_ack a;
	char err[RG_WIRE_ERR_MAX], q[RG_WIRE_ERR_MAX + 8], id[RG_UUID_STR_LEN + 1];
	int rc = rg_wire_ack_parse(buf, len, &a, err, sizeof err);

	if (rc < 0 || strcmp(a.device, u->device)) {
		if (rc < 0)
			rg_warn(COMP, "ack_invalid", "error=%s", rg_log_quote(q, sizeof q, err));
		else
			rg_warn(COMP, "ack_not_ours", "device=%s",
				rg_log_quote(q, sizeof q, a.device));
		if (rc >= 0)
			rg_wire_ack_free(&a);
		pthread_mutex_lock(&u->mu);
		u->st.acks_invalid++;
		pthread_mutex_unlock(&u->mu);
		return;
	}
	/* Durable first: the rows are gone once this returns. */
	rc = store_outbox_ack(u->store, a.ids, a.n_ids);
	if (rc < 0) {
		rg_error(COMP, "ack_store_failed", "batch=%s error=%s",
			 rg_uuid_format(&a.batch_id, id), rg_errname(rc));
		rg_wire_ack_free(&a);
		return; /* central acks again when the rows come back */
	}
	pthread_mutex_lock(&u->mu);
	u->st.acks_received++;
	u->st.rows_acked += rc;
	u->st.last_ack_ms = rg_clock_wall_ms(u->clock);
	struct uplink_batch *b = track_find(u, &a.batch_id);
	if (b && uplink__batch_remove(b, a.ids, a.n_ids) == 0)
		track_drop(u, b);
	wake_locked(u);
	pthread_mutex_unlock(&u->mu);
	rg_debug(COMP, "ack", "batch=%s ids=%zu deleted=%d", rg_uuid_format(&a.batch_id, id),
		 a.n_ids, rc);
	rg_wire_ack_free(&a);
}

/* An answer to a waiting uplink_pull: copy it and wake the caller. Returns
 * whether the correlation data was a pull's. */
static bool handle_pull_answer(struct uplink *u, const struct rg_mqtt_msg *m)
{
	bool mine = false;
	pthread_mutex_lock(&u->mu);
	for (size_t i = 0; i < UPLINK_PULL_MAX && !mine; i++) {
		struct pull_slot *p = &u->pulls[i];
		if (!p->waiting || p->answered || memcmp(p->corr, m->corr, UPLINK_CORR_LEN))
			continue;
		mine = true;
		if (m->len > DELTA_PAGE_MAX + 1024 || !(p->answer = malloc(m->len + 1))) {
			rg_warn(COMP, "pull_answer_dropped", "bytes=%zu max=%d", m->len,
				DELTA_PAGE_MAX);
			continue; /* the caller times out and asks again */
		}
		memcpy(p->answer, m->payload, m->len);
		p->answer[m->len] = '\0';
		p->len = m->len;
		p->answered = true;
		u->st.pulls++;
		pthread_cond_broadcast(&u->lk_cv);
	}
	pthread_mutex_unlock(&u->mu);
	return mine;
}

static void handle_notice(struct uplink *u, const struct rg_mqtt_msg *m)
{
	int64_t latest = 0;
	int rc = delta_notice_parse(m->payload, m->len, &latest);
	pthread_mutex_lock(&u->mu);
	if (rc < 0)
		u->st.notices_invalid++;
	else
		u->st.notices++;
	pthread_mutex_unlock(&u->mu);
	if (rc < 0) {
		rg_warn(COMP, "notice_invalid", "bytes=%zu error=%s", m->len, rg_errname(rc));
		return;
	}
	rg_debug(COMP, "notice", "latest=%lld", (long long)latest);
	u->on_notice(u->replica_ctx, latest);
}

static void handle_resp(struct uplink *u, const struct rg_mqtt_msg *m)
{
	char err[RG_WIRE_ERR_MAX], q[RG_WIRE_ERR_MAX + 8];
	char *tmp;
	int rc;
	if (!m->corr || m->corr_len != UPLINK_CORR_LEN) {
		rg_warn(COMP, "resp_invalid", "error=\"no or wrong correlation data\"");
		return;
	}
	if (handle_pull_answer(u, m))
		return;
	pthread_mutex_lock(&u->mu);
	bool lookup_waits = false;
	for (size_t i = 0; i < UPLINK_LOOKUP_MAX && !lookup_waits; i++)
		lookup_waits = u->lookups[i].state == LK_WAITING &&
			       !memcmp(u->lookups[i].corr, m->corr, UPLINK_CORR_LEN);
	if (!lookup_waits)
		u->st.responses_unexpected++;
	pthread_mutex_unlock(&u->mu);
	if (!lookup_waits) {
		rg_info(COMP, "response_unexpected", "bytes=%zu", m->len);
		return;
	}
	if (!(tmp = malloc(UPLINK_PROFILE_MAX)))
		return;
	rc = uplink__lookup_result_parse(m->payload, m->len, tmp, UPLINK_PROFILE_MAX, err,
					 sizeof err);
	if (rc < 0)
		rg_warn(COMP, "lookup_result_invalid", "error=%s", rg_log_quote(q, sizeof q, err));
	pthread_mutex_lock(&u->mu);
	if (rc < 0)
		u->st.acks_invalid++;
	for (size_t i = 0; rc >= 0 && i < UPLINK_LOOKUP_MAX; i++) {
		struct lookup_slot *s = &u->lookups[i];
		if (s->state != LK_WAITING || memcmp(s->corr, m->corr, UPLINK_CORR_LEN))
			continue;
		if (rc == 0) {
			s->state = LK_NOT_FOUND;
		} else if (strlen(tmp) + 1 > s->cap) {
			s->state = LK_ERROR;
			s->err = RG_ERR_TOOBIG;
		} else {
			memcpy(s->buf, tmp, strlen(tmp) + 1);
			s->state = LK_FOUND;
		}
		pthread_cond_broadcast(&u->lk_cv);
		break;
	}
	pthread_mutex_unlock(&u->mu);
	rg_wipe(tmp, UPLINK_PROFILE_MAX);
	free(tmp);
}

static void on_message(void *ctx, const struct rg_mqtt_msg *m)
{
	struct uplink *u = ctx;
	size_t pl = strlen(u->prefix_down);
	const char *what;
	char q[80];

	if (u->on_notice && !strcmp(m->topic, u->topic_notice)) {
		handle_notice(u, m);
		return;
	}
	if (strncmp(m->topic, u->prefix_down, pl)) {
		int scope =
		    u->on_config ? uplink__config_topic(u->store_id, u->device, m->topic) : -1;
		if (scope >= 0) {
			pthread_mutex_lock(&u->mu);
			u->st.config_messages++;
			pthread_mutex_unlock(&u->mu);
			rg_debug(COMP, "config_message", "topic=%s bytes=%zu",
				 rg_log_quote(q, sizeof q, m->topic), m->len);
			u->on_config(u->config_ctx, scope, m->topic, m->payload, m->len);
			return;
		}
		rg_warn(COMP, "unexpected_message", "topic=%s",
			rg_log_quote(q, sizeof q, m->topic));
		return;
	}
	what = m->topic + pl;
	if (!strcmp(what, "ack"))
		handle_ack(u, m->payload, m->len);
	else if (!strcmp(what, "receipt"))
		handle_receipt(u, m->payload, m->len);
	else if (!strcmp(what, "resp"))
		handle_resp(u, m);
	else
		rg_debug(COMP, "ignored", "topic=%s", rg_log_quote(q, sizeof q, m->topic));
}

/* ---- the sender ---- */

struct walk {
	struct uplink_batcher *bt;
	struct rg_uuid7_gen *gen;
	const struct uplink_batch *only; /* resend: stop past its last row */
	int rc;
};

static int walk_row(void *ctx, const struct store_outbox_row *row)
{
	struct walk *w = ctx;
	if (w->only && row->seq > w->only->seq[w->only->n - 1])
		return 1;
	int rc = uplink__batcher_add(w->bt, w->gen, row);
	if (rc < 0) {
		w->rc = rc;
		return rc;
	}
	return rc; /* 1: a lane is full, stop here */
}

/* Publish one built batch under u->mu; the batch joins (or stays in) the
 * tracked set either way: a failed publish is resent on reconnect. */
static void publish_locked(struct uplink *u, struct uplink_batch *b, const char *doc, size_t len)
{
	char id[RG_UUID_STR_LEN + 1];
	int mid = 0, rc = rg_mqtt_publish(u->mq, u->topic_up[b->lane], doc, len, 1, false, &mid);
	int64_t now = now_ms(u);
	b->publishes++;
	if (rc < 0) {
		b->in_window = false;
		b->due_ms = now + u->resend_ms;
		rg_debug(COMP, "publish_deferred", "batch=%s error=%s", rg_uuid_format(&b->id, id),
			 rg_errname(rc));
		return;
	}
	b->mid = mid;
	b->in_window = true;
	b->due_ms = now + u->resend_ms; /* no receipt by then: send again */
	u->st.batches_sent++;
	u->st.rows_sent += (int64_t)b->n;
	rg_debug(COMP, "batch_sent", "batch=%s lane=%s rows=%zu publish=%d",
		 rg_uuid_format(&b->id, id), rg_lane_name(b->lane), b->n, b->publishes);
}

static void mark_sent(struct uplink *u, const struct uplink_batch *b)
{
	int rc = store_outbox_mark_sent(u->store, b->ids, b->n);
	if (rc < 0)
		rg_warn(COMP, "mark_sent_failed", "error=%s", rg_errname(rc));
}

/* Resend the most overdue tracked batch, if any is due and the window has
 * room. Returns 1 if it did something. */
static int resend_one(struct uplink *u)
{
	struct uplink_batch *b = NULL, *built[RG_LANE__COUNT] = {0};
	struct uplink_batcher bt;
	struct walk w = {0};
	char *doc = NULL;
	size_t len = 0;
	int64_t now = now_ms(u);
	int rc;

	pthread_mutex_lock(&u->mu);
	if (u->stop || !u->connected || now < u->pause_until_ms ||
	    in_window(u, now) >= UPLINK_WINDOW) {
		pthread_mutex_unlock(&u->mu);
		return 0;
	}
	for (size_t i = 0; i < u->n_track; i++) {
		struct uplink_batch *t = u->track[i];
		if (t->due_ms <= now && (!b || t->due_ms < b->due_ms))
			b = t;
	}
	if (!b) {
		pthread_mutex_unlock(&u->mu);
		return 0;
	}
	u->resend_copy = *b; /* rows may be acked meanwhile; the store decides */
	b->in_window = true; /* reserved while we rebuild it */
	b->due_ms = now + u->resend_ms;
	pthread_mutex_unlock(&u->mu);

	built[u->resend_copy.lane] = &u->scratch[0];
	uplink__batcher_init(&bt, u->device, u->store_id, UPLINK_BATCH_MAX, built, &u->resend_copy);
	w.bt = &bt;
	w.gen = &u->gen;
	w.only = &u->resend_copy;
	rc = store_outbox_list(u->store, u->resend_copy.seq[0] - 1, STORE_LIST_MAX, walk_row, &w);
	if (rc >= 0 && w.rc == 0)
		rc = uplink__batcher_finish(&bt, u->resend_copy.lane, &doc, &len);
	else if (w.rc < 0)
		rc = w.rc;
	uplink__batcher_free(&bt);

	pthread_mutex_lock(&u->mu);
	b = track_find(u, &u->resend_copy.id);
	if (b && rc >= 0 && doc) {
		/* Only the rows still in the outbox go again. */
		struct uplink_batch *s = &u->scratch[0];
		memcpy(b->seq, s->seq, s->n * sizeof *s->seq);
		memcpy(b->ids, s->ids, s->n * sizeof *s->ids);
		b->n = s->n;
		publish_locked(u, b, doc, len);
	} else if (b && rc >= 0) {
		track_drop(u, b); /* every row was acknowledged meanwhile */
		b = NULL;
	} else if (b) {
		b->in_window = false;
		b->due_ms = now + u->resend_ms;
		rg_error(COMP, "resend_failed", "error=%s", rg_errname(rc));
	}
	pthread_mutex_unlock(&u->mu);
	if (b && doc)
		mark_sent(u, &u->scratch[0]);
	free(doc);
	return 1;
}

/* Take the next new rows after the cursor into up to one batch per lane and
 * publish them. Returns 1 if it sent anything. */
static int send_new(struct uplink *u)
{
	struct uplink_batch *built[RG_LANE__COUNT];
	struct uplink_batcher bt;
	struct walk w = {0};
	int64_t now = now_ms(u);
	int rc, sent = 0;

	pthread_mutex_lock(&u->mu);
	bool room = !u->stop && u->connected && now >= u->pause_until_ms &&
		    in_window(u, now) + RG_LANE__COUNT <= UPLINK_WINDOW &&
		    u->n_track + RG_LANE__COUNT <= UPLINK_TRACK_MAX && !unspooled_locked(u);
	size_t batch_max = u->batch_max; /* uplink_set_params may change it */
	pthread_mutex_unlock(&u->mu);
	if (!room)
		return 0;

	for (int l = 0; l < RG_LANE__COUNT; l++)
		built[l] = &u->scratch[l];
	uplink__batcher_init(&bt, u->device, u->store_id, batch_max, built, NULL);
	w.bt = &bt;
	w.gen = &u->gen;
	rc = store_outbox_list(u->store, u->cursor, STORE_LIST_MAX, walk_row, &w);
	if (rc < 0 || w.rc < 0) {
		rg_error(COMP, "outbox_read_failed", "after_seq=%lld error=%s",
			 (long long)u->cursor, rg_errname(w.rc < 0 ? w.rc : rc));
		uplink__batcher_free(&bt);
		pthread_mutex_lock(&u->mu);
		u->pause_until_ms = now + u->resend_ms; /* do not spin on a broken row */
		pthread_mutex_unlock(&u->mu);
		return 0;
	}
	if (bt.taken == 0) {
		uplink__batcher_free(&bt);
		return 0;
	}
	u->cursor = bt.last_seq;
	/* Priority first: it may overtake interactions (docs/uplink.md). */
	for (int l = 0; l < RG_LANE__COUNT; l++) {
		char *doc = NULL;
		size_t len = 0;
		struct uplink_batch *b;
		if ((rc = uplink__batcher_finish(&bt, (enum rg_lane)l, &doc, &len)) < 0) {
			/* Cannot happen within the size budget; the rows stay for a restart. */
			rg_error(COMP, "batch_build_failed", "lane=%s error=%s",
				 rg_lane_name((enum rg_lane)l), rg_errname(rc));
			continue;
		}
		if (!doc)
			continue;
		if (!(b = malloc(sizeof *b))) {
			free(doc);
			continue; /* sent again after a restart (the cursor moved on) */
		}
		*b = u->scratch[l];
		pthread_mutex_lock(&u->mu);
		u->track[u->n_track++] = b;
		publish_locked(u, b, doc, len);
		pthread_mutex_unlock(&u->mu);
		mark_sent(u, &u->scratch[l]);
		free(doc);
		sent = 1;
	}
	uplink__batcher_free(&bt);
	return sent;
}

static void *sender_main(void *arg)
{
	struct uplink *u = arg;
	for (;;) {
		int did = resend_one(u);
		did |= send_new(u);

		pthread_mutex_lock(&u->mu);
		if (u->stop) {
			pthread_mutex_unlock(&u->mu);
			break;
		}
		if (!did && !u->wake) {
			/* Sleep until woken or the next timer (capped: the clock seam may
			 * not be the real clock). */
			int64_t now = now_ms(u), next = now + IDLE_WAKE_MS;
			for (size_t i = 0; i < u->n_track; i++)
				if (u->track[i]->due_ms < next)
					next = u->track[i]->due_ms;
			if (u->pause_until_ms > now && u->pause_until_ms < next)
				next = u->pause_until_ms;
			int64_t ms = next - now > 0 ? next - now : 1;
			struct timespec ts;
			rg_deadline_ms(&ts, ms);
			pthread_cond_timedwait(&u->cv, &u->mu, &ts);
		}
		u->wake = false;
		pthread_mutex_unlock(&u->mu);
	}
	return NULL;
}

/* ---- public API ---- */

static int store_word_valid(const char *s)
{
	size_t n = s ? strlen(s) : 0;
	if (n == 0 || n > RG_WIRE_STORE_MAX || s[0] == '-')
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
			return 0;
	return 1;
}

static int bad(const char *what)
{
	rg_error(COMP, "config_invalid", "error=\"%s\"", what);
	return RG_ERR_CONFIG;
}

static int params_check(int batch_max, int resend_ms, int lookup_timeout_ms)
{
	if (batch_max < 0 || batch_max > UPLINK_BATCH_MAX)
		return bad("uplink.batch_max must be 1..500");
	if (resend_ms < 0 || (resend_ms > 0 && resend_ms < 100) || resend_ms > 3600000)
		return bad("uplink.resend_ms must be 100..3600000");
	if (lookup_timeout_ms < 0 || lookup_timeout_ms > 60000)
		return bad("uplink.lookup_timeout_ms must be 0..60000");
	return 0;
}

static int topic(char *buf, const char *store, const char *dev, const char *tail)
{
	int n = snprintf(buf, TOPIC_MAX, "rg/v1/s/%s/d/%s/%s", store, dev, tail);
	return n < 0 || n >= TOPIC_MAX ? RG_ERR_TOOBIG : 0;
}

static void uplink_free(struct uplink *u)
{
	rg_mqtt_free(u->mq);
	for (size_t i = 0; i < UPLINK_PULL_MAX; i++)
		free(u->pulls[i].answer);
	for (size_t i = 0; i < u->n_track; i++)
		free(u->track[i]);
	pthread_cond_destroy(&u->lk_cv);
	pthread_cond_destroy(&u->cv);
	pthread_mutex_destroy(&u->status_mu);
	pthread_mutex_destroy(&u->mu);
	free(u->config_report);
	free(u);
}

int uplink_start(const struct uplink_config *cfg, struct uplink **out)
{
	struct uplink *u;
	pthread_condattr_t ca;
	char will[] = "{\"online\":false}";
	int rc;

	if (!out)
		return RG_ERR_INVAL;
	*out = NULL;
	if (!cfg || !cfg->store)
		return bad("a store is required");
	if (!rg_wire_identity_valid(cfg->device_id))
		return bad("device_id must be 1..64 of [a-z0-9-]");
	if (!store_word_valid(cfg->store_id))
		return bad("store_id must be 1..32 of [a-z0-9-]");
	if ((rc = params_check(cfg->batch_max, cfg->resend_ms, cfg->lookup_timeout_ms)) < 0)
		return rc;
	if (!(u = calloc(1, sizeof *u)))
		return RG_ERR_NOMEM;
	snprintf(u->device, sizeof u->device, "%s", cfg->device_id);
	snprintf(u->store_id, sizeof u->store_id, "%s", cfg->store_id);
	u->store = cfg->store;
	u->clock = cfg->clock ? cfg->clock : rg_clock_system();
	u->batch_max = cfg->batch_max ? (size_t)cfg->batch_max : DEFAULT_BATCH_MAX;
	u->resend_ms = cfg->resend_ms ? cfg->resend_ms : DEFAULT_RESEND_MS;
	u->lookup_ms = cfg->lookup_timeout_ms ? cfg->lookup_timeout_ms : DEFAULT_LOOKUP_MS;
	rg_uuid7_gen_init(&u->gen, u->clock, rg_rand_system());
	pthread_mutex_init(&u->mu, NULL);
	pthread_mutex_init(&u->status_mu, NULL);
	u->on_config = cfg->on_config;
	u->config_ctx = cfg->config_ctx;
	u->on_notice = cfg->on_notice;
	u->on_online = cfg->on_online;
	u->replica_ctx = cfg->replica_ctx;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&u->cv, &ca);
	pthread_cond_init(&u->lk_cv, &ca);
	pthread_condattr_destroy(&ca);

	rc = 0;
	for (int l = 0; l < RG_LANE__COUNT && !rc; l++) {
		char tail[32];
		snprintf(tail, sizeof tail, "up/%s", rg_lane_name((enum rg_lane)l));
		rc = topic(u->topic_up[l], u->store_id, u->device, tail);
	}
	if (rc || topic(u->topic_req, u->store_id, u->device, "req/lookup") ||
	    topic(u->topic_resp, u->store_id, u->device, "down/resp") ||
	    topic(u->topic_status, u->store_id, u->device, "status") ||
	    topic(u->topic_down, u->store_id, u->device, "down/#") ||
	    topic(u->prefix_down, u->store_id, u->device, "down/") ||
	    topic(u->topic_cfg_dev, u->store_id, u->device, "config") ||
	    snprintf(u->topic_cfg_store, TOPIC_MAX, "rg/v1/s/%s/config/#", u->store_id) >=
		TOPIC_MAX ||
	    snprintf(u->topic_notice, TOPIC_MAX, "rg/v1/s/%s/down/changes", u->store_id) >=
		TOPIC_MAX) {
		uplink_free(u);
		return bad("topic too long");
	}

	struct rg_mqtt_config mc = {
	    .name = COMP,
	    .host = cfg->host,
	    .port = cfg->port,
	    .client_id = cfg->device_id,
	    .ca_file = cfg->ca_file,
	    .cert_file = cfg->cert_file,
	    .key_file = cfg->key_file,
	    .clean_start = false, /* acks published while we were away wait for us */
	    .backoff_min_ms = cfg->backoff_min_ms,
	    .backoff_max_ms = cfg->backoff_max_ms,
	    .will_topic = u->topic_status,
	    .will_payload = will,
	    .will_len = strlen(will),
	    .will_retain = true,
	};
	struct rg_mqtt_handlers h = {.on_connect = on_connect,
				     .on_disconnect = on_disconnect,
				     .on_message = on_message,
				     .on_publish = on_publish};
	if ((rc = rg_mqtt_new(&mc, &h, u, &u->mq)) < 0) {
		uplink_free(u);
		return rc;
	}
	if (pthread_create(&u->sender, NULL, sender_main, u) != 0) {
		uplink_free(u);
		return RG_ERR_NOMEM;
	}
	if ((rc = rg_mqtt_start(u->mq)) < 0) {
		pthread_mutex_lock(&u->mu);
		u->stop = true;
		wake_locked(u);
		pthread_mutex_unlock(&u->mu);
		pthread_join(u->sender, NULL);
		uplink_free(u);
		return rc;
	}
	rg_info(COMP, "started", "device=%s store=%s host=%s port=%d batch_max=%zu resend_ms=%d",
		u->device, u->store_id, cfg->host, cfg->port, u->batch_max, u->resend_ms);
	*out = u;
	return 0;
}

int uplink_set_params(struct uplink *u, int batch_max, int resend_ms, int lookup_timeout_ms)
{
	int rc;
	if (!u)
		return RG_ERR_INVAL;
	if ((rc = params_check(batch_max, resend_ms, lookup_timeout_ms)) < 0)
		return rc;
	pthread_mutex_lock(&u->mu);
	bool changed = u->batch_max != (batch_max ? (size_t)batch_max : DEFAULT_BATCH_MAX) ||
		       u->resend_ms != (resend_ms ? resend_ms : DEFAULT_RESEND_MS) ||
		       u->lookup_ms != (lookup_timeout_ms ? lookup_timeout_ms : DEFAULT_LOOKUP_MS);
	u->batch_max = batch_max ? (size_t)batch_max : DEFAULT_BATCH_MAX;
	u->resend_ms = resend_ms ? resend_ms : DEFAULT_RESEND_MS;
	u->lookup_ms = lookup_timeout_ms ? lookup_timeout_ms : DEFAULT_LOOKUP_MS;
	wake_locked(u);
	pthread_mutex_unlock(&u->mu);
	if (changed)
		rg_info(COMP, "params_changed", "batch_max=%d resend_ms=%d lookup_timeout_ms=%d",
			batch_max ? batch_max : DEFAULT_BATCH_MAX,
			resend_ms ? resend_ms : DEFAULT_RESEND_MS,
			lookup_timeout_ms ? lookup_timeout_ms : DEFAULT_LOOKUP_MS);
	return 0;
}

int uplink_set_config_report(struct uplink *u, const char *json)
{
	char *copy = NULL;
	if (!u)
		return RG_ERR_INVAL;
	if (json && !(copy = strdup(json)))
		return RG_ERR_NOMEM;
	pthread_mutex_lock(&u->mu);
	free(u->config_report);
	u->config_report = copy;
	bool stopping = u->stop;
	pthread_mutex_unlock(&u->mu);
	if (!stopping && rg_mqtt_connected(u->mq))
		publish_status(u, true);
	return 0;
}

void uplink_notify(struct uplink *u)
{
	if (!u)
		return;
	pthread_mutex_lock(&u->mu);
	wake_locked(u);
	pthread_mutex_unlock(&u->mu);
}

void uplink_stop(struct uplink *u)
{
	if (!u)
		return;
	pthread_mutex_lock(&u->mu);
	u->stop = true;
	wake_locked(u);
	pthread_cond_broadcast(&u->lk_cv);
	pthread_mutex_unlock(&u->mu);
	pthread_join(u->sender, NULL);
	/* A clean DISCONNECT discards the Will, so say offline ourselves first
	 * (the broker handles our packets in order). */
	if (rg_mqtt_connected(u->mq))
		publish_status(u, false);
	rg_mqtt_stop(u->mq);
	rg_info(COMP, "stopped", "batches_sent=%lld rows_acked=%lld", (long long)u->st.batches_sent,
		(long long)u->st.rows_acked);
	uplink_free(u);
}

void uplink_status_get(struct uplink *u, struct uplink_status *out)
{
	if (!out)
		return;
	memset(out, 0, sizeof *out);
	if (!u)
		return;
	pthread_mutex_lock(&u->mu);
	*out = u->st;
	pthread_mutex_unlock(&u->mu);
	out->connected = rg_mqtt_connected(u->mq);
}

static int64_t mono_real_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int uplink_lookup(struct uplink *u, const uint8_t token[32], int timeout_ms, char *buf, size_t cap)
{
	struct lookup_slot *s = NULL;
	char req[UPLINK_LOOKUP_REQ_MAX];
	struct timespec ts;
	int n, rc;

	if (!u || !token || !buf || !cap)
		return RG_ERR_INVAL;
	buf[0] = '\0';
	if ((n = uplink__lookup_request(token, req, sizeof req)) < 0)
		return n;
	pthread_mutex_lock(&u->mu);
	if (timeout_ms <= 0)
		timeout_ms = u->lookup_ms;
	if (u->stop || !u->connected) {
		pthread_mutex_unlock(&u->mu);
		return RG_ERR_CLOSED;
	}
	for (size_t i = 0; i < UPLINK_LOOKUP_MAX && !s; i++)
		if (u->lookups[i].state == LK_FREE)
			s = &u->lookups[i];
	if (!s) {
		pthread_mutex_unlock(&u->mu);
		return RG_ERR_BUSY;
	}
	*s = (struct lookup_slot){.state = LK_WAITING, .buf = buf, .cap = cap};
	rg_random(s->corr, sizeof s->corr);
	rc = rg_mqtt_request(u->mq, u->topic_req, req, (size_t)n, u->topic_resp, s->corr,
			     sizeof s->corr, NULL);
	if (rc < 0) {
		s->state = LK_FREE;
		pthread_mutex_unlock(&u->mu);
		return rc;
	}
	int64_t end = mono_real_ms() + timeout_ms;
	ts.tv_sec = (time_t)(end / 1000);
	ts.tv_nsec = (long)(end % 1000) * 1000000L;
	while (s->state == LK_WAITING && !u->stop)
		if (pthread_cond_timedwait(&u->lk_cv, &u->mu, &ts) == ETIMEDOUT)
			break;
	switch (s->state) {
	case LK_FOUND:
		rc = 1;
		break;
	case LK_NOT_FOUND:
		rc = 0;
		break;
	case LK_ERROR:
		rc = s->err;
		break;
	default:
		rc = u->stop ? RG_ERR_CLOSED : RG_ERR_TIMEOUT;
		break;
	}
	if (rc != 1)
		buf[0] = '\0';
	*s = (struct lookup_slot){0};
	pthread_mutex_unlock(&u->mu);
	if (rc == RG_ERR_TIMEOUT)
		rg_info(COMP, "lookup_timeout", "timeout_ms=%d", timeout_ms);
	return rc;
}

int uplink_pull(struct uplink *u, const char *op, const char *req, size_t req_len,
		int timeout_ms, char **out, size_t *len)
{
	struct pull_slot *p = NULL;
	char topic_req[TOPIC_MAX];
	struct timespec ts;
	int rc;

	if (out)
		*out = NULL;
	if (len)
		*len = 0;
	if (!u || !op || (strcmp(op, "changes") && strcmp(op, "snapshot")) || !req || !req_len ||
	    req_len > DELTA_REQUEST_MAX || !out || !len || timeout_ms <= 0)
		return RG_ERR_INVAL;
	snprintf(topic_req, sizeof topic_req, "%.*s%s",
		 (int)(strlen(u->topic_req) - strlen("lookup")), u->topic_req, op);
	pthread_mutex_lock(&u->mu);
	if (u->stop || u->pulls_cancelled || !u->connected) {
		pthread_mutex_unlock(&u->mu);
		return RG_ERR_CLOSED;
	}
	for (size_t i = 0; i < UPLINK_PULL_MAX && !p; i++)
		if (!u->pulls[i].waiting)
			p = &u->pulls[i];
	if (!p) {
		pthread_mutex_unlock(&u->mu);
		return RG_ERR_BUSY;
	}
	*p = (struct pull_slot){.waiting = true};
	rg_random(p->corr, sizeof p->corr);
	rc = rg_mqtt_request(u->mq, topic_req, req, req_len, u->topic_resp, p->corr,
			     sizeof p->corr, NULL);
	if (rc < 0) {
		*p = (struct pull_slot){0};
		pthread_mutex_unlock(&u->mu);
		return rc;
	}
	int64_t end = mono_real_ms() + timeout_ms;
	ts.tv_sec = (time_t)(end / 1000);
	ts.tv_nsec = (long)(end % 1000) * 1000000L;
	while (!p->answered && !u->stop && !u->pulls_cancelled)
		if (pthread_cond_timedwait(&u->lk_cv, &u->mu, &ts) == ETIMEDOUT)
			break;
	if (p->answered) {
		*out = p->answer;
		*len = p->len;
		rc = 0;
	} else {
		free(p->answer);
		rc = u->stop || u->pulls_cancelled ? RG_ERR_CLOSED : RG_ERR_TIMEOUT;
	}
	*p = (struct pull_slot){0};
	pthread_mutex_unlock(&u->mu);
	if (rc == RG_ERR_TIMEOUT)
		rg_info(COMP, "pull_timeout", "op=%s timeout_ms=%d", op, timeout_ms);
	return rc;
}

void uplink_pull_cancel(struct uplink *u)
{
	if (!u)
		return;
	pthread_mutex_lock(&u->mu);
	u->pulls_cancelled = true;
	pthread_cond_broadcast(&u->lk_cv);
	pthread_mutex_unlock(&u->mu);
}

void uplink_set_replica(struct uplink *u, int64_t cursor, int64_t latest, int64_t as_of_ms)
{
	if (!u)
		return;
	pthread_mutex_lock(&u->mu);
	bool changed = !u->has_replica || u->rep_cursor != cursor || u->rep_latest != latest ||
		       u->rep_as_of != as_of_ms;
	u->has_replica = true;
	u->rep_cursor = cursor;
	u->rep_latest = latest;
	u->rep_as_of = as_of_ms;
	bool stopping = u->stop;
	pthread_mutex_unlock(&u->mu);
	if (changed && !stopping && rg_mqtt_connected(u->mq))
		publish_status(u, true);
}
