/*
 * delta.h - the replication messages (docs/replication.md): "changes since
 * N" requests and pages, snapshot requests and chunks, and the store-wide
 * notice. Central writes pages for gateways, a gateway writes pages for its
 * devices from its replica; both receivers parse them here, strictly: a page
 * that fails any check is refused whole and applies nothing.
 *
 * A page is state-based: each change carries the state it leads to (a
 * profile's current rendered body and complete identifier set, a merge, an
 * unmerge, an erasure tombstone), in increasing seq order, coalesced (a
 * profile changed five times in the range appears once, at its last seq).
 * Applying a page twice, or an older state over a newer one, changes nothing
 * (version/HLC checks in the receiver).
 */
#ifndef COMMON_DELTA_H
#define COMMON_DELTA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/crypto.h"
#include "common/wire.h"

#ifdef __cplusplus
extern "C" {
#endif

#define DELTA_PAGE_MAX (768 * 1024)   /* bytes of one page or chunk, JSON */
#define DELTA_REQUEST_MAX 1024	      /* bytes of one request */
#define DELTA_CHANGES_MAX 1000	      /* changes in one page / profiles in one chunk */
#define DELTA_DEFAULT_MAX 200	      /* when a request gives no "max" */
#define DELTA_BODY_MAX (32 * 1024)    /* a profile body, JSON text */
#define DELTA_IDENTS_MAX 32	      /* identifiers of one profile */
#define DELTA_TYPE_MAX 16	      /* identifier type, [a-z0-9_]{1,16} */
#define DELTA_ID_MAX RG_WIRE_ID_MAX   /* profile ids */
#define DELTA_SEQ_MAX 9007199254740991LL /* 2^53-1: sequences are JSON numbers */

enum delta_op {
	DELTA_PROFILE = 1, /* id, version, hlc, body, idents: the profile as it is now */
	DELTA_MERGE,	   /* id ("from") now redirects to other ("into") */
	DELTA_UNMERGE,	   /* the merge of id into other is undone: id is itself again */
	DELTA_ERASE,	   /* id is erased: drop it and its identifiers everywhere */
};

struct delta_ident {
	uint8_t token[RG_TOKEN_LEN];
	char type[DELTA_TYPE_MAX + 1];
};

struct delta_change {
	int64_t seq; /* 1..DELTA_SEQ_MAX, strictly increasing within a page */
	enum delta_op op;
	char id[DELTA_ID_MAX + 1];    /* the profile (PROFILE, ERASE) or "from" (MERGE, UNMERGE) */
	char other[DELTA_ID_MAX + 1]; /* "into" (MERGE, UNMERGE); "" otherwise */
	/* DELTA_PROFILE only: */
	int64_t version; /* central's version of the profile, >= 1 */
	uint64_t hlc;	 /* rg_hlc_pack() of its last change */
	char *body;	 /* compact JSON object text, NUL-terminated, owned by the page */
	size_t body_len;
	struct delta_ident *idents; /* the complete set it holds now (owned) */
	size_t n_idents;
};

/* A "changes" response. Either snapshot_needed (no changes; since is older
 * than the sender's log keeps: fetch a snapshot) or changes (0..n). */
struct delta_page {
	int64_t since;	   /* echoed from the request */
	int64_t next;	   /* the cursor to ask with next (>= since; = last change's seq or more) */
	int64_t latest;	   /* the sender's newest seq */
	int64_t oldest;	   /* the oldest "since" the sender can still answer with changes */
	int64_t as_of_ms;  /* wall time the sender's data was last current with central */
	bool more;	   /* more changes after next: ask again at once */
	bool snapshot_needed;
	struct delta_change *changes;
	size_t n;
};

/* One chunk of a snapshot: profiles ordered by id, after "after". The data
 * is checksummed (sha256 over the exact bytes of the "data" string). */
struct delta_chunk {
	int64_t snapshot;		   /* the snapshot's id, chosen by the sender */
	int64_t seq;			   /* deltas resume from this seq once done */
	int64_t as_of_ms;
	char after[DELTA_ID_MAX + 1];	   /* echoed: profiles with id > after */
	char next_after[DELTA_ID_MAX + 1]; /* the last id in this chunk ("" if empty) */
	bool done;			   /* this was the last chunk */
	struct delta_change *changes;	   /* all DELTA_PROFILE, ids strictly increasing, seq 0 */
	size_t n;
};

struct delta_request {
	bool snapshot;	   /* a "snapshot" request, else "changes" */
	int64_t since;	   /* changes: 0..DELTA_SEQ_MAX */
	int64_t snapshot_id; /* snapshot: 0 = start a new one, else resume that one */
	char after[DELTA_ID_MAX + 1]; /* snapshot: resume after this id ("" = from the start) */
	int max;	     /* 1..DELTA_CHANGES_MAX */
};

/* ---- requests ---- */

/* {"v":1,"type":"changes","since":N[,"max":M]} or
 * {"v":1,"type":"snapshot","snapshot":S,"after":"id"[,"max":M]}. Strict: unknown keys,
 * wrong types, out-of-range values are refused. Returns 0 or RG_ERR_PARSE /
 * RG_ERR_INVAL / RG_ERR_TOOBIG with a reason in err. */
int delta_request_parse(const void *buf, size_t len, struct delta_request *out, char *err,
			size_t errcap);
/* The JSON text of a request (malloc'd, NUL-terminated), or NULL (no memory
 * or invalid fields). */
char *delta_request_build(const struct delta_request *r);

/* ---- pages ---- */

int delta_page_parse(const void *buf, size_t len, struct delta_page *out, char *err,
		     size_t errcap);
void delta_page_free(struct delta_page *p);

/* Builds a page: add changes in seq order, then finish. A page is never
 * more than DELTA_PAGE_MAX bytes or DELTA_CHANGES_MAX changes: add returns
 * 0 when the change was added, RG_ERR_TOOBIG when it did not fit (the page is
 * still valid without it: finish with more = true and next = the last added
 * seq), RG_ERR_INVAL for an invalid change (a bug of the caller). */
struct delta_writer;
int delta_writer_new(int64_t since, struct delta_writer **out);
int delta_writer_add(struct delta_writer *w, const struct delta_change *c);
size_t delta_writer_count(const struct delta_writer *w);
/* Discards a writer without finishing it (an error part way); NULL is a no-op. */
void delta_writer_free(struct delta_writer *w);
/* Returns the page text (malloc'd, *len bytes, NUL-terminated) and frees w,
 * also on failure (RG_ERR_INVAL: next < since or < the last added seq,
 * oldest > latest, a value out of 0..DELTA_SEQ_MAX; RG_ERR_NOMEM). */
int delta_writer_finish(struct delta_writer *w, int64_t next, int64_t latest, int64_t oldest,
			int64_t as_of_ms, bool more, char **out, size_t *len);
/* The snapshot_needed answer to a changes request. */
char *delta_page_snapshot_needed(int64_t since, int64_t latest, int64_t oldest,
				 int64_t as_of_ms);

/* ---- snapshot chunks ---- */

int delta_chunk_parse(const void *buf, size_t len, struct delta_chunk *out, char *err,
		      size_t errcap);
void delta_chunk_free(struct delta_chunk *c);
/* A chunk from n DELTA_PROFILE changes (ids strictly increasing, all >
 * after; their seq is ignored); next_after is taken from the last one.
 * RG_ERR_TOOBIG when the chunk would exceed DELTA_PAGE_MAX bytes (build it
 * again with fewer), RG_ERR_INVAL for an invalid argument or change. */
int delta_chunk_build(int64_t snapshot, int64_t seq, int64_t as_of_ms, const char *after,
		      bool done, const struct delta_change *changes, size_t n, char **out,
		      size_t *len);

/* ---- the store-wide notice ---- */

/* {"v":1,"type":"changes_available","latest":L}: no personal data. The
 * gateway's store-wide notice to its devices, and central's to every
 * gateway on RG_TOPIC_CENTRAL_CHANGES (docs/replication.md). */
#define RG_TOPIC_CENTRAL_CHANGES "rg/v1/central/changes"
char *delta_notice_build(int64_t latest);
int delta_notice_parse(const void *buf, size_t len, int64_t *latest);

#ifdef __cplusplus
}
#endif

#endif
