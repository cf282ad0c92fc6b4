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

#include "common/ident.h"

#ifdef __cplusplus
extern "C" {
#endif

#define DEVCFG_READERS_MAX 8
#define DEVCFG_STR_MAX 512     /* paths, option strings */
#define DEVCFG_FILE_MAX (256 * 1024)

enum devcfg_role { DEVCFG_ROLE_KIOSK = 0, DEVCFG_ROLE_HANDHELD = 1 };

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
	} screen;
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
/* The UI directory compiled in (REGULARS_UI_DIR, the install location), or
 * overridden by the REGULARS_UI_DIR environment variable. */
const char *devcfg_default_assets(void);

#ifdef __cplusplus
}
#endif

#endif
