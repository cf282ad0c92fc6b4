/*
 * qr.c - static member QR codes: "<prefix><member id>" with a configured
 * prefix (default "RGM1:"); the canonical value is the member id alone,
 * min_len..max_len characters of [A-Za-z0-9._-].
 */
#include "common/ident_token.h"
#include "ident_internal.h"

enum ident_reason ident__qr(const struct ident_config *cfg, const char *s, size_t len,
			    size_t prefix_len, struct ident__canon *out)
{
	const char *id = s + prefix_len;
	size_t n = len - prefix_len;

	out->type = IDENT_TYPE_QR;
	if (!cfg->qr.enabled)
		return IDENT_TYPE_DISABLED;
	if (n < cfg->qr.min_len)
		return IDENT_TOO_SHORT;
	if (n > cfg->qr.max_len)
		return IDENT_TOO_LONG;
	if (!ident_ref_valid(id, n))
		return IDENT_BAD_CHARSET;
	return ident__canon_set(out, IDENT_TYPE_QR, id, n) < 0 ? IDENT_TOO_LONG : IDENT_OK;
}
