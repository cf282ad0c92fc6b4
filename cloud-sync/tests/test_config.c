/*
 * test_config.c - regulars-cloud's configuration parser: defaults, every
 * key's checks, and error messages that name the key.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "cloud/cloud.h"
#include "cloud_fixture.h"
#include "common/err.h"
#include "common/log.h"

#define BASE                                                                                       \
	"\"identity\":\"cloud-1\",\"broker\":{\"host\":\"central.example\"},"                      \
	"\"tls\":{\"ca_file\":\"ca.crt\",\"cert_file\":\"c.crt\",\"key_file\":\"c.key\"},"         \
	"\"store\":{\"path\":\"/var/lib/regulars/cloud.db\"}"
#define BASE_NO_STORE                                                                              \
	"\"identity\":\"cloud-1\",\"broker\":{\"host\":\"central.example\"},"                      \
	"\"tls\":{\"ca_file\":\"ca.crt\",\"cert_file\":\"c.crt\",\"key_file\":\"c.key\"}"

static int parse(const char *doc, struct cloud_config *c, char *err, size_t cap)
{
	return cloud_config_parse(doc, strlen(doc), c, err, cap);
}

static void minimal_config_gets_defaults(void **state)
{
	struct cloud_config c;
	char err[256] = "";
	(void)state;
	assert_int_equal(parse("{" BASE "}", &c, err, sizeof err), 0);
	assert_string_equal(c.identity, "cloud-1");
	assert_string_equal(c.host, "central.example");
	assert_int_equal(c.port, 8883);
	assert_string_equal(c.backend, "sqlite");
	assert_string_equal(c.db_path, "/var/lib/regulars/cloud.db");
	assert_int_equal(c.stats_interval_s, 60);
	assert_int_equal(c.log_level, RG_LOG_INFO);
	assert_string_equal(c.tenant_key_file, "");
}

static void full_config_parses(void **state)
{
	struct cloud_config c;
	char err[256] = "";
	(void)state;
	assert_int_equal(
	    parse("{\"identity\":\"cloud-2\",\"broker\":{\"host\":\"h\",\"port\":1883},"
		  "\"tls\":{\"ca_file\":\"a\",\"cert_file\":\"b\",\"key_file\":\"c\"},"
		  "\"store\":{\"backend\":\"sqlite\",\"path\":\"x.db\","
		  "\"busy_timeout_ms\":2000},\"tenant_key_file\":\"t.key\","
		  "\"stats_interval_s\":5,\"log_level\":\"debug\","
		  "\"queue_max_kib\":2048}",
		  &c, err, sizeof err),
	    0);
	assert_int_equal(c.port, 1883);
	assert_int_equal(c.busy_timeout_ms, 2000);
	assert_string_equal(c.tenant_key_file, "t.key");
	assert_int_equal(c.stats_interval_s, 5);
	assert_int_equal(c.log_level, RG_LOG_DEBUG);
	assert_int_equal(c.queue_max_kib, 2048);
}

static void store_cache_settings(void **state)
{
	static const char *const bad[] = {
	    "{" BASE_NO_STORE ",\"store\":{\"path\":\"x.db\",\"cache_mib\":0}}",
	    "{" BASE_NO_STORE ",\"store\":{\"path\":\"x.db\",\"cache_mib\":16385}}",
	    "{" BASE_NO_STORE ",\"store\":{\"path\":\"x.db\",\"cache_mib\":\"64\"}}",
	    "{" BASE_NO_STORE ",\"store\":{\"path\":\"x.db\",\"mmap_mib\":-1}}",
	};
	struct cloud_config c;
	char err[256] = "";
	(void)state;
	assert_int_equal(parse("{" BASE "}", &c, err, sizeof err), 0);
	assert_int_equal(c.cache_mib, CLOUD_CACHE_MIB_DEFAULT);
	assert_int_equal(c.mmap_mib, 0);
	assert_int_equal(parse("{" BASE_NO_STORE ",\"store\":{\"path\":\"x.db\",\"cache_mib\":256,"
			       "\"mmap_mib\":1024}}",
			       &c, err, sizeof err),
			 0);
	assert_int_equal(c.cache_mib, 256);
	assert_int_equal(c.mmap_mib, 1024);
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		assert_int_equal(parse(bad[i], &c, err, sizeof err), RG_ERR_CONFIG);
		if (strncmp(err, "store.", 6) || !strstr(err, i < 3 ? "cache_mib" : "mmap_mib"))
			fail_msg("case %zu: \"%s\" does not name the key", i, err);
	}
}

/* "replication": defaults, both policies, and each bad value named. */
static void replication_settings(void **state)
{
	static const char *const bad[][2] = {
	    {"{" BASE ",\"replication\":{\"policy\":\"some\"}}", "replication.policy"},
	    {"{" BASE ",\"replication\":{\"recent_days\":0}}", "recent_days"},
	    {"{" BASE ",\"replication\":{\"retention_days\":3651}}", "retention_days"},
	    {"{" BASE ",\"replication\":{\"retention\":3}}", "replication."},
	    {"{" BASE ",\"replication\":[]}", "replication"},
	    {"{" BASE ",\"replication\":{\"notice_ms\":49}}", "notice_ms: 49 is below 50"},
	    {"{" BASE ",\"replication\":{\"notice_ms\":600001}}", "notice_ms"},
	    {"{" BASE ",\"replication\":{\"notice_ms\":-1}}", "notice_ms"},
	};
	struct cloud_config c;
	char err[256] = "";
	(void)state;
	assert_int_equal(parse("{" BASE "}", &c, err, sizeof err), 0);
	assert_int_equal(c.repl.kind, CLOUD_REPL_ALL);
	assert_int_equal(c.repl.recent_days, 30);
	assert_int_equal(c.repl.retention_days, 30);
	assert_int_equal(c.notice_ms, CLOUD_NOTICE_MS_DEFAULT);
	assert_int_equal(parse("{" BASE ",\"replication\":{\"policy\":\"home_and_recent\","
			       "\"recent_days\":7,\"retention_days\":90,\"notice_ms\":0}}",
			       &c, err, sizeof err),
			 0);
	assert_int_equal(c.repl.kind, CLOUD_REPL_HOME_AND_RECENT);
	assert_int_equal(c.repl.recent_days, 7);
	assert_int_equal(c.repl.retention_days, 90);
	assert_int_equal(c.notice_ms, 0);
	assert_int_equal(
	    parse("{" BASE ",\"replication\":{\"notice_ms\":50}}", &c, err, sizeof err), 0);
	assert_int_equal(c.notice_ms, 50);
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		err[0] = '\0';
		assert_int_equal(parse(bad[i][0], &c, err, sizeof err), RG_ERR_CONFIG);
		if (!strstr(err, "replication") || !strstr(err, bad[i][1]))
			fail_msg("case %zu: \"%s\" does not name %s", i, err, bad[i][1]);
	}
}

static void errors_name_the_key(void **state)
{
	static const struct {
		const char *doc, *needle;
	} bad[] = {
	    {"{" BASE ",\"typo\":1}", "typo"},
	    {"{\"broker\":{\"host\":\"h\"}}", "identity"},
	    {"{" BASE ",\"log_level\":\"loud\"}", "log_level"},
	    {"{" BASE ",\"stats_interval_s\":0}", "stats_interval_s"},
	    {"{\"identity\":\"gw-0042\",\"broker\":{\"host\":\"h\"}}", "identity"},
	    {"{\"identity\":\"Cloud 1\",\"broker\":{\"host\":\"h\"}}", "identity"},
	    {"{\"identity\":\"c\",\"broker\":{\"host\":\"h\",\"port\":0}}", "port"},
	    {"{\"identity\":\"c\",\"broker\":{\"host\":\"h\"},\"tls\":{\"ca_file\":\"a\"}}",
	     "cert_file"},
	    {"{\"identity\":\"c\",\"broker\":{\"host\":\"h\"},\"tls\":{\"ca_file\":\"\","
	     "\"cert_file\":\"b\",\"key_file\":\"c\"}}",
	     "ca_file"},
	    {"{\"identity\":\"c\",\"broker\":{\"host\":\"h\"},\"tls\":{\"ca_file\":\"a\","
	     "\"cert_file\":\"b\",\"key_file\":\"c\"},\"store\":{\"backend\":\"oracle\","
	     "\"path\":\"p\"}}",
	     "backend"},
	    {"{\"identity\":\"c\",\"broker\":{\"host\":\"h\"},\"tls\":{\"ca_file\":\"a\","
	     "\"cert_file\":\"b\",\"key_file\":\"c\"},\"store\":{}}",
	     "path"},
	    {"[1,2]", "object"},
	    {"{" BASE "} trailing", "JSON"},
	};
	(void)state;
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct cloud_config c;
		char err[256] = "";
		assert_int_equal(parse(bad[i].doc, &c, err, sizeof err), RG_ERR_CONFIG);
		if (!strstr(err, bad[i].needle))
			fail_msg("case %zu: \"%s\" does not name %s", i, err, bad[i].needle);
	}
}

static void load_reports_the_file(void **state)
{
	struct cloud_config c;
	struct cf_dir d;
	char path[300], err[600] = "";
	FILE *f;
	(void)state;
	assert_int_equal(cf_dir_make(&d, "cfg"), 0);
	snprintf(path, sizeof path, "%s/cloud.json", d.path);
	assert_int_equal(cloud_config_load(path, &c, err, sizeof err), RG_ERR_NOTFOUND); /* a missing file says so */
	assert_non_null(strstr(err, path));
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("{" BASE ",\"stats_interval_s\":-1}", f);
	fclose(f);
	assert_int_equal(cloud_config_load(path, &c, err, sizeof err), RG_ERR_CONFIG);
	assert_non_null(strstr(err, "stats_interval_s"));
	cf_dir_remove(&d);
}

static void example_config_is_valid(void **state)
{
	struct cloud_config c;
	char err[600] = "";
	(void)state;
	if (cloud_config_load(CLOUD_EXAMPLE_CONFIG, &c, err, sizeof err) != 0)
		fail_msg("%s", err);
	assert_string_equal(c.identity, "cloud-1");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(example_config_is_valid),
	    cmocka_unit_test(store_cache_settings),
	    cmocka_unit_test(minimal_config_gets_defaults),
	    cmocka_unit_test(full_config_parses),
	    cmocka_unit_test(errors_name_the_key),
	    cmocka_unit_test(replication_settings),
	    cmocka_unit_test(load_reports_the_file),
	};
	rg_log_set_level(RG_LOG_OFF);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
