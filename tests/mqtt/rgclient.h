/*
 * rgclient.h - for integration tests: an rg_mqtt client (the daemons' own
 * MQTT client, common/mqtt.h) connected to a test broker as one of the
 * env's identities. It subscribes its filters (QoS 1) on every connect and
 * hands each message to on_message on the client's thread; start returns
 * once it is connected. Callers keep what they receive under cl->mu and
 * wait on cl->cv (broadcast on every connect; the caller's on_message
 * broadcasts what it adds), whose clock is CLOCK_MONOTONIC: deadlines from
 * rg_deadline_ms (common/clock.h).
 */
#ifndef TESTS_MQTT_RGCLIENT_H
#define TESTS_MQTT_RGCLIENT_H

#include <pthread.h>
#include <stdbool.h>

#include "common/mqtt.h"
#include "testbroker.h"

#define TB_RGCLIENT_FILTERS 4

struct tb_rgclient {
	struct rg_mqtt *c;
	const char *filters[TB_RGCLIENT_FILTERS]; /* NULL after the last */
	void (*on_message)(void *ctx, const struct rg_mqtt_msg *m);
	void *ctx;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int connects;
	bool live; /* started and not yet stopped */
};

/* Connect as identity (its certificate and key from env) to b; filters: up
 * to TB_RGCLIENT_FILTERS, NULL-terminated (may be NULL). 0 once connected,
 * RG_ERR_TIMEOUT after wait_ms (the client is stopped then), or another
 * rg_err. */
int tb_rgclient_start(struct tb_rgclient *cl, struct tb_env *env, const struct tb_broker *b,
		      const char *identity, const char *const *filters,
		      void (*on_message)(void *ctx, const struct rg_mqtt_msg *m), void *ctx,
		      int wait_ms);
/* Disconnect and join its thread; harmless when not started or stopped. */
void tb_rgclient_stop(struct tb_rgclient *cl);

#endif
