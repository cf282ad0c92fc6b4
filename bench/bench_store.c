/*
 * bench_store.c - the device store under load: builds a cache of N profiles
 * (default 1,000,000, two identifiers each) with the bulk loader in a temp
 * dir, then measures store_identify (token -> opened body) latency and rate
 * on one thread beside a bare SQLite indexed point lookup on the same file,
 * and the process RSS. Prints one JSON line per measurement; progress on stderr.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "common/clock.h"
#include "common/crypto.h"
#include "common/err.h"
#include "common/log.h"
#include "firmware/store.h"

#define BATCH 1024
#define DAY_MS (24LL * 3600 * 1000)

static const uint8_t tenant_key[32] = "bench tenant identifier key 0001";
static const uint8_t store_key[32] = "bench device store sealing key!";

struct opts {
	long profiles;
	long lookups;
	const char *dir;
	int keep;
	int cache_kib;
	long chunk;
	int build_cache_kib;
};

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static uint64_t rng_next(uint64_t *s)
{
	/* xorshift64*: reproducible, cheap, good enough to pick rows */
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545f4914f6cdd1dull;
}

static void card_of(long i, char out[32])
{
	snprintf(out, 32, "279%010ld", 1000000000L + i * 7L);
}

static void token_of(long i, uint8_t tok[RG_TOKEN_LEN])
{
	char card[32];
	card_of(i, card);
	if (rg_token(tenant_key, sizeof tenant_key, "loyalty", card, strlen(card), tok) < 0)
		abort();
}

static void uid_token_of(long i, uint8_t tok[RG_TOKEN_LEN])
{
	uint8_t uid[7] = {
	    0x04, (uint8_t)(i >> 24), (uint8_t)(i >> 16), (uint8_t)(i >> 8), (uint8_t)i, 0x5a,
	    0x80};
	if (rg_token(tenant_key, sizeof tenant_key, "nfc_uid", uid, sizeof uid, tok) < 0)
		abort();
}

static int body_of(long i, char *buf, size_t cap)
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

static long rss_field(const char *key)
{
	char line[256];
	long v = -1;
	size_t kl = strlen(key);
	FILE *f = fopen("/proc/self/status", "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof line, f))
		if (!strncmp(line, key, kl) && line[kl] == ':')
			v = strtol(line + kl + 1, NULL, 10);
	fclose(f);
	return v;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

/* ---- build (in a child process, so its memory never counts below) ---- */

static int build(const struct opts *o, const char *path)
{
	struct rg_clock_manual clk;
	struct store_config cfg = {0};
	struct store *s;
	struct store_profile *p;
	struct store_ident *ids;
	uint8_t(*toks)[RG_TOKEN_LEN];
	char(*bodies)[1024];
	char(*pids)[24];
	int64_t t0 = now_ns(), last = t0, body_bytes = 0;
	int rc;

	/* Built "two days ago", so every measured lookup records a last_seen. */
	rg_clock_manual_init(&clk, rg_clock_wall_ms(rg_clock_system()) - 2 * DAY_MS);
	cfg.path = path;
	cfg.key = store_key;
	cfg.device_id = "dev-bench-1";
	cfg.store_id = "0001";
	cfg.max_profiles = o->profiles;
	cfg.max_bytes = (int64_t)o->profiles * 4096;
	/* A bigger page cache while building: the random token inserts then
	 * rewrite each index page once per chunk, not once per spill. */
	cfg.cache_kib = o->build_cache_kib;
	cfg.clock = &clk.clock;
	if ((rc = store_open(&cfg, &s)) < 0) {
		fprintf(stderr, "bench_store: open %s: %s\n", path, rg_strerror(rc));
		return 1;
	}
	p = calloc((size_t)o->chunk, sizeof *p);
	ids = calloc(2 * (size_t)o->chunk, sizeof *ids);
	toks = calloc(2 * (size_t)o->chunk, sizeof *toks);
	bodies = calloc((size_t)o->chunk, sizeof *bodies);
	pids = calloc((size_t)o->chunk, sizeof *pids);
	if (!p || !ids || !toks || !bodies || !pids) {
		fprintf(stderr, "bench_store: out of memory\n");
		return 1;
	}
	for (long base = 0; base < o->profiles; base += o->chunk) {
		long n = o->profiles - base < o->chunk ? o->profiles - base : o->chunk;
		for (long k = 0; k < n; k++) {
			long i = base + k;
			snprintf(pids[k], sizeof pids[k], "c-%08ld", i);
			token_of(i, toks[2 * k]);
			uid_token_of(i, toks[2 * k + 1]);
			ids[2 * k] = (struct store_ident){toks[2 * k], "loyalty"};
			ids[2 * k + 1] = (struct store_ident){toks[2 * k + 1], "nfc_uid"};
			p[k] = (struct store_profile){.id = pids[k],
						      .version = 1,
						      .body = bodies[k],
						      .idents = &ids[2 * k],
						      .n_idents = 2};
			p[k].body_len = (size_t)body_of(i, bodies[k], sizeof bodies[k]);
			body_bytes += (int64_t)p[k].body_len;
		}
		if ((rc = store_profiles_load(s, p, (size_t)n)) != n) {
			fprintf(stderr, "bench_store: load at %ld: %s\n", base,
				rc < 0 ? rg_strerror(rc) : "not all written");
			return 1;
		}
		int64_t t = now_ns();
		if (t - last > 2000000000LL || base + n == o->profiles) {
			fprintf(stderr, "bench_store: built %ld/%ld profiles (%.1f s)\n", base + n,
				o->profiles, (double)(t - t0) / 1e9);
			last = t;
		}
	}
	store_close(s);
	double secs = (double)(now_ns() - t0) / 1e9;
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

struct lookup {
	/* returns 0 on a hit */
	int (*fn)(void *ctx, const uint8_t *tok);
	void *ctx;
};

struct result {
	double median_us, p99_us, max_us, rate;
};

static int store_fn(void *ctx, const uint8_t *tok)
{
	static char buf[STORE_BODY_MAX + 1];
	struct store_hit hit;
	return store_identify(ctx, tok, buf, sizeof buf, &hit) == 1 && hit.body_len > 0 ? 0 : -1;
}

static int bare_fn(void *ctx, const uint8_t *tok)
{
	sqlite3_stmt *st = ctx;
	int ok;
	sqlite3_bind_blob(st, 1, tok, RG_TOKEN_LEN, SQLITE_STATIC);
	ok = sqlite3_step(st) == SQLITE_ROW && sqlite3_column_bytes(st, 0) > 0;
	sqlite3_reset(st);
	return ok ? 0 : -1;
}

static int run(const struct lookup *l, long profiles, long lookups, uint64_t seed, int64_t *lat,
	       struct result *r)
{
	static uint8_t toks[BATCH][RG_TOKEN_LEN];
	uint64_t rs = seed;
	int64_t busy = 0;

	/* latency: one timed call at a time, the token made outside the timing */
	for (long k = 0; k < lookups; k++) {
		uint8_t tok[RG_TOKEN_LEN];
		token_of((long)(rng_next(&rs) % (uint64_t)profiles), tok);
		int64_t t0 = now_ns();
		if (l->fn(l->ctx, tok) < 0)
			return -1;
		lat[k] = now_ns() - t0;
	}
	qsort(lat, (size_t)lookups, sizeof *lat, cmp_i64);
	r->median_us = (double)lat[lookups / 2] / 1e3;
	r->p99_us = (double)lat[(lookups * 99) / 100] / 1e3;
	r->max_us = (double)lat[lookups - 1] / 1e3;
	/* rate: batches of pre-made tokens, timed as a whole */
	for (long done = 0; done < lookups; done += BATCH) {
		long n = lookups - done < BATCH ? lookups - done : BATCH;
		for (long k = 0; k < n; k++)
			token_of((long)(rng_next(&rs) % (uint64_t)profiles), toks[k]);
		int64_t t0 = now_ns();
		for (long k = 0; k < n; k++)
			if (l->fn(l->ctx, toks[k]) < 0)
				return -1;
		busy += now_ns() - t0;
	}
	r->rate = (double)lookups / ((double)busy / 1e9);
	return 0;
}

static void print_result(const struct opts *o, const char *mode, const struct result *mine,
			 const struct result *bare, long rss, long hwm)
{
	double ratio = mine->rate / bare->rate;
	printf(
	    "{\"bench\":\"store_identify\",\"mode\":\"%s\",\"profiles\":%ld,\"lookups\":%ld,"
	    "\"median_us\":%.1f,\"p99_us\":%.1f,\"max_us\":%.1f,\"rate_per_s\":%.0f,"
	    "\"baseline\":\"sqlite_point_lookup\",\"baseline_median_us\":%.1f,"
	    "\"baseline_p99_us\":%.1f,\"baseline_rate_per_s\":%.0f,\"ratio\":%.3f,"
	    "\"rss_kib\":%ld,\"hwm_kib\":%ld,"
	    "\"goals\":{\"p99_under_1ms\":%s,\"ratio_at_least_0.2\":%s,\"rss_under_64mb\":%s}}\n",
	    mode, o->profiles, o->lookups, mine->median_us, mine->p99_us, mine->max_us, mine->rate,
	    bare->median_us, bare->p99_us, bare->rate, ratio, rss, hwm,
	    mine->p99_us < 1000 ? "true" : "false", ratio >= 0.2 ? "true" : "false",
	    hwm < 64 * 1024 ? "true" : "false");
	fflush(stdout);
}

static int measure(const struct opts *o, const char *path)
{
	struct store_config cfg = {0};
	struct store_stats st;
	struct store *s;
	struct result cold, warm, bare;
	sqlite3 *db;
	sqlite3_stmt *q;
	int64_t *lat = malloc((size_t)o->lookups * sizeof *lat);
	long rss, hwm, warmup = o->lookups / 10 ? o->lookups / 10 : 1;
	int rc;

	if (!lat)
		return 1;
	/* The daemon's configuration, with the defaults for last_seen batching. */
	cfg.path = path;
	cfg.key = store_key;
	cfg.device_id = "dev-bench-1";
	cfg.store_id = "0001";
	cfg.max_profiles = o->profiles;
	cfg.max_bytes = (int64_t)o->profiles * 4096;
	cfg.cache_kib = o->cache_kib;
	if ((rc = store_open(&cfg, &s)) < 0) {
		fprintf(stderr, "bench_store: open %s: %s\n", path, rg_strerror(rc));
		return 1;
	}
	if (store_stats_get(s, &st) < 0 || st.profiles < o->profiles) {
		fprintf(stderr, "bench_store: %s holds %lld profiles, want %ld\n", path,
			(long long)st.profiles, o->profiles);
		return 1;
	}
	fprintf(stderr, "bench_store: measuring %ld lookups per run\n", o->lookups);
	struct lookup lm = {store_fn, s};
	/* cold: every profile was last seen days ago, so each lookup records a
	 * new last_seen and the batched writes (inline when the pending map
	 * fills) are part of the cost. warm: the same profiles again, seen
	 * within seen_resolution_ms, so nothing needs writing. */
	if (run(&lm, o->profiles, warmup, 7, lat, &cold) < 0 ||
	    run(&lm, o->profiles, o->lookups, 42, lat, &cold) < 0 ||
	    run(&lm, o->profiles, o->lookups, 42, lat, &warm) < 0) {
		fprintf(stderr, "bench_store: store_identify missed a known token\n");
		return 1;
	}
	/* The daemon's footprint: this process only ever opened the store. */
	rss = rss_field("VmRSS");
	hwm = rss_field("VmHWM");
	store_close(s);

	/* Baseline: the same file, the same page cache size, one indexed point
	 * lookup by token blob, no join, no decryption. */
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
		fprintf(stderr, "bench_store: baseline open failed\n");
		return 1;
	}
	char pragma[64];
	snprintf(pragma, sizeof pragma, "PRAGMA cache_size = -%d", o->cache_kib);
	sqlite3_exec(db, pragma, NULL, NULL, NULL);
	if (sqlite3_prepare_v2(db, "SELECT profile_id FROM identifiers WHERE token = ?1", -1, &q,
			       NULL) != SQLITE_OK) {
		fprintf(stderr, "bench_store: baseline prepare: %s\n", sqlite3_errmsg(db));
		return 1;
	}
	struct lookup lb = {bare_fn, q};
	if (run(&lb, o->profiles, warmup, 7, lat, &bare) < 0 ||
	    run(&lb, o->profiles, o->lookups, 42, lat, &bare) < 0) {
		fprintf(stderr, "bench_store: bare lookup missed a known token\n");
		return 1;
	}
	sqlite3_finalize(q);
	sqlite3_close(db);
	print_result(o, "cold", &cold, &bare, rss, hwm);
	print_result(o, "warm", &warm, &bare, rss, hwm);
	free(lat);
	return 0;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: bench_store [--profiles N] [--lookups M] [--cache-kib K] [--chunk C]\n"
		"                   [--build-cache-kib K] [--dir DIR] [--keep]\n"
		"  --profiles N         cached profiles to build (default 1000000)\n"
		"  --lookups M          timed lookups per run (default 200000)\n"
		"  --cache-kib K        SQLite page cache while measuring (default 8192)\n"
		"  --chunk C            profiles per bulk-load transaction (default 50000)\n"
		"  --build-cache-kib K  SQLite page cache while building (default 65536)\n"
		"  --dir DIR            use DIR/store.db; an existing one is reused, not rebuilt\n"
		"  --keep               keep the database afterwards\n");
}

int main(int argc, char **argv)
{
	struct opts o = {1000000, 200000, NULL, 0, 8192, 50000, 65536};
	char dir[256], path[300];
	struct stat st;
	int rc, reuse = 0;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(a, "--keep")) {
			o.keep = 1;
		} else if (!strcmp(a, "--profiles") && v) {
			o.profiles = strtol(v, NULL, 10), i++;
		} else if (!strcmp(a, "--lookups") && v) {
			o.lookups = strtol(v, NULL, 10), i++;
		} else if (!strcmp(a, "--cache-kib") && v) {
			o.cache_kib = (int)strtol(v, NULL, 10), i++;
		} else if (!strcmp(a, "--chunk") && v) {
			o.chunk = strtol(v, NULL, 10), i++;
		} else if (!strcmp(a, "--build-cache-kib") && v) {
			o.build_cache_kib = (int)strtol(v, NULL, 10), i++;
		} else if (!strcmp(a, "--dir") && v) {
			o.dir = v, i++;
		} else {
			usage();
			return a && (!strcmp(a, "--help") || !strcmp(a, "-h")) ? 0 : 2;
		}
	}
	if (o.profiles < 1 || o.profiles > 100000000 || o.lookups < 100 || o.lookups > 100000000 ||
	    o.cache_kib < 64 || o.cache_kib > 1024 * 1024 || o.chunk < 1 ||
	    o.chunk > STORE_LOAD_MAX || o.build_cache_kib < 64 || o.build_cache_kib > 1024 * 1024) {
		usage();
		return 2;
	}
	rg_log_set_level(RG_LOG_WARN);
	if (o.dir) {
		snprintf(dir, sizeof dir, "%s", o.dir);
		if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
			fprintf(stderr, "bench_store: mkdir %s: %s\n", dir, strerror(errno));
			return 1;
		}
	} else {
		const char *tmp = getenv("TMPDIR");
		snprintf(dir, sizeof dir, "%s/rg-bench-store-XXXXXX", tmp && *tmp ? tmp : "/tmp");
		if (!mkdtemp(dir)) {
			fprintf(stderr, "bench_store: mkdtemp: %s\n", strerror(errno));
			return 1;
		}
	}
	snprintf(path, sizeof path, "%s/store.db", dir);
	reuse = o.dir && stat(path, &st) == 0;

	if (!reuse) {
		fflush(stdout);
		pid_t pid = fork();
		if (pid < 0)
			return 1;
		if (pid == 0)
			_exit(build(&o, path));
		int status;
		if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status)) {
			fprintf(stderr, "bench_store: build failed\n");
			return 1;
		}
	}
	rc = measure(&o, path);
	if (!o.keep) {
		static const char *const suffix[] = {"", "-wal", "-shm"};
		char p[320];
		for (size_t i = 0; i < 3; i++) {
			snprintf(p, sizeof p, "%s%s", path, suffix[i]);
			unlink(p);
		}
		rmdir(dir);
	} else {
		fprintf(stderr, "bench_store: kept %s\n", path);
	}
	return rc;
}
