/*
 * replay_mem.c - the in-memory replay store: a bounded array of (nonce,
 * forget-at). A nonce is dropped only once its token can no longer verify
 * (forget_at <= now); when every slot holds a live nonce the store refuses
 * (RG_ERR_TOOBIG) rather than forget one early. Lookups scan the array:
 * fine for thousands of entries; the device's SQLite store indexes instead.
 */
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/ident_token.h"

#define REPLAY_MEM_MAX 65536

struct replay_entry {
	uint8_t nonce[IDENT_TOKEN_NONCE_LEN];
	int64_t forget_at;
};

struct replay_mem {
	struct ident_replay_store store;
	size_t cap, n;
	struct replay_entry e[];
};

/* Drop every entry whose forget_at has passed, keeping order. */
static void purge(struct replay_mem *m, int64_t now_s)
{
	size_t k = 0;
	for (size_t i = 0; i < m->n; i++)
		if (m->e[i].forget_at > now_s)
			m->e[k++] = m->e[i];
	m->n = k;
}

static int check_add(void *priv, const uint8_t nonce[IDENT_TOKEN_NONCE_LEN], int64_t forget_at_s,
		     int64_t now_s)
{
	struct replay_mem *m = priv;

	for (size_t i = 0; i < m->n; i++) {
		if (memcmp(m->e[i].nonce, nonce, IDENT_TOKEN_NONCE_LEN))
			continue;
		if (m->e[i].forget_at > now_s)
			return 1;
		m->e[i].forget_at = forget_at_s; /* forgettable already: a new sighting */
		return 0;
	}
	if (m->n == m->cap)
		purge(m, now_s);
	if (m->n == m->cap)
		return RG_ERR_TOOBIG;
	memcpy(m->e[m->n].nonce, nonce, IDENT_TOKEN_NONCE_LEN);
	m->e[m->n].forget_at = forget_at_s;
	m->n++;
	return 0;
}

static const struct ident_replay_ops mem_ops = {
    .version = 1,
    .check_add = check_add,
};

int ident_replay_mem_new(size_t capacity, struct ident_replay_store **out)
{
	struct replay_mem *m;

	if (!out)
		return RG_ERR_INVAL;
	*out = NULL;
	if (capacity < 1 || capacity > REPLAY_MEM_MAX)
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

void ident_replay_mem_free(struct ident_replay_store *s)
{
	free(s ? s->priv : NULL);
}

size_t ident_replay_mem_count(struct ident_replay_store *s, int64_t now_s)
{
	struct replay_mem *m = s->priv;
	purge(m, now_s);
	return m->n;
}
