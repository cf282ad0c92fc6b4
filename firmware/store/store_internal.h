/*
 * store_internal.h - what the files of firmware/store/ share: the store
 * struct, the pending last_seen map, and store__ helpers. Not installed;
 * nothing outside firmware/store/ may include it. Every store__ function
 * expects the store's lock to be held by the caller.
 */
#ifndef FIRMWARE_STORE_INTERNAL_H
#define FIRMWARE_STORE_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/db.h"
#include "firmware/store.h"

#define STORE_COMP "store"
#define STORE_STORE_ID_MAX RG_WIRE_STORE_MAX
/* AAD prefix of outbox bodies: profile ids cannot contain NUL, so a sealed
 * outbox body can never be opened as a profile body or the other way round. */
#define STORE_OUTBOX_AAD "outbox"

struct store_seen_slot {
	int64_t pid; /* 0 = empty (rowids start at 1) */
	int64_t ms;
};

struct store {
	pthread_mutex_t lock;
	struct rg_db *db;
	uint8_t key[STORE_KEY_LEN];
	char device_id[RG_WIRE_ID_MAX + 1];
	char store_id[STORE_STORE_ID_MAX + 1];
	int64_t max_profiles;
	int64_t max_bytes;
	int64_t seen_resolution_ms;
	int64_t seen_flush_ms;
	const struct rg_clock *clock;
	const struct rg_rand *rand;
	struct rg_hlc_clock hlc;
	struct rg_uuid7_gen uuids;
	/* last_seen values recorded by lookups and not yet written: open
	 * addressing, seen_slots a power of 2 at least twice seen_max */
	struct store_seen_slot *seen;
	size_t seen_slots;
	size_t seen_max;
	size_t seen_count;
	int64_t seen_since_ns; /* monotonic time the oldest pending value was noted */
	int64_t seen_retry_ns; /* after a failed flush: not before this */
	int64_t evicted;
	/* a snapshot is being fetched (sync_state.snapshot != 0): profiles
	 * written meanwhile are noted in snapshot_ids so its sweep keeps them */
	bool snap_active;
	int64_t tombstone_refusals; /* profile writes refused for an erased id, since open */
	/* scratch for sealing profile bodies under the lock */
	uint8_t psealed[STORE_BODY_MAX + RG_AEAD_OVERHEAD];
	/* scratch for sealing/opening outbox bodies under the lock */
	uint8_t sealed[STORE_OUTBOX_BODY_MAX + RG_AEAD_OVERHEAD];
	char plain[STORE_OUTBOX_BODY_MAX + 1];
};

/* store.c */
int store__lock(struct store *s);
void store__unlock(struct store *s);
int store__id_valid(const char *id);
int store__type_valid(const char *type);
int store__json_object(const char *text, size_t len, size_t max);
/* rg_db_prepare plus a log line on failure. */
int store__prepare(struct store *s, const char *sql, sqlite3_stmt **st);
/* Log a database failure of `what` and return rc. */
int store__db_fail(struct store *s, const char *what, int rc);
/* Whether sql (one text parameter, arg) returns a row: 1, 0, or an error. */
int store__exists(struct store *s, const char *sql, const char *arg, const char *what);
/* Step a statement that returns no row (or ignores it) and reset it. */
int store__step_done(struct store *s, sqlite3_stmt *st, const char *what);
int store__begin(struct store *s, const char *what);
/* A transaction that a power cut may undo harmlessly (rg_db_begin_lazy):
 * marking rows sent, deleting rows central acknowledged. */
int store__begin_lazy(struct store *s, const char *what);
int store__commit(struct store *s, const char *what);
/* Persist the HLC clock's last stamp (inside an open transaction). */
int store__hlc_save(struct store *s);
/* Counters maintained by the schema's triggers. */
int store__counters(struct store *s, int64_t *profiles, int64_t *bytes, int64_t *identifiers,
		    int64_t *outbox);

/* seen.c */
int store__seen_init(struct store *s, size_t max_pending);
void store__seen_note(struct store *s, int64_t pid);
/* Write pending values inside the caller's open transaction. Returns the
 * rows changed (values within seen_resolution_ms change nothing). */
int store__seen_write(struct store *s);
/* After the transaction that wrote them committed. */
void store__seen_clear(struct store *s);
/* A transaction of its own: write and clear. Returns how many. */
int store__seen_flush(struct store *s);
/* Flush if the interval passed or the map is full (read path; never fails). */
void store__seen_maybe_flush(struct store *s);

/* profiles.c */
int store__seal_profile(struct store *s, const char *id, const char *body, size_t len, uint8_t *out,
			size_t cap);
/* Read profile `id` (exact, no merges) into buf; 1 found, 0 not cached. */
int store__profile_read(struct store *s, const char *id, char *buf, size_t cap,
			struct store_hit *hit);
/* Delete one profile row and its identifiers (inside a transaction). */
int store__profile_delete(struct store *s, const char *id);
int store__identifier_put(struct store *s, const uint8_t *token, const char *type,
			  const char *profile_id, int64_t now);
/* Write one checked profile inside the open transaction: 1 written, 0 not
 * newer, merged away or erased (a tombstone). Its identifiers are added or
 * re-pointed; none is removed. */
int store__profile_put(struct store *s, const struct store_profile *p, int64_t now);

/* merges.c */
/* Follow merges; out gets the final id. Returns hops, RG_ERR_RANGE past the bound. */
int store__resolve(struct store *s, const char *id, char out[STORE_ID_MAX + 1]);
int store__is_merged(struct store *s, const char *id);
/* store_merge_record's work inside the caller's transaction. */
int store__merge(struct store *s, const char *old_id, const char *new_id);

/* replica.c */
/* 1 if id has a tombstone (was erased), 0 if not. */
int store__tombstoned(struct store *s, const char *id);
/* Load snap_active from sync_state (at open). */
int store__sync_load(struct store *s);

/* evict.c */
/* Evict least-recently-seen, unpinned profiles (never keep_id) until both
 * caps hold, inside the caller's transaction. Returns profiles evicted. */
int store__evict(struct store *s, const char *keep_id);

/* schema.c */
int store__migrate(struct store *s);

#endif
