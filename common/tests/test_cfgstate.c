/*
 * test_cfgstate.c - a receiver's configuration state on a real SQLite file:
 * apply, the byte-for-byte re-offer, replay, refusals in the report,
 * rotations in and out of order, a document that arrives before the
 * rotation whose keys signed it, persistence across close/reopen, no
 * rollback by an older anchor, and the report through expiry (manual clock).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "cfg_keys.h"
#include "common/cfgstate.h"
#include "common/err.h"
#include "common/log.h"

static int64_t t0; /* 2026-11-23T10:00:00Z */

static char dir[256], path[300];
static struct rg_clock_manual clk;
static struct cfgdoc_keyset anchor; /* acme v1: keys 0,1,2, threshold 2 */
static const int K01[] = {0, 1, -1}, K012[] = {0, 1, 2, -1}, K234[] = {2, 3, 4, -1};
static const int K23[] = {2, 3, -1}, K34[] = {3, 4, -1}, K456[] = {4, 5, 6, -1};
static const int K45[] = {4, 5, -1}, K56[] = {5, 6, -1};

static int group_setup(void **state)
{
	(void)state;
	if (cfgt_keys_setup() < 0)
		return -1;
	return cfgdoc_time_parse("2026-11-23T10:00:00Z", &t0);
}

static int group_teardown(void **state)
{
	(void)state;
	cfgt_keys_teardown();
	return 0;
}


static int setup(void **state)
{
	const char *tmp = getenv("TMPDIR");
	(void)state;
	snprintf(dir, sizeof dir, "%s/rg-cfgstate-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(dir))
		return -1;
	snprintf(path, sizeof path, "%s/device.db-config", dir);
	rg_clock_manual_init(&clk, t0 * 1000);
	cfgt_keyset(&anchor, "acme", 1, 2, K012);
	return 0;
}

static int teardown(void **state)
{
	char p[320];
	const char *suffix[] = {"", "-wal", "-shm", "-journal"};
	(void)state;
	for (int i = 0; i < 4; i++) {
		snprintf(p, sizeof p, "%s%s", path, suffix[i]);
		unlink(p);
	}
	rmdir(dir);
	return 0;
}

static char *sign(const char *doc, const int *idx)
{
	struct rg_ec_key *ks[CFGT_KEYS];
	size_t n = 0;
	char *env = NULL, err[256];
	for (; *idx >= 0; idx++)
		ks[n++] = cfgt_key[*idx];
	if (cfgdoc_sign(doc, strlen(doc), NULL, 0, ks, n, &env, err, sizeof err) < 0)
		fail_msg("sign: %s", err);
	return env;
}

/* A signed configuration document: scope "tenant", "store" or "device". */
static char *doc(const char *scope, int64_t version, int64_t expires, const char *settings,
		 const int *signers)
{
	char buf[2048], iss[21], exp[21];
	cfgdoc_time_format(t0 - 60, iss);
	cfgdoc_time_format(expires, exp);
	snprintf(buf, sizeof buf,
		 "{\"type\": \"regulars-config\", \"tenant\": \"acme\", \"scope\": \"%s\", %s"
		 "\"version\": %lld, \"issued\": \"%s\", \"expires\": \"%s\", \"settings\": %s}",
		 scope,
		 !strcmp(scope, "tenant")  ? ""
		 : !strcmp(scope, "store") ? "\"store\": \"0042\", "
					   : "\"store\": \"0042\", \"device\": \"dev-0042-k1\", ",
		 (long long)version, iss, exp, settings);
	return sign(buf, signers);
}

static char *rotation(const struct cfgdoc_keyset *ks, const int *signers)
{
	char *json = cfgdoc_keyset_json(ks);
	char *env = sign(json, signers);
	free(json);
	return env;
}

static struct cfgstate *open_state(const struct cfgdoc_keyset *a)
{
	struct cfgstate_params p = {.path = path,
				    .anchor = a,
				    .store = "0042",
				    .identity = "dev-0042-k1",
				    .clock = &clk.clock};
	struct cfgstate *s;
	char err[256];
	if (cfgstate_open(&p, &s, err, sizeof err) < 0)
		fail_msg("open: %s", err);
	return s;
}

static int offer(struct cfgstate *s, enum cfgdoc_scope scope, char *env, enum cfgdoc_reason *r)
{
	int rc = cfgstate_offer(s, scope, env, strlen(env), r);
	free(env);
	return rc;
}

static char *report(struct cfgstate *s)
{
	cJSON *r = cfgstate_report(s);
	assert_non_null(r);
	char *text = cJSON_PrintUnformatted(r);
	cJSON_Delete(r);
	return text;
}

static void assert_report(struct cfgstate *s, const char *want)
{
	char *got = report(s);
	if (strcmp(got, want))
		fail_msg("report\n got: %s\nwant: %s", got, want);
	free(got);
}

static int merged_int(struct cfgstate *s, const char *obj, const char *k)
{
	cJSON *m = cfgstate_merged(s);
	assert_non_null(m);
	const cJSON *o = cJSON_GetObjectItemCaseSensitive(m, obj);
	const cJSON *v = o ? cJSON_GetObjectItemCaseSensitive(o, k) : NULL;
	int x = cJSON_IsNumber(v) ? v->valueint : -1;
	cJSON_Delete(m);
	return x;
}

#define DAY 86400

static void test_report_none(void **state)
{
	(void)state;
	struct cfgstate *s = open_state(&anchor);
	assert_report(s, "{\"keys\":{\"version\":1},"
			 "\"tenant\":{\"status\":\"none\",\"version\":0},"
			 "\"store\":{\"status\":\"none\",\"version\":0},"
			 "\"device\":{\"status\":\"none\",\"version\":0}}");
	cJSON *m = cfgstate_merged(s);
	assert_non_null(m);
	assert_int_equal(cJSON_GetArraySize(m), 0);
	cJSON_Delete(m);
	/* empty payloads (a cleared retained topic) change nothing */
	assert_int_equal(cfgstate_offer(s, CFGDOC_SCOPE_STORE, "", 0, NULL), 0);
	assert_int_equal(cfgstate_version(s, CFGDOC_SCOPE_STORE), 0);
	assert_int_equal(cfgstate_version(s, CFGDOC_SCOPE_KEYS), 1);
	cfgstate_close(s);
}

static void test_apply_merge_persist(void **state)
{
	enum cfgdoc_reason r;
	(void)state;
	struct cfgstate *s = open_state(&anchor);

	assert_int_equal(
	    offer(s, CFGDOC_SCOPE_TENANT,
		  doc("tenant", 3, t0 + 30 * DAY,
		      "{\"screen\": {\"idle_after_ms\": 9000, \"public_items_max\": 2}}", K01),
		  &r),
	    1);
	assert_int_equal(r, CFGDOC_OK);
	rg_clock_manual_advance(&clk, 1000);
	char *store7 =
	    doc("store", 7, t0 + 10 * DAY, "{\"screen\": {\"idle_after_ms\": 12000}}", K012);
	assert_int_equal(cfgstate_offer(s, CFGDOC_SCOPE_STORE, store7, strlen(store7), &r), 1);
	assert_int_equal(merged_int(s, "screen", "idle_after_ms"), 12000); /* store wins */
	assert_int_equal(merged_int(s, "screen", "public_items_max"), 2);  /* tenant's stays */
	assert_int_equal(cfgstate_version(s, CFGDOC_SCOPE_TENANT), 3);
	assert_int_equal(cfgstate_version(s, CFGDOC_SCOPE_STORE), 7);

	const char *applied = "{\"keys\":{\"version\":1},"
			      "\"tenant\":{\"status\":\"applied\",\"version\":3,\"applied_at\":"
			      "\"2026-11-23T10:00:00Z\","
			      "\"expires\":\"2026-12-23T10:00:00Z\"},"
			      "\"store\":{\"status\":\"applied\",\"version\":7,\"applied_at\":"
			      "\"2026-11-23T10:00:01Z\","
			      "\"expires\":\"2026-12-03T10:00:00Z\"},"
			      "\"device\":{\"status\":\"none\",\"version\":0}}";
	assert_report(s, applied);

	/* the applied document again, byte for byte: nothing changes */
	rg_clock_manual_advance(&clk, 5000);
	assert_int_equal(cfgstate_offer(s, CFGDOC_SCOPE_STORE, store7, strlen(store7), &r), 0);
	assert_int_equal(r, CFGDOC_OK);
	assert_report(s, applied);
	/* the same document with other signatures: the same document */
	char *store7b;
	{
		char *docb;
		size_t n;
		assert_int_equal(
		    cfgdoc_envelope_payload(store7, strlen(store7), &docb, &n, NULL, 0), 0);
		store7b = sign(docb, (const int[]){1, 2, -1});
		free(docb);
	}
	assert_int_equal(offer(s, CFGDOC_SCOPE_STORE, store7b, &r), 0);
	assert_int_equal(r, CFGDOC_OK);
	assert_report(s, applied);
	free(store7);

	/* equal version, other bytes: a replay */
	assert_int_equal(
	    offer(s, CFGDOC_SCOPE_STORE,
		  doc("store", 7, t0 + 10 * DAY, "{\"screen\": {\"idle_after_ms\": 1000}}", K012),
		  &r),
	    0);
	assert_int_equal(r, CFGDOC_REPLAY);
	assert_int_equal(merged_int(s, "screen", "idle_after_ms"), 12000);
	const char *rejected =
	    "{\"keys\":{\"version\":1},"
	    "\"tenant\":{\"status\":\"applied\",\"version\":3,\"applied_at\":\"2026-11-23T10:00:"
	    "00Z\","
	    "\"expires\":\"2026-12-23T10:00:00Z\"},"
	    "\"store\":{\"status\":\"rejected\",\"version\":7,\"applied_at\":\"2026-11-23T10:00:"
	    "01Z\","
	    "\"expires\":\"2026-12-03T10:00:00Z\",\"rejected_version\":7,\"reason\":\"replay\","
	    "\"detail\":\"version 7 is not newer than the applied "
	    "7\",\"at\":\"2026-11-23T10:00:06Z\"},"
	    "\"device\":{\"status\":\"none\",\"version\":0}}";
	assert_report(s, rejected);
	/* an older version too */
	assert_int_equal(
	    offer(s, CFGDOC_SCOPE_STORE, doc("store", 6, t0 + 10 * DAY, "{}", K012), &r), 0);
	assert_int_equal(r, CFGDOC_REPLAY);

	/* persistence: applied documents, key set and report survive */
	cfgstate_close(s);
	s = open_state(&anchor);
	assert_int_equal(cfgstate_version(s, CFGDOC_SCOPE_TENANT), 3);
	assert_int_equal(cfgstate_version(s, CFGDOC_SCOPE_STORE), 7);
	assert_int_equal(merged_int(s, "screen", "idle_after_ms"), 12000);
	char *rep = report(s);
	assert_non_null(strstr(rep, "\"rejected_version\":6,\"reason\":\"replay\""));
	free(rep);

	/* a newer store document clears the rejection */
	assert_int_equal(
	    offer(s, CFGDOC_SCOPE_STORE, doc("store", 8, t0 + 10 * DAY, "{}", K012), &r), 1);
	assert_int_equal(merged_int(s, "screen", "idle_after_ms"), 9000); /* the tenant's again */
	rep = report(s);
	assert_null(strstr(rep, "rejected"));
	free(rep);
	cfgstate_close(s);
	s = open_state(&anchor);
	rep = report(s);
	assert_null(strstr(rep, "rejected"));
	assert_non_null(strstr(rep, "\"store\":{\"status\":\"applied\",\"version\":8"));
	free(rep);
	cfgstate_close(s);
}

static void test_refusals(void **state)
{
	enum cfgdoc_reason r;
	(void)state;
	struct cfgstate *s = open_state(&anchor);

	/* another store's document on our topic */
	char buf[1024], iss[21], exp[21];
	cfgdoc_time_format(t0 - 60, iss);
	cfgdoc_time_format(t0 + DAY, exp);
	snprintf(buf, sizeof buf,
		 "{\"type\": \"regulars-config\", \"tenant\": \"acme\", \"scope\": \"store\", "
		 "\"store\": \"0043\", \"version\": 1, \"issued\": \"%s\", \"expires\": \"%s\", "
		 "\"settings\": {}}",
		 iss, exp);
	assert_int_equal(offer(s, CFGDOC_SCOPE_STORE, sign(buf, K01), &r), 0);
	assert_int_equal(r, CFGDOC_WRONG_TARGET);
	/* a store document on the device topic */
	assert_int_equal(offer(s, CFGDOC_SCOPE_DEVICE, doc("store", 1, t0 + DAY, "{}", K01), &r),
			 0);
	assert_int_equal(r, CFGDOC_WRONG_TARGET);
	/* a setting out of range */
	assert_int_equal(
	    offer(s, CFGDOC_SCOPE_DEVICE,
		  doc("device", 1, t0 + DAY, "{\"screen\": {\"idle_after_ms\": 1}}", K01), &r),
	    0);
	assert_int_equal(r, CFGDOC_INVALID);
	/* expired before it arrived */
	assert_int_equal(offer(s, CFGDOC_SCOPE_TENANT, doc("tenant", 1, t0 - 1, "{}", K01), &r), 0);
	assert_int_equal(r, CFGDOC_EXPIRED);
	/* far too big: refused unread */
	size_t n = 10u << 20;
	char *big = malloc(n);
	memset(big, '{', n);
	assert_int_equal(cfgstate_offer(s, CFGDOC_SCOPE_TENANT, big, n, &r), 0);
	assert_int_equal(r, CFGDOC_TOO_LARGE);
	free(big);
	char *rep = report(s);
	assert_non_null(strstr(rep,
			       "\"tenant\":{\"status\":\"rejected\",\"version\":0,"
			       "\"reason\":\"too_large\",\"detail\":\"envelope of 10485760 bytes "
			       "exceeds the limit of 65536\",\"at\":\"2026-11-23T10:00:00Z\"}"));
	assert_non_null(strstr(rep, "\"device\":{\"status\":\"rejected\",\"version\":0,"
				    "\"rejected_version\":1,\"reason\":\"invalid\""));
	free(rep);
	cJSON *m = cfgstate_merged(s);
	assert_int_equal(cJSON_GetArraySize(m), 0); /* nothing was applied */
	cJSON_Delete(m);
	cfgstate_close(s);
}

static int hook_calls;
static int refuse_big_idle(void *ctx, const cJSON *merged, char *err, size_t errcap)
{
	(void)ctx;
	hook_calls++;
	const cJSON *scr = cJSON_GetObjectItemCaseSensitive(merged, "screen");
	const cJSON *v = scr ? cJSON_GetObjectItemCaseSensitive(scr, "idle_after_ms") : NULL;
	if (v && v->valueint > 100000) {
		snprintf(err, errcap, "screen.idle_after_ms: this kiosk allows at most 100000");
		return RG_ERR_CONFIG;
	}
	return 0;
}

static void test_validate_hook(void **state)
{
	enum cfgdoc_reason r;
	struct cfgstate_params p = {.path = path,
				    .anchor = &anchor,
				    .store = "0042",
				    .identity = "dev-0042-k1",
				    .clock = &clk.clock,
				    .validate = refuse_big_idle};
	struct cfgstate *s;
	char err[256];
	(void)state;
	hook_calls = 0;
	assert_int_equal(cfgstate_open(&p, &s, err, sizeof err), 0);
	assert_int_equal(
	    offer(s, CFGDOC_SCOPE_TENANT,
		  doc("tenant", 1, t0 + DAY, "{\"screen\": {\"idle_after_ms\": 9000}}", K01), &r),
	    1);
	/* the device document is fine alone; the hook sees the merged candidate */
	assert_int_equal(
	    offer(s, CFGDOC_SCOPE_DEVICE,
		  doc("device", 1, t0 + DAY, "{\"screen\": {\"idle_after_ms\": 200000}}", K01), &r),
	    0);
	assert_int_equal(r, CFGDOC_INVALID);
	assert_int_equal(hook_calls, 2);
	assert_int_equal(cfgstate_version(s, CFGDOC_SCOPE_DEVICE), 0);
	assert_int_equal(merged_int(s, "screen", "idle_after_ms"), 9000);
	char *rep = report(s);
	assert_non_null(strstr(rep, "\"detail\":\"screen.idle_after_ms: this kiosk allows at most "
				    "100000\""));
	free(rep);
	cfgstate_close(s);
}

static void test_expiry_report(void **state)
{
	enum cfgdoc_reason r;
	(void)state;
	struct cfgstate *s = open_state(&anchor);
	assert_int_equal(offer(s, CFGDOC_SCOPE_DEVICE, doc("device", 2, t0 + DAY, "{}", K01), &r),
			 1);
	assert_false(cfgstate_tick(s));
	rg_clock_manual_advance(&clk, (int64_t)DAY * 1000 - 1000);
	assert_false(cfgstate_tick(s));
	rg_clock_manual_advance(&clk, 1000);
	assert_true(cfgstate_tick(s));	/* the report changed: publish it */
	assert_false(cfgstate_tick(s)); /* once */
	assert_report(s, "{\"keys\":{\"version\":1},"
			 "\"tenant\":{\"status\":\"none\",\"version\":0},"
			 "\"store\":{\"status\":\"none\",\"version\":0},"
			 "\"device\":{\"status\":\"expired\",\"version\":2,\"applied_at\":"
			 "\"2026-11-23T10:00:00Z\",\"expires\":\"2026-11-24T10:00:00Z\"}}");
	/* it keeps running */
	assert_int_equal(cfgstate_version(s, CFGDOC_SCOPE_DEVICE), 2);
	/* still expired after a restart */
	cfgstate_close(s);
	s = open_state(&anchor);
	char *rep = report(s);
	assert_non_null(strstr(rep, "\"device\":{\"status\":\"expired\""));
	free(rep);
	/* a fresh document replaces it */
	assert_int_equal(
	    offer(s, CFGDOC_SCOPE_DEVICE, doc("device", 3, t0 + 9 * DAY, "{}", K01), &r), 1);
	rep = report(s);
	assert_non_null(strstr(rep, "\"device\":{\"status\":\"applied\",\"version\":3"));
	free(rep);
	cfgstate_close(s);
}

static void test_rotation_in_order_and_retired_keys(void **state)
{
	enum cfgdoc_reason r;
	struct cfgdoc_keyset v2;
	(void)state;
	struct cfgstate *s = open_state(&anchor);
	cfgt_keyset(&v2, "acme", 2, 2, K234);
	assert_int_equal(offer(s, CFGDOC_SCOPE_STORE, doc("store", 1, t0 + DAY, "{}", K01), &r), 1);

	/* missing either threshold: refused, in the report under keys */
	assert_int_equal(offer(s, CFGDOC_SCOPE_KEYS, rotation(&v2, K01), &r), 0);
	assert_int_equal(r, CFGDOC_SIGNATURE);
	assert_int_equal(offer(s, CFGDOC_SCOPE_KEYS, rotation(&v2, K34), &r), 0);
	assert_int_equal(r, CFGDOC_SIGNATURE);
	assert_int_equal(cfgstate_keys(s)->version, 1);
	char *rep = report(s);
	assert_non_null(
	    strstr(rep, "\"keys\":{\"version\":1,\"rejected_version\":2,\"reason\":\"signature\""));
	free(rep);

	/* both: rotated; applied documents keep running */
	assert_int_equal(
	    offer(s, CFGDOC_SCOPE_KEYS, rotation(&v2, (const int[]){0, 1, 3, 4, -1}), &r), 0);
	assert_int_equal(r, CFGDOC_OK);
	assert_int_equal(cfgstate_keys(s)->version, 2);
	assert_int_equal(cfgstate_version(s, CFGDOC_SCOPE_STORE), 1);
	rep = report(s);
	assert_non_null(strstr(rep, "\"keys\":{\"version\":2},"));
	free(rep);

	/* the retired keys alone no longer do */
	assert_int_equal(offer(s, CFGDOC_SCOPE_STORE, doc("store", 2, t0 + DAY, "{}", K01), &r), 0);
	assert_int_equal(r, CFGDOC_SIGNATURE);
	assert_int_equal(offer(s, CFGDOC_SCOPE_STORE, doc("store", 2, t0 + DAY, "{}", K34), &r), 1);
	assert_int_equal(cfgstate_version(s, CFGDOC_SCOPE_STORE), 2);

	/* the retained rotation again (every reconnect): nothing happens */
	assert_int_equal(
	    offer(s, CFGDOC_SCOPE_KEYS, rotation(&v2, (const int[]){0, 1, 3, 4, -1}), &r), 0);
	assert_int_equal(r, CFGDOC_OK);

	/* the rotation survives; the old anchor file cannot roll it back */
	cfgstate_close(s);
	s = open_state(&anchor);
	assert_int_equal(cfgstate_keys(s)->version, 2);
	assert_memory_equal(cfgstate_keys(s)->keys, v2.keys, sizeof v2.keys);
	assert_int_equal(offer(s, CFGDOC_SCOPE_STORE, doc("store", 3, t0 + DAY, "{}", K01), &r), 0);
	assert_int_equal(r, CFGDOC_SIGNATURE);
	cfgstate_close(s);

	/* a newer anchor (re-provisioned) wins over the stored set */
	struct cfgdoc_keyset v5;
	cfgt_keyset(&v5, "acme", 5, 1, K56);
	s = open_state(&v5);
	assert_int_equal(cfgstate_keys(s)->version, 5);
	cfgstate_close(s);
	s = open_state(&anchor);
	assert_int_equal(cfgstate_keys(s)->version, 5);
	cfgstate_close(s);

	/* an anchor of another tenant is refused */
	struct cfgdoc_keyset other;
	struct cfgstate_params p = {.path = path,
				    .anchor = &other,
				    .store = "0042",
				    .identity = "dev-0042-k1",
				    .clock = &clk.clock};
	char err[256];
	cfgt_keyset(&other, "globex", 9, 1, K01);
	assert_int_equal(cfgstate_open(&p, &s, err, sizeof err), RG_ERR_VERIFY);
	assert_null(s);
	assert_non_null(strstr(err, "tenant acme, the trust anchor is for globex"));
}

static void test_rotation_chain_out_of_order(void **state)
{
	enum cfgdoc_reason r;
	struct cfgdoc_keyset v2, v3;
	(void)state;
	struct cfgstate *s = open_state(&anchor);
	cfgt_keyset(&v2, "acme", 2, 2, K234);
	cfgt_keyset(&v3, "acme", 3, 2, K456);
	char *r2 = rotation(&v2, (const int[]){0, 1, 2, 3, -1}); /* v1: 0,1  v2: 2,3 */
	char *r3 = rotation(&v3, (const int[]){2, 3, 4, 5, -1}); /* v2: 2,3  v3: 4,5 */

	/* a store document signed by v3's keys, before any rotation */
	assert_int_equal(
	    offer(s, CFGDOC_SCOPE_STORE,
		  doc("store", 4, t0 + DAY, "{\"screen\": {\"idle_after_ms\": 4000}}", K45), &r),
	    0);
	assert_int_equal(r, CFGDOC_SIGNATURE);
	char *rep = report(s);
	assert_non_null(strstr(rep, "\"store\":{\"status\":\"rejected\",\"version\":0,"
				    "\"rejected_version\":4,\"reason\":\"signature\""));
	free(rep);

	/* v3 first: kept for later */
	assert_int_equal(cfgstate_offer(s, CFGDOC_SCOPE_KEYS, r3, strlen(r3), &r), 0);
	assert_int_equal(r, CFGDOC_OK);
	assert_int_equal(cfgstate_keys(s)->version, 1);
	/* then v2: both walk, and the waiting store document applies */
	assert_int_equal(cfgstate_offer(s, CFGDOC_SCOPE_KEYS, r2, strlen(r2), &r), 1);
	assert_int_equal(r, CFGDOC_OK);
	assert_int_equal(cfgstate_keys(s)->version, 3);
	assert_int_equal(cfgstate_version(s, CFGDOC_SCOPE_STORE), 4);
	assert_int_equal(merged_int(s, "screen", "idle_after_ms"), 4000);
	rep = report(s);
	assert_non_null(strstr(rep, "\"keys\":{\"version\":3},"));
	assert_non_null(strstr(rep, "\"store\":{\"status\":\"applied\",\"version\":4"));
	free(rep);
	/* the whole chain again (retained, on reconnect): nothing changes */
	assert_int_equal(cfgstate_offer(s, CFGDOC_SCOPE_KEYS, r2, strlen(r2), &r), 0);
	assert_int_equal(cfgstate_offer(s, CFGDOC_SCOPE_KEYS, r3, strlen(r3), &r), 0);
	assert_int_equal(cfgstate_keys(s)->version, 3);
	cfgstate_close(s);
	s = open_state(&anchor);
	assert_int_equal(cfgstate_keys(s)->version, 3);
	assert_int_equal(cfgstate_version(s, CFGDOC_SCOPE_STORE), 4);
	cfgstate_close(s);
	free(r2);
	free(r3);
	(void)K23;
	(void)K56;
}

static void test_bad_rotation_in_chain(void **state)
{
	enum cfgdoc_reason r;
	struct cfgdoc_keyset v2, v3;
	(void)state;
	struct cfgstate *s = open_state(&anchor);
	cfgt_keyset(&v2, "acme", 2, 2, K234);
	cfgt_keyset(&v3, "acme", 3, 2, K456);
	/* v3 is signed by v2's keys only (not its own threshold): refused when reached */
	assert_int_equal(offer(s, CFGDOC_SCOPE_KEYS, rotation(&v3, K23), &r), 0);
	assert_int_equal(
	    offer(s, CFGDOC_SCOPE_KEYS, rotation(&v2, (const int[]){0, 1, 2, 3, -1}), &r), 0);
	assert_int_equal(r, CFGDOC_OK);
	assert_int_equal(cfgstate_keys(s)->version, 2);
	char *rep = report(s);
	assert_non_null(
	    strstr(rep, "\"keys\":{\"version\":2,\"rejected_version\":3,\"reason\":\"signature\""));
	free(rep);
	/* a wrong version that is not ahead (a different tenant's chain) is a rotation refusal */
	struct cfgdoc_keyset g3 = v3;
	snprintf(g3.tenant, sizeof g3.tenant, "globex");
	assert_int_equal(
	    offer(s, CFGDOC_SCOPE_KEYS, rotation(&g3, (const int[]){2, 3, 4, 5, -1}), &r), 0);
	assert_int_equal(r, CFGDOC_ROTATION);
	/* garbage on the keys topic */
	assert_int_equal(cfgstate_offer(s, CFGDOC_SCOPE_KEYS, "junk", 4, &r), 0);
	assert_int_equal(r, CFGDOC_MALFORMED);
	cfgstate_close(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_report_none, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_apply_merge_persist, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_refusals, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_validate_hook, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_expiry_report, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_rotation_in_order_and_retired_keys, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_rotation_chain_out_of_order, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bad_rotation_in_chain, setup, teardown),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
