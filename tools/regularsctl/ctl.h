/*
 * ctl.h - regularsctl's subcommand table. Each subcommand lives in its own
 * file (ctl_<name>.c) and exposes one entry point with main()'s contract:
 * argv[0] is the subcommand name; it returns the process exit status
 * (0 ok, 1 failure, 2 usage error) and prints its own --help.
 */
#ifndef REGULARSCTL_CTL_H
#define REGULARSCTL_CTL_H

struct ctl_cmd {
	const char *name;
	const char *summary;
	int (*run)(int argc, char **argv);
};

/* Prints "regularsctl NAME: msg" to stderr and returns 2 (usage error). */
int ctl_usage_error(const char *name, const char *msg);

/* The usage error for getopt_long's result c (':' a missing value, else an
 * unknown option), for an optstring that starts with ':'. Returns 2. */
int ctl_bad_option(const char *name, char **argv, int c);
/* 2 with a usage error if argv[optind..] is not empty, else 0. */
int ctl_no_more_args(const char *name, int argc, char **argv);
/* Parse arg as an integer in lo..hi into *out; 2 with a usage error naming
 * opt otherwise, else 0. */
int ctl_number(const char *name, const char *opt, const char *arg, long long lo, long long hi,
	       long long *out);
/* Prints "regularsctl WHAT: message[: rg_strerror(code) when code < 0]" to
 * stderr and returns 1 (a failure). */
int ctl_fail(const char *what, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
