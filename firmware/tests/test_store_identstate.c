/*
 * test_store_identstate.c - the identifier pipeline's replay and TOTP secret
 * stores in the device database: the in-memory stores' contracts (nonces
 * forgotten only after expiry, a full store refuses instead of forgetting a
 * live nonce, one acceptance per TOTP step, re-enrolment starts afresh,
 * erasure), persistence across store_close/store_open, migration 2 on a
 * version-1 file, and a pipeline on these seams refusing a replayed app
 * token and a reused TOTP code, also after a restart.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "common/err.h"
#include "common/ident.h"
#include "common/ident_token.h"
#include "common/ident_totp.h"
#include "store_fixture.h"

static const uint8_t n1[IDENT_TOKEN_NONCE_LEN] = {1}, n2[IDENT_TOKEN_NONCE_LEN] = {2},
		     n3[IDENT_TOKEN_NONCE_LEN] = {3};
static const uint8_t tenant_key[32] = "tenant key of the identstate tst";
static const uint8_t seal_key[RG_AEAD_KEY_LEN] = "totp seal key of the device 0001";
static const uint8_t seed20[] = "12345678901234567890";

static int check_add(struct ident_replay_store *r, const uint8_t *nonce, int64_t forget_at,
		     int64_t now)
{
	return r->ops->check_add(r->priv, nonce, forget_at, now);
}

static int64_t replay_rows(void)
{
	sqlite3 *db = fx_raw();
	int64_t n = fx_int(db, "SELECT count(*) FROM ident_replay");
	/* the trigger-kept counter the capacity check reads agrees */
	assert_int_equal(fx_int(db, "SELECT replay_nonces FROM counters"), n);
	sqlite3_close(db);
	return n;
}

static void replay_forgets_only_after_expiry(void **state)
{
	struct ident_replay_store r;
	struct store *s = fx_open();
	(void)state;
	store_replay_seam(s, &r);
	assert_int_equal(r.ops->version, 1);
	assert_int_equal(check_add(&r, n1, 100, 50), 0);
	assert_int_equal(check_add(&r, n1, 100, 99), 1);
	assert_int_equal(check_add(&r, n1, 500, 99), 1); /* a replay extends nothing */
	assert_int_equal(check_add(&r, n2, 200, 60), 0);
	assert_int_equal(replay_rows(), 2);
	/* at 100 n1 may be forgotten: seeing it again is a new sighting */
	assert_int_equal(check_add(&r, n1, 300, 100), 0);
	assert_int_equal(check_add(&r, n1, 300, 299), 1);
	assert_int_equal(check_add(&r, n2, 200, 199), 1);
	/* expired nonces are dropped as new ones come in */
	assert_int_equal(check_add(&r, n3, 400, 200), 0);
	assert_int_equal(replay_rows(), 2); /* n1 (300) and n3; n2 (200) is gone */
	assert_int_equal(check_add(&r, n2, 250, 200), 0);
	assert_int_equal(check_add(&r, n3, 400, 399), 1);
	store_close(s);
}

static void full_of_live_nonces_is_an_error_not_a_forgetting(void **state)
{
	struct ident_replay_store r;
	struct store *s = fx_open();
	sqlite3 *db;
	sqlite3_stmt *ins;
	uint8_t nonce[IDENT_TOKEN_NONCE_LEN] = {0};
	(void)state;
	store_replay_seam(s, &r);
	/* fill to one below the cap in one transaction (the API would fsync each) */
	db = fx_raw();
	assert_int_equal(sqlite3_exec(db, "BEGIN", NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(
	    sqlite3_prepare_v2(db, "INSERT INTO ident_replay(nonce, forget_at) VALUES (?1, 1000)",
			       -1, &ins, NULL),
	    SQLITE_OK);
	nonce[0] = 0xff;
	for (uint32_t i = 0; i < STORE_REPLAY_MAX - 1; i++) {
		memcpy(nonce + 1, &i, sizeof i);
		sqlite3_bind_blob(ins, 1, nonce, sizeof nonce, SQLITE_STATIC);
		assert_int_equal(sqlite3_step(ins), SQLITE_DONE);
		sqlite3_reset(ins);
	}
	sqlite3_finalize(ins);
	assert_int_equal(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);

	assert_int_equal(check_add(&r, n1, 500, 10), 0); /* the last free place */
	assert_int_equal(check_add(&r, n2, 500, 10), RG_ERR_TOOBIG);
	assert_int_equal(check_add(&r, n1, 500, 10), 1); /* a live nonce is still a replay */
	assert_int_equal(check_add(&r, n2, 500, 499), RG_ERR_TOOBIG);
	assert_int_equal(replay_rows(), STORE_REPLAY_MAX); /* the refusal changed nothing */
	db = fx_raw();
	assert_int_equal(fx_int(db, "SELECT count(*) FROM ident_replay WHERE nonce = x'02'"), 0);
	sqlite3_close(db);
	/* once n1 may be forgotten there is room again, and only for that */
	assert_int_equal(check_add(&r, n2, 900, 500), 0);
	assert_int_equal(check_add(&r, n3, 900, 500), RG_ERR_TOOBIG);
	/* when all have expired everything may go */
	assert_int_equal(check_add(&r, n3, 2000, 1000), 0);
	assert_int_equal(replay_rows(), 1);
	store_close(s);
}

static void nonces_stay_replays_after_a_restart(void **state)
{
	struct ident_replay_store r;
	struct store *s = fx_open();
	(void)state;
	store_replay_seam(s, &r);
	assert_int_equal(check_add(&r, n1, 1000, 10), 0);
	store_close(s);
	s = fx_open();
	store_replay_seam(s, &r);
	assert_int_equal(check_add(&r, n1, 1000, 20), 1);
	assert_int_equal(check_add(&r, n1, 1000, 1000), 0);
	store_close(s);
}

static void secret_store_contract(void **state)
{
	struct ident_secret_store ss;
	struct store *s = fx_open();
	uint8_t sealed[IDENT_TOTP_SEALED_MAX], big[IDENT_TOTP_SEALED_MAX + 1], buf[128];
	char ref[IDENT_REF_MAX + 2];
	(void)state;
	store_secret_seam(s, &ss);
	assert_int_equal(ss.ops->version, 1);
	memset(sealed, 0x5a, sizeof sealed);
	memset(big, 0x5a, sizeof big);
	assert_int_equal(ss.ops->get(ss.priv, "alice", buf, sizeof buf), RG_ERR_NOTFOUND);
	assert_int_equal(ss.ops->advance(ss.priv, "alice", 5), RG_ERR_NOTFOUND);
	assert_int_equal(ss.ops->put(ss.priv, "alice", sealed, 48), 0);
	assert_int_equal(ss.ops->get(ss.priv, "alice", buf, sizeof buf), 48);
	assert_memory_equal(buf, sealed, 48);
	assert_int_equal(ss.ops->get(ss.priv, "alice", buf, 47), RG_ERR_TOOBIG);
	/* bad refs and lengths change nothing */
	assert_int_equal(ss.ops->put(ss.priv, "al ice", sealed, 48), RG_ERR_INVAL);
	assert_int_equal(ss.ops->put(ss.priv, "", sealed, 48), RG_ERR_INVAL);
	memset(ref, 'r', sizeof ref - 1);
	ref[sizeof ref - 1] = '\0';
	assert_int_equal(ss.ops->put(ss.priv, ref, sealed, 48), RG_ERR_INVAL);
	ref[IDENT_REF_MAX] = '\0';
	assert_int_equal(ss.ops->put(ss.priv, ref, sealed, 48), 0); /* 64 is fine */
	assert_int_equal(ss.ops->put(ss.priv, "alice", sealed, 0), RG_ERR_INVAL);
	assert_int_equal(ss.ops->put(ss.priv, "alice", big, sizeof big), RG_ERR_INVAL);
	assert_int_equal(ss.ops->get(ss.priv, "alice", buf, sizeof buf), 48);
	/* one acceptance per step, only later steps */
	assert_int_equal(ss.ops->advance(ss.priv, "alice", 5), 0);
	assert_int_equal(ss.ops->advance(ss.priv, "alice", 5), 1);
	assert_int_equal(ss.ops->advance(ss.priv, "alice", 4), 1);
	assert_int_equal(ss.ops->advance(ss.priv, "alice", 6), 0);
	assert_int_equal(ss.ops->advance(ss.priv, "alice", IDENT_TOTP_NO_STEP), 1);
	/* customers are independent; re-enrolment starts afresh */
	assert_int_equal(ss.ops->put(ss.priv, "bob", sealed, IDENT_TOTP_SEALED_MAX), 0);
	assert_int_equal(ss.ops->advance(ss.priv, "bob", 1), 0);
	assert_int_equal(ss.ops->put(ss.priv, "alice", big + 1, 40), 0);
	assert_int_equal(ss.ops->advance(ss.priv, "alice", 1), 0);
	assert_int_equal(ss.ops->get(ss.priv, "alice", buf, sizeof buf), 40);
	/* erasure */
	assert_int_equal(ss.ops->remove(ss.priv, "alice"), 0);
	assert_int_equal(ss.ops->remove(ss.priv, "alice"), RG_ERR_NOTFOUND);
	assert_int_equal(ss.ops->get(ss.priv, "alice", buf, sizeof buf), RG_ERR_NOTFOUND);
	assert_int_equal(ss.ops->advance(ss.priv, "alice", 9), RG_ERR_NOTFOUND);
	assert_int_equal(ident_totp_forget(&ss, "bob"), 0);
	assert_int_equal(ident_totp_forget(&ss, "bob"), RG_ERR_NOTFOUND);
	store_close(s);
}

static void totp_steps_stay_used_after_a_restart(void **state)
{
	struct ident_secret_store ss;
	struct store *s = fx_open();
	uint8_t sealed[40], buf[64];
	(void)state;
	memset(sealed, 7, sizeof sealed);
	store_secret_seam(s, &ss);
	assert_int_equal(ss.ops->put(ss.priv, "c-1", sealed, sizeof sealed), 0);
	assert_int_equal(ss.ops->advance(ss.priv, "c-1", 1000), 0);
	store_close(s);
	s = fx_open();
	store_secret_seam(s, &ss);
	assert_int_equal(ss.ops->get(ss.priv, "c-1", buf, sizeof buf), (int)sizeof sealed);
	assert_memory_equal(buf, sealed, sizeof sealed);
	assert_int_equal(ss.ops->advance(ss.priv, "c-1", 1000), 1);
	assert_int_equal(ss.ops->advance(ss.priv, "c-1", 1001), 0);
	store_close(s);
}

static void migration_2_upgrades_a_version_1_file(void **state)
{
	struct store *s = fx_open();
	sqlite3 *db;
	char id[STORE_ID_MAX + 1];
	(void)state;
	assert_int_equal(store_schema_version(s), 3);
	assert_int_equal(fx_put(s, "p-1", 1, "Ada Lovelace", "1000001"), 1);
	store_close(s);
	/* take the file back to what migration 1 alone made */
	db = fx_raw();
	assert_int_equal(sqlite3_exec(db,
				      "DROP TABLE tombstones; DROP TABLE sync_state;"
				      "DROP TABLE snapshot_ids;"
				      "DROP TABLE ident_replay; DROP TABLE ident_totp;"
				      "ALTER TABLE counters DROP COLUMN replay_nonces;"
				      "PRAGMA user_version = 1;",
				      NULL, NULL, NULL),
			 SQLITE_OK);
	sqlite3_close(db);
	s = fx_open();
	assert_int_equal(store_schema_version(s), 3);
	assert_int_equal(fx_identify(s, "1000001", id, NULL, 0), 1);
	assert_string_equal(id, "p-1");
	struct ident_replay_store r;
	store_replay_seam(s, &r);
	assert_int_equal(check_add(&r, n1, 100, 1), 0);
	store_close(s);
	assert_int_equal(replay_rows(), 1);
}

/* ---- a pipeline on the store's seams ---- */

struct pipe {
	struct store *s;
	struct ident_replay_store replay;
	struct ident_secret_store secrets;
	struct ident_config cfg;
	struct ident_pipeline *p;
};

static void pipe_open(struct pipe *pp, const uint8_t app_pub[RG_EC_PUB_RAW_LEN])
{
	pp->s = fx_open();
	store_replay_seam(pp->s, &pp->replay);
	store_secret_seam(pp->s, &pp->secrets);
	ident_config_default(&pp->cfg);
	pp->cfg.app_token.n_keys = 1;
	memcpy(pp->cfg.app_token.keys[0], app_pub, RG_EC_PUB_RAW_LEN);
	struct ident_pipeline_params params = {.config = &pp->cfg,
					       .tenant_key = tenant_key,
					       .tenant_key_len = sizeof tenant_key,
					       .totp_seal_key = seal_key,
					       .clock = &fx.clock.clock,
					       .replay = &pp->replay,
					       .secrets = &pp->secrets};
	assert_int_equal(ident_pipeline_new(&params, &pp->p), 0);
}

static void pipe_close(struct pipe *pp)
{
	ident_pipeline_free(pp->p);
	store_close(pp->s);
}

static struct ident_result classify(struct pipe *pp, const char *text)
{
	struct ident_result r;
	assert_int_equal(ident_classify(pp->p, IDENT_SRC_QR, text, strlen(text), &r), 0);
	return r;
}

static void pipeline_refuses_replays_and_reuse_across_restarts(void **state)
{
	struct rg_ec_key *app;
	uint8_t pub[RG_EC_PUB_RAW_LEN], want[RG_TOKEN_LEN];
	char tok[IDENT_TOKEN_TEXT_MAX + 1], code[64];
	struct ident_result r;
	struct pipe pp;
	int64_t now = FX_T0 / 1000;
	uint32_t c;
	(void)state;

	assert_int_equal(rg_ec_key_generate(&app, rg_rand_system()), 0);
	assert_int_equal(rg_ec_key_public_raw(app, pub), RG_EC_PUB_RAW_LEN);
	pipe_open(&pp, pub);

	/* an app token: accepted once, then a replay */
	assert_true(ident_token_issue(app, "cust-0042", now, now + 120, rg_rand_system(), tok,
				      sizeof tok) > 0);
	r = classify(&pp, tok);
	assert_int_equal(r.reason, IDENT_OK);
	assert_int_equal(r.type, IDENT_TYPE_APP_TOKEN);
	assert_int_equal(rg_token(tenant_key, sizeof tenant_key, "app_token", "cust-0042", 9, want),
			 0);
	assert_memory_equal(r.token, want, RG_TOKEN_LEN);
	r = classify(&pp, tok);
	assert_int_equal(r.reason, IDENT_TOKEN_REPLAYED);

	/* a TOTP code: accepted once, then reused */
	assert_int_equal(
	    ident_totp_enrol(&pp.secrets, seal_key, "cust-7", seed20, 20, rg_rand_system()), 0);
	assert_int_equal(ident_totp(IDENT_TOTP_SHA1, seed20, 20, now, 30, 6, &c), 0);
	assert_true(ident_totp_barcode("RGW1:", "cust-7", c, 6, code, sizeof code) > 0);
	r = classify(&pp, code);
	assert_int_equal(r.reason, IDENT_OK);
	assert_int_equal(r.type, IDENT_TYPE_TOTP);
	r = classify(&pp, code);
	assert_int_equal(r.reason, IDENT_TOTP_REUSED);

	/* after a restart (a new store handle, a new pipeline) both stay used */
	pipe_close(&pp);
	rg_clock_manual_advance(&fx.clock, 5 * 1000);
	pipe_open(&pp, pub);
	r = classify(&pp, tok);
	assert_int_equal(r.reason, IDENT_TOKEN_REPLAYED);
	r = classify(&pp, code);
	assert_int_equal(r.reason, IDENT_TOTP_REUSED);
	/* the next step's code is new */
	assert_int_equal(ident_totp(IDENT_TOTP_SHA1, seed20, 20, now + 30, 30, 6, &c), 0);
	assert_true(ident_totp_barcode("RGW1:", "cust-7", c, 6, code, sizeof code) > 0);
	r = classify(&pp, code);
	assert_int_equal(r.reason, IDENT_OK);
	/* a fresh token for the same customer is accepted */
	assert_true(ident_token_issue(app, "cust-0042", now, now + 120, rg_rand_system(), tok,
				      sizeof tok) > 0);
	r = classify(&pp, tok);
	assert_int_equal(r.reason, IDENT_OK);
	/* the sealed secret in the database is not the secret */
	sqlite3 *db = fx_raw();
	assert_int_equal(fx_int(db, "SELECT count(*) FROM ident_totp WHERE "
				    "instr(sealed, CAST('12345678901234567890' AS BLOB)) > 0"),
			 0);
	assert_int_equal(fx_int(db, "SELECT count(*) FROM ident_totp"), 1);
	sqlite3_close(db);
	pipe_close(&pp);
	rg_ec_key_free(app);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, fx_setup, fx_teardown)
	const struct CMUnitTest tests[] = {
	    T(replay_forgets_only_after_expiry),
	    T(full_of_live_nonces_is_an_error_not_a_forgetting),
	    T(nonces_stay_replays_after_a_restart),
	    T(secret_store_contract),
	    T(totp_steps_stay_used_after_a_restart),
	    T(migration_2_upgrades_a_version_1_file),
	    T(pipeline_refuses_replays_and_reuse_across_restarts),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
