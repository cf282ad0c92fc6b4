/*
 * hlc.c - hybrid logical clock. The logical part counts events within one
 * wall millisecond; if it would overflow 16 bits the clock borrows the next
 * millisecond instead, so packed stamps always fit 48+16 bits and stay
 * strictly increasing.
 */
#include "common/hlc.h"

#include <stdio.h>
#include <stdlib.h>

#include "common/err.h"

#define WALL_MAX ((int64_t)0xffffffffffff)
#define LOGICAL_MAX 0xffffu

void rg_hlc_init(struct rg_hlc_clock *h, const struct rg_clock *clock, int64_t max_offset_ms)
{
	h->clock = clock ? clock : rg_clock_system();
	h->last.wall_ms = 0;
	h->last.logical = 0;
	h->max_offset_ms = max_offset_ms > 0 ? max_offset_ms : RG_HLC_DEFAULT_MAX_OFFSET_MS;
}

static int64_t max64(int64_t a, int64_t b)
{
	return a > b ? a : b;
}

/* Set h->last to (wall, logical) and bump into the next ms on overflow. */
static int settle(struct rg_hlc_clock *h, int64_t wall, uint64_t logical, struct rg_hlc *out)
{
	if (logical > LOGICAL_MAX) {
		wall++;
		logical = 0;
	}
	if (wall > WALL_MAX)
		return RG_ERR_RANGE;
	h->last.wall_ms = wall;
	h->last.logical = (uint32_t)logical;
	*out = h->last;
	return 0;
}

int rg_hlc_now(struct rg_hlc_clock *h, struct rg_hlc *out)
{
	int64_t pt = rg_clock_wall_ms(h->clock);
	if (pt > h->last.wall_ms)
		return settle(h, pt, 0, out);
	return settle(h, h->last.wall_ms, (uint64_t)h->last.logical + 1, out);
}

int rg_hlc_update(struct rg_hlc_clock *h, const struct rg_hlc *remote, struct rg_hlc *out)
{
	int64_t pt = rg_clock_wall_ms(h->clock);
	int64_t l = h->last.wall_ms, m = remote->wall_ms;
	int64_t nl;
	uint64_t c;

	if (m < 0 || m > WALL_MAX || remote->logical > LOGICAL_MAX)
		return RG_ERR_RANGE;
	if (m - pt > h->max_offset_ms)
		return RG_ERR_RANGE;
	nl = max64(max64(l, m), pt);
	if (nl == l && nl == m)
		c = (uint64_t)(h->last.logical > remote->logical ? h->last.logical : remote->logical) + 1;
	else if (nl == l)
		c = (uint64_t)h->last.logical + 1;
	else if (nl == m)
		c = (uint64_t)remote->logical + 1;
	else
		c = 0;
	return settle(h, nl, c, out);
}

int rg_hlc_cmp(const struct rg_hlc *a, const struct rg_hlc *b)
{
	if (a->wall_ms != b->wall_ms)
		return a->wall_ms < b->wall_ms ? -1 : 1;
	if (a->logical != b->logical)
		return a->logical < b->logical ? -1 : 1;
	return 0;
}

uint64_t rg_hlc_pack(const struct rg_hlc *t)
{
	return ((uint64_t)t->wall_ms & (uint64_t)WALL_MAX) << 16 | (t->logical & LOGICAL_MAX);
}

void rg_hlc_unpack(uint64_t v, struct rg_hlc *out)
{
	out->wall_ms = (int64_t)(v >> 16);
	out->logical = (uint32_t)(v & LOGICAL_MAX);
}

int rg_hlc_format(const struct rg_hlc *t, char *buf, size_t cap)
{
	int n = snprintf(buf, cap, "%lld.%u", (long long)t->wall_ms, t->logical);
	if (n < 0 || (size_t)n >= cap)
		return RG_ERR_TOOBIG;
	return n;
}

int rg_hlc_parse(const char *s, struct rg_hlc *out)
{
	uint64_t wall = 0, logical = 0;
	const char *p = s;
	int digits = 0;

	if (!s)
		return RG_ERR_PARSE;
	for (; *p >= '0' && *p <= '9'; p++, digits++) {
		if (digits >= 15)
			return RG_ERR_PARSE;
		wall = wall * 10 + (uint64_t)(*p - '0');
	}
	if (!digits || *p++ != '.')
		return RG_ERR_PARSE;
	for (digits = 0; *p >= '0' && *p <= '9'; p++, digits++) {
		if (digits >= 5)
			return RG_ERR_PARSE;
		logical = logical * 10 + (uint64_t)(*p - '0');
	}
	if (!digits || *p || wall > (uint64_t)WALL_MAX || logical > LOGICAL_MAX)
		return RG_ERR_PARSE;
	out->wall_ms = (int64_t)wall;
	out->logical = (uint32_t)logical;
	return 0;
}
