/*
 * ctl_device.c - `regularsctl device`: a device's keys, local cache and
 * outbox, offline, from its own configuration file (docs/device-config.md):
 * provision the tenant key, hash a staff PIN, seed customers, and inspect the
 * cache (stats, lookup) and the outbox. It opens the daemon's database
 * through rg_fwstore (WAL, busy timeout), so it is safe beside a running
 * daemon. Raw identifiers typed by the user go only into the pipeline.
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/codec.h"
#include "common/crypto.h"
#include "common/err.h"
#include "common/hlc.h"
#include "common/ident.h"
#include "common/log.h"
#include "ctl.h"
#include "firmware/devconfig.h"
#include "firmware/devkeys.h"
#include "firmware/store.h"
#include "fwseed.h"
#include "hal/keystore.h"
#include "web.h"

int ctl_device_main(int argc, char **argv);

#define PIN_MAX 64
#define PIN_ITER_DEFAULT 100000
#define LIMIT_DEFAULT 50
#define LIMIT_MAX 100000

static void usage(FILE *f)
{
	fprintf(
	    f,
	    "usage: regularsctl device provision --config FILE (--tenant-key-file KEY |\n"
	    "                                    --tenant-key-hex HEX | --generate-tenant-key)\n"
	    "                                    [--force]\n"
	    "       regularsctl device pin-hash [--iterations N]\n"
	    "       regularsctl device seed     --config FILE --file CUSTOMERS.jsonl [--batch N]\n"
	    "       regularsctl device stats    --config FILE [--json]\n"
	    "       regularsctl device lookup   --config FILE (--card TEXT | --nfc-uid HEX)\n"
	    "       regularsctl device outbox   --config FILE [--limit N] [--json]\n\n"
	    "A device's keys, local cache and outbox, from its configuration file\n"
	    "(docs/device-config.md). These open the daemon's database (WAL, busy timeout):\n"
	    "safe while regulars-device runs.\n\n"
	    "  provision  store the tenant's identifier key (16-64 bytes) as tenant.key in\n"
	    "             the device's keystore; refuses to replace one without --force\n"
	    "             (tokens made under the old key stop matching). Prints a key id\n"
	    "             (first 4 bytes of its SHA-256), never the key\n"
	    "  pin-hash   read a staff PIN from stdin (asked twice, without echo, on a\n"
	    "             terminal) and print its hash for the config's staff.pin_hash\n"
	    "  seed       load customers from an import file (docs/customers.md): every\n"
	    "             line is checked first, so a bad line is reported with its number\n"
	    "             and nothing is loaded; progress on stderr\n"
	    "  stats      what the cache and the outbox hold\n"
	    "  lookup     identify a card like a reader does and print the profile (JSON);\n"
	    "             exit 1 if it is refused or not in the local cache\n"
	    "  outbox     the interactions waiting for central's acknowledgement, oldest\n"
	    "             first (with --json: their bodies too)\n\n"
	    "options:\n"
	    "  --config FILE            the device configuration (regulars-device --config)\n"
	    "  --tenant-key-file KEY    the raw key bytes (as distributed to devices)\n"
	    "  --tenant-key-hex HEX     the key as hex (visible in the process list: prefer a "
	    "file)\n"
	    "  --generate-tenant-key    a random 32-byte key: a single-device demo only, since\n"
	    "                           central and every device of a tenant share the key\n"
	    "  --force                  provision: replace an existing tenant.key\n"
	    "  --iterations N           PBKDF2 iterations, 1000..10000000 (default %d)\n"
	    "  --file FILE              the customers (a regular file; it is read twice)\n"
	    "  --batch N                profiles per transaction, 1..%d (default %d)\n"
	    "  --json                   machine-readable output\n"
	    "  --card TEXT              a card number or code as a scanner reads it\n"
	    "  --nfc-uid HEX            an NFC UID as hex (04A1B2C3D4E5F6)\n"
	    "  --limit N                outbox rows to show, 1..%d (default %d)\n\n"
	    "Exit status: 0 ok, 1 failure or not found, 2 bad usage or configuration.\n",
	    PIN_ITER_DEFAULT, STORE_LOAD_MAX, FWSEED_BATCH_DEFAULT, LIMIT_MAX, LIMIT_DEFAULT);
}

struct opts {
	const char *config, *key_file, *key_hex, *file, *card, *nfc_uid;
	bool generate, force, json, help;
	long long iterations, batch, limit;
	bool has_iterations, has_batch, has_limit;
};

static int parse(int argc, char **argv, const char *name, struct opts *o)
{
	enum {
		O_CONFIG = 1,
		O_KEY_FILE,
		O_KEY_HEX,
		O_GENERATE,
		O_FORCE,
		O_ITER,
		O_FILE,
		O_BATCH,
		O_JSON,
		O_CARD,
		O_UID,
		O_LIMIT,
		O_HELP
	};
	static const struct option longopts[] = {
	    {"config", required_argument, NULL, O_CONFIG},
	    {"tenant-key-file", required_argument, NULL, O_KEY_FILE},
	    {"tenant-key-hex", required_argument, NULL, O_KEY_HEX},
	    {"generate-tenant-key", no_argument, NULL, O_GENERATE},
	    {"force", no_argument, NULL, O_FORCE},
	    {"iterations", required_argument, NULL, O_ITER},
	    {"file", required_argument, NULL, O_FILE},
	    {"batch", required_argument, NULL, O_BATCH},
	    {"json", no_argument, NULL, O_JSON},
	    {"card", required_argument, NULL, O_CARD},
	    {"nfc-uid", required_argument, NULL, O_UID},
	    {"limit", required_argument, NULL, O_LIMIT},
	    {"help", no_argument, NULL, O_HELP},
	    {NULL, 0, NULL, 0},
	};
	int c, rc = 0;

	memset(o, 0, sizeof *o);
	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		switch (c) {
		case O_CONFIG:
			o->config = optarg;
			break;
		case O_KEY_FILE:
			o->key_file = optarg;
			break;
		case O_KEY_HEX:
			o->key_hex = optarg;
			break;
		case O_GENERATE:
			o->generate = true;
			break;
		case O_FORCE:
			o->force = true;
			break;
		case O_ITER:
			o->has_iterations = true;
			rc = ctl_number(name, "--iterations", optarg, 1000, 10000000, &o->iterations);
			break;
		case O_FILE:
			o->file = optarg;
			break;
		case O_BATCH:
			o->has_batch = true;
			rc = ctl_number(name, "--batch", optarg, 1, STORE_LOAD_MAX, &o->batch);
			break;
		case O_JSON:
			o->json = true;
			break;
		case O_CARD:
			o->card = optarg;
			break;
		case O_UID:
			o->nfc_uid = optarg;
			break;
		case O_LIMIT:
			o->has_limit = true;
			rc = ctl_number(name, "--limit", optarg, 1, LIMIT_MAX, &o->limit);
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

/* Options a subcommand does not take are usage errors, not ignored. */
static int only(const char *name, const struct opts *o, const char *allowed)
{
	static const struct {
		const char *opt;
		size_t off;
	} ptrs[] = {
	    {"--config", offsetof(struct opts, config)},
	    {"--tenant-key-file", offsetof(struct opts, key_file)},
	    {"--tenant-key-hex", offsetof(struct opts, key_hex)},
	    {"--file", offsetof(struct opts, file)},
	    {"--card", offsetof(struct opts, card)},
	    {"--nfc-uid", offsetof(struct opts, nfc_uid)},
	};
	const struct {
		const char *opt;
		bool set;
	} flags[] = {
	    {"--generate-tenant-key", o->generate},
	    {"--force", o->force},
	    {"--json", o->json},
	    {"--iterations", o->has_iterations},
	    {"--batch", o->has_batch},
	    {"--limit", o->has_limit},
	};
	char msg[160];
	for (size_t i = 0; i < sizeof ptrs / sizeof ptrs[0]; i++) {
		const char *v = *(const char *const *)((const char *)o + ptrs[i].off);
		if (v && !strstr(allowed, ptrs[i].opt)) {
			snprintf(msg, sizeof msg, "%s does not take %s", name, ptrs[i].opt);
			return ctl_usage_error("device", msg);
		}
	}
	for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++)
		if (flags[i].set && !strstr(allowed, flags[i].opt)) {
			snprintf(msg, sizeof msg, "%s does not take %s", name, flags[i].opt);
			return ctl_usage_error("device", msg);
		}
	return 0;
}

/* ---- the device: config, keys, store, pipeline ---- */

struct dev {
	struct devcfg cfg;
	struct devkeys keys;
	bool have_keys;
	struct store *store;
	struct ident_pipeline *pipe;
};

static int load_config(const char *what, const char *path, struct devcfg *cfg)
{
	char err[512];
	if (!path) {
		char msg[64];
		snprintf(msg, sizeof msg, "%s needs --config FILE", what);
		return ctl_usage_error("device", msg);
	}
	if (devcfg_load(path, cfg, err, sizeof err) < 0) {
		fprintf(stderr, "regularsctl device %s: %s\n", what, err);
		return 2;
	}
	return 0;
}

static void dev_close(struct dev *d)
{
	ident_pipeline_free(d->pipe);
	if (d->store)
		store_close(d->store);
	if (d->have_keys)
		devkeys_wipe(&d->keys);
	memset(d, 0, sizeof *d);
}

/* Config, keys and the store; may_create lets seed make a new database. */
static int dev_open(const char *what, const char *config, bool may_create, struct dev *d)
{
	struct stat sb;
	char err[512];
	int rc;

	memset(d, 0, sizeof *d);
	if ((rc = load_config(what, config, &d->cfg)) != 0)
		return rc;
	bool db_is_new = stat(d->cfg.database, &sb) != 0;
	if (db_is_new && !may_create)
		return ctl_fail(what, 0,
			    "no database at %s yet (regulars-device creates it on its first start; "
			    "`regularsctl device seed` too)",
			    d->cfg.database);
	if ((rc = devkeys_load(&d->cfg, db_is_new, &d->keys, err, sizeof err)) < 0)
		return ctl_fail(what, 0, "keys: %s", err);
	d->have_keys = true;
	struct store_config sc = {
	    .path = d->cfg.database,
	    .key = d->keys.store_key,
	    .device_id = d->cfg.device_id,
	    .store_id = d->cfg.store_id,
	    .max_profiles = d->cfg.cache.max_profiles,
	    .max_bytes = d->cfg.cache.max_bytes,
	};
	if ((rc = store_open(&sc, &d->store)) < 0) {
		ctl_fail(what, rc == RG_ERR_VERIFY ? 0 : rc, "database %s%s", d->cfg.database,
		     rc == RG_ERR_VERIFY ? ": was created under another store.key" : "");
		dev_close(d);
		return 1;
	}
	return 0;
}

/* The device's identifier rules for static identifiers. App tokens and TOTP
 * codes are left out: they need the daemon's replay and secret stores, and
 * neither can be imported nor looked up offline by a person typing. */
static int dev_pipeline(const char *what, struct dev *d)
{
	struct ident_config ic = d->cfg.identifiers;
	ic.app_token.enabled = false;
	ic.totp.enabled = false;
	struct ident_pipeline_params pp = {
	    .config = &ic,
	    .tenant_key = d->keys.tenant_key,
	    .tenant_key_len = d->keys.tenant_key_len,
	    .totp_seal_key = d->keys.totp_key,
	};
	int rc = ident_pipeline_new(&pp, &d->pipe);
	return rc < 0 ? ctl_fail(what, rc, "cannot build the identifier pipeline") : 0;
}

/* ---- provision ---- */

static int read_key_file(const char *path, uint8_t *key, size_t cap, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return -errno;
	size_t n = fread(key, 1, cap, f);
	int bad = ferror(f);
	fclose(f);
	if (bad)
		return -EIO;
	*len = n;
	return 0;
}

static int do_provision(const struct opts *o)
{
	const char *what = "device provision";
	struct devcfg cfg;
	uint8_t key[IDENT_TENANT_KEY_MAX + 1], digest[RG_SHA256_LEN];
	size_t len = 0;
	char err[512], kid[9];
	int rc, sources = (o->key_file != NULL) + (o->key_hex != NULL) + o->generate;

	if ((rc = only(what, o,
		       "--config --tenant-key-file --tenant-key-hex "
		       "--generate-tenant-key --force")) != 0)
		return rc;
	if (sources != 1)
		return ctl_usage_error("device", "provision needs one of --tenant-key-file, "
						 "--tenant-key-hex, --generate-tenant-key");
	if ((rc = load_config(what, o->config, &cfg)) != 0)
		return rc;

	if (o->key_file) {
		if ((rc = read_key_file(o->key_file, key, sizeof key, &len)) < 0)
			return ctl_fail(what, 0, "cannot read %s: %s", o->key_file, strerror(-rc));
	} else if (o->key_hex) {
		rc = rg_hex_decode(o->key_hex, strlen(o->key_hex), key, sizeof key);
		if (rc < 0 && rc != RG_ERR_TOOBIG)
			return ctl_usage_error("device", "--tenant-key-hex is not hex");
		len = rc < 0 ? sizeof key : (size_t)rc;
	} else {
		len = 32;
		if ((rc = rg_random(key, len)) < 0)
			return ctl_fail(what, rc, "cannot generate a key");
	}
	if (len < IDENT_TENANT_KEY_MIN || len > IDENT_TENANT_KEY_MAX) {
		rg_wipe(key, sizeof key);
		return ctl_fail(what, 0, "a tenant key is %d to %d bytes, this one is %s%zu",
			    IDENT_TENANT_KEY_MIN, IDENT_TENANT_KEY_MAX,
			    len > IDENT_TENANT_KEY_MAX ? "more than " : "", len > 64 ? 64 : len);
	}

	/* Replacing the key would orphan every token cached and in the outbox. */
	struct hal_keystore *ks = NULL;
	if (!o->force && hal_keystore_open(cfg.keystore.backend, cfg.keystore.options, &ks) == 0) {
		uint8_t old[IDENT_TENANT_KEY_MAX];
		int got = hal_keystore_get(ks, "tenant.key", old, sizeof old);
		bool same = got == (int)len && rg_ct_equal(old, key, len);
		rg_wipe(old, sizeof old);
		hal_keystore_close(ks);
		if (got >= 0 && same) {
			rg_wipe(key, sizeof key);
			printf("tenant.key already provisioned with this key; nothing changed\n");
			return 0;
		}
		if (got >= 0 || got == RG_ERR_TOOBIG) {
			rg_wipe(key, sizeof key);
			return ctl_fail(what, 0,
				    "the keystore already holds another tenant.key (replacing it "
				    "orphans every cached identifier; use --force)");
		}
	}
	rc = devkeys_provision_tenant(&cfg, key, len, err, sizeof err);
	if (rc == 0)
		rc = rg_sha256(key, len, digest);
	rg_wipe(key, sizeof key);
	if (rc < 0)
		return ctl_fail(what, 0, "%s", err);
	rg_hex_encode(digest, 4, kid, sizeof kid);
	printf("tenant.key provisioned in the %s keystore (%zu bytes, key id %s)\n",
	       cfg.keystore.backend, len, kid);
	return 0;
}

/* ---- pin-hash ---- */

static int read_pin(const char *prompt, char *pin, size_t cap, bool tty)
{
	struct termios old, quiet;
	bool echo_off = false;
	char *got;

	if (tty) {
		fputs(prompt, stderr);
		fflush(stderr);
		if (tcgetattr(STDIN_FILENO, &old) == 0) {
			quiet = old;
			quiet.c_lflag &= ~(tcflag_t)ECHO;
			echo_off = tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet) == 0;
		}
	}
	got = fgets(pin, (int)cap, stdin);
	if (echo_off) {
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
		fputc('\n', stderr);
	}
	if (!got)
		return RG_ERR_MISSING;
	size_t n = strlen(pin);
	if (n && pin[n - 1] != '\n' && !feof(stdin))
		return RG_ERR_TOOBIG;
	while (n && (pin[n - 1] == '\n' || pin[n - 1] == '\r'))
		pin[--n] = '\0';
	return (int)n;
}

static int do_pin_hash(const struct opts *o)
{
	const char *what = "device pin-hash";
	char pin[PIN_MAX + 2], again[PIN_MAX + 2], hash[WEB_PIN_HASH_MAX];
	bool tty = isatty(STDIN_FILENO);
	int rc;

	if ((rc = only(what, o, "--iterations")) != 0)
		return rc;
	rc = read_pin("staff PIN: ", pin, sizeof pin, tty);
	if (rc >= 0 && rc < 4)
		rc = ctl_fail(what, 0, "a PIN has at least 4 characters");
	else if (rc == RG_ERR_TOOBIG)
		rc = ctl_fail(what, 0, "a PIN has at most %d characters", PIN_MAX);
	else if (rc < 0)
		rc = ctl_fail(what, 0, "no PIN on stdin");
	else if (tty && (read_pin("again: ", again, sizeof again, tty) < 0 || strcmp(pin, again)))
		rc = ctl_fail(what, 0, "the PINs differ");
	else if ((rc = web_pin_hash(pin,
				    o->has_iterations ? (uint32_t)o->iterations : PIN_ITER_DEFAULT,
				    hash, sizeof hash)) < 0)
		rc = ctl_fail(what, rc, "cannot hash the PIN");
	else
		rc = printf("%s\n", hash) < 0;
	rg_wipe(pin, sizeof pin);
	rg_wipe(again, sizeof again);
	return rc;
}

/* ---- seed ---- */

struct seed_progress {
	int64_t last_ns;
	bool tty;
};

static void seed_progress(void *ctx, int64_t done)
{
	struct seed_progress *sp = ctx;
	int64_t now = rg_clock_mono_ns(rg_clock_system());
	if (now - sp->last_ns < 1000000000LL)
		return; /* at most one line a second */
	sp->last_ns = now;
	fprintf(stderr, "%s%s %lld%s", sp->tty ? "\r" : "", done < 0 ? "checked" : "loaded",
		(long long)(done < 0 ? -done : done), sp->tty ? "   " : "\n");
}

static int do_seed(const struct opts *o)
{
	const char *what = "device seed";
	struct dev d;
	struct seed_progress sp = {.tty = isatty(STDERR_FILENO)};
	char err[1024];
	int64_t loaded = 0, t0;
	FILE *f;
	int rc;

	if ((rc = only(what, o, "--config --file --batch")) != 0)
		return rc;
	if (!o->file)
		return ctl_usage_error("device", "seed needs --file CUSTOMERS.jsonl");
	if (!(f = fopen(o->file, "r")))
		return ctl_fail(what, 0, "cannot open %s: %s", o->file, strerror(errno));
	if ((rc = dev_open(what, o->config, true, &d)) != 0 || (rc = dev_pipeline(what, &d)) != 0) {
		fclose(f);
		dev_close(&d);
		return rc;
	}
	t0 = rg_clock_mono_ns(rg_clock_system());
	sp.last_ns = t0;
	rc = fwseed_load(d.store, d.pipe, f, o->has_batch ? (size_t)o->batch : 0, seed_progress,
			 &sp, &loaded, err, sizeof err);
	fclose(f);
	if (sp.tty && rg_clock_mono_ns(rg_clock_system()) - t0 >= 1000000000LL)
		fputc('\n', stderr);
	double secs = (double)(rg_clock_mono_ns(rg_clock_system()) - t0) / 1e9;
	if (rc < 0) {
		ctl_fail(what, 0, "%s: %s; %s", o->file, err,
		     loaded ? "the batches before it were loaded (run it again once fixed)"
			    : "nothing was loaded");
		dev_close(&d);
		return 1;
	}
	printf("seeded %d customers from %s into %s (%lld written, %.1f s)\n", rc, o->file,
	       d.cfg.database, (long long)loaded, secs);
	dev_close(&d);
	return 0;
}

/* ---- stats ---- */

static int do_stats(const struct opts *o)
{
	const char *what = "device stats";
	struct store_stats st;
	struct dev d;
	int rc;

	if ((rc = only(what, o, "--config --json")) != 0)
		return rc;
	if ((rc = dev_open(what, o->config, false, &d)) != 0)
		return rc;
	if ((rc = store_stats_get(d.store, &st)) < 0) {
		dev_close(&d);
		return ctl_fail(what, rc, "cannot read the statistics");
	}
	if (o->json) {
		cJSON *j = cJSON_CreateObject();
		char *text;
		const struct {
			const char *k;
			int64_t v;
		} nums[] = {
		    {"schema_version", st.schema_version},
		    {"profiles", st.profiles},
		    {"profile_bytes", st.profile_bytes},
		    {"identifiers", st.identifiers},
		    {"merges", st.merges},
		    {"outbox", st.outbox},
		    {"outbox_unsent", st.outbox_unsent},
		    {"outbox_oldest_age_ms", st.outbox_oldest_age_ms},
		    {"max_profiles", st.max_profiles},
		    {"max_bytes", st.max_bytes},
		    {"evicted", st.evicted},
		    {"seen_pending", st.seen_pending},
		};
		bool ok = j && cJSON_AddStringToObject(j, "device_id", d.cfg.device_id) &&
			  cJSON_AddStringToObject(j, "store_id", d.cfg.store_id) &&
			  cJSON_AddStringToObject(j, "database", d.cfg.database);
		for (size_t i = 0; ok && i < sizeof nums / sizeof nums[0]; i++)
			ok = cJSON_AddNumberToObject(j, nums[i].k, (double)nums[i].v) != NULL;
		text = ok ? cJSON_Print(j) : NULL;
		cJSON_Delete(j);
		if (!text) {
			dev_close(&d);
			return ctl_fail(what, RG_ERR_NOMEM, "cannot print");
		}
		printf("%s\n", text);
		cJSON_free(text);
	} else {
		printf("device        %s (store %s, %s)\n", d.cfg.device_id, d.cfg.store_id,
		       devcfg_role_name(d.cfg.role));
		printf("database      %s (schema %d)\n", d.cfg.database, st.schema_version);
		printf("profiles      %lld (max %lld)\n", (long long)st.profiles,
		       (long long)st.max_profiles);
		printf("profile bytes %lld sealed (max %lld)\n", (long long)st.profile_bytes,
		       (long long)st.max_bytes);
		printf("identifiers   %lld\n", (long long)st.identifiers);
		printf("merges        %lld\n", (long long)st.merges);
		printf("outbox        %lld waiting for acknowledgement, %lld never sent",
		       (long long)st.outbox, (long long)st.outbox_unsent);
		if (st.outbox_oldest_age_ms >= 0)
			printf(", oldest %.1f s", (double)st.outbox_oldest_age_ms / 1000.0);
		printf("\n");
	}
	dev_close(&d);
	return 0;
}

/* ---- lookup ---- */

static int do_lookup(const struct opts *o)
{
	const char *what = "device lookup";
	struct ident_result r;
	struct store_hit hit;
	struct dev d;
	uint8_t uid[16];
	size_t uid_len = 0;
	char *body = NULL;
	int rc;

	if ((rc = only(what, o, "--config --card --nfc-uid")) != 0)
		return rc;
	if ((o->card != NULL) == (o->nfc_uid != NULL))
		return ctl_usage_error("device", "lookup needs one of --card TEXT, --nfc-uid HEX");
	if (o->nfc_uid) {
		rc = rg_hex_decode(o->nfc_uid, strlen(o->nfc_uid), uid, sizeof uid);
		if (rc < 0)
			return ctl_usage_error("device", "--nfc-uid is hex, 2 digits per byte");
		uid_len = (size_t)rc;
	}
	if ((rc = dev_open(what, o->config, false, &d)) != 0 ||
	    (rc = dev_pipeline(what, &d)) != 0) {
		dev_close(&d);
		return rc;
	}
	if (o->nfc_uid)
		rc = ident_classify(d.pipe, IDENT_SRC_NFC_UID, uid, uid_len, &r);
	else
		rc = ident_classify(d.pipe, IDENT_SRC_BARCODE, o->card,
				    strnlen(o->card, IDENT_TEXT_MAX + 1), &r);
	rg_wipe(uid, sizeof uid);
	if (rc < 0) {
		rc = ctl_fail(what, rc, "the identifier pipeline failed");
		goto out;
	}
	if (r.reason != IDENT_OK) {
		if (r.type != IDENT_TYPE_NONE)
			printf("refused: %s (read as %s)\n", ident_reason_name(r.reason),
			       ident_type_name(r.type));
		else
			printf("refused: %s\n", ident_reason_name(r.reason));
		rc = 1;
		goto out;
	}
	if (!(body = malloc(STORE_BODY_MAX + 1))) {
		rc = ctl_fail(what, RG_ERR_NOMEM, "lookup");
		goto out;
	}
	rc = store_identify(d.store, r.token, body, STORE_BODY_MAX + 1, &hit);
	if (rc < 0) {
		rc = ctl_fail(what, rc, "lookup failed");
	} else if (rc == 0) {
		if (hit.profile_id[0])
			printf(
			    "not in the local cache (the %s belongs to profile %s, whose body is "
			    "not cached)\n",
			    ident_type_name(r.type), hit.profile_id);
		else
			printf("not in the local cache\n");
		rc = 1;
	} else {
		cJSON *out = cJSON_CreateObject(), *profile = cJSON_Parse(body);
		char *text = NULL;
		if (out && profile && cJSON_AddStringToObject(out, "profile_id", hit.profile_id) &&
		    cJSON_AddNumberToObject(out, "version", (double)hit.version) &&
		    cJSON_AddStringToObject(out, "identifier_type", hit.type) &&
		    cJSON_AddNumberToObject(out, "redirects", hit.redirects)) {
			cJSON_AddItemToObject(out, "profile", profile);
			profile = NULL;
			text = cJSON_Print(out);
		}
		cJSON_Delete(profile);
		cJSON_Delete(out);
		if (text) {
			printf("%s\n", text);
			rg_wipe(text, strlen(text));
			cJSON_free(text);
			rc = 0;
		} else {
			rc = ctl_fail(what, RG_ERR_NOMEM, "cannot print the profile");
		}
	}
out:
	if (body) {
		rg_wipe(body, STORE_BODY_MAX + 1);
		free(body);
	}
	rg_wipe(&r, sizeof r);
	dev_close(&d);
	return rc;
}

/* ---- outbox ---- */

struct outbox_walk {
	bool json;
	int64_t now_ms;
	int64_t last_seq;
	long long shown;
	cJSON *arr;
	int err;
};

static void age_text(int64_t ms, char *buf, size_t cap)
{
	int64_t s = ms < 0 ? 0 : ms / 1000;
	if (s < 120)
		snprintf(buf, cap, "%llds", (long long)s);
	else if (s < 7200)
		snprintf(buf, cap, "%lldm", (long long)(s / 60));
	else if (s < 172800)
		snprintf(buf, cap, "%lldh", (long long)(s / 3600));
	else
		snprintf(buf, cap, "%lldd", (long long)(s / 86400));
}

static int outbox_row(void *ctx, const struct store_outbox_row *row)
{
	struct outbox_walk *w = ctx;
	char id[RG_UUID_STR_LEN + 1], hlc[RG_HLC_STR_MAX], age[24], tok[9] = "";

	w->last_seq = row->seq;
	w->shown++;
	rg_uuid_format(&row->id, id);
	rg_hlc_format(&row->hlc, hlc, sizeof hlc);
	if (row->has_token)
		rg_hex_encode(row->token, 4, tok, sizeof tok);
	if (!w->json) {
		age_text(w->now_ms - row->created_ms, age, sizeof age);
		printf("%-8lld %-36s %-20s %-18s %-20s %-8s %d\n", (long long)row->seq, id, hlc,
		       rg_kind_name(row->kind), row->profile_id ? row->profile_id : "-", age,
		       row->attempts);
		return 0;
	}
	cJSON *o = cJSON_CreateObject();
	cJSON *body = cJSON_ParseWithLength(row->body, row->body_len);
	if (!o || !body || !cJSON_AddNumberToObject(o, "seq", (double)row->seq) ||
	    !cJSON_AddStringToObject(o, "id", id) || !cJSON_AddStringToObject(o, "hlc", hlc) ||
	    !cJSON_AddStringToObject(o, "kind", rg_kind_name(row->kind)) ||
	    !(row->profile_id ? cJSON_AddStringToObject(o, "profile", row->profile_id)
			      : cJSON_AddNullToObject(o, "profile")) ||
	    !(row->has_token ? cJSON_AddStringToObject(o, "token_prefix", tok)
			     : cJSON_AddNullToObject(o, "token_prefix")) ||
	    !cJSON_AddNumberToObject(o, "created_ms", (double)row->created_ms) ||
	    !cJSON_AddNumberToObject(o, "age_ms", (double)(w->now_ms - row->created_ms)) ||
	    !cJSON_AddNumberToObject(o, "attempts", row->attempts) ||
	    !(row->sent_ms ? cJSON_AddNumberToObject(o, "sent_ms", (double)row->sent_ms)
			   : cJSON_AddNullToObject(o, "sent_ms"))) {
		cJSON_Delete(o);
		cJSON_Delete(body);
		return w->err = RG_ERR_NOMEM;
	}
	cJSON_AddItemToObject(o, "body", body);
	cJSON_AddItemToArray(w->arr, o);
	return 0;
}

static int do_outbox(const struct opts *o)
{
	const char *what = "device outbox";
	struct outbox_walk w = {.json = o->json};
	long long limit = o->has_limit ? o->limit : LIMIT_DEFAULT;
	struct dev d;
	int rc;

	if ((rc = only(what, o, "--config --limit --json")) != 0)
		return rc;
	if ((rc = dev_open(what, o->config, false, &d)) != 0)
		return rc;
	w.now_ms = rg_clock_wall_ms(rg_clock_system());
	if (o->json && !(w.arr = cJSON_CreateArray())) {
		dev_close(&d);
		return ctl_fail(what, RG_ERR_NOMEM, "outbox");
	}
	if (!o->json && store_outbox_count(d.store) > 0)
		printf("%-8s %-36s %-20s %-18s %-20s %-8s %s\n", "seq", "id", "hlc", "kind",
		       "profile", "age", "attempts");
	while (w.shown < limit) {
		long long want = limit - w.shown;
		long long before = w.shown;
		rc = store_outbox_list(d.store, w.last_seq,
				       (size_t)(want < STORE_LIST_MAX ? want : STORE_LIST_MAX),
				       outbox_row, &w);
		if (rc < 0 || w.shown == before)
			break;
	}
	if (rc < 0 || w.err < 0) {
		cJSON_Delete(w.arr);
		dev_close(&d);
		return ctl_fail(what, rc < 0 ? rc : w.err, "cannot list the outbox");
	}
	if (o->json) {
		char *text = cJSON_Print(w.arr);
		cJSON_Delete(w.arr);
		if (!text) {
			dev_close(&d);
			return ctl_fail(what, RG_ERR_NOMEM, "cannot print");
		}
		printf("%s\n", text);
		rg_wipe(text, strlen(text));
		cJSON_free(text);
	} else {
		int total = store_outbox_count(d.store);
		if (w.shown == 0)
			printf("the outbox is empty\n");
		else if (total > w.shown)
			printf("(%lld of %d rows shown; --limit N for more)\n", w.shown, total);
	}
	dev_close(&d);
	return 0;
}

int ctl_device_main(int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*run)(const struct opts *o);
	} subs[] = {
	    {"provision", do_provision}, {"pin-hash", do_pin_hash}, {"seed", do_seed},
	    {"stats", do_stats},	 {"lookup", do_lookup},	    {"outbox", do_outbox},
	};
	const char *sub = argc > 1 ? argv[1] : NULL;
	struct opts o;
	int rc;

	if (!sub || !strcmp(sub, "--help") || !strcmp(sub, "-h") || !strcmp(sub, "help")) {
		usage(sub ? stdout : stderr);
		return sub ? 0 : 2;
	}
	for (size_t i = 0; i < sizeof subs / sizeof subs[0]; i++) {
		if (strcmp(sub, subs[i].name))
			continue;
		if ((rc = parse(argc - 1, argv + 1, "device", &o)) != 0)
			return rc;
		if (o.help) {
			usage(stdout);
			return 0;
		}
		/* Logs (key=value on stderr) only for warnings unless asked. */
		if (!getenv("REGULARS_LOG_LEVEL"))
			rg_log_set_level(RG_LOG_WARN);
		return subs[i].run(&o);
	}
	return ctl_usage_error("device", "the subcommands are provision, pin-hash, seed, stats, "
					 "lookup and outbox");
}
