/*
 * log.h - one line per event, to stderr, as machine-parsable key=value fields.
 *
 *   ts=2026-11-23T07:01:30.123Z level=warn comp=reader event=reopen connstring=pn532_uart:/dev/pts/3 attempt=2
 *
 * The caller supplies the event name and a printf-style tail of key=value
 * pairs. Values that may contain spaces, quotes or come from outside must be
 * passed through rg_log_quote() first. The logger guarantees one line per call:
 * control characters in the formatted tail are escaped. Thread-safe.
 */
#ifndef COMMON_LOG_H
#define COMMON_LOG_H

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

enum rg_log_level {
	RG_LOG_DEBUG = 0,
	RG_LOG_INFO = 1,
	RG_LOG_WARN = 2,
	RG_LOG_ERROR = 3,
	RG_LOG_OFF = 4
};

/* Lines below this level are dropped. Default RG_LOG_INFO, or the value of
 * the environment variable REGULARS_LOG_LEVEL (debug|info|warn|error|off)
 * read on first use. */
void rg_log_set_level(enum rg_log_level level);
enum rg_log_level rg_log_get_level(void);

/* Parses "debug", "info", "warn", "error", "off". Returns the level or
 * RG_ERR_PARSE. */
int rg_log_level_parse(const char *name);

/* Redirect output (tests). NULL restores stderr. The stream is borrowed. */
void rg_log_set_stream(FILE *stream);

/* Emit one event. comp and event must be bare words ([a-z0-9_.-]). */
void rg_log(enum rg_log_level level, const char *comp, const char *event,
	    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
void rg_logv(enum rg_log_level level, const char *comp, const char *event,
	     const char *fmt, va_list ap) __attribute__((format(printf, 4, 0)));

/* Write s into buf as a log value: unchanged if it is a bare word, else in
 * double quotes with \" \\ \n \t and \xNN escapes. Always NUL-terminates;
 * truncates to fit (ending in "..."). Returns buf, for use inline. */
const char *rg_log_quote(char *buf, size_t cap, const char *s);

#define rg_debug(comp, event, ...) rg_log(RG_LOG_DEBUG, comp, event, __VA_ARGS__)
#define rg_info(comp, event, ...) rg_log(RG_LOG_INFO, comp, event, __VA_ARGS__)
#define rg_warn(comp, event, ...) rg_log(RG_LOG_WARN, comp, event, __VA_ARGS__)
#define rg_error(comp, event, ...) rg_log(RG_LOG_ERROR, comp, event, __VA_ARGS__)

#ifdef __cplusplus
}
#endif

#endif
