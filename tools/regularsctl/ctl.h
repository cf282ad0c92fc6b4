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

#endif
