/*
 * bench_fixture.c - see bench_fixture.h.
 */
#include "bench_fixture.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <sqlite3.h>

#include "common/clock.h"
#include "common/err.h"
#include "firmware/store.h"

#define BATCH BENCH_BATCH
#define DAY_MS BENCH_DAY_MS

const uint8_t bench_tenant_key[32] = "bench tenant identifier key 0001";
const uint8_t bench_store_key[32] = "bench device store sealing key!";


int64_t bench_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

uint64_t bench_rng(uint64_t *s)
{
	/* xorshift64*: reproducible, cheap, good enough to pick rows */
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545f4914f6cdd1dull;
}

void bench_card(long i, char out[32])
{
	/* A valid EAN-13 from the in-store range: "27" + 10 digits of i + the
	 * GS1 check digit, so the identifier pipeline accepts it. */
	int sum = 0;
	snprintf(out, 32, "27%010ld", i);
	for (int k = 0; k < 12; k++)
		sum += (out[k] - '0') * (k % 2 ? 3 : 1);
	out[12] = (char)('0' + (10 - sum % 10) % 10);
	out[13] = '\0';
}

void bench_token(long i, uint8_t tok[RG_TOKEN_LEN])
{
	char card[32];
	bench_card(i, card);
	if (rg_token(bench_tenant_key, sizeof bench_tenant_key, "loyalty", card, strlen(card), tok) < 0)
		abort();
}

void bench_uid_token(long i, uint8_t tok[RG_TOKEN_LEN])
{
	uint8_t uid[7] = {
	    0x04, (uint8_t)(i >> 24), (uint8_t)(i >> 16), (uint8_t)(i >> 8), (uint8_t)i, 0x5a,
	    0x80};
	if (rg_token(bench_tenant_key, sizeof bench_tenant_key, "nfc_uid", uid, sizeof uid, tok) < 0)
		abort();
}

int bench_body(long i, char *buf, size_t cap)
{
	static const char *const first[] = {"Anna",  "Ben",   "Clara", "David", "Emma",
					    "Felix", "Greta", "Hugo",  "Ida",	"Jonas"};
	static const char *const last[] = {"Schmidt", "Meyer",	  "Weber", "Wagner",
					   "Becker",  "Hoffmann", "Koch",  "Richter"};
	static const char *const tiers[] = {"basic", "silver", "gold"};
	const char *f = first[i % 10];
	return snprintf(
	    buf, cap,
	    "{\"name\":\"%s %s\",\"first_name\":\"%s\",\"tier\":\"%s\",\"points\":%ld,"
	    "\"preferences\":{\"language\":\"%s\",\"newsletter\":%s},"
	    "\"consent\":{\"show_in_public\":[\"points\",\"orders\"],\"marketing\":false},"
	    "\"home_store\":\"%04ld\","
	    "\"interactions\":["
	    "{\"channel\":\"web\",\"department\":\"orders\",\"summary\":\"Order %ld ready for "
	    "pickup\",\"time\":\"2025-11-20T10:%02ld:00Z\"},"
	    "{\"channel\":\"call_centre\",\"department\":\"service\",\"summary\":\"Asked about the "
	    "warranty of a dishwasher\",\"time\":\"2025-11-18T15:12:00Z\"},"
	    "{\"channel\":\"store\",\"department\":\"kitchen\",\"summary\":\"Bought a coffee "
	    "machine\",\"time\":\"2025-11-02T11:40:00Z\"}],"
	    "\"episodes\":[{\"id\":\"e-%ld\",\"department\":\"service\",\"status\":\"open\","
	    "\"title\":\"Dishwasher repair\"}],"
	    "\"next_best_action\":\"Offer the extended warranty for the coffee machine\"}",
	    f, last[i % 8], f, tiers[i % 3], (i * 37) % 5000, i % 3 ? "de" : "en",
	    i % 2 ? "true" : "false", i % 500, 700000 + i, i % 60, i);
}

long bench_rss_field(int pid, const char *key)
{
	char line[256], path[64];
	long v = -1;
	size_t kl = strlen(key);
	FILE *f;
	if (pid > 0)
		snprintf(path, sizeof path, "/proc/%d/status", pid);
	else
		snprintf(path, sizeof path, "/proc/self/status");
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof line, f))
		if (!strncmp(line, key, kl) && line[kl] == ':')
			v = strtol(line + kl + 1, NULL, 10);
	fclose(f);
	return v;
}

int bench_cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

/* ---- build (in a child process, so its memory never counts below) ---- */

int bench_build(const struct bench_opts *o, const char *path)
{
	struct rg_clock_manual clk;
	struct store_config cfg = {0};
	struct store *s;
	struct store_profile *p;
	struct store_ident *ids;
	uint8_t(*toks)[RG_TOKEN_LEN];
	char(*bodies)[1024];
	char(*pids)[24];
	int64_t t0 = bench_now_ns(), last = t0, body_bytes = 0;
	int rc;

	/* Built "two days ago", so every measured lookup records a last_seen. */
	rg_clock_manual_init(&clk, rg_clock_wall_ms(rg_clock_system()) - 2 * DAY_MS);
	cfg.path = path;
	cfg.key = bench_store_key;
	cfg.device_id = "dev-bench-1";
	cfg.store_id = "0001";
	cfg.max_profiles = o->profiles;
	cfg.max_bytes = (int64_t)o->profiles * 4096;
	/* A bigger page cache while building: the random token inserts then
	 * rewrite each index page once per chunk, not once per spill. */
	cfg.cache_kib = o->build_cache_kib;
	cfg.clock = &clk.clock;
	if ((rc = store_open(&cfg, &s)) < 0) {
		fprintf(stderr, "bench: open %s: %s\n", path, rg_strerror(rc));
		return 1;
	}
	p = calloc((size_t)o->chunk, sizeof *p);
	ids = calloc(2 * (size_t)o->chunk, sizeof *ids);
	toks = calloc(2 * (size_t)o->chunk, sizeof *toks);
	bodies = calloc((size_t)o->chunk, sizeof *bodies);
	pids = calloc((size_t)o->chunk, sizeof *pids);
	if (!p || !ids || !toks || !bodies || !pids) {
		fprintf(stderr, "bench: out of memory\n");
		return 1;
	}
	for (long base = 0; base < o->profiles; base += o->chunk) {
		long n = o->profiles - base < o->chunk ? o->profiles - base : o->chunk;
		for (long k = 0; k < n; k++) {
			long i = base + k;
			snprintf(pids[k], sizeof pids[k], "c-%08ld", i);
			bench_token(i, toks[2 * k]);
			bench_uid_token(i, toks[2 * k + 1]);
			ids[2 * k] = (struct store_ident){toks[2 * k], "loyalty"};
			ids[2 * k + 1] = (struct store_ident){toks[2 * k + 1], "nfc_uid"};
			p[k] = (struct store_profile){.id = pids[k],
						      .version = 1,
						      .body = bodies[k],
						      .idents = &ids[2 * k],
						      .n_idents = 2};
			p[k].body_len = (size_t)bench_body(i, bodies[k], sizeof bodies[k]);
			body_bytes += (int64_t)p[k].body_len;
		}
		if ((rc = store_profiles_load(s, p, (size_t)n)) != n) {
			fprintf(stderr, "bench: load at %ld: %s\n", base,
				rc < 0 ? rg_strerror(rc) : "not all written");
			return 1;
		}
		int64_t t = bench_now_ns();
		if (t - last > 2000000000LL || base + n == o->profiles) {
			fprintf(stderr, "bench: built %ld/%ld profiles (%.1f s)\n", base + n,
				o->profiles, (double)(t - t0) / 1e9);
			last = t;
		}
	}
	store_close(s);
	double secs = (double)(bench_now_ns() - t0) / 1e9;
	struct stat st;
	stat(path, &st);
	printf("{\"bench\":\"store_build\",\"profiles\":%ld,\"identifiers\":%ld,\"seconds\":%.1f,"
	       "\"profiles_per_s\":%.0f,\"chunk\":%ld,\"cache_kib\":%d,\"body_bytes_avg\":%" PRId64
	       ",\"db_bytes\":%lld}\n",
	       o->profiles, 2 * o->profiles, secs, (double)o->profiles / secs, o->chunk,
	       o->build_cache_kib, body_bytes / o->profiles, (long long)st.st_size);
	fflush(stdout);
	free(p);
	free(ids);
	free(toks);
	free(bodies);
	free(pids);
	return 0;
}

/* ---- measure ---- */



int bench_bare_fn(void *ctx, long i, const uint8_t *tok)
{
	(void)i;
	sqlite3_stmt *st = ctx;
	int ok;
	sqlite3_bind_blob(st, 1, tok, RG_TOKEN_LEN, SQLITE_STATIC);
	ok = sqlite3_step(st) == SQLITE_ROW && sqlite3_column_bytes(st, 0) > 0;
	sqlite3_reset(st);
	return ok ? 0 : -1;
}

int bench_run(const struct bench_lookup *l, long profiles, long lookups, uint64_t seed, int64_t *lat,
	       struct bench_result *r)
{
	static uint8_t toks[BATCH][RG_TOKEN_LEN];
	static long ids[BATCH];
	uint64_t rs = seed;
	int64_t busy = 0;

	/* latency: one timed call at a time, the token made outside the timing */
	for (long k = 0; k < lookups; k++) {
		uint8_t tok[RG_TOKEN_LEN];
		long i = (long)(bench_rng(&rs) % (uint64_t)profiles);
		bench_token(i, tok);
		int64_t t0 = bench_now_ns();
		if (l->fn(l->ctx, i, tok) < 0)
			return -1;
		lat[k] = bench_now_ns() - t0;
	}
	qsort(lat, (size_t)lookups, sizeof *lat, bench_cmp_i64);
	r->median_us = (double)lat[lookups / 2] / 1e3;
	r->p99_us = (double)lat[(lookups * 99) / 100] / 1e3;
	r->max_us = (double)lat[lookups - 1] / 1e3;
	/* rate: batches of pre-made tokens, timed as a whole */
	for (long done = 0; done < lookups; done += BATCH) {
		long n = lookups - done < BATCH ? lookups - done : BATCH;
		for (long k = 0; k < n; k++) {
			ids[k] = (long)(bench_rng(&rs) % (uint64_t)profiles);
			bench_token(ids[k], toks[k]);
		}
		int64_t t0 = bench_now_ns();
		for (long k = 0; k < n; k++)
			if (l->fn(l->ctx, ids[k], toks[k]) < 0)
				return -1;
		busy += bench_now_ns() - t0;
	}
	r->rate = (double)lookups / ((double)busy / 1e9);
	return 0;
}
