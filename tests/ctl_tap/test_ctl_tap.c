/*
 * test_ctl_tap.c - runs the real `regularsctl tap` binary against a sim
 * reader opened in this process, and checks both ends: the exit status and
 * output the user sees, and the read (or no read) the daemon would get.
 * Usage: test_ctl_tap PATH/TO/regularsctl
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/err.h"
#include "common/log.h"
#include "hal/reader.h"

static const char *ctl;
static char dir[256], sock[300];
static struct hal_reader *r;

/* Run regularsctl with args (NULL-terminated); returns the exit status and
 * the first line of stdout in out. xdg: XDG_RUNTIME_DIR for the child, or NULL
 * to unset it. */
static int run(const char *xdg, char *out, size_t cap, ...)
{
	const char *argv[16];
	int p[2], status, n = 0;
	va_list ap;
	ssize_t got;
	pid_t pid;

	argv[n++] = ctl;
	argv[n++] = "tap";
	va_start(ap, cap);
	while (n < 15 && (argv[n] = va_arg(ap, const char *)))
		n++;
	va_end(ap);
	argv[n] = NULL;
	assert_int_equal(pipe(p), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int devnull = open("/dev/null", O_WRONLY);
		dup2(p[1], 1);
		dup2(devnull, 2);
		close(p[0]);
		if (xdg)
			setenv("XDG_RUNTIME_DIR", xdg, 1);
		else
			unsetenv("XDG_RUNTIME_DIR");
		execv(ctl, (char *const *)argv);
		_exit(127);
	}
	close(p[1]);
	got = read(p[0], out, cap - 1);
	out[got > 0 ? got : 0] = '\0';
	close(p[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	return WEXITSTATUS(status);
}

static int setup(void **state)
{
	const char *t = getenv("TMPDIR");
	char opts[320];
	(void)state;
	snprintf(dir, sizeof dir, "%s/rg-tap-XXXXXX", t && *t ? t : "/tmp");
	if (!mkdtemp(dir))
		return -1;
	snprintf(sock, sizeof sock, "%s/reader.sock", dir);
	snprintf(opts, sizeof opts, "path=%s", sock);
	return hal_reader_open("sim", opts, NULL, &r);
}

static int teardown(void **state)
{
	char cmd[300];
	(void)state;
	hal_reader_close(r);
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void each_kind_reaches_the_reader(void **state)
{
	static const char msg[] = "d101215504726567756c6172732e6578616d706c652f632f34303036"
				  "333831333333393331";
	struct hal_read rd;
	char out[256];
	(void)state;
	assert_int_equal(run(NULL, out, sizeof out, "--socket", sock, "nfc", "04A1B2C3", NULL), 0);
	assert_string_equal(out, "ok\n");
	assert_int_equal(hal_reader_wait(r, &rd, 2000), 1);
	assert_int_equal(rd.kind, HAL_READ_NFC_UID);
	assert_memory_equal(rd.uid, "\x04\xa1\xb2\xc3", 4);

	assert_int_equal(run(NULL, out, sizeof out, "-s", sock, "barcode", "4006381333931", NULL),
			 0);
	assert_int_equal(hal_reader_wait(r, &rd, 2000), 1);
	assert_int_equal(rd.kind, HAL_READ_BARCODE);
	assert_string_equal((char *)rd.payload, "4006381333931");

	assert_int_equal(run(NULL, out, sizeof out, "--socket=x", "--socket", sock, "qr",
			     "hello regular world", NULL),
			 0);
	assert_int_equal(hal_reader_wait(r, &rd, 2000), 1);
	assert_int_equal(rd.kind, HAL_READ_QR);
	assert_string_equal((char *)rd.payload, "hello regular world");

	assert_int_equal(run(NULL, out, sizeof out, "--socket", sock, "mag", ";6009=?", NULL), 0);
	assert_int_equal(hal_reader_wait(r, &rd, 2000), 1);
	assert_int_equal(rd.kind, HAL_READ_MAGSTRIPE);

	assert_int_equal(run(NULL, out, sizeof out, "--socket", sock, "ndef", msg, NULL), 0);
	assert_int_equal(hal_reader_wait(r, &rd, 2000), 1);
	assert_int_equal(rd.kind, HAL_READ_NDEF);
	assert_int_equal(rd.payload_len, 37);

	assert_int_equal(run(NULL, out, sizeof out, "--socket", sock, "ping", NULL), 0);
	assert_int_equal(hal_reader_poll(r, &rd), 0);
}

static void refusals_exit_1_with_the_reason(void **state)
{
	struct hal_read rd;
	char out[256];
	(void)state;
	assert_int_equal(run(NULL, out, sizeof out, "--socket", sock, "nfc", "04A1B2C", NULL), 1);
	assert_string_equal(out, "err bad_hex\n");
	assert_int_equal(run(NULL, out, sizeof out, "--socket", sock, "qr", "tab\there", NULL), 1);
	assert_string_equal(out, "err bad_text\n");
	assert_int_equal(hal_reader_poll(r, &rd), 0); /* nothing reached the daemon */
	/* nobody listening */
	assert_int_equal(run(NULL, out, sizeof out, "--socket", "/nonexistent/reader.sock", "nfc",
			     "04A1B2C3", NULL),
			 1);
	assert_string_equal(out, "");
}

static void usage_errors_exit_2(void **state)
{
	struct hal_read rd;
	char out[4096];
	(void)state;
	assert_int_equal(run(NULL, out, sizeof out, NULL), 2);
	assert_int_equal(run(NULL, out, sizeof out, "--socket", sock, "frob", "x", NULL), 2);
	assert_int_equal(run(NULL, out, sizeof out, "--socket", sock, "barcode", NULL), 2);
	assert_int_equal(run(NULL, out, sizeof out, "--socket", sock, "qr", "a", "b", NULL), 2);
	assert_int_equal(run(NULL, out, sizeof out, "--socket", sock, "qr", "a\nnfc 01", NULL), 2);
	assert_int_equal(run(NULL, out, sizeof out, "--socket", NULL), 2);
	assert_int_equal(run(NULL, out, sizeof out, "--bogus", "nfc", "01", NULL), 2);
	assert_int_equal(hal_reader_poll(r, &rd), 0);
	assert_int_equal(run(NULL, out, sizeof out, "--help", NULL), 0);
	assert_non_null(strstr(out, "usage: regularsctl tap"));
	assert_non_null(strstr(out, "reader.sock"));
}

static void default_socket_follows_xdg_runtime_dir(void **state)
{
	struct hal_reader *r2;
	struct hal_read rd;
	char opts[420], path[400], out[256];
	(void)state;
	snprintf(path, sizeof path, "%s/regulars/reader.sock", dir);
	snprintf(opts, sizeof opts, "path=%s", path);
	assert_int_equal(hal_reader_open("sim", opts, NULL, &r2), 0); /* makes regulars/ */
	assert_int_equal(run(dir, out, sizeof out, "nfc", "01020304", NULL), 0);
	assert_int_equal(hal_reader_wait(r2, &rd, 2000), 1);
	assert_memory_equal(rd.uid, "\x01\x02\x03\x04", 4);
	hal_reader_close(r2);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(each_kind_reaches_the_reader),
	    cmocka_unit_test(refusals_exit_1_with_the_reason),
	    cmocka_unit_test(usage_errors_exit_2),
	    cmocka_unit_test(default_socket_follows_xdg_runtime_dir),
	};
	if (argc != 2) {
		fprintf(stderr, "usage: %s PATH/TO/regularsctl\n", argv[0]);
		return 2;
	}
	ctl = argv[1];
	rg_log_set_level(RG_LOG_OFF);
	return cmocka_run_group_tests(tests, setup, teardown);
}
