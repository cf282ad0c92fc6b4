/*
 * test_gateway_replica.c - the real regulars-gateway between two real
 * Mosquitto brokers (mutual TLS), with the test playing central (an rg_mqtt
 * client as cloud-1 answering the gateway's req/changes and req/snapshot
 * with pages and chunks from the real delta writer) and a device (an rg_mqtt
 * client as dev-0042-k1 pulling from the gateway's replica). Proves: pages
 * land in the replica and a notice goes out; the device gets the replica's
 * coalesced page; forged or malformed central pages are refused and leave
 * the cursor where it was; lookups are answered from the replica and
 * central's answers are kept; snapshot_needed leads to a chunked snapshot
 * that resumes after a SIGKILL and sweeps what it left out; a device's
 * request not its own is refused; an unanswered pull is retried after 10 s.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/delta.h"
#include "common/hlc.h"
#include "common/log.h"
#include "common/mqtt.h"
#include "gw_fixture.h"
#include "rgclient.h"
#include "tb_assert.h"

#define STORE "0042"
#define GW "gw-0042"
#define DEV1 "dev-0042-k1"
#define WAIT_MS 15000
#define T0 INT64_C(1763899990000)
#define G_REQ "rg/v1/g/" GW "/req/"
#define G_RESP "rg/v1/g/" GW "/down/resp"
#define G_STATUS "rg/v1/g/" GW "/status"
#define D_REQ "rg/v1/s/" STORE "/d/" DEV1 "/req/"
#define D_RESP "rg/v1/s/" STORE "/d/" DEV1 "/down/resp"
#define NOTICE "rg/v1/s/" STORE "/down/changes"
#define QMAX 64

static const char *gateway_bin;

/* ---- peers: rg_mqtt clients queueing what they receive (v5 properties kept) ---- */

struct msg {
	char topic[RG_MQTT_TOPIC_MAX];
	char *payload;
	size_t len;
	char resp[RG_MQTT_TOPIC_MAX];
	uint8_t corr[RG_MQTT_CORR_MAX];
	size_t corr_len;
};

struct peer {
	struct tb_rgclient cl; /* cl.mu guards q and n */
	struct msg q[QMAX];
	size_t n;
};

static void p_message(void *ctx, const struct rg_mqtt_msg *m)
{
	struct peer *p = ctx;
	pthread_mutex_lock(&p->cl.mu);
	if (p->n < QMAX) {
		struct msg *s = &p->q[p->n];
		memset(s, 0, sizeof *s);
		snprintf(s->topic, sizeof s->topic, "%s", m->topic);
		if ((s->payload = malloc(m->len + 1))) {
			memcpy(s->payload, m->payload, m->len);
			s->payload[m->len] = '\0';
			s->len = m->len;
			snprintf(s->resp, sizeof s->resp, "%s",
				 m->response_topic ? m->response_topic : "");
			if (m->corr && m->corr_len <= sizeof s->corr) {
				memcpy(s->corr, m->corr, m->corr_len);
				s->corr_len = m->corr_len;
			}
			p->n++;
		}
	}
	pthread_cond_broadcast(&p->cl.cv);
	pthread_mutex_unlock(&p->cl.mu);
}

static struct peer *peer_new(struct tb_env *env, const struct tb_broker *b, const char *identity,
			     const char *f1, const char *f2, const char *f3)
{
	const char *filters[] = {f1, f2, f3, NULL};
	struct peer *p = calloc(1, sizeof *p);
	assert_non_null(p);
	if (tb_rgclient_start(&p->cl, env, b, identity, filters, p_message, p, WAIT_MS) < 0)
		fail_msg("%s never connected", identity);
	return p;
}

static void peer_free(struct peer *p)
{
	if (!p)
		return;
	tb_rgclient_stop(&p->cl);
	for (size_t i = 0; i < p->n; i++)
		free(p->q[i].payload);
	free(p);
}

/* Take the oldest message whose topic starts with prefix (others stay),
 * waiting up to ms. 0, or RG_ERR_TIMEOUT. The caller frees out->payload. */
static int peer_take(struct peer *p, const char *prefix, struct msg *out, int ms)
{
	struct timespec t;
	rg_deadline_ms(&t, ms);
	pthread_mutex_lock(&p->cl.mu);
	for (;;) {
		for (size_t i = 0; i < p->n; i++)
			if (!strncmp(p->q[i].topic, prefix, strlen(prefix))) {
				*out = p->q[i];
				memmove(&p->q[i], &p->q[i + 1], (p->n - i - 1) * sizeof p->q[0]);
				p->n--;
				pthread_mutex_unlock(&p->cl.mu);
				return 0;
			}
		if (pthread_cond_timedwait(&p->cl.cv, &p->cl.mu, &t) == ETIMEDOUT) {
			pthread_mutex_unlock(&p->cl.mu);
			return RG_ERR_TIMEOUT;
		}
	}
}

static struct msg must_take(struct peer *p, const char *prefix)
{
	struct msg m;
	if (peer_take(p, prefix, &m, WAIT_MS) < 0)
		fail_msg("nothing on %s within %d ms", prefix, WAIT_MS);
	return m;
}

/* ---- central's side: pages from the real writer ---- */

static void token_of(int n, uint8_t t[RG_TOKEN_LEN])
{
	for (int i = 0; i < RG_TOKEN_LEN; i++)
		t[i] = (uint8_t)(n * 11 + i);
}

static void token_hex(int n, char hex[2 * RG_TOKEN_LEN + 1])
{
	uint8_t t[RG_TOKEN_LEN];
	token_of(n, t);
	for (int i = 0; i < RG_TOKEN_LEN; i++)
		snprintf(hex + 2 * i, 3, "%02x", t[i]);
}

static struct delta_change prof(int64_t seq, int num, int64_t version)
{
	static struct delta_ident ids[64];
	static int next;
	struct delta_change c;
	struct rg_hlc h = {.wall_ms = T0 + version, .logical = 0};
	memset(&c, 0, sizeof c);
	c.seq = seq;
	c.op = DELTA_PROFILE;
	snprintf(c.id, sizeof c.id, "p-%06d", num);
	c.version = version;
	c.hlc = rg_hlc_pack(&h);
	c.body = "{\"name\":\"someone\",\"points\":10}";
	c.body_len = strlen(c.body);
	c.idents = &ids[next++ % 64];
	token_of(num, c.idents[0].token);
	snprintf(c.idents[0].type, sizeof c.idents[0].type, "loyalty");
	c.n_idents = 1;
	return c;
}

static struct delta_change op(int64_t seq, enum delta_op o, int from, int into)
{
	struct delta_change c;
	memset(&c, 0, sizeof c);
	c.seq = seq;
	c.op = o;
	snprintf(c.id, sizeof c.id, "p-%06d", from);
	if (into)
		snprintf(c.other, sizeof c.other, "p-%06d", into);
	return c;
}

static void answer(struct peer *cloud, const struct msg *req, const char *text, size_t len)
{
	assert_string_equal(req->resp, G_RESP);
	assert_int_equal(req->corr_len, 16);
	assert_int_equal(
	    rg_mqtt_request(cloud->cl.c, req->resp, text, len, NULL, req->corr, req->corr_len, NULL),
	    0);
}

static void answer_page(struct peer *cloud, const struct msg *req, int64_t since, int64_t next,
			const struct delta_change *cs, size_t n)
{
	struct delta_writer *w;
	char *text;
	size_t len;
	assert_int_equal(delta_writer_new(since, &w), 0);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(delta_writer_add(w, &cs[i]), 0);
	assert_int_equal(delta_writer_finish(w, next, next, 0, T0, false, &text, &len), 0);
	answer(cloud, req, text, len);
	free(text);
}

/* The gateway's next request to central: it must be `kind` and parse. */
static struct msg next_request(struct peer *cloud, const char *kind, struct delta_request *q)
{
	char topic[128], err[256];
	struct msg m;
	snprintf(topic, sizeof topic, G_REQ "%s", kind);
	m = must_take(cloud, topic);
	assert_int_equal(delta_request_parse(m.payload, m.len, q, err, sizeof err), 0);
	return m;
}

/* ---- the device's side ---- */

/* Notices until one says latest = want. */
static void wait_notice(struct peer *dev, int64_t want)
{
	int64_t latest = -1;
	while (latest != want) {
		struct msg n = must_take(dev, NOTICE);
		assert_int_equal(delta_notice_parse(n.payload, n.len, &latest), 0);
		free(n.payload);
	}
}

static struct delta_page device_pull(struct peer *dev, int64_t since)
{
	struct delta_request q = {.since = since, .max = 200};
	uint8_t corr[16] = {0xd, 0xe, 0xf};
	char *text = delta_request_build(&q), err[256];
	struct delta_page p;
	struct msg m;
	assert_non_null(text);
	corr[15] = (uint8_t)since;
	assert_int_equal(rg_mqtt_request(dev->cl.c, D_REQ "changes", text, strlen(text), D_RESP, corr,
					 sizeof corr, NULL),
			 0);
	free(text);
	m = must_take(dev, D_RESP);
	assert_int_equal(m.corr_len, sizeof corr);
	assert_memory_equal(m.corr, corr, sizeof corr);
	assert_int_equal(delta_page_parse(m.payload, m.len, &p, err, sizeof err), 0);
	free(m.payload);
	return p;
}

/* The device's lookup of token n: the answer's text (free). */
static char *device_lookup(struct peer *dev, int n)
{
	char hex[2 * RG_TOKEN_LEN + 1], body[160];
	uint8_t corr[8] = {1, 2, 3, 4, 5, 6, 7, (uint8_t)n};
	struct msg m;
	token_hex(n, hex);
	snprintf(body, sizeof body, "{\"v\":1,\"type\":\"lookup\",\"token\":\"%s\"}", hex);
	assert_int_equal(rg_mqtt_request(dev->cl.c, D_REQ "lookup", body, strlen(body), D_RESP, corr,
					 sizeof corr, NULL),
			 0);
	m = must_take(dev, D_RESP);
	assert_memory_equal(m.corr, corr, sizeof corr);
	return m.payload;
}

/* ---- the gateway process ---- */

struct fx {
	struct tb_env *env;
	struct tb_broker *store, *central;
	char cfg[PATH_MAX], log[PATH_MAX], spool[PATH_MAX];
	pid_t gw;
	struct peer *cloud, *dev;
	int pull_ms; /* replica.pull_ms; 0: 400 */
};

static void write_config(struct fx *f)
{
	char ca[PATH_MAX], crt[PATH_MAX], key[PATH_MAX];
	FILE *o;
	assert_int_equal(tb_env_file(f->env, "ca", ".crt", ca, sizeof ca), 0);
	assert_int_equal(tb_env_file(f->env, GW, ".crt", crt, sizeof crt), 0);
	assert_int_equal(tb_env_file(f->env, GW, ".key", key, sizeof key), 0);
	assert_non_null(o = fopen(f->cfg, "w"));
	fprintf(o,
		"{\"store_id\":\"%s\",\"store_broker\":{\"host\":\"localhost\",\"port\":%u},"
		"\"central_broker\":{\"host\":\"localhost\",\"port\":%u},"
		"\"tls\":{\"ca_file\":\"%s\",\"cert_file\":\"%s\",\"key_file\":\"%s\"},"
		"\"spool\":{\"path\":\"%s\"},\"replica\":{\"pull_ms\":%d},"
		"\"forward\":{\"reconnect_max_ms\":500},\"stats_interval_s\":1,"
		"\"log_level\":\"debug\"}\n",
		STORE, tb_broker_port(f->store), tb_broker_port(f->central), ca, crt, key, f->spool,
		f->pull_ms ? f->pull_ms : 400);
	fclose(o);
}

static void gw_start(struct fx *f)
{
	f->gw = gwfx_spawn(gateway_bin, f->cfg, f->log);
	assert_true(f->gw > 0);
}

static void gw_kill(struct fx *f, int sig)
{
	int st;
	assert_true(f->gw > 0);
	assert_int_equal(kill(f->gw, sig), 0);
	assert_int_equal(waitpid(f->gw, &st, 0), f->gw);
	f->gw = -1;
	if (sig == SIGTERM) /* a clean stop: exit 0 (and no sanitizer report) */
		assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

static int count_in_log(struct fx *f, const char *needle)
{
	char *log = gwfx_slurp(f->log);
	int n = 0;
	for (const char *p = log ? strstr(log, needle) : NULL; p; p = strstr(p + 1, needle))
		n++;
	free(log);
	return n;
}

static void wait_log_count(struct fx *f, const char *needle, int want)
{
	int64_t end = tb_now_ms() + WAIT_MS;
	while (count_in_log(f, needle) < want) {
		if (tb_now_ms() > end)
			fail_msg("fewer than %d \"%s\" in the gateway log %s", want, needle,
				 f->log);
		usleep(20000);
	}
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof *f);
	if (!f || gwfx_setup(NULL) < 0 || tb_env_create(&f->env, "acme") < 0)
		return -1;
	rg_log_set_level(RG_LOG_OFF);
	if (tb_env_issue(f->env, PKI_KIND_GATEWAY, GW, STORE) < 0 ||
	    tb_env_issue(f->env, PKI_KIND_CLOUD, "cloud-1", NULL) < 0 ||
	    tb_env_issue(f->env, PKI_KIND_DEVICE, DEV1, STORE) < 0)
		return -1;
	if (tb_broker_start(f->env, PKI_BROKER_STORE, STORE, &f->store) < 0 ||
	    tb_broker_start(f->env, PKI_BROKER_CENTRAL, NULL, &f->central) < 0)
		return -1;
	snprintf(f->cfg, sizeof f->cfg, "%s/gateway.json", tb_env_dir(f->env));
	snprintf(f->log, sizeof f->log, "%s/gateway.log", tb_env_dir(f->env));
	snprintf(f->spool, sizeof f->spool, "%s/spool.db", tb_env_dir(f->env));
	f->gw = -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	if (f->gw > 0) {
		kill(f->gw, SIGKILL);
		waitpid(f->gw, NULL, 0);
	}
	peer_free(f->cloud);
	peer_free(f->dev);
	tb_env_free(f->env);
	gwfx_teardown(NULL);
	free(f);
	return 0;
}

/* ---- the test ---- */

static void central_pages_reach_the_replica_and_the_device_pulls_them(void **state)
{
	struct fx *f = *state;
	struct delta_request q;
	struct delta_change cs[4];
	struct delta_page p;
	struct msg m, n;
	char *text, *bad, replica_path[PATH_MAX + 16];
	(void)bad;
	struct stat sb;

	f->cloud =
	    peer_new(f->env, f->central, "cloud-1", "$share/cloud/rg/v1/g/+/req/#", G_STATUS, NULL);
	f->dev =
	    peer_new(f->env, f->store, DEV1, "rg/v1/s/" STORE "/d/" DEV1 "/down/#", NOTICE, NULL);
	write_config(f);
	gw_start(f);

	/* 1. On connect the gateway asks for everything; central's page lands,
	 * and the store hears about it. */
	m = next_request(f->cloud, "changes", &q);
	assert_false(q.snapshot);
	assert_int_equal(q.since, 0);
	cs[0] = prof(10, 1, 1);
	cs[1] = prof(11, 2, 1);
	cs[2] = prof(12, 1, 2); /* p-1 again: devices see it once */
	cs[3] = prof(13, 3, 1);
	answer_page(f->cloud, &m, 0, 13, cs, 4);
	free(m.payload);
	wait_notice(f->dev, 4);
	snprintf(replica_path, sizeof replica_path, "%s-replica", f->spool);
	assert_int_equal(stat(replica_path, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);

	/* 2. The device pulls from the replica: coalesced, as_of from central. */
	p = device_pull(f->dev, 0);
	assert_int_equal(p.n, 3);
	assert_int_equal(p.next, 4);
	assert_int_equal(p.as_of_ms, T0);
	assert_string_equal(p.changes[0].id, "p-000002");
	assert_string_equal(p.changes[1].id, "p-000001");
	assert_int_equal(p.changes[1].version, 2);
	assert_int_equal(p.changes[1].n_idents, 1);
	assert_string_equal(p.changes[2].id, "p-000003");
	delta_page_free(&p);

	/* 3. Forged and malformed pages are refused whole; the cursor stays. */
	m = next_request(f->cloud, "changes", &q);
	assert_int_equal(q.since, 13);
	cs[0] = prof(14, 4, 1);
	answer_page(f->cloud, &m, 12, 14, cs, 1); /* since not the one asked */
	free(m.payload);
	wait_log_count(f, "event=delta_refused kind=changes reason=since_mismatch", 1);
	m = next_request(f->cloud, "changes", &q);
	assert_int_equal(q.since, 13);
	{
		struct delta_writer *w;
		size_t len;
		assert_int_equal(delta_writer_new(13, &w), 0);
		assert_int_equal(delta_writer_add(w, &cs[0]), 0);
		assert_int_equal(delta_writer_finish(w, 14, 14, 0, T0, false, &text, &len), 0);
		assert_non_null(bad = strstr(text, "\"token\":\""));
		bad[9] = 'Z'; /* not hex */
		answer(f->cloud, &m, text, len);
		free(text);
	}
	free(m.payload);
	wait_log_count(f, "event=delta_refused kind=changes reason=malformed", 1);
	m = next_request(f->cloud, "changes", &q);
	assert_int_equal(q.since, 13);
	{
		/* A page under correlation data nobody asked with is ignored. */
		struct msg forged = m;
		forged.corr[0] ^= 0xff;
		cs[0] = prof(14, 4, 1);
		answer_page(f->cloud, &forged, 13, 14, cs, 1);
		wait_log_count(f, "event=response_unexpected", 1);
	}
	p = device_pull(f->dev, 4);
	assert_int_equal(p.n, 0);
	assert_int_equal(p.latest, 4);
	delta_page_free(&p);

	/* 4. merge and erase reach the device. */
	cs[0] = op(20, DELTA_MERGE, 2, 1);
	cs[1] = op(21, DELTA_ERASE, 3, 0);
	answer_page(f->cloud, &m, 13, 21, cs, 2);
	free(m.payload);
	wait_notice(f->dev, 6);
	p = device_pull(f->dev, 4);
	assert_int_equal(p.n, 2);
	assert_int_equal(p.changes[0].op, DELTA_MERGE);
	assert_string_equal(p.changes[0].id, "p-000002");
	assert_string_equal(p.changes[0].other, "p-000001");
	assert_int_equal(p.changes[1].op, DELTA_ERASE);
	delta_page_free(&p);

	/* 5. Lookups: p-2's token (merged) answers p-1 from the replica with
	 * central never asked; an unknown token goes to central, whose answer
	 * is relayed and kept, so the second time the replica answers. */
	text = device_lookup(f->dev, 2);
	assert_non_null(strstr(text, "\"found\":true"));
	assert_non_null(strstr(text, "\"id\":\"p-000001\""));
	free(text);
	wait_log_count(f, "event=lookup_from_replica", 1);
	{
		char hex[2 * RG_TOKEN_LEN + 1], want[160];
		uint8_t corr[8] = {1, 2, 3, 4, 5, 6, 7, 9};
		static const char found9[] =
		    "{\"v\":1,\"type\":\"lookup_result\",\"found\":true,\"profile\":{\"id\":"
		    "\"p-000009\",\"version\":3,\"hlc\":\"1763899990003.0\",\"body\":{\"name\":"
		    "\"nine\"}}}";
		token_hex(9, hex);
		snprintf(want, sizeof want, "{\"v\":1,\"type\":\"lookup\",\"token\":\"%s\"}", hex);
		assert_int_equal(rg_mqtt_request(f->dev->cl.c, D_REQ "lookup", want, strlen(want),
						 D_RESP, corr, sizeof corr, NULL),
				 0);
		m = must_take(f->cloud, G_REQ "lookup");
		assert_string_equal(m.payload, want);
		assert_string_equal(m.resp, G_RESP);
		assert_int_equal(rg_mqtt_request(f->cloud->cl.c, m.resp, found9, sizeof found9 - 1,
						 NULL, m.corr, m.corr_len, NULL),
				 0);
		free(m.payload);
		n = must_take(f->dev, D_RESP);
		assert_memory_equal(n.corr, corr, sizeof corr);
		assert_string_equal(n.payload, found9);
		free(n.payload);
	}
	text = device_lookup(f->dev, 9);
	assert_non_null(strstr(text, "\"id\":\"p-000009\""));
	assert_non_null(strstr(text, "\"name\":\"nine\""));
	free(text);
	wait_log_count(f, "event=lookup_from_replica", 2);
	assert_int_equal(peer_take(f->cloud, G_REQ "lookup", &m, 0), RG_ERR_TIMEOUT);

	/* 6. The retained status on central carries the replica's state. */
	for (;;) {
		m = must_take(f->cloud, G_STATUS);
		bool done = strstr(m.payload, "\"replica\":{\"cursor\":21,\"gseq\":6,") != NULL;
		free(m.payload);
		if (done)
			break;
	}

	/* 7. snapshot_needed -> a chunked snapshot, resumed after a SIGKILL,
	 * sweeping what it did not include (p-9, known from a lookup only). */
	m = next_request(f->cloud, "changes", &q);
	assert_int_equal(q.since, 21);
	assert_non_null(text = delta_page_snapshot_needed(21, 5000, 900, T0));
	answer(f->cloud, &m, text, strlen(text));
	free(text);
	free(m.payload);
	m = next_request(f->cloud, "snapshot", &q);
	assert_true(q.snapshot);
	assert_int_equal(q.snapshot_id, 0);
	assert_string_equal(q.after, "");
	{
		struct delta_change c1 = prof(0, 1, 5);
		size_t len;
		assert_int_equal(delta_chunk_build(77, 900, T0 + 9, "", false, &c1, 1, &text, &len),
				 0);
		answer(f->cloud, &m, text, len);
		free(text);
	}
	free(m.payload);
	m = next_request(f->cloud, "snapshot", &q);
	assert_int_equal(q.snapshot_id, 77);
	assert_string_equal(q.after, "p-000001");
	free(m.payload);
	gw_kill(f, SIGKILL);
	gw_start(f);
	m = next_request(f->cloud, "snapshot", &q);
	assert_int_equal(q.snapshot_id, 77);
	assert_string_equal(q.after, "p-000001");
	{
		struct delta_change c5 = prof(0, 5, 1);
		size_t len;
		assert_int_equal(
		    delta_chunk_build(77, 900, T0 + 9, "p-000001", true, &c5, 1, &text, &len), 0);
		answer(f->cloud, &m, text, len);
		free(text);
	}
	free(m.payload);
	m = next_request(f->cloud, "changes", &q);
	assert_int_equal(q.since, 900);
	free(m.payload);
	wait_log_count(f, "event=snapshot_done applied=1 swept=1", 1);

	/* The device behind the sweep is told to take a snapshot, and the
	 * gateway's snapshot holds exactly what central's did. */
	p = device_pull(f->dev, 6);
	assert_true(p.snapshot_needed);
	delta_page_free(&p);
	{
		struct delta_request sq = {.snapshot = true, .snapshot_id = 0, .max = 100};
		uint8_t corr[16] = {0x55};
		struct delta_chunk c;
		char err[256], *req = delta_request_build(&sq);
		assert_non_null(req);
		assert_int_equal(rg_mqtt_request(f->dev->cl.c, D_REQ "snapshot", req, strlen(req),
						 D_RESP, corr, sizeof corr, NULL),
				 0);
		free(req);
		n = must_take(f->dev, D_RESP);
		assert_int_equal(delta_chunk_parse(n.payload, n.len, &c, err, sizeof err), 0);
		free(n.payload);
		assert_true(c.done);
		assert_int_equal(c.n, 2);
		assert_string_equal(c.changes[0].id, "p-000001");
		assert_int_equal(c.changes[0].version, 5);
		assert_string_equal(c.changes[1].id, "p-000005");
		assert_int_equal(c.as_of_ms, T0 + 9);
		delta_chunk_free(&c);
	}

	/* 8. A device request that is not its own (wrong response topic) gets
	 * no answer, a log line and a counter. */
	{
		uint8_t corr[4] = {9, 9, 9, 9};
		static const char req[] = "{\"v\":1,\"type\":\"changes\",\"since\":0}";
		assert_int_equal(rg_mqtt_request(f->dev->cl.c, D_REQ "changes", req, sizeof req - 1,
						 "rg/v1/s/" STORE "/d/dev-0042-k2/down/resp", corr,
						 sizeof corr, NULL),
				 0);
		wait_log_count(f, "event=request_refused device=" DEV1 " op=changes", 1);
		static const char extra[] = "{\"v\":1,\"type\":\"changes\",\"since\":0,\"x\":1}";
		assert_int_equal(rg_mqtt_request(f->dev->cl.c, D_REQ "changes", extra,
						 sizeof extra - 1, D_RESP, corr, sizeof corr, NULL),
				 0);
		wait_log_count(f, "event=request_refused device=" DEV1 " op=changes", 2);
		assert_int_equal(peer_take(f->dev, D_RESP, &n, 0), RG_ERR_TIMEOUT);
	}

	/* 9. The changes request after the snapshot was never answered: after
	 * 10 s it is dropped and the same cursor asked again. */
	m = next_request(f->cloud, "changes", &q);
	assert_int_equal(q.since, 900);
	free(m.payload);
	assert_int_equal(count_in_log(f, "event=pull_timeout kind=changes since=900"), 1);

	gw_kill(f, SIGTERM);
	assert_true(count_in_log(f, "event=stats_final") == 1);
	assert_true(count_in_log(f, "device_requests_refused=2") >= 1);
}

static void cloud_notice(struct fx *f, const char *text)
{
	assert_int_equal(rg_mqtt_publish(f->cloud->cl.c, RG_TOPIC_CENTRAL_CHANGES, text,
					 strlen(text), 0, false, NULL),
			 0);
}

/* Central's notice of changes, with the gateway's own pulls 10 minutes
 * apart: one it does not parse is refused and counted; one at its cursor
 * asks nothing; one above its cursor makes it pull at once. */
static void a_central_notice_above_the_cursor_pulls_at_once(void **state)
{
	struct fx *f = *state;
	struct delta_request q;
	struct delta_change c = prof(13, 1, 1);
	struct msg m;
	char *text;

	f->pull_ms = 600000;
	f->cloud =
	    peer_new(f->env, f->central, "cloud-1", "$share/cloud/rg/v1/g/+/req/#", G_STATUS, NULL);
	write_config(f);
	gw_start(f);
	m = next_request(f->cloud, "changes", &q); /* at connect */
	assert_int_equal(q.since, 0);
	answer_page(f->cloud, &m, 0, 13, &c, 1);
	free(m.payload);
	wait_log_count(f, "event=delta_applied kind=changes applied=1", 1);

	cloud_notice(f, "{\"v\":1,\"type\":\"changes_available\"}");
	wait_log_count(f, "event=notice_refused", 1);
	assert_non_null(text = delta_notice_build(13));
	cloud_notice(f, text);
	free(text);
	wait_log_count(f, "central_notices=1 central_notices_refused=1", 1);
	assert_int_equal(peer_take(f->cloud, G_REQ "changes", &m, 1000), RG_ERR_TIMEOUT);

	assert_non_null(text = delta_notice_build(20));
	cloud_notice(f, text);
	free(text);
	m = next_request(f->cloud, "changes", &q);
	assert_int_equal(q.since, 13);
	free(m.payload);
	gw_kill(f, SIGTERM);
	assert_true(count_in_log(f, "central_notices=2 central_notices_refused=1") >= 1);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(
		central_pages_reach_the_replica_and_the_device_pulls_them, setup, teardown),
	    cmocka_unit_test_setup_teardown(a_central_notice_above_the_cursor_pulls_at_once, setup,
					    teardown),
	};
	if (argc < 2) {
		fprintf(stderr, "usage: %s REGULARS-GATEWAY\n", argv[0]);
		return 2;
	}
	gateway_bin = argv[1];
	return cmocka_run_group_tests(tests, NULL, NULL);
}
