/*
 * ctl_status.c - rows of `regularsctl config status` from the retained status
 * messages (ctl_status.h). Payloads are parsed with the project's bounded JSON
 * parser; every string that reaches the terminal is stripped of control
 * characters, since a report could carry anything a receiver put in it.
 */
#include "ctl_status.h"

#include <stdlib.h>
#include <string.h>

#include "common/json.h"

#define PAYLOAD_MAX (256 * 1024)

static bool level(const char *p, size_t n, char *out)
{
	if (n == 0 || n > PKI_ID_MAX || memchr(p, '+', n) || memchr(p, '#', n))
		return false;
	memcpy(out, p, n);
	out[n] = '\0';
	return true;
}

bool ctl_status_row_parse(const char *topic, const void *payload, size_t len,
			  struct ctl_status_row *r)
{
	static const char prefix[] = "rg/v1/g/";
	const char *p, *s;
	cJSON *j = NULL;

	memset(r, 0, sizeof *r);
	if (!topic || strncmp(topic, prefix, sizeof prefix - 1) || len == 0)
		return false;
	p = topic + sizeof prefix - 1;
	if (!(s = strchr(p, '/')) || !level(p, (size_t)(s - p), r->gw))
		return false;
	if (strcmp(s, "/status")) {
		if (strncmp(s, "/d/", 3))
			return false;
		p = s + 3;
		if (!(s = strchr(p, '/')) || strcmp(s, "/status") ||
		    !level(p, (size_t)(s - p), r->dev))
			return false;
	}
	r->topic = topic;
	if (rg_json_parse(payload, len, PAYLOAD_MAX, &j, NULL, 0) == 0 && !cJSON_IsObject(j)) {
		cJSON_Delete(j);
		j = NULL;
	}
	r->status = j;
	return true;
}

void ctl_status_row_clear(struct ctl_status_row *r)
{
	cJSON_Delete(r->status);
	r->status = NULL;
}

int ctl_status_row_cmp(const void *a, const void *b)
{
	const struct ctl_status_row *x = a, *y = b;
	int c = strcmp(x->gw, y->gw);
	return c ? c : strcmp(x->dev, y->dev); /* the gateway ("") first */
}

/* s for a terminal: at most cap-1 bytes, control characters as '?'. */
static const char *safe(const char *s, char *buf, size_t cap)
{
	size_t i = 0;
	for (; s && s[i] && i + 1 < cap; i++)
		buf[i] = ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) ? '?' : s[i];
	buf[i] = '\0';
	return buf;
}

static const char *str_of(const cJSON *o, const char *key, const char *dflt, char *buf, size_t cap)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	return safe(cJSON_IsString(v) ? v->valuestring : dflt, buf, cap);
}

static long long num_of(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	if (!cJSON_IsNumber(v) || !(v->valuedouble > -9e15 && v->valuedouble < 9e15))
		return 0;
	return (long long)v->valuedouble;
}

void ctl_status_header(FILE *out)
{
	fprintf(out, "%-24s %-8s %-8s %-7s %-8s %-9s %-21s %s\n", "IDENTITY", "GATEWAY", "ONLINE",
		"SCOPE", "VERSION", "STATUS", "APPLIED_AT", "DETAIL");
}

static void print_text(const struct ctl_status_row *r, FILE *out)
{
	static const char *const scopes[] = {"keys", "tenant", "store", "device"};
	const char *id = r->dev[0] ? r->dev : r->gw;
	const cJSON *online = cJSON_GetObjectItemCaseSensitive(r->status, "online");
	const cJSON *cfg = cJSON_GetObjectItemCaseSensitive(r->status, "config");
	const char *on = !r->status		 ? "?"
			 : cJSON_IsTrue(online)	 ? "online"
			 : cJSON_IsFalse(online) ? "offline"
						 : "?";
	bool any = false;

	for (size_t i = 0; cJSON_IsObject(cfg) && i < sizeof scopes / sizeof scopes[0]; i++) {
		const cJSON *s = cJSON_GetObjectItemCaseSensitive(cfg, scopes[i]);
		char st[32], at[40], when[40], reason[40], detail[300], exp[40], line[512] = "";
		if (!cJSON_IsObject(s))
			continue;
		str_of(s, "status", i == 0 ? "-" : "?", st, sizeof st);
		if (!strcmp(st, "rejected"))
			snprintf(line, sizeof line, "rejected v%lld at %s: %s: %s",
				 num_of(s, "rejected_version"),
				 str_of(s, "at", "?", when, sizeof when),
				 str_of(s, "reason", "?", reason, sizeof reason),
				 str_of(s, "detail", "", detail, sizeof detail));
		else if (cJSON_GetObjectItemCaseSensitive(s, "expires"))
			snprintf(line, sizeof line, "%s %s",
				 !strcmp(st, "expired") ? "expired" : "expires",
				 str_of(s, "expires", "?", exp, sizeof exp));
		fprintf(out, "%-24s %-8s %-8s %-7s %-8lld %-9s ", id, r->gw, on, scopes[i],
			num_of(s, "version"), st);
		str_of(s, "applied_at", "-", at, sizeof at);
		if (line[0])
			fprintf(out, "%-21s %s\n", at, line);
		else
			fprintf(out, "%s\n", at);
		any = true;
	}
	if (!any)
		fprintf(out, "%-24s %-8s %-8s %-7s %-8s %-9s %-21s %s\n", id, r->gw, on, "-", "-",
			"-", "-", r->status ? "no configuration report" : "status is not JSON");
}

static void print_json(const struct ctl_status_row *r, FILE *out)
{
	cJSON *o = cJSON_CreateObject();
	const cJSON *online = cJSON_GetObjectItemCaseSensitive(r->status, "online");
	const cJSON *cfg = cJSON_GetObjectItemCaseSensitive(r->status, "config");
	char *text = NULL;
	bool ok = o && cJSON_AddStringToObject(o, "identity", r->dev[0] ? r->dev : r->gw) &&
		  cJSON_AddStringToObject(o, "gateway", r->gw) &&
		  cJSON_AddStringToObject(o, "topic", r->topic) &&
		  (cJSON_IsBool(online) ? cJSON_AddBoolToObject(o, "online", cJSON_IsTrue(online))
					: cJSON_AddNullToObject(o, "online")) != NULL;
	if (ok && cfg) {
		cJSON *copy = cJSON_Duplicate(cfg, true);
		ok = copy && cJSON_AddItemToObject(o, "config", copy);
		if (!ok)
			cJSON_Delete(copy);
	} else if (ok) {
		ok = cJSON_AddNullToObject(o, "config") != NULL;
	}
	/* cJSON escapes control characters: one object per line whatever came in. */
	if (ok && (text = cJSON_PrintUnformatted(o)))
		fprintf(out, "%s\n", text);
	free(text);
	cJSON_Delete(o);
}

void ctl_status_row_print(const struct ctl_status_row *r, bool json, FILE *out)
{
	if (json)
		print_json(r, out);
	else
		print_text(r, out);
}
