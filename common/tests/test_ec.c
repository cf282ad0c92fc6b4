/*
 * test_ec.c - ECDSA P-256: the RFC 6979 A.2.5 known answers verify, keys
 * round-trip through PEM and raw form, and a tampered message, signature or
 * foreign key is refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/codec.h"
#include "common/crypto.h"
#include "common/err.h"

/* RFC 6979 appendix A.2.5: P-256 public key and SHA-256 signatures. */
static const char *const rfc_pub =
	"04"
	"60fed4ba255a9d31c961eb74c6356d68c049b8923b61fa6ce669622e60f29fb6"
	"7903fe1008b8bc99a41ae9e95628bc64f2f1b20c2d7e9f5177a3c294d4462299";
static const char *const rfc_sig_sample =
	"efd48b2aacb6a8fd1140dd9cd45e81d69d2c877b56aaf991c34d0ea84eaf3716"
	"f7cb1c942d657c41d436c7a1b6e29f65f3e900dbb9aff4064dc4ab2f843acda8";
static const char *const rfc_sig_test =
	"f1abb023518351cd71d881567b1ea663ed3efcf6c5132b354f28d3b0b7d38367"
	"019f4113742a2b14bd25926b49c649155f267e60d3814b4c0cc84250e46f0083";

static void rfc6979_signatures_verify(void **state)
{
	uint8_t pub[65], sig[64];
	struct rg_ec_key *k;
	(void)state;
	assert_int_equal(rg_hex_decode(rfc_pub, strlen(rfc_pub), pub, sizeof pub), 65);
	assert_int_equal(rg_ec_key_from_public_raw(&k, pub), 0);
	assert_int_equal(rg_ec_key_has_private(k), 0);

	rg_hex_decode(rfc_sig_sample, 128, sig, sizeof sig);
	assert_int_equal(rg_ecdsa_verify_raw(k, "sample", 6, sig), 0);
	assert_int_equal(rg_ecdsa_verify_raw(k, "samplf", 6, sig), RG_ERR_VERIFY);
	sig[63] ^= 1;
	assert_int_equal(rg_ecdsa_verify_raw(k, "sample", 6, sig), RG_ERR_VERIFY);

	rg_hex_decode(rfc_sig_test, 128, sig, sizeof sig);
	assert_int_equal(rg_ecdsa_verify_raw(k, "test", 4, sig), 0);
	/* The other message's signature does not verify this one. */
	assert_int_equal(rg_ecdsa_verify_raw(k, "sample", 6, sig), RG_ERR_VERIFY);
	/* Public-only keys cannot sign. */
	assert_int_equal(rg_ecdsa_sign_raw(k, "x", 1, sig, NULL), RG_ERR_STATE);
	rg_ec_key_free(k);
}

static void sign_verify_and_tamper(void **state)
{
	struct rg_ec_key *a, *b;
	uint8_t der[RG_ECDSA_DER_MAX], raw[64];
	const char *msg = "config v7 for store 0042";
	int n;
	(void)state;
	assert_int_equal(rg_ec_key_generate(&a, NULL), 0);
	assert_int_equal(rg_ec_key_generate(&b, NULL), 0);
	assert_int_equal(rg_ec_key_has_private(a), 1);

	n = rg_ecdsa_sign(a, msg, strlen(msg), der, sizeof der, NULL);
	assert_true(n > 8 && n <= RG_ECDSA_DER_MAX);
	assert_int_equal(rg_ecdsa_verify(a, msg, strlen(msg), der, (size_t)n), 0);
	assert_int_equal(rg_ecdsa_verify(b, msg, strlen(msg), der, (size_t)n), RG_ERR_VERIFY);
	assert_int_equal(rg_ecdsa_verify(a, msg, strlen(msg) - 1, der, (size_t)n), RG_ERR_VERIFY);
	for (int i = 0; i < n; i++) {
		der[i] ^= 0x04;
		assert_int_equal(rg_ecdsa_verify(a, msg, strlen(msg), der, (size_t)n), RG_ERR_VERIFY);
		der[i] ^= 0x04;
	}
	assert_int_equal(rg_ecdsa_verify(a, msg, strlen(msg), der, (size_t)n - 1), RG_ERR_VERIFY);

	assert_int_equal(rg_ecdsa_sign_raw(a, msg, strlen(msg), raw, NULL), 0);
	assert_int_equal(rg_ecdsa_verify_raw(a, msg, strlen(msg), raw), 0);
	assert_int_equal(rg_ecdsa_verify_raw(b, msg, strlen(msg), raw), RG_ERR_VERIFY);
	raw[10] ^= 0x80;
	assert_int_equal(rg_ecdsa_verify_raw(a, msg, strlen(msg), raw), RG_ERR_VERIFY);
	/* All-zero and all-ones r||s are out of range, never valid. */
	memset(raw, 0, 64);
	assert_int_equal(rg_ecdsa_verify_raw(a, msg, strlen(msg), raw), RG_ERR_VERIFY);
	memset(raw, 0xff, 64);
	assert_int_equal(rg_ecdsa_verify_raw(a, msg, strlen(msg), raw), RG_ERR_VERIFY);
	rg_ec_key_free(a);
	rg_ec_key_free(b);
}

static void pem_and_raw_roundtrip(void **state)
{
	struct rg_ec_key *a, *priv, *pub, *rawk;
	char pem[1024], pem2[1024];
	uint8_t r1[65], r2[65], id1[32], id2[32], sig[64];
	(void)state;
	rg_ec_key_generate(&a, NULL);
	assert_true(rg_ec_key_write_private_pem(a, pem, sizeof pem) > 0);
	assert_non_null(strstr(pem, "-----BEGIN EC PRIVATE KEY-----"));
	assert_int_equal(rg_ec_key_parse(&priv, pem, strlen(pem)), 0);
	assert_int_equal(rg_ec_key_has_private(priv), 1);

	assert_true(rg_ec_key_write_public_pem(a, pem2, sizeof pem2) > 0);
	assert_non_null(strstr(pem2, "-----BEGIN PUBLIC KEY-----"));
	assert_int_equal(rg_ec_key_parse(&pub, pem2, strlen(pem2)), 0);
	assert_int_equal(rg_ec_key_has_private(pub), 0);
	assert_int_equal(rg_ec_key_write_private_pem(pub, pem, sizeof pem), RG_ERR_STATE);

	assert_int_equal(rg_ec_key_public_raw(a, r1), 65);
	assert_int_equal(rg_ec_key_public_raw(pub, r2), 65);
	assert_memory_equal(r1, r2, 65);
	assert_int_equal(rg_ec_key_from_public_raw(&rawk, r1), 0);
	rg_ec_key_id(a, id1);
	rg_ec_key_id(rawk, id2);
	assert_memory_equal(id1, id2, 32);

	/* Signed by the reloaded private key, verified by the reloaded public. */
	assert_int_equal(rg_ecdsa_sign_raw(priv, "m", 1, sig, NULL), 0);
	assert_int_equal(rg_ecdsa_verify_raw(pub, "m", 1, sig), 0);
	assert_int_equal(rg_ecdsa_verify_raw(rawk, "m", 1, sig), 0);

	rg_ec_key_free(rawk);

	/* A point not on the curve is refused. */
	r1[64] ^= 1;
	assert_int_equal(rg_ec_key_from_public_raw(&rawk, r1), RG_ERR_PARSE);
	assert_null(rawk);
	assert_int_equal(rg_ec_key_write_public_pem(a, pem, 16), RG_ERR_TOOBIG);
	rg_ec_key_free(a);
	rg_ec_key_free(priv);
	rg_ec_key_free(pub);
}

static void garbage_and_files(void **state)
{
	struct rg_ec_key *k, *a;
	char path[] = "/tmp/rg-ec-XXXXXX";
	char pem[1024];
	(void)state;
	assert_int_equal(rg_ec_key_parse(&k, "not a key", 9), RG_ERR_PARSE);
	assert_null(k);
	assert_int_equal(rg_ec_key_parse(&k, "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", 58),
			 RG_ERR_PARSE);
	assert_int_equal(rg_ec_key_load_file(&k, "/nonexistent/key.pem"), RG_ERR_NOTFOUND);

	rg_ec_key_generate(&a, NULL);
	int n = rg_ec_key_write_private_pem(a, pem, sizeof pem);
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, pem, (size_t)n), n);
	close(fd);
	assert_int_equal(rg_ec_key_load_file(&k, path), 0);
	assert_int_equal(rg_ec_key_has_private(k), 1);
	unlink(path);
	rg_ec_key_free(k);
	rg_ec_key_free(a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(rfc6979_signatures_verify),
		cmocka_unit_test(sign_verify_and_tamper),
		cmocka_unit_test(pem_and_raw_roundtrip),
		cmocka_unit_test(garbage_and_files),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
