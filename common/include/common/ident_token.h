/*
 * ident_token.h - app tokens: the rotating QR a customer's app shows.
 * "RGT1." + base64url(body || ECDSA P-256 r||s over body); the body carries
 * version, key id, customer reference, issued-at, expiry and a nonce (byte
 * format: docs/app-token.md). Issue with a private key; verify offline
 * against a keyring of public keys, a policy (skew, max lifetime) and a
 * replay store that remembers nonces until their token has expired.
 */
#ifndef COMMON_IDENT_TOKEN_H
#define COMMON_IDENT_TOKEN_H

#include <stddef.h>
#include <stdint.h>

#include "common/codec.h"
#include "common/crypto.h"
#include "common/ident.h"

#ifdef __cplusplus
extern "C" {
#endif

#define IDENT_TOKEN_PREFIX "RGT1."
#define IDENT_TOKEN_PREFIX_LEN 5
#define IDENT_TOKEN_VERSION 1
#define IDENT_TOKEN_KID_LEN 8
#define IDENT_TOKEN_NONCE_LEN 16
/* body = version(1) kid(8) ref_len(1) ref(1..64) iat(8) exp(8) nonce(16) */
#define IDENT_TOKEN_BODY_FIXED (1 + IDENT_TOKEN_KID_LEN + 1 + 8 + 8 + IDENT_TOKEN_NONCE_LEN)
#define IDENT_TOKEN_BODY_MAX (IDENT_TOKEN_BODY_FIXED + IDENT_REF_MAX)
#define IDENT_TOKEN_BIN_MAX (IDENT_TOKEN_BODY_MAX + RG_ECDSA_RAW_LEN)
/* longest token text, without NUL (232) */
#define IDENT_TOKEN_TEXT_MAX (IDENT_TOKEN_PREFIX_LEN + RG_B64URL_LEN(IDENT_TOKEN_BIN_MAX))
/* issued-at and expiry are unix seconds in [0, IDENT_TOKEN_TIME_MAX] */
#define IDENT_TOKEN_TIME_MAX INT64_C(253402300799) /* 9999-12-31T23:59:59Z */
#define IDENT_TOKEN_SKEW_DEFAULT 60
#define IDENT_TOKEN_LIFETIME_DEFAULT 600

struct ident_token_claims {
	uint8_t kid[IDENT_TOKEN_KID_LEN];
	char ref[IDENT_REF_MAX + 1]; /* [A-Za-z0-9._-], NUL-terminated */
	size_t ref_len;
	int64_t iat; /* issued-at = not-before, unix s */
	int64_t exp; /* expiry, unix s: valid while now < exp (+ skew) */
	uint8_t nonce[IDENT_TOKEN_NONCE_LEN];
};

/* 1 if ref is a valid customer reference (1..IDENT_REF_MAX of [A-Za-z0-9._-]). */
int ident_ref_valid(const char *ref, size_t len);

/* Key id: the first 8 bytes of SHA-256(0x04 || X || Y). */
int ident_token_kid(const struct rg_ec_key *key, uint8_t kid[IDENT_TOKEN_KID_LEN]);

/* Make a token: a fresh nonce from rng, signed with key (which must hold a
 * private key). Requires 0 <= iat < exp <= IDENT_TOKEN_TIME_MAX and a valid
 * ref. Writes NUL-terminated text; cap >= IDENT_TOKEN_TEXT_MAX + 1. Returns
 * the text length, RG_ERR_INVAL, RG_ERR_STATE (public key only), RG_ERR_CRYPTO. */
int ident_token_issue(const struct rg_ec_key *key, const char *ref, int64_t iat, int64_t exp,
		      const struct rg_rand *rng, char *out, size_t cap);

/* Decode the structure only (no signature, time or replay check): for tools
 * that show what a token claims. Returns 0 with *why = OK (claims filled) or
 * token_malformed (also when longer than IDENT_TOKEN_TEXT_MAX) or
 * token_bad_version. */
int ident_token_decode(const char *text, size_t len, struct ident_token_claims *claims,
		       enum ident_reason *why);

/* ---- keyring: the tenant's app-signing public keys ---- */
struct ident_keyring {
	size_t n;
	struct ident_keyring_entry {
		uint8_t kid[IDENT_TOKEN_KID_LEN];
		struct rg_ec_key *key; /* owned by the keyring */
	} keys[IDENT_APP_KEYS_MAX];
};

void ident_keyring_init(struct ident_keyring *kr);
/* Add a public key (raw 0x04||X||Y, or the public half of key). RG_ERR_TOOBIG
 * when full, RG_ERR_EXISTS for a key id already present, RG_ERR_PARSE for a
 * point not on the curve. */
int ident_keyring_add_raw(struct ident_keyring *kr, const uint8_t raw[RG_EC_PUB_RAW_LEN]);
int ident_keyring_add(struct ident_keyring *kr, const struct rg_ec_key *key);
/* Frees the keys; the keyring is empty (and reusable) afterwards. */
void ident_keyring_clear(struct ident_keyring *kr);

/* ---- replay store seam (the device backs it with SQLite) ---- */
struct ident_replay_ops {
	int version; /* 1 */
	/* Atomically: if nonce is remembered return 1 (a replay); else remember
	 * it until forget_at_s and return 0. Nonces whose forget_at_s <= now_s
	 * may be forgotten; others must not be. <0: an rg_err (RG_ERR_TOOBIG when
	 * full of nonces it may not forget yet; RG_ERR_DB, ...). */
	int (*check_add)(void *priv, const uint8_t nonce[IDENT_TOKEN_NONCE_LEN],
			 int64_t forget_at_s, int64_t now_s);
};

struct ident_replay_store {
	const struct ident_replay_ops *ops;
	void *priv;
};

/* An in-memory store of at most capacity (1..65536) live nonces. On
 * success *out is owned by the caller (ident_replay_mem_free). */
int ident_replay_mem_new(size_t capacity, struct ident_replay_store **out);
void ident_replay_mem_free(struct ident_replay_store *s);
/* Nonces currently remembered (after dropping those forgettable at now_s);
 * only for a store made by ident_replay_mem_new. */
size_t ident_replay_mem_count(struct ident_replay_store *s, int64_t now_s);

/* ---- verification ---- */
struct ident_token_policy {
	int64_t skew_s;		/* accepted from iat - skew until exp + skew */
	int64_t max_lifetime_s; /* exp - iat above this: token_lifetime_too_long */
};

/* Verify a token at now_s: structure, key id in kr, signature, lifetime,
 * not-before, expiry, then (when replay is not NULL) the nonce, remembered
 * until exp + skew. Returns 0 with *why = OK (claims filled) or the refusal
 * (claims zeroed); < 0 only when a check could not run (RG_ERR_INVAL, a
 * replay store error). */
int ident_token_verify(const struct ident_keyring *kr, const struct ident_token_policy *pol,
		       struct ident_replay_store *replay, int64_t now_s, const char *text,
		       size_t len, struct ident_token_claims *claims, enum ident_reason *why);

#ifdef __cplusplus
}
#endif

#endif
