/*
 * store.c - opening and closing the device store (config checks, migration,
 * the key check, restoring the HLC), its lock, stats, and the small helpers
 * the other store files share. The store owns its rg_db; nobody else may
 * touch that connection.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "common/err.h"
#include "common/json.h"
#include "common/log.h"
#include "store_internal.h"

#define DEFAULT_MAX_PROFILES 1000000
#define DEFAULT_MAX_BYTES ((int64_t)1 << 30)
#define MIN_MAX_BYTES 4096
#define DEFAULT_SEEN_MS 60000
#define DEFAULT_CACHE_KIB 8192
#define DEFAULT_SEEN_PENDING 65536
#define MIN_SEEN_PENDING 16
#define MAX_SEEN_PENDING (1 << 20)
#define MAX_CACHE_KIB (1024 * 1024)

static const char key_check_plain[] = "regulars device store key check v1";
/* A NUL inside: no profile id or outbox id can produce this AAD. */
static const char key_check_aad[] = "meta\0key_check";

int store__lock(struct store *s)
{
	int e = pthread_mutex_lock(&s->lock);
	if (e == EDEADLK) {
		rg_error(STORE_COMP, "reentered", "error=\"store called from its own callback\"");
		return RG_ERR_STATE;
	}
	return e ? RG_ERR_STATE : 0;
}

void store__unlock(struct store *s)
{
	pthread_mutex_unlock(&s->lock);
}

int store__id_valid(const char *id)
{
	size_t n = 0;
	if (!id || !*id || *id == '-')
		return 0;
	for (; id[n]; n++) {
		char c = id[n];
		if (n >= STORE_ID_MAX)
			return 0;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_' || c == '.' || c == ':'))
			return 0;
	}
	return 1;
}

int store__type_valid(const char *type)
{
	size_t n = 0;
	if (!type || !*type)
		return 0;
	for (; type[n]; n++) {
		char c = type[n];
		if (n >= STORE_TYPE_MAX)
			return 0;
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
			return 0;
	}
	return 1;
}

static int store_id_valid(const char *id)
{
	size_t n = 0;
	if (!id || !*id || *id == '-')
		return 0;
	for (; id[n]; n++) {
		char c = id[n];
		if (n >= STORE_STORE_ID_MAX)
			return 0;
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
			return 0;
	}
	return 1;
}

int store__json_object(const char *text, size_t len, size_t max)
{
	cJSON *root = NULL;
	int rc;

	if (!text)
		return RG_ERR_INVAL;
	if (len > max)
		return RG_ERR_TOOBIG;
	if (memchr(text, '\0', len) || !rg_utf8_valid(text, len))
		return RG_ERR_PARSE;
	if ((rc = rg_json_parse(text, len, max, &root, NULL, 0)) < 0)
		return rc;
	rc = cJSON_IsObject(root) ? 0 : RG_ERR_TYPE;
	cJSON_Delete(root);
	return rc;
}

int store__db_fail(struct store *s, const char *what, int rc)
{
	char q[300];
	rg_error(STORE_COMP, "db_failed", "op=%s error=%s detail=%s", what, rg_errname(rc),
		 rg_log_quote(q, sizeof q, rg_db_errmsg(s->db)));
	return rc;
}

int store__prepare(struct store *s, const char *sql, sqlite3_stmt **st)
{
	int rc = rg_db_prepare(s->db, sql, st);
	return rc < 0 ? store__db_fail(s, "prepare", rc) : 0;
}

int store__exists(struct store *s, const char *sql, const char *arg, const char *what)
{
	sqlite3_stmt *st;
	int rc = store__prepare(s, sql, &st);
	if (rc < 0)
		return rc;
	sqlite3_bind_text(st, 1, arg, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc == SQLITE_ROW)
		return 1;
	if (rc == SQLITE_DONE)
		return 0;
	return store__db_fail(s, what, rg_db_err(rc) ? rg_db_err(rc) : RG_ERR_DB);
}

int store__step_done(struct store *s, sqlite3_stmt *st, const char *what)
{
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc == SQLITE_DONE || rc == SQLITE_ROW)
		return 0;
	rc = rg_db_err(rc);
	char q[300];
	rg_error(STORE_COMP, "db_failed", "op=%s error=%s detail=%s", what,
		 rg_errname(rc ? rc : RG_ERR_DB),
		 rg_log_quote(q, sizeof q, sqlite3_errmsg(rg_db_handle(s->db))));
	return rc ? rc : RG_ERR_DB;
}

int store__begin(struct store *s, const char *what)
{
	int rc = rg_db_begin(s->db);
	return rc < 0 ? store__db_fail(s, what, rc) : 0;
}

int store__begin_lazy(struct store *s, const char *what)
{
	int rc = rg_db_begin_lazy(s->db);
	return rc < 0 ? store__db_fail(s, what, rc) : 0;
}

int store__commit(struct store *s, const char *what)
{
	int rc = rg_db_commit(s->db);
	if (rc < 0) {
		store__db_fail(s, what, rc);
		rg_db_rollback(s->db);
	}
	return rc;
}

int store__hlc_save(struct store *s)
{
	sqlite3_stmt *st;
	int rc = store__prepare(s,
				"INSERT INTO meta(key, value) VALUES ('hlc_last', ?1) "
				"ON CONFLICT(key) DO UPDATE SET value = max(value, excluded.value)",
				&st);
	if (rc < 0)
		return rc;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)rg_hlc_pack(&s->hlc.last));
	return store__step_done(s, st, "hlc_save");
}

int store__counters(struct store *s, int64_t *profiles, int64_t *bytes, int64_t *identifiers,
		    int64_t *outbox)
{
	sqlite3_stmt *st;
	int rc = store__prepare(
	    s, "SELECT profiles, profile_bytes, identifiers, outbox FROM counters WHERE id = 1",
	    &st);
	if (rc < 0)
		return rc;
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		sqlite3_reset(st);
		return store__db_fail(s, "counters", rg_db_err(rc) ? rg_db_err(rc) : RG_ERR_DB);
	}
	if (profiles)
		*profiles = sqlite3_column_int64(st, 0);
	if (bytes)
		*bytes = sqlite3_column_int64(st, 1);
	if (identifiers)
		*identifiers = sqlite3_column_int64(st, 2);
	if (outbox)
		*outbox = sqlite3_column_int64(st, 3);
	sqlite3_reset(st);
	return 0;
}

static int config_check(const struct store_config *c)
{
	if (!c || !c->path || !*c->path || !c->key)
		return RG_ERR_INVAL;
	if (!rg_wire_identity_valid(c->device_id)) {
		rg_error(STORE_COMP, "config_invalid",
			 "error=\"device_id must be 1-64 of [a-z0-9-], not starting with '-'\"");
		return RG_ERR_INVAL;
	}
	if (!store_id_valid(c->store_id)) {
		rg_error(STORE_COMP, "config_invalid",
			 "error=\"store_id must be 1-32 of [a-z0-9-], not starting with '-'\"");
		return RG_ERR_INVAL;
	}
	if (c->max_profiles < 0 || c->max_bytes < 0 ||
	    (c->max_bytes && c->max_bytes < MIN_MAX_BYTES) || c->seen_resolution_ms < 0 ||
	    c->seen_flush_ms < 0 || c->cache_kib < 0 || c->cache_kib > MAX_CACHE_KIB ||
	    c->hlc_max_offset_ms < 0 ||
	    (c->seen_pending_max &&
	     (c->seen_pending_max < MIN_SEEN_PENDING || c->seen_pending_max > MAX_SEEN_PENDING))) {
		rg_error(STORE_COMP, "config_invalid",
			 "error=\"a limit is out of range\" max_profiles=%lld max_bytes=%lld "
			 "min_max_bytes=%d cache_kib=%d",
			 (long long)c->max_profiles, (long long)c->max_bytes, MIN_MAX_BYTES,
			 c->cache_kib);
		return RG_ERR_RANGE;
	}
	return 0;
}

/* Seal a known value on first open; on later opens it must open again. */
static int key_check(struct store *s)
{
	uint8_t sealed[sizeof key_check_plain + RG_AEAD_OVERHEAD];
	char plain[sizeof key_check_plain];
	sqlite3_stmt *st;
	int rc, n;

	if ((rc = store__prepare(s, "SELECT value FROM meta WHERE key = 'key_check'", &st)) < 0)
		return rc;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		const void *b = sqlite3_column_blob(st, 0);
		int len = sqlite3_column_bytes(st, 0);
		n = b && len > 0 ? rg_aead_open(s->key, key_check_aad, sizeof key_check_aad, b,
						(size_t)len, (uint8_t *)plain, sizeof plain)
				 : RG_ERR_VERIFY;
		sqlite3_reset(st);
		if (n != (int)sizeof key_check_plain ||
		    memcmp(plain, key_check_plain, sizeof key_check_plain) != 0) {
			rg_error(STORE_COMP, "key_mismatch",
				 "error=\"the database was created under another key\"");
			return RG_ERR_VERIFY;
		}
		return 0;
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return store__db_fail(s, "key_check", rg_db_err(rc) ? rg_db_err(rc) : RG_ERR_DB);
	n = rg_aead_seal(s->key, key_check_aad, sizeof key_check_aad, key_check_plain,
			 sizeof key_check_plain, sealed, sizeof sealed, s->rand);
	if (n < 0)
		return n;
	if ((rc = store__prepare(s, "INSERT INTO meta(key, value) VALUES ('key_check', ?1)", &st)) <
	    0)
		return rc;
	sqlite3_bind_blob(st, 1, sealed, n, SQLITE_TRANSIENT);
	return store__step_done(s, st, "key_check");
}

/* The HLC must never go backwards across restarts, even if the wall clock
 * did: start from the last stamp this store issued or observed. */
static int hlc_restore(struct store *s)
{
	sqlite3_stmt *st;
	int rc = store__prepare(s, "SELECT value FROM meta WHERE key = 'hlc_last'", &st);
	if (rc < 0)
		return rc;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		struct rg_hlc last;
		rg_hlc_unpack((uint64_t)sqlite3_column_int64(st, 0), &last);
		if (rg_hlc_cmp(&last, &s->hlc.last) > 0)
			s->hlc.last = last;
	}
	sqlite3_reset(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0
						     : store__db_fail(s, "hlc_restore", RG_ERR_DB);
}

int store_open(const struct store_config *cfg, struct store **out)
{
	struct rg_db_opts dbo = {.durability = RG_DB_DURABLE};
	pthread_mutexattr_t ma;
	struct store *s;
	char q[300], sql[64];
	int rc;
	int64_t np = 0, nb = 0, ni = 0, no = 0;

	if (!out)
		return RG_ERR_INVAL;
	*out = NULL;
	if ((rc = config_check(cfg)) < 0)
		return rc;
	if (!(s = calloc(1, sizeof *s)))
		return RG_ERR_NOMEM;
	pthread_mutexattr_init(&ma);
	pthread_mutexattr_settype(&ma, PTHREAD_MUTEX_ERRORCHECK);
	rc = pthread_mutex_init(&s->lock, &ma);
	pthread_mutexattr_destroy(&ma);
	if (rc) {
		free(s);
		return RG_ERR_NOMEM;
	}
	if ((rc = store__seen_init(s, cfg->seen_pending_max ? (size_t)cfg->seen_pending_max
							    : DEFAULT_SEEN_PENDING)) < 0) {
		pthread_mutex_destroy(&s->lock);
		free(s);
		return rc;
	}
	memcpy(s->key, cfg->key, STORE_KEY_LEN);
	snprintf(s->device_id, sizeof s->device_id, "%s", cfg->device_id);
	snprintf(s->store_id, sizeof s->store_id, "%s", cfg->store_id);
	s->max_profiles = cfg->max_profiles ? cfg->max_profiles : DEFAULT_MAX_PROFILES;
	s->max_bytes = cfg->max_bytes ? cfg->max_bytes : DEFAULT_MAX_BYTES;
	s->seen_resolution_ms = cfg->seen_resolution_ms ? cfg->seen_resolution_ms : DEFAULT_SEEN_MS;
	s->seen_flush_ms = cfg->seen_flush_ms ? cfg->seen_flush_ms : DEFAULT_SEEN_MS;
	s->clock = cfg->clock ? cfg->clock : rg_clock_system();
	s->rand = cfg->rand ? cfg->rand : rg_rand_system();
	rg_hlc_init(&s->hlc, s->clock, cfg->hlc_max_offset_ms);
	rg_uuid7_gen_init(&s->uuids, s->clock, s->rand);

	if ((rc = rg_db_open(cfg->path, &dbo, &s->db)) < 0) {
		rg_error(STORE_COMP, "open_failed", "path=%s error=%s",
			 rg_log_quote(q, sizeof q, cfg->path), rg_errname(rc));
		goto fail;
	}
	snprintf(sql, sizeof sql, "PRAGMA cache_size = -%d",
		 cfg->cache_kib ? cfg->cache_kib : DEFAULT_CACHE_KIB);
	/* Deleted rows (an erasure, an eviction) are zeroed in the file, not
	 * left in free pages. */
	if ((rc = rg_db_exec(s->db, sql)) < 0 ||
	    (rc = rg_db_exec(s->db, "PRAGMA secure_delete = ON")) < 0 || (rc = store__migrate(s)) < 0 ||
	    (rc = key_check(s)) < 0 || (rc = hlc_restore(s)) < 0 ||
	    (rc = store__sync_load(s)) < 0 ||
	    (rc = store__counters(s, &np, &nb, &ni, &no)) < 0) {
		rg_error(STORE_COMP, "open_failed", "path=%s error=%s",
			 rg_log_quote(q, sizeof q, cfg->path), rg_errname(rc));
		goto fail;
	}
	rg_info(STORE_COMP, "opened",
		"path=%s schema=%d profiles=%lld profile_bytes=%lld identifiers=%lld outbox=%lld "
		"max_profiles=%lld max_bytes=%lld",
		rg_log_quote(q, sizeof q, cfg->path), rg_db_user_version(s->db), (long long)np,
		(long long)nb, (long long)ni, (long long)no, (long long)s->max_profiles,
		(long long)s->max_bytes);
	*out = s;
	return 0;
fail:
	rg_db_close(s->db);
	rg_wipe(s->key, sizeof s->key);
	pthread_mutex_destroy(&s->lock);
	free(s->seen);
	free(s);
	return rc;
}

void store_close(struct store *s)
{
	if (!s)
		return;
	if (store__lock(s) == 0) {
		if (s->seen_count && store__seen_flush(s) < 0)
			rg_warn(STORE_COMP, "seen_lost", "count=%zu", s->seen_count);
		store__unlock(s);
	}
	rg_db_close(s->db);
	rg_wipe(s->key, sizeof s->key);
	rg_wipe(s->plain, sizeof s->plain);
	pthread_mutex_destroy(&s->lock);
	free(s->seen);
	free(s);
}

int store_flush(struct store *s)
{
	int rc;
	if (!s)
		return RG_ERR_INVAL;
	if ((rc = store__lock(s)) < 0)
		return rc;
	rc = store__seen_flush(s);
	store__unlock(s);
	return rc;
}

int store_schema_version(struct store *s)
{
	int rc;
	if (!s)
		return RG_ERR_INVAL;
	if ((rc = store__lock(s)) < 0)
		return rc;
	rc = rg_db_user_version(s->db);
	store__unlock(s);
	return rc;
}

static int stats_locked(struct store *s, struct store_stats *o)
{
	sqlite3_stmt *st;
	int rc;

	o->schema_version = rg_db_user_version(s->db);
	if (o->schema_version < 0)
		return o->schema_version;
	if ((rc = store__counters(s, &o->profiles, &o->profile_bytes, &o->identifiers,
				  &o->outbox)) < 0)
		return rc;
	if ((rc = store__prepare(s, "SELECT count(*) FROM merges", &st)) < 0)
		return rc;
	if (sqlite3_step(st) == SQLITE_ROW)
		o->merges = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	if ((rc = store__prepare(s, "SELECT count(*) FROM outbox WHERE sent_ms IS NULL", &st)) < 0)
		return rc;
	if (sqlite3_step(st) == SQLITE_ROW)
		o->outbox_unsent = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	if ((rc = store__prepare(s, "SELECT created_ms FROM outbox ORDER BY seq LIMIT 1", &st)) < 0)
		return rc;
	o->outbox_oldest_age_ms = -1;
	if (sqlite3_step(st) == SQLITE_ROW) {
		int64_t age = rg_clock_wall_ms(s->clock) - sqlite3_column_int64(st, 0);
		o->outbox_oldest_age_ms = age > 0 ? age : 0;
	}
	sqlite3_reset(st);
	o->max_profiles = s->max_profiles;
	o->max_bytes = s->max_bytes;
	o->evicted = s->evicted;
	o->seen_pending = (int64_t)s->seen_count;
	return 0;
}

int store_stats_get(struct store *s, struct store_stats *out)
{
	int rc;
	if (!out)
		return RG_ERR_INVAL;
	memset(out, 0, sizeof *out);
	if (!s)
		return RG_ERR_INVAL;
	if ((rc = store__lock(s)) < 0)
		return rc;
	rc = stats_locked(s, out);
	store__unlock(s);
	if (rc < 0)
		memset(out, 0, sizeof *out);
	return rc;
}
