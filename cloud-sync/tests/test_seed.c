/*
 * test_seed.c - seeding the central store from a customer file: tokens are
 * the ones a reader of the same card produces, a bad line anywhere changes
 * nothing and names its line, and re-seeding the same file is a no-op.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cloud/cloud.h"
#include "cloud_fixture.h"
#include "common/err.h"
#include "common/log.h"

static const uint8_t key[32] = "seed test tenant key 0123456789";

static const char good[] =
    "{\"id\":\"p-000001\",\"version\":1,\"profile\":{\"name\":\"Anna\",\"points\":10},"
    "\"identifiers\":[{\"type\":\"loyalty\",\"value\":\"2000000000015\"},"
    "{\"type\":\"nfc_uid\",\"value\":\"04000000000001\"}]}\n"
    "   \n"
    "{\"id\":\"p-000002\",\"version\":2,\"profile\":{\"name\":\"Bo\"}}\r\n";

struct sfx {
	struct cf_dir dir;
	char db[300], file[300];
	struct cloud_store *s;
};

static int setup(void **state)
{
	struct sfx *f = calloc(1, sizeof *f);
	struct cloud_store_opts o = {0};
	if (!f || cf_dir_make(&f->dir, "seed") < 0)
		return -1;
	snprintf(f->db, sizeof f->db, "%s/cloud.db", f->dir.path);
	snprintf(f->file, sizeof f->file, "%s/customers.jsonl", f->dir.path);
	o.path = f->db;
	if (cloud_store_open(&o, &f->s) < 0)
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct sfx *f = *state;
	cloud_store_close(f->s);
	cf_dir_remove(&f->dir);
	free(f);
	return 0;
}

static int seed_text(struct sfx *f, const char *text, struct cloud_seed_stats *st, char *err,
		     size_t cap)
{
	FILE *fp = fopen(f->file, "w+b");
	int rc;
	assert_non_null(fp);
	fputs(text, fp);
	rewind(fp);
	rc = cloud_seed_file(f->s, key, sizeof key, fp, 1, st, err, cap);
	fclose(fp);
	return rc;
}

static void seeded_cards_find_their_profiles(void **state)
{
	struct sfx *f = *state;
	struct cloud_seed_stats st;
	struct cloud_profile p;
	uint8_t tok[RG_TOKEN_LEN];
	char err[512] = "";

	assert_int_equal(seed_text(f, good, &st, err, sizeof err), 0);
	assert_int_equal(st.profiles, 2);
	assert_int_equal(st.written, 2);
	assert_int_equal(st.identifiers, 2);
	assert_int_equal(rg_token(key, sizeof key, "loyalty", "2000000000015", 13, tok), 0);
	assert_int_equal(cloud_store_profile_by_token(f->s, tok, &p), 1);
	assert_string_equal(p.id, "p-000001");
	assert_int_equal(p.points, 10);
	cloud_profile_clear(&p);
	assert_int_equal(rg_token(key, sizeof key, "nfc_uid", "04000000000001", 14, tok), 0);
	assert_int_equal(cloud_store_profile_by_token(f->s, tok, &p), 1);
	assert_string_equal(p.id, "p-000001");
	cloud_profile_clear(&p);
	assert_int_equal(cloud_store_profile_get(f->s, "p-000002", &p), 1);
	assert_int_equal(p.version, 2);
	cloud_profile_clear(&p);

	/* again: nothing written */
	assert_int_equal(seed_text(f, good, &st, err, sizeof err), 0);
	assert_int_equal(st.written, 0);
}

static void a_bad_line_changes_nothing(void **state)
{
	struct sfx *f = *state;
	struct cloud_seed_stats st;
	struct cloud_store_stats ss;
	char text[2048], err[512] = "";

	snprintf(text, sizeof text, "%s%s", good,
		 "{\"id\":\"p-000003\",\"version\":1,\"profile\":{},\"identifiers\":"
		 "[{\"type\":\"loyalty\",\"value\":\"2000000000016\"}]}\n");
	assert_true(seed_text(f, text, &st, err, sizeof err) < 0);
	assert_non_null(strstr(err, "line 4"));
	assert_non_null(strstr(err, "nothing was loaded"));
	assert_null(strstr(err, "2000000000016")); /* raw values never in messages */
	assert_int_equal(cloud_store_stats(f->s, &ss), 0);
	assert_int_equal(ss.profiles, 0);

	assert_true(seed_text(f, "{\"id\":\"p-1\",\"version\":1,\"profile\":{},\"tier\":1}\n", &st,
			      err, sizeof err) < 0);
	assert_non_null(strstr(err, "line 1"));
	assert_int_equal(cloud_store_stats(f->s, &ss), 0);
	assert_int_equal(ss.profiles, 0);
}

static void tenant_key_file_must_hold_a_key(void **state)
{
	struct sfx *f = *state;
	uint8_t k[64];
	size_t n = 0;
	FILE *fp;
	char path[400];
	snprintf(path, sizeof path, "%s/tenant.key", f->dir.path);
	assert_int_equal(cloud_tenant_key_read(path, k, sizeof k, &n), RG_ERR_IO);
	fp = fopen(path, "wb");
	assert_non_null(fp);
	fwrite("short", 1, 5, fp);
	fclose(fp);
	assert_int_equal(cloud_tenant_key_read(path, k, sizeof k, &n), RG_ERR_RANGE);
	fp = fopen(path, "wb");
	fwrite(key, 1, sizeof key, fp);
	fclose(fp);
	assert_int_equal(cloud_tenant_key_read(path, k, sizeof k, &n), 0);
	assert_int_equal(n, sizeof key);
	assert_memory_equal(k, key, sizeof key);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(seeded_cards_find_their_profiles, setup, teardown),
	    cmocka_unit_test_setup_teardown(a_bad_line_changes_nothing, setup, teardown),
	    cmocka_unit_test_setup_teardown(tenant_key_file_must_hold_a_key, setup, teardown),
	};
	rg_log_set_level(RG_LOG_OFF);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
