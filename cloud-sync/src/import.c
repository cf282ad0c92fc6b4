/*
 * import.c - the record formats of `regularsctl import` (docs/import.md):
 * the interaction record of JSON Lines files, RFC 3339 times, and CSV rows
 * turned into the JSON objects the line formats define (profiles go on to
 * rg_customer_parse, the one profile parser). Strict like every parser of
 * outside data here: unknown keys and columns are errors, every message
 * names the field. Raw identifier values never appear in a message.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cloud/import.h"
#include "common/err.h"
#include "common/json.h"

#define KIND_LIST                                                                                  \
	"order, note, visit, episode_opened, episode_assigned, episode_updated, "                  \
	"episode_resolved, points_earned, points_redeemed, consent_changed, preference_changed"

void cloud_import_rec_free(struct cloud_import_rec *r)
{
	if (!r)
		return;
	cJSON_Delete(r->body);
	rg_wipe(r, sizeof *r);
}

/* ---- time ---- */

static int digits(const char *s, int n, int *out)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return 0;
}

/* Days since 1970-01-01 of a proleptic Gregorian date. */
static int64_t days_from_civil(int y, int m, int d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

int cloud_import_time_parse(const char *s, int64_t *ms)
{
	static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	int y, mo, d, h, mi, sec, frac = 0, oh = 0, om = 0, sign = 0;
	size_t n = s ? strlen(s) : 0;
	const char *p;

	if (n < 20 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't') ||
	    s[13] != ':' || s[16] != ':' || digits(s, 4, &y) || digits(s + 5, 2, &mo) ||
	    digits(s + 8, 2, &d) || digits(s + 11, 2, &h) || digits(s + 14, 2, &mi) ||
	    digits(s + 17, 2, &sec))
		return RG_ERR_PARSE;
	p = s + 19;
	if (*p == '.') {
		int nd = 0;
		for (p++; *p >= '0' && *p <= '9'; p++, nd++)
			if (nd < 3)
				frac = frac * 10 + (*p - '0');
		if (nd == 0 || nd > 9)
			return RG_ERR_PARSE;
		for (; nd < 3; nd++)
			frac *= 10;
	}
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		sign = *p == '-' ? -1 : 1;
		if (strlen(p) != 6 || p[3] != ':' || digits(p + 1, 2, &oh) ||
		    digits(p + 4, 2, &om) || oh > 23 || om > 59)
			return RG_ERR_PARSE;
		p += 6;
	} else {
		return RG_ERR_PARSE;
	}
	if (*p)
		return RG_ERR_PARSE;
	if (y < 1970 || y > 9999 || mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 || sec > 59)
		return RG_ERR_RANGE;
	if (d > mdays[mo - 1] + (mo == 2 && (y % 4 == 0 && (y % 100 != 0 || y % 400 == 0))))
		return RG_ERR_RANGE;
	*ms = ((days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec) -
	       sign * (oh * 3600 + om * 60)) *
		  1000 +
	      frac;
	return *ms > 0 ? 0 : RG_ERR_RANGE;
}

/* ---- the interaction record ---- */

static int word_ok(const char *s, size_t min, size_t max, int dash)
{
	size_t n = strlen(s);
	if (n < min || n > max)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
		      (dash && c == '-')))
			return 0;
	}
	return 1;
}

static int no_repeated_keys(const cJSON *obj, const char *where, char *err, size_t errcap)
{
	for (const cJSON *a = obj->child; a; a = a->next)
		for (const cJSON *b = a->next; b; b = b->next)
			if (a->string && b->string && !strcmp(a->string, b->string))
				return rg_errf(RG_ERR_PARSE, err, errcap,
					       "%skey \"%s\" appears twice", where, a->string);
	return 0;
}

/* The identifier object, checked by the customer format's own parser (so
 * both formats accept exactly the same identifiers). */
static int ident_read(const cJSON *ident, struct rg_customer_ident *out, char *err, size_t errcap)
{
	struct rg_customer c;
	cJSON *wrap, *arr;
	char *text = NULL, sub[320];
	int rc;

	if (!cJSON_IsObject(ident))
		return rg_errf(RG_ERR_TYPE, err, errcap, "identifier: expected an object");
	if (!(wrap = cJSON_CreateObject()) || !cJSON_AddStringToObject(wrap, "id", "x") ||
	    !cJSON_AddNumberToObject(wrap, "version", 1) ||
	    !cJSON_AddObjectToObject(wrap, "profile") ||
	    !(arr = cJSON_AddArrayToObject(wrap, "identifiers")) ||
	    !cJSON_AddItemToArray(arr, cJSON_Duplicate(ident, 1)) ||
	    !(text = cJSON_PrintUnformatted(wrap))) {
		cJSON_Delete(wrap);
		return rg_errf(RG_ERR_NOMEM, err, errcap, "out of memory");
	}
	cJSON_Delete(wrap);
	rc = rg_customer_parse(text, strlen(text), &c, sub, sizeof sub);
	rg_wipe(text, strlen(text));
	cJSON_free(text);
	if (rc < 0) {
		const char *m = !strncmp(sub, "identifiers[0]", 14) ? sub + 14 : sub;
		return rg_errf(rc, err, errcap, "identifier%s%s",
			       *m == '.' || *m == ':' ? "" : ": ", m);
	}
	*out = c.idents[0];
	rg_customer_free(&c);
	return 0;
}

static int body_str(const cJSON *b, const char *key, size_t max, char *err, size_t errcap)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(b, key);
	if (!v)
		return rg_errf(RG_ERR_MISSING, err, errcap, "body.%s: required for this kind", key);
	if (!cJSON_IsString(v) || !*v->valuestring || strlen(v->valuestring) > max)
		return rg_errf(RG_ERR_TYPE, err, errcap, "body.%s: a string of 1-%zu bytes", key,
			       max);
	return 0;
}

/* What each kind needs in its body: the store records an unusable item as
 * invalid; an import says so up front, naming the field. */
static int body_check(const char *kind, const char *department, const cJSON *b, char *err,
		      size_t errcap)
{
	const cJSON *v;
	int rc;

	if (!strcmp(kind, "order"))
		return body_str(b, "summary", 8192, err, errcap);
	if (!strcmp(kind, "note"))
		return body_str(b, "text", 8192, err, errcap);
	if (!strncmp(kind, "episode_", 8)) {
		if ((rc = body_str(b, "episode", 64, err, errcap)) < 0)
			return rc;
		if (!strcmp(kind, "episode_assigned") && !*department)
			return rg_errf(
			    RG_ERR_MISSING, err, errcap,
			    "department: episode_assigned names the department it moves to");
		return 0;
	}
	if (!strncmp(kind, "points_", 7)) {
		v = cJSON_GetObjectItemCaseSensitive(b, "points");
		if (!cJSON_IsNumber(v) || v->valuedouble < 1 || v->valuedouble > 1e9 ||
		    v->valuedouble != (double)(int64_t)v->valuedouble)
			return rg_errf(RG_ERR_RANGE, err, errcap,
				       "body.points: a whole number 1-1000000000");
		return 0;
	}
	if (!strcmp(kind, "consent_changed")) {
		const cJSON *it;
		v = cJSON_GetObjectItemCaseSensitive(b, "show_in_public");
		if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) > 16)
			return rg_errf(RG_ERR_TYPE, err, errcap,
				       "body.show_in_public: an array of at most 16 strings");
		cJSON_ArrayForEach(it, v)
		{
			if (!cJSON_IsString(it) || !*it->valuestring ||
			    strlen(it->valuestring) > 32)
				return rg_errf(RG_ERR_TYPE, err, errcap,
					       "body.show_in_public: strings of 1-32 bytes");
		}
		return 0;
	}
	if (!strcmp(kind, "preference_changed")) {
		int n = 0;
		cJSON_ArrayForEach(v, b)
		{
			char *val;
			size_t vl;
			if (!word_ok(v->string, 1, 32, 0) || !strcmp(v->string, "channel"))
				return rg_errf(
				    RG_ERR_PARSE, err, errcap,
				    "body: \"%s\" is not a preference key ([a-z0-9_]{1,32}, "
				    "not channel)",
				    v->string);
			if (!(val = cJSON_PrintUnformatted(v)))
				return rg_errf(RG_ERR_NOMEM, err, errcap, "out of memory");
			vl = strlen(val);
			cJSON_free(val);
			if (vl > 1024)
				return rg_errf(RG_ERR_TOOBIG, err, errcap,
					       "body.%s: a value of at most 1024 bytes of JSON",
					       v->string);
			n++;
		}
		if (!n)
			return rg_errf(RG_ERR_MISSING, err, errcap,
				       "body: no preference to change");
	}
	return 0;
}

int cloud_import_interaction_from(const cJSON *o, struct cloud_import_rec *out, char *err,
				  size_t errcap)
{
	static const char *const keys[] = {"type",    "id",	    "profile", "identifier",
					   "channel", "department", "kind",    "at",
					   "hlc",     "body",	    NULL};
	const char *type, *id, *profile = NULL, *channel, *dep = NULL, *kind, *at = NULL,
			       *hlc = NULL;
	const cJSON *ident, *body = NULL;
	char *text;
	int rc;

	memset(out, 0, sizeof *out);
	if (!cJSON_IsObject(o))
		return rg_errf(RG_ERR_TYPE, err, errcap, "expected a JSON object");
	if ((rc = rg_json_check_keys(o, keys, err, errcap)) < 0 ||
	    (rc = no_repeated_keys(o, "", err, errcap)) < 0 ||
	    (rc = rg_json_req_str(o, "type", 16, &type, err, errcap)) < 0)
		return rc;
	if (strcmp(type, "interaction"))
		return rg_errf(RG_ERR_PARSE, err, errcap,
			       "key \"type\": \"interaction\" is the only record type (a profile "
			       "line has no type)");
	if ((rc = rg_json_req_str(o, "id", 64, &id, err, errcap)) < 0)
		return rc;
	if (rg_uuid_parse(id, &out->id) < 0)
		return rg_errf(RG_ERR_PARSE, err, errcap,
			       "key \"id\": not a UUID (8-4-4-4-12 hex digits)");
	if ((rc = rg_json_opt_str(o, "profile", RG_CUSTOMER_ID_MAX, &profile, err, errcap)) < 0)
		return rc;
	ident = cJSON_GetObjectItemCaseSensitive(o, "identifier");
	if (!profile == !ident)
		return rg_errf(RG_ERR_MISSING, err, errcap,
			       "profile/identifier: give exactly one of the two");
	if (profile && !rg_customer_id_valid(profile))
		return rg_errf(RG_ERR_PARSE, err, errcap,
			       "key \"profile\": not a profile id ([A-Za-z0-9_.:-]{1,64}, no "
			       "leading -)");
	if (ident && (rc = ident_read(ident, &out->ident, err, errcap)) < 0)
		return rc;
	out->has_ident = ident != NULL;
	if ((rc = rg_json_req_str(o, "channel", 16, &channel, err, errcap)) < 0)
		return rc;
	if (!word_ok(channel, 1, 16, 0))
		return rg_errf(
		    RG_ERR_PARSE, err, errcap,
		    "key \"channel\": [a-z0-9_]{1,16} (web, call_centre, store, app ...)");
	if ((rc = rg_json_opt_str(o, "department", 32, &dep, err, errcap)) < 0)
		return rc;
	if (dep && !word_ok(dep, 1, 32, 1))
		return rg_errf(RG_ERR_PARSE, err, errcap, "key \"department\": [a-z0-9_-]{1,32}");
	if ((rc = rg_json_req_str(o, "kind", 23, &kind, err, errcap)) < 0)
		return rc;
	if (!cloud_import_kind_valid(kind))
		return rg_errf(RG_ERR_PARSE, err, errcap,
			       "key \"kind\": \"%s\" is not one of " KIND_LIST,
			       word_ok(kind, 1, 23, 0) ? kind : "?");
	if ((rc = rg_json_opt_str(o, "at", 40, &at, err, errcap)) < 0 ||
	    (rc = rg_json_opt_str(o, "hlc", RG_HLC_STR_MAX, &hlc, err, errcap)) < 0)
		return rc;
	if (!at == !hlc)
		return rg_errf(RG_ERR_MISSING, err, errcap,
			       "at/hlc: give exactly one: \"at\" (RFC 3339) or \"hlc\" "
			       "(\"<ms>.<logical>\")");
	if (at) {
		int64_t ms;
		if ((rc = cloud_import_time_parse(at, &ms)) < 0)
			return rg_errf(
			    rc, err, errcap,
			    "key \"at\": not an RFC 3339 time like 2026-01-15T09:12:00Z");
		out->hlc.wall_ms = ms;
	} else if (rg_hlc_parse(hlc, &out->hlc) < 0 || out->hlc.wall_ms <= 0) {
		return rg_errf(RG_ERR_PARSE, err, errcap,
			       "key \"hlc\": not a stamp \"<wall_ms>.<logical>\"");
	}
	if (out->hlc.wall_ms >= (INT64_C(1) << 48))
		return rg_errf(RG_ERR_RANGE, err, errcap, "at/hlc: beyond the year 10889");
	if ((rc = rg_json_opt_obj(o, "body", &body, err, errcap)) < 0)
		return rc;
	out->body = body ? cJSON_Duplicate(body, 1) : cJSON_CreateObject();
	if (!out->body)
		return rg_errf(RG_ERR_NOMEM, err, errcap, "out of memory");
	if (!(text = cJSON_PrintUnformatted(out->body))) {
		cloud_import_rec_free(out);
		return rg_errf(RG_ERR_NOMEM, err, errcap, "out of memory");
	}
	rc = strlen(text) > CLOUD_IMPORT_BODY_MAX
		 ? rg_errf(RG_ERR_TOOBIG, err, errcap, "key \"body\": more than %d bytes of JSON",
			   CLOUD_IMPORT_BODY_MAX)
		 : 0;
	cJSON_free(text);
	if (!rc && (rc = body_check(kind, dep ? dep : "", out->body, err, errcap)) >= 0) {
		snprintf(out->kind, sizeof out->kind, "%s", kind);
		snprintf(out->channel, sizeof out->channel, "%s", channel);
		snprintf(out->department, sizeof out->department, "%s", dep ? dep : "");
		snprintf(out->profile, sizeof out->profile, "%s", profile ? profile : "");
		return 0;
	}
	cloud_import_rec_free(out);
	return rc;
}

int cloud_import_interaction_parse(const char *line, size_t len, struct cloud_import_rec *out,
				   char *err, size_t errcap)
{
	cJSON *root = NULL;
	int rc;

	memset(out, 0, sizeof *out);
	if (len > RG_CUSTOMER_LINE_MAX)
		return rg_errf(RG_ERR_TOOBIG, err, errcap,
			       "line of %zu bytes exceeds the limit of %d", len,
			       RG_CUSTOMER_LINE_MAX);
	if (memchr(line, '\0', len))
		return rg_errf(RG_ERR_PARSE, err, errcap, "line contains a NUL byte");
	if (!rg_utf8_valid(line, len))
		return rg_errf(RG_ERR_PARSE, err, errcap, "line is not valid UTF-8");
	if ((rc = rg_json_parse(line, len, RG_CUSTOMER_LINE_MAX, &root, err, errcap)) < 0)
		return rc;
	rc = cloud_import_interaction_from(root, out, err, errcap);
	cJSON_Delete(root);
	return rc;
}

/* ---- CSV ---- */

void cloud_csv_row_free(struct cloud_csv_row *row)
{
	if (!row)
		return;
	if (row->buf) {
		rg_wipe(row->buf, row->cap);
		free(row->buf);
	}
	memset(row, 0, sizeof *row);
}

int cloud_csv_split(const char *line, size_t len, struct cloud_csv_row *row, char *err,
		    size_t errcap)
{
	size_t i = 0, o = 0;
	char *b;

	memset(row, 0, sizeof *row);
	while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
		len--;
	if (memchr(line, '\0', len))
		return rg_errf(RG_ERR_PARSE, err, errcap, "line contains a NUL byte");
	if (!rg_utf8_valid(line, len))
		return rg_errf(RG_ERR_PARSE, err, errcap, "line is not valid UTF-8");
	/* every field is at most as long as its source: one buffer holds all */
	row->cap = len + CLOUD_CSV_FIELDS_MAX + 1;
	if (!(b = row->buf = calloc(1, row->cap)))
		return rg_errf(RG_ERR_NOMEM, err, errcap, "out of memory");
	for (;;) {
		if (row->n == CLOUD_CSV_FIELDS_MAX) {
			cloud_csv_row_free(row);
			return rg_errf(RG_ERR_TOOBIG, err, errcap, "more than %d columns",
				       CLOUD_CSV_FIELDS_MAX);
		}
		row->field[row->n++] = b + o;
		if (i < len && line[i] == '"') {
			for (i++;; i++) {
				if (i >= len) {
					size_t col = row->n;
					cloud_csv_row_free(row);
					return rg_errf(
					    RG_ERR_PARSE, err, errcap,
					    "column %zu: a quoted field is not closed (a line "
					    "break inside quotes is not allowed)",
					    col);
				}
				if (line[i] == '"') {
					if (i + 1 < len && line[i + 1] == '"') {
						b[o++] = '"';
						i++;
						continue;
					}
					i++;
					break;
				}
				b[o++] = line[i];
			}
			if (i < len && line[i] != ',') {
				size_t col = row->n;
				cloud_csv_row_free(row);
				return rg_errf(RG_ERR_PARSE, err, errcap,
					       "column %zu: text after the closing quote", col);
			}
		} else {
			for (; i < len && line[i] != ','; i++) {
				if (line[i] == '"') {
					size_t col = row->n;
					cloud_csv_row_free(row);
					return rg_errf(
					    RG_ERR_PARSE, err, errcap,
					    "column %zu: a quote inside an unquoted field", col);
				}
				b[o++] = line[i];
			}
		}
		b[o++] = '\0';
		if (i >= len)
			break;
		i++; /* the comma: another field follows, maybe empty */
	}
	return 0;
}

static const char *const profile_cols[] = {
    "id",	  "version",  "profile", "name",    "first_name", "tier", "points",
    "home_store", "language", "loyalty", "nfc_uid", "qr",	  NULL};
static const char *const inter_cols[] = {"id",
					 "profile",
					 "identifier_type",
					 "identifier_value",
					 "channel",
					 "department",
					 "kind",
					 "at",
					 "hlc",
					 "body",
					 "summary",
					 "text",
					 "episode",
					 "title",
					 "status",
					 "note",
					 "points",
					 "reason",
					 NULL};

static int in_list(const char *const *l, const char *s)
{
	for (; *l; l++)
		if (!strcmp(*l, s))
			return 1;
	return 0;
}

static int has_col(const struct cloud_csv_header *h, const char *name)
{
	for (size_t i = 0; i < h->n; i++)
		if (!strcmp(h->name[i], name))
			return 1;
	return 0;
}

int cloud_csv_header_parse(const char *line, size_t len, struct cloud_csv_header *h, char *err,
			   size_t errcap)
{
	struct cloud_csv_row row;
	const char *const *cols;
	int rc;

	memset(h, 0, sizeof *h);
	if ((rc = cloud_csv_split(line, len, &row, err, errcap)) < 0)
		return rc;
	/* a UTF-8 byte order mark from a spreadsheet is not part of the name */
	if (!strncmp(row.field[0], "\xEF\xBB\xBF", 3))
		row.field[0] += 3;
	for (size_t i = 0; i < row.n; i++) {
		if (!strcmp(row.field[i], "kind"))
			h->kind = CLOUD_CSV_INTERACTIONS;
		else if (!strcmp(row.field[i], "version") && !h->kind)
			h->kind = CLOUD_CSV_PROFILES;
	}
	if (!h->kind) {
		cloud_csv_row_free(&row);
		return rg_errf(RG_ERR_PARSE, err, errcap,
			       "header: neither a profile file (a \"version\" column) nor an "
			       "interaction file (a \"kind\" column)");
	}
	cols = h->kind == CLOUD_CSV_PROFILES ? profile_cols : inter_cols;
	for (size_t i = 0; i < row.n; i++) {
		const char *c = row.field[i];
		if (!in_list(cols, c)) {
			rc = rg_errf(RG_ERR_PARSE, err, errcap,
				     "header: column %zu \"%.24s\" is not a column of %s files",
				     i + 1, c,
				     h->kind == CLOUD_CSV_PROFILES ? "profile" : "interaction");
			break;
		}
		if (has_col(h, c)) {
			rc = rg_errf(RG_ERR_PARSE, err, errcap,
				     "header: column \"%s\" appears twice", c);
			break;
		}
		snprintf(h->name[h->n++], sizeof h->name[0], "%s", c);
	}
	cloud_csv_row_free(&row);
	if (rc < 0)
		return rc;
	if (!has_col(h, "id"))
		return rg_errf(RG_ERR_MISSING, err, errcap, "header: no \"id\" column");
	if (h->kind == CLOUD_CSV_INTERACTIONS &&
	    (!has_col(h, "channel") || (!has_col(h, "at") && !has_col(h, "hlc"))))
		return rg_errf(RG_ERR_MISSING, err, errcap,
			       "header: an interaction file needs \"channel\", \"kind\" and \"at\" "
			       "(or \"hlc\") columns");
	return 0;
}

static int int_of(const char *col, const char *v, long long lo, long long hi, long long *out,
		  char *err, size_t errcap)
{
	char *end;
	errno = 0;
	*out = strtoll(v, &end, 10);
	if (errno || end == v || *end || *out < lo || *out > hi)
		return rg_errf(RG_ERR_RANGE, err, errcap, "column \"%s\": a whole number %lld-%lld",
			       col, lo, hi);
	return 0;
}

static int json_obj_of(const char *col, const char *v, cJSON **out, char *err, size_t errcap)
{
	char sub[200];
	if (rg_json_parse(v, strlen(v), RG_CUSTOMER_LINE_MAX, out, sub, sizeof sub) < 0 ||
	    !cJSON_IsObject(*out)) {
		cJSON_Delete(*out);
		*out = NULL;
		return rg_errf(RG_ERR_PARSE, err, errcap, "column \"%s\": not a JSON object", col);
	}
	return 0;
}

/* obj[key] = v (a string), or an error; a key already set by the JSON
 * column is an error too (one field, one value). */
static int put_str(cJSON *obj, const char *col, const char *key, const char *v, char *err,
		   size_t errcap)
{
	if (cJSON_GetObjectItemCaseSensitive(obj, key))
		return rg_errf(RG_ERR_PARSE, err, errcap,
			       "column \"%s\": also given in the JSON column", col);
	if (!cJSON_AddStringToObject(obj, key, v))
		return rg_errf(RG_ERR_NOMEM, err, errcap, "out of memory");
	return 0;
}

static int put_int(cJSON *obj, const char *col, const char *key, const char *v, long long lo,
		   long long hi, char *err, size_t errcap)
{
	long long n;
	int rc;
	if ((rc = int_of(col, v, lo, hi, &n, err, errcap)) < 0)
		return rc;
	if (cJSON_GetObjectItemCaseSensitive(obj, key))
		return rg_errf(RG_ERR_PARSE, err, errcap,
			       "column \"%s\": also given in the JSON column", col);
	if (!cJSON_AddNumberToObject(obj, key, (double)n))
		return rg_errf(RG_ERR_NOMEM, err, errcap, "out of memory");
	return 0;
}

static int profile_row(const struct cloud_csv_header *h, const struct cloud_csv_row *row,
		       cJSON *out, char *err, size_t errcap)
{
	cJSON *body = NULL, *idents = NULL;
	int rc = 0;

	for (size_t i = 0; !rc && i < h->n; i++)
		if (!strcmp(h->name[i], "profile") && *row->field[i])
			rc = json_obj_of("profile", row->field[i], &body, err, errcap);
	if (rc < 0)
		return rc;
	if (!body && !(body = cJSON_CreateObject()))
		return rg_errf(RG_ERR_NOMEM, err, errcap, "out of memory");
	cJSON_AddItemToObject(out, "profile", body);
	for (size_t i = 0; !rc && i < h->n; i++) {
		const char *c = h->name[i], *v = row->field[i];
		if (!*v || !strcmp(c, "profile"))
			continue;
		if (!strcmp(c, "id")) {
			rc = cJSON_AddStringToObject(out, "id", v) ? 0 : RG_ERR_NOMEM;
		} else if (!strcmp(c, "version")) {
			rc = put_int(out, c, "version", v, 1, INT64_C(1) << 53, err, errcap);
		} else if (!strcmp(c, "points")) {
			rc = put_int(body, c, "points", v, -1000000000000LL, 1000000000000LL, err,
				     errcap);
		} else if (!strcmp(c, "language")) {
			cJSON *pr = cJSON_GetObjectItemCaseSensitive(body, "preferences");
			if (!pr)
				pr = cJSON_AddObjectToObject(body, "preferences");
			rc = cJSON_IsObject(pr)
				 ? put_str(pr, c, "language", v, err, errcap)
				 : rg_errf(RG_ERR_TYPE, err, errcap,
					   "column \"profile\": preferences is not an object");
		} else if (!strcmp(c, "loyalty") || !strcmp(c, "nfc_uid") || !strcmp(c, "qr")) {
			cJSON *one;
			if (!idents && !(idents = cJSON_AddArrayToObject(out, "identifiers")))
				rc = RG_ERR_NOMEM;
			else if (!(one = cJSON_CreateObject()) ||
				 !cJSON_AddItemToArray(idents, one) ||
				 !cJSON_AddStringToObject(one, "type", c) ||
				 !cJSON_AddStringToObject(one, "value", v))
				rc = RG_ERR_NOMEM;
		} else {
			rc = put_str(body, c, c, v, err, errcap); /* name, first_name, tier ... */
		}
	}
	if (rc == RG_ERR_NOMEM)
		return rg_errf(rc, err, errcap, "out of memory");
	return rc;
}

static int interaction_row(const struct cloud_csv_header *h, const struct cloud_csv_row *row,
			   cJSON *out, char *err, size_t errcap)
{
	cJSON *body = NULL, *ident = NULL;
	int rc = 0;

	if (!cJSON_AddStringToObject(out, "type", "interaction"))
		return rg_errf(RG_ERR_NOMEM, err, errcap, "out of memory");
	for (size_t i = 0; !rc && i < h->n; i++)
		if (!strcmp(h->name[i], "body") && *row->field[i])
			rc = json_obj_of("body", row->field[i], &body, err, errcap);
	if (rc < 0)
		return rc;
	if (!body && !(body = cJSON_CreateObject()))
		return rg_errf(RG_ERR_NOMEM, err, errcap, "out of memory");
	cJSON_AddItemToObject(out, "body", body);
	for (size_t i = 0; !rc && i < h->n; i++) {
		const char *c = h->name[i], *v = row->field[i];
		if (!*v || !strcmp(c, "body"))
			continue;
		if (!strcmp(c, "identifier_type") || !strcmp(c, "identifier_value")) {
			if (!ident && !(ident = cJSON_AddObjectToObject(out, "identifier")))
				rc = RG_ERR_NOMEM;
			else if (!cJSON_AddStringToObject(ident, c + 11, v))
				rc = RG_ERR_NOMEM;
		} else if (!strcmp(c, "points")) {
			rc = put_int(body, c, "points", v, 1, 1000000000, err, errcap);
		} else if (in_list((const char *const[]){"summary", "text", "episode", "title",
							 "status", "note", "reason", NULL},
				   c)) {
			rc = put_str(body, c, c, v, err, errcap);
		} else {
			rc = cJSON_AddStringToObject(out, c, v) ? 0 : RG_ERR_NOMEM;
		}
	}
	if (rc == RG_ERR_NOMEM)
		return rg_errf(rc, err, errcap, "out of memory");
	return rc;
}

int cloud_csv_row_to_json(const struct cloud_csv_header *h, const struct cloud_csv_row *row,
			  cJSON **out, char *err, size_t errcap)
{
	cJSON *o;
	int rc;

	*out = NULL;
	if (row->n != h->n)
		return rg_errf(RG_ERR_PARSE, err, errcap, "%zu columns, the header has %zu", row->n,
			       h->n);
	if (!(o = cJSON_CreateObject()))
		return rg_errf(RG_ERR_NOMEM, err, errcap, "out of memory");
	rc = h->kind == CLOUD_CSV_PROFILES ? profile_row(h, row, o, err, errcap)
					   : interaction_row(h, row, o, err, errcap);
	if (rc < 0) {
		cJSON_Delete(o);
		return rc;
	}
	*out = o;
	return 0;
}
