/* test_reader_serial.c - the serial scanner backend on a pseudo-terminal: the
 * test holds the master (the "scanner"), the backend opens the slave. Proves
 * the tty settings, each terminator mode, the length cap, junk refusal, and
 * that a vanished device is reopened (through a symlink that is re-pointed
 * to a new pty, as udev's by-id links are). */
#define _XOPEN_SOURCE 700 /* posix_openpt, ptsname */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <fcntl.h>
#include <termios.h>
#include <time.h>

#include <cmocka.h>

#include "common/err.h"
#include "common/log.h"
#include "hal/reader.h"

#include "hal_test_util.h"

static int pty(char *slave, size_t cap)
{
	int m = posix_openpt(O_RDWR | O_NOCTTY);
	const char *name;
	if (m < 0 || grantpt(m) < 0 || unlockpt(m) < 0 || !(name = ptsname(m)))
		return -1;
	snprintf(slave, cap, "%s", name);
	return m;
}

static void put(int m, const char *s)
{
	size_t n = strlen(s);
	assert_int_equal(write(m, s, n), (ssize_t)n);
}

static struct hal_reader *open_on(const char *path, const char *extra)
{
	char opts[512];
	struct hal_reader *r = NULL;
	snprintf(opts, sizeof opts, "path=%s%s%s", path, extra[0] ? "," : "", extra);
	assert_int_equal(hal_reader_open("serial", opts, NULL, &r), 0);
	return r;
}

static void expect_text(struct hal_reader *r, enum hal_read_kind kind, const char *text)
{
	struct hal_read rd;
	assert_int_equal(hal_reader_wait(r, &rd, 3000), 1);
	assert_int_equal(rd.kind, kind);
	assert_int_equal(rd.tech, HAL_TECH_NONE);
	assert_int_equal(rd.uid_len, 0);
	assert_string_equal((char *)rd.payload, text);
	assert_int_equal(rd.payload_len, strlen(text));
}

static void expect_nothing(struct hal_reader *r)
{
	struct hal_read rd;
	assert_int_equal(hal_reader_wait(r, &rd, 150), 0);
}

static void sets_raw_mode_and_baud(void **state)
{
	char slave[128];
	struct termios t;
	int m = pty(slave, sizeof slave), s;
	struct hal_reader *r;
	(void)state;
	assert_true(m >= 0);
	r = open_on(slave, "baud=19200");
	s = open(slave, O_RDWR | O_NOCTTY);
	assert_true(s >= 0);
	assert_int_equal(tcgetattr(s, &t), 0);
	assert_int_equal(cfgetispeed(&t), B19200);
	assert_int_equal(cfgetospeed(&t), B19200);
	assert_int_equal(t.c_lflag & (ICANON | ECHO | ISIG), 0);
	assert_int_equal(t.c_iflag & (ICRNL | IXON), 0); /* CR reaches us as CR */
	assert_int_equal(t.c_cflag & CSIZE, CS8);
	assert_int_equal(hal_reader_connected(r), 1);
	close(s);
	hal_reader_close(r);
	close(m);
}

static void any_terminator_splits_on_cr_lf_and_crlf(void **state)
{
	char slave[128];
	int m = pty(slave, sizeof slave);
	struct hal_reader *r = open_on(slave, "");
	(void)state;
	put(m, "4006381333931\r\n");
	expect_text(r, HAL_READ_BARCODE, "4006381333931");
	put(m, "A\rB\nC\r\n\r\n\n");
	expect_text(r, HAL_READ_BARCODE, "A");
	expect_text(r, HAL_READ_BARCODE, "B");
	expect_text(r, HAL_READ_BARCODE, "C");
	expect_nothing(r); /* empty lines are not scans */
	put(m, "split ");
	put(m, "line\n");
	expect_text(r, HAL_READ_BARCODE, "split line");
	hal_reader_close(r);
	close(m);
}

static void strict_terminators(void **state)
{
	char slave[128];
	int m = pty(slave, sizeof slave);
	/* Keep the slave open between readers: a tty being released can refuse
	 * a reopen for a moment, which would only test the retry delay. */
	int hold = open(slave, O_RDWR | O_NOCTTY);
	struct hal_reader *r = open_on(slave, "terminator=crlf,kind=qr");
	(void)state;
	assert_true(hold >= 0);
	put(m, "X\rY\r\nOK\r\n");
	expect_text(r, HAL_READ_QR, "OK"); /* "X\rY" had a control char: refused */
	expect_nothing(r);
	hal_reader_close(r);
	r = open_on(slave, "terminator=lf");
	put(m, "one\ntwo\r\nthree\n");
	expect_text(r, HAL_READ_BARCODE, "one");
	expect_text(r, HAL_READ_BARCODE, "three"); /* "two\r" refused */
	hal_reader_close(r);
	r = open_on(slave, "terminator=cr,kind=mag");
	put(m, ";6009=?\r");
	expect_text(r, HAL_READ_MAGSTRIPE, ";6009=?");
	hal_reader_close(r);
	close(hold);
	close(m);
}

static void overlong_and_junk_lines_are_dropped(void **state)
{
	char slave[128], big[64];
	FILE *logf = tmpfile();
	int m = pty(slave, sizeof slave);
	struct hal_reader *r;
	char *log;
	(void)state;
	rg_log_set_stream(logf);
	rg_log_set_level(RG_LOG_INFO);
	r = open_on(slave, "max_line=8");
	memset(big, '7', 20);
	big[20] = '\0';
	put(m, big);
	put(m, "\r\n12345678\r\n");
	expect_text(r, HAL_READ_BARCODE, "12345678"); /* exactly max_line: fine */
	put(m, "ab\001cd\n\xff\xfe\n");
	put(m, "ok\n");
	expect_text(r, HAL_READ_BARCODE, "ok");
	expect_nothing(r);
	hal_reader_close(r);
	rg_log_set_stream(NULL);
	rg_log_set_level(RG_LOG_OFF);
	log = tu_slurp(logf);
	assert_int_equal(tu_count(log, "event=line_too_long"), 1);
	assert_int_equal(tu_count(log, "reason=bad_text"), 2);
	assert_int_equal(tu_count(log, "7777"), 0); /* scanned data never logged */
	free(log);
	fclose(logf);
	close(m);
}

static void survives_the_device_going_away(void **state)
{
	char dir[256], link[300], slave[128], tmp[320], opts[400];
	struct hal_reader *r = NULL;
	int m;
	(void)state;
	tu_tmpdir(dir, sizeof dir);
	snprintf(link, sizeof link, "%s/scanner", dir);
	m = pty(slave, sizeof slave);
	assert_int_equal(symlink(slave, link), 0);
	snprintf(opts, sizeof opts, "path=%s,backoff_min_ms=10,backoff_max_ms=40", link);
	assert_int_equal(hal_reader_open("serial", opts, NULL, &r), 0);
	put(m, "before\n");
	expect_text(r, HAL_READ_BARCODE, "before");

	close(m); /* unplugged */
	for (int i = 0; i < 200 && hal_reader_connected(r) != 0; i++)
		usleep(10000);
	assert_int_equal(hal_reader_connected(r), 0);

	m = pty(slave, sizeof slave); /* plugged back in, as a new tty */
	snprintf(tmp, sizeof tmp, "%s.new", link);
	assert_int_equal(symlink(slave, tmp), 0);
	assert_int_equal(rename(tmp, link), 0);
	for (int i = 0; i < 300 && hal_reader_connected(r) != 1; i++)
		usleep(10000);
	assert_int_equal(hal_reader_connected(r), 1);
	put(m, "after\n");
	expect_text(r, HAL_READ_BARCODE, "after");
	hal_reader_close(r);
	close(m);
	tu_rmtree(dir);
}

static void missing_device_is_retried_not_fatal(void **state)
{
	struct hal_reader *r = NULL;
	(void)state;
	assert_int_equal(
	    hal_reader_open("serial", "path=/nonexistent/tty,backoff_min_ms=10", NULL, &r), 0);
	assert_int_equal(hal_reader_connected(r), 0);
	hal_reader_close(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(sets_raw_mode_and_baud),
	    cmocka_unit_test(any_terminator_splits_on_cr_lf_and_crlf),
	    cmocka_unit_test(strict_terminators),
	    cmocka_unit_test(overlong_and_junk_lines_are_dropped),
	    cmocka_unit_test(survives_the_device_going_away),
	    cmocka_unit_test(missing_device_is_retried_not_fatal),
	};
	tu_require_threads();
	rg_log_set_level(RG_LOG_OFF);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
