/*
 * test_gw_uplink.c - the checks in front of the spool: topics of the store
 * broker, every refusal reason with the batch id recovered for the receipt
 * where possible, receipts as documents, and central's acks before relay.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/err.h"
#include "common/json.h"
#include "gateway/uplink.h"
#include "gw_fixture.h"

static void store_topics_parse_and_others_do_not(void **state)
{
	struct gw_topic t;
	(void)state;
	assert_int_equal(gw_topic_parse("rg/v1/s/0042/d/dev-a/up/telemetry", "0042", &t), 0);
	assert_int_equal(t.kind, GW_TOPIC_UP);
	assert_string_equal(t.device, "dev-a");
	assert_int_equal(t.lane, RG_LANE_TELEMETRY);
	assert_int_equal(gw_topic_parse("rg/v1/s/0042/d/dev-a/req/lookup", "0042", &t), 0);
	assert_int_equal(t.kind, GW_TOPIC_REQ);
	assert_string_equal(t.op, "lookup");
	assert_int_equal(gw_topic_parse("rg/v1/s/0042/d/dev-a/status", "0042", &t), 0);
	assert_int_equal(t.kind, GW_TOPIC_STATUS);

	static const char *const bad[] = {"rg/v1/s/0043/d/dev-a/up/priority",
					  "rg/v1/s/0042/d/dev-a/up/bulk",
					  "rg/v1/s/0042/d/dev-a/up/priority/x",
					  "rg/v1/s/0042/d//up/priority",
					  "rg/v1/s/0042/d/Dev/up/priority",
					  "rg/v1/s/0042/d/dev-a/down/ack",
					  "rg/v1/s/0042/d/dev-a/req/",
					  "rg/v1/s/0042/d/dev-a/req/Look",
					  "rg/v1/s/0042/d/dev-a",
					  "rg/v1/s/0042/d/dev-a/status/x",
					  ""};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		if (gw_topic_parse(bad[i], "0042", &t) != RG_ERR_PARSE)
			fail_msg("accepted \"%s\"", bad[i]);
}

static enum gw_refusal check(const char *device, bool known, enum rg_lane lane, const char *doc,
			     size_t len, struct gw_uplink *u)
{
	assert_int_equal(gw_uplink_check("0042", device, known, lane, doc, len, u), 0);
	return u->refusal;
}

static void a_good_batch_is_accepted_with_its_ids(void **state)
{
	struct rg_uuid ids[3], bid;
	struct gw_uplink u;
	char *doc;
	size_t len;
	(void)state;
	assert_int_equal(gwfx_batch("dev-a", "0042", RG_KIND_NOTE, 3, 0, &doc, &len, ids, &bid), 0);
	assert_int_equal(check("dev-a", true, RG_LANE_INTERACTIONS, doc, len, &u), GW_ACCEPT);
	assert_true(u.has_batch_id);
	assert_memory_equal(&u.batch_id, &bid, sizeof bid);
	assert_int_equal(u.batch.n_items, 3);
	assert_memory_equal(u.ids, ids, sizeof ids);
	gw_uplink_free(&u);
	free(doc);
}

static void each_refusal_has_its_reason_and_keeps_the_batch_id(void **state)
{
	struct gw_uplink u;
	struct rg_uuid bid;
	char *doc;
	size_t len;
	(void)state;

	assert_int_equal(gwfx_batch("dev-a", "0042", RG_KIND_NOTE, 2, 0, &doc, &len, NULL, &bid),
			 0);
	/* Published under another identity: the batch is not theirs. */
	assert_int_equal(check("dev-b", true, RG_LANE_INTERACTIONS, doc, len, &u),
			 GW_REFUSE_DEVICE_MISMATCH);
	assert_true(u.has_batch_id);
	assert_memory_equal(&u.batch_id, &bid, sizeof bid);
	assert_string_equal(gw_refusal_reason(u.refusal), "device_mismatch");
	gw_uplink_free(&u);
	/* On the wrong lane. */
	assert_int_equal(check("dev-a", true, RG_LANE_PRIORITY, doc, len, &u),
			 GW_REFUSE_LANE_MISMATCH);
	assert_string_equal(gw_refusal_reason(u.refusal), "malformed");
	assert_non_null(strstr(u.detail, "lane priority"));
	gw_uplink_free(&u);
	/* From a gateway identity, or a device the config does not list. */
	assert_int_equal(check("gw-0043", true, RG_LANE_INTERACTIONS, doc, len, &u),
			 GW_REFUSE_NOT_DEVICE);
	assert_true(u.has_batch_id);
	gw_uplink_free(&u);
	assert_int_equal(check("dev-a", false, RG_LANE_INTERACTIONS, doc, len, &u),
			 GW_REFUSE_UNKNOWN_DEVICE);
	gw_uplink_free(&u);
	/* Truncated: malformed, and the id cannot be salvaged. */
	assert_int_equal(check("dev-a", true, RG_LANE_INTERACTIONS, doc, len - 1, &u),
			 GW_REFUSE_MALFORMED);
	assert_false(u.has_batch_id);
	gw_uplink_free(&u);
	free(doc);

	/* Another store's batch. */
	assert_int_equal(gwfx_batch("dev-a", "0043", RG_KIND_NOTE, 1, 0, &doc, &len, NULL, &bid),
			 0);
	assert_int_equal(check("dev-a", true, RG_LANE_INTERACTIONS, doc, len, &u),
			 GW_REFUSE_STORE_MISMATCH);
	assert_string_equal(gw_refusal_reason(u.refusal), "store_mismatch");
	assert_memory_equal(&u.batch_id, &bid, sizeof bid);
	gw_uplink_free(&u);
	free(doc);

	/* Well-formed JSON that is not a valid batch still names its batch. */
	const char *half = "{\"v\":1,\"type\":\"batch\",\"device\":\"dev-a\",\"store\":\"0042\","
			   "\"batch\":\"019ab0d2-6a3b-7c01-9e2f-5a1b2c3d4e5f\",\"items\":[]}";
	assert_int_equal(check("dev-a", true, RG_LANE_INTERACTIONS, half, strlen(half), &u),
			 GW_REFUSE_MALFORMED);
	assert_true(u.has_batch_id);
	gw_uplink_free(&u);
}

static void an_oversized_message_is_too_big_and_still_named(void **state)
{
	size_t len = RG_WIRE_MAX_BYTES + 100;
	char *doc = malloc(len + 1);
	struct gw_uplink u;
	const char *head = "{\"batch\":\"019ab0d2-6a3b-7c01-9e2f-5a1b2c3d4e5f\",\"pad\":\"";
	(void)state;
	assert_non_null(doc);
	memset(doc, 'x', len);
	memcpy(doc, head, strlen(head));
	memcpy(doc + len - 2, "\"}", 2);
	doc[len] = '\0';
	assert_int_equal(check("dev-a", true, RG_LANE_INTERACTIONS, doc, len, &u),
			 GW_REFUSE_TOO_BIG);
	assert_true(u.has_batch_id);
	assert_string_equal(gw_refusal_reason(u.refusal), "too_big");
	gw_uplink_free(&u);
	free(doc);
}

static void receipts_are_the_documented_json(void **state)
{
	struct rg_uuid id;
	char buf[GW_RECEIPT_MAX];
	(void)state;
	assert_int_equal(rg_uuid_parse("019ab0d2-6a3b-7c01-9e2f-5a1b2c3d4e5f", &id), 0);
	int n = gw_receipt_encode(&id, GW_ACCEPT, buf, sizeof buf);
	assert_int_equal(n, (int)strlen(buf));
	assert_string_equal(buf, "{\"v\":1,\"type\":\"receipt\","
				 "\"batch\":\"019ab0d2-6a3b-7c01-9e2f-5a1b2c3d4e5f\","
				 "\"status\":\"spooled\"}");
	assert_true(gw_receipt_encode(&id, GW_REFUSE_SPOOL_FULL, buf, sizeof buf) > 0);
	assert_non_null(strstr(buf, "\"status\":\"refused\",\"reason\":\"spool_full\""));
	cJSON *root;
	assert_int_equal(rg_json_parse(buf, strlen(buf), 1024, &root, NULL, 0), 0);
	cJSON_Delete(root);
	assert_int_equal(gw_receipt_encode(&id, GW_ACCEPT, buf, 10), RG_ERR_INVAL);
}

static void acks_for_devices_pass_and_others_do_not(void **state)
{
	struct rg_uuid ids[2], bid;
	struct rg_wire_ack a;
	char err[256], *doc;
	size_t len;
	(void)state;
	rg_uuid_parse("019ab0d2-6a3b-7c01-9e2f-5a1b2c3d4e5f", &bid);
	ids[0] = ids[1] = bid;
	ids[1].b[15] ^= 1;
	assert_int_equal(rg_wire_ack_encode("dev-a", &bid, ids, 2, &doc, &len), 0);
	assert_int_equal(gw_ack_check(doc, len, &a, err, sizeof err), 0);
	assert_string_equal(a.device, "dev-a");
	assert_int_equal(a.n_ids, 2);
	rg_wire_ack_free(&a);
	free(doc);
	assert_int_equal(rg_wire_ack_encode("gw-0042", &bid, ids, 2, &doc, &len), 0);
	assert_int_equal(gw_ack_check(doc, len, &a, err, sizeof err), RG_ERR_PARSE);
	free(doc);
	assert_true(gw_ack_check("{}", 2, &a, err, sizeof err) < 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(store_topics_parse_and_others_do_not),
	    cmocka_unit_test_setup_teardown(a_good_batch_is_accepted_with_its_ids, gwfx_setup,
					    gwfx_teardown),
	    cmocka_unit_test_setup_teardown(each_refusal_has_its_reason_and_keeps_the_batch_id,
					    gwfx_setup, gwfx_teardown),
	    cmocka_unit_test(an_oversized_message_is_too_big_and_still_named),
	    cmocka_unit_test(receipts_are_the_documented_json),
	    cmocka_unit_test_setup_teardown(acks_for_devices_pass_and_others_do_not, gwfx_setup,
					    gwfx_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
