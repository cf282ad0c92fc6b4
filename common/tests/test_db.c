/*
 * test_db.c - the SQLite helpers on real database files: WAL and durability
 * pragmas, migrations that are all-or-nothing, refusal of a newer schema,
 * statement reuse and busy handling between two connections, and lazy
 * transactions (no sync at their commit, counted by a VFS shim).
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

/* ---- a VFS that counts syncs: the default one, with xSync counted ---- */

static int syncs;
static sqlite3_vfs *real_vfs, counting_vfs;

struct cfile {
	sqlite3_file base;
	sqlite3_file *real; /* the default VFS's file, allocated after this */
};

#define REAL(f) (((struct cfile *)(f))->real)

static int c_close(sqlite3_file *f)
{
	return REAL(f)->pMethods->xClose(REAL(f));
}
static int c_read(sqlite3_file *f, void *b, int n, sqlite3_int64 o)
{
	return REAL(f)->pMethods->xRead(REAL(f), b, n, o);
}
static int c_write(sqlite3_file *f, const void *b, int n, sqlite3_int64 o)
{
	return REAL(f)->pMethods->xWrite(REAL(f), b, n, o);
}
static int c_truncate(sqlite3_file *f, sqlite3_int64 n)
{
	return REAL(f)->pMethods->xTruncate(REAL(f), n);
}
static int c_sync(sqlite3_file *f, int flags)
{
	syncs++;
	return REAL(f)->pMethods->xSync(REAL(f), flags);
}
static int c_size(sqlite3_file *f, sqlite3_int64 *n)
{
	return REAL(f)->pMethods->xFileSize(REAL(f), n);
}
static int c_lock(sqlite3_file *f, int l)
{
	return REAL(f)->pMethods->xLock(REAL(f), l);
}
static int c_unlock(sqlite3_file *f, int l)
{
	return REAL(f)->pMethods->xUnlock(REAL(f), l);
}
static int c_reserved(sqlite3_file *f, int *out)
{
	return REAL(f)->pMethods->xCheckReservedLock(REAL(f), out);
}
static int c_fcntl(sqlite3_file *f, int op, void *arg)
{
	return REAL(f)->pMethods->xFileControl(REAL(f), op, arg);
}
static int c_sector(sqlite3_file *f)
{
	return REAL(f)->pMethods->xSectorSize(REAL(f));
}
static int c_devchar(sqlite3_file *f)
{
	return REAL(f)->pMethods->xDeviceCharacteristics(REAL(f));
}
static int c_shm_map(sqlite3_file *f, int pg, int sz, int ext, void volatile **out)
{
	return REAL(f)->pMethods->xShmMap(REAL(f), pg, sz, ext, out);
}
static int c_shm_lock(sqlite3_file *f, int off, int n, int flags)
{
	return REAL(f)->pMethods->xShmLock(REAL(f), off, n, flags);
}
static void c_shm_barrier(sqlite3_file *f)
{
	REAL(f)->pMethods->xShmBarrier(REAL(f));
}
static int c_shm_unmap(sqlite3_file *f, int del)
{
	return REAL(f)->pMethods->xShmUnmap(REAL(f), del);
}

static const sqlite3_io_methods counting_io = {
    .iVersion = 2,
    .xClose = c_close,
    .xRead = c_read,
    .xWrite = c_write,
    .xTruncate = c_truncate,
    .xSync = c_sync,
    .xFileSize = c_size,
    .xLock = c_lock,
    .xUnlock = c_unlock,
    .xCheckReservedLock = c_reserved,
    .xFileControl = c_fcntl,
    .xSectorSize = c_sector,
    .xDeviceCharacteristics = c_devchar,
    .xShmMap = c_shm_map,
    .xShmLock = c_shm_lock,
    .xShmBarrier = c_shm_barrier,
    .xShmUnmap = c_shm_unmap,
};

static int c_open(sqlite3_vfs *v, const char *name, sqlite3_file *f, int flags, int *out)
{
	struct cfile *c = (struct cfile *)f;
	int rc;
	(void)v;
	c->real = (sqlite3_file *)(c + 1);
	rc = real_vfs->xOpen(real_vfs, name, c->real, flags, out);
	c->base.pMethods = rc == SQLITE_OK && c->real->pMethods ? &counting_io : NULL;
	return rc;
}

static void counting_vfs_install(void)
{
	if (real_vfs)
		return;
	real_vfs = sqlite3_vfs_find(NULL);
	counting_vfs = *real_vfs;
	counting_vfs.iVersion = 1; /* no xSetSystemCall & co: not needed */
	counting_vfs.zName = "rg-counting";
	counting_vfs.szOsFile = (int)sizeof(struct cfile) + real_vfs->szOsFile;
	counting_vfs.xOpen = c_open;
	assert_int_equal(sqlite3_vfs_register(&counting_vfs, 1), SQLITE_OK);
}

/* A lazy transaction commits without a sync and puts the durability back:
 * the next ordinary commit syncs (covering the lazy one), and so does a
 * plain commit after a lazy one that was rolled back. A FAST database
 * stays NORMAL throughout. */
static void lazy_commit_skips_the_sync_once(void **state)
{
	struct rg_db *db, *fast;
	struct rg_db_opts fo = {.durability = RG_DB_FAST};
	int before;
	(void)state;
	counting_vfs_install();
	assert_int_equal(rg_db_open(path, NULL, &db), 0);
	assert_int_equal(rg_db_migrate(db, good, 2, NULL), 2);

	before = syncs;
	assert_int_equal(rg_db_begin(db), 0);
	assert_int_equal(rg_db_exec(db, "INSERT INTO profiles(body) VALUES ('durable')"), 0);
	assert_int_equal(rg_db_commit(db), 0);
	assert_true(syncs > before); /* the baseline: a durable commit syncs */

	before = syncs;
	assert_int_equal(rg_db_begin_lazy(db), 0);
	assert_string_equal(text1(db, "SELECT 'in'"), "in");
	assert_int_equal(rg_db_exec(db, "DELETE FROM profiles WHERE body = 'durable'"), 0);
	assert_int_equal(rg_db_commit(db), 0);
	assert_int_equal(syncs, before);
	assert_string_equal(text1(db, "PRAGMA synchronous"), "2"); /* FULL again */
	assert_string_equal(text1(db, "SELECT count(*) FROM profiles"), "0");

	before = syncs;
	assert_int_equal(rg_db_begin(db), 0);
	assert_int_equal(rg_db_exec(db, "INSERT INTO profiles(body) VALUES ('next')"), 0);
	assert_int_equal(rg_db_commit(db), 0);
	assert_true(syncs > before);

	/* rolled back: durable again too */
	assert_int_equal(rg_db_begin_lazy(db), 0);
	rg_db_rollback(db);
	assert_string_equal(text1(db, "PRAGMA synchronous"), "2");
	before = syncs;
	assert_int_equal(rg_db_begin(db), 0);
	assert_int_equal(rg_db_exec(db, "INSERT INTO profiles(body) VALUES ('after')"), 0);
	assert_int_equal(rg_db_commit(db), 0);
	assert_true(syncs > before);
	rg_db_close(db);

	assert_int_equal(rg_db_open(path, &fo, &fast), 0);
	assert_int_equal(rg_db_begin_lazy(fast), 0);
	assert_int_equal(rg_db_commit(fast), 0);
	assert_string_equal(text1(fast, "PRAGMA synchronous"), "1"); /* still NORMAL */
	rg_db_close(fast);
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
		cmocka_unit_test_setup_teardown(lazy_commit_skips_the_sync_once, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
