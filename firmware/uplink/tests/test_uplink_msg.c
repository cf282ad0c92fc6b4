/*
 * test_uplink_msg.c - the uplink's pure parts: receipts and lookup answers
 * are parsed strictly (every malformed shape refused, nothing half-used),
 * the lookup request is the documented JSON, and the batcher splits rows by
 * lane in outbox order, respects batch_max and the size budget, and rebuilds
 * one batch (same id, only its rows) for a resend.
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
#include "common/cfgdoc.h"
#include "uplink_internal.h"

#define B "019ab0d2-6a3b-7c01-9e2f-5a1b2c3d4e5f"

static void receipt(const char *doc, int want_rc, enum uplink_receipt_status st,
		    enum uplink_refusal why)
{
	struct uplink_receipt r;
	char err[256] = "";
	int rc = uplink__receipt_parse(doc, strlen(doc), &r, err, sizeof err);
	if (rc != want_rc)
		fail_msg("%s: rc %d (%s), want %d", doc, rc, err, want_rc);
	if (rc == 0) {
		char id[RG_UUID_STR_LEN + 1];
		assert_string_equal(rg_uuid_format(&r.batch, id), B);
		assert_int_equal(r.status, st);
		assert_int_equal(r.reason, why);
	} else {
		assert_true(err[0] != '\0');
	}
}

static void receipts_parse_strictly(void **state)
{
	(void)state;
	receipt("{\"v\":1,\"type\":\"receipt\",\"batch\":\"" B "\",\"status\":\"spooled\"}", 0,
		UPLINK_SPOOLED, UPLINK_REFUSAL_NONE);
	receipt("{\"v\":1,\"type\":\"receipt\",\"batch\":\"" B
		"\",\"status\":\"refused\",\"reason\":\"spool_full\"}",
		0, UPLINK_REFUSED, UPLINK_REFUSAL_SPOOL_FULL);
	receipt("{\"v\":1,\"type\":\"receipt\",\"batch\":\"" B
		"\",\"status\":\"refused\",\"reason\":\"store_mismatch\"}",
		0, UPLINK_REFUSED, UPLINK_REFUSAL_STORE_MISMATCH);
	receipt("{\"v\":1,\"type\":\"receipt\",\"batch\":\"" B
		"\",\"status\":\"refused\",\"reason\":\"too_big\"}",
		0, UPLINK_REFUSED, UPLINK_REFUSAL_TOO_BIG);
	/* refused without a reason, spooled with one, unknown reason / status */
	receipt("{\"v\":1,\"type\":\"receipt\",\"batch\":\"" B "\",\"status\":\"refused\"}",
		RG_ERR_MISSING, 0, 0);
	receipt("{\"v\":1,\"type\":\"receipt\",\"batch\":\"" B
		"\",\"status\":\"spooled\",\"reason\":\"spool_full\"}",
		RG_ERR_PARSE, 0, 0);
	receipt("{\"v\":1,\"type\":\"receipt\",\"batch\":\"" B
		"\",\"status\":\"refused\",\"reason\":\"tired\"}",
		RG_ERR_PARSE, 0, 0);
	receipt("{\"v\":1,\"type\":\"receipt\",\"batch\":\"" B "\",\"status\":\"maybe\"}",
		RG_ERR_PARSE, 0, 0);
	/* header, unknown keys, bad id, not an object, trailing bytes */
	receipt("{\"v\":2,\"type\":\"receipt\",\"batch\":\"" B "\",\"status\":\"spooled\"}",
		RG_ERR_UNSUPPORTED, 0, 0);
	receipt("{\"v\":1,\"type\":\"ack\",\"batch\":\"" B "\",\"status\":\"spooled\"}",
		RG_ERR_PARSE, 0, 0);
	receipt("{\"v\":1,\"type\":\"receipt\",\"batch\":\"" B
		"\",\"status\":\"spooled\",\"extra\":1}",
		RG_ERR_PARSE, 0, 0);
	receipt("{\"v\":1,\"type\":\"receipt\",\"batch\":\"not-a-uuid\",\"status\":\"spooled\"}",
		RG_ERR_PARSE, 0, 0);
	receipt("{\"v\":1,\"type\":\"receipt\",\"status\":\"spooled\"}", RG_ERR_MISSING, 0, 0);
	receipt("[1]", RG_ERR_TYPE, 0, 0);
	receipt("{\"v\":1} x", RG_ERR_PARSE, 0, 0);
	receipt("", RG_ERR_PARSE, 0, 0);
}

static const char *const PROFILE =
    "{\"id\":\"p-000123\",\"version\":7,\"hlc\":\"1763881290123.4\",\"body\":{\"first\":\"Ann\"}}";

static void lookup_results_parse_strictly(void **state)
{
	(void)state;
	char buf[512], err[256], doc[1024];
	snprintf(doc, sizeof doc,
		 "{\"v\":1,\"type\":\"lookup_result\",\"found\":true,\"profile\":%s}", PROFILE);
	assert_int_equal(
	    uplink__lookup_result_parse(doc, strlen(doc), buf, sizeof buf, err, sizeof err), 1);
	assert_string_equal(buf, PROFILE);
	/* exactly fitting, one short */
	assert_int_equal(uplink__lookup_result_parse(doc, strlen(doc), buf, strlen(PROFILE) + 1,
						     err, sizeof err),
			 1);
	assert_int_equal(
	    uplink__lookup_result_parse(doc, strlen(doc), buf, strlen(PROFILE), err, sizeof err),
	    RG_ERR_TOOBIG);
	assert_string_equal(buf, "");

	const char *nf = "{\"v\":1,\"type\":\"lookup_result\",\"found\":false}";
	assert_int_equal(
	    uplink__lookup_result_parse(nf, strlen(nf), buf, sizeof buf, err, sizeof err), 0);
	static const char *const bad[] = {
	    "{\"v\":1,\"type\":\"lookup_result\",\"found\":true}",
	    "{\"v\":1,\"type\":\"lookup_result\",\"found\":false,\"profile\":{}}",
	    "{\"v\":1,\"type\":\"lookup_result\",\"found\":1}",
	    "{\"v\":1,\"type\":\"lookup\",\"found\":false}",
	    "{\"v\":1,\"type\":\"lookup_result\",\"found\":false,\"x\":1}",
	    "{\"v\":1,\"type\":\"lookup_result\",\"found\":true,\"profile\":{\"id\":\"p1\","
	    "\"version\":1,\"hlc\":\"1.0\"}}",
	    "{\"v\":1,\"type\":\"lookup_result\",\"found\":true,\"profile\":{\"id\":\"p 1\","
	    "\"version\":1,\"hlc\":\"1.0\",\"body\":{}}}",
	    "{\"v\":1,\"type\":\"lookup_result\",\"found\":true,\"profile\":{\"id\":\"p1\","
	    "\"version\":-1,\"hlc\":\"1.0\",\"body\":{}}}",
	    "{\"v\":1,\"type\":\"lookup_result\",\"found\":true,\"profile\":{\"id\":\"p1\","
	    "\"version\":1,\"hlc\":\"soon\",\"body\":{}}}",
	    "{\"v\":1,\"type\":\"lookup_result\",\"found\":true,\"profile\":{\"id\":\"p1\","
	    "\"version\":1,\"hlc\":\"1.0\",\"body\":[]}}",
	    "{\"v\":1,\"type\":\"lookup_result\",\"found\":true,\"profile\":{\"id\":\"p1\","
	    "\"version\":1,\"hlc\":\"1.0\",\"body\":{},\"pin\":\"1234\"}}",
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		err[0] = '\0';
		int rc = uplink__lookup_result_parse(bad[i], strlen(bad[i]), buf, sizeof buf, err,
						     sizeof err);
		if (rc >= 0)
			fail_msg("accepted: %s", bad[i]);
		assert_true(err[0] != '\0');
		assert_string_equal(buf, "");
	}
}

static void lookup_request_is_the_documented_json(void **state)
{
	(void)state;
	uint8_t tok[RG_TOKEN_LEN];
	char buf[UPLINK_LOOKUP_REQ_MAX];
	for (size_t i = 0; i < sizeof tok; i++)
		tok[i] = (uint8_t)(0xa0 + i);
	int n = uplink__lookup_request(tok, buf, sizeof buf);
	assert_int_equal(n, (int)strlen(buf));
	assert_string_equal(
	    buf, "{\"v\":1,\"type\":\"lookup\",\"token\":"
		 "\"a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf\"}");
	assert_int_equal(uplink__lookup_request(tok, buf, 20), RG_ERR_TOOBIG);
}

/* ---- the batcher ---- */

struct rowset {
	struct store_outbox_row r[64];
	char body[64][64];
	size_t n;
};

static void rows_make(struct rowset *s, const enum rg_kind *kinds, size_t n)
{
	memset(s, 0, sizeof *s);
	for (size_t i = 0; i < n; i++) {
		struct store_outbox_row *r = &s->r[i];
		r->seq = (int64_t)(i + 1);
		r->id.b[0] = 0x01;
		r->id.b[6] = 0x70; /* version 7 */
		r->id.b[8] = 0x80;
		r->id.b[15] = (uint8_t)(i + 1);
		r->hlc.wall_ms = 1763881290000 + (int64_t)i;
		r->kind = kinds[i];
		r->profile_id = kinds[i] == RG_KIND_TELEMETRY ? NULL : "p-1";
		snprintf(s->body[i], sizeof s->body[i], "{\"n\":%zu}", i + 1);
		r->body = s->body[i];
		r->body_len = strlen(s->body[i]);
	}
	s->n = n;
}

static struct rg_clock_manual clk;

static void check_doc(const char *doc, size_t len, const struct uplink_batch *b,
		      enum rg_kind want_kind_lane_of)
{
	struct rg_wire_batch wb;
	char err[256];
	assert_int_equal(rg_wire_batch_parse(doc, len, &wb, err, sizeof err), 0);
	assert_string_equal(wb.device, "dev-0042-k1");
	assert_string_equal(wb.store, "0042");
	assert_int_equal(rg_uuid_cmp(&wb.batch_id, &b->id), 0);
	assert_int_equal(wb.n_items, b->n);
	for (size_t i = 0; i < wb.n_items; i++) {
		assert_int_equal(rg_kind_lane(wb.items[i].kind), rg_kind_lane(want_kind_lane_of));
		assert_int_equal(rg_uuid_cmp(&wb.items[i].id, &b->ids[i]), 0);
		if (i)
			assert_true(b->seq[i] > b->seq[i - 1]);
	}
	rg_wire_batch_free(&wb);
}

static void batcher_splits_by_lane_in_order_and_caps(void **state)
{
	(void)state;
	static const enum rg_kind kinds[] = {
	    RG_KIND_IDENTIFIED, RG_KIND_TELEMETRY,	 RG_KIND_ERASURE_REQUESTED,
	    RG_KIND_NOTE,	RG_KIND_CONSENT_CHANGED, RG_KIND_IDENTIFIED,
	    RG_KIND_NOTE,	RG_KIND_IDENTIFIED,
	};
	struct rowset s;
	struct uplink_batch lanes[RG_LANE__COUNT], *bp[RG_LANE__COUNT];
	struct uplink_batcher bt;
	struct rg_uuid7_gen gen;
	size_t i;
	int rc = 0;

	rg_clock_manual_init(&clk, 1763881290000);
	rg_uuid7_gen_init(&gen, &clk.clock, rg_rand_system());
	rows_make(&s, kinds, 8);
	for (i = 0; i < RG_LANE__COUNT; i++)
		bp[i] = &lanes[i];

	/* batch_max 3: the interactions lane is full at row 7 (its 4th row) */
	uplink__batcher_init(&bt, "dev-0042-k1", "0042", 3, bp, NULL);
	for (i = 0; i < s.n && (rc = uplink__batcher_add(&bt, &gen, &s.r[i])) == 0; i++)
		;
	assert_int_equal(rc, 1);
	assert_int_equal(i, 6);		  /* row seq 7 (a 4th interaction) was not taken */
	assert_int_equal(bt.last_seq, 6); /* the cursor stops before it */
	assert_int_equal(bt.taken, 6);
	assert_int_equal(lanes[RG_LANE_INTERACTIONS].n, 3);
	assert_int_equal(lanes[RG_LANE_PRIORITY].n, 2);
	assert_int_equal(lanes[RG_LANE_TELEMETRY].n, 1);
	assert_int_equal(lanes[RG_LANE_INTERACTIONS].seq[0], 1);
	assert_int_equal(lanes[RG_LANE_INTERACTIONS].seq[1], 4);
	assert_int_equal(lanes[RG_LANE_INTERACTIONS].seq[2], 6);
	assert_int_equal(lanes[RG_LANE_PRIORITY].seq[0], 3);
	assert_int_equal(lanes[RG_LANE_PRIORITY].seq[1], 5);
	/* each lane has its own batch id */
	assert_int_not_equal(rg_uuid_cmp(&lanes[0].id, &lanes[1].id), 0);

	static const enum rg_kind lane_kind[] = {RG_KIND_ERASURE_REQUESTED, RG_KIND_IDENTIFIED,
						 RG_KIND_TELEMETRY};
	for (int l = 0; l < RG_LANE__COUNT; l++) {
		char *doc;
		size_t len;
		assert_int_equal(uplink__batcher_finish(&bt, (enum rg_lane)l, &doc, &len), 0);
		assert_non_null(doc);
		check_doc(doc, len, &lanes[l], lane_kind[l]);
		free(doc);
	}
	struct uplink_batch keep = lanes[RG_LANE_INTERACTIONS];
	uplink__batcher_free(&bt);

	/* A resend rebuilds exactly that batch, under the same id, minus rows
	 * acknowledged meanwhile (row 4 is gone from the "outbox"). */
	struct uplink_batch re, *rp[RG_LANE__COUNT] = {NULL, &re, NULL};
	uplink__batcher_init(&bt, "dev-0042-k1", "0042", UPLINK_BATCH_MAX, rp, &keep);
	for (i = 0; i < 6; i++)
		if (s.r[i].seq != 4)
			assert_int_equal(uplink__batcher_add(&bt, &gen, &s.r[i]), 0);
	assert_int_equal(re.n, 2);
	assert_int_equal(re.seq[0], 1);
	assert_int_equal(re.seq[1], 6);
	assert_int_equal(rg_uuid_cmp(&re.id, &keep.id), 0);
	char *doc;
	size_t len;
	assert_int_equal(uplink__batcher_finish(&bt, RG_LANE_INTERACTIONS, &doc, &len), 0);
	check_doc(doc, len, &re, RG_KIND_NOTE);
	free(doc);
	assert_int_equal(uplink__batcher_finish(&bt, RG_LANE_PRIORITY, &doc, &len), 0);
	assert_null(doc);
	uplink__batcher_free(&bt);

	/* remove: acked ids leave the batch */
	assert_int_equal(uplink__batch_remove(&keep, &s.r[0].id, 1), 2);
	assert_false(uplink__batch_has(&keep, 1));
	assert_true(uplink__batch_has(&keep, 4));
	assert_true(uplink__batch_has(&keep, 6));
}

static void batcher_keeps_documents_under_the_size_budget(void **state)
{
	(void)state;
	static char big[RG_WIRE_MAX_BODY];
	struct uplink_batch lanes[RG_LANE__COUNT], *bp[RG_LANE__COUNT];
	struct uplink_batcher bt;
	struct rg_uuid7_gen gen;
	struct store_outbox_row r = {0};
	size_t taken = 0;
	int rc;

	rg_clock_manual_init(&clk, 1763881290000);
	rg_uuid7_gen_init(&gen, &clk.clock, rg_rand_system());
	/* an 8000-byte body: {"t":"xxxx..."} */
	memset(big, 'x', 8000);
	memcpy(big, "{\"t\":\"", 6);
	memcpy(big + 7990, "\"}", 3);
	for (int l = 0; l < RG_LANE__COUNT; l++)
		bp[l] = &lanes[l];
	uplink__batcher_init(&bt, "dev-0042-k1", "0042", 500, bp, NULL);
	for (int i = 0;; i++) {
		r.seq = i + 1;
		r.id.b[6] = 0x70;
		r.id.b[8] = 0x80;
		r.id.b[14] = (uint8_t)(i >> 8);
		r.id.b[15] = (uint8_t)i;
		r.hlc.wall_ms = 1763881290000 + i;
		r.kind = RG_KIND_NOTE;
		r.profile_id = "p-1";
		r.body = big;
		r.body_len = strlen(big);
		if ((rc = uplink__batcher_add(&bt, &gen, &r)) != 0)
			break;
		taken++;
	}
	assert_int_equal(rc, 1);
	assert_true(taken >= 20 && taken < 32);
	char *doc;
	size_t len;
	assert_int_equal(uplink__batcher_finish(&bt, RG_LANE_INTERACTIONS, &doc, &len), 0);
	assert_true(len <= RG_WIRE_MAX_BYTES);
	free(doc);
	uplink__batcher_free(&bt);
}

static void config_topics_map_to_scopes(void **state)
{
	(void)state;
	static const struct {
		const char *topic;
		int scope;
	} cases[] = {
	    {"rg/v1/s/0042/config/tenant", CFGDOC_SCOPE_TENANT},
	    {"rg/v1/s/0042/config/store", CFGDOC_SCOPE_STORE},
	    {"rg/v1/s/0042/config/keys/2", CFGDOC_SCOPE_KEYS},
	    {"rg/v1/s/0042/config/keys/9007199254740991", CFGDOC_SCOPE_KEYS},
	    {"rg/v1/s/0042/d/dev-1/config", CFGDOC_SCOPE_DEVICE},
	    {"rg/v1/s/0042/d/dev-2/config", -1},   /* another device */
	    {"rg/v1/s/0042/d/dev-1x/config", -1},  /* a longer id */
	    {"rg/v1/s/0042/d/dev-1/config/x", -1},
	    {"rg/v1/s/0043/config/tenant", -1},    /* another store */
	    {"rg/v1/s/00420/config/tenant", -1},
	    {"rg/v1/s/0042/config/keys/", -1},
	    {"rg/v1/s/0042/config/keys/02", -1},
	    {"rg/v1/s/0042/config/keys/2a", -1},
	    {"rg/v1/s/0042/config/keys/12345678901234567", -1},
	    {"rg/v1/s/0042/config/device", -1},
	    {"rg/v1/s/0042/config/tenant/x", -1},
	    {"rg/v1/s/0042/d/dev-1/down/ack", -1},
	    {"", -1},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		if (uplink__config_topic("0042", "dev-1", cases[i].topic) != cases[i].scope)
			fail_msg("%s: got %d", cases[i].topic,
				 uplink__config_topic("0042", "dev-1", cases[i].topic));
	assert_int_equal(uplink__config_topic(NULL, "dev-1", "x"), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(receipts_parse_strictly),
	    cmocka_unit_test(lookup_results_parse_strictly),
	    cmocka_unit_test(lookup_request_is_the_documented_json),
	    cmocka_unit_test(batcher_splits_by_lane_in_order_and_caps),
	    cmocka_unit_test(batcher_keeps_documents_under_the_size_budget),
	    cmocka_unit_test(config_topics_map_to_scopes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
