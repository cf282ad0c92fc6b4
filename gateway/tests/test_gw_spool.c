/*
 * test_gw_spool.c - the gateway spool against a real SQLite file: commit and
 * FIFO order per device and lane, duplicate resends, acks deleting only what
 * they fully cover, the disk budget shedding telemetry oldest first (never
 * interactions or priority) and then refusing, and a reopen keeping it all.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/err.h"
#include "gateway/spool.h"
#include "gw_fixture.h"

#define BIG (INT64_C(1) << 30)

static struct gw_spool *open_spool(int64_t budget)
{
	struct gw_spool *s;
	assert_int_equal(gw_spool_open(gwfx.path, "0042", budget, &gwfx.clock.clock, &s), 0);
	return s;
}

static int64_t put(struct gw_spool *s, struct gwfx_in *x, enum gw_put_status want)
{
	struct gw_put_result r;
	assert_int_equal(gw_spool_put1(s, &x->in, &r), 0);
	assert_int_equal(r.status, want);
	return r.seq;
}

static void commit_then_head_returns_the_exact_bytes_in_fifo_order(void **state)
{
	struct gw_spool *s = open_spool(BIG);
	struct gwfx_in a, b, c;
	struct gw_spool_entry e;
	(void)state;

	assert_int_equal(gwfx_in_make(&a, "dev-a", RG_KIND_IDENTIFIED, 3, 0), 0);
	assert_int_equal(gwfx_in_make(&b, "dev-a", RG_KIND_NOTE, 2, 0), 0);
	assert_int_equal(gwfx_in_make(&c, "dev-b", RG_KIND_IDENTIFIED, 1, 0), 0);
	int64_t sa = put(s, &a, GW_PUT_SPOOLED);
	int64_t sb = put(s, &b, GW_PUT_SPOOLED);
	put(s, &c, GW_PUT_SPOOLED);
	assert_true(sa < sb);

	assert_int_equal(gw_spool_head(s, "dev-a", RG_LANE_INTERACTIONS, &e), 1);
	assert_int_equal(e.seq, sa);
	assert_int_equal(e.len, a.in.len);
	assert_memory_equal(e.payload, a.doc, a.in.len);
	assert_int_equal(e.items, 3);
	assert_int_equal(e.pending, 3);
	assert_memory_equal(&e.batch_id, &a.in.batch_id, sizeof e.batch_id);
	gw_spool_entry_free(&e);
	assert_int_equal(gw_spool_head(s, "dev-a", RG_LANE_PRIORITY, &e), 0);
	assert_int_equal(gw_spool_head(s, "dev-x", RG_LANE_INTERACTIONS, &e), 0);

	/* Acking the head moves the queue to the next batch, in order. */
	struct gw_ack_result r;
	assert_int_equal(gw_spool_ack(s, "dev-a", a.ids, 3, &r), 0);
	assert_int_equal(r.matched, 3);
	assert_int_equal(r.batches_deleted, 1);
	assert_int_equal(gw_spool_head(s, "dev-a", RG_LANE_INTERACTIONS, &e), 1);
	assert_int_equal(e.seq, sb);
	gw_spool_entry_free(&e);

	struct gw_spool_stats st;
	assert_int_equal(gw_spool_stats(s, &st), 0);
	assert_int_equal(st.batches[RG_LANE_INTERACTIONS], 2);
	assert_int_equal(st.items, 3);
	gwfx_in_free(&a);
	gwfx_in_free(&b);
	gwfx_in_free(&c);
	gw_spool_close(s);
}

static void an_ack_deletes_only_fully_covered_batches_and_only_for_its_device(void **state)
{
	struct gw_spool *s = open_spool(BIG);
	struct gwfx_in a;
	struct gw_ack_result r;
	struct gw_spool_entry e;
	(void)state;

	assert_int_equal(gwfx_in_make(&a, "dev-a", RG_KIND_IDENTIFIED, 4, 0), 0);
	int64_t seq = put(s, &a, GW_PUT_SPOOLED);

	/* Another device's ack naming the same ids changes nothing. */
	assert_int_equal(gw_spool_ack(s, "dev-b", a.ids, 4, &r), 0);
	assert_int_equal(r.matched, 0);
	assert_int_equal(gw_spool_exists(s, seq), 1);

	/* Partial coverage keeps the batch, with fewer pending. */
	assert_int_equal(gw_spool_ack(s, "dev-a", a.ids, 3, &r), 0);
	assert_int_equal(r.matched, 3);
	assert_int_equal(r.batches_deleted, 0);
	assert_int_equal(gw_spool_head(s, "dev-a", RG_LANE_INTERACTIONS, &e), 1);
	assert_int_equal(e.pending, 1);
	gw_spool_entry_free(&e);

	/* A repeated ack is harmless. */
	assert_int_equal(gw_spool_ack(s, "dev-a", a.ids, 3, &r), 0);
	assert_int_equal(r.matched, 0);
	assert_int_equal(gw_spool_exists(s, seq), 1);

	assert_int_equal(gw_spool_ack(s, "dev-a", &a.ids[3], 1, &r), 0);
	assert_int_equal(r.batches_deleted, 1);
	assert_int_equal(gw_spool_exists(s, seq), 0);

	struct gw_spool_stats st;
	assert_int_equal(gw_spool_stats(s, &st), 0);
	assert_int_equal(st.items, 0);
	assert_int_equal(st.bytes, 0);
	gwfx_in_free(&a);
	gw_spool_close(s);
}

static void an_ack_covers_every_spooled_copy_of_a_resent_item(void **state)
{
	enum { COPIES = 20 }; /* more than an ack's first allocation of batches */
	struct gw_spool *s = open_spool(BIG);
	struct gwfx_in x[COPIES];
	int64_t seq[COPIES];
	struct gw_ack_result r;
	(void)state;

	/* The device resent the same two rows in new batches (new batch ids). */
	for (int k = 0; k < COPIES; k++) {
		assert_int_equal(gwfx_in_make(&x[k], "dev-a", RG_KIND_NOTE, 2, 0), 0);
		x[k].ids[0] = x[0].ids[0];
		x[k].ids[1] = x[0].ids[1];
		seq[k] = put(s, &x[k], GW_PUT_SPOOLED);
	}
	/* an ack of the first row only: every copy keeps one pending */
	assert_int_equal(gw_spool_ack(s, "dev-a", x[0].ids, 1, &r), 0);
	assert_int_equal(r.matched, COPIES);
	assert_int_equal(r.batches_deleted, 0);
	assert_int_equal(gw_spool_ack(s, "dev-a", x[0].ids, 2, &r), 0);
	assert_int_equal(r.matched, COPIES);
	assert_int_equal(r.batches_deleted, COPIES);
	for (int k = 0; k < COPIES; k++) {
		assert_int_equal(gw_spool_exists(s, seq[k]), 0);
		gwfx_in_free(&x[k]);
	}
	struct gw_spool_stats st;
	assert_int_equal(gw_spool_stats(s, &st), 0);
	assert_int_equal(st.items, 0);
	assert_int_equal(st.bytes, 0);
	gw_spool_close(s);
}

static void the_same_bytes_twice_are_spooled_once(void **state)
{
	struct gw_spool *s = open_spool(BIG);
	struct gwfx_in a;
	struct gw_spool_stats st;
	(void)state;

	assert_int_equal(gwfx_in_make(&a, "dev-a", RG_KIND_IDENTIFIED, 2, 0), 0);
	int64_t seq = put(s, &a, GW_PUT_SPOOLED);
	assert_int_equal(put(s, &a, GW_PUT_DUPLICATE), seq);
	assert_int_equal(gw_spool_stats(s, &st), 0);
	assert_int_equal(st.batches[RG_LANE_INTERACTIONS], 1);
	/* From another device the same bytes are another batch. */
	a.in.device = "dev-b";
	assert_true(put(s, &a, GW_PUT_SPOOLED) > seq);
	gwfx_in_free(&a);
	gw_spool_close(s);
}

static int64_t cost_of(const struct gwfx_in *x)
{
	return (int64_t)x->in.len + GW_SPOOL_BATCH_OVERHEAD +
	       GW_SPOOL_ITEM_OVERHEAD * (int64_t)x->in.n_ids;
}

static void over_budget_telemetry_is_shed_oldest_first_then_batches_are_refused(void **state)
{
	struct gwfx_in t[4], i1, p1, i2, i3;
	struct gw_put_result r;
	struct gw_spool_stats st;
	struct gw_spool_entry e;
	(void)state;

	for (int k = 0; k < 4; k++)
		assert_int_equal(gwfx_in_make(&t[k], "dev-a", RG_KIND_TELEMETRY, 10, 3000), 0);
	assert_int_equal(gwfx_in_make(&i1, "dev-a", RG_KIND_IDENTIFIED, 10, 3000), 0);
	assert_int_equal(gwfx_in_make(&p1, "dev-b", RG_KIND_CONSENT_CHANGED, 10, 3000), 0);
	assert_int_equal(gwfx_in_make(&i2, "dev-b", RG_KIND_NOTE, 10, 3000), 0);
	assert_int_equal(gwfx_in_make(&i3, "dev-c", RG_KIND_NOTE, 10, 3000), 0);
	/* Room for exactly four such batches. */
	int64_t one = cost_of(&t[0]);
	struct gw_spool *s = open_spool(4 * one + one / 2);

	int64_t ts[4];
	for (int k = 0; k < 4; k++)
		ts[k] = put(s, &t[k], GW_PUT_SPOOLED);

	/* An interaction batch sheds the oldest telemetry batch, one only. */
	assert_int_equal(gw_spool_put1(s, &i1.in, &r), 0);
	assert_int_equal(r.status, GW_PUT_SPOOLED);
	assert_int_equal(r.shed_batches, 1);
	assert_int_equal(r.shed_items, 10);
	assert_int_equal(gw_spool_exists(s, ts[0]), 0);
	assert_int_equal(gw_spool_exists(s, ts[1]), 1);

	assert_int_equal(gw_spool_put1(s, &p1.in, &r), 0);
	assert_int_equal(r.status, GW_PUT_SPOOLED);
	assert_int_equal(r.shed_batches, 1);
	assert_int_equal(gw_spool_exists(s, ts[1]), 0);
	assert_int_equal(gw_spool_put1(s, &i2.in, &r), 0);
	assert_int_equal(r.status, GW_PUT_SPOOLED);
	assert_int_equal(gw_spool_put1(s, &i3.in, &r), 0);
	assert_int_equal(r.status, GW_PUT_SPOOLED);
	assert_int_equal(gw_spool_exists(s, ts[3]), 0);

	/* No telemetry left: the next batch is refused and nothing is dropped. */
	struct gwfx_in i4;
	assert_int_equal(gwfx_in_make(&i4, "dev-c", RG_KIND_NOTE, 10, 3000), 0);
	assert_int_equal(gw_spool_put1(s, &i4.in, &r), 0);
	assert_int_equal(r.status, GW_PUT_FULL);
	assert_int_equal(r.shed_batches, 0);
	assert_int_equal(gw_spool_stats(s, &st), 0);
	assert_int_equal(st.batches[RG_LANE_TELEMETRY], 0);
	assert_int_equal(st.batches[RG_LANE_INTERACTIONS], 3);
	assert_int_equal(st.batches[RG_LANE_PRIORITY], 1);
	assert_true(st.bytes <= st.budget);
	assert_int_equal(gw_spool_head(s, "dev-a", RG_LANE_INTERACTIONS, &e), 1);
	assert_memory_equal(e.payload, i1.doc, i1.in.len);
	gw_spool_entry_free(&e);

	/* A new telemetry batch cannot push out interactions either. */
	struct gwfx_in t5;
	assert_int_equal(gwfx_in_make(&t5, "dev-a", RG_KIND_TELEMETRY, 10, 3000), 0);
	assert_int_equal(gw_spool_put1(s, &t5.in, &r), 0);
	assert_int_equal(r.status, GW_PUT_FULL);

	/* An ack makes room again. */
	struct gw_ack_result ar;
	assert_int_equal(gw_spool_ack(s, "dev-a", i1.ids, 10, &ar), 0);
	assert_int_equal(gw_spool_put1(s, &i4.in, &r), 0);
	assert_int_equal(r.status, GW_PUT_SPOOLED);

	for (int k = 0; k < 4; k++)
		gwfx_in_free(&t[k]);
	gwfx_in_free(&i1);
	gwfx_in_free(&p1);
	gwfx_in_free(&i2);
	gwfx_in_free(&i3);
	gwfx_in_free(&i4);
	gwfx_in_free(&t5);
	gw_spool_close(s);
}

static void a_rolled_back_group_leaves_nothing(void **state)
{
	struct gw_spool *s = open_spool(BIG);
	struct gwfx_in a;
	struct gw_put_result r;
	struct gw_spool_stats st;
	(void)state;

	assert_int_equal(gwfx_in_make(&a, "dev-a", RG_KIND_IDENTIFIED, 2, 0), 0);
	assert_int_equal(gw_spool_begin(s), 0);
	assert_int_equal(gw_spool_put(s, &a.in, &r), 0);
	gw_spool_rollback(s);
	assert_int_equal(gw_spool_stats(s, &st), 0);
	assert_int_equal(st.batches[RG_LANE_INTERACTIONS], 0);
	assert_int_equal(st.bytes, 0);
	assert_int_equal(gw_spool_device_known(s, "dev-a"), 0);
	/* A put outside a transaction is a caller's bug. */
	assert_int_equal(gw_spool_put(s, &a.in, &r), RG_ERR_STATE);
	gwfx_in_free(&a);
	gw_spool_close(s);
}

static int count_queue(void *ctx, const char *device, enum rg_lane lane)
{
	int *n = ctx;
	(void)device;
	(void)lane;
	(*n)++;
	return 0;
}

static void a_reopened_spool_keeps_every_batch_in_order_and_its_store(void **state)
{
	struct gw_spool *s = open_spool(BIG);
	struct gwfx_in x[6];
	int64_t seqs[6];
	struct gw_spool_entry e;
	int queues = 0;
	(void)state;

	for (int k = 0; k < 6; k++) {
		assert_int_equal(gwfx_in_make(&x[k], k % 2 ? "dev-a" : "dev-b",
					      k < 3 ? RG_KIND_NOTE : RG_KIND_ERASURE_REQUESTED, 2,
					      0),
				 0);
		seqs[k] = put(s, &x[k], GW_PUT_SPOOLED);
	}
	gw_spool_close(s);

	/* Another store's gateway must not take this spool over. */
	assert_int_equal(gw_spool_open(gwfx.path, "0043", BIG, &gwfx.clock.clock, &s),
			 RG_ERR_STATE);

	s = open_spool(BIG);
	assert_int_equal(gw_spool_queues(s, count_queue, &queues), 4);
	assert_int_equal(queues, 4);
	assert_int_equal(gw_spool_device_known(s, "dev-a"), 1);
	assert_int_equal(gw_spool_device_known(s, "dev-z"), 0);
	for (int k = 0; k < 6; k++) {
		const char *dev = k % 2 ? "dev-a" : "dev-b";
		enum rg_lane lane = x[k].in.lane;
		assert_int_equal(gw_spool_head(s, dev, lane, &e), 1);
		assert_int_equal(e.seq, seqs[k]);
		assert_memory_equal(e.payload, x[k].doc, x[k].in.len);
		gw_spool_entry_free(&e);
		struct gw_ack_result r;
		assert_int_equal(gw_spool_ack(s, dev, x[k].ids, 2, &r), 0);
		assert_int_equal(r.batches_deleted, 1);
		gwfx_in_free(&x[k]);
	}
	gw_spool_close(s);
}

static void bad_arguments_are_refused(void **state)
{
	struct gw_spool *s;
	struct gw_put_result r;
	struct gw_spool_in in = {0};
	(void)state;
	assert_int_equal(gw_spool_open(gwfx.path, "0042", 0, &gwfx.clock.clock, &s), RG_ERR_INVAL);
	s = open_spool(BIG);
	assert_int_equal(gw_spool_begin(s), 0);
	assert_int_equal(gw_spool_put(s, &in, &r), RG_ERR_INVAL);
	gw_spool_rollback(s);
	gw_spool_close(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(commit_then_head_returns_the_exact_bytes_in_fifo_order,
					    gwfx_setup, gwfx_teardown),
	    cmocka_unit_test_setup_teardown(
		an_ack_deletes_only_fully_covered_batches_and_only_for_its_device, gwfx_setup,
		gwfx_teardown),
	    cmocka_unit_test_setup_teardown(an_ack_covers_every_spooled_copy_of_a_resent_item,
					    gwfx_setup, gwfx_teardown),
	    cmocka_unit_test_setup_teardown(the_same_bytes_twice_are_spooled_once, gwfx_setup,
					    gwfx_teardown),
	    cmocka_unit_test_setup_teardown(
		over_budget_telemetry_is_shed_oldest_first_then_batches_are_refused, gwfx_setup,
		gwfx_teardown),
	    cmocka_unit_test_setup_teardown(a_rolled_back_group_leaves_nothing, gwfx_setup,
					    gwfx_teardown),
	    cmocka_unit_test_setup_teardown(
		a_reopened_spool_keeps_every_batch_in_order_and_its_store, gwfx_setup,
		gwfx_teardown),
	    cmocka_unit_test_setup_teardown(bad_arguments_are_refused, gwfx_setup, gwfx_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
