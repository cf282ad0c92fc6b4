/*
 * api.c - the device's /api/v1 (docs/device-api.md), /metrics and /healthz.
 * Runs on the web server's threads. Every POST answers 201 only after its
 * interaction is committed to the outbox.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/json.h"
#include "common/log.h"
#include "common/uuid.h"
#include "device_internal.h"

#define NOTE_MAX 2000
#define TITLE_MAX 200
#define DEPT_MAX 32
#define OUTBOX_LIMIT_MAX 200

/* ---- responses ---- */

static void reply_json(struct web_response *res, int status, cJSON *j)
{
	res->status = status;
	res->body = j ? cJSON_PrintUnformatted(j) : NULL;
	res->len = res->body ? strlen(res->body) : 0;
	cJSON_Delete(j);
	if (!res->body)
		res->status = 500;
}

static void reply_error(struct web_response *res, int status, const char *code, const char *msg)
{
	cJSON *j = cJSON_CreateObject();
	cJSON_AddStringToObject(j, "error", code);
	cJSON_AddStringToObject(j, "message", msg);
	reply_json(res, status, j);
}

static void reply_rg(struct web_response *res, int rc, const char *what)
{
	char msg[160];
	snprintf(msg, sizeof msg, "%s failed: %s", what, rg_strerror(rc));
	rg_error("api", "request_failed", "what=%s error=%s", what, rg_errname(rc));
	reply_error(res, rc == RG_ERR_BUSY ? 503 : 500, "internal", msg);
}

/* ---- paths ---- */

/* Split "/profiles/{id}/rest..." into its segments (at most n). Returns the
 * count, or -1 for a path with empty, overlong or too many segments. */
static int split_path(const char *path, char seg[][STORE_ID_MAX + 1], int n)
{
	int k = 0;
	const char *p = path;
	while (*p == '/') {
		const char *e = strchr(p + 1, '/');
		size_t len = e ? (size_t)(e - p - 1) : strlen(p + 1);
		if (len == 0 || len > STORE_ID_MAX || k == n)
			return -1;
		memcpy(seg[k], p + 1, len);
		seg[k][len] = '\0';
		k++;
		if (!e)
			break;
		p = e;
	}
	return *p && *p != '/' ? -1 : k;
}

/* ---- profiles ---- */

/* Open the cached body of id (after merges) into a malloc'd buffer. 1 with
 * *body set (free with free_body), 0 if not cached, <0 on error. */
static int load_body(struct device *d, const char *id, char **body, size_t *len, char out_id[],
		     uint64_t *hlc)
{
	struct store_hit hit;
	char *buf = malloc(STORE_BODY_MAX + 1);
	if (!buf)
		return RG_ERR_NOMEM;
	int rc = store_profile_get(d->store, id, buf, STORE_BODY_MAX + 1, &hit);
	if (rc != 1) {
		free(buf);
		return rc;
	}
	*body = buf;
	*len = hit.body_len;
	*hlc = hit.hlc;
	snprintf(out_id, STORE_ID_MAX + 1, "%s", hit.profile_id);
	return 1;
}

static void free_body(char *body, size_t len)
{
	if (body) {
		rg_wipe(body, len);
		free(body);
	}
}

/* How fresh what the handheld shows is (docs/device-api.md, "Freshness"):
 * "as_of" the as_of of the last page applied from the gateway, else the
 * time of the cached profile's last change; "unsynced" this device's
 * interactions for the profile central has not acknowledged yet; and each
 * of this device's own recent interactions (those with an "id") marked
 * "synced" once its outbox row is gone (central acknowledged it). */
static void add_freshness(struct device *d, cJSON *v, const char *id, uint64_t hlc)
{
	struct store_sync y;
	struct rg_hlc h;
	cJSON *f = cJSON_AddObjectToObject(v, "freshness"), *it;
	if (!f)
		return;
	rg_hlc_unpack(hlc, &h);
	bool replica = store_sync_get(d->store, &y) == 0 && y.as_of_ms > 0;
	cJSON_AddNumberToObject(f, "as_of", (double)(replica ? y.as_of_ms : h.wall_ms));
	cJSON_AddStringToObject(f, "source", replica ? "replica" : "profile");
	int n = store_outbox_count_profile(d->store, id);
	cJSON_AddNumberToObject(f, "unsynced", n < 0 ? 0 : n);
	cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(v, "interactions"))
	{
		const cJSON *iid = cJSON_GetObjectItemCaseSensitive(it, "id");
		struct rg_uuid u;
		if (!cJSON_IsString(iid) || rg_uuid_parse(iid->valuestring, &u) < 0)
			continue;
		int pending = store_outbox_has(d->store, &u);
		if (pending >= 0)
			cJSON_AddBoolToObject(it, "synced", pending == 0);
	}
}

static cJSON *handheld_view(struct device *d, const char *id, const char *body, size_t len,
			    uint64_t hlc)
{
	int err = 0;
	cJSON *v = view_handheld(id, body, len, &err);
	if (v)
		add_freshness(d, v, id, hlc);
	return v;
}

/* A note's or a redemption's entry (the newest interaction of an edited body) carries the
 * interaction's id, so the handheld can tell when central has it. Returns
 * the new body (malloc'd) or NULL; edited is consumed either way. */
static char *tag_newest(char *edited, const char *uuid)
{
	cJSON *j = cJSON_Parse(edited);
	cJSON *list = cJSON_GetObjectItemCaseSensitive(j, "interactions");
	cJSON *first = cJSON_IsArray(list) ? cJSON_GetArrayItem(list, 0) : NULL;
	char *out = NULL;
	if (cJSON_IsObject(first) && !cJSON_GetObjectItemCaseSensitive(first, "id")) {
		cJSON_AddStringToObject(first, "id", uuid);
		out = cJSON_PrintUnformatted(j);
	}
	cJSON_Delete(j);
	if (!out)
		return edited;
	rg_wipe(edited, strlen(edited));
	free(edited);
	return out;
}

/* Write a locally edited body back to the cache, stamped with the edit's
 * HLC so it supersedes the copy it came from (central's next version still
 * supersedes it). Failure is logged: the interaction itself is already safe. */
static void save_edit(struct device *d, const char *id, const char *body,
		      const struct store_outbox_ref *ref, int64_t version)
{
	struct store_profile p = {.id = id, .version = version, .hlc = rg_hlc_pack(&ref->hlc),
				  .body = body, .body_len = strlen(body)};
	int rc = store_profile_upsert(d->store, &p);
	if (rc < 0)
		rg_warn("api", "cache_edit_failed", "error=%s", rg_errname(rc));
}

/* The parts of a staff action shared by every POST on a profile. */
struct action {
	struct device *d;
	char id[STORE_ID_MAX + 1];
	char *body;
	size_t len;
	int64_t version;
	uint64_t hlc;
	cJSON *req; /* parsed request body */
};

static int action_begin(struct action *a, struct device *d, const char *id,
			const struct web_request *req, struct web_response *res)
{
	char err[160];
	struct store_hit hit;
	memset(a, 0, sizeof *a);
	a->d = d;
	int rc = rg_json_parse(req->body, req->body_len, WEB_BODY_MAX, &a->req, err, sizeof err);
	if (rc < 0 || !cJSON_IsObject(a->req)) {
		reply_error(res, 400, "bad_request", rc < 0 ? err : "expected a JSON object");
		cJSON_Delete(a->req);
		a->req = NULL;
		return -1;
	}
	a->body = malloc(STORE_BODY_MAX + 1);
	if (!a->body) {
		reply_rg(res, RG_ERR_NOMEM, "load profile");
		return -1;
	}
	pthread_mutex_lock(&d->edit_mu);
	rc = store_profile_get(d->store, id, a->body, STORE_BODY_MAX + 1, &hit);
	if (rc != 1) {
		pthread_mutex_unlock(&d->edit_mu);
		if (rc == 0)
			reply_error(res, 404, "not_found", "this customer is not on this device");
		else
			reply_rg(res, rc, "load profile");
		free(a->body);
		a->body = NULL;
		cJSON_Delete(a->req);
		a->req = NULL;
		return -1;
	}
	a->len = hit.body_len;
	a->version = hit.version;
	a->hlc = hit.hlc;
	snprintf(a->id, sizeof a->id, "%s", hit.profile_id);
	return 0;
}

static void action_end(struct action *a)
{
	pthread_mutex_unlock(&a->d->edit_mu);
	free_body(a->body, a->len);
	cJSON_Delete(a->req);
}

/* Record kind with body for the action's profile; on success save the edited
 * cache body (if any) and answer 201 with the interaction and the new view. */
static void action_commit(struct action *a, enum rg_kind kind, const uint8_t *token,
			  cJSON *event_body, char *edited, struct web_response *res)
{
	struct store_outbox_ref ref;
	char uuid[RG_UUID_STR_LEN + 1];
	int rc = device__record(a->d, kind, a->id, token, event_body, &ref);
	cJSON_Delete(event_body);
	if (rc < 0) {
		free(edited);
		reply_rg(res, rc, "record");
		return;
	}
	rg_uuid_format(&ref.id, uuid);
	if (edited && (kind == RG_KIND_NOTE || kind == RG_KIND_POINTS_REDEEMED))
		edited = tag_newest(edited, uuid);
	if (edited)
		save_edit(a->d, a->id, edited, &ref, a->version);
	rg_info("api", "recorded", "kind=%s interaction=%s", rg_kind_name(kind), uuid);
	cJSON *out = cJSON_CreateObject();
	cJSON_AddStringToObject(out, "interaction", uuid);
	const char *b = edited ? edited : a->body;
	cJSON *view = handheld_view(a->d, a->id, b, edited ? strlen(edited) : a->len,
				    edited ? rg_hlc_pack(&ref.hlc) : a->hlc);
	if (view)
		cJSON_AddItemToObject(out, "profile", view);
	if (edited) {
		rg_wipe(edited, strlen(edited));
		free(edited);
	}
	reply_json(res, 201, out);
}

static cJSON *event_body(struct device *d)
{
	cJSON *b = cJSON_CreateObject();
	cJSON_AddStringToObject(b, "channel", d->channel);
	return b;
}

static bool text_ok(const cJSON *s, size_t max)
{
	size_t n = cJSON_IsString(s) ? strlen(s->valuestring) : 0;
	return n >= 1 && n <= max && rg_utf8_valid(s->valuestring, n) == 1;
}

static void post_note(struct device *d, const char *id, const struct web_request *req,
		      struct web_response *res)
{
	struct action a;
	char at[32];
	if (action_begin(&a, d, id, req, res) < 0)
		return;
	static const char *const keys[] = {"text", NULL};
	const cJSON *text = cJSON_GetObjectItemCaseSensitive(a.req, "text");
	if (rg_json_check_keys(a.req, keys, NULL, 0) < 0 || !text_ok(text, NOTE_MAX)) {
		reply_error(res, 400, "bad_request", "expected {\"text\": \"1 to 2000 bytes of text\"}");
		action_end(&a);
		return;
	}
	device__iso_time(d, at);
	cJSON *ev = event_body(d);
	cJSON_AddStringToObject(ev, "text", text->valuestring);
	action_commit(&a, RG_KIND_NOTE, NULL, ev,
		      view_edit_note(a.body, a.len, text->valuestring, at), res);
	action_end(&a);
}

static void post_episode(struct device *d, const char *id, const struct web_request *req,
			 struct web_response *res)
{
	struct action a;
	char at[32], eid[RG_UUID_STR_LEN + 1];
	struct rg_uuid u;
	if (action_begin(&a, d, id, req, res) < 0)
		return;
	static const char *const keys[] = {"department", "title", NULL};
	const cJSON *dept = cJSON_GetObjectItemCaseSensitive(a.req, "department");
	const cJSON *title = cJSON_GetObjectItemCaseSensitive(a.req, "title");
	if (rg_json_check_keys(a.req, keys, NULL, 0) < 0 || !text_ok(dept, DEPT_MAX) ||
	    !text_ok(title, TITLE_MAX)) {
		reply_error(res, 400, "bad_request",
			    "expected {\"department\": \"...\", \"title\": \"1 to 200 bytes\"}");
		action_end(&a);
		return;
	}
	pthread_mutex_lock(&d->mu);
	int rc = rg_uuid7_next(&d->ids, &u);
	pthread_mutex_unlock(&d->mu);
	if (rc < 0) {
		reply_rg(res, rc, "episode id");
		action_end(&a);
		return;
	}
	rg_uuid_format(&u, eid);
	device__iso_time(d, at);
	cJSON *ev = event_body(d);
	cJSON_AddStringToObject(ev, "episode", eid);
	cJSON_AddStringToObject(ev, "department", dept->valuestring);
	cJSON_AddStringToObject(ev, "title", title->valuestring);
	action_commit(&a, RG_KIND_EPISODE_OPENED, NULL, ev,
		      view_edit_episode_open(a.body, a.len, eid, dept->valuestring,
					     title->valuestring, at),
		      res);
	action_end(&a);
}

static void post_resolve(struct device *d, const char *id, const char *episode,
			 const struct web_request *req, struct web_response *res)
{
	struct action a;
	bool found = false;
	if (action_begin(&a, d, id, req, res) < 0)
		return;
	static const char *const keys[] = {"note", NULL};
	const cJSON *note = cJSON_GetObjectItemCaseSensitive(a.req, "note");
	if (rg_json_check_keys(a.req, keys, NULL, 0) < 0 || (note && !text_ok(note, NOTE_MAX))) {
		reply_error(res, 400, "bad_request", "expected {} or {\"note\": \"...\"}");
		action_end(&a);
		return;
	}
	char *edited = view_edit_episode_resolve(a.body, a.len, episode, &found);
	if (!found) {
		free(edited);
		reply_error(res, 404, "not_found", "no such episode for this customer");
		action_end(&a);
		return;
	}
	cJSON *ev = event_body(d);
	cJSON_AddStringToObject(ev, "episode", episode);
	if (note)
		cJSON_AddStringToObject(ev, "note", note->valuestring);
	action_commit(&a, RG_KIND_EPISODE_RESOLVED, NULL, ev, edited, res);
	action_end(&a);
}

static void post_consent(struct device *d, const char *id, const struct web_request *req,
			 struct web_response *res)
{
	struct action a;
	if (action_begin(&a, d, id, req, res) < 0)
		return;
	static const char *const keys[] = {"show_in_public", NULL};
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(a.req, "show_in_public");
	cJSON *cats = NULL;
	if (rg_json_check_keys(a.req, keys, NULL, 0) == 0 && cJSON_IsBool(v)) {
		cats = cJSON_CreateArray();
		if (cJSON_IsTrue(v)) {
			static const char *const all[] = {"points", "orders", "service", "offers"};
			for (size_t i = 0; i < 4; i++)
				cJSON_AddItemToArray(cats, cJSON_CreateString(all[i]));
		}
	} else if (rg_json_check_keys(a.req, keys, NULL, 0) == 0 && cJSON_IsArray(v) &&
		   cJSON_GetArraySize(v) <= 4) {
		const cJSON *it;
		cats = cJSON_CreateArray();
		cJSON_ArrayForEach(it, v)
		{
			if (!cJSON_IsString(it) || !view_consent_category_valid(it->valuestring)) {
				cJSON_Delete(cats);
				cats = NULL;
				break;
			}
			cJSON_AddItemToArray(cats, cJSON_CreateString(it->valuestring));
		}
	}
	if (!cats) {
		reply_error(res, 400, "bad_request",
			    "expected {\"show_in_public\": true|false|[\"points\",\"orders\",\"service\",\"offers\"]}");
		action_end(&a);
		return;
	}
	cJSON *ev = event_body(d);
	cJSON_AddItemToObject(ev, "show_in_public", cJSON_Duplicate(cats, 1));
	char *edited = view_edit_consent(a.body, a.len, cats);
	cJSON_Delete(cats);
	action_commit(&a, RG_KIND_CONSENT_CHANGED, NULL, ev, edited, res);
	action_end(&a);
}

/* Staff redeem points at the till: {"points": N, "reason": "..."}. Refused
 * when the cached balance is lower; central derives the balance from the
 * event (several stores' redemptions all count). */
static void post_redeem(struct device *d, const char *id, const struct web_request *req,
			struct web_response *res)
{
	struct action a;
	char at[32], err[120];
	int64_t points = 0;
	if (action_begin(&a, d, id, req, res) < 0)
		return;
	static const char *const keys[] = {"points", "reason", NULL};
	const cJSON *reason = cJSON_GetObjectItemCaseSensitive(a.req, "reason");
	if (rg_json_check_keys(a.req, keys, err, sizeof err) < 0 ||
	    rg_json_req_int(a.req, "points", 1, 1000000, &points, err, sizeof err) < 0 ||
	    !text_ok(reason, 200)) {
		reply_error(res, 400, "bad_request",
			    "expected {\"points\": 1 to 1000000, \"reason\": \"1 to 200 bytes\"}");
		action_end(&a);
		return;
	}
	if (view_points(a.body, a.len) < points) {
		reply_error(res, 409, "not_enough_points",
			    "the customer has fewer points than that on this device");
		action_end(&a);
		return;
	}
	device__iso_time(d, at);
	cJSON *ev = event_body(d);
	cJSON_AddNumberToObject(ev, "points", (double)points);
	cJSON_AddStringToObject(ev, "reason", reason->valuestring);
	action_commit(&a, RG_KIND_POINTS_REDEEMED, NULL, ev,
		      view_edit_redeem(a.body, a.len, points, reason->valuestring, at), res);
	action_end(&a);
}

static void post_card(struct device *d, const char *id, const struct web_request *req,
		      struct web_response *res)
{
	struct action a;
	struct device_scan scan = {0};
	if (action_begin(&a, d, id, req, res) < 0)
		return;
	static const char *const keys[] = {"scan", NULL};
	int64_t no = 0;
	char err[120];
	if (rg_json_check_keys(a.req, keys, err, sizeof err) < 0 ||
	    rg_json_req_int(a.req, "scan", 1, INT32_MAX, &no, err, sizeof err) < 0) {
		reply_error(res, 400, "bad_request", "expected {\"scan\": N}");
		action_end(&a);
		return;
	}
	int64_t now = rg_clock_mono_ns(d->clock) / 1000000;
	pthread_mutex_lock(&d->mu);
	const struct device_scan *s = &d->scans[no % DEVICE_SCANS];
	if (s->no == no && s->unknown && now - s->at_ms <= DEVICE_SCAN_TTL_MS)
		scan = *s;
	pthread_mutex_unlock(&d->mu);
	if (!scan.no) {
		reply_error(res, 404, "no_such_scan",
			    "that scan is too old or matched a customer already; scan the card again");
		action_end(&a);
		return;
	}
	int rc = store_identifier_upsert(d->store, scan.token, ident_type_name(scan.type), a.id);
	if (rc < 0) {
		reply_rg(res, rc, "link card");
		action_end(&a);
		return;
	}
	pthread_mutex_lock(&d->mu);
	if (d->scans[no % DEVICE_SCANS].no == no)
		d->scans[no % DEVICE_SCANS].unknown = false;
	pthread_mutex_unlock(&d->mu);
	cJSON *ev = event_body(d);
	cJSON_AddStringToObject(ev, "type", ident_type_name(scan.type));
	action_commit(&a, RG_KIND_CARD_LINKED, scan.token, ev, NULL, res);
	rg_wipe(&scan, sizeof scan);
	action_end(&a);
}

static void get_profile(struct device *d, const char *id, struct web_response *res)
{
	char *body = NULL, out_id[STORE_ID_MAX + 1];
	size_t len = 0;
	uint64_t hlc = 0;
	int rc = load_body(d, id, &body, &len, out_id, &hlc);
	if (rc == 0) {
		reply_error(res, 404, "not_found", "this customer is not on this device");
		return;
	}
	if (rc < 0) {
		reply_rg(res, rc, "load profile");
		return;
	}
	cJSON *v = handheld_view(d, out_id, body, len, hlc);
	free_body(body, len);
	reply_json(res, v ? 200 : 500, v);
}

static void get_lookup(struct device *d, const struct web_request *req, struct web_response *res)
{
	const char *card = web_request_arg(req, "card");
	struct device_outcome o;
	if (!card || !card[0] || strlen(card) > IDENT_TEXT_MAX) {
		reply_error(res, 400, "bad_request", "expected ?card=NUMBER");
		return;
	}
	char *buf = malloc(STORE_BODY_MAX + 1);
	if (!buf) {
		reply_rg(res, RG_ERR_NOMEM, "lookup");
		return;
	}
	int rc = device__identify_buf(d, IDENT_SRC_BARCODE, card, strlen(card), &o, buf,
				      STORE_BODY_MAX + 1);
	free(buf);
	if (rc < 0) {
		reply_rg(res, rc, "lookup");
		return;
	}
	if (o.state == VIEW_REFUSED) {
		char msg[120];
		snprintf(msg, sizeof msg, "not a card number this device accepts (%s)",
			 ident_reason_name(o.ident.reason));
		reply_error(res, 422, "refused", msg);
	} else if (o.state != VIEW_GREETING) {
		reply_error(res, 404, "not_found", "no customer with this card on this device");
	} else {
		char *body = NULL, out_id[STORE_ID_MAX + 1];
		size_t len = 0;
		uint64_t hlc = 0;
		rc = load_body(d, o.profile_id, &body, &len, out_id, &hlc);
		if (rc == 1) {
			cJSON *out = cJSON_CreateObject();
			cJSON_AddItemToObject(out, "profile", handheld_view(d, out_id, body, len, hlc));
			free_body(body, len);
			reply_json(res, 200, out);
		} else if (rc == 0) {
			reply_error(res, 404, "not_found", "no customer with this card on this device");
		} else {
			reply_rg(res, rc, "lookup");
		}
	}
	device_outcome_clear(&o);
}

struct outbox_ctx {
	cJSON *rows;
	int64_t now_ms;
};

static int outbox_row(void *ctx, const struct store_outbox_row *r)
{
	struct outbox_ctx *oc = ctx;
	char id[RG_UUID_STR_LEN + 1], hlc[48];
	cJSON *o = cJSON_CreateObject();
	rg_uuid_format(&r->id, id);
	rg_hlc_format(&r->hlc, hlc, sizeof hlc);
	cJSON_AddNumberToObject(o, "seq", (double)r->seq);
	cJSON_AddStringToObject(o, "id", id);
	cJSON_AddStringToObject(o, "hlc", hlc);
	cJSON_AddStringToObject(o, "kind", rg_kind_name(r->kind));
	if (r->profile_id)
		cJSON_AddStringToObject(o, "profile", r->profile_id);
	cJSON_AddNumberToObject(o, "age_ms", (double)(oc->now_ms - r->created_ms));
	cJSON_AddNumberToObject(o, "attempts", r->attempts);
	cJSON *body = cJSON_ParseWithLength(r->body, r->body_len);
	if (body)
		cJSON_AddItemToObject(o, "body", body);
	cJSON_AddItemToArray(oc->rows, o);
	return 0;
}

static void get_outbox(struct device *d, const struct web_request *req, struct web_response *res)
{
	const char *lim = web_request_arg(req, "limit");
	long limit = 50;
	if (lim) {
		char *end;
		limit = strtol(lim, &end, 10);
		if (*end || limit < 1 || limit > OUTBOX_LIMIT_MAX) {
			reply_error(res, 400, "bad_request", "limit must be 1..200");
			return;
		}
	}
	struct outbox_ctx oc = {.rows = cJSON_CreateArray(), .now_ms = rg_clock_wall_ms(d->clock)};
	int rc = store_outbox_list(d->store, 0, (size_t)limit, outbox_row, &oc);
	if (rc < 0) {
		cJSON_Delete(oc.rows);
		reply_rg(res, rc, "list outbox");
		return;
	}
	cJSON *out = cJSON_CreateObject();
	cJSON_AddNumberToObject(out, "waiting", store_outbox_count(d->store));
	cJSON_AddItemToObject(out, "rows", oc.rows);
	reply_json(res, 200, out);
}

static void get_screen(struct device *d, struct web_response *res)
{
	pthread_mutex_lock(&d->mu);
	char *s = d->last_screen ? strdup(d->last_screen) : NULL;
	pthread_mutex_unlock(&d->mu);
	if (!s) {
		reply_json(res, 200, device__rest_screen(d));
		return;
	}
	res->status = 200;
	res->body = s;
	res->len = strlen(s);
}

/* What runs: the merged pushed settings and the report (docs/device-api.md).
 * Public like /healthz: every device of the store may read these documents
 * on the broker anyway, and they hold no secrets. */
static void get_config(struct device *d, struct web_response *res)
{
	pthread_mutex_lock(&d->mu);
	char *s = d->config_json ? strdup(d->config_json) : NULL;
	pthread_mutex_unlock(&d->mu);
	if (!s) {
		cJSON *j = cJSON_CreateObject();
		cJSON_AddBoolToObject(j, "enabled", false);
		cJSON_AddItemToObject(j, "effective", cJSON_CreateObject());
		cJSON_AddNullToObject(j, "report");
		reply_json(res, 200, j);
		return;
	}
	res->status = 200;
	res->body = s;
	res->len = strlen(s);
}

static void api(void *ctx, const struct web_request *req, struct web_response *res)
{
	struct device *d = ctx;
	char seg[6][STORE_ID_MAX + 1];
	/* Query strings are not part of req->path. */
	int n = split_path(req->path, seg, 6);
	bool get = !strcmp(req->method, "GET"), post = !strcmp(req->method, "POST");

	if (n == 1 && !strcmp(seg[0], "screen") && get) {
		get_screen(d, res);
		return;
	}
	if (n == 1 && !strcmp(seg[0], "config") && get) {
		get_config(d, res);
		return;
	}
	if (n < 1 || (strcmp(seg[0], "profiles") && strcmp(seg[0], "lookup") &&
		      strcmp(seg[0], "outbox"))) {
		reply_error(res, 404, "not_found", "no such API endpoint");
		return;
	}
	if (!req->staff) {
		reply_error(res, 401, "login_required", "log in with the staff PIN first");
		return;
	}
	if (n == 1 && !strcmp(seg[0], "lookup") && get)
		get_lookup(d, req, res);
	else if (n == 1 && !strcmp(seg[0], "outbox") && get)
		get_outbox(d, req, res);
	else if (n == 2 && get)
		get_profile(d, seg[1], res);
	else if (n == 3 && post && !strcmp(seg[2], "notes"))
		post_note(d, seg[1], req, res);
	else if (n == 3 && post && !strcmp(seg[2], "episodes"))
		post_episode(d, seg[1], req, res);
	else if (n == 5 && post && !strcmp(seg[2], "episodes") && !strcmp(seg[4], "resolve"))
		post_resolve(d, seg[1], seg[3], req, res);
	else if (n == 3 && post && !strcmp(seg[2], "cards"))
		post_card(d, seg[1], req, res);
	else if (n == 3 && post && !strcmp(seg[2], "consent"))
		post_consent(d, seg[1], req, res);
	else if (n == 4 && post && !strcmp(seg[2], "points") && !strcmp(seg[3], "redeem"))
		post_redeem(d, seg[1], req, res);
	else
		reply_error(res, n > 0 ? 405 : 404, n > 0 ? "method_not_allowed" : "not_found",
			    "no such API endpoint for this method");
}

/* ---- /metrics and /healthz ---- */

static void metrics(void *ctx, char **text, size_t *len)
{
	struct device *d = ctx;
	struct device_counters c;
	struct store_stats st = {0};
	device_counters_get(d, &c);
	int rc = store_stats_get(d->store, &st);
	pthread_mutex_lock(&d->mu);
	bool up = d->has_remote && d->remote.connected ? d->remote.connected(d->remote.ctx) : false;
	bool has_remote = d->has_remote;
	pthread_mutex_unlock(&d->mu);
	char *buf = NULL;
	size_t cap = 0;
	FILE *f = open_memstream(&buf, &cap);
	if (!f)
		return;
	fprintf(f, "# HELP regulars_reads_total Reads taken from the readers, by result.\n"
		   "# TYPE regulars_reads_total counter\n");
	fprintf(f, "regulars_reads_total{result=\"greeting\"} %" PRId64 "\n", c.greeted);
	fprintf(f, "regulars_reads_total{result=\"unknown\"} %" PRId64 "\n", c.unknown);
	fprintf(f, "regulars_reads_total{result=\"refused\"} %" PRId64 "\n", c.refused);
	fprintf(f, "regulars_reads_total{result=\"error\"} %" PRId64 "\n", c.errors);
	fprintf(f, "# HELP regulars_reads_closed_total Reads a kiosk ignored outside screen.hours.\n"
		   "# TYPE regulars_reads_closed_total counter\n"
		   "regulars_reads_closed_total %" PRId64 "\n", c.reads_closed);
	fprintf(f, "# TYPE regulars_remote_hits_total counter\nregulars_remote_hits_total %" PRId64
		   "\n", c.remote_hits);
	fprintf(f, "# TYPE regulars_recorded_total counter\nregulars_recorded_total %" PRId64 "\n",
		c.recorded);
	fprintf(f, "# TYPE regulars_record_failures_total counter\n"
		   "regulars_record_failures_total %" PRId64 "\n", c.record_failures);
	fprintf(f, "# HELP regulars_identify_seconds Read to view model.\n"
		   "# TYPE regulars_identify_seconds summary\n"
		   "regulars_identify_seconds_sum %.6f\nregulars_identify_seconds_count %" PRId64 "\n",
		(double)c.identify_us_sum / 1e6, c.reads);
	fprintf(f, "# TYPE regulars_identify_seconds_max gauge\nregulars_identify_seconds_max %.6f\n",
		(double)c.identify_us_max / 1e6);
	if (rc == 0) {
		fprintf(f, "# TYPE regulars_outbox_rows gauge\nregulars_outbox_rows %" PRId64 "\n",
			st.outbox);
		fprintf(f, "# TYPE regulars_outbox_oldest_age_seconds gauge\n"
			   "regulars_outbox_oldest_age_seconds %.3f\n",
			st.outbox_oldest_age_ms < 0 ? 0.0 : (double)st.outbox_oldest_age_ms / 1e3);
		fprintf(f, "# TYPE regulars_cache_profiles gauge\nregulars_cache_profiles %" PRId64
			   "\n", st.profiles);
		fprintf(f, "# TYPE regulars_cache_evicted_total counter\n"
			   "regulars_cache_evicted_total %" PRId64 "\n", st.evicted);
	}
	if (has_remote)
		fprintf(f, "# TYPE regulars_uplink_connected gauge\nregulars_uplink_connected %d\n",
			up ? 1 : 0);
	struct store_sync y;
	if (store_sync_get(d->store, &y) == 0) {
		fprintf(f, "# HELP regulars_replica_cursor The gateway seq the cache is current to.\n"
			   "# TYPE regulars_replica_cursor gauge\nregulars_replica_cursor %" PRId64
			   "\n", y.cursor);
		fprintf(f, "# TYPE regulars_replica_lag gauge\nregulars_replica_lag %" PRId64 "\n",
			y.latest > y.cursor ? y.latest - y.cursor : 0);
		fprintf(f, "# TYPE regulars_replica_as_of_seconds gauge\n"
			   "regulars_replica_as_of_seconds %.3f\n", (double)y.as_of_ms / 1e3);
	}
	fclose(f);
	*text = buf;
	*len = strlen(buf);
}

static bool health(void *ctx, char **json, size_t *len)
{
	struct device *d = ctx;
	struct store_stats st;
	int rc = store_stats_get(d->store, &st);
	pthread_mutex_lock(&d->mu);
	bool pipe = d->pipe != NULL;
	bool has_remote = d->has_remote;
	bool up = has_remote && d->remote.connected ? d->remote.connected(d->remote.ctx) : false;
	const char *role = devcfg_role_name(d->cfg.role);
	pthread_mutex_unlock(&d->mu);
	bool ok = rc == 0 && pipe;
	cJSON *j = cJSON_CreateObject();
	cJSON_AddBoolToObject(j, "ok", ok);
	cJSON_AddStringToObject(j, "role", role);
	cJSON_AddStringToObject(j, "device", d->cfg.device_id);
	if (rc == 0) {
		cJSON_AddNumberToObject(j, "outbox", (double)st.outbox);
		cJSON_AddNumberToObject(j, "profiles", (double)st.profiles);
	} else {
		cJSON_AddStringToObject(j, "store_error", rg_errname(rc));
	}
	cJSON_AddStringToObject(j, "uplink", !has_remote ? "off" : up ? "connected" : "offline");
	*json = cJSON_PrintUnformatted(j);
	*len = *json ? strlen(*json) : 0;
	cJSON_Delete(j);
	return ok;
}

const struct web_ops device_web_ops = {.api = api, .metrics = metrics, .health = health};
