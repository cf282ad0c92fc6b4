/*
 * seed.c - fwseed_load: a customer import file into the device's store in
 * two passes (validate everything, then load in batches), so a bad line
 * anywhere loads nothing. Owns a bounded line reader (no line may exceed
 * RG_CUSTOMER_LINE_MAX, embedded NULs are refused by the parser) and the
 * duplicate check of pass 1. Raw identifiers live only in the parsed line
 * and are wiped after tokenising.
 */
#include "fwseed.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "common/customer.h"
#include "common/err.h"
#include "common/hlc.h"
#include "common/json.h"
#include "common/log.h"

#define SEED_COMP "seed"
#define READ_BUF (4 * RG_CUSTOMER_LINE_MAX)

/* ---- a bounded line reader ---- */

struct reader {
	FILE *f;
	char *buf;
	size_t start, end;
	bool eof;
	int64_t lineno;
};

/* 1 with the next line (no '\n'), 0 at the end, RG_ERR_TOOBIG / RG_ERR_IO. */
static int read_line(struct reader *r, const char **line, size_t *len)
{
	for (;;) {
		char *at = r->buf + r->start;
		char *nl = memchr(at, '\n', r->end - r->start);
		if (nl || (r->eof && r->end > r->start)) {
			size_t n = nl ? (size_t)(nl - at) : r->end - r->start;
			r->start += n + (nl ? 1 : 0);
			r->lineno++;
			if (n > RG_CUSTOMER_LINE_MAX + 1)
				return RG_ERR_TOOBIG;
			if (n && at[n - 1] == '\r')
				n--;
			*line = at;
			*len = n;
			return 1;
		}
		if (r->eof)
			return 0;
		if (r->end - r->start > RG_CUSTOMER_LINE_MAX + 1) {
			r->lineno++;
			return RG_ERR_TOOBIG;
		}
		memmove(r->buf, at, r->end - r->start);
		r->end -= r->start;
		r->start = 0;
		size_t got = fread(r->buf + r->end, 1, READ_BUF - r->end, r->f);
		r->end += got;
		if (got == 0) {
			if (ferror(r->f))
				return RG_ERR_IO;
			r->eof = true;
		}
	}
}

static bool blank(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] != ' ' && s[i] != '\t')
			return false;
	return true;
}

/* ---- one customer: parsed and tokenised ---- */

struct item {
	char id[RG_CUSTOMER_ID_MAX + 1];
	int64_t version;
	char *body; /* owned (cJSON allocator) */
	size_t body_len;
	size_t n;
	uint8_t tokens[RG_CUSTOMER_IDENTS_MAX][RG_TOKEN_LEN];
	const char *types[RG_CUSTOMER_IDENTS_MAX];
};

static void item_clear(struct item *it)
{
	if (it->body) {
		rg_wipe(it->body, it->body_len);
		cJSON_free(it->body);
	}
	memset(it, 0, sizeof *it);
}

/* Parse and tokenise one line into it (which then owns the body). */
static int take(struct ident_pipeline *p, int64_t max_bytes, const char *line, size_t len,
		struct item *it, char *err, size_t errcap)
{
	struct rg_customer c;
	char why[RG_JSON_ERR_MAX + 128];
	int rc;

	if ((rc = rg_customer_parse(line, len, &c, why, sizeof why)) < 0)
		return rg_errf(rc, err, errcap, "%s", why);
	for (size_t i = 0; i < c.n_idents; i++) {
		if ((rc = rg_customer_ident_token(p, &c.idents[i], it->tokens[i], why,
						  sizeof why)) < 0) {
			rg_customer_free(&c);
			return rg_errf(rc, err, errcap, "identifiers[%zu]: %s", i, why);
		}
		it->types[i] = ident_type_name(c.idents[i].type);
	}
	if ((int64_t)(c.body_len + RG_AEAD_OVERHEAD) > max_bytes) {
		rg_customer_free(&c);
		return rg_errf(RG_ERR_TOOBIG, err, errcap,
			    "key \"profile\": larger than the cache's max_bytes (%lld)",
			    (long long)max_bytes);
	}
	memcpy(it->id, c.id, sizeof it->id);
	it->version = c.version;
	it->n = c.n_idents;
	it->body = c.body;
	it->body_len = c.body_len;
	c.body = NULL; /* moved */
	rg_customer_free(&c);
	return 0;
}

/* ---- pass 1's duplicate check: sort (kind, hash, line) and look for twins ---- */

struct seen {
	uint64_t h;
	uint32_t line;
	uint32_t kind; /* 0 profile id, 1 identifier token */
};

struct seen_vec {
	struct seen *v;
	size_t n, cap;
};

static int seen_add(struct seen_vec *sv, uint32_t kind, uint64_t h, int64_t line)
{
	if (sv->n == sv->cap) {
		size_t cap = sv->cap ? 2 * sv->cap : 4096;
		struct seen *v = realloc(sv->v, cap * sizeof *v);
		if (!v)
			return RG_ERR_NOMEM;
		sv->v = v;
		sv->cap = cap;
	}
	sv->v[sv->n++] = (struct seen){.h = h, .line = (uint32_t)line, .kind = kind};
	return 0;
}

static int seen_cmp(const void *a, const void *b)
{
	const struct seen *x = a, *y = b;
	if (x->kind != y->kind)
		return x->kind < y->kind ? -1 : 1;
	if (x->h != y->h)
		return x->h < y->h ? -1 : 1;
	return x->line < y->line ? -1 : x->line > y->line;
}

static uint64_t fnv1a(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
	return h;
}

static uint64_t token_hash(const uint8_t *t)
{
	uint64_t h = 0;
	for (int i = 0; i < 8; i++)
		h = h << 8 | t[i];
	return h;
}

/* The earliest line that repeats an earlier line's id or identifier. The
 * hashes are 64 bits: a false alarm needs ~4e9 distinct values. */
static int seen_check(struct seen_vec *sv, char *err, size_t errcap)
{
	size_t best = SIZE_MAX;
	qsort(sv->v, sv->n, sizeof *sv->v, seen_cmp);
	for (size_t i = 1; i < sv->n; i++) {
		const struct seen *a = &sv->v[i - 1], *b = &sv->v[i];
		if (a->kind == b->kind && a->h == b->h && a->line != b->line &&
		    (best == SIZE_MAX || b->line < sv->v[best].line))
			best = i;
	}
	if (best == SIZE_MAX)
		return 0;
	const struct seen *b = &sv->v[best];
	uint32_t first = b->line;
	for (size_t i = best; i > 0 && sv->v[i - 1].kind == b->kind && sv->v[i - 1].h == b->h; i--)
		first = sv->v[i - 1].line;
	return rg_errf(RG_ERR_PARSE, err, errcap, "line %u: %s also on line %u", b->line,
		    b->kind == 0 ? "the profile id is" : "an identifier is", first);
}

/* ---- the two passes ---- */

static int validate(struct store *s, struct ident_pipeline *p, struct reader *r, size_t batch,
		    void (*progress)(void *ctx, int64_t done), void *ctx, int64_t max_bytes,
		    char *err, size_t errcap)
{
	struct seen_vec sv = {0};
	struct item it = {0};
	const char *line;
	size_t len;
	char why[512];
	int rc, customers = 0;

	(void)s;
	while ((rc = read_line(r, &line, &len)) > 0) {
		if (blank(line, len))
			continue;
		if (r->lineno > UINT32_MAX || customers == INT32_MAX) {
			rc = rg_errf(RG_ERR_TOOBIG, err, errcap, "line %lld: too many lines",
				  (long long)r->lineno);
			break;
		}
		if ((rc = take(p, max_bytes, line, len, &it, why, sizeof why)) < 0) {
			rc = rg_errf(rc, err, errcap, "line %lld: %s", (long long)r->lineno, why);
			break;
		}
		if ((rc = seen_add(&sv, 0, fnv1a(it.id), r->lineno)) < 0)
			break;
		for (size_t i = 0; i < it.n && rc == 0; i++)
			rc = seen_add(&sv, 1, token_hash(it.tokens[i]), r->lineno);
		item_clear(&it);
		if (rc < 0)
			break;
		if (++customers % (int)batch == 0 && progress)
			progress(ctx, -(int64_t)customers);
	}
	if (rc == RG_ERR_TOOBIG && !(err && *err))
		rg_errf(rc, err, errcap, "line %lld: longer than %d bytes", (long long)r->lineno,
		     RG_CUSTOMER_LINE_MAX);
	else if (rc == RG_ERR_IO)
		rg_errf(rc, err, errcap, "line %lld: read error", (long long)r->lineno + 1);
	else if (rc == RG_ERR_NOMEM)
		rg_errf(rc, err, errcap, "out of memory checking for repeated ids");
	if (rc == 0)
		rc = seen_check(&sv, err, errcap);
	free(sv.v);
	return rc < 0 ? rc : customers;
}

static int load(struct store *s, struct ident_pipeline *p, struct reader *r, size_t batch,
		void (*progress)(void *ctx, int64_t done), void *ctx, int64_t max_bytes,
		int64_t *loaded, char *err, size_t errcap)
{
	struct item *items = calloc(batch, sizeof *items);
	struct store_profile *profs = calloc(batch, sizeof *profs);
	struct store_ident *idents = calloc(batch * RG_CUSTOMER_IDENTS_MAX, sizeof *idents);
	struct rg_hlc now = {.wall_ms = rg_clock_wall_ms(rg_clock_system()), .logical = 0};
	uint64_t hlc = rg_hlc_pack(&now);
	int64_t first_line = 0;
	const char *line;
	size_t len, n = 0;
	char why[512];
	int rc = 0, more = 1;

	if (!items || !profs || !idents) {
		rc = rg_errf(RG_ERR_NOMEM, err, errcap, "out of memory for a batch of %zu", batch);
		goto out;
	}
	while (more) {
		more = rc = read_line(r, &line, &len);
		if (rc < 0) {
			rc = rg_errf(rc, err, errcap, "line %lld: %s since it was validated",
				  (long long)r->lineno, "the file changed");
			break;
		}
		if (rc > 0 && blank(line, len))
			continue;
		if (rc > 0) {
			if (n == 0)
				first_line = r->lineno;
			if ((rc = take(p, max_bytes, line, len, &items[n], why, sizeof why)) < 0) {
				rc = rg_errf(rc, err, errcap,
					  "line %lld: the file changed since it was "
					  "validated: %s",
					  (long long)r->lineno, why);
				break;
			}
			struct item *it = &items[n];
			for (size_t i = 0; i < it->n; i++)
				idents[n * RG_CUSTOMER_IDENTS_MAX + i] = (struct store_ident){
				    .token = it->tokens[i], .type = it->types[i]};
			profs[n] = (struct store_profile){
			    .id = it->id,
			    .version = it->version,
			    .hlc = hlc,
			    .body = it->body,
			    .body_len = it->body_len,
			    .idents = &idents[n * RG_CUSTOMER_IDENTS_MAX],
			    .n_idents = it->n,
			};
			n++;
		}
		if (n && (n == batch || !more)) {
			rc = store_profiles_load(s, profs, n);
			for (size_t i = 0; i < n; i++)
				item_clear(&items[i]);
			if (rc < 0) {
				rc = rg_errf(rc, err, errcap,
					  "lines %lld-%lld: the store refused the batch: %s",
					  (long long)first_line, (long long)r->lineno,
					  rg_strerror(rc));
				n = 0;
				break;
			}
			if (loaded)
				*loaded += rc;
			n = 0;
			rc = 0;
			if (progress)
				progress(ctx, loaded ? *loaded : 0);
		}
	}
out:
	for (size_t i = 0; items && i < n; i++)
		item_clear(&items[i]);
	free(items);
	free(profs);
	free(idents);
	rg_wipe(why, sizeof why);
	return rc;
}

int fwseed_load(struct store *s, struct ident_pipeline *p, FILE *in, size_t batch,
		void (*progress)(void *ctx, int64_t done), void *ctx, int64_t *loaded, char *err,
		size_t errcap)
{
	struct store_stats st;
	struct reader r = {.f = in};
	int64_t local_loaded = 0;
	long start;
	int rc, customers;

	if (err && errcap)
		*err = '\0';
	if (loaded)
		*loaded = 0;
	if (!s || !p || !in)
		return rg_errf(RG_ERR_INVAL, err, errcap, "no store, pipeline or input");
	if (batch == 0)
		batch = FWSEED_BATCH_DEFAULT;
	if (batch > STORE_LOAD_MAX)
		return rg_errf(RG_ERR_RANGE, err, errcap, "batch %zu exceeds %d", batch,
			    STORE_LOAD_MAX);
	if ((start = ftell(in)) < 0 || fseek(in, start, SEEK_SET) != 0)
		return rg_errf(RG_ERR_UNSUPPORTED, err, errcap,
			    "the input must be a regular file (it is read twice)");
	if ((rc = store_stats_get(s, &st)) < 0)
		return rg_errf(rc, err, errcap, "cannot read the store's caps: %s", rg_strerror(rc));
	if (!(r.buf = malloc(READ_BUF)))
		return rg_errf(RG_ERR_NOMEM, err, errcap, "out of memory");

	customers = rc = validate(s, p, &r, batch, progress, ctx, st.max_bytes, err, errcap);
	if (rc >= 0) {
		rg_info(SEED_COMP, "validated", "customers=%d lines=%lld", customers,
			(long long)r.lineno);
		if (customers > st.max_profiles)
			rg_warn(SEED_COMP, "over_cap",
				"customers=%d max_profiles=%lld note=\"the least recently seen are "
				"evicted\"",
				customers, (long long)st.max_profiles);
		r = (struct reader){.f = in, .buf = r.buf};
		if (fseek(in, start, SEEK_SET) != 0)
			rc = rg_errf(RG_ERR_IO, err, errcap, "cannot rewind the input");
		else
			rc = load(s, p, &r, batch, progress, ctx, st.max_bytes, &local_loaded, err,
				  errcap);
	}
	rg_wipe(r.buf, READ_BUF); /* raw lines: names and card numbers */
	free(r.buf);
	if (loaded)
		*loaded = local_loaded;
	if (rc < 0) {
		rg_warn(SEED_COMP, "refused", "error=%s loaded=%lld", rg_errname(rc),
			(long long)local_loaded);
		return rc;
	}
	rg_info(SEED_COMP, "loaded", "customers=%d written=%lld", customers,
		(long long)local_loaded);
	return customers;
}
