/*
 * keystore_sim.c - an in-memory keystore for tests and the demo: nothing
 * survives close, and close wipes every value. Holds at most 64 secrets.
 */
#include <stdlib.h>
#include <string.h>

#include "common/crypto.h"
#include "common/err.h"

#include "keystore_impl.h"

#define KSIM_MAX 64

struct ksim_entry {
	char name[HAL_KEY_NAME_MAX + 1];
	uint8_t *val; /* NULL: slot free */
	size_t len;
};

struct ksim {
	struct ksim_entry e[KSIM_MAX];
};

static const char *const ksim_options[] = {NULL};

static int ksim_open(struct hal_keystore *ks, const struct hal__opts *o)
{
	(void)o;
	ks->priv = calloc(1, sizeof(struct ksim));
	return ks->priv ? 0 : RG_ERR_NOMEM;
}

static void drop(struct ksim_entry *e)
{
	if (e->val) {
		rg_wipe(e->val, e->len);
		free(e->val);
	}
	memset(e, 0, sizeof *e);
}

static void ksim_close(struct hal_keystore *ks)
{
	struct ksim *s = ks->priv;
	if (!s)
		return;
	for (size_t i = 0; i < KSIM_MAX; i++)
		drop(&s->e[i]);
	free(s);
	ks->priv = NULL;
}

static struct ksim_entry *find(struct ksim *s, const char *name)
{
	for (size_t i = 0; i < KSIM_MAX; i++)
		if (s->e[i].val && !strcmp(s->e[i].name, name))
			return &s->e[i];
	return NULL;
}

static int ksim_get(struct hal_keystore *ks, const char *name, uint8_t *buf, size_t cap)
{
	struct ksim_entry *e = find(ks->priv, name);
	if (!e)
		return RG_ERR_NOTFOUND;
	if (e->len > cap)
		return RG_ERR_TOOBIG;
	memcpy(buf, e->val, e->len);
	return (int)e->len;
}

static int ksim_put(struct hal_keystore *ks, const char *name, const void *v, size_t len)
{
	struct ksim *s = ks->priv;
	struct ksim_entry *e = find(s, name);
	uint8_t *copy = malloc(len);

	if (!copy)
		return RG_ERR_NOMEM;
	memcpy(copy, v, len);
	if (!e) {
		for (size_t i = 0; i < KSIM_MAX && !e; i++)
			if (!s->e[i].val)
				e = &s->e[i];
		if (!e) {
			rg_wipe(copy, len);
			free(copy);
			return RG_ERR_TOOBIG;
		}
	} else {
		drop(e);
	}
	memcpy(e->name, name, strlen(name) + 1);
	e->val = copy;
	e->len = len;
	return 0;
}

static int ksim_remove(struct hal_keystore *ks, const char *name)
{
	struct ksim_entry *e = find(ks->priv, name);
	if (!e)
		return RG_ERR_NOTFOUND;
	drop(e);
	return 0;
}

const struct hal_keystore_ops hal__keystore_sim_ops = {
    .version = HAL_KEYSTORE_OPS_VERSION,
    .name = "sim",
    .options = ksim_options,
    .open = ksim_open,
    .close = ksim_close,
    .get = ksim_get,
    .put = ksim_put,
    .remove = ksim_remove,
};
