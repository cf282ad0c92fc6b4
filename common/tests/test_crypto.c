/*
 * test_crypto.c - known-answer tests from the standards (FIPS 180 SHA-256,
 * RFC 4231 HMAC-SHA256, the GCM specification's AES-GCM test cases) and the
 * tamper cases of the AEAD seal: any changed byte is refused.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/codec.h"
#include "common/crypto.h"
#include "common/err.h"

static size_t unhex(const char *s, uint8_t *out, size_t cap)
{
	int n = rg_hex_decode(s, strlen(s), out, cap);
	assert_true(n >= 0);
	return (size_t)n;
}

static void assert_hex(const uint8_t *b, size_t n, const char *want)
{
	char s[512];
	assert_true(rg_hex_encode(b, n, s, sizeof s) >= 0);
	assert_string_equal(s, want);
}

static void sha256_fips180_vectors(void **state)
{
	uint8_t h[32];
	(void)state;
	rg_sha256("abc", 3, h);
	assert_hex(h, 32, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	rg_sha256("", 0, h);
	assert_hex(h, 32, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	const char *m = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
	rg_sha256(m, strlen(m), h);
	assert_hex(h, 32, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

struct hmac_case {
	const char *key_hex;
	size_t key_repeat; /* if key_hex is one byte repeated */
	const char *data;
	const char *data_hex;
	size_t data_repeat;
	const char *mac;
};

static void hmac_sha256_rfc4231(void **state)
{
	static const struct hmac_case cases[] = {
		/* test case 1 */
		{"0b", 20, "Hi There", NULL, 0,
		 "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"},
		/* test case 2 */
		{"4a656665", 1, "what do ya want for nothing?", NULL, 0,
		 "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"},
		/* test case 3 */
		{"aa", 20, NULL, "dd", 50,
		 "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe"},
		/* test case 4 */
		{"0102030405060708090a0b0c0d0e0f10111213141516171819", 1, NULL, "cd", 50,
		 "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b"},
		/* test case 6 */
		{"aa", 131, "Test Using Larger Than Block-Size Key - Hash Key First", NULL, 0,
		 "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"},
		/* test case 7 */
		{"aa", 131,
		 "This is a test using a larger than block-size key and a larger than block-size "
		 "data. The key needs to be hashed before being used by the HMAC algorithm.",
		 NULL, 0, "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2"},
	};
	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		uint8_t key[256], data[256], mac[32], one[64];
		size_t klen = unhex(cases[i].key_hex, one, sizeof one), dlen;
		if (cases[i].key_repeat > 1) {
			memset(key, one[0], cases[i].key_repeat);
			klen = cases[i].key_repeat;
		} else {
			memcpy(key, one, klen);
		}
		if (cases[i].data) {
			dlen = strlen(cases[i].data);
			memcpy(data, cases[i].data, dlen);
		} else {
			unhex(cases[i].data_hex, one, sizeof one);
			memset(data, one[0], cases[i].data_repeat);
			dlen = cases[i].data_repeat;
		}
		assert_int_equal(rg_hmac_sha256(key, klen, data, dlen, mac), 0);
		assert_hex(mac, 32, cases[i].mac);
	}
}

static void token_is_hmac_of_type_nul_canonical(void **state)
{
	uint8_t key[32], t1[32], t2[32], ref[32];
	uint8_t msg[64];
	(void)state;
	memset(key, 0x42, sizeof key);
	assert_int_equal(rg_token(key, sizeof key, "loyalty", "4006381333931", 13, t1), 0);
	memcpy(msg, "loyalty\0" "4006381333931", 8 + 13);
	rg_hmac_sha256(key, sizeof key, msg, 21, ref);
	assert_memory_equal(t1, ref, 32);
	/* The type is part of the token: the same digits as another type differ. */
	assert_int_equal(rg_token(key, sizeof key, "qr", "4006381333931", 13, t2), 0);
	assert_memory_not_equal(t1, t2, 32);
	/* The separator prevents ("loyalty","1") colliding with ("loyalty1",""). */
	rg_token(key, sizeof key, "loyalty", "1", 1, t1);
	rg_token(key, sizeof key, "loyalty1", "", 0, t2);
	assert_memory_not_equal(t1, t2, 32);
	/* Short keys are refused. */
	assert_int_equal(rg_token(key, 8, "qr", "x", 1, t1), RG_ERR_INVAL);
}

struct gcm_case {
	const char *key, *iv, *pt, *aad, *ct, *tag;
};

/* From "The Galois/Counter Mode of Operation (GCM)", McGrew & Viega,
 * test cases 2, 4, 13, 14, 15, 16 (the NIST GCM validation vectors). */
static const struct gcm_case gcm_cases[] = {
	{"00000000000000000000000000000000", "000000000000000000000000",
	 "00000000000000000000000000000000", "", "0388dace60b6a392f328c2b971b2fe78",
	 "ab6e47d42cec13bdf53a67b21257bddf"},
	{"feffe9928665731c6d6a8f9467308308", "cafebabefacedbaddecaf888",
	 "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e24"
	 "49a6b525b16aedf5aa0de657ba637b39",
	 "feedfacedeadbeeffeedfacedeadbeefabaddad2",
	 "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e21d514b25466931c7d8f6a5a"
	 "ac84aa051ba30b396a0aac973d58e091",
	 "5bc94fbc3221a5db94fae95ae7121a47"},
	{"0000000000000000000000000000000000000000000000000000000000000000",
	 "000000000000000000000000", "", "", "", "530f8afbc74536b9a963b4f1c4cb738b"},
	{"0000000000000000000000000000000000000000000000000000000000000000",
	 "000000000000000000000000", "00000000000000000000000000000000", "",
	 "cea7403d4d606b6e074ec5d3baf39d18", "d0d1c8a799996bf0265b98b5d48ab919"},
	{"feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308",
	 "cafebabefacedbaddecaf888",
	 "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e24"
	 "49a6b525b16aedf5aa0de657ba637b391aafd255",
	 "",
	 "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b10"
	 "56828838c5f61e6393ba7a0abcc9f662898015ad",
	 "b094dac5d93471bdec1a502270e3cc6c"},
	{"feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308",
	 "cafebabefacedbaddecaf888",
	 "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e24"
	 "49a6b525b16aedf5aa0de657ba637b39",
	 "feedfacedeadbeeffeedfacedeadbeefabaddad2",
	 "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b10"
	 "56828838c5f61e6393ba7a0abcc9f662",
	 "76fc6ece0f4e1768cddf8853bb2d551b"},
};

static void aes_gcm_known_answers(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof gcm_cases / sizeof gcm_cases[0]; i++) {
		const struct gcm_case *c = &gcm_cases[i];
		uint8_t key[32], iv[12], pt[64], aad[32], ct[64], tag[16], out[64], wtag[16];
		size_t kl = unhex(c->key, key, sizeof key), il = unhex(c->iv, iv, sizeof iv);
		size_t pl = unhex(c->pt, pt, sizeof pt), al = unhex(c->aad, aad, sizeof aad);
		size_t cl = unhex(c->ct, ct, sizeof ct);
		unhex(c->tag, wtag, sizeof wtag);
		assert_int_equal(cl, pl);
		assert_int_equal(rg_aes_gcm_encrypt(key, kl, iv, il, aad, al, pt, pl, out, tag, 16), 0);
		assert_memory_equal(out, ct, cl);
		assert_memory_equal(tag, wtag, 16);
		assert_int_equal(rg_aes_gcm_decrypt(key, kl, iv, il, aad, al, ct, cl, wtag, 16, out), 0);
		assert_memory_equal(out, pt, pl);
		/* A flipped tag bit is refused. */
		wtag[15] ^= 1;
		assert_int_equal(rg_aes_gcm_decrypt(key, kl, iv, il, aad, al, ct, cl, wtag, 16, out),
				 RG_ERR_VERIFY);
	}
}

static void aead_roundtrip_and_every_tamper_refused(void **state)
{
	uint8_t key[32], key2[32], sealed[128], out[128];
	const char *pt = "Anna Example, gold tier, 1200 points";
	const char *aad = "profile:42";
	size_t plen = strlen(pt);
	int n;
	(void)state;
	rg_random(key, sizeof key);
	memcpy(key2, key, sizeof key);
	key2[0] ^= 0x80;
	n = rg_aead_seal(key, aad, strlen(aad), pt, plen, sealed, sizeof sealed, NULL);
	assert_int_equal(n, (int)(plen + RG_AEAD_OVERHEAD));
	assert_null(memmem(sealed, (size_t)n, "Anna", 4));
	assert_int_equal(rg_aead_open(key, aad, strlen(aad), sealed, (size_t)n, out, sizeof out),
			 (int)plen);
	assert_memory_equal(out, pt, plen);

	/* Every single byte flipped - nonce, ciphertext, tag - is refused. */
	for (int i = 0; i < n; i++) {
		sealed[i] ^= 0x01;
		assert_int_equal(rg_aead_open(key, aad, strlen(aad), sealed, (size_t)n, out, sizeof out),
				 RG_ERR_VERIFY);
		sealed[i] ^= 0x01;
	}
	/* Other associated data, another key, a truncated blob. */
	assert_int_equal(rg_aead_open(key, "profile:43", 10, sealed, (size_t)n, out, sizeof out),
			 RG_ERR_VERIFY);
	assert_int_equal(rg_aead_open(key2, aad, strlen(aad), sealed, (size_t)n, out, sizeof out),
			 RG_ERR_VERIFY);
	assert_int_equal(rg_aead_open(key, aad, strlen(aad), sealed, (size_t)n - 1, out, sizeof out),
			 RG_ERR_VERIFY);
	assert_int_equal(rg_aead_open(key, aad, strlen(aad), sealed, 10, out, sizeof out),
			 RG_ERR_VERIFY);
	/* Two seals of the same text differ (fresh nonce). */
	uint8_t again[128];
	rg_aead_seal(key, aad, strlen(aad), pt, plen, again, sizeof again, NULL);
	assert_memory_not_equal(again, sealed, (size_t)n);
	/* Output caps are honoured. */
	assert_int_equal(rg_aead_seal(key, NULL, 0, pt, plen, sealed, plen, NULL), RG_ERR_TOOBIG);
	assert_int_equal(rg_aead_open(key, aad, strlen(aad), again, (size_t)n, out, 3), RG_ERR_TOOBIG);
}

static void ct_equal(void **state)
{
	(void)state;
	assert_int_equal(rg_ct_equal("abcd", "abcd", 4), 1);
	assert_int_equal(rg_ct_equal("abcd", "abce", 4), 0);
	assert_int_equal(rg_ct_equal("xbcd", "abcd", 4), 0);
	assert_int_equal(rg_ct_equal("", "", 0), 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(sha256_fips180_vectors),
		cmocka_unit_test(hmac_sha256_rfc4231),
		cmocka_unit_test(token_is_hmac_of_type_nul_canonical),
		cmocka_unit_test(aes_gcm_known_answers),
		cmocka_unit_test(aead_roundtrip_and_every_tamper_refused),
		cmocka_unit_test(ct_equal),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
