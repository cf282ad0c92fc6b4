/*
 * test_puller.c - the replication puller's rounds on a real store file with
 * a scripted gateway (the link seam answers from a queue; no thread, no
 * network): pages are followed while more is true and the cursor reported;
 * snapshot_needed leads to snapshot chunks, resumed from the store's
 * progress, then changes from the snapshot's seq; a malformed answer or a
 * wrong since is refused with nothing applied; a failed request is counted;
 * (with the puller's thread) a new interval applies to the wait in progress.
 */
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/clock.h"
#include "common/delta.h"
#include "common/err.h"
#include "puller.h"
#include "store_fixture.h"

#define QMAX 8

struct script {
	char *answers[QMAX]; /* NULL: the request fails (timeout) */
	size_t n, next;
	_Atomic int calls; /* read by the test while the puller's thread runs */
	char ops[QMAX][16];
	struct delta_request reqs[QMAX];
	int64_t reported_cursor, reported_latest, reported_as_of;
	int reports;
};

static struct script sc;

static int fake_request(void *ctx, const char *op, const char *req, size_t len, int timeout_ms,
			char **out, size_t *out_len)
{
	struct script *s = ctx;
	char err[128];
	(void)timeout_ms;
	assert_true(s->next < s->n);
	size_t i = s->next++;
	s->calls++;
	snprintf(s->ops[i], sizeof s->ops[i], "%s", op);
	assert_int_equal(delta_request_parse(req, len, &s->reqs[i], err, sizeof err), 0);
	if (!s->answers[i])
		return RG_ERR_TIMEOUT;
	*out = s->answers[i];
	*out_len = strlen(s->answers[i]);
	s->answers[i] = NULL; /* the puller frees it */
	return 0;
}

static void fake_report(void *ctx, int64_t cursor, int64_t latest, int64_t as_of_ms)
{
	struct script *s = ctx;
	s->reported_cursor = cursor;
	s->reported_latest = latest;
	s->reported_as_of = as_of_ms;
	s->reports++;
}

static void push(char *answer)
{
	assert_true(sc.n < QMAX);
	sc.answers[sc.n++] = answer;
}

static struct delta_change profile(int64_t seq, const char *id, const char *card, char *body,
				   size_t cap, struct delta_ident *ident)
{
	struct delta_change c = {
	    .seq = seq, .op = DELTA_PROFILE, .version = 1, .hlc = (uint64_t)FX_T0 << 16};
	snprintf(c.id, sizeof c.id, "%s", id);
	c.body_len = (size_t)fx_body(body, cap, "Pat Puller", 5);
	c.body = body;
	fx_token("loyalty", card, ident->token);
	snprintf(ident->type, sizeof ident->type, "loyalty");
	c.idents = ident;
	c.n_idents = 1;
	return c;
}

/* A page since..next with one profile change at seq (0: none). */
static char *page(int64_t since, int64_t seq, const char *id, const char *card, int64_t next,
		  int64_t latest, bool more)
{
	struct delta_writer *w = NULL;
	struct delta_ident ident;
	char body[1024], *out = NULL;
	size_t len = 0;
	assert_int_equal(delta_writer_new(since, &w), 0);
	if (seq) {
		struct delta_change c = profile(seq, id, card, body, sizeof body, &ident);
		assert_int_equal(delta_writer_add(w, &c), 0);
	}
	assert_int_equal(delta_writer_finish(w, next, latest, 0, FX_T0 + next, more, &out, &len),
			 0);
	return out;
}

static char *chunk(int64_t snap, const char *after, const char *id, const char *card, bool done)
{
	struct delta_ident ident;
	char body[1024], *out = NULL;
	size_t len = 0;
	struct delta_change c = profile(0, id, card, body, sizeof body, &ident);
	assert_int_equal(delta_chunk_build(snap, 40, FX_T0 + 40, after, done, &c, 1, &out, &len),
			 0);
	return out;
}

static int setup(void **state)
{
	memset(&sc, 0, sizeof sc);
	return fx_setup(state);
}

static int teardown(void **state)
{
	for (size_t i = 0; i < sc.n; i++)
		free(sc.answers[i]);
	return fx_teardown(state);
}

static struct puller *make(struct store *s)
{
	struct puller *p = NULL;
	struct puller_config pc = {
	    .store = s, .link = {.ctx = &sc, .request = fake_request, .report = fake_report}};
	assert_int_equal(puller_new(&pc, &p), 0);
	return p;
}

static void pages_are_followed_while_more_and_the_cursor_is_reported(void **state)
{
	char id[STORE_ID_MAX + 1];
	struct puller_stats st;
	(void)state;
	struct store *s = fx_open();
	struct puller *p = make(s);
	push(page(0, 2, "p-1", "7000001", 2, 9, true));
	push(page(2, 9, "p-2", "7000002", 9, 9, false));
	assert_int_equal(puller_round(p), 2);
	assert_int_equal(sc.next, 2);
	assert_string_equal(sc.ops[0], "changes");
	assert_int_equal(sc.reqs[0].since, 0);
	assert_int_equal(sc.reqs[1].since, 2);
	assert_int_equal(fx_identify(s, "7000001", id, NULL, 0), 1);
	assert_int_equal(fx_identify(s, "7000002", id, NULL, 0), 1);
	assert_int_equal(sc.reported_cursor, 9);
	assert_int_equal(sc.reported_latest, 9);
	assert_int_equal(sc.reported_as_of, FX_T0 + 9);
	puller_stats_get(p, &st);
	assert_int_equal(st.pages_applied, 2);
	/* a notice above the cursor is heard; latest is what the status says */
	puller_notice(p, 12);
	push(page(9, 0, NULL, NULL, 9, 9, false));
	assert_int_equal(puller_round(p), 1);
	assert_int_equal(sc.reported_latest, 12);
	puller_free(p);
	store_close(s);
}

static void snapshot_needed_fetches_chunks_then_changes_from_its_seq(void **state)
{
	char id[STORE_ID_MAX + 1];
	struct puller_stats st;
	(void)state;
	struct store *s = fx_open();
	assert_int_equal(fx_put(s, "p-gone", 1, "Gus Gone", "7000009"), 1);
	struct puller *p = make(s);
	push(delta_page_snapshot_needed(0, 40, 30, FX_T0));
	push(chunk(5, "", "p-a", "7000011", false));
	push(NULL); /* the link drops: the round ends, progress kept */
	assert_int_equal(puller_round(p), RG_ERR_TIMEOUT);
	assert_string_equal(sc.ops[1], "snapshot");
	assert_int_equal(sc.reqs[1].snapshot_id, 0);
	assert_int_equal(sc.reqs[2].snapshot_id, 5);
	assert_string_equal(sc.reqs[2].after, "p-a");
	puller_free(p);

	/* a new puller (a restart) resumes the snapshot from the store */
	p = make(s);
	push(chunk(5, "p-a", "p-b", "7000012", true));
	push(page(40, 41, "p-c", "7000013", 41, 41, false));
	assert_int_equal(puller_round(p), 2);
	assert_int_equal(sc.reqs[3].snapshot_id, 5);
	assert_string_equal(sc.reqs[3].after, "p-a");
	assert_string_equal(sc.ops[4], "changes");
	assert_int_equal(sc.reqs[4].since, 40);
	assert_int_equal(fx_identify(s, "7000009", id, NULL, 0), 0); /* swept */
	assert_int_equal(fx_identify(s, "7000011", id, NULL, 0), 1);
	assert_int_equal(fx_identify(s, "7000012", id, NULL, 0), 1);
	assert_int_equal(fx_identify(s, "7000013", id, NULL, 0), 1);
	assert_int_equal(sc.reported_cursor, 41);
	puller_stats_get(p, &st);
	assert_int_equal(st.snapshots_done, 1);
	puller_free(p);
	store_close(s);
}

static void malformed_and_wrong_since_are_refused_and_nothing_applies(void **state)
{
	char id[STORE_ID_MAX + 1];
	struct puller_stats st;
	struct store_sync y;
	(void)state;
	struct store *s = fx_open();
	struct puller *p = make(s);
	push(strdup("{\"v\":1,\"type\":\"changes\",\"since\":0,\"bogus\":1}"));
	assert_int_equal(puller_round(p), RG_ERR_PARSE);
	push(page(3, 4, "p-1", "7000001", 4, 4, false)); /* answers another request */
	assert_true(puller_round(p) < 0);
	puller_stats_get(p, &st);
	assert_int_equal(st.pages_refused, 2);
	assert_int_equal(st.pages_applied, 0);
	assert_int_equal(fx_identify(s, "7000001", id, NULL, 0), 0);
	assert_int_equal(store_sync_get(s, &y), 0);
	assert_int_equal(y.cursor, 0);
	push(NULL);
	assert_int_equal(puller_round(p), RG_ERR_TIMEOUT);
	puller_stats_get(p, &st);
	assert_int_equal(st.request_failures, 1);
	puller_free(p);
	store_close(s);
}

static void *nop(void *arg)
{
	return arg;
}

/* Whether threads start here: some qemu-user builds hang in pthread_create
 * (hal/tests/hal_test_util.h). Probed in a child process, so such a hang
 * costs three seconds and a skipped case, not the whole test binary. */
static bool threads_start(void)
{
	pid_t pid = fork();
	int st;
	if (pid == 0) {
		pthread_t t;
		if (pthread_create(&t, NULL, nop, NULL) != 0)
			_exit(1);
		pthread_join(t, NULL);
		_exit(0);
	}
	if (pid < 0)
		return false;
	for (int i = 0; i < 300; i++) {
		if (waitpid(pid, &st, WNOHANG) == pid)
			return WIFEXITED(st) && WEXITSTATUS(st) == 0;
		usleep(10000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	return false;
}

/* A new interval applies to the wait in progress: a puller waiting out
 * 60 s pulls about 1 s after its last round once told 1 s (a pushed
 * sync.pull_ms), not a minute later. */
static void a_new_interval_applies_to_the_wait_in_progress(void **state)
{
	struct store *s = fx_open();
	struct puller_config pc = {
	    .store = s,
	    .pull_ms = 60000,
	    .link = {.ctx = &sc, .request = fake_request, .report = fake_report}};
	struct puller *p = NULL;
	int64_t end;
	(void)state;

	if (!threads_start()) {
		fprintf(stderr, "threads do not start in this environment: case skipped\n");
		store_close(s);
		skip();
	}
	for (int i = 0; i < QMAX; i++)
		push(page(0, 0, NULL, NULL, 0, 0, false));
	assert_int_equal(puller_new(&pc, &p), 0);
	assert_int_equal(puller_start(p), 0); /* the first round at once */
	end = rg_clock_mono_ns(rg_clock_system()) / 1000000 + 10000;
	while (sc.calls < 1 && rg_clock_mono_ns(rg_clock_system()) / 1000000 < end)
		usleep(10000);
	assert_int_equal(sc.calls, 1);
	puller_set_interval(p, 1000);
	while (sc.calls < 2 && rg_clock_mono_ns(rg_clock_system()) / 1000000 < end)
		usleep(10000);
	assert_int_equal(sc.calls, 2);
	puller_free(p);
	store_close(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(
		pages_are_followed_while_more_and_the_cursor_is_reported, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		snapshot_needed_fetches_chunks_then_changes_from_its_seq, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		malformed_and_wrong_since_are_refused_and_nothing_applies, setup, teardown),
	    cmocka_unit_test_setup_teardown(a_new_interval_applies_to_the_wait_in_progress, setup,
					    teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
