/*
 * clock.h - the time seam. Everything that reads the time takes a
 * `const struct rg_clock *`, so tests can step wall time backwards, freeze it
 * or jump it without sleeping. rg_clock_system() is the real one.
 */
#ifndef COMMON_CLOCK_H
#define COMMON_CLOCK_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct rg_clock_ops {
	int version; /* 1 */
	/* Wall-clock time in milliseconds since the Unix epoch. May jump. */
	int64_t (*wall_ms)(void *priv);
	/* Monotonic time in nanoseconds from an arbitrary origin. Never jumps back. */
	int64_t (*mono_ns)(void *priv);
};

struct rg_clock {
	const struct rg_clock_ops *ops;
	void *priv;
};

/* The process's real clock (CLOCK_REALTIME / CLOCK_MONOTONIC). Never NULL. */
const struct rg_clock *rg_clock_system(void);

static inline int64_t rg_clock_wall_ms(const struct rg_clock *c)
{
	return c->ops->wall_ms(c->priv);
}

static inline int64_t rg_clock_mono_ns(const struct rg_clock *c)
{
	return c->ops->mono_ns(c->priv);
}

struct timespec;
/* The CLOCK_MONOTONIC time ms from now, for pthread_cond_timedwait on a
 * condition variable whose clock is CLOCK_MONOTONIC. */
void rg_deadline_ms(struct timespec *out, int64_t ms);

/* A manual clock for tests: time moves only when told. */
struct rg_clock_manual {
	struct rg_clock clock; /* pass &m.clock to code under test */
	int64_t wall_ms;
	int64_t mono_ns;
};

void rg_clock_manual_init(struct rg_clock_manual *m, int64_t wall_ms);
/* Advance both clocks by ms (monotonic too). */
void rg_clock_manual_advance(struct rg_clock_manual *m, int64_t ms);
/* Set the wall clock only (may go backwards); monotonic is untouched. */
void rg_clock_manual_set_wall(struct rg_clock_manual *m, int64_t wall_ms);

/* Format wall ms as RFC 3339 UTC with milliseconds ("2026-11-23T07:01:30.123Z").
 * buf must hold 25 bytes. Returns buf. */
char *rg_time_format(int64_t wall_ms, char buf[25]);

#ifdef __cplusplus
}
#endif

#endif
