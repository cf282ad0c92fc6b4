/*
 * bench_device.c - identification on the device: a read (the card number as
 * a scanner delivers it) -> identifier pipeline -> local cache -> kiosk view
 * model ready, with N cached profiles (default 1,000,000), on one thread,
 * beside a bare SQLite indexed point lookup on the same file. Then the real
 * regulars-device daemon is started on that cache, taps are streamed into it
 * through its sim reader, and its RSS is read from /proc.
 * Prints one JSON line per measurement; progress on stderr.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sqlite3.h>

#include "bench_fixture.h"
#include "common/err.h"
#include "common/ident_token.h"
#include "common/ident_totp.h"
#include "common/log.h"
#include "device.h"
#include "hal/keystore.h"

#ifndef REGULARS_DEVICE_BIN
#define REGULARS_DEVICE_BIN "regulars-device"
#endif

static int device_fn(void *ctx, long i, const uint8_t *tok)
{
	struct device_outcome o;
	char card[32];
	(void)tok;
	bench_card(i, card);
	int rc = device_identify(ctx, IDENT_SRC_BARCODE, card, strlen(card), &o);
	rc = rc == 0 && o.state == VIEW_GREETING && o.screen ? 0 : -1;
	device_outcome_clear(&o);
	return rc;
}

static void cfg_defaults(struct devcfg *c)
{
	memset(c, 0, sizeof *c);
	snprintf(c->device_id, sizeof c->device_id, "dev-bench-1");
	snprintf(c->store_id, sizeof c->store_id, "0001");
	c->role = DEVCFG_ROLE_KIOSK;
	c->screen.idle_after_ms = 8000;
	c->screen.public_items_max = 3;
	snprintf(c->screen.default_language, sizeof c->screen.default_language, "en");
	ident_config_default(&c->identifiers);
}

static int measure_core(const struct bench_opts *o, const char *path, struct bench_result *mine,
			struct bench_result *bare, int64_t *lat)
{
	struct store_config sc = {.path = path, .key = bench_store_key, .device_id = "dev-bench-1",
				  .store_id = "0001", .max_profiles = o->profiles,
				  .max_bytes = (int64_t)o->profiles * 4096, .cache_kib = o->cache_kib};
	struct ident_replay_store *replay = NULL;
	struct ident_secret_store *secrets = NULL;
	struct ident_pipeline *pipe = NULL;
	struct device *dev = NULL;
	struct store *s = NULL;
	struct devcfg cfg;
	uint8_t totp_key[RG_AEAD_KEY_LEN] = {1};
	long warmup = o->lookups / 10 ? o->lookups / 10 : 1;
	int rc;

	cfg_defaults(&cfg);
	if ((rc = store_open(&sc, &s)) < 0 || (rc = ident_replay_mem_new(1024, &replay)) < 0 ||
	    (rc = ident_secret_mem_new(16, &secrets)) < 0) {
		fprintf(stderr, "bench_device: setup: %s\n", rg_strerror(rc));
		return 1;
	}
	struct ident_pipeline_params pp = {.config = &cfg.identifiers,
					   .tenant_key = bench_tenant_key,
					   .tenant_key_len = sizeof bench_tenant_key,
					   .totp_seal_key = totp_key,
					   .replay = replay,
					   .secrets = secrets};
	if ((rc = ident_pipeline_new(&pp, &pipe)) < 0 ||
	    (rc = device_new(&cfg, s, pipe, NULL, &dev)) < 0) {
		fprintf(stderr, "bench_device: device: %s\n", rg_strerror(rc));
		return 1;
	}
	fprintf(stderr, "bench_device: measuring %ld identifications per run\n", o->lookups);
	struct bench_lookup lm = {device_fn, dev};
	if (bench_run(&lm, o->profiles, warmup, 7, lat, mine) < 0 ||
	    bench_run(&lm, o->profiles, o->lookups, 42, lat, mine) < 0) {
		fprintf(stderr, "bench_device: a known card was not identified\n");
		return 1;
	}
	ident_pipeline_free(device_pipeline(dev));
	device_free(dev);
	store_close(s);
	ident_replay_mem_free(replay);
	ident_secret_mem_free(secrets);

	sqlite3 *db;
	sqlite3_stmt *q;
	char pragma[64];
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
		return 1;
	snprintf(pragma, sizeof pragma, "PRAGMA cache_size = -%d", o->cache_kib);
	sqlite3_exec(db, pragma, NULL, NULL, NULL);
	if (sqlite3_prepare_v2(db, "SELECT profile_id FROM identifiers WHERE token = ?1", -1, &q,
			       NULL) != SQLITE_OK)
		return 1;
	struct bench_lookup lb = {bench_bare_fn, q};
	rc = bench_run(&lb, o->profiles, warmup, 7, lat, bare) < 0 ||
	     bench_run(&lb, o->profiles, o->lookups, 42, lat, bare) < 0;
	sqlite3_finalize(q);
	sqlite3_close(db);
	return rc;
}

/* ---- the daemon's RSS ---- */

static int put_key(const char *dir, const char *name, const uint8_t *k, size_t n)
{
	struct hal_keystore *ks;
	char opts[400];
	snprintf(opts, sizeof opts, "dir=%s", dir);
	int rc = hal_keystore_open("file", opts, &ks);
	if (rc < 0)
		return rc;
	rc = hal_keystore_put(ks, name, k, n);
	hal_keystore_close(ks);
	return rc;
}

static int count_reads(const char *log)
{
	char line[1024];
	int n = 0;
	FILE *f = fopen(log, "r");
	if (!f)
		return 0;
	while (fgets(line, sizeof line, f))
		if (strstr(line, "event=read "))
			n++;
	fclose(f);
	return n;
}

static int measure_daemon(const struct bench_opts *o, const char *dir, const char *path,
			  int taps, long *rss, long *hwm, double *taps_per_s)
{
	char keys[300], conf[300], sock[300], log[300];
	uint8_t totp[32] = {7};
	snprintf(keys, sizeof keys, "%s/keys", dir);
	snprintf(conf, sizeof conf, "%s/device.json", dir);
	snprintf(sock, sizeof sock, "%s/reader.sock", dir);
	snprintf(log, sizeof log, "%s/device.log", dir);
	if (put_key(keys, "store.key", bench_store_key, sizeof bench_store_key) < 0 ||
	    put_key(keys, "tenant.key", bench_tenant_key, sizeof bench_tenant_key) < 0 ||
	    put_key(keys, "totp.key", totp, sizeof totp) < 0) {
		fprintf(stderr, "bench_device: cannot write keys in %s\n", keys);
		return 1;
	}
	FILE *f = fopen(conf, "w");
	if (!f)
		return 1;
	fprintf(f,
		"{\"device_id\":\"dev-bench-1\",\"store_id\":\"0001\",\"role\":\"kiosk\","
		"\"database\":\"%s\",\"keystore\":{\"backend\":\"file\",\"options\":\"dir=%s\"},"
		"\"readers\":[{\"backend\":\"sim\",\"options\":\"path=%s\"}],"
		"\"http\":{\"port\":0},\"cache\":{\"max_profiles\":%ld,\"max_bytes\":%ld}}\n",
		path, keys, sock, o->profiles, o->profiles * 4096);
	fclose(f);

	pid_t pid = fork();
	if (pid < 0)
		return 1;
	if (pid == 0) {
		FILE *lf = freopen(log, "w", stderr);
		(void)lf;
		execlp(REGULARS_DEVICE_BIN, REGULARS_DEVICE_BIN, "--config", conf, (char *)NULL);
		_exit(127);
	}
	int fd = -1;
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(sock) >= sizeof sa.sun_path) {
		fprintf(stderr, "bench_device: socket path too long: %s\n", sock);
		return 1;
	}
	memcpy(sa.sun_path, sock, strlen(sock) + 1);
	for (int tries = 0; tries < 300; tries++) { /* up to 30 s for the daemon to start */
		fd = socket(AF_UNIX, SOCK_STREAM, 0);
		if (connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0)
			break;
		close(fd);
		fd = -1;
		usleep(100000);
	}
	if (fd < 0) {
		fprintf(stderr, "bench_device: the daemon did not start; see %s\n", log);
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		return 1;
	}
	uint64_t rs = 99;
	int64_t t0 = bench_now_ns();
	for (int k = 0; k < taps; k++) {
		char card[32], line[64], reply[16];
		bench_card((long)(bench_rng(&rs) % (uint64_t)o->profiles), card);
		int n = snprintf(line, sizeof line, "barcode %s\n", card);
		ssize_t got = 0;
		/* The reader queues a few reads, as hardware does; when the
		 * daemon is behind it answers "err queue_full": wait, resend. */
		for (int tries = 0; tries < 5000; tries++) {
			memset(reply, 0, sizeof reply);
			if (write(fd, line, (size_t)n) != n || (got = read(fd, reply, sizeof reply - 1)) < 3)
				break;
			if (!strncmp(reply, "ok", 2))
				break;
			usleep(1000);
		}
		if (got < 3 || strncmp(reply, "ok", 2)) {
			fprintf(stderr, "bench_device: sim reader refused a tap: %s\n", reply);
			break;
		}
	}
	int done = 0;
	for (int tries = 0; tries < 1200 && done < taps; tries++) { /* each tap is an fsync */
		done = count_reads(log);
		if (done < taps)
			usleep(50000);
	}
	*taps_per_s = (double)done / ((double)(bench_now_ns() - t0) / 1e9);
	*rss = bench_rss_field(pid, "VmRSS");
	*hwm = bench_rss_field(pid, "VmHWM");
	close(fd);
	kill(pid, SIGTERM);
	int status = 0;
	waitpid(pid, &status, 0);
	if (done < taps) {
		fprintf(stderr, "bench_device: the daemon handled %d of %d taps; see %s\n", done,
			taps, log);
		return 1;
	}
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 1;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: bench_device [--profiles N] [--lookups M] [--taps T] [--dir DIR] [--keep]\n"
		"  --profiles N   cached profiles (default 1000000)\n"
		"  --lookups M    timed identifications per run (default 200000)\n"
		"  --taps T       taps streamed into the real daemon for its RSS (default 2000)\n"
		"  --dir DIR      work in DIR (an existing store.db there is reused)\n"
		"  --keep         keep the files afterwards\n");
}

int main(int argc, char **argv)
{
	struct bench_opts o = {1000000, 200000, NULL, 0, 8192, 50000, 65536};
	struct bench_result mine, bare;
	char dir[256], path[300];
	struct stat st;
	long taps = 2000, rss = -1, hwm = -1;
	double taps_rate = 0;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(a, "--keep"))
			o.keep = 1;
		else if (!strcmp(a, "--profiles") && v)
			o.profiles = strtol(v, NULL, 10), i++;
		else if (!strcmp(a, "--lookups") && v)
			o.lookups = strtol(v, NULL, 10), i++;
		else if (!strcmp(a, "--taps") && v)
			taps = strtol(v, NULL, 10), i++;
		else if (!strcmp(a, "--dir") && v)
			o.dir = v, i++;
		else {
			usage();
			return !strcmp(a, "--help") || !strcmp(a, "-h") ? 0 : 2;
		}
	}
	if (o.profiles < 100 || o.lookups < 100 || taps < 1 || taps > 1000000) {
		usage();
		return 2;
	}
	rg_log_set_level(RG_LOG_WARN);
	if (o.dir) {
		snprintf(dir, sizeof dir, "%s", o.dir);
		if (mkdir(dir, 0700) < 0 && errno != EEXIST)
			return 1;
	} else {
		const char *tmp = getenv("TMPDIR");
		snprintf(dir, sizeof dir, "%s/rg-bench-device-XXXXXX", tmp && *tmp ? tmp : "/tmp");
		if (!mkdtemp(dir))
			return 1;
	}
	snprintf(path, sizeof path, "%s/store.db", dir);
	if (!(o.dir && stat(path, &st) == 0)) {
		fflush(stdout);
		pid_t pid = fork();
		if (pid == 0)
			_exit(bench_build(&o, path));
		int status;
		if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
		    WEXITSTATUS(status)) {
			fprintf(stderr, "bench_device: build failed\n");
			return 1;
		}
	}
	int64_t *lat = malloc((size_t)o.lookups * sizeof *lat);
	if (!lat || measure_core(&o, path, &mine, &bare, lat)) {
		fprintf(stderr, "bench_device: measurement failed\n");
		return 1;
	}
	free(lat);
	int drc = measure_daemon(&o, dir, path, (int)taps, &rss, &hwm, &taps_rate);
	double ratio = mine.rate / bare.rate;
	printf("{\"bench\":\"device_identify\",\"profiles\":%ld,\"lookups\":%ld,"
	       "\"median_us\":%.1f,\"p99_us\":%.1f,\"max_us\":%.1f,\"rate_per_s\":%.0f,"
	       "\"baseline\":\"sqlite_point_lookup\",\"baseline_median_us\":%.1f,"
	       "\"baseline_p99_us\":%.1f,\"baseline_rate_per_s\":%.0f,\"ratio\":%.3f,"
	       "\"daemon_taps\":%ld,\"daemon_taps_per_s\":%.0f,\"daemon_rss_kib\":%ld,"
	       "\"daemon_hwm_kib\":%ld,"
	       "\"goals\":{\"p99_under_1ms\":%s,\"ratio_at_least_0.2\":%s,\"rss_under_64mb\":%s}}\n",
	       o.profiles, o.lookups, mine.median_us, mine.p99_us, mine.max_us, mine.rate,
	       bare.median_us, bare.p99_us, bare.rate, ratio, taps, taps_rate, rss, hwm,
	       mine.p99_us < 1000 ? "true" : "false", ratio >= 0.2 ? "true" : "false",
	       drc == 0 && hwm > 0 && hwm < 64 * 1024 ? "true" : "false");
	if (!o.keep) {
		static const char *const files[] = {"store.db", "store.db-wal", "store.db-shm",
						    "device.json", "device.log", "keys/store.key",
						    "keys/tenant.key", "keys/totp.key", "keys"};
		char p[400];
		for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
			snprintf(p, sizeof p, "%s/%s", dir, files[i]);
			if (unlink(p) < 0)
				rmdir(p);
		}
		rmdir(dir);
	}
	return drc;
}
