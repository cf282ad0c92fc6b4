/* test_reader_evdev.c - the HID keyboard-wedge backend fed `struct input_event`
 * records through a FIFO at the path it opens (there is no /dev/uinput on CI
 * machines). Proves key-code-to-text with shift/caps/AltGr on the us and de
 * layouts, terminator modes, the length cap, refusal of unmappable keys, that
 * a failed EVIOCGRAB is not fatal, and that the device is reopened after its
 * writer goes away. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <fcntl.h>
#include <linux/input.h>
#include <signal.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "common/err.h"
#include "common/log.h"
#include "hal/reader.h"

#include "hal_test_util.h"
#include "reader/evdev_keymap.h"

struct fx {
	char dir[256], fifo[300];
	struct hal_reader *r;
	int w;
};

static struct fx *fx_open(const char *extra)
{
	struct fx *f = calloc(1, sizeof *f);
	char opts[512];
	tu_tmpdir(f->dir, sizeof f->dir);
	snprintf(f->fifo, sizeof f->fifo, "%s/event0", f->dir);
	assert_int_equal(mkfifo(f->fifo, 0600), 0);
	snprintf(opts, sizeof opts, "path=%s%s%s%s", f->fifo,
		 strstr(extra, "backoff") ? "" : ",backoff_min_ms=10,backoff_max_ms=50",
		 extra[0] ? "," : "", extra);
	assert_int_equal(hal_reader_open("evdev", opts, NULL, &f->r), 0);
	f->w = open(f->fifo, O_WRONLY); /* the backend already has the read end */
	assert_true(f->w >= 0);
	return f;
}

static void fx_close(struct fx *f)
{
	close(f->w);
	hal_reader_close(f->r);
	tu_rmtree(f->dir);
	free(f);
}

static void ev(struct fx *f, unsigned type, unsigned code, int value)
{
	struct input_event e;
	memset(&e, 0, sizeof e);
	e.type = (unsigned short)type;
	e.code = (unsigned short)code;
	e.value = value;
	assert_int_equal(write(f->w, &e, sizeof e), (ssize_t)sizeof e);
}

/* A key stroke as a real keyboard reports it: MSC_SCAN, press, SYN, release, SYN. */
static void tap(struct fx *f, unsigned code)
{
	ev(f, EV_MSC, MSC_SCAN, 0x70000 + (int)code);
	ev(f, EV_KEY, code, 1);
	ev(f, EV_SYN, SYN_REPORT, 0);
	ev(f, EV_KEY, code, 0);
	ev(f, EV_SYN, SYN_REPORT, 0);
}

static void with(struct fx *f, unsigned mod, unsigned code)
{
	ev(f, EV_KEY, mod, 1);
	tap(f, code);
	ev(f, EV_KEY, mod, 0);
}

static void expect(struct fx *f, enum hal_read_kind kind, const char *text)
{
	struct hal_read rd;
	assert_int_equal(hal_reader_wait(f->r, &rd, 3000), 1);
	assert_int_equal(rd.kind, kind);
	assert_string_equal((char *)rd.payload, text);
}

static void expect_nothing(struct fx *f)
{
	struct hal_read rd;
	assert_int_equal(hal_reader_wait(f->r, &rd, 150), 0);
}

static void us_layout_with_shift_and_enter(void **state)
{
	struct fx *f = fx_open("layout=us");
	(void)state;
	/* "Ab1!-_" then Enter */
	with(f, KEY_LEFTSHIFT, KEY_A);
	tap(f, KEY_B);
	tap(f, KEY_1);
	with(f, KEY_RIGHTSHIFT, KEY_1);
	tap(f, KEY_MINUS);
	with(f, KEY_LEFTSHIFT, KEY_MINUS);
	tap(f, KEY_ENTER);
	expect(f, HAL_READ_BARCODE, "Ab1!-_");
	/* digits from the number row and the keypad, keypad Enter */
	tap(f, KEY_4);
	tap(f, KEY_KP0);
	tap(f, KEY_KP6);
	tap(f, KEY_KPENTER);
	expect(f, HAL_READ_BARCODE, "406");
	/* autorepeat (value 2) types nothing extra */
	ev(f, EV_KEY, KEY_Z, 1);
	ev(f, EV_KEY, KEY_Z, 2);
	ev(f, EV_KEY, KEY_Z, 2);
	ev(f, EV_KEY, KEY_Z, 0);
	tap(f, KEY_ENTER);
	expect(f, HAL_READ_BARCODE, "z");
	fx_close(f);
}

static void de_layout_differs_from_us(void **state)
{
	struct fx *f = fx_open("layout=de,kind=qr");
	(void)state;
	/* the same key codes that type "y" "z" "@" ";" ... on us */
	tap(f, KEY_Y);				/* z */
	tap(f, KEY_Z);				/* y */
	with(f, KEY_LEFTSHIFT, KEY_2);		/* " */
	with(f, KEY_RIGHTALT, KEY_Q);		/* @ */
	tap(f, KEY_SEMICOLON);			/* ö */
	with(f, KEY_LEFTSHIFT, KEY_APOSTROPHE); /* Ä */
	tap(f, KEY_MINUS);			/* ß */
	with(f, KEY_LEFTSHIFT, KEY_7);		/* / */
	tap(f, KEY_SLASH);			/* - */
	tap(f, KEY_ENTER);
	expect(f, HAL_READ_QR, "zy\"@\xc3\xb6\xc3\x84\xc3\x9f/-");
	fx_close(f);
}

static void caps_lock_and_gs(void **state)
{
	struct fx *f = fx_open("");
	(void)state;
	tap(f, KEY_CAPSLOCK);
	tap(f, KEY_A);
	with(f, KEY_LEFTSHIFT, KEY_B); /* caps + shift = lower */
	tap(f, KEY_1);		       /* caps does not shift digits */
	tap(f, KEY_CAPSLOCK);
	tap(f, KEY_C);
	with(f, KEY_LEFTCTRL, KEY_RIGHTBRACE); /* GS, as GS1 scanners send it */
	tap(f, KEY_9);
	tap(f, KEY_ENTER);
	expect(f, HAL_READ_BARCODE, "Ab1c\0359");
	fx_close(f);
}

static void tab_terminator_modes(void **state)
{
	struct fx *f = fx_open("terminator=tab");
	(void)state;
	tap(f, KEY_1);
	tap(f, KEY_ENTER); /* not a terminator here: ignored */
	tap(f, KEY_2);
	tap(f, KEY_TAB);
	expect(f, HAL_READ_BARCODE, "12");
	fx_close(f);
	f = fx_open("terminator=enter_or_tab");
	tap(f, KEY_3);
	tap(f, KEY_TAB);
	tap(f, KEY_4);
	tap(f, KEY_ENTER);
	expect(f, HAL_READ_BARCODE, "3");
	expect(f, HAL_READ_BARCODE, "4");
	fx_close(f);
}

static void long_and_unmappable_lines_are_refused(void **state)
{
	struct fx *f = fx_open("max_len=4");
	(void)state;
	for (int i = 0; i < 5; i++)
		tap(f, KEY_5);
	tap(f, KEY_ENTER); /* 5 > 4: dropped */
	tap(f, KEY_1);
	tap(f, KEY_F1); /* no text on any layout */
	tap(f, KEY_2);
	tap(f, KEY_ENTER);	      /* refused, not "12" */
	with(f, KEY_RIGHTALT, KEY_Q); /* us has no AltGr symbols */
	tap(f, KEY_ENTER);
	tap(f, KEY_ENTER); /* empty line: nothing */
	for (int i = 0; i < 4; i++)
		tap(f, KEY_6);
	tap(f, KEY_ENTER);
	expect(f, HAL_READ_BARCODE, "6666");
	expect_nothing(f);
	fx_close(f);
}

static void records_split_across_reads(void **state)
{
	struct fx *f = fx_open("");
	struct input_event e[2];
	const char *p = (const char *)e;
	(void)state;
	memset(e, 0, sizeof e);
	e[0].type = EV_KEY;
	e[0].code = KEY_8;
	e[0].value = 1;
	e[1].type = EV_KEY;
	e[1].code = KEY_ENTER;
	e[1].value = 1;
	assert_int_equal(write(f->w, p, 5), 5);
	usleep(30000);
	assert_int_equal(write(f->w, p + 5, sizeof e - 5), (ssize_t)(sizeof e - 5));
	expect(f, HAL_READ_BARCODE, "8");
	fx_close(f);
}

static void grab_failure_is_logged_and_writer_loss_survived(void **state)
{
	FILE *logf = tmpfile();
	struct fx *f;
	char *log;
	(void)state;
	rg_log_set_stream(logf);
	rg_log_set_level(RG_LOG_INFO);
	/* EVIOCGRAB on a FIFO fails: logged, not fatal */
	f = fx_open("grab=on,backoff_min_ms=300,backoff_max_ms=300");
	assert_int_equal(hal_reader_connected(f->r), 1);
	tap(f, KEY_1);
	tap(f, KEY_ENTER);
	expect(f, HAL_READ_BARCODE, "1");
	tap(f, KEY_2); /* half a line when the device goes away: dropped */
	close(f->w);
	for (int i = 0; i < 200 && hal_reader_connected(f->r) != 0; i++)
		usleep(5000);
	assert_int_equal(hal_reader_connected(f->r), 0); /* noticed: lost */
	f->w = open(f->fifo, O_WRONLY);			 /* blocks until the backend reopened */
	assert_true(f->w >= 0);
	tap(f, KEY_3);
	tap(f, KEY_ENTER);
	expect(f, HAL_READ_BARCODE, "3");
	/* Read the log before teardown: fx_close closes the writer first, which
	 * is a real second outage the backend may log before it is stopped. */
	rg_log_set_stream(NULL);
	rg_log_set_level(RG_LOG_OFF);
	log = tu_slurp(logf);
	fx_close(f);
	assert_true(tu_count(log, "event=grab_failed") >= 1);
	assert_int_equal(tu_count(log, "event=device_lost"), 1);
	assert_int_equal(tu_count(log, "event=device_recovered"), 1);
	free(log);
	fclose(logf);
}

static void keymap_table_spot_checks(void **state)
{
	struct hal__mods m = {0};
	char out[8];
	(void)state;
	assert_int_equal(hal__keymap_text(HAL__LAYOUT_US, KEY_Y, &m, out), 1);
	assert_string_equal(out, "y");
	assert_int_equal(hal__keymap_text(HAL__LAYOUT_DE, KEY_Y, &m, out), 1);
	assert_string_equal(out, "z");
	m.altgr = 1;
	assert_int_equal(hal__keymap_text(HAL__LAYOUT_DE, KEY_E, &m, out), 3);
	assert_string_equal(out, "\xe2\x82\xac");
	assert_int_equal(hal__keymap_text(HAL__LAYOUT_US, KEY_E, &m, out), 0);
	m.altgr = 0;
	assert_int_equal(hal__keymap_text(HAL__LAYOUT_US, 0, &m, out), 0);
	assert_int_equal(hal__keymap_text(HAL__LAYOUT_US, KEY_MAX, &m, out), 0);
	assert_int_equal(hal__keymap_text(HAL__LAYOUT_DE, KEY_102ND, &m, out), 1);
	assert_string_equal(out, "<");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(us_layout_with_shift_and_enter),
	    cmocka_unit_test(de_layout_differs_from_us),
	    cmocka_unit_test(caps_lock_and_gs),
	    cmocka_unit_test(tab_terminator_modes),
	    cmocka_unit_test(long_and_unmappable_lines_are_refused),
	    cmocka_unit_test(records_split_across_reads),
	    cmocka_unit_test(grab_failure_is_logged_and_writer_loss_survived),
	    cmocka_unit_test(keymap_table_spot_checks),
	};
	signal(SIGPIPE, SIG_IGN);
	tu_require_threads();
	rg_log_set_level(RG_LOG_OFF);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
