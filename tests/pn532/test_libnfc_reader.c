/*
 * test_libnfc_reader.c - the HAL's libnfc reader end to end through Debian's
 * real libnfc pn532_uart driver, against pn532_emu on a pseudo-terminal.
 * The tests run in order on one emulator + reader (a card's life on a reader
 * is a sequence); each proves one behaviour the device relies on.
 * Usage: test_pn532_libnfc_reader PATH/TO/pn532_emu
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/codec.h"
#include "common/err.h"
#include "common/log.h"
#include "hal/reader.h"

/* NDEF message: one URI record, https://regulars.example/c/4006381333931 */
static const char uri_hex[] = "d101215504726567756c6172732e6578616d706c652f632f343030363338"
			      "31333333393331";

static const char *emu_path;

struct fx {
	char dir[256], link[300];
	pid_t pid;
	int to_emu, from_emu;
	struct hal_reader *r;
	FILE *log;
};

static struct fx fx;

static int read_line(int fd, char *buf, size_t cap, int timeout_ms)
{
	size_t n = 0;
	while (n + 1 < cap) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		char c;
		if (poll(&p, 1, timeout_ms) <= 0 || read(fd, &c, 1) != 1)
			return -1;
		if (c == '\n') {
			buf[n] = '\0';
			return (int)n;
		}
		buf[n++] = c;
	}
	return -1;
}

static void emu_start(void)
{
	int in[2], out[2];
	char line[256];

	assert_int_equal(pipe(in), 0);
	assert_int_equal(pipe(out), 0);
	fx.pid = fork();
	assert_true(fx.pid >= 0);
	if (fx.pid == 0) {
		dup2(in[0], 0);
		dup2(out[1], 1);
		close(in[0]);
		close(in[1]);
		close(out[0]);
		close(out[1]);
		execl(emu_path, emu_path, "--link", fx.link, (char *)NULL);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	fx.to_emu = in[1];
	fx.from_emu = out[0];
	assert_true(read_line(fx.from_emu, line, sizeof line, 5000) > 0);
	assert_memory_equal(line, "ready /dev/", 11);
}

static void emu_kill(void)
{
	kill(fx.pid, SIGKILL);
	waitpid(fx.pid, NULL, 0);
	close(fx.to_emu);
	close(fx.from_emu);
	fx.pid = -1;
}

/* Send a control line; the emulator's reply must be "ok". */
static void emu(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void emu(const char *fmt, ...)
{
	char line[4096], reply[256];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof line - 1, fmt, ap);
	va_end(ap);
	assert_true(n > 0 && (size_t)n < sizeof line - 1);
	line[n++] = '\n';
	assert_int_equal(write(fx.to_emu, line, (size_t)n), n);
	assert_true(read_line(fx.from_emu, reply, sizeof reply, 8000) >= 0);
	if (strcmp(reply, "ok"))
		fail_msg("emulator: \"%.*s\" -> %s", n - 1, line, reply);
}

static void wait_connected(int want)
{
	for (int i = 0; i < 500 && hal_reader_connected(fx.r) != want; i++)
		usleep(10000);
	assert_int_equal(hal_reader_connected(fx.r), want);
}

static void take_read(struct hal_read *rd)
{
	assert_int_equal(hal_reader_wait(fx.r, rd, 5000), 1);
}

static uint64_t reads_so_far(void)
{
	struct hal_reader_stats st;
	assert_int_equal(hal_reader_stats(fx.r, &st), 0);
	return st.reads;
}

/* Take the card away and wait until the reader has seen an empty field. */
static void remove_card(void)
{
	emu("remove");
	emu("wait_empty_poll");
}

static int group_setup(void **state)
{
	const char *t = getenv("TMPDIR");
	char opts[512];
	(void)state;
	snprintf(fx.dir, sizeof fx.dir, "%s/rg-pn532-XXXXXX", t && *t ? t : "/tmp");
	if (!mkdtemp(fx.dir))
		return -1;
	snprintf(fx.link, sizeof fx.link, "%s/pn532", fx.dir);
	fx.log = tmpfile();
	rg_log_set_stream(fx.log);
	rg_log_set_level(RG_LOG_INFO);
	emu_start();
	snprintf(opts, sizeof opts,
		 "connstring=pn532_uart:%s,poll_ms=50,backoff_min_ms=20,backoff_max_ms=160",
		 fx.link);
	if (hal_reader_open("libnfc", opts, NULL, &fx.r) != 0)
		return -1;
	wait_connected(1);
	return 0;
}

static int group_teardown(void **state)
{
	char cmd[300];
	(void)state;
	hal_reader_close(fx.r);
	if (fx.pid > 0)
		emu_kill();
	rg_log_set_stream(NULL);
	fclose(fx.log);
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", fx.dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void reports_a_4_byte_uid(void **state)
{
	struct hal_read rd;
	(void)state;
	emu("card a 04A1B2C3");
	take_read(&rd);
	assert_int_equal(rd.kind, HAL_READ_NFC_UID);
	assert_int_equal(rd.tech, HAL_TECH_ISO14443A);
	assert_int_equal(rd.uid_len, 4);
	assert_memory_equal(rd.uid, "\x04\xa1\xb2\xc3", 4);
	assert_int_equal(rd.payload_len, 0);
	remove_card();
}

static void reports_a_7_byte_uid(void **state)
{
	struct hal_read rd;
	(void)state;
	emu("card a 04112233445566");
	take_read(&rd);
	assert_int_equal(rd.kind, HAL_READ_NFC_UID); /* unformatted tag: no NDEF */
	assert_int_equal(rd.tech, HAL_TECH_ISO14443A);
	assert_int_equal(rd.uid_len, 7);
	assert_memory_equal(rd.uid, "\x04\x11\x22\x33\x44\x55\x66", 7);
	remove_card();
}

static void reads_the_ndef_uri_of_a_type2_tag(void **state)
{
	struct hal_read rd;
	uint8_t msg[64];
	int n = rg_hex_decode(uri_hex, strlen(uri_hex), msg, sizeof msg);
	(void)state;
	assert_int_equal(n, 37);
	emu("tag2 04AABBCCDDEEFF %s", uri_hex);
	take_read(&rd);
	assert_int_equal(rd.kind, HAL_READ_NDEF);
	assert_int_equal(rd.uid_len, 7);
	assert_memory_equal(rd.uid, "\x04\xaa\xbb\xcc\xdd\xee\xff", 7);
	assert_int_equal(rd.payload_len, (size_t)n);
	assert_memory_equal(rd.payload, msg, (size_t)n);
}

static void a_card_left_on_the_reader_is_not_read_again(void **state)
{
	struct hal_read rd;
	uint64_t before = reads_so_far();
	(void)state;
	/* the Type 2 tag from the previous test is still on the reader: let the
	 * reader check its presence many times */
	emu("wait_cmds 12");
	assert_int_equal(hal_reader_poll(fx.r, &rd), 0);
	assert_int_equal(reads_so_far(), before);
}

static void removed_and_presented_again_is_read_again(void **state)
{
	struct hal_read rd;
	uint64_t before = reads_so_far();
	(void)state;
	remove_card();
	emu("tag2 04AABBCCDDEEFF %s", uri_hex);
	take_read(&rd);
	assert_int_equal(rd.kind, HAL_READ_NDEF);
	assert_int_equal(reads_so_far(), before + 1);
	remove_card();
	/* the same for a MIFARE Classic, whose presence check re-selects it */
	emu("card a 04A1B2C3");
	take_read(&rd);
	emu("wait_cmds 8");
	assert_int_equal(hal_reader_poll(fx.r, &rd), 0);
	remove_card();
	emu("card a 04A1B2C3");
	take_read(&rd);
	assert_memory_equal(rd.uid, "\x04\xa1\xb2\xc3", 4);
	remove_card();
}

/* A chip that answers late (busy, or the host gave up waiting): libnfc
 * times the poll out and moves on, and the late answer, naming the card, then
 * arrives while the reader waits for the answer to a later command of the
 * same kind. Taken for that answer, it would report a card of the wrong
 * technology with a garbled UID, or the same card twice. */
static void a_late_answer_is_not_taken_for_a_later_one(void **state)
{
	(void)state;
	/* where the stall ends within the next poll depends on when the
	 * reader's poll began: three rounds */
	for (int round = 0; round < 3; round++) {
		struct hal_read rd;
		uint64_t before = reads_so_far();
		emu("stall 450"); /* past libnfc's 300 ms: answered during the next poll */
		emu("card a 04A1B2C3");
		take_read(&rd);
		assert_int_equal(rd.tech, HAL_TECH_ISO14443A);
		assert_int_equal(rd.uid_len, 4);
		assert_memory_equal(rd.uid, "\x04\xa1\xb2\xc3", 4);
		emu("wait_cmds 12");
		assert_int_equal(hal_reader_poll(fx.r, &rd), 0);
		assert_int_equal(reads_so_far(), before + 1);
		remove_card();
	}
}

static size_t count(const char *hay, const char *needle)
{
	size_t n = 0;
	for (const char *p = hay; (p = strstr(p, needle)); p++)
		n++;
	return n;
}

static void survives_the_reader_being_killed_and_restarted(void **state)
{
	struct hal_read rd;
	long start, len;
	char *log;
	const char *rec;
	(void)state;
	fflush(fx.log);
	start = ftell(fx.log);
	emu_kill(); /* like pulling the USB-serial adapter */
	wait_connected(0);
	usleep(400000); /* several reopen attempts fail meanwhile */
	emu_start();
	wait_connected(1);
	emu("card a 04C0FFEE");
	take_read(&rd);
	assert_int_equal(rd.uid_len, 4);
	assert_memory_equal(rd.uid, "\x04\xc0\xff\xee", 4);
	remove_card();

	fflush(fx.log);
	len = ftell(fx.log) - start;
	log = calloc(1, (size_t)len + 1);
	fseek(fx.log, start, SEEK_SET);
	assert_int_equal(fread(log, 1, (size_t)len, fx.log), (size_t)len);
	fseek(fx.log, 0, SEEK_END);
	assert_int_equal(count(log, "event=device_lost"), 1);
	assert_int_equal(count(log, "event=device_recovered"), 1);
	rec = strstr(log, "failed_attempts=");
	assert_non_null(rec);
	assert_true(atoi(rec + 16) >= 2); /* retried several times, logged once */
	free(log);
}

static void reads_the_ndef_message_of_a_type4_tag(void **state)
{
	struct hal_read rd;
	uint8_t msg[64];
	int n = rg_hex_decode(uri_hex, strlen(uri_hex), msg, sizeof msg);
	(void)state;
	emu("tag4 08123456 %s", uri_hex);
	take_read(&rd);
	assert_int_equal(rd.kind, HAL_READ_NDEF);
	assert_int_equal(rd.tech, HAL_TECH_ISO14443A);
	assert_memory_equal(rd.uid, "\x08\x12\x34\x56", 4);
	assert_int_equal(rd.payload_len, (size_t)n);
	assert_memory_equal(rd.payload, msg, (size_t)n);
	emu("wait_cmds 30"); /* ISO-DEP presence checks keep it "present" */
	assert_int_equal(hal_reader_poll(fx.r, &rd), 0);
	remove_card();
}

static void reports_an_iso14443b_card(void **state)
{
	struct hal_read rd;
	(void)state;
	emu("card b 11223344");
	take_read(&rd);
	assert_int_equal(rd.kind, HAL_READ_NFC_UID);
	assert_int_equal(rd.tech, HAL_TECH_ISO14443B);
	assert_int_equal(rd.uid_len, 4);
	assert_memory_equal(rd.uid, "\x11\x22\x33\x44", 4);
	emu("wait_cmds 8");
	assert_int_equal(hal_reader_poll(fx.r, &rd), 0);
	remove_card();
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(reports_a_4_byte_uid),
	    cmocka_unit_test(reports_a_7_byte_uid),
	    cmocka_unit_test(reads_the_ndef_uri_of_a_type2_tag),
	    cmocka_unit_test(a_card_left_on_the_reader_is_not_read_again),
	    cmocka_unit_test(removed_and_presented_again_is_read_again),
	    cmocka_unit_test(a_late_answer_is_not_taken_for_a_later_one),
	    cmocka_unit_test(survives_the_reader_being_killed_and_restarted),
	    cmocka_unit_test(reads_the_ndef_message_of_a_type4_tag),
	    cmocka_unit_test(reports_an_iso14443b_card),
	};
	if (argc != 2) {
		fprintf(stderr, "usage: %s PATH/TO/pn532_emu\n", argv[0]);
		return 2;
	}
	emu_path = argv[1];
	signal(SIGPIPE, SIG_IGN);
	setenv("LIBNFC_AUTO_SCAN", "false", 0);
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
