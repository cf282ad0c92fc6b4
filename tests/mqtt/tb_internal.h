/*
 * tb_internal.h - what testbroker.c (environment, broker processes) and
 * testclient.c (MQTT clients) share: the environment's layout with its
 * registries of clients and brokers, and monotonic milliseconds.
 */
#ifndef TESTS_MQTT_TB_INTERNAL_H
#define TESTS_MQTT_TB_INTERNAL_H

#include <limits.h>
#include <stdint.h>

#include "testbroker.h"

#define TB_CLIENTS_MAX 64
#define TB_BROKERS_MAX 8
#define TB_PROBE_ID "tb-probe"
#define TB_PROBE_STORE "probe"

struct tb_env {
	char dir[PATH_MAX];
	char pki[PATH_MAX];
	struct tb_client *clients[TB_CLIENTS_MAX];
	size_t n_clients;
	struct tb_broker *brokers[TB_BROKERS_MAX];
	size_t n_brokers;
};

int64_t tb__now_ms(void);
/* snprintf that reports truncation: 0, or RG_ERR_TOOBIG. */
int tb__fmt(char *buf, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Register / forget a client so waits drive it. */
int tb__client_add(struct tb_env *env, struct tb_client *c);
void tb__client_remove(struct tb_env *env, struct tb_client *c);
/* Free a broker (killing it if it runs); called by tb_env_free. */
void tb__broker_free(struct tb_broker *b);

#endif
