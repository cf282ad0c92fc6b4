/*
 * profiles.c - writing the profile cache: upsert (one or a batch, each in one
 * transaction), removal, and sealing bodies under the store key with the
 * profile id as associated data. A body is only ever written sealed; the
 * plaintext never reaches SQLite.
 */
#include <stdio.h>
#include <string.h>

#include "common/err.h"
#include "common/log.h"
#include "store_internal.h"

int store__seal_profile(struct store *s, const char *id, const char *body, size_t len, uint8_t *out,
			size_t cap)
{
	return rg_aead_seal(s->key, id, strlen(id), body, len, out, cap, s->rand);
}

static int profile_check(const struct store *s, const struct store_profile *p)
{
	int rc;

	if (!p || !store__id_valid(p->id) || p->version < 0 || p->hlc > (uint64_t)INT64_MAX ||
	    !p->body || p->n_idents > STORE_IDENTS_MAX || (p->n_idents && !p->idents))
		return RG_ERR_INVAL;
	if (p->body_len > STORE_BODY_MAX ||
	    (int64_t)(p->body_len + RG_AEAD_OVERHEAD) > s->max_bytes)
		return RG_ERR_TOOBIG;
	for (size_t i = 0; i < p->n_idents; i++)
		if (!p->idents[i].token || !store__type_valid(p->idents[i].type))
			return RG_ERR_INVAL;
	if ((rc = store__json_object(p->body, p->body_len, STORE_BODY_MAX)) < 0)
		return rc;
	return 0;
}

int store__identifier_put(struct store *s, const uint8_t *token, const char *type,
			  const char *profile_id, int64_t now)
{
	sqlite3_stmt *st;
	int rc = store__prepare(
	    s,
	    "INSERT INTO identifiers(token, type, profile_id, created_ms) VALUES (?1, ?2, ?3, ?4) "
	    "ON CONFLICT(token) DO UPDATE SET type = excluded.type, profile_id = "
	    "excluded.profile_id "
	    "WHERE identifiers.type != excluded.type OR identifiers.profile_id != "
	    "excluded.profile_id",
	    &st);
	if (rc < 0)
		return rc;
	sqlite3_bind_blob(st, 1, token, RG_TOKEN_LEN, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, type, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, profile_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, now);
	return store__step_done(s, st, "identifier_put");
}

int store__profile_delete(struct store *s, const char *id)
{
	sqlite3_stmt *st;
	int rc;

	if ((rc = store__prepare(s, "DELETE FROM identifiers WHERE profile_id = ?1", &st)) < 0)
		return rc;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	if ((rc = store__step_done(s, st, "profile_delete")) < 0)
		return rc;
	if ((rc = store__prepare(s, "DELETE FROM profiles WHERE id = ?1", &st)) < 0)
		return rc;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	if ((rc = store__step_done(s, st, "profile_delete")) < 0)
		return rc;
	return sqlite3_changes(rg_db_handle(s->db)) > 0;
}

int store__profile_put(struct store *s, const struct store_profile *p, int64_t now)
{
	sqlite3_stmt *st;
	int64_t pid = 0;
	int rc, n;

	if ((rc = store__is_merged(s, p->id)) != 0)
		return rc > 0 ? 0 : rc;
	/* An erased person never comes back, whoever offers the profile. */
	if ((rc = store__tombstoned(s, p->id)) != 0) {
		if (rc > 0) {
			s->tombstone_refusals++;
			rg_warn(STORE_COMP, "profile_refused", "profile=%s reason=erased", p->id);
		}
		return rc > 0 ? 0 : rc;
	}
	n = store__seal_profile(s, p->id, p->body, p->body_len, s->psealed, sizeof s->psealed);
	if (n < 0)
		return n;
	/* Insert, or replace only with a newer (version, hlc); RETURNING yields
	 * a row exactly when something was written. */
	rc = store__prepare(
	    s,
	    "INSERT INTO profiles(id, version, hlc, body_len, body) VALUES (?1, ?2, ?3, ?4, ?5) "
	    "ON CONFLICT(id) DO UPDATE SET version = excluded.version, hlc = excluded.hlc, "
	    "body_len = excluded.body_len, body = excluded.body "
	    "WHERE (excluded.version, excluded.hlc) > (profiles.version, profiles.hlc) "
	    "RETURNING pid",
	    &st);
	if (rc < 0)
		return rc;
	sqlite3_bind_text(st, 1, p->id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, p->version);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)p->hlc);
	sqlite3_bind_int64(st, 4, n);
	sqlite3_bind_blob(st, 5, s->psealed, n, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		pid = sqlite3_column_int64(st, 0);
		rc = sqlite3_step(st);
	} else if (rc == SQLITE_DONE) {
		rc = 0; /* nothing returned: not newer */
	}
	sqlite3_reset(st);
	if (rc == 0)
		return 0;
	if (rc != SQLITE_DONE)
		return store__db_fail(s, "profile_put", rg_db_err(rc) ? rg_db_err(rc) : RG_ERR_DB);
	/* A new profile counts as seen now; a replaced one keeps its last_seen. */
	if ((rc = store__prepare(s,
				 "INSERT OR IGNORE INTO profile_seen(pid, last_seen) "
				 "VALUES (?1, ?2)",
				 &st)) < 0)
		return rc;
	sqlite3_bind_int64(st, 1, pid);
	sqlite3_bind_int64(st, 2, now);
	if ((rc = store__step_done(s, st, "profile_put")) < 0)
		return rc;
	if (s->snap_active) {
		if ((rc = store__prepare(s, "INSERT OR IGNORE INTO snapshot_ids(id) VALUES (?1)",
					 &st)) < 0)
			return rc;
		sqlite3_bind_text(st, 1, p->id, -1, SQLITE_STATIC);
		if ((rc = store__step_done(s, st, "profile_put")) < 0)
			return rc;
	}
	for (size_t i = 0; i < p->n_idents; i++)
		if ((rc = store__identifier_put(s, p->idents[i].token, p->idents[i].type, p->id,
						now)) < 0)
			return rc;
	if (p->hlc) {
		struct rg_hlc remote, merged;
		rg_hlc_unpack(p->hlc, &remote);
		if (rg_hlc_update(&s->hlc, &remote, &merged) < 0)
			rg_warn(STORE_COMP, "hlc_ignored",
				"profile=%s hlc_ms=%lld error=\"too far ahead\"", p->id,
				(long long)remote.wall_ms);
	}
	return 1;
}

/* One transaction: pending last_seen, the profiles, eviction, the HLC. */
static int load_locked(struct store *s, const struct store_profile *p, size_t n,
		       const char *keep_id)
{
	int64_t now = rg_clock_wall_ms(s->clock);
	int rc, written = 0, evicted = 0;

	if ((rc = store__begin(s, "profile_upsert")) < 0)
		return rc;
	if ((rc = store__seen_write(s)) < 0)
		goto fail;
	for (size_t i = 0; i < n; i++) {
		if ((rc = store__profile_put(s, &p[i], now)) < 0)
			goto fail;
		written += rc;
	}
	if (written &&
	    ((evicted = rc = store__evict(s, keep_id)) < 0 || (rc = store__hlc_save(s)) < 0))
		goto fail;
	if ((rc = store__commit(s, "profile_upsert")) < 0)
		return rc;
	store__seen_clear(s);
	s->evicted += evicted;
	return written;
fail:
	rg_db_rollback(s->db);
	return rc;
}

int store_profile_upsert(struct store *s, const struct store_profile *p)
{
	int rc;

	if (!s)
		return RG_ERR_INVAL;
	if ((rc = profile_check(s, p)) < 0) {
		rg_warn(STORE_COMP, "profile_refused", "profile=%s error=%s",
			p && store__id_valid(p->id) ? p->id : "(invalid)", rg_errname(rc));
		return rc;
	}
	if ((rc = store__lock(s)) < 0)
		return rc;
	rc = load_locked(s, p, 1, p->id);
	store__unlock(s);
	return rc;
}

int store_profiles_load(struct store *s, const struct store_profile *p, size_t n)
{
	int rc;

	if (!s || !p || n == 0)
		return RG_ERR_INVAL;
	if (n > STORE_LOAD_MAX)
		return RG_ERR_RANGE;
	for (size_t i = 0; i < n; i++) {
		if ((rc = profile_check(s, &p[i])) < 0) {
			rg_warn(STORE_COMP, "load_refused", "index=%zu profile=%s error=%s", i,
				store__id_valid(p[i].id) ? p[i].id : "(invalid)", rg_errname(rc));
			return rc;
		}
	}
	if ((rc = store__lock(s)) < 0)
		return rc;
	rc = load_locked(s, p, n, NULL);
	store__unlock(s);
	if (rc >= 0)
		rg_debug(STORE_COMP, "loaded", "profiles=%zu written=%d", n, rc);
	return rc;
}

int store_profile_remove(struct store *s, const char *id)
{
	int rc, r = 0;

	if (!s || !store__id_valid(id))
		return RG_ERR_INVAL;
	if ((rc = store__lock(s)) < 0)
		return rc;
	if ((rc = store__begin(s, "profile_remove")) < 0)
		goto out;
	if ((rc = store__seen_write(s)) < 0 || (r = store__profile_delete(s, id)) < 0) {
		rg_db_rollback(s->db);
		rc = rc < 0 ? rc : r;
		goto out;
	}
	if ((rc = store__commit(s, "profile_remove")) == 0) {
		store__seen_clear(s);
		rg_db_scrub_wal(s->db, STORE_COMP);
		rc = r;
		rg_info(STORE_COMP, "profile_removed", "profile=%s cached=%d", id, r);
	}
out:
	store__unlock(s);
	return rc;
}
