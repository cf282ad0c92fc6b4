/* test_display.c - the display wrappers' view validation and the sim display's
 * recording: frames in order, ring wrap-around, clear, JSON views, and the
 * JSON-lines file it writes (parsed back to prove its shape). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <cJSON.h>

#include "common/clock.h"
#include "common/err.h"
#include "common/log.h"
#include "hal/display.h"

#include "hal_test_util.h"

static void records_views_in_order_and_wraps(void **state)
{
	struct rg_clock_manual clk;
	struct hal_display *d;
	struct hal_frame *f = malloc(sizeof *f);
	struct hal_view v = {
	    .title = "Welcome back, Anna", .lines = {"Gold", "1200 points"}, .n_lines = 2};
	(void)state;
	rg_clock_manual_init(&clk, 1700000000000LL);
	assert_int_equal(hal_display_open("sim", "frames=2", &clk.clock, &d), 0);
	assert_int_equal(hal_display_frame(d, 0, f), RG_ERR_NOTFOUND);
	assert_int_equal(hal_display_show(d, &v), 0);
	assert_int_equal(hal_display_frame(d, 0, f), 0);
	assert_int_equal(f->seq, 1);
	assert_int_equal(f->time_ms, 1700000000000LL);
	assert_string_equal(f->title, "Welcome back, Anna");
	assert_int_equal(f->n_lines, 2);
	assert_string_equal(f->lines[1], "1200 points");
	rg_clock_manual_advance(&clk, 5);
	assert_int_equal(hal_display_clear(d), 0);
	v.title = "Next";
	v.n_lines = 0;
	assert_int_equal(hal_display_show(d, &v), 0);
	assert_int_equal(hal_display_frame(d, 0, f), 0);
	assert_int_equal(f->seq, 3);
	assert_string_equal(f->title, "Next");
	assert_int_equal(hal_display_frame(d, 1, f), 0);
	assert_true(f->cleared);
	assert_int_equal(f->time_ms, 1700000000005LL);
	assert_int_equal(hal_display_frame(d, 2, f), RG_ERR_NOTFOUND); /* only 2 kept */
	assert_true(hal_display_caps(d) & HAL_DISPLAY_CAP_RECORD);
	assert_string_equal(hal_display_backend(d), "sim");
	hal_display_close(d);
	free(f);
}

static void invalid_views_are_refused(void **state)
{
	struct hal_display *d;
	struct hal_frame *f = malloc(sizeof *f);
	char big[HAL_VIEW_TEXT_MAX + 2], *bigjson = malloc(HAL_VIEW_JSON_MAX + 16);
	struct hal_view v;
	(void)state;
	assert_int_equal(hal_display_open("sim", NULL, NULL, &d), 0);
	memset(&v, 0, sizeof v);
	assert_int_equal(hal_display_show(d, &v), RG_ERR_INVAL); /* nothing */
	assert_int_equal(hal_display_show(d, NULL), RG_ERR_INVAL);
	v.title = "t";
	v.json = "{}";
	assert_int_equal(hal_display_show(d, &v), RG_ERR_INVAL); /* both */
	v.json = NULL;
	v.n_lines = HAL_VIEW_LINES_MAX + 1;
	assert_int_equal(hal_display_show(d, &v), RG_ERR_RANGE);
	v.n_lines = 1;
	v.lines[0] = NULL;
	assert_int_equal(hal_display_show(d, &v), RG_ERR_INVAL);
	memset(big, 'x', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	v.lines[0] = big;
	assert_int_equal(hal_display_show(d, &v), RG_ERR_TOOBIG);
	v.lines[0] = "tab\there";
	assert_int_equal(hal_display_show(d, &v), RG_ERR_PARSE);
	v.lines[0] = "\xc3";
	assert_int_equal(hal_display_show(d, &v), RG_ERR_PARSE);
	memset(&v, 0, sizeof v);
	v.json = "[1,2]";
	assert_int_equal(hal_display_show(d, &v), RG_ERR_PARSE); /* not an object */
	v.json = "{\"a\":";
	assert_int_equal(hal_display_show(d, &v), RG_ERR_PARSE);
	memset(bigjson, ' ', HAL_VIEW_JSON_MAX + 8);
	bigjson[0] = '{';
	bigjson[HAL_VIEW_JSON_MAX + 8] = '}';
	bigjson[HAL_VIEW_JSON_MAX + 9] = '\0';
	v.json = bigjson;
	assert_int_equal(hal_display_show(d, &v), RG_ERR_TOOBIG);
	/* nothing refused was recorded */
	assert_int_equal(hal_display_frame(d, 0, f), RG_ERR_NOTFOUND);
	hal_display_close(d);
	assert_int_equal(hal_display_open("sim", "frames=0", NULL, &d), RG_ERR_CONFIG);
	assert_int_equal(hal_display_open("hdmi", NULL, NULL, &d), RG_ERR_NOTFOUND);
	assert_null(d);
	free(bigjson);
	free(f);
}

static void writes_frames_as_json_lines(void **state)
{
	char dir[256], path[300], opts[320];
	struct hal_display *d;
	struct hal_view v = {.title = "Hallo \"J\xc3\xbcrgen\"", .lines = {"Gold"}, .n_lines = 1};
	struct hal_view j = {.json = "{\"state\":\"greeting\",\"points\":1200}"};
	char line[4096];
	FILE *f;
	cJSON *o;
	(void)state;
	tu_tmpdir(dir, sizeof dir);
	snprintf(path, sizeof path, "%s/frames.jsonl", dir);
	snprintf(opts, sizeof opts, "file=%s", path);
	assert_int_equal(hal_display_open("sim", opts, NULL, &d), 0);
	assert_int_equal(hal_display_show(d, &v), 0);
	assert_int_equal(hal_display_show(d, &j), 0); /* file= rewrites after each change */
	f = fopen(path, "r");
	assert_non_null(f);
	assert_non_null(fgets(line, sizeof line, f));
	o = cJSON_Parse(line);
	assert_non_null(o);
	assert_int_equal(cJSON_GetObjectItem(o, "seq")->valueint, 1);
	assert_string_equal(cJSON_GetObjectItem(o, "title")->valuestring,
			    "Hallo \"J\xc3\xbcrgen\"");
	assert_string_equal(cJSON_GetArrayItem(cJSON_GetObjectItem(o, "lines"), 0)->valuestring,
			    "Gold");
	assert_non_null(cJSON_GetObjectItem(o, "time"));
	cJSON_Delete(o);
	assert_non_null(fgets(line, sizeof line, f));
	o = cJSON_Parse(line);
	assert_non_null(o);
	assert_int_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(o, "view"), "points")->valueint,
			 1200);
	cJSON_Delete(o);
	assert_null(fgets(line, sizeof line, f));
	fclose(f);
	/* explicit save elsewhere */
	snprintf(path, sizeof path, "%s/again.jsonl", dir);
	assert_int_equal(hal_display_save(d, path), 0);
	assert_int_equal(access(path, R_OK), 0);
	assert_int_equal(hal_display_save(d, "/nonexistent-dir/x"), RG_ERR_IO);
	hal_display_close(d);
	tu_rmtree(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(records_views_in_order_and_wraps),
	    cmocka_unit_test(invalid_views_are_refused),
	    cmocka_unit_test(writes_frames_as_json_lines),
	};
	rg_log_set_level(RG_LOG_OFF);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
