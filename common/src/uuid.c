/*
 * uuid.c - UUIDv7 generation and parsing (RFC 9562, section 6.2 method 1:
 * a 12-bit counter in rand_a). If the wall clock stands still or steps back,
 * the generator keeps its last timestamp and counts up; when the counter
 * runs out it borrows the next millisecond, so ids stay strictly increasing.
 */
#include "common/uuid.h"

#include <string.h>

#include "common/err.h"

#define SEQ_MAX 0xfff

void rg_uuid7_gen_init(struct rg_uuid7_gen *g, const struct rg_clock *clock,
		       const struct rg_rand *rand)
{
	g->clock = clock ? clock : rg_clock_system();
	g->rand = rand ? rand : rg_rand_system();
	g->last_ms = -1;
	g->seq = 0;
}

int rg_uuid7_next(struct rg_uuid7_gen *g, struct rg_uuid *out)
{
	int64_t ms = rg_clock_wall_ms(g->clock);
	uint8_t rnd[10];
	int rc;

	if ((rc = rg_rand_fill(g->rand, rnd, sizeof rnd)) < 0)
		return rc;
	if (ms < 0)
		ms = 0;
	if (ms > g->last_ms) {
		g->last_ms = ms;
		/* Start low in the counter space so many ids fit in one ms. */
		g->seq = (uint16_t)(((rnd[8] << 8) | rnd[9]) & 0x1ff);
	} else if (g->seq < SEQ_MAX) {
		g->seq++;
	} else {
		g->last_ms++;
		g->seq = 0;
	}
	if (g->last_ms > (int64_t)0xffffffffffff)
		return RG_ERR_RANGE;

	uint64_t t = (uint64_t)g->last_ms;
	for (int i = 0; i < 6; i++)
		out->b[i] = (uint8_t)(t >> (40 - 8 * i));
	out->b[6] = (uint8_t)(0x70 | (g->seq >> 8));
	out->b[7] = (uint8_t)g->seq;
	memcpy(out->b + 8, rnd, 8);
	out->b[8] = (uint8_t)(0x80 | (out->b[8] & 0x3f));
	return 0;
}

char *rg_uuid_format(const struct rg_uuid *u, char out[RG_UUID_STR_LEN + 1])
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;
	for (int i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			out[o++] = '-';
		out[o++] = hex[u->b[i] >> 4];
		out[o++] = hex[u->b[i] & 15];
	}
	out[o] = '\0';
	return out;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int rg_uuid_parse(const char *s, struct rg_uuid *out)
{
	size_t i = 0;
	if (!s || strnlen(s, RG_UUID_STR_LEN + 1) != RG_UUID_STR_LEN)
		return RG_ERR_PARSE;
	for (int b = 0; b < 16; b++) {
		if (b == 4 || b == 6 || b == 8 || b == 10) {
			if (s[i++] != '-')
				return RG_ERR_PARSE;
		}
		int hi = hexval(s[i]), lo = hexval(s[i + 1]);
		if (hi < 0 || lo < 0)
			return RG_ERR_PARSE;
		out->b[b] = (uint8_t)(hi << 4 | lo);
		i += 2;
	}
	return 0;
}

int rg_uuid_cmp(const struct rg_uuid *a, const struct rg_uuid *b)
{
	return memcmp(a->b, b->b, 16);
}

int rg_uuid_version(const struct rg_uuid *u)
{
	return u->b[6] >> 4;
}

int64_t rg_uuid7_ms(const struct rg_uuid *u)
{
	int64_t t = 0;
	for (int i = 0; i < 6; i++)
		t = t << 8 | u->b[i];
	return t;
}
