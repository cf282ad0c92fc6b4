/*
 * test_hlc.c - the hybrid logical clock: monotonic across a backwards wall
 * step, orders send/receive pairs across skewed devices, refuses stamps from
 * too far in the future, and packs/prints in stamp order.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/err.h"
#include "common/hlc.h"

static void monotonic_across_backwards_wall_step(void **state)
{
	struct rg_clock_manual clk;
	struct rg_hlc_clock h;
	struct rg_hlc prev, cur;
	(void)state;
	rg_clock_manual_init(&clk, 1763881290000);
	rg_hlc_init(&h, &clk.clock, 0);
	rg_hlc_now(&h, &prev);
	assert_int_equal(prev.wall_ms, 1763881290000);
	for (int i = 0; i < 1000; i++) {
		if (i == 100)
			rg_clock_manual_set_wall(&clk, clk.wall_ms - 3600 * 1000); /* back one hour */
		else if (i % 3 == 0)
			rg_clock_manual_advance(&clk, 1);
		assert_int_equal(rg_hlc_now(&h, &cur), 0);
		assert_true(rg_hlc_cmp(&prev, &cur) < 0);
		assert_true(rg_hlc_pack(&prev) < rg_hlc_pack(&cur));
		prev = cur;
	}
	/* While the wall clock is behind, the HLC holds its time and counts. */
	assert_true(prev.wall_ms >= 1763881290000);
	assert_true(prev.logical > 0);
	/* Once real time passes the old high-water mark it follows it again. */
	rg_clock_manual_set_wall(&clk, 1763881290000 + 10000);
	rg_hlc_now(&h, &cur);
	assert_int_equal(cur.wall_ms, 1763881290000 + 10000);
	assert_int_equal(cur.logical, 0);
}

static void send_receive_pairs_are_ordered(void **state)
{
	struct rg_clock_manual ca, cb;
	struct rg_hlc_clock a, b;
	struct rg_hlc sent, recvd, reply, back, local_b;
	(void)state;
	rg_clock_manual_init(&ca, 1000000); /* device A is 2 s ahead of B */
	rg_clock_manual_init(&cb, 998000);
	rg_hlc_init(&a, &ca.clock, 0);
	rg_hlc_init(&b, &cb.clock, 0);

	rg_hlc_now(&b, &local_b);
	rg_hlc_now(&a, &sent);
	assert_int_equal(rg_hlc_update(&b, &sent, &recvd), 0);
	/* The receive happens after the send even though B's wall clock is behind. */
	assert_true(rg_hlc_cmp(&sent, &recvd) < 0);
	assert_true(rg_hlc_cmp(&local_b, &recvd) < 0);
	rg_hlc_now(&b, &reply);
	assert_true(rg_hlc_cmp(&recvd, &reply) < 0);
	assert_int_equal(rg_hlc_update(&a, &reply, &back), 0);
	assert_true(rg_hlc_cmp(&reply, &back) < 0);
	/* B stayed within its wall time plus A's skew: no runaway. */
	assert_int_equal(reply.wall_ms, 1000000);

	/* Equal wall times: logical decides, and receive takes the max + 1. */
	struct rg_hlc r = {.wall_ms = back.wall_ms, .logical = back.logical + 10}, o;
	rg_hlc_update(&a, &r, &o);
	assert_int_equal(o.wall_ms, r.wall_ms);
	assert_int_equal(o.logical, r.logical + 1);
}

static void stamps_from_far_future_are_refused(void **state)
{
	struct rg_clock_manual clk;
	struct rg_hlc_clock h;
	struct rg_hlc before, after, out;
	(void)state;
	rg_clock_manual_init(&clk, 5000000);
	rg_hlc_init(&h, &clk.clock, 60000);
	rg_hlc_now(&h, &before);
	struct rg_hlc evil = {.wall_ms = 5000000 + 60001, .logical = 0};
	assert_int_equal(rg_hlc_update(&h, &evil, &out), RG_ERR_RANGE);
	rg_hlc_now(&h, &after);
	assert_int_equal(after.wall_ms, before.wall_ms); /* unchanged by the refusal */
	struct rg_hlc ok = {.wall_ms = 5000000 + 60000, .logical = 0};
	assert_int_equal(rg_hlc_update(&h, &ok, &out), 0);
	struct rg_hlc bad_logical = {.wall_ms = 1, .logical = 70000};
	assert_int_equal(rg_hlc_update(&h, &bad_logical, &out), RG_ERR_RANGE);
}

static void logical_overflow_borrows_next_ms(void **state)
{
	struct rg_clock_manual clk;
	struct rg_hlc_clock h;
	struct rg_hlc prev, cur;
	(void)state;
	rg_clock_manual_init(&clk, 7000);
	rg_hlc_init(&h, &clk.clock, 0);
	rg_hlc_now(&h, &prev);
	for (int i = 0; i < 70000; i++) {
		rg_hlc_now(&h, &cur);
		assert_true(rg_hlc_pack(&prev) < rg_hlc_pack(&cur));
		prev = cur;
	}
	assert_int_equal(cur.wall_ms, 7001);
}

static void text_and_packed_forms(void **state)
{
	struct rg_hlc t = {.wall_ms = 1763881290123, .logical = 42}, u;
	char buf[RG_HLC_STR_MAX];
	(void)state;
	assert_int_equal(rg_hlc_format(&t, buf, sizeof buf), 16);
	assert_string_equal(buf, "1763881290123.42");
	assert_int_equal(rg_hlc_parse(buf, &u), 0);
	assert_int_equal(rg_hlc_cmp(&t, &u), 0);
	rg_hlc_unpack(rg_hlc_pack(&t), &u);
	assert_int_equal(rg_hlc_cmp(&t, &u), 0);
	assert_int_equal(rg_hlc_parse("12", &u), RG_ERR_PARSE);
	assert_int_equal(rg_hlc_parse("12.", &u), RG_ERR_PARSE);
	assert_int_equal(rg_hlc_parse(".1", &u), RG_ERR_PARSE);
	assert_int_equal(rg_hlc_parse("12.65536", &u), RG_ERR_PARSE);
	assert_int_equal(rg_hlc_parse("12.1x", &u), RG_ERR_PARSE);
	assert_int_equal(rg_hlc_parse("-12.1", &u), RG_ERR_PARSE);
	assert_int_equal(rg_hlc_parse("9999999999999999.1", &u), RG_ERR_PARSE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(monotonic_across_backwards_wall_step),
		cmocka_unit_test(send_receive_pairs_are_ordered),
		cmocka_unit_test(stamps_from_far_future_are_refused),
		cmocka_unit_test(logical_overflow_borrows_next_ms),
		cmocka_unit_test(text_and_packed_forms),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
