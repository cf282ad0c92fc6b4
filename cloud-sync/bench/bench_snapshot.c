/*
 * bench_snapshot.c - how fast central builds a whole snapshot for one
 * store's replica (cloud_repl_snapshot_answer: every chunk, rendered bodies,
 * identifier sets, checksummed chunk documents) from the SQLite store,
 * beside a baseline measured in the same run on the same file: one raw
 * SELECT of the same rows (profile columns + its identifiers) in id order.
 * One JSON line on stdout.
 *   bench_snapshot [--profiles N] [--chunk M]   (N also from BENCH_SNAPSHOT_PROFILES)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "cloud/cloud.h"
#include "common/crypto.h"
#include "common/log.h"

#define SEED_BATCH 10000

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void rm_db(const char *p)
{
	char q[600];
	static const char *const suf[] = {"", "-wal", "-shm"};
	for (size_t i = 0; i < 3; i++) {
		snprintf(q, sizeof q, "%s%s", p, suf[i]);
		unlink(q);
	}
}

static int seed(struct cloud_store *s, long n)
{
	struct cloud_seed_profile *p = calloc(SEED_BATCH, sizeof *p);
	uint8_t(*tok)[1][RG_TOKEN_LEN] = calloc(SEED_BATCH, sizeof *tok);
	char(*ids)[24] = calloc(SEED_BATCH, sizeof *ids), (*bodies)[400] = calloc(SEED_BATCH, 400);
	static const char *const types[1] = {"loyalty"};
	int rc = 0;
	if (!p || !tok || !ids || !bodies)
		rc = -1;
	for (long base = 0; !rc && base < n; base += SEED_BATCH) {
		size_t k = 0;
		for (long i = base; i < n && i < base + SEED_BATCH; i++, k++) {
			char card[24];
			snprintf(ids[k], sizeof ids[k], "p-%08ld", i);
			snprintf(card, sizeof card, "2%012ld", i);
			rg_sha256(card, strlen(card), tok[k][0]);
			p[k].id = ids[k];
			p[k].version = 1;
			p[k].body = bodies[k];
			p[k].body_len = (size_t)snprintf(
			    bodies[k], sizeof bodies[k],
			    "{\"name\":\"Customer "
			    "%ld\",\"first_name\":\"Customer\",\"tier\":\"gold\","
			    "\"points\":%ld,\"preferences\":{\"language\":\"en\"},\"home_store\":"
			    "\"%04ld\",\"next_best_action\":\"Offer the extended warranty\"}",
			    i, (i * 37) % 5000, 1 + i % 60);
			p[k].tokens = (const uint8_t(*)[RG_TOKEN_LEN])tok[k];
			p[k].token_types = types;
			p[k].n_tokens = 1;
		}
		if (cloud_store_seed(s, p, k) != (int)k)
			rc = -1;
	}
	free(p);
	free(tok);
	free(ids);
	free(bodies);
	return rc;
}

/* The baseline: the same rows, one SELECT, every column touched. */
static long raw_select(const char *db, size_t *bytes)
{
	sqlite3 *h = NULL;
	sqlite3_stmt *st = NULL;
	long n = 0;
	*bytes = 0;
	if (sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK ||
	    sqlite3_exec(h, "PRAGMA cache_size=-65536", NULL, NULL, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(
		h,
		"SELECT p.id, p.version, p.hlc, p.body, i.token, i.type FROM profiles p"
		" LEFT JOIN identifiers i ON i.profile_id = p.id"
		" WHERE p.erased = 0 AND p.merged_into IS NULL ORDER BY p.id",
		-1, &st, NULL) != SQLITE_OK)
		n = -1;
	while (n >= 0 && sqlite3_step(st) == SQLITE_ROW) {
		for (int c = 0; c < 6; c++)
			*bytes += (size_t)sqlite3_column_bytes(st, c);
		n++;
	}
	sqlite3_finalize(st);
	sqlite3_close(h);
	return n;
}

int main(int argc, char **argv)
{
	const char *env = getenv("BENCH_SNAPSHOT_PROFILES"), *tmp = getenv("TMPDIR");
	long n = env ? atol(env) : 1000000, chunk = 1000, got = 0, chunks = 0, raw_rows;
	char dir[300], db[400];
	struct cloud_store_opts o;
	struct cloud_store *s = NULL;
	struct delta_request rq;
	size_t doc_bytes = 0, raw_bytes;
	double t0, t_snap, t_raw, t_seed;
	bool done = false;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--profiles") && i + 1 < argc)
			n = atol(argv[++i]);
		else if (!strcmp(argv[i], "--chunk") && i + 1 < argc)
			chunk = atol(argv[++i]);
		else {
			fprintf(
			    stderr,
			    "usage: bench_snapshot [--profiles N] [--chunk M]\n"
			    "  N profiles (default 1000000, or BENCH_SNAPSHOT_PROFILES) in a "
			    "fresh\n"
			    "  SQLite store; one whole snapshot in chunks of M (1..1000, default\n"
			    "  1000) beside one raw SELECT of the same rows. One JSON line.\n");
			return !strcmp(argv[i], "--help") ? 0 : 2;
		}
	}
	if (n < 1 || chunk < 1 || chunk > DELTA_CHANGES_MAX)
		return 2;
	rg_log_set_level(RG_LOG_WARN);
	snprintf(dir, sizeof dir, "%s/bench_snapshot.XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(dir))
		return 1;
	snprintf(db, sizeof db, "%s/cloud.db", dir);
	memset(&o, 0, sizeof o);
	o.path = db;
	if (cloud_store_open(&o, &s) < 0)
		return 1;
	t0 = now_s();
	if (seed(s, n) < 0) {
		fprintf(stderr, "bench_snapshot: seeding failed\n");
		return 1;
	}
	t_seed = now_s() - t0;

	memset(&rq, 0, sizeof rq);
	rq.snapshot = true;
	rq.max = (int)chunk;
	t0 = now_s();
	while (!done) {
		struct cloud_repl_result r;
		char *doc = NULL;
		size_t len = 0;
		if (cloud_repl_snapshot_answer(s, "0042", NULL, &rq, 1763900000000, &doc, &len,
					       &r) < 0) {
			fprintf(stderr, "bench_snapshot: chunk %ld failed\n", chunks);
			return 1;
		}
		free(doc);
		doc_bytes += len;
		got += (long)r.n;
		chunks++;
		done = r.done;
		rq.snapshot_id = r.snapshot;
		/* the chunk's last id: what a receiver resumes after */
		snprintf(rq.after, sizeof rq.after, "p-%08ld", got - 1);
	}
	t_snap = now_s() - t0;
	cloud_store_close(s);

	t0 = now_s();
	raw_rows = raw_select(db, &raw_bytes);
	t_raw = now_s() - t0;
	rm_db(db);
	rmdir(dir);
	if (got != n || raw_rows != n) {
		fprintf(stderr,
			"bench_snapshot: %ld profiles in the snapshot, %ld raw, %ld seeded\n", got,
			raw_rows, n);
		return 1;
	}
	printf("{\"bench\":\"cloud_snapshot\",\"profiles\":%ld,\"chunk\":%ld,\"chunks\":%ld,"
	       "\"seconds\":%.3f,\"profiles_per_s\":%.0f,\"bytes\":%zu,"
	       "\"baseline\":\"raw SELECT of the same rows\",\"baseline_seconds\":%.3f,"
	       "\"baseline_rows_per_s\":%.0f,\"ratio\":%.1f,\"seed_seconds\":%.1f}\n",
	       n, chunk, chunks, t_snap, (double)n / t_snap, doc_bytes, t_raw, (double)n / t_raw,
	       t_snap / t_raw, t_seed);
	return 0;
}
