/*
 * nfc_tag.h - extracting the NDEF message from NFC Forum Type 2 and Type 4
 * tags, independent of libnfc: the tag is reached through an exchange
 * callback, so tests and the fuzzer can play the tag. Every length read from
 * a tag is checked against the data actually received and the caller's cap.
 * The NDEF *records* inside the message are not parsed here.
 */
#ifndef HAL_READER_NFC_TAG_H
#define HAL_READER_NFC_TAG_H

#include <stddef.h>
#include <stdint.h>

struct hal__tag_io {
	/* Send tx (a Type 2 command or an APDU), receive the tag's answer into
	 * rx. Returns the answer's length, RG_ERR_IO if the tag did not answer
	 * properly (gone, RF error), RG_ERR_DEVICE if the reader failed. */
	int (*xfer)(void *ctx, const uint8_t *tx, size_t txlen, uint8_t *rx, size_t cap);
	void *ctx;
};

#define HAL__T2_AREA_MAX 2040 /* CC byte 2 * 8 at most */

/* Type 2 capability container (page 3). Returns 0 and the data area size
 * when the tag is NDEF-formatted and readable, RG_ERR_NOTFOUND when it is
 * not NDEF-formatted, RG_ERR_UNSUPPORTED for an unknown major version or
 * no read access. */
int hal__t2_cc_check(const uint8_t cc[4], size_t *area);

/* Walk the TLVs at the start of a Type 2 data area (d[0..n) of area bytes).
 * Returns 1 with the NDEF message at d[*off..*off+*len), 0 when the area
 * holds no NDEF message (terminator, empty NDEF TLV, end of area),
 * RG_ERR_AGAIN when more bytes are needed (*len is the NDEF message length
 * if its TLV header was already seen, else 0), RG_ERR_PARSE when a TLV runs
 * past the data area. */
int hal__t2_tlv_find(const uint8_t *d, size_t n, size_t area, size_t *off, size_t *len);

/* Type 4 capability container file (E103). */
struct hal__t4_cc {
	uint16_t mle; /* max bytes per READ BINARY answer */
	uint16_t mlc;
	uint16_t fid;	   /* the NDEF file */
	uint16_t max_size; /* of the NDEF file, NLEN included */
};
/* b[0..n) is the CC file's content (at least 15 bytes). RG_ERR_PARSE for a
 * malformed CC, RG_ERR_UNSUPPORTED for a version or access we cannot read. */
int hal__t4_cc_parse(const uint8_t *b, size_t n, struct hal__t4_cc *cc);
/* NLEN: the first two bytes of the NDEF file. RG_ERR_PARSE if it exceeds
 * what the CC allows. */
int hal__t4_nlen_parse(const uint8_t *b, size_t n, const struct hal__t4_cc *cc, size_t *nlen);

/* Read the NDEF message into out. Return the message length (> 0), 0 when
 * the tag holds no NDEF message, RG_ERR_TOOBIG when it exceeds cap,
 * RG_ERR_PARSE for malformed tag data, or what xfer returned. */
int hal__t2_read_ndef(const struct hal__tag_io *io, uint8_t *out, size_t cap);
int hal__t4_read_ndef(const struct hal__tag_io *io, uint8_t *out, size_t cap);

#endif
