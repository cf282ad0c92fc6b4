/*
 * mqtt.h - rg_mqtt, the one MQTT client every Regulars daemon uses (device
 * uplink, gateway, cloud workers): libmosquitto, MQTT v5 only, mutual TLS
 * with the tenant PKI (docs/pki.md), a persistent session, and reconnection
 * with exponential backoff and full jitter run by the client's own thread.
 *
 * Callbacks run on that thread. They may call rg_mqtt_publish/subscribe, and
 * must lock whatever they share with other threads. PUBACK reason codes are
 * delivered to on_publish: 135 (not authorized) is never retried by the
 * client; the caller decides (it is a bug or an attack, docs/topics.md).
 */
#ifndef COMMON_MQTT_H
#define COMMON_MQTT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define RG_MQTT_TOPIC_MAX 256
#define RG_MQTT_CORR_MAX 64

struct rg_mqtt_config {
	const char *name;      /* log component, e.g. "uplink", "gw-store", "gw-central" */
	const char *host;      /* broker host */
	int port;              /* broker port */
	const char *client_id; /* = the certificate CN (the broker enforces it) */
	const char *ca_file;   /* tenant CA, PEM */
	const char *cert_file; /* this identity's certificate, PEM */
	const char *key_file;  /* its private key, PEM */
	bool clean_start;      /* false: keep the session (subscriptions, QoS 1 in flight) */
	uint32_t session_expiry_s; /* v5 Session Expiry Interval when !clean_start; 0: 7 days */
	int keepalive_s;           /* 0: 30 */
	int backoff_min_ms;        /* first reconnect delay; 0: 250 */
	int backoff_max_ms;        /* cap; 0: 30000. Delay n is uniform in [0, min(max, min*2^n)] */
	/* Optional Last Will (retained status topics): NULL topic for none. */
	const char *will_topic;
	const void *will_payload;
	size_t will_len;
	bool will_retain;
	int max_inflight; /* QoS 1 messages in flight; 0: 100 */
};

struct rg_mqtt_msg {
	const char *topic;
	const void *payload;
	size_t len;
	int qos;
	bool retain;
	const char *response_topic; /* v5 property, or NULL */
	const void *corr;           /* v5 correlation data, or NULL */
	size_t corr_len;
};

struct rg_mqtt_handlers {
	/* After every successful CONNACK. session_present false means the broker
	 * forgot us: subscribe again here (subscribing always is fine too). */
	void (*on_connect)(void *ctx, bool session_present);
	/* After losing the connection (reason: MQTT v5 / libmosquitto code). The
	 * client reconnects by itself. */
	void (*on_disconnect)(void *ctx, int reason);
	void (*on_message)(void *ctx, const struct rg_mqtt_msg *m);
	/* The broker's PUBACK for a QoS 1 publish: reason 0 (or 16, no matching
	 * subscribers) is accepted; >= 128 refused. */
	void (*on_publish)(void *ctx, int mid, int reason);
};

struct rg_mqtt;

/* Validate the config and make a client (nothing connects yet). On success
 * *out is owned by the caller (rg_mqtt_free). RG_ERR_CONFIG with a logged
 * message for a bad config or unreadable TLS files. */
int rg_mqtt_new(const struct rg_mqtt_config *cfg, const struct rg_mqtt_handlers *h, void *ctx,
		struct rg_mqtt **out);
/* Start the client's thread: connect, and reconnect forever with backoff. */
int rg_mqtt_start(struct rg_mqtt *c);
/* Disconnect cleanly (the Will is not sent) and join the thread. Idempotent. */
void rg_mqtt_stop(struct rg_mqtt *c);
/* Stops if needed, then frees. NULL is a no-op. */
void rg_mqtt_free(struct rg_mqtt *c);
bool rg_mqtt_connected(const struct rg_mqtt *c);

/* Publish. qos 0 or 1. *mid (may be NULL) identifies the on_publish callback.
 * RG_ERR_CLOSED when not connected (nothing is queued: callers keep their
 * own durable queue and resend), RG_ERR_TOOBIG above the broker's limit. */
int rg_mqtt_publish(struct rg_mqtt *c, const char *topic, const void *payload, size_t len, int qos,
		    bool retain, int *mid);
/* The same (QoS 1) with v5 Response Topic and Correlation Data
 * (request/response; corr_len 1..RG_MQTT_CORR_MAX). A responder answers with
 * response_topic NULL and the request's corr echoed. */
int rg_mqtt_request(struct rg_mqtt *c, const char *topic, const void *payload, size_t len,
		    const char *response_topic, const void *corr, size_t corr_len, int *mid);
/* Subscribe (QoS 1, no-local unset). Call from on_connect. */
int rg_mqtt_subscribe(struct rg_mqtt *c, const char *filter, int qos);

/* The reconnect delay before attempt n (0-based): uniform in
 * [0, min(max_ms, min_ms * 2^n)] drawn from rnd ("full jitter"). Pure, for
 * tests; the client draws rnd from rg_random(). */
int rg_mqtt_backoff_ms(int min_ms, int max_ms, int attempt, uint32_t rnd);

struct rg_mqtt_stats {
	int64_t connects;    /* successful CONNACKs */
	int64_t disconnects; /* connection losses */
	int64_t published;   /* PUBACKs accepted */
	int64_t refused;     /* PUBACKs with reason >= 128 */
	int64_t received;    /* messages delivered to on_message */
};
/* The longest wait between reconnect attempts from now on (0: the default;
 * never below backoff_min_ms). Safe from any thread; a wait already begun
 * runs out first. */
void rg_mqtt_set_backoff_max(struct rg_mqtt *c, int max_ms);
void rg_mqtt_stats_get(const struct rg_mqtt *c, struct rg_mqtt_stats *out);

#ifdef __cplusplus
}
#endif

#endif
