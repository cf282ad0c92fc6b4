/*
 * regulars-device - the daemon on every kiosk and staff handheld.
 *
 * Reads identifiers from the configured readers, shows the customer's context
 * from the local cache on the local web screen, and records every
 * interaction durably in the outbox (docs/device-config.md,
 * docs/device-api.md). Applies signed configuration pushed over MQTT live
 * (docs/config.md): the uplink's thread queues each document, the main
 * thread checks it (cfgstate), lays the merged settings over the file
 * (devcfg_overlay) and applies the result as one step. One main thread
 * polls the readers and a signal pipe; the web server and the uplink run
 * their own threads.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cfgqueue.h"
#include "common/cfgdoc.h"
#include "common/cfgstate.h"
#include "common/err.h"
#include "common/file.h"
#include "common/ident_token.h"
#include "common/ident_totp.h"
#include "common/log.h"
#include "common/wake.h"
#include "device.h"
#include "firmware/devkeys.h"
#include "hal/display.h"
#include "hal/indicator.h"
#include "hal/reader.h"
#include "puller.h"
#ifdef REGULARS_HAVE_UPLINK
#include "firmware/uplink.h"
#endif

#ifndef REGULARS_VERSION
#define REGULARS_VERSION "dev"
#endif

#define IDLE_FLUSH_MS 5000
#define CONFIG_TICK_MS 10000 /* re-check expiry, republish the report on a change */
#define ANCHOR_FILE_MAX (64 * 1024)

static void usage(FILE *f)
{
	fprintf(f,
		"usage: regulars-device --config FILE [--check-config]\n"
		"\n"
		"The Regulars device daemon for kiosks and staff handhelds: identifies customers\n"
		"from the configured readers using the local cache, shows them on the local web\n"
		"screen, and records every interaction durably for sync.\n"
		"\n"
		"  -c, --config FILE   the device configuration (docs/device-config.md)\n"
		"      --check-config  validate the configuration and exit (0 valid, 2 not)\n"
		"  -h, --help          this text\n"
		"  -V, --version       print the version\n"
		"\n"
		"Signals: SIGTERM/SIGINT stop cleanly, SIGHUP reloads the configuration.\n"
		"Environment: REGULARS_LOG_LEVEL=error|warn|info|debug (default info),\n"
		"             REGULARS_UI_DIR overrides the UI asset directory.\n"
		"Exit status: 0 clean stop, 1 runtime failure, 2 bad usage or configuration.\n");
}

struct daemon {
	struct devcfg file; /* as the config file says */
	struct devcfg cfg;  /* what runs: the file with the pushed settings over it */
	struct devkeys keys;
	struct store *store;
	struct ident_replay_store replay;
	struct ident_secret_store secrets;
	struct device *dev;
	struct web_server *web;
	size_t n_readers;
	struct hal_reader *readers[DEVCFG_READERS_MAX];
	struct hal_display *display;
	struct hal_indicator *indicator;
#ifdef REGULARS_HAVE_UPLINK
	struct uplink *uplink;
#endif
	struct puller *puller; /* replication from the gateway (with the uplink) */
	const char *config_path;
	int exit_code; /* of a failed start: 1, or 2 for a configuration error */
	int base_log_level; /* REGULARS_LOG_LEVEL or info: when no log.level is set */
	/* pushed configuration (file "config"; docs/config.md) */
	struct cfgdoc_keyset anchor;
	struct cfgstate *cs;
	struct cfgq *cq;
	int64_t last_config_tick;
};

/* A refused-unread stand-in for payloads over CFGDOC_ENVELOPE_MAX: the queue
 * never copies them, and cfgstate refuses this view by its length alone
 * (too_large) before reading a byte, so the refusal is reported like any
 * other. The real size is logged. Never written; not const, so it costs
 * .bss (zero pages), not 64 KiB of the binary. */
static char too_large_view[CFGDOC_ENVELOPE_MAX + 1];

static int make_pipeline(struct daemon *dm, const struct devcfg *cfg, struct ident_pipeline **out)
{
	struct ident_pipeline_params pp = {
		.config = &cfg->identifiers,
		.tenant_key = dm->keys.tenant_key,
		.tenant_key_len = dm->keys.tenant_key_len,
		.totp_seal_key = dm->keys.totp_key,
		.replay = &dm->replay,
		.secrets = &dm->secrets,
	};
	return ident_pipeline_new(&pp, out);
}

static const char *level_name(int level)
{
	static const char *const names[] = {"debug", "info", "warn", "error", "off"};
	return level >= 0 && level <= RG_LOG_OFF ? names[level] : "default";
}

static void set_log_level(struct daemon *dm, const struct devcfg *cfg)
{
	rg_log_set_level((enum rg_log_level)(cfg->log_level >= 0 ? cfg->log_level
								   : dm->base_log_level));
}

/* The v1 key set file (config.trust_anchor). Errors name the key. */
static int load_anchor(const struct devcfg *cfg, struct cfgdoc_keyset *out, char *err,
		       size_t errcap)
{
	char inner[256], *buf = NULL;
	size_t len = 0;
	int rc = rg_file_read(cfg->config.trust_anchor, ANCHOR_FILE_MAX, &buf, &len, inner,
			      sizeof inner);
	if (rc < 0)
		return rg_errf(RG_ERR_CONFIG, err, errcap, "config.trust_anchor: %s", inner);
	rc = cfgdoc_keyset_parse(buf, len, out, inner, sizeof inner);
	free(buf);
	if (rc < 0)
		return rg_errf(RG_ERR_CONFIG, err, errcap, "config.trust_anchor: %s: %s",
			       cfg->config.trust_anchor, inner);
	return 0;
}

/* cfgstate's check of a candidate merged settings object: it must lay over
 * the file cleanly and give an identifier pipeline that builds. */
static int validate_settings(void *ctx, const cJSON *merged, char *err, size_t errcap)
{
	struct daemon *dm = ctx;
	struct devcfg *next = malloc(sizeof *next);
	struct ident_pipeline *pipe = NULL;
	int rc;
	if (!next)
		return RG_ERR_NOMEM;
	rc = devcfg_overlay(&dm->file, merged, next, err, errcap);
	if (rc == 0 && (rc = make_pipeline(dm, next, &pipe)) < 0)
		rc = rg_errf(RG_ERR_CONFIG, err, errcap, "identifiers: %s", rg_strerror(rc));
	ident_pipeline_free(pipe);
	free(next);
	return rc;
}

/* The effective configuration from file and the applied pushed settings. */
static int effective(struct daemon *dm, const struct devcfg *file, struct devcfg *out, char *err,
		     size_t errcap)
{
	cJSON *merged = NULL;
	int rc;
	if (dm->cs && !(merged = cfgstate_merged(dm->cs)))
		return RG_ERR_NOMEM;
	rc = devcfg_overlay(file, merged, out, err, errcap);
	cJSON_Delete(merged);
	return rc;
}

/* What GET /api/config and the retained status show. Main thread. */
static void config_publish(struct daemon *dm)
{
	cJSON *rep, *all;
	char *text;
	if (!dm->cs)
		return;
	rep = cfgstate_report(dm->cs);
	all = cJSON_CreateObject();
	if (rep && all) {
		cJSON_AddBoolToObject(all, "enabled", true);
		cJSON *merged = cfgstate_merged(dm->cs);
		if (merged)
			cJSON_AddItemToObject(all, "effective", merged);
		cJSON_AddItemToObject(all, "report", cJSON_Duplicate(rep, 1));
		if ((text = cJSON_PrintUnformatted(all))) {
			if (dm->dev)
				device_set_config_json(dm->dev, text);
			free(text);
		}
#ifdef REGULARS_HAVE_UPLINK
		if (dm->uplink && (text = cJSON_PrintUnformatted(rep))) {
			uplink_set_config_report(dm->uplink, text);
			free(text);
		}
#endif
	}
	cJSON_Delete(rep);
	cJSON_Delete(all);
}

/* Make next what runs, live, as one step after the one thing that can fail
 * (the pipeline): screen, identifiers, log level, cache limits, sync. */
static int apply(struct daemon *dm, const struct devcfg *next, const char *why)
{
	struct ident_pipeline *pipe = NULL;
	int rc = make_pipeline(dm, next, &pipe);
	if (rc < 0) {
		rg_error("device", "config_apply_failed", "why=%s error=\"identifiers: %s\"", why,
			 rg_strerror(rc));
		return rc;
	}
	if (dm->web)
		web_set_pin_hash(dm->web, next->pin_hash[0] ? next->pin_hash : NULL);
	device_reload(dm->dev, next, pipe); /* screen, identifiers, cache limits */
	set_log_level(dm, next);
#ifdef REGULARS_HAVE_UPLINK
	if (dm->uplink && (next->uplink.batch_max != dm->cfg.uplink.batch_max ||
			   next->uplink.resend_ms != dm->cfg.uplink.resend_ms ||
			   next->uplink.lookup_timeout_ms != dm->cfg.uplink.lookup_timeout_ms))
		uplink_set_params(dm->uplink, next->uplink.batch_max, next->uplink.resend_ms,
				  next->uplink.lookup_timeout_ms);
#endif
	if (dm->puller && next->uplink.pull_ms != dm->cfg.uplink.pull_ms)
		puller_set_interval(dm->puller, next->uplink.pull_ms);
	dm->cfg = *next;
	rg_info("device", "config_live",
		"why=%s privacy=%s hours=%s log_level=%s max_profiles=%lld batch_max=%d", why,
		devcfg_privacy_name(next->screen.privacy), next->screen.hours.set ? "set" : "always",
		level_name(next->log_level),
		(long long)next->cache.max_profiles, next->uplink.batch_max);
	return 0;
}

/* Offer every queued configuration message to cfgstate; apply what it
 * accepted. Main thread. */
static void take_config(struct daemon *dm)
{
	struct cfgq_item it;
	bool changed = false, offered = false;
	while (dm->cq && cfgq_pop(dm->cq, &it) == 1) {
		enum cfgdoc_reason reason = CFGDOC_OK;
		char q[CFGQ_TOPIC_MAX + 8];
		int rc;
		if (it.too_large)
			rg_warn("device", "config_too_large", "topic=%s bytes=%zu max=%d",
				rg_log_quote(q, sizeof q, it.topic), it.len, CFGDOC_ENVELOPE_MAX);
		rc = cfgstate_offer(dm->cs, (enum cfgdoc_scope)it.scope,
				    it.too_large ? too_large_view : it.payload,
				    it.too_large ? sizeof too_large_view : it.len, &reason);
		if (rc < 0)
			rg_error("device", "config_offer_failed", "topic=%s error=%s",
				 rg_log_quote(q, sizeof q, it.topic), rg_errname(rc));
		changed |= rc == 1;
		offered = true;
		cfgq_item_clear(&it);
	}
	if (changed) {
		struct devcfg *next = malloc(sizeof *next);
		char err[512], q[600];
		int rc = next ? effective(dm, &dm->file, next, err, sizeof err) : RG_ERR_NOMEM;
		if (rc < 0)
			rg_error("device", "config_apply_failed", "error=%s",
				 rg_log_quote(q, sizeof q, rc == RG_ERR_NOMEM ? "out of memory" : err));
		else
			apply(dm, next, "pushed");
		free(next);
	}
	if (offered)
		config_publish(dm);
}

static void up_config(void *ctx, int scope, const char *topic, const void *payload, size_t len)
{
	struct daemon *dm = ctx;
	int rc = cfgq_push(dm->cq, scope, topic, payload, len);
	if (rc == RG_ERR_BUSY)
		rg_warn("device", "config_dropped", "reason=queue_full max=%d", CFGQ_MAX);
	else if (rc < 0)
		rg_error("device", "config_dropped", "error=%s", rg_errname(rc));
}

static void wake_work(void *ctx)
{
	(void)ctx;
	rg_wake_post(RG_WAKE_WORK);
}

/* Start-up: the state file, and what it last applied laid over the file,
 * before anything else starts (a rebooted device runs its last good
 * configuration before it reconnects). */
static int config_open(struct daemon *dm)
{
	char err[512];
	struct cfgstate_params cp = {.path = dm->file.config.state,
				     .anchor = &dm->anchor,
				     .store = dm->file.store_id,
				     .identity = dm->file.device_id,
				     .validate = validate_settings,
				     .ctx = dm};
	int rc;
	if (!dm->file.has_config) {
		rg_info("device", "config_push_off", "reason=\"no config object in %s\"",
			dm->config_path);
		return 0;
	}
	if ((rc = cfgstate_open(&cp, &dm->cs, err, sizeof err)) < 0) {
		if (rc == RG_ERR_VERIFY) {
			fprintf(stderr, "regulars-device: config.trust_anchor: %s\n", err);
			dm->exit_code = 2;
		} else {
			fprintf(stderr, "regulars-device: config.state %s: %s\n",
				dm->file.config.state, err);
		}
		return rc;
	}
	if ((rc = cfgq_new(wake_work, NULL, &dm->cq)) < 0)
		return rc;
	struct devcfg *next = malloc(sizeof *next);
	if (!next)
		return RG_ERR_NOMEM;
	rc = effective(dm, &dm->file, next, err, sizeof err);
	if (rc == 0) {
		struct ident_pipeline *pipe = NULL;
		if ((rc = make_pipeline(dm, next, &pipe)) < 0)
			snprintf(err, sizeof err, "identifiers: %s", rg_strerror(rc));
		ident_pipeline_free(pipe);
	}
	if (rc < 0) {
		/* The saved settings no longer fit (the file changed under them):
		 * run the file, say so; the next push replaces them. */
		char q[600];
		rg_error("device", "config_saved_unusable", "error=%s running=file",
			 rg_log_quote(q, sizeof q, err));
	} else {
		dm->cfg = *next;
	}
	free(next);
	if (!dm->file.has_uplink)
		rg_warn("device", "config_without_uplink",
			"reason=\"no uplink object: the saved configuration runs, nothing new arrives\"");
	rg_info("device", "config_push_on", "state=%s keys_version=%lld tenant=%lld store=%lld "
		"device=%lld", dm->file.config.state, (long long)cfgstate_keys(dm->cs)->version,
		(long long)cfgstate_version(dm->cs, CFGDOC_SCOPE_TENANT),
		(long long)cfgstate_version(dm->cs, CFGDOC_SCOPE_STORE),
		(long long)cfgstate_version(dm->cs, CFGDOC_SCOPE_DEVICE));
	return 0;
}

static enum ident_source source_of(const struct hal_read *rd, const void **data, size_t *len)
{
	switch (rd->kind) {
	case HAL_READ_NFC_UID:
		*data = rd->uid;
		*len = rd->uid_len;
		return IDENT_SRC_NFC_UID;
	case HAL_READ_NDEF:
		*data = rd->payload;
		*len = rd->payload_len;
		return IDENT_SRC_NDEF;
	case HAL_READ_QR:
		*data = rd->payload;
		*len = rd->payload_len;
		return IDENT_SRC_QR;
	case HAL_READ_MAGSTRIPE:
		*data = rd->payload;
		*len = rd->payload_len;
		return IDENT_SRC_MAGSTRIPE;
	case HAL_READ_BARCODE:
		break;
	}
	*data = rd->payload;
	*len = rd->payload_len;
	return IDENT_SRC_BARCODE;
}

static void signal_outcome(struct daemon *dm, int rc, enum view_state st)
{
	if (rc == 0 && st == VIEW_CLOSED)
		return; /* asleep: a closed kiosk does not react */
	if (dm->indicator) {
		enum hal_pattern p = rc < 0		 ? HAL_PATTERN_ERROR
				     : st == VIEW_GREETING ? HAL_PATTERN_OK
				     : st == VIEW_UNKNOWN  ? HAL_PATTERN_UNKNOWN
							   : HAL_PATTERN_REFUSED;
		hal_indicator_signal(dm->indicator, p);
	}
	if (dm->display) {
		char *screen = device_screen_copy(dm->dev);
		if (screen) {
			struct hal_view v = {.json = screen};
			hal_display_show(dm->display, &v);
			free(screen);
		}
	}
}

static void take_reads(struct daemon *dm, struct hal_reader *r)
{
	struct hal_read rd;
	/* Bounded per wakeup so one chatty reader cannot starve the others. */
	for (int i = 0; i < 32 && hal_reader_poll(r, &rd) == 1; i++) {
		const void *data;
		size_t len;
		enum view_state st = VIEW_IDLE;
		enum ident_source src = source_of(&rd, &data, &len);
		int rc = device_handle_read(dm->dev, src, data, len, &st);
		signal_outcome(dm, rc, st);
		rg_wipe(&rd, sizeof rd);
	}
}

/* SIGHUP: re-read the file, lay the pushed settings over it again, apply. */
static void reload(struct daemon *dm)
{
	struct devcfg *file = malloc(sizeof *file), *next = malloc(sizeof *next);
	char err[512];
	int rc = file && next ? 0 : RG_ERR_NOMEM;
	if (rc == 0)
		rc = devcfg_load(dm->config_path, file, err, sizeof err);
	if (rc == 0)
		rc = devcfg_reload_check(&dm->file, file, err, sizeof err);
	if (rc == 0)
		rc = effective(dm, file, next, err, sizeof err);
	if (rc == 0 && (rc = apply(dm, next, "reload")) < 0)
		snprintf(err, sizeof err, "identifiers: %s", rg_strerror(rc));
	if (rc < 0) {
		char q[600];
		rg_error("device", "reload_refused", "error=%s keeping=running_config",
			 rg_log_quote(q, sizeof q, rc == RG_ERR_NOMEM ? "out of memory" : err));
	} else {
		dm->file = *file;
		rg_info("device", "reloaded", "config=%s", dm->config_path);
	}
	free(file);
	free(next);
}

#ifdef REGULARS_HAVE_UPLINK
static void up_notify(void *ctx)
{
	uplink_notify(ctx);
}
static int up_lookup(void *ctx, const uint8_t token[RG_TOKEN_LEN], int timeout_ms, char *buf,
		     size_t cap)
{
	return uplink_lookup(ctx, token, timeout_ms, buf, cap);
}
static bool up_connected(void *ctx)
{
	struct uplink_status st;
	uplink_status_get(ctx, &st);
	return st.connected;
}

/* The puller's link: requests and status through the uplink. */
static int up_pull(void *ctx, const char *op, const char *req, size_t len, int timeout_ms,
		   char **out, size_t *out_len)
{
	struct daemon *dm = ctx;
	return uplink_pull(dm->uplink, op, req, len, timeout_ms, out, out_len);
}
static void up_report(void *ctx, int64_t cursor, int64_t latest, int64_t as_of_ms)
{
	struct daemon *dm = ctx;
	uplink_set_replica(dm->uplink, cursor, latest, as_of_ms);
}
static void up_cancel(void *ctx)
{
	struct daemon *dm = ctx;
	uplink_pull_cancel(dm->uplink);
}
static void up_notice(void *ctx, int64_t latest)
{
	struct daemon *dm = ctx;
	puller_notice(dm->puller, latest);
}
static void up_online(void *ctx)
{
	struct daemon *dm = ctx;
	puller_kick(dm->puller);
}

static int start_uplink(struct daemon *dm)
{
	struct puller_config pc = {
		.store = dm->store,
		.link = {.ctx = dm, .request = up_pull, .report = up_report, .cancel = up_cancel},
		.pull_ms = dm->cfg.uplink.pull_ms,
	};
	int prc = puller_new(&pc, &dm->puller);
	if (prc < 0)
		return prc;
	struct uplink_config uc = {
		.device_id = dm->cfg.device_id,
		.store_id = dm->cfg.store_id,
		.host = dm->cfg.uplink.host,
		.port = dm->cfg.uplink.port,
		.ca_file = dm->cfg.uplink.ca_file,
		.cert_file = dm->cfg.uplink.cert_file,
		.key_file = dm->cfg.uplink.key_file,
		.batch_max = dm->cfg.uplink.batch_max,
		.resend_ms = dm->cfg.uplink.resend_ms,
		.lookup_timeout_ms = dm->cfg.uplink.lookup_timeout_ms,
		.store = dm->store,
		.on_config = dm->cq ? up_config : NULL,
		.config_ctx = dm,
		.on_notice = up_notice,
		.on_online = up_online,
		.replica_ctx = dm,
	};
	int rc = uplink_start(&uc, &dm->uplink);
	if (rc < 0)
		return rc;
	/* After the uplink exists: the puller's thread calls into it. */
	if ((rc = puller_start(dm->puller)) < 0)
		return rc;
	struct device_remote r = {.ctx = dm->uplink, .notify = up_notify, .lookup = up_lookup,
				  .connected = up_connected};
	device_set_remote(dm->dev, &r);
	return 0;
}
#endif

static int start(struct daemon *dm)
{
	char err[512];
	struct stat sb;
	int rc;
	bool db_is_new = stat(dm->cfg.database, &sb) != 0;

	if ((rc = devkeys_load(&dm->cfg, db_is_new, &dm->keys, err, sizeof err)) < 0) {
		fprintf(stderr, "regulars-device: keys: %s\n", err);
		return rc;
	}
	if ((rc = config_open(dm)) < 0)
		return rc;
	set_log_level(dm, &dm->cfg);
	struct store_config sc = {
		.path = dm->cfg.database,
		.key = dm->keys.store_key,
		.device_id = dm->cfg.device_id,
		.store_id = dm->cfg.store_id,
		.max_profiles = dm->cfg.cache.max_profiles,
		.max_bytes = dm->cfg.cache.max_bytes,
	};
	if ((rc = store_open(&sc, &dm->store)) < 0) {
		fprintf(stderr, "regulars-device: database %s: %s\n", dm->cfg.database,
			rc == RG_ERR_VERIFY ? "was created under another store.key" : rg_strerror(rc));
		return rc;
	}
	store_replay_seam(dm->store, &dm->replay);
	store_secret_seam(dm->store, &dm->secrets);

	struct ident_pipeline *pipe = NULL;
	if ((rc = make_pipeline(dm, &dm->cfg, &pipe)) < 0) {
		fprintf(stderr, "regulars-device: identifiers: %s\n", rg_strerror(rc));
		return rc;
	}
	if ((rc = device_new(&dm->cfg, dm->store, pipe, NULL, &dm->dev)) < 0) {
		ident_pipeline_free(pipe);
		return rc;
	}

	struct web_config wc = {
		.bind_addr = dm->cfg.http.bind,
		.port = (uint16_t)dm->cfg.http.port,
		.assets_dir = dm->cfg.http.assets,
		.index_page = dm->cfg.role == DEVCFG_ROLE_KIOSK ? "kiosk.html" : "staff.html",
		.pin_hash = dm->cfg.pin_hash[0] ? dm->cfg.pin_hash : NULL,
		.session_idle_s = dm->cfg.http.session_idle_s,
	};
	if ((rc = web_start(&wc, &device_web_ops, dm->dev, &dm->web)) < 0) {
		fprintf(stderr, "regulars-device: http %s:%d: %s\n", dm->cfg.http.bind,
			dm->cfg.http.port, rg_strerror(rc));
		return rc;
	}
	device_set_web(dm->dev, dm->web);
	device_tick(dm->dev); /* outside screen.hours a kiosk starts closed */
	config_publish(dm);
	rg_info("device", "http_listening", "bind=%s port=%u role=%s", dm->cfg.http.bind,
		(unsigned)web_port(dm->web), devcfg_role_name(dm->cfg.role));

	for (size_t i = 0; i < dm->cfg.n_readers; i++) {
		const struct devcfg_hal *h = &dm->cfg.readers[i];
		if ((rc = hal_reader_open(h->backend, h->options, NULL, &dm->readers[i])) < 0) {
			fprintf(stderr, "regulars-device: readers[%zu] (%s): %s\n", i, h->backend,
				rg_strerror(rc));
			return rc;
		}
		dm->n_readers++;
	}
	if (dm->cfg.has_display &&
	    (rc = hal_display_open(dm->cfg.display.backend, dm->cfg.display.options, NULL,
				   &dm->display)) < 0) {
		fprintf(stderr, "regulars-device: display: %s\n", rg_strerror(rc));
		return rc;
	}
	if (dm->cfg.has_indicator &&
	    (rc = hal_indicator_open(dm->cfg.indicator.backend, dm->cfg.indicator.options, NULL,
				     &dm->indicator)) < 0) {
		fprintf(stderr, "regulars-device: indicator: %s\n", rg_strerror(rc));
		return rc;
	}
	if (dm->cfg.has_uplink) {
#ifdef REGULARS_HAVE_UPLINK
		if ((rc = start_uplink(dm)) < 0) {
			fprintf(stderr, "regulars-device: uplink: %s\n", rg_strerror(rc));
			return rc;
		}
		config_publish(dm);
#else
		fprintf(stderr, "regulars-device: uplink: this build has no uplink\n");
		return RG_ERR_UNSUPPORTED;
#endif
	}
	struct store_stats st;
	if (store_stats_get(dm->store, &st) == 0)
		rg_info("device", "started",
			"device=%s store=%s role=%s profiles=%lld outbox=%lld readers=%zu version=%s",
			dm->cfg.device_id, dm->cfg.store_id, devcfg_role_name(dm->cfg.role),
			(long long)st.profiles, (long long)st.outbox, dm->n_readers, REGULARS_VERSION);
	return 0;
}

static void stop(struct daemon *dm)
{
	/* The web threads and the main loop are the uplink's callers: stop
	 * them first, so nothing can call into the uplink while it stops. */
	if (dm->web)
		web_stop(dm->web);
	for (size_t i = 0; i < dm->n_readers; i++)
		hal_reader_close(dm->readers[i]);
	/* The puller calls into the uplink: it stops first (a request it is
	 * waiting for is cancelled). */
	puller_free(dm->puller);
	dm->puller = NULL;
#ifdef REGULARS_HAVE_UPLINK
	if (dm->uplink) {
		device_set_remote(dm->dev, NULL);
		uplink_stop(dm->uplink);
	}
#endif
	hal_display_close(dm->display);
	hal_indicator_close(dm->indicator);
	if (dm->dev) {
		ident_pipeline_free(device_pipeline(dm->dev));
		device_free(dm->dev);
	}
	store_close(dm->store);
	cfgq_free(dm->cq);
	cfgstate_close(dm->cs);
	devkeys_wipe(&dm->keys);
}

static int run(struct daemon *dm)
{
	struct pollfd fds[1 + DEVCFG_READERS_MAX];
	int64_t last_flush = rg_clock_mono_ns(rg_clock_system()) / 1000000;

	for (;;) {
		nfds_t n = 0;
		fds[n++] = (struct pollfd){.fd = rg_wake_fd(), .events = POLLIN};
		for (size_t i = 0; i < dm->n_readers; i++)
			fds[n++] = (struct pollfd){.fd = hal_reader_fd(dm->readers[i]),
						   .events = POLLIN};
		int rc = poll(fds, n, 1000);
		if (rc < 0 && errno != EINTR) {
			rg_error("device", "poll_failed", "errno=%d", errno);
			return 1;
		}
		unsigned flags = rg_wake_take();
		if (flags & RG_WAKE_STOP) {
			rg_info("device", "stopping", "reason=signal");
			return 0;
		}
		if (flags & RG_WAKE_RELOAD)
			reload(dm);
		take_config(dm);
		device_tick(dm->dev);
		bool busy = false;
		for (size_t i = 0; rc > 0 && i < dm->n_readers; i++) {
			if (fds[1 + i].revents & POLLIN) {
				take_reads(dm, dm->readers[i]);
				busy = true;
			}
		}
		int64_t now = rg_clock_mono_ns(rg_clock_system()) / 1000000;
		if (!busy && now - last_flush >= IDLE_FLUSH_MS) {
			device_idle(dm->dev);
			last_flush = now;
		}
		if (dm->cs && now - dm->last_config_tick >= CONFIG_TICK_MS) {
			dm->last_config_tick = now;
			if (cfgstate_tick(dm->cs))
				config_publish(dm);
		}
	}
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"config", required_argument, NULL, 'c'}, {"check-config", no_argument, NULL, 'k'},
		{"help", no_argument, NULL, 'h'},	  {"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0},
	};
	struct daemon *dm = calloc(1, sizeof *dm);
	bool check_only = false;
	char err[512];
	int c, status = 0;

	if (!dm)
		return 1;
	while ((c = getopt_long(argc, argv, "c:hV", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			dm->config_path = optarg;
			break;
		case 'k':
			check_only = true;
			break;
		case 'h':
			usage(stdout);
			free(dm);
			return 0;
		case 'V':
			printf("regulars-device %s\n", REGULARS_VERSION);
			free(dm);
			return 0;
		default:
			usage(stderr);
			free(dm);
			return 2;
		}
	}
	if (!dm->config_path || optind != argc) {
		fprintf(stderr, "regulars-device: %s\n",
			optind != argc ? "unexpected argument" : "--config FILE is required");
		usage(stderr);
		free(dm);
		return 2;
	}
	const char *lvl = getenv("REGULARS_LOG_LEVEL");
	dm->base_log_level = RG_LOG_INFO;
	if (lvl && rg_log_level_parse(lvl) >= 0)
		dm->base_log_level = rg_log_level_parse(lvl);
	rg_log_set_level((enum rg_log_level)dm->base_log_level);

	if (devcfg_load(dm->config_path, &dm->file, err, sizeof err) < 0 ||
	    (dm->file.has_config && load_anchor(&dm->file, &dm->anchor, err, sizeof err) < 0)) {
		fprintf(stderr, "regulars-device: %s\n", err);
		free(dm);
		return 2;
	}
	dm->cfg = dm->file;
	set_log_level(dm, &dm->cfg);
	if (check_only) {
		printf("%s: ok (device %s, role %s)\n", dm->config_path, dm->cfg.device_id,
		       devcfg_role_name(dm->cfg.role));
		free(dm);
		return 0;
	}

	if (rg_wake_open() < 0 || rg_wake_signals() < 0) {
		perror("regulars-device: signals");
		free(dm);
		return 1;
	}

	dm->exit_code = 1;
	if (start(dm) < 0)
		status = dm->exit_code;
	else
		status = run(dm);
	stop(dm);
	if (status == 0)
		rg_info("device", "stopped", "device=%s", dm->cfg.device_id);
	rg_wake_close();
	free(dm);
	return status;
}
