/*
 * ndef.c - NFC Forum NDEF message parser (NDEF 1.0 record layout) and the
 * well-known URI and Text record decoders. Every length is checked against
 * the bytes that remain before it is used; nothing is read past len. Chunked
 * records (CF) are refused as a whole rather than reassembled.
 */
#include <string.h>

#include "common/err.h"
#include "common/ident_ndef.h"
#include "common/json.h"

#define NDEF_MB 0x80
#define NDEF_ME 0x40
#define NDEF_CF 0x20
#define NDEF_SR 0x10
#define NDEF_IL 0x08
#define NDEF_TNF 0x07

static enum ident_reason parse(const uint8_t *msg, size_t len, struct ident_ndef_message *out)
{
	size_t pos = 0;

	if (len == 0)
		return IDENT_TOO_SHORT;
	for (;;) {
		struct ident_ndef_record *r;
		uint8_t hdr;
		size_t type_len, id_len = 0, payload_len;

		if (len - pos < 2)
			return IDENT_NDEF_MALFORMED;
		hdr = msg[pos];
		if (hdr & NDEF_CF)
			return IDENT_NDEF_CHUNKED;
		if (!!(hdr & NDEF_MB) != (out->n == 0))
			return IDENT_NDEF_MALFORMED;
		type_len = msg[pos + 1];
		pos += 2;
		if (hdr & NDEF_SR) {
			if (len - pos < 1)
				return IDENT_NDEF_MALFORMED;
			payload_len = msg[pos];
			pos += 1;
		} else {
			if (len - pos < 4)
				return IDENT_NDEF_MALFORMED;
			payload_len = (size_t)msg[pos] << 24 | (size_t)msg[pos + 1] << 16 |
				      (size_t)msg[pos + 2] << 8 | (size_t)msg[pos + 3];
			pos += 4;
		}
		if (hdr & NDEF_IL) {
			if (len - pos < 1)
				return IDENT_NDEF_MALFORMED;
			id_len = msg[pos];
			pos += 1;
		}
		/* each term is checked separately: no sum can wrap */
		if (type_len > len - pos)
			return IDENT_NDEF_MALFORMED;
		if (id_len > len - pos - type_len)
			return IDENT_NDEF_MALFORMED;
		if (payload_len > len - pos - type_len - id_len)
			return IDENT_NDEF_MALFORMED;

		switch (hdr & NDEF_TNF) {
		case IDENT_TNF_EMPTY:
			if (type_len || id_len || payload_len)
				return IDENT_NDEF_MALFORMED;
			break;
		case IDENT_TNF_WELL_KNOWN:
		case IDENT_TNF_MEDIA:
		case IDENT_TNF_ABSOLUTE_URI:
		case IDENT_TNF_EXTERNAL:
			if (type_len == 0)
				return IDENT_NDEF_MALFORMED;
			break;
		case IDENT_TNF_UNKNOWN:
			if (type_len != 0)
				return IDENT_NDEF_MALFORMED;
			break;
		default: /* UNCHANGED outside a chunk, RESERVED */
			return IDENT_NDEF_MALFORMED;
		}
		if (out->n == IDENT_NDEF_RECORDS_MAX)
			return IDENT_TOO_LONG;
		r = &out->rec[out->n++];
		r->tnf = (enum ident_ndef_tnf)(hdr & NDEF_TNF);
		r->type = msg + pos;
		r->type_len = type_len;
		r->id = msg + pos + type_len;
		r->id_len = id_len;
		r->payload = msg + pos + type_len + id_len;
		r->payload_len = payload_len;
		pos += type_len + id_len + payload_len;

		if (hdr & NDEF_ME)
			return pos == len ? IDENT_OK : IDENT_NDEF_MALFORMED;
	}
}

int ident_ndef_parse(const uint8_t *msg, size_t len, struct ident_ndef_message *out,
		     enum ident_reason *why)
{
	if ((!msg && len) || !out || !why)
		return RG_ERR_INVAL;
	memset(out, 0, sizeof *out);
	*why = parse(msg, len, out);
	if (*why != IDENT_OK)
		memset(out, 0, sizeof *out);
	return 0;
}

static int is_wk(const struct ident_ndef_record *r, char t)
{
	return r && r->tnf == IDENT_TNF_WELL_KNOWN && r->type_len == 1 && r->type[0] == (uint8_t)t;
}

int ident_ndef_is_uri(const struct ident_ndef_record *r)
{
	return is_wk(r, 'U');
}

int ident_ndef_is_text(const struct ident_ndef_record *r)
{
	return is_wk(r, 'T');
}

/* NFC Forum URI RTD, identifier codes 0x00..0x23; the rest are reserved. */
static const char *const uri_prefixes[] = {
    [0x00] = "",
    [0x01] = "http://www.",
    [0x02] = "https://www.",
    [0x03] = "http://",
    [0x04] = "https://",
    [0x05] = "tel:",
    [0x06] = "mailto:",
    [0x07] = "ftp://anonymous:anonymous@",
    [0x08] = "ftp://ftp.",
    [0x09] = "ftps://",
    [0x0A] = "sftp://",
    [0x0B] = "smb://",
    [0x0C] = "nfs://",
    [0x0D] = "ftp://",
    [0x0E] = "dav://",
    [0x0F] = "news:",
    [0x10] = "telnet://",
    [0x11] = "imap:",
    [0x12] = "rtsp://",
    [0x13] = "urn:",
    [0x14] = "pop:",
    [0x15] = "sip:",
    [0x16] = "sips:",
    [0x17] = "tftp:",
    [0x18] = "btspp://",
    [0x19] = "btl2cap://",
    [0x1A] = "btgoep://",
    [0x1B] = "tcpobex://",
    [0x1C] = "irdaobex://",
    [0x1D] = "file://",
    [0x1E] = "urn:epc:id:",
    [0x1F] = "urn:epc:tag:",
    [0x20] = "urn:epc:pat:",
    [0x21] = "urn:epc:raw:",
    [0x22] = "urn:epc:",
    [0x23] = "urn:nfc:",
};
_Static_assert(sizeof uri_prefixes / sizeof uri_prefixes[0] == 0x24, "URI RTD has 36 codes");

int ident_ndef_uri(const struct ident_ndef_record *r, char *buf, size_t cap, size_t *len_out,
		   enum ident_reason *why)
{
	const char *pre;
	size_t plen, rest;

	if (!r || !buf || cap < IDENT_NDEF_URI_MAX + 1 || !len_out || !why)
		return RG_ERR_INVAL;
	buf[0] = '\0';
	*len_out = 0;
	if (!ident_ndef_is_uri(r) || r->payload_len < 1 ||
	    r->payload[0] >= sizeof uri_prefixes / sizeof uri_prefixes[0]) {
		*why = IDENT_NDEF_MALFORMED;
		return 0;
	}
	pre = uri_prefixes[r->payload[0]];
	plen = strlen(pre);
	rest = r->payload_len - 1;
	if (plen + rest == 0) {
		*why = IDENT_NDEF_MALFORMED;
		return 0;
	}
	if (rest > IDENT_NDEF_URI_MAX - plen) {
		*why = IDENT_TOO_LONG;
		return 0;
	}
	for (size_t i = 0; i < rest; i++) {
		uint8_t c = r->payload[1 + i];
		if (c < 0x20 || c == 0x7f) {
			*why = IDENT_BAD_CHARSET;
			return 0;
		}
	}
	if (!rg_utf8_valid((const char *)r->payload + 1, rest)) {
		*why = IDENT_NOT_UTF8;
		return 0;
	}
	memcpy(buf, pre, plen);
	memcpy(buf + plen, r->payload + 1, rest);
	buf[plen + rest] = '\0';
	*len_out = plen + rest;
	*why = IDENT_OK;
	return 0;
}

int ident_ndef_text(const struct ident_ndef_record *r, char *lang, size_t langcap,
		    const uint8_t **text, size_t *text_len, enum ident_reason *why)
{
	uint8_t status;
	size_t llen;

	if (!r || !lang || langcap < IDENT_NDEF_LANG_MAX + 1 || !text || !text_len || !why)
		return RG_ERR_INVAL;
	lang[0] = '\0';
	*text = NULL;
	*text_len = 0;
	*why = IDENT_NDEF_MALFORMED;
	if (!ident_ndef_is_text(r) || r->payload_len < 1)
		return 0;
	status = r->payload[0];
	if (status & 0x40) /* reserved, must be zero */
		return 0;
	llen = status & 0x3f;
	if (llen == 0 || llen > r->payload_len - 1)
		return 0;
	for (size_t i = 0; i < llen; i++)
		if (r->payload[1 + i] <= 0x20 || r->payload[1 + i] >= 0x7f)
			return 0;
	if (status & 0x80) { /* UTF-16: not accepted (docs/identifiers.md) */
		*why = IDENT_NOT_UTF8;
		return 0;
	}
	if (!rg_utf8_valid((const char *)r->payload + 1 + llen, r->payload_len - 1 - llen)) {
		*why = IDENT_NOT_UTF8;
		return 0;
	}
	memcpy(lang, r->payload + 1, llen);
	lang[llen] = '\0';
	*text = r->payload + 1 + llen;
	*text_len = r->payload_len - 1 - llen;
	*why = IDENT_OK;
	return 0;
}
