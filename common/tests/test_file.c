/* rg_file_read: the whole file and a NUL after it, the cap checked before
 * and while reading (a file whose size stat does not tell, like those in
 * /proc, grows the buffer as it is read), and errors that name the file. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/err.h"
#include "common/file.h"

static char dir[256], path[300];

static int setup(void **state)
{
	const char *t = getenv("TMPDIR");
	(void)state;
	snprintf(dir, sizeof dir, "%s/rg-file-XXXXXX", t && *t ? t : "/tmp");
	if (!mkdtemp(dir))
		return -1;
	snprintf(path, sizeof path, "%s/f", dir);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	unlink(path);
	return rmdir(dir);
}

static void put(const char *text, size_t n)
{
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(text, 1, n, f), n);
	assert_int_equal(fclose(f), 0);
}

static void reads_the_whole_file_up_to_the_cap(void **state)
{
	char *buf, err[200];
	size_t len;
	(void)state;
	put("hello\0world", 11);
	assert_int_equal(rg_file_read(path, 11, &buf, &len, err, sizeof err), 0);
	assert_int_equal(len, 11);
	assert_memory_equal(buf, "hello\0world", 12); /* and the NUL after */
	free(buf);

	assert_int_equal(rg_file_read(path, 10, &buf, &len, err, sizeof err), RG_ERR_TOOBIG);
	assert_null(buf);
	assert_int_equal(len, 0);
	assert_non_null(strstr(err, "exceed the limit of 10"));

	put("", 0);
	assert_int_equal(rg_file_read(path, 0, &buf, NULL, err, sizeof err), 0);
	assert_string_equal(buf, "");
	free(buf);
}

static void a_file_stat_cannot_size_is_read_as_it_grows(void **state)
{
	char *buf, err[200];
	size_t len;
	(void)state;
	/* st_size 0, content a few hundred bytes */
	assert_int_equal(rg_file_read("/proc/self/status", 1 << 16, &buf, &len, err, sizeof err),
			 0);
	assert_true(len > 100);
	assert_int_equal(strlen(buf), len);
	assert_memory_equal(buf, "Name:", 5);
	free(buf);
	assert_int_equal(rg_file_read("/proc/self/status", 64, &buf, &len, err, sizeof err),
			 RG_ERR_TOOBIG);
	assert_null(buf);
	assert_non_null(strstr(err, "more than 64 bytes"));
}

static void errors_name_the_file(void **state)
{
	char *buf, err[400];
	(void)state;
	unlink(path);
	assert_int_equal(rg_file_read(path, 100, &buf, NULL, err, sizeof err), RG_ERR_NOTFOUND);
	assert_null(buf);
	assert_non_null(strstr(err, path));
	assert_int_equal(rg_file_read(dir, 100, &buf, NULL, err, sizeof err), RG_ERR_IO);
	assert_non_null(strstr(err, "not a regular file"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(reads_the_whole_file_up_to_the_cap),
	    cmocka_unit_test(a_file_stat_cannot_size_is_read_as_it_grows),
	    cmocka_unit_test(errors_name_the_file),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
