/*
 * reader_evdev.c - USB HID keyboard-wedge barcode/QR scanners through Linux
 * evdev. Grabs the input device exclusively (EVIOCGRAB) so scans do not leak
 * into whatever has keyboard focus; a failed grab is logged, not fatal.
 * Turns key presses into text with the configured layout; a line ends at
 * Enter and/or Tab. Lines with keys the layout cannot type are refused, never
 * guessed. Reopens the device with backoff when it disappears.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/input.h>
#include <poll.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "common/err.h"
#include "common/log.h"

#include "../core/text.h"
#include "../core/worker.h"
#include "evdev_keymap.h"
#include "reader_impl.h"

enum term { TERM_ENTER, TERM_TAB, TERM_ENTER_OR_TAB };

struct evdev {
	struct hal_reader *r;
	struct hal__worker w;
	struct hal__link link;
	struct hal__backoff backoff;
	char path[256];
	enum hal__layout layout;
	enum term term;
	enum hal_read_kind kind;
	size_t max_len;
	bool grab;
	int fd;
	/* input state */
	struct hal__mods mods;
	int lshift, rshift, lctrl, rctrl;
	unsigned char raw[sizeof(struct input_event) * 64];
	size_t raw_len;
	/* the line being typed */
	size_t len;
	bool overlong;
	unsigned unmapped; /* first key code the layout could not type, 0 if none */
	char line[HAL_READ_PAYLOAD_MAX + 8];
};

static const char *const evdev_options[] = {"path",	      "layout",		"terminator",
					    "max_len",	      "grab",		"kind",
					    "backoff_min_ms", "backoff_max_ms", NULL};

static void line_reset(struct evdev *e)
{
	e->len = 0;
	e->overlong = false;
	e->unmapped = 0;
}

static void input_reset(struct evdev *e)
{
	memset(&e->mods, 0, sizeof e->mods);
	e->lshift = e->rshift = e->lctrl = e->rctrl = 0;
	e->raw_len = 0;
	line_reset(e);
}

static int dev_open(struct evdev *e)
{
	int fd = open(e->path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return errno == EACCES ? RG_ERR_PERM : RG_ERR_DEVICE;
	if (e->grab && ioctl(fd, EVIOCGRAB, (void *)1) < 0) {
		/* Not fatal: scans then also reach the console or X. */
		char q[160];
		rg_warn("reader", "grab_failed", "backend=evdev device=%s errno=%d",
			rg_log_quote(q, sizeof q, e->path), errno);
	}
	return fd;
}

static void line_end(struct evdev *e)
{
	if (e->overlong) {
		rg_warn("reader", "line_too_long", "backend=evdev max_len=%zu", e->max_len);
	} else if (e->unmapped) {
		rg_warn("reader", "line_rejected", "backend=evdev reason=unmapped_key code=%u",
			e->unmapped);
	} else if (e->len > 0 && hal__text_check(e->line, e->len) < 0) {
		rg_warn("reader", "line_rejected", "backend=evdev reason=bad_text len=%zu", e->len);
	} else if (e->len > 0) {
		struct hal_read *rd = calloc(1, sizeof *rd);
		if (rd) {
			rd->kind = e->kind;
			rd->tech = HAL_TECH_NONE;
			memcpy(rd->payload, e->line, e->len);
			rd->payload_len = e->len;
			hal__reader_push(e->r, rd);
			free(rd);
		} else {
			rg_error("reader", "read_dropped", "backend=evdev reason=out_of_memory");
		}
	}
	line_reset(e);
}

/* Track modifier keys; returns 1 if code was one. */
static int modifier(struct evdev *e, unsigned code, int value)
{
	switch (code) {
	case KEY_LEFTSHIFT:
		e->lshift = value != 0;
		break;
	case KEY_RIGHTSHIFT:
		e->rshift = value != 0;
		break;
	case KEY_LEFTCTRL:
		e->lctrl = value != 0;
		break;
	case KEY_RIGHTCTRL:
		e->rctrl = value != 0;
		break;
	case KEY_RIGHTALT:
		e->mods.altgr = value != 0;
		break;
	case KEY_CAPSLOCK:
		if (value == 1)
			e->mods.caps = !e->mods.caps;
		break;
	case KEY_LEFTALT:
	case KEY_LEFTMETA:
	case KEY_RIGHTMETA:
	case KEY_NUMLOCK:
		break; /* type nothing themselves */
	default:
		return 0;
	}
	e->mods.shift = e->lshift || e->rshift;
	e->mods.ctrl = e->lctrl || e->rctrl;
	return 1;
}

static void key(struct evdev *e, unsigned code, int value)
{
	char text[8];
	size_t n;

	if (modifier(e, code, value) || value != 1)
		return; /* releases and autorepeat type nothing */
	if (code == KEY_ENTER || code == KEY_KPENTER) {
		if (e->term != TERM_TAB)
			line_end(e);
		return; /* an Enter that does not end lines is ignored */
	}
	if (code == KEY_TAB) {
		if (e->term != TERM_ENTER)
			line_end(e);
		return;
	}
	n = hal__keymap_text(e->layout, code, &e->mods, text);
	if (n == 0) {
		if (!e->unmapped)
			e->unmapped = code ? code : 0xFFFF;
		return;
	}
	if (e->len + n > e->max_len) {
		e->overlong = true;
		return;
	}
	memcpy(e->line + e->len, text, n);
	e->len += n;
}

static void feed(struct evdev *e)
{
	size_t off = 0;
	while (e->raw_len - off >= sizeof(struct input_event)) {
		struct input_event ev;
		memcpy(&ev, e->raw + off, sizeof ev);
		off += sizeof ev;
		if (ev.type == EV_KEY)
			key(e, ev.code, ev.value);
	}
	memmove(e->raw, e->raw + off, e->raw_len - off);
	e->raw_len -= off;
}

static void *evdev_thread(void *arg)
{
	struct evdev *e = arg;

	for (;;) {
		short rev;
		int w;

		if (e->fd < 0) {
			int fd = dev_open(e);
			if (fd < 0) {
				hal__link_down(&e->link, "open", fd);
				if (hal__worker_wait(&e->w, -1, 0, hal__backoff_next(&e->backoff),
						     NULL) == HAL__WORKER_STOP)
					break;
				continue;
			}
			e->fd = fd;
			input_reset(e);
			hal__backoff_reset(&e->backoff);
			hal__link_up(&e->link);
		}
		w = hal__worker_wait(&e->w, e->fd, POLLIN, -1, &rev);
		if (w == HAL__WORKER_STOP)
			break;
		if (w == 1) {
			ssize_t n = read(e->fd, e->raw + e->raw_len, sizeof e->raw - e->raw_len);
			if (n > 0) {
				e->raw_len += (size_t)n;
				feed(e);
			} else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
				/* ENODEV: unplugged; EOF: the FIFO's writer left */
				close(e->fd);
				e->fd = -1;
				hal__link_down(&e->link, "read", RG_ERR_DEVICE);
				if (hal__worker_wait(&e->w, -1, 0, hal__backoff_next(&e->backoff),
						     NULL) == HAL__WORKER_STOP)
					break;
			}
		}
	}
	return NULL;
}

static int evdev_open(struct hal_reader *r, const struct hal__opts *o)
{
	static const char *const layouts[] = {"us", "de", NULL};
	static const char *const terms[] = {"enter", "tab", "enter_or_tab", NULL};
	static const char *const kinds[] = {"barcode", "qr", "mag", NULL};
	const char *path = hal__opts_str(o, "path", NULL);
	int layout, term, kind, rc;
	long max_len, bmin, bmax;
	struct evdev *e;
	bool grab;

	if (!path || !*path)
		return hal__opts_fail(o, "path", "required (the scanner's /dev/input/event* node)");
	if (strlen(path) >= sizeof e->path)
		return hal__opts_fail(o, "path", "too long");
	if ((rc = hal__opts_choice(o, "layout", layouts, HAL__LAYOUT_US, &layout)) ||
	    (rc = hal__opts_choice(o, "terminator", terms, TERM_ENTER, &term)) ||
	    (rc = hal__opts_int(o, "max_len", 1, HAL_READ_PAYLOAD_MAX, 256, &max_len)) ||
	    (rc = hal__opts_bool(o, "grab", true, &grab)) ||
	    (rc = hal__opts_choice(o, "kind", kinds, 0, &kind)) ||
	    (rc = hal__opts_int(o, "backoff_min_ms", 1, 60000, 500, &bmin)) ||
	    (rc = hal__opts_int(o, "backoff_max_ms", 1, 600000, 10000, &bmax)))
		return rc;
	e = calloc(1, sizeof *e);
	if (!e)
		return RG_ERR_NOMEM;
	e->r = r;
	memcpy(e->path, path, strlen(path) + 1);
	e->layout = (enum hal__layout)layout;
	e->term = (enum term)term;
	e->kind = kind == 0 ? HAL_READ_BARCODE : kind == 1 ? HAL_READ_QR : HAL_READ_MAGSTRIPE;
	e->max_len = (size_t)max_len;
	e->grab = grab;
	hal__backoff_init(&e->backoff, (int)bmin, (int)bmax);
	hal__link_init(&e->link, "reader", "evdev", path);
	e->fd = dev_open(e);
	if (e->fd >= 0)
		hal__link_up(&e->link);
	r->priv = e;
	rc = hal__worker_start(&e->w, evdev_thread, e);
	if (rc) {
		if (e->fd >= 0)
			close(e->fd);
		free(e);
		r->priv = NULL;
	}
	return rc;
}

static void evdev_close(struct hal_reader *r)
{
	struct evdev *e = r->priv;
	if (!e)
		return;
	hal__worker_stop(&e->w);
	if (e->fd >= 0) {
		if (e->grab)
			ioctl(e->fd, EVIOCGRAB, (void *)0);
		close(e->fd);
	}
	free(e);
	r->priv = NULL;
}

static int evdev_connected(const struct hal_reader *r)
{
	const struct evdev *e = r->priv;
	return atomic_load(&e->link.connected);
}

const struct hal_reader_ops hal__reader_evdev_ops = {
    .version = HAL_READER_OPS_VERSION,
    .name = "evdev",
    .caps = HAL_READER_CAP_TEXT | HAL_READER_CAP_MAGSTRIPE | HAL_READER_CAP_HOTPLUG,
    .options = evdev_options,
    .open = evdev_open,
    .close = evdev_close,
    .connected = evdev_connected,
};
