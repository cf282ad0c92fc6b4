/*
 * test_json.c - bounded parsing and typed getters: required fields have no
 * silent defaults, nothing is coerced, and errors name the key and the limit.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/err.h"
#include "common/json.h"

static cJSON *parse(const char *s)
{
	cJSON *j = NULL;
	char err[RG_JSON_ERR_MAX];
	assert_int_equal(rg_json_parse(s, strlen(s), 65536, &j, err, sizeof err), 0);
	return j;
}

static void parse_bounds(void **state)
{
	cJSON *j;
	char err[RG_JSON_ERR_MAX];
	char deep[200];
	(void)state;
	assert_int_equal(rg_json_parse("{\"a\":1}  \n", 10, 100, &j, err, sizeof err), 0);
	cJSON_Delete(j);
	assert_int_equal(rg_json_parse("{\"a\":1} x", 9, 100, &j, err, sizeof err), RG_ERR_PARSE);
	assert_null(j);
	assert_non_null(strstr(err, "after the JSON value"));
	assert_int_equal(rg_json_parse("{\"a\":}", 6, 100, &j, err, sizeof err), RG_ERR_PARSE);
	assert_non_null(strstr(err, "syntax error at byte"));
	assert_int_equal(rg_json_parse("{\"a\":1}", 7, 6, &j, err, sizeof err), RG_ERR_TOOBIG);
	/* Only len bytes are parsed: a valid prefix followed by more is refused. */
	assert_int_equal(rg_json_parse("[1,2]", 3, 100, &j, err, sizeof err), RG_ERR_PARSE);
	/* Nesting is capped before cJSON recurses. */
	memset(deep, '[', 40);
	memset(deep + 40, ']', 40);
	assert_int_equal(rg_json_parse(deep, 80, 1000, &j, err, sizeof err), RG_ERR_PARSE);
	assert_non_null(strstr(err, "nested deeper"));
	/* Brackets inside strings do not count. */
	assert_int_equal(rg_json_parse("{\"a\":\"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\\\"\"}", 47, 1000,
				       &j, err, sizeof err), 0);
	cJSON_Delete(j);
	/* An embedded NUL byte is not whitespace. */
	assert_int_equal(rg_json_parse("{}\0", 3, 100, &j, err, sizeof err), RG_ERR_PARSE);
}

static void required_fields_have_no_defaults(void **state)
{
	cJSON *j = parse("{\"name\":\"Anna\",\"n\":3,\"b\":true,\"o\":{},\"s\":\"\"}");
	const char *s = NULL;
	int64_t i = 0;
	bool b = false;
	char err[RG_JSON_ERR_MAX];
	(void)state;
	assert_int_equal(rg_json_req_str(j, "name", 16, &s, err, sizeof err), 0);
	assert_string_equal(s, "Anna");
	assert_int_equal(rg_json_req_str(j, "missing", 16, &s, err, sizeof err), RG_ERR_MISSING);
	assert_null(s);
	assert_string_equal(err, "key \"missing\": required but missing");
	assert_int_equal(rg_json_req_str(j, "s", 16, &s, err, sizeof err), RG_ERR_RANGE);
	assert_int_equal(rg_json_req_str(j, "n", 16, &s, err, sizeof err), RG_ERR_TYPE);
	assert_string_equal(err, "key \"n\": expected a string, got number");
	assert_int_equal(rg_json_req_str(j, "name", 3, &s, err, sizeof err), RG_ERR_RANGE);
	assert_int_equal(rg_json_req_bool(j, "b", &b, err, sizeof err), 0);
	assert_true(b);
	assert_int_equal(rg_json_req_int(j, "b", 0, 10, &i, err, sizeof err), RG_ERR_TYPE);
	assert_int_equal(rg_json_req_bool(j, "missing", &b, err, sizeof err), RG_ERR_MISSING);
	cJSON_Delete(j);
}

static void optional_fields_keep_default_but_refuse_wrong_types(void **state)
{
	cJSON *j = parse("{\"n\":\"7\",\"m\":5}");
	int64_t i = 99;
	const char *s = "default";
	char err[RG_JSON_ERR_MAX];
	(void)state;
	assert_int_equal(rg_json_opt_int(j, "absent", 0, 10, &i, err, sizeof err), 0);
	assert_int_equal(i, 99);
	assert_int_equal(rg_json_opt_int(j, "n", 0, 10, &i, err, sizeof err), RG_ERR_TYPE);
	assert_int_equal(i, 99);
	assert_int_equal(rg_json_opt_int(j, "m", 0, 10, &i, err, sizeof err), 0);
	assert_int_equal(i, 5);
	assert_int_equal(rg_json_opt_str(j, "absent", 10, &s, err, sizeof err), 0);
	assert_string_equal(s, "default");
	/* An optional object has no default: absent is NULL, whatever was there
	 * (fuzz_cloud_import_line found an uninitialised pointer used). */
	const cJSON *o = (const cJSON *)j;
	assert_int_equal(rg_json_opt_obj(j, "absent", &o, err, sizeof err), 0);
	assert_null(o);
	o = (const cJSON *)j;
	assert_int_equal(rg_json_opt_obj(j, "m", &o, err, sizeof err), RG_ERR_TYPE);
	assert_null(o);
	cJSON_Delete(j);
}

static void integers_are_whole_and_bounded(void **state)
{
	cJSON *j = parse("{\"cache\":{\"max_profiles\":0},\"f\":1.5,\"big\":1e300,\"neg\":-3,\"e\":1e3}");
	const cJSON *cache;
	int64_t i = 0;
	char err[RG_JSON_ERR_MAX];
	(void)state;
	assert_int_equal(rg_json_req_obj(j, "cache", &cache, err, sizeof err), 0);
	assert_int_equal(rg_json_req_int(cache, "max_profiles", 100, 1000000, &i, err, sizeof err),
			 RG_ERR_RANGE);
	assert_string_equal(err, "key \"max_profiles\": 0 is below the minimum 100");
	assert_int_equal(rg_json_req_int(j, "neg", 0, 5, &i, err, sizeof err), RG_ERR_RANGE);
	assert_string_equal(err, "key \"neg\": -3 is below the minimum 0");
	assert_int_equal(rg_json_req_int(j, "e", 0, 5, &i, err, sizeof err), RG_ERR_RANGE);
	assert_string_equal(err, "key \"e\": 1000 is above the maximum 5");
	assert_int_equal(rg_json_req_int(j, "f", 0, 5, &i, err, sizeof err), RG_ERR_TYPE);
	assert_int_equal(rg_json_req_int(j, "big", INT64_MIN, INT64_MAX, &i, err, sizeof err),
			 RG_ERR_TYPE);
	double d;
	assert_int_equal(rg_json_req_double(j, "f", 0, 2, &d, err, sizeof err), 0);
	assert_true(d == 1.5);
	/* A getter on something that is not an object fails cleanly. */
	assert_int_equal(rg_json_req_int(cache->child, "x", 0, 1, &i, err, sizeof err), RG_ERR_TYPE);
	cJSON_Delete(j);
}

static void unknown_keys_are_errors(void **state)
{
	static const char *const allowed[] = {"greeting", "log_level", NULL};
	cJSON *j = parse("{\"greeting\":\"hi\",\"log_levle\":\"info\"}");
	char err[RG_JSON_ERR_MAX];
	(void)state;
	assert_int_equal(rg_json_check_keys(j, allowed, err, sizeof err), RG_ERR_PARSE);
	assert_string_equal(err, "unknown key \"log_levle\"");
	cJSON_Delete(j);
	j = parse("{\"greeting\":\"hi\"}");
	assert_int_equal(rg_json_check_keys(j, allowed, err, sizeof err), 0);
	cJSON_Delete(j);
}

static void arrays_are_bounded(void **state)
{
	cJSON *j = parse("{\"a\":[1,2,3]}");
	const cJSON *a;
	char err[RG_JSON_ERR_MAX];
	(void)state;
	assert_int_equal(rg_json_req_arr(j, "a", 3, &a, err, sizeof err), 0);
	assert_int_equal(rg_json_req_arr(j, "a", 2, &a, err, sizeof err), RG_ERR_RANGE);
	assert_null(a);
	cJSON_Delete(j);
}

static void utf8_validation(void **state)
{
	(void)state;
	assert_true(rg_utf8_valid("Zoë 😀", strlen("Zoë 😀")));
	assert_false(rg_utf8_valid("\xc3", 1));             /* truncated */
	assert_false(rg_utf8_valid("\xc0\xaf", 2));         /* overlong */
	assert_false(rg_utf8_valid("\xed\xa0\x80", 3));     /* surrogate */
	assert_false(rg_utf8_valid("\xf4\x90\x80\x80", 4)); /* > U+10FFFF */
	assert_false(rg_utf8_valid("\xff", 1));
	assert_false(rg_utf8_valid("a\x80", 2));
	cJSON *j = parse("{\"s\":\"\xff\xfe\"}");
	const char *s;
	char err[RG_JSON_ERR_MAX];
	assert_int_equal(rg_json_req_str(j, "s", 10, &s, err, sizeof err), RG_ERR_PARSE);
	cJSON_Delete(j);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(parse_bounds),
		cmocka_unit_test(required_fields_have_no_defaults),
		cmocka_unit_test(optional_fields_keep_default_but_refuse_wrong_types),
		cmocka_unit_test(integers_are_whole_and_bounded),
		cmocka_unit_test(unknown_keys_are_errors),
		cmocka_unit_test(arrays_are_bounded),
		cmocka_unit_test(utf8_validation),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
