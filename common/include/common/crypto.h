/*
 * crypto.h - the cryptography Regulars uses, on mbedTLS 2.28: randomness,
 * SHA-256, HMAC-SHA256 identifier tokenisation, AES-256-GCM sealing with
 * associated data, ECDSA P-256 keys and signatures, constant-time compare.
 *
 * Randomness comes through struct rg_rand so tests can make it deterministic;
 * rg_rand_system() reads the kernel CSPRNG (getrandom) and is thread-safe.
 * Output buffers are caller-owned; on failure their contents are unspecified
 * and must not be used. Keys (struct rg_ec_key) are owned by the caller of
 * the function that returned them and freed with rg_ec_key_free().
 */
#ifndef COMMON_CRYPTO_H
#define COMMON_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- randomness ---- */
struct rg_rand {
	/* Fill buf with n random bytes. Returns 0 or a negative rg_err. */
	int (*fill)(void *priv, void *buf, size_t n);
	void *priv;
};

/* The kernel CSPRNG. Never NULL. */
const struct rg_rand *rg_rand_system(void);

static inline int rg_rand_fill(const struct rg_rand *r, void *buf, size_t n)
{
	return r->fill(r->priv, buf, n);
}

/* Shorthand for rg_rand_fill(rg_rand_system(), ...). */
int rg_random(void *buf, size_t n);

/* ---- hashing ---- */
#define RG_SHA256_LEN 32

int rg_sha256(const void *data, size_t len, uint8_t out[RG_SHA256_LEN]);
int rg_hmac_sha256(const void *key, size_t keylen, const void *data, size_t len,
		   uint8_t out[RG_SHA256_LEN]);

/* Identifier token = HMAC-SHA256(key, type || 0x00 || canonical).
 * type is a NUL-free ASCII word ("loyalty", "nfc_uid", ...); canonical is
 * the canonical value's bytes. key is the tenant identifier key (>= 16 bytes). */
#define RG_TOKEN_LEN 32
#define RG_TOKEN_HEX_LEN 64
int rg_token(const void *key, size_t keylen, const char *type, const void *canonical,
	     size_t canonical_len, uint8_t out[RG_TOKEN_LEN]);

/* ---- AES-GCM ---- */
#define RG_AEAD_KEY_LEN 32
#define RG_AEAD_NONCE_LEN 12
#define RG_AEAD_TAG_LEN 16
#define RG_AEAD_OVERHEAD (RG_AEAD_NONCE_LEN + RG_AEAD_TAG_LEN)

/* Seal pt under a 256-bit key with a fresh random 96-bit nonce.
 * Writes nonce || ciphertext || tag (ptlen + RG_AEAD_OVERHEAD bytes) to out.
 * Returns the number of bytes written, RG_ERR_TOOBIG if outcap is short. */
int rg_aead_seal(const uint8_t key[RG_AEAD_KEY_LEN], const void *aad, size_t aadlen,
		 const void *pt, size_t ptlen, uint8_t *out, size_t outcap,
		 const struct rg_rand *rng);

/* Open what rg_aead_seal wrote. Returns the plaintext length, RG_ERR_VERIFY
 * if the key, aad, nonce, ciphertext or tag do not match (out is then zeroed). */
int rg_aead_open(const uint8_t key[RG_AEAD_KEY_LEN], const void *aad, size_t aadlen,
		 const uint8_t *in, size_t inlen, uint8_t *out, size_t outcap);

/* Raw AES-GCM with an explicit IV and a 128/192/256-bit key, for known-answer
 * tests and interop. tag_len 4..16. Decrypt returns RG_ERR_VERIFY on a bad tag. */
int rg_aes_gcm_encrypt(const uint8_t *key, size_t keylen, const uint8_t *iv, size_t ivlen,
		       const void *aad, size_t aadlen, const void *pt, size_t len,
		       uint8_t *ct, uint8_t *tag, size_t tag_len);
int rg_aes_gcm_decrypt(const uint8_t *key, size_t keylen, const uint8_t *iv, size_t ivlen,
		       const void *aad, size_t aadlen, const void *ct, size_t len,
		       const uint8_t *tag, size_t tag_len, uint8_t *pt);

/* ---- ECDSA P-256 (signatures over SHA-256 of the message) ---- */
struct rg_ec_key; /* opaque */

#define RG_EC_PUB_RAW_LEN 65 /* 0x04 || X || Y */
#define RG_ECDSA_RAW_LEN 64  /* r || s, 32 bytes each */
#define RG_ECDSA_DER_MAX 72

int rg_ec_key_generate(struct rg_ec_key **out, const struct rg_rand *rng);
/* PEM or DER; a private key (SEC1 or PKCS#8) or a public key (SPKI). */
int rg_ec_key_parse(struct rg_ec_key **out, const void *data, size_t len);
int rg_ec_key_load_file(struct rg_ec_key **out, const char *path);
int rg_ec_key_from_public_raw(struct rg_ec_key **out, const uint8_t raw[RG_EC_PUB_RAW_LEN]);
void rg_ec_key_free(struct rg_ec_key *key);

int rg_ec_key_has_private(const struct rg_ec_key *key);
/* PEM text, NUL-terminated. Returns the length written (excluding NUL). */
int rg_ec_key_write_private_pem(const struct rg_ec_key *key, char *buf, size_t cap);
int rg_ec_key_write_public_pem(const struct rg_ec_key *key, char *buf, size_t cap);
int rg_ec_key_public_raw(const struct rg_ec_key *key, uint8_t out[RG_EC_PUB_RAW_LEN]);
/* SHA-256 of the raw public key: a stable key id. */
int rg_ec_key_id(const struct rg_ec_key *key, uint8_t out[RG_SHA256_LEN]);

/* DER signature; returns its length. */
int rg_ecdsa_sign(const struct rg_ec_key *key, const void *msg, size_t len, uint8_t *sig,
		  size_t cap, const struct rg_rand *rng);
/* 0 if valid, RG_ERR_VERIFY if not (including malformed signatures). */
int rg_ecdsa_verify(const struct rg_ec_key *key, const void *msg, size_t len,
		    const uint8_t *sig, size_t siglen);
/* Fixed-size r||s form, for compact tokens. */
int rg_ecdsa_sign_raw(const struct rg_ec_key *key, const void *msg, size_t len,
		      uint8_t sig[RG_ECDSA_RAW_LEN], const struct rg_rand *rng);
int rg_ecdsa_verify_raw(const struct rg_ec_key *key, const void *msg, size_t len,
			const uint8_t sig[RG_ECDSA_RAW_LEN]);

/* 1 if the n bytes are equal, else 0; time depends only on n. */
int rg_ct_equal(const void *a, const void *b, size_t n);

/* Overwrite memory in a way the compiler will not elide. */
void rg_wipe(void *p, size_t n);

#ifdef __cplusplus
}
#endif

#endif
