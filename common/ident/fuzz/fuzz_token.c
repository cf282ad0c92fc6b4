/*
 * fuzz_token.c - libFuzzer target for the app-token decoder and verifier,
 * against a fixed public key at a fixed time (seed tokens in corpus/token
 * were signed with its private key, which is not in the tree). Invariants:
 * verify never accepts what decode refuses, and accepted claims are sane.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/codec.h"
#include "common/ident_token.h"
#include "common/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* base64url raw point of the fuzz key; seeds are valid around FUZZ_NOW */
static const char fuzz_pub[] =
    "BH36hyGyWUPV-VzNIHRuCfPrZ9i13ANvXU5vHskMVAvbKe2Kz9TkUHVvbtXfQDXf-NavKshNiqF0L2b2QirAN3E";
#define FUZZ_NOW INT64_C(1795420000)

static struct ident_keyring ring;

static void init(void)
{
	uint8_t raw[RG_EC_PUB_RAW_LEN];
	rg_log_set_level(RG_LOG_OFF);
	ident_keyring_init(&ring);
	if (rg_b64url_decode(fuzz_pub, strlen(fuzz_pub), raw, sizeof raw) != RG_EC_PUB_RAW_LEN ||
	    ident_keyring_add_raw(&ring, raw) != 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready;
	const struct ident_token_policy pol = {.skew_s = 60, .max_lifetime_s = 600};
	struct ident_token_claims c, d;
	enum ident_reason why, dwhy;
	const char *text = (const char *)data;

	if (!ready) {
		init();
		ready = 1;
	}
	if (ident_token_decode(text, size, &d, &dwhy) != 0)
		abort();
	if (ident_token_verify(&ring, &pol, NULL, FUZZ_NOW, text, size, &c, &why) != 0)
		abort();
	if (dwhy != IDENT_OK && why != dwhy)
		abort();
	if (why != IDENT_OK)
		return 0;
	if (memcmp(&c, &d, sizeof c) != 0 || !ident_ref_valid(c.ref, c.ref_len) || c.exp <= c.iat ||
	    c.exp - c.iat > pol.max_lifetime_s || FUZZ_NOW < c.iat - pol.skew_s ||
	    FUZZ_NOW >= c.exp + pol.skew_s || size > IDENT_TOKEN_TEXT_MAX)
		abort();
	return 0;
}
