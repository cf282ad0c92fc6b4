/* The main-loop wakeup: posts wake the poll, flags come out once (stop stays),
 * and the installed handlers turn SIGHUP into a reload and SIGTERM into a stop. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <poll.h>
#include <signal.h>

#include "common/wake.h"

static bool readable(void)
{
	struct pollfd p = {.fd = rg_wake_fd(), .events = POLLIN};
	return poll(&p, 1, 0) == 1;
}

static void posts_wake_and_flags_come_out_once(void **state)
{
	(void)state;
	assert_int_equal(rg_wake_open(), 0);
	assert_false(readable());
	assert_int_equal(rg_wake_take(), 0);

	rg_wake_post(RG_WAKE_WORK);
	assert_true(readable());
	assert_int_equal(rg_wake_take(), 0);
	assert_false(readable()); /* drained */

	rg_wake_post(RG_WAKE_RELOAD);
	rg_wake_post(RG_WAKE_RELOAD);
	assert_true(readable());
	assert_int_equal(rg_wake_take(), RG_WAKE_RELOAD);
	assert_int_equal(rg_wake_take(), 0); /* a reload is taken once */

	assert_false(rg_wake_stopping());
	rg_wake_close();
	assert_int_equal(rg_wake_fd(), -1);
}

static void many_posts_never_block(void **state)
{
	(void)state;
	assert_int_equal(rg_wake_open(), 0);
	for (int i = 0; i < 200000; i++) /* far more than a pipe holds */
		rg_wake_post(RG_WAKE_WORK);
	assert_true(readable());
	rg_wake_take();
	assert_false(readable());
	rg_wake_close();
}

static void signals_post_reload_and_stop(void **state)
{
	(void)state;
	assert_int_equal(rg_wake_open(), 0);
	assert_int_equal(rg_wake_signals(), 0);
	raise(SIGHUP);
	assert_true(readable());
	unsigned f = rg_wake_take();
	assert_true(f & RG_WAKE_RELOAD);
	raise(SIGPIPE); /* ignored: the process lives on */
	assert_false(rg_wake_stopping());
	raise(SIGTERM);
	assert_true(rg_wake_stopping());
	assert_int_equal(rg_wake_take(), RG_WAKE_STOP);
	assert_int_equal(rg_wake_take(), RG_WAKE_STOP); /* a stop stays */
	rg_wake_close();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(posts_wake_and_flags_come_out_once),
		cmocka_unit_test(many_posts_never_block),
		/* last: it leaves the stop flag set (a stop is for good) */
		cmocka_unit_test(signals_post_reload_and_stop),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
