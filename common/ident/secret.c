/*
 * secret.c - TOTP secrets at rest: sealing (AES-256-GCM under the device's
 * TOTP seal key, with the customer reference as associated data so a sealed
 * secret cannot be moved to another customer) and the in-memory secret store
 * (a bounded array, wiped on free; the device's SQLite store replaces it).
 */
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "ident_internal.h"

#define SECRET_MEM_MAX 65536
#define SEAL_AAD_LABEL "regulars.totp.v1"

size_t ident__seal_aad(const char *ref, uint8_t *aad, size_t cap)
{
	size_t l = sizeof SEAL_AAD_LABEL, r = strlen(ref); /* label includes its NUL */
	if (l + r > cap)
		return 0;
	memcpy(aad, SEAL_AAD_LABEL, l);
	memcpy(aad + l, ref, r);
	return l + r;
}

struct secret_entry {
	char ref[IDENT_REF_MAX + 1];
	size_t len;
	uint8_t sealed[IDENT_TOTP_SEALED_MAX];
	int64_t last_step;
};

struct secret_mem {
	struct ident_secret_store store;
	size_t cap, n;
	struct secret_entry e[];
};

static struct secret_entry *find(struct secret_mem *m, const char *ref)
{
	for (size_t i = 0; i < m->n; i++)
		if (!strcmp(m->e[i].ref, ref))
			return &m->e[i];
	return NULL;
}

static int mem_get(void *priv, const char *ref, uint8_t *buf, size_t cap)
{
	struct secret_entry *e = find(priv, ref);
	if (!e)
		return RG_ERR_NOTFOUND;
	if (e->len > cap)
		return RG_ERR_TOOBIG;
	memcpy(buf, e->sealed, e->len);
	return (int)e->len;
}

static int mem_put(void *priv, const char *ref, const uint8_t *sealed, size_t len)
{
	struct secret_mem *m = priv;
	struct secret_entry *e = find(m, ref);
	size_t rlen = strlen(ref);

	if (!ident_ref_valid(ref, rlen) || len == 0 || len > IDENT_TOTP_SEALED_MAX)
		return RG_ERR_INVAL;
	if (!e) {
		if (m->n == m->cap)
			return RG_ERR_TOOBIG;
		e = &m->e[m->n++];
		memcpy(e->ref, ref, rlen + 1);
	}
	rg_wipe(e->sealed, sizeof e->sealed);
	memcpy(e->sealed, sealed, len);
	e->len = len;
	e->last_step = IDENT_TOTP_NO_STEP;
	return 0;
}

static int mem_advance(void *priv, const char *ref, int64_t step)
{
	struct secret_entry *e = find(priv, ref);
	if (!e)
		return RG_ERR_NOTFOUND;
	if (step <= e->last_step)
		return 1;
	e->last_step = step;
	return 0;
}

static int mem_remove(void *priv, const char *ref)
{
	struct secret_mem *m = priv;
	struct secret_entry *e = find(m, ref);
	if (!e)
		return RG_ERR_NOTFOUND;
	*e = m->e[m->n - 1];
	rg_wipe(&m->e[m->n - 1], sizeof m->e[0]);
	m->n--;
	return 0;
}

static const struct ident_secret_ops mem_ops = {
    .version = 1,
    .get = mem_get,
    .put = mem_put,
    .advance = mem_advance,
    .remove = mem_remove,
};

int ident_secret_mem_new(size_t capacity, struct ident_secret_store **out)
{
	struct secret_mem *m;

	if (!out)
		return RG_ERR_INVAL;
	*out = NULL;
	if (capacity < 1 || capacity > SECRET_MEM_MAX)
		return RG_ERR_RANGE;
	m = calloc(1, sizeof *m + capacity * sizeof m->e[0]);
	if (!m)
		return RG_ERR_NOMEM;
	m->cap = capacity;
	m->store.ops = &mem_ops;
	m->store.priv = m;
	*out = &m->store;
	return 0;
}

void ident_secret_mem_free(struct ident_secret_store *s)
{
	struct secret_mem *m;
	if (!s)
		return;
	m = s->priv;
	rg_wipe(m->e, m->cap * sizeof m->e[0]);
	free(m);
}

int ident_totp_enrol(struct ident_secret_store *s, const uint8_t seal_key[RG_AEAD_KEY_LEN],
		     const char *ref, const uint8_t *secret, size_t len, const struct rg_rand *rng)
{
	uint8_t sealed[IDENT_TOTP_SEALED_MAX], aad[128];
	size_t alen;
	int n;

	if (!s || !seal_key || !ref || !secret || !rng || !ident_ref_valid(ref, strlen(ref)) ||
	    len < IDENT_TOTP_SECRET_MIN || len > IDENT_TOTP_SECRET_MAX)
		return RG_ERR_INVAL;
	alen = ident__seal_aad(ref, aad, sizeof aad);
	n = rg_aead_seal(seal_key, aad, alen, secret, len, sealed, sizeof sealed, rng);
	if (n < 0)
		return n;
	return s->ops->put(s->priv, ref, sealed, (size_t)n);
}

int ident_totp_forget(struct ident_secret_store *s, const char *ref)
{
	if (!s || !ref)
		return RG_ERR_INVAL;
	if (!s->ops->remove)
		return RG_ERR_NOSYS;
	return s->ops->remove(s->priv, ref);
}
