/*
 * file.c - see common/file.h.
 */
#include "common/file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/err.h"

int rg_file_read(const char *path, size_t max, char **out, size_t *len, char *err, size_t errcap)
{
	struct stat sb;
	size_t got = 0, cap;
	char *buf;
	int fd;

	*out = NULL;
	if (len)
		*len = 0;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		int e = errno;
		return rg_errf(e == ENOENT   ? RG_ERR_NOTFOUND
			       : e == EACCES ? RG_ERR_PERM
					     : RG_ERR_IO,
			       err, errcap, "%s: cannot open: %s", path, strerror(e));
	}
	if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode)) {
		close(fd);
		return rg_errf(RG_ERR_IO, err, errcap, "%s: not a regular file", path);
	}
	if ((unsigned long long)sb.st_size > max) {
		close(fd);
		return rg_errf(RG_ERR_TOOBIG, err, errcap, "%s: %lld bytes exceed the limit of %zu",
			       path, (long long)sb.st_size, max);
	}
	/* Sized by fstat, plus one byte so that a file that grew since is
	 * noticed; it grows while reading up to one byte past the cap. */
	cap = (size_t)sb.st_size + 1;
	if (!(buf = malloc(cap + 1))) {
		close(fd);
		return rg_errf(RG_ERR_NOMEM, err, errcap, "%s: out of memory", path);
	}
	for (;;) {
		ssize_t n;
		if (got == cap) { /* grew since fstat; got <= max, so cap < max + 1 */
			size_t want = cap > max / 2 ? max + 1 : cap * 2;
			char *more = realloc(buf, want + 1);
			if (!more) {
				close(fd);
				free(buf);
				return rg_errf(RG_ERR_NOMEM, err, errcap, "%s: out of memory",
					       path);
			}
			buf = more;
			cap = want;
		}
		n = read(fd, buf + got, cap - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int e = errno;
			close(fd);
			free(buf);
			return rg_errf(RG_ERR_IO, err, errcap, "%s: read: %s", path, strerror(e));
		}
		if (n == 0 || (got += (size_t)n) > max)
			break;
	}
	close(fd);
	if (got > max) {
		free(buf);
		return rg_errf(RG_ERR_TOOBIG, err, errcap, "%s: more than %zu bytes", path, max);
	}
	buf[got] = '\0';
	*out = buf;
	if (len)
		*len = got;
	return 0;
}
