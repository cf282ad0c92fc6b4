/*
 * ctl_profile.c - `regularsctl profile`: the central store's operator
 * commands on one person (docs/cloud.md, "The identity graph"): show,
 * link a card, merge two profiles, unmerge a mistaken merge, erase. Each
 * change is one store transaction with its change-log rows; identifiers
 * are shown by type and token prefix, never raw.
 */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cJSON.h>

#include "cloud/cloud.h"
#include "common/customer.h"
#include "common/err.h"
#include "common/ident.h"
#include "common/log.h"
#include "ctl.h"

int ctl_profile_main(int argc, char **argv);

#define IDS_MAX 64
#define MERGES_MAX 64

static void usage(FILE *f)
{
	fprintf(
	    f,
	    "usage: regularsctl profile show    --db CENTRAL.db (ID | --card N --tenant-key FILE)\n"
	    "       regularsctl profile link    --db CENTRAL.db ID --card N --tenant-key FILE\n"
	    "                                   [--type loyalty|nfc_uid|qr] [--move]\n"
	    "       regularsctl profile merge   --db CENTRAL.db FROM INTO [--by NAME]\n"
	    "       regularsctl profile unmerge --db CENTRAL.db MERGE-ID [--by NAME]\n"
	    "       regularsctl profile erase   --db CENTRAL.db ID [--yes] [--by NAME]\n\n"
	    "One person in the central store (docs/cloud.md, \"The identity graph\").\n\n"
	    "  show     the profile (a merged-away id shows its survivor), identifiers by\n"
	    "           type and token prefix (never the card number), derived state,\n"
	    "           episodes, recent interactions and merges\n"
	    "  link     attach a card (--card is the value as printed or read, tokenised\n"
	    "           with the tenant key); a card another person holds is refused\n"
	    "           unless --move\n"
	    "  merge    FROM is absorbed into INTO: its cards and history count for INTO,\n"
	    "           FROM redirects there; prints the merge id\n"
	    "  unmerge  undo a merge exactly (refused while a later merge builds on it)\n"
	    "  erase    delete the person centrally (with every profile merged into them);\n"
	    "           asks for the id on a terminal unless --yes\n\n"
	    "  --by NAME  who asks, kept in the merge history (default $USER)\n\n"
	    "Exit 0 done, 1 refused or failed (the message says why), 2 bad usage.\n");
}

struct opts {
	const char *db, *card, *type, *keyfile, *by;
	bool move, yes;
};

static int open_store(const char *what, const char *db, struct cloud_store **s)
{
	struct cloud_store_opts so;
	struct stat sb;
	int rc;
	if (stat(db, &sb) < 0)
		return ctl_fail(what, 0, "no store at %s: %s", db, strerror(errno));
	memset(&so, 0, sizeof so);
	so.path = db;
	if ((rc = cloud_store_open(&so, s)) < 0)
		return ctl_fail(what, rc, "cannot open the store %s", db);
	return 0;
}

/* The token of --card under the tenant key, through the identifier
 * pipeline as an import would (the token a reader produces). */
static int card_token(const char *what, const struct opts *o, uint8_t tok[RG_TOKEN_LEN],
		      const char **type_name)
{
	uint8_t key[IDENT_TENANT_KEY_MAX];
	struct rg_customer_ident ci;
	struct ident_config ic;
	struct ident_pipeline *p = NULL;
	size_t key_len = 0;
	char why[256];
	int t, rc;

	if (!o->keyfile)
		return ctl_usage_error(what, "--card needs --tenant-key FILE");
	t = ident_type_from_name(o->type ? o->type : "loyalty");
	if (t < 0 || !rg_customer_ident_importable((enum ident_type)t))
		return ctl_usage_error(what, "--type is loyalty, nfc_uid or qr");
	if (strlen(o->card) > IDENT_TEXT_MAX)
		return ctl_usage_error(what, "--card is too long");
	if ((rc = cloud_tenant_key_read(o->keyfile, key, sizeof key, &key_len)) < 0)
		return ctl_fail(what, rc, "tenant key %s (raw 16-64 bytes)", o->keyfile);
	ident_config_default(&ic);
	ic.app_token.enabled = false;
	ic.totp.enabled = false;
	struct ident_pipeline_params pp = {
	    .config = &ic, .tenant_key = key, .tenant_key_len = key_len};
	rc = ident_pipeline_new(&pp, &p);
	rg_wipe(key, sizeof key);
	if (rc < 0)
		return ctl_fail(what, rc, "cannot build the identifier pipeline");
	memset(&ci, 0, sizeof ci);
	ci.type = (enum ident_type)t;
	snprintf(ci.value, sizeof ci.value, "%s", o->card);
	rc = rg_customer_ident_token(p, &ci, tok, why, sizeof why);
	rg_wipe(&ci, sizeof ci);
	ident_pipeline_free(p);
	if (rc < 0)
		return ctl_fail(what, 0, "--card: %s", why);
	*type_name = ident_type_name((enum ident_type)t);
	return 0;
}

static const char *str_of(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
	return cJSON_IsString(v) ? v->valuestring : "";
}

static void show_profile(struct cloud_store *s, const char *asked, const struct cloud_profile *p)
{
	struct cloud_identifier ids[IDS_MAX];
	struct cloud_merge ms[MERGES_MAX];
	char t[25], t2[25];
	cJSON *b = cJSON_Parse(p->body), *it;
	int n;

	if (strcmp(asked, p->id))
		printf("%s is merged into %s; showing %s\n", asked, p->id, p->id);
	printf("profile %s  version %lld%s\n", p->id, (long long)p->version,
	       p->erased ? "  ERASED (tombstone)" : "");
	if (!p->erased) {
		printf("  name: %s  tier: %s  home store: %s\n", str_of(b, "name"),
		       str_of(b, "tier"), str_of(b, "home_store"));
		printf("  points %lld  visits %lld  last seen %s\n", (long long)p->points,
		       (long long)p->visits,
		       p->last_seen_ms ? rg_time_format(p->last_seen_ms, t) : "never");
	}
	n = cloud_store_identifiers(s, p->id, ids, IDS_MAX);
	printf("identifiers (%d):\n", n < 0 ? 0 : n);
	for (int i = 0; i < n && i < IDS_MAX; i++)
		printf("  %-8s token %02x%02x%02x%02x...  linked to %s\n", ids[i].type,
		       ids[i].token[0], ids[i].token[1], ids[i].token[2], ids[i].token[3],
		       ids[i].owner);
	it = cJSON_GetObjectItemCaseSensitive(b, "episodes");
	printf("episodes (%d):\n", cJSON_GetArraySize(it));
	cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(b, "episodes"))
	{
		printf("  %-10s %-10s %-9s %s\n", str_of(it, "id"), str_of(it, "department"),
		       str_of(it, "status"), str_of(it, "title"));
	}
	it = cJSON_GetObjectItemCaseSensitive(b, "interactions");
	printf("recent interactions (%d):\n", cJSON_GetArraySize(it));
	cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(b, "interactions"))
	{
		printf("  %-24s %-12s %-10s %-16s %s\n", str_of(it, "time"), str_of(it, "channel"),
		       str_of(it, "department"), str_of(it, "kind"), str_of(it, "summary"));
	}
	n = cloud_store_merges(s, p->id, ms, MERGES_MAX);
	if (strcmp(asked, p->id)) {
		int m = cloud_store_merges(s, asked, ms + (n > 0 ? n : 0),
					   MERGES_MAX - (size_t)(n > 0 ? n : 0));
		if (m > 0)
			n = (n > 0 ? n : 0) + m;
	}
	printf("merges (%d):\n", n < 0 ? 0 : n);
	for (int i = 0; i < n && i < MERGES_MAX; i++) {
		printf("  merge %lld: %s into %s at %s by %s, %lld identifier%s moved",
		       (long long)ms[i].id, ms[i].from, ms[i].into, rg_time_format(ms[i].at_ms, t),
		       ms[i].by[0] ? ms[i].by : "-", (long long)ms[i].identifiers,
		       ms[i].identifiers == 1 ? "" : "s");
		if (ms[i].undone)
			printf("; undone at %s by %s", rg_time_format(ms[i].undone_ms, t2),
			       ms[i].undone_by[0] ? ms[i].undone_by : "-");
		putchar('\n');
	}
	cJSON_Delete(b);
}

static int need_args(const char *what, int argc, int want)
{
	char msg[80];
	if (argc - optind == want)
		return 0;
	snprintf(msg, sizeof msg, "expects %d argument%s", want, want == 1 ? "" : "s");
	return ctl_usage_error(what, msg);
}

static int confirm_erase(const char *what, const char *id)
{
	char line[128];
	if (!isatty(STDIN_FILENO))
		return ctl_usage_error(what, "not on a terminal: --yes confirms the erasure");
	fprintf(stderr, "Erase %s and every profile merged into it, for good? Type the id: ", id);
	if (!fgets(line, sizeof line, stdin))
		return ctl_fail(what, 0, "not confirmed; nothing was erased");
	line[strcspn(line, "\r\n")] = '\0';
	if (strcmp(line, id))
		return ctl_fail(what, 0, "not confirmed; nothing was erased");
	return 0;
}

int ctl_profile_main(int argc, char **argv)
{
	enum { O_DB = 1, O_CARD, O_TYPE, O_KEY, O_BY, O_MOVE, O_YES, O_HELP };
	static const struct option longopts[] = {
	    {"db", required_argument, NULL, O_DB},
	    {"card", required_argument, NULL, O_CARD},
	    {"type", required_argument, NULL, O_TYPE},
	    {"tenant-key", required_argument, NULL, O_KEY},
	    {"by", required_argument, NULL, O_BY},
	    {"move", no_argument, NULL, O_MOVE},
	    {"yes", no_argument, NULL, O_YES},
	    {"help", no_argument, NULL, O_HELP},
	    {NULL, 0, NULL, 0},
	};
	static const char *const subs[] = {"show", "link", "merge", "unmerge", "erase"};
	char what[32];
	const char *sub;
	struct opts o;
	struct cloud_store *s = NULL;
	struct cloud_op op;
	struct cloud_profile p;
	uint8_t tok[RG_TOKEN_LEN];
	const char *tname = NULL;
	bool known = false;
	int c, rc = 0;

	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	sub = argv[1];
	for (size_t i = 0; i < sizeof subs / sizeof subs[0]; i++)
		known |= !strcmp(sub, subs[i]);
	if (!known)
		return ctl_usage_error("profile",
				       "the subcommands are show, link, merge, unmerge, erase");
	snprintf(what, sizeof what, "profile %s", sub);
	memset(&o, 0, sizeof o);
	o.by = getenv("USER");
	argc--; /* the subcommand's own argv: argv[0] = "show" ... */
	argv++;
	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		switch (c) {
		case O_DB:
			o.db = optarg;
			break;
		case O_CARD:
			o.card = optarg;
			break;
		case O_TYPE:
			o.type = optarg;
			break;
		case O_KEY:
			o.keyfile = optarg;
			break;
		case O_BY:
			o.by = optarg;
			break;
		case O_MOVE:
			o.move = true;
			break;
		case O_YES:
			o.yes = true;
			break;
		case 'h':
		case O_HELP:
			usage(stdout);
			return 0;
		default:
			return ctl_bad_option(what, argv, c);
		}
	}
	if (!o.db)
		return ctl_usage_error(what, "--db is required");
	if (o.by && strlen(o.by) > 64)
		return ctl_usage_error(what, "--by is at most 64 bytes");
	if ((o.card || o.type || o.move) && strcmp(sub, "link") && strcmp(sub, "show"))
		return ctl_usage_error(what, "--card, --type and --move belong to link and show");
	if (!strcmp(sub, "show")) {
		if (o.card ? need_args(what, argc, 0) : need_args(what, argc, 1))
			return 2;
	} else if (!strcmp(sub, "link")) {
		if (need_args(what, argc, 1))
			return 2;
		if (!o.card)
			return ctl_usage_error(what, "--card is required");
	} else if (!strcmp(sub, "merge")) {
		if (need_args(what, argc, 2))
			return 2;
	} else if (need_args(what, argc, 1)) {
		return 2;
	}
	for (int i = optind; i < argc; i++)
		if (strcmp(sub, "unmerge") && !rg_customer_id_valid(argv[i]))
			return ctl_usage_error(what, "a profile id is [A-Za-z0-9_.:-]{1,64}");
	if (o.card && (rc = card_token(what, &o, tok, &tname)) != 0)
		return rc;
	if (!getenv("REGULARS_LOG_LEVEL"))
		rg_log_set_level(RG_LOG_WARN);
	if ((rc = open_store(what, o.db, &s)) != 0)
		return rc;
	memset(&op, 0, sizeof op);
	op.by = o.by ? o.by : "";

	if (!strcmp(sub, "show")) {
		const char *asked = o.card ? "the card" : argv[optind];
		rc = o.card ? cloud_store_profile_by_token(s, tok, &p)
			    : cloud_store_profile_get(s, argv[optind], &p);
		if (rc == 1) {
			show_profile(s, o.card ? p.id : asked, &p);
			cloud_profile_clear(&p);
			rc = 0;
		} else {
			rc = ctl_fail(what, rc < 0 ? rc : 0, "no profile for %s", asked);
		}
	} else if (!strcmp(sub, "link")) {
		rc = cloud_store_link(s, &op, argv[optind], tok, tname,
				      o.move ? CLOUD_LINK_MOVE : 0);
		if (rc == 1)
			printf("linked a %s card to %s\n", tname, argv[optind]);
		else if (rc == 0)
			printf("the %s card is %s's already\n", tname, argv[optind]);
		rc = rc < 0 ? ctl_fail(what, 0, "%s", op.err[0] ? op.err : rg_strerror(rc)) : 0;
	} else if (!strcmp(sub, "merge")) {
		int64_t mid = 0;
		rc = cloud_store_merge(s, &op, argv[optind], argv[optind + 1], &mid);
		if (rc == 0)
			printf("merge %lld: %s merged into %s\n", (long long)mid, argv[optind],
			       argv[optind + 1]);
		rc = rc < 0 ? ctl_fail(what, 0, "%s", op.err[0] ? op.err : rg_strerror(rc)) : 0;
	} else if (!strcmp(sub, "unmerge")) {
		long long mid;
		if ((rc = ctl_number(what, "MERGE-ID", argv[optind], 1, INT64_MAX, &mid)) == 0) {
			rc = cloud_store_unmerge(s, &op, mid);
			if (rc == 0)
				printf("merge %lld undone\n", mid);
			rc = rc < 0 ? ctl_fail(what, 0, "%s", op.err[0] ? op.err : rg_strerror(rc))
				    : 0;
		}
	} else {
		if (!o.yes && (rc = confirm_erase(what, argv[optind])) != 0) {
			cloud_store_close(s);
			return rc;
		}
		rc = cloud_store_erase(s, &op, argv[optind]);
		if (rc > 0)
			printf("erased %s (%d profile%s)\n", argv[optind], rc, rc == 1 ? "" : "s");
		else if (rc == 0)
			printf("%s was erased already\n", argv[optind]);
		rc = rc < 0 ? ctl_fail(what, 0, "%s", op.err[0] ? op.err : rg_strerror(rc)) : 0;
	}
	cloud_store_close(s);
	return rc;
}
