/*
 * tb_assert.h - cmocka helpers shared by the MQTT integration tests: connect
 * or publish or subscribe and fail with the broker's log path on error, and
 * the "marker" wait that proves a message was NOT delivered without sleeping.
 */
#ifndef TESTS_MQTT_TB_ASSERT_H
#define TESTS_MQTT_TB_ASSERT_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/err.h"
#include "testbroker.h"

#define RC_OK 0
#define RC_NO_SUBSCRIBERS 16
#define RC_NOT_AUTHORIZED 135

static inline struct tb_client *tb_connect_as(struct tb_env *env, const struct tb_broker *b,
					      const char *identity)
{
	struct tb_client_opts o = {.identity = identity};
	struct tb_client *c;
	int reason = -1, rc;
	assert_int_equal(tb_client_new(env, &o, &c), 0);
	rc = tb_client_connect(c, b, &reason);
	if (rc)
		fail_msg("%s could not connect: %s (CONNACK reason %d); broker log %s", identity,
			 rg_errname(rc), reason, tb_broker_log(b));
	return c;
}

/* Publish at QoS 1 and return the PUBACK reason code. */
static inline int tb_pub(struct tb_client *c, const char *topic, const char *payload)
{
	int reason = -1, rc = tb_client_publish(c, topic, payload, 1, false, &reason);
	if (rc)
		fail_msg("publish %s: %s", topic, rg_errname(rc));
	return reason;
}

static inline int tb_sub(struct tb_client *c, const char *filter)
{
	int granted = -1, rc = tb_client_subscribe(c, filter, 1, &granted);
	if (rc)
		fail_msg("subscribe %s: %s", filter, rg_errname(rc));
	return granted;
}

/* Expect exactly this message next. */
static inline void tb_expect(struct tb_client *c, const char *topic, const char *payload)
{
	struct tb_msg m;
	if (tb_client_next(c, &m, TB_WAIT_MS))
		fail_msg("no message on %s within %d ms", topic, TB_WAIT_MS);
	if (strcmp(m.topic, topic) || strcmp(m.payload, payload))
		fail_msg("expected %s \"%s\", got %s \"%s\"", topic, payload, m.topic, m.payload);
}

/*
 * Non-delivery, proved without a blind wait: after the forbidden message was
 * accepted by the broker (its PUBACK came back), the caller publishes a
 * marker the client may read. The broker handles one client's packets in
 * order and queues deliveries to one subscriber in order, so the marker
 * arriving first, with nothing before it, shows the earlier message was never
 * sent to this client.
 */
static inline void tb_expect_marker_only(struct tb_client *c, const char *marker_topic,
					 const char *marker_payload)
{
	tb_expect(c, marker_topic, marker_payload);
}

/* Nothing at all arrives within ms (for clients that may read nothing). */
static inline void tb_expect_nothing(struct tb_client *c, int ms)
{
	struct tb_msg m;
	if (tb_client_next(c, &m, ms) == 0)
		fail_msg("unexpected delivery: %s \"%s\"", m.topic, m.payload);
}

#endif
