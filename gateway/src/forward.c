/*
 * forward.c - the forwarding scheduler (gateway/forward.h). State is small
 * and in memory: one queue per (device, lane) with its batch in flight and
 * when it was sent; the spool is the truth for what is left to send, so a
 * restart only has to rebuild the queue list.
 */
#include "gateway/forward.h"

#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/log.h"

#define FWD_COMP "forward"

struct queue {
	char device[RG_WIRE_ID_MAX + 1];
	enum rg_lane lane;
	bool maybe_data;      /* the spool may hold batches for it */
	int64_t inflight;     /* seq in flight (a bundle's first), 0 when none */
	int64_t inflight_last; /* the last seq of what is in flight (a bundle's last) */
	int64_t sent_ms;      /* monotonic ms of the last send */
	int64_t was_inflight; /* in flight when the link dropped: its next send is a resend */
};

struct gw_fwd {
	struct gw_spool *spool;
	const struct rg_clock *clock;
	int window, resend_ms;
	int bundle; /* batches per message at most; 1: no bundles */
	const struct gw_fwd_ops *ops;
	void *ctx;
	bool up;
	struct queue *q;
	size_t n, cap;
	int inflight;
	int64_t forwarded, reforwarded, bundles;
};

static int64_t now_ms(const struct gw_fwd *f)
{
	return rg_clock_mono_ns(f->clock) / 1000000;
}

static struct queue *queue_get(struct gw_fwd *f, const char *device, enum rg_lane lane, bool create)
{
	for (size_t i = 0; i < f->n; i++)
		if (f->q[i].lane == lane && !strcmp(f->q[i].device, device))
			return &f->q[i];
	if (!create || strlen(device) > RG_WIRE_ID_MAX)
		return NULL;
	if (f->n == f->cap) {
		size_t cap = f->cap ? f->cap * 2 : 16;
		struct queue *q = realloc(f->q, cap * sizeof *q);
		if (!q)
			return NULL;
		f->q = q;
		f->cap = cap;
	}
	struct queue *q = &f->q[f->n++];
	memset(q, 0, sizeof *q);
	memcpy(q->device, device, strlen(device) + 1);
	q->lane = lane;
	return q;
}

static int load_one(void *ctx, const char *device, enum rg_lane lane)
{
	struct gw_fwd *f = ctx;
	struct queue *q = queue_get(f, device, lane, true);
	if (!q)
		return 1;
	q->maybe_data = true;
	return 0;
}

int gw_fwd_new(struct gw_spool *spool, const struct rg_clock *clock, int window, int resend_ms,
	       const struct gw_fwd_ops *ops, void *ctx, struct gw_fwd **out)
{
	struct gw_fwd *f;
	int rc;

	*out = NULL;
	if (!spool || !clock || !ops || !ops->publish || window < 1 || resend_ms < 1)
		return RG_ERR_INVAL;
	if (!(f = calloc(1, sizeof *f)))
		return RG_ERR_NOMEM;
	f->spool = spool;
	f->clock = clock;
	f->window = window;
	f->resend_ms = resend_ms;
	f->bundle = 1;
	f->ops = ops;
	f->ctx = ctx;
	if ((rc = gw_spool_queues(spool, load_one, f)) < 0 || (size_t)rc != f->n) {
		gw_fwd_free(f);
		return rc < 0 ? rc : RG_ERR_NOMEM;
	}
	*out = f;
	return 0;
}

void gw_fwd_free(struct gw_fwd *f)
{
	if (!f)
		return;
	free(f->q);
	free(f);
}

void gw_fwd_set_limits(struct gw_fwd *f, int window, int resend_ms)
{
	if (window >= 1)
		f->window = window;
	if (resend_ms >= 1)
		f->resend_ms = resend_ms;
}

void gw_fwd_set_bundle(struct gw_fwd *f, int batches)
{
	if (batches >= 1 && batches <= RG_WIRE_BUNDLE_MAX_BATCHES)
		f->bundle = batches;
}

static void forget_inflight(struct gw_fwd *f)
{
	for (size_t i = 0; i < f->n; i++) {
		if (f->q[i].inflight)
			f->q[i].was_inflight = f->q[i].inflight;
		f->q[i].inflight = 0;
		f->q[i].maybe_data = true;
	}
	f->inflight = 0;
}

void gw_fwd_link(struct gw_fwd *f, bool up)
{
	/* Either way, whatever was in flight goes again once the link is up:
	 * the broker may have lost it, and central applies by id. */
	forget_inflight(f);
	f->up = up;
}

bool gw_fwd_link_up(const struct gw_fwd *f)
{
	return f->up;
}

int gw_fwd_spooled(struct gw_fwd *f, const char *device, enum rg_lane lane)
{
	struct queue *q = queue_get(f, device, lane, true);
	if (!q)
		return RG_ERR_NOMEM;
	q->maybe_data = true;
	return 0;
}

int gw_fwd_acked(struct gw_fwd *f, const char *device)
{
	for (size_t i = 0; i < f->n; i++) {
		struct queue *q = &f->q[i];
		int rc;
		if (!q->inflight || strcmp(q->device, device))
			continue;
		/* A bundle's acks come batch by batch, in order: its slot
		 * is free once its last batch has left the spool. */
		if ((rc = gw_spool_exists(f->spool, q->inflight_last)) < 0)
			return rc;
		if (rc == 0) {
			q->inflight = 0;
			q->maybe_data = true;
			f->inflight--;
		}
	}
	return 0;
}

/* Resend the in-flight batch of q, or free its slot if it is gone (an ack
 * or telemetry shedding removed it). 1 if published. A bundle that timed
 * out is resent as its first batch alone: whatever held it up (a central
 * that cannot read bundles, one batch it refuses), single batches still
 * get through, and the next free slot bundles again from the new head. */
static int resend(struct gw_fwd *f, struct queue *q, int64_t now)
{
	struct gw_spool_entry e;
	int rc = gw_spool_head(f->spool, q->device, q->lane, &e);
	if (rc < 0)
		return rc;
	if (rc == 0 || e.seq != q->inflight) {
		/* Its batch left the spool; the slot is free for the next head. */
		gw_spool_entry_free(&e);
		q->inflight = 0;
		q->maybe_data = true;
		f->inflight--;
		return 0;
	}
	rc = f->ops->publish(f->ctx, &e);
	if (rc == 0) {
		q->sent_ms = now;
		q->inflight_last = q->inflight;
		f->reforwarded++;
		rg_debug(FWD_COMP, "reforwarded", "device=%s lane=%s seq=%lld", q->device,
			 rg_lane_name(q->lane), (long long)e.seq);
	}
	gw_spool_entry_free(&e);
	return rc < 0 ? rc : 1;
}

/* The queue whose head goes next: highest lane priority, then oldest. */
static int pick(struct gw_fwd *f, struct queue **best)
{
	int64_t best_seq = 0;
	*best = NULL;
	for (size_t i = 0; i < f->n; i++) {
		struct queue *q = &f->q[i];
		int64_t seq;
		int rc;
		if (q->inflight || !q->maybe_data)
			continue;
		if (*best && q->lane > (*best)->lane)
			continue;
		if ((rc = gw_spool_head_seq(f->spool, q->device, q->lane, &seq)) < 0)
			return rc;
		if (rc == 0) {
			q->maybe_data = false;
			continue;
		}
		if (!*best || q->lane < (*best)->lane || seq < best_seq) {
			*best = q;
			best_seq = seq;
		}
	}
	return 0;
}

/* Publish es[0..n) as one message: the batch itself, or a bundle. */
static int publish_run(struct gw_fwd *f, const struct gw_spool_entry *es, size_t n)
{
	const char *docs[RG_WIRE_BUNDLE_MAX_BATCHES];
	size_t lens[RG_WIRE_BUNDLE_MAX_BATCHES];
	struct gw_spool_entry b;
	int rc;

	if (n == 1)
		return f->ops->publish(f->ctx, &es[0]);
	for (size_t i = 0; i < n; i++) {
		docs[i] = es[i].payload;
		lens[i] = es[i].len;
	}
	b = es[0];
	if ((rc = rg_wire_bundle_build(docs, lens, n, &b.payload, &b.len)) < 0)
		return rc;
	rc = f->ops->publish(f->ctx, &b);
	free(b.payload);
	return rc;
}

int gw_fwd_pump(struct gw_fwd *f)
{
	int64_t now = now_ms(f);
	int sent = 0, rc;

	if (!f->up)
		return 0;
	for (size_t i = 0; i < f->n; i++) {
		struct queue *q = &f->q[i];
		if (!q->inflight || now - q->sent_ms < f->resend_ms)
			continue;
		if ((rc = resend(f, q, now)) < 0)
			return rc == RG_ERR_CLOSED ? sent : rc;
		sent += rc;
	}
	while (f->inflight < f->window) {
		struct gw_spool_entry es[RG_WIRE_BUNDLE_MAX_BATCHES];
		size_t n = 0;
		struct queue *q;
		if ((rc = pick(f, &q)) < 0)
			return rc;
		if (!q)
			break;
		/* Room for the envelope: rg_wire_bundle_build never runs over. */
		if ((rc = gw_spool_run(f->spool, q->device, q->lane, (size_t)f->bundle,
				       RG_WIRE_BUNDLE_MAX_BYTES - 64, RG_WIRE_BUNDLE_MAX_ITEMS, es,
				       &n)) < 0)
			return rc;
		if (rc == 0) {
			q->maybe_data = false;
			continue;
		}
		rc = publish_run(f, es, n);
		if (rc == 0) {
			bool again = q->was_inflight == es[0].seq;
			q->inflight = es[0].seq;
			q->inflight_last = es[n - 1].seq;
			q->sent_ms = now;
			f->inflight++;
			if (again)
				f->reforwarded += (int64_t)n;
			else
				f->forwarded += (int64_t)n;
			if (n > 1)
				f->bundles++;
			q->was_inflight = 0;
			sent += (int)n;
			rg_debug(FWD_COMP, "forwarded", "device=%s lane=%s seq=%lld batches=%zu",
				 q->device, rg_lane_name(q->lane), (long long)es[0].seq, n);
		}
		for (size_t i = 0; i < n; i++)
			gw_spool_entry_free(&es[i]);
		if (rc == RG_ERR_CLOSED)
			break;
		if (rc < 0)
			return rc;
	}
	return sent;
}

int64_t gw_fwd_next_due_ms(const struct gw_fwd *f)
{
	int64_t now = now_ms(f), best = -1;
	if (!f->up)
		return -1;
	for (size_t i = 0; i < f->n; i++) {
		const struct queue *q = &f->q[i];
		if (!q->inflight)
			continue;
		int64_t due = q->sent_ms + f->resend_ms - now;
		if (due < 0)
			due = 0;
		if (best < 0 || due < best)
			best = due;
	}
	return best;
}

void gw_fwd_stats_get(const struct gw_fwd *f, struct gw_fwd_stats *out)
{
	out->forwarded = f->forwarded;
	out->reforwarded = f->reforwarded;
	out->bundles = f->bundles;
	out->inflight = f->inflight;
	out->queues = (int)f->n;
}
