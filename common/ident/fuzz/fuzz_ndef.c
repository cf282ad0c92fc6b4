/*
 * fuzz_ndef.c - libFuzzer target for the NDEF parser and the URI / Text
 * record decoders. Invariants: every record lies inside the input, a refusal
 * leaves no records, decoded URIs are NUL-terminated within their cap.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/ident_ndef.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void inside(const uint8_t *data, size_t size, const uint8_t *p, size_t n)
{
	if (n && (p < data || p > data + size || n > (size_t)(data + size - p)))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ident_ndef_message m;
	enum ident_reason why;

	if (ident_ndef_parse(data, size, &m, &why) != 0)
		abort();
	if (why != IDENT_OK) {
		if (m.n != 0)
			abort();
		return 0;
	}
	if (m.n == 0 || m.n > IDENT_NDEF_RECORDS_MAX)
		abort();
	for (size_t i = 0; i < m.n; i++) {
		const struct ident_ndef_record *r = &m.rec[i];
		char uri[IDENT_NDEF_URI_MAX + 1], lang[IDENT_NDEF_LANG_MAX + 1];
		const uint8_t *text;
		size_t n;

		inside(data, size, r->type, r->type_len);
		inside(data, size, r->id, r->id_len);
		inside(data, size, r->payload, r->payload_len);
		if (ident_ndef_is_uri(r)) {
			if (ident_ndef_uri(r, uri, sizeof uri, &n, &why) != 0)
				abort();
			if (why == IDENT_OK && (n > IDENT_NDEF_URI_MAX || strlen(uri) != n))
				abort();
		}
		if (ident_ndef_is_text(r)) {
			if (ident_ndef_text(r, lang, sizeof lang, &text, &n, &why) != 0)
				abort();
			if (why == IDENT_OK) {
				inside(data, size, text, n);
				if (strlen(lang) == 0 || strlen(lang) > IDENT_NDEF_LANG_MAX)
					abort();
			}
		}
	}
	return 0;
}
