/*
 * web_internal.h - shared between the files of firmware/web: the session
 * table (auth.c) and the server (web.c). Not for use outside this folder.
 */
#ifndef FIRMWARE_WEB_INTERNAL_H
#define FIRMWARE_WEB_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "web.h"

#define WEB_SESSION_ID_LEN 64
#define WEB_SESSIONS_MAX 16
#define WEB_LOGIN_MAX_FAILURES 5
#define WEB_LOGIN_LOCKOUT_MS 30000

struct web_session {
	bool in_use;
	char id[WEB_SESSION_ID_LEN + 1];
	int64_t created_ms, last_ms;
};

struct web_sessions {
	const struct rg_clock *clock;
	int64_t idle_ms, max_ms;
	struct web_session s[WEB_SESSIONS_MAX];
	int failures;
	int64_t locked_until_ms;
};

void web__sessions_init(struct web_sessions *t, const struct rg_clock *clock, int idle_s, int max_s);
/* 0 and a new session id; RG_ERR_VERIFY wrong PIN; RG_ERR_AGAIN locked out;
 * RG_ERR_STATE no PIN configured. Not thread-safe: the caller locks. */
int web__session_login(struct web_sessions *t, const char *pin, const char *pin_hash,
		       char id_out[WEB_SESSION_ID_LEN + 1]);
const struct web_session *web__session_check(struct web_sessions *t, const char *id);
void web__session_logout(struct web_sessions *t, const char *id);

#endif
