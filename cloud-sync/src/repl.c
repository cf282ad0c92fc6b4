/*
 * repl.c - central's answers to a gateway's replication requests
 * (docs/replication.md): a page of "changes since N" written with the
 * delta writer from the store's replication read, the snapshot_needed
 * answer, and snapshot chunks. The store decides what goes (coalescing,
 * policy); this file only makes sure what it writes fits a page.
 */
#include <stdlib.h>
#include <string.h>

#include "cloud/cloud.h"
#include "common/err.h"
#include "common/log.h"

#define CHUNK_BUDGET (DELTA_PAGE_MAX / 2) /* data bytes, before JSON string escaping */

static int page_emit(void *ctx, const struct delta_change *c)
{
	return delta_writer_add(ctx, c);
}

int cloud_repl_changes_answer(struct cloud_store *s, const char *store,
			      const struct cloud_repl_policy *pol, const struct delta_request *rq,
			      int64_t now_ms, char **out, size_t *len,
			      struct cloud_repl_result *res)
{
	struct cloud_repl_req q = {.store = store,
				   .policy = pol,
				   .now_ms = now_ms,
				   .max = rq ? rq->max : 0,
				   .since = rq ? rq->since : 0};
	struct cloud_repl_result tmp;
	struct delta_writer *w = NULL;
	struct cloud_repl_sink sink;
	char *discard = NULL;
	size_t dl;
	int rc;

	if (!res)
		res = &tmp;
	memset(res, 0, sizeof *res);
	if (out)
		*out = NULL;
	if (len)
		*len = 0;
	if (!s || !store || !rq || rq->snapshot || !out || !len || now_ms < 0)
		return RG_ERR_INVAL;
	if ((rc = delta_writer_new(rq->since, &w)) < 0)
		return rc;
	sink.emit = page_emit;
	sink.ctx = w;
	rc = cloud_store_repl_changes(s, &q, &sink, res);
	if (rc < 0 || res->snapshot_needed) {
		delta_writer_finish(w, rq->since, rq->since, 0, 0, false, &discard, &dl);
		free(discard);
		if (rc < 0)
			return rc;
		if (!(*out =
			  delta_page_snapshot_needed(rq->since, res->latest, res->oldest, now_ms)))
			return RG_ERR_NOMEM;
		*len = strlen(*out);
		return 0;
	}
	/* a receiver ahead of central's log (a restored database) still gets a
	 * valid page: latest is never below what it was asked about */
	return delta_writer_finish(w, res->next, res->latest > res->next ? res->latest : res->next,
				   res->oldest, now_ms, res->more, out, len);
}

/* Snapshot chunks: the profiles are copied (the store lends them for one
 * call) until the data budget is used. */
struct chunk {
	struct delta_change *c;
	size_t n, cap, bytes;
};

static void chunk_free(struct chunk *k)
{
	for (size_t i = 0; i < k->n; i++) {
		free(k->c[i].body);
		free(k->c[i].idents);
	}
	free(k->c);
}

static int chunk_emit(void *ctx, const struct delta_change *c)
{
	struct chunk *k = ctx;
	size_t need = c->body_len + c->n_idents * 100 + 128;
	struct delta_change *d;

	if (k->n && k->bytes + need > CHUNK_BUDGET)
		return RG_ERR_TOOBIG;
	if (k->n == k->cap)
		return RG_ERR_TOOBIG;
	d = &k->c[k->n];
	*d = *c;
	d->idents = NULL;
	if (!(d->body = malloc(c->body_len + 1)))
		return RG_ERR_NOMEM;
	memcpy(d->body, c->body, c->body_len);
	d->body[c->body_len] = '\0';
	if (c->n_idents) {
		if (!(d->idents = malloc(c->n_idents * sizeof *d->idents))) {
			free(d->body);
			return RG_ERR_NOMEM;
		}
		memcpy(d->idents, c->idents, c->n_idents * sizeof *d->idents);
	}
	k->n++;
	k->bytes += need;
	return 0;
}

int cloud_repl_snapshot_answer(struct cloud_store *s, const char *store,
			       const struct cloud_repl_policy *pol, const struct delta_request *rq,
			       int64_t now_ms, char **out, size_t *len,
			       struct cloud_repl_result *res)
{
	struct cloud_repl_req q = {.store = store, .policy = pol, .now_ms = now_ms};
	struct cloud_repl_result tmp;
	struct cloud_repl_sink sink;
	struct chunk k = {0};
	const char *after;
	size_t n;
	int rc;

	if (!res)
		res = &tmp;
	memset(res, 0, sizeof *res);
	if (out)
		*out = NULL;
	if (len)
		*len = 0;
	if (!s || !store || !rq || !rq->snapshot || !out || !len || now_ms < 0)
		return RG_ERR_INVAL;
	q.max = rq->max;
	q.snapshot = rq->snapshot_id;
	q.after = rq->after;
	if (!(k.c = calloc((size_t)rq->max, sizeof *k.c)))
		return RG_ERR_NOMEM;
	k.cap = (size_t)rq->max;
	sink.emit = chunk_emit;
	sink.ctx = &k;
	if ((rc = cloud_store_repl_snapshot(s, &q, &sink, res)) < 0)
		goto out;
	/* a new snapshot (or one the store no longer had) starts at the first id */
	after = res->snapshot == rq->snapshot_id ? rq->after : "";
	for (n = k.n;; n /= 2) {
		rc = delta_chunk_build(res->snapshot, res->seq, now_ms, after,
				       res->done && n == k.n, k.c, n, out, len);
		if (rc != RG_ERR_TOOBIG || n <= 1)
			break;
	}
	if (rc == 0 && n < k.n)
		res->done = false;
	res->n = rc == 0 ? n : 0;
out:
	chunk_free(&k);
	return rc;
}
