/*
 * cfgdoc.c - signed configuration documents (common/include/common/cfgdoc.h,
 * docs/config.md "Signed documents"): the envelope, strict parsing of
 * configuration and key-set documents, threshold signature checks, key-set
 * rotation and signing. Signatures are checked over the exact payload bytes
 * before the document's JSON is parsed; JSON with duplicate keys or NUL
 * characters is refused, so a signed document can only mean one thing.
 */
#include "common/cfgdoc.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/codec.h"
#include "common/err.h"
#include "common/json.h"
#include "common/settings.h"

#define VERSION_MAX ((INT64_C(1) << 53) - 1)
#define DOC_MAX (CFGDOC_ENVELOPE_MAX / 4 * 3) /* the most a payload can decode to */
#define TIME_MAX INT64_C(253402300799)	      /* 9999-12-31T23:59:59Z */
#define SIG_B64_MAX RG_B64URL_LEN(RG_ECDSA_DER_MAX)

static const char *const scope_names[CFGDOC_SCOPE__COUNT] = {"tenant", "store", "device", "keys"};

static const char *const reason_names[CFGDOC_REASON__COUNT] = {
    "ok",	    "too_large", "malformed", "signature", "wrong_tenant",
    "wrong_target", "expired",	 "replay",    "invalid",   "rotation",
};

const char *cfgdoc_scope_name(enum cfgdoc_scope s)
{
	return (unsigned)s < CFGDOC_SCOPE__COUNT ? scope_names[s] : "unknown";
}

int cfgdoc_scope_parse(const char *name)
{
	for (int i = 0; name && i < CFGDOC_SCOPE__COUNT; i++)
		if (!strcmp(name, scope_names[i]))
			return i;
	return RG_ERR_PARSE;
}

const char *cfgdoc_reason_name(enum cfgdoc_reason r)
{
	return (unsigned)r < CFGDOC_REASON__COUNT ? reason_names[r] : "unknown";
}

static enum cfgdoc_reason refuse(enum cfgdoc_reason r, char *err, size_t errcap, const char *fmt,
				 ...) __attribute__((format(printf, 4, 5)));
static enum cfgdoc_reason refuse(enum cfgdoc_reason r, char *err, size_t errcap, const char *fmt,
				 ...)
{
	if (err && errcap) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, errcap, fmt, ap);
		va_end(ap);
	}
	return r;
}

/* ---- time ---- */

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's method). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
	z += 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	int64_t doe = z - era * 146097;
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int64_t mp = (5 * doy + 2) / 153;
	*d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y = yoe + era * 400 + (*m <= 2);
}

static int digits(const char *s, int n)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

int cfgdoc_time_parse(const char *s, int64_t *out)
{
	static const int mdays[12] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	if (!s || !out || strlen(s) != 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' ||
	    s[13] != ':' || s[16] != ':' || s[19] != 'Z')
		return RG_ERR_PARSE;
	int y = digits(s, 4), mo = digits(s + 5, 2), d = digits(s + 8, 2);
	int h = digits(s + 11, 2), mi = digits(s + 14, 2), se = digits(s + 17, 2);
	if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || h < 0 || h > 23 ||
	    mi < 0 || mi > 59 || se < 0 || se > 59)
		return RG_ERR_PARSE;
	if (mo == 2 && d == 29 && !(y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)))
		return RG_ERR_PARSE;
	*out = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se;
	return 0;
}

void cfgdoc_time_format(int64_t t, char out[21])
{
	int64_t y;
	int m, d;
	if (t < 0)
		t = 0;
	if (t > TIME_MAX)
		t = TIME_MAX;
	civil_from_days(t / 86400, &y, &m, &d);
	int64_t s = t % 86400;
	const int64_t f[6] = {y, m, d, s / 3600, s / 60 % 60, s % 60};
	/* "YYYY-MM-DDTHH:MM:SSZ", digit by digit: every field is in range here */
	static const char tmpl[] = "0000-00-00T00:00:00Z";
	static const int at[6] = {3, 6, 9, 12, 15, 18}; /* last digit of each field */
	memcpy(out, tmpl, sizeof tmpl);
	for (int i = 0; i < 6; i++) {
		int64_t v = f[i];
		for (int p = at[i]; v && p >= 0 && out[p] >= '0' && out[p] <= '9'; p--, v /= 10)
			out[p] = (char)('0' + v % 10);
	}
}

/* ---- strict JSON ---- */

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Refuses an object anywhere in the tree that holds a key twice. */
static int no_duplicates(const cJSON *v, char *err, size_t errcap)
{
	const cJSON *c;
	if (cJSON_IsObject(v)) {
		size_t n = 0, i = 0;
		cJSON_ArrayForEach(c, v)
		{
			n++;
		}
		if (n > 1) {
			const char **keys = malloc(n * sizeof *keys);
			if (!keys)
				return rg_errf(RG_ERR_NOMEM, err, errcap, "out of memory");
			cJSON_ArrayForEach(c, v)
			{
				keys[i++] = c->string ? c->string : "";
			}
			qsort(keys, n, sizeof *keys, cmp_str);
			for (i = 1; i < n; i++) {
				if (!strcmp(keys[i - 1], keys[i])) {
					char shown[48];
					size_t l = strnlen(keys[i], sizeof shown - 1);
					if (!rg_utf8_valid(keys[i], l))
						l = 0;
					memcpy(shown, keys[i], l);
					shown[l] = '\0';
					free(keys);
					return rg_errf(RG_ERR_PARSE, err, errcap,
						       "key \"%s\" appears twice in one object",
						       shown);
				}
			}
			free(keys);
		}
	}
	if (cJSON_IsObject(v) || cJSON_IsArray(v)) {
		cJSON_ArrayForEach(c, v)
		{
			int rc = no_duplicates(c, err, errcap);
			if (rc < 0)
				return rc;
		}
	}
	return 0;
}

/* rg_json_parse, refusing what would let two readers see different things:
 * NUL bytes, "\u0000" escapes (cJSON would cut the string there) and
 * duplicate keys. */
static int parse_strict(const char *text, size_t len, size_t max, cJSON **out, char *err,
			size_t errcap)
{
	int in_str = 0;
	*out = NULL;
	if (len > max)
		return rg_errf(RG_ERR_TOOBIG, err, errcap, "%zu bytes exceed the limit of %zu", len,
			       max);
	if (memchr(text, '\0', len))
		return rg_errf(RG_ERR_PARSE, err, errcap, "a NUL byte in the JSON text");
	for (size_t i = 0; i < len; i++) {
		if (!in_str) {
			in_str = text[i] == '"';
		} else if (text[i] == '"') {
			in_str = 0;
		} else if (text[i] == '\\' && i + 1 < len) {
			if (text[i + 1] == 'u' && i + 5 < len && !memcmp(text + i + 2, "0000", 4))
				return rg_errf(RG_ERR_PARSE, err, errcap,
					       "a \\u0000 escape at byte %zu", i);
			i++;
		}
	}
	int rc = rg_json_parse(text, len, max, out, err, errcap);
	if (rc < 0)
		return rc;
	if ((rc = no_duplicates(*out, err, errcap)) < 0) {
		cJSON_Delete(*out);
		*out = NULL;
	}
	return rc;
}

/* 1..max characters of [a-z0-9-], not starting with '-': tenants, stores and
 * identities end up in topic levels and file names. */
static int word_valid(const char *s, size_t max)
{
	size_t n = strlen(s);
	if (n < 1 || n > max || s[0] == '-')
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
			return 0;
	return 1;
}

static int get_word(const cJSON *o, const char *key, bool required, size_t max, char *dst,
		    char *err, size_t errcap)
{
	const char *v = NULL;
	int rc = required ? rg_json_req_str(o, key, max, &v, err, errcap)
			  : rg_json_opt_str(o, key, max, &v, err, errcap);
	if (rc < 0)
		return rc;
	if (!v) {
		dst[0] = '\0';
		return 0;
	}
	if (!word_valid(v, max))
		return rg_errf(RG_ERR_PARSE, err, errcap,
			       "key \"%s\": must be 1..%zu of [a-z0-9-], not starting with '-'",
			       key, max);
	memcpy(dst, v, strlen(v) + 1);
	return 0;
}

static int get_time(const cJSON *o, const char *key, bool required, int64_t *out, char *err,
		    size_t errcap)
{
	const char *v = NULL;
	int rc = required ? rg_json_req_str(o, key, 32, &v, err, errcap)
			  : rg_json_opt_str(o, key, 32, &v, err, errcap);
	*out = 0;
	if (rc < 0)
		return rc;
	if (v && cfgdoc_time_parse(v, out) < 0)
		return rg_errf(RG_ERR_PARSE, err, errcap,
			       "key \"%s\": not an RFC 3339 UTC time like 2026-11-23T10:00:00Z",
			       key);
	return 0;
}

/* ---- key sets ---- */

static int keyset_from_json(const cJSON *root, struct cfgdoc_keyset *ks, char *err, size_t errcap)
{
	static const char *const allowed[] = {"type",	 "tenant",    "version", "issued",
					      "expires", "threshold", "keys",	 NULL};
	static const char *const key_allowed[] = {"keyid", "public", NULL};
	const char *type;
	const cJSON *arr, *k;
	int64_t issued, thr;
	int rc;

	memset(ks, 0, sizeof *ks);
	if ((rc = rg_json_check_keys(root, allowed, err, errcap)) < 0 ||
	    (rc = rg_json_req_str(root, "type", 32, &type, err, errcap)) < 0)
		return rc < 0 ? RG_ERR_PARSE : rc;
	if (strcmp(type, "regulars-keys"))
		return rg_errf(RG_ERR_PARSE, err, errcap, "key \"type\": not \"regulars-keys\"");
	if ((rc = get_word(root, "tenant", true, CFGDOC_TENANT_MAX, ks->tenant, err, errcap)) < 0 ||
	    (rc = rg_json_req_int(root, "version", 1, VERSION_MAX, &ks->version, err, errcap)) <
		0 ||
	    (rc = get_time(root, "issued", false, &issued, err, errcap)) < 0 ||
	    (rc = get_time(root, "expires", false, &ks->expires, err, errcap)) < 0 ||
	    (rc = rg_json_req_arr(root, "keys", CFGDOC_KEYS_MAX, &arr, err, errcap)) < 0 ||
	    (rc = rg_json_req_int(root, "threshold", 1, CFGDOC_KEYS_MAX, &thr, err, errcap)) < 0)
		return RG_ERR_PARSE;
	if (issued && ks->expires && ks->expires <= issued)
		return rg_errf(RG_ERR_PARSE, err, errcap, "\"expires\" is not after \"issued\"");
	cJSON_ArrayForEach(k, arr)
	{
		const char *id_hex, *pub_b64;
		uint8_t id[RG_SHA256_LEN], h[RG_SHA256_LEN];
		struct rg_ec_key *key;
		size_t i = ks->n;

		char msg[RG_JSON_ERR_MAX];

		if (rg_json_check_keys(k, key_allowed, msg, sizeof msg) < 0 ||
		    rg_json_req_str(k, "keyid", CFGDOC_KEYID_HEX, &id_hex, msg, sizeof msg) < 0 ||
		    rg_json_req_str(k, "public", RG_B64URL_LEN(RG_EC_PUB_RAW_LEN), &pub_b64, msg,
				    sizeof msg) < 0)
			return rg_errf(RG_ERR_PARSE, err, errcap, "keys[%zu]: %s", i, msg);
		for (const char *p = id_hex; *p; p++)
			if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
				return rg_errf(RG_ERR_PARSE, err, errcap,
					       "keys[%zu]: keyid is not lowercase hex", i);
		if (strlen(id_hex) != CFGDOC_KEYID_HEX ||
		    rg_hex_decode(id_hex, CFGDOC_KEYID_HEX, id, sizeof id) != RG_SHA256_LEN)
			return rg_errf(RG_ERR_PARSE, err, errcap,
				       "keys[%zu]: keyid is not 64 hex digits", i);
		if (rg_b64url_decode(pub_b64, strlen(pub_b64), ks->keys[i].pub,
				     sizeof ks->keys[i].pub) != RG_EC_PUB_RAW_LEN)
			return rg_errf(RG_ERR_PARSE, err, errcap,
				       "keys[%zu]: public is not a base64url 65-byte point", i);
		if (rg_ec_key_from_public_raw(&key, ks->keys[i].pub) < 0)
			return rg_errf(RG_ERR_PARSE, err, errcap,
				       "keys[%zu]: public is not a P-256 point", i);
		rg_ec_key_free(key);
		if (rg_sha256(ks->keys[i].pub, RG_EC_PUB_RAW_LEN, h) < 0 || memcmp(h, id, sizeof h))
			return rg_errf(RG_ERR_PARSE, err, errcap,
				       "keys[%zu]: keyid is not the SHA-256 of the public key", i);
		for (size_t j = 0; j < i; j++)
			if (!memcmp(ks->keys[j].id, id, sizeof id))
				return rg_errf(RG_ERR_PARSE, err, errcap,
					       "keys[%zu]: the same key as keys[%zu]", i, j);
		memcpy(ks->keys[i].id, id, sizeof id);
		ks->n++;
	}
	if (ks->n == 0)
		return rg_errf(RG_ERR_PARSE, err, errcap,
			       "key \"keys\": at least one key is needed");
	if ((size_t)thr > ks->n)
		return rg_errf(RG_ERR_PARSE, err, errcap,
			       "key \"threshold\": %lld is more than the %zu keys", (long long)thr,
			       ks->n);
	ks->threshold = (int)thr;
	return 0;
}

int cfgdoc_keyset_parse(const char *json, size_t len, struct cfgdoc_keyset *out, char *err,
			size_t errcap)
{
	cJSON *root;
	int rc;

	if (!out)
		return RG_ERR_INVAL;
	memset(out, 0, sizeof *out);
	if (!json)
		return rg_errf(RG_ERR_INVAL, err, errcap, "no key set");
	if ((rc = parse_strict(json, len, CFGDOC_ENVELOPE_MAX, &root, err, errcap)) < 0)
		return rc == RG_ERR_NOMEM ? rc : RG_ERR_PARSE;
	rc = keyset_from_json(root, out, err, errcap);
	cJSON_Delete(root);
	if (rc < 0)
		memset(out, 0, sizeof *out);
	return rc;
}

char *cfgdoc_keyset_json(const struct cfgdoc_keyset *ks)
{
	cJSON *root, *arr;
	char *text = NULL;

	if (!ks || (root = cJSON_CreateObject()) == NULL)
		return NULL;
	if (!cJSON_AddStringToObject(root, "type", "regulars-keys") ||
	    !cJSON_AddStringToObject(root, "tenant", ks->tenant) ||
	    !cJSON_AddNumberToObject(root, "version", (double)ks->version))
		goto out;
	if (ks->expires) {
		char t[21];
		cfgdoc_time_format(ks->expires, t);
		if (!cJSON_AddStringToObject(root, "expires", t))
			goto out;
	}
	if (!cJSON_AddNumberToObject(root, "threshold", ks->threshold) ||
	    (arr = cJSON_AddArrayToObject(root, "keys")) == NULL)
		goto out;
	for (size_t i = 0; i < ks->n && i < CFGDOC_KEYS_MAX; i++) {
		char id[CFGDOC_KEYID_HEX + 1], pub[RG_B64URL_LEN(RG_EC_PUB_RAW_LEN) + 1];
		cJSON *k = cJSON_CreateObject();
		if (!k || !cJSON_AddItemToArray(arr, k))
			goto out;
		rg_hex_encode(ks->keys[i].id, RG_SHA256_LEN, id, sizeof id);
		rg_b64url_encode(ks->keys[i].pub, RG_EC_PUB_RAW_LEN, pub, sizeof pub);
		if (!cJSON_AddStringToObject(k, "keyid", id) ||
		    !cJSON_AddStringToObject(k, "public", pub))
			goto out;
	}
	text = cJSON_PrintUnformatted(root);
out:
	cJSON_Delete(root);
	return text;
}

/* ---- the envelope ---- */

struct env {
	uint8_t *doc; /* decoded payload, NUL-terminated */
	size_t doc_len;
	size_t n;
	struct {
		uint8_t id[RG_SHA256_LEN];
		uint8_t sig[RG_ECDSA_DER_MAX];
		size_t len;
	} sigs[CFGDOC_SIGS_MAX];
};

static void env_free(struct env *e)
{
	free(e->doc);
	e->doc = NULL;
}

/* The envelope's shape; RG_ERR_PARSE / RG_ERR_NOMEM with a message. */
static int env_parse(const void *buf, size_t len, struct env *e, char *err, size_t errcap)
{
	static const char *const allowed[] = {"payload", "signatures", NULL};
	static const char *const sig_allowed[] = {"keyid", "sig", NULL};
	const char *payload;
	const cJSON *arr, *s;
	cJSON *root;
	char msg[RG_JSON_ERR_MAX];
	int rc, n;

	memset(e, 0, sizeof *e);
	if ((rc = parse_strict(buf, len, CFGDOC_ENVELOPE_MAX, &root, msg, sizeof msg)) < 0)
		return rg_errf(rc == RG_ERR_NOMEM ? rc : RG_ERR_PARSE, err, errcap, "envelope: %s",
			       msg);
	if (rg_json_check_keys(root, allowed, msg, sizeof msg) < 0 ||
	    rg_json_req_str(root, "payload", CFGDOC_ENVELOPE_MAX, &payload, msg, sizeof msg) < 0 ||
	    rg_json_req_arr(root, "signatures", CFGDOC_SIGS_MAX, &arr, msg, sizeof msg) < 0) {
		rc = rg_errf(RG_ERR_PARSE, err, errcap, "envelope: %s", msg);
		goto out;
	}
	size_t plen = strlen(payload);
	if ((e->doc = malloc(plen / 4 * 3 + 3)) == NULL) {
		rc = rg_errf(RG_ERR_NOMEM, err, errcap, "out of memory");
		goto out;
	}
	n = rg_b64url_decode(payload, plen, e->doc, plen / 4 * 3 + 2);
	if (n <= 0) {
		rc = rg_errf(RG_ERR_PARSE, err, errcap,
			     "envelope: \"payload\" is not unpadded base64url of a document");
		goto out;
	}
	e->doc[n] = 0;
	e->doc_len = (size_t)n;
	cJSON_ArrayForEach(s, arr)
	{
		const char *id_hex, *sig;
		size_t i = e->n;
		if (rg_json_check_keys(s, sig_allowed, msg, sizeof msg) < 0 ||
		    rg_json_req_str(s, "keyid", CFGDOC_KEYID_HEX, &id_hex, msg, sizeof msg) < 0 ||
		    rg_json_req_str(s, "sig", SIG_B64_MAX, &sig, msg, sizeof msg) < 0) {
			rc = rg_errf(RG_ERR_PARSE, err, errcap, "envelope: signatures[%zu]: %s", i,
				     msg);
			goto out;
		}
		int lower = strlen(id_hex) == CFGDOC_KEYID_HEX;
		for (const char *p = id_hex; *p && lower; p++)
			lower = (*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f');
		if (!lower ||
		    rg_hex_decode(id_hex, CFGDOC_KEYID_HEX, e->sigs[i].id, RG_SHA256_LEN) < 0) {
			rc = rg_errf(
			    RG_ERR_PARSE, err, errcap,
			    "envelope: signatures[%zu]: keyid is not 64 lowercase hex digits", i);
			goto out;
		}
		n = rg_b64url_decode(sig, strlen(sig), e->sigs[i].sig, sizeof e->sigs[i].sig);
		if (n < 8) {
			rc = rg_errf(RG_ERR_PARSE, err, errcap,
				     "envelope: signatures[%zu]: sig is not base64url of a DER "
				     "signature",
				     i);
			goto out;
		}
		e->sigs[i].len = (size_t)n;
		e->n++;
	}
	rc = 0;
out:
	cJSON_Delete(root);
	if (rc < 0)
		env_free(e);
	return rc;
}

struct sigcount {
	int valid;   /* distinct trusted keys with a verifying signature */
	int bad;     /* entries by trusted keys that did not verify */
	int unknown; /* entries by keys outside the set */
};

static struct sigcount count_signatures(const struct cfgdoc_keyset *ks, const struct env *e)
{
	struct sigcount c = {0, 0, 0};
	bool used[CFGDOC_SIGS_MAX] = {false};

	for (size_t k = 0; k < ks->n; k++) {
		struct rg_ec_key *key = NULL;
		bool ok = false;
		for (size_t j = 0; j < e->n; j++) {
			if (memcmp(e->sigs[j].id, ks->keys[k].id, RG_SHA256_LEN))
				continue;
			used[j] = true;
			if (ok)
				continue; /* the same key again counts once */
			if (!key && rg_ec_key_from_public_raw(&key, ks->keys[k].pub) < 0)
				key = NULL;
			if (key && rg_ecdsa_verify(key, e->doc, e->doc_len, e->sigs[j].sig,
						   e->sigs[j].len) == 0)
				ok = true;
			else
				c.bad++;
		}
		rg_ec_key_free(key);
		c.valid += ok;
	}
	for (size_t j = 0; j < e->n; j++)
		c.unknown += !used[j];
	return c;
}

static enum cfgdoc_reason check_threshold(const struct cfgdoc_keyset *ks, const struct env *e,
					  const char *which, int *valid, char *err, size_t errcap)
{
	struct sigcount c = count_signatures(ks, e);
	char more[96] = "";

	if (valid)
		*valid = c.valid;
	if (c.valid >= ks->threshold)
		return CFGDOC_OK;
	if (c.bad && c.unknown)
		snprintf(more, sizeof more, " (%d not verifying, %d by keys not in key set v%lld)",
			 c.bad, c.unknown, (long long)ks->version);
	else if (c.bad)
		snprintf(more, sizeof more, " (%d not verifying)", c.bad);
	else if (c.unknown)
		snprintf(more, sizeof more, " (%d by keys not in key set v%lld)", c.unknown,
			 (long long)ks->version);
	return refuse(CFGDOC_SIGNATURE, err, errcap, "%d valid signature%s of the %d required%s%s",
		      c.valid, c.valid == 1 ? "" : "s", ks->threshold, which, more);
}

int cfgdoc_envelope_payload(const void *envelope, size_t len, char **doc, size_t *doc_len,
			    char *err, size_t errcap)
{
	struct env e;
	int rc;

	if (doc)
		*doc = NULL;
	if (!envelope || !doc || !doc_len)
		return rg_errf(RG_ERR_INVAL, err, errcap, "no envelope");
	if (len > CFGDOC_ENVELOPE_MAX)
		return rg_errf(RG_ERR_PARSE, err, errcap,
			       "envelope of %zu bytes exceeds the limit of %d", len,
			       CFGDOC_ENVELOPE_MAX);
	if ((rc = env_parse(envelope, len, &e, err, errcap)) < 0)
		return rc;
	*doc = (char *)e.doc;
	*doc_len = e.doc_len;
	return 0;
}

/* ---- configuration documents ---- */

static bool is_config_scope(int s)
{
	return s == CFGDOC_SCOPE_TENANT || s == CFGDOC_SCOPE_STORE || s == CFGDOC_SCOPE_DEVICE;
}

/* The fields of a "regulars-config" document; takes its settings. */
static int config_from_json(cJSON *root, struct cfgdoc *d, char *err, size_t errcap)
{
	static const char *const allowed[] = {"type",	 "tenant", "scope",   "store",	  "device",
					      "version", "issued", "expires", "settings", NULL};
	const char *scope;
	const cJSON *settings;
	int rc, s;

	if ((rc = rg_json_check_keys(root, allowed, err, errcap)) < 0 ||
	    (rc = get_word(root, "tenant", true, CFGDOC_TENANT_MAX, d->tenant, err, errcap)) < 0 ||
	    (rc = rg_json_req_str(root, "scope", 16, &scope, err, errcap)) < 0)
		return rc;
	s = cfgdoc_scope_parse(scope);
	if (!is_config_scope(s))
		return rg_errf(RG_ERR_PARSE, err, errcap,
			       "key \"scope\": must be \"tenant\", \"store\" or \"device\"");
	d->scope = (enum cfgdoc_scope)s;
	if ((rc = get_word(root, "store", s != CFGDOC_SCOPE_TENANT, CFGDOC_STORE_MAX, d->store, err,
			   errcap)) < 0 ||
	    (rc = get_word(root, "device", s == CFGDOC_SCOPE_DEVICE, CFGDOC_DEVICE_MAX, d->device,
			   err, errcap)) < 0)
		return rc;
	if (s == CFGDOC_SCOPE_TENANT && d->store[0])
		return rg_errf(RG_ERR_PARSE, err, errcap, "a tenant document names no \"store\"");
	if (s != CFGDOC_SCOPE_DEVICE && d->device[0])
		return rg_errf(RG_ERR_PARSE, err, errcap, "a %s document names no \"device\"",
			       scope_names[s]);
	if ((rc = rg_json_req_int(root, "version", 1, VERSION_MAX, &d->version, err, errcap)) < 0 ||
	    (rc = get_time(root, "issued", true, &d->issued, err, errcap)) < 0 ||
	    (rc = get_time(root, "expires", true, &d->expires, err, errcap)) < 0 ||
	    (rc = rg_json_req_obj(root, "settings", &settings, err, errcap)) < 0)
		return rc;
	if (d->expires <= d->issued)
		return rg_errf(RG_ERR_PARSE, err, errcap, "\"expires\" is not after \"issued\"");
	d->settings = cJSON_DetachItemFromObjectCaseSensitive(root, "settings");
	return 0;
}

void cfgdoc_clear(struct cfgdoc *d)
{
	if (!d)
		return;
	cJSON_Delete(d->settings);
	memset(d, 0, sizeof *d);
}

static bool want(const char *expected, const char *got)
{
	return !expected || !strcmp(expected, got);
}

enum cfgdoc_reason cfgdoc_verify(const struct cfgdoc_keyset *trust, const void *envelope,
				 size_t len, const struct cfgdoc_expect *exp, struct cfgdoc *out,
				 char *err, size_t errcap)
{
	struct cfgdoc d;
	struct env e;
	cJSON *root = NULL;
	const char *type;
	char msg[RG_JSON_ERR_MAX], t[21];
	enum cfgdoc_reason r;
	int valid;

	memset(&d, 0, sizeof d);
	if (out)
		memset(out, 0, sizeof *out);
	if (err && errcap)
		err[0] = '\0';
	if (!trust || !exp || !out || (!envelope && len))
		return refuse(CFGDOC_MALFORMED, err, errcap, "no envelope or no key set");
	if (len > CFGDOC_ENVELOPE_MAX)
		return refuse(CFGDOC_TOO_LARGE, err, errcap,
			      "envelope of %zu bytes exceeds the limit of %d", len,
			      CFGDOC_ENVELOPE_MAX);
	if (env_parse(envelope ? envelope : "", len, &e, msg, sizeof msg) < 0)
		return refuse(CFGDOC_MALFORMED, err, errcap, "%s", msg);
	/* Nothing of the document is read before its signatures are counted. */
	if ((r = check_threshold(trust, &e, "", &valid, err, errcap)) != CFGDOC_OK)
		goto out;
	r = CFGDOC_MALFORMED;
	if (parse_strict((const char *)e.doc, e.doc_len, e.doc_len, &root, msg, sizeof msg) < 0 ||
	    rg_json_req_str(root, "type", 32, &type, msg, sizeof msg) < 0) {
		refuse(r, err, errcap, "document: %s", msg);
		goto out;
	}
	if (!strcmp(type, "regulars-keys")) {
		if (exp->scope != -1 && exp->scope != CFGDOC_SCOPE_KEYS) {
			refuse(r, err, errcap, "a key-set document where a %s document belongs",
			       cfgdoc_scope_name((enum cfgdoc_scope)exp->scope));
			goto out;
		}
		if (keyset_from_json(root, &d.keys, msg, sizeof msg) < 0) {
			refuse(r, err, errcap, "key set: %s", msg);
			goto out;
		}
		d.scope = CFGDOC_SCOPE_KEYS;
		memcpy(d.tenant, d.keys.tenant, sizeof d.tenant);
		d.version = d.keys.version;
		d.expires = d.keys.expires;
	} else if (!strcmp(type, "regulars-config")) {
		if (config_from_json(root, &d, msg, sizeof msg) < 0) {
			refuse(r, err, errcap, "document: %s", msg);
			goto out;
		}
	} else {
		refuse(r, err, errcap,
		       "document: key \"type\": not \"regulars-config\" or \"regulars-keys\"");
		goto out;
	}
	if (strcmp(d.tenant, trust->tenant)) {
		r = refuse(CFGDOC_WRONG_TENANT, err, errcap,
			   "document is for tenant %s, this is %s", d.tenant, trust->tenant);
		goto out;
	}
	r = CFGDOC_WRONG_TARGET;
	if (exp->scope != -1 && (int)d.scope != exp->scope) {
		refuse(r, err, errcap, "a %s document where a %s document belongs",
		       cfgdoc_scope_name(d.scope),
		       cfgdoc_scope_name((enum cfgdoc_scope)exp->scope));
		goto out;
	}
	if (d.store[0] && !want(exp->store, d.store)) {
		refuse(r, err, errcap, "document is for store %s, this is %s", d.store, exp->store);
		goto out;
	}
	if (d.device[0] && !want(exp->device, d.device)) {
		refuse(r, err, errcap, "document is for device %s, this is %s", d.device,
		       exp->device);
		goto out;
	}
	if (d.expires && d.expires <= exp->now) {
		cfgdoc_time_format(d.expires, t);
		r = refuse(CFGDOC_EXPIRED, err, errcap, "expired %s", t);
		goto out;
	}
	if (d.version <= exp->applied_version) {
		r = refuse(CFGDOC_REPLAY, err, errcap,
			   "version %lld is not newer than the applied %lld", (long long)d.version,
			   (long long)exp->applied_version);
		goto out;
	}
	if (exp->check_settings && d.settings) {
		int rc = rg_settings_check(d.settings, msg, sizeof msg);
		if (rc == RG_ERR_NOMEM) {
			r = refuse(CFGDOC_INVALID, err, errcap,
				   "out of memory checking the settings");
			goto out;
		}
		if (rc < 0) {
			r = refuse(CFGDOC_INVALID, err, errcap, "%s", msg);
			goto out;
		}
	}
	if (rg_sha256(e.doc, e.doc_len, d.digest) < 0) {
		r = refuse(CFGDOC_MALFORMED, err, errcap, "could not hash the document");
		goto out;
	}
	d.valid_signatures = valid;
	*out = d;
	memset(&d, 0, sizeof d);
	r = CFGDOC_OK;
out:
	cJSON_Delete(root);
	cfgdoc_clear(&d);
	env_free(&e);
	return r;
}

enum cfgdoc_reason cfgdoc_rotate(const struct cfgdoc_keyset *current, const void *envelope,
				 size_t len, struct cfgdoc_keyset *next, char *err, size_t errcap)
{
	struct cfgdoc_keyset ks;
	struct env e;
	cJSON *root = NULL;
	char msg[RG_JSON_ERR_MAX];
	enum cfgdoc_reason r;

	if (next)
		memset(next, 0, sizeof *next);
	if (err && errcap)
		err[0] = '\0';
	if (!current || !next || (!envelope && len))
		return refuse(CFGDOC_MALFORMED, err, errcap, "no envelope or no key set");
	if (len > CFGDOC_ENVELOPE_MAX)
		return refuse(CFGDOC_TOO_LARGE, err, errcap,
			      "envelope of %zu bytes exceeds the limit of %d", len,
			      CFGDOC_ENVELOPE_MAX);
	if (env_parse(envelope ? envelope : "", len, &e, msg, sizeof msg) < 0)
		return refuse(CFGDOC_MALFORMED, err, errcap, "%s", msg);
	char which[48];
	snprintf(which, sizeof which, " by key set v%lld", (long long)current->version);
	if ((r = check_threshold(current, &e, which, NULL, err, errcap)) != CFGDOC_OK)
		goto out;
	r = CFGDOC_MALFORMED;
	if (parse_strict((const char *)e.doc, e.doc_len, e.doc_len, &root, msg, sizeof msg) < 0) {
		refuse(r, err, errcap, "document: %s", msg);
		goto out;
	}
	if (keyset_from_json(root, &ks, msg, sizeof msg) < 0) {
		refuse(r, err, errcap, "key set: %s", msg);
		goto out;
	}
	r = CFGDOC_ROTATION;
	if (strcmp(ks.tenant, current->tenant)) {
		refuse(r, err, errcap, "key set is for tenant %s, this is %s", ks.tenant,
		       current->tenant);
		goto out;
	}
	if (ks.version != current->version + 1) {
		refuse(r, err, errcap, "key set version %lld does not follow the current %lld",
		       (long long)ks.version, (long long)current->version);
		goto out;
	}
	snprintf(which, sizeof which, " by the new key set v%lld", (long long)ks.version);
	if ((r = check_threshold(&ks, &e, which, NULL, err, errcap)) != CFGDOC_OK)
		goto out;
	*next = ks;
	r = CFGDOC_OK;
out:
	cJSON_Delete(root);
	env_free(&e);
	return r;
}

/* ---- signing ---- */

int cfgdoc_sign(const void *doc, size_t doc_len, const char *envelope_in, size_t envelope_in_len,
		struct rg_ec_key *const *keys, size_t n_keys, char **out, char *err, size_t errcap)
{
	struct env e;
	cJSON *root = NULL, *arr;
	char *payload = NULL;
	int rc;

	if (out)
		*out = NULL;
	if (!doc || !doc_len || !out || (n_keys && !keys))
		return rg_errf(RG_ERR_INVAL, err, errcap, "nothing to sign");
	if (doc_len > DOC_MAX)
		return rg_errf(RG_ERR_TOOBIG, err, errcap,
			       "a document of %zu bytes does not fit an envelope of %d bytes",
			       doc_len, CFGDOC_ENVELOPE_MAX);
	memset(&e, 0, sizeof e);
	if (envelope_in) {
		if (envelope_in_len > CFGDOC_ENVELOPE_MAX)
			return rg_errf(RG_ERR_TOOBIG, err, errcap,
				       "envelope of %zu bytes exceeds the limit of %d",
				       envelope_in_len, CFGDOC_ENVELOPE_MAX);
		if ((rc = env_parse(envelope_in, envelope_in_len, &e, err, errcap)) < 0)
			return rc;
		if (e.doc_len != doc_len || memcmp(e.doc, doc, doc_len)) {
			rc = rg_errf(RG_ERR_INVAL, err, errcap,
				     "the envelope holds another document");
			goto out;
		}
	}
	for (size_t k = 0; k < n_keys; k++) {
		uint8_t id[RG_SHA256_LEN];
		bool have = false;
		if (!keys[k] || !rg_ec_key_has_private(keys[k])) {
			rc = rg_errf(RG_ERR_INVAL, err, errcap, "key %zu is not a private key",
				     k + 1);
			goto out;
		}
		if ((rc = rg_ec_key_id(keys[k], id)) < 0) {
			rg_errf(rc, err, errcap, "key %zu: no key id", k + 1);
			goto out;
		}
		for (size_t j = 0; j < e.n && !have; j++)
			have = !memcmp(e.sigs[j].id, id, sizeof id);
		if (have)
			continue;
		if (e.n == CFGDOC_SIGS_MAX) {
			rc = rg_errf(RG_ERR_TOOBIG, err, errcap, "more than %d signatures",
				     CFGDOC_SIGS_MAX);
			goto out;
		}
		rc = rg_ecdsa_sign(keys[k], doc, doc_len, e.sigs[e.n].sig, sizeof e.sigs[e.n].sig,
				   rg_rand_system());
		if (rc < 0) {
			rg_errf(rc, err, errcap, "key %zu: signing failed", k + 1);
			goto out;
		}
		e.sigs[e.n].len = (size_t)rc;
		memcpy(e.sigs[e.n].id, id, sizeof id);
		e.n++;
	}
	if (e.n == 0) {
		rc = rg_errf(RG_ERR_INVAL, err, errcap, "no signing key");
		goto out;
	}
	rc = RG_ERR_NOMEM;
	size_t pcap = RG_B64URL_LEN(doc_len) + 1;
	if ((payload = malloc(pcap)) == NULL || (root = cJSON_CreateObject()) == NULL)
		goto nomem;
	rg_b64url_encode(doc, doc_len, payload, pcap);
	if (!cJSON_AddStringToObject(root, "payload", payload) ||
	    (arr = cJSON_AddArrayToObject(root, "signatures")) == NULL)
		goto nomem;
	for (size_t j = 0; j < e.n; j++) {
		char id[CFGDOC_KEYID_HEX + 1], sig[SIG_B64_MAX + 1];
		cJSON *s = cJSON_CreateObject();
		if (!s || !cJSON_AddItemToArray(arr, s))
			goto nomem;
		rg_hex_encode(e.sigs[j].id, RG_SHA256_LEN, id, sizeof id);
		rg_b64url_encode(e.sigs[j].sig, e.sigs[j].len, sig, sizeof sig);
		if (!cJSON_AddStringToObject(s, "keyid", id) ||
		    !cJSON_AddStringToObject(s, "sig", sig))
			goto nomem;
	}
	if ((*out = cJSON_PrintUnformatted(root)) == NULL)
		goto nomem;
	if (strlen(*out) > CFGDOC_ENVELOPE_MAX) {
		rc = rg_errf(RG_ERR_TOOBIG, err, errcap,
			     "the envelope would be %zu bytes, over the limit of %d", strlen(*out),
			     CFGDOC_ENVELOPE_MAX);
		free(*out);
		*out = NULL;
		goto out;
	}
	rc = 0;
	goto out;
nomem:
	rc = rg_errf(RG_ERR_NOMEM, err, errcap, "out of memory");
out:
	cJSON_Delete(root);
	free(payload);
	env_free(&e);
	return rc;
}
