/*
 * bench_import.c - how fast `regularsctl import` loads profiles into the
 * central store (cloud_import_files: the checking pass, parsing, tokenising
 * every card through the identifier pipeline, batched durable transactions
 * with the change log) beside a baseline measured in the same run: raw
 * batched SQLite inserts of the same rows (profile + identifier, same batch
 * size, WAL, synchronous FULL). One JSON line on stdout.
 *   bench_import [--profiles N] [--batch B]     (N also from BENCH_IMPORT_PROFILES)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "cloud/import.h"
#include "cloud/store.h"
#include "common/crypto.h"
#include "common/log.h"

#define BODY_MAX 1024

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

/* Customer i's card: "2" + i as 11 digits + the GS1 check digit. */
static void card_of(long i, char out[14])
{
	char buf[32];
	int sum = 0;
	snprintf(buf, sizeof buf, "2%011ld", i % 100000000000L);
	memcpy(out, buf, 12);
	for (int k = 0; k < 12; k++)
		sum += (out[k] - '0') * (k % 2 ? 3 : 1);
	out[12] = (char)('0' + (10 - sum % 10) % 10);
	out[13] = '\0';
}

static int body_of(long i, char *out, size_t cap)
{
	static const char *const tiers[] = {"bronze", "silver", "gold", "platinum"};
	return snprintf(out, cap,
			"{\"name\":\"Customer %ld\",\"first_name\":\"Customer\",\"tier\":\"%s\","
			"\"points\":%ld,\"preferences\":{\"language\":\"en\"},"
			"\"consent\":{\"show_in_public\":[\"points\",\"orders\"]},"
			"\"home_store\":\"%04ld\",\"interactions\":[{\"channel\":\"web\","
			"\"department\":\"orders\",\"summary\":\"Order %ld shipped\","
			"\"time\":\"2026-01-10T10:00:00Z\"}],\"next_best_action\":\"Offer the "
			"extended warranty on the dishwasher bought last month\"}",
			i, tiers[i % 4], (i * 37) % 5000, 1 + i % 60, 7000 + i);
}

int main(int argc, char **argv)
{
	const char *env = getenv("BENCH_IMPORT_PROFILES"), *tmp = getenv("TMPDIR");
	long n = env ? atol(env) : 200000, batch = CLOUD_IMPORT_BATCH_DEFAULT;
	char dir[300], file[400], db[400], raw[400], body[BODY_MAX], card[14], err[512];
	uint8_t key[32];
	struct cloud_store *s = NULL;
	struct cloud_import_stats st;
	struct cloud_import_opts io;
	struct stat sb;
	double t0, t_import, t_raw;
	FILE *f;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--profiles") && i + 1 < argc)
			n = atol(argv[++i]);
		else if (!strcmp(argv[i], "--batch") && i + 1 < argc)
			batch = atol(argv[++i]);
		else {
			fprintf(stderr,
				"usage: bench_import [--profiles N] [--batch 1..%d]\n"
				"  N also from BENCH_IMPORT_PROFILES (default 200000)\n",
				CLOUD_IMPORT_BATCH_MAX);
			return strcmp(argv[i], "--help") ? 2 : 0;
		}
	}
	if (n < 1 || n > 99999999 || batch < 1 || batch > CLOUD_IMPORT_BATCH_MAX) {
		fprintf(stderr, "bench_import: --profiles 1..99999999, --batch 1..%d\n",
			CLOUD_IMPORT_BATCH_MAX);
		return 2;
	}
	rg_log_set_level(RG_LOG_WARN);
	snprintf(dir, sizeof dir, "%s/rg-bench-import-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(dir))
		return 1;
	snprintf(file, sizeof file, "%s/profiles.jsonl", dir);
	snprintf(db, sizeof db, "%s/central.db", dir);
	snprintf(raw, sizeof raw, "%s/raw.db", dir);
	memset(key, 0x5a, sizeof key);

	/* the file: N customer lines, one loyalty card each */
	fprintf(stderr, "bench_import: writing %ld profiles\n", n);
	if (!(f = fopen(file, "w")))
		return 1;
	for (long i = 1; i <= n; i++) {
		body_of(i, body, sizeof body);
		card_of(i, card);
		fprintf(f,
			"{\"id\":\"p-%07ld\",\"version\":1,\"profile\":%s,"
			"\"identifiers\":[{\"type\":\"loyalty\",\"value\":\"%s\"}]}\n",
			i, body, card);
	}
	if (fclose(f) != 0 || stat(file, &sb) < 0)
		return 1;

	/* the import, as `regularsctl import --db central.db profiles.jsonl` runs it */
	struct cloud_store_opts o = {.path = db};
	if (cloud_store_open(&o, &s) < 0)
		return 1;
	memset(&io, 0, sizeof io);
	io.tenant_key = key;
	io.key_len = sizeof key;
	io.batch = (size_t)batch;
	io.errors = stderr;
	const char *paths[1] = {file};
	fprintf(stderr, "bench_import: importing\n");
	t0 = now_s();
	if (cloud_import_files(s, paths, 1, &io, &st, err, sizeof err) < 0 ||
	    st.written != (size_t)n) {
		fprintf(stderr, "bench_import: import failed: %s\n", err);
		return 1;
	}
	t_import = now_s() - t0;
	cloud_store_close(s);

	/* the baseline: the same rows, batched raw inserts, same durability; the
	 * tokens are computed before the clock starts */
	uint8_t(*toks)[RG_TOKEN_LEN] = malloc((size_t)n * RG_TOKEN_LEN);
	sqlite3 *rdb;
	sqlite3_stmt *sp, *si;
	if (!toks)
		return 1;
	for (long i = 1; i <= n; i++) {
		card_of(i, card);
		rg_token(key, sizeof key, "loyalty", (const uint8_t *)card, 13, toks[i - 1]);
	}
	if (sqlite3_open(raw, &rdb) != SQLITE_OK)
		return 1;
	sqlite3_exec(rdb,
		     "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
		     "CREATE TABLE profiles(pid INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE,"
		     " version INTEGER NOT NULL, body TEXT NOT NULL);"
		     "CREATE TABLE identifiers(token BLOB PRIMARY KEY, profile_id TEXT NOT NULL)"
		     " WITHOUT ROWID;",
		     NULL, NULL, NULL);
	sqlite3_prepare_v2(rdb, "INSERT INTO profiles(id, version, body) VALUES (?1, 1, ?2)", -1,
			   &sp, NULL);
	sqlite3_prepare_v2(rdb, "INSERT INTO identifiers(token, profile_id) VALUES (?1, ?2)", -1,
			   &si, NULL);
	t0 = now_s();
	for (long i = 1; i <= n; i++) {
		char id[32];
		int len;
		if ((i - 1) % batch == 0)
			sqlite3_exec(rdb, "BEGIN IMMEDIATE", NULL, NULL, NULL);
		snprintf(id, sizeof id, "p-%07ld", i);
		len = body_of(i, body, sizeof body);
		sqlite3_bind_text(sp, 1, id, -1, SQLITE_STATIC);
		sqlite3_bind_text(sp, 2, body, len, SQLITE_STATIC);
		sqlite3_bind_blob(si, 1, toks[i - 1], RG_TOKEN_LEN, SQLITE_STATIC);
		sqlite3_bind_text(si, 2, id, -1, SQLITE_STATIC);
		if (sqlite3_step(sp) != SQLITE_DONE || sqlite3_step(si) != SQLITE_DONE) {
			fprintf(stderr, "bench_import: baseline insert failed\n");
			return 1;
		}
		sqlite3_reset(sp);
		sqlite3_reset(si);
		if (i % batch == 0 || i == n)
			if (sqlite3_exec(rdb, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
				return 1;
	}
	t_raw = now_s() - t0;
	sqlite3_finalize(sp);
	sqlite3_finalize(si);
	sqlite3_close(rdb);
	free(toks);

	double rate = (double)n / t_import, base = (double)n / t_raw;
	printf("{\"bench\":\"cloud_import\",\"profiles\":%ld,\"batch\":%ld,\"file_mib\":%.1f,"
	       "\"seconds\":%.3f,\"rate_per_s\":%.0f,\"baseline\":\"sqlite_batched_insert\","
	       "\"baseline_seconds\":%.3f,\"baseline_rate_per_s\":%.0f,\"ratio\":%.3f,"
	       "\"projected_1m_s\":%.0f,\"goals\":{\"one_million_under_10_min\":%s}}\n",
	       n, batch, (double)sb.st_size / (1024.0 * 1024.0), t_import, rate, t_raw, base,
	       rate / base, 1e6 / rate, 1e6 / rate < 600 ? "true" : "false");
	unlink(file);
	rm_db(db);
	rm_db(raw);
	rmdir(dir);
	return 0;
}
