/*
 * clock.c - the real clock and the manual test clock behind common/clock.h.
 */
#include "common/clock.h"

#include <stdio.h>
#include <time.h>

static int64_t sys_wall_ms(void *priv)
{
	struct timespec ts;
	(void)priv;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t sys_mono_ns(void *priv)
{
	struct timespec ts;
	(void)priv;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static const struct rg_clock_ops sys_ops = {1, sys_wall_ms, sys_mono_ns};
static const struct rg_clock sys_clock = {&sys_ops, NULL};

const struct rg_clock *rg_clock_system(void)
{
	return &sys_clock;
}

static int64_t manual_wall_ms(void *priv)
{
	return ((struct rg_clock_manual *)priv)->wall_ms;
}

static int64_t manual_mono_ns(void *priv)
{
	return ((struct rg_clock_manual *)priv)->mono_ns;
}

static const struct rg_clock_ops manual_ops = {1, manual_wall_ms, manual_mono_ns};

void rg_clock_manual_init(struct rg_clock_manual *m, int64_t wall_ms)
{
	m->clock.ops = &manual_ops;
	m->clock.priv = m;
	m->wall_ms = wall_ms;
	m->mono_ns = 1000000000;
}

void rg_clock_manual_advance(struct rg_clock_manual *m, int64_t ms)
{
	m->wall_ms += ms;
	if (ms > 0)
		m->mono_ns += ms * 1000000;
}

void rg_clock_manual_set_wall(struct rg_clock_manual *m, int64_t wall_ms)
{
	m->wall_ms = wall_ms;
}

void rg_deadline_ms(struct timespec *out, int64_t ms)
{
	clock_gettime(CLOCK_MONOTONIC, out);
	out->tv_sec += (time_t)(ms / 1000);
	out->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (out->tv_nsec >= 1000000000L) {
		out->tv_sec++;
		out->tv_nsec -= 1000000000L;
	}
}

char *rg_time_format(int64_t wall_ms, char buf[25])
{
	struct tm tm;
	time_t s = (time_t)(wall_ms / 1000);
	int ms = (int)(wall_ms % 1000);
	if (ms < 0) {
		ms += 1000;
		s -= 1;
	}
	gmtime_r(&s, &tm);
	/* Each field is range-limited so the text always fits 24 chars. */
	snprintf(buf, 25, "%04u-%02u-%02uT%02u:%02u:%02u.%03uZ",
		 (unsigned)(tm.tm_year + 1900) % 10000u, (unsigned)(tm.tm_mon + 1) % 100u,
		 (unsigned)tm.tm_mday % 100u, (unsigned)tm.tm_hour % 100u, (unsigned)tm.tm_min % 100u,
		 (unsigned)tm.tm_sec % 100u, (unsigned)ms % 1000u);
	return buf;
}
