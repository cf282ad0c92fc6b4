/*
 * customer.c - the customer import format (docs/customers.md): one JSON
 * object per line with a profile id, a version, the profile body and raw
 * identifiers. Parsing is strict (unknown or repeated keys, wrong types and
 * oversize parts are errors that name the field); raw identifier values only
 * ever leave through the identifier pipeline, as tokens.
 */
#include "common/customer.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/codec.h"
#include "common/err.h"
#include "common/json.h"

#define NFC_UID_BYTES_MAX 10

int rg_customer_id_valid(const char *id)
{
	size_t n = 0;
	if (!id || !*id || *id == '-')
		return 0;
	for (const char *p = id; *p; p++, n++) {
		char c = *p;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '.' || c == ':' || c == '-'))
			return 0;
	}
	return n <= RG_CUSTOMER_ID_MAX;
}

int rg_customer_ident_importable(enum ident_type t)
{
	return t == IDENT_TYPE_LOYALTY || t == IDENT_TYPE_NFC_UID || t == IDENT_TYPE_QR;
}

/* cJSON keeps repeated keys; a strict format must not pick one silently. */
static int no_repeated_keys(const cJSON *obj, const char *where, char *err, size_t errcap)
{
	for (const cJSON *a = obj->child; a; a = a->next)
		for (const cJSON *b = a->next; b; b = b->next)
			if (a->string && b->string && !strcmp(a->string, b->string))
				return rg_errf(RG_ERR_PARSE, err, errcap, "%skey \"%s\" appears twice",
					    where, a->string);
	return 0;
}

static int hex_uid_valid(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n % 2 || n > 2 * NFC_UID_BYTES_MAX)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')))
			return 0;
	}
	return 1;
}

static int parse_ident(const cJSON *it, size_t i, struct rg_customer_ident *out, char *err,
		       size_t errcap)
{
	static const char *const keys[] = {"type", "value", NULL};
	char sub[RG_JSON_ERR_MAX];
	const char *type, *value;
	int rc, t;

	if (!cJSON_IsObject(it))
		return rg_errf(RG_ERR_TYPE, err, errcap, "identifiers[%zu]: expected an object", i);
	if ((rc = rg_json_check_keys(it, keys, sub, sizeof sub)) < 0 ||
	    (rc = rg_json_req_str(it, "type", 32, &type, sub, sizeof sub)) < 0 ||
	    (rc = rg_json_req_str(it, "value", IDENT_TEXT_MAX, &value, sub, sizeof sub)) < 0)
		return rg_errf(rc, err, errcap, "identifiers[%zu]: %s", i, sub);
	if ((rc = no_repeated_keys(it, "", sub, sizeof sub)) < 0)
		return rg_errf(rc, err, errcap, "identifiers[%zu]: %s", i, sub);
	t = ident_type_from_name(type);
	if (t < 0)
		return rg_errf(RG_ERR_PARSE, err, errcap,
			    "identifiers[%zu].type: unknown type (loyalty, nfc_uid or qr)", i);
	if (!rg_customer_ident_importable((enum ident_type)t))
		return rg_errf(RG_ERR_PARSE, err, errcap,
			    "identifiers[%zu].type: \"%s\" cannot be imported (only loyalty, "
			    "nfc_uid and qr are static identifiers)",
			    i, ident_type_name((enum ident_type)t));
	if (t == IDENT_TYPE_NFC_UID && !hex_uid_valid(value))
		return rg_errf(RG_ERR_PARSE, err, errcap,
			    "identifiers[%zu].value: an nfc_uid is hex, 2 digits per byte, at most "
			    "%d bytes",
			    i, NFC_UID_BYTES_MAX);
	for (const char *p = value; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return rg_errf(RG_ERR_PARSE, err, errcap,
				    "identifiers[%zu].value: contains a control character", i);
	out->type = (enum ident_type)t;
	snprintf(out->value, sizeof out->value, "%s", value);
	return 0;
}

static int parse_root(const cJSON *root, struct rg_customer *out, char *err, size_t errcap)
{
	static const char *const keys[] = {"id", "version", "profile", "identifiers", NULL};
	const cJSON *profile, *idents = NULL, *it;
	const char *id;
	int64_t version;
	size_t n, i = 0;
	int rc;

	if (!cJSON_IsObject(root))
		return rg_errf(RG_ERR_TYPE, err, errcap, "a customer line must be a JSON object");
	if ((rc = rg_json_check_keys(root, keys, err, errcap)) < 0 ||
	    (rc = no_repeated_keys(root, "", err, errcap)) < 0)
		return rc;
	if ((rc = rg_json_req_str(root, "id", RG_CUSTOMER_ID_MAX, &id, err, errcap)) < 0)
		return rc;
	if (!rg_customer_id_valid(id))
		return rg_errf(RG_ERR_PARSE, err, errcap,
			    "key \"id\": not a profile id (1-%d of [A-Za-z0-9_.:-], not starting "
			    "with '-')",
			    RG_CUSTOMER_ID_MAX);
	if ((rc = rg_json_req_int(root, "version", 1, (int64_t)1 << 53, &version, err, errcap)) < 0)
		return rc;
	if ((rc = rg_json_req_obj(root, "profile", &profile, err, errcap)) < 0)
		return rc;
	if (cJSON_GetObjectItemCaseSensitive(root, "identifiers") &&
	    (rc = rg_json_req_arr(root, "identifiers", RG_CUSTOMER_IDENTS_MAX, &idents, err,
				  errcap)) < 0)
		return rc;

	snprintf(out->id, sizeof out->id, "%s", id);
	out->version = version;
	cJSON_ArrayForEach(it, idents)
	{
		if ((rc = parse_ident(it, i, &out->idents[i], err, errcap)) < 0)
			return rc;
		for (size_t j = 0; j < i; j++)
			if (out->idents[j].type == out->idents[i].type &&
			    !strcmp(out->idents[j].value, out->idents[i].value))
				return rg_errf(RG_ERR_PARSE, err, errcap,
					    "identifiers[%zu]: repeats identifiers[%zu]", i, j);
		out->n_idents = ++i;
	}

	out->body = cJSON_PrintUnformatted(profile);
	if (!out->body)
		return rg_errf(RG_ERR_NOMEM, err, errcap, "out of memory printing the profile");
	n = strlen(out->body);
	if (n > RG_CUSTOMER_BODY_MAX)
		return rg_errf(RG_ERR_TOOBIG, err, errcap,
			    "key \"profile\": %zu bytes (compact) exceed the limit of %d", n,
			    RG_CUSTOMER_BODY_MAX);
	/* cJSON copies string bytes as they are: the body must be UTF-8 for
	 * the store (and every screen) to take it. */
	if (!rg_utf8_valid(out->body, n))
		return rg_errf(RG_ERR_PARSE, err, errcap, "key \"profile\": not valid UTF-8");
	out->body_len = n;
	return 0;
}

int rg_customer_parse(const char *line, size_t len, struct rg_customer *out, char *err,
		      size_t errcap)
{
	cJSON *root = NULL;
	int rc;

	if (!out)
		return rg_errf(RG_ERR_INVAL, err, errcap, "no output");
	memset(out, 0, sizeof *out);
	if (!line)
		return rg_errf(RG_ERR_INVAL, err, errcap, "no line");
	if (len > RG_CUSTOMER_LINE_MAX)
		return rg_errf(RG_ERR_TOOBIG, err, errcap, "line of %zu bytes exceeds the limit of %d",
			    len, RG_CUSTOMER_LINE_MAX);
	if (memchr(line, '\0', len))
		return rg_errf(RG_ERR_PARSE, err, errcap, "line contains a NUL byte");
	if ((rc = rg_json_parse(line, len, RG_CUSTOMER_LINE_MAX, &root, err, errcap)) < 0)
		return rc;
	rc = parse_root(root, out, err, errcap);
	cJSON_Delete(root);
	if (rc < 0)
		rg_customer_free(out);
	return rc;
}

void rg_customer_free(struct rg_customer *c)
{
	if (!c)
		return;
	if (c->body) {
		rg_wipe(c->body, c->body_len);
		cJSON_free(c->body);
	}
	rg_wipe(c, sizeof *c);
}

int rg_customer_ident_token(struct ident_pipeline *p, const struct rg_customer_ident *ci,
			    uint8_t token[RG_TOKEN_LEN], char *err, size_t errcap)
{
	struct ident_result r;
	uint8_t uid[NFC_UID_BYTES_MAX];
	int rc;

	if (!p || !ci || !token)
		return rg_errf(RG_ERR_INVAL, err, errcap, "no pipeline or identifier");
	switch (ci->type) {
	case IDENT_TYPE_LOYALTY:
	case IDENT_TYPE_QR:
		rc = ident_classify(p, IDENT_SRC_BARCODE, ci->value,
				    strnlen(ci->value, IDENT_TEXT_MAX), &r);
		break;
	case IDENT_TYPE_NFC_UID:
		rc = rg_hex_decode(ci->value, strnlen(ci->value, IDENT_TEXT_MAX), uid, sizeof uid);
		if (rc < 0)
			return rg_errf(RG_ERR_PARSE, err, errcap,
				    "nfc_uid: not hex of at most %d bytes", NFC_UID_BYTES_MAX);
		rc = ident_classify(p, IDENT_SRC_NFC_UID, uid, (size_t)rc, &r);
		rg_wipe(uid, sizeof uid);
		break;
	default:
		return rg_errf(RG_ERR_PARSE, err, errcap, "%s identifiers cannot be imported",
			    ident_type_name(ci->type));
	}
	if (rc < 0)
		return rg_errf(rc, err, errcap, "%s: the identifier pipeline failed: %s",
			    ident_type_name(ci->type), rg_strerror(rc));
	if (r.reason != IDENT_OK) {
		enum ident_reason why = r.reason;
		rg_wipe(&r, sizeof r);
		return rg_errf(RG_ERR_PARSE, err, errcap, "%s: refused by the identifier rules: %s",
			    ident_type_name(ci->type), ident_reason_name(why));
	}
	if (r.type != ci->type) {
		enum ident_type got = r.type;
		rg_wipe(&r, sizeof r);
		return rg_errf(RG_ERR_PARSE, err, errcap, "%s: the value reads as a %s identifier",
			    ident_type_name(ci->type), ident_type_name(got));
	}
	memcpy(token, r.token, RG_TOKEN_LEN);
	rg_wipe(&r, sizeof r);
	return 0;
}
