/*
 * fuzz_uplink.c - libFuzzer target: everything a device can send the
 * gateway. The first byte picks a lane and whether the device is known, a
 * topic is taken up to the first NUL, the rest is the payload: topic parse,
 * batch checks and the receipt for the verdict.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "common/log.h"
#include "gateway/uplink.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char topic[300], receipt[GW_RECEIPT_MAX];
	struct gw_topic t;
	struct gw_uplink u;
	const uint8_t *nul;
	size_t tl;

	rg_log_set_level(RG_LOG_OFF);
	if (size < 1)
		return 0;
	uint8_t sel = data[0];
	data++, size--;
	nul = memchr(data, 0, size < sizeof topic - 1 ? size : sizeof topic - 1);
	tl = nul ? (size_t)(nul - data) : 0;
	memcpy(topic, data, tl);
	topic[tl] = '\0';
	(void)gw_topic_parse(topic, "0042", &t);
	if (nul)
		data += tl + 1, size -= tl + 1;
	if (gw_uplink_check("0042", (sel & 4) ? "gw-0042" : "dev-0042-k1", sel & 8,
			    (enum rg_lane)(sel % RG_LANE__COUNT), data, size, &u) == 0) {
		if (u.has_batch_id)
			(void)gw_receipt_encode(&u.batch_id, u.refusal, receipt, sizeof receipt);
		gw_uplink_free(&u);
	}
	return 0;
}
