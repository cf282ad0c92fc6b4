/*
 * config.c - parse and check regulars-cloud's JSON configuration
 * (docs/cloud.md). Every key is known, every value range-checked, and an
 * error names the key path ("store.path: ..."). Nothing here touches files
 * other than the configuration itself.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cloud/cloud.h"
#include "common/err.h"
#include "common/file.h"
#include "common/json.h"
#include "common/log.h"

static int copy(char *dst, size_t cap, const char *src)
{
	size_t n = strlen(src);
	if (n >= cap)
		return RG_ERR_TOOBIG;
	memcpy(dst, src, n + 1);
	return 0;
}

/* obj.key as a path string (1..CLOUD_PATH_MAX-1 bytes). */
static int path_of(const cJSON *o, const char *obj, const char *key, bool required, char *dst,
		   char *err, size_t errcap)
{
	char m[RG_JSON_ERR_MAX];
	const char *s = NULL;
	int rc = required ? rg_json_req_str(o, key, CLOUD_PATH_MAX - 1, &s, m, sizeof m)
			  : rg_json_opt_str(o, key, CLOUD_PATH_MAX - 1, &s, m, sizeof m);
	if (rc < 0)
		return obj ? rg_errf(RG_ERR_CONFIG, err, errcap, "%s.%s", obj, m) : rg_errf(RG_ERR_CONFIG, err, errcap, "%s", m);
	if (s && !*s)
		return rg_errf(RG_ERR_CONFIG, err, errcap, "%s%s%s: must not be empty", obj ? obj : "",
			     obj ? "." : "", key);
	if (s)
		copy(dst, CLOUD_PATH_MAX, s);
	return 0;
}

/* "replication": {"policy", "recent_days", "retention_days", "notice_ms"},
 * all optional. */
static int parse_replication(const cJSON *root, struct cloud_config *c, char *err, size_t errcap)
{
	static const char *const keys[] = {"policy", "recent_days", "retention_days", "notice_ms",
					   NULL};
	struct cloud_repl_policy *p = &c->repl;
	char m[RG_JSON_ERR_MAX];
	const cJSON *o = NULL;
	const char *s = NULL;
	int64_t v;

	if (rg_json_opt_obj(root, "replication", &o, m, sizeof m) < 0)
		return rg_errf(RG_ERR_CONFIG, err, errcap, "%s", m);
	if (!o)
		return 0;
	if (rg_json_check_keys(o, keys, m, sizeof m) < 0 ||
	    rg_json_opt_str(o, "policy", 32, &s, m, sizeof m) < 0)
		return rg_errf(RG_ERR_CONFIG, err, errcap, "replication.%s", m);
	if (s) {
		if (!strcmp(s, "all"))
			p->kind = CLOUD_REPL_ALL;
		else if (!strcmp(s, "home_and_recent"))
			p->kind = CLOUD_REPL_HOME_AND_RECENT;
		else
			return rg_errf(RG_ERR_CONFIG, err, errcap,
				       "replication.policy: \"%s\" is not all|home_and_recent", s);
	}
	v = p->recent_days;
	if (rg_json_opt_int(o, "recent_days", 1, CLOUD_REPL_DAYS_MAX, &v, m, sizeof m) < 0)
		return rg_errf(RG_ERR_CONFIG, err, errcap, "replication.%s", m);
	p->recent_days = (int)v;
	v = p->retention_days;
	if (rg_json_opt_int(o, "retention_days", 1, CLOUD_REPL_DAYS_MAX, &v, m, sizeof m) < 0)
		return rg_errf(RG_ERR_CONFIG, err, errcap, "replication.%s", m);
	p->retention_days = (int)v;
	v = c->notice_ms;
	if (rg_json_opt_int(o, "notice_ms", 0, CLOUD_NOTICE_MS_MAX, &v, m, sizeof m) < 0)
		return rg_errf(RG_ERR_CONFIG, err, errcap, "replication.%s", m);
	if (v > 0 && v < CLOUD_NOTICE_MS_MIN)
		return rg_errf(RG_ERR_CONFIG, err, errcap,
			       "replication.notice_ms: %lld is below %d (0 turns notices off)",
			       (long long)v, CLOUD_NOTICE_MS_MIN);
	c->notice_ms = (int)v;
	return 0;
}

static int parse_root(const cJSON *root, struct cloud_config *c, char *err, size_t errcap)
{
	static const char *const keys[] = {"identity",	"broker",	   "tls",
					   "store",	"tenant_key_file", "stats_interval_s",
					   "log_level", "queue_max_kib",   "replication",
					   NULL};
	static const char *const broker_keys[] = {"host", "port", NULL};
	static const char *const tls_keys[] = {"ca_file", "cert_file", "key_file", NULL};
	static const char *const store_keys[] = {"backend", "path", "busy_timeout_ms",
						   "cache_mib", "mmap_mib", NULL};
	char m[RG_JSON_ERR_MAX];
	const cJSON *o;
	const char *s;
	int64_t v;
	int rc;

	if (rg_json_check_keys(root, keys, m, sizeof m) < 0)
		return rg_errf(RG_ERR_CONFIG, err, errcap, "%s", m);
	if (rg_json_req_str(root, "identity", RG_WIRE_ID_MAX, &s, m, sizeof m) < 0)
		return rg_errf(RG_ERR_CONFIG, err, errcap, "%s", m);
	if (!rg_wire_identity_valid(s) || !strncmp(s, "gw-", 3) || !strncmp(s, "dev-", 4))
		return rg_errf(RG_ERR_CONFIG, err, errcap,
			     "identity: \"%s\" is not a cloud worker identity ([a-z0-9-]{1,64}, "
			     "its certificate's CN; not gw-* or dev-*)",
			     s);
	copy(c->identity, sizeof c->identity, s);

	if (rg_json_req_obj(root, "broker", &o, m, sizeof m) < 0)
		return rg_errf(RG_ERR_CONFIG, err, errcap, "%s", m);
	v = c->port;
	if (rg_json_check_keys(o, broker_keys, m, sizeof m) < 0 ||
	    rg_json_req_str(o, "host", CLOUD_HOST_MAX, &s, m, sizeof m) < 0 ||
	    rg_json_opt_int(o, "port", 1, 65535, &v, m, sizeof m) < 0)
		return rg_errf(RG_ERR_CONFIG, err, errcap, "broker.%s", m);
	copy(c->host, sizeof c->host, s);
	c->port = (int)v;

	if (rg_json_req_obj(root, "tls", &o, m, sizeof m) < 0)
		return rg_errf(RG_ERR_CONFIG, err, errcap, "%s", m);
	if (rg_json_check_keys(o, tls_keys, m, sizeof m) < 0)
		return rg_errf(RG_ERR_CONFIG, err, errcap, "tls.%s", m);
	if ((rc = path_of(o, "tls", "ca_file", true, c->ca_file, err, errcap)) < 0 ||
	    (rc = path_of(o, "tls", "cert_file", true, c->cert_file, err, errcap)) < 0 ||
	    (rc = path_of(o, "tls", "key_file", true, c->key_file, err, errcap)) < 0)
		return rc;

	if (rg_json_req_obj(root, "store", &o, m, sizeof m) < 0)
		return rg_errf(RG_ERR_CONFIG, err, errcap, "%s", m);
	if (rg_json_check_keys(o, store_keys, m, sizeof m) < 0)
		return rg_errf(RG_ERR_CONFIG, err, errcap, "store.%s", m);
	s = NULL;
	if (rg_json_opt_str(o, "backend", sizeof c->backend - 1, &s, m, sizeof m) < 0)
		return rg_errf(RG_ERR_CONFIG, err, errcap, "store.%s", m);
	if (s) {
		bool known = false;
		for (size_t i = 0; cloud_store_backend_name(i); i++)
			known |= !strcmp(cloud_store_backend_name(i), s);
		if (!known)
			return rg_errf(RG_ERR_CONFIG, err, errcap,
				     "store.backend: \"%s\" is not a backend of this "
				     "build (sqlite)",
				     s);
		copy(c->backend, sizeof c->backend, s);
	}
	if ((rc = path_of(o, "store", "path", true, c->db_path, err, errcap)) < 0)
		return rc;
	v = c->busy_timeout_ms;
	if (rg_json_opt_int(o, "busy_timeout_ms", 100, 600000, &v, m, sizeof m) < 0)
		return rg_errf(RG_ERR_CONFIG, err, errcap, "store.%s", m);
	c->busy_timeout_ms = (int)v;
	v = c->cache_mib;
	if (rg_json_opt_int(o, "cache_mib", 1, CLOUD_CACHE_MIB_MAX, &v, m, sizeof m) < 0)
		return rg_errf(RG_ERR_CONFIG, err, errcap, "store.%s", m);
	c->cache_mib = (int)v;
	v = c->mmap_mib;
	if (rg_json_opt_int(o, "mmap_mib", 0, CLOUD_MMAP_MIB_MAX, &v, m, sizeof m) < 0)
		return rg_errf(RG_ERR_CONFIG, err, errcap, "store.%s", m);
	c->mmap_mib = (int)v;

	if ((rc = path_of(root, NULL, "tenant_key_file", false, c->tenant_key_file, err, errcap)) <
	    0)
		return rc;
	v = c->stats_interval_s;
	if (rg_json_opt_int(root, "stats_interval_s", 1, 86400, &v, m, sizeof m) < 0)
		return rg_errf(RG_ERR_CONFIG, err, errcap, "%s", m);
	c->stats_interval_s = (int)v;
	v = c->queue_max_kib;
	if (rg_json_opt_int(root, "queue_max_kib", 1024, 1024 * 1024, &v, m, sizeof m) < 0)
		return rg_errf(RG_ERR_CONFIG, err, errcap, "%s", m);
	c->queue_max_kib = (int)v;
	if ((rc = parse_replication(root, c, err, errcap)) < 0)
		return rc;
	s = NULL;
	if (rg_json_opt_str(root, "log_level", 8, &s, m, sizeof m) < 0)
		return rg_errf(RG_ERR_CONFIG, err, errcap, "%s", m);
	if (s) {
		int l = rg_log_level_parse(s);
		if (l < 0)
			return rg_errf(RG_ERR_CONFIG, err, errcap,
				     "log_level: \"%s\" is not debug|info|warn|error|off", s);
		c->log_level = l;
	}
	return 0;
}

int cloud_config_parse(const char *json, size_t len, struct cloud_config *out, char *err,
		       size_t errcap)
{
	char m[RG_JSON_ERR_MAX];
	cJSON *root = NULL;
	int rc;

	if (!out)
		return RG_ERR_INVAL;
	memset(out, 0, sizeof *out);
	out->port = 8883;
	copy(out->backend, sizeof out->backend, "sqlite");
	out->busy_timeout_ms = 10000;
	out->cache_mib = CLOUD_CACHE_MIB_DEFAULT;
	out->stats_interval_s = 60;
	out->log_level = RG_LOG_INFO;
	out->queue_max_kib = 64 * 1024;
	out->repl.kind = CLOUD_REPL_ALL;
	out->repl.recent_days = CLOUD_REPL_DAYS_DEFAULT;
	out->repl.retention_days = CLOUD_REPL_DAYS_DEFAULT;
	out->notice_ms = CLOUD_NOTICE_MS_DEFAULT;
	if (!json)
		return rg_errf(RG_ERR_CONFIG, err, errcap, "no document");
	if (rg_json_parse(json, len, CLOUD_CONFIG_FILE_MAX, &root, m, sizeof m) < 0)
		return rg_errf(RG_ERR_CONFIG, err, errcap, "not valid JSON: %s", m);
	if (!cJSON_IsObject(root)) {
		cJSON_Delete(root);
		return rg_errf(RG_ERR_CONFIG, err, errcap, "the document must be a JSON object");
	}
	rc = parse_root(root, out, err, errcap);
	cJSON_Delete(root);
	return rc;
}

int cloud_config_load(const char *path, struct cloud_config *out, char *err, size_t errcap)
{
	char m[512];
	char *buf;
	size_t n;
	int rc;

	if (!path || !out)
		return RG_ERR_INVAL;
	memset(out, 0, sizeof *out);
	if ((rc = rg_file_read(path, CLOUD_CONFIG_FILE_MAX, &buf, &n, m, sizeof m)) < 0)
		return rg_errf(rc, err, errcap, "config %s", m);
	rc = cloud_config_parse(buf, n, out, m, sizeof m);
	free(buf);
	if (rc < 0)
		return rg_errf(RG_ERR_CONFIG, err, errcap, "config %s: %s", path, m);
	return 0;
}
