/*
 * lookup.c - the read path: token -> profile id -> opened body, and the same
 * by profile id. One cached statement does the common case (token joined to
 * its profile row); merges cost a hop only when the row is missing. Nothing
 * here writes the database except an occasional batched last_seen flush.
 */
#include <stdio.h>
#include <string.h>

#include "common/err.h"
#include "common/log.h"
#include "store_internal.h"

/* Open a sealed body (from a row being read) into buf, NUL-terminated. */
static int open_body(struct store *s, const char *id, const void *sealed, int len, char *buf,
		     size_t cap, struct store_hit *hit)
{
	int n;

	if (!sealed || len < RG_AEAD_OVERHEAD)
		n = RG_ERR_VERIFY;
	else if ((size_t)len - RG_AEAD_OVERHEAD + 1 > cap)
		return RG_ERR_TOOBIG;
	else
		n = rg_aead_open(s->key, id, strlen(id), sealed, (size_t)len, (uint8_t *)buf,
				 cap - 1);
	if (n < 0) {
		rg_error(STORE_COMP, "body_unreadable", "profile=%s error=%s", id, rg_errname(n));
		return n;
	}
	buf[n] = '\0';
	hit->body_len = (size_t)n;
	return 0;
}

int store__profile_read(struct store *s, const char *id, char *buf, size_t cap,
			struct store_hit *hit)
{
	sqlite3_stmt *st;
	int rc;

	if ((rc = store__prepare(s, "SELECT pid, version, hlc, body FROM profiles WHERE id = ?1",
				 &st)) < 0)
		return rc;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE) {
		sqlite3_reset(st);
		return 0;
	}
	if (rc != SQLITE_ROW) {
		sqlite3_reset(st);
		return store__db_fail(s, "profile_read", rg_db_err(rc) ? rg_db_err(rc) : RG_ERR_DB);
	}
	hit->version = sqlite3_column_int64(st, 1);
	hit->hlc = (uint64_t)sqlite3_column_int64(st, 2);
	rc = open_body(s, id, sqlite3_column_blob(st, 3), sqlite3_column_bytes(st, 3), buf, cap,
		       hit);
	if (rc == 0)
		store__seen_note(s, sqlite3_column_int64(st, 0));
	sqlite3_reset(st);
	return rc < 0 ? rc : 1;
}

/* Resolve id through merges and read it. */
static int read_resolved(struct store *s, const char *id, char *buf, size_t cap,
			 struct store_hit *hit)
{
	char final[STORE_ID_MAX + 1];
	int hops = store__resolve(s, id, final);

	if (hops < 0)
		return hops;
	hit->redirects = hops;
	memcpy(hit->profile_id, final, sizeof final);
	return store__profile_read(s, final, buf, cap, hit);
}

static int identify_locked(struct store *s, const uint8_t *token, char *buf, size_t cap,
			   struct store_hit *hit)
{
	sqlite3_stmt *st;
	int rc;

	rc = store__prepare(s,
			    "SELECT i.profile_id, i.type, p.pid, p.version, p.hlc, p.body "
			    "FROM identifiers i LEFT JOIN profiles p ON p.id = i.profile_id "
			    "WHERE i.token = ?1",
			    &st);
	if (rc < 0)
		return rc;
	sqlite3_bind_blob(st, 1, token, RG_TOKEN_LEN, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE) {
		sqlite3_reset(st);
		return 0;
	}
	if (rc != SQLITE_ROW) {
		sqlite3_reset(st);
		return store__db_fail(s, "identify", rg_db_err(rc) ? rg_db_err(rc) : RG_ERR_DB);
	}
	snprintf(hit->profile_id, sizeof hit->profile_id, "%s",
		 (const char *)sqlite3_column_text(st, 0));
	snprintf(hit->type, sizeof hit->type, "%s", (const char *)sqlite3_column_text(st, 1));
	if (sqlite3_column_type(st, 2) == SQLITE_NULL) {
		/* Not cached under that id: it may have been merged. */
		char id[STORE_ID_MAX + 1];
		memcpy(id, hit->profile_id, sizeof id);
		sqlite3_reset(st);
		return read_resolved(s, id, buf, cap, hit);
	}
	hit->version = sqlite3_column_int64(st, 3);
	hit->hlc = (uint64_t)sqlite3_column_int64(st, 4);
	rc = open_body(s, hit->profile_id, sqlite3_column_blob(st, 5), sqlite3_column_bytes(st, 5),
		       buf, cap, hit);
	if (rc == 0)
		store__seen_note(s, sqlite3_column_int64(st, 2));
	sqlite3_reset(st);
	return rc < 0 ? rc : 1;
}

int store_identify(struct store *s, const uint8_t token[RG_TOKEN_LEN], char *buf, size_t cap,
		   struct store_hit *hit)
{
	int rc;

	if (hit)
		memset(hit, 0, sizeof *hit);
	if (!s || !token || !buf || !cap || !hit)
		return RG_ERR_INVAL;
	buf[0] = '\0';
	if ((rc = store__lock(s)) < 0)
		return rc;
	rc = identify_locked(s, token, buf, cap, hit);
	if (rc >= 0)
		store__seen_maybe_flush(s);
	store__unlock(s);
	if (rc < 0) {
		memset(hit, 0, sizeof *hit);
		rg_wipe(buf, cap);
	}
	return rc;
}

int store_profile_get(struct store *s, const char *id, char *buf, size_t cap, struct store_hit *hit)
{
	int rc;

	if (hit)
		memset(hit, 0, sizeof *hit);
	if (!s || !store__id_valid(id) || !buf || !cap || !hit)
		return RG_ERR_INVAL;
	buf[0] = '\0';
	if ((rc = store__lock(s)) < 0)
		return rc;
	rc = read_resolved(s, id, buf, cap, hit);
	if (rc >= 0)
		store__seen_maybe_flush(s);
	store__unlock(s);
	if (rc < 0) {
		memset(hit, 0, sizeof *hit);
		rg_wipe(buf, cap);
	}
	return rc;
}
