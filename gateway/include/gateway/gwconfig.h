/*
 * gwconfig.h - the gateway's configuration file (docs/gateway.md): strict
 * JSON (unknown keys and bad values are errors naming the key), defaults, and
 * which parts a SIGHUP may change. A parse either fills the whole struct or
 * fails with a message; nothing half-parsed is ever used.
 */
#ifndef GATEWAY_GWCONFIG_H
#define GATEWAY_GWCONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cJSON.h>

#ifdef __cplusplus
extern "C" {
#endif

#define GWCFG_PATH_MAX 512
#define GWCFG_HOST_MAX 255
#define GWCFG_FILE_MAX (64 * 1024)
#define GWCFG_DEVICES_MAX 1024
/* Ranges shared by the file and pushed settings (common/settings.h). */
#define GWCFG_WINDOW_MAX 1024
#define GWCFG_RESEND_MIN 100
#define GWCFG_RESEND_MAX 3600000
#define GWCFG_RECONNECT_MIN 250
#define GWCFG_RECONNECT_MAX 300000
#define GWCFG_STATS_MAX 86400
#define GWCFG_PULL_MIN 250
#define GWCFG_PULL_MAX 3600000
#define GWCFG_RETENTION_MAX 3650

struct gwcfg_broker {
	char host[GWCFG_HOST_MAX + 1];
	int port; /* default 8883 */
};

struct gwcfg {
	char store_id[33]; /* [a-z0-9-]{1,32} */
	char identity[65]; /* "gw-<store_id>" (the only value allowed) */
	struct gwcfg_broker store_broker;
	struct gwcfg_broker central_broker;
	char ca_file[GWCFG_PATH_MAX];
	char cert_file[GWCFG_PATH_MAX];
	char key_file[GWCFG_PATH_MAX];
	char spool_path[GWCFG_PATH_MAX];
	int64_t budget_bytes; /* default 1 GiB, at least 1 MiB */
	int forward_window;   /* messages forwarded and not yet acked; default 64 */
	int resend_ms;	      /* re-forward an unacked batch after; default 30000 */
	int forward_bundle;   /* spooled batches of a device per message, 1..16; default 8 */
	int reconnect_max_ms; /* cap of the brokers' reconnect backoff; default 10000 */
	int stats_interval_s; /* periodic stats line; default 60 */
	int log_level;	      /* enum rg_log_level; default info */
	/* "config": the gateway's own pushed settings (docs/gateway.md). Off
	 * when has_config is false; state defaults to spool_path + "-config". */
	bool has_config;
	char config_anchor[GWCFG_PATH_MAX];
	char config_state[GWCFG_PATH_MAX];
	/* "replica": the store replica (docs/replication.md, "Gateway replica").
	 * path defaults to spool_path + "-replica". */
	char replica_path[GWCFG_PATH_MAX];
	int pull_ms;	    /* ask central for changes this often; default 5000 */
	int retention_days; /* the gateway's change log keeps this long; default 30 */
	/* NULL-free list of accepted device identities; n_devices 0 = any device
	 * identity (never gw-*) under this store's broker. Owned by the struct:
	 * release with gwcfg_free(). */
	size_t n_devices;
	char (*devices)[65];
};

/* Parse a JSON document. 0, or RG_ERR_CONFIG with "key: what is wrong" in
 * err. On failure *out holds nothing to free. */
int gwcfg_parse(const char *json, size_t len, struct gwcfg *out, char *err, size_t errcap);
/* Read and parse a file (at most GWCFG_FILE_MAX bytes); err names the file. */
int gwcfg_load(const char *path, struct gwcfg *out, char *err, size_t errcap);
void gwcfg_free(struct gwcfg *c);
/* A deep copy (known_devices included): 0 or RG_ERR_NOMEM (dst then holds
 * nothing to free). */
int gwcfg_copy(struct gwcfg *dst, const struct gwcfg *src);
/*
 * Overlay the gateway keys of a merged settings object (common/settings.h:
 * gateway.log.level, gateway.forward.window, .resend_ms, .reconnect_max_ms,
 * .bundle, gateway.stats_interval_s) onto c, key by key; every other key is left to
 * the devices. Each value must also fit this file's own range for the key.
 * Returns the number of keys applied, or RG_ERR_CONFIG naming the key (c is
 * then unchanged). merged NULL applies nothing.
 */
int gwcfg_overlay(struct gwcfg *c, const cJSON *merged, char *err, size_t errcap);
/* Whether new_cfg may replace old without a restart: 0 if only reloadable
 * keys differ (log_level, known_devices, spool.budget_bytes,
 * forward.window, forward.resend_ms, forward.bundle, stats_interval_s, replica.pull_ms,
 * replica.retention_days); RG_ERR_STATE naming
 * the first other key that differs (config.* included). */
int gwcfg_reload_check(const struct gwcfg *old, const struct gwcfg *new_cfg, char *err,
		       size_t errcap);
/* 1 if id is a device this configuration accepts uplinks from. */
int gwcfg_device_known(const struct gwcfg *c, const char *id);

#ifdef __cplusplus
}
#endif

#endif
