/* test_log.c - one key=value line per event, level filtering, quoting. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "common/log.h"

static FILE *out;

static int setup(void **state)
{
	(void)state;
	out = tmpfile();
	rg_log_set_stream(out);
	rg_log_set_level(RG_LOG_DEBUG);
	return out ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	rg_log_set_stream(NULL);
	rg_log_set_level(RG_LOG_INFO);
	fclose(out);
	return 0;
}

static size_t slurp(char *buf, size_t cap)
{
	fflush(out);
	rewind(out);
	size_t n = fread(buf, 1, cap - 1, out);
	buf[n] = '\0';
	return n;
}

static int count_lines(const char *s)
{
	int n = 0;
	for (; *s; s++)
		n += *s == '\n';
	return n;
}

static void event_line_has_fields(void **state)
{
	char buf[4096];
	(void)state;
	rg_log(RG_LOG_WARN, "reader", "reopen", "connstring=%s attempt=%d", "pn532_uart:x", 2);
	slurp(buf, sizeof buf);
	assert_int_equal(count_lines(buf), 1);
	assert_true(strncmp(buf, "ts=", 3) == 0);
	assert_non_null(strstr(buf, " level=warn comp=reader event=reopen connstring=pn532_uart:x attempt=2\n"));
}

static void level_filters(void **state)
{
	char buf[4096];
	(void)state;
	rg_log_set_level(RG_LOG_WARN);
	rg_info("x", "dropped", "a=1");
	rg_error("x", "kept", "a=2");
	slurp(buf, sizeof buf);
	assert_null(strstr(buf, "dropped"));
	assert_non_null(strstr(buf, "event=kept"));
	assert_int_equal(rg_log_level_parse("ERROR"), RG_LOG_ERROR);
	assert_true(rg_log_level_parse("loud") < 0);
}

static void one_event_is_one_line_even_with_newlines(void **state)
{
	char buf[4096];
	(void)state;
	rg_info("x", "evil", "value=%s", "a\nlevel=error forged\r\n");
	slurp(buf, sizeof buf);
	assert_int_equal(count_lines(buf), 1);
}

static void quote_escapes_untrusted_values(void **state)
{
	char q[64];
	(void)state;
	assert_string_equal(rg_log_quote(q, sizeof q, "bare-word_1.2"), "bare-word_1.2");
	assert_string_equal(rg_log_quote(q, sizeof q, "two words"), "\"two words\"");
	assert_string_equal(rg_log_quote(q, sizeof q, "a\"b\\c\nd\x01"), "\"a\\\"b\\\\c\\nd\\x01\"");
	assert_string_equal(rg_log_quote(q, sizeof q, ""), "\"\"");
	char small[12];
	rg_log_quote(small, sizeof small, "a very long value with spaces");
	assert_true(strlen(small) < sizeof small);
	assert_non_null(strstr(small, "...\""));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(event_line_has_fields, setup, teardown),
		cmocka_unit_test_setup_teardown(level_filters, setup, teardown),
		cmocka_unit_test_setup_teardown(one_event_is_one_line_even_with_newlines, setup, teardown),
		cmocka_unit_test(quote_escapes_untrusted_values),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
