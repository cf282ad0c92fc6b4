/*
 * main.c - regulars-gateway: command line, signals, exit codes. Exit 0 after
 * a clean stop (SIGTERM/SIGINT), 1 when the spool or a broker client cannot
 * start, 2 for a bad command line or configuration. SIGHUP reloads
 * (docs/gateway.md says what a reload can change).
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mosquitto.h>

#include "common/err.h"
#include "common/wake.h"
#include "common/log.h"
#include "gateway.h"
#include "gateway/gwconfig.h"

#ifndef REGULARS_VERSION
#define REGULARS_VERSION "0.0.0"
#endif

static void usage(FILE *f)
{
	fprintf(f, "usage: regulars-gateway --config FILE\n"
		   "       regulars-gateway --help | --version\n"
		   "\n"
		   "The in-store gateway: takes device batches from the store broker into a\n"
		   "durable SQLite spool, forwards them to the central broker in order and by\n"
		   "priority lane, and relays central's acknowledgements back to each device.\n"
		   "It also relays IT's signed configuration documents to the store broker,\n"
		   "mirrors the devices' statuses to central, and, with a \"config\" object,\n"
		   "applies the gateway.* settings of those documents to itself.\n"
		   "\n"
		   "  --config FILE  the JSON configuration (docs/gateway.md,\n"
		   "                 example gateway/gateway.example.json)\n"
		   "  --help         this text\n"
		   "  --version      print the version\n"
		   "\n"
		   "Signals: SIGTERM/SIGINT stop cleanly; SIGHUP re-reads the configuration.\n"
		   "Logs: key=value lines on stderr; REGULARS_LOG_LEVEL or \"log_level\".\n"
		   "Exit status: 0 clean stop, 1 runtime failure, 2 bad usage or configuration.\n");
}

int main(int argc, char **argv)
{
	const char *path = NULL;
	struct gw_daemon *d;
	struct gwcfg cfg;
	char err[768];
	int rc;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			usage(stdout);
			return 0;
		}
		if (!strcmp(argv[i], "--version")) {
			printf("regulars-gateway %s\n", REGULARS_VERSION);
			return 0;
		}
		if (!strcmp(argv[i], "--config") && i + 1 < argc) {
			path = argv[++i];
			continue;
		}
		fprintf(stderr, "regulars-gateway: unknown argument \"%s\"\n\n", argv[i]);
		usage(stderr);
		return 2;
	}
	if (!path) {
		fprintf(stderr, "regulars-gateway: --config FILE is required\n\n");
		usage(stderr);
		return 2;
	}
	if (gwcfg_load(path, &cfg, err, sizeof err) < 0) {
		char q[800];
		rg_error("gateway", "config_invalid", "error=%s", rg_log_quote(q, sizeof q, err));
		fprintf(stderr, "regulars-gateway: %s\n", err);
		return 2;
	}
	if (!getenv("REGULARS_LOG_LEVEL"))
		rg_log_set_level((enum rg_log_level)cfg.log_level);

	rg_wake_signals();

	if ((rc = gw_daemon_new(&cfg, path, &d)) < 0)
		return rc == RG_ERR_CONFIG ? 2 : 1;
	rc = gw_daemon_run(d);
	gw_daemon_free(d);
	/* rg_mqtt initialises libmosquitto (and OpenSSL) once per process;
	 * release it so a clean exit is also leak-free under LeakSanitizer. */
	mosquitto_lib_cleanup();
	return rc < 0 ? 1 : 0;
}
