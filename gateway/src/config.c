/*
 * config.c - parse and check the gateway's JSON configuration
 * (docs/gateway.md). Every key is known; every value is range-checked; an
 * error names the key path ("spool.budget_bytes: ..."). Also decides which
 * differences a SIGHUP reload may apply.
 */
#include "gateway/gwconfig.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/file.h"
#include "common/json.h"
#include "common/log.h"
#include "common/wire.h"

/* Prefix a json.h message with the enclosing object's name. */
static int nested(const char *obj, const char *msg, char *err, size_t errcap)
{
	return rg_errf(RG_ERR_CONFIG, err, errcap, "%s.%s", obj, msg);
}

static int copy_str(char *dst, size_t cap, const char *src)
{
	size_t n = strlen(src);
	if (n >= cap)
		return RG_ERR_TOOBIG;
	memcpy(dst, src, n + 1);
	return 0;
}

static int parse_broker(const cJSON *root, const char *name, struct gwcfg_broker *b, char *err,
			size_t errcap)
{
	static const char *const keys[] = {"host", "port", NULL};
	char m[RG_JSON_ERR_MAX];
	const cJSON *o;
	const char *host;
	int64_t port = 8883;

	if (rg_json_req_obj(root, name, &o, m, sizeof m) < 0)
		return rg_errf(RG_ERR_CONFIG, err, errcap, "%s", m);
	if (rg_json_check_keys(o, keys, m, sizeof m) < 0 ||
	    rg_json_req_str(o, "host", GWCFG_HOST_MAX, &host, m, sizeof m) < 0 ||
	    rg_json_opt_int(o, "port", 1, 65535, &port, m, sizeof m) < 0)
		return nested(name, m, err, errcap);
	copy_str(b->host, sizeof b->host, host);
	b->port = (int)port;
	return 0;
}

static int req_path(const cJSON *o, const char *obj, const char *key, char *dst, char *err,
		    size_t errcap)
{
	char m[RG_JSON_ERR_MAX];
	const char *s;
	if (rg_json_req_str(o, key, GWCFG_PATH_MAX - 1, &s, m, sizeof m) < 0)
		return nested(obj, m, err, errcap);
	copy_str(dst, GWCFG_PATH_MAX, s);
	return 0;
}

static int parse_devices(const cJSON *root, struct gwcfg *c, char *err, size_t errcap)
{
	char m[RG_JSON_ERR_MAX];
	const cJSON *arr, *it;
	size_t i = 0;

	if (!cJSON_GetObjectItemCaseSensitive(root, "known_devices"))
		return 0;
	if (rg_json_req_arr(root, "known_devices", GWCFG_DEVICES_MAX, &arr, m, sizeof m) < 0)
		return rg_errf(RG_ERR_CONFIG, err, errcap, "%s", m);
	if (cJSON_GetArraySize(arr) == 0)
		return rg_errf(RG_ERR_CONFIG, err, errcap,
			       "key \"known_devices\": empty; leave it out to accept any device");
	c->devices = calloc((size_t)cJSON_GetArraySize(arr), sizeof *c->devices);
	if (!c->devices)
		return rg_errf(RG_ERR_CONFIG, err, errcap, "out of memory");
	cJSON_ArrayForEach(it, arr)
	{
		if (!cJSON_IsString(it) || !rg_wire_identity_valid(it->valuestring))
			return rg_errf(RG_ERR_CONFIG, err, errcap,
				       "key \"known_devices\": item %zu is not a device identity "
				       "([a-z0-9-]{1,64})",
				       i);
		if (!strncmp(it->valuestring, "gw-", 3))
			return rg_errf(RG_ERR_CONFIG, err, errcap,
				       "key \"known_devices\": item %zu: \"gw-\" names a gateway, "
				       "not a device",
				       i);
		for (size_t j = 0; j < i; j++)
			if (!strcmp(c->devices[j], it->valuestring))
				return rg_errf(RG_ERR_CONFIG, err, errcap,
					       "key \"known_devices\": item %zu repeats \"%s\"", i,
					       it->valuestring);
		copy_str(c->devices[i], sizeof c->devices[i], it->valuestring);
		i++;
	}
	c->n_devices = i;
	return 0;
}

static int parse_root(const cJSON *root, struct gwcfg *c, char *err, size_t errcap)
{
	static const char *const keys[] = {
	    "store_id", "identity",	 "store_broker",     "central_broker", "tls",	 "spool",
	    "forward",	"known_devices", "stats_interval_s", "log_level",      "config", "replica",
	    NULL};
	static const char *const tls_keys[] = {"ca_file", "cert_file", "key_file", NULL};
	static const char *const spool_keys[] = {"path", "budget_bytes", NULL};
	static const char *const fwd_keys[] = {"window", "resend_ms", "reconnect_max_ms", "bundle",
					       NULL};
	static const char *const config_keys[] = {"trust_anchor", "state", NULL};
	static const char *const replica_keys[] = {"path", "pull_ms", "retention_days", NULL};
	char m[RG_JSON_ERR_MAX];
	const cJSON *o;
	const char *s;
	int64_t v;
	int rc;

	if (rg_json_check_keys(root, keys, m, sizeof m) < 0)
		return rg_errf(RG_ERR_CONFIG, err, errcap, "%s", m);

	if (rg_json_req_str(root, "store_id", RG_WIRE_STORE_MAX, &s, m, sizeof m) < 0)
		return rg_errf(RG_ERR_CONFIG, err, errcap, "%s", m);
	/* A store id has the identity alphabet, up to 32 characters. */
	if (!rg_wire_identity_valid(s))
		return rg_errf(RG_ERR_CONFIG, err, errcap,
			       "key \"store_id\": \"%s\" is not [a-z0-9-]{1,32}", s);
	copy_str(c->store_id, sizeof c->store_id, s);
	snprintf(c->identity, sizeof c->identity, "gw-%s", c->store_id);
	s = NULL;
	if (rg_json_opt_str(root, "identity", RG_WIRE_ID_MAX, &s, m, sizeof m) < 0)
		return rg_errf(RG_ERR_CONFIG, err, errcap, "%s", m);
	if (s && strcmp(s, c->identity))
		return rg_errf(
		    RG_ERR_CONFIG, err, errcap,
		    "key \"identity\": \"%s\" must be \"%s\" (a gateway is gw-<store_id>)", s,
		    c->identity);

	if ((rc = parse_broker(root, "store_broker", &c->store_broker, err, errcap)) < 0 ||
	    (rc = parse_broker(root, "central_broker", &c->central_broker, err, errcap)) < 0)
		return rc;

	if (rg_json_req_obj(root, "tls", &o, m, sizeof m) < 0)
		return rg_errf(RG_ERR_CONFIG, err, errcap, "%s", m);
	if (rg_json_check_keys(o, tls_keys, m, sizeof m) < 0)
		return nested("tls", m, err, errcap);
	if ((rc = req_path(o, "tls", "ca_file", c->ca_file, err, errcap)) < 0 ||
	    (rc = req_path(o, "tls", "cert_file", c->cert_file, err, errcap)) < 0 ||
	    (rc = req_path(o, "tls", "key_file", c->key_file, err, errcap)) < 0)
		return rc;

	if (rg_json_req_obj(root, "spool", &o, m, sizeof m) < 0)
		return rg_errf(RG_ERR_CONFIG, err, errcap, "%s", m);
	if (rg_json_check_keys(o, spool_keys, m, sizeof m) < 0)
		return nested("spool", m, err, errcap);
	if ((rc = req_path(o, "spool", "path", c->spool_path, err, errcap)) < 0)
		return rc;
	v = c->budget_bytes;
	if (rg_json_opt_int(o, "budget_bytes", 1 << 16, INT64_C(1) << 50, &v, m, sizeof m) < 0)
		return nested("spool", m, err, errcap);
	c->budget_bytes = v;

	o = NULL;
	if (rg_json_opt_obj(root, "forward", &o, m, sizeof m) < 0)
		return rg_errf(RG_ERR_CONFIG, err, errcap, "%s", m);
	if (o) {
		if (rg_json_check_keys(o, fwd_keys, m, sizeof m) < 0)
			return nested("forward", m, err, errcap);
		v = c->forward_window;
		if (rg_json_opt_int(o, "window", 1, GWCFG_WINDOW_MAX, &v, m, sizeof m) < 0)
			return nested("forward", m, err, errcap);
		c->forward_window = (int)v;
		v = c->resend_ms;
		if (rg_json_opt_int(o, "resend_ms", GWCFG_RESEND_MIN, GWCFG_RESEND_MAX, &v, m,
				    sizeof m) < 0)
			return nested("forward", m, err, errcap);
		c->resend_ms = (int)v;
		v = c->reconnect_max_ms;
		if (rg_json_opt_int(o, "reconnect_max_ms", GWCFG_RECONNECT_MIN, GWCFG_RECONNECT_MAX,
				    &v, m, sizeof m) < 0)
			return nested("forward", m, err, errcap);
		c->reconnect_max_ms = (int)v;
		v = c->forward_bundle;
		if (rg_json_opt_int(o, "bundle", 1, RG_WIRE_BUNDLE_MAX_BATCHES, &v, m, sizeof m) <
		    0)
			return nested("forward", m, err, errcap);
		c->forward_bundle = (int)v;
	}

	o = NULL;
	if (rg_json_opt_obj(root, "config", &o, m, sizeof m) < 0)
		return rg_errf(RG_ERR_CONFIG, err, errcap, "%s", m);
	if (o) {
		if (rg_json_check_keys(o, config_keys, m, sizeof m) < 0)
			return nested("config", m, err, errcap);
		if ((rc = req_path(o, "config", "trust_anchor", c->config_anchor, err, errcap)) < 0)
			return rc;
		s = NULL;
		if (rg_json_opt_str(o, "state", GWCFG_PATH_MAX - 1, &s, m, sizeof m) < 0)
			return nested("config", m, err, errcap);
		if (s)
			copy_str(c->config_state, sizeof c->config_state, s);
		else if (snprintf(c->config_state, sizeof c->config_state, "%s-config",
				  c->spool_path) >= (int)sizeof c->config_state)
			return rg_errf(
			    RG_ERR_CONFIG, err, errcap,
			    "key \"config.state\": the default (spool.path + \"-config\") "
			    "is longer than %d bytes; set it",
			    GWCFG_PATH_MAX - 1);
		if (!strcmp(c->config_state, c->spool_path))
			return rg_errf(RG_ERR_CONFIG, err, errcap,
				       "key \"config.state\": must not be the spool's file");
		c->has_config = true;
	}

	o = NULL;
	if (rg_json_opt_obj(root, "replica", &o, m, sizeof m) < 0)
		return rg_errf(RG_ERR_CONFIG, err, errcap, "%s", m);
	s = NULL;
	if (o) {
		if (rg_json_check_keys(o, replica_keys, m, sizeof m) < 0 ||
		    rg_json_opt_str(o, "path", GWCFG_PATH_MAX - 1, &s, m, sizeof m) < 0)
			return nested("replica", m, err, errcap);
		v = c->pull_ms;
		if (rg_json_opt_int(o, "pull_ms", GWCFG_PULL_MIN, GWCFG_PULL_MAX, &v, m, sizeof m) <
		    0)
			return nested("replica", m, err, errcap);
		c->pull_ms = (int)v;
		v = c->retention_days;
		if (rg_json_opt_int(o, "retention_days", 1, GWCFG_RETENTION_MAX, &v, m, sizeof m) <
		    0)
			return nested("replica", m, err, errcap);
		c->retention_days = (int)v;
	}
	if (s)
		copy_str(c->replica_path, sizeof c->replica_path, s);
	else if (snprintf(c->replica_path, sizeof c->replica_path, "%s-replica", c->spool_path) >=
		 (int)sizeof c->replica_path)
		return rg_errf(RG_ERR_CONFIG, err, errcap,
			       "key \"replica.path\": the default (spool.path + \"-replica\") is "
			       "longer than %d bytes; set it",
			       GWCFG_PATH_MAX - 1);
	if (!strcmp(c->replica_path, c->spool_path) ||
	    (c->has_config && !strcmp(c->replica_path, c->config_state)))
		return rg_errf(RG_ERR_CONFIG, err, errcap,
			       "key \"replica.path\": must not be the spool's or the config "
			       "state's file");

	v = c->stats_interval_s;
	if (rg_json_opt_int(root, "stats_interval_s", 1, GWCFG_STATS_MAX, &v, m, sizeof m) < 0)
		return rg_errf(RG_ERR_CONFIG, err, errcap, "%s", m);
	c->stats_interval_s = (int)v;

	s = NULL;
	if (rg_json_opt_str(root, "log_level", 8, &s, m, sizeof m) < 0)
		return rg_errf(RG_ERR_CONFIG, err, errcap, "%s", m);
	if (s) {
		int l = rg_log_level_parse(s);
		if (l < 0)
			return rg_errf(RG_ERR_CONFIG, err, errcap,
				       "key \"log_level\": \"%s\" is not debug|info|warn|error|off",
				       s);
		c->log_level = l;
	}
	return parse_devices(root, c, err, errcap);
}

int gwcfg_parse(const char *json, size_t len, struct gwcfg *out, char *err, size_t errcap)
{
	char m[RG_JSON_ERR_MAX];
	cJSON *root = NULL;
	int rc;

	memset(out, 0, sizeof *out);
	out->store_broker.port = out->central_broker.port = 8883;
	out->budget_bytes = INT64_C(1) << 30;
	out->forward_window = 64;
	out->forward_bundle = 8;
	out->resend_ms = 30000;
	out->reconnect_max_ms = 10000;
	out->stats_interval_s = 60;
	out->pull_ms = 5000;
	out->retention_days = 30;
	out->log_level = RG_LOG_INFO;
	if (!json)
		return rg_errf(RG_ERR_CONFIG, err, errcap, "no document");
	if (rg_json_parse(json, len, GWCFG_FILE_MAX, &root, m, sizeof m) < 0)
		return rg_errf(RG_ERR_CONFIG, err, errcap, "not valid JSON: %s", m);
	if (!cJSON_IsObject(root)) {
		cJSON_Delete(root);
		return rg_errf(RG_ERR_CONFIG, err, errcap, "the document must be a JSON object");
	}
	rc = parse_root(root, out, err, errcap);
	cJSON_Delete(root);
	if (rc < 0)
		gwcfg_free(out);
	return rc;
}

int gwcfg_load(const char *path, struct gwcfg *out, char *err, size_t errcap)
{
	char m[512];
	char *buf;
	size_t n;
	int rc;

	memset(out, 0, sizeof *out);
	if ((rc = rg_file_read(path, GWCFG_FILE_MAX, &buf, &n, m, sizeof m)) < 0)
		return rg_errf(rc, err, errcap, "config %s", m);
	rc = gwcfg_parse(buf, n, out, m, sizeof m);
	free(buf);
	if (rc < 0)
		return rg_errf(RG_ERR_CONFIG, err, errcap, "config %s: %s", path, m);
	return 0;
}

void gwcfg_free(struct gwcfg *c)
{
	if (!c)
		return;
	free(c->devices);
	c->devices = NULL;
	c->n_devices = 0;
}

int gwcfg_reload_check(const struct gwcfg *old, const struct gwcfg *n, char *err, size_t errcap)
{
	const char *key = NULL;
	if (strcmp(old->store_id, n->store_id))
		key = "store_id";
	else if (strcmp(old->store_broker.host, n->store_broker.host) ||
		 old->store_broker.port != n->store_broker.port)
		key = "store_broker";
	else if (strcmp(old->central_broker.host, n->central_broker.host) ||
		 old->central_broker.port != n->central_broker.port)
		key = "central_broker";
	else if (strcmp(old->ca_file, n->ca_file) || strcmp(old->cert_file, n->cert_file) ||
		 strcmp(old->key_file, n->key_file))
		key = "tls";
	else if (strcmp(old->spool_path, n->spool_path))
		key = "spool.path";
	else if (old->has_config != n->has_config || strcmp(old->config_anchor, n->config_anchor) ||
		 strcmp(old->config_state, n->config_state))
		key = "config";
	else if (strcmp(old->replica_path, n->replica_path))
		key = "replica.path";
	if (!key)
		return 0;
	if (err && errcap)
		snprintf(err, errcap, "key \"%s\" changed: it needs a restart", key);
	return RG_ERR_STATE;
}

int gwcfg_device_known(const struct gwcfg *c, const char *id)
{
	if (!rg_wire_identity_valid(id) || !strncmp(id, "gw-", 3))
		return 0;
	if (!c->n_devices)
		return 1;
	for (size_t i = 0; i < c->n_devices; i++)
		if (!strcmp(c->devices[i], id))
			return 1;
	return 0;
}

int gwcfg_copy(struct gwcfg *dst, const struct gwcfg *src)
{
	*dst = *src;
	dst->devices = NULL;
	if (src->n_devices) {
		if (!(dst->devices = calloc(src->n_devices, sizeof *dst->devices))) {
			dst->n_devices = 0;
			return RG_ERR_NOMEM;
		}
		memcpy(dst->devices, src->devices, src->n_devices * sizeof *dst->devices);
	}
	return 0;
}

/* One integer key of the overlay: absent leaves *dst; present must be an
 * integer within [min, max] (this file's range for the key). */
static int overlay_int(const cJSON *o, const char *key, const char *path, int64_t min, int64_t max,
		       int *dst, int *applied, char *err, size_t errcap)
{
	const cJSON *it = o ? cJSON_GetObjectItemCaseSensitive(o, key) : NULL;
	double d;
	if (!it)
		return 0;
	d = cJSON_IsNumber(it) ? it->valuedouble : 0;
	if (!cJSON_IsNumber(it) || d != (double)(int64_t)d || d < (double)min || d > (double)max)
		return rg_errf(RG_ERR_CONFIG, err, errcap,
			       "%s: must be an integer %lld..%lld for this gateway", path,
			       (long long)min, (long long)max);
	*dst = (int)d;
	(*applied)++;
	return 0;
}

int gwcfg_overlay(struct gwcfg *c, const cJSON *merged, char *err, size_t errcap)
{
	const cJSON *gw, *fwd, *log, *lv;
	struct gwcfg t = *c;
	int applied = 0, rc;

	if (!merged)
		return 0;
	gw = cJSON_GetObjectItemCaseSensitive(merged, "gateway");
	if (!gw)
		return 0;
	if (!cJSON_IsObject(gw))
		return rg_errf(RG_ERR_CONFIG, err, errcap, "gateway: must be an object");
	fwd = cJSON_GetObjectItemCaseSensitive(gw, "forward");
	log = cJSON_GetObjectItemCaseSensitive(gw, "log");
	if ((fwd && !cJSON_IsObject(fwd)) || (log && !cJSON_IsObject(log)))
		return rg_errf(RG_ERR_CONFIG, err, errcap, "gateway.%s: must be an object",
			       fwd && !cJSON_IsObject(fwd) ? "forward" : "log");
	if ((lv = log ? cJSON_GetObjectItemCaseSensitive(log, "level") : NULL)) {
		int l = cJSON_IsString(lv) ? rg_log_level_parse(lv->valuestring) : -1;
		if (l < 0 || l == RG_LOG_OFF)
			return rg_errf(RG_ERR_CONFIG, err, errcap,
				       "gateway.log.level: must be error|warn|info|debug");
		t.log_level = l;
		applied++;
	}
	if ((rc = overlay_int(fwd, "window", "gateway.forward.window", 1, GWCFG_WINDOW_MAX,
			      &t.forward_window, &applied, err, errcap)) < 0 ||
	    (rc = overlay_int(fwd, "resend_ms", "gateway.forward.resend_ms", GWCFG_RESEND_MIN,
			      GWCFG_RESEND_MAX, &t.resend_ms, &applied, err, errcap)) < 0 ||
	    (rc = overlay_int(fwd, "reconnect_max_ms", "gateway.forward.reconnect_max_ms",
			      GWCFG_RECONNECT_MIN, GWCFG_RECONNECT_MAX, &t.reconnect_max_ms,
			      &applied, err, errcap)) < 0 ||
	    (rc =
		 overlay_int(fwd, "bundle", "gateway.forward.bundle", 1, RG_WIRE_BUNDLE_MAX_BATCHES,
			     &t.forward_bundle, &applied, err, errcap)) < 0 ||
	    (rc = overlay_int(gw, "stats_interval_s", "gateway.stats_interval_s", 1,
			      GWCFG_STATS_MAX, &t.stats_interval_s, &applied, err, errcap)) < 0)
		return rc;
	*c = t;
	return applied;
}
