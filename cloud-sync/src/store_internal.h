/*
 * store_internal.h - what every store backend shares and nothing else sees:
 * the reading of an item's body per kind (derive.c: what each kind means,
 * decided once for all backends) and the rendering of a profile body from
 * its imported body plus derived state. Backends own only their SQL.
 */
#ifndef CLOUD_STORE_INTERNAL_H
#define CLOUD_STORE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cJSON.h>

#include "cloud/store.h"

#define CLOUD_COMP "store"
#define CLOUD_SUMMARY_MAX 200 /* bytes of text kept in a recent interaction */
#define CLOUD_EPISODE_ID_MAX 64
#define CLOUD_PREF_KEY_MAX 32
#define CLOUD_PREFS_MAX 32 /* preference keys per profile */

/* What one item asks for, read leniently from its body: a field of the
 * wrong type is treated as absent; an item that lacks what its kind needs
 * is `usable = false` (recorded as CLOUD_OUT_INVALID, still acked). */
struct cloud__effect {
	bool usable;
	const char *channel;	/* "" when absent */
	const char *department; /* "" when absent */
	const char *episode;	/* episode kinds */
	const char *title;
	const char *status;  /* "open", "waiting", "resolved" */
	const char *summary; /* note text, episode note or title: shown in recent */
	int64_t points;	     /* subtracted from points_delta: > 0 redeemed, < 0 earned */
	bool assign;	     /* episode_assigned: the episode's department changes */
	char *consent;	     /* consent_changed: malloc'd JSON array text */
	const cJSON *prefs;  /* preference_changed: the body (keys other than channel) */
};

/* The kinds the store knows: the wire's (enum rg_kind, same values) and
 * after them those only imports carry (cloud_import_kind_valid). */
enum cloud__kind {
	CLOUD_KIND_ORDER = RG_KIND__COUNT, /* a recent interaction (summary) */
	CLOUD_KIND_VISIT,		   /* counts a visit, like identified */
	CLOUD_KIND_EPISODE_ASSIGNED,	   /* the episode changes department (LWW) */
	CLOUD_KIND_POINTS_EARNED,	   /* points_delta += points */
	CLOUD_KIND__COUNT
};
const char *cloud__kind_name(int kind);
/* The kind named, or RG_ERR_NOTFOUND. */
int cloud__kind_parse(const char *name);

/* Fill e for an item of kind with body (has_token: the item carries a
 * token). e->consent must be released with cloud__effect_clear. */
void cloud__effect_read(int kind, const cJSON *body, bool has_token, struct cloud__effect *e);
void cloud__effect_clear(struct cloud__effect *e);
/* 1 if k is a preference key the store keeps ([a-z0-9_]{1,32}, not "channel"). */
int cloud__pref_key_ok(const char *k);

/* Derived state handed to the renderer by a backend. */
struct cloud__episode {
	char id[CLOUD_EPISODE_ID_MAX + 1];
	char department[33];
	char title[CLOUD_SUMMARY_MAX + 1];
	char status[16];
	int64_t updated_ms;
};

struct cloud__recent {
	char kind[24];
	char channel[17];
	char department[33];
	char summary[CLOUD_SUMMARY_MAX + 1];
	int64_t time_ms;
};

struct cloud__pref {
	char key[CLOUD_PREF_KEY_MAX + 1];
	char *value; /* JSON text, malloc'd */
};

struct cloud__derived {
	int64_t visits, last_seen_ms, points_delta;
	char *consent; /* JSON array text or NULL, malloc'd */
	struct cloud__pref prefs[CLOUD_PREFS_MAX];
	size_t n_prefs;
	struct cloud__episode *episodes; /* malloc'd */
	size_t n_episodes;
	struct cloud__recent recent[CLOUD_RECENT_MAX];
	size_t n_recent;
};
void cloud__derived_clear(struct cloud__derived *d);

/* Render base (imported body JSON) + d into p->body / p->points. */
int cloud__render(const char *base, size_t base_len, const struct cloud__derived *d,
		  struct cloud_profile *p);

/* Copy at most cap-1 bytes of s, cut on a UTF-8 boundary. */
void cloud__copy_utf8(char *dst, size_t cap, const char *s);

extern const struct cloud_store_ops cloud__sqlite_ops;

#endif
