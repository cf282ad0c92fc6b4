/*
 * test_sync_chaos.c - issue 5's chaos test. Three devices (two kiosks, one
 * handheld; caches seeded, so a tap never waits for central) stream taps
 * through their sim readers while the test, at moments drawn from a seeded
 * PRNG, SIGKILLs and restarts devices, the gateway and the cloud worker,
 * SIGKILLs and restarts the store and the central broker, and cuts and
 * restores the WAN (the fault proxy between the gateway and the central
 * broker: every live connection dropped, new ones refused). Then everything
 * is restored, the taps stop, and once the system has drained (bounded):
 *  - every interaction a screen confirmed is in the central store exactly
 *    once, and nothing else is there but, per device, at most the taps that
 *    were in flight when it was killed (recorded, never confirmed);
 *  - per device and lane, central applied the items in the device's order
 *    (HLC strictly increasing along interactions.seq, the confirmations in
 *    order, devices.out_of_order = 0), one visit per identified item;
 *  - every device outbox and the gateway spool are empty.
 *
 * Usage: test_sync_chaos regulars-device regulars-gateway regulars-cloud
 *        regularsctl UI-DIR
 * Environment:
 *   RG_CHAOS_SEED=S      replay a run (the seed is printed at the start)
 *   RG_CHAOS_SEEDS=N     long mode: N runs back to back, seeds S, S+1, ...
 *   RG_CHAOS_SECONDS=T   length of the chaos phase of each run (default 35;
 *                        25 under the sanitizers)
 *   RG_CHAOS_RATE=R      taps per second per device at most (default 250)
 *   RG_TEST_KEEP=1       keep a failed run's directory (logs, databases)
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "syncharness.h"

#define CUSTOMERS 400
#define N_DEVS 3
#define DRAIN_MS (90000 * SX_SLOW)

static char **args;
static struct sx_world world;
static bool passed;

enum chaos_ev {
	EV_DEVICE,
	EV_GATEWAY,
	EV_CLOUD,
	EV_STORE_BROKER,
	EV_CENTRAL_BROKER,
	EV_WAN,
	EV__COUNT
};
struct tally {
	int events[EV__COUNT];
	size_t interactions, taps;
	int64_t chaos_ms, drain_ms;
};

static const struct sx_dev_opts devs[N_DEVS] = {
    {.id = "dev-0042-k1", .resend_ms = 1000, .seed_cache = true},
    {.id = "dev-0042-k2", .resend_ms = 1000, .seed_cache = true},
    {.id = "dev-0042-h1", .handheld = true, .resend_ms = 1000, .seed_cache = true},
};

static void one_run(uint64_t seed, int seconds, int rate, struct tally *t)
{
	struct sx_world *w = &world;
	const struct sx_world_opts o = {.customers = CUSTOMERS,
					.wan_proxy = true,
					.gw_resend_ms = 1500,
					.devs = devs,
					.n_devs = N_DEVS,
					.seed = seed};
	int64_t dev_up[N_DEVS] = {0}, gw_up = 0, cloud_up = 0, store_up = 0, central_up = 0,
		wan_up = 0;
	bool store_down = false, central_down = false;

	memset(t, 0, sizeof *t);
	passed = false;
	sx_world_create(w, args, &o);
	sx_cloud_start(w);
	sx_gw_start(w);
	for (int i = 0; i < N_DEVS; i++)
		sx_dev_start(&w->dev[i]);

	int64_t t0 = dh_now_ms(), end = t0 + seconds * 1000LL;
	int64_t next = t0 + dh_range(&w->rng, 300, 2000);
	for (;;) {
		int64_t now = dh_now_ms();
		if (now >= end)
			break;
		/* Bring back what is due. */
		if (store_down && now >= store_up) {
			assert_int_equal(tb_broker_restart(w->store), 0);
			store_down = false;
		}
		if (central_down && now >= central_up) {
			assert_int_equal(tb_broker_restart(w->central), 0);
			central_down = false;
		}
		if (w->wan && fp_is_cut(w->wan) && now >= wan_up)
			fp_restore(w->wan);
		if (w->gw.pid < 0 && now >= gw_up)
			sx_gw_start(w);
		if (w->cloud.pid < 0 && now >= cloud_up)
			sx_cloud_start(w);
		for (int i = 0; i < N_DEVS; i++)
			if (!w->dev[i].running && now >= dev_up[i])
				sx_dev_start(&w->dev[i]);

		/* Something breaks. */
		if (now >= next) {
			enum chaos_ev ev = (enum chaos_ev)dh_range(&w->rng, 0, EV__COUNT - 1);
			int64_t down = dh_range(&w->rng, 0, 1000);
			switch (ev) {
			case EV_DEVICE: {
				int i = (int)dh_range(&w->rng, 0, N_DEVS - 1);
				if (w->dev[i].running) {
					sx_dev_kill(&w->dev[i]);
					dev_up[i] = now + down;
				}
				break;
			}
			case EV_GATEWAY:
				if (w->gw.pid > 0) {
					sx_proc_kill(&w->gw);
					gw_up = now + down;
				}
				break;
			case EV_CLOUD:
				if (w->cloud.pid > 0) {
					sx_proc_kill(&w->cloud);
					cloud_up = now + down;
				}
				break;
			case EV_STORE_BROKER:
				if (!store_down) {
					assert_int_equal(tb_broker_kill(w->store), 0);
					store_down = true;
					store_up = now + down / 2;
				}
				break;
			case EV_CENTRAL_BROKER:
				if (!central_down) {
					assert_int_equal(tb_broker_kill(w->central), 0);
					central_down = true;
					central_up = now + down / 2;
				}
				break;
			case EV_WAN:
				if (!fp_is_cut(w->wan)) {
					fp_cut(w->wan);
					wan_up = now + dh_range(&w->rng, 300, 3000);
				}
				break;
			case EV__COUNT:
				break;
			}
			t->events[ev]++;
			next = now + dh_range(&w->rng, 300, 2000);
		}

		/* Taps at up to rate per second per device. */
		for (int i = 0; i < N_DEVS; i++) {
			int64_t allowed = (now - t0) * rate / 1000;
			if ((int64_t)w->dev[i].taps_sent < allowed)
				sx_tap_fill(&w->dev[i], 90,
					    (size_t)(allowed - (int64_t)w->dev[i].taps_sent));
		}
		sx_pump(w, 5);
		sx_proc_check(&w->gw);
		sx_proc_check(&w->cloud);
	}
	t->chaos_ms = dh_now_ms() - t0;

	/* Everything back; the last taps land on their screens; drain. */
	if (store_down)
		assert_int_equal(tb_broker_restart(w->store), 0);
	if (central_down)
		assert_int_equal(tb_broker_restart(w->central), 0);
	if (fp_is_cut(w->wan))
		fp_restore(w->wan);
	if (w->gw.pid < 0)
		sx_gw_start(w);
	if (w->cloud.pid < 0)
		sx_cloud_start(w);
	for (int i = 0; i < N_DEVS; i++)
		if (!w->dev[i].running)
			sx_dev_start(&w->dev[i]);
	sx_settle(w, 30000 * SX_SLOW);
	t->interactions = sx_confirmed(w);
	for (int i = 0; i < N_DEVS; i++)
		t->taps += w->dev[i].taps_sent;
	t->drain_ms = sx_wait_drained(w, DRAIN_MS);

	struct fp_stats fs;
	fp_stats_get(w->wan, &fs);
	print_message("seed %llu: %lld ms of chaos, %zu taps, %zu interactions confirmed; "
		      "events: device %d, gateway %d, cloud %d, store_broker %d, "
		      "central_broker %d, wan %d (%lld connections dropped, %lld refused); "
		      "drained %lld ms after the last fault\n",
		      (unsigned long long)seed, (long long)t->chaos_ms, t->taps, t->interactions,
		      t->events[EV_DEVICE], t->events[EV_GATEWAY], t->events[EV_CLOUD],
		      t->events[EV_STORE_BROKER], t->events[EV_CENTRAL_BROKER], t->events[EV_WAN],
		      (long long)fs.dropped, (long long)fs.refused, (long long)t->drain_ms);
	sx_check_end_state(w);
	passed = true;
	sx_world_free(w, true);
}

static void chaos_loses_nothing_and_keeps_order(void **state)
{
	(void)state;
	uint64_t seed = dh_seed_from_env("RG_CHAOS_SEED");
	long seeds = dh_env_long("RG_CHAOS_SEEDS", 1);
	int seconds = (int)dh_env_long("RG_CHAOS_SECONDS", DH_SANITIZED ? 25 : 35);
	int rate = (int)dh_env_long("RG_CHAOS_RATE", 250);
	struct tally sum = {0};
	int64_t t0 = dh_now_ms();

	if (seeds < 1)
		seeds = 1;
	print_message("chaos: %ld run(s) of %d s from seed %llu (replay one with "
		      "RG_CHAOS_SEED=<seed>)\n",
		      seeds, seconds, (unsigned long long)seed);
	for (long r = 0; r < seeds; r++) {
		struct tally t;
		one_run(seed + (uint64_t)r, seconds, rate, &t);
		for (int e = 0; e < EV__COUNT; e++)
			sum.events[e] += t.events[e];
		sum.interactions += t.interactions;
		sum.taps += t.taps;
		print_message("run %ld/%ld passed (seed %llu)\n", r + 1, seeds,
			      (unsigned long long)(seed + (uint64_t)r));
	}
	int kills = sum.events[EV_DEVICE] + sum.events[EV_GATEWAY] + sum.events[EV_CLOUD] +
		    sum.events[EV_STORE_BROKER] + sum.events[EV_CENTRAL_BROKER];
	print_message("chaos: %ld run(s) passed, %d kills, %d WAN cuts, %zu interactions "
		      "(%zu taps), %lld s in all\n",
		      seeds, kills, sum.events[EV_WAN], sum.interactions, sum.taps,
		      (long long)(dh_now_ms() - t0) / 1000);
}

static int teardown(void **state)
{
	(void)state;
	if (!passed && world.env)
		sx_world_free(&world, false);
	return 0;
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_teardown(chaos_loses_nothing_and_keeps_order, teardown),
	};
	args = sx_args(argc, argv, NULL);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
