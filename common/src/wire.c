/*
 * wire.c - parse, validate and build the uplink batch and ack documents of
 * common/wire.h. Parsing is strict: unknown keys, wrong types, duplicate ids,
 * out-of-order stamps and oversize parts are errors, reported by name.
 */
#include "common/wire.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/codec.h"
#include "common/err.h"
#include "common/json.h"

static const char *const kind_names[RG_KIND__COUNT] = {
	"identified",      "unknown_identifier", "note",           "episode_opened",
	"episode_updated", "episode_resolved",   "card_linked",    "consent_changed",
	"preference_changed", "points_redeemed", "erasure_requested", "telemetry",
};

static const char *const lane_names[RG_LANE__COUNT] = {"priority", "interactions", "telemetry"};

const char *rg_kind_name(enum rg_kind k)
{
	return (unsigned)k < RG_KIND__COUNT ? kind_names[k] : "invalid";
}

int rg_kind_parse(const char *name)
{
	for (int i = 0; name && i < RG_KIND__COUNT; i++)
		if (!strcmp(name, kind_names[i]))
			return i;
	return RG_ERR_PARSE;
}

enum rg_lane rg_kind_lane(enum rg_kind k)
{
	switch (k) {
	case RG_KIND_ERASURE_REQUESTED:
	case RG_KIND_CONSENT_CHANGED:
		return RG_LANE_PRIORITY;
	case RG_KIND_TELEMETRY:
		return RG_LANE_TELEMETRY;
	default:
		return RG_LANE_INTERACTIONS;
	}
}

const char *rg_lane_name(enum rg_lane l)
{
	return (unsigned)l < RG_LANE__COUNT ? lane_names[l] : "invalid";
}

static int word_valid(const char *s, size_t max, const char *extra)
{
	size_t n = 0;
	if (!s || !*s || *s == '-')
		return 0;
	for (; s[n]; n++) {
		char c = s[n];
		if (n >= max)
			return 0;
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
		      (extra && strchr(extra, c))))
			return 0;
	}
	return 1;
}

int rg_wire_identity_valid(const char *s)
{
	return word_valid(s, RG_WIRE_ID_MAX, NULL);
}

static int profile_valid(const char *s)
{
	return word_valid(s, RG_WIRE_ID_MAX, "ABCDEFGHIJKLMNOPQRSTUVWXYZ_.:");
}

/* Prefix err with "item N: " after a getter wrote it. */
static int item_fail(int rc, size_t i, char *err, size_t errcap)
{
	char tmp[RG_WIRE_ERR_MAX];
	if (err && errcap) {
		snprintf(tmp, sizeof tmp, "%s", err);
		snprintf(err, errcap, "item %zu: %s", i, tmp);
	}
	return rc;
}

static int parse_header(const cJSON *root, const char *type, const char *const *keys,
			char *device, const cJSON **items_or_ids, const char *list_key,
			size_t max_list, struct rg_uuid *batch_id, char *err, size_t errcap)
{
	const char *s;
	int64_t v;
	int rc;

	if ((rc = rg_json_check_keys(root, keys, err, errcap)) < 0)
		return rc;
	if ((rc = rg_json_req_int(root, "v", 0, INT32_MAX, &v, err, errcap)) < 0)
		return rc;
	if (v != RG_WIRE_VERSION)
		return rg_errf(RG_ERR_UNSUPPORTED, err, errcap, "wire version %lld is not supported (%d)",
			    (long long)v, RG_WIRE_VERSION);
	if ((rc = rg_json_req_str(root, "type", 16, &s, err, errcap)) < 0)
		return rc;
	if (strcmp(s, type))
		return rg_errf(RG_ERR_PARSE, err, errcap, "key \"type\": expected \"%s\"", type);
	if ((rc = rg_json_req_str(root, "device", RG_WIRE_ID_MAX, &s, err, errcap)) < 0)
		return rc;
	if (!rg_wire_identity_valid(s))
		return rg_errf(RG_ERR_PARSE, err, errcap, "key \"device\": not a valid identity");
	memcpy(device, s, strlen(s) + 1);
	if ((rc = rg_json_req_str(root, "batch", RG_UUID_STR_LEN, &s, err, errcap)) < 0)
		return rc;
	if (rg_uuid_parse(s, batch_id) < 0)
		return rg_errf(RG_ERR_PARSE, err, errcap, "key \"batch\": not a UUID");
	if ((rc = rg_json_req_arr(root, list_key, max_list, items_or_ids, err, errcap)) < 0)
		return rc;
	if (cJSON_GetArraySize(*items_or_ids) == 0)
		return rg_errf(RG_ERR_RANGE, err, errcap, "key \"%s\": must not be empty", list_key);
	return 0;
}

static int parse_item(const cJSON *it, struct rg_wire_item *o, char *err, size_t errcap)
{
	static const char *const keys[] = {"id", "hlc", "kind", "profile", "token", "body", NULL};
	const char *s = NULL;
	int rc, k;

	if ((rc = rg_json_check_keys(it, keys, err, errcap)) < 0)
		return rc;
	if ((rc = rg_json_req_str(it, "id", RG_UUID_STR_LEN, &s, err, errcap)) < 0)
		return rc;
	if (rg_uuid_parse(s, &o->id) < 0 || rg_uuid_version(&o->id) != 7)
		return rg_errf(RG_ERR_PARSE, err, errcap, "key \"id\": not a UUIDv7");
	if ((rc = rg_json_req_str(it, "hlc", RG_HLC_STR_MAX, &s, err, errcap)) < 0)
		return rc;
	if (rg_hlc_parse(s, &o->hlc) < 0)
		return rg_errf(RG_ERR_PARSE, err, errcap, "key \"hlc\": not an HLC stamp");
	if ((rc = rg_json_req_str(it, "kind", 32, &s, err, errcap)) < 0)
		return rc;
	if ((k = rg_kind_parse(s)) < 0)
		return rg_errf(RG_ERR_PARSE, err, errcap, "key \"kind\": unknown kind");
	o->kind = (enum rg_kind)k;
	s = NULL;
	if ((rc = rg_json_opt_str(it, "profile", RG_WIRE_ID_MAX, &s, err, errcap)) < 0)
		return rc;
	if (s && !profile_valid(s))
		return rg_errf(RG_ERR_PARSE, err, errcap, "key \"profile\": not a valid profile id");
	snprintf(o->profile, sizeof o->profile, "%s", s ? s : "");
	s = NULL;
	if ((rc = rg_json_opt_str(it, "token", RG_TOKEN_HEX_LEN, &s, err, errcap)) < 0)
		return rc;
	o->has_token = s != NULL;
	if (s && (strlen(s) != RG_TOKEN_HEX_LEN ||
		  rg_hex_decode(s, RG_TOKEN_HEX_LEN, o->token, sizeof o->token) != RG_TOKEN_LEN))
		return rg_errf(RG_ERR_PARSE, err, errcap, "key \"token\": not 64 hex digits");
	if ((rc = rg_json_req_obj(it, "body", &o->body, err, errcap)) < 0)
		return rc;
	char *text = cJSON_PrintUnformatted(o->body);
	if (!text)
		return rg_errf(RG_ERR_NOMEM, err, errcap, "out of memory");
	size_t n = strlen(text);
	free(text);
	if (n > RG_WIRE_MAX_BODY)
		return rg_errf(RG_ERR_TOOBIG, err, errcap, "key \"body\": %zu bytes exceed %d", n,
			    RG_WIRE_MAX_BODY);
	if (!o->profile[0] && !o->has_token && o->kind != RG_KIND_TELEMETRY)
		return rg_errf(RG_ERR_MISSING, err, errcap, "needs a \"profile\" or a \"token\"");
	return 0;
}

/* Validate a batch document's tree, taking ownership of root (freed on
 * failure, kept in out->root on success). */
static int batch_from_root(cJSON *root, struct rg_wire_batch *out, char *err, size_t errcap)
{
	static const char *const keys[] = {"v", "type", "device", "store", "batch", "items", NULL};
	const cJSON *items, *it;
	const char *s;
	size_t i = 0;
	int rc;

	memset(out, 0, sizeof *out);
	out->root = root;
	rc = parse_header(out->root, "batch", keys, out->device, &items, "items", RG_WIRE_MAX_ITEMS,
			  &out->batch_id, err, errcap);
	if (rc < 0)
		goto fail;
	if ((rc = rg_json_req_str(out->root, "store", RG_WIRE_STORE_MAX, &s, err, errcap)) < 0)
		goto fail;
	if (!word_valid(s, RG_WIRE_STORE_MAX, NULL)) {
		rc = rg_errf(RG_ERR_PARSE, err, errcap, "key \"store\": not a valid store id");
		goto fail;
	}
	memcpy(out->store, s, strlen(s) + 1);
	out->items = calloc((size_t)cJSON_GetArraySize(items), sizeof *out->items);
	if (!out->items) {
		rc = rg_errf(RG_ERR_NOMEM, err, errcap, "out of memory");
		goto fail;
	}
	cJSON_ArrayForEach(it, items)
	{
		struct rg_wire_item *o = &out->items[i];
		if ((rc = parse_item(it, o, err, errcap)) < 0) {
			item_fail(rc, i, err, errcap);
			goto fail;
		}
		if (i && rg_hlc_cmp(&out->items[i - 1].hlc, &o->hlc) >= 0) {
			rc = rg_errf(RG_ERR_PARSE, err, errcap,
				  "item %zu: hlc is not after the previous item's", i);
			goto fail;
		}
		/* Stamps increase, so a duplicate id could only hide behind a
		 * different stamp: check all earlier ids (n <= 500). */
		for (size_t j = 0; j < i; j++) {
			if (!rg_uuid_cmp(&out->items[j].id, &o->id)) {
				rc = rg_errf(RG_ERR_PARSE, err, errcap, "item %zu: duplicate id", i);
				goto fail;
			}
		}
		i++;
	}
	out->n_items = i;
	return 0;
fail:
	rg_wire_batch_free(out);
	return rc;
}

int rg_wire_batch_parse(const char *buf, size_t len, struct rg_wire_batch *out, char *err,
			size_t errcap)
{
	cJSON *root;
	int rc;

	memset(out, 0, sizeof *out);
	if ((rc = rg_json_parse(buf, len, RG_WIRE_MAX_BYTES, &root, err, errcap)) < 0)
		return rc;
	return batch_from_root(root, out, err, errcap);
}

static int bundle_from_root(cJSON *root, struct rg_wire_uplink *out, char *err, size_t errcap)
{
	static const char *const keys[] = {"v", "type", "batches", NULL};
	const cJSON *arr;
	size_t n, items = 0;
	int64_t v;
	int rc;

	if ((rc = rg_json_check_keys(root, keys, err, errcap)) < 0 ||
	    (rc = rg_json_req_int(root, "v", 0, INT32_MAX, &v, err, errcap)) < 0)
		return rc;
	if (v != RG_WIRE_VERSION)
		return rg_errf(RG_ERR_UNSUPPORTED, err, errcap,
			       "wire version %lld is not supported (%d)", (long long)v,
			       RG_WIRE_VERSION);
	if ((rc = rg_json_req_arr(root, "batches", RG_WIRE_BUNDLE_MAX_BATCHES, &arr, err, errcap)) <
	    0)
		return rc;
	if ((n = (size_t)cJSON_GetArraySize(arr)) == 0)
		return rg_errf(RG_ERR_RANGE, err, errcap, "key \"batches\": must not be empty");
	if (!(out->batches = calloc(n, sizeof *out->batches)))
		return rg_errf(RG_ERR_NOMEM, err, errcap, "out of memory");
	for (size_t i = 0; i < n; i++) {
		struct rg_wire_batch *b = &out->batches[i];
		char tmp[RG_WIRE_ERR_MAX];
		/* Each batch becomes a tree of its own, owned by its struct. */
		cJSON *one = cJSON_DetachItemFromArray((cJSON *)arr, 0);
		if (!cJSON_IsObject(one)) {
			cJSON_Delete(one);
			return rg_errf(RG_ERR_TYPE, err, errcap, "batch %zu: not an object", i);
		}
		if ((rc = batch_from_root(one, b, tmp, sizeof tmp)) < 0)
			return rg_errf(rc, err, errcap, "batch %zu: %s", i, tmp);
		out->n = i + 1;
		if (i && (strcmp(b->device, out->batches[0].device) ||
			  strcmp(b->store, out->batches[0].store)))
			return rg_errf(RG_ERR_PARSE, err, errcap,
				       "batch %zu: a bundle carries one device's batches", i);
		if ((items += b->n_items) > RG_WIRE_BUNDLE_MAX_ITEMS)
			return rg_errf(RG_ERR_TOOBIG, err, errcap,
				       "batch %zu: more than %d items in the bundle", i,
				       RG_WIRE_BUNDLE_MAX_ITEMS);
	}
	out->bundle = true;
	return 0;
}

int rg_wire_uplink_parse(const char *buf, size_t len, struct rg_wire_uplink *out, char *err,
			 size_t errcap)
{
	const char *type;
	cJSON *root;
	int rc, deepest = 0;

	memset(out, 0, sizeof *out);
	/* Two levels more than a batch: the envelope and its array. */
	if ((rc = rg_json_parse_depth(buf, len, RG_WIRE_BUNDLE_MAX_BYTES, RG_JSON_MAX_DEPTH + 2,
				      &deepest, &root, err, errcap)) < 0)
		return rc;
	if ((rc = rg_json_req_str(root, "type", 16, &type, err, errcap)) < 0) {
		cJSON_Delete(root);
		return rc;
	}
	if (!strcmp(type, "bundle")) {
		rc = bundle_from_root(root, out, err, errcap);
		cJSON_Delete(root); /* its batches were detached into out */
		if (rc < 0)
			rg_wire_uplink_free(out);
		return rc;
	}
	/* A lone batch: exactly the limits of rg_wire_batch_parse. */
	if (len > RG_WIRE_MAX_BYTES) {
		cJSON_Delete(root);
		return rg_errf(RG_ERR_TOOBIG, err, errcap,
			       "JSON of %zu bytes exceeds the limit of %d", len, RG_WIRE_MAX_BYTES);
	}
	if (deepest > RG_JSON_MAX_DEPTH) {
		cJSON_Delete(root);
		return rg_errf(RG_ERR_PARSE, err, errcap, "JSON nested deeper than %d levels",
			       RG_JSON_MAX_DEPTH);
	}
	if (!(out->batches = calloc(1, sizeof *out->batches))) {
		cJSON_Delete(root);
		return rg_errf(RG_ERR_NOMEM, err, errcap, "out of memory");
	}
	if ((rc = batch_from_root(root, out->batches, err, errcap)) < 0) {
		rg_wire_uplink_free(out);
		return rc;
	}
	out->n = 1;
	return 0;
}

void rg_wire_uplink_free(struct rg_wire_uplink *u)
{
	if (!u)
		return;
	for (size_t i = 0; i < u->n; i++)
		rg_wire_batch_free(&u->batches[i]);
	free(u->batches);
	memset(u, 0, sizeof *u);
}

int rg_wire_bundle_build(const char *const *docs, const size_t *lens, size_t n, char **out,
			 size_t *len)
{
	static const char head[] = "{\"v\":1,\"type\":\"bundle\",\"batches\":[";
	size_t total = sizeof head - 1 + 2, at;
	char *buf;

	*out = NULL;
	*len = 0;
	if (n == 0 || n > RG_WIRE_BUNDLE_MAX_BATCHES)
		return RG_ERR_RANGE;
	for (size_t i = 0; i < n; i++)
		total += lens[i] + 1;
	if (total > RG_WIRE_BUNDLE_MAX_BYTES)
		return RG_ERR_TOOBIG;
	if (!(buf = malloc(total + 1)))
		return RG_ERR_NOMEM;
	memcpy(buf, head, sizeof head - 1);
	at = sizeof head - 1;
	for (size_t i = 0; i < n; i++) {
		const char *d = docs[i];
		size_t l = lens[i];
		/* The parser skips a byte order mark only at the very start of
		 * a text; inside the array it would be an error. */
		if (l >= 3 && !memcmp(d, "\xEF\xBB\xBF", 3)) {
			d += 3;
			l -= 3;
		}
		if (i)
			buf[at++] = ',';
		memcpy(buf + at, d, l);
		at += l;
	}
	buf[at++] = ']';
	buf[at++] = '}';
	buf[at] = '\0';
	*out = buf;
	*len = at;
	return 0;
}

void rg_wire_batch_free(struct rg_wire_batch *b)
{
	if (!b)
		return;
	free(b->items);
	cJSON_Delete(b->root);
	memset(b, 0, sizeof *b);
}

struct rg_wire_writer {
	cJSON *root;
	cJSON *items;
	size_t n;
};

int rg_wire_writer_new(const char *device, const char *store, const struct rg_uuid *batch_id,
		       struct rg_wire_writer **out)
{
	struct rg_wire_writer *w;
	char id[RG_UUID_STR_LEN + 1];

	*out = NULL;
	if (!rg_wire_identity_valid(device) || !word_valid(store, RG_WIRE_STORE_MAX, NULL) ||
	    !batch_id)
		return RG_ERR_INVAL;
	if (!(w = calloc(1, sizeof *w)))
		return RG_ERR_NOMEM;
	w->root = cJSON_CreateObject();
	if (!w->root || !cJSON_AddNumberToObject(w->root, "v", RG_WIRE_VERSION) ||
	    !cJSON_AddStringToObject(w->root, "type", "batch") ||
	    !cJSON_AddStringToObject(w->root, "device", device) ||
	    !cJSON_AddStringToObject(w->root, "store", store) ||
	    !cJSON_AddStringToObject(w->root, "batch", rg_uuid_format(batch_id, id)) ||
	    !(w->items = cJSON_AddArrayToObject(w->root, "items"))) {
		rg_wire_writer_free(w);
		return RG_ERR_NOMEM;
	}
	*out = w;
	return 0;
}

int rg_wire_writer_add(struct rg_wire_writer *w, const struct rg_uuid *id, const struct rg_hlc *hlc,
		       enum rg_kind kind, const char *profile, const uint8_t *token,
		       const char *body_json)
{
	char ids[RG_UUID_STR_LEN + 1], hs[RG_HLC_STR_MAX], th[RG_TOKEN_HEX_LEN + 1];
	cJSON *it, *body = NULL;
	size_t blen;

	if (!w || !id || !hlc || (unsigned)kind >= RG_KIND__COUNT || !body_json)
		return RG_ERR_INVAL;
	if (w->n >= RG_WIRE_MAX_ITEMS)
		return RG_ERR_TOOBIG;
	if (profile && *profile && !profile_valid(profile))
		return RG_ERR_INVAL;
	blen = strlen(body_json);
	if (blen > RG_WIRE_MAX_BODY)
		return RG_ERR_TOOBIG;
	if (rg_json_parse(body_json, blen, RG_WIRE_MAX_BODY, &body, NULL, 0) < 0)
		return RG_ERR_PARSE;
	if (!cJSON_IsObject(body)) {
		cJSON_Delete(body);
		return RG_ERR_TYPE;
	}
	rg_hlc_format(hlc, hs, sizeof hs);
	if (!(it = cJSON_CreateObject()) ||
	    !cJSON_AddStringToObject(it, "id", rg_uuid_format(id, ids)) ||
	    !cJSON_AddStringToObject(it, "hlc", hs) ||
	    !cJSON_AddStringToObject(it, "kind", rg_kind_name(kind)) ||
	    (profile && *profile && !cJSON_AddStringToObject(it, "profile", profile)) ||
	    (token && (rg_hex_encode(token, RG_TOKEN_LEN, th, sizeof th) < 0 ||
		       !cJSON_AddStringToObject(it, "token", th)))) {
		cJSON_Delete(it);
		cJSON_Delete(body);
		return RG_ERR_NOMEM;
	}
	cJSON_AddItemToObject(it, "body", body);
	cJSON_AddItemToArray(w->items, it);
	w->n++;
	return 0;
}

size_t rg_wire_writer_count(const struct rg_wire_writer *w)
{
	return w ? w->n : 0;
}

static int render(cJSON *root, char **out, size_t *len)
{
	char *s = cJSON_PrintUnformatted(root);
	size_t n;
	*out = NULL;
	if (!s)
		return RG_ERR_NOMEM;
	n = strlen(s);
	if (n > RG_WIRE_MAX_BYTES) {
		free(s);
		return RG_ERR_TOOBIG;
	}
	*out = s;
	if (len)
		*len = n;
	return 0;
}

int rg_wire_writer_finish(struct rg_wire_writer *w, char **out, size_t *len)
{
	*out = NULL;
	if (!w || !w->n)
		return RG_ERR_STATE;
	return render(w->root, out, len);
}

void rg_wire_writer_free(struct rg_wire_writer *w)
{
	if (!w)
		return;
	cJSON_Delete(w->root);
	free(w);
}

int rg_wire_ack_parse(const char *buf, size_t len, struct rg_wire_ack *out, char *err,
		      size_t errcap)
{
	static const char *const keys[] = {"v", "type", "device", "batch", "ids", NULL};
	cJSON *root = NULL;
	const cJSON *ids, *it;
	size_t i = 0;
	int rc;

	memset(out, 0, sizeof *out);
	if ((rc = rg_json_parse(buf, len, RG_WIRE_MAX_BYTES, &root, err, errcap)) < 0)
		return rc;
	rc = parse_header(root, "ack", keys, out->device, &ids, "ids", RG_WIRE_MAX_ITEMS,
			  &out->batch_id, err, errcap);
	if (rc < 0)
		goto done;
	if (!(out->ids = calloc((size_t)cJSON_GetArraySize(ids), sizeof *out->ids))) {
		rc = rg_errf(RG_ERR_NOMEM, err, errcap, "out of memory");
		goto done;
	}
	cJSON_ArrayForEach(it, ids)
	{
		if (!cJSON_IsString(it) || rg_uuid_parse(it->valuestring, &out->ids[i]) < 0) {
			rc = rg_errf(RG_ERR_PARSE, err, errcap, "key \"ids\": item %zu is not a UUID", i);
			goto done;
		}
		i++;
	}
	out->n_ids = i;
done:
	cJSON_Delete(root);
	if (rc < 0)
		rg_wire_ack_free(out);
	return rc;
}

void rg_wire_ack_free(struct rg_wire_ack *a)
{
	if (!a)
		return;
	free(a->ids);
	memset(a, 0, sizeof *a);
}

int rg_wire_ack_encode(const char *device, const struct rg_uuid *batch_id,
		       const struct rg_uuid *ids, size_t n, char **out, size_t *len)
{
	char s[RG_UUID_STR_LEN + 1];
	cJSON *root, *arr;
	int rc = RG_ERR_NOMEM;

	*out = NULL;
	if (!rg_wire_identity_valid(device) || !batch_id || !ids || !n || n > RG_WIRE_MAX_ITEMS)
		return RG_ERR_INVAL;
	root = cJSON_CreateObject();
	if (!root || !cJSON_AddNumberToObject(root, "v", RG_WIRE_VERSION) ||
	    !cJSON_AddStringToObject(root, "type", "ack") ||
	    !cJSON_AddStringToObject(root, "device", device) ||
	    !cJSON_AddStringToObject(root, "batch", rg_uuid_format(batch_id, s)) ||
	    !(arr = cJSON_AddArrayToObject(root, "ids")))
		goto done;
	for (size_t i = 0; i < n; i++) {
		cJSON *v = cJSON_CreateString(rg_uuid_format(&ids[i], s));
		if (!v)
			goto done;
		cJSON_AddItemToArray(arr, v);
	}
	rc = render(root, out, len);
done:
	cJSON_Delete(root);
	return rc;
}
