/*
 * merges.c - identity merges from central: old id -> new id. Chains are
 * compressed when a merge is recorded (every stored new_id is final) and
 * identifiers are re-pointed, so a lookup normally needs no hop at all; reads
 * still follow chains, bounded, in case a database holds an older shape.
 */
#include <stdio.h>
#include <string.h>

#include "common/err.h"
#include "common/log.h"
#include "store_internal.h"

int store__is_merged(struct store *s, const char *id)
{
	return store__exists(s, "SELECT 1 FROM merges WHERE old_id = ?1", id, "is_merged");
}

int store__resolve(struct store *s, const char *id, char out[STORE_ID_MAX + 1])
{
	char cur[STORE_ID_MAX + 1], q[80];
	sqlite3_stmt *st;
	int rc, hops;

	snprintf(cur, sizeof cur, "%s", id);
	if ((rc = store__prepare(s, "SELECT new_id FROM merges WHERE old_id = ?1", &st)) < 0)
		return rc;
	for (hops = 0;; hops++) {
		sqlite3_bind_text(st, 1, cur, -1, SQLITE_TRANSIENT);
		rc = sqlite3_step(st);
		if (rc == SQLITE_DONE) {
			sqlite3_reset(st);
			break;
		}
		if (rc != SQLITE_ROW) {
			sqlite3_reset(st);
			return store__db_fail(s, "resolve",
					      rg_db_err(rc) ? rg_db_err(rc) : RG_ERR_DB);
		}
		if (hops == STORE_MERGE_DEPTH_MAX) {
			sqlite3_reset(st);
			rg_error(STORE_COMP, "merge_chain_too_long", "profile=%s max=%d",
				 rg_log_quote(q, sizeof q, id), STORE_MERGE_DEPTH_MAX);
			return RG_ERR_RANGE;
		}
		snprintf(cur, sizeof cur, "%s", (const char *)sqlite3_column_text(st, 0));
		sqlite3_reset(st);
	}
	memcpy(out, cur, sizeof cur);
	return hops;
}

int store_merge_resolve(struct store *s, const char *id, char out[STORE_ID_MAX + 1])
{
	int rc;
	if (out)
		out[0] = '\0';
	if (!s || !out || !store__id_valid(id))
		return RG_ERR_INVAL;
	if ((rc = store__lock(s)) < 0)
		return rc;
	rc = store__resolve(s, id, out);
	store__unlock(s);
	if (rc < 0)
		out[0] = '\0';
	return rc;
}

int store__merge(struct store *s, const char *old_id, const char *new_id)
{
	char final[STORE_ID_MAX + 1], prev[STORE_ID_MAX + 1] = "";
	int64_t now = rg_clock_wall_ms(s->clock);
	sqlite3_stmt *st;
	int rc, hops;

	if ((hops = store__resolve(s, new_id, final)) < 0)
		return hops;
	if (!strcmp(final, old_id)) {
		rg_warn(STORE_COMP, "merge_refused",
			"old=%s new=%s final=%s error=\"would close a cycle\"", old_id, new_id,
			final);
		return RG_ERR_STATE;
	}
	if ((rc = store__prepare(s, "SELECT new_id FROM merges WHERE old_id = ?1", &st)) < 0)
		return rc;
	sqlite3_bind_text(st, 1, old_id, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW)
		snprintf(prev, sizeof prev, "%s", (const char *)sqlite3_column_text(st, 0));
	sqlite3_reset(st);
	if (!strcmp(prev, final))
		return 0;

	static const char *const steps[] = {
	    ("INSERT INTO merges(old_id, new_id, merged_ms) VALUES (?1, ?2, ?3) "
	     "ON CONFLICT(old_id) DO UPDATE SET new_id = excluded.new_id, "
	     "merged_ms = excluded.merged_ms"),
	    /* compress: what pointed at old now points at the final id */
	    "UPDATE merges SET new_id = ?2 WHERE new_id = ?1",
	    "UPDATE identifiers SET profile_id = ?2 WHERE profile_id = ?1",
	};
	for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
		if ((rc = store__prepare(s, steps[i], &st)) < 0)
			return rc;
		sqlite3_bind_text(st, 1, old_id, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, final, -1, SQLITE_STATIC);
		if (i == 0)
			sqlite3_bind_int64(st, 3, now);
		if ((rc = store__step_done(s, st, "merge")) < 0)
			return rc;
	}
	/* old's cached body is superseded by the merged profile. */
	if ((rc = store__profile_delete(s, old_id)) < 0)
		return rc;
	rg_info(STORE_COMP, "merge_recorded", "old=%s new=%s final=%s hops=%d", old_id, new_id,
		final, hops);
	return 1;
}

int store_merge_record(struct store *s, const char *old_id, const char *new_id)
{
	int rc, r = 0;

	if (!s || !store__id_valid(old_id) || !store__id_valid(new_id) || !strcmp(old_id, new_id))
		return RG_ERR_INVAL;
	if ((rc = store__lock(s)) < 0)
		return rc;
	if ((rc = store__begin(s, "merge")) < 0)
		goto out;
	/* Pending last_seen first, so no pending value outlives a deleted row. */
	if ((rc = store__seen_write(s)) < 0 || (r = store__merge(s, old_id, new_id)) < 0) {
		rg_db_rollback(s->db);
		rc = rc < 0 ? rc : r;
		goto out;
	}
	if ((rc = store__commit(s, "merge")) == 0) {
		store__seen_clear(s);
		rc = r;
	}
out:
	store__unlock(s);
	return rc;
}
