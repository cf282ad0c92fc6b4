/*
 * tmpdir.h - a throw-away directory per test, under $TMPDIR (or /tmp), and
 * its recursive removal. Header-only so each test file stays one binary.
 */
#ifndef PKI_TESTS_TMPDIR_H
#define PKI_TESTS_TMPDIR_H

#define _XOPEN_SOURCE 700
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static inline int tmpdir_rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* Creates a fresh directory; returns 0 and fills buf, or -1. */
static inline int tmpdir_make(char *buf, size_t cap, const char *tag)
{
	const char *base = getenv("TMPDIR");
	if (!base || !*base)
		base = "/tmp";
	if (snprintf(buf, cap, "%s/rg-%s-XXXXXX", base, tag) >= (int)cap)
		return -1;
	return mkdtemp(buf) ? 0 : -1;
}

static inline void tmpdir_remove(const char *dir)
{
	nftw(dir, tmpdir_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

#endif
