/*
 * schema.c - the device store's numbered migrations (PRAGMA user_version).
 * A released migration is never edited: changes go in a new one at the end.
 * docs/device-schema.md describes every table and must change with this file.
 */
#include <stddef.h>

#include "common/db.h"
#include "common/err.h"
#include "common/log.h"
#include "store_internal.h"

static const char v1_sql[] =
	/* Small values the store keeps across restarts: the last HLC stamp it
	 * issued ("hlc_last") and a sealed known value ("key_check") that tells a
	 * wrong key at open instead of at the first lookup. */
	"CREATE TABLE meta("
	"  key TEXT PRIMARY KEY,"
	"  value NOT NULL"
	") WITHOUT ROWID;"

	/* One row of counters, kept exact by the triggers below, so stats and
	 * the eviction check never scan. */
	"CREATE TABLE counters("
	"  id INTEGER PRIMARY KEY CHECK (id = 1),"
	"  profiles INTEGER NOT NULL,"
	"  profile_bytes INTEGER NOT NULL,"
	"  identifiers INTEGER NOT NULL,"
	"  outbox INTEGER NOT NULL"
	");"
	"INSERT INTO counters(id, profiles, profile_bytes, identifiers, outbox) VALUES (1, 0, 0, 0, 0);"

	/* The profile cache. body = nonce || AES-256-GCM(body JSON) || tag with
	 * the profile id as associated data; body_len = length(body). */
	"CREATE TABLE profiles("
	"  pid INTEGER PRIMARY KEY,"
	"  id TEXT NOT NULL UNIQUE,"
	"  version INTEGER NOT NULL CHECK (version >= 0),"
	"  hlc INTEGER NOT NULL CHECK (hlc >= 0),"
	"  body_len INTEGER NOT NULL,"
	"  body BLOB NOT NULL"
	");"

	/* last_seen of every cached profile, in a narrow table of its own: a
	 * batch of last_seen updates then rewrites a few small pages instead of
	 * every profile row (and its sealed body) it touches. */
	"CREATE TABLE profile_seen("
	"  pid INTEGER PRIMARY KEY,"
	"  last_seen INTEGER NOT NULL"
	");"
	"CREATE INDEX profile_seen_by_time ON profile_seen(last_seen);"

	/* token = HMAC-SHA256(tenant key, type || 0x00 || canonical value). */
	"CREATE TABLE identifiers("
	"  token BLOB PRIMARY KEY CHECK (typeof(token) = 'blob' AND length(token) = 32),"
	"  type TEXT NOT NULL,"
	"  profile_id TEXT NOT NULL,"
	"  created_ms INTEGER NOT NULL"
	") WITHOUT ROWID;"
	"CREATE INDEX identifiers_by_profile ON identifiers(profile_id);"

	/* old_id is now new_id; new_id is always a final id (chains compressed). */
	"CREATE TABLE merges("
	"  old_id TEXT PRIMARY KEY,"
	"  new_id TEXT NOT NULL CHECK (new_id != old_id),"
	"  merged_ms INTEGER NOT NULL"
	") WITHOUT ROWID;"
	"CREATE INDEX merges_by_new ON merges(new_id);"

	/* The outbox. Rows leave only through an end-to-end ack (DELETE). body
	 * is sealed like a profile body with associated data "outbox" 0x00 id. */
	"CREATE TABLE outbox("
	"  seq INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  id TEXT NOT NULL UNIQUE,"
	"  kind TEXT NOT NULL,"
	"  hlc INTEGER NOT NULL,"
	"  device_id TEXT NOT NULL,"
	"  store_id TEXT NOT NULL,"
	"  profile_id TEXT,"
	"  token BLOB CHECK (token IS NULL OR (typeof(token) = 'blob' AND length(token) = 32)),"
	"  body BLOB NOT NULL,"
	"  created_ms INTEGER NOT NULL,"
	"  sent_ms INTEGER,"
	"  attempts INTEGER NOT NULL DEFAULT 0"
	");"
	"CREATE INDEX outbox_by_profile ON outbox(profile_id);"

	"CREATE TRIGGER profiles_ins AFTER INSERT ON profiles BEGIN"
	"  UPDATE counters SET profiles = profiles + 1, profile_bytes = profile_bytes + NEW.body_len"
	"  WHERE id = 1;"
	" END;"
	"CREATE TRIGGER profiles_del AFTER DELETE ON profiles BEGIN"
	"  UPDATE counters SET profiles = profiles - 1, profile_bytes = profile_bytes - OLD.body_len"
	"  WHERE id = 1;"
	"  DELETE FROM profile_seen WHERE pid = OLD.pid;"
	" END;"
	"CREATE TRIGGER profiles_upd AFTER UPDATE OF body_len ON profiles BEGIN"
	"  UPDATE counters SET profile_bytes = profile_bytes - OLD.body_len + NEW.body_len"
	"  WHERE id = 1;"
	" END;"
	"CREATE TRIGGER identifiers_ins AFTER INSERT ON identifiers BEGIN"
	"  UPDATE counters SET identifiers = identifiers + 1 WHERE id = 1;"
	" END;"
	"CREATE TRIGGER identifiers_del AFTER DELETE ON identifiers BEGIN"
	"  UPDATE counters SET identifiers = identifiers - 1 WHERE id = 1;"
	" END;"
	"CREATE TRIGGER outbox_ins AFTER INSERT ON outbox BEGIN"
	"  UPDATE counters SET outbox = outbox + 1 WHERE id = 1;"
	" END;"
	"CREATE TRIGGER outbox_del AFTER DELETE ON outbox BEGIN"
	"  UPDATE counters SET outbox = outbox - 1 WHERE id = 1;"
	" END;";

static const char v2_sql[] =
	/* The identifier pipeline's state (identstate.c). App-token nonces seen,
	 * each kept until its token can no longer verify (forget_at, unix s);
	 * the index finds the forgettable ones, the counter bounds the table
	 * without counting it. */
	"CREATE TABLE ident_replay("
	"  nonce BLOB PRIMARY KEY CHECK (typeof(nonce) = 'blob' AND length(nonce) = 16),"
	"  forget_at INTEGER NOT NULL"
	") WITHOUT ROWID;"
	"CREATE INDEX ident_replay_by_forget ON ident_replay(forget_at);"
	"ALTER TABLE counters ADD COLUMN replay_nonces INTEGER NOT NULL DEFAULT 0;"
	"CREATE TRIGGER ident_replay_ins AFTER INSERT ON ident_replay BEGIN"
	"  UPDATE counters SET replay_nonces = replay_nonces + 1 WHERE id = 1;"
	" END;"
	"CREATE TRIGGER ident_replay_del AFTER DELETE ON ident_replay BEGIN"
	"  UPDATE counters SET replay_nonces = replay_nonces - 1 WHERE id = 1;"
	" END;"

	/* Wallet TOTP secrets, sealed by the pipeline (AES-256-GCM under the
	 * keystore's totp.key, the ref bound in), and the last time step
	 * accepted per customer (IDENT_TOTP_NO_STEP = INT64_MIN: none yet), so
	 * each code is used once. */
	"CREATE TABLE ident_totp("
	"  ref TEXT PRIMARY KEY CHECK (length(ref) BETWEEN 1 AND 64),"
	"  sealed BLOB NOT NULL CHECK (typeof(sealed) = 'blob' AND length(sealed) BETWEEN 1 AND 92),"
	"  last_step INTEGER NOT NULL,"
	"  updated_ms INTEGER NOT NULL"
	") WITHOUT ROWID;";

static const char v3_sql[] =
	/* Replication from the gateway (replica.c, docs/replication.md).
	 * Erased profile ids: kept, so a later delta or lookup answer for one
	 * is refused; seq is the gateway's seq of the erasure. */
	"CREATE TABLE tombstones("
	"  id TEXT PRIMARY KEY,"
	"  seq INTEGER NOT NULL,"
	"  erased_ms INTEGER NOT NULL"
	") WITHOUT ROWID;"

	/* One row: how far this cache is current with the gateway (cursor, in
	 * the gateway's seq), the gateway's newest seq and as_of as last heard,
	 * and a snapshot being fetched (snapshot = its id, 0: none; resumed
	 * after snapshot_after). */
	"CREATE TABLE sync_state("
	"  id INTEGER PRIMARY KEY CHECK (id = 1),"
	"  cursor INTEGER NOT NULL CHECK (cursor >= 0),"
	"  latest INTEGER NOT NULL,"
	"  as_of_ms INTEGER NOT NULL,"
	"  snapshot INTEGER NOT NULL,"
	"  snapshot_seq INTEGER NOT NULL,"
	"  snapshot_after TEXT NOT NULL,"
	"  snapshot_as_of_ms INTEGER NOT NULL,"
	"  updated_ms INTEGER NOT NULL"
	");"
	"INSERT INTO sync_state VALUES (1, 0, 0, 0, 0, 0, '', 0, 0);"

	/* The profile ids the snapshot being fetched has delivered so far (and
	 * profiles a lookup cached meanwhile): at its last chunk every cached
	 * profile not listed here is deleted, then the table is emptied. */
	"CREATE TABLE snapshot_ids("
	"  id TEXT PRIMARY KEY"
	") WITHOUT ROWID;";

static const struct rg_migration migrations[] = {
	{1, "device store: profiles, identifiers, merges, outbox", v1_sql, NULL},
	{2, "identifier state: app-token nonces, TOTP secrets and steps", v2_sql, NULL},
	{3, "replication: tombstones, sync cursor, snapshot progress", v3_sql, NULL},
};

int store__migrate(struct store *s)
{
	int rc = rg_db_migrate(s->db, migrations, sizeof migrations / sizeof migrations[0], NULL);
	if (rc < 0) {
		char q[300];
		rg_error(STORE_COMP, "migrate_failed", "error=%s detail=%s", rg_errname(rc),
			 rg_log_quote(q, sizeof q, rg_db_errmsg(s->db)));
	}
	return rc;
}
