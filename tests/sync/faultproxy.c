/*
 * faultproxy.c - see faultproxy.h. The forwarder thread owns every socket;
 * the test thread talks to it through a pipe (one command byte) and waits on
 * a condition variable until the command is applied, so "cut" is a moment,
 * not a request.
 */
#define _GNU_SOURCE /* accept4, pipe2 */
#include "faultproxy.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/err.h"

#define FP_CONNS 32
#define FP_BUF (64 * 1024)

struct fp_dir {
	char buf[FP_BUF];
	size_t len;
};

struct fp_conn {
	int fd[2]; /* 0 client side, 1 target side; -1 when unused */
	struct fp_dir d[2]; /* d[i]: bytes read from fd[i], to be written to fd[1 - i] */
	bool connecting;    /* target connect in progress */
};

struct fp_proxy {
	pthread_t th;
	int lfd, ctl[2];
	unsigned port, target;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int64_t asked, applied; /* command generations */
	bool cut;
	struct fp_stats st;
	struct fp_conn c[FP_CONNS];
};

static void conn_close(struct fp_proxy *p, struct fp_conn *c)
{
	for (int i = 0; i < 2; i++) {
		if (c->fd[i] >= 0) {
			/* A reset, like a dead link seen from both ends. */
			struct linger lg = {.l_onoff = 1, .l_linger = 0};
			setsockopt(c->fd[i], SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
			close(c->fd[i]);
		}
		c->fd[i] = -1;
		c->d[i].len = 0;
	}
	c->connecting = false;
	pthread_mutex_lock(&p->mu);
	p->st.live--;
	pthread_mutex_unlock(&p->mu);
}

static void drop_all(struct fp_proxy *p)
{
	for (int i = 0; i < FP_CONNS; i++)
		if (p->c[i].fd[0] >= 0) {
			conn_close(p, &p->c[i]);
			pthread_mutex_lock(&p->mu);
			p->st.dropped++;
			pthread_mutex_unlock(&p->mu);
		}
}

static void on_accept(struct fp_proxy *p)
{
	for (;;) {
		int fd = accept4(p->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			return;
		struct fp_conn *c = NULL;
		for (int i = 0; i < FP_CONNS && !c; i++)
			if (p->c[i].fd[0] < 0)
				c = &p->c[i];
		if (p->cut || !c) {
			struct linger lg = {.l_onoff = 1, .l_linger = 0};
			setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
			close(fd);
			pthread_mutex_lock(&p->mu);
			p->st.refused++;
			pthread_mutex_unlock(&p->mu);
			continue;
		}
		int t = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		struct sockaddr_in a = {.sin_family = AF_INET,
					.sin_port = htons((uint16_t)p->target),
					.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
		int one = 1;
		if (t < 0) {
			close(fd);
			continue;
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		setsockopt(t, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		c->fd[0] = fd;
		c->fd[1] = t;
		c->d[0].len = c->d[1].len = 0;
		c->connecting = false;
		pthread_mutex_lock(&p->mu);
		p->st.live++;
		p->st.accepted++;
		pthread_mutex_unlock(&p->mu);
		if (connect(t, (struct sockaddr *)&a, sizeof a) < 0) {
			if (errno == EINPROGRESS)
				c->connecting = true;
			else
				conn_close(p, c); /* target down: the client sees a reset */
		}
	}
}

/* Move bytes for one connection; false when it ended. */
static bool pump_conn(struct fp_proxy *p, struct fp_conn *c, const struct pollfd *pf)
{
	if (c->connecting) {
		if (!(pf[1].revents & (POLLOUT | POLLERR | POLLHUP)))
			return true;
		int err = 0;
		socklen_t el = sizeof err;
		getsockopt(c->fd[1], SOL_SOCKET, SO_ERROR, &err, &el);
		if (err)
			return false;
		c->connecting = false;
	}
	for (int i = 0; i < 2; i++) {
		struct fp_dir *d = &c->d[i];
		int from = c->fd[i], to = c->fd[1 - i];
		if (d->len < FP_BUF && (pf[i].revents & (POLLIN | POLLHUP | POLLERR))) {
			ssize_t n = read(from, d->buf + d->len, FP_BUF - d->len);
			if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
				return false;
			if (n > 0)
				d->len += (size_t)n;
		}
		if (d->len) {
			ssize_t n = send(to, d->buf, d->len, MSG_NOSIGNAL);
			if (n < 0 && errno != EAGAIN && errno != EINTR)
				return false;
			if (n > 0) {
				memmove(d->buf, d->buf + n, d->len - (size_t)n);
				d->len -= (size_t)n;
				pthread_mutex_lock(&p->mu);
				if (i == 0)
					p->st.bytes_up += n;
				else
					p->st.bytes_down += n;
				pthread_mutex_unlock(&p->mu);
			}
		}
	}
	return true;
}

static void *run(void *arg)
{
	struct fp_proxy *p = arg;
	struct pollfd pf[2 + 2 * FP_CONNS];
	for (;;) {
		int n = 0;
		pf[n++] = (struct pollfd){.fd = p->ctl[0], .events = POLLIN};
		pf[n++] = (struct pollfd){.fd = p->lfd, .events = POLLIN};
		for (int i = 0; i < FP_CONNS; i++) {
			struct fp_conn *c = &p->c[i];
			for (int k = 0; k < 2; k++) {
				short ev = 0;
				if (c->fd[0] >= 0) {
					if (k == 1 && c->connecting)
						ev = POLLOUT;
					else {
						if (c->d[k].len < FP_BUF)
							ev |= POLLIN;
						if (c->d[1 - k].len)
							ev |= POLLOUT;
					}
				}
				pf[n++] = (struct pollfd){.fd = c->fd[0] >= 0 ? c->fd[k] : -1,
							  .events = ev};
			}
		}
		if (poll(pf, (nfds_t)n, 1000) < 0 && errno != EINTR)
			break;
		if (pf[0].revents & POLLIN) {
			char cmd;
			if (read(p->ctl[0], &cmd, 1) == 1) {
				if (cmd == 'q')
					break;
				if (cmd == 'c') {
					p->cut = true;
					drop_all(p);
				} else if (cmd == 'r') {
					p->cut = false;
				}
				pthread_mutex_lock(&p->mu);
				p->st.cut = p->cut;
				p->applied++;
				pthread_cond_broadcast(&p->cv);
				pthread_mutex_unlock(&p->mu);
				continue; /* the poll set changed */
			}
		}
		for (int i = 0; i < FP_CONNS; i++) {
			struct fp_conn *c = &p->c[i];
			if (c->fd[0] >= 0 && !pump_conn(p, c, &pf[2 + 2 * i]))
				conn_close(p, c);
		}
		if (pf[1].revents & POLLIN)
			on_accept(p);
	}
	drop_all(p);
	pthread_mutex_lock(&p->mu);
	p->applied = INT64_MAX;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

int fp_start(unsigned target_port, struct fp_proxy **out)
{
	struct fp_proxy *p = calloc(1, sizeof *p);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t al = sizeof a;
	*out = NULL;
	if (!p)
		return RG_ERR_NOMEM;
	for (int i = 0; i < FP_CONNS; i++)
		p->c[i].fd[0] = p->c[i].fd[1] = -1;
	p->target = target_port;
	p->lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (p->lfd < 0 || bind(p->lfd, (struct sockaddr *)&a, sizeof a) < 0 ||
	    listen(p->lfd, 16) < 0 || getsockname(p->lfd, (struct sockaddr *)&a, &al) < 0 ||
	    pipe2(p->ctl, O_CLOEXEC) < 0) {
		if (p->lfd >= 0)
			close(p->lfd);
		free(p);
		return RG_ERR_IO;
	}
	p->port = ntohs(a.sin_port);
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cv, NULL);
	if (pthread_create(&p->th, NULL, run, p) != 0) {
		close(p->lfd);
		close(p->ctl[0]);
		close(p->ctl[1]);
		free(p);
		return RG_ERR_IO;
	}
	*out = p;
	return 0;
}

unsigned fp_port(const struct fp_proxy *p)
{
	return p->port;
}

static void command(struct fp_proxy *p, char cmd)
{
	pthread_mutex_lock(&p->mu);
	int64_t want = ++p->asked;
	pthread_mutex_unlock(&p->mu);
	if (write(p->ctl[1], &cmd, 1) != 1)
		return;
	pthread_mutex_lock(&p->mu);
	while (p->applied < want)
		pthread_cond_wait(&p->cv, &p->mu);
	pthread_mutex_unlock(&p->mu);
}

void fp_cut(struct fp_proxy *p)
{
	command(p, 'c');
}

void fp_restore(struct fp_proxy *p)
{
	command(p, 'r');
}

bool fp_is_cut(struct fp_proxy *p)
{
	pthread_mutex_lock(&p->mu);
	bool cut = p->st.cut;
	pthread_mutex_unlock(&p->mu);
	return cut;
}

void fp_stats_get(struct fp_proxy *p, struct fp_stats *out)
{
	pthread_mutex_lock(&p->mu);
	*out = p->st;
	pthread_mutex_unlock(&p->mu);
}

void fp_stop(struct fp_proxy *p)
{
	char q = 'q';
	if (!p)
		return;
	if (write(p->ctl[1], &q, 1) == 1)
		pthread_join(p->th, NULL);
	close(p->lfd);
	close(p->ctl[0]);
	close(p->ctl[1]);
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->cv);
	free(p);
}
