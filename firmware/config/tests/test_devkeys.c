/*
 * test_devkeys.c - the device's keystore secrets on the real `file` backend
 * (a 0700 temp dir) and the memory-only `sim` backend: a new database gets
 * generated, persisted store and TOTP keys; a missing tenant key, a missing
 * key beside an existing database, keys of the wrong length and an open
 * directory are refused, and a refused start writes nothing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/err.h"
#include "common/log.h"
#include "firmware/devconfig.h"
#include "firmware/devkeys.h"
#include "hal/keystore.h"

static char tmpdir[128], keydir[160];
static struct devcfg cfg;
static const uint8_t tenant[32] = "tenant identifier key for tests";

static void key_file(const char *name, char *out, size_t cap)
{
	snprintf(out, cap, "%s/%s", keydir, name);
}

static int exists(const char *name)
{
	char p[256];
	struct stat sb;
	key_file(name, p, sizeof p);
	return stat(p, &sb) == 0;
}

static int setup(void **state)
{
	const char *t = getenv("TMPDIR");
	char json[512], err[256];
	(void)state;
	rg_log_set_level(RG_LOG_OFF);
	snprintf(tmpdir, sizeof tmpdir, "%s/rg-devkeys-XXXXXX",
		 t && *t && strlen(t) < 80 ? t : "/tmp");
	if (!mkdtemp(tmpdir))
		return -1;
	snprintf(keydir, sizeof keydir, "%s/keys", tmpdir);
	if (mkdir(keydir, 0700) < 0)
		return -1;
	snprintf(json, sizeof json,
		 "{\"device_id\":\"dev-1\",\"store_id\":\"s1\",\"role\":\"kiosk\","
		 "\"database\":\"%s/device.db\",\"keystore\":{\"options\":\"dir=%s\"}}",
		 tmpdir, keydir);
	return devcfg_parse(json, strlen(json), &cfg, err, sizeof err) == 0 ? 0 : -1;
}

static int teardown(void **state)
{
	static const char *const names[] = {"store.key", "tenant.key", "totp.key"};
	char p[256];
	(void)state;
	for (size_t i = 0; i < 3; i++) {
		key_file(names[i], p, sizeof p);
		unlink(p);
	}
	chmod(keydir, 0700);
	rmdir(keydir);
	rmdir(tmpdir);
	return 0;
}

static int all_zero(const void *p, size_t n)
{
	const uint8_t *b = p;
	for (size_t i = 0; i < n; i++)
		if (b[i])
			return 0;
	return 1;
}

static void load_ok(bool db_is_new, struct devkeys *k)
{
	char err[256] = "";
	int rc = devkeys_load(&cfg, db_is_new, k, err, sizeof err);
	if (rc)
		fail_msg("devkeys_load: %s: %s", rg_errname(rc), err);
}

static void new_database_generates_and_persists_keys(void **state)
{
	struct devkeys k1, k2;
	char err[256], p[256];
	struct stat sb;
	(void)state;
	assert_int_equal(devkeys_provision_tenant(&cfg, tenant, sizeof tenant, err, sizeof err), 0);
	load_ok(true, &k1);
	assert_int_equal(k1.tenant_key_len, sizeof tenant);
	assert_memory_equal(k1.tenant_key, tenant, sizeof tenant);
	assert_false(all_zero(k1.store_key, sizeof k1.store_key));
	assert_false(all_zero(k1.totp_key, sizeof k1.totp_key));
	assert_memory_not_equal(k1.store_key, k1.totp_key, sizeof k1.store_key);
	/* on disk: 32 bytes each, private */
	for (int i = 0; i < 2; i++) {
		key_file(i ? "totp.key" : "store.key", p, sizeof p);
		assert_int_equal(stat(p, &sb), 0);
		assert_int_equal(sb.st_size, 32);
		assert_int_equal(sb.st_mode & 077, 0);
	}
	/* the next start (database now exists) reads the same keys */
	load_ok(false, &k2);
	assert_memory_equal(&k1, &k2, sizeof k1);
	/* and so does a start that finds no database but the keys */
	load_ok(true, &k2);
	assert_memory_equal(k1.store_key, k2.store_key, sizeof k1.store_key);
	devkeys_wipe(&k1);
	assert_true(all_zero(&k1, sizeof k1));
	devkeys_wipe(&k2);
}

static void missing_tenant_key_refuses_and_writes_nothing(void **state)
{
	struct devkeys k;
	char err[256];
	(void)state;
	memset(&k, 0xee, sizeof k);
	assert_int_equal(devkeys_load(&cfg, true, &k, err, sizeof err), RG_ERR_MISSING);
	assert_string_equal(err, "tenant.key is not provisioned (regularsctl device provision)");
	assert_true(all_zero(&k, sizeof k));
	assert_false(exists("store.key"));
	assert_false(exists("totp.key"));
}

static void existing_database_without_its_keys_is_refused(void **state)
{
	struct devkeys k, again;
	char err[512], p[256];
	(void)state;
	assert_int_equal(devkeys_provision_tenant(&cfg, tenant, sizeof tenant, err, sizeof err), 0);
	load_ok(true, &k);
	key_file("store.key", p, sizeof p);
	assert_int_equal(unlink(p), 0);
	assert_int_equal(devkeys_load(&cfg, false, &again, err, sizeof err), RG_ERR_VERIFY);
	assert_non_null(strstr(err, "store.key is gone"));
	assert_non_null(strstr(err, "cannot be read"));
	assert_true(all_zero(&again, sizeof again));
	assert_false(exists("store.key")); /* nothing generated behind the database's back */
	/* only a new database gets a new key (which is then another key) */
	load_ok(true, &again);
	assert_memory_not_equal(k.store_key, again.store_key, sizeof k.store_key);
	assert_memory_equal(k.totp_key, again.totp_key, sizeof k.totp_key);

	key_file("totp.key", p, sizeof p);
	assert_int_equal(unlink(p), 0);
	assert_int_equal(devkeys_load(&cfg, false, &again, err, sizeof err), RG_ERR_VERIFY);
	assert_non_null(strstr(err, "totp.key is gone"));
	assert_false(exists("totp.key"));
	devkeys_wipe(&k);
}

static void wrong_lengths_are_refused(void **state)
{
	struct hal_keystore *ks;
	struct devkeys k;
	uint8_t big[65] = {1};
	char err[256];
	(void)state;
	assert_int_equal(devkeys_provision_tenant(&cfg, big, 15, err, sizeof err), RG_ERR_RANGE);
	assert_non_null(strstr(err, "16..64"));
	assert_int_equal(devkeys_provision_tenant(&cfg, big, 65, err, sizeof err), RG_ERR_RANGE);
	assert_false(exists("tenant.key"));
	assert_int_equal(devkeys_provision_tenant(&cfg, big, 64, err, sizeof err), 0);
	load_ok(true, &k);
	assert_int_equal(k.tenant_key_len, 64);

	/* keys put by something else with the wrong size */
	assert_int_equal(hal_keystore_open("file", cfg.keystore.options, &ks), 0);
	assert_int_equal(hal_keystore_put(ks, "tenant.key", big, 8), 0);
	assert_int_equal(devkeys_load(&cfg, false, &k, err, sizeof err), RG_ERR_RANGE);
	assert_string_equal(err, "tenant.key has 8 bytes, needs 16..64");
	assert_int_equal(hal_keystore_put(ks, "tenant.key", big, sizeof big), 0);
	assert_int_equal(devkeys_load(&cfg, false, &k, err, sizeof err), RG_ERR_RANGE);
	assert_non_null(strstr(err, "tenant.key is longer than 64"));
	assert_int_equal(hal_keystore_put(ks, "tenant.key", tenant, sizeof tenant), 0);
	assert_int_equal(hal_keystore_put(ks, "store.key", big, 31), 0);
	assert_int_equal(devkeys_load(&cfg, false, &k, err, sizeof err), RG_ERR_RANGE);
	assert_string_equal(err, "store.key has 31 bytes, needs 32");
	assert_int_equal(hal_keystore_put(ks, "store.key", big, 33), 0);
	assert_int_equal(devkeys_load(&cfg, false, &k, err, sizeof err), RG_ERR_RANGE);
	hal_keystore_close(ks);
	assert_true(all_zero(&k, sizeof k));
}

static void a_keystore_open_to_others_is_refused(void **state)
{
	struct devkeys k;
	char err[512];
	(void)state;
	assert_int_equal(chmod(keydir, 0777), 0);
	assert_int_equal(devkeys_load(&cfg, true, &k, err, sizeof err), RG_ERR_PERM);
	assert_non_null(strstr(err, "keystore file"));
	assert_int_equal(devkeys_provision_tenant(&cfg, tenant, sizeof tenant, err, sizeof err),
			 RG_ERR_PERM);
	assert_int_equal(chmod(keydir, 0700), 0);
	assert_false(exists("tenant.key"));
}

static void sim_keystore(void **state)
{
	struct hal_keystore *ks;
	struct devkeys k1, k2;
	struct devcfg sim = cfg;
	char err[256];
	(void)state;
	/* a sim keystore opened by devkeys_load is empty: never provisioned */
	snprintf(sim.keystore.backend, sizeof sim.keystore.backend, "sim");
	sim.keystore.options[0] = '\0';
	assert_int_equal(devkeys_load(&sim, true, &k1, err, sizeof err), RG_ERR_MISSING);
	assert_int_equal(devkeys_provision_tenant(&sim, tenant, sizeof tenant, err, sizeof err), 0);

	/* one the caller holds open keeps what was generated */
	assert_int_equal(hal_keystore_open("sim", "", &ks), 0);
	assert_int_equal(devkeys_load_from(ks, true, &k1, err, sizeof err), RG_ERR_MISSING);
	assert_int_equal(hal_keystore_get(ks, "store.key", k1.store_key, 32), RG_ERR_NOTFOUND);
	assert_int_equal(hal_keystore_put(ks, "tenant.key", tenant, 16), 0);
	assert_int_equal(devkeys_load_from(ks, true, &k1, err, sizeof err), 0);
	assert_int_equal(k1.tenant_key_len, 16);
	assert_int_equal(devkeys_load_from(ks, false, &k2, err, sizeof err), 0);
	assert_memory_equal(&k1, &k2, sizeof k1);
	assert_int_equal(hal_keystore_remove(ks, "store.key"), 0);
	assert_int_equal(devkeys_load_from(ks, false, &k2, err, sizeof err), RG_ERR_VERIFY);
	assert_int_equal(devkeys_load_from(NULL, false, &k2, err, sizeof err), RG_ERR_INVAL);
	hal_keystore_close(ks);
	devkeys_wipe(&k1);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	const struct CMUnitTest tests[] = {
	    T(new_database_generates_and_persists_keys),
	    T(missing_tenant_key_refuses_and_writes_nothing),
	    T(existing_database_without_its_keys_is_refused),
	    T(wrong_lengths_are_refused),
	    T(a_keystore_open_to_others_is_refused),
	    T(sim_keystore),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
