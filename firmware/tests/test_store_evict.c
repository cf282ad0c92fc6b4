/*
 * test_store_evict.c - the bounded cache: over max_profiles or max_bytes the
 * least recently seen profiles go, with their identifiers; a lookup makes a
 * profile recent (through the batched last_seen); a profile the outbox
 * references - directly or under a merged id - is never evicted, until the
 * ack releases it. Limits lowered at run time (pushed configuration) evict
 * at once, in the same order.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "common/err.h"
#include "store_fixture.h"

static void put_n(struct store *s, int from, int to)
{
	for (int i = from; i < to; i++) {
		char id[32], card[32], name[48];
		snprintf(id, sizeof id, "p-%d", i);
		snprintf(card, sizeof card, "90000%02d", i);
		snprintf(name, sizeof name, "Person N%d", i);
		assert_int_equal(fx_put(s, id, 1, name, card), 1);
		rg_clock_manual_advance(&fx.clock, 1000);
	}
}

/* Whether p-<i> is cached, read from the table: store_profile_get would
 * count as a lookup and change the LRU order under test. */
static int cached(int i)
{
	char sql[96];
	sqlite3 *db = fx_raw();
	snprintf(sql, sizeof sql, "SELECT count(*) FROM profiles WHERE id = 'p-%d'", i);
	int64_t n = fx_int(db, sql);
	sqlite3_close(db);
	return (int)n;
}

static void eviction_by_count_drops_least_recently_seen_with_identifiers(void **state)
{
	char card[32];
	struct store *s;
	(void)state;
	fx.cfg.max_profiles = 5;
	s = fx_open();
	put_n(s, 0, 5); /* p-0 .. p-4, seen in that order */
	/* p-0 and p-1 are looked up: now p-2 is the least recently seen */
	assert_int_equal(fx_identify(s, "9000000", NULL, NULL, 0), 1);
	rg_clock_manual_advance(&fx.clock, 1000);
	assert_int_equal(fx_identify(s, "9000001", NULL, NULL, 0), 1);
	rg_clock_manual_advance(&fx.clock, 1000);
	assert_int_equal(fx_stats(s).seen_pending, 2); /* not written yet */
	put_n(s, 5, 7);				       /* two over the cap */
	assert_int_equal(fx_stats(s).seen_pending, 0); /* written before evicting */

	struct store_stats st = fx_stats(s);
	assert_int_equal(st.profiles, 5);
	assert_int_equal(st.identifiers, 5);
	assert_int_equal(st.evicted, 2);
	int want[7] = {1, 1, 0, 0, 1, 1, 1};
	for (int i = 0; i < 7; i++) {
		snprintf(card, sizeof card, "90000%02d", i);
		assert_int_equal(cached(i), want[i]);
		assert_int_equal(fx_identify(s, card, NULL, NULL, 0), want[i]);
	}
	store_close(s);
}

static void eviction_by_bytes_keeps_the_sealed_total_under_the_cap(void **state)
{
	struct store *s;
	(void)state;
	s = fx_open();
	put_n(s, 0, 1);
	int64_t one = fx_stats(s).profile_bytes;
	store_close(s);
	fx_teardown(NULL);
	fx_setup(NULL);
	fx.cfg.max_bytes = one * 3 + one / 2 > 4096 ? one * 3 + one / 2 : 4096;
	int fit = (int)(fx.cfg.max_bytes / one);
	s = fx_open();
	put_n(s, 0, fit + 3);
	struct store_stats st = fx_stats(s);
	assert_true(st.profile_bytes <= fx.cfg.max_bytes);
	assert_int_equal(st.profiles, fit);
	assert_int_equal(st.evicted, 3);
	for (int i = 0; i < fit + 3; i++)
		assert_int_equal(cached(i), i >= 3);
	store_close(s);
}

static void outbox_referenced_profiles_are_never_evicted(void **state)
{
	struct store *s;
	(void)state;
	fx.cfg.max_profiles = 3;
	s = fx_open();
	put_n(s, 0, 3);
	/* p-0 is the oldest, but an unacknowledged note references it */
	struct store_outbox_ref note;
	assert_int_equal(
	    fx_append(s, RG_KIND_NOTE, "p-0", NULL, "{\"text\":\"called back\"}", &note), 0);
	put_n(s, 3, 4);
	assert_int_equal(cached(0), 1);
	assert_int_equal(cached(1), 0);
	assert_int_equal(fx_identify(s, "9000000", NULL, NULL, 0), 1);

	/* when every other profile is pinned too, the cache stays over its cap */
	struct store_outbox_ref r2, r3;
	assert_int_equal(fx_append(s, RG_KIND_IDENTIFIED, "p-2", NULL, "{}", &r2), 0);
	assert_int_equal(fx_append(s, RG_KIND_IDENTIFIED, "p-3", NULL, "{}", &r3), 0);
	put_n(s, 4, 5);
	assert_int_equal(fx_stats(s).profiles, 4);
	assert_int_equal(cached(4), 1); /* the one just written is kept */
	put_n(s, 5, 6);
	assert_int_equal(fx_stats(s).profiles, 4);
	assert_int_equal(cached(4), 0); /* unpinned and oldest: gone */
	assert_int_equal(cached(5), 1);

	/* the ack releases p-0 and p-2: eviction goes back under the cap at once,
	 * taking p-2 (p-0 was looked up after p-2 was written) */
	struct rg_uuid ids[2] = {note.id, r2.id};
	assert_int_equal(store_outbox_ack(s, ids, 2), 2);
	assert_int_equal(fx_stats(s).profiles, 3);
	assert_int_equal(cached(2), 0);
	assert_int_equal(cached(0), 1);
	assert_int_equal(cached(3), 1);
	assert_int_equal(cached(5), 1);
	store_close(s);
}

static void a_merged_id_in_the_outbox_pins_the_profile_it_became(void **state)
{
	struct store *s;
	(void)state;
	fx.cfg.max_profiles = 2;
	s = fx_open();
	put_n(s, 0, 1);
	assert_int_equal(fx_append(s, RG_KIND_NOTE, "p-old", NULL, "{\"text\":\"x\"}", NULL), 0);
	assert_int_equal(store_merge_record(s, "p-old", "p-0"), 1);
	put_n(s, 1, 4);
	assert_int_equal(cached(0), 1);
	assert_int_equal(fx_stats(s).profiles, 2);
	store_close(s);
}

static int64_t last_seen(sqlite3 *db, const char *id)
{
	char sql[160];
	snprintf(sql, sizeof sql,
		 "SELECT s.last_seen FROM profile_seen s JOIN profiles p ON p.pid = s.pid "
		 "WHERE p.id = '%s'",
		 id);
	return fx_int(db, sql);
}

static void last_seen_is_batched_and_written_on_flush_and_close(void **state)
{
	struct store *s;
	sqlite3 *db;
	(void)state;
	fx.cfg.seen_resolution_ms = 60000;
	fx.cfg.seen_flush_ms = 30000;
	s = fx_open();
	put_n(s, 0, 3);
	db = fx_raw();
	int64_t t2 = last_seen(db, "p-2");
	/* within the resolution of the stored value: noted, but nothing to write */
	assert_int_equal(fx_identify(s, "9000002", NULL, NULL, 0), 1);
	assert_int_equal(fx_stats(s).seen_pending, 1);
	assert_int_equal(store_flush(s), 0);
	assert_int_equal(last_seen(db, "p-2"), t2);
	assert_int_equal(fx_stats(s).seen_pending, 0);

	rg_clock_manual_advance(&fx.clock, 120000);
	int64_t t = rg_clock_wall_ms(&fx.clock.clock);
	assert_int_equal(fx_identify(s, "9000000", NULL, NULL, 0), 1);
	assert_int_equal(fx_identify(s, "9000000", NULL, NULL, 0), 1);
	assert_int_equal(fx_identify(s, "9000001", NULL, NULL, 0), 1);
	assert_int_equal(fx_stats(s).seen_pending, 2);
	assert_true(last_seen(db, "p-0") < t); /* no write on the read path */
	assert_int_equal(store_flush(s), 2);
	assert_int_equal(last_seen(db, "p-0"), t);
	assert_int_equal(last_seen(db, "p-1"), t);
	assert_int_equal(store_flush(s), 0);

	/* a value pending for seen_flush_ms is flushed from the read path */
	rg_clock_manual_advance(&fx.clock, 120000);
	assert_int_equal(fx_identify(s, "9000000", NULL, NULL, 0), 1);
	assert_int_equal(fx_stats(s).seen_pending, 1);
	rg_clock_manual_advance(&fx.clock, 29000);
	assert_int_equal(fx_identify(s, "9000000", NULL, NULL, 0), 1);
	assert_int_equal(fx_stats(s).seen_pending, 1);
	rg_clock_manual_advance(&fx.clock, 1000);
	assert_int_equal(fx_identify(s, "9000002", NULL, NULL, 0), 1);
	assert_int_equal(fx_stats(s).seen_pending, 0);
	assert_int_equal(last_seen(db, "p-2"), rg_clock_wall_ms(&fx.clock.clock));

	/* and close writes what is pending */
	rg_clock_manual_advance(&fx.clock, 120000);
	assert_int_equal(fx_identify(s, "9000001", NULL, NULL, 0), 1);
	store_close(s);
	assert_int_equal(last_seen(db, "p-1"), rg_clock_wall_ms(&fx.clock.clock));
	sqlite3_close(db);
}

static void a_full_pending_map_is_flushed_from_the_read_path(void **state)
{
	struct store *s;
	sqlite3 *db;
	(void)state;
	fx.cfg.seen_pending_max = 16;
	s = fx_open();
	put_n(s, 0, 20);
	rg_clock_manual_advance(&fx.clock, 5000);
	for (int i = 0; i < 15; i++) {
		char card[32];
		snprintf(card, sizeof card, "90000%02d", i);
		assert_int_equal(fx_identify(s, card, NULL, NULL, 0), 1);
	}
	assert_int_equal(fx_stats(s).seen_pending, 15);
	assert_int_equal(fx_identify(s, "9000015", NULL, NULL, 0), 1);
	assert_int_equal(fx_stats(s).seen_pending, 0);
	db = fx_raw();
	assert_int_equal(last_seen(db, "p-15"), rg_clock_wall_ms(&fx.clock.clock));
	assert_int_equal(fx_int(db, "SELECT count(*) FROM profile_seen"), 20);
	sqlite3_close(db);
	store_close(s);

	fx.cfg.seen_pending_max = 15;
	assert_int_equal(store_open(&fx.cfg, &s), RG_ERR_RANGE);
}

static void lowered_limits_evict_at_once_in_lru_order(void **state)
{
	struct store *s;
	(void)state;
	s = fx_open();
	put_n(s, 0, 6); /* p-0 .. p-5 */
	/* p-0 is looked up (pending, not yet written): it is recent now */
	assert_int_equal(fx_identify(s, "9000000", NULL, NULL, 0), 1);
	rg_clock_manual_advance(&fx.clock, 1000);
	assert_int_equal(store_set_limits(s, 3, 0), 3);
	struct store_stats st = fx_stats(s);
	assert_int_equal(st.profiles, 3);
	assert_int_equal(st.max_profiles, 3);
	assert_int_equal(st.evicted, 3);
	assert_int_equal(st.seen_pending, 0); /* written before choosing */
	assert_int_equal(cached(0), 1);
	assert_int_equal(cached(1) + cached(2) + cached(3), 0);
	assert_int_equal(cached(4) + cached(5), 2);
	/* 0 keeps a limit as it is */
	assert_int_equal(store_set_limits(s, 0, INT64_C(1) << 29), 0);
	assert_int_equal(fx_stats(s).max_profiles, 3);
	assert_int_equal(fx_stats(s).max_bytes, INT64_C(1) << 29);
	/* raising evicts nothing; bad values change nothing */
	assert_int_equal(store_set_limits(s, 100, INT64_C(1) << 30), 0);
	assert_int_equal(store_set_limits(s, -1, 0), RG_ERR_RANGE);
	assert_int_equal(store_set_limits(s, 0, 100), RG_ERR_RANGE);
	assert_int_equal(fx_stats(s).max_profiles, 100);
	assert_int_equal(store_set_limits(NULL, 1, 0), RG_ERR_INVAL);
	/* pinned profiles stay; the limit still changes */
	struct store_outbox_ref ref;
	assert_int_equal(fx_append(s, RG_KIND_IDENTIFIED, "p-4", NULL, "{}", &ref), 0);
	assert_int_equal(fx_append(s, RG_KIND_IDENTIFIED, "p-0", NULL, "{}", &ref), 0);
	int before = (int)fx_stats(s).profiles;
	assert_int_equal(store_set_limits(s, 1, 0), before - 2 > 0 ? before - 2 : 0);
	assert_int_equal(fx_stats(s).max_profiles, 1);
	store_close(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(
		eviction_by_count_drops_least_recently_seen_with_identifiers, fx_setup,
		fx_teardown),
	    cmocka_unit_test_setup_teardown(eviction_by_bytes_keeps_the_sealed_total_under_the_cap,
					    fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(outbox_referenced_profiles_are_never_evicted, fx_setup,
					    fx_teardown),
	    cmocka_unit_test_setup_teardown(a_merged_id_in_the_outbox_pins_the_profile_it_became,
					    fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(last_seen_is_batched_and_written_on_flush_and_close,
					    fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(lowered_limits_evict_at_once_in_lru_order, fx_setup,
					    fx_teardown),
	    cmocka_unit_test_setup_teardown(a_full_pending_map_is_flushed_from_the_read_path,
					    fx_setup, fx_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
