/*
 * db.c - the SQLite helpers of common/db.h: open in WAL with the chosen
 * durability, migrate on user_version in one transaction, and keep a small
 * cache of prepared statements so hot paths never re-prepare.
 */
#include "common/db.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/log.h"

#define STMT_CACHE_MAX 64

struct stmt_slot {
	char *sql;
	sqlite3_stmt *stmt;
};

struct rg_db {
	sqlite3 *db;
	struct stmt_slot cache[STMT_CACHE_MAX];
	size_t ncache;
	char errmsg[512];
	bool durable; /* opened RG_DB_DURABLE (synchronous=FULL) */
	bool lazy;    /* a rg_db_begin_lazy transaction is open */
};

int rg_db_err(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_OK:
	case SQLITE_DONE:
	case SQLITE_ROW:
		return 0;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return RG_ERR_BUSY;
	case SQLITE_NOMEM:
		return RG_ERR_NOMEM;
	case SQLITE_TOOBIG:
	case SQLITE_FULL:
		return RG_ERR_TOOBIG;
	case SQLITE_IOERR:
	case SQLITE_CANTOPEN:
		return RG_ERR_IO;
	case SQLITE_PERM:
	case SQLITE_READONLY:
	case SQLITE_AUTH:
		return RG_ERR_PERM;
	case SQLITE_CONSTRAINT:
		return RG_ERR_EXISTS;
	default:
		return RG_ERR_DB;
	}
}

static int set_err(struct rg_db *d, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int set_err(struct rg_db *d, int rc, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(d->errmsg, sizeof d->errmsg, fmt, ap);
	va_end(ap);
	return rc;
}

const char *rg_db_errmsg(const struct rg_db *d)
{
	return d ? d->errmsg : "no database";
}

sqlite3 *rg_db_handle(struct rg_db *d)
{
	return d->db;
}

int rg_db_scrub_wal(struct rg_db *d, const char *comp)
{
	int log = 0, done = 0;
	int rc = sqlite3_wal_checkpoint_v2(d->db, NULL, SQLITE_CHECKPOINT_TRUNCATE, &log, &done);
	if (rc == SQLITE_OK && log == done)
		return 0;
	rg_warn(comp, "erase_checkpoint_incomplete",
		"error=%s wal_frames=%d checkpointed=%d note=\"old page images stay in the -wal "
		"file until the next checkpoint\"",
		rg_errname(rg_db_err(rc)), log, done);
	return rc == SQLITE_OK || rc == SQLITE_BUSY ? RG_ERR_BUSY : rg_db_err(rc);
}

int rg_db_exec(struct rg_db *d, const char *sql)
{
	char *msg = NULL;
	int rc = sqlite3_exec(d->db, sql, NULL, NULL, &msg);
	if (rc != SQLITE_OK) {
		set_err(d, 0, "%s", msg ? msg : sqlite3_errstr(rc));
		sqlite3_free(msg);
		return rg_db_err(rc);
	}
	return 0;
}

int rg_db_open(const char *path, const struct rg_db_opts *opts, struct rg_db **out)
{
	struct rg_db_opts def = {RG_DB_DURABLE, 0, false};
	struct rg_db *d;
	int flags, rc;
	char pragma[128];

	*out = NULL;
	if (!path)
		return RG_ERR_INVAL;
	if (!opts)
		opts = &def;
	if (!(d = calloc(1, sizeof *d)))
		return RG_ERR_NOMEM;
	flags = opts->read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
	rc = sqlite3_open_v2(path, &d->db, flags | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		rg_error("db", "open_failed", "path=%s error=\"%s\"", path,
			 d->db ? sqlite3_errmsg(d->db) : sqlite3_errstr(rc));
		rc = rg_db_err(rc);
		sqlite3_close(d->db);
		free(d);
		return rc;
	}
	sqlite3_extended_result_codes(d->db, 1);
	sqlite3_busy_timeout(d->db, opts->busy_timeout_ms > 0 ? opts->busy_timeout_ms : 5000);
	if (!opts->read_only) {
		sqlite3_stmt *st = NULL;
		/* journal_mode answers with the mode actually in force. */
		rc = sqlite3_prepare_v2(d->db, "PRAGMA journal_mode=WAL", -1, &st, NULL);
		if (rc == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW &&
		    strcmp((const char *)sqlite3_column_text(st, 0), "wal") != 0)
			rc = SQLITE_ERROR;
		else if (rc == SQLITE_OK && sqlite3_errcode(d->db) != SQLITE_ROW)
			rc = sqlite3_errcode(d->db);
		sqlite3_finalize(st);
		if (rc != SQLITE_OK) {
			rg_error("db", "wal_failed", "path=%s error=\"%s\"", path, sqlite3_errmsg(d->db));
			rc = rg_db_err(rc) ? rg_db_err(rc) : RG_ERR_DB;
			sqlite3_close(d->db);
			free(d);
			return rc;
		}
		d->durable = opts->durability != RG_DB_FAST;
		snprintf(pragma, sizeof pragma, "PRAGMA synchronous=%s; PRAGMA foreign_keys=ON;",
			 d->durable ? "FULL" : "NORMAL");
		if ((rc = rg_db_exec(d, pragma)) < 0) {
			rg_error("db", "pragma_failed", "path=%s error=\"%s\"", path, d->errmsg);
			rg_db_close(d);
			return rc;
		}
	}
	*out = d;
	return 0;
}

void rg_db_close(struct rg_db *d)
{
	if (!d)
		return;
	for (size_t i = 0; i < d->ncache; i++) {
		sqlite3_finalize(d->cache[i].stmt);
		free(d->cache[i].sql);
	}
	sqlite3_close(d->db);
	free(d);
}

int rg_db_prepare(struct rg_db *d, const char *sql, sqlite3_stmt **out)
{
	sqlite3_stmt *st;
	int rc;

	*out = NULL;
	for (size_t i = 0; i < d->ncache; i++) {
		if (!strcmp(d->cache[i].sql, sql)) {
			sqlite3_reset(d->cache[i].stmt);
			sqlite3_clear_bindings(d->cache[i].stmt);
			*out = d->cache[i].stmt;
			return 0;
		}
	}
	rc = sqlite3_prepare_v3(d->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL);
	if (rc != SQLITE_OK)
		return set_err(d, rg_db_err(rc), "prepare: %s", sqlite3_errmsg(d->db));
	if (d->ncache == STMT_CACHE_MAX) {
		/* Full: evict the oldest entry. Callers hold a statement only
		 * until their next rg_db_prepare, so this never frees one in use. */
		sqlite3_finalize(d->cache[0].stmt);
		free(d->cache[0].sql);
		memmove(d->cache, d->cache + 1, sizeof d->cache[0] * (STMT_CACHE_MAX - 1));
		d->ncache--;
	}
	char *copy = strdup(sql);
	if (!copy) {
		sqlite3_finalize(st);
		return RG_ERR_NOMEM;
	}
	d->cache[d->ncache].sql = copy;
	d->cache[d->ncache].stmt = st;
	d->ncache++;
	*out = st;
	return 0;
}

/* After a lazy transaction has ended (committed or rolled back): the
 * connection's durability again. A failure here would leave every later
 * commit lazy, so it is an error of the commit, and logged. */
static int lazy_end(struct rg_db *d)
{
	char *msg = NULL;
	int rc;
	if (!d->lazy || !sqlite3_get_autocommit(d->db))
		return 0;
	rc = sqlite3_exec(d->db, "PRAGMA synchronous=FULL", NULL, NULL, &msg);
	if (rc != SQLITE_OK) {
		rg_error("db", "durability_restore_failed", "error=\"%s\"",
			 msg ? msg : sqlite3_errstr(rc));
		sqlite3_free(msg);
		return rg_db_err(rc) ? rg_db_err(rc) : RG_ERR_DB;
	}
	d->lazy = false;
	return 0;
}

int rg_db_begin(struct rg_db *d)
{
	return rg_db_exec(d, "BEGIN IMMEDIATE");
}

/* SQLite refuses to change synchronous inside a transaction: it is set
 * before BEGIN and put back once the transaction has ended. */
int rg_db_begin_lazy(struct rg_db *d)
{
	int rc;
	if (d->durable && (rc = rg_db_exec(d, "PRAGMA synchronous=NORMAL")) < 0)
		return rc;
	d->lazy = d->durable;
	if ((rc = rg_db_begin(d)) < 0)
		lazy_end(d);
	return rc;
}

int rg_db_commit(struct rg_db *d)
{
	int rc = rg_db_exec(d, "COMMIT");
	int rc2 = lazy_end(d);
	return rc < 0 ? rc : rc2;
}

void rg_db_rollback(struct rg_db *d)
{
	if (!sqlite3_get_autocommit(d->db))
		sqlite3_exec(d->db, "ROLLBACK", NULL, NULL, NULL);
	lazy_end(d);
}

int rg_db_user_version(struct rg_db *d)
{
	sqlite3_stmt *st;
	int rc, v;
	rc = sqlite3_prepare_v2(d->db, "PRAGMA user_version", -1, &st, NULL);
	if (rc != SQLITE_OK)
		return set_err(d, rg_db_err(rc), "user_version: %s", sqlite3_errmsg(d->db));
	rc = sqlite3_step(st);
	v = rc == SQLITE_ROW ? sqlite3_column_int(st, 0) : 0;
	sqlite3_finalize(st);
	if (rc != SQLITE_ROW)
		return set_err(d, rg_db_err(rc) ? rg_db_err(rc) : RG_ERR_DB, "user_version: %s",
			       sqlite3_errmsg(d->db));
	return v;
}

int rg_db_migrate(struct rg_db *d, const struct rg_migration *m, size_t n, void *ctx)
{
	int target, cur, rc;
	char sql[64];

	if (!n)
		return rg_db_user_version(d);
	for (size_t i = 0; i < n; i++)
		if (m[i].version != (int)i + 1 || (!m[i].sql && !m[i].fn))
			return set_err(d, RG_ERR_INVAL, "migration list malformed at index %zu", i);
	target = m[n - 1].version;

	if ((rc = rg_db_begin(d)) < 0)
		return set_err(d, rc, "migrate: cannot begin: %s", d->errmsg);
	/* Read the version inside the write lock: another process may have
	 * migrated between our open and now. */
	cur = rg_db_user_version(d);
	if (cur < 0)
		goto fail;
	if (cur > target) {
		rg_db_rollback(d);
		return set_err(d, RG_ERR_MIGRATE,
			       "database schema version %d is newer than this program knows (%d)",
			       cur, target);
	}
	for (size_t i = (size_t)cur; i < n; i++) {
		if (m[i].sql && (rc = rg_db_exec(d, m[i].sql)) < 0) {
			char msg[sizeof d->errmsg];
			memcpy(msg, d->errmsg, sizeof msg);
			set_err(d, 0, "migration %d (%s) failed: %s", m[i].version, m[i].name, msg);
			goto fail;
		}
		if (m[i].fn && (rc = m[i].fn(d->db, ctx)) < 0) {
			set_err(d, 0, "migration %d (%s) failed: %s (%s)", m[i].version, m[i].name,
				rg_strerror(rc), sqlite3_errmsg(d->db));
			goto fail;
		}
	}
	snprintf(sql, sizeof sql, "PRAGMA user_version=%d", target);
	if (rg_db_exec(d, sql) < 0 || rg_db_commit(d) < 0)
		goto fail;
	if (cur != target)
		rg_info("db", "migrated", "from=%d to=%d", cur, target);
	return target;
fail:
	rg_db_rollback(d);
	rg_error("db", "migrate_failed", "from=%d error=\"%s\"", cur, d->errmsg);
	return RG_ERR_MIGRATE;
}
