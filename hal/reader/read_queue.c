/*
 * read_queue.c - the bounded FIFO between a reader backend's thread and the
 * daemon's poll loop. The eventfd mirrors "not empty", so the daemon can
 * poll() it level-triggered. When full, new reads are dropped (and counted):
 * a daemon that stopped consuming must not make the backend block.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "common/err.h"

#include "reader_impl.h"

int hal__queue_init(struct hal__queue *q)
{
	memset(q, 0, sizeof *q);
	q->items = calloc(HAL__QUEUE_CAP, sizeof *q->items);
	if (!q->items)
		return RG_ERR_NOMEM;
	q->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (q->efd < 0) {
		free(q->items);
		q->items = NULL;
		return RG_ERR_IO;
	}
	if (pthread_mutex_init(&q->mu, NULL) != 0) {
		close(q->efd);
		free(q->items);
		q->items = NULL;
		return RG_ERR_NOMEM;
	}
	return 0;
}

void hal__queue_free(struct hal__queue *q)
{
	if (!q->items)
		return;
	pthread_mutex_destroy(&q->mu);
	close(q->efd);
	free(q->items);
	q->items = NULL;
}

int hal__queue_push(struct hal__queue *q, const struct hal_read *rd)
{
	int rc = 0;

	pthread_mutex_lock(&q->mu);
	if (q->count == HAL__QUEUE_CAP) {
		q->dropped++;
		rc = RG_ERR_AGAIN;
	} else {
		q->items[(q->head + q->count) % HAL__QUEUE_CAP] = *rd;
		q->count++;
		q->reads++;
		if (q->count == 1) {
			uint64_t one = 1;
			while (write(q->efd, &one, sizeof one) < 0 && errno == EINTR)
				;
		}
	}
	pthread_mutex_unlock(&q->mu);
	return rc;
}

int hal__queue_pop(struct hal__queue *q, struct hal_read *out)
{
	int got = 0;

	pthread_mutex_lock(&q->mu);
	if (q->count) {
		*out = q->items[q->head];
		q->head = (q->head + 1) % HAL__QUEUE_CAP;
		q->count--;
		got = 1;
		if (q->count == 0) {
			uint64_t v;
			while (read(q->efd, &v, sizeof v) < 0 && errno == EINTR)
				;
		}
	}
	pthread_mutex_unlock(&q->mu);
	return got;
}
