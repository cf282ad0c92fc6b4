/*
 * bench_sync.c - the sync path end to end, beside two baselines measured in
 * the same run. The system under test is real: a store broker and a central
 * broker (Mosquitto, mutual TLS, configs from rg_testbroker), the real
 * regulars-gateway and regulars-cloud processes, and in this process a device
 * store pre-filled with N interactions that the device uplink drains.
 *   throughput: N / (uplink start -> outbox empty, i.e. every row acked by
 *               central after its commit), and N / (start -> central's DB
 *               holds all N rows); --drains times (default 3) from full
 *               outboxes, refilled in between, the median drain reported;
 *   latency:    single interactions appended at a steady rate, each followed
 *               by uplink_notify; append -> the row deleted by central's ack.
 * Baselines: raw Mosquitto QoS 1 pub/sub of the uplink's own batch documents
 * through the store broker (same TLS, same identities and ACLs), and raw
 * batched SQLite inserts of the same rows (WAL, synchronous FULL, one
 * transaction per batch).
 *   lookups:    a device's cache-miss lookup (uplink_lookup) of a random
 *               customer through the store broker to the gateway and back,
 *               median and p99 over two passes (the first may go on to
 *               central; answers fill the gateway's replica), beside a raw
 *               MQTT v5 request/response round trip of the same sizes over
 *               the same broker, identities and TLS.
 *   snapshot:   a central store of --snapshot customers whose change log is
 *               past its retention; a fresh gateway is told snapshot_needed
 *               and takes the whole store in chunks: the time from its start
 *               to its snapshot_done (built by regulars-cloud, through the
 *               central broker with TLS, loaded into the replica), beside a
 *               raw SQLite copy of the same rows from the central file into
 *               a new file (batched inserts, WAL, synchronous FULL). One JSON line per measurement on stdout, progress
 * on stderr. Bench code: it owns its temp dir and the processes it starts.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "cloud/store.h"
#include "common/crypto.h"
#include "common/err.h"
#include "common/file.h"
#include "common/log.h"
#include "common/mqtt.h"
#include "common/wire.h"
#include "firmware/store.h"
#include "firmware/uplink.h"
#include "testbroker.h"
#include "uplink_internal.h" /* the uplink's own batcher: the baseline's documents */

#include "bench_fixture.h"

#define STORE "0042"
#define GW "gw-" STORE
#define DEV "dev-" STORE "-k1" /* device 1; device k is dev-0042-k<k> */
#define DEVICES_MAX 16
#define DRAINS_MAX 9
#define WARM "dev-" STORE "-w1"
#define CLOUD "cloud-1"
#define UP_TOPIC "rg/v1/s/" STORE "/d/" DEV "/up/interactions"
#define UP_FILTER "rg/v1/s/" STORE "/d/+/up/#"
#define PATH_CAP 512

struct opts {
	long snapshot;	/* customers of the snapshot phase; 0 skips it */
	long lookups;	/* lookups per pass in the lookup phase; 0 skips it */
	long items;	/* N for the throughput phase */
	int batch;	/* uplink batch_max, and the baselines' batch size */
	int devices;	/* devices sharing the N interactions (the gateway pipelines across them) */
	int drains;	/* throughput drains of N each; the median is reported */
	int rate;	/* latency phase: appends per second */
	int seconds;	/* latency phase: duration */
	long profiles;	/* customers seeded centrally */
	int fwd_window; /* gateway forward.window (0: daemon default) */
	int fwd_bundle; /* gateway forward.bundle (0: daemon default) */
	int fwd_resend; /* gateway forward.resend_ms (0: daemon default) */
	int resend_ms;	/* uplink resend_ms (0: default) */
	int mqtt_window; /* baseline publisher: QoS 1 messages awaiting PUBACK */
	int timeout_s;	 /* bound on each wait */
	const char *dir; /* work here instead of a temp dir */
	bool keep;	 /* keep files and print where */
	bool no_baselines;
};

/* ---- small helpers ---- */

static double now_s(void)
{
	return (double)bench_now_ns() / 1e9;
}

static void sleep_us(long us)
{
	struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
	nanosleep(&ts, NULL);
}

static char *slurp(const char *path)
{
	char *buf = NULL;
	return rg_file_read(path, (size_t)1 << 30, &buf, NULL, NULL, 0) == 0 ? buf : NULL;
}

static bool log_has(const char *path, const char *needle)
{
	char *s = slurp(path);
	bool yes = s && strstr(s, needle);
	free(s);
	return yes;
}

/* The last line of a log holding needle, into out ("" if none). */
static void log_last_line(const char *path, const char *needle, char *out, size_t cap)
{
	char *s = slurp(path), *hit = NULL;
	out[0] = '\0';
	if (!s)
		return;
	for (char *p = strstr(s, needle); p; p = strstr(p + 1, needle))
		hit = p;
	if (hit) {
		while (hit > s && hit[-1] != '\n')
			hit--;
		size_t n = strcspn(hit, "\n");
		snprintf(out, cap, "%.*s", (int)n, hit);
	}
	free(s);
}

/* CPU seconds (user + system) a process has used, or -1. pid 0: this one. */
static double cpu_s(pid_t pid)
{
	char path[64], buf[1024], *p;
	unsigned long ut, st;
	FILE *f;
	if (pid < 0)
		return -1;
	snprintf(path, sizeof path, pid ? "/proc/%d/stat" : "/proc/self/stat", (int)pid);
	if (!(f = fopen(path, "r")))
		return -1;
	p = fgets(buf, sizeof buf, f);
	fclose(f);
	/* after "pid (comm) ": state is field 3, utime 14, stime 15 */
	if (!p || !(p = strrchr(buf, ')')) ||
	    sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
		return -1;
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static void rm_db(const char *p)
{
	static const char *const suf[] = {"", "-wal", "-shm"};
	char q[PATH_CAP + 128];
	for (size_t i = 0; i < 3; i++) {
		snprintf(q, sizeof q, "%s%s", p, suf[i]);
		unlink(q);
	}
}

/* ---- the workload: realistic interactions, all in the interactions lane ---- */

static const char *const notes[] = {
    "Asked about the warranty of the dishwasher; explained the extension",
    "Picked up order, wants delivery next time", "Complained about the queue at the till",
    "Interested in the coffee machine offer"};

static enum rg_kind item_kind(long i)
{
	switch (i % 20) {
	case 16:
	case 17:
		return RG_KIND_NOTE;
	case 18:
		return RG_KIND_POINTS_REDEEMED;
	case 19:
		return RG_KIND_EPISODE_UPDATED;
	default:
		return RG_KIND_IDENTIFIED;
	}
}

static int item_body(long i, char *buf, size_t cap)
{
	switch (item_kind(i)) {
	case RG_KIND_NOTE:
		return snprintf(buf, cap,
				"{\"text\":\"%s\",\"channel\":\"staff\",\"department\":\"%s\"}",
				notes[i % 4], i % 2 ? "service" : "kitchen");
	case RG_KIND_POINTS_REDEEMED:
		return snprintf(buf, cap,
				"{\"points\":%ld,\"reason\":\"voucher\",\"channel\":\"staff\"}",
				10 + i % 90);
	case RG_KIND_EPISODE_UPDATED:
		return snprintf(buf, cap,
				"{\"episode\":\"e-%ld\",\"status\":\"waiting\",\"note\":\"Part "
				"ordered, customer informed\"}",
				i % 1000);
	default:
		return snprintf(
		    buf, cap,
		    "{\"channel\":\"kiosk\",\"type\":\"loyalty\",\"source\":\"barcode\"}");
	}
}

static void profile_id(long i, long profiles, char out[32])
{
	snprintf(out, 32, "c-%08ld", 1 + (i * 7919) % profiles);
}

static int append_one(struct store *s, long i, long profiles, struct store_outbox_ref *ref)
{
	char body[512], pid[32];
	profile_id(i, profiles, pid);
	struct store_event ev = {.kind = item_kind(i), .profile_id = pid};
	int n = item_body(i, body, sizeof body);
	ev.body = body;
	ev.body_len = (size_t)n;
	return store_outbox_append(s, &ev, ref);
}

/* ---- the rows, as the baselines use them ---- */

struct row {
	struct rg_uuid id;
	uint64_t hlc;
	enum rg_kind kind;
	char device[RG_WIRE_ID_MAX + 1];
	char profile[32];
	char *body;
};

struct rows {
	struct row *r;
	size_t n, cap;
	int64_t last_seq;
};

static int collect_row(void *ctx, const struct store_outbox_row *row)
{
	struct rows *rs = ctx;
	if (rs->n == rs->cap)
		return 1;
	struct row *r = &rs->r[rs->n++];
	r->id = row->id;
	r->hlc = rg_hlc_pack(&row->hlc);
	r->kind = row->kind;
	snprintf(r->device, sizeof r->device, "%s", row->device_id);
	snprintf(r->profile, sizeof r->profile, "%s", row->profile_id ? row->profile_id : "");
	r->body = strndup(row->body, row->body_len);
	rs->last_seq = row->seq;
	return r->body ? 0 : RG_ERR_NOMEM;
}

/* The documents the uplink would send for this outbox: its own batcher, fed
 * exactly as its sender feeds it (a walk of up to STORE_LIST_MAX rows that
 * stops at the first row that does not fit). */
struct docs {
	char **doc;
	size_t *len, *items;
	size_t n, cap;
	size_t bytes;
};

struct bwalk {
	struct uplink_batcher *bt;
	struct rg_uuid7_gen *gen;
	int rc;
};

static int bwalk_row(void *ctx, const struct store_outbox_row *row)
{
	struct bwalk *w = ctx;
	int rc = uplink__batcher_add(w->bt, w->gen, row);
	if (rc < 0)
		w->rc = rc;
	return rc;
}

/* Appends device dev's documents to d (d->cap preallocated). */
static int build_docs(struct store *s, const char *dev, int batch, struct docs *d)
{
	struct uplink_batch *b = calloc(RG_LANE__COUNT, sizeof *b);
	struct uplink_batch *built[RG_LANE__COUNT];
	struct rg_uuid7_gen gen;
	int64_t cursor = 0;

	if (!b)
		return RG_ERR_NOMEM;
	rg_uuid7_gen_init(&gen, rg_clock_system(), rg_rand_system());
	for (int l = 0; l < RG_LANE__COUNT; l++)
		built[l] = &b[l];
	for (;;) {
		struct uplink_batcher bt;
		struct bwalk w = {&bt, &gen, 0};
		char *doc = NULL;
		size_t len = 0;
		int rc;
		uplink__batcher_init(&bt, dev, STORE, (size_t)batch, built, NULL);
		rc = store_outbox_list(s, cursor, STORE_LIST_MAX, bwalk_row, &w);
		if (rc >= 0 && w.rc < 0)
			rc = w.rc;
		if (rc >= 0 && bt.taken > 0)
			rc = uplink__batcher_finish(&bt, RG_LANE_INTERACTIONS, &doc, &len);
		if (rc >= 0)
			cursor = bt.last_seq;
		size_t taken = bt.taken;
		uplink__batcher_free(&bt);
		if (rc < 0) {
			free(b);
			return rc;
		}
		if (taken == 0)
			break;
		if (!doc || d->n == d->cap) { /* every row is in the interactions lane */
			free(doc);
			free(b);
			return RG_ERR_STATE;
		}
		d->doc[d->n] = doc;
		d->len[d->n] = len;
		d->items[d->n] = b[RG_LANE_INTERACTIONS].n;
		d->bytes += len;
		d->n++;
	}
	free(b);
	return 0;
}

/* ---- baseline 2: raw batched SQLite inserts of the same rows ---- */

static int baseline_sqlite(const char *path, const struct rows *rs, int batch, double *secs)
{
	sqlite3 *db;
	sqlite3_stmt *st = NULL;
	int rc = 1;
	double t0;

	rm_db(path);
	if (sqlite3_open(path, &db) != SQLITE_OK)
		goto out;
	if (sqlite3_exec(
		db,
		"PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
		"CREATE TABLE interactions(seq INTEGER PRIMARY KEY AUTOINCREMENT,"
		" id TEXT NOT NULL UNIQUE, device TEXT, store TEXT, hlc INTEGER, kind TEXT,"
		" profile_id TEXT, body TEXT)",
		NULL, NULL, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db,
			       "INSERT INTO interactions(id, device, store, hlc, kind, profile_id,"
			       " body) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
			       -1, &st, NULL) != SQLITE_OK)
		goto out;
	t0 = now_s();
	for (size_t k = 0; k < rs->n; k += (size_t)batch) {
		size_t end = k + (size_t)batch < rs->n ? k + (size_t)batch : rs->n;
		if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
			goto out;
		for (size_t i = k; i < end; i++) {
			const struct row *r = &rs->r[i];
			char idt[RG_UUID_STR_LEN + 1];
			sqlite3_bind_text(st, 1, rg_uuid_format(&r->id, idt), -1, SQLITE_TRANSIENT);
			sqlite3_bind_text(st, 2, r->device, -1, SQLITE_STATIC);
			sqlite3_bind_text(st, 3, STORE, -1, SQLITE_STATIC);
			sqlite3_bind_int64(st, 4, (sqlite3_int64)r->hlc);
			sqlite3_bind_text(st, 5, rg_kind_name(r->kind), -1, SQLITE_STATIC);
			sqlite3_bind_text(st, 6, r->profile, -1, SQLITE_STATIC);
			sqlite3_bind_text(st, 7, r->body, -1, SQLITE_STATIC);
			if (sqlite3_step(st) != SQLITE_DONE)
				goto out;
			sqlite3_reset(st);
		}
		if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
			goto out;
	}
	*secs = now_s() - t0;
	rc = 0;
out:
	if (rc)
		fprintf(stderr, "bench_sync: sqlite baseline: %s\n", sqlite3_errmsg(db));
	sqlite3_finalize(st);
	sqlite3_close(db);
	rm_db(path);
	return rc;
}

/* ---- baseline 1: raw Mosquitto QoS 1 pub/sub of the same documents ---- */

struct pubsub {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool sub_ready;
	long puback, received, refused;
	long want;
};

static void ps_sub_connect(void *ctx, bool session_present)
{
	(void)session_present;
	(void)ctx;
}

static void ps_sub_message(void *ctx, const struct rg_mqtt_msg *m)
{
	struct pubsub *p = ctx;
	(void)m;
	pthread_mutex_lock(&p->mu);
	p->received++;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
}

static void ps_pub_publish(void *ctx, int mid, int reason)
{
	struct pubsub *p = ctx;
	(void)mid;
	pthread_mutex_lock(&p->mu);
	p->puback++;
	if (reason >= 128 || reason == 16)
		p->refused++;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
}

static void client_cfg(const struct tb_env *env, const struct tb_broker *b, const char *id,
		       char files[3][PATH_CAP], struct rg_mqtt_config *c)
{
	tb_env_file(env, "ca", ".crt", files[0], PATH_CAP);
	tb_env_file(env, id, ".crt", files[1], PATH_CAP);
	tb_env_file(env, id, ".key", files[2], PATH_CAP);
	memset(c, 0, sizeof *c);
	c->name = id;
	c->host = "localhost";
	c->port = (int)tb_broker_port(b);
	c->client_id = id;
	c->ca_file = files[0];
	c->cert_file = files[1];
	c->key_file = files[2];
	c->clean_start = true;
	c->backoff_min_ms = 50;
	c->backoff_max_ms = 500;
}

static bool ps_wait(struct pubsub *p, long *field, long want, double deadline)
{
	bool ok = true;
	pthread_mutex_lock(&p->mu);
	while (*field < want) {
		struct timespec ts;
		if (now_s() > deadline) {
			ok = false;
			break;
		}
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 20 * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&p->cv, &p->mu, &ts);
	}
	pthread_mutex_unlock(&p->mu);
	return ok;
}

static int baseline_mqtt(struct tb_env *env, struct tb_broker *b, const struct docs *d,
			 const struct opts *o, double *secs)
{
	struct pubsub p = {.want = (long)d->n};
	char pf[3][PATH_CAP], sf[3][PATH_CAP];
	struct rg_mqtt_config pc, sc;
	struct rg_mqtt_handlers ph = {.on_publish = ps_pub_publish};
	struct rg_mqtt_handlers sh = {.on_connect = ps_sub_connect, .on_message = ps_sub_message};
	struct rg_mqtt *pub = NULL, *sub = NULL;
	double deadline = now_s() + o->timeout_s, t0;
	int rc = 1;

	pthread_mutex_init(&p.mu, NULL);
	pthread_cond_init(&p.cv, NULL);
	/* The gateway's identity reads every device's uplink; the device's
	 * publishes on its own topic: the same ACL path the sync takes. */
	client_cfg(env, b, DEV, pf, &pc);
	client_cfg(env, b, GW, sf, &sc);
	pc.max_inflight = o->mqtt_window;
	sc.max_inflight = o->mqtt_window;
	if (rg_mqtt_new(&sc, &sh, &p, &sub) < 0 || rg_mqtt_new(&pc, &ph, &p, &pub) < 0 ||
	    rg_mqtt_start(sub) < 0 || rg_mqtt_start(pub) < 0)
		goto out;
	while (!(rg_mqtt_connected(sub) && rg_mqtt_connected(pub)) && now_s() < deadline)
		sleep_us(2000);
	if (!rg_mqtt_connected(sub) || rg_mqtt_subscribe(sub, UP_FILTER, 1) < 0)
		goto out;
	/* The SUBACK is not surfaced by rg_mqtt: probe until a message gets through. */
	for (long probes = 0; p.received == 0 && now_s() < deadline; probes++) {
		rg_mqtt_publish(pub, UP_TOPIC, "{}", 2, 1, false, NULL);
		ps_wait(&p, &p.received, 1, now_s() + 0.1);
	}
	ps_wait(&p, &p.puback, p.puback, deadline);
	sleep_us(200000); /* let stray probe copies land before counting */
	pthread_mutex_lock(&p.mu);
	long base_recv = p.received, base_ack = p.puback;
	p.refused = 0;
	pthread_mutex_unlock(&p.mu);

	t0 = now_s();
	for (size_t k = 0; k < d->n; k++) {
		/* at most mqtt_window publishes awaiting their PUBACK */
		if (!ps_wait(&p, &p.puback, base_ack + (long)k - o->mqtt_window + 1, deadline))
			goto out;
		if (rg_mqtt_publish(pub, UP_TOPIC, d->doc[k], d->len[k], 1, false, NULL) < 0) {
			fprintf(stderr, "bench_sync: mqtt baseline: publish failed\n");
			goto out;
		}
	}
	if (!ps_wait(&p, &p.received, base_recv + (long)d->n, deadline)) {
		fprintf(stderr, "bench_sync: mqtt baseline: %ld of %zu delivered in time\n",
			p.received - base_recv, d->n);
		goto out;
	}
	*secs = now_s() - t0;
	rc = p.refused ? 1 : 0;
	if (p.refused)
		fprintf(stderr, "bench_sync: mqtt baseline: %ld publishes refused\n", p.refused);
out:
	rg_mqtt_free(pub);
	rg_mqtt_free(sub);
	pthread_cond_destroy(&p.cv);
	pthread_mutex_destroy(&p.mu);
	return rc;
}

/* ---- the daemons ---- */

static pid_t spawn(const char *bin, const char *cfg, const char *log)
{
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
		prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive the bench */
		if (fd < 0)
			_exit(127);
		dup2(fd, 1);
		dup2(fd, 2);
		execl(bin, bin, "--config", cfg, (char *)NULL);
		_exit(127);
	}
	return pid;
}

static int stop_proc(pid_t *pid, int ms)
{
	int st = 0;
	if (*pid <= 0)
		return 0;
	kill(*pid, SIGTERM);
	for (int waited = 0; waited < ms; waited += 10) {
		if (waitpid(*pid, &st, WNOHANG) == *pid) {
			*pid = -1;
			return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
		}
		sleep_us(10000);
	}
	kill(*pid, SIGKILL);
	waitpid(*pid, &st, 0);
	*pid = -1;
	return -1;
}

struct sut {
	struct tb_env *env;
	struct tb_broker *store_b, *central_b;
	char dir[256]; /* leaves room for the file names below */
	char gw_cfg[PATH_CAP], gw_log[PATH_CAP], spool[PATH_CAP];
	char cl_cfg[PATH_CAP], cl_log[PATH_CAP], cloud_db[PATH_CAP];
	pid_t gw, cloud;
};

/* One device of the run: its store (outbox) and uplink. */
struct device {
	char id[RG_WIRE_ID_MAX + 1];
	char path[PATH_CAP + 32];
	char files[3][PATH_CAP]; /* CA, certificate, key: the uplink's config points here */
	struct store *s;
	struct uplink *up;
	long items; /* its share of the N interactions */
};

static int write_configs(struct sut *u, const struct opts *o)
{
	char ca[PATH_CAP], crt[PATH_CAP], key[PATH_CAP], fwd[128] = "";
	FILE *f;

	tb_env_file(u->env, "ca", ".crt", ca, sizeof ca);
	tb_env_file(u->env, GW, ".crt", crt, sizeof crt);
	tb_env_file(u->env, GW, ".key", key, sizeof key);
	if (o->fwd_window || o->fwd_resend || o->fwd_bundle) {
		int n = snprintf(fwd, sizeof fwd, "\"forward\":{");
		const char *sep = "";
		if (o->fwd_window) {
			n += snprintf(fwd + n, sizeof fwd - (size_t)n, "\"window\":%d", o->fwd_window);
			sep = ",";
		}
		if (o->fwd_resend) {
			n += snprintf(fwd + n, sizeof fwd - (size_t)n, "%s\"resend_ms\":%d", sep,
				      o->fwd_resend);
			sep = ",";
		}
		if (o->fwd_bundle)
			n += snprintf(fwd + n, sizeof fwd - (size_t)n, "%s\"bundle\":%d", sep,
				      o->fwd_bundle);
		snprintf(fwd + n, sizeof fwd - (size_t)n, "},");
	}
	if (!(f = fopen(u->gw_cfg, "w")))
		return 1;
	fprintf(f,
		"{\"store_id\":\"%s\",\"identity\":\"%s\","
		"\"store_broker\":{\"host\":\"localhost\",\"port\":%u},"
		"\"central_broker\":{\"host\":\"localhost\",\"port\":%u},"
		"\"tls\":{\"ca_file\":\"%s\",\"cert_file\":\"%s\",\"key_file\":\"%s\"},"
		"\"spool\":{\"path\":\"%s\"},%s"
		"\"stats_interval_s\":5,\"log_level\":\"info\"}\n",
		STORE, GW, tb_broker_port(u->store_b), tb_broker_port(u->central_b), ca, crt, key,
		u->spool, fwd);
	fclose(f);

	tb_env_file(u->env, CLOUD, ".crt", crt, sizeof crt);
	tb_env_file(u->env, CLOUD, ".key", key, sizeof key);
	if (!(f = fopen(u->cl_cfg, "w")))
		return 1;
	fprintf(f,
		"{\"identity\":\"%s\",\"broker\":{\"host\":\"localhost\",\"port\":%u},"
		"\"tls\":{\"ca_file\":\"%s\",\"cert_file\":\"%s\",\"key_file\":\"%s\"},"
		"\"store\":{\"path\":\"%s\"},\"stats_interval_s\":5,\"log_level\":\"info\"}\n",
		CLOUD, tb_broker_port(u->central_b), ca, crt, key, u->cloud_db);
	fclose(f);
	return 0;
}

/* The central store with o->profiles customers (bench_fixture's bodies). */
/* Customer i's card token (any 32 bytes: lookups go by token). */
static void card_token(long i, uint8_t out[RG_TOKEN_LEN])
{
	char text[40];
	int n = snprintf(text, sizeof text, "bench-card-%ld", i);
	rg_sha256(text, (size_t)n, out);
}

static int seed_cloud(const char *path, long profiles)
{
	static const char *const loyalty[] = {"loyalty"};
	struct cloud_store_opts co = {.path = path};
	struct cloud_store *cs;
	struct cloud_seed_profile *p = calloc(1000, sizeof *p);
	char(*ids)[32] = calloc(1000, 32), (*bodies)[2048] = calloc(1000, 2048);
	uint8_t(*tok)[RG_TOKEN_LEN] = calloc(1000, RG_TOKEN_LEN);
	int rc = 0;

	if (!p || !ids || !bodies || !tok || cloud_store_open(&co, &cs) < 0) {
		free(p);
		free(ids);
		free(bodies);
		free(tok);
		return 1;
	}
	for (long i = 0; i < profiles && rc >= 0; i += 1000) {
		size_t n = (size_t)(profiles - i < 1000 ? profiles - i : 1000);
		for (size_t k = 0; k < n; k++) {
			snprintf(ids[k], 32, "c-%08ld", i + (long)k + 1);
			int len = bench_body(i + (long)k + 1, bodies[k], 2048);
			card_token(i + (long)k + 1, tok[k]);
			p[k] = (struct cloud_seed_profile){.id = ids[k],
							   .version = 1,
							   .body = bodies[k],
							   .body_len = (size_t)len,
							   .n_tokens = 1,
							   .tokens = (const uint8_t(*)[RG_TOKEN_LEN])tok[k],
							   .token_types = loyalty};
		}
		rc = cloud_store_seed(cs, p, n);
	}
	cloud_store_close(cs);
	free(p);
	free(ids);
	free(bodies);
	free(tok);
	if (rc < 0)
		fprintf(stderr, "bench_sync: seeding the central store: %s\n", rg_strerror(rc));
	return rc < 0;
}

static int open_device(const char *path, const char *dev, struct store **out)
{
	struct store_config c = {0};
	c.path = path;
	c.key = bench_store_key;
	c.device_id = dev;
	c.store_id = STORE;
	int rc = store_open(&c, out);
	if (rc < 0)
		fprintf(stderr, "bench_sync: store_open %s: %s\n", path, rg_strerror(rc));
	return rc < 0;
}

static int start_uplink(struct sut *u, const char *dev, struct store *s, const struct opts *o,
			char files[3][PATH_CAP], struct uplink **out)
{
	struct uplink_config c = {0};
	tb_env_file(u->env, "ca", ".crt", files[0], PATH_CAP);
	tb_env_file(u->env, dev, ".crt", files[1], PATH_CAP);
	tb_env_file(u->env, dev, ".key", files[2], PATH_CAP);
	c.device_id = dev;
	c.store_id = STORE;
	c.host = "localhost";
	c.port = (int)tb_broker_port(u->store_b);
	c.ca_file = files[0];
	c.cert_file = files[1];
	c.key_file = files[2];
	c.batch_max = o->batch;
	c.resend_ms = o->resend_ms;
	c.store = s;
	return uplink_start(&c, out);
}

static int64_t uplink_acked(struct uplink *up)
{
	struct uplink_status st;
	uplink_status_get(up, &st);
	return st.rows_acked;
}

/* Start the cloud worker and the gateway, then prove the whole path works
 * with one interaction from a second device (this also waits out any
 * subscription race: a batch nobody took is resent by the uplink). */
static int start_daemons(struct sut *u, const struct opts *o, const char *gw_bin,
			 const char *cloud_bin)
{
	char wpath[PATH_CAP + 16], files[3][PATH_CAP];
	struct store *ws = NULL;
	struct uplink *wu = NULL;
	double deadline;
	int rc = 1;

	u->cloud = spawn(cloud_bin, u->cl_cfg, u->cl_log);
	for (deadline = now_s() + o->timeout_s; !log_has(u->cl_log, "event=connected");) {
		if (now_s() > deadline || waitpid(u->cloud, NULL, WNOHANG) == u->cloud) {
			fprintf(stderr, "bench_sync: regulars-cloud did not connect; see %s\n",
				u->cl_log);
			return 1;
		}
		sleep_us(10000);
	}
	u->gw = spawn(gw_bin, u->gw_cfg, u->gw_log);
	snprintf(wpath, sizeof wpath, "%s/warmup.db", u->dir);
	if (open_device(wpath, WARM, &ws) || append_one(ws, 0, o->profiles, NULL) < 0 ||
	    start_uplink(u, WARM, ws, o, files, &wu) < 0)
		goto out;
	for (deadline = now_s() + o->timeout_s; uplink_acked(wu) < 1;) {
		if (now_s() > deadline || waitpid(u->gw, NULL, WNOHANG) == u->gw) {
			fprintf(stderr,
				"bench_sync: the warm-up interaction was not acked; see %s\n",
				u->gw_log);
			goto out;
		}
		sleep_us(5000);
	}
	rc = 0;
out:
	uplink_stop(wu);
	store_close(ws);
	return rc;
}

/* ---- phase 1: throughput ---- */

struct e2e {
	double connect_s; /* uplink start -> connected */
	double empty_s;	  /* uplink start -> every row acked, outbox empty */
	double central_s; /* uplink start -> central's DB holds all N */
	double cpu[5];	  /* device(this process), store broker, gateway, central broker, cloud */
	struct uplink_status st;
	long central_rows;
};

static sqlite3_int64 central_seq(sqlite3_stmt *q)
{
	sqlite3_int64 v = -1;
	if (sqlite3_step(q) == SQLITE_ROW)
		v = sqlite3_column_int64(q, 0);
	sqlite3_reset(q);
	return v;
}

static void cpu_snapshot(const struct sut *u, double out[5])
{
	out[0] = cpu_s(0);
	out[1] = cpu_s(tb_broker_pid(u->store_b));
	out[2] = cpu_s(u->gw);
	out[3] = cpu_s(tb_broker_pid(u->central_b));
	out[4] = cpu_s(u->cloud);
}

static void status_sum(struct device *dv, int n, struct uplink_status *out)
{
	memset(out, 0, sizeof *out);
	out->connected = true;
	for (int k = 0; k < n; k++) {
		struct uplink_status st;
		uplink_status_get(dv[k].up, &st);
		out->connected &= st.connected;
		out->batches_sent += st.batches_sent;
		out->rows_sent += st.rows_sent;
		out->rows_acked += st.rows_acked;
		out->receipts_spooled += st.receipts_spooled;
		out->receipts_refused += st.receipts_refused;
		out->acks_received += st.acks_received;
		out->acks_invalid += st.acks_invalid;
	}
}

static int run_throughput(struct sut *u, struct device *dv, const struct opts *o, struct e2e *r)
{
	sqlite3 *cdb = NULL;
	sqlite3_stmt *q = NULL;
	sqlite3_int64 seq0;
	double cpu0[5], cpu1[5], t0, deadline;
	int rc = 1;

	if (sqlite3_open_v2(u->cloud_db, &cdb, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(cdb, "SELECT coalesce(max(seq), 0) FROM interactions", -1, &q,
			       NULL) != SQLITE_OK) {
		fprintf(stderr, "bench_sync: central db: %s\n", sqlite3_errmsg(cdb));
		goto out;
	}
	sqlite3_busy_timeout(cdb, 1000);
	seq0 = central_seq(q);
	cpu_snapshot(u, cpu0);
	t0 = now_s();
	for (int k = 0; k < o->devices; k++)
		if (start_uplink(u, dv[k].id, dv[k].s, o, dv[k].files, &dv[k].up) < 0)
			goto out;
	deadline = t0 + o->timeout_s;
	r->connect_s = r->central_s = r->empty_s = -1;
	for (int tick = 0;; tick++) {
		struct uplink_status st;
		status_sum(dv, o->devices, &st);
		double now = now_s();
		if (r->connect_s < 0 && st.connected)
			r->connect_s = now - t0;
		if (r->central_s < 0 && tick % 5 == 0 && central_seq(q) - seq0 >= o->items)
			r->central_s = now - t0;
		if (st.rows_acked >= o->items) {
			r->empty_s = now - t0;
			break;
		}
		if (now > deadline) {
			fprintf(stderr,
				"bench_sync: throughput: %lld of %ld acked after %d s; see %s\n",
				(long long)st.rows_acked, o->items, o->timeout_s, u->gw_log);
			goto out;
		}
		sleep_us(2000);
	}
	cpu_snapshot(u, cpu1);
	for (int i = 0; i < 5; i++)
		r->cpu[i] = cpu0[i] >= 0 && cpu1[i] >= 0 ? cpu1[i] - cpu0[i] : -1;
	while (r->central_s < 0 && now_s() < deadline) {
		if (central_seq(q) - seq0 >= o->items)
			r->central_s = now_s() - t0;
		else
			sleep_us(2000);
	}
	status_sum(dv, o->devices, &r->st);
	r->central_rows = (long)(central_seq(q) - seq0);
	int left = 0;
	for (int k = 0; k < o->devices; k++)
		left += store_outbox_count(dv[k].s);
	if (left != 0 || r->central_rows != o->items) {
		fprintf(stderr,
			"bench_sync: throughput: outboxes hold %d rows, central %ld of %ld\n", left,
			r->central_rows, o->items);
		goto out;
	}
	rc = 0;
out:
	sqlite3_finalize(q);
	sqlite3_close(cdb);
	return rc;
}

/* ---- phase 2: device-to-ack latency ---- */

struct pend {
	int64_t seq;
	int64_t t_ns; /* when the append returned (the row is durable) */
};

struct seen {
	int64_t *seq;
	size_t n, cap;
};

static int seen_row(void *ctx, const struct store_outbox_row *row)
{
	struct seen *s = ctx;
	if (s->n < s->cap)
		s->seq[s->n++] = row->seq;
	return 0;
}

/* Which pending rows has central's ack removed? Called when the uplink's
 * rows_acked moved: the outbox is listed from the oldest pending row, and a
 * pending row no longer in it was acked (only an ack deletes rows). */
static void settle(struct store *s, struct pend *p, size_t *np, struct seen *sn, int64_t *lat,
		   size_t *nlat)
{
	int64_t now = bench_now_ns();
	size_t keep = 0, j = 0;
	if (*np == 0)
		return;
	sn->n = 0;
	int rc = store_outbox_list(s, p[0].seq - 1, STORE_LIST_MAX, seen_row, sn);
	if (rc < 0)
		return;
	/* rows past the listed ones are unknown when the list was cut short */
	int64_t horizon = rc == STORE_LIST_MAX && sn->n ? sn->seq[sn->n - 1] : INT64_MAX;
	for (size_t i = 0; i < *np; i++) {
		while (j < sn->n && sn->seq[j] < p[i].seq)
			j++;
		bool present = j < sn->n && sn->seq[j] == p[i].seq;
		if (present || p[i].seq > horizon)
			p[keep++] = p[i];
		else
			lat[(*nlat)++] = now - p[i].t_ns;
	}
	*np = keep;
}

struct latency {
	long n;
	double median_ms, p99_ms, max_ms, min_ms, achieved_rate, append_ms;
};

static int run_latency(struct store *s, struct uplink *up, const struct opts *o, long first,
		       struct latency *r)
{
	long total = (long)o->rate * o->seconds;
	struct pend *p = calloc((size_t)total, sizeof *p);
	int64_t *lat = calloc((size_t)total, sizeof *lat);
	struct seen sn = {calloc(STORE_LIST_MAX, sizeof(int64_t)), 0, STORE_LIST_MAX};
	size_t np = 0, nlat = 0;
	int64_t acked = uplink_acked(up), t0, append_ns = 0;
	double deadline;
	int rc = 1;

	if (!p || !lat || !sn.seq)
		goto out;
	t0 = bench_now_ns();
	for (long i = 0; i < total; i++) {
		int64_t due = t0 + (int64_t)((double)i * 1e9 / o->rate);
		for (;;) { /* wait for the slot, noticing acks meanwhile */
			int64_t a = uplink_acked(up);
			if (a != acked) {
				acked = a;
				settle(s, p, &np, &sn, lat, &nlat);
			}
			if (bench_now_ns() >= due)
				break;
			sleep_us(100);
		}
		struct store_outbox_ref ref;
		int64_t a0 = bench_now_ns();
		if (append_one(s, first + i, o->profiles, &ref) < 0)
			goto out;
		p[np].t_ns = bench_now_ns();
		append_ns += p[np].t_ns - a0;
		p[np++].seq = ref.seq;
		uplink_notify(up);
	}
	r->achieved_rate = (double)total / ((double)(bench_now_ns() - t0) / 1e9);
	for (deadline = now_s() + o->timeout_s; np > 0;) {
		int64_t a = uplink_acked(up);
		if (a != acked) {
			acked = a;
			settle(s, p, &np, &sn, lat, &nlat);
		}
		if (now_s() > deadline) {
			fprintf(stderr, "bench_sync: latency: %zu rows not acked in time\n", np);
			goto out;
		}
		sleep_us(100);
	}
	qsort(lat, nlat, sizeof *lat, bench_cmp_i64);
	r->n = (long)nlat;
	r->min_ms = (double)lat[0] / 1e6;
	r->median_ms = (double)lat[nlat / 2] / 1e6;
	r->p99_ms = (double)lat[(nlat * 99) / 100 < nlat ? (nlat * 99) / 100 : nlat - 1] / 1e6;
	r->max_ms = (double)lat[nlat - 1] / 1e6;
	r->append_ms = (double)append_ns / (double)total / 1e6;
	rc = nlat == (size_t)total ? 0 : 1;
out:
	free(p);
	free(lat);
	free(sn.seq);
	return rc;
}

/* ---- phase 3: cache-miss lookups, device -> gateway ---- */

struct lat_summary {
	long n, found;
	double median_ms, p99_ms;
};

static void summarize(int64_t *lat, size_t n, struct lat_summary *r)
{
	qsort(lat, n, sizeof *lat, bench_cmp_i64);
	r->n = (long)n;
	r->median_ms = n ? (double)lat[n / 2] / 1e6 : 0;
	r->p99_ms = n ? (double)lat[(n * 99) / 100 < n ? (n * 99) / 100 : n - 1] / 1e6 : 0;
}

/* One pass of o->lookups lookups of random customers (seeded rng): their
 * latency; every one must be answered and found. */
static int lookup_pass(struct uplink *up, const struct opts *o, uint64_t seed,
		       struct lat_summary *r)
{
	int64_t *lat = calloc((size_t)o->lookups, sizeof *lat);
	char *buf = malloc(64 * 1024);
	int rc = 1;
	if (!lat || !buf)
		goto out;
	memset(r, 0, sizeof *r);
	for (long k = 0; k < o->lookups; k++) {
		uint8_t tok[RG_TOKEN_LEN];
		seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
		card_token((long)((seed >> 33) % (uint64_t)o->profiles) + 1, tok);
		int64_t t = bench_now_ns();
		int got = uplink_lookup(up, tok, 5000, buf, 64 * 1024);
		lat[k] = bench_now_ns() - t;
		if (got < 0) {
			fprintf(stderr, "bench_sync: lookup %ld: %s\n", k, rg_strerror(got));
			goto out;
		}
		r->found += got == 1;
	}
	summarize(lat, (size_t)o->lookups, r);
	rc = r->found == o->lookups ? 0 : 1;
	if (rc)
		fprintf(stderr, "bench_sync: lookups: %ld of %ld found\n", r->found, o->lookups);
out:
	free(lat);
	free(buf);
	return rc;
}

/* The baseline: a raw MQTT v5 request/response round trip over the store
 * broker, as the device and gateway identities, QoS 1 both ways, a request
 * and an answer of the lookup's sizes. Run before the daemons start (the
 * gateway would answer too). */
struct echo {
	struct rg_mqtt *srv;
	char answer[1600];
	size_t answer_len;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	long answers;
};

static void echo_request(void *ctx, const struct rg_mqtt_msg *m)
{
	struct echo *e = ctx;
	char topic[160];
	/* .../d/<dev>/req/lookup -> .../d/<dev>/down/resp */
	const char *req = strstr(m->topic, "/req/");
	if (!req || (size_t)(req - m->topic) + 10 >= sizeof topic)
		return;
	snprintf(topic, sizeof topic, "%.*s/down/resp", (int)(req - m->topic), m->topic);
	rg_mqtt_publish(e->srv, topic, e->answer, e->answer_len, 1, false, NULL);
}

static void echo_answer(void *ctx, const struct rg_mqtt_msg *m)
{
	struct echo *e = ctx;
	(void)m;
	pthread_mutex_lock(&e->mu);
	e->answers++;
	pthread_cond_broadcast(&e->cv);
	pthread_mutex_unlock(&e->mu);
}

static bool echo_wait(struct echo *e, long want, double deadline)
{
	bool ok = true;
	pthread_mutex_lock(&e->mu);
	while (e->answers < want && ok) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 5 * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&e->cv, &e->mu, &ts);
		ok = now_s() < deadline;
	}
	ok = e->answers >= want;
	pthread_mutex_unlock(&e->mu);
	return ok;
}

static int baseline_request(struct tb_env *env, struct tb_broker *b, const struct opts *o,
			    struct lat_summary *r)
{
	static const char topic[] = "rg/v1/s/" STORE "/d/" DEV "/req/lookup";
	struct echo e = {0};
	char cf[3][PATH_CAP], sf[3][PATH_CAP], req[128];
	struct rg_mqtt_config cc, sc;
	struct rg_mqtt_handlers ch = {.on_message = echo_answer}, sh = {.on_message = echo_request};
	struct rg_mqtt *cli = NULL;
	int64_t *lat = calloc((size_t)o->lookups, sizeof *lat);
	double deadline = now_s() + o->timeout_s;
	int rc = 1;

	pthread_mutex_init(&e.mu, NULL);
	pthread_cond_init(&e.cv, NULL);
	/* an answer the size of a found lookup: a rendered customer body */
	int n = snprintf(e.answer, sizeof e.answer,
			 "{\"v\":1,\"type\":\"lookup_result\",\"found\":true,\"profile\":{"
			 "\"id\":\"c-00000001\",\"version\":1,\"hlc\":\"1763900000000.0\","
			 "\"body\":");
	n += bench_body(1, e.answer + n, sizeof e.answer - (size_t)n - 4);
	n += snprintf(e.answer + n, sizeof e.answer - (size_t)n, "}}");
	e.answer_len = (size_t)n;
	snprintf(req, sizeof req, "{\"v\":1,\"type\":\"lookup\",\"token\":\"%064d\"}", 0);
	client_cfg(env, b, DEV, cf, &cc);
	client_cfg(env, b, GW, sf, &sc);
	if (!lat || rg_mqtt_new(&sc, &sh, &e, &e.srv) < 0 || rg_mqtt_new(&cc, &ch, &e, &cli) < 0 ||
	    rg_mqtt_start(e.srv) < 0 || rg_mqtt_start(cli) < 0)
		goto out;
	while (!(rg_mqtt_connected(e.srv) && rg_mqtt_connected(cli)) && now_s() < deadline)
		sleep_us(2000);
	if (rg_mqtt_subscribe(e.srv, "rg/v1/s/" STORE "/d/+/req/#", 1) < 0 ||
	    rg_mqtt_subscribe(cli, "rg/v1/s/" STORE "/d/" DEV "/down/resp", 1) < 0)
		goto out;
	/* until both subscriptions are in place */
	for (long probes = 0; e.answers == 0 && now_s() < deadline; probes++) {
		rg_mqtt_publish(cli, topic, req, strlen(req), 1, false, NULL);
		echo_wait(&e, 1, now_s() + 0.1);
	}
	sleep_us(200000); /* stray probe answers land before counting */
	long base = e.answers;
	for (long k = 0; k < o->lookups; k++) {
		int64_t t = bench_now_ns();
		if (rg_mqtt_publish(cli, topic, req, strlen(req), 1, false, NULL) < 0 ||
		    !echo_wait(&e, base + k + 1, deadline))
			goto out;
		lat[k] = bench_now_ns() - t;
	}
	summarize(lat, (size_t)o->lookups, r);
	r->found = o->lookups;
	rc = 0;
out:
	rg_mqtt_free(cli);
	rg_mqtt_free(e.srv);
	pthread_cond_destroy(&e.cv);
	pthread_mutex_destroy(&e.mu);
	free(lat);
	return rc;
}

/* ---- phase 4: a whole-store snapshot, central -> gateway replica ---- */

/* The baseline: the same profile rows read from the central file and
 * inserted into a new one, 500 a transaction, WAL, synchronous FULL. */
static int baseline_copy(const char *from, const char *to, double *secs, long *rows)
{
	sqlite3 *a = NULL, *b = NULL;
	sqlite3_stmt *rd = NULL, *wr = NULL;
	int rc = 1;
	long n = 0;
	double t0 = now_s();
	rm_db(to);
	if (sqlite3_open_v2(from, &a, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK ||
	    sqlite3_open(to, &b) != SQLITE_OK ||
	    sqlite3_exec(b,
			 "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
			 "CREATE TABLE profiles(id TEXT PRIMARY KEY, version INTEGER, body TEXT)"
			 " WITHOUT ROWID;",
			 NULL, NULL, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(a, "SELECT id, version, body FROM profiles ORDER BY id", -1, &rd,
			       NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(b, "INSERT INTO profiles VALUES (?1, ?2, ?3)", -1, &wr, NULL) !=
		SQLITE_OK)
		goto out;
	for (int st = sqlite3_step(rd); st == SQLITE_ROW; st = sqlite3_step(rd)) {
		if (n % 500 == 0 && sqlite3_exec(b, n ? "COMMIT; BEGIN" : "BEGIN", NULL, NULL,
						 NULL) != SQLITE_OK)
			goto out;
		sqlite3_bind_value(wr, 1, sqlite3_column_value(rd, 0));
		sqlite3_bind_value(wr, 2, sqlite3_column_value(rd, 1));
		sqlite3_bind_value(wr, 3, sqlite3_column_value(rd, 2));
		if (sqlite3_step(wr) != SQLITE_DONE)
			goto out;
		sqlite3_reset(wr);
		n++;
	}
	if (sqlite3_exec(b, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
		goto out;
	*secs = now_s() - t0;
	*rows = n;
	rc = 0;
out:
	if (rc)
		fprintf(stderr, "bench_sync: baseline copy: %s\n", b ? sqlite3_errmsg(b) : "open");
	sqlite3_finalize(rd);
	sqlite3_finalize(wr);
	sqlite3_close(a);
	sqlite3_close(b);
	rm_db(to);
	return rc;
}

/* Rows of the replica's profiles table. */
static long replica_rows(const char *path)
{
	sqlite3 *h = NULL;
	sqlite3_stmt *q = NULL;
	long n = -1;
	if (sqlite3_open_v2(path, &h, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
	    sqlite3_prepare_v2(h, "SELECT count(*) FROM profiles", -1, &q, NULL) == SQLITE_OK &&
	    sqlite3_step(q) == SQLITE_ROW)
		n = (long)sqlite3_column_int64(q, 0);
	sqlite3_finalize(q);
	sqlite3_close(h);
	return n;
}

struct snap {
	double seconds, seed_s, baseline_s;
	long rows, baseline_rows;
};

/* Stops the daemons of the earlier phases, then runs the snapshot on new
 * files in the same directory. */
static int run_snapshot(struct sut *u, const struct opts *o, const char *gw_bin,
			const char *cloud_bin, struct snap *r)
{
	struct cloud_store_opts co = {.path = NULL};
	struct cloud_store *cs = NULL;
	char copy[PATH_CAP + 32], replica[PATH_CAP + 16];
	int64_t removed = 0;
	double t0;

	if (stop_proc(&u->gw, 10000) || stop_proc(&u->cloud, 10000))
		return 1;
	snprintf(u->cloud_db, sizeof u->cloud_db, "%s/snap-cloud.db", u->dir);
	snprintf(u->spool, sizeof u->spool, "%s/snap-spool.db", u->dir);
	snprintf(u->gw_log, sizeof u->gw_log, "%s/snap-gateway.log", u->dir);
	snprintf(u->cl_log, sizeof u->cl_log, "%s/snap-cloud.log", u->dir);
	snprintf(replica, sizeof replica, "%s-replica", u->spool);
	snprintf(copy, sizeof copy, "%s/snap-copy.db", u->dir);
	rm_db(u->cloud_db);
	rm_db(u->spool);
	rm_db(replica);
	t0 = now_s();
	if (seed_cloud(u->cloud_db, o->snapshot))
		return 1;
	r->seed_s = now_s() - t0;
	/* A store that was away longer than the log keeps: prune it all. */
	co.path = u->cloud_db;
	if (cloud_store_open(&co, &cs) < 0 ||
	    cloud_store_repl_prune(cs, rg_clock_wall_ms(rg_clock_system()) + 86400000LL,
				   &removed) < 0) {
		cloud_store_close(cs);
		fprintf(stderr, "bench_sync: snapshot: pruning the change log failed\n");
		return 1;
	}
	cloud_store_close(cs);
	if (baseline_copy(u->cloud_db, copy, &r->baseline_s, &r->baseline_rows))
		return 1;
	if (write_configs(u, o))
		return 1;
	u->cloud = spawn(cloud_bin, u->cl_cfg, u->cl_log);
	for (double deadline = now_s() + o->timeout_s; !log_has(u->cl_log, "event=connected");) {
		if (now_s() > deadline || waitpid(u->cloud, NULL, WNOHANG) == u->cloud) {
			fprintf(stderr, "bench_sync: regulars-cloud did not connect; see %s\n",
				u->cl_log);
			return 1;
		}
		sleep_us(10000);
	}
	t0 = now_s();
	u->gw = spawn(gw_bin, u->gw_cfg, u->gw_log);
	for (double deadline = now_s() + o->timeout_s; !log_has(u->gw_log, "event=snapshot_done");) {
		if (now_s() > deadline || waitpid(u->gw, NULL, WNOHANG) == u->gw) {
			fprintf(stderr, "bench_sync: the gateway's snapshot did not finish; see %s\n",
				u->gw_log);
			return 1;
		}
		sleep_us(20000);
	}
	r->seconds = now_s() - t0;
	r->rows = replica_rows(replica);
	if (r->rows != o->snapshot) {
		fprintf(stderr, "bench_sync: the replica holds %ld profiles, not %ld\n", r->rows,
			o->snapshot);
		return 1;
	}
	return 0;
}

/* ---- main ---- */

static void usage(FILE *f)
{
	fprintf(
	    f,
	    "usage: bench_sync [options]\n"
	    "End-to-end sync through real brokers (mutual TLS), regulars-gateway and\n"
	    "regulars-cloud, beside raw Mosquitto QoS 1 pub/sub and raw batched SQLite\n"
	    "inserts of the same data. One JSON line per measurement on stdout.\n"
	    "  --items N         interactions drained for throughput (default 50000)\n"
	    "  --batch B         uplink batch_max and the baselines' batch, 1..500 (default 100)\n"
	    "  --devices D       devices sharing the interactions, 1..16 (default 1)\n"
	    "  --drains K        throughput drains of N each, the median reported, 1..9 (default 3)\n"
	    "  --rate R          latency phase: appends per second (default 200)\n"
	    "  --seconds S       latency phase: duration, 0 skips it (default 10)\n"
	    "  --lookups K       lookup phase: cache misses per pass, 0 skips it (default 2000)\n"
	    "  --snapshot N      snapshot phase: customers, 0 skips it (default 1000000)\n"
	    "  --profiles P      customers seeded in the central store (default 10000)\n"
	    "  --fwd-window W    gateway forward.window (default: the daemon's)\n"
	    "  --fwd-resend MS   gateway forward.resend_ms (default: the daemon's)\n"
	    "  --fwd-bundle B    gateway forward.bundle, 1 (no bundles)..16 (default: the daemon's)\n"
	    "  --resend MS       uplink resend_ms (default: the uplink's)\n"
	    "  --mqtt-window W   baseline publisher's QoS 1 window (default 100)\n"
	    "  --timeout S       bound on each phase (default 300)\n"
	    "  --no-baselines    measure the sync path only\n"
	    "  --dir DIR         work in DIR (created) instead of a temp dir\n"
	    "  --keep            keep the files (logs, databases, PKI) and print where\n");
}

static int parse_args(int argc, char **argv, struct opts *o)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		long *lp = NULL;
		int *ip = NULL;
		if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			usage(stdout);
			exit(0);
		} else if (!strcmp(a, "--keep")) {
			o->keep = true;
			continue;
		} else if (!strcmp(a, "--no-baselines")) {
			o->no_baselines = true;
			continue;
		} else if (!strcmp(a, "--dir") && v) {
			o->dir = v;
			i++;
			continue;
		} else if (!strcmp(a, "--items"))
			lp = &o->items;
		else if (!strcmp(a, "--lookups"))
			lp = &o->lookups;
		else if (!strcmp(a, "--snapshot"))
			lp = &o->snapshot;
		else if (!strcmp(a, "--profiles"))
			lp = &o->profiles;
		else if (!strcmp(a, "--batch"))
			ip = &o->batch;
		else if (!strcmp(a, "--devices"))
			ip = &o->devices;
		else if (!strcmp(a, "--drains"))
			ip = &o->drains;
		else if (!strcmp(a, "--rate"))
			ip = &o->rate;
		else if (!strcmp(a, "--seconds"))
			ip = &o->seconds;
		else if (!strcmp(a, "--fwd-window"))
			ip = &o->fwd_window;
		else if (!strcmp(a, "--fwd-resend"))
			ip = &o->fwd_resend;
		else if (!strcmp(a, "--fwd-bundle"))
			ip = &o->fwd_bundle;
		else if (!strcmp(a, "--resend"))
			ip = &o->resend_ms;
		else if (!strcmp(a, "--mqtt-window"))
			ip = &o->mqtt_window;
		else if (!strcmp(a, "--timeout"))
			ip = &o->timeout_s;
		if ((!lp && !ip) || !v) {
			fprintf(stderr, "bench_sync: unknown or incomplete option %s\n", a);
			return 2;
		}
		char *end;
		errno = 0;
		long x = strtol(v, &end, 10);
		if (errno || *end || end == v || x < 0 || x > 100000000) {
			fprintf(stderr, "bench_sync: %s: not a number: %s\n", a, v);
			return 2;
		}
		if (lp)
			*lp = x;
		else
			*ip = (int)x;
		i++;
	}
	if (o->items < 1 || o->batch < 1 || o->batch > UPLINK_BATCH_MAX || o->profiles < 1 ||
	    o->devices < 1 || o->devices > DEVICES_MAX || o->items < o->devices ||
	    o->drains < 1 || o->drains > DRAINS_MAX ||
	    (o->seconds > 0 && (o->rate < 1 || o->rate > 100000)) || o->timeout_s < 1 ||
	    o->mqtt_window < 1 || o->mqtt_window > 65535 ||
	    (o->fwd_window && o->fwd_window > 1000) || o->fwd_bundle > RG_WIRE_BUNDLE_MAX_BATCHES ||
	    (o->fwd_resend && (o->fwd_resend < 100 || o->fwd_resend > 3600000)) ||
	    (o->resend_ms && o->resend_ms < 100)) {
		fprintf(stderr, "bench_sync: option out of range (see --help)\n");
		return 2;
	}
	return 0;
}

#define BASELINE_RUNS 3

static double median3(double v[BASELINE_RUNS])
{
	double a = v[0], b = v[1], c = v[2];
	return a > b ? (b > c ? b : (a > c ? c : a)) : (a > c ? a : (b > c ? c : b));
}

static int cpus(void)
{
	cpu_set_t set;
	return sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : -1;
}

int main(int argc, char **argv)
{
	struct opts o = {.snapshot = 1000000,
			 .lookups = 2000,
			 .items = 50000,
			 .batch = 100,
			 .devices = 1,
			 .drains = 3,
			 .rate = 200,
			 .seconds = 10,
			 .profiles = 10000,
			 .mqtt_window = 100,
			 .timeout_s = 300};
	struct sut u = {.gw = -1, .cloud = -1};
	struct rows rs = {0};
	struct docs d = {0};
	struct device *dv = NULL;
	struct e2e e = {0};
	struct latency l = {0};
	struct lat_summary lk_base = {0};
	char raw[PATH_CAP + 16];
	double t0, sqlite_s = 0, mqtt_s = 0, fill_s;
	int rc;

	if ((rc = parse_args(argc, argv, &o)))
		return rc;
	if (getenv("REGULARS_LOG_LEVEL") == NULL)
		rg_log_set_level(RG_LOG_ERROR);
	rc = 1;
	if (!(dv = calloc((size_t)o.devices, sizeof *dv)))
		goto out;
	for (int k = 0; k < o.devices; k++) {
		snprintf(dv[k].id, sizeof dv[k].id, "dev-%s-k%d", STORE, k + 1);
		dv[k].items = o.items / o.devices + (k < o.items % o.devices);
	}

	/* brokers and PKI */
	if (tb_env_create(&u.env, "acme") < 0 ||
	    tb_env_issue(u.env, PKI_KIND_GATEWAY, GW, STORE) < 0 ||
	    tb_env_issue(u.env, PKI_KIND_CLOUD, CLOUD, NULL) < 0 ||
	    tb_env_issue(u.env, PKI_KIND_DEVICE, WARM, STORE) < 0)
		goto out;
	for (int k = 0; k < o.devices; k++)
		if (tb_env_issue(u.env, PKI_KIND_DEVICE, dv[k].id, STORE) < 0)
			goto out;
	if (tb_broker_start(u.env, PKI_BROKER_STORE, STORE, &u.store_b) < 0 ||
	    tb_broker_start(u.env, PKI_BROKER_CENTRAL, NULL, &u.central_b) < 0) {
		fprintf(stderr, "bench_sync: brokers did not start (is mosquitto installed?)\n");
		goto out;
	}
	if (o.dir) {
		snprintf(u.dir, sizeof u.dir, "%s", o.dir);
		if (mkdir(u.dir, 0700) < 0 && errno != EEXIST) {
			fprintf(stderr, "bench_sync: mkdir %s: %s\n", u.dir, strerror(errno));
			goto out;
		}
	} else {
		snprintf(u.dir, sizeof u.dir, "%s", tb_env_dir(u.env));
	}
	snprintf(u.gw_cfg, sizeof u.gw_cfg, "%s/gateway.json", u.dir);
	snprintf(u.gw_log, sizeof u.gw_log, "%s/gateway.log", u.dir);
	snprintf(u.spool, sizeof u.spool, "%s/spool.db", u.dir);
	snprintf(u.cl_cfg, sizeof u.cl_cfg, "%s/cloud.json", u.dir);
	snprintf(u.cl_log, sizeof u.cl_log, "%s/cloud.log", u.dir);
	snprintf(u.cloud_db, sizeof u.cloud_db, "%s/cloud.db", u.dir);
	snprintf(raw, sizeof raw, "%s/raw.db", u.dir);
	fprintf(stderr,
		"bench_sync: %ld interactions from %d device(s), batch %d, %d cpus, in %s\n",
		o.items, o.devices, o.batch, cpus(), u.dir);

	/* the devices' outboxes */
	t0 = now_s();
	for (int k = 0; k < o.devices; k++) {
		snprintf(dv[k].path, sizeof dv[k].path, "%s/%s.db", u.dir, dv[k].id);
		if (open_device(dv[k].path, dv[k].id, &dv[k].s))
			goto out;
		for (long i = 0; i < dv[k].items; i++)
			if ((rc = append_one(dv[k].s, i * o.devices + k, o.profiles, NULL)) < 0) {
				fprintf(stderr, "bench_sync: append: %s\n", rg_strerror(rc));
				rc = 1;
				goto out;
			}
	}
	rc = 1;
	fill_s = now_s() - t0;
	fprintf(stderr, "bench_sync: outboxes filled: %ld rows in %.1f s (%.0f appends/s)\n",
		o.items, fill_s, (double)o.items / fill_s);

	/* the baselines, on the same rows and documents */
	if (!o.no_baselines) {
		rs.cap = (size_t)o.items;
		d.cap = (size_t)(o.items / o.batch + 2 * o.devices + 2);
		rs.r = calloc(rs.cap, sizeof *rs.r);
		d.doc = calloc(d.cap, sizeof *d.doc);
		d.len = calloc(d.cap, sizeof *d.len);
		d.items = calloc(d.cap, sizeof *d.items);
		if (!rs.r || !d.doc || !d.len || !d.items)
			goto out;
		for (int k = 0; k < o.devices; k++) {
			rs.last_seq = 0;
			for (;;) {
				size_t before = rs.n;
				if (store_outbox_list(dv[k].s, rs.last_seq, STORE_LIST_MAX,
						      collect_row, &rs) < 0 ||
				    rs.n == before)
					break;
			}
			if (build_docs(dv[k].s, dv[k].id, o.batch, &d) < 0)
				break;
		}
		if (rs.n != rs.cap) {
			fprintf(stderr, "bench_sync: reading the outboxes back failed\n");
			goto out;
		}
		fprintf(stderr, "bench_sync: baseline sqlite: %zu rows in batches of %d\n", rs.n,
			o.batch);
		/* each baseline three times, the median kept: they are short runs */
		double runs[BASELINE_RUNS];
		for (int k = 0; k < BASELINE_RUNS; k++)
			if (baseline_sqlite(raw, &rs, o.batch, &runs[k]))
				goto out;
		sqlite_s = median3(runs);
		fprintf(stderr, "bench_sync: baseline mqtt: %zu documents, %zu bytes\n", d.n,
			d.bytes);
		for (int k = 0; k < BASELINE_RUNS; k++)
			if (baseline_mqtt(u.env, u.store_b, &d, &o, &runs[k]))
				goto out;
		mqtt_s = median3(runs);
		if (o.lookups > 0) {
			fprintf(stderr, "bench_sync: baseline request/response: %ld round trips\n",
				o.lookups);
			if (baseline_request(u.env, u.store_b, &o, &lk_base))
				goto out;
		}
		printf("{\"bench\":\"sync_baseline_sqlite\",\"items\":%zu,\"batch\":%d,"
		       "\"runs\":3,\"median_seconds\":%.3f,\"rate_per_s\":%.0f}\n",
		       rs.n, o.batch, sqlite_s, (double)rs.n / sqlite_s);
		printf("{\"bench\":\"sync_baseline_mqtt\",\"items\":%ld,\"batch\":%d,"
		       "\"messages\":%zu,\"bytes\":%zu,\"window\":%d,\"runs\":3,\"median_seconds\":"
		       "%.3f,"
		       "\"rate_per_s\":%.0f,\"messages_per_s\":%.0f}\n",
		       o.items, o.batch, d.n, d.bytes, o.mqtt_window, mqtt_s,
		       (double)o.items / mqtt_s, (double)d.n / mqtt_s);
		fflush(stdout);
	}

	/* the system under test */
	fprintf(stderr, "bench_sync: seeding %ld customers centrally, starting the daemons\n",
		o.profiles);
	if (write_configs(&u, &o) || seed_cloud(u.cloud_db, o.profiles) ||
	    start_daemons(&u, &o, REGULARS_GATEWAY_BIN, REGULARS_CLOUD_BIN))
		goto out;
	/* Each drain of N from full outboxes; between drains the uplinks stop
	 * and the outboxes are filled again. The median drain is reported. */
	struct e2e ev[DRAINS_MAX];
	double drain_rate[DRAINS_MAX];
	for (int r = 0; r < o.drains; r++) {
		if (r > 0) {
			for (int k = 0; k < o.devices; k++) {
				uplink_stop(dv[k].up);
				dv[k].up = NULL;
				for (long i = 0; i < dv[k].items; i++)
					if (append_one(dv[k].s, r * o.items + i * o.devices + k,
						       o.profiles, NULL) < 0) {
						fprintf(stderr, "bench_sync: refill failed\n");
						goto out;
					}
			}
		}
		fprintf(stderr, "bench_sync: end to end: drain %d of %d, %ld interactions\n",
			r + 1, o.drains, o.items);
		if (run_throughput(&u, dv, &o, &ev[r]))
			goto out;
		drain_rate[r] = (double)o.items / ev[r].empty_s;
		fprintf(stderr, "bench_sync: drain %d: %.0f interactions/s\n", r + 1,
			drain_rate[r]);
	}
	{
		int order[DRAINS_MAX];
		for (int r = 0; r < o.drains; r++)
			order[r] = r;
		for (int a = 1; a < o.drains; a++) /* by time, a few elements */
			for (int b = a; b > 0 && ev[order[b]].empty_s < ev[order[b - 1]].empty_s; b--) {
				int t = order[b];
				order[b] = order[b - 1];
				order[b - 1] = t;
			}
		e = ev[order[o.drains / 2]];
	}
	char drains_json[DRAINS_MAX * 12 + 4];
	size_t dj = 0;
	for (int r = 0; r < o.drains; r++)
		dj += (size_t)snprintf(drains_json + dj, sizeof drains_json - dj, "%s%.0f",
				       r ? "," : "", drain_rate[r]);
	double rate = (double)o.items / e.empty_s;
	double b_sql = sqlite_s > 0 ? (double)o.items / sqlite_s : 0;
	double b_mq = mqtt_s > 0 ? (double)o.items / mqtt_s : 0;
	double slower = b_sql < b_mq ? b_sql : b_mq;
	double ratio = slower > 0 ? rate / slower : 0;
	printf("{\"bench\":\"sync_e2e\",\"items\":%ld,\"batch\":%d,\"devices\":%d,\"cpus\":%d,"
	       "\"drains_rate_per_s\":[%s],"
	       "\"seconds\":%.3f,\"rate_per_s\":%.0f,\"central_seconds\":%.3f,"
	       "\"central_rate_per_s\":%.0f,\"connect_seconds\":%.3f,"
	       "\"batches_sent\":%lld,\"acks\":%lld,\"receipts_refused\":%lld,"
	       "\"cpu_s\":{\"device\":%.2f,\"store_broker\":%.2f,\"gateway\":%.2f,"
	       "\"central_broker\":%.2f,\"cloud\":%.2f},"
	       "\"baseline\":\"min(mqtt_qos1_pubsub,sqlite_batched_insert)\","
	       "\"baseline_mqtt_rate_per_s\":%.0f,\"baseline_sqlite_rate_per_s\":%.0f,"
	       "\"ratio\":%.3f,\"goals\":{\"ratio_at_least_0.5\":%s}}\n",
	       o.items, o.batch, o.devices, cpus(), drains_json, e.empty_s, rate, e.central_s,
	       e.central_s > 0 ? (double)o.items / e.central_s : 0, e.connect_s,
	       (long long)e.st.batches_sent, (long long)e.st.acks_received,
	       (long long)e.st.receipts_refused, e.cpu[0], e.cpu[1], e.cpu[2], e.cpu[3], e.cpu[4],
	       b_mq, b_sql, ratio, slower > 0 && ratio >= 0.5 ? "true" : "false");
	fflush(stdout);

	if (o.seconds > 0) {
		fprintf(stderr, "bench_sync: latency: %d appends/s for %d s on %s\n", o.rate,
			o.seconds, dv[0].id);
		if (run_latency(dv[0].s, dv[0].up, &o, o.items * 2, &l))
			goto out;
		printf("{\"bench\":\"sync_latency\",\"rate\":%d,\"seconds\":%d,\"batch\":%d,"
		       "\"interactions\":%ld,\"achieved_rate\":%.1f,\"append_ms\":%.2f,"
		       "\"min_ms\":%.2f,\"median_ms\":%.2f,\"p99_ms\":%.2f,\"max_ms\":%.2f}\n",
		       o.rate, o.seconds, o.batch, l.n, l.achieved_rate, l.append_ms, l.min_ms,
		       l.median_ms, l.p99_ms, l.max_ms);
		fflush(stdout);
	}
	if (o.lookups > 0) {
		struct lat_summary p1, p2;
		fprintf(stderr, "bench_sync: lookups: 2 passes of %ld cache misses on %s\n",
			o.lookups, dv[0].id);
		if (lookup_pass(dv[0].up, &o, 7, &p1) || lookup_pass(dv[0].up, &o, 8, &p2))
			goto out;
		printf("{\"bench\":\"lookup_device_gateway\",\"lookups\":%ld,\"profiles\":%ld,"
		       "\"first_pass\":{\"median_ms\":%.3f,\"p99_ms\":%.3f},"
		       "\"second_pass\":{\"median_ms\":%.3f,\"p99_ms\":%.3f},"
		       "\"baseline\":\"mqtt_v5_request_response\","
		       "\"baseline_median_ms\":%.3f,\"baseline_p99_ms\":%.3f,"
		       "\"ratio_median\":%.3f}\n",
		       o.lookups, o.profiles, p1.median_ms, p1.p99_ms, p2.median_ms, p2.p99_ms,
		       lk_base.median_ms, lk_base.p99_ms,
		       p2.median_ms > 0 ? lk_base.median_ms / p2.median_ms : 0);
		fflush(stdout);
	}
	if (o.snapshot > 0) {
		struct snap sn = {0};
		fprintf(stderr,
			"bench_sync: snapshot: seeding %ld customers centrally, then a fresh gateway "
			"takes them all\n",
			o.snapshot);
		if (run_snapshot(&u, &o, REGULARS_GATEWAY_BIN, REGULARS_CLOUD_BIN, &sn))
			goto out;
		printf("{\"bench\":\"snapshot_store\",\"profiles\":%ld,\"seconds\":%.2f,"
		       "\"profiles_per_s\":%.0f,\"seed_seconds\":%.1f,"
		       "\"baseline\":\"sqlite_select_insert_copy\",\"baseline_seconds\":%.2f,"
		       "\"baseline_profiles_per_s\":%.0f,\"ratio\":%.3f}\n",
		       sn.rows, sn.seconds, (double)sn.rows / sn.seconds, sn.seed_s, sn.baseline_s,
		       (double)sn.baseline_rows / sn.baseline_s, sn.baseline_s / sn.seconds);
		fflush(stdout);
	}
	rc = 0;
out:
	for (int k = 0; dv && k < o.devices; k++) {
		uplink_stop(dv[k].up);
		store_close(dv[k].s);
	}
	if (stop_proc(&u.gw, 10000) || stop_proc(&u.cloud, 10000))
		fprintf(stderr, "bench_sync: a daemon did not stop cleanly\n");
	if (u.gw_log[0]) {
		char line[4096];
		log_last_line(u.gw_log, "event=stats_final", line, sizeof line);
		if (line[0])
			fprintf(stderr, "bench_sync: gateway: %s\n", line);
		log_last_line(u.cl_log, "event=stats", line, sizeof line);
		if (line[0])
			fprintf(stderr, "bench_sync: cloud: %s\n", line);
	}
	for (size_t i = 0; i < rs.n; i++)
		free(rs.r[i].body);
	free(rs.r);
	for (size_t i = 0; i < d.n; i++)
		free(d.doc[i]);
	free(d.doc);
	free(d.len);
	free(d.items);
	if (o.keep || rc) {
		setenv("TB_KEEP", "1", 1);
		fprintf(stderr, "bench_sync: files kept in %s\n", u.dir);
	} else if (o.dir) {
		char p2[PATH_CAP + 64];
		static const char *const names[] = {"gateway.json",	"gateway.log",
						    "cloud.json",	"cloud.log",
						    "snap-gateway.log", "snap-cloud.log"};
		for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
			snprintf(p2, sizeof p2, "%s/%s", u.dir, names[i]);
			unlink(p2);
		}
		static const char *const dbs[] = {"spool.db",	      "spool.db-replica",
						  "cloud.db",	      "warmup.db",
						  "snap-spool.db",    "snap-spool.db-replica",
						  "snap-cloud.db"};
		for (size_t i = 0; i < sizeof dbs / sizeof *dbs; i++) {
			snprintf(p2, sizeof p2, "%s/%s", u.dir, dbs[i]);
			rm_db(p2);
		}
		for (int k = 0; dv && k < o.devices; k++)
			rm_db(dv[k].path);
	}
	free(dv);
	tb_env_free(u.env);
	return rc;
}
