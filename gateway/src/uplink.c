/*
 * uplink.c - the checks every device message passes before the spool sees it
 * (gateway/uplink.h), in a fixed order: size, identity, parse, device, store,
 * lanes. Also names a refused batch when it can, so the device gets a
 * receipt, and checks central's acks before the gateway relays them.
 */
#include "gateway/uplink.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/json.h"

static const char *const refusal_names[GW_REFUSE__COUNT] = {
    [GW_ACCEPT] = "accepted",
    [GW_REFUSE_MALFORMED] = "malformed",
    [GW_REFUSE_TOO_BIG] = "too_big",
    [GW_REFUSE_DEVICE_MISMATCH] = "device_mismatch",
    [GW_REFUSE_STORE_MISMATCH] = "store_mismatch",
    [GW_REFUSE_NOT_DEVICE] = "not_device",
    [GW_REFUSE_UNKNOWN_DEVICE] = "unknown_device",
    [GW_REFUSE_LANE_MISMATCH] = "lane_mismatch",
    [GW_REFUSE_SPOOL_FULL] = "spool_full",
};

const char *gw_refusal_name(enum gw_refusal r)
{
	return (unsigned)r < GW_REFUSE__COUNT ? refusal_names[r] : "unknown";
}

const char *gw_refusal_reason(enum gw_refusal r)
{
	switch (r) {
	case GW_REFUSE_TOO_BIG:
		return "too_big";
	case GW_REFUSE_DEVICE_MISMATCH:
	case GW_REFUSE_NOT_DEVICE:
	case GW_REFUSE_UNKNOWN_DEVICE:
		return "device_mismatch";
	case GW_REFUSE_STORE_MISMATCH:
		return "store_mismatch";
	case GW_REFUSE_SPOOL_FULL:
		return "spool_full";
	default:
		return "malformed";
	}
}

/* Next '/'-separated level of *p into buf (1..cap-1 bytes); advances *p. */
static int level(const char **p, char *buf, size_t cap)
{
	const char *s = *p, *e = strchr(s, '/');
	size_t n = e ? (size_t)(e - s) : strlen(s);
	if (!n || n >= cap)
		return RG_ERR_PARSE;
	memcpy(buf, s, n);
	buf[n] = '\0';
	*p = e ? e + 1 : s + n;
	return e ? 1 : 0; /* 1: more levels follow */
}

static int lane_parse(const char *s)
{
	for (int l = 0; l < RG_LANE__COUNT; l++)
		if (!strcmp(s, rg_lane_name((enum rg_lane)l)))
			return l;
	return RG_ERR_PARSE;
}

int gw_topic_parse(const char *topic, const char *store_id, struct gw_topic *out)
{
	char prefix[64], lv[72];
	const char *p;
	int more;

	memset(out, 0, sizeof *out);
	if (!topic || !store_id)
		return RG_ERR_INVAL;
	if (snprintf(prefix, sizeof prefix, "rg/v1/s/%s/d/", store_id) >= (int)sizeof prefix)
		return RG_ERR_INVAL;
	if (strncmp(topic, prefix, strlen(prefix)))
		return RG_ERR_PARSE;
	p = topic + strlen(prefix);
	if ((more = level(&p, out->device, sizeof out->device)) != 1 ||
	    !rg_wire_identity_valid(out->device))
		return RG_ERR_PARSE;
	if ((more = level(&p, lv, sizeof lv)) < 0)
		return RG_ERR_PARSE;
	if (!strcmp(lv, "status") && more == 0) {
		out->kind = GW_TOPIC_STATUS;
		return 0;
	}
	if (more != 1)
		return RG_ERR_PARSE;
	if (!strcmp(lv, "up")) {
		int l;
		if (level(&p, lv, sizeof lv) != 0 || (l = lane_parse(lv)) < 0)
			return RG_ERR_PARSE;
		out->kind = GW_TOPIC_UP;
		out->lane = (enum rg_lane)l;
		return 0;
	}
	if (!strcmp(lv, "req")) {
		if (level(&p, out->op, sizeof out->op) != 0)
			return RG_ERR_PARSE;
		for (const char *c = out->op; *c; c++)
			if (!((*c >= 'a' && *c <= 'z') || *c == '_'))
				return RG_ERR_PARSE;
		out->kind = GW_TOPIC_REQ;
		return 0;
	}
	return RG_ERR_PARSE;
}

/* Best effort: the "batch" id of a document that failed the strict parse,
 * so its sender still gets a receipt. Up to 1 MiB (the broker's cap). */
static void salvage_batch_id(const void *payload, size_t len, struct gw_uplink *u)
{
	cJSON *root = NULL;
	const cJSON *b;
	if (rg_json_parse(payload, len, 1 << 20, &root, NULL, 0) < 0)
		return;
	b = cJSON_GetObjectItemCaseSensitive(root, "batch");
	if (cJSON_IsString(b) && rg_uuid_parse(b->valuestring, &u->batch_id) == 0)
		u->has_batch_id = true;
	cJSON_Delete(root);
}

static int refuse(struct gw_uplink *u, enum gw_refusal r, const char *what, const char *a)
{
	u->refusal = r;
	snprintf(u->detail, sizeof u->detail, "%s%s", what, a);
	return 0;
}

int gw_uplink_check(const char *store_id, const char *device, bool device_known, enum rg_lane lane,
		    const void *payload, size_t len, struct gw_uplink *out)
{
	struct rg_wire_batch *b = &out->batch;
	int rc;

	memset(out, 0, sizeof *out);
	if (!store_id || !device || (!payload && len) || (unsigned)lane >= RG_LANE__COUNT)
		return RG_ERR_INVAL;
	if (len > RG_WIRE_MAX_BYTES) {
		salvage_batch_id(payload, len, out);
		snprintf(out->detail, sizeof out->detail, "%zu bytes exceed %d", len,
			 RG_WIRE_MAX_BYTES);
		out->refusal = GW_REFUSE_TOO_BIG;
		return 0;
	}
	if (!strncmp(device, "gw-", 3) || !rg_wire_identity_valid(device)) {
		salvage_batch_id(payload, len, out);
		return refuse(out, GW_REFUSE_NOT_DEVICE, "not a device identity", "");
	}
	if (!device_known) {
		salvage_batch_id(payload, len, out);
		return refuse(out, GW_REFUSE_UNKNOWN_DEVICE, "not in known_devices", "");
	}
	rc = rg_wire_batch_parse(payload ? payload : "", len, b, out->detail, sizeof out->detail);
	if (rc == RG_ERR_NOMEM)
		return rc;
	if (rc < 0) {
		salvage_batch_id(payload, len, out);
		out->refusal = rc == RG_ERR_TOOBIG ? GW_REFUSE_TOO_BIG : GW_REFUSE_MALFORMED;
		return 0;
	}
	out->has_batch_id = true;
	out->batch_id = b->batch_id;
	if (strcmp(b->device, device)) {
		refuse(out, GW_REFUSE_DEVICE_MISMATCH, "batch names device ", b->device);
		goto refused;
	}
	if (strcmp(b->store, store_id)) {
		refuse(out, GW_REFUSE_STORE_MISMATCH, "batch names store ", b->store);
		goto refused;
	}
	for (size_t i = 0; i < b->n_items; i++) {
		if (rg_kind_lane(b->items[i].kind) != lane) {
			out->refusal = GW_REFUSE_LANE_MISMATCH;
			snprintf(out->detail, sizeof out->detail,
				 "item %zu: kind %s is not of lane %s", i,
				 rg_kind_name(b->items[i].kind), rg_lane_name(lane));
			goto refused;
		}
	}
	if (!(out->ids = calloc(b->n_items, sizeof *out->ids))) {
		rg_wire_batch_free(b);
		return RG_ERR_NOMEM;
	}
	for (size_t i = 0; i < b->n_items; i++)
		out->ids[i] = b->items[i].id;
	out->refusal = GW_ACCEPT;
	return 0;
refused:
	rg_wire_batch_free(b);
	memset(b, 0, sizeof *b);
	return 0;
}

void gw_uplink_free(struct gw_uplink *u)
{
	if (!u)
		return;
	rg_wire_batch_free(&u->batch);
	memset(&u->batch, 0, sizeof u->batch);
	free(u->ids);
	u->ids = NULL;
}

int gw_receipt_encode(const struct rg_uuid *batch, enum gw_refusal r, char *buf, size_t cap)
{
	char id[RG_UUID_STR_LEN + 1];
	int n;
	if (!batch || !buf || (unsigned)r >= GW_REFUSE__COUNT)
		return RG_ERR_INVAL;
	rg_uuid_format(batch, id);
	if (r == GW_ACCEPT)
		n = snprintf(buf, cap,
			     "{\"v\":1,\"type\":\"receipt\",\"batch\":\"%s\","
			     "\"status\":\"spooled\"}",
			     id);
	else
		n = snprintf(buf, cap,
			     "{\"v\":1,\"type\":\"receipt\",\"batch\":\"%s\","
			     "\"status\":\"refused\",\"reason\":\"%s\"}",
			     id, gw_refusal_reason(r));
	return n > 0 && (size_t)n < cap ? n : RG_ERR_INVAL;
}

int gw_ack_check(const void *payload, size_t len, struct rg_wire_ack *out, char *err, size_t errcap)
{
	int rc;
	memset(out, 0, sizeof *out);
	if (!payload)
		return RG_ERR_INVAL;
	if ((rc = rg_wire_ack_parse(payload, len, out, err, errcap)) < 0)
		return rc;
	if (!strncmp(out->device, "gw-", 3)) {
		rg_wire_ack_free(out);
		memset(out, 0, sizeof *out);
		if (err && errcap)
			snprintf(err, errcap, "key \"device\": a gateway identity is not a device");
		return RG_ERR_PARSE;
	}
	return 0;
}
