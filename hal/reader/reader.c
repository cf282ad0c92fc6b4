/*
 * reader.c - the reader registry and the wrappers every caller goes through:
 * backend lookup by name, option parsing, the read queue, optional-op checks
 * (RG_ERR_NOSYS) and the one place reads are traced. Backends live in
 * reader_<name>.c and never see callers directly.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "common/err.h"
#include "common/log.h"

#include "reader_impl.h"

static const struct hal_reader_ops *const registry[] = {
    &hal__reader_sim_ops,
    &hal__reader_serial_ops,
    &hal__reader_evdev_ops,
    &hal__reader_libnfc_ops,
};
#define N_BACKENDS (sizeof registry / sizeof registry[0])

const char *hal_reader_backend_name(size_t i)
{
	return i < N_BACKENDS ? registry[i]->name : NULL;
}

int hal_reader_open(const char *backend, const char *options, const struct rg_clock *clock,
		    struct hal_reader **out)
{
	const struct hal_reader_ops *ops = NULL;
	struct hal__opts *opts;
	struct hal_reader *r;
	char b[64];
	int rc;

	if (!out)
		return RG_ERR_INVAL;
	*out = NULL;
	if (!backend)
		return RG_ERR_INVAL;
	for (size_t i = 0; i < N_BACKENDS; i++)
		if (!strcmp(registry[i]->name, backend))
			ops = registry[i];
	if (!ops) {
		rg_error("reader", "config_invalid", "backend=%s error=\"no such reader backend\"",
			 rg_log_quote(b, sizeof b, backend));
		return RG_ERR_NOTFOUND;
	}
	opts = malloc(sizeof *opts);
	r = calloc(1, sizeof *r);
	if (!opts || !r) {
		free(opts);
		free(r);
		return RG_ERR_NOMEM;
	}
	rc = hal__opts_parse(opts, "reader", ops->name, options, ops->options);
	if (!rc)
		rc = hal__queue_init(&r->queue);
	if (rc) {
		free(opts);
		free(r);
		return rc;
	}
	r->ops = ops;
	r->clock = clock ? clock : rg_clock_system();
	rc = ops->open(r, opts);
	free(opts);
	if (rc) {
		rg_error("reader", "open_failed", "backend=%s error=%s", ops->name, rg_errname(rc));
		hal__queue_free(&r->queue);
		free(r);
		return rc;
	}
	rg_debug("reader", "opened", "backend=%s", ops->name);
	*out = r;
	return 0;
}

void hal_reader_close(struct hal_reader *r)
{
	if (!r)
		return;
	r->ops->close(r);
	rg_debug("reader", "closed", "backend=%s reads=%llu dropped=%llu", r->ops->name,
		 (unsigned long long)r->queue.reads, (unsigned long long)r->queue.dropped);
	hal__queue_free(&r->queue);
	free(r);
}

int hal__reader_push(struct hal_reader *r, struct hal_read *rd)
{
	int rc;

	rd->time_ms = rg_clock_wall_ms(r->clock);
	if (rd->payload_len > HAL_READ_PAYLOAD_MAX || rd->uid_len > HAL_READ_UID_MAX)
		return RG_ERR_TOOBIG;
	rd->payload[rd->payload_len] = '\0';
	rc = hal__queue_push(&r->queue, rd);
	/* UIDs and payloads are identifiers: never logged, only their shape. */
	if (rc)
		rg_warn("reader", "read_dropped", "backend=%s kind=%s reason=queue_full",
			r->ops->name, hal_read_kind_name(rd->kind));
	else
		rg_debug("reader", "read", "backend=%s kind=%s tech=%s uid_len=%zu payload_len=%zu",
			 r->ops->name, hal_read_kind_name(rd->kind), hal_read_tech_name(rd->tech),
			 rd->uid_len, rd->payload_len);
	return rc;
}

int hal_reader_fd(const struct hal_reader *r)
{
	return r ? r->queue.efd : RG_ERR_INVAL;
}

int hal_reader_poll(struct hal_reader *r, struct hal_read *out)
{
	if (!r || !out)
		return RG_ERR_INVAL;
	return hal__queue_pop(&r->queue, out);
}

int hal_reader_wait(struct hal_reader *r, struct hal_read *out, int timeout_ms)
{
	struct pollfd p;
	int got;

	if (!r || !out)
		return RG_ERR_INVAL;
	p.fd = r->queue.efd;
	p.events = POLLIN;
	for (;;) {
		int n;
		got = hal__queue_pop(&r->queue, out);
		if (got)
			return got;
		n = poll(&p, 1, timeout_ms);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return RG_ERR_IO;
		if (n == 0)
			return hal__queue_pop(&r->queue, out);
	}
}

int hal_reader_connected(const struct hal_reader *r)
{
	if (!r)
		return RG_ERR_INVAL;
	if (r->ops->version < 1 || !r->ops->connected)
		return RG_ERR_NOSYS;
	return r->ops->connected(r);
}

int hal_reader_stats(const struct hal_reader *r, struct hal_reader_stats *out)
{
	struct hal__queue *q;

	if (!r || !out)
		return RG_ERR_INVAL;
	q = (struct hal__queue *)&r->queue;
	pthread_mutex_lock(&q->mu);
	out->reads = q->reads;
	out->dropped = q->dropped;
	pthread_mutex_unlock(&q->mu);
	return 0;
}

const char *hal_reader_backend(const struct hal_reader *r)
{
	return r ? r->ops->name : "";
}

unsigned hal_reader_caps(const struct hal_reader *r)
{
	return r ? r->ops->caps : 0;
}

const char *hal_read_kind_name(enum hal_read_kind k)
{
	switch (k) {
	case HAL_READ_NFC_UID:
		return "nfc_uid";
	case HAL_READ_NDEF:
		return "ndef";
	case HAL_READ_BARCODE:
		return "barcode";
	case HAL_READ_QR:
		return "qr";
	case HAL_READ_MAGSTRIPE:
		return "magstripe";
	}
	return "?";
}

const char *hal_read_tech_name(enum hal_read_tech t)
{
	switch (t) {
	case HAL_TECH_NONE:
		return "none";
	case HAL_TECH_ISO14443A:
		return "iso14443a";
	case HAL_TECH_ISO14443B:
		return "iso14443b";
	case HAL_TECH_FELICA:
		return "felica";
	}
	return "?";
}

int hal_reader_sim_default_path(char *buf, size_t cap)
{
	const char *x = getenv("XDG_RUNTIME_DIR");
	struct sockaddr_un sa;
	int n;

	if (!buf)
		return RG_ERR_INVAL;
	if (x && x[0] == '/')
		n = snprintf(buf, cap, "%s/regulars/reader.sock", x);
	else
		n = snprintf(buf, cap, "/run/regulars/reader.sock");
	if (n < 0 || (size_t)n >= cap || (size_t)n >= sizeof sa.sun_path) {
		if (cap)
			buf[0] = '\0';
		return RG_ERR_TOOBIG;
	}
	return n;
}
