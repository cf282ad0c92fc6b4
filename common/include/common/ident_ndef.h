/*
 * ident_ndef.h - a strict, bounds-checked parser for NFC Forum NDEF messages
 * (record headers MB/ME/CF/SR/IL/TNF, short and long payload lengths, ids)
 * and decoders for the well-known URI ("U") and Text ("T") records. Input is
 * untrusted tag data: malformed or chunked messages are refused with a
 * reason, never partly used. Records point into the caller's buffer.
 */
#ifndef COMMON_IDENT_NDEF_H
#define COMMON_IDENT_NDEF_H

#include <stddef.h>
#include <stdint.h>

#include "common/ident.h"

#ifdef __cplusplus
extern "C" {
#endif

#define IDENT_NDEF_RECORDS_MAX 16 /* more records: too_long */
#define IDENT_NDEF_URI_MAX 256	  /* longest expanded URI (bytes); longer: too_long */
#define IDENT_NDEF_LANG_MAX 63	  /* status byte's 6-bit language code length */

enum ident_ndef_tnf {
	IDENT_TNF_EMPTY = 0,
	IDENT_TNF_WELL_KNOWN = 1,
	IDENT_TNF_MEDIA = 2,
	IDENT_TNF_ABSOLUTE_URI = 3,
	IDENT_TNF_EXTERNAL = 4,
	IDENT_TNF_UNKNOWN = 5,
	IDENT_TNF_UNCHANGED = 6, /* only inside chunked records: refused */
	IDENT_TNF_RESERVED = 7,	 /* refused */
};

struct ident_ndef_record {
	enum ident_ndef_tnf tnf;
	const uint8_t *type; /* borrowed from the message buffer */
	size_t type_len;
	const uint8_t *id;
	size_t id_len;
	const uint8_t *payload;
	size_t payload_len;
};

struct ident_ndef_message {
	size_t n;
	struct ident_ndef_record rec[IDENT_NDEF_RECORDS_MAX];
};

/* Parse a whole message of len bytes. Returns 0 with *why = IDENT_OK and
 * *out filled, or 0 with *why = the refusal (out->n = 0): too_short (empty),
 * too_long (more than IDENT_NDEF_RECORDS_MAX records), ndef_chunked (any CF
 * flag), ndef_malformed (truncation, bad MB/ME, bytes after ME, TNF rules).
 * RG_ERR_INVAL only for NULL arguments. */
int ident_ndef_parse(const uint8_t *msg, size_t len, struct ident_ndef_message *out,
		     enum ident_reason *why);

/* 1 if the record is well-known type "U" / "T", else 0. */
int ident_ndef_is_uri(const struct ident_ndef_record *r);
int ident_ndef_is_text(const struct ident_ndef_record *r);

/* Expand a URI record (prefix code table of the NFC Forum URI RTD) into buf,
 * NUL-terminated; cap >= IDENT_NDEF_URI_MAX + 1. Returns 0 with *why: OK
 * (*len_out = bytes), ndef_malformed (not a URI record, empty, reserved
 * prefix code), not_utf8, bad_charset (control characters or NUL), too_long. */
int ident_ndef_uri(const struct ident_ndef_record *r, char *buf, size_t cap, size_t *len_out,
		   enum ident_reason *why);

/* Split a Text record: language code into lang (NUL-terminated, cap >=
 * IDENT_NDEF_LANG_MAX + 1), *text / *text_len point into the payload.
 * Returns 0 with *why: OK, ndef_malformed (not a Text record, reserved bit
 * set, language code empty, longer than the payload or not printable ASCII),
 * not_utf8 (UTF-16 encoding flag, or text not valid UTF-8). */
int ident_ndef_text(const struct ident_ndef_record *r, char *lang, size_t langcap,
		    const uint8_t **text, size_t *text_len, enum ident_reason *why);

#ifdef __cplusplus
}
#endif

#endif
