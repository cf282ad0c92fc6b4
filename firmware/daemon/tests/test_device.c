/*
 * The device core on a real store file: a read becomes a screen and an
 * outbox row (or a refusal and no row), the remote seam fills the cache on a
 * miss, and the staff API records each action before it answers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "common/delta.h"
#include "common/err.h"
#include "common/ident_token.h"
#include "common/ident_totp.h"
#include "common/uuid.h"
#include "device.h"
#include "store_fixture.h"

/* The same tenant key as store_fixture.c, so fx_put's tokens match the pipeline's. */
static const uint8_t tenant_key[32] = "test tenant identifier key 0001";
static const uint8_t totp_key[32] = "test totp sealing key 0000000001";

/* Valid EAN-13 numbers (GS1 check digit). */
#define CARD_ANNA "4006381333931"
#define CARD_BOB "2000000000015"
#define CARD_NEW "5901234123457"
#define CARD_BAD "4006381333932" /* wrong check digit */

struct env {
	struct store *s;
	struct ident_replay_store *replay;
	struct ident_secret_store *secrets;
	struct device *d;
	struct devcfg cfg;
};

static struct env E;

static int setup(void **state)
{
	fx_setup(state);
	memset(&E, 0, sizeof E);
	E.s = fx_open();
	assert_int_equal(ident_replay_mem_new(64, &E.replay), 0);
	assert_int_equal(ident_secret_mem_new(4, &E.secrets), 0);
	snprintf(E.cfg.device_id, sizeof E.cfg.device_id, "dev-0042-k1");
	snprintf(E.cfg.store_id, sizeof E.cfg.store_id, "0042");
	E.cfg.role = DEVCFG_ROLE_HANDHELD;
	E.cfg.screen.idle_after_ms = 8000;
	E.cfg.screen.public_items_max = 3;
	snprintf(E.cfg.screen.default_language, sizeof E.cfg.screen.default_language, "en");
	ident_config_default(&E.cfg.identifiers);
	struct ident_pipeline *p;
	struct ident_pipeline_params pp = {.config = &E.cfg.identifiers,
					   .tenant_key = tenant_key,
					   .tenant_key_len = sizeof tenant_key,
					   .totp_seal_key = totp_key,
					   .clock = &fx.clock.clock,
					   .replay = E.replay,
					   .secrets = E.secrets};
	assert_int_equal(ident_pipeline_new(&pp, &p), 0);
	assert_int_equal(device_new(&E.cfg, E.s, p, &fx.clock.clock, &E.d), 0);
	/* Both consent to points+orders (fx_body); staff_consent_* withdraws it. */
	assert_int_equal(fx_put(E.s, "p-anna", 1, "Anna Schmidt", CARD_ANNA), 1);
	assert_int_equal(fx_put(E.s, "p-bob", 1, "Bob Jones", CARD_BOB), 1);
	return 0;
}

static int teardown(void **state)
{
	ident_pipeline_free(device_pipeline(E.d));
	device_free(E.d);
	store_close(E.s);
	ident_replay_mem_free(E.replay);
	ident_secret_mem_free(E.secrets);
	return fx_teardown(state);
}

struct rows {
	int n;
	enum rg_kind kind[16];
	char profile[16][STORE_ID_MAX + 1];
	char id[16][RG_UUID_STR_LEN + 1];
	bool has_token[16];
	char body[16][512];
};

static int take_row(void *ctx, const struct store_outbox_row *r)
{
	struct rows *rs = ctx;
	if (rs->n == 16)
		return 1;
	rs->kind[rs->n] = r->kind;
	snprintf(rs->profile[rs->n], sizeof rs->profile[0], "%s", r->profile_id ? r->profile_id : "");
	rg_uuid_format(&r->id, rs->id[rs->n]);
	rs->has_token[rs->n] = r->has_token;
	snprintf(rs->body[rs->n], sizeof rs->body[0], "%.*s", (int)r->body_len, r->body);
	rs->n++;
	return 0;
}

static struct rows outbox(void)
{
	struct rows rs = {0};
	assert_true(store_outbox_list(E.s, 0, 16, take_row, &rs) >= 0);
	return rs;
}

static cJSON *screen_now(void)
{
	char *s = device_screen_copy(E.d);
	assert_non_null(s);
	cJSON *j = cJSON_Parse(s);
	free(s);
	assert_non_null(j);
	return j;
}

static void known_card_greets_and_records(void **state)
{
	(void)state;
	enum view_state st;
	assert_int_equal(device_handle_read(E.d, IDENT_SRC_BARCODE, CARD_ANNA, 13, &st), 0);
	assert_int_equal(st, VIEW_GREETING);
	struct rows rs = outbox();
	assert_int_equal(rs.n, 1);
	assert_int_equal(rs.kind[0], RG_KIND_IDENTIFIED);
	assert_string_equal(rs.profile[0], "p-anna");
	assert_true(rs.has_token[0]);
	assert_non_null(strstr(rs.body[0], "\"type\":\"loyalty\""));
	assert_null(strstr(rs.body[0], CARD_ANNA)); /* never the raw number */
	cJSON *scr = screen_now();
	assert_string_equal(cJSON_GetObjectItem(scr, "state")->valuestring, "greeting");
	assert_string_equal(cJSON_GetObjectItem(scr, "first_name")->valuestring, "Anna");
	/* The screen names the committed row. */
	assert_string_equal(cJSON_GetObjectItem(scr, "interaction")->valuestring, rs.id[0]);
	cJSON_Delete(scr);
}

static void unknown_card_greets_politely_and_records_token(void **state)
{
	(void)state;
	enum view_state st;
	assert_int_equal(device_handle_read(E.d, IDENT_SRC_BARCODE, CARD_NEW, 13, &st), 0);
	assert_int_equal(st, VIEW_UNKNOWN);
	struct rows rs = outbox();
	assert_int_equal(rs.n, 1);
	assert_int_equal(rs.kind[0], RG_KIND_UNKNOWN_IDENTIFIER);
	assert_string_equal(rs.profile[0], "");
	assert_true(rs.has_token[0]);
	cJSON *scr = screen_now();
	assert_string_equal(cJSON_GetObjectItem(scr, "state")->valuestring, "unknown");
	assert_string_equal(cJSON_GetObjectItem(scr, "interaction")->valuestring, rs.id[0]);
	cJSON_Delete(scr);
}

static void refused_read_shows_reason_and_records_nothing(void **state)
{
	(void)state;
	enum view_state st;
	assert_int_equal(device_handle_read(E.d, IDENT_SRC_BARCODE, CARD_BAD, 13, &st), 0);
	assert_int_equal(st, VIEW_REFUSED);
	assert_int_equal(store_outbox_count(E.s), 0);
	cJSON *scr = screen_now();
	assert_string_equal(cJSON_GetObjectItem(scr, "state")->valuestring, "refused");
	assert_string_equal(cJSON_GetObjectItem(scr, "reason")->valuestring, "bad_check_digit");
	assert_null(cJSON_GetObjectItem(scr, "interaction"));
	cJSON_Delete(scr);
	struct device_counters c;
	device_counters_get(E.d, &c);
	assert_int_equal(c.refused, 1);
	assert_int_equal(c.recorded, 0);
}

/* ---- remote seam ---- */

static int remote_calls;
static int fake_lookup(void *ctx, const uint8_t token[RG_TOKEN_LEN], int timeout_ms, char *buf,
		       size_t cap)
{
	(void)ctx;
	(void)timeout_ms;
	uint8_t want[RG_TOKEN_LEN];
	remote_calls++;
	fx_token("loyalty", CARD_NEW, want);
	if (memcmp(token, want, RG_TOKEN_LEN))
		return 0;
	snprintf(buf, cap,
		 "{\"id\":\"p-cleo\",\"version\":3,\"hlc\":\"1763881290000.0\",\"body\":"
		 "{\"first_name\":\"Cleo\",\"consent\":{\"show_in_public\":[\"points\"]},"
		 "\"points\":10}}");
	return 1;
}
static int notified;
static void fake_notify(void *ctx)
{
	(void)ctx;
	notified++;
}

static void remote_fills_cache_on_miss(void **state)
{
	(void)state;
	E.cfg.has_uplink = true;
	E.cfg.uplink.lookup_timeout_ms = 100;
	device_reload(E.d, &E.cfg, NULL);
	struct device_remote r = {.lookup = fake_lookup, .notify = fake_notify};
	device_set_remote(E.d, &r);
	remote_calls = notified = 0;
	enum view_state st;
	assert_int_equal(device_handle_read(E.d, IDENT_SRC_BARCODE, CARD_NEW, 13, &st), 0);
	assert_int_equal(st, VIEW_GREETING);
	assert_int_equal(remote_calls, 1);
	assert_int_equal(notified, 1);
	struct rows rs = outbox();
	assert_string_equal(rs.profile[0], "p-cleo");
	/* Cached now: the next read needs no remote call. */
	assert_int_equal(device_handle_read(E.d, IDENT_SRC_BARCODE, CARD_NEW, 13, &st), 0);
	assert_int_equal(st, VIEW_GREETING);
	assert_int_equal(remote_calls, 1);
	/* A token upstream does not know either: unknown, recorded. */
	assert_int_equal(device_handle_read(E.d, IDENT_SRC_NFC_UID, "\x04\x11\x22\x33\x44\x55\x66", 7,
					    &st),
			 0);
	assert_int_equal(st, VIEW_UNKNOWN);
	assert_int_equal(remote_calls, 2);
	assert_int_equal(store_outbox_count(E.s), 3);
}

/* ---- staff API ---- */

static int call(const char *method, const char *path, const char *body, bool staff, cJSON **out)
{
	struct web_request req = {.method = method, .path = path, .body = body ? body : "",
				  .body_len = body ? strlen(body) : 0, .staff = staff};
	struct web_response res = {.status = 404};
	device_web_ops.api(E.d, &req, &res);
	if (out)
		*out = res.body ? cJSON_ParseWithLength(res.body, res.len) : NULL;
	free(res.body);
	return res.status;
}

static void staff_api_requires_login(void **state)
{
	(void)state;
	assert_int_equal(call("GET", "/profiles/p-anna", NULL, false, NULL), 401);
	assert_int_equal(call("POST", "/profiles/p-anna/notes", "{\"text\":\"x\"}", false, NULL), 401);
	assert_int_equal(store_outbox_count(E.s), 0);
	/* The kiosk's screen is public. */
	assert_int_equal(call("GET", "/screen", NULL, false, NULL), 200);
	assert_int_equal(call("GET", "/nope", NULL, true, NULL), 404);
}

static void staff_note_is_recorded_before_201(void **state)
{
	(void)state;
	cJSON *j;
	assert_int_equal(call("POST", "/profiles/p-anna/notes", "{\"text\":\"Wants a call back\"}", true, &j), 201);
	const char *iid = cJSON_GetObjectItem(j, "interaction")->valuestring;
	struct rows rs = outbox();
	assert_int_equal(rs.n, 1);
	assert_int_equal(rs.kind[0], RG_KIND_NOTE);
	assert_string_equal(rs.id[0], iid);
	assert_string_equal(rs.profile[0], "p-anna");
	assert_non_null(strstr(rs.body[0], "Wants a call back"));
	/* The answer and the cache show the note at once. */
	cJSON *first = cJSON_GetArrayItem(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "profile"), "interactions"), 0);
	assert_string_equal(cJSON_GetObjectItem(first, "summary")->valuestring, "Wants a call back");
	cJSON_Delete(j);
	assert_int_equal(call("GET", "/profiles/p-anna", NULL, true, &j), 200);
	first = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "interactions"), 0);
	assert_string_equal(cJSON_GetObjectItem(first, "summary")->valuestring, "Wants a call back");
	cJSON_Delete(j);

	/* Bad bodies change nothing. */
	assert_int_equal(call("POST", "/profiles/p-anna/notes", "{\"text\":\"\"}", true, NULL), 400);
	assert_int_equal(call("POST", "/profiles/p-anna/notes", "{\"text\":\"a\",\"x\":1}", true, NULL), 400);
	assert_int_equal(call("POST", "/profiles/p-anna/notes", "not json", true, NULL), 400);
	assert_int_equal(call("POST", "/profiles/p-nobody/notes", "{\"text\":\"a\"}", true, NULL), 404);
	assert_int_equal(store_outbox_count(E.s), 1);
}

/* Freshness: "as of" from the cached profile until a page is applied, then
 * the page's as_of; this device's unsynced interactions counted; its own
 * note marked synced only once central acknowledged it. */
static void staff_profile_says_how_fresh_it_is(void **state)
{
	(void)state;
	cJSON *j;
	struct rg_uuid u;
	assert_int_equal(call("GET", "/profiles/p-anna", NULL, true, &j), 200);
	cJSON *f = cJSON_GetObjectItem(j, "freshness");
	assert_non_null(f);
	assert_string_equal(cJSON_GetObjectItem(f, "source")->valuestring, "profile");
	assert_int_equal(cJSON_GetObjectItem(f, "unsynced")->valueint, 0);
	cJSON_Delete(j);

	assert_int_equal(call("POST", "/profiles/p-anna/notes", "{\"text\":\"Call back\"}", true, &j),
			 201);
	char iid[RG_UUID_STR_LEN + 1];
	snprintf(iid, sizeof iid, "%s", cJSON_GetObjectItem(j, "interaction")->valuestring);
	cJSON_Delete(j);
	struct delta_page pg = {.since = 0, .next = 4, .latest = 4, .as_of_ms = FX_T0 - 60000};
	assert_int_equal(store_page_apply(E.s, &pg, NULL), 0);

	assert_int_equal(call("GET", "/profiles/p-anna", NULL, true, &j), 200);
	f = cJSON_GetObjectItem(j, "freshness");
	assert_string_equal(cJSON_GetObjectItem(f, "source")->valuestring, "replica");
	assert_true(cJSON_GetObjectItem(f, "as_of")->valuedouble == (double)(FX_T0 - 60000));
	assert_int_equal(cJSON_GetObjectItem(f, "unsynced")->valueint, 1);
	cJSON *first = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "interactions"), 0);
	assert_string_equal(cJSON_GetObjectItem(first, "id")->valuestring, iid);
	assert_false(cJSON_IsTrue(cJSON_GetObjectItem(first, "synced")));
	assert_true(cJSON_IsBool(cJSON_GetObjectItem(first, "synced")));
	/* an imported interaction is not this device's: no mark */
	cJSON *second = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "interactions"), 1);
	assert_null(cJSON_GetObjectItem(second, "synced"));
	cJSON_Delete(j);

	assert_int_equal(rg_uuid_parse(iid, &u), 0);
	assert_int_equal(store_outbox_ack(E.s, &u, 1), 1);
	assert_int_equal(call("GET", "/profiles/p-anna", NULL, true, &j), 200);
	f = cJSON_GetObjectItem(j, "freshness");
	assert_int_equal(cJSON_GetObjectItem(f, "unsynced")->valueint, 0);
	first = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "interactions"), 0);
	assert_true(cJSON_IsTrue(cJSON_GetObjectItem(first, "synced")));
	cJSON_Delete(j);

	/* /metrics says where the replica is */
	char *text = NULL;
	size_t len = 0;
	device_web_ops.metrics(E.d, &text, &len);
	assert_non_null(text);
	assert_non_null(strstr(text, "regulars_replica_cursor 4\n"));
	assert_non_null(strstr(text, "regulars_replica_lag 0\n"));
	free(text);
}

static void staff_episode_open_and_resolve(void **state)
{
	(void)state;
	cJSON *j;
	assert_int_equal(call("POST", "/profiles/p-anna/episodes",
			      "{\"department\":\"kitchen\",\"title\":\"Hob not heating\"}", true, &j),
			 201);
	cJSON *eps = cJSON_GetObjectItem(cJSON_GetObjectItem(j, "profile"), "episodes");
	cJSON *last = cJSON_GetArrayItem(eps, cJSON_GetArraySize(eps) - 1);
	char eid[64];
	snprintf(eid, sizeof eid, "%s", cJSON_GetObjectItem(last, "id")->valuestring);
	assert_string_equal(cJSON_GetObjectItem(last, "status")->valuestring, "open");
	cJSON_Delete(j);
	char path[160];
	snprintf(path, sizeof path, "/profiles/p-anna/episodes/%s/resolve", eid);
	assert_int_equal(call("POST", path, "{\"note\":\"Replaced the element\"}", true, NULL), 201);
	assert_int_equal(call("POST", "/profiles/p-anna/episodes/e-none/resolve", "{}", true, NULL), 404);
	struct rows rs = outbox();
	assert_int_equal(rs.n, 2);
	assert_int_equal(rs.kind[0], RG_KIND_EPISODE_OPENED);
	assert_int_equal(rs.kind[1], RG_KIND_EPISODE_RESOLVED);
	assert_non_null(strstr(rs.body[0], eid));
	assert_non_null(strstr(rs.body[1], eid));
}

static void staff_links_unknown_card(void **state)
{
	(void)state;
	enum view_state st;
	assert_int_equal(device_handle_read(E.d, IDENT_SRC_BARCODE, CARD_NEW, 13, &st), 0);
	assert_int_equal(st, VIEW_UNKNOWN);
	/* Scans are numbered from 1 per device. */
	assert_int_equal(call("POST", "/profiles/p-bob/cards", "{\"scan\":99}", true, NULL), 404);
	assert_int_equal(call("POST", "/profiles/p-bob/cards", "{\"scan\":1}", true, NULL), 201);
	/* Linked once; the same scan cannot be linked again. */
	assert_int_equal(call("POST", "/profiles/p-anna/cards", "{\"scan\":1}", true, NULL), 404);
	assert_int_equal(device_handle_read(E.d, IDENT_SRC_BARCODE, CARD_NEW, 13, &st), 0);
	assert_int_equal(st, VIEW_GREETING);
	struct rows rs = outbox();
	assert_int_equal(rs.n, 3);
	assert_int_equal(rs.kind[1], RG_KIND_CARD_LINKED);
	assert_true(rs.has_token[1]);
	assert_string_equal(rs.profile[2], "p-bob");
}

static void staff_consent_changes_the_kiosk_view(void **state)
{
	(void)state;
	assert_int_equal(call("POST", "/profiles/p-anna/consent", "{\"show_in_public\":false}", true, NULL), 201);
	assert_int_equal(device_handle_read(E.d, IDENT_SRC_BARCODE, CARD_ANNA, 13, NULL), 0);
	cJSON *scr = screen_now();
	assert_null(cJSON_GetObjectItem(scr, "first_name"));
	cJSON_Delete(scr);
	assert_int_equal(call("POST", "/profiles/p-anna/consent", "{\"show_in_public\":[\"points\"]}", true, NULL), 201);
	assert_int_equal(device_handle_read(E.d, IDENT_SRC_BARCODE, CARD_ANNA, 13, NULL), 0);
	scr = screen_now();
	assert_string_equal(cJSON_GetObjectItem(scr, "first_name")->valuestring, "Anna");
	cJSON_Delete(scr);
	assert_int_equal(call("POST", "/profiles/p-anna/consent", "{\"show_in_public\":[\"bogus\"]}", true, NULL), 400);
	struct rows rs = outbox();
	assert_int_equal(rs.kind[0], RG_KIND_CONSENT_CHANGED);
	assert_non_null(strstr(rs.body[0], "\"show_in_public\":[]"));
}

/* The points a GET of the profile shows. */
static long profile_points(const char *path)
{
	cJSON *j = NULL;
	assert_int_equal(call("GET", path, NULL, true, &j), 200);
	const cJSON *p = cJSON_GetObjectItem(cJSON_GetObjectItem(j, "profile"), "points");
	if (!p)
		p = cJSON_GetObjectItem(j, "points");
	assert_true(cJSON_IsNumber(p));
	long n = (long)p->valuedouble;
	cJSON_Delete(j);
	return n;
}

static void staff_redeem_points(void **state)
{
	(void)state;
	long before = profile_points("/profiles/p-anna");
	char body[96];
	assert_true(before > 1);
	/* More than the balance: refused, nothing recorded. */
	snprintf(body, sizeof body, "{\"points\":%ld,\"reason\":\"voucher\"}", before + 1);
	assert_int_equal(call("POST", "/profiles/p-anna/points/redeem", body, true, NULL), 409);
	assert_int_equal(call("POST", "/profiles/p-anna/points/redeem", "{\"points\":0,\"reason\":\"x\"}",
			      true, NULL),
			 400);
	assert_int_equal(call("POST", "/profiles/p-anna/points/redeem", "{\"points\":1}", true, NULL),
			 400);
	assert_int_equal(store_outbox_count(E.s), 0);
	assert_int_equal(call("POST", "/profiles/p-anna/points/redeem",
			      "{\"points\":1,\"reason\":\"coffee voucher\"}", true, NULL),
			 201);
	assert_int_equal(profile_points("/profiles/p-anna"), before - 1);
	/* Its line leads the recent interactions, not yet synced. */
	cJSON *j = NULL;
	assert_int_equal(call("GET", "/profiles/p-anna", NULL, true, &j), 200);
	const cJSON *its = cJSON_GetObjectItem(cJSON_GetObjectItem(j, "profile"), "interactions");
	if (!its)
		its = cJSON_GetObjectItem(j, "interactions");
	const cJSON *first = cJSON_GetArrayItem(its, 0);
	assert_string_equal(cJSON_GetObjectItem(first, "summary")->valuestring, "coffee voucher");
	assert_non_null(cJSON_GetObjectItem(first, "id"));
	assert_true(cJSON_IsFalse(cJSON_GetObjectItem(first, "synced")));
	cJSON_Delete(j);
	struct rows rs = outbox();
	assert_int_equal(rs.n, 1);
	assert_int_equal(rs.kind[0], RG_KIND_POINTS_REDEEMED);
	assert_non_null(strstr(rs.body[0], "\"points\":1"));
	assert_non_null(strstr(rs.body[0], "coffee voucher"));
}

static void staff_outbox_listing(void **state)
{
	(void)state;
	cJSON *j;
	assert_int_equal(device_handle_read(E.d, IDENT_SRC_BARCODE, CARD_ANNA, 13, NULL), 0);
	assert_int_equal(call("GET", "/outbox", NULL, true, &j), 200);
	assert_int_equal(cJSON_GetObjectItem(j, "waiting")->valueint, 1);
	cJSON *row = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "rows"), 0);
	assert_string_equal(cJSON_GetObjectItem(row, "kind")->valuestring, "identified");
	cJSON_Delete(j);
}

/* ---- pushed configuration, applied live (docs/config.md) ---- */

/* Lay settings (JSON) over E.cfg as the daemon does (devcfg_overlay) and
 * hand the result, with a new pipeline, to the running device. */
static void apply_settings(const char *json, enum devcfg_role role)
{
	static struct devcfg next;
	char err[256];
	cJSON *m = cJSON_Parse(json);
	assert_non_null(m);
	if (devcfg_overlay(&E.cfg, m, &next, err, sizeof err))
		fail_msg("%s", err);
	cJSON_Delete(m);
	next.role = role;
	struct ident_pipeline *p;
	struct ident_pipeline_params pp = {.config = &next.identifiers,
					   .tenant_key = tenant_key,
					   .tenant_key_len = sizeof tenant_key,
					   .totp_seal_key = totp_key,
					   .clock = &fx.clock.clock,
					   .replay = E.replay,
					   .secrets = E.secrets};
	assert_int_equal(ident_pipeline_new(&pp, &p), 0);
	device_reload(E.d, &next, p);
}

static const char *screen_str(cJSON *scr, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(scr, key);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static void pushed_greeting_and_privacy_show_on_the_next_read(void **state)
{
	(void)state;
	enum view_state st;
	assert_int_equal(device_handle_read(E.d, IDENT_SRC_BARCODE, CARD_ANNA, 13, &st), 0);
	cJSON *scr = screen_now();
	assert_null(screen_str(scr, "greeting")); /* the UI's built-in text */
	assert_non_null(cJSON_GetObjectItem(scr, "points"));
	cJSON_Delete(scr);

	/* Anna prefers German (fx_body); an unknown card speaks the default, English */
	apply_settings("{\"screen\":{\"text\":{\"de\":{\"greeting\":\"Hallo {name}!\"},"
		       "\"en\":{\"greeting\":\"Hello again, {name}!\","
		       "\"unknown\":\"Ask us for a card\"}}}}",
		       DEVCFG_ROLE_HANDHELD);
	assert_int_equal(device_handle_read(E.d, IDENT_SRC_BARCODE, CARD_ANNA, 13, &st), 0);
	assert_int_equal(st, VIEW_GREETING);
	scr = screen_now();
	assert_string_equal(screen_str(scr, "greeting"), "Hallo Anna!");
	assert_non_null(cJSON_GetObjectItem(scr, "points"));
	cJSON_Delete(scr);
	assert_int_equal(device_handle_read(E.d, IDENT_SRC_BARCODE, CARD_NEW, 13, &st), 0);
	scr = screen_now();
	assert_string_equal(screen_str(scr, "greeting"), "Ask us for a card");
	cJSON_Delete(scr);

	/* anonymous: the same read names nobody and shows no details */
	apply_settings("{\"screen\":{\"privacy\":\"anonymous\",\"text\":{\"de\":{\"greeting\":"
		       "\"Hallo {name}!\"}}}}",
		       DEVCFG_ROLE_HANDHELD);
	assert_int_equal(device_handle_read(E.d, IDENT_SRC_BARCODE, CARD_ANNA, 13, &st), 0);
	char *raw = device_screen_copy(E.d);
	assert_non_null(strstr(raw, "\"state\":\"greeting\""));
	assert_null(strstr(raw, "Anna"));
	assert_null(strstr(raw, "points"));
	assert_null(strstr(raw, "Hallo"));
	free(raw);
	/* every read was still recorded */
	assert_int_equal(outbox().n, 4);
}

static void lowered_cache_limit_evicts_now(void **state)
{
	(void)state;
	enum view_state st;
	assert_int_equal(fx_put(E.s, "p-carl", 1, "Carl Meyer", CARD_NEW), 1);
	assert_int_equal(fx_stats(E.s).profiles, 3);
	/* Anna's read pins her profile (its outbox row is not acknowledged) */
	assert_int_equal(device_handle_read(E.d, IDENT_SRC_BARCODE, CARD_ANNA, 13, &st), 0);
	apply_settings("{\"cache\":{\"max_profiles\":1}}", DEVCFG_ROLE_HANDHELD);
	struct store_stats st2 = fx_stats(E.s);
	assert_int_equal(st2.max_profiles, 1);
	assert_int_equal(st2.profiles, 1);
	assert_int_equal(st2.evicted, 2);
	/* Anna stays (pinned); Bob and Carl are unknown here now */
	assert_int_equal(device_handle_read(E.d, IDENT_SRC_BARCODE, CARD_ANNA, 13, &st), 0);
	assert_int_equal(st, VIEW_GREETING);
	assert_int_equal(device_handle_read(E.d, IDENT_SRC_BARCODE, CARD_BOB, 13, &st), 0);
	assert_int_equal(st, VIEW_UNKNOWN);
	/* raising it again evicts nothing */
	apply_settings("{\"cache\":{\"max_profiles\":1000}}", DEVCFG_ROLE_HANDHELD);
	assert_int_equal(fx_stats(E.s).evicted, 2);
	assert_int_equal(fx_stats(E.s).max_profiles, 1000);
}

static void kiosk_sleeps_outside_opening_hours(void **state)
{
	(void)state;
	enum view_state st;
	struct device_counters c;
	setenv("TZ", "UTC", 1);
	tzset();
	/* FX_T0 is a Sunday, 07:01 UTC: open only on Mondays 08:00-20:00 */
	apply_settings("{\"screen\":{\"hours\":{\"mon\":[\"08:00-20:00\"]},"
		       "\"text\":{\"en\":{\"closed\":\"Back on Monday\"}}}}",
		       DEVCFG_ROLE_KIOSK);
	cJSON *scr = screen_now(); /* shown at once */
	assert_string_equal(screen_str(scr, "state"), "closed");
	assert_string_equal(screen_str(scr, "greeting"), "Back on Monday");
	cJSON_Delete(scr);
	assert_true(device_tick(E.d));
	assert_int_equal(device_handle_read(E.d, IDENT_SRC_BARCODE, CARD_ANNA, 13, &st), 0);
	assert_int_equal(st, VIEW_CLOSED);
	assert_int_equal(outbox().n, 0); /* nothing recorded */
	scr = screen_now();
	assert_string_equal(screen_str(scr, "state"), "closed"); /* and nothing shown */
	cJSON_Delete(scr);
	device_counters_get(E.d, &c);
	assert_int_equal(c.reads_closed, 1);
	assert_int_equal(c.reads, 0);

	/* Monday 09:00: the next tick opens it (idle screen), reads count again */
	rg_clock_manual_set_wall(&fx.clock, FX_T0 + (24 * 60 + 119) * 60000LL);
	assert_false(device_tick(E.d));
	scr = screen_now();
	assert_string_equal(screen_str(scr, "state"), "idle");
	cJSON_Delete(scr);
	assert_int_equal(device_handle_read(E.d, IDENT_SRC_BARCODE, CARD_ANNA, 13, &st), 0);
	assert_int_equal(st, VIEW_GREETING);
	assert_int_equal(outbox().n, 1);

	/* 20:00 exactly is closed; each read checks the time itself */
	rg_clock_manual_set_wall(&fx.clock, FX_T0 + (24 * 60 + 12 * 60 + 59) * 60000LL);
	assert_int_equal(device_handle_read(E.d, IDENT_SRC_BARCODE, CARD_ANNA, 13, &st), 0);
	assert_int_equal(st, VIEW_CLOSED);

	/* a handheld ignores the hours */
	apply_settings("{\"screen\":{\"hours\":{\"mon\":[\"08:00-20:00\"]}}}", DEVCFG_ROLE_HANDHELD);
	assert_false(device_tick(E.d));
	assert_int_equal(device_handle_read(E.d, IDENT_SRC_BARCODE, CARD_ANNA, 13, &st), 0);
	assert_int_equal(st, VIEW_GREETING);
	device_counters_get(E.d, &c);
	assert_int_equal(c.reads_closed, 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(known_card_greets_and_records, setup, teardown),
		cmocka_unit_test_setup_teardown(unknown_card_greets_politely_and_records_token, setup, teardown),
		cmocka_unit_test_setup_teardown(refused_read_shows_reason_and_records_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(remote_fills_cache_on_miss, setup, teardown),
		cmocka_unit_test_setup_teardown(staff_api_requires_login, setup, teardown),
		cmocka_unit_test_setup_teardown(staff_note_is_recorded_before_201, setup, teardown),
		cmocka_unit_test_setup_teardown(staff_episode_open_and_resolve, setup, teardown),
		cmocka_unit_test_setup_teardown(staff_links_unknown_card, setup, teardown),
		cmocka_unit_test_setup_teardown(staff_consent_changes_the_kiosk_view, setup, teardown),
		cmocka_unit_test_setup_teardown(staff_redeem_points, setup, teardown),
		cmocka_unit_test_setup_teardown(staff_outbox_listing, setup, teardown),
		cmocka_unit_test_setup_teardown(pushed_greeting_and_privacy_show_on_the_next_read, setup, teardown),
		cmocka_unit_test_setup_teardown(lowered_cache_limit_evicts_now, setup, teardown),
		cmocka_unit_test_setup_teardown(kiosk_sleeps_outside_opening_hours, setup, teardown),
		cmocka_unit_test_setup_teardown(staff_profile_says_how_fresh_it_is, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
