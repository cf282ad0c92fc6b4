/*
 * bench_cloud_apply.c - how fast the central store applies batches
 * (cloud_store_apply_batch: one durable transaction per batch, idempotency
 * check, derived state, device record, change log) beside a baseline
 * measured in the same run: raw batched SQLite inserts of the same rows
 * into one table with a UNIQUE id, same batch size, same durability (WAL,
 * synchronous FULL). Then the floor (raw_run): those inserts plus the least
 * derived state the apply must commit with them. One JSON line per
 * measurement on stdout.
 *   bench_cloud_apply [--items N] [--batch B] [--profiles P] [--floor-page-size N]
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "cloud/store.h"
#include "common/err.h"
#include "common/log.h"
#include "common/uuid.h"
#include "common/wire.h"

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

static int exec_ok(sqlite3 *db, const char *sql)
{
	char *msg = NULL;
	if (sqlite3_exec(db, sql, NULL, NULL, &msg) == SQLITE_OK)
		return 0;
	fprintf(stderr, "bench_cloud_apply: %s: %s\n", sql, msg ? msg : "?");
	sqlite3_free(msg);
	return -1;
}

/* One person's recent list in the floor: half of what CLOUD_RECENT_MAX (20)
 * entries of about 50 bytes take, to favour the floor. */
#define FLOOR_RECENT_BYTES 500

/* Seconds to write every item of bs[0..nb) into a fresh file at path, one
 * transaction per batch, WAL, synchronous FULL.
 *
 * The baseline (floor false): the rows alone, into one table with a UNIQUE
 * id. The floor (floor true): the least central can write and still keep
 * what issue 5 asks of it, with nothing else (no parsing, no checks, no
 * token resolution, no change log, no per-person index): the same row plus
 * one UPDATE of a narrow per-person row holding visits, last seen, version
 * and the recent list as one blob. The central store's own cache and
 * checkpoint settings, to favour the floor. */
static double raw_run(const char *path, const struct rg_wire_batch *bs, size_t nb, bool floor,
		      long profiles, long page_size)
{
	static unsigned char recent[FLOOR_RECENT_BYTES];
	sqlite3 *db;
	sqlite3_stmt *ins = NULL, *upd = NULL, *seed = NULL;
	char pid[32], sql[48];
	double t0, t = -1;

	if (sqlite3_open(path, &db) != SQLITE_OK)
		return -1;
	snprintf(sql, sizeof sql, "PRAGMA page_size=%ld", page_size);
	if ((floor && exec_ok(db, sql) < 0) ||
	    exec_ok(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
			"CREATE TABLE interactions(seq INTEGER PRIMARY KEY AUTOINCREMENT,"
			" id TEXT NOT NULL UNIQUE, device TEXT, store TEXT, hlc INTEGER, kind TEXT,"
			" profile_id TEXT, body TEXT)") < 0)
		goto out;
	if (floor && (exec_ok(db, "PRAGMA cache_size=-65536; PRAGMA wal_autocheckpoint=16384;"
				  "CREATE TABLE state(id TEXT PRIMARY KEY, visits INTEGER NOT NULL,"
				  " last_seen_ms INTEGER NOT NULL, version INTEGER NOT NULL,"
				  " recent BLOB NOT NULL) WITHOUT ROWID") < 0 ||
		      exec_ok(db, "BEGIN") < 0 ||
		      sqlite3_prepare_v2(db, "INSERT INTO state VALUES (?1, 0, 0, 1, ?2)", -1,
					 &seed, NULL) != SQLITE_OK))
		goto out;
	for (long i = 0; floor && i < profiles; i++) {
		snprintf(pid, sizeof pid, "p-%06ld", i + 1);
		sqlite3_bind_text(seed, 1, pid, -1, SQLITE_TRANSIENT);
		sqlite3_bind_blob(seed, 2, recent, sizeof recent, SQLITE_STATIC);
		if (sqlite3_step(seed) != SQLITE_DONE)
			goto out;
		sqlite3_reset(seed);
	}
	if ((floor && exec_ok(db, "COMMIT") < 0) ||
	    sqlite3_prepare_v2(db,
			       "INSERT INTO interactions(id, device, store, hlc, kind, profile_id,"
			       " body) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
			       -1, &ins, NULL) != SQLITE_OK ||
	    (floor &&
	     sqlite3_prepare_v2(db,
				"UPDATE state SET visits = visits + 1, last_seen_ms ="
				" max(last_seen_ms, ?2), version = version + 1, recent = ?3"
				" WHERE id = ?1",
				-1, &upd, NULL) != SQLITE_OK))
		goto out;
	t0 = now_s();
	for (size_t k = 0; k < nb; k++) {
		if (exec_ok(db, "BEGIN IMMEDIATE") < 0)
			goto out;
		for (size_t i = 0; i < bs[k].n_items; i++) {
			const struct rg_wire_item *it = &bs[k].items[i];
			char idt[RG_UUID_STR_LEN + 1];
			char *body = cJSON_PrintUnformatted(it->body);
			sqlite3_int64 h = (sqlite3_int64)rg_hlc_pack(&it->hlc);
			sqlite3_bind_text(ins, 1, rg_uuid_format(&it->id, idt), -1,
					  SQLITE_TRANSIENT);
			sqlite3_bind_text(ins, 2, bs[k].device, -1, SQLITE_STATIC);
			sqlite3_bind_text(ins, 3, bs[k].store, -1, SQLITE_STATIC);
			sqlite3_bind_int64(ins, 4, h);
			sqlite3_bind_text(ins, 5, rg_kind_name(it->kind), -1, SQLITE_STATIC);
			sqlite3_bind_text(ins, 6, it->profile, -1, SQLITE_STATIC);
			sqlite3_bind_text(ins, 7, body, -1, SQLITE_TRANSIENT);
			free(body);
			if (sqlite3_step(ins) != SQLITE_DONE)
				goto out;
			sqlite3_reset(ins);
			if (!floor)
				continue;
			recent[(k + i) % sizeof recent]++; /* a new list each time */
			sqlite3_bind_text(upd, 1, it->profile, -1, SQLITE_STATIC);
			sqlite3_bind_int64(upd, 2, h);
			sqlite3_bind_blob(upd, 3, recent, sizeof recent, SQLITE_STATIC);
			if (sqlite3_step(upd) != SQLITE_DONE || sqlite3_changes(db) != 1)
				goto out;
			sqlite3_reset(upd);
		}
		if (exec_ok(db, "COMMIT") < 0)
			goto out;
	}
	t = now_s() - t0;
out:
	if (t < 0)
		fprintf(stderr, "bench_cloud_apply: %s run failed: %s\n",
			floor ? "floor" : "baseline", sqlite3_errmsg(db));
	sqlite3_finalize(ins);
	sqlite3_finalize(upd);
	sqlite3_finalize(seed);
	sqlite3_close(db);
	return t;
}

static void usage(FILE *f)
{
	fprintf(
	    f,
	    "usage: bench_cloud_apply [--items N] [--batch 1..500] [--profiles P]\n"
	    "                         [--floor-page-size BYTES]\n"
	    "The central store's batch apply beside raw batched SQLite inserts of the\n"
	    "same rows (WAL, synchronous FULL), then the floor: the same inserts plus\n"
	    "one UPDATE of a narrow per-person row of derived state each, the least the\n"
	    "apply must write. One JSON line per measurement on stdout.\n"
	    "  --items N      interactions applied (default 50000)\n"
	    "  --batch B      items per batch and per baseline transaction (default 100)\n"
	    "  --profiles P   customers the items are spread over (default 1000)\n"
	    "  --floor-page-size BYTES  the floor file's page size, 512..65536 (default 4096)\n");
}

int main(int argc, char **argv)
{
	long items = 50000, batch = 100, profiles = 1000, page_size = 4096;
	char dir[300], db[400], raw[400], floor[400], pid[32];
	const char *tmp = getenv("TMPDIR");
	struct rg_uuid7_gen gen;
	struct rg_wire_batch *bs;
	struct cloud_store *s;
	size_t nb;
	double t0, t_apply, t_raw, t_floor;
	int rc;

	for (int i = 1; i < argc; i++) {
		bool has_value = i + 1 < argc;
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			usage(stdout);
			return 0;
		} else if (has_value && !strcmp(argv[i], "--items")) {
			items = atol(argv[++i]);
		} else if (has_value && !strcmp(argv[i], "--batch")) {
			batch = atol(argv[++i]);
		} else if (has_value && !strcmp(argv[i], "--profiles")) {
			profiles = atol(argv[++i]);
		} else if (has_value && !strcmp(argv[i], "--floor-page-size")) {
			page_size = atol(argv[++i]);
		} else {
			fprintf(stderr, "bench_cloud_apply: unknown option or missing value: %s\n",
				argv[i]);
			usage(stderr);
			return 2;
		}
	}
	if (items < 1 || batch < 1 || batch > RG_WIRE_MAX_ITEMS || profiles < 1 ||
	    page_size < 512 || page_size > 65536 || (page_size & (page_size - 1))) {
		usage(stderr);
		return 2;
	}
	rg_log_set_level(RG_LOG_WARN);
	snprintf(dir, sizeof dir, "%s/rg-bench-cloud-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(dir))
		return 1;
	snprintf(db, sizeof db, "%s/cloud.db", dir);
	snprintf(raw, sizeof raw, "%s/raw.db", dir);
	snprintf(floor, sizeof floor, "%s/floor.db", dir);
	rg_uuid7_gen_init(&gen, rg_clock_system(), rg_rand_system());

	/* the batches, rendered and parsed once (what a worker holds after parsing) */
	nb = (size_t)((items + batch - 1) / batch);
	bs = calloc(nb, sizeof *bs);
	int64_t hlc = rg_clock_wall_ms(rg_clock_system()) - 3600000;
	for (size_t k = 0; k < nb; k++) {
		struct rg_wire_writer *w;
		struct rg_uuid bid, id;
		char *doc, err[RG_WIRE_ERR_MAX];
		size_t len, n = (size_t)batch;
		if ((long)((k + 1) * (size_t)batch) > items)
			n = (size_t)items - k * (size_t)batch;
		rg_uuid7_next(&gen, &bid);
		rg_wire_writer_new("dev-0042-k1", "0042", &bid, &w);
		for (size_t i = 0; i < n; i++) {
			struct rg_hlc h = {.wall_ms = hlc++, .logical = 0};
			rg_uuid7_next(&gen, &id);
			snprintf(pid, sizeof pid, "p-%06ld",
				 1 + ((long)(k * (size_t)batch + i) * 7919) % profiles);
			rg_wire_writer_add(
			    w, &id, &h, RG_KIND_IDENTIFIED, pid, NULL,
			    "{\"channel\":\"kiosk\",\"type\":\"loyalty\",\"source\":\"barcode\"}");
		}
		if (rg_wire_writer_finish(w, &doc, &len) < 0 ||
		    rg_wire_batch_parse(doc, len, &bs[k], err, sizeof err) < 0) {
			fprintf(stderr, "bench_cloud_apply: batch build failed\n");
			return 1;
		}
		rg_wire_writer_free(w);
		free(doc);
	}

	/* the store, seeded */
	struct cloud_store_opts o = {.path = db};
	if ((rc = cloud_store_open(&o, &s)) < 0)
		return 1;
	for (long i = 0; i < profiles; i++) {
		struct cloud_seed_profile p = {
		    .id = pid, .version = 1, .body = "{\"name\":\"Bench\",\"points\":100}"};
		snprintf(pid, sizeof pid, "p-%06ld", i + 1);
		p.body_len = strlen(p.body);
		cloud_store_seed(s, &p, 1);
	}
	t0 = now_s();
	for (size_t k = 0; k < nb; k++) {
		struct cloud_apply_result r;
		if (cloud_store_apply_batch(s, &bs[k], &r) < 0 || r.applied != bs[k].n_items) {
			fprintf(stderr, "bench_cloud_apply: apply failed\n");
			return 1;
		}
	}
	t_apply = now_s() - t0;
	cloud_store_close(s);

	/* the baseline, then the floor, on files of their own */
	if ((t_raw = raw_run(raw, bs, nb, false, profiles, 0)) < 0 ||
	    (t_floor = raw_run(floor, bs, nb, true, profiles, page_size)) < 0)
		return 1;

	double rate = (double)items / t_apply, base = (double)items / t_raw;
	printf("{\"bench\":\"cloud_apply\",\"items\":%ld,\"batch\":%ld,\"profiles\":%ld,"
	       "\"seconds\":%.3f,\"rate_per_s\":%.0f,\"baseline\":\"sqlite_batched_insert\","
	       "\"baseline_seconds\":%.3f,\"baseline_rate_per_s\":%.0f,\"ratio\":%.3f,"
	       "\"goals\":{\"ratio_at_least_0.5\":%s}}\n",
	       items, batch, profiles, t_apply, rate, t_raw, base, rate / base,
	       rate / base >= 0.5 ? "true" : "false");
	double fl = (double)items / t_floor;
	printf("{\"bench\":\"cloud_floor\",\"items\":%ld,\"batch\":%ld,\"profiles\":%ld,"
	       "\"seconds\":%.3f,\"rate_per_s\":%.0f,\"baseline\":\"sqlite_batched_insert\","
	       "\"baseline_rate_per_s\":%.0f,\"ratio\":%.3f,\"apply_over_floor\":%.3f}\n",
	       items, batch, profiles, t_floor, fl, base, fl / base, rate / fl);
	for (size_t k = 0; k < nb; k++)
		rg_wire_batch_free(&bs[k]);
	free(bs);
	rm_db(db);
	rm_db(raw);
	rm_db(floor);
	rmdir(dir);
	return 0;
}
