/*
 * keystore_impl.h - what a keystore backend implements (private to hal/).
 * Names and value sizes reach a backend already validated by keystore.c.
 * Ops tables carry a version and only ever grow.
 */
#ifndef HAL_KEYSTORE_IMPL_H
#define HAL_KEYSTORE_IMPL_H

#include "hal/keystore.h"

#include "../core/opts.h"

#define HAL_KEYSTORE_OPS_VERSION 1

struct hal_keystore;

struct hal_keystore_ops {
	int version;
	const char *name;
	const char *const *options;
	int (*open)(struct hal_keystore *ks, const struct hal__opts *o); /* required */
	void (*close)(struct hal_keystore *ks);				 /* required */
	int (*get)(struct hal_keystore *ks, const char *name, uint8_t *buf, size_t cap);
	int (*put)(struct hal_keystore *ks, const char *name, const void *v, size_t len);
	int (*remove)(struct hal_keystore *ks, const char *name); /* optional */
};

struct hal_keystore {
	const struct hal_keystore_ops *ops;
	void *priv;
};

extern const struct hal_keystore_ops hal__keystore_file_ops;
extern const struct hal_keystore_ops hal__keystore_sim_ops;

#endif
