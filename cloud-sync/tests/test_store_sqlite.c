/*
 * test_store_sqlite.c - the store suite (store_suite.c) on the SQLite
 * backend, on real database files in temp dirs. The fault for the
 * one-transaction test is a trigger written through a second connection,
 * so the store's own code path runs unchanged. The erasure is also checked
 * in the raw database and WAL files.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
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

/* Bytes of needle anywhere in the file (0 when the file is absent). */
static int file_contains(const char *path, const void *needle, size_t n)
{
	FILE *fp = fopen(path, "rb");
	unsigned char *buf = NULL;
	long len;
	int found = 0;
	if (!fp)
		return 0;
	if (fseek(fp, 0, SEEK_END) == 0 && (len = ftell(fp)) > 0 && fseek(fp, 0, SEEK_SET) == 0 &&
	    (buf = malloc((size_t)len)) && fread(buf, 1, (size_t)len, fp) == (size_t)len) {
		for (long i = 0; !found && i + (long)n <= len; i++)
			found = !memcmp(buf + i, needle, n);
	}
	free(buf);
	fclose(fp);
	return found;
}

static int db_contains(const char *dir, const void *needle, size_t n)
{
	char p[300];
	snprintf(p, sizeof p, "%s/cloud.db", dir);
	if (file_contains(p, needle, n))
		return 1;
	snprintf(p, sizeof p, "%s/cloud.db-wal", dir);
	return file_contains(p, needle, n);
}

/* After an erasure the database file and its WAL hold none of the person's
 * strings nor their token: secure delete zeroes what was freed and the WAL
 * is truncated. The person's data is first checkpointed into the main file
 * (a reopen), then more goes to the WAL, so both places are proven. */
static void erase_leaves_nothing_in_the_files(void **state)
{
	static const char *const strings[] = {"Zelda", "Quux", "dishwasher-xyz", "note-abc"};
	struct cloud_store_opts o;
	struct cloud_store *st = NULL;
	struct cloud_seed_profile p;
	struct rg_wire_batch b;
	struct cf_batch cb;
	struct cf_dir d;
	char body[6000], filler[4000];
	uint8_t tok[1][RG_TOKEN_LEN];
	const char *types[1] = {"loyalty"};
	(void)state;
	rg_log_set_level(RG_LOG_OFF);
	cf_ids_init(CF_T0);
	assert_int_equal(cf_dir_make(&d, "sqerase"), 0);
	memset(&o, 0, sizeof o);
	sq_opts(&o, d.path);
	assert_int_equal(cloud_store_open(&o, &st), 0);
	/* a body larger than a page, so overflow pages are freed too */
	memset(filler, 'Z', sizeof filler - 1);
	filler[sizeof filler - 1] = '\0';
	snprintf(body, sizeof body, "{\"name\":\"Zelda Quux\",\"points\":5,\"notes\":\"%s\"}",
		 filler);
	cf_token("2000000000015", tok[0]);
	memset(&p, 0, sizeof p);
	p.id = "p-1";
	p.version = 1;
	p.body = body;
	p.body_len = strlen(body);
	p.tokens = tok;
	p.token_types = types;
	p.n_tokens = 1;
	assert_int_equal(cloud_store_seed(st, &p, 1), 1);
	cloud_store_close(st);
	assert_int_equal(cloud_store_open(&o, &st), 0);
	cf_batch_begin(&cb, "dev-0042-a", "0042");
	cf_batch_add(&cb, RG_KIND_NOTE, CF_T0 + 1, "p-1", NULL, "{\"text\":\"Quux note-abc\"}");
	cf_batch_add(&cb, RG_KIND_EPISODE_OPENED, CF_T0 + 2, NULL, tok[0],
		     "{\"episode\":\"dishwasher-xyz\",\"title\":\"Zelda's dishwasher\"}");
	cf_batch_end(&cb, &b, NULL);
	assert_int_equal(cloud_store_apply_batch(st, &b, NULL), 0);
	rg_wire_batch_free(&b);
	for (size_t i = 0; i < sizeof strings / sizeof strings[0]; i++)
		assert_true(db_contains(d.path, strings[i], strlen(strings[i])));
	assert_true(db_contains(d.path, tok[0], RG_TOKEN_LEN));

	assert_int_equal(cloud_store_erase(st, NULL, "p-1"), 1);
	for (size_t i = 0; i < sizeof strings / sizeof strings[0]; i++)
		if (db_contains(d.path, strings[i], strlen(strings[i])))
			fail_msg("\"%s\" is still in the database files", strings[i]);
	assert_false(db_contains(d.path, tok[0], RG_TOKEN_LEN));
	cloud_store_close(st);
	for (size_t i = 0; i < sizeof strings / sizeof strings[0]; i++)
		assert_false(db_contains(d.path, strings[i], strlen(strings[i])));
	cf_dir_remove(&d);
}

int main(void)
{
	const struct CMUnitTest own[] = {
	    cmocka_unit_test(cache_options_are_checked),
	    cmocka_unit_test(erase_leaves_nothing_in_the_files),
	};
	static const struct suite_backend b = {
	    .name = "sqlite", .opts = sq_opts, .fail_on = sq_fail_on, .fail_clear = sq_fail_clear};
	int failed = cmocka_run_group_tests_name("sqlite_options", own, NULL, NULL);
	return failed + store_suite_run(&b);
}
