/*
 * import_run.c - running an import of files (cloud/import.h): pass 1 reads
 * every line of every file and reports the bad ones ("FILE:LINE: field:
 * message"); only then are profiles loaded (cloud_store_seed) and after
 * them interactions (cloud_store_import), in transactions of o->batch rows,
 * so an interaction finds a profile defined later in the files. Each pass
 * re-reads the files: memory stays flat for a million rows. Raw identifier
 * values are wiped from line buffers and never printed.
 */
#define _GNU_SOURCE /* memmem */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "cloud/import.h"
#include "common/err.h"
#include "common/ident.h"
#include "common/json.h"

#define PROGRESS_EVERY 4096 /* lines between progress calls in pass 1 */

enum row_kind { ROW_BLANK = 0, ROW_PROFILE = 1, ROW_INTERACTION = 2 };

struct pentry {
	struct rg_customer c;
	uint8_t tokens[RG_CUSTOMER_IDENTS_MAX][RG_TOKEN_LEN];
	const char *types[RG_CUSTOMER_IDENTS_MAX];
};

struct ientry {
	struct cloud_import_rec r;
	uint8_t token[RG_TOKEN_LEN];
};

struct file {
	const char *path;
	bool csv;
	struct cloud_csv_header h;
	uint64_t size;
	bool profiles, interactions; /* what pass 1 found in it */
};

struct run {
	struct cloud_store *s;
	const struct cloud_import_opts *o;
	struct ident_pipeline *pipe; /* NULL without a tenant key */
	struct cloud_import_stats *st;
	size_t batch, reported, max_errors;
	struct pentry *ps;
	struct ientry *is;
	size_t np, ni;
};

static int blank(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n')
			return 0;
	return 1;
}

static int tokenise_profile(struct run *r, struct pentry *e, char *err, size_t errcap)
{
	for (size_t i = 0; i < e->c.n_idents; i++) {
		char why[256];
		int rc;
		if (!r->pipe)
			return rg_errf(RG_ERR_MISSING, err, errcap,
				       "identifiers: tokenising them needs the tenant key "
				       "(--tenant-key FILE)");
		if ((rc = rg_customer_ident_token(r->pipe, &e->c.idents[i], e->tokens[i], why,
						  sizeof why)) < 0)
			return rg_errf(rc, err, errcap, "identifiers[%zu]: %s", i, why);
		e->types[i] = ident_type_name(e->c.idents[i].type);
	}
	return 0;
}

static int tokenise_interaction(struct run *r, struct ientry *e, char *err, size_t errcap)
{
	char why[256];
	int rc;
	if (!e->r.has_ident)
		return 0;
	if (!r->pipe)
		return rg_errf(
		    RG_ERR_MISSING, err, errcap,
		    "identifier: tokenising it needs the tenant key (--tenant-key FILE)");
	if ((rc = rg_customer_ident_token(r->pipe, &e->r.ident, e->token, why, sizeof why)) < 0)
		return rg_errf(rc, err, errcap, "identifier: %s", why);
	return 0;
}

/* Read one data line. want: the kinds to parse fully into pe / ie (others
 * are only classified). Returns the row's kind or < 0 (err says why). */
static int row_read(struct run *r, const struct file *f, const char *line, size_t len, int want,
		    struct pentry *pe, struct ientry *ie, char *err, size_t errcap)
{
	cJSON *obj = NULL;
	char *text = NULL;
	int kind, rc;

	if (blank(line, len))
		return ROW_BLANK;
	while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
		len--;
	if (len > RG_CUSTOMER_LINE_MAX)
		return rg_errf(RG_ERR_TOOBIG, err, errcap, "longer than %d bytes",
			       RG_CUSTOMER_LINE_MAX);
	if (f->csv) {
		struct cloud_csv_row row;
		if ((rc = cloud_csv_split(line, len, &row, err, errcap)) < 0)
			return rc;
		rc = cloud_csv_row_to_json(&f->h, &row, &obj, err, errcap);
		cloud_csv_row_free(&row);
		if (rc < 0)
			return rc;
		kind = f->h.kind == CLOUD_CSV_PROFILES ? ROW_PROFILE : ROW_INTERACTION;
	} else if (!memmem(line, len, "\"interaction\"", 13)) {
		kind = ROW_PROFILE; /* cannot be {"type":"interaction"}: one parse */
	} else {
		const cJSON *t;
		if (memchr(line, '\0', len))
			return rg_errf(RG_ERR_PARSE, err, errcap, "line contains a NUL byte");
		if ((rc = rg_json_parse(line, len, RG_CUSTOMER_LINE_MAX, &obj, err, errcap)) < 0)
			return rc;
		t = cJSON_GetObjectItemCaseSensitive(obj, "type");
		kind = t ? ROW_INTERACTION : ROW_PROFILE;
		if (kind == ROW_PROFILE) {
			cJSON_Delete(obj);
			obj = NULL;
		}
	}
	if (!(want & kind)) {
		cJSON_Delete(obj);
		return kind;
	}
	if (kind == ROW_INTERACTION) {
		memset(ie, 0, sizeof *ie);
		rc = cloud_import_interaction_from(obj, &ie->r, err, errcap);
		cJSON_Delete(obj);
		if (rc < 0)
			return rc;
		if ((rc = tokenise_interaction(r, ie, err, errcap)) < 0) {
			cloud_import_rec_free(&ie->r);
			return rc;
		}
		return kind;
	}
	/* a profile: the customer format's own parser, on the line's text */
	if (obj) {
		if (!(text = cJSON_PrintUnformatted(obj))) {
			cJSON_Delete(obj);
			return rg_errf(RG_ERR_NOMEM, err, errcap, "out of memory");
		}
		cJSON_Delete(obj);
		line = text;
		len = strlen(text);
	}
	memset(pe, 0, sizeof *pe);
	rc = rg_customer_parse(line, len, &pe->c, err, errcap);
	if (text) {
		rg_wipe(text, strlen(text));
		cJSON_free(text);
	}
	if (rc < 0)
		return rc;
	if (pe->c.body_len > CLOUD_PROFILE_BODY_MAX) {
		rg_customer_free(&pe->c);
		return rg_errf(RG_ERR_TOOBIG, err, errcap, "key \"profile\": more than %d bytes",
			       CLOUD_PROFILE_BODY_MAX);
	}
	if ((rc = tokenise_profile(r, pe, err, errcap)) < 0) {
		rg_customer_free(&pe->c);
		return rc;
	}
	return kind;
}

static void progress(struct run *r)
{
	if (r->o->progress)
		r->o->progress(r->o->ctx, r->st);
}

static int flush_profiles(struct run *r, char *err, size_t errcap)
{
	struct cloud_seed_profile *sp;
	int rc;

	if (!r->np)
		return 0;
	if (!(sp = calloc(r->np, sizeof *sp)))
		return rg_errf(RG_ERR_NOMEM, err, errcap, "out of memory");
	for (size_t i = 0; i < r->np; i++) {
		struct pentry *e = &r->ps[i];
		sp[i].id = e->c.id;
		sp[i].version = e->c.version;
		sp[i].body = e->c.body;
		sp[i].body_len = e->c.body_len;
		sp[i].n_tokens = e->c.n_idents;
		sp[i].tokens = (const uint8_t(*)[RG_TOKEN_LEN])e->tokens;
		sp[i].token_types = e->types;
	}
	size_t n = r->np;
	rc = cloud_store_seed(r->s, sp, r->np);
	free(sp);
	for (size_t i = 0; i < r->np; i++)
		rg_customer_free(&r->ps[i].c);
	r->np = 0;
	if (rc < 0)
		return rg_errf(rc, err, errcap,
			       "the store failed: %s (the batches before are in; running the same "
			       "files again completes the import)",
			       rg_strerror(rc));
	r->st->written += (size_t)rc;
	r->st->loaded += n;
	progress(r);
	return 0;
}

static int flush_interactions(struct run *r, char *err, size_t errcap)
{
	struct cloud_import_item *items;
	struct cloud_apply_result res;
	int rc;

	if (!r->ni)
		return 0;
	if (!(items = calloc(r->ni, sizeof *items)))
		return rg_errf(RG_ERR_NOMEM, err, errcap, "out of memory");
	for (size_t i = 0; i < r->ni; i++) {
		struct ientry *e = &r->is[i];
		items[i].id = e->r.id;
		items[i].hlc = e->r.hlc;
		items[i].kind = e->r.kind;
		items[i].channel = e->r.channel;
		items[i].department = e->r.department;
		items[i].profile = e->r.profile;
		items[i].has_token = e->r.has_ident;
		memcpy(items[i].token, e->token, RG_TOKEN_LEN);
		items[i].body = e->r.body;
	}
	size_t n = r->ni;
	rc = cloud_store_import(r->s, items, r->ni, &res);
	rg_wipe(items, r->ni * sizeof *items);
	free(items);
	for (size_t i = 0; i < r->ni; i++)
		cloud_import_rec_free(&r->is[i].r);
	r->ni = 0;
	if (rc < 0)
		return rg_errf(rc, err, errcap,
			       "the store failed: %s (the batches before are in; running the same "
			       "files again completes the import)",
			       rg_strerror(rc));
	r->st->applied.applied += res.applied;
	r->st->applied.duplicates += res.duplicates;
	r->st->applied.unresolved += res.unresolved;
	r->st->applied.erased += res.erased;
	r->st->applied.changes += res.changes;
	r->st->loaded += n;
	progress(r);
	return 0;
}

/* One pass over one file. want 0: pass 1, check every line; else load the
 * kinds in want. Returns 0, or < 0 only for what stops the run (I/O, the
 * store). */
static int pass_file(struct run *r, struct file *f, int want, char *err, size_t errcap)
{
	const int check = !want;
	char *line = NULL, why[512];
	size_t cap = 0, lineno = 0;
	ssize_t len;
	FILE *fp;
	int rc = 0;

	if (!(fp = fopen(f->path, "rb")))
		return rg_errf(RG_ERR_IO, err, errcap, "%s: cannot open: %s", f->path,
			       strerror(errno));
	while ((len = getline(&line, &cap, fp)) >= 0) {
		int k;
		lineno++;
		r->st->work_done += (uint64_t)len;
		if (check)
			r->st->lines++;
		if (lineno == 1 && f->csv) {
			if (check && (k = cloud_csv_header_parse(line, (size_t)len, &f->h, why,
								 sizeof why)) < 0) {
				/* a file whose header is bad has no good line */
				r->st->bad++;
				if (r->o->errors && r->reported++ < r->max_errors)
					fprintf(r->o->errors, "%s:1: %s\n", f->path, why);
				break;
			}
			continue;
		}
		if (len > RG_CUSTOMER_LINE_MAX + 2) {
			k = rg_errf(RG_ERR_TOOBIG, why, sizeof why, "longer than %d bytes",
				    RG_CUSTOMER_LINE_MAX);
		} else {
			k = row_read(r, f, line, (size_t)len,
				     check ? ROW_PROFILE | ROW_INTERACTION : want,
				     check ? &r->ps[0] : &r->ps[r->np],
				     check ? &r->is[0] : &r->is[r->ni], why, sizeof why);
		}
		if (k < 0) {
			if (check) {
				r->st->bad++;
				if (r->o->errors && r->reported++ < r->max_errors)
					fprintf(r->o->errors, "%s:%zu: %s\n", f->path, lineno, why);
			}
			continue; /* skip_bad: reported in pass 1, left out here */
		}
		if (check) {
			if (k == ROW_PROFILE) {
				rg_customer_free(&r->ps[0].c);
				r->st->profiles++;
				f->profiles = true;
			} else if (k == ROW_INTERACTION) {
				cloud_import_rec_free(&r->is[0].r);
				r->st->interactions++;
				f->interactions = true;
			}
			if (!(lineno % PROGRESS_EVERY))
				progress(r);
			continue;
		}
		if (k == ROW_PROFILE && (want & ROW_PROFILE) && ++r->np == r->batch)
			rc = flush_profiles(r, err, errcap);
		else if (k == ROW_INTERACTION && (want & ROW_INTERACTION) && ++r->ni == r->batch)
			rc = flush_interactions(r, err, errcap);
		if (rc < 0)
			break;
	}
	if (!rc && ferror(fp))
		rc = rg_errf(RG_ERR_IO, err, errcap, "%s: read failed: %s", f->path,
			     strerror(errno));
	fclose(fp);
	if (line) {
		rg_wipe(line, cap);
		free(line);
	}
	return rc;
}

static int ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);
	return n >= m && !strcmp(s + n - m, suffix);
}

int cloud_import_files(struct cloud_store *s, const char *const *paths, size_t n,
		       const struct cloud_import_opts *o, struct cloud_import_stats *st, char *err,
		       size_t errcap)
{
	struct cloud_import_stats tmp;
	struct file *fs = NULL;
	struct run r;
	int rc = 0;

	if (!st)
		st = &tmp;
	memset(st, 0, sizeof *st);
	memset(&r, 0, sizeof r);
	if (!s || !paths || !n || !o)
		return rg_errf(RG_ERR_INVAL, err, errcap, "nothing to import");
	r.s = s;
	r.o = o;
	r.st = st;
	r.batch = o->batch ? o->batch : CLOUD_IMPORT_BATCH_DEFAULT;
	if (r.batch > CLOUD_IMPORT_BATCH_MAX)
		r.batch = CLOUD_IMPORT_BATCH_MAX;
	r.max_errors = o->max_errors ? o->max_errors : CLOUD_IMPORT_ERRORS_DEFAULT;
	if (!(fs = calloc(n, sizeof *fs)) || !(r.ps = calloc(r.batch, sizeof *r.ps)) ||
	    !(r.is = calloc(r.batch, sizeof *r.is))) {
		rc = rg_errf(RG_ERR_NOMEM, err, errcap, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		struct stat sb;
		fs[i].path = paths[i];
		if (ends_with(paths[i], ".csv"))
			fs[i].csv = true;
		else if (!ends_with(paths[i], ".jsonl")) {
			rc = rg_errf(RG_ERR_UNSUPPORTED, err, errcap,
				     "%s: not a .jsonl (JSON Lines) or .csv file", paths[i]);
			goto out;
		}
		if (stat(paths[i], &sb) < 0 || !S_ISREG(sb.st_mode)) {
			rc =
			    rg_errf(RG_ERR_IO, err, errcap,
				    "%s: not a regular file (it is read more than once)", paths[i]);
			goto out;
		}
		fs[i].size = (uint64_t)sb.st_size;
		st->work_total += 3 * fs[i].size;
	}
	if (o->tenant_key) {
		struct ident_config ic;
		ident_config_default(&ic);
		ic.app_token.enabled = false; /* rotating codes cannot be imported */
		ic.totp.enabled = false;
		struct ident_pipeline_params pp = {
		    .config = &ic, .tenant_key = o->tenant_key, .tenant_key_len = o->key_len};
		if ((rc = ident_pipeline_new(&pp, &r.pipe)) < 0) {
			rg_errf(rc, err, errcap, "cannot build the identifier pipeline: %s",
				rg_strerror(rc));
			goto out;
		}
	}

	st->phase = "checking";
	for (size_t i = 0; i < n && !rc; i++)
		rc = pass_file(&r, &fs[i], 0, err, errcap);
	if (rc < 0)
		goto out;
	if (st->bad && !o->skip_bad) {
		rc = rg_errf(RG_ERR_PARSE, err, errcap,
			     "%zu bad line%s%s; nothing was imported (--skip-bad imports the good "
			     "ones)",
			     st->bad, st->bad == 1 ? "" : "s",
			     st->bad > r.max_errors ? " (the first ones are listed)" : "");
		goto out;
	}
	/* the exact work left: one more read per kind a file holds */
	st->work_total = st->work_done;
	for (size_t i = 0; i < n; i++)
		st->work_total += fs[i].size * ((uint64_t)fs[i].profiles + fs[i].interactions);
	progress(&r);

	st->phase = "profiles";
	for (size_t i = 0; i < n && !rc; i++)
		if (fs[i].profiles)
			rc = pass_file(&r, &fs[i], ROW_PROFILE, err, errcap);
	if (!rc)
		rc = flush_profiles(&r, err, errcap);
	st->phase = "interactions";
	for (size_t i = 0; i < n && !rc; i++)
		if (fs[i].interactions)
			rc = pass_file(&r, &fs[i], ROW_INTERACTION, err, errcap);
	if (!rc)
		rc = flush_interactions(&r, err, errcap);
	if (!rc) {
		st->phase = "done";
		st->work_done = st->work_total;
		progress(&r);
	}
out:
	if (r.ps) {
		for (size_t i = 0; i < r.np; i++)
			rg_customer_free(&r.ps[i].c);
		free(r.ps);
	}
	if (r.is) {
		for (size_t i = 0; i < r.ni; i++)
			cloud_import_rec_free(&r.is[i].r);
		free(r.is);
	}
	ident_pipeline_free(r.pipe);
	free(fs);
	return rc;
}
