/*
 * test_gw_replica.c - the store replica against a real SQLite file, fed
 * pages and chunks made by the real delta writer (common/delta.h): each op
 * applied, a page applied twice changing nothing, refused pages leaving every
 * row as it was, tombstones blocking later states, devices' pages coalesced
 * per profile, snapshots applied, resumed after a reopen and swept, and
 * lookups answered from and written into the replica.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "common/delta.h"
#include "common/err.h"
#include "common/hlc.h"
#include "gateway/replica.h"
#include "gw_fixture.h"

#define T0 INT64_C(1763899990000)

static struct gw_replica *open_replica(void)
{
	struct gw_replica *r;
	assert_int_equal(gw_replica_open(gwfx.path, &gwfx.clock.clock, &r), 0);
	return r;
}

static void token_of(int n, uint8_t t[RG_TOKEN_LEN])
{
	for (int i = 0; i < RG_TOKEN_LEN; i++)
		t[i] = (uint8_t)(n * 7 + i);
}

/* A profile change: tokens n_tok tokens numbered from tok0. */
static struct delta_change profile(int64_t seq, const char *id, int64_t version, int tok0,
				   size_t n_tok, const char *body)
{
	struct delta_change c;
	struct rg_hlc h = {.wall_ms = T0 + version, .logical = 0};
	memset(&c, 0, sizeof c);
	c.seq = seq;
	c.op = DELTA_PROFILE;
	snprintf(c.id, sizeof c.id, "%s", id);
	c.version = version;
	c.hlc = rg_hlc_pack(&h);
	c.body = (char *)body;
	c.body_len = strlen(body);
	c.idents = calloc(n_tok ? n_tok : 1, sizeof *c.idents);
	assert_non_null(c.idents);
	for (size_t i = 0; i < n_tok; i++) {
		token_of(tok0 + (int)i, c.idents[i].token);
		snprintf(c.idents[i].type, sizeof c.idents[i].type, "loyalty");
	}
	c.n_idents = n_tok;
	return c;
}

static struct delta_change op(int64_t seq, enum delta_op o, const char *id, const char *other)
{
	struct delta_change c;
	memset(&c, 0, sizeof c);
	c.seq = seq;
	c.op = o;
	snprintf(c.id, sizeof c.id, "%s", id);
	snprintf(c.other, sizeof c.other, "%s", other ? other : "");
	return c;
}

/* A page of n changes (their idents freed), as central would send it. */
static char *page(int64_t since, int64_t next, struct delta_change *cs, size_t n, bool more,
		  size_t *len)
{
	struct delta_writer *w;
	char *out;
	assert_int_equal(delta_writer_new(since, &w), 0);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(delta_writer_add(w, &cs[i]), 0);
		free(cs[i].idents);
	}
	assert_int_equal(delta_writer_finish(w, next, next + 10, 0, T0, more, &out, len), 0);
	return out;
}

static void apply_ok(struct gw_replica *r, char *text, size_t len, int64_t since,
		     struct gw_replica_result *res)
{
	assert_int_equal(gw_replica_apply_page(r, text, len, since, res), 0);
	free(text);
}

/* Every row of every table, as text: "unchanged" means this is equal. */
static char *dump(void)
{
	static const char *const q[] = {
	    "SELECT * FROM state",
	    "SELECT id, version, hlc, body, gseq, partial, snap FROM profiles ORDER BY id",
	    "SELECT hex(token), type, profile_id, learned FROM identifiers ORDER BY token",
	    "SELECT * FROM merges ORDER BY from_id",
	    "SELECT * FROM tombstones ORDER BY id",
	    "SELECT * FROM log ORDER BY gseq",
	    "SELECT * FROM sqlite_sequence"};
	sqlite3 *db;
	size_t cap = 1 << 16, n = 0;
	char *out = calloc(1, cap);
	assert_non_null(out);
	assert_int_equal(sqlite3_open_v2(gwfx.path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	for (size_t i = 0; i < sizeof q / sizeof q[0]; i++) {
		sqlite3_stmt *st;
		assert_int_equal(sqlite3_prepare_v2(db, q[i], -1, &st, NULL), SQLITE_OK);
		while (sqlite3_step(st) == SQLITE_ROW) {
			for (int c = 0; c < sqlite3_column_count(st); c++) {
				const unsigned char *t = sqlite3_column_text(st, c);
				n += (size_t)snprintf(out + n, cap - n, "%s|",
						      t ? (const char *)t : "NULL");
				assert_true(n < cap);
			}
			n += (size_t)snprintf(out + n, cap - n, "\n");
		}
		sqlite3_finalize(st);
		n += (size_t)snprintf(out + n, cap - n, "--\n");
	}
	sqlite3_close(db);
	return out;
}

static int lookup_id(struct gw_replica *r, int tok, char id[DELTA_ID_MAX + 1])
{
	uint8_t t[RG_TOKEN_LEN];
	char *out;
	size_t len;
	int rc;
	token_of(tok, t);
	rc = gw_replica_lookup(r, t, &out, &len);
	assert_true(rc >= 0);
	id[0] = '\0';
	if (rc == 1) {
		const char *p = strstr(out, "\"id\":\"");
		assert_non_null(p);
		p += 6;
		size_t k = (size_t)(strchr(p, '"') - p);
		memcpy(id, p, k);
		id[k] = '\0';
		assert_non_null(strstr(out, "\"type\":\"lookup_result\",\"found\":true"));
		free(out);
	}
	return rc;
}

static struct delta_page serve_changes(struct gw_replica *r, int64_t since, int max)
{
	struct delta_request q = {.snapshot = false, .since = since, .max = max};
	struct delta_page p;
	char *out, err[256];
	size_t len;
	assert_int_equal(gw_replica_serve(r, &q, &out, &len), 0);
	assert_int_equal(delta_page_parse(out, len, &p, err, sizeof err), 0);
	free(out);
	return p;
}

/* ---- tests ---- */

static void each_op_changes_the_replica_and_gets_a_gseq(void **state)
{
	struct gw_replica *r = open_replica();
	struct gw_replica_result res;
	struct gw_replica_state st;
	struct delta_change cs[4];
	char id[DELTA_ID_MAX + 1], *t;
	size_t len;
	(void)state;

	cs[0] = profile(10, "p-000001", 1, 1, 2, "{\"name\":\"Ada\"}");
	cs[1] = profile(11, "p-000002", 1, 3, 1, "{\"name\":\"Bob\"}");
	cs[2] = profile(12, "p-000003", 1, 4, 1, "{\"name\":\"Cy\"}");
	t = page(0, 12, cs, 3, false, &len);
	apply_ok(r, t, len, 0, &res);
	assert_int_equal(res.applied, 3);
	assert_int_equal(res.cursor, 12);
	assert_int_equal(gw_replica_state_get(r, &st), 0);
	assert_int_equal(st.central_cursor, 12);
	assert_int_equal(st.as_of_ms, T0);
	assert_int_equal(st.gseq, 3);
	assert_int_equal(st.profiles, 3);
	assert_int_equal(st.identifiers, 4);
	assert_int_equal(lookup_id(r, 2, id), 1);
	assert_string_equal(id, "p-000001");

	/* merge: p-2 redirects to p-1; its token now finds p-1 */
	cs[0] = op(13, DELTA_MERGE, "p-000002", "p-000001");
	t = page(12, 13, cs, 1, false, &len);
	apply_ok(r, t, len, 12, &res);
	assert_int_equal(res.applied, 1);
	assert_int_equal(lookup_id(r, 3, id), 1);
	assert_string_equal(id, "p-000001");
	assert_int_equal(gw_replica_state_get(r, &st), 0);
	assert_int_equal(st.profiles, 2);
	assert_int_equal(st.merges, 1);

	/* unmerge: the redirect goes; p-2 follows as a profile with its token */
	cs[0] = op(14, DELTA_UNMERGE, "p-000002", "p-000001");
	cs[1] = profile(15, "p-000002", 2, 3, 1, "{\"name\":\"Bob\"}");
	t = page(13, 15, cs, 2, false, &len);
	apply_ok(r, t, len, 13, &res);
	assert_int_equal(res.applied, 2);
	assert_int_equal(lookup_id(r, 3, id), 1);
	assert_string_equal(id, "p-000002");
	assert_int_equal(gw_replica_state_get(r, &st), 0);
	assert_int_equal(st.merges, 0);

	/* erase: profile and tokens gone, a tombstone kept */
	cs[0] = op(16, DELTA_ERASE, "p-000003", NULL);
	t = page(15, 16, cs, 1, false, &len);
	apply_ok(r, t, len, 15, &res);
	assert_int_equal(res.applied, 1);
	assert_int_equal(lookup_id(r, 4, id), 0);
	assert_int_equal(gw_replica_state_get(r, &st), 0);
	assert_int_equal(st.profiles, 2);
	assert_int_equal(st.tombstones, 1);
	assert_int_equal(st.gseq, 7);
	assert_int_equal(st.central_cursor, 16);

	/* a profile's identifier set is complete: a token left out is gone */
	cs[0] = profile(17, "p-000001", 2, 1, 1, "{\"name\":\"Ada\"}");
	t = page(16, 17, cs, 1, false, &len);
	apply_ok(r, t, len, 16, &res);
	assert_int_equal(lookup_id(r, 1, id), 1);
	assert_int_equal(lookup_id(r, 2, id), 0);
	gw_replica_close(r);
}

static void a_page_applied_twice_or_an_older_state_changes_nothing(void **state)
{
	struct gw_replica *r = open_replica();
	struct gw_replica_result res;
	struct delta_change cs[3];
	char *t, *before, *after;
	size_t len;
	(void)state;

	cs[0] = profile(5, "p-000001", 3, 1, 1, "{\"v\":3}");
	cs[1] = op(6, DELTA_MERGE, "p-000009", "p-000001");
	cs[2] = op(7, DELTA_ERASE, "p-000008", NULL);
	t = page(0, 7, cs, 3, false, &len);
	assert_int_equal(gw_replica_apply_page(r, t, len, 0, &res), 0);
	assert_int_equal(res.applied, 3);
	before = dump();
	/* The same page again (the cursor was lost, say): nothing moves but
	 * the cursor, which is already there. */
	assert_int_equal(gw_replica_apply_page(r, t, len, 0, &res), 0);
	assert_int_equal(res.applied, 0);
	assert_int_equal(res.ignored, 3);
	free(t);
	after = dump();
	assert_string_equal(before, after);
	free(after);

	/* An older version of the profile is ignored, the cursor advances. */
	cs[0] = profile(8, "p-000001", 2, 5, 1, "{\"v\":2}");
	t = page(7, 8, cs, 1, false, &len);
	apply_ok(r, t, len, 7, &res);
	assert_int_equal(res.applied, 0);
	assert_int_equal(res.ignored, 1);
	after = dump();
	assert_non_null(strstr(after, "{\"v\":3}"));
	assert_null(strstr(after, "{\"v\":2}"));
	free(after);
	free(before);
	gw_replica_close(r);
}

static void a_refused_page_leaves_every_row_as_it_was(void **state)
{
	struct gw_replica *r = open_replica();
	struct gw_replica_result res;
	struct delta_change cs[2];
	char *t, *before, *after, *bad;
	size_t len;
	(void)state;

	cs[0] = profile(1, "p-000001", 1, 1, 1, "{\"a\":1}");
	t = page(0, 1, cs, 1, false, &len);
	apply_ok(r, t, len, 0, &res);
	before = dump();

	/* since not the one asked for */
	cs[0] = profile(2, "p-000002", 1, 2, 1, "{\"b\":1}");
	t = page(0, 2, cs, 1, false, &len);
	assert_int_equal(gw_replica_apply_page(r, t, len, 1, &res), RG_ERR_PARSE);
	assert_string_equal(res.reason, "since_mismatch");
	free(t);

	/* malformed: a valid page with one byte broken, an unknown key, garbage */
	cs[0] = profile(2, "p-000002", 1, 2, 1, "{\"b\":1}");
	cs[1] = profile(3, "p-000003", 1, 3, 1, "{\"c\":1}");
	t = page(1, 3, cs, 2, false, &len);
	bad = strstr(t, "\"seq\":3");
	assert_non_null(bad);
	bad[6] = '2'; /* seq not increasing */
	assert_int_equal(gw_replica_apply_page(r, t, len, 1, &res), RG_ERR_PARSE);
	assert_string_equal(res.reason, "malformed");
	assert_true(res.detail[0] != '\0');
	t[len - 1] = ','; /* broken JSON */
	assert_int_equal(gw_replica_apply_page(r, t, len, 1, &res), RG_ERR_PARSE);
	free(t);
	static const char unknown[] = "{\"v\":1,\"type\":\"changes\",\"since\":1,\"next\":1,"
				      "\"latest\":1,\"oldest\":0,\"as_of\":1,\"more\":false,"
				      "\"changes\":[],\"extra\":1}";
	assert_int_equal(gw_replica_apply_page(r, unknown, sizeof unknown - 1, 1, &res),
			 RG_ERR_PARSE);
	assert_int_equal(gw_replica_apply_page(r, "", 0, 1, &res), RG_ERR_PARSE);

	after = dump();
	assert_string_equal(before, after);
	free(after);
	free(before);
	gw_replica_close(r);
}

/* How many times needle occurs in the replica's files (main, -wal). */
static int traces(const char *needle)
{
	static const char *const suffix[] = {"", "-wal"};
	int hits = 0;
	for (size_t k = 0; k < 2; k++) {
		char path[PATH_MAX + 8];
		snprintf(path, sizeof path, "%s%s", gwfx.path, suffix[k]);
		FILE *i = fopen(path, "rb");
		if (!i)
			continue;
		fseek(i, 0, SEEK_END);
		long n = ftell(i);
		fseek(i, 0, SEEK_SET);
		char *buf = malloc((size_t)n + 1);
		assert_non_null(buf);
		assert_int_equal(fread(buf, 1, (size_t)n, i), (size_t)n);
		fclose(i);
		for (long j = 0; j + (long)strlen(needle) <= n; j++)
			if (!memcmp(buf + j, needle, strlen(needle)))
				hits++;
		free(buf);
	}
	return hits;
}

static void an_erasure_leaves_no_trace_in_the_files(void **state)
{
	struct gw_replica *r = open_replica();
	struct gw_replica_result res;
	struct delta_change cs[3];
	char *t;
	size_t len;
	(void)state;

	cs[0] = profile(1, "p-000001", 1, 1, 1, "{\"name\":\"Quillwort Ashgrove\"}");
	cs[1] = profile(2, "p-000001", 2, 1, 1, "{\"name\":\"Quillwort Ashgrove\",\"n\":2}");
	cs[2] = profile(3, "p-000002", 1, 2, 1, "{\"name\":\"Bystander Keep\"}");
	t = page(0, 3, cs, 1, false, &len);
	apply_ok(r, t, len, 0, &res);
	t = page(1, 3, cs + 1, 2, false, &len);
	apply_ok(r, t, len, 1, &res);
	assert_true(traces("Quillwort") > 0);
	cs[0] = op(4, DELTA_ERASE, "p-000001", NULL);
	t = page(3, 4, cs, 1, false, &len);
	apply_ok(r, t, len, 3, &res);
	assert_int_equal(res.erased, 1);
	assert_int_equal(traces("Quillwort"), 0);
	assert_true(traces("Bystander") > 0);
	gw_replica_close(r);
	assert_int_equal(traces("Quillwort"), 0);
}

static void a_tombstone_blocks_a_later_profile_and_lookup_answer(void **state)
{
	struct gw_replica *r = open_replica();
	struct gw_replica_result res;
	struct gw_replica_state st;
	struct delta_change cs[2];
	uint8_t tok[RG_TOKEN_LEN];
	char *t, id[DELTA_ID_MAX + 1], err[128];
	size_t len;
	(void)state;

	cs[0] = profile(1, "p-000001", 1, 1, 1, "{}");
	cs[1] = op(2, DELTA_ERASE, "p-000001", NULL);
	t = page(0, 2, cs, 2, false, &len);
	apply_ok(r, t, len, 0, &res);
	cs[0] = profile(3, "p-000001", 9, 1, 1, "{\"back\":true}");
	t = page(2, 3, cs, 1, false, &len);
	apply_ok(r, t, len, 2, &res);
	assert_int_equal(res.tombstoned, 1);
	assert_int_equal(res.applied, 0);
	assert_int_equal(lookup_id(r, 1, id), 0);
	assert_int_equal(gw_replica_state_get(r, &st), 0);
	assert_int_equal(st.profiles, 0);
	assert_int_equal(st.central_cursor, 3);

	static const char ans[] = "{\"v\":1,\"type\":\"lookup_result\",\"found\":true,\"profile\":"
				  "{\"id\":\"p-000001\",\"version\":9,\"hlc\":\"1763899990000.0\","
				  "\"body\":{}}}";
	token_of(1, tok);
	assert_int_equal(gw_replica_lookup_store(r, tok, ans, sizeof ans - 1, err, sizeof err),
			 GW_LOOKUP_TOMBSTONED);
	assert_int_equal(lookup_id(r, 1, id), 0);
	gw_replica_close(r);
}

static void devices_get_each_profile_once_at_its_last_gseq(void **state)
{
	struct gw_replica *r = open_replica();
	struct gw_replica_result res;
	struct delta_change cs[5];
	struct delta_page p;
	char *t;
	size_t len;
	(void)state;

	cs[0] = profile(1, "p-000001", 1, 1, 1, "{\"a\":1}");
	cs[1] = profile(2, "p-000002", 1, 2, 1, "{\"b\":1}");
	t = page(0, 2, cs, 2, false, &len);
	apply_ok(r, t, len, 0, &res); /* gseq 1, 2 */
	cs[0] = profile(3, "p-000001", 2, 1, 2, "{\"a\":2}");
	cs[1] = op(4, DELTA_MERGE, "p-000003", "p-000002");
	cs[2] = op(5, DELTA_ERASE, "p-000004", NULL);
	t = page(2, 5, cs, 3, false, &len);
	apply_ok(r, t, len, 2, &res); /* gseq 3, 4, 5 */

	p = serve_changes(r, 0, 200);
	assert_int_equal(p.n, 4);
	assert_false(p.more);
	assert_int_equal(p.next, 5);
	assert_int_equal(p.latest, 5);
	assert_int_equal(p.as_of_ms, T0);
	assert_int_equal(p.changes[0].seq, 2);
	assert_string_equal(p.changes[0].id, "p-000002");
	assert_int_equal(p.changes[1].seq, 3);
	assert_string_equal(p.changes[1].id, "p-000001");
	assert_int_equal(p.changes[1].version, 2);
	assert_string_equal(p.changes[1].body, "{\"a\":2}");
	assert_int_equal(p.changes[1].n_idents, 2);
	assert_int_equal(p.changes[2].op, DELTA_MERGE);
	assert_string_equal(p.changes[2].other, "p-000002");
	assert_int_equal(p.changes[3].op, DELTA_ERASE);
	delta_page_free(&p);

	/* pages of one: more until the end, next = the last one sent */
	p = serve_changes(r, 0, 1);
	assert_int_equal(p.n, 1);
	assert_true(p.more);
	assert_int_equal(p.next, 2);
	delta_page_free(&p);
	p = serve_changes(r, 4, 1);
	assert_int_equal(p.n, 1);
	assert_false(p.more);
	assert_int_equal(p.next, 5);
	delta_page_free(&p);
	p = serve_changes(r, 5, 10);
	assert_int_equal(p.n, 0);
	assert_int_equal(p.next, 5);
	delta_page_free(&p);

	/* a cursor this replica never gave, or one behind what it keeps */
	p = serve_changes(r, 99, 10);
	assert_true(p.snapshot_needed);
	delta_page_free(&p);
	rg_clock_manual_advance(&gwfx.clock, 40LL * 86400 * 1000);
	assert_int_equal(gw_replica_prune(r, 30LL * 86400 * 1000), 5);
	p = serve_changes(r, 3, 10);
	assert_true(p.snapshot_needed);
	assert_int_equal(p.oldest, 5);
	delta_page_free(&p);
	p = serve_changes(r, 5, 10);
	assert_false(p.snapshot_needed);
	delta_page_free(&p);
	gw_replica_close(r);
}

static char *chunk(int64_t snap, int64_t seq, const char *after, bool done, int first, int n,
		   size_t *len)
{
	struct delta_change cs[8];
	char ids[8][16];
	char *out;
	for (int i = 0; i < n; i++) {
		snprintf(ids[i], sizeof ids[i], "p-%06d", first + i);
		cs[i] = profile(0, ids[i], 5, first + i, 1, "{\"s\":1}");
	}
	assert_int_equal(
	    delta_chunk_build(snap, seq, T0 + 5, after, done, cs, (size_t)n, &out, len), 0);
	for (int i = 0; i < n; i++)
		free(cs[i].idents);
	return out;
}

static void a_snapshot_resumes_after_a_reopen_and_sweeps_what_it_left_out(void **state)
{
	struct gw_replica *r = open_replica();
	struct gw_replica_result res;
	struct gw_replica_state st;
	struct delta_change cs[2];
	char *t, id[DELTA_ID_MAX + 1], *before, *after;
	size_t len;
	(void)state;

	/* before: p-000001 (will be in the snapshot, same version) and p-000099
	 * (erased centrally while we were away: not in the snapshot) */
	cs[0] = profile(1, "p-000001", 5, 1, 1, "{\"s\":1}");
	cs[1] = profile(2, "p-000099", 1, 99, 1, "{}");
	t = page(0, 2, cs, 2, false, &len);
	apply_ok(r, t, len, 0, &res);

	t = chunk(77, 500, "", false, 1, 2, &len); /* p-1, p-2 */
	assert_int_equal(gw_replica_apply_chunk(r, t, len, 0, "", &res), 0);
	free(t);
	assert_false(res.done);
	assert_int_equal(res.applied, 1); /* p-2 new; p-1 the same version */
	gw_replica_close(r);

	r = open_replica();
	assert_int_equal(gw_replica_state_get(r, &st), 0);
	assert_int_equal(st.snapshot, 77);
	assert_string_equal(st.snapshot_after, "p-000002");
	assert_int_equal(st.central_cursor, 2);

	/* a chunk that does not continue where we are is refused, unchanged */
	before = dump();
	t = chunk(77, 500, "p-000005", true, 6, 1, &len);
	assert_int_equal(gw_replica_apply_chunk(r, t, len, 77, "p-000002", &res), RG_ERR_PARSE);
	assert_string_equal(res.reason, "after_mismatch");
	free(t);
	t = chunk(77, 500, "p-000002", true, 3, 1, &len);
	t[strlen(t) - 3] ^= 1; /* inside the checksum */
	assert_int_equal(gw_replica_apply_chunk(r, t, len, 77, "p-000002", &res), RG_ERR_PARSE);
	free(t);
	after = dump();
	assert_string_equal(before, after);
	free(before);
	free(after);

	t = chunk(77, 500, "p-000002", true, 3, 1, &len); /* p-3, last */
	assert_int_equal(gw_replica_apply_chunk(r, t, len, 77, "p-000002", &res), 0);
	free(t);
	assert_true(res.done);
	assert_int_equal(res.swept, 1);
	assert_int_equal(gw_replica_state_get(r, &st), 0);
	assert_int_equal(st.snapshot, 0);
	assert_int_equal(st.central_cursor, 500);
	assert_int_equal(st.as_of_ms, T0 + 5);
	assert_int_equal(st.profiles, 3);
	assert_int_equal(lookup_id(r, 99, id), 0);
	assert_int_equal(lookup_id(r, 3, id), 1);
	/* devices behind the sweep must take a snapshot from the gateway */
	assert_int_equal(st.oldest, st.gseq);
	struct delta_page p = serve_changes(r, 1, 10);
	assert_true(p.snapshot_needed);
	delta_page_free(&p);
	gw_replica_close(r);
}

static void devices_get_a_chunked_snapshot_they_can_resume(void **state)
{
	struct gw_replica *r = open_replica();
	struct gw_replica_result res;
	struct delta_change cs[5];
	struct delta_request q = {.snapshot = true, .snapshot_id = 0, .max = 2};
	struct delta_chunk c;
	char *t, err[256];
	size_t len;
	(void)state;

	cs[0] = profile(1, "p-000003", 1, 3, 1, "{}");
	cs[1] = profile(2, "p-000001", 1, 1, 1, "{}");
	cs[2] = profile(3, "p-000002", 1, 2, 1, "{}");
	t = page(0, 3, cs, 3, false, &len);
	apply_ok(r, t, len, 0, &res);

	assert_int_equal(gw_replica_serve(r, &q, &t, &len), 0);
	assert_int_equal(delta_chunk_parse(t, len, &c, err, sizeof err), 0);
	free(t);
	assert_int_equal(c.n, 2);
	assert_false(c.done);
	assert_int_equal(c.seq, 3);
	assert_string_equal(c.changes[0].id, "p-000001");
	assert_string_equal(c.next_after, "p-000002");
	q.snapshot_id = c.snapshot;
	snprintf(q.after, sizeof q.after, "%s", c.next_after);
	delta_chunk_free(&c);

	assert_int_equal(gw_replica_serve(r, &q, &t, &len), 0);
	assert_int_equal(delta_chunk_parse(t, len, &c, err, sizeof err), 0);
	free(t);
	assert_int_equal(c.n, 1);
	assert_true(c.done);
	assert_string_equal(c.changes[0].id, "p-000003");
	assert_int_equal(c.snapshot, q.snapshot_id);
	delta_chunk_free(&c);
	gw_replica_close(r);
}

static void a_lookup_answer_is_kept_for_lookups_but_not_served_until_central_sends_it(void **state)
{
	struct gw_replica *r = open_replica();
	struct gw_replica_result res;
	struct delta_change cs[1];
	struct delta_page p;
	uint8_t tok[RG_TOKEN_LEN];
	char *t, id[DELTA_ID_MAX + 1], err[256];
	size_t len;
	struct stat sb;
	(void)state;

	assert_int_equal(stat(gwfx.path, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);

	static const char ans[] = "{\"v\":1,\"type\":\"lookup_result\",\"found\":true,\"profile\":"
				  "{\"id\":\"p-000007\",\"version\":4,\"hlc\":\"1763899990004.0\","
				  "\"body\":{\"name\":\"Eve\"}}}";
	static const char miss[] = "{\"v\":1,\"type\":\"lookup_result\",\"found\":false}";
	static const char bad[] = "{\"v\":1,\"type\":\"lookup_result\",\"found\":false,\"x\":1}";
	token_of(7, tok);
	assert_int_equal(gw_replica_lookup_store(r, tok, miss, sizeof miss - 1, err, sizeof err),
			 GW_LOOKUP_NOT_FOUND);
	assert_int_equal(gw_replica_lookup_store(r, tok, bad, sizeof bad - 1, err, sizeof err),
			 RG_ERR_PARSE);
	assert_int_equal(lookup_id(r, 7, id), 0);
	assert_int_equal(gw_replica_lookup_store(r, tok, ans, sizeof ans - 1, err, sizeof err),
			 GW_LOOKUP_STORED);
	assert_int_equal(gw_replica_lookup_store(r, tok, ans, sizeof ans - 1, err, sizeof err),
			 GW_LOOKUP_KEPT);
	assert_int_equal(lookup_id(r, 7, id), 1);
	assert_string_equal(id, "p-000007");
	assert_int_equal(gw_replica_lookup(r, tok, &t, &len), 1);
	assert_non_null(strstr(t, "\"version\":4,\"hlc\":\"1763899990004.0\","
				  "\"body\":{\"name\":\"Eve\"}"));
	free(t);
	p = serve_changes(r, 0, 10);
	assert_int_equal(p.n, 0);
	delta_page_free(&p);

	/* central's state of the same version replaces it, complete, and is served */
	cs[0] = profile(1, "p-000007", 4, 8, 1, "{\"name\":\"Eve\"}");
	t = page(0, 1, cs, 1, false, &len);
	apply_ok(r, t, len, 0, &res);
	assert_int_equal(res.applied, 1);
	assert_int_equal(lookup_id(r, 7, id), 0); /* not in central's complete set */
	assert_int_equal(lookup_id(r, 8, id), 1);
	p = serve_changes(r, 0, 10);
	assert_int_equal(p.n, 1);
	assert_int_equal(p.changes[0].n_idents, 1);
	delta_page_free(&p);
	gw_replica_close(r);
}

static void snapshot_needed_from_central_changes_nothing(void **state)
{
	struct gw_replica *r = open_replica();
	struct gw_replica_result res;
	char *t, *before, *after;
	(void)state;
	before = dump();
	assert_non_null(t = delta_page_snapshot_needed(0, 5000, 900, T0));
	assert_int_equal(gw_replica_apply_page(r, t, strlen(t), 0, &res), 0);
	assert_true(res.snapshot_needed);
	free(t);
	after = dump();
	assert_string_equal(before, after);
	free(before);
	free(after);
	gw_replica_close(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(each_op_changes_the_replica_and_gets_a_gseq, gwfx_setup,
					    gwfx_teardown),
	    cmocka_unit_test_setup_teardown(a_page_applied_twice_or_an_older_state_changes_nothing,
					    gwfx_setup, gwfx_teardown),
	    cmocka_unit_test_setup_teardown(a_refused_page_leaves_every_row_as_it_was, gwfx_setup,
					    gwfx_teardown),
	    cmocka_unit_test_setup_teardown(an_erasure_leaves_no_trace_in_the_files, gwfx_setup,
					    gwfx_teardown),
	    cmocka_unit_test_setup_teardown(a_tombstone_blocks_a_later_profile_and_lookup_answer,
					    gwfx_setup, gwfx_teardown),
	    cmocka_unit_test_setup_teardown(devices_get_each_profile_once_at_its_last_gseq,
					    gwfx_setup, gwfx_teardown),
	    cmocka_unit_test_setup_teardown(
		a_snapshot_resumes_after_a_reopen_and_sweeps_what_it_left_out, gwfx_setup,
		gwfx_teardown),
	    cmocka_unit_test_setup_teardown(devices_get_a_chunked_snapshot_they_can_resume,
					    gwfx_setup, gwfx_teardown),
	    cmocka_unit_test_setup_teardown(
		a_lookup_answer_is_kept_for_lookups_but_not_served_until_central_sends_it,
		gwfx_setup, gwfx_teardown),
	    cmocka_unit_test_setup_teardown(snapshot_needed_from_central_changes_nothing,
					    gwfx_setup, gwfx_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
