/*
 * view.c - kiosk and handheld view models, and local edits of cached bodies.
 *
 * The body comes from the sealed cache, so it was valid JSON when central
 * sent it; still, every field is read defensively (wrong type = absent), so a
 * surprising body shows less, never crashes and never shows more than
 * consented.
 */
#include "view.h"

#include <stdlib.h>
#include <string.h>

#include "common/err.h"

static const char *const languages[] = {"en", "de", "fr", "nl", NULL};
static const char *const categories[] = {"points", "orders", "service", "offers", NULL};

const char *view_state_name(enum view_state st)
{
	switch (st) {
	case VIEW_GREETING:
		return "greeting";
	case VIEW_UNKNOWN:
		return "unknown";
	case VIEW_REFUSED:
		return "refused";
	case VIEW_CLOSED:
		return "closed";
	case VIEW_IDLE:
		break;
	}
	return "idle";
}

bool view_consent_category_valid(const char *name)
{
	for (size_t i = 0; name && categories[i]; i++)
		if (strcmp(name, categories[i]) == 0)
			return true;
	return false;
}

static cJSON *parse_obj(const char *body, size_t len)
{
	cJSON *j = cJSON_ParseWithLength(body, len);
	if (j && !cJSON_IsObject(j)) {
		cJSON_Delete(j);
		return NULL;
	}
	return j;
}

static const char *str_of(const cJSON *obj, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
	return cJSON_IsString(v) && v->valuestring[0] ? v->valuestring : NULL;
}

static bool num_of(const cJSON *obj, const char *key, double *out)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
	if (!cJSON_IsNumber(v))
		return false;
	*out = v->valuedouble;
	return true;
}

static const char *language_of(const cJSON *body, const char *fallback)
{
	const cJSON *prefs = cJSON_GetObjectItemCaseSensitive(body, "preferences");
	const char *l = cJSON_IsObject(prefs) ? str_of(prefs, "language") : NULL;
	for (size_t i = 0; l && languages[i]; i++)
		if (strcmp(l, languages[i]) == 0)
			return l;
	return fallback && fallback[0] ? fallback : "en";
}

/* Bit i set = categories[i] consented. */
static unsigned consent_bits(const cJSON *body)
{
	const cJSON *c = cJSON_GetObjectItemCaseSensitive(body, "consent");
	const cJSON *list = cJSON_IsObject(c) ? cJSON_GetObjectItemCaseSensitive(c, "show_in_public")
					     : NULL;
	unsigned bits = 0;
	const cJSON *it;
	if (!cJSON_IsArray(list))
		return 0;
	cJSON_ArrayForEach(it, list)
	{
		if (!cJSON_IsString(it))
			continue;
		for (unsigned i = 0; categories[i]; i++)
			if (strcmp(it->valuestring, categories[i]) == 0)
				bits |= 1u << i;
	}
	return bits;
}

cJSON *view_consent_list(const char *body, size_t len)
{
	cJSON *j = parse_obj(body, len);
	cJSON *out = cJSON_CreateArray();
	unsigned bits = j ? consent_bits(j) : 0;
	for (unsigned i = 0; out && categories[i]; i++)
		if (bits & (1u << i))
			cJSON_AddItemToArray(out, cJSON_CreateString(categories[i]));
	cJSON_Delete(j);
	return out;
}

static const char *default_lang(const struct view_opts *o)
{
	return o->default_language[0] ? o->default_language : "en";
}

/* The configured texts for lang (all "" when none are configured). */
static const struct view_texts *texts_of(const struct view_opts *o, const char *lang)
{
	static const struct view_texts none;
	for (size_t i = 0; lang && i < VIEW_LANGS; i++)
		if (strcmp(lang, languages[i]) == 0)
			return &o->text[i];
	return &none;
}

/* text with every "{name}" replaced by name, at most VIEW_GREETING_MAX
 * bytes (cut at a character boundary). NULL when text needs a name and
 * name is NULL (nobody may be named), or out of memory. */
static char *fill_name(const char *text, const char *name)
{
	static const char tag[] = "{name}";
	char *out;
	size_t o = 0;

	if (strstr(text, tag) && !name)
		return NULL;
	if (!(out = malloc(VIEW_GREETING_MAX + 1)))
		return NULL;
	for (const char *p = text; *p;) {
		const char *src = p;
		size_t n = 1;
		if (strncmp(p, tag, sizeof tag - 1) == 0) {
			src = name;
			n = strlen(name);
			p += sizeof tag - 1;
		} else {
			p++;
		}
		if (o + n > VIEW_GREETING_MAX) {
			n = VIEW_GREETING_MAX - o;
			while (n > 0 && ((unsigned char)src[n] & 0xC0) == 0x80)
				n--; /* never half a UTF-8 character */
			memcpy(out + o, src, n);
			o += n;
			break;
		}
		memcpy(out + o, src, n);
		o += n;
	}
	out[o] = '\0';
	return out;
}

static cJSON *base_screen(enum view_state st, const struct view_opts *o, const char *lang,
			  const char *interaction)
{
	cJSON *v = cJSON_CreateObject();
	const struct view_texts *t = texts_of(o, lang);
	if (!v)
		return NULL;
	cJSON_AddStringToObject(v, "state", view_state_name(st));
	cJSON_AddStringToObject(v, "language", lang);
	cJSON_AddStringToObject(v, "default_language", default_lang(o));
	if (interaction)
		cJSON_AddStringToObject(v, "interaction", interaction);
	if (st != VIEW_IDLE && st != VIEW_CLOSED)
		cJSON_AddNumberToObject(v, "idle_after_ms", o->idle_after_ms);
	/* The welcome of the default language: the UI returns to idle on its
	 * own, and the idle screen speaks the default language. */
	if (texts_of(o, default_lang(o))->welcome[0])
		cJSON_AddStringToObject(v, "greeting_idle", texts_of(o, default_lang(o))->welcome);
	if (st == VIEW_UNKNOWN && t->unknown[0])
		cJSON_AddStringToObject(v, "greeting", t->unknown);
	if (st == VIEW_CLOSED && t->closed[0])
		cJSON_AddStringToObject(v, "greeting", t->closed);
	return v;
}

cJSON *view_kiosk_state(enum view_state st, const struct view_opts *o, const char *reason,
			const char *interaction)
{
	cJSON *v = base_screen(st, o, default_lang(o), interaction);
	if (v && reason)
		cJSON_AddStringToObject(v, "reason", reason);
	return v;
}

static void add_item(cJSON *items, const char *text, int max)
{
	if (text && cJSON_GetArraySize(items) < max)
		cJSON_AddItemToArray(items, cJSON_CreateString(text));
}

cJSON *view_kiosk(const char *body, size_t len, const struct view_opts *o, const char *interaction,
		  int *err_code)
{
	cJSON *j = parse_obj(body, len);
	if (!j) {
		if (err_code)
			*err_code = RG_ERR_PARSE;
		return NULL;
	}
	const char *lang = language_of(j, default_lang(o));
	cJSON *v = base_screen(VIEW_GREETING, o, lang, interaction);
	unsigned bits = consent_bits(j);
	/* The first name needs the customer's consent to any public display
	 * and a privacy level that shows names; details need full. */
	const char *first = bits && o->privacy != VIEW_PRIVACY_ANONYMOUS ? str_of(j, "first_name")
									  : NULL;
	const char *greeting = texts_of(o, lang)->greeting;
	if (v && greeting[0]) {
		char *g = fill_name(greeting, first);
		if (g)
			cJSON_AddStringToObject(v, "greeting", g);
		free(g);
	}
	if (v && first)
		cJSON_AddStringToObject(v, "first_name", first);
	if (v && bits && o->privacy == VIEW_PRIVACY_FULL) {
		double points;
		int max = o->public_items_max < 0 ? 0
			  : o->public_items_max > VIEW_ITEMS_MAX ? VIEW_ITEMS_MAX
								 : o->public_items_max;
		if (bits & 1u) { /* points: tier and points */
			const char *tier = str_of(j, "tier");
			if (tier)
				cJSON_AddStringToObject(v, "tier", tier);
			if (num_of(j, "points", &points))
				cJSON_AddNumberToObject(v, "points", points);
		}
		cJSON *items = cJSON_AddArrayToObject(v, "items");
		const cJSON *it;
		if (items && (bits & 2u)) { /* orders: recent order interactions */
			cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(j, "interactions"))
			{
				const char *dept = cJSON_IsObject(it) ? str_of(it, "department") : NULL;
				if (dept && strcmp(dept, "orders") == 0)
					add_item(items, str_of(it, "summary"), max);
			}
		}
		if (items && (bits & 4u)) { /* service: open episodes */
			cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(j, "episodes"))
			{
				const char *status = cJSON_IsObject(it) ? str_of(it, "status") : NULL;
				if (status && strcmp(status, "resolved") != 0)
					add_item(items, str_of(it, "title"), max);
			}
		}
		if (items && (bits & 8u)) /* offers */
			add_item(items, str_of(j, "next_best_action"), max);
	}
	cJSON_Delete(j);
	if (!v && err_code)
		*err_code = RG_ERR_NOMEM;
	return v;
}

static void copy_str(cJSON *dst, const cJSON *src, const char *key, const char *as)
{
	const char *s = str_of(src, key);
	if (s)
		cJSON_AddStringToObject(dst, as ? as : key, s);
}

cJSON *view_handheld(const char *profile_id, const char *body, size_t len, int *err_code)
{
	cJSON *j = parse_obj(body, len);
	cJSON *v = j ? cJSON_CreateObject() : NULL;
	if (!v) {
		if (err_code)
			*err_code = j ? RG_ERR_NOMEM : RG_ERR_PARSE;
		cJSON_Delete(j);
		return NULL;
	}
	double points = 0;
	cJSON_AddStringToObject(v, "id", profile_id);
	copy_str(v, j, "name", NULL);
	copy_str(v, j, "first_name", NULL);
	copy_str(v, j, "tier", NULL);
	cJSON_AddNumberToObject(v, "points", num_of(j, "points", &points) ? points : 0);
	copy_str(v, j, "home_store", NULL);
	copy_str(v, j, "next_best_action", NULL);
	cJSON_AddStringToObject(v, "language", language_of(j, NULL));

	cJSON *consent = cJSON_AddObjectToObject(v, "consent");
	unsigned bits = consent_bits(j);
	cJSON_AddBoolToObject(consent, "show_in_public", bits != 0);
	cJSON *cats = cJSON_AddArrayToObject(consent, "categories");
	for (unsigned i = 0; categories[i]; i++)
		if (bits & (1u << i))
			cJSON_AddItemToArray(cats, cJSON_CreateString(categories[i]));

	const cJSON *prefs = cJSON_GetObjectItemCaseSensitive(j, "preferences");
	if (cJSON_IsObject(prefs))
		cJSON_AddItemToObject(v, "preferences", cJSON_Duplicate(prefs, 1));

	cJSON *eps = cJSON_AddArrayToObject(v, "episodes");
	const cJSON *it;
	cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(j, "episodes"))
	{
		if (!cJSON_IsObject(it) || !str_of(it, "id"))
			continue;
		cJSON *e = cJSON_CreateObject();
		copy_str(e, it, "id", NULL);
		copy_str(e, it, "department", NULL);
		copy_str(e, it, "title", NULL);
		copy_str(e, it, "status", NULL);
		cJSON_AddItemToArray(eps, e);
	}
	cJSON *ins = cJSON_AddArrayToObject(v, "interactions");
	cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(j, "interactions"))
	{
		if (!cJSON_IsObject(it))
			continue;
		cJSON *e = cJSON_CreateObject();
		copy_str(e, it, "id", NULL); /* this device's own (a note): its interaction id */
		copy_str(e, it, "time", "at");
		copy_str(e, it, "channel", NULL);
		copy_str(e, it, "department", NULL);
		copy_str(e, it, "summary", NULL);
		copy_str(e, it, "kind", NULL);
		cJSON_AddItemToArray(ins, e);
	}
	cJSON_Delete(j);
	return v;
}

/* ---- local edits ---- */

#define RECENT_MAX 20 /* interactions kept in a locally edited body */

static char *finish(cJSON *j)
{
	char *out = j ? cJSON_PrintUnformatted(j) : NULL;
	cJSON_Delete(j);
	return out;
}

static cJSON *array_of(cJSON *obj, const char *key)
{
	cJSON *a = cJSON_GetObjectItemCaseSensitive(obj, key);
	if (cJSON_IsArray(a))
		return a;
	cJSON_DeleteItemFromObjectCaseSensitive(obj, key);
	return cJSON_AddArrayToObject(obj, key);
}

/* A line of this store's at the top of the body's recent interactions
 * (the newest first, RECENT_MAX kept). false: no memory. */
static bool add_line(cJSON *j, const char *department, const char *kind, const char *summary,
		     const char *at)
{
	cJSON *list = array_of(j, "interactions");
	cJSON *e = list ? cJSON_CreateObject() : NULL;
	if (!e)
		return false;
	cJSON_AddStringToObject(e, "channel", "store");
	cJSON_AddStringToObject(e, "department", department);
	cJSON_AddStringToObject(e, "kind", kind);
	cJSON_AddStringToObject(e, "summary", summary);
	cJSON_AddStringToObject(e, "time", at);
	cJSON_InsertItemInArray(list, 0, e);
	while (cJSON_GetArraySize(list) > RECENT_MAX)
		cJSON_DeleteItemFromArray(list, cJSON_GetArraySize(list) - 1);
	return true;
}

char *view_edit_note(const char *body, size_t len, const char *text, const char *at)
{
	cJSON *j = parse_obj(body, len);
	if (!j || !add_line(j, "service", "note", text, at)) {
		cJSON_Delete(j);
		return NULL;
	}
	return finish(j);
}

char *view_edit_episode_open(const char *body, size_t len, const char *episode_id,
			     const char *department, const char *title, const char *at)
{
	cJSON *j = parse_obj(body, len);
	cJSON *list = j ? array_of(j, "episodes") : NULL;
	cJSON *e = list ? cJSON_CreateObject() : NULL;
	if (!e) {
		cJSON_Delete(j);
		return NULL;
	}
	cJSON_AddStringToObject(e, "id", episode_id);
	cJSON_AddStringToObject(e, "department", department);
	cJSON_AddStringToObject(e, "status", "open");
	cJSON_AddStringToObject(e, "title", title);
	cJSON_AddStringToObject(e, "opened", at);
	cJSON_AddItemToArray(list, e);
	return finish(j);
}

char *view_edit_episode_resolve(const char *body, size_t len, const char *episode_id, bool *found)
{
	cJSON *j = parse_obj(body, len);
	cJSON *it;
	*found = false;
	if (!j)
		return NULL;
	cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(j, "episodes"))
	{
		const char *id = cJSON_IsObject(it) ? str_of(it, "id") : NULL;
		if (id && strcmp(id, episode_id) == 0) {
			*found = true;
			cJSON_DeleteItemFromObjectCaseSensitive(it, "status");
			cJSON_AddStringToObject(it, "status", "resolved");
		}
	}
	return finish(j);
}

int64_t view_points(const char *body, size_t len)
{
	cJSON *j = parse_obj(body, len);
	const cJSON *p = cJSON_GetObjectItemCaseSensitive(j, "points");
	int64_t n = cJSON_IsNumber(p) && p->valuedouble > 0 ? (int64_t)p->valuedouble : 0;
	cJSON_Delete(j);
	return n;
}

char *view_edit_redeem(const char *body, size_t len, int64_t points, const char *reason,
		       const char *at)
{
	cJSON *j = parse_obj(body, len);
	if (!j || !add_line(j, "loyalty", "points_redeemed", reason, at)) {
		cJSON_Delete(j);
		return NULL;
	}
	const cJSON *p = cJSON_GetObjectItemCaseSensitive(j, "points");
	double left = (cJSON_IsNumber(p) ? p->valuedouble : 0) - (double)points;
	cJSON_DeleteItemFromObjectCaseSensitive(j, "points");
	cJSON_AddNumberToObject(j, "points", left > 0 ? left : 0);
	return finish(j);
}

char *view_edit_consent(const char *body, size_t len, const cJSON *cats)
{
	cJSON *j = parse_obj(body, len);
	if (!j)
		return NULL;
	cJSON *c = cJSON_GetObjectItemCaseSensitive(j, "consent");
	if (!cJSON_IsObject(c)) {
		cJSON_DeleteItemFromObjectCaseSensitive(j, "consent");
		c = cJSON_AddObjectToObject(j, "consent");
	}
	cJSON_DeleteItemFromObjectCaseSensitive(c, "show_in_public");
	cJSON_AddItemToObject(c, "show_in_public", cJSON_Duplicate(cats, 1));
	return finish(j);
}
