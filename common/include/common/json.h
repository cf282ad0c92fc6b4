/*
 * json.h - typed, bounded access to cJSON trees, with errors a person can
 * read ('key "cache.max_profiles": 0 is below the minimum 100').
 *
 * Required getters fail with RG_ERR_MISSING when the key is absent; optional
 * getters leave *out at the caller's default when it is absent, and fail with
 * RG_ERR_TYPE / RG_ERR_RANGE when it is present but wrong. Nothing is ever
 * coerced (no "1" for 1, no 1.5 for 1). Strings returned are borrowed from
 * the tree. err may be NULL; otherwise a message is written on failure.
 */
#ifndef COMMON_JSON_H
#define COMMON_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cJSON.h>

#ifdef __cplusplus
extern "C" {
#endif

#define RG_JSON_ERR_MAX 256
#define RG_JSON_MAX_DEPTH 32

/* What v is, for messages: "a string", "a number", "a boolean", "null",
 * "an array", "an object" ("nothing" for NULL). */
const char *rg_json_kind(const cJSON *v);

/* Parse exactly len bytes (no trailing garbage except whitespace), at most
 * max_len bytes and RG_JSON_MAX_DEPTH levels. On success *out is owned by the
 * caller (cJSON_Delete). Errors: RG_ERR_TOOBIG, RG_ERR_PARSE (with offset). */
int rg_json_parse(const char *text, size_t len, size_t max_len, cJSON **out, char *err,
		  size_t errcap);
/* The same with another nesting cap: for an envelope that carries documents
 * which were themselves checked against RG_JSON_MAX_DEPTH. *deepest (if not
 * NULL) gets the deepest nesting the text reached. */
int rg_json_parse_depth(const char *text, size_t len, size_t max_len, int max_depth, int *deepest,
			cJSON **out, char *err, size_t errcap);

/* Object of `obj` under key (which must be an object, required). *out is
 * NULL when the optional one is absent (and on errors). */
int rg_json_req_obj(const cJSON *obj, const char *key, const cJSON **out, char *err,
		    size_t errcap);
int rg_json_opt_obj(const cJSON *obj, const char *key, const cJSON **out, char *err,
		    size_t errcap);
int rg_json_req_arr(const cJSON *obj, const char *key, size_t max_items, const cJSON **out,
		    char *err, size_t errcap);

/* Strings: length in bytes 1..max_len for required (min_len 0 allowed via
 * the _len variant), valid UTF-8 always. */
int rg_json_req_str(const cJSON *obj, const char *key, size_t max_len, const char **out,
		    char *err, size_t errcap);
int rg_json_opt_str(const cJSON *obj, const char *key, size_t max_len, const char **out,
		    char *err, size_t errcap);

/* Integers: JSON numbers that are whole, within [min, max] and |v| <= 2^53. */
int rg_json_req_int(const cJSON *obj, const char *key, int64_t min, int64_t max, int64_t *out,
		    char *err, size_t errcap);
int rg_json_opt_int(const cJSON *obj, const char *key, int64_t min, int64_t max, int64_t *out,
		    char *err, size_t errcap);

int rg_json_req_bool(const cJSON *obj, const char *key, bool *out, char *err, size_t errcap);
int rg_json_opt_bool(const cJSON *obj, const char *key, bool *out, char *err, size_t errcap);

int rg_json_req_double(const cJSON *obj, const char *key, double min, double max, double *out,
		       char *err, size_t errcap);

/* Fails with RG_ERR_PARSE naming the first key of obj not in the
 * NULL-terminated list `allowed` (unknown keys are errors, not ignored). */
int rg_json_check_keys(const cJSON *obj, const char *const *allowed, char *err, size_t errcap);

/* 1 if s[0..len) is valid UTF-8 (no overlongs, no surrogates), else 0. */
int rg_utf8_valid(const char *s, size_t len);

#ifdef __cplusplus
}
#endif

#endif
