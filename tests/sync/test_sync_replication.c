/*
 * test_sync_replication.c - issue 6 end to end, through real processes: the
 * regulars-cloud worker, two Mosquitto brokers with mutual TLS, the
 * fault proxy as the store's WAN link, regulars-gateway with its replica,
 * a kiosk and a staff handheld (regulars-device), and `regularsctl import`
 * and `regularsctl profile` as central's operators run them.
 *
 * 1. A profile is imported centrally, with a web-shop order and an open
 *    call-centre episode, while the store's WAN link is cut. When the link
 *    returns, the gateway pulls the change, the devices pull it from the
 *    gateway, and the card is recognised on the kiosk from the local cache
 *    (no remote lookup) and shown in full on the handheld (order and open
 *    episode through the staff API). The time from link-up to the profile
 *    in the kiosk's cache is printed.
 * 2. Merge: a second profile of the same person (another card), merged
 *    into the first centrally, redirects on both devices: the second card
 *    greets the first profile.
 * 3. Erasure: `regularsctl profile erase` centrally reaches both devices
 *    and the gateway's replica; afterwards neither card is known anywhere,
 *    no identifier row points at the person, and the database files (and
 *    their WAL) of the replica and of both devices hold none of their
 *    words (name, order, episode).
 * 4. Conflicts across stores: two handhelds in two stores, both offline,
 *    change the same customer's public-display consent (a last-writer-wins
 *    field), each records a visit and redeems points. After sync central,
 *    both gateways' replicas and both handhelds' caches hold the later edit
 *    (by HLC), and both visits and both redemptions count (derived from
 *    append-only events, never overwritten).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>
#include <sqlite3.h>

#include "syncharness.h"

#define CUSTOMERS 20
#define NEWCOMER (CUSTOMERS + 100) /* card number of the imported profile: sx_card(NEWCOMER) */
#define NEW_ID "p-web-000120"
#define DUP_ID "p-web-000121" /* the same person, signed up again: card sx_card(NEWCOMER + 1) */
#define PIN "4711"

static char **args;
static struct sx_world world;
static bool passed;
static char last_state[32], last_first[64];

static void hook(struct sx_dev *d, const struct sx_planned *t, const void *screen)
{
	const cJSON *j = screen;
	const cJSON *st = cJSON_GetObjectItemCaseSensitive(j, "state");
	const cJSON *fn = cJSON_GetObjectItemCaseSensitive(j, "first_name");
	(void)d;
	(void)t;
	snprintf(last_state, sizeof last_state, "%s", cJSON_IsString(st) ? st->valuestring : "");
	snprintf(last_first, sizeof last_first, "%s", cJSON_IsString(fn) ? fn->valuestring : "");
}

/* One tap of the newcomer's card on d; the screen's state. */
static const char *tap_newcomer(struct sx_dev *d)
{
	last_state[0] = last_first[0] = '\0';
	assert_int_equal(sx_tap(d, NEWCOMER, false), 0);
	sx_settle(&world, 15000 * SX_SLOW);
	return last_state;
}

/* What customer c's card opens in d's local cache: the output of
 * `regularsctl device lookup` (which reads the device's own database, as a
 * technician would) as a cJSON object, or NULL when it is not cached. */
static cJSON *device_lookup(struct sx_dev *d, int c)
{
	static char text[65536];
	char card[14], log[512];
	sx_card(c, card);
	snprintf(log, sizeof log, "%s/lookup.log", d->de.dir);
	remove(log);
	const char *argv[] = {world.ctl_bin, "device", "lookup", "--config", d->de.config,
			      "--card",	     card,     NULL};
	if (sx_run_tool(log, 30000, argv) != 0)
		return NULL;
	FILE *f = fopen(log, "r");
	assert_non_null(f);
	size_t n = fread(text, 1, sizeof text - 1, f);
	fclose(f);
	text[n] = '\0';
	cJSON *j = cJSON_Parse(text);
	if (!cJSON_IsObject(j))
		fail_msg("%s: device lookup printed: %s", d->id, text);
	return j;
}

/* Which profile does customer c's card open in d's local cache? "" when
 * none. */
static const char *cached_as(struct sx_dev *d, int c)
{
	static char id[80];
	cJSON *j = device_lookup(d, c);
	const cJSON *p = cJSON_GetObjectItemCaseSensitive(j, "profile_id");
	snprintf(id, sizeof id, "%s", cJSON_IsString(p) ? p->valuestring : "");
	assert_true(!j || id[0]);
	cJSON_Delete(j);
	return id;
}

static bool cached(struct sx_dev *d)
{
	return cached_as(d, NEWCOMER)[0] != '\0';
}

static int64_t wait_cached_as(struct sx_dev *d, int c, const char *want, int timeout_ms)
{
	int64_t t0 = dh_now_ms();
	while (strcmp(cached_as(d, c), want)) {
		if (dh_now_ms() - t0 > timeout_ms) {
			dh_daemon_dump(&d->d, "waiting for the replica");
			fail_msg("%s: customer %d's card opens \"%s\", not \"%s\", after %d ms", d->id,
				 c, cached_as(d, c), want, timeout_ms);
		}
		sx_pump(&world, 50);
	}
	return dh_now_ms() - t0;
}

static int64_t wait_cached(struct sx_dev *d, bool want, int timeout_ms)
{
	int64_t t0 = dh_now_ms();
	while (cached(d) != want) {
		if (dh_now_ms() - t0 > timeout_ms) {
			dh_daemon_dump(&d->d, "waiting for the replica");
			fail_msg("%s: newcomer %s the cache after %d ms", d->id,
				 want ? "not in" : "still in", timeout_ms);
		}
		sx_pump(&world, 50);
	}
	return dh_now_ms() - t0;
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
}

static void run_ctl(const char *what, const char *const *argv)
{
	char log[512];
	snprintf(log, sizeof log, "%s/%s.log", world.dir, what);
	if (sx_run_tool(log, 120000, argv) != 0) {
		char cmd[600];
		snprintf(cmd, sizeof cmd, "cat '%s' >&2", log);
		if (system(cmd) != 0)
			fprintf(stderr, "(no %s)\n", log);
		fail_msg("regularsctl %s failed", what);
	}
}

/* The staff PIN's hash, from `regularsctl device pin-hash` as an operator
 * makes it. */
static void pin_hash(char *out, size_t cap)
{
	char cmd[600];
	snprintf(cmd, sizeof cmd, "printf '%%s\\n' '" PIN "' | '%s' device pin-hash", args[4]);
	FILE *p = popen(cmd, "r");
	assert_non_null(p);
	assert_non_null(fgets(out, (int)cap, p));
	assert_int_equal(pclose(p), 0);
	out[strcspn(out, "\n")] = '\0';
}

/* Log in on the handheld's staff API; the session cookie. */
static void staff_login(struct sx_dev *d, char *cookie, size_t cap)
{
	char buf[8192];
	assert_true(sx_http(d, "POST", "/api/v1/session", NULL, "{\"pin\":\"" PIN "\"}", buf,
			    sizeof buf) > 0);
	assert_non_null(strstr(buf, " 200 "));
	const char *c = strstr(buf, "Set-Cookie: ");
	assert_non_null(c);
	c += strlen("Set-Cookie: ");
	size_t n = strcspn(c, ";\r\n");
	assert_true(n < cap);
	memcpy(cookie, c, n);
	cookie[n] = '\0';
}

/* The text of the one value sql (one ? bound to arg) reads from a SQLite
 * file, read-only. */
static void text_of(const char *db, const char *sql, const char *arg, char *out, size_t cap)
{
	sqlite3 *h = NULL;
	sqlite3_stmt *st = NULL;
	out[0] = '\0';
	if (sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK ||
	    sqlite3_busy_timeout(h, 5000) != SQLITE_OK ||
	    sqlite3_prepare_v2(h, sql, -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_bind_text(st, 1, arg, -1, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_ROW)
		fail_msg("%s: %s: %s", db, sql, h ? sqlite3_errmsg(h) : "cannot open");
	const unsigned char *t = sqlite3_column_text(st, 0);
	snprintf(out, cap, "%s", t ? (const char *)t : "");
	sqlite3_finalize(st);
	sqlite3_close(h);
}

static long count_rows(const char *db, const char *sql, const char *arg)
{
	char n[32];
	text_of(db, sql, arg, n, sizeof n);
	return atol(n);
}

/* How many of the person's words and card tokens are in the database
 * file, its -wal and -shm (each file counted apart); with report, each hit
 * is printed. */
static long traces(const char *db, bool report)
{
	static const char *const words[] = {"Ada Quill", "Washer noisy", "Order 7001 ready",
					    "Ada Dup"};
	static uint8_t tok[2][RG_TOKEN_LEN];
	struct dh_needle nd[6];
	char path[600], card[14];
	for (size_t i = 0; i < 4; i++) {
		nd[i].p = (const uint8_t *)words[i];
		nd[i].n = strlen(words[i]);
		snprintf(nd[i].what, sizeof nd[i].what, "\"%s\"", words[i]);
	}
	for (int i = 0; i < 2; i++) { /* the cards' tokens, as the devices store them */
		sx_card(NEWCOMER + i, card);
		assert_int_equal(rg_token(world.tenant_key, sizeof world.tenant_key, "loyalty", card,
					  strlen(card), tok[i]),
				 0);
		nd[4 + i].p = tok[i];
		nd[4 + i].n = RG_TOKEN_LEN;
		snprintf(nd[4 + i].what, sizeof nd[4 + i].what, "token of card %s", card);
	}
	static const char *const suffix[] = {"", "-wal", "-shm"};
	long all = 0;
	for (size_t k = 0; k < 3; k++) {
		snprintf(path, sizeof path, "%s%s", db, suffix[k]);
		size_t len = 0;
		long hits = dh_scan_file(path, nd, 6, NULL, report, &len);
		all += hits > 0 ? hits : 0;
	}
	return all;
}

static void no_trace(const char *db)
{
	if (traces(db, true) > 0)
		fail_msg("%s holds the erased person's words (above)", db);
}

static void imported_while_offline_reaches_both_devices_then_erasure_removes_it(void **state)
{
	(void)state;
	passed = false;
	char hash[200], extra[400], path[512], card[14], card2[14];
	pin_hash(hash, sizeof hash);
	snprintf(extra, sizeof extra, "\"staff\": {\"pin_hash\": \"%s\"}", hash);
	const struct sx_dev_opts devs[] = {
	    {.id = "dev-0042-k1", .seed_cache = true, .lookup_timeout_ms = 1000},
	    {.id = "dev-0042-h1", .handheld = true, .seed_cache = true, .lookup_timeout_ms = 1000,
	     .extra_json = extra},
	};
	/* The gateway's own pulls are 10 minutes apart: past its pull at
	 * (re)connect, only central's notice of changes brings the merge and
	 * the erasure within the test's waits. */
	const struct sx_world_opts o = {.customers = CUSTOMERS,
					.wan_proxy = true,
					.devs = devs,
					.n_devs = 2,
					.seed = 6,
					.gw_pull_ms = 600000};
	sx_world_create(&world, args, &o);
	struct sx_world *const w = &world;
	struct sx_dev *const kiosk = &w->dev[0], *const hh = &w->dev[1];
	sx_set_screen_hook(hook);
	sx_cloud_start(w);
	sx_gw_start(w);
	sx_dev_start(kiosk);
	sx_dev_start(hh);
	sx_wait_dev_log(w, kiosk, "event=online", 20000 * SX_SLOW);
	sx_wait_dev_log(w, hh, "event=online", 20000 * SX_SLOW);
	assert_false(cached(kiosk));

	/* The store loses its WAN link; central imports a new customer with a
	 * web-shop order and an open call-centre episode. */
	fp_cut(w->wan);
	sx_card(NEWCOMER, card);
	sx_card(NEWCOMER + 1, card2);
	snprintf(path, sizeof path, "%s/crm.jsonl", w->dir);
	char text[2048];
	snprintf(text, sizeof text,
		 "{\"id\":\"" NEW_ID "\",\"version\":1,\"profile\":{\"name\":\"Ada Quill\","
		 "\"first_name\":\"Ada\",\"tier\":\"gold\",\"points\":300,"
		 "\"preferences\":{\"language\":\"en\"},\"consent\":{\"show_in_public\":[\"points\"]},"
		 "\"home_store\":\"" SX_STORE "\"},"
		 "\"identifiers\":[{\"type\":\"loyalty\",\"value\":\"%s\"}]}\n"
		 "{\"type\":\"interaction\",\"id\":\"0190a000-0000-7000-8000-0000000000a1\","
		 "\"profile\":\"" NEW_ID "\",\"channel\":\"web\",\"department\":\"orders\","
		 "\"kind\":\"order\",\"at\":\"2026-11-20T10:00:00Z\","
		 "\"body\":{\"summary\":\"Order 7001 ready for pickup\",\"order_id\":\"7001\"}}\n"
		 "{\"type\":\"interaction\",\"id\":\"0190a000-0000-7000-8000-0000000000a2\","
		 "\"profile\":\"" NEW_ID "\",\"channel\":\"call_centre\",\"department\":\"service\","
		 "\"kind\":\"episode_opened\",\"at\":\"2026-11-21T09:00:00Z\","
		 "\"body\":{\"episode\":\"e-90\",\"title\":\"Washer noisy\"}}\n"
		 "{\"id\":\"" DUP_ID "\",\"version\":1,\"profile\":{\"name\":\"Ada Dup\","
		 "\"first_name\":\"Ada\",\"home_store\":\"" SX_STORE "\"},"
		 "\"identifiers\":[{\"type\":\"loyalty\",\"value\":\"%s\"}]}\n",
		 card, card2);
	write_file(path, text);
	const char *imp[] = {w->ctl_bin,	    "import", "--db", w->cloud_db, "--tenant-key",
			     w->tenant_key_file, path,	   NULL};
	run_ctl("import", imp);

	/* Offline, the store does not know them. */
	assert_false(cached(kiosk));

	/* The link returns: within one sync cycle the profile is on both
	 * devices, recognised from the local cache. */
	int64_t t0 = dh_now_ms();
	fp_restore(w->wan);
	wait_cached(kiosk, true, 30000 * SX_SLOW);
	int64_t k_ms = dh_now_ms() - t0;
	wait_cached(hh, true, 30000 * SX_SLOW);
	print_message("link up -> newcomer in the kiosk's cache in %lld ms, in the handheld's in "
		      "%lld ms\n",
		      (long long)k_ms, (long long)(dh_now_ms() - t0));
	assert_string_equal(tap_newcomer(kiosk), "greeting");
	assert_string_equal(last_first, "Ada");

	/* In full on the handheld: the order and the open episode. */
	char cookie[256], buf[65536];
	staff_login(hh, cookie, sizeof cookie);
	assert_true(sx_http(hh, "GET", "/api/v1/profiles/" NEW_ID, cookie, NULL, buf, sizeof buf) >
		    0);
	assert_non_null(strstr(buf, " 200 "));
	assert_non_null(strstr(buf, "Order 7001 ready for pickup"));
	assert_non_null(strstr(buf, "Washer noisy"));
	assert_non_null(strstr(buf, "\"open\""));

	/* A merge centrally redirects on both devices: the duplicate's card
	 * now opens the first profile. */
	wait_cached_as(kiosk, NEWCOMER + 1, DUP_ID, 30000 * SX_SLOW);
	const char *merge[] = {w->ctl_bin, "profile", "merge", "--db", w->cloud_db,
			       DUP_ID,	   NEW_ID,    NULL};
	run_ctl("merge", merge);
	t0 = dh_now_ms();
	wait_cached_as(kiosk, NEWCOMER + 1, NEW_ID, 30000 * SX_SLOW);
	wait_cached_as(hh, NEWCOMER + 1, NEW_ID, 30000 * SX_SLOW);
	print_message("merge -> redirected on both devices in %lld ms\n",
		      (long long)(dh_now_ms() - t0));

	/* The search can see: before the erasure the replica (plain SQLite on
	 * the in-store server) holds the person's words. */
	char replica[600];
	snprintf(replica, sizeof replica, "%s-replica", w->gw_spool);
	assert_true(traces(replica, false) > 0);
	assert_true(traces(kiosk->de.db, false) > 0); /* the sealed cache: the tokens */

	/* Erasure centrally reaches both caches and the replica. */
	const char *erase[] = {w->ctl_bin, "profile", "erase", "--db", w->cloud_db, NEW_ID,
			       "--yes",	   NULL};
	run_ctl("erase", erase);
	t0 = dh_now_ms();
	wait_cached(kiosk, false, 30000 * SX_SLOW);
	wait_cached(hh, false, 30000 * SX_SLOW);
	wait_cached_as(kiosk, NEWCOMER + 1, "", 30000 * SX_SLOW);
	wait_cached_as(hh, NEWCOMER + 1, "", 30000 * SX_SLOW);
	print_message("erase -> gone from both devices in %lld ms\n",
		      (long long)(dh_now_ms() - t0));
	assert_true(sx_http(hh, "GET", "/api/v1/profiles/" NEW_ID, cookie, NULL, buf, sizeof buf) >
		    0);
	assert_null(strstr(buf, "Ada"));
	assert_null(strstr(buf, "Washer noisy"));

	/* In the files: no identifier row for the person, none of their words,
	 * on either device or in the gateway's replica (stopped first, so
	 * what is on disk is final). */
	sx_dev_term(kiosk, 10000 * SX_SLOW);
	sx_dev_term(hh, 10000 * SX_SLOW);
	assert_int_equal(sx_proc_term(&w->gw, 10000 * SX_SLOW), 0);
	for (int i = 0; i < 2; i++) {
		const char *db = w->dev[i].de.db;
		assert_int_equal(count_rows(db, "SELECT count(*) FROM identifiers WHERE "
						"profile_id IN (?, '" DUP_ID "')",
					    NEW_ID),
				 0);
		assert_int_equal(count_rows(db, "SELECT count(*) FROM profiles WHERE id IN (?, '" DUP_ID
						"')",
					    NEW_ID),
				 0);
		no_trace(db);
	}
	no_trace(replica);
	passed = true;
	sx_world_free(&world, true);
}

/* The consent list in a profile body: "a,b" or "". */
static void consent_of(const cJSON *body, char *out, size_t cap)
{
	const cJSON *c = cJSON_GetObjectItemCaseSensitive(body, "consent");
	const cJSON *list = cJSON_GetObjectItemCaseSensitive(c, "show_in_public");
	const cJSON *e;
	size_t n = 0;
	out[0] = '\0';
	cJSON_ArrayForEach(e, list)
	{
		if (cJSON_IsString(e))
			n += (size_t)snprintf(out + n, n < cap ? cap - n : 0, "%s%s", n ? "," : "",
					      e->valuestring);
	}
}

/* The consent customer c's card opens on device d ("?" when not cached). */
static void device_consent(struct sx_dev *d, int c, char *out, size_t cap)
{
	cJSON *j = device_lookup(d, c);
	if (j)
		consent_of(cJSON_GetObjectItemCaseSensitive(j, "profile"), out, cap);
	else
		snprintf(out, cap, "?");
	cJSON_Delete(j);
}

/* The consent list of profile id in a gateway's replica file. */
static void replica_consent(const char *replica, const char *id, char *out, size_t cap)
{
	static char body[65536];
	text_of(replica, "SELECT body FROM profiles WHERE id = ?", id, body, sizeof body);
	cJSON *j = cJSON_Parse(body);
	consent_of(j, out, cap);
	cJSON_Delete(j);
}

static void post_consent(struct sx_dev *d, const char *cookie, const char *profile,
			 const char *list)
{
	char path[128], body[128], buf[16384];
	snprintf(path, sizeof path, "/api/v1/profiles/%s/consent", profile);
	snprintf(body, sizeof body, "{\"show_in_public\":%s}", list);
	assert_true(sx_http(d, "POST", path, cookie, body, buf, sizeof buf) > 0);
	if (!strstr(buf, " 201 "))
		fail_msg("%s: POST %s %s: %.300s", d->id, path, body, buf);
}

/* The points customer c's card shows on device d (-1 when not cached). */
static long device_points(struct sx_dev *d, int c)
{
	cJSON *j = device_lookup(d, c);
	const cJSON *p = cJSON_GetObjectItemCaseSensitive(
	    cJSON_GetObjectItemCaseSensitive(j, "profile"), "points");
	long n = cJSON_IsNumber(p) ? (long)p->valuedouble : -1;
	cJSON_Delete(j);
	return n;
}

static void redeem(struct sx_dev *d, const char *cookie, const char *profile, int points)
{
	char path[128], body[128], buf[16384];
	snprintf(path, sizeof path, "/api/v1/profiles/%s/points/redeem", profile);
	snprintf(body, sizeof body, "{\"points\":%d,\"reason\":\"voucher in %s\"}", points,
		 d->store_id);
	assert_true(sx_http(d, "POST", path, cookie, body, buf, sizeof buf) > 0);
	if (!strstr(buf, " 201 "))
		fail_msg("%s: POST %s %s: %.300s", d->id, path, body, buf);
}

static void offline_edits_in_two_stores_converge_by_hlc_and_visits_add_up(void **state)
{
	(void)state;
	passed = false;
	char hash[200], extra[400], c1[64], c2[64], cookie1[256], cookie2[256];
	char visits0[32], visits[32], body[65536], got[64];
	const int cust = 3;
	const char *const pid = "p-000003";
	pin_hash(hash, sizeof hash);
	snprintf(extra, sizeof extra, "\"staff\": {\"pin_hash\": \"%s\"}", hash);
	const struct sx_dev_opts devs[] = {
	    {.id = "dev-0042-h1", .handheld = true, .seed_cache = true, .extra_json = extra},
	    {.id = "dev-0043-h1",
	     .handheld = true,
	     .seed_cache = true,
	     .extra_json = extra,
	     .store2 = true},
	};
	const struct sx_world_opts o = {.customers = CUSTOMERS,
					.wan_proxy = true,
					.second_store = true,
					.devs = devs,
					.n_devs = 2,
					.seed = 9};
	sx_world_create(&world, args, &o);
	struct sx_world *const w = &world;
	struct sx_dev *const h1 = &w->dev[0], *const h2 = &w->dev[1];
	sx_set_screen_hook(hook);
	sx_cloud_start(w);
	sx_gw_start(w);
	sx_gw2_start(w);
	sx_dev_start(h1);
	sx_dev_start(h2);
	sx_wait_dev_log(w, h1, "event=online", 20000 * SX_SLOW);
	sx_wait_dev_log(w, h2, "event=online", 20000 * SX_SLOW);
	text_of(w->cloud_db, "SELECT visits FROM profiles WHERE id = ?", pid, visits0,
		sizeof visits0);
	staff_login(h1, cookie1, sizeof cookie1);
	staff_login(h2, cookie2, sizeof cookie2);
	long points0 = device_points(h1, cust);
	assert_true(points0 >= 35);
	assert_int_equal(device_points(h2, cust), points0);

	/* Both stores offline; each handheld edits the same field and records
	 * a visit; the store 0043 edit is the later one. */
	fp_cut(w->wan);
	fp_cut(w->wan2);
	post_consent(h1, cookie1, pid, "[\"points\"]");
	redeem(h1, cookie1, pid, 10);
	assert_int_equal(sx_tap(h1, cust, false), 0);
	sx_settle(w, 15000 * SX_SLOW);
	for (int64_t until = dh_now_ms() + 50; dh_now_ms() < until;)
		sx_pump(w, 10); /* a later wall clock: a later HLC */
	post_consent(h2, cookie2, pid, "[\"orders\",\"service\"]");
	redeem(h2, cookie2, pid, 25);
	assert_int_equal(sx_tap(h2, cust, false), 0);
	sx_settle(w, 15000 * SX_SLOW);
	device_consent(h1, cust, c1, sizeof c1);
	device_consent(h2, cust, c2, sizeof c2);
	assert_string_equal(c1, "points"); /* each sees its own edit while offline */
	assert_string_equal(c2, "orders,service");

	/* The links return: everything converges on the later edit. */
	int64_t t0 = dh_now_ms();
	fp_restore(w->wan);
	fp_restore(w->wan2);
	for (;;) {
		device_consent(h1, cust, c1, sizeof c1);
		device_consent(h2, cust, c2, sizeof c2);
		if (!strcmp(c1, "orders,service") && !strcmp(c2, "orders,service") &&
		    device_points(h1, cust) == points0 - 35 && device_points(h2, cust) == points0 - 35)
			break;
		if (dh_now_ms() - t0 > 60000 * SX_SLOW)
			fail_msg("not converged: store 0042 shows \"%s\" and %ld points, store 0043 "
				 "\"%s\" and %ld points (%ld - 10 - 25 expected)",
				 c1, device_points(h1, cust), c2, device_points(h2, cust), points0);
		sx_pump(w, 100);
	}
	print_message("both stores converged on the later edit %lld ms after the links "
		      "returned\n",
		      (long long)(dh_now_ms() - t0));
	/* central: the later edit, and both visits */
	text_of(w->cloud_db, "SELECT consent FROM profiles WHERE id = ?", pid, body, sizeof body);
	assert_non_null(strstr(body, "orders"));
	assert_null(strstr(body, "points"));
	text_of(w->cloud_db, "SELECT visits FROM profiles WHERE id = ?", pid, visits,
		sizeof visits);
	assert_int_equal(atol(visits), atol(visits0) + 2);
	/* both replicas */
	char rep1[600], rep2[600];
	snprintf(rep1, sizeof rep1, "%s-replica", w->gw_spool);
	snprintf(rep2, sizeof rep2, "%s-replica", w->gw2_spool);
	replica_consent(rep1, pid, got, sizeof got);
	assert_string_equal(got, "orders,service");
	replica_consent(rep2, pid, got, sizeof got);
	assert_string_equal(got, "orders,service");
	passed = true;
	sx_world_free(&world, true);
}

/* Rows of central's change log made to look old (a store that was away
 * past the retention), in the stopped worker's file. */
static void age_change_log(const char *db, int days)
{
	sqlite3 *h = NULL;
	char sql[128];
	snprintf(sql, sizeof sql, "UPDATE changes SET at_ms = at_ms - %lld",
		 (long long)days * 86400000LL);
	if (sqlite3_open(db, &h) != SQLITE_OK || sqlite3_busy_timeout(h, 5000) != SQLITE_OK ||
	    sqlite3_exec(h, sql, NULL, NULL, NULL) != SQLITE_OK)
		fail_msg("%s: %s", db, h ? sqlite3_errmsg(h) : "cannot open");
	sqlite3_close(h);
}

/* Enough for 40 snapshot chunks of 500 (12 in the slower sanitized build). */
#define SNAP_CUSTOMERS (DH_SANITIZED ? 6000 : 20000)

static void replica_away_past_retention_recovers_by_snapshot_and_resumes_after_a_crash(
    void **state)
{
	(void)state;
	passed = false;
	char replica[600], v[64], card[14], path[512], text[1024];
	const struct sx_dev_opts dev = {.id = "dev-0042-k1", .lookup_timeout_ms = 1000};
	const struct sx_world_opts o = {
	    .customers = SNAP_CUSTOMERS, .wan_proxy = true, .devs = &dev, .n_devs = 1, .seed = 11};
	sx_world_create(&world, args, &o);
	struct sx_world *const w = &world;
	struct sx_dev *const kiosk = &w->dev[0];
	sx_set_screen_hook(hook);
	snprintf(replica, sizeof replica, "%s-replica", w->gw_spool);
	sx_cloud_start(w);
	sx_gw_start(w);
	sx_dev_start(kiosk);
	/* Everything replicated: the last customer is in the kiosk's cache. */
	char last_id[16];
	snprintf(last_id, sizeof last_id, "p-%06d", SNAP_CUSTOMERS);
	wait_cached_as(kiosk, SNAP_CUSTOMERS, last_id, 60000 * SX_SLOW);
	assert_string_equal(cached_as(kiosk, 5), "p-000005");

	/* The store goes away; meanwhile central imports a customer and erases
	 * another, and its change log passes the 30-day retention. */
	fp_cut(w->wan);
	assert_int_equal(sx_proc_term(&w->cloud, 10000 * SX_SLOW), 0);
	sx_card(NEWCOMER, card);
	snprintf(path, sizeof path, "%s/late.jsonl", w->dir);
	snprintf(text, sizeof text,
		 "{\"id\":\"" NEW_ID "\",\"version\":1,\"profile\":{\"name\":\"Ada Quill\","
		 "\"first_name\":\"Ada\"},\"identifiers\":[{\"type\":\"loyalty\",\"value\":\"%s\"}]}\n",
		 card);
	write_file(path, text);
	const char *imp[] = {w->ctl_bin,	    "import", "--db", w->cloud_db, "--tenant-key",
			     w->tenant_key_file, path,	   NULL};
	run_ctl("import", imp);
	const char *erase[] = {w->ctl_bin, "profile", "erase", "--db", w->cloud_db, "p-000005",
			       "--yes",	   NULL};
	run_ctl("erase", erase);
	age_change_log(w->cloud_db, 40);
	sx_cloud_start(w); /* prunes the log at start */

	/* The link returns: the gateway's cursor is older than central keeps,
	 * so it takes a snapshot (500 profiles a chunk). Crash it half way. */
	fp_restore(w->wan);
	int64_t t0 = dh_now_ms();
	for (;;) {
		text_of(replica, "SELECT snap_after FROM state WHERE ? IS NOT NULL", "x", v, sizeof v);
		if (strcmp(v, "p-002000") >= 0)
			break; /* at least four chunks applied */
		if (dh_now_ms() - t0 > 60000 * SX_SLOW) {
			char cmd[600];
			snprintf(cmd, sizeof cmd, "tail -n 30 '%s' >&2", w->gw.log);
			if (system(cmd) != 0)
				fprintf(stderr, "(no gateway log)\n");
			fail_msg("the gateway took no snapshot chunk within 60 s (progress \"%s\")", v);
		}
		sx_pump(w, 5);
	}
	sx_proc_kill(&w->gw);
	text_of(replica, "SELECT snap_after FROM state WHERE ? IS NOT NULL", "x", v, sizeof v);
	assert_true(v[0] != '\0'); /* stopped in the middle */
	print_message("gateway killed during the snapshot, after %s\n", v);
	size_t done0 = sx_log_count(w->gw.log, "event=snapshot_done");
	sx_gw_start(w);
	sx_wait_log_n(w, w->gw.log, "event=snapshot_done", done0 + 1, 60000 * SX_SLOW);
	print_message("snapshot of %d profiles complete %lld ms after the link returned\n",
		      SNAP_CUSTOMERS, (long long)(dh_now_ms() - t0));
	/* It resumed: the restarted gateway applied fewer chunks than a whole
	 * snapshot has (41 with the empty last one). */
	assert_int_equal(sx_proc_term(&w->gw, 10000 * SX_SLOW), 0);
	{
		const char *last = NULL, *p;
		char *log = NULL;
		FILE *f = fopen(w->gw.log, "r");
		assert_non_null(f);
		static char buf[4 << 20];
		size_t n = fread(buf, 1, sizeof buf - 1, f);
		fclose(f);
		buf[n] = '\0';
		log = buf;
		for (p = log; (p = strstr(p, "event=stats_final")); p++)
			last = p;
		assert_non_null(last);
		const char *c = strstr(last, " chunks_applied=");
		assert_non_null(c);
		long chunks = strtol(c + strlen(" chunks_applied="), NULL, 10);
		print_message("the restarted gateway applied %ld chunks of %d\n", chunks,
			      SNAP_CUSTOMERS / 500 + 1);
		assert_true(chunks > 0 && chunks <= SNAP_CUSTOMERS / 500 + 1 - 4);
	}
	/* The replica holds the newcomer, not the erased customer, and every
	 * other customer. */
	assert_int_equal(count_rows(replica, "SELECT count(*) FROM profiles WHERE id = ?", NEW_ID), 1);
	assert_int_equal(count_rows(replica, "SELECT count(*) FROM profiles WHERE id = ?", "p-000005"),
			 0);
	assert_int_equal(
	    count_rows(replica, "SELECT count(*) FROM profiles WHERE id <> ? AND partial = 0", "-"),
	    SNAP_CUSTOMERS);
	/* And so does the kiosk, whose cursor the rebuilt replica no longer
	 * answers: it takes a snapshot from the gateway in turn. */
	sx_gw_start(w);
	wait_cached_as(kiosk, NEWCOMER, NEW_ID, 60000 * SX_SLOW);
	wait_cached_as(kiosk, 5, "", 60000 * SX_SLOW);
	assert_string_equal(cached_as(kiosk, 6), "p-000006");
	passed = true;
	sx_world_free(&world, true);
}

static int teardown(void **state)
{
	(void)state;
	if (!passed && world.env)
		sx_world_free(&world, false);
	return 0;
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_teardown(
		imported_while_offline_reaches_both_devices_then_erasure_removes_it, teardown),
	    cmocka_unit_test_teardown(offline_edits_in_two_stores_converge_by_hlc_and_visits_add_up,
				      teardown),
	    cmocka_unit_test_teardown(
		replica_away_past_retention_recovers_by_snapshot_and_resumes_after_a_crash, teardown),
	};
	args = sx_args(argc, argv, NULL);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
