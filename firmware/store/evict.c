/*
 * evict.c - keeping the cache inside max_profiles and max_bytes: the least
 * recently seen profiles go first (last_seen, then oldest row), with their
 * identifiers, but never one the outbox still references, directly or under
 * an id that was merged into it. Runs inside the caller's transaction, or
 * in its own when the limits are lowered at run time (store_set_limits).
 */
#include <stdio.h>
#include <string.h>

#include "common/err.h"
#include "common/log.h"
#include "store_internal.h"

#define EVICT_BATCH 64

struct victim {
	char id[STORE_ID_MAX + 1];
	int64_t bytes;
};

static int candidates(struct store *s, const char *keep_id, struct victim *v, size_t max)
{
	sqlite3_stmt *st;
	size_t n = 0;
	int rc;

	rc = store__prepare(
	    s,
	    /* CROSS JOIN: walk profile_seen_by_time in order, then the row */
	    "SELECT p.id, p.body_len FROM profile_seen s CROSS JOIN profiles p ON p.pid = s.pid "
	    "WHERE p.id != ?1 "
	    "AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.profile_id = p.id) "
	    "AND NOT EXISTS (SELECT 1 FROM merges m JOIN outbox o ON o.profile_id = m.old_id "
	    "                WHERE m.new_id = p.id) "
	    "ORDER BY s.last_seen, s.pid LIMIT ?2",
	    &st);
	if (rc < 0)
		return rc;
	sqlite3_bind_text(st, 1, keep_id ? keep_id : "", -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)max);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW && n < max) {
		snprintf(v[n].id, sizeof v[n].id, "%s", (const char *)sqlite3_column_text(st, 0));
		v[n].bytes = sqlite3_column_int64(st, 1);
		n++;
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW)
		return store__db_fail(s, "evict", rg_db_err(rc) ? rg_db_err(rc) : RG_ERR_DB);
	return (int)n;
}

int store__evict(struct store *s, const char *keep_id)
{
	struct victim v[EVICT_BATCH];
	int64_t np, nb, evicted = 0, freed = 0;
	int rc, n;

	if ((rc = store__counters(s, &np, &nb, NULL, NULL)) < 0)
		return rc;
	while (np > s->max_profiles || nb > s->max_bytes) {
		size_t want = EVICT_BATCH;
		if (nb <= s->max_bytes && np - s->max_profiles < (int64_t)want)
			want = (size_t)(np - s->max_profiles);
		if ((n = candidates(s, keep_id, v, want)) < 0)
			return n;
		if (n == 0) {
			rg_warn(STORE_COMP, "over_cap_pinned",
				"profiles=%lld max_profiles=%lld bytes=%lld max_bytes=%lld "
				"error=\"every remaining profile is referenced by the outbox\"",
				(long long)np, (long long)s->max_profiles, (long long)nb,
				(long long)s->max_bytes);
			break;
		}
		for (int i = 0; i < n && (np > s->max_profiles || nb > s->max_bytes); i++) {
			if ((rc = store__profile_delete(s, v[i].id)) < 0)
				return rc;
			np--;
			nb -= v[i].bytes;
			freed += v[i].bytes;
			evicted++;
		}
	}
	if (evicted)
		rg_info(STORE_COMP, "evicted",
			"profiles=%lld bytes=%lld cached=%lld cached_bytes=%lld",
			(long long)evicted, (long long)freed, (long long)np, (long long)nb);
	return (int)evicted;
}

int store_set_limits(struct store *s, int64_t max_profiles, int64_t max_bytes)
{
	int64_t old_p, old_b;
	int rc, evicted;

	if (!s)
		return RG_ERR_INVAL;
	if (max_profiles < 0 || max_bytes < 0 || (max_bytes && max_bytes < 4096))
		return RG_ERR_RANGE;
	if ((rc = store__lock(s)) < 0)
		return rc;
	old_p = s->max_profiles;
	old_b = s->max_bytes;
	if (max_profiles)
		s->max_profiles = max_profiles;
	if (max_bytes)
		s->max_bytes = max_bytes;
	if (s->max_profiles >= old_p && s->max_bytes >= old_b) {
		store__unlock(s);
		return 0; /* nothing can be over a raised limit that was not before */
	}
	if ((rc = store__begin(s, "set_limits")) < 0)
		goto fail;
	if ((rc = store__seen_write(s)) < 0 || (evicted = rc = store__evict(s, NULL)) < 0 ||
	    (rc = store__commit(s, "set_limits")) < 0) {
		rg_db_rollback(s->db);
		goto fail;
	}
	store__seen_clear(s);
	s->evicted += evicted;
	rg_info(STORE_COMP, "limits_changed", "max_profiles=%lld max_bytes=%lld evicted=%d",
		(long long)s->max_profiles, (long long)s->max_bytes, evicted);
	store__unlock(s);
	return evicted;
fail:
	s->max_profiles = old_p;
	s->max_bytes = old_b;
	store__unlock(s);
	return rc;
}
