/*
 * file.c - the file handling of rg_pki: capped reads, mkdir -p, and staged
 * writes (temporary file, fsync, then link() so an existing file is never
 * replaced, or rename() when the caller asked to replace). Private keys only
 * ever reach their final name complete and with their final mode.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/err.h"
#include "pki_internal.h"

static int errno_code(int e)
{
	switch (e) {
	case ENOENT:
		return RG_ERR_NOTFOUND;
	case EACCES:
	case EPERM:
		return RG_ERR_PERM;
	case EEXIST:
		return RG_ERR_EXISTS;
	case ENAMETOOLONG:
		return RG_ERR_TOOBIG;
	default:
		return RG_ERR_IO;
	}
}

int pki__path(char *buf, size_t cap, const char *dir, const char *name, const char *ext)
{
	int n = snprintf(buf, cap, "%s/%s%s", dir, name, ext ? ext : "");
	if (n < 0 || (size_t)n >= cap)
		return RG_ERR_TOOBIG;
	return n;
}

int pki__read_file(const char *path, size_t max, unsigned char **out, size_t *len)
{
	unsigned char *buf;
	size_t n = 0;
	ssize_t r;
	int fd;

	*out = NULL;
	*len = 0;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno_code(errno);
	if (!(buf = malloc(max + 1))) {
		close(fd);
		return RG_ERR_NOMEM;
	}
	/* Read one byte past the cap to tell "exactly max" from "too big". */
	while (n <= max && (r = read(fd, buf + n, max + 1 - n)) != 0) {
		if (r < 0) {
			if (errno == EINTR)
				continue;
			close(fd);
			free(buf);
			return RG_ERR_IO;
		}
		n += (size_t)r;
	}
	close(fd);
	if (n > max) {
		free(buf);
		return RG_ERR_TOOBIG;
	}
	buf[n] = '\0';
	*out = buf;
	*len = n;
	return 0;
}

int pki__exists(const char *path)
{
	struct stat st;
	if (lstat(path, &st) == 0)
		return 1;
	return errno == ENOENT ? 0 : errno_code(errno);
}

int pki__mkdirs(const char *dir, mode_t mode)
{
	char buf[PATH_MAX];
	size_t n = strlen(dir);

	if (!n || n >= sizeof buf)
		return RG_ERR_INVAL;
	memcpy(buf, dir, n + 1);
	for (size_t i = 1; i <= n; i++) {
		if (buf[i] != '/' && buf[i] != '\0')
			continue;
		char saved = buf[i];
		buf[i] = '\0';
		if (mkdir(buf, mode) < 0 && errno != EEXIST)
			return errno_code(errno);
		buf[i] = saved;
	}
	struct stat st;
	if (stat(dir, &st) < 0)
		return errno_code(errno);
	return S_ISDIR(st.st_mode) ? 0 : RG_ERR_IO;
}

int pki__fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int rc = 0;
	if (fd < 0)
		return errno_code(errno);
	if (fsync(fd) < 0)
		rc = RG_ERR_IO;
	close(fd);
	return rc;
}

static int write_all(int fd, const void *data, size_t len)
{
	const unsigned char *p = data;
	while (len) {
		ssize_t w = write(fd, p, len);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return RG_ERR_IO;
		}
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

int pki__stage(struct pki__staged *s, const char *final, const void *data, size_t len, mode_t mode)
{
	const char *slash = strrchr(final, '/');
	const char *base = slash ? slash + 1 : final;
	int dirlen = slash ? (int)(slash - final) : 1;
	const char *dirpart = slash ? final : ".";
	int fd, n, rc;

	s->live = false;
	if (strlen(final) >= sizeof s->final)
		return RG_ERR_TOOBIG;
	memcpy(s->final, final, strlen(final) + 1);
	n = snprintf(s->tmp, sizeof s->tmp, "%.*s/.%s.XXXXXX", dirlen, dirpart, base);
	if (n < 0 || (size_t)n >= sizeof s->tmp)
		return RG_ERR_TOOBIG;
	/* mkstemp creates the file 0600, so a key is never readable by others,
	 * not even for a moment; fchmod widens certificates afterwards. */
	fd = mkstemp(s->tmp);
	if (fd < 0)
		return errno_code(errno);
	s->live = true;
	rc = write_all(fd, data, len);
	if (!rc && fchmod(fd, mode) < 0)
		rc = errno_code(errno);
	if (!rc && fsync(fd) < 0)
		rc = RG_ERR_IO;
	if (close(fd) < 0 && !rc)
		rc = RG_ERR_IO;
	if (rc)
		pki__discard(s);
	return rc;
}

int pki__commit(struct pki__staged *s, bool replace)
{
	int rc = 0;
	if (!s->live)
		return RG_ERR_STATE;
	if (replace) {
		if (rename(s->tmp, s->final) < 0)
			rc = errno_code(errno);
		else
			s->live = false;
	} else if (link(s->tmp, s->final) < 0) {
		rc = errno_code(errno);
	}
	pki__discard(s);
	return rc;
}

void pki__discard(struct pki__staged *s)
{
	if (s->live) {
		unlink(s->tmp);
		s->live = false;
	}
}
