/*
 * uplink_msg.c - the uplink's pure parts (uplink_internal.h): strict parsers
 * for the gateway's receipts and lookup answers, the lookup request, and the
 * batcher that turns outbox rows into one wire batch per lane. No threads,
 * no I/O: unit-tested and fuzzed directly.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cfgdoc.h"
#include "common/codec.h"
#include "common/crypto.h"
#include "common/err.h"
#include "common/json.h"
#include "uplink_internal.h"

static const char *const refusal_names[] = {
    [UPLINK_REFUSAL_NONE] = "none",
    [UPLINK_REFUSAL_SPOOL_FULL] = "spool_full",
    [UPLINK_REFUSAL_MALFORMED] = "malformed",
    [UPLINK_REFUSAL_TOO_BIG] = "too_big",
    [UPLINK_REFUSAL_DEVICE_MISMATCH] = "device_mismatch",
    [UPLINK_REFUSAL_STORE_MISMATCH] = "store_mismatch",
};

const char *uplink__refusal_name(enum uplink_refusal r)
{
	return (unsigned)r < sizeof refusal_names / sizeof *refusal_names ? refusal_names[r]
									  : "invalid";
}

/* "v" is 1 and "type" is the expected one. */
static int check_header(const cJSON *root, const char *type, char *err, size_t errcap)
{
	const char *t;
	int64_t v;
	int rc;
	if ((rc = rg_json_req_int(root, "v", 0, INT32_MAX, &v, err, errcap)) < 0)
		return rc;
	if (v != 1)
		return rg_errf(RG_ERR_UNSUPPORTED, err, errcap, "version %lld is not supported (1)",
			    (long long)v);
	if ((rc = rg_json_req_str(root, "type", 32, &t, err, errcap)) < 0)
		return rc;
	if (strcmp(t, type))
		return rg_errf(RG_ERR_PARSE, err, errcap, "key \"type\": expected \"%s\"", type);
	return 0;
}

int uplink__receipt_parse(const char *buf, size_t len, struct uplink_receipt *out, char *err,
			  size_t errcap)
{
	static const char *const keys[] = {"v", "type", "batch", "status", "reason", NULL};
	const char *s, *reason = NULL;
	cJSON *root = NULL;
	struct uplink_receipt r = {0};
	int rc;

	if (!buf || !out)
		return RG_ERR_INVAL;
	memset(out, 0, sizeof *out);
	if ((rc = rg_json_parse(buf, len, UPLINK_MSG_MAX, &root, err, errcap)) < 0)
		return rc;
	if (!cJSON_IsObject(root)) {
		rc = rg_errf(RG_ERR_TYPE, err, errcap, "a receipt is a JSON object");
		goto out;
	}
	if ((rc = rg_json_check_keys(root, keys, err, errcap)) < 0 ||
	    (rc = check_header(root, "receipt", err, errcap)) < 0)
		goto out;
	if ((rc = rg_json_req_str(root, "batch", RG_UUID_STR_LEN, &s, err, errcap)) < 0)
		goto out;
	if (rg_uuid_parse(s, &r.batch) < 0) {
		rc = rg_errf(RG_ERR_PARSE, err, errcap, "key \"batch\": not a UUID");
		goto out;
	}
	if ((rc = rg_json_req_str(root, "status", 16, &s, err, errcap)) < 0 ||
	    (rc = rg_json_opt_str(root, "reason", 32, &reason, err, errcap)) < 0)
		goto out;
	if (!strcmp(s, "spooled")) {
		r.status = UPLINK_SPOOLED;
		if (reason) {
			rc = rg_errf(RG_ERR_PARSE, err, errcap,
				  "key \"reason\": not allowed when spooled");
			goto out;
		}
	} else if (!strcmp(s, "refused")) {
		r.status = UPLINK_REFUSED;
		if (!reason) {
			rc = rg_errf(RG_ERR_MISSING, err, errcap,
				  "key \"reason\": required when refused");
			goto out;
		}
		for (int i = UPLINK_REFUSAL_SPOOL_FULL; i <= UPLINK_REFUSAL_STORE_MISMATCH; i++)
			if (!strcmp(reason, refusal_names[i]))
				r.reason = (enum uplink_refusal)i;
		if (r.reason == UPLINK_REFUSAL_NONE) {
			rc = rg_errf(RG_ERR_PARSE, err, errcap, "key \"reason\": unknown refusal");
			goto out;
		}
	} else {
		rc = rg_errf(RG_ERR_PARSE, err, errcap, "key \"status\": spooled or refused expected");
		goto out;
	}
	*out = r;
	rc = 0;
out:
	cJSON_Delete(root);
	return rc;
}

int uplink__lookup_request(const uint8_t token[RG_TOKEN_LEN], char *buf, size_t cap)
{
	char hex[2 * RG_TOKEN_LEN + 1];
	int n;
	if (!token || !buf)
		return RG_ERR_INVAL;
	rg_hex_encode(token, RG_TOKEN_LEN, hex, sizeof hex);
	n = snprintf(buf, cap, "{\"v\":1,\"type\":\"lookup\",\"token\":\"%s\"}", hex);
	if (n < 0 || (size_t)n >= cap)
		return RG_ERR_TOOBIG;
	return n;
}

/* Profile ids as in docs/wire.md: [A-Za-z0-9_.:-]{1,64}, no leading '-'. */
static bool profile_id_valid(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > RG_WIRE_ID_MAX || s[0] == '-')
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '.' || c == ':' || c == '-'))
			return false;
	}
	return true;
}

static int profile_check(const cJSON *p, char *err, size_t errcap)
{
	static const char *const keys[] = {"id", "version", "hlc", "body", NULL};
	const cJSON *body;
	const char *s;
	struct rg_hlc hlc;
	int64_t version;
	int rc;

	if ((rc = rg_json_check_keys(p, keys, err, errcap)) < 0)
		return rc;
	if ((rc = rg_json_req_str(p, "id", RG_WIRE_ID_MAX, &s, err, errcap)) < 0)
		return rc;
	if (!profile_id_valid(s))
		return rg_errf(RG_ERR_PARSE, err, errcap, "key \"profile.id\": not a profile id");
	if ((rc = rg_json_req_int(p, "version", 0, INT64_MAX, &version, err, errcap)) < 0)
		return rc;
	if ((rc = rg_json_req_str(p, "hlc", RG_HLC_STR_MAX, &s, err, errcap)) < 0)
		return rc;
	if (rg_hlc_parse(s, &hlc) < 0)
		return rg_errf(RG_ERR_PARSE, err, errcap, "key \"profile.hlc\": not an HLC stamp");
	if ((rc = rg_json_req_obj(p, "body", &body, err, errcap)) < 0)
		return rc;
	return 0;
}

int uplink__lookup_result_parse(const char *buf, size_t len, char *profile, size_t cap, char *err,
				size_t errcap)
{
	static const char *const keys[] = {"v", "type", "found", "profile", NULL};
	const cJSON *p = NULL;
	cJSON *root = NULL;
	bool found;
	int rc;

	if (!buf || !profile || !cap)
		return RG_ERR_INVAL;
	profile[0] = '\0';
	if ((rc = rg_json_parse(buf, len, UPLINK_MSG_MAX, &root, err, errcap)) < 0)
		return rc;
	if (!cJSON_IsObject(root)) {
		rc = rg_errf(RG_ERR_TYPE, err, errcap, "a lookup result is a JSON object");
		goto out;
	}
	if ((rc = rg_json_check_keys(root, keys, err, errcap)) < 0 ||
	    (rc = check_header(root, "lookup_result", err, errcap)) < 0 ||
	    (rc = rg_json_req_bool(root, "found", &found, err, errcap)) < 0 ||
	    (rc = rg_json_opt_obj(root, "profile", &p, err, errcap)) < 0)
		goto out;
	if (!found) {
		rc = p ? rg_errf(RG_ERR_PARSE, err, errcap,
			      "key \"profile\": not allowed when not found")
		       : 0;
		goto out;
	}
	if (!p) {
		rc = rg_errf(RG_ERR_MISSING, err, errcap, "key \"profile\": required when found");
		goto out;
	}
	if ((rc = profile_check(p, err, errcap)) < 0)
		goto out;
	char *text = cJSON_PrintUnformatted(p);
	if (!text) {
		rc = RG_ERR_NOMEM;
		goto out;
	}
	size_t n = strlen(text);
	if (n + 1 > cap) {
		rc = rg_errf(RG_ERR_TOOBIG, err, errcap, "profile of %zu bytes does not fit %zu", n,
			  cap);
		rg_wipe(text, n);
		free(text);
		goto out;
	}
	memcpy(profile, text, n + 1);
	rg_wipe(text, n);
	free(text);
	rc = 1;
out:
	cJSON_Delete(root);
	return rc;
}

/* ---- the batcher ---- */

void uplink__batcher_init(struct uplink_batcher *bt, const char *device, const char *store,
			  size_t batch_max, struct uplink_batch *b[RG_LANE__COUNT],
			  const struct uplink_batch *only)
{
	memset(bt, 0, sizeof *bt);
	bt->device = device;
	bt->store = store;
	bt->batch_max = batch_max < 1		       ? 1
			: batch_max > UPLINK_BATCH_MAX ? UPLINK_BATCH_MAX
						       : batch_max;
	bt->last_seq = -1;
	bt->only = only;
	for (int l = 0; l < RG_LANE__COUNT; l++) {
		bt->b[l] = b[l];
		if (b[l]) {
			memset(b[l], 0, sizeof *b[l]);
			b[l]->lane = (enum rg_lane)l;
		}
	}
}

int uplink__batcher_add(struct uplink_batcher *bt, struct rg_uuid7_gen *gen,
			const struct store_outbox_row *row)
{
	enum rg_lane lane;
	struct uplink_batch *b;
	size_t need;
	int rc;

	if ((unsigned)row->kind >= RG_KIND__COUNT)
		return RG_ERR_INVAL;
	lane = rg_kind_lane(row->kind);
	if (bt->only && (lane != bt->only->lane || !uplink__batch_has(bt->only, row->seq)))
		return 0;
	if (!(b = bt->b[lane]))
		return RG_ERR_INVAL;
	need = row->body_len + UPLINK_ITEM_OVERHEAD;
	if (b->n >= bt->batch_max || (b->n > 0 && bt->bytes[lane] + need > UPLINK_BATCH_BYTES))
		return 1;
	if (!bt->w[lane]) {
		if (bt->only)
			b->id = bt->only->id; /* a resend keeps its batch id */
		else if ((rc = rg_uuid7_next(gen, &b->id)) < 0)
			return rc;
		if ((rc = rg_wire_writer_new(bt->device, bt->store, &b->id, &bt->w[lane])) < 0)
			return rc;
		bt->bytes[lane] = 256; /* the document's own keys */
	}
	rc = rg_wire_writer_add(bt->w[lane], &row->id, &row->hlc, row->kind, row->profile_id,
				row->has_token ? row->token : NULL, row->body);
	if (rc < 0)
		return rc;
	b->seq[b->n] = row->seq;
	b->ids[b->n] = row->id;
	b->n++;
	bt->bytes[lane] += need;
	bt->last_seq = row->seq;
	bt->taken++;
	return 0;
}

int uplink__batcher_finish(struct uplink_batcher *bt, enum rg_lane lane, char **out, size_t *len)
{
	*out = NULL;
	*len = 0;
	if ((unsigned)lane >= RG_LANE__COUNT)
		return RG_ERR_INVAL;
	if (!bt->w[lane] || rg_wire_writer_count(bt->w[lane]) == 0)
		return 0;
	return rg_wire_writer_finish(bt->w[lane], out, len);
}

void uplink__batcher_free(struct uplink_batcher *bt)
{
	for (int l = 0; l < RG_LANE__COUNT; l++) {
		rg_wire_writer_free(bt->w[l]);
		bt->w[l] = NULL;
	}
}

bool uplink__batch_has(const struct uplink_batch *b, int64_t seq)
{
	size_t lo = 0, hi = b->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (b->seq[mid] == seq)
			return true;
		if (b->seq[mid] < seq)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

size_t uplink__batch_remove(struct uplink_batch *b, const struct rg_uuid *ids, size_t n)
{
	size_t k = 0;
	for (size_t i = 0; i < b->n; i++) {
		bool acked = false;
		for (size_t j = 0; j < n && !acked; j++)
			acked = rg_uuid_cmp(&b->ids[i], &ids[j]) == 0;
		if (!acked) {
			b->seq[k] = b->seq[i];
			b->ids[k] = b->ids[i];
			k++;
		}
	}
	b->n = k;
	return k;
}

/* ---- configuration topics ---- */

int uplink__config_topic(const char *store, const char *device, const char *topic)
{
	char pre[RG_WIRE_STORE_MAX + 32];
	size_t n;
	const char *t;

	if (!store || !device || !topic)
		return -1;
	snprintf(pre, sizeof pre, "rg/v1/s/%s/", store);
	n = strlen(pre);
	if (strncmp(topic, pre, n))
		return -1;
	t = topic + n;
	if (!strncmp(t, "d/", 2)) {
		size_t dl = strlen(device);
		if (strncmp(t + 2, device, dl) || strcmp(t + 2 + dl, "/config"))
			return -1;
		return CFGDOC_SCOPE_DEVICE;
	}
	if (strncmp(t, "config/", 7))
		return -1;
	t += 7;
	if (!strcmp(t, "tenant"))
		return CFGDOC_SCOPE_TENANT;
	if (!strcmp(t, "store"))
		return CFGDOC_SCOPE_STORE;
	if (!strncmp(t, "keys/", 5)) {
		const char *v = t + 5;
		size_t k = 0;
		while (v[k] >= '0' && v[k] <= '9')
			k++;
		if (k == 0 || k > 16 || v[k] || v[0] == '0')
			return -1;
		return CFGDOC_SCOPE_KEYS;
	}
	return -1;
}
