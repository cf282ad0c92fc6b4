/*
 * replica_schema.c - the store replica's numbered migrations (PRAGMA
 * user_version), the same pattern as the spool's. A released migration is
 * never edited: changes go in a new one at the end, and docs/replication.md
 * ("Gateway replica") changes with this file.
 */
#include <stddef.h>

#include "common/db.h"
#include "replica_internal.h"

static const char v1_sql[] =
    /* One row: where the replica stands with central, and a snapshot in
     * progress (snap_id != 0: resume after snap_after). floor = the oldest
     * "since" devices can still get changes for (raised by pruning and by a
     * snapshot that deleted profiles). epoch numbers the snapshots this
     * replica took; profiles.snap marks those a snapshot included. */
    "CREATE TABLE state("
    "  id INTEGER PRIMARY KEY CHECK (id = 1),"
    "  central_cursor INTEGER NOT NULL,"
    "  as_of_ms INTEGER NOT NULL,"
    "  floor INTEGER NOT NULL,"
    "  epoch INTEGER NOT NULL,"
    "  snap_id INTEGER NOT NULL,"
    "  snap_seq INTEGER NOT NULL,"
    "  snap_after TEXT NOT NULL,"
    "  snap_gseq INTEGER NOT NULL"
    ");"
    "INSERT INTO state VALUES (1, 0, 0, 0, 0, 0, 0, '', 0);"

    /* The profiles as central last described them. gseq = the log entry of
     * its last change (0: learned from a lookup only, partial = 1, and not
     * served to devices). hlc = rg_hlc_pack(). */
    "CREATE TABLE profiles("
    "  id TEXT PRIMARY KEY,"
    "  version INTEGER NOT NULL,"
    "  hlc INTEGER NOT NULL,"
    "  body TEXT NOT NULL,"
    "  gseq INTEGER NOT NULL,"
    "  partial INTEGER NOT NULL DEFAULT 0,"
    "  snap INTEGER NOT NULL DEFAULT 0"
    ") WITHOUT ROWID;"

    /* Tokens -> the profile they count for now. learned = 1: from a lookup
     * answer, not part of central's complete set (not served). */
    "CREATE TABLE identifiers("
    "  token BLOB PRIMARY KEY,"
    "  type TEXT NOT NULL,"
    "  profile_id TEXT NOT NULL,"
    "  learned INTEGER NOT NULL DEFAULT 0"
    ") WITHOUT ROWID;"
    "CREATE INDEX identifiers_by_profile ON identifiers(profile_id);"

    "CREATE TABLE merges("
    "  from_id TEXT PRIMARY KEY,"
    "  into_id TEXT NOT NULL,"
    "  gseq INTEGER NOT NULL"
    ") WITHOUT ROWID;"

    "CREATE TABLE tombstones("
    "  id TEXT PRIMARY KEY,"
    "  gseq INTEGER NOT NULL,"
    "  at_ms INTEGER NOT NULL"
    ") WITHOUT ROWID;"

    /* The gateway's change log: every change applied gets the next gseq
     * (AUTOINCREMENT: never reused, even after pruning). op = enum delta_op;
     * other = "into" of a merge/unmerge. */
    "CREATE TABLE log("
    "  gseq INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  op INTEGER NOT NULL CHECK (op BETWEEN 1 AND 4),"
    "  id TEXT NOT NULL,"
    "  other TEXT NOT NULL,"
    "  at_ms INTEGER NOT NULL"
    ");"
    "CREATE INDEX log_by_time ON log(at_ms);";

static const struct rg_migration migrations[] = {
    {1, "gateway replica: profiles, identifiers, merges, tombstones, log, state", v1_sql, NULL},
};

int gw_replica__migrate(struct rg_db *db)
{
	return rg_db_migrate(db, migrations, sizeof migrations / sizeof migrations[0], NULL);
}
