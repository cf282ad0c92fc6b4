/*
 * cfg_keys.h - test helper of test_cfgdoc and test_cfgstate: config-signing
 * keys generated in memory and key sets built from them.
 */
#ifndef COMMON_TESTS_CFG_KEYS_H
#define COMMON_TESTS_CFG_KEYS_H

#include <stdint.h>

#include "common/cfgdoc.h"

#define CFGT_KEYS 7
extern struct rg_ec_key *cfgt_key[CFGT_KEYS];

/* Generate the keys (and silence the log unless TEST_LOG is set); 0 or -1. */
int cfgt_keys_setup(void);
void cfgt_keys_teardown(void);
/* A key set of tenant, version and threshold holding the keys listed
 * (indexes into cfgt_key, -1 ends). */
void cfgt_keyset(struct cfgdoc_keyset *ks, const char *tenant, int64_t version, int threshold,
		 const int *idx);

#endif
