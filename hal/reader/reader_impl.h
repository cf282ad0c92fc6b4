/*
 * reader_impl.h - what a reader backend implements and may touch (private to
 * hal/). A backend is a const struct hal_reader_ops in its own file, listed
 * in the registry in reader.c. Ops tables carry a version and only ever grow:
 * new ops go at the end and wrappers check `version` before calling them.
 */
#ifndef HAL_READER_IMPL_H
#define HAL_READER_IMPL_H

#include <pthread.h>
#include <stdint.h>

#include "hal/reader.h"

#include "../core/opts.h"

#define HAL_READER_OPS_VERSION 1

struct hal_reader;

struct hal_reader_ops {
	int version; /* HAL_READER_OPS_VERSION the table was written for */
	const char *name;
	unsigned caps;		    /* HAL_READER_CAP_* */
	const char *const *options; /* accepted option keys, NULL-terminated */
	/* Required. Parse opts, open the device (or arrange to retry), start
	 * producing reads with hal__reader_push(). Sets r->priv. On failure
	 * leaves nothing running and nothing allocated. */
	int (*open)(struct hal_reader *r, const struct hal__opts *opts);
	/* Required. Stop producing reads (join threads) and free r->priv. */
	void (*close)(struct hal_reader *r);
	/* Optional: 1 device working, 0 retrying. */
	int (*connected)(const struct hal_reader *r);
};

/* Pending reads: a bounded FIFO with an eventfd that is readable while the
 * FIFO is not empty. Thread-safe. */
#define HAL__QUEUE_CAP 32
struct hal__queue {
	pthread_mutex_t mu;
	int efd;
	size_t head, count;
	struct hal_read *items; /* HAL__QUEUE_CAP of them */
	uint64_t reads, dropped;
};

int hal__queue_init(struct hal__queue *q);
void hal__queue_free(struct hal__queue *q);
/* 0, or RG_ERR_AGAIN when full (the read is dropped and counted). */
int hal__queue_push(struct hal__queue *q, const struct hal_read *rd);
/* 1 with *out filled, or 0 when empty. */
int hal__queue_pop(struct hal__queue *q, struct hal_read *out);

struct hal_reader {
	const struct hal_reader_ops *ops;
	void *priv;
	const struct rg_clock *clock;
	struct hal__queue queue;
};

/* For backends: stamp rd->time_ms from the reader's clock and queue it.
 * Thread-safe. Returns 0 or RG_ERR_AGAIN (queue full, read dropped). */
int hal__reader_push(struct hal_reader *r, struct hal_read *rd);

extern const struct hal_reader_ops hal__reader_sim_ops;
extern const struct hal_reader_ops hal__reader_serial_ops;
extern const struct hal_reader_ops hal__reader_evdev_ops;
extern const struct hal_reader_ops hal__reader_libnfc_ops;

#endif
