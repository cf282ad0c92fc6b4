/*
 * fuzz_text.c - libFuzzer target for the small text parsers of common/:
 * UUIDs, HLC stamps, hex, base64url and EC keys. Whatever parses must
 * re-encode to something that parses to the same value.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/codec.h"
#include "common/crypto.h"
#include "common/hlc.h"
#include "common/uuid.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	uint8_t buf[4096];
	char txt[8200];
	struct rg_uuid u, u2;
	struct rg_hlc h, h2;
	struct rg_ec_key *k;
	int n;

	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';

	if (rg_uuid_parse(s, &u) == 0) {
		rg_uuid_format(&u, txt);
		if (rg_uuid_parse(txt, &u2) != 0 || rg_uuid_cmp(&u, &u2) != 0)
			abort();
	}
	if (rg_hlc_parse(s, &h) == 0) {
		rg_hlc_format(&h, txt, sizeof txt);
		if (rg_hlc_parse(txt, &h2) != 0 || rg_hlc_cmp(&h, &h2) != 0)
			abort();
	}
	if ((n = rg_hex_decode(s, size, buf, sizeof buf)) >= 0) {
		rg_hex_encode(buf, (size_t)n, txt, sizeof txt);
	}
	if ((n = rg_b64url_decode(s, size, buf, sizeof buf)) >= 0) {
		/* Strict decoding means the encoding is unique. */
		rg_b64url_encode(buf, (size_t)n, txt, sizeof txt);
		if (strlen(txt) != size || memcmp(txt, s, size) != 0)
			abort();
	}
	if (size && rg_ec_key_parse(&k, data, size) == 0)
		rg_ec_key_free(k);
	free(s);
	return 0;
}
