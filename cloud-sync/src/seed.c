/*
 * seed.c - loading sample or exported customers (docs/customers.md) into
 * the central store: every identifier through the identifier pipeline with
 * the tenant key (the same token a reader produces), a whole-file
 * validation pass before anything is written, then loads in transactions.
 * Raw identifiers never leave this file and are never logged.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "cloud/cloud.h"
#include "common/customer.h"
#include "common/err.h"
#include "common/ident.h"
#include "common/log.h"

#define SEED_BATCH_MAX 10000

int cloud_tenant_key_read(const char *path, uint8_t *key, size_t cap, size_t *len)
{
	uint8_t buf[IDENT_TENANT_KEY_MAX + 1];
	size_t n;
	FILE *f;

	*len = 0;
	if (!(f = fopen(path, "rb")))
		return RG_ERR_IO;
	n = fread(buf, 1, sizeof buf, f);
	fclose(f);
	if (n < IDENT_TENANT_KEY_MIN || n > IDENT_TENANT_KEY_MAX || n > cap) {
		rg_wipe(buf, sizeof buf);
		return RG_ERR_RANGE;
	}
	memcpy(key, buf, n);
	rg_wipe(buf, sizeof buf);
	*len = n;
	return 0;
}

struct entry {
	struct rg_customer c;
	uint8_t tokens[RG_CUSTOMER_IDENTS_MAX][RG_TOKEN_LEN];
	const char *types[RG_CUSTOMER_IDENTS_MAX];
};

static int blank(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n')
			return 0;
	return 1;
}

/* Parse and tokenise one line into e (which then owns c). */
static int take(struct ident_pipeline *p, const char *line, size_t len, struct entry *e, char *err,
		size_t errcap)
{
	int rc;
	while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
		len--;
	if ((rc = rg_customer_parse(line, len, &e->c, err, errcap)) < 0)
		return rc;
	for (size_t i = 0; i < e->c.n_idents; i++) {
		char why[256];
		if ((rc = rg_customer_ident_token(p, &e->c.idents[i], e->tokens[i], why,
						  sizeof why)) < 0) {
			rg_customer_free(&e->c);
			return rg_errf(rc, err, errcap, "identifiers[%zu]: %s", i, why);
		}
		e->types[i] = ident_type_name(e->c.idents[i].type);
	}
	return 0;
}

static void entries_clear(struct entry *es, size_t n)
{
	for (size_t i = 0; i < n; i++)
		rg_customer_free(&es[i].c);
}

static int flush(struct cloud_store *s, struct entry *es, size_t n, struct cloud_seed_stats *st,
		 char *err, size_t errcap)
{
	struct cloud_seed_profile *ps;
	int rc;

	if (!n)
		return 0;
	if (!(ps = calloc(n, sizeof *ps)))
		return RG_ERR_NOMEM;
	for (size_t i = 0; i < n; i++) {
		ps[i].id = es[i].c.id;
		ps[i].version = es[i].c.version;
		ps[i].body = es[i].c.body;
		ps[i].body_len = es[i].c.body_len;
		ps[i].n_tokens = es[i].c.n_idents;
		ps[i].tokens = (const uint8_t(*)[RG_TOKEN_LEN])es[i].tokens;
		ps[i].token_types = es[i].types;
		st->identifiers += es[i].c.n_idents;
	}
	rc = cloud_store_seed(s, ps, n);
	free(ps);
	if (rc < 0)
		return rg_errf(rc, err, errcap,
			    "the store failed: %s (the batches before are loaded; "
			    "running the same file again completes the import)",
			    rg_strerror(rc));
	st->written += (size_t)rc;
	return 0;
}

static int pass(struct cloud_store *s, struct ident_pipeline *p, FILE *f, size_t batch,
		struct cloud_seed_stats *st, char *err, size_t errcap)
{
	struct entry *es = NULL;
	char *line = NULL;
	size_t cap = 0, n = 0;
	ssize_t len;
	int rc = 0;

	if (s && !(es = calloc(batch, sizeof *es)))
		return RG_ERR_NOMEM;
	st->lines = st->profiles = 0;
	while ((len = getline(&line, &cap, f)) >= 0) {
		struct entry one;
		char why[512];
		st->lines++;
		if (blank(line, (size_t)len))
			continue;
		if ((size_t)len > RG_CUSTOMER_LINE_MAX + 2) {
			rc = rg_errf(RG_ERR_TOOBIG, err, errcap, "line %zu: longer than %d bytes",
				  st->lines, RG_CUSTOMER_LINE_MAX);
			break;
		}
		memset(&one, 0, sizeof one);
		if ((rc = take(p, line, (size_t)len, s ? &es[n] : &one, why, sizeof why)) < 0) {
			rg_errf(rc, err, errcap, "line %zu: %s", st->lines, why);
			break;
		}
		st->profiles++;
		if (!s) {
			rg_customer_free(&one.c);
			continue;
		}
		if (++n == batch) {
			rc = flush(s, es, n, st, err, errcap);
			entries_clear(es, n);
			n = 0;
			if (rc < 0)
				break;
		}
	}
	if (!rc && ferror(f))
		rc = rg_errf(RG_ERR_IO, err, errcap, "read failed: %s", strerror(errno));
	if (!rc && s)
		rc = flush(s, es, n, st, err, errcap);
	if (es)
		entries_clear(es, n);
	free(es);
	if (line) {
		rg_wipe(line, cap);
		free(line);
	}
	return rc;
}

int cloud_seed_file(struct cloud_store *s, const uint8_t *tenant_key, size_t key_len, FILE *f,
		    size_t batch, struct cloud_seed_stats *st, char *err, size_t errcap)
{
	struct cloud_seed_stats tmp;
	struct ident_config ic;
	struct ident_pipeline *p = NULL;
	int rc;

	if (!st)
		st = &tmp;
	memset(st, 0, sizeof *st);
	if (!s || !tenant_key || !f)
		return RG_ERR_INVAL;
	if (batch < 1)
		batch = 1000;
	if (batch > SEED_BATCH_MAX)
		batch = SEED_BATCH_MAX;
	/* Static identifiers only: rotating codes cannot be imported. */
	ident_config_default(&ic);
	ic.app_token.enabled = false;
	ic.totp.enabled = false;
	struct ident_pipeline_params pp = {
	    .config = &ic, .tenant_key = tenant_key, .tenant_key_len = key_len};
	if ((rc = ident_pipeline_new(&pp, &p)) < 0)
		return rg_errf(rc, err, errcap, "cannot build the identifier pipeline: %s",
			    rg_strerror(rc));
	/* pass 1: validate everything, write nothing */
	rc = pass(NULL, p, f, batch, st, err, errcap);
	if (rc == 0) {
		if (fseek(f, 0, SEEK_SET) != 0)
			rc = rg_errf(RG_ERR_IO, err, errcap, "the file must be seekable (read twice)");
		else
			rc = pass(s, p, f, batch, st, err, errcap);
	} else if (err && errcap) {
		size_t n = strlen(err);
		snprintf(err + n, errcap - n, "; nothing was loaded");
	}
	ident_pipeline_free(p);
	return rc;
}
