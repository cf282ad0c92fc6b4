/*
 * test_store_profiles.c - the profile cache: upsert and lookup by token and by
 * id round-trip the body; older versions are ignored; a bulk load is all or
 * nothing; sealed bodies do not open under another key or in another row;
 * identifiers re-point, go away and never point at an uncached profile; bad
 * inputs are refused and change nothing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/err.h"
#include "store_fixture.h"

static void upsert_then_identify_and_get_return_the_body(void **state)
{
	char want[1024], buf[STORE_BODY_MAX + 1];
	uint8_t tok[RG_TOKEN_LEN], nfc[RG_TOKEN_LEN];
	struct store_ident ids[2] = {{tok, "loyalty"}, {nfc, "nfc_uid"}};
	struct store_hit hit;
	struct store *s;
	(void)state;
	s = fx_open();
	fx_token("loyalty", "2000001", tok);
	fx_token("nfc_uid", "04a1b2c3d4e5f6", nfc);
	struct store_profile p = {.id = "0191f6a2-7d3c-7e4a-9b1c-2d3e4f5a6b7c",
				  .version = 3,
				  .hlc = ((uint64_t)FX_T0 << 16) | 2,
				  .body = want,
				  .idents = ids,
				  .n_idents = 2};
	p.body_len = (size_t)fx_body(want, sizeof want, "Grace Hopper", 120);
	assert_int_equal(store_profile_upsert(s, &p), 1);

	assert_int_equal(store_identify(s, nfc, buf, sizeof buf, &hit), 1);
	assert_string_equal(hit.profile_id, p.id);
	assert_string_equal(hit.type, "nfc_uid");
	assert_int_equal(hit.version, 3);
	assert_int_equal(hit.hlc, p.hlc);
	assert_int_equal(hit.redirects, 0);
	assert_int_equal(hit.body_len, p.body_len);
	assert_string_equal(buf, want);

	assert_int_equal(store_identify(s, tok, buf, sizeof buf, &hit), 1);
	assert_string_equal(hit.type, "loyalty");
	assert_string_equal(buf, want);

	assert_int_equal(store_profile_get(s, p.id, buf, sizeof buf, &hit), 1);
	assert_string_equal(buf, want);
	assert_string_equal(hit.type, "");

	/* unknown token, unknown id: a miss, not an error */
	fx_token("loyalty", "2000002", tok);
	assert_int_equal(store_identify(s, tok, buf, sizeof buf, &hit), 0);
	assert_string_equal(hit.profile_id, "");
	assert_string_equal(buf, "");
	assert_int_equal(store_profile_get(s, "p-none", buf, sizeof buf, &hit), 0);

	/* a short buffer is refused, not truncated */
	assert_int_equal(store_profile_get(s, p.id, buf, p.body_len, &hit), RG_ERR_TOOBIG);
	assert_string_equal(hit.profile_id, "");

	struct store_stats st = fx_stats(s);
	assert_int_equal(st.profiles, 1);
	assert_int_equal(st.identifiers, 2);
	assert_int_equal(st.profile_bytes, (int64_t)p.body_len + RG_AEAD_OVERHEAD);
	store_close(s);
}

static void older_or_equal_versions_are_ignored_newer_replace(void **state)
{
	char body[STORE_BODY_MAX + 1];
	struct store *s;
	(void)state;
	s = fx_open();
	assert_int_equal(fx_put(s, "p-1", 5, "Ada Lovelace", "3000001"), 1);
	assert_int_equal(fx_put(s, "p-1", 4, "Ada Older", NULL), 0);
	assert_int_equal(fx_put(s, "p-1", 5, "Ada Same", NULL), 0);
	assert_int_equal(fx_identify(s, "3000001", NULL, body, sizeof body), 1);
	assert_non_null(strstr(body, "Ada Lovelace"));
	assert_int_equal(fx_put(s, "p-1", 6, "Ada King", NULL), 1);
	assert_int_equal(fx_identify(s, "3000001", NULL, body, sizeof body), 1);
	assert_non_null(strstr(body, "Ada King"));
	assert_int_equal(fx_stats(s).profiles, 1);
	store_close(s);
}

static void received_profile_hlc_orders_later_local_stamps(void **state)
{
	char body[1024];
	struct store_outbox_ref ref;
	struct store *s;
	(void)state;
	s = fx_open();
	/* A profile changed 2 s "in the future" elsewhere (clock skew within bounds). */
	struct rg_hlc remote = {FX_T0 + 2000, 7};
	struct store_profile p = {
	    .id = "p-1", .version = 1, .hlc = rg_hlc_pack(&remote), .body = body};
	p.body_len = (size_t)fx_body(body, sizeof body, "Ada Lovelace", 1);
	assert_int_equal(store_profile_upsert(s, &p), 1);
	assert_int_equal(
	    fx_append(s, RG_KIND_PREFERENCE_CHANGED, "p-1", NULL, "{\"language\":\"en\"}", &ref),
	    0);
	assert_true(rg_hlc_cmp(&ref.hlc, &remote) > 0);
	store_close(s);
}

static void bulk_load_is_one_transaction_all_or_nothing(void **state)
{
	enum { N = 200 };
	static char bodies[N][512];
	static char ids[N][16], cards[N][16];
	static uint8_t toks[N][RG_TOKEN_LEN];
	static struct store_ident idents[N];
	static struct store_profile p[N];
	char id[STORE_ID_MAX + 1];
	struct store *s;
	(void)state;
	for (int i = 0; i < N; i++) {
		char name[32];
		snprintf(ids[i], sizeof ids[i], "p-%04d", i);
		snprintf(cards[i], sizeof cards[i], "%07d", 4000000 + i);
		snprintf(name, sizeof name, "Person Number%d", i);
		fx_token("loyalty", cards[i], toks[i]);
		idents[i] = (struct store_ident){toks[i], "loyalty"};
		p[i] = (struct store_profile){.id = ids[i],
					      .version = 1,
					      .body = bodies[i],
					      .idents = &idents[i],
					      .n_idents = 1};
		p[i].body_len = (size_t)fx_body(bodies[i], sizeof bodies[i], name, i);
	}
	s = fx_open();
	/* One bad body at the end refuses the whole batch. */
	memcpy(bodies[N - 1], "{\"name\":", 8);
	p[N - 1].body_len = 8;
	assert_int_equal(store_profiles_load(s, p, N), RG_ERR_PARSE);
	assert_int_equal(fx_stats(s).profiles, 0);
	assert_int_equal(fx_stats(s).identifiers, 0);
	p[N - 1].body_len = (size_t)fx_body(bodies[N - 1], sizeof bodies[N - 1], "Last One", 1);
	assert_int_equal(store_profiles_load(s, p, N), N);
	assert_int_equal(store_profiles_load(s, p, N), 0); /* same versions: nothing written */
	assert_int_equal(fx_stats(s).profiles, N);
	assert_int_equal(fx_stats(s).identifiers, N);
	assert_int_equal(fx_identify(s, cards[123], id, NULL, 0), 1);
	assert_string_equal(id, "p-0123");
	assert_int_equal(store_profiles_load(s, p, 0), RG_ERR_INVAL);
	assert_int_equal(store_profiles_load(s, p, STORE_LOAD_MAX + 1), RG_ERR_RANGE);
	store_close(s);
}

static void copy_blob(const char *from_db, const char *from_id, const char *to_db,
		      const char *to_id)
{
	sqlite3 *a, *b;
	sqlite3_stmt *r, *w;
	assert_int_equal(sqlite3_open(from_db, &a), SQLITE_OK);
	assert_int_equal(sqlite3_open(to_db, &b), SQLITE_OK);
	assert_int_equal(
	    sqlite3_prepare_v2(a, "SELECT body FROM profiles WHERE id = ?", -1, &r, NULL), 0);
	sqlite3_bind_text(r, 1, from_id, -1, SQLITE_STATIC);
	assert_int_equal(sqlite3_step(r), SQLITE_ROW);
	assert_int_equal(
	    sqlite3_prepare_v2(b, "UPDATE profiles SET body = ? WHERE id = ?", -1, &w, NULL), 0);
	sqlite3_bind_blob(w, 1, sqlite3_column_blob(r, 0), sqlite3_column_bytes(r, 0),
			  SQLITE_TRANSIENT);
	sqlite3_bind_text(w, 2, to_id, -1, SQLITE_STATIC);
	assert_int_equal(sqlite3_step(w), SQLITE_DONE);
	assert_int_equal(sqlite3_changes(b), 1);
	sqlite3_finalize(r);
	sqlite3_finalize(w);
	sqlite3_close(a);
	sqlite3_close(b);
}

static void sealed_body_fails_under_another_key_or_in_another_row(void **state)
{
	char buf[STORE_BODY_MAX + 1], other[200];
	struct store_hit hit;
	struct store *s;
	(void)state;

	/* A second database under another key, with a row of the same id. */
	snprintf(other, sizeof other, "%s.b", fx.path);
	struct store_config c2 = fx.cfg;
	uint8_t key2[STORE_KEY_LEN];
	memset(key2, 0x5c, sizeof key2);
	c2.path = other;
	c2.key = key2;
	assert_int_equal(store_open(&c2, &s), 0);
	assert_int_equal(fx_put(s, "p-1", 1, "Mallory Other", NULL), 1);
	store_close(s);

	s = fx_open();
	assert_int_equal(fx_put(s, "p-1", 1, "Alice Able", "5000001"), 1);
	assert_int_equal(fx_put(s, "p-2", 1, "Bob Baker", "5000002"), 1);
	store_close(s);

	/* p-2's sealed body moved into p-1's row: the AAD (the id) differs. */
	copy_blob(fx.path, "p-2", fx.path, "p-1");
	s = fx_open();
	assert_int_equal(fx_identify(s, "5000001", NULL, NULL, 0), RG_ERR_VERIFY);
	assert_int_equal(store_profile_get(s, "p-1", buf, sizeof buf, &hit), RG_ERR_VERIFY);
	assert_string_equal(hit.profile_id, "");
	assert_int_equal(fx_identify(s, "5000002", NULL, NULL, 0), 1);
	store_close(s);

	/* A body sealed under another key for the same id does not open either. */
	copy_blob(other, "p-1", fx.path, "p-1");
	s = fx_open();
	assert_int_equal(store_profile_get(s, "p-1", buf, sizeof buf, &hit), RG_ERR_VERIFY);
	/* A changed byte in a sealed body is refused. (Always changed: writing
	 * 0xff over a byte that already was 0xff failed this 1 time in 256.) */
	store_close(s);
	sqlite3 *db = fx_raw();
	assert_int_equal(
	    sqlite3_exec(db,
			 "UPDATE profiles SET body = substr(body, 1, 20) ||"
			 " CASE WHEN substr(body, 21, 1) = x'ff' THEN x'00' ELSE x'ff' END ||"
			 " substr(body, 22) WHERE id = 'p-2'",
			 NULL, NULL, NULL),
	    SQLITE_OK);
	sqlite3_close(db);
	s = fx_open();
	assert_int_equal(fx_identify(s, "5000002", NULL, NULL, 0), RG_ERR_VERIFY);
	store_close(s);
}

static void identifiers_repoint_remove_and_need_a_cached_profile(void **state)
{
	uint8_t tok[RG_TOKEN_LEN];
	char id[STORE_ID_MAX + 1];
	struct store *s;
	(void)state;
	s = fx_open();
	assert_int_equal(fx_put(s, "p-1", 1, "Alice Able", "6000001"), 1);
	assert_int_equal(fx_put(s, "p-2", 1, "Bob Baker", NULL), 1);
	fx_token("loyalty", "6000001", tok);
	assert_int_equal(store_identifier_upsert(s, tok, "loyalty", "p-2"), 0);
	assert_int_equal(fx_identify(s, "6000001", id, NULL, 0), 1);
	assert_string_equal(id, "p-2");
	assert_int_equal(fx_stats(s).identifiers, 1);

	fx_token("loyalty", "6000009", tok);
	assert_int_equal(store_identifier_upsert(s, tok, "loyalty", "p-nobody"), RG_ERR_NOTFOUND);
	assert_int_equal(store_identifier_upsert(s, tok, "Loyalty", "p-1"), RG_ERR_INVAL);
	assert_int_equal(store_identifier_upsert(s, tok, "loyalty", "bad id"), RG_ERR_INVAL);
	assert_int_equal(fx_stats(s).identifiers, 1);

	fx_token("loyalty", "6000001", tok);
	assert_int_equal(store_identifier_remove(s, tok), 1);
	assert_int_equal(store_identifier_remove(s, tok), 0);
	assert_int_equal(fx_identify(s, "6000001", NULL, NULL, 0), 0);

	/* removing a profile takes its identifiers along */
	assert_int_equal(fx_put(s, "p-3", 1, "Carol Clark", "6000003"), 1);
	assert_int_equal(store_profile_remove(s, "p-3"), 1);
	assert_int_equal(store_profile_remove(s, "p-3"), 0);
	assert_int_equal(fx_identify(s, "6000003", NULL, NULL, 0), 0);
	assert_int_equal(fx_stats(s).identifiers, 0);
	assert_int_equal(fx_stats(s).profiles, 2);
	store_close(s);
}

static void bad_profile_inputs_are_refused_and_change_nothing(void **state)
{
	char *big = malloc(STORE_BODY_MAX + 2);
	char body[512], buf[STORE_BODY_MAX + 1];
	uint8_t tok[RG_TOKEN_LEN];
	struct store_ident bad_ident = {tok, "NFC UID"};
	struct store_hit hit;
	struct store *s;
	(void)state;
	assert_non_null(big);
	s = fx_open();
	assert_int_equal(fx_put(s, "p-1", 1, "Alice Able", "7000001"), 1);
	struct store_stats before = fx_stats(s);
	size_t len = (size_t)fx_body(body, sizeof body, "Eve Evil", 1);
	fx_token("loyalty", "7000002", tok);

	/* oversized body: a valid JSON object one byte over the cap */
	memset(big, ' ', STORE_BODY_MAX + 1);
	big[0] = '{';
	big[STORE_BODY_MAX] = '}';
	struct {
		const char *what;
		int want;
		struct store_profile p;
	} cases[] = {
	    {"oversized body",
	     RG_ERR_TOOBIG,
	     {.id = "p-9", .body = big, .body_len = STORE_BODY_MAX + 1}},
	    {"not JSON", RG_ERR_PARSE, {.id = "p-9", .body = "name=Eve", .body_len = 8}},
	    {"JSON but not an object", RG_ERR_TYPE, {.id = "p-9", .body = "[1,2]", .body_len = 5}},
	    {"NUL inside", RG_ERR_PARSE, {.id = "p-9", .body = "{}\0{}", .body_len = 5}},
	    {"empty id", RG_ERR_INVAL, {.id = "", .body = body, .body_len = len}},
	    {"id with a space", RG_ERR_INVAL, {.id = "p 9", .body = body, .body_len = len}},
	    {"id with a quote", RG_ERR_INVAL, {.id = "p'9", .body = body, .body_len = len}},
	    {"id starting with -", RG_ERR_INVAL, {.id = "-p9", .body = body, .body_len = len}},
	    {"id of 65 chars",
	     RG_ERR_INVAL,
	     {.id = "p-123456789012345678901234567890123456789012345678901234567890123",
	      .body = body,
	      .body_len = len}},
	    {"negative version",
	     RG_ERR_INVAL,
	     {.id = "p-9", .version = -1, .body = body, .body_len = len}},
	    {"hlc beyond 2^63",
	     RG_ERR_INVAL,
	     {.id = "p-9", .hlc = (uint64_t)1 << 63, .body = body, .body_len = len}},
	    {"bad identifier type",
	     RG_ERR_INVAL,
	     {.id = "p-9", .body = body, .body_len = len, .idents = &bad_ident, .n_idents = 1}},
	    {"too many identifiers",
	     RG_ERR_INVAL,
	     {.id = "p-9",
	      .body = body,
	      .body_len = len,
	      .idents = &bad_ident,
	      .n_idents = STORE_IDENTS_MAX + 1}},
	    {"no body", RG_ERR_INVAL, {.id = "p-9", .body = NULL, .body_len = 0}},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		print_message("case: %s\n", cases[i].what);
		assert_int_equal(store_profile_upsert(s, &cases[i].p), cases[i].want);
		assert_int_equal(store_profiles_load(s, &cases[i].p, 1), cases[i].want);
	}
	assert_int_equal(store_profile_upsert(s, NULL), RG_ERR_INVAL);
	assert_int_equal(store_profile_get(s, "p 1", buf, sizeof buf, &hit), RG_ERR_INVAL);
	assert_int_equal(store_identify(s, NULL, buf, sizeof buf, &hit), RG_ERR_INVAL);
	assert_int_equal(store_identify(s, tok, NULL, 0, &hit), RG_ERR_INVAL);

	struct store_stats after = fx_stats(s);
	assert_int_equal(after.profiles, before.profiles);
	assert_int_equal(after.profile_bytes, before.profile_bytes);
	assert_int_equal(after.identifiers, before.identifiers);
	assert_int_equal(store_profile_get(s, "p-9", buf, sizeof buf, &hit), 0);

	/* a body larger than max_bytes can never fit */
	store_close(s);
	fx.cfg.max_bytes = 4096;
	s = fx_open();
	memset(big, ' ', 5000);
	big[0] = '{';
	big[4999] = '}';
	struct store_profile p = {.id = "p-9", .body = big, .body_len = 5000};
	assert_int_equal(store_profile_upsert(s, &p), RG_ERR_TOOBIG);
	store_close(s);
	free(big);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(upsert_then_identify_and_get_return_the_body, fx_setup,
					    fx_teardown),
	    cmocka_unit_test_setup_teardown(older_or_equal_versions_are_ignored_newer_replace,
					    fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(received_profile_hlc_orders_later_local_stamps,
					    fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(bulk_load_is_one_transaction_all_or_nothing, fx_setup,
					    fx_teardown),
	    cmocka_unit_test_setup_teardown(sealed_body_fails_under_another_key_or_in_another_row,
					    fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(identifiers_repoint_remove_and_need_a_cached_profile,
					    fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(bad_profile_inputs_are_refused_and_change_nothing,
					    fx_setup, fx_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
