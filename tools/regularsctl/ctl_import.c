/*
 * ctl_import.c - `regularsctl import`: profiles and other channels'
 * interactions from JSON Lines or CSV files into the central store
 * (docs/import.md). The work is cloud_import_files (cloud-sync); this file
 * is the command line, the progress bar on a terminal and the summary.
 */
#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cloud/cloud.h"
#include "cloud/import.h"
#include "common/err.h"
#include "common/ident.h"
#include "common/log.h"
#include "ctl.h"

int ctl_import_main(int argc, char **argv);

static void usage(FILE *f)
{
	fprintf(
	    f,
	    "usage: regularsctl import --db CENTRAL.db [--tenant-key FILE] [--skip-bad]\n"
	    "                          [--batch N] [--max-errors N] FILE...\n\n"
	    "Load profiles (the customer format, docs/customers.md) and interactions of other\n"
	    "channels (web shop, call centre, POS, app) into the central store. FILE is JSON\n"
	    "Lines (.jsonl; profile lines and {\"type\":\"interaction\",...} lines may mix) or\n"
	    "CSV (.csv; a header row names the columns). Formats: docs/import.md.\n\n"
	    "Every line of every file is checked first; a bad line is reported as\n"
	    "FILE:LINE: field: message (up to --max-errors) and then nothing is imported,\n"
	    "unless --skip-bad. Profiles are loaded before interactions, in transactions of\n"
	    "--batch rows. Importing the same files again changes nothing.\n\n"
	    "  --db FILE          the central SQLite store (created if missing)\n"
	    "  --tenant-key FILE  the tenant identifier key (raw 16-64 bytes): needed when\n"
	    "                     lines carry identifiers (card numbers are tokenised)\n"
	    "  --skip-bad         import the good lines of files with bad ones\n"
	    "  --batch N          rows per transaction (1-%d, default %d)\n"
	    "  --max-errors N     bad lines listed (1-100000, default %d)\n\n"
	    "A progress bar goes to stderr on a terminal; a summary line to stdout. Exit 0\n"
	    "imported, 1 bad lines (nothing imported) or a failure, 2 bad usage.\n",
	    CLOUD_IMPORT_BATCH_MAX, CLOUD_IMPORT_BATCH_DEFAULT, CLOUD_IMPORT_ERRORS_DEFAULT);
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct bar {
	bool tty;
	double t0, last, phase_t0;
	const char *phase;
	size_t phase_rows0;
};

static size_t rows_of(const struct cloud_import_stats *st)
{
	return !strcmp(st->phase, "checking") ? st->lines : st->loaded;
}

static void bar_draw(void *ctx, const struct cloud_import_stats *st)
{
	struct bar *b = ctx;
	double t = now_s(), frac, rate, eta;
	char fill[31];
	int n;

	if (!b->tty)
		return;
	if (b->phase != st->phase) {
		b->phase = st->phase;
		b->phase_t0 = t;
		b->phase_rows0 = rows_of(st);
	}
	if (t - b->last < 0.2 && strcmp(st->phase, "done"))
		return;
	b->last = t;
	frac = st->work_total ? (double)st->work_done / (double)st->work_total : 1.0;
	if (frac > 1)
		frac = 1;
	n = (int)(frac * 30);
	memset(fill, '#', (size_t)n);
	memset(fill + n, '.', (size_t)(30 - n));
	fill[30] = '\0';
	rate = t > b->phase_t0 ? (double)(rows_of(st) - b->phase_rows0) / (t - b->phase_t0) : 0;
	eta = frac > 0.001 ? (t - b->t0) * (1 - frac) / frac : 0;
	fprintf(stderr, "\r[%s] %3d%% %-12s %10zu rows %9.0f rows/s ETA %2d:%02d ", fill,
		(int)(frac * 100), st->phase, rows_of(st), rate, (int)eta / 60, (int)eta % 60);
	if (!strcmp(st->phase, "done"))
		fputc('\n', stderr);
	fflush(stderr);
}

int ctl_import_main(int argc, char **argv)
{
	const char *name = "import";
	enum { O_DB = 1, O_KEY, O_SKIP, O_BATCH, O_MAXERR, O_HELP };
	static const struct option longopts[] = {
	    {"db", required_argument, NULL, O_DB},
	    {"tenant-key", required_argument, NULL, O_KEY},
	    {"skip-bad", no_argument, NULL, O_SKIP},
	    {"batch", required_argument, NULL, O_BATCH},
	    {"max-errors", required_argument, NULL, O_MAXERR},
	    {"help", no_argument, NULL, O_HELP},
	    {NULL, 0, NULL, 0},
	};
	const char *db = NULL, *keyfile = NULL;
	long long batch = CLOUD_IMPORT_BATCH_DEFAULT, maxerr = CLOUD_IMPORT_ERRORS_DEFAULT;
	bool skip = false;
	uint8_t key[IDENT_TENANT_KEY_MAX];
	size_t key_len = 0;
	struct cloud_store_opts so;
	struct cloud_store *s = NULL;
	struct cloud_import_opts io;
	struct cloud_import_stats st;
	struct bar b;
	char err[512];
	double t0, dt;
	int c, rc = 0;

	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		switch (c) {
		case O_DB:
			db = optarg;
			break;
		case O_KEY:
			keyfile = optarg;
			break;
		case O_SKIP:
			skip = true;
			break;
		case O_BATCH:
			rc = ctl_number(name, "--batch", optarg, 1, CLOUD_IMPORT_BATCH_MAX, &batch);
			break;
		case O_MAXERR:
			rc = ctl_number(name, "--max-errors", optarg, 1, 100000, &maxerr);
			break;
		case 'h':
		case O_HELP:
			usage(stdout);
			return 0;
		default:
			return ctl_bad_option(name, argv, c);
		}
		if (rc)
			return rc;
	}
	if (!db)
		return ctl_usage_error(name, "--db is required");
	if (optind >= argc)
		return ctl_usage_error(name, "no FILE to import");
	if (keyfile && (rc = cloud_tenant_key_read(keyfile, key, sizeof key, &key_len)) < 0)
		return ctl_fail(name, rc, "tenant key %s (raw 16-64 bytes)", keyfile);
	if (!getenv("REGULARS_LOG_LEVEL"))
		rg_log_set_level(RG_LOG_WARN);

	memset(&so, 0, sizeof so);
	so.path = db;
	if ((rc = cloud_store_open(&so, &s)) < 0) {
		rg_wipe(key, sizeof key);
		return ctl_fail(name, rc, "cannot open the store %s", db);
	}
	memset(&b, 0, sizeof b);
	b.tty = isatty(STDERR_FILENO);
	b.t0 = now_s();
	memset(&io, 0, sizeof io);
	io.tenant_key = keyfile ? key : NULL;
	io.key_len = key_len;
	io.batch = (size_t)batch;
	io.skip_bad = skip;
	io.max_errors = (size_t)maxerr;
	io.errors = stderr;
	io.progress = bar_draw;
	io.ctx = &b;
	t0 = now_s();
	rc = cloud_import_files(s, (const char *const *)argv + optind, (size_t)(argc - optind), &io,
				&st, err, sizeof err);
	dt = now_s() - t0;
	rg_wipe(key, sizeof key);
	cloud_store_close(s);
	if (b.tty && rc < 0 && b.last > 0)
		fputc('\n', stderr);
	if (rc < 0)
		return ctl_fail(name, 0, "%s", err);
	printf("import: %d file%s, %zu lines, %zu profiles (%zu written), %zu interactions "
	       "(%zu applied, %zu already there, %zu unresolved, %zu for erased people), %zu bad "
	       "line%s skipped, %.1f s, %.0f rows/s\n",
	       argc - optind, argc - optind == 1 ? "" : "s", st.lines, st.profiles, st.written,
	       st.interactions, st.applied.applied, st.applied.duplicates, st.applied.unresolved,
	       st.applied.erased, st.bad, st.bad == 1 ? "" : "s", dt,
	       dt > 0 ? (double)(st.profiles + st.interactions) / dt : 0.0);
	return 0;
}
