/*
 * test_store_open.c - opening the device store: the schema is created from an
 * empty file by the migrations in WAL mode, reopening keeps data and version, a
 * wrong key, a newer schema and bad configuration are refused without harm.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/err.h"
#include "store_fixture.h"

static int has_table(sqlite3 *db, const char *name)
{
	char sql[160];
	snprintf(sql, sizeof sql, "SELECT count(*) FROM sqlite_master WHERE name = '%s'", name);
	return (int)fx_int(db, sql);
}

static void migrations_from_empty_create_the_schema_in_wal(void **state)
{
	struct store *s;
	sqlite3 *db;
	(void)state;
	s = fx_open();
	assert_int_equal(store_schema_version(s), 3);
	struct store_stats st = fx_stats(s);
	assert_int_equal(st.schema_version, 3);
	assert_int_equal(st.profiles, 0);
	assert_int_equal(st.outbox, 0);
	assert_int_equal(st.outbox_oldest_age_ms, -1);
	assert_int_equal(st.max_profiles, 1000000);
	store_close(s);

	db = fx_raw();
	assert_int_equal(fx_int(db, "PRAGMA user_version"), 3);
	const char *tables[] = {"meta",
				"counters",
				"profiles",
				"profile_seen",
				"identifiers",
				"merges",
				"outbox",
				"profile_seen_by_time",
				"identifiers_by_profile",
				"outbox_by_profile",
				"ident_replay",
				"ident_replay_by_forget",
				"ident_totp",
				"tombstones",
				"sync_state",
				"snapshot_ids"};
	for (size_t i = 0; i < sizeof tables / sizeof tables[0]; i++)
		assert_int_equal(has_table(db, tables[i]), 1);
	sqlite3_stmt *q;
	assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &q, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(q), SQLITE_ROW);
	assert_string_equal((const char *)sqlite3_column_text(q, 0), "wal");
	sqlite3_finalize(q);
	sqlite3_close(db);
}

static void reopen_keeps_data_and_does_not_migrate_again(void **state)
{
	struct store *s;
	char id[STORE_ID_MAX + 1];
	(void)state;
	s = fx_open();
	assert_int_equal(fx_put(s, "p-1", 1, "Ada Lovelace", "1000001"), 1);
	store_close(s);
	s = fx_open();
	assert_int_equal(store_schema_version(s), 3);
	assert_int_equal(fx_identify(s, "1000001", id, NULL, 0), 1);
	assert_string_equal(id, "p-1");
	store_close(s);
}

static void wrong_key_is_refused_at_open(void **state)
{
	struct store *s;
	(void)state;
	s = fx_open();
	assert_int_equal(fx_put(s, "p-1", 1, "Ada Lovelace", "1000001"), 1);
	store_close(s);
	fx.key[0] ^= 1;
	s = (struct store *)&s;
	assert_int_equal(store_open(&fx.cfg, &s), RG_ERR_VERIFY);
	assert_null(s);
	fx.key[0] ^= 1;
	s = fx_open();
	assert_int_equal(fx_stats(s).profiles, 1);
	store_close(s);
}

static void newer_schema_is_refused_untouched(void **state)
{
	struct store *s;
	sqlite3 *db;
	(void)state;
	s = fx_open();
	store_close(s);
	db = fx_raw();
	assert_int_equal(sqlite3_exec(db, "PRAGMA user_version = 99", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(store_open(&fx.cfg, &s), RG_ERR_MIGRATE);
	assert_null(s);
	db = fx_raw();
	assert_int_equal(fx_int(db, "PRAGMA user_version"), 99);
	sqlite3_close(db);
}

static void bad_config_is_refused(void **state)
{
	struct store *s;
	struct store_config good = fx.cfg;
	(void)state;
	struct {
		const char *what;
		int want;
		struct store_config c;
	} cases[6];
	for (size_t i = 0; i < 6; i++)
		cases[i].c = good;
	cases[0].what = "no key", cases[0].want = RG_ERR_INVAL, cases[0].c.key = NULL;
	cases[1].what = "device id with a slash", cases[1].want = RG_ERR_INVAL;
	cases[1].c.device_id = "dev/1";
	cases[2].what = "upper-case store id", cases[2].want = RG_ERR_INVAL,
	cases[2].c.store_id = "S1";
	cases[3].what = "max_bytes below 4096", cases[3].want = RG_ERR_RANGE,
	cases[3].c.max_bytes = 100;
	cases[4].what = "negative max_profiles", cases[4].want = RG_ERR_RANGE;
	cases[4].c.max_profiles = -1;
	cases[5].what = "no path", cases[5].want = RG_ERR_INVAL, cases[5].c.path = NULL;
	for (size_t i = 0; i < 6; i++) {
		s = (struct store *)&s;
		print_message("case: %s\n", cases[i].what);
		assert_int_equal(store_open(&cases[i].c, &s), cases[i].want);
		assert_null(s);
	}
	/* nothing was created */
	assert_int_equal(access(fx.path, F_OK), -1);
	assert_int_equal(store_open(NULL, &s), RG_ERR_INVAL);
	assert_int_equal(store_open(&good, NULL), RG_ERR_INVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(migrations_from_empty_create_the_schema_in_wal, fx_setup,
					    fx_teardown),
	    cmocka_unit_test_setup_teardown(reopen_keeps_data_and_does_not_migrate_again, fx_setup,
					    fx_teardown),
	    cmocka_unit_test_setup_teardown(wrong_key_is_refused_at_open, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(newer_schema_is_refused_untouched, fx_setup,
					    fx_teardown),
	    cmocka_unit_test_setup_teardown(bad_config_is_refused, fx_setup, fx_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
