/* test_indicator.c - patterns by name and number, range checks, and the sim
 * indicator's event record (in memory, in order, bounded) and its log file. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "common/clock.h"
#include "common/err.h"
#include "common/log.h"
#include "hal/indicator.h"

#include "hal_test_util.h"

static void records_signals_in_order(void **state)
{
	struct rg_clock_manual clk;
	struct hal_indicator *ind;
	struct hal_indicator_event ev[8];
	(void)state;
	rg_clock_manual_init(&clk, 1000);
	assert_int_equal(hal_indicator_open("sim", "events=3", &clk.clock, &ind), 0);
	assert_int_equal(hal_indicator_events(ind, ev, 8), 0);
	assert_int_equal(hal_indicator_signal(ind, HAL_PATTERN_OK), 0);
	rg_clock_manual_advance(&clk, 10);
	assert_int_equal(hal_indicator_signal(ind, HAL_PATTERN_UNKNOWN), 0);
	assert_int_equal(hal_indicator_signal(ind, HAL_PATTERN_REFUSED), 0);
	assert_int_equal(hal_indicator_signal(ind, HAL_PATTERN_ERROR), 0);
	assert_int_equal(hal_indicator_signal(ind, (enum hal_pattern)4), RG_ERR_RANGE);
	assert_int_equal(hal_indicator_signal(ind, (enum hal_pattern) - 1), RG_ERR_RANGE);
	assert_int_equal(hal_indicator_events(ind, ev, 8), 3); /* the newest 3, oldest first */
	assert_int_equal(ev[0].pattern, HAL_PATTERN_UNKNOWN);
	assert_int_equal(ev[0].seq, 2);
	assert_int_equal(ev[0].time_ms, 1010);
	assert_int_equal(ev[2].pattern, HAL_PATTERN_ERROR);
	assert_int_equal(hal_indicator_events(ind, ev, 1), 1);
	assert_int_equal(ev[0].pattern, HAL_PATTERN_ERROR);
	hal_indicator_close(ind);
}

static void names_round_trip(void **state)
{
	(void)state;
	for (int p = 0; p < HAL_PATTERN__COUNT; p++)
		assert_int_equal(hal_pattern_parse(hal_pattern_name((enum hal_pattern)p)), p);
	assert_string_equal(hal_pattern_name(HAL_PATTERN_REFUSED), "refused");
	assert_string_equal(hal_pattern_name((enum hal_pattern)9), "?");
	assert_int_equal(hal_pattern_parse("OK"), RG_ERR_PARSE);
	assert_int_equal(hal_pattern_parse(NULL), RG_ERR_PARSE);
}

static void file_gets_one_line_per_signal(void **state)
{
	char dir[256], path[300], opts[320], line[128];
	struct hal_indicator *ind = NULL;
	FILE *f;
	(void)state;
	tu_tmpdir(dir, sizeof dir);
	snprintf(path, sizeof path, "%s/led.log", dir);
	snprintf(opts, sizeof opts, "file=%s", path);
	assert_int_equal(hal_indicator_open("sim", opts, NULL, &ind), 0);
	hal_indicator_signal(ind, HAL_PATTERN_OK);
	hal_indicator_signal(ind, HAL_PATTERN_REFUSED);
	hal_indicator_close(ind);
	f = fopen(path, "r");
	assert_non_null(f);
	assert_non_null(fgets(line, sizeof line, f));
	assert_non_null(strstr(line, "Z ok\n"));
	assert_non_null(fgets(line, sizeof line, f));
	assert_non_null(strstr(line, "Z refused\n"));
	assert_null(fgets(line, sizeof line, f));
	fclose(f);
	assert_int_equal(hal_indicator_open("sim", "file=/nonexistent-dir/x", NULL, &ind),
			 RG_ERR_IO);
	assert_int_equal(hal_indicator_open("gpio", NULL, NULL, &ind), RG_ERR_NOTFOUND);
	assert_string_equal(hal_indicator_backend_name(0), "sim");
	assert_null(hal_indicator_backend_name(1));
	tu_rmtree(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(records_signals_in_order),
	    cmocka_unit_test(names_round_trip),
	    cmocka_unit_test(file_gets_one_line_per_signal),
	};
	rg_log_set_level(RG_LOG_OFF);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
