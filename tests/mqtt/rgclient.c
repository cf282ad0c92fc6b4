/*
 * rgclient.c - an rg_mqtt client for integration tests (rgclient.h).
 */
#include "rgclient.h"

#include <errno.h>
#include <limits.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"
#include "common/err.h"

static void on_connect(void *ctx, bool session_present)
{
	struct tb_rgclient *cl = ctx;
	(void)session_present;
	for (size_t i = 0; i < TB_RGCLIENT_FILTERS && cl->filters[i]; i++)
		rg_mqtt_subscribe(cl->c, cl->filters[i], 1);
	pthread_mutex_lock(&cl->mu);
	cl->connects++;
	pthread_cond_broadcast(&cl->cv);
	pthread_mutex_unlock(&cl->mu);
}

static void on_disconnect(void *ctx, int reason)
{
	(void)ctx;
	(void)reason;
}

static void on_message(void *ctx, const struct rg_mqtt_msg *m)
{
	struct tb_rgclient *cl = ctx;
	if (cl->on_message)
		cl->on_message(cl->ctx, m);
}

static const struct rg_mqtt_handlers handlers = {
    .on_connect = on_connect, .on_disconnect = on_disconnect, .on_message = on_message};

int tb_rgclient_start(struct tb_rgclient *cl, struct tb_env *env, const struct tb_broker *b,
		      const char *identity, const char *const *filters,
		      void (*on_message_fn)(void *ctx, const struct rg_mqtt_msg *m), void *ctx,
		      int wait_ms)
{
	char ca[PATH_MAX], crt[PATH_MAX], key[PATH_MAX];
	struct timespec t;
	int rc = 0;

	memset(cl, 0, sizeof *cl);
	for (size_t i = 0; filters && i < TB_RGCLIENT_FILTERS && filters[i]; i++)
		cl->filters[i] = filters[i];
	cl->on_message = on_message_fn;
	cl->ctx = ctx;
	if (tb_env_file(env, "ca", ".crt", ca, sizeof ca) < 0 ||
	    tb_env_file(env, identity, ".crt", crt, sizeof crt) < 0 ||
	    tb_env_file(env, identity, ".key", key, sizeof key) < 0)
		return RG_ERR_NOTFOUND;
	struct rg_mqtt_config c = {
	    .name = identity,
	    .host = "localhost",
	    .port = (int)tb_broker_port(b),
	    .client_id = identity,
	    .ca_file = ca,
	    .cert_file = crt,
	    .key_file = key,
	    .clean_start = true,
	    .backoff_max_ms = 500,
	};
	pthread_condattr_t cattr;
	pthread_condattr_init(&cattr);
	pthread_condattr_setclock(&cattr, CLOCK_MONOTONIC);
	pthread_mutex_init(&cl->mu, NULL);
	pthread_cond_init(&cl->cv, &cattr);
	pthread_condattr_destroy(&cattr);
	cl->live = true;
	if ((rc = rg_mqtt_new(&c, &handlers, cl, &cl->c)) < 0 || (rc = rg_mqtt_start(cl->c)) < 0) {
		tb_rgclient_stop(cl);
		return rc;
	}
	rg_deadline_ms(&t, wait_ms);
	pthread_mutex_lock(&cl->mu);
	while (!cl->connects && rc == 0)
		if (pthread_cond_timedwait(&cl->cv, &cl->mu, &t) == ETIMEDOUT)
			rc = RG_ERR_TIMEOUT;
	pthread_mutex_unlock(&cl->mu);
	if (rc < 0)
		tb_rgclient_stop(cl);
	return rc;
}

void tb_rgclient_stop(struct tb_rgclient *cl)
{
	if (!cl->live)
		return;
	rg_mqtt_free(cl->c); /* joins its thread: no callback runs after this */
	cl->c = NULL;
	pthread_cond_destroy(&cl->cv);
	pthread_mutex_destroy(&cl->mu);
	cl->live = false;
}
