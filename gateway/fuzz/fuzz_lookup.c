/*
 * fuzz_lookup.c - libFuzzer target: central's lookup_result as the gateway
 * parses it before writing a found profile into its store replica.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cJSON.h>

#include "common/log.h"
#include "gateway/replica.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct delta_change p;
	bool found;
	char err[256];
	rg_log_set_level(RG_LOG_OFF);
	if (gw_replica_lookup_parse(data, size, &found, &p, err, sizeof err) == 0 && found)
		cJSON_free(p.body);
	return 0;
}
