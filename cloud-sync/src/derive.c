/*
 * derive.c - what each interaction kind means to a profile, for every
 * backend: reading an item's body leniently (unknown keys are kept in the
 * stored body and ignored here; a wrong type counts as absent) and rendering
 * a profile body from the imported body plus the derived state. The body
 * shapes are documented in docs/cloud.md; change both together.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/err.h"
#include "common/json.h"
#include "store_internal.h"

#define CONSENT_ITEMS_MAX 16
#define CONSENT_ITEM_MAX 32

const char *cloud_outcome_name(enum cloud_outcome o)
{
	static const char *const names[CLOUD_OUT__COUNT] = {"applied", "unknown_profile", "erased",
							    "stale", "invalid"};
	return (unsigned)o < CLOUD_OUT__COUNT ? names[o] : "unknown";
}

void cloud_profile_clear(struct cloud_profile *p)
{
	if (!p)
		return;
	free(p->body);
	memset(p, 0, sizeof *p);
}

void cloud__copy_utf8(char *dst, size_t cap, const char *s)
{
	size_t n;
	if (!cap)
		return;
	n = s ? strlen(s) : 0;
	if (n >= cap) {
		n = cap - 1;
		/* back off to the start of a character */
		while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
			n--;
	}
	if (n)
		memcpy(dst, s, n);
	dst[n] = '\0';
}

static const char *str_of(const cJSON *body, const char *key, size_t max)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(body, key);
	if (!cJSON_IsString(v) || !v->valuestring || strlen(v->valuestring) > max)
		return NULL;
	return v->valuestring;
}

int cloud__pref_key_ok(const char *k)
{
	size_t n = k ? strlen(k) : 0;
	if (n == 0 || n > CLOUD_PREF_KEY_MAX || !strcmp(k, "channel"))
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((k[i] >= 'a' && k[i] <= 'z') || (k[i] >= '0' && k[i] <= '9') || k[i] == '_'))
			return 0;
	return 1;
}

static char *consent_read(const cJSON *body)
{
	const cJSON *arr = cJSON_GetObjectItemCaseSensitive(body, "show_in_public"), *it;
	cJSON *out;
	char *text;
	int n = 0;

	if (!cJSON_IsArray(arr) || cJSON_GetArraySize(arr) > CONSENT_ITEMS_MAX)
		return NULL;
	cJSON_ArrayForEach(it, arr)
	{
		if (!cJSON_IsString(it) || !*it->valuestring ||
		    strlen(it->valuestring) > CONSENT_ITEM_MAX)
			return NULL;
		n++;
	}
	(void)n;
	if (!(out = cJSON_Duplicate(arr, 1)))
		return NULL;
	text = cJSON_PrintUnformatted(out);
	cJSON_Delete(out);
	return text;
}

/* Kind names: the wire's kinds keep their names; the extra kinds only
 * imports carry (docs/import.md) follow them. */
static const char *const extra_kinds[CLOUD_KIND__COUNT - RG_KIND__COUNT] = {
    "order", "visit", "episode_assigned", "points_earned"};

const char *cloud__kind_name(int kind)
{
	if (kind >= 0 && kind < RG_KIND__COUNT)
		return rg_kind_name((enum rg_kind)kind);
	if (kind >= RG_KIND__COUNT && kind < CLOUD_KIND__COUNT)
		return extra_kinds[kind - RG_KIND__COUNT];
	return "unknown";
}

int cloud__kind_parse(const char *name)
{
	int k;
	if (!name)
		return RG_ERR_INVAL;
	if ((k = rg_kind_parse(name)) >= 0)
		return k;
	for (int i = RG_KIND__COUNT; i < CLOUD_KIND__COUNT; i++)
		if (!strcmp(name, extra_kinds[i - RG_KIND__COUNT]))
			return i;
	return RG_ERR_NOTFOUND;
}

/* What an import may carry: what a person did on a channel. Device-only
 * kinds (identified at a reader, unknown identifiers, card links, erasure
 * requests, telemetry) are not interactions of other channels. */
int cloud_import_kind_valid(const char *name)
{
	static const char *const ok[] = {
	    "order",	       "note",		   "visit",	       "episode_opened",
	    "episode_assigned", "episode_updated", "episode_resolved", "points_earned",
	    "points_redeemed", "consent_changed", "preference_changed"};
	for (size_t i = 0; name && i < sizeof ok / sizeof ok[0]; i++)
		if (!strcmp(name, ok[i]))
			return 1;
	return 0;
}

static int points_read(const cJSON *b, int64_t *out)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(b, "points");
	int ok = cJSON_IsNumber(v) && v->valuedouble >= 1 && v->valuedouble <= 1e9 &&
		 v->valuedouble == (double)(int64_t)v->valuedouble;
	*out = ok ? (int64_t)v->valuedouble : 0;
	return ok;
}

void cloud__effect_read(int kind, const cJSON *b, bool has_token, struct cloud__effect *e)
{
	const cJSON *v;

	memset(e, 0, sizeof *e);
	e->channel = str_of(b, "channel", 16);
	e->department = str_of(b, "department", 32);
	if (!e->channel)
		e->channel = "";
	if (!e->department)
		e->department = "";
	e->usable = true;
	switch (kind) {
	case RG_KIND_NOTE:
		e->summary = str_of(b, "text", 8192);
		break;
	case CLOUD_KIND_ORDER:
		e->summary = str_of(b, "summary", 8192);
		break;
	case RG_KIND_EPISODE_OPENED:
		e->episode = str_of(b, "episode", CLOUD_EPISODE_ID_MAX);
		e->title = str_of(b, "title", 8192);
		e->summary = e->title;
		e->status = "open";
		e->usable = e->episode && *e->episode;
		break;
	case CLOUD_KIND_EPISODE_ASSIGNED:
		/* the episode moves to e->department (the usable check is made
		 * once the caller has applied its channel/department override) */
		e->episode = str_of(b, "episode", CLOUD_EPISODE_ID_MAX);
		e->summary = str_of(b, "note", 8192);
		e->assign = true;
		e->usable = e->episode && *e->episode;
		break;
	case RG_KIND_EPISODE_UPDATED:
		e->episode = str_of(b, "episode", CLOUD_EPISODE_ID_MAX);
		e->status = str_of(b, "status", 15);
		if (e->status && strcmp(e->status, "open") && strcmp(e->status, "waiting"))
			e->status = NULL; /* a status we do not know changes nothing */
		e->summary = str_of(b, "note", 8192);
		e->usable = e->episode && *e->episode;
		break;
	case RG_KIND_EPISODE_RESOLVED:
		e->episode = str_of(b, "episode", CLOUD_EPISODE_ID_MAX);
		e->status = "resolved";
		e->summary = str_of(b, "note", 8192);
		e->usable = e->episode && *e->episode;
		break;
	case RG_KIND_CONSENT_CHANGED:
		e->consent = consent_read(b);
		e->usable = e->consent != NULL;
		break;
	case RG_KIND_PREFERENCE_CHANGED:
		e->prefs = b;
		e->usable = false;
		cJSON_ArrayForEach(v, b)
		{
			if (cloud__pref_key_ok(v->string))
				e->usable = true;
		}
		break;
	case RG_KIND_POINTS_REDEEMED:
		e->usable = points_read(b, &e->points);
		e->summary = str_of(b, "reason", 8192);
		break;
	case CLOUD_KIND_POINTS_EARNED:
		e->usable = points_read(b, &e->points);
		e->points = -e->points; /* points_delta -= points: earning adds */
		e->summary = str_of(b, "reason", 8192);
		break;
	case RG_KIND_CARD_LINKED:
		e->usable = has_token;
		break;
	default:
		break;
	}
	if (!e->summary)
		e->summary = "";
}

void cloud__effect_clear(struct cloud__effect *e)
{
	free(e->consent);
	e->consent = NULL;
}

void cloud__derived_clear(struct cloud__derived *d)
{
	free(d->consent);
	for (size_t i = 0; i < d->n_prefs; i++)
		free(d->prefs[i].value);
	free(d->episodes);
	memset(d, 0, sizeof *d);
}

/* ---- rendering ---- */

/* Sets obj[key] = v, taking v (freed on failure). */
static int set_item(cJSON *obj, const char *key, cJSON *v)
{
	cJSON_bool ok;
	if (!v)
		return RG_ERR_NOMEM;
	if (cJSON_GetObjectItemCaseSensitive(obj, key))
		ok = cJSON_ReplaceItemInObjectCaseSensitive(obj, key, v);
	else
		ok = cJSON_AddItemToObject(obj, key, v);
	if (!ok)
		cJSON_Delete(v);
	return ok ? 0 : RG_ERR_NOMEM;
}

/* obj[key] as an object, replacing anything else there. */
static cJSON *ensure_obj(cJSON *obj, const char *key)
{
	cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
	if (cJSON_IsObject(v))
		return v;
	if (set_item(obj, key, cJSON_CreateObject()) < 0)
		return NULL;
	return cJSON_GetObjectItemCaseSensitive(obj, key);
}

static cJSON *time_str(int64_t ms)
{
	char t[25];
	return cJSON_CreateString(rg_time_format(ms, t));
}

static int render_episodes(cJSON *root, const struct cloud__derived *d)
{
	cJSON *arr = cJSON_GetObjectItemCaseSensitive(root, "episodes"), *it, *e;

	if (!d->n_episodes)
		return 0;
	if (!cJSON_IsArray(arr)) {
		if (set_item(root, "episodes", cJSON_CreateArray()) < 0)
			return RG_ERR_NOMEM;
		arr = cJSON_GetObjectItemCaseSensitive(root, "episodes");
	}
	for (size_t i = 0; i < d->n_episodes; i++) {
		const struct cloud__episode *ep = &d->episodes[i];
		e = NULL;
		cJSON_ArrayForEach(it, arr)
		{
			const cJSON *id = cJSON_GetObjectItemCaseSensitive(it, "id");
			if (cJSON_IsObject(it) && cJSON_IsString(id) &&
			    !strcmp(id->valuestring, ep->id))
				e = it;
		}
		if (!e) {
			if (!(e = cJSON_CreateObject()) || !cJSON_AddItemToArray(arr, e)) {
				cJSON_Delete(e);
				return RG_ERR_NOMEM;
			}
			if (set_item(e, "id", cJSON_CreateString(ep->id)) < 0)
				return RG_ERR_NOMEM;
		}
		if ((ep->department[0] &&
		     set_item(e, "department", cJSON_CreateString(ep->department)) < 0) ||
		    (ep->title[0] && set_item(e, "title", cJSON_CreateString(ep->title)) < 0) ||
		    set_item(e, "status", cJSON_CreateString(ep->status)) < 0 ||
		    set_item(e, "updated", time_str(ep->updated_ms)) < 0)
			return RG_ERR_NOMEM;
	}
	return 0;
}

static int render_recent(cJSON *root, const struct cloud__derived *d)
{
	cJSON *old = cJSON_GetObjectItemCaseSensitive(root, "interactions"), *arr, *it, *e;
	size_t n = 0;

	if (!d->n_recent)
		return 0;
	if (!(arr = cJSON_CreateArray()))
		return RG_ERR_NOMEM;
	for (size_t i = 0; i < d->n_recent; i++, n++) {
		const struct cloud__recent *r = &d->recent[i];
		if (!(e = cJSON_CreateObject()) || !cJSON_AddItemToArray(arr, e) ||
		    set_item(e, "kind", cJSON_CreateString(r->kind)) < 0 ||
		    set_item(e, "channel",
			     cJSON_CreateString(r->channel[0] ? r->channel : "store")) < 0 ||
		    (r->department[0] &&
		     set_item(e, "department", cJSON_CreateString(r->department)) < 0) ||
		    set_item(e, "summary", cJSON_CreateString(r->summary)) < 0 ||
		    set_item(e, "time", time_str(r->time_ms)) < 0) {
			cJSON_Delete(arr);
			return RG_ERR_NOMEM;
		}
	}
	/* then the imported history, newest N in all */
	if (cJSON_IsArray(old)) {
		cJSON_ArrayForEach(it, old)
		{
			if (n >= CLOUD_RECENT_MAX)
				break;
			if (!(e = cJSON_Duplicate(it, 1)) || !cJSON_AddItemToArray(arr, e)) {
				cJSON_Delete(e);
				cJSON_Delete(arr);
				return RG_ERR_NOMEM;
			}
			n++;
		}
	}
	return set_item(root, "interactions", arr);
}

int cloud__render(const char *base, size_t base_len, const struct cloud__derived *d,
		  struct cloud_profile *p)
{
	cJSON *root = NULL, *v;
	int64_t points = 0;
	int rc = 0;
	char *text;

	if (!base ||
	    rg_json_parse(base, base_len, CLOUD_PROFILE_BODY_MAX * 4, &root, NULL, 0) < 0 ||
	    !cJSON_IsObject(root)) {
		cJSON_Delete(root);
		if (!(root = cJSON_CreateObject()))
			return RG_ERR_NOMEM;
	}
	v = cJSON_GetObjectItemCaseSensitive(root, "points");
	if (cJSON_IsNumber(v) && v->valuedouble > -1e15 && v->valuedouble < 1e15)
		points = (int64_t)v->valuedouble;
	points += d->points_delta;
	p->points = points;
	p->visits = d->visits;
	p->last_seen_ms = d->last_seen_ms;
	if ((v || d->points_delta) &&
	    set_item(root, "points", cJSON_CreateNumber((double)points)) < 0)
		rc = RG_ERR_NOMEM;
	if (!rc && d->visits && set_item(root, "visits", cJSON_CreateNumber((double)d->visits)) < 0)
		rc = RG_ERR_NOMEM;
	if (!rc && d->last_seen_ms && set_item(root, "last_seen", time_str(d->last_seen_ms)) < 0)
		rc = RG_ERR_NOMEM;
	if (!rc && d->consent) {
		cJSON *c = ensure_obj(root, "consent");
		cJSON *list = cJSON_Parse(d->consent);
		if (!c || !list || set_item(c, "show_in_public", list) < 0)
			rc = RG_ERR_NOMEM;
	}
	if (!rc && d->n_prefs) {
		cJSON *pr = ensure_obj(root, "preferences");
		for (size_t i = 0; !rc && i < d->n_prefs; i++) {
			cJSON *val = cJSON_Parse(d->prefs[i].value);
			if (!pr || !val || set_item(pr, d->prefs[i].key, val) < 0)
				rc = RG_ERR_NOMEM;
		}
	}
	if (!rc)
		rc = render_episodes(root, d);
	if (!rc)
		rc = render_recent(root, d);
	if (!rc) {
		if (!(text = cJSON_PrintUnformatted(root)))
			rc = RG_ERR_NOMEM;
		else {
			free(p->body);
			p->body = text;
			p->body_len = strlen(text);
		}
	}
	cJSON_Delete(root);
	return rc;
}
