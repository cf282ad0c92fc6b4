/*
 * outbox.c - the durable record of every interaction the device makes. An
 * append is committed (fsync'd WAL) before it returns; rows are read oldest
 * first; a row leaves only when central's end-to-end ack names it. Nothing
 * else in the store deletes outbox rows.
 */
#include <stdio.h>
#include <string.h>

#include "common/err.h"
#include "common/log.h"
#include "store_internal.h"

#define AAD_MAX (sizeof STORE_OUTBOX_AAD + RG_UUID_STR_LEN)

/* "outbox" 0x00 <uuid text>: bound to the row's id, apart from profile AADs. */
static size_t outbox_aad(const char *id, uint8_t out[AAD_MAX])
{
	memcpy(out, STORE_OUTBOX_AAD, sizeof STORE_OUTBOX_AAD); /* includes the NUL */
	memcpy(out + sizeof STORE_OUTBOX_AAD, id, RG_UUID_STR_LEN);
	return AAD_MAX;
}

static int event_check(const struct store_event *ev)
{
	int rc;
	if (!ev || (unsigned)ev->kind >= RG_KIND__COUNT || !ev->body)
		return RG_ERR_INVAL;
	if (ev->profile_id && !store__id_valid(ev->profile_id))
		return RG_ERR_INVAL;
	if (!ev->profile_id && !ev->token && ev->kind != RG_KIND_TELEMETRY)
		return RG_ERR_MISSING;
	if ((rc = store__json_object(ev->body, ev->body_len, STORE_OUTBOX_BODY_MAX)) < 0)
		return rc;
	return 0;
}

static int append_locked(struct store *s, const struct store_event *ev,
			 struct store_outbox_ref *ref)
{
	char id[RG_UUID_STR_LEN + 1];
	uint8_t aad[AAD_MAX];
	struct rg_uuid uuid;
	struct rg_hlc hlc;
	sqlite3_stmt *st;
	int rc, n;

	if ((rc = rg_uuid7_next(&s->uuids, &uuid)) < 0 || (rc = rg_hlc_now(&s->hlc, &hlc)) < 0)
		return rc;
	rg_uuid_format(&uuid, id);
	n = rg_aead_seal(s->key, aad, outbox_aad(id, aad), ev->body, ev->body_len, s->sealed,
			 sizeof s->sealed, s->rand);
	if (n < 0)
		return n;
	if ((rc = store__begin(s, "outbox_append")) < 0)
		return rc;
	rc = store__prepare(
	    s,
	    "INSERT INTO outbox(id, kind, hlc, device_id, store_id, profile_id, token, "
	    "body, created_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
	    &st);
	if (rc < 0)
		goto fail;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, rg_kind_name(ev->kind), -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)rg_hlc_pack(&hlc));
	sqlite3_bind_text(st, 4, s->device_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, s->store_id, -1, SQLITE_STATIC);
	if (ev->profile_id)
		sqlite3_bind_text(st, 6, ev->profile_id, -1, SQLITE_STATIC);
	if (ev->token)
		sqlite3_bind_blob(st, 7, ev->token, RG_TOKEN_LEN, SQLITE_STATIC);
	sqlite3_bind_blob(st, 8, s->sealed, n, SQLITE_STATIC);
	sqlite3_bind_int64(st, 9, rg_clock_wall_ms(s->clock));
	if ((rc = store__step_done(s, st, "outbox_append")) < 0)
		goto fail;
	if (ref)
		ref->seq = sqlite3_last_insert_rowid(rg_db_handle(s->db));
	if ((rc = store__hlc_save(s)) < 0)
		goto fail;
	/* The promise: once this returns 0 the row is on stable storage. */
	if ((rc = store__commit(s, "outbox_append")) < 0)
		return rc;
	if (ref) {
		ref->id = uuid;
		ref->hlc = hlc;
	}
	rg_debug(STORE_COMP, "outbox_appended", "id=%s kind=%s", id, rg_kind_name(ev->kind));
	return 0;
fail:
	rg_db_rollback(s->db);
	return rc;
}

int store_outbox_append(struct store *s, const struct store_event *ev, struct store_outbox_ref *ref)
{
	int rc;

	if (ref)
		memset(ref, 0, sizeof *ref);
	if (!s)
		return RG_ERR_INVAL;
	if ((rc = event_check(ev)) < 0) {
		rg_warn(STORE_COMP, "outbox_refused", "kind=%s error=%s",
			ev && (unsigned)ev->kind < RG_KIND__COUNT ? rg_kind_name(ev->kind)
								  : "invalid",
			rg_errname(rc));
		return rc;
	}
	if ((rc = store__lock(s)) < 0)
		return rc;
	rc = append_locked(s, ev, ref);
	store__unlock(s);
	if (rc < 0) {
		if (ref)
			memset(ref, 0, sizeof *ref);
		rg_error(STORE_COMP, "outbox_append_failed", "kind=%s error=%s",
			 rg_kind_name(ev->kind), rg_errname(rc));
	}
	return rc;
}

/* Fill row from the statement's current result; body opened into s->plain. */
static int row_read(struct store *s, sqlite3_stmt *st, struct store_outbox_row *row)
{
	const char *id = (const char *)sqlite3_column_text(st, 1);
	const char *kind = (const char *)sqlite3_column_text(st, 2);
	const void *tok = sqlite3_column_blob(st, 7);
	const void *body;
	uint8_t aad[AAD_MAX];
	int k, n, len;

	memset(row, 0, sizeof *row);
	row->seq = sqlite3_column_int64(st, 0);
	if (!id || rg_uuid_parse(id, &row->id) < 0 || !kind || (k = rg_kind_parse(kind)) < 0) {
		rg_error(STORE_COMP, "outbox_row_invalid", "seq=%lld", (long long)row->seq);
		return RG_ERR_PARSE;
	}
	row->kind = (enum rg_kind)k;
	rg_hlc_unpack((uint64_t)sqlite3_column_int64(st, 3), &row->hlc);
	row->device_id = (const char *)sqlite3_column_text(st, 4);
	row->store_id = (const char *)sqlite3_column_text(st, 5);
	row->profile_id = (const char *)sqlite3_column_text(st, 6);
	if (tok && sqlite3_column_bytes(st, 7) == RG_TOKEN_LEN) {
		row->has_token = true;
		memcpy(row->token, tok, RG_TOKEN_LEN);
	}
	body = sqlite3_column_blob(st, 8);
	len = sqlite3_column_bytes(st, 8);
	n = body ? rg_aead_open(s->key, aad, outbox_aad(id, aad), body, (size_t)len,
				(uint8_t *)s->plain, sizeof s->plain - 1)
		 : RG_ERR_VERIFY;
	if (n < 0) {
		rg_error(STORE_COMP, "outbox_body_unreadable", "id=%s error=%s", id, rg_errname(n));
		return n == RG_ERR_TOOBIG ? RG_ERR_VERIFY : n;
	}
	s->plain[n] = '\0';
	row->body = s->plain;
	row->body_len = (size_t)n;
	row->created_ms = sqlite3_column_int64(st, 9);
	row->sent_ms =
	    sqlite3_column_type(st, 10) == SQLITE_NULL ? 0 : sqlite3_column_int64(st, 10);
	row->attempts = sqlite3_column_int(st, 11);
	return 0;
}

static int list_locked(struct store *s, int64_t after_seq, size_t limit,
		       int (*fn)(void *ctx, const struct store_outbox_row *row), void *ctx)
{
	struct store_outbox_row row;
	sqlite3_stmt *st;
	int rc, step, visited = 0;

	rc = store__prepare(
	    s,
	    "SELECT seq, id, kind, hlc, device_id, store_id, profile_id, token, body, "
	    "created_ms, sent_ms, attempts FROM outbox WHERE seq > ?1 "
	    "ORDER BY seq LIMIT ?2",
	    &st);
	if (rc < 0)
		return rc;
	sqlite3_bind_int64(st, 1, after_seq);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)limit);
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		if ((rc = row_read(s, st, &row)) < 0)
			break;
		visited++;
		rc = fn(ctx, &row);
		rg_wipe(s->plain, row.body_len);
		if (rc)
			break;
	}
	sqlite3_reset(st);
	if (rc < 0)
		return rc; /* a row that did not read, or the callback's error */
	if (step == SQLITE_ROW || step == SQLITE_DONE)
		return visited;
	return store__db_fail(s, "outbox_list", rg_db_err(step) ? rg_db_err(step) : RG_ERR_DB);
}

int store_outbox_list(struct store *s, int64_t after_seq, size_t limit,
		      int (*fn)(void *ctx, const struct store_outbox_row *row), void *ctx)
{
	int rc;

	if (!s || !fn || after_seq < 0 || limit == 0)
		return RG_ERR_INVAL;
	if (limit > STORE_LIST_MAX)
		return RG_ERR_RANGE;
	if ((rc = store__lock(s)) < 0)
		return rc;
	rc = list_locked(s, after_seq, limit, fn, ctx);
	store__unlock(s);
	return rc;
}

/* Run one statement per id in one transaction; returns rows changed. */
static int per_id(struct store *s, const char *sql, const char *what, const struct rg_uuid *ids,
		  size_t n, bool is_ack)
{
	char id[RG_UUID_STR_LEN + 1];
	sqlite3 *h = rg_db_handle(s->db);
	sqlite3_stmt *st;
	int rc, changed = 0, evicted = 0;

	/* Lazy: a power cut that undoes a mark only loses a count, and one
	 * that undoes an ack's delete brings rows back that go out again and
	 * that central acknowledges as duplicates (docs/wire.md). */
	if ((rc = store__begin_lazy(s, what)) < 0)
		return rc;
	if (is_ack && (rc = store__seen_write(s)) < 0)
		goto fail;
	for (size_t i = 0; i < n; i++) {
		if ((rc = store__prepare(s, sql, &st)) < 0)
			goto fail;
		sqlite3_bind_text(st, 1, rg_uuid_format(&ids[i], id), -1, SQLITE_TRANSIENT);
		if (!is_ack)
			sqlite3_bind_int64(st, 2, rg_clock_wall_ms(s->clock));
		if ((rc = store__step_done(s, st, what)) < 0)
			goto fail;
		changed += sqlite3_changes(h);
	}
	/* Acked rows no longer pin their profiles. */
	if (is_ack && changed && (evicted = rc = store__evict(s, NULL)) < 0)
		goto fail;
	if ((rc = store__commit(s, what)) < 0)
		return rc;
	if (is_ack) {
		store__seen_clear(s);
		s->evicted += evicted;
	}
	return changed;
fail:
	rg_db_rollback(s->db);
	return rc;
}

int store_outbox_mark_sent(struct store *s, const struct rg_uuid *ids, size_t n)
{
	int rc;

	if (!s || !ids || n == 0)
		return RG_ERR_INVAL;
	if (n > STORE_IDS_MAX)
		return RG_ERR_RANGE;
	if ((rc = store__lock(s)) < 0)
		return rc;
	rc = per_id(s, "UPDATE outbox SET sent_ms = ?2, attempts = attempts + 1 WHERE id = ?1",
		    "outbox_mark_sent", ids, n, false);
	store__unlock(s);
	return rc;
}

int store_outbox_ack(struct store *s, const struct rg_uuid *ids, size_t n)
{
	int rc;

	if (!s || !ids || n == 0)
		return RG_ERR_INVAL;
	if (n > STORE_IDS_MAX)
		return RG_ERR_RANGE;
	if ((rc = store__lock(s)) < 0)
		return rc;
	rc = per_id(s, "DELETE FROM outbox WHERE id = ?1", "outbox_ack", ids, n, true);
	store__unlock(s);
	if (rc >= 0)
		rg_info(STORE_COMP, "outbox_acked", "ids=%zu removed=%d", n, rc);
	return rc;
}

int store_outbox_count(struct store *s)
{
	int64_t n = 0;
	int rc;

	if (!s)
		return RG_ERR_INVAL;
	if ((rc = store__lock(s)) < 0)
		return rc;
	rc = store__counters(s, NULL, NULL, NULL, &n);
	store__unlock(s);
	if (rc < 0)
		return rc;
	return n > INT32_MAX ? INT32_MAX : (int)n;
}

/* One count or existence query on the outbox, bound to text. */
static int outbox_query(struct store *s, const char *sql, const char *arg, const char *what)
{
	sqlite3_stmt *st;
	int rc;

	if ((rc = store__lock(s)) < 0)
		return rc;
	if ((rc = store__prepare(s, sql, &st)) == 0) {
		sqlite3_bind_text(st, 1, arg, -1, SQLITE_TRANSIENT);
		rc = sqlite3_step(st);
		if (rc == SQLITE_ROW) {
			int64_t n = sqlite3_column_int64(st, 0);
			rc = n > INT32_MAX ? INT32_MAX : (int)n;
		} else {
			rc = store__db_fail(s, what, rg_db_err(rc) ? rg_db_err(rc) : RG_ERR_DB);
		}
		sqlite3_reset(st);
	}
	store__unlock(s);
	return rc;
}

int store_outbox_count_profile(struct store *s, const char *profile_id)
{
	if (!s || !store__id_valid(profile_id))
		return RG_ERR_INVAL;
	return outbox_query(s, "SELECT count(*) FROM outbox WHERE profile_id = ?1", profile_id,
			    "outbox_count_profile");
}

int store_outbox_has(struct store *s, const struct rg_uuid *id)
{
	char text[RG_UUID_STR_LEN + 1];
	if (!s || !id)
		return RG_ERR_INVAL;
	return outbox_query(s, "SELECT EXISTS (SELECT 1 FROM outbox WHERE id = ?1)",
			    rg_uuid_format(id, text), "outbox_has");
}
