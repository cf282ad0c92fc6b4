/*
 * test_sync_flow.c - the sync path end to end, every part real: store and
 * central Mosquitto with mutual TLS, regulars-cloud on a profile store
 * seeded by `regularsctl customers generate` + `regulars-cloud --seed`,
 * regulars-gateway, and a kiosk (regulars-device with its uplink) whose
 * local cache is EMPTY. Proves:
 *  - a customer known only at central is greeted by name at the first tap,
 *    through the remote lookup seam (device -> gateway -> cloud -> back),
 *    and is then in the device's cache (the next tap needs no lookup);
 *  - a stranger gets the unknown screen (central answered found:false);
 *  - every interaction a screen confirmed is in the central store exactly
 *    once, in the device's order, with one visit each on the profiles;
 *  - the device outbox and the gateway spool end empty.
 *
 * Usage: test_sync_flow regulars-device regulars-gateway regulars-cloud
 *        regularsctl UI-DIR
 * Environment: RG_SYNC_SEED (replay), RG_TEST_KEEP=1 (keep a failed run's files).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>
#include <cmocka.h>
#include <sqlite3.h>

#include "syncharness.h"

#define DEV "dev-0042-k1"
#define CUSTOMERS 300
#define STREAM_TAPS 300

static char **args;
static struct sx_world world;
static bool passed;

/* A generated customer who lets the kiosk show their first name, and whose
 * home store is another one (with the home_and_recent replication policy,
 * store SX_STORE's replica does not get them until they visit). */
struct cust {
	int no;
	char first[64];
};

static int named_customers(const char *path, struct cust *out, int want, bool odd)
{
	FILE *f = fopen(path, "r");
	static char line[65536];
	int n = 0;
	assert_non_null(f);
	while (n < want && fgets(line, sizeof line, f)) {
		cJSON *j = cJSON_Parse(line);
		const cJSON *id = cJSON_GetObjectItemCaseSensitive(j, "id");
		const cJSON *p = cJSON_GetObjectItemCaseSensitive(j, "profile");
		const cJSON *first = cJSON_GetObjectItemCaseSensitive(p, "first_name");
		const cJSON *c = cJSON_GetObjectItemCaseSensitive(p, "consent");
		const cJSON *show = cJSON_GetObjectItemCaseSensitive(c, "show_in_public");
		const cJSON *home = cJSON_GetObjectItemCaseSensitive(p, "home_store");
		int no = cJSON_IsString(id) ? atoi(id->valuestring + 2) : 0;
		if (no > 0 && (no & 1) == odd && cJSON_IsString(first) &&
		    cJSON_GetArraySize(show) > 0 && cJSON_IsString(home) &&
		    strcmp(home->valuestring, SX_STORE)) {
			out[n].no = no;
			snprintf(out[n].first, sizeof out[n].first, "%s", first->valuestring);
			n++;
		}
		cJSON_Delete(j);
	}
	fclose(f);
	return n;
}

/* What the last screen with an interaction said. */
static struct {
	char state[16], first[64];
	int customer;
	int n;
} last;

static void hook(struct sx_dev *d, const struct sx_planned *t, const void *screen)
{
	const cJSON *j = screen;
	const cJSON *st = cJSON_GetObjectItemCaseSensitive(j, "state");
	const cJSON *first = cJSON_GetObjectItemCaseSensitive(j, "first_name");
	(void)d;
	snprintf(last.state, sizeof last.state, "%s", st->valuestring);
	snprintf(last.first, sizeof last.first, "%s",
		 cJSON_IsString(first) ? first->valuestring : "");
	last.customer = t->customer;
	last.n++;
}

static void tap_and_see(struct sx_world *wd, int customer, bool nfc)
{
	int before = last.n;
	assert_int_equal(sx_tap(&wd->dev[0], customer, nfc), 0);
	for (int64_t end = dh_now_ms() + 15000 * SX_SLOW; last.n == before;) {
		if (dh_now_ms() > end)
			fail_msg("no screen for the tap of customer %d", customer);
		sx_pump(wd, 50);
	}
}

static long metric(struct sx_dev *d, const char *name)
{
	static char buf[16384];
	assert_true(sx_http_get(d, "/metrics", buf, sizeof buf) > 0);
	char want[128];
	snprintf(want, sizeof want, "\n%s ", name); /* the sample, not its # TYPE line */
	const char *m = strstr(buf, want);
	if (!m)
		fail_msg("no %s in /metrics", name);
	return strtol(m + strlen(want), NULL, 10);
}

static void greeted_through_central_and_everything_arrives_once(void **state)
{
	(void)state;
	struct sx_world *const w = &world;
	const struct sx_dev_opts dev = {.id = DEV, .lookup_timeout_ms = 5000 * SX_SLOW};
	const struct sx_world_opts o = {.customers = CUSTOMERS,
					.devs = &dev,
					.n_devs = 1,
					.seed = dh_seed_from_env("RG_SYNC_SEED"),
					/* only this store's customers are replicated to it:
					 * the others are found through central */
					.cloud_policy = "home_and_recent"};
	char needle[128];
	struct cust named[3], odd[1];
	int64_t t0 = dh_now_ms();

	print_message("seed %llu (replay with RG_SYNC_SEED)\n", (unsigned long long)o.seed);
	sx_world_create(w, args, &o);
	sx_set_screen_hook(hook);
	assert_int_equal(named_customers(w->customers, named, 3, false), 3);
	assert_int_equal(named_customers(w->customers, odd, 1, true), 1);

	sx_cloud_start(w);
	sx_wait_log(w, w->cloud.log, "event=connected identity=" SX_CLOUD, 20000 * SX_SLOW);
	sx_gw_start(w);
	snprintf(needle, sizeof needle, "event=connected host=localhost port=%u",
		 tb_broker_port(w->central));
	sx_wait_log(w, w->gw.log, needle, 20000 * SX_SLOW);
	snprintf(needle, sizeof needle, "event=connected host=localhost port=%u",
		 tb_broker_port(w->store));
	sx_wait_log(w, w->gw.log, needle, 20000 * SX_SLOW);
	sx_dev_start(&w->dev[0]);
	sx_wait_dev_log(w, &w->dev[0], "event=online", 20000 * SX_SLOW);
	int64_t ready = dh_now_ms();

	/* An empty cache: the first tap of a central customer goes to central. */
	assert_int_equal(sx_dev_outbox(&w->dev[0]), 0);
	int64_t t = dh_now_ms();
	tap_and_see(w, named[0].no, false);
	if (strcmp(last.state, "greeting") || strcmp(last.first, named[0].first))
		fail_msg("customer %d (known only at central): screen %s, first_name \"%s\", "
			 "expected a greeting for \"%s\"",
			 named[0].no, last.state, last.first, named[0].first);
	print_message("first tap, remote lookup: greeted by name in %lld ms\n",
		      (long long)(dh_now_ms() - t));
	assert_int_equal(metric(&w->dev[0], "regulars_remote_hits_total"), 1);
	/* Cached now: the same card again needs no lookup. */
	tap_and_see(w, named[0].no, false);
	assert_string_equal(last.state, "greeting");
	assert_string_equal(last.first, named[0].first);
	assert_int_equal(metric(&w->dev[0], "regulars_remote_hits_total"), 1);
	/* Another customer by NFC UID, another by card. */
	tap_and_see(w, odd[0].no, true);
	assert_string_equal(last.state, "greeting");
	assert_string_equal(last.first, odd[0].first);
	tap_and_see(w, named[1].no, false);
	assert_string_equal(last.state, "greeting");
	assert_string_equal(last.first, named[1].first);
	assert_int_equal(metric(&w->dev[0], "regulars_remote_hits_total"), 3);
	/* A stranger: central answers found:false, the kiosk says unknown. */
	tap_and_see(w, CUSTOMERS + 4242, false);
	assert_string_equal(last.state, "unknown");
	assert_int_equal(metric(&w->dev[0], "regulars_remote_hits_total"), 3);

	/* A stream: customers (first taps go to central), and strangers. */
	size_t sent = 0;
	for (int64_t end = dh_now_ms() + 60000 * SX_SLOW; sent < STREAM_TAPS;) {
		sent += sx_tap_fill(&w->dev[0], 85, STREAM_TAPS - sent);
		if (dh_now_ms() > end)
			fail_msg("the stream of taps stalled at %zu", sent);
		sx_pump(w, 50);
	}
	sx_settle(w, 30000 * SX_SLOW);
	int64_t stream_ms = dh_now_ms() - ready;
	assert_int_equal(w->dev[0].n_conf, STREAM_TAPS + 5);

	int64_t drain = sx_wait_drained(w, 30000 * SX_SLOW);
	print_message("%zu interactions confirmed (%zu greetings, %zu named, %zu unknown) in "
		      "%lld ms; central has them all, outbox and spool empty %lld ms later\n",
		      w->dev[0].n_conf, w->dev[0].greetings, w->dev[0].named, w->dev[0].unknowns,
		      (long long)stream_ms, (long long)drain);
	assert_true(metric(&w->dev[0], "regulars_remote_hits_total") > 3);

	sx_check_end_state(w);
	/* The gateway relayed every lookup and answer. */
	assert_true(sx_log_has(w->gw.log, "event=stats_final"));
	{
		sqlite3 *db = NULL;
		sqlite3_stmt *st = NULL;
		char sql[200];
		assert_int_equal(sqlite3_open_v2(w->cloud_db, &db, SQLITE_OPEN_READONLY, NULL),
				 SQLITE_OK);
		/* The first customer's two visits are in the derived state. */
		snprintf(sql, sizeof sql, "SELECT visits FROM profiles WHERE id = 'p-%06d'",
			 named[0].no);
		assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
		assert_int_equal(sqlite3_step(st), SQLITE_ROW);
		assert_true(sqlite3_column_int64(st, 0) >= 2);
		sqlite3_finalize(st);
		/* The stranger is recorded as an unknown token. */
		assert_int_equal(sqlite3_prepare_v2(db, "SELECT count(*) FROM unknown_tokens", -1,
						    &st, NULL),
				 SQLITE_OK);
		assert_int_equal(sqlite3_step(st), SQLITE_ROW);
		assert_true(sqlite3_column_int64(st, 0) >= 1);
		sqlite3_finalize(st);
		sqlite3_close(db);
	}
	print_message("total %lld ms\n", (long long)(dh_now_ms() - t0));
	passed = true;
}

static int teardown(void **state)
{
	(void)state;
	sx_world_free(&world, passed);
	return 0;
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_teardown(greeted_through_central_and_everything_arrives_once,
				      teardown),
	};
	args = sx_args(argc, argv, NULL);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
