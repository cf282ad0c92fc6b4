/*
 * test_wire.c - the uplink batch and ack formats: what the writer builds the
 * parser accepts unchanged, and every malformed, oversized or forged shape
 * is refused with a message that names the problem; and the bundle a
 * gateway forwards several batches in, all of it or nothing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/err.h"
#include "common/json.h"
#include "common/wire.h"

static struct rg_clock_manual clk;
static struct rg_uuid7_gen gen;
static struct rg_hlc_clock hlc;

static int setup(void **state)
{
	(void)state;
	rg_clock_manual_init(&clk, 1763881290000);
	rg_uuid7_gen_init(&gen, &clk.clock, NULL);
	rg_hlc_init(&hlc, &clk.clock, 0);
	return 0;
}

static char *build(size_t n, size_t *len)
{
	struct rg_wire_writer *w;
	struct rg_uuid bid, id;
	struct rg_hlc t;
	uint8_t token[32];
	char *out;
	rg_uuid7_next(&gen, &bid);
	assert_int_equal(rg_wire_writer_new("dev-0042-k1", "0042", &bid, &w), 0);
	for (size_t i = 0; i < n; i++) {
		rg_uuid7_next(&gen, &id);
		rg_hlc_now(&hlc, &t);
		memset(token, (int)i, sizeof token);
		assert_int_equal(rg_wire_writer_add(w, &id, &t, i % 2 ? RG_KIND_NOTE : RG_KIND_IDENTIFIED,
						    i % 3 ? "p-123" : NULL, token,
						    "{\"text\":\"Zoë asked about the blue jacket\"}"),
				 0);
	}
	assert_int_equal(rg_wire_writer_finish(w, &out, len), 0);
	rg_wire_writer_free(w);
	return out;
}

static void writer_output_parses_back(void **state)
{
	struct rg_wire_batch b;
	char err[RG_WIRE_ERR_MAX];
	size_t len;
	char *doc = build(5, &len);
	(void)state;
	assert_int_equal(rg_wire_batch_parse(doc, len, &b, err, sizeof err), 0);
	assert_string_equal(b.device, "dev-0042-k1");
	assert_string_equal(b.store, "0042");
	assert_int_equal(b.n_items, 5);
	assert_int_equal(b.items[0].kind, RG_KIND_IDENTIFIED);
	assert_string_equal(b.items[0].profile, "");
	assert_string_equal(b.items[1].profile, "p-123");
	assert_true(b.items[1].has_token);
	assert_int_equal(b.items[1].token[0], 1);
	assert_string_equal(cJSON_GetObjectItem(b.items[4].body, "text")->valuestring,
			    "Zoë asked about the blue jacket");
	for (size_t i = 1; i < b.n_items; i++)
		assert_true(rg_hlc_cmp(&b.items[i - 1].hlc, &b.items[i].hlc) < 0);
	rg_wire_batch_free(&b);
	free(doc);
}

/* Replace the first occurrence of `from` in doc by `to`, then parse. */
static int parse_mutated(const char *doc, const char *from, const char *to, char *err, size_t cap)
{
	struct rg_wire_batch b;
	char buf[65536];
	const char *p = strstr(doc, from);
	assert_non_null(p);
	size_t pre = (size_t)(p - doc);
	int n = snprintf(buf, sizeof buf, "%.*s%s%s", (int)pre, doc, to, p + strlen(from));
	assert_true(n > 0 && (size_t)n < sizeof buf);
	int rc = rg_wire_batch_parse(buf, (size_t)n, &b, err, cap);
	if (rc == 0)
		rg_wire_batch_free(&b);
	else
		assert_null(b.items);
	return rc;
}

static void malformed_batches_are_refused_by_name(void **state)
{
	char err[RG_WIRE_ERR_MAX];
	size_t len;
	char *doc = build(3, &len);
	(void)state;
	assert_int_equal(parse_mutated(doc, "\"v\":1", "\"v\":2", err, sizeof err), RG_ERR_UNSUPPORTED);
	assert_int_equal(parse_mutated(doc, "\"type\":\"batch\"", "\"type\":\"ack\"", err, sizeof err),
			 RG_ERR_PARSE);
	assert_int_equal(parse_mutated(doc, "dev-0042-k1", "dev/0042/+", err, sizeof err), RG_ERR_PARSE);
	assert_string_equal(err, "key \"device\": not a valid identity");
	assert_int_equal(parse_mutated(doc, "dev-0042-k1", "DEV-0042", err, sizeof err), RG_ERR_PARSE);
	assert_int_equal(parse_mutated(doc, "\"store\":\"0042\"", "\"store\":\"#\"", err, sizeof err),
			 RG_ERR_PARSE);
	assert_int_equal(parse_mutated(doc, "\"v\":1", "\"v\":1,\"extra\":0", err, sizeof err),
			 RG_ERR_PARSE);
	assert_string_equal(err, "unknown key \"extra\"");
	assert_int_equal(parse_mutated(doc, "\"kind\":\"identified\"", "\"kind\":\"hack\"", err, sizeof err),
			 RG_ERR_PARSE);
	assert_string_equal(err, "item 0: key \"kind\": unknown kind");
	assert_int_equal(parse_mutated(doc, "\"kind\":\"note\"", "\"kind\":\"note\",\"x\":1", err, sizeof err),
			 RG_ERR_PARSE);
	assert_int_equal(parse_mutated(doc, "\"body\":{", "\"body\":[{", err, sizeof err), RG_ERR_PARSE);
	assert_int_equal(parse_mutated(doc, "\"hlc\":\"", "\"hlc\":\"x", err, sizeof err), RG_ERR_PARSE);
	assert_int_equal(parse_mutated(doc, "\"token\":\"", "\"token\":\"zz", err, sizeof err),
			 RG_ERR_RANGE);
	assert_int_equal(parse_mutated(doc, "\"items\":[", "\"items\":[],\"x\":[", err, sizeof err),
			 RG_ERR_PARSE);
	free(doc);
}

static void duplicate_ids_and_reordered_stamps_are_refused(void **state)
{
	struct rg_wire_batch b;
	char err[RG_WIRE_ERR_MAX];
	(void)state;
	const char *dup =
		"{\"v\":1,\"type\":\"batch\",\"device\":\"d1\",\"store\":\"s1\","
		"\"batch\":\"0189abcd-ef01-7000-8000-000000000000\",\"items\":["
		"{\"id\":\"0189abcd-ef01-7000-8000-000000000001\",\"hlc\":\"5.0\",\"kind\":\"note\",\"profile\":\"p\",\"body\":{}},"
		"{\"id\":\"0189abcd-ef01-7000-8000-000000000001\",\"hlc\":\"6.0\",\"kind\":\"note\",\"profile\":\"p\",\"body\":{}}]}";
	assert_int_equal(rg_wire_batch_parse(dup, strlen(dup), &b, err, sizeof err), RG_ERR_PARSE);
	assert_string_equal(err, "item 1: duplicate id");
	const char *order =
		"{\"v\":1,\"type\":\"batch\",\"device\":\"d1\",\"store\":\"s1\","
		"\"batch\":\"0189abcd-ef01-7000-8000-000000000000\",\"items\":["
		"{\"id\":\"0189abcd-ef01-7000-8000-000000000001\",\"hlc\":\"6.0\",\"kind\":\"note\",\"profile\":\"p\",\"body\":{}},"
		"{\"id\":\"0189abcd-ef01-7000-8000-000000000002\",\"hlc\":\"5.9\",\"kind\":\"note\",\"profile\":\"p\",\"body\":{}}]}";
	assert_int_equal(rg_wire_batch_parse(order, strlen(order), &b, err, sizeof err), RG_ERR_PARSE);
	assert_non_null(strstr(err, "not after the previous"));
	const char *anon =
		"{\"v\":1,\"type\":\"batch\",\"device\":\"d1\",\"store\":\"s1\","
		"\"batch\":\"0189abcd-ef01-7000-8000-000000000000\",\"items\":["
		"{\"id\":\"0189abcd-ef01-7000-8000-000000000001\",\"hlc\":\"6.0\",\"kind\":\"note\",\"body\":{}}]}";
	assert_int_equal(rg_wire_batch_parse(anon, strlen(anon), &b, err, sizeof err), RG_ERR_MISSING);
	const char *v4 =
		"{\"v\":1,\"type\":\"batch\",\"device\":\"d1\",\"store\":\"s1\","
		"\"batch\":\"0189abcd-ef01-7000-8000-000000000000\",\"items\":["
		"{\"id\":\"0189abcd-ef01-4000-8000-000000000001\",\"hlc\":\"6.0\",\"kind\":\"note\",\"profile\":\"p\",\"body\":{}}]}";
	assert_int_equal(rg_wire_batch_parse(v4, strlen(v4), &b, err, sizeof err), RG_ERR_PARSE);
}

static void size_caps_hold(void **state)
{
	struct rg_wire_writer *w;
	struct rg_uuid bid, id;
	struct rg_hlc t;
	struct rg_wire_batch b;
	char err[RG_WIRE_ERR_MAX];
	char *big = malloc(RG_WIRE_MAX_BODY + 64);
	(void)state;
	rg_uuid7_next(&gen, &bid);
	assert_int_equal(rg_wire_writer_new("d1", "s1", &bid, &w), 0);
	/* A body over the cap is refused by the writer. */
	int n = snprintf(big, RG_WIRE_MAX_BODY + 64, "{\"t\":\"%0*d\"}", RG_WIRE_MAX_BODY, 0);
	assert_true(n > RG_WIRE_MAX_BODY);
	rg_uuid7_next(&gen, &id);
	rg_hlc_now(&hlc, &t);
	assert_int_equal(rg_wire_writer_add(w, &id, &t, RG_KIND_NOTE, "p", NULL, big), RG_ERR_TOOBIG);
	assert_int_equal(rg_wire_writer_add(w, &id, &t, RG_KIND_NOTE, "p", NULL, "[1]"), RG_ERR_TYPE);
	assert_int_equal(rg_wire_writer_add(w, &id, &t, RG_KIND_NOTE, "p", NULL, "{bad"), RG_ERR_PARSE);
	/* At most RG_WIRE_MAX_ITEMS items. */
	for (int i = 0; i < RG_WIRE_MAX_ITEMS; i++) {
		rg_uuid7_next(&gen, &id);
		rg_hlc_now(&hlc, &t);
		assert_int_equal(rg_wire_writer_add(w, &id, &t, RG_KIND_TELEMETRY, NULL, NULL, "{}"), 0);
	}
	assert_int_equal(rg_wire_writer_add(w, &id, &t, RG_KIND_NOTE, "p", NULL, "{}"), RG_ERR_TOOBIG);
	rg_wire_writer_free(w);
	/* A document over the byte cap is refused before parsing. */
	char *huge = malloc(RG_WIRE_MAX_BYTES + 2);
	memset(huge, ' ', RG_WIRE_MAX_BYTES + 1);
	huge[0] = '{';
	huge[RG_WIRE_MAX_BYTES] = '}';
	assert_int_equal(rg_wire_batch_parse(huge, RG_WIRE_MAX_BYTES + 1, &b, err, sizeof err),
			 RG_ERR_TOOBIG);
	free(huge);
	free(big);
}

static void acks_roundtrip_and_refuse_junk(void **state)
{
	struct rg_uuid bid, ids[3];
	struct rg_wire_ack a;
	char err[RG_WIRE_ERR_MAX], *doc;
	size_t len;
	(void)state;
	rg_uuid7_next(&gen, &bid);
	for (int i = 0; i < 3; i++)
		rg_uuid7_next(&gen, &ids[i]);
	assert_int_equal(rg_wire_ack_encode("dev-1", &bid, ids, 3, &doc, &len), 0);
	assert_int_equal(rg_wire_ack_parse(doc, len, &a, err, sizeof err), 0);
	assert_string_equal(a.device, "dev-1");
	assert_int_equal(a.n_ids, 3);
	assert_int_equal(rg_uuid_cmp(&a.ids[2], &ids[2]), 0);
	assert_int_equal(rg_uuid_cmp(&a.batch_id, &bid), 0);
	rg_wire_ack_free(&a);
	free(doc);
	const char *bad = "{\"v\":1,\"type\":\"ack\",\"device\":\"dev-1\","
			  "\"batch\":\"0189abcd-ef01-7000-8000-000000000000\",\"ids\":[\"nope\"]}";
	assert_int_equal(rg_wire_ack_parse(bad, strlen(bad), &a, err, sizeof err), RG_ERR_PARSE);
	assert_null(a.ids);
	assert_int_equal(rg_wire_ack_encode("dev/1", &bid, ids, 3, &doc, &len), RG_ERR_INVAL);
	assert_null(doc);
}

static void kinds_and_lanes(void **state)
{
	(void)state;
	for (int k = 0; k < RG_KIND__COUNT; k++)
		assert_int_equal(rg_kind_parse(rg_kind_name((enum rg_kind)k)), k);
	assert_int_equal(rg_kind_lane(RG_KIND_ERASURE_REQUESTED), RG_LANE_PRIORITY);
	assert_int_equal(rg_kind_lane(RG_KIND_CONSENT_CHANGED), RG_LANE_PRIORITY);
	assert_int_equal(rg_kind_lane(RG_KIND_NOTE), RG_LANE_INTERACTIONS);
	assert_int_equal(rg_kind_lane(RG_KIND_TELEMETRY), RG_LANE_TELEMETRY);
	assert_true(rg_wire_identity_valid("gw-0042"));
	assert_false(rg_wire_identity_valid("-gw"));
	assert_false(rg_wire_identity_valid("gw+1"));
	assert_false(rg_wire_identity_valid(""));
	char long_id[80];
	memset(long_id, 'a', 65);
	long_id[65] = '\0';
	assert_false(rg_wire_identity_valid(long_id));
	long_id[64] = '\0';
	assert_true(rg_wire_identity_valid(long_id));
}

static int uplink(const char *doc, struct rg_wire_uplink *u, char *err)
{
	return rg_wire_uplink_parse(doc, strlen(doc), u, err, RG_WIRE_ERR_MAX);
}

static void bundles_carry_one_devices_batches_in_order(void **state)
{
	struct rg_wire_uplink u;
	struct rg_wire_batch one;
	char err[RG_WIRE_ERR_MAX], *docs[3], *bundle, buf[16384];
	const char *cdocs[3];
	size_t lens[3], len;
	(void)state;
	for (int i = 0; i < 3; i++) {
		docs[i] = build((size_t)i + 2, &lens[i]);
		cdocs[i] = docs[i];
	}
	/* A byte order mark is allowed at a document's start: the builder drops
	 * it, since inside the array it would be a syntax error. */
	char *bom = malloc(lens[1] + 4);
	memcpy(bom, "\xEF\xBB\xBF", 3);
	memcpy(bom + 3, docs[1], lens[1] + 1);
	assert_int_equal(rg_wire_batch_parse(bom, lens[1] + 3, &one, err, sizeof err), 0);
	rg_wire_batch_free(&one);
	cdocs[1] = bom;
	lens[1] += 3;
	assert_int_equal(rg_wire_bundle_build(cdocs, lens, 3, &bundle, &len), 0);
	assert_int_equal(strlen(bundle), len);
	assert_int_equal(rg_wire_uplink_parse(bundle, len, &u, err, sizeof err), 0);
	assert_true(u.bundle);
	assert_int_equal(u.n, 3);
	for (size_t i = 0; i < 3; i++) {
		assert_int_equal(
		    rg_wire_batch_parse(docs[i], strlen(docs[i]), &one, err, sizeof err), 0);
		assert_int_equal(rg_uuid_cmp(&u.batches[i].batch_id, &one.batch_id), 0);
		assert_int_equal(u.batches[i].n_items, i + 2);
		assert_int_equal(rg_uuid_cmp(&u.batches[i].items[i + 1].id, &one.items[i + 1].id),
				 0);
		rg_wire_batch_free(&one);
	}
	/* Each batch owns its tree: bodies outlive the others' release. */
	rg_wire_batch_free(&u.batches[0]);
	assert_non_null(cJSON_GetObjectItem(u.batches[2].items[0].body, "text"));
	rg_wire_uplink_free(&u);
	free(bundle);

	/* A lone batch reads the same through rg_wire_uplink_parse. */
	assert_int_equal(uplink(docs[0], &u, err), 0);
	assert_false(u.bundle);
	assert_int_equal(u.n, 1);
	assert_int_equal(u.batches[0].n_items, 2);
	rg_wire_uplink_free(&u);

	/* Refused, whole: another device's batch, a bad batch, junk around. */
	char *other = strdup(docs[2]);
	memcpy(strstr(other, "dev-0042-k1"), "dev-0042-k2", 11);
	snprintf(buf, sizeof buf, "{\"v\":1,\"type\":\"bundle\",\"batches\":[%s,%s]}", docs[0],
		 other);
	assert_int_equal(uplink(buf, &u, err), RG_ERR_PARSE);
	assert_non_null(strstr(err, "batch 1: a bundle carries one device's batches"));
	assert_int_equal(u.n, 0);
	assert_null(u.batches);
	snprintf(buf, sizeof buf, "{\"v\":1,\"type\":\"bundle\",\"batches\":[%s,%s]}", docs[0],
		 "{\"v\":1,\"type\":\"ack\"}");
	assert_true(uplink(buf, &u, err) < 0);
	assert_non_null(strstr(err, "batch 1: "));
	snprintf(buf, sizeof buf, "{\"v\":1,\"type\":\"bundle\",\"batches\":[%s,7]}", docs[0]);
	assert_int_equal(uplink(buf, &u, err), RG_ERR_TYPE);
	assert_int_equal(uplink("{\"v\":1,\"type\":\"bundle\",\"batches\":[]}", &u, err),
			 RG_ERR_RANGE);
	assert_int_equal(uplink("{\"v\":2,\"type\":\"bundle\",\"batches\":[]}", &u, err),
			 RG_ERR_UNSUPPORTED);
	snprintf(buf, sizeof buf, "{\"v\":1,\"type\":\"bundle\",\"batches\":[%s],\"x\":1}",
		 docs[0]);
	assert_true(uplink(buf, &u, err) < 0);
	assert_int_equal(uplink("{\"v\":1,\"type\":\"lookup\"}", &u, err), RG_ERR_PARSE);
	assert_true(uplink("[1,2]", &u, err) < 0);
	free(other);
	free(bom);
	for (int i = 0; i < 3; i++)
		free(docs[i]);
}

static void bundle_bounds_hold(void **state)
{
	struct rg_wire_uplink u;
	char err[RG_WIRE_ERR_MAX], *doc, *bundle, *big;
	const char *docs[RG_WIRE_BUNDLE_MAX_BATCHES + 1];
	size_t lens[RG_WIRE_BUNDLE_MAX_BATCHES + 1], len;
	(void)state;
	/* 16 batches build and parse, 17 do not build. */
	doc = build(130, &len);
	for (int i = 0; i <= RG_WIRE_BUNDLE_MAX_BATCHES; i++) {
		docs[i] = doc;
		lens[i] = len;
	}
	assert_int_equal(
	    rg_wire_bundle_build(docs, lens, RG_WIRE_BUNDLE_MAX_BATCHES + 1, &bundle, &len),
	    RG_ERR_RANGE);
	assert_int_equal(rg_wire_bundle_build(docs, lens, 0, &bundle, &len), RG_ERR_RANGE);
	/* 16 x 130 items is over the 2000 items of a bundle. */
	assert_int_equal(
	    rg_wire_bundle_build(docs, lens, RG_WIRE_BUNDLE_MAX_BATCHES, &bundle, &len), 0);
	assert_int_equal(rg_wire_uplink_parse(bundle, len, &u, err, sizeof err), RG_ERR_TOOBIG);
	assert_non_null(strstr(err, "more than 2000 items"));
	free(bundle);
	assert_int_equal(rg_wire_bundle_build(docs, lens, 15, &bundle, &len), 0);
	assert_int_equal(rg_wire_uplink_parse(bundle, len, &u, err, sizeof err), 0);
	assert_int_equal(u.n, 15);
	rg_wire_uplink_free(&u);
	free(bundle);

	/* Bytes: the builder and the parser hold RG_WIRE_BUNDLE_MAX_BYTES. */
	size_t half = RG_WIRE_BUNDLE_MAX_BYTES / 2;
	big = malloc(half + 1);
	memset(big, ' ', half);
	big[half] = '\0';
	memcpy(big, doc, strlen(doc));
	docs[0] = docs[1] = big;
	lens[0] = lens[1] = half;
	assert_int_equal(rg_wire_bundle_build(docs, lens, 2, &bundle, &len), RG_ERR_TOOBIG);
	free(big);
	big = malloc(RG_WIRE_BUNDLE_MAX_BYTES + 2);
	memset(big, ' ', RG_WIRE_BUNDLE_MAX_BYTES + 1);
	big[RG_WIRE_BUNDLE_MAX_BYTES + 1] = '\0';
	static const char empty[] = "{\"v\":1,\"type\":\"bundle\",\"batches\":[]}";
	memcpy(big, empty, sizeof empty - 1);
	assert_int_equal(uplink(big, &u, err), RG_ERR_TOOBIG);
	/* A lone batch keeps its own 256 KiB and depth limits. */
	memcpy(big, doc, strlen(doc));
	big[RG_WIRE_MAX_BYTES + 1] = '\0';
	assert_int_equal(uplink(big, &u, err), RG_ERR_TOOBIG);
	free(big);
	free(doc);

	/* Depth: a batch body nested to the limit travels in a bundle too, one
	 * level deeper is refused alone and in a bundle. */
	char deep[4096], bundled[2 * sizeof deep + 64];
	for (int extra = 0; extra < 2; extra++) {
		/* root{} items[] item{} body{} = 4 levels, then the nest. */
		int nest = RG_JSON_MAX_DEPTH - 4 + extra, at = 0;
		char body[512];
		for (int i = 0; i < nest; i++)
			at += snprintf(body + at, sizeof body - (size_t)at, "{\"a\":");
		at += snprintf(body + at, sizeof body - (size_t)at, "1");
		for (int i = 0; i < nest; i++)
			body[at++] = '}';
		body[at] = '\0';
		snprintf(
		    deep, sizeof deep,
		    "{\"v\":1,\"type\":\"batch\",\"device\":\"dev-1\",\"store\":\"0042\","
		    "\"batch\":\"019ab0d2-6a3b-7c01-9e2f-5a1b2c3d4e5f\",\"items\":[{\"id\":"
		    "\"019ab0d2-6a3b-7c02-8a11-0b0c0d0e0f10\",\"hlc\":\"1.0\",\"kind\":\"note\","
		    "\"profile\":\"p-1\",\"body\":{\"x\":%s}}]}",
		    body);
		struct rg_wire_batch b;
		int want = extra ? RG_ERR_PARSE : 0;
		int rc = rg_wire_batch_parse(deep, strlen(deep), &b, err, sizeof err);
		assert_int_equal(rc, want);
		if (!rc)
			rg_wire_batch_free(&b);
		assert_int_equal(uplink(deep, &u, err), want);
		rg_wire_uplink_free(&u);
		snprintf(bundled, sizeof bundled,
			 "{\"v\":1,\"type\":\"bundle\",\"batches\":[%s,%s]}", deep, deep);
		assert_int_equal(uplink(bundled, &u, err), want);
		rg_wire_uplink_free(&u);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup(writer_output_parses_back, setup),
	    cmocka_unit_test_setup(malformed_batches_are_refused_by_name, setup),
	    cmocka_unit_test_setup(duplicate_ids_and_reordered_stamps_are_refused, setup),
	    cmocka_unit_test_setup(size_caps_hold, setup),
	    cmocka_unit_test_setup(acks_roundtrip_and_refuse_junk, setup),
	    cmocka_unit_test(kinds_and_lanes),
	    cmocka_unit_test_setup(bundles_carry_one_devices_batches_in_order, setup),
	    cmocka_unit_test_setup(bundle_bounds_hold, setup),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
