/*
 * gw_fixture.h - what the gateway's unit tests share: a temp directory, a
 * manual clock, and batches built with the real wire writer (so the tests
 * feed the gateway exactly what a device would send).
 */
#ifndef GATEWAY_TESTS_GW_FIXTURE_H
#define GATEWAY_TESTS_GW_FIXTURE_H

#include <limits.h>
#include <stddef.h>

#include "common/clock.h"
#include "common/uuid.h"
#include "common/wire.h"
#include "gateway/spool.h"

#define GWFX_T0 INT64_C(1763881290000)

struct gwfx {
	char dir[PATH_MAX - 64];
	char path[PATH_MAX];
	struct rg_clock_manual clock;
	struct rg_uuid7_gen uuids;
	uint64_t rand_state;
	struct rg_rand rand;
};

extern struct gwfx gwfx;

int gwfx_setup(void **state);
int gwfx_teardown(void **state);

/* A batch of n items of the given kind (all of one lane) from device for
 * store. *doc is malloc'd (free); ids (may be NULL) receives the n item ids,
 * batch (may be NULL) the batch id. body_pad adds that many bytes of text to
 * every body (to make big batches). */
int gwfx_batch(const char *device, const char *store, enum rg_kind kind, size_t n, size_t body_pad,
	       char **doc, size_t *len, struct rg_uuid *ids, struct rg_uuid *batch);

/* The same as a spool input (ids and payload owned by the caller's arrays). */
struct gwfx_in {
	struct gw_spool_in in;
	char *doc;
	struct rg_uuid ids[RG_WIRE_MAX_ITEMS];
};
int gwfx_in_make(struct gwfx_in *x, const char *device, enum rg_kind kind, size_t n,
		 size_t body_pad);
void gwfx_in_free(struct gwfx_in *x);

#endif
