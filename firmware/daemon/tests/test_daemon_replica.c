/*
 * test_daemon_replica.c - the real regulars-device pulling changes from its
 * gateway through a real store broker (Mosquitto, mutual TLS). The TEST is
 * the gateway gw-0042: it answers the device's req/changes with pages built
 * by delta_writer from a change log it keeps, and publishes the store-wide
 * notice. Proven: a profile delta makes a card identifiable (a tap through
 * the sim reader greets the new customer); a merge redirects another card;
 * an erase removes the profile and its tokens from the device's database
 * file and a later tap is unknown; a malformed page and a page with a wrong
 * since are refused with the cache and the cursor unchanged; a notice
 * triggers a pull; the retained status carries the replica's cursor.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <cJSON.h>
#include <sqlite3.h>

#include "common/delta.h"
#include "common/err.h"
#include "common/mqtt.h"
#include "devharness.h"
#include "testbroker.h"

#define S "rg/v1/s/" DH_STORE_ID
#define GW "gw-" DH_STORE_ID
#define WAIT_MS (DH_SANITIZED ? 30000 : 10000)
#define LOG_MAX 16

enum answer_mode { ANSWER_OK = 0, ANSWER_MALFORMED, ANSWER_WRONG_SINCE };

/* The test's gateway: a change log and the answers it gives from it. */
struct gw {
	pthread_mutex_t mu;
	struct rg_mqtt *c;
	struct delta_change log[LOG_MAX];
	char bodies[LOG_MAX][512];
	struct delta_ident idents[LOG_MAX][2];
	size_t n;
	int64_t latest;	       /* what it admits to having */
	enum answer_mode mode; /* for the next changes request */
	int requests;	       /* changes requests seen */
	int64_t last_since;    /* of the last one */
	char status[1024];     /* the device's last retained status */
	int statuses;
};

static struct gw G;
static struct dh_env env;
static struct dh_daemon dmn;
static const char *daemon_path, *ui_path;

static void gw_answer(struct gw *g, const struct rg_mqtt_msg *m)
{
	struct delta_request r;
	char err[200], *page = NULL;
	size_t len = 0;
	if (delta_request_parse(m->payload, m->len, &r, err, sizeof err) < 0 || r.snapshot)
		return;
	pthread_mutex_lock(&g->mu);
	g->requests++;
	g->last_since = r.since;
	enum answer_mode mode = g->mode;
	g->mode = ANSWER_OK;
	if (mode == ANSWER_MALFORMED) {
		page = strdup("{\"v\":1,\"type\":\"changes\",\"since\":");
		len = page ? strlen(page) : 0;
	} else {
		struct delta_writer *w = NULL;
		/* a wrong since: an answer to some other request */
		int64_t since = mode == ANSWER_WRONG_SINCE ? r.since - 1 : r.since;
		if (delta_writer_new(since, &w) == 0) {
			for (size_t i = 0; i < g->n; i++)
				if (g->log[i].seq > since && g->log[i].seq <= g->latest)
					delta_writer_add(w, &g->log[i]);
			delta_writer_finish(w, g->latest > since ? g->latest : since, g->latest, 0,
					    dh_now_ms(), false, &page, &len);
		}
	}
	pthread_mutex_unlock(&g->mu);
	if (page)
		rg_mqtt_request(g->c, m->response_topic, page, len, NULL, m->corr, m->corr_len,
				NULL);
	free(page);
}

static void gw_on_connect(void *ctx, bool present)
{
	struct gw *g = ctx;
	(void)present;
	rg_mqtt_subscribe(g->c, S "/d/+/req/#", 1);
	rg_mqtt_subscribe(g->c, S "/d/+/status", 1);
}

static void gw_on_message(void *ctx, const struct rg_mqtt_msg *m)
{
	struct gw *g = ctx;
	if (strstr(m->topic, "/req/changes") && m->response_topic && m->corr) {
		gw_answer(g, m);
	} else if (strstr(m->topic, "/status")) {
		pthread_mutex_lock(&g->mu);
		snprintf(g->status, sizeof g->status, "%.*s", (int)m->len,
			 (const char *)m->payload);
		g->statuses++;
		pthread_mutex_unlock(&g->mu);
	}
}

/* Append a change to the gateway's log (not yet visible: gw_publish). */
static void gw_profile(int64_t seq, const char *id, int64_t version, const char *name,
		       const uint8_t *tok1, const uint8_t *tok2)
{
	struct gw *g = &G;
	pthread_mutex_lock(&g->mu);
	assert_true(g->n < LOG_MAX);
	struct delta_change *c = &g->log[g->n];
	memset(c, 0, sizeof *c);
	c->seq = seq;
	c->op = DELTA_PROFILE;
	snprintf(c->id, sizeof c->id, "%s", id);
	c->version = version;
	c->hlc = (uint64_t)dh_now_ms() << 16;
	snprintf(g->bodies[g->n], sizeof g->bodies[0],
		 "{\"name\":\"%s\",\"first_name\":\"%.*s\",\"points\":%d,\"tier\":\"gold\"}", name,
		 (int)strcspn(name, " "), name, (int)version * 100);
	c->body = g->bodies[g->n];
	c->body_len = strlen(c->body);
	const uint8_t *toks[2] = {tok1, tok2};
	for (int i = 0; i < 2; i++) {
		if (!toks[i])
			continue;
		memcpy(g->idents[g->n][c->n_idents].token, toks[i], RG_TOKEN_LEN);
		snprintf(g->idents[g->n][c->n_idents].type, sizeof g->idents[0][0].type, "loyalty");
		c->n_idents++;
	}
	c->idents = g->idents[g->n];
	g->n++;
	pthread_mutex_unlock(&g->mu);
}

static void gw_op(int64_t seq, enum delta_op op, const char *id, const char *other)
{
	struct gw *g = &G;
	pthread_mutex_lock(&g->mu);
	assert_true(g->n < LOG_MAX);
	struct delta_change *c = &g->log[g->n++];
	memset(c, 0, sizeof *c);
	c->seq = seq;
	c->op = op;
	snprintf(c->id, sizeof c->id, "%s", id);
	snprintf(c->other, sizeof c->other, "%s", other ? other : "");
	pthread_mutex_unlock(&g->mu);
}

/* Make the log visible up to latest and tell the store (the notice). */
static void gw_publish(int64_t latest)
{
	char *notice = delta_notice_build(latest);
	int64_t end = dh_now_ms() + WAIT_MS;
	assert_non_null(notice);
	pthread_mutex_lock(&G.mu);
	G.latest = latest;
	pthread_mutex_unlock(&G.mu);
	while (rg_mqtt_publish(G.c, S "/down/changes", notice, strlen(notice), 1, false, NULL) <
	       0) {
		assert_true(dh_now_ms() < end);
		usleep(10000);
	}
	free(notice);
}

/* Wait until the daemon's log has a line with every one of the words. */
static void wait_log(const char *a, const char *b)
{
	int64_t end = dh_now_ms() + WAIT_MS;
	for (;;) {
		dh_daemon_pump(&dmn);
		const char *p = dmn.log;
		while (p && (p = strstr(p, a))) {
			const char *eol = strchr(p, '\n');
			const char *bol = p;
			while (bol > dmn.log && bol[-1] != '\n')
				bol--;
			size_t n = eol ? (size_t)(eol - bol) : strlen(bol);
			char line[2048];
			snprintf(line, sizeof line, "%.*s",
				 (int)(n < sizeof line ? n : sizeof line - 1), bol);
			if (!b || strstr(line, b))
				return;
			p += strlen(a);
		}
		if (dh_now_ms() > end) {
			dh_daemon_dump(&dmn, "wait_log");
			fail_msg("no log line with \"%s\" and \"%s\"", a, b ? b : "");
		}
		usleep(10000);
	}
}

/* The newest event is replayed to a new stream: scans are told apart by
 * their number, which only grows. */
static int last_scan;

struct scan_wait {
	bool got;
	char state[16], profile[STORE_ID_MAX + 1];
};

static void on_scan(void *ctx, const char *event, const char *data)
{
	struct scan_wait *w = ctx;
	if (strcmp(event, "scan"))
		return;
	cJSON *j = cJSON_Parse(data);
	const cJSON *st = cJSON_GetObjectItemCaseSensitive(j, "state");
	const cJSON *pr = cJSON_GetObjectItemCaseSensitive(j, "profile");
	const cJSON *no = cJSON_GetObjectItemCaseSensitive(j, "scan");
	if (cJSON_IsString(st) && cJSON_IsNumber(no) && no->valueint > last_scan) {
		last_scan = no->valueint;
		w->got = true;
		snprintf(w->state, sizeof w->state, "%s", st->valuestring);
		snprintf(w->profile, sizeof w->profile, "%s",
			 cJSON_IsString(pr) ? pr->valuestring : "");
	}
	cJSON_Delete(j);
}

/* Tap card on the sim reader; the scan event's state and profile. */
static void tap(const char *card, char state[16], char profile[STORE_ID_MAX + 1])
{
	struct dh_tap t;
	struct dh_sse sse;
	struct scan_wait w = {0};
	char line[64];
	dh_sse_open(&sse, dmn.port, WAIT_MS);
	dh_tap_open(&t, env.sock);
	snprintf(line, sizeof line, "barcode %s", card);
	assert_int_equal(dh_tap_send(&t, line), 0);
	int64_t end = dh_now_ms() + WAIT_MS;
	while (!w.got) {
		if (dh_sse_pump(&sse, on_scan, &w))
			fail_msg("the event stream ended");
		dh_tap_pump(&t);
		dh_daemon_pump(&dmn);
		if (dh_now_ms() > end)
			fail_msg("no scan event for a tap");
		usleep(5000);
	}
	dh_tap_close(&t);
	dh_sse_close(&sse);
	memcpy(state, w.state, 16);
	memcpy(profile, w.profile, STORE_ID_MAX + 1);
}

static int64_t db_int(const char *sql, const uint8_t *blob)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	int64_t v = -1;
	assert_int_equal(sqlite3_open_v2(env.db, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	if (blob)
		sqlite3_bind_blob(st, 1, blob, RG_TOKEN_LEN, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return v;
}

static void wait_status_cursor(int64_t cursor)
{
	char want[48];
	int64_t end = dh_now_ms() + WAIT_MS;
	snprintf(want, sizeof want, "\"replica\":{\"cursor\":%lld,", (long long)cursor);
	for (;;) {
		pthread_mutex_lock(&G.mu);
		bool ok = strstr(G.status, want) != NULL;
		pthread_mutex_unlock(&G.mu);
		if (ok)
			return;
		dh_daemon_pump(&dmn);
		if (dh_now_ms() > end)
			fail_msg("the retained status never said %s (last: %s)", want, G.status);
		usleep(10000);
	}
}

static void device_pulls_applies_and_refuses_through_a_real_broker(void **state)
{
	struct tb_env *tb = NULL;
	struct tb_broker *broker = NULL;
	char ca[512], cert[512], key[512], gcert[512], gkey[512], st[16], pid[STORE_ID_MAX + 1];
	(void)state;

	assert_int_equal(tb_env_create(&tb, "acme"), 0);
	assert_int_equal(tb_env_issue(tb, PKI_KIND_GATEWAY, GW, DH_STORE_ID), 0);
	assert_int_equal(tb_env_issue(tb, PKI_KIND_DEVICE, DH_DEVICE_ID, DH_STORE_ID), 0);
	assert_int_equal(tb_broker_start(tb, PKI_BROKER_STORE, DH_STORE_ID, &broker), 0);
	assert_int_equal(tb_env_file(tb, "ca", ".crt", ca, sizeof ca), 0);
	assert_int_equal(tb_env_file(tb, DH_DEVICE_ID, ".crt", cert, sizeof cert), 0);
	assert_int_equal(tb_env_file(tb, DH_DEVICE_ID, ".key", key, sizeof key), 0);
	assert_int_equal(tb_env_file(tb, GW, ".crt", gcert, sizeof gcert), 0);
	assert_int_equal(tb_env_file(tb, GW, ".key", gkey, sizeof gkey), 0);

	/* two seeded customers, three strangers the gateway will introduce */
	dh_env_setup(&env, daemon_path, ui_path, dh_seed_from_env("RG_REPLICA_SEED"), 2, 3);
	const struct dh_person *known = &env.people[0], *neu = &env.people[2],
			       *other = &env.people[3];
	char cfg[4096];
	int n =
	    snprintf(cfg, sizeof cfg,
		     "{\"device_id\":\"" DH_DEVICE_ID "\",\"store_id\":\"" DH_STORE_ID "\","
		     "\"role\":\"kiosk\",\"database\":\"%s\","
		     "\"keystore\":{\"backend\":\"file\",\"options\":\"dir=%s\"},"
		     "\"readers\":[{\"backend\":\"sim\",\"options\":\"path=%s\"}],"
		     "\"http\":{\"bind\":\"127.0.0.1\",\"port\":0,\"assets\":\"%s\"},"
		     "\"uplink\":{\"host\":\"localhost\",\"port\":%u,\"ca_file\":\"%s\","
		     "\"cert_file\":\"%s\",\"key_file\":\"%s\",\"lookup_timeout_ms\":0,"
		     "\"pull_ms\":600000}}\n",
		     env.db, env.keys, env.sock, ui_path, tb_broker_port(broker), ca, cert, key);
	assert_true(n > 0 && (size_t)n < sizeof cfg);
	FILE *f = fopen(env.config, "w");
	assert_non_null(f);
	fputs(cfg, f);
	fclose(f);

	/* the gateway, subscribed before the device starts */
	pthread_mutex_init(&G.mu, NULL);
	struct rg_mqtt_config mc = {.name = "test-gw",
				    .host = "localhost",
				    .port = (int)tb_broker_port(broker),
				    .client_id = GW,
				    .ca_file = ca,
				    .cert_file = gcert,
				    .key_file = gkey,
				    .clean_start = true,
				    .backoff_min_ms = 50,
				    .backoff_max_ms = 300};
	struct rg_mqtt_handlers h = {.on_connect = gw_on_connect, .on_message = gw_on_message};
	assert_int_equal(rg_mqtt_new(&mc, &h, &G, &G.c), 0);
	assert_int_equal(rg_mqtt_start(G.c), 0);
	int64_t end = dh_now_ms() + WAIT_MS;
	while (!rg_mqtt_connected(G.c)) {
		assert_true(dh_now_ms() < end);
		usleep(10000);
	}

	/* 1. a profile delta: the new customer's card is known at the first pull */
	gw_profile(3, "p-new", 1, "Zelda Newcomer", neu->card_tok, NULL);
	pthread_mutex_lock(&G.mu);
	G.latest = 3;
	pthread_mutex_unlock(&G.mu);
	dh_daemon_start(&env, &dmn, DH_SANITIZED ? 60000 : 20000);
	wait_log("event=page_applied", "next=3 ");
	tap(neu->card, st, pid);
	assert_string_equal(st, "greeting");
	assert_string_equal(pid, "p-new");
	wait_status_cursor(3);

	/* 2. a notice triggers a pull: a merge redirects a seeded customer's card */
	gw_op(4, DELTA_MERGE, known->id, "p-new");
	gw_profile(5, "p-new", 2, "Zelda Newcomer", neu->card_tok, known->card_tok);
	gw_publish(5);
	wait_log("event=page_applied", "next=5 ");
	tap(known->card, st, pid);
	assert_string_equal(st, "greeting");
	assert_string_equal(pid, "p-new");
	wait_status_cursor(5);

	/* 3. an erase: gone from the device, the row and its tokens out of the file */
	gw_op(6, DELTA_ERASE, "p-new", NULL);
	gw_publish(6);
	wait_log("event=page_applied", "next=6 ");
	tap(neu->card, st, pid);
	assert_string_equal(st, "unknown");
	tap(known->card, st, pid);
	assert_string_equal(st, "unknown");
	assert_int_equal(db_int("SELECT count(*) FROM profiles WHERE id = 'p-new'", NULL), 0);
	assert_int_equal(db_int("SELECT count(*) FROM identifiers WHERE token = ?1", neu->card_tok),
			 0);
	assert_int_equal(
	    db_int("SELECT count(*) FROM identifiers WHERE token = ?1", known->card_tok), 0);
	assert_int_equal(db_int("SELECT count(*) FROM tombstones WHERE id = 'p-new'", NULL), 1);
	assert_int_equal(db_int("SELECT cursor FROM sync_state", NULL), 6);

	/* 4. a malformed page and a page with a wrong since: refused, nothing changes */
	gw_profile(7, "p-other", 1, "Otto Other", other->card_tok, NULL);
	int64_t profiles = db_int("SELECT count(*) FROM profiles", NULL);
	pthread_mutex_lock(&G.mu);
	G.mode = ANSWER_MALFORMED;
	pthread_mutex_unlock(&G.mu);
	gw_publish(7);
	wait_log("event=delta_refused", "reason=malformed");
	pthread_mutex_lock(&G.mu);
	G.mode = ANSWER_WRONG_SINCE;
	pthread_mutex_unlock(&G.mu);
	gw_publish(7);
	wait_log("event=delta_refused", "reason=since");
	tap(other->card, st, pid);
	assert_string_equal(st, "unknown");
	assert_int_equal(db_int("SELECT cursor FROM sync_state", NULL), 6);
	assert_int_equal(db_int("SELECT count(*) FROM profiles", NULL), profiles);
	pthread_mutex_lock(&G.mu);
	assert_int_equal(G.last_since, 6);
	pthread_mutex_unlock(&G.mu);

	/* and the next good answer applies */
	gw_publish(7);
	wait_log("event=page_applied", "next=7 ");
	tap(other->card, st, pid);
	assert_string_equal(st, "greeting");
	assert_string_equal(pid, "p-other");
	wait_status_cursor(7);

	dh_daemon_kill(&dmn);
	dh_daemon_free(&dmn);
	rg_mqtt_free(G.c);
	pthread_mutex_destroy(&G.mu);
	env.passed = true;
	dh_env_teardown(&env);
	tb_env_free(tb);
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: %s PATH/TO/regulars-device PATH/TO/firmware/ui\n", argv[0]);
		return 2;
	}
	daemon_path = argv[1];
	ui_path = argv[2];
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(device_pulls_applies_and_refuses_through_a_real_broker),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
