/*
 * fuzz_config.c - libFuzzer target: regulars-cloud's configuration parser
 * on arbitrary bytes. It must return 0 or RG_ERR_CONFIG, never crash or
 * leak, and a parsed config must hold only valid values.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cloud/cloud.h"
#include "common/err.h"
#include "common/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cloud_config c;
	char err[512];
	rg_log_set_level(RG_LOG_OFF);
	int rc = cloud_config_parse((const char *)data, size, &c, err, sizeof err);
	if (rc != 0 && rc != RG_ERR_CONFIG)
		abort();
	if (rc == 0 &&
	    (c.port < 1 || c.port > 65535 || !rg_wire_identity_valid(c.identity) || !c.db_path[0] ||
	     c.stats_interval_s < 1 || !cloud_repl_policy_name(c.repl.kind) ||
	     c.repl.recent_days < 1 || c.repl.recent_days > CLOUD_REPL_DAYS_MAX ||
	     c.repl.retention_days < 1 || c.repl.retention_days > CLOUD_REPL_DAYS_MAX))
		abort();
	return 0;
}
