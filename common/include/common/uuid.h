/*
 * uuid.h - UUIDv7 (RFC 9562): 48-bit Unix ms timestamp, then a 12-bit
 * counter, then 62 random bits. A generator hands out ids that sort strictly
 * in the order it created them, even when the wall clock steps backwards or
 * many ids are made in one millisecond. A generator is not thread-safe: use
 * one per thread, or lock around it.
 */
#ifndef COMMON_UUID_H
#define COMMON_UUID_H

#include <stdint.h>

#include "common/clock.h"
#include "common/crypto.h"

#ifdef __cplusplus
extern "C" {
#endif

struct rg_uuid {
	uint8_t b[16];
};

#define RG_UUID_STR_LEN 36 /* without NUL */

struct rg_uuid7_gen {
	const struct rg_clock *clock; /* borrowed */
	const struct rg_rand *rand;   /* borrowed */
	int64_t last_ms;
	uint16_t seq; /* 12-bit counter within last_ms */
};

void rg_uuid7_gen_init(struct rg_uuid7_gen *g, const struct rg_clock *clock,
		       const struct rg_rand *rand);
int rg_uuid7_next(struct rg_uuid7_gen *g, struct rg_uuid *out);

/* Canonical lower-case 8-4-4-4-12 form; out must hold 37 bytes. Returns out. */
char *rg_uuid_format(const struct rg_uuid *u, char out[RG_UUID_STR_LEN + 1]);
/* Accepts only the 36-character hyphenated form (either case). */
int rg_uuid_parse(const char *s, struct rg_uuid *out);
int rg_uuid_cmp(const struct rg_uuid *a, const struct rg_uuid *b);
int rg_uuid_version(const struct rg_uuid *u);
/* The timestamp of a v7 id, in Unix ms. */
int64_t rg_uuid7_ms(const struct rg_uuid *u);

#ifdef __cplusplus
}
#endif

#endif
