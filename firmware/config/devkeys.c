/*
 * devkeys.c - reading (and, with a new database, generating) the device's
 * three keystore secrets. Every check runs before anything is written, so a
 * refused start leaves the keystore as it was. Key bytes never reach err or
 * a log line; stack copies are wiped.
 */
#include "firmware/devkeys.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common/crypto.h"
#include "common/err.h"
#include "common/ident.h"
#include "common/log.h"
#include "hal/keystore.h"

#define COMP "devkeys"
#define SEAL_KEY_LEN 32

static int fail(int rc, char *err, size_t errcap, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fail(int rc, char *err, size_t errcap, const char *fmt, ...)
{
	if (err && errcap) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, errcap, fmt, ap);
		va_end(ap);
	}
	return rc;
}

static const char *why(int rc)
{
	if (rc == RG_ERR_PERM)
		return "permission denied (key files must be 0600 and ours, the directory 0700)";
	return rg_strerror(rc);
}

/* Read a secret of exactly len bytes: 1 found, 0 absent, < 0 error. */
static int get_exact(struct hal_keystore *ks, const char *name, uint8_t *out, size_t len, char *err,
		     size_t errcap)
{
	uint8_t buf[SEAL_KEY_LEN + 1];
	int n = hal_keystore_get(ks, name, buf, sizeof buf);

	if (n == RG_ERR_NOTFOUND)
		return 0;
	if (n == RG_ERR_TOOBIG)
		return fail(RG_ERR_RANGE, err, errcap, "%s is longer than %zu bytes", name, len);
	if (n < 0)
		return fail(n, err, errcap, "%s: cannot read: %s", name, why(n));
	if ((size_t)n != len) {
		rg_wipe(buf, sizeof buf);
		return fail(RG_ERR_RANGE, err, errcap, "%s has %d bytes, needs %zu", name, n, len);
	}
	memcpy(out, buf, len);
	rg_wipe(buf, sizeof buf);
	return 1;
}

/* Generate a key, put it, and read it back (the put is durable by contract). */
static int generate(struct hal_keystore *ks, const char *name, uint8_t *out, size_t len, char *err,
		    size_t errcap)
{
	uint8_t back[SEAL_KEY_LEN];
	int rc;

	if ((rc = rg_random(out, len)) < 0)
		return fail(rc, err, errcap, "%s: no randomness: %s", name, rg_strerror(rc));
	if ((rc = hal_keystore_put(ks, name, out, len)) < 0)
		return fail(rc, err, errcap, "%s: cannot store the new key: %s", name, why(rc));
	rc = hal_keystore_get(ks, name, back, sizeof back);
	if (rc != (int)len || !rg_ct_equal(back, out, len))
		rc = fail(rc < 0 ? rc : RG_ERR_IO, err, errcap,
			  "%s: the stored key does not read back", name);
	else
		rc = 0;
	rg_wipe(back, sizeof back);
	if (rc == 0)
		rg_info(COMP, "key_generated", "name=%s backend=%s", name,
			hal_keystore_backend(ks));
	return rc;
}

int devkeys_load_from(struct hal_keystore *ks, bool db_is_new, struct devkeys *out, char *err,
		      size_t errcap)
{
	int have_store, have_totp, n;

	if (err && errcap)
		err[0] = '\0';
	if (!out)
		return RG_ERR_INVAL;
	devkeys_wipe(out);
	if (!ks)
		return RG_ERR_INVAL;

	n = hal_keystore_get(ks, DEVKEYS_TENANT_KEY, out->tenant_key, sizeof out->tenant_key);
	if (n == RG_ERR_NOTFOUND)
		return fail(RG_ERR_MISSING, err, errcap,
			    "tenant.key is not provisioned (regularsctl device provision)");
	if (n == RG_ERR_TOOBIG)
		n = fail(RG_ERR_RANGE, err, errcap, "tenant.key is longer than %d bytes",
			 IDENT_TENANT_KEY_MAX);
	else if (n < 0)
		n = fail(n, err, errcap, "tenant.key: cannot read: %s", why(n));
	else if (n < IDENT_TENANT_KEY_MIN)
		n = fail(RG_ERR_RANGE, err, errcap, "tenant.key has %d bytes, needs %d..%d", n,
			 IDENT_TENANT_KEY_MIN, IDENT_TENANT_KEY_MAX);
	if (n < 0)
		goto fail;
	out->tenant_key_len = (size_t)n;

	if ((have_store = n =
		 get_exact(ks, DEVKEYS_STORE_KEY, out->store_key, SEAL_KEY_LEN, err, errcap)) < 0 ||
	    (have_totp = n =
		 get_exact(ks, DEVKEYS_TOTP_KEY, out->totp_key, SEAL_KEY_LEN, err, errcap)) < 0)
		goto fail;
	if (!db_is_new && !have_store) {
		n = fail(
		    RG_ERR_VERIFY, err, errcap,
		    "store.key is gone from the keystore but the database exists: its profiles "
		    "and outbox cannot be read without it (restore the key; refusing to start "
		    "empty)");
		goto fail;
	}
	if (!db_is_new && !have_totp) {
		n = fail(RG_ERR_VERIFY, err, errcap,
			 "totp.key is gone from the keystore but the database exists: the wallet "
			 "secrets it sealed cannot be read without it (restore the key)");
		goto fail;
	}
	if ((!have_store && (n = generate(ks, DEVKEYS_STORE_KEY, out->store_key, SEAL_KEY_LEN, err,
					  errcap)) < 0) ||
	    (!have_totp &&
	     (n = generate(ks, DEVKEYS_TOTP_KEY, out->totp_key, SEAL_KEY_LEN, err, errcap)) < 0))
		goto fail;
	return 0;
fail:
	devkeys_wipe(out);
	return n;
}

static int open_ks(const struct devcfg *cfg, struct hal_keystore **ks, char *err, size_t errcap)
{
	int rc = hal_keystore_open(cfg->keystore.backend, cfg->keystore.options, ks);
	if (rc < 0)
		return fail(rc, err, errcap, "keystore %s (%s): cannot open: %s",
			    cfg->keystore.backend, cfg->keystore.options, why(rc));
	return 0;
}

int devkeys_load(const struct devcfg *cfg, bool db_is_new, struct devkeys *out, char *err,
		 size_t errcap)
{
	struct hal_keystore *ks;
	int rc;

	if (err && errcap)
		err[0] = '\0';
	if (!out)
		return RG_ERR_INVAL;
	devkeys_wipe(out);
	if (!cfg)
		return RG_ERR_INVAL;
	if ((rc = open_ks(cfg, &ks, err, errcap)) < 0)
		return rc;
	rc = devkeys_load_from(ks, db_is_new, out, err, errcap);
	hal_keystore_close(ks);
	return rc;
}

int devkeys_provision_tenant(const struct devcfg *cfg, const uint8_t *key, size_t len, char *err,
			     size_t errcap)
{
	struct hal_keystore *ks;
	int rc;

	if (err && errcap)
		err[0] = '\0';
	if (!cfg || !key)
		return RG_ERR_INVAL;
	if (len < IDENT_TENANT_KEY_MIN || len > IDENT_TENANT_KEY_MAX)
		return fail(RG_ERR_RANGE, err, errcap, "a tenant key has %d..%d bytes, not %zu",
			    IDENT_TENANT_KEY_MIN, IDENT_TENANT_KEY_MAX, len);
	if ((rc = open_ks(cfg, &ks, err, errcap)) < 0)
		return rc;
	rc = hal_keystore_put(ks, DEVKEYS_TENANT_KEY, key, len);
	if (rc < 0)
		fail(rc, err, errcap, "tenant.key: cannot store: %s", why(rc));
	else
		rg_info(COMP, "tenant_key_provisioned", "backend=%s bytes=%zu",
			hal_keystore_backend(ks), len);
	hal_keystore_close(ks);
	return rc < 0 ? rc : 0;
}

void devkeys_wipe(struct devkeys *k)
{
	if (k)
		rg_wipe(k, sizeof *k);
}
