/*
 * view.h - view models: what a screen may show of a cached profile body
 * (docs/device-schema.md "The profile body"), by role. The kiosk view is the
 * public one: nothing the customer did not consent to show. The handheld view
 * is the staff one. Both are one line of JSON, built from the opened body.
 * Also the local edits staff actions make to a cached body, so the handheld
 * shows them before central's next version arrives. The kiosk view obeys
 * screen.privacy and carries the configured texts (docs/config.md); the UI
 * shows them with textContent, so they are never HTML.
 */
#ifndef FIRMWARE_DAEMON_VIEW_H
#define FIRMWARE_DAEMON_VIEW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cJSON.h>

#define VIEW_ITEMS_MAX 3 /* public items a kiosk shows at most */
#define VIEW_LANG_MAX 8
#define VIEW_LANGS 4	    /* en, de, fr, nl: the order of view_opts.text */
#define VIEW_TEXT_MAX 160   /* bytes of one configured text */
#define VIEW_GREETING_MAX 512 /* a greeting after {name} is filled in */

/* VIEW_CLOSED: outside the opening hours (a kiosk ignores reads then). */
enum view_state { VIEW_IDLE = 0, VIEW_GREETING, VIEW_UNKNOWN, VIEW_REFUSED, VIEW_CLOSED };

/* screen.privacy */
enum view_privacy { VIEW_PRIVACY_FULL = 0, VIEW_PRIVACY_FIRST_NAME, VIEW_PRIVACY_ANONYMOUS };

/* Configured texts of one language; "" = the UI's built-in text. */
struct view_texts {
	char greeting[VIEW_TEXT_MAX + 1]; /* "{name}" is replaced by the first name */
	char welcome[VIEW_TEXT_MAX + 1];
	char unknown[VIEW_TEXT_MAX + 1];
	char closed[VIEW_TEXT_MAX + 1];
};

/* Copied by value (no pointers), so a view can be built outside the lock
 * the options were read under. */
struct view_opts {
	int public_items_max;	   /* 0..VIEW_ITEMS_MAX */
	int idle_after_ms;	   /* the kiosk returns to idle after this */
	char default_language[VIEW_LANG_MAX]; /* "en", ... ("" = en) */
	enum view_privacy privacy;
	struct view_texts text[VIEW_LANGS]; /* by language: en, de, fr, nl */
};

/* The kiosk screen for a cached profile body: state greeting, first name,
 * tier, points and items as the customer consented and screen.privacy
 * allows (docs/device-api.md); "greeting" when one is configured for the
 * view's language ("{name}" filled in only where the name may be shown; a
 * text that needs a name nobody may show is left out, the UI's generic
 * greeting shows instead); "greeting_idle" the configured welcome.
 * interaction is the outbox row's id (or NULL). Returns a cJSON object owned
 * by the caller, or NULL (RG_ERR_* in *err_code) when the body is not a JSON
 * object. */
cJSON *view_kiosk(const char *body, size_t len, const struct view_opts *o, const char *interaction,
		  int *err_code);
/* The kiosk screen for a state without a profile (idle, unknown, refused,
 * closed); reason is an ident reason name for refused, else NULL. unknown
 * and closed carry their configured text as "greeting". */
cJSON *view_kiosk_state(enum view_state st, const struct view_opts *o, const char *reason,
			const char *interaction);
/* The handheld's full view of a profile (docs/device-api.md). */
cJSON *view_handheld(const char *profile_id, const char *body, size_t len, int *err_code);

const char *view_state_name(enum view_state st);

/* ---- local edits of a cached body (staff actions) ---- */

/* Each takes the body as text and returns a newly malloc'd compact JSON text
 * (free()), or NULL on a body that is not an object / out of memory. at is an
 * ISO-8601 UTC time for the interaction line. */
char *view_edit_note(const char *body, size_t len, const char *text, const char *at);
char *view_edit_episode_open(const char *body, size_t len, const char *episode_id,
			     const char *department, const char *title, const char *at);
/* *found is set to whether the episode was in the body. */
char *view_edit_episode_resolve(const char *body, size_t len, const char *episode_id,
				bool *found);
/* categories is a cJSON array of strings (borrowed). */
char *view_edit_consent(const char *body, size_t len, const cJSON *categories);
/* points redeemed for reason: "points" lowered (never below 0) and a
 * recent interaction line. */
char *view_edit_redeem(const char *body, size_t len, int64_t points, const char *reason,
		       const char *at);
/* The body's "points" (0 when it has none). */
int64_t view_points(const char *body, size_t len);

/* The public-display categories a body consents to, as a new cJSON array. */
cJSON *view_consent_list(const char *body, size_t len);
/* Whether name is one of "points", "orders", "service", "offers". */
bool view_consent_category_valid(const char *name);

#endif
