/*
 * settings.c - the schema of pushed settings (common/include/common/settings.h,
 * docs/config.md "Schema"). One table below lists every key with its type,
 * range or values, default, target and meaning; the strict check, the
 * Markdown for the documentation and the set of known paths all come from it,
 * so there is no second key list to drift. Also the deep merge of the scopes,
 * opening hours and the flat diff.
 */
#include "common/settings.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/ident.h"
#include "common/json.h"

#define PATH_CAP 128		    /* longest path the check builds (table paths are < 48) */
#define SEG_MAX 40		    /* bytes of a key shown in a message */
#define DIFF_PATH_CAP 2048	    /* dotted path of a leaf in the diff (32 levels x 41 + slack) */
#define SAFE_INT 9007199254740992.0 /* 2^53 */

enum kind {
	K_INT,	 /* integral JSON number in min..max */
	K_ENUM,	 /* one of values */
	K_TEXT,	 /* UTF-8, min..max bytes, no control characters */
	K_HOURS, /* opening hours (screen.hours) */
	K_IDENT, /* docs/identifiers.md, via ident_config_from_json */
};

enum target { T_DEVICE, T_GATEWAY };

struct key {
	const char *path; /* dotted; a "<lang>" segment stands for each of languages[] */
	enum kind kind;
	int64_t min, max;	   /* K_INT: the range; K_TEXT: length in bytes */
	const char *const *values; /* K_ENUM */
	const char *def;	   /* the default as documented */
	enum target target;
	const char *meaning;
};

static const char *const languages[] = {"en", "de", "fr", "nl", NULL};
static const char *const log_levels[] = {"error", "warn", "info", "debug", NULL};
static const char *const privacies[] = {"full", "first_name", "anonymous", NULL};
static const char *const days[] = {"mon", "tue", "wed", "thu", "fri", "sat", "sun", NULL};

/* clang-format off */
#define INT(p, lo, hi, d, t, m) {p, K_INT, lo, hi, NULL, d, t, m}
#define ENUM(p, v, d, t, m) {p, K_ENUM, 0, 0, v, d, t, m}
#define TEXT(p, m) {p, K_TEXT, 1, RG_SETTINGS_TEXT_MAX, NULL, "(built-in text)", T_DEVICE, m}
/* clang-format on */

static const struct key schema[] = {
    ENUM("log.level", log_levels, "info", T_DEVICE, "Least severe log level written."),
    INT("screen.idle_after_ms", 1000, 600000, "8000", T_DEVICE,
	"A kiosk returns to its idle screen this long after a greeting."),
    INT("screen.public_items_max", 0, 3, "3", T_DEVICE,
	"Detail items a kiosk shows at most, each only with the customer's consent."),
    ENUM("screen.default_language", languages, "en", T_DEVICE,
	 "Language of the screen when the customer has none on file."),
    ENUM("screen.privacy", privacies, "full", T_DEVICE,
	 "How much a customer-facing screen may show (see the notes below)."),
    TEXT("screen.text.<lang>.greeting",
	 "Greeting for a recognised customer; `{name}` is replaced by the first name."),
    TEXT("screen.text.<lang>.welcome", "Idle screen text."),
    TEXT("screen.text.<lang>.unknown", "Shown for a card that matches no customer."),
    TEXT("screen.text.<lang>.closed", "Shown by a kiosk outside the opening hours."),
    {"screen.hours", K_HOURS, 0, RG_SETTINGS_HOURS_RANGES, NULL, "(always open)", T_DEVICE,
     "Opening hours per weekday in local time; outside them a kiosk sleeps."},
    INT("cache.max_profiles", 1, 100000000, "1000000", T_DEVICE,
	"Profiles kept in the local cache; the least recently seen are evicted beyond."),
    INT("cache.max_bytes", 1048576, INT64_C(68719476736), "1073741824", T_DEVICE,
	"Sealed profile bytes kept in the local cache; a lowered value evicts at once."),
    INT("sync.batch_max", 1, 500, "100", T_DEVICE, "Interactions per uplink batch."),
    INT("sync.resend_ms", 1000, 3600000, "30000", T_DEVICE,
	"Resend interactions not acknowledged after this long."),
    INT("sync.lookup_timeout_ms", 0, 10000, "1500", T_DEVICE,
	"Ask the gateway on a local cache miss for at most this long; 0 never asks."),
    INT("sync.pull_ms", 1000, 86400000, "60000", T_DEVICE,
	"Pull changes from the gateway at least this often (also on each notice)."),
    {"identifiers", K_IDENT, 0, 0, NULL, "(identifiers.md)", T_DEVICE,
     "Identifier rules (docs/identifiers.md), laid over the defaults."},
    ENUM("gateway.log.level", log_levels, "info", T_GATEWAY, "As log.level, for the gateway."),
    INT("gateway.forward.window", 1, 1024, "64", T_GATEWAY,
	"Messages (batches or bundles) forwarded to central and not yet acknowledged, in all."),
    INT("gateway.forward.resend_ms", 1000, 3600000, "30000", T_GATEWAY,
	"Forward an unacknowledged batch again after this long."),
    INT("gateway.forward.reconnect_max_ms", 250, 300000, "10000", T_GATEWAY,
	"Cap of the reconnect backoff towards either broker."),
    INT("gateway.forward.bundle", 1, 16, "8", T_GATEWAY,
	"Spooled batches of one device forwarded as one message (1: one by one)."),
    INT("gateway.stats_interval_s", 1, 86400, "60", T_GATEWAY,
	"Period of the gateway's `event=stats` log line."),
};

#define N_KEYS (sizeof schema / sizeof schema[0])

struct ctx {
	char *err;
	size_t errcap;
};

/* Write "path: message" to the caller's err and return RG_ERR_CONFIG. */
#define bad(c, path, ...) rg_errf_at(RG_ERR_CONFIG, (c)->err, (c)->errcap, *(path) ? (path) : "(settings)", __VA_ARGS__)

/* A key or value shown in a message: at most SEG_MAX bytes, control
 * characters replaced, invalid UTF-8 named, so input cannot forge log lines. */
static void show(const char *k, char *out, size_t cap)
{
	size_t n = k ? strnlen(k, SEG_MAX) : 0, o = 0;
	if (k && !rg_utf8_valid(k, n)) {
		/* a cut inside a multi-byte character is not invalid input */
		size_t m = n;
		bool cut = strnlen(k, SEG_MAX + 1) > SEG_MAX;
		while (cut && m > 0 && m + 3 > n && !rg_utf8_valid(k, m))
			m--;
		if (cut && rg_utf8_valid(k, m))
			n = m;
		else
			k = "(not UTF-8)", n = strlen(k);
	}
	for (size_t i = 0; k && i < n && o + 1 < cap; i++)
		out[o++] = (unsigned char)k[i] < 0x20 || k[i] == 0x7f ? '?' : k[i];
	out[o] = '\0';
}

/* show() for a key: the empty key is shown as "" so a message names it. */
static void show_key(const char *k, char *out, size_t cap)
{
	if (k && !*k)
		snprintf(out, cap, "\"\"");
	else
		show(k, out, cap);
}

static int in_list(const char *s, const char *const *list)
{
	for (int i = 0; s && list[i]; i++)
		if (!strcmp(s, list[i]))
			return i;
	return -1;
}

/* "a, b, c" (or with a Markdown code span around each). */
static void list_join(const char *const *list, bool code, char *out, size_t cap)
{
	size_t o = 0;
	out[0] = '\0';
	for (int i = 0; list[i]; i++) {
		int n = snprintf(out + o, cap - o, "%s%s%s%s", i ? ", " : "", code ? "`" : "",
				 list[i], code ? "`" : "");
		if (n < 0 || (size_t)n >= cap - o)
			return;
		o += (size_t)n;
	}
}

/* ---- paths ---- */

/* How path relates to the table's pattern: 0 not on it, 1 an object on
 * the way to it ("" is on the way to everything), 2 the pattern itself. */
static int path_match(const char *pattern, const char *path)
{
	const char *p = pattern, *q = path;
	if (!*q)
		return 1;
	for (;;) {
		const char *pe = strchr(p, '.'), *qe = strchr(q, '.');
		size_t pl = pe ? (size_t)(pe - p) : strlen(p);
		size_t ql = qe ? (size_t)(qe - q) : strlen(q);
		if (pl == 6 && !strncmp(p, "<lang>", 6)) {
			int ok = 0;
			for (int i = 0; languages[i] && !ok; i++)
				ok = strlen(languages[i]) == ql && !strncmp(languages[i], q, ql);
			if (!ok)
				return 0;
		} else if (pl != ql || strncmp(p, q, pl)) {
			return 0;
		}
		if (!qe)
			return pe ? 1 : 2;
		if (!pe)
			return 0;
		p = pe + 1, q = qe + 1;
	}
}

/* The schema entry for a leaf path, NULL if path is not a leaf; *inner set
 * when path is an object on the way to some key. */
static const struct key *lookup(const char *path, bool *inner)
{
	const struct key *leaf = NULL;
	*inner = false;
	for (size_t i = 0; i < N_KEYS; i++) {
		int m = path_match(schema[i].path, path);
		if (m == 2)
			leaf = &schema[i];
		else if (m == 1)
			*inner = true;
	}
	return leaf;
}

/* ---- leaves ---- */

static int check_int(struct ctx *c, const struct key *k, const cJSON *v, const char *path)
{
	double d;
	if (!cJSON_IsNumber(v))
		return bad(c, path, "must be an integer %lld..%lld, got %s", (long long)k->min,
			   (long long)k->max, rg_json_kind(v));
	d = v->valuedouble;
	if (!isfinite(d) || fabs(d) > SAFE_INT)
		return bad(c, path, "must be an integer %lld..%lld, got a number out of range",
			   (long long)k->min, (long long)k->max);
	if (d != floor(d))
		return bad(c, path, "must be an integer %lld..%lld, got %g", (long long)k->min,
			   (long long)k->max, d);
	if ((int64_t)d < k->min || (int64_t)d > k->max)
		return bad(c, path, "must be %lld..%lld, got %lld", (long long)k->min,
			   (long long)k->max, (long long)(int64_t)d);
	return 0;
}

static int check_enum(struct ctx *c, const struct key *k, const cJSON *v, const char *path)
{
	char allowed[128], shown[SEG_MAX + 1];
	if (cJSON_IsString(v) && in_list(v->valuestring, k->values) >= 0)
		return 0;
	list_join(k->values, false, allowed, sizeof allowed);
	if (!cJSON_IsString(v))
		return bad(c, path, "must be one of %s, got %s", allowed, rg_json_kind(v));
	show(v->valuestring, shown, sizeof shown);
	return bad(c, path, "must be one of %s, got \"%s\"", allowed, shown);
}

/* Byte offset of the first control character (C0, DEL or C1) of valid UTF-8
 * s, or -1. */
static long control_at(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	for (size_t i = 0; i < n; i++) {
		if (p[i] < 0x20 || p[i] == 0x7f)
			return (long)i;
		if (p[i] == 0xc2 && i + 1 < n && p[i + 1] >= 0x80 && p[i + 1] <= 0x9f)
			return (long)i;
	}
	return -1;
}

static int check_text(struct ctx *c, const struct key *k, const cJSON *v, const char *path)
{
	size_t n;
	long at;
	if (!cJSON_IsString(v) || !v->valuestring)
		return bad(c, path, "must be text of %lld..%lld bytes, got %s", (long long)k->min,
			   (long long)k->max, rg_json_kind(v));
	n = strlen(v->valuestring);
	if ((int64_t)n < k->min || (int64_t)n > k->max)
		return bad(c, path, "must be %lld..%lld bytes of text, got %zu", (long long)k->min,
			   (long long)k->max, n);
	if (!rg_utf8_valid(v->valuestring, n))
		return bad(c, path, "is not valid UTF-8");
	if ((at = control_at(v->valuestring, n)) >= 0)
		return bad(c, path, "must not hold control characters, found one at byte %ld", at);
	if (strstr(v->valuestring, "{name}") && strcmp(strrchr(path, '.'), ".greeting"))
		return bad(c, path, "only greeting may hold {name}");
	return 0;
}

/* "HH:MM" at s; *min minutes after midnight. 24:00 only when end. */
static int hhmm(const char *s, bool end, int *min)
{
	int h, m;
	if (s[0] < '0' || s[0] > '9' || s[1] < '0' || s[1] > '9' || s[2] != ':' || s[3] < '0' ||
	    s[3] > '9' || s[4] < '0' || s[4] > '9')
		return -1;
	h = (s[0] - '0') * 10 + (s[1] - '0');
	m = (s[3] - '0') * 10 + (s[4] - '0');
	if (m > 59 || h > 24 || (h == 24 && (!end || m != 0)))
		return -1;
	*min = h * 60 + m;
	return 0;
}

/* Duplicate keys in obj (one level). */
static int no_dup(struct ctx *c, const cJSON *obj, const char *path)
{
	for (const cJSON *it = obj ? obj->child : NULL; it; it = it->next)
		for (const cJSON *p = obj->child; p != it; p = p->next)
			if (p->string && it->string && !strcmp(p->string, it->string)) {
				char shown[SEG_MAX + 1];
				show_key(it->string, shown, sizeof shown);
				return bad(c, path, "key \"%s\" appears twice", shown);
			}
	return 0;
}

/* Duplicate keys anywhere under v (identifiers are parsed elsewhere, which
 * takes the first of two; a signed document must mean one thing). */
static int no_dup_deep(struct ctx *c, const cJSON *v, const char *path)
{
	const cJSON *it;
	size_t i = 0;
	int rc;

	if (!cJSON_IsObject(v) && !cJSON_IsArray(v))
		return 0;
	if (cJSON_IsObject(v) && (rc = no_dup(c, v, path)) < 0)
		return rc;
	cJSON_ArrayForEach(it, v)
	{
		char sub[PATH_CAP], shown[SEG_MAX + 1];
		if (cJSON_IsObject(v)) {
			show_key(it->string, shown, sizeof shown);
			snprintf(sub, sizeof sub, "%s.%s", path, shown);
		} else {
			snprintf(sub, sizeof sub, "%s[%zu]", path, i++);
		}
		if ((rc = no_dup_deep(c, it, sub)) < 0)
			return rc;
	}
	return 0;
}

/* screen.hours into h (zeroed first); the grammar is in settings.h and
 * docs/config.md: per day 0..4 ranges "HH:MM-HH:MM", start < end, end may
 * be 24:00, ranges in ascending order and not overlapping (they may touch). */
static int hours_parse(struct ctx *c, const cJSON *v, const char *path, struct rg_settings_hours *h)
{
	char sub[PATH_CAP], shown[SEG_MAX + 1];
	const cJSON *day;
	int rc;

	memset(h, 0, sizeof *h);
	if (!cJSON_IsObject(v))
		return bad(c, path, "must be an object of days (mon..sun), got %s", rg_json_kind(v));
	if ((rc = no_dup(c, v, path)) < 0)
		return rc;
	cJSON_ArrayForEach(day, v)
	{
		int d = in_list(day->string, days), i = 0;
		const cJSON *r;
		if (d < 0) {
			show_key(day->string, shown, sizeof shown);
			snprintf(sub, sizeof sub, "%s.%s", path, shown);
			return bad(c, sub,
				   "unknown key (days are mon, tue, wed, thu, fri, sat, sun)");
		}
		snprintf(sub, sizeof sub, "%s.%s", path, days[d]);
		if (!cJSON_IsArray(day))
			return bad(c, sub, "must be an array of \"HH:MM-HH:MM\", got %s",
				   rg_json_kind(day));
		if (cJSON_GetArraySize(day) > RG_SETTINGS_HOURS_RANGES)
			return bad(c, sub, "must have at most %d ranges, got %d",
				   RG_SETTINGS_HOURS_RANGES, cJSON_GetArraySize(day));
		cJSON_ArrayForEach(r, day)
		{
			const char *s = cJSON_IsString(r) ? r->valuestring : NULL;
			int a, b;
			if (!s || strlen(s) != 11 || s[5] != '-' || hhmm(s, false, &a) < 0 ||
			    hhmm(s + 6, true, &b) < 0) {
				if (s)
					show(s, shown, sizeof shown);
				return bad(
				    c, sub,
				    "range %d must be \"HH:MM-HH:MM\" (00:00..24:00), got %s%s%s",
				    i, s ? "\"" : "", s ? shown : rg_json_kind(r), s ? "\"" : "");
			}
			if (a >= b)
				return bad(c, sub,
					   "range %d \"%s\": the start must be before the end", i,
					   s);
			if (i > 0 && a < h->end[d][i - 1])
				return bad(c, sub,
					   "range %d \"%s\" must start at or after the end of "
					   "the range before it",
					   i, s);
			h->start[d][i] = a;
			h->end[d][i] = b;
			h->n[d] = ++i;
		}
	}
	h->set = true;
	return 0;
}

static int check_ident(struct ctx *c, const cJSON *v, const char *path)
{
	struct ident_config ic;
	char msg[RG_JSON_ERR_MAX];
	int rc;

	if (!cJSON_IsObject(v))
		return bad(c, path, "must be an object, got %s", rg_json_kind(v));
	if ((rc = no_dup_deep(c, v, path)) < 0)
		return rc;
	msg[0] = '\0';
	ident_config_default(&ic);
	rc = ident_config_from_json(v, &ic, msg, sizeof msg);
	if (rc == 0)
		rc = ident_config_validate(&ic, msg, sizeof msg);
	if (rc == RG_ERR_NOMEM)
		return rc;
	if (rc < 0) {
		/* ident's messages may quote a key as given: flatten them */
		for (char *p = msg; *p; p++)
			if ((unsigned char)*p < 0x20 || *p == 0x7f)
				*p = '?';
		/* they name the path below "identifiers" (or start with it
		 * at the top level) */
		if (!strncmp(msg, path, strlen(path)))
			return bad(c, path, "%s",
				   msg + strlen(path) + (msg[strlen(path)] == ':' ? 2 : 0));
		if (c->err && c->errcap)
			snprintf(c->err, c->errcap, "%s.%s", path, msg);
		return RG_ERR_CONFIG;
	}
	return 0;
}

static int check_leaf(struct ctx *c, const struct key *k, const cJSON *v, const char *path)
{
	struct rg_settings_hours h;
	switch (k->kind) {
	case K_INT:
		return check_int(c, k, v, path);
	case K_ENUM:
		return check_enum(c, k, v, path);
	case K_TEXT:
		return check_text(c, k, v, path);
	case K_HOURS:
		return hours_parse(c, v, path, &h);
	case K_IDENT:
		return check_ident(c, v, path);
	}
	return bad(c, path, "unknown kind");
}

/* v at path (len bytes of the PATH_CAP buffer), which the schema knows. */
static int check_node(struct ctx *c, const cJSON *v, char *path, size_t len)
{
	const cJSON *it;
	bool inner;
	const struct key *k = lookup(path, &inner);
	int rc;

	if (k)
		return check_leaf(c, k, v, path);
	if (!cJSON_IsObject(v))
		return bad(c, path, "must be an object, got %s", rg_json_kind(v));
	if ((rc = no_dup(c, v, path)) < 0)
		return rc;
	cJSON_ArrayForEach(it, v)
	{
		const char *key = it->string ? it->string : "";
		size_t kl = strnlen(key, PATH_CAP);
		char shown[SEG_MAX + 1], kp[PATH_CAP + SEG_MAX + 2];

		if (kl > 0 && !strchr(key, '.') && len + 1 + kl < PATH_CAP) {
			int n = snprintf(path + len, PATH_CAP - len, "%s%s", len ? "." : "", key);
			bool sub;
			if (lookup(path, &sub) || sub) {
				rc = check_node(c, it, path, len + (size_t)n);
				path[len] = '\0';
				if (rc < 0)
					return rc;
				continue;
			}
			path[len] = '\0';
		}
		show_key(key, shown, sizeof shown);
		snprintf(kp, sizeof kp, "%s%s%s", path, len ? "." : "", shown);
		return bad(c, kp, "unknown key");
	}
	return 0;
}

int rg_settings_check(const cJSON *settings, char *err, size_t errcap)
{
	struct ctx c = {.err = err, .errcap = errcap};
	char path[PATH_CAP] = "";

	if (err && errcap)
		err[0] = '\0';
	if (!cJSON_IsObject(settings))
		return bad(&c, "", "must be an object, got %s",
			   settings ? rg_json_kind(settings) : "nothing");
	return check_node(&c, settings, path, 0);
}

/* ---- merge ---- */

static int merge_into(cJSON *dst, const cJSON *src)
{
	const cJSON *s;
	cJSON_ArrayForEach(s, src)
	{
		cJSON *d, *copy;
		if (!s->string)
			continue;
		d = cJSON_GetObjectItemCaseSensitive(dst, s->string);
		if (d && cJSON_IsObject(d) && cJSON_IsObject(s)) {
			int rc = merge_into(d, s);
			if (rc < 0)
				return rc;
			continue;
		}
		if (cJSON_IsObject(s)) {
			/* a fresh object merged into, so duplicate keys in
			 * an (unchecked) layer fold the same way everywhere */
			if (!(copy = cJSON_CreateObject()))
				return RG_ERR_NOMEM;
			if (merge_into(copy, s) < 0) {
				cJSON_Delete(copy);
				return RG_ERR_NOMEM;
			}
		} else if (!(copy = cJSON_Duplicate(s, 1))) {
			return RG_ERR_NOMEM;
		}
		if (d ? !cJSON_ReplaceItemInObjectCaseSensitive(dst, s->string, copy)
		      : !cJSON_AddItemToObject(dst, s->string, copy)) {
			cJSON_Delete(copy);
			return RG_ERR_NOMEM;
		}
	}
	return 0;
}

cJSON *rg_settings_merge(const cJSON *const *layers, size_t n)
{
	cJSON *out = cJSON_CreateObject();
	for (size_t i = 0; out && layers && i < n; i++)
		if (cJSON_IsObject(layers[i]) && merge_into(out, layers[i]) < 0) {
			cJSON_Delete(out);
			out = NULL;
		}
	return out;
}

/* ---- hours ---- */

int rg_settings_hours_get(const cJSON *merged, struct rg_settings_hours *out)
{
	struct ctx c = {0};
	const cJSON *screen, *hours;
	if (!out)
		return RG_ERR_INVAL;
	memset(out, 0, sizeof *out);
	screen = cJSON_IsObject(merged) ? cJSON_GetObjectItemCaseSensitive(merged, "screen") : NULL;
	hours = cJSON_IsObject(screen) ? cJSON_GetObjectItemCaseSensitive(screen, "hours") : NULL;
	if (!hours)
		return 0;
	if (hours_parse(&c, hours, "screen.hours", out) < 0) {
		memset(out, 0, sizeof *out);
		return RG_ERR_CONFIG;
	}
	return 0;
}

bool rg_settings_hours_open(const struct rg_settings_hours *h, int wday, int minute)
{
	if (!h || !h->set)
		return true;
	if (wday < 0 || wday > 6 || minute < 0 || minute >= 1440)
		return false;
	for (int i = 0; i < h->n[wday] && i < RG_SETTINGS_HOURS_RANGES; i++)
		if (minute >= h->start[wday][i] && minute < h->end[wday][i])
			return true;
	return false;
}

/* ---- diff ---- */

struct leaf {
	char *key, *val;
	size_t seq; /* document order, so the first of duplicate keys wins */
};

struct leaves {
	struct leaf *v;
	size_t n, cap;
};

static void leaves_free(struct leaves *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->v[i].key);
		free(l->v[i].val);
	}
	free(l->v);
}

static int leaf_add(struct leaves *l, const char *key, const cJSON *v)
{
	struct leaf *e;
	if (l->n == l->cap) {
		size_t nc = l->cap ? l->cap * 2 : 32;
		struct leaf *nv = realloc(l->v, nc * sizeof *nv);
		if (!nv)
			return RG_ERR_NOMEM;
		l->v = nv, l->cap = nc;
	}
	e = &l->v[l->n];
	e->seq = l->n;
	e->key = strdup(key);
	e->val = cJSON_PrintUnformatted(v);
	if (!e->key || !e->val) {
		free(e->key);
		free(e->val);
		return RG_ERR_NOMEM;
	}
	l->n++;
	return 0;
}

static int flatten(const cJSON *v, char *path, size_t len, struct leaves *l)
{
	const cJSON *it;
	if (!cJSON_IsObject(v))
		return leaf_add(l, len ? path : "(settings)", v);
	cJSON_ArrayForEach(it, v)
	{
		char seg[SEG_MAX + 1];
		int n, rc;
		show_key(it->string, seg, sizeof seg);
		n = snprintf(path + len, DIFF_PATH_CAP - len, "%s%s", len ? "." : "", seg);
		if (n < 0 || len + (size_t)n >= DIFF_PATH_CAP)
			n = (int)(DIFF_PATH_CAP - 1 - len);
		rc = flatten(it, path, len + (size_t)n, l);
		path[len] = '\0';
		if (rc < 0)
			return rc;
	}
	return 0;
}

static int leaf_cmp(const void *a, const void *b)
{
	const struct leaf *x = a, *y = b;
	int r = strcmp(x->key, y->key);
	if (r)
		return r;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static int leaves_of(const cJSON *doc, struct leaves *l)
{
	char *path;
	size_t o = 0;
	int rc;

	if (!doc)
		return 0;
	if (!(path = calloc(1, DIFF_PATH_CAP)))
		return RG_ERR_NOMEM;
	rc = flatten(doc, path, 0, l);
	free(path);
	if (rc < 0)
		return rc;
	if (l->n)
		qsort(l->v, l->n, sizeof l->v[0], leaf_cmp);
	for (size_t i = 0; i < l->n; i++) {
		if (o && !strcmp(l->v[o - 1].key, l->v[i].key)) {
			free(l->v[i].key);
			free(l->v[i].val);
			continue;
		}
		l->v[o++] = l->v[i];
	}
	l->n = o;
	return 0;
}

int rg_settings_diff(const cJSON *a, const cJSON *b, FILE *out)
{
	struct leaves la = {0}, lb = {0};
	size_t i = 0, j = 0;
	int n = 0, rc;

	if ((rc = leaves_of(a, &la)) < 0 || (rc = leaves_of(b, &lb)) < 0)
		goto done;
	while (i < la.n || j < lb.n) {
		int c = i == la.n ? 1 : j == lb.n ? -1 : strcmp(la.v[i].key, lb.v[j].key);
		if (c < 0) {
			if (out)
				fprintf(out, "- %s: %s\n", la.v[i].key, la.v[i].val);
			i++, n++;
		} else if (c > 0) {
			if (out)
				fprintf(out, "+ %s: %s\n", lb.v[j].key, lb.v[j].val);
			j++, n++;
		} else {
			if (strcmp(la.v[i].val, lb.v[j].val)) {
				if (out)
					fprintf(out, "~ %s: %s -> %s\n", la.v[i].key, la.v[i].val,
						lb.v[j].val);
				n++;
			}
			i++, j++;
		}
	}
	rc = n;
done:
	leaves_free(&la);
	leaves_free(&lb);
	return rc;
}

/* ---- documentation ---- */

void rg_settings_schema_markdown(FILE *out)
{
	fprintf(out, "| key | type | range / values | default | for | meaning |\n");
	fprintf(out, "| --- | --- | --- | --- | --- | --- |\n");
	for (size_t i = 0; i < N_KEYS; i++) {
		const struct key *k = &schema[i];
		char range[160], langs[64];
		const char *type = "";
		switch (k->kind) {
		case K_INT:
			type = "integer";
			snprintf(range, sizeof range, "%lld..%lld", (long long)k->min,
				 (long long)k->max);
			break;
		case K_ENUM:
			type = "string";
			list_join(k->values, true, range, sizeof range);
			break;
		case K_TEXT:
			type = "string";
			list_join(languages, true, langs, sizeof langs);
			snprintf(range, sizeof range,
				 "%lld..%lld bytes of UTF-8, no control characters; "
				 "`<lang>`: %s",
				 (long long)k->min, (long long)k->max, langs);
			break;
		case K_HOURS:
			type = "object";
			snprintf(range, sizeof range,
				 "`mon`..`sun`: 0..%d ranges `\"HH:MM-HH:MM\"`, ascending, "
				 "end up to `24:00`",
				 RG_SETTINGS_HOURS_RANGES);
			break;
		case K_IDENT:
			type = "object";
			snprintf(range, sizeof range, "identifiers.md");
			break;
		}
		fprintf(out, "| `%s` | %s | %s | %s%s%s | %s | %s |\n", k->path, type, range,
			k->def[0] == '(' ? "" : "`", k->def, k->def[0] == '(' ? "" : "`",
			k->target == T_GATEWAY ? "gateway" : "device", k->meaning);
	}
}
