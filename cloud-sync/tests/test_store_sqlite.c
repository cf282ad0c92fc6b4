/*
 * test_store_sqlite.c - the store suite (store_suite.c) on the SQLite
 * backend, on real database files in temp dirs. The fault for the
 * one-transaction test is a trigger written through a second connection,
 * so the store's own code path runs unchanged.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "cloud_fixture.h"
#include "common/err.h"
#include "common/log.h"
#include "store_suite.h"

static char path_buf[300];

static void sq_opts(struct cloud_store_opts *o, const char *dir)
{
	snprintf(path_buf, sizeof path_buf, "%s/cloud.db", dir);
	o->backend = "sqlite";
	o->path = path_buf;
}

static void sq_exec(const char *dir, const char *sql)
{
	char p[300];
	sqlite3 *db = NULL;
	char *err = NULL;
	snprintf(p, sizeof p, "%s/cloud.db", dir);
	assert_int_equal(sqlite3_open(p, &db), SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK)
		fail_msg("%s: %s", sql, err ? err : "?");
	sqlite3_close(db);
}

static void sq_fail_on(const char *dir, const char *id)
{
	char sql[400];
	snprintf(sql, sizeof sql,
		 "CREATE TRIGGER suite_fault BEFORE INSERT ON interactions WHEN NEW.id = '%s'"
		 " BEGIN SELECT RAISE(ABORT, 'injected fault'); END;",
		 id);
	sq_exec(dir, sql);
}

static void sq_fail_clear(const char *dir)
{
	sq_exec(dir, "DROP TRIGGER IF EXISTS suite_fault;");
}

/* The page cache and mmap sizes are range-checked before anything opens,
 * and a store opened with them set works and keeps what it was given. */
static void cache_options_are_checked(void **state)
{
	struct cloud_store_opts o;
	struct cloud_store *st = NULL;
	struct cloud_store_stats stats;
	struct cf_dir d;
	(void)state;
	rg_log_set_level(RG_LOG_OFF);
	assert_int_equal(cf_dir_make(&d, "sqopts"), 0);
	memset(&o, 0, sizeof o);
	sq_opts(&o, d.path);
	o.cache_mib = -1;
	assert_int_equal(cloud_store_open(&o, &st), RG_ERR_INVAL);
	o.cache_mib = CLOUD_CACHE_MIB_MAX + 1;
	assert_int_equal(cloud_store_open(&o, &st), RG_ERR_INVAL);
	o.cache_mib = 1;
	o.mmap_mib = CLOUD_MMAP_MIB_MAX + 1;
	assert_int_equal(cloud_store_open(&o, &st), RG_ERR_INVAL);
	assert_null(st);
	o.mmap_mib = 8;
	assert_int_equal(cloud_store_open(&o, &st), 0);
	struct cloud_seed_profile p = {.id = "p-1", .version = 1, .body = "{}", .body_len = 2};
	assert_int_equal(cloud_store_seed(st, &p, 1), 1);
	memset(&stats, 0, sizeof stats);
	assert_int_equal(cloud_store_stats(st, &stats), 0);
	assert_int_equal(stats.profiles, 1);
	cloud_store_close(st);
	cf_dir_remove(&d);
}

int main(void)
{
	const struct CMUnitTest own[] = {
	    cmocka_unit_test(cache_options_are_checked),
	};
	static const struct suite_backend b = {
	    .name = "sqlite", .opts = sq_opts, .fail_on = sq_fail_on, .fail_clear = sq_fail_clear};
	int failed = cmocka_run_group_tests_name("sqlite_options", own, NULL, NULL);
	return failed + store_suite_run(&b);
}
