/*
 * gw_fixture.h - what the gateway's unit tests share: a temp directory, a
 * manual clock, and batches built with the real wire writer (so the tests
 * feed the gateway exactly what a device would send).
 */
#ifndef GATEWAY_TESTS_GW_FIXTURE_H
#define GATEWAY_TESTS_GW_FIXTURE_H

#include <limits.h>
#include <stddef.h>
#include <sys/types.h>

#include "common/cfgdoc.h"
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

/* ---- signed configuration documents (common/cfgdoc.h) ---- */

#define GWFX_CFG_KEYS 2

/* GWFX_CFG_KEYS fresh P-256 keys; set holds the first n_trusted of them
 * (version 1, threshold 1, the tenant): the trust anchor. The others sign
 * documents nobody trusts. */
struct gwfx_cfgkeys {
	struct rg_ec_key *k[GWFX_CFG_KEYS];
	struct cfgdoc_keyset set;
};
int gwfx_cfg_keys(struct gwfx_cfgkeys *k, const char *tenant, size_t n_trusted);
void gwfx_cfg_keys_free(struct gwfx_cfgkeys *k);
/* The anchor file (cfgdoc_keyset_json of k->set). */
int gwfx_cfg_anchor_write(const struct gwfx_cfgkeys *k, const char *path);
/* An envelope (malloc'd, NUL-terminated) over a configuration document of
 * scope ("tenant", "store", "device"), store and device (NULL when the scope
 * has none), version, issued at now_s and expiring a day later, with
 * settings (JSON text), signed by key index key. NULL on failure. */
char *gwfx_cfg_envelope(const struct gwfx_cfgkeys *k, size_t key, const char *tenant,
			const char *scope, const char *store, const char *device, int64_t version,
			int64_t now_s, const char *settings);

/* ---- the real daemon ---- */

/* Start bin --config cfg with stdout and stderr appended to log: its pid
 * (> 0), or -1. */
pid_t gwfx_spawn(const char *bin, const char *cfg, const char *log);
/* A whole log (or other text) file, malloc'd and NUL-terminated; NULL if
 * it cannot be read. */
char *gwfx_slurp(const char *path);

#endif
