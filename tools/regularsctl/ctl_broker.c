/*
 * ctl_broker.c - `regularsctl broker config`: writes the Mosquitto
 * configuration, ACL and certificate copies of a store broker or the central
 * broker from a PKI directory (rg_pki's pki_broker_config_write). The topic
 * rights are documented in docs/topics.md; the TLS setup in docs/pki.md.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/pki.h"
#include "ctl.h"

int ctl_broker_main(int argc, char **argv);

static void usage(FILE *f)
{
	fprintf(
	    f,
	    "usage: regularsctl broker config --dir PKI --role store|central [--store STORE]\n"
	    "                                 --port N --out DIR [--bind ADDR] [--broker-id ID]\n"
	    "                                 [--autosave SECONDS] [--run-as-root] [--force]\n\n"
	    "Write DIR/mosquitto.conf, DIR/acl, DIR/certs/ (CA certificate, broker certificate\n"
	    "and key) and DIR/data/ (persistence) for a Mosquitto 2.0 broker with mutual TLS:\n"
	    "client certificates required, the certificate CN is the username and client id,\n"
	    "anonymous access off, MQTT v5 reason codes for denials. Start it with\n"
	    "`mosquitto -c DIR/mosquitto.conf`; after regenerating, SIGHUP reloads the ACL.\n"
	    "Never reads the CA key. See docs/pki.md and docs/topics.md.\n\n"
	    "options:\n"
	    "  --dir PKI          the PKI directory (ca.crt and the broker's certificate)\n"
	    "  --role ROLE        store: the devices of one store and its gateway gw-<store>;\n"
	    "                     central: every gateway and cloud worker issued in PKI\n"
	    "  --store STORE      the store (store role only)\n"
	    "  --port N           the MQTT-over-TLS port\n"
	    "  --out DIR          where to write (created if missing)\n"
	    "  --bind ADDR        listen on this address only (default: every interface)\n"
	    "  --broker-id ID     the broker's certificate (default broker-<store> or\n"
	    "                     broker-central)\n"
	    "  --autosave S       seconds between persistence saves (default 30)\n"
	    "  --run-as-root      add `user root`: Mosquitto started as root otherwise drops to\n"
	    "                     user mosquitto and cannot read the 0600 key (test brokers)\n"
	    "  --force            replace a different broker key already in DIR/certs\n");
}

int ctl_broker_main(int argc, char **argv)
{
	enum {
		O_DIR = 1,
		O_ROLE,
		O_STORE,
		O_PORT,
		O_OUT,
		O_BIND,
		O_ID,
		O_AUTOSAVE,
		O_ROOT,
		O_FORCE,
		O_HELP
	};
	static const struct option longopts[] = {
	    {"dir", required_argument, NULL, O_DIR},
	    {"role", required_argument, NULL, O_ROLE},
	    {"store", required_argument, NULL, O_STORE},
	    {"port", required_argument, NULL, O_PORT},
	    {"out", required_argument, NULL, O_OUT},
	    {"bind", required_argument, NULL, O_BIND},
	    {"broker-id", required_argument, NULL, O_ID},
	    {"autosave", required_argument, NULL, O_AUTOSAVE},
	    {"run-as-root", no_argument, NULL, O_ROOT},
	    {"force", no_argument, NULL, O_FORCE},
	    {"help", no_argument, NULL, O_HELP},
	    {NULL, 0, NULL, 0},
	};
	const char *action = argc > 1 ? argv[1] : NULL;
	const char *dir = NULL, *role = NULL, *out = NULL;
	struct pki_broker_params p = {.role = PKI_BROKER_STORE};
	char err[PKI_ERR_MAX];
	long long port = 0, v;
	int c;

	if (!action || !strcmp(action, "--help") || !strcmp(action, "-h") ||
	    !strcmp(action, "help")) {
		usage(action ? stdout : stderr);
		return action ? 0 : 2;
	}
	if (strcmp(action, "config"))
		return ctl_usage_error("broker", "the action must be config");
	argc--;
	argv++;
	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		switch (c) {
		case O_DIR:
			dir = optarg;
			break;
		case O_ROLE:
			role = optarg;
			break;
		case O_STORE:
			p.store = optarg;
			break;
		case O_OUT:
			out = optarg;
			break;
		case O_BIND:
			p.bind = optarg;
			break;
		case O_ID:
			p.broker_id = optarg;
			break;
		case O_ROOT:
			p.run_as_root = true;
			break;
		case O_FORCE:
			p.force = true;
			break;
		case O_PORT:
			if (ctl_number("broker config", "--port", optarg, 1, 65535, &v))
				return 2;
			port = v;
			break;
		case O_AUTOSAVE:
			if (ctl_number("broker config", "--autosave", optarg, 1, 86400, &v))
				return 2;
			p.autosave_s = (unsigned)v;
			break;
		case 'h':
		case O_HELP:
			usage(stdout);
			return 0;
		default:
			return ctl_bad_option("broker config", argv, c);
		}
	}
	if (ctl_no_more_args("broker config", argc, argv))
		return 2;
	if (!dir || !role || !out || !port)
		return ctl_usage_error("broker config",
				       "--dir, --role, --port and --out are required");
	if (!strcmp(role, "store")) {
		p.role = PKI_BROKER_STORE;
		if (!p.store)
			return ctl_usage_error("broker config", "a store broker needs --store");
	} else if (!strcmp(role, "central")) {
		p.role = PKI_BROKER_CENTRAL;
		if (p.store)
			return ctl_usage_error("broker config",
					       "the central broker takes no --store");
	} else {
		return ctl_usage_error("broker config", "--role must be store or central");
	}
	p.port = (unsigned)port;
	if (pki_broker_config_write(dir, out, &p, err, sizeof err) < 0) {
		fprintf(stderr, "regularsctl broker config: %s\n", err);
		return 1;
	}
	printf("wrote %s/mosquitto.conf and %s/acl; start with: mosquitto -c %s/mosquitto.conf\n",
	       out, out, out);
	return 0;
}
