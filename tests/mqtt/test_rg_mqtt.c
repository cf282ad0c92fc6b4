/*
 * test_rg_mqtt.c - rg_mqtt (common/mqtt.h) against the real store broker:
 * a device connects with its certificate, receives its own downlink, gets
 * PUBACK 0/16 for its own uplink and 135 for another device's topic
 * (reported and counted, never delivered), round-trips v5 Response Topic +
 * Correlation Data with a gateway, reconnects after the broker is SIGKILLed
 * and restarted, finds its session after a graceful restart, and stops
 * cleanly from any state; a listener that resets or closes the connection
 * before the TLS handshake ends costs one quick attempt, not a stall. Plus
 * the backoff arithmetic (full jitter).
 */
#include "tb_assert.h"

#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/log.h"
#include "common/mqtt.h"

#define S "rg/v1/s/0042"
#define K1 "dev-0042-k1"
#define K2 "dev-0042-k2"
#define GW "gw-0042"
#define WAIT_MS 8000

struct msg {
	char topic[RG_MQTT_TOPIC_MAX];
	char payload[512];
	char rt[RG_MQTT_TOPIC_MAX];
	uint8_t corr[RG_MQTT_CORR_MAX];
	size_t corr_len;
	bool has_rt;
};

/* What one rg_mqtt client saw, filled on its thread, read by the test. */
struct rec {
	pthread_mutex_t mu;
	struct rg_mqtt *c;
	const char *sub; /* subscribe to this in on_connect */
	bool responder;	 /* answer every request on its response topic */
	int connects, disconnects;
	bool last_present;
	int pub_mid[64], pub_reason[64];
	size_t n_pubs;
	struct msg msgs[32];
	size_t n_msgs;
};

struct fixture {
	struct tb_env *env;
	struct tb_broker *broker;
	char ca[512], cert[3][512], key[3][512];
};

static struct fixture *F;

static void rec_on_connect(void *ctx, bool present)
{
	struct rec *r = ctx;
	if (r->sub)
		rg_mqtt_subscribe(r->c, r->sub, 1);
	pthread_mutex_lock(&r->mu);
	r->connects++;
	r->last_present = present;
	pthread_mutex_unlock(&r->mu);
}

static void rec_on_disconnect(void *ctx, int reason)
{
	struct rec *r = ctx;
	(void)reason;
	pthread_mutex_lock(&r->mu);
	r->disconnects++;
	pthread_mutex_unlock(&r->mu);
}

static void rec_on_publish(void *ctx, int mid, int reason)
{
	struct rec *r = ctx;
	pthread_mutex_lock(&r->mu);
	if (r->n_pubs < 64) {
		r->pub_mid[r->n_pubs] = mid;
		r->pub_reason[r->n_pubs] = reason;
		r->n_pubs++;
	}
	pthread_mutex_unlock(&r->mu);
}

static void rec_on_message(void *ctx, const struct rg_mqtt_msg *m)
{
	struct rec *r = ctx;
	if (r->responder && m->response_topic)
		rg_mqtt_request(r->c, m->response_topic, "{\"answer\":42}", 13, NULL, m->corr,
				m->corr_len, NULL);
	pthread_mutex_lock(&r->mu);
	if (r->n_msgs < 32) {
		struct msg *x = &r->msgs[r->n_msgs++];
		size_t n = m->len < sizeof x->payload - 1 ? m->len : sizeof x->payload - 1;
		snprintf(x->topic, sizeof x->topic, "%s", m->topic);
		memcpy(x->payload, m->payload, n);
		x->payload[n] = '\0';
		x->has_rt = m->response_topic != NULL;
		if (m->response_topic)
			snprintf(x->rt, sizeof x->rt, "%s", m->response_topic);
		x->corr_len = m->corr_len;
		if (m->corr)
			memcpy(x->corr, m->corr, m->corr_len);
	}
	pthread_mutex_unlock(&r->mu);
}

static const struct rg_mqtt_handlers HANDLERS = {rec_on_connect, rec_on_disconnect, rec_on_message,
						 rec_on_publish};

/* identity index: 0 K1, 1 K2, 2 GW; port: where it connects */
static struct rec *client_on(int who, int port, const char *sub, bool start)
{
	static const char *const ids[] = {K1, K2, GW};
	struct rec *r = calloc(1, sizeof *r);
	assert_non_null(r);
	pthread_mutex_init(&r->mu, NULL);
	r->sub = sub;
	struct rg_mqtt_config cfg = {
	    .name = "test",
	    .host = "localhost",
	    .port = port,
	    .client_id = ids[who],
	    .ca_file = F->ca,
	    .cert_file = F->cert[who],
	    .key_file = F->key[who],
	    .clean_start = false,
	    .session_expiry_s = 600,
	    .keepalive_s = 10,
	    .backoff_min_ms = 50,
	    .backoff_max_ms = 400,
	};
	assert_int_equal(rg_mqtt_new(&cfg, &HANDLERS, r, &r->c), 0);
	if (start)
		assert_int_equal(rg_mqtt_start(r->c), 0);
	return r;
}

/* The same, to the group's broker. */
static struct rec *client(int who, const char *sub, bool start)
{
	return client_on(who, (int)tb_broker_port(F->broker), sub, start);
}

static void rec_free(struct rec *r)
{
	rg_mqtt_free(r->c);
	pthread_mutex_destroy(&r->mu);
	free(r);
}

/* A reconnect may take one whole attempt that a slow broker never answers:
 * the client gives up on it after CONNACK_TIMEOUT_MS (10 s, common/src/mqtt.c)
 * and tries again after its backoff (400 ms here), so the waits for a
 * reconnect allow that. (What CI once hit here under load was not a slow
 * broker: an attempt that connected into the listen queue of the broker
 * being killed got a reset, and libmosquitto retried its TLS handshake on
 * the dead socket until the keepalive. rg_mqtt now ends such an attempt at
 * once; the two handshake tests above fail without that.) */
#define RECONNECT_WAIT_MS (10000 + 400 + WAIT_MS)

/* Wait (pumping the harness's clients) until pred holds; bounded. */
#define WAIT_FOR(r, pred) WAIT_FOR_MS(r, pred, WAIT_MS)
#define WAIT_FOR_MS(r, pred, ms)                                                                   \
	do {                                                                                       \
		int64_t end_ = tb_now_ms() + (ms);                                                 \
		bool ok_;                                                                          \
		for (;;) {                                                                         \
			pthread_mutex_lock(&(r)->mu);                                              \
			ok_ = (pred);                                                              \
			pthread_mutex_unlock(&(r)->mu);                                            \
			if (ok_ || tb_now_ms() > end_)                                             \
				break;                                                             \
			tb_env_pump(F->env, 5);                                                    \
		}                                                                                  \
		if (!ok_)                                                                          \
			fail_msg("timed out waiting for %s (broker log %s)", #pred,                \
				 tb_broker_log(F->broker));                                        \
	} while (0)

static int reason_of(struct rec *r, int mid)
{
	int reason = -1;
	pthread_mutex_lock(&r->mu);
	for (size_t i = 0; i < r->n_pubs; i++)
		if (r->pub_mid[i] == mid)
			reason = r->pub_reason[i];
	pthread_mutex_unlock(&r->mu);
	return reason;
}

static bool has_reason(struct rec *r, int mid)
{
	for (size_t i = 0; i < r->n_pubs; i++)
		if (r->pub_mid[i] == mid)
			return true;
	return false;
}

static int group_setup(void **state)
{
	struct fixture *f = calloc(1, sizeof *f);
	static const char *const ids[] = {K1, K2, GW};
	if (!f || tb_env_create(&f->env, "acme") < 0)
		return -1;
	if (tb_env_issue(f->env, PKI_KIND_DEVICE, K1, "0042") < 0 ||
	    tb_env_issue(f->env, PKI_KIND_DEVICE, K2, "0042") < 0 ||
	    tb_env_issue(f->env, PKI_KIND_GATEWAY, GW, "0042") < 0)
		return -1;
	if (tb_broker_start(f->env, PKI_BROKER_STORE, "0042", &f->broker) < 0)
		return -1;
	if (tb_env_file(f->env, "ca", ".crt", f->ca, sizeof f->ca) < 0)
		return -1;
	for (int i = 0; i < 3; i++)
		if (tb_env_file(f->env, ids[i], ".crt", f->cert[i], sizeof f->cert[i]) < 0 ||
		    tb_env_file(f->env, ids[i], ".key", f->key[i], sizeof f->key[i]) < 0)
			return -1;
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
	F = NULL;
	return 0;
}

static void backoff_is_exponential_with_full_jitter_and_capped(void **state)
{
	(void)state;
	/* The top of the range doubles per attempt, up to the cap. */
	assert_int_equal(rg_mqtt_backoff_ms(250, 30000, 0, 250), 250);
	assert_int_equal(rg_mqtt_backoff_ms(250, 30000, 0, 251), 0);
	assert_int_equal(rg_mqtt_backoff_ms(250, 30000, 3, 2000), 2000);
	assert_int_equal(rg_mqtt_backoff_ms(250, 30000, 3, 2001), 0);
	assert_int_equal(rg_mqtt_backoff_ms(250, 30000, 7, 30000), 30000);
	assert_int_equal(rg_mqtt_backoff_ms(250, 30000, 1000, 30000), 30000);
	assert_int_equal(rg_mqtt_backoff_ms(250, 30000, 1000, 30001), 0);
	/* Full jitter: the low end is always 0. */
	assert_int_equal(rg_mqtt_backoff_ms(250, 30000, 5, 0), 0);
	/* Many draws over attempt 2 cover [0, 1000] and never leave it. */
	int lo = 1 << 30, hi = -1;
	for (uint32_t i = 0; i < 5000; i++) {
		uint32_t rnd = i * 2654435761u;
		int d = rg_mqtt_backoff_ms(250, 30000, 2, rnd);
		lo = d < lo ? d : lo;
		hi = d > hi ? d : hi;
	}
	assert_true(lo >= 0 && lo < 50);
	assert_true(hi <= 1000 && hi > 950);
}

static void bad_config_is_refused_with_config_error(void **state)
{
	(void)state;
	struct rg_mqtt *c = NULL;
	struct rg_mqtt_config cfg = {.name = "test",
				     .host = "localhost",
				     .port = 1,
				     .client_id = K1,
				     .ca_file = F->ca,
				     .cert_file = "/nonexistent/dev.crt",
				     .key_file = F->key[0]};
	assert_int_equal(rg_mqtt_new(&cfg, &HANDLERS, NULL, &c), RG_ERR_CONFIG);
	assert_null(c);
	cfg.cert_file = F->cert[0];
	cfg.port = 0;
	assert_int_equal(rg_mqtt_new(&cfg, &HANDLERS, NULL, &c), RG_ERR_CONFIG);
	assert_null(c);
}

static void connects_and_receives_its_own_downlink(void **state)
{
	(void)state;
	struct tb_client *gw = tb_connect_as(F->env, F->broker, GW);
	struct rec *d = client(0, S "/d/" K1 "/down/#", true);
	WAIT_FOR(d, d->connects == 1);
	assert_true(rg_mqtt_connected(d->c));
	/* The subscription is made from on_connect; publish until it is in place
	 * (PUBACK 16 = no subscriber yet, 0 = delivered to it). */
	int64_t end = tb_now_ms() + WAIT_MS;
	while (tb_pub(gw, S "/d/" K1 "/down/ack", "{\"hello\":1}") != RC_OK)
		assert_true(tb_now_ms() < end);
	WAIT_FOR(d, d->n_msgs >= 1);
	assert_string_equal(d->msgs[0].topic, S "/d/" K1 "/down/ack");
	assert_string_equal(d->msgs[0].payload, "{\"hello\":1}");
	assert_false(d->msgs[0].has_rt);
	assert_int_equal(d->msgs[0].corr_len, 0);
	struct rg_mqtt_stats st;
	rg_mqtt_stats_get(d->c, &st);
	assert_int_equal(st.connects, 1);
	assert_true(st.received >= 1);
	rec_free(d);
	tb_client_free(gw);
}

static void own_publish_accepted_foreign_refused_with_135(void **state)
{
	(void)state;
	struct tb_client *gw = tb_connect_as(F->env, F->broker, GW);
	assert_int_equal(tb_sub(gw, S "/d/+/up/#"), 1);
	struct rec *d = client(0, NULL, true);
	struct rg_mqtt_stats st;
	int mid_own = 0, mid_foreign = 0, mid_marker = 0;
	WAIT_FOR(d, d->connects == 1);

	assert_int_equal(rg_mqtt_publish(d->c, S "/d/" K1 "/up/interactions", "{\"a\":1}", 7, 1,
					 false, &mid_own),
			 0);
	assert_true(mid_own > 0);
	WAIT_FOR(d, has_reason(d, mid_own));
	int r = reason_of(d, mid_own);
	assert_true(r == RC_OK || r == RC_NO_SUBSCRIBERS);
	tb_expect(gw, S "/d/" K1 "/up/interactions", "{\"a\":1}");

	assert_int_equal(rg_mqtt_publish(d->c, S "/d/" K2 "/up/interactions", "{\"forged\":1}", 12,
					 1, false, &mid_foreign),
			 0);
	WAIT_FOR(d, has_reason(d, mid_foreign));
	assert_int_equal(reason_of(d, mid_foreign), RC_NOT_AUTHORIZED);
	rg_mqtt_stats_get(d->c, &st);
	assert_int_equal(st.refused, 1);
	assert_int_equal(st.published, 1);
	/* Nothing of the forged message reached the gateway: the marker is next. */
	assert_int_equal(rg_mqtt_publish(d->c, S "/d/" K1 "/up/telemetry", "{\"m\":1}", 7, 1, false,
					 &mid_marker),
			 0);
	tb_expect_marker_only(gw, S "/d/" K1 "/up/telemetry", "{\"m\":1}");
	rec_free(d);
	tb_client_free(gw);
}

static void request_response_properties_round_trip(void **state)
{
	(void)state;
	struct rec *g = client(2, S "/d/+/req/#", true);
	struct rec *d = client(0, S "/d/" K1 "/down/#", true);
	const uint8_t corr[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 0xff};
	int mid = 0;
	g->responder = true;
	WAIT_FOR(g, g->connects == 1);
	WAIT_FOR(d, d->connects == 1);
	/* Until the gateway's subscription is in place the PUBACK says 16. */
	int64_t end = tb_now_ms() + WAIT_MS;
	for (;;) {
		assert_int_equal(rg_mqtt_request(d->c, S "/d/" K1 "/req/lookup", "{\"q\":1}", 7,
						 S "/d/" K1 "/down/resp", corr, sizeof corr, &mid),
				 0);
		WAIT_FOR(d, has_reason(d, mid));
		if (reason_of(d, mid) == RC_OK)
			break;
		assert_true(tb_now_ms() < end);
	}
	WAIT_FOR(g, g->n_msgs >= 1);
	assert_true(g->msgs[0].has_rt);
	assert_string_equal(g->msgs[0].rt, S "/d/" K1 "/down/resp");
	assert_int_equal(g->msgs[0].corr_len, sizeof corr);
	assert_memory_equal(g->msgs[0].corr, corr, sizeof corr);
	/* The answer comes back on the response topic with the same corr. */
	WAIT_FOR(d, d->n_msgs >= 1);
	assert_string_equal(d->msgs[0].topic, S "/d/" K1 "/down/resp");
	assert_string_equal(d->msgs[0].payload, "{\"answer\":42}");
	assert_int_equal(d->msgs[0].corr_len, sizeof corr);
	assert_memory_equal(d->msgs[0].corr, corr, sizeof corr);
	/* Bad arguments are refused before anything is sent. */
	assert_int_equal(
	    rg_mqtt_request(d->c, S "/d/" K1 "/req/lookup", "x", 1, NULL, NULL, 0, NULL),
	    RG_ERR_INVAL);
	rec_free(d);
	rec_free(g);
}

static void stop_is_clean_in_every_state(void **state)
{
	(void)state;
	/* Never started; stopped twice; freed. */
	struct rec *a = client(0, NULL, false);
	rg_mqtt_stop(a->c);
	rg_mqtt_stop(a->c);
	assert_int_equal(rg_mqtt_publish(a->c, S "/d/" K1 "/status", "{}", 2, 1, false, NULL),
			 RG_ERR_CLOSED);
	rec_free(a);
	/* Connected, then stopped: no on_disconnect callback for our own stop. */
	struct rec *b = client(0, NULL, true);
	WAIT_FOR(b, b->connects == 1);
	int64_t t0 = tb_now_ms();
	rg_mqtt_stop(b->c);
	assert_true(tb_now_ms() - t0 < 3000);
	assert_false(rg_mqtt_connected(b->c));
	assert_int_equal(b->disconnects, 0);
	rec_free(b);
}

/* A listener that takes every connection and drops it at once, before any
 * TLS: with a reset (SO_LINGER 0), as a broker being killed leaves what it
 * had accepted, or with a plain close. */
struct dropper {
	int fd;
	bool reset;
	atomic_int accepted;
	atomic_bool stop;
	pthread_t thread;
};

static void *dropper_main(void *arg)
{
	struct dropper *d = arg;
	while (!atomic_load(&d->stop)) {
		int c = accept(d->fd, NULL, NULL);
		if (c < 0)
			continue;
		if (d->reset) {
			struct linger l = {.l_onoff = 1, .l_linger = 0};
			setsockopt(c, SOL_SOCKET, SO_LINGER, &l, sizeof l);
		}
		close(c);
		atomic_fetch_add(&d->accepted, 1);
	}
	return NULL;
}

/* Each attempt is a TCP probe and a connect, so 2 connections; libmosquitto
 * 2.0.11 alone would keep the first attempt busy until its keepalive (10 s
 * here). With the attempt ended as soon as the socket is dead, several
 * attempts fit in 4 s. */
static void dropped_handshakes_fail_fast(bool reset)
{
	struct dropper d = {.reset = reset};
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t alen = sizeof a;
	struct timeval tv = {.tv_sec = 0, .tv_usec = 200000};

	d.fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(d.fd >= 0);
	assert_int_equal(bind(d.fd, (struct sockaddr *)&a, sizeof a), 0);
	assert_int_equal(listen(d.fd, 16), 0);
	assert_int_equal(getsockname(d.fd, (struct sockaddr *)&a, &alen), 0);
	/* accept() wakes up to see stop */
	assert_int_equal(setsockopt(d.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv), 0);
	assert_int_equal(pthread_create(&d.thread, NULL, dropper_main, &d), 0);

	struct rec *r = client_on(0, ntohs(a.sin_port), NULL, true);
	int64_t end = tb_now_ms() + 4000;
	while (atomic_load(&d.accepted) < 6 && tb_now_ms() < end)
		usleep(10000);
	int got = atomic_load(&d.accepted);
	rg_mqtt_stop(r->c);
	int connects = r->connects;
	rec_free(r);
	atomic_store(&d.stop, true);
	pthread_join(d.thread, NULL);
	close(d.fd);
	if (got < 6)
		fail_msg("%s before the TLS handshake: %d connections in 4 s, want >= 6 "
			 "(3 attempts)",
			 reset ? "reset" : "closed", got);
	assert_int_equal(connects, 0);
}

static void a_reset_during_the_handshake_fails_the_attempt_at_once(void **state)
{
	(void)state;
	dropped_handshakes_fail_fast(true);
}

static void a_close_during_the_handshake_fails_the_attempt_at_once(void **state)
{
	(void)state;
	dropped_handshakes_fail_fast(false);
}

/* Runs last: it restarts the group's broker. */
static void reconnects_after_sigkill_and_resumes_session_after_restart(void **state)
{
	(void)state;
	struct tb_client *gw;
	struct rec *d = client(0, S "/d/" K1 "/down/#", true);
	int64_t end;
	WAIT_FOR(d, d->connects == 1);

	assert_int_equal(tb_broker_kill(F->broker), 0);
	WAIT_FOR(d, d->disconnects == 1);
	assert_false(rg_mqtt_connected(d->c));
	assert_int_equal(
	    rg_mqtt_publish(d->c, S "/d/" K1 "/up/interactions", "{}", 2, 1, false, NULL),
	    RG_ERR_CLOSED);
	assert_int_equal(tb_broker_restart(F->broker), 0);
	WAIT_FOR_MS(d, d->connects == 2, RECONNECT_WAIT_MS); /* the client came back by itself */
	assert_true(rg_mqtt_connected(d->c));

	/* It subscribed again: its downlink works after the crash. */
	gw = tb_connect_as(F->env, F->broker, GW);
	end = tb_now_ms() + WAIT_MS;
	while (tb_pub(gw, S "/d/" K1 "/down/ack", "{\"after\":\"kill\"}") != RC_OK)
		assert_true(tb_now_ms() < end);
	WAIT_FOR(d, d->n_msgs >= 1);
	assert_string_equal(d->msgs[d->n_msgs - 1].payload, "{\"after\":\"kill\"}");
	tb_client_free(gw);

	/* A graceful restart saves the session: it is present on reconnect. */
	assert_int_equal(tb_broker_restart(F->broker), 0);
	WAIT_FOR_MS(d, d->connects == 3, RECONNECT_WAIT_MS);
	pthread_mutex_lock(&d->mu);
	assert_true(d->last_present);
	pthread_mutex_unlock(&d->mu);
	struct rg_mqtt_stats st;
	rg_mqtt_stats_get(d->c, &st);
	assert_int_equal(st.connects, 3);
	assert_int_equal(st.disconnects, 2);

	/* Stopping while the broker is down (the client in backoff) is prompt. */
	assert_int_equal(tb_broker_kill(F->broker), 0);
	WAIT_FOR(d, d->disconnects == 3);
	int64_t t0 = tb_now_ms();
	rg_mqtt_stop(d->c);
	assert_true(tb_now_ms() - t0 < 3000);
	rec_free(d);
	assert_int_equal(tb_broker_restart(F->broker), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(backoff_is_exponential_with_full_jitter_and_capped),
	    cmocka_unit_test(bad_config_is_refused_with_config_error),
	    cmocka_unit_test(connects_and_receives_its_own_downlink),
	    cmocka_unit_test(own_publish_accepted_foreign_refused_with_135),
	    cmocka_unit_test(request_response_properties_round_trip),
	    cmocka_unit_test(stop_is_clean_in_every_state),
	    cmocka_unit_test(a_reset_during_the_handshake_fails_the_attempt_at_once),
	    cmocka_unit_test(a_close_during_the_handshake_fails_the_attempt_at_once),
	    cmocka_unit_test(reconnects_after_sigkill_and_resumes_session_after_restart),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
