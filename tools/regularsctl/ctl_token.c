/*
 * ctl_token.c - `regularsctl token`: app-signing keys and app tokens
 * (keygen, pubkey, issue, verify), for app back-ends and tests. A thin shell
 * over rg_ident (common/ident_token.h); the token format is
 * docs/app-token.md. Private keys are written 0600 and never replaced
 * without --force.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/codec.h"
#include "common/crypto.h"
#include "common/err.h"
#include "common/ident.h"
#include "common/ident_token.h"
#include "ctl.h"

int ctl_token_main(int argc, char **argv);

#define TTL_DEFAULT 120
#define PUB_MAX 8 /* --pub given more than once: key rotation */
#define PEM_MAX 1024

static void usage(FILE *f)
{
	fprintf(
	    f,
	    "usage: regularsctl token keygen --out KEY.pem [--force]\n"
	    "       regularsctl token pubkey --key KEY.pem [--raw]\n"
	    "       regularsctl token issue  --key KEY.pem --customer REF [--ttl SECONDS]\n"
	    "                                [--not-before UNIX_SECONDS]\n"
	    "       regularsctl token verify --pub PUB.pem [--pub PUB.pem]... [--skew SECONDS]\n"
	    "                                [--max-lifetime SECONDS] [--now UNIX_SECONDS] "
	    "TOKEN\n\n"
	    "App tokens are the rotating QR codes of the customer's app: \"RGT1.\" and a\n"
	    "signed (ECDSA P-256) body with customer reference, issue time, expiry and nonce.\n"
	    "Format: docs/app-token.md.\n\n"
	    "  keygen   make the tenant's app-signing key (P-256, PEM, written 0600)\n"
	    "  pubkey   print its public key as PEM (for verify) or, with --raw, as\n"
	    "           base64url of the 65-byte point (for the device config's\n"
	    "           identifiers.app_token.keys)\n"
	    "  issue    print a token for customer REF (1-%d of [A-Za-z0-9._-]), valid\n"
	    "           from --not-before (default now) for --ttl seconds (default %d)\n"
	    "  verify   check a token offline like a device does (without replay\n"
	    "           memory); prints \"ok ...\" and exits 0, or prints the refusal\n"
	    "           reason (e.g. token_expired) and exits 1\n\n"
	    "options:\n"
	    "  --out FILE          where keygen writes the private key\n"
	    "  --force             let keygen replace an existing key file\n"
	    "  --key FILE          a private key (PEM or DER)\n"
	    "  --pub FILE          a public (or private) key to verify with; repeatable\n"
	    "  --customer REF      the customer reference the token carries\n"
	    "  --ttl SECONDS       lifetime, 1..%d\n"
	    "  --not-before T      issued-at / not-before, unix seconds\n"
	    "  --skew SECONDS      clock-skew allowance (default %d)\n"
	    "  --max-lifetime S    longest lifetime accepted (default %d)\n"
	    "  --now T             verify as of unix time T instead of the clock\n"
	    "  --raw               pubkey: base64url raw point instead of PEM\n",
	    IDENT_REF_MAX, TTL_DEFAULT, 86400, IDENT_TOKEN_SKEW_DEFAULT,
	    IDENT_TOKEN_LIFETIME_DEFAULT);
}

struct opts {
	const char *out, *key, *customer, *token;
	const char *pubs[PUB_MAX];
	size_t n_pubs;
	long long ttl, not_before, skew, max_lifetime, now;
	bool force, raw, help, has_ttl, has_not_before, has_skew, has_max, has_now;
};

static int parse(int argc, char **argv, const char *name, struct opts *o)
{
	enum {
		O_OUT = 1,
		O_FORCE,
		O_KEY,
		O_PUB,
		O_CUSTOMER,
		O_TTL,
		O_NOT_BEFORE,
		O_SKEW,
		O_MAX,
		O_NOW,
		O_RAW,
		O_HELP
	};
	static const struct option longopts[] = {
	    {"out", required_argument, NULL, O_OUT},
	    {"force", no_argument, NULL, O_FORCE},
	    {"key", required_argument, NULL, O_KEY},
	    {"pub", required_argument, NULL, O_PUB},
	    {"customer", required_argument, NULL, O_CUSTOMER},
	    {"ttl", required_argument, NULL, O_TTL},
	    {"not-before", required_argument, NULL, O_NOT_BEFORE},
	    {"skew", required_argument, NULL, O_SKEW},
	    {"max-lifetime", required_argument, NULL, O_MAX},
	    {"now", required_argument, NULL, O_NOW},
	    {"raw", no_argument, NULL, O_RAW},
	    {"help", no_argument, NULL, O_HELP},
	    {NULL, 0, NULL, 0},
	};
	char msg[160];
	int c, rc = 0;

	memset(o, 0, sizeof *o);
	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		switch (c) {
		case O_OUT:
			o->out = optarg;
			break;
		case O_FORCE:
			o->force = true;
			break;
		case O_KEY:
			o->key = optarg;
			break;
		case O_PUB:
			if (o->n_pubs == PUB_MAX) {
				snprintf(msg, sizeof msg, "at most %d --pub", PUB_MAX);
				return ctl_usage_error(name, msg);
			}
			o->pubs[o->n_pubs++] = optarg;
			break;
		case O_CUSTOMER:
			o->customer = optarg;
			break;
		case O_TTL:
			o->has_ttl = true;
			rc = ctl_number(name, "--ttl", optarg, 1, 86400, &o->ttl);
			break;
		case O_NOT_BEFORE:
			o->has_not_before = true;
			rc = ctl_number(name, "--not-before", optarg, 0, IDENT_TOKEN_TIME_MAX - 86400,
				    &o->not_before);
			break;
		case O_SKEW:
			o->has_skew = true;
			rc = ctl_number(name, "--skew", optarg, 0, 3600, &o->skew);
			break;
		case O_MAX:
			o->has_max = true;
			rc = ctl_number(name, "--max-lifetime", optarg, 1, 86400, &o->max_lifetime);
			break;
		case O_NOW:
			o->has_now = true;
			rc = ctl_number(name, "--now", optarg, 0, IDENT_TOKEN_TIME_MAX, &o->now);
			break;
		case O_RAW:
			o->raw = true;
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
	if (optind < argc)
		o->token = argv[optind++];
	if (ctl_no_more_args(name, argc, argv))
		return 2;
	return 0;
}

static int load_key(const char *what, const char *path, struct rg_ec_key **key)
{
	int rc = rg_ec_key_load_file(key, path);
	return rc < 0 ? ctl_fail(what, rc, "cannot load the key %s", path) : 0;
}

/* Writes all of buf to fd and syncs it. */
static int write_all(int fd, const char *buf, size_t n)
{
	while (n) {
		ssize_t w = write(fd, buf, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		buf += w;
		n -= (size_t)w;
	}
	return fsync(fd);
}

/* Creates path 0600 with the PEM; replaces an existing file only if force
 * (through a temporary file in the same directory and rename). */
static int write_private(const char *path, const char *pem, size_t n, bool force)
{
	char tmp[4096];
	int fd;

	if (!force) {
		fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd < 0)
			return -errno;
		if (write_all(fd, pem, n) < 0) {
			int e = errno;
			close(fd);
			unlink(path);
			return -e;
		}
		return close(fd) < 0 ? -errno : 0;
	}
	if (snprintf(tmp, sizeof tmp, "%s.XXXXXX", path) >= (int)sizeof tmp)
		return -ENAMETOOLONG;
	fd = mkstemp(tmp); /* 0600 */
	if (fd < 0)
		return -errno;
	if (write_all(fd, pem, n) < 0 || close(fd) < 0 || rename(tmp, path) < 0) {
		int e = errno;
		unlink(tmp);
		return -e;
	}
	return 0;
}

static void kid_hex(const struct rg_ec_key *k, char out[2 * IDENT_TOKEN_KID_LEN + 1])
{
	uint8_t kid[IDENT_TOKEN_KID_LEN];
	if (ident_token_kid(k, kid) < 0 || rg_hex_encode(kid, sizeof kid, out, 17) < 0)
		snprintf(out, 17, "?");
}

static int do_keygen(const struct opts *o)
{
	const char *what = "token keygen";
	struct rg_ec_key *k = NULL;
	char pem[PEM_MAX], kid[17];
	int n, rc;

	if (!o->out)
		return ctl_usage_error(what, "--out is required");
	if (o->key || o->n_pubs || o->customer || o->has_ttl || o->has_not_before || o->token ||
	    o->raw || o->has_skew || o->has_max || o->has_now)
		return ctl_usage_error(what, "keygen takes --out and --force");
	if ((rc = rg_ec_key_generate(&k, rg_rand_system())) < 0)
		return ctl_fail(what, rc, "cannot generate a key");
	n = rg_ec_key_write_private_pem(k, pem, sizeof pem);
	kid_hex(k, kid);
	rg_ec_key_free(k);
	if (n < 0)
		return ctl_fail(what, n, "cannot encode the key");
	rc = write_private(o->out, pem, (size_t)n, o->force);
	rg_wipe(pem, sizeof pem);
	if (rc == -EEXIST)
		return ctl_fail(what, 0, "%s exists (use --force to replace it)", o->out);
	if (rc < 0) {
		fprintf(stderr, "regularsctl %s: cannot write %s: %s\n", what, o->out,
			strerror(-rc));
		return 1;
	}
	printf("wrote %s (P-256 app-signing key, key id %s); keep it secret\n", o->out, kid);
	return 0;
}

static int do_pubkey(const struct opts *o)
{
	const char *what = "token pubkey";
	struct rg_ec_key *k;
	char pem[PEM_MAX];
	uint8_t raw[RG_EC_PUB_RAW_LEN];
	int rc;

	if (!o->key)
		return ctl_usage_error(what, "--key is required");
	if (o->out || o->force || o->n_pubs || o->customer || o->has_ttl || o->has_not_before ||
	    o->token || o->has_skew || o->has_max || o->has_now)
		return ctl_usage_error(what, "pubkey takes --key and --raw");
	if (load_key(what, o->key, &k))
		return 1;
	if (o->raw) {
		char b64[RG_B64URL_LEN(RG_EC_PUB_RAW_LEN) + 1];
		rc = rg_ec_key_public_raw(k, raw);
		if (rc >= 0)
			rc = rg_b64url_encode(raw, sizeof raw, b64, sizeof b64);
		if (rc >= 0)
			printf("%s\n", b64);
	} else {
		rc = rg_ec_key_write_public_pem(k, pem, sizeof pem);
		if (rc >= 0)
			fputs(pem, stdout);
	}
	rg_ec_key_free(k);
	return rc < 0 ? ctl_fail(what, rc, "cannot encode the public key of %s", o->key) : 0;
}

static int do_issue(const struct opts *o)
{
	const char *what = "token issue";
	struct rg_ec_key *k;
	char tok[IDENT_TOKEN_TEXT_MAX + 1];
	int64_t iat, ttl = o->has_ttl ? o->ttl : TTL_DEFAULT;
	int rc;

	if (!o->key || !o->customer)
		return ctl_usage_error(what, "--key and --customer are required");
	if (o->out || o->force || o->n_pubs || o->token || o->raw || o->has_skew || o->has_max ||
	    o->has_now)
		return ctl_usage_error(what,
				       "issue takes --key, --customer, --ttl and --not-before");
	if (!ident_ref_valid(o->customer, strlen(o->customer))) {
		char msg[96];
		snprintf(msg, sizeof msg, "--customer must be 1-%d of [A-Za-z0-9._-]",
			 IDENT_REF_MAX);
		return ctl_usage_error(what, msg);
	}
	iat = o->has_not_before ? o->not_before : rg_clock_wall_ms(rg_clock_system()) / 1000;
	if (load_key(what, o->key, &k))
		return 1;
	if (!rg_ec_key_has_private(k)) {
		rg_ec_key_free(k);
		return ctl_fail(what, 0, "%s holds no private key", o->key);
	}
	rc = ident_token_issue(k, o->customer, iat, iat + ttl, rg_rand_system(), tok, sizeof tok);
	rg_ec_key_free(k);
	if (rc < 0)
		return ctl_fail(what, rc, "cannot issue a token");
	printf("%s\n", tok);
	return 0;
}

static int do_verify(const struct opts *o)
{
	const char *what = "token verify";
	struct ident_keyring ring;
	struct ident_token_policy pol = {
	    .skew_s = o->has_skew ? o->skew : IDENT_TOKEN_SKEW_DEFAULT,
	    .max_lifetime_s = o->has_max ? o->max_lifetime : IDENT_TOKEN_LIFETIME_DEFAULT,
	};
	struct ident_token_claims c;
	enum ident_reason why;
	int64_t now = o->has_now ? o->now : rg_clock_wall_ms(rg_clock_system()) / 1000;
	int rc;

	if (!o->n_pubs || !o->token)
		return ctl_usage_error(what, "--pub and a TOKEN are required");
	if (o->out || o->force || o->key || o->customer || o->has_ttl || o->has_not_before ||
	    o->raw)
		return ctl_usage_error(what,
				       "verify takes --pub, --skew, --max-lifetime, --now, TOKEN");
	ident_keyring_init(&ring);
	for (size_t i = 0; i < o->n_pubs; i++) {
		struct rg_ec_key *k;
		if (load_key(what, o->pubs[i], &k)) {
			ident_keyring_clear(&ring);
			return 1;
		}
		rc = ident_keyring_add(&ring, k);
		rg_ec_key_free(k);
		if (rc < 0 && rc != RG_ERR_EXISTS) {
			ident_keyring_clear(&ring);
			return ctl_fail(what, rc, "cannot use the key %s", o->pubs[i]);
		}
	}
	rc = ident_token_verify(&ring, &pol, NULL, now, o->token, strlen(o->token), &c, &why);
	ident_keyring_clear(&ring);
	if (rc < 0)
		return ctl_fail(what, rc, "cannot verify");
	if (why != IDENT_OK) {
		printf("%s\n", ident_reason_name(why));
		return 1;
	}
	printf("ok customer=%s iat=%lld exp=%lld\n", c.ref, (long long)c.iat, (long long)c.exp);
	return 0;
}

int ctl_token_main(int argc, char **argv)
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
	if (strcmp(action, "keygen") && strcmp(action, "pubkey") && strcmp(action, "issue") &&
	    strcmp(action, "verify"))
		return ctl_usage_error("token",
				       "the action must be keygen, pubkey, issue or verify");
	snprintf(name, sizeof name, "token %s", action);
	if ((rc = parse(argc - 1, argv + 1, name, &o)) != 0)
		return rc;
	if (o.help) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(action, "keygen"))
		return do_keygen(&o);
	if (!strcmp(action, "pubkey"))
		return do_pubkey(&o);
	if (!strcmp(action, "issue"))
		return do_issue(&o);
	return do_verify(&o);
}
