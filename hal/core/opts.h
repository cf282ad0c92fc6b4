/*
 * opts.h - the "key=value,key=value" option strings every HAL backend takes
 * (docs/hal.md). Parsing is strict: an unknown or repeated key, a missing
 * '=', or a value out of range is RG_ERR_CONFIG with a log line naming the
 * key. Values are borrowed from the struct, which must outlive their use.
 */
#ifndef HAL_CORE_OPTS_H
#define HAL_CORE_OPTS_H

#include <stdbool.h>
#include <stddef.h>

#define HAL__OPTS_TEXT_MAX 1024
#define HAL__OPTS_MAX 16

struct hal__opts {
	const char *comp;    /* log component: "reader", "display", ... */
	const char *backend; /* for log lines */
	char buf[HAL__OPTS_TEXT_MAX + 1];
	size_t n;
	const char *key[HAL__OPTS_MAX];
	const char *val[HAL__OPTS_MAX];
};

/* Parse text (NULL or "" = no options). allowed: NULL-terminated key list. */
int hal__opts_parse(struct hal__opts *o, const char *comp, const char *backend, const char *text,
		    const char *const *allowed);

/* The value for key, or def when absent. */
const char *hal__opts_str(const struct hal__opts *o, const char *key, const char *def);
/* A decimal integer in [min, max]; def when absent. */
int hal__opts_int(const struct hal__opts *o, const char *key, long min, long max, long def,
		  long *out);
/* on/off, true/false, yes/no, 1/0; def when absent. */
int hal__opts_bool(const struct hal__opts *o, const char *key, bool def, bool *out);
/* The index of the value in choices (NULL-terminated); def when absent. */
int hal__opts_choice(const struct hal__opts *o, const char *key, const char *const *choices,
		     int def, int *out);
/* Log a config_invalid line for key and return RG_ERR_CONFIG. */
int hal__opts_fail(const struct hal__opts *o, const char *key, const char *why);

#endif
