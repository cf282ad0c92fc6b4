/*
 * test_loyalty.c - loyalty ids, table-driven: EAN-13 and UPC-A check digits
 * (UPC-A canonicalised to EAN-13), Luhn, prefix+length patterns, refusal
 * reasons for wrong check digits, short, long and foreign input, and
 * magstripe track 1/2 parsing that never lets the cardholder name through.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "fixture.h"

struct lcase {
	enum ident_source src;
	const char *in;
	enum ident_reason why;
	const char *canon; /* when accepted */
};

static void run(struct fx *f, const struct lcase *c, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct ident_result r = fx_text(f, c[i].src, c[i].in);
		char what[160];
		snprintf(what, sizeof what, "case %zu \"%s\"", i, c[i].in);
		if (c[i].why == IDENT_OK) {
			fx_assert_ok(f, &r, IDENT_TYPE_LOYALTY, c[i].canon);
		} else {
			fx_assert_refused(&r, c[i].why, what);
			assert_int_equal(r.type, IDENT_TYPE_LOYALTY);
			assert_string_equal(f->canon, "");
		}
	}
}

/* Rules: ean13, upca, luhn 16..19, pattern "29" 13 digits, pattern alnum "RG" 8..10. */
static void use_broad_rules(struct fx *f)
{
	struct ident_config *c = &f->cfg;
	c->loyalty.n_rules = 5;
	c->loyalty.rules[2] =
	    (struct ident_loyalty_rule){.kind = IDENT_LOYALTY_LUHN, .min_len = 16, .max_len = 19};
	c->loyalty.rules[3] = (struct ident_loyalty_rule){
	    .kind = IDENT_LOYALTY_PATTERN, .min_len = 13, .max_len = 13, .prefix = "29"};
	c->loyalty.rules[4] = (struct ident_loyalty_rule){.kind = IDENT_LOYALTY_PATTERN,
							  .charset = IDENT_CHARSET_ALNUM,
							  .min_len = 8,
							  .max_len = 10,
							  .prefix = "RG"};
	fx_reopen(f);
}

static void default_rules_ean13_and_upca(void **state)
{
	static const struct lcase cases[] = {
	    {IDENT_SRC_BARCODE, "4006381333931", IDENT_OK, "4006381333931"},
	    {IDENT_SRC_QR, "4006381333931", IDENT_OK, "4006381333931"},
	    {IDENT_SRC_BARCODE, "5901234123457", IDENT_OK, "5901234123457"},
	    {IDENT_SRC_BARCODE, "4006381333932", IDENT_BAD_CHECK_DIGIT, NULL},
	    {IDENT_SRC_BARCODE, "5901234123450", IDENT_BAD_CHECK_DIGIT, NULL},
	    {IDENT_SRC_BARCODE, "036000291452", IDENT_OK, "0036000291452"},
	    {IDENT_SRC_BARCODE, "0036000291452", IDENT_OK, "0036000291452"},
	    /* a 12-digit string failing UPC-A is not tried as anything else */
	    {IDENT_SRC_BARCODE, "036000291453", IDENT_BAD_CHECK_DIGIT, NULL},
	    {IDENT_SRC_BARCODE, "40063813339", IDENT_TOO_SHORT, NULL},
	    {IDENT_SRC_BARCODE, "4", IDENT_TOO_SHORT, NULL},
	    {IDENT_SRC_BARCODE, "40063813339310", IDENT_TOO_LONG, NULL},
	    {IDENT_SRC_BARCODE, "400638133393100000000000000000000", IDENT_TOO_LONG, NULL},
	    {IDENT_SRC_BARCODE, "400638133393A", IDENT_BAD_CHARSET, NULL},
	    {IDENT_SRC_BARCODE, "4006381333931 ", IDENT_BAD_CHARSET, NULL},
	    {IDENT_SRC_BARCODE, " 4006381333931", IDENT_BAD_CHARSET, NULL},
	    {IDENT_SRC_BARCODE, "4006-381333931", IDENT_BAD_CHARSET, NULL},
	};
	run(*state, cases, sizeof cases / sizeof cases[0]);
}

static void upca_and_its_ean13_form_give_one_token(void **state)
{
	struct fx *f = *state;
	struct ident_result a = fx_text(f, IDENT_SRC_BARCODE, "036000291452");
	struct ident_result b = fx_text(f, IDENT_SRC_BARCODE, "0036000291452");
	assert_int_equal(a.reason, IDENT_OK);
	assert_int_equal(b.reason, IDENT_OK);
	assert_memory_equal(a.token, b.token, RG_TOKEN_LEN);
}

static void luhn_and_pattern_rules(void **state)
{
	static const struct lcase cases[] = {
	    {IDENT_SRC_BARCODE, "4111111111111111", IDENT_OK, "4111111111111111"},
	    {IDENT_SRC_BARCODE, "6011000990139424", IDENT_OK, "6011000990139424"},
	    {IDENT_SRC_BARCODE, "4111111111111112", IDENT_BAD_CHECK_DIGIT, NULL},
	    {IDENT_SRC_BARCODE, "6011000990139425", IDENT_BAD_CHECK_DIGIT, NULL},
	    /* 13 digits, "29": a valid EAN-13 is taken by the ean13 rule ... */
	    {IDENT_SRC_BARCODE, "2912345678906", IDENT_OK, "2912345678906"},
	    /* ... and a wrong EAN check digit still matches the configured pattern */
	    {IDENT_SRC_BARCODE, "2912345678901", IDENT_OK, "2912345678901"},
	    /* no pattern for "39": the EAN check digit decides */
	    {IDENT_SRC_BARCODE, "3912345678901", IDENT_BAD_CHECK_DIGIT, NULL},
	    {IDENT_SRC_BARCODE, "036000291453", IDENT_BAD_CHECK_DIGIT, NULL},
	    {IDENT_SRC_BARCODE, "RG12345678", IDENT_OK, "RG12345678"},
	    {IDENT_SRC_BARCODE, "RGA1B2C3", IDENT_OK, "RGA1B2C3"},
	    {IDENT_SRC_BARCODE, "rg12345678", IDENT_BAD_CHARSET, NULL},
	    {IDENT_SRC_BARCODE, "RG1234", IDENT_TOO_SHORT, NULL},
	    {IDENT_SRC_BARCODE, "RG123456789", IDENT_TOO_LONG, NULL},
	    {IDENT_SRC_BARCODE, "XY12345678", IDENT_NO_MATCH, NULL},
	    {IDENT_SRC_BARCODE, "123", IDENT_TOO_SHORT, NULL},
	    {IDENT_SRC_BARCODE, "2", IDENT_TOO_SHORT, NULL},
	    {IDENT_SRC_BARCODE, "12345678901234567890123", IDENT_TOO_LONG, NULL},
	    /* 14 and 15 digits fall between the rules: no rule, no guess */
	    {IDENT_SRC_BARCODE, "12345678901234", IDENT_NO_MATCH, NULL},
	};
	struct fx *f = *state;
	use_broad_rules(f);
	run(f, cases, sizeof cases / sizeof cases[0]);
}

static void rule_order_and_prefix_restrict(void **state)
{
	struct fx *f = *state;
	struct ident_result r;
	/* only in-store EAN-13 numbers (prefix "2") are loyalty cards */
	f->cfg.loyalty.n_rules = 1;
	f->cfg.loyalty.rules[0] = (struct ident_loyalty_rule){
	    .kind = IDENT_LOYALTY_EAN13, .min_len = 13, .max_len = 13, .prefix = "2"};
	fx_reopen(f);
	r = fx_text(f, IDENT_SRC_BARCODE, "2912345678906");
	fx_assert_ok(f, &r, IDENT_TYPE_LOYALTY, "2912345678906");
	r = fx_text(f, IDENT_SRC_BARCODE, "4006381333931"); /* a product barcode */
	fx_assert_refused(&r, IDENT_NO_MATCH, "product EAN with prefix rule");
	r = fx_text(f, IDENT_SRC_BARCODE, "036000291452");
	fx_assert_refused(&r, IDENT_NO_MATCH, "UPC-A without upca rule");
}

static void magstripe_tracks(void **state)
{
	static const struct lcase cases[] = {
	    {IDENT_SRC_MAGSTRIPE, "%B4111111111111111^DOE/JOHN^2512101000000000000?", IDENT_OK,
	     "4111111111111111"},
	    {IDENT_SRC_MAGSTRIPE, ";4111111111111111=25121010000000000000?", IDENT_OK,
	     "4111111111111111"},
	    {IDENT_SRC_MAGSTRIPE, ";4111111111111111?", IDENT_OK, "4111111111111111"},
	    {IDENT_SRC_MAGSTRIPE,
	     "%B4111111111111111^DOE/JOHN^2512101000000000000?;4111111111111111=2512101?", IDENT_OK,
	     "4111111111111111"},
	    {IDENT_SRC_MAGSTRIPE, ";4111111111111111=2512101?;011234567890123=1234?", IDENT_OK,
	     "4111111111111111"},
	    /* a keyboard-wedge magstripe reader types the tracks as barcode text */
	    {IDENT_SRC_BARCODE, "%B4111111111111111^DOE/JOHN^2512101?", IDENT_OK,
	     "4111111111111111"},
	    {IDENT_SRC_BARCODE, ";2912345678906?", IDENT_OK, "2912345678906"},
	    {IDENT_SRC_MAGSTRIPE, "%B4111111111111112^DOE/JOHN^2512?", IDENT_BAD_CHECK_DIGIT, NULL},
	    {IDENT_SRC_MAGSTRIPE, "%B4111111111111111^DOE/JOHN^2512?;5500005555555559=2512?",
	     IDENT_MAGSTRIPE_MALFORMED, NULL},
	    {IDENT_SRC_MAGSTRIPE, "%E?", IDENT_MAGSTRIPE_MALFORMED, NULL},
	    {IDENT_SRC_MAGSTRIPE, ";E?", IDENT_MAGSTRIPE_MALFORMED, NULL},
	    {IDENT_SRC_MAGSTRIPE, "%A4111111111111111^DOE/JOHN^2512?", IDENT_MAGSTRIPE_MALFORMED,
	     NULL},
	    {IDENT_SRC_MAGSTRIPE, "%B4111111111111111^DOE/JOHN", IDENT_MAGSTRIPE_MALFORMED, NULL},
	    {IDENT_SRC_MAGSTRIPE, "%B4111111111111111^DOE/JOHN^2512", IDENT_MAGSTRIPE_MALFORMED,
	     NULL},
	    {IDENT_SRC_MAGSTRIPE, ";4111111111111111=2512", IDENT_MAGSTRIPE_MALFORMED, NULL},
	    {IDENT_SRC_MAGSTRIPE, "%B^DOE/JOHN^2512?", IDENT_MAGSTRIPE_MALFORMED, NULL},
	    {IDENT_SRC_MAGSTRIPE, ";41111111111111111111=2512?", IDENT_MAGSTRIPE_MALFORMED, NULL},
	    {IDENT_SRC_MAGSTRIPE, "%B4111111111111111^ABCDEFGHIJKLMNOPQRSTUVWXYZA^2512?",
	     IDENT_MAGSTRIPE_MALFORMED, NULL},
	    {IDENT_SRC_MAGSTRIPE, "%B4111111111111111^doe/john^2512?", IDENT_MAGSTRIPE_MALFORMED,
	     NULL},
	    {IDENT_SRC_MAGSTRIPE, ";4111111111111111=2512?x", IDENT_MAGSTRIPE_MALFORMED, NULL},
	    {IDENT_SRC_MAGSTRIPE, ";4111111111111111=2512?;?", IDENT_MAGSTRIPE_MALFORMED, NULL},
	    {IDENT_SRC_MAGSTRIPE, "4111111111111111", IDENT_MAGSTRIPE_MALFORMED, NULL},
	    {IDENT_SRC_MAGSTRIPE, "", IDENT_TOO_SHORT, NULL},
	};
	struct fx *f = *state;
	use_broad_rules(f);
	run(f, cases, sizeof cases / sizeof cases[0]);
}

static void magstripe_name_never_reaches_the_canonical_value(void **state)
{
	struct fx *f = *state;
	struct ident_result a, b;
	use_broad_rules(f);
	a = fx_text(f, IDENT_SRC_MAGSTRIPE, "%B4111111111111111^DOE/JOHN Q^2512101000000000000?");
	fx_assert_ok(f, &a, IDENT_TYPE_LOYALTY, "4111111111111111");
	assert_null(strstr(f->canon, "DOE"));
	/* same PAN, another name: same identifier, same token */
	b = fx_text(f, IDENT_SRC_MAGSTRIPE, "%B4111111111111111^ROE/JANE^2512101000000000000?");
	assert_int_equal(b.reason, IDENT_OK);
	assert_memory_equal(a.token, b.token, RG_TOKEN_LEN);
	/* and the same as the number scanned from a barcode */
	b = fx_text(f, IDENT_SRC_BARCODE, "4111111111111111");
	assert_memory_equal(a.token, b.token, RG_TOKEN_LEN);
}

static void magstripe_and_loyalty_can_be_disabled(void **state)
{
	struct fx *f = *state;
	struct ident_result r;
	f->cfg.loyalty.magstripe = false;
	fx_reopen(f);
	r = fx_text(f, IDENT_SRC_MAGSTRIPE, ";4006381333931?");
	fx_assert_refused(&r, IDENT_TYPE_DISABLED, "magstripe disabled");
	r = fx_text(f, IDENT_SRC_BARCODE, "4006381333931");
	assert_int_equal(r.reason, IDENT_OK);
	f->cfg.loyalty.enabled = false;
	fx_reopen(f);
	r = fx_text(f, IDENT_SRC_BARCODE, "4006381333931");
	fx_assert_refused(&r, IDENT_TYPE_DISABLED, "loyalty disabled");
	assert_int_equal(r.type, IDENT_TYPE_LOYALTY);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(default_rules_ean13_and_upca, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(upca_and_its_ean13_form_give_one_token, fx_setup,
					    fx_teardown),
	    cmocka_unit_test_setup_teardown(luhn_and_pattern_rules, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(rule_order_and_prefix_restrict, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(magstripe_tracks, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(magstripe_name_never_reaches_the_canonical_value,
					    fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(magstripe_and_loyalty_can_be_disabled, fx_setup,
					    fx_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
