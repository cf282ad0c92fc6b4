/*
 * devharness.c - the shared harness of tests/device (see devharness.h): the
 * seeded environment, the daemon child, the SSE and sim-reader clients and
 * the secret scan. Every wait here is bounded and driven by poll() on the fd
 * that will carry the awaited event; nothing sleeps for a fixed time.
 */
#define _GNU_SOURCE /* memmem, pipe2, accept4 flags */
#include "devharness.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "common/codec.h"
#include "common/err.h"
#include "common/ident.h"
#include "hal/keystore.h"

struct dh_tokref {
	uint8_t tok[RG_TOKEN_LEN];
	int person;
	bool is_uid;
};

/* The one daemon child alive, for the atexit/teardown safety net. */
static pid_t live_child = -1;

static void kill_live_child(void)
{
	if (live_child > 0) {
		kill(live_child, SIGKILL);
		waitpid(live_child, NULL, 0);
		live_child = -1;
	}
}

/* ---- small things ---- */

uint64_t dh_rand(struct dh_rng *r)
{
	uint64_t z = (r->s += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

int64_t dh_range(struct dh_rng *r, int64_t lo, int64_t hi)
{
	return lo + (int64_t)(dh_rand(r) % (uint64_t)(hi - lo + 1));
}

int64_t dh_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

uint64_t dh_seed_from_env(const char *name)
{
	const char *v = getenv(name);
	if (v && *v) {
		char *end;
		unsigned long long s = strtoull(v, &end, 0);
		if (*end == '\0')
			return s;
		fail_msg("%s=%s is not a number", name, v);
	}
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return ((uint64_t)ts.tv_sec * 1000000007ULL) ^ (uint64_t)ts.tv_nsec ^
	       ((uint64_t)getpid() << 32);
}

long dh_env_long(const char *name, long def)
{
	const char *v = getenv(name);
	if (!v || !*v)
		return def;
	char *end;
	long n = strtol(v, &end, 10);
	if (*end != '\0' || n < 0)
		fail_msg("%s=%s is not a non-negative integer", name, v);
	return n;
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	if (!f)
		fail_msg("cannot write %s: %s", path, strerror(errno));
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
}

static void set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);
	assert_true(fl >= 0);
	assert_int_equal(fcntl(fd, F_SETFL, fl | O_NONBLOCK), 0);
}

/* Wait until fd is readable (1) or the deadline passes (0). */
static int wait_readable(int fd, int64_t deadline)
{
	for (;;) {
		int64_t left = deadline - dh_now_ms();
		if (left <= 0)
			return 0;
		struct pollfd p = {.fd = fd, .events = POLLIN};
		int rc = poll(&p, 1, (int)left);
		if (rc > 0)
			return 1;
		if (rc < 0 && errno != EINTR)
			fail_msg("poll: %s", strerror(errno));
	}
}

/* ---- identities and the seeded database ---- */

static const char *const firsts[20] = {
    "Annemarie", "Bartholomew", "Cornelia", "Dietrich",	 "Evangeline", "Friedhelm",  "Gwendolyn",
    "Hildegard", "Isadora",	"Joachim",  "Konstanze", "Leopoldine", "Maximilian", "Nikolaus",
    "Ottilie",	 "Philippa",	"Quirinus", "Rosamunde", "Sebastiano", "Theodora"};
static const char *const lasts[20] = {"Schmidtke",   "Vandersloot", "Okonkwo",	  "Featherstone",
				      "Szczepanski", "Zwiebelkopf", "Oyelaran",	  "Quackenbush",
				      "Rautenberg",  "Lindqvist",   "Marchetti",  "Haverkamp",
				      "Nakamura",    "Oosterhuis",  "Petrovski",  "Wojciechowski",
				      "Abernathy",   "Castellano",  "Desrosiers", "Eichhorn"};
static const char *const tiers[4] = {"basic", "silver", "gold", "platinum"};
static const char *const langs[4] = {"en", "de", "fr", "nl"};
static const char *const consents[5] = {"", "\"points\"", "\"points\",\"orders\"",
					"\"points\",\"orders\",\"service\"",
					"\"points\",\"orders\",\"service\",\"offers\""};

static int ean13_check(const char *d12)
{
	int sum = 0;
	for (int i = 0; i < 12; i++)
		sum += (d12[i] - '0') * (i % 2 ? 3 : 1);
	return (10 - sum % 10) % 10;
}

static void make_card(struct dh_rng *r, const char *prefix, size_t i, char out[DH_CARD_LEN + 1],
		      char bad[DH_CARD_LEN + 1])
{
	char d12[13];
	/* prefix (2) + index (4, unique) + random (6) */
	snprintf(d12, sizeof d12, "%.2s%04u%06u", prefix, (unsigned)(i % 10000),
		 (unsigned)(dh_rand(r) % 1000000));
	int c = ean13_check(d12);
	snprintf(out, DH_CARD_LEN + 1, "%s%c", d12, '0' + c);
	snprintf(bad, DH_CARD_LEN + 1, "%s%c", d12, '0' + (c + 3) % 10);
}

static void make_person(struct dh_rng *r, size_t i, bool known, struct dh_person *p)
{
	memset(p, 0, sizeof *p);
	p->known = known;
	make_card(r, known ? "27" : "28", i, p->card, p->bad_card);
	p->uid[0] = 0x04; /* NXP */
	p->uid[1] = (uint8_t)(known ? 0x10 : 0x90) | (uint8_t)(i >> 8 & 0x0f);
	p->uid[2] = (uint8_t)i;
	for (int k = 3; k < DH_UID_LEN; k++)
		p->uid[k] = (uint8_t)dh_rand(r);
	assert_int_equal(rg_hex_encode(p->uid, DH_UID_LEN, p->uid_lo, sizeof p->uid_lo),
			 2 * DH_UID_LEN);
	for (int k = 0; k < 2 * DH_UID_LEN; k++)
		p->uid_up[k] = (char)(p->uid_lo[k] >= 'a' ? p->uid_lo[k] - 32 : p->uid_lo[k]);
	if (!known)
		return;
	snprintf(p->id, sizeof p->id, "p-%06zu", 100 + i);
	/* (i mod 20, (7 i + i / 20) mod 20) is a different pair for each i < 200 */
	snprintf(p->first, sizeof p->first, "%s", firsts[i % 20]);
	snprintf(p->last, sizeof p->last, "%s", lasts[(7 * i + i / 20) % 20]);
	snprintf(p->name, sizeof p->name, "%s %s", p->first, p->last);
	p->consent = (int)(i % 5);
}

static int body_of(const struct dh_person *p, size_t i, char *buf, size_t cap)
{
	int n = snprintf(
	    buf, cap,
	    "{\"name\":\"%s\",\"first_name\":\"%s\",\"tier\":\"%s\",\"points\":%zu,"
	    "\"preferences\":{\"language\":\"%s\"},\"consent\":{\"show_in_public\":[%s]},"
	    "\"home_store\":\"" DH_STORE_ID "\","
	    "\"interactions\":[{\"channel\":\"web\",\"department\":\"orders\","
	    "\"summary\":\"Order %zu ready for pickup\",\"time\":\"2025-11-20T10:00:00Z\"},"
	    "{\"channel\":\"call_centre\",\"department\":\"service\","
	    "\"summary\":\"Asked about delivery slots\",\"time\":\"2025-11-18T15:30:00Z\"}],"
	    "\"episodes\":[{\"id\":\"e-%zu\",\"department\":\"service\",\"status\":\"open\","
	    "\"title\":\"Dishwasher repair\"}],"
	    "\"next_best_action\":\"Offer the extended warranty\"}",
	    p->name, p->first, tiers[i % 4], 100 + 37 * i, langs[i % 4], consents[p->consent],
	    7000 + i, 17 + i);
	assert_true(n > 0 && (size_t)n < cap);
	return n;
}

static int tokref_cmp(const void *a, const void *b)
{
	return memcmp(((const struct dh_tokref *)a)->tok, ((const struct dh_tokref *)b)->tok,
		      RG_TOKEN_LEN);
}

/* Tokens through the real pipeline: what the daemon computes for the same
 * read under the same tenant key. Also proves each identifier is accepted. */
static void tokenise(const struct dh_env *e, struct dh_person *p)
{
	struct ident_config cfg;
	struct ident_pipeline *pipe = NULL;
	struct ident_result res;
	char canon[IDENT_CANON_MAX + 1];

	ident_config_default(&cfg);
	cfg.app_token.enabled = false; /* neither needs a replay or secret store here */
	cfg.totp.enabled = false;
	struct ident_pipeline_params pp = {
	    .config = &cfg, .tenant_key = e->tenant_key, .tenant_key_len = sizeof e->tenant_key};
	assert_int_equal(ident_pipeline_new(&pp, &pipe), 0);

	assert_int_equal(ident_classify_canonical(pipe, IDENT_SRC_BARCODE, p->card, strlen(p->card),
						  &res, canon, sizeof canon),
			 0);
	assert_int_equal(res.reason, IDENT_OK);
	assert_int_equal(res.type, IDENT_TYPE_LOYALTY);
	assert_string_equal(canon, p->card);
	memcpy(p->card_tok, res.token, RG_TOKEN_LEN);

	assert_int_equal(ident_classify_canonical(pipe, IDENT_SRC_NFC_UID, p->uid, DH_UID_LEN, &res,
						  canon, sizeof canon),
			 0);
	assert_int_equal(res.reason, IDENT_OK);
	assert_int_equal(res.type, IDENT_TYPE_NFC_UID);
	assert_string_equal(canon, p->uid_up);
	memcpy(p->uid_tok, res.token, RG_TOKEN_LEN);

	/* and the bad check digit is refused, as the daemon must refuse it */
	assert_int_equal(
	    ident_classify(pipe, IDENT_SRC_BARCODE, p->bad_card, strlen(p->bad_card), &res), 0);
	assert_int_equal(res.reason, IDENT_BAD_CHECK_DIGIT);
	ident_pipeline_free(pipe);
}

static void put_key(struct hal_keystore *ks, const char *name, const uint8_t *v, size_t n)
{
	int rc = hal_keystore_put(ks, name, v, n);
	if (rc < 0)
		fail_msg("keystore put %s: %s", name, rg_strerror(rc));
}

static void seed_database(struct dh_env *e)
{
	size_t n = e->n_known;
	struct store_profile *p = calloc(n, sizeof *p);
	struct store_ident *ids = calloc(2 * n, sizeof *ids);
	char **bodies = calloc(n, sizeof *bodies);
	struct store *s = NULL;
	assert_true(p && ids && bodies);

	for (size_t i = 0; i < n; i++) {
		const struct dh_person *q = &e->people[i];
		bodies[i] = malloc(2048);
		assert_non_null(bodies[i]);
		int len = body_of(q, i, bodies[i], 2048);
		ids[2 * i] = (struct store_ident){q->card_tok, "loyalty"};
		ids[2 * i + 1] = (struct store_ident){q->uid_tok, "nfc_uid"};
		p[i] = (struct store_profile){.id = q->id,
					      .version = 1,
					      .hlc = 0,
					      .body = bodies[i],
					      .body_len = (size_t)len,
					      .idents = &ids[2 * i],
					      .n_idents = 2};
	}
	struct store_config sc = {
	    .path = e->db, .key = e->store_key, .device_id = DH_DEVICE_ID, .store_id = DH_STORE_ID};
	int rc = store_open(&sc, &s);
	if (rc < 0)
		fail_msg("store_open %s: %s", e->db, rg_strerror(rc));
	assert_int_equal(store_profiles_load(s, p, n), (int)n);
	/* every seeded identifier resolves to its profile before the daemon runs */
	for (size_t i = 0; i < n; i++) {
		static char buf[STORE_BODY_MAX + 1];
		struct store_hit hit;
		assert_int_equal(store_identify(s, e->people[i].uid_tok, buf, sizeof buf, &hit), 1);
		assert_string_equal(hit.profile_id, e->people[i].id);
	}
	store_close(s);
	for (size_t i = 0; i < n; i++)
		free(bodies[i]);
	free(bodies);
	free(ids);
	free(p);
}

void dh_env_setup(struct dh_env *e, const char *daemon, const char *ui, uint64_t seed,
		  size_t n_known, size_t n_strangers)
{
	const char *tmp = getenv("TMPDIR");
	struct dh_rng r = {seed};
	struct stat st;

	memset(e, 0, sizeof *e);
	e->daemon = daemon;
	e->ui = ui;
	e->seed = seed;
	static bool hooked;
	if (!hooked)
		atexit(kill_live_child);
	hooked = true;
	signal(SIGPIPE, SIG_IGN);

	if (!daemon || access(daemon, X_OK) != 0)
		fail_msg("usage: TEST PATH/TO/regulars-device PATH/TO/firmware/ui (daemon: %s)",
			 daemon ? daemon : "(none)");
	if (!ui || stat(ui, &st) != 0 || !S_ISDIR(st.st_mode))
		fail_msg("the UI directory %s does not exist", ui ? ui : "(none)");
	snprintf(e->dir, sizeof e->dir, "%s/rg-devtest-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(e->dir))
		fail_msg("mkdtemp %s: %s", e->dir, strerror(errno));
	/* the socket path must fit sun_path; JSON strings below are not escaped */
	if (strlen(e->dir) + sizeof "/reader.sock" > sizeof(((struct sockaddr_un *)0)->sun_path) ||
	    strpbrk(e->dir, "\"\\,") || strpbrk(ui, "\"\\"))
		fail_msg("temp dir %s or UI dir %s is unusable (too long, or holds \" \\ ,)",
			 e->dir, ui);
	snprintf(e->db, sizeof e->db, "%s/device.db", e->dir);
	snprintf(e->keys, sizeof e->keys, "%s/keys", e->dir);
	snprintf(e->sock, sizeof e->sock, "%s/reader.sock", e->dir);
	snprintf(e->config, sizeof e->config, "%s/device.json", e->dir);

	/* keys: random, written through the HAL keystore the daemon reads */
	uint8_t totp[32];
	assert_int_equal(rg_random(e->store_key, sizeof e->store_key), 0);
	assert_int_equal(rg_random(e->tenant_key, sizeof e->tenant_key), 0);
	assert_int_equal(rg_random(totp, sizeof totp), 0);
	assert_int_equal(mkdir(e->keys, 0700), 0);
	char opts[256];
	struct hal_keystore *ks = NULL;
	snprintf(opts, sizeof opts, "dir=%s", e->keys);
	int rc = hal_keystore_open("file", opts, &ks);
	if (rc < 0)
		fail_msg("keystore %s: %s", opts, rg_strerror(rc));
	put_key(ks, "tenant.key", e->tenant_key, sizeof e->tenant_key);
	put_key(ks, "store.key", e->store_key, sizeof e->store_key);
	put_key(ks, "totp.key", totp, sizeof totp);
	hal_keystore_close(ks);
	rg_wipe(totp, sizeof totp);

	char cfg[2048];
	int n = snprintf(cfg, sizeof cfg,
			 "{\n"
			 "  \"device_id\": \"" DH_DEVICE_ID "\",\n"
			 "  \"store_id\": \"" DH_STORE_ID "\",\n"
			 "  \"role\": \"kiosk\",\n"
			 "  \"database\": \"%s\",\n"
			 "  \"keystore\": {\"backend\": \"file\", \"options\": \"dir=%s\"},\n"
			 "  \"readers\": [{\"backend\": \"sim\", \"options\": \"path=%s\"}],\n"
			 "  \"http\": {\"bind\": \"127.0.0.1\", \"port\": 0, \"assets\": \"%s\"}\n"
			 "}\n",
			 e->db, e->keys, e->sock, ui);
	assert_true(n > 0 && (size_t)n < sizeof cfg);
	write_file(e->config, cfg);

	e->n_known = n_known;
	e->n_people = n_known + n_strangers;
	e->people = calloc(e->n_people, sizeof *e->people);
	e->toks = calloc(2 * e->n_people, sizeof *e->toks);
	assert_true(e->people && e->toks);
	for (size_t i = 0; i < e->n_people; i++) {
		make_person(&r, i, i < n_known, &e->people[i]);
		tokenise(e, &e->people[i]);
		struct dh_tokref *t = &e->toks[e->n_toks++];
		memcpy(t->tok, e->people[i].card_tok, RG_TOKEN_LEN);
		t->person = (int)i;
		t = &e->toks[e->n_toks++];
		memcpy(t->tok, e->people[i].uid_tok, RG_TOKEN_LEN);
		t->person = (int)i;
		t->is_uid = true;
	}
	qsort(e->toks, e->n_toks, sizeof *e->toks, tokref_cmp);
	for (size_t i = 1; i < e->n_toks; i++)
		assert_int_not_equal(tokref_cmp(&e->toks[i - 1], &e->toks[i]), 0);
	seed_database(e);
}

int dh_token_owner(const struct dh_env *e, const uint8_t tok[RG_TOKEN_LEN], bool *is_uid)
{
	struct dh_tokref key;
	memcpy(key.tok, tok, RG_TOKEN_LEN);
	const struct dh_tokref *t = bsearch(&key, e->toks, e->n_toks, sizeof key, tokref_cmp);
	if (!t)
		return -1;
	if (is_uid)
		*is_uid = t->is_uid;
	return t->person;
}

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

void dh_env_teardown(struct dh_env *e)
{
	kill_live_child();
	if (e->dir[0]) {
		if (e->passed || getenv("RG_TEST_KEEP") == NULL) {
			if (!e->passed)
				fprintf(stderr, "removing %s (set RG_TEST_KEEP=1 to keep it)\n",
					e->dir);
			nftw(e->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
		} else {
			fprintf(stderr, "kept %s for a post-mortem\n", e->dir);
		}
	}
	if (e->people)
		rg_wipe(e->people, e->n_people * sizeof *e->people);
	free(e->people);
	free(e->toks);
	rg_wipe(e->store_key, sizeof e->store_key);
	rg_wipe(e->tenant_key, sizeof e->tenant_key);
	memset(e, 0, sizeof *e);
}

/* ---- the daemon ---- */

static void log_append(struct dh_daemon *d, const char *p, size_t n)
{
	if (!d->log) {
		d->log = malloc(DH_LOG_KEEP + 1);
		assert_non_null(d->log);
	}
	if (n >= DH_LOG_KEEP) {
		p += n - DH_LOG_KEEP / 2;
		n = DH_LOG_KEEP / 2;
	}
	if (d->log_len + n > DH_LOG_KEEP) {
		size_t drop = d->log_len + n - DH_LOG_KEEP / 2;
		if (drop > d->log_len)
			drop = d->log_len;
		memmove(d->log, d->log + drop, d->log_len - drop);
		d->log_len -= drop;
	}
	memcpy(d->log + d->log_len, p, n);
	d->log_len += n;
	d->log[d->log_len] = '\0';
}

int dh_daemon_pump(struct dh_daemon *d)
{
	char buf[8192];
	while (d->err_fd >= 0) {
		ssize_t n = read(d->err_fd, buf, sizeof buf);
		if (n > 0) {
			log_append(d, buf, (size_t)n);
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return 0;
		close(d->err_fd); /* EOF (or an error: the same to us) */
		d->err_fd = -1;
	}
	return 1;
}

void dh_daemon_dump(const struct dh_daemon *d, const char *why)
{
	size_t n = d->log_len, from = n > 6000 ? n - 6000 : 0;
	fprintf(stderr, "---- %s; the daemon's log (tail) ----\n%s\n---- end of log ----\n", why,
		d->log ? d->log + from : "(empty)");
}

/* Reap d->pid (bounded); returns the wait status. */
static int reap(struct dh_daemon *d, int64_t deadline)
{
	int status = 0;
	/* Its stderr reaches EOF when it is gone: wait for that, then reap. */
	while (d->err_fd >= 0 && dh_daemon_pump(d) == 0) {
		if (!wait_readable(d->err_fd, deadline)) {
			dh_daemon_dump(d, "the daemon did not go away");
			fail_msg("pid %d still alive after SIGKILL", (int)d->pid);
		}
	}
	for (;;) {
		pid_t w = waitpid(d->pid, &status, 0);
		if (w == d->pid)
			break;
		if (w < 0 && errno == EINTR)
			continue;
		fail_msg("waitpid %d: %s", (int)d->pid, strerror(errno));
	}
	if (live_child == d->pid)
		live_child = -1;
	d->pid = -1;
	return status;
}

void dh_daemon_start(const struct dh_env *e, struct dh_daemon *d, int timeout_ms)
{
	int p[2];
	pid_t parent = getpid();
	int64_t deadline = dh_now_ms() + timeout_ms;

	memset(d, 0, sizeof *d);
	d->pid = -1;
	d->err_fd = -1;
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		/* If the test dies (even by SIGKILL from a ctest timeout), so does the daemon. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(126);
		int devnull = open("/dev/null", O_RDWR);
		if (devnull < 0 || dup2(devnull, 0) < 0 || dup2(devnull, 1) < 0 ||
		    dup2(p[1], 2) < 0)
			_exit(126);
		setenv("REGULARS_LOG_LEVEL", "info", 1);
		execl(e->daemon, e->daemon, "--config", e->config, (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	d->pid = pid;
	live_child = pid;
	d->err_fd = p[0];
	set_nonblock(d->err_fd);

	while (!d->started) {
		int eof = dh_daemon_pump(d);
		if (d->log) {
			const char *l = strstr(d->log, "event=http_listening");
			const char *port = l ? strstr(l, " port=") : NULL;
			if (port && !d->port)
				d->port = atoi(port + 6);
			if (strstr(d->log, "event=started"))
				d->started = true;
		}
		if (d->started)
			break;
		if (eof) {
			int st = reap(d, deadline + 5000);
			dh_daemon_dump(d, "the daemon exited during start");
			fail_msg("regulars-device exited during start (%s %d)",
				 WIFEXITED(st) ? "status" : "signal",
				 WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
		}
		if (!wait_readable(d->err_fd, deadline)) {
			dh_daemon_dump(d, "no event=started");
			fail_msg("regulars-device did not start within %d ms", timeout_ms);
		}
	}
	if (d->port <= 0 || d->port > 65535) {
		dh_daemon_dump(d, "no port");
		fail_msg("no event=http_listening port=N in the daemon's log");
	}
}

void dh_daemon_kill(struct dh_daemon *d)
{
	assert_true(d->pid > 0);
	assert_int_equal(kill(d->pid, SIGKILL), 0);
	int st = reap(d, dh_now_ms() + 20000);
	if (!WIFSIGNALED(st) || WTERMSIG(st) != SIGKILL) {
		dh_daemon_dump(d, "the daemon ended on its own before the SIGKILL");
		fail_msg("regulars-device ended with %s %d, not by the test's SIGKILL",
			 WIFEXITED(st) ? "status" : "signal",
			 WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
	}
}

void dh_daemon_free(struct dh_daemon *d)
{
	if (d->pid > 0) {
		kill(d->pid, SIGKILL);
		waitpid(d->pid, NULL, 0);
		if (live_child == d->pid)
			live_child = -1;
	}
	if (d->err_fd >= 0)
		close(d->err_fd);
	free(d->log);
	memset(d, 0, sizeof *d);
	d->pid = -1;
	d->err_fd = -1;
}

/* ---- SSE ---- */

enum { CH_SIZE, CH_DATA, CH_CRLF, CH_DONE };

static void sse_line(struct dh_sse *s, dh_sse_fn fn, void *ctx)
{
	char *l = s->line;
	if (s->line_len && l[s->line_len - 1] == '\r')
		s->line_len--;
	l[s->line_len] = '\0';
	if (s->line_len == 0) { /* end of an event */
		if (s->has_data && fn)
			fn(ctx, s->event[0] ? s->event : "message", s->data);
		s->event[0] = '\0';
		s->data_len = 0;
		s->data[0] = '\0';
		s->has_data = false;
		return;
	}
	if (l[0] == ':')
		return; /* a comment (keepalive) */
	char *colon = strchr(l, ':');
	const char *val = "";
	if (colon) {
		*colon = '\0';
		val = colon[1] == ' ' ? colon + 2 : colon + 1;
	}
	if (!strcmp(l, "event")) {
		snprintf(s->event, sizeof s->event, "%s", val);
	} else if (!strcmp(l, "data")) {
		size_t n = strlen(val);
		assert_true(s->data_len + n + 2 < sizeof s->data);
		if (s->has_data)
			s->data[s->data_len++] = '\n';
		memcpy(s->data + s->data_len, val, n + 1);
		s->data_len += n;
		s->has_data = true;
	} else if (!strcmp(l, "retry")) {
		s->hello = true;
	}
}

static void sse_body(struct dh_sse *s, const char *p, size_t n, dh_sse_fn fn, void *ctx)
{
	for (size_t i = 0; i < n; i++) {
		if (p[i] == '\n') {
			sse_line(s, fn, ctx);
			s->line_len = 0;
		} else {
			assert_true(s->line_len + 1 < sizeof s->line);
			s->line[s->line_len++] = p[i];
		}
	}
}

/* Undo chunked transfer coding, handing the payload on. */
static void sse_chunked(struct dh_sse *s, const char *p, size_t n, dh_sse_fn fn, void *ctx)
{
	size_t i = 0;
	while (i < n && s->chunk_state != CH_DONE) {
		if (s->chunk_state == CH_SIZE) {
			char c = p[i++];
			if (c == '\n') {
				s->hdr[s->hdr_len] = '\0';
				char *end;
				unsigned long v = strtoul(s->hdr, &end, 16);
				if (end == s->hdr)
					fail_msg("bad chunk size line \"%s\"", s->hdr);
				s->hdr_len = 0;
				s->chunk_left = v;
				s->chunk_state = v ? CH_DATA : CH_DONE;
			} else if (c != '\r') {
				assert_true(s->hdr_len + 1 < sizeof s->hdr);
				s->hdr[s->hdr_len++] = c;
			}
		} else if (s->chunk_state == CH_DATA) {
			size_t take = n - i < s->chunk_left ? n - i : s->chunk_left;
			sse_body(s, p + i, take, fn, ctx);
			i += take;
			s->chunk_left -= take;
			if (!s->chunk_left)
				s->chunk_state = CH_CRLF;
		} else { /* CH_CRLF: skip to the LF after the data */
			if (p[i++] == '\n')
				s->chunk_state = CH_SIZE;
		}
	}
	if (s->chunk_state == CH_DONE)
		s->eof = true;
}

static void sse_bytes(struct dh_sse *s, const char *p, size_t n, dh_sse_fn fn, void *ctx)
{
	if (!s->headers_done) {
		size_t take =
		    n < sizeof s->hdr - 1 - s->hdr_len ? n : sizeof s->hdr - 1 - s->hdr_len;
		memcpy(s->hdr + s->hdr_len, p, take);
		s->hdr_len += take;
		s->hdr[s->hdr_len] = '\0';
		char *end = strstr(s->hdr, "\r\n\r\n");
		if (!end) {
			assert_true(s->hdr_len < sizeof s->hdr - 1);
			return;
		}
		*end = '\0';
		if (strncmp(s->hdr, "HTTP/1.1 200", 12) != 0)
			fail_msg("GET /api/v1/events answered \"%.80s\"", s->hdr);
		for (char *q = s->hdr; *q; q++)
			if (*q >= 'A' && *q <= 'Z')
				*q = (char)(*q + 32);
		if (!strstr(s->hdr, "content-type: text/event-stream"))
			fail_msg("/api/v1/events is not text/event-stream");
		s->chunked = strstr(s->hdr, "transfer-encoding: chunked") != NULL;
		s->headers_done = true;
		size_t used = (size_t)(end + 4 - s->hdr) - (s->hdr_len - take);
		s->hdr_len = 0;
		p += used;
		n -= used;
	}
	if (s->chunked)
		sse_chunked(s, p, n, fn, ctx);
	else
		sse_body(s, p, n, fn, ctx);
}

int dh_sse_pump(struct dh_sse *s, dh_sse_fn fn, void *ctx)
{
	char buf[16384];
	while (s->fd >= 0 && !s->eof) {
		ssize_t n = recv(s->fd, buf, sizeof buf, 0);
		if (n > 0) {
			sse_bytes(s, buf, (size_t)n, fn, ctx);
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		s->eof = true; /* EOF, or reset by a killed server */
	}
	return 1;
}

void dh_sse_open(struct dh_sse *s, int port, int timeout_ms)
{
	static const char req[] = "GET /api/v1/events HTTP/1.1\r\n"
				  "Host: 127.0.0.1\r\n"
				  "Accept: text/event-stream\r\n"
				  "\r\n";
	int64_t deadline = dh_now_ms() + timeout_ms;
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};

	memset(s, 0, sizeof *s);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	s->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(s->fd >= 0);
	if (connect(s->fd, (struct sockaddr *)&a, sizeof a) < 0)
		fail_msg("connect 127.0.0.1:%d: %s", port, strerror(errno));
	assert_int_equal(send(s->fd, req, sizeof req - 1, MSG_NOSIGNAL), (ssize_t)(sizeof req - 1));
	set_nonblock(s->fd);
	while (!s->hello) {
		if (dh_sse_pump(s, NULL, NULL))
			fail_msg("the event stream ended before it began");
		if (!s->hello && !wait_readable(s->fd, deadline))
			fail_msg("no \"retry:\" on /api/v1/events within %d ms", timeout_ms);
	}
}

void dh_sse_close(struct dh_sse *s)
{
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
}

/* ---- the sim reader ---- */

void dh_tap_open(struct dh_tap *t, const char *sock_path)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	memset(t, 0, sizeof *t);
	snprintf(a.sun_path, sizeof a.sun_path, "%s", sock_path);
	t->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(t->fd >= 0);
	if (connect(t->fd, (struct sockaddr *)&a, sizeof a) < 0)
		fail_msg("connect %s: %s", sock_path, strerror(errno));
	set_nonblock(t->fd);
}

int dh_tap_send(struct dh_tap *t, const char *line)
{
	char buf[256];
	int n = snprintf(buf, sizeof buf, "%s\n", line);
	assert_true(n > 0 && (size_t)n < sizeof buf);
	/* A few dozen bytes into an empty socket buffer: never short unless gone. */
	ssize_t w = send(t->fd, buf, (size_t)n, MSG_NOSIGNAL);
	if (w != n)
		return -1;
	t->sent++;
	return 0;
}

int dh_tap_pump(struct dh_tap *t)
{
	while (t->fd >= 0 && !t->eof) {
		ssize_t n = recv(t->fd, t->buf + t->len, sizeof t->buf - 1 - t->len, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		if (n <= 0) {
			t->eof = true;
			break;
		}
		t->len += (size_t)n;
		t->buf[t->len] = '\0';
		char *nl;
		while ((nl = memchr(t->buf, '\n', t->len))) {
			*nl = '\0';
			if (strcmp(t->buf, "ok") != 0)
				fail_msg("the sim reader answered \"%s\"", t->buf);
			t->ok++;
			size_t used = (size_t)(nl + 1 - t->buf);
			memmove(t->buf, nl + 1, t->len - used);
			t->len -= used;
		}
		assert_true(t->len < sizeof t->buf - 1);
	}
	return 1;
}

void dh_tap_close(struct dh_tap *t)
{
	if (t->fd >= 0)
		close(t->fd);
	t->fd = -1;
}

/* ---- files ---- */

void dh_integrity_ok(const char *db_path)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	char first[512] = "";
	int rows = 0, rc;

	rc = sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READWRITE, NULL);
	if (rc != SQLITE_OK)
		fail_msg("sqlite3_open %s: %s", db_path, sqlite3_errstr(rc));
	/* Leave the -wal as the crash left it for the next start. */
	assert_int_equal(sqlite3_db_config(db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, NULL),
			 SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	rc = sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL);
	if (rc != SQLITE_OK)
		fail_msg("integrity_check on %s: %s", db_path, sqlite3_errmsg(db));
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const unsigned char *t = sqlite3_column_text(st, 0);
		if (rows++ == 0)
			snprintf(first, sizeof first, "%s", t ? (const char *)t : "(null)");
		else
			fprintf(stderr, "integrity_check: %s\n", t ? (const char *)t : "(null)");
	}
	if (rc != SQLITE_DONE)
		fail_msg("integrity_check on %s: %s", db_path, sqlite3_errmsg(db));
	sqlite3_finalize(st);
	sqlite3_close(db);
	if (rows != 1 || strcmp(first, "ok") != 0)
		fail_msg("PRAGMA integrity_check on %s: %s (%d lines)", db_path, first, rows);
}

static void needle(struct dh_needle *n, const void *p, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void needle(struct dh_needle *n, const void *p, size_t len, const char *fmt, ...)
{
	va_list ap;
	assert_true(len >= DH_NEEDLE_MIN);
	n->p = p;
	n->n = len;
	va_start(ap, fmt);
	vsnprintf(n->what, sizeof n->what, fmt, ap);
	va_end(ap);
}

size_t dh_secret_needles(const struct dh_env *e, struct dh_needle **out)
{
	struct dh_needle *nd = calloc(7 * e->n_people, sizeof *nd);
	size_t n = 0;
	assert_non_null(nd);
	for (size_t i = 0; i < e->n_people; i++) {
		const struct dh_person *p = &e->people[i];
		const char *who = p->known ? p->id : "stranger";
		if (p->known) {
			needle(&nd[n++], p->name, strlen(p->name), "full name \"%s\" (%s)", p->name,
			       who);
			needle(&nd[n++], p->first, strlen(p->first), "first name \"%s\" (%s)",
			       p->first, who);
			needle(&nd[n++], p->last, strlen(p->last), "surname \"%s\" (%s)", p->last,
			       who);
		}
		needle(&nd[n++], p->card, DH_CARD_LEN, "card number %s (%s)", p->card, who);
		needle(&nd[n++], p->uid, DH_UID_LEN, "raw NFC UID %s (%s)", p->uid_up, who);
		needle(&nd[n++], p->uid_lo, 2 * DH_UID_LEN, "NFC UID as hex %s (%s)", p->uid_lo,
		       who);
		needle(&nd[n++], p->uid_up, 2 * DH_UID_LEN, "NFC UID as HEX %s (%s)", p->uid_up,
		       who);
	}
	*out = nd;
	return n;
}

/* Needles are indexed by their first DH_NEEDLE_MIN bytes in an open hash
 * table, so a file is read once whatever the number of needles. */
static uint64_t key6(const uint8_t *p)
{
	uint64_t k = 0;
	for (int i = 0; i < DH_NEEDLE_MIN; i++)
		k = k << 8 | p[i];
	return k;
}

static size_t hash6(uint64_t k, size_t mask)
{
	return (size_t)((k * 0x9e3779b97f4a7c15ULL) >> 40) & mask;
}

long dh_scan_file(const char *path, const struct dh_needle *nd, size_t n, bool *found, bool report,
		  size_t *len)
{
	FILE *f = fopen(path, "rb");
	struct stat st;
	*len = 0;
	if (!f)
		return -1;
	assert_int_equal(fstat(fileno(f), &st), 0);
	size_t size = (size_t)st.st_size;
	uint8_t *b = malloc(size + 1);
	assert_non_null(b);
	assert_int_equal(fread(b, 1, size, f), size);
	fclose(f);
	*len = size;

	size_t cap = 1;
	while (cap < 4 * n + 16)
		cap <<= 1;
	int32_t *slot = malloc(cap * sizeof *slot);	 /* needle index + 1, 0 = empty */
	int32_t *next = calloc(n ? n : 1, sizeof *next); /* chain of needles with one key */
	bool *hit = calloc(n ? n : 1, sizeof *hit);
	assert_true(slot && next && hit);
	memset(slot, 0, cap * sizeof *slot);
	/* buckets keyed by the 6-byte prefix; equal prefixes chain through next[] */
	uint64_t *keys = calloc(cap, sizeof *keys);
	assert_non_null(keys);
	for (size_t i = 0; i < n; i++) {
		uint64_t k = key6(nd[i].p);
		size_t h = hash6(k, cap - 1);
		while (slot[h] && keys[h] != k)
			h = (h + 1) & (cap - 1);
		if (slot[h])
			next[i] = slot[h];
		slot[h] = (int32_t)i + 1;
		keys[h] = k;
	}
	long distinct = 0;
	for (size_t pos = 0; pos + DH_NEEDLE_MIN <= size; pos++) {
		uint64_t k = key6(b + pos);
		size_t h = hash6(k, cap - 1);
		while (slot[h] && keys[h] != k)
			h = (h + 1) & (cap - 1);
		for (int32_t j = slot[h]; j; j = next[j - 1]) {
			const struct dh_needle *x = &nd[j - 1];
			if (pos + x->n <= size && memcmp(b + pos, x->p, x->n) == 0) {
				if (!hit[j - 1]) {
					hit[j - 1] = true;
					distinct++;
				}
				if (report)
					fprintf(stderr, "%s: %s at offset %zu\n", path, x->what,
						pos);
			}
		}
	}
	if (found)
		memcpy(found, hit, n * sizeof *hit);
	free(keys);
	free(hit);
	free(next);
	free(slot);
	free(b);
	return distinct;
}

size_t dh_privacy_check(const struct dh_env *e)
{
	static const char *const sfx[3] = {"", "-wal", "-shm"};
	struct dh_needle *nd;
	size_t n = dh_secret_needles(e, &nd), total = 0, len;
	char path[260];

	/* 1. the files: no secret anywhere */
	for (int i = 0; i < 3; i++) {
		snprintf(path, sizeof path, "%s%s", e->db, sfx[i]);
		long k = dh_scan_file(path, nd, n, NULL, true, &len);
		if (k < 0 && i < 2)
			fail_msg("%s is missing (the crash state is gone)", path);
		if (k > 0)
			fail_msg("%s holds %ld seeded secrets (listed above)", path, k);
		if (i == 1 && len == 0)
			fail_msg("%s is empty: nothing to search", path);
		total += len;
	}

	/* 2. controls: the same search sees what is really there */
	struct dh_needle *ids = calloc(e->n_known + 1, sizeof *ids);
	bool *in_db = calloc(e->n_known + 1, sizeof *in_db), *in_wal = calloc(e->n_known + 1, 1);
	assert_true(ids && in_db && in_wal);
	for (size_t i = 0; i < e->n_known; i++)
		needle(&ids[i], e->people[i].id, strlen(e->people[i].id), "profile id %s",
		       e->people[i].id);
	needle(&ids[e->n_known], DH_DEVICE_ID, strlen(DH_DEVICE_ID), "device id");
	dh_scan_file(e->db, ids, e->n_known + 1, in_db, false, &len);
	snprintf(path, sizeof path, "%s-wal", e->db);
	dh_scan_file(path, ids, e->n_known + 1, in_wal, false, &len);
	for (size_t i = 0; i < e->n_known; i++)
		if (!in_db[i] && !in_wal[i])
			fail_msg("control: profile id %s not found in the database or WAL: the "
				 "search is blind",
				 e->people[i].id);
	if (!in_wal[e->n_known])
		fail_msg("control: the device id of the outbox rows is not in %s", path);
	free(ids);
	free(in_db);
	free(in_wal);

	/* a control file holding one person's secrets among random bytes */
	const struct dh_person *p = &e->people[e->n_known / 2];
	uint8_t *junk = malloc(8192);
	assert_non_null(junk);
	assert_int_equal(rg_random(junk, 8192), 0);
	snprintf(path, sizeof path, "%s/control.bin", e->dir);
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	fwrite(junk, 1, 4096, f);
	fputs(p->name, f);
	fwrite(junk + 4096, 1, 1000, f);
	fputs(p->card, f);
	fwrite(p->uid, 1, DH_UID_LEN, f);
	fwrite(junk + 5096, 1, 77, f);
	fputs(p->uid_lo, f);
	fputs(p->uid_up, f);
	fwrite(junk + 6000, 1, 2000, f);
	assert_int_equal(fclose(f), 0);
	free(junk);
	bool *found = calloc(n, sizeof *found);
	assert_non_null(found);
	long k = dh_scan_file(path, nd, n, found, false, &len);
	size_t want = 0;
	for (size_t i = 0; i < n; i++) {
		/* the person's own needles, and the first names/surnames they share */
		bool mine = strstr(nd[i].what, p->id) != NULL;
		if (mine && !found[i])
			fail_msg("control: %s not found in %s: the search is blind", nd[i].what,
				 path);
		want += mine;
	}
	assert_true(want == 7 && k >= 7);
	remove(path);
	free(found);
	free(nd);
	return total;
}
