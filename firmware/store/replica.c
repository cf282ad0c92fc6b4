/*
 * replica.c - the cache as a replica of the gateway's (docs/replication.md,
 * "Device"): applying a "changes" page or a snapshot chunk, each in ONE
 * transaction together with the cursor or snapshot progress, tombstones of
 * erased ids, and the sync state the status and the handheld report. A page
 * is checked whole before anything is written; a refused page changes
 * nothing. The parsing is common/delta.c's: this file only reads the structs.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/delta.h"
#include "common/err.h"
#include "common/log.h"
#include "store_internal.h"

int store__tombstoned(struct store *s, const char *id)
{
	return store__exists(s, "SELECT 1 FROM tombstones WHERE id = ?1", id, "tombstoned");
}

static int sync_read(struct store *s, struct store_sync *o)
{
	sqlite3_stmt *st;
	int rc = store__prepare(s,
				"SELECT cursor, latest, as_of_ms, snapshot, snapshot_seq, "
				"snapshot_after, (SELECT count(*) FROM tombstones) "
				"FROM sync_state WHERE id = 1",
				&st);
	if (rc < 0)
		return rc;
	memset(o, 0, sizeof *o);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		o->cursor = sqlite3_column_int64(st, 0);
		o->latest = sqlite3_column_int64(st, 1);
		o->as_of_ms = sqlite3_column_int64(st, 2);
		o->snapshot = sqlite3_column_int64(st, 3);
		o->snapshot_seq = sqlite3_column_int64(st, 4);
		snprintf(o->snapshot_after, sizeof o->snapshot_after, "%s",
			 (const char *)sqlite3_column_text(st, 5));
		o->tombstones = sqlite3_column_int64(st, 6);
	}
	sqlite3_reset(st);
	if (rc != SQLITE_ROW)
		return store__db_fail(s, "sync_read", rg_db_err(rc) ? rg_db_err(rc) : RG_ERR_DB);
	return 0;
}

int store__sync_load(struct store *s)
{
	struct store_sync y;
	int rc = sync_read(s, &y);
	if (rc == 0)
		s->snap_active = y.snapshot != 0;
	return rc;
}

int store_sync_get(struct store *s, struct store_sync *out)
{
	int rc;
	if (out)
		memset(out, 0, sizeof *out);
	if (!s || !out)
		return RG_ERR_INVAL;
	if ((rc = store__lock(s)) < 0)
		return rc;
	rc = sync_read(s, out);
	store__unlock(s);
	return rc;
}

/* ---- checks (before anything is written) ---- */

static int change_check(const struct store *s, const struct delta_change *c, char *why, size_t cap)
{
	if (!store__id_valid(c->id)) {
		snprintf(why, cap, "seq %lld: bad id", (long long)c->seq);
		return RG_ERR_PARSE;
	}
	switch (c->op) {
	case DELTA_MERGE:
	case DELTA_UNMERGE:
		if (!store__id_valid(c->other) || !strcmp(c->id, c->other)) {
			snprintf(why, cap, "seq %lld: bad into", (long long)c->seq);
			return RG_ERR_PARSE;
		}
		return 0;
	case DELTA_ERASE:
		return 0;
	case DELTA_PROFILE:
		break;
	default:
		snprintf(why, cap, "seq %lld: unknown op", (long long)c->seq);
		return RG_ERR_PARSE;
	}
	if (c->version < 0 || c->hlc > (uint64_t)INT64_MAX || !c->body ||
	    c->n_idents > DELTA_IDENTS_MAX || (c->n_idents && !c->idents)) {
		snprintf(why, cap, "profile %s: bad version, hlc or identifiers", c->id);
		return RG_ERR_PARSE;
	}
	for (size_t i = 0; i < c->n_idents; i++)
		if (!store__type_valid(c->idents[i].type)) {
			snprintf(why, cap, "profile %s: bad identifier type", c->id);
			return RG_ERR_PARSE;
		}
	if (store__json_object(c->body, c->body_len, STORE_BODY_MAX) < 0) {
		snprintf(why, cap, "profile %s: body is not a JSON object of at most %d bytes",
			 c->id, STORE_BODY_MAX);
		return RG_ERR_PARSE;
	}
	(void)s;
	return 0;
}

static int refuse(const char *what, int rc, const char *why)
{
	char q[300];
	rg_warn(STORE_COMP, "delta_refused", "what=%s error=%s detail=%s", what, rg_errname(rc),
		rg_log_quote(q, sizeof q, why));
	return rc;
}

/* ---- writing (inside the transaction) ---- */

/* Remove id's identifiers that are not in its set. Returns how many. */
static int idents_trim(struct store *s, const struct delta_change *c)
{
	sqlite3_stmt *st;
	uint8_t(*gone)[RG_TOKEN_LEN] = NULL;
	size_t n = 0, cap = 0;
	int rc;

	if ((rc = store__prepare(s, "SELECT token FROM identifiers WHERE profile_id = ?1", &st)) <
	    0)
		return rc;
	sqlite3_bind_text(st, 1, c->id, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const void *tok = sqlite3_column_blob(st, 0);
		bool keep = false;
		if (!tok || sqlite3_column_bytes(st, 0) != RG_TOKEN_LEN)
			continue;
		for (size_t i = 0; i < c->n_idents && !keep; i++)
			keep = !memcmp(tok, c->idents[i].token, RG_TOKEN_LEN);
		if (keep)
			continue;
		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 8;
			void *p = realloc(gone, ncap * sizeof *gone);
			if (!p) {
				sqlite3_reset(st);
				free(gone);
				return RG_ERR_NOMEM;
			}
			gone = p;
			cap = ncap;
		}
		memcpy(gone[n++], tok, RG_TOKEN_LEN);
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		free(gone);
		return store__db_fail(s, "idents_trim", rg_db_err(rc) ? rg_db_err(rc) : RG_ERR_DB);
	}
	rc = 0;
	for (size_t i = 0; i < n && rc == 0; i++) {
		if ((rc = store__prepare(s, "DELETE FROM identifiers WHERE token = ?1", &st)) < 0)
			break;
		sqlite3_bind_blob(st, 1, gone[i], RG_TOKEN_LEN, SQLITE_STATIC);
		rc = store__step_done(s, st, "idents_trim");
	}
	free(gone);
	return rc < 0 ? rc : (int)n;
}

static int apply_profile(struct store *s, const struct delta_change *c, int64_t now,
			 struct store_apply_stats *st)
{
	struct store_ident idents[DELTA_IDENTS_MAX];
	int rc;

	if ((rc = store__tombstoned(s, c->id)) != 0) {
		if (rc > 0) {
			st->tombstoned++;
			s->tombstone_refusals++;
		}
		return rc < 0 ? rc : 0;
	}
	if ((int64_t)(c->body_len + RG_AEAD_OVERHEAD) > s->max_bytes) {
		rg_warn(STORE_COMP, "delta_profile_skipped", "profile=%s bytes=%zu max_bytes=%lld",
			c->id, c->body_len, (long long)s->max_bytes);
		st->too_big++;
		return 0;
	}
	for (size_t i = 0; i < c->n_idents; i++)
		idents[i] =
		    (struct store_ident){.token = c->idents[i].token, .type = c->idents[i].type};
	struct store_profile p = {.id = c->id,
				  .version = c->version,
				  .hlc = c->hlc,
				  .body = c->body,
				  .body_len = c->body_len,
				  .idents = idents,
				  .n_idents = c->n_idents};
	if ((rc = store__profile_put(s, &p, now)) <= 0) {
		if (rc == 0)
			st->stale++;
		return rc;
	}
	st->written++;
	if ((rc = idents_trim(s, c)) < 0)
		return rc;
	st->idents_removed += rc;
	return 1;
}

static int unmerge_locked(struct store *s, const char *old_id)
{
	sqlite3_stmt *st;
	int rc = store__prepare(s, "DELETE FROM merges WHERE old_id = ?1", &st);
	if (rc < 0)
		return rc;
	sqlite3_bind_text(st, 1, old_id, -1, SQLITE_STATIC);
	if ((rc = store__step_done(s, st, "unmerge")) < 0)
		return rc;
	return sqlite3_changes(rg_db_handle(s->db)) > 0;
}

static int erase_locked(struct store *s, const char *id, int64_t seq, int64_t now)
{
	sqlite3_stmt *st;
	int rc, cached;

	if ((cached = store__profile_delete(s, id)) < 0)
		return cached;
	if ((rc = unmerge_locked(s, id)) < 0)
		return rc;
	if ((rc = store__prepare(s,
				 "INSERT INTO tombstones(id, seq, erased_ms) VALUES (?1, ?2, ?3) "
				 "ON CONFLICT(id) DO UPDATE SET seq = max(seq, excluded.seq)",
				 &st)) < 0)
		return rc;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, seq);
	sqlite3_bind_int64(st, 3, now);
	if ((rc = store__step_done(s, st, "erase")) < 0)
		return rc;
	rg_info(STORE_COMP, "profile_erased", "profile=%s seq=%lld cached=%d", id, (long long)seq,
		cached);
	return cached;
}

/* A tombstone keeps a late answer (a lookup in flight, a page rendered
 * before the erasure) from bringing an erased person back; such answers are
 * seconds old, so after STORE_TOMBSTONE_DAYS the id itself goes too. */
static int tombstones_expire(struct store *s, int64_t now, struct store_apply_stats *st)
{
	sqlite3_stmt *st_;
	int rc = store__prepare(s, "DELETE FROM tombstones WHERE erased_ms < ?1", &st_);
	if (rc < 0)
		return rc;
	sqlite3_bind_int64(st_, 1, now - (int64_t)STORE_TOMBSTONE_DAYS * 24 * 3600 * 1000);
	if ((rc = store__step_done(s, st_, "tombstones_expire")) < 0)
		return rc;
	st->tombstones_expired += sqlite3_changes(rg_db_handle(s->db));
	return 0;
}

static int sync_write(struct store *s, const struct store_sync *y, int64_t now)
{
	sqlite3_stmt *st;
	int rc = store__prepare(s,
				"UPDATE sync_state SET cursor = ?1, latest = ?2, as_of_ms = ?3, "
				"snapshot = ?4, snapshot_seq = ?5, snapshot_after = ?6, "
				"snapshot_as_of_ms = ?7, updated_ms = ?8 WHERE id = 1",
				&st);
	if (rc < 0)
		return rc;
	sqlite3_bind_int64(st, 1, y->cursor);
	sqlite3_bind_int64(st, 2, y->latest);
	sqlite3_bind_int64(st, 3, y->as_of_ms);
	sqlite3_bind_int64(st, 4, y->snapshot);
	sqlite3_bind_int64(st, 5, y->snapshot_seq);
	sqlite3_bind_text(st, 6, y->snapshot_after, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 7, y->snapshot ? y->as_of_ms : 0);
	sqlite3_bind_int64(st, 8, now);
	return store__step_done(s, st, "sync_write");
}

/* After the writes: evict down to the caps, persist the HLC, commit. */
static int finish(struct store *s, struct store_apply_stats *st, const char *what)
{
	int rc;
	if (st->written &&
	    ((rc = st->evicted = store__evict(s, NULL)) < 0 || (rc = store__hlc_save(s)) < 0))
		return rc;
	if ((rc = store__commit(s, what)) < 0)
		return rc;
	store__seen_clear(s);
	s->evicted += st->evicted;
	return 0;
}

static int page_locked(struct store *s, const struct delta_page *p, struct store_apply_stats *st)
{
	int64_t now = rg_clock_wall_ms(s->clock);
	struct store_sync y;
	char why[160];
	int rc;

	if ((rc = sync_read(s, &y)) < 0)
		return rc;
	if (y.snapshot) {
		snprintf(why, sizeof why, "a snapshot (%lld) is being fetched",
			 (long long)y.snapshot);
		return refuse("page", RG_ERR_STATE, why);
	}
	if (p->since != y.cursor) {
		snprintf(why, sizeof why, "since %lld is not the cursor %lld", (long long)p->since,
			 (long long)y.cursor);
		return refuse("page", RG_ERR_STATE, why);
	}
	if ((rc = store__begin(s, "page_apply")) < 0)
		return rc;
	if ((rc = store__seen_write(s)) < 0)
		goto fail;
	for (size_t i = 0; i < p->n; i++) {
		const struct delta_change *c = &p->changes[i];
		switch (c->op) {
		case DELTA_PROFILE:
			rc = apply_profile(s, c, now, st);
			break;
		case DELTA_MERGE:
			if ((rc = store__merge(s, c->id, c->other)) > 0)
				st->merges++;
			break;
		case DELTA_UNMERGE:
			if ((rc = unmerge_locked(s, c->id)) > 0)
				st->unmerges++;
			break;
		case DELTA_ERASE:
			if ((rc = erase_locked(s, c->id, c->seq, now)) >= 0)
				st->erases++;
			break;
		}
		if (rc < 0) {
			snprintf(why, sizeof why, "seq %lld (%s) could not be applied",
				 (long long)c->seq, c->id);
			refuse("page", rc, why);
			goto fail;
		}
	}
	y.cursor = p->next;
	y.latest = p->latest > p->next ? p->latest : p->next;
	y.as_of_ms = p->as_of_ms;
	if ((rc = sync_write(s, &y, now)) < 0 || (rc = tombstones_expire(s, now, st)) < 0 ||
	    (rc = finish(s, st, "page_apply")) < 0)
		goto fail;
	return 0;
fail:
	rg_db_rollback(s->db);
	memset(st, 0, sizeof *st);
	return rc;
}

int store_page_apply(struct store *s, const struct delta_page *p, struct store_apply_stats *out)
{
	struct store_apply_stats st = {0};
	char why[160];
	int rc;

	if (out)
		memset(out, 0, sizeof *out);
	if (!s || !p || (p->n && !p->changes))
		return RG_ERR_INVAL;
	if (p->snapshot_needed)
		return refuse("page", RG_ERR_INVAL, "snapshot_needed: no changes to apply");
	if (p->since < 0 || p->next < p->since || p->next > DELTA_SEQ_MAX) {
		snprintf(why, sizeof why, "next %lld before since %lld", (long long)p->next,
			 (long long)p->since);
		return refuse("page", RG_ERR_PARSE, why);
	}
	if (p->n > DELTA_CHANGES_MAX)
		return refuse("page", RG_ERR_PARSE, "too many changes");
	for (size_t i = 0; i < p->n; i++) {
		const struct delta_change *c = &p->changes[i];
		if (c->seq <= (i ? p->changes[i - 1].seq : p->since) || c->seq > p->next) {
			snprintf(why, sizeof why, "seq %lld out of order or outside (%lld, %lld]",
				 (long long)c->seq, (long long)p->since, (long long)p->next);
			return refuse("page", RG_ERR_PARSE, why);
		}
		if ((rc = change_check(s, c, why, sizeof why)) < 0)
			return refuse("page", rc, why);
	}
	if ((rc = store__lock(s)) < 0)
		return rc;
	rc = page_locked(s, p, &st);
	if (rc == 0 && st.erases)
		rg_db_scrub_wal(s->db, STORE_COMP); /* no page image of them left in the WAL */
	store__unlock(s);
	if (rc == 0) {
		rg_debug(STORE_COMP, "page_applied",
			 "since=%lld next=%lld changes=%zu written=%d stale=%d erased=%d",
			 (long long)p->since, (long long)p->next, p->n, st.written, st.stale,
			 st.erases);
		if (out)
			*out = st;
	}
	return rc;
}

/* ---- snapshots ---- */

static int snap_note(struct store *s, const char *id)
{
	sqlite3_stmt *st;
	int rc = store__prepare(s, "INSERT OR IGNORE INTO snapshot_ids(id) VALUES (?1)", &st);
	if (rc < 0)
		return rc;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	return store__step_done(s, st, "snapshot_note");
}

/* Delete every cached profile the snapshot did not include. */
static int sweep(struct store *s)
{
	sqlite3_stmt *st;
	char(*ids)[STORE_ID_MAX + 1] = NULL;
	size_t n = 0, cap = 0;
	int rc;

	if ((rc = store__prepare(s,
				 "SELECT id FROM profiles WHERE id NOT IN (SELECT id FROM "
				 "snapshot_ids)",
				 &st)) < 0)
		return rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 64;
			void *p = realloc(ids, ncap * sizeof *ids);
			if (!p) {
				sqlite3_reset(st);
				free(ids);
				return RG_ERR_NOMEM;
			}
			ids = p;
			cap = ncap;
		}
		snprintf(ids[n++], STORE_ID_MAX + 1, "%s",
			 (const char *)sqlite3_column_text(st, 0));
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		free(ids);
		return store__db_fail(s, "sweep", rg_db_err(rc) ? rg_db_err(rc) : RG_ERR_DB);
	}
	rc = 0;
	for (size_t i = 0; i < n && rc >= 0; i++)
		rc = store__profile_delete(s, ids[i]);
	free(ids);
	if (rc < 0)
		return rc;
	if ((rc = rg_db_exec(s->db, "DELETE FROM snapshot_ids")) < 0)
		return store__db_fail(s, "sweep", rc);
	return (int)n;
}

static int chunk_locked(struct store *s, const struct delta_chunk *c, struct store_apply_stats *st)
{
	int64_t now = rg_clock_wall_ms(s->clock);
	struct store_sync y;
	char why[200];
	int rc;

	if ((rc = sync_read(s, &y)) < 0)
		return rc;
	if (c->after[0] && (y.snapshot != c->snapshot || strcmp(y.snapshot_after, c->after))) {
		snprintf(why, sizeof why,
			 "chunk of snapshot %lld after \"%s\" does not continue snapshot %lld "
			 "after \"%s\"",
			 (long long)c->snapshot, c->after, (long long)y.snapshot, y.snapshot_after);
		return refuse("chunk", RG_ERR_STATE, why);
	}
	if ((rc = store__begin(s, "chunk_apply")) < 0)
		return rc;
	if ((rc = store__seen_write(s)) < 0)
		goto fail;
	if (!c->after[0] && (rc = rg_db_exec(s->db, "DELETE FROM snapshot_ids")) < 0) {
		store__db_fail(s, "chunk_apply", rc);
		goto fail;
	}
	s->snap_active = true; /* lookups writing meanwhile are noted (rolled back below) */
	for (size_t i = 0; i < c->n; i++) {
		if ((rc = snap_note(s, c->changes[i].id)) < 0 ||
		    (rc = apply_profile(s, &c->changes[i], now, st)) < 0)
			goto fail;
	}
	y.snapshot = c->snapshot;
	y.snapshot_seq = c->seq;
	y.as_of_ms = c->as_of_ms;
	if (c->n)
		snprintf(y.snapshot_after, sizeof y.snapshot_after, "%s", c->next_after);
	else
		snprintf(y.snapshot_after, sizeof y.snapshot_after, "%s", c->after);
	if (c->done) {
		if ((rc = sweep(s)) < 0)
			goto fail;
		st->swept = rc;
		y.cursor = c->seq;
		if (y.latest < c->seq)
			y.latest = c->seq;
		y.snapshot = 0;
		y.snapshot_seq = 0;
		y.snapshot_after[0] = '\0';
	}
	if ((rc = sync_write(s, &y, now)) < 0 || (rc = finish(s, st, "chunk_apply")) < 0)
		goto fail;
	s->snap_active = !c->done;
	return 0;
fail:
	rg_db_rollback(s->db);
	if (store__sync_load(s) < 0)
		s->snap_active = true;
	memset(st, 0, sizeof *st);
	return rc;
}

int store_chunk_apply(struct store *s, const struct delta_chunk *c, struct store_apply_stats *out)
{
	struct store_apply_stats st = {0};
	char why[160];
	int rc;

	if (out)
		memset(out, 0, sizeof *out);
	if (!s || !c || (c->n && !c->changes))
		return RG_ERR_INVAL;
	if (c->snapshot < 1 || c->seq < 0 || c->seq > DELTA_SEQ_MAX || c->n > DELTA_CHANGES_MAX ||
	    (c->after[0] && !store__id_valid(c->after)))
		return refuse("chunk", RG_ERR_PARSE, "bad snapshot id, seq, count or after");
	for (size_t i = 0; i < c->n; i++) {
		const struct delta_change *x = &c->changes[i];
		const char *prev = i ? c->changes[i - 1].id : c->after;
		if (x->op != DELTA_PROFILE || (prev[0] && strcmp(x->id, prev) <= 0)) {
			snprintf(why, sizeof why, "item %zu: not a profile or not in id order", i);
			return refuse("chunk", RG_ERR_PARSE, why);
		}
		if ((rc = change_check(s, x, why, sizeof why)) < 0)
			return refuse("chunk", rc, why);
	}
	if ((rc = store__lock(s)) < 0)
		return rc;
	rc = chunk_locked(s, c, &st);
	if (rc == 0 && st.swept)
		rg_db_scrub_wal(s->db, STORE_COMP);
	store__unlock(s);
	if (rc == 0) {
		rg_info(STORE_COMP, "chunk_applied",
			"snapshot=%lld after=%s profiles=%zu written=%d done=%d swept=%d",
			(long long)c->snapshot, c->after[0] ? c->after : "-", c->n, st.written,
			c->done, st.swept);
		if (out)
			*out = st;
	}
	return rc;
}

/* ---- single operations ---- */

int store_unmerge(struct store *s, const char *old_id, const char *new_id)
{
	int rc, r = 0;
	if (!s || !store__id_valid(old_id) || !store__id_valid(new_id) || !strcmp(old_id, new_id))
		return RG_ERR_INVAL;
	if ((rc = store__lock(s)) < 0)
		return rc;
	if ((rc = store__begin(s, "unmerge")) == 0) {
		if ((r = unmerge_locked(s, old_id)) < 0) {
			rg_db_rollback(s->db);
			rc = r;
		} else if ((rc = store__commit(s, "unmerge")) == 0) {
			rc = r;
		}
	}
	store__unlock(s);
	if (rc > 0)
		rg_info(STORE_COMP, "unmerge_recorded", "old=%s new=%s", old_id, new_id);
	return rc;
}

int store_erase(struct store *s, const char *id, int64_t seq)
{
	int rc, r = 0;
	if (!s || !store__id_valid(id) || seq < 0)
		return RG_ERR_INVAL;
	if ((rc = store__lock(s)) < 0)
		return rc;
	if ((rc = store__begin(s, "erase")) < 0)
		goto out;
	if ((rc = store__seen_write(s)) < 0 ||
	    (r = erase_locked(s, id, seq, rg_clock_wall_ms(s->clock))) < 0) {
		rg_db_rollback(s->db);
		rc = rc < 0 ? rc : r;
		goto out;
	}
	if ((rc = store__commit(s, "erase")) == 0) {
		store__seen_clear(s);
		rg_db_scrub_wal(s->db, STORE_COMP);
		rc = r;
	}
out:
	store__unlock(s);
	return rc;
}

int store_tombstoned(struct store *s, const char *id)
{
	int rc;
	if (!s || !store__id_valid(id))
		return RG_ERR_INVAL;
	if ((rc = store__lock(s)) < 0)
		return rc;
	rc = store__tombstoned(s, id);
	store__unlock(s);
	return rc;
}
