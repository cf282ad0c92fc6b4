/*
 * bench_fixture.h - what the benchmarks share: a deterministic cache of N
 * customers (valid EAN-13 loyalty cards and NFC UIDs, realistic bodies),
 * built with the bulk loader; timing, latency percentiles and throughput of
 * a lookup function; the bare SQLite point-lookup baseline; RSS.
 */
#ifndef BENCH_FIXTURE_H
#define BENCH_FIXTURE_H

#include <stddef.h>
#include <stdint.h>

#include "common/crypto.h"

#define BENCH_BATCH 1024
#define BENCH_DAY_MS (24LL * 3600 * 1000)

extern const uint8_t bench_tenant_key[32];
extern const uint8_t bench_store_key[32];

struct bench_opts {
	long profiles;
	long lookups;
	const char *dir;
	int keep;
	int cache_kib;
	long chunk;
	int build_cache_kib;
};

int64_t bench_now_ns(void);
uint64_t bench_rng(uint64_t *s);
/* Customer i's loyalty card (13 digits + NUL) and identifier tokens. */
void bench_card(long i, char out[32]);
void bench_token(long i, uint8_t tok[RG_TOKEN_LEN]);
void bench_uid_token(long i, uint8_t tok[RG_TOKEN_LEN]);
int bench_body(long i, char *buf, size_t cap);
/* A /proc/<pid>/status field in kB (pid 0: this process), or -1. */
long bench_rss_field(int pid, const char *key);
int bench_cmp_i64(const void *a, const void *b);
/* Build the cache of o->profiles customers at path (two days old). 0 or 1. */
int bench_build(const struct bench_opts *o, const char *path);

struct bench_lookup {
	/* returns 0 on a hit; i is the customer looked up, tok its card's token */
	int (*fn)(void *ctx, long i, const uint8_t *tok);
	void *ctx;
};

struct bench_result {
	double median_us, p99_us, max_us, rate;
};

/* The baseline: ctx is a prepared "SELECT profile_id FROM identifiers WHERE token = ?1". */
int bench_bare_fn(void *ctx, long i, const uint8_t *tok);
/* Latency (one timed call at a time) and rate (batches) of l over random
 * customers. lat has room for lookups values. */
int bench_run(const struct bench_lookup *l, long profiles, long lookups, uint64_t seed,
	      int64_t *lat, struct bench_result *r);

#endif
