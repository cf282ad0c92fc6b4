/*
 * regulars-device - the daemon on every kiosk and staff handheld.
 *
 * Reads identifiers from the configured readers, shows the customer's context
 * from the local cache on the local web screen, and records every
 * interaction durably in the outbox (docs/device-config.md,
 * docs/device-api.md). One main thread polls the readers and a signal pipe;
 * the web server and the uplink run their own threads.
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

#include "common/err.h"
#include "common/ident_token.h"
#include "common/ident_totp.h"
#include "common/log.h"
#include "common/wake.h"
#include "device.h"
#include "firmware/devkeys.h"
#include "hal/display.h"
#include "hal/indicator.h"
#include "hal/reader.h"
#ifdef REGULARS_HAVE_UPLINK
#include "firmware/uplink.h"
#endif

#ifndef REGULARS_VERSION
#define REGULARS_VERSION "dev"
#endif

#define IDLE_FLUSH_MS 5000

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
	struct devcfg cfg;
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
	const char *config_path;
};

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

static void reload(struct daemon *dm)
{
	struct devcfg *next = malloc(sizeof *next);
	char err[512];
	struct ident_pipeline *pipe = NULL;
	int rc;
	if (!next)
		return;
	rc = devcfg_load(dm->config_path, next, err, sizeof err);
	if (rc == 0)
		rc = devcfg_reload_check(&dm->cfg, next, err, sizeof err);
	if (rc == 0 && (rc = make_pipeline(dm, next, &pipe)) < 0)
		snprintf(err, sizeof err, "identifiers: %s", rg_strerror(rc));
	if (rc < 0) {
		char q[600];
		rg_error("device", "reload_refused", "error=%s keeping=running_config",
			 rg_log_quote(q, sizeof q, err));
		free(next);
		return;
	}
	if (dm->web)
		web_set_pin_hash(dm->web, next->pin_hash[0] ? next->pin_hash : NULL);
	device_reload(dm->dev, next, pipe);
	dm->cfg = *next;
	free(next);
	rg_info("device", "reloaded", "config=%s", dm->config_path);
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

static int start_uplink(struct daemon *dm)
{
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
	};
	int rc = uplink_start(&uc, &dm->uplink);
	if (rc < 0)
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
	if (lvl && rg_log_level_parse(lvl) >= 0)
		rg_log_set_level((enum rg_log_level)rg_log_level_parse(lvl));

	if (devcfg_load(dm->config_path, &dm->cfg, err, sizeof err) < 0) {
		fprintf(stderr, "regulars-device: %s\n", err);
		free(dm);
		return 2;
	}
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

	if (start(dm) < 0)
		status = 1;
	else
		status = run(dm);
	stop(dm);
	if (status == 0)
		rg_info("device", "stopped", "device=%s", dm->cfg.device_id);
	rg_wake_close();
	free(dm);
	return status;
}
