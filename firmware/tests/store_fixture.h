/*
 * store_fixture.h - what the store's unit tests share: a fresh temp dir and
 * database path per test, a manual clock, fixed keys, and helpers to make
 * tokens, profiles and outbox events. Tests own their store handles.
 */
#ifndef FIRMWARE_TESTS_STORE_FIXTURE_H
#define FIRMWARE_TESTS_STORE_FIXTURE_H

#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

#include "common/clock.h"
#include "firmware/store.h"

#define FX_T0 1763881290000LL /* 2025-11-23T07:01:30Z */

struct fx {
	char dir[64];
	char path[128];
	struct rg_clock_manual clock;
	uint8_t key[STORE_KEY_LEN];
	struct store_config cfg;
};

extern struct fx fx;

/* cmocka group/test setup and teardown: a new temp dir, logs off. */
int fx_setup(void **state);
int fx_teardown(void **state);

/* Open fx.cfg; fails the test on error. */
struct store *fx_open(void);
/* The token of (type, value) under the test tenant key. */
void fx_token(const char *type, const char *value, uint8_t out[RG_TOKEN_LEN]);
/* A profile body for `name` (first name + surname) with `points`. */
int fx_body(char *buf, size_t cap, const char *name, int points);
/* Upsert id with one loyalty card (if card != NULL); returns the upsert's rc. */
int fx_put(struct store *s, const char *id, int64_t version, const char *name, const char *card);
/* Identify by card; returns the rc, fills id (may be NULL) and body (may be NULL). */
int fx_identify(struct store *s, const char *card, char id[STORE_ID_MAX + 1], char *body,
		size_t cap);
/* Append an event of kind for profile (may be NULL) and card token (may be NULL). */
int fx_append(struct store *s, enum rg_kind kind, const char *profile, const char *card,
	      const char *body, struct store_outbox_ref *ref);
/* A raw SQLite connection to the test database (for inspecting and tampering). */
sqlite3 *fx_raw(void);
/* One integer from a query on a raw connection. */
int64_t fx_int(sqlite3 *db, const char *sql);
struct store_stats fx_stats(struct store *s);

#endif
