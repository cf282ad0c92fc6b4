/* test_reader_sim.c - the sim reader end to end over its Unix socket: replies,
 * the reads they queue (and that refused lines queue nothing), the pollable
 * fd, line framing limits, the socket path's ownership, and the wrappers'
 * checks (unknown backend, bad options, missing optional op). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "common/err.h"
#include "common/log.h"
#include "hal/reader.h"

#include "hal_test_util.h"

struct fx {
	char dir[256];
	char path[300];
	char opts[320];
	struct hal_reader *r;
	int c;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof *f);
	tu_tmpdir(f->dir, sizeof f->dir);
	snprintf(f->path, sizeof f->path, "%s/reader.sock", f->dir);
	snprintf(f->opts, sizeof f->opts, "path=%s", f->path);
	if (hal_reader_open("sim", f->opts, NULL, &f->r) != 0)
		return -1;
	f->c = tu_connect(f->path);
	if (f->c < 0)
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	close(f->c);
	hal_reader_close(f->r);
	tu_rmtree(f->dir);
	free(f);
	return 0;
}

static int fd_readable(int fd)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	return poll(&p, 1, 0) == 1;
}

static void each_command_queues_one_read(void **state)
{
	struct fx *f = *state;
	struct hal_read rd;
	char reply[128];

	assert_string_equal(tu_tap(f->c, "nfc 04A1B2C3", reply, sizeof reply), "ok");
	assert_int_equal(hal_reader_wait(f->r, &rd, 2000), 1);
	assert_int_equal(rd.kind, HAL_READ_NFC_UID);
	assert_int_equal(rd.tech, HAL_TECH_ISO14443A);
	assert_int_equal(rd.uid_len, 4);
	assert_memory_equal(rd.uid, "\x04\xa1\xb2\xc3", 4);
	assert_true(rd.time_ms > 1600000000000LL);

	assert_string_equal(tu_tap(f->c, "barcode 4006381333931", reply, sizeof reply), "ok");
	assert_string_equal(tu_tap(f->c, "qr https://regulars.example/c/1", reply, sizeof reply),
			    "ok");
	assert_string_equal(tu_tap(f->c, "mag ;6009=?", reply, sizeof reply), "ok");
	assert_string_equal(tu_tap(f->c, "ndef d1010455 04112233445566", reply, sizeof reply),
			    "ok");
	assert_int_equal(hal_reader_poll(f->r, &rd), 1);
	assert_int_equal(rd.kind, HAL_READ_BARCODE);
	assert_string_equal((char *)rd.payload, "4006381333931");
	assert_int_equal(hal_reader_poll(f->r, &rd), 1);
	assert_int_equal(rd.kind, HAL_READ_QR);
	assert_string_equal((char *)rd.payload, "https://regulars.example/c/1");
	assert_int_equal(hal_reader_poll(f->r, &rd), 1);
	assert_int_equal(rd.kind, HAL_READ_MAGSTRIPE);
	assert_int_equal(hal_reader_poll(f->r, &rd), 1);
	assert_int_equal(rd.kind, HAL_READ_NDEF);
	assert_int_equal(rd.payload_len, 4);
	assert_int_equal(rd.uid_len, 7);
	assert_int_equal(hal_reader_poll(f->r, &rd), 0);
}

static void refused_lines_change_nothing(void **state)
{
	struct fx *f = *state;
	struct hal_reader_stats st;
	struct hal_read rd;
	char reply[128];

	assert_string_equal(tu_tap(f->c, "nfc 04A1B2C", reply, sizeof reply), "err bad_hex");
	assert_string_equal(tu_tap(f->c, "scan 123", reply, sizeof reply), "err unknown_command");
	assert_string_equal(tu_tap(f->c, "barcode", reply, sizeof reply), "err missing_argument");
	assert_string_equal(tu_tap(f->c, "", reply, sizeof reply), "err empty_line");
	assert_string_equal(tu_tap(f->c, "ping", reply, sizeof reply), "ok");
	assert_int_equal(hal_reader_poll(f->r, &rd), 0);
	assert_false(fd_readable(hal_reader_fd(f->r)));
	assert_int_equal(hal_reader_stats(f->r, &st), 0);
	assert_int_equal(st.reads, 0);
	/* the connection is still usable after refusals */
	assert_string_equal(tu_tap(f->c, "nfc 04a1b2c3", reply, sizeof reply), "ok");
	assert_int_equal(hal_reader_stats(f->r, &st), 0);
	assert_int_equal(st.reads, 1);
}

static void fd_is_readable_exactly_while_reads_are_pending(void **state)
{
	struct fx *f = *state;
	struct hal_read rd;
	char reply[64];
	int fd = hal_reader_fd(f->r);

	assert_true(fd >= 0);
	assert_false(fd_readable(fd));
	tu_tap(f->c, "nfc 01020304", reply, sizeof reply);
	tu_tap(f->c, "nfc 05060708", reply, sizeof reply);
	assert_true(fd_readable(fd));
	assert_int_equal(hal_reader_poll(f->r, &rd), 1);
	assert_true(fd_readable(fd));
	assert_int_equal(hal_reader_poll(f->r, &rd), 1);
	assert_memory_equal(rd.uid, "\x05\x06\x07\x08", 4); /* FIFO order */
	assert_false(fd_readable(fd));
	assert_int_equal(hal_reader_wait(f->r, &rd, 50), 0); /* timeout, nothing */
}

static void crlf_pipelined_and_split_lines(void **state)
{
	struct fx *f = *state;
	struct hal_read rd;
	char reply[64];

	/* three lines in one write, the middle one CRLF-terminated */
	static const char three[] = "nfc 01020304\nbarcode 123\r\nqr x";
	assert_int_equal(tu_send(f->c, three, strlen(three)), 0);
	assert_int_equal(tu_read_line(f->c, reply, sizeof reply, 2000), 2);
	assert_int_equal(tu_read_line(f->c, reply, sizeof reply, 2000), 2);
	assert_int_equal(tu_read_line(f->c, reply, sizeof reply, 100), -1); /* "qr x" pending */
	assert_int_equal(tu_send(f->c, "yz\n", 3), 0);
	assert_int_equal(tu_read_line(f->c, reply, sizeof reply, 2000), 2);
	assert_int_equal(hal_reader_poll(f->r, &rd), 1);
	assert_int_equal(hal_reader_poll(f->r, &rd), 1);
	assert_string_equal((char *)rd.payload, "123");
	assert_int_equal(hal_reader_poll(f->r, &rd), 1);
	assert_string_equal((char *)rd.payload, "xyz");
}

static void overlong_line_is_refused_and_skipped(void **state)
{
	struct fx *f = *state;
	static char big[6000];
	struct hal_read rd;
	char reply[64];

	memcpy(big, "qr ", 3);
	memset(big + 3, 'a', sizeof big - 3);
	assert_int_equal(tu_send(f->c, big, sizeof big), 0);
	assert_int_equal(tu_read_line(f->c, reply, sizeof reply, 2000), 17);
	assert_string_equal(reply, "err line_too_long");
	/* the rest of that line is dropped, the next line works */
	assert_string_equal(tu_tap(f->c, "tail\nbarcode 42", reply, sizeof reply), "ok");
	assert_int_equal(hal_reader_wait(f->r, &rd, 2000), 1);
	assert_string_equal((char *)rd.payload, "42");
	assert_int_equal(hal_reader_poll(f->r, &rd), 0);
}

static void full_queue_refuses_and_counts(void **state)
{
	struct fx *f = *state;
	struct hal_reader_stats st;
	struct hal_read rd;
	char reply[64];
	int n = 0;

	for (int i = 0; i < 40; i++)
		if (!strcmp(tu_tap(f->c, "barcode 1", reply, sizeof reply), "ok"))
			n++;
	assert_int_equal(n, 32);
	assert_string_equal(reply, "err queue_full");
	assert_int_equal(hal_reader_stats(f->r, &st), 0);
	assert_int_equal(st.reads, 32);
	assert_int_equal(st.dropped, 8);
	while (hal_reader_poll(f->r, &rd) == 1)
		;
	assert_string_equal(tu_tap(f->c, "barcode 2", reply, sizeof reply), "ok");
}

static void several_clients_at_once(void **state)
{
	struct fx *f = *state;
	char reply[64];
	int c2 = tu_connect(f->path);
	assert_true(c2 >= 0);
	assert_string_equal(tu_tap(c2, "nfc 01020304", reply, sizeof reply), "ok");
	assert_string_equal(tu_tap(f->c, "nfc 01020305", reply, sizeof reply), "ok");
	close(c2);
	assert_string_equal(tu_tap(f->c, "ping", reply, sizeof reply), "ok");
}

static void socket_path_is_owned_while_open(void **state)
{
	struct fx *f = *state;
	struct hal_reader *r2 = NULL;
	struct stat st;
	char stale[300], opts[320];
	(void)state;

	/* a live reader's path is not taken over */
	assert_int_equal(hal_reader_open("sim", f->opts, NULL, &r2), RG_ERR_BUSY);
	assert_null(r2);
	/* a stale socket file (no listener) is replaced */
	snprintf(stale, sizeof stale, "%s/stale.sock", f->dir);
	{
		struct sockaddr_un sa = {.sun_family = AF_UNIX};
		int s = socket(AF_UNIX, SOCK_STREAM, 0);
		assert_true(strlen(stale) < sizeof sa.sun_path);
		memcpy(sa.sun_path, stale, strlen(stale) + 1);
		assert_int_equal(bind(s, (struct sockaddr *)&sa, sizeof sa), 0);
		close(s);
	}
	snprintf(opts, sizeof opts, "path=%s", stale);
	assert_int_equal(hal_reader_open("sim", opts, NULL, &r2), 0);
	hal_reader_close(r2);
	assert_int_equal(lstat(stale, &st), -1); /* removed on close */
	/* a regular file at the path is not ours to delete */
	{
		FILE *x = fopen(stale, "w");
		fclose(x);
	}
	assert_int_equal(hal_reader_open("sim", opts, NULL, &r2), RG_ERR_EXISTS);
	assert_int_equal(lstat(stale, &st), 0);
}

static void wrapper_checks(void **state)
{
	struct fx *f = *state;
	struct hal_reader *r = (struct hal_reader *)1;
	char def[128];

	assert_int_equal(hal_reader_open("nosuch", NULL, NULL, &r), RG_ERR_NOTFOUND);
	assert_null(r);
	assert_int_equal(hal_reader_open("sim", "port=1", NULL, &r), RG_ERR_CONFIG);
	assert_int_equal(hal_reader_open("serial", NULL, NULL, &r), RG_ERR_CONFIG); /* path */
	assert_int_equal(hal_reader_open("serial", "path=/x,baud=12345", NULL, &r), RG_ERR_CONFIG);
	assert_int_equal(hal_reader_open("evdev", "path=/x,layout=fr", NULL, &r), RG_ERR_CONFIG);
	assert_int_equal(hal_reader_open("libnfc", "poll_ms=0", NULL, &r), RG_ERR_CONFIG);
	/* sim has no device to lose: the optional op is missing */
	assert_int_equal(hal_reader_connected(f->r), RG_ERR_NOSYS);
	assert_string_equal(hal_reader_backend(f->r), "sim");
	assert_true(hal_reader_caps(f->r) & HAL_READER_CAP_NDEF);
	assert_string_equal(hal_reader_backend_name(0), "sim");
	assert_string_equal(hal_reader_backend_name(3), "libnfc");
	assert_null(hal_reader_backend_name(4));
	assert_string_equal(hal_read_kind_name(HAL_READ_MAGSTRIPE), "magstripe");
	assert_string_equal(hal_read_tech_name(HAL_TECH_FELICA), "felica");

	setenv("XDG_RUNTIME_DIR", "/run/user/1000", 1);
	assert_int_equal(hal_reader_sim_default_path(def, sizeof def), 35);
	assert_string_equal(def, "/run/user/1000/regulars/reader.sock");
	setenv("XDG_RUNTIME_DIR", "relative", 1);
	hal_reader_sim_default_path(def, sizeof def);
	assert_string_equal(def, "/run/regulars/reader.sock");
	unsetenv("XDG_RUNTIME_DIR");
	assert_int_equal(hal_reader_sim_default_path(def, 10), RG_ERR_TOOBIG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(each_command_queues_one_read, setup, teardown),
	    cmocka_unit_test_setup_teardown(refused_lines_change_nothing, setup, teardown),
	    cmocka_unit_test_setup_teardown(fd_is_readable_exactly_while_reads_are_pending, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(crlf_pipelined_and_split_lines, setup, teardown),
	    cmocka_unit_test_setup_teardown(overlong_line_is_refused_and_skipped, setup, teardown),
	    cmocka_unit_test_setup_teardown(full_queue_refuses_and_counts, setup, teardown),
	    cmocka_unit_test_setup_teardown(several_clients_at_once, setup, teardown),
	    cmocka_unit_test_setup_teardown(socket_path_is_owned_while_open, setup, teardown),
	    cmocka_unit_test_setup_teardown(wrapper_checks, setup, teardown),
	};
	tu_require_threads();
	rg_log_set_level(RG_LOG_OFF);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
