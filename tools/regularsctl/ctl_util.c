/*
 * ctl_util.c - what every regularsctl subcommand shares: option and number
 * parsing errors in one wording, and failure messages.
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/err.h"
#include "ctl.h"

int ctl_bad_option(const char *name, char **argv, int c)
{
	char msg[160];
	if (c == ':')
		snprintf(msg, sizeof msg, "%.60s needs a value", argv[optind - 1]);
	else
		snprintf(msg, sizeof msg, "unknown option %.60s", argv[optind - 1]);
	return ctl_usage_error(name, msg);
}

int ctl_no_more_args(const char *name, int argc, char **argv)
{
	char msg[160];
	if (optind >= argc)
		return 0;
	snprintf(msg, sizeof msg, "unexpected argument %.60s", argv[optind]);
	return ctl_usage_error(name, msg);
}

int ctl_number(const char *name, const char *opt, const char *arg, long long lo, long long hi,
	       long long *out)
{
	char *end, msg[160];
	errno = 0;
	*out = strtoll(arg, &end, 10);
	if (errno || end == arg || *end || *out < lo || *out > hi) {
		snprintf(msg, sizeof msg, "%s %.40s is not a number in %lld..%lld", opt, arg, lo,
			 hi);
		return ctl_usage_error(name, msg);
	}
	return 0;
}

int ctl_fail(const char *what, int code, const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "regularsctl %s: ", what);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	if (code < 0)
		fprintf(stderr, ": %s", rg_strerror(code));
	fputc('\n', stderr);
	return 1;
}
