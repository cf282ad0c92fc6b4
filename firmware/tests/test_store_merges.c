/*
 * test_store_merges.c - identity merges: identifiers and ids of a merged
 * profile lead to the profile it was merged into, through chains; a merge
 * that would close a cycle is refused; chains in the table are followed only
 * a bounded number of hops; a merged-away id is never cached again.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "common/err.h"
#include "store_fixture.h"

static void merge_redirects_identifiers_and_ids(void **state)
{
	char id[STORE_ID_MAX + 1], body[STORE_BODY_MAX + 1];
	struct store_hit hit;
	struct store *s;
	(void)state;
	s = fx_open();
	assert_int_equal(fx_put(s, "p-x", 1, "Xavier Old", "8000001"), 1);
	assert_int_equal(fx_put(s, "p-y", 1, "Yolanda New", "8000002"), 1);
	assert_int_equal(store_merge_record(s, "p-x", "p-y"), 1);
	assert_int_equal(store_merge_record(s, "p-x", "p-y"), 0); /* already known */

	assert_int_equal(fx_identify(s, "8000001", id, body, sizeof body), 1);
	assert_string_equal(id, "p-y");
	assert_non_null(strstr(body, "Yolanda New"));
	assert_int_equal(store_profile_get(s, "p-x", body, sizeof body, &hit), 1);
	assert_string_equal(hit.profile_id, "p-y");
	assert_int_equal(hit.redirects, 1);

	/* the merged-away profile is gone and is not cached again by a late delta */
	struct store_stats st = fx_stats(s);
	assert_int_equal(st.profiles, 1);
	assert_int_equal(st.identifiers, 2);
	assert_int_equal(st.merges, 1);
	assert_int_equal(fx_put(s, "p-x", 2, "Xavier Late", NULL), 0);
	assert_int_equal(fx_stats(s).profiles, 1);

	/* a card linked later under the old id lands on the new one */
	uint8_t tok[RG_TOKEN_LEN];
	fx_token("loyalty", "8000003", tok);
	assert_int_equal(store_identifier_upsert(s, tok, "loyalty", "p-x"), 0);
	assert_int_equal(fx_identify(s, "8000003", id, NULL, 0), 1);
	assert_string_equal(id, "p-y");
	store_close(s);
}

static void chains_resolve_to_the_final_id_and_cycles_are_refused(void **state)
{
	char id[STORE_ID_MAX + 1], body[STORE_BODY_MAX + 1];
	struct store_hit hit;
	struct store *s;
	(void)state;
	s = fx_open();
	assert_int_equal(fx_put(s, "p-a", 1, "Anna A", "8100001"), 1);
	assert_int_equal(fx_put(s, "p-b", 1, "Anna B", "8100002"), 1);
	assert_int_equal(fx_put(s, "p-c", 1, "Anna C", "8100003"), 1);
	assert_int_equal(store_merge_record(s, "p-a", "p-b"), 1);
	assert_int_equal(store_merge_record(s, "p-b", "p-c"), 1);
	for (int i = 1; i <= 3; i++) {
		char card[16];
		snprintf(card, sizeof card, "810000%d", i);
		assert_int_equal(fx_identify(s, card, id, body, sizeof body), 1);
		assert_string_equal(id, "p-c");
		assert_non_null(strstr(body, "Anna C"));
	}
	assert_int_equal(store_profile_get(s, "p-a", body, sizeof body, &hit), 1);
	assert_string_equal(hit.profile_id, "p-c");
	assert_int_equal(store_merge_resolve(s, "p-a", id), 1); /* compressed: one hop */
	assert_string_equal(id, "p-c");
	assert_int_equal(store_merge_resolve(s, "p-c", id), 0);
	assert_string_equal(id, "p-c");

	/* merging the end of the chain back into its start would close a cycle */
	assert_int_equal(store_merge_record(s, "p-c", "p-a"), RG_ERR_STATE);
	assert_int_equal(store_merge_record(s, "p-c", "p-b"), RG_ERR_STATE);
	assert_int_equal(store_merge_record(s, "p-c", "p-c"), RG_ERR_INVAL);
	assert_int_equal(store_merge_record(s, "p-c", "bad id"), RG_ERR_INVAL);
	assert_int_equal(fx_stats(s).merges, 2);
	assert_int_equal(fx_stats(s).profiles, 1);
	assert_int_equal(fx_identify(s, "8100003", id, NULL, 0), 1);
	assert_string_equal(id, "p-c");

	/* recorded in the other order, the chain compresses the same way */
	assert_int_equal(store_merge_record(s, "p-e", "p-f"), 1);
	assert_int_equal(store_merge_record(s, "p-d", "p-e"), 1);
	assert_int_equal(store_merge_resolve(s, "p-d", id), 1);
	assert_string_equal(id, "p-f");
	store_close(s);
}

static void merge_into_an_uncached_profile_names_it(void **state)
{
	char id[STORE_ID_MAX + 1];
	struct store *s;
	(void)state;
	s = fx_open();
	assert_int_equal(fx_put(s, "p-x", 1, "Xavier Old", "8200001"), 1);
	assert_int_equal(store_merge_record(s, "p-x", "p-z"), 1);
	/* the token is known and belongs to p-z, whose body is not here: ask upstream */
	assert_int_equal(fx_identify(s, "8200001", id, NULL, 0), 0);
	assert_string_equal(id, "p-z");
	assert_int_equal(fx_put(s, "p-z", 1, "Zelda Merged", NULL), 1);
	assert_int_equal(fx_identify(s, "8200001", id, NULL, 0), 1);
	assert_string_equal(id, "p-z");
	store_close(s);
}

static void stored_chains_are_followed_bounded_and_cycle_safe(void **state)
{
	char id[STORE_ID_MAX + 1], body[STORE_BODY_MAX + 1], sql[256];
	struct store_hit hit;
	struct store *s;
	sqlite3 *db;
	(void)state;
	s = fx_open();
	assert_int_equal(fx_put(s, "p-end", 1, "Erin End", NULL), 1);
	store_close(s);

	/* Uncompressed rows, as an older writer might have left them. */
	db = fx_raw();
	for (int i = 0; i < 5; i++) {
		snprintf(sql, sizeof sql,
			 "INSERT INTO merges(old_id, new_id, merged_ms) VALUES ('p-h%d', '%s', 0)",
			 i,
			 i == 4 ? "p-end"
				: (i == 0   ? "p-h1"
				   : i == 1 ? "p-h2"
				   : i == 2 ? "p-h3"
					    : "p-h4"));
		assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	}
	/* and a cycle that the store itself would have refused */
	assert_int_equal(sqlite3_exec(db,
				      "INSERT INTO merges VALUES ('p-c1', 'p-c2', 0);"
				      "INSERT INTO merges VALUES ('p-c2', 'p-c1', 0);",
				      NULL, NULL, NULL),
			 SQLITE_OK);
	/* a long chain past the bound */
	for (int i = 0; i <= STORE_MERGE_DEPTH_MAX + 1; i++) {
		snprintf(sql, sizeof sql, "INSERT INTO merges VALUES ('p-l%d', 'p-l%d', 0)", i,
			 i + 1);
		assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	}
	sqlite3_close(db);

	s = fx_open();
	assert_int_equal(store_merge_resolve(s, "p-h0", id), 5);
	assert_string_equal(id, "p-end");
	assert_int_equal(store_profile_get(s, "p-h0", body, sizeof body, &hit), 1);
	assert_int_equal(hit.redirects, 5);
	assert_string_equal(hit.profile_id, "p-end");

	assert_int_equal(store_merge_resolve(s, "p-c1", id), RG_ERR_RANGE);
	assert_string_equal(id, "");
	assert_int_equal(store_profile_get(s, "p-c1", body, sizeof body, &hit), RG_ERR_RANGE);
	assert_int_equal(store_merge_resolve(s, "p-l0", id), RG_ERR_RANGE);
	assert_int_equal(store_merge_resolve(s, "p-l2", id), STORE_MERGE_DEPTH_MAX);
	/* a new merge onto a broken chain is refused too, and changes nothing */
	assert_int_equal(store_merge_record(s, "p-new", "p-c1"), RG_ERR_RANGE);
	assert_int_equal(store_merge_resolve(s, "p-new", id), 0);
	store_close(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(merge_redirects_identifiers_and_ids, fx_setup,
					    fx_teardown),
	    cmocka_unit_test_setup_teardown(chains_resolve_to_the_final_id_and_cycles_are_refused,
					    fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(merge_into_an_uncached_profile_names_it, fx_setup,
					    fx_teardown),
	    cmocka_unit_test_setup_teardown(stored_chains_are_followed_bounded_and_cycle_safe,
					    fx_setup, fx_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
