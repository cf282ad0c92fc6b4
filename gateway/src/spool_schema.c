/*
 * spool_schema.c - the spool's numbered migrations (PRAGMA user_version). A
 * released migration is never edited: changes go in a new one at the end,
 * and docs/gateway.md ("The spool") changes with this file.
 */
#include <stddef.h>

#include "common/db.h"
#include "spool_internal.h"

static const char v1_sql[] =
    /* store_id: the store this spool belongs to (checked at open). */
    "CREATE TABLE meta("
    "  key TEXT PRIMARY KEY,"
    "  value NOT NULL"
    ") WITHOUT ROWID;"

    /* One row of totals kept exact by the triggers below: the budget check
     * and the status line never scan. */
    "CREATE TABLE counters("
    "  id INTEGER PRIMARY KEY CHECK (id = 1),"
    "  bytes INTEGER NOT NULL,"
    "  items INTEGER NOT NULL,"
    "  b_priority INTEGER NOT NULL,"
    "  b_interactions INTEGER NOT NULL,"
    "  b_telemetry INTEGER NOT NULL"
    ");"
    "INSERT INTO counters VALUES (1, 0, 0, 0, 0, 0);"

    /* One accepted device batch, as received. seq orders everything;
     * pending = items not yet covered by central's acks; cost = what it
     * counts against the disk budget. digest = SHA-256 of payload, so a
     * device's resend of the same bytes is not spooled twice. */
    "CREATE TABLE batches("
    "  seq INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  device TEXT NOT NULL,"
    "  lane INTEGER NOT NULL CHECK (lane BETWEEN 0 AND 2),"
    "  batch TEXT NOT NULL,"
    "  digest BLOB NOT NULL,"
    "  payload BLOB NOT NULL,"
    "  items INTEGER NOT NULL CHECK (items > 0),"
    "  pending INTEGER NOT NULL CHECK (pending >= 0),"
    "  cost INTEGER NOT NULL,"
    "  received_ms INTEGER NOT NULL"
    ");"
    "CREATE INDEX batches_by_queue ON batches(device, lane, seq);"
    "CREATE INDEX batches_by_lane ON batches(lane, seq);"
    "CREATE UNIQUE INDEX batches_by_digest ON batches(device, digest);"

    /* The interaction ids of each batch not yet acked. */
    "CREATE TABLE items("
    "  id BLOB NOT NULL,"
    "  seq INTEGER NOT NULL,"
    "  PRIMARY KEY (id, seq)"
    ") WITHOUT ROWID;"
    "CREATE INDEX items_by_seq ON items(seq);"

    /* Every device that had a batch accepted: acks are relayed only to these
     * (or to the configured known devices). */
    "CREATE TABLE devices("
    "  id TEXT PRIMARY KEY,"
    "  first_ms INTEGER NOT NULL,"
    "  last_ms INTEGER NOT NULL"
    ") WITHOUT ROWID;"

    "CREATE TRIGGER batches_ins AFTER INSERT ON batches BEGIN"
    "  UPDATE counters SET bytes = bytes + NEW.cost, items = items + NEW.pending,"
    "   b_priority = b_priority + (NEW.lane = 0),"
    "   b_interactions = b_interactions + (NEW.lane = 1),"
    "   b_telemetry = b_telemetry + (NEW.lane = 2) WHERE id = 1;"
    " END;"
    "CREATE TRIGGER batches_del AFTER DELETE ON batches BEGIN"
    "  UPDATE counters SET bytes = bytes - OLD.cost, items = items - OLD.pending,"
    "   b_priority = b_priority - (OLD.lane = 0),"
    "   b_interactions = b_interactions - (OLD.lane = 1),"
    "   b_telemetry = b_telemetry - (OLD.lane = 2) WHERE id = 1;"
    "  DELETE FROM items WHERE seq = OLD.seq;"
    " END;"
    "CREATE TRIGGER batches_pending AFTER UPDATE OF pending ON batches BEGIN"
    "  UPDATE counters SET items = items - OLD.pending + NEW.pending WHERE id = 1;"
    " END;";

static const struct rg_migration migrations[] = {
    {1, "gateway spool: batches, items, devices, counters", v1_sql, NULL},
};

int gw_spool__migrate(struct rg_db *db)
{
	return rg_db_migrate(db, migrations, sizeof migrations / sizeof migrations[0], NULL);
}
