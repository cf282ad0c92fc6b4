/*
 * wake.c - see common/wake.h.
 */
#include "common/wake.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include "common/err.h"

static volatile sig_atomic_t stop_flag, reload_flag;
static int fds[2] = {-1, -1};

int rg_wake_open(void)
{
	rg_wake_close();
	if (pipe(fds) < 0)
		return RG_ERR_IO;
	for (int i = 0; i < 2; i++)
		if (fcntl(fds[i], F_SETFL, O_NONBLOCK) < 0 || fcntl(fds[i], F_SETFD, FD_CLOEXEC) < 0) {
			rg_wake_close();
			return RG_ERR_IO;
		}
	return 0;
}

void rg_wake_close(void)
{
	for (int i = 0; i < 2; i++)
		if (fds[i] >= 0) {
			close(fds[i]);
			fds[i] = -1;
		}
}

int rg_wake_fd(void)
{
	return fds[0];
}

void rg_wake_post(unsigned flags)
{
	int saved = errno;
	if (flags & RG_WAKE_STOP)
		stop_flag = 1;
	if (flags & RG_WAKE_RELOAD)
		reload_flag = 1;
	if (fds[1] >= 0) {
		/* a full pipe already holds a wakeup: nothing is lost */
		ssize_t r = write(fds[1], "x", 1);
		(void)r;
	}
	errno = saved;
}

unsigned rg_wake_take(void)
{
	char buf[64];
	unsigned flags = 0;
	if (fds[0] >= 0)
		while (read(fds[0], buf, sizeof buf) > 0)
			;
	if (reload_flag) {
		reload_flag = 0;
		flags |= RG_WAKE_RELOAD;
	}
	if (stop_flag)
		flags |= RG_WAKE_STOP;
	return flags;
}

bool rg_wake_stopping(void)
{
	return stop_flag != 0;
}

static void on_signal(int sig)
{
	rg_wake_post(sig == SIGHUP ? RG_WAKE_RELOAD : RG_WAKE_STOP);
}

int rg_wake_signals(void)
{
	struct sigaction sa = {.sa_handler = on_signal};
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGTERM, &sa, NULL) < 0 || sigaction(SIGINT, &sa, NULL) < 0 ||
	    sigaction(SIGHUP, &sa, NULL) < 0)
		return RG_ERR_IO;
	signal(SIGPIPE, SIG_IGN);
	return 0;
}
