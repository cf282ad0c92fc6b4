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
/* A login in two steps, so the slow PIN check (PBKDF2) runs without the
 * caller's lock; both steps need it. begin: 0 may try, RG_ERR_STATE no PIN
 * configured, RG_ERR_AGAIN locked out. finish, with web_pin_verify's result:
 * 0 and a new session id; RG_ERR_VERIFY (a failure counted; the fifth locks
 * logins out); RG_ERR_AGAIN if a lockout began meanwhile. */
int web__login_begin(struct web_sessions *t, const char *pin_hash);
int web__login_finish(struct web_sessions *t, int verify_rc, char id_out[WEB_SESSION_ID_LEN + 1]);
const struct web_session *web__session_check(struct web_sessions *t, const char *id);
void web__session_logout(struct web_sessions *t, const char *id);

#endif
