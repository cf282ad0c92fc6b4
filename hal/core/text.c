/*
 * text.c - scanned-text validation and atomic file replacement for the HAL.
 * hal__file_replace writes a temporary file beside the target, so the target's
 * directory must be writable; it never follows a symlink at the temp name.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/err.h"
#include "common/json.h"

#include "text.h"

int hal__text_check(const void *s, size_t n)
{
	const uint8_t *p = s;
	for (size_t i = 0; i < n; i++)
		if ((p[i] < 0x20 && p[i] != 0x1D) || p[i] == 0x7F)
			return RG_ERR_PARSE;
	return rg_utf8_valid(s, n) ? 0 : RG_ERR_PARSE;
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return RG_ERR_IO;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

int hal__file_replace(const char *path, const void *data, size_t len, mode_t mode)
{
	char tmp[4096], dirbuf[4096];
	int fd, dfd, rc;
	size_t pl = strlen(path);

	if (pl == 0 || pl + 16 > sizeof tmp)
		return RG_ERR_TOOBIG;
	snprintf(tmp, sizeof tmp, "%s.tmp.XXXXXX", path);
	fd = mkstemp(tmp); /* O_EXCL, 0600 */
	if (fd < 0)
		return errno == EACCES ? RG_ERR_PERM : RG_ERR_IO;
	rc = fchmod(fd, mode) < 0 ? RG_ERR_IO : 0;
	if (!rc)
		rc = write_all(fd, data, len);
	if (!rc && fsync(fd) < 0)
		rc = RG_ERR_IO;
	if (close(fd) < 0 && !rc)
		rc = RG_ERR_IO;
	if (!rc && rename(tmp, path) < 0)
		rc = errno == EACCES ? RG_ERR_PERM : RG_ERR_IO;
	if (rc) {
		unlink(tmp);
		return rc;
	}
	memcpy(dirbuf, path, pl + 1);
	dfd = open(dirname(dirbuf), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		if (fsync(dfd) < 0)
			rc = RG_ERR_IO;
		close(dfd);
	}
	return rc;
}
