/*
 * test_pipeline.c - the pipeline as a whole: stable reason and type names,
 * routing of text by prefix, QR member codes, the generic text refusals
 * (empty, oversized, not UTF-8), tokenisation (the token is rg_token of the
 * canonical value under the tenant key, nothing else), construction errors,
 * and the JSON configuration (the documented example, every refusal).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/codec.h"
#include "common/err.h"
#include "common/json.h"
#include "common/log.h"
#include "fixture.h"

static void reason_and_type_names_are_stable(void **state)
{
	/* other teams store and match these names: changing one must fail here */
	static const char *const reasons[] = {
	    "ok",
	    "bad_check_digit",
	    "too_short",
	    "too_long",
	    "bad_charset",
	    "not_utf8",
	    "no_match",
	    "token_expired",
	    "token_not_yet_valid",
	    "token_bad_signature",
	    "token_replayed",
	    "token_malformed",
	    "totp_out_of_window",
	    "totp_reused",
	    "token_unknown_key",
	    "token_lifetime_too_long",
	    "token_bad_version",
	    "totp_malformed",
	    "totp_unknown_customer",
	    "uid_bad_length",
	    "uid_random",
	    "ndef_malformed",
	    "ndef_chunked",
	    "magstripe_malformed",
	    "type_disabled",
	};
	static const char *const types[] = {"none", "loyalty",	 "nfc_uid", "nfc_ndef",
					    "qr",   "app_token", "totp"};
	(void)state;
	assert_int_equal(sizeof reasons / sizeof reasons[0], IDENT__REASON_COUNT);
	for (int i = 0; i < IDENT__REASON_COUNT; i++) {
		assert_string_equal(ident_reason_name((enum ident_reason)i), reasons[i]);
		assert_int_equal(ident_reason_from_name(reasons[i]), i);
	}
	assert_string_equal(ident_reason_name(IDENT__REASON_COUNT), "unknown");
	assert_string_equal(ident_reason_name((enum ident_reason) - 1), "unknown");
	assert_int_equal(ident_reason_from_name("nope"), RG_ERR_NOTFOUND);
	for (int i = 0; i < 7; i++)
		assert_string_equal(ident_type_name((enum ident_type)i), types[i]);
	assert_int_equal(ident_type_from_name("app_token"), IDENT_TYPE_APP_TOKEN);
	assert_int_equal(ident_type_from_name("none"), RG_ERR_NOTFOUND);
	assert_string_equal(ident_source_name(IDENT_SRC_MAGSTRIPE), "magstripe");
	/* source values match hal_read_kind's */
	assert_int_equal(IDENT_SRC_NFC_UID, 0);
	assert_int_equal(IDENT_SRC_NDEF, 1);
	assert_int_equal(IDENT_SRC_BARCODE, 2);
	assert_int_equal(IDENT_SRC_QR, 3);
	assert_int_equal(IDENT_SRC_MAGSTRIPE, 4);
}

static void qr_member_codes(void **state)
{
	struct fx *f = *state;
	struct ident_result r;
	char big[IDENT_TEXT_MAX + 8];

	r = fx_text(f, IDENT_SRC_QR, "RGM1:M-0001.a_b");
	fx_assert_ok(f, &r, IDENT_TYPE_QR, "M-0001.a_b");
	r = fx_text(f, IDENT_SRC_BARCODE, "RGM1:M-0001.a_b"); /* same from a wedge scanner */
	fx_assert_ok(f, &r, IDENT_TYPE_QR, "M-0001.a_b");
	r = fx_text(f, IDENT_SRC_QR, "RGM1:");
	fx_assert_refused(&r, IDENT_TOO_SHORT, "no member id");
	assert_int_equal(r.type, IDENT_TYPE_QR);
	r = fx_text(f, IDENT_SRC_QR, "RGM1:ab cd");
	fx_assert_refused(&r, IDENT_BAD_CHARSET, "space");
	r = fx_text(f, IDENT_SRC_QR, "RGM1:caf\xc3\xa9");
	fx_assert_refused(&r, IDENT_BAD_CHARSET, "non-ASCII");
	memcpy(big, "RGM1:", 5);
	memset(big + 5, 'm', 65);
	big[70] = '\0';
	r = fx_text(f, IDENT_SRC_QR, big);
	fx_assert_refused(&r, IDENT_TOO_LONG, "65-char member id");
	big[69] = '\0';
	r = fx_text(f, IDENT_SRC_QR, big);
	assert_int_equal(r.reason, IDENT_OK);
	r = fx_text(f, IDENT_SRC_QR, "rgm1:M-0001"); /* prefixes are case-sensitive */
	fx_assert_refused(&r, IDENT_BAD_CHARSET, "lower-case prefix");
	assert_int_equal(r.type, IDENT_TYPE_LOYALTY);

	/* configured prefixes and length; the id alone is canonical */
	f->cfg.qr.n_prefixes = 2;
	memcpy(f->cfg.qr.prefixes[1], "ACME/", 6);
	f->cfg.qr.min_len = 4;
	f->cfg.qr.max_len = 8;
	fx_reopen(f);
	r = fx_text(f, IDENT_SRC_QR, "ACME/1234");
	fx_assert_ok(f, &r, IDENT_TYPE_QR, "1234");
	struct ident_result r2 = fx_text(f, IDENT_SRC_QR, "RGM1:1234");
	assert_memory_equal(r.token, r2.token, RG_TOKEN_LEN);
	r = fx_text(f, IDENT_SRC_QR, "ACME/123");
	fx_assert_refused(&r, IDENT_TOO_SHORT, "below min_len");
	r = fx_text(f, IDENT_SRC_QR, "ACME/123456789");
	fx_assert_refused(&r, IDENT_TOO_LONG, "above max_len");
	f->cfg.qr.enabled = false;
	fx_reopen(f);
	r = fx_text(f, IDENT_SRC_QR, "ACME/1234");
	fx_assert_refused(&r, IDENT_TYPE_DISABLED, "qr disabled");
}

static void text_refusals_before_routing(void **state)
{
	struct fx *f = *state;
	struct ident_result r;
	char big[IDENT_TEXT_MAX + 2];

	r = fx_text(f, IDENT_SRC_BARCODE, "");
	fx_assert_refused(&r, IDENT_TOO_SHORT, "empty");
	assert_int_equal(r.type, IDENT_TYPE_NONE);
	memset(big, '1', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	r = fx_text(f, IDENT_SRC_QR, big);
	fx_assert_refused(&r, IDENT_TOO_LONG, "513 bytes");
	assert_int_equal(r.type, IDENT_TYPE_NONE);
	r = fx_text(f, IDENT_SRC_QR, "RGM1:\xff\xfe");
	fx_assert_refused(&r, IDENT_NOT_UTF8, "not utf-8");
	r = fx_text(f, IDENT_SRC_BARCODE, "40063813\xc0\xaf");
	fx_assert_refused(&r, IDENT_NOT_UTF8, "overlong utf-8");
	r = fx_bytes(f, IDENT_SRC_BARCODE, "4006381333931\0", 14);
	fx_assert_refused(&r, IDENT_BAD_CHARSET, "embedded NUL");
	/* a source the pipeline does not know is the caller's bug */
	assert_int_equal(ident_classify(f->p, (enum ident_source)9, "1", 1, &r), RG_ERR_INVAL);
	assert_int_equal(ident_classify(f->p, IDENT_SRC_QR, NULL, 1, &r), RG_ERR_INVAL);
	assert_int_equal(ident_classify_canonical(f->p, IDENT_SRC_QR, "1", 1, &r, f->canon, 10),
			 RG_ERR_INVAL);
}

static void token_is_hmac_of_type_and_canonical_under_the_tenant_key(void **state)
{
	struct fx *f = *state;
	struct ident_result r1, r2;
	uint8_t want[RG_TOKEN_LEN], key2[32];
	struct ident_pipeline *p2;

	r1 = fx_text(f, IDENT_SRC_BARCODE, "4006381333931");
	/* the documented construction, by hand: HMAC-SHA256(key, "loyalty" 0x00 canonical) */
	uint8_t msg[64];
	memcpy(msg, "loyalty", 7);
	msg[7] = 0;
	memcpy(msg + 8, "4006381333931", 13);
	assert_int_equal(rg_hmac_sha256(fx_tenant_key, sizeof fx_tenant_key, msg, 21, want), 0);
	assert_memory_equal(r1.token, want, RG_TOKEN_LEN);
	/* the same value as another type is another token */
	r2 = fx_text(f, IDENT_SRC_QR, "RGM1:4006381333931");
	assert_int_equal(r2.reason, IDENT_OK);
	assert_memory_not_equal(r1.token, r2.token, RG_TOKEN_LEN);
	/* another tenant key, another token */
	memcpy(key2, fx_tenant_key, 32);
	key2[0] ^= 1;
	struct ident_pipeline_params pp = {.config = &f->cfg,
					   .tenant_key = key2,
					   .tenant_key_len = sizeof key2,
					   .totp_seal_key = fx_seal_key,
					   .clock = &f->clock.clock,
					   .replay = f->replay,
					   .secrets = f->secrets};
	assert_int_equal(ident_pipeline_new(&pp, &p2), 0);
	assert_int_equal(ident_classify(p2, IDENT_SRC_BARCODE, "4006381333931", 13, &r2), 0);
	assert_int_equal(r2.reason, IDENT_OK);
	assert_memory_not_equal(r1.token, r2.token, RG_TOKEN_LEN);
	ident_pipeline_free(p2);
	/* the normal API gives the same token and no canonical value */
	assert_int_equal(ident_classify(f->p, IDENT_SRC_BARCODE, "4006381333931", 13, &r2), 0);
	assert_memory_equal(r1.token, r2.token, RG_TOKEN_LEN);
	assert_int_equal(r2.source, IDENT_SRC_BARCODE);
}

static void construction_errors(void **state)
{
	struct fx *f = *state;
	struct ident_pipeline *p = (void *)1;
	struct ident_pipeline_params pp = {.config = &f->cfg,
					   .tenant_key = fx_tenant_key,
					   .tenant_key_len = sizeof fx_tenant_key,
					   .totp_seal_key = fx_seal_key,
					   .replay = f->replay,
					   .secrets = f->secrets};

	pp.tenant_key_len = IDENT_TENANT_KEY_MIN - 1;
	assert_int_equal(ident_pipeline_new(&pp, &p), RG_ERR_INVAL);
	assert_null(p);
	pp.tenant_key_len = sizeof fx_tenant_key;
	pp.replay = NULL; /* app tokens enabled without a replay store */
	assert_int_equal(ident_pipeline_new(&pp, &p), RG_ERR_INVAL);
	pp.replay = f->replay;
	pp.totp_seal_key = NULL;
	assert_int_equal(ident_pipeline_new(&pp, &p), RG_ERR_INVAL);
	pp.totp_seal_key = fx_seal_key;
	f->cfg.totp.digits = 9;
	rg_log_set_level(RG_LOG_OFF);
	assert_int_equal(ident_pipeline_new(&pp, &p), RG_ERR_CONFIG);
	f->cfg.totp.digits = 6;
	/* an app key that is not a curve point */
	f->cfg.app_token.n_keys = 1;
	memset(f->cfg.app_token.keys[0], 7, RG_EC_PUB_RAW_LEN);
	assert_int_equal(ident_pipeline_new(&pp, &p), RG_ERR_CONFIG);
	assert_null(p);
	/* without app tokens and TOTP no stores are needed */
	f->cfg.app_token.n_keys = 0;
	f->cfg.app_token.enabled = false;
	f->cfg.totp.enabled = false;
	pp.replay = NULL;
	pp.secrets = NULL;
	pp.totp_seal_key = NULL;
	assert_int_equal(ident_pipeline_new(&pp, &p), 0);
	ident_pipeline_free(p);
	ident_pipeline_free(NULL);
}

/* The example of docs/identifiers.md, with a real key in it. */
static const char example_json[] =
    "{\n"
    "  \"loyalty\": {\n"
    "    \"enabled\": true, \"magstripe\": true,\n"
    "    \"rules\": [\n"
    "      {\"kind\": \"ean13\", \"prefix\": \"2\"},\n"
    "      {\"kind\": \"upca\"},\n"
    "      {\"kind\": \"luhn\", \"prefix\": \"6\", \"min_len\": 16, \"max_len\": 19},\n"
    "      {\"kind\": \"pattern\", \"prefix\": \"29\", \"min_len\": 13, \"max_len\": 13},\n"
    "      {\"kind\": \"pattern\", \"charset\": \"alnum\", \"prefix\": \"RG\", \"min_len\": 8,"
    " \"max_len\": 12}\n"
    "    ]\n"
    "  },\n"
    "  \"nfc_uid\": {\"enabled\": true},\n"
    "  \"nfc_ndef\": {\"enabled\": true, \"patterns\": [\n"
    "    {\"record\": \"uri\", \"prefix\": \"https://regulars.example/c/\"},\n"
    "    {\"record\": \"text\", \"prefix\": \"RG:\", \"as\": \"loyalty\"},\n"
    "    {\"record\": \"uri\", \"prefix\": \"https://regulars.example/m/\", \"as\": "
    "\"nfc_ndef\"}\n"
    "  ]},\n"
    "  \"qr\": {\"enabled\": true, \"prefixes\": [\"RGM1:\"], \"min_len\": 4, \"max_len\": 32},\n"
    "  \"app_token\": {\"enabled\": true, \"skew_s\": 30, \"max_lifetime_s\": 300,\n"
    "                \"keys\": [\"%s\", \"%s\"]},\n"
    "  \"totp\": {\"enabled\": true, \"prefix\": \"RGW1:\", \"algorithm\": \"sha1\","
    " \"digits\": 6, \"period_s\": 30, \"window\": 1}\n"
    "}\n";

static int parse_cfg(const char *text, struct ident_config *c, char *err, size_t cap)
{
	cJSON *root = NULL;
	int rc = rg_json_parse(text, strlen(text), 65536, &root, err, cap);
	assert_int_equal(rc, 0);
	rc = ident_config_from_json(root, c, err, cap);
	cJSON_Delete(root);
	return rc;
}

static void json_config_documented_example(void **state)
{
	struct rg_ec_key *k1, *k2;
	uint8_t raw[RG_EC_PUB_RAW_LEN];
	char b64[RG_B64URL_LEN(RG_EC_PUB_RAW_LEN) + 1], pem[1024], pem_json[1200], text[4096];
	char err[RG_JSON_ERR_MAX];
	struct ident_config c;
	size_t j = 0;
	(void)state;

	assert_int_equal(rg_ec_key_generate(&k1, rg_rand_system()), 0);
	assert_int_equal(rg_ec_key_generate(&k2, rg_rand_system()), 0);
	assert_int_equal(rg_ec_key_public_raw(k1, raw), RG_EC_PUB_RAW_LEN);
	assert_true(rg_b64url_encode(raw, sizeof raw, b64, sizeof b64) > 0);
	assert_true(rg_ec_key_write_public_pem(k2, pem, sizeof pem) > 0);
	for (size_t i = 0; pem[i] && j + 3 < sizeof pem_json; i++) { /* JSON-escape newlines */
		if (pem[i] == '\n') {
			pem_json[j++] = '\\';
			pem_json[j++] = 'n';
		} else {
			pem_json[j++] = pem[i];
		}
	}
	pem_json[j] = '\0';
	snprintf(text, sizeof text, example_json, b64, pem_json);
	if (parse_cfg(text, &c, err, sizeof err) != 0)
		fail_msg("example config refused: %s", err);
	assert_int_equal(c.loyalty.n_rules, 5);
	assert_int_equal(c.loyalty.rules[0].kind, IDENT_LOYALTY_EAN13);
	assert_string_equal(c.loyalty.rules[0].prefix, "2");
	assert_int_equal(c.loyalty.rules[0].min_len, 13);
	assert_int_equal(c.loyalty.rules[2].kind, IDENT_LOYALTY_LUHN);
	assert_int_equal(c.loyalty.rules[4].charset, IDENT_CHARSET_ALNUM);
	assert_int_equal(c.loyalty.rules[4].max_len, 12);
	assert_int_equal(c.nfc_ndef.n_patterns, 3);
	assert_int_equal(c.nfc_ndef.patterns[0].as, IDENT_TYPE_LOYALTY);
	assert_int_equal(c.nfc_ndef.patterns[1].field, IDENT_NDEF_FIELD_TEXT);
	assert_int_equal(c.nfc_ndef.patterns[2].as, IDENT_TYPE_NFC_NDEF);
	assert_int_equal(c.qr.min_len, 4);
	assert_int_equal(c.app_token.n_keys, 2);
	assert_memory_equal(c.app_token.keys[0], raw, RG_EC_PUB_RAW_LEN);
	assert_int_equal(rg_ec_key_public_raw(k2, raw), RG_EC_PUB_RAW_LEN);
	assert_memory_equal(c.app_token.keys[1], raw, RG_EC_PUB_RAW_LEN);
	assert_int_equal(c.app_token.skew_s, 30);
	assert_int_equal(c.app_token.max_lifetime_s, 300);
	assert_int_equal(c.totp.window, 1);
	rg_ec_key_free(k1);
	rg_ec_key_free(k2);

	/* {} is the defaults */
	struct ident_config d;
	ident_config_default(&d);
	assert_int_equal(parse_cfg("{}", &c, err, sizeof err), 0);
	assert_memory_equal(&c, &d, sizeof c);
	assert_int_equal(ident_config_validate(&d, err, sizeof err), 0);
}

static void json_config_refusals_name_the_key(void **state)
{
	static const struct {
		const char *json, *needle;
	} bad[] = {
	    {"{\"loyalty\": {\"rulez\": []}}", "rulez"},
	    {"{\"colour\": 1}", "colour"},
	    {"{\"loyalty\": {\"rules\": [{\"kind\": \"ean13\", \"extra\": 1}]}}", "extra"},
	    {"{\"loyalty\": {\"rules\": [{\"kind\": \"isbn\"}]}}", "isbn"},
	    {"{\"loyalty\": {\"rules\": [{\"kind\": \"ean13\", \"min_len\": 12}]}}", "fixed"},
	    {"{\"loyalty\": {\"rules\": [{\"kind\": \"pattern\", \"min_len\": 5}]}}", "max_len"},
	    {"{\"loyalty\": {\"rules\": [{\"kind\": \"luhn\", \"min_len\": 1}]}}", "rules[0]"},
	    {"{\"loyalty\": {\"rules\": [{\"kind\": \"luhn\", \"charset\": \"alnum\"}]}}",
	     "charset"},
	    {"{\"loyalty\": {\"rules\": [{\"kind\": \"ean13\", \"prefix\": \"2A\"}]}}", "prefix"},
	    {"{\"loyalty\": {\"rules\": [{\"kind\": \"pattern\", \"prefix\": \"123456\","
	     " \"min_len\": 4, \"max_len\": 8}]}}",
	     "min_len"},
	    {"{\"loyalty\": {\"rules\": []}}", "empty"},
	    {"{\"loyalty\": {\"enabled\": \"yes\"}}", "enabled"},
	    {"{\"nfc_ndef\": {\"patterns\": [{\"record\": \"smart_poster\", \"prefix\": \"x\"}]}}",
	     "record"},
	    {"{\"nfc_ndef\": {\"patterns\": [{\"record\": \"uri\"}]}}", "prefix"},
	    {"{\"nfc_ndef\": {\"patterns\": [{\"record\": \"uri\", \"prefix\": \"\"}]}}", "URI"},
	    {"{\"nfc_ndef\": {\"patterns\": [{\"record\": \"uri\", \"prefix\": \"x\", \"as\":"
	     " \"qr\"}]}}",
	     "as"},
	    {"{\"qr\": {\"prefixes\": [\"RGW1:\"]}}", "overlap"},
	    {"{\"qr\": {\"prefixes\": [\"RG\"]}}", "overlap"},
	    {"{\"qr\": {\"prefixes\": [\"%M\"]}}", "magstripe"},
	    {"{\"qr\": {\"prefixes\": [\"A B\"]}}", "qr.prefixes[0]"},
	    {"{\"qr\": {\"prefixes\": [1]}}", "prefixes"},
	    {"{\"qr\": {\"min_len\": 0}}", "min_len"},
	    {"{\"qr\": {\"min_len\": 9, \"max_len\": 8}}", "min > max"},
	    {"{\"app_token\": {\"skew_s\": 3601}}", "skew_s"},
	    {"{\"app_token\": {\"max_lifetime_s\": 0}}", "max_lifetime_s"},
	    {"{\"app_token\": {\"keys\": [\"AAAA\"]}}", "keys[0]"},
	    {"{\"app_token\": {\"keys\": [\"-----BEGIN PUBLIC KEY-----\\nAAAA\\n-----END PUBLIC "
	     "KEY-----\\n\"]}}",
	     "keys[0]"},
	    {"{\"totp\": {\"digits\": 9}}", "digits"},
	    {"{\"totp\": {\"period_s\": 5}}", "period_s"},
	    {"{\"totp\": {\"window\": 11}}", "window"},
	    {"{\"totp\": {\"algorithm\": \"md5\"}}", "algorithm"},
	    {"{\"totp\": {\"prefix\": \"\"}}", "totp.prefix"},
	    {"{\"totp\": {\"prefix\": \"RGT1.\"}}", "overlap"},
	    {"{\"totp\": 1}", "totp"},
	};
	(void)state;
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct ident_config c;
		char err[RG_JSON_ERR_MAX] = "";
		int rc = parse_cfg(bad[i].json, &c, err, sizeof err);
		if (rc >= 0)
			fail_msg("accepted: %s", bad[i].json);
		if (!strstr(err, bad[i].needle))
			fail_msg("%s: error \"%s\" does not mention \"%s\"", bad[i].json, err,
				 bad[i].needle);
	}
	/* 17 rules */
	char text[2048] = "{\"loyalty\": {\"rules\": [";
	for (int i = 0; i < 17; i++) {
		size_t n = strlen(text);
		snprintf(text + n, sizeof text - n, "%s{\"kind\": \"ean13\"}", i ? "," : "");
	}
	size_t n = strlen(text);
	snprintf(text + n, sizeof text - n, "]}}");
	struct ident_config c;
	char err[RG_JSON_ERR_MAX];
	assert_true(parse_cfg(text, &c, err, sizeof err) < 0);
	assert_non_null(strstr(err, "rules"));
}

static void json_config_refuses_private_keys(void **state)
{
	struct rg_ec_key *k;
	char pem[1024], esc[1200], text[1400], err[RG_JSON_ERR_MAX];
	struct ident_config c;
	size_t j = 0;
	(void)state;
	assert_int_equal(rg_ec_key_generate(&k, rg_rand_system()), 0);
	assert_true(rg_ec_key_write_private_pem(k, pem, sizeof pem) > 0);
	rg_ec_key_free(k);
	for (size_t i = 0; pem[i] && j + 3 < sizeof esc; i++) {
		if (pem[i] == '\n') {
			esc[j++] = '\\';
			esc[j++] = 'n';
		} else {
			esc[j++] = pem[i];
		}
	}
	esc[j] = '\0';
	snprintf(text, sizeof text, "{\"app_token\": {\"keys\": [\"%s\"]}}", esc);
	assert_true(parse_cfg(text, &c, err, sizeof err) < 0);
	assert_non_null(strstr(err, "private key"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(reason_and_type_names_are_stable),
	    cmocka_unit_test_setup_teardown(qr_member_codes, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(text_refusals_before_routing, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(
		token_is_hmac_of_type_and_canonical_under_the_tenant_key, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(construction_errors, fx_setup, fx_teardown),
	    cmocka_unit_test(json_config_documented_example),
	    cmocka_unit_test(json_config_refusals_name_the_key),
	    cmocka_unit_test(json_config_refuses_private_keys),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
