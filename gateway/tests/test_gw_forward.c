/*
 * test_gw_forward.c - the forwarding scheduler over a real spool with a
 * recording publisher and a manual clock: lane priority, one batch per device
 * and lane in flight, the window bound, FIFO per queue across acks, resends
 * after the timeout and after a reconnect, a restart resuming the queues, and
 * bundles of a queue's oldest batches (their bounds, their acks, their resend).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/err.h"
#include "gateway/forward.h"
#include "gw_fixture.h"

#define BIG (INT64_C(1) << 30)
#define SENT_MAX 64

struct rec {
	int64_t seq[SENT_MAX];
	enum rg_lane lane[SENT_MAX];
	char device[SENT_MAX][RG_WIRE_ID_MAX + 1];
	size_t batches[SENT_MAX]; /* batches in the message (a bundle: several) */
	struct rg_uuid first[SENT_MAX], last[SENT_MAX]; /* their first and last batch ids */
	size_t bytes[SENT_MAX];
	int n;
	bool closed;
};

static int rec_publish(void *ctx, const struct gw_spool_entry *e)
{
	struct rec *r = ctx;
	if (r->closed)
		return RG_ERR_CLOSED;
	assert_true(r->n < SENT_MAX);
	assert_non_null(e->payload);
	/* What central would read: one batch, or a bundle, all valid. */
	struct rg_wire_uplink u;
	char err[RG_WIRE_ERR_MAX];
	if (rg_wire_uplink_parse(e->payload, e->len, &u, err, sizeof err) < 0)
		fail_msg("published an unparsable message: %s", err);
	r->batches[r->n] = u.n;
	r->first[r->n] = u.batches[0].batch_id;
	r->last[r->n] = u.batches[u.n - 1].batch_id;
	r->bytes[r->n] = e->len;
	assert_true(u.bundle == (u.n > 1));
	rg_wire_uplink_free(&u);
	r->seq[r->n] = e->seq;
	r->lane[r->n] = e->lane;
	snprintf(r->device[r->n], sizeof r->device[r->n], "%s", e->device);
	r->n++;
	return 0;
}

static const struct gw_fwd_ops rec_ops = {.publish = rec_publish};

struct world {
	struct gw_spool *s;
	struct gw_fwd *f;
	struct rec rec;
};

static void world_open(struct world *w, int window, int resend_ms)
{
	assert_int_equal(gw_spool_open(gwfx.path, "0042", BIG, &gwfx.clock.clock, &w->s), 0);
	assert_int_equal(
	    gw_fwd_new(w->s, &gwfx.clock.clock, window, resend_ms, &rec_ops, &w->rec, &w->f), 0);
}

static void world_close(struct world *w)
{
	gw_fwd_free(w->f);
	gw_spool_close(w->s);
}

static int64_t spool_n(struct world *w, struct gwfx_in *x, const char *dev, enum rg_kind kind,
		       size_t items, size_t pad)
{
	struct gw_put_result r;
	assert_int_equal(gwfx_in_make(x, dev, kind, items, pad), 0);
	assert_int_equal(gw_spool_put1(w->s, &x->in, &r), 0);
	assert_int_equal(r.status, GW_PUT_SPOOLED);
	assert_int_equal(gw_fwd_spooled(w->f, dev, x->in.lane), 0);
	return r.seq;
}

static int64_t spool(struct world *w, struct gwfx_in *x, const char *dev, enum rg_kind kind)
{
	return spool_n(w, x, dev, kind, 2, 0);
}

static void ack(struct world *w, struct gwfx_in *x)
{
	struct gw_ack_result r;
	assert_int_equal(gw_spool_ack(w->s, x->in.device, x->ids, x->in.n_ids, &r), 0);
	assert_int_equal(gw_fwd_acked(w->f, x->in.device), 0);
}

static void priority_goes_first_and_one_batch_per_queue_is_in_flight(void **state)
{
	struct world w = {0};
	struct gwfx_in t1, i1, i2, p1, j1;
	(void)state;
	world_open(&w, 10, 1000);
	int64_t st1 = spool(&w, &t1, "dev-a", RG_KIND_TELEMETRY);
	int64_t si1 = spool(&w, &i1, "dev-a", RG_KIND_IDENTIFIED);
	int64_t si2 = spool(&w, &i2, "dev-a", RG_KIND_NOTE);
	int64_t sp1 = spool(&w, &p1, "dev-a", RG_KIND_ERASURE_REQUESTED);
	int64_t sj1 = spool(&w, &j1, "dev-b", RG_KIND_IDENTIFIED);

	/* Nothing goes while the link is down. */
	assert_int_equal(gw_fwd_pump(w.f), 0);
	gw_fwd_link(w.f, true);
	assert_int_equal(gw_fwd_pump(w.f), 4);
	assert_int_equal(w.rec.seq[0], sp1);
	assert_int_equal(w.rec.seq[1], si1);
	assert_int_equal(w.rec.seq[2], sj1);
	assert_int_equal(w.rec.seq[3], st1);
	/* i2 waits behind i1 (same device and lane), whatever the window. */
	assert_int_equal(gw_fwd_pump(w.f), 0);

	ack(&w, &i1);
	assert_int_equal(gw_fwd_pump(w.f), 1);
	assert_int_equal(w.rec.seq[4], si2);
	struct gw_fwd_stats fs;
	gw_fwd_stats_get(w.f, &fs);
	assert_int_equal(fs.forwarded, 5);
	assert_int_equal(fs.inflight, 4);
	gwfx_in_free(&t1);
	gwfx_in_free(&i1);
	gwfx_in_free(&i2);
	gwfx_in_free(&p1);
	gwfx_in_free(&j1);
	world_close(&w);
}

static void the_window_bounds_batches_in_flight_and_frees_on_ack(void **state)
{
	struct world w = {0};
	struct gwfx_in x[5];
	char dev[16];
	(void)state;
	world_open(&w, 2, 1000);
	for (int k = 0; k < 5; k++) {
		snprintf(dev, sizeof dev, "dev-%d", k);
		spool(&w, &x[k], strdup(dev), RG_KIND_NOTE);
	}
	gw_fwd_link(w.f, true);
	assert_int_equal(gw_fwd_pump(w.f), 2);
	assert_int_equal(gw_fwd_pump(w.f), 0);
	ack(&w, &x[0]);
	assert_int_equal(gw_fwd_pump(w.f), 1);
	assert_string_equal(w.rec.device[2], "dev-2");
	/* An ack for a batch that is not in flight frees nothing. */
	ack(&w, &x[4]);
	assert_int_equal(gw_fwd_pump(w.f), 0);
	for (int k = 0; k < 5; k++) {
		free((char *)x[k].in.device);
		gwfx_in_free(&x[k]);
	}
	world_close(&w);
}

static void an_unacked_batch_is_resent_after_the_timeout_and_after_a_reconnect(void **state)
{
	struct world w = {0};
	struct gwfx_in a, b;
	struct gw_fwd_stats fs;
	(void)state;
	world_open(&w, 4, 1000);
	int64_t sa = spool(&w, &a, "dev-a", RG_KIND_NOTE);
	spool(&w, &b, "dev-a", RG_KIND_NOTE);
	gw_fwd_link(w.f, true);
	assert_int_equal(gw_fwd_pump(w.f), 1);
	assert_int_equal(gw_fwd_next_due_ms(w.f), 1000);
	rg_clock_manual_advance(&gwfx.clock, 999);
	assert_int_equal(gw_fwd_pump(w.f), 0);
	rg_clock_manual_advance(&gwfx.clock, 1);
	assert_int_equal(gw_fwd_next_due_ms(w.f), 0);
	assert_int_equal(gw_fwd_pump(w.f), 1);
	assert_int_equal(w.rec.seq[1], sa);

	/* The link drops: nothing is sent, the in-flight batch goes first again. */
	gw_fwd_link(w.f, false);
	assert_int_equal(gw_fwd_next_due_ms(w.f), -1);
	assert_int_equal(gw_fwd_pump(w.f), 0);
	gw_fwd_link(w.f, true);
	assert_int_equal(gw_fwd_pump(w.f), 1);
	assert_int_equal(w.rec.seq[2], sa);
	gw_fwd_stats_get(w.f, &fs);
	assert_int_equal(fs.forwarded, 1);
	assert_int_equal(fs.reforwarded, 2);

	/* A publish that fails (link just went) marks nothing in flight. */
	ack(&w, &a);
	w.rec.closed = true;
	assert_int_equal(gw_fwd_pump(w.f), 0);
	gw_fwd_stats_get(w.f, &fs);
	assert_int_equal(fs.inflight, 0);
	w.rec.closed = false;
	assert_int_equal(gw_fwd_pump(w.f), 1);
	gwfx_in_free(&a);
	gwfx_in_free(&b);
	world_close(&w);
}

static void a_restarted_scheduler_resumes_every_queue_in_order(void **state)
{
	struct world w = {0};
	struct gwfx_in a, b, c;
	(void)state;
	world_open(&w, 8, 1000);
	int64_t sa = spool(&w, &a, "dev-a", RG_KIND_NOTE);
	int64_t sb = spool(&w, &b, "dev-a", RG_KIND_NOTE);
	int64_t sc = spool(&w, &c, "dev-b", RG_KIND_TELEMETRY);
	gw_fwd_link(w.f, true);
	assert_int_equal(gw_fwd_pump(w.f), 2);
	world_close(&w);

	memset(&w, 0, sizeof w);
	world_open(&w, 8, 1000);
	gw_fwd_link(w.f, true);
	assert_int_equal(gw_fwd_pump(w.f), 2);
	assert_int_equal(w.rec.seq[0], sa);
	assert_int_equal(w.rec.seq[1], sc);
	ack(&w, &a);
	assert_int_equal(gw_fwd_pump(w.f), 1);
	assert_int_equal(w.rec.seq[2], sb);
	gwfx_in_free(&a);
	gwfx_in_free(&b);
	gwfx_in_free(&c);
	world_close(&w);
}

static void a_shed_batch_in_flight_frees_its_slot_at_resend(void **state)
{
	struct world w = {0};
	struct gwfx_in t;
	struct gw_fwd_stats fs;
	(void)state;
	world_open(&w, 8, 1000);
	int64_t st = spool(&w, &t, "dev-a", RG_KIND_TELEMETRY);
	gw_fwd_link(w.f, true);
	assert_int_equal(gw_fwd_pump(w.f), 1);
	/* Shedding is an ack-less delete; emulate it by acking, without telling
	 * the scheduler. */
	struct gw_ack_result r;
	assert_int_equal(gw_spool_ack(w.s, "dev-a", t.ids, 2, &r), 0);
	assert_int_equal(gw_spool_exists(w.s, st), 0);
	rg_clock_manual_advance(&gwfx.clock, 1000);
	assert_int_equal(gw_fwd_pump(w.f), 0);
	gw_fwd_stats_get(w.f, &fs);
	assert_int_equal(fs.inflight, 0);
	gwfx_in_free(&t);
	world_close(&w);
}

static void a_queues_oldest_batches_go_as_one_bundle_in_order(void **state)
{
	struct world w = {0};
	struct gwfx_in a[5], p, o;
	struct gw_fwd_stats fs;
	int64_t sa[5];
	(void)state;
	world_open(&w, 10, 1000);
	gw_fwd_set_bundle(w.f, 3);
	for (int k = 0; k < 5; k++)
		sa[k] = spool(&w, &a[k], "dev-a", RG_KIND_IDENTIFIED);
	spool(&w, &p, "dev-a", RG_KIND_CONSENT_CHANGED);
	spool(&w, &o, "dev-b", RG_KIND_NOTE);
	gw_fwd_link(w.f, true);
	/* Three messages: dev-a's priority batch alone, dev-a's three oldest
	 * interactions as one bundle, dev-b's batch alone. */
	assert_int_equal(gw_fwd_pump(w.f), 5);
	assert_int_equal(w.rec.n, 3);
	assert_int_equal(w.rec.batches[0], 1);
	assert_int_equal(w.rec.lane[0], RG_LANE_PRIORITY);
	assert_int_equal(w.rec.batches[1], 3);
	assert_int_equal(w.rec.seq[1], sa[0]);
	assert_int_equal(rg_uuid_cmp(&w.rec.first[1], &a[0].in.batch_id), 0);
	assert_int_equal(rg_uuid_cmp(&w.rec.last[1], &a[2].in.batch_id), 0);
	assert_int_equal(w.rec.batches[2], 1);
	assert_string_equal(w.rec.device[2], "dev-b");
	gw_fwd_stats_get(w.f, &fs);
	assert_int_equal(fs.forwarded, 5);
	assert_int_equal(fs.bundles, 1);
	assert_int_equal(fs.inflight, 3);

	/* Central acks the bundle batch by batch: the slot stays taken until
	 * its last batch is acked, so nothing of it goes twice. */
	ack(&w, &a[0]);
	ack(&w, &a[1]);
	assert_int_equal(gw_fwd_pump(w.f), 0);
	ack(&w, &a[2]);
	assert_int_equal(gw_fwd_pump(w.f), 2);
	assert_int_equal(w.rec.batches[3], 2);
	assert_int_equal(w.rec.seq[3], sa[3]);
	assert_int_equal(rg_uuid_cmp(&w.rec.last[3], &a[4].in.batch_id), 0);

	/* Bundles off: one batch per message again. */
	ack(&w, &a[3]);
	ack(&w, &a[4]);
	for (int k = 0; k < 2; k++) {
		gwfx_in_free(&a[k]);
		spool(&w, &a[k], "dev-a", RG_KIND_IDENTIFIED);
	}
	gw_fwd_set_bundle(w.f, 1);
	assert_int_equal(gw_fwd_pump(w.f), 1);
	assert_int_equal(w.rec.batches[4], 1);
	for (int k = 0; k < 5; k++)
		gwfx_in_free(&a[k]);
	gwfx_in_free(&p);
	gwfx_in_free(&o);
	world_close(&w);
}

static void a_bundle_stays_within_the_brokers_packet_and_centrals_group(void **state)
{
	struct world w = {0};
	struct gwfx_in big[6], many[6];
	size_t total = 0, fit = 0, bytes = 0;
	(void)state;
	world_open(&w, 10, 1000);
	gw_fwd_set_bundle(w.f, RG_WIRE_BUNDLE_MAX_BATCHES);
	/* Batches of about 250 KiB: a bundle takes as many as fit its bound. */
	for (int k = 0; k < 6; k++) {
		spool_n(&w, &big[k], "dev-a", RG_KIND_NOTE, 31, 8100);
		if (fit == (size_t)k &&
		    bytes + big[k].in.len + 1 <= RG_WIRE_BUNDLE_MAX_BYTES - 64) {
			bytes += big[k].in.len + 1;
			fit++;
		}
	}
	assert_true(fit >= 2 && fit < 6);
	/* Six batches of 400 items: five reach 2000 items, six are over. */
	for (int k = 0; k < 6; k++)
		spool_n(&w, &many[k], "dev-b", RG_KIND_IDENTIFIED, 400, 0);
	gw_fwd_link(w.f, true);
	assert_int_equal(gw_fwd_pump(w.f), (int)fit + 5);
	assert_int_equal(w.rec.n, 2);
	for (int i = 0; i < 2; i++) {
		if (!strcmp(w.rec.device[i], "dev-a")) {
			assert_int_equal(w.rec.batches[i], fit);
			assert_true(w.rec.bytes[i] <= RG_WIRE_BUNDLE_MAX_BYTES);
		} else {
			assert_int_equal(w.rec.batches[i], 5);
		}
		total += w.rec.batches[i];
	}
	assert_int_equal(total, fit + 5);
	for (int k = 0; k < 6; k++) {
		gwfx_in_free(&big[k]);
		gwfx_in_free(&many[k]);
	}
	world_close(&w);
}

static void a_bundle_that_times_out_is_resent_as_its_first_batch_alone(void **state)
{
	struct world w = {0};
	struct gwfx_in a[4];
	struct gw_fwd_stats fs;
	int64_t sa[4];
	(void)state;
	world_open(&w, 10, 1000);
	gw_fwd_set_bundle(w.f, 4);
	for (int k = 0; k < 4; k++)
		sa[k] = spool(&w, &a[k], "dev-a", RG_KIND_NOTE);
	gw_fwd_link(w.f, true);
	assert_int_equal(gw_fwd_pump(w.f), 4);
	assert_int_equal(w.rec.batches[0], 4);
	/* Central never answers (say it cannot read bundles): after the
	 * timeout the first batch goes alone... */
	rg_clock_manual_advance(&gwfx.clock, 1000);
	assert_int_equal(gw_fwd_pump(w.f), 1);
	assert_int_equal(w.rec.batches[1], 1);
	assert_int_equal(w.rec.seq[1], sa[0]);
	/* ...and its ack frees the slot for the rest. */
	ack(&w, &a[0]);
	assert_int_equal(gw_fwd_pump(w.f), 3);
	assert_int_equal(w.rec.batches[2], 3);
	assert_int_equal(w.rec.seq[2], sa[1]);
	gw_fwd_stats_get(w.f, &fs);
	assert_int_equal(fs.forwarded, 7);
	assert_int_equal(fs.reforwarded, 1);
	/* After a reconnect what was in flight goes again as a bundle. */
	gw_fwd_link(w.f, false);
	gw_fwd_link(w.f, true);
	assert_int_equal(gw_fwd_pump(w.f), 3);
	assert_int_equal(w.rec.batches[3], 3);
	gw_fwd_stats_get(w.f, &fs);
	assert_int_equal(fs.reforwarded, 4);
	for (int k = 0; k < 4; k++)
		gwfx_in_free(&a[k]);
	world_close(&w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(
		priority_goes_first_and_one_batch_per_queue_is_in_flight, gwfx_setup,
		gwfx_teardown),
	    cmocka_unit_test_setup_teardown(the_window_bounds_batches_in_flight_and_frees_on_ack,
					    gwfx_setup, gwfx_teardown),
	    cmocka_unit_test_setup_teardown(
		an_unacked_batch_is_resent_after_the_timeout_and_after_a_reconnect, gwfx_setup,
		gwfx_teardown),
	    cmocka_unit_test_setup_teardown(a_restarted_scheduler_resumes_every_queue_in_order,
					    gwfx_setup, gwfx_teardown),
	    cmocka_unit_test_setup_teardown(a_queues_oldest_batches_go_as_one_bundle_in_order,
					    gwfx_setup, gwfx_teardown),
	    cmocka_unit_test_setup_teardown(
		a_bundle_stays_within_the_brokers_packet_and_centrals_group, gwfx_setup,
		gwfx_teardown),
	    cmocka_unit_test_setup_teardown(
		a_bundle_that_times_out_is_resent_as_its_first_batch_alone, gwfx_setup,
		gwfx_teardown),
	    cmocka_unit_test_setup_teardown(a_shed_batch_in_flight_frees_its_slot_at_resend,
					    gwfx_setup, gwfx_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
