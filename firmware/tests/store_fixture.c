/*
 * store_fixture.c - the shared fixture of the store tests: temp dirs made
 * with mkdtemp and removed afterwards, a manual clock so no test sleeps, and
 * small helpers over the public API. Only tests link this file.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/err.h"
#include "common/log.h"
#include "store_fixture.h"

struct fx fx;

static const uint8_t tenant_key[32] = "test tenant identifier key 0001";

int fx_setup(void **state)
{
	const char *tmp = getenv("TMPDIR");
	(void)state;
	memset(&fx, 0, sizeof fx);
	snprintf(fx.dir, sizeof fx.dir, "%s/rg-store-XXXXXX",
		 tmp && *tmp && strlen(tmp) < 40 ? tmp : "/tmp");
	if (!mkdtemp(fx.dir))
		return -1;
	snprintf(fx.path, sizeof fx.path, "%s/device.db", fx.dir);
	rg_log_set_level(getenv("FX_LOG") ? RG_LOG_DEBUG : RG_LOG_OFF);
	rg_clock_manual_init(&fx.clock, FX_T0);
	for (size_t i = 0; i < sizeof fx.key; i++)
		fx.key[i] = (uint8_t)(0xa0 + i);
	fx.cfg.path = fx.path;
	fx.cfg.key = fx.key;
	fx.cfg.device_id = "dev-0042-k1";
	fx.cfg.store_id = "0042";
	fx.cfg.seen_resolution_ms = 1;
	fx.cfg.seen_flush_ms = 3600 * 1000;
	fx.cfg.cache_kib = 1024;
	fx.cfg.clock = &fx.clock.clock;
	return 0;
}

int fx_teardown(void **state)
{
	static const char *const suffix[] = {"",   "-wal",   "-shm",  "-journal",
					     ".b", ".b-wal", ".b-shm"};
	char p[200];
	(void)state;
	for (size_t i = 0; i < sizeof suffix / sizeof suffix[0]; i++) {
		snprintf(p, sizeof p, "%s%s", fx.path, suffix[i]);
		unlink(p);
	}
	rmdir(fx.dir);
	return 0;
}

struct store *fx_open(void)
{
	struct store *s = NULL;
	assert_int_equal(store_open(&fx.cfg, &s), 0);
	assert_non_null(s);
	return s;
}

void fx_token(const char *type, const char *value, uint8_t out[RG_TOKEN_LEN])
{
	assert_int_equal(rg_token(tenant_key, sizeof tenant_key, type, value, strlen(value), out),
			 0);
}

int fx_body(char *buf, size_t cap, const char *name, int points)
{
	char first[64];
	const char *sp = strchr(name, ' ');
	size_t fl = sp ? (size_t)(sp - name) : strlen(name);
	int n;
	snprintf(first, sizeof first, "%.*s", (int)fl, name);
	n = snprintf(buf, cap,
		     "{\"name\":\"%s\",\"first_name\":\"%s\",\"tier\":\"gold\",\"points\":%d,"
		     "\"preferences\":{\"language\":\"de\"},"
		     "\"consent\":{\"show_in_public\":[\"points\",\"orders\"]},"
		     "\"home_store\":\"0042\","
		     "\"interactions\":[{\"channel\":\"web\",\"department\":\"service\","
		     "\"summary\":\"Asked about delivery\",\"time\":\"2025-11-20T10:00:00Z\"}],"
		     "\"episodes\":[{\"department\":\"service\",\"status\":\"open\"}],"
		     "\"next_best_action\":\"Offer the winter catalogue\"}",
		     name, first, points);
	assert_true(n > 0 && (size_t)n < cap);
	return n;
}

int fx_put(struct store *s, const char *id, int64_t version, const char *name, const char *card)
{
	char body[1024];
	uint8_t tok[RG_TOKEN_LEN];
	struct store_ident ident = {tok, "loyalty"};
	struct store_profile p = {.id = id, .version = version, .hlc = 0, .body = body};
	p.body_len = (size_t)fx_body(body, sizeof body, name, (int)version * 10);
	if (card) {
		fx_token("loyalty", card, tok);
		p.idents = &ident;
		p.n_idents = 1;
	}
	return store_profile_upsert(s, &p);
}

int fx_identify(struct store *s, const char *card, char id[STORE_ID_MAX + 1], char *body,
		size_t cap)
{
	char buf[STORE_BODY_MAX + 1];
	uint8_t tok[RG_TOKEN_LEN];
	struct store_hit hit;
	int rc;
	fx_token("loyalty", card, tok);
	rc = store_identify(s, tok, buf, sizeof buf, &hit);
	if (id)
		memcpy(id, hit.profile_id, STORE_ID_MAX + 1);
	if (body && cap)
		snprintf(body, cap, "%s", rc == 1 ? buf : "");
	return rc;
}

int fx_append(struct store *s, enum rg_kind kind, const char *profile, const char *card,
	      const char *body, struct store_outbox_ref *ref)
{
	uint8_t tok[RG_TOKEN_LEN];
	struct store_event ev = {.kind = kind, .profile_id = profile, .body = body};
	if (card) {
		fx_token("loyalty", card, tok);
		ev.token = tok;
	}
	ev.body_len = body ? strlen(body) : 0;
	return store_outbox_append(s, &ev, ref);
}

sqlite3 *fx_raw(void)
{
	sqlite3 *db = NULL;
	assert_int_equal(sqlite3_open_v2(fx.path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	return db;
}

int64_t fx_int(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st;
	int64_t v;
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

struct store_stats fx_stats(struct store *s)
{
	struct store_stats st;
	assert_int_equal(store_stats_get(s, &st), 0);
	return st;
}
