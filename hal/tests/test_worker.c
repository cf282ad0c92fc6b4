/* test_worker.c - backoff doubling and capping, "log the loss once and the
 * recovery once", and that stopping wakes a thread blocked in a wait. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "common/err.h"
#include "common/log.h"

#include "core/worker.h"

#include "hal_test_util.h"

static void backoff_doubles_caps_and_resets(void **state)
{
	struct hal__backoff b;
	static const int want[] = {100, 200, 400, 800, 1000, 1000};
	(void)state;
	hal__backoff_init(&b, 100, 1000);
	for (size_t i = 0; i < 6; i++)
		assert_int_equal(hal__backoff_next(&b), want[i]);
	hal__backoff_reset(&b);
	assert_int_equal(hal__backoff_next(&b), 100);
	hal__backoff_init(&b, 0, -5); /* nonsense is clamped, never 0 or negative */
	assert_true(hal__backoff_next(&b) >= 1);
	hal__backoff_init(&b, 1, 1 << 30);
	for (int i = 0; i < 64; i++)
		assert_true(hal__backoff_next(&b) > 0); /* no overflow */
}

static size_t count(const char *hay, const char *needle)
{
	size_t n = 0;
	for (const char *p = hay; (p = strstr(p, needle)); p++)
		n++;
	return n;
}

static char *slurp(FILE *f)
{
	long n;
	char *s;
	fflush(f);
	n = ftell(f);
	s = calloc(1, (size_t)n + 1);
	rewind(f);
	assert_int_equal(fread(s, 1, (size_t)n, f), (size_t)n);
	return s;
}

static void link_logs_each_transition_once(void **state)
{
	struct hal__link l;
	FILE *f = tmpfile();
	char *log;
	(void)state;
	assert_non_null(f);
	rg_log_set_stream(f);
	hal__link_init(&l, "reader", "test", "/dev/x");
	for (int i = 0; i < 5; i++)
		hal__link_down(&l, "open", RG_ERR_DEVICE);
	assert_int_equal(atomic_load(&l.connected), 0);
	hal__link_up(&l);
	assert_int_equal(atomic_load(&l.connected), 1);
	hal__link_up(&l); /* no second line */
	for (int i = 0; i < 4; i++)
		hal__link_down(&l, "read", RG_ERR_DEVICE);
	hal__link_up(&l);
	rg_log_set_stream(NULL);
	log = slurp(f);
	assert_int_equal(count(log, "event=device_unavailable"), 1);
	assert_int_equal(count(log, "event=device_open"), 1);
	assert_int_equal(count(log, "event=device_recovered"), 1);
	assert_int_equal(count(log, "event=device_lost"), 1);
	assert_int_equal(count(log, "failed_attempts=5"), 1);
	assert_int_equal(count(log, "failed_attempts=3"), 1); /* lost + 3 failed reopens */
	free(log);
	fclose(f);
}

static void *blocked(void *arg)
{
	struct hal__worker *w = arg;
	while (hal__worker_wait(w, -1, 0, -1, NULL) != HAL__WORKER_STOP)
		;
	return NULL;
}

static void stop_wakes_a_blocked_thread(void **state)
{
	struct hal__worker w;
	struct timespec a, b;
	(void)state;
	assert_int_equal(hal__worker_start(&w, blocked, &w), 0);
	clock_gettime(CLOCK_MONOTONIC, &a);
	hal__worker_stop(&w);
	clock_gettime(CLOCK_MONOTONIC, &b);
	assert_true(b.tv_sec - a.tv_sec < 2);
	assert_false(w.started);
	hal__worker_stop(&w); /* idempotent */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(backoff_doubles_caps_and_resets),
	    cmocka_unit_test(link_logs_each_transition_once),
	    cmocka_unit_test(stop_wakes_a_blocked_thread),
	};
	tu_require_threads();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
