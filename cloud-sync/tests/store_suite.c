/*
 * store_suite.c - the shared behaviour suite of the central profile store,
 * only through cloud/store.h: idempotent application, one transaction per
 * batch, the derived state of every kind, last-writer-wins with the device
 * tie-break, the erasure tombstone, the per-device order record, seeding,
 * the change log, and the identity graph (link, merge, unmerge), operator
 * erasure and imported interactions of other channels. Every backend must
 * pass it unchanged.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>
#include <cmocka.h>

#include "cloud_fixture.h"
#include "common/err.h"
#include "common/log.h"
#include "store_suite.h"

#define DEV_A "dev-0042-a"
#define DEV_B "dev-0042-b"
#define T CF_T0

static const struct suite_backend *B;

struct sfx {
	struct cf_dir dir;
	struct rg_clock_manual clock;
	struct cloud_store *s;
};

static int setup(void **state)
{
	struct sfx *f = calloc(1, sizeof *f);
	struct cloud_store_opts o;
	if (!f || cf_dir_make(&f->dir, "store") < 0)
		return -1;
	rg_log_set_level(RG_LOG_OFF);
	cf_ids_init(T);
	rg_clock_manual_init(&f->clock, T);
	memset(&o, 0, sizeof o);
	B->opts(&o, f->dir.path);
	o.clock = &f->clock.clock;
	if (cloud_store_open(&o, &f->s) < 0)
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct sfx *f = *state;
	cloud_store_close(f->s);
	cf_dir_remove(&f->dir);
	free(f);
	return 0;
}

/* Seed profile id with {"name":..,"points":points} and one card token. */
static void seed(struct sfx *f, const char *id, int points, const char *card)
{
	char body[200];
	uint8_t tok[1][RG_TOKEN_LEN];
	const char *types[1] = {"loyalty"};
	struct cloud_seed_profile p = {.id = id, .version = 1, .body = body};
	snprintf(body, sizeof body,
		 "{\"name\":\"Test %s\",\"points\":%d,\"preferences\":{\"language\":\"en\"}}", id,
		 points);
	p.body_len = strlen(body);
	if (card) {
		cf_token(card, tok[0]);
		p.tokens = tok;
		p.token_types = types;
		p.n_tokens = 1;
	}
	assert_int_equal(cloud_store_seed(f->s, &p, 1), 1);
}

static void apply(struct sfx *f, struct cf_batch *cb, struct cloud_apply_result *r)
{
	struct rg_wire_batch b;
	cf_batch_end(cb, &b, NULL);
	assert_int_equal(cloud_store_apply_batch(f->s, &b, r), 0);
	rg_wire_batch_free(&b);
}

/* The rendered profile body, parsed (caller deletes). */
static cJSON *body_of(struct sfx *f, const char *id, struct cloud_profile *p)
{
	cJSON *j;
	assert_int_equal(cloud_store_profile_get(f->s, id, p), 1);
	j = cJSON_Parse(p->body);
	assert_non_null(j);
	return j;
}

static const char *str_at(const cJSON *o, const char *a, const char *b)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, a);
	if (b)
		v = cJSON_GetObjectItemCaseSensitive(v, b);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static enum cloud_outcome outcome_of(struct sfx *f, const struct rg_uuid *id)
{
	struct cloud_interaction it;
	assert_int_equal(cloud_store_interaction_get(f->s, id, &it), 1);
	return it.outcome;
}

static int64_t last_change(struct sfx *f)
{
	struct cloud_store_stats st;
	assert_int_equal(cloud_store_stats(f->s, &st), 0);
	return st.last_change_seq;
}

/* ---- tests ---- */

static void same_batch_twice_has_one_effect(void **state)
{
	struct sfx *f = *state;
	struct cloud_apply_result r;
	struct cloud_profile p;
	struct rg_wire_batch b;
	struct cf_batch cb;
	char *doc;
	int64_t seq;

	seed(f, "p-1", 1000, NULL);
	cf_batch_begin(&cb, DEV_A, "0042");
	cf_batch_add(&cb, RG_KIND_IDENTIFIED, T + 1, "p-1", NULL, "{\"channel\":\"kiosk\"}");
	cf_batch_add(&cb, RG_KIND_POINTS_REDEEMED, T + 2, "p-1", NULL,
		     "{\"channel\":\"handheld\",\"points\":300}");
	cf_batch_end(&cb, &b, &doc);
	assert_int_equal(cloud_store_apply_batch(f->s, &b, &r), 0);
	assert_int_equal(r.applied, 2);
	assert_int_equal(r.duplicates, 0);
	seq = last_change(f);

	/* the same document again (a gateway resend): acked, no effect */
	assert_int_equal(cloud_store_apply_batch(f->s, &b, &r), 0);
	assert_int_equal(r.applied, 0);
	assert_int_equal(r.duplicates, 2);
	assert_int_equal(last_change(f), seq);
	rg_wire_batch_free(&b);
	free(doc);

	assert_int_equal(cloud_store_profile_get(f->s, "p-1", &p), 1);
	assert_int_equal(p.visits, 1);
	assert_int_equal(p.points, 700);
	cloud_profile_clear(&p);
}

static void failure_midway_leaves_nothing(void **state)
{
	struct sfx *f = *state;
	struct cloud_apply_result r;
	struct cloud_interaction it;
	struct cloud_device_state ds;
	struct cloud_profile p;
	struct rg_wire_batch b;
	struct cf_batch cb;
	struct rg_uuid third;
	char id[RG_UUID_STR_LEN + 1];
	int64_t seq;

	seed(f, "p-1", 100, NULL);
	seq = last_change(f);
	cf_batch_begin(&cb, DEV_A, "0042");
	cf_batch_add(&cb, RG_KIND_IDENTIFIED, T + 1, "p-1", NULL, "{}");
	cf_batch_add(&cb, RG_KIND_NOTE, T + 2, "p-1", NULL, "{\"text\":\"first\"}");
	third = cf_batch_add(&cb, RG_KIND_POINTS_REDEEMED, T + 3, "p-1", NULL, "{\"points\":5}");
	cf_batch_end(&cb, &b, NULL);

	B->fail_on(f->dir.path, cf_uuid_str(&third, id));
	assert_true(cloud_store_apply_batch(f->s, &b, &r) < 0);
	/* nothing of the two items before the fault remains */
	assert_int_equal(cloud_store_interaction_get(f->s, &cb.ids[0], &it), 0);
	assert_int_equal(cloud_store_interaction_get(f->s, &cb.ids[1], &it), 0);
	assert_int_equal(cloud_store_device_get(f->s, DEV_A, RG_LANE_INTERACTIONS, &ds), 0);
	assert_int_equal(last_change(f), seq);
	assert_int_equal(cloud_store_profile_get(f->s, "p-1", &p), 1);
	assert_int_equal(p.visits, 0);
	assert_int_equal(p.points, 100);
	assert_null(strstr(p.body, "first"));
	cloud_profile_clear(&p);

	/* the resend after the fault is gone applies everything once */
	B->fail_clear(f->dir.path);
	assert_int_equal(cloud_store_apply_batch(f->s, &b, &r), 0);
	assert_int_equal(r.applied, 3);
	assert_int_equal(cloud_store_profile_get(f->s, "p-1", &p), 1);
	assert_int_equal(p.visits, 1);
	assert_int_equal(p.points, 95);
	cloud_profile_clear(&p);
	rg_wire_batch_free(&b);
}

/* Group commit: batches under one commit stay each all or nothing. The
 * second batch fails on its second item: it leaves nothing, the batches
 * around it of other devices commit, the later one of its own device waits
 * (a device's order: a bundle brings several), and both apply once when
 * resent. When every batch fails, nothing commits. */
static void group_keeps_each_batch_whole(void **state)
{
	struct sfx *f = *state;
	struct cloud_apply_result rs[4];
	struct cloud_interaction it;
	struct cloud_device_state ds;
	struct cloud_profile p;
	struct rg_wire_batch b[4];
	const struct rg_wire_batch *bs[4] = {&b[0], &b[1], &b[2], &b[3]};
	struct cf_batch cb[4];
	struct rg_uuid bad;
	char id[RG_UUID_STR_LEN + 1];
	int rcs[4];

	seed(f, "p-1", 100, NULL);
	seed(f, "p-2", 100, NULL);
	seed(f, "p-3", 100, NULL);
	cf_batch_begin(&cb[0], DEV_A, "0042");
	cf_batch_add(&cb[0], RG_KIND_IDENTIFIED, T + 1, "p-1", NULL, "{}");
	cf_batch_end(&cb[0], &b[0], NULL);
	cf_batch_begin(&cb[1], DEV_B, "0042");
	cf_batch_add(&cb[1], RG_KIND_IDENTIFIED, T + 2, "p-2", NULL, "{}");
	bad = cf_batch_add(&cb[1], RG_KIND_POINTS_REDEEMED, T + 3, "p-2", NULL, "{\"points\":5}");
	cf_batch_end(&cb[1], &b[1], NULL);
	cf_batch_begin(&cb[2], DEV_A, "0042");
	cf_batch_add(&cb[2], RG_KIND_IDENTIFIED, T + 4, "p-3", NULL, "{}");
	cf_batch_add(&cb[2], RG_KIND_NOTE, T + 5, "p-3", NULL, "{\"text\":\"third\"}");
	cf_batch_end(&cb[2], &b[2], NULL);
	cf_batch_begin(&cb[3], DEV_B, "0042");
	cf_batch_add(&cb[3], RG_KIND_IDENTIFIED, T + 6, "p-1", NULL, "{}");
	cf_batch_end(&cb[3], &b[3], NULL);

	B->fail_on(f->dir.path, cf_uuid_str(&bad, id));
	assert_int_equal(cloud_store_apply_batches(f->s, bs, 4, rs, rcs), 0);
	assert_int_equal(rcs[0], 0);
	assert_true(rcs[1] < 0);
	assert_int_equal(rcs[2], 0);
	assert_int_equal(rcs[3], RG_ERR_STATE);
	assert_int_equal(rs[3].applied, 0);
	assert_int_equal(cloud_store_interaction_get(f->s, &cb[3].ids[0], &it), 0);
	assert_int_equal(rs[0].applied, 1);
	assert_int_equal(rs[1].applied, 0);
	assert_int_equal(rs[2].applied, 2);
	assert_int_equal(cloud_store_interaction_get(f->s, &cb[0].ids[0], &it), 1);
	assert_int_equal(cloud_store_interaction_get(f->s, &cb[1].ids[0], &it), 0);
	assert_int_equal(cloud_store_interaction_get(f->s, &cb[2].ids[1], &it), 1);
	assert_int_equal(cloud_store_device_get(f->s, DEV_A, RG_LANE_INTERACTIONS, &ds), 1);
	assert_int_equal(ds.applied, 3);
	assert_int_equal(cloud_store_device_get(f->s, DEV_B, RG_LANE_INTERACTIONS, &ds), 0);
	assert_int_equal(cloud_store_profile_get(f->s, "p-2", &p), 1);
	assert_int_equal(p.visits, 0);
	assert_int_equal(p.points, 100);
	cloud_profile_clear(&p);

	/* every batch of a group failing: nothing commits, all say why */
	assert_true(cloud_store_apply_batches(f->s, &bs[1], 1, rs, rcs) < 0);
	assert_true(rcs[0] < 0);

	/* resent alone once the fault is gone: applied once; the others are
	 * duplicates in a second group */
	B->fail_clear(f->dir.path);
	assert_int_equal(cloud_store_apply_batches(f->s, bs, 4, rs, rcs), 0);
	assert_int_equal(rcs[0] | rcs[1] | rcs[2] | rcs[3], 0);
	assert_int_equal(rs[0].duplicates, 1);
	assert_int_equal(rs[1].applied, 2);
	assert_int_equal(rs[2].duplicates, 2);
	assert_int_equal(rs[3].applied, 1);
	assert_int_equal(cloud_store_device_get(f->s, DEV_B, RG_LANE_INTERACTIONS, &ds), 1);
	assert_int_equal(ds.out_of_order, 0);
	assert_int_equal(cloud_store_profile_get(f->s, "p-2", &p), 1);
	assert_int_equal(p.visits, 1);
	assert_int_equal(p.points, 95);
	cloud_profile_clear(&p);
	assert_int_equal(cloud_store_apply_batches(f->s, bs, 0, rs, rcs), RG_ERR_INVAL);
	for (int i = 0; i < 4; i++)
		rg_wire_batch_free(&b[i]);
}

static void derived_state_for_each_kind(void **state)
{
	struct sfx *f = *state;
	struct cloud_apply_result r;
	struct cloud_profile p;
	struct cloud_store_stats st;
	struct cf_batch cb;
	uint8_t card[RG_TOKEN_LEN], stranger[RG_TOKEN_LEN];
	struct rg_uuid ghost, bad_points;
	const cJSON *eps, *ints, *e;
	int64_t n = 0;
	cJSON *j;

	seed(f, "p-1", 1000, "2000000000015");
	cf_token("2000000000022", card);
	cf_token("9999999999994", stranger);

	cf_batch_begin(&cb, DEV_A, "0042");
	cf_batch_add(&cb, RG_KIND_IDENTIFIED, T + 10, "p-1", NULL, "{\"channel\":\"kiosk\"}");
	cf_batch_add(&cb, RG_KIND_IDENTIFIED, T + 20, "p-1", NULL, "{\"channel\":\"kiosk\"}");
	cf_batch_add(&cb, RG_KIND_UNKNOWN_IDENTIFIER, T + 21, NULL, stranger,
		     "{\"channel\":\"kiosk\",\"type\":\"loyalty\"}");
	cf_batch_add(&cb, RG_KIND_NOTE, T + 30, "p-1", NULL,
		     "{\"channel\":\"handheld\",\"text\":\"Asked about the sofa\",\"extra\":[1]}");
	cf_batch_add(&cb, RG_KIND_EPISODE_OPENED, T + 40, "p-1", NULL,
		     "{\"channel\":\"handheld\",\"episode\":\"e-1\",\"department\":\"service\","
		     "\"title\":\"Broken drawer\"}");
	cf_batch_add(&cb, RG_KIND_EPISODE_UPDATED, T + 50, "p-1", NULL,
		     "{\"episode\":\"e-1\",\"status\":\"waiting\",\"note\":\"part ordered\"}");
	cf_batch_add(&cb, RG_KIND_EPISODE_OPENED, T + 55, "p-1", NULL,
		     "{\"episode\":\"e-2\",\"department\":\"orders\",\"title\":\"Late order\"}");
	cf_batch_add(&cb, RG_KIND_EPISODE_RESOLVED, T + 60, "p-1", NULL, "{\"episode\":\"e-1\"}");
	cf_batch_add(&cb, RG_KIND_CARD_LINKED, T + 70, "p-1", card, "{\"type\":\"loyalty\"}");
	cf_batch_add(&cb, RG_KIND_POINTS_REDEEMED, T + 80, "p-1", NULL,
		     "{\"points\":250,\"reason\":\"voucher\"}");
	bad_points = cf_batch_add(&cb, RG_KIND_POINTS_REDEEMED, T + 81, "p-1", NULL,
				  "{\"points\":\"lots\"}");
	cf_batch_add(&cb, RG_KIND_PREFERENCE_CHANGED, T + 90, "p-1", NULL,
		     "{\"channel\":\"handheld\",\"language\":\"de\",\"newsletter\":true}");
	ghost = cf_batch_add(&cb, RG_KIND_NOTE, T + 95, "p-nobody", NULL, "{\"text\":\"?\"}");
	cf_batch_add(&cb, RG_KIND_TELEMETRY, T + 99, NULL, NULL, "{\"reads\":12}");
	apply(f, &cb, &r);
	/* the unknown profile and the unusable body are recorded, not applied */
	assert_int_equal(r.applied, 12);
	assert_int_equal(r.unresolved, 2);
	assert_int_equal(outcome_of(f, &ghost), CLOUD_OUT_UNKNOWN_PROFILE);
	assert_int_equal(outcome_of(f, &bad_points), CLOUD_OUT_INVALID);

	j = body_of(f, "p-1", &p);
	assert_int_equal(p.visits, 2);
	assert_int_equal(p.last_seen_ms, T + 20);
	assert_int_equal(p.points, 750);
	assert_string_equal(str_at(j, "name", NULL), "Test p-1");
	assert_string_equal(str_at(j, "preferences", "language"), "de");
	assert_true(cJSON_IsTrue(
	    cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItem(j, "preferences"), "newsletter")));
	eps = cJSON_GetObjectItemCaseSensitive(j, "episodes");
	assert_int_equal(cJSON_GetArraySize(eps), 2);
	e = cJSON_GetArrayItem(eps, 0);
	assert_string_equal(str_at(e, "id", NULL), "e-1");
	assert_string_equal(str_at(e, "status", NULL), "resolved");
	assert_string_equal(str_at(e, "title", NULL), "Broken drawer");
	assert_string_equal(str_at(e, "department", NULL), "service");
	assert_string_equal(str_at(cJSON_GetArrayItem(eps, 1), "status", NULL), "open");
	/* recent: newest first; notes, episode events and point events */
	ints = cJSON_GetObjectItemCaseSensitive(j, "interactions");
	assert_int_equal(cJSON_GetArraySize(ints), 6);
	assert_string_equal(str_at(cJSON_GetArrayItem(ints, 0), "kind", NULL), "points_redeemed");
	assert_string_equal(str_at(cJSON_GetArrayItem(ints, 5), "summary", NULL),
			    "Asked about the sofa");
	cJSON_Delete(j);
	cloud_profile_clear(&p);

	/* card_linked: the new card finds the profile; the unknown card is counted */
	assert_int_equal(cloud_store_profile_by_token(f->s, card, &p), 1);
	assert_string_equal(p.id, "p-1");
	cloud_profile_clear(&p);
	assert_int_equal(cloud_store_profile_by_token(f->s, stranger, &p), 0);
	assert_int_equal(cloud_store_unknown_token_get(f->s, stranger, &n), 1);
	assert_int_equal(n, 1);
	assert_int_equal(cloud_store_stats(f->s, &st), 0);
	assert_int_equal(st.telemetry, 1);
	assert_int_equal(st.interactions, 14);
	assert_int_equal(st.outcomes[CLOUD_OUT_UNKNOWN_PROFILE], 1);
}

static void item_by_token_only_resolves_profile(void **state)
{
	struct sfx *f = *state;
	struct cloud_apply_result r;
	struct cloud_profile p;
	struct cf_batch cb;
	uint8_t card[RG_TOKEN_LEN];

	seed(f, "p-7", 0, "2000000000077");
	cf_token("2000000000077", card);
	cf_batch_begin(&cb, DEV_A, "0042");
	cf_batch_add(&cb, RG_KIND_IDENTIFIED, T + 1, NULL, card, "{}");
	apply(f, &cb, &r);
	assert_int_equal(r.applied, 1);
	assert_int_equal(cloud_store_profile_get(f->s, "p-7", &p), 1);
	assert_int_equal(p.visits, 1);
	cloud_profile_clear(&p);
}

static void consent_is_last_writer_wins_with_device_tiebreak(void **state)
{
	struct sfx *f = *state;
	struct cloud_apply_result r;
	struct cloud_profile p;
	struct cf_batch cb;
	struct rg_uuid old;
	cJSON *j;
	const cJSON *list;

	seed(f, "p-1", 0, NULL);
	/* dev-b and dev-a write at the same HLC: dev-b (greater id) wins, in
	 * whichever order they arrive; dev-b first here */
	cf_batch_begin(&cb, DEV_B, "0042");
	cf_batch_add(&cb, RG_KIND_CONSENT_CHANGED, T + 100, "p-1", NULL,
		     "{\"show_in_public\":[\"points\"]}");
	apply(f, &cb, &r);
	cf_batch_begin(&cb, DEV_A, "0043");
	cf_batch_add(&cb, RG_KIND_CONSENT_CHANGED, T + 100, "p-1", NULL,
		     "{\"show_in_public\":[\"orders\",\"offers\"]}");
	old = cb.ids[0];
	apply(f, &cb, &r);
	assert_int_equal(outcome_of(f, &old), CLOUD_OUT_STALE);
	j = body_of(f, "p-1", &p);
	list =
	    cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItem(j, "consent"), "show_in_public");
	assert_int_equal(cJSON_GetArraySize(list), 1);
	assert_string_equal(cJSON_GetArrayItem(list, 0)->valuestring, "points");
	cJSON_Delete(j);
	cloud_profile_clear(&p);

	/* an older stamp loses, a newer one from dev-a wins */
	cf_batch_begin(&cb, DEV_A, "0043");
	cf_batch_add(&cb, RG_KIND_CONSENT_CHANGED, T + 50, "p-1", NULL, "{\"show_in_public\":[]}");
	cf_batch_add(&cb, RG_KIND_CONSENT_CHANGED, T + 200, "p-1", NULL,
		     "{\"show_in_public\":[\"service\"]}");
	apply(f, &cb, &r);
	assert_int_equal(outcome_of(f, &cb.ids[0]), CLOUD_OUT_STALE);
	assert_int_equal(outcome_of(f, &cb.ids[1]), CLOUD_OUT_APPLIED);
	j = body_of(f, "p-1", &p);
	list =
	    cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItem(j, "consent"), "show_in_public");
	assert_int_equal(cJSON_GetArraySize(list), 1);
	assert_string_equal(cJSON_GetArrayItem(list, 0)->valuestring, "service");
	cJSON_Delete(j);
	cloud_profile_clear(&p);
}

static void preferences_are_per_key_last_writer_wins(void **state)
{
	struct sfx *f = *state;
	struct cloud_apply_result r;
	struct cloud_profile p;
	struct cf_batch cb;
	cJSON *j;

	seed(f, "p-1", 0, NULL);
	cf_batch_begin(&cb, DEV_A, "0042");
	cf_batch_add(&cb, RG_KIND_PREFERENCE_CHANGED, T + 300, "p-1", NULL,
		     "{\"language\":\"fr\"}");
	apply(f, &cb, &r);
	/* later-arriving but older edit of language loses; its other key wins */
	cf_batch_begin(&cb, DEV_B, "0043");
	cf_batch_add(&cb, RG_KIND_PREFERENCE_CHANGED, T + 100, "p-1", NULL,
		     "{\"language\":\"nl\",\"contact\":\"email\"}");
	apply(f, &cb, &r);
	j = body_of(f, "p-1", &p);
	assert_string_equal(str_at(j, "preferences", "language"), "fr");
	assert_string_equal(str_at(j, "preferences", "contact"), "email");
	cJSON_Delete(j);
	cloud_profile_clear(&p);
}

static void erasure_tombstone_beats_later_edits(void **state)
{
	struct sfx *f = *state;
	struct cloud_apply_result r;
	struct cloud_profile p;
	struct cf_batch cb;
	uint8_t card[RG_TOKEN_LEN];
	struct cloud_seed_profile again = {
	    .id = "p-1", .version = 9, .body = "{\"name\":\"X\"}", .body_len = 12};

	seed(f, "p-1", 500, "2000000000015");
	cf_token("2000000000015", card);
	cf_batch_begin(&cb, DEV_A, "0042");
	cf_batch_add(&cb, RG_KIND_NOTE, T + 10, "p-1", NULL, "{\"text\":\"Mrs Example called\"}");
	cf_batch_add(&cb, RG_KIND_ERASURE_REQUESTED, T + 20, "p-1", NULL,
		     "{\"channel\":\"handheld\"}");
	apply(f, &cb, &r);
	assert_int_equal(r.applied, 2);

	/* a later edit from another device, and an edit stamped before the
	 * erasure that arrives after it: both lose to the tombstone */
	cf_batch_begin(&cb, DEV_B, "0043");
	cf_batch_add(&cb, RG_KIND_CONSENT_CHANGED, T + 5, "p-1", NULL,
		     "{\"show_in_public\":[\"points\"]}");
	cf_batch_add(&cb, RG_KIND_NOTE, T + 1000, "p-1", NULL, "{\"text\":\"still here?\"}");
	cf_batch_add(&cb, RG_KIND_CARD_LINKED, T + 1001, "p-1", card, "{\"type\":\"loyalty\"}");
	apply(f, &cb, &r);
	assert_int_equal(r.erased, 3);
	assert_int_equal(outcome_of(f, &cb.ids[1]), CLOUD_OUT_ERASED);

	assert_int_equal(cloud_store_profile_get(f->s, "p-1", &p), 1);
	assert_true(p.erased);
	assert_string_equal(p.body, "{}");
	cloud_profile_clear(&p);
	assert_int_equal(cloud_store_profile_by_token(f->s, card, &p), 0);
	/* an import cannot revive the person either */
	assert_int_equal(cloud_store_seed(f->s, &again, 1), 0);
	assert_int_equal(cloud_store_profile_get(f->s, "p-1", &p), 1);
	assert_true(p.erased);
	cloud_profile_clear(&p);
}

static void per_device_order_is_recorded(void **state)
{
	struct sfx *f = *state;
	struct cloud_apply_result r;
	struct cloud_device_state ds;
	struct cloud_interaction a, b;
	struct cf_batch cb;

	seed(f, "p-1", 0, NULL);
	for (int k = 0; k < 3; k++) {
		cf_batch_begin(&cb, DEV_A, "0042");
		for (int i = 0; i < 4; i++)
			cf_batch_add(&cb, RG_KIND_IDENTIFIED, T + k * 10 + i, "p-1", NULL, "{}");
		apply(f, &cb, &r);
	}
	cf_batch_begin(&cb, DEV_A, "0042");
	cf_batch_add(&cb, RG_KIND_TELEMETRY, T + 5, NULL, NULL, "{}");
	apply(f, &cb, &r);

	assert_int_equal(cloud_store_device_get(f->s, DEV_A, RG_LANE_INTERACTIONS, &ds), 1);
	assert_int_equal(ds.applied, 12);
	assert_int_equal(ds.out_of_order, 0);
	assert_int_equal(ds.last_hlc.wall_ms, T + 23);
	/* lanes are separate orders: an older telemetry stamp is no violation */
	assert_int_equal(cloud_store_device_get(f->s, DEV_A, RG_LANE_TELEMETRY, &ds), 1);
	assert_int_equal(ds.applied, 1);
	assert_int_equal(ds.out_of_order, 0);

	/* the order of application is visible per interaction */
	cf_batch_begin(&cb, DEV_A, "0042");
	cf_batch_add(&cb, RG_KIND_IDENTIFIED, T + 100, "p-1", NULL, "{}");
	cf_batch_add(&cb, RG_KIND_IDENTIFIED, T + 101, "p-1", NULL, "{}");
	apply(f, &cb, &r);
	assert_int_equal(cloud_store_interaction_get(f->s, &cb.ids[0], &a), 1);
	assert_int_equal(cloud_store_interaction_get(f->s, &cb.ids[1], &b), 1);
	assert_true(a.seq < b.seq);
	assert_string_equal(a.device, DEV_A);

	/* an item applied after a newer one of the same lane is counted */
	cf_batch_begin(&cb, DEV_A, "0042");
	cf_batch_add(&cb, RG_KIND_IDENTIFIED, T + 50, "p-1", NULL, "{}");
	apply(f, &cb, &r);
	assert_int_equal(cloud_store_device_get(f->s, DEV_A, RG_LANE_INTERACTIONS, &ds), 1);
	assert_int_equal(ds.out_of_order, 1);
	assert_int_equal(ds.last_hlc.wall_ms, T + 101);
	assert_int_equal(cloud_store_device_get(f->s, DEV_B, RG_LANE_INTERACTIONS, &ds), 0);
}

static void seeding_is_idempotent_and_versioned(void **state)
{
	struct sfx *f = *state;
	struct cloud_profile p;
	struct cloud_change ch[8];
	uint8_t toks[2][RG_TOKEN_LEN];
	const char *types[2] = {"loyalty", "nfc_uid"};
	struct cloud_seed_profile ps[2] = {
	    {.id = "p-1", .version = 1, .body = "{\"name\":\"A\"}", .body_len = 12},
	    {.id = "p-2", .version = 3, .body = "{\"name\":\"B\"}", .body_len = 12},
	};
	cf_token("card-1", toks[0]);
	cf_token("uid-1", toks[1]);
	ps[0].tokens = (const uint8_t(*)[RG_TOKEN_LEN])toks;
	ps[0].token_types = types;
	ps[0].n_tokens = 2;

	assert_int_equal(cloud_store_seed(f->s, ps, 2), 2);
	assert_int_equal(cloud_store_seed(f->s, ps, 2), 0); /* same versions: nothing */
	assert_int_equal(cloud_store_profile_by_token(f->s, toks[1], &p), 1);
	assert_string_equal(p.id, "p-1");
	assert_string_equal(p.body, "{\"name\":\"A\"}");
	cloud_profile_clear(&p);

	ps[0].version = 2;
	ps[0].body = "{\"name\":\"A2\"}";
	ps[0].body_len = 13;
	assert_int_equal(cloud_store_seed(f->s, ps, 2), 1);
	assert_int_equal(cloud_store_profile_get(f->s, "p-1", &p), 1);
	assert_int_equal(p.version, 2);
	assert_string_equal(p.body, "{\"name\":\"A2\"}");
	cloud_profile_clear(&p);

	/* every write is one change, in a strictly increasing sequence */
	assert_int_equal(cloud_store_changes_since(f->s, 0, ch, 8), 3);
	assert_string_equal(ch[0].profile, "p-1");
	assert_string_equal(ch[2].profile, "p-1");
	assert_int_equal(ch[2].version, 2);
	assert_true(ch[0].seq < ch[1].seq && ch[1].seq < ch[2].seq);
	assert_int_equal(cloud_store_changes_since(f->s, ch[1].seq, ch, 8), 1);
	assert_string_equal(ch[0].what, "seed");
}

static void changes_are_logged_per_profile_change(void **state)
{
	struct sfx *f = *state;
	struct cloud_apply_result r;
	struct cloud_change ch[8];
	struct cloud_profile p;
	struct cf_batch cb;
	int64_t seq;

	seed(f, "p-1", 0, NULL);
	seq = last_change(f);
	cf_batch_begin(&cb, DEV_A, "0042");
	cf_batch_add(&cb, RG_KIND_IDENTIFIED, T + 1, "p-1", NULL, "{}");
	cf_batch_add(&cb, RG_KIND_NOTE, T + 2, "p-1", NULL, "{\"text\":\"hi\"}");
	cf_batch_add(&cb, RG_KIND_TELEMETRY, T + 3, NULL, NULL, "{}");
	apply(f, &cb, &r);
	assert_int_equal(r.changes, 2);
	assert_int_equal(cloud_store_changes_since(f->s, seq, ch, 8), 2);
	assert_int_equal(ch[1].hlc.wall_ms, T + 2);
	assert_int_equal(cloud_store_profile_get(f->s, "p-1", &p), 1);
	assert_int_equal(p.version, ch[1].version);
	assert_int_equal(p.hlc.wall_ms, T + 2);
	cloud_profile_clear(&p);
}

static void recent_interactions_are_bounded(void **state)
{
	struct sfx *f = *state;
	struct cloud_apply_result r;
	struct cloud_profile p;
	struct cf_batch cb;
	char body[64];
	const cJSON *ints;
	cJSON *j;

	seed(f, "p-1", 0, NULL);
	cf_batch_begin(&cb, DEV_A, "0042");
	for (int i = 0; i < CLOUD_RECENT_MAX + 5; i++) {
		snprintf(body, sizeof body, "{\"text\":\"note %d\"}", i);
		cf_batch_add(&cb, RG_KIND_NOTE, T + i, "p-1", NULL, body);
	}
	apply(f, &cb, &r);
	j = body_of(f, "p-1", &p);
	ints = cJSON_GetObjectItemCaseSensitive(j, "interactions");
	assert_int_equal(cJSON_GetArraySize(ints), CLOUD_RECENT_MAX);
	snprintf(body, sizeof body, "note %d", CLOUD_RECENT_MAX + 4);
	assert_string_equal(str_at(cJSON_GetArrayItem(ints, 0), "summary", NULL), body);
	cJSON_Delete(j);
	cloud_profile_clear(&p);
}

static void reopen_keeps_everything(void **state)
{
	struct sfx *f = *state;
	struct cloud_apply_result r;
	struct cloud_store_opts o;
	struct cloud_profile p;
	struct cf_batch cb;
	struct rg_wire_batch b;

	seed(f, "p-1", 10, NULL);
	cf_batch_begin(&cb, DEV_A, "0042");
	cf_batch_add(&cb, RG_KIND_IDENTIFIED, T + 1, "p-1", NULL, "{}");
	cf_batch_end(&cb, &b, NULL);
	assert_int_equal(cloud_store_apply_batch(f->s, &b, &r), 0);
	cloud_store_close(f->s);
	memset(&o, 0, sizeof o);
	B->opts(&o, f->dir.path);
	o.clock = &f->clock.clock;
	assert_int_equal(cloud_store_open(&o, &f->s), 0);
	assert_int_equal(cloud_store_apply_batch(f->s, &b, &r), 0);
	assert_int_equal(r.duplicates, 1);
	assert_int_equal(cloud_store_profile_get(f->s, "p-1", &p), 1);
	assert_int_equal(p.visits, 1);
	cloud_profile_clear(&p);
	rg_wire_batch_free(&b);
}

/* The per-device record is the same whether a batch holds one item or many:
 * each lane on its own, an item compared with every stamp applied before it
 * from that device and lane (stored, or earlier in the same batch), and a
 * batch applied again changes nothing. */
static void device_order_within_one_batch(void **state)
{
	struct sfx *f = *state;
	struct cloud_apply_result r;
	struct cloud_device_state ds;
	struct cloud_interaction x;
	struct rg_wire_batch b;
	struct cf_batch cb;

	seed(f, "p-1", 0, NULL);
	cf_batch_begin(&cb, DEV_A, "0042");
	cf_batch_add(&cb, RG_KIND_IDENTIFIED, T + 10, "p-1", NULL, "{}");
	cf_batch_add(&cb, RG_KIND_TELEMETRY, T + 11, NULL, NULL, "{}");
	cf_batch_add(&cb, RG_KIND_IDENTIFIED, T + 20, "p-1", NULL, "{}");
	apply(f, &cb, &r);
	assert_int_equal(r.applied, 3);

	cf_batch_begin(&cb, DEV_A, "0042");
	cf_batch_add(&cb, RG_KIND_TELEMETRY, T + 5, NULL, NULL, "{}");	   /* before T+11 */
	cf_batch_add(&cb, RG_KIND_IDENTIFIED, T + 15, "p-1", NULL, "{}"); /* before T+20 */
	cf_batch_add(&cb, RG_KIND_IDENTIFIED, T + 16, "p-1", NULL, "{}"); /* still before */
	cf_batch_add(&cb, RG_KIND_IDENTIFIED, T + 25, "p-1", NULL, "{}");
	cf_batch_add(&cb, RG_KIND_TELEMETRY, T + 26, NULL, NULL, "{}");
	cf_batch_end(&cb, &b, NULL);
	assert_int_equal(cloud_store_apply_batch(f->s, &b, &r), 0);
	assert_int_equal(r.applied, 5);
	assert_int_equal(r.changes, 3);

	assert_int_equal(cloud_store_device_get(f->s, DEV_A, RG_LANE_INTERACTIONS, &ds), 1);
	assert_int_equal(ds.applied, 5);
	assert_int_equal(ds.out_of_order, 2);
	assert_int_equal(ds.last_hlc.wall_ms, T + 25);
	assert_int_equal(cloud_store_interaction_get(f->s, &cb.ids[3], &x), 1);
	assert_int_equal(ds.last_seq, x.seq);
	assert_int_equal(cloud_store_device_get(f->s, DEV_A, RG_LANE_TELEMETRY, &ds), 1);
	assert_int_equal(ds.applied, 3);
	assert_int_equal(ds.out_of_order, 1);
	assert_int_equal(ds.last_hlc.wall_ms, T + 26);
	assert_int_equal(cloud_store_interaction_get(f->s, &cb.ids[4], &x), 1);
	assert_int_equal(ds.last_seq, x.seq);

	/* again: all duplicates, the record stays as it was */
	assert_int_equal(cloud_store_apply_batch(f->s, &b, &r), 0);
	assert_int_equal(r.duplicates, 5);
	assert_int_equal(r.applied, 0);
	assert_int_equal(r.changes, 0);
	assert_int_equal(cloud_store_device_get(f->s, DEV_A, RG_LANE_INTERACTIONS, &ds), 1);
	assert_int_equal(ds.applied, 5);
	assert_int_equal(ds.out_of_order, 2);
	assert_int_equal(cloud_store_interaction_get(f->s, &cb.ids[3], &x), 1);
	assert_int_equal(ds.last_seq, x.seq);
	rg_wire_batch_free(&b);
}

/* Several items for one profile in one batch: every one counts, bumps the
 * version once and logs one change, in item order. */
static void one_profile_many_items_in_a_batch(void **state)
{
	struct sfx *f = *state;
	struct cloud_apply_result r;
	struct cloud_change ch[8];
	struct cloud_profile p;
	struct cf_batch cb;

	seed(f, "p-1", 0, NULL);
	seed(f, "p-2", 0, NULL);
	cf_batch_begin(&cb, DEV_A, "0042");
	cf_batch_add(&cb, RG_KIND_IDENTIFIED, T + 3, "p-1", NULL, "{}");
	cf_batch_add(&cb, RG_KIND_IDENTIFIED, T + 5, "p-2", NULL, "{}");
	cf_batch_add(&cb, RG_KIND_IDENTIFIED, T + 7, "p-1", NULL, "{}");
	cf_batch_add(&cb, RG_KIND_IDENTIFIED, T + 9, "p-1", NULL, "{}");
	apply(f, &cb, &r);
	assert_int_equal(r.applied, 4);
	assert_int_equal(r.changes, 4);
	assert_int_equal(cloud_store_profile_get(f->s, "p-1", &p), 1);
	assert_int_equal(p.visits, 3);
	assert_int_equal(p.last_seen_ms, T + 9);
	assert_int_equal(p.version, 4);
	assert_int_equal(p.hlc.wall_ms, T + 9);
	cloud_profile_clear(&p);
	assert_int_equal(cloud_store_changes_since(f->s, 0, ch, 8), 6); /* 2 seeds, 4 visits */
	assert_string_equal(ch[2].profile, "p-1");
	assert_int_equal(ch[2].version, 2);
	assert_int_equal(ch[2].hlc.wall_ms, T + 3);
	assert_string_equal(ch[3].profile, "p-2");
	assert_int_equal(ch[3].version, 2);
	assert_int_equal(ch[3].hlc.wall_ms, T + 5);
	assert_string_equal(ch[4].profile, "p-1");
	assert_int_equal(ch[4].version, 3);
	assert_int_equal(ch[4].hlc.wall_ms, T + 7);
	assert_string_equal(ch[5].profile, "p-1");
	assert_int_equal(ch[5].version, 4);
	assert_int_equal(ch[5].hlc.wall_ms, T + 9);
}

/* ---- the identity graph, erasure, imports ---- */

/* What an operator compares: the rendered body and derived figures. */
struct snap {
	char id[RG_WIRE_ID_MAX + 1];
	char *body;
	int64_t visits, points, last_seen_ms;
	int n_ids;
	uint8_t ids[4][RG_TOKEN_LEN];
};

static void snap_take(struct sfx *f, const char *id, struct snap *sn)
{
	struct cloud_profile p;
	struct cloud_identifier ci[4];
	memset(sn, 0, sizeof *sn);
	assert_int_equal(cloud_store_profile_get(f->s, id, &p), 1);
	snprintf(sn->id, sizeof sn->id, "%s", p.id);
	sn->body = strdup(p.body);
	sn->visits = p.visits;
	sn->points = p.points;
	sn->last_seen_ms = p.last_seen_ms;
	cloud_profile_clear(&p);
	sn->n_ids = cloud_store_identifiers(f->s, id, ci, 4);
	assert_true(sn->n_ids >= 0 && sn->n_ids <= 4);
	for (int i = 0; i < sn->n_ids; i++)
		memcpy(sn->ids[i], ci[i].token, RG_TOKEN_LEN);
}

static void snap_equal(const struct snap *a, const struct snap *b)
{
	assert_string_equal(a->id, b->id);
	assert_string_equal(a->body, b->body);
	assert_int_equal(a->visits, b->visits);
	assert_int_equal(a->points, b->points);
	assert_int_equal(a->last_seen_ms, b->last_seen_ms);
	assert_int_equal(a->n_ids, b->n_ids);
	for (int i = 0; i < a->n_ids; i++)
		assert_memory_equal(a->ids[i], b->ids[i], RG_TOKEN_LEN);
}

static void snap_clear(struct snap *sn)
{
	free(sn->body);
	sn->body = NULL;
}

/* Two people with a history of every kind that derives state. */
static void two_histories(struct sfx *f)
{
	struct cloud_apply_result r;
	struct cf_batch cb;

	seed(f, "p-1", 100, "2000000000015");
	seed(f, "p-2", 50, "2000000000022");
	cf_batch_begin(&cb, DEV_A, "0042");
	cf_batch_add(&cb, RG_KIND_IDENTIFIED, T + 1, "p-1", NULL, "{}");
	cf_batch_add(&cb, RG_KIND_NOTE, T + 2, "p-1", NULL, "{\"text\":\"one's note\"}");
	cf_batch_add(&cb, RG_KIND_POINTS_REDEEMED, T + 3, "p-1", NULL, "{\"points\":10}");
	cf_batch_add(&cb, RG_KIND_CONSENT_CHANGED, T + 4, "p-1", NULL,
		     "{\"show_in_public\":[\"points\"]}");
	cf_batch_add(&cb, RG_KIND_PREFERENCE_CHANGED, T + 5, "p-1", NULL, "{\"language\":\"de\"}");
	cf_batch_add(&cb, RG_KIND_EPISODE_OPENED, T + 6, "p-1", NULL,
		     "{\"episode\":\"e-1\",\"department\":\"service\",\"title\":\"Repair\"}");
	apply(f, &cb, &r);
	cf_batch_begin(&cb, DEV_B, "0043");
	cf_batch_add(&cb, RG_KIND_IDENTIFIED, T + 7, "p-2", NULL, "{}");
	cf_batch_add(&cb, RG_KIND_IDENTIFIED, T + 8, "p-2", NULL, "{}");
	cf_batch_add(&cb, RG_KIND_NOTE, T + 9, "p-2", NULL, "{\"text\":\"two's note\"}");
	cf_batch_add(&cb, RG_KIND_CONSENT_CHANGED, T + 10, "p-2", NULL,
		     "{\"show_in_public\":[\"orders\"]}");
	cf_batch_add(&cb, RG_KIND_EPISODE_OPENED, T + 11, "p-2", NULL,
		     "{\"episode\":\"e-2\",\"department\":\"returns\",\"title\":\"Refund\"}");
	apply(f, &cb, &r);
	assert_int_equal(r.applied, 5);
	/* an edit stamped before p-1's, from a third device */
	cf_batch_begin(&cb, "dev-0043-c", "0043");
	cf_batch_add(&cb, RG_KIND_PREFERENCE_CHANGED, T + 3, "p-2", NULL, "{\"language\":\"fr\"}");
	apply(f, &cb, &r);
	assert_int_equal(r.applied, 1);
}

/* A merge makes one person of two (lookups by the absorbed id or card give
 * the survivor, counters recomputed from the events of both); the unmerge
 * gives both back exactly as they were, identifiers included. */
static void merge_then_unmerge_restores_both_exactly(void **state)
{
	struct sfx *f = *state;
	struct snap a0, b0, a1, b1;
	struct cloud_op op = {.hlc = {.wall_ms = T + 100}, .by = "op-anna"};
	struct cloud_profile p;
	struct cloud_merge m[2];
	uint8_t card2[RG_TOKEN_LEN];
	int64_t mid = 0;
	cJSON *j;

	two_histories(f);
	cf_token("2000000000022", card2);
	snap_take(f, "p-1", &a0);
	snap_take(f, "p-2", &b0);
	assert_int_equal(a0.visits, 1);
	assert_int_equal(b0.visits, 2);

	assert_int_equal(cloud_store_merge(f->s, &op, "p-2", "p-1", &mid), 0);
	assert_true(mid > 0);
	assert_string_equal(op.err, "");
	/* the absorbed id and card answer with the survivor */
	assert_int_equal(cloud_store_profile_get(f->s, "p-2", &p), 1);
	assert_string_equal(p.id, "p-1");
	cloud_profile_clear(&p);
	assert_int_equal(cloud_store_profile_by_token(f->s, card2, &p), 1);
	assert_string_equal(p.id, "p-1");
	/* derived from both people's events, never summed by overwriting */
	assert_int_equal(p.visits, 3);
	assert_int_equal(p.points, 100 + 50 - 10);
	assert_int_equal(p.last_seen_ms, T + 8);
	j = cJSON_Parse(p.body);
	assert_non_null(j);
	assert_non_null(strstr(p.body, "one's note"));
	assert_non_null(strstr(p.body, "two's note"));
	assert_non_null(strstr(p.body, "\"e-1\""));
	assert_non_null(strstr(p.body, "\"e-2\""));
	/* LWW across both: p-2's consent is later, p-1's language is later */
	assert_non_null(strstr(p.body, "\"show_in_public\":[\"orders\"]"));
	assert_string_equal(str_at(j, "preferences", "language"), "de");
	cJSON_Delete(j);
	cloud_profile_clear(&p);
	assert_int_equal(cloud_store_identifiers(f->s, "p-1", NULL, 0), 2);
	assert_int_equal(cloud_store_merges(f->s, "p-2", m, 2), 1);
	assert_int_equal(m[0].id, mid);
	assert_string_equal(m[0].from, "p-2");
	assert_string_equal(m[0].into, "p-1");
	assert_string_equal(m[0].by, "op-anna");
	assert_int_equal(m[0].identifiers, 1);
	assert_false(m[0].undone);

	op.hlc.wall_ms = T + 200;
	op.by = "op-ben";
	assert_int_equal(cloud_store_unmerge(f->s, &op, mid), 0);
	snap_take(f, "p-1", &a1);
	snap_take(f, "p-2", &b1);
	snap_equal(&a0, &a1);
	snap_equal(&b0, &b1);
	assert_int_equal(cloud_store_profile_by_token(f->s, card2, &p), 1);
	assert_string_equal(p.id, "p-2");
	cloud_profile_clear(&p);
	assert_int_equal(cloud_store_merges(f->s, "p-1", m, 2), 1);
	assert_true(m[0].undone);
	assert_string_equal(m[0].undone_by, "op-ben");
	/* undone is undone: a second unmerge is refused */
	assert_int_equal(cloud_store_unmerge(f->s, &op, mid), RG_ERR_STATE);
	assert_non_null(strstr(op.err, "undone already"));
	snap_clear(&a0);
	snap_clear(&b0);
	snap_clear(&a1);
	snap_clear(&b1);
}

/* What arrives during a merge through the absorbed person's card or id
 * counts for the survivor; after the unmerge it counts for them again. */
static void interactions_during_a_merge_follow_the_unmerge(void **state)
{
	struct sfx *f = *state;
	struct cloud_apply_result r;
	struct cloud_profile p;
	struct cf_batch cb;
	uint8_t card2[RG_TOKEN_LEN];
	int64_t mid = 0;

	two_histories(f);
	cf_token("2000000000022", card2);
	assert_int_equal(cloud_store_merge(f->s, NULL, "p-2", "p-1", &mid), 0);
	cf_batch_begin(&cb, DEV_A, "0042");
	cf_batch_add(&cb, RG_KIND_IDENTIFIED, T + 300, NULL, card2, "{}");
	cf_batch_add(&cb, RG_KIND_NOTE, T + 301, "p-2", NULL, "{\"text\":\"stale cache\"}");
	cf_batch_add(&cb, RG_KIND_IDENTIFIED, T + 302, "p-1", NULL, "{}");
	apply(f, &cb, &r);
	assert_int_equal(r.applied, 3);
	assert_int_equal(cloud_store_profile_get(f->s, "p-1", &p), 1);
	assert_int_equal(p.visits, 5);
	assert_non_null(strstr(p.body, "stale cache"));
	cloud_profile_clear(&p);

	assert_int_equal(cloud_store_unmerge(f->s, NULL, mid), 0);
	assert_int_equal(cloud_store_profile_get(f->s, "p-2", &p), 1);
	assert_string_equal(p.id, "p-2");
	assert_int_equal(p.visits, 3);
	assert_int_equal(p.last_seen_ms, T + 300);
	assert_non_null(strstr(p.body, "stale cache"));
	cloud_profile_clear(&p);
	assert_int_equal(cloud_store_profile_get(f->s, "p-1", &p), 1);
	assert_int_equal(p.visits, 2);
	assert_int_equal(p.last_seen_ms, T + 302);
	assert_null(strstr(p.body, "stale cache"));
	assert_null(strstr(p.body, "two's note"));
	cloud_profile_clear(&p);
}

static void merge_refusals_and_chains(void **state)
{
	struct sfx *f = *state;
	struct cloud_op op;
	struct cloud_profile p;
	int64_t m1 = 0, m2 = 0, m3 = 0;

	seed(f, "p-1", 1, NULL);
	seed(f, "p-2", 2, NULL);
	seed(f, "p-3", 4, NULL);
	memset(&op, 0, sizeof op);
	assert_int_equal(cloud_store_merge(f->s, &op, "p-1", "p-1", &m1), RG_ERR_STATE);
	assert_int_equal(cloud_store_merge(f->s, &op, "p-1", "p-9", &m1), RG_ERR_NOTFOUND);
	assert_non_null(strstr(op.err, "p-9"));
	assert_int_equal(cloud_store_merge(f->s, &op, "p-2", "p-1", &m1), 0);
	/* a redirect takes part in no further merge */
	assert_int_equal(cloud_store_merge(f->s, &op, "p-2", "p-3", &m3), RG_ERR_STATE);
	assert_non_null(strstr(op.err, "merged into p-1"));
	assert_int_equal(cloud_store_merge(f->s, &op, "p-3", "p-2", &m3), RG_ERR_STATE);
	/* the survivor absorbed in turn: a chain the lookups follow */
	assert_int_equal(cloud_store_merge(f->s, &op, "p-1", "p-3", &m2), 0);
	assert_int_equal(cloud_store_profile_get(f->s, "p-2", &p), 1);
	assert_string_equal(p.id, "p-3");
	assert_int_equal(p.points, 7); /* every imported balance counts */
	cloud_profile_clear(&p);
	/* m2 builds on m1: m1 cannot be undone first */
	assert_int_equal(cloud_store_unmerge(f->s, &op, m1), RG_ERR_STATE);
	assert_non_null(strstr(op.err, "unmerge 2 first"));
	assert_int_equal(cloud_store_unmerge(f->s, &op, 99), RG_ERR_NOTFOUND);
	assert_int_equal(cloud_store_unmerge(f->s, &op, m2), 0);
	assert_int_equal(cloud_store_unmerge(f->s, &op, m1), 0);
	for (int i = 1; i <= 3; i++) {
		char id[8];
		snprintf(id, sizeof id, "p-%d", i);
		assert_int_equal(cloud_store_profile_get(f->s, id, &p), 1);
		assert_string_equal(p.id, id);
		assert_int_equal(p.points, 1 << (i - 1));
		cloud_profile_clear(&p);
	}
}

static void link_attaches_and_refuses_a_taken_identifier(void **state)
{
	struct sfx *f = *state;
	struct cloud_op op;
	struct cloud_profile p;
	struct cloud_change ch[8];
	uint8_t card[RG_TOKEN_LEN];
	int64_t seq;
	int n;

	seed(f, "p-1", 0, NULL);
	seed(f, "p-2", 0, NULL);
	seq = last_change(f);
	cf_token("2000000000039", card);
	memset(&op, 0, sizeof op);
	assert_int_equal(cloud_store_link(f->s, &op, "p-1", card, "loyalty", 0), 1);
	assert_int_equal(cloud_store_link(f->s, &op, "p-1", card, "loyalty", 0), 0);
	assert_int_equal(cloud_store_profile_by_token(f->s, card, &p), 1);
	assert_string_equal(p.id, "p-1");
	cloud_profile_clear(&p);
	/* another person's card: an error naming the holder, nothing changes */
	assert_int_equal(cloud_store_link(f->s, &op, "p-2", card, "loyalty", 0), RG_ERR_EXISTS);
	assert_non_null(strstr(op.err, "p-1"));
	assert_int_equal(cloud_store_profile_by_token(f->s, card, &p), 1);
	assert_string_equal(p.id, "p-1");
	cloud_profile_clear(&p);
	/* unless it is a move */
	assert_int_equal(cloud_store_link(f->s, &op, "p-2", card, "loyalty", CLOUD_LINK_MOVE), 1);
	assert_int_equal(cloud_store_profile_by_token(f->s, card, &p), 1);
	assert_string_equal(p.id, "p-2");
	cloud_profile_clear(&p);
	assert_int_equal(cloud_store_identifiers(f->s, "p-1", NULL, 0), 0);
	assert_int_equal(cloud_store_link(f->s, &op, "p-9", card, "loyalty", 0), RG_ERR_NOTFOUND);
	n = cloud_store_changes_since(f->s, seq, ch, 8);
	assert_int_equal(n, 3);
	assert_string_equal(ch[0].what, "link");
	assert_string_equal(ch[0].profile, "p-1");
	assert_string_equal(ch[1].what, "unlink");
	assert_string_equal(ch[1].profile, "p-1");
	assert_string_equal(ch[1].other, "p-2");
	assert_string_equal(ch[2].what, "link");
	assert_string_equal(ch[2].profile, "p-2");
}

/* Erasing a person (through any of their merged ids) leaves no body,
 * identifier or derived state; later items for them are dropped and
 * counted; nothing revives them. */
static void erase_removes_the_person_and_drops_later_items(void **state)
{
	struct sfx *f = *state;
	struct cloud_apply_result r;
	struct cloud_profile p;
	struct cf_batch cb;
	uint8_t card1[RG_TOKEN_LEN];
	struct cloud_import_item imp;
	struct cloud_seed_profile again = {
	    .id = "p-2", .version = 9, .body = "{\"name\":\"X\"}", .body_len = 12};
	cJSON *body = cJSON_Parse("{\"summary\":\"late order\"}");
	int64_t mid;

	two_histories(f);
	cf_token("2000000000015", card1);
	assert_int_equal(cloud_store_merge(f->s, NULL, "p-2", "p-1", &mid), 0);
	assert_int_equal(cloud_store_erase(f->s, NULL, "p-2"), 2);
	assert_int_equal(cloud_store_erase(f->s, NULL, "p-1"), 0); /* already */
	assert_int_equal(cloud_store_erase(f->s, NULL, "p-9"), RG_ERR_NOTFOUND);
	for (int i = 1; i <= 2; i++) {
		assert_int_equal(cloud_store_profile_get(f->s, i == 1 ? "p-1" : "p-2", &p), 1);
		assert_true(p.erased);
		assert_string_equal(p.body, "{}");
		assert_int_equal(p.visits, 0);
		cloud_profile_clear(&p);
	}
	assert_int_equal(cloud_store_profile_by_token(f->s, card1, &p), 0);
	assert_int_equal(cloud_store_identifiers(f->s, "p-1", NULL, 0), 0);
	/* the merge is history, but cannot be undone for an erased person */
	assert_int_equal(cloud_store_unmerge(f->s, NULL, mid), RG_ERR_STATE);

	cf_batch_begin(&cb, DEV_A, "0042");
	cf_batch_add(&cb, RG_KIND_NOTE, T + 500, "p-1", NULL, "{\"text\":\"after erasure\"}");
	apply(f, &cb, &r);
	assert_int_equal(r.erased, 1);
	assert_int_equal(outcome_of(f, &cb.ids[0]), CLOUD_OUT_ERASED);
	memset(&imp, 0, sizeof imp);
	imp.id = cf_uuid();
	imp.hlc.wall_ms = T + 600;
	imp.kind = "order";
	imp.channel = "web";
	imp.department = "orders";
	imp.profile = "p-2";
	imp.body = body;
	assert_int_equal(cloud_store_import(f->s, &imp, 1, &r), 0);
	assert_int_equal(r.erased, 1);
	assert_int_equal(outcome_of(f, &imp.id), CLOUD_OUT_ERASED);
	assert_int_equal(cloud_store_seed(f->s, &again, 1), 0);
	assert_int_equal(cloud_store_link(f->s, NULL, "p-1", card1, "loyalty", 0), RG_ERR_STATE);
	cJSON_Delete(body);
}

/* Other channels' interactions: the same effects as device items (orders
 * as recent interactions, episodes across departments, points), once. */
static void imported_interactions_apply_once(void **state)
{
	struct sfx *f = *state;
	static const char *const bodies[] = {
	    "{\"summary\":\"Order 7001 ready for pickup\",\"order_id\":\"7001\"}",
	    "{\"episode\":\"e-9\",\"title\":\"Dishwasher leaks\"}",
	    "{\"episode\":\"e-9\",\"note\":\"to the repair team\"}",
	    "{\"episode\":\"e-9\",\"status\":\"waiting\"}",
	    "{\"points\":200,\"reason\":\"web order\"}",
	    "{\"episode\":\"e-9\",\"note\":\"fixed\"}",
	    "{}",
	};
	static const char *const kinds[] = {"order",	       "episode_opened", "episode_assigned",
					    "episode_updated", "points_earned",  "episode_resolved",
					    "visit"};
	static const char *const chans[] = {"web",	   "call_centre", "call_centre", "store",
					    "web",	   "store",	  "store"};
	static const char *const depts[] = {"orders", "service", "repairs", "repairs",
					    "loyalty", "repairs", ""};
	struct cloud_import_item it[7];
	cJSON *b[7];
	struct cloud_apply_result r;
	struct cloud_profile p;
	uint8_t card[RG_TOKEN_LEN];
	int64_t seq;
	cJSON *j, *ep;

	seed(f, "p-1", 100, "2000000000015");
	cf_token("2000000000015", card);
	memset(it, 0, sizeof it);
	for (int i = 0; i < 7; i++) {
		b[i] = cJSON_Parse(bodies[i]);
		it[i].id = cf_uuid();
		it[i].hlc.wall_ms = T + 10 * (i + 1);
		it[i].kind = kinds[i];
		it[i].channel = chans[i];
		it[i].department = depts[i];
		it[i].body = b[i];
		if (i % 2) {
			it[i].has_token = true;
			memcpy(it[i].token, card, RG_TOKEN_LEN);
		} else {
			it[i].profile = "p-1";
		}
	}
	assert_int_equal(cloud_store_import(f->s, it, 7, &r), 0);
	assert_int_equal(r.applied, 7);
	assert_int_equal(r.changes, 7);
	seq = last_change(f);
	j = body_of(f, "p-1", &p);
	assert_int_equal(p.points, 300);
	assert_int_equal(p.visits, 1);
	assert_non_null(strstr(p.body, "\"channel\":\"web\",\"department\":\"orders\","
				       "\"summary\":\"Order 7001 ready for pickup\""));
	ep = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(j, "episodes"), 0);
	assert_string_equal(str_at(ep, "id", NULL), "e-9");
	assert_string_equal(str_at(ep, "department", NULL), "repairs");
	assert_string_equal(str_at(ep, "status", NULL), "resolved");
	assert_string_equal(str_at(ep, "title", NULL), "Dishwasher leaks");
	cJSON_Delete(j);
	cloud_profile_clear(&p);

	/* a re-import is a no-op */
	assert_int_equal(cloud_store_import(f->s, it, 7, &r), 0);
	assert_int_equal(r.duplicates, 7);
	assert_int_equal(r.applied, 0);
	assert_int_equal(last_change(f), seq);
	/* an unknown person is recorded, not applied; a bad kind is refused */
	it[0].id = cf_uuid();
	it[0].profile = "p-404";
	assert_int_equal(cloud_store_import(f->s, it, 1, &r), 0);
	assert_int_equal(r.unresolved, 1);
	it[0].kind = "identified";
	assert_int_equal(cloud_store_import(f->s, it, 1, &r), RG_ERR_INVAL);
	for (int i = 0; i < 7; i++)
		cJSON_Delete(b[i]);
}

/* Every op appends to the change log, in order, naming the other side. */
static void changes_show_each_op_in_order(void **state)
{
	struct sfx *f = *state;
	static const char *const want[][3] = {
	    {"p-1", "seed", ""},     {"p-2", "seed", ""},	{"p-2", "link", ""},
	    {"p-1", "import", ""},   {"p-2", "merge", "p-1"},	{"p-1", "merge", "p-2"},
	    {"p-2", "unmerge", "p-1"}, {"p-1", "unmerge", "p-2"}, {"p-2", "restore", "p-1"},
	    {"p-1", "erase", ""},
	};
	struct cloud_change ch[16];
	struct cloud_import_item imp;
	struct cloud_apply_result r;
	uint8_t card[RG_TOKEN_LEN];
	cJSON *body = cJSON_Parse("{\"text\":\"called\"}");
	int64_t mid;
	int n;

	seed(f, "p-1", 0, NULL);
	seed(f, "p-2", 0, NULL);
	cf_token("2000000000046", card);
	assert_int_equal(cloud_store_link(f->s, NULL, "p-2", card, "loyalty", 0), 1);
	memset(&imp, 0, sizeof imp);
	imp.id = cf_uuid();
	imp.hlc.wall_ms = T + 1;
	imp.kind = "note";
	imp.channel = "call_centre";
	imp.profile = "p-1";
	imp.body = body;
	assert_int_equal(cloud_store_import(f->s, &imp, 1, &r), 0);
	assert_int_equal(cloud_store_merge(f->s, NULL, "p-2", "p-1", &mid), 0);
	assert_int_equal(cloud_store_unmerge(f->s, NULL, mid), 0);
	assert_int_equal(cloud_store_erase(f->s, NULL, "p-1"), 1);
	n = cloud_store_changes_since(f->s, 0, ch, 16);
	assert_int_equal(n, 10);
	for (int i = 0; i < n; i++) {
		assert_string_equal(ch[i].profile, want[i][0]);
		assert_string_equal(ch[i].what, want[i][1]);
		assert_string_equal(ch[i].other, want[i][2]);
		if (i)
			assert_true(ch[i].seq > ch[i - 1].seq);
	}
	cJSON_Delete(body);
}

/* ---- replication: pages of changes and snapshots (docs/replication.md) ---- */

#define GOT_MAX 2048

/* What a sink received: deep copies, in order. stop_after: answer
 * RG_ERR_TOOBIG once that many were taken (a full page), 0 never. */
struct got {
	struct delta_change c[GOT_MAX];
	size_t n, stop_after;
};

static int got_emit(void *ctx, const struct delta_change *c)
{
	struct got *g = ctx;
	struct delta_change *d;
	if (g->stop_after && g->n >= g->stop_after)
		return RG_ERR_TOOBIG;
	assert_true(g->n < GOT_MAX);
	d = &g->c[g->n++];
	*d = *c;
	d->body = c->body ? strdup(c->body) : NULL;
	d->idents = NULL;
	if (c->n_idents) {
		d->idents = malloc(c->n_idents * sizeof *d->idents);
		assert_non_null(d->idents);
		memcpy(d->idents, c->idents, c->n_idents * sizeof *d->idents);
	}
	return 0;
}

static void got_clear(struct got *g)
{
	for (size_t i = 0; i < g->n; i++) {
		free(g->c[i].body);
		free(g->c[i].idents);
	}
	memset(g, 0, sizeof *g);
}

static struct got *got_new(void)
{
	struct got *g = calloc(1, sizeof *g);
	assert_non_null(g);
	return g;
}

/* A page for store 0042 since `since` (policy NULL: all). */
static void page(struct sfx *f, const struct cloud_repl_policy *pol, int64_t since, int max,
		 struct got *g, struct cloud_repl_result *r)
{
	struct cloud_repl_req rq = {.store = "0042", .policy = pol, .max = max, .since = since};
	struct cloud_repl_sink sink = {got_emit, g};
	assert_int_equal(cloud_store_repl_changes(f->s, &rq, &sink, r), 0);
	assert_true(r->next >= since);
	for (size_t i = 1; i < g->n; i++)
		assert_true(g->c[i].seq > g->c[i - 1].seq);
	if (g->n)
		assert_true(r->next >= g->c[g->n - 1].seq);
}

static const struct delta_change *find_change(const struct got *g, enum delta_op op,
					      const char *id)
{
	for (size_t i = 0; i < g->n; i++)
		if (g->c[i].op == op && !strcmp(g->c[i].id, id))
			return &g->c[i];
	return NULL;
}

static size_t count_id(const struct got *g, const char *id)
{
	size_t k = 0;
	for (size_t i = 0; i < g->n; i++)
		k += !strcmp(g->c[i].id, id);
	return k;
}

static bool has_ident(const struct delta_change *c, const char *card, const char *type)
{
	uint8_t tok[RG_TOKEN_LEN];
	cf_token(card, tok);
	for (size_t i = 0; i < c->n_idents; i++)
		if (!memcmp(c->idents[i].token, tok, RG_TOKEN_LEN))
			return !type || !strcmp(c->idents[i].type, type);
	return false;
}

static void seed_home(struct sfx *f, const char *id, const char *home)
{
	char body[200];
	struct cloud_seed_profile p = {.id = id, .version = 1, .body = body};
	snprintf(body, sizeof body, "{\"name\":\"Test %s\",\"points\":1,\"home_store\":\"%s\"}", id,
		 home);
	p.body_len = strlen(body);
	assert_int_equal(cloud_store_seed(f->s, &p, 1), 1);
}

static void note(struct sfx *f, const char *dev, const char *store, int64_t at, const char *id,
		 const char *text)
{
	struct cf_batch cb;
	char body[120];
	snprintf(body, sizeof body, "{\"text\":\"%s\"}", text);
	cf_batch_begin(&cb, dev, store);
	cf_batch_add(&cb, RG_KIND_NOTE, at, id, NULL, body);
	apply(f, &cb, NULL);
}

/* A profile changed three times in the range is sent once, at its last
 * seq, with its state now; the page ends at the newest seq. */
static void repl_coalesces_each_profile_at_its_last_seq(void **state)
{
	struct sfx *f = *state;
	struct got *g = got_new();
	struct cloud_repl_result r;
	const struct delta_change *c;
	struct cloud_profile p;
	int64_t p1_last;

	seed(f, "p-1", 10, "2000000000015");
	seed(f, "p-2", 20, NULL);
	note(f, DEV_A, "0042", T + 1, "p-1", "first");
	note(f, DEV_A, "0042", T + 2, "p-1", "second");
	note(f, DEV_A, "0042", T + 3, "p-1", "third");
	p1_last = last_change(f);
	note(f, DEV_A, "0042", T + 4, "p-2", "other");
	page(f, NULL, 0, 200, g, &r);
	assert_false(r.snapshot_needed);
	assert_int_equal(g->n, 2);
	assert_int_equal(count_id(g, "p-1"), 1);
	c = find_change(g, DELTA_PROFILE, "p-1");
	assert_non_null(c);
	assert_int_equal(c->seq, p1_last);
	assert_non_null(strstr(c->body, "third"));
	assert_int_equal(cloud_store_profile_get(f->s, "p-1", &p), 1);
	assert_string_equal(c->body, p.body); /* the lookups' renderer */
	assert_int_equal(c->version, p.version);
	assert_int_equal(c->hlc, rg_hlc_pack(&p.hlc));
	cloud_profile_clear(&p);
	assert_int_equal(c->n_idents, 1);
	assert_true(has_ident(c, "2000000000015", "loyalty"));
	assert_int_equal(r.next, last_change(f));
	assert_int_equal(r.latest, last_change(f));
	assert_int_equal(r.oldest, 0);
	assert_false(r.more);
	/* nothing new: an empty page at the same cursor */
	got_clear(g);
	page(f, NULL, r.next, 200, g, &r);
	assert_int_equal(g->n, 0);
	assert_int_equal(r.next, last_change(f));
	got_clear(g);
	free(g);
}

/* merge: the op (from, into), then the survivor's state with every
 * identifier; unmerge: the op, then both profiles; erase: a tombstone with
 * the id only. In seq order. */
static void repl_merge_unmerge_erase_in_order(void **state)
{
	struct sfx *f = *state;
	struct got *g = got_new();
	struct cloud_repl_result r;
	const struct delta_change *c;
	int64_t since, mid;

	seed(f, "p-1", 10, "2000000000015");
	seed(f, "p-2", 20, "2000000000022");
	since = last_change(f);
	assert_int_equal(cloud_store_merge(f->s, NULL, "p-2", "p-1", &mid), 0);
	page(f, NULL, since, 200, g, &r);
	assert_int_equal(g->n, 2);
	assert_int_equal(g->c[0].op, DELTA_MERGE);
	assert_string_equal(g->c[0].id, "p-2");
	assert_string_equal(g->c[0].other, "p-1");
	assert_int_equal(g->c[1].op, DELTA_PROFILE);
	assert_string_equal(g->c[1].id, "p-1");
	assert_int_equal(g->c[1].n_idents, 2);
	assert_true(has_ident(&g->c[1], "2000000000015", NULL));
	assert_true(has_ident(&g->c[1], "2000000000022", NULL));

	since = r.next;
	got_clear(g);
	assert_int_equal(cloud_store_unmerge(f->s, NULL, mid), 0);
	page(f, NULL, since, 200, g, &r);
	assert_int_equal(g->n, 3);
	assert_int_equal(g->c[0].op, DELTA_UNMERGE);
	assert_string_equal(g->c[0].id, "p-2");
	assert_string_equal(g->c[0].other, "p-1");
	c = find_change(g, DELTA_PROFILE, "p-1");
	assert_non_null(c);
	assert_int_equal(c->n_idents, 1);
	assert_true(has_ident(c, "2000000000015", NULL));
	c = find_change(g, DELTA_PROFILE, "p-2");
	assert_non_null(c);
	assert_int_equal(c->n_idents, 1);
	assert_true(has_ident(c, "2000000000022", NULL));
	assert_true(g->c[0].seq < c->seq);

	since = r.next;
	got_clear(g);
	assert_int_equal(cloud_store_erase(f->s, NULL, "p-2"), 1);
	page(f, NULL, since, 200, g, &r);
	assert_int_equal(g->n, 1);
	assert_int_equal(g->c[0].op, DELTA_ERASE);
	assert_string_equal(g->c[0].id, "p-2");
	assert_null(g->c[0].body);
	assert_int_equal(g->c[0].n_idents, 0);
	/* from the start: merge, unmerge and erase stay, in order; erased p-2's
	 * states are not sent; p-1 once at its last seq */
	got_clear(g);
	page(f, NULL, 0, 200, g, &r);
	assert_int_equal(g->n, 4);
	assert_int_equal(g->c[0].op, DELTA_MERGE);
	assert_int_equal(g->c[1].op, DELTA_UNMERGE);
	assert_int_equal(g->c[2].op, DELTA_PROFILE);
	assert_string_equal(g->c[2].id, "p-1");
	assert_int_equal(g->c[3].op, DELTA_ERASE);
	assert_null(find_change(g, DELTA_PROFILE, "p-2"));
	got_clear(g);
	free(g);
}

/* The identifier set is complete and current: a link adds to it, a moved
 * token leaves the profile that lost it (which is sent again). */
static void repl_idents_follow_link_and_unlink(void **state)
{
	struct sfx *f = *state;
	struct got *g = got_new();
	struct cloud_repl_result r;
	const struct delta_change *c;
	uint8_t tok[RG_TOKEN_LEN];
	int64_t since;

	seed(f, "p-1", 10, "2000000000015");
	seed(f, "p-2", 20, "2000000000022");
	since = last_change(f);
	cf_token("04000000000001", tok);
	assert_int_equal(cloud_store_link(f->s, NULL, "p-1", tok, "nfc_uid", 0), 1);
	page(f, NULL, since, 200, g, &r);
	assert_int_equal(g->n, 1);
	assert_int_equal(g->c[0].n_idents, 2);
	assert_true(has_ident(&g->c[0], "04000000000001", "nfc_uid"));
	assert_true(has_ident(&g->c[0], "2000000000015", "loyalty"));

	since = r.next;
	got_clear(g);
	cf_token("2000000000022", tok);
	assert_int_equal(cloud_store_link(f->s, NULL, "p-1", tok, "loyalty", CLOUD_LINK_MOVE), 1);
	page(f, NULL, since, 200, g, &r);
	assert_int_equal(g->n, 2);
	c = find_change(g, DELTA_PROFILE, "p-2");
	assert_non_null(c);
	assert_int_equal(c->n_idents, 0);
	c = find_change(g, DELTA_PROFILE, "p-1");
	assert_non_null(c);
	assert_int_equal(c->n_idents, 3);
	assert_true(has_ident(c, "2000000000022", "loyalty"));
	got_clear(g);
	free(g);
}

/* home_and_recent: the store's own customers and those seen there lately;
 * another store's customer is held back, but their erasure goes out. */
static void repl_policy_filters_profiles_not_erasures(void **state)
{
	struct sfx *f = *state;
	struct cloud_repl_policy pol = {CLOUD_REPL_HOME_AND_RECENT, 30, 30};
	struct got *g = got_new();
	struct cloud_repl_result r;

	seed_home(f, "p-1", "0042");
	seed_home(f, "p-2", "0043");
	seed_home(f, "p-3", "0043");
	seed_home(f, "p-4", "0043");
	seed_home(f, "p-5", "0043");
	note(f, DEV_A, "0042", T - 5 * 86400000LL, "p-3", "seen here lately");
	note(f, DEV_A, "0042", T - 40 * 86400000LL, "p-4", "seen here long ago");
	note(f, "dev-0043-a", "0043", T - 1000, "p-5", "seen elsewhere");
	assert_int_equal(cloud_store_erase(f->s, NULL, "p-2"), 1);
	page(f, &pol, 0, 200, g, &r);
	assert_non_null(find_change(g, DELTA_PROFILE, "p-1"));
	assert_non_null(find_change(g, DELTA_PROFILE, "p-3"));
	assert_null(find_change(g, DELTA_PROFILE, "p-4"));
	assert_null(find_change(g, DELTA_PROFILE, "p-5"));
	assert_null(find_change(g, DELTA_PROFILE, "p-2"));
	assert_non_null(find_change(g, DELTA_ERASE, "p-2"));
	assert_int_equal(g->n, 3);
	assert_true(r.filtered >= 2);
	/* filtered changes still move the cursor: nothing to ask again for */
	assert_int_equal(r.next, last_change(f));
	assert_false(r.more);
	/* another store's page under the same policy */
	{
		struct cloud_repl_req rq = {.store = "0043", .policy = &pol, .max = 200};
		struct cloud_repl_sink sink = {got_emit, g};
		got_clear(g);
		assert_int_equal(cloud_store_repl_changes(f->s, &rq, &sink, &r), 0);
		assert_null(find_change(g, DELTA_PROFILE, "p-1"));
		assert_non_null(find_change(g, DELTA_PROFILE, "p-4"));
		assert_non_null(find_change(g, DELTA_PROFILE, "p-5"));
	}
	/* "all": every live profile */
	got_clear(g);
	page(f, NULL, 0, 200, g, &r);
	assert_int_equal(g->n, 5);
	got_clear(g);
	free(g);
}

/* Seen at a store counts for the survivor whatever the depth of the merges
 * above the profile the interaction addressed (p-1 into p-2, then p-2 into
 * p-3, then p-3 into p-4), in pages and in snapshots; an unmerge takes it
 * back. */
static void repl_policy_follows_every_merge_level(void **state)
{
	struct sfx *f = *state;
	struct cloud_repl_policy pol = {CLOUD_REPL_HOME_AND_RECENT, 30, 30};
	struct cloud_repl_req rq = {.store = "0042", .policy = &pol, .max = 200};
	struct got *g = got_new();
	struct cloud_repl_sink sink = {got_emit, g};
	struct cloud_repl_result r;
	int64_t top;

	seed_home(f, "p-1", "0043");
	seed_home(f, "p-2", "0043");
	seed_home(f, "p-3", "0043");
	seed_home(f, "p-4", "0043");
	note(f, DEV_A, "0042", T - 1000, "p-1", "seen here lately");
	assert_int_equal(cloud_store_merge(f->s, NULL, "p-1", "p-2", NULL), 0);
	assert_int_equal(cloud_store_merge(f->s, NULL, "p-2", "p-3", NULL), 0);
	assert_int_equal(cloud_store_merge(f->s, NULL, "p-3", "p-4", &top), 0);
	page(f, &pol, 0, 200, g, &r);
	assert_non_null(find_change(g, DELTA_PROFILE, "p-4"));
	got_clear(g);
	assert_int_equal(cloud_store_repl_snapshot(f->s, &rq, &sink, &r), 0);
	assert_int_equal(g->n, 1);
	assert_string_equal(g->c[0].id, "p-4");
	/* p-3 (with p-2 and p-1 under it) leaves p-4: p-4 was never seen here */
	assert_int_equal(cloud_store_unmerge(f->s, NULL, top), 0);
	got_clear(g);
	assert_int_equal(cloud_store_repl_snapshot(f->s, &rq, &sink, &r), 0);
	assert_int_equal(g->n, 1);
	assert_string_equal(g->c[0].id, "p-3");
	got_clear(g);
	free(g);
}

/* The watch a worker announces from: device updates move latest only; an
 * operator's erasure, merge or seed is notable, and so is a device's
 * consent change; nothing new leaves both. */
static void repl_watch_tells_device_updates_from_the_rest(void **state)
{
	struct sfx *f = *state;
	int64_t start, latest, notable, merge_seq;

	seed_home(f, "p-1", "0042");
	seed_home(f, "p-2", "0042");
	start = last_change(f);
	assert_int_equal(cloud_store_repl_watch(f->s, start, &latest, &notable), 0);
	assert_int_equal(latest, start);
	assert_int_equal(notable, 0);
	note(f, DEV_A, "0042", T, "p-1", "an update");
	assert_int_equal(cloud_store_repl_watch(f->s, start, &latest, &notable), 0);
	assert_int_equal(latest, last_change(f));
	assert_true(latest > start);
	assert_int_equal(notable, 0);
	assert_int_equal(cloud_store_merge(f->s, NULL, "p-2", "p-1", NULL), 0);
	merge_seq = last_change(f);
	note(f, DEV_A, "0042", T + 1, "p-1", "another update");
	assert_int_equal(cloud_store_repl_watch(f->s, start, &latest, &notable), 0);
	assert_int_equal(latest, last_change(f));
	assert_true(notable > start && notable <= merge_seq);
	assert_true(latest > merge_seq);
	/* from the newest seq on: nothing */
	start = latest;
	assert_int_equal(cloud_store_repl_watch(f->s, start, &latest, &notable), 0);
	assert_int_equal(latest, start);
	assert_int_equal(notable, 0);
	/* a consent change from a device (the priority lane) is notable */
	{
		struct cf_batch cb;
		start = latest;
		cf_batch_begin(&cb, DEV_A, "0042");
		cf_batch_add(&cb, RG_KIND_CONSENT_CHANGED, T + 2, "p-1", NULL,
			     "{\"show_in_public\":[\"points\"]}");
		apply(f, &cb, NULL);
		assert_int_equal(cloud_store_repl_watch(f->s, start, &latest, &notable), 0);
		assert_int_equal(notable, last_change(f));
		assert_true(notable > start);
		start = latest;
	}
	/* the person with the profile merged into them */
	assert_int_equal(cloud_store_erase(f->s, NULL, "p-1"), 2);
	assert_int_equal(cloud_store_repl_watch(f->s, start, &latest, &notable), 0);
	assert_int_equal(notable, last_change(f));
	/* where a worker starts: the newest seq, nothing notable */
	assert_int_equal(cloud_store_repl_watch(f->s, -1, &latest, &notable), 0);
	assert_int_equal(latest, last_change(f));
	assert_int_equal(notable, 0);
	assert_int_equal(cloud_store_repl_watch(f->s, -2, &latest, &notable), RG_ERR_INVAL);
}

static int64_t seed_many(struct sfx *f, const char *prefix, int n)
{
	struct cloud_seed_profile *p = calloc((size_t)n, sizeof *p);
	char(*ids)[16] = calloc((size_t)n, sizeof *ids);
	assert_non_null(p);
	assert_non_null(ids);
	for (int i = 0; i < n; i++) {
		snprintf(ids[i], sizeof ids[i], "%s%05d", prefix, i);
		p[i].id = ids[i];
		p[i].version = 1;
		p[i].body = "{\"name\":\"Many\"}";
		p[i].body_len = strlen(p[i].body);
	}
	assert_int_equal(cloud_store_seed(f->s, p, (size_t)n), n);
	free(p);
	free(ids);
	return last_change(f);
}

/* 1,200 changes in pages of 200: every profile once, seq increasing over
 * all pages, more until the end, the last next = latest. */
static void repl_pages_follow_next_and_more(void **state)
{
	struct sfx *f = *state;
	struct got *g = got_new();
	struct cloud_repl_result r;
	int64_t since = 0, prev = 0, latest = seed_many(f, "p-", 1200);
	size_t total = 0, pages = 0;

	do {
		got_clear(g);
		page(f, NULL, since, 200, g, &r);
		assert_true(g->n <= 200);
		for (size_t i = 0; i < g->n; i++) {
			assert_true(g->c[i].seq > prev);
			prev = g->c[i].seq;
		}
		total += g->n;
		since = r.next;
		pages++;
		assert_true(pages <= 7);
	} while (r.more);
	assert_int_equal(total, 1200);
	assert_int_equal(pages, 6 + (total % 200 ? 1 : 0) + 0 * latest);
	assert_int_equal(since, latest);
	got_clear(g);
	free(g);
}

/* A page the writer finds full ends at the last change it took (more);
 * the next page starts right after it, so nothing is skipped. */
static void repl_full_page_ends_at_the_last_change_taken(void **state)
{
	struct sfx *f = *state;
	struct got *g = got_new();
	struct cloud_repl_result r;
	int64_t kept;

	seed_many(f, "p-", 30);
	g->stop_after = 7;
	page(f, NULL, 0, 200, g, &r);
	assert_int_equal(g->n, 7);
	assert_true(r.more);
	assert_int_equal(r.next, g->c[6].seq);
	kept = r.next;
	got_clear(g);
	page(f, NULL, kept, 200, g, &r);
	assert_int_equal(g->n, 23);
	assert_string_equal(g->c[0].id, "p-00007");
	assert_false(r.more);
	got_clear(g);
	free(g);
}

/* Retention: rows older than the cut go (never the newest); a cursor older
 * than what is left gets snapshot_needed; oldest itself still works. */
static void repl_pruned_log_answers_snapshot_needed(void **state)
{
	struct sfx *f = *state;
	struct got *g = got_new();
	struct cloud_repl_result r;
	int64_t removed, latest;

	seed_many(f, "a-", 10);
	rg_clock_manual_advance(&f->clock, 40 * 86400000LL);
	latest = seed_many(f, "b-", 5);
	assert_int_equal(cloud_store_repl_prune(f->s, T + 30 * 86400000LL, &removed), 0);
	assert_int_equal(removed, 10);
	page(f, NULL, 0, 200, g, &r);
	assert_true(r.snapshot_needed);
	assert_int_equal(g->n, 0);
	assert_int_equal(r.oldest, latest - 5);
	assert_int_equal(r.latest, latest);
	page(f, NULL, r.oldest, 200, g, &r);
	assert_false(r.snapshot_needed);
	assert_int_equal(g->n, 5);
	/* pruning everything keeps the newest row: latest stays */
	assert_int_equal(cloud_store_repl_prune(f->s, T + 400 * 86400000LL, &removed), 0);
	assert_int_equal(removed, 4);
	assert_int_equal(last_change(f), latest);
	got_clear(g);
	page(f, NULL, latest - 1, 200, g, &r);
	assert_false(r.snapshot_needed);
	assert_int_equal(g->n, 1);
	got_clear(g);
	free(g);
}

/* Snapshot chunks cover every live profile exactly once, in id order,
 * across resumes; erased and merged-away profiles are absent; a snapshot
 * the sender no longer has starts over under a new id. */
static void repl_snapshot_covers_every_profile_once(void **state)
{
	struct sfx *f = *state;
	struct got *g = got_new();
	struct cloud_repl_result r;
	struct cloud_repl_req rq = {.store = "0042", .max = 40};
	struct cloud_repl_sink sink = {got_emit, g};
	char after[RG_WIRE_ID_MAX + 1] = "", last[RG_WIRE_ID_MAX + 1] = "";
	int64_t snap = 0, seq = 0, latest;
	size_t total = 0, chunks = 0;

	seed_many(f, "p-", 250);
	assert_int_equal(cloud_store_erase(f->s, NULL, "p-00003"), 1);
	assert_int_equal(cloud_store_erase(f->s, NULL, "p-00100"), 1);
	assert_int_equal(cloud_store_merge(f->s, NULL, "p-00200", "p-00201", NULL), 0);
	latest = last_change(f);
	for (;;) {
		got_clear(g);
		rq.snapshot = snap;
		rq.after = after;
		assert_int_equal(cloud_store_repl_snapshot(f->s, &rq, &sink, &r), 0);
		if (!snap) {
			snap = r.snapshot;
			seq = r.seq;
			assert_true(snap > 0);
			assert_int_equal(seq, latest);
		}
		assert_int_equal(r.snapshot, snap);
		assert_int_equal(r.seq, seq);
		for (size_t i = 0; i < g->n; i++) {
			assert_int_equal(g->c[i].op, DELTA_PROFILE);
			assert_true(strcmp(g->c[i].id, last) > 0);
			snprintf(last, sizeof last, "%s", g->c[i].id);
			assert_string_not_equal(last, "p-00003");
			assert_string_not_equal(last, "p-00100");
			assert_string_not_equal(last, "p-00200");
		}
		total += g->n;
		chunks++;
		assert_true(g->n <= 40);
		/* a change meanwhile does not disturb the snapshot */
		if (chunks == 2)
			note(f, DEV_A, "0042", T + 5, "p-00249", "meanwhile");
		if (r.done)
			break;
		snprintf(after, sizeof after, "%s", last);
		assert_true(chunks < 10);
	}
	assert_int_equal(total, 247);
	assert_int_equal(chunks, 7);
	/* an unknown snapshot starts over from the first id */
	got_clear(g);
	rq.snapshot = snap + 100;
	rq.after = "p-00100";
	assert_int_equal(cloud_store_repl_snapshot(f->s, &rq, &sink, &r), 0);
	assert_true(r.snapshot != snap + 100 && r.snapshot > snap);
	assert_string_equal(g->c[0].id, "p-00000");
	assert_false(r.done);
	got_clear(g);
	free(g);
}

int store_suite_run(const struct suite_backend *b)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(same_batch_twice_has_one_effect, setup, teardown),
	    cmocka_unit_test_setup_teardown(failure_midway_leaves_nothing, setup, teardown),
	    cmocka_unit_test_setup_teardown(group_keeps_each_batch_whole, setup, teardown),
	    cmocka_unit_test_setup_teardown(derived_state_for_each_kind, setup, teardown),
	    cmocka_unit_test_setup_teardown(item_by_token_only_resolves_profile, setup, teardown),
	    cmocka_unit_test_setup_teardown(consent_is_last_writer_wins_with_device_tiebreak, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(preferences_are_per_key_last_writer_wins, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(erasure_tombstone_beats_later_edits, setup, teardown),
	    cmocka_unit_test_setup_teardown(per_device_order_is_recorded, setup, teardown),
	    cmocka_unit_test_setup_teardown(seeding_is_idempotent_and_versioned, setup, teardown),
	    cmocka_unit_test_setup_teardown(changes_are_logged_per_profile_change, setup, teardown),
	    cmocka_unit_test_setup_teardown(recent_interactions_are_bounded, setup, teardown),
	    cmocka_unit_test_setup_teardown(reopen_keeps_everything, setup, teardown),
	    cmocka_unit_test_setup_teardown(device_order_within_one_batch, setup, teardown),
	    cmocka_unit_test_setup_teardown(one_profile_many_items_in_a_batch, setup, teardown),
	    cmocka_unit_test_setup_teardown(merge_then_unmerge_restores_both_exactly, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(interactions_during_a_merge_follow_the_unmerge, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(merge_refusals_and_chains, setup, teardown),
	    cmocka_unit_test_setup_teardown(link_attaches_and_refuses_a_taken_identifier, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(erase_removes_the_person_and_drops_later_items, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(imported_interactions_apply_once, setup, teardown),
	    cmocka_unit_test_setup_teardown(changes_show_each_op_in_order, setup, teardown),
	    cmocka_unit_test_setup_teardown(repl_coalesces_each_profile_at_its_last_seq, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(repl_merge_unmerge_erase_in_order, setup, teardown),
	    cmocka_unit_test_setup_teardown(repl_idents_follow_link_and_unlink, setup, teardown),
	    cmocka_unit_test_setup_teardown(repl_policy_filters_profiles_not_erasures, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(repl_policy_follows_every_merge_level, setup, teardown),
	    cmocka_unit_test_setup_teardown(repl_watch_tells_device_updates_from_the_rest, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(repl_pages_follow_next_and_more, setup, teardown),
	    cmocka_unit_test_setup_teardown(repl_full_page_ends_at_the_last_change_taken, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(repl_pruned_log_answers_snapshot_needed, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(repl_snapshot_covers_every_profile_once, setup,
					    teardown),
	};
	B = b;
	return cmocka_run_group_tests_name(b->name, tests, NULL, NULL);
}
