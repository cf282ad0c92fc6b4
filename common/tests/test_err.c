/* test_err.c - the error enum: stable values, a message and a name for each. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "common/err.h"

static void codes_are_never_renumbered(void **state)
{
	(void)state;
	/* Other components and logs depend on these exact values. */
	assert_int_equal(RG_ERR_NOMEM, -1);
	assert_int_equal(RG_ERR_PARSE, -8);
	assert_int_equal(RG_ERR_VERIFY, -10);
	assert_int_equal(RG_ERR_MIGRATE, -19);
	assert_int_equal(RG_ERR_CONFIG, -24);
}

static void every_code_has_a_distinct_message_and_name(void **state)
{
	(void)state;
	for (int c = -1; c > RG_ERR__LAST; c--) {
		assert_string_not_equal(rg_strerror(c), "unknown error");
		assert_true(strncmp(rg_errname(c), "RG_ERR_", 7) == 0);
		for (int d = c - 1; d > RG_ERR__LAST; d--) {
			assert_string_not_equal(rg_strerror(c), rg_strerror(d));
			assert_string_not_equal(rg_errname(c), rg_errname(d));
		}
	}
}

static void unknown_and_success_codes(void **state)
{
	(void)state;
	assert_string_equal(rg_strerror(RG_ERR__LAST), "unknown error");
	assert_string_equal(rg_strerror(-1000), "unknown error");
	assert_string_equal(rg_strerror(0), "success");
	assert_string_equal(rg_strerror(42), "success");
	assert_string_equal(rg_errname(RG_ERR_PARSE), "RG_ERR_PARSE");
}

/* "refuse, and say why": the message lands in the caller's buffer, cut to
 * it, prefixed with where for rg_errf_at; no buffer is fine. */
static void messages_go_to_the_callers_buffer(void **state)
{
	char e[32];
	(void)state;
	assert_int_equal(rg_errf(RG_ERR_PARSE, e, sizeof e, "bad %s", "thing"), RG_ERR_PARSE);
	assert_string_equal(e, "bad thing");
	assert_int_equal(rg_errf_at(RG_ERR_CONFIG, e, sizeof e, "uplink.batch_max", "%d > %d",
				    900, 500),
			 RG_ERR_CONFIG);
	assert_string_equal(e, "uplink.batch_max: 900 > 500");
	assert_int_equal(rg_errf_at(RG_ERR_CONFIG, e, 12, "a.very.long.path", "x"), RG_ERR_CONFIG);
	assert_string_equal(e, "a.very.long");
	assert_int_equal(rg_errf_at(RG_ERR_CONFIG, NULL, 0, "p", "x"), RG_ERR_CONFIG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(codes_are_never_renumbered),
		cmocka_unit_test(every_code_has_a_distinct_message_and_name),
		cmocka_unit_test(unknown_and_success_codes),
		cmocka_unit_test(messages_go_to_the_callers_buffer),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
