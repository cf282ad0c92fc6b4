/*
 * test_worker.c - the real regulars-cloud binary against a real central
 * Mosquitto (tests/mqtt harness, mutual TLS, generated ACL). The test plays
 * the store gateway gw-0042 with rg_mqtt: it publishes batches, resends what
 * is not acked (as a gateway does), and checks in the SQLite file, at the
 * moment each ack arrives, that every acked interaction is committed.
 * Proves: ack after commit; a duplicate is acked again without a second
 * effect; a batch whose store is not the topic's gateway is refused; two
 * workers on the shared subscription both take work and apply every
 * interaction exactly once in per-device order; kill -9 of a worker
 * mid-stream loses nothing; --seed and lookups answer from the store;
 * replication requests get pages and snapshot chunks the delta parser
 * accepts, and a malformed one gets no answer but a counter.
 */
#include "tb_assert.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cloud/store.h"
#include "common/crypto.h"
#include "common/delta.h"
#include "common/log.h"
#include "common/mqtt.h"
#include "common/uuid.h"
#include "common/wire.h"

#define GW "gw-0042"
#define UP_TOPIC "rg/v1/g/gw-0042/up/interactions"
#define WAIT_MS 20000
#define RESEND_MS 1500
#define ACKS_MAX 4096
#define PROFILES 10

static const char *cloud_bin;
static const uint8_t tenant_key[32] = "integration tenant key 01234567";

struct worker {
	const char *identity;
	pid_t pid;
	char cfg[600], log[600];
};

struct acked {
	struct rg_uuid batch;
	size_t n_ids;
	int times;
};

/* What the gateway saw, filled on the rg_mqtt thread. */
struct gwrec {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct rg_mqtt *c;
	sqlite3 *db; /* read-only view of the store, used on the MQTT thread */
	struct acked acks[ACKS_MAX];
	size_t n_acks;
	int64_t ack_msgs, ack_ids, ack_before_commit, ack_malformed;
	char resp[65536];
	size_t resp_len;
	bool has_resp;
	uint8_t resp_corr[16];
	size_t resp_corr_len;
	size_t n_resp;
	uint8_t resp_first[64]; /* the first correlation byte of each answer */
	int64_t notices, notice_latest, notices_bad; /* central's notice of changes */
};

struct fixture {
	struct tb_env *env;
	struct tb_broker *broker;
	char dir[300], db[400], ca[512];
	struct worker w[2];
	struct gwrec gw;
	struct rg_uuid7_gen ids;
	int64_t hlc_next;
};

static struct fixture *F;

/* ---- the binary ---- */

static void write_file(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

static void worker_config(struct worker *w, const char *identity)
{
	char crt[512], key[512], doc[3000], keyfile[400];
	int n;
	w->identity = identity;
	w->pid = -1;
	assert_int_equal(tb_env_file(F->env, identity, ".crt", crt, sizeof crt), 0);
	assert_int_equal(tb_env_file(F->env, identity, ".key", key, sizeof key), 0);
	snprintf(keyfile, sizeof keyfile, "%s/tenant.key", F->dir);
	snprintf(w->cfg, sizeof w->cfg, "%s/%s.json", F->dir, identity);
	snprintf(w->log, sizeof w->log, "%s/%s.log", F->dir, identity);
	n = snprintf(doc, sizeof doc,
		     "{\"identity\":\"%s\",\"broker\":{\"host\":\"localhost\",\"port\":%u},"
		     "\"tls\":{\"ca_file\":\"%s\",\"cert_file\":\"%s\",\"key_file\":\"%s\"},"
		     "\"store\":{\"path\":\"%s\"},\"tenant_key_file\":\"%s\","
		     "\"stats_interval_s\":1,\"log_level\":\"debug\"}\n",
		     identity, tb_broker_port(F->broker), F->ca, crt, key, F->db, keyfile);
	assert_true(n > 0 && (size_t)n < sizeof doc);
	write_file(w->cfg, doc, (size_t)n);
}

static pid_t spawn(struct worker *w, const char *extra1, const char *extra2)
{
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int fd = open(w->log, O_WRONLY | O_CREAT | O_APPEND, 0600);
		if (fd >= 0) {
			dup2(fd, 2);
			close(fd);
		}
		execl(cloud_bin, cloud_bin, "--config", w->cfg, extra1, extra2, (char *)NULL);
		_exit(127);
	}
	return pid;
}

static void worker_start(struct worker *w)
{
	w->pid = spawn(w, NULL, NULL);
}

static int wait_exit(pid_t pid, int ms)
{
	int64_t end = tb_now_ms() + ms;
	int st;
	while (tb_now_ms() < end) {
		pid_t r = waitpid(pid, &st, WNOHANG);
		if (r == pid)
			return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
		tb_env_pump(F->env, 10);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	return -1;
}

static int worker_stop(struct worker *w)
{
	int rc;
	if (w->pid <= 0)
		return 0;
	kill(w->pid, SIGTERM);
	rc = wait_exit(w->pid, 10000);
	w->pid = -1;
	return rc;
}

static void worker_kill9(struct worker *w)
{
	int st;
	kill(w->pid, SIGKILL);
	waitpid(w->pid, &st, 0);
	w->pid = -1;
}

/* The last value of key=<n> in the worker's log, -1 if none. */
static long long log_last(const struct worker *w, const char *key)
{
	char line[4096], pat[64];
	long long v = -1;
	FILE *f = fopen(w->log, "r");
	if (!f)
		return -1;
	snprintf(pat, sizeof pat, " %s=", key);
	while (fgets(line, sizeof line, f)) {
		const char *p = strstr(line, pat);
		if (p && strstr(line, "event=stats"))
			v = atoll(p + strlen(pat));
	}
	fclose(f);
	return v;
}

static bool log_has(const struct worker *w, const char *needle)
{
	char line[4096];
	bool found = false;
	FILE *f = fopen(w->log, "r");
	if (!f)
		return false;
	while (!found && fgets(line, sizeof line, f))
		found = strstr(line, needle) != NULL;
	fclose(f);
	return found;
}

/* ---- the gateway ---- */

static bool committed(struct gwrec *g, const struct rg_uuid *id)
{
	char text[RG_UUID_STR_LEN + 1];
	sqlite3_stmt *st = NULL;
	bool yes = false;
	if (!g->db)
		return false;
	if (sqlite3_prepare_v2(g->db, "SELECT 1 FROM interactions WHERE id = ?1", -1, &st, NULL) !=
	    SQLITE_OK)
		return false;
	sqlite3_bind_text(st, 1, rg_uuid_format(id, text), -1, SQLITE_TRANSIENT);
	yes = sqlite3_step(st) == SQLITE_ROW;
	sqlite3_finalize(st);
	return yes;
}

static void gw_on_connect(void *ctx, bool present)
{
	struct gwrec *g = ctx;
	(void)present;
	rg_mqtt_subscribe(g->c, RG_TOPIC_CENTRAL_CHANGES, 0);
	rg_mqtt_subscribe(g->c, "rg/v1/g/" GW "/down/#", 1);
}

static void gw_on_disconnect(void *ctx, int reason)
{
	(void)ctx;
	(void)reason;
}

static void gw_on_publish(void *ctx, int mid, int reason)
{
	(void)ctx;
	(void)mid;
	(void)reason;
}

static void gw_on_message(void *ctx, const struct rg_mqtt_msg *m)
{
	struct gwrec *g = ctx;
	struct rg_wire_ack a;
	char err[RG_WIRE_ERR_MAX];

	if (!strcmp(m->topic, RG_TOPIC_CENTRAL_CHANGES)) {
		int64_t latest = 0;
		int rc = delta_notice_parse(m->payload, m->len, &latest);
		pthread_mutex_lock(&g->mu);
		if (rc < 0)
			g->notices_bad++;
		else {
			g->notices++;
			g->notice_latest = latest;
		}
		pthread_cond_broadcast(&g->cv);
		pthread_mutex_unlock(&g->mu);
		return;
	}
	if (strstr(m->topic, "/down/resp")) {
		pthread_mutex_lock(&g->mu);
		size_t n = m->len < sizeof g->resp - 1 ? m->len : sizeof g->resp - 1;
		memcpy(g->resp, m->payload, n);
		g->resp[n] = '\0';
		g->resp_len = n;
		if (g->n_resp < sizeof g->resp_first)
			g->resp_first[g->n_resp] =
			    m->corr && m->corr_len ? ((const uint8_t *)m->corr)[0] : 0;
		g->n_resp++;
		g->resp_corr_len = m->corr_len <= sizeof g->resp_corr ? m->corr_len : 0;
		if (m->corr && g->resp_corr_len)
			memcpy(g->resp_corr, m->corr, g->resp_corr_len);
		g->has_resp = true;
		pthread_cond_broadcast(&g->cv);
		pthread_mutex_unlock(&g->mu);
		return;
	}
	if (rg_wire_ack_parse(m->payload, m->len, &a, err, sizeof err) < 0) {
		pthread_mutex_lock(&g->mu);
		g->ack_malformed++;
		pthread_mutex_unlock(&g->mu);
		return;
	}
	/* the promise under test: an ack means the rows are in the file now */
	int64_t missing = 0;
	for (size_t i = 0; i < a.n_ids; i++)
		missing += !committed(g, &a.ids[i]);
	pthread_mutex_lock(&g->mu);
	g->ack_msgs++;
	g->ack_ids += (int64_t)a.n_ids;
	g->ack_before_commit += missing;
	size_t k;
	for (k = 0; k < g->n_acks; k++)
		if (!rg_uuid_cmp(&g->acks[k].batch, &a.batch_id))
			break;
	if (k == g->n_acks && g->n_acks < ACKS_MAX)
		g->acks[g->n_acks++] = (struct acked){.batch = a.batch_id, .n_ids = a.n_ids};
	if (k < g->n_acks)
		g->acks[k].times++;
	pthread_cond_broadcast(&g->cv);
	pthread_mutex_unlock(&g->mu);
	rg_wire_ack_free(&a);
}

static void gw_start(void)
{
	static const struct rg_mqtt_handlers h = {gw_on_connect, gw_on_disconnect, gw_on_message,
						  gw_on_publish};
	char crt[512], key[512];
	static char crt_s[512], key_s[512];
	struct gwrec *g = &F->gw;
	assert_int_equal(tb_env_file(F->env, GW, ".crt", crt, sizeof crt), 0);
	assert_int_equal(tb_env_file(F->env, GW, ".key", key, sizeof key), 0);
	memcpy(crt_s, crt, sizeof crt);
	memcpy(key_s, key, sizeof key);
	struct rg_mqtt_config cfg = {
	    .name = "test-gw",
	    .host = "localhost",
	    .port = (int)tb_broker_port(F->broker),
	    .client_id = GW,
	    .ca_file = F->ca,
	    .cert_file = crt_s,
	    .key_file = key_s,
	    .clean_start = false,
	    .session_expiry_s = 600,
	    .backoff_min_ms = 50,
	    .backoff_max_ms = 400,
	};
	assert_int_equal(sqlite3_open_v2(F->db, &g->db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	sqlite3_busy_timeout(g->db, 5000);
	assert_int_equal(rg_mqtt_new(&cfg, &h, g, &g->c), 0);
	assert_int_equal(rg_mqtt_start(g->c), 0);
}

/* Times batch b was acked (0: never). */
static int acked_times(const struct rg_uuid *b)
{
	int t = 0;
	pthread_mutex_lock(&F->gw.mu);
	for (size_t k = 0; k < F->gw.n_acks; k++)
		if (!rg_uuid_cmp(&F->gw.acks[k].batch, b))
			t = F->gw.acks[k].times;
	pthread_mutex_unlock(&F->gw.mu);
	return t;
}

static void gw_wait_event(int ms)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_nsec += (long)ms * 1000000L;
	ts.tv_sec += ts.tv_nsec / 1000000000L;
	ts.tv_nsec %= 1000000000L;
	pthread_mutex_lock(&F->gw.mu);
	pthread_cond_timedwait(&F->gw.cv, &F->gw.mu, &ts);
	pthread_mutex_unlock(&F->gw.mu);
}

/* ---- batches ---- */

struct tbatch {
	char device[32];
	char *doc;
	size_t len;
	struct rg_uuid batch;
	struct rg_uuid ids[RG_WIRE_MAX_ITEMS];
	size_t n;
	int64_t sent_ms;
	int base_times; /* acks seen before this round */
};

static void tbatch_make(struct tbatch *t, const char *device, const char *store, size_t n,
			int profile_base)
{
	struct rg_wire_writer *w;
	char profile[32];
	memset(t, 0, sizeof *t);
	snprintf(t->device, sizeof t->device, "%s", device);
	assert_int_equal(rg_uuid7_next(&F->ids, &t->batch), 0);
	assert_int_equal(rg_wire_writer_new(device, store, &t->batch, &w), 0);
	for (size_t i = 0; i < n; i++) {
		struct rg_hlc h = {.wall_ms = F->hlc_next++, .logical = 0};
		assert_int_equal(rg_uuid7_next(&F->ids, &t->ids[i]), 0);
		snprintf(profile, sizeof profile, "p-%06d", 1 + (profile_base + (int)i) % PROFILES);
		assert_int_equal(rg_wire_writer_add(w, &t->ids[i], &h, RG_KIND_IDENTIFIED, profile,
						    NULL, "{\"channel\":\"kiosk\"}"),
				 0);
	}
	t->n = n;
	assert_int_equal(rg_wire_writer_finish(w, &t->doc, &t->len), 0);
	rg_wire_writer_free(w);
}

static void tbatch_send(struct tbatch *t)
{
	if (rg_mqtt_publish(F->gw.c, UP_TOPIC, t->doc, t->len, 1, false, NULL) == 0)
		t->sent_ms = tb_now_ms();
}

/* Send t again (a gateway's resend) until central has acked it twice. */
static void send_until_acked_twice(struct tbatch *t)
{
	int64_t end = tb_now_ms() + WAIT_MS;
	t->sent_ms = 0;
	while (acked_times(&t->batch) < 2 && tb_now_ms() < end) {
		if (!t->sent_ms || tb_now_ms() - t->sent_ms > RESEND_MS)
			tbatch_send(t);
		gw_wait_event(50);
	}
	assert_true(acked_times(&t->batch) >= 2);
}

/* Send each device's batches in order, one in flight per device (the
 * gateway's protocol), resending after RESEND_MS, until all are acked.
 * After `kill_after` acked batches, SIGKILL worker 0 and start it again. */
static void stream(struct tbatch *b, size_t n, size_t devices, size_t kill_after)
{
	size_t cur[8] = {0}, done = 0, acked_total = 0;
	int64_t end = tb_now_ms() + 90000;
	bool killed = false;

	assert_true(devices <= 8 && n % devices == 0);
	while (done < devices) {
		done = 0;
		for (size_t d = 0; d < devices; d++) {
			size_t i;
			while (cur[d] < n / devices &&
			       acked_times(&b[cur[d] * devices + d].batch) > 0) {
				cur[d]++;
				acked_total++;
			}
			if (cur[d] == n / devices) {
				done++;
				continue;
			}
			i = cur[d] * devices + d;
			if (!b[i].sent_ms || tb_now_ms() - b[i].sent_ms > RESEND_MS)
				tbatch_send(&b[i]);
		}
		if (kill_after && !killed && acked_total >= kill_after) {
			killed = true;
			worker_kill9(&F->w[0]);
			worker_start(&F->w[0]);
		}
		if (tb_now_ms() > end)
			fail_msg("stream: %zu of %zu batches acked in time (logs %s)", acked_total,
				 n, F->w[0].log);
		gw_wait_event(50);
	}
	if (kill_after)
		assert_true(killed);
}

/* Every interaction of the batches is in the store exactly once. */
static void verify_applied(struct tbatch *b, size_t n, size_t devices)
{
	struct cloud_store_opts o = {.path = F->db};
	struct cloud_store *s;
	struct cloud_store_stats st;
	struct cloud_interaction it;
	struct cloud_device_state ds;
	struct cloud_profile p;
	size_t total = 0;
	int64_t visits = 0;

	assert_int_equal(cloud_store_open(&o, &s), 0);
	for (size_t i = 0; i < n; i++) {
		for (size_t k = 0; k < b[i].n; k++)
			assert_int_equal(cloud_store_interaction_get(s, &b[i].ids[k], &it), 1);
		total += b[i].n;
	}
	assert_int_equal(cloud_store_stats(s, &st), 0);
	assert_int_equal(st.interactions, (int64_t)total);
	for (int i = 1; i <= PROFILES; i++) {
		char id[16];
		snprintf(id, sizeof id, "p-%06d", i);
		assert_int_equal(cloud_store_profile_get(s, id, &p), 1);
		visits += p.visits;
		cloud_profile_clear(&p);
	}
	/* one visit per interaction: no double effect anywhere */
	assert_int_equal(visits, (int64_t)total);
	for (size_t d = 0; d < devices; d++) {
		assert_int_equal(cloud_store_device_get(s, b[d].device, RG_LANE_INTERACTIONS, &ds),
				 1);
		assert_int_equal(ds.applied, (int64_t)(total / devices));
		assert_int_equal(ds.out_of_order, 0);
	}
	cloud_store_close(s);
}

static void tbatches_free(struct tbatch *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(b[i].doc);
}

/* ---- fixture ---- */

static void seed_store(void)
{
	struct cloud_store_opts o = {.path = F->db};
	struct cloud_seed_profile ps[PROFILES];
	char ids[PROFILES][16];
	struct cloud_store *s;
	for (int i = 0; i < PROFILES; i++) {
		snprintf(ids[i], sizeof ids[i], "p-%06d", i + 1);
		ps[i] = (struct cloud_seed_profile){
		    .id = ids[i], .version = 1, .body = "{\"name\":\"N\"}", .body_len = 12};
	}
	assert_int_equal(cloud_store_open(&o, &s), 0);
	assert_int_equal(cloud_store_seed(s, ps, PROFILES), PROFILES);
	cloud_store_close(s);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof *f);
	(void)state;
	if (!f || tb_env_create(&f->env, "acme") < 0)
		return -1;
	F = f;
	pthread_mutex_init(&f->gw.mu, NULL);
	pthread_cond_init(&f->gw.cv, NULL);
	rg_uuid7_gen_init(&f->ids, rg_clock_system(), rg_rand_system());
	f->hlc_next = rg_clock_wall_ms(rg_clock_system()) - 60000;
	snprintf(f->dir, sizeof f->dir, "%s", tb_env_dir(f->env));
	snprintf(f->db, sizeof f->db, "%s/cloud.db", f->dir);
	if (tb_env_issue(f->env, PKI_KIND_GATEWAY, GW, "0042") < 0 ||
	    tb_env_issue(f->env, PKI_KIND_CLOUD, "cloud-1", NULL) < 0 ||
	    tb_env_issue(f->env, PKI_KIND_CLOUD, "cloud-2", NULL) < 0)
		return -1;
	if (tb_broker_start(f->env, PKI_BROKER_CENTRAL, NULL, &f->broker) < 0)
		return -1;
	/* the ACL already names them (issued before the start); reloading is
	 * what an operator does after issuing, and must keep working */
	if (tb_broker_reload(f->broker) < 0)
		return -1;
	if (tb_env_file(f->env, "ca", ".crt", f->ca, sizeof f->ca) < 0)
		return -1;
	char keyfile[400];
	snprintf(keyfile, sizeof keyfile, "%s/tenant.key", f->dir);
	write_file(keyfile, tenant_key, sizeof tenant_key);
	seed_store();
	worker_config(&f->w[0], "cloud-1");
	worker_config(&f->w[1], "cloud-2");
	gw_start();
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	for (int i = 0; i < 2; i++)
		worker_stop(&F->w[i]);
	rg_mqtt_free(F->gw.c);
	sqlite3_close(F->gw.db);
	tb_env_free(F->env);
	pthread_cond_destroy(&F->gw.cv);
	pthread_mutex_destroy(&F->gw.mu);
	free(F);
	F = NULL;
	return 0;
}

/* ---- tests ---- */

static void acks_follow_commit_and_duplicates_ack_again_without_effect(void **state)
{
	struct tbatch b[1];
	(void)state;
	worker_start(&F->w[0]);
	tbatch_make(&b[0], "dev-0042-k1", "0042", 5, 0);
	stream(b, 1, 1, 0);
	verify_applied(b, 1, 1);

	/* the same document again, as a gateway resend: acked again, no effect */
	send_until_acked_twice(&b[0]);
	verify_applied(b, 1, 1);
	pthread_mutex_lock(&F->gw.mu);
	assert_int_equal(F->gw.ack_before_commit, 0);
	assert_int_equal(F->gw.ack_malformed, 0);
	assert_true(F->gw.ack_ids >= 10);
	pthread_mutex_unlock(&F->gw.mu);
	assert_int_equal(worker_stop(&F->w[0]), 0);
	assert_true(log_last(&F->w[0], "duplicates") >= 5);
	tbatches_free(b, 1);
}

static void batch_for_another_store_is_refused(void **state)
{
	struct tbatch bad, good;
	struct cloud_store_opts o = {.path = F->db};
	struct cloud_interaction it;
	struct cloud_store *s;
	(void)state;
	worker_start(&F->w[0]);
	/* gw-0042 forwarding a batch that says it is from store 0043 */
	tbatch_make(&bad, "dev-0043-k1", "0043", 3, 0);
	tbatch_make(&good, "dev-0042-k1", "0042", 2, 0);
	/* the marker: one worker handles messages in order, so once the good
	 * batch is acked the bad one has been seen (and must not be) */
	stream(&good, 1, 1, 0);
	tbatch_send(&bad);
	send_until_acked_twice(&good);
	assert_int_equal(acked_times(&bad.batch), 0);
	assert_int_equal(cloud_store_open(&o, &s), 0);
	assert_int_equal(cloud_store_interaction_get(s, &bad.ids[0], &it), 0);
	cloud_store_close(s);
	assert_int_equal(worker_stop(&F->w[0]), 0);
	assert_true(log_has(&F->w[0], "event=batch_refused reason=store_mismatch"));
	assert_int_equal(log_last(&F->w[0], "refused_store"), 1);
	free(bad.doc);
	free(good.doc);
}

/* Publish b[0..n) as one bundle until every batch of it is acked. */
static void bundle_stream(struct tbatch *b, size_t n)
{
	const char *docs[RG_WIRE_BUNDLE_MAX_BATCHES];
	size_t lens[RG_WIRE_BUNDLE_MAX_BATCHES], len, acked = 0;
	int64_t sent = 0, end = tb_now_ms() + WAIT_MS;
	char *doc;
	for (size_t i = 0; i < n; i++) {
		docs[i] = b[i].doc;
		lens[i] = b[i].len;
	}
	assert_int_equal(rg_wire_bundle_build(docs, lens, n, &doc, &len), 0);
	while (acked < n) {
		if (tb_now_ms() > end)
			fail_msg("bundle: %zu of %zu batches acked (log %s)", acked, n,
				 F->w[0].log);
		/* (not connected yet: the next turn tries again) */
		if ((!sent || tb_now_ms() - sent > RESEND_MS) &&
		    rg_mqtt_publish(F->gw.c, UP_TOPIC, doc, len, 1, false, NULL) == 0)
			sent = tb_now_ms();
		gw_wait_event(50);
		for (acked = 0; acked < n && acked_times(&b[acked].batch) > 0;)
			acked++;
	}
	free(doc);
}

static void a_bundle_is_applied_in_order_and_each_batch_acked(void **state)
{
	enum { N = 6 };
	struct tbatch b[N], bad[2];
	struct cloud_store_opts o = {.path = F->db};
	struct cloud_interaction it;
	struct cloud_store *s;
	(void)state;
	worker_start(&F->w[0]);
	for (size_t i = 0; i < N; i++)
		tbatch_make(&b[i], "dev-0042-k1", "0042", 20, (int)i * 20);
	bundle_stream(b, N);
	/* Every item once, visits counted once, and the device's order kept
	 * (central counts items older than what it applied last). */
	verify_applied(b, N, 1);
	pthread_mutex_lock(&F->gw.mu);
	assert_int_equal(F->gw.ack_before_commit, 0);
	pthread_mutex_unlock(&F->gw.mu);

	/* gw-0042 forwarding a bundle of store 0043: refused, all of it. */
	tbatch_make(&bad[0], "dev-0043-k1", "0043", 3, 0);
	tbatch_make(&bad[1], "dev-0043-k1", "0043", 3, 0);
	const char *docs[2] = {bad[0].doc, bad[1].doc};
	size_t lens[2] = {bad[0].len, bad[1].len}, len;
	char *doc;
	assert_int_equal(rg_wire_bundle_build(docs, lens, 2, &doc, &len), 0);
	assert_int_equal(rg_mqtt_publish(F->gw.c, UP_TOPIC, doc, len, 1, false, NULL), 0);
	free(doc);
	/* The marker: one worker takes messages in order. */
	send_until_acked_twice(&b[0]);
	assert_int_equal(acked_times(&bad[0].batch), 0);
	assert_int_equal(cloud_store_open(&o, &s), 0);
	assert_int_equal(cloud_store_interaction_get(s, &bad[0].ids[0], &it), 0);
	cloud_store_close(s);
	assert_int_equal(worker_stop(&F->w[0]), 0);
	assert_true(log_last(&F->w[0], "bundles") >= 1);
	assert_int_equal(log_last(&F->w[0], "refused_store"), 1);
	tbatches_free(b, N);
	tbatches_free(bad, 2);
}

static void two_workers_share_the_load_and_apply_exactly_once(void **state)
{
	enum { DEVICES = 4, PER_DEVICE = 15, ITEMS = 20 };
	static struct tbatch b[DEVICES * PER_DEVICE];
	char dev[32];
	(void)state;
	worker_start(&F->w[0]);
	worker_start(&F->w[1]);
	for (size_t i = 0; i < DEVICES * PER_DEVICE; i++) {
		snprintf(dev, sizeof dev, "dev-0042-k%zu", i % DEVICES);
		tbatch_make(&b[i], dev, "0042", ITEMS, (int)i);
	}
	stream(b, DEVICES * PER_DEVICE, DEVICES, 0);
	assert_int_equal(worker_stop(&F->w[0]), 0);
	assert_int_equal(worker_stop(&F->w[1]), 0);
	verify_applied(b, DEVICES * PER_DEVICE, DEVICES);
	/* both took work */
	assert_true(log_last(&F->w[0], "batches") > 0);
	assert_true(log_last(&F->w[1], "batches") > 0);
	assert_int_equal(log_last(&F->w[0], "refused_malformed"), 0);
	pthread_mutex_lock(&F->gw.mu);
	assert_int_equal(F->gw.ack_before_commit, 0);
	pthread_mutex_unlock(&F->gw.mu);
	tbatches_free(b, DEVICES * PER_DEVICE);
}

static void worker_killed_mid_stream_loses_nothing(void **state)
{
	enum { DEVICES = 3, PER_DEVICE = 20, ITEMS = 25 };
	static struct tbatch b[DEVICES * PER_DEVICE];
	char dev[32];
	(void)state;
	worker_start(&F->w[0]);
	for (size_t i = 0; i < DEVICES * PER_DEVICE; i++) {
		snprintf(dev, sizeof dev, "dev-0042-k%zu", i % DEVICES);
		tbatch_make(&b[i], dev, "0042", ITEMS, (int)i);
	}
	stream(b, DEVICES * PER_DEVICE, DEVICES, DEVICES * PER_DEVICE / 3);
	assert_int_equal(worker_stop(&F->w[0]), 0);
	verify_applied(b, DEVICES * PER_DEVICE, DEVICES);
	pthread_mutex_lock(&F->gw.mu);
	assert_int_equal(F->gw.ack_before_commit, 0);
	pthread_mutex_unlock(&F->gw.mu);
	tbatches_free(b, DEVICES * PER_DEVICE);
}

static int64_t notices_seen(int64_t *latest)
{
	pthread_mutex_lock(&F->gw.mu);
	int64_t n = F->gw.notices;
	*latest = F->gw.notice_latest;
	assert_int_equal(F->gw.notices_bad, 0);
	pthread_mutex_unlock(&F->gw.mu);
	return n;
}

/* Central's notice of changes: device batches are not announced; an
 * erasure made through another connection to the file (as regularsctl
 * does) is, with its seq, to every gateway. */
static void an_erasure_is_announced_device_updates_are_not(void **state)
{
	struct cloud_store_opts o = {.path = F->db};
	struct cloud_store_stats st;
	struct cloud_store *s;
	struct tbatch b[1];
	int64_t latest = 0, end;
	(void)state;

	worker_start(&F->w[0]);
	tbatch_make(&b[0], "dev-0042-k1", "0042", 5, 0);
	stream(b, 1, 1, 0);
	verify_applied(b, 1, 1);
	/* three looks (notice_ms 500) after the batch's commit: nothing */
	end = tb_now_ms() + 1600;
	while (tb_now_ms() < end)
		gw_wait_event(100);
	assert_int_equal(notices_seen(&latest), 0);

	assert_int_equal(cloud_store_open(&o, &s), 0);
	assert_int_equal(cloud_store_erase(s, NULL, "p-000001"), 1);
	assert_int_equal(cloud_store_stats(s, &st), 0);
	cloud_store_close(s);
	end = tb_now_ms() + WAIT_MS;
	while (notices_seen(&latest) == 0 && tb_now_ms() < end)
		gw_wait_event(50);
	assert_int_equal(notices_seen(&latest), 1);
	assert_int_equal(latest, st.last_change_seq);
	assert_int_equal(worker_stop(&F->w[0]), 0);
	assert_int_equal(log_last(&F->w[0], "notices"), 1);
	tbatches_free(b, 1);
}

static void seeded_customers_answer_lookups(void **state)
{
	static const char lines[] =
	    "{\"id\":\"c-000001\",\"version\":1,\"profile\":{\"name\":\"Anna Schmidt\","
	    "\"first_name\":\"Anna\",\"points\":1200},\"identifiers\":[{\"type\":\"loyalty\","
	    "\"value\":\"2000000000015\"}]}\n"
	    "\n"
	    "{\"id\":\"c-000002\",\"version\":1,\"profile\":{\"name\":\"Bo\"},"
	    "\"identifiers\":[{\"type\":\"nfc_uid\",\"value\":\"04000000000001\"}]}\n";
	uint8_t tok[RG_TOKEN_LEN];
	char path[400], req[200], hex[2 * RG_TOKEN_LEN + 1];
	uint8_t corr[8] = {1, 2, 3, 4, 5, 6, 7, 8};
	(void)state;

	snprintf(path, sizeof path, "%s/customers.jsonl", F->dir);
	write_file(path, lines, sizeof lines - 1);
	assert_int_equal(wait_exit(spawn(&F->w[0], "--seed", path), 20000), 0);
	/* re-seeding is a no-op, and a bad file changes nothing (exit 1) */
	assert_int_equal(wait_exit(spawn(&F->w[0], "--seed", path), 20000), 0);
	write_file(path, "{\"id\":\"x\"}\n", 11);
	assert_int_equal(wait_exit(spawn(&F->w[0], "--seed", path), 20000), 1);

	worker_start(&F->w[0]);
	assert_int_equal(
	    rg_token(tenant_key, sizeof tenant_key, "loyalty", "2000000000015", 13, tok), 0);
	for (size_t i = 0; i < RG_TOKEN_LEN; i++)
		snprintf(hex + 2 * i, 3, "%02x", tok[i]);
	snprintf(req, sizeof req, "{\"v\":1,\"type\":\"lookup\",\"token\":\"%s\"}", hex);
	int64_t end = tb_now_ms() + WAIT_MS, sent = 0;
	bool got = false;
	while (!got && tb_now_ms() < end) {
		if (tb_now_ms() - sent > RESEND_MS &&
		    rg_mqtt_request(F->gw.c, "rg/v1/g/" GW "/req/lookup", req, strlen(req),
				    "rg/v1/g/" GW "/down/resp", corr, sizeof corr, NULL) == 0)
			sent = tb_now_ms();
		gw_wait_event(50);
		pthread_mutex_lock(&F->gw.mu);
		got = F->gw.has_resp;
		pthread_mutex_unlock(&F->gw.mu);
	}
	assert_true(got);
	assert_non_null(strstr(F->gw.resp, "\"found\":true"));
	assert_non_null(strstr(F->gw.resp, "\"id\":\"c-000001\""));
	assert_non_null(strstr(F->gw.resp, "Anna"));
	assert_int_equal(F->gw.resp_corr_len, sizeof corr);
	assert_memory_equal(F->gw.resp_corr, corr, sizeof corr);

	assert_int_equal(worker_stop(&F->w[0]), 0);
	assert_true(log_last(&F->w[0], "lookup_hits") == 1);
}

/* Send req/<op> with correlation data corr (first byte tags it) until an
 * answer with that tag arrives; the answer is left in F->gw.resp. */
static void gw_ask(const char *op, const char *req, uint8_t tag)
{
	char topic[80];
	uint8_t corr[16];
	int64_t end = tb_now_ms() + WAIT_MS, sent = 0;
	bool got = false;
	memset(corr, 0x5a, sizeof corr);
	corr[0] = tag;
	snprintf(topic, sizeof topic, "rg/v1/g/" GW "/req/%s", op);
	pthread_mutex_lock(&F->gw.mu);
	F->gw.has_resp = false;
	pthread_mutex_unlock(&F->gw.mu);
	while (!got && tb_now_ms() < end) {
		if (tb_now_ms() - sent > RESEND_MS &&
		    rg_mqtt_request(F->gw.c, topic, req, strlen(req), "rg/v1/g/" GW "/down/resp",
				    corr, sizeof corr, NULL) == 0)
			sent = tb_now_ms();
		gw_wait_event(50);
		pthread_mutex_lock(&F->gw.mu);
		got = F->gw.has_resp && F->gw.resp_corr_len == sizeof corr &&
		      !memcmp(F->gw.resp_corr, corr, sizeof corr);
		pthread_mutex_unlock(&F->gw.mu);
	}
	assert_true(got);
}

static void replication_requests_get_pages_and_chunks(void **state)
{
	struct delta_page pg;
	struct delta_chunk ch;
	char err[256];
	int64_t next;
	(void)state;

	worker_start(&F->w[0]);
	/* the seeded store: PROFILES seed changes, seq 1..PROFILES */
	gw_ask("changes", "{\"v\":1,\"type\":\"changes\",\"since\":0,\"max\":4}", 1);
	if (delta_page_parse(F->gw.resp, F->gw.resp_len, &pg, err, sizeof err) < 0)
		fail_msg("page refused: %s", err);
	assert_false(pg.snapshot_needed);
	assert_int_equal(pg.since, 0);
	assert_int_equal(pg.n, 4);
	assert_true(pg.more);
	assert_int_equal(pg.next, pg.changes[3].seq);
	assert_int_equal(pg.latest, PROFILES);
	assert_int_equal(pg.changes[0].op, DELTA_PROFILE);
	assert_string_equal(pg.changes[0].id, "p-000001");
	assert_true(pg.as_of_ms > tb_now_ms() - 60000);
	next = pg.next;
	delta_page_free(&pg);

	/* a malformed request (negative cursor) gets no answer: the next
	 * request's answer comes, the bad one's never does */
	{
		static const char bad[] = "{\"v\":1,\"type\":\"changes\",\"since\":-1}";
		char req[120];
		snprintf(req, sizeof req, "{\"v\":1,\"type\":\"changes\",\"since\":%lld}",
			 (long long)next);
		/* sent after the bad one: one worker answers in order */
		rg_mqtt_request(F->gw.c, "rg/v1/g/" GW "/req/changes", bad, strlen(bad),
				"rg/v1/g/" GW "/down/resp", (const uint8_t *)"\x07\x07\x07\x07", 4,
				NULL);
		gw_ask("changes", req, 2);
	}
	if (delta_page_parse(F->gw.resp, F->gw.resp_len, &pg, err, sizeof err) < 0)
		fail_msg("page refused: %s", err);
	assert_int_equal(pg.since, next);
	assert_int_equal(pg.n, PROFILES - 4);
	assert_false(pg.more);
	assert_int_equal(pg.next, PROFILES);
	delta_page_free(&pg);

	gw_ask("snapshot",
	       "{\"v\":1,\"type\":\"snapshot\",\"snapshot\":0,\"after\":\"\",\"max\":3}", 3);
	if (delta_chunk_parse(F->gw.resp, F->gw.resp_len, &ch, err, sizeof err) < 0)
		fail_msg("chunk refused: %s", err);
	assert_true(ch.snapshot > 0);
	assert_int_equal(ch.seq, PROFILES);
	assert_int_equal(ch.n, 3);
	assert_false(ch.done);
	assert_string_equal(ch.next_after, "p-000003");
	delta_chunk_free(&ch);

	assert_int_equal(worker_stop(&F->w[0]), 0);
	pthread_mutex_lock(&F->gw.mu);
	for (size_t i = 0; i < F->gw.n_resp && i < sizeof F->gw.resp_first; i++)
		assert_int_not_equal(F->gw.resp_first[i], 7); /* the bad one: never answered */
	pthread_mutex_unlock(&F->gw.mu);
	assert_true(log_has(&F->w[0], "event=request_refused"));
	assert_true(log_last(&F->w[0], "requests_refused") >= 1);
	assert_true(log_last(&F->w[0], "pages_sent") >= 2);
	assert_true(log_last(&F->w[0], "snapshot_chunks") >= 1);
	assert_true(log_last(&F->w[0], "changes_requests") >= 2);
}

/* Requests have their own thread and connection: a batch sent right after
 * eight snapshot requests for a big store (1000 profiles each) is applied and
 * acked before the last of their chunks is rendered, not after all of them
 * as when one thread did both. */
static void a_batch_is_not_held_behind_snapshot_chunks(void **state)
{
	enum { BIG = 10000, ASKS = 8 };
	struct cloud_store_opts o = {.path = F->db};
	struct cloud_seed_profile *ps = calloc(BIG, sizeof *ps);
	char(*ids)[16] = calloc(BIG, sizeof *ids);
	static const char body[] = "{\"name\":\"Someone With A Longer Name\",\"tier\":\"gold\","
				   "\"home_store\":\"0042\",\"email\":\"someone@example.com\"}";
	static const char req[] =
	    "{\"v\":1,\"type\":\"snapshot\",\"snapshot\":0,\"after\":\"\",\"max\":1000}";
	struct cloud_store *st;
	struct tbatch b;
	uint8_t corr[16];
	size_t resp0, at_ack = 0, got = 0;
	int64_t t0, acked_ms = 0;
	(void)state;

	assert_non_null(ps);
	assert_non_null(ids);
	for (int i = 0; i < BIG; i++) {
		snprintf(ids[i], sizeof ids[i], "q-%06d", i + 1);
		ps[i] = (struct cloud_seed_profile){
		    .id = ids[i], .version = 1, .body = body, .body_len = sizeof body - 1};
	}
	assert_int_equal(cloud_store_open(&o, &st), 0);
	assert_int_equal(cloud_store_seed(st, ps, BIG), BIG);
	cloud_store_close(st);
	free(ps);
	free(ids);
	worker_start(&F->w[0]);
	/* the worker is up once it answers */
	gw_ask("changes", "{\"v\":1,\"type\":\"changes\",\"since\":0,\"max\":1}", 1);

	memset(corr, 0x33, sizeof corr);
	tbatch_make(&b, "dev-0042-k1", "0042", 1, 0);
	pthread_mutex_lock(&F->gw.mu);
	resp0 = F->gw.n_resp;
	pthread_mutex_unlock(&F->gw.mu);
	t0 = tb_now_ms();
	for (int k = 0; k < ASKS; k++) {
		corr[0] = (uint8_t)(20 + k);
		assert_int_equal(rg_mqtt_request(F->gw.c, "rg/v1/g/" GW "/req/snapshot", req,
						 strlen(req), "rg/v1/g/" GW "/down/resp", corr,
						 sizeof corr, NULL),
				 0);
	}
	tbatch_send(&b);
	while (got < ASKS && tb_now_ms() - t0 < WAIT_MS) {
		gw_wait_event(10);
		pthread_mutex_lock(&F->gw.mu);
		got = F->gw.n_resp - resp0;
		pthread_mutex_unlock(&F->gw.mu);
		if (!acked_ms && acked_times(&b.batch) > 0) {
			acked_ms = tb_now_ms();
			at_ack = got;
		}
	}
	print_message("ack after %lld ms with %zu of %d chunks answered; all after %lld ms\n",
		      (long long)(acked_ms - t0), at_ack, ASKS, (long long)(tb_now_ms() - t0));
	assert_int_equal(got, ASKS);
	assert_true(acked_ms > 0);
	assert_true(at_ack < ASKS);
	assert_int_equal(worker_stop(&F->w[0]), 0);
	assert_true(log_has(&F->w[0], "request_thread=1"));
	assert_true(log_last(&F->w[0], "snapshot_chunks") >= ASKS);
	free(b.doc);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(
		acks_follow_commit_and_duplicates_ack_again_without_effect, setup, teardown),
	    cmocka_unit_test_setup_teardown(batch_for_another_store_is_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(a_bundle_is_applied_in_order_and_each_batch_acked,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(two_workers_share_the_load_and_apply_exactly_once,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(worker_killed_mid_stream_loses_nothing, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(seeded_customers_answer_lookups, setup, teardown),
	    cmocka_unit_test_setup_teardown(an_erasure_is_announced_device_updates_are_not, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(a_batch_is_not_held_behind_snapshot_chunks, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(replication_requests_get_pages_and_chunks, setup,
					    teardown),
	};
	if (argc < 2) {
		fprintf(stderr, "usage: %s PATH-TO-regulars-cloud\n", argv[0]);
		return 2;
	}
	cloud_bin = argv[1];
	rg_log_set_level(RG_LOG_WARN);
	return cmocka_run_group_tests_name("cloud_worker", tests, NULL, NULL);
}
