/*
 * test_gateway_config.c - configuration over MQTT through the real
 * regulars-gateway between two real Mosquitto brokers: IT's retained signed
 * documents on the central broker appear retained, byte for byte, on the
 * store broker (also after the store broker lost everything and after the
 * gateway restarted), a clear is relayed, another store's document is not,
 * devices' statuses are mirrored to central (unknown devices' are not), and
 * the gateway applies a signed store document to itself, reports it in its
 * central status, and reports a badly signed one as "signature" while the
 * running value stays. Readers are rg_mqtt clients (full payloads, retain
 * flags); IT publishes with the harness's test client.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cJSON.h>

#include "common/log.h"
#include "common/mqtt.h"
#include "gw_fixture.h"
#include "common/clock.h"
#include "rgclient.h"
#include "tb_assert.h"

#define STORE "0042"
#define GW "gw-0042"
#define DEV1 "dev-0042-k1" /* in known_devices */
#define DEV2 "dev-0042-k2" /* not in known_devices */
#define DEV3 "dev-0042-k3" /* in known_devices; reads the store-wide topics */
#define IT_ID "it-ops"	   /* IT tooling (regularsctl config) */
#define WAIT_MS 15000

#define C_TENANT "rg/v1/config/tenant"
#define C_STORE "rg/v1/config/store/" STORE
#define C_DEV1 "rg/v1/config/device/" STORE "/" DEV1
#define C_GW "rg/v1/config/device/" STORE "/" GW
#define C_KEYS2 "rg/v1/config/keys/2"
#define S_TENANT "rg/v1/s/" STORE "/config/tenant"
#define S_STORE "rg/v1/s/" STORE "/config/store"
#define S_KEYS2 "rg/v1/s/" STORE "/config/keys/2"
#define S_DEV1 "rg/v1/s/" STORE "/d/" DEV1 "/config"
#define G_STATUS "rg/v1/g/" GW "/status"
#define G_DEV1 "rg/v1/g/" GW "/d/" DEV1 "/status"
#define G_DEV2 "rg/v1/g/" GW "/d/" DEV2 "/status"

static const char *gateway_bin;

/* ---- watchers: rg_mqtt clients keeping every topic's latest message ---- */

#define SEEN_MAX 32

struct seen {
	char topic[RG_MQTT_TOPIC_MAX];
	char *payload; /* NUL-terminated copy */
	size_t len;
	bool retained;
	int64_t seq; /* order of arrival over all topics */
};

struct watcher {
	struct tb_rgclient cl; /* cl.mu guards seen, n and seq */
	struct seen seen[SEEN_MAX];
	size_t n;
	int64_t seq;
};

static void w_message(void *ctx, const struct rg_mqtt_msg *m)
{
	struct watcher *w = ctx;
	struct seen *s = NULL;
	pthread_mutex_lock(&w->cl.mu);
	for (size_t i = 0; i < w->n; i++)
		if (!strcmp(w->seen[i].topic, m->topic))
			s = &w->seen[i];
	if (!s && w->n < SEEN_MAX) {
		s = &w->seen[w->n++];
		snprintf(s->topic, sizeof s->topic, "%s", m->topic);
	}
	if (s) {
		free(s->payload);
		s->payload = malloc(m->len + 1);
		if (s->payload) {
			memcpy(s->payload, m->payload, m->len);
			s->payload[m->len] = '\0';
		}
		s->len = m->len;
		s->retained = m->retain;
		s->seq = ++w->seq;
	}
	pthread_cond_broadcast(&w->cl.cv);
	pthread_mutex_unlock(&w->cl.mu);
}

struct fx {
	struct tb_env *env;
	struct tb_broker *store, *central;
	char cfg[PATH_MAX], log[PATH_MAX], spool[PATH_MAX], anchor[PATH_MAX];
	char ca[PATH_MAX];
	pid_t gw;
	struct tb_client *it;
	struct gwfx_cfgkeys keys;
};

static struct watcher *watch(struct fx *f, const struct tb_broker *b, const char *identity,
			     const char *f1, const char *f2, const char *f3)
{
	const char *filters[] = {f1, f2, f3, NULL};
	struct watcher *w = calloc(1, sizeof *w);
	assert_non_null(w);
	/* Connected (and subscribed: rg_mqtt's thread sends the SUBSCRIBEs
	 * before anything this thread publishes next). */
	if (tb_rgclient_start(&w->cl, f->env, b, identity, filters, w_message, w, WAIT_MS) < 0)
		fail_msg("%s never connected to port %u", identity, tb_broker_port(b));
	return w;
}

static void watch_free(struct watcher *w)
{
	if (!w)
		return;
	tb_rgclient_stop(&w->cl);
	for (size_t i = 0; i < w->n; i++)
		free(w->seen[i].payload);
	free(w);
}

/* Wait until topic's latest message satisfies pred (NULL: has exactly the
 * bytes want) and, if retained, came as a retained message. Returns a copy
 * of what matched (free) and its sequence number in *seq (may be NULL). */
typedef bool (*pred_fn)(const char *payload, size_t len, const void *ctx);

static char *watch_until(struct watcher *w, const char *topic, pred_fn pred, const void *want,
			 bool retained, int64_t *seq)
{
	struct timespec t;
	char *got = NULL, *last = NULL;
	rg_deadline_ms(&t, WAIT_MS);
	pthread_mutex_lock(&w->cl.mu);
	for (;;) {
		for (size_t i = 0; i < w->n && !got; i++) {
			struct seen *s = &w->seen[i];
			if (strcmp(s->topic, topic) || !s->payload)
				continue;
			last = s->payload;
			bool ok = pred
				      ? pred(s->payload, s->len, want)
				      : s->len == strlen(want) && !memcmp(s->payload, want, s->len);
			if (ok && (!retained || s->retained)) {
				got = strdup(s->payload);
				if (seq)
					*seq = s->seq;
			}
		}
		if (got)
			break;
		if (pthread_cond_timedwait(&w->cl.cv, &w->cl.mu, &t) == ETIMEDOUT) {
			pthread_mutex_unlock(&w->cl.mu);
			fail_msg("%s: no matching%s message within %d ms; last \"%.300s\"", topic,
				 retained ? " retained" : "", WAIT_MS, last ? last : "(none)");
		}
	}
	pthread_mutex_unlock(&w->cl.mu);
	return got;
}

static void expect_bytes(struct watcher *w, const char *topic, const char *want, bool retained)
{
	free(watch_until(w, topic, NULL, want, retained, NULL));
}

/* Whether topic was seen at all, and its sequence number. */
static bool watch_seen(struct watcher *w, const char *topic, int64_t *seq, size_t *len)
{
	bool found = false;
	pthread_mutex_lock(&w->cl.mu);
	for (size_t i = 0; i < w->n; i++)
		if (!strcmp(w->seen[i].topic, topic)) {
			found = true;
			*seq = w->seen[i].seq;
			*len = w->seen[i].len;
		}
	pthread_mutex_unlock(&w->cl.mu);
	return found;
}

/* ---- the gateway process ---- */

static void write_config(struct fx *f)
{
	char crt[PATH_MAX], key[PATH_MAX];
	FILE *o;
	assert_int_equal(tb_env_file(f->env, GW, ".crt", crt, sizeof crt), 0);
	assert_int_equal(tb_env_file(f->env, GW, ".key", key, sizeof key), 0);
	assert_non_null(o = fopen(f->cfg, "w"));
	fprintf(o,
		"{\"store_id\":\"%s\",\"identity\":\"%s\","
		"\"store_broker\":{\"host\":\"localhost\",\"port\":%u},"
		"\"central_broker\":{\"host\":\"localhost\",\"port\":%u},"
		"\"tls\":{\"ca_file\":\"%s\",\"cert_file\":\"%s\",\"key_file\":\"%s\"},"
		"\"spool\":{\"path\":\"%s\"},"
		"\"forward\":{\"resend_ms\":3000,\"reconnect_max_ms\":1000},"
		"\"known_devices\":[\"%s\",\"%s\"],"
		"\"config\":{\"trust_anchor\":\"%s\"},"
		"\"stats_interval_s\":1}\n",
		STORE, GW, tb_broker_port(f->store), tb_broker_port(f->central), f->ca, crt, key,
		f->spool, DEV1, DEV3, f->anchor);
	fclose(o);
}

static void gw_start(struct fx *f)
{
	f->gw = gwfx_spawn(gateway_bin, f->cfg, f->log);
	assert_true(f->gw > 0);
}

static int gw_stop(struct fx *f)
{
	int64_t end = tb_now_ms() + WAIT_MS;
	int st;
	kill(f->gw, SIGTERM);
	while (tb_now_ms() < end) {
		if (waitpid(f->gw, &st, WNOHANG) == f->gw) {
			f->gw = -1;
			return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
		}
		tb_env_pump(f->env, 5);
	}
	return -1;
}

static int log_count(struct fx *f, const char *needle)
{
	char *log = gwfx_slurp(f->log);
	int n = 0;
	for (char *p = log ? strstr(log, needle) : NULL; p; p = strstr(p + 1, needle))
		n++;
	free(log);
	return n;
}

/* Wait until the gateway's log holds needle at least n times. */
static void wait_log(struct fx *f, const char *needle, int n)
{
	for (int64_t end = tb_now_ms() + WAIT_MS; log_count(f, needle) < n;) {
		if (tb_now_ms() > end)
			fail_msg("no \"%s\" (x%d) in the gateway log %s", needle, n, f->log);
		tb_env_pump(f->env, 20);
	}
}

/* ---- IT ---- */

/* IT tooling: an `it` identity, whose central ACL lines (write and read
 * rg/v1/config/#) the PKI generates (docs/topics.md). */
static void connect_it(struct fx *f)
{
	f->it = tb_connect_as(f->env, f->central, IT_ID);
}

static void it_publish(struct fx *f, const char *topic, const char *payload)
{
	int reason = -1;
	assert_int_equal(tb_client_publish(f->it, topic, payload, 1, true, &reason), 0);
	if (reason != RC_OK && reason != RC_NO_SUBSCRIBERS)
		fail_msg("IT's publish on %s refused: %d", topic, reason);
}

static char *doc(struct fx *f, size_t key, const char *scope, const char *device, int64_t version,
		 const char *settings)
{
	char *e =
	    gwfx_cfg_envelope(&f->keys, key, "acme", scope, strcmp(scope, "tenant") ? STORE : NULL,
			      device, version, time(NULL), settings);
	assert_non_null(e);
	assert_true(strlen(e) < 4000);
	return e;
}

/* ---- fixture ---- */

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof *f);
	if (!f || gwfx_setup(NULL) < 0 || tb_env_create(&f->env, "acme") < 0)
		return -1;
	rg_log_set_level(RG_LOG_OFF);
	if (tb_env_issue(f->env, PKI_KIND_GATEWAY, GW, STORE) < 0 ||
	    tb_env_issue(f->env, PKI_KIND_CLOUD, "cloud-1", NULL) < 0 ||
	    tb_env_issue(f->env, PKI_KIND_IT, IT_ID, NULL) < 0 ||
	    tb_env_issue(f->env, PKI_KIND_DEVICE, DEV1, STORE) < 0 ||
	    tb_env_issue(f->env, PKI_KIND_DEVICE, DEV2, STORE) < 0 ||
	    tb_env_issue(f->env, PKI_KIND_DEVICE, DEV3, STORE) < 0)
		return -1;
	if (tb_broker_start(f->env, PKI_BROKER_STORE, STORE, &f->store) < 0 ||
	    tb_broker_start(f->env, PKI_BROKER_CENTRAL, NULL, &f->central) < 0)
		return -1;
	snprintf(f->cfg, sizeof f->cfg, "%s/gateway.json", tb_env_dir(f->env));
	snprintf(f->log, sizeof f->log, "%s/gateway.log", tb_env_dir(f->env));
	snprintf(f->spool, sizeof f->spool, "%s/spool.db", tb_env_dir(f->env));
	snprintf(f->anchor, sizeof f->anchor, "%s/config-trust.json", tb_env_dir(f->env));
	if (tb_env_file(f->env, "ca", ".crt", f->ca, sizeof f->ca) < 0 ||
	    gwfx_cfg_keys(&f->keys, "acme", 1) < 0 ||
	    gwfx_cfg_anchor_write(&f->keys, f->anchor) < 0)
		return -1;
	f->gw = -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	if (!f)
		return 0;
	if (f->gw > 0) {
		kill(f->gw, SIGKILL);
		waitpid(f->gw, NULL, 0);
	}
	if (getenv("TB_KEEP"))
		fprintf(stderr, "gateway log: %s\n", f->log);
	gwfx_cfg_keys_free(&f->keys);
	tb_env_free(f->env);
	gwfx_teardown(NULL);
	free(f);
	return 0;
}

/* The store broker loses everything: SIGKILL, its persistence file gone. */
static void store_broker_amnesia(struct fx *f)
{
	char db[PATH_MAX];
	assert_int_equal(tb_broker_kill(f->store), 0);
	snprintf(db, sizeof db, "%s/data/mosquitto.db", tb_broker_dir(f->store));
	unlink(db);
	assert_int_equal(tb_broker_restart(f->store), 0);
}

/* A fresh DEV3 on the store broker sees exactly these retained documents. */
static void expect_store_retained(struct fx *f, const char *tenant, const char *store,
				  const char *keys)
{
	/* First wait for the gateway to (re)publish them, then prove they are
	 * retained with a subscriber that connects afterwards. */
	struct watcher *w = watch(f, f->store, DEV3, "rg/v1/s/" STORE "/config/#", NULL, NULL);
	expect_bytes(w, S_TENANT, tenant, false);
	expect_bytes(w, S_STORE, store, false);
	expect_bytes(w, S_KEYS2, keys, false);
	watch_free(w);
	w = watch(f, f->store, DEV3, "rg/v1/s/" STORE "/config/#", NULL, NULL);
	expect_bytes(w, S_TENANT, tenant, true);
	expect_bytes(w, S_STORE, store, true);
	expect_bytes(w, S_KEYS2, keys, true);
	watch_free(w);
}

/* ---- predicates on the gateway's central status ---- */

struct scope_want {
	const char *scope, *status, *reason;
	int version;
};

static bool status_has(const char *payload, size_t len, const void *ctx)
{
	const struct scope_want *want = ctx;
	cJSON *root = cJSON_ParseWithLength(payload, len);
	const cJSON *sc = cJSON_GetObjectItem(cJSON_GetObjectItem(root, "config"), want->scope);
	const cJSON *st = cJSON_GetObjectItem(sc, "status"),
		    *v = cJSON_GetObjectItem(sc, "version"), *r = cJSON_GetObjectItem(sc, "reason");
	bool ok = cJSON_IsTrue(cJSON_GetObjectItem(root, "online")) && cJSON_IsString(st) &&
		  !strcmp(st->valuestring, want->status) && cJSON_IsNumber(v) &&
		  v->valueint == want->version &&
		  (!want->reason || (cJSON_IsString(r) && !strcmp(r->valuestring, want->reason)));
	cJSON_Delete(root);
	return ok;
}

/* ---- tests ---- */

static void documents_reach_the_store_broker_retained_byte_for_byte_across_restarts(void **state)
{
	struct fx *f = *state;
	char *t1 = doc(f, 0, "tenant", NULL, 1, "{\"screen\":{\"idle_after_ms\":9000}}");
	char *t2 = doc(f, 0, "tenant", NULL, 2, "{\"screen\":{\"idle_after_ms\":7000}}");
	char *s1 = doc(f, 0, "store", NULL, 1, "{\"screen\":{\"privacy\":\"first_name\"}}");
	char *d1 = doc(f, 0, "device", DEV1, 1, "{\"screen\":{\"public_items_max\":1}}");
	char *other =
	    gwfx_cfg_envelope(&f->keys, 0, "acme", "store", "0043", NULL, 1, time(NULL), "{}");
	/* The gateway relays without verifying: any bytes go through. */
	static const char k2[] = "{\"payload\":\"relayed as it is\",\"signatures\":[]}";
	char *big = malloc(CFGDOC_ENVELOPE_MAX + 2);
	struct watcher *dev1;
	int64_t seq_t2, seq = 0;
	size_t len = 0;

	assert_non_null(other);
	assert_non_null(big);
	memset(big, 'x', CFGDOC_ENVELOPE_MAX + 1);
	big[CFGDOC_ENVELOPE_MAX + 1] = '\0';

	connect_it(f);
	write_config(f);
	gw_start(f);
	it_publish(f, C_TENANT, t1);
	it_publish(f, C_STORE, s1);
	it_publish(f, C_KEYS2, k2);
	it_publish(f, C_DEV1, d1);

	/* The device's view: the store-wide documents and its own. */
	dev1 = watch(f, f->store, DEV1, "rg/v1/s/" STORE "/config/#", S_DEV1, NULL);
	expect_bytes(dev1, S_DEV1, d1, false);
	expect_store_retained(f, t1, s1, k2);

	/* Another store's document is not relayed: IT publishes it, then a new
	 * tenant document as a marker; the store document stays s1. */
	it_publish(f, "rg/v1/config/store/0043", other);
	it_publish(f, C_TENANT, t2);
	free(watch_until(dev1, S_TENANT, NULL, t2, false, &seq_t2));
	expect_bytes(dev1, S_STORE, s1, false);

	/* Too large: not relayed, logged, counted. */
	it_publish(f, "rg/v1/config/device/" STORE "/" DEV3, big);
	wait_log(f, "event=config_not_relayed reason=too_large", 1);

	/* A clear is relayed as a clear. */
	it_publish(f, C_DEV1, "");
	free(watch_until(dev1, S_DEV1, NULL, "", false, NULL));
	watch_free(dev1);

	/* The store broker forgets everything: the gateway publishes it all
	 * again when it reconnects, the clear included. */
	store_broker_amnesia(f);
	expect_store_retained(f, t2, s1, k2);
	dev1 = watch(f, f->store, DEV1, S_DEV1, "rg/v1/s/" STORE "/config/tenant", NULL);
	free(watch_until(dev1, S_TENANT, NULL, t2, true, &seq_t2));
	/* Its own topic was subscribed first: a retained document there would
	 * have come before the tenant's. */
	assert_false(watch_seen(dev1, S_DEV1, &seq, &len) && len > 0 && seq < seq_t2);
	watch_free(dev1);

	/* The gateway restarts while the store broker forgets again: the
	 * central broker's retained documents come back through it. */
	assert_int_equal(gw_stop(f), 0);
	store_broker_amnesia(f);
	gw_start(f);
	expect_store_retained(f, t2, s1, k2);
	wait_log(f, "event=started", 2);
	assert_int_equal(log_count(f, "event=config_relayed topic=rg/v1/s/0043"), 0);
	/* Only device keys in these documents: nothing for the gateway itself. */
	assert_int_equal(log_count(f, "event=settings_applied"), 0);

	assert_int_equal(gw_stop(f), 0);
	free(t1);
	free(t2);
	free(s1);
	free(d1);
	free(other);
	free(big);
}

static void device_statuses_are_mirrored_to_central_for_known_devices_only(void **state)
{
	struct fx *f = *state;
	static const char on1[] = "{\"online\":true,\"config\":{\"store\":{\"status\":\"applied\","
				  "\"version\":3}}}";
	static const char on2[] = "{\"online\":true,\"n\":2}";
	static const char off1[] = "{\"online\":false}";
	struct watcher *cloud, *dev1;
	struct tb_client *dev2;
	int64_t seq = 0;
	size_t len = 0;

	write_config(f);
	gw_start(f);
	dev1 = watch(f, f->store, DEV1, S_DEV1, NULL, NULL);
	cloud = watch(f, f->central, "cloud-1", "rg/v1/g/" GW "/d/+/status", NULL, NULL);
	assert_int_equal(rg_mqtt_publish(dev1->cl.c, "rg/v1/s/" STORE "/d/" DEV1 "/status", on1,
					 sizeof on1 - 1, 1, true, NULL),
			 0);
	expect_bytes(cloud, G_DEV1, on1, false);

	/* An unknown device's status stays in the store. */
	dev2 = tb_connect_as(f->env, f->store, DEV2);
	int reason = -1;
	assert_int_equal(
	    tb_client_publish(dev2, "rg/v1/s/" STORE "/d/" DEV2 "/status", on2, 1, true, &reason),
	    0);
	wait_log(f, "event=status_not_mirrored reason=unknown_device", 1);
	assert_int_equal(rg_mqtt_publish(dev1->cl.c, "rg/v1/s/" STORE "/d/" DEV1 "/status", off1,
					 sizeof off1 - 1, 1, true, NULL),
			 0);
	expect_bytes(cloud, G_DEV1, off1, false);
	assert_false(watch_seen(cloud, G_DEV2, &seq, &len));
	watch_free(cloud);

	/* Retained on central, and again after central forgets it all. */
	cloud = watch(f, f->central, "cloud-1", G_DEV1, NULL, NULL);
	expect_bytes(cloud, G_DEV1, off1, true);
	watch_free(cloud);
	assert_int_equal(tb_broker_kill(f->central), 0);
	{
		char db[PATH_MAX];
		snprintf(db, sizeof db, "%s/data/mosquitto.db", tb_broker_dir(f->central));
		unlink(db);
	}
	assert_int_equal(tb_broker_restart(f->central), 0);
	cloud = watch(f, f->central, "cloud-1", G_DEV1, NULL, NULL);
	expect_bytes(cloud, G_DEV1, off1, false); /* republished after the reconnect */
	watch_free(cloud);
	cloud = watch(f, f->central, "cloud-1", G_DEV1, NULL, NULL);
	expect_bytes(cloud, G_DEV1, off1, true);
	watch_free(cloud);

	watch_free(dev1);
	assert_int_equal(gw_stop(f), 0);
	wait_log(f, "status_unknown_device=1", 1);
}

static void the_gateway_applies_a_signed_store_document_and_reports_a_bad_one(void **state)
{
	struct fx *f = *state;
	char *s1 = doc(f, 0, "store", NULL, 1,
		       "{\"gateway\":{\"forward\":{\"resend_ms\":4000}},"
		       "\"screen\":{\"privacy\":\"anonymous\"}}");
	char *s2 = doc(f, 1, "store", NULL, 2, "{\"gateway\":{\"forward\":{\"resend_ms\":7000}}}");
	struct scope_want applied = {"store", "applied", NULL, 1};
	struct scope_want rejected = {"store", "rejected", "signature", 1};
	struct watcher *cloud;

	connect_it(f);
	write_config(f);
	gw_start(f);
	cloud = watch(f, f->central, "cloud-1", G_STATUS, NULL, NULL);
	/* Before any document: the report says none. */
	struct scope_want none = {"store", "none", NULL, 0};
	free(watch_until(cloud, G_STATUS, status_has, &none, false, NULL));

	it_publish(f, C_STORE, s1);
	free(watch_until(cloud, G_STATUS, status_has, &applied, false, NULL));
	wait_log(f, "event=settings_applied", 1);
	wait_log(f, "resend_ms=4000", 1);

	/* Signed by a key the anchor does not trust: refused, reported, and
	 * the running value stays. */
	it_publish(f, C_STORE, s2);
	free(watch_until(cloud, G_STATUS, status_has, &rejected, false, NULL));
	assert_int_equal(log_count(f, "resend_ms=7000"), 0);
	assert_int_equal(log_count(f, "event=settings_applied"), 1);
	watch_free(cloud);

	/* The gateway's own device document wins over the store's, and is not
	 * relayed to the store broker. */
	char *g1 = doc(f, 0, "device", GW, 1,
		       "{\"gateway\":{\"forward\":{\"resend_ms\":5000,\"reconnect_max_ms\":2500}}}");
	it_publish(f, C_GW, g1);
	wait_log(f, "resend_ms=5000 reconnect_max_ms=2500", 1); /* live, no restart_needed */
	assert_int_equal(log_count(f, "event=restart_needed"), 0);

	/* A restart runs the applied settings before it reaches a broker. */
	assert_int_equal(gw_stop(f), 0);
	gw_start(f);
	wait_log(f, "event=started", 2);
	{
		char *log = gwfx_slurp(f->log), *p = log, *last = NULL;
		while ((p = strstr(p, "event=started")))
			last = p++;
		assert_non_null(last);
		assert_non_null(strstr(last, "resend_ms=5000"));
		free(log);
	}
	cloud = watch(f, f->central, "cloud-1", G_STATUS, NULL, NULL);
	struct scope_want dev = {"device", "applied", NULL, 1};
	free(watch_until(cloud, G_STATUS, status_has, &dev, false, NULL));
	watch_free(cloud);
	assert_int_equal(gw_stop(f), 0);
	free(s1);
	free(s2);
	free(g1);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(
		documents_reach_the_store_broker_retained_byte_for_byte_across_restarts, setup,
		teardown),
	    cmocka_unit_test_setup_teardown(
		device_statuses_are_mirrored_to_central_for_known_devices_only, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		the_gateway_applies_a_signed_store_document_and_reports_a_bad_one, setup, teardown),
	};
	if (argc < 2) {
		fprintf(stderr, "usage: %s PATH-TO-regulars-gateway\n", argv[0]);
		return 2;
	}
	gateway_bin = argv[1];
	if (getenv("GW_TEST_FILTER"))
		cmocka_set_test_filter(getenv("GW_TEST_FILTER"));
	return cmocka_run_group_tests(tests, NULL, NULL);
}
