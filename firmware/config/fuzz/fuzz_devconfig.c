/*
 * fuzz_devconfig.c - libFuzzer target for the device configuration parser:
 * any bytes in, either a config or an error naming a key out; a parsed
 * config must survive a reload check against itself, and an error message
 * must be a terminated string.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/log.h"
#include "firmware/devconfig.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct devcfg a, b;
	char err[512];
	int rc;

	rg_log_set_level(RG_LOG_OFF);
	memset(err, 'x', sizeof err);
	rc = devcfg_parse((const char *)data, size, &a, err, sizeof err);
	if (memchr(err, '\0', sizeof err) == NULL)
		abort();
	if (rc == 0) {
		if (devcfg_parse((const char *)data, size, &b, err, sizeof err) != 0 ||
		    devcfg_reload_check(&a, &b, err, sizeof err) != 0)
			abort();
	} else if (rc != RG_ERR_CONFIG && rc != RG_ERR_PARSE && rc != RG_ERR_TOOBIG &&
		   rc != RG_ERR_NOMEM) {
		abort();
	}
	return 0;
}
