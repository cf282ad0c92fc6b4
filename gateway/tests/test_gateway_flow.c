/*
 * test_gateway_flow.c - the real regulars-gateway binary between two real
 * Mosquitto brokers (store "0042" and central, mutual TLS), with the test
 * playing the devices (tb_client, and the real mosquitto_pub CLI for bad
 * input) and the cloud worker: batches reach central in order and central's
 * acks reach the devices and empty the spool; with central down batches
 * spool and receipts still come, then drain; a SIGKILLed gateway loses
 * nothing; bad batches are refused with a receipt, a log line and a counter
 * while a good device keeps flowing; a full disk budget sheds telemetry,
 * then refuses with spool_full, and loses nothing it accepted.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/log.h"
#include "common/wire.h"
#include "gateway/spool.h"
#include "gw_fixture.h"
#include "tb_assert.h"

#define STORE "0042"
#define GW "gw-0042"
#define DEV1 "dev-0042-k1"
#define DEV2 "dev-0042-k2"
#define UP(dev, lane) "rg/v1/s/" STORE "/d/" dev "/up/" lane
#define DOWN(dev) "rg/v1/s/" STORE "/d/" dev "/down/#"
#define CENTRAL_UP "$share/cloud/rg/v1/g/+/up/#"
#define CENTRAL_ACK "rg/v1/g/" GW "/down/ack"
#define WAIT_MS 15000
#define MAX_BATCHES 512

static const char *gateway_bin;

struct sent {
	struct rg_uuid id;
	struct rg_uuid items[RG_WIRE_MAX_ITEMS];
	size_t n;
	enum rg_lane lane;
	const char *device;
	int receipt; /* 0 none, 1 spooled, 2 refused */
	char reason[32];
	bool acked;   /* the device got central's ack */
	int at_cloud; /* copies the cloud received */
};

struct fx {
	struct tb_env *env;
	struct tb_broker *store, *central;
	char cfg[PATH_MAX], log[PATH_MAX], spool[PATH_MAX];
	pid_t gw;
	struct tb_client *dev1, *dev2, *cloud;
	struct sent sent[MAX_BATCHES];
	size_t n_sent;
	int cloud_order_errors;
	int cloud_bundles; /* messages that carried several batches */
	int64_t budget;
	bool shedding;
};

/* ---- the gateway process ---- */

static void write_config(struct fx *f, int64_t budget, int stats_s)
{
	char ca[PATH_MAX], crt[PATH_MAX], key[PATH_MAX];
	FILE *o;
	assert_int_equal(tb_env_file(f->env, "ca", ".crt", ca, sizeof ca), 0);
	assert_int_equal(tb_env_file(f->env, GW, ".crt", crt, sizeof crt), 0);
	assert_int_equal(tb_env_file(f->env, GW, ".key", key, sizeof key), 0);
	assert_non_null(o = fopen(f->cfg, "w"));
	fprintf(o,
		"{\"store_id\":\"%s\",\"identity\":\"%s\","
		"\"store_broker\":{\"host\":\"localhost\",\"port\":%u},"
		"\"central_broker\":{\"host\":\"localhost\",\"port\":%u},"
		"\"tls\":{\"ca_file\":\"%s\",\"cert_file\":\"%s\",\"key_file\":\"%s\"},"
		"\"spool\":{\"path\":\"%s\",\"budget_bytes\":%lld},"
		"\"forward\":{\"window\":16,\"resend_ms\":3000},"
		"\"stats_interval_s\":%d}\n",
		STORE, GW, tb_broker_port(f->store), tb_broker_port(f->central), ca, crt, key,
		f->spool, (long long)budget, stats_s);
	fclose(o);
}

static void gw_start(struct fx *f)
{
	f->gw = gwfx_spawn(gateway_bin, f->cfg, f->log);
	assert_true(f->gw > 0);
}

static int gw_wait_exit(struct fx *f, int ms)
{
	int64_t end = tb_now_ms() + ms;
	int st;
	while (tb_now_ms() < end) {
		pid_t r = waitpid(f->gw, &st, WNOHANG);
		if (r == f->gw) {
			f->gw = -1;
			return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
		}
		tb_env_pump(f->env, 5);
	}
	return -1;
}

static void gw_signal(struct fx *f, int sig)
{
	assert_true(f->gw > 0);
	assert_int_equal(kill(f->gw, sig), 0);
}

/* Wait until the gateway's log holds needle (driving the clients). */
static void wait_log(struct fx *f, const char *needle)
{
	int64_t end = tb_now_ms() + WAIT_MS;
	for (;;) {
		char *log = gwfx_slurp(f->log);
		bool found = log && strstr(log, needle);
		free(log);
		if (found)
			return;
		if (tb_now_ms() > end)
			fail_msg("no \"%s\" in the gateway log %s", needle, f->log);
		tb_env_pump(f->env, 20);
	}
}

/* The last value of key=<n> in the log's last line holding event. */
static long long log_counter(struct fx *f, const char *event, const char *key)
{
	char *log = gwfx_slurp(f->log), *line = NULL, *p, want[64];
	long long v = -1;
	assert_non_null(log);
	snprintf(want, sizeof want, "event=%s ", event);
	for (p = strstr(log, want); p; p = strstr(p + 1, want))
		line = p;
	if (line) {
		char k[64];
		snprintf(k, sizeof k, " %s=", key);
		char *eol = strchr(line, '\n'), *at = strstr(line, k);
		if (at && (!eol || at < eol))
			v = atoll(at + strlen(k));
	}
	free(log);
	return v;
}

/* ---- fixture ---- */

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof *f);
	if (!f || gwfx_setup(NULL) < 0 || tb_env_create(&f->env, "acme") < 0)
		return -1;
	rg_log_set_level(RG_LOG_OFF);
	if (tb_env_issue(f->env, PKI_KIND_GATEWAY, GW, STORE) < 0 ||
	    tb_env_issue(f->env, PKI_KIND_GATEWAY, "gw-0043", "0043") < 0 ||
	    tb_env_issue(f->env, PKI_KIND_CLOUD, "cloud-1", NULL) < 0 ||
	    tb_env_issue(f->env, PKI_KIND_DEVICE, DEV1, STORE) < 0 ||
	    tb_env_issue(f->env, PKI_KIND_DEVICE, DEV2, STORE) < 0)
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
	if (!f)
		return 0;
	if (f->gw > 0) {
		kill(f->gw, SIGKILL);
		waitpid(f->gw, NULL, 0);
	}
	if (getenv("TB_KEEP"))
		fprintf(stderr, "gateway log: %s\n", f->log);
	tb_env_free(f->env);
	gwfx_teardown(NULL);
	free(f);
	return 0;
}

static struct tb_client *device(struct fx *f, const char *id, const char *down)
{
	struct tb_client_opts o = {.identity = id, .persistent = true};
	struct tb_client *c;
	int reason;
	assert_int_equal(tb_client_new(f->env, &o, &c), 0);
	assert_int_equal(tb_client_connect(c, f->store, &reason), 0);
	assert_int_equal(tb_sub(c, down), 1);
	return c;
}

static void cloud_connect(struct fx *f)
{
	struct tb_client_opts o = {.identity = "cloud-1", .persistent = true};
	int reason;
	if (!f->cloud)
		assert_int_equal(tb_client_new(f->env, &o, &f->cloud), 0);
	if (tb_client_connect(f->cloud, f->central, &reason))
		fail_msg("cloud-1 cannot connect (%d); log %s", reason, tb_broker_log(f->central));
	assert_int_equal(tb_sub(f->cloud, CENTRAL_UP), 1);
}

/* Start everything and wait for the gateway to say both links are up. */
static void start_all(struct fx *f, int64_t budget)
{
	struct tb_msg m;
	f->budget = budget;
	write_config(f, budget, 1);
	cloud_connect(f);
	f->dev1 = device(f, DEV1, DOWN(DEV1));
	assert_int_equal(tb_sub(f->dev1, "rg/v1/s/" STORE "/gateway/status"), 1);
	gw_start(f);
	for (int64_t end = tb_now_ms() + WAIT_MS;;) {
		if (tb_now_ms() > end)
			fail_msg("the gateway never reported central online; log %s", f->log);
		if (tb_client_next(f->dev1, &m, 100) == 0 && strstr(m.topic, "gateway/status") &&
		    strstr(m.payload, "\"central\":\"online\""))
			break;
	}
}

/* ---- playing the devices ---- */

static struct sent *find_batch(struct fx *f, const struct rg_uuid *id)
{
	for (size_t i = 0; i < f->n_sent; i++)
		if (!rg_uuid_cmp(&f->sent[i].id, id))
			return &f->sent[i];
	return NULL;
}

/* Publish one small batch of n items; returns its record. */
static struct sent *send_batch(struct fx *f, struct tb_client *c, const char *dev,
			       enum rg_kind kind, size_t n)
{
	char *doc, topic[128];
	size_t len;
	struct sent *s;
	assert_true(f->n_sent < MAX_BATCHES);
	s = &f->sent[f->n_sent++];
	memset(s, 0, sizeof *s);
	assert_int_equal(gwfx_batch(dev, STORE, kind, n, 0, &doc, &len, s->items, &s->id), 0);
	assert_true(len < 1000); /* tb_msg carries 1023 bytes */
	s->n = n;
	s->lane = rg_kind_lane(kind);
	s->device = dev;
	snprintf(topic, sizeof topic, "rg/v1/s/%s/d/%s/up/%s", STORE, dev, rg_lane_name(s->lane));
	assert_int_equal(tb_pub(c, topic, doc), RC_OK);
	free(doc);
	return s;
}

/* Read what the devices got (receipts, acks) until pred holds. */
static void device_take(struct fx *f, struct tb_client *c)
{
	struct tb_msg m;
	while (tb_client_next(c, &m, 0) == 0) {
		if (strstr(m.topic, "/down/receipt")) {
			char *b = strstr(m.payload, "\"batch\":\"");
			struct rg_uuid id;
			char text[RG_UUID_STR_LEN + 1];
			assert_non_null(b);
			memcpy(text, b + 9, RG_UUID_STR_LEN);
			text[RG_UUID_STR_LEN] = '\0';
			assert_int_equal(rg_uuid_parse(text, &id), 0);
			struct sent *s = find_batch(f, &id);
			assert_non_null(s);
			if (strstr(m.payload, "\"status\":\"spooled\"")) {
				s->receipt = 1;
			} else {
				char *r = strstr(m.payload, "\"reason\":\"");
				assert_non_null(r);
				s->receipt = 2;
				snprintf(s->reason, sizeof s->reason, "%.*s",
					 (int)strcspn(r + 10, "\""), r + 10);
			}
		} else if (strstr(m.topic, "/down/ack")) {
			struct rg_wire_ack a;
			char err[256];
			assert_int_equal(
			    rg_wire_ack_parse(m.payload, strlen(m.payload), &a, err, sizeof err),
			    0);
			assert_non_null(strstr(m.topic, a.device));
			struct sent *s = find_batch(f, &a.batch_id);
			assert_non_null(s);
			assert_int_equal(a.n_ids, s->n);
			s->acked = true;
			rg_wire_ack_free(&a);
		}
	}
}

/* ---- playing the cloud worker ---- */

/* Take forwarded batches and bundles; check per-device-lane order; ack
 * each batch if asked, as central does. */
static void cloud_take(struct fx *f, bool ack)
{
	struct tb_msg m;
	while (tb_client_next(f->cloud, &m, 0) == 0) {
		struct rg_wire_uplink u;
		char err[256], *doc;
		size_t len;
		assert_non_null(m.full);
		int rc = rg_wire_uplink_parse(m.full, m.len, &u, err, sizeof err);
		if (rc)
			fail_msg("cloud got an unparsable message on %s: %s", m.topic, err);
		assert_non_null(strstr(m.topic, "rg/v1/g/" GW "/up/"));
		if (u.bundle)
			f->cloud_bundles++;
		for (size_t k = 0; k < u.n; k++) {
			const struct rg_wire_batch *b = &u.batches[k];
			assert_string_equal(b->store, STORE);
			struct sent *s = find_batch(f, &b->batch_id);
			assert_non_null(s);
			assert_non_null(strstr(m.topic, rg_lane_name(s->lane)));
			if (s->at_cloud == 0) {
				/* First copy: every earlier batch of its queue that
				 * was accepted must have arrived already. */
				for (struct sent *e = f->sent; e < s; e++)
					if (!strcmp(e->device, s->device) && e->lane == s->lane &&
					    e->receipt == 1 && !e->at_cloud)
						f->cloud_order_errors++;
			}
			s->at_cloud++;
			if (ack) {
				struct rg_uuid ids[RG_WIRE_MAX_ITEMS];
				for (size_t i = 0; i < b->n_items; i++)
					ids[i] = b->items[i].id;
				assert_int_equal(rg_wire_ack_encode(b->device, &b->batch_id, ids,
								    b->n_items, &doc, &len),
						 0);
				assert_int_equal(tb_pub(f->cloud, CENTRAL_ACK, doc), RC_OK);
				free(doc);
			}
		}
		rg_wire_uplink_free(&u);
	}
}

/* Drive cloud (acking) and devices until every batch from first on with a
 * spooled receipt is acked at its device. */
static bool must_ack(const struct fx *f, const struct sent *s)
{
	/* Under a full budget spooled telemetry may be shed: no ack then. */
	return s->receipt == 1 && !(f->shedding && s->lane == RG_LANE_TELEMETRY);
}

static void drain_all(struct fx *f, size_t first)
{
	for (int64_t end = tb_now_ms() + WAIT_MS * 2;;) {
		bool done = true;
		tb_env_pump(f->env, 5);
		cloud_take(f, true);
		device_take(f, f->dev1);
		if (f->dev2)
			device_take(f, f->dev2);
		for (size_t i = first; i < f->n_sent; i++)
			if (must_ack(f, &f->sent[i]) && !f->sent[i].acked)
				done = false;
		if (done)
			return;
		if (tb_now_ms() > end) {
			for (size_t i = first; i < f->n_sent; i++)
				if (must_ack(f, &f->sent[i]) && !f->sent[i].acked)
					fail_msg(
					    "batch %zu (%s, %s) never acked (at cloud %d); log %s",
					    i, f->sent[i].device, rg_lane_name(f->sent[i].lane),
					    f->sent[i].at_cloud, f->log);
		}
	}
}

static void wait_receipts(struct fx *f, struct tb_client *c, size_t first)
{
	for (int64_t end = tb_now_ms() + WAIT_MS;;) {
		bool done = true;
		device_take(f, c);
		for (size_t i = first; i < f->n_sent; i++)
			if (!f->sent[i].receipt)
				done = false;
		if (done)
			return;
		if (tb_now_ms() > end)
			fail_msg("receipts missing; log %s", f->log);
		tb_env_pump(f->env, 5);
	}
}

/* Stop the gateway cleanly and look into its spool: it must be empty. */
static void stop_and_check_spool_empty(struct fx *f)
{
	struct gw_spool *s;
	struct gw_spool_stats st;
	gw_signal(f, SIGTERM);
	assert_int_equal(gw_wait_exit(f, WAIT_MS), 0);
	assert_int_equal(gw_spool_open(f->spool, STORE, f->budget, &gwfx.clock.clock, &s), 0);
	assert_int_equal(gw_spool_stats(s, &st), 0);
	assert_int_equal(st.batches[0] + st.batches[1] + st.batches[2], 0);
	assert_int_equal(st.items, 0);
	gw_spool_close(s);
}

/* ---- tests ---- */

static void batches_flow_in_order_and_acks_reach_the_device_and_empty_the_spool(void **state)
{
	struct fx *f = *state;
	start_all(f, INT64_C(1) << 30);
	for (int i = 0; i < 30; i++)
		send_batch(f, f->dev1, DEV1,
			   i % 10 == 9	? RG_KIND_CONSENT_CHANGED
			   : i % 3 == 0 ? RG_KIND_TELEMETRY
					: RG_KIND_IDENTIFIED,
			   2);
	wait_receipts(f, f->dev1, 0);
	for (size_t i = 0; i < f->n_sent; i++)
		assert_int_equal(f->sent[i].receipt, 1);
	drain_all(f, 0);
	assert_int_equal(f->cloud_order_errors, 0);
	wait_log(f, "accepted=30 ");
	wait_log(f, "batches_done=30 ");
	stop_and_check_spool_empty(f);
	assert_int_equal(log_counter(f, "stats_final", "accepted_items"), 60);
	assert_int_equal(log_counter(f, "stats_final", "refused_malformed"), 0);
}

static void with_central_down_batches_spool_with_receipts_and_drain_when_it_returns(void **state)
{
	struct fx *f = *state;
	struct tb_msg m;
	start_all(f, INT64_C(1) << 30);
	assert_int_equal(tb_broker_stop(f->central), 0);
	/* The gateway notices and tells the store. */
	for (int64_t end = tb_now_ms() + WAIT_MS;;) {
		if (tb_now_ms() > end)
			fail_msg("no central offline status; log %s", f->log);
		if (tb_client_next(f->dev1, &m, 100) == 0 && strstr(m.topic, "gateway/status") &&
		    strstr(m.payload, "\"central\":\"offline\""))
			break;
	}
	for (int i = 0; i < 40; i++)
		send_batch(f, f->dev1, DEV1, i % 2 ? RG_KIND_NOTE : RG_KIND_ERASURE_REQUESTED, 2);
	wait_receipts(f, f->dev1, 0);
	for (size_t i = 0; i < f->n_sent; i++)
		assert_int_equal(f->sent[i].receipt, 1);
	assert_int_equal(tb_broker_restart(f->central), 0);
	cloud_connect(f);
	int64_t t0 = tb_now_ms();
	drain_all(f, 0);
	print_message("drained 40 spooled batches in %lld ms after central returned, "
		      "%d bundles\n",
		      (long long)(tb_now_ms() - t0), f->cloud_bundles);
	assert_int_equal(f->cloud_order_errors, 0);
	/* A backlog goes in bundles (forward.bundle defaults to 8), in order. */
	assert_true(f->cloud_bundles > 0);
	stop_and_check_spool_empty(f);
	assert_true(log_counter(f, "stats_final", "bundles") > 0);
}

static void a_sigkilled_gateway_restarts_and_loses_nothing(void **state)
{
	struct fx *f = *state;
	start_all(f, INT64_C(1) << 30);
	for (int i = 0; i < 25; i++)
		send_batch(f, f->dev1, DEV1, i % 5 ? RG_KIND_IDENTIFIED : RG_KIND_TELEMETRY, 2);
	wait_receipts(f, f->dev1, 0);
	/* Spooled and receipted, none acked yet: kill -9. */
	gw_signal(f, SIGKILL);
	assert_true(gw_wait_exit(f, WAIT_MS) == 128 + SIGKILL);
	/* Batches sent while it is dead wait in its persistent session. */
	for (int i = 0; i < 5; i++)
		send_batch(f, f->dev1, DEV1, RG_KIND_NOTE, 2);
	gw_start(f);
	wait_receipts(f, f->dev1, 0);
	drain_all(f, 0);
	for (size_t i = 0; i < f->n_sent; i++)
		assert_true(f->sent[i].at_cloud >= 1);
	assert_int_equal(f->cloud_order_errors, 0);
	stop_and_check_spool_empty(f);
}

/* Run the real CLI with identity's certificate: mosquitto_pub, or with
 * resp set mosquitto_rr (subscribes to resp, publishes, prints the first
 * answer into out). The identity's own test client must not be connected:
 * the broker allows one connection per identity. */
static void run_cli(struct fx *f, const char *identity, const char *topic, const char *file,
		    const char *resp, char *out, size_t outcap)
{
	const char *pub = getenv("REGULARS_MOSQUITTO_PUB");
	const char *rr = getenv("REGULARS_MOSQUITTO_RR");
	char ca[PATH_MAX], crt[PATH_MAX], key[PATH_MAX], port[16];
	int st, pfd[2];
	size_t got = 0;
	pid_t pid;
	if (!pub || !*pub)
		pub = "mosquitto_pub";
	if (!rr || !*rr)
		rr = "mosquitto_rr";
	tb_env_file(f->env, "ca", ".crt", ca, sizeof ca);
	tb_env_file(f->env, identity, ".crt", crt, sizeof crt);
	tb_env_file(f->env, identity, ".key", key, sizeof key);
	snprintf(port, sizeof port, "%u", tb_broker_port(f->store));
	char *doc = resp ? gwfx_slurp(file) : NULL;
	if (resp) {
		assert_non_null(doc);
		file = doc;
	}
	assert_int_equal(pipe(pfd), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(pfd[1], 1);
		close(pfd[0]);
		/* mosquitto_rr 2.0.11 sends an empty payload for -f and -s, so
		 * the (small) document goes on the command line. */
		if (resp)
			execlp(rr, rr, "-V", "5", "--cafile", ca, "--cert", crt, "--key", key, "-h",
			       "localhost", "-p", port, "-q", "1", "-t", topic, "-m", file, "-e",
			       resp, "-W", "10", "-N", (char *)NULL);
		else
			execlp(pub, pub, "-V", "5", "--cafile", ca, "--cert", crt, "--key", key,
			       "-h", "localhost", "-p", port, "-q", "1", "-t", topic, "-f", file,
			       (char *)NULL);
		_exit(127);
	}
	close(pfd[1]);
	fcntl(pfd[0], F_SETFL, O_NONBLOCK);
	for (int64_t end = tb_now_ms() + WAIT_MS;;) {
		bool exited = waitpid(pid, &st, WNOHANG) == pid;
		char tmp[256];
		ssize_t r;
		while ((r = read(pfd[0], tmp, sizeof tmp)) > 0)
			for (ssize_t i = 0; i < r; i++)
				if (out && got + 1 < outcap)
					out[got++] = tmp[i];
		if (exited)
			break;
		if (tb_now_ms() > end) {
			kill(pid, SIGKILL);
			waitpid(pid, &st, 0);
			fail_msg("%s hung", resp ? rr : pub);
		}
		tb_env_pump(f->env, 5);
	}
	close(pfd[0]);
	free(doc);
	if (out)
		out[got] = '\0';
	if (!WIFEXITED(st) || WEXITSTATUS(st))
		fail_msg("%s %s failed (status %d)", resp ? rr : pub, topic, st);
}

/* The receipt the CLI printed must name batch id and refuse with reason. */
static void expect_refusal(const char *receipt, const struct rg_uuid *id, const char *reason)
{
	char text[RG_UUID_STR_LEN + 1], want[200];
	rg_uuid_format(id, text);
	snprintf(want, sizeof want,
		 "{\"v\":1,\"type\":\"receipt\",\"batch\":\"%s\",\"status\":\"refused\","
		 "\"reason\":\"%s\"}",
		 text, reason);
	assert_string_equal(receipt, want);
}

static void write_file(const char *path, const char *data, size_t len)
{
	FILE *o = fopen(path, "wb");
	assert_non_null(o);
	assert_int_equal(fwrite(data, 1, len, o), len);
	fclose(o);
}

static struct sent *record_external(struct fx *f, const char *doc_dev, const char *store,
				    const char *file)
{
	struct sent *s = &f->sent[f->n_sent++];
	char *doc;
	size_t len;
	memset(s, 0, sizeof *s);
	assert_int_equal(
	    gwfx_batch(doc_dev, store, RG_KIND_NOTE, 2, 0, &doc, &len, s->items, &s->id), 0);
	s->n = 2;
	s->lane = RG_LANE_INTERACTIONS;
	s->device = DEV2;
	s->receipt = 2; /* checked through the CLI's output */
	write_file(file, doc, len);
	free(doc);
	return s;
}

static void bad_batches_are_refused_with_receipts_and_counters_while_good_ones_flow(void **state)
{
	struct fx *f = *state;
	char file[PATH_MAX], receipt[512];
	start_all(f, INT64_C(1) << 30);
	snprintf(file, sizeof file, "%s/bad.json", tb_env_dir(f->env));
#define RECEIPT(dev) "rg/v1/s/" STORE "/d/" dev "/down/receipt"

	send_batch(f, f->dev1, DEV1, RG_KIND_IDENTIFIED, 2);
	/* Malformed: not JSON; no batch id to answer, counted and logged. */
	write_file(file, "{\"v\":1,\"type\":\"batch\",", 22);
	run_cli(f, DEV2, UP(DEV2, "interactions"), file, NULL, NULL, 0);
	send_batch(f, f->dev1, DEV1, RG_KIND_IDENTIFIED, 2);
	/* Device mismatch: dev2 publishes a batch naming dev1. */
	struct sent *s = record_external(f, DEV1, STORE, file);
	run_cli(f, DEV2, UP(DEV2, "interactions"), file, RECEIPT(DEV2), receipt, sizeof receipt);
	expect_refusal(receipt, &s->id, "device_mismatch");
	/* Store mismatch. */
	s = record_external(f, DEV2, "0043", file);
	run_cli(f, DEV2, UP(DEV2, "interactions"), file, RECEIPT(DEV2), receipt, sizeof receipt);
	expect_refusal(receipt, &s->id, "store_mismatch");
	send_batch(f, f->dev1, DEV1, RG_KIND_NOTE, 2);
	/* Oversized: over 256 KiB, but naming its batch (mosquitto_pub: the
	 * command line cannot carry it for mosquitto_rr; the receipt itself is
	 * checked in test_gw_uplink). */
	char big_id[RG_UUID_STR_LEN + 1], needle[160];
	{
		struct rg_uuid id;
		size_t n = RG_WIRE_MAX_BYTES + 1000;
		char *doc = malloc(n);
		assert_non_null(doc);
		rg_uuid7_next(&gwfx.uuids, &id);
		int h =
		    snprintf(doc, n, "{\"batch\":\"%s\",\"pad\":\"", rg_uuid_format(&id, big_id));
		memset(doc + h, 'x', n - (size_t)h - 2);
		memcpy(doc + n - 2, "\"}", 2);
		write_file(file, doc, n);
		free(doc);
		run_cli(f, DEV2, UP(DEV2, "interactions"), file, NULL, NULL, 0);
	}
	snprintf(needle, sizeof needle, "device=%s lane=interactions batch=%s reason=too_big", DEV2,
		 big_id);
	wait_log(f, needle);
	/* Wrong lane: an interaction on the priority lane. */
	s = record_external(f, DEV2, STORE, file);
	run_cli(f, DEV2, UP(DEV2, "priority"), file, RECEIPT(DEV2), receipt, sizeof receipt);
	expect_refusal(receipt, &s->id, "malformed");
	/* A gateway certificate speaking as a device of this store. */
	s = record_external(f, "gw-0043", STORE, file);
	run_cli(f, "gw-0043", "rg/v1/s/" STORE "/d/gw-0043/up/interactions", file,
		RECEIPT("gw-0043"), receipt, sizeof receipt);
	expect_refusal(receipt, &s->id, "device_mismatch");
	send_batch(f, f->dev1, DEV1, RG_KIND_NOTE, 2);

	/* The good device was never held up: its batches all flow and are acked. */
	wait_receipts(f, f->dev1, 0);
	drain_all(f, 0);
	for (size_t i = 0; i < f->n_sent; i++)
		if (strcmp(f->sent[i].device, DEV1))
			assert_int_equal(f->sent[i].at_cloud, 0);
	wait_log(f, "event=batch_refused device=" DEV2 " lane=interactions batch=none "
		    "reason=malformed");
	wait_log(f, "reason=not_device");
	wait_log(f, "refused_malformed=1 refused_too_big=1 refused_device_mismatch=1 "
		    "refused_store_mismatch=1 refused_not_device=1 refused_unknown_device=0 "
		    "refused_lane_mismatch=1 ");
	stop_and_check_spool_empty(f);
	assert_int_equal(log_counter(f, "stats_final", "accepted"), 4);
	assert_int_equal(log_counter(f, "stats_final", "refused_unnamed"), 1);
}

static void a_full_budget_sheds_telemetry_first_then_refuses_and_loses_nothing(void **state)
{
	struct fx *f = *state;
	size_t first_full = 0;
	f->shedding = true;
	start_all(f, 64 * 1024);
	assert_int_equal(tb_broker_stop(f->central), 0);
	wait_log(f, "central=offline");
	/* Fill about two thirds with telemetry. */
	for (int i = 0; i < 50; i++)
		send_batch(f, f->dev1, DEV1, RG_KIND_TELEMETRY, 2);
	wait_receipts(f, f->dev1, 0);
	/* Interactions until the gateway refuses one. */
	for (int i = 0; i < 200 && !first_full; i++) {
		struct sent *s = send_batch(f, f->dev1, DEV1, RG_KIND_IDENTIFIED, 2);
		wait_receipts(f, f->dev1, (size_t)(s - f->sent));
		if (s->receipt == 2) {
			assert_string_equal(s->reason, "spool_full");
			first_full = (size_t)(s - f->sent);
		}
	}
	assert_true(first_full > 50);
	/* Telemetry went first, all of it, and was counted. */
	wait_log(f, "event=telemetry_shed");
	wait_log(f, "backlog_telemetry=0 ");
	long long shed = log_counter(f, "stats", "shed_batches");
	assert_true(shed >= 1);
	/* A priority batch is refused too (never sheds interactions). */
	struct sent *p = send_batch(f, f->dev1, DEV1, RG_KIND_ERASURE_REQUESTED, 1);
	wait_receipts(f, f->dev1, (size_t)(p - f->sent));
	assert_int_equal(p->receipt, 2);
	assert_string_equal(p->reason, "spool_full");

	/* Central returns: every interaction batch that was spooled arrives. */
	assert_int_equal(tb_broker_restart(f->central), 0);
	cloud_connect(f);
	drain_all(f, 0);
	for (size_t i = 0; i < f->n_sent; i++)
		if (f->sent[i].lane != RG_LANE_TELEMETRY && f->sent[i].receipt == 1)
			assert_true(f->sent[i].at_cloud >= 1);
	assert_int_equal(f->cloud_order_errors, 0);
	print_message("budget 64 KiB: %zu interaction batches spooled, %lld telemetry batches "
		      "shed before the first spool_full\n",
		      first_full - 50, shed);
	stop_and_check_spool_empty(f);
	assert_true(log_counter(f, "stats_final", "refused_spool_full") >= 2);
}

static void a_bad_config_exits_2_naming_the_key(void **state)
{
	struct fx *f = *state;
	FILE *o = fopen(f->cfg, "w");
	assert_non_null(o);
	fputs("{\"store_id\":\"0042\",\"spool\":{\"path\":\"x\"},\"colour\":\"red\"}", o);
	fclose(o);
	gw_start(f);
	assert_int_equal(gw_wait_exit(f, WAIT_MS), 2);
	wait_log(f, "event=config_invalid");
	wait_log(f, "unknown key \\\"colour\\\"");
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(
		batches_flow_in_order_and_acks_reach_the_device_and_empty_the_spool, setup,
		teardown),
	    cmocka_unit_test_setup_teardown(
		with_central_down_batches_spool_with_receipts_and_drain_when_it_returns, setup,
		teardown),
	    cmocka_unit_test_setup_teardown(a_sigkilled_gateway_restarts_and_loses_nothing, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(
		bad_batches_are_refused_with_receipts_and_counters_while_good_ones_flow, setup,
		teardown),
	    cmocka_unit_test_setup_teardown(
		a_full_budget_sheds_telemetry_first_then_refuses_and_loses_nothing, setup,
		teardown),
	    cmocka_unit_test_setup_teardown(a_bad_config_exits_2_naming_the_key, setup, teardown),
	};
	if (argc < 2) {
		fprintf(stderr, "usage: %s PATH-TO-regulars-gateway\n", argv[0]);
		return 2;
	}
	gateway_bin = argv[1];
	if (getenv("GW_TEST_FILTER"))
		cmocka_set_test_filter(getenv("GW_TEST_FILTER"));
	return cmocka_run_group_tests(tests, NULL, NULL);
}
