/*
 * ident_internal.h - what the identifier pipeline's files share and nobody
 * else may use: the per-type classifiers (each writes a canonical value into
 * a struct ident__canon the pipeline wipes) and small text helpers.
 */
#ifndef IDENT_INTERNAL_H
#define IDENT_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "common/ident.h"
#include "common/ident_token.h"
#include "common/ident_totp.h"

#define IDENT_LOG "ident"

/* The reason left in a result when ident_classify fails with an rg_err: never
 * IDENT_OK, so a caller that forgets the return value still refuses. */
#define IDENT_UNDECIDED IDENT__REASON_COUNT

/* A canonical value on its way to rg_token(). Always NUL-terminated. */
struct ident__canon {
	enum ident_type type;
	size_t len;
	char v[IDENT_CANON_MAX + 1];
};

/* 1 if s[0..len) starts with the NUL-terminated prefix. */
int ident__has_prefix(const void *s, size_t len, const char *prefix);
/* Copy len bytes into c->v (RG_ERR_TOOBIG if they do not fit). */
int ident__canon_set(struct ident__canon *c, enum ident_type type, const void *s, size_t len);

/* loyalty.c: run s through the configured loyalty rules. */
enum ident_reason ident__loyalty(const struct ident_config *cfg, const char *s, size_t len,
				 struct ident__canon *out);
/* magstripe.c: the PAN of track 1 and/or track 2 text (never the name). */
enum ident_reason ident__magstripe_pan(const char *s, size_t len, char *pan, size_t cap,
				       size_t *pan_len);
/* nfc_uid.c */
enum ident_reason ident__nfc_uid(const uint8_t *uid, size_t len, struct ident__canon *out);
/* nfc_ndef.c: find an id in an NDEF message by the configured patterns. */
enum ident_reason ident__nfc_ndef(const struct ident_config *cfg, const uint8_t *msg, size_t len,
				  struct ident__canon *out);
/* qr.c: a static member code; prefix_len bytes of s are the matched prefix. */
enum ident_reason ident__qr(const struct ident_config *cfg, const char *s, size_t len,
			    size_t prefix_len, struct ident__canon *out);
/* totp.c: verify a wallet barcode (prefix already matched). <0 on errors. */
int ident__totp_check(const struct ident_config *cfg, struct ident_secret_store *secrets,
		      const uint8_t seal_key[RG_AEAD_KEY_LEN], int64_t now_s, const char *s,
		      size_t len, struct ident__canon *out, enum ident_reason *why);
/* secret.c: the associated data binding a sealed secret to its ref. */
size_t ident__seal_aad(const char *ref, uint8_t *aad, size_t cap);

#endif
