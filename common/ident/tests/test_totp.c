/*
 * test_totp.c - TOTP wallet barcodes: RFC 4226 HOTP and RFC 6238 appendix B
 * vectors (SHA-1/256/512), window edges, one acceptance per time step (reuse
 * and earlier steps refused), malformed barcodes, unknown customers, secrets
 * held sealed and bound to their customer reference, erasure.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/err.h"
#include "fixture.h"

static const uint8_t seed20[] = "12345678901234567890";
static const uint8_t seed32[] = "12345678901234567890123456789012";
static const uint8_t seed64[] = "1234567890123456789012345678901234567890123456789012345678901234";

static void rfc4226_hotp_vectors(void **state)
{
	static const uint32_t want[] = {755224, 287082, 359152, 969429, 338314,
					254676, 287922, 162583, 399871, 520489};
	(void)state;
	for (uint64_t c = 0; c < 10; c++) {
		uint32_t code;
		assert_int_equal(ident_hotp(IDENT_TOTP_SHA1, seed20, 20, c, 6, &code), 0);
		assert_int_equal(code, want[c]);
	}
}

static void rfc6238_appendix_b_vectors(void **state)
{
	static const struct {
		int64_t t;
		uint32_t sha1, sha256, sha512;
	} v[] = {
	    {59, 94287082, 46119246, 90693936},		{1111111109, 7081804, 68084774, 25091201},
	    {1111111111, 14050471, 67062674, 99943326}, {1234567890, 89005924, 91819424, 93441116},
	    {2000000000, 69279037, 90698825, 38618901}, {20000000000, 65353130, 77737706, 47863826},
	};
	(void)state;
	for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
		uint32_t c;
		assert_int_equal(ident_totp(IDENT_TOTP_SHA1, seed20, 20, v[i].t, 30, 8, &c), 0);
		assert_int_equal(c, v[i].sha1);
		assert_int_equal(ident_totp(IDENT_TOTP_SHA256, seed32, 32, v[i].t, 30, 8, &c), 0);
		assert_int_equal(c, v[i].sha256);
		assert_int_equal(ident_totp(IDENT_TOTP_SHA512, seed64, 64, v[i].t, 30, 8, &c), 0);
		assert_int_equal(c, v[i].sha512);
	}
	uint32_t c;
	/* docs/app-token.md's worked example: 6 digits at 1111111109 */
	assert_int_equal(ident_totp(IDENT_TOTP_SHA1, seed20, 20, 1111111109, 30, 6, &c), 0);
	assert_int_equal(c, 81804);
	assert_int_equal(ident_totp(IDENT_TOTP_SHA1, seed20, 20, -1, 30, 8, &c), RG_ERR_INVAL);
	assert_int_equal(ident_totp(IDENT_TOTP_SHA1, seed20, 20, 59, 30, 5, &c), RG_ERR_INVAL);
	assert_int_equal(ident_totp(IDENT_TOTP_SHA1, seed20, 20, 59, 30, 9, &c), RG_ERR_INVAL);
}

static void barcode_text_is_zero_padded(void **state)
{
	char b[64];
	(void)state;
	assert_int_equal(ident_totp_barcode("RGW1:", "c-1", 123, 6, b, sizeof b), 15);
	assert_string_equal(b, "RGW1:c-1:000123");
	assert_int_equal(ident_totp_barcode("RGW1:", "c-1", 123, 8, b, sizeof b), 17);
	assert_string_equal(b, "RGW1:c-1:00000123");
	assert_int_equal(ident_totp_barcode("RGW1:", "c-1", 1000000, 6, b, sizeof b), RG_ERR_INVAL);
	assert_int_equal(ident_totp_barcode("RGW1:", "c:1", 1, 6, b, sizeof b), RG_ERR_INVAL);
	assert_int_equal(ident_totp_barcode("RGW1:", "c-1", 1, 6, b, 10), RG_ERR_TOOBIG);
}

/* The barcode a wallet would show for ref at unix time t. */
static void code_at(const struct fx *f, const char *ref, const uint8_t *secret, size_t len,
		    int64_t t, char *out, size_t cap)
{
	uint32_t c;
	assert_int_equal(ident_totp(f->cfg.totp.alg, secret, len, t, f->cfg.totp.period_s,
				    f->cfg.totp.digits, &c),
			 0);
	assert_true(ident_totp_barcode(f->cfg.totp.prefix, ref, c, f->cfg.totp.digits, out, cap) >
		    0);
}

static void enrol(struct fx *f, const char *ref, const uint8_t *secret, size_t len)
{
	assert_int_equal(
	    ident_totp_enrol(f->secrets, fx_seal_key, ref, secret, len, rg_rand_system()), 0);
}

#define NOW (FX_T0_MS / 1000) /* a multiple of 30 plus 20 */

static void window_edges(void **state)
{
	struct fx *f = *state;
	char b[64];
	struct ident_result r;
	/* window 1: steps -1, 0, +1 accepted; -2 and +2 are not */
	static const struct {
		int64_t dt;
		enum ident_reason why;
	} cases[] = {
	    {-60, IDENT_TOTP_OUT_OF_WINDOW}, {-30, IDENT_OK}, {0, IDENT_OK}, {30, IDENT_OK},
	    {60, IDENT_TOTP_OUT_OF_WINDOW},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char ref[16], what[32];
		snprintf(ref, sizeof ref, "cust-%zu", i);
		enrol(f, ref, seed20, 20);
		code_at(f, ref, seed20, 20, NOW + cases[i].dt, b, sizeof b);
		r = fx_text(f, IDENT_SRC_QR, b);
		snprintf(what, sizeof what, "dt %lld", (long long)cases[i].dt);
		if (cases[i].why == IDENT_OK)
			fx_assert_ok(f, &r, IDENT_TYPE_TOTP, ref);
		else
			fx_assert_refused(&r, cases[i].why, what);
	}
	/* the step boundary: NOW is 20 s into its step; 10 s later is the next step */
	assert_int_equal(NOW % 30, 20);
	enrol(f, "edge", seed20, 20);
	code_at(f, "edge", seed20, 20, NOW - 60, b, sizeof b); /* step - 2 */
	rg_clock_manual_advance(&f->clock, 9 * 1000);	       /* still step */
	r = fx_text(f, IDENT_SRC_QR, b);
	fx_assert_refused(&r, IDENT_TOTP_OUT_OF_WINDOW, "two steps back");
	code_at(f, "edge", seed20, 20, NOW + 40, b, sizeof b); /* step + 2 */
	rg_clock_manual_advance(&f->clock, 1000);	       /* now step + 1 */
	r = fx_text(f, IDENT_SRC_QR, b);
	fx_assert_ok(f, &r, IDENT_TYPE_TOTP, "edge");
	/* window 0: only the current step */
	f->cfg.totp.window = 0;
	fx_reopen(f);
	enrol(f, "w0", seed20, 20);
	code_at(f, "w0", seed20, 20, NOW - 20, b, sizeof b); /* the step before now */
	r = fx_text(f, IDENT_SRC_QR, b);
	fx_assert_refused(&r, IDENT_TOTP_OUT_OF_WINDOW, "window 0, previous step");
	code_at(f, "w0", seed20, 20, NOW + 10, b, sizeof b);
	r = fx_text(f, IDENT_SRC_QR, b);
	fx_assert_ok(f, &r, IDENT_TYPE_TOTP, "w0");
}

static void each_step_is_accepted_once(void **state)
{
	struct fx *f = *state;
	char now_code[64], prev_code[64], next_code[64];
	struct ident_result r;

	enrol(f, "cust-1", seed20, 20);
	code_at(f, "cust-1", seed20, 20, NOW, now_code, sizeof now_code);
	code_at(f, "cust-1", seed20, 20, NOW - 30, prev_code, sizeof prev_code);
	code_at(f, "cust-1", seed20, 20, NOW + 30, next_code, sizeof next_code);
	r = fx_text(f, IDENT_SRC_BARCODE, now_code);
	fx_assert_ok(f, &r, IDENT_TYPE_TOTP, "cust-1");
	r = fx_text(f, IDENT_SRC_BARCODE, now_code);
	fx_assert_refused(&r, IDENT_TOTP_REUSED, "same code again");
	assert_int_equal(r.type, IDENT_TYPE_TOTP);
	r = fx_text(f, IDENT_SRC_BARCODE, prev_code); /* an older screenshot */
	fx_assert_refused(&r, IDENT_TOTP_REUSED, "earlier step");
	r = fx_text(f, IDENT_SRC_BARCODE, next_code);
	fx_assert_ok(f, &r, IDENT_TYPE_TOTP, "cust-1");
	r = fx_text(f, IDENT_SRC_BARCODE, now_code);
	fx_assert_refused(&r, IDENT_TOTP_REUSED, "step before the last accepted");
	/* another customer's steps are independent */
	enrol(f, "cust-2", seed32, 32);
	code_at(f, "cust-2", seed32, 32, NOW, now_code, sizeof now_code);
	r = fx_text(f, IDENT_SRC_BARCODE, now_code);
	fx_assert_ok(f, &r, IDENT_TYPE_TOTP, "cust-2");
	/* re-enrolment (a new secret) starts afresh */
	enrol(f, "cust-1", seed32, 32);
	code_at(f, "cust-1", seed32, 32, NOW, now_code, sizeof now_code);
	r = fx_text(f, IDENT_SRC_BARCODE, now_code);
	fx_assert_ok(f, &r, IDENT_TYPE_TOTP, "cust-1");
}

static void malformed_barcodes_and_unknown_customers(void **state)
{
	static const struct {
		const char *text;
		enum ident_reason why;
	} cases[] = {
	    {"RGW1:", IDENT_TOTP_MALFORMED},
	    {"RGW1:cust-1", IDENT_TOTP_MALFORMED},
	    {"RGW1:cust-1:", IDENT_TOTP_MALFORMED},
	    {"RGW1:cust-1:12345", IDENT_TOTP_MALFORMED},
	    {"RGW1:cust-1:1234567", IDENT_TOTP_MALFORMED},
	    {"RGW1:cust-1:12345a", IDENT_TOTP_MALFORMED},
	    {"RGW1:cust-1:-12345", IDENT_TOTP_MALFORMED},
	    {"RGW1::123456", IDENT_TOTP_MALFORMED},
	    {"RGW1:cust 1:123456", IDENT_TOTP_MALFORMED},
	    {"RGW1:a:b:123456", IDENT_TOTP_MALFORMED},
	    {"RGW1:nobody:123456", IDENT_TOTP_UNKNOWN_CUSTOMER},
	    {"RGW1:cust-1:000000", IDENT_TOTP_OUT_OF_WINDOW}, /* not this secret's code */
	};
	struct fx *f = *state;
	char b[64];
	uint32_t c;

	enrol(f, "cust-1", seed20, 20);
	/* make sure the "wrong code" case really is wrong at NOW */
	for (int k = -1; k <= 1; k++) {
		assert_int_equal(ident_totp(IDENT_TOTP_SHA1, seed20, 20, NOW + 30 * k, 30, 6, &c),
				 0);
		assert_int_not_equal(c, 0);
	}
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct ident_result r = fx_text(f, IDENT_SRC_QR, cases[i].text);
		fx_assert_refused(&r, cases[i].why, cases[i].text);
		assert_int_equal(r.type, IDENT_TYPE_TOTP);
	}
	/* a ref longer than IDENT_REF_MAX */
	char ref[IDENT_REF_MAX + 2];
	memset(ref, 'a', sizeof ref - 1);
	ref[sizeof ref - 1] = '\0';
	snprintf(b, sizeof b, "RGW1:%.*s:123456", 50, ref);
	struct ident_result r = fx_text(f, IDENT_SRC_QR, b);
	fx_assert_refused(&r, IDENT_TOTP_UNKNOWN_CUSTOMER, "50-char ref");
	char big[128];
	snprintf(big, sizeof big, "RGW1:%s:123456", ref);
	r = fx_text(f, IDENT_SRC_QR, big);
	fx_assert_refused(&r, IDENT_TOTP_MALFORMED, "65-char ref");
}

static void secrets_are_sealed_and_bound_to_their_customer(void **state)
{
	struct fx *f = *state;
	uint8_t sealed[IDENT_TOTP_SEALED_MAX];
	char b[64];
	struct ident_result r;
	int n;

	enrol(f, "alice", seed20, 20);
	enrol(f, "bob", seed32, 32);
	n = f->secrets->ops->get(f->secrets->priv, "alice", sealed, sizeof sealed);
	assert_int_equal(n, 20 + RG_AEAD_OVERHEAD);
	for (int i = 0; i + 20 <= n; i++)
		assert_memory_not_equal(sealed + i, seed20, 20);
	/* alice's sealed secret moved to bob does not open: an error, not a code */
	assert_int_equal(f->secrets->ops->put(f->secrets->priv, "bob", sealed, (size_t)n), 0);
	code_at(f, "bob", seed20, 20, NOW, b, sizeof b);
	assert_int_equal(ident_classify(f->p, IDENT_SRC_QR, b, strlen(b), &r), RG_ERR_VERIFY);
	assert_int_equal(r.reason, IDENT__REASON_COUNT); /* never "ok" on an error */
	/* a flipped byte does not open either */
	sealed[n - 1] ^= 1;
	assert_int_equal(f->secrets->ops->put(f->secrets->priv, "alice", sealed, (size_t)n), 0);
	code_at(f, "alice", seed20, 20, NOW, b, sizeof b);
	assert_int_equal(ident_classify(f->p, IDENT_SRC_QR, b, strlen(b), &r), RG_ERR_VERIFY);
	/* nor under another device's seal key */
	enrol(f, "carol", seed20, 20);
	uint8_t other[RG_AEAD_KEY_LEN] = "another device's seal key 00000";
	struct ident_pipeline *p2;
	struct ident_pipeline_params pp = {.config = &f->cfg,
					   .tenant_key = fx_tenant_key,
					   .tenant_key_len = sizeof fx_tenant_key,
					   .totp_seal_key = other,
					   .clock = &f->clock.clock,
					   .replay = f->replay,
					   .secrets = f->secrets};
	assert_int_equal(ident_pipeline_new(&pp, &p2), 0);
	code_at(f, "carol", seed20, 20, NOW, b, sizeof b);
	assert_int_equal(ident_classify(p2, IDENT_SRC_QR, b, strlen(b), &r), RG_ERR_VERIFY);
	ident_pipeline_free(p2);
	r = fx_text(f, IDENT_SRC_QR, b);
	fx_assert_ok(f, &r, IDENT_TYPE_TOTP, "carol");
	/* enrolment bounds */
	assert_int_equal(
	    ident_totp_enrol(f->secrets, fx_seal_key, "x", seed20, 9, rg_rand_system()),
	    RG_ERR_INVAL);
	assert_int_equal(
	    ident_totp_enrol(f->secrets, fx_seal_key, "x", seed64, 65, rg_rand_system()),
	    RG_ERR_INVAL);
	assert_int_equal(
	    ident_totp_enrol(f->secrets, fx_seal_key, "x:y", seed20, 20, rg_rand_system()),
	    RG_ERR_INVAL);
	/* erasure */
	assert_int_equal(ident_totp_forget(f->secrets, "carol"), 0);
	assert_int_equal(ident_totp_forget(f->secrets, "carol"), RG_ERR_NOTFOUND);
	r = fx_text(f, IDENT_SRC_QR, b);
	fx_assert_refused(&r, IDENT_TOTP_UNKNOWN_CUSTOMER, "after erasure");
}

static void configured_algorithm_digits_period_and_prefix(void **state)
{
	struct fx *f = *state;
	char b[64];
	struct ident_result r;

	f->cfg.totp.alg = IDENT_TOTP_SHA256;
	f->cfg.totp.digits = 8;
	f->cfg.totp.period_s = 60;
	memcpy(f->cfg.totp.prefix, "WAL:", 5);
	fx_reopen(f);
	enrol(f, "c8", seed32, 32);
	code_at(f, "c8", seed32, 32, NOW - 60, b, sizeof b);
	assert_int_equal(strlen(b), strlen("WAL:c8:") + 8);
	r = fx_text(f, IDENT_SRC_QR, b);
	fx_assert_ok(f, &r, IDENT_TYPE_TOTP, "c8");
	/* a SHA-1 code for the same secret is not accepted */
	uint32_t c;
	assert_int_equal(ident_totp(IDENT_TOTP_SHA1, seed32, 32, NOW, 60, 8, &c), 0);
	ident_totp_barcode("WAL:", "c8", c, 8, b, sizeof b);
	r = fx_text(f, IDENT_SRC_QR, b);
	fx_assert_refused(&r, IDENT_TOTP_OUT_OF_WINDOW, "sha1 code under sha256");
	/* the old prefix is no longer TOTP: it is not a loyalty id either */
	r = fx_text(f, IDENT_SRC_QR, "RGW1:c8:12345678");
	fx_assert_refused(&r, IDENT_BAD_CHARSET, "old prefix");
	f->cfg.totp.enabled = false;
	fx_reopen(f);
	r = fx_text(f, IDENT_SRC_QR, b);
	fx_assert_refused(&r, IDENT_TYPE_DISABLED, "totp disabled");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(rfc4226_hotp_vectors),
	    cmocka_unit_test(rfc6238_appendix_b_vectors),
	    cmocka_unit_test(barcode_text_is_zero_padded),
	    cmocka_unit_test_setup_teardown(window_edges, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(each_step_is_accepted_once, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(malformed_barcodes_and_unknown_customers, fx_setup,
					    fx_teardown),
	    cmocka_unit_test_setup_teardown(secrets_are_sealed_and_bound_to_their_customer,
					    fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(configured_algorithm_digits_period_and_prefix, fx_setup,
					    fx_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
