/*
 * cloud_fixture.h - shared by cloud-sync's unit tests: a temp directory per
 * test, a manual clock, and a batch builder that goes through the real wire
 * writer and parser (so tests apply exactly what a gateway would forward).
 * Test code only.
 */
#ifndef CLOUD_TESTS_FIXTURE_H
#define CLOUD_TESTS_FIXTURE_H

#include <stddef.h>
#include <stdint.h>

#include "common/clock.h"
#include "common/crypto.h"
#include "common/uuid.h"
#include "common/wire.h"

#define CF_T0 INT64_C(1763881290000) /* 2025-11-23T07:01:30Z */

struct cf_dir {
	char path[200];
};

/* mkdtemp under $TMPDIR (or /tmp); 0 or -1. */
int cf_dir_make(struct cf_dir *d, const char *tag);
/* Remove the directory and everything directly in it. */
void cf_dir_remove(struct cf_dir *d);

/* Deterministic uuids: a manual clock and a counter-based random source. */
void cf_ids_init(int64_t wall_ms);
struct rg_uuid cf_uuid(void);
const char *cf_uuid_str(const struct rg_uuid *u, char buf[RG_UUID_STR_LEN + 1]);

/* A token for test value s (HMAC under a fixed test key). */
void cf_token(const char *s, uint8_t out[RG_TOKEN_LEN]);

/* Build a batch: begin, add items (hlc wall ms; logical 0), then parse. */
struct cf_batch {
	struct rg_wire_writer *w;
	struct rg_uuid batch_id;
	struct rg_uuid ids[RG_WIRE_MAX_ITEMS];
	size_t n;
};
void cf_batch_begin(struct cf_batch *cb, const char *device, const char *store);
/* profile/token may be NULL. Returns the item's id. */
struct rg_uuid cf_batch_add(struct cf_batch *cb, enum rg_kind kind, int64_t hlc_ms,
			    const char *profile, const uint8_t *token, const char *body);
/* Render and parse into *out (asserts success); the writer is freed. If
 * text is not NULL it receives the rendered document (caller frees). */
void cf_batch_end(struct cf_batch *cb, struct rg_wire_batch *out, char **text);

#endif
