/*
 * settings.h - the schema of the settings IT pushes in signed configuration
 * documents (common/cfgdoc.h, docs/config.md "Schema"): which keys exist,
 * their types, ranges and defaults; strict checking of one document's
 * "settings" object; the key-by-key merge of the three scopes (tenant <
 * store < device, the more specific winning); and a flat diff for humans.
 *
 * The settings object is nested JSON. Merging is deep for objects: a store
 * document that sets only screen.text.en.greeting leaves every other key
 * of the tenant document in force. Arrays and scalars are leaves (a more
 * specific scope replaces them whole). The "identifiers" object is the one
 * of docs/identifiers.md, checked by ident_config_from_json after merging
 * over the defaults. Keys under "gateway" are for the store gateway; every
 * other key is for devices. Unknown keys anywhere are errors.
 *
 * Device keys (defaults: the device's own config file, then these):
 *   log.level                  "error"|"warn"|"info"|"debug"          info
 *   screen.idle_after_ms       1000..600000                            8000
 *   screen.public_items_max    0..3                                    3
 *   screen.default_language    "en"|"de"|"fr"|"nl"                     en
 *   screen.privacy             "full"|"first_name"|"anonymous"         full
 *       full: first name, tier, points and the items the customer consented
 *       to show; first_name: the first name only (still only with consent);
 *       anonymous: never a name or detail on the kiosk, a generic greeting.
 *   screen.text.<lang>.<key>   lang en|de|fr|nl; key greeting (may hold
 *       "{name}"), welcome (idle screen), unknown (unknown card), closed
 *       (outside opening hours): UTF-8, 1..160 bytes, no control characters.
 *       Absent: the UI's built-in text.
 *   screen.hours               {"mon": ["08:00-20:00", ...], ..., "sun": [...]}
 *       0..4 ranges "HH:MM-HH:MM" per day, start < end, end may be 24:00,
 *       in the device's local time. Absent: always open. Present: a day
 *       not listed is closed. Outside the hours a kiosk sleeps (shows the
 *       closed screen and ignores reads); handhelds ignore hours.
 *   cache.max_profiles         1..100000000                            1000000
 *   cache.max_bytes            1048576..68719476736                    1073741824
 *   sync.batch_max             1..500                                  100
 *   sync.resend_ms             1000..3600000                           30000
 *   sync.lookup_timeout_ms     0..10000                                1500
 *   sync.pull_ms               1000..86400000                          60000
 *   identifiers                object (docs/identifiers.md)
 * Gateway keys:
 *   gateway.log.level          as log.level                            info
 *   gateway.forward.window     1..1024                                 64
 *   gateway.forward.resend_ms  1000..3600000                           30000
 *   gateway.forward.reconnect_max_ms 250..300000                       10000
 *   gateway.stats_interval_s   1..86400                                60
 */
#ifndef COMMON_SETTINGS_H
#define COMMON_SETTINGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cJSON.h>

#ifdef __cplusplus
extern "C" {
#endif

#define RG_SETTINGS_TEXT_MAX 160
#define RG_SETTINGS_HOURS_RANGES 4

/* Check one document's settings object (strict). 0, or RG_ERR_CONFIG with
 * "key.path: what is wrong" in err. */
int rg_settings_check(const cJSON *settings, char *err, size_t errcap);

/* Deep merge of n layers, least specific first; NULL layers are skipped.
 * Returns a new object (cJSON_Delete it), or NULL when out of memory. The
 * result of checked layers is checked again by the caller
 * (rg_settings_check), which catches combinations (e.g. identifiers). */
cJSON *rg_settings_merge(const cJSON *const *layers, size_t n);

/* Typed view of the keys both the device and the gateway act on, from a
 * merged, checked object. Each has_* says whether the key was set. */
struct rg_settings_hours {
	bool set;		 /* screen.hours present */
	int n[7];		 /* ranges per day, 0 = Monday */
	int start[7][RG_SETTINGS_HOURS_RANGES]; /* minutes after midnight */
	int end[7][RG_SETTINGS_HOURS_RANGES];	/* exclusive; up to 1440 */
};
/* Whether the hours are open at local weekday wday (0 = Monday) and
 * minute of day; true when !h->set. */
bool rg_settings_hours_open(const struct rg_settings_hours *h, int wday, int minute);
int rg_settings_hours_get(const cJSON *merged, struct rg_settings_hours *out);

/* One line per leaf that differs between a and b (either may be NULL):
 * "- key: old", "+ key: new", or "~ key: old -> new", keys dotted, sorted.
 * Returns the number of differences. */
int rg_settings_diff(const cJSON *a, const cJSON *b, FILE *out);

/* The schema as Markdown table rows (docs/config.md is checked against it
 * by a test, so the documentation cannot drift). */
void rg_settings_schema_markdown(FILE *out);

#ifdef __cplusplus
}
#endif

#endif
