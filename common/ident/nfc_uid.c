/*
 * nfc_uid.c - ISO/IEC 14443-3 UIDs as identifiers: 4, 7 or 10 bytes,
 * canonical upper-case hex. A 4-byte UID starting 0x08 is a random ID (RID)
 * a card draws afresh on every power-up: not a stable identifier, refused.
 */
#include "common/crypto.h"
#include "ident_internal.h"

enum ident_reason ident__nfc_uid(const uint8_t *uid, size_t len, struct ident__canon *out)
{
	static const char hex[] = "0123456789ABCDEF";
	char buf[2 * 10];
	int rc;

	out->type = IDENT_TYPE_NFC_UID;
	if (len != 4 && len != 7 && len != 10)
		return IDENT_UID_BAD_LENGTH;
	if (len == 4 && uid[0] == 0x08)
		return IDENT_UID_RANDOM;
	for (size_t i = 0; i < len; i++) {
		buf[2 * i] = hex[uid[i] >> 4];
		buf[2 * i + 1] = hex[uid[i] & 0x0f];
	}
	rc = ident__canon_set(out, IDENT_TYPE_NFC_UID, buf, 2 * len);
	rg_wipe(buf, sizeof buf);
	return rc < 0 ? IDENT_TOO_LONG : IDENT_OK;
}
