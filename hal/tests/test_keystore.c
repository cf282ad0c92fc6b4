/* test_keystore.c - both keystore backends against the same expectations
 * (get/put/replace/remove, caps, names), then what only the file backend
 * promises: 0600 files, refusal of loose permissions, foreign owners and
 * symlinks, atomic replace without leftovers, persistence across reopen. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <dirent.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "common/err.h"
#include "common/log.h"
#include "hal/keystore.h"

#include "hal_test_util.h"

static void contract(struct hal_keystore *ks)
{
	uint8_t buf[64];
	static const uint8_t k1[32] = {1, 2, 3, 4, 5};
	assert_int_equal(hal_keystore_get(ks, "tenant-id-key", buf, sizeof buf), RG_ERR_NOTFOUND);
	assert_int_equal(hal_keystore_put(ks, "tenant-id-key", k1, sizeof k1), 0);
	assert_int_equal(hal_keystore_get(ks, "tenant-id-key", buf, sizeof buf), 32);
	assert_memory_equal(buf, k1, 32);
	assert_int_equal(hal_keystore_get(ks, "tenant-id-key", buf, 31), RG_ERR_TOOBIG);
	assert_int_equal(hal_keystore_put(ks, "tenant-id-key", "short", 5), 0);
	assert_int_equal(hal_keystore_get(ks, "tenant-id-key", buf, sizeof buf), 5);
	assert_memory_equal(buf, "short", 5);
	assert_int_equal(hal_keystore_put(ks, "profile.aead_v2", k1, 16), 0);
	assert_int_equal(hal_keystore_remove(ks, "tenant-id-key"), 0);
	assert_int_equal(hal_keystore_remove(ks, "tenant-id-key"), RG_ERR_NOTFOUND);
	assert_int_equal(hal_keystore_get(ks, "tenant-id-key", buf, sizeof buf), RG_ERR_NOTFOUND);
	assert_int_equal(hal_keystore_get(ks, "profile.aead_v2", buf, sizeof buf), 16);
	/* names and sizes */
	assert_int_equal(hal_keystore_put(ks, "../etc/passwd", k1, 4), RG_ERR_INVAL);
	assert_int_equal(hal_keystore_put(ks, ".hidden", k1, 4), RG_ERR_INVAL);
	assert_int_equal(hal_keystore_put(ks, "Upper", k1, 4), RG_ERR_INVAL);
	assert_int_equal(hal_keystore_put(ks, "", k1, 4), RG_ERR_INVAL);
	assert_int_equal(hal_keystore_put(ks, "empty", k1, 0), RG_ERR_INVAL);
	{
		static uint8_t big[HAL_KEY_VALUE_MAX + 1];
		assert_int_equal(hal_keystore_put(ks, "big", big, sizeof big), RG_ERR_TOOBIG);
		assert_int_equal(hal_keystore_put(ks, "big", big, HAL_KEY_VALUE_MAX), 0);
	}
	assert_int_equal(hal_keystore_get(ks, "a/b", buf, sizeof buf), RG_ERR_INVAL);
}

static void sim_backend_contract(void **state)
{
	struct hal_keystore *ks;
	(void)state;
	assert_int_equal(hal_keystore_open("sim", NULL, &ks), 0);
	contract(ks);
	assert_string_equal(hal_keystore_backend(ks), "sim");
	hal_keystore_close(ks);
	assert_int_equal(hal_keystore_open("sim", "dir=/x", &ks), RG_ERR_CONFIG);
	assert_int_equal(hal_keystore_open("tpm", NULL, &ks), RG_ERR_NOTFOUND);
}

struct fx {
	char dir[256], keys[300], opts[320];
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof *f);
	tu_tmpdir(f->dir, sizeof f->dir);
	snprintf(f->keys, sizeof f->keys, "%s/keys", f->dir);
	snprintf(f->opts, sizeof f->opts, "dir=%s", f->keys);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	tu_rmtree(f->dir);
	free(f);
	return 0;
}

static void file_backend_contract_and_modes(void **state)
{
	struct fx *f = *state;
	struct hal_keystore *ks;
	char path[400];
	struct stat st;
	uint8_t buf[16];
	DIR *d;
	struct dirent *e;
	int files = 0;

	assert_int_equal(hal_keystore_open("file", f->opts, &ks), 0);
	assert_int_equal(stat(f->keys, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700); /* created private */
	contract(ks);
	snprintf(path, sizeof path, "%s/profile.aead_v2", f->keys);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	/* replace leaves no temp files behind */
	assert_int_equal(hal_keystore_put(ks, "profile.aead_v2", "0123456789abcdef", 16), 0);
	d = opendir(f->keys);
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			files++;
	closedir(d);
	assert_int_equal(files, 2); /* profile.aead_v2 and big */
	hal_keystore_close(ks);
	/* persists across reopen */
	assert_int_equal(hal_keystore_open("file", f->opts, &ks), 0);
	assert_int_equal(hal_keystore_get(ks, "profile.aead_v2", buf, sizeof buf), 16);
	assert_memory_equal(buf, "0123456789abcdef", 16);
	hal_keystore_close(ks);
}

static void loose_or_foreign_key_files_are_refused(void **state)
{
	struct fx *f = *state;
	struct hal_keystore *ks;
	char path[400], other[400];
	uint8_t buf[16];

	assert_int_equal(hal_keystore_open("file", f->opts, &ks), 0);
	assert_int_equal(hal_keystore_put(ks, "k", "secret", 6), 0);
	snprintf(path, sizeof path, "%s/k", f->keys);
	assert_int_equal(chmod(path, 0644), 0);
	assert_int_equal(hal_keystore_get(ks, "k", buf, sizeof buf), RG_ERR_PERM);
	assert_int_equal(chmod(path, 0640), 0);
	assert_int_equal(hal_keystore_get(ks, "k", buf, sizeof buf), RG_ERR_PERM);
	assert_int_equal(chmod(path, 0600), 0);
	assert_int_equal(hal_keystore_get(ks, "k", buf, sizeof buf), 6);
	/* a put re-creates the file private even if it was loosened meanwhile */
	assert_int_equal(chmod(path, 0666), 0);
	assert_int_equal(hal_keystore_put(ks, "k", "secret2", 7), 0);
	assert_int_equal(hal_keystore_get(ks, "k", buf, sizeof buf), 7);
	/* symlinks are not followed */
	snprintf(other, sizeof other, "%s/elsewhere", f->dir);
	{
		FILE *x = fopen(other, "w");
		fputs("x", x);
		fclose(x);
		chmod(other, 0600);
	}
	snprintf(path, sizeof path, "%s/link", f->keys);
	assert_int_equal(symlink(other, path), 0);
	assert_int_equal(hal_keystore_get(ks, "link", buf, sizeof buf), RG_ERR_PERM);
	/* a file owned by someone else (only testable as root) */
	if (geteuid() == 0) {
		snprintf(path, sizeof path, "%s/k", f->keys);
		assert_int_equal(chown(path, 12345, 12345), 0);
		assert_int_equal(hal_keystore_get(ks, "k", buf, sizeof buf), RG_ERR_PERM);
	}
	hal_keystore_close(ks);
}

static void open_directory_is_refused(void **state)
{
	struct fx *f = *state;
	struct hal_keystore *ks = NULL;
	char opts[400];

	assert_int_equal(mkdir(f->keys, 0700), 0);
	assert_int_equal(chmod(f->keys, 0777), 0);
	assert_int_equal(hal_keystore_open("file", f->opts, &ks), RG_ERR_PERM);
	assert_null(ks);
	assert_int_equal(chmod(f->keys, 0750), 0); /* group may list, not write: fine */
	assert_int_equal(hal_keystore_open("file", f->opts, &ks), 0);
	hal_keystore_close(ks);
	snprintf(opts, sizeof opts, "dir=%s/missing,create=off", f->dir);
	assert_int_equal(hal_keystore_open("file", opts, &ks), RG_ERR_NOTFOUND);
	assert_int_equal(hal_keystore_open("file", NULL, &ks), RG_ERR_CONFIG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(sim_backend_contract),
	    cmocka_unit_test_setup_teardown(file_backend_contract_and_modes, setup, teardown),
	    cmocka_unit_test_setup_teardown(loose_or_foreign_key_files_are_refused, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(open_directory_is_refused, setup, teardown),
	};
	rg_log_set_level(RG_LOG_OFF);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
