/*
 * sim_line.c - parser for the sim reader's text protocol: "nfc <hex uid>",
 * "ndef <hex message> [<hex uid>]", "barcode|qr|mag <text>", "ping".
 * Everything it refuses comes back with a reason word; it never guesses.
 */
#include <string.h>

#include "common/codec.h"
#include "common/err.h"

#include "../core/text.h"
#include "sim_line.h"

static int refuse(const char **reason, const char *why)
{
	*reason = why;
	return RG_ERR_PARSE;
}

/* Split "cmd rest" at the first space. */
static size_t word_len(const char *s, size_t n)
{
	const char *sp = memchr(s, ' ', n);
	return sp ? (size_t)(sp - s) : n;
}

static int is_word(const char *s, size_t n, const char *w)
{
	return n == strlen(w) && !memcmp(s, w, n);
}

/* Hex bytes, 1..cap of them. Returns the count or RG_ERR_PARSE. */
static int hex_field(const char *s, size_t n, uint8_t *out, size_t cap, const char *too_long,
		     const char **reason)
{
	int k;
	if (n == 0)
		return refuse(reason, "missing_argument");
	if (n > 2 * cap)
		return refuse(reason, too_long);
	k = rg_hex_decode(s, n, out, cap);
	if (k <= 0)
		return refuse(reason, "bad_hex");
	return k;
}

int hal__sim_parse_line(const char *line, size_t len, struct hal_read *rd, const char **reason)
{
	size_t cl, al;
	const char *arg;

	memset(rd, 0, sizeof *rd);
	*reason = "";
	if (len == 0)
		return refuse(reason, "empty_line");
	if (len > HAL__SIM_LINE_MAX)
		return refuse(reason, "line_too_long");
	cl = word_len(line, len);
	arg = cl < len ? line + cl + 1 : line + len;
	al = cl < len ? len - cl - 1 : 0;

	if (is_word(line, cl, "ping"))
		return cl == len ? 0 : refuse(reason, "extra_argument");

	if (is_word(line, cl, "nfc")) {
		int k;
		if (memchr(arg, ' ', al))
			return refuse(reason, "extra_argument");
		k = hex_field(arg, al, rd->uid, sizeof rd->uid, "uid_length", reason);
		if (k < 0)
			return k;
		rd->kind = HAL_READ_NFC_UID;
		rd->tech = HAL_TECH_ISO14443A;
		rd->uid_len = (size_t)k;
		return 1;
	}
	if (is_word(line, cl, "ndef")) {
		size_t ml = word_len(arg, al);
		int k;
		k = hex_field(arg, ml, rd->payload, HAL_READ_PAYLOAD_MAX, "too_long", reason);
		if (k < 0)
			return k;
		rd->kind = HAL_READ_NDEF;
		rd->tech = HAL_TECH_ISO14443A;
		rd->payload_len = (size_t)k;
		if (ml < al) {
			const char *u = arg + ml + 1;
			size_t ul = al - ml - 1;
			if (memchr(u, ' ', ul))
				return refuse(reason, "extra_argument");
			k = hex_field(u, ul, rd->uid, sizeof rd->uid, "uid_length", reason);
			if (k < 0)
				return k;
			rd->uid_len = (size_t)k;
		}
		return 1;
	}
	if (is_word(line, cl, "barcode") || is_word(line, cl, "qr") || is_word(line, cl, "mag")) {
		if (al == 0)
			return refuse(reason, "missing_argument");
		if (al > HAL_READ_PAYLOAD_MAX)
			return refuse(reason, "too_long");
		if (hal__text_check(arg, al) < 0)
			return refuse(reason, "bad_text");
		rd->kind = line[0] == 'b'   ? HAL_READ_BARCODE
			   : line[0] == 'q' ? HAL_READ_QR
					    : HAL_READ_MAGSTRIPE;
		rd->tech = HAL_TECH_NONE;
		memcpy(rd->payload, arg, al);
		rd->payload_len = al;
		return 1;
	}
	return refuse(reason, "unknown_command");
}
