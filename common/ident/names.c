/*
 * names.c - the stable names of identifier types, sources and refusal
 * reasons, as UIs, logs and other teams see them. Tables are indexed by the
 * enum value; a compile-time check keeps the reason table complete.
 */
#include <string.h>

#include "common/err.h"
#include "ident_internal.h"

static const char *const reason_names[] = {
    [IDENT_OK] = "ok",
    [IDENT_BAD_CHECK_DIGIT] = "bad_check_digit",
    [IDENT_TOO_SHORT] = "too_short",
    [IDENT_TOO_LONG] = "too_long",
    [IDENT_BAD_CHARSET] = "bad_charset",
    [IDENT_NOT_UTF8] = "not_utf8",
    [IDENT_NO_MATCH] = "no_match",
    [IDENT_TOKEN_EXPIRED] = "token_expired",
    [IDENT_TOKEN_NOT_YET_VALID] = "token_not_yet_valid",
    [IDENT_TOKEN_BAD_SIGNATURE] = "token_bad_signature",
    [IDENT_TOKEN_REPLAYED] = "token_replayed",
    [IDENT_TOKEN_MALFORMED] = "token_malformed",
    [IDENT_TOTP_OUT_OF_WINDOW] = "totp_out_of_window",
    [IDENT_TOTP_REUSED] = "totp_reused",
    [IDENT_TOKEN_UNKNOWN_KEY] = "token_unknown_key",
    [IDENT_TOKEN_LIFETIME_TOO_LONG] = "token_lifetime_too_long",
    [IDENT_TOKEN_BAD_VERSION] = "token_bad_version",
    [IDENT_TOTP_MALFORMED] = "totp_malformed",
    [IDENT_TOTP_UNKNOWN_CUSTOMER] = "totp_unknown_customer",
    [IDENT_UID_BAD_LENGTH] = "uid_bad_length",
    [IDENT_UID_RANDOM] = "uid_random",
    [IDENT_NDEF_MALFORMED] = "ndef_malformed",
    [IDENT_NDEF_CHUNKED] = "ndef_chunked",
    [IDENT_MAGSTRIPE_MALFORMED] = "magstripe_malformed",
    [IDENT_TYPE_DISABLED] = "type_disabled",
};
_Static_assert(sizeof reason_names / sizeof reason_names[0] == IDENT__REASON_COUNT,
	       "every ident_reason needs a name");

static const char *const type_names[] = {
    [IDENT_TYPE_NONE] = "none",	      [IDENT_TYPE_LOYALTY] = "loyalty",
    [IDENT_TYPE_NFC_UID] = "nfc_uid", [IDENT_TYPE_NFC_NDEF] = "nfc_ndef",
    [IDENT_TYPE_QR] = "qr",	      [IDENT_TYPE_APP_TOKEN] = "app_token",
    [IDENT_TYPE_TOTP] = "totp",
};

static const char *const source_names[] = {
    [IDENT_SRC_NFC_UID] = "nfc_uid",	 [IDENT_SRC_NDEF] = "ndef",
    [IDENT_SRC_BARCODE] = "barcode",	 [IDENT_SRC_QR] = "qr",
    [IDENT_SRC_MAGSTRIPE] = "magstripe",
};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

const char *ident_reason_name(enum ident_reason r)
{
	return (unsigned)r < COUNT(reason_names) ? reason_names[r] : "unknown";
}

const char *ident_type_name(enum ident_type t)
{
	return (unsigned)t < COUNT(type_names) ? type_names[t] : "none";
}

const char *ident_source_name(enum ident_source s)
{
	return (unsigned)s < COUNT(source_names) ? source_names[s] : "unknown";
}

int ident_reason_from_name(const char *name)
{
	for (size_t i = 0; name && i < COUNT(reason_names); i++)
		if (!strcmp(name, reason_names[i]))
			return (int)i;
	return RG_ERR_NOTFOUND;
}

int ident_type_from_name(const char *name)
{
	for (size_t i = 1; name && i < COUNT(type_names); i++)
		if (!strcmp(name, type_names[i]))
			return (int)i;
	return RG_ERR_NOTFOUND;
}

int ident__has_prefix(const void *s, size_t len, const char *prefix)
{
	size_t n = strlen(prefix);
	return n <= len && !memcmp(s, prefix, n);
}

int ident__canon_set(struct ident__canon *c, enum ident_type type, const void *s, size_t len)
{
	if (len > IDENT_CANON_MAX)
		return RG_ERR_TOOBIG;
	c->type = type;
	memcpy(c->v, s, len);
	c->v[len] = '\0';
	c->len = len;
	return 0;
}
