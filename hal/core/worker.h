/*
 * worker.h - what every HAL backend with a device thread shares: a thread
 * with a stop pipe (so a blocked poll() wakes up on close), exponential
 * backoff for reopening a lost device, and the "log the loss once and the
 * recovery once" link state. Only the owning backend touches these.
 */
#ifndef HAL_CORE_WORKER_H
#define HAL_CORE_WORKER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

struct hal__worker {
	pthread_t thread;
	int stop_rd, stop_wr;
	atomic_bool stopping;
	bool started;
};

/* Create the stop pipe and start fn(arg) on a new thread. */
int hal__worker_start(struct hal__worker *w, void *(*fn)(void *), void *arg);
/* Ask the thread to stop and wake it, without waiting (idempotent). */
void hal__worker_request_stop(struct hal__worker *w);
/* Ask the thread to stop, wake it, join it and release the pipe. Safe to call
 * on a worker that never started. */
void hal__worker_stop(struct hal__worker *w);
bool hal__worker_stopping(const struct hal__worker *w);

/* Wait up to ms (-1 forever) for fd (-1: none) to become ready for events.
 * Returns 1 if fd is ready (revents in *revents), 0 on timeout,
 * HAL__WORKER_STOP when asked to stop. */
#define HAL__WORKER_STOP 2
int hal__worker_wait(struct hal__worker *w, int fd, short events, int ms, short *revents);

/* Exponential backoff: next() returns the delay to wait now and doubles it
 * for the time after, up to max_ms; reset() after a success. */
struct hal__backoff {
	int min_ms, max_ms, cur_ms;
};
void hal__backoff_init(struct hal__backoff *b, int min_ms, int max_ms);
int hal__backoff_next(struct hal__backoff *b);
void hal__backoff_reset(struct hal__backoff *b);

/* Device link state for logging: device_open / device_unavailable /
 * device_lost / device_recovered, each once per transition. */
struct hal__link {
	const char *comp;
	const char *backend;
	char device[160]; /* already quoted for the log */
	bool ever_up;
	bool up;
	bool down_logged;
	unsigned attempts;    /* failed opens since the link went down */
	atomic_int connected; /* what hal_reader_connected reports */
};
void hal__link_init(struct hal__link *l, const char *comp, const char *backend, const char *device);
void hal__link_up(struct hal__link *l);
/* The device failed or could not be opened; err is a negative rg_err. */
void hal__link_down(struct hal__link *l, const char *what, int err);

#endif
