/*
 * replica.c - the gateway's store replica (gateway/replica.h). Central's
 * pages and snapshot chunks are parsed by common/delta.h and applied here in
 * one transaction each; every change that alters the replica appends a row
 * to `log`, whose gseq is what devices' cursors count. Devices are answered
 * from the tables: a profile appears in their pages once, at its last gseq,
 * with its current state. Deleted rows are zeroed in the file (secure_delete)
 * and the WAL is truncated after an erasure, so an erased person's data does
 * not linger on the in-store server's disk. Nothing here talks to a network.
 */
#include "gateway/replica.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cJSON.h>

#include "common/db.h"
#include "common/err.h"
#include "common/hlc.h"
#include "common/json.h"
#include "common/log.h"
#include "replica_internal.h"

#define CHUNK_BUDGET (DELTA_PAGE_MAX - 8192) /* estimated bytes of one chunk we build */
#define LOOKUP_TYPE "lookup"		     /* type of a token learned from a lookup */

struct gw_replica {
	struct rg_db *db;
	const struct rg_clock *clock;
	bool in_tx;
};

struct state_row {
	int64_t central_cursor, as_of_ms, floor, epoch, snap_id, snap_seq, snap_gseq;
	char snap_after[DELTA_ID_MAX + 1];
};

/* ---- small SQLite helpers ---- */

static int db_fail(struct gw_replica *r, const char *op, int rc)
{
	char q[300];
	rg_error(GW_REPLICA_COMP, "db_failed", "op=%s error=%s detail=%s", op, rg_errname(rc),
		 rg_log_quote(q, sizeof q, rg_db_errmsg(r->db)));
	return rc;
}

static int prep(struct gw_replica *r, const char *sql, sqlite3_stmt **st)
{
	int rc = rg_db_prepare(r->db, sql, st);
	return rc < 0 ? db_fail(r, "prepare", rc) : 0;
}

/* Step a statement without results (or ignore them) and reset it. */
static int step_done(struct gw_replica *r, sqlite3_stmt *st, const char *op)
{
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc == SQLITE_DONE || rc == SQLITE_ROW)
		return 0;
	return db_fail(r, op, rg_db_err(rc) ? rg_db_err(rc) : RG_ERR_DB);
}

/* One integer from a query with at most one text parameter (NULL row: 0). */
static int query_int(struct gw_replica *r, const char *sql, const char *arg, int64_t *out)
{
	sqlite3_stmt *st;
	int rc;
	*out = 0;
	if ((rc = prep(r, sql, &st)) < 0)
		return rc;
	if (arg)
		sqlite3_bind_text(st, 1, arg, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*out = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return db_fail(r, "query", rg_db_err(rc) ? rg_db_err(rc) : RG_ERR_DB);
	return 0;
}

static int begin(struct gw_replica *r)
{
	int rc;
	if (r->in_tx)
		return RG_ERR_STATE;
	if ((rc = rg_db_begin(r->db)) < 0)
		return db_fail(r, "begin", rc);
	r->in_tx = true;
	return 0;
}

static int commit(struct gw_replica *r)
{
	int rc = rg_db_commit(r->db);
	if (rc < 0) {
		db_fail(r, "commit", rc);
		rg_db_rollback(r->db);
	}
	r->in_tx = false;
	return rc;
}

/* After a commit that erased someone: old page images of their rows may sit
 * in the -wal file; checkpoint it into the (zeroed) main file and empty it. */
static void scrub_wal(struct gw_replica *r)
{
	rg_db_scrub_wal(r->db, GW_REPLICA_COMP);
}

static void rollback(struct gw_replica *r)
{
	if (r->in_tx)
		rg_db_rollback(r->db);
	r->in_tx = false;
}

static int state_read(struct gw_replica *r, struct state_row *s)
{
	sqlite3_stmt *st;
	int rc;
	memset(s, 0, sizeof *s);
	if ((rc = prep(r,
		       "SELECT central_cursor, as_of_ms, floor, epoch, snap_id, snap_seq, "
		       "snap_gseq, snap_after FROM state WHERE id = 1",
		       &st)) < 0)
		return rc;
	if ((rc = sqlite3_step(st)) != SQLITE_ROW) {
		sqlite3_reset(st);
		return db_fail(r, "state", RG_ERR_DB);
	}
	s->central_cursor = sqlite3_column_int64(st, 0);
	s->as_of_ms = sqlite3_column_int64(st, 1);
	s->floor = sqlite3_column_int64(st, 2);
	s->epoch = sqlite3_column_int64(st, 3);
	s->snap_id = sqlite3_column_int64(st, 4);
	s->snap_seq = sqlite3_column_int64(st, 5);
	s->snap_gseq = sqlite3_column_int64(st, 6);
	snprintf(s->snap_after, sizeof s->snap_after, "%s",
		 sqlite3_column_text(st, 7) ? (const char *)sqlite3_column_text(st, 7) : "");
	sqlite3_reset(st);
	return 0;
}

static int gseq_now(struct gw_replica *r, int64_t *out)
{
	return query_int(r, "SELECT seq FROM sqlite_sequence WHERE name = 'log'", NULL, out);
}

/* ---- open / close / state ---- */

int gw_replica_open(const char *path, const struct rg_clock *clock, struct gw_replica **out)
{
	struct rg_db_opts o = {.durability = RG_DB_DURABLE};
	struct gw_replica *r;
	int fd, rc;

	*out = NULL;
	if (!path || !clock)
		return RG_ERR_INVAL;
	/* The replica holds personal data: owner-only from the first byte
	 * (SQLite gives -wal and -shm the main file's mode). */
	if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) < 0 || fchmod(fd, 0600) < 0) {
		rg_error(GW_REPLICA_COMP, "open_failed", "path=%s error=\"%s\"", path,
			 strerror(errno));
		if (fd >= 0)
			close(fd);
		return RG_ERR_IO;
	}
	close(fd);
	if (!(r = calloc(1, sizeof *r)))
		return RG_ERR_NOMEM;
	r->clock = clock;
	if ((rc = rg_db_open(path, &o, &r->db)) < 0) {
		rg_error(GW_REPLICA_COMP, "open_failed", "path=%s error=%s", path, rg_errname(rc));
		free(r);
		return rc;
	}
	/* Freed cells and pages are overwritten: an older body replaced by a
	 * newer one, and an erased person, leave nothing readable behind. */
	if ((rc = rg_db_exec(r->db, "PRAGMA secure_delete = ON;")) < 0 ||
	    (rc = gw_replica__migrate(r->db)) < 0) {
		rg_error(GW_REPLICA_COMP, "migrate_failed", "path=%s error=%s detail=\"%s\"", path,
			 rg_errname(rc), rg_db_errmsg(r->db));
		rg_db_close(r->db);
		free(r);
		return rc;
	}
	*out = r;
	return 0;
}

void gw_replica_close(struct gw_replica *r)
{
	if (!r)
		return;
	rollback(r);
	rg_db_close(r->db);
	free(r);
}

int gw_replica_progress_get(struct gw_replica *r, struct gw_replica_state *out)
{
	struct state_row s;
	int rc;
	memset(out, 0, sizeof *out);
	if ((rc = state_read(r, &s)) < 0 || (rc = gseq_now(r, &out->gseq)) < 0)
		return rc;
	out->central_cursor = s.central_cursor;
	out->as_of_ms = s.as_of_ms;
	out->oldest = s.floor;
	out->snapshot = s.snap_id;
	out->snapshot_seq = s.snap_seq;
	snprintf(out->snapshot_after, sizeof out->snapshot_after, "%s", s.snap_after);
	return 0;
}

int gw_replica_state_get(struct gw_replica *r, struct gw_replica_state *out)
{
	int rc;
	if ((rc = gw_replica_progress_get(r, out)) < 0 ||
	    (rc = query_int(r, "SELECT COUNT(*) FROM profiles", NULL, &out->profiles)) < 0 ||
	    (rc = query_int(r, "SELECT COUNT(*) FROM identifiers", NULL, &out->identifiers)) < 0 ||
	    (rc = query_int(r, "SELECT COUNT(*) FROM tombstones", NULL, &out->tombstones)) < 0 ||
	    (rc = query_int(r, "SELECT COUNT(*) FROM merges", NULL, &out->merges)) < 0)
		return rc;
	return 0;
}

/* ---- applying central's changes (inside a transaction) ---- */

static int log_append(struct gw_replica *r, enum delta_op op, const char *id, const char *other,
		      int64_t *gseq)
{
	sqlite3_stmt *st;
	int rc;
	if ((rc = prep(r, "INSERT INTO log(op, id, other, at_ms) VALUES (?1, ?2, ?3, ?4)", &st)) <
	    0)
		return rc;
	sqlite3_bind_int(st, 1, (int)op);
	sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, other ? other : "", -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, rg_clock_wall_ms(r->clock));
	if ((rc = step_done(r, st, "log_append")) < 0)
		return rc;
	*gseq = sqlite3_last_insert_rowid(rg_db_handle(r->db));
	return 0;
}

/* Run one statement binding text ?1 (and ?2 when b is not NULL). */
static int exec2(struct gw_replica *r, const char *sql, const char *a, const char *b,
		 const char *op)
{
	sqlite3_stmt *st;
	int rc;
	if ((rc = prep(r, sql, &st)) < 0)
		return rc;
	sqlite3_bind_text(st, 1, a, -1, SQLITE_STATIC);
	if (b)
		sqlite3_bind_text(st, 2, b, -1, SQLITE_STATIC);
	return step_done(r, st, op);
}

static bool newer(int64_t v, uint64_t h, int64_t ov, uint64_t oh)
{
	return v > ov || (v == ov && h > oh);
}

/* epoch != 0: applied from that snapshot (marks the profile as included). */
static int apply_profile(struct gw_replica *r, const struct delta_change *c, int64_t epoch,
			 struct gw_replica_result *res)
{
	sqlite3_stmt *st;
	int64_t tomb, gseq, ov = 0;
	uint64_t oh = 0;
	bool have = false, partial = false;
	int rc;

	if ((rc = query_int(r, "SELECT COUNT(*) FROM tombstones WHERE id = ?1", c->id, &tomb)) < 0)
		return rc;
	if (tomb) {
		res->tombstoned++;
		rg_debug(GW_REPLICA_COMP, "profile_tombstoned", "profile=%s version=%lld", c->id,
			 (long long)c->version);
		return 0;
	}
	if ((rc = prep(r, "SELECT version, hlc, partial FROM profiles WHERE id = ?1", &st)) < 0)
		return rc;
	sqlite3_bind_text(st, 1, c->id, -1, SQLITE_STATIC);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		have = true;
		ov = sqlite3_column_int64(st, 0);
		oh = (uint64_t)sqlite3_column_int64(st, 1);
		partial = sqlite3_column_int(st, 2) != 0;
	}
	sqlite3_reset(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return db_fail(r, "profile_get", RG_ERR_DB);
	/* A partial row (from a lookup) yields to central's state of the same
	 * version too: that one comes with the complete identifier set. */
	if (have &&
	    (partial ? newer(ov, oh, c->version, c->hlc) : !newer(c->version, c->hlc, ov, oh))) {
		res->ignored++;
		if (epoch) {
			if ((rc = prep(r, "UPDATE profiles SET snap = ?1 WHERE id = ?2", &st)) < 0)
				return rc;
			sqlite3_bind_int64(st, 1, epoch);
			sqlite3_bind_text(st, 2, c->id, -1, SQLITE_STATIC);
			return step_done(r, st, "profile_mark");
		}
		return 0;
	}
	if ((rc = log_append(r, DELTA_PROFILE, c->id, NULL, &gseq)) < 0)
		return rc;
	if ((rc = prep(
		 r,
		 "INSERT OR REPLACE INTO profiles(id, version, hlc, body, gseq, partial, snap) "
		 "VALUES (?1, ?2, ?3, ?4, ?5, 0, ?6)",
		 &st)) < 0)
		return rc;
	sqlite3_bind_text(st, 1, c->id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, c->version);
	sqlite3_bind_int64(st, 3, (int64_t)c->hlc);
	sqlite3_bind_text(st, 4, c->body ? c->body : "{}", -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, gseq);
	sqlite3_bind_int64(st, 6, epoch);
	if ((rc = step_done(r, st, "profile_put")) < 0)
		return rc;
	/* The set is complete: a token not in it no longer belongs here. */
	if ((rc = exec2(r, "DELETE FROM identifiers WHERE profile_id = ?1", c->id, NULL,
			"idents_clear")) < 0)
		return rc;
	for (size_t i = 0; i < c->n_idents; i++) {
		if ((rc = prep(
			 r,
			 "INSERT OR REPLACE INTO identifiers(token, type, profile_id, learned) "
			 "VALUES (?1, ?2, ?3, 0)",
			 &st)) < 0)
			return rc;
		sqlite3_bind_blob(st, 1, c->idents[i].token, RG_TOKEN_LEN, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, c->idents[i].type, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 3, c->id, -1, SQLITE_STATIC);
		if ((rc = step_done(r, st, "ident_put")) < 0)
			return rc;
	}
	res->applied++;
	return 0;
}

static int apply_merge(struct gw_replica *r, const struct delta_change *c,
		       struct gw_replica_result *res)
{
	sqlite3_stmt *st;
	int64_t same, left, gseq;
	int rc;

	if ((rc = prep(r, "SELECT COUNT(*) FROM merges WHERE from_id = ?1 AND into_id = ?2", &st)) <
	    0)
		return rc;
	sqlite3_bind_text(st, 1, c->id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, c->other, -1, SQLITE_STATIC);
	same = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
	sqlite3_reset(st);
	if ((rc = query_int(r,
			    "SELECT (SELECT COUNT(*) FROM profiles WHERE id = ?1) + "
			    "(SELECT COUNT(*) FROM identifiers WHERE profile_id = ?1)",
			    c->id, &left)) < 0)
		return rc;
	if (same && !left) {
		res->ignored++; /* already applied */
		return 0;
	}
	if ((rc = log_append(r, DELTA_MERGE, c->id, c->other, &gseq)) < 0)
		return rc;
	if ((rc = prep(r,
		       "INSERT OR REPLACE INTO merges(from_id, into_id, gseq) VALUES (?1, ?2, ?3)",
		       &st)) < 0)
		return rc;
	sqlite3_bind_text(st, 1, c->id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, c->other, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, gseq);
	if ((rc = step_done(r, st, "merge_put")) < 0 ||
	    /* Chains: whatever redirected to from now redirects to into. */
	    (rc = exec2(r, "UPDATE merges SET into_id = ?2 WHERE into_id = ?1", c->id, c->other,
			"merge_chain")) < 0 ||
	    (rc = exec2(r, "UPDATE identifiers SET profile_id = ?2 WHERE profile_id = ?1", c->id,
			c->other, "merge_idents")) < 0 ||
	    (rc = exec2(r, "DELETE FROM profiles WHERE id = ?1", c->id, NULL, "merge_drop")) < 0)
		return rc;
	res->applied++;
	return 0;
}

static int apply_unmerge(struct gw_replica *r, const struct delta_change *c,
			 struct gw_replica_result *res)
{
	sqlite3_stmt *st;
	int64_t have, gseq;
	int rc;
	if ((rc = prep(r, "SELECT COUNT(*) FROM merges WHERE from_id = ?1 AND into_id = ?2", &st)) <
	    0)
		return rc;
	sqlite3_bind_text(st, 1, c->id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, c->other, -1, SQLITE_STATIC);
	have = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
	sqlite3_reset(st);
	if (!have) {
		res->ignored++;
		return 0;
	}
	if ((rc = log_append(r, DELTA_UNMERGE, c->id, c->other, &gseq)) < 0 ||
	    (rc = exec2(r, "DELETE FROM merges WHERE from_id = ?1", c->id, NULL, "unmerge")) < 0)
		return rc;
	res->applied++;
	return 0;
}

static int apply_erase(struct gw_replica *r, const struct delta_change *c,
		       struct gw_replica_result *res)
{
	sqlite3_stmt *st;
	int64_t tomb, left, gseq;
	int rc;
	if ((rc = query_int(r, "SELECT COUNT(*) FROM tombstones WHERE id = ?1", c->id, &tomb)) <
		0 ||
	    (rc = query_int(r,
			    "SELECT (SELECT COUNT(*) FROM profiles WHERE id = ?1) + "
			    "(SELECT COUNT(*) FROM identifiers WHERE profile_id = ?1) + "
			    "(SELECT COUNT(*) FROM merges WHERE from_id = ?1)",
			    c->id, &left)) < 0)
		return rc;
	if (tomb && !left) {
		res->ignored++;
		return 0;
	}
	if ((rc = log_append(r, DELTA_ERASE, c->id, NULL, &gseq)) < 0 ||
	    (rc = exec2(r, "DELETE FROM profiles WHERE id = ?1", c->id, NULL, "erase_profile")) <
		0 ||
	    (rc = exec2(r, "DELETE FROM identifiers WHERE profile_id = ?1", c->id, NULL,
			"erase_idents")) < 0 ||
	    (rc = exec2(r, "DELETE FROM merges WHERE from_id = ?1", c->id, NULL, "erase_merges")) <
		0)
		return rc;
	if ((rc = prep(r, "INSERT OR REPLACE INTO tombstones(id, gseq, at_ms) VALUES (?1, ?2, ?3)",
		       &st)) < 0)
		return rc;
	sqlite3_bind_text(st, 1, c->id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, gseq);
	sqlite3_bind_int64(st, 3, rg_clock_wall_ms(r->clock));
	if ((rc = step_done(r, st, "tombstone_put")) < 0)
		return rc;
	res->applied++;
	res->erased++;
	return 0;
}

static int apply_change(struct gw_replica *r, const struct delta_change *c, int64_t epoch,
			struct gw_replica_result *res)
{
	switch (c->op) {
	case DELTA_PROFILE:
		return apply_profile(r, c, epoch, res);
	case DELTA_MERGE:
		return apply_merge(r, c, res);
	case DELTA_UNMERGE:
		return apply_unmerge(r, c, res);
	case DELTA_ERASE:
		return apply_erase(r, c, res);
	}
	return RG_ERR_INVAL;
}

static int refuse(struct gw_replica_result *res, const char *reason, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int refuse(struct gw_replica_result *res, const char *reason, const char *fmt, ...)
{
	va_list ap;
	snprintf(res->reason, sizeof res->reason, "%s", reason);
	va_start(ap, fmt);
	vsnprintf(res->detail, sizeof res->detail, fmt, ap);
	va_end(ap);
	return RG_ERR_PARSE;
}

int gw_replica_apply_page(struct gw_replica *r, const void *buf, size_t len, int64_t since,
			  struct gw_replica_result *res)
{
	struct delta_page p;
	char err[GW_REPLICA_DETAIL_MAX];
	sqlite3_stmt *st;
	int rc;

	memset(res, 0, sizeof *res);
	memset(&p, 0, sizeof p);
	if ((rc = delta_page_parse(buf, len, &p, err, sizeof err)) < 0)
		return refuse(res, "malformed", "%s", err);
	if (p.since != since) {
		rc = refuse(res, "since_mismatch", "page since %lld, asked since %lld",
			    (long long)p.since, (long long)since);
		delta_page_free(&p);
		return rc;
	}
	if (p.snapshot_needed) {
		res->snapshot_needed = true;
		delta_page_free(&p);
		return 0;
	}
	if ((rc = begin(r)) < 0)
		goto out;
	for (size_t i = 0; i < p.n; i++)
		if ((rc = apply_change(r, &p.changes[i], 0, res)) < 0)
			goto fail;
	if ((rc = prep(r, "UPDATE state SET central_cursor = ?1, as_of_ms = ?2 WHERE id = 1",
		       &st)) < 0)
		goto fail;
	sqlite3_bind_int64(st, 1, p.next);
	sqlite3_bind_int64(st, 2, p.as_of_ms);
	if ((rc = step_done(r, st, "cursor")) < 0)
		goto fail;
	if ((rc = commit(r)) < 0)
		goto clear;
	res->more = p.more;
	res->cursor = p.next;
	if (res->erased)
		scrub_wal(r);
	goto out;
fail:
	rollback(r);
clear:
	res->applied = res->ignored = res->tombstoned = res->erased = 0;
out:
	delta_page_free(&p);
	return rc;
}

/* End of a snapshot: delete what it did not include, drop the tombstones
 * older than it, and continue with deltas from its seq. */
static int snapshot_finish(struct gw_replica *r, const struct state_row *s, int64_t epoch,
			   int64_t as_of_ms, struct gw_replica_result *res)
{
	sqlite3_stmt *st;
	int64_t swept, gseq;
	int rc;

	if ((rc = prep(r, "SELECT COUNT(*) FROM profiles WHERE snap <> ?1", &st)) < 0)
		return rc;
	sqlite3_bind_int64(st, 1, epoch);
	swept = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
	sqlite3_reset(st);
	if ((rc = prep(r,
		       "DELETE FROM identifiers WHERE profile_id IN "
		       "(SELECT id FROM profiles WHERE snap <> ?1)",
		       &st)) < 0)
		return rc;
	sqlite3_bind_int64(st, 1, epoch);
	if ((rc = step_done(r, st, "sweep_idents")) < 0)
		return rc;
	if ((rc = prep(r, "DELETE FROM profiles WHERE snap <> ?1", &st)) < 0)
		return rc;
	sqlite3_bind_int64(st, 1, epoch);
	if ((rc = step_done(r, st, "sweep_profiles")) < 0)
		return rc;
	if ((rc = prep(r, "DELETE FROM tombstones WHERE gseq <= ?1", &st)) < 0)
		return rc;
	sqlite3_bind_int64(st, 1, s->snap_gseq);
	if ((rc = step_done(r, st, "sweep_tombstones")) < 0)
		return rc;
	if ((rc = gseq_now(r, &gseq)) < 0)
		return rc;
	/* Devices cannot learn from the log what a sweep deleted: whoever is
	 * behind this point takes a snapshot from the gateway (which holds
	 * exactly the replica's profiles). */
	if ((rc = prep(r,
		       "UPDATE state SET central_cursor = snap_seq, as_of_ms = ?1, "
		       "floor = CASE WHEN ?2 > 0 THEN ?3 ELSE floor END, snap_id = 0, "
		       "snap_seq = 0, snap_after = '', snap_gseq = 0 WHERE id = 1",
		       &st)) < 0)
		return rc;
	sqlite3_bind_int64(st, 1, as_of_ms);
	sqlite3_bind_int64(st, 2, swept);
	sqlite3_bind_int64(st, 3, gseq);
	if ((rc = step_done(r, st, "snapshot_done")) < 0)
		return rc;
	res->swept = swept;
	res->cursor = s->snap_seq;
	res->done = true;
	return 0;
}

int gw_replica_apply_chunk(struct gw_replica *r, const void *buf, size_t len, int64_t snapshot,
			   const char *after, struct gw_replica_result *res)
{
	struct delta_chunk c;
	struct state_row s;
	char err[GW_REPLICA_DETAIL_MAX];
	sqlite3_stmt *st;
	bool fresh;
	int64_t epoch, gseq;
	int rc;

	memset(res, 0, sizeof *res);
	memset(&c, 0, sizeof c);
	if (!after)
		after = "";
	if ((rc = delta_chunk_parse(buf, len, &c, err, sizeof err)) < 0)
		return refuse(res, "malformed", "%s", err);
	fresh = snapshot == 0 || c.snapshot != snapshot;
	if (fresh && c.after[0])
		rc = refuse(res, "after_mismatch",
			    "a new snapshot %lld must start at \"\", not after "
			    "%s",
			    (long long)c.snapshot, c.after);
	else if (!fresh && strcmp(c.after, after))
		rc = refuse(res, "after_mismatch", "chunk after \"%s\", asked after \"%s\"",
			    c.after, after);
	if (rc < 0)
		goto out;
	if ((rc = begin(r)) < 0)
		goto out;
	if ((rc = state_read(r, &s)) < 0)
		goto fail;
	if (!fresh && (s.snap_id != snapshot || strcmp(s.snap_after, after))) {
		rollback(r);
		rc = refuse(res, "snapshot_mismatch",
			    "chunk of snapshot %lld after \"%s\"; in progress: %lld after \"%s\"",
			    (long long)c.snapshot, c.after, (long long)s.snap_id, s.snap_after);
		goto out;
	}
	epoch = s.epoch;
	if (fresh) {
		if ((rc = gseq_now(r, &gseq)) < 0)
			goto fail;
		epoch = s.epoch + 1;
		if ((rc = prep(r,
			       "UPDATE state SET epoch = ?1, snap_id = ?2, snap_seq = ?3, "
			       "snap_gseq = ?4 WHERE id = 1",
			       &st)) < 0)
			goto fail;
		sqlite3_bind_int64(st, 1, epoch);
		sqlite3_bind_int64(st, 2, c.snapshot);
		sqlite3_bind_int64(st, 3, c.seq);
		sqlite3_bind_int64(st, 4, gseq);
		if ((rc = step_done(r, st, "snapshot_start")) < 0)
			goto fail;
		s.snap_id = c.snapshot;
		s.snap_seq = c.seq;
		s.snap_gseq = gseq;
	}
	for (size_t i = 0; i < c.n; i++)
		if ((rc = apply_profile(r, &c.changes[i], epoch, res)) < 0)
			goto fail;
	if (c.done)
		rc = snapshot_finish(r, &s, epoch, c.as_of_ms, res);
	else if ((rc = prep(r, "UPDATE state SET snap_after = ?1 WHERE id = 1", &st)) == 0) {
		sqlite3_bind_text(st, 1, c.next_after, -1, SQLITE_STATIC);
		rc = step_done(r, st, "snapshot_progress");
	}
	if (rc < 0)
		goto fail;
	if ((rc = commit(r)) < 0)
		goto clear;
	if (res->swept)
		scrub_wal(r);
	goto out;
fail:
	rollback(r);
clear:
	res->applied = res->ignored = res->tombstoned = res->swept = 0;
	res->done = false;
out:
	delta_chunk_free(&c);
	return rc;
}

/* ---- serving devices ---- */

static void change_clear(struct delta_change *c)
{
	free(c->body);
	free(c->idents);
	memset(c, 0, sizeof *c);
}

/* Load profile id's current state (not partial) into c; RG_ERR_NOTFOUND. */
static int profile_load(struct gw_replica *r, const char *id, struct delta_change *c)
{
	sqlite3_stmt *st;
	size_t cap = 0;
	int rc;

	memset(c, 0, sizeof *c);
	c->op = DELTA_PROFILE;
	if ((rc = prep(r, "SELECT version, hlc, body, gseq FROM profiles WHERE id = ?1", &st)) < 0)
		return rc;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	if ((rc = sqlite3_step(st)) != SQLITE_ROW) {
		sqlite3_reset(st);
		return rc == SQLITE_DONE ? RG_ERR_NOTFOUND : db_fail(r, "profile_load", RG_ERR_DB);
	}
	snprintf(c->id, sizeof c->id, "%s", id);
	c->version = sqlite3_column_int64(st, 0);
	c->hlc = (uint64_t)sqlite3_column_int64(st, 1);
	c->seq = sqlite3_column_int64(st, 3);
	c->body_len = (size_t)sqlite3_column_bytes(st, 2);
	if (!(c->body = malloc(c->body_len + 1))) {
		sqlite3_reset(st);
		return RG_ERR_NOMEM;
	}
	memcpy(c->body, sqlite3_column_text(st, 2), c->body_len);
	c->body[c->body_len] = '\0';
	sqlite3_reset(st);

	if ((rc = prep(r,
		       "SELECT token, type FROM identifiers WHERE profile_id = ?1 AND learned = 0 "
		       "ORDER BY token LIMIT ?2",
		       &st)) < 0)
		goto fail;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 2, DELTA_IDENTS_MAX);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (sqlite3_column_bytes(st, 0) != RG_TOKEN_LEN)
			continue;
		if (c->n_idents == cap) {
			size_t n = cap ? cap * 2 : 4;
			struct delta_ident *p = realloc(c->idents, n * sizeof *p);
			if (!p) {
				sqlite3_reset(st);
				rc = RG_ERR_NOMEM;
				goto fail;
			}
			c->idents = p;
			cap = n;
		}
		memcpy(c->idents[c->n_idents].token, sqlite3_column_blob(st, 0), RG_TOKEN_LEN);
		snprintf(c->idents[c->n_idents].type, sizeof c->idents[c->n_idents].type, "%s",
			 (const char *)sqlite3_column_text(st, 1));
		c->n_idents++;
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		rc = db_fail(r, "idents_load", RG_ERR_DB);
		goto fail;
	}
	return 0;
fail:
	change_clear(c);
	return rc;
}

struct log_row {
	int64_t gseq;
	int op;
	char id[DELTA_ID_MAX + 1];
	char other[DELTA_ID_MAX + 1];
};

static int serve_changes(struct gw_replica *r, const struct delta_request *q,
			 const struct state_row *s, int64_t latest, char **out, size_t *len)
{
	struct delta_writer *w = NULL;
	struct log_row *rows;
	sqlite3_stmt *st;
	size_t n = 0, want = (size_t)q->max;
	int64_t next = latest;
	bool more = false;
	int rc;

	if (q->since < s->floor || q->since > latest) {
		/* Behind what the log keeps, or a cursor this replica never gave
		 * (a replica rebuilt from nothing): start over from a snapshot. */
		if (!(*out = delta_page_snapshot_needed(q->since, latest, s->floor, s->as_of_ms)))
			return RG_ERR_NOMEM;
		*len = strlen(*out);
		return 0;
	}
	if (!(rows = calloc(want + 1, sizeof *rows)))
		return RG_ERR_NOMEM;
	/* Coalesced: a profile entry only at that profile's last gseq (a row
	 * whose profile was since dropped or changed again is skipped). */
	if ((rc = prep(r,
		       "SELECT l.gseq, l.op, l.id, l.other FROM log l WHERE l.gseq > ?1 AND "
		       "(l.op <> 1 OR EXISTS (SELECT 1 FROM profiles p WHERE p.id = l.id AND "
		       "p.gseq = l.gseq AND p.partial = 0)) ORDER BY l.gseq LIMIT ?2",
		       &st)) < 0)
		goto out;
	sqlite3_bind_int64(st, 1, q->since);
	sqlite3_bind_int64(st, 2, (int64_t)want + 1);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW && n <= want) {
		rows[n].gseq = sqlite3_column_int64(st, 0);
		rows[n].op = sqlite3_column_int(st, 1);
		snprintf(rows[n].id, sizeof rows[n].id, "%s",
			 (const char *)sqlite3_column_text(st, 2));
		snprintf(rows[n].other, sizeof rows[n].other, "%s",
			 (const char *)sqlite3_column_text(st, 3));
		n++;
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
		rc = db_fail(r, "serve_changes", RG_ERR_DB);
		goto out;
	}
	if (n > want) {
		more = true;
		n = want;
	}
	if ((rc = delta_writer_new(q->since, &w)) < 0)
		goto out;
	for (size_t i = 0; i < n; i++) {
		struct delta_change c;
		if (rows[i].op == DELTA_PROFILE) {
			if ((rc = profile_load(r, rows[i].id, &c)) < 0)
				goto out;
		} else {
			memset(&c, 0, sizeof c);
			c.op = (enum delta_op)rows[i].op;
			snprintf(c.id, sizeof c.id, "%s", rows[i].id);
			snprintf(c.other, sizeof c.other, "%s", rows[i].other);
		}
		c.seq = rows[i].gseq;
		rc = delta_writer_add(w, &c);
		change_clear(&c);
		if (rc == RG_ERR_TOOBIG) {
			more = true;
			break;
		}
		if (rc < 0)
			goto out;
		next = rows[i].gseq;
	}
	if (!more)
		next = latest;
	rc = delta_writer_finish(w, next, latest, s->floor, s->as_of_ms, more, out, len);
	w = NULL;
out:
	delta_writer_free(w);
	free(rows);
	return rc;
}

static int serve_snapshot(struct gw_replica *r, const struct delta_request *q,
			  const struct state_row *s, int64_t latest, char **out, size_t *len)
{
	struct delta_change *cs;
	char ids_after[DELTA_ID_MAX + 1];
	sqlite3_stmt *st;
	int64_t snap = q->snapshot_id;
	size_t n = 0, want = (size_t)q->max, budget = 0;
	bool done = true;
	int rc;

	/* A snapshot id is the gseq it began at + 1: a resume needs nothing kept
	 * here, and one that the log no longer reaches starts over. */
	if (snap != 0 && (snap - 1 < s->floor || snap - 1 > latest))
		snap = 0;
	snprintf(ids_after, sizeof ids_after, "%s", snap ? q->after : "");
	if (!snap)
		snap = latest + 1;
	if (!(cs = calloc(want, sizeof *cs)))
		return RG_ERR_NOMEM;
	if ((rc = prep(r,
		       "SELECT id FROM profiles WHERE partial = 0 AND id > ?1 ORDER BY id "
		       "LIMIT ?2",
		       &st)) < 0)
		goto out;
	sqlite3_bind_text(st, 1, ids_after, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (int64_t)want + 1);
	/* Collect ids first: profile_load uses other statements. */
	char(*ids)[DELTA_ID_MAX + 1] = calloc(want + 1, sizeof *ids);
	size_t n_ids = 0;
	if (!ids) {
		sqlite3_reset(st);
		rc = RG_ERR_NOMEM;
		goto out;
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW && n_ids <= want)
		snprintf(ids[n_ids++], DELTA_ID_MAX + 1, "%s",
			 (const char *)sqlite3_column_text(st, 0));
	sqlite3_reset(st);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
		free(ids);
		rc = db_fail(r, "serve_snapshot", RG_ERR_DB);
		goto out;
	}
	if (n_ids > want) {
		done = false;
		n_ids = want;
	}
	for (size_t i = 0; i < n_ids; i++) {
		if ((rc = profile_load(r, ids[i], &cs[n])) < 0) {
			free(ids);
			goto out;
		}
		/* Inside "data" every quote is escaped: count bodies twice. */
		size_t cost = cs[n].body_len * 2 + 256 + cs[n].n_idents * 160;
		if (n && budget + cost > CHUNK_BUDGET) {
			change_clear(&cs[n]);
			done = false;
			break;
		}
		budget += cost;
		n++;
	}
	free(ids);
	for (;;) {
		rc = delta_chunk_build(snap, snap - 1, s->as_of_ms, ids_after, done, cs, n, out,
				       len);
		if (rc != RG_ERR_TOOBIG || n <= 1)
			break;
		n /= 2; /* the estimate was short: send fewer */
		done = false;
	}
out:
	for (size_t i = 0; i < want; i++)
		change_clear(&cs[i]);
	free(cs);
	return rc;
}

int gw_replica_serve(struct gw_replica *r, const struct delta_request *q, char **out, size_t *len)
{
	struct state_row s;
	int64_t latest;
	int rc;

	*out = NULL;
	*len = 0;
	if (!q || q->max < 1 || q->max > DELTA_CHANGES_MAX)
		return RG_ERR_INVAL;
	if ((rc = state_read(r, &s)) < 0 || (rc = gseq_now(r, &latest)) < 0)
		return rc;
	return q->snapshot ? serve_snapshot(r, q, &s, latest, out, len)
			   : serve_changes(r, q, &s, latest, out, len);
}

/* ---- lookups ---- */

int gw_replica_lookup(struct gw_replica *r, const uint8_t token[RG_TOKEN_LEN], char **out,
		      size_t *len)
{
	char hlc[RG_HLC_STR_MAX];
	struct rg_hlc h;
	sqlite3_stmt *st;
	cJSON *root = NULL, *prof, *body = NULL;
	int rc;

	*out = NULL;
	*len = 0;
	if ((rc = prep(r,
		       "SELECT p.id, p.version, p.hlc, p.body FROM identifiers i JOIN profiles p "
		       "ON p.id = i.profile_id WHERE i.token = ?1",
		       &st)) < 0)
		return rc;
	sqlite3_bind_blob(st, 1, token, RG_TOKEN_LEN, SQLITE_STATIC);
	if ((rc = sqlite3_step(st)) != SQLITE_ROW) {
		sqlite3_reset(st);
		return rc == SQLITE_DONE ? 0 : db_fail(r, "lookup", RG_ERR_DB);
	}
	rg_hlc_unpack((uint64_t)sqlite3_column_int64(st, 2), &h);
	rg_hlc_format(&h, hlc, sizeof hlc);
	rc = RG_ERR_NOMEM;
	if (!(body = cJSON_Parse((const char *)sqlite3_column_text(st, 3))) ||
	    !(root = cJSON_CreateObject()) || !cJSON_AddNumberToObject(root, "v", 1) ||
	    !cJSON_AddStringToObject(root, "type", "lookup_result") ||
	    !cJSON_AddBoolToObject(root, "found", 1) ||
	    !(prof = cJSON_AddObjectToObject(root, "profile")) ||
	    !cJSON_AddStringToObject(prof, "id", (const char *)sqlite3_column_text(st, 0)) ||
	    !cJSON_AddNumberToObject(prof, "version", (double)sqlite3_column_int64(st, 1)) ||
	    !cJSON_AddStringToObject(prof, "hlc", hlc))
		goto out;
	cJSON_AddItemToObject(prof, "body", body);
	body = NULL;
	if (!(*out = cJSON_PrintUnformatted(root)))
		goto out;
	*len = strlen(*out);
	rc = 1;
out:
	sqlite3_reset(st);
	cJSON_Delete(body);
	cJSON_Delete(root);
	return rc;
}

static bool profile_id_valid(const char *s)
{
	size_t n = strlen(s);
	if (n < 1 || n > DELTA_ID_MAX || s[0] == '-')
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || strchr("-_.:", *s)))
			return false;
	return true;
}

int gw_replica_lookup_parse(const void *answer, size_t len, bool *found, struct delta_change *p,
			    char *err, size_t errcap)
{
	static const char *const keys[] = {"v", "type", "found", "profile", NULL};
	static const char *const pkeys[] = {"id", "version", "hlc", "body", NULL};
	char m[RG_JSON_ERR_MAX];
	cJSON *root = NULL;
	const cJSON *prof, *body;
	const char *type, *id, *hlc;
	struct rg_hlc h;
	int64_t v;
	int rc = RG_ERR_PARSE;

	*found = false;
	memset(p, 0, sizeof *p);
	if (rg_json_parse(answer, len, GW_LOOKUP_RESULT_MAX, &root, m, sizeof m) < 0)
		return rg_errf(RG_ERR_PARSE, err, errcap, "not valid JSON: %s", m);
	if (!cJSON_IsObject(root)) {
		rg_errf(RG_ERR_PARSE, err, errcap, "not a JSON object");
		goto out;
	}
	if (rg_json_check_keys(root, keys, m, sizeof m) < 0 ||
	    rg_json_req_int(root, "v", 1, 1, &v, m, sizeof m) < 0 ||
	    rg_json_req_str(root, "type", 16, &type, m, sizeof m) < 0 ||
	    rg_json_req_bool(root, "found", found, m, sizeof m) < 0) {
		rg_errf(RG_ERR_PARSE, err, errcap, "%s", m);
		goto out;
	}
	if (strcmp(type, "lookup_result")) {
		rg_errf(RG_ERR_PARSE, err, errcap, "key \"type\": not \"lookup_result\"");
		goto out;
	}
	prof = cJSON_GetObjectItemCaseSensitive(root, "profile");
	if (!*found) {
		if (prof)
			rg_errf(RG_ERR_PARSE, err, errcap,
				"key \"profile\": present with found false");
		else
			rc = 0;
		goto out;
	}
	if (rg_json_req_obj(root, "profile", &prof, m, sizeof m) < 0 ||
	    rg_json_check_keys(prof, pkeys, m, sizeof m) < 0 ||
	    rg_json_req_str(prof, "id", DELTA_ID_MAX, &id, m, sizeof m) < 0 ||
	    rg_json_req_int(prof, "version", 1, DELTA_SEQ_MAX, &v, m, sizeof m) < 0 ||
	    rg_json_req_str(prof, "hlc", RG_HLC_STR_MAX, &hlc, m, sizeof m) < 0 ||
	    rg_json_req_obj(prof, "body", &body, m, sizeof m) < 0) {
		rg_errf(RG_ERR_PARSE, err, errcap, "profile.%s", m);
		goto out;
	}
	if (!profile_id_valid(id)) {
		rg_errf(RG_ERR_PARSE, err, errcap, "key \"profile.id\": not a valid profile id");
		goto out;
	}
	if (rg_hlc_parse(hlc, &h) < 0) {
		rg_errf(RG_ERR_PARSE, err, errcap, "key \"profile.hlc\": not <ms>.<logical>");
		goto out;
	}
	if (!(p->body = cJSON_PrintUnformatted(body))) {
		rc = rg_errf(RG_ERR_NOMEM, err, errcap, "out of memory");
		goto out;
	}
	p->body_len = strlen(p->body);
	if (p->body_len > DELTA_BODY_MAX) {
		rg_errf(RG_ERR_PARSE, err, errcap, "key \"profile.body\": over %d bytes",
			DELTA_BODY_MAX);
		cJSON_free(p->body);
		p->body = NULL;
		goto out;
	}
	p->op = DELTA_PROFILE;
	snprintf(p->id, sizeof p->id, "%s", id);
	p->version = v;
	p->hlc = rg_hlc_pack(&h);
	rc = 0;
out:
	cJSON_Delete(root);
	if (rc < 0)
		*found = false;
	return rc;
}

int gw_replica_lookup_store(struct gw_replica *r, const uint8_t token[RG_TOKEN_LEN],
			    const void *answer, size_t len, char *err, size_t errcap)
{
	struct delta_change p;
	sqlite3_stmt *st;
	int64_t tomb, ov = 0, have_tok;
	uint64_t oh = 0;
	bool found, have = false, partial = false;
	int rc, result = GW_LOOKUP_KEPT;

	if ((rc = gw_replica_lookup_parse(answer, len, &found, &p, err, errcap)) < 0)
		return rc;
	if (!found)
		return GW_LOOKUP_NOT_FOUND;
	if ((rc = query_int(r, "SELECT COUNT(*) FROM tombstones WHERE id = ?1", p.id, &tomb)) < 0)
		goto out;
	if (tomb) {
		rc = GW_LOOKUP_TOMBSTONED;
		goto out;
	}
	if ((rc = begin(r)) < 0)
		goto out;
	if ((rc = prep(r, "SELECT version, hlc, partial FROM profiles WHERE id = ?1", &st)) < 0)
		goto fail;
	sqlite3_bind_text(st, 1, p.id, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW) {
		have = true;
		ov = sqlite3_column_int64(st, 0);
		oh = (uint64_t)sqlite3_column_int64(st, 1);
		partial = sqlite3_column_int(st, 2) != 0;
	}
	sqlite3_reset(st);
	/* A complete row stays as central's changes left it (they bring the
	 * newer state soon, with every token); a partial one may be refreshed. */
	if (!have || (partial && newer(p.version, p.hlc, ov, oh))) {
		if ((rc = prep(r,
			       "INSERT OR REPLACE INTO profiles(id, version, hlc, body, gseq, "
			       "partial, snap) VALUES (?1, ?2, ?3, ?4, 0, 1, 0)",
			       &st)) < 0)
			goto fail;
		sqlite3_bind_text(st, 1, p.id, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, p.version);
		sqlite3_bind_int64(st, 3, (int64_t)p.hlc);
		sqlite3_bind_text(st, 4, p.body, -1, SQLITE_STATIC);
		if ((rc = step_done(r, st, "lookup_profile")) < 0)
			goto fail;
		result = GW_LOOKUP_STORED;
	}
	if ((rc = prep(r, "SELECT COUNT(*) FROM identifiers WHERE token = ?1", &st)) < 0)
		goto fail;
	sqlite3_bind_blob(st, 1, token, RG_TOKEN_LEN, SQLITE_STATIC);
	have_tok = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
	sqlite3_reset(st);
	if (!have_tok) {
		if ((rc = prep(r,
			       "INSERT INTO identifiers(token, type, profile_id, learned) "
			       "VALUES (?1, '" LOOKUP_TYPE "', ?2, 1)",
			       &st)) < 0)
			goto fail;
		sqlite3_bind_blob(st, 1, token, RG_TOKEN_LEN, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, p.id, -1, SQLITE_STATIC);
		if ((rc = step_done(r, st, "lookup_ident")) < 0)
			goto fail;
		result = GW_LOOKUP_STORED;
	}
	if ((rc = commit(r)) < 0)
		goto out;
	rc = result;
	goto out;
fail:
	rollback(r);
out:
	cJSON_free(p.body);
	return rc;
}

int gw_replica_prune(struct gw_replica *r, int64_t retention_ms)
{
	sqlite3_stmt *st;
	int64_t cut = rg_clock_wall_ms(r->clock) - retention_ms, upto;
	int rc, n;

	if ((rc = prep(r, "SELECT MAX(gseq) FROM log WHERE at_ms < ?1", &st)) < 0)
		return rc;
	sqlite3_bind_int64(st, 1, cut);
	upto = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
	sqlite3_reset(st);
	if (upto <= 0)
		return 0;
	if ((rc = begin(r)) < 0)
		return rc;
	if ((rc = prep(r, "DELETE FROM log WHERE gseq <= ?1", &st)) < 0)
		goto fail;
	sqlite3_bind_int64(st, 1, upto);
	if ((rc = step_done(r, st, "prune")) < 0)
		goto fail;
	n = sqlite3_changes(rg_db_handle(r->db));
	if ((rc = prep(r, "UPDATE state SET floor = MAX(floor, ?1) WHERE id = 1", &st)) < 0)
		goto fail;
	sqlite3_bind_int64(st, 1, upto);
	if ((rc = step_done(r, st, "prune_floor")) < 0)
		goto fail;
	if ((rc = commit(r)) < 0)
		return rc;
	return n;
fail:
	rollback(r);
	return rc;
}
