/*
 * test_powerloss.c - regulars-device loses nothing it confirmed when the
 * power goes at any moment. Hundreds of rounds: start the real daemon on a
 * database the test seeded, stream taps through the sim reader (known cards
 * and UIDs, valid cards nobody owns, bad check digits, random UIDs), watch
 * the kiosk's SSE stream, and SIGKILL the daemon a random 5..150 ms into the
 * stream. Every interaction id a screen showed (the customer's confirmation)
 * must then be in the outbox with the right kind, token and profile; refused
 * taps never confirm and never leave a row; HLC stamps keep increasing across
 * the crashes; and PRAGMA integrity_check says "ok" (every 50 rounds and at
 * the end). Finally the files as the last crash left them are searched for
 * every seeded name, card number and UID.
 *
 * Usage: test_device_powerloss PATH/TO/regulars-device PATH/TO/firmware/ui
 * Environment: RG_POWERLOSS_SEED (replay a run), RG_POWERLOSS_ROUNDS (300),
 * RG_POWERLOSS_SECONDS (time bound for the rounds, 60), RG_TEST_KEEP=1.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>
#include <cmocka.h>

#include "common/err.h"
#include "common/hlc.h"
#include "devharness.h"

#define N_KNOWN 200
#define N_STRANGERS 100
#define WINDOW 4	     /* taps in flight at once */
#define ROUND_TAPS_MAX 20000 /* per round; far above what 150 ms allows */

static const char *daemon_path, *ui_path;
static struct dh_env env;
static struct dh_daemon dmn;
static struct dh_sse sse;
static struct dh_tap tap;

enum tap_kind { TAP_KNOWN, TAP_STRANGER, TAP_REFUSED };

struct planned {
	enum tap_kind kind;
	int person;
	bool uid;
	const char *reason; /* expected refusal */
	bool has_iid;	    /* its screen carried an interaction id */
	struct rg_uuid iid;
};

struct confirmed {
	struct rg_uuid id;
	int person;
	bool uid;
	bool known;
};

struct run {
	struct dh_rng rng;
	struct planned *taps; /* this round's, in send order */
	size_t sent, screens, scans;
	struct confirmed *conf;
	size_t n_conf, cap_conf;
	/* totals */
	size_t taps_total, refused_sent, screens_total, refused_seen, kills_in_flight, greet_named;
};

static int uuid_cmp(const void *a, const void *b)
{
	return memcmp(a, b, sizeof(struct rg_uuid));
}

static const char *str_item(const cJSON *j, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static void on_screen(struct run *r, const char *data)
{
	cJSON *j = cJSON_Parse(data);
	if (!cJSON_IsObject(j))
		fail_msg("screen event is not a JSON object: %s", data);
	const char *state = str_item(j, "state");
	const char *iid = str_item(j, "interaction");
	if (!state)
		fail_msg("screen event without a state: %s", data);
	if (!strcmp(state, "idle")) { /* the kiosk's return to idle: no tap of ours */
		cJSON_Delete(j);
		return;
	}
	if (r->screens >= r->sent)
		fail_msg("a screen event with no tap outstanding: %s", data);
	struct planned *t = &r->taps[r->screens++];
	r->screens_total++;
	const struct dh_person *p = &env.people[t->person];
	static const char *const want[] = {"greeting", "unknown", "refused"};
	if (strcmp(state, want[t->kind]) != 0)
		fail_msg("tap %zu (%s %s): screen state %s, expected %s: %s", r->screens - 1,
			 t->uid ? "nfc" : "barcode", p->known ? p->id : "stranger", state,
			 want[t->kind], data);
	if (t->kind == TAP_REFUSED) {
		const char *reason = str_item(j, "reason");
		if (iid)
			fail_msg("a refused tap was confirmed as interaction %s: %s", iid, data);
		if (!reason || strcmp(reason, t->reason) != 0)
			fail_msg("refused tap: reason %s, expected %s", reason ? reason : "(none)",
				 t->reason);
		r->refused_seen++;
		cJSON_Delete(j);
		return;
	}
	if (!iid || rg_uuid_parse(iid, &t->iid) < 0 || rg_uuid_version(&t->iid) != 7)
		fail_msg("a %s screen without a UUIDv7 interaction id: %s", state, data);
	t->has_iid = true;
	if (t->kind == TAP_KNOWN) {
		/* kiosk: the first name only with consent to show anything in public */
		const char *first = str_item(j, "first_name");
		if (p->consent && (!first || strcmp(first, p->first) != 0))
			fail_msg("%s consented, but the kiosk shows first_name %s: %s", p->id,
				 first ? first : "(none)", data);
		if (!p->consent && (first || cJSON_GetObjectItemCaseSensitive(j, "points")))
			fail_msg("%s did not consent, but the kiosk shows details: %s", p->id,
				 data);
		r->greet_named += first != NULL;
	}
	if (r->n_conf == r->cap_conf) {
		r->cap_conf = r->cap_conf ? 2 * r->cap_conf : 4096;
		r->conf = realloc(r->conf, r->cap_conf * sizeof *r->conf);
		assert_non_null(r->conf);
	}
	r->conf[r->n_conf++] = (struct confirmed){
	    .id = t->iid, .person = t->person, .uid = t->uid, .known = t->kind == TAP_KNOWN};
	cJSON_Delete(j);
}

static void on_scan(struct run *r, const char *data)
{
	cJSON *j = cJSON_Parse(data);
	if (!cJSON_IsObject(j))
		fail_msg("scan event is not a JSON object: %s", data);
	if (r->scans >= r->screens)
		fail_msg("a scan event before its screen event: %s", data);
	const struct planned *t = &r->taps[r->scans++];
	const char *prof = str_item(j, "profile");
	const char *iid = str_item(j, "interaction");
	char want_iid[RG_UUID_STR_LEN + 1] = "";
	if (t->has_iid)
		rg_uuid_format(&t->iid, want_iid);
	if (t->kind == TAP_KNOWN && (!prof || strcmp(prof, env.people[t->person].id) != 0))
		fail_msg("scan of %s's %s names profile %s", env.people[t->person].id,
			 t->uid ? "UID" : "card", prof ? prof : "(none)");
	if (t->kind != TAP_KNOWN && prof)
		fail_msg("scan of a %s names profile %s",
			 t->kind == TAP_REFUSED ? "refused tap" : "stranger", prof);
	if (strcmp(iid ? iid : "", want_iid) != 0)
		fail_msg("scan event interaction %s, its screen said %s", iid ? iid : "(none)",
			 want_iid[0] ? want_iid : "(none)");
	cJSON_Delete(j);
}

static void on_event(void *ctx, const char *event, const char *data)
{
	if (!strcmp(event, "screen"))
		on_screen(ctx, data);
	else if (!strcmp(event, "scan"))
		on_scan(ctx, data);
}

/* Choose and send one tap: half known customers, a quarter strangers, a
 * quarter refused (a card with a bad check digit, or a random 4-byte UID). */
static int send_tap(struct run *r)
{
	struct planned *t = &r->taps[r->sent];
	char line[64];
	int64_t dice = dh_range(&r->rng, 0, 99);
	memset(t, 0, sizeof *t);
	t->uid = dh_range(&r->rng, 0, 1) == 1;
	if (dice < 50) {
		t->kind = TAP_KNOWN;
		t->person = (int)dh_range(&r->rng, 0, N_KNOWN - 1);
	} else if (dice < 75) {
		t->kind = TAP_STRANGER;
		t->person = (int)dh_range(&r->rng, N_KNOWN, N_KNOWN + N_STRANGERS - 1);
	} else {
		t->kind = TAP_REFUSED;
		t->person = (int)dh_range(&r->rng, 0, N_KNOWN + N_STRANGERS - 1);
	}
	const struct dh_person *p = &env.people[t->person];
	if (t->kind != TAP_REFUSED) {
		snprintf(line, sizeof line, t->uid ? "nfc %s" : "barcode %s",
			 t->uid ? p->uid_up : p->card);
	} else if (t->uid) {
		t->reason = "uid_random";
		snprintf(line, sizeof line, "nfc 08%06X", (unsigned)(dh_rand(&r->rng) & 0xffffff));
	} else {
		t->reason = "bad_check_digit";
		snprintf(line, sizeof line, "barcode %s", p->bad_card);
	}
	if (dh_tap_send(&tap, line) < 0)
		return -1;
	r->sent++;
	r->taps_total++;
	r->refused_sent += t->kind == TAP_REFUSED;
	return 0;
}

static void one_round(struct run *r, int round, int start_timeout_ms)
{
	dh_daemon_start(&env, &dmn, start_timeout_ms);
	dh_tap_open(&tap, env.sock);
	dh_sse_open(&sse, dmn.port, 10000);
	r->sent = r->screens = r->scans = 0;

	int64_t delay = dh_range(&r->rng, 5, 150);
	int64_t kill_at = dh_now_ms() + delay;
	for (;;) {
		int64_t now = dh_now_ms();
		if (now >= kill_at)
			break;
		while (r->sent - r->screens < WINDOW && r->sent < ROUND_TAPS_MAX)
			if (send_tap(r) < 0)
				fail_msg(
				    "round %d: the sim reader socket closed under a live daemon",
				    round);
		struct pollfd p[3] = {{.fd = sse.fd, .events = POLLIN},
				      {.fd = tap.fd, .events = POLLIN},
				      {.fd = dmn.err_fd, .events = POLLIN}};
		if (poll(p, 3, (int)(kill_at - now)) < 0 && errno != EINTR)
			fail_msg("poll: %s", strerror(errno));
		if (dh_sse_pump(&sse, on_event, r))
			fail_msg("round %d: the event stream ended under a live daemon", round);
		dh_tap_pump(&tap);
		if (dh_daemon_pump(&dmn)) {
			dh_daemon_dump(&dmn, "the daemon closed its stderr");
			fail_msg("round %d: the daemon went away before the test killed it", round);
		}
	}
	if (r->sent > r->screens)
		r->kills_in_flight++;
	dh_daemon_kill(&dmn);

	/* What reached the screen's socket before the power went was seen by the
	 * customer: it counts as confirmed. Read it to the end of the stream. */
	int64_t deadline = dh_now_ms() + 10000;
	while (!dh_sse_pump(&sse, on_event, r)) {
		struct pollfd p = {.fd = sse.fd, .events = POLLIN};
		int64_t left = deadline - dh_now_ms();
		if (left <= 0)
			fail_msg("round %d: the event stream did not end after the kill", round);
		if (poll(&p, 1, (int)left) < 0 && errno != EINTR)
			fail_msg("poll: %s", strerror(errno));
	}
	dh_sse_close(&sse);
	dh_tap_close(&tap);
	dh_daemon_free(&dmn);
}

/* ---- the final check of the outbox ---- */

struct row {
	int64_t seq;
	struct rg_uuid id;
	uint64_t hlc;
	enum rg_kind kind;
	char profile_id[STORE_ID_MAX + 1];
	bool has_token;
	uint8_t token[RG_TOKEN_LEN];
	bool ids_ok;
};

struct rows {
	struct row *v;
	size_t n, cap;
};

static int take_row(void *ctx, const struct store_outbox_row *o)
{
	struct rows *rs = ctx;
	if (rs->n == rs->cap) {
		rs->cap = rs->cap ? 2 * rs->cap : 4096;
		rs->v = realloc(rs->v, rs->cap * sizeof *rs->v);
		if (!rs->v)
			return RG_ERR_NOMEM;
	}
	struct row *r = &rs->v[rs->n++];
	memset(r, 0, sizeof *r);
	r->seq = o->seq;
	r->id = o->id;
	r->hlc = rg_hlc_pack(&o->hlc);
	r->kind = o->kind;
	snprintf(r->profile_id, sizeof r->profile_id, "%s", o->profile_id ? o->profile_id : "");
	r->has_token = o->has_token;
	memcpy(r->token, o->token, RG_TOKEN_LEN);
	r->ids_ok = !strcmp(o->device_id, DH_DEVICE_ID) && !strcmp(o->store_id, DH_STORE_ID);
	return 0;
}

static int row_cmp_id(const void *a, const void *b)
{
	return uuid_cmp(&((const struct row *)a)->id, &((const struct row *)b)->id);
}

static size_t check_outbox(struct run *r)
{
	struct store *s = NULL;
	struct store_config sc = {.path = env.db,
				  .key = env.store_key,
				  .device_id = DH_DEVICE_ID,
				  .store_id = DH_STORE_ID};
	struct rows rs = {0};
	int rc = store_open(&sc, &s);
	if (rc < 0)
		fail_msg("store_open after the rounds: %s", rg_strerror(rc));
	int64_t after = 0;
	for (;;) {
		size_t before = rs.n;
		rc = store_outbox_list(s, after, STORE_LIST_MAX, take_row, &rs);
		if (rc < 0)
			fail_msg("store_outbox_list after seq %" PRId64 ": %s", after,
				 rg_strerror(rc));
		if (rs.n == before)
			break;
		after = rs.v[rs.n - 1].seq;
	}
	assert_int_equal(store_outbox_count(s), (int)rs.n);
	store_close(s);

	/* Every row: one of ours, in order, consistent with the tap that made it. */
	for (size_t i = 0; i < rs.n; i++) {
		const struct row *w = &rs.v[i];
		char id[RG_UUID_STR_LEN + 1];
		rg_uuid_format(&w->id, id);
		if (i && (w->seq <= rs.v[i - 1].seq || w->hlc <= rs.v[i - 1].hlc))
			fail_msg("row %s: seq/HLC not increasing across the crashes (seq %" PRId64
				 " after %" PRId64 ")",
				 id, w->seq, rs.v[i - 1].seq);
		if (!w->ids_ok)
			fail_msg("row %s: wrong device or store id", id);
		if (w->kind != RG_KIND_IDENTIFIED && w->kind != RG_KIND_UNKNOWN_IDENTIFIER)
			fail_msg("row %s: kind %s from a tap", id, rg_kind_name(w->kind));
		bool is_uid = false;
		int owner = w->has_token ? dh_token_owner(&env, w->token, &is_uid) : -1;
		/* a refused tap has no token: a row for one would fail here */
		if (owner < 0)
			fail_msg("row %s (%s): its token is none of the valid taps'", id,
				 rg_kind_name(w->kind));
		const struct dh_person *p = &env.people[owner];
		if (p->known && (w->kind != RG_KIND_IDENTIFIED || strcmp(w->profile_id, p->id)))
			fail_msg("row %s: %s for %s's token, profile \"%s\"", id,
				 rg_kind_name(w->kind), p->id, w->profile_id);
		if (!p->known && (w->kind != RG_KIND_UNKNOWN_IDENTIFIER || w->profile_id[0]))
			fail_msg("row %s: %s for a stranger's token, profile \"%s\"", id,
				 rg_kind_name(w->kind), w->profile_id);
	}

	/* Every confirmed interaction is there, as the tap that was confirmed. */
	qsort(rs.v, rs.n, sizeof *rs.v, row_cmp_id);
	qsort(r->conf, r->n_conf, sizeof *r->conf, uuid_cmp);
	for (size_t i = 0; i < r->n_conf; i++) {
		const struct confirmed *c = &r->conf[i];
		char id[RG_UUID_STR_LEN + 1];
		struct row key = {.id = c->id};
		rg_uuid_format(&c->id, id);
		if (i && uuid_cmp(&c->id, &r->conf[i - 1].id) == 0)
			fail_msg("interaction id %s was confirmed twice", id);
		const struct row *w = bsearch(&key, rs.v, rs.n, sizeof key, row_cmp_id);
		if (!w)
			fail_msg("confirmed interaction %s (%s's %s) is not in the outbox (%zu of "
				 "%zu confirmed checked, %zu rows)",
				 id, c->known ? env.people[c->person].id : "stranger",
				 c->uid ? "UID" : "card", i, r->n_conf, rs.n);
		const struct dh_person *p = &env.people[c->person];
		const uint8_t *tok = c->uid ? p->uid_tok : p->card_tok;
		if (!w->has_token || memcmp(w->token, tok, RG_TOKEN_LEN) != 0)
			fail_msg("confirmed interaction %s has another tap's token", id);
	}
	assert_true(rs.n >= r->n_conf);
	/* no more rows than valid taps were sent (refused ones add none) */
	assert_true(rs.n <= r->taps_total - r->refused_sent);
	free(rs.v);
	return rs.n;
}

static void confirmed_taps_survive_sigkill_and_database_stays_intact(void **state)
{
	(void)state;
	uint64_t seed = dh_seed_from_env("RG_POWERLOSS_SEED");
	long rounds = dh_env_long("RG_POWERLOSS_ROUNDS", 300);
	long bound_s = dh_env_long("RG_POWERLOSS_SECONDS", 60);
	long min_rounds = DH_SANITIZED ? 30 : 100;
	int start_timeout = DH_SANITIZED ? 60000 : 20000;
	struct run *r = calloc(1, sizeof *r);
	assert_non_null(r);
	if (min_rounds > rounds)
		min_rounds = rounds;
	printf("powerloss: seed=0x%016" PRIx64 " (RG_POWERLOSS_SEED replays it) rounds<=%ld "
	       "bound=%lds%s\n",
	       seed, rounds, bound_s, DH_SANITIZED ? " sanitized" : "");
	fflush(stdout);

	dh_env_setup(&env, daemon_path, ui_path, seed, N_KNOWN, N_STRANGERS);
	r->rng.s = seed ^ 0x5eed5eed5eed5eedULL;
	r->taps = calloc(ROUND_TAPS_MAX, sizeof *r->taps);
	assert_non_null(r->taps);

	int64_t t0 = dh_now_ms(), end = t0 + bound_s * 1000;
	int done = 0;
	while (done < rounds && dh_now_ms() < end) {
		one_round(r, done, start_timeout);
		done++;
		if (done % 50 == 0)
			dh_integrity_ok(env.db);
	}
	double secs = (double)(dh_now_ms() - t0) / 1000.0;
	printf("powerloss: %d rounds in %.1f s (%.0f ms each): %zu taps, %zu screens, %zu "
	       "confirmed, %zu refused (never confirmed), %zu greetings named, %zu kills with taps "
	       "in flight\n",
	       done, secs, secs * 1000.0 / (done ? done : 1), r->taps_total, r->screens_total,
	       r->n_conf, r->refused_seen, r->greet_named, r->kills_in_flight);
	fflush(stdout);
	if (done < min_rounds)
		fail_msg("only %d rounds within %ld s (at least %ld needed)", done, bound_s,
			 min_rounds);
	assert_true(r->n_conf > 0 && r->refused_seen > 0);

	/* As the last SIGKILL left them: no secret in the file, its -wal or -shm. */
	size_t scanned = dh_privacy_check(&env);
	dh_integrity_ok(env.db);
	size_t rows = check_outbox(r);
	printf("powerloss: outbox %zu rows >= %zu confirmed (%zu committed but not yet on a "
	       "screen when the power went); integrity ok; %zu bytes scanned, no secret found\n",
	       rows, r->n_conf, rows - r->n_conf, scanned);
	dh_integrity_ok(env.db);
	free(r->taps);
	free(r->conf);
	free(r);
	env.passed = true;
}

static int teardown(void **state)
{
	(void)state;
	dh_sse_close(&sse);
	dh_tap_close(&tap);
	dh_daemon_free(&dmn);
	dh_env_teardown(&env);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: %s PATH/TO/regulars-device PATH/TO/firmware/ui\n", argv[0]);
		return 2;
	}
	daemon_path = argv[1];
	ui_path = argv[2];
	sse.fd = tap.fd = dmn.err_fd = -1;
	dmn.pid = -1;
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_teardown(confirmed_taps_survive_sigkill_and_database_stays_intact,
				      teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
