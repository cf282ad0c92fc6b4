/*
 * indicator.c - indicator registry and wrappers: backend lookup, option
 * parsing, pattern range checks, optional-op checks (RG_ERR_NOSYS), tracing.
 */
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/log.h"

#include "indicator_impl.h"

static const struct hal_indicator_ops *const registry[] = {
    &hal__indicator_sim_ops,
};
#define N_BACKENDS (sizeof registry / sizeof registry[0])

static const char *const pattern_names[HAL_PATTERN__COUNT] = {"ok", "unknown", "refused", "error"};

const char *hal_indicator_backend_name(size_t i)
{
	return i < N_BACKENDS ? registry[i]->name : NULL;
}

const char *hal_pattern_name(enum hal_pattern p)
{
	return (unsigned)p < HAL_PATTERN__COUNT ? pattern_names[p] : "?";
}

int hal_pattern_parse(const char *name)
{
	for (int i = 0; name && i < HAL_PATTERN__COUNT; i++)
		if (!strcmp(name, pattern_names[i]))
			return i;
	return RG_ERR_PARSE;
}

int hal_indicator_open(const char *backend, const char *options, const struct rg_clock *clock,
		       struct hal_indicator **out)
{
	const struct hal_indicator_ops *ops = NULL;
	struct hal_indicator *ind;
	struct hal__opts *o;
	char b[64];
	int rc;

	if (!out)
		return RG_ERR_INVAL;
	*out = NULL;
	if (!backend)
		return RG_ERR_INVAL;
	for (size_t i = 0; i < N_BACKENDS; i++)
		if (!strcmp(registry[i]->name, backend))
			ops = registry[i];
	if (!ops) {
		rg_error("indicator", "config_invalid",
			 "backend=%s error=\"no such indicator backend\"",
			 rg_log_quote(b, sizeof b, backend));
		return RG_ERR_NOTFOUND;
	}
	o = malloc(sizeof *o);
	ind = calloc(1, sizeof *ind);
	if (!o || !ind) {
		free(o);
		free(ind);
		return RG_ERR_NOMEM;
	}
	ind->ops = ops;
	ind->clock = clock ? clock : rg_clock_system();
	rc = hal__opts_parse(o, "indicator", ops->name, options, ops->options);
	if (!rc)
		rc = ops->open(ind, o);
	free(o);
	if (rc) {
		free(ind);
		return rc;
	}
	*out = ind;
	return 0;
}

void hal_indicator_close(struct hal_indicator *ind)
{
	if (!ind)
		return;
	ind->ops->close(ind);
	free(ind);
}

int hal_indicator_signal(struct hal_indicator *ind, enum hal_pattern p)
{
	int rc;
	if (!ind)
		return RG_ERR_INVAL;
	if ((unsigned)p >= HAL_PATTERN__COUNT)
		return RG_ERR_RANGE;
	rc = ind->ops->signal(ind, p);
	rg_debug("indicator", "signal", "backend=%s pattern=%s rc=%d", ind->ops->name,
		 hal_pattern_name(p), rc);
	return rc;
}

int hal_indicator_events(struct hal_indicator *ind, struct hal_indicator_event *out, size_t cap)
{
	if (!ind || (!out && cap))
		return RG_ERR_INVAL;
	if (!ind->ops->events)
		return RG_ERR_NOSYS;
	return ind->ops->events(ind, out, cap);
}

const char *hal_indicator_backend(const struct hal_indicator *ind)
{
	return ind ? ind->ops->name : "";
}

unsigned hal_indicator_caps(const struct hal_indicator *ind)
{
	return ind ? ind->ops->caps : 0;
}
