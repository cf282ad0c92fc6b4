/*
 * store.h - the device's local store: the profile cache (sealed bodies,
 * identifier tokens, merges, bounded with least-recently-seen eviction) and
 * the durable outbox of interactions, in one SQLite file (WAL, synchronous
 * FULL). The schema and its rules are in docs/device-schema.md. Callers must
 * never put raw identifiers (card numbers, UIDs) in: only rg_token() tokens.
 */
#ifndef FIRMWARE_STORE_H
#define FIRMWARE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/clock.h"
#include "common/crypto.h"
#include "common/hlc.h"
#include "common/uuid.h"
#include "common/wire.h"

#ifdef __cplusplus
extern "C" {
#endif

#define STORE_KEY_LEN RG_AEAD_KEY_LEN /* the sealing key, from the keystore */
#define STORE_ID_MAX RG_WIRE_ID_MAX   /* profile ids: [A-Za-z0-9_.:-]{1,64}, no leading '-' */
#define STORE_TYPE_MAX 16	      /* identifier types: [a-z0-9_]{1,16} */
#define STORE_BODY_MAX (32 * 1024)    /* a profile body, JSON text (plaintext) */
#define STORE_OUTBOX_BODY_MAX RG_WIRE_MAX_BODY /* an interaction body, JSON text */
#define STORE_IDENTS_MAX 16		       /* identifiers per profile in one upsert */
#define STORE_LOAD_MAX 100000		       /* profiles per store_profiles_load() */
#define STORE_IDS_MAX 4096		       /* ids per ack / mark_sent call */
#define STORE_LIST_MAX 1000		       /* rows per store_outbox_list() */
#define STORE_MERGE_DEPTH_MAX 16	       /* merge hops followed before giving up */
#define STORE_TOMBSTONE_DAYS 30		       /* an erased id is refused this long */

struct store; /* opaque */

struct store_config {
	const char *path;      /* the database file; created if missing */
	const uint8_t *key;    /* STORE_KEY_LEN bytes; copied, wiped on close */
	const char *device_id; /* this device's identity (rg_wire_identity_valid) */
	const char *store_id;  /* the shop it stands in: [a-z0-9-]{1,32} */
	int64_t max_profiles;  /* 0: 1,000,000; otherwise >= 1 */
	int64_t max_bytes;     /* cap on sealed body bytes; 0: 1 GiB; otherwise >= 4096 */
	/* last_seen is noted in memory by lookups and written in one batch when
	 * the oldest pending value has waited seen_flush_ms, when
	 * seen_pending_max profiles are pending, before any eviction, on
	 * store_flush() and on close; a value within seen_resolution_ms of the
	 * stored one is not rewritten. 0 means 60000 ms, 60000 ms, 65536. */
	int64_t seen_resolution_ms;
	int64_t seen_flush_ms;
	int seen_pending_max;	      /* 16 .. 1048576 */
	int cache_kib;		      /* SQLite page cache; 0: 8192 */
	int64_t hlc_max_offset_ms;    /* 0: RG_HLC_DEFAULT_MAX_OFFSET_MS */
	const struct rg_clock *clock; /* borrowed; NULL: rg_clock_system() */
	const struct rg_rand *rand;   /* borrowed; NULL: rg_rand_system() */
};

/* Open (creating and migrating as needed) the store. RG_ERR_VERIFY if the
 * database was created under another key; RG_ERR_MIGRATE if its schema is newer
 * than this program; RG_ERR_INVAL / RG_ERR_RANGE for a bad config. On success
 * *out is owned by the caller (store_close); on failure it is NULL.
 * A store may be shared by threads: every call takes its lock. */
int store_open(const struct store_config *cfg, struct store **out);
/* Writes pending last_seen values, closes the database, wipes the key. */
void store_close(struct store *s);
/* Write pending last_seen values now (one transaction); a daemon calls this
 * from its idle timer, so lookups never pay for it. Returns rows changed. */
int store_flush(struct store *s);
/* The schema version the database is at. */
int store_schema_version(struct store *s);

/* ---- profiles ---- */

struct store_ident {
	const uint8_t *token; /* RG_TOKEN_LEN bytes: rg_token(tenant key, type, canonical) */
	const char *type;     /* "loyalty", "nfc_uid", ... */
};

struct store_profile {
	const char *id;	  /* profile id */
	int64_t version;  /* >= 0; central's version of the profile */
	uint64_t hlc;	  /* rg_hlc_pack() of its last change; < 2^63 */
	const char *body; /* a JSON object, 2..STORE_BODY_MAX bytes; sealed at rest */
	size_t body_len;
	const struct store_ident *idents; /* added (or re-pointed) to this profile */
	size_t n_idents;		  /* <= STORE_IDENTS_MAX */
};

/* Insert or replace a profile and add its identifiers, in one transaction,
 * then evict down to the caps (never the profile just written). Returns 1 if
 * written, 0 if ignored: the cached copy has a (version, hlc) at least as new,
 * or the id was merged into another profile. The profile's HLC is merged into
 * the store's clock, so later local stamps sort after it. */
int store_profile_upsert(struct store *s, const struct store_profile *p);
/* The same for n profiles (1..STORE_LOAD_MAX) in ONE transaction: all are
 * validated first, and any invalid one refuses the whole batch. Returns how
 * many were written. For sync snapshots, tests and the benchmark. */
int store_profiles_load(struct store *s, const struct store_profile *p, size_t n);
/* Remove a profile and its identifiers now, outbox references or not (an
 * erasure). Returns 1 if it was cached, 0 if not. */
int store_profile_remove(struct store *s, const char *id);

/* What a lookup found. body is in the caller's buffer, NUL-terminated. */
struct store_hit {
	char profile_id[STORE_ID_MAX + 1]; /* after merges; "" if the token is unknown */
	char type[STORE_TYPE_MAX + 1];	   /* identifier type (store_identify only) */
	int redirects;			   /* merge hops followed */
	int64_t version;
	uint64_t hlc;
	size_t body_len;
};

/* The fast read path: token -> profile id -> opened body, through cached
 * prepared statements, with no write on the way (last_seen is recorded in
 * memory; see store_config). The decrypted body goes into the caller's buf
 * (cap >= body length + 1; STORE_BODY_MAX + 1 always suffices; the caller
 * should rg_wipe it after use). Returns 1 when the body is in buf; 0 when
 * there is none: hit->profile_id is "" for an unknown token, or names the
 * (merged-to) profile whose body is not cached. RG_ERR_VERIFY if the sealed
 * body does not open (wrong key, tampered, or moved between rows),
 * RG_ERR_TOOBIG if cap is short. hit is zeroed on errors. */
int store_identify(struct store *s, const uint8_t token[RG_TOKEN_LEN], char *buf, size_t cap,
		   struct store_hit *hit);
/* The same by profile id (following merges). Returns 1 with the body in buf,
 * 0 if not cached (hit->profile_id is the id after merges). */
int store_profile_get(struct store *s, const char *id, char *buf, size_t cap,
		      struct store_hit *hit);

/* ---- identifiers and merges ---- */

/* Point token at profile_id (after merges), replacing any earlier owner.
 * RG_ERR_NOTFOUND if that profile is not cached. */
int store_identifier_upsert(struct store *s, const uint8_t token[RG_TOKEN_LEN], const char *type,
			    const char *profile_id);
/* Returns 1 if removed, 0 if it was unknown. */
int store_identifier_remove(struct store *s, const uint8_t token[RG_TOKEN_LEN]);

/* Record that profile old_id is now new_id (central merged them). In one
 * transaction: chains are compressed (everything that pointed at old_id now
 * points at new_id's final id), identifiers are re-pointed, and old_id's
 * cached profile is dropped. Returns 1 if recorded, 0 if already known.
 * RG_ERR_INVAL for equal or bad ids, RG_ERR_STATE if it would close a cycle. */
int store_merge_record(struct store *s, const char *old_id, const char *new_id);
/* Follow merges from id; out gets the final id. Returns the hops taken. */
int store_merge_resolve(struct store *s, const char *id, char out[STORE_ID_MAX + 1]);

/* ---- the outbox ---- */

struct store_event {
	enum rg_kind kind;
	const char *profile_id; /* NULL when not known */
	const uint8_t *token;	/* NULL or RG_TOKEN_LEN bytes */
	const char *body;	/* a JSON object, 2..STORE_OUTBOX_BODY_MAX bytes; sealed at rest */
	size_t body_len;
};

struct store_outbox_ref {
	int64_t seq; /* this device's order: strictly increasing, never reused */
	struct rg_uuid id;
	struct rg_hlc hlc;
};

/* Record one interaction: a new UUIDv7 and HLC stamp, this device's and
 * store's ids, committed in its own durable transaction (fsync'd WAL) BEFORE
 * this returns 0: only then may the screen confirm. Needs a profile id or a
 * token, except telemetry. Refused inputs change nothing. ref may be NULL. */
int store_outbox_append(struct store *s, const struct store_event *ev,
			struct store_outbox_ref *ref);

struct store_outbox_row {
	int64_t seq;
	struct rg_uuid id;
	struct rg_hlc hlc;
	enum rg_kind kind;
	const char *device_id;
	const char *store_id;
	const char *profile_id; /* NULL when none */
	bool has_token;
	uint8_t token[RG_TOKEN_LEN];
	const char *body; /* the opened JSON, NUL-terminated */
	size_t body_len;
	int64_t created_ms; /* wall time of the append */
	int64_t sent_ms;    /* last store_outbox_mark_sent, 0 if never */
	int attempts;	    /* store_outbox_mark_sent calls for this row */
};

/* Call fn for the oldest rows with seq > after_seq, in seq order, at most
 * limit (1..STORE_LIST_MAX). Row fields are borrowed for the call only. fn
 * runs under the store's lock and must not call the store (RG_ERR_STATE);
 * a non-zero return stops the walk (a negative one is returned). Returns the
 * rows visited. RG_ERR_VERIFY if a row's body does not open. */
int store_outbox_list(struct store *s, int64_t after_seq, size_t limit,
		      int (*fn)(void *ctx, const struct store_outbox_row *row), void *ctx);
/* Note that rows were handed to the uplink (sent_ms = now, attempts + 1). A
 * sent row stays until acknowledged. Returns rows marked; unknown ids are skipped. */
int store_outbox_mark_sent(struct store *s, const struct rg_uuid *ids, size_t n);
/* Central's end-to-end acknowledgement: DELETE these rows (the only way rows
 * leave), then evict profiles they no longer pin if over the caps. Returns rows
 * removed; unknown (already acked) ids are skipped. n is 1..STORE_IDS_MAX. */
int store_outbox_ack(struct store *s, const struct rg_uuid *ids, size_t n);
/* Rows waiting for an acknowledgement. */
int store_outbox_count(struct store *s);

/* ---- limits ---- */

/* Change max_profiles and max_bytes while running (pushed configuration):
 * 0 keeps a limit's current value; max_bytes otherwise >= 4096. A lowered
 * limit evicts now, least recently seen first, in one transaction (never a
 * profile the outbox still references; the limits change even if those
 * keep the cache over them). Returns profiles evicted, RG_ERR_RANGE for a
 * bad value (nothing changed), or a database error (limits unchanged). */
int store_set_limits(struct store *s, int64_t max_profiles, int64_t max_bytes);

/* ---- replication from the gateway (docs/replication.md, "Device") ---- */

struct delta_page;  /* common/delta.h */
struct delta_chunk; /* common/delta.h */

/* How current the cache is with the gateway (table sync_state). */
struct store_sync {
	int64_t cursor;	  /* the gateway's seq the cache is current to; 0: nothing yet */
	int64_t latest;	  /* the gateway's newest seq, as the last page or chunk said */
	int64_t as_of_ms; /* that page's as_of (wall ms); 0: nothing applied yet */
	int64_t snapshot; /* a snapshot being fetched: its id; 0: none */
	int64_t snapshot_seq;
	char snapshot_after[STORE_ID_MAX + 1]; /* resume after this profile id */
	int64_t tombstones;		       /* erased ids remembered */
};
int store_sync_get(struct store *s, struct store_sync *out);

/* What applying a page or chunk did. */
struct store_apply_stats {
	int written;	/* profiles written */
	int stale;	/* profile states not newer than the cached one, or of a merged-away id */
	int tombstoned; /* profile states for an erased id: ignored */
	int too_big;	/* bodies larger than the cache's max_bytes: skipped */
	int merges;	/* redirects recorded */
	int unmerges;	/* redirects removed */
	int erases;	/* tombstones written */
	int tombstones_expired; /* older than STORE_TOMBSTONE_DAYS: dropped (pages) */
	int idents_removed;	/* identifiers no longer in their profile's set */
	int swept;		/* snapshot done: cached profiles it did not include */
	int evicted;
};

/* Apply one "changes" page in ONE transaction, then set the cursor to
 * p->next: profile -> upsert with its complete identifier set (the
 * profile's other identifiers are removed; the (version, hlc) rule holds;
 * an erased id is ignored and counted), merge -> store_merge_record's work,
 * unmerge -> the redirect removed, erase -> the profile and its identifiers
 * removed and a tombstone kept. Refused whole, nothing changed: RG_ERR_STATE
 * when p->since is not the cursor or a snapshot is being fetched (or a merge
 * would close a cycle), RG_ERR_INVAL for a snapshot_needed page,
 * RG_ERR_PARSE for a change that does not hold (ids, types, bodies, seq
 * order, next < since). st may be NULL. */
int store_page_apply(struct store *s, const struct delta_page *p, struct store_apply_stats *st);
/* Apply one snapshot chunk and its progress in ONE transaction. A chunk
 * with after "" starts (or restarts) snapshot c->snapshot; any other must
 * continue the one in progress exactly where it stopped (RG_ERR_STATE).
 * On the last chunk (done) every cached profile the snapshot did not
 * include is deleted and the cursor becomes c->seq. */
int store_chunk_apply(struct store *s, const struct delta_chunk *c, struct store_apply_stats *st);
/* Remove the redirect old_id -> new_id (central undid a merge). Returns 1
 * if removed, 0 if there was none from old_id. RG_ERR_INVAL for bad ids. */
int store_unmerge(struct store *s, const char *old_id, const char *new_id);
/* Erase: remove the profile and its identifiers and keep a tombstone (seq
 * is the gateway's seq of the erasure, 0 if none), in one transaction.
 * Returns 1 if the profile was cached, 0 if not. */
int store_erase(struct store *s, const char *id, int64_t seq);
/* 1 if id was erased (a tombstone is kept), 0 if not. */
int store_tombstoned(struct store *s, const char *id);

/* ---- this device's interactions, for the handheld's freshness ---- */

/* Outbox rows (not yet acknowledged by central) for profile_id. */
int store_outbox_count_profile(struct store *s, const char *profile_id);
/* 1 if the interaction is still in the outbox (not yet acknowledged), 0 if not. */
int store_outbox_has(struct store *s, const struct rg_uuid *id);

/* ---- stats (regularsctl device stats) ---- */

struct store_stats {
	int schema_version;
	int64_t profiles;
	int64_t profile_bytes; /* sealed body bytes (what max_bytes caps) */
	int64_t identifiers;
	int64_t merges;
	int64_t outbox;		      /* rows not yet acknowledged */
	int64_t outbox_unsent;	      /* of those, never handed to the uplink */
	int64_t outbox_oldest_age_ms; /* now - oldest row's append time; -1 if empty */
	int64_t max_profiles;
	int64_t max_bytes;
	int64_t evicted;      /* profiles evicted since open */
	int64_t seen_pending; /* last_seen values not yet written */
};

int store_stats_get(struct store *s, struct store_stats *out);

/* ---- identifier state (docs/device-schema.md, ident_replay / ident_totp) ---- */

#define STORE_REPLAY_MAX 65536 /* app-token nonces remembered at once */

struct ident_replay_store; /* common/ident_token.h */
struct ident_secret_store; /* common/ident_totp.h */

/* The store's tables behind the identifier pipeline's seams (same file, same
 * lock). Valid until store_close. The replay store forgets expired nonces
 * first and answers RG_ERR_TOOBIG when STORE_REPLAY_MAX live ones are held;
 * each accepted nonce or TOTP step is committed durably before the call
 * returns, so it stays used across restarts. */
void store_replay_seam(struct store *s, struct ident_replay_store *out);
void store_secret_seam(struct store *s, struct ident_secret_store *out);

#ifdef __cplusplus
}
#endif

#endif
