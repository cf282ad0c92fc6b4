/*
 * identstate.c - the identifier pipeline's state in the device store: the
 * app-token replay store (ident_token.h) and the TOTP secret store
 * (ident_totp.h) as SQLite tables of the same file, under the same lock
 * (tables: docs/device-schema.md, migration 2). Each decision is one
 * statement or one transaction, committed durably before it is returned, so
 * an accepted nonce or time step stays used across a crash or restart.
 */
#include <string.h>

#include "common/err.h"
#include "common/ident_token.h"
#include "common/ident_totp.h"
#include "common/log.h"
#include "store_internal.h"

/* ---- replay store ---- */

/* 1: a live nonce (replay); 0: absent or forgettable; < 0 error. */
static int replay_lookup(struct store *s, const uint8_t *nonce, int64_t now_s)
{
	sqlite3_stmt *st;
	int rc = store__prepare(s, "SELECT forget_at FROM ident_replay WHERE nonce = ?1", &st);
	if (rc < 0)
		return rc;
	sqlite3_bind_blob(st, 1, nonce, IDENT_TOKEN_NONCE_LEN, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		int live = sqlite3_column_int64(st, 0) > now_s;
		sqlite3_reset(st);
		return live;
	}
	sqlite3_reset(st);
	return rc == SQLITE_DONE
		   ? 0
		   : store__db_fail(s, "replay_lookup", rg_db_err(rc) ? rg_db_err(rc) : RG_ERR_DB);
}

static int replay_count(struct store *s, int64_t *n)
{
	sqlite3_stmt *st;
	int rc = store__prepare(s, "SELECT replay_nonces FROM counters WHERE id = 1", &st);
	if (rc < 0)
		return rc;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*n = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	return rc == SQLITE_ROW ? 0 : store__db_fail(s, "replay_count", RG_ERR_DB);
}

/* Inside the caller's transaction: forget what may be forgotten, then
 * remember nonce unless the table is full of live ones. */
static int replay_insert(struct store *s, const uint8_t *nonce, int64_t forget_at_s, int64_t now_s)
{
	sqlite3_stmt *st;
	int64_t n = 0;
	int rc;

	if ((rc = store__prepare(s, "DELETE FROM ident_replay WHERE forget_at <= ?1", &st)) < 0)
		return rc;
	sqlite3_bind_int64(st, 1, now_s);
	if ((rc = store__step_done(s, st, "replay_forget")) < 0)
		return rc;
	if ((rc = replay_count(s, &n)) < 0)
		return rc;
	if (n >= STORE_REPLAY_MAX) {
		rg_warn(STORE_COMP, "replay_full", "nonces=%lld max=%d", (long long)n,
			STORE_REPLAY_MAX);
		return RG_ERR_TOOBIG;
	}
	if ((rc = store__prepare(s, "INSERT INTO ident_replay(nonce, forget_at) VALUES (?1, ?2)",
				 &st)) < 0)
		return rc;
	sqlite3_bind_blob(st, 1, nonce, IDENT_TOKEN_NONCE_LEN, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, forget_at_s);
	return store__step_done(s, st, "replay_insert");
}

static int replay_check_add(void *priv, const uint8_t nonce[IDENT_TOKEN_NONCE_LEN],
			    int64_t forget_at_s, int64_t now_s)
{
	struct store *s = priv;
	int rc;

	if (!s || !nonce)
		return RG_ERR_INVAL;
	if ((rc = store__lock(s)) < 0)
		return rc;
	if ((rc = store__begin(s, "replay_check_add")) < 0)
		goto out;
	rc = replay_lookup(s, nonce, now_s);
	if (rc == 0)
		rc = replay_insert(s, nonce, forget_at_s, now_s);
	if (rc == 0)
		rc = store__commit(s, "replay_check_add");
	else
		rg_db_rollback(s->db); /* a replay (1) or an error: nothing changes */
out:
	store__unlock(s);
	return rc;
}

static const struct ident_replay_ops replay_ops = {
    .version = 1,
    .check_add = replay_check_add,
};

void store_replay_seam(struct store *s, struct ident_replay_store *out)
{
	if (!out)
		return;
	out->ops = &replay_ops;
	out->priv = s;
}

/* ---- TOTP secret store ---- */

/* The ident_ref_valid rule, kept here so the store needs no rg_ident. */
static int ref_valid(const char *ref)
{
	size_t n = 0;
	if (!ref)
		return 0;
	for (; ref[n]; n++) {
		char c = ref[n];
		if (n >= IDENT_REF_MAX)
			return 0;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return 0;
	}
	return n > 0;
}

static int secret_get(void *priv, const char *ref, uint8_t *buf, size_t cap)
{
	struct store *s = priv;
	sqlite3_stmt *st;
	int rc;

	if (!s || !buf)
		return RG_ERR_INVAL;
	if (!ref_valid(ref))
		return RG_ERR_NOTFOUND; /* no such ref can have been put */
	if ((rc = store__lock(s)) < 0)
		return rc;
	if ((rc = store__prepare(s, "SELECT sealed FROM ident_totp WHERE ref = ?1", &st)) < 0)
		goto out;
	sqlite3_bind_text(st, 1, ref, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		const void *b = sqlite3_column_blob(st, 0);
		int n = sqlite3_column_bytes(st, 0);
		if (!b || n <= 0)
			rc = RG_ERR_DB;
		else if ((size_t)n > cap)
			rc = RG_ERR_TOOBIG;
		else {
			memcpy(buf, b, (size_t)n);
			rc = n;
		}
	} else {
		rc = rc == SQLITE_DONE ? RG_ERR_NOTFOUND
				       : store__db_fail(s, "secret_get",
							rg_db_err(rc) ? rg_db_err(rc) : RG_ERR_DB);
	}
	sqlite3_reset(st);
out:
	store__unlock(s);
	return rc;
}

static int secret_put(void *priv, const char *ref, const uint8_t *sealed, size_t len)
{
	struct store *s = priv;
	sqlite3_stmt *st;
	int rc;

	if (!s || !ref_valid(ref) || !sealed || len == 0 || len > IDENT_TOTP_SEALED_MAX)
		return RG_ERR_INVAL;
	if ((rc = store__lock(s)) < 0)
		return rc;
	rc = store__prepare(s,
			    "INSERT INTO ident_totp(ref, sealed, last_step, updated_ms) "
			    "VALUES (?1, ?2, ?4, ?3) ON CONFLICT(ref) DO UPDATE SET "
			    "sealed = excluded.sealed, last_step = excluded.last_step, "
			    "updated_ms = excluded.updated_ms",
			    &st);
	if (rc == 0) {
		sqlite3_bind_text(st, 1, ref, -1, SQLITE_STATIC);
		sqlite3_bind_blob(st, 2, sealed, (int)len, SQLITE_STATIC);
		sqlite3_bind_int64(st, 3, rg_clock_wall_ms(s->clock));
		sqlite3_bind_int64(st, 4, IDENT_TOTP_NO_STEP);
		rc = store__step_done(s, st, "secret_put");
	}
	store__unlock(s);
	return rc;
}

/* 1 if ref has a row, 0 if not, < 0 error. */
static int secret_exists(struct store *s, const char *ref)
{
	sqlite3_stmt *st;
	int rc = store__prepare(s, "SELECT 1 FROM ident_totp WHERE ref = ?1", &st);
	if (rc < 0)
		return rc;
	sqlite3_bind_text(st, 1, ref, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc == SQLITE_ROW)
		return 1;
	return rc == SQLITE_DONE ? 0 : store__db_fail(s, "secret_exists", RG_ERR_DB);
}

static int secret_advance(void *priv, const char *ref, int64_t step)
{
	struct store *s = priv;
	sqlite3_stmt *st;
	int rc;

	if (!s)
		return RG_ERR_INVAL;
	if (!ref_valid(ref))
		return RG_ERR_NOTFOUND;
	if ((rc = store__lock(s)) < 0)
		return rc;
	/* The check and the record are one statement: only a later step
	 * changes the row, and a changed row is the acceptance. */
	rc = store__prepare(s,
			    "UPDATE ident_totp SET last_step = ?2, updated_ms = ?3 "
			    "WHERE ref = ?1 AND last_step < ?2",
			    &st);
	if (rc == 0) {
		sqlite3_bind_text(st, 1, ref, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, step);
		sqlite3_bind_int64(st, 3, rg_clock_wall_ms(s->clock));
		rc = store__step_done(s, st, "secret_advance");
	}
	if (rc == 0 && sqlite3_changes(rg_db_handle(s->db)) == 0) {
		/* not advanced: a reuse, or nobody by that ref */
		rc = secret_exists(s, ref);
		if (rc >= 0)
			rc = rc ? 1 : RG_ERR_NOTFOUND;
	}
	store__unlock(s);
	return rc;
}

static int secret_remove(void *priv, const char *ref)
{
	struct store *s = priv;
	sqlite3_stmt *st;
	int rc;

	if (!s)
		return RG_ERR_INVAL;
	if (!ref_valid(ref))
		return RG_ERR_NOTFOUND;
	if ((rc = store__lock(s)) < 0)
		return rc;
	rc = store__prepare(s, "DELETE FROM ident_totp WHERE ref = ?1", &st);
	if (rc == 0) {
		sqlite3_bind_text(st, 1, ref, -1, SQLITE_STATIC);
		rc = store__step_done(s, st, "secret_remove");
	}
	if (rc == 0 && sqlite3_changes(rg_db_handle(s->db)) == 0)
		rc = RG_ERR_NOTFOUND;
	store__unlock(s);
	return rc;
}

static const struct ident_secret_ops secret_ops = {
    .version = 1,
    .get = secret_get,
    .put = secret_put,
    .advance = secret_advance,
    .remove = secret_remove,
};

void store_secret_seam(struct store *s, struct ident_secret_store *out)
{
	if (!out)
		return;
	out->ops = &secret_ops;
	out->priv = s;
}
