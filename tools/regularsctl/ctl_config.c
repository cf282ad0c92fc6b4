/*
 * ctl_config.c - `regularsctl config`: IT's side of signed configuration
 * (docs/config.md). Config-signing keys (keygen), the key-set document
 * devices are provisioned with or a rotation body (anchor), signing by one or
 * more people (sign), the device's own check run on a laptop (verify),
 * publishing retained on the central broker (push), the receivers' reports
 * (status) and what changed between two documents (diff). The formats and
 * checks are rg_cfg's (common/cfgdoc.h, settings.h); this file only drives
 * them, so IT refuses exactly what a device would refuse.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cJSON.h>

#include "common/cfgdoc.h"
#include "common/clock.h"
#include "common/codec.h"
#include "common/crypto.h"
#include "common/err.h"
#include "common/file.h"
#include "common/json.h"
#include "common/log.h"
#include "common/mqtt.h"
#include "common/pki.h"
#include "common/settings.h"
#include "ctl.h"
#include "ctl_status.h"

int ctl_config_main(int argc, char **argv);

#define PEM_MAX 1024
#define NAME_MAX_LEN 64
#define LIST_MAX 64			/* --key, --keys, --clear, files */
#define TIMEOUT_MS_DEFAULT 10000	/* connect + each PUBACK */
#define WAIT_MS_DEFAULT 2000		/* status: how long retained reports are collected */
#define STATUS_PAYLOAD_MAX (256 * 1024) /* a status message bigger than this is skipped */
#define STATUS_MAX 100000		/* identities collected */
#define FILE_READ_MAX                                                                              \
	(4 * CFGDOC_ENVELOPE_MAX) /* verify/diff: read, then let rg_cfg say too_large */
#define TOPIC_ROOT "rg/v1/config/"

static void usage(FILE *f)
{
	fprintf(
	    f,
	    "usage: regularsctl config keygen --out DIR --name NAME\n"
	    "       regularsctl config anchor --tenant T --threshold N [--version V]\n"
	    "                                 [--expires-days D] [--out FILE] PUB...\n"
	    "       regularsctl config sign   --key K.key [--key K.key]... [--envelope IN]\n"
	    "                                 [--out FILE] DOC\n"
	    "       regularsctl config verify --trust ANCHOR [--keys ROTATION]... [--store S]\n"
	    "                                 [--device D] ENVELOPE\n"
	    "       regularsctl config push   --broker HOST:PORT --ca CA --cert IT.crt --key "
	    "IT.key\n"
	    "                                 [--timeout-ms N] [--clear SCOPE]... [ENVELOPE]...\n"
	    "       regularsctl config status --broker HOST:PORT --ca CA --cert IT.crt --key "
	    "IT.key\n"
	    "                                 [--wait-ms N] [--timeout-ms N] [--json]\n"
	    "       regularsctl config diff   OLD NEW\n\n"
	    "Signed configuration for devices and gateways (docs/config.md). Documents are\n"
	    "signed by a threshold of config-signing keys (ECDSA P-256) that devices trust\n"
	    "from their provisioned anchor; IT pushes them retained on the central broker.\n\n"
	    "  keygen   make a config-signing key: DIR/NAME.key (private, 0600; it never\n"
	    "           leaves this machine) and DIR/NAME.pub; prints the key id (64 hex).\n"
	    "           Never overwrites.\n"
	    "  anchor   write a key-set document of the public keys PUB... with --threshold:\n"
	    "           version 1 is the trust anchor devices are provisioned with (unsigned);\n"
	    "           --version 2.. is the body of a rotation, to sign with `sign` by a\n"
	    "           threshold of the current keys and of the new ones\n"
	    "  sign     sign the exact bytes of DOC (a config or key-set document) with each\n"
	    "           --key; with --envelope, add the signatures to that envelope over the\n"
	    "           same DOC (a second person signing). Refuses a document a device\n"
	    "           would refuse (unknown setting, bad value, expired, wrong scope)\n"
	    "  verify   check ENVELOPE as a device would, against ANCHOR after applying each\n"
	    "           --keys rotation in order (and --store/--device, when given). Prints\n"
	    "           OK and what it holds (exit 0), or the reason it is refused (exit 1)\n"
	    "  push     publish each ENVELOPE retained (QoS 1) on the topic its document\n"
	    "           names: rg/v1/config/tenant, store/<s>, device/<s>/<id>, keys/<v>;\n"
	    "           each waits for the broker's PUBACK. --clear SCOPE (tenant, store/S,\n"
	    "           device/S/ID, keys/V) removes a retained document instead\n"
	    "  status   collect the retained status reports of gateways and devices for\n"
	    "           --wait-ms and print each identity's online state and, per scope, the\n"
	    "           version running, status, applied_at and any rejection and its reason\n"
	    "  diff     the settings and header changes from OLD to NEW (each an envelope\n"
	    "           or a bare document); exit 0 same, 1 different, 2 trouble\n\n"
	    "options:\n"
	    "  --out DIR|FILE      keygen: the key directory; else the output file (default\n"
	    "                      stdout; replaced atomically)\n"
	    "  --name NAME         key file name, 1-%d of [A-Za-z0-9._-]\n"
	    "  --tenant T          the tenant (as in the PKI)\n"
	    "  --threshold N       signatures required, 1..number of keys\n"
	    "  --version V         key-set version (default 1, the anchor)\n"
	    "  --expires-days D    key-set expiry, days from now (default: none)\n"
	    "  --key FILE          sign: a private config-signing key, repeatable;\n"
	    "                      push/status: the IT identity's TLS key\n"
	    "  --envelope FILE     sign: an envelope over DOC whose signatures are kept\n"
	    "  --trust FILE        verify: the trust anchor (key set v1) devices hold\n"
	    "  --keys FILE         verify: a signed rotation envelope, repeatable, in order\n"
	    "  --store S           verify as a receiver of store S\n"
	    "  --device D          verify as device D\n"
	    "  --broker HOST:PORT  the central broker (MQTT over TLS)\n"
	    "  --ca FILE           the tenant CA certificate\n"
	    "  --cert FILE         an IT certificate (regularsctl pki issue --kind it)\n"
	    "  --timeout-ms N      connect and PUBACK bound (default %d)\n"
	    "  --clear SCOPE       push: clear a retained document, repeatable\n"
	    "  --wait-ms N         status: how long to collect reports (default %d)\n"
	    "  --json              status: one JSON object per identity per line\n",
	    NAME_MAX_LEN, TIMEOUT_MS_DEFAULT, WAIT_MS_DEFAULT);
}

/* ---- options ---- */

enum {
	O_OUT = 1,
	O_NAME,
	O_TENANT,
	O_THRESHOLD,
	O_VERSION,
	O_EXPIRES,
	O_KEY,
	O_ENVELOPE,
	O_TRUST,
	O_KEYS,
	O_STORE,
	O_DEVICE,
	O_BROKER,
	O_CA,
	O_CERT,
	O_TIMEOUT,
	O_CLEAR,
	O_WAIT,
	O_JSON,
	O_HELP,
	O__COUNT
};
#define BIT(o) (1u << (o))

static const struct option longopts[] = {
    {"out", required_argument, NULL, O_OUT},
    {"name", required_argument, NULL, O_NAME},
    {"tenant", required_argument, NULL, O_TENANT},
    {"threshold", required_argument, NULL, O_THRESHOLD},
    {"version", required_argument, NULL, O_VERSION},
    {"expires-days", required_argument, NULL, O_EXPIRES},
    {"key", required_argument, NULL, O_KEY},
    {"envelope", required_argument, NULL, O_ENVELOPE},
    {"trust", required_argument, NULL, O_TRUST},
    {"keys", required_argument, NULL, O_KEYS},
    {"store", required_argument, NULL, O_STORE},
    {"device", required_argument, NULL, O_DEVICE},
    {"broker", required_argument, NULL, O_BROKER},
    {"ca", required_argument, NULL, O_CA},
    {"cert", required_argument, NULL, O_CERT},
    {"timeout-ms", required_argument, NULL, O_TIMEOUT},
    {"clear", required_argument, NULL, O_CLEAR},
    {"wait-ms", required_argument, NULL, O_WAIT},
    {"json", no_argument, NULL, O_JSON},
    {"help", no_argument, NULL, O_HELP},
    {NULL, 0, NULL, 0},
};

struct list {
	const char *v[LIST_MAX];
	size_t n;
};

struct opts {
	unsigned given; /* BIT(O_*) of every option present */
	const char *out, *name, *tenant, *envelope, *trust, *store, *device, *broker, *ca, *cert;
	long long threshold, version, expires_days, timeout_ms, wait_ms;
	struct list keys, rotations, clears;
	bool json, help;
	char **args; /* positional arguments */
	int nargs;
};

static int add(const char *name, struct list *l, const char *opt, const char *v)
{
	char msg[80];
	if (l->n == LIST_MAX) {
		snprintf(msg, sizeof msg, "at most %d %s", LIST_MAX, opt);
		return ctl_usage_error(name, msg);
	}
	l->v[l->n++] = v;
	return 0;
}

static int parse(int argc, char **argv, const char *name, struct opts *o)
{
	int c, rc = 0;

	memset(o, 0, sizeof *o);
	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		if (c > 0 && c < O__COUNT)
			o->given |= BIT(c);
		switch (c) {
		case O_OUT:
			o->out = optarg;
			break;
		case O_NAME:
			o->name = optarg;
			break;
		case O_TENANT:
			o->tenant = optarg;
			break;
		case O_THRESHOLD:
			rc = ctl_number(name, "--threshold", optarg, 1, CFGDOC_KEYS_MAX,
					&o->threshold);
			break;
		case O_VERSION:
			rc = ctl_number(name, "--version", optarg, 1, (1LL << 53) - 1, &o->version);
			break;
		case O_EXPIRES:
			rc = ctl_number(name, "--expires-days", optarg, 1, 36500, &o->expires_days);
			break;
		case O_KEY:
			rc = add(name, &o->keys, "--key", optarg);
			break;
		case O_ENVELOPE:
			o->envelope = optarg;
			break;
		case O_TRUST:
			o->trust = optarg;
			break;
		case O_KEYS:
			rc = add(name, &o->rotations, "--keys", optarg);
			break;
		case O_STORE:
			o->store = optarg;
			break;
		case O_DEVICE:
			o->device = optarg;
			break;
		case O_BROKER:
			o->broker = optarg;
			break;
		case O_CA:
			o->ca = optarg;
			break;
		case O_CERT:
			o->cert = optarg;
			break;
		case O_TIMEOUT:
			rc = ctl_number(name, "--timeout-ms", optarg, 100, 600000, &o->timeout_ms);
			break;
		case O_CLEAR:
			rc = add(name, &o->clears, "--clear", optarg);
			break;
		case O_WAIT:
			rc = ctl_number(name, "--wait-ms", optarg, 0, 600000, &o->wait_ms);
			break;
		case O_JSON:
			o->json = true;
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
	o->args = argv + optind;
	o->nargs = argc - optind;
	if (!(o->given & BIT(O_TIMEOUT)))
		o->timeout_ms = TIMEOUT_MS_DEFAULT;
	if (!(o->given & BIT(O_WAIT)))
		o->wait_ms = WAIT_MS_DEFAULT;
	return 0;
}

/* A usage error if an option outside allowed was given. */
static int only(const char *name, const struct opts *o, unsigned allowed)
{
	char msg[120];
	unsigned extra = o->given & ~(allowed | BIT(O_HELP));
	if (!extra)
		return 0;
	for (int i = 1; i < O__COUNT; i++)
		if (extra & BIT(i)) {
			for (const struct option *l = longopts; l->name; l++)
				if (l->val == i) {
					snprintf(msg, sizeof msg, "--%s does not apply here",
						 l->name);
					return ctl_usage_error(name, msg);
				}
		}
	return ctl_usage_error(name, "an option does not apply here");
}

/* ---- files ---- */

static int64_t now_s(void)
{
	return rg_clock_wall_ms(rg_clock_system()) / 1000;
}

/* Read a whole file; 1 after printing the error. */
static int slurp(const char *what, const char *path, size_t max, char **buf, size_t *len)
{
	char err[512];
	int rc = rg_file_read(path, max, buf, len, err, sizeof err);
	if (rc == RG_ERR_TOOBIG)
		return ctl_fail(what, 0, "%s is over the limit of %zu bytes", path, max);
	return rc < 0 ? ctl_fail(what, 0, "%s", err) : 0;
}

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
	return 0;
}

/* text to stdout (path NULL) or to path, replaced atomically (a temporary
 * file in the same directory, fsync'ed, renamed). 1 after an error. */
static int emit(const char *what, const char *path, const char *text, size_t len)
{
	char tmp[4096];
	int fd;

	if (!path) {
		if (fwrite(text, 1, len, stdout) != len || fflush(stdout))
			return ctl_fail(what, 0, "cannot write to stdout");
		return 0;
	}
	if (snprintf(tmp, sizeof tmp, "%s.XXXXXX", path) >= (int)sizeof tmp)
		return ctl_fail(what, 0, "%s: path too long", path);
	if ((fd = mkstemp(tmp)) < 0)
		return ctl_fail(what, 0, "cannot create a file beside %s: %s", path,
				strerror(errno));
	if (write_all(fd, text, len) < 0 || fchmod(fd, 0644) < 0 || fsync(fd) < 0) {
		int e = errno;
		close(fd);
		unlink(tmp);
		return ctl_fail(what, 0, "cannot write %s: %s", path, strerror(e));
	}
	if (close(fd) < 0 || rename(tmp, path) < 0) {
		int e = errno;
		unlink(tmp);
		return ctl_fail(what, 0, "cannot write %s: %s", path, strerror(e));
	}
	return 0;
}

/* Create path exclusively with mode and write text; -errno on failure (the
 * file is removed again if it was created). */
static int create_excl(const char *path, const char *text, size_t len, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
	if (fd < 0)
		return -errno;
	if (write_all(fd, text, len) < 0 || fsync(fd) < 0) {
		int e = errno;
		close(fd);
		unlink(path);
		return -e;
	}
	if (close(fd) < 0) {
		int e = errno;
		unlink(path);
		return -e;
	}
	return 0;
}

static void keyid_hex(const uint8_t id[RG_SHA256_LEN], char out[CFGDOC_KEYID_HEX + 1])
{
	rg_hex_encode(id, RG_SHA256_LEN, out, CFGDOC_KEYID_HEX + 1);
}

/* ---- keygen ---- */

static bool name_ok(const char *s)
{
	size_t n = 0;
	if (!s || !*s || *s == '.' || *s == '-')
		return false;
	for (; s[n]; n++) {
		char c = s[n];
		if (n >= NAME_MAX_LEN ||
		    !((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return false;
	}
	return true;
}

static int do_keygen(const struct opts *o)
{
	const char *what = "config keygen";
	char kpath[4096], ppath[4096], priv[PEM_MAX], pub[PEM_MAX], hex[CFGDOC_KEYID_HEX + 1];
	uint8_t id[RG_SHA256_LEN];
	struct rg_ec_key *k = NULL;
	struct stat st;
	int np, nq, rc;

	if (only(what, o, BIT(O_OUT) | BIT(O_NAME)))
		return 2;
	if (!o->out || !o->name)
		return ctl_usage_error(what, "--out DIR and --name NAME are required");
	if (o->nargs)
		return ctl_usage_error(what, "keygen takes no arguments");
	if (!name_ok(o->name))
		return ctl_usage_error(what, "--name must be 1-64 of [A-Za-z0-9._-], not "
					     "starting with '.' or '-'");
	if (stat(o->out, &st) < 0 || !S_ISDIR(st.st_mode))
		return ctl_fail(what, 0, "%s is not a directory", o->out);
	if (snprintf(kpath, sizeof kpath, "%s/%s.key", o->out, o->name) >= (int)sizeof kpath ||
	    snprintf(ppath, sizeof ppath, "%s/%s.pub", o->out, o->name) >= (int)sizeof ppath)
		return ctl_fail(what, 0, "%s: path too long", o->out);
	if (access(kpath, F_OK) == 0 || access(ppath, F_OK) == 0)
		return ctl_fail(what, 0, "%s or %s exists: a key is never replaced", kpath, ppath);
	if ((rc = rg_ec_key_generate(&k, rg_rand_system())) < 0)
		return ctl_fail(what, rc, "cannot generate a key");
	np = rg_ec_key_write_private_pem(k, priv, sizeof priv);
	nq = rg_ec_key_write_public_pem(k, pub, sizeof pub);
	rc = rg_ec_key_id(k, id);
	rg_ec_key_free(k);
	if (np < 0 || nq < 0 || rc < 0) {
		rg_wipe(priv, sizeof priv);
		return ctl_fail(what, np < 0 ? np : nq < 0 ? nq : rc, "cannot encode the key");
	}
	rc = create_excl(kpath, priv, (size_t)np, 0600);
	rg_wipe(priv, sizeof priv);
	if (rc < 0)
		return ctl_fail(what, 0, "cannot create %s: %s", kpath, strerror(-rc));
	if ((rc = create_excl(ppath, pub, (size_t)nq, 0644)) < 0) {
		unlink(kpath); /* a key without its public half would only confuse */
		return ctl_fail(what, 0, "cannot create %s: %s", ppath, strerror(-rc));
	}
	keyid_hex(id, hex);
	printf("%s\n", hex);
	fprintf(stderr,
		"regularsctl %s: wrote %s (private, 0600: it stays on this machine) and %s "
		"(public: for the anchor)\n",
		what, kpath, ppath);
	return 0;
}

/* ---- anchor ---- */

/* Appends to a fixed buffer; false once it is full. */
static bool put(char *buf, size_t cap, size_t *len, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static bool put(char *buf, size_t cap, size_t *len, const char *fmt, ...)
{
	va_list ap;
	int n;
	if (*len >= cap)
		return false;
	va_start(ap, fmt);
	n = vsnprintf(buf + *len, cap - *len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= cap - *len) {
		*len = cap;
		return false;
	}
	*len += (size_t)n;
	return true;
}

static int do_anchor(const struct opts *o)
{
	const char *what = "config anchor";
	struct cfgdoc_keyset ks;
	/* One line per key: the document is read (and compared) by people. */
	static char text[4096 + CFGDOC_KEYS_MAX * 256];
	char err[512], t[21], hex[CFGDOC_KEYS_MAX][CFGDOC_KEYID_HEX + 1];
	int64_t now = now_s(), version = o->version ? o->version : 1;
	size_t n = (size_t)o->nargs, len = 0;
	bool ok;

	if (only(what, o,
		 BIT(O_TENANT) | BIT(O_THRESHOLD) | BIT(O_VERSION) | BIT(O_EXPIRES) | BIT(O_OUT)))
		return 2;
	if (!o->tenant || !o->threshold)
		return ctl_usage_error(what, "--tenant and --threshold are required");
	if (!pki_tenant_valid(o->tenant))
		return ctl_usage_error(what, "--tenant must be the PKI's tenant name: 1-32 of "
					     "[a-z0-9-]");
	if (n == 0)
		return ctl_usage_error(what, "name at least one public key file (NAME.pub)");
	if (n > CFGDOC_KEYS_MAX) {
		char msg[64];
		snprintf(msg, sizeof msg, "at most %d keys in a set", CFGDOC_KEYS_MAX);
		return ctl_usage_error(what, msg);
	}
	if ((size_t)o->threshold > n) {
		char msg[96];
		snprintf(msg, sizeof msg, "--threshold %lld is more than the %zu keys given",
			 o->threshold, n);
		return ctl_usage_error(what, msg);
	}
	cfgdoc_time_format(now, t);
	ok = put(text, sizeof text, &len,
		 "{\n  \"type\": \"regulars-keys\",\n  \"tenant\": \"%s\",\n"
		 "  \"version\": %lld,\n  \"issued\": \"%s\",\n",
		 o->tenant, (long long)version, t);
	if (o->expires_days) {
		cfgdoc_time_format(now + o->expires_days * 86400, t);
		ok = ok && put(text, sizeof text, &len, "  \"expires\": \"%s\",\n", t);
	}
	ok = ok &&
	     put(text, sizeof text, &len, "  \"threshold\": %lld,\n  \"keys\": [\n", o->threshold);
	for (size_t i = 0; i < n; i++) {
		const char *path = o->args[i];
		struct rg_ec_key *k = NULL;
		uint8_t raw[RG_EC_PUB_RAW_LEN], id[RG_SHA256_LEN];
		char b64[RG_B64URL_LEN(RG_EC_PUB_RAW_LEN) + 1];
		int krc = rg_ec_key_load_file(&k, path);
		if (krc < 0)
			return ctl_fail(what, krc, "cannot load the public key %s", path);
		if (rg_ec_key_has_private(k)) {
			rg_ec_key_free(k);
			return ctl_fail(what, 0,
					"%s is a private key: give the public .pub file (private "
					"keys stay with their owner)",
					path);
		}
		krc = rg_ec_key_public_raw(k, raw);
		if (krc >= 0)
			krc = rg_ec_key_id(k, id);
		rg_ec_key_free(k);
		if (krc < 0)
			return ctl_fail(what, krc, "%s", path);
		keyid_hex(id, hex[i]);
		for (size_t j = 0; j < i; j++)
			if (!strcmp(hex[i], hex[j]))
				return ctl_fail(what, 0, "%s is the same key as %s", path,
						o->args[j]);
		rg_b64url_encode(raw, sizeof raw, b64, sizeof b64);
		ok = ok && put(text, sizeof text, &len,
			       "    {\"keyid\": \"%s\",\n     \"public\": \"%s\"}%s\n", hex[i], b64,
			       i + 1 < n ? "," : "");
	}
	ok = ok && put(text, sizeof text, &len, "  ]\n}\n");
	if (!ok)
		return ctl_fail(what, RG_ERR_TOOBIG, "building the key set");
	/* What devices will parse: check it with their parser before anyone signs it. */
	if (cfgdoc_keyset_parse(text, len, &ks, err, sizeof err) < 0)
		return ctl_fail(what, 0, "%s", err);
	if (emit(what, o->out, text, len))
		return 1;
	if (o->out)
		printf("wrote key set v%lld of tenant %s to %s: %zu keys, threshold %lld%s\n",
		       (long long)version, o->tenant, o->out, n, o->threshold,
		       version == 1
			   ? " (the trust anchor to provision devices with)"
			   : " (sign it with a threshold of the current and the new keys)");
	return 0;
}

/* ---- sign ---- */

/* The "type" of a document's JSON, or NULL (with err) when it is not one. */
static const char *doc_type(const cJSON *root, char *err, size_t errcap)
{
	const cJSON *t = cJSON_GetObjectItemCaseSensitive(root, "type");
	if (!cJSON_IsObject(root)) {
		snprintf(err, errcap, "not a JSON object");
		return NULL;
	}
	if (!cJSON_IsString(t) || (strcmp(t->valuestring, "regulars-config") &&
				   strcmp(t->valuestring, "regulars-keys"))) {
		snprintf(err, errcap,
			 "key \"type\" is not \"regulars-config\" or \"regulars-keys\": not a "
			 "configuration or key-set document");
		return NULL;
	}
	return t->valuestring;
}

static void free_keys(struct rg_ec_key **k, size_t n)
{
	for (size_t i = 0; i < n; i++)
		rg_ec_key_free(k[i]);
}

/* Check a config document the way a receiver will, with the signers' own
 * keys as the trust set: the whole of cfgdoc_verify but the threshold. */
static int check_signed(const char *what, const char *doc_path, const cJSON *root,
			struct rg_ec_key *const *keys, size_t n, const char *envelope)
{
	struct cfgdoc_keyset trust;
	struct cfgdoc d;
	const cJSON *tenant = cJSON_GetObjectItemCaseSensitive(root, "tenant");
	char err[512];

	memset(&trust, 0, sizeof trust);
	snprintf(trust.tenant, sizeof trust.tenant, "%s",
		 cJSON_IsString(tenant) ? tenant->valuestring : "");
	trust.version = 1;
	trust.threshold = 1;
	for (size_t i = 0; i < n && trust.n < CFGDOC_KEYS_MAX; i++, trust.n++)
		if (rg_ec_key_id(keys[i], trust.keys[trust.n].id) < 0 ||
		    rg_ec_key_public_raw(keys[i], trust.keys[trust.n].pub) < 0)
			return ctl_fail(what, RG_ERR_CRYPTO, "key %zu", i + 1);
	const struct cfgdoc_expect exp = {.store = NULL,
					  .device = NULL,
					  .scope = -1,
					  .now = now_s(),
					  .applied_version = 0,
					  .check_settings = true};
	enum cfgdoc_reason r =
	    cfgdoc_verify(&trust, envelope, strlen(envelope), &exp, &d, err, sizeof err);
	cfgdoc_clear(&d);
	if (r == CFGDOC_OK)
		return 0;
	return ctl_fail(what, 0, "%s: %s: %s (not signed)", doc_path, cfgdoc_reason_name(r), err);
}

static int count_sigs(const char *envelope)
{
	cJSON *root = cJSON_Parse(envelope);
	int n = cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(root, "signatures"));
	cJSON_Delete(root);
	return n;
}

static int do_sign(const struct opts *o)
{
	const char *what = "config sign";
	struct rg_ec_key *keys[LIST_MAX];
	char *doc = NULL, *in = NULL, *env = NULL, err[512];
	size_t doc_len = 0, in_len = 0, nk = 0;
	cJSON *root = NULL;
	const char *type;
	int rc = 1;

	if (only(what, o, BIT(O_KEY) | BIT(O_ENVELOPE) | BIT(O_OUT)))
		return 2;
	if (!o->keys.n)
		return ctl_usage_error(what, "at least one --key is required");
	if (o->nargs != 1)
		return ctl_usage_error(what, "name exactly one document to sign");
	if (slurp(what, o->args[0], CFGDOC_ENVELOPE_MAX, &doc, &doc_len))
		goto out;
	if (rg_json_parse(doc, doc_len, CFGDOC_ENVELOPE_MAX, &root, err, sizeof err) < 0) {
		ctl_fail(what, 0, "%s: not JSON: %s", o->args[0], err);
		goto out;
	}
	if (!(type = doc_type(root, err, sizeof err))) {
		ctl_fail(what, 0, "%s: %s", o->args[0], err);
		goto out;
	}
	if (!strcmp(type, "regulars-keys")) {
		struct cfgdoc_keyset ks;
		if (cfgdoc_keyset_parse(doc, doc_len, &ks, err, sizeof err) < 0) {
			ctl_fail(what, 0, "%s: key set: %s (not signed)", o->args[0], err);
			goto out;
		}
	}
	if (o->envelope && slurp(what, o->envelope, CFGDOC_ENVELOPE_MAX, &in, &in_len))
		goto out;
	for (; nk < o->keys.n; nk++) {
		int krc = rg_ec_key_load_file(&keys[nk], o->keys.v[nk]);
		if (krc < 0) {
			ctl_fail(what, krc, "cannot load the key %s", o->keys.v[nk]);
			goto out;
		}
		if (!rg_ec_key_has_private(keys[nk])) {
			ctl_fail(what, 0, "%s is a public key: signing needs the private .key",
				 o->keys.v[nk]);
			nk++;
			goto out;
		}
	}
	if (cfgdoc_sign(doc, doc_len, in, in_len, keys, nk, &env, err, sizeof err) < 0) {
		if (o->envelope)
			ctl_fail(what, 0, "%s with --envelope %s: %s", o->args[0], o->envelope,
				 err);
		else
			ctl_fail(what, 0, "%s: %s", o->args[0], err);
		goto out;
	}
	if (!strcmp(type, "regulars-config") && check_signed(what, o->args[0], root, keys, nk, env))
		goto out;
	size_t len = strlen(env);
	char *nl = realloc(env, len + 2);
	if (!nl) {
		ctl_fail(what, RG_ERR_NOMEM, "signing");
		goto out;
	}
	env = nl;
	env[len++] = '\n';
	env[len] = '\0';
	if (emit(what, o->out, env, len))
		goto out;
	fprintf(stderr,
		"regularsctl %s: %s signed by %zu key(s); the envelope holds %d signature(s)%s%s\n",
		what, o->args[0], nk, count_sigs(env), o->out ? ": " : "", o->out ? o->out : "");
	rc = 0;
out:
	free_keys(keys, nk);
	cJSON_Delete(root);
	free(doc);
	free(in);
	free(env);
	return rc;
}

/* ---- verify ---- */

static int load_trust(const char *what, const char *path, struct cfgdoc_keyset *ks)
{
	char *text = NULL, err[512];
	size_t len;
	int rc;
	if (slurp(what, path, CFGDOC_ENVELOPE_MAX, &text, &len))
		return 1;
	rc = cfgdoc_keyset_parse(text, len, ks, err, sizeof err);
	free(text);
	return rc < 0 ? ctl_fail(what, 0, "%s: %s", path, err) : 0;
}

/* Whether an envelope's document is a key set (1), a config document (0), or
 * neither / unreadable (-1, err set). */
static int envelope_kind(const char *env, size_t len, char *err, size_t errcap)
{
	char *doc = NULL;
	size_t dlen;
	cJSON *root = NULL;
	const char *type;
	int k = -1;
	if (cfgdoc_envelope_payload(env, len, &doc, &dlen, err, errcap) < 0)
		return -1;
	if (rg_json_parse(doc, dlen, dlen, &root, err, errcap) == 0 &&
	    (type = doc_type(root, err, errcap)))
		k = !strcmp(type, "regulars-keys");
	cJSON_Delete(root);
	free(doc);
	return k;
}

static int do_verify(const struct opts *o)
{
	const char *what = "config verify";
	struct cfgdoc_keyset cur, next;
	char *env = NULL, err[512], t[21];
	size_t len;
	enum cfgdoc_reason r;
	int rc = 1, kind;

	if (only(what, o, BIT(O_TRUST) | BIT(O_KEYS) | BIT(O_STORE) | BIT(O_DEVICE)))
		return 2;
	if (!o->trust)
		return ctl_usage_error(what, "--trust ANCHOR is required");
	if (o->nargs != 1)
		return ctl_usage_error(what, "name exactly one envelope to verify");
	if (load_trust(what, o->trust, &cur))
		return 1;
	for (size_t i = 0; i < o->rotations.n; i++) {
		const char *p = o->rotations.v[i];
		if (slurp(what, p, FILE_READ_MAX, &env, &len))
			return 1;
		r = cfgdoc_rotate(&cur, env, len, &next, err, sizeof err);
		free(env);
		env = NULL;
		if (r != CFGDOC_OK)
			return ctl_fail(what, 0, "rotation %s refused: %s: %s", p,
					cfgdoc_reason_name(r), err);
		cur = next;
	}
	if (slurp(what, o->args[0], FILE_READ_MAX, &env, &len))
		return 1;
	if ((kind = envelope_kind(env, len, err, sizeof err)) < 0 && len <= CFGDOC_ENVELOPE_MAX) {
		ctl_fail(what, 0, "%s refused: %s: %s", o->args[0],
			 cfgdoc_reason_name(CFGDOC_MALFORMED), err);
		goto out;
	}
	if (kind == 1) {
		r = cfgdoc_rotate(&cur, env, len, &next, err, sizeof err);
		if (r != CFGDOC_OK) {
			ctl_fail(what, 0, "%s refused: %s: %s", o->args[0], cfgdoc_reason_name(r),
				 err);
			goto out;
		}
		if (next.expires)
			cfgdoc_time_format(next.expires, t);
		printf("OK scope=keys tenant=%s version=%lld keys=%zu threshold=%d expires=%s "
		       "follows=%lld\n",
		       next.tenant, (long long)next.version, next.n, next.threshold,
		       next.expires ? t : "none", (long long)cur.version);
		rc = 0;
		goto out;
	}
	const struct cfgdoc_expect exp = {.store = o->store,
					  .device = o->device,
					  .scope = -1,
					  .now = now_s(),
					  .applied_version = 0,
					  .check_settings = true};
	struct cfgdoc d;
	r = cfgdoc_verify(&cur, env, len, &exp, &d, err, sizeof err);
	if (r != CFGDOC_OK) {
		ctl_fail(what, 0, "%s refused: %s: %s", o->args[0], cfgdoc_reason_name(r), err);
		goto out;
	}
	cfgdoc_time_format(d.expires, t);
	printf("OK scope=%s tenant=%s", cfgdoc_scope_name(d.scope), d.tenant);
	if (d.store[0])
		printf(" store=%s", d.store);
	if (d.device[0])
		printf(" device=%s", d.device);
	printf(" version=%lld expires=%s signatures=%d threshold=%d keyset=%lld\n",
	       (long long)d.version, t, d.valid_signatures, cur.threshold, (long long)cur.version);
	cfgdoc_clear(&d);
	rc = 0;
out:
	free(env);
	return rc;
}

/* ---- the central broker (push, status) ---- */

struct conn {
	struct rg_mqtt *m;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool connected;
	struct {
		int mid, reason;
	} acks[64]; /* PUBACKs, newest overwriting the oldest */
	unsigned n_acks;
	bool subscribe; /* status: subscribe on connect */
	/* status: the latest message per topic */
	struct smsg {
		char *topic;
		char *payload;
		size_t len;
	} * msgs;
	size_t n_msgs, cap_msgs;
	size_t skipped;
};

static void conn_on_connect(void *ctx, bool present)
{
	struct conn *c = ctx;
	(void)present;
	if (c->subscribe) {
		rg_mqtt_subscribe(c->m, "rg/v1/g/+/status", 1);
		rg_mqtt_subscribe(c->m, "rg/v1/g/+/d/+/status", 1);
	}
	pthread_mutex_lock(&c->mu);
	c->connected = true;
	pthread_cond_broadcast(&c->cv);
	pthread_mutex_unlock(&c->mu);
}

static void conn_on_disconnect(void *ctx, int reason)
{
	struct conn *c = ctx;
	(void)reason;
	pthread_mutex_lock(&c->mu);
	c->connected = false;
	pthread_cond_broadcast(&c->cv);
	pthread_mutex_unlock(&c->mu);
}

static void conn_on_publish(void *ctx, int mid, int reason)
{
	struct conn *c = ctx;
	pthread_mutex_lock(&c->mu);
	c->acks[c->n_acks % 64].mid = mid;
	c->acks[c->n_acks % 64].reason = reason;
	c->n_acks++;
	pthread_cond_broadcast(&c->cv);
	pthread_mutex_unlock(&c->mu);
}

static void conn_on_message(void *ctx, const struct rg_mqtt_msg *m)
{
	struct conn *c = ctx;
	size_t i;
	pthread_mutex_lock(&c->mu);
	if (m->len > STATUS_PAYLOAD_MAX) {
		c->skipped++;
		goto out;
	}
	for (i = 0; i < c->n_msgs; i++)
		if (!strcmp(c->msgs[i].topic, m->topic))
			break;
	if (i == c->n_msgs) {
		if (c->n_msgs == STATUS_MAX) {
			c->skipped++;
			goto out;
		}
		if (c->n_msgs == c->cap_msgs) {
			size_t ncap = c->cap_msgs ? c->cap_msgs * 2 : 64;
			struct smsg *nm = realloc(c->msgs, ncap * sizeof *nm);
			if (!nm) {
				c->skipped++;
				goto out;
			}
			c->msgs = nm;
			c->cap_msgs = ncap;
		}
		if (!(c->msgs[i].topic = strdup(m->topic))) {
			c->skipped++;
			goto out;
		}
		c->msgs[i].payload = NULL;
		c->n_msgs++;
	}
	char *p = malloc(m->len + 1);
	if (!p) {
		c->skipped++;
		goto out;
	}
	memcpy(p, m->payload, m->len);
	p[m->len] = '\0';
	free(c->msgs[i].payload);
	c->msgs[i].payload = p;
	c->msgs[i].len = m->len;
out:
	pthread_mutex_unlock(&c->mu);
}

static void deadline_after(struct timespec *ts, long long ms)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += (time_t)(ms / 1000);
	ts->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

/* HOST:PORT or [IPv6]:PORT. 0, or a usage error (2). */
static int parse_broker(const char *what, const char *s, char *host, size_t cap, int *port)
{
	const char *colon, *h = s;
	size_t hl;
	long long p;
	if (*s == '[') {
		const char *end = strchr(s, ']');
		if (!end || end[1] != ':')
			return ctl_usage_error(what, "--broker must be HOST:PORT or [IPv6]:PORT");
		h = s + 1;
		hl = (size_t)(end - h);
		colon = end + 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon)
			return ctl_usage_error(what, "--broker must be HOST:PORT");
		hl = (size_t)(colon - s);
	}
	if (hl == 0 || hl >= cap)
		return ctl_usage_error(what, "--broker has no host (HOST:PORT)");
	memcpy(host, h, hl);
	host[hl] = '\0';
	if (ctl_number(what, "--broker port", colon + 1, 1, 65535, &p))
		return 2;
	*port = (int)p;
	return 0;
}

/* Connect as the identity of --cert; 0, or 1 after printing the error. */
static int conn_open(const char *what, const struct opts *o, struct conn *c, char *ident,
		     size_t identcap)
{
	char host[256], err[PKI_ERR_MAX];
	struct pki_cert_info info;
	struct timespec dl;
	int port = 0, rc;

	if (parse_broker(what, o->broker, host, sizeof host, &port))
		return 2;
	if (pki_cert_info_read(o->cert, &info, err, sizeof err) < 0)
		return ctl_fail(what, 0, "%s: %s", o->cert, err);
	snprintf(ident, identcap, "%s", info.cn);
	const struct rg_mqtt_config cfg = {
	    .name = "config",
	    .host = host,
	    .port = port,
	    .client_id = info.cn,
	    .ca_file = o->ca,
	    .cert_file = o->cert,
	    .key_file = o->keys.v[0],
	    .clean_start = true,
	    .backoff_min_ms = 250,
	    .backoff_max_ms = 2000,
	};
	const struct rg_mqtt_handlers h = {
	    .on_connect = conn_on_connect,
	    .on_disconnect = conn_on_disconnect,
	    .on_message = conn_on_message,
	    .on_publish = conn_on_publish,
	};
	if ((rc = rg_mqtt_new(&cfg, &h, c, &c->m)) < 0)
		return ctl_fail(what, 0,
				"cannot use --ca %s, --cert %s, --key %s (readable PEM files?)",
				o->ca, o->cert, o->keys.v[0]);
	if ((rc = rg_mqtt_start(c->m)) < 0)
		return ctl_fail(what, rc, "cannot start the MQTT client");
	deadline_after(&dl, o->timeout_ms);
	pthread_mutex_lock(&c->mu);
	while (!c->connected)
		if (pthread_cond_timedwait(&c->cv, &c->mu, &dl) == ETIMEDOUT)
			break;
	rc = c->connected;
	pthread_mutex_unlock(&c->mu);
	if (!rc)
		return ctl_fail(what, 0,
				"cannot connect to %s as %s within %lld ms (broker address, CA, "
				"certificate? REGULARS_LOG_LEVEL=warn shows each attempt)",
				o->broker, ident, o->timeout_ms);
	return 0;
}

static void conn_close(struct conn *c)
{
	rg_mqtt_free(c->m); /* stops (DISCONNECT) and joins first */
	c->m = NULL;
	for (size_t i = 0; i < c->n_msgs; i++) {
		free(c->msgs[i].topic);
		free(c->msgs[i].payload);
	}
	free(c->msgs);
	pthread_cond_destroy(&c->cv);
	pthread_mutex_destroy(&c->mu);
}

static void conn_init(struct conn *c)
{
	pthread_condattr_t ca;
	memset(c, 0, sizeof *c);
	pthread_mutex_init(&c->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&c->cv, &ca);
	pthread_condattr_destroy(&ca);
}

static int need_broker(const char *what, const struct opts *o)
{
	if (!o->broker || !o->ca || !o->cert || o->keys.n != 1)
		return ctl_usage_error(what, "--broker, --ca, --cert and one --key are required");
	return 0;
}

/* ---- push ---- */

struct item {
	const char *file; /* NULL for a clear */
	char *data;
	size_t len;
	char topic[RG_MQTT_TOPIC_MAX];
	char what[160]; /* for the output line */
};

/* The topic a clear names: tenant, store/S, device/S/ID, keys/V. */
static int clear_topic(const char *what, const char *scope, struct item *it)
{
	char s[CFGDOC_STORE_MAX + 2], d[PKI_ID_MAX + 2], msg[200];
	const char *p;
	if (!strcmp(scope, "tenant")) {
		snprintf(it->topic, sizeof it->topic, TOPIC_ROOT "tenant");
	} else if (!strncmp(scope, "store/", 6) && pki_store_valid(scope + 6)) {
		snprintf(it->topic, sizeof it->topic, TOPIC_ROOT "%s", scope);
	} else if (!strncmp(scope, "device/", 7) && (p = strchr(scope + 7, '/')) &&
		   (size_t)(p - scope - 7) < sizeof s) {
		snprintf(s, sizeof s, "%.*s", (int)(p - scope - 7), scope + 7);
		snprintf(d, sizeof d, "%s", p + 1);
		if (!pki_store_valid(s) || !pki_identity_valid(p + 1))
			goto bad;
		snprintf(it->topic, sizeof it->topic, TOPIC_ROOT "device/%s/%s", s, d);
	} else if (!strncmp(scope, "keys/", 5)) {
		long long v;
		char *end;
		errno = 0;
		v = strtoll(scope + 5, &end, 10);
		if (errno || end == scope + 5 || *end || v < 2 || v > (1LL << 53) - 1)
			goto bad;
		snprintf(it->topic, sizeof it->topic, TOPIC_ROOT "keys/%lld", v);
	} else {
		goto bad;
	}
	snprintf(it->what, sizeof it->what, "cleared");
	return 0;
bad:
	snprintf(msg, sizeof msg,
		 "--clear %.60s: expected tenant, store/STORE, device/STORE/ID or keys/VERSION "
		 "(2..)",
		 scope);
	return ctl_usage_error(what, msg);
}

/* Read an envelope and find its topic from its document; 1 after an error. */
static int envelope_topic(const char *what, struct item *it)
{
	char *doc = NULL, err[512];
	size_t dlen;
	cJSON *root = NULL;
	const char *type, *scope = NULL, *store = NULL, *device = NULL;
	int64_t version = 0;
	int rc = 1;

	if (slurp(what, it->file, CFGDOC_ENVELOPE_MAX, &it->data, &it->len))
		return 1;
	/* The file's final newline is the editor's, not the envelope's. */
	while (it->len && (it->data[it->len - 1] == '\n' || it->data[it->len - 1] == '\r' ||
			   it->data[it->len - 1] == ' ' || it->data[it->len - 1] == '\t'))
		it->data[--it->len] = '\0';
	if (cfgdoc_envelope_payload(it->data, it->len, &doc, &dlen, err, sizeof err) < 0) {
		ctl_fail(what, 0, "%s is not a signed envelope: %s (sign it first)", it->file, err);
		goto out;
	}
	if (rg_json_parse(doc, dlen, dlen, &root, err, sizeof err) < 0 ||
	    !(type = doc_type(root, err, sizeof err)) ||
	    rg_json_req_int(root, "version", 1, (1LL << 53) - 1, &version, err, sizeof err) < 0) {
		ctl_fail(what, 0, "%s: document: %s", it->file, err);
		goto out;
	}
	if (!strcmp(type, "regulars-keys")) {
		if (version < 2) {
			ctl_fail(what, 0,
				 "%s: key set version 1 is the anchor devices are provisioned "
				 "with; it is never published",
				 it->file);
			goto out;
		}
		snprintf(it->topic, sizeof it->topic, TOPIC_ROOT "keys/%lld", (long long)version);
		snprintf(it->what, sizeof it->what, "key set v%lld", (long long)version);
		rc = 0;
		goto out;
	}
	if (rg_json_req_str(root, "scope", 16, &scope, err, sizeof err) < 0 ||
	    rg_json_opt_str(root, "store", CFGDOC_STORE_MAX, &store, err, sizeof err) < 0 ||
	    rg_json_opt_str(root, "device", CFGDOC_DEVICE_MAX, &device, err, sizeof err) < 0) {
		ctl_fail(what, 0, "%s: document: %s", it->file, err);
		goto out;
	}
	/* Store and device become topic levels: their grammar keeps '/', '+', '#' out. */
	if ((store && !pki_store_valid(store)) || (device && !pki_identity_valid(device))) {
		ctl_fail(what, 0, "%s: document: bad store or device id", it->file);
		goto out;
	}
	if (!strcmp(scope, "tenant") && !store && !device) {
		snprintf(it->topic, sizeof it->topic, TOPIC_ROOT "tenant");
		snprintf(it->what, sizeof it->what, "tenant v%lld", (long long)version);
	} else if (!strcmp(scope, "store") && store && !device) {
		snprintf(it->topic, sizeof it->topic, TOPIC_ROOT "store/%s", store);
		snprintf(it->what, sizeof it->what, "store %s v%lld", store, (long long)version);
	} else if (!strcmp(scope, "device") && store && device) {
		snprintf(it->topic, sizeof it->topic, TOPIC_ROOT "device/%s/%s", store, device);
		snprintf(it->what, sizeof it->what, "device %s of store %s v%lld", device, store,
			 (long long)version);
	} else {
		ctl_fail(what, 0,
			 "%s: document: scope \"%s\" does not match its store/device fields "
			 "(tenant: none, store: store, device: store and device)",
			 it->file, scope);
		goto out;
	}
	rc = 0;
out:
	cJSON_Delete(root);
	free(doc);
	return rc;
}

/* Publish one item retained at QoS 1 and wait for its PUBACK; 0 or 1. */
static int push_one(const char *what, const struct opts *o, struct conn *c, const char *ident,
		    const struct item *it)
{
	struct timespec dl;
	int mid = 0, reason = -1, rc;
	bool got = false;

	rc = rg_mqtt_publish(c->m, it->topic, it->data, it->data ? it->len : 0, 1, true, &mid);
	if (rc < 0)
		return ctl_fail(what, rc, "publishing %s", it->topic);
	deadline_after(&dl, o->timeout_ms);
	pthread_mutex_lock(&c->mu);
	for (;;) {
		unsigned from = c->n_acks > 64 ? c->n_acks - 64 : 0;
		for (unsigned i = from; i < c->n_acks && !got; i++)
			if (c->acks[i % 64].mid == mid) {
				got = true;
				reason = c->acks[i % 64].reason;
			}
		if (got || !c->connected ||
		    pthread_cond_timedwait(&c->cv, &c->mu, &dl) == ETIMEDOUT)
			break;
	}
	pthread_mutex_unlock(&c->mu);
	if (!got)
		return ctl_fail(
		    what, 0, "no PUBACK for %s within %lld ms%s: it may not be retained", it->topic,
		    o->timeout_ms, c->connected ? "" : " (the connection was lost)");
	if (reason == 135)
		return ctl_fail(what, 0,
				"not authorized to publish %s as %s (PUBACK 135): only IT "
				"identities (regularsctl pki issue --kind it) may push "
				"configuration, and the central broker's ACL must list it",
				it->topic, ident);
	if (reason >= 128)
		return ctl_fail(what, 0, "the broker refused %s (PUBACK reason %d)", it->topic,
				reason);
	if (it->file)
		printf("pushed %s: %s -> %s (retained)\n", it->file, it->what, it->topic);
	else
		printf("cleared %s\n", it->topic);
	return 0;
}

static int do_push(const struct opts *o)
{
	const char *what = "config push";
	struct item *items;
	size_t n = o->clears.n + (size_t)o->nargs, i;
	char ident[PKI_ID_MAX + 1];
	struct conn c;
	int rc = 1;

	if (only(what, o,
		 BIT(O_BROKER) | BIT(O_CA) | BIT(O_CERT) | BIT(O_KEY) | BIT(O_TIMEOUT) |
		     BIT(O_CLEAR)))
		return 2;
	if (need_broker(what, o))
		return 2;
	if (n == 0)
		return ctl_usage_error(what, "name at least one envelope or --clear");
	if (!(items = calloc(n, sizeof *items)))
		return ctl_fail(what, RG_ERR_NOMEM, "push");
	/* Everything is checked before anything is sent. */
	for (i = 0; i < o->clears.n; i++)
		if ((rc = clear_topic(what, o->clears.v[i], &items[i])) != 0)
			goto out;
	for (int a = 0; a < o->nargs; a++, i++) {
		items[i].file = o->args[a];
		if ((rc = envelope_topic(what, &items[i])) != 0)
			goto out;
	}
	conn_init(&c);
	if ((rc = conn_open(what, o, &c, ident, sizeof ident)) == 0)
		for (i = 0; i < n && rc == 0; i++)
			rc = push_one(what, o, &c, ident, &items[i]);
	conn_close(&c);
out:
	for (i = 0; i < n; i++)
		free(items[i].data);
	free(items);
	return rc;
}

/* ---- status ---- */

static int do_status(const struct opts *o)
{
	const char *what = "config status";
	char ident[PKI_ID_MAX + 1];
	struct conn c;
	struct ctl_status_row *rows = NULL;
	size_t n = 0;
	int rc;

	if (only(what, o,
		 BIT(O_BROKER) | BIT(O_CA) | BIT(O_CERT) | BIT(O_KEY) | BIT(O_TIMEOUT) |
		     BIT(O_WAIT) | BIT(O_JSON)))
		return 2;
	if (need_broker(what, o))
		return 2;
	if (o->nargs)
		return ctl_usage_error(what, "status takes no arguments");
	conn_init(&c);
	c.subscribe = true;
	if ((rc = conn_open(what, o, &c, ident, sizeof ident)) != 0) {
		conn_close(&c);
		return rc;
	}
	/* Retained reports arrive right after the subscriptions; there is no
	 * end-of-retained marker in MQTT, so collect for the window asked for. */
	struct timespec dl;
	deadline_after(&dl, o->wait_ms);
	pthread_mutex_lock(&c.mu);
	while (pthread_cond_timedwait(&c.cv, &c.mu, &dl) != ETIMEDOUT)
		;
	pthread_mutex_unlock(&c.mu);
	rg_mqtt_stop(c.m); /* no more callbacks: c.msgs is ours */

	if (c.n_msgs && !(rows = calloc(c.n_msgs, sizeof *rows))) {
		conn_close(&c);
		return ctl_fail(what, RG_ERR_NOMEM, "status");
	}
	for (size_t i = 0; i < c.n_msgs; i++)
		if (ctl_status_row_parse(c.msgs[i].topic, c.msgs[i].payload, c.msgs[i].len,
					 &rows[n]))
			n++;
	if (n > 1)
		qsort(rows, n, sizeof *rows, ctl_status_row_cmp);
	if (!o->json && n)
		ctl_status_header(stdout);
	for (size_t i = 0; i < n; i++) {
		ctl_status_row_print(&rows[i], o->json, stdout);
		ctl_status_row_clear(&rows[i]);
	}
	if (!n)
		fprintf(stderr, "regularsctl %s: no status reports within %lld ms\n", what,
			o->wait_ms);
	if (c.skipped)
		fprintf(stderr,
			"regularsctl %s: %zu status message(s) skipped (too big or too many)\n",
			what, c.skipped);
	free(rows);
	conn_close(&c);
	return 0;
}

/* ---- diff ---- */

/* A document's JSON from an envelope or a bare document file. 1 after an error. */
static int load_doc(const char *what, const char *path, cJSON **out)
{
	char *text = NULL, *doc = NULL, err[512];
	size_t len, dlen;
	cJSON *root = NULL;
	int rc = 1;

	*out = NULL;
	if (slurp(what, path, FILE_READ_MAX, &text, &len))
		return 1;
	if (rg_json_parse(text, len, FILE_READ_MAX, &root, err, sizeof err) < 0) {
		ctl_fail(what, 0, "%s: not JSON: %s", path, err);
		goto out;
	}
	if (cJSON_GetObjectItemCaseSensitive(root, "payload")) {
		cJSON_Delete(root);
		root = NULL;
		if (cfgdoc_envelope_payload(text, len, &doc, &dlen, err, sizeof err) < 0 ||
		    rg_json_parse(doc, dlen, dlen, &root, err, sizeof err) < 0) {
			ctl_fail(what, 0, "%s: %s", path, err);
			goto out;
		}
	}
	if (!doc_type(root, err, sizeof err)) {
		ctl_fail(what, 0, "%s: %s", path, err);
		goto out;
	}
	*out = root;
	root = NULL;
	rc = 0;
out:
	cJSON_Delete(root);
	free(text);
	free(doc);
	return rc;
}

/* "+ key: new", "- key: old", "~ key: old -> new" for one header field. */
static int diff_field(const cJSON *a, const cJSON *b, const char *key)
{
	const cJSON *x = cJSON_GetObjectItemCaseSensitive(a, key);
	const cJSON *y = cJSON_GetObjectItemCaseSensitive(b, key);
	char *xs, *ys;
	if (!x && !y)
		return 0;
	if (x && y && cJSON_Compare(x, y, true))
		return 0;
	xs = x ? cJSON_PrintUnformatted(x) : NULL;
	ys = y ? cJSON_PrintUnformatted(y) : NULL;
	if (!x)
		printf("+ %s: %s\n", key, ys ? ys : "?");
	else if (!y)
		printf("- %s: %s\n", key, xs ? xs : "?");
	else
		printf("~ %s: %s -> %s\n", key, xs ? xs : "?", ys ? ys : "?");
	free(xs);
	free(ys);
	return 1;
}

static const char *keyid_of(const cJSON *e)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(e, "keyid");
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* Key ids of a key set present in a but not in b, printed with sign. */
static int diff_keys(const cJSON *a, const cJSON *b, char sign)
{
	const cJSON *ka = cJSON_GetObjectItemCaseSensitive(a, "keys");
	const cJSON *kb = cJSON_GetObjectItemCaseSensitive(b, "keys");
	const cJSON *e, *f;
	int n = 0;
	cJSON_ArrayForEach(e, ka)
	{
		const char *id = keyid_of(e);
		bool found = false;
		if (!id)
			continue;
		cJSON_ArrayForEach(f, kb)
		{
			const char *id2 = keyid_of(f);
			if (id2 && !strcmp(id, id2))
				found = true;
		}
		if (!found) {
			printf("%c keys: %s\n", sign, id);
			n++;
		}
	}
	return n;
}

static int do_diff(const struct opts *o)
{
	static const char *const header[] = {"type",	"tenant", "scope",   "store",	  "device",
					     "version", "issued", "expires", "threshold", NULL};
	const char *what = "config diff";
	cJSON *a = NULL, *b = NULL;
	int n = 0;

	if (only(what, o, 0))
		return 2;
	if (o->nargs != 2)
		return ctl_usage_error(what, "name two documents or envelopes: OLD NEW");
	if (load_doc(what, o->args[0], &a) || load_doc(what, o->args[1], &b)) {
		cJSON_Delete(a);
		return 2;
	}
	for (size_t i = 0; header[i]; i++)
		n += diff_field(a, b, header[i]);
	n += diff_keys(a, b, '-');
	n += diff_keys(b, a, '+');
	fflush(stdout);
	int s = rg_settings_diff(cJSON_GetObjectItemCaseSensitive(a, "settings"),
				 cJSON_GetObjectItemCaseSensitive(b, "settings"), stdout);
	cJSON_Delete(a);
	cJSON_Delete(b);
	if (s < 0) {
		ctl_fail(what, s, "comparing the settings");
		return 2;
	}
	n += s;
	if (fflush(stdout))
		return 2;
	return n ? 1 : 0;
}

/* ---- dispatch ---- */

int ctl_config_main(int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*run)(const struct opts *o);
	} actions[] = {
	    {"keygen", do_keygen}, {"anchor", do_anchor}, {"sign", do_sign}, {"verify", do_verify},
	    {"push", do_push},	   {"status", do_status}, {"diff", do_diff},
	};
	const char *action = argc > 1 ? argv[1] : NULL;
	char name[32];
	struct opts o;
	int rc;

	if (!action || !strcmp(action, "--help") || !strcmp(action, "-h") ||
	    !strcmp(action, "help")) {
		usage(action ? stdout : stderr);
		return action ? 0 : 2;
	}
	for (size_t i = 0; i < sizeof actions / sizeof actions[0]; i++) {
		if (strcmp(action, actions[i].name))
			continue;
		snprintf(name, sizeof name, "config %s", action);
		if ((rc = parse(argc - 1, argv + 1, name, &o)) != 0)
			return rc;
		if (o.help) {
			usage(stdout);
			return 0;
		}
		/* The MQTT client's reconnect warnings would drown the one line that
		 * matters; REGULARS_LOG_LEVEL=warn brings them back. */
		if (!getenv("REGULARS_LOG_LEVEL"))
			rg_log_set_level(RG_LOG_ERROR);
		return actions[i].run(&o);
	}
	return ctl_usage_error(
	    "config", "the action must be keygen, anchor, sign, verify, push, status or diff");
}
