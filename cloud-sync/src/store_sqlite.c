/*
 * store_sqlite.c - the SQLite backend of the central profile store
 * (cloud/store.h, schema in sqlite_schema.c): open, the apply path shared
 * by device batches and imported interactions, reads, seeding. Every write
 * is one BEGIN IMMEDIATE transaction, so several worker processes can share
 * one file: the write lock orders them, and the interaction id (UNIQUE)
 * makes a copy applied by another worker a no-op here. What a kind does is
 * decided by derive.c; this file only says it in SQL. The identity graph
 * (link, merge, unmerge, erase, replay) is in sqlite_graph.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/log.h"
#include "common/uuid.h"
#include "sqlite_internal.h"

#define PREF_VALUE_MAX 1024

int sq__fail(struct sq *s, int rc, const char *what)
{
	char q[300];
	rg_error(CLOUD_COMP, "db_failed", "op=%s error=%s detail=%s", what, rg_errname(rc),
		 rg_log_quote(q, sizeof q, rg_db_errmsg(s->db)));
	return rc;
}

int sq__prep(struct sq *s, const char *sql, sqlite3_stmt **st)
{
	int rc = rg_db_prepare(s->db, sql, st);
	return rc < 0 ? sq__fail(s, rc, "prepare") : 0;
}

/* Step a statement that returns no row. */
int sq__done(struct sq *s, sqlite3_stmt *st, const char *what)
{
	int rc = sqlite3_step(st);
	if (rc == SQLITE_DONE || rc == SQLITE_ROW) {
		sqlite3_reset(st);
		return 0;
	}
	rc = rg_db_err(rc);
	sq__fail(s, rc, what);
	sqlite3_reset(st);
	return rc;
}

int sq__changed(struct sq *s)
{
	return sqlite3_changes(rg_db_handle(s->db));
}

void sq__col_text(sqlite3_stmt *st, int i, char *dst, size_t cap)
{
	const unsigned char *t = sqlite3_column_text(st, i);
	cloud__copy_utf8(dst, cap, t ? (const char *)t : "");
}

int64_t sq__now_ms(struct sq *s)
{
	return rg_clock_wall_ms(s->clock);
}

/* ---- open / close ---- */

static int sq_open(const struct cloud_store_opts *o, void **priv)
{
	struct rg_db_opts dbo = {.durability = RG_DB_DURABLE,
				 .busy_timeout_ms =
				     o->busy_timeout_ms > 0 ? o->busy_timeout_ms : 10000};
	char pragma[256];
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
	 * temporary tables in memory, and memory-mapped reads if asked for.
	 * Checkpoints every SQ_WAL_PAGES pages instead of SQLite's 1000: items
	 * for random people dirty pages all over the indexes, and a page that
	 * many commits wrote is copied back once per checkpoint, not once per
	 * 1000 pages; the WAL file is cut back to SQ_WAL_KEEP_MIB after one. */
	snprintf(pragma, sizeof pragma,
		 "PRAGMA cache_size=-%d; PRAGMA temp_store=MEMORY; PRAGMA mmap_size=%lld;"
		 " PRAGMA wal_autocheckpoint=%d; PRAGMA journal_size_limit=%lld;",
		 (o->cache_mib > 0 ? o->cache_mib : CLOUD_CACHE_MIB_DEFAULT) * 1024,
		 (long long)(o->mmap_mib > 0 ? o->mmap_mib : 0) * 1024 * 1024, SQ_WAL_PAGES,
		 (long long)SQ_WAL_KEEP_MIB * 1024 * 1024);
	if ((rc = rg_db_exec(s->db, pragma)) < 0) {
		sq__fail(s, rc, "pragma");
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

int sq__root_of(struct sq *s, const char *id, struct sq__target *t)
{
	char cur[RG_WIRE_ID_MAX + 1];
	sqlite3_stmt *st;
	int rc;

	memset(t, 0, sizeof *t);
	cloud__copy_utf8(t->addressed, sizeof t->addressed, id);
	cloud__copy_utf8(cur, sizeof cur, id);
	for (int hop = 0; hop < SQ_REDIRECT_HOPS_MAX; hop++) {
		if ((rc = sq__prep(s, "SELECT pid, erased, merged_into FROM profiles WHERE id = ?1",
				   &st)) < 0)
			return rc;
		sqlite3_bind_text(st, 1, cur, -1, SQLITE_TRANSIENT);
		rc = sqlite3_step(st);
		if (rc != SQLITE_ROW) {
			sqlite3_reset(st);
			return rc == SQLITE_DONE ? 0 : sq__fail(s, rg_db_err(rc), "resolve_profile");
		}
		if (sqlite3_column_type(st, 2) == SQLITE_NULL) {
			t->pid = sqlite3_column_int64(st, 0);
			t->erased = sqlite3_column_int(st, 1) != 0;
			cloud__copy_utf8(t->id, sizeof t->id, cur);
			sqlite3_reset(st);
			return 1;
		}
		sq__col_text(st, 2, cur, sizeof cur);
		sqlite3_reset(st);
	}
	rg_error(CLOUD_COMP, "redirect_loop", "profile=%s hops=%d", id, SQ_REDIRECT_HOPS_MAX);
	return RG_ERR_STATE;
}

/* An item names its profile, or only a token: then the token's owner is
 * the profile it addressed and the token's holder (the survivor of any
 * merge) the person it counts for. */
static int resolve(struct sq *s, const struct sq__item *x, struct sq__target *t)
{
	char cand[RG_WIRE_ID_MAX + 1] = "", owner[RG_WIRE_ID_MAX + 1] = "";
	sqlite3_stmt *st;
	int rc;

	memset(t, 0, sizeof *t);
	if (!x->profile[0] && x->has_token) {
		if ((rc = sq__prep(s,
				   "SELECT profile_id, coalesce(owner_id, profile_id) FROM identifiers"
				   " WHERE token = ?1",
				   &st)) < 0)
			return rc;
		sqlite3_bind_blob(st, 1, x->token, RG_TOKEN_LEN, SQLITE_STATIC);
		rc = sqlite3_step(st);
		if (rc == SQLITE_ROW) {
			sq__col_text(st, 0, cand, sizeof cand);
			sq__col_text(st, 1, owner, sizeof owner);
		}
		sqlite3_reset(st);
		if (rc != SQLITE_ROW && rc != SQLITE_DONE)
			return sq__fail(s, rg_db_err(rc), "resolve_token");
	} else {
		cloud__copy_utf8(cand, sizeof cand, x->profile);
		cloud__copy_utf8(owner, sizeof owner, x->profile);
	}
	if (!cand[0])
		return 0;
	if ((rc = sq__root_of(s, cand, t)) < 0)
		return rc;
	cloud__copy_utf8(t->addressed, sizeof t->addressed, owner);
	return 0;
}

/* 1 if the interaction id is already recorded. */
static int seen_before(struct sq *s, const char *id)
{
	sqlite3_stmt *st;
	int rc;
	if ((rc = sq__prep(s, "SELECT 1 FROM interactions WHERE id = ?1", &st)) < 0)
		return rc;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc == SQLITE_ROW)
		return 1;
	return rc == SQLITE_DONE ? 0 : sq__fail(s, rg_db_err(rc), "seen_before");
}

/* The profile's version up (and its visit, when visit_ms), and a change-log
 * row with the new version and stamp. No RETURNING: SQLite builds a
 * temporary table for every execution of one, on the path of every item. */
int sq__bump(struct sq *s, int64_t pid, const char *id, uint64_t hlc, const int64_t *visit_ms,
	     const char *what, const char *other, size_t *changes)
{
	sqlite3_stmt *st;
	int rc;

	if (visit_ms)
		rc = sq__prep(s,
			      "UPDATE profiles SET visits = visits + 1,"
			      " last_seen_ms = max(last_seen_ms, ?4), version = version + 1,"
			      " hlc = max(hlc, ?2), updated_ms = ?3 WHERE pid = ?1",
			      &st);
	else
		rc = sq__prep(s,
			      "UPDATE profiles SET version = version + 1, hlc = max(hlc, ?2),"
			      " updated_ms = ?3 WHERE pid = ?1",
			      &st);
	if (rc < 0)
		return rc;
	sqlite3_bind_int64(st, 1, pid);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)hlc);
	sqlite3_bind_int64(st, 3, sq__now_ms(s));
	if (visit_ms)
		sqlite3_bind_int64(st, 4, *visit_ms);
	if ((rc = sq__done(s, st, "bump")) < 0)
		return rc;
	if (sq__changed(s) != 1)
		return sq__fail(s, RG_ERR_NOTFOUND, "bump");
	if ((rc = sq__prep(s,
			   "INSERT INTO changes(profile_id, version, hlc, what, at_ms, other_id)"
			   " SELECT ?1, version, hlc, ?4, ?5, ?6 FROM profiles WHERE pid = ?2",
			   &st)) < 0)
		return rc;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, pid);
	sqlite3_bind_text(st, 4, what, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, sq__now_ms(s));
	if (other)
		sqlite3_bind_text(st, 6, other, -1, SQLITE_STATIC);
	if ((rc = sq__done(s, st, "change_append")) < 0)
		return rc;
	if (changes)
		(*changes)++;
	return 0;
}

static int recent_add(struct sq *s, const struct sq__target *t, const struct sq__item *x,
		      const struct cloud__effect *e)
{
	char summary[CLOUD_SUMMARY_MAX + 1];
	sqlite3_stmt *st;
	int rc;

	cloud__copy_utf8(summary, sizeof summary, e->summary);
	if ((rc = sq__prep(
		 s,
		 "INSERT OR IGNORE INTO recent(profile_id, hlc, interaction_id, kind, channel,"
		 " department, summary) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
		 &st)) < 0)
		return rc;
	sqlite3_bind_text(st, 1, t->id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)x->hlc);
	sqlite3_bind_text(st, 3, x->id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, cloud__kind_name(x->kind), -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, e->channel, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 6, e->department, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 7, summary, -1, SQLITE_STATIC);
	if ((rc = sq__done(s, st, "recent_add")) < 0)
		return rc;
	/* keep the newest N: drop what is older than the N-th newest */
	if ((rc = sq__prep(
		 s,
		 "DELETE FROM recent WHERE profile_id = ?1 AND hlc < (SELECT hlc FROM recent"
		 " WHERE profile_id = ?1 ORDER BY hlc DESC LIMIT 1 OFFSET ?2)",
		 &st)) < 0)
		return rc;
	sqlite3_bind_text(st, 1, t->id, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 2, CLOUD_RECENT_MAX - 1);
	return sq__done(s, st, "recent_trim");
}

/* Episodes: created by whichever item comes first; status by LWW on
 * updated_hlc; department filled when empty, or moved by episode_assigned
 * (LWW on assigned_hlc). */
static int episode_apply(struct sq *s, const struct sq__target *t, const struct sq__item *x,
			 const struct cloud__effect *e)
{
	char title[CLOUD_SUMMARY_MAX + 1];
	sqlite3_stmt *st;
	int rc;

	cloud__copy_utf8(title, sizeof title, e->title ? e->title : "");
	if ((rc = sq__prep(
		 s,
		 "INSERT INTO episodes(profile_id, episode_id, department, title, status,"
		 " opened_hlc, updated_hlc, assigned_hlc)"
		 " VALUES (?1, ?2, ?3, ?4, coalesce(?5, 'open'), ?6, ?6, ?7)"
		 " ON CONFLICT(profile_id, episode_id) DO UPDATE SET"
		 " department = CASE WHEN ?7 > assigned_hlc THEN excluded.department"
		 "   WHEN department = '' THEN excluded.department ELSE department END,"
		 " assigned_hlc = max(assigned_hlc, ?7),"
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
	sqlite3_bind_int64(st, 6, (sqlite3_int64)x->hlc);
	sqlite3_bind_int64(st, 7, e->assign ? (sqlite3_int64)x->hlc : 0);
	return sq__done(s, st, "episode_apply");
}

/* 1 if the consent won (LWW by (hlc, device)), 0 if stale. */
static int consent_apply(struct sq *s, const struct sq__target *t, const struct sq__item *x,
			 const struct cloud__effect *e)
{
	sqlite3_stmt *st;
	int rc;
	if ((rc = sq__prep(s,
			   "UPDATE profiles SET consent = ?2, consent_hlc = ?3, consent_dev = ?4"
			   " WHERE pid = ?1 AND (consent_hlc IS NULL OR (?3, ?4) > (consent_hlc,"
			   " consent_dev))",
			   &st)) < 0)
		return rc;
	sqlite3_bind_int64(st, 1, t->pid);
	sqlite3_bind_text(st, 2, e->consent, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)x->hlc);
	sqlite3_bind_text(st, 4, x->device, -1, SQLITE_STATIC);
	if ((rc = sq__done(s, st, "consent_apply")) < 0)
		return rc;
	return sq__changed(s) > 0;
}

/* Per key LWW. Returns the number of keys that won. */
static int prefs_apply(struct sq *s, const struct sq__target *t, const struct sq__item *x,
		       const struct cloud__effect *e)
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
		rc = sq__prep(s,
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
		sqlite3_bind_int64(st, 4, (sqlite3_int64)x->hlc);
		sqlite3_bind_text(st, 5, x->device, -1, SQLITE_STATIC);
		sqlite3_bind_int(st, 6, CLOUD_PREFS_MAX);
		rc = sq__done(s, st, "prefs_apply");
		free(val);
		if (rc < 0)
			return rc;
		won += sq__changed(s) > 0;
	}
	return won;
}

/* A device's card link: the token now counts for the person; its owner is
 * the profile the item named (an unmerge gives it back to that one). */
static int link_apply(struct sq *s, const struct sq__target *t, const struct sq__item *x)
{
	const cJSON *ty = cJSON_GetObjectItemCaseSensitive(x->body, "type");
	char type[17] = "unknown";
	sqlite3_stmt *st;
	int rc;

	if (cJSON_IsString(ty) && strlen(ty->valuestring) >= 1 && strlen(ty->valuestring) <= 16)
		cloud__copy_utf8(type, sizeof type, ty->valuestring);
	if ((rc = sq__prep(
		 s,
		 "INSERT INTO identifiers(token, profile_id, type, hlc, owner_id)"
		 " VALUES (?1, ?2, ?3, ?4, ?5)"
		 " ON CONFLICT(token) DO UPDATE SET profile_id = excluded.profile_id,"
		 " type = excluded.type, hlc = excluded.hlc, owner_id = excluded.owner_id"
		 " WHERE excluded.hlc > hlc",
		 &st)) < 0)
		return rc;
	sqlite3_bind_blob(st, 1, x->token, RG_TOKEN_LEN, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, t->id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, type, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, (sqlite3_int64)x->hlc);
	sqlite3_bind_text(st, 5, t->addressed[0] ? t->addressed : t->id, -1, SQLITE_STATIC);
	if ((rc = sq__done(s, st, "link_apply")) < 0)
		return rc;
	return sq__changed(s) > 0;
}

static int unknown_record(struct sq *s, const struct sq__item *x)
{
	sqlite3_stmt *st;
	int rc;
	if ((rc = sq__prep(
		 s,
		 "INSERT INTO unknown_tokens(token, first_hlc, last_hlc, count, last_device,"
		 " last_store) VALUES (?1, ?2, ?2, 1, ?3, ?4)"
		 " ON CONFLICT(token) DO UPDATE SET count = count + 1,"
		 " first_hlc = min(first_hlc, excluded.first_hlc),"
		 " last_hlc = max(last_hlc, excluded.last_hlc),"
		 " last_device = excluded.last_device, last_store = excluded.last_store",
		 &st)) < 0)
		return rc;
	sqlite3_bind_blob(st, 1, x->token, RG_TOKEN_LEN, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)x->hlc);
	sqlite3_bind_text(st, 3, x->device, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, x->store, -1, SQLITE_STATIC);
	return sq__done(s, st, "unknown_record");
}

static int simple_update(struct sq *s, const char *sql, int64_t pid, int64_t v, const char *what)
{
	sqlite3_stmt *st;
	int rc;
	if ((rc = sq__prep(s, sql, &st)) < 0)
		return rc;
	sqlite3_bind_int64(st, 1, pid);
	sqlite3_bind_int64(st, 2, v);
	return sq__done(s, st, what);
}

void sq__effect_of(const struct sq__item *x, struct cloud__effect *e)
{
	cloud__effect_read(x->kind, x->body, x->has_token, e);
	if (x->channel)
		e->channel = x->channel;
	if (x->department)
		e->department = x->department;
	if (e->assign && !*e->department)
		e->usable = false; /* assigned to no department */
}

int sq__effect_apply(struct sq *s, const struct sq__item *x, const struct sq__target *t,
		     const struct cloud__effect *e, bool replay, const char *what,
		     size_t *changes)
{
	bool visit = false;
	int rc, won = 1;

	switch (x->kind) {
	case RG_KIND_IDENTIFIED:
	case CLOUD_KIND_VISIT:
		/* live: the visit is counted by sq__bump below, in the same UPDATE */
		visit = true;
		rc = !replay ? 0
			     : simple_update(s,
					     "UPDATE profiles SET visits = visits + 1,"
					     " last_seen_ms = max(last_seen_ms, ?2) WHERE pid = ?1",
					     t->pid, x->h.wall_ms, "visit");
		break;
	case RG_KIND_POINTS_REDEEMED:
	case CLOUD_KIND_POINTS_EARNED:
		rc = simple_update(
		    s, "UPDATE profiles SET points_delta = points_delta - ?2 WHERE pid = ?1",
		    t->pid, e->points, "points");
		if (rc == 0)
			rc = recent_add(s, t, x, e);
		break;
	case RG_KIND_NOTE:
	case CLOUD_KIND_ORDER:
		rc = recent_add(s, t, x, e);
		break;
	case RG_KIND_EPISODE_OPENED:
	case RG_KIND_EPISODE_UPDATED:
	case RG_KIND_EPISODE_RESOLVED:
	case CLOUD_KIND_EPISODE_ASSIGNED:
		rc = episode_apply(s, t, x, e);
		if (rc == 0)
			rc = recent_add(s, t, x, e);
		break;
	case RG_KIND_CONSENT_CHANGED:
		rc = won = consent_apply(s, t, x, e);
		what = "consent"; /* priority lane: announced to the gateways at once */
		break;
	case RG_KIND_PREFERENCE_CHANGED:
		rc = won = prefs_apply(s, t, x, e);
		break;
	case RG_KIND_CARD_LINKED:
		if (replay)
			return CLOUD_OUT_APPLIED; /* identifiers are the graph, not derived */
		rc = won = link_apply(s, t, x);
		what = "link";
		break;
	case RG_KIND_ERASURE_REQUESTED:
		if (replay)
			return CLOUD_OUT_APPLIED;
		rc = sq__erase_person(s, t, x->hlc, changes);
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
		return x->kind == RG_KIND_UNKNOWN_IDENTIFIER ? CLOUD_OUT_APPLIED : CLOUD_OUT_STALE;
	if (replay)
		return CLOUD_OUT_APPLIED;
	if ((rc = sq__bump(s, t->pid, t->id, x->hlc, visit ? &x->h.wall_ms : NULL, what, NULL,
			   changes)) < 0)
		return rc;
	return CLOUD_OUT_APPLIED;
}

/* The interaction row. It keeps the profile the item addressed (or its
 * token's owner), so an unmerge can give it back; the body and token of an
 * item for an erased person are not kept. */
static int record(struct sq *s, const struct sq__item *x, const struct sq__target *t,
		  enum cloud_outcome out, int64_t *seq)
{
	bool scrubbed = out == CLOUD_OUT_ERASED || x->kind == RG_KIND_ERASURE_REQUESTED;
	sqlite3_stmt *st;
	char *body = NULL;
	int rc;

	if (!scrubbed && !(body = cJSON_PrintUnformatted(x->body)))
		return RG_ERR_NOMEM;
	if ((rc = sq__prep(
		 s,
		 "INSERT INTO interactions(id, device, store, batch, hlc, kind, profile_id,"
		 " resolved_id, token, body, outcome, applied_ms, channel, department)"
		 " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
		 &st)) < 0) {
		free(body);
		return rc;
	}
	sqlite3_bind_text(st, 1, x->id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, x->device, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, x->store, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, x->batch, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, (sqlite3_int64)x->hlc);
	sqlite3_bind_text(st, 6, cloud__kind_name(x->kind), -1, SQLITE_STATIC);
	if (x->profile[0])
		sqlite3_bind_text(st, 7, x->profile, -1, SQLITE_STATIC);
	if (t->pid)
		sqlite3_bind_text(st, 8, t->addressed[0] ? t->addressed : t->id, -1,
				  SQLITE_STATIC);
	if (x->has_token && !scrubbed)
		sqlite3_bind_blob(st, 9, x->token, RG_TOKEN_LEN, SQLITE_STATIC);
	sqlite3_bind_text(st, 10, body ? body : "{}", -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 11, cloud_outcome_name(out), -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 12, sq__now_ms(s));
	if (x->channel)
		sqlite3_bind_text(st, 13, x->channel, -1, SQLITE_STATIC);
	if (x->department)
		sqlite3_bind_text(st, 14, x->department, -1, SQLITE_STATIC);
	rc = sq__done(s, st, "record");
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

static int device_note(struct sq *s, const struct sq__item *x, int64_t seq,
		       struct lane_note *lanes)
{
	enum rg_lane lane = rg_kind_lane((enum rg_kind)x->kind);
	struct lane_note *l;
	int64_t h = (int64_t)x->hlc;
	sqlite3_stmt *st;
	int rc;

	if ((unsigned)lane >= RG_LANE__COUNT)
		return RG_ERR_INVAL;
	l = &lanes[lane];
	if (!l->started) {
		if ((rc = sq__prep(s,
				   "SELECT last_hlc FROM devices WHERE device = ?1 AND lane = ?2",
				   &st)) < 0)
			return rc;
		sqlite3_bind_text(st, 1, x->device, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, rg_lane_name(lane), -1, SQLITE_STATIC);
		rc = sqlite3_step(st);
		if (rc == SQLITE_ROW) {
			l->have_max = true;
			l->max_hlc = sqlite3_column_int64(st, 0);
		}
		sqlite3_reset(st);
		if (rc != SQLITE_ROW && rc != SQLITE_DONE)
			return sq__fail(s, rg_db_err(rc), "device_read");
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
		if ((rc = sq__prep(
			 s,
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
		sqlite3_bind_int64(st, 8, sq__now_ms(s));
		if ((rc = sq__done(s, st, "device_note")) < 0)
			return rc;
	}
	return 0;
}

/* The duplicate check stays a SELECT before anything is written: an INSERT
 * ignored on the UNIQUE id (OR IGNORE, ON CONFLICT DO NOTHING) still
 * consumes a value of the AUTOINCREMENT seq, so duplicates would leave gaps
 * in the order of application (interactions.seq, devices.last_seq).
 * lanes: device items (the per-device order record); NULL for imports. */
static int apply_item(struct sq *s, const struct sq__item *x, struct lane_note *lanes,
		      const char *what, struct cloud_apply_result *r)
{
	struct cloud__effect e;
	struct sq__target t;
	int64_t seq = 0;
	int rc, out;

	if ((rc = seen_before(s, x->id)) != 0) {
		if (rc > 0)
			r->duplicates++;
		return rc < 0 ? rc : 0;
	}
	if ((rc = resolve(s, x, &t)) < 0)
		return rc;
	sq__effect_of(x, &e);
	if (x->kind == RG_KIND_TELEMETRY) {
		out = CLOUD_OUT_APPLIED;
	} else if (x->kind == RG_KIND_UNKNOWN_IDENTIFIER && x->has_token && !t.pid) {
		out = (rc = unknown_record(s, x)) < 0 ? rc : CLOUD_OUT_APPLIED;
	} else if (!t.pid) {
		if (x->kind == RG_KIND_UNKNOWN_IDENTIFIER && x->has_token)
			rc = unknown_record(s, x);
		out = rc < 0 ? rc : CLOUD_OUT_UNKNOWN_PROFILE;
	} else if (t.erased) {
		out = CLOUD_OUT_ERASED;
	} else if (!e.usable) {
		out = CLOUD_OUT_INVALID;
	} else {
		out = sq__effect_apply(s, x, &t, &e, false, what, &r->changes);
	}
	cloud__effect_clear(&e);
	if (out < 0)
		return out;
	if ((rc = record(s, x, &t, (enum cloud_outcome)out, &seq)) < 0 ||
	    (lanes && (rc = device_note(s, x, seq, lanes)) < 0))
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

/* One batch's items and its per-device order record, inside the caller's
 * transaction. */
static int apply_items(struct sq *s, const struct rg_wire_batch *b, struct cloud_apply_result *r)
{
	struct lane_note lanes[RG_LANE__COUNT];
	char batch_id[RG_UUID_STR_LEN + 1];
	int rc;

	memset(lanes, 0, sizeof lanes);
	rg_uuid_format(&b->batch_id, batch_id);
	for (size_t i = 0; i < b->n_items; i++) {
		const struct rg_wire_item *it = &b->items[i];
		char id[RG_UUID_STR_LEN + 1];
		struct sq__item x = {.id = id,
				     .h = it->hlc,
				     .hlc = rg_hlc_pack(&it->hlc),
				     .kind = (int)it->kind,
				     .profile = it->profile,
				     .has_token = it->has_token,
				     .token = it->token,
				     .body = it->body,
				     .device = b->device,
				     .store = b->store,
				     .batch = batch_id};
		rg_uuid_format(&it->id, id);
		if ((rc = apply_item(s, &x, lanes, "update", r)) < 0)
			return rc;
	}
	return device_flush(s, b, lanes);
}

static int sq_apply_batches(void *priv, const struct rg_wire_batch *const *bs, size_t n,
			    struct cloud_apply_result *rs, int *rcs);

static int sq_apply_batch(void *priv, const struct rg_wire_batch *b, struct cloud_apply_result *r)
{
	const struct rg_wire_batch *one[1] = {b};
	int rc1 = 0, rc = sq_apply_batches(priv, one, 1, r, &rc1);
	return rc < 0 ? rc : rc1;
}

/* One batch in a transaction of its own: rcs-style result. */
static int apply_alone(struct sq *s, const struct rg_wire_batch *b, struct cloud_apply_result *r)
{
	int rc;

	memset(r, 0, sizeof *r);
	if ((rc = rg_db_begin(s->db)) < 0)
		return sq__fail(s, rc, "begin");
	if ((rc = apply_items(s, b, r)) == 0 && (rc = rg_db_commit(s->db)) < 0)
		sq__fail(s, rc, "commit");
	if (rc < 0) {
		rg_db_rollback(s->db);
		memset(r, 0, sizeof *r);
	}
	sq__scrub_finish(s);
	return rc;
}

/* n batches under one commit: the commit's sync and the pages that several
 * batches share are written once. Optimistic: if one batch fails, the whole
 * transaction is rolled back and each batch is applied again in a
 * transaction of its own, so the failing one fails alone (rcs[i] < 0, rs[i]
 * zero) and the others commit. (Not a savepoint per batch: with one open,
 * SQLite copies every page a batch touches into its sub-journal, about a
 * fifth of the apply.) A failed group commit fails them all. */
static int sq_apply_batches(void *priv, const struct rg_wire_batch *const *bs, size_t n,
			    struct cloud_apply_result *rs, int *rcs)
{
	struct sq *s = priv;
	size_t ok = 0;
	int rc = 0;

	memset(rs, 0, n * sizeof *rs);
	memset(rcs, 0, n * sizeof *rcs);
	if (n == 1)
		return rcs[0] = apply_alone(s, bs[0], &rs[0]);
	if ((rc = rg_db_begin(s->db)) < 0)
		return sq__fail(s, rc, "begin");
	for (size_t k = 0; k < n && rc == 0; k++)
		rc = apply_items(s, bs[k], &rs[k]);
	if (rc == 0) {
		if ((rc = rg_db_commit(s->db)) == 0) {
			sq__scrub_finish(s);
			return 0;
		}
		sq__fail(s, rc, "commit");
		rg_db_rollback(s->db);
		sq__scrub_finish(s);
		memset(rs, 0, n * sizeof *rs);
		for (size_t k = 0; k < n; k++)
			rcs[k] = rc;
		return rc;
	}
	rg_db_rollback(s->db);
	sq__scrub_finish(s);
	/* one batch failed: each on its own, none after a failed one of its
	 * device (its order) */
	for (size_t k = 0; k < n; k++)
		if (cloud_store_held_back(bs, rcs, k))
			rc = rcs[k] = RG_ERR_STATE;
		else if ((rcs[k] = apply_alone(s, bs[k], &rs[k])) == 0)
			ok++;
		else
			rc = rcs[k];
	return ok ? 0 : rc;
}

/* Imported interactions go the device items' way (same effects, same
 * idempotency) under device "import", with their channel and department
 * recorded apart; no per-device order record. */
static int sq_import(void *priv, const struct cloud_import_item *items, size_t n,
		     struct cloud_apply_result *r)
{
	struct sq *s = priv;
	int rc;

	if ((rc = rg_db_begin(s->db)) < 0)
		return sq__fail(s, rc, "begin");
	for (size_t i = 0; i < n; i++) {
		const struct cloud_import_item *it = &items[i];
		char id[RG_UUID_STR_LEN + 1];
		int kind = cloud__kind_parse(it->kind);
		struct sq__item x = {.id = id,
				     .h = it->hlc,
				     .hlc = rg_hlc_pack(&it->hlc),
				     .kind = kind,
				     .profile = it->profile ? it->profile : "",
				     .has_token = it->has_token,
				     .token = it->token,
				     .body = it->body,
				     .device = "import",
				     .store = "",
				     .batch = "import",
				     .channel = it->channel,
				     .department = it->department ? it->department : ""};
		if (kind < 0) {
			rc = RG_ERR_INVAL;
			goto fail;
		}
		rg_uuid_format(&it->id, id);
		if ((rc = apply_item(s, &x, NULL, "import", r)) < 0)
			goto fail;
	}
	if ((rc = rg_db_commit(s->db)) < 0) {
		sq__fail(s, rc, "commit");
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

	if ((rc = sq__prep(s, "SELECT key, value FROM preferences WHERE profile_id = ?1 ORDER BY key",
		       &st)) < 0)
		return rc;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW && d->n_prefs < CLOUD_PREFS_MAX) {
		struct cloud__pref *p = &d->prefs[d->n_prefs];
		sq__col_text(st, 0, p->key, sizeof p->key);
		if (!(p->value = strdup((const char *)sqlite3_column_text(st, 1)))) {
			sqlite3_reset(st);
			return RG_ERR_NOMEM;
		}
		d->n_prefs++;
	}
	sqlite3_reset(st);

	if ((rc = sq__prep(s,
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
		sq__col_text(st, 0, ep->id, sizeof ep->id);
		sq__col_text(st, 1, ep->department, sizeof ep->department);
		sq__col_text(st, 2, ep->title, sizeof ep->title);
		sq__col_text(st, 3, ep->status, sizeof ep->status);
		rg_hlc_unpack((uint64_t)sqlite3_column_int64(st, 4), &h);
		ep->updated_ms = h.wall_ms;
	}
	sqlite3_reset(st);

	if ((rc = sq__prep(s,
		       "SELECT kind, channel, department, summary, hlc FROM recent"
		       " WHERE profile_id = ?1 ORDER BY hlc DESC, interaction_id DESC LIMIT ?2",
		       &st)) < 0)
		return rc;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 2, CLOUD_RECENT_MAX);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW && d->n_recent < CLOUD_RECENT_MAX) {
		struct cloud__recent *x = &d->recent[d->n_recent++];
		struct rg_hlc h;
		sq__col_text(st, 0, x->kind, sizeof x->kind);
		sq__col_text(st, 1, x->channel, sizeof x->channel);
		sq__col_text(st, 2, x->department, sizeof x->department);
		sq__col_text(st, 3, x->summary, sizeof x->summary);
		rg_hlc_unpack((uint64_t)sqlite3_column_int64(st, 4), &h);
		x->time_ms = h.wall_ms;
	}
	sqlite3_reset(st);
	return 0;
}

/* The imported points of the profiles merged into root: a merge adds up
 * the loyalty balances the people brought (an unmerge takes them apart). */
static int members_points(struct sq *s, const char *root, int64_t *sum)
{
	sqlite3_stmt *st;
	int rc;

	*sum = 0;
	if ((rc = sq__prep(s,
			   "WITH RECURSIVE m(id) AS (SELECT id FROM profiles WHERE merged_into = ?1"
			   " UNION SELECT p.id FROM profiles p JOIN m ON p.merged_into = m.id)"
			   " SELECT p.body FROM profiles p JOIN m ON p.id = m.id",
			   &st)) < 0)
		return rc;
	sqlite3_bind_text(st, 1, root, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		cJSON *b = cJSON_ParseWithLength((const char *)sqlite3_column_text(st, 0),
						 (size_t)sqlite3_column_bytes(st, 0));
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(b, "points");
		if (cJSON_IsNumber(v) && v->valuedouble > -1e15 && v->valuedouble < 1e15)
			*sum += (int64_t)v->valuedouble;
		cJSON_Delete(b);
	}
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : sq__fail(s, rg_db_err(rc), "members_points");
}

/* A merged-away id answers with its survivor (hops bounded). */
static int profile_get_at(struct sq *s, const char *id, struct cloud_profile *out, int hops)
{
	struct cloud__derived d;
	char next[RG_WIRE_ID_MAX + 1] = "";
	sqlite3_stmt *st;
	char *base = NULL;
	size_t base_len = 0;
	int64_t extra = 0;
	int rc;

	memset(&d, 0, sizeof d);
	if ((rc = sq__prep(s,
			   "SELECT id, version, hlc, body, erased, visits, last_seen_ms, points_delta,"
			   " consent, merged_into FROM profiles WHERE id = ?1",
			   &st)) < 0)
		return rc;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		sqlite3_reset(st);
		return rc == SQLITE_DONE ? 0 : sq__fail(s, rg_db_err(rc), "profile_get");
	}
	if (sqlite3_column_type(st, 9) != SQLITE_NULL) {
		sq__col_text(st, 9, next, sizeof next);
		sqlite3_reset(st);
		if (hops >= SQ_REDIRECT_HOPS_MAX)
			return RG_ERR_STATE;
		return profile_get_at(s, next, out, hops + 1);
	}
	sq__col_text(st, 0, out->id, sizeof out->id);
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
	if ((rc = load_derived(s, out->id, &d)) < 0 || (rc = members_points(s, out->id, &extra)) < 0)
		goto out;
	d.points_delta += extra;
	if ((rc = cloud__render(base, base_len, &d, out)) < 0)
		goto out;
	rc = 1;
out:
	free(base);
	cloud__derived_clear(&d);
	if (rc <= 0)
		cloud_profile_clear(out);
	return rc;
}

static int sq_profile_get(void *priv, const char *id, struct cloud_profile *out)
{
	return profile_get_at(priv, id, out, 0);
}

int sq__profile_get(struct sq *s, const char *id, struct cloud_profile *out)
{
	return profile_get_at(s, id, out, 0);
}

static int sq_profile_by_token(void *priv, const uint8_t token[RG_TOKEN_LEN],
			       struct cloud_profile *out)
{
	struct sq *s = priv;
	char id[RG_WIRE_ID_MAX + 1] = "";
	sqlite3_stmt *st;
	int rc;

	if ((rc = sq__prep(s, "SELECT profile_id FROM identifiers WHERE token = ?1", &st)) < 0)
		return rc;
	sqlite3_bind_blob(st, 1, token, RG_TOKEN_LEN, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		sq__col_text(st, 0, id, sizeof id);
	sqlite3_reset(st);
	if (rc != SQLITE_ROW)
		return rc == SQLITE_DONE ? 0 : sq__fail(s, rg_db_err(rc), "profile_by_token");
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
	struct sq__target t;
	bool merged = false;
	sqlite3_stmt *st;
	int rc;

	memset(&t, 0, sizeof t);
	cloud__copy_utf8(t.id, sizeof t.id, p->id);
	if ((rc = sq__prep(s,
		       "INSERT INTO profiles(id, version, hlc, body, updated_ms)"
		       " VALUES (?1, ?2, ?3, ?4, ?5)"
		       " ON CONFLICT(id) DO UPDATE SET version = excluded.version,"
		       " hlc = max(hlc, excluded.hlc), body = excluded.body,"
		       " updated_ms = excluded.updated_ms"
		       " WHERE excluded.version > version AND erased = 0"
		       " RETURNING pid, version, hlc, merged_into IS NOT NULL",
		       &st)) < 0)
		return rc;
	sqlite3_bind_text(st, 1, p->id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, p->version);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)hlc);
	sqlite3_bind_text(st, 4, p->body, (int)p->body_len, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, sq__now_ms(s));
	rc = sqlite3_step(st);
	int64_t version = 0, stamp = 0;
	if (rc == SQLITE_ROW) {
		t.pid = sqlite3_column_int64(st, 0);
		version = sqlite3_column_int64(st, 1);
		stamp = sqlite3_column_int64(st, 2);
		merged = sqlite3_column_int(st, 3) != 0;
	}
	/* step to the end so the RETURNING statement completes */
	while (rc == SQLITE_ROW)
		rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return sq__fail(s, rg_db_err(rc), "seed_profile");
	if (!t.pid)
		return 0; /* stored version is newer or equal, or erased */
	/* a profile merged away: its cards count for its survivor */
	if (merged && (rc = sq__root_of(s, p->id, &t)) < 0)
		return rc;
	for (size_t i = 0; i < p->n_tokens; i++) {
		if ((rc = sq__prep(s,
			       "INSERT INTO identifiers(token, profile_id, type, hlc, owner_id)"
			       " VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT(token) DO UPDATE SET"
			       " profile_id = excluded.profile_id, type = excluded.type,"
			       " hlc = excluded.hlc, owner_id = excluded.owner_id",
			       &st)) < 0)
			return rc;
		sqlite3_bind_blob(st, 1, p->tokens[i], RG_TOKEN_LEN, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, t.id, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 5, p->id, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 3, p->token_types ? p->token_types[i] : "unknown", -1,
				  SQLITE_STATIC);
		sqlite3_bind_int64(st, 4, (sqlite3_int64)hlc);
		if ((rc = sq__done(s, st, "seed_identifier")) < 0)
			return rc;
	}
	if ((rc = sq__prep(s,
		       "INSERT INTO changes(profile_id, version, hlc, what, at_ms)"
		       " VALUES (?1, ?2, ?3, 'seed', ?4)",
		       &st)) < 0)
		return rc;
	sqlite3_bind_text(st, 1, p->id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, version);
	sqlite3_bind_int64(st, 3, stamp);
	sqlite3_bind_int64(st, 4, sq__now_ms(s));
	if ((rc = sq__done(s, st, "seed_change")) < 0)
		return rc;
	return 1;
}

static int sq_seed(void *priv, const struct cloud_seed_profile *p, size_t n)
{
	struct sq *s = priv;
	struct rg_hlc h = {.wall_ms = sq__now_ms(s), .logical = 0};
	int rc, written = 0;

	for (size_t i = 0; i < n; i++)
		if (!p[i].id || !p[i].body || p[i].version < 0 ||
		    p[i].body_len > CLOUD_PROFILE_BODY_MAX || (p[i].n_tokens && !p[i].tokens))
			return RG_ERR_INVAL;
	if ((rc = rg_db_begin(s->db)) < 0)
		return sq__fail(s, rc, "begin");
	for (size_t i = 0; i < n; i++) {
		if ((rc = seed_one(s, &p[i], rg_hlc_pack(&h))) < 0)
			goto fail;
		written += rc;
	}
	if ((rc = rg_db_commit(s->db)) < 0) {
		sq__fail(s, rc, "commit");
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
	if ((rc = sq__prep(s,
		       "SELECT seq, device, store, kind, coalesce(resolved_id, ''), hlc, outcome"
		       " FROM interactions WHERE id = ?1",
		       &st)) < 0)
		return rc;
	sqlite3_bind_text(st, 1, text, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		out->seq = sqlite3_column_int64(st, 0);
		sq__col_text(st, 1, out->device, sizeof out->device);
		sq__col_text(st, 2, out->store, sizeof out->store);
		sq__col_text(st, 3, out->kind, sizeof out->kind);
		sq__col_text(st, 4, out->profile, sizeof out->profile);
		rg_hlc_unpack((uint64_t)sqlite3_column_int64(st, 5), &out->hlc);
		sq__col_text(st, 6, outcome, sizeof outcome);
		out->outcome = CLOUD_OUT__COUNT;
		for (int o = 0; o < CLOUD_OUT__COUNT; o++)
			if (!strcmp(outcome, cloud_outcome_name((enum cloud_outcome)o)))
				out->outcome = (enum cloud_outcome)o;
	}
	sqlite3_reset(st);
	if (rc == SQLITE_ROW)
		return 1;
	return rc == SQLITE_DONE ? 0 : sq__fail(s, rg_db_err(rc), "interaction_get");
}

static int sq_device_get(void *priv, const char *device, enum rg_lane lane,
			 struct cloud_device_state *out)
{
	struct sq *s = priv;
	sqlite3_stmt *st;
	int rc;

	if ((rc = sq__prep(s,
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
	return rc == SQLITE_DONE ? 0 : sq__fail(s, rg_db_err(rc), "device_get");
}

static int sq_changes_since(void *priv, int64_t after, struct cloud_change *out, size_t cap)
{
	struct sq *s = priv;
	sqlite3_stmt *st;
	size_t n = 0;
	int rc;

	if ((rc = sq__prep(s,
		       "SELECT seq, profile_id, version, hlc, what, coalesce(other_id, '')"
		       " FROM changes WHERE seq > ?1"
		       " ORDER BY seq LIMIT ?2",
		       &st)) < 0)
		return rc;
	sqlite3_bind_int64(st, 1, after);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)cap);
	while (n < cap && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct cloud_change *c = &out[n++];
		c->seq = sqlite3_column_int64(st, 0);
		sq__col_text(st, 1, c->profile, sizeof c->profile);
		c->version = sqlite3_column_int64(st, 2);
		rg_hlc_unpack((uint64_t)sqlite3_column_int64(st, 3), &c->hlc);
		sq__col_text(st, 4, c->what, sizeof c->what);
		sq__col_text(st, 5, c->other, sizeof c->other);
	}
	sqlite3_reset(st);
	if (cap && rc != SQLITE_ROW && rc != SQLITE_DONE)
		return sq__fail(s, rg_db_err(rc), "changes_since");
	return (int)n;
}

static int count_of(struct sq *s, const char *sql, int64_t *out)
{
	sqlite3_stmt *st;
	int rc;
	if ((rc = sq__prep(s, sql, &st)) < 0)
		return rc;
	rc = sqlite3_step(st);
	*out = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
	sqlite3_reset(st);
	return rc == SQLITE_ROW ? 0 : sq__fail(s, rg_db_err(rc), "stats");
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
	if ((rc = sq__prep(s, "SELECT outcome, count(*) FROM interactions GROUP BY outcome", &st)) < 0)
		return rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *o = (const char *)sqlite3_column_text(st, 0);
		for (int i = 0; o && i < CLOUD_OUT__COUNT; i++)
			if (!strcmp(o, cloud_outcome_name((enum cloud_outcome)i)))
				out->outcomes[i] = sqlite3_column_int64(st, 1);
	}
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : sq__fail(s, rg_db_err(rc), "stats");
}

static int sq_unknown_token_get(void *priv, const uint8_t token[RG_TOKEN_LEN], int64_t *n)
{
	struct sq *s = priv;
	sqlite3_stmt *st;
	int rc;
	if ((rc = sq__prep(s, "SELECT count FROM unknown_tokens WHERE token = ?1", &st)) < 0)
		return rc;
	sqlite3_bind_blob(st, 1, token, RG_TOKEN_LEN, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*n = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	if (rc == SQLITE_ROW)
		return 1;
	return rc == SQLITE_DONE ? 0 : sq__fail(s, rg_db_err(rc), "unknown_token_get");
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
    .link = sq__link,
    .merge = sq__merge,
    .unmerge = sq__unmerge,
    .erase = sq__erase,
    .import = sq_import,
    .identifiers = sq__identifiers,
    .merges = sq__merges,
    .repl_changes = sq__repl_changes,
    .repl_snapshot = sq__repl_snapshot,
    .repl_prune = sq__repl_prune,
    .apply_batches = sq_apply_batches,
    .repl_watch = sq__repl_watch,
};
