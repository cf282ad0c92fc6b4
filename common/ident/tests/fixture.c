/*
 * fixture.c - the shared test fixture of the ident unit tests (fixture.h).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/err.h"
#include "common/log.h"
#include "fixture.h"

const uint8_t fx_tenant_key[32] = "ident test tenant identifier k1";
const uint8_t fx_seal_key[RG_AEAD_KEY_LEN] = "ident test totp sealing key 001";

void fx_reopen(struct fx *f)
{
	struct ident_pipeline_params pp = {
	    .config = &f->cfg,
	    .tenant_key = fx_tenant_key,
	    .tenant_key_len = sizeof fx_tenant_key,
	    .totp_seal_key = fx_seal_key,
	    .clock = &f->clock.clock,
	    .replay = f->replay,
	    .secrets = f->secrets,
	};
	ident_pipeline_free(f->p);
	f->p = NULL;
	assert_int_equal(ident_pipeline_new(&pp, &f->p), 0);
}

int fx_setup(void **state)
{
	struct fx *f = calloc(1, sizeof *f);
	assert_non_null(f);
	rg_log_set_level(RG_LOG_WARN);
	rg_clock_manual_init(&f->clock, FX_T0_MS);
	ident_config_default(&f->cfg);
	assert_int_equal(ident_replay_mem_new(64, &f->replay), 0);
	assert_int_equal(ident_secret_mem_new(64, &f->secrets), 0);
	fx_reopen(f);
	*state = f;
	return 0;
}

int fx_teardown(void **state)
{
	struct fx *f = *state;
	ident_pipeline_free(f->p);
	ident_replay_mem_free(f->replay);
	ident_secret_mem_free(f->secrets);
	free(f);
	return 0;
}

struct ident_result fx_bytes(struct fx *f, enum ident_source src, const void *b, size_t n)
{
	struct ident_result r;
	int rc = ident_classify_canonical(f->p, src, b, n, &r, f->canon, sizeof f->canon);
	if (rc < 0)
		fail_msg("ident_classify_canonical: %s", rg_errname(rc));
	return r;
}

struct ident_result fx_text(struct fx *f, enum ident_source src, const char *text)
{
	return fx_bytes(f, src, text, strlen(text));
}

void fx_assert_ok(const struct fx *f, const struct ident_result *r, enum ident_type type,
		  const char *canon)
{
	uint8_t want[RG_TOKEN_LEN];
	if (r->reason != IDENT_OK)
		fail_msg("expected %s \"%s\" accepted, got %s", ident_type_name(type), canon,
			 ident_reason_name(r->reason));
	assert_int_equal(r->type, type);
	assert_string_equal(f->canon, canon);
	assert_int_equal(rg_token(fx_tenant_key, sizeof fx_tenant_key, ident_type_name(type), canon,
				  strlen(canon), want),
			 0);
	assert_memory_equal(r->token, want, RG_TOKEN_LEN);
}

void fx_assert_refused(const struct ident_result *r, enum ident_reason why, const char *what)
{
	static const uint8_t zero[RG_TOKEN_LEN];
	if (r->reason != why)
		fail_msg("%s: expected %s, got %s", what, ident_reason_name(why),
			 ident_reason_name(r->reason));
	assert_memory_equal(r->token, zero, RG_TOKEN_LEN);
}
