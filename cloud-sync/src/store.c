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
