/*
 * replica.h - the gateway's store replica (docs/replication.md, "Gateway
 * replica"): a SQLite file of the profiles central gives this store, their
 * identifiers, merges and erasure tombstones, and the gateway's own change
 * log (gseq) that devices pull "changes since N" from. Central's pages and
 * snapshot chunks are applied here, each in one transaction or not at all;
 * devices' requests and lookups are answered from here. One thread at a time.
 */
#ifndef GATEWAY_REPLICA_H
#define GATEWAY_REPLICA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/clock.h"
#include "common/crypto.h"
#include "common/delta.h"

#ifdef __cplusplus
extern "C" {
#endif

#define GW_REPLICA_REASON_MAX 32
#define GW_REPLICA_DETAIL_MAX 256
#define GW_LOOKUP_RESULT_MAX (64 * 1024) /* a lookup answer from central */

struct gw_replica;

/* Open (creating, mode 0600) and migrate the replica at path. */
int gw_replica_open(const char *path, const struct rg_clock *clock, struct gw_replica **out);
void gw_replica_close(struct gw_replica *r);

struct gw_replica_state {
	int64_t central_cursor; /* central's seq the replica holds everything up to */
	int64_t as_of_ms;	/* when the last page or chunk from central was applied */
	int64_t gseq;		/* the gateway's newest change (devices' cursors) */
	int64_t oldest;		/* the oldest "since" devices can still get changes for */
	int64_t profiles, identifiers, tombstones, merges;
	/* A snapshot from central in progress (snapshot != 0): resume after `after`. */
	int64_t snapshot, snapshot_seq;
	char snapshot_after[DELTA_ID_MAX + 1];
};
int gw_replica_state_get(struct gw_replica *r, struct gw_replica_state *out);
/* The same without the counts (they scan tables): cursor, as_of, gseq,
 * oldest and the snapshot in progress only. For the pull loop. */
int gw_replica_progress_get(struct gw_replica *r, struct gw_replica_state *out);

/* What applying one page or chunk did. On a refusal (RG_ERR_PARSE) reason is
 * a stable word (malformed, since_mismatch, snapshot_mismatch, after_mismatch)
 * and detail says what. */
struct gw_replica_result {
	int64_t applied;      /* changes that changed the replica (got a gseq) */
	int64_t ignored;      /* not newer than what the replica holds, or no-ops */
	int64_t tombstoned;   /* profile states refused for an erased id */
	int64_t swept;	      /* profiles deleted at the end of a snapshot */
	int64_t erased;	      /* erasures applied (their bytes scrubbed from the files) */
	int64_t cursor;	      /* the central cursor after this page or chunk */
	bool snapshot_needed; /* page: central's log no longer reaches our cursor */
	bool more;	      /* page: ask again at once */
	bool done;	      /* chunk: the snapshot is complete */
	char reason[GW_REPLICA_REASON_MAX];
	char detail[GW_REPLICA_DETAIL_MAX];
};

/*
 * Apply central's answer to "changes since `since`": every change in one
 * transaction with the new central cursor (next) and as_of. 0 when applied,
 * or snapshot_needed (nothing changed); RG_ERR_PARSE when refused whole
 * (malformed, or since not the one asked for): the replica is unchanged;
 * another negative code when the database failed (rolled back).
 */
int gw_replica_apply_page(struct gw_replica *r, const void *buf, size_t len, int64_t since,
			  struct gw_replica_result *res);

/*
 * Apply one snapshot chunk answering {"snapshot":snapshot,"after":after}:
 * its profiles and the progress (snapshot, seq, next_after) in one
 * transaction. A chunk with another snapshot id than a non-zero asked one
 * starts over (it must then begin at ""). The last chunk (done) also deletes
 * every profile the snapshot did not include, drops the tombstones older
 * than the snapshot and sets the central cursor to the snapshot's seq.
 * Returns as gw_replica_apply_page.
 */
int gw_replica_apply_chunk(struct gw_replica *r, const void *buf, size_t len, int64_t snapshot,
			   const char *after, struct gw_replica_result *res);

/*
 * Answer a device's request from the replica: a page of the gateway's log
 * since q->since (coalesced: a profile at its last gseq, with its current
 * state), a snapshot_needed answer, or a snapshot chunk. *out is malloc'd
 * (the caller frees), NUL-terminated, *len bytes.
 */
int gw_replica_serve(struct gw_replica *r, const struct delta_request *q, char **out, size_t *len);

/* A lookup answered from the replica: 1 with *out a lookup_result (malloc'd)
 * when the token is here, 0 when it is not (ask central). */
int gw_replica_lookup(struct gw_replica *r, const uint8_t token[RG_TOKEN_LEN], char **out,
		      size_t *len);

enum gw_lookup_store {
	GW_LOOKUP_NOT_FOUND = 0,  /* central did not find it: nothing stored */
	GW_LOOKUP_STORED = 1,	  /* the profile (or just the token) is now in the replica */
	GW_LOOKUP_KEPT = 2,	  /* the replica already holds a state at least as new */
	GW_LOOKUP_TOMBSTONED = 3, /* the id is erased here: answer "not found" */
};

/*
 * Parse central's lookup_result for token (strict: docs/cloud.md) and write
 * a found profile into the replica with that token. A profile only learned
 * from a lookup is kept out of the devices' pages (its identifier set is not
 * complete) until central's changes bring it. Returns an enum gw_lookup_store
 * value, or RG_ERR_PARSE (err says why; nothing stored).
 */
int gw_replica_lookup_store(struct gw_replica *r, const uint8_t token[RG_TOKEN_LEN],
			    const void *answer, size_t len, char *err, size_t errcap);
/* Parse a lookup_result only (no database): 0 or RG_ERR_PARSE. When *found,
 * profile holds id, version, hlc and body (compact JSON, malloc'd: free()
 * it); idents stay empty. For the fuzz target and the lookup path. */
int gw_replica_lookup_parse(const void *answer, size_t len, bool *found,
			    struct delta_change *profile, char *err, size_t errcap);

/* Delete the gateway's log entries older than retention_ms: devices behind
 * them then get snapshot_needed. Returns the number deleted. */
int gw_replica_prune(struct gw_replica *r, int64_t retention_ms);

#ifdef __cplusplus
}
#endif

#endif
