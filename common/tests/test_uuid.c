/*
 * test_uuid.c - UUIDv7: ids sort by creation time, also when many are made
 * in one millisecond and when the wall clock steps backwards; strict parsing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/err.h"
#include "common/uuid.h"

static void ids_sort_by_creation_time(void **state)
{
	struct rg_clock_manual clk;
	struct rg_uuid7_gen g;
	struct rg_uuid prev, cur;
	char sp[37], sc[37];
	(void)state;
	rg_clock_manual_init(&clk, 1763881290123);
	rg_uuid7_gen_init(&g, &clk.clock, NULL);
	assert_int_equal(rg_uuid7_next(&g, &prev), 0);
	for (int i = 0; i < 20000; i++) {
		if (i % 7 == 0)
			rg_clock_manual_advance(&clk, 1);
		if (i == 5000)
			rg_clock_manual_set_wall(&clk, clk.wall_ms - 60000); /* NTP steps back a minute */
		assert_int_equal(rg_uuid7_next(&g, &cur), 0);
		/* Byte order, text order and creation order agree. */
		assert_true(rg_uuid_cmp(&prev, &cur) < 0);
		assert_true(strcmp(rg_uuid_format(&prev, sp), rg_uuid_format(&cur, sc)) < 0);
		prev = cur;
	}
}

static void thousands_in_one_millisecond_stay_ordered(void **state)
{
	struct rg_clock_manual clk;
	struct rg_uuid7_gen g;
	struct rg_uuid prev, cur;
	(void)state;
	rg_clock_manual_init(&clk, 1000);
	rg_uuid7_gen_init(&g, &clk.clock, NULL);
	rg_uuid7_next(&g, &prev);
	for (int i = 0; i < 10000; i++) { /* more than the 12-bit counter holds */
		rg_uuid7_next(&g, &cur);
		assert_true(rg_uuid_cmp(&prev, &cur) < 0);
		prev = cur;
	}
	/* The generator borrowed future milliseconds, but only a few. */
	assert_true(rg_uuid7_ms(&cur) > 1000 && rg_uuid7_ms(&cur) < 1010);
}

static void layout_version_variant_timestamp(void **state)
{
	struct rg_clock_manual clk;
	struct rg_uuid7_gen g;
	struct rg_uuid u, p;
	char s[37];
	(void)state;
	rg_clock_manual_init(&clk, 0x0189abcdef01);
	rg_uuid7_gen_init(&g, &clk.clock, NULL);
	rg_uuid7_next(&g, &u);
	assert_int_equal(rg_uuid_version(&u), 7);
	assert_int_equal(u.b[8] & 0xc0, 0x80); /* RFC 9562 variant */
	assert_int_equal(rg_uuid7_ms(&u), 0x0189abcdef01);
	rg_uuid_format(&u, s);
	assert_int_equal(strlen(s), 36);
	assert_true(strncmp(s, "0189abcd-ef01-7", 15) == 0);
	assert_int_equal(rg_uuid_parse(s, &p), 0);
	assert_int_equal(rg_uuid_cmp(&u, &p), 0);
}

static void parse_refuses_malformed(void **state)
{
	struct rg_uuid u;
	(void)state;
	assert_int_equal(rg_uuid_parse("0189ABCD-EF01-7000-8000-000000000000", &u), 0);
	assert_int_equal(rg_uuid_parse("0189abcd-ef01-7000-8000-00000000000", &u), RG_ERR_PARSE);
	assert_int_equal(rg_uuid_parse("0189abcd-ef01-7000-8000-0000000000000", &u), RG_ERR_PARSE);
	assert_int_equal(rg_uuid_parse("0189abcdef01-7000-8000-0000000000000", &u), RG_ERR_PARSE);
	assert_int_equal(rg_uuid_parse("0189abcd-ef01-7000-8000-00000000000g", &u), RG_ERR_PARSE);
	assert_int_equal(rg_uuid_parse("", &u), RG_ERR_PARSE);
	assert_int_equal(rg_uuid_parse(NULL, &u), RG_ERR_PARSE);
}

static void real_clock_ids_are_unique(void **state)
{
	struct rg_uuid7_gen g;
	struct rg_uuid prev, cur;
	(void)state;
	rg_uuid7_gen_init(&g, NULL, NULL);
	rg_uuid7_next(&g, &prev);
	for (int i = 0; i < 1000; i++) {
		rg_uuid7_next(&g, &cur);
		assert_true(rg_uuid_cmp(&prev, &cur) < 0);
		prev = cur;
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(ids_sort_by_creation_time),
		cmocka_unit_test(thousands_in_one_millisecond_stay_ordered),
		cmocka_unit_test(layout_version_variant_timestamp),
		cmocka_unit_test(parse_refuses_malformed),
		cmocka_unit_test(real_clock_ids_are_unique),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
