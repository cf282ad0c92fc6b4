/*
 * display_impl.h - what a display backend implements (private to hal/).
 * Views reach a backend already validated by display.c. Ops tables carry a
 * version and only ever grow.
 */
#ifndef HAL_DISPLAY_IMPL_H
#define HAL_DISPLAY_IMPL_H

#include "hal/display.h"

#include "../core/opts.h"

#define HAL_DISPLAY_OPS_VERSION 1

struct hal_display;

struct hal_display_ops {
	int version;
	const char *name;
	unsigned caps; /* HAL_DISPLAY_CAP_* */
	const char *const *options;
	int (*open)(struct hal_display *d, const struct hal__opts *o);		/* required */
	void (*close)(struct hal_display *d);					/* required */
	int (*show)(struct hal_display *d, const struct hal_view *v);		/* required */
	int (*clear)(struct hal_display *d);					/* optional */
	int (*frame)(struct hal_display *d, size_t age, struct hal_frame *out); /* optional */
	int (*save)(struct hal_display *d, const char *path);			/* optional */
};

struct hal_display {
	const struct hal_display_ops *ops;
	void *priv;
	const struct rg_clock *clock;
};

extern const struct hal_display_ops hal__display_sim_ops;

#endif
