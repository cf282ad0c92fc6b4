/*
 * spool.c - the gateway's durable spool (gateway/spool.h). Accepted batches
 * are rows of `batches`, their interaction ids rows of `items`; an ack
 * removes ids and a batch leaves when none is left. The disk budget is kept
 * on accounted bytes (counters.bytes, exact through triggers): a put that
 * would exceed it first sheds the oldest telemetry batches, then is refused.
 * Nothing here deletes an interactions or priority batch except an ack.
 */
#include "gateway/spool.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/crypto.h"
#include "common/db.h"
#include "common/err.h"
#include "common/log.h"
#include "spool_internal.h"

struct gw_spool {
	struct rg_db *db;
	const struct rg_clock *clock;
	int64_t budget;
	bool in_tx;
};

static int db_fail(struct gw_spool *s, const char *op, int rc)
{
	rg_error(GW_SPOOL_COMP, "db_failed", "op=%s error=%s detail=\"%s\"", op, rg_errname(rc),
		 rg_db_errmsg(s->db));
	return rc;
}

static int prep(struct gw_spool *s, const char *sql, sqlite3_stmt **st)
{
	int rc = rg_db_prepare(s->db, sql, st);
	return rc < 0 ? db_fail(s, "prepare", rc) : 0;
}

static int step_done(struct gw_spool *s, sqlite3_stmt *st, const char *op)
{
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc == SQLITE_DONE || rc == SQLITE_ROW)
		return 0;
	return db_fail(s, op, rg_db_err(rc) ? rg_db_err(rc) : RG_ERR_DB);
}

static int check_store(struct gw_spool *s, const char *store_id)
{
	sqlite3_stmt *st;
	int rc;

	if ((rc = prep(s, "SELECT value FROM meta WHERE key = 'store_id'", &st)) < 0)
		return rc;
	if (sqlite3_step(st) == SQLITE_ROW) {
		const char *have = (const char *)sqlite3_column_text(st, 0);
		rc = have && !strcmp(have, store_id) ? 0 : RG_ERR_STATE;
		if (rc < 0)
			rg_error(GW_SPOOL_COMP, "wrong_store", "spool_store=%s config_store=%s",
				 have ? have : "?", store_id);
		sqlite3_reset(st);
		return rc;
	}
	sqlite3_reset(st);
	if ((rc = prep(s, "INSERT INTO meta(key, value) VALUES ('store_id', ?1)", &st)) < 0)
		return rc;
	sqlite3_bind_text(st, 1, store_id, -1, SQLITE_STATIC);
	return step_done(s, st, "meta_store");
}

int gw_spool_open(const char *path, const char *store_id, int64_t budget_bytes,
		  const struct rg_clock *clock, struct gw_spool **out)
{
	struct rg_db_opts o = {.durability = RG_DB_DURABLE};
	struct gw_spool *s;
	int rc;

	*out = NULL;
	if (!path || !store_id || !clock || budget_bytes <= 0)
		return RG_ERR_INVAL;
	if (!(s = calloc(1, sizeof *s)))
		return RG_ERR_NOMEM;
	s->clock = clock;
	s->budget = budget_bytes;
	if ((rc = rg_db_open(path, &o, &s->db)) < 0) {
		rg_error(GW_SPOOL_COMP, "open_failed", "path=%s error=%s", path, rg_errname(rc));
		free(s);
		return rc;
	}
	if ((rc = gw_spool__migrate(s->db)) < 0) {
		rg_error(GW_SPOOL_COMP, "migrate_failed", "path=%s error=%s detail=\"%s\"", path,
			 rg_errname(rc), rg_db_errmsg(s->db));
		goto fail;
	}
	if ((rc = check_store(s, store_id)) < 0)
		goto fail;
	*out = s;
	return 0;
fail:
	rg_db_close(s->db);
	free(s);
	return rc;
}

void gw_spool_close(struct gw_spool *s)
{
	if (!s)
		return;
	if (s->in_tx)
		rg_db_rollback(s->db);
	rg_db_close(s->db);
	free(s);
}

void gw_spool_set_budget(struct gw_spool *s, int64_t budget_bytes)
{
	if (budget_bytes > 0)
		s->budget = budget_bytes;
}

static int begin(struct gw_spool *s, bool lazy)
{
	int rc;
	if (s->in_tx)
		return RG_ERR_STATE;
	if ((rc = lazy ? rg_db_begin_lazy(s->db) : rg_db_begin(s->db)) < 0)
		return db_fail(s, "begin", rc);
	s->in_tx = true;
	return 0;
}

int gw_spool_begin(struct gw_spool *s)
{
	return begin(s, false);
}

int gw_spool_commit(struct gw_spool *s)
{
	int rc;
	if (!s->in_tx)
		return RG_ERR_STATE;
	rc = rg_db_commit(s->db);
	if (rc < 0) {
		rg_db_rollback(s->db);
		s->in_tx = false;
		return db_fail(s, "commit", rc);
	}
	s->in_tx = false;
	return 0;
}

void gw_spool_rollback(struct gw_spool *s)
{
	if (s->in_tx)
		rg_db_rollback(s->db);
	s->in_tx = false;
}

static int used_bytes(struct gw_spool *s, int64_t *out)
{
	sqlite3_stmt *st;
	int rc;
	if ((rc = prep(s, "SELECT bytes FROM counters WHERE id = 1", &st)) < 0)
		return rc;
	rc = sqlite3_step(st);
	*out = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
	sqlite3_reset(st);
	return rc == SQLITE_ROW ? 0 : db_fail(s, "counters", RG_ERR_DB);
}

static int delete_batch(struct gw_spool *s, int64_t seq)
{
	sqlite3_stmt *st;
	int rc;
	if ((rc = prep(s, "DELETE FROM batches WHERE seq = ?1", &st)) < 0)
		return rc;
	sqlite3_bind_int64(st, 1, seq);
	return step_done(s, st, "delete_batch");
}

/* Drop the oldest telemetry batch: 1 if one was dropped, 0 if none is left. */
static int shed_one(struct gw_spool *s, struct gw_put_result *r)
{
	char dev[RG_WIRE_ID_MAX + 1], batch[RG_UUID_STR_LEN + 1];
	int64_t seq;
	int items, rc;
	sqlite3_stmt *st;

	if ((rc = prep(s,
		       "SELECT seq, device, batch, pending FROM batches WHERE lane = 2 "
		       "ORDER BY seq LIMIT 1",
		       &st)) < 0)
		return rc;
	if ((rc = sqlite3_step(st)) != SQLITE_ROW) {
		sqlite3_reset(st);
		return rc == SQLITE_DONE ? 0 : db_fail(s, "shed_select", RG_ERR_DB);
	}
	seq = sqlite3_column_int64(st, 0);
	snprintf(dev, sizeof dev, "%s", (const char *)sqlite3_column_text(st, 1));
	snprintf(batch, sizeof batch, "%s", (const char *)sqlite3_column_text(st, 2));
	items = sqlite3_column_int(st, 3);
	sqlite3_reset(st);
	if ((rc = delete_batch(s, seq)) < 0)
		return rc;
	r->shed_batches++;
	r->shed_items += items;
	rg_warn(GW_SPOOL_COMP, "telemetry_shed", "device=%s batch=%s items=%d seq=%lld", dev, batch,
		items, (long long)seq);
	return 1;
}

static int find_duplicate(struct gw_spool *s, const char *device, const uint8_t *digest,
			  int64_t *seq)
{
	sqlite3_stmt *st;
	int rc;
	if ((rc = prep(s, "SELECT seq FROM batches WHERE device = ?1 AND digest = ?2", &st)) < 0)
		return rc;
	sqlite3_bind_text(st, 1, device, -1, SQLITE_STATIC);
	sqlite3_bind_blob(st, 2, digest, RG_SHA256_LEN, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*seq = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	if (rc == SQLITE_ROW)
		return 1;
	return rc == SQLITE_DONE ? 0 : db_fail(s, "dup_select", RG_ERR_DB);
}

static int insert_batch(struct gw_spool *s, const struct gw_spool_in *in, const uint8_t *digest,
			int64_t cost, int64_t now, int64_t *seq)
{
	char batch[RG_UUID_STR_LEN + 1];
	sqlite3_stmt *st;
	int rc;

	rg_uuid_format(&in->batch_id, batch);
	if ((rc = prep(s,
		       "INSERT INTO batches(device, lane, batch, digest, payload, items, pending, "
		       "cost, received_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6, ?7, ?8)",
		       &st)) < 0)
		return rc;
	sqlite3_bind_text(st, 1, in->device, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 2, (int)in->lane);
	sqlite3_bind_text(st, 3, batch, -1, SQLITE_STATIC);
	sqlite3_bind_blob(st, 4, digest, RG_SHA256_LEN, SQLITE_STATIC);
	sqlite3_bind_blob(st, 5, in->payload, (int)in->len, SQLITE_STATIC);
	sqlite3_bind_int64(st, 6, (sqlite3_int64)in->n_ids);
	sqlite3_bind_int64(st, 7, cost);
	sqlite3_bind_int64(st, 8, now);
	if ((rc = step_done(s, st, "insert_batch")) < 0)
		return rc;
	*seq = sqlite3_last_insert_rowid(rg_db_handle(s->db));

	if ((rc = prep(s, "INSERT OR IGNORE INTO items(id, seq) VALUES (?1, ?2)", &st)) < 0)
		return rc;
	for (size_t i = 0; i < in->n_ids; i++) {
		sqlite3_bind_blob(st, 1, in->ids[i].b, 16, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, *seq);
		if ((rc = step_done(s, st, "insert_item")) < 0)
			return rc;
	}

	if ((rc = prep(s,
		       "INSERT INTO devices(id, first_ms, last_ms) VALUES (?1, ?2, ?2) "
		       "ON CONFLICT(id) DO UPDATE SET last_ms = excluded.last_ms",
		       &st)) < 0)
		return rc;
	sqlite3_bind_text(st, 1, in->device, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, now);
	return step_done(s, st, "device_seen");
}

int gw_spool_put(struct gw_spool *s, const struct gw_spool_in *in, struct gw_put_result *r)
{
	uint8_t digest[RG_SHA256_LEN];
	int64_t cost, used;
	int rc;

	memset(r, 0, sizeof *r);
	if (!s->in_tx)
		return RG_ERR_STATE;
	if (!in || !in->device || !in->payload || !in->len || !in->ids || !in->n_ids ||
	    in->n_ids > RG_WIRE_MAX_ITEMS || (unsigned)in->lane >= RG_LANE__COUNT)
		return RG_ERR_INVAL;
	if ((rc = rg_sha256(in->payload, in->len, digest)) < 0)
		return rc;
	if ((rc = find_duplicate(s, in->device, digest, &r->seq)) < 0)
		return rc;
	if (rc == 1) {
		r->status = GW_PUT_DUPLICATE;
		return 0;
	}
	cost = (int64_t)in->len + GW_SPOOL_BATCH_OVERHEAD +
	       GW_SPOOL_ITEM_OVERHEAD * (int64_t)in->n_ids;
	for (;;) {
		if ((rc = used_bytes(s, &used)) < 0)
			return rc;
		if (used + cost <= s->budget)
			break;
		if ((rc = shed_one(s, r)) < 0)
			return rc;
		if (rc == 0) {
			r->status = GW_PUT_FULL;
			r->seq = 0;
			return 0;
		}
	}
	if ((rc = insert_batch(s, in, digest, cost, rg_clock_wall_ms(s->clock), &r->seq)) < 0)
		return rc;
	r->status = GW_PUT_SPOOLED;
	return 0;
}

int gw_spool_put1(struct gw_spool *s, const struct gw_spool_in *in, struct gw_put_result *r)
{
	int rc;
	if ((rc = gw_spool_begin(s)) < 0)
		return rc;
	if ((rc = gw_spool_put(s, in, r)) < 0) {
		gw_spool_rollback(s);
		return rc;
	}
	return gw_spool_commit(s);
}

static const char entry_cols[] = "SELECT seq, device, lane, batch, payload, items, pending "
				 "FROM batches ";

static int entry_read(struct gw_spool *s, sqlite3_stmt *st, struct gw_spool_entry *e)
{
	const void *p = sqlite3_column_blob(st, 4);
	int n = sqlite3_column_bytes(st, 4);
	const char *dev = (const char *)sqlite3_column_text(st, 1);
	const char *batch = (const char *)sqlite3_column_text(st, 3);

	e->seq = sqlite3_column_int64(st, 0);
	if (!dev || !batch || !p || n <= 0 || rg_uuid_parse(batch, &e->batch_id) < 0) {
		rg_error(GW_SPOOL_COMP, "row_invalid", "seq=%lld", (long long)e->seq);
		return db_fail(s, "entry_read", RG_ERR_PARSE);
	}
	snprintf(e->device, sizeof e->device, "%s", dev);
	e->lane = (enum rg_lane)sqlite3_column_int(st, 2);
	e->items = sqlite3_column_int(st, 5);
	e->pending = sqlite3_column_int(st, 6);
	if (!(e->payload = malloc((size_t)n + 1)))
		return RG_ERR_NOMEM;
	memcpy(e->payload, p, (size_t)n);
	e->payload[n] = '\0';
	e->len = (size_t)n;
	return 0;
}

int gw_spool_run(struct gw_spool *s, const char *device, enum rg_lane lane, size_t max,
		 size_t max_bytes, int max_items, struct gw_spool_entry *es, size_t *n)
{
	char sql[160];
	sqlite3_stmt *st;
	size_t bytes = 0;
	int rc, items = 0;

	*n = 0;
	if (max == 0)
		return RG_ERR_INVAL;
	snprintf(sql, sizeof sql, "%sWHERE device = ?1 AND lane = ?2 ORDER BY seq LIMIT ?3",
		 entry_cols);
	if ((rc = prep(s, sql, &st)) < 0)
		return rc;
	sqlite3_bind_text(st, 1, device, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 2, (int)lane);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)max);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct gw_spool_entry *e = &es[*n];
		memset(e, 0, sizeof *e);
		if ((rc = entry_read(s, st, e)) < 0)
			break;
		if (*n && (bytes + e->len + 1 > max_bytes || items + e->items > max_items)) {
			gw_spool_entry_free(e);
			rc = SQLITE_DONE;
			break;
		}
		bytes += e->len + 1;
		items += e->items;
		(*n)++;
	}
	sqlite3_reset(st);
	if (rc == SQLITE_DONE)
		return *n > 0;
	for (size_t i = 0; i < *n; i++)
		gw_spool_entry_free(&es[i]);
	*n = 0;
	return rc < 0 ? rc : db_fail(s, "run", RG_ERR_DB);
}

int gw_spool_head(struct gw_spool *s, const char *device, enum rg_lane lane,
		  struct gw_spool_entry *e)
{
	size_t n;
	memset(e, 0, sizeof *e);
	return gw_spool_run(s, device, lane, 1, SIZE_MAX, INT_MAX, e, &n);
}

int gw_spool_head_seq(struct gw_spool *s, const char *device, enum rg_lane lane, int64_t *seq)
{
	sqlite3_stmt *st;
	int rc;
	*seq = 0;
	if ((rc = prep(s,
		       "SELECT seq FROM batches WHERE device = ?1 AND lane = ?2 "
		       "ORDER BY seq LIMIT 1",
		       &st)) < 0)
		return rc;
	sqlite3_bind_text(st, 1, device, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 2, (int)lane);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*seq = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	if (rc == SQLITE_ROW)
		return 1;
	return rc == SQLITE_DONE ? 0 : db_fail(s, "head_seq", RG_ERR_DB);
}

int gw_spool_exists(struct gw_spool *s, int64_t seq)
{
	sqlite3_stmt *st;
	int rc;
	if ((rc = prep(s, "SELECT 1 FROM batches WHERE seq = ?1", &st)) < 0)
		return rc;
	sqlite3_bind_int64(st, 1, seq);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc == SQLITE_ROW)
		return 1;
	return rc == SQLITE_DONE ? 0 : db_fail(s, "exists", RG_ERR_DB);
}

void gw_spool_entry_free(struct gw_spool_entry *e)
{
	if (!e)
		return;
	free(e->payload);
	e->payload = NULL;
	e->len = 0;
}

int gw_spool_queues(struct gw_spool *s, int (*fn)(void *ctx, const char *device, enum rg_lane lane),
		    void *ctx)
{
	sqlite3_stmt *st;
	int rc, n = 0;
	if ((rc = prep(s, "SELECT DISTINCT device, lane FROM batches", &st)) < 0)
		return rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *dev = (const char *)sqlite3_column_text(st, 0);
		int lane = sqlite3_column_int(st, 1);
		n++;
		if (dev && lane >= 0 && lane < RG_LANE__COUNT && fn(ctx, dev, (enum rg_lane)lane))
			break;
	}
	sqlite3_reset(st);
	if (rc == SQLITE_ROW || rc == SQLITE_DONE)
		return n;
	return db_fail(s, "queues", RG_ERR_DB);
}

/* How many ids an ack took from each spooled batch it touched. */
struct seq_count {
	int64_t seq;
	int n;
};

/* Every spooled copy of id from device: drop it, and count it against its
 * batch in *sc (*n distinct batches so far, room for *cap). CROSS JOIN keeps
 * items (by id) the outer loop: the planner would otherwise walk every
 * batch of the device. (Not DELETE ... RETURNING: SQLite builds a temporary
 * table for every execution of that.) */
static int ack_one(struct gw_spool *s, const char *device, const struct rg_uuid *id,
		   struct seq_count **sc, size_t *n, size_t *cap, struct gw_ack_result *r)
{
	int64_t seqs[16];
	size_t got;
	sqlite3_stmt *st;
	int rc;

	do {
		if ((rc = prep(s,
			       "SELECT i.seq FROM items i CROSS JOIN batches b ON b.seq = i.seq "
			       "WHERE i.id = ?1 AND b.device = ?2 LIMIT 16",
			       &st)) < 0)
			return rc;
		sqlite3_bind_blob(st, 1, id->b, 16, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, device, -1, SQLITE_STATIC);
		got = 0;
		while ((rc = sqlite3_step(st)) == SQLITE_ROW && got < 16)
			seqs[got++] = sqlite3_column_int64(st, 0);
		sqlite3_reset(st);
		if (rc != SQLITE_ROW && rc != SQLITE_DONE)
			return db_fail(s, "ack_select", RG_ERR_DB);
		for (size_t k = 0; k < got; k++) {
			size_t i = 0;
			if ((rc = prep(s, "DELETE FROM items WHERE id = ?1 AND seq = ?2", &st)) < 0)
				return rc;
			sqlite3_bind_blob(st, 1, id->b, 16, SQLITE_STATIC);
			sqlite3_bind_int64(st, 2, seqs[k]);
			if ((rc = step_done(s, st, "ack_item")) < 0)
				return rc;
			while (i < *n && (*sc)[i].seq != seqs[k])
				i++;
			if (i == *n) {
				if (*n == *cap) {
					size_t c = *cap ? *cap * 2 : 16;
					struct seq_count *m = realloc(*sc, c * sizeof *m);
					if (!m)
						return RG_ERR_NOMEM;
					*sc = m;
					*cap = c;
				}
				(*sc)[(*n)++] = (struct seq_count){seqs[k], 0};
			}
			(*sc)[i].n++;
			r->matched++;
		}
	} while (got == 16);
	return 0;
}

/* Count the batches down once each, and remove those fully covered (their
 * trigger keeps the counters exact). */
static int ack_batches(struct gw_spool *s, const struct seq_count *sc, size_t n,
		       struct gw_ack_result *r)
{
	sqlite3_stmt *st;
	int rc;

	for (size_t i = 0; i < n; i++) {
		if ((rc =
			 prep(s, "UPDATE batches SET pending = max(pending - ?2, 0) WHERE seq = ?1",
			      &st)) < 0)
			return rc;
		sqlite3_bind_int64(st, 1, sc[i].seq);
		sqlite3_bind_int(st, 2, sc[i].n);
		if ((rc = step_done(s, st, "ack_pending")) < 0)
			return rc;
		if ((rc = prep(s, "DELETE FROM batches WHERE seq = ?1 AND pending = 0", &st)) < 0)
			return rc;
		sqlite3_bind_int64(st, 1, sc[i].seq);
		if ((rc = step_done(s, st, "ack_delete")) < 0)
			return rc;
		r->batches_deleted += sqlite3_changes(rg_db_handle(s->db));
	}
	return 0;
}

int gw_spool_ack(struct gw_spool *s, const char *device, const struct rg_uuid *ids, size_t n,
		 struct gw_ack_result *r)
{
	int rc;

	memset(r, 0, sizeof *r);
	if (!device || (!ids && n))
		return RG_ERR_INVAL;
	/* Lazy: a power cut that undoes this delete brings the batch back; it
	 * is forwarded again and central acknowledges it as a duplicate. */
	/* An ack usually covers one batch; copies a device resent before the
	 * first was acked make more. */
	size_t cap = 0, nsc = 0;
	struct seq_count *sc = NULL;
	if ((rc = begin(s, true)) < 0)
		return rc;
	for (size_t i = 0; i < n && rc == 0; i++)
		rc = ack_one(s, device, &ids[i], &sc, &nsc, &cap, r);
	if (rc == 0)
		rc = ack_batches(s, sc, nsc, r);
	free(sc);
	if (rc < 0) {
		gw_spool_rollback(s);
		memset(r, 0, sizeof *r);
		return rc;
	}
	if ((rc = gw_spool_commit(s)) < 0)
		memset(r, 0, sizeof *r);
	return rc;
}

int gw_spool_device_known(struct gw_spool *s, const char *device)
{
	sqlite3_stmt *st;
	int rc;
	if ((rc = prep(s, "SELECT 1 FROM devices WHERE id = ?1", &st)) < 0)
		return rc;
	sqlite3_bind_text(st, 1, device, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc == SQLITE_ROW)
		return 1;
	return rc == SQLITE_DONE ? 0 : db_fail(s, "device_known", RG_ERR_DB);
}

int gw_spool_stats(struct gw_spool *s, struct gw_spool_stats *out)
{
	sqlite3_stmt *st;
	int rc;

	memset(out, 0, sizeof *out);
	out->budget = s->budget;
	if ((rc = prep(s,
		       "SELECT bytes, items, b_priority, b_interactions, b_telemetry "
		       "FROM counters WHERE id = 1",
		       &st)) < 0)
		return rc;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		out->bytes = sqlite3_column_int64(st, 0);
		out->items = sqlite3_column_int64(st, 1);
		for (int l = 0; l < RG_LANE__COUNT; l++)
			out->batches[l] = sqlite3_column_int64(st, 2 + l);
	}
	sqlite3_reset(st);
	return rc == SQLITE_ROW ? 0 : db_fail(s, "stats", RG_ERR_DB);
}
