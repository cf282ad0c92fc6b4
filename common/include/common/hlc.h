/*
 * hlc.h - hybrid logical clock (Kulkarni et al., 2014). A stamp is
 * (wall_ms, logical): it tracks physical time but never goes backwards, and a
 * received stamp moves the local clock past it, so cause precedes effect
 * across devices. A remote stamp further ahead of our wall clock than
 * max_offset_ms is refused, so one device with a broken clock cannot drag
 * the fleet into the future. An rg_hlc_clock is not thread-safe.
 */
#ifndef COMMON_HLC_H
#define COMMON_HLC_H

#include <stddef.h>
#include <stdint.h>

#include "common/clock.h"

#ifdef __cplusplus
extern "C" {
#endif

struct rg_hlc {
	int64_t wall_ms;  /* 0 .. 2^48-1 */
	uint32_t logical; /* 0 .. 65535 */
};

struct rg_hlc_clock {
	const struct rg_clock *clock; /* borrowed */
	struct rg_hlc last;
	int64_t max_offset_ms;
};

#define RG_HLC_DEFAULT_MAX_OFFSET_MS (5 * 60 * 1000)
#define RG_HLC_STR_MAX 24 /* "281474976710655.65535" + NUL fits */

void rg_hlc_init(struct rg_hlc_clock *h, const struct rg_clock *clock, int64_t max_offset_ms);
/* A stamp for a local or send event; strictly greater than every stamp this
 * clock issued or received before. */
int rg_hlc_now(struct rg_hlc_clock *h, struct rg_hlc *out);
/* Merge a received stamp; out is strictly greater than both it and every
 * earlier local stamp. RG_ERR_RANGE if remote is too far in the future
 * (the clock is then unchanged). */
int rg_hlc_update(struct rg_hlc_clock *h, const struct rg_hlc *remote, struct rg_hlc *out);
/* <0, 0, >0 like memcmp. */
int rg_hlc_cmp(const struct rg_hlc *a, const struct rg_hlc *b);

/* 48 bits of ms, 16 bits of logical: integer order == stamp order. */
uint64_t rg_hlc_pack(const struct rg_hlc *t);
void rg_hlc_unpack(uint64_t v, struct rg_hlc *out);
/* Text form "<wall_ms>.<logical>" (decimal). Returns length. */
int rg_hlc_format(const struct rg_hlc *t, char *buf, size_t cap);
int rg_hlc_parse(const char *s, struct rg_hlc *out);

#ifdef __cplusplus
}
#endif

#endif
