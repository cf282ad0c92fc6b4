/*
 * test_config_push.c - configuration over MQTT end to end (docs/config.md),
 * every part real: the store and central Mosquitto brokers with mutual TLS
 * and generated ACLs, regulars-gateway relaying its store's documents, a
 * kiosk (regulars-device with a sim reader), and IT's tools: `regularsctl
 * config keygen | anchor | sign | push | status` under an `it-ops`
 * certificate. Proves:
 *  - a pushed greeting reaches the kiosk and shows on the next tap, without
 *    a restart (same process);
 *  - refused, with the previous configuration still running and the reason
 *    reported: a bad signature, a valid signature over a modified document,
 *    an older or equal version, an expired document, another store's
 *    document, an unknown key, an out-of-range value, a malformed body, a
 *    document bigger than the device takes, fewer valid signatures than the
 *    threshold, the same key counted twice; a 10 MB document never gets
 *    past the central broker;
 *  - a device offline during three pushes applies the latest when it is
 *    back (checked like any other), and a rebooted device runs its last good
 *    configuration before it reconnects;
 *  - key rotation: accepted when signed by the old and the new set, after
 *    which documents signed by the retired keys are refused;
 *  - IT sees the device's report through the gateway's mirror with
 *    `regularsctl config status`.
 *
 * Usage: test_config_push regulars-device regulars-gateway regulars-cloud
 *        regularsctl UI-DIR
 * Environment: RG_TEST_KEEP=1 (keep a failed run's files).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cJSON.h>
#include <cmocka.h>

#include "common/cfgdoc.h"
#include "common/crypto.h"
#include "common/err.h"
#include "syncharness.h"

#define DEV "dev-0042-k1"
#define IT "it-ops"
#define CUSTOMERS 50

static char **args;
static struct sx_world world;
static bool passed;
static char kdir[200];	 /* the IT laptop: keys, documents, tool logs */
static char tool_log[300];
static struct rg_ec_key *key[6]; /* k1..k5 */

/* ---- the first named customer of the generated file ---- */

static int named_customer(const char *path, char *first, size_t cap)
{
	FILE *f = fopen(path, "r");
	static char line[65536];
	int no = 0;
	assert_non_null(f);
	while (!no && fgets(line, sizeof line, f)) {
		cJSON *j = cJSON_Parse(line);
		const cJSON *id = cJSON_GetObjectItemCaseSensitive(j, "id");
		const cJSON *p = cJSON_GetObjectItemCaseSensitive(j, "profile");
		const cJSON *fn = cJSON_GetObjectItemCaseSensitive(p, "first_name");
		const cJSON *c = cJSON_GetObjectItemCaseSensitive(p, "consent");
		const cJSON *show = cJSON_GetObjectItemCaseSensitive(c, "show_in_public");
		const cJSON *pr = cJSON_GetObjectItemCaseSensitive(p, "preferences");
		const cJSON *lang = cJSON_GetObjectItemCaseSensitive(pr, "language");
		bool en = !cJSON_IsString(lang) || !strcmp(lang->valuestring, "en");
		if (en && cJSON_IsString(id) && cJSON_IsString(fn) && cJSON_GetArraySize(show) > 0) {
			no = atoi(id->valuestring + 2);
			snprintf(first, cap, "%s", fn->valuestring);
		}
		cJSON_Delete(j);
	}
	fclose(f);
	return no;
}

/* ---- the screen ---- */

static struct {
	char state[16], greeting[200];
	int n;
} last;

static void hook(struct sx_dev *d, const struct sx_planned *t, const void *screen)
{
	const cJSON *g = cJSON_GetObjectItemCaseSensitive(screen, "greeting");
	const cJSON *st = cJSON_GetObjectItemCaseSensitive(screen, "state");
	(void)d;
	(void)t;
	snprintf(last.state, sizeof last.state, "%s", cJSON_IsString(st) ? st->valuestring : "");
	snprintf(last.greeting, sizeof last.greeting, "%s",
		 cJSON_IsString(g) ? g->valuestring : "");
	last.n++;
}

static int customer;
static char first[64];

/* Tap the named customer and return the greeting the kiosk showed. */
static const char *tap_greeting(void)
{
	int before = last.n;
	assert_int_equal(sx_tap(&world.dev[0], customer, false), 0);
	for (int64_t end = dh_now_ms() + 15000 * SX_SLOW; last.n == before;) {
		if (dh_now_ms() > end)
			fail_msg("no screen for the tap");
		sx_pump(&world, 50);
	}
	assert_string_equal(last.state, "greeting");
	return last.greeting;
}

/* The kiosk greets "<pre><first name><post>". */
static void expect_greeting2(const char *pre, const char *post)
{
	char want[200];
	snprintf(want, sizeof want, "%s%s%s", pre, first, post);
	const char *got = tap_greeting();
	if (strcmp(got, want))
		fail_msg("the kiosk greeted \"%s\", expected \"%s\"", got, want);
}

/* ---- IT's tools ---- */

static void path_of(char *out, size_t cap, const char *name)
{
	snprintf(out, cap, "%s/%s", kdir, name);
}

/* regularsctl with up to 16 arguments; its exit status. */
static int ctl(const char *a0, ...)
{
	const char *argv[20] = {world.ctl_bin ? world.ctl_bin : args[4]};
	int n = 1;
	va_list ap;
	va_start(ap, a0);
	for (const char *a = a0; a && n < 18; a = va_arg(ap, const char *))
		argv[n++] = a;
	va_end(ap);
	argv[n] = NULL;
	return sx_run_tool(tool_log, 60000 * SX_SLOW, argv);
}

static void write_file(const char *path, const char *text, size_t len)
{
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(text, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

/* A configuration document's exact bytes. scope "tenant"/"store"/"device";
 * expires_in in seconds (negative: already expired). */
static char *doc_text(const char *scope, const char *store, int version, long expires_in,
		      const char *settings)
{
	char issued[21], expires[21], *out = malloc(1 << 20);
	time_t now = time(NULL);
	assert_non_null(out);
	cfgdoc_time_format((int64_t)now + (expires_in < 0 ? expires_in - 3600 : -60), issued);
	cfgdoc_time_format((int64_t)now + expires_in, expires);
	char where[160] = "";
	if (!strcmp(scope, "store"))
		snprintf(where, sizeof where, "\"store\":\"%s\",", store);
	else if (!strcmp(scope, "device"))
		snprintf(where, sizeof where, "\"store\":\"%s\",\"device\":\"" DEV "\",", store);
	snprintf(out, 1 << 20,
		 "{\"type\":\"regulars-config\",\"tenant\":\"acme\",\"scope\":\"%s\",%s"
		 "\"version\":%d,\"issued\":\"%s\",\"expires\":\"%s\",\"settings\":%s}\n",
		 scope, where, version, issued, expires, settings);
	return out;
}

/* Sign doc (its exact bytes) with the given keys (1-based numbers, 0 ends). */
static char *sign_with(const char *doc, size_t len, const int *which)
{
	struct rg_ec_key *ks[8];
	size_t n = 0;
	char err[256], *env = NULL;
	for (; which[n]; n++)
		ks[n] = key[which[n]];
	if (cfgdoc_sign(doc, len, NULL, 0, ks, n, &env, err, sizeof err) < 0)
		fail_msg("cfgdoc_sign: %s", err);
	return env;
}

/* Publish an envelope raw as IT (for documents regularsctl would refuse to
 * sign or push); the PUBACK reason code. */
static int it_publish(const char *topic, const char *payload)
{
	struct tb_client *c = NULL;
	const struct tb_client_opts o = {.identity = IT};
	int reason = -1;
	assert_int_equal(tb_client_new(world.env, &o, &c), 0);
	assert_int_equal(tb_client_connect(c, world.central, NULL), 0);
	int rc = tb_client_publish(c, topic, payload, 1, true, &reason);
	tb_client_disconnect(c);
	tb_client_free(c);
	return rc < 0 ? rc : reason;
}

/* Push a signed envelope file with the real CLI as IT. */
static void push_file(const char *env_path)
{
	char port[16], ca[400], crt[400], k[400];
	snprintf(port, sizeof port, "localhost:%u", tb_broker_port(world.central));
	assert_int_equal(tb_env_file(world.env, "ca", ".crt", ca, sizeof ca), 0);
	assert_int_equal(tb_env_file(world.env, IT, ".crt", crt, sizeof crt), 0);
	assert_int_equal(tb_env_file(world.env, IT, ".key", k, sizeof k), 0);
	if (ctl("config", "push", "--broker", port, "--ca", ca, "--cert", crt, "--key", k,
		env_path, NULL) != 0)
		fail_msg("regularsctl config push %s failed (see %s)", env_path, tool_log);
}

/* ---- what the device reports ---- */

static cJSON *device_config(void)
{
	static char buf[65536];
	long n = sx_http_get(&world.dev[0], "/api/config", buf, sizeof buf);
	assert_true(n > 0);
	const char *body = strstr(buf, "\r\n\r\n");
	assert_non_null(body);
	cJSON *j = cJSON_Parse(body + 4);
	if (!j)
		fail_msg("GET /api/config: not JSON: %s", body + 4);
	return j;
}

/* The device's report for scope: status, version and reason. */
static void report(const char *scope, char *status, size_t cap, long *version, char *reason,
		   size_t rcap)
{
	cJSON *j = device_config();
	const cJSON *r = cJSON_GetObjectItemCaseSensitive(j, "report");
	const cJSON *s = cJSON_GetObjectItemCaseSensitive(r, scope);
	const cJSON *st = cJSON_GetObjectItemCaseSensitive(s, "status");
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(s, "version");
	const cJSON *re = cJSON_GetObjectItemCaseSensitive(s, "reason");
	snprintf(status, cap, "%s", cJSON_IsString(st) ? st->valuestring : "");
	*version = cJSON_IsNumber(v) ? (long)v->valuedouble : -1;
	snprintf(reason, rcap, "%s", cJSON_IsString(re) ? re->valuestring : "");
	cJSON_Delete(j);
}

/* Where the device's log ends now: wait_line looks only after it. */
static size_t mark(void)
{
	sx_pump(&world, 0);
	return world.dev[0].d.log ? strlen(world.dev[0].d.log) : 0;
}

/* Wait for a line of the device's log after from that holds every needle. */
static void wait_line(size_t from, const char *a, const char *b, const char *c)
{
	for (int64_t end = dh_now_ms() + 15000 * SX_SLOW;;) {
		const char *log = world.dev[0].d.log;
		size_t len = log ? strlen(log) : 0;
		for (const char *l = log ? log + (from < len ? from : len) : NULL; l && *l;) {
			const char *nl = strchr(l, '\n');
			size_t n = nl ? (size_t)(nl - l) : strlen(l);
			char line[2048];
			snprintf(line, sizeof line, "%.*s", (int)(n < sizeof line ? n : sizeof line - 1),
				 l);
			if (strstr(line, a) && (!b || strstr(line, b)) && (!c || strstr(line, c)))
				return;
			l = nl ? nl + 1 : NULL;
		}
		if (dh_now_ms() > end) {
			dh_daemon_dump(&world.dev[0].d, "waiting");
			fail_msg("no log line with \"%s\" \"%s\" \"%s\"", a, b ? b : "",
				 c ? c : "");
		}
		sx_pump(&world, 20);
	}
}

/* After a publish (log position from): the device logs the refusal of a
 * document for scope with reason, reports it, and still runs version running. */
static void expect_refused(size_t from, const char *scope, const char *reason, long running)
{
	char s1[64], s2[64], st[32], re[32];
	long v;
	snprintf(s1, sizeof s1, "scope=%s ", scope);
	snprintf(s2, sizeof s2, "reason=%s", reason);
	wait_line(from, "event=config_refused", s1, s2);
	/* The report the web API serves follows the log line. */
	for (int64_t end = dh_now_ms() + 5000 * SX_SLOW;;) {
		report(scope, st, sizeof st, &v, re, sizeof re);
		if ((!strcmp(st, "rejected") && !strcmp(re, reason)) || dh_now_ms() > end)
			break;
		sx_pump(&world, 20);
	}
	if (strcmp(st, "rejected") || strcmp(re, reason) || v != running)
		fail_msg("report for %s: status %s reason %s version %ld; expected rejected, %s, "
			 "still running %ld",
			 scope, st, re, v, reason, running);
}

static void expect_applied(size_t from, const char *scope, int version)
{
	char s1[64], s2[64], st[32], re[32];
	long v;
	snprintf(s1, sizeof s1, "scope=%s ", scope);
	snprintf(s2, sizeof s2, "version=%d", version);
	wait_line(from, "event=config_applied", s1, s2);
	/* As above: the report follows the log line. */
	for (int64_t end = dh_now_ms() + 5000 * SX_SLOW;;) {
		report(scope, st, sizeof st, &v, re, sizeof re);
		if ((!strcmp(st, "applied") && v == version) || dh_now_ms() > end)
			break;
		sx_pump(&world, 20);
	}
	if (strcmp(st, "applied") || v != version)
		fail_msg("report for %s: status %s version %ld; expected applied %d", scope, st, v,
			 version);
}

/* Sign doc with keys and publish it raw on the store-scope topic. */
static void publish_store(const char *doc, const int *which)
{
	char *env = sign_with(doc, strlen(doc), which);
	assert_int_equal(it_publish("rg/v1/config/store/" SX_STORE, env), 0);
	free(env);
}

/* ---- the test ---- */

static void setup_keys(void)
{
	char p[300], q[300];
	const char *tmp = getenv("TMPDIR");
	snprintf(kdir, sizeof kdir, "%s/rg-cfgpush-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	assert_non_null(mkdtemp(kdir));
	path_of(tool_log, sizeof tool_log, "tools.log");
	for (int i = 1; i <= 5; i++) {
		char name[8];
		snprintf(name, sizeof name, "k%d", i);
		if (ctl("config", "keygen", "--out", kdir, "--name", name, NULL) != 0)
			fail_msg("regularsctl config keygen failed (see %s)", tool_log);
		snprintf(p, sizeof p, "%s/%s.key", kdir, name);
		assert_int_equal(rg_ec_key_load_file(&key[i], p), 0);
	}
	/* The trust anchor every device is provisioned with: 2 of k1, k2, k3. */
	char k1[300], k2[300], k3[300];
	path_of(k1, sizeof k1, "k1.pub");
	path_of(k2, sizeof k2, "k2.pub");
	path_of(k3, sizeof k3, "k3.pub");
	path_of(q, sizeof q, "anchor.json");
	if (ctl("config", "anchor", "--tenant", "acme", "--threshold", "2", "--out", q, k1, k2, k3,
		NULL) != 0)
		fail_msg("regularsctl config anchor failed (see %s)", tool_log);
}

static void sign_file(const char *name, const char *text, const char *k_a, const char *k_b,
		      char *env_path, size_t cap)
{
	char doc[300], ka[300], kb[300];
	path_of(doc, sizeof doc, name);
	write_file(doc, text, strlen(text));
	snprintf(env_path, cap, "%s.signed", doc);
	snprintf(ka, sizeof ka, "%s/%s.key", kdir, k_a);
	snprintf(kb, sizeof kb, "%s/%s.key", kdir, k_b);
	if (ctl("config", "sign", "--key", ka, "--key", kb, "--out", env_path, doc, NULL) != 0)
		fail_msg("regularsctl config sign %s failed (see %s)", name, tool_log);
}

/* A store-scope document, signed by which and published raw; the log mark. */
static size_t store_doc(int version, long expires_in, const char *settings, const int *which)
{
	char *doc = doc_text("store", SX_STORE, version, expires_in, settings);
	size_t m = mark();
	publish_store(doc, which);
	free(doc);
	return m;
}

/* An envelope with payload (raw document bytes) and the signatures of sigs_of. */
static char *graft(const char *payload_env, const char *sigs_env)
{
	cJSON *a = cJSON_Parse(payload_env), *b = cJSON_Parse(sigs_env);
	assert_non_null(a);
	assert_non_null(b);
	cJSON_ReplaceItemInObject(a, "signatures",
				  cJSON_Duplicate(cJSON_GetObjectItem(b, "signatures"), 1));
	char *out = cJSON_PrintUnformatted(a);
	cJSON_Delete(a);
	cJSON_Delete(b);
	return out;
}

static void refusals(void)
{
	const int k12[] = {1, 2, 0}, k1[] = {1, 0}, k11[] = {1, 1, 0}, k14[] = {1, 4, 0};
	size_t m;

	/* A bad signature: the payload of one document, the signatures of another. */
	{
		char *d1 = doc_text("store", SX_STORE, 6, 86400, "{}");
		char *d2 = doc_text("store", SX_STORE, 6, 86400, "{\"log\":{\"level\":\"warn\"}}");
		char *e1 = sign_with(d1, strlen(d1), k12), *e2 = sign_with(d2, strlen(d2), k12);
		char *bad = graft(e1, e2);
		m = mark();
		assert_int_equal(it_publish("rg/v1/config/store/" SX_STORE, bad), 0);
		expect_refused(m, "store", "signature", 5);
		free(bad);
		/* A valid signature over a modified document: one byte of the payload changed. */
		cJSON *j = cJSON_Parse(e1);
		char *pl = cJSON_GetObjectItem(j, "payload")->valuestring;
		size_t n = strlen(pl);
		pl[n / 2] = pl[n / 2] == 'A' ? 'B' : 'A';
		bad = cJSON_PrintUnformatted(j);
		m = mark();
		assert_int_equal(it_publish("rg/v1/config/store/" SX_STORE, bad), 0);
		expect_refused(m, "store", "signature", 5);
		free(bad);
		cJSON_Delete(j);
		free(e1);
		free(e2);
		free(d1);
		free(d2);
	}
	/* Fewer valid signatures than the threshold (2 of 3), and one key twice. */
	m = store_doc(7, 86400, "{}", k1);
	expect_refused(m, "store", "signature", 5);
	{
		/* cfgdoc_sign never adds a key twice: duplicate the entry by hand. */
		char *doc = doc_text("store", SX_STORE, 7, 86400, "{\"sync\":{\"batch_max\":7}}");
		char *env = sign_with(doc, strlen(doc), k1);
		cJSON *j = cJSON_Parse(env);
		cJSON *sigs = cJSON_GetObjectItem(j, "signatures");
		cJSON_AddItemToArray(sigs, cJSON_Duplicate(cJSON_GetArrayItem(sigs, 0), 1));
		char *twice = cJSON_PrintUnformatted(j);
		m = mark();
		assert_int_equal(it_publish("rg/v1/config/store/" SX_STORE, twice), 0);
		expect_refused(m, "store", "signature", 5);
		free(twice);
		cJSON_Delete(j);
		free(env);
		free(doc);
	}
	(void)k11;
	/* k4 is not trusted (yet): k1 + k4 is one valid signature. */
	m = store_doc(7, 86400, "{}", k14);
	expect_refused(m, "store", "signature", 5);
	/* Replays: the applied version with other bytes, and an older one. */
	m = store_doc(5, 86400, "{\"screen\":{\"public_items_max\":0}}", k12);
	expect_refused(m, "store", "replay", 5);
	m = store_doc(4, 86400, "{}", k12);
	expect_refused(m, "store", "replay", 5);
	/* Expired. */
	m = store_doc(8, -60, "{}", k12);
	expect_refused(m, "store", "expired", 5);
	/* Another store's document on this store's topic. */
	{
		char *doc = doc_text("store", "0043", 8, 86400, "{}");
		m = mark();
		publish_store(doc, k12);
		free(doc);
		expect_refused(m, "store", "wrong_target", 5);
	}
	/* An unknown key and an out-of-range value (signed: regularsctl would refuse). */
	m = store_doc(8, 86400, "{\"screen\":{\"colour\":\"red\"}}", k12);
	expect_refused(m, "store", "invalid", 5);
	m = store_doc(8, 86400, "{\"screen\":{\"idle_after_ms\":5}}", k12);
	expect_refused(m, "store", "invalid", 5);
	/* A malformed body (signed, but not a document), and a malformed envelope. */
	{
		const char *junk = "{\"type\":\"regulars-config\",\"tenant\":";
		char *env = sign_with(junk, strlen(junk), k12);
		m = mark();
		assert_int_equal(it_publish("rg/v1/config/store/" SX_STORE, env), 0);
		expect_refused(m, "store", "malformed", 5);
		free(env);
		m = mark();
		assert_int_equal(it_publish("rg/v1/config/store/" SX_STORE, "{\"payload\":"), 0);
		expect_refused(m, "store", "malformed", 5);
	}
	/* Bigger than a device takes (64 KiB; cfgdoc_sign will not make one):
	 * refused unread. */
	{
		static char big[100 * 1024];
		size_t n = (size_t)snprintf(big, sizeof big, "{\"payload\":\"");
		memset(big + n, 'e', 90 * 1024);
		snprintf(big + n + 90 * 1024, sizeof big - n - 90 * 1024, "\",\"signatures\":[]}");
		/* The gateway does not relay it (the device's own refusal of such a
		 * payload is proven in test_fwdevice_daemon_config). */
		assert_int_equal(it_publish("rg/v1/config/store/" SX_STORE, big), 0);
		sx_wait_log(&world, world.gw.log, "event=config_not_relayed reason=too_large",
			    15000 * SX_SLOW);
	}
	/* 10 MB: the central broker (1 MiB packets) never takes it. */
	{
		size_t n = 10u << 20;
		char *huge = malloc(n + 1);
		assert_non_null(huge);
		memset(huge, 'x', n);
		huge[n] = '\0';
		struct tb_client *c = NULL;
		const struct tb_client_opts o = {.identity = IT};
		int reason = -1;
		assert_int_equal(tb_client_new(world.env, &o, &c), 0);
		assert_int_equal(tb_client_connect(c, world.central, NULL), 0);
		int rc = tb_client_publish(c, "rg/v1/config/store/" SX_STORE, huge, 1, true, &reason);
		assert_true(rc < 0 || reason >= 0x80);
		tb_client_free(c);
		free(huge);
		/* The CLI refuses it before connecting. */
		char path[300];
		path_of(path, sizeof path, "huge.json");
		FILE *f = fopen(path, "wb");
		assert_non_null(f);
		for (int i = 0; i < 10; i++) {
			static char mb[1 << 20];
			memset(mb, ' ', sizeof mb);
			assert_int_equal(fwrite(mb, 1, sizeof mb, f), sizeof mb);
		}
		assert_int_equal(fclose(f), 0);
		char port[16], ca[400], crt[400], k[400];
		snprintf(port, sizeof port, "localhost:%u", tb_broker_port(world.central));
		assert_int_equal(tb_env_file(world.env, "ca", ".crt", ca, sizeof ca), 0);
		assert_int_equal(tb_env_file(world.env, IT, ".crt", crt, sizeof crt), 0);
		assert_int_equal(tb_env_file(world.env, IT, ".key", k, sizeof k), 0);
		assert_int_not_equal(ctl("config", "push", "--broker", port, "--ca", ca, "--cert",
					 crt, "--key", k, path, NULL),
				     0);
	}
	/* Through all that, store v5 and the tenant's greeting kept running. */
	expect_greeting2("Hello again, ", "!");
}

static void pushed_configuration_end_to_end(void **state)
{
	(void)state;
	char anchor[300], env[400], *doc;
	const int k12[] = {1, 2, 0}, k45[] = {4, 5, 0}, k12_45[] = {1, 2, 4, 5, 0};
	size_t m;

	setup_keys();
	path_of(anchor, sizeof anchor, "anchor.json");
	const struct sx_dev_opts dev = {.id = DEV, .seed_cache = true, .config_trust = anchor};
	const struct sx_world_opts o = {.customers = CUSTOMERS, .devs = &dev, .n_devs = 1,
					.seed = 1, .it_identity = IT};
	sx_world_create(&world, args, &o);
	struct sx_world *const w = &world;
	struct sx_dev *const d = &w->dev[0];
	sx_set_screen_hook(hook);
	customer = named_customer(w->customers, first, sizeof first);
	assert_true(customer > 0);

	char needle[128];
	sx_gw_start(w);
	snprintf(needle, sizeof needle, "event=connected host=localhost port=%u",
		 tb_broker_port(w->central));
	sx_wait_log(w, w->gw.log, needle, 20000 * SX_SLOW);
	sx_dev_start(d);
	sx_wait_dev_log(w, d, "event=online", 20000 * SX_SLOW);
	pid_t pid = d->d.pid;
	const char *builtin = tap_greeting();
	assert_null(strstr(builtin, "Hello again")); /* before: the UI's own text */

	/* 1. A greeting pushed as a tenant document with the real CLI shows on
	 * the next tap, without a restart. */
	doc = doc_text("tenant", NULL, 1, 86400,
		       "{\"screen\":{\"text\":{\"en\":{\"greeting\":\"Hello again, {name}!\"}}}}");
	sign_file("tenant-1.json", doc, "k1", "k2", env, sizeof env);
	free(doc);
	int64_t t = dh_now_ms();
	m = mark();
	push_file(env);
	expect_applied(m, "tenant", 1);
	expect_greeting2("Hello again, ", "!");
	assert_int_equal(d->d.pid, pid);
	print_message("greeting pushed, applied and shown in %lld ms\n",
		      (long long)(dh_now_ms() - t));
	/* A store document on top: more specific, key by key. */
	m = store_doc(5, 86400, "{\"screen\":{\"public_items_max\":1}}", k12);
	expect_applied(m, "store", 5);
	expect_greeting2("Hello again, ", "!");

	/* 2. Every refusal keeps what runs and says why. */
	refusals();

	/* 3. Offline during three pushes: the latest applies on reconnect. */
	sx_dev_term(d, 10000 * SX_SLOW);
	const char *relayed = "event=config_relayed topic=rg/v1/s/" SX_STORE "/config/store ";
	size_t relays = sx_log_count(w->gw.log, relayed);
	for (int v = 6; v <= 8; v++) {
		char s[128];
		snprintf(s, sizeof s,
			 "{\"screen\":{\"text\":{\"en\":{\"greeting\":\"v%d, {name}\"}}}}", v);
		store_doc(v, 86400, s, k12);
	}
	/* All three are on the store broker before the device returns (the
	 * gateway relays asynchronously): it must get only the retained latest,
	 * not a queue of the ones it missed. */
	sx_wait_log_n(w, w->gw.log, relayed, relays + 3, 10000 * SX_SLOW);
	m = mark();
	sx_dev_start(d);
	expect_applied(m, "store", 8);
	assert_false(strstr(d->d.log + m, "event=config_applied scope=store version=6") ||
		     strstr(d->d.log + m, "event=config_applied scope=store version=7"));
	expect_greeting2("v8, ", "");

	/* 4. Rebooted with the store broker down: the last good configuration
	 * runs before the device reconnects. */
	sx_dev_term(d, 10000 * SX_SLOW);
	assert_int_equal(tb_broker_kill(w->store), 0);
	m = mark();
	sx_dev_start(d);
	expect_greeting2("v8, ", "");
	{
		char st[32], re[32];
		long v;
		report("store", st, sizeof st, &v, re, sizeof re);
		assert_int_equal(v, 8);
		report("tenant", st, sizeof st, &v, re, sizeof re);
		assert_int_equal(v, 1);
	}
	assert_null(strstr(d->d.log + m, "event=online"));
	assert_int_equal(tb_broker_restart(w->store), 0);
	sx_wait_dev_log(w, d, "event=online", 30000 * SX_SLOW);

	/* 5. Rotation to {k3, k4, k5}, 2 of 3: signed by the old set and the new. */
	{
		char k3[300], k4[300], k5[300], body[300], rot[400], ka[300];
		path_of(k3, sizeof k3, "k3.pub");
		path_of(k4, sizeof k4, "k4.pub");
		path_of(k5, sizeof k5, "k5.pub");
		path_of(body, sizeof body, "keys-2.json");
		if (ctl("config", "anchor", "--tenant", "acme", "--threshold", "2", "--version", "2",
			"--out", body, k3, k4, k5, NULL) != 0)
			fail_msg("regularsctl config anchor --version 2 failed (see %s)", tool_log);
		/* Signed by the new set only: refused. */
		FILE *f = fopen(body, "rb");
		static char text[16384];
		assert_non_null(f);
		size_t n = fread(text, 1, sizeof text - 1, f);
		fclose(f);
		text[n] = '\0';
		char *only_new = sign_with(text, n, k45);
		m = mark();
		assert_int_equal(it_publish("rg/v1/config/keys/2", only_new), 0);
		wait_line(m, "event=config_refused", "scope=keys", "reason=signature");
		free(only_new);
		/* Old and new: accepted (signed in two steps, as on two laptops). */
		char *both = sign_with(text, n, k12_45);
		path_of(rot, sizeof rot, "keys-2.signed");
		write_file(rot, both, strlen(both));
		free(both);
		path_of(ka, sizeof ka, "k1.key");
		(void)ka;
		m = mark();
		push_file(rot);
		wait_line(m, "event=config_keys_rotated", "from=1", "version=2");
	}
	/* Retired k1 + k2: refused. New k4 + k5: applied. */
	m = store_doc(9, 86400, "{\"screen\":{\"text\":{\"en\":{\"greeting\":\"v9, {name}\"}}}}",
		      k12);
	expect_refused(m, "store", "signature", 8);
	m = store_doc(10, 86400, "{\"screen\":{\"text\":{\"en\":{\"greeting\":\"v10, {name}\"}}}}",
		      k45);
	expect_applied(m, "store", 10);
	expect_greeting2("v10, ", "");

	/* 6. IT sees it: the device's report, mirrored by the gateway to central. */
	{
		char port[16], ca[400], crt[400], k[400], out[300];
		snprintf(port, sizeof port, "localhost:%u", tb_broker_port(w->central));
		assert_int_equal(tb_env_file(w->env, "ca", ".crt", ca, sizeof ca), 0);
		assert_int_equal(tb_env_file(w->env, IT, ".crt", crt, sizeof crt), 0);
		assert_int_equal(tb_env_file(w->env, IT, ".key", k, sizeof k), 0);
		path_of(out, sizeof out, "status.json");
		char *saved = strdup(tool_log);
		snprintf(tool_log, sizeof tool_log, "%s", out);
		bool seen = false;
		for (int64_t end = dh_now_ms() + 15000 * SX_SLOW; !seen;) {
			unlink(out);
			assert_int_equal(ctl("config", "status", "--broker", port, "--ca", ca,
					     "--cert", crt, "--key", k, "--json", NULL),
					 0);
			FILE *f = fopen(out, "rb");
			static char text[65536];
			size_t n = f ? fread(text, 1, sizeof text - 1, f) : 0;
			if (f)
				fclose(f);
			text[n] = '\0';
			seen = strstr(text, DEV) && strstr(text, "\"version\":10");
			if (!seen && dh_now_ms() > end)
				fail_msg("regularsctl config status never showed %s at store v10:\n%s",
					 DEV, text);
			sx_pump(w, 200);
		}
		snprintf(tool_log, sizeof tool_log, "%s", saved);
		free(saved);
	}
	sx_dev_term(d, 10000 * SX_SLOW);
	passed = true;
}

static int teardown(void **state)
{
	(void)state;
	sx_world_free(&world, passed);
	for (int i = 0; i < 6; i++)
		rg_ec_key_free(key[i]);
	if (kdir[0] && (passed || !getenv("RG_TEST_KEEP"))) {
		char cmd[300];
		snprintf(cmd, sizeof cmd, "rm -rf '%s'", kdir);
		if (system(cmd) != 0)
			fprintf(stderr, "could not remove %s\n", kdir);
	}
	return 0;
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_teardown(pushed_configuration_end_to_end, teardown),
	};
	args = sx_args(argc, argv, NULL);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
