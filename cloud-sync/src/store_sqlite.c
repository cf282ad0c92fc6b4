/*
 * store_sqlite.c - the SQLite backend of the central profile store
 * (cloud/store.h, schema in sqlite_schema.c). Every write is one
 * BEGIN IMMEDIATE transaction, so several worker processes can share one
 * file: the write lock orders them, and the interaction id (UNIQUE) makes a
 * copy applied by another worker a no-op here. What a kind does is decided
 * by derive.c; this file only says it in SQL.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/log.h"
#include "common/uuid.h"
#include "sqlite_internal.h"

#define PREF_VALUE_MAX 1024

struct sq {
	struct rg_db *db;
	const struct rg_clock *clock;
};

static int sq_fail(struct sq *s, int rc, const char *what)
{
	char q[300];
	rg_error(CLOUD_COMP, "db_failed", "op=%s error=%s detail=%s", what, rg_errname(rc),
		 rg_log_quote(q, sizeof q, rg_db_errmsg(s->db)));
	return rc;
}

static int prep(struct sq *s, const char *sql, sqlite3_stmt **st)
{
	int rc = rg_db_prepare(s->db, sql, st);
	return rc < 0 ? sq_fail(s, rc, "prepare") : 0;
}

/* Step a statement that returns no row. */
static int done(struct sq *s, sqlite3_stmt *st, const char *what)
{
	int rc = sqlite3_step(st);
	if (rc == SQLITE_DONE || rc == SQLITE_ROW) {
		sqlite3_reset(st);
		return 0;
	}
	rc = rg_db_err(rc);
	sq_fail(s, rc, what);
	sqlite3_reset(st);
	return rc;
}

static int changed(struct sq *s)
{
	return sqlite3_changes(rg_db_handle(s->db));
}

static void col_text(sqlite3_stmt *st, int i, char *dst, size_t cap)
{
	const unsigned char *t = sqlite3_column_text(st, i);
	cloud__copy_utf8(dst, cap, t ? (const char *)t : "");
}

static int64_t now_ms(struct sq *s)
{
	return rg_clock_wall_ms(s->clock);
}

/* ---- open / close ---- */

static int sq_open(const struct cloud_store_opts *o, void **priv)
{
	struct rg_db_opts dbo = {.durability = RG_DB_DURABLE,
				 .busy_timeout_ms =
				     o->busy_timeout_ms > 0 ? o->busy_timeout_ms : 10000};
	char pragma[160];
	struct sq *s;
	int rc;

	if (!o->path || !*o->path || o->cache_mib < 0 || o->cache_mib > CLOUD_CACHE_MIB_MAX ||
	    o->mmap_mib < 0 || o->mmap_mib > CLOUD_MMAP_MIB_MAX)
		return RG_ERR_INVAL;
	if (!(s = calloc(1, sizeof *s)))
		return RG_ERR_NOMEM;
	s->clock = o->clock ? o->clock : rg_clock_system();
	if ((rc = rg_db_open(o->path, &dbo, &s->db)) < 0) {
		char q[300];
		rg_error(CLOUD_COMP, "open_failed", "path=%s error=%s",
			 rg_log_quote(q, sizeof q, o->path), rg_errname(rc));
		free(s);
		return rc;
	}
	/* A page cache big enough for the hot part of the profile and index
	 * pages (the default ~2 MB makes every item re-read pages from the OS),
	 * temporary tables in memory, and memory-mapped reads if asked for. */
	snprintf(pragma, sizeof pragma,
		 "PRAGMA cache_size=-%d; PRAGMA temp_store=MEMORY; PRAGMA mmap_size=%lld;",
		 (o->cache_mib > 0 ? o->cache_mib : CLOUD_CACHE_MIB_DEFAULT) * 1024,
		 (long long)(o->mmap_mib > 0 ? o->mmap_mib : 0) * 1024 * 1024);
	if ((rc = rg_db_exec(s->db, pragma)) < 0) {
		sq_fail(s, rc, "pragma");
		rg_db_close(s->db);
		free(s);
		return rc;
	}
	/* Two workers may race to create a fresh file: the loser waits for the
	 * winner's migration (BEGIN IMMEDIATE + busy timeout) and finds it done. */
	if ((rc = sq__migrate(s->db)) < 0) {
		rg_db_close(s->db);
		free(s);
		return rc;
	}
	*priv = s;
	return 0;
}

static void sq_close(void *priv)
{
	struct sq *s = priv;
	if (!s)
		return;
	rg_db_close(s->db);
	free(s);
}

/* ---- apply ---- */

struct target {
	int64_t pid; /* 0: none */
	char id[RG_WIRE_ID_MAX + 1];
	bool erased;
};

static int resolve(struct sq *s, const struct rg_wire_item *it, struct target *t)
{
	sqlite3_stmt *st;
	int rc;

	memset(t, 0, sizeof t[0]);
	if (!it->profile[0] && it->has_token) {
		if ((rc = prep(s, "SELECT profile_id FROM identifiers WHERE token = ?1", &st)) < 0)
			return rc;
		sqlite3_bind_blob(st, 1, it->token, RG_TOKEN_LEN, SQLITE_STATIC);
		rc = sqlite3_step(st);
		if (rc == SQLITE_ROW)
			col_text(st, 0, t->id, sizeof t->id);
		sqlite3_reset(st);
		if (rc != SQLITE_ROW && rc != SQLITE_DONE)
			return sq_fail(s, rg_db_err(rc), "resolve_token");
	} else {
		cloud__copy_utf8(t->id, sizeof t->id, it->profile);
	}
	if (!t->id[0])
		return 0;
	if ((rc = prep(s, "SELECT pid, erased FROM profiles WHERE id = ?1", &st)) < 0)
		return rc;
	sqlite3_bind_text(st, 1, t->id, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		t->pid = sqlite3_column_int64(st, 0);
		t->erased = sqlite3_column_int(st, 1) != 0;
	}
	sqlite3_reset(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return sq_fail(s, rg_db_err(rc), "resolve_profile");
	return 0;
}

/* 1 if the interaction id is already recorded. */
static int seen_before(struct sq *s, const char *id)
{
	sqlite3_stmt *st;
	int rc;
	if ((rc = prep(s, "SELECT 1 FROM interactions WHERE id = ?1", &st)) < 0)
		return rc;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc == SQLITE_ROW)
		return 1;
	return rc == SQLITE_DONE ? 0 : sq_fail(s, rg_db_err(rc), "seen_before");
}

/* Version + 1, stamp raised to hlc, and one change-log row. A visit_ms
 * also counts a visit at that wall time in the same statement (what an
 * `identified` item does), so the hot path runs one UPDATE, not two. */
static int bump(struct sq *s, const struct target *t, uint64_t hlc, const int64_t *visit_ms,
		const char *what, struct cloud_apply_result *r)
{
	sqlite3_stmt *st;
	int64_t version = 0, stamp = 0;
	int rc;

	if (visit_ms)
		rc = prep(s,
			  "UPDATE profiles SET visits = visits + 1,"
			  " last_seen_ms = max(last_seen_ms, ?4), version = version + 1,"
			  " hlc = max(hlc, ?2), updated_ms = ?3 WHERE pid = ?1"
			  " RETURNING version, hlc",
			  &st);
	else
		rc = prep(s,
			  "UPDATE profiles SET version = version + 1, hlc = max(hlc, ?2),"
			  " updated_ms = ?3 WHERE pid = ?1 RETURNING version, hlc",
			  &st);
	if (rc < 0)
		return rc;
	sqlite3_bind_int64(st, 1, t->pid);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)hlc);
	sqlite3_bind_int64(st, 3, now_ms(s));
	if (visit_ms)
		sqlite3_bind_int64(st, 4, *visit_ms);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		version = sqlite3_column_int64(st, 0);
		stamp = sqlite3_column_int64(st, 1);
	}
	sqlite3_reset(st);
	if (rc != SQLITE_ROW)
		return sq_fail(s, rc == SQLITE_DONE ? RG_ERR_NOTFOUND : rg_db_err(rc), "bump");
	if ((rc = prep(s,
		       "INSERT INTO changes(profile_id, version, hlc, what, at_ms)"
		       " VALUES (?1, ?2, ?3, ?4, ?5)",
		       &st)) < 0)
		return rc;
	sqlite3_bind_text(st, 1, t->id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, version);
	sqlite3_bind_int64(st, 3, stamp);
	sqlite3_bind_text(st, 4, what, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, now_ms(s));
	if ((rc = done(s, st, "change_append")) < 0)
		return rc;
	r->changes++;
	return 0;
}

static int recent_add(struct sq *s, const struct target *t, const struct rg_wire_item *it,
		      const char *id, const struct cloud__effect *e)
{
	char summary[CLOUD_SUMMARY_MAX + 1];
	sqlite3_stmt *st;
	int rc;

	cloud__copy_utf8(summary, sizeof summary, e->summary);
	if ((rc =
		 prep(s,
		      "INSERT OR IGNORE INTO recent(profile_id, hlc, interaction_id, kind, channel,"
		      " department, summary) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
		      &st)) < 0)
		return rc;
	sqlite3_bind_text(st, 1, t->id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)rg_hlc_pack(&it->hlc));
	sqlite3_bind_text(st, 3, id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, rg_kind_name(it->kind), -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, e->channel, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 6, e->department, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 7, summary, -1, SQLITE_STATIC);
	if ((rc = done(s, st, "recent_add")) < 0)
		return rc;
	/* keep the newest N: drop what is older than the N-th newest */
	if ((rc = prep(s,
		       "DELETE FROM recent WHERE profile_id = ?1 AND hlc < (SELECT hlc FROM recent"
		       " WHERE profile_id = ?1 ORDER BY hlc DESC LIMIT 1 OFFSET ?2)",
		       &st)) < 0)
		return rc;
	sqlite3_bind_text(st, 1, t->id, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 2, CLOUD_RECENT_MAX - 1);
	return done(s, st, "recent_trim");
}

static int episode_apply(struct sq *s, const struct target *t, const struct rg_wire_item *it,
			 const struct cloud__effect *e)
{
	char title[CLOUD_SUMMARY_MAX + 1];
	sqlite3_stmt *st;
	int rc;

	cloud__copy_utf8(title, sizeof title, e->title ? e->title : "");
	if ((rc = prep(
		 s,
		 "INSERT INTO episodes(profile_id, episode_id, department, title, status,"
		 " opened_hlc, updated_hlc) VALUES (?1, ?2, ?3, ?4, coalesce(?5, 'open'), ?6, ?6)"
		 " ON CONFLICT(profile_id, episode_id) DO UPDATE SET"
		 " department = CASE WHEN department = '' THEN excluded.department"
		 "   ELSE department END,"
		 " title = CASE WHEN title = '' THEN excluded.title ELSE title END,"
		 " status = CASE WHEN ?5 IS NOT NULL AND excluded.updated_hlc > updated_hlc"
		 "   THEN ?5 ELSE status END,"
		 " opened_hlc = min(opened_hlc, excluded.opened_hlc),"
		 " updated_hlc = max(updated_hlc, excluded.updated_hlc)",
		 &st)) < 0)
		return rc;
	sqlite3_bind_text(st, 1, t->id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, e->episode, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, e->department, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, title, -1, SQLITE_STATIC);
	if (e->status)
		sqlite3_bind_text(st, 5, e->status, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 6, (sqlite3_int64)rg_hlc_pack(&it->hlc));
	return done(s, st, "episode_apply");
}

/* 1 if the consent won (LWW by (hlc, device)), 0 if stale. */
static int consent_apply(struct sq *s, const struct target *t, const struct rg_wire_batch *b,
			 const struct rg_wire_item *it, const struct cloud__effect *e)
{
	sqlite3_stmt *st;
	int rc;
	if ((rc = prep(s,
		       "UPDATE profiles SET consent = ?2, consent_hlc = ?3, consent_dev = ?4"
		       " WHERE pid = ?1 AND (consent_hlc IS NULL OR (?3, ?4) > (consent_hlc,"
		       " consent_dev))",
		       &st)) < 0)
		return rc;
	sqlite3_bind_int64(st, 1, t->pid);
	sqlite3_bind_text(st, 2, e->consent, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)rg_hlc_pack(&it->hlc));
	sqlite3_bind_text(st, 4, b->device, -1, SQLITE_STATIC);
	if ((rc = done(s, st, "consent_apply")) < 0)
		return rc;
	return changed(s) > 0;
}

/* Per key LWW. Returns the number of keys that won. */
static int prefs_apply(struct sq *s, const struct target *t, const struct rg_wire_batch *b,
		       const struct rg_wire_item *it, const struct cloud__effect *e)
{
	const cJSON *v;
	sqlite3_stmt *st;
	int won = 0, rc;

	cJSON_ArrayForEach(v, e->prefs)
	{
		char *val;
		if (!cloud__pref_key_ok(v->string))
			continue;
		if (!(val = cJSON_PrintUnformatted(v)))
			return RG_ERR_NOMEM;
		if (strlen(val) > PREF_VALUE_MAX) {
			free(val);
			continue;
		}
		rc = prep(s,
			  "INSERT INTO preferences(profile_id, key, value, hlc, device)"
			  " SELECT ?1, ?2, ?3, ?4, ?5 WHERE EXISTS (SELECT 1 FROM preferences"
			  "   WHERE profile_id = ?1 AND key = ?2)"
			  "   OR (SELECT count(*) FROM preferences WHERE profile_id = ?1) < ?6"
			  " ON CONFLICT(profile_id, key) DO UPDATE SET value = excluded.value,"
			  " hlc = excluded.hlc, device = excluded.device"
			  " WHERE (excluded.hlc, excluded.device) > (hlc, device)",
			  &st);
		if (rc < 0) {
			free(val);
			return rc;
		}
		sqlite3_bind_text(st, 1, t->id, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, v->string, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 3, val, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 4, (sqlite3_int64)rg_hlc_pack(&it->hlc));
		sqlite3_bind_text(st, 5, b->device, -1, SQLITE_STATIC);
		sqlite3_bind_int(st, 6, CLOUD_PREFS_MAX);
		rc = done(s, st, "prefs_apply");
		free(val);
		if (rc < 0)
			return rc;
		won += changed(s) > 0;
	}
	return won;
}

static int link_apply(struct sq *s, const struct target *t, const struct rg_wire_item *it)
{
	const cJSON *ty = cJSON_GetObjectItemCaseSensitive(it->body, "type");
	char type[17] = "unknown";
	sqlite3_stmt *st;
	int rc;

	if (cJSON_IsString(ty) && strlen(ty->valuestring) >= 1 && strlen(ty->valuestring) <= 16)
		cloud__copy_utf8(type, sizeof type, ty->valuestring);
	if ((rc = prep(
		 s,
		 "INSERT INTO identifiers(token, profile_id, type, hlc) VALUES (?1, ?2, ?3, ?4)"
		 " ON CONFLICT(token) DO UPDATE SET profile_id = excluded.profile_id,"
		 " type = excluded.type, hlc = excluded.hlc WHERE excluded.hlc > hlc",
		 &st)) < 0)
		return rc;
	sqlite3_bind_blob(st, 1, it->token, RG_TOKEN_LEN, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, t->id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, type, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, (sqlite3_int64)rg_hlc_pack(&it->hlc));
	if ((rc = done(s, st, "link_apply")) < 0)
		return rc;
	return changed(s) > 0;
}

static int unknown_record(struct sq *s, const struct rg_wire_batch *b,
			  const struct rg_wire_item *it)
{
	sqlite3_stmt *st;
	int rc;
	if ((rc = prep(s,
		       "INSERT INTO unknown_tokens(token, first_hlc, last_hlc, count, last_device,"
		       " last_store) VALUES (?1, ?2, ?2, 1, ?3, ?4)"
		       " ON CONFLICT(token) DO UPDATE SET count = count + 1,"
		       " first_hlc = min(first_hlc, excluded.first_hlc),"
		       " last_hlc = max(last_hlc, excluded.last_hlc),"
		       " last_device = excluded.last_device, last_store = excluded.last_store",
		       &st)) < 0)
		return rc;
	sqlite3_bind_blob(st, 1, it->token, RG_TOKEN_LEN, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)rg_hlc_pack(&it->hlc));
	sqlite3_bind_text(st, 3, b->device, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, b->store, -1, SQLITE_STATIC);
	return done(s, st, "unknown_record");
}

/* The tombstone: derived state and identifiers go, the body becomes {},
 * and the bodies of the person's recorded interactions are scrubbed. */
static int erase(struct sq *s, const struct target *t, const struct rg_wire_item *it)
{
	static const char *const sqls[] = {
	    "UPDATE profiles SET erased = 1, erased_hlc = ?2, body = '{}', visits = 0,"
	    " last_seen_ms = 0, points_delta = 0, consent = NULL, consent_hlc = NULL,"
	    " consent_dev = NULL WHERE pid = ?1",
	    "DELETE FROM preferences WHERE profile_id = ?3",
	    "DELETE FROM episodes WHERE profile_id = ?3",
	    "DELETE FROM recent WHERE profile_id = ?3",
	    "DELETE FROM identifiers WHERE profile_id = ?3",
	    "UPDATE interactions SET body = '{}' WHERE resolved_id = ?3",
	};
	sqlite3_stmt *st;
	int rc;
	for (size_t i = 0; i < sizeof sqls / sizeof sqls[0]; i++) {
		if ((rc = prep(s, sqls[i], &st)) < 0)
			return rc;
		/* bind only the parameters each statement names */
		for (int p = 1; p <= sqlite3_bind_parameter_count(st); p++) {
			const char *name = sqlite3_bind_parameter_name(st, p);
			if (!name)
				continue;
			if (!strcmp(name, "?1"))
				sqlite3_bind_int64(st, p, t->pid);
			else if (!strcmp(name, "?2"))
				sqlite3_bind_int64(st, p, (sqlite3_int64)rg_hlc_pack(&it->hlc));
			else if (!strcmp(name, "?3"))
				sqlite3_bind_text(st, p, t->id, -1, SQLITE_STATIC);
		}
		if ((rc = done(s, st, "erase")) < 0)
			return rc;
	}
	return 0;
}

static int simple_update(struct sq *s, const char *sql, int64_t pid, int64_t v, const char *what)
{
	sqlite3_stmt *st;
	int rc;
	if ((rc = prep(s, sql, &st)) < 0)
		return rc;
	sqlite3_bind_int64(st, 1, pid);
	sqlite3_bind_int64(st, 2, v);
	return done(s, st, what);
}

/* Apply one item's effect to its resolved target. Returns the outcome. */
static int effect_apply(struct sq *s, const struct rg_wire_batch *b, const struct rg_wire_item *it,
			const char *id, const struct target *t, const struct cloud__effect *e,
			struct cloud_apply_result *r)
{
	uint64_t hlc = rg_hlc_pack(&it->hlc);
	const char *what = "update";
	int rc, won = 1;

	switch (it->kind) {
	case RG_KIND_IDENTIFIED:
		/* the visit is counted by bump() below, in the same UPDATE */
		rc = 0;
		break;
	case RG_KIND_POINTS_REDEEMED:
		rc = simple_update(
		    s, "UPDATE profiles SET points_delta = points_delta - ?2 WHERE pid = ?1",
		    t->pid, e->points, "points");
		if (rc == 0)
			rc = recent_add(s, t, it, id, e);
		break;
	case RG_KIND_NOTE:
		rc = recent_add(s, t, it, id, e);
		break;
	case RG_KIND_EPISODE_OPENED:
	case RG_KIND_EPISODE_UPDATED:
	case RG_KIND_EPISODE_RESOLVED:
		rc = episode_apply(s, t, it, e);
		if (rc == 0)
			rc = recent_add(s, t, it, id, e);
		break;
	case RG_KIND_CONSENT_CHANGED:
		rc = won = consent_apply(s, t, b, it, e);
		break;
	case RG_KIND_PREFERENCE_CHANGED:
		rc = won = prefs_apply(s, t, b, it, e);
		break;
	case RG_KIND_CARD_LINKED:
		rc = won = link_apply(s, t, it);
		what = "link";
		break;
	case RG_KIND_ERASURE_REQUESTED:
		rc = erase(s, t, it);
		what = "erase";
		break;
	default:
		rc = 0;
		won = 0; /* nothing of the profile changes */
		break;
	}
	if (rc < 0)
		return rc;
	if (!won)
		return it->kind == RG_KIND_UNKNOWN_IDENTIFIER ? CLOUD_OUT_APPLIED : CLOUD_OUT_STALE;
	if ((rc = bump(s, t, hlc, it->kind == RG_KIND_IDENTIFIED ? &it->hlc.wall_ms : NULL, what,
		       r)) < 0)
		return rc;
	return CLOUD_OUT_APPLIED;
}

static int record(struct sq *s, const struct rg_wire_batch *b, const struct rg_wire_item *it,
		  const char *id, const char *batch_id, const struct target *t,
		  enum cloud_outcome out, int64_t *seq)
{
	sqlite3_stmt *st;
	char *body = NULL;
	int rc;

	if (out != CLOUD_OUT_ERASED && !(body = cJSON_PrintUnformatted(it->body)))
		return RG_ERR_NOMEM;
	if ((rc = prep(s,
		       "INSERT INTO interactions(id, device, store, batch, hlc, kind, profile_id,"
		       " resolved_id, token, body, outcome, applied_ms)"
		       " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
		       &st)) < 0) {
		free(body);
		return rc;
	}
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, b->device, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, b->store, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, batch_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, (sqlite3_int64)rg_hlc_pack(&it->hlc));
	sqlite3_bind_text(st, 6, rg_kind_name(it->kind), -1, SQLITE_STATIC);
	if (it->profile[0])
		sqlite3_bind_text(st, 7, it->profile, -1, SQLITE_STATIC);
	if (t->pid)
		sqlite3_bind_text(st, 8, t->id, -1, SQLITE_STATIC);
	if (it->has_token)
		sqlite3_bind_blob(st, 9, it->token, RG_TOKEN_LEN, SQLITE_STATIC);
	sqlite3_bind_text(st, 10, body ? body : "{}", -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 11, cloud_outcome_name(out), -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 12, now_ms(s));
	rc = done(s, st, "record");
	free(body);
	if (rc < 0)
		return rc;
	*seq = sqlite3_last_insert_rowid(rg_db_handle(s->db));
	return 0;
}

/* The per-device order record of one lane, gathered over a batch and
 * written once at its end: the same counts as one upsert per item, where
 * an item is out of order when its stamp is not above every stamp applied
 * before it from that device and lane (stored, or earlier in the batch). */
struct lane_note {
	bool started;  /* the stored row was read */
	bool have_max; /* max_hlc holds a stamp */
	int64_t n, out_of_order, last_seq, max_hlc;
};

static int device_note(struct sq *s, const struct rg_wire_batch *b, const struct rg_wire_item *it,
		       int64_t seq, struct lane_note *lanes)
{
	enum rg_lane lane = rg_kind_lane(it->kind);
	struct lane_note *l;
	int64_t h = (int64_t)rg_hlc_pack(&it->hlc);
	sqlite3_stmt *st;
	int rc;

	if ((unsigned)lane >= RG_LANE__COUNT)
		return RG_ERR_INVAL;
	l = &lanes[lane];
	if (!l->started) {
		if ((rc = prep(s, "SELECT last_hlc FROM devices WHERE device = ?1 AND lane = ?2",
			       &st)) < 0)
			return rc;
		sqlite3_bind_text(st, 1, b->device, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, rg_lane_name(lane), -1, SQLITE_STATIC);
		rc = sqlite3_step(st);
		if (rc == SQLITE_ROW) {
			l->have_max = true;
			l->max_hlc = sqlite3_column_int64(st, 0);
		}
		sqlite3_reset(st);
		if (rc != SQLITE_ROW && rc != SQLITE_DONE)
			return sq_fail(s, rg_db_err(rc), "device_read");
		l->started = true;
	}
	if (l->have_max && h <= l->max_hlc)
		l->out_of_order++;
	if (!l->have_max || h > l->max_hlc)
		l->max_hlc = h;
	l->have_max = true;
	l->n++;
	l->last_seq = seq;
	return 0;
}

static int device_flush(struct sq *s, const struct rg_wire_batch *b, const struct lane_note *lanes)
{
	sqlite3_stmt *st;
	int rc;

	for (int lane = 0; lane < RG_LANE__COUNT; lane++) {
		const struct lane_note *l = &lanes[lane];
		if (!l->n)
			continue;
		if ((rc = prep(s,
			       "INSERT INTO devices(device, lane, store, applied, last_hlc, last_seq,"
			       " out_of_order, updated_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"
			       " ON CONFLICT(device, lane) DO UPDATE SET"
			       " applied = applied + excluded.applied,"
			       " out_of_order = out_of_order + excluded.out_of_order,"
			       " last_hlc = max(last_hlc, excluded.last_hlc),"
			       " last_seq = excluded.last_seq, store = excluded.store,"
			       " updated_ms = excluded.updated_ms",
			       &st)) < 0)
			return rc;
		sqlite3_bind_text(st, 1, b->device, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, rg_lane_name((enum rg_lane)lane), -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 3, b->store, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 4, l->n);
		sqlite3_bind_int64(st, 5, l->max_hlc);
		sqlite3_bind_int64(st, 6, l->last_seq);
		sqlite3_bind_int64(st, 7, l->out_of_order);
		sqlite3_bind_int64(st, 8, now_ms(s));
		if ((rc = done(s, st, "device_note")) < 0)
			return rc;
	}
	return 0;
}

/* The duplicate check stays a SELECT before anything is written: an INSERT
 * ignored on the UNIQUE id (OR IGNORE, ON CONFLICT DO NOTHING) still
 * consumes a value of the AUTOINCREMENT seq, so duplicates would leave gaps
 * in the order of application (interactions.seq, devices.last_seq). */
static int apply_item(struct sq *s, const struct rg_wire_batch *b, const struct rg_wire_item *it,
		      const char *batch_id, struct lane_note *lanes, struct cloud_apply_result *r)
{
	char id[RG_UUID_STR_LEN + 1];
	struct cloud__effect e;
	struct target t;
	int64_t seq = 0;
	int rc, out;

	rg_uuid_format(&it->id, id);
	if ((rc = seen_before(s, id)) != 0) {
		if (rc > 0)
			r->duplicates++;
		return rc < 0 ? rc : 0;
	}
	if ((rc = resolve(s, it, &t)) < 0)
		return rc;
	cloud__effect_read(it, &e);
	if (it->kind == RG_KIND_TELEMETRY) {
		out = CLOUD_OUT_APPLIED;
	} else if (it->kind == RG_KIND_UNKNOWN_IDENTIFIER && it->has_token && !t.pid) {
		out = (rc = unknown_record(s, b, it)) < 0 ? rc : CLOUD_OUT_APPLIED;
	} else if (!t.pid) {
		if (it->kind == RG_KIND_UNKNOWN_IDENTIFIER && it->has_token)
			rc = unknown_record(s, b, it);
		out = rc < 0 ? rc : CLOUD_OUT_UNKNOWN_PROFILE;
	} else if (t.erased) {
		out = CLOUD_OUT_ERASED;
	} else if (!e.usable) {
		out = CLOUD_OUT_INVALID;
	} else {
		out = effect_apply(s, b, it, id, &t, &e, r);
	}
	cloud__effect_clear(&e);
	if (out < 0)
		return out;
	if ((rc = record(s, b, it, id, batch_id, &t, (enum cloud_outcome)out, &seq)) < 0 ||
	    (rc = device_note(s, b, it, seq, lanes)) < 0)
		return rc;
	switch (out) {
	case CLOUD_OUT_APPLIED:
	case CLOUD_OUT_STALE:
		r->applied++;
		break;
	case CLOUD_OUT_ERASED:
		r->erased++;
		break;
	default:
		r->unresolved++;
		break;
	}
	return 0;
}

static int sq_apply_batch(void *priv, const struct rg_wire_batch *b, struct cloud_apply_result *r)
{
	struct sq *s = priv;
	struct lane_note lanes[RG_LANE__COUNT];
	char batch_id[RG_UUID_STR_LEN + 1];
	int rc;

	memset(lanes, 0, sizeof lanes);
	rg_uuid_format(&b->batch_id, batch_id);
	if ((rc = rg_db_begin(s->db)) < 0)
		return sq_fail(s, rc, "begin");
	for (size_t i = 0; i < b->n_items; i++)
		if ((rc = apply_item(s, b, &b->items[i], batch_id, lanes, r)) < 0)
			goto fail;
	if ((rc = device_flush(s, b, lanes)) < 0)
		goto fail;
	if ((rc = rg_db_commit(s->db)) < 0) {
		sq_fail(s, rc, "commit");
		goto fail;
	}
	return 0;
fail:
	rg_db_rollback(s->db);
	memset(r, 0, sizeof *r);
	return rc;
}

/* ---- reads ---- */

static int load_derived(struct sq *s, const char *id, struct cloud__derived *d)
{
	sqlite3_stmt *st;
	int rc;

	if ((rc = prep(s, "SELECT key, value FROM preferences WHERE profile_id = ?1 ORDER BY key",
		       &st)) < 0)
		return rc;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW && d->n_prefs < CLOUD_PREFS_MAX) {
		struct cloud__pref *p = &d->prefs[d->n_prefs];
		col_text(st, 0, p->key, sizeof p->key);
		if (!(p->value = strdup((const char *)sqlite3_column_text(st, 1)))) {
			sqlite3_reset(st);
			return RG_ERR_NOMEM;
		}
		d->n_prefs++;
	}
	sqlite3_reset(st);

	if ((rc = prep(s,
		       "SELECT episode_id, department, title, status, updated_hlc FROM episodes"
		       " WHERE profile_id = ?1 ORDER BY opened_hlc, episode_id",
		       &st)) < 0)
		return rc;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct cloud__episode *ep;
		struct rg_hlc h;
		if (!(d->n_episodes & 7)) {
			void *n = realloc(d->episodes, (d->n_episodes + 8) * sizeof *d->episodes);
			if (!n) {
				sqlite3_reset(st);
				return RG_ERR_NOMEM;
			}
			d->episodes = n;
		}
		ep = &d->episodes[d->n_episodes++];
		col_text(st, 0, ep->id, sizeof ep->id);
		col_text(st, 1, ep->department, sizeof ep->department);
		col_text(st, 2, ep->title, sizeof ep->title);
		col_text(st, 3, ep->status, sizeof ep->status);
		rg_hlc_unpack((uint64_t)sqlite3_column_int64(st, 4), &h);
		ep->updated_ms = h.wall_ms;
	}
	sqlite3_reset(st);

	if ((rc = prep(s,
		       "SELECT kind, channel, department, summary, hlc FROM recent"
		       " WHERE profile_id = ?1 ORDER BY hlc DESC, interaction_id DESC LIMIT ?2",
		       &st)) < 0)
		return rc;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 2, CLOUD_RECENT_MAX);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW && d->n_recent < CLOUD_RECENT_MAX) {
		struct cloud__recent *x = &d->recent[d->n_recent++];
		struct rg_hlc h;
		col_text(st, 0, x->kind, sizeof x->kind);
		col_text(st, 1, x->channel, sizeof x->channel);
		col_text(st, 2, x->department, sizeof x->department);
		col_text(st, 3, x->summary, sizeof x->summary);
		rg_hlc_unpack((uint64_t)sqlite3_column_int64(st, 4), &h);
		x->time_ms = h.wall_ms;
	}
	sqlite3_reset(st);
	return 0;
}

static int sq_profile_get(void *priv, const char *id, struct cloud_profile *out)
{
	struct sq *s = priv;
	struct cloud__derived d;
	sqlite3_stmt *st;
	char *base = NULL;
	size_t base_len = 0;
	int rc;

	memset(&d, 0, sizeof d);
	if ((rc = prep(s,
		       "SELECT id, version, hlc, body, erased, visits, last_seen_ms, points_delta,"
		       " consent FROM profiles WHERE id = ?1",
		       &st)) < 0)
		return rc;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		sqlite3_reset(st);
		return rc == SQLITE_DONE ? 0 : sq_fail(s, rg_db_err(rc), "profile_get");
	}
	col_text(st, 0, out->id, sizeof out->id);
	out->version = sqlite3_column_int64(st, 1);
	rg_hlc_unpack((uint64_t)sqlite3_column_int64(st, 2), &out->hlc);
	out->erased = sqlite3_column_int(st, 4) != 0;
	d.visits = sqlite3_column_int64(st, 5);
	d.last_seen_ms = sqlite3_column_int64(st, 6);
	d.points_delta = sqlite3_column_int64(st, 7);
	base_len = (size_t)sqlite3_column_bytes(st, 3);
	base = malloc(base_len + 1);
	if (base)
		memcpy(base, sqlite3_column_text(st, 3), base_len + 1);
	if (sqlite3_column_type(st, 8) == SQLITE_TEXT)
		d.consent = strdup((const char *)sqlite3_column_text(st, 8));
	sqlite3_reset(st);
	if (!base) {
		rc = RG_ERR_NOMEM;
		goto out;
	}
	if (out->erased) {
		if (!(out->body = strdup("{}")))
			rc = RG_ERR_NOMEM;
		else {
			out->body_len = 2;
			rc = 1;
		}
		goto out;
	}
	if ((rc = load_derived(s, out->id, &d)) < 0 ||
	    (rc = cloud__render(base, base_len, &d, out)) < 0)
		goto out;
	rc = 1;
out:
	free(base);
	cloud__derived_clear(&d);
	if (rc <= 0)
		cloud_profile_clear(out);
	return rc;
}

static int sq_profile_by_token(void *priv, const uint8_t token[RG_TOKEN_LEN],
			       struct cloud_profile *out)
{
	struct sq *s = priv;
	char id[RG_WIRE_ID_MAX + 1] = "";
	sqlite3_stmt *st;
	int rc;

	if ((rc = prep(s, "SELECT profile_id FROM identifiers WHERE token = ?1", &st)) < 0)
		return rc;
	sqlite3_bind_blob(st, 1, token, RG_TOKEN_LEN, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		col_text(st, 0, id, sizeof id);
	sqlite3_reset(st);
	if (rc != SQLITE_ROW)
		return rc == SQLITE_DONE ? 0 : sq_fail(s, rg_db_err(rc), "profile_by_token");
	rc = sq_profile_get(priv, id, out);
	if (rc == 1 && out->erased) {
		cloud_profile_clear(out);
		return 0;
	}
	return rc;
}

/* ---- seeding ---- */

static int seed_one(struct sq *s, const struct cloud_seed_profile *p, uint64_t hlc)
{
	struct target t;
	sqlite3_stmt *st;
	int rc;

	memset(&t, 0, sizeof t);
	if ((rc = prep(s,
		       "INSERT INTO profiles(id, version, hlc, body, updated_ms)"
		       " VALUES (?1, ?2, ?3, ?4, ?5)"
		       " ON CONFLICT(id) DO UPDATE SET version = excluded.version,"
		       " hlc = max(hlc, excluded.hlc), body = excluded.body,"
		       " updated_ms = excluded.updated_ms"
		       " WHERE excluded.version > version AND erased = 0"
		       " RETURNING pid, version, hlc",
		       &st)) < 0)
		return rc;
	sqlite3_bind_text(st, 1, p->id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, p->version);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)hlc);
	sqlite3_bind_text(st, 4, p->body, (int)p->body_len, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, now_ms(s));
	rc = sqlite3_step(st);
	int64_t version = 0, stamp = 0;
	if (rc == SQLITE_ROW) {
		t.pid = sqlite3_column_int64(st, 0);
		version = sqlite3_column_int64(st, 1);
		stamp = sqlite3_column_int64(st, 2);
	}
	/* step to the end so the RETURNING statement completes */
	while (rc == SQLITE_ROW)
		rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return sq_fail(s, rg_db_err(rc), "seed_profile");
	if (!t.pid)
		return 0; /* stored version is newer or equal, or erased */
	for (size_t i = 0; i < p->n_tokens; i++) {
		if ((rc = prep(s,
			       "INSERT INTO identifiers(token, profile_id, type, hlc)"
			       " VALUES (?1, ?2, ?3, ?4) ON CONFLICT(token) DO UPDATE SET"
			       " profile_id = excluded.profile_id, type = excluded.type,"
			       " hlc = excluded.hlc",
			       &st)) < 0)
			return rc;
		sqlite3_bind_blob(st, 1, p->tokens[i], RG_TOKEN_LEN, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, p->id, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 3, p->token_types ? p->token_types[i] : "unknown", -1,
				  SQLITE_STATIC);
		sqlite3_bind_int64(st, 4, (sqlite3_int64)hlc);
		if ((rc = done(s, st, "seed_identifier")) < 0)
			return rc;
	}
	if ((rc = prep(s,
		       "INSERT INTO changes(profile_id, version, hlc, what, at_ms)"
		       " VALUES (?1, ?2, ?3, 'seed', ?4)",
		       &st)) < 0)
		return rc;
	sqlite3_bind_text(st, 1, p->id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, version);
	sqlite3_bind_int64(st, 3, stamp);
	sqlite3_bind_int64(st, 4, now_ms(s));
	if ((rc = done(s, st, "seed_change")) < 0)
		return rc;
	return 1;
}

static int sq_seed(void *priv, const struct cloud_seed_profile *p, size_t n)
{
	struct sq *s = priv;
	struct rg_hlc h = {.wall_ms = now_ms(s), .logical = 0};
	int rc, written = 0;

	for (size_t i = 0; i < n; i++)
		if (!p[i].id || !p[i].body || p[i].version < 0 ||
		    p[i].body_len > CLOUD_PROFILE_BODY_MAX || (p[i].n_tokens && !p[i].tokens))
			return RG_ERR_INVAL;
	if ((rc = rg_db_begin(s->db)) < 0)
		return sq_fail(s, rc, "begin");
	for (size_t i = 0; i < n; i++) {
		if ((rc = seed_one(s, &p[i], rg_hlc_pack(&h))) < 0)
			goto fail;
		written += rc;
	}
	if ((rc = rg_db_commit(s->db)) < 0) {
		sq_fail(s, rc, "commit");
		goto fail;
	}
	return written;
fail:
	rg_db_rollback(s->db);
	return rc;
}

/* ---- inspection ---- */

static int sq_interaction_get(void *priv, const struct rg_uuid *id, struct cloud_interaction *out)
{
	struct sq *s = priv;
	char text[RG_UUID_STR_LEN + 1], outcome[24];
	sqlite3_stmt *st;
	int rc;

	rg_uuid_format(id, text);
	if ((rc = prep(s,
		       "SELECT seq, device, store, kind, coalesce(resolved_id, ''), hlc, outcome"
		       " FROM interactions WHERE id = ?1",
		       &st)) < 0)
		return rc;
	sqlite3_bind_text(st, 1, text, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		out->seq = sqlite3_column_int64(st, 0);
		col_text(st, 1, out->device, sizeof out->device);
		col_text(st, 2, out->store, sizeof out->store);
		col_text(st, 3, out->kind, sizeof out->kind);
		col_text(st, 4, out->profile, sizeof out->profile);
		rg_hlc_unpack((uint64_t)sqlite3_column_int64(st, 5), &out->hlc);
		col_text(st, 6, outcome, sizeof outcome);
		out->outcome = CLOUD_OUT__COUNT;
		for (int o = 0; o < CLOUD_OUT__COUNT; o++)
			if (!strcmp(outcome, cloud_outcome_name((enum cloud_outcome)o)))
				out->outcome = (enum cloud_outcome)o;
	}
	sqlite3_reset(st);
	if (rc == SQLITE_ROW)
		return 1;
	return rc == SQLITE_DONE ? 0 : sq_fail(s, rg_db_err(rc), "interaction_get");
}

static int sq_device_get(void *priv, const char *device, enum rg_lane lane,
			 struct cloud_device_state *out)
{
	struct sq *s = priv;
	sqlite3_stmt *st;
	int rc;

	if ((rc = prep(s,
		       "SELECT applied, last_hlc, last_seq, out_of_order FROM devices"
		       " WHERE device = ?1 AND lane = ?2",
		       &st)) < 0)
		return rc;
	sqlite3_bind_text(st, 1, device, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, rg_lane_name(lane), -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		out->applied = sqlite3_column_int64(st, 0);
		rg_hlc_unpack((uint64_t)sqlite3_column_int64(st, 1), &out->last_hlc);
		out->last_seq = sqlite3_column_int64(st, 2);
		out->out_of_order = sqlite3_column_int64(st, 3);
	}
	sqlite3_reset(st);
	if (rc == SQLITE_ROW)
		return 1;
	return rc == SQLITE_DONE ? 0 : sq_fail(s, rg_db_err(rc), "device_get");
}

static int sq_changes_since(void *priv, int64_t after, struct cloud_change *out, size_t cap)
{
	struct sq *s = priv;
	sqlite3_stmt *st;
	size_t n = 0;
	int rc;

	if ((rc = prep(s,
		       "SELECT seq, profile_id, version, hlc, what FROM changes WHERE seq > ?1"
		       " ORDER BY seq LIMIT ?2",
		       &st)) < 0)
		return rc;
	sqlite3_bind_int64(st, 1, after);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)cap);
	while (n < cap && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct cloud_change *c = &out[n++];
		c->seq = sqlite3_column_int64(st, 0);
		col_text(st, 1, c->profile, sizeof c->profile);
		c->version = sqlite3_column_int64(st, 2);
		rg_hlc_unpack((uint64_t)sqlite3_column_int64(st, 3), &c->hlc);
		col_text(st, 4, c->what, sizeof c->what);
	}
	sqlite3_reset(st);
	if (cap && rc != SQLITE_ROW && rc != SQLITE_DONE)
		return sq_fail(s, rg_db_err(rc), "changes_since");
	return (int)n;
}

static int count_of(struct sq *s, const char *sql, int64_t *out)
{
	sqlite3_stmt *st;
	int rc;
	if ((rc = prep(s, sql, &st)) < 0)
		return rc;
	rc = sqlite3_step(st);
	*out = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
	sqlite3_reset(st);
	return rc == SQLITE_ROW ? 0 : sq_fail(s, rg_db_err(rc), "stats");
}

static int sq_stats(void *priv, struct cloud_store_stats *out)
{
	struct sq *s = priv;
	sqlite3_stmt *st;
	int rc;

	if ((rc = count_of(s, "SELECT count(*) FROM profiles WHERE erased = 0", &out->profiles)) <
		0 ||
	    (rc = count_of(s, "SELECT count(*) FROM profiles WHERE erased = 1", &out->erased)) <
		0 ||
	    (rc = count_of(s, "SELECT count(*) FROM identifiers", &out->identifiers)) < 0 ||
	    (rc = count_of(s, "SELECT count(*) FROM interactions", &out->interactions)) < 0 ||
	    (rc = count_of(s, "SELECT count(*) FROM unknown_tokens", &out->unknown_tokens)) < 0 ||
	    (rc = count_of(s, "SELECT count(*) FROM interactions WHERE kind = 'telemetry'",
			   &out->telemetry)) < 0 ||
	    (rc = count_of(s, "SELECT coalesce(max(seq), 0) FROM changes", &out->last_change_seq)) <
		0)
		return rc;
	if ((rc = prep(s, "SELECT outcome, count(*) FROM interactions GROUP BY outcome", &st)) < 0)
		return rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *o = (const char *)sqlite3_column_text(st, 0);
		for (int i = 0; o && i < CLOUD_OUT__COUNT; i++)
			if (!strcmp(o, cloud_outcome_name((enum cloud_outcome)i)))
				out->outcomes[i] = sqlite3_column_int64(st, 1);
	}
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : sq_fail(s, rg_db_err(rc), "stats");
}

static int sq_unknown_token_get(void *priv, const uint8_t token[RG_TOKEN_LEN], int64_t *n)
{
	struct sq *s = priv;
	sqlite3_stmt *st;
	int rc;
	if ((rc = prep(s, "SELECT count FROM unknown_tokens WHERE token = ?1", &st)) < 0)
		return rc;
	sqlite3_bind_blob(st, 1, token, RG_TOKEN_LEN, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*n = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	if (rc == SQLITE_ROW)
		return 1;
	return rc == SQLITE_DONE ? 0 : sq_fail(s, rg_db_err(rc), "unknown_token_get");
}

const struct cloud_store_ops cloud__sqlite_ops = {
    .version = CLOUD_STORE_OPS_VERSION,
    .name = "sqlite",
    .open = sq_open,
    .close = sq_close,
    .apply_batch = sq_apply_batch,
    .profile_get = sq_profile_get,
    .profile_by_token = sq_profile_by_token,
    .seed = sq_seed,
    .interaction_get = sq_interaction_get,
    .device_get = sq_device_get,
    .changes_since = sq_changes_since,
    .stats = sq_stats,
    .unknown_token_get = sq_unknown_token_get,
};
