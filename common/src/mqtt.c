/*
 * mqtt.c - rg_mqtt (common/mqtt.h) on libmosquitto 2.0: MQTT v5 over mutual
 * TLS, a persistent session, and one thread per client that connects, runs
 * mosquitto_loop() and reconnects with exponential backoff and full jitter.
 * The handle owns its libmosquitto instance; callers never see it.
 *
 * Why not mosquitto_loop_start() + mosquitto_reconnect_delay_set(): the
 * library's delay is deterministic (no jitter), so a store full of devices
 * that lost the broker together would all come back in the same millisecond,
 * and its automatic reconnect does not resend the v5 CONNECT properties (the
 * Session Expiry Interval), which would silently turn the persistent session
 * into one that ends at the next connection loss. So each attempt here is a
 * fresh mosquitto_connect_bind_v5() with the properties.
 */
#include "common/mqtt.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <mosquitto.h>
#include <mqtt_protocol.h>

#include "common/clock.h"
#include "common/crypto.h"
#include "common/err.h"
#include "common/log.h"

#define DEFAULT_SESSION_EXPIRY_S (7u * 24 * 3600)
#define DEFAULT_KEEPALIVE_S 30
#define DEFAULT_BACKOFF_MIN_MS 250
#define DEFAULT_BACKOFF_MAX_MS 30000
#define DEFAULT_MAX_INFLIGHT 100
#define LOOP_TIMEOUT_MS 500 /* also how long a raced stop can take to be noticed */
#define STABLE_MS 10000	    /* a connection that lasted this long resets the backoff */
#define STOP_DRAIN_MS 2000  /* how long stop waits for DISCONNECT to be written */
/* One attempt: the TCP connect, then the TLS handshake and CONNACK. Without
 * these bounds a dead link holds an attempt for the kernel's SYN retries
 * (minutes) or the keepalive, whatever the backoff says. */
#define CONNECT_PROBE_MS 5000
#define CONNACK_TIMEOUT_MS 10000
#define NAME_MAX_LEN 32

struct rg_mqtt {
	/* configuration (owned copies) */
	char name[NAME_MAX_LEN + 1];
	char *host, *client_id, *ca_file, *cert_file, *key_file;
	int port;
	bool clean_start;
	uint32_t session_expiry_s;
	int keepalive_s, backoff_min_ms;
	atomic_int backoff_max_ms; /* changed live by rg_mqtt_set_backoff_max */
	struct rg_mqtt_handlers h;
	void *ctx;

	struct mosquitto *m;
	pthread_t thread;
	bool started; /* thread running (only touched by start/stop) */

	pthread_mutex_t mu; /* stop flag and the backoff wait */
	pthread_cond_t cv;
	bool stop;

	atomic_bool connected;
	atomic_int_fast64_t connected_at_ms; /* monotonic ms of the last CONNACK */
	atomic_int_fast64_t n_connects, n_disconnects, n_published, n_refused, n_received;
};

static pthread_once_t lib_once = PTHREAD_ONCE_INIT;

static void lib_init(void)
{
	mosquitto_lib_init(); /* reference counted; never cleaned up (process lifetime) */
}

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int rg_mqtt_backoff_ms(int min_ms, int max_ms, int attempt, uint32_t rnd)
{
	int64_t cap = min_ms > 0 ? min_ms : 1;
	if (max_ms < min_ms)
		max_ms = min_ms;
	for (int i = 0; i < attempt && cap < max_ms; i++)
		cap *= 2;
	if (cap > max_ms)
		cap = max_ms;
	return (int)(rnd % (uint64_t)(cap + 1));
}

static bool stopping(struct rg_mqtt *c)
{
	bool s;
	pthread_mutex_lock(&c->mu);
	s = c->stop;
	pthread_mutex_unlock(&c->mu);
	return s;
}

/* ---- libmosquitto callbacks (on the client's thread) ---- */

static void on_connect_cb(struct mosquitto *m, void *obj, int rc, int flags,
			  const mosquitto_property *props)
{
	struct rg_mqtt *c = obj;
	bool present = (flags & 1) != 0;
	(void)m;
	(void)props;
	if (rc != 0) {
		rg_warn(c->name, "connack_refused", "host=%s port=%d reason=%d text=\"%s\"",
			c->host, c->port, rc, mosquitto_reason_string(rc));
		return;
	}
	atomic_store(&c->connected_at_ms, mono_ms());
	atomic_store(&c->connected, true);
	atomic_fetch_add(&c->n_connects, 1);
	rg_info(c->name, "connected", "host=%s port=%d client_id=%s session_present=%d", c->host,
		c->port, c->client_id, present);
	if (c->h.on_connect)
		c->h.on_connect(c->ctx, present);
}

static void on_disconnect_cb(struct mosquitto *m, void *obj, int rc,
			     const mosquitto_property *props)
{
	struct rg_mqtt *c = obj;
	(void)m;
	(void)props;
	if (!atomic_exchange(&c->connected, false))
		return; /* a connection that never got its CONNACK: not a loss */
	atomic_fetch_add(&c->n_disconnects, 1);
	if (stopping(c)) {
		rg_info(c->name, "disconnected", "host=%s port=%d reason=stop", c->host, c->port);
		return;
	}
	rg_warn(c->name, "connection_lost", "host=%s port=%d reason=%d text=\"%s\"", c->host,
		c->port, rc, mosquitto_strerror(rc));
	if (c->h.on_disconnect)
		c->h.on_disconnect(c->ctx, rc);
}

static void on_publish_cb(struct mosquitto *m, void *obj, int mid, int reason,
			  const mosquitto_property *props)
{
	struct rg_mqtt *c = obj;
	(void)m;
	(void)props;
	if (reason >= 128) {
		atomic_fetch_add(&c->n_refused, 1);
		rg_warn(c->name, "publish_refused", "mid=%d reason=%d text=\"%s\"", mid, reason,
			mosquitto_reason_string(reason));
	} else {
		atomic_fetch_add(&c->n_published, 1);
	}
	if (c->h.on_publish)
		c->h.on_publish(c->ctx, mid, reason);
}

static void on_message_cb(struct mosquitto *m, void *obj, const struct mosquitto_message *msg,
			  const mosquitto_property *props)
{
	struct rg_mqtt *c = obj;
	char *rt = NULL;
	void *corr = NULL;
	uint16_t corr_len = 0;
	(void)m;

	atomic_fetch_add(&c->n_received, 1);
	if (!c->h.on_message)
		return;
	/* Absent properties leave the outputs NULL; the copies are ours to free. */
	mosquitto_property_read_string(props, MQTT_PROP_RESPONSE_TOPIC, &rt, false);
	mosquitto_property_read_binary(props, MQTT_PROP_CORRELATION_DATA, &corr, &corr_len, false);
	struct rg_mqtt_msg out = {
	    .topic = msg->topic,
	    .payload = msg->payload ? msg->payload : "",
	    .len = msg->payloadlen > 0 ? (size_t)msg->payloadlen : 0,
	    .qos = msg->qos,
	    .retain = msg->retain,
	    .response_topic = rt,
	    .corr = corr,
	    .corr_len = corr ? corr_len : 0,
	};
	c->h.on_message(c->ctx, &out);
	free(rt);
	free(corr);
}

/* ---- the client's thread ---- */

/* Sleep ms or until stopped. */
static void backoff_wait(struct rg_mqtt *c, int ms)
{
	struct timespec ts;
	rg_deadline_ms(&ts, ms);
	pthread_mutex_lock(&c->mu);
	while (!c->stop)
		if (pthread_cond_timedwait(&c->cv, &c->mu, &ts) == ETIMEDOUT)
			break;
	pthread_mutex_unlock(&c->mu);
}

/* Can a TCP connection to the broker be opened within CONNECT_PROBE_MS?
 * libmosquitto's own connect() blocks; on a link that drops packets it
 * would wait out the kernel's SYN retries. 0, or an errno value. */
static int tcp_probe(const struct rg_mqtt *c)
{
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res = NULL;
	char port[16];
	int err = EHOSTUNREACH;
	int64_t end = mono_ms() + CONNECT_PROBE_MS;

	snprintf(port, sizeof port, "%d", c->port);
	if (getaddrinfo(c->host, port, &hints, &res) != 0)
		return EHOSTUNREACH;
	for (const struct addrinfo *a = res; a; a = a->ai_next) {
		int fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
				a->ai_protocol);
		if (fd < 0) {
			err = errno;
			continue;
		}
		if (connect(fd, a->ai_addr, a->ai_addrlen) == 0) {
			close(fd);
			err = 0;
			break;
		}
		if (errno != EINPROGRESS) {
			err = errno;
			close(fd);
			continue;
		}
		struct pollfd p = {.fd = fd, .events = POLLOUT};
		int64_t left = end - mono_ms();
		int so = 0;
		socklen_t sl = sizeof so;
		int r = left > 0 ? poll(&p, 1, (int)left) : 0;
		if (r == 1 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &so, &sl) == 0 && so == 0)
			err = 0;
		else
			err = r == 0 ? ETIMEDOUT : so ? so : errno;
		close(fd);
		if (!err)
			break;
	}
	freeaddrinfo(res);
	return err;
}

static int connect_once(struct rg_mqtt *c)
{
	mosquitto_property *props = NULL;
	int rc;
	if (!c->clean_start &&
	    mosquitto_property_add_int32(&props, MQTT_PROP_SESSION_EXPIRY_INTERVAL,
					 c->session_expiry_s) != MOSQ_ERR_SUCCESS)
		return MOSQ_ERR_NOMEM;
	/* The TCP connect is blocking (libmosquitto 2.0 has no asynchronous
	 * connect that takes v5 properties); the TLS handshake and CONNACK
	 * happen in mosquitto_loop(). */
	rc = mosquitto_connect_bind_v5(c->m, c->host, c->port, c->keepalive_s, NULL, props);
	mosquitto_property_free_all(&props);
	return rc;
}

/* Before its CONNACK: has the broker's side of this attempt's connection
 * gone (reset, or closed before the TLS handshake finished)? libmosquitto
 * 2.0.11 takes SSL_ERROR_SYSCALL during the handshake for "try again": on a
 * socket the peer reset it writes the ClientHello again and again (EPIPE),
 * busy, until its keepalive gives up many seconds later. That happens when
 * an attempt connects into the listen queue of a broker that is being
 * killed or restarted. Such an attempt has failed: the next one may start. */
static bool handshake_peer_gone(struct rg_mqtt *c)
{
	struct tcp_info ti;
	socklen_t len = sizeof ti;
	int fd = mosquitto_socket(c->m), unread = 0;

	if (fd < 0 || getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) != 0)
		return false;
	if (ti.tcpi_state == TCP_CLOSE)
		return true; /* reset */
	/* Closed by the broker: gone once nothing it sent is left to read (a
	 * refusal it sent before closing is read and reported first). */
	return ti.tcpi_state == TCP_CLOSE_WAIT && ioctl(fd, FIONREAD, &unread) == 0 && unread == 0;
}

/* Send DISCONNECT (normal: the Will is discarded) and let the loop write it. */
static void drain_disconnect(struct rg_mqtt *c)
{
	int64_t end = mono_ms() + STOP_DRAIN_MS;
	if (mosquitto_disconnect_v5(c->m, MQTT_RC_NORMAL_DISCONNECTION, NULL) != MOSQ_ERR_SUCCESS)
		return;
	while (mono_ms() < end)
		if (mosquitto_loop(c->m, 100, 1) != MOSQ_ERR_SUCCESS)
			break;
}

static void *run(void *arg)
{
	struct rg_mqtt *c = arg;
	int attempt = 0;

	while (!stopping(c)) {
		int64_t before = atomic_load(&c->n_connects), t0 = mono_ms();
		int perr = tcp_probe(c);
		int rc = perr ? MOSQ_ERR_ERRNO : connect_once(c);
		if (perr) {
			rg_warn(c->name, "connect_failed",
				"host=%s port=%d attempt=%d after_ms=%lld error=\"%s\"", c->host,
				c->port, attempt + 1, (long long)(mono_ms() - t0), strerror(perr));
		} else if (rc == MOSQ_ERR_SUCCESS) {
			bool late = false, gone = false;
			while ((rc = mosquitto_loop(c->m, LOOP_TIMEOUT_MS, 1)) == MOSQ_ERR_SUCCESS) {
				if (stopping(c)) {
					drain_disconnect(c);
					break;
				}
				if (atomic_load(&c->n_connects) != before)
					continue;
				if (mono_ms() - t0 > CONNACK_TIMEOUT_MS) {
					late = true; /* the next connect closes this socket */
					break;
				}
				if (handshake_peer_gone(c)) {
					gone = true; /* likewise */
					break;
				}
			}
			/* libmosquitto reports a lost connection through on_disconnect_cb
			 * only for some paths; make the state right in every case. */
			on_disconnect_cb(c->m, c, rc, NULL);
			/* TCP connected but no CONNACK (TLS refused, reset, silence):
			 * a failed attempt too. */
			if (atomic_load(&c->n_connects) == before && !stopping(c))
				rg_warn(c->name, "connect_failed",
					"host=%s port=%d attempt=%d after_ms=%lld error=\"%s\"",
					c->host, c->port, attempt + 1, (long long)(mono_ms() - t0),
					late   ? "no CONNACK in time"
					: gone ? "the broker closed the connection during the TLS "
						 "handshake"
					: rc == MOSQ_ERR_ERRNO ? strerror(errno)
							       : mosquitto_strerror(rc));
		} else {
			rg_warn(c->name, "connect_failed",
				"host=%s port=%d attempt=%d error=\"%s\"", c->host, c->port,
				attempt + 1,
				rc == MOSQ_ERR_ERRNO ? strerror(errno) : mosquitto_strerror(rc));
		}
		if (stopping(c))
			break;
		if (atomic_load(&c->n_connects) > 0 &&
		    mono_ms() - atomic_load(&c->connected_at_ms) >= STABLE_MS)
			attempt = 0;
		uint32_t rnd = 0;
		rg_random(&rnd, sizeof rnd);
		int delay = rg_mqtt_backoff_ms(c->backoff_min_ms, atomic_load(&c->backoff_max_ms),
					       attempt, rnd);
		if (attempt < 30)
			attempt++;
		rg_debug(c->name, "reconnect_wait", "delay_ms=%d attempt=%d", delay, attempt);
		backoff_wait(c, delay);
	}
	return NULL;
}

/* ---- public API ---- */

static int file_readable(const char *name, const char *what, const char *path)
{
	char q[300];
	if (!path || !*path) {
		rg_error(name, "config_invalid", "error=\"%s is required\"", what);
		return RG_ERR_CONFIG;
	}
	if (access(path, R_OK) != 0) {
		rg_error(name, "config_invalid", "error=\"%s %s: %s\"", what,
			 rg_log_quote(q, sizeof q, path), strerror(errno));
		return RG_ERR_CONFIG;
	}
	return 0;
}

static int config_check(const struct rg_mqtt_config *cfg, const char *name)
{
	int rc;
	if (!cfg->host || !*cfg->host || cfg->port <= 0 || cfg->port > 65535) {
		rg_error(name, "config_invalid",
			 "error=\"host and a port in 1..65535 are required\"");
		return RG_ERR_CONFIG;
	}
	if (!cfg->client_id || !*cfg->client_id || strlen(cfg->client_id) > 64) {
		rg_error(name, "config_invalid",
			 "error=\"client_id (1..64 characters) is required\"");
		return RG_ERR_CONFIG;
	}
	if ((rc = file_readable(name, "ca_file", cfg->ca_file)) < 0 ||
	    (rc = file_readable(name, "cert_file", cfg->cert_file)) < 0 ||
	    (rc = file_readable(name, "key_file", cfg->key_file)) < 0)
		return rc;
	if (cfg->keepalive_s < 0 || (cfg->keepalive_s > 0 && cfg->keepalive_s < 5) ||
	    cfg->keepalive_s > 65535 || cfg->backoff_min_ms < 0 || cfg->backoff_max_ms < 0 ||
	    cfg->max_inflight < 0 || cfg->max_inflight > 65535) {
		rg_error(name, "config_invalid",
			 "error=\"keepalive_s 5..65535, backoff and max_inflight >= 0\"");
		return RG_ERR_CONFIG;
	}
	if (cfg->will_topic && (!*cfg->will_topic || cfg->will_len > 65535)) {
		rg_error(name, "config_invalid", "error=\"bad will topic or payload\"");
		return RG_ERR_CONFIG;
	}
	return 0;
}

static char *dup_str(const char *s)
{
	return s ? strdup(s) : NULL;
}

void rg_mqtt_free(struct rg_mqtt *c)
{
	if (!c)
		return;
	rg_mqtt_stop(c);
	if (c->m)
		mosquitto_destroy(c->m);
	pthread_cond_destroy(&c->cv);
	pthread_mutex_destroy(&c->mu);
	free(c->host);
	free(c->client_id);
	free(c->ca_file);
	free(c->cert_file);
	free(c->key_file);
	free(c);
}

int rg_mqtt_new(const struct rg_mqtt_config *cfg, const struct rg_mqtt_handlers *h, void *ctx,
		struct rg_mqtt **out)
{
	const char *name = cfg && cfg->name && *cfg->name ? cfg->name : "mqtt";
	struct rg_mqtt *c;
	pthread_condattr_t ca;
	int rc;

	if (!out)
		return RG_ERR_INVAL;
	*out = NULL;
	if (!cfg)
		return RG_ERR_INVAL;
	if ((rc = config_check(cfg, name)) < 0)
		return rc;
	pthread_once(&lib_once, lib_init);
	if (!(c = calloc(1, sizeof *c)))
		return RG_ERR_NOMEM;
	snprintf(c->name, sizeof c->name, "%s", name);
	pthread_mutex_init(&c->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&c->cv, &ca);
	pthread_condattr_destroy(&ca);
	c->port = cfg->port;
	c->clean_start = cfg->clean_start;
	c->session_expiry_s =
	    cfg->session_expiry_s ? cfg->session_expiry_s : DEFAULT_SESSION_EXPIRY_S;
	c->keepalive_s = cfg->keepalive_s ? cfg->keepalive_s : DEFAULT_KEEPALIVE_S;
	c->backoff_min_ms = cfg->backoff_min_ms ? cfg->backoff_min_ms : DEFAULT_BACKOFF_MIN_MS;
	rg_mqtt_set_backoff_max(c, cfg->backoff_max_ms);
	if (h)
		c->h = *h;
	c->ctx = ctx;
	if (!(c->host = dup_str(cfg->host)) || !(c->client_id = dup_str(cfg->client_id)) ||
	    !(c->ca_file = dup_str(cfg->ca_file)) || !(c->cert_file = dup_str(cfg->cert_file)) ||
	    !(c->key_file = dup_str(cfg->key_file))) {
		rc = RG_ERR_NOMEM;
		goto fail;
	}
	if (!(c->m = mosquitto_new(c->client_id, c->clean_start, c))) {
		rc = errno == ENOMEM ? RG_ERR_NOMEM : RG_ERR_CONFIG;
		goto fail;
	}
	int inflight = cfg->max_inflight ? cfg->max_inflight : DEFAULT_MAX_INFLIGHT;
	mosquitto_threaded_set(c->m, true); /* our own thread runs the loop */
	if (mosquitto_int_option(c->m, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V5) ||
	    mosquitto_int_option(c->m, MOSQ_OPT_SEND_MAXIMUM, inflight) ||
	    mosquitto_int_option(c->m, MOSQ_OPT_RECEIVE_MAXIMUM, inflight) ||
	    mosquitto_int_option(c->m, MOSQ_OPT_TCP_NODELAY, 1)) {
		rc = RG_ERR_CONFIG;
		goto fail;
	}
	/* The broker's certificate must chain to the tenant CA and name the host
	 * (libmosquitto verifies the host name unless tls_insecure is set). */
	if (mosquitto_tls_set(c->m, c->ca_file, NULL, c->cert_file, c->key_file, NULL) ||
	    mosquitto_tls_opts_set(c->m, 1 /* SSL_VERIFY_PEER */, "tlsv1.2", NULL) ||
	    mosquitto_tls_insecure_set(c->m, false)) {
		rg_error(c->name, "config_invalid", "error=\"TLS files refused by libmosquitto\"");
		rc = RG_ERR_CONFIG;
		goto fail;
	}
	if (cfg->will_topic &&
	    mosquitto_will_set_v5(c->m, cfg->will_topic, (int)cfg->will_len, cfg->will_payload, 1,
				  cfg->will_retain, NULL) != MOSQ_ERR_SUCCESS) {
		rg_error(c->name, "config_invalid", "error=\"will refused by libmosquitto\"");
		rc = RG_ERR_CONFIG;
		goto fail;
	}
	mosquitto_connect_v5_callback_set(c->m, on_connect_cb);
	mosquitto_disconnect_v5_callback_set(c->m, on_disconnect_cb);
	mosquitto_publish_v5_callback_set(c->m, on_publish_cb);
	mosquitto_message_v5_callback_set(c->m, on_message_cb);
	*out = c;
	return 0;
fail:
	rg_mqtt_free(c);
	return rc;
}

int rg_mqtt_start(struct rg_mqtt *c)
{
	if (!c)
		return RG_ERR_INVAL;
	if (c->started)
		return RG_ERR_STATE;
	pthread_mutex_lock(&c->mu);
	c->stop = false;
	pthread_mutex_unlock(&c->mu);
	if (pthread_create(&c->thread, NULL, run, c) != 0)
		return RG_ERR_NOMEM;
	c->started = true;
	return 0;
}

void rg_mqtt_stop(struct rg_mqtt *c)
{
	if (!c || !c->started)
		return;
	pthread_mutex_lock(&c->mu);
	c->stop = true;
	pthread_cond_broadcast(&c->cv);
	pthread_mutex_unlock(&c->mu);
	/* Wakes the loop through libmosquitto's socket pair; the thread writes
	 * the DISCONNECT and exits. If this races a connect, the thread sees the
	 * flag within LOOP_TIMEOUT_MS and disconnects itself. */
	if (atomic_load(&c->connected))
		mosquitto_disconnect_v5(c->m, MQTT_RC_NORMAL_DISCONNECTION, NULL);
	pthread_join(c->thread, NULL);
	c->started = false;
	atomic_store(&c->connected, false);
}

bool rg_mqtt_connected(const struct rg_mqtt *c)
{
	return c && atomic_load(&c->connected);
}

static int map_pub_rc(int rc)
{
	switch (rc) {
	case MOSQ_ERR_SUCCESS:
		return 0;
	case MOSQ_ERR_NOMEM:
		return RG_ERR_NOMEM;
	case MOSQ_ERR_NO_CONN:
	case MOSQ_ERR_CONN_LOST:
		return RG_ERR_CLOSED;
	case MOSQ_ERR_PAYLOAD_SIZE:
	case MOSQ_ERR_OVERSIZE_PACKET:
		return RG_ERR_TOOBIG;
	default:
		return RG_ERR_INVAL;
	}
}

static int publish_props(struct rg_mqtt *c, const char *topic, const void *payload, size_t len,
			 int qos, bool retain, const mosquitto_property *props, int *mid)
{
	int m = 0, rc;
	if (mid)
		*mid = 0;
	if (!c || !topic || (!payload && len) || (qos != 0 && qos != 1))
		return RG_ERR_INVAL;
	if (len > INT_MAX)
		return RG_ERR_TOOBIG;
	/* libmosquitto would queue a QoS 1 message while offline; callers keep
	 * their own durable queue, so refuse instead of hiding it in memory. */
	if (!atomic_load(&c->connected))
		return RG_ERR_CLOSED;
	rc = mosquitto_publish_v5(c->m, &m, topic, (int)len, payload, qos, retain, props);
	if (rc != MOSQ_ERR_SUCCESS) {
		rg_debug(c->name, "publish_failed", "topic=%s error=\"%s\"", topic,
			 mosquitto_strerror(rc));
		return map_pub_rc(rc);
	}
	if (mid)
		*mid = m;
	return 0;
}

int rg_mqtt_publish(struct rg_mqtt *c, const char *topic, const void *payload, size_t len, int qos,
		    bool retain, int *mid)
{
	return publish_props(c, topic, payload, len, qos, retain, NULL, mid);
}

int rg_mqtt_request(struct rg_mqtt *c, const char *topic, const void *payload, size_t len,
		    const char *response_topic, const void *corr, size_t corr_len, int *mid)
{
	mosquitto_property *props = NULL;
	int rc;
	if (mid)
		*mid = 0;
	if (!c || (!response_topic && !corr) ||
	    (corr && (corr_len == 0 || corr_len > RG_MQTT_CORR_MAX)))
		return RG_ERR_INVAL;
	if (response_topic &&
	    mosquitto_property_add_string(&props, MQTT_PROP_RESPONSE_TOPIC, response_topic)) {
		mosquitto_property_free_all(&props);
		return RG_ERR_INVAL;
	}
	if (corr && mosquitto_property_add_binary(&props, MQTT_PROP_CORRELATION_DATA, corr,
						  (uint16_t)corr_len)) {
		mosquitto_property_free_all(&props);
		return RG_ERR_NOMEM;
	}
	rc = publish_props(c, topic, payload, len, 1, false, props, mid);
	mosquitto_property_free_all(&props);
	return rc;
}

int rg_mqtt_subscribe(struct rg_mqtt *c, const char *filter, int qos)
{
	int rc;
	if (!c || !filter || (qos != 0 && qos != 1))
		return RG_ERR_INVAL;
	if (!atomic_load(&c->connected))
		return RG_ERR_CLOSED;
	rc = mosquitto_subscribe_v5(c->m, NULL, filter, qos, 0, NULL);
	if (rc != MOSQ_ERR_SUCCESS) {
		rg_warn(c->name, "subscribe_failed", "filter=%s error=\"%s\"", filter,
			mosquitto_strerror(rc));
		return map_pub_rc(rc);
	}
	return 0;
}

void rg_mqtt_set_backoff_max(struct rg_mqtt *c, int max_ms)
{
	if (max_ms <= 0)
		max_ms = DEFAULT_BACKOFF_MAX_MS;
	atomic_store(&c->backoff_max_ms, max_ms < c->backoff_min_ms ? c->backoff_min_ms : max_ms);
}

void rg_mqtt_stats_get(const struct rg_mqtt *c, struct rg_mqtt_stats *out)
{
	if (!out)
		return;
	memset(out, 0, sizeof *out);
	if (!c)
		return;
	out->connects = atomic_load(&c->n_connects);
	out->disconnects = atomic_load(&c->n_disconnects);
	out->published = atomic_load(&c->n_published);
	out->refused = atomic_load(&c->n_refused);
	out->received = atomic_load(&c->n_received);
}
