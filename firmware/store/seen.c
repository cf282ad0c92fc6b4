/*
 * seen.c - last_seen without a write on the read path. Lookups note
 * (profile rowid -> time) in a fixed-size in-memory map, written to
 * profile_seen in one transaction when full, after seen_flush_ms, before any
 * eviction, on store_flush() and on close. A power cut loses only pending
 * values: the LRU order gets slightly older, nothing else.
 */
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/log.h"
#include "store_internal.h"

int store__seen_init(struct store *s, size_t max_pending)
{
	size_t slots = 16;
	while (slots < 2 * max_pending)
		slots *= 2;
	if (!(s->seen = calloc(slots, sizeof *s->seen)))
		return RG_ERR_NOMEM;
	s->seen_slots = slots;
	s->seen_max = max_pending;
	return 0;
}

static size_t slot_of(const struct store *s, int64_t pid)
{
	uint64_t h = (uint64_t)pid * 0x9e3779b97f4a7c15ull;
	return (size_t)(h >> 32) & (s->seen_slots - 1);
}

void store__seen_note(struct store *s, int64_t pid)
{
	int64_t now = rg_clock_wall_ms(s->clock);
	size_t i, mask = s->seen_slots - 1;

	if (pid <= 0)
		return;
	for (i = slot_of(s, pid);; i = (i + 1) & mask) {
		if (s->seen[i].pid == pid) {
			if (now > s->seen[i].ms)
				s->seen[i].ms = now;
			return;
		}
		if (s->seen[i].pid == 0)
			break;
	}
	if (s->seen_count >= s->seen_max) {
		/* Full even after a flush was tried: writing the database is
		 * failing, and an older LRU order is the lesser harm. */
		return;
	}
	if (s->seen_count == 0)
		s->seen_since_ns = rg_clock_mono_ns(s->clock);
	s->seen[i].pid = pid;
	s->seen[i].ms = now;
	s->seen_count++;
}

static int cmp_pid(const void *a, const void *b)
{
	const struct store_seen_slot *x = a, *y = b;
	return (x->pid > y->pid) - (x->pid < y->pid);
}

int store__seen_write(struct store *s)
{
	struct store_seen_slot *v;
	sqlite3 *h = rg_db_handle(s->db);
	sqlite3_stmt *st;
	size_t n = 0;
	int rc, written = 0;

	if (!s->seen_count)
		return 0;
	/* In rowid order, so consecutive updates touch neighbouring pages. */
	if (!(v = malloc(s->seen_count * sizeof *v)))
		return RG_ERR_NOMEM;
	for (size_t i = 0; i < s->seen_slots; i++)
		if (s->seen[i].pid)
			v[n++] = s->seen[i];
	qsort(v, n, sizeof *v, cmp_pid);
	/* A value within seen_resolution_ms of the stored one changes nothing
	 * and dirties no page. */
	rc = store__prepare(
	    s, "UPDATE profile_seen SET last_seen = ?2 WHERE pid = ?1 AND last_seen <= ?3", &st);
	for (size_t i = 0; rc == 0 && i < n; i++) {
		sqlite3_bind_int64(st, 1, v[i].pid);
		sqlite3_bind_int64(st, 2, v[i].ms);
		sqlite3_bind_int64(st, 3, v[i].ms - s->seen_resolution_ms);
		if ((rc = store__step_done(s, st, "seen_write")) == 0)
			written += sqlite3_changes(h);
	}
	free(v);
	return rc < 0 ? rc : written;
}

void store__seen_clear(struct store *s)
{
	memset(s->seen, 0, s->seen_slots * sizeof *s->seen);
	s->seen_count = 0;
	s->seen_retry_ns = 0;
}

int store__seen_flush(struct store *s)
{
	int rc, n;

	if (!s->seen_count)
		return 0;
	if ((rc = store__begin(s, "seen_flush")) < 0)
		return rc;
	if ((n = store__seen_write(s)) < 0) {
		rg_db_rollback(s->db);
		return n;
	}
	if ((rc = store__commit(s, "seen_flush")) < 0)
		return rc;
	rg_debug(STORE_COMP, "seen_flushed", "pending=%zu written=%d", s->seen_count, n);
	store__seen_clear(s);
	return n;
}

void store__seen_maybe_flush(struct store *s)
{
	int64_t now = rg_clock_mono_ns(s->clock);
	int64_t due = s->seen_since_ns + s->seen_flush_ms * 1000000;
	int rc;

	if (!s->seen_count || now < s->seen_retry_ns)
		return;
	if (s->seen_count < s->seen_max && now < due)
		return;
	if ((rc = store__seen_flush(s)) < 0) {
		/* Retry after an interval, not at every lookup: a lookup must
		 * not wait on a busy database again and again. */
		s->seen_retry_ns = now + s->seen_flush_ms * 1000000;
		rg_warn(STORE_COMP, "seen_flush_failed", "error=%s pending=%zu", rg_errname(rc),
			s->seen_count);
	}
}
