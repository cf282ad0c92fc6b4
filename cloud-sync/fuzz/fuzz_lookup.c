/*
 * fuzz_lookup.c - libFuzzer target: what a worker parses from the central
 * broker besides batches: the topic name and the lookup request. The first
 * byte picks the parser; an accepted lookup's token must round-trip.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cloud/cloud.h"
#include "common/err.h"
#include "common/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t token[RG_TOKEN_LEN];
	char err[256], *text;
	rg_log_set_level(RG_LOG_OFF);
	if (size < 1)
		return 0;
	if (data[0] & 1) {
		struct cloud_topic t;
		if (!(text = malloc(size)))
			return 0;
		memcpy(text, data + 1, size - 1);
		text[size - 1] = '\0';
		if (cloud_topic_parse(text, &t) == 0 &&
		    (strncmp(t.gateway, "gw-", 3) || strcmp(t.gateway + 3, t.store)))
			abort();
		free(text);
		return 0;
	}
	if (cloud_lookup_parse((const char *)data + 1, size - 1, token, err, sizeof err) == 0) {
		char doc[200];
		uint8_t again[RG_TOKEN_LEN];
		int n = snprintf(doc, sizeof doc, "{\"v\":1,\"type\":\"lookup\",\"token\":\"");
		for (size_t i = 0; i < RG_TOKEN_LEN; i++)
			n += snprintf(doc + n, sizeof doc - (size_t)n, "%02x", token[i]);
		n += snprintf(doc + n, sizeof doc - (size_t)n, "\"}");
		if (cloud_lookup_parse(doc, (size_t)n, again, err, sizeof err) != 0 ||
		    memcmp(token, again, sizeof token))
			abort();
	}
	return 0;
}
