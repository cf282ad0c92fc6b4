/*
 * delta.c - the replication messages of common/delta.h (docs/replication.md):
 * requests, pages and their writer, snapshot chunks, the store-wide notice.
 * Parsing is strict and all-or-nothing: the first problem is named by its
 * path ("changes[3].profile.idents[0].token: not 64 lower-case hex") and the
 * output is left zeroed. The writers validate what they are given and only
 * ever produce text the parsers accept (bodies are re-parsed and compacted).
 */
#include "common/delta.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/codec.h"
#include "common/err.h"
#include "common/hlc.h"
#include "common/json.h"

#define DELTA_VERSION 1
/* Field paths in errors: "changes[999]", then ".profile", then ".idents[31]". */
#define DELTA_PATH_MAX 64
#define DELTA_PATH_PROFILE (DELTA_PATH_MAX + 16)
#define DELTA_PATH_IDENT (DELTA_PATH_PROFILE + 48)
#define DELTA_NUM_MAX 24 /* "-9223372036854775808" + NUL fits */
/* Room a page needs besides its changes: the header with every number at
 * 16 digits is under 200 bytes; the rest is margin. */
#define DELTA_FRAME_MAX 256

/* ---- errors naming a path ---- */

static int fail(int code, char *err, size_t errcap, const char *path, const char *key,
		const char *fmt, ...) __attribute__((format(printf, 6, 7)));

static int fail(int code, char *err, size_t errcap, const char *path, const char *key,
		const char *fmt, ...)
{
	char msg[160];
	va_list ap;

	if (!err || !errcap)
		return code;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (!key)
		key = "";
	if (!*path && !*key)
		snprintf(err, errcap, "%s", msg);
	else
		snprintf(err, errcap, "%s%s%s: %s", path, *path && *key ? "." : "", key, msg);
	return code;
}

/* Prefix an error a helper (rg_json_parse) wrote with "what: ". */
static int prefix(int code, char *err, size_t errcap, const char *what)
{
	char tmp[RG_JSON_ERR_MAX];
	if (err && errcap) {
		snprintf(tmp, sizeof tmp, "%s", err);
		snprintf(err, errcap, "%s: %s", what, tmp);
	}
	return code;
}

/* ---- strict getters: PARSE for a missing key or a wrong type, INVAL for a
 * bad value. Optional ones return 1 when the key is absent. ---- */

static int get_int(const cJSON *obj, const char *path, const char *key, int64_t min, int64_t max,
		   bool required, int64_t *out, char *err, size_t errcap)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
	double d;

	if (!v)
		return required ? fail(RG_ERR_PARSE, err, errcap, path, key, "missing") : 1;
	if (!cJSON_IsNumber(v))
		return fail(RG_ERR_PARSE, err, errcap, path, key, "expected an integer, got %s",
			    rg_json_kind(v));
	d = v->valuedouble;
	if (!isfinite(d) || d != floor(d))
		return fail(RG_ERR_INVAL, err, errcap, path, key, "%.17g is not an integer", d);
	if (d < (double)min || d > (double)max)
		return fail(RG_ERR_INVAL, err, errcap, path, key, "%.17g is outside %lld..%lld", d,
			    (long long)min, (long long)max);
	*out = (int64_t)d;
	return 0;
}

static int get_seq(const cJSON *obj, const char *path, const char *key, int64_t min, int64_t *out,
		   char *err, size_t errcap)
{
	return get_int(obj, path, key, min, DELTA_SEQ_MAX, true, out, err, errcap);
}

/* A string of 0..max_len bytes of valid UTF-8. */
static int get_str(const cJSON *obj, const char *path, const char *key, size_t max_len,
		   const char **out, char *err, size_t errcap)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
	size_t n;

	if (!v)
		return fail(RG_ERR_PARSE, err, errcap, path, key, "missing");
	if (!cJSON_IsString(v) || !v->valuestring)
		return fail(RG_ERR_PARSE, err, errcap, path, key, "expected a string, got %s",
			    rg_json_kind(v));
	n = strlen(v->valuestring);
	if (n > max_len)
		return fail(RG_ERR_INVAL, err, errcap, path, key, "%zu bytes exceed %zu", n,
			    max_len);
	if (!rg_utf8_valid(v->valuestring, n))
		return fail(RG_ERR_INVAL, err, errcap, path, key, "not valid UTF-8");
	*out = v->valuestring;
	return 0;
}

static int get_bool(const cJSON *obj, const char *path, const char *key, bool required, bool *out,
		    char *err, size_t errcap)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
	if (!v)
		return required ? fail(RG_ERR_PARSE, err, errcap, path, key, "missing") : 1;
	if (!cJSON_IsBool(v))
		return fail(RG_ERR_PARSE, err, errcap, path, key, "expected a boolean, got %s",
			    rg_json_kind(v));
	*out = cJSON_IsTrue(v);
	return 0;
}

/* obj must be an object whose keys are all in allowed (at most 16), each
 * at most once. */
static int check_keys(const cJSON *obj, const char *path, const char *const *allowed, char *err,
		      size_t errcap)
{
	const cJSON *item;
	unsigned seen = 0;

	if (!cJSON_IsObject(obj))
		return fail(RG_ERR_PARSE, err, errcap, path, NULL, "expected an object, got %s",
			    rg_json_kind(obj));
	cJSON_ArrayForEach(item, obj)
	{
		const char *k = item->string ? item->string : "";
		unsigned i = 0;
		while (allowed[i] && strcmp(allowed[i], k))
			i++;
		if (!allowed[i] || (seen & (1u << i))) {
			char shown[33];
			size_t n = 0;
			for (; k[n] && n < sizeof shown - 1; n++)
				shown[n] = k[n] > 0x20 && k[n] < 0x7f && k[n] != '"' ? k[n] : '?';
			shown[n] = '\0';
			return fail(RG_ERR_PARSE, err, errcap, path, NULL, "%s key \"%s\"",
				    allowed[i] ? "duplicate" : "unknown", shown);
		}
		seen |= 1u << i;
	}
	return 0;
}

static int check_version(const cJSON *root, const char *type, char *err, size_t errcap)
{
	int64_t v;
	const char *s;
	int rc;

	if ((rc = get_int(root, "", "v", 0, INT32_MAX, true, &v, err, errcap)) < 0)
		return rc;
	if (v != DELTA_VERSION)
		return fail(RG_ERR_INVAL, err, errcap, "", "v", "version %lld is not supported",
			    (long long)v);
	if ((rc = get_str(root, "", "type", 32, &s, err, errcap)) < 0)
		return rc;
	if (type && strcmp(s, type))
		return fail(RG_ERR_PARSE, err, errcap, "", "type", "expected \"%s\"", type);
	return 0;
}

/* ---- value rules ---- */

/* A profile id: [A-Za-z0-9_.:-]{1,64}, not starting with '-'. */
static int id_valid(const char *s)
{
	size_t n = 0;
	if (!s || !*s || *s == '-')
		return 0;
	for (; s[n]; n++) {
		char c = s[n];
		if (n >= DELTA_ID_MAX)
			return 0;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_' || c == '.' || c == ':'))
			return 0;
	}
	return 1;
}

/* "" or a profile id. */
static int after_valid(const char *s)
{
	return s && (!*s || id_valid(s));
}

/* An identifier type: [a-z0-9_]{1,16}. */
static int type_valid(const char *s)
{
	size_t n = 0;
	if (!s || !*s)
		return 0;
	for (; s[n]; n++) {
		char c = s[n];
		if (n >= DELTA_TYPE_MAX)
			return 0;
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
			return 0;
	}
	return 1;
}

/* Exactly 2*n lower-case hex digits, decoded into out. */
static int lower_hex_decode(const char *s, uint8_t *out, size_t n)
{
	if (strlen(s) != 2 * n)
		return 0;
	for (size_t i = 0; i < 2 * n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return rg_hex_decode(s, 2 * n, out, n) == (int)n;
}

/* A fixed char array holding a NUL-terminated string. */
static int terminated(const char *s, size_t cap)
{
	return memchr(s, '\0', cap) != NULL;
}

/* Everything in a body: strings and keys valid UTF-8, numbers finite (cJSON
 * would print an overflowing 1e999 as null). Depth is bounded by the
 * nesting cap of rg_json_parse. */
static const char *body_problem(const cJSON *v)
{
	const cJSON *c;
	if (v->string && !rg_utf8_valid(v->string, strlen(v->string)))
		return "a key is not valid UTF-8";
	if (cJSON_IsNumber(v) && !isfinite(v->valuedouble))
		return "a number is out of range";
	if (cJSON_IsString(v) && !rg_utf8_valid(v->valuestring, strlen(v->valuestring)))
		return "a string is not valid UTF-8";
	cJSON_ArrayForEach(c, v)
	{
		const char *why;
		if ((why = body_problem(c)))
			return why;
	}
	return NULL;
}

/* The compact text of a body object (malloc'd), or an error. */
static int body_render(const cJSON *v, const char *path, char **out, size_t *len, char *err,
		       size_t errcap)
{
	const char *why;
	char *text;
	size_t n;

	*out = NULL;
	if (!cJSON_IsObject(v))
		return fail(RG_ERR_PARSE, err, errcap, path, "body", "expected an object, got %s",
			    rg_json_kind(v));
	if ((why = body_problem(v)))
		return fail(RG_ERR_INVAL, err, errcap, path, "body", "%s", why);
	if (!(text = cJSON_PrintUnformatted(v)))
		return fail(RG_ERR_NOMEM, err, errcap, path, "body", "out of memory");
	n = strlen(text);
	if (n > DELTA_BODY_MAX) {
		free(text);
		return fail(RG_ERR_TOOBIG, err, errcap, path, "body", "%zu bytes exceed %d", n,
			    DELTA_BODY_MAX);
	}
	*out = text;
	*len = n;
	return 0;
}

/* ---- parsing changes ---- */

static int parse_idents(const cJSON *obj, const char *path, struct delta_change *c, char *err,
			size_t errcap)
{
	static const char *const keys[] = {"token", "type", NULL};
	const cJSON *arr = cJSON_GetObjectItemCaseSensitive(obj, "idents"), *it;
	char ipath[DELTA_PATH_IDENT];
	size_t i = 0;
	int n, rc;

	if (!arr)
		return fail(RG_ERR_PARSE, err, errcap, path, "idents", "missing");
	if (!cJSON_IsArray(arr))
		return fail(RG_ERR_PARSE, err, errcap, path, "idents", "expected an array, got %s",
			    rg_json_kind(arr));
	n = cJSON_GetArraySize(arr);
	if (n > DELTA_IDENTS_MAX)
		return fail(RG_ERR_TOOBIG, err, errcap, path, "idents", "%d identifiers exceed %d",
			    n, DELTA_IDENTS_MAX);
	if (n > 0 && !(c->idents = calloc((size_t)n, sizeof *c->idents)))
		return fail(RG_ERR_NOMEM, err, errcap, path, "idents", "out of memory");
	cJSON_ArrayForEach(it, arr)
	{
		struct delta_ident *d = &c->idents[i];
		const char *s;
		snprintf(ipath, sizeof ipath, "%s.idents[%zu]", path, i);
		if ((rc = check_keys(it, ipath, keys, err, errcap)) < 0)
			return rc;
		if ((rc = get_str(it, ipath, "token", RG_TOKEN_HEX_LEN, &s, err, errcap)) < 0)
			return rc;
		if (!lower_hex_decode(s, d->token, RG_TOKEN_LEN))
			return fail(RG_ERR_INVAL, err, errcap, ipath, "token",
				    "not 64 lower-case hex");
		if ((rc = get_str(it, ipath, "type", DELTA_TYPE_MAX, &s, err, errcap)) < 0)
			return rc;
		if (!type_valid(s))
			return fail(RG_ERR_INVAL, err, errcap, ipath, "type",
				    "not [a-z0-9_]{1,16}");
		memcpy(d->type, s, strlen(s) + 1);
		for (size_t j = 0; j < i; j++)
			if (!memcmp(c->idents[j].token, d->token, RG_TOKEN_LEN))
				return fail(RG_ERR_INVAL, err, errcap, ipath, "token",
					    "duplicate of idents[%zu]", j);
		i++;
		c->n_idents = i;
	}
	return 0;
}

/* {"id","version","hlc","body","idents"}: the profile as it is now. */
static int parse_profile(const cJSON *obj, const char *path, struct delta_change *c, char *err,
			 size_t errcap)
{
	static const char *const keys[] = {"id", "version", "hlc", "body", "idents", NULL};
	struct rg_hlc t;
	const cJSON *body;
	const char *s;
	int rc;

	c->op = DELTA_PROFILE;
	if ((rc = check_keys(obj, path, keys, err, errcap)) < 0)
		return rc;
	if ((rc = get_str(obj, path, "id", DELTA_ID_MAX, &s, err, errcap)) < 0)
		return rc;
	if (!id_valid(s))
		return fail(RG_ERR_INVAL, err, errcap, path, "id", "not a valid profile id");
	memcpy(c->id, s, strlen(s) + 1);
	if ((rc = get_seq(obj, path, "version", 1, &c->version, err, errcap)) < 0)
		return rc;
	if ((rc = get_str(obj, path, "hlc", RG_HLC_STR_MAX, &s, err, errcap)) < 0)
		return rc;
	if (rg_hlc_parse(s, &t) < 0)
		return fail(RG_ERR_INVAL, err, errcap, path, "hlc", "not an HLC stamp");
	c->hlc = rg_hlc_pack(&t);
	if (!(body = cJSON_GetObjectItemCaseSensitive(obj, "body")))
		return fail(RG_ERR_PARSE, err, errcap, path, "body", "missing");
	if ((rc = body_render(body, path, &c->body, &c->body_len, err, errcap)) < 0)
		return rc;
	return parse_idents(obj, path, c, err, errcap);
}

static int get_id(const cJSON *obj, const char *path, const char *key, char *out, char *err,
		  size_t errcap)
{
	const char *s;
	int rc;
	if ((rc = get_str(obj, path, key, DELTA_ID_MAX, &s, err, errcap)) < 0)
		return rc;
	if (!id_valid(s))
		return fail(RG_ERR_INVAL, err, errcap, path, key, "not a valid profile id");
	memcpy(out, s, strlen(s) + 1);
	return 0;
}

static int parse_change(const cJSON *obj, const char *path, struct delta_change *c, char *err,
			size_t errcap)
{
	static const char *const k_profile[] = {"seq", "op", "profile", NULL};
	static const char *const k_link[] = {"seq", "op", "from", "into", NULL};
	static const char *const k_erase[] = {"seq", "op", "id", NULL};
	const char *op;
	char ppath[DELTA_PATH_PROFILE];
	int rc;

	if (!cJSON_IsObject(obj))
		return fail(RG_ERR_PARSE, err, errcap, path, NULL, "expected an object, got %s",
			    rg_json_kind(obj));
	if ((rc = get_str(obj, path, "op", 16, &op, err, errcap)) < 0)
		return rc;
	if (!strcmp(op, "profile")) {
		c->op = DELTA_PROFILE;
		rc = check_keys(obj, path, k_profile, err, errcap);
	} else if (!strcmp(op, "merge") || !strcmp(op, "unmerge")) {
		c->op = op[0] == 'm' ? DELTA_MERGE : DELTA_UNMERGE;
		rc = check_keys(obj, path, k_link, err, errcap);
	} else if (!strcmp(op, "erase")) {
		c->op = DELTA_ERASE;
		rc = check_keys(obj, path, k_erase, err, errcap);
	} else {
		return fail(RG_ERR_INVAL, err, errcap, path, "op",
			    "not profile, merge, unmerge or erase");
	}
	if (rc < 0)
		return rc;
	if ((rc = get_seq(obj, path, "seq", 1, &c->seq, err, errcap)) < 0)
		return rc;
	switch (c->op) {
	case DELTA_PROFILE:
		snprintf(ppath, sizeof ppath, "%s.profile", path);
		if (!cJSON_GetObjectItemCaseSensitive(obj, "profile"))
			return fail(RG_ERR_PARSE, err, errcap, path, "profile", "missing");
		return parse_profile(cJSON_GetObjectItemCaseSensitive(obj, "profile"), ppath, c,
				     err, errcap);
	case DELTA_MERGE:
	case DELTA_UNMERGE:
		if ((rc = get_id(obj, path, "from", c->id, err, errcap)) < 0 ||
		    (rc = get_id(obj, path, "into", c->other, err, errcap)) < 0)
			return rc;
		if (!strcmp(c->id, c->other))
			return fail(RG_ERR_INVAL, err, errcap, path, "into", "same as \"from\"");
		return 0;
	case DELTA_ERASE:
		return get_id(obj, path, "id", c->id, err, errcap);
	}
	return fail(RG_ERR_INVAL, err, errcap, path, "op", "unknown");
}

static void changes_free(struct delta_change *c, size_t n)
{
	for (size_t i = 0; c && i < n; i++) {
		free(c[i].body);
		free(c[i].idents);
	}
	free(c);
}

/* ---- requests ---- */

int delta_request_parse(const void *buf, size_t len, struct delta_request *out, char *err,
			size_t errcap)
{
	static const char *const k_changes[] = {"v", "type", "since", "max", NULL};
	static const char *const k_snapshot[] = {"v", "type", "snapshot", "after", "max", NULL};
	int64_t max = DELTA_DEFAULT_MAX;
	cJSON *root = NULL;
	const char *type, *after;
	int rc;

	if (!out)
		return RG_ERR_INVAL;
	memset(out, 0, sizeof *out);
	if (!buf)
		return fail(RG_ERR_INVAL, err, errcap, "", NULL, "no request");
	if (len > DELTA_REQUEST_MAX)
		return fail(RG_ERR_TOOBIG, err, errcap, "", NULL, "request of %zu bytes exceeds %d",
			    len, DELTA_REQUEST_MAX);
	if ((rc = rg_json_parse(buf, len, DELTA_REQUEST_MAX, &root, err, errcap)) < 0)
		return rc;
	if (!cJSON_IsObject(root)) {
		rc = fail(RG_ERR_PARSE, err, errcap, "", NULL, "expected an object, got %s",
			  rg_json_kind(root));
		goto done;
	}
	if ((rc = check_version(root, NULL, err, errcap)) < 0)
		goto done;
	type = cJSON_GetObjectItemCaseSensitive(root, "type")->valuestring;
	if (!strcmp(type, "changes")) {
		if ((rc = check_keys(root, "", k_changes, err, errcap)) < 0 ||
		    (rc = get_seq(root, "", "since", 0, &out->since, err, errcap)) < 0)
			goto done;
	} else if (!strcmp(type, "snapshot")) {
		out->snapshot = true;
		if ((rc = check_keys(root, "", k_snapshot, err, errcap)) < 0 ||
		    (rc = get_seq(root, "", "snapshot", 0, &out->snapshot_id, err, errcap)) < 0 ||
		    (rc = get_str(root, "", "after", DELTA_ID_MAX, &after, err, errcap)) < 0)
			goto done;
		if (!after_valid(after)) {
			rc = fail(RG_ERR_INVAL, err, errcap, "", "after", "not a valid profile id");
			goto done;
		}
		if (*after && !out->snapshot_id) {
			rc = fail(RG_ERR_INVAL, err, errcap, "", "after",
				  "must be empty when snapshot is 0 (a new snapshot)");
			goto done;
		}
		memcpy(out->after, after, strlen(after) + 1);
	} else {
		rc = fail(RG_ERR_PARSE, err, errcap, "", "type",
			  "expected \"changes\" or \"snapshot\"");
		goto done;
	}
	if ((rc = get_int(root, "", "max", 1, DELTA_CHANGES_MAX, false, &max, err, errcap)) < 0)
		goto done;
	out->max = (int)max;
	rc = 0;
done:
	cJSON_Delete(root);
	if (rc < 0)
		memset(out, 0, sizeof *out);
	return rc;
}

char *delta_request_build(const struct delta_request *r)
{
	char buf[DELTA_REQUEST_MAX], maxs[32] = "";
	int n;

	if (!r || r->max < 0 || r->max > DELTA_CHANGES_MAX)
		return NULL;
	if (r->max)
		snprintf(maxs, sizeof maxs, ",\"max\":%d", r->max);
	if (r->snapshot) {
		if (r->snapshot_id < 0 || r->snapshot_id > DELTA_SEQ_MAX ||
		    !terminated(r->after, sizeof r->after) || !after_valid(r->after) ||
		    (r->after[0] && !r->snapshot_id))
			return NULL;
		n = snprintf(buf, sizeof buf,
			     "{\"v\":%d,\"type\":\"snapshot\",\"snapshot\":%lld,"
			     "\"after\":\"%s\"%s}",
			     DELTA_VERSION, (long long)r->snapshot_id, r->after, maxs);
	} else {
		if (r->since < 0 || r->since > DELTA_SEQ_MAX)
			return NULL;
		n = snprintf(buf, sizeof buf, "{\"v\":%d,\"type\":\"changes\",\"since\":%lld%s}",
			     DELTA_VERSION, (long long)r->since, maxs);
	}
	if (n < 0 || (size_t)n >= sizeof buf)
		return NULL;
	return strdup(buf);
}

/* ---- pages ---- */

static int parse_page(const cJSON *root, struct delta_page *out, char *err, size_t errcap)
{
	static const char *const k_page[] = {
	    "v",    "type",    "since",		  "next", "latest", "oldest", "as_of",
	    "more", "changes", "snapshot_needed", NULL};
	static const char *const k_needed[] = {"v",	 "type",   "since", "snapshot_needed",
					       "latest", "oldest", "as_of", NULL};
	const cJSON *arr, *it;
	char path[DELTA_PATH_MAX];
	size_t i = 0;
	int rc, n;

	if (!cJSON_IsObject(root))
		return fail(RG_ERR_PARSE, err, errcap, "", NULL, "expected an object, got %s",
			    rg_json_kind(root));
	if ((rc = get_bool(root, "", "snapshot_needed", false, &out->snapshot_needed, err,
			   errcap)) < 0)
		return rc;
	if ((rc = check_keys(root, "", out->snapshot_needed ? k_needed : k_page, err, errcap)) < 0)
		return rc;
	if ((rc = check_version(root, "changes", err, errcap)) < 0)
		return rc;
	if ((rc = get_seq(root, "", "since", 0, &out->since, err, errcap)) < 0 ||
	    (rc = get_seq(root, "", "latest", 0, &out->latest, err, errcap)) < 0 ||
	    (rc = get_seq(root, "", "oldest", 0, &out->oldest, err, errcap)) < 0 ||
	    (rc = get_seq(root, "", "as_of", 0, &out->as_of_ms, err, errcap)) < 0)
		return rc;
	if (out->oldest > out->latest)
		return fail(RG_ERR_INVAL, err, errcap, "", "oldest", "%lld is above latest %lld",
			    (long long)out->oldest, (long long)out->latest);
	if (out->snapshot_needed) {
		out->next = out->since;
		return 0;
	}
	if ((rc = get_seq(root, "", "next", 0, &out->next, err, errcap)) < 0 ||
	    (rc = get_bool(root, "", "more", true, &out->more, err, errcap)) < 0)
		return rc;
	if (out->next < out->since)
		return fail(RG_ERR_INVAL, err, errcap, "", "next", "%lld is below since %lld",
			    (long long)out->next, (long long)out->since);
	if (!(arr = cJSON_GetObjectItemCaseSensitive(root, "changes")))
		return fail(RG_ERR_PARSE, err, errcap, "", "changes", "missing");
	if (!cJSON_IsArray(arr))
		return fail(RG_ERR_PARSE, err, errcap, "", "changes", "expected an array, got %s",
			    rg_json_kind(arr));
	n = cJSON_GetArraySize(arr);
	if (n > DELTA_CHANGES_MAX)
		return fail(RG_ERR_TOOBIG, err, errcap, "", "changes", "%d changes exceed %d", n,
			    DELTA_CHANGES_MAX);
	if (n > 0 && !(out->changes = calloc((size_t)n, sizeof *out->changes)))
		return fail(RG_ERR_NOMEM, err, errcap, "", "changes", "out of memory");
	out->n = (size_t)n; /* zeroed entries: delta_page_free copes with a partial fill */
	cJSON_ArrayForEach(it, arr)
	{
		struct delta_change *c = &out->changes[i];
		int64_t prev = i ? out->changes[i - 1].seq : out->since;
		snprintf(path, sizeof path, "changes[%zu]", i);
		if ((rc = parse_change(it, path, c, err, errcap)) < 0)
			return rc;
		if (c->seq <= prev)
			return fail(RG_ERR_INVAL, err, errcap, path, "seq",
				    "%lld is not above %s %lld", (long long)c->seq,
				    i ? "the previous seq" : "since", (long long)prev);
		i++;
	}
	if (n > 0 && out->next < out->changes[n - 1].seq)
		return fail(RG_ERR_INVAL, err, errcap, "", "next",
			    "%lld is below the last seq %lld", (long long)out->next,
			    (long long)out->changes[n - 1].seq);
	return 0;
}

/* The JSON of a page or chunk ("what"), size checked first. */
static int read_root(const void *buf, size_t len, const char *what, cJSON **root, char *err,
		     size_t errcap)
{
	if (!buf)
		return fail(RG_ERR_INVAL, err, errcap, "", NULL, "no %s", what);
	if (len > DELTA_PAGE_MAX)
		return fail(RG_ERR_TOOBIG, err, errcap, "", NULL, "%s of %zu bytes exceeds %d", what,
			    len, DELTA_PAGE_MAX);
	return rg_json_parse(buf, len, DELTA_PAGE_MAX, root, err, errcap);
}

int delta_page_parse(const void *buf, size_t len, struct delta_page *out, char *err, size_t errcap)
{
	cJSON *root = NULL;
	int rc;

	if (!out)
		return RG_ERR_INVAL;
	memset(out, 0, sizeof *out);
	if ((rc = read_root(buf, len, "page", &root, err, errcap)) < 0)
		return rc;
	rc = parse_page(root, out, err, errcap);
	cJSON_Delete(root);
	if (rc < 0)
		delta_page_free(out);
	return rc < 0 ? rc : 0;
}

void delta_page_free(struct delta_page *p)
{
	if (!p)
		return;
	changes_free(p->changes, p->n);
	memset(p, 0, sizeof *p);
}

/* ---- rendering ---- */

/* A growable text buffer; after a failed append, oom is set and the text
 * stays what it was. */
struct sbuf {
	char *p;
	size_t len, cap;
	bool oom;
};

static bool sb_reserve(struct sbuf *b, size_t more)
{
	size_t want, cap;
	char *p;
	if (b->oom)
		return false;
	if (more < b->cap - b->len)
		return true;
	want = b->len + more + 1;
	cap = b->cap ? b->cap : 1024;
	while (cap < want)
		cap *= 2;
	if (!(p = realloc(b->p, cap))) {
		b->oom = true;
		return false;
	}
	b->p = p;
	b->cap = cap;
	return true;
}

static void sb_put(struct sbuf *b, const char *s, size_t n)
{
	if (!sb_reserve(b, n))
		return;
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void sb_puts(struct sbuf *b, const char *s)
{
	sb_put(b, s, strlen(s));
}

static void sb_putnum(struct sbuf *b, int64_t v)
{
	char num[DELTA_NUM_MAX];
	int n = snprintf(num, sizeof num, "%lld", (long long)v);
	sb_put(b, num, (size_t)n);
}

/* s as the contents of a JSON string (without the quotes). */
static void sb_put_escaped(struct sbuf *b, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	size_t start = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
		size_t elen = 6;
		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		sb_put(b, s + start, i - start);
		if (c == '"' || c == '\\') {
			esc[1] = (char)c;
			elen = 2;
		}
		sb_put(b, esc, elen);
		start = i + 1;
	}
	sb_put(b, s + start, n - start);
}

/* Checks a change a caller wants written; for a profile, *body gets the
 * compact text of its body (malloc'd). RG_ERR_INVAL or RG_ERR_NOMEM. */
static int change_check(const struct delta_change *c, char **body, size_t *body_len)
{
	cJSON *root = NULL;
	size_t blen;
	int rc;

	*body = NULL;
	if (!c || c->seq < 0 || c->seq > DELTA_SEQ_MAX || !terminated(c->id, sizeof c->id) ||
	    !id_valid(c->id))
		return RG_ERR_INVAL;
	switch (c->op) {
	case DELTA_MERGE:
	case DELTA_UNMERGE:
		if (!terminated(c->other, sizeof c->other) || !id_valid(c->other) ||
		    !strcmp(c->id, c->other))
			return RG_ERR_INVAL;
		return 0;
	case DELTA_ERASE:
		return 0;
	case DELTA_PROFILE:
		break;
	default:
		return RG_ERR_INVAL;
	}
	if (c->version < 1 || c->version > DELTA_SEQ_MAX || !c->body ||
	    c->n_idents > DELTA_IDENTS_MAX || (c->n_idents && !c->idents))
		return RG_ERR_INVAL;
	for (size_t i = 0; i < c->n_idents; i++) {
		if (!terminated(c->idents[i].type, sizeof c->idents[i].type) ||
		    !type_valid(c->idents[i].type))
			return RG_ERR_INVAL;
		for (size_t j = 0; j < i; j++)
			if (!memcmp(c->idents[i].token, c->idents[j].token, RG_TOKEN_LEN))
				return RG_ERR_INVAL;
	}
	blen = c->body_len ? c->body_len : strlen(c->body);
	if (blen > DELTA_BODY_MAX)
		return RG_ERR_INVAL; /* never fits any page: not a "try the next page" */
	if ((rc = rg_json_parse(c->body, blen, DELTA_BODY_MAX, &root, NULL, 0)) < 0)
		return rc == RG_ERR_NOMEM ? rc : RG_ERR_INVAL;
	rc = body_render(root, "", body, body_len, NULL, 0);
	cJSON_Delete(root);
	if (rc < 0)
		return rc == RG_ERR_NOMEM ? rc : RG_ERR_INVAL;
	return 0;
}

static void render_profile(struct sbuf *b, const struct delta_change *c, const char *body,
			   size_t body_len)
{
	char hlc[RG_HLC_STR_MAX], tok[RG_TOKEN_HEX_LEN + 1];
	struct rg_hlc t;

	rg_hlc_unpack(c->hlc, &t);
	rg_hlc_format(&t, hlc, sizeof hlc);
	sb_puts(b, "{\"id\":\"");
	sb_puts(b, c->id);
	sb_puts(b, "\",\"version\":");
	sb_putnum(b, c->version);
	sb_puts(b, ",\"hlc\":\"");
	sb_puts(b, hlc);
	sb_puts(b, "\",\"body\":");
	sb_put(b, body, body_len);
	sb_puts(b, ",\"idents\":[");
	for (size_t i = 0; i < c->n_idents; i++) {
		rg_hex_encode(c->idents[i].token, RG_TOKEN_LEN, tok, sizeof tok);
		sb_puts(b, i ? ",{\"token\":\"" : "{\"token\":\"");
		sb_puts(b, tok);
		sb_puts(b, "\",\"type\":\"");
		sb_puts(b, c->idents[i].type);
		sb_puts(b, "\"}");
	}
	sb_puts(b, "]}");
}

static void render_change(struct sbuf *b, const struct delta_change *c, const char *body,
			  size_t body_len)
{
	sb_puts(b, "{\"seq\":");
	sb_putnum(b, c->seq);
	switch (c->op) {
	case DELTA_PROFILE:
		sb_puts(b, ",\"op\":\"profile\",\"profile\":");
		render_profile(b, c, body, body_len);
		sb_puts(b, "}");
		break;
	case DELTA_MERGE:
	case DELTA_UNMERGE:
		sb_puts(b, c->op == DELTA_MERGE ? ",\"op\":\"merge\",\"from\":\""
						: ",\"op\":\"unmerge\",\"from\":\"");
		sb_puts(b, c->id);
		sb_puts(b, "\",\"into\":\"");
		sb_puts(b, c->other);
		sb_puts(b, "\"}");
		break;
	case DELTA_ERASE:
		sb_puts(b, ",\"op\":\"erase\",\"id\":\"");
		sb_puts(b, c->id);
		sb_puts(b, "\"}");
		break;
	}
}

/* ---- the page writer ---- */

struct delta_writer {
	int64_t since;
	int64_t last; /* seq of the last change added (since when none) */
	size_t n;
	struct sbuf changes; /* the changes' JSON, comma separated */
};

int delta_writer_new(int64_t since, struct delta_writer **out)
{
	struct delta_writer *w;
	if (!out)
		return RG_ERR_INVAL;
	*out = NULL;
	if (since < 0 || since > DELTA_SEQ_MAX)
		return RG_ERR_INVAL;
	if (!(w = calloc(1, sizeof *w)))
		return RG_ERR_NOMEM;
	w->since = w->last = since;
	*out = w;
	return 0;
}

int delta_writer_add(struct delta_writer *w, const struct delta_change *c)
{
	char *body = NULL;
	size_t body_len = 0, before;
	int rc;

	if (!w || !c)
		return RG_ERR_INVAL;
	if ((rc = change_check(c, &body, &body_len)) < 0)
		return rc;
	if (c->seq <= w->last) {
		free(body);
		return RG_ERR_INVAL;
	}
	if (w->n >= DELTA_CHANGES_MAX) {
		free(body);
		return RG_ERR_TOOBIG;
	}
	before = w->changes.len;
	if (w->n)
		sb_puts(&w->changes, ",");
	render_change(&w->changes, c, body, body_len);
	free(body);
	if (w->changes.oom) {
		w->changes.oom = false;
		w->changes.len = before;
		if (w->changes.p)
			w->changes.p[before] = '\0';
		return RG_ERR_NOMEM;
	}
	if (w->changes.len + DELTA_FRAME_MAX > DELTA_PAGE_MAX) {
		w->changes.len = before;
		w->changes.p[before] = '\0';
		return RG_ERR_TOOBIG;
	}
	w->last = c->seq;
	w->n++;
	return 0;
}

size_t delta_writer_count(const struct delta_writer *w)
{
	return w ? w->n : 0;
}

void delta_writer_free(struct delta_writer *w)
{
	if (!w)
		return;
	free(w->changes.p);
	free(w);
}

static int header_valid(int64_t latest, int64_t oldest, int64_t as_of_ms)
{
	return latest >= 0 && latest <= DELTA_SEQ_MAX && oldest >= 0 && oldest <= latest &&
	       as_of_ms >= 0 && as_of_ms <= DELTA_SEQ_MAX;
}

int delta_writer_finish(struct delta_writer *w, int64_t next, int64_t latest, int64_t oldest,
			int64_t as_of_ms, bool more, char **out, size_t *len)
{
	struct sbuf b = {0};
	int rc = RG_ERR_INVAL;

	if (out)
		*out = NULL;
	if (len)
		*len = 0;
	if (!w || !out)
		goto done;
	if (next < w->since || next < w->last || next > DELTA_SEQ_MAX ||
	    !header_valid(latest, oldest, as_of_ms))
		goto done;
	if (!sb_reserve(&b, w->changes.len + DELTA_FRAME_MAX)) {
		rc = RG_ERR_NOMEM;
		goto done;
	}
	sb_puts(&b, "{\"v\":1,\"type\":\"changes\",\"since\":");
	sb_putnum(&b, w->since);
	sb_puts(&b, ",\"next\":");
	sb_putnum(&b, next);
	sb_puts(&b, ",\"latest\":");
	sb_putnum(&b, latest);
	sb_puts(&b, ",\"oldest\":");
	sb_putnum(&b, oldest);
	sb_puts(&b, ",\"as_of\":");
	sb_putnum(&b, as_of_ms);
	sb_puts(&b, more ? ",\"more\":true,\"changes\":[" : ",\"more\":false,\"changes\":[");
	sb_put(&b, w->changes.p ? w->changes.p : "", w->changes.len);
	sb_puts(&b, "]}");
	if (b.oom) {
		free(b.p);
		rc = RG_ERR_NOMEM;
		goto done;
	}
	*out = b.p;
	if (len)
		*len = b.len;
	rc = 0;
done:
	delta_writer_free(w);
	return rc;
}

char *delta_page_snapshot_needed(int64_t since, int64_t latest, int64_t oldest, int64_t as_of_ms)
{
	char buf[256];
	int n;
	if (since < 0 || since > DELTA_SEQ_MAX || !header_valid(latest, oldest, as_of_ms))
		return NULL;
	n = snprintf(buf, sizeof buf,
		     "{\"v\":1,\"type\":\"changes\",\"since\":%lld,\"snapshot_needed\":true,"
		     "\"latest\":%lld,\"oldest\":%lld,\"as_of\":%lld}",
		     (long long)since, (long long)latest, (long long)oldest, (long long)as_of_ms);
	if (n < 0 || (size_t)n >= sizeof buf)
		return NULL;
	return strdup(buf);
}

/* ---- snapshot chunks ---- */

static int parse_chunk_data(const char *data, size_t dlen, int64_t count, struct delta_chunk *out,
			    char *err, size_t errcap)
{
	cJSON *arr = NULL;
	const cJSON *it;
	char path[DELTA_PATH_MAX];
	size_t i = 0;
	int rc, n;

	if ((rc = rg_json_parse(data, dlen, DELTA_PAGE_MAX, &arr, err, errcap)) < 0)
		return prefix(rc, err, errcap, "data");
	if (!cJSON_IsArray(arr)) {
		rc = fail(RG_ERR_PARSE, err, errcap, "", "data", "expected an array, got %s",
			  rg_json_kind(arr));
		goto done;
	}
	n = cJSON_GetArraySize(arr);
	if (n != count) {
		rc = fail(RG_ERR_INVAL, err, errcap, "", "count", "%lld but data holds %d profiles",
			  (long long)count, n);
		goto done;
	}
	if (n > 0 && !(out->changes = calloc((size_t)n, sizeof *out->changes))) {
		rc = fail(RG_ERR_NOMEM, err, errcap, "", "data", "out of memory");
		goto done;
	}
	out->n = (size_t)n;
	cJSON_ArrayForEach(it, arr)
	{
		struct delta_change *c = &out->changes[i];
		const char *prev = i ? out->changes[i - 1].id : out->after;
		snprintf(path, sizeof path, "data[%zu]", i);
		if ((rc = parse_profile(it, path, c, err, errcap)) < 0)
			goto done;
		if (strcmp(c->id, prev) <= 0) {
			rc = fail(RG_ERR_INVAL, err, errcap, path, "id", "not after %s",
				  i ? "the previous id" : "\"after\"");
			goto done;
		}
		i++;
	}
	if (strcmp(out->next_after, n ? out->changes[n - 1].id : "")) {
		rc = fail(RG_ERR_INVAL, err, errcap, "", "next_after", "not the last id of data");
		goto done;
	}
	rc = 0;
done:
	cJSON_Delete(arr);
	return rc;
}

static int parse_chunk(const cJSON *root, struct delta_chunk *out, char *err, size_t errcap)
{
	static const char *const keys[] = {"v",	    "type",   "snapshot",   "seq",
					   "as_of", "after",  "next_after", "done",
					   "count", "sha256", "data",	    NULL};
	uint8_t want[RG_SHA256_LEN], got[RG_SHA256_LEN];
	const char *s, *data;
	int64_t count;
	size_t dlen;
	int rc;

	if ((rc = check_keys(root, "", keys, err, errcap)) < 0 ||
	    (rc = check_version(root, "snapshot_chunk", err, errcap)) < 0 ||
	    (rc = get_seq(root, "", "snapshot", 1, &out->snapshot, err, errcap)) < 0 ||
	    (rc = get_seq(root, "", "seq", 0, &out->seq, err, errcap)) < 0 ||
	    (rc = get_seq(root, "", "as_of", 0, &out->as_of_ms, err, errcap)) < 0)
		return rc;
	if ((rc = get_str(root, "", "after", DELTA_ID_MAX, &s, err, errcap)) < 0)
		return rc;
	if (!after_valid(s))
		return fail(RG_ERR_INVAL, err, errcap, "", "after", "not a valid profile id");
	memcpy(out->after, s, strlen(s) + 1);
	if ((rc = get_str(root, "", "next_after", DELTA_ID_MAX, &s, err, errcap)) < 0)
		return rc;
	if (!after_valid(s))
		return fail(RG_ERR_INVAL, err, errcap, "", "next_after", "not a valid profile id");
	memcpy(out->next_after, s, strlen(s) + 1);
	if ((rc = get_bool(root, "", "done", true, &out->done, err, errcap)) < 0 ||
	    (rc = get_int(root, "", "count", 0, DELTA_CHANGES_MAX, true, &count, err, errcap)) < 0)
		return rc;
	if ((rc = get_str(root, "", "sha256", 2 * RG_SHA256_LEN, &s, err, errcap)) < 0)
		return rc;
	if (!lower_hex_decode(s, want, RG_SHA256_LEN))
		return fail(RG_ERR_INVAL, err, errcap, "", "sha256", "not 64 lower-case hex");
	if ((rc = get_str(root, "", "data", DELTA_PAGE_MAX, &data, err, errcap)) < 0)
		return rc;
	dlen = strlen(data);
	if ((rc = rg_sha256(data, dlen, got)) < 0)
		return fail(rc, err, errcap, "", "sha256", "cannot compute: %s", rg_strerror(rc));
	if (memcmp(want, got, sizeof want))
		return fail(RG_ERR_INVAL, err, errcap, "", "sha256", "does not match data");
	return parse_chunk_data(data, dlen, count, out, err, errcap);
}

int delta_chunk_parse(const void *buf, size_t len, struct delta_chunk *out, char *err,
		      size_t errcap)
{
	cJSON *root = NULL;
	int rc;

	if (!out)
		return RG_ERR_INVAL;
	memset(out, 0, sizeof *out);
	if ((rc = read_root(buf, len, "chunk", &root, err, errcap)) < 0)
		return rc;
	rc = parse_chunk(root, out, err, errcap);
	cJSON_Delete(root);
	if (rc < 0)
		delta_chunk_free(out);
	return rc < 0 ? rc : 0;
}

void delta_chunk_free(struct delta_chunk *c)
{
	if (!c)
		return;
	changes_free(c->changes, c->n);
	memset(c, 0, sizeof *c);
}

int delta_chunk_build(int64_t snapshot, int64_t seq, int64_t as_of_ms, const char *after, bool done,
		      const struct delta_change *changes, size_t n, char **out, size_t *len)
{
	uint8_t sum[RG_SHA256_LEN];
	char sumhex[2 * RG_SHA256_LEN + 1];
	struct sbuf data = {0}, b = {0};
	const char *last = "";
	int rc = RG_ERR_INVAL;

	if (out)
		*out = NULL;
	if (len)
		*len = 0;
	if (!out || snapshot < 1 || snapshot > DELTA_SEQ_MAX || seq < 0 || seq > DELTA_SEQ_MAX ||
	    as_of_ms < 0 || as_of_ms > DELTA_SEQ_MAX || !after || strlen(after) > DELTA_ID_MAX ||
	    !after_valid(after) || n > DELTA_CHANGES_MAX || (n && !changes))
		return RG_ERR_INVAL;
	sb_puts(&data, "[");
	for (size_t i = 0; i < n; i++) {
		const struct delta_change *c = &changes[i];
		char *body;
		size_t body_len;
		if (c->op != DELTA_PROFILE || (rc = change_check(c, &body, &body_len)) < 0) {
			rc = rc < 0 ? rc : RG_ERR_INVAL;
			goto done;
		}
		if (strcmp(c->id, i ? changes[i - 1].id : after) <= 0) {
			free(body);
			rc = RG_ERR_INVAL;
			goto done;
		}
		if (i)
			sb_puts(&data, ",");
		render_profile(&data, c, body, body_len);
		free(body);
		if (data.len > DELTA_PAGE_MAX) {
			rc = RG_ERR_TOOBIG;
			goto done;
		}
		last = c->id;
	}
	sb_puts(&data, "]");
	if (data.oom) {
		rc = RG_ERR_NOMEM;
		goto done;
	}
	if ((rc = rg_sha256(data.p, data.len, sum)) < 0)
		goto done;
	rg_hex_encode(sum, sizeof sum, sumhex, sizeof sumhex);
	sb_puts(&b, "{\"v\":1,\"type\":\"snapshot_chunk\",\"snapshot\":");
	sb_putnum(&b, snapshot);
	sb_puts(&b, ",\"seq\":");
	sb_putnum(&b, seq);
	sb_puts(&b, ",\"as_of\":");
	sb_putnum(&b, as_of_ms);
	sb_puts(&b, ",\"after\":\"");
	sb_puts(&b, after);
	sb_puts(&b, "\",\"next_after\":\"");
	sb_puts(&b, last);
	sb_puts(&b, done ? "\",\"done\":true,\"count\":" : "\",\"done\":false,\"count\":");
	sb_putnum(&b, (int64_t)n);
	sb_puts(&b, ",\"sha256\":\"");
	sb_puts(&b, sumhex);
	sb_puts(&b, "\",\"data\":\"");
	sb_put_escaped(&b, data.p, data.len);
	sb_puts(&b, "\"}");
	if (b.oom) {
		rc = RG_ERR_NOMEM;
		goto done;
	}
	if (b.len > DELTA_PAGE_MAX) {
		rc = RG_ERR_TOOBIG;
		goto done;
	}
	*out = b.p;
	b.p = NULL;
	if (len)
		*len = b.len;
	rc = 0;
done:
	free(data.p);
	free(b.p);
	return rc;
}

/* ---- the store-wide notice ---- */

char *delta_notice_build(int64_t latest)
{
	char buf[96];
	if (latest < 0 || latest > DELTA_SEQ_MAX)
		return NULL;
	snprintf(buf, sizeof buf, "{\"v\":1,\"type\":\"changes_available\",\"latest\":%lld}",
		 (long long)latest);
	return strdup(buf);
}

int delta_notice_parse(const void *buf, size_t len, int64_t *latest)
{
	static const char *const keys[] = {"v", "type", "latest", NULL};
	cJSON *root = NULL;
	int64_t v = 0;
	int rc;

	if (!latest)
		return RG_ERR_INVAL;
	*latest = 0;
	if (!buf)
		return RG_ERR_INVAL;
	if (len > DELTA_REQUEST_MAX)
		return RG_ERR_TOOBIG;
	if ((rc = rg_json_parse(buf, len, DELTA_REQUEST_MAX, &root, NULL, 0)) < 0)
		return rc;
	if ((rc = check_keys(root, "", keys, NULL, 0)) == 0 &&
	    (rc = check_version(root, "changes_available", NULL, 0)) == 0 &&
	    (rc = get_seq(root, "", "latest", 0, &v, NULL, 0)) == 0)
		*latest = v;
	cJSON_Delete(root);
	return rc;
}
