/*
 * test_daemon_config.c - regulars-device with pushed configuration, without
 * a broker (the broker end to end is tests/sync/test_config_push.c): a
 * configuration state file holding an applied, signed tenant document
 * (written here through cfgstate like the daemon would) is running as soon
 * as the daemon has started, before any uplink: the next tap greets with its
 * text; GET /api/config shows the merged settings and the report; a kiosk
 * outside the pushed opening hours shows its closed screen and ignores taps;
 * and a missing or bad trust anchor is a start error, exit 2, naming
 * config.trust_anchor.
 *
 * Usage: test_daemon_config regulars-device UI-DIR
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cJSON.h>
#include <cmocka.h>

#include "common/cfgdoc.h"
#include "common/cfgstate.h"
#include "common/crypto.h"
#include "common/err.h"
#include "devharness.h"

#define WAIT_MS (15000 * (DH_SANITIZED ? 4 : 1))

static char **args;
static struct dh_env env;
static struct rg_ec_key *key;
static char anchor_path[256], state_path[256];

static void write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
}

/* The harness's config with "config" (and extra top-level keys) added. */
static void write_config(const char *anchor)
{
	FILE *f = fopen(env.config, "rb");
	static char buf[8192];
	assert_non_null(f);
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = '\0';
	cJSON *j = cJSON_Parse(buf);
	assert_non_null(j);
	cJSON_DeleteItemFromObjectCaseSensitive(j, "config");
	cJSON *c = cJSON_AddObjectToObject(j, "config");
	cJSON_AddStringToObject(c, "trust_anchor", anchor);
	cJSON_AddStringToObject(c, "state", state_path);
	char *text = cJSON_Print(j);
	write_text(env.config, text);
	free(text);
	cJSON_Delete(j);
}

/* The v1 anchor: one key, threshold 1, tenant acme. */
static void write_anchor(void)
{
	struct cfgdoc_keyset ks = {.version = 1, .threshold = 1, .n = 1};
	snprintf(ks.tenant, sizeof ks.tenant, "acme");
	assert_int_equal(rg_ec_key_generate(&key, NULL), 0);
	assert_true(rg_ec_key_public_raw(key, ks.keys[0].pub) >= 0);
	assert_true(rg_ec_key_id(key, ks.keys[0].id) >= 0);
	char *json = cfgdoc_keyset_json(&ks);
	assert_non_null(json);
	write_text(anchor_path, json);
	free(json);
}

/* Apply a signed tenant document to the state file, as the daemon's main
 * loop would have before a reboot. */
static void apply_offline(const char *settings, int version)
{
	char doc[4096], issued[21], expires[21], err[256], *envl = NULL;
	struct cfgdoc_keyset anchor;
	struct cfgstate *cs = NULL;
	enum cfgdoc_reason reason = CFGDOC_OK;
	FILE *f = fopen(anchor_path, "rb");
	static char abuf[8192];
	assert_non_null(f);
	size_t an = fread(abuf, 1, sizeof abuf, f);
	fclose(f);
	assert_int_equal(cfgdoc_keyset_parse(abuf, an, &anchor, err, sizeof err), 0);
	int64_t now = (int64_t)time(NULL);
	cfgdoc_time_format(now - 60, issued);
	cfgdoc_time_format(now + 86400, expires);
	int n = snprintf(doc, sizeof doc,
			 "{\"type\":\"regulars-config\",\"tenant\":\"acme\",\"scope\":\"tenant\","
			 "\"version\":%d,\"issued\":\"%s\",\"expires\":\"%s\",\"settings\":%s}",
			 version, issued, expires, settings);
	assert_true(n > 0 && (size_t)n < sizeof doc);
	assert_int_equal(cfgdoc_sign(doc, (size_t)n, NULL, 0, &key, 1, &envl, err, sizeof err), 0);
	struct cfgstate_params p = {
	    .path = state_path, .anchor = &anchor, .store = DH_STORE_ID, .identity = DH_DEVICE_ID};
	if (cfgstate_open(&p, &cs, err, sizeof err) < 0)
		fail_msg("cfgstate_open: %s", err);
	assert_int_equal(cfgstate_offer(cs, CFGDOC_SCOPE_TENANT, envl, strlen(envl), &reason), 1);
	assert_int_equal(reason, CFGDOC_OK);
	cfgstate_close(cs);
	free(envl);
}

/* GET path on loopback: the body (malloc'd), status in *status. */
static char *http_get(int port, const char *path, int *status)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	char req[256], *buf = malloc(1 << 20);
	size_t got = 0;
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_non_null(buf);
	assert_true(fd >= 0);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
	int n = snprintf(req, sizeof req,
			 "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", path);
	assert_int_equal(write(fd, req, (size_t)n), n);
	for (ssize_t r; (r = read(fd, buf + got, (1 << 20) - 1 - got)) > 0;)
		got += (size_t)r;
	close(fd);
	buf[got] = '\0';
	assert_int_equal(sscanf(buf, "HTTP/1.1 %d", status), 1);
	char *body = strstr(buf, "\r\n\r\n");
	assert_non_null(body);
	memmove(buf, body + 4, strlen(body + 4) + 1);
	return buf;
}

struct screens {
	char last[4096];
	int n;
};

static void on_event(void *ctx, const char *event, const char *data)
{
	struct screens *s = ctx;
	if (strcmp(event, "screen"))
		return;
	snprintf(s->last, sizeof s->last, "%s", data);
	s->n++;
}

/* Tap card and wait for the screen event it causes. */
static cJSON *tap(struct dh_daemon *d, struct dh_sse *sse, struct dh_tap *t, const char *card,
		  struct screens *s)
{
	char line[64];
	int before = s->n;
	snprintf(line, sizeof line, "barcode %s", card);
	assert_int_equal(dh_tap_send(t, line), 0);
	for (int64_t end = dh_now_ms() + WAIT_MS; s->n == before;) {
		if (dh_now_ms() > end) {
			dh_daemon_dump(d, "no screen for the tap");
			fail_msg("no screen event after the tap");
		}
		dh_tap_pump(t);
		dh_sse_pump(sse, on_event, s);
		dh_daemon_pump(d);
		struct timespec ts = {0, 2000000};
		nanosleep(&ts, NULL);
	}
	cJSON *j = cJSON_Parse(s->last);
	assert_non_null(j);
	return j;
}

static const char *str(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
	return cJSON_IsString(v) ? v->valuestring : "";
}

static const struct dh_person *consenting(void)
{
	for (size_t i = 0; i < env.n_known; i++)
		if (env.people[i].consent > 0)
			return &env.people[i];
	fail_msg("no seeded customer consents to public display");
	return NULL;
}

static void saved_configuration_runs_before_any_uplink(void **state)
{
	(void)state;
	struct dh_daemon d = {0};
	struct dh_sse sse;
	struct dh_tap t;
	struct screens s = {0};
	char want[128];
	int status = 0;

	write_anchor();
	write_config(anchor_path);
	apply_offline("{\"screen\":{\"text\":{"
		      "\"en\":{\"greeting\":\"Hello again, {name}!\"},"
		      "\"de\":{\"greeting\":\"Hello again, {name}!\"},"
		      "\"fr\":{\"greeting\":\"Hello again, {name}!\"},"
		      "\"nl\":{\"greeting\":\"Hello again, {name}!\"}}},"
		      "\"log\":{\"level\":\"info\"}}",
		      3);
	dh_daemon_start(&env, &d, WAIT_MS);
	dh_sse_open(&sse, d.port, WAIT_MS);
	dh_tap_open(&t, env.sock);

	const struct dh_person *p = consenting();
	cJSON *scr = tap(&d, &sse, &t, p->card, &s);
	snprintf(want, sizeof want, "Hello again, %s!", p->first);
	assert_string_equal(str(scr, "state"), "greeting");
	assert_string_equal(str(scr, "greeting"), want);
	cJSON_Delete(scr);

	char *body = http_get(d.port, "/api/config", &status);
	assert_int_equal(status, 200);
	cJSON *j = cJSON_Parse(body);
	if (!j)
		fail_msg("GET /api/config: %s", body);
	assert_true(cJSON_IsTrue(cJSON_GetObjectItem(j, "enabled")));
	const cJSON *eff = cJSON_GetObjectItem(j, "effective");
	assert_non_null(cJSON_GetObjectItem(cJSON_GetObjectItem(eff, "screen"), "text"));
	const cJSON *ten = cJSON_GetObjectItem(cJSON_GetObjectItem(j, "report"), "tenant");
	assert_string_equal(str(ten, "status"), "applied");
	assert_int_equal(cJSON_GetObjectItem(ten, "version")->valueint, 3);
	cJSON_Delete(j);
	free(body);
	dh_daemon_pump(&d);
	assert_non_null(strstr(d.log, "event=config_push_on"));
	assert_non_null(strstr(d.log, "tenant=3"));
	dh_tap_close(&t);
	dh_sse_close(&sse);
	dh_daemon_kill(&d);
	dh_daemon_free(&d);

	/* Opening hours with no open minute (only Monday listed, with no
	 * range): the kiosk shows its closed screen and ignores the tap. */
	apply_offline("{\"screen\":{\"hours\":{\"mon\":[]},"
		      "\"text\":{\"en\":{\"closed\":\"See you soon\"}}}}",
		      4);
	memset(&s, 0, sizeof s);
	dh_daemon_start(&env, &d, WAIT_MS);
	dh_sse_open(&sse, d.port, WAIT_MS);
	dh_tap_open(&t, env.sock);
	body = http_get(d.port, "/api/v1/screen", &status);
	j = cJSON_Parse(body);
	assert_non_null(j);
	assert_string_equal(str(j, "state"), "closed");
	assert_string_equal(str(j, "greeting"), "See you soon");
	cJSON_Delete(j);
	free(body);
	char line[64];
	snprintf(line, sizeof line, "barcode %s", p->card);
	assert_int_equal(dh_tap_send(&t, line), 0);
	for (int64_t end = dh_now_ms() + WAIT_MS; !strstr(d.log ? d.log : "", "reason=closed");) {
		if (dh_now_ms() > end) {
			dh_daemon_dump(&d, "closed");
			fail_msg("the closed kiosk did not log the ignored read");
		}
		dh_tap_pump(&t);
		dh_daemon_pump(&d);
		struct timespec ts = {0, 2000000};
		nanosleep(&ts, NULL);
	}
	body = http_get(d.port, "/metrics", &status);
	assert_non_null(strstr(body, "regulars_reads_closed_total 1"));
	assert_non_null(strstr(body, "regulars_recorded_total 0"));
	free(body);
	dh_tap_close(&t);
	dh_sse_close(&sse);
	dh_daemon_kill(&d);
	dh_daemon_free(&d);
}

/* --check-config with config.trust_anchor pointing at nothing or junk. */
static void bad_trust_anchor_is_a_start_error(void **state)
{
	(void)state;
	char cmd[1200], out[300], junk[300];
	static const char *const anchors[2] = {"missing", "junk"};
	snprintf(out, sizeof out, "%s/check.txt", env.dir);
	snprintf(junk, sizeof junk, "%s/junk-anchor.json", env.dir);
	write_text(junk, "{\"type\":\"regulars-keys\"}");
	for (int i = 0; i < 2; i++) {
		char path[300];
		snprintf(path, sizeof path, "%s/%s-anchor.json", env.dir, anchors[i]);
		write_config(path);
		snprintf(cmd, sizeof cmd, "'%s' --config '%s' --check-config >'%s' 2>&1", args[1],
			 env.config, out);
		int rc = system(cmd);
		assert_true(WIFEXITED(rc));
		assert_int_equal(WEXITSTATUS(rc), 2);
		FILE *f = fopen(out, "r");
		char text[1024] = "";
		assert_non_null(f);
		size_t n = fread(text, 1, sizeof text - 1, f);
		fclose(f);
		text[n] = '\0';
		if (!strstr(text, "config.trust_anchor"))
			fail_msg("%s anchor: %s", anchors[i], text);
	}
	/* a good anchor passes the check */
	write_config(anchor_path);
	snprintf(cmd, sizeof cmd, "'%s' --config '%s' --check-config >'%s' 2>&1", args[1],
		 env.config, out);
	assert_int_equal(WEXITSTATUS(system(cmd)), 0);
	env.passed = true;
}

static int group_setup(void **state)
{
	(void)state;
	dh_env_setup(&env, args[1], args[2], dh_seed_from_env("RG_TEST_SEED"), 8, 1);
	snprintf(anchor_path, sizeof anchor_path, "%s/config-trust.json", env.dir);
	snprintf(state_path, sizeof state_path, "%s/device.db-config", env.dir);
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	rg_ec_key_free(key);
	dh_env_teardown(&env);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: %s regulars-device UI-DIR\n", argv[0]);
		return 2;
	}
	args = argv;
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(saved_configuration_runs_before_any_uplink),
	    cmocka_unit_test(bad_trust_anchor_is_a_start_error),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
