/*
 * nfc_ndef.c - an identifier inside an NDEF message: the first URI or Text
 * record that starts with a configured prefix decides. What follows the
 * prefix is either a loyalty id (through the loyalty rules, so a card's NFC
 * tag and its barcode give the same token) or an nfc_ndef id of its own.
 */
#include <string.h>

#include "common/crypto.h"
#include "common/ident_ndef.h"
#include "common/ident_token.h"
#include "ident_internal.h"

static enum ident_reason match(const struct ident_config *cfg, enum ident_ndef_field field,
			       const char *v, size_t n, struct ident__canon *out, int *matched)
{
	for (size_t i = 0; i < cfg->nfc_ndef.n_patterns; i++) {
		const struct ident_ndef_pattern *p = &cfg->nfc_ndef.patterns[i];
		size_t plen = strlen(p->prefix);

		if (p->field != field || !ident__has_prefix(v, n, p->prefix))
			continue;
		*matched = 1;
		if (p->as == IDENT_TYPE_LOYALTY)
			return ident__loyalty(cfg, v + plen, n - plen, out);
		out->type = IDENT_TYPE_NFC_NDEF;
		if (n - plen == 0)
			return IDENT_TOO_SHORT;
		if (n - plen > IDENT_CANON_MAX)
			return IDENT_TOO_LONG;
		if (!ident_ref_valid(v + plen, n - plen))
			return IDENT_BAD_CHARSET;
		return ident__canon_set(out, IDENT_TYPE_NFC_NDEF, v + plen, n - plen) < 0
			   ? IDENT_TOO_LONG
			   : IDENT_OK;
	}
	return IDENT_NO_MATCH;
}

enum ident_reason ident__nfc_ndef(const struct ident_config *cfg, const uint8_t *msg, size_t len,
				  struct ident__canon *out)
{
	struct ident_ndef_message m;
	char uri[IDENT_NDEF_URI_MAX + 1];
	enum ident_reason why;

	out->type = IDENT_TYPE_NFC_NDEF;
	if (!cfg->nfc_ndef.enabled)
		return IDENT_TYPE_DISABLED;
	if (ident_ndef_parse(msg, len, &m, &why) < 0)
		return IDENT_NDEF_MALFORMED;
	if (why != IDENT_OK)
		return why;
	why = IDENT_NO_MATCH;
	for (size_t i = 0; i < m.n; i++) {
		const struct ident_ndef_record *r = &m.rec[i];
		int matched = 0;

		if (ident_ndef_is_uri(r)) {
			size_t n;
			ident_ndef_uri(r, uri, sizeof uri, &n, &why);
			if (why == IDENT_OK)
				why = match(cfg, IDENT_NDEF_FIELD_URI, uri, n, out, &matched);
			else
				matched = 1; /* a broken URI record refuses the message */
		} else if (ident_ndef_is_text(r)) {
			char lang[IDENT_NDEF_LANG_MAX + 1];
			const uint8_t *text;
			size_t n;
			ident_ndef_text(r, lang, sizeof lang, &text, &n, &why);
			if (why == IDENT_OK)
				why = match(cfg, IDENT_NDEF_FIELD_TEXT, (const char *)text, n, out,
					    &matched);
			else
				matched = 1;
		}
		if (matched)
			break;
		why = IDENT_NO_MATCH;
	}
	rg_wipe(uri, sizeof uri);
	rg_wipe(&m, sizeof m);
	return why;
}
