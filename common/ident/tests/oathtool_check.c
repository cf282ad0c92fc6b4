/*
 * oathtool_check.c - integration test: TOTP codes made by an independent
 * implementation (Debian's oathtool) are accepted by the pipeline inside the
 * window, refused outside it, and refused when reused. Exits 77 (ctest SKIP)
 * only when oathtool is not installed; `make deps` installs it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/codec.h"
#include "common/err.h"
#include "common/ident.h"
#include "common/ident_token.h"
#include "common/ident_totp.h"
#include "common/log.h"

#define T0 INT64_C(1800000015) /* 15 s into a 30 s step (and into a 60 s one) */

static int failures;

#define CHECK(cond, ...)                                                                           \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);                       \
			fprintf(stderr, __VA_ARGS__);                                              \
			fputc('\n', stderr);                                                       \
			failures++;                                                                \
		}                                                                                  \
	} while (0)

static int on_path(const char *name)
{
	const char *path = getenv("PATH");
	char buf[4096];

	if (!path || !*path)
		path = "/usr/bin:/bin";
	while (*path) {
		const char *end = strchr(path, ':');
		size_t n = end ? (size_t)(end - path) : strlen(path);
		if (n &&
		    (size_t)snprintf(buf, sizeof buf, "%.*s/%s", (int)n, path, name) < sizeof buf &&
		    access(buf, X_OK) == 0)
			return 1;
		path += n + (end ? 1 : 0);
	}
	return 0;
}

/* Runs oathtool with argv (no shell); the code it prints into *code. */
static int oathtool(char *const argv[], uint32_t *code)
{
	int fd[2], status;
	char out[64];
	size_t n = 0;
	pid_t pid;

	if (pipe(fd) < 0)
		return -1;
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		dup2(fd[1], STDOUT_FILENO);
		close(fd[0]);
		close(fd[1]);
		execvp("oathtool", argv);
		_exit(127);
	}
	close(fd[1]);
	for (;;) {
		ssize_t r = read(fd[0], out + n, sizeof out - 1 - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		n += (size_t)r;
	}
	close(fd[0]);
	out[n] = '\0';
	if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return -1;
	*code = 0;
	for (size_t i = 0; i < n && out[i] != '\n'; i++) {
		if (out[i] < '0' || out[i] > '9')
			return -1;
		*code = *code * 10 + (uint32_t)(out[i] - '0');
	}
	return 0;
}

struct env {
	struct rg_clock_manual clock;
	struct ident_config cfg;
	struct ident_replay_store *replay;
	struct ident_secret_store *secrets;
	struct ident_pipeline *p;
	uint8_t tenant[32], seal[RG_AEAD_KEY_LEN];
};

static int env_open(struct env *e)
{
	struct ident_pipeline_params pp = {
	    .config = &e->cfg,
	    .tenant_key = e->tenant,
	    .tenant_key_len = sizeof e->tenant,
	    .totp_seal_key = e->seal,
	    .clock = &e->clock.clock,
	    .replay = e->replay,
	    .secrets = e->secrets,
	};
	ident_pipeline_free(e->p);
	e->p = NULL;
	return ident_pipeline_new(&pp, &e->p);
}

/* The barcode for ref with oathtool's code at time t; classified at T0. */
static enum ident_reason scan(struct env *e, const char *ref, const char *hexkey, int64_t t,
			      const char *alg)
{
	char totp_arg[32], now[32], digits[8], step[16], text[128];
	char *argv[] = {"oathtool", totp_arg, "-d", digits,	    "-s",
			step,	    "-N",     now,  (char *)hexkey, NULL};
	uint32_t code;
	struct ident_result r;

	snprintf(totp_arg, sizeof totp_arg, "--totp=%s", alg);
	snprintf(now, sizeof now, "@%lld", (long long)t);
	snprintf(digits, sizeof digits, "%u", e->cfg.totp.digits);
	snprintf(step, sizeof step, "%us", e->cfg.totp.period_s);
	if (oathtool(argv, &code) < 0) {
		CHECK(0, "oathtool %s %s failed", totp_arg, now);
		return IDENT__REASON_COUNT;
	}
	if (ident_totp_barcode(e->cfg.totp.prefix, ref, code, e->cfg.totp.digits, text,
			       sizeof text) < 0 ||
	    ident_classify(e->p, IDENT_SRC_QR, text, strlen(text), &r) < 0) {
		CHECK(0, "classify failed for %s", text);
		return IDENT__REASON_COUNT;
	}
	return r.reason;
}

static void enrol(struct env *e, const char *ref, const uint8_t *secret, size_t len)
{
	CHECK(ident_totp_enrol(e->secrets, e->seal, ref, secret, len, rg_rand_system()) == 0,
	      "enrol %s", ref);
}

#define EXPECT(got, want, what)                                                                    \
	CHECK((got) == (want), "%s: expected %s, got %s", what, ident_reason_name(want),           \
	      ident_reason_name(got))

int main(void)
{
	struct env e = {0};
	uint8_t secret[20], secret32[32];
	char hex[2 * sizeof secret32 + 1];
	char hex32[2 * sizeof secret32 + 1];

	if (!on_path("oathtool")) {
		fprintf(stderr, "oathtool_check: oathtool not installed (make deps): skipped\n");
		return 77;
	}
	rg_log_set_level(RG_LOG_WARN);
	if (rg_random(secret, sizeof secret) < 0 || rg_random(secret32, sizeof secret32) < 0 ||
	    rg_random(e.tenant, sizeof e.tenant) < 0 || rg_random(e.seal, sizeof e.seal) < 0)
		return 1;
	rg_hex_encode(secret, sizeof secret, hex, sizeof hex);
	rg_hex_encode(secret32, sizeof secret32, hex32, sizeof hex32);
	rg_clock_manual_init(&e.clock, T0 * 1000);
	ident_config_default(&e.cfg);
	if (ident_replay_mem_new(16, &e.replay) < 0 || ident_secret_mem_new(64, &e.secrets) < 0 ||
	    env_open(&e) < 0)
		return 1;

	/* default: SHA-1, 6 digits, 30 s, window 1; a fresh customer per offset */
	static const struct {
		const char *ref;
		int64_t dt;
		enum ident_reason why;
	} cases[] = {
	    {"w-minus2", -60, IDENT_TOTP_OUT_OF_WINDOW},
	    {"w-minus1", -30, IDENT_OK},
	    {"w-zero", 0, IDENT_OK},
	    {"w-plus1", 30, IDENT_OK},
	    {"w-plus2", 60, IDENT_TOTP_OUT_OF_WINDOW},
	    {"w-late", -16, IDENT_OK},
	    {"w-early", 14, IDENT_OK},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char what[64];
		enrol(&e, cases[i].ref, secret, sizeof secret);
		snprintf(what, sizeof what, "sha1 code at T0%+lld", (long long)cases[i].dt);
		EXPECT(scan(&e, cases[i].ref, hex, T0 + cases[i].dt, "sha1"), cases[i].why, what);
	}

	/* reuse: the accepted code again, then an earlier step's code */
	enrol(&e, "reuse", secret, sizeof secret);
	EXPECT(scan(&e, "reuse", hex, T0, "sha1"), IDENT_OK, "first use");
	EXPECT(scan(&e, "reuse", hex, T0, "sha1"), IDENT_TOTP_REUSED, "second use");
	EXPECT(scan(&e, "reuse", hex, T0 - 30, "sha1"), IDENT_TOTP_REUSED, "earlier step");
	EXPECT(scan(&e, "reuse", hex, T0 + 30, "sha1"), IDENT_OK, "next step");
	EXPECT(scan(&e, "reuse", hex, T0 + 30, "sha1"), IDENT_TOTP_REUSED, "next step again");
	/* the clock moves on: the code of the new current step is accepted, old ones are not */
	rg_clock_manual_advance(&e.clock, 90 * 1000);
	EXPECT(scan(&e, "reuse", hex, T0 + 90, "sha1"), IDENT_OK, "after 90 s");
	EXPECT(scan(&e, "reuse", hex, T0, "sha1"), IDENT_TOTP_OUT_OF_WINDOW, "old code, 90 s on");

	/* SHA-256, 8 digits, 60 s steps, window 0 */
	rg_clock_manual_set_wall(&e.clock, T0 * 1000);
	e.cfg.totp.alg = IDENT_TOTP_SHA256;
	e.cfg.totp.digits = 8;
	e.cfg.totp.period_s = 60;
	e.cfg.totp.window = 0;
	if (env_open(&e) < 0)
		return 1;
	enrol(&e, "s256", secret32, sizeof secret32);
	EXPECT(scan(&e, "s256", hex32, T0 - 60, "sha256"), IDENT_TOTP_OUT_OF_WINDOW,
	       "sha256 previous step, window 0");
	EXPECT(scan(&e, "s256", hex32, T0, "sha256"), IDENT_OK, "sha256 current step");
	EXPECT(scan(&e, "s256", hex32, T0, "sha256"), IDENT_TOTP_REUSED, "sha256 reuse");
	enrol(&e, "s1-under-256", secret32, sizeof secret32);
	EXPECT(scan(&e, "s1-under-256", hex32, T0, "sha1"), IDENT_TOTP_OUT_OF_WINDOW,
	       "sha1 code while sha256 is configured");

	ident_pipeline_free(e.p);
	ident_replay_mem_free(e.replay);
	ident_secret_mem_free(e.secrets);
	if (failures) {
		fprintf(stderr, "oathtool_check: %d failure(s)\n", failures);
		return 1;
	}
	printf("oathtool_check: ok\n");
	return 0;
}
