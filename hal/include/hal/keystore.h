/*
 * keystore.h - device secrets by name (the tenant identifier key, the
 * profile encryption key, ...). Backends: file (one 0600 file per secret in
 * a private directory, atomic replace) and sim (memory). Values are bytes;
 * callers own their buffers and should rg_wipe() them after use. Never log a
 * value. One thread at a time per keystore.
 */
#ifndef HAL_KEYSTORE_H
#define HAL_KEYSTORE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define HAL_KEY_NAME_MAX 64 /* [a-z0-9][a-z0-9_.-]*, without NUL */
#define HAL_KEY_VALUE_MAX 8192

struct hal_keystore; /* opaque */

/* Open by backend name ("file", "sim") with "key=value,..." options.
 * RG_ERR_PERM if the file backend's directory is open to others. */
int hal_keystore_open(const char *backend, const char *options, struct hal_keystore **out);
/* Frees the keystore; the sim backend wipes the values it held. */
void hal_keystore_close(struct hal_keystore *ks);

/* Copy the secret into buf and return its length. RG_ERR_NOTFOUND,
 * RG_ERR_TOOBIG (cap too small; buf untouched), RG_ERR_PERM (the key file is
 * readable or writable by others, or not ours), RG_ERR_INVAL (bad name),
 * RG_ERR_IO. */
int hal_keystore_get(struct hal_keystore *ks, const char *name, uint8_t *buf, size_t cap);
/* Create or replace a secret (1..HAL_KEY_VALUE_MAX bytes); after success the
 * new value survives a power loss, and a reader sees the old or the new value,
 * never a mix. */
int hal_keystore_put(struct hal_keystore *ks, const char *name, const void *value, size_t len);
/* RG_ERR_NOTFOUND if absent. */
int hal_keystore_remove(struct hal_keystore *ks, const char *name);

const char *hal_keystore_backend(const struct hal_keystore *ks);
const char *hal_keystore_backend_name(size_t i);

/* 1 if name is a valid secret name, else 0. */
int hal_keystore_name_valid(const char *name);

#ifdef __cplusplus
}
#endif

#endif
