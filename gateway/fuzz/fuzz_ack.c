/*
 * fuzz_ack.c - libFuzzer target: central's acks as the gateway checks them
 * before it relays one to a device and applies it to its spool.
 */
#include <stddef.h>
#include <stdint.h>

#include "common/log.h"
#include "gateway/uplink.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rg_wire_ack a;
	char err[256];
	rg_log_set_level(RG_LOG_OFF);
	if (gw_ack_check(data, size, &a, err, sizeof err) == 0)
		rg_wire_ack_free(&a);
	return 0;
}
