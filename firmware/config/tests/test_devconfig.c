/*
 * test_devconfig.c - the device configuration file: the shipped example
 * parses, every optional key has its documented default, every kind of bad
 * value is refused with a message that starts with the key's path, unknown
 * and duplicate keys are refused, file size and syntax errors name the
 * file, and a reload may change only the keys the doc marks reloadable.
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

#include "common/err.h"
#include "common/log.h"
#include "firmware/devconfig.h"

/* Required keys only, with a keystore that needs no options; a case adds
 * its keys after it and closes the object. */
#define BASE                                                                                       \
	"{\"device_id\":\"dev-1\",\"store_id\":\"0042\",\"role\":\"kiosk\","                       \
	"\"database\":\"/var/lib/regulars/device.db\",\"keystore\":{\"backend\":\"sim\"}"

static char tmpdir[128];

static int setup(void **state)
{
	const char *t = getenv("TMPDIR");
	(void)state;
	rg_log_set_level(RG_LOG_OFF);
	unsetenv("REGULARS_UI_DIR");
	snprintf(tmpdir, sizeof tmpdir, "%s/rg-devcfg-XXXXXX",
		 t && *t && strlen(t) < 80 ? t : "/tmp");
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
	char p[200];
	(void)state;
	snprintf(p, sizeof p, "%s/device.json", tmpdir);
	unlink(p);
	rmdir(tmpdir);
	return 0;
}

static int parse(const char *json, struct devcfg *c, char *err, size_t cap)
{
	return devcfg_parse(json, strlen(json), c, err, cap);
}

static void write_file(const char *path, const char *text, size_t len)
{
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(text, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

static void example_config_parses(void **state)
{
	static struct devcfg c;
	struct ident_config def;
	char err[512];
	(void)state;
	int rc = devcfg_load(FWCONFIG_EXAMPLE, &c, err, sizeof err);
	if (rc)
		fail_msg("%s", err);
	assert_string_equal(c.device_id, "dev-0042-k1");
	assert_string_equal(c.store_id, "0042");
	assert_int_equal(c.role, DEVCFG_ROLE_KIOSK);
	assert_string_equal(c.database, "/var/lib/regulars/device.db");
	assert_string_equal(c.keystore.backend, "file");
	assert_string_equal(c.keystore.options, "dir=/var/lib/regulars/keys");
	assert_int_equal(c.n_readers, 1);
	assert_string_equal(c.readers[0].backend, "sim");
	assert_string_equal(c.readers[0].options, "");
	assert_false(c.has_display);
	assert_false(c.has_indicator);
	assert_string_equal(c.http.bind, "127.0.0.1");
	assert_int_equal(c.http.port, 8080);
	assert_string_equal(c.http.assets, "/usr/share/regulars/ui");
	assert_int_equal(c.http.session_idle_s, 300);
	assert_int_equal(strncmp(c.pin_hash, "pbkdf2-sha256$100000$", 21), 0);
	assert_int_equal(c.cache.max_profiles, 1000000);
	assert_int_equal(c.cache.max_bytes, 1073741824);
	assert_int_equal(c.screen.idle_after_ms, 8000);
	assert_int_equal(c.screen.public_items_max, 3);
	assert_string_equal(c.screen.default_language, "en");
	ident_config_default(&def);
	assert_memory_equal(&c.identifiers, &def, sizeof def);
	assert_false(c.has_uplink);
}

static void every_optional_key_has_its_default(void **state)
{
	static struct devcfg c;
	struct ident_config def;
	char err[512];
	(void)state;
	int rc = parse("{\"device_id\":\"d\",\"store_id\":\"s\",\"role\":\"handheld\","
		       "\"database\":\"x.db\",\"keystore\":{\"options\":\"dir=/k\"}}",
		       &c, err, sizeof err);
	if (rc)
		fail_msg("%s", err);
	assert_int_equal(c.role, DEVCFG_ROLE_HANDHELD);
	assert_string_equal(devcfg_role_name(c.role), "handheld");
	assert_string_equal(c.keystore.backend, "file"); /* default backend */
	assert_string_equal(c.keystore.options, "dir=/k");
	assert_int_equal(c.n_readers, 0);
	assert_false(c.has_display);
	assert_false(c.has_indicator);
	assert_string_equal(c.http.bind, "127.0.0.1");
	assert_int_equal(c.http.port, 8080);
	assert_string_equal(c.http.assets, FWCONFIG_UI_DIR);
	assert_int_equal(c.http.session_idle_s, 300);
	assert_string_equal(c.pin_hash, "");
	assert_int_equal(c.cache.max_profiles, 1000000);
	assert_int_equal(c.cache.max_bytes, INT64_C(1) << 30);
	assert_int_equal(c.screen.idle_after_ms, 8000);
	assert_int_equal(c.screen.public_items_max, 3);
	assert_string_equal(c.screen.default_language, "en");
	ident_config_default(&def);
	assert_memory_equal(&c.identifiers, &def, sizeof def);
	assert_false(c.has_uplink);

	/* inside objects that are present, absent keys still default */
	rc = parse(BASE ",\"http\":{\"port\":0},\"screen\":{\"default_language\":\"nl\"},"
			"\"display\":{\"backend\":\"sim\"},\"indicator\":{\"backend\":\"sim\","
			"\"options\":\"events=8\"},\"staff\":{},"
			"\"identifiers\":{\"totp\":{\"digits\":8}},"
			"\"uplink\":{\"host\":\"gw.local\",\"ca_file\":\"ca.pem\","
			"\"cert_file\":\"dev.pem\",\"key_file\":\"dev.key\"}}",
		   &c, err, sizeof err);
	if (rc)
		fail_msg("%s", err);
	assert_string_equal(c.keystore.backend, "sim");
	assert_string_equal(c.keystore.options, "");
	assert_int_equal(c.http.port, 0); /* any free port */
	assert_string_equal(c.http.bind, "127.0.0.1");
	assert_int_equal(c.http.session_idle_s, 300);
	assert_string_equal(c.screen.default_language, "nl");
	assert_int_equal(c.screen.idle_after_ms, 8000);
	assert_true(c.has_display);
	assert_string_equal(c.display.backend, "sim");
	assert_string_equal(c.display.options, "");
	assert_true(c.has_indicator);
	assert_string_equal(c.indicator.options, "events=8");
	assert_string_equal(c.pin_hash, "");
	assert_int_equal(c.identifiers.totp.digits, 8);
	assert_int_equal(c.identifiers.totp.period_s, def.totp.period_s);
	assert_true(c.has_uplink);
	assert_string_equal(c.uplink.host, "gw.local");
	assert_int_equal(c.uplink.port, 8883);
	assert_string_equal(c.uplink.ca_file, "ca.pem");
	assert_string_equal(c.uplink.cert_file, "dev.pem");
	assert_string_equal(c.uplink.key_file, "dev.key");
	assert_int_equal(c.uplink.batch_max, 100);
	assert_int_equal(c.uplink.resend_ms, 30000);
	assert_int_equal(c.uplink.lookup_timeout_ms, 1500);
	assert_int_equal(c.uplink.pull_ms, 60000);
}

struct bad_case {
	const char *json;
	const char *want; /* the message's start: the key path and the complaint */
};

static void run_bad(const struct bad_case *cases, size_t n)
{
	static struct devcfg c;
	for (size_t i = 0; i < n; i++) {
		char err[512] = "";
		int rc = parse(cases[i].json, &c, err, sizeof err);
		if (rc != RG_ERR_CONFIG || strncmp(err, cases[i].want, strlen(cases[i].want)))
			fail_msg("case %zu: rc %s, err \"%s\", want \"%s...\" for %s", i,
				 rg_errname(rc), err, cases[i].want, cases[i].json);
	}
}

static void each_kind_of_error_names_its_key(void **state)
{
	char longdb[700], manyreaders[700];
	(void)state;
	snprintf(
	    longdb, sizeof longdb,
	    "{\"device_id\":\"d\",\"store_id\":\"s\",\"role\":\"kiosk\",\"database\":\"%0600d\"}",
	    0);
	int o = snprintf(manyreaders, sizeof manyreaders, BASE ",\"readers\":[");
	for (int i = 0; i < 9; i++)
		o += snprintf(manyreaders + o, sizeof manyreaders - (size_t)o,
			      "%s{\"backend\":\"sim\"}", i ? "," : "");
	snprintf(manyreaders + o, sizeof manyreaders - (size_t)o, "]}");
	const struct bad_case cases[] = {
	    /* ranges */
	    {BASE ",\"http\":{\"port\":70000}}", "http.port: must be 1..65535"},
	    {BASE ",\"http\":{\"port\":-1}}", "http.port: must be 1..65535"},
	    {BASE ",\"http\":{\"session_idle_s\":29}}", "http.session_idle_s: must be 30..86400"},
	    {BASE ",\"http\":{\"session_idle_s\":86401}}",
	     "http.session_idle_s: must be 30..86400"},
	    {BASE ",\"cache\":{\"max_profiles\":0}}", "cache.max_profiles: must be 1.."},
	    {BASE ",\"cache\":{\"max_bytes\":4095}}", "cache.max_bytes: must be 4096.."},
	    {BASE ",\"screen\":{\"idle_after_ms\":999}}",
	     "screen.idle_after_ms: must be 1000..600000"},
	    {BASE ",\"screen\":{\"idle_after_ms\":600001}}",
	     "screen.idle_after_ms: must be 1000..600000"},
	    {BASE ",\"screen\":{\"public_items_max\":4}}", "screen.public_items_max: must be 0..3"},
	    {BASE ",\"uplink\":{\"host\":\"g\",\"ca_file\":\"a\",\"cert_file\":\"b\","
		  "\"key_file\":\"c\",\"batch_max\":501}}",
	     "uplink.batch_max: must be 1..500"},
	    {BASE ",\"uplink\":{\"host\":\"g\",\"ca_file\":\"a\",\"cert_file\":\"b\","
		  "\"key_file\":\"c\",\"resend_ms\":999}}",
	     "uplink.resend_ms: must be 1000..3600000"},
	    {BASE ",\"uplink\":{\"host\":\"g\",\"ca_file\":\"a\",\"cert_file\":\"b\","
		  "\"key_file\":\"c\",\"lookup_timeout_ms\":-1}}",
	     "uplink.lookup_timeout_ms: must be 0.."},
	    {BASE ",\"uplink\":{\"host\":\"g\",\"ca_file\":\"a\",\"cert_file\":\"b\","
		  "\"key_file\":\"c\",\"pull_ms\":999}}",
	     "uplink.pull_ms: must be 1000..86400000"},
	    {BASE ",\"uplink\":{\"host\":\"g\",\"ca_file\":\"a\",\"cert_file\":\"b\","
		  "\"key_file\":\"c\",\"port\":0}}",
	     "uplink.port: must be 1..65535"},
	    {manyreaders, "readers: 9 readers exceed the limit of 8"},
	    {longdb, "database: 600 bytes exceed the maximum length 511"},
	    /* types: nothing is coerced */
	    {BASE ",\"http\":{\"port\":\"8080\"}}", "http.port: must be an integer, got a string"},
	    {BASE ",\"http\":{\"port\":80.5}}", "http.port: must be an integer"},
	    {BASE ",\"http\":{\"port\":true}}", "http.port: must be an integer, got a boolean"},
	    {BASE ",\"http\":[]}", "http: must be an object, got an array"},
	    {BASE ",\"http\":{\"bind\":null}}", "http.bind: must be a string, got null"},
	    {BASE ",\"readers\":{}}", "readers: must be an array, got an object"},
	    {BASE ",\"readers\":[\"sim\"]}", "readers[0]: must be an object, got a string"},
	    {BASE ",\"indicator\":{\"backend\":\"sim\",\"options\":7}}",
	     "indicator.options: must be a string, got a number"},
	    {BASE ",\"identifiers\":\"all\"}", "identifiers: must be an object, got a string"},
	    {"{\"device_id\":\"d\",\"store_id\":\"s\",\"role\":\"kiosk\",\"database\":5}",
	     "database: must be a string, got a number"},
	    /* missing */
	    {"{\"store_id\":\"s\",\"role\":\"kiosk\",\"database\":\"x\"}",
	     "device_id: required but missing"},
	    {"{\"device_id\":\"d\",\"role\":\"kiosk\",\"database\":\"x\"}",
	     "store_id: required but missing"},
	    {"{\"device_id\":\"d\",\"store_id\":\"s\",\"database\":\"x\"}",
	     "role: required but missing"},
	    {"{\"device_id\":\"d\",\"store_id\":\"s\",\"role\":\"kiosk\"}",
	     "database: required but missing"},
	    {BASE ",\"readers\":[{\"options\":\"\"}]}", "readers[0].backend: required but missing"},
	    {BASE ",\"uplink\":{\"ca_file\":\"a\",\"cert_file\":\"b\",\"key_file\":\"c\"}}",
	     "uplink.host: required but missing"},
	    {BASE ",\"uplink\":{\"host\":\"g\",\"ca_file\":\"a\",\"cert_file\":\"b\"}}",
	     "uplink.key_file: required but missing"},
	    /* formats and names */
	    {"{\"device_id\":\"Dev_1\",\"store_id\":\"s\",\"role\":\"kiosk\",\"database\":\"x\"}",
	     "device_id: must be 1..64 of [a-z0-9-]"},
	    {"{\"device_id\":\"-d\",\"store_id\":\"s\",\"role\":\"kiosk\",\"database\":\"x\"}",
	     "device_id: must be 1..64 of [a-z0-9-]"},
	    {"{\"device_id\":\"\",\"store_id\":\"s\",\"role\":\"kiosk\",\"database\":\"x\"}",
	     "device_id: must not be empty"},
	    {"{\"device_id\":\"d\",\"store_id\":\"store/1\",\"role\":\"kiosk\",\"database\":\"x\"}",
	     "store_id: must be 1..32 of [a-z0-9-]"},
	    {"{\"device_id\":\"d\",\"store_id\":\"s\",\"role\":\"admin\",\"database\":\"x\"}",
	     "role: must be \"kiosk\" or \"handheld\""},
	    {"{\"device_id\":\"d\",\"store_id\":\"s\",\"role\":\"kiosk\",\"database\":\"x\"}",
	     "keystore.options: the file keystore needs dir=PATH"},
	    {BASE ",\"http\":{\"bind\":\"localhost:80\"}}", "http.bind: must be an IPv4 address"},
	    {BASE ",\"http\":{\"bind\":\"::1\"}}", "http.bind: must be an IPv4 address"},
	    {BASE ",\"http\":{\"assets\":\"\"}}", "http.assets: must not be empty"},
	    {BASE ",\"readers\":[{\"backend\":\"sim\",\"options\":\"a\\u0001b\"}]}",
	     "readers[0].options: must not contain control characters"},
	    {BASE ",\"screen\":{\"default_language\":\"es\"}}",
	     "screen.default_language: must be en, de, fr or nl"},
	    {BASE ",\"staff\":{\"pin_hash\":\"1234\"}}", "staff.pin_hash: not a PIN hash"},
	    {BASE ",\"staff\":{\"pin_hash\":\"pbkdf2-sha256$100000$...$...\"}}",
	     "staff.pin_hash: not a PIN hash"},
	    {BASE ",\"staff\":{\"pin_hash\":\"pbkdf2-sha256$10$GT0UfU4Gu8r-49GFHFTmYA$"
		  "Th8GLJLwFkgxbQv0s14bQNfX4myS_hAJvu7XoK7FLuE\"}}",
	     "staff.pin_hash: not a PIN hash"},
	    /* HAL backends come from the registry */
	    {"{\"device_id\":\"d\",\"store_id\":\"s\",\"role\":\"kiosk\",\"database\":\"x\","
	     "\"keystore\":{\"backend\":\"tpm\"}}",
	     "keystore.backend: unknown keystore backend \"tpm\""},
	    {BASE ",\"readers\":[{\"backend\":\"sim\"},{\"backend\":\"bogus\"}]}",
	     "readers[1].backend: unknown reader backend \"bogus\""},
	    {BASE ",\"display\":{\"backend\":\"hdmi\"}}",
	     "display.backend: unknown display backend"},
	    {BASE ",\"indicator\":{\"backend\":\"gpio\"}}",
	     "indicator.backend: unknown indicator backend"},
	    /* the identifier rules, checked by ident_config_from_json */
	    {BASE ",\"identifiers\":{\"totp\":{\"digits\":9}}}", "identifiers.totp"},
	    {BASE ",\"identifiers\":{\"qr\":{\"prefixes\":[]}}}", "identifiers.qr"},
	};
	run_bad(cases, sizeof cases / sizeof cases[0]);
}

static void unknown_and_duplicate_keys_are_refused(void **state)
{
	(void)state;
	const struct bad_case cases[] = {
	    {BASE ",\"colour\":\"red\"}", "colour: unknown key"},
	    {BASE ",\"http\":{\"prot\":8080}}", "http.prot: unknown key"},
	    {BASE ",\"readers\":[{\"backend\":\"sim\",\"option\":\"\"}]}",
	     "readers[0].option: unknown key"},
	    {BASE ",\"keystore\":{\"backend\":\"sim\",\"dir\":\"/k\"}}",
	     "keystore: key appears twice"},
	    {BASE ",\"staff\":{\"pin\":\"1234\"}}", "staff.pin: unknown key"},
	    {BASE ",\"cache\":{\"max_profile\":1}}", "cache.max_profile: unknown key"},
	    {BASE ",\"screen\":{\"language\":\"en\"}}", "screen.language: unknown key"},
	    {BASE ",\"uplink\":{\"hots\":\"g\"}}", "uplink.hots: unknown key"},
	    {BASE ",\"identifiers\":{\"totpp\":{}}}", "identifiers: "},
	    {BASE ",\"identifiers\":{\"totp\":{\"digit\":6}}}", "identifiers.totp"},
	    {BASE ",\"role\":\"handheld\"}", "role: key appears twice"},
	    {BASE ",\"ev\\u0001l\":1}", "ev?l: unknown key"},
	    {BASE ",\"Device_id\":\"x\"}", "Device_id: unknown key"},
	};
	run_bad(cases, sizeof cases / sizeof cases[0]);
}

static void syntax_size_and_file_errors(void **state)
{
	static struct devcfg c;
	char err[512], path[200], want[300];
	(void)state;

	assert_int_equal(parse(BASE, &c, err, sizeof err), RG_ERR_PARSE);
	assert_int_equal(parse(BASE "} x", &c, err, sizeof err), RG_ERR_PARSE);
	assert_int_equal(parse("[]", &c, err, sizeof err), RG_ERR_CONFIG);
	assert_string_equal(err, "(top level): must be a JSON object, got an array");
	assert_int_equal(parse("", &c, err, sizeof err), RG_ERR_PARSE);
	assert_int_equal(devcfg_parse(BASE "}", DEVCFG_FILE_MAX + 1, &c, err, sizeof err),
			 RG_ERR_TOOBIG);

	/* devcfg_load names the file, then the key */
	snprintf(path, sizeof path, "%s/device.json", tmpdir);
	const char *j = BASE ",\"http\":{\"port\":70000}}";
	write_file(path, j, strlen(j));
	assert_int_equal(devcfg_load(path, &c, err, sizeof err), RG_ERR_CONFIG);
	snprintf(want, sizeof want, "config %s: http.port: must be 1..65535", path);
	assert_int_equal(strncmp(err, want, strlen(want)), 0);

	/* over the cap: refused by size before parsing (whitespace is valid JSON) */
	char *big = malloc(DEVCFG_FILE_MAX + 2);
	assert_non_null(big);
	memset(big, ' ', DEVCFG_FILE_MAX + 1);
	memcpy(big, BASE "}", strlen(BASE "}"));
	write_file(path, big, DEVCFG_FILE_MAX + 1);
	assert_int_equal(devcfg_load(path, &c, err, sizeof err), RG_ERR_TOOBIG);
	assert_non_null(strstr(err, path));
	assert_non_null(strstr(err, "262144"));
	/* exactly at the cap is fine */
	write_file(path, big, DEVCFG_FILE_MAX);
	assert_int_equal(devcfg_load(path, &c, err, sizeof err), 0);
	free(big);

	unlink(path);
	assert_int_equal(devcfg_load(path, &c, err, sizeof err), RG_ERR_NOTFOUND);
	snprintf(want, sizeof want, "config %s: cannot open", path);
	assert_int_equal(strncmp(err, want, strlen(want)), 0);
	assert_int_equal(devcfg_load(tmpdir, &c, err, sizeof err), RG_ERR_IO); /* a directory */
	assert_int_equal(devcfg_parse(NULL, 0, &c, err, sizeof err), RG_ERR_INVAL);
}

static void parse_variant(const char *extra, struct devcfg *c)
{
	char json[2048], err[512];
	snprintf(
	    json, sizeof json,
	    "{\"device_id\":\"dev-1\",\"store_id\":\"0042\",\"role\":\"kiosk\","
	    "\"database\":\"/d.db\",\"keystore\":{\"backend\":\"file\",\"options\":\"dir=/k\"},"
	    "\"readers\":[{\"backend\":\"sim\",\"options\":\"path=/run/r.sock\"}]%s}",
	    extra);
	if (parse(json, c, err, sizeof err))
		fail_msg("%s: %s", extra, err);
}

static void reload_changes_only_reloadable_keys(void **state)
{
	static struct devcfg a, b;
	char err[256];
	(void)state;
	parse_variant("", &a);
	parse_variant("", &b);
	assert_int_equal(devcfg_reload_check(&a, &b, err, sizeof err), 0);

	/* staff.pin_hash, screen.*, log.level, cache.* and identifiers take
	 * effect at once (pushed configuration applies them live too) */
	parse_variant(",\"staff\":{\"pin_hash\":\"pbkdf2-sha256$100000$GT0UfU4Gu8r-49GFHFTmYA$"
		      "Th8GLJLwFkgxbQv0s14bQNfX4myS_hAJvu7XoK7FLuE\"},"
		      "\"screen\":{\"idle_after_ms\":5000,\"public_items_max\":0,"
		      "\"default_language\":\"de\",\"privacy\":\"anonymous\","
		      "\"text\":{\"de\":{\"welcome\":\"Hallo\"}},\"hours\":{\"mon\":[]}},"
		      "\"log\":{\"level\":\"debug\"},"
		      "\"cache\":{\"max_profiles\":5,\"max_bytes\":4096},"
		      "\"identifiers\":{\"totp\":{\"enabled\":false}}",
		      &b);
	assert_int_equal(devcfg_reload_check(&a, &b, err, sizeof err), 0);

	static const struct {
		const char *extra, *key;
	} cases[] = {
	    {",\"http\":{\"port\":9090}", "http.port"},
	    {",\"http\":{\"bind\":\"127.0.0.2\"}", "http.bind"},
	    {",\"http\":{\"assets\":\"/srv/ui\"}", "http.assets"},
	    {",\"http\":{\"session_idle_s\":60}", "http.session_idle_s"},
	    {",\"config\":{\"trust_anchor\":\"/etc/a.json\"}", "config"},
	    {",\"display\":{\"backend\":\"sim\"}", "display"},
	    {",\"indicator\":{\"backend\":\"sim\"}", "indicator"},
	    {",\"uplink\":{\"host\":\"g\",\"ca_file\":\"a\",\"cert_file\":\"b\",\"key_file\":"
	     "\"c\"}",
	     "uplink"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		parse_variant(cases[i].extra, &b);
		assert_int_equal(devcfg_reload_check(&a, &b, err, sizeof err), RG_ERR_STATE);
		if (strncmp(err, cases[i].key, strlen(cases[i].key)) ||
		    err[strlen(cases[i].key)] != ':')
			fail_msg("%s: got \"%s\"", cases[i].extra, err);
	}
	/* the top-level and array keys, edited in place */
	b = a;
	snprintf(b.device_id, sizeof b.device_id, "dev-2");
	assert_int_equal(devcfg_reload_check(&a, &b, err, sizeof err), RG_ERR_STATE);
	assert_int_equal(strncmp(err, "device_id:", 10), 0);
	b = a;
	b.role = DEVCFG_ROLE_HANDHELD;
	assert_int_equal(devcfg_reload_check(&a, &b, err, sizeof err), RG_ERR_STATE);
	assert_int_equal(strncmp(err, "role:", 5), 0);
	b = a;
	snprintf(b.database, sizeof b.database, "/other.db");
	assert_int_equal(devcfg_reload_check(&a, &b, err, sizeof err), RG_ERR_STATE);
	assert_int_equal(strncmp(err, "database:", 9), 0);
	b = a;
	snprintf(b.keystore.options, sizeof b.keystore.options, "dir=/k2");
	assert_int_equal(devcfg_reload_check(&a, &b, err, sizeof err), RG_ERR_STATE);
	assert_int_equal(strncmp(err, "keystore.options:", 17), 0);
	b = a;
	snprintf(b.readers[0].options, sizeof b.readers[0].options, "path=/run/other.sock");
	assert_int_equal(devcfg_reload_check(&a, &b, err, sizeof err), RG_ERR_STATE);
	assert_int_equal(strncmp(err, "readers[0]:", 11), 0);
	b = a;
	b.n_readers = 0;
	assert_int_equal(devcfg_reload_check(&a, &b, err, sizeof err), RG_ERR_STATE);
	assert_int_equal(strncmp(err, "readers:", 8), 0);
	/* uplink details */
	parse_variant(",\"uplink\":{\"host\":\"g\",\"ca_file\":\"a\",\"cert_file\":\"b\","
		      "\"key_file\":\"c\"}",
		      &a);
	b = a;
	b.uplink.batch_max = 7; /* the sync parameters are live */
	b.uplink.resend_ms = 5000;
	b.uplink.lookup_timeout_ms = 0;
	b.uplink.pull_ms = 2000;
	assert_int_equal(devcfg_reload_check(&a, &b, err, sizeof err), 0);
	b = a;
	snprintf(b.uplink.key_file, sizeof b.uplink.key_file, "other.key");
	assert_int_equal(devcfg_reload_check(&a, &b, err, sizeof err), RG_ERR_STATE);
	assert_int_equal(strncmp(err, "uplink.key_file:", 16), 0);
	/* where pushed configuration comes from and is kept */
	parse_variant(",\"config\":{\"trust_anchor\":\"/etc/a.json\"}", &a);
	b = a;
	snprintf(b.config.trust_anchor, sizeof b.config.trust_anchor, "/etc/b.json");
	assert_int_equal(devcfg_reload_check(&a, &b, err, sizeof err), RG_ERR_STATE);
	assert_int_equal(strncmp(err, "config.trust_anchor:", 20), 0);
	b = a;
	snprintf(b.config.state, sizeof b.config.state, "/other-config");
	assert_int_equal(devcfg_reload_check(&a, &b, err, sizeof err), RG_ERR_STATE);
	assert_int_equal(strncmp(err, "config.state:", 13), 0);
}

/* ---- the keys pushed settings share, and the overlay ---- */

static void pushed_keys_in_the_file(void **state)
{
	static struct devcfg c;
	char err[512];
	(void)state;
	/* defaults */
	assert_int_equal(parse(BASE "}", &c, err, sizeof err), 0);
	assert_int_equal(c.screen.privacy, DEVCFG_PRIVACY_FULL);
	for (int i = 0; i < DEVCFG_LANGS; i++) {
		assert_string_equal(c.screen.text[i].greeting, "");
		assert_string_equal(c.screen.text[i].closed, "");
	}
	assert_false(c.screen.hours.set);
	assert_int_equal(c.log_level, -1);
	assert_false(c.has_config);

	int rc = parse(BASE ",\"screen\":{\"privacy\":\"first_name\","
			    "\"text\":{\"de\":{\"greeting\":\"Hallo {name}!\",\"closed\":\"Zu\"},"
			    "\"en\":{\"welcome\":\"Hi\"}},"
			    "\"hours\":{\"mon\":[\"08:00-12:00\",\"13:00-20:00\"],\"sun\":[]}},"
			    "\"log\":{\"level\":\"warn\"},"
			    "\"config\":{\"trust_anchor\":\"/etc/regulars/config-trust.json\"}}",
		       &c, err, sizeof err);
	if (rc)
		fail_msg("%s", err);
	assert_int_equal(c.screen.privacy, DEVCFG_PRIVACY_FIRST_NAME);
	assert_string_equal(devcfg_privacy_name(c.screen.privacy), "first_name");
	assert_string_equal(c.screen.text[devcfg_language_index("de")].greeting, "Hallo {name}!");
	assert_string_equal(c.screen.text[devcfg_language_index("de")].closed, "Zu");
	assert_string_equal(c.screen.text[devcfg_language_index("en")].welcome, "Hi");
	assert_string_equal(c.screen.text[devcfg_language_index("en")].greeting, "");
	assert_true(c.screen.hours.set);
	assert_int_equal(c.screen.hours.n[0], 2);
	assert_int_equal(c.screen.hours.start[0][1], 13 * 60);
	assert_int_equal(c.screen.hours.end[0][1], 20 * 60);
	assert_int_equal(c.screen.hours.n[1], 0); /* not listed: closed */
	assert_true(rg_settings_hours_open(&c.screen.hours, 0, 9 * 60));
	assert_false(rg_settings_hours_open(&c.screen.hours, 0, 12 * 60 + 30));
	assert_false(rg_settings_hours_open(&c.screen.hours, 6, 10 * 60));
	assert_int_equal(c.log_level, RG_LOG_WARN);
	assert_true(c.has_config);
	assert_string_equal(c.config.trust_anchor, "/etc/regulars/config-trust.json");
	/* state defaults to the database path + "-config" */
	assert_string_equal(c.config.state, "/var/lib/regulars/device.db-config");
	assert_int_equal(parse(BASE ",\"config\":{\"trust_anchor\":\"a\",\"state\":\"/s.db\"}}",
			       &c, err, sizeof err),
			 0);
	assert_string_equal(c.config.state, "/s.db");
	assert_int_equal(devcfg_language_index("xx"), -1);
	assert_int_equal(devcfg_language_index(NULL), -1);

	const struct bad_case cases[] = {
	    {BASE ",\"config\":{}}", "config.trust_anchor: required but missing"},
	    {BASE ",\"config\":{\"trust_anchor\":\"\"}}", "config.trust_anchor: must not be empty"},
	    {BASE ",\"config\":{\"trust_anchor\":\"a\",\"extra\":1}}", "config.extra: unknown key"},
	    {BASE ",\"config\":{\"trust_anchor\":\"a\",\"state\":\"/var/lib/regulars/device.db\"}}",
	     "config.state: must not be the database"},
	    {BASE ",\"config\":7}", "config: must be an object"},
	    {BASE ",\"screen\":{\"privacy\":\"none\"}}", "screen.privacy"},
	    {BASE ",\"screen\":{\"text\":{\"xx\":{\"greeting\":\"a\"}}}}", "screen.text"},
	    {BASE ",\"screen\":{\"text\":{\"en\":{\"greeting\":\"\"}}}}", "screen.text.en.greeting"},
	    {BASE ",\"screen\":{\"hours\":{\"mon\":[\"20:00-08:00\"]}}}", "screen.hours"},
	    {BASE ",\"screen\":{\"hours\":{\"xyz\":[]}}}", "screen.hours"},
	    {BASE ",\"log\":{\"level\":\"loud\"}}", "log.level"},
	    {BASE ",\"log\":{\"level\":\"info\",\"x\":1}}", "log.x: unknown key"},
	    {BASE ",\"screen\":{\"bogus\":1}}", "screen.bogus: unknown key"},
	};
	run_bad(cases, sizeof cases / sizeof cases[0]);
}

static void overlay_lays_pushed_settings_over_the_file(void **state)
{
	static struct devcfg file, out;
	struct ident_config def;
	char err[512];
	(void)state;
	int rc = parse(BASE ",\"screen\":{\"idle_after_ms\":5000,\"text\":{\"de\":{\"welcome\":"
			    "\"Willkommen\"},\"en\":{\"welcome\":\"Welcome\"}}},"
			    "\"cache\":{\"max_profiles\":5000},"
			    "\"identifiers\":{\"totp\":{\"digits\":8}},"
			    "\"uplink\":{\"host\":\"g\",\"ca_file\":\"a\",\"cert_file\":\"b\","
			    "\"key_file\":\"c\",\"batch_max\":50}}",
		       &file, err, sizeof err);
	if (rc)
		fail_msg("%s", err);

	/* nothing pushed: the file */
	assert_int_equal(devcfg_overlay(&file, NULL, &out, err, sizeof err), 0);
	assert_memory_equal(&out, &file, sizeof out);
	cJSON *empty = cJSON_CreateObject();
	assert_int_equal(devcfg_overlay(&file, empty, &out, err, sizeof err), 0);
	assert_memory_equal(&out, &file, sizeof out);
	cJSON_Delete(empty);

	const char *pushed =
	    "{\"log\":{\"level\":\"debug\"},"
	    "\"screen\":{\"privacy\":\"anonymous\",\"public_items_max\":1,"
	    "\"default_language\":\"de\",\"text\":{\"en\":{\"greeting\":\"Hello again, {name}!\"}},"
	    "\"hours\":{\"sat\":[\"09:00-13:00\"]}},"
	    "\"cache\":{\"max_profiles\":100,\"max_bytes\":2097152},"
	    "\"sync\":{\"batch_max\":7,\"resend_ms\":5000,\"lookup_timeout_ms\":0,"
	    "\"pull_ms\":2000},"
	    "\"identifiers\":{\"nfc_uid\":{\"enabled\":false}},"
	    "\"gateway\":{\"forward\":{\"window\":9},\"log\":{\"level\":\"error\"}}}";
	cJSON *m = cJSON_Parse(pushed);
	assert_non_null(m);
	rc = devcfg_overlay(&file, m, &out, err, sizeof err);
	if (rc)
		fail_msg("%s", err);
	cJSON_Delete(m);
	/* set by the push */
	assert_int_equal(out.log_level, RG_LOG_DEBUG); /* not gateway.log.level */
	assert_int_equal(out.screen.privacy, DEVCFG_PRIVACY_ANONYMOUS);
	assert_int_equal(out.screen.public_items_max, 1);
	assert_string_equal(out.screen.default_language, "de");
	assert_string_equal(out.screen.text[0].greeting, "Hello again, {name}!");
	assert_true(out.screen.hours.set);
	assert_int_equal(out.screen.hours.n[5], 1);
	assert_int_equal(out.cache.max_profiles, 100);
	assert_int_equal(out.cache.max_bytes, 2097152);
	assert_int_equal(out.uplink.batch_max, 7);
	assert_int_equal(out.uplink.resend_ms, 5000);
	assert_int_equal(out.uplink.lookup_timeout_ms, 0);
	assert_int_equal(out.uplink.pull_ms, 2000);
	/* identifiers: the pushed object over the defaults, replacing the file's */
	ident_config_default(&def);
	assert_false(out.identifiers.nfc_uid.enabled);
	assert_int_equal(out.identifiers.totp.digits, def.totp.digits);
	/* kept from the file: keys the push does not set, texts key by key */
	assert_int_equal(out.screen.idle_after_ms, 5000);
	assert_string_equal(out.screen.text[0].welcome, "Welcome");
	assert_string_equal(out.screen.text[1].welcome, "Willkommen");
	assert_string_equal(out.device_id, file.device_id);
	assert_string_equal(out.uplink.host, "g");
	/* the file is untouched */
	assert_int_equal(file.cache.max_profiles, 5000);
	assert_int_equal(file.uplink.batch_max, 50);
	assert_int_equal(file.identifiers.totp.digits, 8);

	/* a bad pushed object changes nothing and names the key */
	static const struct {
		const char *json, *want;
	} bad[] = {
	    {"{\"screen\":{\"idle_after_ms\":5}}", "screen.idle_after_ms"},
	    {"{\"cache\":{\"max_profiles\":0}}", "cache.max_profiles"},
	    {"{\"sync\":{\"batch_max\":501}}", "sync.batch_max"},
	    {"{\"nope\":1}", "nope"},
	    {"{\"identifiers\":{\"qr\":{\"bogus\":1}}}", "identifiers"},
	    {"[1]", "(settings)"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		m = cJSON_Parse(bad[i].json);
		assert_non_null(m);
		err[0] = '\0';
		rc = devcfg_overlay(&file, m, &out, err, sizeof err);
		cJSON_Delete(m);
		if (rc != RG_ERR_CONFIG || !strstr(err, bad[i].want))
			fail_msg("%s: rc %s err \"%s\"", bad[i].json, rg_errname(rc), err);
	}
	assert_int_equal(devcfg_overlay(&file, NULL, &file, err, sizeof err), RG_ERR_INVAL);
}

static void ui_dir_default_and_environment_override(void **state)
{
	static struct devcfg c;
	char err[256];
	(void)state;
	assert_string_equal(devcfg_default_assets(), FWCONFIG_UI_DIR);
	assert_int_equal(setenv("REGULARS_UI_DIR", "/opt/regulars/ui", 1), 0);
	assert_string_equal(devcfg_default_assets(), "/opt/regulars/ui");
	assert_int_equal(parse(BASE "}", &c, err, sizeof err), 0);
	assert_string_equal(c.http.assets, "/opt/regulars/ui");
	/* an explicit http.assets wins over both */
	assert_int_equal(parse(BASE ",\"http\":{\"assets\":\"/srv/ui\"}}", &c, err, sizeof err), 0);
	assert_string_equal(c.http.assets, "/srv/ui");
	assert_int_equal(setenv("REGULARS_UI_DIR", "", 1), 0);
	assert_string_equal(devcfg_default_assets(), FWCONFIG_UI_DIR);
	unsetenv("REGULARS_UI_DIR");
	assert_string_equal(devcfg_role_name(DEVCFG_ROLE_KIOSK), "kiosk");
	assert_string_equal(devcfg_role_name((enum devcfg_role)7), "unknown");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(example_config_parses),
	    cmocka_unit_test(every_optional_key_has_its_default),
	    cmocka_unit_test(each_kind_of_error_names_its_key),
	    cmocka_unit_test(unknown_and_duplicate_keys_are_refused),
	    cmocka_unit_test(syntax_size_and_file_errors),
	    cmocka_unit_test(reload_changes_only_reloadable_keys),
	    cmocka_unit_test(ui_dir_default_and_environment_override),
	    cmocka_unit_test(pushed_keys_in_the_file),
	    cmocka_unit_test(overlay_lays_pushed_settings_over_the_file),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
