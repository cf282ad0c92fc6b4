/*
 * The hand-over of configuration messages to the main loop: order kept, a
 * newer message on a waiting topic replaces it, empty payloads (cleared
 * retained topics) are ignored, a payload over the envelope cap is queued
 * as too_large without being copied, a full queue drops and counts, and the
 * main loop is woken once per message queued.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cfgqueue.h"
#include "common/cfgdoc.h"
#include "common/err.h"

static int wakes;

static void wake(void *ctx)
{
	(void)ctx;
	wakes++;
}

static void order_replace_and_empty(void **state)
{
	struct cfgq *q;
	struct cfgq_item it;
	struct cfgq_stats st;
	(void)state;
	wakes = 0;
	assert_int_equal(cfgq_new(wake, NULL, &q), 0);
	assert_int_equal(cfgq_push(q, CFGDOC_SCOPE_TENANT, "rg/v1/s/0042/config/tenant", "t1", 2),
			 1);
	assert_int_equal(cfgq_push(q, CFGDOC_SCOPE_STORE, "rg/v1/s/0042/config/store", "s1", 2), 1);
	/* the newer tenant document replaces the waiting one, in its place */
	assert_int_equal(cfgq_push(q, CFGDOC_SCOPE_TENANT, "rg/v1/s/0042/config/tenant", "t2x", 3),
			 1);
	/* a cleared retained topic: nothing to do */
	assert_int_equal(cfgq_push(q, CFGDOC_SCOPE_DEVICE, "rg/v1/s/0042/d/dev-1/config", "", 0),
			 0);
	assert_int_equal(wakes, 3);

	assert_int_equal(cfgq_pop(q, &it), 1);
	assert_int_equal(it.scope, CFGDOC_SCOPE_TENANT);
	assert_int_equal(it.len, 3);
	assert_memory_equal(it.payload, "t2x", 4); /* NUL-terminated copy */
	assert_false(it.too_large);
	cfgq_item_clear(&it);
	assert_int_equal(cfgq_pop(q, &it), 1);
	assert_int_equal(it.scope, CFGDOC_SCOPE_STORE);
	assert_string_equal(it.topic, "rg/v1/s/0042/config/store");
	cfgq_item_clear(&it);
	assert_int_equal(cfgq_pop(q, &it), 0);
	assert_null(it.payload);

	cfgq_stats_get(q, &st);
	assert_int_equal(st.queued, 3);
	assert_int_equal(st.replaced, 1);
	assert_int_equal(st.empty, 1);
	assert_int_equal(st.dropped, 0);
	assert_int_equal(cfgq_push(q, 0, NULL, "x", 1), RG_ERR_INVAL);
	assert_int_equal(cfgq_push(q, 0, "t", NULL, 1), RG_ERR_INVAL);
	cfgq_free(q);
}

static void too_large_is_not_copied(void **state)
{
	struct cfgq *q;
	struct cfgq_item it;
	struct cfgq_stats st;
	size_t big = CFGDOC_ENVELOPE_MAX + 1;
	char *buf = malloc(big);
	(void)state;
	assert_non_null(buf);
	memset(buf, 'A', big);
	assert_int_equal(cfgq_new(NULL, NULL, &q), 0);
	/* exactly the cap is a normal message */
	assert_int_equal(cfgq_push(q, CFGDOC_SCOPE_STORE, "a", buf, big - 1), 1);
	assert_int_equal(cfgq_push(q, CFGDOC_SCOPE_STORE, "b", buf, big), 1);
	assert_int_equal(cfgq_pop(q, &it), 1);
	assert_false(it.too_large);
	assert_non_null(it.payload);
	cfgq_item_clear(&it);
	assert_int_equal(cfgq_pop(q, &it), 1);
	assert_true(it.too_large);
	assert_null(it.payload);
	assert_int_equal(it.len, big);
	cfgq_item_clear(&it);
	cfgq_stats_get(q, &st);
	assert_int_equal(st.too_large, 1);
	cfgq_free(q);
	free(buf);
}

static void full_queue_drops_and_counts(void **state)
{
	struct cfgq *q;
	struct cfgq_item it;
	struct cfgq_stats st;
	char topic[64];
	(void)state;
	assert_int_equal(cfgq_new(NULL, NULL, &q), 0);
	for (int i = 0; i < CFGQ_MAX; i++) {
		snprintf(topic, sizeof topic, "rg/v1/s/0042/config/keys/%d", i + 2);
		assert_int_equal(cfgq_push(q, CFGDOC_SCOPE_KEYS, topic, "k", 1), 1);
	}
	assert_int_equal(cfgq_push(q, CFGDOC_SCOPE_TENANT, "t", "x", 1), RG_ERR_BUSY);
	/* a waiting topic can still be replaced when full */
	assert_int_equal(cfgq_push(q, CFGDOC_SCOPE_KEYS, "rg/v1/s/0042/config/keys/2", "kk", 2), 1);
	cfgq_stats_get(q, &st);
	assert_int_equal(st.dropped, 1);
	assert_int_equal(cfgq_pop(q, &it), 1);
	assert_int_equal(it.len, 2);
	cfgq_item_clear(&it);
	/* room again, and the ring wraps */
	assert_int_equal(cfgq_push(q, CFGDOC_SCOPE_TENANT, "t", "x", 1), 1);
	int n = 0;
	while (cfgq_pop(q, &it) == 1) {
		n++;
		if (n == CFGQ_MAX)
			assert_string_equal(it.topic, "t");
		cfgq_item_clear(&it);
	}
	assert_int_equal(n, CFGQ_MAX);
	cfgq_free(q); /* also frees what is left: none here; see below */
	assert_int_equal(cfgq_new(NULL, NULL, &q), 0);
	assert_int_equal(cfgq_push(q, CFGDOC_SCOPE_TENANT, "t", "left", 4), 1);
	cfgq_free(q); /* a waiting message is freed with the queue (ASan checks) */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(order_replace_and_empty),
	    cmocka_unit_test(too_large_is_not_copied),
	    cmocka_unit_test(full_queue_drops_and_counts),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
