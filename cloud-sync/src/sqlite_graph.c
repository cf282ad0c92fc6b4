/*
 * sqlite_graph.c - the identity graph of the SQLite backend: link an
 * identifier, merge two profiles into one person, unmerge a mistaken merge,
 * erase a person, and the replay that rebuilds a person's derived state
 * from the interactions attributed to them (derived counters are never
 * added up by overwriting). Each op is one transaction that appends its
 * change-log rows; a refusal says why in op->err and changes nothing.
 * docs/cloud.md ("The identity graph") is the contract.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/json.h"
#include "common/log.h"
#include "sqlite_internal.h"

#define MEMBERS_MAX 10000 /* profiles merged into one person */

static int refuse(struct cloud_op *op, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int refuse(struct cloud_op *op, int rc, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(op->err, sizeof op->err, fmt, ap);
	va_end(ap);
	return rc;
}

static uint64_t op_stamp(struct sq *s, const struct cloud_op *op)
{
	struct rg_hlc h = op->hlc;
	if (!h.wall_ms && !h.logical)
		h.wall_ms = sq__now_ms(s);
	return rg_hlc_pack(&h);
}

static const char *op_by(const struct cloud_op *op)
{
	return op->by ? op->by : "";
}

int sq__members(struct sq *s, const char *root, char **json, size_t *n)
{
	sqlite3_stmt *st;
	int rc;

	*json = NULL;
	*n = 0;
	if ((rc = sq__prep(s,
			   "WITH RECURSIVE m(id) AS (SELECT ?1 UNION SELECT p.id FROM profiles p"
			   " JOIN m ON p.merged_into = m.id)"
			   " SELECT json_group_array(id), count(*) FROM m",
			   &st)) < 0)
		return rc;
	sqlite3_bind_text(st, 1, root, -1, SQLITE_TRANSIENT);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*n = (size_t)sqlite3_column_int64(st, 1);
		if (!(*json = strdup((const char *)sqlite3_column_text(st, 0))))
			rc = RG_ERR_NOMEM;
	}
	sqlite3_reset(st);
	if (rc == RG_ERR_NOMEM)
		return rc;
	if (rc != SQLITE_ROW)
		return sq__fail(s, rg_db_err(rc), "members");
	if (*n > MEMBERS_MAX) {
		free(*json);
		*json = NULL;
		return RG_ERR_TOOBIG;
	}
	return 0;
}

/* Run each statement with ?1 = text a, ?2 = integer b, ?3 = text c (only
 * those a statement names). */
static int run_all(struct sq *s, const char *const *sqls, size_t n, const char *a, int64_t b,
		   const char *c, const char *what)
{
	sqlite3_stmt *st;
	int rc;
	for (size_t i = 0; i < n; i++) {
		if ((rc = sq__prep(s, sqls[i], &st)) < 0)
			return rc;
		for (int p = 1; p <= sqlite3_bind_parameter_count(st); p++) {
			const char *name = sqlite3_bind_parameter_name(st, p);
			if (!name)
				continue;
			if (!strcmp(name, "?1"))
				sqlite3_bind_text(st, p, a, -1, SQLITE_STATIC);
			else if (!strcmp(name, "?2"))
				sqlite3_bind_int64(st, p, b);
			else if (!strcmp(name, "?3"))
				sqlite3_bind_text(st, p, c, -1, SQLITE_STATIC);
		}
		if ((rc = sq__done(s, st, what)) < 0)
			return rc;
	}
	return 0;
}

/* The derived state of one profile, emptied. */
static int derived_reset(struct sq *s, const char *id)
{
	static const char *const sqls[] = {
	    ("UPDATE profiles SET visits = 0, last_seen_ms = 0, points_delta = 0, consent = NULL,"
	     " consent_hlc = NULL, consent_dev = NULL WHERE id = ?1"),
	    "DELETE FROM preferences WHERE profile_id = ?1",
	    "DELETE FROM episodes WHERE profile_id = ?1",
	    "DELETE FROM recent WHERE profile_id = ?1",
	};
	return run_all(s, sqls, sizeof sqls / sizeof sqls[0], id, 0, NULL, "derived_reset");
}

/* Replay one recorded interaction row (columns as selected below). */
static int replay_row(struct sq *s, sqlite3_stmt *st, const struct sq__target *t)
{
	char id[RG_UUID_STR_LEN + 1], device[RG_WIRE_ID_MAX + 1], kind_name[24];
	char channel[17], department[33];
	uint8_t token[RG_TOKEN_LEN];
	struct cloud__effect e;
	struct sq__item x;
	cJSON *body = NULL;
	int kind, rc = 0;

	sq__col_text(st, 0, id, sizeof id);
	sq__col_text(st, 1, device, sizeof device);
	sq__col_text(st, 3, kind_name, sizeof kind_name);
	if ((kind = cloud__kind_parse(kind_name)) < 0)
		return 0; /* nothing this build knows how to derive */
	memset(&x, 0, sizeof x);
	x.id = id;
	x.hlc = (uint64_t)sqlite3_column_int64(st, 2);
	rg_hlc_unpack(x.hlc, &x.h);
	x.kind = kind;
	x.profile = "";
	if (sqlite3_column_type(st, 4) == SQLITE_BLOB &&
	    sqlite3_column_bytes(st, 4) == RG_TOKEN_LEN) {
		memcpy(token, sqlite3_column_blob(st, 4), RG_TOKEN_LEN);
		x.token = token;
		x.has_token = true;
	}
	if (rg_json_parse((const char *)sqlite3_column_text(st, 5),
			  (size_t)sqlite3_column_bytes(st, 5), (size_t)-1 / 2, &body, NULL,
			  0) < 0 ||
	    !cJSON_IsObject(body)) {
		cJSON_Delete(body);
		return 0;
	}
	x.body = body;
	x.device = device;
	x.store = "";
	x.batch = "";
	if (sqlite3_column_type(st, 6) != SQLITE_NULL) {
		sq__col_text(st, 6, channel, sizeof channel);
		x.channel = channel;
	}
	if (sqlite3_column_type(st, 7) != SQLITE_NULL) {
		sq__col_text(st, 7, department, sizeof department);
		x.department = department;
	}
	sq__effect_of(&x, &e);
	if (e.usable)
		rc = sq__effect_apply(s, &x, t, &e, true, "update", NULL);
	cloud__effect_clear(&e);
	cJSON_Delete(body);
	return rc < 0 ? rc : 0;
}

int sq__recompute(struct sq *s, int64_t pid, const char *root)
{
	struct sq__target t;
	sqlite3_stmt *st;
	char *members = NULL;
	size_t n;
	int rc;

	memset(&t, 0, sizeof t);
	t.pid = pid;
	cloud__copy_utf8(t.id, sizeof t.id, root);
	cloud__copy_utf8(t.addressed, sizeof t.addressed, root);
	if ((rc = derived_reset(s, root)) < 0 || (rc = sq__members(s, root, &members, &n)) < 0)
		return rc;
	/* In the order they were applied, so the result is the one the items
	 * gave when they arrived (the same LWW winners, the same caps). */
	if ((rc = sq__prep(
		 s,
		 "SELECT id, device, hlc, kind, token, body, channel, department"
		 " FROM interactions WHERE resolved_id IN (SELECT value FROM json_each(?1))"
		 " AND outcome IN ('applied', 'stale') ORDER BY seq",
		 &st)) < 0) {
		free(members);
		return rc;
	}
	sqlite3_bind_text(st, 1, members, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		if ((rc = replay_row(s, st, &t)) < 0)
			break;
	sqlite3_reset(st);
	free(members);
	if (rc < 0)
		return rc;
	return rc == SQLITE_DONE ? 0 : sq__fail(s, rg_db_err(rc), "recompute");
}

int sq__erase_person(struct sq *s, const struct sq__target *t, uint64_t hlc, size_t *changes)
{
	/* ?1 = the members (JSON array), ?2 = the stamp */
	static const char *const sqls[] = {
	    ("UPDATE profiles SET erased = 1, erased_hlc = ?2, body = '{}', visits = 0,"
	     " last_seen_ms = 0, points_delta = 0, consent = NULL, consent_hlc = NULL,"
	     " consent_dev = NULL WHERE id IN (SELECT value FROM json_each(?1))"),
	    "DELETE FROM preferences WHERE profile_id IN (SELECT value FROM json_each(?1))",
	    "DELETE FROM episodes WHERE profile_id IN (SELECT value FROM json_each(?1))",
	    "DELETE FROM recent WHERE profile_id IN (SELECT value FROM json_each(?1))",
	    ("DELETE FROM unknown_tokens WHERE token IN (SELECT token FROM identifiers"
	     " WHERE profile_id IN (SELECT value FROM json_each(?1)))"),
	    ("DELETE FROM merge_identifiers WHERE merge_id IN (SELECT id FROM merges"
	     " WHERE from_id IN (SELECT value FROM json_each(?1))"
	     " OR into_id IN (SELECT value FROM json_each(?1)))"),
	    ("DELETE FROM identifiers WHERE profile_id IN (SELECT value FROM json_each(?1))"
	     " OR owner_id IN (SELECT value FROM json_each(?1))"),
	    ("UPDATE interactions SET body = '{}', token = NULL"
	     " WHERE resolved_id IN (SELECT value FROM json_each(?1))"),
	};
	char *members = NULL;
	cJSON *arr = NULL, *m;
	sqlite3_stmt *st;
	size_t n;
	int rc;

	/* Freed pages and cells are zeroed, not left in the file; the WAL is
	 * truncated after the commit (sq__scrub_finish). */
	if (!s->scrub) {
		if ((rc = rg_db_exec(s->db, "PRAGMA secure_delete = ON;")) < 0)
			return sq__fail(s, rc, "secure_delete");
		s->scrub = true;
	}
	if ((rc = sq__members(s, t->id, &members, &n)) < 0)
		return rc;
	if ((rc = run_all(s, sqls, sizeof sqls / sizeof sqls[0], members, (int64_t)hlc, NULL,
			  "erase")) < 0)
		goto out;
	if (!(arr = cJSON_Parse(members))) {
		rc = RG_ERR_NOMEM;
		goto out;
	}
	cJSON_ArrayForEach(m, arr)
	{
		struct sq__target mt;
		if (!cJSON_IsString(m) || !strcmp(m->valuestring, t->id))
			continue;
		/* every profile merged into the person is erased with them */
		if ((rc = sq__root_of(s, m->valuestring, &mt)) < 0)
			goto out;
		if ((rc = sq__prep(s, "SELECT pid FROM profiles WHERE id = ?1", &st)) < 0)
			goto out;
		sqlite3_bind_text(st, 1, m->valuestring, -1, SQLITE_STATIC);
		mt.pid = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
		sqlite3_reset(st);
		if (mt.pid && (rc = sq__bump(s, mt.pid, m->valuestring, hlc, NULL, "erase", NULL,
					     changes)) < 0)
			goto out;
	}
	rc = (int)n;
out:
	cJSON_Delete(arr);
	free(members);
	return rc;
}

void sq__scrub_finish(struct sq *s)
{
	if (!s->scrub)
		return;
	s->scrub = false;
	rg_db_exec(s->db, "PRAGMA secure_delete = OFF;");
	rg_db_scrub_wal(s->db, CLOUD_COMP);
}

/* ---- link ---- */

int sq__link(void *priv, struct cloud_op *op, const char *profile,
	     const uint8_t token[RG_TOKEN_LEN], const char *type, unsigned flags)
{
	struct sq *s = priv;
	struct sq__target t, holder;
	char held_by[RG_WIRE_ID_MAX + 1] = "";
	uint64_t hlc = op_stamp(s, op);
	sqlite3_stmt *st;
	int rc;

	if ((rc = rg_db_begin(s->db)) < 0)
		return sq__fail(s, rc, "begin");
	if ((rc = sq__root_of(s, profile, &t)) <= 0) {
		if (!rc)
			rc = refuse(op, RG_ERR_NOTFOUND, "no profile %s", profile);
		goto fail;
	}
	if (t.erased) {
		rc = refuse(op, RG_ERR_STATE, "profile %s is erased", profile);
		goto fail;
	}
	if ((rc = sq__prep(s, "SELECT profile_id FROM identifiers WHERE token = ?1", &st)) < 0)
		goto fail;
	sqlite3_bind_blob(st, 1, token, RG_TOKEN_LEN, SQLITE_STATIC);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW)
		sq__col_text(st, 0, held_by, sizeof held_by);
	sqlite3_reset(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		rc = sq__fail(s, rg_db_err(rc), "link_read");
		goto fail;
	}
	memset(&holder, 0, sizeof holder);
	if (held_by[0]) {
		if ((rc = sq__root_of(s, held_by, &holder)) < 0)
			goto fail;
		if (holder.pid == t.pid) {
			rg_db_rollback(s->db);
			return 0; /* already this person's */
		}
		if (holder.pid && !(flags & CLOUD_LINK_MOVE)) {
			rc = refuse(
			    op, RG_ERR_EXISTS,
			    "the identifier is linked to profile %s (a move takes it from there)",
			    holder.id);
			goto fail;
		}
	}
	if ((rc = sq__prep(s,
			   "INSERT INTO identifiers(token, profile_id, type, hlc, owner_id)"
			   " VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT(token) DO UPDATE SET"
			   " profile_id = excluded.profile_id, type = excluded.type,"
			   " hlc = excluded.hlc, owner_id = excluded.owner_id",
			   &st)) < 0)
		goto fail;
	sqlite3_bind_blob(st, 1, token, RG_TOKEN_LEN, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, t.id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, type, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, (sqlite3_int64)hlc);
	sqlite3_bind_text(st, 5, profile, -1, SQLITE_STATIC);
	if ((rc = sq__done(s, st, "link")) < 0)
		goto fail;
	if (holder.pid &&
	    (rc = sq__bump(s, holder.pid, holder.id, hlc, NULL, "unlink", t.id, NULL)) < 0)
		goto fail;
	if ((rc = sq__bump(s, t.pid, t.id, hlc, NULL, "link", NULL, NULL)) < 0)
		goto fail;
	if ((rc = rg_db_commit(s->db)) < 0) {
		sq__fail(s, rc, "commit");
		goto fail;
	}
	return 1;
fail:
	rg_db_rollback(s->db);
	return rc;
}

/* ---- merge / unmerge ---- */

/* The profile row as it is (no redirect followed): 1 found, 0 not. */
static int profile_row(struct sq *s, const char *id, int64_t *pid, bool *erased, char *merged_into,
		       size_t cap)
{
	sqlite3_stmt *st;
	int rc;
	if ((rc = sq__prep(s,
			   "SELECT pid, erased, coalesce(merged_into, '') FROM profiles"
			   " WHERE id = ?1",
			   &st)) < 0)
		return rc;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*pid = sqlite3_column_int64(st, 0);
		*erased = sqlite3_column_int(st, 1) != 0;
		sq__col_text(st, 2, merged_into, cap);
	}
	sqlite3_reset(st);
	if (rc == SQLITE_ROW)
		return 1;
	return rc == SQLITE_DONE ? 0 : sq__fail(s, rg_db_err(rc), "profile_row");
}

/* A profile may take part in a merge if it exists, is not erased and is not
 * itself merged away. */
static int mergeable(struct sq *s, struct cloud_op *op, const char *id, int64_t *pid)
{
	char redirect[RG_WIRE_ID_MAX + 1];
	bool erased = false;
	int rc = profile_row(s, id, pid, &erased, redirect, sizeof redirect);
	if (rc < 0)
		return rc;
	if (!rc)
		return refuse(op, RG_ERR_NOTFOUND, "no profile %s", id);
	if (erased)
		return refuse(op, RG_ERR_STATE, "profile %s is erased", id);
	if (redirect[0])
		return refuse(op, RG_ERR_STATE, "profile %s is merged into %s already", id,
			      redirect);
	return 0;
}

int sq__merge(void *priv, struct cloud_op *op, const char *from, const char *into,
	      int64_t *merge_id)
{
	struct sq *s = priv;
	uint64_t hlc = op_stamp(s, op);
	int64_t fpid = 0, ipid = 0, id = 0;
	sqlite3_stmt *st;
	int rc, moved;

	if (!strcmp(from, into))
		return refuse(op, RG_ERR_STATE, "a profile cannot absorb itself (%s)", from);
	if ((rc = rg_db_begin(s->db)) < 0)
		return sq__fail(s, rc, "begin");
	if ((rc = mergeable(s, op, from, &fpid)) < 0 || (rc = mergeable(s, op, into, &ipid)) < 0)
		goto fail;
	if ((rc = sq__prep(s,
			   "INSERT INTO merges(from_id, into_id, hlc, actor, at_ms, moved)"
			   " VALUES (?1, ?2, ?3, ?4, ?5, 0) RETURNING id",
			   &st)) < 0)
		goto fail;
	sqlite3_bind_text(st, 1, from, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, into, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)hlc);
	sqlite3_bind_text(st, 4, op_by(op), -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, sq__now_ms(s));
	if ((rc = sqlite3_step(st)) == SQLITE_ROW)
		id = sqlite3_column_int64(st, 0);
	while (rc == SQLITE_ROW)
		rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE || !id) {
		rc = sq__fail(s, rg_db_err(rc), "merge_record");
		goto fail;
	}
	/* what moves: every identifier the absorbed person holds */
	if ((rc =
		 sq__prep(s,
			  "INSERT INTO merge_identifiers(merge_id, token, type, owner_id)"
			  " SELECT ?2, token, type, coalesce(owner_id, profile_id) FROM identifiers"
			  " WHERE profile_id = ?1",
			  &st)) < 0)
		goto fail;
	sqlite3_bind_text(st, 1, from, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, id);
	if ((rc = sq__done(s, st, "merge_identifiers")) < 0)
		goto fail;
	moved = sq__changed(s);
	if ((rc = sq__prep(s, "UPDATE merges SET moved = ?2 WHERE id = ?1", &st)) < 0)
		goto fail;
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_int64(st, 2, moved);
	if ((rc = sq__done(s, st, "merge_moved")) < 0)
		goto fail;
	{
		static const char *const sqls[] = {
		    "UPDATE identifiers SET profile_id = ?3 WHERE profile_id = ?1",
		    "UPDATE profiles SET merged_into = ?3 WHERE id = ?1",
		};
		if ((rc = run_all(s, sqls, 2, from, 0, into, "merge")) < 0)
			goto fail;
	}
	/* the absorbed profile's derived state now lives in the survivor's */
	if ((rc = derived_reset(s, from)) < 0 || (rc = sq__recompute(s, ipid, into)) < 0 ||
	    (rc = sq__bump(s, fpid, from, hlc, NULL, "merge", into, NULL)) < 0 ||
	    (rc = sq__bump(s, ipid, into, hlc, NULL, "merge", from, NULL)) < 0 ||
	    (rc = sq__changes_tag_merge(s, id, 2)) < 0)
		goto fail;
	if ((rc = rg_db_commit(s->db)) < 0) {
		sq__fail(s, rc, "commit");
		goto fail;
	}
	*merge_id = id;
	rg_info(CLOUD_COMP, "merged", "merge=%lld from=%s into=%s identifiers=%d", (long long)id,
		from, into, moved);
	return 0;
fail:
	rg_db_rollback(s->db);
	return rc;
}

int sq__unmerge(void *priv, struct cloud_op *op, int64_t merge_id)
{
	struct sq *s = priv;
	char from[RG_WIRE_ID_MAX + 1] = "", into[RG_WIRE_ID_MAX + 1] = "";
	char redirect[RG_WIRE_ID_MAX + 1] = "", later_into[RG_WIRE_ID_MAX + 1] = "";
	uint64_t hlc = op_stamp(s, op);
	int64_t fpid = 0, ipid = 0, later = 0;
	bool undone = false, ferased = false, ierased = false;
	char *members = NULL;
	size_t n;
	sqlite3_stmt *st;
	int rc;

	if ((rc = rg_db_begin(s->db)) < 0)
		return sq__fail(s, rc, "begin");
	if ((rc = sq__prep(s,
			   "SELECT from_id, into_id, undone_ms IS NOT NULL FROM merges"
			   " WHERE id = ?1",
			   &st)) < 0)
		goto fail;
	sqlite3_bind_int64(st, 1, merge_id);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		sq__col_text(st, 0, from, sizeof from);
		sq__col_text(st, 1, into, sizeof into);
		undone = sqlite3_column_int(st, 2) != 0;
	}
	sqlite3_reset(st);
	if (rc != SQLITE_ROW) {
		rc = rc == SQLITE_DONE
			 ? refuse(op, RG_ERR_NOTFOUND, "no merge %lld", (long long)merge_id)
			 : sq__fail(s, rg_db_err(rc), "unmerge_read");
		goto fail;
	}
	if (undone) {
		rc = refuse(op, RG_ERR_STATE, "merge %lld was undone already", (long long)merge_id);
		goto fail;
	}
	/* A later merge that absorbed the survivor carries this merge's
	 * result on: it has to be undone first. */
	if ((rc = sq__prep(s,
			   "SELECT id, into_id FROM merges WHERE id > ?1 AND from_id = ?2"
			   " AND undone_ms IS NULL ORDER BY id LIMIT 1",
			   &st)) < 0)
		goto fail;
	sqlite3_bind_int64(st, 1, merge_id);
	sqlite3_bind_text(st, 2, into, -1, SQLITE_STATIC);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		later = sqlite3_column_int64(st, 0);
		sq__col_text(st, 1, later_into, sizeof later_into);
	}
	sqlite3_reset(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		rc = sq__fail(s, rg_db_err(rc), "unmerge_later");
		goto fail;
	}
	if (later) {
		rc = refuse(op, RG_ERR_STATE,
			    "merge %lld builds on it (%s was merged into %s): unmerge %lld first",
			    (long long)later, into, later_into, (long long)later);
		goto fail;
	}
	if ((rc = profile_row(s, from, &fpid, &ferased, redirect, sizeof redirect)) < 0 ||
	    (rc = profile_row(s, into, &ipid, &ierased, later_into, sizeof later_into)) < 0)
		goto fail;
	if (ferased || ierased) {
		rc = refuse(op, RG_ERR_STATE, "the person of merge %lld is erased",
			    (long long)merge_id);
		goto fail;
	}
	if (strcmp(redirect, into)) {
		rc = refuse(op, RG_ERR_STATE, "profile %s no longer redirects to %s", from, into);
		goto fail;
	}
	if ((rc = sq__prep(s, "UPDATE profiles SET merged_into = NULL WHERE pid = ?1", &st)) < 0)
		goto fail;
	sqlite3_bind_int64(st, 1, fpid);
	if ((rc = sq__done(s, st, "unmerge_redirect")) < 0)
		goto fail;
	/* identifiers owned by the absorbed side (and by profiles merged into
	 * it before) go back: what moved, and what was linked to it since */
	if ((rc = sq__members(s, from, &members, &n)) < 0)
		goto fail;
	if ((rc = sq__prep(s,
			   "UPDATE identifiers SET profile_id = ?3 WHERE profile_id = ?1"
			   " AND owner_id IN (SELECT value FROM json_each(?2))",
			   &st)) < 0)
		goto fail;
	sqlite3_bind_text(st, 1, into, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, members, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, from, -1, SQLITE_STATIC);
	if ((rc = sq__done(s, st, "unmerge_identifiers")) < 0)
		goto fail;
	if ((rc = sq__recompute(s, fpid, from)) < 0 || (rc = sq__recompute(s, ipid, into)) < 0)
		goto fail;
	if ((rc = sq__prep(s,
			   "UPDATE merges SET undone_hlc = ?2, undone_actor = ?3, undone_ms = ?4"
			   " WHERE id = ?1",
			   &st)) < 0)
		goto fail;
	sqlite3_bind_int64(st, 1, merge_id);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)hlc);
	sqlite3_bind_text(st, 3, op_by(op), -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, sq__now_ms(s));
	if ((rc = sq__done(s, st, "unmerge_record")) < 0 ||
	    (rc = sq__bump(s, fpid, from, hlc, NULL, "unmerge", into, NULL)) < 0 ||
	    (rc = sq__bump(s, ipid, into, hlc, NULL, "unmerge", from, NULL)) < 0 ||
	    (rc = sq__bump(s, fpid, from, hlc, NULL, "restore", into, NULL)) < 0 ||
	    (rc = sq__changes_tag_merge(s, merge_id, 3)) < 0)
		goto fail;
	if ((rc = rg_db_commit(s->db)) < 0) {
		sq__fail(s, rc, "commit");
		goto fail;
	}
	free(members);
	rg_info(CLOUD_COMP, "unmerged", "merge=%lld from=%s into=%s", (long long)merge_id, from,
		into);
	return 0;
fail:
	free(members);
	rg_db_rollback(s->db);
	return rc;
}

/* ---- erase ---- */

int sq__erase(void *priv, struct cloud_op *op, const char *profile)
{
	struct sq *s = priv;
	uint64_t hlc = op_stamp(s, op);
	struct sq__target t;
	int rc, n;

	if ((rc = rg_db_begin(s->db)) < 0)
		return sq__fail(s, rc, "begin");
	if ((rc = sq__root_of(s, profile, &t)) <= 0) {
		if (!rc)
			rc = refuse(op, RG_ERR_NOTFOUND, "no profile %s", profile);
		goto fail;
	}
	if (t.erased) {
		rg_db_rollback(s->db);
		return 0;
	}
	if ((rc = n = sq__erase_person(s, &t, hlc, NULL)) < 0 ||
	    (rc = sq__bump(s, t.pid, t.id, hlc, NULL, "erase", NULL, NULL)) < 0)
		goto fail;
	if ((rc = rg_db_commit(s->db)) < 0) {
		sq__fail(s, rc, "commit");
		goto fail;
	}
	sq__scrub_finish(s);
	rg_info(CLOUD_COMP, "erased", "profile=%s profiles=%d by=%s", t.id, n, op_by(op));
	return n;
fail:
	rg_db_rollback(s->db);
	sq__scrub_finish(s);
	return rc;
}

/* ---- reads ---- */

int sq__identifiers(void *priv, const char *profile, struct cloud_identifier *out, size_t cap)
{
	struct sq *s = priv;
	struct sq__target t;
	sqlite3_stmt *st;
	size_t n = 0;
	int rc;

	if ((rc = sq__root_of(s, profile, &t)) <= 0)
		return rc;
	if ((rc =
		 sq__prep(s,
			  "SELECT token, type, coalesce(owner_id, profile_id), hlc FROM identifiers"
			  " WHERE profile_id = ?1 ORDER BY hlc, token",
			  &st)) < 0)
		return rc;
	sqlite3_bind_text(st, 1, t.id, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (n < cap) {
			struct cloud_identifier *c = &out[n];
			memset(c, 0, sizeof *c);
			if (sqlite3_column_bytes(st, 0) == RG_TOKEN_LEN)
				memcpy(c->token, sqlite3_column_blob(st, 0), RG_TOKEN_LEN);
			sq__col_text(st, 1, c->type, sizeof c->type);
			sq__col_text(st, 2, c->owner, sizeof c->owner);
			rg_hlc_unpack((uint64_t)sqlite3_column_int64(st, 3), &c->hlc);
		}
		n++;
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return sq__fail(s, rg_db_err(rc), "identifiers");
	return (int)n;
}

int sq__merges(void *priv, const char *profile, struct cloud_merge *out, size_t cap)
{
	struct sq *s = priv;
	sqlite3_stmt *st;
	size_t n = 0;
	int rc;

	if ((rc = sq__prep(s,
			   "SELECT id, from_id, into_id, hlc, actor, at_ms, moved, undone_hlc,"
			   " coalesce(undone_actor, ''), coalesce(undone_ms, 0),"
			   " undone_ms IS NOT NULL FROM merges WHERE from_id = ?1 OR into_id = ?1"
			   " ORDER BY id",
			   &st)) < 0)
		return rc;
	sqlite3_bind_text(st, 1, profile, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (n < cap) {
			struct cloud_merge *m = &out[n];
			memset(m, 0, sizeof *m);
			m->id = sqlite3_column_int64(st, 0);
			sq__col_text(st, 1, m->from, sizeof m->from);
			sq__col_text(st, 2, m->into, sizeof m->into);
			rg_hlc_unpack((uint64_t)sqlite3_column_int64(st, 3), &m->hlc);
			sq__col_text(st, 4, m->by, sizeof m->by);
			m->at_ms = sqlite3_column_int64(st, 5);
			m->identifiers = sqlite3_column_int64(st, 6);
			rg_hlc_unpack((uint64_t)sqlite3_column_int64(st, 7), &m->undone_hlc);
			sq__col_text(st, 8, m->undone_by, sizeof m->undone_by);
			m->undone_ms = sqlite3_column_int64(st, 9);
			m->undone = sqlite3_column_int(st, 10) != 0;
		}
		n++;
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return sq__fail(s, rg_db_err(rc), "merges");
	return (int)n;
}
