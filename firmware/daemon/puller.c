/*
 * puller.c - the replication puller (puller.h): a thread that sleeps until
 * kicked, noticed or due, then runs a round: "changes since cursor" pages
 * applied one transaction each until more is false, or snapshot chunks
 * (resumed from the store's progress) until done. Every answer is checked
 * against the request it answers before the store sees it.
 */
#include "puller.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"
#include "common/delta.h"
#include "common/err.h"
#include "common/log.h"

#define COMP "replica"
#define DEFAULT_PULL_MS 60000
#define DEFAULT_TIMEOUT_MS 10000
#define ROUND_MAX 10000 /* answers per round: a bound, not a goal */
#define ERR_MAX 256

struct puller {
	struct puller_config cfg;
	pthread_t thread;
	bool started;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool stop, kick;
	int pull_ms;
	bool need_snapshot; /* the gateway said snapshot_needed: start one */
	int64_t cursor;	    /* the store's, as last seen (for notices) */
	struct puller_stats st;
};

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void refused(struct puller *p, const char *reason, const char *detail)
{
	char q[ERR_MAX + 16];
	pthread_mutex_lock(&p->mu);
	p->st.pages_refused++;
	pthread_mutex_unlock(&p->mu);
	rg_warn(COMP, "delta_refused", "reason=%s detail=%s", reason,
		rg_log_quote(q, sizeof q, detail));
}

static void report(struct puller *p, const struct store_sync *y)
{
	pthread_mutex_lock(&p->mu);
	p->cursor = y->cursor;
	if (y->latest > p->st.latest_heard)
		p->st.latest_heard = y->latest;
	int64_t latest = p->st.latest_heard;
	pthread_mutex_unlock(&p->mu);
	if (p->cfg.link.report)
		p->cfg.link.report(p->cfg.link.ctx, y->cursor, latest, y->as_of_ms);
}

static int ask(struct puller *p, const char *op, const struct delta_request *r, char **ans,
	       size_t *len)
{
	char *req = delta_request_build(r);
	int rc;
	if (!req)
		return RG_ERR_NOMEM;
	rc =
	    p->cfg.link.request(p->cfg.link.ctx, op, req, strlen(req), p->cfg.timeout_ms, ans, len);
	free(req);
	if (rc < 0) {
		pthread_mutex_lock(&p->mu);
		p->st.request_failures++;
		pthread_mutex_unlock(&p->mu);
		rg_info(COMP, "pull_failed", "op=%s error=%s", op, rg_errname(rc));
	}
	return rc;
}

/* One "changes" request from y's cursor. 1 applied with more, 0 applied
 * and done, 2 the gateway wants a snapshot, < 0 refused or failed. */
static int pull_changes(struct puller *p, const struct store_sync *y)
{
	struct delta_request r = {.since = y->cursor, .max = p->cfg.max};
	struct delta_page pg;
	struct store_apply_stats as;
	char err[ERR_MAX], *ans = NULL;
	size_t len = 0;
	int rc;

	if ((rc = ask(p, "changes", &r, &ans, &len)) < 0)
		return rc;
	rc = delta_page_parse(ans, len, &pg, err, sizeof err);
	free(ans);
	if (rc < 0) {
		refused(p, "malformed", err);
		return rc;
	}
	if (pg.snapshot_needed) {
		rg_info(COMP, "snapshot_needed", "since=%lld oldest=%lld latest=%lld",
			(long long)y->cursor, (long long)pg.oldest, (long long)pg.latest);
		pthread_mutex_lock(&p->mu);
		p->need_snapshot = true;
		pthread_mutex_unlock(&p->mu);
		delta_page_free(&pg);
		return 2;
	}
	if (pg.since != y->cursor) {
		snprintf(err, sizeof err, "since %lld, asked for %lld", (long long)pg.since,
			 (long long)y->cursor);
		delta_page_free(&pg);
		refused(p, "since", err);
		return RG_ERR_STATE;
	}
	rc = store_page_apply(p->cfg.store, &pg, &as);
	if (rc < 0) {
		snprintf(err, sizeof err, "the store refused it: %s", rg_strerror(rc));
		delta_page_free(&pg);
		refused(p, "apply", err);
		return rc;
	}
	bool more = pg.more && pg.next > pg.since;
	pthread_mutex_lock(&p->mu);
	p->st.pages_applied++;
	pthread_mutex_unlock(&p->mu);
	rg_info(COMP, "page_applied",
		"since=%lld next=%lld latest=%lld changes=%zu written=%d stale=%d erased=%d "
		"merges=%d unmerges=%d refused_erased=%d more=%d",
		(long long)pg.since, (long long)pg.next, (long long)pg.latest, pg.n, as.written,
		as.stale, as.erases, as.merges, as.unmerges, as.tombstoned, more);
	delta_page_free(&pg);
	return more ? 1 : 0;
}

/* One snapshot chunk: resume the store's snapshot or start one. 1 applied
 * (more to come), 0 the snapshot is done, < 0 refused or failed. */
static int pull_chunk(struct puller *p, const struct store_sync *y)
{
	struct delta_request r = {.snapshot = true, .snapshot_id = y->snapshot, .max = p->cfg.max};
	struct delta_chunk c;
	struct store_apply_stats as;
	char err[ERR_MAX], *ans = NULL;
	size_t len = 0;
	int rc;

	if (y->snapshot)
		snprintf(r.after, sizeof r.after, "%s", y->snapshot_after);
	if ((rc = ask(p, "snapshot", &r, &ans, &len)) < 0)
		return rc;
	rc = delta_chunk_parse(ans, len, &c, err, sizeof err);
	free(ans);
	if (rc < 0) {
		refused(p, "malformed", err);
		return rc;
	}
	/* The same snapshot after what we asked, or (the sender lost it) a
	 * new one from the start. */
	if (c.after[0] && (c.snapshot != y->snapshot || strcmp(c.after, r.after))) {
		snprintf(err, sizeof err, "chunk of snapshot %lld after \"%s\", asked for %lld",
			 (long long)c.snapshot, c.after, (long long)y->snapshot);
		delta_chunk_free(&c);
		refused(p, "snapshot", err);
		return RG_ERR_STATE;
	}
	rc = store_chunk_apply(p->cfg.store, &c, &as);
	if (rc < 0) {
		snprintf(err, sizeof err, "the store refused it: %s", rg_strerror(rc));
		delta_chunk_free(&c);
		refused(p, "apply", err);
		return rc;
	}
	pthread_mutex_lock(&p->mu);
	p->st.chunks_applied++;
	if (c.done) {
		p->st.snapshots_done++;
		p->need_snapshot = false;
	}
	pthread_mutex_unlock(&p->mu);
	if (c.done)
		rg_info(COMP, "snapshot_done", "snapshot=%lld seq=%lld swept=%d",
			(long long)c.snapshot, (long long)c.seq, as.swept);
	rc = c.done ? 0 : 1;
	delta_chunk_free(&c);
	return rc;
}

int puller_round(struct puller *p)
{
	struct store_sync y;
	int rc = 0, applied = 0;

	if (!p)
		return RG_ERR_INVAL;
	pthread_mutex_lock(&p->mu);
	p->st.rounds++;
	pthread_mutex_unlock(&p->mu);
	for (int i = 0; i < ROUND_MAX; i++) {
		if ((rc = store_sync_get(p->cfg.store, &y)) < 0)
			break;
		pthread_mutex_lock(&p->mu);
		bool snap = y.snapshot || p->need_snapshot;
		bool stop = p->stop;
		pthread_mutex_unlock(&p->mu);
		if (stop)
			break;
		rc = snap ? pull_chunk(p, &y) : pull_changes(p, &y);
		if (rc < 0)
			break;
		if (rc != 2) {
			applied++;
			if (store_sync_get(p->cfg.store, &y) == 0)
				report(p, &y);
		}
		/* snapshot chunks go on until done; a finished snapshot is
		 * followed by changes since its seq */
		if (rc == 0 && !snap)
			break;
	}
	return rc < 0 ? rc : applied;
}

static void *puller_main(void *arg)
{
	struct puller *p = arg;
	struct store_sync y;

	if (store_sync_get(p->cfg.store, &y) == 0)
		report(p, &y);
	pthread_mutex_lock(&p->mu);
	while (!p->stop) {
		/* Wait pull_ms from the last round; an interval changed meanwhile
		 * (puller_set_interval) counts from the same start. */
		for (int64_t start = mono_ms(); !p->stop && !p->kick;) {
			int64_t left = start + p->pull_ms - mono_ms();
			struct timespec ts;
			if (left <= 0)
				break;
			rg_deadline_ms(&ts, left);
			pthread_cond_timedwait(&p->cv, &p->mu, &ts);
		}
		if (p->stop)
			break;
		p->kick = false;
		pthread_mutex_unlock(&p->mu);
		puller_round(p);
		pthread_mutex_lock(&p->mu);
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

int puller_new(const struct puller_config *cfg, struct puller **out)
{
	struct puller *p;
	pthread_condattr_t ca;

	if (!out)
		return RG_ERR_INVAL;
	*out = NULL;
	if (!cfg || !cfg->store || !cfg->link.request || cfg->pull_ms < 0 || cfg->timeout_ms < 0 ||
	    cfg->max < 0 || cfg->max > DELTA_CHANGES_MAX)
		return RG_ERR_INVAL;
	if (!(p = calloc(1, sizeof *p)))
		return RG_ERR_NOMEM;
	p->cfg = *cfg;
	p->pull_ms = cfg->pull_ms ? cfg->pull_ms : DEFAULT_PULL_MS;
	if (!p->cfg.timeout_ms)
		p->cfg.timeout_ms = DEFAULT_TIMEOUT_MS;
	if (!p->cfg.max)
		p->cfg.max = DELTA_DEFAULT_MAX;
	pthread_mutex_init(&p->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&p->cv, &ca);
	pthread_condattr_destroy(&ca);
	struct store_sync y;
	if (store_sync_get(cfg->store, &y) == 0) {
		p->cursor = y.cursor;
		p->st.latest_heard = y.latest;
	}
	*out = p;
	return 0;
}

int puller_start(struct puller *p)
{
	if (!p || p->started)
		return RG_ERR_INVAL;
	p->kick = true; /* pull at once */
	if (pthread_create(&p->thread, NULL, puller_main, p) != 0)
		return RG_ERR_NOMEM;
	p->started = true;
	rg_info(COMP, "puller_started", "pull_ms=%d max=%d cursor=%lld", p->pull_ms, p->cfg.max,
		(long long)p->cursor);
	return 0;
}

void puller_free(struct puller *p)
{
	if (!p)
		return;
	if (p->started) {
		pthread_mutex_lock(&p->mu);
		p->stop = true;
		pthread_cond_signal(&p->cv);
		pthread_mutex_unlock(&p->mu);
		if (p->cfg.link.cancel)
			p->cfg.link.cancel(p->cfg.link.ctx);
		pthread_join(p->thread, NULL);
	}
	pthread_cond_destroy(&p->cv);
	pthread_mutex_destroy(&p->mu);
	free(p);
}

void puller_kick(struct puller *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->mu);
	p->kick = true;
	pthread_cond_signal(&p->cv);
	pthread_mutex_unlock(&p->mu);
}

void puller_notice(struct puller *p, int64_t latest)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->mu);
	p->st.notices++;
	if (latest > p->st.latest_heard)
		p->st.latest_heard = latest;
	bool pull = latest > p->cursor;
	if (pull) {
		p->kick = true;
		pthread_cond_signal(&p->cv);
	}
	pthread_mutex_unlock(&p->mu);
	rg_debug(COMP, "notice", "latest=%lld pull=%d", (long long)latest, pull);
}

void puller_set_interval(struct puller *p, int pull_ms)
{
	if (!p || pull_ms < 0)
		return;
	pthread_mutex_lock(&p->mu);
	p->pull_ms = pull_ms ? pull_ms : DEFAULT_PULL_MS;
	pthread_cond_signal(&p->cv);
	pthread_mutex_unlock(&p->mu);
}

void puller_stats_get(struct puller *p, struct puller_stats *out)
{
	if (!out)
		return;
	memset(out, 0, sizeof *out);
	if (!p)
		return;
	pthread_mutex_lock(&p->mu);
	*out = p->st;
	pthread_mutex_unlock(&p->mu);
}
