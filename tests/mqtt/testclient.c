/*
 * testclient.c - MQTT v5 mutual-TLS test clients on libmosquitto, driven
 * from the test's thread (no libmosquitto threads): every wait pumps all the
 * clients of the environment, so a publisher's PUBACK and a subscriber's
 * delivery progress together. Records CONNACK, PUBACK and SUBACK reason codes
 * and queues received messages (capped) for the test to take in order.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mosquitto.h>
#include <mqtt_protocol.h>

#include "common/err.h"
#include "tb_internal.h"

#define ACKS_MAX 64
#define MSGS_MAX 4096
#define KEEPALIVE_S 30
#define SESSION_EXPIRY_S 3600

struct ack {
	int mid;
	int reason;
};

struct tb_client {
	struct tb_env *env;
	struct mosquitto *m;
	char name[80];
	bool persistent;
	bool connected;		   /* CONNACK success seen and not disconnected since */
	bool connacked;		   /* a CONNACK arrived (success or not) */
	int connack;		   /* its reason code */
	bool closed;		   /* the connection ended (or never came up) */
	struct ack acks[ACKS_MAX]; /* PUBACK / SUBACK by mid, newest overwrite oldest */
	size_t n_acks;
	struct tb_msg *msgs;
	size_t n_msgs, taken;
	size_t dropped;
};

static void record_ack(struct tb_client *c, int mid, int reason)
{
	c->acks[c->n_acks % ACKS_MAX] = (struct ack){mid, reason};
	c->n_acks++;
}

static bool find_ack(const struct tb_client *c, int mid, int *reason)
{
	size_t n = c->n_acks < ACKS_MAX ? c->n_acks : ACKS_MAX;
	for (size_t i = 0; i < n; i++)
		if (c->acks[i].mid == mid) {
			*reason = c->acks[i].reason;
			return true;
		}
	return false;
}

static void on_connect(struct mosquitto *m, void *obj, int rc, int flags,
		       const mosquitto_property *props)
{
	struct tb_client *c = obj;
	(void)m;
	(void)flags;
	(void)props;
	c->connacked = true;
	c->connack = rc;
	c->connected = rc == 0;
}

static void on_disconnect(struct mosquitto *m, void *obj, int rc, const mosquitto_property *props)
{
	struct tb_client *c = obj;
	(void)m;
	(void)rc;
	(void)props;
	c->connected = false;
	c->closed = true;
}

static void on_publish(struct mosquitto *m, void *obj, int mid, int reason,
		       const mosquitto_property *props)
{
	(void)m;
	(void)props;
	record_ack(obj, mid, reason);
}

static void on_subscribe(struct mosquitto *m, void *obj, int mid, int count, const int *granted,
			 const mosquitto_property *props)
{
	(void)m;
	(void)props;
	record_ack(obj, mid, count > 0 ? granted[0] : MQTT_RC_UNSPECIFIED);
}

static void on_message(struct mosquitto *m, void *obj, const struct mosquitto_message *msg,
		       const mosquitto_property *props)
{
	struct tb_client *c = obj;
	struct tb_msg *t;
	(void)m;
	(void)props;
	if (c->n_msgs == MSGS_MAX) {
		c->dropped++;
		return;
	}
	t = &c->msgs[c->n_msgs++];
	snprintf(t->topic, sizeof t->topic, "%s", msg->topic);
	size_t n = msg->payloadlen > 0 ? (size_t)msg->payloadlen : 0;
	if (n > sizeof t->payload - 1)
		n = sizeof t->payload - 1;
	if (n) /* an empty payload has no buffer */
		memcpy(t->payload, msg->payload, n);
	t->payload[n] = '\0';
	t->retained = msg->retain;
	t->len = msg->payloadlen > 0 ? (size_t)msg->payloadlen : 0;
	char *full = malloc(t->len + 1);
	if (full) {
		if (t->len)
			memcpy(full, msg->payload, t->len);
		full[t->len] = '\0';
	}
	t->full = full;
}

int tb_client_new(struct tb_env *env, const struct tb_client_opts *o, struct tb_client **out)
{
	struct tb_client *c;
	char cert[PATH_MAX], key[PATH_MAX], ca[PATH_MAX];
	const char *certfile = o->certfile, *keyfile = o->keyfile;
	const char *id = o->client_id ? o->client_id : o->identity;
	int rc;

	*out = NULL;
	if (!(c = calloc(1, sizeof *c)) || !(c->msgs = calloc(MSGS_MAX, sizeof *c->msgs))) {
		free(c);
		return RG_ERR_NOMEM;
	}
	c->env = env;
	c->persistent = o->persistent;
	snprintf(c->name, sizeof c->name, "%s", o->identity ? o->identity : "(no certificate)");
	if (tb__fmt(ca, sizeof ca, "%s/ca.crt", env->pki) < 0) {
		rc = RG_ERR_TOOBIG;
		goto fail;
	}
	if (o->identity && !certfile) {
		if (tb__fmt(cert, sizeof cert, "%s/%s.crt", env->pki, o->identity) < 0 ||
		    tb__fmt(key, sizeof key, "%s/%s.key", env->pki, o->identity) < 0) {
			rc = RG_ERR_TOOBIG;
			goto fail;
		}
		certfile = cert;
		keyfile = key;
	}
	if (!(c->m = mosquitto_new(id, !o->persistent, c))) {
		rc = RG_ERR_NOMEM;
		goto fail;
	}
	mosquitto_int_option(c->m, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V5);
	mosquitto_connect_v5_callback_set(c->m, on_connect);
	mosquitto_disconnect_v5_callback_set(c->m, on_disconnect);
	mosquitto_publish_v5_callback_set(c->m, on_publish);
	mosquitto_subscribe_v5_callback_set(c->m, on_subscribe);
	mosquitto_message_v5_callback_set(c->m, on_message);
	if (mosquitto_tls_set(c->m, ca, NULL, certfile, keyfile, NULL) != MOSQ_ERR_SUCCESS ||
	    mosquitto_tls_opts_set(c->m, 1, "tlsv1.2", NULL) != MOSQ_ERR_SUCCESS) {
		fprintf(stderr, "testbroker: client %s: bad TLS files\n", c->name);
		rc = RG_ERR_INVAL;
		goto fail;
	}
	if ((rc = tb__client_add(env, c)) < 0)
		goto fail;
	*out = c;
	return 0;
fail:
	if (c->m)
		mosquitto_destroy(c->m);
	free(c->msgs);
	free(c);
	return rc;
}

void tb_client_free(struct tb_client *c)
{
	if (!c)
		return;
	tb__client_remove(c->env, c);
	mosquitto_destroy(c->m);
	for (size_t i = 0; i < c->n_msgs; i++)
		free((char *)c->msgs[i].full);
	free(c->msgs);
	free(c);
}

static void pump_one(struct tb_client *c, int ms)
{
	int rc;
	if (c->closed && !c->connected)
		return;
	rc = mosquitto_loop(c->m, ms, 1);
	if (rc != MOSQ_ERR_SUCCESS) {
		/* NO_CONN, CONN_LOST, TLS, ...: this connection is over. */
		c->connected = false;
		c->closed = true;
	}
}

void tb_env_pump(struct tb_env *env, int ms)
{
	int64_t end = tb__now_ms() + ms;
	do {
		bool any = false;
		for (size_t i = 0; i < env->n_clients; i++) {
			struct tb_client *c = env->clients[i];
			if (c->closed && !c->connected)
				continue;
			any = true;
			pump_one(c, 1);
		}
		if (!any) {
			struct timespec ts = {0, 1000000};
			nanosleep(&ts, NULL);
		}
	} while (tb__now_ms() < end);
}

int tb_client_connect(struct tb_client *c, const struct tb_broker *b, int *reason)
{
	mosquitto_property *props = NULL;
	int64_t end = tb__now_ms() + TB_WAIT_MS;
	int rc;

	if (reason)
		*reason = -1;
	c->connected = c->connacked = c->closed = false;
	if (c->persistent)
		mosquitto_property_add_int32(&props, MQTT_PROP_SESSION_EXPIRY_INTERVAL,
					     SESSION_EXPIRY_S);
	rc = mosquitto_connect_bind_v5(c->m, "localhost", (int)tb_broker_port(b), KEEPALIVE_S, NULL,
				       props);
	mosquitto_property_free_all(&props);
	if (rc != MOSQ_ERR_SUCCESS) {
		c->closed = true;
		return RG_ERR_CLOSED;
	}
	while (!c->connacked && !c->closed && tb__now_ms() < end)
		tb_env_pump(c->env, 1);
	if (c->connacked) {
		if (reason)
			*reason = c->connack;
		return c->connack == 0 ? 0 : RG_ERR_PERM;
	}
	return c->closed ? RG_ERR_CLOSED : RG_ERR_TIMEOUT;
}

bool tb_client_connected(const struct tb_client *c)
{
	return c->connected;
}

int tb_client_disconnect(struct tb_client *c)
{
	int64_t end = tb__now_ms() + TB_WAIT_MS;
	if (!c->connected)
		return 0;
	if (mosquitto_disconnect_v5(c->m, 0, NULL) != MOSQ_ERR_SUCCESS)
		return RG_ERR_STATE;
	while (!c->closed && tb__now_ms() < end)
		tb_env_pump(c->env, 1);
	c->connected = false;
	c->closed = true;
	return 0;
}

static int wait_ack(struct tb_client *c, int mid, int *reason)
{
	int64_t end = tb__now_ms() + TB_WAIT_MS;
	for (;;) {
		if (find_ack(c, mid, reason))
			return 0;
		if (!c->connected)
			return RG_ERR_CLOSED;
		if (tb__now_ms() >= end)
			return RG_ERR_TIMEOUT;
		tb_env_pump(c->env, 1);
	}
}

int tb_client_publish(struct tb_client *c, const char *topic, const char *payload, int qos,
		      bool retain, int *reason)
{
	int mid = 0, r = -1, rc;
	if (reason)
		*reason = -1;
	if (!c->connected)
		return RG_ERR_STATE;
	rc = mosquitto_publish_v5(c->m, &mid, topic, (int)strlen(payload), payload, qos, retain,
				  NULL);
	if (rc != MOSQ_ERR_SUCCESS) {
		fprintf(stderr, "testbroker: %s: publish %s: %s\n", c->name, topic,
			mosquitto_strerror(rc));
		return RG_ERR_INVAL;
	}
	if ((rc = wait_ack(c, mid, &r)) < 0)
		return rc;
	if (reason)
		*reason = r;
	return 0;
}

int tb_client_subscribe(struct tb_client *c, const char *filter, int qos, int *granted)
{
	int mid = 0, r = -1, rc;
	if (granted)
		*granted = -1;
	if (!c->connected)
		return RG_ERR_STATE;
	rc = mosquitto_subscribe_v5(c->m, &mid, filter, qos, 0, NULL);
	if (rc != MOSQ_ERR_SUCCESS) {
		fprintf(stderr, "testbroker: %s: subscribe %s: %s\n", c->name, filter,
			mosquitto_strerror(rc));
		return RG_ERR_INVAL;
	}
	if ((rc = wait_ack(c, mid, &r)) < 0)
		return rc;
	if (granted)
		*granted = r;
	return 0;
}

int tb_client_next(struct tb_client *c, struct tb_msg *out, int timeout_ms)
{
	int64_t end = tb__now_ms() + timeout_ms;
	for (;;) {
		if (c->taken < c->n_msgs) {
			*out = c->msgs[c->taken++];
			return 0;
		}
		if (tb__now_ms() >= end)
			return RG_ERR_TIMEOUT;
		tb_env_pump(c->env, 1);
	}
}

size_t tb_client_pending(const struct tb_client *c)
{
	return c->n_msgs - c->taken;
}
