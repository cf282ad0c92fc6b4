/*
 * reader_serial.c - RS-232 / USB-CDC barcode and QR scanners that send one
 * code per line. Owns the tty while open (raw 8N1 at the configured baud);
 * reopens it with backoff when it goes away (USB unplug). Lines longer than
 * max_line, or with control characters or invalid UTF-8, are dropped with a
 * log line, never delivered in part.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "common/err.h"
#include "common/log.h"

#include "../core/text.h"
#include "../core/worker.h"
#include "reader_impl.h"

enum term { TERM_ANY, TERM_CR, TERM_LF, TERM_CRLF };

struct serial {
	struct hal_reader *r;
	struct hal__worker w;
	struct hal__link link;
	struct hal__backoff backoff;
	char path[256];
	speed_t speed;
	enum term term;
	enum hal_read_kind kind;
	size_t max_line;
	int fd;
	/* the line being assembled */
	size_t len;
	bool overlong, pending_cr;
	char line[HAL_READ_PAYLOAD_MAX + 1];
};

static const char *const serial_options[] = {"path", "baud",	       "terminator",	 "max_line",
					     "kind", "backoff_min_ms", "backoff_max_ms", NULL};

static const struct {
	long baud;
	speed_t speed;
} bauds[] = {{1200, B1200},   {2400, B2400},   {4800, B4800},	  {9600, B9600},    {19200, B19200},
	     {38400, B38400}, {57600, B57600}, {115200, B115200}, {230400, B230400}};

static int tty_open(struct serial *s)
{
	struct termios t;
	int fd = open(s->path, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);

	if (fd < 0)
		return errno == EACCES ? RG_ERR_PERM : RG_ERR_DEVICE;
	if (tcgetattr(fd, &t) < 0) {
		close(fd);
		return RG_ERR_DEVICE; /* not a terminal */
	}
	cfmakeraw(&t);
	t.c_cflag |= CLOCAL | CREAD;
	t.c_cflag &= ~(tcflag_t)(CSTOPB | PARENB | CRTSCTS);
	t.c_cc[VMIN] = 1;
	t.c_cc[VTIME] = 0;
	if (cfsetispeed(&t, s->speed) < 0 || cfsetospeed(&t, s->speed) < 0 ||
	    tcsetattr(fd, TCSANOW, &t) < 0) {
		close(fd);
		return RG_ERR_DEVICE;
	}
	tcflush(fd, TCIFLUSH);
	return fd;
}

static void line_reset(struct serial *s)
{
	s->len = 0;
	s->overlong = false;
	s->pending_cr = false;
}

static void line_end(struct serial *s)
{
	if (s->overlong) {
		rg_warn("reader", "line_too_long", "backend=serial max_line=%zu", s->max_line);
	} else if (s->len == 0) {
		/* an empty line (the LF of a CRLF in "any" mode): nothing scanned */
	} else if (hal__text_check(s->line, s->len) < 0) {
		rg_warn("reader", "line_rejected", "backend=serial reason=bad_text len=%zu",
			s->len);
	} else {
		struct hal_read *rd = calloc(1, sizeof *rd);
		if (rd) {
			rd->kind = s->kind;
			rd->tech = HAL_TECH_NONE;
			memcpy(rd->payload, s->line, s->len);
			rd->payload_len = s->len;
			hal__reader_push(s->r, rd);
			free(rd);
		} else {
			rg_error("reader", "read_dropped", "backend=serial reason=out_of_memory");
		}
	}
	line_reset(s);
}

static void line_add(struct serial *s, char c)
{
	if (s->len < s->max_line)
		s->line[s->len++] = c;
	else
		s->overlong = true;
}

static void feed(struct serial *s, const char *b, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char c = b[i];
		switch (s->term) {
		case TERM_ANY:
			if (c == '\r' || c == '\n')
				line_end(s);
			else
				line_add(s, c);
			break;
		case TERM_CR:
			if (c == '\r')
				line_end(s);
			else
				line_add(s, c);
			break;
		case TERM_LF:
			if (c == '\n')
				line_end(s);
			else
				line_add(s, c);
			break;
		case TERM_CRLF:
			if (s->pending_cr) {
				s->pending_cr = false;
				if (c == '\n') {
					line_end(s);
					break;
				}
				line_add(s,
					 '\r'); /* a lone CR is data (and makes the line invalid) */
			}
			if (c == '\r')
				s->pending_cr = true;
			else
				line_add(s, c);
			break;
		}
	}
}

static void *serial_thread(void *arg)
{
	struct serial *s = arg;

	for (;;) {
		short rev;
		int w;

		if (s->fd < 0) {
			int fd = tty_open(s);
			if (fd < 0) {
				hal__link_down(&s->link, "open", fd);
				if (hal__worker_wait(&s->w, -1, 0, hal__backoff_next(&s->backoff),
						     NULL) == HAL__WORKER_STOP)
					break;
				continue;
			}
			s->fd = fd;
			line_reset(s);
			hal__backoff_reset(&s->backoff);
			hal__link_up(&s->link);
		}
		w = hal__worker_wait(&s->w, s->fd, POLLIN, -1, &rev);
		if (w == HAL__WORKER_STOP)
			break;
		if (w == 1) {
			char buf[512];
			ssize_t n = read(s->fd, buf, sizeof buf);
			if (n > 0) {
				feed(s, buf, (size_t)n);
			} else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
				/* EIO / hangup: the adapter or the other end went away */
				close(s->fd);
				s->fd = -1;
				hal__link_down(&s->link, "read", RG_ERR_DEVICE);
				if (hal__worker_wait(&s->w, -1, 0, hal__backoff_next(&s->backoff),
						     NULL) == HAL__WORKER_STOP)
					break;
			}
		}
	}
	return NULL;
}

static int serial_open(struct hal_reader *r, const struct hal__opts *o)
{
	static const char *const terms[] = {"any", "cr", "lf", "crlf", NULL};
	static const char *const kinds[] = {"barcode", "qr", "mag", NULL};
	const char *path = hal__opts_str(o, "path", NULL);
	long baud, max_line, bmin, bmax;
	int term, kind, rc;
	struct serial *s;
	speed_t speed = 0;

	if (!path || !*path)
		return hal__opts_fail(o, "path", "required (the scanner's tty)");
	if (strlen(path) >= sizeof s->path)
		return hal__opts_fail(o, "path", "too long");
	if ((rc = hal__opts_int(o, "baud", 1, 4000000, 9600, &baud)) ||
	    (rc = hal__opts_choice(o, "terminator", terms, TERM_ANY, &term)) ||
	    (rc = hal__opts_int(o, "max_line", 1, HAL_READ_PAYLOAD_MAX, 256, &max_line)) ||
	    (rc = hal__opts_choice(o, "kind", kinds, 0, &kind)) ||
	    (rc = hal__opts_int(o, "backoff_min_ms", 1, 60000, 500, &bmin)) ||
	    (rc = hal__opts_int(o, "backoff_max_ms", 1, 600000, 10000, &bmax)))
		return rc;
	for (size_t i = 0; i < sizeof bauds / sizeof bauds[0]; i++)
		if (bauds[i].baud == baud)
			speed = bauds[i].speed;
	if (!speed)
		return hal__opts_fail(o, "baud",
				      "not one of 1200 2400 4800 9600 19200 38400 57600 "
				      "115200 230400");
	s = calloc(1, sizeof *s);
	if (!s)
		return RG_ERR_NOMEM;
	s->r = r;
	memcpy(s->path, path, strlen(path) + 1);
	s->speed = speed;
	s->term = (enum term)term;
	s->kind = kind == 0 ? HAL_READ_BARCODE : kind == 1 ? HAL_READ_QR : HAL_READ_MAGSTRIPE;
	s->max_line = (size_t)max_line;
	hal__backoff_init(&s->backoff, (int)bmin, (int)bmax);
	hal__link_init(&s->link, "reader", "serial", path);
	/* First open here, so the line settings are in place when open returns;
	 * if the scanner is not plugged in yet, the thread keeps trying. */
	s->fd = tty_open(s);
	if (s->fd >= 0)
		hal__link_up(&s->link);
	r->priv = s;
	rc = hal__worker_start(&s->w, serial_thread, s);
	if (rc) {
		if (s->fd >= 0)
			close(s->fd);
		free(s);
		r->priv = NULL;
	}
	return rc;
}

static void serial_close(struct hal_reader *r)
{
	struct serial *s = r->priv;
	if (!s)
		return;
	hal__worker_stop(&s->w);
	if (s->fd >= 0)
		close(s->fd);
	free(s);
	r->priv = NULL;
}

static int serial_connected(const struct hal_reader *r)
{
	const struct serial *s = r->priv;
	return atomic_load(&s->link.connected);
}

const struct hal_reader_ops hal__reader_serial_ops = {
    .version = HAL_READER_OPS_VERSION,
    .name = "serial",
    .caps = HAL_READER_CAP_TEXT | HAL_READER_CAP_MAGSTRIPE | HAL_READER_CAP_HOTPLUG,
    .options = serial_options,
    .open = serial_open,
    .close = serial_close,
    .connected = serial_connected,
};
