/*
 * sqlite_schema.c - the SQLite backend's numbered migrations (PRAGMA
 * user_version). A released migration is never edited: changes go in a new
 * one at the end. docs/cloud.md describes every table; change both together.
 */
#include <stddef.h>

#include "common/db.h"
#include "common/err.h"
#include "common/log.h"
#include "sqlite_internal.h"

static const char v1_sql[] =
    /* Profiles: the imported body as given, plus the derived state that
     * interactions maintain. hlc and the *_hlc columns hold packed HLC
     * stamps (integer order = stamp order). An erased profile keeps its
     * row as a tombstone (erased = 1, body '{}') so nothing can revive it. */
    "CREATE TABLE profiles("
    "  pid INTEGER PRIMARY KEY,"
    "  id TEXT NOT NULL UNIQUE,"
    "  version INTEGER NOT NULL CHECK (version >= 0),"
    "  hlc INTEGER NOT NULL CHECK (hlc >= 0),"
    "  body TEXT NOT NULL,"
    "  erased INTEGER NOT NULL DEFAULT 0,"
    "  erased_hlc INTEGER,"
    "  visits INTEGER NOT NULL DEFAULT 0,"
    "  last_seen_ms INTEGER NOT NULL DEFAULT 0,"
    "  points_delta INTEGER NOT NULL DEFAULT 0,"
    "  consent TEXT,"
    "  consent_hlc INTEGER,"
    "  consent_dev TEXT,"
    "  updated_ms INTEGER NOT NULL"
    ");"

    /* Per-key last-writer-wins preferences: (hlc, device) decides. */
    "CREATE TABLE preferences("
    "  profile_id TEXT NOT NULL,"
    "  key TEXT NOT NULL,"
    "  value TEXT NOT NULL,"
    "  hlc INTEGER NOT NULL,"
    "  device TEXT NOT NULL,"
    "  PRIMARY KEY (profile_id, key)"
    ") WITHOUT ROWID;"

    "CREATE TABLE episodes("
    "  profile_id TEXT NOT NULL,"
    "  episode_id TEXT NOT NULL,"
    "  department TEXT NOT NULL,"
    "  title TEXT NOT NULL,"
    "  status TEXT NOT NULL,"
    "  opened_hlc INTEGER NOT NULL,"
    "  updated_hlc INTEGER NOT NULL,"
    "  PRIMARY KEY (profile_id, episode_id)"
    ") WITHOUT ROWID;"

    /* The newest CLOUD_RECENT_MAX interactions worth showing, per profile. */
    "CREATE TABLE recent("
    "  profile_id TEXT NOT NULL,"
    "  hlc INTEGER NOT NULL,"
    "  interaction_id TEXT NOT NULL,"
    "  kind TEXT NOT NULL,"
    "  channel TEXT NOT NULL,"
    "  department TEXT NOT NULL,"
    "  summary TEXT NOT NULL,"
    "  PRIMARY KEY (profile_id, hlc, interaction_id)"
    ") WITHOUT ROWID;"

    "CREATE TABLE identifiers("
    "  token BLOB PRIMARY KEY CHECK (typeof(token) = 'blob' AND length(token) = 32),"
    "  profile_id TEXT NOT NULL,"
    "  type TEXT NOT NULL,"
    "  hlc INTEGER NOT NULL"
    ") WITHOUT ROWID;"
    "CREATE INDEX identifiers_by_profile ON identifiers(profile_id);"

    /* Every interaction ever received, once (id UNIQUE), in the order of
     * application (seq, over all workers sharing the file). */
    "CREATE TABLE interactions("
    "  seq INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  id TEXT NOT NULL UNIQUE,"
    "  device TEXT NOT NULL,"
    "  store TEXT NOT NULL,"
    "  batch TEXT NOT NULL,"
    "  hlc INTEGER NOT NULL,"
    "  kind TEXT NOT NULL,"
    "  profile_id TEXT,"
    "  resolved_id TEXT,"
    "  token BLOB,"
    "  body TEXT NOT NULL,"
    "  outcome TEXT NOT NULL,"
    "  applied_ms INTEGER NOT NULL"
    ");"
    "CREATE INDEX interactions_by_profile ON interactions(resolved_id);"

    "CREATE TABLE unknown_tokens("
    "  token BLOB PRIMARY KEY,"
    "  first_hlc INTEGER NOT NULL,"
    "  last_hlc INTEGER NOT NULL,"
    "  count INTEGER NOT NULL,"
    "  last_device TEXT NOT NULL,"
    "  last_store TEXT NOT NULL"
    ") WITHOUT ROWID;"

    /* Per device and lane: the order of application as central saw it. */
    "CREATE TABLE devices("
    "  device TEXT NOT NULL,"
    "  lane TEXT NOT NULL,"
    "  store TEXT NOT NULL,"
    "  applied INTEGER NOT NULL,"
    "  last_hlc INTEGER NOT NULL,"
    "  last_seq INTEGER NOT NULL,"
    "  out_of_order INTEGER NOT NULL,"
    "  updated_ms INTEGER NOT NULL,"
    "  PRIMARY KEY (device, lane)"
    ") WITHOUT ROWID;"

    /* The change log: one row per profile change, seq strictly increasing
     * and never reused (AUTOINCREMENT). "changes since N" reads it. */
    "CREATE TABLE changes("
    "  seq INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  profile_id TEXT NOT NULL,"
    "  version INTEGER NOT NULL,"
    "  hlc INTEGER NOT NULL,"
    "  what TEXT NOT NULL,"
    "  at_ms INTEGER NOT NULL"
    ");"
    "CREATE INDEX changes_by_profile ON changes(profile_id);";

/* The identity graph (link, merge, unmerge), operator erasure and the
 * interactions other channels import (docs/cloud.md, "The identity graph"). */
static const char v2_sql[] =
    /* A merged-away profile redirects to its survivor. */
    "ALTER TABLE profiles ADD COLUMN merged_into TEXT;"
    "CREATE INDEX profiles_by_merged ON profiles(merged_into) WHERE merged_into IS NOT NULL;"

    /* profile_id: whose the token is now (the survivor of any merges);
     * owner_id: the profile it was linked to. Unmerge moves a token back to
     * its owner, and an item arriving through it is attributed to the owner. */
    "ALTER TABLE identifiers ADD COLUMN owner_id TEXT;"
    "UPDATE identifiers SET owner_id = profile_id;"

    /* Imported interactions name their channel and department; device items
     * carry them in the body (NULL here). */
    "ALTER TABLE interactions ADD COLUMN channel TEXT;"
    "ALTER TABLE interactions ADD COLUMN department TEXT;"

    /* episode_assigned: the department by last-writer-wins on its own stamp. */
    "ALTER TABLE episodes ADD COLUMN assigned_hlc INTEGER NOT NULL DEFAULT 0;"

    /* merge/unmerge name the other profile; unlink the one that took it. */
    "ALTER TABLE changes ADD COLUMN other_id TEXT;"

    /* Every merge, for ever: who, when, and (merge_identifiers) what moved. */
    "CREATE TABLE merges("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  from_id TEXT NOT NULL,"
    "  into_id TEXT NOT NULL,"
    "  hlc INTEGER NOT NULL,"
    "  actor TEXT NOT NULL,"
    "  at_ms INTEGER NOT NULL,"
    "  moved INTEGER NOT NULL,"
    "  undone_hlc INTEGER,"
    "  undone_actor TEXT,"
    "  undone_ms INTEGER"
    ");"
    "CREATE INDEX merges_by_from ON merges(from_id);"
    "CREATE INDEX merges_by_into ON merges(into_id);"
    "CREATE TABLE merge_identifiers("
    "  merge_id INTEGER NOT NULL,"
    "  token BLOB NOT NULL,"
    "  type TEXT NOT NULL,"
    "  owner_id TEXT NOT NULL,"
    "  PRIMARY KEY (merge_id, token)"
    ") WITHOUT ROWID;";

/* Replication (docs/replication.md): which merge a merge/unmerge change row
 * belongs to (tells the absorbed side from the survivor), how far the
 * change log was pruned, and the snapshots in progress. */
static const char v3_sql[] =
    "ALTER TABLE changes ADD COLUMN merge_id INTEGER;"
    "CREATE TABLE repl_meta("
    "  key TEXT PRIMARY KEY,"
    "  value INTEGER NOT NULL"
    ") WITHOUT ROWID;"
    "CREATE TABLE repl_snapshots("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  seq INTEGER NOT NULL,"
    "  started_ms INTEGER NOT NULL"
    ");"
    /* "an interaction at that store in the last N days" */
    "CREATE INDEX interactions_by_store ON interactions(store, resolved_id, hlc);";

/* Fewer indexes on the two tables every item writes to: each index entry
 * of an item lands on a random page (profiles are random), and those pages
 * are most of what a batch's commit writes. One index on (resolved_id,
 * store, hlc) answers both "this person's interactions" (unmerge) and "at
 * that store since" (the replication policy); nothing reads changes by
 * profile. */
static const char v4_sql[] =
    "DROP INDEX interactions_by_profile;"
    "DROP INDEX interactions_by_store;"
    "CREATE INDEX interactions_by_person ON interactions(resolved_id, store, hlc);"
    "DROP INDEX changes_by_profile;";

static const struct rg_migration migrations[] = {
    {1, "central store: profiles, derived state, identifiers, interactions, devices, changes",
     v1_sql, NULL},
    {2, "identity graph: merges, redirects, identifier owners, imported channels", v2_sql, NULL},
    {3, "replication: merge ids on change rows, pruning, snapshots", v3_sql, NULL},
    {4, "one index for interactions by person and store; none on changes by profile", v4_sql,
     NULL},
};

int sq__migrate(struct rg_db *db)
{
	int rc = rg_db_migrate(db, migrations, sizeof migrations / sizeof migrations[0], NULL);
	if (rc < 0) {
		char q[300];
		rg_error(CLOUD_COMP, "migrate_failed", "error=%s detail=%s", rg_errname(rc),
			 rg_log_quote(q, sizeof q, rg_db_errmsg(db)));
	}
	return rc;
}
