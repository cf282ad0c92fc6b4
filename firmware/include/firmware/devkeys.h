/*
 * devkeys.h - the three secrets the device daemon reads from its keystore
 * (docs/device-config.md, "Keys in the keystore"): store.key seals profile
 * and outbox bodies, tenant.key tokenises identifiers, totp.key seals wallet
 * TOTP secrets. Keys are held only in struct devkeys; wipe it when done.
 * Messages never contain key bytes.
 */
#ifndef FIRMWARE_DEVKEYS_H
#define FIRMWARE_DEVKEYS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "firmware/devconfig.h"

#ifdef __cplusplus
extern "C" {
#endif

#define DEVKEYS_STORE_KEY "store.key"
#define DEVKEYS_TENANT_KEY "tenant.key"
#define DEVKEYS_TOTP_KEY "totp.key"

struct hal_keystore;

struct devkeys {
	uint8_t store_key[32];
	uint8_t tenant_key[64];
	size_t tenant_key_len; /* 16..64 */
	uint8_t totp_key[32];
};

/* Open the keystore named in cfg (hal_keystore_open), read store.key /
 * tenant.key / totp.key. tenant.key missing: RG_ERR_MISSING "tenant.key is
 * not provisioned (regularsctl device provision)", and nothing is written.
 * When db_is_new, a missing store.key / totp.key is generated (rg_random) and
 * durably put. When the database already exists, a missing store.key or
 * totp.key fails with RG_ERR_VERIFY (what they sealed cannot be read any
 * more; starting empty would silently lose the outbox), and nothing is
 * written. A key of the wrong length: RG_ERR_RANGE. Keystore errors
 * (RG_ERR_PERM for a directory or file open to others, RG_ERR_IO, ...) pass
 * through. err gets one line naming the key. On failure *out is wiped. */
int devkeys_load(const struct devcfg *cfg, bool db_is_new, struct devkeys *out, char *err,
		 size_t errcap);
/* The same on a keystore the caller opened (and still owns): for tests and
 * tools that hold a keystore open, e.g. the memory-only `sim` backend. */
int devkeys_load_from(struct hal_keystore *ks, bool db_is_new, struct devkeys *out, char *err,
		      size_t errcap);
/* Put a tenant key (16..64 bytes, else RG_ERR_RANGE) into cfg's keystore,
 * replacing any earlier one (for `regularsctl device provision`). */
int devkeys_provision_tenant(const struct devcfg *cfg, const uint8_t *key, size_t len, char *err,
			     size_t errcap);
void devkeys_wipe(struct devkeys *k);

#ifdef __cplusplus
}
#endif

#endif
