/*
 * magstripe.c - the PAN out of magnetic stripe track text (ISO/IEC 7813:
 * track 1 "%B<PAN>^<NAME>^<data>?", track 2 ";<PAN>[=<data>]?", an optional
 * track 3 ";<data>?" after them). The cardholder name is skipped over and
 * never copied; only the PAN leaves this file, to go through the loyalty rules.
 */
#include <string.h>

#include "common/crypto.h"
#include "ident_internal.h"

#define MAG_TEXT_MAX 256 /* tracks 1+2+3 with sentinels fit in 230 */
#define PAN_MAX 19
#define T1_MAX 79
#define T2_MAX 40
#define T3_MAX 107
#define NAME_MAX_LEN 26

static int t1_char(char c)
{
	/* the 6-bit track 1 alphabet (0x20..0x5F) without its sentinels/separator */
	return c >= 0x20 && c <= 0x5f && c != '%' && c != '?' && c != '^';
}

static int t2_char(char c)
{
	return (c >= '0' && c <= '9') || c == '=';
}

/* Reads up to PAN_MAX digits at s[*pos], stopping at stop1/stop2. */
static int read_pan(const char *s, size_t len, size_t *pos, char *pan, size_t *pan_len)
{
	size_t n = 0;
	while (*pos < len && s[*pos] >= '0' && s[*pos] <= '9') {
		if (n == PAN_MAX)
			return -1;
		pan[n++] = s[(*pos)++];
	}
	*pan_len = n;
	return n ? 0 : -1;
}

static int track1(const char *s, size_t len, size_t *pos, char *pan, size_t *pan_len)
{
	size_t start = *pos, name = 0;

	if (len - *pos < 2 || s[*pos] != '%' || s[*pos + 1] != 'B')
		return -1;
	*pos += 2;
	if (read_pan(s, len, pos, pan, pan_len) < 0 || *pos >= len || s[*pos] != '^')
		return -1;
	(*pos)++;
	while (*pos < len && t1_char(s[*pos])) {
		(*pos)++;
		if (++name > NAME_MAX_LEN)
			return -1;
	}
	if (*pos >= len || s[*pos] != '^')
		return -1;
	(*pos)++;
	while (*pos < len && t1_char(s[*pos]))
		(*pos)++;
	if (*pos >= len || s[*pos] != '?')
		return -1;
	(*pos)++;
	return *pos - start <= T1_MAX ? 0 : -1;
}

static int track2(const char *s, size_t len, size_t *pos, char *pan, size_t *pan_len)
{
	size_t start = *pos;

	if (s[*pos] != ';')
		return -1;
	(*pos)++;
	if (read_pan(s, len, pos, pan, pan_len) < 0 || *pos >= len)
		return -1;
	if (s[*pos] == '=')
		while (*pos < len && t2_char(s[*pos]))
			(*pos)++;
	if (*pos >= len || s[*pos] != '?')
		return -1;
	(*pos)++;
	return *pos - start <= T2_MAX ? 0 : -1;
}

static int track3(const char *s, size_t len, size_t *pos)
{
	size_t start = *pos;

	if (s[*pos] != ';')
		return -1;
	(*pos)++;
	while (*pos < len && t2_char(s[*pos]))
		(*pos)++;
	if (*pos >= len || s[*pos] != '?' || *pos - start < 2)
		return -1;
	(*pos)++;
	return *pos - start <= T3_MAX ? 0 : -1;
}

enum ident_reason ident__magstripe_pan(const char *s, size_t len, char *pan, size_t cap,
				       size_t *pan_len)
{
	char p1[PAN_MAX], p2[PAN_MAX];
	size_t n1 = 0, n2 = 0, pos = 0;
	int have1 = 0, have2 = 0;
	enum ident_reason why = IDENT_MAGSTRIPE_MALFORMED;

	*pan_len = 0;
	if (len == 0)
		return IDENT_TOO_SHORT;
	if (len > MAG_TEXT_MAX)
		return IDENT_TOO_LONG;
	if (s[pos] == '%') {
		if (track1(s, len, &pos, p1, &n1) < 0)
			goto out;
		have1 = 1;
	}
	if (pos < len && s[pos] == ';') {
		if (track2(s, len, &pos, p2, &n2) < 0)
			goto out;
		have2 = 1;
		if (pos < len && s[pos] == ';' && track3(s, len, &pos) < 0)
			goto out;
	}
	if (pos != len || (!have1 && !have2))
		goto out;
	if (have1 && have2 && (n1 != n2 || memcmp(p1, p2, n1) != 0))
		goto out;
	if (cap < PAN_MAX + 1)
		goto out;
	*pan_len = have2 ? n2 : n1;
	memcpy(pan, have2 ? p2 : p1, *pan_len);
	pan[*pan_len] = '\0';
	why = IDENT_OK;
out:
	rg_wipe(p1, sizeof p1);
	rg_wipe(p2, sizeof p2);
	return why;
}
