/*
 * hal_test_util.h - helpers the HAL tests share: a private temp directory
 * (under $TMPDIR or /tmp, removed at the end), a line client for the sim
 * reader socket, and log capture. Header-only; tests include it once.
 */
#ifndef HAL_TEST_UTIL_H
#define HAL_TEST_UTIL_H

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static inline void tu_tmpdir(char *buf, size_t cap)
{
	const char *t = getenv("TMPDIR");
	int n = snprintf(buf, cap, "%s/rg-hal-XXXXXX", t && *t ? t : "/tmp");
	if (n < 0 || (size_t)n >= cap || !mkdtemp(buf)) {
		fprintf(stderr, "cannot make a temp dir\n");
		abort();
	}
}

static inline void tu_rmtree(const char *dir)
{
	char cmd[600];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cleanup of %s failed\n", dir);
}

static inline int tu_connect(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	size_t n = strlen(path);
	int fd;
	if (n >= sizeof sa.sun_path)
		return -1;
	memcpy(sa.sun_path, path, n + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Read one reply line (without '\n') within timeout_ms. Returns its length
 * or -1. Reads byte by byte so nothing past the line is consumed. */
static inline int tu_read_line(int fd, char *buf, size_t cap, int timeout_ms)
{
	size_t n = 0;
	while (n + 1 < cap) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		char c;
		if (poll(&p, 1, timeout_ms) <= 0)
			return -1;
		if (read(fd, &c, 1) != 1)
			return -1;
		if (c == '\n') {
			buf[n] = '\0';
			return (int)n;
		}
		buf[n++] = c;
	}
	return -1;
}

static inline int tu_send(int fd, const char *s, size_t n)
{
	while (n) {
		ssize_t w = send(fd, s, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		s += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Send a line and return the reply in buf ("ok", "err ..."). */
static inline const char *tu_tap(int fd, const char *line, char *buf, size_t cap)
{
	char out[8192];
	int n = snprintf(out, sizeof out, "%s\n", line);
	if (n < 0 || (size_t)n >= sizeof out || tu_send(fd, out, (size_t)n) < 0 ||
	    tu_read_line(fd, buf, cap, 5000) < 0)
		snprintf(buf, cap, "(no reply)");
	return buf;
}

/* Everything written to a log capture FILE so far, NUL-terminated; free(). */
static inline char *tu_slurp(FILE *f)
{
	long n;
	char *s;
	fflush(f);
	n = ftell(f);
	s = calloc(1, (size_t)(n > 0 ? n : 0) + 1);
	if (!s)
		abort();
	rewind(f);
	if (n > 0 && fread(s, 1, (size_t)n, f) != (size_t)n)
		abort();
	fseek(f, 0, SEEK_END);
	return s;
}

static inline size_t tu_count(const char *hay, const char *needle)
{
	size_t n = 0;
	for (const char *p = hay; (p = strstr(p, needle)); p++)
		n++;
	return n;
}

static inline void *tu_nop(void *a)
{
	return a;
}

static inline void tu_no_threads(int sig)
{
	static const char m[] = "threads do not start in this environment (seen with "
				"qemu-user 7.2 on new kernels): test skipped\n";
	(void)sig;
	if (write(2, m, sizeof m - 1) < 0)
		_exit(77);
	_exit(77);
}

/* Backends run threads. Where the platform cannot start one at all (some
 * qemu-user builds hang in pthread_create), exit 77, which ctest reports as
 * skipped, rather than hang until the timeout. Only this probe is guarded. */
static inline void tu_require_threads(void)
{
	pthread_t t;
	signal(SIGALRM, tu_no_threads);
	alarm(3);
	if (pthread_create(&t, NULL, tu_nop, NULL) != 0)
		tu_no_threads(0);
	pthread_join(t, NULL);
	alarm(0);
	signal(SIGALRM, SIG_DFL);
}

#endif
