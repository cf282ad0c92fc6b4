/*
 * store.c - the profile store's dispatch layer: the registry of backends by
 * name and one thin wrapper per op. The wrappers are the only callers of a
 * backend's ops: they check arguments, answer RG_ERR_NOSYS for an optional
 * op a backend lacks, and are the one place to trace or inject faults.
 */
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/log.h"
#include "store_internal.h"

struct cloud_store {
	const struct cloud_store_ops *ops;
	void *priv;
};

static const struct cloud_store_ops *const backends[] = {
    &cloud__sqlite_ops,
};

const char *cloud_store_backend_name(size_t i)
{
	return i < sizeof backends / sizeof backends[0] ? backends[i]->name : NULL;
}

int cloud_store_open(const struct cloud_store_opts *o, struct cloud_store **out)
{
	const struct cloud_store_ops *ops = NULL;
	const char *name;
	struct cloud_store *s;
	int rc;

	if (out)
		*out = NULL;
	if (!o || !out)
		return RG_ERR_INVAL;
	name = o->backend ? o->backend : "sqlite";
	for (size_t i = 0; i < sizeof backends / sizeof backends[0]; i++)
		if (!strcmp(backends[i]->name, name))
			ops = backends[i];
	if (!ops) {
		rg_error(CLOUD_COMP, "backend_unknown", "backend=%s", name);
		return RG_ERR_NOTFOUND;
	}
	if (ops->version < 1 || !ops->open || !ops->close || !ops->apply_batch ||
	    !ops->profile_get || !ops->seed)
		return RG_ERR_INVAL;
	if (!(s = calloc(1, sizeof *s)))
		return RG_ERR_NOMEM;
	s->ops = ops;
	if ((rc = ops->open(o, &s->priv)) < 0) {
		free(s);
		return rc;
	}
	*out = s;
	return 0;
}

void cloud_store_close(struct cloud_store *s)
{
	if (!s)
		return;
	s->ops->close(s->priv);
	free(s);
}

const char *cloud_store_backend(const struct cloud_store *s)
{
	return s ? s->ops->name : "none";
}

int cloud_store_apply_batch(struct cloud_store *s, const struct rg_wire_batch *b,
			    struct cloud_apply_result *r)
{
	struct cloud_apply_result tmp;
	if (!r)
		r = &tmp;
	memset(r, 0, sizeof *r);
	if (!s || !b || !b->n_items || !b->items)
		return RG_ERR_INVAL;
	return s->ops->apply_batch(s->priv, b, r);
}

int cloud_store_held_back(const struct rg_wire_batch *const *bs, const int *rcs, size_t k)
{
	for (size_t j = 0; j < k; j++)
		if (rcs[j] < 0 && !strcmp(bs[j]->device, bs[k]->device))
			return 1;
	return 0;
}

int cloud_store_apply_batches(struct cloud_store *s, const struct rg_wire_batch *const *bs,
			      size_t n, struct cloud_apply_result *rs, int *rcs)
{
	int rc = RG_ERR_INVAL, ok = 0;

	if (!s || !bs || !rs || !rcs || n < 1 || n > CLOUD_GROUP_MAX)
		return RG_ERR_INVAL;
	for (size_t k = 0; k < n; k++)
		if (!bs[k] || !bs[k]->n_items || !bs[k]->items)
			return RG_ERR_INVAL;
	if (s->ops->apply_batches)
		return s->ops->apply_batches(s->priv, bs, n, rs, rcs);
	for (size_t k = 0; k < n; k++) {
		memset(&rs[k], 0, sizeof rs[k]);
		if (cloud_store_held_back(bs, rcs, k))
			rc = rcs[k] = RG_ERR_STATE;
		else if ((rcs[k] = s->ops->apply_batch(s->priv, bs[k], &rs[k])) < 0)
			rc = rcs[k];
		else
			ok++;
	}
	return ok ? 0 : rc;
}

int cloud_store_profile_get(struct cloud_store *s, const char *id, struct cloud_profile *out)
{
	if (out)
		memset(out, 0, sizeof *out);
	if (!s || !id || !out)
		return RG_ERR_INVAL;
	return s->ops->profile_get(s->priv, id, out);
}

int cloud_store_profile_by_token(struct cloud_store *s, const uint8_t token[RG_TOKEN_LEN],
				 struct cloud_profile *out)
{
	if (out)
		memset(out, 0, sizeof *out);
	if (!s || !token || !out)
		return RG_ERR_INVAL;
	if (!s->ops->profile_by_token)
		return RG_ERR_NOSYS;
	return s->ops->profile_by_token(s->priv, token, out);
}

int cloud_store_seed(struct cloud_store *s, const struct cloud_seed_profile *p, size_t n)
{
	if (!s || (!p && n))
		return RG_ERR_INVAL;
	if (!n)
		return 0;
	return s->ops->seed(s->priv, p, n);
}

int cloud_store_interaction_get(struct cloud_store *s, const struct rg_uuid *id,
				struct cloud_interaction *out)
{
	if (out)
		memset(out, 0, sizeof *out);
	if (!s || !id || !out)
		return RG_ERR_INVAL;
	if (!s->ops->interaction_get)
		return RG_ERR_NOSYS;
	return s->ops->interaction_get(s->priv, id, out);
}

int cloud_store_device_get(struct cloud_store *s, const char *device, enum rg_lane lane,
			   struct cloud_device_state *out)
{
	if (out)
		memset(out, 0, sizeof *out);
	if (!s || !device || !out || (unsigned)lane >= RG_LANE__COUNT)
		return RG_ERR_INVAL;
	if (!s->ops->device_get)
		return RG_ERR_NOSYS;
	return s->ops->device_get(s->priv, device, lane, out);
}

int cloud_store_changes_since(struct cloud_store *s, int64_t after, struct cloud_change *out,
			      size_t cap)
{
	if (!s || (!out && cap))
		return RG_ERR_INVAL;
	if (!s->ops->changes_since)
		return RG_ERR_NOSYS;
	return s->ops->changes_since(s->priv, after, out, cap);
}

int cloud_store_stats(struct cloud_store *s, struct cloud_store_stats *out)
{
	if (out)
		memset(out, 0, sizeof *out);
	if (!s || !out)
		return RG_ERR_INVAL;
	if (!s->ops->stats)
		return RG_ERR_NOSYS;
	return s->ops->stats(s->priv, out);
}

int cloud_store_unknown_token_get(struct cloud_store *s, const uint8_t token[RG_TOKEN_LEN],
				  int64_t *n)
{
	if (n)
		*n = 0;
	if (!s || !token || !n)
		return RG_ERR_INVAL;
	if (!s->ops->unknown_token_get)
		return RG_ERR_NOSYS;
	return s->ops->unknown_token_get(s->priv, token, n);
}

/* ---- the identity graph, erasure, imports (ops version 2) ---- */

static int id_ok(const char *id)
{
	size_t n = id ? strlen(id) : 0;
	return n >= 1 && n <= RG_WIRE_ID_MAX;
}

/* A caller without an op struct gets a scratch one (stamp now, by ""). */
static struct cloud_op *op_or(struct cloud_op *op, struct cloud_op *tmp)
{
	if (!op) {
		memset(tmp, 0, sizeof *tmp);
		op = tmp;
	}
	op->err[0] = '\0';
	return op;
}

static int op_by_ok(const struct cloud_op *op)
{
	return !op->by || strlen(op->by) <= 64;
}

int cloud_store_link(struct cloud_store *s, struct cloud_op *op, const char *profile,
		     const uint8_t token[RG_TOKEN_LEN], const char *type, unsigned flags)
{
	struct cloud_op tmp;
	size_t tl = type ? strlen(type) : 0;
	op = op_or(op, &tmp);
	if (!s || !id_ok(profile) || !token || tl < 1 || tl > 16 || (flags & ~CLOUD_LINK_MOVE) ||
	    !op_by_ok(op))
		return RG_ERR_INVAL;
	if (!s->ops->link)
		return RG_ERR_NOSYS;
	return s->ops->link(s->priv, op, profile, token, type, flags);
}

int cloud_store_merge(struct cloud_store *s, struct cloud_op *op, const char *from,
		      const char *into, int64_t *merge_id)
{
	struct cloud_op tmp;
	int64_t scratch;
	op = op_or(op, &tmp);
	if (!merge_id)
		merge_id = &scratch;
	*merge_id = 0;
	if (!s || !id_ok(from) || !id_ok(into) || !op_by_ok(op))
		return RG_ERR_INVAL;
	if (!s->ops->merge)
		return RG_ERR_NOSYS;
	return s->ops->merge(s->priv, op, from, into, merge_id);
}

int cloud_store_unmerge(struct cloud_store *s, struct cloud_op *op, int64_t merge_id)
{
	struct cloud_op tmp;
	op = op_or(op, &tmp);
	if (!s || merge_id < 1 || !op_by_ok(op))
		return RG_ERR_INVAL;
	if (!s->ops->unmerge)
		return RG_ERR_NOSYS;
	return s->ops->unmerge(s->priv, op, merge_id);
}

int cloud_store_erase(struct cloud_store *s, struct cloud_op *op, const char *profile)
{
	struct cloud_op tmp;
	op = op_or(op, &tmp);
	if (!s || !id_ok(profile) || !op_by_ok(op))
		return RG_ERR_INVAL;
	if (!s->ops->erase)
		return RG_ERR_NOSYS;
	return s->ops->erase(s->priv, op, profile);
}

int cloud_store_import(struct cloud_store *s, const struct cloud_import_item *items, size_t n,
		       struct cloud_apply_result *r)
{
	struct cloud_apply_result tmp;
	if (!r)
		r = &tmp;
	memset(r, 0, sizeof *r);
	if (!s || (!items && n))
		return RG_ERR_INVAL;
	for (size_t i = 0; i < n; i++) {
		const struct cloud_import_item *it = &items[i];
		size_t cl = it->channel ? strlen(it->channel) : 0;
		size_t dl = it->department ? strlen(it->department) : 0;
		if (!cloud_import_kind_valid(it->kind) || cl < 1 || cl > 16 || dl > 32 ||
		    !cJSON_IsObject(it->body) ||
		    (it->profile && *it->profile && !id_ok(it->profile)) ||
		    (!(it->profile && *it->profile) && !it->has_token))
			return RG_ERR_INVAL;
	}
	if (!n)
		return 0;
	if (!s->ops->import)
		return RG_ERR_NOSYS;
	return s->ops->import(s->priv, items, n, r);
}

int cloud_store_identifiers(struct cloud_store *s, const char *profile,
			    struct cloud_identifier *out, size_t cap)
{
	if (!s || !id_ok(profile) || (!out && cap))
		return RG_ERR_INVAL;
	if (!s->ops->identifiers)
		return RG_ERR_NOSYS;
	return s->ops->identifiers(s->priv, profile, out, cap);
}

int cloud_store_merges(struct cloud_store *s, const char *profile, struct cloud_merge *out,
		       size_t cap)
{
	if (!s || !id_ok(profile) || (!out && cap))
		return RG_ERR_INVAL;
	if (!s->ops->merges)
		return RG_ERR_NOSYS;
	return s->ops->merges(s->priv, profile, out, cap);
}

/* ---- replication (ops version 3) ---- */

const char *cloud_repl_policy_name(enum cloud_repl_policy_kind k)
{
	switch (k) {
	case CLOUD_REPL_ALL:
		return "all";
	case CLOUD_REPL_HOME_AND_RECENT:
		return "home_and_recent";
	}
	return NULL;
}

static int repl_req_ok(const struct cloud_repl_req *rq, const struct cloud_repl_sink *sink)
{
	size_t sl = rq && rq->store ? strlen(rq->store) : 0;
	const struct cloud_repl_policy *p = rq ? rq->policy : NULL;
	return rq && sink && sink->emit && sl >= 1 && sl <= RG_WIRE_STORE_MAX && rq->max >= 1 &&
	       rq->max <= DELTA_CHANGES_MAX && rq->since >= 0 && rq->since <= DELTA_SEQ_MAX &&
	       rq->snapshot >= 0 && (!rq->after || strlen(rq->after) <= RG_WIRE_ID_MAX) &&
	       (!p || (cloud_repl_policy_name(p->kind) && p->recent_days >= 1 &&
		       p->recent_days <= CLOUD_REPL_DAYS_MAX));
}

int cloud_store_repl_changes(struct cloud_store *s, const struct cloud_repl_req *rq,
			     const struct cloud_repl_sink *sink, struct cloud_repl_result *out)
{
	if (out)
		memset(out, 0, sizeof *out);
	if (!s || !out || !repl_req_ok(rq, sink))
		return RG_ERR_INVAL;
	if (!s->ops->repl_changes)
		return RG_ERR_NOSYS;
	return s->ops->repl_changes(s->priv, rq, sink, out);
}

int cloud_store_repl_snapshot(struct cloud_store *s, const struct cloud_repl_req *rq,
			      const struct cloud_repl_sink *sink, struct cloud_repl_result *out)
{
	if (out)
		memset(out, 0, sizeof *out);
	if (!s || !out || !repl_req_ok(rq, sink))
		return RG_ERR_INVAL;
	if (!s->ops->repl_snapshot)
		return RG_ERR_NOSYS;
	return s->ops->repl_snapshot(s->priv, rq, sink, out);
}

int cloud_store_repl_prune(struct cloud_store *s, int64_t before_ms, int64_t *removed)
{
	int64_t scratch;
	if (!removed)
		removed = &scratch;
	*removed = 0;
	if (!s || before_ms < 0)
		return RG_ERR_INVAL;
	if (!s->ops->repl_prune)
		return RG_ERR_NOSYS;
	return s->ops->repl_prune(s->priv, before_ms, removed);
}

int cloud_store_repl_watch(struct cloud_store *s, int64_t after, int64_t *latest, int64_t *notable)
{
	if (latest)
		*latest = after;
	if (notable)
		*notable = 0;
	if (!s || after < -1 || !latest || !notable)
		return RG_ERR_INVAL;
	if (!s->ops->repl_watch)
		return RG_ERR_NOSYS;
	return s->ops->repl_watch(s->priv, after, latest, notable);
}
