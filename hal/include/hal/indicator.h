/*
 * indicator.h - the LED/buzzer that tells a customer at a glance what
 * happened: ok, unknown, refused, error. Backends: sim (records events;
 * docs/hal.md). A signal starts a pattern and returns at once; callers must
 * not rely on it blocking for the pattern's duration.
 */
#ifndef HAL_INDICATOR_H
#define HAL_INDICATOR_H

#include <stddef.h>
#include <stdint.h>

#include "common/clock.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Stable values and names ("ok", "unknown", "refused", "error"). */
enum hal_pattern {
	HAL_PATTERN_OK = 0,	 /* recognised: short green, one beep */
	HAL_PATTERN_UNKNOWN = 1, /* read fine, not a known customer: amber */
	HAL_PATTERN_REFUSED = 2, /* identifier refused (expired, bad check digit) */
	HAL_PATTERN_ERROR = 3,	 /* the device cannot serve right now */
	HAL_PATTERN__COUNT
};

struct hal_indicator_event {
	uint64_t seq;
	int64_t time_ms;
	enum hal_pattern pattern;
};

#define HAL_INDICATOR_CAP_RECORD (1u << 0)

struct hal_indicator; /* opaque */

int hal_indicator_open(const char *backend, const char *options, const struct rg_clock *clock,
		       struct hal_indicator **out);
void hal_indicator_close(struct hal_indicator *ind);

/* Start a pattern. RG_ERR_RANGE for a value outside enum hal_pattern. */
int hal_indicator_signal(struct hal_indicator *ind, enum hal_pattern p);

/* Recording backends only (else RG_ERR_NOSYS): copies the newest
 * min(cap, recorded) events into out, oldest first, and returns how many. */
int hal_indicator_events(struct hal_indicator *ind, struct hal_indicator_event *out, size_t cap);

const char *hal_indicator_backend(const struct hal_indicator *ind);
unsigned hal_indicator_caps(const struct hal_indicator *ind);
const char *hal_indicator_backend_name(size_t i);

/* Never NULL ("?" for an out-of-range value). */
const char *hal_pattern_name(enum hal_pattern p);
/* The pattern for a name, or RG_ERR_PARSE. */
int hal_pattern_parse(const char *name);

#ifdef __cplusplus
}
#endif

#endif
