/*
 * cfg_keys.c - see cfg_keys.h.
 */
#include "cfg_keys.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/log.h"

struct rg_ec_key *cfgt_key[CFGT_KEYS];

int cfgt_keys_setup(void)
{
	rg_log_set_level(getenv("TEST_LOG") ? RG_LOG_DEBUG : RG_LOG_OFF);
	for (int i = 0; i < CFGT_KEYS; i++)
		if (rg_ec_key_generate(&cfgt_key[i], rg_rand_system()) < 0)
			return -1;
	return 0;
}

void cfgt_keys_teardown(void)
{
	for (int i = 0; i < CFGT_KEYS; i++) {
		rg_ec_key_free(cfgt_key[i]);
		cfgt_key[i] = NULL;
	}
}

void cfgt_keyset(struct cfgdoc_keyset *ks, const char *tenant, int64_t version, int threshold,
		 const int *idx)
{
	memset(ks, 0, sizeof *ks);
	snprintf(ks->tenant, sizeof ks->tenant, "%s", tenant);
	ks->version = version;
	ks->threshold = threshold;
	for (; *idx >= 0; idx++, ks->n++) {
		assert_true(rg_ec_key_public_raw(cfgt_key[*idx], ks->keys[ks->n].pub) >= 0);
		assert_true(rg_ec_key_id(cfgt_key[*idx], ks->keys[ks->n].id) >= 0);
	}
}
