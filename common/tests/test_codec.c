/* test_codec.c - hex and base64url against RFC 4648 vectors; strictness. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/codec.h"
#include "common/err.h"

static void hex_roundtrip_and_strictness(void **state)
{
	uint8_t b[4];
	char s[9];
	(void)state;
	assert_int_equal(rg_hex_decode("04a1B2c3", 8, b, sizeof b), 4);
	assert_int_equal(rg_hex_encode(b, 4, s, sizeof s), 8);
	assert_string_equal(s, "04a1b2c3");
	assert_int_equal(rg_hex_decode("04a", 3, b, sizeof b), RG_ERR_PARSE);
	assert_int_equal(rg_hex_decode("0g", 2, b, sizeof b), RG_ERR_PARSE);
	assert_int_equal(rg_hex_decode("0102030405", 10, b, sizeof b), RG_ERR_TOOBIG);
	assert_int_equal(rg_hex_encode(b, 4, s, 8), RG_ERR_TOOBIG);
}

static void b64url_rfc4648_vectors(void **state)
{
	static const char *const plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
	static const char *const enc[] = {"", "Zg", "Zm8", "Zm9v", "Zm9vYg", "Zm9vYmE", "Zm9vYmFy"};
	(void)state;
	for (size_t i = 0; i < 7; i++) {
		char e[16];
		uint8_t d[16];
		size_t n = strlen(plain[i]);
		assert_int_equal(rg_b64url_encode(plain[i], n, e, sizeof e), (int)strlen(enc[i]));
		assert_string_equal(e, enc[i]);
		assert_int_equal(rg_b64url_decode(enc[i], strlen(enc[i]), d, sizeof d), (int)n);
		assert_memory_equal(d, plain[i], n);
	}
}

static void b64url_url_alphabet_and_refusals(void **state)
{
	uint8_t in[] = {0xfb, 0xff, 0xbf}, d[8];
	char e[8];
	(void)state;
	rg_b64url_encode(in, 3, e, sizeof e);
	assert_string_equal(e, "-_-_");
	assert_int_equal(rg_b64url_decode("+/+/", 4, d, sizeof d), RG_ERR_PARSE);
	assert_int_equal(rg_b64url_decode("Zg==", 4, d, sizeof d), RG_ERR_PARSE);
	assert_int_equal(rg_b64url_decode("Zh", 2, d, sizeof d), RG_ERR_PARSE); /* trailing bits */
	assert_int_equal(rg_b64url_decode("Z", 1, d, sizeof d), RG_ERR_PARSE);
	assert_int_equal(rg_b64url_decode("Zm9vYmFy", 8, d, 5), RG_ERR_TOOBIG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(hex_roundtrip_and_strictness),
		cmocka_unit_test(b64url_rfc4648_vectors),
		cmocka_unit_test(b64url_url_alphabet_and_refusals),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
