/*
 * main.c - regulars-cloud: command line, signals, exit codes. Exit 0 after a
 * clean stop (SIGTERM/SIGINT) or a finished --seed, 1 when the store or the
 * broker client cannot start (or seeding fails), 2 for a bad command line
 * or configuration. SIGHUP reloads what docs/cloud.md says can be reloaded.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cloud/cloud.h"
#include "common/err.h"
#include "common/wake.h"
#include "common/ident.h"
#include "common/log.h"
#include "worker.h"

#ifndef REGULARS_VERSION
#define REGULARS_VERSION "0.0.0"
#endif

static void usage(FILE *f)
{
	fprintf(f, "usage: regulars-cloud --config FILE [--seed CUSTOMERS.jsonl]\n"
		   "       regulars-cloud --help | --version\n"
		   "\n"
		   "The central sync worker: takes the batches store gateways forward on the\n"
		   "central broker (shared subscription, so several workers can run at once),\n"
		   "applies each in one transaction to the profile store, acknowledges it after\n"
		   "the commit, and answers gateways' profile lookups.\n"
		   "\n"
		   "  --config FILE  the JSON configuration (docs/cloud.md,\n"
		   "                 example cloud-sync/cloud.example.json)\n"
		   "  --seed FILE    load customers (JSON Lines, docs/customers.md) into the\n"
		   "                 store, tokenising identifiers with the configured\n"
		   "                 tenant_key_file, then exit; re-seeding is a no-op\n"
		   "  --help         this text\n"
		   "  --version      print the version\n"
		   "\n"
		   "Signals: SIGTERM/SIGINT stop cleanly; SIGHUP re-reads the configuration.\n"
		   "Logs: key=value lines on stderr; REGULARS_LOG_LEVEL or \"log_level\".\n"
		   "Exit status: 0 clean stop, 1 runtime failure, 2 bad usage or configuration.\n");
}

static int seed(struct cloud_store *s, const struct cloud_config *cfg, const char *path)
{
	uint8_t key[IDENT_TENANT_KEY_MAX];
	struct cloud_seed_stats st;
	char err[1024], q[1100], qf[600];
	struct stat sb;
	size_t klen = 0;
	FILE *f;
	int rc;

	if (!cfg->tenant_key_file[0]) {
		fprintf(stderr, "regulars-cloud: --seed needs \"tenant_key_file\" in the config\n");
		return 2;
	}
	if ((rc = cloud_tenant_key_read(cfg->tenant_key_file, key, sizeof key, &klen)) < 0) {
		fprintf(stderr, "regulars-cloud: tenant_key_file %s: %s\n", cfg->tenant_key_file,
			rc == RG_ERR_RANGE ? "must hold 16..64 raw key bytes" : "cannot be read");
		return 2;
	}
	if (stat(path, &sb) < 0 || !S_ISREG(sb.st_mode) || !(f = fopen(path, "rb"))) {
		rg_wipe(key, sizeof key);
		fprintf(stderr, "regulars-cloud: --seed %s: not a readable regular file\n", path);
		return 2;
	}
	rc = cloud_seed_file(s, key, klen, f, 1000, &st, err, sizeof err);
	fclose(f);
	rg_wipe(key, sizeof key);
	if (rc < 0) {
		rg_error("cloud", "seed_failed", "file=%s error=%s",
			 rg_log_quote(qf, sizeof qf, path), rg_log_quote(q, sizeof q, err));
		fprintf(stderr, "regulars-cloud: %s: %s\n", path, err);
		return 1;
	}
	rg_info("cloud", "seeded", "profiles=%zu written=%zu identifiers=%zu", st.profiles,
		st.written, st.identifiers);
	return 0;
}

int main(int argc, char **argv)
{
	const char *path = NULL, *seed_path = NULL;
	struct cloud_store_opts so;
	struct cloud_store *store = NULL, *rstore = NULL;
	struct cloud_worker *w = NULL;
	struct cloud_config cfg;
	char err[768];
	int rc;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			usage(stdout);
			return 0;
		}
		if (!strcmp(argv[i], "--version")) {
			printf("regulars-cloud %s\n", REGULARS_VERSION);
			return 0;
		}
		if (!strcmp(argv[i], "--config") && i + 1 < argc) {
			path = argv[++i];
			continue;
		}
		if (!strcmp(argv[i], "--seed") && i + 1 < argc) {
			seed_path = argv[++i];
			continue;
		}
		fprintf(stderr, "regulars-cloud: unknown argument \"%s\"\n\n", argv[i]);
		usage(stderr);
		return 2;
	}
	if (!path) {
		fprintf(stderr, "regulars-cloud: --config FILE is required\n\n");
		usage(stderr);
		return 2;
	}
	if (cloud_config_load(path, &cfg, err, sizeof err) < 0) {
		char q[800];
		rg_error("cloud", "config_invalid", "error=%s", rg_log_quote(q, sizeof q, err));
		fprintf(stderr, "regulars-cloud: %s\n", err);
		return 2;
	}
	if (!getenv("REGULARS_LOG_LEVEL"))
		rg_log_set_level((enum rg_log_level)cfg.log_level);

	memset(&so, 0, sizeof so);
	so.backend = cfg.backend;
	so.path = cfg.db_path;
	so.busy_timeout_ms = cfg.busy_timeout_ms;
	so.cache_mib = cfg.cache_mib;
	so.mmap_mib = cfg.mmap_mib;
	if ((rc = cloud_store_open(&so, &store)) < 0) {
		fprintf(stderr, "regulars-cloud: store %s: %s\n", cfg.db_path, rg_strerror(rc));
		return 1;
	}
	if (seed_path) {
		rc = seed(store, &cfg, seed_path);
		cloud_store_close(store);
		return rc;
	}

	rg_wake_signals();

	/* A second connection for lookups and replication requests (WAL:
	 * readers never wait for the writer). */
	if ((rc = cloud_store_open(&so, &rstore)) < 0) {
		fprintf(stderr, "regulars-cloud: store %s: %s\n", cfg.db_path, rg_strerror(rc));
		cloud_store_close(store);
		return 1;
	}
	if ((rc = cloud_worker_new(&cfg, path, store, rstore, &w)) < 0) {
		fprintf(stderr, "regulars-cloud: cannot start the broker client: %s\n",
			rg_strerror(rc));
		cloud_store_close(rstore);
		cloud_store_close(store);
		return rc == RG_ERR_CONFIG ? 2 : 1;
	}
	rc = cloud_worker_run(w);
	cloud_worker_free(w);
	cloud_store_close(rstore);
	cloud_store_close(store);
	return rc < 0 ? 1 : 0;
}
