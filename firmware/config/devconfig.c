/*
 * devconfig.c - the device daemon's configuration file (docs/device-config.md):
 * strict JSON in, a filled struct devcfg out, or one error that starts with
 * the key's path ("http.port: must be 1..65535 or 0, got 70000"). Unknown and
 * duplicate keys are errors; absent optional keys take the documented
 * defaults. Also decides which differences a SIGHUP may apply, and lays the
 * settings pushed over MQTT (common/settings.h) over the file: the keys both
 * share (screen.*, log.level) are checked by rg_settings_check in either
 * place and read into the struct by one function, so the file and a pushed
 * document can never disagree on what a value means.
 */
#include "firmware/devconfig.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cJSON.h>

#include "common/codec.h"
#include "common/err.h"
#include "common/file.h"
#include "common/json.h"
#include "common/log.h"
#include "common/settings.h"
#include "common/wire.h"
#include "hal/display.h"
#include "hal/indicator.h"
#include "hal/keystore.h"
#include "hal/reader.h"

#ifndef REGULARS_UI_DIR
#define REGULARS_UI_DIR "/usr/share/regulars/ui"
#endif

#define PATH_MAX_LEN 96 /* longest key path we build ("readers[7].options") */
#define PIN_ITER_MIN 1000
#define PIN_ITER_MAX 10000000
#define PIN_SALT_LEN 16
#define PIN_HASH_LEN 32

struct ctx {
	char *err;
	size_t errcap;
};

/* Write "path: message" to the caller's err and return RG_ERR_CONFIG. */
#define bad(c, path, ...) rg_errf_at(RG_ERR_CONFIG, (c)->err, (c)->errcap, (path), __VA_ARGS__)

static void join(char *out, size_t cap, const char *prefix, const char *key)
{
	if (prefix && *prefix)
		snprintf(out, cap, "%s.%s", prefix, key);
	else
		snprintf(out, cap, "%s", key);
}

/* A key shown in a message: at most 40 bytes, control characters and
 * invalid UTF-8 replaced, so a hostile file cannot forge log lines. */
static void show_key(const char *k, char *out, size_t cap)
{
	size_t n = k ? strnlen(k, 40) : 0, o = 0;
	if (k && !rg_utf8_valid(k, n))
		k = "(not UTF-8)", n = strlen(k);
	for (size_t i = 0; i < n && o + 1 < cap; i++)
		out[o++] = (unsigned char)k[i] < 0x20 || k[i] == 0x7f ? '?' : k[i];
	out[o] = '\0';
}

/* obj must be an object whose keys are all in allowed, each at most once. */
static int check_object(struct ctx *c, const cJSON *obj, const char *path,
			const char *const *allowed)
{
	const cJSON *it;
	if (!cJSON_IsObject(obj))
		return bad(c, path, "must be an object, got %s", rg_json_kind(obj));
	cJSON_ArrayForEach(it, obj)
	{
		char shown[48], kp[PATH_MAX_LEN + 48];
		int ok = 0;
		for (const char *const *a = allowed; *a && !ok; a++)
			ok = it->string && !strcmp(it->string, *a);
		show_key(it->string, shown, sizeof shown);
		join(kp, sizeof kp, path, shown);
		if (!ok)
			return bad(c, kp, "unknown key");
		for (const cJSON *p = obj->child; p != it; p = p->next)
			if (!strcmp(p->string, it->string))
				return bad(c, kp, "key appears twice");
	}
	return 0;
}

/* Returns 1 when the key is absent, 0 when copied, < 0 on error. */
static int get_str(struct ctx *c, const cJSON *obj, const char *prefix, const char *key,
		   bool required, size_t min_len, char *dst, size_t cap)
{
	char path[PATH_MAX_LEN];
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
	size_t n;

	join(path, sizeof path, prefix, key);
	if (!v) {
		if (required)
			return bad(c, path, "required but missing");
		return 1;
	}
	if (!cJSON_IsString(v) || !v->valuestring)
		return bad(c, path, "must be a string, got %s", rg_json_kind(v));
	n = strlen(v->valuestring);
	if (n < min_len)
		return bad(c, path, "must not be empty");
	if (n >= cap)
		return bad(c, path, "%zu bytes exceed the maximum length %zu", n, cap - 1);
	if (!rg_utf8_valid(v->valuestring, n))
		return bad(c, path, "not valid UTF-8");
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)v->valuestring[i] < 0x20 || v->valuestring[i] == 0x7f)
			return bad(c, path, "must not contain control characters");
	memcpy(dst, v->valuestring, n + 1);
	return 0;
}

/* Optional integer: *out keeps its default when absent. */
static int get_int(struct ctx *c, const cJSON *obj, const char *prefix, const char *key,
		   int64_t min, int64_t max, int64_t *out)
{
	char path[PATH_MAX_LEN];
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
	double d;

	join(path, sizeof path, prefix, key);
	if (!v)
		return 0;
	if (!cJSON_IsNumber(v))
		return bad(c, path, "must be an integer, got %s", rg_json_kind(v));
	d = v->valuedouble;
	if (!(d >= -9007199254740992.0 && d <= 9007199254740992.0) || d != (double)(int64_t)d)
		return bad(c, path, "must be an integer, got %g", d);
	if ((int64_t)d < min || (int64_t)d > max)
		return bad(c, path, "must be %lld..%lld, got %lld", (long long)min, (long long)max,
			   (long long)(int64_t)d);
	*out = (int64_t)d;
	return 0;
}

static int get_int32(struct ctx *c, const cJSON *obj, const char *prefix, const char *key,
		     int64_t min, int64_t max, int *out)
{
	int64_t v = *out;
	int rc = get_int(c, obj, prefix, key, min, max, &v);
	if (rc == 0)
		*out = (int)v;
	return rc;
}

/* An optional object member; *out NULL when absent. */
static int get_obj(struct ctx *c, const cJSON *obj, const char *key, const char *const *allowed,
		   const cJSON **out)
{
	*out = cJSON_GetObjectItemCaseSensitive(obj, key);
	return *out ? check_object(c, *out, key, allowed) : 0;
}

static int store_id_valid(const char *s)
{
	size_t n = strlen(s);
	if (n < 1 || n > 32 || s[0] == '-')
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
			return 0;
	return 1;
}

/* The backend name must be one the HAL registry lists. */
static int check_backend(struct ctx *c, const char *path, const char *kind, const char *name,
			 const char *(*list)(size_t))
{
	char names[160];
	size_t o = 0;
	for (size_t i = 0; list(i); i++)
		if (!strcmp(list(i), name))
			return 0;
	names[0] = '\0';
	for (size_t i = 0; list(i) && o < sizeof names; i++) {
		int n = snprintf(names + o, sizeof names - o, "%s%s", i ? ", " : "", list(i));
		if (n < 0)
			break;
		o += (size_t)n;
	}
	return bad(c, path, "unknown %s backend \"%s\" (this build has: %s)", kind, name, names);
}

/* {"backend": ..., "options": ...}; backend required unless dflt is given. */
static int parse_hal(struct ctx *c, const cJSON *o, const char *path, const char *kind,
		     const char *(*list)(size_t), const char *dflt, struct devcfg_hal *h)
{
	static const char *const keys[] = {"backend", "options", NULL};
	char bp[PATH_MAX_LEN];
	int rc;

	if ((rc = check_object(c, o, path, keys)) < 0)
		return rc;
	if (dflt)
		snprintf(h->backend, sizeof h->backend, "%s", dflt);
	h->options[0] = '\0';
	if ((rc = get_str(c, o, path, "backend", !dflt, 1, h->backend, sizeof h->backend)) < 0 ||
	    (rc = get_str(c, o, path, "options", false, 0, h->options, sizeof h->options)) < 0)
		return rc;
	join(bp, sizeof bp, path, "backend");
	return check_backend(c, bp, kind, h->backend, list);
}

/* "pbkdf2-sha256$<iterations>$<salt b64url>$<hash b64url>", the shape
 * `regularsctl device pin-hash` writes (firmware/web/auth.c checks it in full). */
static int pin_hash_valid(const char *h)
{
	static const char prefix[] = "pbkdf2-sha256$";
	uint8_t buf[PIN_HASH_LEN];
	const char *p, *q, *end;
	long long iter = 0;

	if (strncmp(h, prefix, sizeof prefix - 1))
		return 0;
	p = h + sizeof prefix - 1;
	for (end = p; *end >= '0' && *end <= '9' && end - p < 9; end++)
		iter = iter * 10 + (*end - '0');
	if (end == p || *end != '$' || iter < PIN_ITER_MIN || iter > PIN_ITER_MAX)
		return 0;
	p = end + 1;
	if (!(q = strchr(p, '$')))
		return 0;
	return rg_b64url_decode(p, (size_t)(q - p), buf, sizeof buf) == PIN_SALT_LEN &&
	       rg_b64url_decode(q + 1, strlen(q + 1), buf, sizeof buf) == PIN_HASH_LEN;
}

/* The web server listens on an IPv4 address (firmware/web: AF_INET only). */
static int bind_valid(const char *s)
{
	unsigned char a[4];
	return inet_pton(AF_INET, s, a) == 1;
}

/* The file keystore cannot open without dir=: say so now (exit 2), not at start. */
static int has_option(const char *opts, const char *key)
{
	size_t k = strlen(key);
	for (const char *p = opts; p && *p;) {
		if (!strncmp(p, key, k) && p[k] == '=')
			return 1;
		p = strchr(p, ',');
		if (p)
			p++;
	}
	return 0;
}

static int parse_top(struct ctx *c, const cJSON *root, struct devcfg *o)
{
	static const char *const keys[] = {
	    "device_id",   "store_id",	"role",	  "database", "keystore", "readers",
	    "display",	   "indicator", "http",	  "staff",    "cache",	  "screen",
	    "identifiers", "uplink",	"config", "log",      NULL};
	char role[16];
	int rc;

	if ((rc = check_object(c, root, "", keys)) < 0)
		return rc;
	if ((rc = get_str(c, root, NULL, "device_id", true, 1, o->device_id, sizeof o->device_id)) <
	    0)
		return rc;
	if (!rg_wire_identity_valid(o->device_id))
		return bad(c, "device_id", "must be 1..64 of [a-z0-9-], not starting with '-'");
	if ((rc = get_str(c, root, NULL, "store_id", true, 1, o->store_id, sizeof o->store_id)) < 0)
		return rc;
	if (!store_id_valid(o->store_id))
		return bad(c, "store_id", "must be 1..32 of [a-z0-9-], not starting with '-'");
	if ((rc = get_str(c, root, NULL, "role", true, 1, role, sizeof role)) < 0)
		return rc;
	if (!strcmp(role, "kiosk"))
		o->role = DEVCFG_ROLE_KIOSK;
	else if (!strcmp(role, "handheld"))
		o->role = DEVCFG_ROLE_HANDHELD;
	else
		return bad(c, "role", "must be \"kiosk\" or \"handheld\", got \"%s\"", role);
	if ((rc = get_str(c, root, NULL, "database", true, 1, o->database, sizeof o->database)) < 0)
		return rc;
	return 0;
}

static int parse_hardware(struct ctx *c, const cJSON *root, struct devcfg *o)
{
	const cJSON *v;
	int rc;

	if ((v = cJSON_GetObjectItemCaseSensitive(root, "keystore")) &&
	    (rc = parse_hal(c, v, "keystore", "keystore", hal_keystore_backend_name, "file",
			    &o->keystore)) < 0)
		return rc;
	if (!strcmp(o->keystore.backend, "file") && !has_option(o->keystore.options, "dir"))
		return bad(c, "keystore.options", "the file keystore needs dir=PATH");
	if ((v = cJSON_GetObjectItemCaseSensitive(root, "readers"))) {
		const cJSON *it;
		if (!cJSON_IsArray(v))
			return bad(c, "readers", "must be an array, got %s", rg_json_kind(v));
		int n = cJSON_GetArraySize(v);
		if (n < 0 || n > DEVCFG_READERS_MAX)
			return bad(c, "readers", "%d readers exceed the limit of %d", n,
				   DEVCFG_READERS_MAX);
		cJSON_ArrayForEach(it, v)
		{
			char path[32];
			snprintf(path, sizeof path, "readers[%zu]", o->n_readers);
			if ((rc = parse_hal(c, it, path, "reader", hal_reader_backend_name, NULL,
					    &o->readers[o->n_readers])) < 0)
				return rc;
			o->n_readers++;
		}
	}
	if ((v = cJSON_GetObjectItemCaseSensitive(root, "display"))) {
		if ((rc = parse_hal(c, v, "display", "display", hal_display_backend_name, NULL,
				    &o->display)) < 0)
			return rc;
		o->has_display = true;
	}
	if ((v = cJSON_GetObjectItemCaseSensitive(root, "indicator"))) {
		if ((rc = parse_hal(c, v, "indicator", "indicator", hal_indicator_backend_name,
				    NULL, &o->indicator)) < 0)
			return rc;
		o->has_indicator = true;
	}
	return 0;
}

static int parse_http_staff(struct ctx *c, const cJSON *root, struct devcfg *o)
{
	static const char *const hkeys[] = {"bind", "port", "assets", "session_idle_s", NULL};
	static const char *const skeys[] = {"pin_hash", NULL};
	const char *assets = devcfg_default_assets();
	const cJSON *h, *s;
	int rc;

	snprintf(o->http.bind, sizeof o->http.bind, "127.0.0.1");
	o->http.port = 8080;
	o->http.session_idle_s = 300;
	if (strlen(assets) >= sizeof o->http.assets)
		return bad(c, "http.assets", "the default UI directory is longer than %d bytes",
			   DEVCFG_STR_MAX - 1);
	memcpy(o->http.assets, assets, strlen(assets) + 1);
	if ((rc = get_obj(c, root, "http", hkeys, &h)) < 0)
		return rc;
	if (h) {
		int64_t port = o->http.port;
		const cJSON *pv = cJSON_GetObjectItemCaseSensitive(h, "port");
		if ((rc = get_str(c, h, "http", "bind", false, 1, o->http.bind,
				  sizeof o->http.bind)) < 0)
			return rc;
		if (!bind_valid(o->http.bind))
			return bad(c, "http.bind", "must be an IPv4 address, got \"%s\"",
				   o->http.bind);
		if (cJSON_IsNumber(pv) && (pv->valuedouble < 0 || pv->valuedouble > 65535))
			return bad(c, "http.port", "must be 1..65535 (or 0: any free port), got %g",
				   pv->valuedouble);
		if ((rc = get_int(c, h, "http", "port", 0, 65535, &port)) < 0)
			return rc;
		o->http.port = (int)port;
		if ((rc = get_str(c, h, "http", "assets", false, 1, o->http.assets,
				  sizeof o->http.assets)) < 0 ||
		    (rc = get_int32(c, h, "http", "session_idle_s", 30, 86400,
				    &o->http.session_idle_s)) < 0)
			return rc;
	}
	if ((rc = get_obj(c, root, "staff", skeys, &s)) < 0)
		return rc;
	if (s) {
		if ((rc = get_str(c, s, "staff", "pin_hash", false, 1, o->pin_hash,
				  sizeof o->pin_hash)) < 0)
			return rc;
		if (o->pin_hash[0] && !pin_hash_valid(o->pin_hash))
			return bad(c, "staff.pin_hash",
				   "not a PIN hash (\"pbkdf2-sha256$<iterations>$<salt>$<hash>\" "
				   "from regularsctl device pin-hash)");
	}
	return 0;
}

static int parse_cache_screen(struct ctx *c, const cJSON *root, struct devcfg *o)
{
	static const char *const ckeys[] = {"max_profiles", "max_bytes", NULL};
	static const char *const skeys[] = {"idle_after_ms",
					    "public_items_max",
					    "default_language",
					    "privacy",
					    "text",
					    "hours",
					    NULL};
	static const char *const *langs = devcfg_languages;
	const cJSON *cc, *sc;
	int rc;

	o->cache.max_profiles = 1000000;
	o->cache.max_bytes = INT64_C(1) << 30;
	o->screen.idle_after_ms = 8000;
	o->screen.public_items_max = 3;
	snprintf(o->screen.default_language, sizeof o->screen.default_language, "en");
	if ((rc = get_obj(c, root, "cache", ckeys, &cc)) < 0)
		return rc;
	if (cc && ((rc = get_int(c, cc, "cache", "max_profiles", 1, INT64_C(1000000000),
				 &o->cache.max_profiles)) < 0 ||
		   (rc = get_int(c, cc, "cache", "max_bytes", 4096, INT64_C(1) << 50,
				 &o->cache.max_bytes)) < 0))
		return rc;
	if ((rc = get_obj(c, root, "screen", skeys, &sc)) < 0)
		return rc;
	if (sc) {
		int ok = 0;
		if ((rc = get_int32(c, sc, "screen", "idle_after_ms", 1000, 600000,
				    &o->screen.idle_after_ms)) < 0 ||
		    (rc = get_int32(c, sc, "screen", "public_items_max", 0, 3,
				    &o->screen.public_items_max)) < 0 ||
		    (rc = get_str(c, sc, "screen", "default_language", false, 1,
				  o->screen.default_language, sizeof o->screen.default_language)) <
			0)
			return rc;
		for (const char *const *l = langs; *l && !ok; l++)
			ok = !strcmp(*l, o->screen.default_language);
		if (!ok)
			return bad(c, "screen.default_language",
				   "must be en, de, fr or nl, got \"%s\"",
				   o->screen.default_language);
	}
	return 0;
}

/* ---- the keys shared with pushed settings ---- */

static int64_t num(const cJSON *v)
{
	return (int64_t)v->valuedouble;
}

static const cJSON *path2(const cJSON *root, const char *a, const char *b)
{
	const cJSON *o = cJSON_GetObjectItemCaseSensitive(root, a);
	return cJSON_IsObject(o) ? cJSON_GetObjectItemCaseSensitive(o, b) : NULL;
}

static int settings_texts(struct ctx *c, const cJSON *text, struct devcfg *o)
{
	const cJSON *lang;
	cJSON_ArrayForEach(lang, text)
	{
		int li = devcfg_language_index(lang->string);
		const cJSON *k;
		if (li < 0 || !cJSON_IsObject(lang))
			return bad(c, "screen.text", "unknown language");
		cJSON_ArrayForEach(k, lang)
		{
			struct devcfg_texts *t = &o->screen.text[li];
			char *dst = !strcmp(k->string, "greeting")  ? t->greeting
				    : !strcmp(k->string, "welcome") ? t->welcome
				    : !strcmp(k->string, "unknown") ? t->unknown
				    : !strcmp(k->string, "closed")  ? t->closed
								    : NULL;
			if (!dst || !cJSON_IsString(k) ||
			    strlen(k->valuestring) > RG_SETTINGS_TEXT_MAX)
				return bad(c, "screen.text", "unexpected key or value");
			memcpy(dst, k->valuestring, strlen(k->valuestring) + 1);
		}
	}
	return 0;
}

/*
 * Lay the keys a settings-shaped object sets over o. set has passed
 * rg_settings_check, so types and ranges hold; what is read is still read
 * defensively (a wrong type is an error, never a crash).
 */
static int from_settings(struct ctx *c, const cJSON *set, struct devcfg *o)
{
	const cJSON *v;
	int rc;

	if ((v = path2(set, "log", "level"))) {
		int lvl = cJSON_IsString(v) ? rg_log_level_parse(v->valuestring) : RG_ERR_PARSE;
		if (lvl < 0 || lvl == RG_LOG_OFF)
			return bad(c, "log.level", "must be error, warn, info or debug");
		o->log_level = lvl;
	}
	if (cJSON_IsNumber(v = path2(set, "screen", "idle_after_ms")))
		o->screen.idle_after_ms = (int)num(v);
	if (cJSON_IsNumber(v = path2(set, "screen", "public_items_max")))
		o->screen.public_items_max = (int)num(v);
	if ((v = path2(set, "screen", "default_language"))) {
		if (!cJSON_IsString(v) || devcfg_language_index(v->valuestring) < 0)
			return bad(c, "screen.default_language", "must be en, de, fr or nl");
		snprintf(o->screen.default_language, sizeof o->screen.default_language, "%s",
			 v->valuestring);
	}
	if ((v = path2(set, "screen", "privacy"))) {
		const char *p = cJSON_IsString(v) ? v->valuestring : "";
		if (!strcmp(p, "full"))
			o->screen.privacy = DEVCFG_PRIVACY_FULL;
		else if (!strcmp(p, "first_name"))
			o->screen.privacy = DEVCFG_PRIVACY_FIRST_NAME;
		else if (!strcmp(p, "anonymous"))
			o->screen.privacy = DEVCFG_PRIVACY_ANONYMOUS;
		else
			return bad(c, "screen.privacy", "must be full, first_name or anonymous");
	}
	if ((v = path2(set, "screen", "text")) && (rc = settings_texts(c, v, o)) < 0)
		return rc;
	if (path2(set, "screen", "hours") && rg_settings_hours_get(set, &o->screen.hours) < 0)
		return bad(c, "screen.hours", "not valid opening hours");
	if (cJSON_IsNumber(v = path2(set, "cache", "max_profiles")))
		o->cache.max_profiles = num(v);
	if (cJSON_IsNumber(v = path2(set, "cache", "max_bytes")))
		o->cache.max_bytes = num(v);
	if (cJSON_IsNumber(v = path2(set, "sync", "batch_max")))
		o->uplink.batch_max = (int)num(v);
	if (cJSON_IsNumber(v = path2(set, "sync", "resend_ms")))
		o->uplink.resend_ms = (int)num(v);
	if (cJSON_IsNumber(v = path2(set, "sync", "lookup_timeout_ms")))
		o->uplink.lookup_timeout_ms = (int)num(v);
	if (cJSON_IsNumber(v = path2(set, "sync", "pull_ms")))
		o->uplink.pull_ms = (int)num(v);
	return 0;
}

/* rg_settings_check over the parts of the file it shares with pushed
 * settings (screen, log), then read them. */
static int parse_shared(struct ctx *c, const cJSON *root, struct devcfg *o)
{
	static const char *const lkeys[] = {"level", NULL};
	const cJSON *sc = cJSON_GetObjectItemCaseSensitive(root, "screen");
	const cJSON *lg;
	cJSON *tmp;
	int rc;

	o->log_level = -1;
	if ((rc = get_obj(c, root, "log", lkeys, &lg)) < 0)
		return rc;
	if (!sc && !lg)
		return 0;
	if (!(tmp = cJSON_CreateObject()))
		return RG_ERR_NOMEM;
	if ((sc && !cJSON_AddItemReferenceToObject(tmp, "screen", (cJSON *)sc)) ||
	    (lg && !cJSON_AddItemReferenceToObject(tmp, "log", (cJSON *)lg))) {
		cJSON_Delete(tmp);
		return RG_ERR_NOMEM;
	}
	rc = rg_settings_check(tmp, c->err, c->errcap);
	if (rc == 0)
		rc = from_settings(c, tmp, o);
	cJSON_Delete(tmp);
	return rc < 0 ? (rc == RG_ERR_NOMEM ? rc : RG_ERR_CONFIG) : 0;
}

static int parse_config(struct ctx *c, const cJSON *root, struct devcfg *o)
{
	static const char *const keys[] = {"trust_anchor", "state", NULL};
	const cJSON *v;
	int rc;

	if ((rc = get_obj(c, root, "config", keys, &v)) < 0 || !v)
		return rc;
	o->has_config = true;
	if ((rc = get_str(c, v, "config", "trust_anchor", true, 1, o->config.trust_anchor,
			  sizeof o->config.trust_anchor)) < 0 ||
	    (rc = get_str(c, v, "config", "state", false, 1, o->config.state,
			  sizeof o->config.state)) < 0)
		return rc;
	if (rc == 1 && snprintf(o->config.state, sizeof o->config.state, "%s-config",
				o->database) >= (int)sizeof o->config.state)
		return bad(c, "config.state",
			   "the default (database + \"-config\") is longer than %d bytes",
			   DEVCFG_STR_MAX - 1);
	if (!strcmp(o->config.state, o->database))
		return bad(c, "config.state", "must not be the database itself");
	return 0;
}

static int parse_identifiers(struct ctx *c, const cJSON *root, struct devcfg *o)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, "identifiers");
	char inner[384];
	int rc;

	if (!v) {
		ident_config_default(&o->identifiers);
		return 0;
	}
	if (!cJSON_IsObject(v))
		return bad(c, "identifiers", "must be an object, got %s", rg_json_kind(v));
	inner[0] = '\0';
	rc = ident_config_from_json(v, &o->identifiers, inner, sizeof inner);
	if (rc >= 0)
		return 0;
	if (rc == RG_ERR_NOMEM || rc == RG_ERR_INVAL)
		return rc;
	/* ident's messages name the path inside the object ("totp: key ...");
	 * its top-level ones already start with "identifiers". */
	if (!strncmp(inner, "identifiers", 11)) {
		if (c->err && c->errcap)
			snprintf(c->err, c->errcap, "%s", inner);
		return RG_ERR_CONFIG;
	}
	if (c->err && c->errcap)
		snprintf(c->err, c->errcap, "identifiers.%s", inner);
	return RG_ERR_CONFIG;
}

static int parse_uplink(struct ctx *c, const cJSON *root, struct devcfg *o)
{
	static const char *const keys[] = {
	    "host",	 "port",      "ca_file",	   "cert_file", "key_file",
	    "batch_max", "resend_ms", "lookup_timeout_ms", "pull_ms", NULL};
	const cJSON *u;
	int rc;

	o->uplink.port = 8883;
	o->uplink.batch_max = 100;
	o->uplink.resend_ms = 30000;
	o->uplink.lookup_timeout_ms = 1500;
	o->uplink.pull_ms = 60000;
	if ((rc = get_obj(c, root, "uplink", keys, &u)) < 0)
		return rc;
	if (!u)
		return 0;
	o->has_uplink = true;
	if ((rc = get_str(c, u, "uplink", "host", true, 1, o->uplink.host, sizeof o->uplink.host)) <
		0 ||
	    (rc = get_int32(c, u, "uplink", "port", 1, 65535, &o->uplink.port)) < 0 ||
	    (rc = get_str(c, u, "uplink", "ca_file", true, 1, o->uplink.ca_file,
			  sizeof o->uplink.ca_file)) < 0 ||
	    (rc = get_str(c, u, "uplink", "cert_file", true, 1, o->uplink.cert_file,
			  sizeof o->uplink.cert_file)) < 0 ||
	    (rc = get_str(c, u, "uplink", "key_file", true, 1, o->uplink.key_file,
			  sizeof o->uplink.key_file)) < 0 ||
	    (rc = get_int32(c, u, "uplink", "batch_max", 1, 500, &o->uplink.batch_max)) < 0 ||
	    (rc = get_int32(c, u, "uplink", "resend_ms", 1000, 3600000, &o->uplink.resend_ms)) <
		0 ||
	    (rc = get_int32(c, u, "uplink", "lookup_timeout_ms", 0, 60000,
			    &o->uplink.lookup_timeout_ms)) < 0 ||
	    (rc = get_int32(c, u, "uplink", "pull_ms", 1000, 86400000, &o->uplink.pull_ms)) < 0)
		return rc;
	for (const char *p = o->uplink.host; *p; p++)
		if (*p == ' ' || *p == '/' || *p == '\\')
			return bad(c, "uplink.host", "must be a host name or address");
	return 0;
}

int devcfg_parse(const char *json, size_t len, struct devcfg *out, char *err, size_t errcap)
{
	struct ctx c = {.err = err, .errcap = errcap};
	cJSON *root = NULL;
	int rc;

	if (err && errcap)
		err[0] = '\0';
	if (!json || !out)
		return RG_ERR_INVAL;
	memset(out, 0, sizeof *out);
	snprintf(out->keystore.backend, sizeof out->keystore.backend, "file");
	if ((rc = rg_json_parse(json, len, DEVCFG_FILE_MAX, &root, err, errcap)) < 0)
		return rc;
	if (!cJSON_IsObject(root))
		rc = bad(&c, "(top level)", "must be a JSON object, got %s", rg_json_kind(root));
	else if ((rc = parse_top(&c, root, out)) >= 0 &&
		 (rc = parse_hardware(&c, root, out)) >= 0 &&
		 (rc = parse_http_staff(&c, root, out)) >= 0 &&
		 (rc = parse_cache_screen(&c, root, out)) >= 0 &&
		 (rc = parse_shared(&c, root, out)) >= 0 &&
		 (rc = parse_identifiers(&c, root, out)) >= 0 &&
		 (rc = parse_uplink(&c, root, out)) >= 0)
		rc = parse_config(&c, root, out);
	cJSON_Delete(root);
	return rc < 0 ? rc : 0;
}

int devcfg_load(const char *path, struct devcfg *out, char *err, size_t errcap)
{
	char inner[512], where[DEVCFG_STR_MAX + 16];
	char *buf = NULL;
	size_t got = 0;
	int rc;

	if (err && errcap)
		err[0] = '\0';
	if (!path || !out)
		return RG_ERR_INVAL;
	snprintf(where, sizeof where, "config %s", path);
	if ((rc = rg_file_read(path, DEVCFG_FILE_MAX, &buf, &got, inner, sizeof inner)) < 0)
		return rg_errf(rc, err, errcap, "config %s", inner);
	inner[0] = '\0';
	rc = devcfg_parse(buf, got, out, inner, sizeof inner);
	free(buf);
	if (rc < 0)
		rg_errf(rc, err, errcap, "%s: %s", where, inner[0] ? inner : rg_strerror(rc));
	return rc;
}

static int hal_same(const struct devcfg_hal *a, const struct devcfg_hal *b)
{
	return !strcmp(a->backend, b->backend) && !strcmp(a->options, b->options);
}

int devcfg_reload_check(const struct devcfg *old, const struct devcfg *new_cfg, char *err,
			size_t errcap)
{
	struct ctx c = {.err = err, .errcap = errcap};
	const struct devcfg *a = old, *b = new_cfg;
	const char *key = NULL;
	char rk[32];

	if (err && errcap)
		err[0] = '\0';
	if (!a || !b)
		return RG_ERR_INVAL;
	/* Every key the doc marks "reload: no", in the doc's order. */
	if (strcmp(a->device_id, b->device_id))
		key = "device_id";
	else if (strcmp(a->store_id, b->store_id))
		key = "store_id";
	else if (a->role != b->role)
		key = "role";
	else if (strcmp(a->database, b->database))
		key = "database";
	else if (strcmp(a->keystore.backend, b->keystore.backend))
		key = "keystore.backend";
	else if (strcmp(a->keystore.options, b->keystore.options))
		key = "keystore.options";
	else if (a->n_readers != b->n_readers)
		key = "readers";
	else if (a->has_display != b->has_display ||
		 (a->has_display && !hal_same(&a->display, &b->display)))
		key = "display";
	else if (a->has_indicator != b->has_indicator ||
		 (a->has_indicator && !hal_same(&a->indicator, &b->indicator)))
		key = "indicator";
	else if (strcmp(a->http.bind, b->http.bind))
		key = "http.bind";
	else if (a->http.port != b->http.port)
		key = "http.port";
	else if (strcmp(a->http.assets, b->http.assets))
		key = "http.assets";
	else if (a->http.session_idle_s != b->http.session_idle_s)
		key = "http.session_idle_s";
	else if (a->has_uplink != b->has_uplink)
		key = "uplink";
	else if (a->has_uplink &&
		 (strcmp(a->uplink.host, b->uplink.host) || a->uplink.port != b->uplink.port))
		key = strcmp(a->uplink.host, b->uplink.host) ? "uplink.host" : "uplink.port";
	else if (a->has_uplink && strcmp(a->uplink.ca_file, b->uplink.ca_file))
		key = "uplink.ca_file";
	else if (a->has_uplink && strcmp(a->uplink.cert_file, b->uplink.cert_file))
		key = "uplink.cert_file";
	else if (a->has_uplink && strcmp(a->uplink.key_file, b->uplink.key_file))
		key = "uplink.key_file";
	else if (a->has_config != b->has_config)
		key = "config";
	else if (a->has_config && strcmp(a->config.trust_anchor, b->config.trust_anchor))
		key = "config.trust_anchor";
	else if (a->has_config && strcmp(a->config.state, b->config.state))
		key = "config.state";
	for (size_t i = 0; !key && i < a->n_readers; i++) {
		if (!hal_same(&a->readers[i], &b->readers[i])) {
			snprintf(rk, sizeof rk, "readers[%zu]", i);
			key = rk;
		}
	}
	if (!key)
		return 0;
	bad(&c, key, "changed; this key takes effect only after a restart");
	return RG_ERR_STATE;
}

const char *const devcfg_languages[DEVCFG_LANGS + 1] = {"en", "de", "fr", "nl", NULL};

int devcfg_language_index(const char *lang)
{
	for (int i = 0; lang && i < DEVCFG_LANGS; i++)
		if (!strcmp(lang, devcfg_languages[i]))
			return i;
	return -1;
}

const char *devcfg_privacy_name(enum devcfg_privacy p)
{
	switch (p) {
	case DEVCFG_PRIVACY_FULL:
		return "full";
	case DEVCFG_PRIVACY_FIRST_NAME:
		return "first_name";
	case DEVCFG_PRIVACY_ANONYMOUS:
		return "anonymous";
	}
	return "unknown";
}

int devcfg_overlay(const struct devcfg *file, const cJSON *merged, struct devcfg *out, char *err,
		   size_t errcap)
{
	struct ctx c = {.err = err, .errcap = errcap};
	const cJSON *ids;
	int rc;

	if (err && errcap)
		err[0] = '\0';
	if (!file || !out || file == out)
		return RG_ERR_INVAL;
	*out = *file;
	if (!merged)
		return 0;
	if (!cJSON_IsObject(merged))
		return bad(&c, "(settings)", "must be an object, got %s", rg_json_kind(merged));
	if ((rc = rg_settings_check(merged, err, errcap)) < 0)
		return rc == RG_ERR_NOMEM ? rc : RG_ERR_CONFIG;
	if ((rc = from_settings(&c, merged, out)) < 0)
		return rc;
	if ((ids = cJSON_GetObjectItemCaseSensitive(merged, "identifiers"))) {
		/* The whole object over the defaults, as in the file: a pushed
		 * "identifiers" replaces the file's rules, it is not merged
		 * into them (two half-rules could make a set nobody wrote). */
		cJSON *wrap = cJSON_CreateObject();
		if (!wrap || !cJSON_AddItemReferenceToObject(wrap, "identifiers", (cJSON *)ids)) {
			cJSON_Delete(wrap);
			return RG_ERR_NOMEM;
		}
		rc = parse_identifiers(&c, wrap, out);
		cJSON_Delete(wrap);
		if (rc < 0)
			return rc;
	}
	/* The store's own floor (firmware/store: max_bytes >= 4096) and the
	 * uplink's ranges hold for every value the schema allows. */
	return 0;
}

const char *devcfg_role_name(enum devcfg_role r)
{
	switch (r) {
	case DEVCFG_ROLE_KIOSK:
		return "kiosk";
	case DEVCFG_ROLE_HANDHELD:
		return "handheld";
	}
	return "unknown";
}

/* An installed daemon (<prefix>/bin/regulars-device) finds its UI in
 * <prefix>/share/regulars/ui; a daemon run from the build tree uses the
 * source tree's firmware/ui (REGULARS_UI_DIR, compiled in). */
static char installed_ui[DEVCFG_STR_MAX];

static const char *installed_assets(void)
{
	char exe[DEVCFG_STR_MAX - 64], probe[DEVCFG_STR_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	struct stat st;
	if (n <= 0)
		return NULL;
	exe[n] = '\0';
	char *slash = strrchr(exe, '/');
	if (!slash)
		return NULL;
	*slash = '\0';
	if (snprintf(installed_ui, sizeof installed_ui, "%s/../share/regulars/ui", exe) >=
		    (int)sizeof installed_ui ||
	    snprintf(probe, sizeof probe, "%.*s/kiosk.html", (int)(sizeof probe - 16),
		     installed_ui) >= (int)sizeof probe)
		return NULL;
	return stat(probe, &st) == 0 ? installed_ui : NULL;
}

const char *devcfg_default_assets(void)
{
	const char *env = getenv("REGULARS_UI_DIR");
	if (env && *env)
		return env;
	const char *inst = installed_assets();
	return inst ? inst : REGULARS_UI_DIR;
}
