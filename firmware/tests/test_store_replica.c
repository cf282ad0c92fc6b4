/*
 * test_store_replica.c - the cache as a replica of the gateway's: a page's
 * profile makes its cards identifiable with exactly the identifier set it
 * carries, merges redirect and unmerges undo them, an erasure leaves a
 * tombstone that refuses the id from then on (deltas and lookup answers),
 * the cursor moves only with a page that applied whole, a refused page
 * changes nothing, applying twice changes nothing, and snapshots resume
 * chunk by chunk and sweep what they did not include.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "common/delta.h"
#include "common/err.h"
#include "store_fixture.h"

#define T_ASOF 1763900000000LL

/* Changes built in test storage: bodies and identifier sets live here. */
struct tchange {
	struct delta_change c;
	char body[1024];
	struct delta_ident idents[4];
};

static void t_profile(struct tchange *t, int64_t seq, const char *id, int64_t version,
		      const char *name, const char *card1, const char *card2)
{
	memset(t, 0, sizeof *t);
	t->c.seq = seq;
	t->c.op = DELTA_PROFILE;
	snprintf(t->c.id, sizeof t->c.id, "%s", id);
	t->c.version = version;
	t->c.hlc = ((uint64_t)(FX_T0 + version) << 16);
	t->c.body_len = (size_t)fx_body(t->body, sizeof t->body, name, (int)version * 10);
	t->c.body = t->body;
	const char *cards[2] = {card1, card2};
	for (int i = 0; i < 2; i++) {
		if (!cards[i])
			continue;
		fx_token("loyalty", cards[i], t->idents[t->c.n_idents].token);
		snprintf(t->idents[t->c.n_idents].type, sizeof t->idents[0].type, "loyalty");
		t->c.n_idents++;
	}
	t->c.idents = t->idents;
}

static void t_op(struct tchange *t, int64_t seq, enum delta_op op, const char *id,
		 const char *other)
{
	memset(t, 0, sizeof *t);
	t->c.seq = seq;
	t->c.op = op;
	snprintf(t->c.id, sizeof t->c.id, "%s", id);
	snprintf(t->c.other, sizeof t->c.other, "%s", other ? other : "");
}

/* A page over n test changes (copied into ch). */
static void t_page(struct delta_page *p, struct delta_change *ch, struct tchange *t, size_t n,
		   int64_t since, int64_t next)
{
	memset(p, 0, sizeof *p);
	for (size_t i = 0; i < n; i++) {
		ch[i] = t[i].c;
		if (ch[i].op == DELTA_PROFILE) {
			ch[i].body = t[i].body;
			ch[i].idents = t[i].idents;
		}
	}
	p->since = since;
	p->next = next;
	p->latest = next + 5;
	p->oldest = 0;
	p->as_of_ms = T_ASOF + next;
	p->changes = n ? ch : NULL;
	p->n = n;
}

static struct store_sync sync_of(struct store *s)
{
	struct store_sync y;
	assert_int_equal(store_sync_get(s, &y), 0);
	return y;
}

static void profile_page_makes_cards_identifiable_and_moves_the_cursor(void **state)
{
	struct tchange t[2];
	struct delta_change ch[2];
	struct delta_page p;
	struct store_apply_stats st;
	char id[STORE_ID_MAX + 1], body[STORE_BODY_MAX + 1];
	(void)state;
	struct store *s = fx_open();
	assert_int_equal(sync_of(s).cursor, 0);
	t_profile(&t[0], 3, "p-1", 1, "Ada Lovelace", "1000001", "1000002");
	t_profile(&t[1], 7, "p-2", 4, "Bob Builder", "1000003", NULL);
	t_page(&p, ch, t, 2, 0, 9);
	assert_int_equal(store_page_apply(s, &p, &st), 0);
	assert_int_equal(st.written, 2);
	assert_int_equal(fx_identify(s, "1000001", id, body, sizeof body), 1);
	assert_string_equal(id, "p-1");
	assert_non_null(strstr(body, "Ada Lovelace"));
	assert_int_equal(fx_identify(s, "1000002", id, NULL, 0), 1);
	assert_int_equal(fx_identify(s, "1000003", id, NULL, 0), 1);
	assert_string_equal(id, "p-2");
	struct store_sync y = sync_of(s);
	assert_int_equal(y.cursor, 9);
	assert_int_equal(y.latest, 14);
	assert_int_equal(y.as_of_ms, T_ASOF + 9);
	store_close(s);
	/* durable */
	s = fx_open();
	assert_int_equal(sync_of(s).cursor, 9);
	store_close(s);
}

static void the_identifier_set_is_complete_and_old_states_are_ignored(void **state)
{
	struct tchange t[1];
	struct delta_change ch[1];
	struct delta_page p;
	struct store_apply_stats st;
	char id[STORE_ID_MAX + 1], body[STORE_BODY_MAX + 1];
	(void)state;
	struct store *s = fx_open();
	t_profile(&t[0], 1, "p-1", 1, "Ada Lovelace", "1000001", "1000002");
	t_page(&p, ch, t, 1, 0, 1);
	assert_int_equal(store_page_apply(s, &p, &st), 0);
	/* version 2 holds 1000002 and a new 1000009; 1000001 left it */
	t_profile(&t[0], 2, "p-1", 2, "Ada King", "1000002", "1000009");
	t_page(&p, ch, t, 1, 1, 2);
	assert_int_equal(store_page_apply(s, &p, &st), 0);
	assert_int_equal(st.written, 1);
	assert_int_equal(st.idents_removed, 1);
	assert_int_equal(fx_identify(s, "1000001", id, NULL, 0), 0);
	assert_string_equal(id, "");
	assert_int_equal(fx_identify(s, "1000009", id, body, sizeof body), 1);
	assert_non_null(strstr(body, "Ada King"));
	assert_int_equal(fx_stats(s).identifiers, 2);
	/* an older state later in the log changes nothing */
	t_profile(&t[0], 3, "p-1", 1, "Ada Lovelace", "1000001", NULL);
	t_page(&p, ch, t, 1, 2, 3);
	assert_int_equal(store_page_apply(s, &p, &st), 0);
	assert_int_equal(st.written, 0);
	assert_int_equal(st.stale, 1);
	assert_int_equal(fx_identify(s, "1000001", id, NULL, 0), 0);
	assert_int_equal(fx_identify(s, "1000009", id, body, sizeof body), 1);
	assert_non_null(strstr(body, "Ada King"));
	assert_int_equal(sync_of(s).cursor, 3);
	store_close(s);
}

static void applying_a_page_twice_changes_nothing(void **state)
{
	struct tchange t[2];
	struct delta_change ch[2];
	struct delta_page p;
	struct store_apply_stats st;
	(void)state;
	struct store *s = fx_open();
	t_profile(&t[0], 4, "p-1", 1, "Ada Lovelace", "1000001", NULL);
	t_op(&t[1], 5, DELTA_ERASE, "p-9", NULL);
	t_page(&p, ch, t, 2, 0, 5);
	assert_int_equal(store_page_apply(s, &p, &st), 0);
	struct store_stats before = fx_stats(s);
	/* the same page again: its since is no longer the cursor */
	assert_int_equal(store_page_apply(s, &p, &st), RG_ERR_STATE);
	/* the same changes again from the cursor: nothing new */
	t[0].c.seq = 6;
	t[1].c.seq = 7;
	t_page(&p, ch, t, 2, 5, 7);
	assert_int_equal(store_page_apply(s, &p, &st), 0);
	assert_int_equal(st.written, 0);
	assert_int_equal(st.stale, 1);
	assert_int_equal(st.erases, 1);
	struct store_stats after = fx_stats(s);
	assert_int_equal(after.profiles, before.profiles);
	assert_int_equal(after.identifiers, before.identifiers);
	assert_int_equal(sync_of(s).tombstones, 1);
	store_close(s);
}

static void merge_redirects_and_unmerge_undoes_it(void **state)
{
	struct tchange t[3];
	struct delta_change ch[3];
	struct delta_page p;
	struct store_apply_stats st;
	char id[STORE_ID_MAX + 1], body[STORE_BODY_MAX + 1];
	(void)state;
	struct store *s = fx_open();
	t_profile(&t[0], 1, "p-a", 1, "Anna Old", "2000001", NULL);
	t_profile(&t[1], 2, "p-b", 1, "Anna New", "2000002", NULL);
	t_page(&p, ch, t, 2, 0, 2);
	assert_int_equal(store_page_apply(s, &p, &st), 0);
	/* merge a into b; b follows with both cards */
	t_op(&t[0], 3, DELTA_MERGE, "p-a", "p-b");
	t_profile(&t[1], 4, "p-b", 2, "Anna Merged", "2000001", "2000002");
	t_page(&p, ch, t, 2, 2, 4);
	assert_int_equal(store_page_apply(s, &p, &st), 0);
	assert_int_equal(st.merges, 1);
	assert_int_equal(fx_identify(s, "2000001", id, body, sizeof body), 1);
	assert_string_equal(id, "p-b");
	assert_non_null(strstr(body, "Anna Merged"));
	assert_int_equal(fx_stats(s).profiles, 1);
	/* unmerge: both follow with their own cards again */
	t_op(&t[0], 5, DELTA_UNMERGE, "p-a", "p-b");
	t_profile(&t[1], 6, "p-a", 3, "Anna Again", "2000001", NULL);
	t_profile(&t[2], 7, "p-b", 3, "Anna New", "2000002", NULL);
	t_page(&p, ch, t, 3, 4, 7);
	assert_int_equal(store_page_apply(s, &p, &st), 0);
	assert_int_equal(st.unmerges, 1);
	assert_int_equal(st.written, 2);
	assert_int_equal(fx_identify(s, "2000001", id, body, sizeof body), 1);
	assert_string_equal(id, "p-a");
	assert_non_null(strstr(body, "Anna Again"));
	assert_int_equal(fx_identify(s, "2000002", id, NULL, 0), 1);
	assert_string_equal(id, "p-b");
	assert_int_equal(fx_stats(s).merges, 0);
	store_close(s);
}

static void erase_removes_and_its_tombstone_refuses_the_id(void **state)
{
	struct tchange t[2];
	struct delta_change ch[2];
	struct delta_page p;
	struct store_apply_stats st;
	char id[STORE_ID_MAX + 1];
	(void)state;
	struct store *s = fx_open();
	t_profile(&t[0], 1, "p-e", 1, "Erin Erased", "3000001", "3000002");
	t_page(&p, ch, t, 1, 0, 1);
	assert_int_equal(store_page_apply(s, &p, &st), 0);
	t_op(&t[0], 2, DELTA_ERASE, "p-e", NULL);
	t_page(&p, ch, t, 1, 1, 2);
	assert_int_equal(store_page_apply(s, &p, &st), 0);
	assert_int_equal(st.erases, 1);
	assert_int_equal(fx_identify(s, "3000001", id, NULL, 0), 0);
	assert_string_equal(id, "");
	assert_int_equal(store_tombstoned(s, "p-e"), 1);
	assert_int_equal(store_tombstoned(s, "p-x"), 0);
	struct store_stats ss = fx_stats(s);
	assert_int_equal(ss.profiles, 0);
	assert_int_equal(ss.identifiers, 0);
	/* a later profile state for it is ignored and counted */
	t_profile(&t[0], 3, "p-e", 9, "Erin Erased", "3000001", NULL);
	t_page(&p, ch, t, 1, 2, 3);
	assert_int_equal(store_page_apply(s, &p, &st), 0);
	assert_int_equal(st.tombstoned, 1);
	assert_int_equal(st.written, 0);
	/* and so is a lookup answer (store_profile_upsert) */
	assert_int_equal(fx_put(s, "p-e", 10, "Erin Erased", "3000001"), 0);
	assert_int_equal(fx_identify(s, "3000001", id, NULL, 0), 0);
	assert_int_equal(fx_stats(s).profiles, 0);
	store_close(s);
	/* the row and its tokens are gone from the file */
	sqlite3 *db = fx_raw();
	assert_int_equal(fx_int(db, "SELECT count(*) FROM profiles WHERE id = 'p-e'"), 0);
	assert_int_equal(fx_int(db, "SELECT count(*) FROM identifiers"), 0);
	assert_int_equal(fx_int(db, "SELECT count(*) FROM tombstones WHERE id = 'p-e'"), 1);
	sqlite3_close(db);

	/* STORE_TOMBSTONE_DAYS later the id itself goes with the next page, and
	 * a state for it is taken again (central would only send one for a
	 * person created anew under that id) */
	s = fx_open();
	rg_clock_manual_advance(&fx.clock, (int64_t)(STORE_TOMBSTONE_DAYS - 1) * 24 * 3600 * 1000);
	t_page(&p, ch, t, 0, 3, 4);
	assert_int_equal(store_page_apply(s, &p, &st), 0);
	assert_int_equal(st.tombstones_expired, 0);
	assert_int_equal(store_tombstoned(s, "p-e"), 1);
	rg_clock_manual_advance(&fx.clock, 2LL * 24 * 3600 * 1000);
	t_page(&p, ch, t, 0, 4, 5);
	assert_int_equal(store_page_apply(s, &p, &st), 0);
	assert_int_equal(st.tombstones_expired, 1);
	assert_int_equal(store_tombstoned(s, "p-e"), 0);
	t_profile(&t[0], 6, "p-e", 11, "Erin Again", "3000009", NULL);
	t_page(&p, ch, t, 1, 5, 6);
	assert_int_equal(store_page_apply(s, &p, &st), 0);
	assert_int_equal(st.written, 1);
	assert_int_equal(fx_identify(s, "3000009", id, NULL, 0), 1);
	assert_string_equal(id, "p-e");
	store_close(s);
}

static void a_refused_page_changes_nothing(void **state)
{
	struct tchange t[2];
	struct delta_change ch[2];
	struct delta_page p;
	struct store_apply_stats st;
	char id[STORE_ID_MAX + 1];
	(void)state;
	struct store *s = fx_open();
	t_profile(&t[0], 1, "p-1", 1, "Ada Lovelace", "1000001", NULL);
	t_page(&p, ch, t, 1, 0, 1);
	assert_int_equal(store_page_apply(s, &p, &st), 0);

	/* a good change then a body that is not an object */
	t_profile(&t[0], 2, "p-2", 1, "Bob Builder", "1000002", NULL);
	t_profile(&t[1], 3, "p-3", 1, "Cy Broken", "1000003", NULL);
	snprintf(t[1].body, sizeof t[1].body, "[1,2]");
	t[1].c.body_len = 5;
	t_page(&p, ch, t, 2, 1, 3);
	assert_int_equal(store_page_apply(s, &p, &st), RG_ERR_PARSE);
	/* seq out of order */
	t_profile(&t[1], 2, "p-3", 1, "Cy Broken", "1000003", NULL);
	t_page(&p, ch, t, 2, 1, 3);
	assert_int_equal(store_page_apply(s, &p, &st), RG_ERR_PARSE);
	/* next before since */
	t_page(&p, ch, t, 1, 1, 0);
	assert_int_equal(store_page_apply(s, &p, &st), RG_ERR_PARSE);
	/* since is not the cursor */
	t_page(&p, ch, t, 1, 0, 2);
	assert_int_equal(store_page_apply(s, &p, &st), RG_ERR_STATE);
	/* a merge that closes a cycle fails in the middle: rolled back whole */
	assert_int_equal(fx_put(s, "p-c", 1, "Carl C", NULL), 1);
	assert_int_equal(store_merge_record(s, "p-c", "p-1"), 1);
	t_profile(&t[0], 2, "p-2", 1, "Bob Builder", "1000002", NULL);
	t_op(&t[1], 3, DELTA_MERGE, "p-1", "p-c");
	t_page(&p, ch, t, 2, 1, 3);
	assert_int_equal(store_page_apply(s, &p, &st), RG_ERR_STATE);
	/* snapshot_needed is not a page to apply */
	t_page(&p, ch, t, 0, 1, 1);
	p.snapshot_needed = true;
	assert_int_equal(store_page_apply(s, &p, &st), RG_ERR_INVAL);

	assert_int_equal(fx_identify(s, "1000002", id, NULL, 0), 0);
	assert_int_equal(fx_stats(s).profiles, 1);
	struct store_sync y = sync_of(s);
	assert_int_equal(y.cursor, 1);
	assert_int_equal(y.as_of_ms, T_ASOF + 1);
	store_close(s);
}

static void t_chunk(struct delta_chunk *c, struct delta_change *ch, struct tchange *t, size_t n,
		    int64_t snap, const char *after, bool done)
{
	memset(c, 0, sizeof *c);
	for (size_t i = 0; i < n; i++) {
		ch[i] = t[i].c;
		ch[i].body = t[i].body;
		ch[i].idents = t[i].idents;
		ch[i].seq = 0;
	}
	c->snapshot = snap;
	c->seq = 500;
	c->as_of_ms = T_ASOF + 500;
	snprintf(c->after, sizeof c->after, "%s", after);
	if (n)
		memcpy(c->next_after, t[n - 1].c.id, sizeof c->next_after);
	c->done = done;
	c->changes = n ? ch : NULL;
	c->n = n;
}

static void snapshot_resumes_by_chunk_and_sweeps_what_it_left_out(void **state)
{
	struct tchange t[2];
	struct delta_change ch[2];
	struct delta_chunk c;
	struct delta_page p;
	struct store_apply_stats st;
	char id[STORE_ID_MAX + 1], body[STORE_BODY_MAX + 1];
	(void)state;
	struct store *s = fx_open();
	/* cached before: p-old (not in the snapshot) and p-2 (older version) */
	assert_int_equal(fx_put(s, "p-old", 1, "Olga Gone", "4000009"), 1);
	assert_int_equal(fx_put(s, "p-2", 1, "Bea Before", "4000002"), 1);

	t_profile(&t[0], 0, "p-1", 2, "Abe After", "4000001", NULL);
	t_profile(&t[1], 0, "p-2", 2, "Bea After", "4000002", NULL);
	t_chunk(&c, ch, t, 2, 77, "", false);
	assert_int_equal(store_chunk_apply(s, &c, &st), 0);
	assert_int_equal(st.written, 2);
	struct store_sync y = sync_of(s);
	assert_int_equal(y.snapshot, 77);
	assert_string_equal(y.snapshot_after, "p-2");
	assert_int_equal(y.cursor, 0);
	/* pages wait while a snapshot is being fetched */
	t_page(&p, NULL, NULL, 0, 0, 0);
	assert_int_equal(store_page_apply(s, &p, &st), RG_ERR_STATE);
	store_close(s);

	/* a restart: progress kept; a chunk that does not continue is refused */
	s = fx_open();
	t_profile(&t[0], 0, "p-3", 1, "Cleo Chunk", "4000003", NULL);
	t_chunk(&c, ch, t, 1, 77, "p-1", true);
	assert_int_equal(store_chunk_apply(s, &c, &st), RG_ERR_STATE);
	t_chunk(&c, ch, t, 1, 78, "p-2", true);
	assert_int_equal(store_chunk_apply(s, &c, &st), RG_ERR_STATE);
	assert_int_equal(fx_identify(s, "4000009", id, NULL, 0), 1); /* not swept yet */
	t_chunk(&c, ch, t, 1, 77, "p-2", true);
	assert_int_equal(store_chunk_apply(s, &c, &st), 0);
	assert_int_equal(st.swept, 1);
	y = sync_of(s);
	assert_int_equal(y.snapshot, 0);
	assert_int_equal(y.cursor, 500);
	assert_int_equal(y.as_of_ms, T_ASOF + 500);
	assert_int_equal(fx_identify(s, "4000009", id, NULL, 0), 0);
	assert_int_equal(fx_identify(s, "4000002", id, body, sizeof body), 1);
	assert_non_null(strstr(body, "Bea After"));
	assert_int_equal(fx_identify(s, "4000003", id, NULL, 0), 1);
	assert_int_equal(fx_stats(s).profiles, 3);
	/* and changes follow from the snapshot's seq */
	t_profile(&t[0], 501, "p-4", 1, "Dan Delta", "4000004", NULL);
	t_page(&p, ch, t, 1, 500, 501);
	assert_int_equal(store_page_apply(s, &p, &st), 0);
	assert_int_equal(fx_identify(s, "4000004", id, NULL, 0), 1);
	store_close(s);
}

static void a_new_snapshot_restarts_and_tombstones_still_hold(void **state)
{
	struct tchange t[2];
	struct delta_change ch[2];
	struct delta_chunk c;
	struct store_apply_stats st;
	char id[STORE_ID_MAX + 1];
	(void)state;
	struct store *s = fx_open();
	assert_int_equal(store_erase(s, "p-2", 40), 0);
	t_profile(&t[0], 0, "p-1", 1, "Abe", "5000001", NULL);
	t_chunk(&c, ch, t, 1, 5, "", false);
	assert_int_equal(store_chunk_apply(s, &c, &st), 0);
	/* the gateway lost snapshot 5: a new one starts from the beginning */
	t_profile(&t[0], 0, "p-0", 1, "Zed", "5000000", NULL);
	t_profile(&t[1], 0, "p-2", 1, "Bea Erased", "5000002", NULL);
	t_chunk(&c, ch, t, 2, 6, "", true);
	assert_int_equal(store_chunk_apply(s, &c, &st), 0);
	assert_int_equal(st.tombstoned, 1);
	assert_int_equal(st.swept, 1); /* p-1 was only in the lost snapshot */
	assert_int_equal(fx_identify(s, "5000001", id, NULL, 0), 0);
	assert_int_equal(fx_identify(s, "5000002", id, NULL, 0), 0);
	assert_int_equal(fx_identify(s, "5000000", id, NULL, 0), 1);
	assert_int_equal(sync_of(s).cursor, 500);
	store_close(s);
}

static void outbox_rows_per_profile_and_by_id(void **state)
{
	struct store_outbox_ref r1, r2;
	(void)state;
	struct store *s = fx_open();
	assert_int_equal(fx_put(s, "p-1", 1, "Ada Lovelace", "1000001"), 1);
	assert_int_equal(fx_append(s, RG_KIND_NOTE, "p-1", NULL, "{\"text\":\"a\"}", &r1), 0);
	assert_int_equal(fx_append(s, RG_KIND_NOTE, "p-1", NULL, "{\"text\":\"b\"}", &r2), 0);
	assert_int_equal(fx_append(s, RG_KIND_NOTE, "p-2", NULL, "{\"text\":\"c\"}", NULL), 0);
	assert_int_equal(store_outbox_count_profile(s, "p-1"), 2);
	assert_int_equal(store_outbox_has(s, &r1.id), 1);
	assert_int_equal(store_outbox_ack(s, &r1.id, 1), 1);
	assert_int_equal(store_outbox_has(s, &r1.id), 0);
	assert_int_equal(store_outbox_has(s, &r2.id), 1);
	assert_int_equal(store_outbox_count_profile(s, "p-1"), 1);
	assert_int_equal(store_outbox_count_profile(s, "p-9"), 0);
	store_close(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(
		profile_page_makes_cards_identifiable_and_moves_the_cursor, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(
		the_identifier_set_is_complete_and_old_states_are_ignored, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(applying_a_page_twice_changes_nothing, fx_setup,
					    fx_teardown),
	    cmocka_unit_test_setup_teardown(merge_redirects_and_unmerge_undoes_it, fx_setup,
					    fx_teardown),
	    cmocka_unit_test_setup_teardown(erase_removes_and_its_tombstone_refuses_the_id,
					    fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(a_refused_page_changes_nothing, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(snapshot_resumes_by_chunk_and_sweeps_what_it_left_out,
					    fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(a_new_snapshot_restarts_and_tombstones_still_hold,
					    fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(outbox_rows_per_profile_and_by_id, fx_setup,
					    fx_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
