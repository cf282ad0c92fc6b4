/*
 * ec.c - ECDSA P-256 keys and signatures on mbedTLS 2.28 (pk + ecdsa).
 * A struct rg_ec_key wraps one mbedtls_pk_context holding a secp256r1 key;
 * keys on any other curve or of any other type are refused at parse time.
 * Signatures are over SHA-256 of the message, DER or fixed 64-byte r||s.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <mbedtls/asn1.h>
#include <mbedtls/base64.h>
#include <mbedtls/ecdsa.h>
#include <mbedtls/pk.h>

#include "common/crypto.h"
#include "common/err.h"

#define KEY_FILE_MAX (16 * 1024)

struct rg_ec_key {
	mbedtls_pk_context pk;
};

static int rng_adapter(void *p, unsigned char *buf, size_t n)
{
	const struct rg_rand *r = p ? p : rg_rand_system();
	return rg_rand_fill(r, buf, n) < 0 ? -1 : 0;
}

static struct rg_ec_key *key_new(void)
{
	struct rg_ec_key *k = calloc(1, sizeof *k);
	if (k)
		mbedtls_pk_init(&k->pk);
	return k;
}

void rg_ec_key_free(struct rg_ec_key *key)
{
	if (!key)
		return;
	mbedtls_pk_free(&key->pk);
	free(key);
}

static mbedtls_ecp_keypair *ec_of(const struct rg_ec_key *key)
{
	return mbedtls_pk_ec(key->pk);
}

int rg_ec_key_generate(struct rg_ec_key **out, const struct rg_rand *rng)
{
	struct rg_ec_key *k;
	*out = NULL;
	if (!(k = key_new()))
		return RG_ERR_NOMEM;
	if (mbedtls_pk_setup(&k->pk, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY)) ||
	    mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1, ec_of(k), rng_adapter, (void *)rng)) {
		rg_ec_key_free(k);
		return RG_ERR_CRYPTO;
	}
	*out = k;
	return 0;
}

static int check_p256(struct rg_ec_key *k)
{
	mbedtls_pk_type_t t = mbedtls_pk_get_type(&k->pk);
	if (t != MBEDTLS_PK_ECKEY && t != MBEDTLS_PK_ECDSA)
		return RG_ERR_UNSUPPORTED;
	if (ec_of(k)->grp.id != MBEDTLS_ECP_DP_SECP256R1)
		return RG_ERR_UNSUPPORTED;
	return 0;
}

int rg_ec_key_parse(struct rg_ec_key **out, const void *data, size_t len)
{
	struct rg_ec_key *k;
	unsigned char *buf;
	int rc;

	*out = NULL;
	if (!data || !len || len > KEY_FILE_MAX)
		return RG_ERR_INVAL;
	/* mbedTLS wants PEM NUL-terminated with the NUL counted in the length. */
	if (!(buf = malloc(len + 1)))
		return RG_ERR_NOMEM;
	memcpy(buf, data, len);
	buf[len] = '\0';
	size_t blen = strstr((const char *)buf, "-----BEGIN") ? len + 1 : len;
	if (!(k = key_new())) {
		free(buf);
		return RG_ERR_NOMEM;
	}
	rc = mbedtls_pk_parse_key(&k->pk, buf, blen, NULL, 0);
	if (rc) {
		mbedtls_pk_free(&k->pk);
		mbedtls_pk_init(&k->pk);
		rc = mbedtls_pk_parse_public_key(&k->pk, buf, blen);
	}
	rg_wipe(buf, len);
	free(buf);
	if (rc) {
		rg_ec_key_free(k);
		return RG_ERR_PARSE;
	}
	if ((rc = check_p256(k)) < 0) {
		rg_ec_key_free(k);
		return rc;
	}
	*out = k;
	return 0;
}

int rg_ec_key_load_file(struct rg_ec_key **out, const char *path)
{
	char buf[KEY_FILE_MAX];
	ssize_t n;
	size_t len = 0;
	int fd, rc;

	*out = NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? RG_ERR_NOTFOUND : errno == EACCES ? RG_ERR_PERM : RG_ERR_IO;
	while ((n = read(fd, buf + len, sizeof buf - len)) > 0)
		len += (size_t)n;
	close(fd);
	if (n < 0)
		return RG_ERR_IO;
	if (len == sizeof buf)
		return RG_ERR_TOOBIG;
	rc = rg_ec_key_parse(out, buf, len);
	rg_wipe(buf, len);
	return rc;
}

int rg_ec_key_from_public_raw(struct rg_ec_key **out, const uint8_t raw[RG_EC_PUB_RAW_LEN])
{
	struct rg_ec_key *k;
	mbedtls_ecp_keypair *ec;

	*out = NULL;
	if (!(k = key_new()))
		return RG_ERR_NOMEM;
	if (mbedtls_pk_setup(&k->pk, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY))) {
		rg_ec_key_free(k);
		return RG_ERR_CRYPTO;
	}
	ec = ec_of(k);
	if (mbedtls_ecp_group_load(&ec->grp, MBEDTLS_ECP_DP_SECP256R1) ||
	    mbedtls_ecp_point_read_binary(&ec->grp, &ec->Q, raw, RG_EC_PUB_RAW_LEN) ||
	    mbedtls_ecp_check_pubkey(&ec->grp, &ec->Q)) {
		rg_ec_key_free(k);
		return RG_ERR_PARSE;
	}
	*out = k;
	return 0;
}

int rg_ec_key_has_private(const struct rg_ec_key *key)
{
	return key && mbedtls_mpi_cmp_int(&ec_of(key)->d, 0) != 0;
}

static int write_pem(int priv, const struct rg_ec_key *key, char *buf, size_t cap)
{
	int rc;
	if (!key || !buf || !cap)
		return RG_ERR_INVAL;
	if (priv && !rg_ec_key_has_private(key))
		return RG_ERR_STATE;
	rc = priv ? mbedtls_pk_write_key_pem((mbedtls_pk_context *)&key->pk, (unsigned char *)buf,
					     cap)
		  : mbedtls_pk_write_pubkey_pem((mbedtls_pk_context *)&key->pk,
						(unsigned char *)buf, cap);
	if (rc)
		return rc == MBEDTLS_ERR_BASE64_BUFFER_TOO_SMALL ||
				       rc == MBEDTLS_ERR_ASN1_BUF_TOO_SMALL
			       ? RG_ERR_TOOBIG
			       : RG_ERR_CRYPTO;
	return (int)strnlen(buf, cap);
}

int rg_ec_key_write_private_pem(const struct rg_ec_key *key, char *buf, size_t cap)
{
	return write_pem(1, key, buf, cap);
}

int rg_ec_key_write_public_pem(const struct rg_ec_key *key, char *buf, size_t cap)
{
	return write_pem(0, key, buf, cap);
}

int rg_ec_key_public_raw(const struct rg_ec_key *key, uint8_t out[RG_EC_PUB_RAW_LEN])
{
	size_t olen = 0;
	mbedtls_ecp_keypair *ec;
	if (!key)
		return RG_ERR_INVAL;
	ec = ec_of(key);
	if (mbedtls_ecp_point_write_binary(&ec->grp, &ec->Q, MBEDTLS_ECP_PF_UNCOMPRESSED, &olen,
					   out, RG_EC_PUB_RAW_LEN) ||
	    olen != RG_EC_PUB_RAW_LEN)
		return RG_ERR_CRYPTO;
	return RG_EC_PUB_RAW_LEN;
}

int rg_ec_key_id(const struct rg_ec_key *key, uint8_t out[RG_SHA256_LEN])
{
	uint8_t raw[RG_EC_PUB_RAW_LEN];
	int rc = rg_ec_key_public_raw(key, raw);
	return rc < 0 ? rc : rg_sha256(raw, sizeof raw, out);
}

int rg_ecdsa_sign(const struct rg_ec_key *key, const void *msg, size_t len, uint8_t *sig,
		  size_t cap, const struct rg_rand *rng)
{
	uint8_t hash[RG_SHA256_LEN];
	unsigned char der[MBEDTLS_ECDSA_MAX_LEN];
	size_t slen = 0;
	int rc;

	if (!rg_ec_key_has_private(key) || (!msg && len) || !sig)
		return key ? RG_ERR_STATE : RG_ERR_INVAL;
	if ((rc = rg_sha256(msg, len, hash)) < 0)
		return rc;
	if (mbedtls_ecdsa_write_signature(ec_of(key), MBEDTLS_MD_SHA256, hash, sizeof hash, der,
					  &slen, rng_adapter, (void *)rng))
		return RG_ERR_CRYPTO;
	if (slen > cap)
		return RG_ERR_TOOBIG;
	memcpy(sig, der, slen);
	return (int)slen;
}

int rg_ecdsa_verify(const struct rg_ec_key *key, const void *msg, size_t len,
		    const uint8_t *sig, size_t siglen)
{
	uint8_t hash[RG_SHA256_LEN];
	if (!key || (!msg && len) || !sig || !siglen)
		return RG_ERR_VERIFY;
	if (rg_sha256(msg, len, hash) < 0)
		return RG_ERR_CRYPTO;
	return mbedtls_ecdsa_read_signature(ec_of(key), hash, sizeof hash, sig, siglen)
		       ? RG_ERR_VERIFY
		       : 0;
}

int rg_ecdsa_sign_raw(const struct rg_ec_key *key, const void *msg, size_t len,
		      uint8_t sig[RG_ECDSA_RAW_LEN], const struct rg_rand *rng)
{
	uint8_t der[RG_ECDSA_DER_MAX];
	unsigned char *p, *end;
	size_t seqlen;
	mbedtls_mpi r, s;
	int rc = rg_ecdsa_sign(key, msg, len, der, sizeof der, rng);

	if (rc < 0)
		return rc;
	p = der;
	end = der + rc;
	mbedtls_mpi_init(&r);
	mbedtls_mpi_init(&s);
	rc = RG_ERR_CRYPTO;
	if (!mbedtls_asn1_get_tag(&p, end, &seqlen, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE) &&
	    !mbedtls_asn1_get_mpi(&p, end, &r) && !mbedtls_asn1_get_mpi(&p, end, &s) &&
	    !mbedtls_mpi_write_binary(&r, sig, 32) && !mbedtls_mpi_write_binary(&s, sig + 32, 32))
		rc = 0;
	mbedtls_mpi_free(&r);
	mbedtls_mpi_free(&s);
	return rc;
}

int rg_ecdsa_verify_raw(const struct rg_ec_key *key, const void *msg, size_t len,
			const uint8_t sig[RG_ECDSA_RAW_LEN])
{
	uint8_t hash[RG_SHA256_LEN];
	mbedtls_ecp_keypair *ec;
	mbedtls_mpi r, s;
	int rc = RG_ERR_VERIFY;

	if (!key || (!msg && len) || !sig)
		return RG_ERR_VERIFY;
	if (rg_sha256(msg, len, hash) < 0)
		return RG_ERR_CRYPTO;
	ec = ec_of(key);
	mbedtls_mpi_init(&r);
	mbedtls_mpi_init(&s);
	if (!mbedtls_mpi_read_binary(&r, sig, 32) && !mbedtls_mpi_read_binary(&s, sig + 32, 32) &&
	    !mbedtls_ecdsa_verify(&ec->grp, hash, sizeof hash, &ec->Q, &r, &s))
		rc = 0;
	mbedtls_mpi_free(&r);
	mbedtls_mpi_free(&s);
	return rc;
}
