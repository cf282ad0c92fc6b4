/*
 * test_sync_offline.c - issue 5's long-offline test. The WAN (the fault
 * proxy between the gateway and the central broker) is cut; three devices
 * (two kiosks, one handheld) take N taps through their sim readers, every
 * one confirmed on a screen. The store side keeps working: the gateway
 * spools what the devices send and answers with receipts, the rest waits in
 * the outboxes (a device keeps at most 32 batches unacknowledged), and
 * nothing reaches central. Then the WAN returns and everything drains. The
 * test reports the fill time and the drain time (from the restore until
 * central holds every interaction and every outbox and the spool are
 * empty, with the gateway's reconnect time inside it), then checks the same
 * end state as the chaos test: each interaction in central exactly once, in
 * per-device order, outboxes and spool empty.
 *
 * Usage: test_sync_offline regulars-device regulars-gateway regulars-cloud
 *        regularsctl UI-DIR [N]
 * N (default 100000) also from RG_OFFLINE_N; CMake passes 10000 to the
 * sanitizer build. RG_SYNC_SEED replays the tap sequence.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "syncharness.h"

#define CUSTOMERS 400
#define N_DEVS 3

static char **args;
static long n_total = 100000;
static struct sx_world world;
static bool passed;

static const struct sx_dev_opts devs[N_DEVS] = {
    {.id = "dev-0042-k1", .seed_cache = true},
    {.id = "dev-0042-k2", .seed_cache = true},
    {.id = "dev-0042-h1", .handheld = true, .seed_cache = true},
};

static int count_lines(const char *path, const char *needle)
{
	FILE *f = fopen(path, "r");
	static char line[8192];
	int n = 0;
	if (!f)
		return 0;
	while (fgets(line, sizeof line, f))
		n += strstr(line, needle) != NULL;
	fclose(f);
	return n;
}

static void offline_backlog_drains_when_the_wan_returns(void **state)
{
	(void)state;
	struct sx_world *w = &world;
	const struct sx_world_opts o = {.customers = CUSTOMERS,
					.wan_proxy = true,
					.devs = devs,
					.n_devs = N_DEVS,
					.seed = dh_seed_from_env("RG_SYNC_SEED")};
	char needle[128];
	struct stat sb;

	print_message("%ld interactions offline, seed %llu\n", n_total,
		      (unsigned long long)o.seed);
	sx_world_create(w, args, &o);
	sx_cloud_start(w);
	sx_wait_log(w, w->cloud.log, "event=connected identity=" SX_CLOUD, 20000 * SX_SLOW);
	sx_gw_start(w);
	snprintf(needle, sizeof needle, "comp=gw-central event=connected");
	sx_wait_log(w, w->gw.log, needle, 20000 * SX_SLOW);
	/* The WAN goes down before the first tap. */
	fp_cut(w->wan);
	sx_wait_log(w, w->gw.log, "comp=gw-central event=connection_lost", 20000 * SX_SLOW);
	for (int i = 0; i < N_DEVS; i++)
		sx_dev_start(&w->dev[i]);

	/* Fill: N taps in all, every one confirmed on a screen. */
	int64_t t0 = dh_now_ms(), last_print = t0;
	long share = n_total / N_DEVS;
	for (;;) {
		bool done = true;
		for (int i = 0; i < N_DEVS; i++) {
			struct sx_dev *d = &w->dev[i];
			long want = share + (i == 0 ? n_total % N_DEVS : 0);
			if ((long)d->taps_sent < want)
				sx_tap_fill(d, 95, (size_t)(want - (long)d->taps_sent));
			if ((long)d->n_conf < want)
				done = false;
		}
		if (done)
			break;
		if (dh_now_ms() - t0 > 150000 * SX_SLOW)
			fail_msg("the fill stalled at %zu of %ld", sx_confirmed(w), n_total);
		if (dh_now_ms() - last_print > 10000) {
			last_print = dh_now_ms();
			print_message("  %zu confirmed after %lld ms\n", sx_confirmed(w),
				      (long long)(last_print - t0));
		}
		sx_pump(w, 20);
		sx_proc_check(&w->gw);
		sx_proc_check(&w->cloud);
	}
	int64_t fill_ms = dh_now_ms() - t0;
	assert_int_equal((long)sx_confirmed(w), n_total);

	/* The store side kept working while the WAN was down: the spool took
	 * batches (receipts let the devices go on), central got nothing. */
	for (int64_t end = dh_now_ms() + 20000 * SX_SLOW; sx_spool_batches(w) == 0;) {
		if (dh_now_ms() > end)
			fail_msg("nothing reached the gateway spool with the WAN cut");
		sx_pump(w, 50);
	}
	long spool_batches = sx_spool_batches(w), outboxes = 0;
	for (int i = 0; i < N_DEVS; i++)
		outboxes += sx_dev_outbox(&w->dev[i]);
	assert_int_equal(sx_central_count(w), 0);
	assert_int_equal(outboxes, n_total); /* nothing acked: every row still waits */
	char wal[420];
	long long spool_bytes = 0;
	snprintf(wal, sizeof wal, "%.400s-wal", w->gw_spool);
	if (stat(w->gw_spool, &sb) == 0)
		spool_bytes += sb.st_size;
	if (stat(wal, &sb) == 0)
		spool_bytes += sb.st_size;
	print_message("fill: %ld interactions confirmed in %lld ms (%.0f/s) with the WAN cut; "
		      "gateway spool %ld batches (%lld KiB with its WAL), outboxes %ld rows\n",
		      n_total, (long long)fill_ms, (double)n_total * 1000.0 / (double)fill_ms,
		      spool_batches, spool_bytes / 1024, outboxes);

	/* The WAN returns. */
	int connects = count_lines(w->gw.log, "comp=gw-central event=connected");
	int64_t t1 = dh_now_ms();
	fp_restore(w->wan);
	for (;;) {
		if (count_lines(w->gw.log, "comp=gw-central event=connected") > connects)
			break;
		if (dh_now_ms() - t1 > 60000)
			fail_msg("the gateway did not reconnect to central within 60 s");
		sx_pump(w, 50);
	}
	int64_t reconnect_ms = dh_now_ms() - t1;
	int64_t rest = sx_wait_drained(w, 150000 * SX_SLOW);
	int64_t drain_ms = dh_now_ms() - t1;
	print_message("drain: %lld ms from the WAN's return (gateway reconnect %lld ms, its "
		      "backoff; then %lld ms: %.0f interactions/s) until central had all %ld "
		      "and every outbox and the spool were empty\n",
		      (long long)drain_ms, (long long)reconnect_ms, (long long)rest,
		      (double)n_total * 1000.0 / (double)(rest ? rest : 1), n_total);
	sx_check_end_state(w);
	passed = true;
}

static int teardown(void **state)
{
	(void)state;
	sx_world_free(&world, passed);
	return 0;
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_teardown(offline_backlog_drains_when_the_wan_returns, teardown),
	};
	args = sx_args(argc, argv, " [N]");
	if (argc > 6)
		n_total = strtol(argv[6], NULL, 10);
	if (getenv("RG_OFFLINE_N"))
		n_total = strtol(getenv("RG_OFFLINE_N"), NULL, 10);
	if (n_total < N_DEVS) {
		fprintf(stderr, "N must be at least %d\n", N_DEVS);
		return 2;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
