/*
 * ctl_pki.c - `regularsctl pki`: create the tenant CA (init), issue device,
 * gateway, cloud worker and broker certificates (issue), and show what a PKI
 * directory holds (list). A thin shell over rg_pki (common/pki.h); the rules
 * themselves live there and in docs/pki.md.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"
#include "common/err.h"
#include "common/pki.h"
#include "ctl.h"

int ctl_pki_main(int argc, char **argv);

static void usage(FILE *f)
{
	fprintf(
	    f,
	    "usage: regularsctl pki init  --dir DIR --tenant NAME [--days N] [--force]\n"
	    "       regularsctl pki issue --dir DIR --kind KIND --id ID [--store STORE]\n"
	    "                             [--san NAME]... [--days N] [--force]\n"
	    "       regularsctl pki list  --dir DIR\n\n"
	    "Manage the tenant PKI: one CA per directory (ca.crt, ca.key) and one key and\n"
	    "certificate per identity (<id>.crt, <id>.key). Keys are written 0600 and never\n"
	    "replaced without --force. See docs/pki.md.\n\n"
	    "  init     create the tenant CA (EC P-256, %d days by default)\n"
	    "  issue    issue a certificate (EC P-256, %d days by default, never beyond the CA)\n"
	    "  list     list the certificates: identity, kind, store, expiry, status\n\n"
	    "options:\n"
	    "  --dir DIR       the PKI directory (created by init)\n"
	    "  --tenant NAME   tenant name, 1-%d of [a-z0-9-]\n"
	    "  --kind KIND     device | gateway | cloud | broker | it (IT staff: regularsctl\n"
	    "                  config push/status on the central broker, named it-<name>)\n"
	    "  --id ID         the identity (certificate CN, MQTT username): 1-%d of [a-z0-9-];\n"
	    "                  a gateway is exactly gw-<store>, and only gateways start with gw-\n"
	    "  --store STORE   the store (required for device and gateway, optional for broker)\n"
	    "  --san NAME      broker only, repeatable (at least one): a DNS name or IP address\n"
	    "                  clients connect to, e.g. --san localhost --san 127.0.0.1\n"
	    "  --days N        validity in days\n"
	    "  --force         replace an existing key and certificate (same kind and store)\n",
	    PKI_CA_DAYS_DEFAULT, PKI_LEAF_DAYS_DEFAULT, PKI_TENANT_MAX, PKI_ID_MAX);
}

struct opts {
	const char *dir, *tenant, *kind, *id, *store;
	const char *sans[PKI_SAN_MAX];
	size_t n_sans;
	long days;
	bool force, help;
};

/* Parses argv (argv[0] is the action). Returns 0, or 2 after a usage error. */
static int parse(int argc, char **argv, const char *name, struct opts *o)
{
	enum { O_DIR = 1, O_TENANT, O_KIND, O_ID, O_STORE, O_SAN, O_DAYS, O_FORCE, O_HELP };
	static const struct option longopts[] = {
	    {"dir", required_argument, NULL, O_DIR},
	    {"tenant", required_argument, NULL, O_TENANT},
	    {"kind", required_argument, NULL, O_KIND},
	    {"id", required_argument, NULL, O_ID},
	    {"store", required_argument, NULL, O_STORE},
	    {"san", required_argument, NULL, O_SAN},
	    {"days", required_argument, NULL, O_DAYS},
	    {"force", no_argument, NULL, O_FORCE},
	    {"help", no_argument, NULL, O_HELP},
	    {NULL, 0, NULL, 0},
	};
	char msg[160];
	int c;

	memset(o, 0, sizeof *o);
	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		char *end;
		switch (c) {
		case O_DIR:
			o->dir = optarg;
			break;
		case O_TENANT:
			o->tenant = optarg;
			break;
		case O_KIND:
			o->kind = optarg;
			break;
		case O_ID:
			o->id = optarg;
			break;
		case O_STORE:
			o->store = optarg;
			break;
		case O_SAN:
			if (o->n_sans == PKI_SAN_MAX) {
				snprintf(msg, sizeof msg, "at most %d --san", PKI_SAN_MAX);
				return ctl_usage_error(name, msg);
			}
			o->sans[o->n_sans++] = optarg;
			break;
		case O_DAYS:
			o->days = strtol(optarg, &end, 10);
			if (*end || end == optarg || o->days < 1 || o->days > PKI_CA_DAYS_MAX) {
				snprintf(msg, sizeof msg,
					 "--days %.40s is not a number of days 1..%d", optarg,
					 PKI_CA_DAYS_MAX);
				return ctl_usage_error(name, msg);
			}
			break;
		case O_FORCE:
			o->force = true;
			break;
		case 'h':
		case O_HELP:
			o->help = true;
			break;
		default:
			return ctl_bad_option(name, argv, c);
		}
	}
	if (ctl_no_more_args(name, argc, argv))
		return 2;
	if (!o->help && !o->dir)
		return ctl_usage_error(name, "--dir is required");
	return 0;
}

static int fail(const char *what, const char *err)
{
	fprintf(stderr, "regularsctl %s: %s\n", what, err);
	return 1;
}

static int do_init(const struct opts *o)
{
	char err[PKI_ERR_MAX];
	struct pki_ca_params p = {
	    .tenant = o->tenant, .days = (unsigned)o->days, .force = o->force};

	if (o->kind || o->id || o->store || o->n_sans)
		return ctl_usage_error("pki init", "init takes --dir, --tenant, --days, --force");
	if (!o->tenant)
		return ctl_usage_error("pki init", "--tenant is required");
	if (pki_ca_create(o->dir, &p, err, sizeof err) < 0)
		return fail("pki init", err);
	if (o->force)
		fprintf(stderr,
			"regularsctl pki init: replaced the CA in %s: certificates issued "
			"under the old one are no longer trusted\n",
			o->dir);
	printf("created the CA of tenant %s: %s/ca.crt (share it), %s/ca.key (keep it secret)\n",
	       o->tenant, o->dir, o->dir);
	return 0;
}

static int do_issue(const struct opts *o)
{
	char err[PKI_ERR_MAX];
	int kind;

	if (o->tenant)
		return ctl_usage_error("pki issue", "--tenant belongs to pki init");
	if (!o->kind || !o->id)
		return ctl_usage_error("pki issue", "--kind and --id are required");
	if ((kind = pki_kind_parse(o->kind)) < 0)
		return ctl_usage_error("pki issue",
				       "--kind must be device, gateway, cloud, broker or it");
	if (o->days > PKI_LEAF_DAYS_MAX) {
		char msg[80];
		snprintf(msg, sizeof msg, "--days is at most %d for a certificate",
			 PKI_LEAF_DAYS_MAX);
		return ctl_usage_error("pki issue", msg);
	}
	struct pki_issue_params p = {
	    .kind = (enum pki_kind)kind,
	    .id = o->id,
	    .store = o->store,
	    .sans = o->sans,
	    .n_sans = o->n_sans,
	    .days = (unsigned)o->days,
	    .force = o->force,
	};
	if (pki_cert_issue(o->dir, &p, err, sizeof err) < 0)
		return fail("pki issue", err);
	printf("issued %s %s%s%s: %s/%s.crt, %s/%s.key\n", o->kind, o->id,
	       o->store ? " of store " : "", o->store ? o->store : "", o->dir, o->id, o->dir,
	       o->id);
	return 0;
}

static const char *date_of(int64_t t, char buf[32])
{
	struct tm tm;
	time_t tt = (time_t)t;
	if (!gmtime_r(&tt, &tm) || !strftime(buf, 32, "%Y-%m-%d %H:%M", &tm))
		snprintf(buf, 32, "?");
	return buf;
}

static int do_list(const struct opts *o)
{
	char err[PKI_ERR_MAX], path[4096], when[32];
	struct pki_cert_info ca, *v = NULL;
	int64_t now = rg_clock_wall_ms(rg_clock_system()) / 1000;
	int n;

	if (o->kind || o->id || o->store || o->n_sans || o->tenant || o->days || o->force)
		return ctl_usage_error("pki list", "list takes only --dir");
	if (snprintf(path, sizeof path, "%s/ca.crt", o->dir) >= (int)sizeof path)
		return fail("pki list", "directory path too long");
	if (pki_cert_info_read(path, &ca, err, sizeof err) < 0)
		return fail("pki list", err);
	if ((n = pki_dir_list(o->dir, &v, err, sizeof err)) < 0)
		return fail("pki list", err);
	printf("CA: %s (tenant %s), expires %s UTC%s\n", ca.cn, ca.tenant,
	       date_of(ca.not_after, when), now > ca.not_after ? " - EXPIRED" : "");
	printf("%-24s %-8s %-12s %-17s %s\n", "IDENTITY", "KIND", "STORE", "EXPIRES (UTC)",
	       "STATUS");
	for (int i = 0; i < n; i++) {
		const char *status = !v[i].trusted			 ? "not-signed-by-this-ca"
				     : now > v[i].not_after		 ? "expired"
				     : now < v[i].not_before		 ? "not-yet-valid"
				     : now + 30 * 86400 > v[i].not_after ? "expires-soon"
									 : "ok";
		printf("%-24s %-8s %-12s %-17s %s%s%s\n", v[i].cn, pki_kind_name(v[i].kind),
		       v[i].store[0] ? v[i].store : "-", date_of(v[i].not_after, when), status,
		       v[i].sans[0] ? "  san=" : "", v[i].sans);
	}
	free(v);
	return 0;
}

int ctl_pki_main(int argc, char **argv)
{
	struct opts o;
	const char *action = argc > 1 ? argv[1] : NULL;
	char name[32];
	int rc;

	if (!action || !strcmp(action, "--help") || !strcmp(action, "-h") ||
	    !strcmp(action, "help")) {
		usage(action ? stdout : stderr);
		return action ? 0 : 2;
	}
	if (strcmp(action, "init") && strcmp(action, "issue") && strcmp(action, "list"))
		return ctl_usage_error("pki", "the action must be init, issue or list");
	snprintf(name, sizeof name, "pki %s", action);
	if ((rc = parse(argc - 1, argv + 1, name, &o)) != 0)
		return rc;
	if (o.help) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(action, "init"))
		return do_init(&o);
	if (!strcmp(action, "issue"))
		return do_issue(&o);
	return do_list(&o);
}
