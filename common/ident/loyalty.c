/*
 * loyalty.c - loyalty ids against the configured rules: EAN-13 and UPC-A
 * (GS1 check digit; UPC-A canonicalised to its EAN-13 form), Luhn, and
 * prefix+length patterns. Rules are tried in order; a string no rule accepts
 * is refused with the most specific reason, never reinterpreted.
 */
#include <string.h>

#include "common/crypto.h"
#include "ident_internal.h"

static int is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static int in_charset(enum ident_charset cs, char c)
{
	return is_digit(c) || (cs == IDENT_CHARSET_ALNUM && c >= 'A' && c <= 'Z');
}

static int all_in(enum ident_charset cs, const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (!in_charset(cs, s[i]))
			return 0;
	return 1;
}

/* GS1 mod-10 (EAN-13, UPC-A): weights 3,1,3,... from the digit left of the
 * check digit. */
static int gs1_ok(const char *d, size_t n)
{
	unsigned sum = 0;
	for (size_t i = 0; i + 1 < n; i++) {
		unsigned v = (unsigned)(d[n - 2 - i] - '0');
		sum += (i % 2 == 0) ? 3 * v : v;
	}
	return (10 - sum % 10) % 10 == (unsigned)(d[n - 1] - '0');
}

/* Luhn (ISO/IEC 7812): double every second digit from the right. */
static int luhn_ok(const char *d, size_t n)
{
	unsigned sum = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned v = (unsigned)(d[n - 1 - i] - '0');
		if (i % 2 == 1) {
			v *= 2;
			if (v > 9)
				v -= 9;
		}
		sum += v;
	}
	return sum % 10 == 0;
}

static enum ident_charset rule_charset(const struct ident_loyalty_rule *r)
{
	return r->kind == IDENT_LOYALTY_PATTERN ? r->charset : IDENT_CHARSET_DIGITS;
}

enum ident_reason ident__loyalty(const struct ident_config *cfg, const char *s, size_t len,
				 struct ident__canon *out)
{
	enum ident_reason first_bad = IDENT_OK;
	int any_charset = 0, any_prefix = 0, all_short = 1, all_long = 1;

	out->type = IDENT_TYPE_LOYALTY;
	if (!cfg->loyalty.enabled)
		return IDENT_TYPE_DISABLED;
	if (len == 0)
		return IDENT_TOO_SHORT;
	if (len > IDENT_LOYALTY_LEN_MAX)
		return IDENT_TOO_LONG;

	for (size_t i = 0; i < cfg->loyalty.n_rules; i++) {
		const struct ident_loyalty_rule *r = &cfg->loyalty.rules[i];
		size_t plen = strlen(r->prefix);
		int ok = 0;

		if (!all_in(rule_charset(r), s, len))
			continue;
		any_charset = 1;
		/* an input shorter than the prefix but agreeing with it is "too short" */
		if (memcmp(s, r->prefix, len < plen ? len : plen) != 0)
			continue;
		any_prefix = 1;
		if (len < r->min_len) {
			all_long = 0;
			continue;
		}
		if (len > r->max_len) {
			all_short = 0;
			continue;
		}
		all_short = all_long = 0;
		switch (r->kind) {
		case IDENT_LOYALTY_EAN13:
		case IDENT_LOYALTY_UPCA:
			ok = gs1_ok(s, len);
			break;
		case IDENT_LOYALTY_LUHN:
			ok = luhn_ok(s, len);
			break;
		case IDENT_LOYALTY_PATTERN:
			ok = 1;
			break;
		}
		if (!ok) {
			if (first_bad == IDENT_OK)
				first_bad = IDENT_BAD_CHECK_DIGIT;
			continue;
		}
		if (r->kind == IDENT_LOYALTY_UPCA) {
			char ean[13];
			int rc;
			ean[0] = '0';
			memcpy(ean + 1, s, 12);
			rc = ident__canon_set(out, IDENT_TYPE_LOYALTY, ean, 13);
			rg_wipe(ean, sizeof ean);
			return rc < 0 ? IDENT_TOO_LONG : IDENT_OK;
		}
		return ident__canon_set(out, IDENT_TYPE_LOYALTY, s, len) < 0 ? IDENT_TOO_LONG
									     : IDENT_OK;
	}
	if (first_bad != IDENT_OK)
		return first_bad;
	if (!any_charset)
		return IDENT_BAD_CHARSET;
	if (!any_prefix)
		return IDENT_NO_MATCH;
	if (all_short)
		return IDENT_TOO_SHORT;
	if (all_long)
		return IDENT_TOO_LONG;
	return IDENT_NO_MATCH;
}
