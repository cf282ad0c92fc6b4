/*
 * err.c - messages and names for the codes of common/err.h. The tables are
 * indexed by -code; a code added to the enum must be added here too (the
 * unit test checks every code has a message and a name).
 */
#include "common/err.h"

#include <stdarg.h>
#include <stdio.h>

struct err_entry {
	const char *name;
	const char *msg;
};

static const struct err_entry entries[] = {
	[0] = {"RG_OK", "success"},
	[1] = {"RG_ERR_NOMEM", "out of memory"},
	[2] = {"RG_ERR_INVAL", "invalid argument"},
	[3] = {"RG_ERR_RANGE", "value out of range"},
	[4] = {"RG_ERR_IO", "input/output error"},
	[5] = {"RG_ERR_NOTFOUND", "not found"},
	[6] = {"RG_ERR_EXISTS", "already exists"},
	[7] = {"RG_ERR_TOOBIG", "too large"},
	[8] = {"RG_ERR_PARSE", "malformed input"},
	[9] = {"RG_ERR_CRYPTO", "cryptographic library failure"},
	[10] = {"RG_ERR_VERIFY", "verification failed"},
	[11] = {"RG_ERR_DB", "database error"},
	[12] = {"RG_ERR_BUSY", "resource busy"},
	[13] = {"RG_ERR_TIMEOUT", "timed out"},
	[14] = {"RG_ERR_NOSYS", "operation not supported by this backend"},
	[15] = {"RG_ERR_AGAIN", "try again later"},
	[16] = {"RG_ERR_STATE", "invalid in the current state"},
	[17] = {"RG_ERR_MISSING", "required item missing"},
	[18] = {"RG_ERR_TYPE", "wrong type"},
	[19] = {"RG_ERR_MIGRATE", "schema migration failed"},
	[20] = {"RG_ERR_DEVICE", "device failure"},
	[21] = {"RG_ERR_CLOSED", "connection closed"},
	[22] = {"RG_ERR_UNSUPPORTED", "not supported"},
	[23] = {"RG_ERR_PERM", "permission denied"},
	[24] = {"RG_ERR_CONFIG", "invalid configuration"},
};

_Static_assert(sizeof entries / sizeof entries[0] == (unsigned)-RG_ERR__LAST,
	       "every rg_err code needs an entry");

static const struct err_entry *lookup(int code)
{
	if (code >= 0)
		return &entries[0];
	if (code <= RG_ERR__LAST)
		return 0;
	return &entries[-code];
}

const char *rg_strerror(int code)
{
	const struct err_entry *e = lookup(code);
	return e ? e->msg : "unknown error";
}

const char *rg_errname(int code)
{
	const struct err_entry *e = lookup(code);
	return e ? e->name : "RG_ERR_UNKNOWN";
}

int rg_errf(int code, char *err, size_t errcap, const char *fmt, ...)
{
	if (err && errcap) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, errcap, fmt, ap);
		va_end(ap);
	}
	return code;
}

int rg_errf_at(int code, char *err, size_t errcap, const char *path, const char *fmt, ...)
{
	if (err && errcap) {
		va_list ap;
		int n = snprintf(err, errcap, "%s: ", path ? path : "");
		if (n >= 0 && (size_t)n < errcap) {
			va_start(ap, fmt);
			vsnprintf(err + n, errcap - (size_t)n, fmt, ap);
			va_end(ap);
		}
	}
	return code;
}
