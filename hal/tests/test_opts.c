/* test_opts.c - the backend option-string parser: what it accepts, and that
 * every malformed string is refused as RG_ERR_CONFIG. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/err.h"
#include "common/log.h"

#include "core/opts.h"

static const char *const keys[] = {"path", "baud", "grab", "layout", NULL};

static void parses_pairs_with_whitespace(void **state)
{
	struct hal__opts o;
	long baud;
	bool grab;
	int layout;
	static const char *const layouts[] = {"us", "de", NULL};
	(void)state;
	assert_int_equal(
	    hal__opts_parse(&o, "reader", "t", " path = /dev/ttyS0 , baud=19200,grab=off", keys),
	    0);
	assert_string_equal(hal__opts_str(&o, "path", NULL), "/dev/ttyS0");
	assert_int_equal(hal__opts_int(&o, "baud", 1, 100000, 9600, &baud), 0);
	assert_int_equal(baud, 19200);
	assert_int_equal(hal__opts_bool(&o, "grab", true, &grab), 0);
	assert_false(grab);
	assert_int_equal(hal__opts_choice(&o, "layout", layouts, 1, &layout), 0);
	assert_int_equal(layout, 1); /* absent: default */
	assert_null(hal__opts_str(&o, "nope", NULL));
}

static void empty_and_null_mean_defaults(void **state)
{
	struct hal__opts o;
	long v;
	(void)state;
	assert_int_equal(hal__opts_parse(&o, "reader", "t", NULL, keys), 0);
	assert_int_equal(o.n, 0);
	assert_int_equal(hal__opts_parse(&o, "reader", "t", "", keys), 0);
	assert_int_equal(hal__opts_parse(&o, "reader", "t", "  ", keys), 0);
	assert_int_equal(hal__opts_int(&o, "baud", 1, 10, 7, &v), 0);
	assert_int_equal(v, 7);
}

static void malformed_strings_are_config_errors(void **state)
{
	static const char *const bad[] = {
	    "path",	      /* no '=' */
	    "colour=red",     /* unknown key */
	    "path=a,path=b",  /* twice */
	    "path=a,",	      /* trailing comma */
	    ",path=a",	      /* leading comma */
	    "path=a,,baud=1", /* empty option */
	    "=x",	      /* empty key */
	};
	struct hal__opts o;
	(void)state;
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		assert_int_equal(hal__opts_parse(&o, "reader", "t", bad[i], keys), RG_ERR_CONFIG);
}

static void values_are_checked(void **state)
{
	static const char *const layouts[] = {"us", "de", NULL};
	struct hal__opts o;
	long v;
	bool b;
	int c;
	(void)state;
	assert_int_equal(hal__opts_parse(&o, "reader", "t", "baud=12x,grab=maybe,layout=fr", keys),
			 0);
	assert_int_equal(hal__opts_int(&o, "baud", 1, 100, 5, &v), RG_ERR_CONFIG);
	assert_int_equal(hal__opts_bool(&o, "grab", true, &b), RG_ERR_CONFIG);
	assert_int_equal(hal__opts_choice(&o, "layout", layouts, 0, &c), RG_ERR_CONFIG);
	assert_int_equal(hal__opts_parse(&o, "reader", "t", "baud=101", keys), 0);
	assert_int_equal(hal__opts_int(&o, "baud", 1, 100, 5, &v), RG_ERR_CONFIG);
	assert_int_equal(hal__opts_parse(&o, "reader", "t", "baud=", keys), 0);
	assert_int_equal(hal__opts_int(&o, "baud", 1, 100, 5, &v), RG_ERR_CONFIG);
}

static void limits_on_size_and_count(void **state)
{
	static const char *const many[] = {"a", "b", "c", "d", "e", "f", "g", "h", "i",
					   "j", "k", "l", "m", "n", "o", "p", "q", NULL};
	char big[HAL__OPTS_TEXT_MAX + 16];
	struct hal__opts o;
	(void)state;
	memset(big, 'x', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	memcpy(big, "path=", 5);
	assert_int_equal(hal__opts_parse(&o, "reader", "t", big, keys), RG_ERR_CONFIG);
	assert_int_equal(hal__opts_parse(&o, "reader", "t",
					 "a=1,b=1,c=1,d=1,e=1,f=1,g=1,h=1,i=1,j=1,k=1,l=1,m=1,n=1,"
					 "o=1,p=1",
					 many),
			 0);
	assert_int_equal(hal__opts_parse(&o, "reader", "t",
					 "a=1,b=1,c=1,d=1,e=1,f=1,g=1,h=1,i=1,j=1,k=1,l=1,m=1,n=1,"
					 "o=1,p=1,q=1",
					 many),
			 RG_ERR_CONFIG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(parses_pairs_with_whitespace),
	    cmocka_unit_test(empty_and_null_mean_defaults),
	    cmocka_unit_test(malformed_strings_are_config_errors),
	    cmocka_unit_test(values_are_checked),
	    cmocka_unit_test(limits_on_size_and_count),
	};
	rg_log_set_level(RG_LOG_OFF);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
