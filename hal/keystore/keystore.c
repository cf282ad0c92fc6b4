/*
 * keystore.c - keystore registry and wrappers: backend lookup, option
 * parsing, name and size checks, optional-op checks (RG_ERR_NOSYS) and
 * tracing. Values never reach a log line; names may.
 */
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/log.h"

#include "keystore_impl.h"

static const struct hal_keystore_ops *const registry[] = {
    &hal__keystore_file_ops,
    &hal__keystore_sim_ops,
};
#define N_BACKENDS (sizeof registry / sizeof registry[0])

const char *hal_keystore_backend_name(size_t i)
{
	return i < N_BACKENDS ? registry[i]->name : NULL;
}

int hal_keystore_name_valid(const char *name)
{
	size_t n;
	if (!name)
		return 0;
	n = strlen(name);
	if (n == 0 || n > HAL_KEY_NAME_MAX)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		int ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
			 (i > 0 && (c == '_' || c == '.' || c == '-'));
		if (!ok)
			return 0;
	}
	return 1;
}

int hal_keystore_open(const char *backend, const char *options, struct hal_keystore **out)
{
	const struct hal_keystore_ops *ops = NULL;
	struct hal_keystore *ks;
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
		rg_error("keystore", "config_invalid",
			 "backend=%s error=\"no such keystore backend\"",
			 rg_log_quote(b, sizeof b, backend));
		return RG_ERR_NOTFOUND;
	}
	o = malloc(sizeof *o);
	ks = calloc(1, sizeof *ks);
	if (!o || !ks) {
		free(o);
		free(ks);
		return RG_ERR_NOMEM;
	}
	ks->ops = ops;
	rc = hal__opts_parse(o, "keystore", ops->name, options, ops->options);
	if (!rc)
		rc = ops->open(ks, o);
	free(o);
	if (rc) {
		free(ks);
		return rc;
	}
	*out = ks;
	return 0;
}

void hal_keystore_close(struct hal_keystore *ks)
{
	if (!ks)
		return;
	ks->ops->close(ks);
	free(ks);
}

int hal_keystore_get(struct hal_keystore *ks, const char *name, uint8_t *buf, size_t cap)
{
	int rc;
	if (!ks || !hal_keystore_name_valid(name) || (!buf && cap))
		return RG_ERR_INVAL;
	rc = ks->ops->get(ks, name, buf, cap);
	rg_debug("keystore", "get", "backend=%s name=%s rc=%s", ks->ops->name, name,
		 rc < 0 ? rg_errname(rc) : "ok");
	return rc;
}

int hal_keystore_put(struct hal_keystore *ks, const char *name, const void *value, size_t len)
{
	int rc;
	if (!ks || !hal_keystore_name_valid(name) || !value || len == 0)
		return RG_ERR_INVAL;
	if (len > HAL_KEY_VALUE_MAX)
		return RG_ERR_TOOBIG;
	rc = ks->ops->put(ks, name, value, len);
	rg_log(rc < 0 ? RG_LOG_ERROR : RG_LOG_INFO, "keystore", "put",
	       "backend=%s name=%s len=%zu rc=%s", ks->ops->name, name, len,
	       rc < 0 ? rg_errname(rc) : "ok");
	return rc;
}

int hal_keystore_remove(struct hal_keystore *ks, const char *name)
{
	int rc;
	if (!ks || !hal_keystore_name_valid(name))
		return RG_ERR_INVAL;
	if (!ks->ops->remove)
		return RG_ERR_NOSYS;
	rc = ks->ops->remove(ks, name);
	rg_info("keystore", "remove", "backend=%s name=%s rc=%s", ks->ops->name, name,
		rc < 0 ? rg_errname(rc) : "ok");
	return rc;
}

const char *hal_keystore_backend(const struct hal_keystore *ks)
{
	return ks ? ks->ops->name : "";
}
