/*
 * indicator_impl.h - what an indicator backend implements (private to hal/).
 * Patterns reach a backend already range-checked. Ops tables carry a version
 * and only ever grow.
 */
#ifndef HAL_INDICATOR_IMPL_H
#define HAL_INDICATOR_IMPL_H

#include "hal/indicator.h"

#include "../core/opts.h"

#define HAL_INDICATOR_OPS_VERSION 1

struct hal_indicator;

struct hal_indicator_ops {
	int version;
	const char *name;
	unsigned caps; /* HAL_INDICATOR_CAP_* */
	const char *const *options;
	int (*open)(struct hal_indicator *ind, const struct hal__opts *o); /* required */
	void (*close)(struct hal_indicator *ind);			   /* required */
	int (*signal)(struct hal_indicator *ind, enum hal_pattern p);	   /* required */
	int (*events)(struct hal_indicator *ind, struct hal_indicator_event *out,
		      size_t cap); /* optional */
};

struct hal_indicator {
	const struct hal_indicator_ops *ops;
	void *priv;
	const struct rg_clock *clock;
};

extern const struct hal_indicator_ops hal__indicator_sim_ops;

#endif
