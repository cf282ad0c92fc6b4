/*
 * test_token.c - app tokens: issue/verify round trip and the byte layout;
 * refusals for expired, early (with the skew edges), too long-lived,
 * tampered body and signature bytes, unknown key, another key's signature
 * under a known key id, malformed text, replay; key rotation; the in-memory
 * replay store forgetting nonces only after their token expired.
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
#include "fixture.h"

#define NOW (FX_T0_MS / 1000)

struct tk {
	struct fx *f;
	struct rg_ec_key *a, *b; /* a is configured, b is not (until rotation) */
	struct ident_keyring ring;
	struct ident_token_policy pol;
};

static int tk_setup(void **state)
{
	struct tk *t = calloc(1, sizeof *t);
	uint8_t raw[RG_EC_PUB_RAW_LEN];
	void *fs;
	assert_non_null(t);
	fx_setup(&fs);
	t->f = fs;
	assert_int_equal(rg_ec_key_generate(&t->a, rg_rand_system()), 0);
	assert_int_equal(rg_ec_key_generate(&t->b, rg_rand_system()), 0);
	assert_int_equal(rg_ec_key_public_raw(t->a, raw), RG_EC_PUB_RAW_LEN);
	t->f->cfg.app_token.n_keys = 1;
	memcpy(t->f->cfg.app_token.keys[0], raw, sizeof raw);
	fx_reopen(t->f);
	ident_keyring_init(&t->ring);
	assert_int_equal(ident_keyring_add(&t->ring, t->a), 0);
	t->pol.skew_s = IDENT_TOKEN_SKEW_DEFAULT;
	t->pol.max_lifetime_s = IDENT_TOKEN_LIFETIME_DEFAULT;
	*state = t;
	return 0;
}

static int tk_teardown(void **state)
{
	struct tk *t = *state;
	void *fs = t->f;
	ident_keyring_clear(&t->ring);
	rg_ec_key_free(t->a);
	rg_ec_key_free(t->b);
	fx_teardown(&fs);
	free(t);
	return 0;
}

static void issue(const struct rg_ec_key *k, const char *ref, int64_t iat, int64_t exp,
		  char out[IDENT_TOKEN_TEXT_MAX + 1])
{
	int n =
	    ident_token_issue(k, ref, iat, exp, rg_rand_system(), out, IDENT_TOKEN_TEXT_MAX + 1);
	assert_true(n > IDENT_TOKEN_PREFIX_LEN);
	assert_int_equal((size_t)n, strlen(out));
}

static enum ident_reason verify_at(struct tk *t, int64_t now, const char *tok,
				   struct ident_replay_store *replay)
{
	struct ident_token_claims c;
	enum ident_reason why;
	assert_int_equal(
	    ident_token_verify(&t->ring, &t->pol, replay, now, tok, strlen(tok), &c, &why), 0);
	return why;
}

static void issued_token_verifies_and_has_the_documented_layout(void **state)
{
	struct tk *t = *state;
	char tok[IDENT_TOKEN_TEXT_MAX + 1];
	uint8_t bin[IDENT_TOKEN_BIN_MAX], kid[IDENT_TOKEN_KID_LEN];
	struct ident_token_claims c;
	enum ident_reason why;
	int n;

	issue(t->a, "cust-0042", NOW, NOW + 120, tok);
	assert_memory_equal(tok, "RGT1.", 5);
	n = rg_b64url_decode(tok + 5, strlen(tok) - 5, bin, sizeof bin);
	assert_int_equal(n, IDENT_TOKEN_BODY_FIXED + 9 + RG_ECDSA_RAW_LEN);
	assert_int_equal(bin[0], 1);
	assert_int_equal(ident_token_kid(t->a, kid), 0);
	assert_memory_equal(bin + 1, kid, 8);
	assert_int_equal(bin[9], 9);
	assert_memory_equal(bin + 10, "cust-0042", 9);
	/* iat and exp: 8-byte big-endian unix seconds */
	uint64_t iat = 0, exp = 0;
	for (int i = 0; i < 8; i++) {
		iat = iat << 8 | bin[19 + i];
		exp = exp << 8 | bin[27 + i];
	}
	assert_int_equal(iat, (uint64_t)NOW);
	assert_int_equal(exp, (uint64_t)NOW + 120);
	/* the signature is r||s over everything before it */
	assert_int_equal(rg_ecdsa_verify_raw(t->a, bin, (size_t)n - 64, bin + n - 64), 0);

	assert_int_equal(
	    ident_token_verify(&t->ring, &t->pol, NULL, NOW + 5, tok, strlen(tok), &c, &why), 0);
	assert_int_equal(why, IDENT_OK);
	assert_string_equal(c.ref, "cust-0042");
	assert_int_equal(c.ref_len, 9);
	assert_int_equal(c.iat, NOW);
	assert_int_equal(c.exp, NOW + 120);
	assert_memory_equal(c.kid, kid, 8);
	assert_int_equal(ident_token_decode(tok, strlen(tok), &c, &why), 0);
	assert_int_equal(why, IDENT_OK);
	assert_string_equal(c.ref, "cust-0042");
	/* two tokens for the same customer differ (fresh nonce) */
	char tok2[IDENT_TOKEN_TEXT_MAX + 1];
	issue(t->a, "cust-0042", NOW, NOW + 120, tok2);
	assert_string_not_equal(tok, tok2);
	/* the longest reference fits the documented maximum text length */
	char ref[IDENT_REF_MAX + 1];
	memset(ref, 'r', IDENT_REF_MAX);
	ref[IDENT_REF_MAX] = '\0';
	issue(t->a, ref, NOW, NOW + 1, tok);
	assert_int_equal(strlen(tok), IDENT_TOKEN_TEXT_MAX);
	assert_int_equal(verify_at(t, NOW, tok, NULL), IDENT_OK);
}

static void issue_refuses_bad_arguments(void **state)
{
	struct tk *t = *state;
	char tok[IDENT_TOKEN_TEXT_MAX + 1];
	struct rg_ec_key *pub;
	uint8_t raw[RG_EC_PUB_RAW_LEN];
	const struct rg_rand *r = rg_rand_system();

	assert_int_equal(ident_token_issue(t->a, "", NOW, NOW + 1, r, tok, sizeof tok),
			 RG_ERR_INVAL);
	assert_int_equal(ident_token_issue(t->a, "a:b", NOW, NOW + 1, r, tok, sizeof tok),
			 RG_ERR_INVAL);
	assert_int_equal(ident_token_issue(t->a, "a", NOW, NOW, r, tok, sizeof tok), RG_ERR_INVAL);
	assert_int_equal(ident_token_issue(t->a, "a", -1, NOW, r, tok, sizeof tok), RG_ERR_INVAL);
	assert_int_equal(ident_token_issue(t->a, "a", NOW, NOW + 1, r, tok, 100), RG_ERR_INVAL);
	assert_int_equal(rg_ec_key_public_raw(t->a, raw), RG_EC_PUB_RAW_LEN);
	assert_int_equal(rg_ec_key_from_public_raw(&pub, raw), 0);
	assert_int_equal(ident_token_issue(pub, "a", NOW, NOW + 1, r, tok, sizeof tok),
			 RG_ERR_STATE);
	rg_ec_key_free(pub);
}

static void expiry_not_before_and_lifetime_edges(void **state)
{
	struct tk *t = *state;
	const int64_t skew = t->pol.skew_s;
	char tok[IDENT_TOKEN_TEXT_MAX + 1];

	issue(t->a, "c1", NOW, NOW + 120, tok);
	assert_int_equal(verify_at(t, NOW + 119, tok, NULL), IDENT_OK);
	assert_int_equal(verify_at(t, NOW + 120 + skew - 1, tok, NULL), IDENT_OK);
	assert_int_equal(verify_at(t, NOW + 120 + skew, tok, NULL), IDENT_TOKEN_EXPIRED);
	assert_int_equal(verify_at(t, NOW + 100000, tok, NULL), IDENT_TOKEN_EXPIRED);
	assert_int_equal(verify_at(t, NOW - skew, tok, NULL), IDENT_OK);
	assert_int_equal(verify_at(t, NOW - skew - 1, tok, NULL), IDENT_TOKEN_NOT_YET_VALID);
	t->pol.skew_s = 0;
	assert_int_equal(verify_at(t, NOW + 120, tok, NULL), IDENT_TOKEN_EXPIRED);
	assert_int_equal(verify_at(t, NOW - 1, tok, NULL), IDENT_TOKEN_NOT_YET_VALID);
	t->pol.skew_s = skew;

	issue(t->a, "c1", NOW, NOW + t->pol.max_lifetime_s, tok);
	assert_int_equal(verify_at(t, NOW, tok, NULL), IDENT_OK);
	issue(t->a, "c1", NOW, NOW + t->pol.max_lifetime_s + 1, tok);
	assert_int_equal(verify_at(t, NOW, tok, NULL), IDENT_TOKEN_LIFETIME_TOO_LONG);
}

/* Re-encodes bin after a change. */
static void encode(const uint8_t *bin, size_t n, char *out)
{
	memcpy(out, "RGT1.", 5);
	assert_true(rg_b64url_encode(bin, n, out + 5, IDENT_TOKEN_TEXT_MAX + 1 - 5) > 0);
}

static void every_tampered_byte_is_refused(void **state)
{
	struct tk *t = *state;
	char tok[IDENT_TOKEN_TEXT_MAX + 1], bad[IDENT_TOKEN_TEXT_MAX + 1];
	uint8_t bin[IDENT_TOKEN_BIN_MAX], copy[IDENT_TOKEN_BIN_MAX];
	int n;

	issue(t->a, "cust-7", NOW, NOW + 60, tok);
	n = rg_b64url_decode(tok + 5, strlen(tok) - 5, bin, sizeof bin);
	assert_true(n > 64);
	const size_t body = (size_t)n - 64, nonce = body - 16;
	for (size_t i = 0; i < (size_t)n; i++) {
		enum ident_reason why;
		memcpy(copy, bin, (size_t)n);
		copy[i] ^= 0x01;
		encode(copy, (size_t)n, bad);
		why = verify_at(t, NOW, bad, NULL);
		if (why == IDENT_OK)
			fail_msg("flipping byte %zu was accepted", i);
		if (i == 0)
			assert_int_equal(why, IDENT_TOKEN_BAD_VERSION);
		else if (i >= 1 && i < 9)
			assert_int_equal(why, IDENT_TOKEN_UNKNOWN_KEY);
		else if (i == 9)
			assert_int_equal(why, IDENT_TOKEN_MALFORMED);
		else if (i >= nonce) /* ref, nonce, r and s: only the signature notices */
			assert_int_equal(why, IDENT_TOKEN_BAD_SIGNATURE);
	}
	/* a signature of zeros, and one of another message */
	memcpy(copy, bin, (size_t)n);
	memset(copy + body, 0, 64);
	encode(copy, (size_t)n, bad);
	assert_int_equal(verify_at(t, NOW, bad, NULL), IDENT_TOKEN_BAD_SIGNATURE);
	/* ref bytes: still in the charset, so only the signature can tell */
	memcpy(copy, bin, (size_t)n);
	copy[10] = 'C';
	encode(copy, (size_t)n, bad);
	assert_int_equal(verify_at(t, NOW, bad, NULL), IDENT_TOKEN_BAD_SIGNATURE);
	/* the original still verifies */
	assert_int_equal(verify_at(t, NOW, tok, NULL), IDENT_OK);
}

static void other_keys_and_rotation(void **state)
{
	struct tk *t = *state;
	char tok[IDENT_TOKEN_TEXT_MAX + 1], forged[IDENT_TOKEN_TEXT_MAX + 1];
	uint8_t bin[IDENT_TOKEN_BIN_MAX], kid_a[8];
	int n;

	/* signed by b, which the device does not know */
	issue(t->b, "cust-9", NOW, NOW + 60, tok);
	assert_int_equal(verify_at(t, NOW, tok, NULL), IDENT_TOKEN_UNKNOWN_KEY);
	/* signed by b but claiming a's key id */
	n = rg_b64url_decode(tok + 5, strlen(tok) - 5, bin, sizeof bin);
	assert_int_equal(ident_token_kid(t->a, kid_a), 0);
	memcpy(bin + 1, kid_a, 8);
	assert_int_equal(
	    rg_ecdsa_sign_raw(t->b, bin, (size_t)n - 64, bin + n - 64, rg_rand_system()), 0);
	encode(bin, (size_t)n, forged);
	assert_int_equal(verify_at(t, NOW, forged, NULL), IDENT_TOKEN_BAD_SIGNATURE);
	/* rotation: both keys configured, tokens of either verify */
	assert_int_equal(ident_keyring_add(&t->ring, t->b), 0);
	assert_int_equal(verify_at(t, NOW, tok, NULL), IDENT_OK);
	issue(t->a, "cust-9", NOW, NOW + 60, tok);
	assert_int_equal(verify_at(t, NOW, tok, NULL), IDENT_OK);
	assert_int_equal(verify_at(t, NOW, forged, NULL), IDENT_TOKEN_BAD_SIGNATURE);
	assert_int_equal(ident_keyring_add(&t->ring, t->b), RG_ERR_EXISTS);
	/* the keyring is bounded */
	for (size_t i = t->ring.n; i < IDENT_APP_KEYS_MAX; i++) {
		struct rg_ec_key *k;
		assert_int_equal(rg_ec_key_generate(&k, rg_rand_system()), 0);
		assert_int_equal(ident_keyring_add(&t->ring, k), 0);
		rg_ec_key_free(k);
	}
	assert_int_equal(ident_keyring_add(&t->ring, t->a), RG_ERR_TOOBIG);
	/* a raw point off the curve */
	uint8_t raw[RG_EC_PUB_RAW_LEN] = {0x04, 1, 2, 3};
	struct ident_keyring r2;
	ident_keyring_init(&r2);
	assert_int_equal(ident_keyring_add_raw(&r2, raw), RG_ERR_PARSE);
	assert_int_equal(r2.n, 0);
}

static void malformed_truncated_and_oversized_text(void **state)
{
	struct tk *t = *state;
	char tok[IDENT_TOKEN_TEXT_MAX + 1], bad[2 * IDENT_TOKEN_TEXT_MAX];
	uint8_t bin[IDENT_TOKEN_BIN_MAX];
	int n;

	issue(t->a, "cust-1", NOW, NOW + 60, tok);
	const size_t len = strlen(tok);
	/* every truncation */
	for (size_t cut = 0; cut < len; cut++) {
		memcpy(bad, tok, cut);
		bad[cut] = '\0';
		if (verify_at(t, NOW, bad, NULL) != IDENT_TOKEN_MALFORMED)
			fail_msg("truncated to %zu not malformed", cut);
	}
	/* appended bytes, padding, a stray character, another prefix */
	snprintf(bad, sizeof bad, "%sAAAA", tok);
	assert_int_equal(verify_at(t, NOW, bad, NULL), IDENT_TOKEN_MALFORMED);
	snprintf(bad, sizeof bad, "%s=", tok);
	assert_int_equal(verify_at(t, NOW, bad, NULL), IDENT_TOKEN_MALFORMED);
	memcpy(bad, tok, len + 1);
	bad[20] = '*';
	assert_int_equal(verify_at(t, NOW, bad, NULL), IDENT_TOKEN_MALFORMED);
	memcpy(bad, tok, len + 1);
	bad[3] = '2';
	assert_int_equal(verify_at(t, NOW, bad, NULL), IDENT_TOKEN_MALFORMED);
	/* oversized: longer than any token, even as valid base64url */
	memcpy(bad, "RGT1.", 5);
	memset(bad + 5, 'A', IDENT_TOKEN_TEXT_MAX);
	bad[5 + IDENT_TOKEN_TEXT_MAX] = '\0';
	assert_int_equal(verify_at(t, NOW, bad, NULL), IDENT_TOKEN_MALFORMED);
	/* version 2, and ref_len disagreeing with the length */
	n = rg_b64url_decode(tok + 5, len - 5, bin, sizeof bin);
	bin[0] = 2;
	encode(bin, (size_t)n, bad);
	assert_int_equal(verify_at(t, NOW, bad, NULL), IDENT_TOKEN_BAD_VERSION);
	bin[0] = 1;
	bin[9] = 7;
	encode(bin, (size_t)n, bad);
	assert_int_equal(verify_at(t, NOW, bad, NULL), IDENT_TOKEN_MALFORMED);
	bin[9] = 6;
	bin[10] = ':'; /* reference outside [A-Za-z0-9._-] */
	encode(bin, (size_t)n, bad);
	assert_int_equal(verify_at(t, NOW, bad, NULL), IDENT_TOKEN_MALFORMED);
}

static void pipeline_accepts_once_then_refuses_replay(void **state)
{
	struct tk *t = *state;
	struct fx *f = t->f;
	char tok[IDENT_TOKEN_TEXT_MAX + 1];
	struct ident_result r;

	issue(t->a, "cust-0042", NOW, NOW + 120, tok);
	r = fx_text(f, IDENT_SRC_QR, tok);
	fx_assert_ok(f, &r, IDENT_TYPE_APP_TOKEN, "cust-0042");
	r = fx_text(f, IDENT_SRC_QR, tok);
	fx_assert_refused(&r, IDENT_TOKEN_REPLAYED, "second scan");
	assert_int_equal(r.type, IDENT_TYPE_APP_TOKEN);
	r = fx_text(f, IDENT_SRC_BARCODE, tok);
	fx_assert_refused(&r, IDENT_TOKEN_REPLAYED, "third scan on a wedge");
	/* a new token for the same customer: accepted, same identifier token */
	issue(t->a, "cust-0042", NOW, NOW + 120, tok);
	r = fx_text(f, IDENT_SRC_QR, tok);
	fx_assert_ok(f, &r, IDENT_TYPE_APP_TOKEN, "cust-0042");
	/* past expiry the replayed token is expired, not replayed */
	rg_clock_manual_advance(&f->clock, (120 + f->cfg.app_token.skew_s) * 1000);
	r = fx_text(f, IDENT_SRC_QR, tok);
	fx_assert_refused(&r, IDENT_TOKEN_EXPIRED, "after expiry");
}

static void early_token_is_not_consumed(void **state)
{
	struct tk *t = *state;
	struct fx *f = t->f;
	char tok[IDENT_TOKEN_TEXT_MAX + 1];
	struct ident_result r;
	const int64_t iat = NOW + 600;

	issue(t->a, "cust-5", iat, iat + 120, tok);
	r = fx_text(f, IDENT_SRC_QR, tok);
	fx_assert_refused(&r, IDENT_TOKEN_NOT_YET_VALID, "early");
	rg_clock_manual_advance(&f->clock, 600 * 1000);
	r = fx_text(f, IDENT_SRC_QR, tok);
	fx_assert_ok(f, &r, IDENT_TYPE_APP_TOKEN, "cust-5");
	/* a tampered or unknown-key token never reaches the replay store */
	assert_int_equal(ident_replay_mem_count(f->replay, NOW + 600), 1);
}

static void replay_store_forgets_only_after_expiry(void **state)
{
	struct ident_replay_store *s;
	const uint8_t n1[16] = {1}, n2[16] = {2}, n3[16] = {3};
	(void)state;

	assert_int_equal(ident_replay_mem_new(0, &s), RG_ERR_RANGE);
	assert_int_equal(ident_replay_mem_new(2, &s), 0);
	assert_int_equal(s->ops->check_add(s->priv, n1, 100, 50), 0);
	assert_int_equal(s->ops->check_add(s->priv, n1, 100, 99), 1);
	assert_int_equal(s->ops->check_add(s->priv, n2, 200, 60), 0);
	/* full of live nonces: refuse rather than forget one early */
	assert_int_equal(s->ops->check_add(s->priv, n3, 300, 99), RG_ERR_TOOBIG);
	assert_int_equal(s->ops->check_add(s->priv, n1, 100, 99), 1);
	assert_int_equal(ident_replay_mem_count(s, 99), 2);
	/* at n1's forget time it may go: room for n3 */
	assert_int_equal(s->ops->check_add(s->priv, n3, 300, 100), 0);
	assert_int_equal(s->ops->check_add(s->priv, n2, 200, 199), 1);
	assert_int_equal(s->ops->check_add(s->priv, n3, 300, 299), 1);
	assert_int_equal(ident_replay_mem_count(s, 200), 1);
	ident_replay_mem_free(s);
}

static void full_replay_store_is_an_error_not_an_acceptance(void **state)
{
	struct tk *t = *state;
	struct fx *f = t->f;
	char tok[IDENT_TOKEN_TEXT_MAX + 1];
	struct ident_result r;
	struct ident_replay_store *small;

	assert_int_equal(ident_replay_mem_new(1, &small), 0);
	ident_replay_mem_free(f->replay);
	f->replay = small;
	fx_reopen(f);
	issue(t->a, "c", NOW, NOW + 60, tok);
	r = fx_text(f, IDENT_SRC_QR, tok);
	assert_int_equal(r.reason, IDENT_OK);
	issue(t->a, "c", NOW, NOW + 60, tok);
	assert_int_equal(ident_classify(f->p, IDENT_SRC_QR, tok, strlen(tok), &r), RG_ERR_TOOBIG);
	assert_int_not_equal(r.reason, IDENT_OK); /* never "ok" on an error ... */
	static const uint8_t zero[RG_TOKEN_LEN];
	assert_memory_equal(r.token, zero, RG_TOKEN_LEN); /* ... with no token */
	/* once the first token has expired there is room again */
	rg_clock_manual_advance(&f->clock, (60 + f->cfg.app_token.skew_s) * 1000);
	issue(t->a, "c", NOW + 120, NOW + 180, tok);
	r = fx_text(f, IDENT_SRC_QR, tok);
	assert_int_equal(r.reason, IDENT_OK);
}

static void app_tokens_can_be_disabled(void **state)
{
	struct tk *t = *state;
	struct fx *f = t->f;
	char tok[IDENT_TOKEN_TEXT_MAX + 1];
	struct ident_result r;

	f->cfg.app_token.enabled = false;
	fx_reopen(f);
	issue(t->a, "c", NOW, NOW + 60, tok);
	r = fx_text(f, IDENT_SRC_QR, tok);
	fx_assert_refused(&r, IDENT_TYPE_DISABLED, "disabled");
	assert_int_equal(r.type, IDENT_TYPE_APP_TOKEN);
}

/* The worked example of docs/app-token.md: other teams test against it. */
static void documented_example_token_verifies(void **state)
{
	static const char pub[] = "BPGslXWXkWAsnrdhj8WOzbLnr48OKj3OrTAeuZs5IItr2PHse77i4j_"
				  "a6ozqplkfn8WZA40jfdinClcrfyPgL34";
	static const char tok[] =
	    "RGT1.AVDSwJtQY8n8CWN1c3QtMDA0MgAAAABpVbkAAAAAAGlVuXgAAQIDBAUGBwgJCgsMDQ4P9Vj7YWZMPsND"
	    "CWZ0eVJkmsUIwUvYv_AZosE48NQsa-kB00qpAD3x3XuB1vx03EKhEo_swxBkIynlSAwWOvWppQ";
	static const uint8_t kid[8] = {0x50, 0xd2, 0xc0, 0x9b, 0x50, 0x63, 0xc9, 0xfc};
	struct ident_keyring ring;
	struct ident_token_policy pol = {.skew_s = 60, .max_lifetime_s = 600};
	struct ident_token_claims c;
	enum ident_reason why;
	uint8_t raw[RG_EC_PUB_RAW_LEN];
	(void)state;

	assert_int_equal(rg_b64url_decode(pub, strlen(pub), raw, sizeof raw), RG_EC_PUB_RAW_LEN);
	ident_keyring_init(&ring);
	assert_int_equal(ident_keyring_add_raw(&ring, raw), 0);
	assert_memory_equal(ring.keys[0].kid, kid, 8);
	assert_int_equal(
	    ident_token_verify(&ring, &pol, NULL, 1767225630, tok, strlen(tok), &c, &why), 0);
	assert_int_equal(why, IDENT_OK);
	assert_string_equal(c.ref, "cust-0042");
	assert_int_equal(c.iat, 1767225600);
	assert_int_equal(c.exp, 1767225720);
	for (int i = 0; i < 16; i++)
		assert_int_equal(c.nonce[i], i);
	assert_int_equal(
	    ident_token_verify(&ring, &pol, NULL, 1767225780, tok, strlen(tok), &c, &why), 0);
	assert_int_equal(why, IDENT_TOKEN_EXPIRED);
	ident_keyring_clear(&ring);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, tk_setup, tk_teardown)
	const struct CMUnitTest tests[] = {
	    T(issued_token_verifies_and_has_the_documented_layout),
	    T(issue_refuses_bad_arguments),
	    T(expiry_not_before_and_lifetime_edges),
	    T(every_tampered_byte_is_refused),
	    T(other_keys_and_rotation),
	    T(malformed_truncated_and_oversized_text),
	    T(pipeline_accepts_once_then_refuses_replay),
	    T(early_token_is_not_consumed),
	    cmocka_unit_test(replay_store_forgets_only_after_expiry),
	    T(full_replay_store_is_an_error_not_an_acceptance),
	    T(app_tokens_can_be_disabled),
	    cmocka_unit_test(documented_example_token_verifies),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
