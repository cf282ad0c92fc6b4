/*
 * test_ctl_config_broker.c - `regularsctl config push` and `status` against
 * a real central Mosquitto (tests/mqtt harness, ACL generated from the PKI):
 * a document signed 2-of-3 with the real CLI and pushed as an IT identity is
 * retained on rg/v1/config/store/0042 byte for byte and verifies there
 * against the anchor; the same push with a gateway's certificate is "not
 * authorized" and leaves the retained document alone; status prints a
 * device's retained report; --clear removes the retained document.
 *
 * usage: test_ctl_config_broker REGULARSCTL
 */
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/cfgdoc.h"
#include "tb_assert.h"

#define IT "it-alice"
#define STORE_TOPIC "rg/v1/config/store/0042"
#define DEV_STATUS "rg/v1/g/gw-0042/d/dev-0042-k1/status"
#define CTL_TIMEOUT_MS 30000

static const char *ctl_bin;

struct fixture {
	struct tb_env *env;
	struct tb_broker *broker;
	char dir[512];		 /* the IT laptop */
	char out[600], err[600]; /* the last run's stdout and stderr */
	char port[32], ca[600];
};

static char text[1 << 17];

/* The contents of path (NUL-terminated, capped) in a static buffer. */
static const char *slurp(const char *path)
{
	FILE *f = fopen(path, "rb");
	size_t n = 0;
	if (f) {
		n = fread(text, 1, sizeof text - 1, f);
		fclose(f);
	}
	text[n] = '\0';
	return text;
}

/* Run regularsctl with argv (NULL-terminated, argv[0] not included), stdout
 * and stderr to f->out / f->err; its exit status. Bounded: killed after
 * CTL_TIMEOUT_MS. */
static int ctl(struct fixture *f, const char *const *args)
{
	const char *argv[40] = {ctl_bin};
	size_t n = 1;
	int status = 0;
	pid_t pid, w = 0;

	for (; args[n - 1] && n < 39; n++)
		argv[n] = args[n - 1];
	argv[n] = NULL;
	if ((pid = fork()) == 0) {
		int o = open(f->out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		int e = open(f->err, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (o < 0 || e < 0 || dup2(o, 1) < 0 || dup2(e, 2) < 0)
			_exit(127);
		execv(ctl_bin, (char *const *)argv);
		_exit(127);
	}
	assert_true(pid > 0);
	for (int64_t end = tb_now_ms() + CTL_TIMEOUT_MS;
	     (w = waitpid(pid, &status, WNOHANG)) == 0;) {
		if (tb_now_ms() > end) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			fail_msg("regularsctl %s %s did not finish within %d ms", args[0], args[1],
				 CTL_TIMEOUT_MS);
		}
		tb_env_pump(f->env, 10); /* keep the test's own clients serviced */
	}
	assert_int_equal(w, pid);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

static void expect_ctl(struct fixture *f, int want, const char *const *args)
{
	int got = ctl(f, args);
	if (got != want) {
		fprintf(stderr, "--- stdout\n%s", slurp(f->out));
		fprintf(stderr, "--- stderr\n%s", slurp(f->err));
		fail_msg("regularsctl %s %s exited %d, expected %d", args[0], args[1], got, want);
	}
}

static void path(const struct fixture *f, char *out, size_t cap, const char *name)
{
	snprintf(out, cap, "%s/%s", f->dir, name);
}

static void write_file(const char *p, const char *s)
{
	FILE *fp = fopen(p, "wb");
	assert_non_null(fp);
	assert_int_equal(fputs(s, fp) >= 0, 1);
	assert_int_equal(fclose(fp), 0);
}

/* A store document for 0042 at version, signed with the real CLI by two of
 * the three keys; the envelope's path in out. */
static void signed_store_doc(struct fixture *f, int version, char *out, size_t cap)
{
	char doc[600], issued[21], expires[21], body[1024], ka[600], kb[600];
	time_t now = time(NULL);
	cfgdoc_time_format((int64_t)now - 60, issued);
	cfgdoc_time_format((int64_t)now + 30 * 86400, expires);
	snprintf(body, sizeof body,
		 "{\"type\": \"regulars-config\", \"tenant\": \"acme\", \"scope\": \"store\",\n"
		 " \"store\": \"0042\", \"version\": %d, \"issued\": \"%s\", \"expires\": \"%s\",\n"
		 " \"settings\": {\"screen\": {\"idle_after_ms\": %d}}}\n",
		 version, issued, expires, 10000 + version);
	snprintf(doc, sizeof doc, "%s/store-%d.json", f->dir, version);
	snprintf(out, cap, "%s/store-%d.signed", f->dir, version);
	write_file(doc, body);
	path(f, ka, sizeof ka, "k1.key");
	path(f, kb, sizeof kb, "k2.key");
	expect_ctl(f, 0,
		   (const char *const[]){"config", "sign", "--key", ka, "--key", kb, "--out", out,
					 doc, NULL});
}

/* push ENVELOPE (or --clear SCOPE when clear) as identity. */
static int push_as(struct fixture *f, const char *identity, const char *arg, bool clear)
{
	char crt[600], key[600];
	assert_int_equal(tb_env_file(f->env, identity, ".crt", crt, sizeof crt), 0);
	assert_int_equal(tb_env_file(f->env, identity, ".key", key, sizeof key), 0);
	if (clear)
		return ctl(f, (const char *const[]){"config", "push", "--broker", f->port, "--ca",
						    f->ca, "--cert", crt, "--key", key, "--clear",
						    arg, NULL});
	return ctl(f, (const char *const[]){"config", "push", "--broker", f->port, "--ca", f->ca,
					    "--cert", crt, "--key", key, arg, NULL});
}

/* The file as push publishes it: without the trailing newline. */
static const char *envelope_text(const char *p)
{
	const char *s = slurp(p);
	size_t n = strlen(s);
	while (n && (s[n - 1] == '\n' || s[n - 1] == ' '))
		text[--n] = '\0';
	return s;
}

static int group_setup(void **state)
{
	struct fixture *f = calloc(1, sizeof *f);
	if (!f || tb_env_create(&f->env, "acme") < 0)
		return -1;
	if (tb_env_issue(f->env, PKI_KIND_GATEWAY, "gw-0042", "0042") < 0 ||
	    tb_env_issue(f->env, PKI_KIND_GATEWAY, "gw-0043", "0043") < 0 ||
	    tb_env_issue(f->env, PKI_KIND_IT, IT, NULL) < 0)
		return -1;
	if (tb_broker_start(f->env, PKI_BROKER_CENTRAL, NULL, &f->broker) < 0)
		return -1;
	snprintf(f->dir, sizeof f->dir, "%s/laptop", tb_env_dir(f->env));
	snprintf(f->out, sizeof f->out, "%s/out", f->dir);
	snprintf(f->err, sizeof f->err, "%s/err", f->dir);
	snprintf(f->port, sizeof f->port, "localhost:%u", tb_broker_port(f->broker));
	if (mkdir(f->dir, 0700) < 0 || tb_env_file(f->env, "ca", ".crt", f->ca, sizeof f->ca) < 0)
		return -1;
	*state = f;
	/* Three config-signing keys and the 2-of-3 anchor devices would hold. */
	char a[600], p[3][600];
	for (int i = 0; i < 3; i++) {
		char name[8];
		snprintf(name, sizeof name, "k%d", i + 1);
		if (ctl(f, (const char *const[]){"config", "keygen", "--out", f->dir, "--name",
						 name, NULL}) != 0)
			return -1;
		snprintf(p[i], sizeof p[i], "%s/k%d.pub", f->dir, i + 1);
	}
	path(f, a, sizeof a, "anchor.json");
	return ctl(f, (const char *const[]){"config", "anchor", "--tenant", "acme", "--threshold",
					    "2", "--out", a, p[0], p[1], p[2], NULL}) == 0
		   ? 0
		   : -1;
}

static int group_teardown(void **state)
{
	struct fixture *f = *state;
	if (f)
		tb_env_free(f->env);
	free(f);
	return 0;
}

static void push_as_it_is_retained_on_the_store_topic_and_verifies(void **state)
{
	struct fixture *f = *state;
	char env[600], anchor[600], err[256], *sent;
	struct cfgdoc_keyset ks;
	struct cfgdoc d;
	struct tb_msg m;

	signed_store_doc(f, 7, env, sizeof env);
	if (push_as(f, IT, env, false) != 0)
		fail_msg("push as " IT ": %s", slurp(f->err));
	assert_non_null(strstr(slurp(f->out), "-> " STORE_TOPIC " (retained)"));
	sent = strdup(envelope_text(env));
	assert_non_null(sent);

	/* The store's gateway, subscribing afterwards, gets it retained, byte for byte. */
	struct tb_client *g42 = tb_connect_as(f->env, f->broker, "gw-0042");
	assert_int_equal(tb_sub(g42, STORE_TOPIC), 1);
	assert_int_equal(tb_client_next(g42, &m, TB_WAIT_MS), 0);
	assert_string_equal(m.topic, STORE_TOPIC);
	assert_true(m.retained);
	assert_string_equal(m.payload, sent);
	/* ... and it verifies as a device of store 0042 would verify it. */
	path(f, anchor, sizeof anchor, "anchor.json");
	const char *a = slurp(anchor);
	assert_int_equal(cfgdoc_keyset_parse(a, strlen(a), &ks, err, sizeof err), 0);
	const struct cfgdoc_expect exp = {.store = "0042",
					  .device = "dev-0042-k1",
					  .scope = CFGDOC_SCOPE_STORE,
					  .now = time(NULL),
					  .check_settings = true};
	enum cfgdoc_reason r =
	    cfgdoc_verify(&ks, m.payload, strlen(m.payload), &exp, &d, err, sizeof err);
	if (r != CFGDOC_OK)
		fail_msg("the pushed document does not verify: %s: %s", cfgdoc_reason_name(r), err);
	assert_int_equal(d.version, 7);
	assert_int_equal(d.valid_signatures, 2);
	cfgdoc_clear(&d);
	free(sent);
	tb_client_free(g42);
}

static void push_with_a_gateway_certificate_is_not_authorized(void **state)
{
	struct fixture *f = *state;
	char env7[600], env8[600];
	struct tb_msg m;

	path(f, env7, sizeof env7, "store-7.signed");
	signed_store_doc(f, 8, env8, sizeof env8);
	assert_int_equal(push_as(f, "gw-0042", env8, false), 1);
	assert_non_null(strstr(slurp(f->err), "not authorized"));
	assert_non_null(strstr(text, STORE_TOPIC));
	assert_null(strstr(slurp(f->out), "pushed"));
	/* The retained document is still version 7. */
	struct tb_client *g42 = tb_connect_as(f->env, f->broker, "gw-0042");
	assert_int_equal(tb_sub(g42, STORE_TOPIC), 1);
	assert_int_equal(tb_client_next(g42, &m, TB_WAIT_MS), 0);
	assert_string_equal(m.payload, envelope_text(env7));
	tb_client_free(g42);
}

static void status_prints_a_retained_device_report(void **state)
{
	struct fixture *f = *state;
	char crt[600], key[600];
	struct tb_client *g42 = tb_connect_as(f->env, f->broker, "gw-0042");
	int reason = -1;

	/* What the gateway mirrors for its device: the device's retained status. */
	assert_int_equal(
	    tb_client_publish(
		g42, DEV_STATUS,
		"{\"online\":true,\"outbox\":3,\"config\":{\"keys\":{\"version\":1},"
		"\"tenant\":{\"status\":\"none\",\"version\":0},"
		"\"store\":{\"status\":\"rejected\",\"version\":7,"
		"\"applied_at\":\"2026-11-23T10:00:00Z\",\"expires\":\"2026-12-23T10:00:00Z\","
		"\"rejected_version\":8,\"reason\":\"signature\","
		"\"detail\":\"1 valid signature of the 2 "
		"required\",\"at\":\"2026-11-23T11:00:00Z\"},"
		"\"device\":{\"status\":\"none\",\"version\":0}}}",
		1, true, &reason),
	    0);
	assert_true(reason == RC_OK || reason == RC_NO_SUBSCRIBERS);
	assert_int_equal(tb_client_publish(g42, "rg/v1/g/gw-0042/status",
					   "{\"online\":true,\"store\":\"0042\"}", 1, true,
					   &reason),
			 0);
	assert_int_equal(tb_env_file(f->env, IT, ".crt", crt, sizeof crt), 0);
	assert_int_equal(tb_env_file(f->env, IT, ".key", key, sizeof key), 0);

	expect_ctl(f, 0,
		   (const char *const[]){"config", "status", "--broker", f->port, "--ca", f->ca,
					 "--cert", crt, "--key", key, "--wait-ms", "1500", NULL});
	const char *out = slurp(f->out);
	const char *line = strstr(out, "\ndev-0042-k1 ");
	if (!line)
		fail_msg("status lacks dev-0042-k1:\n%s", out);
	const char *store = strstr(out, "online   store   7        rejected  2026-11-23T10:00:00Z");
	if (!store || !strstr(store, "rejected v8 at 2026-11-23T11:00:00Z: signature: 1 valid"))
		fail_msg("status lacks the store scope's rejection:\n%s", out);
	assert_non_null(strstr(out, "\ngw-0042 "));

	expect_ctl(f, 0,
		   (const char *const[]){"config", "status", "--broker", f->port, "--ca", f->ca,
					 "--cert", crt, "--key", key, "--wait-ms", "1500", "--json",
					 NULL});
	out = slurp(f->out);
	line = strstr(out, "{\"identity\":\"dev-0042-k1\",\"gateway\":\"gw-0042\"");
	if (!line || !strstr(line, "\"online\":true") || !strstr(line, "\"reason\":\"signature\""))
		fail_msg("status --json lacks the device's report:\n%s", out);
	cJSON *j = cJSON_ParseWithLength(line, (size_t)(strchr(line, '\n') - line));
	assert_non_null(j);
	cJSON *v = cJSON_GetObjectItemCaseSensitive(
	    cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(j, "config"),
					     "store"),
	    "version");
	assert_true(cJSON_IsNumber(v) && v->valuedouble == 7);
	cJSON_Delete(j);

	/* A gateway's certificate reads no reports: nothing, but no failure either. */
	assert_int_equal(tb_env_file(f->env, "gw-0043", ".crt", crt, sizeof crt), 0);
	assert_int_equal(tb_env_file(f->env, "gw-0043", ".key", key, sizeof key), 0);
	expect_ctl(f, 0,
		   (const char *const[]){"config", "status", "--broker", f->port, "--ca", f->ca,
					 "--cert", crt, "--key", key, "--wait-ms", "500", NULL});
	assert_null(strstr(slurp(f->out), "dev-0042-k1"));
	assert_non_null(strstr(slurp(f->err), "no status reports"));
	tb_client_free(g42);
}

static void clear_removes_the_retained_document(void **state)
{
	struct fixture *f = *state;
	struct tb_client *it, *g42;

	assert_int_equal(push_as(f, IT, "store/0042", true), 0);
	assert_non_null(strstr(slurp(f->out), "cleared " STORE_TOPIC));
	/* (After the CLI: the broker's client id is the CN, one session per identity.) */
	it = tb_connect_as(f->env, f->broker, IT);
	g42 = tb_connect_as(f->env, f->broker, "gw-0042");
	/* A new subscriber gets no retained document: the marker comes first and alone. */
	assert_int_equal(tb_sub(g42, STORE_TOPIC), 1);
	assert_int_equal(tb_pub(it, STORE_TOPIC, "marker"), RC_OK);
	tb_expect_marker_only(g42, STORE_TOPIC, "marker");
	tb_client_free(g42);
	tb_client_free(it);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(push_as_it_is_retained_on_the_store_topic_and_verifies),
	    cmocka_unit_test(push_with_a_gateway_certificate_is_not_authorized),
	    cmocka_unit_test(status_prints_a_retained_device_report),
	    cmocka_unit_test(clear_removes_the_retained_document),
	};
	if (argc != 2) {
		fprintf(stderr, "usage: %s REGULARSCTL\n", argv[0]);
		return 2;
	}
	ctl_bin = argv[1];
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
