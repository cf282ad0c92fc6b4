/*
 * test_repl.c - central's replication answers (src/repl.c) on a real SQLite
 * store in a temp dir: every page and chunk it writes is read back with the
 * receivers' strict parsers (common/delta.h). Proves: pages stop at the page
 * size with more/next right and the next page continues; snapshot chunks
 * stay under the page size, resume, and end done; a pruned log answers
 * snapshot_needed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cloud/cloud.h"
#include "cloud_fixture.h"
#include "common/err.h"
#include "common/log.h"

#define NOW (CF_T0 + 1000)

struct rfx {
	struct cf_dir dir;
	struct rg_clock_manual clock;
	struct cloud_store *s;
	char path[300];
};

static int setup(void **state)
{
	struct rfx *f = calloc(1, sizeof *f);
	struct cloud_store_opts o;
	if (!f || cf_dir_make(&f->dir, "repl") < 0)
		return -1;
	rg_log_set_level(RG_LOG_OFF);
	rg_clock_manual_init(&f->clock, CF_T0);
	snprintf(f->path, sizeof f->path, "%s/cloud.db", f->dir.path);
	memset(&o, 0, sizeof o);
	o.path = f->path;
	o.clock = &f->clock.clock;
	if (cloud_store_open(&o, &f->s) < 0)
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct rfx *f = *state;
	cloud_store_close(f->s);
	cf_dir_remove(&f->dir);
	free(f);
	return 0;
}

/* n profiles p-00000.. with a body of about body_bytes and one card each. */
static void seed(struct rfx *f, int n, size_t body_bytes)
{
	char *body = malloc(body_bytes + 64), *fill = malloc(body_bytes + 1);
	uint8_t tok[1][RG_TOKEN_LEN];
	const char *types[1] = {"loyalty"};
	char id[16], card[24];
	assert_non_null(body);
	assert_non_null(fill);
	memset(fill, 'x', body_bytes);
	fill[body_bytes] = '\0';
	for (int i = 0; i < n; i++) {
		struct cloud_seed_profile p = {.id = id, .version = 1, .body = body};
		snprintf(id, sizeof id, "p-%05d", i);
		snprintf(card, sizeof card, "20000%08d", i);
		cf_token(card, tok[0]);
		p.body_len = (size_t)snprintf(body, body_bytes + 64,
					      "{\"name\":\"N\",\"note\":\"%s\"}", fill);
		p.tokens = tok;
		p.token_types = types;
		p.n_tokens = 1;
		assert_int_equal(cloud_store_seed(f->s, &p, 1), 1);
	}
	free(body);
	free(fill);
}

static void ask(struct rfx *f, int64_t since, int max, struct delta_page *pg, size_t *bytes)
{
	struct delta_request rq = {.since = since, .max = max};
	char *doc = NULL, err[256];
	size_t len = 0;
	assert_int_equal(cloud_repl_changes_answer(f->s, "0042", NULL, &rq, NOW, &doc, &len, NULL),
			 0);
	assert_true(len <= DELTA_PAGE_MAX);
	if (delta_page_parse(doc, len, pg, err, sizeof err) < 0)
		fail_msg("page refused: %s", err);
	assert_int_equal(pg->as_of_ms, NOW);
	if (bytes)
		*bytes = len;
	free(doc);
}

static void pages_parse_and_follow_on(void **state)
{
	struct rfx *f = *state;
	struct delta_page pg;
	int64_t since = 0;
	size_t total = 0;
	seed(f, 300, 20);
	ask(f, 0, 200, &pg, NULL);
	assert_int_equal(pg.n, 200);
	assert_true(pg.more);
	assert_int_equal(pg.changes[0].n_idents, 1);
	total += pg.n;
	since = pg.next;
	delta_page_free(&pg);
	ask(f, since, 200, &pg, NULL);
	assert_int_equal(pg.n, 100);
	assert_false(pg.more);
	assert_int_equal(pg.next, 300);
	assert_int_equal(pg.latest, 300);
	total += pg.n;
	delta_page_free(&pg);
	assert_int_equal(total, 300);
}

/* 60 profiles of ~30 KiB do not fit one page: the writer's cap ends it. */
static void full_page_is_capped_and_continues(void **state)
{
	struct rfx *f = *state;
	struct delta_page pg;
	int64_t since = 0;
	size_t total = 0, bytes, pages = 0;
	bool more;
	seed(f, 60, 30000);
	do {
		ask(f, since, 1000, &pg, &bytes);
		assert_true(pg.n > 0);
		if (pg.more)
			assert_int_equal(pg.next, pg.changes[pg.n - 1].seq);
		total += pg.n;
		since = pg.next;
		more = pg.more;
		pages++;
		delta_page_free(&pg);
	} while (more && pages < 10);
	assert_true(pages >= 3);
	assert_int_equal(total, 60);
	assert_int_equal(since, 60);
}

static void snapshot_chunks_fit_and_resume(void **state)
{
	struct rfx *f = *state;
	struct delta_request rq = {.snapshot = true, .max = 1000};
	struct delta_chunk ch;
	char *doc = NULL, err[256], last[DELTA_ID_MAX + 1] = "";
	size_t len, total = 0, chunks = 0;
	bool done = false;
	seed(f, 60, 30000);
	while (!done && chunks < 20) {
		assert_int_equal(
		    cloud_repl_snapshot_answer(f->s, "0042", NULL, &rq, NOW, &doc, &len, NULL), 0);
		assert_true(len <= DELTA_PAGE_MAX);
		if (delta_chunk_parse(doc, len, &ch, err, sizeof err) < 0)
			fail_msg("chunk refused: %s", err);
		free(doc);
		assert_int_equal(ch.seq, 60);
		if (rq.snapshot_id)
			assert_int_equal(ch.snapshot, rq.snapshot_id);
		for (size_t i = 0; i < ch.n; i++) {
			assert_true(strcmp(ch.changes[i].id, last) > 0);
			snprintf(last, sizeof last, "%s", ch.changes[i].id);
		}
		total += ch.n;
		done = ch.done;
		rq.snapshot_id = ch.snapshot;
		snprintf(rq.after, sizeof rq.after, "%s", ch.next_after);
		chunks++;
		delta_chunk_free(&ch);
	}
	assert_true(done);
	assert_true(chunks >= 3);
	assert_int_equal(total, 60);
}

static void pruned_log_answers_snapshot_needed(void **state)
{
	struct rfx *f = *state;
	struct delta_page pg;
	int64_t removed;
	seed(f, 5, 10);
	rg_clock_manual_advance(&f->clock, 2 * 86400000LL);
	{
		struct cloud_seed_profile p = {
		    .id = "q-1", .version = 1, .body = "{}", .body_len = 2};
		assert_int_equal(cloud_store_seed(f->s, &p, 1), 1);
	}
	assert_int_equal(cloud_store_repl_prune(f->s, CF_T0 + 86400000LL, &removed), 0);
	assert_int_equal(removed, 5);
	ask(f, 0, 200, &pg, NULL);
	assert_true(pg.snapshot_needed);
	assert_int_equal(pg.oldest, 5);
	assert_int_equal(pg.latest, 6);
	delta_page_free(&pg);
	ask(f, 5, 200, &pg, NULL);
	assert_false(pg.snapshot_needed);
	assert_int_equal(pg.n, 1);
	assert_string_equal(pg.changes[0].id, "q-1");
	delta_page_free(&pg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(pages_parse_and_follow_on, setup, teardown),
	    cmocka_unit_test_setup_teardown(full_page_is_capped_and_continues, setup, teardown),
	    cmocka_unit_test_setup_teardown(snapshot_chunks_fit_and_resume, setup, teardown),
	    cmocka_unit_test_setup_teardown(pruned_log_answers_snapshot_needed, setup, teardown),
	};
	return cmocka_run_group_tests_name("cloud_repl", tests, NULL, NULL);
}
