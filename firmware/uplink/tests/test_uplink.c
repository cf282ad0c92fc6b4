/*
 * test_uplink.c - the device uplink against a real store broker and a real
 * store file, with the test playing the gateway (gw-0042, an rg_mqtt client
 * on rg/v1/s/0042/d/+/up/# and req/#, answering with receipts, acks and
 * lookup results). Proves: batches per lane in outbox order; rows deleted
 * only on an ack (not on PUBACK, not on a receipt); a broker SIGKILL and
 * restart mid-stream loses nothing and the outbox drains; an ack for another
 * device is ignored; spool_full backs off and resends; an unanswered batch is
 * resent after resend_ms; lookups round-trip, miss, time out, and fail fast
 * while offline; a batch without its receipt is resent before newer
 * rows go (per-lane order into the spool); and pushed configuration: the
 * documents the gateway keeps retained reach on_config with the scope their
 * topic names, the retained status carries the daemon's report, and the
 * sync parameters change while running.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/cfgdoc.h"
#include "common/err.h"
#include "common/mqtt.h"
#include "common/wire.h"
#include "firmware/store.h"
#include "firmware/uplink.h"
#include "testbroker.h"

#define STORE "0042"
#define S "rg/v1/s/0042"
#define GW "gw-0042"
#define WAIT_MS 10000
#define QMAX 2048

struct gmsg {
	char topic[RG_MQTT_TOPIC_MAX];
	char *payload;
	size_t len;
	char rt[RG_MQTT_TOPIC_MAX];
	bool taken;
};

/* The test's gateway: queues what it receives; answers lookups itself. */
struct gw {
	pthread_mutex_t mu;
	struct rg_mqtt *c;
	struct gmsg q[QMAX];
	size_t n;
	int lookups; /* requests seen */
};

struct dev;

struct fixture {
	struct tb_env *env;
	struct tb_broker *broker;
	char ca[512], dir[512];
	int next_dev;
};

static struct fixture *F;
static struct gw *cur_gw; /* freed by the per-test teardown if a test failed */
static struct dev *cur_dev;

static const char PROFILE[] =
    "{\"id\":\"p-77\",\"version\":3,\"hlc\":\"1763881290123.0\",\"body\":{\"first\":\"Ann\"}}";

/* ---- the gateway ---- */

static void gw_on_connect(void *ctx, bool present)
{
	struct gw *g = ctx;
	(void)present;
	rg_mqtt_subscribe(g->c, S "/d/+/up/#", 1);
	rg_mqtt_subscribe(g->c, S "/d/+/req/#", 1);
	rg_mqtt_subscribe(g->c, S "/d/+/status", 1);
}

static void gw_on_message(void *ctx, const struct rg_mqtt_msg *m)
{
	struct gw *g = ctx;
	if (strstr(m->topic, "/req/lookup") && m->response_topic && m->corr) {
		/* token aa..: found; bb..: not found; anything else: no answer */
		char ans[512];
		const char *tok = strstr((const char *)m->payload, "\"token\":\"");
		int n = -1;
		if (tok && !strncmp(tok + 9, "aa", 2))
			n = snprintf(ans, sizeof ans,
				     "{\"v\":1,\"type\":\"lookup_result\",\"found\":true,"
				     "\"profile\":%s}",
				     PROFILE);
		else if (tok && !strncmp(tok + 9, "bb", 2))
			n = snprintf(ans, sizeof ans,
				     "{\"v\":1,\"type\":\"lookup_result\",\"found\":false}");
		if (n > 0)
			rg_mqtt_request(g->c, m->response_topic, ans, (size_t)n, NULL, m->corr,
					m->corr_len, NULL);
		pthread_mutex_lock(&g->mu);
		g->lookups++;
		pthread_mutex_unlock(&g->mu);
		return;
	}
	pthread_mutex_lock(&g->mu);
	if (g->n < QMAX) {
		struct gmsg *x = &g->q[g->n];
		snprintf(x->topic, sizeof x->topic, "%s", m->topic);
		x->payload = malloc(m->len + 1);
		if (x->payload) {
			memcpy(x->payload, m->payload, m->len);
			x->payload[m->len] = '\0';
			x->len = m->len;
			g->n++;
		}
	}
	pthread_mutex_unlock(&g->mu);
}

/* The gateway subscribes from its on_connect: a probe device publishes on
 * its own uplink until the PUBACK says a subscriber took it (0, not 16). */
static void gw_wait_subscribed(void)
{
	struct tb_client_opts o = {.identity = "dev-0042-probe"};
	struct tb_client *p;
	int reason = -1;
	int64_t end = tb_now_ms() + WAIT_MS;
	assert_int_equal(tb_client_new(F->env, &o, &p), 0);
	assert_int_equal(tb_client_connect(p, F->broker, &reason), 0);
	do {
		assert_true(tb_now_ms() < end);
		assert_int_equal(tb_client_publish(p, S "/d/dev-0042-probe/up/telemetry", "{}", 1,
						   false, &reason),
				 0);
	} while (reason != 0);
	tb_client_free(p);
}

static struct gw *gw_start(void)
{
	struct gw *g = calloc(1, sizeof *g);
	char cert[512], key[512];
	assert_non_null(g);
	pthread_mutex_init(&g->mu, NULL);
	assert_int_equal(tb_env_file(F->env, GW, ".crt", cert, sizeof cert), 0);
	assert_int_equal(tb_env_file(F->env, GW, ".key", key, sizeof key), 0);
	struct rg_mqtt_config cfg = {.name = "test-gw",
				     .host = "localhost",
				     .port = (int)tb_broker_port(F->broker),
				     .client_id = GW,
				     .ca_file = F->ca,
				     .cert_file = cert,
				     .key_file = key,
				     .clean_start = true,
				     .backoff_min_ms = 50,
				     .backoff_max_ms = 300};
	struct rg_mqtt_handlers h = {.on_connect = gw_on_connect, .on_message = gw_on_message};
	assert_int_equal(rg_mqtt_new(&cfg, &h, g, &g->c), 0);
	assert_int_equal(rg_mqtt_start(g->c), 0);
	gw_wait_subscribed();
	cur_gw = g;
	return g;
}

static void gw_free(struct gw *g)
{
	cur_gw = NULL;
	rg_mqtt_free(g->c);
	for (size_t i = 0; i < g->n; i++)
		free(g->q[i].payload);
	pthread_mutex_destroy(&g->mu);
	free(g);
}

static void nap(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

/* The oldest message not yet taken whose topic starts with prefix (others
 * stay for later calls). NULL on timeout. */
static struct gmsg *gw_next(struct gw *g, const char *prefix, int timeout_ms)
{
	int64_t end = tb_now_ms() + timeout_ms;
	for (;;) {
		pthread_mutex_lock(&g->mu);
		for (size_t i = 0; i < g->n; i++) {
			struct gmsg *x = &g->q[i];
			if (!x->taken && !strncmp(x->topic, prefix, strlen(prefix))) {
				x->taken = true;
				pthread_mutex_unlock(&g->mu);
				return x;
			}
		}
		pthread_mutex_unlock(&g->mu);
		if (tb_now_ms() > end)
			return NULL;
		nap(2); /* polling an in-memory queue, bounded by the deadline */
	}
}

static void gw_pub(struct gw *g, const char *topic, const char *payload)
{
	int64_t end = tb_now_ms() + WAIT_MS;
	int rc;
	while ((rc = rg_mqtt_publish(g->c, topic, payload, strlen(payload), 1, false, NULL)) ==
		   RG_ERR_CLOSED &&
	       tb_now_ms() < end)
		nap(5);
	assert_int_equal(rc, 0);
}

/* ---- the device ---- */

struct dev {
	char id[32], topic[128];
	struct store *store;
	struct uplink *up;
};

static void dev_open(struct dev *d)
{
	static const uint8_t key[STORE_KEY_LEN] = {7};
	char path[600];
	memset(d, 0, sizeof *d);
	snprintf(d->id, sizeof d->id, "dev-0042-t%d", ++F->next_dev);
	snprintf(d->topic, sizeof d->topic, S "/d/%s/", d->id);
	assert_int_equal(tb_env_issue(F->env, PKI_KIND_DEVICE, d->id, STORE), 0);
	snprintf(path, sizeof path, "%s/%s.db", F->dir, d->id);
	struct store_config sc = {.path = path, .key = key, .device_id = d->id, .store_id = STORE};
	assert_int_equal(store_open(&sc, &d->store), 0);
	cur_dev = d;
}

static void dev_start(struct dev *d, int batch_max, int resend_ms)
{
	char cert[512], key[512];
	assert_int_equal(tb_env_file(F->env, d->id, ".crt", cert, sizeof cert), 0);
	assert_int_equal(tb_env_file(F->env, d->id, ".key", key, sizeof key), 0);
	struct uplink_config uc = {.device_id = d->id,
				   .store_id = STORE,
				   .host = "localhost",
				   .port = (int)tb_broker_port(F->broker),
				   .ca_file = F->ca,
				   .cert_file = cert,
				   .key_file = key,
				   .batch_max = batch_max,
				   .resend_ms = resend_ms,
				   .lookup_timeout_ms = 2000,
				   .store = d->store,
				   .backoff_min_ms = 50,
				   .backoff_max_ms = 300};
	assert_int_equal(uplink_start(&uc, &d->up), 0);
}

static void dev_close(struct dev *d)
{
	cur_dev = NULL;
	uplink_stop(d->up);
	d->up = NULL;
	store_close(d->store);
	d->store = NULL;
}

static int test_teardown(void **state)
{
	(void)state;
	if (cur_dev)
		dev_close(cur_dev);
	if (cur_gw)
		gw_free(cur_gw);
	return 0;
}

static void append(struct dev *d, enum rg_kind kind, struct rg_uuid *id)
{
	static const char body[] = "{\"channel\":\"kiosk\"}";
	struct store_event ev = {.kind = kind,
				 .profile_id = kind == RG_KIND_TELEMETRY ? NULL : "p-1",
				 .body = body,
				 .body_len = sizeof body - 1};
	struct store_outbox_ref ref;
	assert_int_equal(store_outbox_append(d->store, &ev, &ref), 0);
	if (id)
		*id = ref.id;
	if (d->up)
		uplink_notify(d->up);
}

static struct uplink_status status(struct dev *d)
{
	struct uplink_status st;
	uplink_status_get(d->up, &st);
	return st;
}

#define WAIT_STATUS(d, cond)                                                                       \
	do {                                                                                       \
		int64_t end_ = tb_now_ms() + WAIT_MS;                                              \
		struct uplink_status st;                                                           \
		for (;;) {                                                                         \
			st = status(d);                                                            \
			if ((cond) || tb_now_ms() > end_)                                          \
				break;                                                             \
			nap(2);                                                                    \
		}                                                                                  \
		if (!(cond))                                                                       \
			fail_msg("timed out waiting for %s", #cond);                               \
	} while (0)

#define WAIT_COUNT(d, n)                                                                           \
	do {                                                                                       \
		int64_t end_ = tb_now_ms() + WAIT_MS;                                              \
		while (store_outbox_count((d)->store) != (n) && tb_now_ms() < end_)                \
			nap(2);                                                                    \
		assert_int_equal(store_outbox_count((d)->store), (n));                             \
	} while (0)

/* Take the device's next batch on lane (NULL: any lane); parsed into b. */
static struct gmsg *next_batch(struct gw *g, struct dev *d, const char *lane,
			       struct rg_wire_batch *b)
{
	char prefix[200], err[256];
	snprintf(prefix, sizeof prefix, "%sup/%s", d->topic, lane ? lane : "");
	struct gmsg *m = gw_next(g, prefix, WAIT_MS);
	if (!m)
		fail_msg("no batch on %s", prefix);
	if (rg_wire_batch_parse(m->payload, m->len, b, err, sizeof err) < 0)
		fail_msg("batch does not parse: %s", err);
	assert_string_equal(b->device, d->id);
	assert_string_equal(b->store, STORE);
	for (size_t i = 0; i < b->n_items; i++)
		assert_string_equal(rg_lane_name(rg_kind_lane(b->items[i].kind)),
				    strrchr(m->topic, '/') + 1);
	return m;
}

static void send_ack(struct gw *g, struct dev *d, const char *device, const struct rg_wire_batch *b)
{
	struct rg_uuid ids[RG_WIRE_MAX_ITEMS];
	char topic[200], *doc;
	size_t len;
	for (size_t i = 0; i < b->n_items; i++)
		ids[i] = b->items[i].id;
	assert_int_equal(rg_wire_ack_encode(device, &b->batch_id, ids, b->n_items, &doc, &len), 0);
	snprintf(topic, sizeof topic, "%sdown/ack", d->topic);
	gw_pub(g, topic, doc);
	free(doc);
}

static void send_receipt(struct gw *g, struct dev *d, const struct rg_wire_batch *b,
			 const char *tail)
{
	char topic[200], doc[300], id[RG_UUID_STR_LEN + 1];
	snprintf(topic, sizeof topic, "%sdown/receipt", d->topic);
	snprintf(doc, sizeof doc, "{\"v\":1,\"type\":\"receipt\",\"batch\":\"%s\",%s}",
		 rg_uuid_format(&b->batch_id, id), tail);
	gw_pub(g, topic, doc);
}

/* ---- fixture ---- */

static int group_setup(void **state)
{
	struct fixture *f = calloc(1, sizeof *f);
	if (!f || tb_env_create(&f->env, "acme") < 0)
		return -1;
	if (tb_env_issue(f->env, PKI_KIND_GATEWAY, GW, STORE) < 0 ||
	    tb_env_issue(f->env, PKI_KIND_DEVICE, "dev-0042-probe", STORE) < 0 ||
	    tb_broker_start(f->env, PKI_BROKER_STORE, STORE, &f->broker) < 0 ||
	    tb_env_file(f->env, "ca", ".crt", f->ca, sizeof f->ca) < 0)
		return -1;
	snprintf(f->dir, sizeof f->dir, "%s", tb_env_dir(f->env));
	F = f;
	*state = f;
	return 0;
}

static int group_teardown(void **state)
{
	struct fixture *f = *state;
	if (f)
		tb_env_free(f->env);
	free(f);
	return 0;
}

/* ---- tests ---- */

static void batches_per_lane_in_order_deleted_only_on_ack(void **state)
{
	(void)state;
	struct gw *g = gw_start();
	static struct dev d;
	struct rg_uuid want[8];
	static const enum rg_kind kinds[8] = {
	    RG_KIND_IDENTIFIED,	    RG_KIND_NOTE,	RG_KIND_ERASURE_REQUESTED,
	    RG_KIND_TELEMETRY,	    RG_KIND_IDENTIFIED, RG_KIND_CONSENT_CHANGED,
	    RG_KIND_EPISODE_OPENED, RG_KIND_NOTE,
	};
	dev_open(&d);
	for (int i = 0; i < 8; i++)
		append(&d, kinds[i], &want[i]);
	dev_start(&d, 100, 60000);

	/* Its status says online (retained, with the Will as its opposite). */
	char st_topic[200];
	snprintf(st_topic, sizeof st_topic, "%sstatus", d.topic);
	struct gmsg *sm = gw_next(g, st_topic, WAIT_MS);
	assert_non_null(sm);
	assert_non_null(strstr(sm->payload, "\"online\":true"));

	struct rg_wire_batch bi, bp, bt;
	next_batch(g, &d, "interactions", &bi);
	next_batch(g, &d, "priority", &bp);
	next_batch(g, &d, "telemetry", &bt);
	assert_int_equal(bi.n_items, 5);
	assert_int_equal(bp.n_items, 2);
	assert_int_equal(bt.n_items, 1);
	static const int wi[] = {0, 1, 4, 6, 7}, wp[] = {2, 5};
	for (int i = 0; i < 5; i++)
		assert_int_equal(rg_uuid_cmp(&bi.items[i].id, &want[wi[i]]), 0);
	for (int i = 0; i < 2; i++)
		assert_int_equal(rg_uuid_cmp(&bp.items[i].id, &want[wp[i]]), 0);
	assert_int_equal(rg_uuid_cmp(&bt.items[0].id, &want[3]), 0);

	/* PUBACKed and received: still all in the outbox. Receipts: still. */
	assert_int_equal(store_outbox_count(d.store), 8);
	send_receipt(g, &d, &bi, "\"status\":\"spooled\"");
	send_receipt(g, &d, &bp, "\"status\":\"spooled\"");
	send_receipt(g, &d, &bt, "\"status\":\"spooled\"");
	WAIT_STATUS(&d, st.receipts_spooled == 3);
	assert_int_equal(store_outbox_count(d.store), 8);
	struct store_stats ss;
	assert_int_equal(store_stats_get(d.store, &ss), 0);
	assert_int_equal(ss.outbox_unsent, 0); /* all were marked sent */

	/* The ack deletes exactly its rows. */
	send_ack(g, &d, d.id, &bi);
	WAIT_COUNT(&d, 3);
	send_ack(g, &d, d.id, &bp);
	send_ack(g, &d, d.id, &bt);
	WAIT_COUNT(&d, 0);
	WAIT_STATUS(&d, st.acks_received == 3 && st.rows_acked == 8);
	struct uplink_status st = status(&d);
	assert_true(st.connected);
	assert_true(st.last_ack_ms > 0);
	assert_int_equal(st.batches_sent, 3);
	assert_int_equal(st.rows_sent, 8);

	/* A row appended now goes out promptly (uplink_notify). */
	struct rg_uuid late;
	append(&d, RG_KIND_NOTE, &late);
	struct rg_wire_batch bl;
	next_batch(g, &d, "interactions", &bl);
	assert_int_equal(bl.n_items, 1);
	assert_int_equal(rg_uuid_cmp(&bl.items[0].id, &late), 0);
	send_ack(g, &d, d.id, &bl);
	WAIT_COUNT(&d, 0);

	/* Stopping says offline (retained) on the way out. */
	dev_close(&d);
	sm = gw_next(g, st_topic, WAIT_MS);
	assert_non_null(sm);
	assert_string_equal(sm->payload, "{\"online\":false}");
	rg_wire_batch_free(&bi);
	rg_wire_batch_free(&bp);
	rg_wire_batch_free(&bt);
	rg_wire_batch_free(&bl);
	gw_free(g);
}

static void ack_for_another_device_is_ignored(void **state)
{
	(void)state;
	struct gw *g = gw_start();
	static struct dev d;
	struct rg_wire_batch b;
	dev_open(&d);
	append(&d, RG_KIND_NOTE, NULL);
	append(&d, RG_KIND_NOTE, NULL);
	dev_start(&d, 100, 60000);
	next_batch(g, &d, "interactions", &b);
	assert_int_equal(b.n_items, 2);
	/* Same ids, but it names another device: nothing is deleted. */
	send_ack(g, &d, "dev-0042-other", &b);
	WAIT_STATUS(&d, st.acks_invalid == 1);
	assert_int_equal(store_outbox_count(d.store), 2);
	assert_int_equal(status(&d).rows_acked, 0);
	/* Garbage on the ack topic changes nothing either. */
	char topic[200];
	snprintf(topic, sizeof topic, "%sdown/ack", d.topic);
	gw_pub(g, topic, "{\"v\":1,\"type\":\"ack\"}");
	WAIT_STATUS(&d, st.acks_invalid == 2);
	assert_int_equal(store_outbox_count(d.store), 2);
	send_ack(g, &d, d.id, &b);
	WAIT_COUNT(&d, 0);
	rg_wire_batch_free(&b);
	dev_close(&d);
	gw_free(g);
}

static void spool_full_backs_off_then_resends_the_same_batch(void **state)
{
	(void)state;
	struct gw *g = gw_start();
	static struct dev d;
	struct rg_wire_batch b1, b2;
	dev_open(&d);
	append(&d, RG_KIND_IDENTIFIED, NULL);
	dev_start(&d, 100, 60000); /* the resend timer is far away: only the backoff acts */
	next_batch(g, &d, "interactions", &b1);
	int64_t t0 = tb_now_ms();
	send_receipt(g, &d, &b1, "\"status\":\"refused\",\"reason\":\"spool_full\"");
	WAIT_STATUS(&d, st.receipts_refused == 1);
	next_batch(g, &d, "interactions", &b2);
	int64_t waited = tb_now_ms() - t0;
	/* backoff: 1 s with jitter in [0.5 s, 1 s] */
	assert_true(waited >= 450);
	assert_true(waited < 5000);
	assert_int_equal(rg_uuid_cmp(&b1.batch_id, &b2.batch_id), 0);
	assert_int_equal(b2.n_items, 1);
	assert_int_equal(rg_uuid_cmp(&b1.items[0].id, &b2.items[0].id), 0);
	assert_int_equal(store_outbox_count(d.store), 1); /* kept all along */
	send_receipt(g, &d, &b2, "\"status\":\"spooled\"");
	send_ack(g, &d, d.id, &b2);
	WAIT_COUNT(&d, 0);
	assert_true(status(&d).batches_sent >= 2);
	rg_wire_batch_free(&b1);
	rg_wire_batch_free(&b2);
	dev_close(&d);
	gw_free(g);
}

static void unanswered_batch_is_resent_after_resend_ms(void **state)
{
	(void)state;
	struct gw *g = gw_start();
	static struct dev d;
	struct rg_wire_batch b1, b2;
	dev_open(&d);
	append(&d, RG_KIND_NOTE, NULL);
	dev_start(&d, 100, 1000);
	next_batch(g, &d, "interactions", &b1);
	int64_t t0 = tb_now_ms();
	next_batch(g, &d, "interactions", &b2); /* no receipt, no ack: again */
	assert_true(tb_now_ms() - t0 >= 900);
	assert_int_equal(rg_uuid_cmp(&b1.batch_id, &b2.batch_id), 0);
	assert_int_equal(store_outbox_count(d.store), 1);
	send_ack(g, &d, d.id, &b2);
	WAIT_COUNT(&d, 0);
	rg_wire_batch_free(&b1);
	rg_wire_batch_free(&b2);
	dev_close(&d);
	gw_free(g);
}

/* A batch the gateway never confirmed (say it was killed between the PUBACK
 * and its spool commit) holds newer rows back: it is resent first, and the
 * next batch goes only after its "spooled" receipt, so a lost batch can
 * never be overtaken and the lane reaches the spool in outbox order. */
static void a_batch_without_receipt_is_resent_before_newer_rows(void **state)
{
	(void)state;
	struct gw *g = gw_start();
	static struct dev d;
	struct rg_wire_batch b1, b2, b3;
	dev_open(&d);
	for (int i = 0; i < 6; i++)
		append(&d, RG_KIND_IDENTIFIED, NULL);
	dev_start(&d, 2, 1000); /* three batches' worth of rows */
	next_batch(g, &d, "interactions", &b1);
	assert_int_equal(b1.n_items, 2);
	/* No receipt: the next batch on the lane is the same one, resent. */
	int64_t t0 = tb_now_ms();
	next_batch(g, &d, "interactions", &b2);
	assert_true(tb_now_ms() - t0 >= 900);
	assert_int_equal(rg_uuid_cmp(&b1.batch_id, &b2.batch_id), 0);
	assert_int_equal(rg_uuid_cmp(&b1.items[0].id, &b2.items[0].id), 0);
	rg_wire_batch_free(&b2);
	/* Spooled now: the newer rows follow, after the first two. */
	send_receipt(g, &d, &b1, "\"status\":\"spooled\"");
	next_batch(g, &d, "interactions", &b3);
	assert_int_not_equal(rg_uuid_cmp(&b1.batch_id, &b3.batch_id), 0);
	assert_int_equal(b3.n_items, 2);
	assert_true(rg_uuid_cmp(&b3.items[0].id, &b1.items[1].id) > 0);
	send_receipt(g, &d, &b3, "\"status\":\"spooled\"");
	send_ack(g, &d, d.id, &b1);
	send_ack(g, &d, d.id, &b3);
	WAIT_COUNT(&d, 2);
	rg_wire_batch_free(&b1);
	rg_wire_batch_free(&b3);
	dev_close(&d);
	gw_free(g);
}

static void lookup_round_trip_miss_and_timeout(void **state)
{
	(void)state;
	struct gw *g = gw_start();
	static struct dev d;
	uint8_t tok[32];
	char buf[1024];
	dev_open(&d);
	dev_start(&d, 100, 60000);
	WAIT_STATUS(&d, st.connected);
	/* the gateway's subscription may not be in place yet: found once it is;
	 * st.connected is the MQTT client's flag, set just before the uplink's
	 * own on_connect marks it online (CLOSED until then) */
	int64_t end = tb_now_ms() + WAIT_MS;
	int rc;
	memset(tok, 0xaa, sizeof tok);
	while (((rc = uplink_lookup(d.up, tok, 500, buf, sizeof buf)) == RG_ERR_TIMEOUT ||
		rc == RG_ERR_CLOSED) &&
	       tb_now_ms() < end)
		if (rc == RG_ERR_CLOSED)
			nap(2);
	assert_int_equal(rc, 1);
	assert_string_equal(buf, PROFILE);
	/* too small a buffer */
	assert_int_equal(uplink_lookup(d.up, tok, 2000, buf, 10), RG_ERR_TOOBIG);
	/* not found */
	memset(tok, 0xbb, sizeof tok);
	assert_int_equal(uplink_lookup(d.up, tok, 2000, buf, sizeof buf), 0);
	assert_string_equal(buf, "");
	/* nobody answers: timeout, bounded */
	memset(tok, 0xcc, sizeof tok);
	int64_t t0 = tb_now_ms();
	assert_int_equal(uplink_lookup(d.up, tok, 300, buf, sizeof buf), RG_ERR_TIMEOUT);
	int64_t took = tb_now_ms() - t0;
	assert_true(took >= 290 && took < 2000);
	pthread_mutex_lock(&g->mu);
	assert_true(g->lookups >= 4);
	pthread_mutex_unlock(&g->mu);
	dev_close(&d);
	gw_free(g);
}

/* Runs last: it kills the group's broker. */
static void broker_sigkill_mid_stream_loses_nothing(void **state)
{
	(void)state;
	enum { BEFORE = 150, DURING = 50, TOTAL = BEFORE + DURING };
	struct gw *g = gw_start();
	static struct dev d;
	static struct rg_uuid want[TOTAL];
	static bool seen[TOTAL];
	int n_seen = 0, batches = 0;

	memset(seen, 0, sizeof seen);
	dev_open(&d);
	for (int i = 0; i < BEFORE; i++)
		append(&d, i % 10 == 0 ? RG_KIND_CONSENT_CHANGED : RG_KIND_IDENTIFIED, &want[i]);
	dev_start(&d, 10, 1000);

	/* The gateway acks every batch it sees; mid-stream the broker dies. */
	int64_t end = tb_now_ms() + 60000;
	bool killed = false;
	while (store_outbox_count(d.store) > 0 || !killed) {
		struct rg_wire_batch b;
		char err[256];
		assert_true(tb_now_ms() < end);
		struct gmsg *m = gw_next(g, d.topic, 200);
		if (m && strstr(m->topic, "/up/")) {
			assert_int_equal(
			    rg_wire_batch_parse(m->payload, m->len, &b, err, sizeof err), 0);
			for (size_t i = 0; i < b.n_items; i++)
				for (int k = 0; k < TOTAL; k++)
					if (!seen[k] && !rg_uuid_cmp(&b.items[i].id, &want[k])) {
						seen[k] = true;
						n_seen++;
					}
			batches++;
			if (!killed && batches == 4) {
				/* Crash with batches in flight and acks not yet sent. */
				assert_int_equal(tb_broker_kill(F->broker), 0);
				killed = true;
				WAIT_STATUS(&d, !st.connected);
				uint8_t tok[32] = {0xaa};
				char buf[64];
				assert_int_equal(uplink_lookup(d.up, tok, 1000, buf, sizeof buf),
						 RG_ERR_CLOSED);
				for (int i = BEFORE; i < TOTAL; i++)
					append(&d, RG_KIND_NOTE, &want[i]);
				/* nothing left but through an ack */
				assert_int_equal(store_outbox_count(d.store),
						 TOTAL - (int)status(&d).rows_acked);
				assert_int_equal(tb_broker_restart(F->broker), 0);
			} else if (rg_mqtt_connected(g->c)) {
				send_ack(g, &d, d.id, &b);
			}
			rg_wire_batch_free(&b);
		}
	}
	/* Every row was sent and acknowledged; nothing was deleted unacked. */
	assert_int_equal(n_seen, TOTAL);
	assert_int_equal(store_outbox_count(d.store), 0);
	/* The sender counts an ack just after its rows are deleted: wait for it. */
	WAIT_STATUS(&d, st.rows_acked == TOTAL);
	assert_int_equal(status(&d).rows_acked, TOTAL);
	dev_close(&d);
	gw_free(g);
}

/* ---- pushed configuration ---- */

struct cfgmsgs {
	pthread_mutex_t mu;
	int n;
	int scope[16];
	char topic[16][RG_MQTT_TOPIC_MAX];
	char payload[16][64];
};

static void on_config(void *ctx, int scope, const char *topic, const void *payload, size_t len)
{
	struct cfgmsgs *c = ctx;
	pthread_mutex_lock(&c->mu);
	if (c->n < 16) {
		c->scope[c->n] = scope;
		snprintf(c->topic[c->n], sizeof c->topic[0], "%s", topic);
		snprintf(c->payload[c->n], sizeof c->payload[0], "%.*s", (int)len,
			 (const char *)payload);
		c->n++;
	}
	pthread_mutex_unlock(&c->mu);
}

static int cfg_find(struct cfgmsgs *c, const char *payload)
{
	int at = -1;
	pthread_mutex_lock(&c->mu);
	for (int i = 0; i < c->n && at < 0; i++)
		if (!strcmp(c->payload[i], payload))
			at = i;
	pthread_mutex_unlock(&c->mu);
	return at;
}

/* Publish retained as the gateway (own connection: waits for the PUBACK). */
static void gw_retain(struct tb_client *c, const char *topic, const char *payload)
{
	int reason = -1;
	assert_int_equal(tb_client_publish(c, topic, payload, 1, true, &reason), 0);
	assert_true(reason == 0 || reason == 16);
}

static void config_documents_reach_the_daemon_and_status_carries_the_report(void **state)
{
	(void)state;
	struct dev d;
	struct cfgmsgs got = {0};
	char cert[512], key[512], t[200], prefix[200];
	struct tb_client *gc;
	struct tb_msg m;
	int granted = -1;
	/* The gateway here is a test client that waits for each PUBACK, so a
	 * retained document is on the broker before the device subscribes. */
	struct tb_client_opts go = {.identity = GW};
	pthread_mutex_init(&got.mu, NULL);
	dev_open(&d);
	assert_int_equal(tb_client_new(F->env, &go, &gc), 0);
	assert_int_equal(tb_client_connect(gc, F->broker, NULL), 0);
	assert_int_equal(tb_client_subscribe(gc, S "/d/+/status", 1, &granted), 0);
	assert_int_equal(tb_client_subscribe(gc, S "/d/+/up/#", 1, &granted), 0);
	gw_retain(gc, S "/config/tenant", "T1");
	gw_retain(gc, S "/config/store", "S1");
	gw_retain(gc, S "/config/keys/2", "K2");
	snprintf(t, sizeof t, "%sconfig", d.topic);
	gw_retain(gc, t, "D1");
	gw_retain(gc, S "/d/dev-0042-other/config", "OTHER"); /* not this device's */
	gw_retain(gc, S "/config/bogus", "BOGUS");	     /* no such scope */

	assert_int_equal(tb_env_file(F->env, d.id, ".crt", cert, sizeof cert), 0);
	assert_int_equal(tb_env_file(F->env, d.id, ".key", key, sizeof key), 0);
	struct uplink_config uc = {.device_id = d.id,
				   .store_id = STORE,
				   .host = "localhost",
				   .port = (int)tb_broker_port(F->broker),
				   .ca_file = F->ca,
				   .cert_file = cert,
				   .key_file = key,
				   .store = d.store,
				   .backoff_min_ms = 50,
				   .backoff_max_ms = 300,
				   .on_config = on_config,
				   .config_ctx = &got};
	assert_int_equal(uplink_start(&uc, &d.up), 0);
	WAIT_STATUS(&d, st.config_messages >= 4);
	/* and one pushed while it is online */
	gw_retain(gc, S "/config/tenant", "T2");
	WAIT_STATUS(&d, st.config_messages >= 5);
	static const struct {
		const char *payload;
		int scope;
	} want[] = {{"T1", CFGDOC_SCOPE_TENANT}, {"S1", CFGDOC_SCOPE_STORE},
		    {"K2", CFGDOC_SCOPE_KEYS},	 {"D1", CFGDOC_SCOPE_DEVICE},
		    {"T2", CFGDOC_SCOPE_TENANT}};
	for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
		int at = cfg_find(&got, want[i].payload);
		if (at < 0)
			fail_msg("%s did not reach on_config", want[i].payload);
		assert_int_equal(got.scope[at], want[i].scope);
	}
	assert_int_equal(cfg_find(&got, "OTHER"), -1);
	assert_int_equal(cfg_find(&got, "BOGUS"), -1);
	assert_int_equal(status(&d).config_messages, 5);

	/* the retained status carries the report from now on */
	assert_int_equal(uplink_set_config_report(d.up, "{\"tenant\":{\"status\":\"applied\","
							"\"version\":3}}"),
			 0);
	snprintf(prefix, sizeof prefix, "%sstatus", d.topic);
	for (int64_t end = tb_now_ms() + WAIT_MS;;) {
		assert_true(tb_now_ms() < end);
		if (tb_client_next(gc, &m, WAIT_MS) == 0 && !strcmp(m.topic, prefix) &&
		    strstr(m.payload, "\"config\""))
			break;
	}
	assert_string_equal(m.payload, "{\"online\":true,\"outbox\":0,\"config\":{\"tenant\":"
				       "{\"status\":\"applied\",\"version\":3}}}");

	/* sync parameters while running: batches of one from now on */
	assert_int_equal(uplink_set_params(d.up, 501, 0, 0), RG_ERR_CONFIG);
	assert_int_equal(uplink_set_params(d.up, 1, 1000, 0), 0);
	append(&d, RG_KIND_IDENTIFIED, NULL);
	append(&d, RG_KIND_IDENTIFIED, NULL);
	snprintf(prefix, sizeof prefix, "%sup/interactions", d.topic);
	for (int64_t end = tb_now_ms() + WAIT_MS;;) {
		assert_true(tb_now_ms() < end);
		if (tb_client_next(gc, &m, WAIT_MS) == 0 && !strcmp(m.topic, prefix))
			break;
	}
	struct rg_wire_batch b;
	char err[256];
	if (rg_wire_batch_parse(m.payload, strlen(m.payload), &b, err, sizeof err) < 0)
		fail_msg("batch: %s", err);
	assert_int_equal(b.n_items, 1);
	rg_wire_batch_free(&b);

	/* clear what this test left retained */
	gw_retain(gc, S "/config/tenant", "");
	gw_retain(gc, S "/config/store", "");
	gw_retain(gc, S "/config/keys/2", "");
	gw_retain(gc, t, "");
	gw_retain(gc, S "/d/dev-0042-other/config", "");
	gw_retain(gc, S "/config/bogus", "");
	tb_client_free(gc);
	dev_close(&d);
	pthread_mutex_destroy(&got.mu);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_teardown(batches_per_lane_in_order_deleted_only_on_ack, test_teardown),
	    cmocka_unit_test_teardown(ack_for_another_device_is_ignored, test_teardown),
	    cmocka_unit_test_teardown(spool_full_backs_off_then_resends_the_same_batch,
				      test_teardown),
	    cmocka_unit_test_teardown(unanswered_batch_is_resent_after_resend_ms, test_teardown),
	    cmocka_unit_test_teardown(a_batch_without_receipt_is_resent_before_newer_rows,
				      test_teardown),
	    cmocka_unit_test_teardown(lookup_round_trip_miss_and_timeout, test_teardown),
	    cmocka_unit_test_teardown(broker_sigkill_mid_stream_loses_nothing, test_teardown),
	    cmocka_unit_test_teardown(config_documents_reach_the_daemon_and_status_carries_the_report,
				      test_teardown),
	};
	if (getenv("TEST_FILTER"))
		cmocka_set_test_filter(getenv("TEST_FILTER"));
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
