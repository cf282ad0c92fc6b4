/*
 * main.c - regularsctl, the one admin CLI of Regulars, git style: the first
 * argument names a subcommand, which parses the rest and has its own --help.
 * This file only dispatches; subcommands are listed in `cmds` below.
 */
#include <stdio.h>
#include <string.h>

#include "ctl.h"

static int version_main(int argc, char **argv);
int ctl_tap_main(int argc, char **argv);
int ctl_pki_main(int argc, char **argv);
int ctl_broker_main(int argc, char **argv);
int ctl_token_main(int argc, char **argv);
int ctl_customers_main(int argc, char **argv);
int ctl_device_main(int argc, char **argv);
int ctl_import_main(int argc, char **argv);
int ctl_profile_main(int argc, char **argv);
int ctl_config_main(int argc, char **argv);

static const struct ctl_cmd cmds[] = {
	{"version", "print the version", version_main},
	{"tap", "present a card or code to a simulated reader", ctl_tap_main},
	{"pki", "tenant CA and certificates (init, issue, list)", ctl_pki_main},
	{"broker", "generate Mosquitto broker configs (config)", ctl_broker_main},
	{"token", "app tokens and signing keys (keygen, pubkey, issue, verify)", ctl_token_main},
	{"customers", "sample customers and import files (generate, check)", ctl_customers_main},
	{"device", "a device's keys, cache and outbox (provision, seed, stats, ...)", ctl_device_main},
	{"import", "load profiles and channel interactions into the central store", ctl_import_main},
	{"profile", "one person centrally (show, link, merge, unmerge, erase)", ctl_profile_main},
	{"config", "signed configuration (keygen, anchor, sign, verify, push, status, diff)",
	 ctl_config_main},
};

static void usage(FILE *f)
{
	fprintf(f, "usage: regularsctl <command> [options]\n"
		   "       regularsctl <command> --help\n\n"
		   "Administer Regulars devices, gateways and the central store.\n\n"
		   "commands:\n");
	for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
		fprintf(f, "  %-12s %s\n", cmds[i].name, cmds[i].summary);
}

int ctl_usage_error(const char *name, const char *msg)
{
	fprintf(stderr, "regularsctl %s: %s (see 'regularsctl %s --help')\n", name, msg, name);
	return 2;
}

static int version_main(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	printf("regularsctl %s\n", REGULARS_VERSION);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		usage(stdout);
		return 0;
	}
	for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
		if (!strcmp(argv[1], cmds[i].name))
			return cmds[i].run(argc - 1, argv + 1);
	fprintf(stderr, "regularsctl: '%s' is not a command (see 'regularsctl --help')\n", argv[1]);
	return 2;
}
