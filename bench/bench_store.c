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


#include "bench_fixture.h"

/* ---- measure ---- */

static int store_fn(void *ctx, long i, const uint8_t *tok)
{
	(void)i;
	static char buf[STORE_BODY_MAX + 1];
	struct store_hit hit;
	return store_identify(ctx, tok, buf, sizeof buf, &hit) == 1 && hit.body_len > 0 ? 0 : -1;
}

static void print_result(const struct bench_opts *o, const char *mode, const struct bench_result *mine,
			 const struct bench_result *bare, long rss, long hwm)
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

static int measure(const struct bench_opts *o, const char *path)
{
	struct store_config cfg = {0};
	struct store_stats st;
	struct store *s;
	struct bench_result cold, warm, bare;
	sqlite3 *db;
	sqlite3_stmt *q;
	int64_t *lat = malloc((size_t)o->lookups * sizeof *lat);
	long rss, hwm, warmup = o->lookups / 10 ? o->lookups / 10 : 1;
	int rc;

	if (!lat)
		return 1;
	/* The daemon's configuration, with the defaults for last_seen batching. */
	cfg.path = path;
	cfg.key = bench_store_key;
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
	struct bench_lookup lm = {store_fn, s};
	/* cold: every profile was last seen days ago, so each lookup records a
	 * new last_seen and the batched writes (inline when the pending map
	 * fills) are part of the cost. warm: the same profiles again, seen
	 * within seen_resolution_ms, so nothing needs writing. */
	if (bench_run(&lm, o->profiles, warmup, 7, lat, &cold) < 0 ||
	    bench_run(&lm, o->profiles, o->lookups, 42, lat, &cold) < 0 ||
	    bench_run(&lm, o->profiles, o->lookups, 42, lat, &warm) < 0) {
		fprintf(stderr, "bench_store: store_identify missed a known token\n");
		return 1;
	}
	/* The daemon's footprint: this process only ever opened the store. */
	rss = bench_rss_field(0, "VmRSS");
	hwm = bench_rss_field(0, "VmHWM");
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
	struct bench_lookup lb = {bench_bare_fn, q};
	if (bench_run(&lb, o->profiles, warmup, 7, lat, &bare) < 0 ||
	    bench_run(&lb, o->profiles, o->lookups, 42, lat, &bare) < 0) {
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
	struct bench_opts o = {1000000, 200000, NULL, 0, 8192, 50000, 65536};
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
			_exit(bench_build(&o, path));
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
