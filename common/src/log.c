/*
 * log.c - the key=value line logger of common/log.h. Formats each event into
 * a bounded stack buffer, escapes control characters so one call is one line,
 * and writes it with a single fwrite under a lock so lines from threads never
 * interleave.
 */
#include "common/log.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/clock.h"
#include "common/err.h"

#define LOG_LINE_MAX 2048

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t log_once = PTHREAD_ONCE_INIT;
static enum rg_log_level log_level = RG_LOG_INFO;
static FILE *log_stream;

static const char *const level_names[] = {"debug", "info", "warn", "error", "off"};

static void log_init(void)
{
	const char *env = getenv("REGULARS_LOG_LEVEL");
	if (env) {
		int l = rg_log_level_parse(env);
		if (l >= 0)
			log_level = (enum rg_log_level)l;
	}
}

int rg_log_level_parse(const char *name)
{
	if (!name)
		return RG_ERR_INVAL;
	for (int i = 0; i <= RG_LOG_OFF; i++)
		if (!strcasecmp(name, level_names[i]))
			return i;
	if (!strcasecmp(name, "warning"))
		return RG_LOG_WARN;
	return RG_ERR_PARSE;
}

void rg_log_set_level(enum rg_log_level level)
{
	pthread_once(&log_once, log_init);
	__atomic_store_n(&log_level, level, __ATOMIC_RELAXED);
}

enum rg_log_level rg_log_get_level(void)
{
	pthread_once(&log_once, log_init);
	return __atomic_load_n(&log_level, __ATOMIC_RELAXED);
}

void rg_log_set_stream(FILE *stream)
{
	pthread_mutex_lock(&log_lock);
	log_stream = stream;
	pthread_mutex_unlock(&log_lock);
}

static int is_bare(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '-' || c == '.' || c == '/' || c == ':' || c == '@' || c == '+' ||
	       c == ',' || c >= 0x80;
}

const char *rg_log_quote(char *buf, size_t cap, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;
	int bare = s && *s;

	if (!cap)
		return buf;
	if (!s)
		s = "(null)";
	for (const char *p = s; *p && bare; p++)
		bare = is_bare((unsigned char)*p);
	if (bare) {
		size_t n = strlen(s);
		if (n < cap) {
			memcpy(buf, s, n + 1);
			return buf;
		}
	}
	/* Quoted form; reserve room for the closing quote, "..." and NUL. */
	if (cap < 8) {
		buf[0] = '\0';
		return buf;
	}
	buf[o++] = '"';
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		char esc[5];
		size_t n = 0;
		if (*p == '"' || *p == '\\') {
			esc[n++] = '\\';
			esc[n++] = (char)*p;
		} else if (*p == '\n') {
			esc[n++] = '\\';
			esc[n++] = 'n';
		} else if (*p == '\t') {
			esc[n++] = '\\';
			esc[n++] = 't';
		} else if (*p < 0x20 || *p == 0x7f) {
			esc[n++] = '\\';
			esc[n++] = 'x';
			esc[n++] = hex[*p >> 4];
			esc[n++] = hex[*p & 15];
		} else {
			esc[n++] = (char)*p;
		}
		if (o + n + 5 > cap) {
			memcpy(buf + o, "...", 3);
			o += 3;
			break;
		}
		memcpy(buf + o, esc, n);
		o += n;
	}
	buf[o++] = '"';
	buf[o] = '\0';
	return buf;
}

void rg_logv(enum rg_log_level level, const char *comp, const char *event, const char *fmt,
	     va_list ap)
{
	char line[LOG_LINE_MAX];
	char ts[25];
	int n;
	size_t len;

	if (level < rg_log_get_level() || level >= RG_LOG_OFF)
		return;
	rg_time_format(rg_clock_wall_ms(rg_clock_system()), ts);
	n = snprintf(line, sizeof line, "ts=%s level=%s comp=%s event=%s", ts, level_names[level],
		     comp ? comp : "-", event ? event : "-");
	if (n < 0)
		return;
	len = (size_t)n < sizeof line ? (size_t)n : sizeof line - 1;
	if (fmt && *fmt && len + 2 < sizeof line) {
		line[len++] = ' ';
		n = vsnprintf(line + len, sizeof line - len, fmt, ap);
		if (n > 0) {
			size_t tail = (size_t)n < sizeof line - len ? (size_t)n : sizeof line - len - 1;
			/* One event, one line: flatten any control character. */
			for (size_t i = len; i < len + tail; i++)
				if ((unsigned char)line[i] < 0x20 || line[i] == 0x7f)
					line[i] = ' ';
			len += tail;
		}
	}
	if (len + 1 >= sizeof line)
		len = sizeof line - 2;
	line[len++] = '\n';

	pthread_mutex_lock(&log_lock);
	FILE *out = log_stream ? log_stream : stderr;
	fwrite(line, 1, len, out);
	fflush(out);
	pthread_mutex_unlock(&log_lock);
}

void rg_log(enum rg_log_level level, const char *comp, const char *event, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	rg_logv(level, comp, event, fmt, ap);
	va_end(ap);
}
