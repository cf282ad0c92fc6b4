/*
 * fuzz_settings.c - libFuzzer target for the settings schema: any JSON is
 * checked by rg_settings_check (accepted or refused with a message, never a
 * crash), merged with itself and diffed. Invariants, which abort when broken:
 * a document differs from itself in nothing; an accepted document merged
 * with itself is accepted again and equals the document; its opening hours
 * can be read.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/json.h"
#include "common/settings.h"

#define INPUT_MAX (64 * 1024)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static FILE *sink;
	char err[RG_JSON_ERR_MAX];
	cJSON *doc = NULL, *merged;
	const cJSON *layers[3];
	int rc;

	if (!sink && !(sink = fopen("/dev/null", "w")))
		abort();
	if (rg_json_parse((const char *)data, size, INPUT_MAX, &doc, err, sizeof err) < 0)
		return 0;
	rc = rg_settings_check(doc, err, sizeof err);
	if (rc != 0 && rc != RG_ERR_CONFIG && rc != RG_ERR_NOMEM)
		abort();
	if (rc == RG_ERR_CONFIG && (!err[0] || strlen(err) >= sizeof err))
		abort();
	if (rg_settings_diff(doc, doc, sink) != 0)
		abort();

	layers[0] = doc, layers[1] = NULL, layers[2] = doc;
	merged = rg_settings_merge(layers, 3);
	if (merged) {
		rg_settings_diff(doc, merged, sink);
		rg_settings_diff(merged, NULL, sink);
		if (rc == 0) {
			struct rg_settings_hours h;
			if (rg_settings_check(merged, err, sizeof err) != 0)
				abort();
			if (rg_settings_diff(doc, merged, NULL) != 0)
				abort();
			if (rg_settings_hours_get(merged, &h) != 0)
				abort();
			for (int d = 0; d < 7; d++)
				for (int m = 0; m < 1440; m += 239)
					rg_settings_hours_open(&h, d, m);
		}
		cJSON_Delete(merged);
	}
	cJSON_Delete(doc);
	return 0;
}
