/*
 * test_msg.c - the central topics a worker serves, the per-topic checks on
 * a batch (store of the gateway level, lane of the topic), and the lookup
 * request/answer documents.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>
#include <cmocka.h>

#include "cloud/cloud.h"
#include "cloud_fixture.h"
#include "common/err.h"
#include "common/log.h"

static void topics_parse_strictly(void **state)
{
	struct cloud_topic t;
	static const char *const bad[] = {
	    "rg/v1/g/gw-0042/up/bulk",
	    "rg/v1/g/dev-0042/up/priority",
	    "rg/v1/g/gw-/up/priority",
	    "rg/v1/g/gw-0042/up/priority/x",
	    "rg/v1/g/gw-0042/up/",
	    "rg/v1/g/gw-0042/status",
	    "rg/v1/s/0042/d/x/up/priority",
	    "rg/v1/g/gw-0042/req/Lookup",
	    "rg/v1/g/gw-0042/down/ack",
	    "rg/v1/g//up/priority",
	    "rg/v1/g/gw-0042",
	    "",
	};
	(void)state;
	assert_int_equal(cloud_topic_parse("rg/v1/g/gw-0042/up/interactions", &t), 0);
	assert_string_equal(t.gateway, "gw-0042");
	assert_string_equal(t.store, "0042");
	assert_false(t.is_request);
	assert_int_equal(t.lane, RG_LANE_INTERACTIONS);
	assert_int_equal(cloud_topic_parse("rg/v1/g/gw-0042/up/telemetry", &t), 0);
	assert_int_equal(t.lane, RG_LANE_TELEMETRY);
	assert_int_equal(cloud_topic_parse("rg/v1/g/gw-a-b/req/lookup", &t), 0);
	assert_true(t.is_request);
	assert_string_equal(t.op, "lookup");
	assert_string_equal(t.store, "a-b");
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		if (cloud_topic_parse(bad[i], &t) != RG_ERR_PARSE)
			fail_msg("accepted \"%s\"", bad[i]);
}

static void batch_must_match_gateway_store_and_lane(void **state)
{
	struct cloud_topic t;
	struct rg_wire_batch b;
	struct cf_batch cb;
	(void)state;
	assert_int_equal(cloud_topic_parse("rg/v1/g/gw-0042/up/interactions", &t), 0);
	cf_batch_begin(&cb, "dev-0042-k1", "0042");
	cf_batch_add(&cb, RG_KIND_NOTE, CF_T0, "p-1", NULL, "{\"text\":\"x\"}");
	cf_batch_end(&cb, &b, NULL);
	assert_int_equal(cloud_batch_check(&t, &b), 0);
	rg_wire_batch_free(&b);

	cf_batch_begin(&cb, "dev-0043-k1", "0043");
	cf_batch_add(&cb, RG_KIND_NOTE, CF_T0, "p-1", NULL, "{\"text\":\"x\"}");
	cf_batch_end(&cb, &b, NULL);
	assert_int_equal(cloud_batch_check(&t, &b), CLOUD_REFUSE_STORE);
	rg_wire_batch_free(&b);

	cf_batch_begin(&cb, "dev-0042-k1", "0042");
	cf_batch_add(&cb, RG_KIND_NOTE, CF_T0, "p-1", NULL, "{\"text\":\"x\"}");
	cf_batch_add(&cb, RG_KIND_ERASURE_REQUESTED, CF_T0 + 1, "p-1", NULL, "{}");
	cf_batch_end(&cb, &b, NULL);
	assert_int_equal(cloud_batch_check(&t, &b), CLOUD_REFUSE_LANE);
	rg_wire_batch_free(&b);
}

static void lookups_parse_strictly(void **state)
{
	uint8_t tok[RG_TOKEN_LEN], want[RG_TOKEN_LEN];
	char doc[200], err[256];
	static const char *const bad[] = {
	    "{\"v\":1,\"type\":\"lookup\"}",
	    "{\"v\":2,\"type\":\"lookup\",\"token\":\"00\"}",
	    "{\"v\":1,\"type\":\"changes\",\"token\":"
	    "\"0000000000000000000000000000000000000000000000000000000000000000\"}",
	    "{\"v\":1,\"type\":\"lookup\",\"token\":"
	    "\"000000000000000000000000000000000000000000000000000000000000000G\"}",
	    "{\"v\":1,\"type\":\"lookup\",\"token\":"
	    "\"00000000000000000000000000000000000000000000000000000000000000AA\"}",
	    "{\"v\":1,\"type\":\"lookup\",\"token\":\"00\"}",
	    "{\"v\":1,\"type\":\"lookup\",\"token\":"
	    "\"0000000000000000000000000000000000000000000000000000000000000000\",\"x\":1}",
	    "[]",
	    "",
	};
	(void)state;
	cf_token("2000000000015", want);
	snprintf(doc, sizeof doc, "{\"v\":1,\"type\":\"lookup\",\"token\":\"");
	for (size_t i = 0; i < RG_TOKEN_LEN; i++)
		snprintf(doc + strlen(doc), 3, "%02x", want[i]);
	snprintf(doc + strlen(doc), sizeof doc - strlen(doc), "\"}");
	assert_int_equal(cloud_lookup_parse(doc, strlen(doc), tok, err, sizeof err), 0);
	assert_memory_equal(tok, want, RG_TOKEN_LEN);
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		if (cloud_lookup_parse(bad[i], strlen(bad[i]), tok, err, sizeof err) >= 0)
			fail_msg("accepted %s", bad[i]);
}

static void lookup_results_have_the_agreed_shape(void **state)
{
	struct cloud_profile p = {.id = "p-1", .version = 3, .hlc = {CF_T0, 2}};
	char *doc = NULL;
	size_t len = 0;
	cJSON *j;
	(void)state;
	p.body = strdup("{\"name\":\"Anna\"}");
	assert_int_equal(cloud_lookup_result(&p, &doc, &len), 0);
	j = cJSON_Parse(doc);
	assert_non_null(j);
	assert_true(cJSON_IsTrue(cJSON_GetObjectItem(j, "found")));
	assert_string_equal(cJSON_GetObjectItem(j, "type")->valuestring, "lookup_result");
	const cJSON *pr = cJSON_GetObjectItem(j, "profile");
	assert_string_equal(cJSON_GetObjectItem(pr, "id")->valuestring, "p-1");
	assert_int_equal(cJSON_GetObjectItem(pr, "version")->valueint, 3);
	assert_string_equal(cJSON_GetObjectItem(pr, "hlc")->valuestring, "1763881290000.2");
	assert_string_equal(
	    cJSON_GetObjectItem(cJSON_GetObjectItem(pr, "body"), "name")->valuestring, "Anna");
	cJSON_Delete(j);
	free(doc);
	/* erased or missing: found false, no profile */
	p.erased = true;
	assert_int_equal(cloud_lookup_result(&p, &doc, &len), 0);
	assert_string_equal(doc, "{\"v\":1,\"type\":\"lookup_result\",\"found\":false}");
	free(doc);
	assert_int_equal(cloud_lookup_result(NULL, &doc, &len), 0);
	assert_string_equal(doc, "{\"v\":1,\"type\":\"lookup_result\",\"found\":false}");
	free(doc);
	free(p.body);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(topics_parse_strictly),
	    cmocka_unit_test(batch_must_match_gateway_store_and_lane),
	    cmocka_unit_test(lookups_parse_strictly),
	    cmocka_unit_test(lookup_results_have_the_agreed_shape),
	};
	rg_log_set_level(RG_LOG_OFF);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
