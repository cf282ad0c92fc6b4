/*
 * indicator_sim.c - the simulated LED/buzzer: records the last N signals in
 * memory (hal_indicator_events) and, with file=, appends one line per signal
 * ("<RFC 3339 time> <pattern>") so a person watching the demo sees them.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/err.h"
#include "common/log.h"

#include "indicator_impl.h"

struct isim {
	struct hal_indicator_event *ring;
	size_t cap, count, next;
	uint64_t seq;
	int fd; /* -1 without file= */
};

static const char *const isim_options[] = {"events", "file", NULL};

static int isim_open(struct hal_indicator *ind, const struct hal__opts *o)
{
	const char *file = hal__opts_str(o, "file", "");
	struct isim *s;
	long events;
	int rc;

	if ((rc = hal__opts_int(o, "events", 1, 1024, 32, &events)))
		return rc;
	s = calloc(1, sizeof *s);
	if (!s)
		return RG_ERR_NOMEM;
	s->ring = calloc((size_t)events, sizeof *s->ring);
	if (!s->ring) {
		free(s);
		return RG_ERR_NOMEM;
	}
	s->cap = (size_t)events;
	s->fd = -1;
	if (*file) {
		s->fd = open(file, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
		if (s->fd < 0) {
			char q[160];
			rg_error("indicator", "open_failed", "backend=sim file=%s errno=%d",
				 rg_log_quote(q, sizeof q, file), errno);
			free(s->ring);
			free(s);
			return RG_ERR_IO;
		}
	}
	ind->priv = s;
	return 0;
}

static void isim_close(struct hal_indicator *ind)
{
	struct isim *s = ind->priv;
	if (!s)
		return;
	if (s->fd >= 0)
		close(s->fd);
	free(s->ring);
	free(s);
	ind->priv = NULL;
}

static int isim_signal(struct hal_indicator *ind, enum hal_pattern p)
{
	struct isim *s = ind->priv;
	struct hal_indicator_event *e = &s->ring[s->next];

	e->seq = ++s->seq;
	e->time_ms = rg_clock_wall_ms(ind->clock);
	e->pattern = p;
	s->next = (s->next + 1) % s->cap;
	if (s->count < s->cap)
		s->count++;
	if (s->fd >= 0) {
		char line[64], ts[25];
		int n = snprintf(line, sizeof line, "%s %s\n", rg_time_format(e->time_ms, ts),
				 hal_pattern_name(p));
		if (n < 0 || write(s->fd, line, (size_t)n) != n)
			return RG_ERR_IO;
	}
	return 0;
}

static int isim_events(struct hal_indicator *ind, struct hal_indicator_event *out, size_t cap)
{
	struct isim *s = ind->priv;
	size_t n = s->count < cap ? s->count : cap;
	/* the newest n, oldest first */
	for (size_t i = 0; i < n; i++)
		out[i] = s->ring[(s->next + s->cap - n + i) % s->cap];
	return (int)n;
}

const struct hal_indicator_ops hal__indicator_sim_ops = {
    .version = HAL_INDICATOR_OPS_VERSION,
    .name = "sim",
    .caps = HAL_INDICATOR_CAP_RECORD,
    .options = isim_options,
    .open = isim_open,
    .close = isim_close,
    .signal = isim_signal,
    .events = isim_events,
};
