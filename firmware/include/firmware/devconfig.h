/*
 * devconfig.h - the device daemon's configuration file (docs/device-config.md):
 * strict JSON parsing (unknown keys and bad values are errors naming the key),
 * defaults, and which parts a SIGHUP may change. Shared by regulars-device and
 * `regularsctl device`.
 */
#ifndef FIRMWARE_DEVCONFIG_H
#define FIRMWARE_DEVCONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cJSON.h>

#include "common/ident.h"
#include "common/settings.h"

#ifdef __cplusplus
extern "C" {
#endif

#define DEVCFG_READERS_MAX 8
#define DEVCFG_STR_MAX 512     /* paths, option strings */
#define DEVCFG_FILE_MAX (256 * 1024)

enum devcfg_role { DEVCFG_ROLE_KIOSK = 0, DEVCFG_ROLE_HANDHELD = 1 };

/* screen.privacy: how much of a customer the kiosk may show (docs/config.md). */
enum devcfg_privacy {
	DEVCFG_PRIVACY_FULL = 0,       /* first name, tier, points, consented items */
	DEVCFG_PRIVACY_FIRST_NAME = 1, /* the first name only */
	DEVCFG_PRIVACY_ANONYMOUS = 2,  /* never a name or a detail */
};

/* The screen languages, in this order wherever texts are indexed by language. */
#define DEVCFG_LANGS 4
extern const char *const devcfg_languages[DEVCFG_LANGS + 1]; /* "en", "de", "fr", "nl", NULL */
/* Index of a language name in devcfg_languages, or -1. */
int devcfg_language_index(const char *lang);

/* screen.text.<lang>: "" = the UI's built-in text. */
struct devcfg_texts {
	char greeting[RG_SETTINGS_TEXT_MAX + 1]; /* may hold "{name}" */
	char welcome[RG_SETTINGS_TEXT_MAX + 1];	 /* the idle screen */
	char unknown[RG_SETTINGS_TEXT_MAX + 1];	 /* an unknown card */
	char closed[RG_SETTINGS_TEXT_MAX + 1];	 /* outside screen.hours */
};

struct devcfg_hal {
	char backend[32];
	char options[DEVCFG_STR_MAX];
};

struct devcfg {
	char device_id[65];
	char store_id[33];
	enum devcfg_role role;
	char database[DEVCFG_STR_MAX];
	struct devcfg_hal keystore;	/* default backend "file", options "" */
	size_t n_readers;
	struct devcfg_hal readers[DEVCFG_READERS_MAX];
	bool has_display, has_indicator;
	struct devcfg_hal display, indicator;
	struct {
		char bind[64];		/* default "127.0.0.1" */
		int port;		/* default 8080; 0 = any free port */
		char assets[DEVCFG_STR_MAX]; /* default: devcfg_default_assets() */
		int session_idle_s;	/* default 300, 30..86400 */
	} http;
	char pin_hash[160];		/* "" = no staff login */
	struct {
		int64_t max_profiles;	/* default 1000000 */
		int64_t max_bytes;	/* default 1 GiB */
	} cache;
	struct {
		int idle_after_ms;	/* default 8000, 1000..600000 */
		int public_items_max;	/* default 3, 0..3 */
		char default_language[8]; /* en|de|fr|nl, default en */
		enum devcfg_privacy privacy;	/* default full */
		struct devcfg_texts text[DEVCFG_LANGS]; /* by devcfg_languages; default none */
		struct rg_settings_hours hours;	/* default: not set = always open */
	} screen;
	int log_level; /* log.level as enum rg_log_level, or -1: not set (REGULARS_LOG_LEVEL) */
	bool has_config; /* the "config" object is present: pushed configuration is on */
	struct {
		char trust_anchor[DEVCFG_STR_MAX]; /* the v1 key set file (required in "config") */
		char state[DEVCFG_STR_MAX];	   /* the state file, default database + "-config" */
	} config;
	struct ident_config identifiers; /* ident_config_default + the "identifiers" object */
	bool has_uplink;		/* the "uplink" object is present (docs/device-config.md) */
	struct {
		char host[256];
		int port;			/* default 8883 */
		char ca_file[DEVCFG_STR_MAX];
		char cert_file[DEVCFG_STR_MAX];
		char key_file[DEVCFG_STR_MAX];
		int batch_max;			/* items per batch, default 100, 1..500 */
		int resend_ms;			/* resend unacknowledged rows after, default 30000 */
		int lookup_timeout_ms;		/* remote lookup on a local miss, default 1500, 0 = off */
		int pull_ms;			/* pull changes at least this often, default 60000 */
	} uplink;
};

/* Parse a JSON document. Returns 0, or RG_ERR_CONFIG (and the other parse
 * codes) with "key.path: what is wrong" in err. *out is unspecified on failure. */
int devcfg_parse(const char *json, size_t len, struct devcfg *out, char *err, size_t errcap);
/* Read and parse a file (at most DEVCFG_FILE_MAX bytes); err names the file. */
int devcfg_load(const char *path, struct devcfg *out, char *err, size_t errcap);
/* Whether a reload from old to new is possible without a restart: 0 if only
 * reloadable keys differ; RG_ERR_STATE with the first non-reloadable key in err. */
int devcfg_reload_check(const struct devcfg *old, const struct devcfg *new_cfg, char *err,
			size_t errcap);
const char *devcfg_role_name(enum devcfg_role r);
const char *devcfg_privacy_name(enum devcfg_privacy p);

/*
 * The effective configuration: *file with every key the merged pushed
 * settings (common/settings.h; cfgstate_merged) set laid over it:
 * log.level, screen.* (screen.text key by key), cache.*, sync.batch_max /
 * resend_ms / lookup_timeout_ms -> uplink.*, and identifiers (the whole
 * object, parsed by ident_config_from_json over the defaults: it replaces
 * the file's identifiers). gateway.* keys are ignored. merged NULL or {}
 * gives *file. Returns 0, or RG_ERR_CONFIG with "key: why" in err (*out is
 * unspecified then). file and out may not overlap.
 */
int devcfg_overlay(const struct devcfg *file, const cJSON *merged, struct devcfg *out, char *err,
		   size_t errcap);
/* The UI directory compiled in (REGULARS_UI_DIR, the install location), or
 * overridden by the REGULARS_UI_DIR environment variable. */
const char *devcfg_default_assets(void);

#ifdef __cplusplus
}
#endif

#endif
