/*
 * json.c - typed, bounded getters over cJSON with readable errors. The
 * parser wrapper adds what cJSON lacks: a size cap, a nesting cap checked
 * before cJSON recurses, and refusal of trailing bytes.
 */
#include "common/json.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common/err.h"

#define JSON_MAX_SAFE_INT 9007199254740992.0 /* 2^53 */

static const char *type_name(const cJSON *v)
{
	if (!v)
		return "nothing";
	if (cJSON_IsString(v))
		return "string";
	if (cJSON_IsNumber(v))
		return "number";
	if (cJSON_IsBool(v))
		return "boolean";
	if (cJSON_IsNull(v))
		return "null";
	if (cJSON_IsArray(v))
		return "array";
	if (cJSON_IsObject(v))
		return "object";
	return "unknown";
}

const char *rg_json_kind(const cJSON *v)
{
	if (!v)
		return "nothing";
	if (cJSON_IsString(v))
		return "a string";
	if (cJSON_IsNumber(v))
		return "a number";
	if (cJSON_IsBool(v))
		return "a boolean";
	if (cJSON_IsNull(v))
		return "null";
	if (cJSON_IsArray(v))
		return "an array";
	if (cJSON_IsObject(v))
		return "an object";
	return "something else";
}

int rg_json_parse(const char *text, size_t len, size_t max_len, cJSON **out, char *err,
		  size_t errcap)
{
	return rg_json_parse_depth(text, len, max_len, RG_JSON_MAX_DEPTH, NULL, out, err, errcap);
}

int rg_json_parse_depth(const char *text, size_t len, size_t max_len, int max_depth, int *deepest,
			cJSON **out, char *err, size_t errcap)
{
	const char *end = NULL;
	int depth = 0, most = 0, in_str = 0, esc = 0;
	cJSON *root;

	*out = NULL;
	if (!text)
		return rg_errf(RG_ERR_INVAL, err, errcap, "no JSON text");
	if (len > max_len)
		return rg_errf(RG_ERR_TOOBIG, err, errcap, "JSON of %zu bytes exceeds the limit of %zu",
			    len, max_len);
	for (size_t i = 0; i < len; i++) {
		char c = text[i];
		if (in_str) {
			if (esc)
				esc = 0;
			else if (c == '\\')
				esc = 1;
			else if (c == '"')
				in_str = 0;
		} else if (c == '"') {
			in_str = 1;
		} else if (c == '{' || c == '[') {
			if (++depth > max_depth)
				return rg_errf(RG_ERR_PARSE, err, errcap,
					       "JSON nested deeper than %d levels at byte %zu",
					       max_depth, i);
			if (depth > most)
				most = depth;
		} else if (c == '}' || c == ']') {
			depth--;
		}
	}
	root = cJSON_ParseWithLengthOpts(text, len, &end, 0);
	if (!root) {
		const char *where = cJSON_GetErrorPtr();
		size_t off = where && where >= text && where <= text + len ? (size_t)(where - text) : 0;
		if (!where)
			return rg_errf(RG_ERR_NOMEM, err, errcap, "JSON parser out of memory");
		return rg_errf(RG_ERR_PARSE, err, errcap, "JSON syntax error at byte %zu", off);
	}
	for (const char *p = end; p && p < text + len; p++) {
		if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r') {
			cJSON_Delete(root);
			return rg_errf(RG_ERR_PARSE, err, errcap,
				    "unexpected data after the JSON value at byte %zu",
				    (size_t)(p - text));
		}
	}
	*out = root;
	if (deepest)
		*deepest = most;
	return 0;
}

/* Looks key up in obj; checks obj is an object. *v NULL when absent. */
static int get(const cJSON *obj, const char *key, const cJSON **v, char *err, size_t errcap)
{
	*v = NULL;
	if (!cJSON_IsObject(obj))
		return rg_errf(RG_ERR_TYPE, err, errcap, "expected an object holding key \"%s\", got %s",
			    key, type_name(obj));
	*v = cJSON_GetObjectItemCaseSensitive(obj, key);
	return 0;
}

static int get_typed(const cJSON *obj, const char *key, int required, cJSON_bool (*is)(const cJSON *),
		     const char *want, const cJSON **v, char *err, size_t errcap)
{
	int rc = get(obj, key, v, err, errcap);
	if (rc < 0)
		return rc;
	if (!*v)
		return required ? rg_errf(RG_ERR_MISSING, err, errcap, "key \"%s\": required but missing", key)
				: 1;
	if (!is(*v))
		return rg_errf(RG_ERR_TYPE, err, errcap, "key \"%s\": expected %s, got %s", key, want,
			    type_name(*v));
	return 0;
}

static int obj_get(const cJSON *obj, const char *key, int required, const cJSON **out, char *err,
		   size_t errcap)
{
	const cJSON *v;
	int rc = get_typed(obj, key, required, cJSON_IsObject, "an object", &v, err, errcap);
	if (rc == 0)
		*out = v;
	return rc < 0 ? rc : 0;
}

int rg_json_req_obj(const cJSON *obj, const char *key, const cJSON **out, char *err, size_t errcap)
{
	*out = NULL;
	return obj_get(obj, key, 1, out, err, errcap);
}

int rg_json_opt_obj(const cJSON *obj, const char *key, const cJSON **out, char *err, size_t errcap)
{
	*out = NULL;
	return obj_get(obj, key, 0, out, err, errcap);
}

int rg_json_req_arr(const cJSON *obj, const char *key, size_t max_items, const cJSON **out,
		    char *err, size_t errcap)
{
	const cJSON *v;
	int rc;
	*out = NULL;
	rc = get_typed(obj, key, 1, cJSON_IsArray, "an array", &v, err, errcap);
	if (rc < 0)
		return rc;
	int n = cJSON_GetArraySize(v);
	if (n < 0 || (size_t)n > max_items)
		return rg_errf(RG_ERR_RANGE, err, errcap, "key \"%s\": %d items exceed the limit of %zu",
			    key, n, max_items);
	*out = v;
	return 0;
}

static int str_get(const cJSON *obj, const char *key, int required, size_t max_len,
		   const char **out, char *err, size_t errcap)
{
	const cJSON *v;
	int rc = get_typed(obj, key, required, cJSON_IsString, "a string", &v, err, errcap);
	if (rc)
		return rc < 0 ? rc : 0;
	size_t n = strlen(v->valuestring);
	if (required && n == 0)
		return rg_errf(RG_ERR_RANGE, err, errcap, "key \"%s\": must not be empty", key);
	if (n > max_len)
		return rg_errf(RG_ERR_RANGE, err, errcap,
			    "key \"%s\": %zu bytes exceed the maximum length %zu", key, n, max_len);
	if (!rg_utf8_valid(v->valuestring, n))
		return rg_errf(RG_ERR_PARSE, err, errcap, "key \"%s\": not valid UTF-8", key);
	*out = v->valuestring;
	return 0;
}

int rg_json_req_str(const cJSON *obj, const char *key, size_t max_len, const char **out,
		    char *err, size_t errcap)
{
	*out = NULL;
	return str_get(obj, key, 1, max_len, out, err, errcap);
}

int rg_json_opt_str(const cJSON *obj, const char *key, size_t max_len, const char **out,
		    char *err, size_t errcap)
{
	return str_get(obj, key, 0, max_len, out, err, errcap);
}

static int int_get(const cJSON *obj, const char *key, int required, int64_t min, int64_t max,
		   int64_t *out, char *err, size_t errcap)
{
	const cJSON *v;
	int rc = get_typed(obj, key, required, cJSON_IsNumber, "an integer", &v, err, errcap);
	if (rc)
		return rc < 0 ? rc : 0;
	double d = v->valuedouble;
	if (!isfinite(d) || d != floor(d) || fabs(d) > JSON_MAX_SAFE_INT)
		return rg_errf(RG_ERR_TYPE, err, errcap, "key \"%s\": %g is not an integer", key, d);
	int64_t i = (int64_t)d;
	if (i < min)
		return rg_errf(RG_ERR_RANGE, err, errcap, "key \"%s\": %lld is below the minimum %lld", key,
			    (long long)i, (long long)min);
	if (i > max)
		return rg_errf(RG_ERR_RANGE, err, errcap, "key \"%s\": %lld is above the maximum %lld", key,
			    (long long)i, (long long)max);
	*out = i;
	return 0;
}

int rg_json_req_int(const cJSON *obj, const char *key, int64_t min, int64_t max, int64_t *out,
		    char *err, size_t errcap)
{
	return int_get(obj, key, 1, min, max, out, err, errcap);
}

int rg_json_opt_int(const cJSON *obj, const char *key, int64_t min, int64_t max, int64_t *out,
		    char *err, size_t errcap)
{
	return int_get(obj, key, 0, min, max, out, err, errcap);
}

static int bool_get(const cJSON *obj, const char *key, int required, bool *out, char *err,
		    size_t errcap)
{
	const cJSON *v;
	int rc = get_typed(obj, key, required, cJSON_IsBool, "a boolean", &v, err, errcap);
	if (rc)
		return rc < 0 ? rc : 0;
	*out = cJSON_IsTrue(v);
	return 0;
}

int rg_json_req_bool(const cJSON *obj, const char *key, bool *out, char *err, size_t errcap)
{
	return bool_get(obj, key, 1, out, err, errcap);
}

int rg_json_opt_bool(const cJSON *obj, const char *key, bool *out, char *err, size_t errcap)
{
	return bool_get(obj, key, 0, out, err, errcap);
}

int rg_json_req_double(const cJSON *obj, const char *key, double min, double max, double *out,
		       char *err, size_t errcap)
{
	const cJSON *v;
	int rc = get_typed(obj, key, 1, cJSON_IsNumber, "a number", &v, err, errcap);
	if (rc < 0)
		return rc;
	if (!isfinite(v->valuedouble) || v->valuedouble < min || v->valuedouble > max)
		return rg_errf(RG_ERR_RANGE, err, errcap, "key \"%s\": %g is outside [%g, %g]", key,
			    v->valuedouble, min, max);
	*out = v->valuedouble;
	return 0;
}

int rg_json_check_keys(const cJSON *obj, const char *const *allowed, char *err, size_t errcap)
{
	const cJSON *item;
	if (!cJSON_IsObject(obj))
		return rg_errf(RG_ERR_TYPE, err, errcap, "expected an object, got %s", type_name(obj));
	cJSON_ArrayForEach(item, obj)
	{
		int ok = 0;
		for (const char *const *a = allowed; *a && !ok; a++)
			ok = item->string && !strcmp(item->string, *a);
		if (!ok) {
			char shown[64];
			const char *k = item->string ? item->string : "";
			size_t n = strnlen(k, sizeof shown - 1);
			if (!rg_utf8_valid(k, n))
				k = "(not UTF-8)", n = strlen(k);
			memcpy(shown, k, n);
			shown[n] = '\0';
			return rg_errf(RG_ERR_PARSE, err, errcap, "unknown key \"%s\"", shown);
		}
	}
	return 0;
}

int rg_utf8_valid(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;
	while (i < len) {
		unsigned c = p[i];
		size_t n;
		uint32_t cp;
		if (c < 0x80) {
			i++;
			continue;
		} else if ((c & 0xe0) == 0xc0) {
			n = 1;
			cp = c & 0x1f;
		} else if ((c & 0xf0) == 0xe0) {
			n = 2;
			cp = c & 0x0f;
		} else if ((c & 0xf8) == 0xf0) {
			n = 3;
			cp = c & 0x07;
		} else {
			return 0;
		}
		if (len - i <= n)
			return 0;
		for (size_t k = 1; k <= n; k++) {
			if ((p[i + k] & 0xc0) != 0x80)
				return 0;
			cp = cp << 6 | (p[i + k] & 0x3f);
		}
		if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
		    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		i += n + 1;
	}
	return 1;
}
