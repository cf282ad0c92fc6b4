/*
 * cfgstate.h - what a receiver (a device, or a gateway for its own settings)
 * keeps of pushed configuration (docs/config.md): the trusted key set, the
 * applied document of each scope and its report, in a small SQLite file of
 * its own, so the last good configuration survives a reboot and is running
 * before the receiver reconnects.
 *
 * Every document offered is checked by cfgdoc_verify (or cfgdoc_rotate for
 * key sets) against the current key set and this receiver's store and
 * identity, then the merged result of all scopes is checked again
 * (rg_settings_check and the caller's validate hook) before anything is
 * written: apply is all or nothing, and a refused document leaves the
 * running configuration as it was, with the reason in the report.
 *
 * Rotation documents may arrive in any order (each is retained on its own
 * topic): one that is ahead of the current set is kept in memory until the
 * sets between arrive; documents refused for their signatures are offered
 * again after each rotation, so a retained document signed by new keys
 * that came before its rotation is not lost.
 *
 * Not thread-safe: one thread (the daemon's main loop) owns it.
 */
#ifndef COMMON_CFGSTATE_H
#define COMMON_CFGSTATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cJSON.h>

#include "common/cfgdoc.h"
#include "common/clock.h"

#ifdef __cplusplus
extern "C" {
#endif

struct cfgstate;

struct cfgstate_params {
	const char *path;		     /* the SQLite file; created with its directory's rights */
	const struct cfgdoc_keyset *anchor;  /* the provisioned trust anchor (copied) */
	const char *store;		     /* this receiver's store */
	const char *identity;		     /* this receiver's identity (device id or gw-<store>) */
	const struct rg_clock *clock;	     /* NULL: rg_clock_system() */
	/* Optional: the receiver's own check of a candidate merged settings
	 * object (e.g. that it overlays its config file cleanly); 0 or
	 * RG_ERR_CONFIG with "key: why" in err. Refusals become CFGDOC_INVALID. */
	int (*validate)(void *ctx, const cJSON *merged, char *err, size_t errcap);
	void *ctx;
};

/* Open or create the state. A persisted key set newer than the anchor wins
 * (rotation survives reboots; an old anchor file cannot roll it back); an
 * anchor of another tenant than the persisted set is RG_ERR_VERIFY. */
int cfgstate_open(const struct cfgstate_params *p, struct cfgstate **out, char *err,
		  size_t errcap);
void cfgstate_close(struct cfgstate *s);

/*
 * A message for scope arrived (the scope its topic names). Returns 1 when
 * the applied configuration changed (call cfgstate_merged and apply it),
 * 0 when nothing changed (an empty payload, the applied document again
 * byte for byte, a rotation kept for later or applied without a settings
 * change), or a negative rg_err on a local failure (disk). A refusal
 * returns 0 with *reason (may be NULL) set and is in the report and the log.
 */
int cfgstate_offer(struct cfgstate *s, enum cfgdoc_scope scope, const void *payload, size_t len,
		   enum cfgdoc_reason *reason);

/* The merged settings of the applied documents (tenant < store < device): a
 * new object ({} when none), cJSON_Delete it. NULL when out of memory. */
cJSON *cfgstate_merged(struct cfgstate *s);

/*
 * The report for the status topic (a new object):
 *   {"keys": {"version": 2},
 *    "tenant": {"status": "applied", "version": 3, "applied_at": "...", "expires": "..."},
 *    "store":  {"status": "rejected", "version": 5, "applied_at": "...", "expires": "...",
 *               "rejected_version": 6, "reason": "signature", "detail": "...", "at": "..."},
 *    "device": {"status": "none", "version": 0}}
 * status: none (nothing applied), applied, expired (the applied document's
 * expiry has passed: it keeps running, IT must see it), rejected (the last
 * document offered for the scope was refused; "version" is still the one
 * running). Times RFC 3339 UTC.
 */
cJSON *cfgstate_report(struct cfgstate *s);

/* Re-check expiry now; true if the report changed (publish it again). */
bool cfgstate_tick(struct cfgstate *s);

/* The applied version of a scope (0: none) and the current key set. */
int64_t cfgstate_version(const struct cfgstate *s, enum cfgdoc_scope scope);
const struct cfgdoc_keyset *cfgstate_keys(const struct cfgstate *s);

#ifdef __cplusplus
}
#endif

#endif
