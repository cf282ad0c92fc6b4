/*
 * test_gw_config.c - the gateway's configuration: a full example parses with
 * its values, defaults fill what is absent, every kind of mistake is an
 * error naming the key, and the reload check tells restart-only keys apart.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/err.h"
#include "common/log.h"
#include "gateway/gwconfig.h"

#define MIN_DOC                                                                                    \
	"{\"store_id\":\"0042\",\"store_broker\":{\"host\":\"localhost\"},"                        \
	"\"central_broker\":{\"host\":\"central.example\",\"port\":8884},"                         \
	"\"tls\":{\"ca_file\":\"ca.crt\",\"cert_file\":\"gw.crt\",\"key_file\":\"gw.key\"},"       \
	"\"spool\":{\"path\":\"spool.db\"}"

static int parse(const char *doc, struct gwcfg *c, char *err)
{
	return gwcfg_parse(doc, strlen(doc), c, err, 256);
}

static void a_minimal_config_gets_the_documented_defaults(void **state)
{
	struct gwcfg c;
	char err[256] = "";
	(void)state;
	assert_int_equal(parse(MIN_DOC "}", &c, err), 0);
	assert_string_equal(c.store_id, "0042");
	assert_string_equal(c.identity, "gw-0042");
	assert_string_equal(c.store_broker.host, "localhost");
	assert_int_equal(c.store_broker.port, 8883);
	assert_int_equal(c.central_broker.port, 8884);
	assert_string_equal(c.key_file, "gw.key");
	assert_string_equal(c.spool_path, "spool.db");
	assert_int_equal(c.budget_bytes, INT64_C(1) << 30);
	assert_int_equal(c.forward_window, 64);
	assert_int_equal(c.forward_bundle, 8);
	assert_int_equal(c.resend_ms, 30000);
	assert_int_equal(c.reconnect_max_ms, 10000);
	assert_int_equal(c.stats_interval_s, 60);
	assert_int_equal(c.log_level, RG_LOG_INFO);
	assert_int_equal(c.n_devices, 0);
	assert_string_equal(c.replica_path, "spool.db-replica");
	assert_int_equal(c.pull_ms, 5000);
	assert_int_equal(c.retention_days, 30);
	assert_int_equal(gwcfg_device_known(&c, "dev-0042-k1"), 1);
	assert_int_equal(gwcfg_device_known(&c, "gw-0042"), 0);
	assert_int_equal(gwcfg_device_known(&c, "Bad/Id"), 0);
	gwcfg_free(&c);
}

static void every_key_is_read(void **state)
{
	struct gwcfg c;
	char err[256] = "";
	(void)state;
	assert_int_equal(
	    parse(MIN_DOC ",\"identity\":\"gw-0042\","
			  "\"forward\":{\"window\":8,\"resend_ms\":1500,\"reconnect_max_ms\":2000,"
			  "\"bundle\":3},"
			  "\"known_devices\":[\"dev-a\",\"dev-b\"],"
			  "\"stats_interval_s\":5,\"log_level\":\"debug\","
			  "\"replica\":{\"path\":\"r.db\",\"pull_ms\":250,\"retention_days\":7}}",
		  &c, err),
	    0);
	assert_string_equal(c.replica_path, "r.db");
	assert_int_equal(c.pull_ms, 250);
	assert_int_equal(c.retention_days, 7);
	assert_int_equal(c.forward_window, 8);
	assert_int_equal(c.forward_bundle, 3);
	assert_int_equal(c.resend_ms, 1500);
	assert_int_equal(c.reconnect_max_ms, 2000);
	assert_int_equal(c.stats_interval_s, 5);
	assert_int_equal(c.log_level, RG_LOG_DEBUG);
	assert_int_equal(c.n_devices, 2);
	assert_int_equal(gwcfg_device_known(&c, "dev-b"), 1);
	assert_int_equal(gwcfg_device_known(&c, "dev-c"), 0);
	gwcfg_free(&c);
}

static void mistakes_are_errors_that_name_the_key(void **state)
{
	static const struct {
		const char *doc, *needle;
	} cases[] = {
	    {MIN_DOC ",\"colour\":1}", "colour"},
	    {MIN_DOC ",\"identity\":\"gw-0043\"}", "identity"},
	    {"{\"store_id\":\"0042\",\"store_broker\":{\"host\":\"h\"},"
	     "\"central_broker\":{\"host\":\"c\"},\"tls\":{\"ca_file\":\"a\","
	     "\"cert_file\":\"b\",\"key_file\":\"c\"},"
	     "\"spool\":{\"path\":\"x\",\"budget_bytes\":10}}",
	     "spool.key \"budget_bytes\""},
	    {"{\"store_id\":\"0042\",\"store_broker\":{\"host\":\"h\",\"port\":0}}",
	     "store_broker.key \"port\""},
	    {MIN_DOC ",\"forward\":{\"window\":0}}", "forward.key \"window\""},
	    {MIN_DOC ",\"forward\":{\"windows\":3}}", "forward.unknown key \"windows\""},
	    {MIN_DOC ",\"known_devices\":[]}", "known_devices"},
	    {MIN_DOC ",\"known_devices\":[\"gw-0042\"]}", "gateway"},
	    {MIN_DOC ",\"known_devices\":[\"dev-a\",\"dev-a\"]}", "repeats"},
	    {MIN_DOC ",\"known_devices\":[7]}", "item 0"},
	    {MIN_DOC ",\"log_level\":\"loud\"}", "log_level"},
	    {MIN_DOC ",\"config\":{}}", "config.key \"trust_anchor\""},
	    {MIN_DOC ",\"config\":{\"trust_anchor\":\"t\",\"path\":\"x\"}}", "config.unknown key"},
	    {MIN_DOC ",\"config\":{\"trust_anchor\":\"t\",\"state\":\"spool.db\"}}",
	     "config.state"},
	    {MIN_DOC ",\"config\":\"on\"}", "config"},
	    {MIN_DOC ",\"replica\":{\"pull_ms\":249}}", "replica.key \"pull_ms\""},
	    {MIN_DOC ",\"replica\":{\"pull_ms\":3600001}}", "replica.key \"pull_ms\""},
	    {MIN_DOC ",\"replica\":{\"retention_days\":0}}", "replica.key \"retention_days\""},
	    {MIN_DOC ",\"replica\":{\"paths\":\"x\"}}", "replica.unknown key"},
	    {MIN_DOC ",\"replica\":{\"path\":\"spool.db\"}}", "replica.path"},
	    {MIN_DOC ",\"replica\":[]}", "replica"},
	    {MIN_DOC ",\"forward\":{\"window\":1025}}", "forward.key \"window\""},
	    {MIN_DOC ",\"forward\":{\"bundle\":0}}", "forward.key \"bundle\""},
	    {MIN_DOC ",\"forward\":{\"bundle\":17}}", "forward.key \"bundle\""},
	    {MIN_DOC ",\"stats_interval_s\":\"60\"}", "stats_interval_s"},
	    {"{\"store_id\":\"00/42\"}", "store_id"},
	    {"{\"store_id\":\"0042\"}", "store_broker"},
	    {"[1]", "object"},
	    {"{\"store_id\":", "JSON"},
	};
	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct gwcfg c;
		char err[256] = "";
		int rc = parse(cases[i].doc, &c, err);
		if (rc != RG_ERR_CONFIG || !strstr(err, cases[i].needle))
			fail_msg("case %zu: rc %d err \"%s\" (want \"%s\")", i, rc, err,
				 cases[i].needle);
		assert_null(c.devices);
	}
}

static void a_missing_file_is_named(void **state)
{
	struct gwcfg c;
	char err[256] = "";
	(void)state;
	assert_int_equal(gwcfg_load("/nonexistent/gw.json", &c, err, sizeof err), RG_ERR_NOTFOUND);
	assert_non_null(strstr(err, "/nonexistent/gw.json"));
}

static void reload_accepts_tunables_and_refuses_restart_only_keys(void **state)
{
	struct gwcfg a, b;
	char err[256] = "";
	(void)state;
	assert_int_equal(parse(MIN_DOC "}", &a, err), 0);
	assert_int_equal(parse(MIN_DOC ",\"forward\":{\"window\":3,\"reconnect_max_ms\":900},"
				       "\"known_devices\":[\"d\"],\"log_level\":\"warn\"}",
			       &b, err),
			 0);
	assert_int_equal(gwcfg_reload_check(&a, &b, err, sizeof err), 0);
	gwcfg_free(&b);
	assert_int_equal(parse("{\"store_id\":\"0042\",\"store_broker\":{\"host\":\"localhost\"},"
			       "\"central_broker\":{\"host\":\"other\",\"port\":8884},"
			       "\"tls\":{\"ca_file\":\"ca.crt\",\"cert_file\":\"gw.crt\","
			       "\"key_file\":\"gw.key\"},\"spool\":{\"path\":\"spool.db\"}}",
			       &b, err),
			 0);
	assert_int_equal(gwcfg_reload_check(&a, &b, err, sizeof err), RG_ERR_STATE);
	assert_non_null(strstr(err, "central_broker"));
	gwcfg_free(&b);
	/* pull_ms and retention_days are live; the replica's file is not */
	assert_int_equal(parse(MIN_DOC ",\"replica\":{\"pull_ms\":1000,\"retention_days\":2}}",
			       &b, err),
			 0);
	assert_int_equal(gwcfg_reload_check(&a, &b, err, sizeof err), 0);
	gwcfg_free(&b);
	assert_int_equal(parse(MIN_DOC ",\"replica\":{\"path\":\"elsewhere.db\"}}", &b, err), 0);
	assert_int_equal(gwcfg_reload_check(&a, &b, err, sizeof err), RG_ERR_STATE);
	assert_non_null(strstr(err, "replica.path"));
	gwcfg_free(&a);
	gwcfg_free(&b);
}

static void the_config_object_defaults_its_state_beside_the_spool(void **state)
{
	struct gwcfg a, b;
	char err[256] = "";
	(void)state;
	assert_int_equal(parse(MIN_DOC "}", &a, err), 0);
	assert_false(a.has_config);
	assert_int_equal(parse(MIN_DOC ",\"config\":{\"trust_anchor\":\"/etc/t.json\"}}", &b, err),
			 0);
	assert_true(b.has_config);
	assert_string_equal(b.config_anchor, "/etc/t.json");
	assert_string_equal(b.config_state, "spool.db-config");
	/* Turning it on or off needs a restart. */
	assert_int_equal(gwcfg_reload_check(&a, &b, err, sizeof err), RG_ERR_STATE);
	assert_non_null(strstr(err, "config"));
	gwcfg_free(&b);
	assert_int_equal(
	    parse(MIN_DOC ",\"config\":{\"trust_anchor\":\"t\",\"state\":\"/s\"}}", &b, err), 0);
	assert_string_equal(b.config_state, "/s");
	gwcfg_free(&a);
	gwcfg_free(&b);
}

static void a_copy_owns_its_devices(void **state)
{
	struct gwcfg a, b;
	char err[256] = "";
	(void)state;
	assert_int_equal(parse(MIN_DOC ",\"known_devices\":[\"d1\",\"d2\"]}", &a, err), 0);
	assert_int_equal(gwcfg_copy(&b, &a), 0);
	gwcfg_free(&a);
	assert_int_equal(b.n_devices, 2);
	assert_string_equal(b.devices[1], "d2");
	assert_int_equal(gwcfg_device_known(&b, "d1"), 1);
	gwcfg_free(&b);
}

static void the_documented_example_parses(void **state)
{
	struct gwcfg c;
	char err[512] = "";
	(void)state;
	if (gwcfg_load(GW_EXAMPLE_CONFIG, &c, err, sizeof err) < 0)
		fail_msg("%s", err);
	assert_string_equal(c.identity, "gw-0042");
	assert_int_equal(c.n_devices, 2);
	assert_true(c.has_config);
	assert_int_equal(c.pull_ms, 5000);
	assert_string_equal(c.replica_path, "/var/lib/regulars/gateway-replica.db");
	gwcfg_free(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(a_minimal_config_gets_the_documented_defaults),
	    cmocka_unit_test(every_key_is_read),
	    cmocka_unit_test(mistakes_are_errors_that_name_the_key),
	    cmocka_unit_test(a_missing_file_is_named),
	    cmocka_unit_test(reload_accepts_tunables_and_refuses_restart_only_keys),
	    cmocka_unit_test(the_config_object_defaults_its_state_beside_the_spool),
	    cmocka_unit_test(a_copy_owns_its_devices),
	    cmocka_unit_test(the_documented_example_parses),
	};
	rg_log_set_level(RG_LOG_OFF);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
