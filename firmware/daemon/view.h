/*
 * view.h - view models: what a screen may show of a cached profile body
 * (docs/device-schema.md "The profile body"), by role. The kiosk view is the
 * public one: nothing the customer did not consent to show. The handheld view
 * is the staff one. Both are one line of JSON, built from the opened body.
 * Also the local edits staff actions make to a cached body, so the handheld
 * shows them before central's next version arrives.
 */
#ifndef FIRMWARE_DAEMON_VIEW_H
#define FIRMWARE_DAEMON_VIEW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cJSON.h>

#define VIEW_ITEMS_MAX 3 /* public items a kiosk shows at most */
#define VIEW_LANG_MAX 8

enum view_state { VIEW_IDLE = 0, VIEW_GREETING, VIEW_UNKNOWN, VIEW_REFUSED };

struct view_opts {
	int public_items_max;	   /* 0..VIEW_ITEMS_MAX */
	int idle_after_ms;	   /* the kiosk returns to idle after this */
	const char *default_language; /* "en", ... */
};

/* The kiosk screen for a cached profile body: state greeting, first name,
 * tier, points and items as the customer consented (docs/device-api.md).
 * interaction is the outbox row's id (or NULL). Returns a cJSON object owned
 * by the caller, or NULL (RG_ERR_* in *err_code) when the body is not a JSON
 * object. */
cJSON *view_kiosk(const char *body, size_t len, const struct view_opts *o, const char *interaction,
		  int *err_code);
/* The kiosk screen for a state without a profile (idle, unknown, refused);
 * reason is an ident reason name for refused, else NULL. */
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

/* The public-display categories a body consents to, as a new cJSON array. */
cJSON *view_consent_list(const char *body, size_t len);
/* Whether name is one of "points", "orders", "service", "offers". */
bool view_consent_category_valid(const char *name);

#endif
