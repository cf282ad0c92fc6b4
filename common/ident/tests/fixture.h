/*
 * fixture.h - what the ident unit tests share: a pipeline on a manual clock
 * with in-memory replay and secret stores, fixed test keys, and helpers that
 * classify text or bytes and compute the token a case should produce.
 */
#ifndef IDENT_TEST_FIXTURE_H
#define IDENT_TEST_FIXTURE_H

#include <stddef.h>
#include <stdint.h>

#include "common/clock.h"
#include "common/crypto.h"
#include "common/ident.h"
#include "common/ident_token.h"
#include "common/ident_totp.h"

#define FX_T0_MS INT64_C(1700000000000) /* 2023-11-14T22:13:20Z */

extern const uint8_t fx_tenant_key[32];
extern const uint8_t fx_seal_key[RG_AEAD_KEY_LEN];

struct fx {
	struct rg_clock_manual clock;
	struct ident_config cfg;
	struct ident_replay_store *replay;
	struct ident_secret_store *secrets;
	struct ident_pipeline *p;
	char canon[IDENT_CANON_MAX + 1];
};

/* cmocka setup/teardown: *state becomes a struct fx with the default
 * config, the clock at FX_T0_MS and an open pipeline. */
int fx_setup(void **state);
int fx_teardown(void **state);
/* Rebuild the pipeline from f->cfg (after a test changed it); keeps stores. */
void fx_reopen(struct fx *f);

/* Classify; fails the test on a negative return. canon in f->canon. */
struct ident_result fx_text(struct fx *f, enum ident_source src, const char *text);
struct ident_result fx_bytes(struct fx *f, enum ident_source src, const void *b, size_t n);
/* Asserts r is accepted with this type, canonical value and its token. */
void fx_assert_ok(const struct fx *f, const struct ident_result *r, enum ident_type type,
		  const char *canon);
/* Asserts r is refused with this reason; prints the case on failure. */
void fx_assert_refused(const struct ident_result *r, enum ident_reason why, const char *what);

#endif
