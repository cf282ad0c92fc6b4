/*
 * wake.h - how a daemon's main loop is woken: signal handlers and other
 * threads post a flag (stop, reload) or just "there is work", which writes one
 * byte to a pipe the loop polls. One per process: the daemons have one main
 * loop each. Posting is async-signal-safe.
 */
#ifndef COMMON_WAKE_H
#define COMMON_WAKE_H

#include <stdbool.h>

#define RG_WAKE_WORK 0u   /* just wake the loop */
#define RG_WAKE_STOP 1u   /* SIGTERM / SIGINT: stop cleanly */
#define RG_WAKE_RELOAD 2u /* SIGHUP: re-read the configuration */

/* Make the pipe (non-blocking, close-on-exec). Flags posted before (a signal
 * during start-up) are kept. 0 or RG_ERR_IO. */
int rg_wake_open(void);
void rg_wake_close(void);
/* The read end, for poll(POLLIN). */
int rg_wake_fd(void);
/* Set flags (RG_WAKE_*) and wake the loop. Async-signal-safe. */
void rg_wake_post(unsigned flags);
/* Drain the pipe; return the flags posted since the last take and clear
 * RG_WAKE_RELOAD (RG_WAKE_STOP stays set: see rg_wake_stopping). */
unsigned rg_wake_take(void);
bool rg_wake_stopping(void);
/* Install handlers: SIGTERM and SIGINT post RG_WAKE_STOP, SIGHUP
 * RG_WAKE_RELOAD; SIGPIPE is ignored. 0 or RG_ERR_IO. */
int rg_wake_signals(void);

#endif
