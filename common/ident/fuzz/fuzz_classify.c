/*
 * fuzz_classify.c - libFuzzer target for the whole identifier pipeline: the
 * first input byte picks the source (NFC UID, NDEF, barcode, QR, magstripe),
 * the rest is the read. Every type is enabled (NDEF patterns, an app key, a
 * TOTP customer). Invariants: an accepted read has a canonical value of
 * printable ASCII within IDENT_CANON_MAX and its token is rg_token of it.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/codec.h"
#include "common/err.h"
#include "common/ident.h"
#include "common/ident_token.h"
#include "common/ident_totp.h"
#include "common/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char fuzz_pub[] =
    "BH36hyGyWUPV-VzNIHRuCfPrZ9i13ANvXU5vHskMVAvbKe2Kz9TkUHVvbtXfQDXf-NavKshNiqF0L2b2QirAN3E";
static const uint8_t tenant[32] = "fuzz tenant identifier key 00001";
static const uint8_t seal[RG_AEAD_KEY_LEN] = "fuzz totp seal key 0000000000001";
static const uint8_t totp_secret[20] = "12345678901234567890";

static struct rg_clock_manual clk;
static struct ident_replay_store *replay;
static struct ident_secret_store *secrets;
static struct ident_pipeline *pipe_;

static void init(void)
{
	struct ident_config cfg;
	struct ident_pipeline_params pp = {.config = &cfg,
					   .tenant_key = tenant,
					   .tenant_key_len = sizeof tenant,
					   .totp_seal_key = seal,
					   .clock = &clk.clock};

	rg_log_set_level(RG_LOG_OFF);
	rg_clock_manual_init(&clk, INT64_C(1795420000) * 1000);
	ident_config_default(&cfg);
	cfg.loyalty.n_rules = 4;
	cfg.loyalty.rules[2] =
	    (struct ident_loyalty_rule){.kind = IDENT_LOYALTY_LUHN, .min_len = 16, .max_len = 19};
	cfg.loyalty.rules[3] = (struct ident_loyalty_rule){.kind = IDENT_LOYALTY_PATTERN,
							   .charset = IDENT_CHARSET_ALNUM,
							   .min_len = 6,
							   .max_len = 12,
							   .prefix = "RG"};
	cfg.nfc_ndef.n_patterns = 3;
	cfg.nfc_ndef.patterns[0] =
	    (struct ident_ndef_pattern){.field = IDENT_NDEF_FIELD_URI,
					.prefix = "https://regulars.example/c/",
					.as = IDENT_TYPE_LOYALTY};
	cfg.nfc_ndef.patterns[1] = (struct ident_ndef_pattern){
	    .field = IDENT_NDEF_FIELD_TEXT, .prefix = "RG:", .as = IDENT_TYPE_LOYALTY};
	cfg.nfc_ndef.patterns[2] =
	    (struct ident_ndef_pattern){.field = IDENT_NDEF_FIELD_URI,
					.prefix = "https://regulars.example/m/",
					.as = IDENT_TYPE_NFC_NDEF};
	cfg.app_token.n_keys = 1;
	if (rg_b64url_decode(fuzz_pub, strlen(fuzz_pub), cfg.app_token.keys[0],
			     RG_EC_PUB_RAW_LEN) != RG_EC_PUB_RAW_LEN)
		abort();
	if (ident_replay_mem_new(4096, &replay) != 0 || ident_secret_mem_new(4, &secrets) != 0 ||
	    ident_totp_enrol(secrets, seal, "cust-1", totp_secret, sizeof totp_secret,
			     rg_rand_system()) != 0)
		abort();
	pp.replay = replay;
	pp.secrets = secrets;
	if (ident_pipeline_new(&pp, &pipe_) != 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready;
	struct ident_result r;
	char canon[IDENT_CANON_MAX + 1];
	uint8_t want[RG_TOKEN_LEN];
	int rc;

	if (!ready) {
		init();
		ready = 1;
	}
	if (size < 1)
		return 0;
	rc = ident_classify_canonical(pipe_, (enum ident_source)(data[0] % 5), data + 1, size - 1,
				      &r, canon, sizeof canon);
	if (rc == RG_ERR_TOOBIG) /* the replay store is full: an error, never an acceptance */
		return 0;
	if (rc != 0 || (unsigned)r.reason >= IDENT__REASON_COUNT)
		abort();
	if (r.reason != IDENT_OK) {
		if (canon[0] != '\0')
			abort();
		return 0;
	}
	size_t n = strlen(canon);
	if (n == 0 || n > IDENT_CANON_MAX || r.type == IDENT_TYPE_NONE)
		abort();
	for (size_t i = 0; i < n; i++)
		if (canon[i] <= 0x20 || canon[i] >= 0x7f)
			abort();
	if (rg_token(tenant, sizeof tenant, ident_type_name(r.type), canon, n, want) != 0 ||
	    memcmp(want, r.token, sizeof want) != 0)
		abort();
	return 0;
}
