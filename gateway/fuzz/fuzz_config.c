/*
 * fuzz_config.c - libFuzzer target: the gateway's configuration parser on
 * arbitrary bytes, and the reload check against a fixed good configuration.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "common/log.h"
#include "gateway/gwconfig.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char good[] =
	    "{\"store_id\":\"0042\",\"store_broker\":{\"host\":\"localhost\"},"
	    "\"central_broker\":{\"host\":\"c\"},\"tls\":{\"ca_file\":\"a\",\"cert_file\":\"b\","
	    "\"key_file\":\"c\"},\"spool\":{\"path\":\"s\"}}";
	struct gwcfg c, g;
	char err[256];
	rg_log_set_level(RG_LOG_OFF);
	if (gwcfg_parse((const char *)data, size, &c, err, sizeof err) == 0) {
		if (gwcfg_parse(good, strlen(good), &g, err, sizeof err) == 0) {
			(void)gwcfg_reload_check(&g, &c, err, sizeof err);
			gwcfg_free(&g);
		}
		(void)gwcfg_device_known(&c, "dev-a");
		gwcfg_free(&c);
	}
	return 0;
}
