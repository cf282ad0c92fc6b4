/*
 * db.h - SQLite as Regulars uses it: WAL, a chosen durability, a busy
 * timeout, numbered schema migrations keyed on PRAGMA user_version, and a
 * cache of prepared statements.
 *
 * An rg_db is used by one thread at a time. Statements from rg_db_prepare()
 * are borrowed: reset and unbound when handed out, owned by the rg_db and
 * finalized by rg_db_close(). Errors are also left, as text, in
 * rg_db_errmsg() for the caller's log line.
 */
#ifndef COMMON_DB_H
#define COMMON_DB_H

#include <stdbool.h>
#include <stddef.h>

#include <sqlite3.h>

#ifdef __cplusplus
extern "C" {
#endif

enum rg_db_durability {
	/* synchronous=FULL: a committed transaction survives power loss. The
	 * default, and what outboxes and spools must use. */
	RG_DB_DURABLE = 0,
	/* synchronous=NORMAL in WAL: never corrupt, but the last transactions
	 * before a power loss may roll back. For caches that can be refilled. */
	RG_DB_FAST = 1,
};

struct rg_db_opts {
	enum rg_db_durability durability;
	int busy_timeout_ms; /* 0 means 5000 */
	bool read_only;      /* open existing file read-only (no WAL switch) */
};

struct rg_db; /* opaque */

/* Open (creating if needed, unless read_only) the database at path. opts may
 * be NULL for defaults. On success *out is owned by the caller. */
int rg_db_open(const char *path, const struct rg_db_opts *opts, struct rg_db **out);
void rg_db_close(struct rg_db *db);

sqlite3 *rg_db_handle(struct rg_db *db);

/* After a commit that deleted someone's data (with PRAGMA secure_delete on,
 * so freed pages are zeroed): old page images of the deleted rows may still
 * sit in the -wal file. Checkpoint it into the main file and truncate it.
 * Returns 0, or RG_ERR_BUSY when a reader kept part of the WAL (logged with
 * comp's name; the images stay until the next checkpoint). */
int rg_db_scrub_wal(struct rg_db *db, const char *comp);
const char *rg_db_errmsg(const struct rg_db *db);

struct rg_migration {
	int version;      /* 1, 2, 3 ... in order, no gaps */
	const char *name; /* for logs */
	const char *sql;  /* may be NULL if fn is set */
	/* optional code step, run after sql; returns 0 or a negative rg_err */
	int (*fn)(sqlite3 *db, void *ctx);
};

/* Bring the schema to the last migration's version. Every pending migration
 * runs in ONE transaction with user_version bumped inside it: if any step
 * fails the database is left exactly at its previous version and
 * RG_ERR_MIGRATE is returned. A database newer than the last migration is
 * refused (RG_ERR_MIGRATE) rather than touched. Returns the resulting version. */
int rg_db_migrate(struct rg_db *db, const struct rg_migration *migrations, size_t n, void *ctx);
int rg_db_user_version(struct rg_db *db);

/* A cached prepared statement for sql (compared by text). Borrowed. */
int rg_db_prepare(struct rg_db *db, const char *sql, sqlite3_stmt **out);
/* Run one or more statements without results. */
int rg_db_exec(struct rg_db *db, const char *sql);

/* BEGIN IMMEDIATE (takes the write lock now, so busy errors come early). */
int rg_db_begin(struct rg_db *db);
/* BEGIN IMMEDIATE for a transaction whose loss at a power cut is harmless
 * because it would be redone (deleting rows central has acknowledged: a
 * lost delete means a re-send that central ignores as a duplicate). Its
 * COMMIT does not wait for the disk (synchronous=NORMAL for this one
 * transaction; never corrupt, and the next durable commit's sync covers
 * it); the connection's own durability is back once it ends. Never for
 * what someone was promised: a receipt, an ack, an erasure. */
int rg_db_begin_lazy(struct rg_db *db);
int rg_db_commit(struct rg_db *db);
/* Safe to call when no transaction is open. */
void rg_db_rollback(struct rg_db *db);

/* Map an SQLite result code to an rg_err (BUSY/LOCKED -> RG_ERR_BUSY, ...). */
int rg_db_err(int sqlite_rc);

#ifdef __cplusplus
}
#endif

#endif
