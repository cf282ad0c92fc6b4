/*
 * test_settings.c - the settings schema (common/settings.h): every key at its
 * bounds and just outside, unknown keys and wrong types at every level, text
 * and opening-hours grammar, the scope merge, the diff and the Markdown table.
 * The expected bounds here are copied from the header by hand on purpose: the
 * test is a second reading of the schema, not the table read back.
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
#include "common/settings.h"

#define ERR_CAP 256

/* JSON with ' for " so the documents stay readable. */
static cJSON *js(const char *s)
{
	char buf[4096], err[RG_JSON_ERR_MAX];
	cJSON *j = NULL;
	size_t n = strlen(s);
	assert_true(n < sizeof buf);
	for (size_t i = 0; i <= n; i++)
		buf[i] = s[i] == '\'' ? '"' : s[i];
	if (rg_json_parse(buf, n, sizeof buf, &j, err, sizeof err) < 0)
		fail_msg("bad test JSON %s: %s", s, err);
	return j;
}

/* rg_settings_check of a document; err is filled. */
static int check(const char *doc, char *err)
{
	cJSON *j = js(doc);
	int rc;
	snprintf(err, ERR_CAP, "(untouched)");
	rc = rg_settings_check(j, err, ERR_CAP);
	cJSON_Delete(j);
	return rc;
}

static void ok(const char *doc)
{
	char err[ERR_CAP];
	if (check(doc, err) != 0)
		fail_msg("refused %s: %s", doc, err);
}

/* Refused with exactly msg. */
static void refused(const char *doc, const char *msg)
{
	char err[ERR_CAP];
	if (check(doc, err) != RG_ERR_CONFIG)
		fail_msg("accepted %s", doc);
	if (strcmp(err, msg))
		fail_msg("%s: got \"%s\", want \"%s\"", doc, err, msg);
}

/* Refused with a message starting with prefix. */
static void refused_prefix(const char *doc, const char *prefix)
{
	char err[ERR_CAP];
	if (check(doc, err) != RG_ERR_CONFIG)
		fail_msg("accepted %s", doc);
	if (getenv("RG_PRINT_ERRORS"))
		printf("%s -> %s\n", doc, err);
	if (strncmp(err, prefix, strlen(prefix)))
		fail_msg("%s: got \"%s\", want it to start \"%s\"", doc, err, prefix);
}

/* {"a":{"b":<raw>}} for path "a.b". */
static void nest(const char *path, const char *raw, char *out, size_t cap)
{
	char p[128], *seg, *save = NULL;
	size_t o = 0, depth = 0;
	snprintf(p, sizeof p, "%s", path);
	for (seg = strtok_r(p, ".", &save); seg; seg = strtok_r(NULL, ".", &save), depth++)
		o += (size_t)snprintf(out + o, cap - o, "{\"%s\":", seg);
	o += (size_t)snprintf(out + o, cap - o, "%s", raw);
	while (depth--)
		o += (size_t)snprintf(out + o, cap - o, "}");
	assert_true(o < cap);
}

static const struct {
	const char *path;
	long long min, max;
} int_keys[] = {
    {"screen.idle_after_ms", 1000, 600000},
    {"screen.public_items_max", 0, 3},
    {"cache.max_profiles", 1, 100000000},
    {"cache.max_bytes", 1048576, 68719476736LL},
    {"sync.batch_max", 1, 500},
    {"sync.resend_ms", 1000, 3600000},
    {"sync.lookup_timeout_ms", 0, 10000},
    {"sync.pull_ms", 1000, 86400000},
    {"gateway.forward.window", 1, 1024},
    {"gateway.forward.resend_ms", 1000, 3600000},
    {"gateway.forward.reconnect_max_ms", 250, 300000},
    {"gateway.forward.bundle", 1, 16},
    {"gateway.stats_interval_s", 1, 86400},
};

static void integers_accepted_at_bounds_refused_outside(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof int_keys / sizeof int_keys[0]; i++) {
		char doc[256], raw[32], want[160];
		long long vals[] = {int_keys[i].min, int_keys[i].max};
		long long outs[] = {int_keys[i].min - 1, int_keys[i].max + 1};
		for (int k = 0; k < 2; k++) {
			snprintf(raw, sizeof raw, "%lld", vals[k]);
			nest(int_keys[i].path, raw, doc, sizeof doc);
			ok(doc);
			snprintf(raw, sizeof raw, "%lld", outs[k]);
			nest(int_keys[i].path, raw, doc, sizeof doc);
			snprintf(want, sizeof want, "%s: must be %lld..%lld, got %lld",
				 int_keys[i].path, int_keys[i].min, int_keys[i].max, outs[k]);
			refused(doc, want);
		}
		/* not integral, out of any range, not a number */
		nest(int_keys[i].path, "1.5", doc, sizeof doc);
		snprintf(want, sizeof want, "%s: must be an integer %lld..%lld, got 1.5",
			 int_keys[i].path, int_keys[i].min, int_keys[i].max);
		refused(doc, want);
		nest(int_keys[i].path, "1e400", doc, sizeof doc);
		snprintf(want, sizeof want,
			 "%s: must be an integer %lld..%lld, got a number out of range",
			 int_keys[i].path, int_keys[i].min, int_keys[i].max);
		refused(doc, want);
		nest(int_keys[i].path, "'5000'", doc, sizeof doc);
		snprintf(want, sizeof want, "%s: must be an integer %lld..%lld, got a string",
			 int_keys[i].path, int_keys[i].min, int_keys[i].max);
		refused(doc, want);
		nest(int_keys[i].path, "true", doc, sizeof doc);
		refused_prefix(doc, int_keys[i].path);
	}
	/* beyond 2^53: not exactly representable, refused as out of range */
	refused("{'cache':{'max_bytes':18014398509481984}}",
		"cache.max_bytes: must be an integer 1048576..68719476736, got a number out of "
		"range");
	ok("{'screen':{'idle_after_ms':8000.0}}"); /* integral, whatever the spelling */
}

static void enums_accept_their_values_only(void **state)
{
	static const char *const levels[] = {"error", "warn", "info", "debug"};
	static const char *const langs[] = {"en", "de", "fr", "nl"};
	static const char *const privacy[] = {"full", "first_name", "anonymous"};
	char doc[256], raw[32];
	(void)state;
	for (int i = 0; i < 4; i++) {
		snprintf(raw, sizeof raw, "'%s'", levels[i]);
		nest("log.level", raw, doc, sizeof doc);
		ok(doc);
		nest("gateway.log.level", raw, doc, sizeof doc);
		ok(doc);
		snprintf(raw, sizeof raw, "'%s'", langs[i]);
		nest("screen.default_language", raw, doc, sizeof doc);
		ok(doc);
	}
	for (int i = 0; i < 3; i++) {
		snprintf(raw, sizeof raw, "'%s'", privacy[i]);
		nest("screen.privacy", raw, doc, sizeof doc);
		ok(doc);
	}
	refused("{'log':{'level':'off'}}",
		"log.level: must be one of error, warn, info, debug, got \"off\"");
	refused("{'log':{'level':'INFO'}}",
		"log.level: must be one of error, warn, info, debug, got \"INFO\"");
	refused("{'gateway':{'log':{'level':3}}}",
		"gateway.log.level: must be one of error, warn, info, debug, got a number");
	refused("{'screen':{'default_language':'es'}}",
		"screen.default_language: must be one of en, de, fr, nl, got \"es\"");
	refused("{'screen':{'privacy':'none'}}",
		"screen.privacy: must be one of full, first_name, anonymous, got \"none\"");
	/* the value shown is sanitised and cut */
	refused("{'screen':{'privacy':'a\\nb0123456789012345678901234567890123456789'}}",
		"screen.privacy: must be one of full, first_name, anonymous, got "
		"\"a?b0123456789012345678901234567890123456\"");
}

static void texts_by_language_and_key(void **state)
{
	static const char *const langs[] = {"en", "de", "fr", "nl"};
	static const char *const keys[] = {"greeting", "welcome", "unknown", "closed"};
	char doc[1024], path[64], raw[400], want[160];
	(void)state;
	for (int l = 0; l < 4; l++)
		for (int k = 0; k < 4; k++) {
			snprintf(path, sizeof path, "screen.text.%s.%s", langs[l], keys[k]);
			nest(path, "'x'", doc, sizeof doc);
			ok(doc);
			/* 160 bytes: 80 two-byte characters */
			raw[0] = '\'';
			for (int i = 0; i < 80; i++)
				memcpy(raw + 1 + 2 * i, "\xc3\xa9", 2);
			memcpy(raw + 161, "'", 2);
			nest(path, raw, doc, sizeof doc);
			ok(doc);
			/* 161 bytes */
			memcpy(raw + 161, "x'", 3);
			nest(path, raw, doc, sizeof doc);
			snprintf(want, sizeof want, "%s: must be 1..160 bytes of text, got 161",
				 path);
			refused(doc, want);
			nest(path, "''", doc, sizeof doc);
			snprintf(want, sizeof want, "%s: must be 1..160 bytes of text, got 0",
				 path);
			refused(doc, want);
			nest(path, "7", doc, sizeof doc);
			snprintf(want, sizeof want,
				 "%s: must be text of 1..160 bytes, got a number", path);
			refused(doc, want);
		}
	refused("{'screen':{'text':{'es':{'greeting':'Hola'}}}}", "screen.text.es: unknown key");
	refused("{'screen':{'text':{'en':{'farewell':'Bye'}}}}",
		"screen.text.en.farewell: unknown key");
	refused("{'screen':{'text':{'en':'Hello'}}}",
		"screen.text.en: must be an object, got a string");
	refused("{'screen':{'text':['en']}}", "screen.text: must be an object, got an array");
	/* control characters: C0 (escaped in JSON), DEL and C1 */
	refused("{'screen':{'text':{'en':{'welcome':'Hi\\nthere'}}}}",
		"screen.text.en.welcome: must not hold control characters, found one at byte 2");
	refused("{'screen':{'text':{'de':{'welcome':'Hi\\u007f'}}}}",
		"screen.text.de.welcome: must not hold control characters, found one at byte 2");
	refused("{'screen':{'text':{'fr':{'welcome':'\\u0085'}}}}",
		"screen.text.fr.welcome: must not hold control characters, found one at byte 0");
	ok("{'screen':{'text':{'nl':{'welcome':'Welkom \\u00e0 \\ud83d\\ude00'}}}}");
	/* {name} only where the UI fills it in */
	ok("{'screen':{'text':{'en':{'greeting':'Hello {name}!'}}}}");
	refused("{'screen':{'text':{'en':{'welcome':'Hello {name}!'}}}}",
		"screen.text.en.welcome: only greeting may hold {name}");
}

static void invalid_utf8_text_refused(void **state)
{
	/* rg_json_parse refuses invalid UTF-8 itself, so build the tree */
	cJSON *doc = cJSON_CreateObject(), *s, *t, *en;
	char err[ERR_CAP];
	(void)state;
	s = cJSON_AddObjectToObject(doc, "screen");
	t = cJSON_AddObjectToObject(s, "text");
	en = cJSON_AddObjectToObject(t, "en");
	cJSON_AddStringToObject(en, "closed", "Ferm\xe9");
	assert_int_equal(rg_settings_check(doc, err, sizeof err), RG_ERR_CONFIG);
	assert_string_equal(err, "screen.text.en.closed: is not valid UTF-8");
	cJSON_Delete(doc);
	/* an overlong encoding and a surrogate are not UTF-8 either */
	doc = cJSON_CreateObject();
	s = cJSON_AddObjectToObject(doc, "screen");
	t = cJSON_AddObjectToObject(s, "text");
	en = cJSON_AddObjectToObject(t, "en");
	cJSON_AddStringToObject(en, "closed", "\xc0\xaf");
	assert_int_equal(rg_settings_check(doc, err, sizeof err), RG_ERR_CONFIG);
	cJSON_DeleteItemFromObject(en, "closed");
	cJSON_AddStringToObject(en, "closed", "\xed\xa0\x80");
	assert_int_equal(rg_settings_check(doc, err, sizeof err), RG_ERR_CONFIG);
	cJSON_Delete(doc);
	/* and an invalid key is named as such, not echoed */
	doc = cJSON_CreateObject();
	cJSON_AddNumberToObject(doc, "scr\xff", 1);
	assert_int_equal(rg_settings_check(doc, err, sizeof err), RG_ERR_CONFIG);
	assert_string_equal(err, "(not UTF-8): unknown key");
	cJSON_Delete(doc);
}

static void unknown_keys_at_every_level(void **state)
{
	(void)state;
	ok("{}");
	ok("{'gateway':{'forward':{}},'screen':{'text':{'en':{}}}}");
	refused("{'colour':'red'}", "colour: unknown key");
	refused("{'screen':{'colour':'red'}}", "screen.colour: unknown key");
	refused("{'log':{'level':'info','file':'/tmp/x'}}", "log.file: unknown key");
	refused("{'cache':{'max_rows':1}}", "cache.max_rows: unknown key");
	refused("{'sync':{'batch':1}}", "sync.batch: unknown key");
	refused("{'gateway':{'x':1}}", "gateway.x: unknown key");
	refused("{'gateway':{'forward':{'windows':1}}}", "gateway.forward.windows: unknown key");
	refused("{'screen':{'hours':{'monday':[]}}}",
		"screen.hours.monday: unknown key (days are mon, tue, wed, thu, fri, sat, sun)");
	refused_prefix("{'identifiers':{'barcode':{}}}", "identifiers");
	/* a device key is not a gateway key and the other way round */
	refused("{'gateway':{'screen':{}}}", "gateway.screen: unknown key");
	refused("{'forward':{'window':1}}", "forward: unknown key");
	/* a dotted key is not a path */
	refused("{'screen.idle_after_ms':8000}", "screen.idle_after_ms: unknown key");
	refused("{'':1}", "\"\": unknown key");
	refused("{'screen':{'':1}}", "screen.\"\": unknown key");
	/* placeholders of the schema are not keys */
	refused("{'screen':{'text':{'<lang>':{}}}}", "screen.text.<lang>: unknown key");
	/* keys shown are sanitised and at most 40 bytes */
	refused("{'screen':{'a\\u0001b\\u001b[31m':1}}", "screen.a?b?[31m: unknown key");
	refused("{'screen':{'0123456789012345678901234567890123456789abcdef':1}}",
		"screen.0123456789012345678901234567890123456789: unknown key");
}

static void wrong_types(void **state)
{
	char err[ERR_CAP];
	cJSON *arr = js("[]");
	(void)state;
	refused("{'screen':5}", "screen: must be an object, got a number");
	refused("{'log':'info'}", "log: must be an object, got a string");
	refused("{'gateway':null}", "gateway: must be an object, got null");
	refused("{'gateway':{'forward':[1]}}", "gateway.forward: must be an object, got an array");
	refused("{'screen':{'hours':['08:00-20:00']}}",
		"screen.hours: must be an object of days (mon..sun), got an array");
	refused("{'identifiers':true}", "identifiers: must be an object, got a boolean");
	assert_int_equal(rg_settings_check(arr, err, sizeof err), RG_ERR_CONFIG);
	assert_string_equal(err, "(settings): must be an object, got an array");
	assert_int_equal(rg_settings_check(NULL, err, sizeof err), RG_ERR_CONFIG);
	assert_string_equal(err, "(settings): must be an object, got nothing");
	/* err may be NULL */
	assert_int_equal(rg_settings_check(arr, NULL, 0), RG_ERR_CONFIG);
	cJSON_Delete(arr);
}

static void duplicate_keys_refused(void **state)
{
	(void)state;
	refused("{'screen':{},'screen':{}}", "(settings): key \"screen\" appears twice");
	refused("{'screen':{'privacy':'full','privacy':'anonymous'}}",
		"screen: key \"privacy\" appears twice");
	refused("{'screen':{'text':{'en':{'welcome':'a','welcome':'b'}}}}",
		"screen.text.en: key \"welcome\" appears twice");
	refused("{'screen':{'hours':{'mon':[],'mon':['08:00-09:00']}}}",
		"screen.hours: key \"mon\" appears twice");
	refused("{'identifiers':{'qr':{'enabled':true,'enabled':false}}}",
		"identifiers.qr: key \"enabled\" appears twice");
	refused("{'identifiers':{'loyalty':{'rules':[{'kind':'luhn'},{'kind':'ean13','kind':'upca'}"
		"]}}}",
		"identifiers.loyalty.rules[1]: key \"kind\" appears twice");
}

static void identifiers_checked_over_defaults(void **state)
{
	char err[ERR_CAP];
	(void)state;
	ok("{'identifiers':{}}");
	ok("{'identifiers':{'qr':{'enabled':false},'totp':{'digits':8}}}");
	ok("{'identifiers':{'loyalty':{'rules':[{'kind':'luhn','min_len':8,'max_len':19}]}}}");
	refused_prefix("{'identifiers':{'totp':{'digits':5}}}", "identifiers.");
	assert_int_equal(check("{'identifiers':{'totp':{'digits':5}}}", err), RG_ERR_CONFIG);
	assert_non_null(strstr(err, "digits"));
	refused_prefix("{'identifiers':{'loyalty':{'rules':[]}}}", "identifiers.loyalty.rules");
	refused_prefix("{'identifiers':{'nope':1}}", "identifiers");
	/* a key ident quotes is flattened too */
	refused("{'identifiers':{'a\\nb':1}}", "identifiers: unknown key \"a?b\"");
	assert_int_equal(check("{'identifiers':{'nope':1}}", err), RG_ERR_CONFIG);
	assert_non_null(strstr(err, "nope"));
}

static void hours_grammar(void **state)
{
	char doc[512];
	(void)state;
	ok("{'screen':{'hours':{}}}");
	ok("{'screen':{'hours':{'mon':['08:00-20:00'],'sun':[]}}}");
	ok("{'screen':{'hours':{'fri':['00:00-24:00']}}}");
	ok("{'screen':{'hours':{'sat':['22:00-24:00'],'sun':['00:00-02:00']}}}");
	ok("{'screen':{'hours':{'tue':['08:00-12:00','12:00-13:00','14:00-18:00','19:00-23:59']}}"
	   "}");
	for (int d = 0; d < 7; d++) {
		static const char *const dn[] = {"mon", "tue", "wed", "thu", "fri", "sat", "sun"};
		snprintf(doc, sizeof doc, "{'screen':{'hours':{'%s':['09:00-17:30']}}}", dn[d]);
		ok(doc);
	}
	refused("{'screen':{'hours':{'tue':['01:00-02:00','03:00-04:00','05:00-06:00',"
		"'07:00-08:00','09:00-10:00']}}}",
		"screen.hours.tue: must have at most 4 ranges, got 5");
	refused("{'screen':{'hours':{'mon':['08:00-08:00']}}}",
		"screen.hours.mon: range 0 \"08:00-08:00\": the start must be before the end");
	refused("{'screen':{'hours':{'mon':['20:00-08:00']}}}",
		"screen.hours.mon: range 0 \"20:00-08:00\": the start must be before the end");
	refused("{'screen':{'hours':{'mon':['08:00-12:00','11:00-14:00']}}}",
		"screen.hours.mon: range 1 \"11:00-14:00\" must start at or after the end of the "
		"range before it");
	refused("{'screen':{'hours':{'mon':['14:00-16:00','08:00-12:00']}}}",
		"screen.hours.mon: range 1 \"08:00-12:00\" must start at or after the end of the "
		"range before it");
	static const char *const bad[] = {
	    "8:00-20:00",  "08:00-2000",  "08:00 -20:00", "08:00-20:00 ", "24:00-24:00",
	    "08:60-09:00", "25:00-26:00", "08:00-24:01",  "0a:00-20:00",  "",
	    "08:00",	   "-08:00",	  "08:00-20:00-", "+8:00-20:00",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		char want[160];
		snprintf(doc, sizeof doc, "{'screen':{'hours':{'wed':['%s']}}}", bad[i]);
		snprintf(want, sizeof want,
			 "screen.hours.wed: range 0 must be \"HH:MM-HH:MM\" (00:00..24:00), got "
			 "\"%s\"",
			 bad[i]);
		refused(doc, want);
	}
	refused("{'screen':{'hours':{'wed':[800]}}}",
		"screen.hours.wed: range 0 must be \"HH:MM-HH:MM\" (00:00..24:00), got a number");
	refused("{'screen':{'hours':{'wed':'08:00-20:00'}}}",
		"screen.hours.wed: must be an array of \"HH:MM-HH:MM\", got a string");
}

static void hours_open_at_boundaries(void **state)
{
	struct rg_settings_hours h;
	cJSON *doc = js("{'screen':{'hours':{'mon':['08:00-12:00','13:00-20:00'],"
			"'sat':['10:00-24:00'],'sun':[]}}}");
	(void)state;
	assert_int_equal(rg_settings_hours_get(doc, &h), 0);
	assert_true(h.set);
	assert_int_equal(h.n[0], 2);
	assert_int_equal(h.start[0][1], 13 * 60);
	assert_int_equal(h.end[5][0], 1440);
	assert_false(rg_settings_hours_open(&h, 0, 8 * 60 - 1));
	assert_true(rg_settings_hours_open(&h, 0, 8 * 60));
	assert_true(rg_settings_hours_open(&h, 0, 12 * 60 - 1));
	assert_false(rg_settings_hours_open(&h, 0, 12 * 60)); /* end is exclusive */
	assert_false(rg_settings_hours_open(&h, 0, 13 * 60 - 1));
	assert_true(rg_settings_hours_open(&h, 0, 13 * 60));
	assert_false(rg_settings_hours_open(&h, 0, 20 * 60));
	assert_true(rg_settings_hours_open(&h, 5, 1439)); /* until 24:00 */
	assert_false(rg_settings_hours_open(&h, 5, 9 * 60 + 59));
	assert_false(rg_settings_hours_open(&h, 6, 12 * 60)); /* listed, empty: closed */
	assert_false(rg_settings_hours_open(&h, 1, 12 * 60)); /* not listed: closed */
	assert_false(rg_settings_hours_open(&h, 7, 12 * 60)); /* no such day */
	assert_false(rg_settings_hours_open(&h, 0, 1440));
	cJSON_Delete(doc);

	/* absent: always open */
	doc = js("{'screen':{'privacy':'full'}}");
	assert_int_equal(rg_settings_hours_get(doc, &h), 0);
	assert_false(h.set);
	assert_true(rg_settings_hours_open(&h, 3, 0));
	assert_true(rg_settings_hours_open(&h, 6, 1439));
	cJSON_Delete(doc);
	assert_int_equal(rg_settings_hours_get(NULL, &h), 0);
	assert_false(h.set);
	assert_true(rg_settings_hours_open(NULL, 0, 0));

	/* invalid hours are an error and leave nothing set */
	doc = js("{'screen':{'hours':{'mon':['12:00-08:00']}}}");
	assert_int_equal(rg_settings_hours_get(doc, &h), RG_ERR_CONFIG);
	assert_false(h.set);
	cJSON_Delete(doc);
}

static char *print(const cJSON *j)
{
	char *s = cJSON_PrintUnformatted(j);
	assert_non_null(s);
	return s;
}

static void merge_is_deep_and_more_specific_wins(void **state)
{
	cJSON *tenant =
	    js("{'log':{'level':'warn'},'screen':{'privacy':'full','idle_after_ms':9000,"
	       "'text':{'en':{'greeting':'Hi {name}','welcome':'Welcome'},"
	       "'de':{'welcome':'Willkommen'}},"
	       "'hours':{'mon':['08:00-20:00'],'tue':['08:00-20:00']}},"
	       "'identifiers':{'qr':{'prefixes':['A:','B:']}}}");
	cJSON *store = js("{'screen':{'privacy':'first_name','text':{'en':{'welcome':'Hello'}},"
			  "'hours':{'mon':['10:00-18:00']}},'gateway':{'forward':{'window':8}},"
			  "'identifiers':{'qr':{'prefixes':['C:']}}}");
	cJSON *device = js("{'screen':{'privacy':'anonymous'},'log':{'level':'debug'}}");
	const cJSON *layers[] = {tenant, NULL, store, device};
	char *before[3] = {print(tenant), print(store), print(device)};
	cJSON *m;
	char *got, err[ERR_CAP];
	(void)state;

	m = rg_settings_merge(layers, 4);
	assert_non_null(m);
	got = print(m);
	assert_string_equal(got,
			    "{\"log\":{\"level\":\"debug\"},\"screen\":{\"privacy\":\"anonymous\","
			    "\"idle_after_ms\":9000,\"text\":{\"en\":{\"greeting\":\"Hi {name}\","
			    "\"welcome\":\"Hello\"},\"de\":{\"welcome\":\"Willkommen\"}},"
			    "\"hours\":{\"mon\":[\"10:00-18:00\"],\"tue\":[\"08:00-20:00\"]}},"
			    "\"identifiers\":{\"qr\":{\"prefixes\":[\"C:\"]}},"
			    "\"gateway\":{\"forward\":{\"window\":8}}}");
	assert_int_equal(rg_settings_check(m, err, sizeof err), 0);
	cJSON_free(got);
	cJSON_Delete(m);

	/* the inputs are untouched */
	{
		char *after[3] = {print(tenant), print(store), print(device)};
		for (int i = 0; i < 3; i++) {
			assert_string_equal(before[i], after[i]);
			cJSON_free(before[i]);
			cJSON_free(after[i]);
		}
	}

	/* order matters: the last layer wins */
	{
		const cJSON *rev[] = {device, store, tenant};
		m = rg_settings_merge(rev, 3);
		assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(
					cJSON_GetObjectItem(m, "screen"), "privacy")),
				    "full");
		cJSON_Delete(m);
	}
	/* nothing at all: an empty object */
	m = rg_settings_merge(NULL, 0);
	got = print(m);
	assert_string_equal(got, "{}");
	cJSON_free(got);
	cJSON_Delete(m);
	{
		const cJSON *none[] = {NULL, NULL};
		m = rg_settings_merge(none, 2);
		got = print(m);
		assert_string_equal(got, "{}");
		cJSON_free(got);
		cJSON_Delete(m);
	}
	/* the result is a copy: changing it leaves the layers alone */
	{
		const cJSON *one[] = {tenant};
		char *t0 = print(tenant);
		m = rg_settings_merge(one, 1);
		cJSON_DeleteItemFromObject(cJSON_GetObjectItem(m, "screen"), "text");
		got = print(tenant);
		assert_string_equal(got, t0);
		cJSON_free(got);
		cJSON_free(t0);
		cJSON_Delete(m);
	}
	cJSON_Delete(tenant);
	cJSON_Delete(store);
	cJSON_Delete(device);
}

/* rg_settings_diff into a string. */
static int diff(const cJSON *a, const cJSON *b, char *out, size_t cap)
{
	FILE *f;
	int n;
	out[0] = '\0';
	f = fmemopen(out, cap, "w");
	assert_non_null(f);
	n = rg_settings_diff(a, b, f);
	fclose(f);
	return n;
}

static void diff_lists_changed_leaves_sorted(void **state)
{
	cJSON *a = js("{'screen':{'privacy':'full','idle_after_ms':8000,"
		      "'text':{'en':{'welcome':'Hi'}},'hours':{'mon':['08:00-20:00']}},"
		      "'log':{'level':'info'},'sync':{'batch_max':100}}");
	cJSON *b = js("{'sync':{'batch_max':100},'screen':{'privacy':'anonymous',"
		      "'text':{'en':{'welcome':'Hi \\\"there\\\"'}},"
		      "'hours':{'mon':['08:00-12:00','13:00-20:00']}},"
		      "'gateway':{'stats_interval_s':30}}");
	char out[2048];
	(void)state;
	assert_int_equal(diff(a, b, out, sizeof out), 6);
	assert_string_equal(out, "+ gateway.stats_interval_s: 30\n"
				 "- log.level: \"info\"\n"
				 "~ screen.hours.mon: [\"08:00-20:00\"] -> "
				 "[\"08:00-12:00\",\"13:00-20:00\"]\n"
				 "- screen.idle_after_ms: 8000\n"
				 "~ screen.privacy: \"full\" -> \"anonymous\"\n"
				 "~ screen.text.en.welcome: \"Hi\" -> \"Hi \\\"there\\\"\"\n");
	assert_int_equal(diff(a, a, out, sizeof out), 0);
	assert_string_equal(out, "");
	assert_int_equal(diff(NULL, a, out, sizeof out), 6);
	assert_string_equal(out, "+ log.level: \"info\"\n"
				 "+ screen.hours.mon: [\"08:00-20:00\"]\n"
				 "+ screen.idle_after_ms: 8000\n"
				 "+ screen.privacy: \"full\"\n"
				 "+ screen.text.en.welcome: \"Hi\"\n"
				 "+ sync.batch_max: 100\n");
	assert_int_equal(diff(b, NULL, out, sizeof out), 5);
	assert_non_null(strstr(out, "- sync.batch_max: 100\n"));
	assert_int_equal(diff(NULL, NULL, out, sizeof out), 0);
	/* out may be NULL: just count */
	assert_int_equal(rg_settings_diff(a, b, NULL), 6);
	cJSON_Delete(a);
	cJSON_Delete(b);
}

static void diff_of_identical_values_in_other_order_is_empty(void **state)
{
	cJSON *a = js("{'screen':{'privacy':'full','idle_after_ms':8000},'log':{'level':'info'}}");
	cJSON *b = js("{'log':{'level':'info'},'screen':{'idle_after_ms':8000,'privacy':'full'}}");
	char out[256];
	(void)state;
	assert_int_equal(diff(a, b, out, sizeof out), 0);
	cJSON_Delete(a);
	cJSON_Delete(b);
}

static void markdown_has_one_row_per_key(void **state)
{
	static const char *const keys[] = {
	    "log.level",
	    "screen.idle_after_ms",
	    "screen.public_items_max",
	    "screen.default_language",
	    "screen.privacy",
	    "screen.text.<lang>.greeting",
	    "screen.text.<lang>.welcome",
	    "screen.text.<lang>.unknown",
	    "screen.text.<lang>.closed",
	    "screen.hours",
	    "cache.max_profiles",
	    "cache.max_bytes",
	    "sync.batch_max",
	    "sync.resend_ms",
	    "sync.lookup_timeout_ms",
	    "sync.pull_ms",
	    "identifiers",
	    "gateway.log.level",
	    "gateway.forward.window",
	    "gateway.forward.resend_ms",
	    "gateway.forward.reconnect_max_ms",
	    "gateway.forward.bundle",
	    "gateway.stats_interval_s",
	};
	char *buf = NULL, *line, *save = NULL;
	size_t len = 0, rows = 0, nk = sizeof keys / sizeof keys[0];
	FILE *f = open_memstream(&buf, &len);
	(void)state;
	assert_non_null(f);
	rg_settings_schema_markdown(f);
	fclose(f);
	if (getenv("RG_PRINT_SCHEMA"))
		fputs(buf, stdout);
	assert_true(!strncmp(buf,
			     "| key | type | range / values | default | for | meaning |\n"
			     "| --- | --- | --- | --- | --- | --- |\n",
			     strlen("| key | type | range / values | default | for | meaning |\n"
				    "| --- | --- | --- | --- | --- | --- |\n")));
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char want[80];
		int cells = 0;
		if (strncmp(line, "| `", 3))
			continue;
		assert_true(rows < nk);
		snprintf(want, sizeof want, "| `%s` |", keys[rows]);
		if (strncmp(line, want, strlen(want)))
			fail_msg("row %zu: %s, want key %s", rows, line, keys[rows]);
		for (const char *p = line; *p; p++)
			cells += *p == '|';
		assert_int_equal(cells, 7);
		assert_non_null(strstr(line, !strncmp(keys[rows], "gateway.", 8) ? "| gateway |"
										 : "| device |"));
		rows++;
	}
	assert_int_equal(rows, nk);
	free(buf);
	/* and a default row agrees with the schema's checker */
	ok("{'screen':{'idle_after_ms':8000,'public_items_max':3,'default_language':'en',"
	   "'privacy':'full'},'log':{'level':'info'},'cache':{'max_profiles':1000000,"
	   "'max_bytes':1073741824},'sync':{'batch_max':100,'resend_ms':30000,"
	   "'lookup_timeout_ms':1500,'pull_ms':60000},'gateway':{'log':{'level':'info'},"
	   "'forward':{'window':64,'resend_ms':30000,'reconnect_max_ms':10000},"
	   "'stats_interval_s':60}}");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(integers_accepted_at_bounds_refused_outside),
	    cmocka_unit_test(enums_accept_their_values_only),
	    cmocka_unit_test(texts_by_language_and_key),
	    cmocka_unit_test(invalid_utf8_text_refused),
	    cmocka_unit_test(unknown_keys_at_every_level),
	    cmocka_unit_test(wrong_types),
	    cmocka_unit_test(duplicate_keys_refused),
	    cmocka_unit_test(identifiers_checked_over_defaults),
	    cmocka_unit_test(hours_grammar),
	    cmocka_unit_test(hours_open_at_boundaries),
	    cmocka_unit_test(merge_is_deep_and_more_specific_wins),
	    cmocka_unit_test(diff_lists_changed_leaves_sorted),
	    cmocka_unit_test(diff_of_identical_values_in_other_order_is_empty),
	    cmocka_unit_test(markdown_has_one_row_per_key),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
