/*
 * totp.c - HOTP/TOTP (RFC 4226 / RFC 6238) on mbedTLS's HMAC (SHA-1 is not
 * wrapped by rg_common), and the wallet barcode check: parse
 * "<prefix><ref>:<code>", open the customer's sealed secret, find the code in
 * the window, and accept each time step at most once per customer.
 */
#include <stdio.h>
#include <string.h>

#include <mbedtls/md.h>

#include "common/err.h"
#include "common/log.h"
#include "ident_internal.h"

static const uint32_t pow10[] = {1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000};

static const mbedtls_md_info_t *md_of(enum ident_totp_alg alg)
{
	switch (alg) {
	case IDENT_TOTP_SHA1:
		return mbedtls_md_info_from_type(MBEDTLS_MD_SHA1);
	case IDENT_TOTP_SHA256:
		return mbedtls_md_info_from_type(MBEDTLS_MD_SHA256);
	case IDENT_TOTP_SHA512:
		return mbedtls_md_info_from_type(MBEDTLS_MD_SHA512);
	}
	return NULL;
}

int ident_hotp(enum ident_totp_alg alg, const uint8_t *secret, size_t len, uint64_t counter,
	       unsigned digits, uint32_t *code)
{
	const mbedtls_md_info_t *md = md_of(alg);
	uint8_t msg[8], mac[64];
	size_t off, maclen;
	uint32_t bin;

	if (!md || !secret || len == 0 || digits < 6 || digits > 8 || !code)
		return RG_ERR_INVAL;
	for (int i = 7; i >= 0; i--, counter >>= 8)
		msg[i] = (uint8_t)counter;
	if (mbedtls_md_hmac(md, secret, len, msg, sizeof msg, mac))
		return RG_ERR_CRYPTO;
	maclen = mbedtls_md_get_size(md);
	off = mac[maclen - 1] & 0x0f; /* dynamic truncation */
	bin = (uint32_t)(mac[off] & 0x7f) << 24 | (uint32_t)mac[off + 1] << 16 |
	      (uint32_t)mac[off + 2] << 8 | mac[off + 3];
	*code = bin % pow10[digits];
	rg_wipe(mac, sizeof mac);
	return 0;
}

int ident_totp(enum ident_totp_alg alg, const uint8_t *secret, size_t len, int64_t t_s,
	       unsigned period_s, unsigned digits, uint32_t *code)
{
	if (t_s < 0 || period_s == 0)
		return RG_ERR_INVAL;
	return ident_hotp(alg, secret, len, (uint64_t)(t_s / period_s), digits, code);
}

int ident_totp_barcode(const char *prefix, const char *ref, uint32_t code, unsigned digits,
		       char *out, size_t cap)
{
	int n;

	if (!prefix || !ref || !out || digits < 6 || digits > 8 || code >= pow10[digits] ||
	    !ident_ref_valid(ref, strlen(ref)))
		return RG_ERR_INVAL;
	n = snprintf(out, cap, "%s%s:%0*u", prefix, ref, (int)digits, (unsigned)code);
	if (n < 0 || (size_t)n >= cap)
		return RG_ERR_TOOBIG;
	return n;
}

int ident__totp_check(const struct ident_config *cfg, struct ident_secret_store *secrets,
		      const uint8_t seal_key[RG_AEAD_KEY_LEN], int64_t now_s, const char *s,
		      size_t len, struct ident__canon *out, enum ident_reason *why)
{
	const size_t plen = strlen(cfg->totp.prefix);
	const char *body = s + plen, *colon = NULL;
	size_t blen = len - plen, rlen, clen;
	char ref[IDENT_REF_MAX + 1];
	uint8_t sealed[IDENT_TOTP_SEALED_MAX], secret[IDENT_TOTP_SEALED_MAX], aad[128];
	uint32_t code = 0;
	int reused = 0, rc = 0, slen = 0;
	int64_t step;

	out->type = IDENT_TYPE_TOTP;
	*why = IDENT_TOTP_MALFORMED;
	if (!cfg->totp.enabled) {
		*why = IDENT_TYPE_DISABLED;
		return 0;
	}
	for (size_t i = 0; i < blen; i++)
		if (body[i] == ':')
			colon = body + i;
	if (!colon)
		return 0;
	rlen = (size_t)(colon - body);
	clen = blen - rlen - 1;
	if (!ident_ref_valid(body, rlen) || clen != cfg->totp.digits)
		return 0;
	for (size_t i = 0; i < clen; i++) {
		if (colon[1 + i] < '0' || colon[1 + i] > '9')
			return 0;
		code = code * 10 + (uint32_t)(colon[1 + i] - '0');
	}
	memcpy(ref, body, rlen);
	ref[rlen] = '\0';

	rc = secrets->ops->get(secrets->priv, ref, sealed, sizeof sealed);
	if (rc == RG_ERR_NOTFOUND) {
		*why = IDENT_TOTP_UNKNOWN_CUSTOMER;
		rc = 0;
		goto out;
	}
	if (rc < 0)
		goto out;
	slen = rg_aead_open(seal_key, aad, ident__seal_aad(ref, aad, sizeof aad), sealed,
			    (size_t)rc, secret, sizeof secret);
	if (slen < 0) {
		rg_error(IDENT_LOG, "totp_secret_unsealable", "error=%s", rg_errname(slen));
		rc = slen;
		goto out;
	}
	*why = IDENT_TOTP_OUT_OF_WINDOW;
	step = now_s < 0 ? -1 : now_s / (int64_t)cfg->totp.period_s;
	for (int64_t k = -(int64_t)cfg->totp.window; k <= (int64_t)cfg->totp.window; k++) {
		uint32_t want;
		if (step + k < 0)
			continue;
		rc = ident_hotp(cfg->totp.alg, secret, (size_t)slen, (uint64_t)(step + k),
				cfg->totp.digits, &want);
		if (rc < 0)
			goto out;
		if (!rg_ct_equal(&want, &code, sizeof code))
			continue;
		rc = secrets->ops->advance(secrets->priv, ref, step + k);
		if (rc < 0)
			goto out;
		if (rc == 1) {
			reused = 1;
			continue;
		}
		*why = IDENT_OK;
		break;
	}
	rc = 0;
	if (*why == IDENT_OK)
		rc = ident__canon_set(out, IDENT_TYPE_TOTP, ref, rlen);
	else if (reused)
		*why = IDENT_TOTP_REUSED;
out:
	rg_wipe(secret, sizeof secret);
	rg_wipe(&code, sizeof code);
	rg_wipe(ref, sizeof ref);
	return rc;
}
