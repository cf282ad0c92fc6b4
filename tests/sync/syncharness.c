/*
 * syncharness.c - see syncharness.h. Every wait is bounded; waits for a
 * device are poll() on the descriptors that carry the event (its SSE
 * stream, reader socket, stderr). The central store and the spool are read
 * through plain SQLite (read-only, WAL), the outboxes through /healthz while
 * a device runs and through the device's own store API once it stopped.
 */
#define _GNU_SOURCE /* pipe2 */
#include "syncharness.h"

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
#include <sys/wait.h>
#include <unistd.h>

#include <cJSON.h>
#include <cmocka.h>
#include <sqlite3.h>

#include "common/err.h"
#include "common/file.h"
#include "common/hlc.h"
#include "hal/keystore.h"

static sx_screen_fn screen_hook;

void sx_set_screen_hook(sx_screen_fn fn)
{
	screen_hook = fn;
}

/* ---- small things ---- */

static void write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	if (!f)
		fail_msg("cannot write %s: %s", path, strerror(errno));
	assert_true(fputs(text, f) >= 0);
	assert_int_equal(fclose(f), 0);
}

static char *slurp(const char *path, size_t *len)
{
	char *b = NULL;
	return rg_file_read(path, (size_t)1 << 30, &b, len, NULL, 0) == 0 ? b : NULL;
}

size_t sx_log_count(const char *path, const char *needle)
{
	char *log = slurp(path, NULL);
	size_t n = 0;
	for (const char *p = log; p && (p = strstr(p, needle)); p++)
		n++;
	free(log);
	return n;
}

bool sx_log_has(const char *path, const char *needle)
{
	return sx_log_count(path, needle) > 0;
}

/* The last lines of a log file on stderr, for failure messages. */
static void dump_tail(const char *what, const char *path)
{
	size_t n;
	char *log = slurp(path, &n);
	fprintf(stderr, "---- %s (%s), tail ----\n%s\n---- end ----\n", what, path,
		log ? log + (n > 4000 ? n - 4000 : 0) : "(none)");
	free(log);
}

/* Run a tool to its end (bounded); its output goes to log. Returns the exit
 * status. */
int sx_run_tool(const char *log, int timeout_ms, const char *const argv[])
{
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
		int nul = open("/dev/null", O_RDONLY);
		if (fd < 0 || nul < 0 || dup2(nul, 0) < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
			_exit(126);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	int st = 0;
	for (int64_t end = dh_now_ms() + timeout_ms;;) {
		pid_t r = waitpid(pid, &st, WNOHANG);
		if (r == pid)
			break;
		if (dh_now_ms() > end) {
			kill(pid, SIGKILL);
			waitpid(pid, &st, 0);
			dump_tail(argv[0], log);
			fail_msg("%s %s did not finish within %d ms", argv[0], argv[1], timeout_ms);
		}
		struct pollfd none;
		poll(&none, 0, 10);
	}
	if (!WIFEXITED(st)) {
		dump_tail(argv[0], log);
		fail_msg("%s %s died of signal %d", argv[0], argv[1], WTERMSIG(st));
	}
	return WEXITSTATUS(st);
}

/* ---- cards ---- */

void sx_card(int customer, char out[14])
{
	char d12[13];
	int sum = 0;
	snprintf(d12, sizeof d12, "2%011d", customer);
	for (int i = 0; i < 12; i++)
		sum += (d12[i] - '0') * (i % 2 ? 3 : 1);
	snprintf(out, 14, "%s%d", d12, (10 - sum % 10) % 10);
}

void sx_uid(int customer, char out[15])
{
	snprintf(out, 15, "04%012X", (unsigned)customer);
}

/* ---- processes ---- */

static void proc_spawn(struct sx_proc *p, const char *const argv[])
{
	pid_t parent = getpid();
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(126);
		int fd = open(p->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
		int nul = open("/dev/null", O_RDONLY);
		if (fd < 0 || nul < 0 || dup2(nul, 0) < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
			_exit(126);
		setenv("REGULARS_LOG_LEVEL", "info", 1);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	p->pid = pid;
	p->starts++;
}

void sx_proc_check(struct sx_proc *p)
{
	int st;
	if (p->pid <= 0)
		return;
	pid_t r = waitpid(p->pid, &st, WNOHANG);
	if (r == p->pid) {
		p->pid = -1;
		dump_tail(p->name, p->log);
		fail_msg("%s ended on its own (%s %d)", p->name,
			 WIFEXITED(st) ? "status" : "signal",
			 WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
	}
}

void sx_proc_kill(struct sx_proc *p)
{
	int st;
	if (p->pid <= 0)
		return;
	sx_proc_check(p);
	kill(p->pid, SIGKILL);
	waitpid(p->pid, &st, 0);
	p->pid = -1;
	p->kills++;
}

int sx_proc_term(struct sx_proc *p, int timeout_ms)
{
	int st = 0;
	if (p->pid <= 0)
		return -1;
	kill(p->pid, SIGTERM);
	for (int64_t end = dh_now_ms() + timeout_ms;;) {
		pid_t r = waitpid(p->pid, &st, WNOHANG);
		if (r == p->pid)
			break;
		if (dh_now_ms() > end) {
			kill(p->pid, SIGKILL);
			waitpid(p->pid, &st, 0);
			p->pid = -1;
			dump_tail(p->name, p->log);
			fail_msg("%s did not stop within %d ms of SIGTERM", p->name, timeout_ms);
		}
		struct pollfd none;
		poll(&none, 0, 10);
	}
	p->pid = -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

void sx_cloud_start(struct sx_world *w)
{
	const char *argv[] = {w->cloud_bin, "--config", w->cloud_cfg, NULL};
	proc_spawn(&w->cloud, argv);
}

char **sx_args(int argc, char **argv, const char *usage_more)
{
	if (argc < 6) {
		fprintf(stderr,
			"usage: %s regulars-device regulars-gateway regulars-cloud regularsctl "
			"UI-DIR%s\n",
			argc ? argv[0] : "test", usage_more ? usage_more : "");
		exit(2);
	}
	return argv;
}

void sx_gw_start(struct sx_world *w)
{
	const char *argv[] = {w->gateway_bin, "--config", w->gw_cfg, NULL};
	proc_spawn(&w->gw, argv);
}

void sx_gw2_start(struct sx_world *w)
{
	assert_non_null(w->store2);
	const char *argv[] = {w->gateway_bin, "--config", w->gw2_cfg, NULL};
	proc_spawn(&w->gw2, argv);
}

void sx_wait_log_n(struct sx_world *w, const char *path, const char *needle, size_t n,
		   int timeout_ms)
{
	for (int64_t end = dh_now_ms() + timeout_ms; sx_log_count(path, needle) < n;) {
		if (dh_now_ms() > end) {
			dump_tail("log", path);
			fail_msg("fewer than %zu \"%s\" in %s within %d ms", n, needle, path,
				 timeout_ms);
		}
		sx_pump(w, 20);
	}
}

void sx_wait_log(struct sx_world *w, const char *path, const char *needle, int timeout_ms)
{
	sx_wait_log_n(w, path, needle, 1, timeout_ms);
}

/* ---- devices ---- */

static void on_screen(struct sx_dev *d, const char *data)
{
	cJSON *j = cJSON_Parse(data);
	if (!cJSON_IsObject(j))
		fail_msg("%s: screen event is not a JSON object: %s", d->id, data);
	const cJSON *st = cJSON_GetObjectItemCaseSensitive(j, "state");
	const cJSON *iid = cJSON_GetObjectItemCaseSensitive(j, "interaction");
	if (!cJSON_IsString(st))
		fail_msg("%s: screen event without a state: %s", d->id, data);
	if (!strcmp(st->valuestring, "idle")) {
		cJSON_Delete(j);
		return;
	}
	if (!d->q_len)
		fail_msg("%s: a screen event with no tap outstanding: %s", d->id, data);
	struct sx_planned t = d->q[d->q_head];
	d->q_head = (d->q_head + 1) % SX_TAPS_WINDOW;
	d->q_len--;
	d->last_screen_ms = dh_now_ms();
	struct rg_uuid id = {0};
	if (!cJSON_IsString(iid) || rg_uuid_parse(iid->valuestring, &id) < 0)
		fail_msg("%s: a %s screen without an interaction id: %s", d->id, st->valuestring,
			 data);
	if (d->n_conf == d->cap_conf) {
		d->cap_conf = d->cap_conf ? 2 * d->cap_conf : 4096;
		d->conf = realloc(d->conf, d->cap_conf * sizeof *d->conf);
		assert_non_null(d->conf);
	}
	d->conf[d->n_conf++] = id;
	if (!strcmp(st->valuestring, "greeting")) {
		d->greetings++;
		d->named += cJSON_GetObjectItemCaseSensitive(j, "first_name") != NULL;
	} else if (!strcmp(st->valuestring, "unknown")) {
		d->unknowns++;
	} else {
		fail_msg("%s: tap of %s %d: screen state %s: %s", d->id, t.nfc ? "UID" : "card",
			 t.customer, st->valuestring, data);
	}
	if (screen_hook)
		screen_hook(d, &t, j);
	cJSON_Delete(j);
}

static void on_event(void *ctx, const char *event, const char *data)
{
	if (!strcmp(event, "screen"))
		on_screen(ctx, data);
}

void sx_dev_start(struct sx_dev *d)
{
	dh_daemon_start(&d->de, &d->d, 30000 * SX_SLOW);
	dh_tap_open(&d->tap, d->de.sock);
	dh_sse_open(&d->sse, d->d.port, 10000 * SX_SLOW);
	d->q_head = d->q_len = 0;
	d->running = true;
	d->starts++;
}

static void dev_close_clients(struct sx_dev *d)
{
	dh_sse_close(&d->sse);
	dh_tap_close(&d->tap);
}

void sx_dev_kill(struct sx_dev *d)
{
	assert_true(d->running);
	dh_daemon_kill(&d->d);
	/* What reached our socket before the kill is still a confirmation. */
	dh_sse_pump(&d->sse, on_event, d);
	d->maybe_extra += d->q_len;
	d->q_head = d->q_len = 0;
	dev_close_clients(d);
	dh_daemon_free(&d->d);
	d->running = false;
	d->kills++;
}

void sx_dev_term(struct sx_dev *d, int timeout_ms)
{
	int st = 0;
	assert_true(d->running);
	assert_int_equal(d->q_len, 0);
	assert_int_equal(kill(d->d.pid, SIGTERM), 0);
	for (int64_t end = dh_now_ms() + timeout_ms; dh_daemon_pump(&d->d) == 0;) {
		struct pollfd p = {.fd = d->d.err_fd, .events = POLLIN};
		if (dh_now_ms() > end) {
			dh_daemon_dump(&d->d, "no clean stop");
			fail_msg("%s did not stop within %d ms of SIGTERM", d->id, timeout_ms);
		}
		poll(&p, 1, 50);
	}
	assert_int_equal(waitpid(d->d.pid, &st, 0), d->d.pid);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		dh_daemon_dump(&d->d, "unclean stop");
		fail_msg("%s stopped with %s %d after SIGTERM", d->id,
			 WIFEXITED(st) ? "status" : "signal",
			 WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
	}
	d->d.pid = -1;
	dev_close_clients(d);
	dh_daemon_free(&d->d);
	d->running = false;
}

int sx_tap(struct sx_dev *d, int customer, bool nfc)
{
	char line[64], v[16];
	if (!d->running || d->q_len == SX_TAPS_WINDOW)
		return -1;
	if (nfc) {
		sx_uid(customer, v);
		snprintf(line, sizeof line, "nfc %s", v);
	} else {
		sx_card(customer, v);
		snprintf(line, sizeof line, "barcode %s", v);
	}
	if (dh_tap_send(&d->tap, line) < 0)
		return -1;
	d->q[(d->q_head + d->q_len) % SX_TAPS_WINDOW] = (struct sx_planned){customer, nfc};
	d->q_len++;
	d->taps_sent++;
	return 0;
}

size_t sx_tap_fill(struct sx_dev *d, int known_pct, size_t budget)
{
	struct dh_rng *r = &d->w->rng;
	size_t n = 0;
	while (n < budget && d->running && d->q_len < SX_TAPS_WINDOW) {
		int who;
		bool nfc = false;
		if (dh_range(r, 0, 99) < known_pct) {
			who = (int)dh_range(r, 1, d->w->n_customers);
			nfc = (who & 1) && dh_range(r, 0, 1);
		} else {
			/* strangers: valid cards beyond the generated customers */
			who = d->w->n_customers + 1 + (int)dh_range(r, 0, 99999);
		}
		if (sx_tap(d, who, nfc) < 0)
			break;
		n++;
	}
	return n;
}

void sx_pump(struct sx_world *w, int timeout_ms)
{
	struct pollfd p[3 * SX_DEVS_MAX];
	int n = 0;
	for (int i = 0; i < w->n_dev; i++) {
		struct sx_dev *d = &w->dev[i];
		if (!d->running)
			continue;
		p[n++] = (struct pollfd){.fd = d->sse.fd, .events = POLLIN};
		p[n++] = (struct pollfd){.fd = d->tap.fd, .events = POLLIN};
		p[n++] = (struct pollfd){.fd = d->d.err_fd, .events = POLLIN};
	}
	if (poll(p, (nfds_t)n, timeout_ms) < 0 && errno != EINTR)
		fail_msg("poll: %s", strerror(errno));
	for (int i = 0; i < w->n_dev; i++) {
		struct sx_dev *d = &w->dev[i];
		if (!d->running)
			continue;
		if (dh_sse_pump(&d->sse, on_event, d)) {
			dh_daemon_dump(&d->d, "the event stream ended");
			fail_msg("%s: the event stream ended under a live daemon", d->id);
		}
		dh_tap_pump(&d->tap);
		if (dh_daemon_pump(&d->d)) {
			dh_daemon_dump(&d->d, "the daemon closed its stderr");
			fail_msg("%s went away on its own", d->id);
		}
	}
}

void sx_settle(struct sx_world *w, int timeout_ms)
{
	for (int64_t end = dh_now_ms() + timeout_ms;;) {
		bool idle = true;
		for (int i = 0; i < w->n_dev; i++)
			if (w->dev[i].running && w->dev[i].q_len)
				idle = false;
		if (idle)
			return;
		if (dh_now_ms() > end)
			fail_msg("taps still outstanding after %d ms", timeout_ms);
		sx_pump(w, 50);
	}
}

/* ---- state ---- */

long sx_http(struct sx_dev *d, const char *method, const char *path, const char *cookie,
	     const char *body, char *buf, size_t cap)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)d->d.port),
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	char req[2048];
	size_t len = 0;
	int rn = snprintf(req, sizeof req,
			  "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
			  "%s%s%s"
			  "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
			  method, path, cookie ? "Cookie: " : "", cookie ? cookie : "",
			  cookie ? "\r\n" : "", body ? strlen(body) : 0, body ? body : "");
	assert_true(rn > 0 && (size_t)rn < sizeof req);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	buf[0] = '\0';
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0 ||
	    send(fd, req, (size_t)rn, MSG_NOSIGNAL) != rn) {
		close(fd);
		return -1;
	}
	for (int64_t end = dh_now_ms() + 5000 * SX_SLOW; len < cap - 1;) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		int64_t left = end - dh_now_ms();
		if (left <= 0 || poll(&p, 1, (int)left) <= 0)
			break;
		ssize_t r = recv(fd, buf + len, cap - 1 - len, 0);
		if (r <= 0)
			break;
		len += (size_t)r;
	}
	close(fd);
	buf[len] = '\0';
	return (long)len;
}

long sx_http_get(struct sx_dev *d, const char *path, char *buf, size_t cap)
{
	return sx_http(d, "GET", path, NULL, NULL, buf, cap);
}

long sx_dev_outbox(struct sx_dev *d)
{
	char buf[4096];
	if (sx_http_get(d, "/healthz", buf, sizeof buf) <= 0)
		return -1;
	const char *o = strstr(buf, "\"outbox\":");
	return o ? strtol(o + 9, NULL, 10) : -1;
}

void sx_wait_dev_log(struct sx_world *w, struct sx_dev *d, const char *needle, int timeout_ms)
{
	for (int64_t end = dh_now_ms() + timeout_ms; !(d->d.log && strstr(d->d.log, needle));) {
		if (dh_now_ms() > end) {
			dh_daemon_dump(&d->d, "waiting");
			fail_msg("%s: no \"%s\" in its log within %d ms", d->id, needle, timeout_ms);
		}
		sx_pump(w, 20);
	}
}

static sqlite3 *db_ro(const char *path)
{
	sqlite3 *db = NULL;
	int rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL);
	if (rc != SQLITE_OK)
		fail_msg("open %s: %s", path, sqlite3_errstr(rc));
	sqlite3_busy_timeout(db, 10000);
	return db;
}

static long db_long(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st = NULL;
	long v = -1;
	int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
	if (rc != SQLITE_OK)
		fail_msg("%s: %s", sql, sqlite3_errmsg(db));
	if ((rc = sqlite3_step(st)) == SQLITE_ROW)
		v = (long)sqlite3_column_int64(st, 0);
	else if (rc != SQLITE_DONE)
		fail_msg("%s: %s", sql, sqlite3_errmsg(db));
	sqlite3_finalize(st);
	return v;
}

long sx_spool_batches(struct sx_world *w)
{
	struct stat sb;
	if (stat(w->gw_spool, &sb) != 0)
		return 0;
	sqlite3 *db = db_ro(w->gw_spool);
	long n = db_long(db, "SELECT count(*) FROM batches");
	sqlite3_close(db);
	return n;
}

long sx_central_count(struct sx_world *w)
{
	sqlite3 *db = db_ro(w->cloud_db);
	long n = db_long(db, "SELECT count(*) FROM interactions WHERE device LIKE 'dev-%'");
	sqlite3_close(db);
	return n;
}

size_t sx_confirmed(const struct sx_world *w)
{
	size_t n = 0;
	for (int i = 0; i < w->n_dev; i++)
		n += w->dev[i].n_conf;
	return n;
}

int64_t sx_wait_drained(struct sx_world *w, int timeout_ms)
{
	int64_t t0 = dh_now_ms(), end = t0 + timeout_ms, next = 0;
	for (;;) {
		int64_t now = dh_now_ms();
		if (now >= next) {
			bool done = sx_central_count(w) >= (long)sx_confirmed(w);
			for (int i = 0; done && i < w->n_dev; i++)
				if (w->dev[i].running && sx_dev_outbox(&w->dev[i]) != 0)
					done = false;
			if (done && sx_spool_batches(w) != 0)
				done = false;
			if (done)
				return dh_now_ms() - t0;
			next = now + 100;
		}
		if (now > end) {
			fprintf(stderr, "drain timeout: central %ld of %zu confirmed, spool %ld;",
				sx_central_count(w), sx_confirmed(w), sx_spool_batches(w));
			for (int i = 0; i < w->n_dev; i++)
				fprintf(stderr, " %s outbox %ld", w->dev[i].id,
					w->dev[i].running ? sx_dev_outbox(&w->dev[i]) : -1L);
			fprintf(stderr, "\n");
			dump_tail("gateway", w->gw.log);
			dump_tail("cloud", w->cloud.log);
			w->keep = true;
			fail_msg("not drained within %d ms", timeout_ms);
		}
		sx_pump(w, 20);
		sx_proc_check(&w->gw);
		sx_proc_check(&w->cloud);
	}
}

static int uuid_cmp(const void *a, const void *b)
{
	return memcmp(a, b, sizeof(struct rg_uuid));
}

struct conf_ref {
	struct rg_uuid id;
	size_t pos; /* index in the device's confirmation order */
	int64_t seq; /* central's order of application; 0 = not seen */
};

static int ref_cmp(const void *a, const void *b)
{
	return uuid_cmp(&((const struct conf_ref *)a)->id, &((const struct conf_ref *)b)->id);
}

static void check_device_rows(struct sx_world *w, sqlite3 *db, struct sx_dev *d)
{
	struct conf_ref *refs = calloc(d->n_conf ? d->n_conf : 1, sizeof *refs);
	sqlite3_stmt *st = NULL;
	size_t rows = 0, extra = 0;
	uint64_t last_hlc = 0;
	int64_t last_seq = 0;
	assert_non_null(refs);
	for (size_t i = 0; i < d->n_conf; i++)
		refs[i] = (struct conf_ref){d->conf[i], i, 0};
	qsort(refs, d->n_conf, sizeof *refs, ref_cmp);
	for (size_t i = 1; i < d->n_conf; i++)
		if (!uuid_cmp(&refs[i - 1].id, &refs[i].id))
			fail_msg("%s: two screens confirmed the same interaction id", d->id);

	assert_int_equal(sqlite3_prepare_v2(db,
					    "SELECT id, hlc, seq, kind FROM interactions "
					    "WHERE device = ?1 ORDER BY seq",
					    -1, &st, NULL),
			 SQLITE_OK);
	sqlite3_bind_text(st, 1, d->id, -1, SQLITE_STATIC);
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *id = (const char *)sqlite3_column_text(st, 0);
		uint64_t hlc = (uint64_t)sqlite3_column_int64(st, 1);
		int64_t seq = sqlite3_column_int64(st, 2);
		const char *kind = (const char *)sqlite3_column_text(st, 3);
		struct conf_ref key;
		rows++;
		if (rg_uuid_parse(id, &key.id) < 0)
			fail_msg("%s: central row with a bad id %s", d->id, id);
		if (strcmp(kind, "identified") && strcmp(kind, "unknown_identifier"))
			fail_msg("%s: central holds a %s the test never caused", d->id, kind);
		/* Per device and lane (all of these are interactions): central's
		 * order of application follows the device's HLC order. */
		if (rows > 1 && hlc <= last_hlc) {
			w->keep = true;
			fail_msg("%s: central applied %s (hlc %llu, seq %lld) after hlc %llu "
				 "(seq %lld): the device's order was not kept",
				 d->id, id, (unsigned long long)hlc, (long long)seq,
				 (unsigned long long)last_hlc, (long long)last_seq);
		}
		last_hlc = hlc;
		last_seq = seq;
		struct conf_ref *r = bsearch(&key, refs, d->n_conf, sizeof *refs, ref_cmp);
		if (!r)
			extra++;
		else if (r->seq)
			fail_msg("%s: interaction %s twice in central", d->id, id);
		else
			r->seq = seq;
	}
	assert_int_equal(rc, SQLITE_DONE);
	sqlite3_finalize(st);

	/* Every confirmed one is there, in the order the screens confirmed them. */
	int64_t *by_pos = calloc(d->n_conf ? d->n_conf : 1, sizeof *by_pos);
	assert_non_null(by_pos);
	for (size_t i = 0; i < d->n_conf; i++) {
		if (!refs[i].seq) {
			char text[RG_UUID_STR_LEN + 1];
			w->keep = true;
			fail_msg("%s: confirmed interaction %s (#%zu of %zu) is not in central",
				 d->id, rg_uuid_format(&refs[i].id, text), refs[i].pos, d->n_conf);
		}
		by_pos[refs[i].pos] = refs[i].seq;
	}
	for (size_t i = 1; i < d->n_conf; i++)
		if (by_pos[i] <= by_pos[i - 1])
			fail_msg("%s: confirmation #%zu applied (seq %lld) before #%zu (seq %lld)",
				 d->id, i, (long long)by_pos[i], i - 1, (long long)by_pos[i - 1]);
	if (extra > d->maybe_extra)
		fail_msg("%s: %zu interactions in central that no screen confirmed, but only "
			 "%zu taps were in flight at a kill",
			 d->id, extra, d->maybe_extra);

	/* Central's own per-device record agrees: all applied, none out of order. */
	assert_int_equal(sqlite3_prepare_v2(db,
					    "SELECT applied, out_of_order FROM devices "
					    "WHERE device = ?1 AND lane = 'interactions'",
					    -1, &st, NULL),
			 SQLITE_OK);
	sqlite3_bind_text(st, 1, d->id, -1, SQLITE_STATIC);
	if (rows) {
		assert_int_equal(sqlite3_step(st), SQLITE_ROW);
		int64_t applied = sqlite3_column_int64(st, 0), ooo = sqlite3_column_int64(st, 1);
		if (applied != (int64_t)rows || ooo != 0)
			fail_msg("%s: devices row says applied=%lld out_of_order=%lld, rows=%zu",
				 d->id, (long long)applied, (long long)ooo, rows);
	}
	sqlite3_finalize(st);
	print_message("  %s: %zu confirmed, %zu in central (%zu unconfirmed, <= %zu in flight "
		      "at kills), %d starts, %d kills\n",
		      d->id, d->n_conf, rows, extra, d->maybe_extra, d->starts, d->kills);
	free(by_pos);
	free(refs);
}

static void check_outbox_empty(struct sx_dev *d)
{
	struct store_config sc = {.path = d->de.db,
				  .key = d->de.store_key,
				  .device_id = d->id,
				  .store_id = d->store_id};
	struct store *s = NULL;
	struct store_stats st;
	int rc = store_open(&sc, &s);
	if (rc < 0)
		fail_msg("store_open %s: %s", d->de.db, rg_strerror(rc));
	assert_int_equal(store_stats_get(s, &st), 0);
	store_close(s);
	if (st.outbox != 0)
		fail_msg("%s: %lld rows left in the outbox", d->id, (long long)st.outbox);
}

void sx_check_end_state(struct sx_world *w)
{
	for (int i = 0; i < w->n_dev; i++)
		if (w->dev[i].running)
			sx_dev_term(&w->dev[i], 20000 * SX_SLOW);
	if (w->gw.pid > 0)
		assert_int_equal(sx_proc_term(&w->gw, 20000 * SX_SLOW), 0);
	if (w->cloud.pid > 0)
		assert_int_equal(sx_proc_term(&w->cloud, 20000 * SX_SLOW), 0);

	for (int i = 0; i < w->n_dev; i++)
		check_outbox_empty(&w->dev[i]);
	sqlite3 *sp = db_ro(w->gw_spool);
	long b = db_long(sp, "SELECT count(*) FROM batches");
	long it = db_long(sp, "SELECT count(*) FROM items");
	sqlite3_close(sp);
	if (b || it)
		fail_msg("the gateway spool holds %ld batches, %ld items", b, it);

	sqlite3 *db = db_ro(w->cloud_db);
	long ours = 0, all = db_long(db, "SELECT count(*) FROM interactions");
	for (int i = 0; i < w->n_dev; i++) {
		check_device_rows(w, db, &w->dev[i]);
		char sql[200];
		snprintf(sql, sizeof sql, "SELECT count(*) FROM interactions WHERE device = '%s'",
			 w->dev[i].id);
		ours += db_long(db, sql);
	}
	if (all != ours)
		fail_msg("central holds %ld interactions, %ld from the test's devices", all, ours);
	/* No double effect on derived state: one visit per applied identified item. */
	long visits = db_long(db, "SELECT coalesce(sum(visits), 0) FROM profiles");
	long identified = db_long(db, "SELECT count(*) FROM interactions "
				      "WHERE kind = 'identified' AND outcome = 'applied'");
	if (visits != identified)
		fail_msg("profiles count %ld visits for %ld applied identified interactions",
			 visits, identified);
	sqlite3_close(db);
}

/* ---- the world ---- */

static void put_key(struct hal_keystore *ks, const char *name, const uint8_t *v, size_t n)
{
	int rc = hal_keystore_put(ks, name, v, n);
	if (rc < 0)
		fail_msg("keystore put %s: %s", name, rg_strerror(rc));
}

static void dev_setup(struct sx_world *w, struct sx_dev *d, const struct sx_dev_opts *o)
{
	struct dh_env *e = &d->de;
	char ca[400], crt[400], key[400], opts[300], cfg[4096];
	uint8_t totp[32];
	struct hal_keystore *ks = NULL;

	memset(d, 0, sizeof *d);
	d->w = w;
	snprintf(d->id, sizeof d->id, "%s", o->id);
	d->handheld = o->handheld;
	d->store_id = o->store2 ? SX_STORE2 : SX_STORE;
	assert_true(!o->store2 || w->store2);
	d->lookup_timeout_ms = o->lookup_timeout_ms;
	d->batch_max = o->batch_max ? o->batch_max : 100;
	d->resend_ms = o->resend_ms ? o->resend_ms : 2000;
	d->d.pid = -1;
	d->d.err_fd = -1;
	d->sse.fd = d->tap.fd = -1;
	e->daemon = w->device_bin;
	e->ui = w->ui_dir;
	snprintf(e->dir, sizeof e->dir, "%.99s/%.40s", w->dir, d->id);
	snprintf(e->db, sizeof e->db, "%s/device.db", e->dir);
	snprintf(e->keys, sizeof e->keys, "%s/keys", e->dir);
	snprintf(e->sock, sizeof e->sock, "%s/reader.sock", e->dir);
	snprintf(e->config, sizeof e->config, "%s/device.json", e->dir);
	assert_int_equal(mkdir(e->dir, 0700), 0);
	assert_int_equal(mkdir(e->keys, 0700), 0);

	assert_int_equal(tb_env_file(w->env, "ca", ".crt", ca, sizeof ca), 0);
	assert_int_equal(tb_env_file(w->env, d->id, ".crt", crt, sizeof crt), 0);
	assert_int_equal(tb_env_file(w->env, d->id, ".key", key, sizeof key), 0);

	/* The tenant's key (shared with central), and the device's own two. */
	memcpy(e->tenant_key, w->tenant_key, sizeof e->tenant_key);
	assert_int_equal(rg_random(e->store_key, sizeof e->store_key), 0);
	assert_int_equal(rg_random(totp, sizeof totp), 0);
	snprintf(opts, sizeof opts, "dir=%s", e->keys);
	int rc = hal_keystore_open("file", opts, &ks);
	if (rc < 0)
		fail_msg("keystore %s: %s", opts, rg_strerror(rc));
	put_key(ks, "tenant.key", w->tenant_key, sizeof w->tenant_key);
	put_key(ks, "store.key", e->store_key, sizeof e->store_key);
	put_key(ks, "totp.key", totp, sizeof totp);
	hal_keystore_close(ks);

	int n = snprintf(
	    cfg, sizeof cfg,
	    "{\n"
	    "  \"device_id\": \"%s\",\n"
	    "  \"store_id\": \"%s\",\n"
	    "  \"role\": \"%s\",\n"
	    "  \"database\": \"%s\",\n"
	    "  \"keystore\": {\"backend\": \"file\", \"options\": \"dir=%s\"},\n"
	    "  \"readers\": [{\"backend\": \"sim\", \"options\": \"path=%s\"}],\n"
	    "  \"http\": {\"bind\": \"127.0.0.1\", \"port\": 0, \"assets\": \"%s\"},\n"
	    "  \"screen\": {\"idle_after_ms\": 600000},\n"
	    "  \"uplink\": {\"host\": \"localhost\", \"port\": %u, \"ca_file\": \"%s\",\n"
	    "             \"cert_file\": \"%s\", \"key_file\": \"%s\", \"batch_max\": %d,\n"
	    "             \"resend_ms\": %d, \"lookup_timeout_ms\": %d}%s%s%s%s%s\n"
	    "}\n",
	    d->id, d->store_id, d->handheld ? "handheld" : "kiosk", e->db, e->keys, e->sock,
	    w->ui_dir, tb_broker_port(o->store2 ? w->store2 : w->store), ca, crt, key, d->batch_max, d->resend_ms,
	    d->lookup_timeout_ms, o->config_trust ? ",\n  \"config\": {\"trust_anchor\": \"" : "",
	    o->config_trust ? o->config_trust : "", o->config_trust ? "\"}" : "",
	    o->extra_json ? ",\n  " : "", o->extra_json ? o->extra_json : "");
	assert_true(n > 0 && (size_t)n < sizeof cfg);
	write_text(e->config, cfg);

	if (o->seed_cache) {
		char log[400];
		snprintf(log, sizeof log, "%s/seed.log", e->dir);
		const char *argv[] = {w->ctl_bin, "device",    "seed", "--config",
				      e->config,  "--file", w->customers, NULL};
		if (sx_run_tool(log, 120000, argv) != 0) {
			dump_tail("regularsctl device seed", log);
			fail_msg("regularsctl device seed failed for %s", d->id);
		}
	}
}

/* Store store's gateway configuration (gw-<store>), to the central broker
 * through wan when there is one. */
static void gw_config(struct sx_world *w, const struct sx_world_opts *o, const char *store,
		      struct tb_broker *b, struct fp_proxy *wan, const char *cfg, const char *spool)
{
	char ca[400], crt[400], key[400], id[40], text[4096], replica[64] = "";
	snprintf(id, sizeof id, "gw-%s", store);
	if (o->gw_pull_ms)
		snprintf(replica, sizeof replica, ",\"replica\":{\"pull_ms\":%d}", o->gw_pull_ms);
	assert_int_equal(tb_env_file(w->env, "ca", ".crt", ca, sizeof ca), 0);
	assert_int_equal(tb_env_file(w->env, id, ".crt", crt, sizeof crt), 0);
	assert_int_equal(tb_env_file(w->env, id, ".key", key, sizeof key), 0);
	int n = snprintf(
	    text, sizeof text,
	    "{\"store_id\":\"%s\",\"identity\":\"%s\","
	    "\"store_broker\":{\"host\":\"localhost\",\"port\":%u},"
	    "\"central_broker\":{\"host\":\"localhost\",\"port\":%u},"
	    "\"tls\":{\"ca_file\":\"%s\",\"cert_file\":\"%s\",\"key_file\":\"%s\"},"
	    "\"spool\":{\"path\":\"%s\"},"
	    "\"forward\":{\"window\":%d,\"resend_ms\":%d}%s,"
	    "\"stats_interval_s\":5%s%s%s}\n",
	    store, id, tb_broker_port(b), wan ? fp_port(wan) : tb_broker_port(w->central), ca, crt,
	    key, spool, o->gw_window ? o->gw_window : 64, o->gw_resend_ms ? o->gw_resend_ms : 2000,
	    replica, o->gw_config_trust ? ",\"config\":{\"trust_anchor\":\"" : "",
	    o->gw_config_trust ? o->gw_config_trust : "", o->gw_config_trust ? "\"}" : "");
	assert_true(n > 0 && (size_t)n < sizeof text);
	write_text(cfg, text);
}

void sx_world_create(struct sx_world *w, char **argv, const struct sx_world_opts *o)
{
	char ca[400], crt[400], key[400], text[4096], log[400], count[16];
	int n;

	memset(w, 0, sizeof *w);
	w->device_bin = argv[1];
	w->gateway_bin = argv[2];
	w->cloud_bin = argv[3];
	w->ctl_bin = argv[4];
	w->ui_dir = argv[5];
	w->rng.s = o->seed;
	w->gw.name = "regulars-gateway";
	w->gw2.name = "regulars-gateway (" SX_STORE2 ")";
	w->cloud.name = "regulars-cloud";
	w->gw.pid = w->gw2.pid = w->cloud.pid = -1;
	signal(SIGPIPE, SIG_IGN);

	assert_int_equal(tb_env_create(&w->env, "acme"), 0);
	if (strlen(tb_env_dir(w->env)) >= sizeof w->dir - 1)
		fail_msg("temp dir %s is too long (sun_path)", tb_env_dir(w->env));
	snprintf(w->dir, sizeof w->dir, "%s", tb_env_dir(w->env));
	assert_int_equal(tb_env_issue(w->env, PKI_KIND_GATEWAY, SX_GW, SX_STORE), 0);
	assert_int_equal(tb_env_issue(w->env, PKI_KIND_CLOUD, SX_CLOUD, NULL), 0);
	if (o->it_identity)
		assert_int_equal(tb_env_issue(w->env, PKI_KIND_IT, o->it_identity, NULL), 0);
	/* Every identity before the brokers start: their ACLs are generated then. */
	for (int i = 0; i < o->n_devs; i++)
		assert_int_equal(tb_env_issue(w->env, PKI_KIND_DEVICE, o->devs[i].id,
					      o->devs[i].store2 ? SX_STORE2 : SX_STORE),
				 0);
	if (o->second_store)
		assert_int_equal(tb_env_issue(w->env, PKI_KIND_GATEWAY, SX_GW2, SX_STORE2), 0);
	assert_int_equal(tb_broker_start(w->env, PKI_BROKER_STORE, SX_STORE, &w->store), 0);
	if (o->second_store)
		assert_int_equal(tb_broker_start(w->env, PKI_BROKER_STORE, SX_STORE2, &w->store2), 0);
	assert_int_equal(tb_broker_start(w->env, PKI_BROKER_CENTRAL, NULL, &w->central), 0);
	if (o->wan_proxy)
		assert_int_equal(fp_start(tb_broker_port(w->central), &w->wan), 0);
	if (o->wan_proxy && o->second_store)
		assert_int_equal(fp_start(tb_broker_port(w->central), &w->wan2), 0);

	/* One tenant key for central and every device. */
	assert_int_equal(rg_random(w->tenant_key, sizeof w->tenant_key), 0);
	snprintf(w->tenant_key_file, sizeof w->tenant_key_file, "%s/tenant.key", w->dir);
	FILE *f = fopen(w->tenant_key_file, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(w->tenant_key, 1, sizeof w->tenant_key, f), sizeof w->tenant_key);
	assert_int_equal(fclose(f), 0);

	/* Customers, generated by the real CLI, seeded into central. */
	w->n_customers = o->customers;
	snprintf(w->customers, sizeof w->customers, "%s/customers.jsonl", w->dir);
	snprintf(log, sizeof log, "%s/tools.log", w->dir);
	snprintf(count, sizeof count, "%d", o->customers);
	{
		const char *a[] = {w->ctl_bin, "customers", "generate", "--count", count,
				   "--seed",   "7",		"--out",     w->customers, NULL};
		if (sx_run_tool(log, 60000, a) != 0) {
			dump_tail("tools", log);
			fail_msg("regularsctl customers generate failed");
		}
	}
	snprintf(w->cloud_db, sizeof w->cloud_db, "%s/cloud.db", w->dir);
	snprintf(w->cloud_cfg, sizeof w->cloud_cfg, "%s/cloud.json", w->dir);
	snprintf(w->cloud.log, sizeof w->cloud.log, "%s/cloud.log", w->dir);
	assert_int_equal(tb_env_file(w->env, "ca", ".crt", ca, sizeof ca), 0);
	assert_int_equal(tb_env_file(w->env, SX_CLOUD, ".crt", crt, sizeof crt), 0);
	assert_int_equal(tb_env_file(w->env, SX_CLOUD, ".key", key, sizeof key), 0);
	n = snprintf(text, sizeof text,
		     "{\"identity\":\"" SX_CLOUD "\","
		     "\"broker\":{\"host\":\"localhost\",\"port\":%u},"
		     "\"tls\":{\"ca_file\":\"%s\",\"cert_file\":\"%s\",\"key_file\":\"%s\"},"
		     "\"store\":{\"backend\":\"sqlite\",\"path\":\"%s\"},"
		     "\"tenant_key_file\":\"%s\",\"stats_interval_s\":5,"
		     "\"replication\":{\"policy\":\"%s\"}}\n",
		     tb_broker_port(w->central), ca, crt, key, w->cloud_db, w->tenant_key_file,
		     o->cloud_policy ? o->cloud_policy : "all");
	assert_true(n > 0 && (size_t)n < sizeof text);
	write_text(w->cloud_cfg, text);
	{
		const char *a[] = {w->cloud_bin, "--config", w->cloud_cfg, "--seed", w->customers,
				   NULL};
		if (sx_run_tool(log, 120000, a) != 0) {
			dump_tail("tools", log);
			fail_msg("regulars-cloud --seed failed");
		}
	}

	/* The gateway(s), through the WAN proxy when there is one. */
	snprintf(w->gw_cfg, sizeof w->gw_cfg, "%s/gateway.json", w->dir);
	snprintf(w->gw_spool, sizeof w->gw_spool, "%s/spool.db", w->dir);
	snprintf(w->gw.log, sizeof w->gw.log, "%s/gateway.log", w->dir);
	gw_config(w, o, SX_STORE, w->store, w->wan, w->gw_cfg, w->gw_spool);
	if (o->second_store) {
		snprintf(w->gw2_cfg, sizeof w->gw2_cfg, "%s/gateway-" SX_STORE2 ".json", w->dir);
		snprintf(w->gw2_spool, sizeof w->gw2_spool, "%s/spool-" SX_STORE2 ".db", w->dir);
		snprintf(w->gw2.log, sizeof w->gw2.log, "%s/gateway-" SX_STORE2 ".log", w->dir);
		gw_config(w, o, SX_STORE2, w->store2, w->wan2, w->gw2_cfg, w->gw2_spool);
	}

	assert_true(o->n_devs <= SX_DEVS_MAX);
	for (int i = 0; i < o->n_devs; i++)
		dev_setup(w, &w->dev[i], &o->devs[i]);
	w->n_dev = o->n_devs;
}

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

void sx_world_free(struct sx_world *w, bool passed)
{
	char keep[300];
	const char *k = getenv("RG_TEST_KEEP");
	bool keep_dir = k && (!passed || w->keep || !strcmp(k, "always"));
	for (int i = 0; i < w->n_dev; i++) {
		struct sx_dev *d = &w->dev[i];
		dev_close_clients(d);
		dh_daemon_free(&d->d);
		free(d->conf);
		rg_wipe(d->de.store_key, sizeof d->de.store_key);
	}
	if (w->gw.pid > 0) {
		kill(w->gw.pid, SIGKILL);
		waitpid(w->gw.pid, NULL, 0);
	}
	if (w->gw2.pid > 0) {
		kill(w->gw2.pid, SIGKILL);
		waitpid(w->gw2.pid, NULL, 0);
	}
	if (w->cloud.pid > 0) {
		kill(w->cloud.pid, SIGKILL);
		waitpid(w->cloud.pid, NULL, 0);
	}
	fp_stop(w->wan);
	fp_stop(w->wan2);
	snprintf(keep, sizeof keep, "%s", w->dir);
	if (keep_dir)
		setenv("TB_KEEP", "1", 1); /* tb_env_free leaves the directory then */
	tb_env_free(w->env);
	if (!keep_dir && keep[0])
		nftw(keep, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	rg_wipe(w->tenant_key, sizeof w->tenant_key);
	memset(w, 0, sizeof *w);
}
