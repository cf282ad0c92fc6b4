/*
 * test_db.c - the SQLite helpers on real database files: WAL and durability
 * pragmas, migrations that are all-or-nothing, refusal of a newer schema,
 * statement reuse and busy handling between two connections.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/db.h"
#include "common/err.h"
#include "common/log.h"

static char dir[64], path[128];

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof dir, "/tmp/rg-db-XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	snprintf(path, sizeof path, "%s/test.db", dir);
	rg_log_set_level(RG_LOG_OFF);
	return 0;
}

static int teardown(void **state)
{
	char p[160];
	(void)state;
	const char *suffix[] = {"", "-wal", "-shm"};
	for (int i = 0; i < 3; i++) {
		snprintf(p, sizeof p, "%s%s", path, suffix[i]);
		unlink(p);
	}
	rmdir(dir);
	return 0;
}

static const char *text1(struct rg_db *db, const char *sql)
{
	static char buf[64];
	sqlite3_stmt *st;
	buf[0] = '\0';
	assert_int_equal(rg_db_prepare(db, sql, &st), 0);
	if (sqlite3_step(st) == SQLITE_ROW)
		snprintf(buf, sizeof buf, "%s", (const char *)sqlite3_column_text(st, 0));
	return buf;
}

static int table_exists(struct rg_db *db, const char *name)
{
	sqlite3_stmt *st;
	assert_int_equal(rg_db_prepare(db, "SELECT count(*) FROM sqlite_master WHERE name = ?", &st), 0);
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	return sqlite3_column_int(st, 0);
}

static const struct rg_migration good[] = {
	{1, "create profiles", "CREATE TABLE profiles(id INTEGER PRIMARY KEY, body BLOB);", NULL},
	{2, "add seen", "ALTER TABLE profiles ADD COLUMN seen INTEGER NOT NULL DEFAULT 0;", NULL},
};

static void open_uses_wal_and_chosen_durability(void **state)
{
	struct rg_db *db;
	struct rg_db_opts fast = {.durability = RG_DB_FAST};
	(void)state;
	assert_int_equal(rg_db_open(path, NULL, &db), 0);
	assert_string_equal(text1(db, "PRAGMA journal_mode"), "wal");
	assert_string_equal(text1(db, "PRAGMA synchronous"), "2"); /* FULL */
	assert_string_equal(text1(db, "PRAGMA foreign_keys"), "1");
	rg_db_close(db);
	assert_int_equal(rg_db_open(path, &fast, &db), 0);
	assert_string_equal(text1(db, "PRAGMA synchronous"), "1"); /* NORMAL */
	rg_db_close(db);
	assert_int_equal(rg_db_open("/nonexistent-dir/x.db", NULL, &db), RG_ERR_IO);
	assert_null(db);
}

static void migrations_apply_once_in_order(void **state)
{
	struct rg_db *db;
	(void)state;
	assert_int_equal(rg_db_open(path, NULL, &db), 0);
	assert_int_equal(rg_db_user_version(db), 0);
	assert_int_equal(rg_db_migrate(db, good, 1, NULL), 1);
	assert_int_equal(rg_db_migrate(db, good, 2, NULL), 2);
	assert_int_equal(rg_db_migrate(db, good, 2, NULL), 2); /* idempotent */
	assert_int_equal(rg_db_exec(db, "INSERT INTO profiles(id, body, seen) VALUES (1, x'00', 5)"), 0);
	rg_db_close(db);
	assert_int_equal(rg_db_open(path, NULL, &db), 0);
	assert_int_equal(rg_db_user_version(db), 2);
	assert_string_equal(text1(db, "SELECT seen FROM profiles WHERE id = 1"), "5");
	rg_db_close(db);
}

static int failing_step(sqlite3 *db, void *ctx)
{
	(void)db;
	(*(int *)ctx)++;
	return RG_ERR_IO;
}

static void failed_migration_leaves_previous_version(void **state)
{
	struct rg_db *db;
	int calls = 0;
	(void)state;
	const struct rg_migration bad_sql[] = {
		good[0], good[1],
		/* Creates a table, then fails: the table must not survive. */
		{3, "half way", "CREATE TABLE outbox(id TEXT); INSERT INTO no_such_table VALUES (1);", NULL},
	};
	const struct rg_migration bad_fn[] = {
		good[0], good[1],
		{3, "code step", "CREATE TABLE outbox(id TEXT);", failing_step},
	};
	assert_int_equal(rg_db_open(path, NULL, &db), 0);
	assert_int_equal(rg_db_migrate(db, good, 2, NULL), 2);
	assert_int_equal(rg_db_migrate(db, bad_sql, 3, NULL), RG_ERR_MIGRATE);
	assert_non_null(strstr(rg_db_errmsg(db), "migration 3 (half way) failed"));
	assert_int_equal(rg_db_user_version(db), 2);
	assert_int_equal(table_exists(db, "outbox"), 0);
	assert_int_equal(rg_db_migrate(db, bad_fn, 3, &calls), RG_ERR_MIGRATE);
	assert_int_equal(calls, 1);
	assert_int_equal(rg_db_user_version(db), 2);
	assert_int_equal(table_exists(db, "outbox"), 0);
	rg_db_close(db);

	/* From scratch, a failure in the last step leaves version 0 and no tables. */
	teardown(NULL);
	setup(NULL);
	assert_int_equal(rg_db_open(path, NULL, &db), 0);
	assert_int_equal(rg_db_migrate(db, bad_sql, 3, NULL), RG_ERR_MIGRATE);
	assert_int_equal(rg_db_user_version(db), 0);
	assert_int_equal(table_exists(db, "profiles"), 0);
	rg_db_close(db);
}

static void newer_database_is_refused_untouched(void **state)
{
	struct rg_db *db;
	(void)state;
	assert_int_equal(rg_db_open(path, NULL, &db), 0);
	assert_int_equal(rg_db_migrate(db, good, 2, NULL), 2);
	assert_int_equal(rg_db_migrate(db, good, 1, NULL), RG_ERR_MIGRATE);
	assert_non_null(strstr(rg_db_errmsg(db), "newer than this program knows"));
	assert_int_equal(rg_db_user_version(db), 2);
	const struct rg_migration gap[] = {{1, "a", "SELECT 1", NULL}, {3, "c", "SELECT 1", NULL}};
	assert_int_equal(rg_db_migrate(db, gap, 2, NULL), RG_ERR_INVAL);
	rg_db_close(db);
}

static void statements_are_cached_and_reset(void **state)
{
	struct rg_db *db;
	sqlite3_stmt *a, *b;
	(void)state;
	assert_int_equal(rg_db_open(path, NULL, &db), 0);
	rg_db_migrate(db, good, 2, NULL);
	assert_int_equal(rg_db_prepare(db, "INSERT INTO profiles(id, body) VALUES (?, ?)", &a), 0);
	for (int i = 1; i <= 3; i++) {
		assert_int_equal(rg_db_prepare(db, "INSERT INTO profiles(id, body) VALUES (?, ?)", &b), 0);
		assert_ptr_equal(a, b);
		sqlite3_bind_int(b, 1, i);
		sqlite3_bind_blob(b, 2, "x", 1, SQLITE_STATIC);
		assert_int_equal(sqlite3_step(b), SQLITE_DONE);
	}
	assert_string_equal(text1(db, "SELECT count(*) FROM profiles"), "3");
	assert_int_equal(rg_db_prepare(db, "SELECT nonsense FROM", &a), RG_ERR_DB);
	assert_null(a);
	assert_non_null(strstr(rg_db_errmsg(db), "prepare"));
	rg_db_close(db);
}

static void busy_writer_times_out_cleanly(void **state)
{
	struct rg_db *a, *b;
	struct rg_db_opts quick = {.busy_timeout_ms = 50};
	(void)state;
	assert_int_equal(rg_db_open(path, NULL, &a), 0);
	rg_db_migrate(a, good, 2, NULL);
	assert_int_equal(rg_db_open(path, &quick, &b), 0);
	assert_int_equal(rg_db_begin(a), 0);
	assert_int_equal(rg_db_begin(b), RG_ERR_BUSY);
	rg_db_rollback(b); /* nothing open: harmless */
	/* Readers are not blocked by the writer in WAL mode. */
	assert_string_equal(text1(b, "SELECT count(*) FROM profiles"), "0");
	assert_int_equal(rg_db_commit(a), 0);
	assert_int_equal(rg_db_begin(b), 0);
	assert_int_equal(rg_db_commit(b), 0);
	rg_db_close(a);
	rg_db_close(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(open_uses_wal_and_chosen_durability, setup, teardown),
		cmocka_unit_test_setup_teardown(migrations_apply_once_in_order, setup, teardown),
		cmocka_unit_test_setup_teardown(failed_migration_leaves_previous_version, setup, teardown),
		cmocka_unit_test_setup_teardown(newer_database_is_refused_untouched, setup, teardown),
		cmocka_unit_test_setup_teardown(statements_are_cached_and_reset, setup, teardown),
		cmocka_unit_test_setup_teardown(busy_writer_times_out_cleanly, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
