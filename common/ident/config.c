/*
 * config.c - the pipeline's configuration: defaults, validation (the same
 * rules for a struct built in code and for JSON), and the parser from a
 * cJSON object that the device config embeds. Unknown keys are errors.
 * Schema: docs/identifiers.md ("Configuration").
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common/codec.h"
#include "common/err.h"
#include "common/json.h"
#include "ident_internal.h"

#define SKEW_MAX_S 3600
#define LIFETIME_MAX_S 86400
#define KEY_TEXT_MAX 1024

void ident_config_default(struct ident_config *c)
{
	memset(c, 0, sizeof *c);
	c->loyalty.enabled = true;
	c->loyalty.magstripe = true;
	c->loyalty.n_rules = 2;
	c->loyalty.rules[0] =
	    (struct ident_loyalty_rule){.kind = IDENT_LOYALTY_EAN13, .min_len = 13, .max_len = 13};
	c->loyalty.rules[1] =
	    (struct ident_loyalty_rule){.kind = IDENT_LOYALTY_UPCA, .min_len = 12, .max_len = 12};
	c->nfc_uid.enabled = true;
	c->nfc_ndef.enabled = true;
	c->qr.enabled = true;
	c->qr.n_prefixes = 1;
	memcpy(c->qr.prefixes[0], "RGM1:", 6);
	c->qr.min_len = 1;
	c->qr.max_len = IDENT_CANON_MAX;
	c->app_token.enabled = true;
	c->app_token.skew_s = IDENT_TOKEN_SKEW_DEFAULT;
	c->app_token.max_lifetime_s = IDENT_TOKEN_LIFETIME_DEFAULT;
	c->totp.enabled = true;
	memcpy(c->totp.prefix, IDENT_TOTP_PREFIX_DEFAULT, sizeof IDENT_TOTP_PREFIX_DEFAULT);
	c->totp.alg = IDENT_TOTP_SHA1;
	c->totp.digits = 6;
	c->totp.period_s = 30;
	c->totp.window = 1;
}

static int fail(char *err, size_t errcap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(char *err, size_t errcap, const char *fmt, ...)
{
	if (err && errcap) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, errcap, fmt, ap);
		va_end(ap);
	}
	return RG_ERR_CONFIG;
}

static int terminated(const char *s, size_t size)
{
	return memchr(s, '\0', size) != NULL;
}

/* A text prefix: 1..IDENT_PREFIX_MAX printable ASCII characters, no space. */
static int text_prefix_ok(const char *p, size_t size)
{
	size_t n;
	if (!terminated(p, size))
		return 0;
	n = strlen(p);
	if (n == 0 || n > IDENT_PREFIX_MAX)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (p[i] <= 0x20 || p[i] >= 0x7f)
			return 0;
	return 1;
}

static int overlaps(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	return !memcmp(a, b, la < lb ? la : lb);
}

static int rule_ok(const struct ident_loyalty_rule *r, size_t i, char *err, size_t errcap)
{
	size_t plen;
	unsigned lo = 1, hi = IDENT_LOYALTY_LEN_MAX;

	switch (r->kind) {
	case IDENT_LOYALTY_EAN13:
		lo = hi = 13;
		break;
	case IDENT_LOYALTY_UPCA:
		lo = hi = 12;
		break;
	case IDENT_LOYALTY_LUHN:
		lo = 2;
		break;
	case IDENT_LOYALTY_PATTERN:
		break;
	default:
		return fail(err, errcap, "loyalty.rules[%zu]: unknown kind %d", i, (int)r->kind);
	}
	if (r->charset != IDENT_CHARSET_DIGITS &&
	    (r->kind != IDENT_LOYALTY_PATTERN || r->charset != IDENT_CHARSET_ALNUM))
		return fail(err, errcap, "loyalty.rules[%zu]: charset is only for kind pattern", i);
	if (r->min_len < lo || r->max_len > hi || r->min_len > r->max_len)
		return fail(err, errcap,
			    "loyalty.rules[%zu]: length %u..%u is outside %u..%u (or min > max)", i,
			    r->min_len, r->max_len, lo, hi);
	if (!terminated(r->prefix, sizeof r->prefix))
		return fail(err, errcap, "loyalty.rules[%zu]: prefix is not terminated", i);
	plen = strlen(r->prefix);
	if (plen > r->min_len)
		return fail(err, errcap,
			    "loyalty.rules[%zu]: prefix of %zu is longer than min_len %u", i, plen,
			    r->min_len);
	for (size_t k = 0; k < plen; k++) {
		char c = r->prefix[k];
		if (!((c >= '0' && c <= '9') ||
		      (r->charset == IDENT_CHARSET_ALNUM && c >= 'A' && c <= 'Z')))
			return fail(
			    err, errcap,
			    "loyalty.rules[%zu]: prefix has a character outside the charset", i);
	}
	return 0;
}

int ident_config_validate(const struct ident_config *c, char *err, size_t errcap)
{
	const char *texts[IDENT_QR_PREFIXES_MAX + 4];
	size_t nt = 0;
	int rc;

	if (!c)
		return RG_ERR_INVAL;
	if (c->loyalty.n_rules > IDENT_LOYALTY_RULES_MAX)
		return fail(err, errcap, "loyalty.rules: more than %d", IDENT_LOYALTY_RULES_MAX);
	if (c->loyalty.enabled && c->loyalty.n_rules == 0)
		return fail(err, errcap, "loyalty.rules: empty while loyalty is enabled");
	for (size_t i = 0; i < c->loyalty.n_rules; i++)
		if ((rc = rule_ok(&c->loyalty.rules[i], i, err, errcap)) < 0)
			return rc;

	if (c->nfc_ndef.n_patterns > IDENT_NDEF_PATTERNS_MAX)
		return fail(err, errcap, "nfc_ndef.patterns: more than %d",
			    IDENT_NDEF_PATTERNS_MAX);
	for (size_t i = 0; i < c->nfc_ndef.n_patterns; i++) {
		const struct ident_ndef_pattern *p = &c->nfc_ndef.patterns[i];
		size_t n;
		if (p->field != IDENT_NDEF_FIELD_URI && p->field != IDENT_NDEF_FIELD_TEXT)
			return fail(err, errcap, "nfc_ndef.patterns[%zu]: unknown record", i);
		if (p->as != IDENT_TYPE_LOYALTY && p->as != IDENT_TYPE_NFC_NDEF)
			return fail(err, errcap,
				    "nfc_ndef.patterns[%zu]: \"as\" must be loyalty or nfc_ndef",
				    i);
		if (!terminated(p->prefix, sizeof p->prefix))
			return fail(err, errcap, "nfc_ndef.patterns[%zu]: prefix too long", i);
		n = strlen(p->prefix);
		if (p->field == IDENT_NDEF_FIELD_URI && n == 0)
			return fail(err, errcap, "nfc_ndef.patterns[%zu]: a URI prefix is required",
				    i);
		for (size_t k = 0; k < n; k++)
			if ((unsigned char)p->prefix[k] < 0x20 || p->prefix[k] == 0x7f)
				return fail(err, errcap,
					    "nfc_ndef.patterns[%zu]: control character in prefix",
					    i);
		if (!rg_utf8_valid(p->prefix, n))
			return fail(err, errcap, "nfc_ndef.patterns[%zu]: prefix is not UTF-8", i);
	}

	if (c->qr.n_prefixes > IDENT_QR_PREFIXES_MAX)
		return fail(err, errcap, "qr.prefixes: more than %d", IDENT_QR_PREFIXES_MAX);
	if (c->qr.enabled && c->qr.n_prefixes == 0)
		return fail(err, errcap, "qr.prefixes: empty while qr is enabled");
	for (size_t i = 0; i < c->qr.n_prefixes; i++) {
		if (!text_prefix_ok(c->qr.prefixes[i], sizeof c->qr.prefixes[i]))
			return fail(err, errcap,
				    "qr.prefixes[%zu]: need 1..%d printable ASCII characters", i,
				    IDENT_PREFIX_MAX);
		texts[nt++] = c->qr.prefixes[i];
	}
	if (c->qr.min_len < 1 || c->qr.max_len > IDENT_CANON_MAX || c->qr.min_len > c->qr.max_len)
		return fail(err, errcap, "qr: length %u..%u is outside 1..%d (or min > max)",
			    c->qr.min_len, c->qr.max_len, IDENT_CANON_MAX);

	if (c->app_token.n_keys > IDENT_APP_KEYS_MAX)
		return fail(err, errcap, "app_token.keys: more than %d", IDENT_APP_KEYS_MAX);
	if (c->app_token.skew_s < 0 || c->app_token.skew_s > SKEW_MAX_S)
		return fail(err, errcap, "app_token.skew_s: outside 0..%d", SKEW_MAX_S);
	if (c->app_token.max_lifetime_s < 1 || c->app_token.max_lifetime_s > LIFETIME_MAX_S)
		return fail(err, errcap, "app_token.max_lifetime_s: outside 1..%d", LIFETIME_MAX_S);
	texts[nt++] = IDENT_TOKEN_PREFIX;

	if (!text_prefix_ok(c->totp.prefix, sizeof c->totp.prefix))
		return fail(err, errcap, "totp.prefix: need 1..%d printable ASCII characters",
			    IDENT_PREFIX_MAX);
	texts[nt++] = c->totp.prefix;
	if (c->totp.alg != IDENT_TOTP_SHA1 && c->totp.alg != IDENT_TOTP_SHA256 &&
	    c->totp.alg != IDENT_TOTP_SHA512)
		return fail(err, errcap, "totp.algorithm: unknown");
	if (c->totp.digits < 6 || c->totp.digits > 8)
		return fail(err, errcap, "totp.digits: %u is outside 6..8", c->totp.digits);
	if (c->totp.period_s < 10 || c->totp.period_s > 300)
		return fail(err, errcap, "totp.period_s: %u is outside 10..300", c->totp.period_s);
	if (c->totp.window > 10)
		return fail(err, errcap, "totp.window: %u is above 10", c->totp.window);

	/* text reads are routed by prefix: no prefix may shadow another */
	for (size_t i = 0; i < nt; i++) {
		if (texts[i][0] == '%' || texts[i][0] == ';')
			return fail(err, errcap, "prefix \"%s\" starts like magstripe track text",
				    texts[i]);
		for (size_t k = i + 1; k < nt; k++)
			if (overlaps(texts[i], texts[k]))
				return fail(err, errcap, "prefixes \"%s\" and \"%s\" overlap",
					    texts[i], texts[k]);
	}
	return 0;
}

/* ---- JSON ---- */

struct jctx {
	char *err;
	size_t errcap;
	char inner[RG_JSON_ERR_MAX];
};

static int jfail(struct jctx *j, int rc, const char *path)
{
	if (j->err && j->errcap)
		snprintf(j->err, j->errcap, "%s: %s", path, j->inner);
	return rc;
}

static int get_bool(struct jctx *j, const cJSON *o, const char *path, const char *key, bool *v)
{
	int rc = rg_json_opt_bool(o, key, v, j->inner, sizeof j->inner);
	return rc < 0 ? jfail(j, rc, path) : 0;
}

static int get_int(struct jctx *j, const cJSON *o, const char *path, const char *key, int64_t lo,
		   int64_t hi, int64_t *v)
{
	int rc = rg_json_opt_int(o, key, lo, hi, v, j->inner, sizeof j->inner);
	return rc < 0 ? jfail(j, rc, path) : 0;
}

static int get_uint(struct jctx *j, const cJSON *o, const char *path, const char *key, int64_t lo,
		    int64_t hi, unsigned *v)
{
	int64_t x = *v;
	int rc = rg_json_opt_int(o, key, lo, hi, &x, j->inner, sizeof j->inner);
	if (rc < 0)
		return jfail(j, rc, path);
	*v = (unsigned)x;
	return 0;
}

static int get_str(struct jctx *j, const cJSON *o, const char *path, const char *key, size_t max,
		   char *dst, size_t cap)
{
	const char *s = NULL;
	int rc = rg_json_opt_str(o, key, max, &s, j->inner, sizeof j->inner);
	if (rc < 0)
		return jfail(j, rc, path);
	if (s) {
		size_t n = strlen(s);
		if (n >= cap)
			return fail(j->err, j->errcap, "%s: key \"%s\" is too long", path, key);
		memcpy(dst, s, n + 1);
	}
	return 0;
}

/* An optional array; *arr NULL when absent. */
static int get_arr(struct jctx *j, const cJSON *o, const char *path, const char *key, size_t max,
		   const cJSON **arr)
{
	*arr = NULL;
	if (!cJSON_GetObjectItemCaseSensitive(o, key))
		return 0;
	int rc = rg_json_req_arr(o, key, max, arr, j->inner, sizeof j->inner);
	return rc < 0 ? jfail(j, rc, path) : 0;
}

static int check_keys(struct jctx *j, const cJSON *o, const char *path, const char *const *allowed)
{
	int rc;
	if (!cJSON_IsObject(o))
		return fail(j->err, j->errcap, "%s: not an object", path);
	rc = rg_json_check_keys(o, allowed, j->inner, sizeof j->inner);
	return rc < 0 ? jfail(j, rc, path) : 0;
}

static int enum_of(const char *s, const char *const *names, int *out)
{
	for (int i = 0; names[i]; i++)
		if (!strcmp(s, names[i])) {
			*out = i;
			return 0;
		}
	return -1;
}

static int parse_rule(struct jctx *j, const cJSON *o, const char *path,
		      struct ident_loyalty_rule *r)
{
	static const char *const keys[] = {"kind", "prefix", "min_len", "max_len", "charset", NULL};
	static const char *const kinds[] = {"ean13", "upca", "luhn", "pattern", NULL};
	static const char *const charsets[] = {"digits", "alnum", NULL};
	const char *s;
	int v, rc;

	if ((rc = check_keys(j, o, path, keys)) < 0)
		return rc;
	memset(r, 0, sizeof *r);
	if ((rc = rg_json_req_str(o, "kind", 16, &s, j->inner, sizeof j->inner)) < 0)
		return jfail(j, rc, path);
	if (enum_of(s, kinds, &v) < 0)
		return fail(j->err, j->errcap,
			    "%s: key \"kind\": \"%s\" is not ean13, upca, luhn or pattern", path,
			    s);
	r->kind = (enum ident_loyalty_kind)v;
	switch (r->kind) {
	case IDENT_LOYALTY_EAN13:
		r->min_len = r->max_len = 13;
		break;
	case IDENT_LOYALTY_UPCA:
		r->min_len = r->max_len = 12;
		break;
	case IDENT_LOYALTY_LUHN:
		r->min_len = 16;
		r->max_len = 19;
		break;
	case IDENT_LOYALTY_PATTERN: /* no default length: min_len and max_len required */
		if (!cJSON_GetObjectItemCaseSensitive(o, "min_len") ||
		    !cJSON_GetObjectItemCaseSensitive(o, "max_len"))
			return fail(j->err, j->errcap, "%s: kind pattern needs min_len and max_len",
				    path);
		break;
	}
	if (r->kind == IDENT_LOYALTY_EAN13 || r->kind == IDENT_LOYALTY_UPCA) {
		if (cJSON_GetObjectItemCaseSensitive(o, "min_len") ||
		    cJSON_GetObjectItemCaseSensitive(o, "max_len"))
			return fail(j->err, j->errcap, "%s: %s has a fixed length", path, s);
	}
	if ((rc = get_uint(j, o, path, "min_len", 1, IDENT_LOYALTY_LEN_MAX, &r->min_len)) < 0 ||
	    (rc = get_uint(j, o, path, "max_len", 1, IDENT_LOYALTY_LEN_MAX, &r->max_len)) < 0 ||
	    (rc = get_str(j, o, path, "prefix", IDENT_LOYALTY_LEN_MAX, r->prefix,
			  sizeof r->prefix)) < 0)
		return rc;
	if (cJSON_GetObjectItemCaseSensitive(o, "charset")) {
		if (r->kind != IDENT_LOYALTY_PATTERN)
			return fail(j->err, j->errcap, "%s: charset is only for kind pattern",
				    path);
		if ((rc = rg_json_req_str(o, "charset", 16, &s, j->inner, sizeof j->inner)) < 0)
			return jfail(j, rc, path);
		if (enum_of(s, charsets, &v) < 0)
			return fail(j->err, j->errcap,
				    "%s: key \"charset\": \"%s\" is not digits or alnum", path, s);
		r->charset = (enum ident_charset)v;
	}
	return 0;
}

static int parse_loyalty(struct jctx *j, const cJSON *o, struct ident_config *c)
{
	static const char *const keys[] = {"enabled", "magstripe", "rules", NULL};
	const cJSON *arr, *it;
	int rc;

	if ((rc = check_keys(j, o, "loyalty", keys)) < 0 ||
	    (rc = get_bool(j, o, "loyalty", "enabled", &c->loyalty.enabled)) < 0 ||
	    (rc = get_bool(j, o, "loyalty", "magstripe", &c->loyalty.magstripe)) < 0 ||
	    (rc = get_arr(j, o, "loyalty", "rules", IDENT_LOYALTY_RULES_MAX, &arr)) < 0)
		return rc;
	if (!arr)
		return 0;
	c->loyalty.n_rules = 0;
	cJSON_ArrayForEach(it, arr)
	{
		char path[48];
		snprintf(path, sizeof path, "loyalty.rules[%zu]", c->loyalty.n_rules);
		if ((rc = parse_rule(j, it, path, &c->loyalty.rules[c->loyalty.n_rules])) < 0)
			return rc;
		c->loyalty.n_rules++;
	}
	return 0;
}

static int parse_ndef(struct jctx *j, const cJSON *o, struct ident_config *c)
{
	static const char *const keys[] = {"enabled", "patterns", NULL};
	static const char *const pkeys[] = {"record", "prefix", "as", NULL};
	static const char *const fields[] = {"uri", "text", NULL};
	const cJSON *arr, *it;
	int rc, v;

	if ((rc = check_keys(j, o, "nfc_ndef", keys)) < 0 ||
	    (rc = get_bool(j, o, "nfc_ndef", "enabled", &c->nfc_ndef.enabled)) < 0 ||
	    (rc = get_arr(j, o, "nfc_ndef", "patterns", IDENT_NDEF_PATTERNS_MAX, &arr)) < 0)
		return rc;
	if (!arr)
		return 0;
	c->nfc_ndef.n_patterns = 0;
	cJSON_ArrayForEach(it, arr)
	{
		struct ident_ndef_pattern *p = &c->nfc_ndef.patterns[c->nfc_ndef.n_patterns];
		const char *s;
		char path[48];

		snprintf(path, sizeof path, "nfc_ndef.patterns[%zu]", c->nfc_ndef.n_patterns);
		memset(p, 0, sizeof *p);
		p->as = IDENT_TYPE_LOYALTY;
		if ((rc = check_keys(j, it, path, pkeys)) < 0)
			return rc;
		if ((rc = rg_json_req_str(it, "record", 8, &s, j->inner, sizeof j->inner)) < 0)
			return jfail(j, rc, path);
		if (enum_of(s, fields, &v) < 0)
			return fail(j->err, j->errcap,
				    "%s: key \"record\": \"%s\" is not uri or text", path, s);
		p->field = (enum ident_ndef_field)v;
		if (!cJSON_GetObjectItemCaseSensitive(it, "prefix"))
			return fail(j->err, j->errcap, "%s: key \"prefix\" is required", path);
		if ((rc = get_str(j, it, path, "prefix", IDENT_NDEF_PREFIX_MAX, p->prefix,
				  sizeof p->prefix)) < 0)
			return rc;
		s = NULL;
		if ((rc = rg_json_opt_str(it, "as", 16, &s, j->inner, sizeof j->inner)) < 0)
			return jfail(j, rc, path);
		if (s) {
			if (!strcmp(s, "loyalty"))
				p->as = IDENT_TYPE_LOYALTY;
			else if (!strcmp(s, "nfc_ndef"))
				p->as = IDENT_TYPE_NFC_NDEF;
			else
				return fail(j->err, j->errcap,
					    "%s: key \"as\": \"%s\" is not loyalty or nfc_ndef",
					    path, s);
		}
		c->nfc_ndef.n_patterns++;
	}
	return 0;
}

static int parse_qr(struct jctx *j, const cJSON *o, struct ident_config *c)
{
	static const char *const keys[] = {"enabled", "prefixes", "min_len", "max_len", NULL};
	const cJSON *arr, *it;
	int rc;

	if ((rc = check_keys(j, o, "qr", keys)) < 0 ||
	    (rc = get_bool(j, o, "qr", "enabled", &c->qr.enabled)) < 0 ||
	    (rc = get_uint(j, o, "qr", "min_len", 1, IDENT_CANON_MAX, &c->qr.min_len)) < 0 ||
	    (rc = get_uint(j, o, "qr", "max_len", 1, IDENT_CANON_MAX, &c->qr.max_len)) < 0 ||
	    (rc = get_arr(j, o, "qr", "prefixes", IDENT_QR_PREFIXES_MAX, &arr)) < 0)
		return rc;
	if (!arr)
		return 0;
	c->qr.n_prefixes = 0;
	cJSON_ArrayForEach(it, arr)
	{
		size_t n;
		if (!cJSON_IsString(it) || (n = strlen(it->valuestring)) == 0 ||
		    n > IDENT_PREFIX_MAX)
			return fail(j->err, j->errcap,
				    "qr: key \"prefixes\": item %zu is not a string of 1..%d bytes",
				    c->qr.n_prefixes, IDENT_PREFIX_MAX);
		memcpy(c->qr.prefixes[c->qr.n_prefixes++], it->valuestring, n + 1);
	}
	return 0;
}

/* A public key as PEM (SPKI) or base64url of the raw 65-byte point. */
static int parse_key(struct jctx *j, const char *s, size_t i, uint8_t raw[RG_EC_PUB_RAW_LEN])
{
	struct rg_ec_key *key = NULL;
	int rc;

	if (!strncmp(s, "-----BEGIN", 10)) {
		rc = rg_ec_key_parse(&key, s, strlen(s) + 1);
		if (rc < 0)
			return fail(j->err, j->errcap, "app_token: keys[%zu]: not a P-256 key (%s)",
				    i, rg_strerror(rc));
		if (rg_ec_key_has_private(key)) {
			rg_ec_key_free(key);
			return fail(j->err, j->errcap,
				    "app_token: keys[%zu]: a private key; give the public key", i);
		}
		rc = rg_ec_key_public_raw(key, raw);
		rg_ec_key_free(key);
		return rc < 0
			   ? fail(j->err, j->errcap, "app_token: keys[%zu]: %s", i, rg_strerror(rc))
			   : 0;
	}
	rc = rg_b64url_decode(s, strlen(s), raw, RG_EC_PUB_RAW_LEN);
	if (rc != RG_EC_PUB_RAW_LEN)
		return fail(j->err, j->errcap,
			    "app_token: keys[%zu]: neither PEM nor base64url of a 65-byte point",
			    i);
	if ((rc = rg_ec_key_from_public_raw(&key, raw)) < 0)
		return fail(j->err, j->errcap, "app_token: keys[%zu]: not a P-256 point", i);
	rg_ec_key_free(key);
	return 0;
}

static int parse_app(struct jctx *j, const cJSON *o, struct ident_config *c)
{
	static const char *const keys[] = {"enabled", "keys", "skew_s", "max_lifetime_s", NULL};
	const cJSON *arr, *it;
	int rc;

	if ((rc = check_keys(j, o, "app_token", keys)) < 0 ||
	    (rc = get_bool(j, o, "app_token", "enabled", &c->app_token.enabled)) < 0 ||
	    (rc = get_int(j, o, "app_token", "skew_s", 0, SKEW_MAX_S, &c->app_token.skew_s)) < 0 ||
	    (rc = get_int(j, o, "app_token", "max_lifetime_s", 1, LIFETIME_MAX_S,
			  &c->app_token.max_lifetime_s)) < 0 ||
	    (rc = get_arr(j, o, "app_token", "keys", IDENT_APP_KEYS_MAX, &arr)) < 0)
		return rc;
	if (!arr)
		return 0;
	c->app_token.n_keys = 0;
	cJSON_ArrayForEach(it, arr)
	{
		if (!cJSON_IsString(it) || strlen(it->valuestring) > KEY_TEXT_MAX)
			return fail(j->err, j->errcap, "app_token: keys[%zu]: not a key string",
				    c->app_token.n_keys);
		if ((rc = parse_key(j, it->valuestring, c->app_token.n_keys,
				    c->app_token.keys[c->app_token.n_keys])) < 0)
			return rc;
		c->app_token.n_keys++;
	}
	return 0;
}

static int parse_totp(struct jctx *j, const cJSON *o, struct ident_config *c)
{
	static const char *const keys[] = {"enabled",  "prefix", "algorithm", "digits",
					   "period_s", "window", NULL};
	static const char *const algs[] = {"sha1", "sha256", "sha512", NULL};
	const char *s = NULL;
	int rc, v;

	if ((rc = check_keys(j, o, "totp", keys)) < 0 ||
	    (rc = get_bool(j, o, "totp", "enabled", &c->totp.enabled)) < 0 ||
	    (rc = get_str(j, o, "totp", "prefix", IDENT_PREFIX_MAX, c->totp.prefix,
			  sizeof c->totp.prefix)) < 0 ||
	    (rc = get_uint(j, o, "totp", "digits", 6, 8, &c->totp.digits)) < 0 ||
	    (rc = get_uint(j, o, "totp", "period_s", 10, 300, &c->totp.period_s)) < 0 ||
	    (rc = get_uint(j, o, "totp", "window", 0, 10, &c->totp.window)) < 0)
		return rc;
	if ((rc = rg_json_opt_str(o, "algorithm", 8, &s, j->inner, sizeof j->inner)) < 0)
		return jfail(j, rc, "totp");
	if (s) {
		if (enum_of(s, algs, &v) < 0)
			return fail(j->err, j->errcap,
				    "totp: key \"algorithm\": \"%s\" is not sha1, sha256 or sha512",
				    s);
		c->totp.alg = (enum ident_totp_alg)v;
	}
	return 0;
}

static int parse_nfc_uid(struct jctx *j, const cJSON *o, struct ident_config *c)
{
	static const char *const keys[] = {"enabled", NULL};
	int rc = check_keys(j, o, "nfc_uid", keys);
	return rc < 0 ? rc : get_bool(j, o, "nfc_uid", "enabled", &c->nfc_uid.enabled);
}

int ident_config_from_json(const cJSON *obj, struct ident_config *c, char *err, size_t errcap)
{
	static const char *const keys[] = {"loyalty",	"nfc_uid", "nfc_ndef", "qr",
					   "app_token", "totp",	   NULL};
	static const struct {
		const char *key;
		int (*parse)(struct jctx *, const cJSON *, struct ident_config *);
	} sections[] = {
	    {"loyalty", parse_loyalty}, {"nfc_uid", parse_nfc_uid}, {"nfc_ndef", parse_ndef},
	    {"qr", parse_qr},		{"app_token", parse_app},   {"totp", parse_totp},
	};
	struct jctx j = {.err = err, .errcap = errcap};
	int rc;

	if (!obj || !c)
		return RG_ERR_INVAL;
	if (err && errcap)
		err[0] = '\0';
	ident_config_default(c);
	if ((rc = check_keys(&j, obj, "identifiers", keys)) < 0)
		return rc;
	for (size_t i = 0; i < sizeof sections / sizeof sections[0]; i++) {
		const cJSON *o = cJSON_GetObjectItemCaseSensitive(obj, sections[i].key);
		if (o && (rc = sections[i].parse(&j, o, c)) < 0)
			return rc;
	}
	return ident_config_validate(c, err, errcap);
}
