/*
 * crypto.c - randomness, SHA-256, HMAC-SHA256 tokens and AES-GCM on mbedTLS
 * 2.28 (the *_ret API names). ECDSA lives in ec.c. Every function here
 * wipes its stack secrets before returning.
 */
#include "common/crypto.h"

#include <errno.h>
#include <string.h>
#include <sys/random.h>

#include <mbedtls/gcm.h>
#include <mbedtls/md.h>
#include <mbedtls/sha256.h>

#include "common/err.h"

static int sys_fill(void *priv, void *buf, size_t n)
{
	uint8_t *p = buf;
	(void)priv;
	while (n) {
		ssize_t r = getrandom(p, n, 0);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return RG_ERR_IO;
		}
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

static const struct rg_rand sys_rand = {sys_fill, NULL};

const struct rg_rand *rg_rand_system(void)
{
	return &sys_rand;
}

int rg_random(void *buf, size_t n)
{
	return sys_fill(NULL, buf, n);
}

int rg_sha256(const void *data, size_t len, uint8_t out[RG_SHA256_LEN])
{
	if (!data && len)
		return RG_ERR_INVAL;
	return mbedtls_sha256_ret(data, len, out, 0) ? RG_ERR_CRYPTO : 0;
}

int rg_hmac_sha256(const void *key, size_t keylen, const void *data, size_t len,
		   uint8_t out[RG_SHA256_LEN])
{
	const mbedtls_md_info_t *md = mbedtls_md_info_from_type(MBEDTLS_MD_SHA256);
	if ((!key && keylen) || (!data && len))
		return RG_ERR_INVAL;
	return mbedtls_md_hmac(md, key, keylen, data, len, out) ? RG_ERR_CRYPTO : 0;
}

int rg_token(const void *key, size_t keylen, const char *type, const void *canonical,
	     size_t canonical_len, uint8_t out[RG_TOKEN_LEN])
{
	mbedtls_md_context_t ctx;
	static const uint8_t sep = 0;
	int rc;

	if (!key || keylen < 16 || !type || !*type || (!canonical && canonical_len))
		return RG_ERR_INVAL;
	mbedtls_md_init(&ctx);
	rc = mbedtls_md_setup(&ctx, mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), 1);
	if (!rc)
		rc = mbedtls_md_hmac_starts(&ctx, key, keylen);
	if (!rc)
		rc = mbedtls_md_hmac_update(&ctx, (const uint8_t *)type, strlen(type));
	if (!rc)
		rc = mbedtls_md_hmac_update(&ctx, &sep, 1);
	if (!rc)
		rc = mbedtls_md_hmac_update(&ctx, canonical, canonical_len);
	if (!rc)
		rc = mbedtls_md_hmac_finish(&ctx, out);
	mbedtls_md_free(&ctx);
	return rc ? RG_ERR_CRYPTO : 0;
}

static int gcm_run(int decrypt, const uint8_t *key, size_t keylen, const uint8_t *iv,
		   size_t ivlen, const void *aad, size_t aadlen, const void *in, size_t len,
		   uint8_t *out, uint8_t *tag, size_t tag_len)
{
	mbedtls_gcm_context gcm;
	int rc;

	if (!key || (keylen != 16 && keylen != 24 && keylen != 32) || !iv || !ivlen ||
	    (!aad && aadlen) || (len && (!in || !out)) || !tag || tag_len < 4 || tag_len > 16)
		return RG_ERR_INVAL;
	mbedtls_gcm_init(&gcm);
	rc = mbedtls_gcm_setkey(&gcm, MBEDTLS_CIPHER_ID_AES, key, (unsigned)keylen * 8);
	if (!rc) {
		if (decrypt)
			rc = mbedtls_gcm_auth_decrypt(&gcm, len, iv, ivlen, aad, aadlen, tag,
						      tag_len, in, out);
		else
			rc = mbedtls_gcm_crypt_and_tag(&gcm, MBEDTLS_GCM_ENCRYPT, len, iv, ivlen,
						       aad, aadlen, in, out, tag_len, tag);
	}
	mbedtls_gcm_free(&gcm);
	if (rc == MBEDTLS_ERR_GCM_AUTH_FAILED) {
		if (len)
			rg_wipe(out, len);
		return RG_ERR_VERIFY;
	}
	return rc ? RG_ERR_CRYPTO : 0;
}

int rg_aes_gcm_encrypt(const uint8_t *key, size_t keylen, const uint8_t *iv, size_t ivlen,
		       const void *aad, size_t aadlen, const void *pt, size_t len, uint8_t *ct,
		       uint8_t *tag, size_t tag_len)
{
	return gcm_run(0, key, keylen, iv, ivlen, aad, aadlen, pt, len, ct, tag, tag_len);
}

int rg_aes_gcm_decrypt(const uint8_t *key, size_t keylen, const uint8_t *iv, size_t ivlen,
		       const void *aad, size_t aadlen, const void *ct, size_t len,
		       const uint8_t *tag, size_t tag_len, uint8_t *pt)
{
	return gcm_run(1, key, keylen, iv, ivlen, aad, aadlen, ct, len, pt, (uint8_t *)tag,
		       tag_len);
}

int rg_aead_seal(const uint8_t key[RG_AEAD_KEY_LEN], const void *aad, size_t aadlen,
		 const void *pt, size_t ptlen, uint8_t *out, size_t outcap,
		 const struct rg_rand *rng)
{
	int rc;
	if (!out || ptlen > (size_t)INT32_MAX - RG_AEAD_OVERHEAD)
		return RG_ERR_INVAL;
	if (outcap < ptlen + RG_AEAD_OVERHEAD)
		return RG_ERR_TOOBIG;
	if (!rng)
		rng = rg_rand_system();
	rc = rg_rand_fill(rng, out, RG_AEAD_NONCE_LEN);
	if (rc < 0)
		return rc;
	rc = gcm_run(0, key, RG_AEAD_KEY_LEN, out, RG_AEAD_NONCE_LEN, aad, aadlen, pt, ptlen,
		     out + RG_AEAD_NONCE_LEN, out + RG_AEAD_NONCE_LEN + ptlen, RG_AEAD_TAG_LEN);
	return rc < 0 ? rc : (int)(ptlen + RG_AEAD_OVERHEAD);
}

int rg_aead_open(const uint8_t key[RG_AEAD_KEY_LEN], const void *aad, size_t aadlen,
		 const uint8_t *in, size_t inlen, uint8_t *out, size_t outcap)
{
	size_t ptlen;
	int rc;
	if (!in || inlen < RG_AEAD_OVERHEAD)
		return RG_ERR_VERIFY;
	ptlen = inlen - RG_AEAD_OVERHEAD;
	if (ptlen > (size_t)INT32_MAX)
		return RG_ERR_TOOBIG;
	if (outcap < ptlen)
		return RG_ERR_TOOBIG;
	rc = gcm_run(1, key, RG_AEAD_KEY_LEN, in, RG_AEAD_NONCE_LEN, aad, aadlen,
		     in + RG_AEAD_NONCE_LEN, ptlen, out, (uint8_t *)in + RG_AEAD_NONCE_LEN + ptlen,
		     RG_AEAD_TAG_LEN);
	return rc < 0 ? rc : (int)ptlen;
}

int rg_ct_equal(const void *a, const void *b, size_t n)
{
	const volatile uint8_t *x = a, *y = b;
	uint8_t d = 0;
	for (size_t i = 0; i < n; i++)
		d |= x[i] ^ y[i];
	return d == 0;
}

void rg_wipe(void *p, size_t n)
{
	volatile uint8_t *v = p;
	while (n--)
		*v++ = 0;
}
