/*
 * fuzz_cfgsync.c - libFuzzer target: the topics and payloads the gateway's
 * configuration relay and status mirror take from either broker
 * (gateway/cfgsync.h). Input: lines "c <topic>" / "s <topic>" / "u c|s"
 * (a broker reconnects) / "d c|s" (goes down); a line's payload is the rest
 * of the input after a "\0" byte on it, if any. Relay only (no state file).
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/log.h"
#include "gateway/cfgsync.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool up[2];

static int f_publish(void *ctx, enum gw_broker b, const char *topic, const void *payload,
		     size_t len)
{
	(void)ctx;
	/* Touch every byte, as the client would. */
	volatile uint8_t sum = 0;
	for (size_t i = 0; i < len; i++)
		sum = (uint8_t)(sum + ((const uint8_t *)payload)[i]);
	(void)sum;
	return up[b] && strlen(topic) < GW_CFG_TOPIC_MAX ? 0 : RG_ERR_CLOSED;
}

static int f_known(void *ctx, const char *dev)
{
	(void)ctx;
	return dev[0] != 'x';
}

static const struct gw_cfgsync_ops ops = {.publish = f_publish, .device_known = f_known};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct gw_cfgsync_params p = {.store_id = "0042", .identity = "gw-0042", .ops = &ops};
	struct gw_cfgsync *s;
	size_t i = 0;

	rg_log_set_level(RG_LOG_OFF);
	up[0] = up[1] = true;
	if (gw_cfgsync_new(&p, &s, NULL, 0) < 0)
		return 0;
	while (i + 2 <= size) {
		const uint8_t *line = data + i, *nl = memchr(line, '\n', size - i);
		size_t n = nl ? (size_t)(nl - line) : size - i;
		const uint8_t *zero = memchr(line, 0, n);
		char topic[300];
		size_t tn = (zero ? (size_t)(zero - line) : n) - 2;
		const void *payload = zero ? zero + 1 : NULL;
		size_t plen = zero ? n - (size_t)(zero - line) - 1 : 0;

		i += n + 1;
		if (line[1] != ' ' || tn >= sizeof topic)
			continue;
		memcpy(topic, line + 2, tn);
		topic[tn] = '\0';
		switch (line[0]) {
		case 'c':
			gw_cfgsync_central(s, topic, payload ? payload : "", plen);
			break;
		case 's':
			gw_cfgsync_store(s, topic, payload ? payload : "", plen);
			break;
		case 'u':
			up[topic[0] == 'c'] = true;
			gw_cfgsync_link_up(s,
					   topic[0] == 'c' ? GW_BROKER_CENTRAL : GW_BROKER_STORE);
			break;
		case 'd':
			up[topic[0] == 'c'] = false;
			break;
		}
	}
	gw_cfgsync_free(s);
	return 0;
}
