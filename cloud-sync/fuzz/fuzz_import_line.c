/*
 * fuzz_import_line.c - libFuzzer target: one JSON Lines interaction record
 * of `regularsctl import` (cloud_import_interaction_parse) and the RFC 3339
 * time parser behind its "at". An accepted record must hold what the format
 * promises: a known kind, a channel, exactly one of profile / identifier,
 * a body object, a stamp after 1970.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cloud/import.h"
#include "common/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cloud_import_rec r;
	char err[512], *text;
	int64_t ms;

	rg_log_set_level(RG_LOG_OFF);
	if (cloud_import_interaction_parse((const char *)data, size, &r, err, sizeof err) == 0) {
		if (!cloud_import_kind_valid(r.kind) || !r.channel[0] || !cJSON_IsObject(r.body) ||
		    !r.profile[0] == !r.has_ident || r.hlc.wall_ms <= 0)
			abort();
		cloud_import_rec_free(&r);
	} else if (!err[0]) {
		abort(); /* every refusal says why */
	}
	if (size < 64 && (text = malloc(size + 1))) {
		memcpy(text, data, size);
		text[size] = '\0';
		if (cloud_import_time_parse(text, &ms) == 0 && ms <= 0)
			abort();
		free(text);
	}
	return 0;
}
