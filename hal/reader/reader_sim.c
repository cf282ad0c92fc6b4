/*
 * reader_sim.c - the simulated reader: a Unix stream socket that takes one
 * command per line (docs/sim-reader.md) and turns each valid line into a
 * read, answering "ok" or "err <reason>". Used by tests, the demo and
 * `regularsctl tap`. It owns the socket file at `path` while open; it
 * refuses to take over a socket another process is still serving.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/err.h"
#include "common/log.h"

#include "../core/worker.h"
#include "reader_impl.h"
#include "sim_line.h"

#define SIM_CLIENTS_MAX 8

struct sim_client {
	int fd;
	size_t len;
	int discarding;			 /* inside a line that was too long */
	char buf[HAL__SIM_LINE_MAX + 3]; /* a line, CR, LF and one byte to spare */
};

struct sim {
	struct hal_reader *r;
	struct hal__worker w;
	int lfd;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	struct sim_client c[SIM_CLIENTS_MAX];
};

static const char *const sim_options[] = {"path", NULL};

static void client_close(struct sim_client *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->len = 0;
	c->discarding = 0;
}

/* Replies are short; a client that does not take them is dropped. */
static int client_send(struct sim_client *c, const char *line)
{
	size_t n = strlen(line);
	ssize_t w;

	do {
		w = send(c->fd, line, n, MSG_NOSIGNAL | MSG_DONTWAIT);
	} while (w < 0 && errno == EINTR);
	if (w < 0 || (size_t)w != n) {
		client_close(c);
		return -1;
	}
	return 0;
}

static int client_err(struct sim_client *c, const char *reason)
{
	char line[96];
	snprintf(line, sizeof line, "err %s\n", reason);
	rg_info("reader", "sim_refused", "reason=%s", reason);
	return client_send(c, line);
}

static int handle_line(struct sim *s, struct sim_client *c, char *line, size_t len)
{
	struct hal_read *rd = malloc(sizeof *rd);
	const char *reason;
	int rc;

	if (len && line[len - 1] == '\r')
		len--;
	if (!rd)
		return client_err(c, "out_of_memory");
	rc = hal__sim_parse_line(line, len, rd, &reason);
	if (rc == 1 && hal__reader_push(s->r, rd) < 0) {
		rc = RG_ERR_AGAIN;
		reason = "queue_full";
	}
	free(rd);
	if (rc < 0)
		return client_err(c, reason);
	return client_send(c, "ok\n");
}

static void client_input(struct sim *s, struct sim_client *c)
{
	ssize_t n;
	char *nl;

	do {
		n = recv(c->fd, c->buf + c->len, sizeof c->buf - c->len, MSG_DONTWAIT);
	} while (n < 0 && errno == EINTR);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return;
	if (n <= 0) {
		client_close(c);
		return;
	}
	c->len += (size_t)n;
	while (c->fd >= 0 && (nl = memchr(c->buf, '\n', c->len))) {
		size_t ll = (size_t)(nl - c->buf);
		if (c->discarding)
			c->discarding = 0; /* the end of an overlong line: already refused */
		else if (handle_line(s, c, c->buf, ll) < 0)
			return;
		memmove(c->buf, nl + 1, c->len - ll - 1);
		c->len -= ll + 1;
	}
	if (c->fd >= 0 && c->len >= HAL__SIM_LINE_MAX + 2) {
		/* No newline within the limit (+1 for a CR): refuse now, drop the rest. */
		if (!c->discarding && client_err(c, "line_too_long") < 0)
			return;
		c->discarding = 1;
		c->len = 0;
	}
}

static void accept_client(struct sim *s)
{
	int fd = accept(s->lfd, NULL, NULL);
	if (fd < 0)
		return;
	fcntl(fd, F_SETFD, FD_CLOEXEC);
	for (size_t i = 0; i < SIM_CLIENTS_MAX; i++) {
		if (s->c[i].fd < 0) {
			s->c[i].fd = fd;
			s->c[i].len = 0;
			s->c[i].discarding = 0;
			return;
		}
	}
	{
		static const char busy[] = "err too_many_clients\n";
		(void)!send(fd, busy, sizeof busy - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
		close(fd);
	}
}

static void *sim_thread(void *arg)
{
	struct sim *s = arg;

	while (!hal__worker_stopping(&s->w)) {
		struct pollfd p[2 + SIM_CLIENTS_MAX];
		size_t n = 0;
		p[n].fd = s->w.stop_rd;
		p[n++].events = POLLIN;
		p[n].fd = s->lfd;
		p[n++].events = POLLIN;
		for (size_t i = 0; i < SIM_CLIENTS_MAX; i++) {
			p[n].fd = s->c[i].fd; /* -1 is ignored by poll */
			p[n++].events = POLLIN;
		}
		if (poll(p, n, -1) < 0) {
			if (errno == EINTR)
				continue;
			rg_error("reader", "sim_poll_failed", "errno=%d", errno);
			break;
		}
		if (p[0].revents)
			break;
		if (p[1].revents & POLLIN)
			accept_client(s);
		for (size_t i = 0; i < SIM_CLIENTS_MAX; i++)
			if (s->c[i].fd >= 0 && p[2 + i].revents)
				client_input(s, &s->c[i]);
	}
	return NULL;
}

/* A socket file left by a process that died may be replaced; one that
 * someone still accepts on may not. */
static int claim_path(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct stat st;
	int fd, rc;

	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : RG_ERR_IO;
	if (!S_ISSOCK(st.st_mode))
		return RG_ERR_EXISTS;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return RG_ERR_IO;
	rc = connect(fd, (struct sockaddr *)&sa, sizeof sa);
	close(fd);
	if (rc == 0)
		return RG_ERR_BUSY;
	return unlink(path) < 0 ? RG_ERR_IO : 0;
}

/* Create the socket's directory (one level, 0700) if it is missing. */
static void make_parent(const char *path)
{
	char dir[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char *slash;
	memcpy(dir, path, strlen(path) + 1);
	slash = strrchr(dir, '/');
	if (!slash || slash == dir)
		return;
	*slash = '\0';
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		rg_warn("reader", "sim_mkdir_failed", "errno=%d", errno);
}

static int sim_open(struct hal_reader *r, const struct hal__opts *o)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	char def[sizeof sa.sun_path], q[160];
	const char *path;
	struct sim *s;
	int rc;

	path = hal__opts_str(o, "path", NULL);
	if (!path || !*path) {
		if (hal_reader_sim_default_path(def, sizeof def) < 0)
			return hal__opts_fail(o, "path", "default path too long for a socket");
		path = def;
	}
	if (strlen(path) >= sizeof sa.sun_path)
		return hal__opts_fail(o, "path", "longer than a Unix socket path can be");
	s = calloc(1, sizeof *s);
	if (!s)
		return RG_ERR_NOMEM;
	s->r = r;
	for (size_t i = 0; i < SIM_CLIENTS_MAX; i++)
		s->c[i].fd = -1;
	memcpy(s->path, path, strlen(path) + 1);
	memcpy(sa.sun_path, path, strlen(path) + 1);
	rg_log_quote(q, sizeof q, path);

	make_parent(path);
	rc = claim_path(path);
	if (rc) {
		rg_error("reader", "sim_path_in_use", "path=%s error=%s", q, rg_errname(rc));
		free(s);
		return rc;
	}
	s->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s->lfd < 0 || bind(s->lfd, (struct sockaddr *)&sa, sizeof sa) < 0 ||
	    listen(s->lfd, 16) < 0) {
		rc = errno == EACCES ? RG_ERR_PERM : RG_ERR_IO;
		rg_error("reader", "sim_listen_failed", "path=%s errno=%d", q, errno);
		if (s->lfd >= 0)
			close(s->lfd);
		free(s);
		return rc;
	}
	r->priv = s;
	rc = hal__worker_start(&s->w, sim_thread, s);
	if (rc) {
		close(s->lfd);
		unlink(s->path);
		free(s);
		r->priv = NULL;
		return rc;
	}
	rg_info("reader", "sim_listening", "path=%s", q);
	return 0;
}

static void sim_close(struct hal_reader *r)
{
	struct sim *s = r->priv;
	if (!s)
		return;
	hal__worker_stop(&s->w);
	for (size_t i = 0; i < SIM_CLIENTS_MAX; i++)
		client_close(&s->c[i]);
	close(s->lfd);
	unlink(s->path);
	free(s);
	r->priv = NULL;
}

const struct hal_reader_ops hal__reader_sim_ops = {
    .version = HAL_READER_OPS_VERSION,
    .name = "sim",
    .caps = HAL_READER_CAP_NFC_UID | HAL_READER_CAP_NDEF | HAL_READER_CAP_TEXT |
	    HAL_READER_CAP_MAGSTRIPE,
    .options = sim_options,
    .open = sim_open,
    .close = sim_close,
    .connected = NULL, /* no device to lose */
};
