/*
 * err.h - the one error enum of Regulars, shared by every component.
 *
 * Functions return int: >= 0 is success (or a count), < 0 is one of the codes
 * below. Codes are never renumbered or reused; new codes go at the end, before
 * RG_ERR__LAST. Non-error outcomes (a refused identifier, a cache miss that is
 * expected) are NOT codes here: they have their own result types.
 */
#ifndef COMMON_ERR_H
#define COMMON_ERR_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

enum rg_err {
	RG_OK = 0,
	RG_ERR_NOMEM = -1,       /* allocation failed */
	RG_ERR_INVAL = -2,       /* invalid argument (a caller's bug) */
	RG_ERR_RANGE = -3,       /* value outside its allowed range */
	RG_ERR_IO = -4,          /* read/write/open on a file or socket failed */
	RG_ERR_NOTFOUND = -5,    /* no such item */
	RG_ERR_EXISTS = -6,      /* item already exists */
	RG_ERR_TOOBIG = -7,      /* input or output exceeds its size cap */
	RG_ERR_PARSE = -8,       /* malformed input (JSON, hex, uuid, ...) */
	RG_ERR_CRYPTO = -9,      /* the crypto library failed (not a bad signature) */
	RG_ERR_VERIFY = -10,     /* signature, MAC or tag does not verify */
	RG_ERR_DB = -11,         /* SQLite returned an error */
	RG_ERR_BUSY = -12,       /* resource busy (database locked, ...) */
	RG_ERR_TIMEOUT = -13,    /* operation timed out */
	RG_ERR_NOSYS = -14,      /* optional operation not provided by a backend */
	RG_ERR_AGAIN = -15,      /* nothing now; try again later */
	RG_ERR_STATE = -16,      /* call not valid in the object's current state */
	RG_ERR_MISSING = -17,    /* a required field or setting is absent */
	RG_ERR_TYPE = -18,       /* a field has the wrong type */
	RG_ERR_MIGRATE = -19,    /* a schema migration failed; database unchanged */
	RG_ERR_DEVICE = -20,     /* hardware device failed or went away */
	RG_ERR_CLOSED = -21,     /* peer closed the connection */
	RG_ERR_UNSUPPORTED = -22, /* valid request this build/backend cannot do */
	RG_ERR_PERM = -23,       /* permission denied */
	RG_ERR_CONFIG = -24,     /* configuration is invalid */
	RG_ERR__LAST = -25       /* not a code: one past the most negative */
};

/* A static, never-NULL English message for a code. Unknown codes give
 * "unknown error"; non-negative values give "success". */
const char *rg_strerror(int code);

/* The symbolic name of a code ("RG_ERR_PARSE"), for logs; never NULL. */
const char *rg_errname(int code);

/* Write a printf-style message to err (if err and errcap) and return code:
 * the one-liner every parser uses for "refuse, and say why". */
int rg_errf(int code, char *err, size_t errcap, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* The same, prefixed with where: "path: message" (configuration checks). */
int rg_errf_at(int code, char *err, size_t errcap, const char *path, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

#ifdef __cplusplus
}
#endif

#endif
