/*
 * file.h - reading a whole small file (configuration documents): a regular
 * file only, a size cap checked before and while reading, errors that name
 * the file.
 */
#ifndef COMMON_FILE_H
#define COMMON_FILE_H

#include <stddef.h>

/* Read path (at most max bytes) into a malloc'd buffer with a NUL after the
 * data (*len bytes; len may be NULL); the buffer is sized by the file, not
 * by max. *out owned by the caller (free). Returns 0, or RG_ERR_NOTFOUND /
 * RG_ERR_PERM / RG_ERR_IO (not a regular file, read error) / RG_ERR_TOOBIG /
 * RG_ERR_NOMEM with "<path>: <what>" in err. */
int rg_file_read(const char *path, size_t max, char **out, size_t *len, char *err, size_t errcap);

#endif
