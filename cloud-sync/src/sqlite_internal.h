/*
 * sqlite_internal.h - private to the SQLite backend of the profile store:
 * store_sqlite.c (open, apply, imports, reads, seeding), sqlite_graph.c
 * (link, merge, unmerge, erase, the derived-state replay) and
 * sqlite_schema.c (migrations). Nothing outside these files includes it.
 */
#ifndef CLOUD_SQLITE_INTERNAL_H
#define CLOUD_SQLITE_INTERNAL_H

#include "common/db.h"
#include "store_internal.h"

#define SQ_REDIRECT_HOPS_MAX 64 /* merges chained one into the next */
#define SQ_WAL_PAGES 16384	/* wal_autocheckpoint: 64 MiB of 4 KiB pages */
#define SQ_WAL_KEEP_MIB 64	/* journal_size_limit after a checkpoint */

struct sq {
	struct rg_db *db;
	const struct rg_clock *clock;
	bool scrub; /* an erasure is in the open transaction (secure_delete on) */
};

int sq__migrate(struct rg_db *db);

/* Log a database failure (what was being done, SQLite's message); rc back. */
int sq__fail(struct sq *s, int rc, const char *what);
int sq__prep(struct sq *s, const char *sql, sqlite3_stmt **st);
/* Step a statement that returns no row (or whose rows are not wanted). */
int sq__done(struct sq *s, sqlite3_stmt *st, const char *what);
int sq__changed(struct sq *s);
void sq__col_text(sqlite3_stmt *st, int i, char *dst, size_t cap);
int64_t sq__now_ms(struct sq *s);

/* One interaction as the apply path sees it, whatever brought it: a
 * device's wire item, an imported record, or a recorded row replayed. */
struct sq__item {
	const char *id; /* uuid text */
	struct rg_hlc h;
	uint64_t hlc;	     /* h packed */
	int kind;	     /* enum rg_kind or enum cloud__kind */
	const char *profile; /* "" when none */
	bool has_token;
	const uint8_t *token;
	const cJSON *body;
	const char *device, *store, *batch;
	const char *channel, *department; /* imports: given apart from the body; else NULL */
};

/* Whom an item concerns: the person's live profile (after redirects) and
 * the profile the item itself named (or its token's owner). */
struct sq__target {
	int64_t pid; /* 0: none */
	char id[RG_WIRE_ID_MAX + 1];
	char addressed[RG_WIRE_ID_MAX + 1];
	bool erased;
};

/* Follow id's redirects to the live profile. 1 found (t filled, t->addressed
 * = id), 0 no such profile. */
int sq__root_of(struct sq *s, const char *id, struct sq__target *t);
/* The ids of root and of every profile merged into it (through others too)
 * as a JSON array text (malloc'd, for json_each) and their count. */
int sq__members(struct sq *s, const char *root, char **json, size_t *n);
/* Version + 1, stamp raised to hlc, one change-log row (what, other). A
 * visit_ms also counts a visit at that wall time. *changes counts rows. */
int sq__bump(struct sq *s, int64_t pid, const char *id, uint64_t hlc, const int64_t *visit_ms,
	     const char *what, const char *other, size_t *changes);
/* Apply the effect of x (read into e) to the person t. replay: rebuilding
 * derived state from recorded interactions (no version bump, no change
 * row, identifiers and erasure untouched). Returns the outcome or < 0. */
int sq__effect_apply(struct sq *s, const struct sq__item *x, const struct sq__target *t,
		     const struct cloud__effect *e, bool replay, const char *what, size_t *changes);
/* Read x's effect: the kind's fields, then the item's own channel and
 * department. e->usable false: recorded as invalid. */
void sq__effect_of(const struct sq__item *x, struct cloud__effect *e);
/* Zero the person's derived state and rebuild it by replaying, in the order
 * they were applied, the interactions attributed to root or any profile
 * merged into it. */
int sq__recompute(struct sq *s, int64_t pid, const char *root);
/* The tombstone for the person whose live profile is t (and every profile
 * merged into it); bumps the merged ones ("erase"), not t. */
int sq__erase_person(struct sq *s, const struct sq__target *t, uint64_t hlc, size_t *changes);
/* After the commit (or rollback) of a transaction with an erasure: secure
 * delete off, and the WAL checkpointed and truncated so no old page image
 * of the person's data stays in the -wal file. */
void sq__scrub_finish(struct sq *s);

/* The graph ops (sqlite_graph.c) for the ops table. */
int sq__link(void *priv, struct cloud_op *op, const char *profile,
	     const uint8_t token[RG_TOKEN_LEN], const char *type, unsigned flags);
int sq__merge(void *priv, struct cloud_op *op, const char *from, const char *into,
	      int64_t *merge_id);
int sq__unmerge(void *priv, struct cloud_op *op, int64_t merge_id);
int sq__erase(void *priv, struct cloud_op *op, const char *profile);
int sq__identifiers(void *priv, const char *profile, struct cloud_identifier *out, size_t cap);
int sq__merges(void *priv, const char *profile, struct cloud_merge *out, size_t cap);

/* The rendered profile (lookups' renderer), following redirects. */
int sq__profile_get(struct sq *s, const char *id, struct cloud_profile *out);
/* Tag the last n change-log rows (this transaction's) with merge_id, so a
 * replication read tells a merge's absorbed side from its survivor. */
int sq__changes_tag_merge(struct sq *s, int64_t merge_id, int n);

/* Replication (sqlite_repl.c) for the ops table. */
int sq__repl_changes(void *priv, const struct cloud_repl_req *rq,
		     const struct cloud_repl_sink *sink, struct cloud_repl_result *out);
int sq__repl_snapshot(void *priv, const struct cloud_repl_req *rq,
		      const struct cloud_repl_sink *sink, struct cloud_repl_result *out);
int sq__repl_prune(void *priv, int64_t before_ms, int64_t *removed);
int sq__repl_watch(void *priv, int64_t after, int64_t *latest, int64_t *notable);

#endif
