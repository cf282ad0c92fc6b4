/*
 * keystore_file.c - device secrets as files: <dir>/<name>, mode 0600, owned
 * by the process's user, written atomically (temp + fsync + rename + dir
 * fsync). A key file that others may read or write, that is not ours, or
 * that is a symlink is refused (RG_ERR_PERM), never "fixed" silently: a
 * secret that was exposed must be rotated. The directory must not be
 * writable by group or others.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/err.h"
#include "common/log.h"

#include "../core/text.h"
#include "keystore_impl.h"

struct kfile {
	char dir[512];
};

static const char *const kfile_options[] = {"dir", "create", NULL};

static int kfile_open(struct hal_keystore *ks, const struct hal__opts *o)
{
	const char *dir = hal__opts_str(o, "dir", NULL);
	struct kfile *k;
	struct stat st;
	bool create;
	char q[160];
	int rc;

	if (!dir || !*dir)
		return hal__opts_fail(o, "dir", "required (the key directory)");
	if (strlen(dir) >= sizeof k->dir)
		return hal__opts_fail(o, "dir", "too long");
	if ((rc = hal__opts_bool(o, "create", true, &create)))
		return rc;
	rg_log_quote(q, sizeof q, dir);
	if (create && mkdir(dir, 0700) < 0 && errno != EEXIST) {
		rg_error("keystore", "open_failed", "backend=file dir=%s errno=%d", q, errno);
		return errno == EACCES ? RG_ERR_PERM : RG_ERR_IO;
	}
	if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
		rg_error("keystore", "open_failed", "backend=file dir=%s error=\"not a directory\"",
			 q);
		return RG_ERR_NOTFOUND;
	}
	if ((st.st_mode & 022) || (st.st_uid != geteuid() && st.st_uid != 0)) {
		rg_error("keystore", "dir_too_open", "backend=file dir=%s mode=%04o", q,
			 (unsigned)(st.st_mode & 07777));
		return RG_ERR_PERM;
	}
	k = calloc(1, sizeof *k);
	if (!k)
		return RG_ERR_NOMEM;
	memcpy(k->dir, dir, strlen(dir) + 1);
	ks->priv = k;
	return 0;
}

static void kfile_close(struct hal_keystore *ks)
{
	free(ks->priv);
	ks->priv = NULL;
}

static int key_path(const struct kfile *k, const char *name, char *buf, size_t cap)
{
	int n = snprintf(buf, cap, "%s/%s", k->dir, name);
	return n < 0 || (size_t)n >= cap ? RG_ERR_TOOBIG : 0;
}

static int kfile_get(struct hal_keystore *ks, const char *name, uint8_t *buf, size_t cap)
{
	char path[640];
	struct stat st;
	size_t got = 0;
	int fd, rc = 0;

	if ((rc = key_path(ks->priv, name, path, sizeof path)))
		return rc;
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0) {
		if (errno == ENOENT)
			return RG_ERR_NOTFOUND;
		if (errno == ELOOP) {
			rg_error("keystore", "key_refused", "backend=file name=%s reason=symlink",
				 name);
			return RG_ERR_PERM;
		}
		return errno == EACCES ? RG_ERR_PERM : RG_ERR_IO;
	}
	if (fstat(fd, &st) < 0) {
		close(fd);
		return RG_ERR_IO;
	}
	if (!S_ISREG(st.st_mode) || (st.st_mode & 077) || st.st_uid != geteuid()) {
		rg_error("keystore", "key_refused",
			 "backend=file name=%s reason=permissions mode=%04o owner_ok=%d", name,
			 (unsigned)(st.st_mode & 07777), st.st_uid == geteuid());
		close(fd);
		return RG_ERR_PERM;
	}
	if (st.st_size > HAL_KEY_VALUE_MAX || (size_t)st.st_size > cap) {
		close(fd);
		return RG_ERR_TOOBIG;
	}
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			rc = RG_ERR_IO;
			break;
		}
		got += (size_t)n;
	}
	close(fd);
	return rc ? rc : (int)got;
}

static int kfile_put(struct hal_keystore *ks, const char *name, const void *v, size_t len)
{
	char path[640];
	int rc = key_path(ks->priv, name, path, sizeof path);
	return rc ? rc : hal__file_replace(path, v, len, 0600);
}

static int kfile_remove(struct hal_keystore *ks, const char *name)
{
	const struct kfile *k = ks->priv;
	char path[640];
	int rc = key_path(k, name, path, sizeof path), dfd;

	if (rc)
		return rc;
	if (unlink(path) < 0)
		return errno == ENOENT ? RG_ERR_NOTFOUND : RG_ERR_IO;
	dfd = open(k->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		if (fsync(dfd) < 0)
			rc = RG_ERR_IO;
		close(dfd);
	}
	return rc;
}

const struct hal_keystore_ops hal__keystore_file_ops = {
    .version = HAL_KEYSTORE_OPS_VERSION,
    .name = "file",
    .options = kfile_options,
    .open = kfile_open,
    .close = kfile_close,
    .get = kfile_get,
    .put = kfile_put,
    .remove = kfile_remove,
};
