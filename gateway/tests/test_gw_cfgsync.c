/*
 * test_gw_cfgsync.c - the gateway's configuration relay, status mirror and
 * own settings (gateway/cfgsync.h) with a recording publisher whose links the
 * test takes down and up, a real cfgstate file in a temp directory, keys
 * generated here and documents signed with cfgdoc_sign: what is relayed where
 * and byte for byte, what is not (other stores, bad topics, oversize), what
 * is republished after a reconnect, and which documents the gateway applies
 * to itself, refuses, and reports.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/err.h"
#include "gateway/cfgsync.h"
#include "gateway/gwconfig.h"
#include "gw_fixture.h"

#define STORE "0042"
#define GW "gw-0042"
#define NOW_S (GWFX_T0 / 1000)

struct pub {
	enum gw_broker b;
	char topic[GW_CFG_TOPIC_MAX];
	char *payload;
	size_t len;
};

static struct rec {
	bool up[2];
	struct pub pubs[64];
	size_t n;
	const char *unknown; /* a device device_known says no to */
	int settings_calls;
	int resend_ms; /* gateway.forward.resend_ms of the last merged settings, or 0 */
	int reports;
	bool refuse_validate;
	char state[PATH_MAX];
	char anchor[PATH_MAX];
	struct gwfx_cfgkeys keys;
} rec;

static int r_publish(void *ctx, enum gw_broker b, const char *topic, const void *payload,
		     size_t len)
{
	(void)ctx;
	if (!rec.up[b])
		return RG_ERR_CLOSED;
	assert_true(rec.n < 64);
	struct pub *p = &rec.pubs[rec.n++];
	p->b = b;
	snprintf(p->topic, sizeof p->topic, "%s", topic);
	p->payload = malloc(len + 1);
	memcpy(p->payload, payload ? payload : "", len);
	p->payload[len] = '\0';
	p->len = len;
	return 0;
}

static int r_known(void *ctx, const char *dev)
{
	(void)ctx;
	return !rec.unknown || strcmp(dev, rec.unknown);
}

static void r_settings(void *ctx, const cJSON *merged)
{
	const cJSON *v = cJSON_GetObjectItem(
	    cJSON_GetObjectItem(cJSON_GetObjectItem(merged, "gateway"), "forward"), "resend_ms");
	(void)ctx;
	rec.settings_calls++;
	rec.resend_ms = cJSON_IsNumber(v) ? v->valueint : 0;
}

static int r_validate(void *ctx, const cJSON *merged, char *err, size_t errcap)
{
	struct gwcfg c;
	int rc;
	(void)ctx;
	if (rec.refuse_validate)
		return rg_errf(RG_ERR_CONFIG, err, errcap, "gateway.forward.resend_ms: no");
	/* What the daemon does: the overlay must fit the file's ranges. */
	memset(&c, 0, sizeof c);
	rc = gwcfg_overlay(&c, merged, err, errcap);
	return rc < 0 ? RG_ERR_CONFIG : 0;
}

static void r_report(void *ctx)
{
	(void)ctx;
	rec.reports++;
}

static const struct gw_cfgsync_ops ops = {
    .publish = r_publish,
    .device_known = r_known,
    .settings = r_settings,
    .validate = r_validate,
    .report_changed = r_report,
};

static void rec_clear(void)
{
	for (size_t i = 0; i < rec.n; i++)
		free(rec.pubs[i].payload);
	rec.n = 0;
}

static int setup(void **state)
{
	if (gwfx_setup(state) < 0)
		return -1;
	memset(&rec, 0, sizeof rec);
	rec.up[0] = rec.up[1] = true;
	snprintf(rec.state, sizeof rec.state, "%s/gw-config.db", gwfx.dir);
	snprintf(rec.anchor, sizeof rec.anchor, "%s/anchor.json", gwfx.dir);
	if (gwfx_cfg_keys(&rec.keys, "acme", 1) < 0 ||
	    gwfx_cfg_anchor_write(&rec.keys, rec.anchor) < 0)
		return -1;
	return 0;
}

static int teardown(void **state)
{
	static const char *const suffix[] = {"", "-wal", "-shm", "-journal"};
	char p[PATH_MAX + 16];
	rec_clear();
	gwfx_cfg_keys_free(&rec.keys);
	for (size_t i = 0; i < sizeof suffix / sizeof suffix[0]; i++) {
		snprintf(p, sizeof p, "%s%s", rec.state, suffix[i]);
		unlink(p);
	}
	unlink(rec.anchor);
	return gwfx_teardown(state);
}

static struct gw_cfgsync *make(bool own)
{
	struct gw_cfgsync_params p = {
	    .store_id = STORE,
	    .identity = GW,
	    .trust_anchor = own ? rec.anchor : NULL,
	    .state_path = own ? rec.state : NULL,
	    .clock = &gwfx.clock.clock,
	    .ops = &ops,
	};
	struct gw_cfgsync *s;
	char err[512];
	int rc = gw_cfgsync_new(&p, &s, err, sizeof err);
	if (rc < 0)
		fail_msg("gw_cfgsync_new: %s", err);
	return s;
}

static const struct pub *last_pub(void)
{
	assert_true(rec.n > 0);
	return &rec.pubs[rec.n - 1];
}

/* ---- topics ---- */

static void routes_map_this_stores_topics_and_nothing_else(void **state)
{
	struct gw_cfg_route r;
	(void)state;
	assert_int_equal(gw_cfg_route("rg/v1/config/tenant", STORE, GW, &r), GW_ROUTE_RELAY);
	assert_string_equal(r.store_topic, "rg/v1/s/0042/config/tenant");
	assert_int_equal(r.scope, CFGDOC_SCOPE_TENANT);
	assert_true(r.own);
	assert_int_equal(gw_cfg_route("rg/v1/config/store/0042", STORE, GW, &r), GW_ROUTE_RELAY);
	assert_string_equal(r.store_topic, "rg/v1/s/0042/config/store");
	assert_true(r.own);
	assert_int_equal(gw_cfg_route("rg/v1/config/keys/12", STORE, GW, &r), GW_ROUTE_RELAY);
	assert_string_equal(r.store_topic, "rg/v1/s/0042/config/keys/12");
	assert_int_equal(r.scope, CFGDOC_SCOPE_KEYS);
	assert_int_equal(gw_cfg_route("rg/v1/config/device/0042/dev-0042-k1", STORE, GW, &r),
			 GW_ROUTE_RELAY);
	assert_string_equal(r.store_topic, "rg/v1/s/0042/d/dev-0042-k1/config");
	assert_false(r.own);
	assert_int_equal(r.scope, CFGDOC_SCOPE_DEVICE);
	assert_int_equal(gw_cfg_route("rg/v1/config/device/0042/gw-0042", STORE, GW, &r),
			 GW_ROUTE_OWN);
	assert_true(r.own);
	assert_int_equal(r.store_topic[0], '\0');

	assert_int_equal(gw_cfg_route("rg/v1/config/store/0043", STORE, GW, &r),
			 GW_ROUTE_OTHER_STORE);
	assert_int_equal(gw_cfg_route("rg/v1/config/device/0043/dev-1", STORE, GW, &r),
			 GW_ROUTE_OTHER_STORE);
	static const char *const bad[] = {
	    "rg/v1/config/tenant/x",
	    "rg/v1/config/store/",
	    "rg/v1/config/store/0042/x",
	    "rg/v1/config/store/ABC",
	    "rg/v1/config/keys/0",
	    "rg/v1/config/keys/02",
	    "rg/v1/config/keys/x1",
	    "rg/v1/config/keys/1234567890123456",
	    "rg/v1/config/keys/",
	    "rg/v1/config/device/0042",
	    "rg/v1/config/device/0042/",
	    "rg/v1/config/device/0042/a/b",
	    "rg/v1/config/device/0042/gw-0043",
	    "rg/v1/config/other",
	    "rg/v1/config/",
	    "rg/v1/s/0042/config/tenant",
	    "rg/v1/config/device/0042/D1",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		if (gw_cfg_route(bad[i], STORE, GW, &r) != GW_ROUTE_BAD_TOPIC)
			fail_msg("%s was not refused", bad[i]);
		assert_int_equal(r.store_topic[0], '\0');
	}
}

static void status_topics_name_a_device(void **state)
{
	char dev[65];
	(void)state;
	assert_int_equal(gw_status_topic_device("rg/v1/s/0042/d/dev-1/status", STORE, dev), 0);
	assert_string_equal(dev, "dev-1");
	assert_int_equal(gw_status_topic_device("rg/v1/s/0042/d/gw-0042/status", STORE, dev),
			 RG_ERR_PARSE);
	assert_int_equal(gw_status_topic_device("rg/v1/s/0042/d/DEV/status", STORE, dev),
			 RG_ERR_PARSE);
	assert_int_equal(gw_status_topic_device("rg/v1/s/0042/d//status", STORE, dev),
			 RG_ERR_PARSE);
	assert_int_equal(gw_status_topic_device("rg/v1/s/0043/d/dev-1/status", STORE, dev),
			 RG_ERR_NOTFOUND);
	assert_int_equal(gw_status_topic_device("rg/v1/s/0042/d/dev-1/up/priority", STORE, dev),
			 RG_ERR_NOTFOUND);
	assert_int_equal(gw_status_topic_device("rg/v1/s/0042/d/dev-1/status/x", STORE, dev),
			 RG_ERR_NOTFOUND);
}

/* ---- relay ---- */

static void documents_are_relayed_byte_for_byte_and_kept_for_reconnects(void **state)
{
	struct gw_cfgsync *s = make(false);
	struct gw_cfgsync_stats st;
	static const char doc[] = "{\"payload\":\"not verified by the gateway\",\"x\":[1, 2]}";
	(void)state;

	assert_int_equal(gw_cfgsync_central(s, "rg/v1/config/tenant", doc, sizeof doc - 1), 1);
	assert_int_equal(rec.n, 1);
	assert_int_equal(last_pub()->b, GW_BROKER_STORE);
	assert_string_equal(last_pub()->topic, "rg/v1/s/0042/config/tenant");
	assert_int_equal(last_pub()->len, sizeof doc - 1);
	assert_memory_equal(last_pub()->payload, doc, sizeof doc - 1);

	/* The same bytes again (central resends retained on resubscribe). */
	assert_int_equal(gw_cfgsync_central(s, "rg/v1/config/tenant", doc, sizeof doc - 1), 1);
	assert_int_equal(rec.n, 1);

	/* Store broker down: nothing goes out, everything goes out on its return. */
	rec.up[GW_BROKER_STORE] = false;
	assert_int_equal(gw_cfgsync_central(s, "rg/v1/config/device/0042/dev-1", "d1", 2), 1);
	assert_int_equal(gw_cfgsync_central(s, "rg/v1/config/device/0042/dev-1", "d1b", 3), 1);
	assert_int_equal(gw_cfgsync_central(s, "rg/v1/config/keys/2", "k2", 2), 1);
	assert_int_equal(rec.n, 1);
	rec.up[GW_BROKER_STORE] = true;
	rec_clear();
	assert_int_equal(gw_cfgsync_link_up(s, GW_BROKER_STORE), 3);
	assert_int_equal(rec.n, 3);
	assert_string_equal(rec.pubs[0].topic, "rg/v1/s/0042/config/tenant");
	assert_string_equal(rec.pubs[0].payload, doc);
	assert_string_equal(rec.pubs[1].topic, "rg/v1/s/0042/d/dev-1/config");
	assert_string_equal(rec.pubs[1].payload, "d1b"); /* the latest only */
	assert_string_equal(rec.pubs[2].topic, "rg/v1/s/0042/config/keys/2");

	/* A clear is relayed as a clear, and stays one after a reconnect. */
	rec_clear();
	assert_int_equal(gw_cfgsync_central(s, "rg/v1/config/device/0042/dev-1", NULL, 0), 1);
	assert_int_equal(rec.n, 1);
	assert_string_equal(last_pub()->topic, "rg/v1/s/0042/d/dev-1/config");
	assert_int_equal(last_pub()->len, 0);
	rec_clear();
	assert_int_equal(gw_cfgsync_link_up(s, GW_BROKER_STORE), 3);
	assert_int_equal(rec.pubs[1].len, 0);

	gw_cfgsync_stats_get(s, &st);
	assert_int_equal(st.relayed, 2); /* the tenant document and the clear */
	assert_int_equal(st.cleared, 1);
	assert_int_equal(st.unchanged, 1);
	assert_int_equal(st.deferred, 3);
	assert_int_equal(st.republished, 6);
	gw_cfgsync_free(s);
}

static void other_stores_bad_topics_and_oversize_are_not_relayed(void **state)
{
	struct gw_cfgsync *s = make(false);
	struct gw_cfgsync_stats st;
	(void)state;

	assert_int_equal(gw_cfgsync_central(s, "rg/v1/config/store/0043", "x", 1), 1);
	assert_int_equal(gw_cfgsync_central(s, "rg/v1/config/device/0043/dev-1", "x", 1), 1);
	assert_int_equal(gw_cfgsync_central(s, "rg/v1/config/bogus", "x", 1), 1);
	assert_int_equal(gw_cfgsync_central(s, "rg/v1/config/keys/007", "x", 1), 1);
	assert_int_equal(gw_cfgsync_central(s, "rg/v1/config/device/0042/gw-0042", "x", 1), 1);
	assert_int_equal(
	    gw_cfgsync_central(s, "rg/v1/config/store/0042", NULL, CFGDOC_ENVELOPE_MAX + 1), 1);
	/* Not a configuration topic: the caller's. */
	assert_int_equal(gw_cfgsync_central(s, "rg/v1/g/gw-0042/down/ack", "x", 1), 0);
	assert_int_equal(rec.n, 0);
	assert_int_equal(gw_cfgsync_link_up(s, GW_BROKER_STORE), 0);
	gw_cfgsync_stats_get(s, &st);
	assert_int_equal(st.other_store, 2);
	assert_int_equal(st.bad_topic, 2);
	assert_int_equal(st.too_large, 1);
	assert_int_equal(st.relayed, 0);
	gw_cfgsync_free(s);
}

/* ---- status mirror ---- */

static void device_statuses_are_mirrored_to_central(void **state)
{
	struct gw_cfgsync *s = make(false);
	struct gw_cfgsync_stats st;
	static const char on[] = "{\"online\":true,\"config\":{\"store\":{\"version\":3}}}";
	static const char off[] = "{\"online\":false}";
	(void)state;

	rec.unknown = "dev-9";
	assert_int_equal(gw_cfgsync_store(s, "rg/v1/s/0042/d/dev-1/status", on, sizeof on - 1), 1);
	assert_int_equal(rec.n, 1);
	assert_int_equal(last_pub()->b, GW_BROKER_CENTRAL);
	assert_string_equal(last_pub()->topic, "rg/v1/g/gw-0042/d/dev-1/status");
	assert_string_equal(last_pub()->payload, on);

	/* Unknown, not a device, oversize, or not a status at all. */
	assert_int_equal(gw_cfgsync_store(s, "rg/v1/s/0042/d/dev-9/status", on, sizeof on - 1), 1);
	assert_int_equal(gw_cfgsync_store(s, "rg/v1/s/0042/d/gw-0042/status", on, sizeof on - 1),
			 1);
	assert_int_equal(
	    gw_cfgsync_store(s, "rg/v1/s/0042/d/dev-2/status", NULL, GW_STATUS_MAX + 1), 1);
	assert_int_equal(gw_cfgsync_store(s, "rg/v1/s/0042/d/dev-1/up/priority", "x", 1), 0);
	assert_int_equal(rec.n, 1);

	/* Central down: the latest per device goes out when it returns. */
	rec.up[GW_BROKER_CENTRAL] = false;
	assert_int_equal(gw_cfgsync_store(s, "rg/v1/s/0042/d/dev-1/status", off, sizeof off - 1),
			 1);
	assert_int_equal(gw_cfgsync_store(s, "rg/v1/s/0042/d/dev-2/status", on, sizeof on - 1), 1);
	rec.up[GW_BROKER_CENTRAL] = true;
	rec_clear();
	assert_int_equal(gw_cfgsync_link_up(s, GW_BROKER_CENTRAL), 2);
	assert_string_equal(rec.pubs[0].topic, "rg/v1/g/gw-0042/d/dev-1/status");
	assert_string_equal(rec.pubs[0].payload, off);
	assert_string_equal(rec.pubs[1].topic, "rg/v1/g/gw-0042/d/dev-2/status");
	/* The store broker's reconnect does not touch central's copies. */
	assert_int_equal(gw_cfgsync_link_up(s, GW_BROKER_STORE), 0);

	gw_cfgsync_stats_get(s, &st);
	assert_int_equal(st.mirrored, 1);
	assert_int_equal(st.mirror_unknown, 2);
	assert_int_equal(st.mirror_too_large, 1);
	gw_cfgsync_free(s);
}

/* ---- the gateway's own settings ---- */

static char *store_doc(size_t key, int64_t version, int resend_ms)
{
	char settings[128];
	snprintf(settings, sizeof settings, "{\"gateway\":{\"forward\":{\"resend_ms\":%d}}}",
		 resend_ms);
	return gwfx_cfg_envelope(&rec.keys, key, "acme", "store", STORE, NULL, version, NOW_S,
				 settings);
}

static const cJSON *scope_report(cJSON *report, const char *scope)
{
	const cJSON *o = cJSON_GetObjectItem(report, scope);
	assert_non_null(o);
	return o;
}

static void a_signed_store_document_sets_the_gateways_own_settings(void **state)
{
	struct gw_cfgsync *s = make(true);
	char *env = store_doc(0, 1, 5000);
	cJSON *rep, *m;
	(void)state;

	assert_true(gw_cfgsync_own_enabled(s));
	assert_non_null(env);
	assert_int_equal(gw_cfgsync_central(s, "rg/v1/config/store/0042", env, strlen(env)), 1);
	/* Relayed as it came, and applied. */
	assert_int_equal(rec.n, 1);
	assert_string_equal(last_pub()->payload, env);
	assert_int_equal(rec.settings_calls, 1);
	assert_int_equal(rec.resend_ms, 5000);
	assert_int_equal(rec.reports, 1);
	rep = gw_cfgsync_report(s);
	assert_string_equal(cJSON_GetObjectItem(scope_report(rep, "store"), "status")->valuestring,
			    "applied");
	assert_int_equal(cJSON_GetObjectItem(scope_report(rep, "store"), "version")->valueint, 1);
	cJSON_Delete(rep);
	free(env);

	/* Version 2 signed by a key the anchor does not hold: refused, reported,
	 * and version 1 stays in force. */
	env = store_doc(1, 2, 7000);
	assert_int_equal(gw_cfgsync_central(s, "rg/v1/config/store/0042", env, strlen(env)), 1);
	assert_int_equal(rec.n, 2); /* still relayed: the devices judge for themselves */
	assert_int_equal(rec.settings_calls, 1);
	assert_int_equal(rec.reports, 2);
	rep = gw_cfgsync_report(s);
	const cJSON *st = scope_report(rep, "store");
	assert_string_equal(cJSON_GetObjectItem(st, "status")->valuestring, "rejected");
	assert_string_equal(cJSON_GetObjectItem(st, "reason")->valuestring, "signature");
	assert_int_equal(cJSON_GetObjectItem(st, "version")->valueint, 1);
	cJSON_Delete(rep);
	m = gw_cfgsync_merged(s);
	assert_int_equal(
	    cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(m, "gateway"), "forward"),
				"resend_ms")
		->valueint,
	    5000);
	cJSON_Delete(m);
	free(env);
	gw_cfgsync_free(s);

	/* A restart runs what was applied before it. */
	s = make(true);
	m = gw_cfgsync_merged(s);
	assert_int_equal(
	    cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(m, "gateway"), "forward"),
				"resend_ms")
		->valueint,
	    5000);
	cJSON_Delete(m);
	gw_cfgsync_free(s);
}

static void the_gateways_device_document_is_applied_not_relayed(void **state)
{
	struct gw_cfgsync *s = make(true);
	char *env = gwfx_cfg_envelope(&rec.keys, 0, "acme", "device", STORE, GW, 1, NOW_S,
				      "{\"gateway\":{\"forward\":{\"resend_ms\":4000}},"
				      "\"screen\":{\"idle_after_ms\":9000}}");
	char *other = gwfx_cfg_envelope(&rec.keys, 0, "acme", "device", STORE, "dev-1", 1, NOW_S,
					"{\"gateway\":{\"forward\":{\"resend_ms\":1000}}}");
	(void)state;
	assert_non_null(env);
	assert_non_null(other);
	assert_int_equal(
	    gw_cfgsync_central(s, "rg/v1/config/device/0042/gw-0042", env, strlen(env)), 1);
	assert_int_equal(rec.n, 0);
	assert_int_equal(rec.resend_ms, 4000);
	/* A device's document is relayed, never applied by the gateway. */
	assert_int_equal(
	    gw_cfgsync_central(s, "rg/v1/config/device/0042/dev-1", other, strlen(other)), 1);
	assert_int_equal(rec.n, 1);
	assert_int_equal(rec.settings_calls, 1);
	assert_int_equal(rec.resend_ms, 4000);
	free(env);
	free(other);
	gw_cfgsync_free(s);
}

static void settings_the_gateway_cannot_take_are_refused_as_invalid(void **state)
{
	struct gw_cfgsync *s = make(true);
	char *env = store_doc(0, 1, 5000);
	cJSON *rep;
	(void)state;
	rec.refuse_validate = true;
	assert_int_equal(gw_cfgsync_central(s, "rg/v1/config/store/0042", env, strlen(env)), 1);
	assert_int_equal(rec.settings_calls, 0);
	rep = gw_cfgsync_report(s);
	assert_string_equal(cJSON_GetObjectItem(scope_report(rep, "store"), "reason")->valuestring,
			    "invalid");
	cJSON_Delete(rep);
	/* Too large for the gateway itself: reported, not relayed. */
	assert_int_equal(
	    gw_cfgsync_central(s, "rg/v1/config/tenant", NULL, CFGDOC_ENVELOPE_MAX + 10), 1);
	rep = gw_cfgsync_report(s);
	assert_string_equal(cJSON_GetObjectItem(scope_report(rep, "tenant"), "reason")->valuestring,
			    "too_large");
	cJSON_Delete(rep);
	assert_int_equal(rec.n, 1);
	free(env);
	gw_cfgsync_free(s);
}

static void a_bad_anchor_is_a_configuration_error(void **state)
{
	struct gw_cfgsync_params p = {
	    .store_id = STORE,
	    .identity = GW,
	    .trust_anchor = rec.anchor,
	    .state_path = rec.state,
	    .ops = &ops,
	};
	struct gw_cfgsync *s = NULL;
	char err[512];
	FILE *o;
	(void)state;
	assert_non_null(o = fopen(rec.anchor, "w"));
	fputs("{\"type\":\"regulars-keys\"}", o);
	fclose(o);
	assert_int_equal(gw_cfgsync_new(&p, &s, err, sizeof err), RG_ERR_CONFIG);
	assert_null(s);
	assert_non_null(strstr(err, "config.trust_anchor"));
	unlink(rec.anchor);
	assert_int_equal(gw_cfgsync_new(&p, &s, err, sizeof err), RG_ERR_CONFIG);
	assert_non_null(strstr(err, "config.trust_anchor"));
}

/* ---- the overlay on the file's configuration ---- */

static void the_overlay_sets_gateway_keys_only_within_range(void **state)
{
	struct gwcfg c;
	char err[256];
	cJSON *m;
	(void)state;
	memset(&c, 0, sizeof c);
	c.forward_window = 64;
	c.resend_ms = 30000;
	c.reconnect_max_ms = 10000;
	c.forward_bundle = 8;
	c.stats_interval_s = 60;
	c.log_level = 1;
	m = cJSON_Parse("{\"gateway\":{\"log\":{\"level\":\"debug\"},\"forward\":{\"window\":"
			"1024,\"resend_ms\":1000,\"reconnect_max_ms\":250,\"bundle\":1},"
			"\"stats_interval_s\":5},\"screen\":{\"idle_after_ms\":1000}}");
	assert_int_equal(gwcfg_overlay(&c, m, err, sizeof err), 6);
	assert_int_equal(c.forward_bundle, 1);
	assert_int_equal(c.log_level, 0);
	assert_int_equal(c.forward_window, 1024);
	assert_int_equal(c.resend_ms, 1000);
	assert_int_equal(c.reconnect_max_ms, 250);
	assert_int_equal(c.stats_interval_s, 5);
	cJSON_Delete(m);

	m = cJSON_Parse("{\"gateway\":{\"forward\":{\"resend_ms\":7000,\"window\":0}}}");
	assert_int_equal(gwcfg_overlay(&c, m, err, sizeof err), RG_ERR_CONFIG);
	assert_non_null(strstr(err, "gateway.forward.window"));
	assert_int_equal(c.resend_ms, 1000); /* unchanged */
	cJSON_Delete(m);
	m = cJSON_Parse("{\"gateway\":{\"forward\":{\"bundle\":17}}}");
	assert_int_equal(gwcfg_overlay(&c, m, err, sizeof err), RG_ERR_CONFIG);
	assert_non_null(strstr(err, "gateway.forward.bundle"));
	assert_int_equal(c.forward_bundle, 1); /* unchanged */
	cJSON_Delete(m);
	m = cJSON_Parse("{\"gateway\":{\"log\":{\"level\":\"off\"}}}");
	assert_int_equal(gwcfg_overlay(&c, m, err, sizeof err), RG_ERR_CONFIG);
	cJSON_Delete(m);
	m = cJSON_Parse("{\"screen\":{}}");
	assert_int_equal(gwcfg_overlay(&c, m, err, sizeof err), 0);
	cJSON_Delete(m);
	assert_int_equal(gwcfg_overlay(&c, NULL, err, sizeof err), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(routes_map_this_stores_topics_and_nothing_else),
	    cmocka_unit_test(status_topics_name_a_device),
	    cmocka_unit_test_setup_teardown(
		documents_are_relayed_byte_for_byte_and_kept_for_reconnects, setup, teardown),
	    cmocka_unit_test_setup_teardown(other_stores_bad_topics_and_oversize_are_not_relayed,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(device_statuses_are_mirrored_to_central, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(a_signed_store_document_sets_the_gateways_own_settings,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(the_gateways_device_document_is_applied_not_relayed,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(settings_the_gateway_cannot_take_are_refused_as_invalid,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(a_bad_anchor_is_a_configuration_error, setup, teardown),
	    cmocka_unit_test(the_overlay_sets_gateway_keys_only_within_range),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
