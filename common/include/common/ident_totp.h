/*
 * ident_totp.h - wallet-style rotating barcodes on TOTP (RFC 6238, HMAC-SHA1
 * by default as wallet passes and oathtool use; SHA-256/512 optional). The
 * barcode is "<prefix><ref>:<code>" (default prefix "RGW1:"; docs/app-token.md).
 * Per-customer secrets live SEALED (AES-256-GCM, key from the device
 * keystore, bound to the reference) in a secret store seam that also keeps
 * the last accepted time step, so each code is accepted once.
 */
#ifndef COMMON_IDENT_TOTP_H
#define COMMON_IDENT_TOTP_H

#include <stddef.h>
#include <stdint.h>

#include "common/crypto.h"
#include "common/ident.h"

#ifdef __cplusplus
extern "C" {
#endif

#define IDENT_TOTP_PREFIX_DEFAULT "RGW1:"
#define IDENT_TOTP_SECRET_MIN 10 /* bytes (80 bits) */
#define IDENT_TOTP_SECRET_MAX 64
#define IDENT_TOTP_SEALED_MAX (IDENT_TOTP_SECRET_MAX + RG_AEAD_OVERHEAD)
#define IDENT_TOTP_NO_STEP INT64_MIN /* "no code accepted yet" */

/* HOTP (RFC 4226) value for counter, reduced to digits (6..8) decimal digits. */
int ident_hotp(enum ident_totp_alg alg, const uint8_t *secret, size_t len, uint64_t counter,
	       unsigned digits, uint32_t *code);
/* TOTP (RFC 6238, T0 = 0) at unix time t_s >= 0 with period_s. */
int ident_totp(enum ident_totp_alg alg, const uint8_t *secret, size_t len, int64_t t_s,
	       unsigned period_s, unsigned digits, uint32_t *code);

/* Write the barcode text "<prefix><ref>:<code zero-padded to digits>",
 * NUL-terminated. Returns its length, RG_ERR_INVAL, RG_ERR_TOOBIG. */
int ident_totp_barcode(const char *prefix, const char *ref, uint32_t code, unsigned digits,
		       char *out, size_t cap);

/* ---- secret store seam (the device backs it with SQLite) ---- */
struct ident_secret_ops {
	int version; /* 1 */
	/* Copy ref's sealed secret into buf, return its length; RG_ERR_NOTFOUND,
	 * RG_ERR_TOOBIG (cap too small). */
	int (*get)(void *priv, const char *ref, uint8_t *buf, size_t cap);
	/* Create or replace ref's sealed secret; its last step becomes
	 * IDENT_TOTP_NO_STEP. */
	int (*put)(void *priv, const char *ref, const uint8_t *sealed, size_t len);
	/* Atomically: if step is later than ref's last accepted step, record it
	 * and return 0; else return 1 (reuse). RG_ERR_NOTFOUND for an unknown ref. */
	int (*advance)(void *priv, const char *ref, int64_t step);
	/* Optional (NULL: RG_ERR_NOSYS): forget ref (erasure). RG_ERR_NOTFOUND. */
	int (*remove)(void *priv, const char *ref);
};

struct ident_secret_store {
	const struct ident_secret_ops *ops;
	void *priv;
};

/* An in-memory store of up to capacity (1..65536) customers. On success
 * *out is owned by the caller (ident_secret_mem_free, which wipes it). */
int ident_secret_mem_new(size_t capacity, struct ident_secret_store **out);
void ident_secret_mem_free(struct ident_secret_store *s);

/* Seal secret (IDENT_TOTP_SECRET_MIN..MAX bytes) for ref under seal_key and
 * put it into the store. RG_ERR_INVAL (bad ref or length), store errors. */
int ident_totp_enrol(struct ident_secret_store *s, const uint8_t seal_key[RG_AEAD_KEY_LEN],
		     const char *ref, const uint8_t *secret, size_t len, const struct rg_rand *rng);
/* Remove ref's secret (erasure). RG_ERR_NOTFOUND, RG_ERR_NOSYS. */
int ident_totp_forget(struct ident_secret_store *s, const char *ref);

#ifdef __cplusplus
}
#endif

#endif
