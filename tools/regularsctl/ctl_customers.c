/*
 * ctl_customers.c - `regularsctl customers`: sample customers in the import
 * format (docs/customers.md) for demos, tests and the benchmark, and a check
 * of an import file. Generation is deterministic: customer i depends only on
 * (seed, i), so its card number and name are the same whatever --count, and
 * a million lines take a few seconds (a hand-rolled appender, no JSON tree).
 */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/customer.h"
#include "common/err.h"
#include "ctl.h"

int ctl_customers_main(int argc, char **argv);

#define COUNT_MAX 100000000LL
#define ID_MAX 99999999999LL /* 11 digits of the card number */
#define OUT_BUF (1 << 20)
#define LINE_ROOM 4096 /* a generated line is well under this */

/* 2026-01-15T12:00:00Z: interactions are dated up to 60 days before it, so
 * the output does not depend on when it was generated. */
#define BASE_S 1768478400LL

static void usage(FILE *f)
{
	fprintf(f,
		"usage: regularsctl customers generate --count N [--seed S] [--first-id K]\n"
		"                                      [--out FILE]\n"
		"       regularsctl customers check --file FILE\n\n"
		"Customers in the import format (docs/customers.md): JSON Lines, one customer\n"
		"per line, read by `regularsctl device seed` and central's seeding.\n\n"
		"  generate  write N sample customers p-<K>..p-<K+N-1> (zero-padded to 6\n"
		"            digits) to stdout or --out. Deterministic: customer i is the\n"
		"            same for the same seed whatever N, so its card is known:\n"
		"              loyalty  EAN-13 \"2\" + i as 11 digits + GS1 check digit\n"
		"                       (customer 1: 2000000000015)\n"
		"              nfc_uid  odd i only: 04 + i as 6 bytes, hex\n"
		"                       (customer 1: 04000000000001)\n"
		"            Names and languages from en/de/fr/nl, tier, points, consent\n"
		"            (about one in four gave none), home store, recent interactions\n"
		"            from web, app, call centre and store, open episodes for some,\n"
		"            a next-best-action line.\n"
		"  check     parse every line of FILE (no device needed); prints the count,\n"
		"            or the first bad line's number and what is wrong (exit 1)\n\n"
		"options:\n"
		"  --count N      customers to write, 1..%lld\n"
		"  --seed S       varies names, tiers and histories (default 1)\n"
		"  --first-id K   the first customer number (default 1; K+N-1 <= %lld)\n"
		"  --out FILE     write here instead of stdout\n"
		"  --file FILE    the import file to check\n",
		COUNT_MAX, ID_MAX);
}

/* ---- deterministic randomness: splitmix64 over (seed, i, stream) ---- */

struct rnd {
	uint64_t s;
};

static uint64_t rnd_next(struct rnd *r)
{
	uint64_t z = (r->s += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static unsigned rnd_below(struct rnd *r, unsigned n)
{
	return (unsigned)(rnd_next(r) % n);
}

/* ---- the appender ---- */

struct out {
	char *buf;
	size_t len;
	FILE *f;
	bool failed;
};

static void put(struct out *o, const char *s)
{
	size_t n = strlen(s);
	memcpy(o->buf + o->len, s, n);
	o->len += n;
}

static void put_u(struct out *o, uint64_t v, int width)
{
	char tmp[24];
	int n = 0;
	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (n < width)
		tmp[n++] = '0';
	while (n)
		o->buf[o->len++] = tmp[--n];
}

static void flush(struct out *o)
{
	if (o->len && fwrite(o->buf, 1, o->len, o->f) != o->len)
		o->failed = true;
	o->len = 0;
}

/* ---- the sample data ---- */

struct locale {
	const char *lang;
	const char *const *first;
	size_t n_first;
	const char *const *last;
	size_t n_last;
};

static const char *const en_first[] = {"Oliver",  "Amelia", "George", "Isla",	"Harry",  "Ava",
				       "Jack",	  "Emily",  "Noah",   "Sophia", "Thomas", "Grace",
				       "William", "Chloe",  "James",  "Lily",	"Oscar",  "Zoë",
				       "Arthur",  "Evelyn", "Samuel", "Ruby",	"Daniel", "Hannah"};
static const char *const en_last[] = {
    "Smith",	"Jones",  "Taylor",   "Brown",	"Williams", "Wilson", "Johnson", "Davies",
    "Robinson", "Wright", "Thompson", "Evans",	"Walker",   "White",  "Roberts", "Green",
    "Hall",	"Wood",	  "Jackson",  "Clarke", "O'Brien",  "Patel",  "Hughes",	 "Khan"};
static const char *const de_first[] = {
    "Anna",  "Lukas",  "Sophie", "Maximilian", "Marie", "Jonas",  "Lea",    "Felix",
    "Emma",  "Leon",   "Hannah", "Paul",       "Mia",	"Jürgen", "Lena",   "Tobias",
    "Sarah", "Niklas", "Katrin", "Matthias",   "Jörg",	"Greta",  "Stefan", "Ute"};
static const char *const de_last[] = {
    "Müller",	"Schmidt",  "Schneider", "Fischer",    "Weber", "Meyer",   "Wagner",  "Becker",
    "Schulz",	"Hoffmann", "Schäfer",	 "Koch",       "Bauer", "Richter", "Klein",   "Wolf",
    "Schröder", "Neumann",  "Schwarz",	 "Zimmermann", "Braun", "Krüger",  "Hofmann", "Weiß"};
static const char *const fr_first[] = {
    "Louise",  "Gabriel", "Camille", "Raphaël", "Léa",	  "Arthur",   "Chloé",	  "Hugo",
    "Manon",   "Jules",	  "Inès",    "Louis",	"Zoé",	  "François", "Juliette", "Étienne",
    "Margaux", "Théo",	  "Hélène",  "Mathis",	"Céline", "Noé",      "Amélie",	  "Baptiste"};
static const char *const fr_last[] = {
    "Martin",	"Bernard", "Dubois",  "Thomas",	  "Robert",  "Richard", "Petit",  "Durand",
    "Leroy",	"Moreau",  "Simon",   "Laurent",  "Lefèvre", "Michel",	"Garcia", "David",
    "Bertrand", "Roux",	   "Vincent", "Fournier", "Morel",   "Girard",	"André",  "Lefebvre"};
static const char *const nl_first[] = {"Daan",	"Emma",	 "Sem",	  "Julia",  "Lucas",  "Mila",
				       "Finn",	"Tess",	 "Levi",  "Sophie", "Milan",  "Zoë",
				       "Bram",	"Fleur", "Thijs", "Anouk",  "Ruben",  "Sanne",
				       "Jesse", "Lotte", "Sven",  "Noor",   "Pieter", "Femke"};
static const char *const nl_last[] = {
    "de Jong",	"Jansen",  "de Vries", "van den Berg", "van Dijk", "Bakker",
    "Janssen",	"Visser",  "Smit",     "Meijer",       "de Boer",  "Mulder",
    "de Groot", "Bos",	   "Vos",      "Peters",       "Hendriks", "van Leeuwen",
    "Dekker",	"Brouwer", "de Wit",   "Dijkstra",     "Smits",	   "de Graaf"};

#define N(a) (sizeof(a) / sizeof((a)[0]))

static const struct locale locales[] = {
    {"en", en_first, N(en_first), en_last, N(en_last)},
    {"de", de_first, N(de_first), de_last, N(de_last)},
    {"fr", fr_first, N(fr_first), fr_last, N(fr_last)},
    {"nl", nl_first, N(nl_first), nl_last, N(nl_last)},
};

static const char *const channels[] = {"web", "app", "call_centre", "store"};

struct dept {
	const char *name;
	const char *const *summaries;
	size_t n;
};

static const char *const s_orders[] = {"Order ready for pickup", "Online order shipped",
				       "Click and collect order placed", "Order delivered",
				       "Order amended: delivery slot changed"};
static const char *const s_service[] = {"Asked about a repair status",
					"Booked a repair appointment", "Reported a faulty item",
					"Warranty question answered", "Installation scheduled"};
static const char *const s_returns[] = {"Returned an item for a refund",
					"Exchanged for another size", "Asked how to return a gift"};
static const char *const s_loyalty[] = {"Redeemed points for a voucher",
					"Asked about the points balance", "Joined a member event"};
static const char *const s_billing[] = {"Invoice copy requested", "Payment method updated",
					"Instalment plan question"};

static const struct dept depts[] = {
    {"orders", s_orders, N(s_orders)},	  {"service", s_service, N(s_service)},
    {"returns", s_returns, N(s_returns)}, {"loyalty", s_loyalty, N(s_loyalty)},
    {"billing", s_billing, N(s_billing)},
};

static const char *const episode_titles[] = {
    "Dishwasher repair",     "Missing parcel",	 "Refund not received",	 "Sofa delivery damaged",
    "Laptop warranty claim", "Kitchen planning", "Wrong size delivered", "Bike service"};

static const char *const actions[] = {
    "Offer the extended warranty",     "Invite to the member evening",
    "Mention double points this week", "Suggest the matching accessories",
    "Ask about the open service case", "Offer free delivery on the next order",
    "Thank them for their loyalty"};

static const char *const public_items[] = {"points", "orders", "service", "offers"};

/* "2026-01-15T12:00:00Z" for unix seconds t (days from civil, Howard Hinnant). */
static void put_time(struct out *o, int64_t t)
{
	int64_t days = t / 86400, sod = t % 86400;
	int64_t z = days + 719468, era = z / 146097, doe = z - era * 146097;
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100), mp = (5 * doy + 2) / 153;
	int64_t d = doy - (153 * mp + 2) / 5 + 1, m = mp < 10 ? mp + 3 : mp - 9;
	int64_t y = yoe + era * 400 + (m <= 2);
	put(o, "\"");
	put_u(o, (uint64_t)y, 4);
	put(o, "-");
	put_u(o, (uint64_t)m, 2);
	put(o, "-");
	put_u(o, (uint64_t)d, 2);
	put(o, "T");
	put_u(o, (uint64_t)(sod / 3600), 2);
	put(o, ":");
	put_u(o, (uint64_t)(sod / 60 % 60), 2);
	put(o, ":");
	put_u(o, (uint64_t)(sod % 60), 2);
	put(o, "Z\"");
}

/* The 13-digit card of customer i: "2", i as 11 digits, GS1 check digit. */
static void loyalty_number(uint64_t i, char out[14])
{
	int sum = 0;
	out[0] = '2';
	for (int k = 11; k >= 1; k--, i /= 10)
		out[k] = (char)('0' + i % 10);
	for (int k = 0; k < 12; k++)
		sum += (out[k] - '0') * (k % 2 ? 3 : 1);
	out[12] = (char)('0' + (10 - sum % 10) % 10);
	out[13] = '\0';
}

static void put_customer(struct out *o, uint64_t seed, uint64_t i)
{
	static const char hex[] = "0123456789ABCDEF";
	struct rnd r = {.s = seed * 0x2545f4914f6cdd1dULL ^ (i * 0x9e3779b97f4a7c15ULL)};
	rnd_next(&r);
	const struct locale *loc = &locales[rnd_below(&r, N(locales))];
	const char *first = loc->first[rnd_below(&r, (unsigned)loc->n_first)];
	const char *last = loc->last[rnd_below(&r, (unsigned)loc->n_last)];
	unsigned tier_roll = rnd_below(&r, 100);
	const char *tier = tier_roll < 50   ? "bronze"
			   : tier_roll < 80 ? "silver"
			   : tier_roll < 95 ? "gold"
					    : "platinum";
	char card[14];

	put(o, "{\"id\":\"p-");
	put_u(o, i, 6);
	put(o, "\",\"version\":1,\"profile\":{\"name\":\"");
	put(o, first);
	put(o, " ");
	put(o, last);
	put(o, "\",\"first_name\":\"");
	put(o, first);
	put(o, "\",\"tier\":\"");
	put(o, tier);
	put(o, "\",\"points\":");
	put_u(o, rnd_below(&r, 200) * 50 + (tier_roll >= 80 ? 2000 : 0), 1);
	/* one in ten reads the screens in another language than their name's */
	put(o, ",\"preferences\":{\"language\":\"");
	put(o, rnd_below(&r, 10) ? loc->lang : locales[rnd_below(&r, N(locales))].lang);
	put(o, "\"},\"consent\":{\"show_in_public\":[");
	if (rnd_below(&r, 4)) { /* three in four consented to something */
		unsigned mask = 1 + rnd_below(&r, 15);
		bool any = false;
		for (unsigned k = 0; k < N(public_items); k++)
			if (mask & (1u << k)) {
				put(o, any ? ",\"" : "\"");
				put(o, public_items[k]);
				put(o, "\"");
				any = true;
			}
	}
	put(o, "]},\"home_store\":\"");
	put_u(o, 1 + rnd_below(&r, 60), 4);
	put(o, "\",\"interactions\":[");
	unsigned n_int = rnd_below(&r, 5);
	int64_t t = BASE_S - (int64_t)rnd_below(&r, 3 * 86400);
	for (unsigned k = 0; k < n_int; k++) {
		const struct dept *d = &depts[rnd_below(&r, N(depts))];
		put(o, k ? ",{\"channel\":\"" : "{\"channel\":\"");
		put(o, channels[rnd_below(&r, N(channels))]);
		put(o, "\",\"department\":\"");
		put(o, d->name);
		put(o, "\",\"summary\":\"");
		put(o, d->summaries[rnd_below(&r, (unsigned)d->n)]);
		put(o, "\",\"time\":");
		put_time(o, t);
		put(o, "}");
		t -= 3600 + (int64_t)rnd_below(&r, 14 * 86400); /* newest first */
	}
	put(o, "],\"episodes\":[");
	if (rnd_below(&r, 10) < 3) { /* three in ten have an open case */
		put(o, "{\"id\":\"e-");
		put_u(o, i, 6);
		put(o, "-1\",\"department\":\"");
		put(o, rnd_below(&r, 3) ? "service" : "orders");
		put(o, "\",\"status\":\"open\",\"title\":\"");
		put(o, episode_titles[rnd_below(&r, N(episode_titles))]);
		put(o, "\"}");
	}
	put(o, "],\"next_best_action\":\"");
	put(o, actions[rnd_below(&r, N(actions))]);
	put(o, "\"},\"identifiers\":[{\"type\":\"loyalty\",\"value\":\"");
	loyalty_number(i, card);
	put(o, card);
	put(o, "\"}");
	if (i % 2) {
		char uid[15] = "04";
		for (int k = 0; k < 6; k++) {
			unsigned b = (unsigned)(i >> (8 * (5 - k))) & 0xff;
			uid[2 + 2 * k] = hex[b >> 4];
			uid[3 + 2 * k] = hex[b & 15];
		}
		uid[14] = '\0';
		put(o, ",{\"type\":\"nfc_uid\",\"value\":\"");
		put(o, uid);
		put(o, "\"}");
	}
	put(o, "]}\n");
}

/* ---- options ---- */

struct opts {
	long long count, seed, first;
	const char *out, *file;
	bool has_count, help;
};

static int parse(int argc, char **argv, const char *name, struct opts *o)
{
	enum { O_COUNT = 1, O_SEED, O_FIRST, O_OUT, O_FILE, O_HELP };
	static const struct option longopts[] = {
	    {"count", required_argument, NULL, O_COUNT},
	    {"seed", required_argument, NULL, O_SEED},
	    {"first-id", required_argument, NULL, O_FIRST},
	    {"out", required_argument, NULL, O_OUT},
	    {"file", required_argument, NULL, O_FILE},
	    {"help", no_argument, NULL, O_HELP},
	    {NULL, 0, NULL, 0},
	};
	int c, rc = 0;

	memset(o, 0, sizeof *o);
	o->seed = 1;
	o->first = 1;
	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		switch (c) {
		case O_COUNT:
			o->has_count = true;
			rc = ctl_number(name, "--count", optarg, 1, COUNT_MAX, &o->count);
			break;
		case O_SEED:
			rc = ctl_number(name, "--seed", optarg, 0, INT64_MAX, &o->seed);
			break;
		case O_FIRST:
			rc = ctl_number(name, "--first-id", optarg, 1, ID_MAX, &o->first);
			break;
		case O_OUT:
			o->out = optarg;
			break;
		case O_FILE:
			o->file = optarg;
			break;
		case 'h':
		case O_HELP:
			o->help = true;
			break;
		default:
			return ctl_bad_option(name, argv, c);
		}
		if (rc)
			return rc;
	}
	if (ctl_no_more_args(name, argc, argv))
		return 2;
	return 0;
}

static int do_generate(const struct opts *o)
{
	const char *what = "customers generate";
	struct out w = {.f = stdout};

	if (!o->has_count)
		return ctl_usage_error(what, "--count is required");
	if (o->file)
		return ctl_usage_error(what, "generate takes --count, --seed, --first-id, --out");
	if (o->first + o->count - 1 > ID_MAX)
		return ctl_usage_error(what, "--first-id + --count - 1 exceeds 99999999999");
	if (o->out && !(w.f = fopen(o->out, "w"))) {
		fprintf(stderr, "regularsctl %s: cannot create %s: %s\n", what, o->out,
			strerror(errno));
		return 1;
	}
	if (!(w.buf = malloc(OUT_BUF + LINE_ROOM))) {
		fprintf(stderr, "regularsctl %s: out of memory\n", what);
		if (o->out)
			fclose(w.f);
		return 1;
	}
	for (long long k = 0; k < o->count && !w.failed; k++) {
		put_customer(&w, (uint64_t)o->seed, (uint64_t)(o->first + k));
		if (w.len >= OUT_BUF)
			flush(&w);
	}
	flush(&w);
	free(w.buf);
	if (fflush(w.f) != 0)
		w.failed = true;
	if (o->out && fclose(w.f) != 0)
		w.failed = true;
	if (w.failed) {
		fprintf(stderr, "regularsctl %s: cannot write %s: %s\n", what,
			o->out ? o->out : "stdout", strerror(errno));
		return 1;
	}
	return 0;
}

static int do_check(const struct opts *o)
{
	const char *what = "customers check";
	char err[512];
	FILE *f;
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	long long lineno = 0, customers = 0;
	int rc = 0;

	if (!o->file)
		return ctl_usage_error(what, "--file is required");
	if (o->has_count || o->out)
		return ctl_usage_error(what, "check takes --file");
	if (!(f = fopen(o->file, "r"))) {
		fprintf(stderr, "regularsctl %s: cannot open %s: %s\n", what, o->file,
			strerror(errno));
		return 1;
	}
	while ((n = getline(&line, &cap, f)) >= 0) {
		struct rg_customer c;
		size_t len = (size_t)n;
		lineno++;
		while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
			len--;
		if (strspn(line, " \t") >= len)
			continue; /* blank lines are skipped, as by the importers */
		if ((rc = rg_customer_parse(line, len, &c, err, sizeof err)) < 0) {
			fprintf(stderr, "regularsctl %s: %s line %lld: %s\n", what, o->file, lineno,
				err);
			break;
		}
		rg_customer_free(&c);
		customers++;
	}
	if (rc == 0 && ferror(f)) {
		fprintf(stderr, "regularsctl %s: cannot read %s\n", what, o->file);
		rc = RG_ERR_IO;
	}
	free(line);
	fclose(f);
	if (rc < 0)
		return 1;
	printf("%s: %lld customers, all valid\n", o->file, customers);
	return 0;
}

int ctl_customers_main(int argc, char **argv)
{
	struct opts o;
	const char *sub = argc > 1 ? argv[1] : NULL;
	int rc;

	if (!sub || !strcmp(sub, "--help") || !strcmp(sub, "-h") || !strcmp(sub, "help")) {
		usage(sub ? stdout : stderr);
		return sub ? 0 : 2;
	}
	if (strcmp(sub, "generate") && strcmp(sub, "check"))
		return ctl_usage_error("customers", "the subcommands are generate and check");
	if ((rc = parse(argc - 1, argv + 1, "customers", &o)) != 0)
		return rc;
	if (o.help) {
		usage(stdout);
		return 0;
	}
	return !strcmp(sub, "generate") ? do_generate(&o) : do_check(&o);
}
