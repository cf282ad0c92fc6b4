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

#include <cmocka.h>
#include <sqlite3.h>

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

int main(void)
{
	static const struct suite_backend b = {
	    .name = "sqlite", .opts = sq_opts, .fail_on = sq_fail_on, .fail_clear = sq_fail_clear};
	return store_suite_run(&b);
}
