/*
 * store.h - the central profile store behind one interface: an ops table plus
 * opaque state per backend (in the spirit of SQLite's VFS), with thin
 * dispatch wrappers that check optional ops and log failures. The SQLite
 * backend ("sqlite") is built in; PostgreSQL will be a second table with the
 * same contract, proven by the same suite (cloud-sync/tests/store_suite.c).
 *
 * A cloud_store is used by one thread at a time. Several processes may open
 * the same database (the scale-out workers): every write is one transaction,
 * and the interaction id makes a second application of an item a no-op.
 * docs/cloud.md describes the schema, the body shapes per kind and the
 * derived state.
 */
#ifndef CLOUD_STORE_H
#define CLOUD_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/clock.h"
#include "common/crypto.h"
#include "common/delta.h"
#include "common/hlc.h"
#include "common/uuid.h"
#include "common/wire.h"

#ifdef __cplusplus
extern "C" {
#endif

/* 2: identity graph, erase, imports; 3: replication; 4: groups; 5: the watch */
#define CLOUD_STORE_OPS_VERSION 5
#define CLOUD_RECENT_MAX 20	  /* recent interactions kept per profile */
#define CLOUD_PROFILE_BODY_MAX (32 * 1024) /* an imported body, compact JSON */
#define CLOUD_CACHE_MIB_DEFAULT 64	   /* sqlite page cache per connection */
#define CLOUD_GROUP_MAX 32 /* batches under one commit (cloud_store_apply_batches) */
#define CLOUD_CACHE_MIB_MAX 16384
#define CLOUD_MMAP_MIB_MAX 65536

struct cloud_store_opts {
	const char *backend;	      /* "sqlite" (NULL: "sqlite") */
	const char *path;	      /* sqlite: the database file (created, migrated) */
	const struct rg_clock *clock; /* borrowed; NULL: rg_clock_system() */
	int busy_timeout_ms;	      /* 0: 10000 (other workers hold the write lock) */
	int cache_mib;		      /* sqlite: page cache per connection; 0: 64 */
	int mmap_mib;		      /* sqlite: memory-mapped reads; 0: off */
};

/* What apply_batch did with one batch. Every item of a committed batch is
 * covered by the ack, whatever its outcome. */
struct cloud_apply_result {
	size_t applied;	   /* items that took effect now */
	size_t duplicates; /* ids applied before (by this or another worker): no-ops */
	size_t unresolved; /* recorded but not applied: unknown profile, missing token ... */
	size_t erased;	   /* recorded without effect: the profile is erased */
	size_t changes;	   /* change-log entries appended */
};

/* Outcome names of one interaction row (interactions.outcome). */
enum cloud_outcome {
	CLOUD_OUT_APPLIED = 0,
	CLOUD_OUT_UNKNOWN_PROFILE = 1, /* no such profile (nor a token resolving to one) */
	CLOUD_OUT_ERASED = 2,	       /* profile erased: body dropped, counted */
	CLOUD_OUT_STALE = 3,	       /* a LWW edit older than the stored value */
	CLOUD_OUT_INVALID = 4,	       /* body unusable for its kind (kept as is) */
	CLOUD_OUT__COUNT
};
const char *cloud_outcome_name(enum cloud_outcome o);

/* A profile as replicas and lookups see it: the imported body with the
 * derived state rendered in (docs/cloud.md "The rendered body"). */
struct cloud_profile {
	char id[RG_WIRE_ID_MAX + 1];
	int64_t version;
	struct rg_hlc hlc;
	bool erased;
	int64_t visits;
	int64_t last_seen_ms; /* wall ms of the newest `identified`, 0: never */
	int64_t points;	      /* imported points + point events */
	char *body;	      /* malloc'd compact JSON; "{}" when erased */
	size_t body_len;
};
void cloud_profile_clear(struct cloud_profile *p);

/* One profile to load (seeding, imports): tokens are already HMACs. */
struct cloud_seed_profile {
	const char *id;
	int64_t version;
	const char *body; /* a JSON object, <= CLOUD_PROFILE_BODY_MAX */
	size_t body_len;
	size_t n_tokens;
	const uint8_t (*tokens)[RG_TOKEN_LEN];
	const char *const *token_types; /* n_tokens names ("loyalty", ...) */
};

/* The record of one applied interaction (tests, operators). */
struct cloud_interaction {
	int64_t seq; /* order of application, over all workers */
	char device[RG_WIRE_ID_MAX + 1];
	char store[RG_WIRE_STORE_MAX + 1];
	char kind[24];
	char profile[RG_WIRE_ID_MAX + 1]; /* the resolved profile, "" if none */
	struct rg_hlc hlc;
	enum cloud_outcome outcome;
};

/* Per device and lane: what was applied last, and how often an item came
 * with a stamp not above the previous one (order violations). */
struct cloud_device_state {
	int64_t applied;
	struct rg_hlc last_hlc;
	int64_t last_seq;
	int64_t out_of_order;
};

struct cloud_change {
	int64_t seq;
	char profile[RG_WIRE_ID_MAX + 1];
	int64_t version;
	struct rg_hlc hlc;
	/* "seed", "update", "consent", "import", "link", "unlink", "merge",
	 * "unmerge", "restore", "erase" (docs/cloud.md, "The change log") */
	char what[16];
	/* merge/unmerge: the other profile (the survivor for the absorbed one
	 * and the reverse); unlink: the profile that took the identifier */
	char other[RG_WIRE_ID_MAX + 1];
};

/* Who and when, for an operator's change (link, merge, unmerge, erase). */
struct cloud_op {
	struct rg_hlc hlc; /* the change's stamp; all zero: the store's clock now */
	const char *by;	   /* who asked (operator, tool), <= 64 bytes; NULL: "" */
	char err[256];	   /* out: why a refused call was refused, "" otherwise */
};

#define CLOUD_LINK_MOVE 1u /* link: take a token that another profile holds */

/* One identifier of a person, as operators see it: never the raw value. */
struct cloud_identifier {
	uint8_t token[RG_TOKEN_LEN];
	char type[17];			/* "loyalty", "nfc_uid", ... */
	char owner[RG_WIRE_ID_MAX + 1]; /* the profile it was linked to (a merged one) */
	struct rg_hlc hlc;
};

/* One merge, kept for ever (docs/cloud.md, "The identity graph"). */
struct cloud_merge {
	int64_t id;
	char from[RG_WIRE_ID_MAX + 1]; /* absorbed: became a redirect */
	char into[RG_WIRE_ID_MAX + 1]; /* the survivor */
	struct rg_hlc hlc;
	char by[65];
	int64_t at_ms;
	int64_t identifiers; /* identifiers that moved */
	bool undone;	     /* unmerged: */
	struct rg_hlc undone_hlc;
	char undone_by[65];
	int64_t undone_ms;
};

/* One interaction of another channel (web shop, call centre, POS, app) to
 * import (docs/import.md). Idempotent by id. */
struct cloud_import_item {
	struct rg_uuid id;
	struct rg_hlc hlc;	/* when it happened */
	const char *kind;	/* cloud_import_kind_valid() */
	const char *channel;	/* 1-16 bytes: "web", "call_centre", "store", "app" ... */
	const char *department; /* "" or 1-32 bytes */
	const char *profile;	/* the profile id, or NULL/"" to resolve by token */
	bool has_token;
	uint8_t token[RG_TOKEN_LEN];
	const cJSON *body; /* an object, as for the device kinds (docs/cloud.md) */
};

/* 1 if name is a kind an import may carry. */
int cloud_import_kind_valid(const char *name);

struct cloud_store_stats {
	int64_t profiles, erased, identifiers, interactions, unknown_tokens, telemetry;
	int64_t last_change_seq;
	int64_t outcomes[CLOUD_OUT__COUNT];
};

/* The replication policy (docs/replication.md): which profiles a store's
 * replica gets. merge, unmerge and erase go to every store whatever it says. */
enum cloud_repl_policy_kind {
	CLOUD_REPL_ALL = 0,		/* every store gets every profile */
	CLOUD_REPL_HOME_AND_RECENT = 1, /* body.home_store == store, or an interaction there */
};
#define CLOUD_REPL_DAYS_DEFAULT 30
#define CLOUD_REPL_DAYS_MAX 3650

struct cloud_repl_policy {
	enum cloud_repl_policy_kind kind;
	int recent_days;    /* 1..CLOUD_REPL_DAYS_MAX: "an interaction in the last N days" */
	int retention_days; /* 1..CLOUD_REPL_DAYS_MAX: how long the change log keeps rows */
};

/* One replication read: a page of "changes since N" or a snapshot chunk for
 * the replica of one store. */
struct cloud_repl_req {
	const char *store;			/* the receiver's store ("0042") */
	const struct cloud_repl_policy *policy; /* NULL: CLOUD_REPL_ALL */
	int64_t now_ms;	   /* "recent" is counted from here; 0: the store's clock */
	int max;	   /* changes per page / profiles per chunk, 1..DELTA_CHANGES_MAX */
	int64_t since;	   /* changes: the receiver's cursor */
	int64_t snapshot;  /* snapshot: 0 starts one, else resume it */
	const char *after; /* snapshot: profiles with id > after (NULL: "") */
};

/* Where a replication read hands its changes, in order. emit returns 0
 * (taken), RG_ERR_TOOBIG (did not fit: the read ends before it) or another
 * negative code (the read fails). c and what it points to are borrowed for
 * the call only. */
struct cloud_repl_sink {
	int (*emit)(void *ctx, const struct delta_change *c);
	void *ctx;
};

struct cloud_repl_result {
	int64_t latest;	      /* the newest seq of the change log */
	int64_t oldest;	      /* the oldest `since` still answerable with changes */
	bool snapshot_needed; /* changes: since < oldest, nothing emitted */
	int64_t next;	      /* changes: the receiver's next cursor (>= since) */
	bool more;	      /* changes: more follow after next */
	size_t n;	      /* changes / profiles emitted */
	size_t
	    filtered; /* changes: profile changes the policy (or a merge/erasure since) held back */
	int64_t snapshot; /* snapshot: its id (a new one when the asked one is gone) */
	int64_t seq;	  /* snapshot: the newest seq when it began */
	bool done;	  /* snapshot: no profile follows this chunk */
};

struct cloud_store_ops {
	int version; /* CLOUD_STORE_OPS_VERSION */
	const char *name;
	int (*open)(const struct cloud_store_opts *o, void **priv);
	void (*close)(void *priv);
	/* Required. One transaction; nothing of a failed call remains. */
	int (*apply_batch)(void *priv, const struct rg_wire_batch *b, struct cloud_apply_result *r);
	/* Required. 1 found (filled), 0 not found. */
	int (*profile_get)(void *priv, const char *id, struct cloud_profile *out);
	int (*profile_by_token)(void *priv, const uint8_t token[RG_TOKEN_LEN],
				struct cloud_profile *out);
	/* Required. n profiles in one transaction; a profile whose stored
	 * version is >= the given one is left alone. Returns profiles written. */
	int (*seed)(void *priv, const struct cloud_seed_profile *p, size_t n);
	/* Optional from here (RG_ERR_NOSYS through the wrappers). */
	int (*interaction_get)(void *priv, const struct rg_uuid *id, struct cloud_interaction *out);
	int (*device_get)(void *priv, const char *device, enum rg_lane lane,
			  struct cloud_device_state *out);
	/* Changes with seq > after, oldest first, at most cap. Returns the count. */
	int (*changes_since)(void *priv, int64_t after, struct cloud_change *out, size_t cap);
	int (*stats)(void *priv, struct cloud_store_stats *out);
	/* 1 if the token was seen unresolved (unknown_identifier), count in *n. */
	int (*unknown_token_get)(void *priv, const uint8_t token[RG_TOKEN_LEN], int64_t *n);

	/* Version 2 (optional): the identity graph, erasure and imports. Each
	 * is one transaction and appends its change-log rows; a refusal fills
	 * op->err and changes nothing. */
	/* Attach token (type) to profile. 1 linked, 0 already this person's;
	 * RG_ERR_EXISTS when another person holds it (unless CLOUD_LINK_MOVE). */
	int (*link)(void *priv, struct cloud_op *op, const char *profile,
		    const uint8_t token[RG_TOKEN_LEN], const char *type, unsigned flags);
	/* from is absorbed into into; *merge_id names the merge. */
	int (*merge)(void *priv, struct cloud_op *op, const char *from, const char *into,
		     int64_t *merge_id);
	int (*unmerge)(void *priv, struct cloud_op *op, int64_t merge_id);
	/* Erase the person (with every profile merged into them). Returns the
	 * profiles erased now (0: already erased). */
	int (*erase)(void *priv, struct cloud_op *op, const char *profile);
	/* n imported interactions in one transaction. */
	int (*import)(void *priv, const struct cloud_import_item *items, size_t n,
		      struct cloud_apply_result *r);
	/* The person's identifiers (of the profile or its survivor); count. */
	int (*identifiers)(void *priv, const char *profile, struct cloud_identifier *out,
			   size_t cap);
	/* Merges the profile took part in, oldest first; count. */
	int (*merges)(void *priv, const char *profile, struct cloud_merge *out, size_t cap);

	/* Version 3 (optional): replication (docs/replication.md). */
	/* A page of changes since rq->since for rq->store: coalesced per
	 * profile (each at its last seq in the page, with its state now),
	 * merge/unmerge/erase in order, the policy applied. */
	int (*repl_changes)(void *priv, const struct cloud_repl_req *rq,
			    const struct cloud_repl_sink *sink, struct cloud_repl_result *out);
	/* A chunk of a snapshot: live profiles within the policy, by id. */
	int (*repl_snapshot)(void *priv, const struct cloud_repl_req *rq,
			     const struct cloud_repl_sink *sink, struct cloud_repl_result *out);
	/* Drop change-log rows written before before_ms (the newest row stays);
	 * *removed counts them. */
	int (*repl_prune)(void *priv, int64_t before_ms, int64_t *removed);

	/* Version 4 (optional; cloud_store_apply_batches falls back to one
	 * apply_batch each): n batches under one commit, each all or nothing.
	 * rcs[i] < 0 for a batch rolled back alone (its rs[i] zero). Returns
	 * < 0 when nothing was committed (every rcs[i] < 0 too). */
	int (*apply_batches)(void *priv, const struct rg_wire_batch *const *bs, size_t n,
			     struct cloud_apply_result *rs, int *rcs);

	/* Version 5 (optional): what the change log gained after seq `after`.
	 * *latest = its newest seq (after when nothing was added); *notable =
	 * the newest seq of an added change that is not a device's "update"
	 * (seed, import, link, unlink, merge, unmerge, erase, consent), 0 when none:
	 * what a worker announces to the gateways at once (replication.md).
	 * after = -1: where to start watching (*latest = the newest seq, 0 for
	 * an empty log; *notable = 0), without reading the log. */
	int (*repl_watch)(void *priv, int64_t after, int64_t *latest, int64_t *notable);
};

struct cloud_store;

/* Open the backend named in o (migrating its schema). *out owned by the
 * caller (cloud_store_close). RG_ERR_NOTFOUND for an unknown backend. */
int cloud_store_open(const struct cloud_store_opts *o, struct cloud_store **out);
void cloud_store_close(struct cloud_store *s);
const char *cloud_store_backend(const struct cloud_store *s);
/* Names of the built-in backends, NULL after the last. */
const char *cloud_store_backend_name(size_t i);

int cloud_store_apply_batch(struct cloud_store *s, const struct rg_wire_batch *b,
			    struct cloud_apply_result *r);
/* n (1..CLOUD_GROUP_MAX) batches under one commit where the backend can
 * (group commit), else one transaction each. Every batch is all or
 * nothing; rcs[i] is 0 for a committed batch (rs[i] says what it did) and
 * < 0 for one that was not. Returns 0 when at least one committed. */
int cloud_store_apply_batches(struct cloud_store *s, const struct rg_wire_batch *const *bs,
			      size_t n, struct cloud_apply_result *rs, int *rcs);
/* For backends applying a group batch by batch: 1 if bs[k] must not be
 * applied because an earlier batch of the same device failed (rcs[j] < 0):
 * a device's batches are applied in its order (a bundle brings several),
 * so its later ones wait for the resend. */
int cloud_store_held_back(const struct rg_wire_batch *const *bs, const int *rcs, size_t k);
int cloud_store_profile_get(struct cloud_store *s, const char *id, struct cloud_profile *out);
int cloud_store_profile_by_token(struct cloud_store *s, const uint8_t token[RG_TOKEN_LEN],
				 struct cloud_profile *out);
int cloud_store_seed(struct cloud_store *s, const struct cloud_seed_profile *p, size_t n);
int cloud_store_interaction_get(struct cloud_store *s, const struct rg_uuid *id,
				struct cloud_interaction *out);
int cloud_store_device_get(struct cloud_store *s, const char *device, enum rg_lane lane,
			   struct cloud_device_state *out);
int cloud_store_changes_since(struct cloud_store *s, int64_t after, struct cloud_change *out,
			      size_t cap);
int cloud_store_stats(struct cloud_store *s, struct cloud_store_stats *out);
int cloud_store_unknown_token_get(struct cloud_store *s, const uint8_t token[RG_TOKEN_LEN],
				  int64_t *n);

/* The identity graph (docs/cloud.md). op may be NULL (stamp now, by "").
 * profile_get and profile_by_token answer a merged profile's id or tokens
 * with the survivor (out->id is the survivor's). */
int cloud_store_link(struct cloud_store *s, struct cloud_op *op, const char *profile,
		     const uint8_t token[RG_TOKEN_LEN], const char *type, unsigned flags);
int cloud_store_merge(struct cloud_store *s, struct cloud_op *op, const char *from,
		      const char *into, int64_t *merge_id);
int cloud_store_unmerge(struct cloud_store *s, struct cloud_op *op, int64_t merge_id);
int cloud_store_erase(struct cloud_store *s, struct cloud_op *op, const char *profile);
int cloud_store_import(struct cloud_store *s, const struct cloud_import_item *items, size_t n,
		       struct cloud_apply_result *r);
int cloud_store_identifiers(struct cloud_store *s, const char *profile,
			    struct cloud_identifier *out, size_t cap);
int cloud_store_merges(struct cloud_store *s, const char *profile, struct cloud_merge *out,
		       size_t cap);

/* Replication (ops version 3). */
int cloud_store_repl_changes(struct cloud_store *s, const struct cloud_repl_req *rq,
			     const struct cloud_repl_sink *sink, struct cloud_repl_result *out);
int cloud_store_repl_snapshot(struct cloud_store *s, const struct cloud_repl_req *rq,
			      const struct cloud_repl_sink *sink, struct cloud_repl_result *out);
int cloud_store_repl_prune(struct cloud_store *s, int64_t before_ms, int64_t *removed);
int cloud_store_repl_watch(struct cloud_store *s, int64_t after, int64_t *latest, int64_t *notable);
/* "all" / "home_and_recent", or NULL. */
const char *cloud_repl_policy_name(enum cloud_repl_policy_kind k);

#ifdef __cplusplus
}
#endif

#endif
