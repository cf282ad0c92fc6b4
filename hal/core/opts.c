/*
 * opts.c - strict parser for HAL backend option strings ("baud=9600,
 * terminator=crlf"). Whitespace around keys and values is ignored; values
 * cannot contain ','. Every refusal is logged once, naming the key.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/log.h"

#include "opts.h"

int hal__opts_fail(const struct hal__opts *o, const char *key, const char *why)
{
	char k[96], w[160];
	rg_error(o->comp, "config_invalid", "backend=%s key=%s error=%s", o->backend,
		 rg_log_quote(k, sizeof k, key), rg_log_quote(w, sizeof w, why));
	return RG_ERR_CONFIG;
}

static char *trim(char *s)
{
	char *e;
	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
		*--e = '\0';
	return s;
}

static int key_allowed(const char *const *allowed, const char *key)
{
	for (size_t i = 0; allowed && allowed[i]; i++)
		if (!strcmp(allowed[i], key))
			return 1;
	return 0;
}

int hal__opts_parse(struct hal__opts *o, const char *comp, const char *backend, const char *text,
		    const char *const *allowed)
{
	char *p;
	size_t len;

	memset(o, 0, sizeof *o);
	o->comp = comp;
	o->backend = backend;
	if (!text)
		return 0;
	len = strlen(text);
	if (len > HAL__OPTS_TEXT_MAX)
		return hal__opts_fail(o, "", "option string longer than 1024 bytes");
	memcpy(o->buf, text, len + 1);
	p = o->buf;
	while (p) {
		char *comma = strchr(p, ','), *eq, *key, *val;
		if (comma)
			*comma = '\0';
		if (*trim(p) == '\0') {
			if (comma || o->n)
				return hal__opts_fail(o, "", "empty option");
			break;
		}
		eq = strchr(p, '=');
		if (!eq)
			return hal__opts_fail(o, trim(p), "expected key=value");
		*eq = '\0';
		key = trim(p);
		val = trim(eq + 1);
		if (!key_allowed(allowed, key))
			return hal__opts_fail(o, key, "unknown option for this backend");
		for (size_t i = 0; i < o->n; i++)
			if (!strcmp(o->key[i], key))
				return hal__opts_fail(o, key, "option given twice");
		if (o->n == HAL__OPTS_MAX)
			return hal__opts_fail(o, key, "more than 16 options");
		o->key[o->n] = key;
		o->val[o->n] = val;
		o->n++;
		p = comma ? comma + 1 : NULL;
	}
	return 0;
}

const char *hal__opts_str(const struct hal__opts *o, const char *key, const char *def)
{
	for (size_t i = 0; i < o->n; i++)
		if (!strcmp(o->key[i], key))
			return o->val[i];
	return def;
}

int hal__opts_int(const struct hal__opts *o, const char *key, long min, long max, long def,
		  long *out)
{
	const char *s = hal__opts_str(o, key, NULL);
	char *end;
	long v;

	*out = def;
	if (!s)
		return 0;
	errno = 0;
	v = strtol(s, &end, 10);
	if (*s == '\0' || *end != '\0' || errno)
		return hal__opts_fail(o, key, "not a decimal integer");
	if (v < min || v > max) {
		char why[96];
		snprintf(why, sizeof why, "%ld is outside %ld..%ld", v, min, max);
		return hal__opts_fail(o, key, why);
	}
	*out = v;
	return 0;
}

int hal__opts_bool(const struct hal__opts *o, const char *key, bool def, bool *out)
{
	static const char *const yes[] = {"on", "true", "yes", "1"};
	static const char *const no[] = {"off", "false", "no", "0"};
	const char *s = hal__opts_str(o, key, NULL);

	*out = def;
	if (!s)
		return 0;
	for (size_t i = 0; i < 4; i++) {
		if (!strcmp(s, yes[i])) {
			*out = true;
			return 0;
		}
		if (!strcmp(s, no[i])) {
			*out = false;
			return 0;
		}
	}
	return hal__opts_fail(o, key, "expected on or off");
}

int hal__opts_choice(const struct hal__opts *o, const char *key, const char *const *choices,
		     int def, int *out)
{
	const char *s = hal__opts_str(o, key, NULL);
	char why[200];
	size_t n = 0;

	*out = def;
	if (!s)
		return 0;
	for (int i = 0; choices[i]; i++) {
		if (!strcmp(s, choices[i])) {
			*out = i;
			return 0;
		}
	}
	n = (size_t)snprintf(why, sizeof why, "expected one of");
	for (int i = 0; choices[i] && n < sizeof why; i++)
		n += (size_t)snprintf(why + n, sizeof why - n, " %s", choices[i]);
	return hal__opts_fail(o, key, why);
}
