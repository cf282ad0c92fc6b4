/*
 * test_store_outbox.c - the outbox: appends get increasing seq, UUIDv7 and
 * HLC; rows list oldest first with every field intact; only an ack removes
 * rows; rows and the HLC survive close/reopen and a SIGKILL right after the
 * append returned; bad events are refused and change nothing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/err.h"
#include "store_fixture.h"

struct seen_rows {
	int n;
	int stop_after;
	struct store *s;
	int64_t seq[64];
	struct rg_uuid id[64];
	struct rg_hlc hlc[64];
	enum rg_kind kind[64];
	char profile[64][STORE_ID_MAX + 1];
	char body[64][256];
	bool has_token[64];
	uint8_t token[64][RG_TOKEN_LEN];
	int64_t sent_ms[64];
	int attempts[64];
	int64_t created_ms[64];
	int reentry_rc;
};

static int collect(void *ctx, const struct store_outbox_row *r)
{
	struct seen_rows *c = ctx;
	int i = c->n++;
	assert_true(i < 64);
	c->seq[i] = r->seq;
	c->id[i] = r->id;
	c->hlc[i] = r->hlc;
	c->kind[i] = r->kind;
	snprintf(c->profile[i], sizeof c->profile[i], "%s", r->profile_id ? r->profile_id : "");
	snprintf(c->body[i], sizeof c->body[i], "%s", r->body);
	assert_int_equal(strlen(r->body), r->body_len);
	assert_string_equal(r->device_id, "dev-0042-k1");
	assert_string_equal(r->store_id, "0042");
	c->has_token[i] = r->has_token;
	memcpy(c->token[i], r->token, RG_TOKEN_LEN);
	c->sent_ms[i] = r->sent_ms;
	c->attempts[i] = r->attempts;
	c->created_ms[i] = r->created_ms;
	if (c->s)
		c->reentry_rc = store_outbox_count(c->s);
	return c->stop_after && c->n >= c->stop_after ? 1 : 0;
}

static void append_list_in_order_and_ack_removes_only_named_rows(void **state)
{
	static struct seen_rows c;
	struct store_outbox_ref ref[5];
	uint8_t tok[RG_TOKEN_LEN];
	struct store *s;
	(void)state;
	memset(&c, 0, sizeof c);
	s = fx_open();
	assert_int_equal(
	    fx_append(s, RG_KIND_IDENTIFIED, "p-1", "1234567", "{\"channel\":\"kiosk\"}", &ref[0]),
	    0);
	assert_int_equal(fx_append(s, RG_KIND_UNKNOWN_IDENTIFIER, NULL, "7654321", "{}", &ref[1]),
			 0);
	rg_clock_manual_set_wall(&fx.clock, FX_T0 - 60000); /* the wall clock steps back */
	assert_int_equal(
	    fx_append(s, RG_KIND_NOTE, "p-1", NULL, "{\"text\":\"likes tea\"}", &ref[2]), 0);
	assert_int_equal(fx_append(s, RG_KIND_EPISODE_OPENED, "p-1", NULL,
				   "{\"department\":\"service\"}", &ref[3]),
			 0);
	assert_int_equal(fx_append(s, RG_KIND_TELEMETRY, NULL, NULL, "{\"temp\":41}", &ref[4]), 0);
	for (int i = 1; i < 5; i++) {
		assert_true(ref[i].seq > ref[i - 1].seq);
		assert_true(rg_hlc_cmp(&ref[i].hlc, &ref[i - 1].hlc) > 0);
		assert_int_equal(rg_uuid_version(&ref[i].id), 7);
	}
	assert_int_equal(store_outbox_count(s), 5);

	assert_int_equal(store_outbox_list(s, 0, 100, collect, &c), 5);
	for (int i = 0; i < 5; i++) {
		assert_int_equal(c.seq[i], ref[i].seq);
		assert_int_equal(rg_uuid_cmp(&c.id[i], &ref[i].id), 0);
		assert_int_equal(rg_hlc_cmp(&c.hlc[i], &ref[i].hlc), 0);
		assert_int_equal(c.sent_ms[i], 0);
	}
	assert_int_equal(c.kind[0], RG_KIND_IDENTIFIED);
	assert_int_equal(c.kind[1], RG_KIND_UNKNOWN_IDENTIFIER);
	assert_string_equal(c.profile[0], "p-1");
	assert_string_equal(c.profile[1], "");
	fx_token("loyalty", "7654321", tok);
	assert_true(c.has_token[1]);
	assert_memory_equal(c.token[1], tok, RG_TOKEN_LEN);
	assert_false(c.has_token[2]);
	assert_string_equal(c.body[2], "{\"text\":\"likes tea\"}");
	assert_int_equal(c.created_ms[0], FX_T0);

	/* paging: after a seq, at most limit rows; the callback may stop the walk */
	memset(&c, 0, sizeof c);
	assert_int_equal(store_outbox_list(s, ref[1].seq, 2, collect, &c), 2);
	assert_int_equal(c.seq[0], ref[2].seq);
	assert_int_equal(c.seq[1], ref[3].seq);
	memset(&c, 0, sizeof c);
	c.stop_after = 1;
	assert_int_equal(store_outbox_list(s, 0, 10, collect, &c), 1);

	/* the callback may not call back into the store */
	memset(&c, 0, sizeof c);
	c.s = s;
	assert_int_equal(store_outbox_list(s, 0, 1, collect, &c), 1);
	assert_int_equal(c.reentry_rc, RG_ERR_STATE);

	/* mark_sent is bookkeeping only: the row stays */
	rg_clock_manual_advance(&fx.clock, 5000);
	assert_int_equal(store_outbox_mark_sent(s, &ref[0].id, 1), 1);
	assert_int_equal(store_outbox_mark_sent(s, &ref[0].id, 1), 1);
	memset(&c, 0, sizeof c);
	assert_int_equal(store_outbox_list(s, 0, 1, collect, &c), 1);
	assert_int_equal(c.attempts[0], 2);
	assert_int_equal(c.sent_ms[0], rg_clock_wall_ms(&fx.clock.clock));
	assert_int_equal(fx_stats(s).outbox_unsent, 4);

	/* ack: named rows go, unknown or repeated ids are skipped */
	struct rg_uuid acked[3] = {ref[0].id, ref[3].id, ref[0].id};
	acked[2].b[15] ^= 0x55;
	assert_int_equal(store_outbox_ack(s, acked, 3), 2);
	assert_int_equal(store_outbox_ack(s, acked, 3), 0);
	assert_int_equal(store_outbox_count(s), 3);
	memset(&c, 0, sizeof c);
	assert_int_equal(store_outbox_list(s, 0, 100, collect, &c), 3);
	assert_int_equal(c.seq[0], ref[1].seq);
	assert_int_equal(c.seq[1], ref[2].seq);
	assert_int_equal(c.seq[2], ref[4].seq);
	assert_int_equal(store_outbox_ack(s, acked, 0), RG_ERR_INVAL);
	assert_int_equal(store_outbox_ack(s, acked, STORE_IDS_MAX + 1), RG_ERR_RANGE);
	assert_int_equal(store_outbox_list(s, 0, STORE_LIST_MAX + 1, collect, &c), RG_ERR_RANGE);
	store_close(s);
}

static void rows_and_hlc_survive_close_and_reopen(void **state)
{
	static struct seen_rows c;
	struct store_outbox_ref a, b;
	struct store *s;
	(void)state;
	memset(&c, 0, sizeof c);
	s = fx_open();
	assert_int_equal(fx_append(s, RG_KIND_POINTS_REDEEMED, "p-1", NULL, "{\"points\":100}", &a),
			 0);
	store_close(s);
	/* restart with the wall clock an hour behind: stamps must still increase */
	rg_clock_manual_set_wall(&fx.clock, FX_T0 - 3600 * 1000);
	s = fx_open();
	assert_int_equal(store_outbox_count(s), 1);
	assert_int_equal(fx_append(s, RG_KIND_CARD_LINKED, "p-1", "1111111", "{}", &b), 0);
	assert_true(b.seq > a.seq);
	assert_true(rg_hlc_cmp(&b.hlc, &a.hlc) > 0);
	store_close(s);
	s = fx_open();
	assert_int_equal(store_outbox_list(s, 0, 10, collect, &c), 2);
	assert_int_equal(rg_uuid_cmp(&c.id[0], &a.id), 0);
	assert_string_equal(c.body[0], "{\"points\":100}");
	assert_int_equal(c.kind[1], RG_KIND_CARD_LINKED);
	struct store_stats st = fx_stats(s);
	assert_int_equal(st.outbox, 2);
	assert_int_equal(st.outbox_oldest_age_ms,
			 0); /* appended "in the future" by today's clock */
	rg_clock_manual_set_wall(&fx.clock, FX_T0 + 90000);
	assert_int_equal(fx_stats(s).outbox_oldest_age_ms, 90000);
	store_close(s);
}

static void appended_rows_survive_sigkill_after_return(void **state)
{
	int fds[2];
	pid_t pid;
	int64_t confirmed = 0, seq;
	struct store *s;
	(void)state;
	if (getenv("RG_TEST_NO_FORK")) {
		print_message("skipped: fork() does not work under this emulator\n");
		skip();
	}
	s = fx_open();
	store_close(s);
	assert_int_equal(pipe(fds), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct store_outbox_ref ref;
		close(fds[0]);
		if (store_open(&fx.cfg, &s) < 0)
			_exit(3);
		for (;;) {
			if (fx_append(s, RG_KIND_IDENTIFIED, "p-1", NULL, "{\"channel\":\"kiosk\"}",
				      &ref) < 0)
				_exit(4);
			/* "the screen confirms": only after the append returned */
			if (write(fds[1], &ref.seq, sizeof ref.seq) != sizeof ref.seq)
				_exit(5);
		}
	}
	close(fds[1]);
	while (confirmed < 25 && read(fds[0], &seq, sizeof seq) == sizeof seq)
		confirmed = seq;
	kill(pid, SIGKILL);
	while (read(fds[0], &seq, sizeof seq) == sizeof seq)
		confirmed = seq;
	close(fds[0]);
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status));

	s = fx_open();
	assert_true(store_outbox_count(s) >= confirmed);
	store_close(s);
	sqlite3 *db = fx_raw();
	char sql[96];
	snprintf(sql, sizeof sql, "SELECT count(*) FROM outbox WHERE seq <= %lld",
		 (long long)confirmed);
	assert_int_equal(fx_int(db, sql), confirmed);
	sqlite3_stmt *q;
	assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &q, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(q), SQLITE_ROW);
	assert_string_equal((const char *)sqlite3_column_text(q, 0), "ok");
	sqlite3_finalize(q);
	sqlite3_close(db);
}

static void bad_events_are_refused_and_change_nothing(void **state)
{
	char *big = malloc(STORE_OUTBOX_BODY_MAX + 2);
	struct store_outbox_ref ref;
	struct store *s;
	(void)state;
	assert_non_null(big);
	memset(big, ' ', STORE_OUTBOX_BODY_MAX + 1);
	big[0] = '{';
	big[STORE_OUTBOX_BODY_MAX] = '}';
	big[STORE_OUTBOX_BODY_MAX + 1] = '\0';
	s = fx_open();
	assert_int_equal(fx_append(s, RG_KIND_NOTE, "p-1", NULL, "{\"text\":\"ok\"}", NULL), 0);
	uint8_t tok[RG_TOKEN_LEN] = {1};
	struct {
		const char *what;
		int want;
		struct store_event ev;
	} cases[] = {
	    {"not JSON", RG_ERR_PARSE, {RG_KIND_NOTE, "p-1", NULL, "note: hello", 11}},
	    {"truncated JSON", RG_ERR_PARSE, {RG_KIND_NOTE, "p-1", NULL, "{\"text\":", 8}},
	    {"JSON array", RG_ERR_TYPE, {RG_KIND_NOTE, "p-1", NULL, "[]", 2}},
	    {"JSON string", RG_ERR_TYPE, {RG_KIND_NOTE, "p-1", NULL, "\"hi\"", 4}},
	    {"invalid UTF-8", RG_ERR_PARSE, {RG_KIND_NOTE, "p-1", NULL, "{\"t\":\"\xff\"}", 9}},
	    {"oversized body",
	     RG_ERR_TOOBIG,
	     {RG_KIND_NOTE, "p-1", NULL, big, STORE_OUTBOX_BODY_MAX + 1}},
	    {"no profile and no token", RG_ERR_MISSING, {RG_KIND_NOTE, NULL, NULL, "{}", 2}},
	    {"bad profile id", RG_ERR_INVAL, {RG_KIND_NOTE, "p/1", NULL, "{}", 2}},
	    {"empty profile id", RG_ERR_INVAL, {RG_KIND_NOTE, "", tok, "{}", 2}},
	    {"unknown kind", RG_ERR_INVAL, {(enum rg_kind)RG_KIND__COUNT, "p-1", NULL, "{}", 2}},
	    {"no body", RG_ERR_INVAL, {RG_KIND_NOTE, "p-1", NULL, NULL, 0}},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		print_message("case: %s\n", cases[i].what);
		memset(&ref, 0x77, sizeof ref);
		assert_int_equal(store_outbox_append(s, &cases[i].ev, &ref), cases[i].want);
		assert_int_equal(ref.seq, 0);
	}
	assert_int_equal(store_outbox_append(s, NULL, NULL), RG_ERR_INVAL);
	assert_int_equal(store_outbox_count(s), 1);
	/* one byte under the cap is fine */
	big[STORE_OUTBOX_BODY_MAX - 1] = '}';
	struct store_event ok = {RG_KIND_NOTE, "p-1", NULL, big, STORE_OUTBOX_BODY_MAX};
	assert_int_equal(store_outbox_append(s, &ok, NULL), 0);
	assert_int_equal(store_outbox_count(s), 2);
	store_close(s);
	free(big);
}

static void swapped_outbox_bodies_do_not_open(void **state)
{
	static struct seen_rows c;
	struct store *s;
	sqlite3 *db;
	(void)state;
	memset(&c, 0, sizeof c);
	s = fx_open();
	assert_int_equal(fx_append(s, RG_KIND_NOTE, "p-1", NULL, "{\"text\":\"one\"}", NULL), 0);
	assert_int_equal(fx_append(s, RG_KIND_NOTE, "p-1", NULL, "{\"text\":\"two\"}", NULL), 0);
	store_close(s);
	db = fx_raw();
	assert_int_equal(
	    sqlite3_exec(db,
			 "UPDATE outbox SET body = (SELECT body FROM outbox WHERE seq = 2) "
			 "WHERE seq = 1",
			 NULL, NULL, NULL),
	    SQLITE_OK);
	sqlite3_close(db);
	s = fx_open();
	assert_int_equal(store_outbox_list(s, 0, 10, collect, &c), RG_ERR_VERIFY);
	assert_int_equal(c.n, 0);
	assert_int_equal(store_outbox_list(s, 1, 10, collect, &c), 1);
	assert_string_equal(c.body[0], "{\"text\":\"two\"}");
	store_close(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(append_list_in_order_and_ack_removes_only_named_rows,
					    fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(rows_and_hlc_survive_close_and_reopen, fx_setup,
					    fx_teardown),
	    cmocka_unit_test_setup_teardown(appended_rows_survive_sigkill_after_return, fx_setup,
					    fx_teardown),
	    cmocka_unit_test_setup_teardown(bad_events_are_refused_and_change_nothing, fx_setup,
					    fx_teardown),
	    cmocka_unit_test_setup_teardown(swapped_outbox_bodies_do_not_open, fx_setup,
					    fx_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
