/*
 * msg.c - what a cloud worker reads off the central broker besides batches
 * (those are rg_wire's): the topic names it serves, the per-topic checks on
 * a parsed batch (store and lane), and the lookup request and its answer
 * (proto.md). Strict on input, size-capped, no partial results.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cloud/cloud.h"
#include "common/err.h"
#include "common/json.h"

const char *cloud_refusal_name(enum cloud_refusal r)
{
	static const char *const names[CLOUD_REFUSE__COUNT] = {"malformed", "store_mismatch",
							       "lane_mismatch", "topic"};
	return (unsigned)r < CLOUD_REFUSE__COUNT ? names[r] : "unknown";
}

/* Copy the next level of s (up to '/' or end) into dst; returns the rest
 * after the '/', or NULL if the level is empty or too long. */
static const char *level(const char *s, char *dst, size_t cap)
{
	size_t n = 0;
	while (s[n] && s[n] != '/')
		n++;
	if (n == 0 || n >= cap)
		return NULL;
	memcpy(dst, s, n);
	dst[n] = '\0';
	return s[n] == '/' ? s + n + 1 : s + n;
}

int cloud_topic_parse(const char *topic, struct cloud_topic *out)
{
	static const char prefix[] = "rg/v1/g/";
	char what[8], last[24];
	const char *p;

	if (!topic || !out)
		return RG_ERR_INVAL;
	memset(out, 0, sizeof *out);
	if (strlen(topic) >= 256 || strncmp(topic, prefix, sizeof prefix - 1))
		return RG_ERR_PARSE;
	p = topic + sizeof prefix - 1;
	if (!(p = level(p, out->gateway, sizeof out->gateway)) || !*p)
		return RG_ERR_PARSE;
	if (strncmp(out->gateway, "gw-", 3) || !rg_wire_identity_valid(out->gateway) ||
	    strlen(out->gateway + 3) < 1 || strlen(out->gateway + 3) > RG_WIRE_STORE_MAX)
		return RG_ERR_PARSE;
	memcpy(out->store, out->gateway + 3, strlen(out->gateway + 3) + 1);
	if (!(p = level(p, what, sizeof what)) || !*p)
		return RG_ERR_PARSE;
	if (!(p = level(p, last, sizeof last)) || *p || p[-1] == '/')
		return RG_ERR_PARSE;
	if (!strcmp(what, "up")) {
		for (int l = 0; l < RG_LANE__COUNT; l++)
			if (!strcmp(last, rg_lane_name((enum rg_lane)l))) {
				out->lane = (enum rg_lane)l;
				return 0;
			}
		return RG_ERR_PARSE;
	}
	if (!strcmp(what, "req") && strlen(last) < sizeof out->op) {
		for (const char *c = last; *c; c++)
			if (!((*c >= 'a' && *c <= 'z') || *c == '_'))
				return RG_ERR_PARSE;
		out->is_request = true;
		memcpy(out->op, last, strlen(last) + 1);
		return 0;
	}
	return RG_ERR_PARSE;
}

int cloud_batch_check(const struct cloud_topic *t, const struct rg_wire_batch *b)
{
	if (t->is_request)
		return CLOUD_REFUSE_TOPIC;
	if (strcmp(t->store, b->store))
		return CLOUD_REFUSE_STORE;
	for (size_t i = 0; i < b->n_items; i++)
		if (rg_kind_lane(b->items[i].kind) != t->lane)
			return CLOUD_REFUSE_LANE;
	return 0;
}

int cloud_lookup_parse(const char *buf, size_t len, uint8_t token[RG_TOKEN_LEN], char *err,
		       size_t errcap)
{
	static const char *const keys[] = {"v", "type", "token", NULL};
	cJSON *root = NULL;
	const char *type, *tok;
	int64_t v;
	int rc;

	if (!buf || !token)
		return RG_ERR_INVAL;
	if ((rc = rg_json_parse(buf, len, CLOUD_LOOKUP_MAX, &root, err, errcap)) < 0)
		return rc;
	if (!cJSON_IsObject(root)) {
		rc = rg_errf(RG_ERR_TYPE, err, errcap, "a lookup is a JSON object");
		goto out;
	}
	if ((rc = rg_json_check_keys(root, keys, err, errcap)) < 0 ||
	    (rc = rg_json_req_int(root, "v", 1, 1, &v, err, errcap)) < 0 ||
	    (rc = rg_json_req_str(root, "type", 16, &type, err, errcap)) < 0 ||
	    (rc = rg_json_req_str(root, "token", 64, &tok, err, errcap)) < 0)
		goto out;
	if (strcmp(type, "lookup")) {
		rc = rg_errf(RG_ERR_PARSE, err, errcap, "key \"type\": \"lookup\" expected");
		goto out;
	}
	rc = 0;
	if (strlen(tok) != 2 * RG_TOKEN_LEN)
		rc = RG_ERR_PARSE;
	for (size_t i = 0; !rc && i < RG_TOKEN_LEN; i++) {
		int hi = -1, lo = -1;
		for (int k = 0; k < 2; k++) {
			char c = tok[2 * i + (size_t)k];
			int d = c >= '0' && c <= '9'   ? c - '0'
				: c >= 'a' && c <= 'f' ? c - 'a' + 10
						       : -1;
			if (k == 0)
				hi = d;
			else
				lo = d;
		}
		if (hi < 0 || lo < 0)
			rc = RG_ERR_PARSE;
		else
			token[i] = (uint8_t)(hi << 4 | lo);
	}
	if (rc)
		rc = rg_errf(RG_ERR_PARSE, err, errcap,
			  "key \"token\": 64 lower-case hex digits expected");
out:
	cJSON_Delete(root);
	return rc;
}

int cloud_lookup_result(const struct cloud_profile *p, char **out, size_t *len)
{
	char hlc[RG_HLC_STR_MAX];
	cJSON *root, *prof, *body;
	char *text;

	if (!out)
		return RG_ERR_INVAL;
	*out = NULL;
	if (!(root = cJSON_CreateObject()))
		return RG_ERR_NOMEM;
	if (!cJSON_AddNumberToObject(root, "v", 1) ||
	    !cJSON_AddStringToObject(root, "type", "lookup_result") ||
	    !cJSON_AddBoolToObject(root, "found", p && !p->erased && p->body))
		goto nomem;
	if (p && !p->erased && p->body) {
		if (!(body = cJSON_Parse(p->body)))
			goto nomem;
		if (!(prof = cJSON_AddObjectToObject(root, "profile"))) {
			cJSON_Delete(body);
			goto nomem;
		}
		rg_hlc_format(&p->hlc, hlc, sizeof hlc);
		if (!cJSON_AddStringToObject(prof, "id", p->id) ||
		    !cJSON_AddNumberToObject(prof, "version", (double)p->version) ||
		    !cJSON_AddStringToObject(prof, "hlc", hlc) ||
		    !cJSON_AddItemToObject(prof, "body", body)) {
			cJSON_Delete(body);
			goto nomem;
		}
	}
	if (!(text = cJSON_PrintUnformatted(root)))
		goto nomem;
	cJSON_Delete(root);
	*out = text;
	if (len)
		*len = strlen(text);
	return 0;
nomem:
	cJSON_Delete(root);
	return RG_ERR_NOMEM;
}
