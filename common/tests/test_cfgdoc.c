/*
 * test_cfgdoc.c - signed configuration documents: every refusal reason is
 * produced by a case, thresholds count distinct trusted keys only, a
 * modified payload or a retired key is refused, rotations need both sets'
 * thresholds, and the parsers refuse ambiguous JSON (duplicate keys, NUL).
 * Keys are generated here; nothing is read from disk.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "cfg_keys.h"
#include "common/cfgdoc.h"
#include "common/codec.h"
#include "common/err.h"
#include "common/log.h"

static int64_t now; /* 2026-11-23T10:00:00Z */

static int group_setup(void **state)
{
	(void)state;
	if (cfgt_keys_setup() < 0)
		return -1;
	return cfgdoc_time_parse("2026-11-23T10:00:00Z", &now);
}

static int group_teardown(void **state)
{
	(void)state;
	cfgt_keys_teardown();
	return 0;
}


/* The envelope of doc signed by the keys listed (-1 ends); free(). */
static char *sign(const char *doc, const int *idx)
{
	struct rg_ec_key *ks[CFGT_KEYS + 4];
	size_t n = 0;
	char *env = NULL, err[256];
	for (; *idx >= 0; idx++)
		ks[n++] = cfgt_key[*idx];
	int rc = cfgdoc_sign(doc, strlen(doc), NULL, 0, ks, n, &env, err, sizeof err);
	if (rc < 0)
		fail_msg("sign: %s", err);
	return env;
}

static char *config_doc(const char *tenant, const char *scope, const char *store,
			const char *device, int64_t version, int64_t expires, const char *settings)
{
	static char buf[4096];
	char iss[21], exp[21], st[64] = "", dv[96] = "";
	cfgdoc_time_format(now - 3600, iss);
	cfgdoc_time_format(expires, exp);
	if (store)
		snprintf(st, sizeof st, "\"store\": \"%s\", ", store);
	if (device)
		snprintf(dv, sizeof dv, "\"device\": \"%s\", ", device);
	snprintf(buf, sizeof buf,
		 "{\"type\": \"regulars-config\", \"tenant\": \"%s\", \"scope\": \"%s\", %s%s"
		 "\"version\": %lld, \"issued\": \"%s\", \"expires\": \"%s\", \"settings\": %s}",
		 tenant, scope, st, dv, (long long)version, iss, exp, settings);
	return buf;
}

static const int K012[] = {0, 1, 2, -1};
static struct cfgdoc_keyset trust; /* acme v1: keys 0,1,2, threshold 2 */

static int setup(void **state)
{
	(void)state;
	cfgt_keyset(&trust, "acme", 1, 2, K012);
	return 0;
}

static struct cfgdoc_expect expect_store(void)
{
	return (struct cfgdoc_expect){.store = "0042",
				      .device = "dev-0042-k1",
				      .scope = CFGDOC_SCOPE_STORE,
				      .now = now,
				      .applied_version = 0,
				      .check_settings = true};
}

static enum cfgdoc_reason verify(const char *env, size_t len, const struct cfgdoc_expect *e,
				 char *err, size_t errcap)
{
	struct cfgdoc d;
	enum cfgdoc_reason r = cfgdoc_verify(&trust, env, len, e, &d, err, errcap);
	if (r == CFGDOC_OK)
		assert_non_null(d.settings);
	else
		assert_null(d.settings);
	cfgdoc_clear(&d);
	return r;
}

static void test_names(void **state)
{
	static const char *const names[] = {
	    "ok",	    "too_large", "malformed", "signature", "wrong_tenant",
	    "wrong_target", "expired",	 "replay",    "invalid",   "rotation"};
	(void)state;
	for (int r = 0; r < CFGDOC_REASON__COUNT; r++)
		assert_string_equal(cfgdoc_reason_name((enum cfgdoc_reason)r), names[r]);
	assert_int_equal(cfgdoc_scope_parse("device"), CFGDOC_SCOPE_DEVICE);
	assert_int_equal(cfgdoc_scope_parse("keys"), CFGDOC_SCOPE_KEYS);
	assert_int_equal(cfgdoc_scope_parse("Store"), RG_ERR_PARSE);
	assert_string_equal(cfgdoc_scope_name(CFGDOC_SCOPE_TENANT), "tenant");
}

static void test_time(void **state)
{
	int64_t t;
	char buf[21];
	(void)state;
	assert_int_equal(cfgdoc_time_parse("1970-01-01T00:00:00Z", &t), 0);
	assert_int_equal(t, 0);
	assert_int_equal(cfgdoc_time_parse("2026-11-23T10:00:00Z", &t), 0);
	assert_int_equal(t, 1795428000);
	assert_int_equal(cfgdoc_time_parse("2028-02-29T23:59:59Z", &t), 0);
	cfgdoc_time_format(t, buf);
	assert_string_equal(buf, "2028-02-29T23:59:59Z");
	cfgdoc_time_format(1795428000, buf);
	assert_string_equal(buf, "2026-11-23T10:00:00Z");
	/* round trip over many days, against the C library */
	for (int64_t x = 0; x < INT64_C(4102444800); x += 86399 * 37) {
		time_t tt = (time_t)x;
		struct tm tm;
		char ref[32];
		gmtime_r(&tt, &tm);
		strftime(ref, sizeof ref, "%Y-%m-%dT%H:%M:%SZ", &tm);
		cfgdoc_time_format(x, buf);
		assert_string_equal(buf, ref);
		assert_int_equal(cfgdoc_time_parse(buf, &t), 0);
		assert_int_equal(t, x);
	}
	const char *bad[] = {"2027-02-29T00:00:00Z",
			     "2026-13-01T00:00:00Z",
			     "2026-11-23T24:00:00Z",
			     "2026-11-23T10:00:00",
			     "2026-11-23 10:00:00Z",
			     "2026-11-23T10:00:00+00:00",
			     "1969-12-31T23:59:59Z",
			     "2026-11-31T00:00:00Z",
			     "2026-1-23T10:00:00Z",
			     "2026-11-23T10:00:60Z",
			     ""};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		assert_int_equal(cfgdoc_time_parse(bad[i], &t), RG_ERR_PARSE);
}

static void test_valid_document(void **state)
{
	struct cfgdoc_expect e = expect_store();
	struct cfgdoc d;
	uint8_t h[RG_SHA256_LEN];
	char err[256];
	const char *doc = config_doc("acme", "store", "0042", NULL, 7, now + 86400,
				     "{\"screen\": {\"idle_after_ms\": 9000}}");
	char *env = sign(doc, K012);
	(void)state;

	assert_int_equal(cfgdoc_verify(&trust, env, strlen(env), &e, &d, err, sizeof err),
			 CFGDOC_OK);
	assert_int_equal(d.scope, CFGDOC_SCOPE_STORE);
	assert_string_equal(d.tenant, "acme");
	assert_string_equal(d.store, "0042");
	assert_string_equal(d.device, "");
	assert_int_equal(d.version, 7);
	assert_int_equal(d.issued, now - 3600);
	assert_int_equal(d.expires, now + 86400);
	assert_int_equal(d.valid_signatures, 3);
	rg_sha256(doc, strlen(doc), h);
	assert_memory_equal(d.digest, h, sizeof h);
	const cJSON *scr = cJSON_GetObjectItemCaseSensitive(d.settings, "screen");
	assert_int_equal(cJSON_GetObjectItemCaseSensitive(scr, "idle_after_ms")->valueint, 9000);
	cfgdoc_clear(&d);
	cfgdoc_clear(&d); /* twice is safe */

	/* the payload is the document's exact bytes */
	char *got;
	size_t n;
	assert_int_equal(cfgdoc_envelope_payload(env, strlen(env), &got, &n, err, sizeof err), 0);
	assert_int_equal(n, strlen(doc));
	assert_memory_equal(got, doc, n);
	assert_int_equal(got[n], '\0');
	free(got);
	free(env);
}

static void test_too_large_unread(void **state)
{
	size_t n = 10u << 20;
	char *big = malloc(n), err[256];
	struct cfgdoc_expect e = expect_store();
	struct cfgdoc_keyset next;
	(void)state;
	assert_non_null(big);
	memset(big, 'x', n); /* garbage: parsing it would say malformed */
	clock_t t0 = clock();
	assert_int_equal(verify(big, n, &e, err, sizeof err), CFGDOC_TOO_LARGE);
	assert_string_equal(err, "envelope of 10485760 bytes exceeds the limit of 65536");
	assert_int_equal(cfgdoc_rotate(&trust, big, n, &next, err, sizeof err), CFGDOC_TOO_LARGE);
	assert_true((double)(clock() - t0) / CLOCKS_PER_SEC < 0.05); /* not even hashed */
	/* one byte over the limit, valid or not, is too large */
	assert_int_equal(verify(big, CFGDOC_ENVELOPE_MAX + 1, &e, err, sizeof err),
			 CFGDOC_TOO_LARGE);
	free(big);
}

/* An envelope with this payload text and signature list, by hand. */
static char *raw_envelope(const char *doc, const char *sigs)
{
	size_t cap = RG_B64URL_LEN(strlen(doc)) + strlen(sigs) + 64;
	char *p = malloc(RG_B64URL_LEN(strlen(doc)) + 1), *env = malloc(cap);
	rg_b64url_encode(doc, strlen(doc), p, RG_B64URL_LEN(strlen(doc)) + 1);
	snprintf(env, cap, "{\"payload\": \"%s\", \"signatures\": %s}", p, sigs);
	free(p);
	return env;
}

static void test_malformed(void **state)
{
	struct cfgdoc_expect e = expect_store();
	char err[256];
	const char *good = config_doc("acme", "store", "0042", NULL, 7, now + 86400, "{}");
	char *env = sign(good, K012);
	(void)state;

	const char *envs[] = {
	    "",
	    "not json",
	    "[]",
	    "{\"payload\": \"e30\"}",
	    "{\"payload\": \"e30\", \"signatures\": [], \"extra\": 1}",
	    "{\"payload\": \"e30=\", \"signatures\": []}", /* padding */
	    "{\"payload\": \"\", \"signatures\": []}",	   /* empty document */
	    "{\"payload\": 5, \"signatures\": []}",
	    "{\"payload\": \"e30\", \"signatures\": [{\"keyid\": \"00\", \"sig\": \"AAAA\"}]}",
	    "{\"payload\": \"e30\", \"payload\": \"e30\", \"signatures\": []}", /* duplicate */
	    "{\"payload\": \"e30\", \"signatures\": []}\x00",
	};
	for (size_t i = 0; i < sizeof envs / sizeof envs[0]; i++) {
		size_t len = strlen(envs[i]) + (i == sizeof envs / sizeof envs[0] - 1);
		assert_int_equal(verify(envs[i], len, &e, err, sizeof err), CFGDOC_MALFORMED);
		assert_true(strlen(err) > 0);
	}
	/* an uppercase key id is not the canonical form */
	char *up = strdup(env), *k = strstr(up, "\"keyid\":\"");
	assert_non_null(k);
	for (char *c = k + 9; *c != '"'; c++)
		if (*c >= 'a' && *c <= 'f')
			*c = (char)(*c - 'a' + 'A');
	assert_int_equal(verify(up, strlen(up), &e, err, sizeof err), CFGDOC_MALFORMED);
	free(up);
	free(env);

	/* signed, but not a document this file describes */
	const char *docs[] = {
	    "not json",
	    "{\"type\": \"regulars-config\"}",
	    /* a key twice: two readers could see two documents */
	    "{\"type\": \"regulars-config\", \"tenant\": \"acme\", \"tenant\": \"evil\", "
	    "\"scope\": "
	    "\"tenant\", \"version\": 1, \"issued\": \"2026-11-01T00:00:00Z\", \"expires\": "
	    "\"2027-11-01T00:00:00Z\", \"settings\": {}}",
	    "{\"type\": \"regulars-config\", \"tenant\": \"acme\", \"scope\": \"tenant\", "
	    "\"version\": 1, \"issued\": \"2026-11-01T00:00:00Z\", \"expires\": "
	    "\"2027-11-01T00:00:00Z\", \"settings\": {\"screen\": {\"a\": 1, \"a\": 2}}}",
	    "{\"type\": \"regulars-config\", \"tenant\": \"acme\\u0000x\", \"scope\": \"tenant\", "
	    "\"version\": 1, \"issued\": \"2026-11-01T00:00:00Z\", \"expires\": "
	    "\"2027-11-01T00:00:00Z\", \"settings\": {}}",
	    /* a tenant document names no store; a store document names one */
	    "{\"type\": \"regulars-config\", \"tenant\": \"acme\", \"scope\": \"tenant\", "
	    "\"store\": "
	    "\"0042\", \"version\": 1, \"issued\": \"2026-11-01T00:00:00Z\", \"expires\": "
	    "\"2027-11-01T00:00:00Z\", \"settings\": {}}",
	    "{\"type\": \"regulars-config\", \"tenant\": \"acme\", \"scope\": \"store\", "
	    "\"version\": 1, \"issued\": \"2026-11-01T00:00:00Z\", \"expires\": "
	    "\"2027-11-01T00:00:00Z\", \"settings\": {}}",
	    "{\"type\": \"regulars-config\", \"tenant\": \"acme\", \"scope\": \"tenant\", "
	    "\"version\": 0, \"issued\": \"2026-11-01T00:00:00Z\", \"expires\": "
	    "\"2027-11-01T00:00:00Z\", \"settings\": {}}",
	    "{\"type\": \"regulars-config\", \"tenant\": \"acme\", \"scope\": \"tenant\", "
	    "\"version\": 1, \"issued\": \"2026-11-01T00:00:00Z\", \"expires\": "
	    "\"2025-11-01T00:00:00Z\", \"settings\": {}}",
	    "{\"type\": \"regulars-config\", \"tenant\": \"acme\", \"scope\": \"tenant\", "
	    "\"version\": 1, \"issued\": \"2026-11-01T00:00:00Z\", \"expires\": "
	    "\"2027-11-01T00:00:00Z\", \"settings\": {}, \"comment\": \"x\"}",
	    "{\"type\": \"regulars-config\", \"tenant\": \"ACME\", \"scope\": \"tenant\", "
	    "\"version\": 1, \"issued\": \"2026-11-01T00:00:00Z\", \"expires\": "
	    "\"2027-11-01T00:00:00Z\", \"settings\": {}}",
	};
	e.scope = -1;
	for (size_t i = 0; i < sizeof docs / sizeof docs[0]; i++) {
		char *s = sign(docs[i], K012);
		assert_int_equal(verify(s, strlen(s), &e, err, sizeof err), CFGDOC_MALFORMED);
		free(s);
	}
	/* the same text with its key once is fine: the refusal above is the duplicate */
	char *s =
	    sign("{\"type\": \"regulars-config\", \"tenant\": \"acme\", \"scope\": \"tenant\", "
		 "\"version\": 1, \"issued\": \"2026-11-01T00:00:00Z\", \"expires\": "
		 "\"2027-11-01T00:00:00Z\", \"settings\": {}}",
		 K012);
	assert_int_equal(verify(s, strlen(s), &e, err, sizeof err), CFGDOC_OK);
	free(s);
}

static void test_signatures_before_parsing(void **state)
{
	struct cfgdoc_expect e = expect_store();
	char err[256];
	static const int K0[] = {0, -1};
	char *env = sign("not json at all", K0);
	(void)state;
	/* one signature of the two required: refused for that, the junk unread */
	assert_int_equal(verify(env, strlen(env), &e, err, sizeof err), CFGDOC_SIGNATURE);
	assert_string_equal(err, "1 valid signature of the 2 required");
	free(env);
}

static void test_threshold(void **state)
{
	struct cfgdoc_expect e = expect_store();
	char err[256], *env;
	const char *doc = config_doc("acme", "store", "0042", NULL, 7, now + 86400, "{}");
	static const int K0[] = {0, -1}, K01[] = {0, 1, -1}, K0_56[] = {0, 5, 6, -1};
	static const int K01_5[] = {0, 1, 5, -1};
	(void)state;

	/* one valid and one bad signature (key 1's entry over other bytes) */
	char *a = sign(doc, K0), *b = sign("{\"other\": 1}", (const int[]){1, -1});
	char *sa = strstr(a, "\"signatures\":["), *sb = strstr(b, "\"signatures\":[");
	assert_non_null(sa);
	assert_non_null(sb);
	sa[strlen(sa) - 2] = '\0'; /* drop "]}" */
	size_t cap = strlen(a) + strlen(sb) + 8;
	env = malloc(cap);
	snprintf(env, cap, "%s,%s", a, sb + strlen("\"signatures\":["));
	assert_int_equal(verify(env, strlen(env), &e, err, sizeof err), CFGDOC_SIGNATURE);
	assert_string_equal(err, "1 valid signature of the 2 required (1 not verifying)");
	free(env);

	/* the same key twice counts once */
	sa = strstr(a, "\"signatures\":[") + strlen("\"signatures\":[");
	cap = strlen(a) * 2 + 8;
	env = malloc(cap);
	snprintf(env, cap, "%s,%s]}", a, sa);
	assert_int_equal(verify(env, strlen(env), &e, err, sizeof err), CFGDOC_SIGNATURE);
	assert_string_equal(err, "1 valid signature of the 2 required");
	free(env);
	free(a);
	free(b);

	/* keys outside the set are ignored, neither helping nor hurting */
	env = sign(doc, K0_56);
	assert_int_equal(verify(env, strlen(env), &e, err, sizeof err), CFGDOC_SIGNATURE);
	assert_string_equal(err,
			    "1 valid signature of the 2 required (2 by keys not in key set v1)");
	free(env);
	env = sign(doc, K01_5);
	struct cfgdoc d;
	assert_int_equal(cfgdoc_verify(&trust, env, strlen(env), &e, &d, err, sizeof err),
			 CFGDOC_OK);
	assert_int_equal(d.valid_signatures, 2);
	cfgdoc_clear(&d);
	free(env);

	/* a modified payload: the signatures no longer verify */
	env = sign(doc, K01);
	char *p = strstr(env, "\"payload\":\"") + strlen("\"payload\":\"");
	char *mod = config_doc("acme", "store", "0042", NULL, 8, now + 86400, "{}");
	char enc[4096];
	rg_b64url_encode(mod, strlen(mod), enc, sizeof enc);
	char *q = strchr(p, '"');
	assert_int_equal((size_t)(q - p), strlen(enc)); /* same length: only the version differs */
	memcpy(p, enc, strlen(enc));
	assert_int_equal(verify(env, strlen(env), &e, err, sizeof err), CFGDOC_SIGNATURE);
	assert_string_equal(err, "0 valid signatures of the 2 required (2 not verifying)");
	free(env);

	/* no signatures at all */
	env = raw_envelope(doc, "[]");
	assert_int_equal(verify(env, strlen(env), &e, err, sizeof err), CFGDOC_SIGNATURE);
	free(env);
}

static void test_reasons(void **state)
{
	struct cfgdoc_expect e = expect_store();
	char err[256], *env;
	(void)state;

	env = sign(config_doc("globex", "store", "0042", NULL, 7, now + 86400, "{}"), K012);
	assert_int_equal(verify(env, strlen(env), &e, err, sizeof err), CFGDOC_WRONG_TENANT);
	assert_string_equal(err, "document is for tenant globex, this is acme");
	free(env);

	env = sign(config_doc("acme", "store", "0043", NULL, 7, now + 86400, "{}"), K012);
	assert_int_equal(verify(env, strlen(env), &e, err, sizeof err), CFGDOC_WRONG_TARGET);
	assert_string_equal(err, "document is for store 0043, this is 0042");
	free(env);

	env = sign(config_doc("acme", "device", "0042", "dev-0042-k2", 7, now + 86400, "{}"), K012);
	e.scope = CFGDOC_SCOPE_DEVICE;
	assert_int_equal(verify(env, strlen(env), &e, err, sizeof err), CFGDOC_WRONG_TARGET);
	assert_string_equal(err, "document is for device dev-0042-k2, this is dev-0042-k1");
	e.device = NULL; /* IT tooling: any device */
	assert_int_equal(verify(env, strlen(env), &e, err, sizeof err), CFGDOC_OK);
	e.device = "dev-0042-k1";
	free(env);

	/* a tenant document on the store topic */
	env = sign(config_doc("acme", "tenant", NULL, NULL, 7, now + 86400, "{}"), K012);
	e.scope = CFGDOC_SCOPE_STORE;
	assert_int_equal(verify(env, strlen(env), &e, err, sizeof err), CFGDOC_WRONG_TARGET);
	assert_string_equal(err, "a tenant document where a store document belongs");
	e.scope = CFGDOC_SCOPE_TENANT;
	assert_int_equal(verify(env, strlen(env), &e, err, sizeof err), CFGDOC_OK);
	free(env);
	e.scope = CFGDOC_SCOPE_STORE;

	env = sign(config_doc("acme", "store", "0042", NULL, 7, now, "{}"), K012);
	assert_int_equal(verify(env, strlen(env), &e, err, sizeof err), CFGDOC_EXPIRED);
	assert_string_equal(err, "expired 2026-11-23T10:00:00Z");
	e.now = now - 1;
	assert_int_equal(verify(env, strlen(env), &e, err, sizeof err), CFGDOC_OK);
	e.now = now;
	free(env);

	env = sign(config_doc("acme", "store", "0042", NULL, 5, now + 86400, "{}"), K012);
	e.applied_version = 5;
	assert_int_equal(verify(env, strlen(env), &e, err, sizeof err), CFGDOC_REPLAY);
	assert_string_equal(err, "version 5 is not newer than the applied 5");
	e.applied_version = 9;
	assert_int_equal(verify(env, strlen(env), &e, err, sizeof err), CFGDOC_REPLAY);
	e.applied_version = 4;
	assert_int_equal(verify(env, strlen(env), &e, err, sizeof err), CFGDOC_OK);
	e.applied_version = 0;
	free(env);

	env = sign(config_doc("acme", "store", "0042", NULL, 7, now + 86400,
			      "{\"screen\": {\"idle_after_ms\": 5}}"),
		   K012);
	assert_int_equal(verify(env, strlen(env), &e, err, sizeof err), CFGDOC_INVALID);
	assert_non_null(strstr(err, "screen.idle_after_ms"));
	e.check_settings = false;
	assert_int_equal(verify(env, strlen(env), &e, err, sizeof err), CFGDOC_OK);
	e.check_settings = true;
	free(env);

	env = sign(
	    config_doc("acme", "store", "0042", NULL, 7, now + 86400, "{\"no_such_key\": true}"),
	    K012);
	assert_int_equal(verify(env, strlen(env), &e, err, sizeof err), CFGDOC_INVALID);
	assert_non_null(strstr(err, "no_such_key"));
	free(env);
}

static void test_keyset_parse(void **state)
{
	struct cfgdoc_keyset ks, back;
	char err[256];
	(void)state;

	char *json = cfgdoc_keyset_json(&trust);
	assert_non_null(json);
	assert_int_equal(cfgdoc_keyset_parse(json, strlen(json), &ks, err, sizeof err), 0);
	assert_string_equal(ks.tenant, "acme");
	assert_int_equal(ks.version, 1);
	assert_int_equal(ks.threshold, 2);
	assert_int_equal(ks.n, 3);
	assert_int_equal(ks.expires, 0);
	assert_memory_equal(ks.keys, trust.keys, sizeof ks.keys);
	free(json);

	ks.expires = now + 86400 * 365;
	json = cfgdoc_keyset_json(&ks);
	assert_int_equal(cfgdoc_keyset_parse(json, strlen(json), &back, err, sizeof err), 0);
	assert_int_equal(back.expires, ks.expires);
	free(json);

	/* broken sets: each refused with a message */
	char id0[65], id1[65], pub0[90], pub1[90];
	rg_hex_encode(trust.keys[0].id, 32, id0, sizeof id0);
	rg_hex_encode(trust.keys[1].id, 32, id1, sizeof id1);
	rg_b64url_encode(trust.keys[0].pub, 65, pub0, sizeof pub0);
	rg_b64url_encode(trust.keys[1].pub, 65, pub1, sizeof pub1);
	char buf[1024];
	struct {
		const char *fmt; /* %s x4: id0 pub0 id1 pub1 */
		const char *want;
	} bad[] = {
	    {"{\"type\": \"regulars-keys\", \"tenant\": \"acme\", \"version\": 1, \"threshold\": "
	     "3, "
	     "\"keys\": [{\"keyid\": \"%s\", \"public\": \"%s\"}, {\"keyid\": \"%s\", \"public\": "
	     "\"%s\"}]}",
	     "more than the 2 keys"},
	    {"{\"type\": \"regulars-keys\", \"tenant\": \"acme\", \"version\": 1, \"threshold\": "
	     "1, "
	     "\"keys\": [{\"keyid\": \"%s\", \"public\": \"%s\", \"note\": \"%s%s\"}]}",
	     "unknown key \"note\""},
	    {"{\"type\": \"regulars-keys\", \"tenant\": \"acme\", \"version\": 1, \"threshold\": "
	     "0, "
	     "\"keys\": [{\"keyid\": \"%s\", \"public\": \"%s\"}, {\"keyid\": \"%s\", \"public\": "
	     "\"%s\"}]}",
	     "threshold"},
	    {"{\"type\": \"regulars-config\", \"tenant\": \"acme\", \"version\": 1, \"threshold\": "
	     "1, "
	     "\"keys\": [{\"keyid\": \"%s\", \"public\": \"%s\"}, {\"keyid\": \"%s\", \"public\": "
	     "\"%s\"}]}",
	     "regulars-keys"},
	    {"{\"type\": \"regulars-keys\", \"tenant\": \"acme\", \"version\": 1, \"threshold\": "
	     "1, "
	     "\"threshold\": 1, \"keys\": [{\"keyid\": \"%s\", \"public\": \"%s\"}, {\"keyid\": "
	     "\"%s\", "
	     "\"public\": \"%s\"}]}",
	     "appears twice"},
	    {"{\"type\": \"regulars-keys\", \"tenant\": \"acme\", \"version\": 1, \"threshold\": "
	     "1, "
	     "\"keys\": []}%.0s%.0s%.0s%.0s",
	     "at least one key"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
		snprintf(buf, sizeof buf, bad[i].fmt, id0, pub0, id1, pub1);
#pragma GCC diagnostic pop
		err[0] = '\0';
		assert_int_equal(cfgdoc_keyset_parse(buf, strlen(buf), &ks, err, sizeof err),
				 RG_ERR_PARSE);
		if (!strstr(err, bad[i].want))
			fail_msg("case %zu: \"%s\" lacks \"%s\"", i, err, bad[i].want);
		assert_int_equal(ks.n, 0);
	}
	/* a key id that is not its key's; the same key twice */
	snprintf(buf, sizeof buf,
		 "{\"type\": \"regulars-keys\", \"tenant\": \"acme\", \"version\": 1, "
		 "\"threshold\": 1, \"keys\": [{\"keyid\": \"%s\", \"public\": \"%s\"}]}",
		 id0, pub1);
	assert_int_equal(cfgdoc_keyset_parse(buf, strlen(buf), &ks, err, sizeof err), RG_ERR_PARSE);
	assert_non_null(strstr(err, "keys[0]: keyid is not the SHA-256 of the public key"));
	snprintf(
	    buf, sizeof buf,
	    "{\"type\": \"regulars-keys\", \"tenant\": \"acme\", \"version\": 1, "
	    "\"threshold\": 1, \"keys\": [{\"keyid\": \"%s\", \"public\": \"%s\"}, "
	    "{\"keyid\": \"%s\", \"public\": \"%s\"}, {\"keyid\": \"%s\", \"public\": \"%s\"}]}",
	    id0, pub0, id1, pub1, id0, pub0);
	assert_int_equal(cfgdoc_keyset_parse(buf, strlen(buf), &ks, err, sizeof err), RG_ERR_PARSE);
	assert_string_equal(err, "keys[2]: the same key as keys[0]");
	/* a point not on the curve */
	uint8_t offc[65];
	memcpy(offc, trust.keys[0].pub, 65);
	offc[64] ^= 1;
	uint8_t h[32];
	char hid[65], hpub[90];
	rg_sha256(offc, 65, h);
	rg_hex_encode(h, 32, hid, sizeof hid);
	rg_b64url_encode(offc, 65, hpub, sizeof hpub);
	snprintf(buf, sizeof buf,
		 "{\"type\": \"regulars-keys\", \"tenant\": \"acme\", \"version\": 1, "
		 "\"threshold\": 1, \"keys\": [{\"keyid\": \"%s\", \"public\": \"%s\"}]}",
		 hid, hpub);
	assert_int_equal(cfgdoc_keyset_parse(buf, strlen(buf), &ks, err, sizeof err), RG_ERR_PARSE);
	assert_non_null(strstr(err, "not a P-256 point"));
}

/* A rotation document for ks (its own JSON), signed by the keys listed. */
static char *rotation(const struct cfgdoc_keyset *ks, const int *signers)
{
	char *json = cfgdoc_keyset_json(ks);
	char *env = sign(json, signers);
	free(json);
	return env;
}

static void test_rotation(void **state)
{
	static const int K234[] = {2, 3, 4, -1}, K01[] = {0, 1, -1}, K34[] = {3, 4, -1};
	static const int K0134[] = {0, 1, 3, 4, -1}, K0234[] = {0, 2, 3, 4, -1};
	static const int K24[] = {2, 4, -1};
	struct cfgdoc_keyset v2, next, other;
	char err[256], *env;
	(void)state;

	cfgt_keyset(&v2, "acme", 2, 2, K234);
	/* only the old set's threshold */
	env = rotation(&v2, K01);
	assert_int_equal(cfgdoc_rotate(&trust, env, strlen(env), &next, err, sizeof err),
			 CFGDOC_SIGNATURE);
	assert_string_equal(err, "0 valid signatures of the 2 required by the new key set v2 "
				 "(2 by keys not in key set v2)");
	assert_int_equal(next.n, 0);
	free(env);
	/* only the new set's threshold */
	env = rotation(&v2, K34);
	assert_int_equal(cfgdoc_rotate(&trust, env, strlen(env), &next, err, sizeof err),
			 CFGDOC_SIGNATURE);
	assert_string_equal(err, "0 valid signatures of the 2 required by key set v1 "
				 "(2 by keys not in key set v1)");
	free(env);
	/* key 2 is in both: 0+2 for v1 and 2+3 for v2 suffice */
	env = rotation(&v2, K0234);
	assert_int_equal(cfgdoc_rotate(&trust, env, strlen(env), &next, err, sizeof err),
			 CFGDOC_OK);
	assert_int_equal(next.version, 2);
	assert_int_equal(next.n, 3);
	assert_memory_equal(next.keys, v2.keys, sizeof v2.keys);
	free(env);
	env = rotation(&v2, K0134);
	assert_int_equal(cfgdoc_rotate(&trust, env, strlen(env), &next, err, sizeof err),
			 CFGDOC_OK);
	free(env);

	/* not the next version; another tenant */
	struct cfgdoc_keyset v3 = v2;
	v3.version = 3;
	env = rotation(&v3, K0134);
	assert_int_equal(cfgdoc_rotate(&trust, env, strlen(env), &next, err, sizeof err),
			 CFGDOC_ROTATION);
	assert_string_equal(err, "key set version 3 does not follow the current 1");
	free(env);
	other = v2;
	snprintf(other.tenant, sizeof other.tenant, "globex");
	env = rotation(&other, K0134);
	assert_int_equal(cfgdoc_rotate(&trust, env, strlen(env), &next, err, sizeof err),
			 CFGDOC_ROTATION);
	free(env);
	/* a configuration document is not a rotation */
	env = sign(config_doc("acme", "tenant", NULL, NULL, 2, now + 86400, "{}"), K0134);
	assert_int_equal(cfgdoc_rotate(&trust, env, strlen(env), &next, err, sizeof err),
			 CFGDOC_MALFORMED);
	free(env);

	/* after the rotation: documents need the new keys */
	struct cfgdoc_expect e = expect_store();
	struct cfgdoc d;
	const char *doc = config_doc("acme", "store", "0042", NULL, 3, now + 86400, "{}");
	env = sign(doc, K01); /* retired keys only */
	assert_int_equal(cfgdoc_verify(&v2, env, strlen(env), &e, &d, err, sizeof err),
			 CFGDOC_SIGNATURE);
	assert_int_equal(cfgdoc_verify(&trust, env, strlen(env), &e, &d, err, sizeof err),
			 CFGDOC_OK);
	cfgdoc_clear(&d);
	free(env);
	env = sign(doc, K24);
	assert_int_equal(cfgdoc_verify(&v2, env, strlen(env), &e, &d, err, sizeof err), CFGDOC_OK);
	cfgdoc_clear(&d);
	free(env);

	/* cfgdoc_verify checks a key-set document against trust only */
	env = rotation(&v2, K0134);
	e.scope = CFGDOC_SCOPE_STORE;
	assert_int_equal(cfgdoc_verify(&trust, env, strlen(env), &e, &d, err, sizeof err),
			 CFGDOC_MALFORMED);
	e.scope = -1;
	assert_int_equal(cfgdoc_verify(&trust, env, strlen(env), &e, &d, err, sizeof err),
			 CFGDOC_OK);
	assert_int_equal(d.scope, CFGDOC_SCOPE_KEYS);
	assert_int_equal(d.keys.version, 2);
	assert_null(d.settings);
	cfgdoc_clear(&d);
	/* and a configuration document where a key set belongs is misplaced */
	free(env);
	env = sign(doc, K012);
	e.scope = CFGDOC_SCOPE_KEYS;
	assert_int_equal(cfgdoc_verify(&trust, env, strlen(env), &e, &d, err, sizeof err),
			 CFGDOC_WRONG_TARGET);
	free(env);
}

static void test_sign_append(void **state)
{
	static const int K0[] = {0, -1};
	const char *doc = config_doc("acme", "store", "0042", NULL, 7, now + 86400, "{}");
	struct cfgdoc_expect e = expect_store();
	struct rg_ec_key *more[] = {cfgt_key[0], cfgt_key[1], cfgt_key[1]};
	char *env = sign(doc, K0), *env2 = NULL, err[256];
	(void)state;

	assert_int_equal(verify(env, strlen(env), &e, err, sizeof err), CFGDOC_SIGNATURE);
	assert_int_equal(
	    cfgdoc_sign(doc, strlen(doc), env, strlen(env), more, 3, &env2, err, sizeof err), 0);
	assert_int_equal(verify(env2, strlen(env2), &e, err, sizeof err), CFGDOC_OK);
	/* two entries: key 0 kept (not re-signed), key 1 added once */
	int n = 0;
	for (const char *p = env2; (p = strstr(p, "\"keyid\"")) != NULL; p++)
		n++;
	assert_int_equal(n, 2);
	char old_sig[128];
	const char *o = strstr(env, "\"sig\":\"") + 7;
	snprintf(old_sig, sizeof old_sig, "%.*s", (int)(strchr(o, '"') - o), o);
	assert_non_null(strstr(env2, old_sig)); /* the old signature kept, not re-made */
	free(env2);

	/* over another document: refused */
	const char *other = config_doc("acme", "store", "0042", NULL, 8, now + 86400, "{}");
	assert_int_equal(
	    cfgdoc_sign(other, strlen(other), env, strlen(env), more, 1, &env2, err, sizeof err),
	    RG_ERR_INVAL);
	assert_null(env2);
	assert_string_equal(err, "the envelope holds another document");

	/* a public key cannot sign */
	uint8_t raw[65];
	struct rg_ec_key *pub;
	rg_ec_key_public_raw(cfgt_key[0], raw);
	assert_int_equal(rg_ec_key_from_public_raw(&pub, raw), 0);
	assert_int_equal(cfgdoc_sign(doc, strlen(doc), NULL, 0, &pub, 1, &env2, err, sizeof err),
			 RG_ERR_INVAL);
	rg_ec_key_free(pub);
	/* nothing to sign with */
	assert_int_equal(cfgdoc_sign(doc, strlen(doc), NULL, 0, NULL, 0, &env2, err, sizeof err),
			 RG_ERR_INVAL);
	/* too big for an envelope */
	size_t big = CFGDOC_ENVELOPE_MAX;
	char *huge = malloc(big);
	memset(huge, ' ', big);
	assert_int_equal(cfgdoc_sign(huge, big, NULL, 0, more, 1, &env2, err, sizeof err),
			 RG_ERR_TOOBIG);
	free(huge);
	free(env);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup(test_names, setup),
	    cmocka_unit_test_setup(test_time, setup),
	    cmocka_unit_test_setup(test_valid_document, setup),
	    cmocka_unit_test_setup(test_too_large_unread, setup),
	    cmocka_unit_test_setup(test_malformed, setup),
	    cmocka_unit_test_setup(test_signatures_before_parsing, setup),
	    cmocka_unit_test_setup(test_threshold, setup),
	    cmocka_unit_test_setup(test_reasons, setup),
	    cmocka_unit_test_setup(test_keyset_parse, setup),
	    cmocka_unit_test_setup(test_rotation, setup),
	    cmocka_unit_test_setup(test_sign_append, setup),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
