/*
 * fuzz_uplink_msg.c - libFuzzer target for what the device uplink parses
 * from the network besides wire acks (fuzz_common_wire covers those): the
 * gateway's receipts and lookup answers, and configuration topic names. The
 * first byte picks the parser; an accepted answer must be a NUL-terminated
 * JSON object that fits; a topic maps to a scope or -1.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "uplink_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char profile[UPLINK_PROFILE_MAX];
	char err[256];
	if (size < 1)
		return 0;
	const char *doc = (const char *)data + 1;
	size_t len = size - 1;
	if ((data[0] & 0xC0) == 0xC0) {
		char topic[300];
		size_t n = len < sizeof topic - 1 ? len : sizeof topic - 1;
		memcpy(topic, doc, n);
		topic[n] = '\0';
		int sc = uplink__config_topic("0042", "dev-0042-k1", topic);
		if (sc < -1 || sc > 3 || (sc >= 0 && strncmp(topic, "rg/v1/s/0042/", 13)))
			abort();
	} else if (data[0] & 1) {
		struct uplink_receipt r;
		if (uplink__receipt_parse(doc, len, &r, err, sizeof err) == 0 &&
		    r.status == UPLINK_SPOOLED && r.reason != UPLINK_REFUSAL_NONE)
			abort();
	} else {
		size_t cap = (data[0] & 2) ? 64 : sizeof profile;
		int rc = uplink__lookup_result_parse(doc, len, profile, cap, err, sizeof err);
		if (rc == 1 && (profile[0] != '{' || strlen(profile) >= cap))
			abort();
		if (rc != 1 && profile[0] != '\0')
			abort();
	}
	return 0;
}
