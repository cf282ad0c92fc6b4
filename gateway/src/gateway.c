/*
 * gateway.c - the regulars-gateway daemon (gateway.h). Threads: the two
 * rg_mqtt clients' threads only copy what arrives into one event queue
 * (bounded: a full queue makes the store client's thread wait, which stops
 * it reading from the broker); the main thread owns the spool, the
 * scheduler, the configuration relay (cfgsync.h) and every decision. A
 * device batch is committed (in a group with whatever else arrived
 * meanwhile) before its receipt is published.
 */
#include "gateway.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/cfgdoc.h"
#include "common/clock.h"
#include "common/crypto.h"
#include "common/delta.h"
#include "common/err.h"
#include "common/wake.h"
#include "common/json.h"
#include "common/log.h"
#include "common/mqtt.h"
#include "gateway/cfgsync.h"
#include "gateway/forward.h"
#include "gateway/replica.h"
#include "gateway/spool.h"
#include "gateway/uplink.h"

#define COMP "gateway"
#define QUEUE_MAX_BYTES (64u << 20) /* events waiting for the main thread */
#define GROUP_MAX 64		    /* uplinks committed in one transaction */
#define STATUS_EVERY_MS 10000
#define LOOKUPS_MAX 256
#define LOOKUP_TTL_MS 10000
#define LOOKUP_MAX_BYTES 1024
#define CONFIG_TICK_MS 60000 /* re-check the expiry of the gateway's own documents */
#define PULL_TTL_MS 10000    /* a request to central unanswered this long is retried */
#define PULL_CORR_LEN 16     /* correlation data of the replica's requests */
#define SNAPSHOT_CHUNK 500   /* profiles asked per snapshot chunk */
/* Sync up first: while batches wait for central's ack, pulls wait (at most
 * this long after the last one). */
#define PULL_DEFER_MAX_MS 30000
#define PULL_RECHECK_MS 200
/* Changes asked per page. Rendering a page (cloud) and applying it (here)
 * holds the acks queued behind it, so while devices send, pages are small:
 * with 250 the p99 of a tap's ack was ~150 ms while the replica caught up
 * after a backlog drained, with 50 it stays ~11 ms as when settled
 * (bench_sync). Without device batches or lookups for PULL_BUSY_MS, pages
 * are large and catching up takes fewer round trips. */
#define PULL_PAGE_BUSY 50
#define PULL_PAGE_IDLE 250
#define PULL_BUSY_MS 2000
#define PRUNE_EVERY_MS 3600000

enum ev_kind {
	EV_STORE_UP,
	EV_STORE_DOWN,
	EV_CENTRAL_UP,
	EV_CENTRAL_DOWN,
	EV_STORE_MSG,
	EV_CENTRAL_MSG,
};

struct ev {
	struct ev *next;
	enum ev_kind kind;
	char *topic;
	char *payload; /* NUL-terminated copy; NULL when too_large */
	size_t len;
	bool too_large; /* over the cap of its kind (cfgsync.h): not copied */
	char *response_topic;
	uint8_t corr[RG_MQTT_CORR_MAX];
	size_t corr_len;
	size_t bytes;
};

struct lookup {
	bool used;
	uint64_t id;
	int64_t expires_ms;
	char device[RG_WIRE_ID_MAX + 1];
	uint8_t corr[RG_MQTT_CORR_MAX];
	size_t corr_len;
	uint8_t token[RG_TOKEN_LEN]; /* to write central's answer into the replica */
};

/* The one replica request to central in flight (docs/replication.md). */
struct pull {
	bool inflight;
	bool snapshot; /* a snapshot request, else changes */
	uint8_t corr[PULL_CORR_LEN];
	int64_t since;	  /* changes: the cursor asked with */
	int64_t snap;	  /* snapshot: the id asked for (0: a new one) */
	char after[DELTA_ID_MAX + 1];
	int64_t expires_ms;
};

struct counters {
	int64_t accepted, accepted_items, duplicates;
	int64_t refused[GW_REFUSE__COUNT];
	int64_t unnamed; /* refused without a batch id: no receipt possible */
	int64_t receipts_unsent;
	int64_t shed_batches, shed_items;
	int64_t acks_applied, ack_items, batches_done;
	int64_t acks_malformed, acks_unknown_device, acks_unrelayed;
	int64_t lookups, lookup_answers, lookups_dropped;
	int64_t db_errors;
	/* the replica (docs/replication.md) */
	int64_t pull_requests, pull_timeouts, responses_unexpected;
	int64_t pages_applied, pages_refused, chunks_applied, snapshots_done;
	int64_t changes_applied, changes_ignored, changes_tombstoned, profiles_swept;
	int64_t notices, device_requests, device_requests_refused;
	int64_t central_notices, central_notices_refused;
	int64_t lookups_from_replica, lookups_stored, lookups_tombstoned, replica_errors;
};

struct gw_daemon {
	struct gwcfg cfg;  /* in force: the file with the pushed gateway.* keys over it */
	struct gwcfg file; /* the file as last (re)loaded */
	cJSON *pushed;	   /* the gateway's applied pushed settings (merged), or NULL */
	struct gw_cfgsync *cs;
	char *config_path;
	const struct rg_clock *clock;
	struct gw_spool *spool;
	struct gw_replica *replica;
	struct pull pull;
	bool pull_now;	    /* ask central at the next turn of the loop */
	int64_t pull_urgent; /* central announced this seq: pull until the cursor has it */
	bool want_snapshot; /* central said snapshot_needed */
	int64_t next_pull_ms, last_prune_ms, last_pull_ms;
	int64_t last_device_ms; /* a device batch accepted or lookup asked last (monotonic ms) */
	struct gw_fwd *fwd;
	struct rg_mqtt *store, *central;
	char up_prefix[RG_MQTT_TOPIC_MAX];	/* rg/v1/g/gw-<store>/up/ */
	char ack_topic[RG_MQTT_TOPIC_MAX];	/* rg/v1/g/gw-<store>/down/ack */
	char resp_topic[RG_MQTT_TOPIC_MAX];	/* rg/v1/g/gw-<store>/down/resp */
	char store_status[RG_MQTT_TOPIC_MAX];	/* rg/v1/s/<store>/gateway/status */
	char central_status[RG_MQTT_TOPIC_MAX]; /* rg/v1/g/gw-<store>/status */
	char notice_topic[RG_MQTT_TOPIC_MAX];	/* rg/v1/s/<store>/down/changes */

	pthread_mutex_t mu;
	pthread_cond_t room;
	struct ev *head, *tail;
	size_t q_bytes;
	bool closing;

	bool store_up, central_up;
	struct counters n;
	struct lookup lookups[LOOKUPS_MAX];
	uint64_t next_lookup;
	int64_t last_status_ms, last_stats_ms, last_tick_ms;
	int64_t last_backlog;
	int64_t started_ms;
};

static void wake(void)
{
	rg_wake_post(RG_WAKE_WORK);
}

static int64_t now_ms(const struct gw_daemon *d)
{
	return rg_clock_mono_ns(d->clock) / 1000000;
}

/* ---- the event queue (MQTT threads -> main thread) ---- */

static void ev_free(struct ev *e)
{
	if (!e)
		return;
	free(e->topic);
	free(e->payload);
	free(e->response_topic);
	free(e);
}

static void push(struct gw_daemon *d, struct ev *e, bool may_wait)
{
	pthread_mutex_lock(&d->mu);
	while (may_wait && !d->closing && d->q_bytes > QUEUE_MAX_BYTES)
		pthread_cond_wait(&d->room, &d->mu);
	if (d->closing && may_wait) {
		pthread_mutex_unlock(&d->mu);
		ev_free(e); /* stopping: the device resends what it has no receipt for */
		return;
	}
	if (d->tail)
		d->tail->next = e;
	else
		d->head = e;
	d->tail = e;
	d->q_bytes += e->bytes;
	pthread_mutex_unlock(&d->mu);
	wake();
}

static void push_kind(struct gw_daemon *d, enum ev_kind k)
{
	struct ev *e = calloc(1, sizeof *e);
	if (!e) {
		rg_error(COMP, "out_of_memory", "what=event");
		return;
	}
	e->kind = k;
	push(d, e, false);
}

/* cap: a payload longer is queued without its bytes (too_large), for the
 * main thread to refuse and count. */
static void push_msg(struct gw_daemon *d, enum ev_kind k, const struct rg_mqtt_msg *m, size_t cap)
{
	struct ev *e = calloc(1, sizeof *e);
	bool big = m->len > cap;
	if (!e || !(e->topic = strdup(m->topic)) || (!big && !(e->payload = malloc(m->len + 1))) ||
	    (m->response_topic && !(e->response_topic = strdup(m->response_topic)))) {
		rg_error(COMP, "out_of_memory", "what=message len=%zu", m->len);
		ev_free(e);
		return;
	}
	e->kind = k;
	e->too_large = big;
	if (!big) {
		memcpy(e->payload, m->payload, m->len);
		e->payload[m->len] = '\0';
	}
	e->len = m->len;
	if (m->corr && m->corr_len <= sizeof e->corr) {
		memcpy(e->corr, m->corr, m->corr_len);
		e->corr_len = m->corr_len;
	}
	e->bytes = sizeof *e + (big ? 0 : m->len) + strlen(m->topic);
	push(d, e, true);
}

static struct ev *take_all(struct gw_daemon *d)
{
	struct ev *e;
	pthread_mutex_lock(&d->mu);
	e = d->head;
	d->head = d->tail = NULL;
	d->q_bytes = 0;
	pthread_cond_broadcast(&d->room);
	pthread_mutex_unlock(&d->mu);
	return e;
}

/* ---- MQTT callbacks (client threads: queue only) ---- */

static void store_on_connect(void *ctx, bool session_present)
{
	struct gw_daemon *d = ctx;
	char f[RG_MQTT_TOPIC_MAX];
	(void)session_present;
	/* Subscribing again is harmless and covers a session the broker lost. */
	snprintf(f, sizeof f, "rg/v1/s/%s/d/+/up/#", d->cfg.store_id);
	rg_mqtt_subscribe(d->store, f, 1);
	snprintf(f, sizeof f, "rg/v1/s/%s/d/+/req/#", d->cfg.store_id);
	rg_mqtt_subscribe(d->store, f, 1);
	snprintf(f, sizeof f, "rg/v1/s/%s/d/+/status", d->cfg.store_id);
	rg_mqtt_subscribe(d->store, f, 1);
	push_kind(d, EV_STORE_UP);
}

static void store_on_disconnect(void *ctx, int reason)
{
	(void)reason;
	push_kind(ctx, EV_STORE_DOWN);
}

static bool ends_with(const char *s, const char *tail)
{
	size_t n = strlen(s), t = strlen(tail);
	return n >= t && !memcmp(s + n - t, tail, t);
}

static void store_on_message(void *ctx, const struct rg_mqtt_msg *m)
{
	/* Device statuses have a cap of their own; batches are checked (and
	 * refused with a receipt) by the main thread. */
	push_msg(ctx, EV_STORE_MSG, m, ends_with(m->topic, "/status") ? GW_STATUS_MAX : SIZE_MAX);
}

static void central_on_connect(void *ctx, bool session_present)
{
	struct gw_daemon *d = ctx;
	char f[RG_MQTT_TOPIC_MAX];
	(void)session_present;
	snprintf(f, sizeof f, "rg/v1/g/%s/down/#", d->cfg.identity);
	rg_mqtt_subscribe(d->central, f, 1);
	/* IT's retained documents (docs/gateway.md): delivered again on every
	 * subscribe, which rebuilds the relay's memory after a restart. */
	rg_mqtt_subscribe(d->central, "rg/v1/config/tenant", 1);
	snprintf(f, sizeof f, "rg/v1/config/store/%s", d->cfg.store_id);
	rg_mqtt_subscribe(d->central, f, 1);
	snprintf(f, sizeof f, "rg/v1/config/device/%s/+", d->cfg.store_id);
	rg_mqtt_subscribe(d->central, f, 1);
	rg_mqtt_subscribe(d->central, "rg/v1/config/keys/+", 1);
	/* QoS 0: a notice missed while away is worth nothing (the gateway pulls
	 * at connect), and none queue up in its session meanwhile. */
	rg_mqtt_subscribe(d->central, RG_TOPIC_CENTRAL_CHANGES, 0);
	push_kind(d, EV_CENTRAL_UP);
}

static void central_on_disconnect(void *ctx, int reason)
{
	(void)reason;
	push_kind(ctx, EV_CENTRAL_DOWN);
}

static void central_on_message(void *ctx, const struct rg_mqtt_msg *m)
{
	push_msg(ctx, EV_CENTRAL_MSG, m,
		 strncmp(m->topic, "rg/v1/config/", 13) ? SIZE_MAX : (size_t)CFGDOC_ENVELOPE_MAX);
}

/* ---- forwarding ---- */

static int fwd_publish(void *ctx, const struct gw_spool_entry *e)
{
	struct gw_daemon *d = ctx;
	char topic[RG_MQTT_TOPIC_MAX];
	snprintf(topic, sizeof topic, "%s%s", d->up_prefix, rg_lane_name(e->lane));
	return rg_mqtt_publish(d->central, topic, e->payload, e->len, 1, false, NULL);
}

static const struct gw_fwd_ops fwd_ops = {.publish = fwd_publish};

/* ---- statuses and stats ---- */

/* "replica":{"cursor":..,"gseq":..,"profiles":..,"as_of":..} for both statuses. */
static void replica_status(struct gw_daemon *d, char *buf, size_t cap)
{
	struct gw_replica_state rs;
	if (!d->replica || gw_replica_state_get(d->replica, &rs) < 0)
		memset(&rs, 0, sizeof rs);
	snprintf(buf, cap,
		 "\"replica\":{\"cursor\":%lld,\"gseq\":%lld,\"profiles\":%lld,\"as_of\":%lld}",
		 (long long)rs.central_cursor, (long long)rs.gseq, (long long)rs.profiles,
		 (long long)rs.as_of_ms);
}

static void publish_status(struct gw_daemon *d)
{
	struct gw_spool_stats st;
	char buf[768], rep[192], *report = NULL, *full = NULL;
	int64_t backlog;
	int n;

	if (gw_spool_stats(d->spool, &st) < 0)
		return;
	replica_status(d, rep, sizeof rep);
	backlog = st.batches[0] + st.batches[1] + st.batches[2];
	if (d->store_up) {
		n = snprintf(buf, sizeof buf,
			     "{\"online\":true,\"central\":\"%s\",\"backlog\":%lld,%s}",
			     d->central_up ? "online" : "offline", (long long)backlog, rep);
		rg_mqtt_publish(d->store, d->store_status, buf, (size_t)n, 1, true, NULL);
	}
	if (d->central_up) {
		n = snprintf(buf, sizeof buf,
			     "{\"online\":true,\"store\":\"%s\",\"store_broker\":\"%s\","
			     "\"backlog\":%lld,\"items\":%lld,\"lanes\":{\"priority\":%lld,"
			     "\"interactions\":%lld,\"telemetry\":%lld},\"spool_bytes\":%lld,"
			     "\"budget_bytes\":%lld,%s}",
			     d->cfg.store_id, d->store_up ? "online" : "offline",
			     (long long)backlog, (long long)st.items, (long long)st.batches[0],
			     (long long)st.batches[1], (long long)st.batches[2],
			     (long long)st.bytes, (long long)st.budget, rep);
		/* With settings of its own, the status says what the gateway runs:
		 * ..."budget_bytes":N,"config":{cfgstate_report()}} */
		cJSON *r = gw_cfgsync_report(d->cs);
		if (r && (report = cJSON_PrintUnformatted(r)) &&
		    (full = malloc((size_t)n + strlen(report) + 16))) {
			n = snprintf(full, (size_t)n + strlen(report) + 16, "%.*s,\"config\":%s}",
				     n - 1, buf, report);
		}
		cJSON_Delete(r);
		rg_mqtt_publish(d->central, d->central_status, full ? full : buf, (size_t)n, 1,
				true, NULL);
		free(full);
		cJSON_free(report);
	}
	d->last_backlog = backlog;
	d->last_status_ms = now_ms(d);
}

static void log_stats(struct gw_daemon *d, const char *event)
{
	struct gw_spool_stats st;
	struct gw_fwd_stats fs;
	struct rg_mqtt_stats cs;
	struct gw_cfgsync_stats c;
	const struct counters *n = &d->n;
	struct gw_replica_state rs;

	memset(&st, 0, sizeof st);
	if (!d->replica || gw_replica_state_get(d->replica, &rs) < 0)
		memset(&rs, 0, sizeof rs);
	gw_cfgsync_stats_get(d->cs, &c);
	gw_spool_stats(d->spool, &st);
	gw_fwd_stats_get(d->fwd, &fs);
	rg_mqtt_stats_get(d->central, &cs);
	rg_info(
	    COMP, event,
	    "accepted=%lld accepted_items=%lld duplicates=%lld refused_malformed=%lld "
	    "refused_too_big=%lld refused_device_mismatch=%lld refused_store_mismatch=%lld "
	    "refused_not_device=%lld refused_unknown_device=%lld refused_lane_mismatch=%lld "
	    "refused_spool_full=%lld refused_unnamed=%lld receipts_unsent=%lld "
	    "shed_batches=%lld shed_items=%lld forwarded=%lld reforwarded=%lld bundles=%lld "
	    "inflight=%d "
	    "central_refused=%lld acks=%lld ack_items=%lld batches_done=%lld "
	    "acks_malformed=%lld acks_unknown_device=%lld acks_unrelayed=%lld lookups=%lld "
	    "lookup_answers=%lld lookups_dropped=%lld db_errors=%lld backlog_priority=%lld "
	    "backlog_interactions=%lld backlog_telemetry=%lld backlog_items=%lld "
	    "spool_bytes=%lld budget_bytes=%lld store=%s central=%s config_relayed=%lld "
	    "config_cleared=%lld config_unchanged=%lld config_other_store=%lld "
	    "config_bad_topic=%lld config_too_large=%lld config_uncached=%lld "
	    "config_deferred=%lld config_republished=%lld status_mirrored=%lld "
	    "status_unknown_device=%lld status_too_large=%lld config_offered=%lld "
	    "config_applied=%lld config_refused=%lld config_state_errors=%lld "
	    "pull_requests=%lld pull_timeouts=%lld responses_unexpected=%lld pages_applied=%lld "
	    "pages_refused=%lld chunks_applied=%lld snapshots_done=%lld changes_applied=%lld "
	    "changes_ignored=%lld changes_tombstoned=%lld profiles_swept=%lld notices=%lld "
	    "central_notices=%lld central_notices_refused=%lld device_requests=%lld "
	    "device_requests_refused=%lld lookups_from_replica=%lld "
	    "lookups_stored=%lld lookups_tombstoned=%lld replica_errors=%lld "
	    "replica_cursor=%lld replica_gseq=%lld replica_profiles=%lld",
	    (long long)n->accepted, (long long)n->accepted_items, (long long)n->duplicates,
	    (long long)n->refused[GW_REFUSE_MALFORMED], (long long)n->refused[GW_REFUSE_TOO_BIG],
	    (long long)n->refused[GW_REFUSE_DEVICE_MISMATCH],
	    (long long)n->refused[GW_REFUSE_STORE_MISMATCH],
	    (long long)n->refused[GW_REFUSE_NOT_DEVICE],
	    (long long)n->refused[GW_REFUSE_UNKNOWN_DEVICE],
	    (long long)n->refused[GW_REFUSE_LANE_MISMATCH],
	    (long long)n->refused[GW_REFUSE_SPOOL_FULL], (long long)n->unnamed,
	    (long long)n->receipts_unsent, (long long)n->shed_batches, (long long)n->shed_items,
	    (long long)fs.forwarded, (long long)fs.reforwarded, (long long)fs.bundles, fs.inflight,
	    (long long)cs.refused, (long long)n->acks_applied, (long long)n->ack_items,
	    (long long)n->batches_done, (long long)n->acks_malformed,
	    (long long)n->acks_unknown_device, (long long)n->acks_unrelayed, (long long)n->lookups,
	    (long long)n->lookup_answers, (long long)n->lookups_dropped, (long long)n->db_errors,
	    (long long)st.batches[0], (long long)st.batches[1], (long long)st.batches[2],
	    (long long)st.items, (long long)st.bytes, (long long)st.budget,
	    d->store_up ? "online" : "offline", d->central_up ? "online" : "offline",
	    (long long)c.relayed, (long long)c.cleared, (long long)c.unchanged,
	    (long long)c.other_store, (long long)c.bad_topic, (long long)c.too_large,
	    (long long)c.uncached, (long long)c.deferred, (long long)c.republished,
	    (long long)c.mirrored, (long long)c.mirror_unknown, (long long)c.mirror_too_large,
	    (long long)c.offered, (long long)c.applied, (long long)c.refused,
	    (long long)c.state_errors, (long long)n->pull_requests, (long long)n->pull_timeouts,
	    (long long)n->responses_unexpected, (long long)n->pages_applied,
	    (long long)n->pages_refused, (long long)n->chunks_applied, (long long)n->snapshots_done,
	    (long long)n->changes_applied, (long long)n->changes_ignored,
	    (long long)n->changes_tombstoned, (long long)n->profiles_swept, (long long)n->notices,
	    (long long)n->central_notices, (long long)n->central_notices_refused,
	    (long long)n->device_requests, (long long)n->device_requests_refused,
	    (long long)n->lookups_from_replica, (long long)n->lookups_stored,
	    (long long)n->lookups_tombstoned, (long long)n->replica_errors,
	    (long long)rs.central_cursor, (long long)rs.gseq, (long long)rs.profiles);
	d->last_stats_ms = now_ms(d);
}

/* ---- device uplinks ---- */

struct pending {
	const struct ev *ev;
	struct gw_topic topic;
	struct gw_uplink u;
	struct gw_put_result put;
};

static void receipt(struct gw_daemon *d, const char *device, const struct rg_uuid *batch,
		    enum gw_refusal r)
{
	char topic[RG_MQTT_TOPIC_MAX], buf[GW_RECEIPT_MAX];
	int n = gw_receipt_encode(batch, r, buf, sizeof buf);
	if (n < 0)
		return;
	snprintf(topic, sizeof topic, "rg/v1/s/%s/d/%s/down/receipt", d->cfg.store_id, device);
	if (rg_mqtt_publish(d->store, topic, buf, (size_t)n, 1, false, NULL) < 0)
		d->n.receipts_unsent++;
}

static void refused(struct gw_daemon *d, const struct pending *p)
{
	char id[RG_UUID_STR_LEN + 1] = "none", q[RG_WIRE_ERR_MAX + 8];
	enum gw_refusal r = p->u.refusal;
	d->n.refused[r]++;
	if (p->u.has_batch_id)
		rg_uuid_format(&p->u.batch_id, id);
	rg_warn(COMP, "batch_refused",
		"device=%s lane=%s batch=%s reason=%s receipt_reason=%s bytes=%zu detail=%s",
		p->topic.device, rg_lane_name(p->topic.lane), id, gw_refusal_name(r),
		gw_refusal_reason(r), p->ev->len, rg_log_quote(q, sizeof q, p->u.detail));
	if (p->u.has_batch_id)
		receipt(d, p->topic.device, &p->u.batch_id, r);
	else
		d->n.unnamed++;
}

/* Spool every accepted uplink of the group in one transaction. On failure
 * nothing is spooled and nothing is answered: the devices resend. */
static int spool_group(struct gw_daemon *d, struct pending *g, size_t n)
{
	int rc;
	if ((rc = gw_spool_begin(d->spool)) < 0)
		return rc;
	for (size_t i = 0; i < n; i++) {
		if (g[i].u.refusal != GW_ACCEPT)
			continue;
		struct gw_spool_in in = {
		    .device = g[i].topic.device,
		    .lane = g[i].topic.lane,
		    .batch_id = g[i].u.batch_id,
		    .payload = g[i].ev->payload,
		    .len = g[i].ev->len,
		    .ids = g[i].u.ids,
		    .n_ids = g[i].u.batch.n_items,
		};
		if ((rc = gw_spool_put(d->spool, &in, &g[i].put)) < 0) {
			gw_spool_rollback(d->spool);
			return rc;
		}
	}
	return gw_spool_commit(d->spool);
}

static void uplink_group(struct gw_daemon *d, struct pending *g, size_t n)
{
	char id[RG_UUID_STR_LEN + 1];
	bool any = false;
	int rc = 0;

	for (size_t i = 0; i < n; i++)
		any |= g[i].u.refusal == GW_ACCEPT;
	if (any && (rc = spool_group(d, g, n)) < 0) {
		d->n.db_errors++;
		rg_error(COMP, "spool_failed", "batches=%zu error=%s action=no_receipts", n,
			 rg_errname(rc));
	}
	for (size_t i = 0; i < n; i++) {
		struct pending *p = &g[i];
		if (p->u.refusal != GW_ACCEPT) {
			refused(d, p);
			continue;
		}
		if (rc < 0)
			continue;
		d->n.shed_batches += p->put.shed_batches;
		d->n.shed_items += p->put.shed_items;
		rg_uuid_format(&p->u.batch_id, id);
		if (p->put.status == GW_PUT_FULL) {
			p->u.refusal = GW_REFUSE_SPOOL_FULL;
			snprintf(p->u.detail, sizeof p->u.detail, "disk budget %lld bytes reached",
				 (long long)d->cfg.budget_bytes);
			refused(d, p);
			continue;
		}
		if (p->put.status == GW_PUT_DUPLICATE)
			d->n.duplicates++;
		else {
			d->n.accepted++;
			d->n.accepted_items += (int64_t)p->u.batch.n_items;
			d->last_device_ms = now_ms(d);
			gw_fwd_spooled(d->fwd, p->topic.device, p->topic.lane);
		}
		rg_debug(COMP, "batch_spooled",
			 "device=%s lane=%s batch=%s items=%zu seq=%lld dup=%d", p->topic.device,
			 rg_lane_name(p->topic.lane), id, p->u.batch.n_items, (long long)p->put.seq,
			 p->put.status == GW_PUT_DUPLICATE);
		receipt(d, p->topic.device, &p->u.batch_id, GW_ACCEPT);
	}
}

/* ---- lookups (device -> central -> device) ---- */

static int lookup_valid(const char *payload, size_t len, uint8_t token_out[RG_TOKEN_LEN])
{
	static const char *const keys[] = {"v", "type", "token", NULL};
	cJSON *root = NULL;
	const char *type, *token;
	int64_t v;
	int ok = 0;
	if (len > LOOKUP_MAX_BYTES || rg_json_parse(payload, len, LOOKUP_MAX_BYTES, &root, NULL, 0))
		return 0;
	if (!rg_json_check_keys(root, keys, NULL, 0) &&
	    !rg_json_req_int(root, "v", 1, 1, &v, NULL, 0) &&
	    !rg_json_req_str(root, "type", 16, &type, NULL, 0) && !strcmp(type, "lookup") &&
	    !rg_json_req_str(root, "token", 64, &token, NULL, 0) && strlen(token) == 64) {
		ok = 1;
		for (const char *c = token; *c; c++)
			if (!((*c >= '0' && *c <= '9') || (*c >= 'a' && *c <= 'f')))
				ok = 0;
		for (size_t i = 0; ok && i < RG_TOKEN_LEN; i++) {
			int hi = token[2 * i] <= '9' ? token[2 * i] - '0' : token[2 * i] - 'a' + 10;
			int lo = token[2 * i + 1] <= '9' ? token[2 * i + 1] - '0'
							 : token[2 * i + 1] - 'a' + 10;
			token_out[i] = (uint8_t)(hi << 4 | lo);
		}
	}
	cJSON_Delete(root);
	return ok;
}

static void lookup_request(struct gw_daemon *d, const struct ev *e, const struct gw_topic *t)
{
	char want[RG_MQTT_TOPIC_MAX], topic[RG_MQTT_TOPIC_MAX], *local = NULL;
	uint8_t token[RG_TOKEN_LEN];
	int64_t now = now_ms(d);
	struct lookup *slot = NULL;
	size_t local_len;
	int rc;

	snprintf(want, sizeof want, "rg/v1/s/%s/d/%s/down/resp", d->cfg.store_id, t->device);
	if (strcmp(t->op, "lookup") || !strncmp(t->device, "gw-", 3) ||
	    !gwcfg_device_known(&d->cfg, t->device) || !e->response_topic ||
	    strcmp(e->response_topic, want) || !e->corr_len ||
	    !lookup_valid(e->payload, e->len, token)) {
		d->n.lookups_dropped++;
		rg_warn(COMP, "request_refused", "device=%s op=%s bytes=%zu", t->device, t->op,
			e->len);
		return;
	}
	d->last_device_ms = now; /* pages stay small while devices ask */
	/* The replica first: it answers with central offline too. */
	if ((rc = gw_replica_lookup(d->replica, token, &local, &local_len)) == 1) {
		if (rg_mqtt_request(d->store, want, local, local_len, NULL, e->corr, e->corr_len,
				    NULL) == 0)
			d->n.lookups_from_replica++;
		else
			d->n.lookups_dropped++;
		rg_debug(COMP, "lookup_from_replica", "device=%s token=%02x%02x%02x%02x", t->device,
			 token[0], token[1], token[2], token[3]);
		free(local);
		return;
	}
	if (rc < 0)
		d->n.replica_errors++;
	if (!d->central_up) {
		d->n.lookups_dropped++;
		rg_debug(COMP, "lookup_offline", "device=%s", t->device);
		return;
	}
	for (size_t i = 0; i < LOOKUPS_MAX; i++) {
		struct lookup *l = &d->lookups[i];
		if (!l->used || l->expires_ms <= now) {
			slot = l;
			break;
		}
	}
	if (!slot) {
		d->n.lookups_dropped++;
		rg_warn(COMP, "lookup_busy", "device=%s pending=%d", t->device, LOOKUPS_MAX);
		return;
	}
	memset(slot, 0, sizeof *slot);
	slot->used = true;
	slot->id = ++d->next_lookup;
	slot->expires_ms = now + LOOKUP_TTL_MS;
	snprintf(slot->device, sizeof slot->device, "%s", t->device);
	memcpy(slot->corr, e->corr, e->corr_len);
	slot->corr_len = e->corr_len;
	memcpy(slot->token, token, RG_TOKEN_LEN);
	snprintf(topic, sizeof topic, "rg/v1/g/%s/req/lookup", d->cfg.identity);
	if (rg_mqtt_request(d->central, topic, e->payload, e->len, d->resp_topic, &slot->id,
			    sizeof slot->id, NULL) < 0) {
		slot->used = false;
		d->n.lookups_dropped++;
		return;
	}
	d->n.lookups++;
}

/* Central's answer into the replica (docs/replication.md, "Gateway
 * replica"): 1 when the device must be told "not found" instead (the id is
 * erased here). */
static int lookup_keep(struct gw_daemon *d, const struct lookup *l, const struct ev *e)
{
	char err[256], q[300];
	int rc = gw_replica_lookup_store(d->replica, l->token, e->payload, e->len, err, sizeof err);
	if (rc == GW_LOOKUP_STORED)
		d->n.lookups_stored++;
	else if (rc == GW_LOOKUP_TOMBSTONED) {
		d->n.lookups_tombstoned++;
		rg_info(COMP, "lookup_erased", "device=%s token=%02x%02x%02x%02x action=not_found",
			l->device, l->token[0], l->token[1], l->token[2], l->token[3]);
		return 1;
	} else if (rc == RG_ERR_PARSE)
		rg_warn(COMP, "lookup_answer_unparsed", "device=%s bytes=%zu detail=%s action=relayed",
			l->device, e->len, rg_log_quote(q, sizeof q, err));
	else if (rc < 0)
		d->n.replica_errors++;
	return 0;
}

static void lookup_answer(struct gw_daemon *d, const struct ev *e)
{
	static const char not_found[] = "{\"v\":1,\"type\":\"lookup_result\",\"found\":false}";
	char topic[RG_MQTT_TOPIC_MAX];
	uint64_t id;
	if (e->corr_len != sizeof id || e->len > RG_WIRE_MAX_BYTES)
		return;
	memcpy(&id, e->corr, sizeof id);
	for (size_t i = 0; i < LOOKUPS_MAX; i++) {
		struct lookup *l = &d->lookups[i];
		if (!l->used || l->id != id)
			continue;
		l->used = false;
		bool erased = lookup_keep(d, l, e) == 1;
		if (l->expires_ms <= now_ms(d))
			return;
		snprintf(topic, sizeof topic, "rg/v1/s/%s/d/%s/down/resp", d->cfg.store_id,
			 l->device);
		if (rg_mqtt_request(d->store, topic, erased ? not_found : e->payload,
				    erased ? sizeof not_found - 1 : e->len, NULL, l->corr,
				    l->corr_len, NULL) == 0)
			d->n.lookup_answers++;
		return;
	}
}

/* ---- the replica: pulling from central, serving devices ---- */

static void replica_pull(struct gw_daemon *d)
{
	struct gw_replica_state st;
	struct delta_request q;
	char topic[RG_MQTT_TOPIC_MAX], *body;
	int64_t now = now_ms(d);
	int rc;

	if (!d->central_up)
		return;
	if (d->pull.inflight) {
		if (now < d->pull.expires_ms)
			return;
		d->pull.inflight = false;
		d->n.pull_timeouts++;
		rg_warn(COMP, "pull_timeout", "kind=%s since=%lld snapshot=%lld ttl_ms=%d",
			d->pull.snapshot ? "snapshot" : "changes", (long long)d->pull.since,
			(long long)d->pull.snap, PULL_TTL_MS);
		d->next_pull_ms = now + d->cfg.pull_ms;
		return;
	}
	if (!d->pull_now && now < d->next_pull_ms)
		return;
	if (gw_replica_progress_get(d->replica, &st) < 0) {
		d->n.replica_errors++;
		d->pull_now = false;
		d->next_pull_ms = now + d->cfg.pull_ms;
		return;
	}
	if (d->pull_urgent && st.central_cursor >= d->pull_urgent && !st.snapshot)
		d->pull_urgent = 0;
	/* Sync up first. While batches are on their way to central, a page
	 * would compete with their apply on the cloud worker (its profiles are
	 * changing under it anyway): pull once the forward path is idle, or
	 * PULL_DEFER_MAX_MS after the last pull at the latest. Not while
	 * central has announced a change the replica lacks (an erasure, a
	 * merge, an import): those go first. */
	struct gw_fwd_stats fs;
	gw_fwd_stats_get(d->fwd, &fs);
	if (fs.inflight > 0 && !d->pull_urgent && now - d->last_pull_ms < PULL_DEFER_MAX_MS) {
		d->pull_now = false;
		d->next_pull_ms = now + PULL_RECHECK_MS;
		return;
	}
	d->pull_now = false;
	d->next_pull_ms = now + d->cfg.pull_ms;
	d->last_pull_ms = now;
	memset(&q, 0, sizeof q);
	q.snapshot = d->want_snapshot || st.snapshot != 0;
	if (q.snapshot) {
		q.snapshot_id = st.snapshot;
		snprintf(q.after, sizeof q.after, "%s", st.snapshot ? st.snapshot_after : "");
		q.max = SNAPSHOT_CHUNK;
	} else {
		q.since = st.central_cursor;
		q.max = d->last_device_ms && now - d->last_device_ms < PULL_BUSY_MS ? PULL_PAGE_BUSY
										  : PULL_PAGE_IDLE;
	}
	if (!(body = delta_request_build(&q)) || rg_random(d->pull.corr, PULL_CORR_LEN) < 0) {
		free(body);
		rg_error(COMP, "pull_failed", "what=request");
		return;
	}
	snprintf(topic, sizeof topic, "rg/v1/g/%s/req/%s", d->cfg.identity,
		 q.snapshot ? "snapshot" : "changes");
	rc = rg_mqtt_request(d->central, topic, body, strlen(body), d->resp_topic, d->pull.corr,
			     PULL_CORR_LEN, NULL);
	free(body);
	if (rc < 0) {
		rg_warn(COMP, "pull_failed", "what=publish error=%s", rg_errname(rc));
		return;
	}
	d->pull.inflight = true;
	d->pull.snapshot = q.snapshot;
	d->pull.since = q.since;
	d->pull.snap = q.snapshot_id;
	snprintf(d->pull.after, sizeof d->pull.after, "%s", q.after);
	d->pull.expires_ms = now + PULL_TTL_MS;
	d->n.pull_requests++;
	rg_debug(COMP, "pull", "kind=%s since=%lld snapshot=%lld", q.snapshot ? "snapshot" : "changes",
		 (long long)q.since, (long long)q.snapshot_id);
}

static void notice_publish(struct gw_daemon *d)
{
	struct gw_replica_state st;
	char *text;
	if (!d->store_up || gw_replica_progress_get(d->replica, &st) < 0 || st.gseq <= 0 ||
	    !(text = delta_notice_build(st.gseq)))
		return;
	if (rg_mqtt_publish(d->store, d->notice_topic, text, strlen(text), 1, false, NULL) == 0)
		d->n.notices++;
	free(text);
}

/* Central announced a change (RG_TOPIC_CENTRAL_CHANGES): pull now if the
 * replica does not have it yet. */
static void central_notice(struct gw_daemon *d, const struct ev *e)
{
	struct gw_replica_state st;
	int64_t latest;

	if (!e->payload || delta_notice_parse(e->payload, e->len, &latest) < 0) {
		d->n.central_notices_refused++;
		rg_warn(COMP, "notice_refused", "topic=%s bytes=%zu", e->topic, e->len);
		return;
	}
	d->n.central_notices++;
	if (gw_replica_progress_get(d->replica, &st) < 0) {
		d->n.replica_errors++;
		return;
	}
	if (latest <= st.central_cursor || latest <= d->pull_urgent)
		return;
	d->pull_urgent = latest;
	d->pull_now = true;
	rg_debug(COMP, "central_notice", "latest=%lld cursor=%lld", (long long)latest,
		 (long long)st.central_cursor);
}

/* Central's answer to the replica's request (correlation data of ours). */
static void replica_answer(struct gw_daemon *d, const struct ev *e)
{
	struct gw_replica_result res;
	char q[GW_REPLICA_DETAIL_MAX + 8];
	const char *kind = d->pull.snapshot ? "snapshot" : "changes";
	int64_t now = now_ms(d);
	int rc;

	if (!d->pull.inflight || e->corr_len != PULL_CORR_LEN ||
	    !rg_ct_equal(e->corr, d->pull.corr, PULL_CORR_LEN)) {
		d->n.responses_unexpected++;
		rg_debug(COMP, "response_unexpected", "bytes=%zu", e->len);
		return;
	}
	d->pull.inflight = false;
	d->next_pull_ms = now + d->cfg.pull_ms;
	if (!e->payload)
		rc = RG_ERR_PARSE;
	else if (d->pull.snapshot)
		rc = gw_replica_apply_chunk(d->replica, e->payload, e->len, d->pull.snap,
					    d->pull.after, &res);
	else
		rc = gw_replica_apply_page(d->replica, e->payload, e->len, d->pull.since, &res);
	if (rc == RG_ERR_PARSE) {
		d->n.pages_refused++;
		rg_warn(COMP, "delta_refused", "kind=%s reason=%s bytes=%zu detail=%s", kind,
			e->payload ? res.reason : "too_big", e->len,
			rg_log_quote(q, sizeof q, e->payload ? res.detail : "over the cap"));
		return;
	}
	if (rc < 0) {
		d->n.db_errors++;
		d->n.replica_errors++;
		rg_error(COMP, "delta_apply_failed", "kind=%s error=%s", kind, rg_errname(rc));
		return;
	}
	d->n.changes_applied += res.applied;
	d->n.changes_ignored += res.ignored;
	d->n.changes_tombstoned += res.tombstoned;
	d->n.profiles_swept += res.swept;
	if (res.snapshot_needed) {
		rg_info(COMP, "snapshot_needed", "since=%lld", (long long)d->pull.since);
		d->want_snapshot = true;
		d->pull_now = true;
		return;
	}
	if (d->pull.snapshot) {
		d->n.chunks_applied++;
		d->pull_now = true; /* the next chunk, or changes after the last one */
		if (res.done) {
			d->want_snapshot = false;
			d->n.snapshots_done++;
			rg_info(COMP, "snapshot_done", "applied=%lld swept=%lld", (long long)res.applied,
				(long long)res.swept);
		}
	} else {
		d->n.pages_applied++;
		d->pull_now = res.more;
		/* central has nothing newer: whatever it announced is here (a
		 * latest beyond its log cannot hold the sync-up-first wait off) */
		if (!res.more)
			d->pull_urgent = 0;
	}
	rg_debug(COMP, "delta_applied", "kind=%s applied=%lld ignored=%lld tombstoned=%lld more=%d",
		 kind, (long long)res.applied, (long long)res.ignored, (long long)res.tombstoned,
		 d->pull_now);
	if (res.applied || res.swept)
		notice_publish(d);
	/* Statuses are retained on both brokers: only when the replica moved
	 * (an idle pull every pull_ms would otherwise republish them). */
	if ((!d->pull_now && (res.applied || res.cursor != d->pull.since)) || res.done)
		publish_status(d);
}

/* A device's changes/snapshot request, answered from the replica. */
static void device_request(struct gw_daemon *d, const struct ev *e, const struct gw_topic *t)
{
	char want[RG_MQTT_TOPIC_MAX], err[256], q[300], *out = NULL;
	struct delta_request r;
	size_t len;
	int rc;

	snprintf(want, sizeof want, "rg/v1/s/%s/d/%s/down/resp", d->cfg.store_id, t->device);
	if (!strncmp(t->device, "gw-", 3) || !gwcfg_device_known(&d->cfg, t->device) ||
	    !e->response_topic || strcmp(e->response_topic, want) || !e->corr_len ||
	    !e->payload || e->len > DELTA_REQUEST_MAX) {
		d->n.device_requests_refused++;
		rg_warn(COMP, "request_refused", "device=%s op=%s bytes=%zu reason=envelope",
			t->device, t->op, e->len);
		return;
	}
	if ((rc = delta_request_parse(e->payload, e->len, &r, err, sizeof err)) < 0 ||
	    r.snapshot != !strcmp(t->op, "snapshot")) {
		d->n.device_requests_refused++;
		rg_warn(COMP, "request_refused", "device=%s op=%s bytes=%zu reason=malformed detail=%s",
			t->device, t->op, e->len,
			rg_log_quote(q, sizeof q, rc < 0 ? err : "type does not match the topic"));
		return;
	}
	if ((rc = gw_replica_serve(d->replica, &r, &out, &len)) < 0) {
		d->n.replica_errors++;
		rg_error(COMP, "request_failed", "device=%s op=%s error=%s", t->device, t->op,
			 rg_errname(rc));
		return;
	}
	if (rg_mqtt_request(d->store, want, out, len, NULL, e->corr, e->corr_len, NULL) == 0)
		d->n.device_requests++;
	rg_debug(COMP, "request_answered", "device=%s op=%s since=%lld bytes=%zu", t->device, t->op,
		 (long long)r.since, len);
	free(out);
}

/* ---- central's acks ---- */

static void ack_relay(struct gw_daemon *d, const struct ev *e)
{
	char err[RG_WIRE_ERR_MAX], q[RG_WIRE_ERR_MAX + 8], topic[RG_MQTT_TOPIC_MAX];
	struct gw_ack_result r;
	struct rg_wire_ack a;
	int known, rc;

	if (gw_ack_check(e->payload, e->len, &a, err, sizeof err) < 0) {
		d->n.acks_malformed++;
		rg_warn(COMP, "ack_refused", "reason=malformed bytes=%zu detail=%s", e->len,
			rg_log_quote(q, sizeof q, err));
		return;
	}
	known = d->cfg.n_devices ? gwcfg_device_known(&d->cfg, a.device)
				 : gw_spool_device_known(d->spool, a.device);
	if (known <= 0) {
		d->n.acks_unknown_device++;
		rg_warn(COMP, "ack_refused", "reason=unknown_device device=%s ids=%zu", a.device,
			a.n_ids);
		rg_wire_ack_free(&a);
		return;
	}
	if ((rc = gw_spool_ack(d->spool, a.device, a.ids, a.n_ids, &r)) < 0) {
		/* Not applied: central resends nothing, but the batch is re-forwarded
		 * after the timeout and acked again. Still tell the device. */
		d->n.db_errors++;
		rg_error(COMP, "ack_apply_failed", "device=%s error=%s", a.device, rg_errname(rc));
	} else {
		d->n.acks_applied++;
		d->n.ack_items += r.matched;
		d->n.batches_done += r.batches_deleted;
		gw_fwd_acked(d->fwd, a.device);
	}
	snprintf(topic, sizeof topic, "rg/v1/s/%s/d/%s/down/ack", d->cfg.store_id, a.device);
	if (rg_mqtt_publish(d->store, topic, e->payload, e->len, 1, false, NULL) < 0)
		d->n.acks_unrelayed++;
	rg_debug(COMP, "ack_relayed", "device=%s ids=%zu matched=%d done=%d", a.device, a.n_ids,
		 r.matched, r.batches_deleted);
	rg_wire_ack_free(&a);
}

/* ---- the main loop ---- */

static void handle_events(struct gw_daemon *d, struct ev *list)
{
	struct pending *g = calloc(GROUP_MAX, sizeof *g);
	size_t n = 0;

	if (!g) {
		rg_error(COMP, "out_of_memory", "what=group");
		while (list) {
			struct ev *next = list->next;
			ev_free(list);
			list = next;
		}
		return;
	}
	for (struct ev *e = list; e; e = e->next) {
		struct gw_topic t;
		/* Keep order between a group and what follows it (an ack for a
		 * batch must see that batch spooled). */
		if (n && e->kind != EV_STORE_MSG) {
			uplink_group(d, g, n);
			for (size_t i = 0; i < n; i++)
				gw_uplink_free(&g[i].u);
			memset(g, 0, GROUP_MAX * sizeof *g);
			n = 0;
		}
		switch (e->kind) {
		case EV_STORE_UP:
			d->store_up = true;
			publish_status(d);
			/* A notice may have been due while the link was down. */
			notice_publish(d);
			gw_cfgsync_link_up(d->cs, GW_BROKER_STORE);
			break;
		case EV_STORE_DOWN:
			d->store_up = false;
			break;
		case EV_CENTRAL_UP:
			d->central_up = true;
			d->pull.inflight = false;
			d->pull_now = true;
			gw_fwd_link(d->fwd, true);
			publish_status(d);
			gw_cfgsync_link_up(d->cs, GW_BROKER_CENTRAL);
			break;
		case EV_CENTRAL_DOWN:
			d->central_up = false;
			d->pull.inflight = false;
			gw_fwd_link(d->fwd, false);
			publish_status(d);
			break;
		case EV_CENTRAL_MSG:
			if (gw_cfgsync_central(d->cs, e->topic, e->payload, e->len) != 0)
				break;
			if (!strcmp(e->topic, d->ack_topic))
				ack_relay(d, e);
			else if (!strcmp(e->topic, d->resp_topic) && e->corr_len == PULL_CORR_LEN)
				replica_answer(d, e);
			else if (!strcmp(e->topic, d->resp_topic))
				lookup_answer(d, e);
			else if (!strcmp(e->topic, RG_TOPIC_CENTRAL_CHANGES))
				central_notice(d, e);
			else
				rg_debug(COMP, "ignored", "topic=%s", e->topic);
			break;
		case EV_STORE_MSG:
			if (gw_cfgsync_store(d->cs, e->topic, e->payload, e->len) != 0 ||
			    e->too_large)
				break;
			if (gw_topic_parse(e->topic, d->cfg.store_id, &t) < 0) {
				rg_debug(COMP, "ignored", "bytes=%zu", e->len);
				break;
			}
			if (t.kind == GW_TOPIC_REQ) {
				if (!strcmp(t.op, "changes") || !strcmp(t.op, "snapshot"))
					device_request(d, e, &t);
				else
					lookup_request(d, e, &t);
				break;
			}
			if (t.kind != GW_TOPIC_UP)
				break;
			g[n].ev = e;
			g[n].topic = t;
			if (gw_uplink_check(d->cfg.store_id, t.device,
					    gwcfg_device_known(&d->cfg, t.device), t.lane,
					    e->payload, e->len, &g[n].u) < 0) {
				rg_error(COMP, "out_of_memory", "what=batch bytes=%zu", e->len);
				break;
			}
			if (++n == GROUP_MAX) {
				uplink_group(d, g, n);
				for (size_t i = 0; i < n; i++)
					gw_uplink_free(&g[i].u);
				memset(g, 0, GROUP_MAX * sizeof *g);
				n = 0;
			}
			break;
		}
	}
	if (n) {
		uplink_group(d, g, n);
		for (size_t i = 0; i < n; i++)
			gw_uplink_free(&g[i].u);
	}
	free(g);
	while (list) {
		struct ev *next = list->next;
		ev_free(list);
		list = next;
	}
}

static const char *level_name(int l)
{
	static const char *const names[] = {"debug", "info", "warn", "error", "off"};
	return l >= 0 && l <= RG_LOG_OFF ? names[l] : "?";
}

/* The configuration in force: the file with the pushed gateway.* keys
 * over it (gwcfg_overlay), key by key. */
static int effective(const struct gw_daemon *d, struct gwcfg *out, char *err, size_t errcap)
{
	int rc;
	if ((rc = gwcfg_copy(out, &d->file)) < 0)
		return rg_errf(rc, err, errcap, "out of memory");
	if ((rc = gwcfg_overlay(out, d->pushed, err, errcap)) < 0) {
		gwcfg_free(out);
		return rc;
	}
	return 0;
}

/* Put file + pushed settings in force, through the same rule as a SIGHUP
 * (gwcfg_reload_check). At start the persisted settings are applied before
 * the broker clients exist, and the clients are made with them. */
static void apply_config(struct gw_daemon *d, const char *event)
{
	struct gwcfg n;
	char err[768], q[800];
	if (effective(d, &n, err, sizeof err) < 0) {
		rg_error(COMP, "config_apply_failed", "error=%s action=kept_running_config",
			 rg_log_quote(q, sizeof q, err));
		return;
	}
	if (gwcfg_reload_check(&d->cfg, &n, err, sizeof err) < 0) {
		rg_error(COMP, "config_apply_failed", "error=%s action=kept_running_config",
			 rg_log_quote(q, sizeof q, err));
		gwcfg_free(&n);
		return;
	}
	gwcfg_free(&d->cfg);
	d->cfg = n;
	if (!getenv("REGULARS_LOG_LEVEL"))
		rg_log_set_level((enum rg_log_level)d->cfg.log_level);
	gw_spool_set_budget(d->spool, d->cfg.budget_bytes);
	gw_fwd_set_limits(d->fwd, d->cfg.forward_window, d->cfg.resend_ms);
	gw_fwd_set_bundle(d->fwd, d->cfg.forward_bundle);
	if (d->store)
		rg_mqtt_set_backoff_max(d->store, d->cfg.reconnect_max_ms);
	if (d->central)
		rg_mqtt_set_backoff_max(d->central, d->cfg.reconnect_max_ms);
	rg_info(COMP, event,
		"budget_bytes=%lld window=%d bundle=%d resend_ms=%d reconnect_max_ms=%d "
		"known_devices=%zu stats_interval_s=%d log_level=%s",
		(long long)d->cfg.budget_bytes, d->cfg.forward_window, d->cfg.forward_bundle,
		d->cfg.resend_ms, d->cfg.reconnect_max_ms, d->cfg.n_devices,
		d->cfg.stats_interval_s, level_name(d->cfg.log_level));
}

static void reload(struct gw_daemon *d)
{
	struct gwcfg n;
	char err[768], q[800];
	if (gwcfg_load(d->config_path, &n, err, sizeof err) < 0) {
		rg_error(COMP, "reload_failed", "error=%s action=kept_running_config",
			 rg_log_quote(q, sizeof q, err));
		return;
	}
	if (gwcfg_reload_check(&d->file, &n, err, sizeof err) < 0) {
		rg_error(COMP, "reload_refused", "error=%s action=kept_running_config",
			 rg_log_quote(q, sizeof q, err));
		gwcfg_free(&n);
		return;
	}
	gwcfg_free(&d->file);
	d->file = n;
	apply_config(d, "reloaded");
}

/* ---- the gateway's own pushed settings (cfgsync ops, main thread) ---- */

static int cs_publish(void *ctx, enum gw_broker b, const char *topic, const void *payload,
		      size_t len)
{
	struct gw_daemon *d = ctx;
	return rg_mqtt_publish(b == GW_BROKER_STORE ? d->store : d->central, topic, payload, len, 1,
			       true, NULL);
}

static int cs_device_known(void *ctx, const char *dev)
{
	struct gw_daemon *d = ctx;
	return gwcfg_device_known(&d->cfg, dev);
}

static void cs_settings(void *ctx, const cJSON *merged)
{
	struct gw_daemon *d = ctx;
	cJSON *copy = cJSON_Duplicate(merged, true);
	const cJSON *was = cJSON_GetObjectItemCaseSensitive(d->pushed, "gateway");
	const cJSON *now = cJSON_GetObjectItemCaseSensitive(copy, "gateway");
	bool same = (!was && !now) || (was && now && cJSON_Compare(was, now, true));
	if (!copy) {
		rg_error(COMP, "out_of_memory", "what=pushed_settings");
		return;
	}
	cJSON_Delete(d->pushed);
	d->pushed = copy;
	/* Device keys changed only: nothing for the gateway to do. */
	if (!same)
		apply_config(d, "settings_applied");
}

static int cs_validate(void *ctx, const cJSON *merged, char *err, size_t errcap)
{
	struct gw_daemon *d = ctx;
	struct gwcfg n;
	int rc;
	if ((rc = gwcfg_copy(&n, &d->file)) < 0)
		return rg_errf(rc, err, errcap, "out of memory");
	rc = gwcfg_overlay(&n, merged, err, errcap);
	gwcfg_free(&n);
	return rc < 0 ? RG_ERR_CONFIG : 0;
}

static void cs_report_changed(void *ctx)
{
	publish_status(ctx);
}

static const struct gw_cfgsync_ops cs_ops = {
    .publish = cs_publish,
    .device_known = cs_device_known,
    .settings = cs_settings,
    .validate = cs_validate,
    .report_changed = cs_report_changed,
};

static int poll_timeout(struct gw_daemon *d)
{
	int64_t now = now_ms(d), t = 1000;
	int64_t due = gw_fwd_next_due_ms(d->fwd);
	int64_t stats = d->last_stats_ms + (int64_t)d->cfg.stats_interval_s * 1000 - now;
	if (due >= 0 && due < t)
		t = due;
	if (stats < t)
		t = stats;
	if (d->central_up) {
		int64_t pull = d->pull.inflight ? d->pull.expires_ms - now
			       : d->pull_now	 ? 0
						 : d->next_pull_ms - now;
		if (pull < t)
			t = pull;
	}
	return t < 0 ? 0 : (int)t;
}

int gw_daemon_run(struct gw_daemon *d)
{
	struct pollfd pfd = {.fd = rg_wake_fd(), .events = POLLIN};
	int rc;

	if ((rc = rg_mqtt_start(d->store)) < 0 || (rc = rg_mqtt_start(d->central)) < 0) {
		rg_error(COMP, "start_failed", "error=%s", rg_errname(rc));
		return rc;
	}
	rg_info(COMP, "started",
		"store=%s identity=%s spool=%s budget_bytes=%lld window=%d bundle=%d "
		"resend_ms=%d replica=%s pull_ms=%d retention_days=%d",
		d->cfg.store_id, d->cfg.identity, d->cfg.spool_path, (long long)d->cfg.budget_bytes,
		d->cfg.forward_window, d->cfg.forward_bundle, d->cfg.resend_ms, d->cfg.replica_path,
		d->cfg.pull_ms, d->cfg.retention_days);
	d->last_stats_ms = d->last_status_ms = d->last_tick_ms = now_ms(d);
	d->last_prune_ms = d->last_stats_ms - PRUNE_EVERY_MS; /* prune once at start */
	while (!rg_wake_stopping()) {
		poll(&pfd, 1, poll_timeout(d));
		unsigned flags = rg_wake_take();
		if (flags & RG_WAKE_STOP)
			break;
		if (flags & RG_WAKE_RELOAD)
			reload(d);
		handle_events(d, take_all(d));
		replica_pull(d);
		if ((rc = gw_fwd_pump(d->fwd)) < 0) {
			d->n.db_errors++;
			rg_error(COMP, "forward_failed", "error=%s", rg_errname(rc));
		}
		int64_t now = now_ms(d);
		if (now - d->last_status_ms >= STATUS_EVERY_MS) {
			struct gw_spool_stats st;
			if (gw_spool_stats(d->spool, &st) == 0 &&
			    st.batches[0] + st.batches[1] + st.batches[2] != d->last_backlog)
				publish_status(d);
			else
				d->last_status_ms = now;
		}
		if (now - d->last_stats_ms >= (int64_t)d->cfg.stats_interval_s * 1000)
			log_stats(d, "stats");
		if (now - d->last_prune_ms >= PRUNE_EVERY_MS) {
			d->last_prune_ms = now;
			if ((rc = gw_replica_prune(d->replica,
						   (int64_t)d->cfg.retention_days * 86400000)) > 0)
				rg_info(COMP, "replica_pruned", "entries=%d retention_days=%d", rc,
					d->cfg.retention_days);
		}
		if (now - d->last_tick_ms >= CONFIG_TICK_MS) {
			d->last_tick_ms = now;
			gw_cfgsync_tick(d->cs);
		}
	}

	rg_info(COMP, "stopping", "reason=signal");
	/* Say goodbye on the retained statuses (a clean stop sends no Will). */
	static const char offline[] = "{\"online\":false}";
	if (d->store_up)
		rg_mqtt_publish(d->store, d->store_status, offline, sizeof offline - 1, 1, true,
				NULL);
	if (d->central_up)
		rg_mqtt_publish(d->central, d->central_status, offline, sizeof offline - 1, 1, true,
				NULL);
	pthread_mutex_lock(&d->mu);
	d->closing = true;
	pthread_cond_broadcast(&d->room);
	pthread_mutex_unlock(&d->mu);
	rg_mqtt_stop(d->store);
	rg_mqtt_stop(d->central);
	/* What arrived meanwhile has no receipt yet: dropping it is safe (the
	 * devices resend), but whatever can be spooled now is spooled. */
	handle_events(d, take_all(d));
	log_stats(d, "stats_final");
	rg_info(COMP, "stopped", "reason=signal");
	return 0;
}

/* ---- construction ---- */

static int client(struct gw_daemon *d, const char *name, const struct gwcfg_broker *b,
		  const char *will_topic, const struct rg_mqtt_handlers *h, struct rg_mqtt **out)
{
	static const char offline[] = "{\"online\":false}";
	struct rg_mqtt_config c = {
	    .name = name,
	    .host = b->host,
	    .port = b->port,
	    .client_id = d->cfg.identity,
	    .ca_file = d->cfg.ca_file,
	    .cert_file = d->cfg.cert_file,
	    .key_file = d->cfg.key_file,
	    .clean_start = false,
	    /* After an outage, the backlog waits for the reconnect: cap the
	     * backoff lower than rg_mqtt's default (full jitter still spreads
	     * 2000 stores' reconnects). */
	    .backoff_max_ms = d->cfg.reconnect_max_ms,
	    .will_topic = will_topic,
	    .will_payload = offline,
	    .will_len = sizeof offline - 1,
	    .will_retain = true,
	};
	return rg_mqtt_new(&c, h, d, out);
}

int gw_daemon_new(struct gwcfg *cfg, const char *config_path, struct gw_daemon **out)
{
	static const struct rg_mqtt_handlers store_h = {
	    .on_connect = store_on_connect,
	    .on_disconnect = store_on_disconnect,
	    .on_message = store_on_message,
	};
	static const struct rg_mqtt_handlers central_h = {
	    .on_connect = central_on_connect,
	    .on_disconnect = central_on_disconnect,
	    .on_message = central_on_message,
	};
	struct gw_daemon *d;
	int rc;

	char err[768], q[800];

	*out = NULL;
	if (!(d = calloc(1, sizeof *d))) {
		gwcfg_free(cfg);
		return RG_ERR_NOMEM;
	}
	d->file = *cfg;
	memset(cfg, 0, sizeof *cfg);
	d->clock = rg_clock_system();
	pthread_mutex_init(&d->mu, NULL);
	pthread_cond_init(&d->room, NULL);
	if (!(d->config_path = strdup(config_path))) {
		rc = RG_ERR_NOMEM;
		goto fail;
	}
	/* The gateway's own settings first: what was applied before the last
	 * stop is in force before either broker is reached. */
	struct gw_cfgsync_params cp = {
	    .store_id = d->file.store_id,
	    .identity = d->file.identity,
	    .trust_anchor = d->file.has_config ? d->file.config_anchor : NULL,
	    .state_path = d->file.has_config ? d->file.config_state : NULL,
	    .clock = d->clock,
	    .ops = &cs_ops,
	    .ctx = d,
	};
	if ((rc = gw_cfgsync_new(&cp, &d->cs, err, sizeof err)) < 0) {
		rg_error(COMP, "config_invalid", "error=%s", rg_log_quote(q, sizeof q, err));
		fprintf(stderr, "regulars-gateway: %s\n", err);
		rc = RG_ERR_CONFIG;
		goto fail;
	}
	if (!d->file.has_config)
		rg_info(COMP, "config_disabled",
			"reason=no_config_object relay=on detail=\"no pushed settings for the "
			"gateway itself\"");
	else if (!(d->pushed = gw_cfgsync_merged(d->cs))) {
		rc = RG_ERR_NOMEM;
		goto fail;
	}
	if ((rc = effective(d, &d->cfg, err, sizeof err)) < 0) {
		/* The persisted settings passed this check when they were applied;
		 * only a file changed since can make them not fit: the file wins. */
		rg_warn(COMP, "pushed_settings_ignored", "error=%s",
			rg_log_quote(q, sizeof q, err));
		cJSON_Delete(d->pushed);
		d->pushed = NULL;
		if ((rc = gwcfg_copy(&d->cfg, &d->file)) < 0)
			goto fail;
	}
	if (!getenv("REGULARS_LOG_LEVEL"))
		rg_log_set_level((enum rg_log_level)d->cfg.log_level);

	snprintf(d->up_prefix, sizeof d->up_prefix, "rg/v1/g/%s/up/", d->cfg.identity);
	snprintf(d->ack_topic, sizeof d->ack_topic, "rg/v1/g/%s/down/ack", d->cfg.identity);
	snprintf(d->resp_topic, sizeof d->resp_topic, "rg/v1/g/%s/down/resp", d->cfg.identity);
	snprintf(d->store_status, sizeof d->store_status, "rg/v1/s/%s/gateway/status",
		 d->cfg.store_id);
	snprintf(d->central_status, sizeof d->central_status, "rg/v1/g/%s/status", d->cfg.identity);
	snprintf(d->notice_topic, sizeof d->notice_topic, "rg/v1/s/%s/down/changes",
		 d->cfg.store_id);

	if (rg_wake_open() < 0) {
		rg_error(COMP, "start_failed", "what=pipe error=\"%s\"", strerror(errno));
		rc = RG_ERR_IO;
		goto fail;
	}
	if ((rc = gw_spool_open(d->cfg.spool_path, d->cfg.store_id, d->cfg.budget_bytes, d->clock,
				&d->spool)) < 0) {
		rg_error(COMP, "start_failed", "what=spool path=%s error=%s", d->cfg.spool_path,
			 rg_errname(rc));
		goto fail;
	}
	if ((rc = gw_replica_open(d->cfg.replica_path, d->clock, &d->replica)) < 0) {
		rg_error(COMP, "start_failed", "what=replica path=%s error=%s", d->cfg.replica_path,
			 rg_errname(rc));
		goto fail;
	}
	if ((rc = gw_fwd_new(d->spool, d->clock, d->cfg.forward_window, d->cfg.resend_ms, &fwd_ops,
			     d, &d->fwd)) < 0) {
		rg_error(COMP, "start_failed", "what=forward error=%s", rg_errname(rc));
		goto fail;
	}
	gw_fwd_set_bundle(d->fwd, d->cfg.forward_bundle);
	if ((rc = client(d, "gw-store", &d->cfg.store_broker, d->store_status, &store_h,
			 &d->store)) < 0 ||
	    (rc = client(d, "gw-central", &d->cfg.central_broker, d->central_status, &central_h,
			 &d->central)) < 0) {
		rg_error(COMP, "start_failed", "what=mqtt error=%s", rg_errname(rc));
		goto fail;
	}
	*out = d;
	return 0;
fail:
	gw_daemon_free(d);
	return rc;
}

void gw_daemon_free(struct gw_daemon *d)
{
	if (!d)
		return;
	if (d->store || d->central) {
		pthread_mutex_lock(&d->mu);
		d->closing = true;
		pthread_cond_broadcast(&d->room);
		pthread_mutex_unlock(&d->mu);
	}
	rg_mqtt_free(d->store);
	rg_mqtt_free(d->central);
	for (struct ev *e = take_all(d), *next; e; e = next) {
		next = e->next;
		ev_free(e);
	}
	gw_fwd_free(d->fwd);
	gw_spool_close(d->spool);
	gw_replica_close(d->replica);
	gw_cfgsync_free(d->cs);
	cJSON_Delete(d->pushed);
	gwcfg_free(&d->cfg);
	gwcfg_free(&d->file);
	free(d->config_path);
	rg_wake_close();
	pthread_cond_destroy(&d->room);
	pthread_mutex_destroy(&d->mu);
	free(d);
}
