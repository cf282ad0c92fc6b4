/*
 * display.h - the device's screen as the HAL sees it: show a view (a title
 * and a few lines, or a JSON object for a UI that renders it), clear it.
 * Backends: sim (records the last frames; docs/hal.md). The real kiosk
 * display comes with the device UI. One thread at a time per display.
 */
#ifndef HAL_DISPLAY_H
#define HAL_DISPLAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/clock.h"

#ifdef __cplusplus
extern "C" {
#endif

#define HAL_VIEW_LINES_MAX 8
#define HAL_VIEW_TEXT_MAX 160  /* bytes in a title or a line, without NUL */
#define HAL_VIEW_JSON_MAX 8192 /* bytes of JSON text, without NUL */

/* What to show, borrowed for the call. Either title/lines (UTF-8, no control
 * characters) or json (one JSON object), not both. */
struct hal_view {
	const char *title; /* NULL or "" for none */
	const char *lines[HAL_VIEW_LINES_MAX];
	size_t n_lines;
	const char *json; /* NULL unless this is a JSON view */
};

/* A view as a recording backend kept it. */
struct hal_frame {
	uint64_t seq;	 /* 1, 2, 3 ... per display */
	int64_t time_ms; /* wall clock when shown */
	bool cleared;	 /* hal_display_clear(), not a view */
	char title[HAL_VIEW_TEXT_MAX + 1];
	size_t n_lines;
	char lines[HAL_VIEW_LINES_MAX][HAL_VIEW_TEXT_MAX + 1];
	char json[HAL_VIEW_JSON_MAX + 1]; /* "" unless a JSON view */
};

#define HAL_DISPLAY_CAP_RECORD (1u << 0) /* hal_display_frame / _save work */

struct hal_display; /* opaque */

/* Open a display by backend name ("sim") with "key=value,..." options.
 * clock NULL = system clock (borrowed). On success *out is the caller's. */
int hal_display_open(const char *backend, const char *options, const struct rg_clock *clock,
		     struct hal_display **out);
void hal_display_close(struct hal_display *d);

/* Show a view. RG_ERR_INVAL (both json and lines, or neither set),
 * RG_ERR_RANGE (too many lines), RG_ERR_TOOBIG (a text over its cap),
 * RG_ERR_PARSE (not UTF-8, control characters, json not an object). */
int hal_display_show(struct hal_display *d, const struct hal_view *v);
/* Blank the screen. RG_ERR_NOSYS if the backend cannot. */
int hal_display_clear(struct hal_display *d);

/* Recording backends only (else RG_ERR_NOSYS): the frame shown `age` frames
 * ago (0 = the newest), RG_ERR_NOTFOUND if not (or no longer) recorded. */
int hal_display_frame(struct hal_display *d, size_t age, struct hal_frame *out);
/* Write the recorded frames, oldest first, one JSON object per line, to path
 * (replaced atomically). RG_ERR_NOSYS if the backend does not record. */
int hal_display_save(struct hal_display *d, const char *path);

const char *hal_display_backend(const struct hal_display *d);
unsigned hal_display_caps(const struct hal_display *d);
const char *hal_display_backend_name(size_t i);

#ifdef __cplusplus
}
#endif

#endif
