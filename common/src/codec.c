/*
 * codec.c - hex and unpadded base64url, with strict decoders: input that is
 * not exactly what the encoder would produce (modulo hex case) is refused.
 */
#include "common/codec.h"

#include "common/err.h"

static const char hexd[] = "0123456789abcdef";
static const char b64u[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

int rg_hex_encode(const void *in, size_t n, char *out, size_t cap)
{
	const uint8_t *p = in;
	if (cap < 2 * n + 1)
		return RG_ERR_TOOBIG;
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = hexd[p[i] >> 4];
		out[2 * i + 1] = hexd[p[i] & 15];
	}
	out[2 * n] = '\0';
	return (int)(2 * n);
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

int rg_hex_decode(const char *in, size_t len, uint8_t *out, size_t cap)
{
	if (len % 2)
		return RG_ERR_PARSE;
	if (len / 2 > cap)
		return RG_ERR_TOOBIG;
	for (size_t i = 0; i < len; i += 2) {
		int hi = hexval(in[i]), lo = hexval(in[i + 1]);
		if (hi < 0 || lo < 0)
			return RG_ERR_PARSE;
		out[i / 2] = (uint8_t)(hi << 4 | lo);
	}
	return (int)(len / 2);
}

int rg_b64url_encode(const void *in, size_t n, char *out, size_t cap)
{
	const uint8_t *p = in;
	size_t o = 0, need = RG_B64URL_LEN(n);
	if (cap < need + 1)
		return RG_ERR_TOOBIG;
	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16;
		if (i + 1 < n)
			v |= (uint32_t)p[i + 1] << 8;
		if (i + 2 < n)
			v |= p[i + 2];
		out[o++] = b64u[(v >> 18) & 63];
		out[o++] = b64u[(v >> 12) & 63];
		if (i + 1 < n)
			out[o++] = b64u[(v >> 6) & 63];
		if (i + 2 < n)
			out[o++] = b64u[v & 63];
	}
	out[o] = '\0';
	return (int)o;
}

static int b64val(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '-')
		return 62;
	if (c == '_')
		return 63;
	return -1;
}

int rg_b64url_decode(const char *in, size_t len, uint8_t *out, size_t cap)
{
	size_t o = 0;
	if (len % 4 == 1)
		return RG_ERR_PARSE;
	if (len / 4 * 3 + (len % 4 ? len % 4 - 1 : 0) > cap)
		return RG_ERR_TOOBIG;
	for (size_t i = 0; i < len; i += 4) {
		size_t chunk = len - i < 4 ? len - i : 4;
		uint32_t v = 0;
		for (size_t j = 0; j < 4; j++) {
			int d = j < chunk ? b64val(in[i + j]) : 0;
			if (d < 0)
				return RG_ERR_PARSE;
			v = v << 6 | (uint32_t)d;
		}
		out[o++] = (uint8_t)(v >> 16);
		if (chunk > 2)
			out[o++] = (uint8_t)(v >> 8);
		if (chunk > 3)
			out[o++] = (uint8_t)v;
		/* Canonical: the bits past the last byte must be zero. */
		if ((chunk == 2 && (v & 0xffff)) || (chunk == 3 && (v & 0xff)))
			return RG_ERR_PARSE;
	}
	return (int)o;
}
