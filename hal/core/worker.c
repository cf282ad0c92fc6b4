/*
 * worker.c - device threads, backoff and link-state logging for HAL
 * backends. A worker's thread must check hal__worker_stopping() or use
 * hal__worker_wait() at least every few hundred ms, so close() is prompt.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <unistd.h>

#include "common/err.h"
#include "common/log.h"

#include "worker.h"

int hal__worker_start(struct hal__worker *w, void *(*fn)(void *), void *arg)
{
	int p[2], rc;

	memset(w, 0, sizeof *w);
	w->stop_rd = w->stop_wr = -1;
	if (pipe(p) < 0)
		return RG_ERR_IO;
	fcntl(p[0], F_SETFD, FD_CLOEXEC);
	fcntl(p[1], F_SETFD, FD_CLOEXEC);
	w->stop_rd = p[0];
	w->stop_wr = p[1];
	atomic_store(&w->stopping, false);
	rc = pthread_create(&w->thread, NULL, fn, arg);
	if (rc != 0) {
		close(p[0]);
		close(p[1]);
		w->stop_rd = w->stop_wr = -1;
		return rc == EAGAIN ? RG_ERR_NOMEM : RG_ERR_IO;
	}
	w->started = true;
	return 0;
}

void hal__worker_request_stop(struct hal__worker *w)
{
	if (!w->started || atomic_exchange(&w->stopping, true))
		return;
	while (write(w->stop_wr, "x", 1) < 0 && errno == EINTR)
		;
}

void hal__worker_stop(struct hal__worker *w)
{
	if (!w->started)
		return;
	hal__worker_request_stop(w);
	pthread_join(w->thread, NULL);
	close(w->stop_rd);
	close(w->stop_wr);
	w->stop_rd = w->stop_wr = -1;
	w->started = false;
}

bool hal__worker_stopping(const struct hal__worker *w)
{
	return atomic_load(&w->stopping);
}

int hal__worker_wait(struct hal__worker *w, int fd, short events, int ms, short *revents)
{
	struct pollfd p[2] = {{.fd = w->stop_rd, .events = POLLIN}, {.fd = fd, .events = events}};
	int r;

	if (revents)
		*revents = 0;
	if (atomic_load(&w->stopping))
		return HAL__WORKER_STOP;
	do {
		r = poll(p, fd >= 0 ? 2 : 1, ms);
	} while (r < 0 && errno == EINTR);
	if (atomic_load(&w->stopping) || (p[0].revents & POLLIN))
		return HAL__WORKER_STOP;
	if (r <= 0)
		return 0;
	if (revents)
		*revents = p[1].revents;
	return fd >= 0 && p[1].revents ? 1 : 0;
}

void hal__backoff_init(struct hal__backoff *b, int min_ms, int max_ms)
{
	b->min_ms = min_ms > 0 ? min_ms : 1;
	b->max_ms = max_ms >= b->min_ms ? max_ms : b->min_ms;
	b->cur_ms = b->min_ms;
}

int hal__backoff_next(struct hal__backoff *b)
{
	int d = b->cur_ms;
	b->cur_ms = b->cur_ms > b->max_ms / 2 ? b->max_ms : b->cur_ms * 2;
	return d;
}

void hal__backoff_reset(struct hal__backoff *b)
{
	b->cur_ms = b->min_ms;
}

void hal__link_init(struct hal__link *l, const char *comp, const char *backend, const char *device)
{
	memset(l, 0, sizeof *l);
	l->comp = comp;
	l->backend = backend;
	rg_log_quote(l->device, sizeof l->device, device && *device ? device : "default");
	atomic_store(&l->connected, 0);
}

void hal__link_up(struct hal__link *l)
{
	if (l->up)
		return;
	if (l->ever_up)
		rg_info(l->comp, "device_recovered", "backend=%s device=%s failed_attempts=%u",
			l->backend, l->device, l->attempts);
	else
		rg_info(l->comp, "device_open", "backend=%s device=%s failed_attempts=%u",
			l->backend, l->device, l->attempts);
	l->up = true;
	l->ever_up = true;
	l->down_logged = false;
	l->attempts = 0;
	atomic_store(&l->connected, 1);
}

void hal__link_down(struct hal__link *l, const char *what, int err)
{
	char w[96];
	atomic_store(&l->connected, 0);
	if (!l->up)
		l->attempts++;
	if (!l->down_logged) {
		rg_warn(l->comp, l->ever_up ? "device_lost" : "device_unavailable",
			"backend=%s device=%s during=%s error=%s retrying=backoff", l->backend,
			l->device, rg_log_quote(w, sizeof w, what), rg_errname(err));
		l->down_logged = true;
	}
	l->up = false;
}
