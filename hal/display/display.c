/*
 * display.c - display registry and wrappers: backend lookup, option parsing,
 * view validation (sizes, UTF-8, JSON), optional-op checks (RG_ERR_NOSYS) and
 * tracing. Backends (display_<name>.c) only ever see valid views.
 */
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/json.h"
#include "common/log.h"

#include "../core/text.h"
#include "display_impl.h"

static const struct hal_display_ops *const registry[] = {
    &hal__display_sim_ops,
};
#define N_BACKENDS (sizeof registry / sizeof registry[0])

const char *hal_display_backend_name(size_t i)
{
	return i < N_BACKENDS ? registry[i]->name : NULL;
}

int hal_display_open(const char *backend, const char *options, const struct rg_clock *clock,
		     struct hal_display **out)
{
	const struct hal_display_ops *ops = NULL;
	struct hal__opts *o;
	struct hal_display *d;
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
		rg_error("display", "config_invalid",
			 "backend=%s error=\"no such display backend\"",
			 rg_log_quote(b, sizeof b, backend));
		return RG_ERR_NOTFOUND;
	}
	o = malloc(sizeof *o);
	d = calloc(1, sizeof *d);
	if (!o || !d) {
		free(o);
		free(d);
		return RG_ERR_NOMEM;
	}
	d->ops = ops;
	d->clock = clock ? clock : rg_clock_system();
	rc = hal__opts_parse(o, "display", ops->name, options, ops->options);
	if (!rc)
		rc = ops->open(d, o);
	free(o);
	if (rc) {
		free(d);
		return rc;
	}
	*out = d;
	return 0;
}

void hal_display_close(struct hal_display *d)
{
	if (!d)
		return;
	d->ops->close(d);
	free(d);
}

static int check_text(const char *s)
{
	size_t n;
	if (!s)
		return RG_ERR_INVAL;
	n = strlen(s);
	if (n > HAL_VIEW_TEXT_MAX)
		return RG_ERR_TOOBIG;
	return hal__text_check(s, n);
}

static int check_view(const struct hal_view *v)
{
	int rc;

	if (!v)
		return RG_ERR_INVAL;
	if (v->n_lines > HAL_VIEW_LINES_MAX)
		return RG_ERR_RANGE;
	if (v->json) {
		size_t n = strlen(v->json);
		cJSON *root = NULL;
		if ((v->title && v->title[0]) || v->n_lines)
			return RG_ERR_INVAL;
		if (n > HAL_VIEW_JSON_MAX)
			return RG_ERR_TOOBIG;
		rc = rg_json_parse(v->json, n, HAL_VIEW_JSON_MAX, &root, NULL, 0);
		if (rc)
			return RG_ERR_PARSE;
		rc = cJSON_IsObject(root) ? 0 : RG_ERR_PARSE;
		cJSON_Delete(root);
		return rc;
	}
	if ((!v->title || !v->title[0]) && v->n_lines == 0)
		return RG_ERR_INVAL;
	if (v->title && (rc = check_text(v->title)))
		return rc;
	for (size_t i = 0; i < v->n_lines; i++)
		if ((rc = check_text(v->lines[i])))
			return rc;
	return 0;
}

int hal_display_show(struct hal_display *d, const struct hal_view *v)
{
	int rc;
	if (!d)
		return RG_ERR_INVAL;
	rc = check_view(v);
	if (rc) {
		rg_warn("display", "view_refused", "backend=%s error=%s", d->ops->name,
			rg_errname(rc));
		return rc;
	}
	rc = d->ops->show(d, v);
	rg_debug("display", "show", "backend=%s json=%d lines=%zu rc=%d", d->ops->name,
		 v->json != NULL, v->n_lines, rc);
	return rc;
}

int hal_display_clear(struct hal_display *d)
{
	if (!d)
		return RG_ERR_INVAL;
	if (!d->ops->clear)
		return RG_ERR_NOSYS;
	return d->ops->clear(d);
}

int hal_display_frame(struct hal_display *d, size_t age, struct hal_frame *out)
{
	if (!d || !out)
		return RG_ERR_INVAL;
	if (!d->ops->frame)
		return RG_ERR_NOSYS;
	return d->ops->frame(d, age, out);
}

int hal_display_save(struct hal_display *d, const char *path)
{
	if (!d || !path || !*path)
		return RG_ERR_INVAL;
	if (!d->ops->save)
		return RG_ERR_NOSYS;
	return d->ops->save(d, path);
}

const char *hal_display_backend(const struct hal_display *d)
{
	return d ? d->ops->name : "";
}

unsigned hal_display_caps(const struct hal_display *d)
{
	return d ? d->ops->caps : 0;
}
