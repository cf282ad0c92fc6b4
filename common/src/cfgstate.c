/*
 * cfgstate.c - a receiver's pushed configuration (common/include/common/
 * cfgstate.h, docs/config.md): the trusted key set, the applied document of
 * each scope and the last refusal of each scope, in an SQLite file of its
 * own (durable, one transaction per change), plus what is only kept in
 * memory: rotation documents that arrived ahead of their predecessors and
 * the latest document of each scope refused for its signatures, offered
 * again after a rotation. One thread owns a cfgstate.
 */
#include "common/cfgstate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/db.h"
#include "common/err.h"
#include "common/json.h"
#include "common/log.h"
#include "common/settings.h"

#define COMP "config"
#define AHEAD_MAX 16 /* rotation documents kept until their predecessors arrive */
#define DETAIL_MAX 256
#define N_DOC_SCOPES 3 /* tenant, store, device */

struct scope_state {
	/* the applied document */
	bool has;
	int64_t version;
	uint8_t digest[RG_SHA256_LEN];	   /* of the document bytes */
	uint8_t env_digest[RG_SHA256_LEN]; /* of the envelope bytes */
	int64_t applied_ms, expires;
	bool expired;
	cJSON *settings;
	/* the last refusal, until a document of the scope is applied */
	bool rejected;
	int64_t rej_version; /* what the refused document claims; 0: unreadable */
	enum cfgdoc_reason rej_reason;
	char rej_detail[DETAIL_MAX];
	int64_t rej_ms;
	uint8_t rej_digest[RG_SHA256_LEN]; /* of the refused envelope */
	/* the latest envelope refused for its signatures (memory only) */
	uint8_t *pending;
	size_t pending_len;
};

struct ahead {
	int64_t version;
	uint8_t *env;
	size_t len;
};

struct cfgstate {
	struct rg_db *db;
	char path[256];
	const struct rg_clock *clock;
	char store[CFGDOC_STORE_MAX + 1];
	char identity[CFGDOC_DEVICE_MAX + 1];
	int (*validate)(void *ctx, const cJSON *merged, char *err, size_t errcap);
	void *ctx;
	struct cfgdoc_keyset keys;
	struct scope_state sc[CFGDOC_SCOPE__COUNT]; /* [KEYS]: only its refusal */
	struct ahead ahead[AHEAD_MAX];
	size_t n_ahead;
};

static const char v1_sql[] =
    /* The trusted key set: the anchor, or the last rotation applied. */
    "CREATE TABLE keyset("
    "  id INTEGER PRIMARY KEY CHECK (id = 1),"
    "  tenant TEXT NOT NULL,"
    "  version INTEGER NOT NULL,"
    "  json TEXT NOT NULL,"
    "  updated_ms INTEGER NOT NULL"
    ");"
    /* The applied document per scope, as received (envelope), with what
     * the report shows. digest = SHA-256 of the document bytes. */
    "CREATE TABLE applied("
    "  scope TEXT PRIMARY KEY CHECK (scope IN ('tenant', 'store', 'device')),"
    "  version INTEGER NOT NULL,"
    "  digest BLOB NOT NULL,"
    "  envelope BLOB NOT NULL,"
    "  applied_ms INTEGER NOT NULL,"
    "  expires INTEGER NOT NULL"
    ") WITHOUT ROWID;"
    /* The last refusal per scope (and for rotations: 'keys'); deleted when
     * a document of the scope is applied. */
    "CREATE TABLE refused("
    "  scope TEXT PRIMARY KEY,"
    "  version INTEGER NOT NULL,"
    "  reason TEXT NOT NULL,"
    "  detail TEXT NOT NULL,"
    "  envelope_digest BLOB NOT NULL,"
    "  at_ms INTEGER NOT NULL"
    ") WITHOUT ROWID;";

static const struct rg_migration migrations[] = {
    {1, "config state", v1_sql, NULL},
};

static int64_t now_ms(const struct cfgstate *s)
{
	return rg_clock_wall_ms(s->clock);
}

/* Floor division: a wall clock before 1970 must not round up. */
static int64_t secs(int64_t ms)
{
	return ms >= 0 ? ms / 1000 : -((-ms + 999) / 1000);
}

static int reason_parse(const char *name)
{
	for (int r = 0; name && r < CFGDOC_REASON__COUNT; r++)
		if (!strcmp(name, cfgdoc_reason_name((enum cfgdoc_reason)r)))
			return r;
	return CFGDOC_MALFORMED;
}

static void clear_pending(struct scope_state *sc)
{
	free(sc->pending);
	sc->pending = NULL;
	sc->pending_len = 0;
}

static uint8_t *dup_bytes(const void *p, size_t n)
{
	uint8_t *c = malloc(n ? n : 1);
	if (c && n)
		memcpy(c, p, n);
	return c;
}

/* The version a document claims, without any check (0 if unreadable):
 * for deferring rotations that are ahead, and for the report's
 * rejected_version. */
static int64_t peek_version(const void *env, size_t len)
{
	char *doc = NULL;
	size_t dlen;
	cJSON *root = NULL;
	int64_t v = 0;

	if (len > CFGDOC_ENVELOPE_MAX ||
	    cfgdoc_envelope_payload(env, len, &doc, &dlen, NULL, 0) < 0)
		return 0;
	if (rg_json_parse(doc, dlen, dlen, &root, NULL, 0) == 0 &&
	    rg_json_req_int(root, "version", 1, (INT64_C(1) << 53) - 1, &v, NULL, 0) < 0)
		v = 0;
	cJSON_Delete(root);
	free(doc);
	return v;
}

/* The document digest inside an envelope, if it has the envelope's shape. */
static bool doc_digest(const void *env, size_t len, uint8_t out[RG_SHA256_LEN])
{
	char *doc = NULL;
	size_t dlen;
	bool ok;

	if (len > CFGDOC_ENVELOPE_MAX ||
	    cfgdoc_envelope_payload(env, len, &doc, &dlen, NULL, 0) < 0)
		return false;
	ok = rg_sha256(doc, dlen, out) == 0;
	free(doc);
	return ok;
}

/* The settings object of a stored, once verified envelope. */
static cJSON *stored_settings(const void *env, size_t len)
{
	char *doc = NULL;
	size_t dlen;
	cJSON *root = NULL, *settings = NULL;

	if (cfgdoc_envelope_payload(env, len, &doc, &dlen, NULL, 0) < 0)
		return NULL;
	if (rg_json_parse(doc, dlen, dlen, &root, NULL, 0) == 0) {
		settings = cJSON_DetachItemFromObjectCaseSensitive(root, "settings");
		if (settings && !cJSON_IsObject(settings)) {
			cJSON_Delete(settings);
			settings = NULL;
		}
	}
	cJSON_Delete(root);
	free(doc);
	return settings;
}

static int db_fail(struct cfgstate *s, const char *what, int rc)
{
	rg_error(COMP, "state_write_failed", "path=%s what=%s error=%s detail=\"%s\"", s->path,
		 what, rg_errname(rc), rg_db_errmsg(s->db));
	rg_db_rollback(s->db);
	return rc;
}

static int step_done(struct rg_db *db, sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);
	(void)db;
	return rc == SQLITE_DONE ? 0 : rg_db_err(rc) ? rg_db_err(rc) : RG_ERR_DB;
}

static int write_keyset(struct cfgstate *s, const struct cfgdoc_keyset *ks)
{
	sqlite3_stmt *st;
	char *json = cfgdoc_keyset_json(ks);
	int rc;

	if (!json)
		return RG_ERR_NOMEM;
	rc = rg_db_prepare(s->db,
			   "INSERT OR REPLACE INTO keyset(id, tenant, version, json, updated_ms) "
			   "VALUES (1, ?, ?, ?, ?)",
			   &st);
	if (rc == 0) {
		sqlite3_bind_text(st, 1, ks->tenant, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, ks->version);
		sqlite3_bind_text(st, 3, json, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 4, now_ms(s));
		rc = step_done(s->db, st);
		sqlite3_reset(st);
		sqlite3_clear_bindings(st);
	}
	free(json);
	return rc;
}

static int delete_refused(struct cfgstate *s, enum cfgdoc_scope scope)
{
	sqlite3_stmt *st;
	int rc = rg_db_prepare(s->db, "DELETE FROM refused WHERE scope = ?", &st);
	if (rc < 0)
		return rc;
	sqlite3_bind_text(st, 1, cfgdoc_scope_name(scope), -1, SQLITE_STATIC);
	rc = step_done(s->db, st);
	sqlite3_reset(st);
	return rc;
}

/* ---- open / close ---- */

static int load_keyset(struct cfgstate *s, const struct cfgdoc_keyset *anchor, char *err,
		       size_t errcap)
{
	sqlite3_stmt *st;
	struct cfgdoc_keyset stored;
	bool have = false;
	char msg[RG_JSON_ERR_MAX];
	int rc;

	if ((rc = rg_db_prepare(s->db, "SELECT json FROM keyset WHERE id = 1", &st)) < 0)
		return rg_errf(rc, err, errcap, "%s: %s", s->path, rg_db_errmsg(s->db));
	if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *json = (const char *)sqlite3_column_text(st, 0);
		int n = sqlite3_column_bytes(st, 0);
		rc = cfgdoc_keyset_parse(json ? json : "", (size_t)n, &stored, msg, sizeof msg);
		sqlite3_reset(st);
		if (rc < 0)
			return rg_errf(RG_ERR_PARSE, err, errcap, "%s: the stored key set: %s",
				       s->path, msg);
		have = true;
	} else {
		sqlite3_reset(st);
		if (rc != SQLITE_DONE)
			return rg_errf(rg_db_err(rc), err, errcap, "%s: reading the key set: %s",
				       s->path, sqlite3_errstr(rc));
	}
	if (have && strcmp(stored.tenant, anchor->tenant))
		return rg_errf(RG_ERR_VERIFY, err, errcap,
			       "%s: holds the key set of tenant %s, the trust anchor is for %s",
			       s->path, stored.tenant, anchor->tenant);
	if (have && stored.version > anchor->version) {
		s->keys = stored; /* a rotation survives; an older anchor cannot roll it back */
		rg_info(COMP, "config_keys_loaded", "version=%lld anchor_version=%lld",
			(long long)stored.version, (long long)anchor->version);
		return 0;
	}
	s->keys = *anchor;
	if (have && stored.version == anchor->version && stored.threshold == anchor->threshold &&
	    stored.n == anchor->n && !memcmp(stored.keys, anchor->keys, sizeof anchor->keys))
		return 0;
	if ((rc = write_keyset(s, anchor)) < 0)
		return rg_errf(rc, err, errcap, "%s: writing the key set: %s", s->path,
			       rg_db_errmsg(s->db));
	return 0;
}

static int load_applied(struct cfgstate *s, char *err, size_t errcap)
{
	sqlite3_stmt *st;
	int rc;

	rc = rg_db_prepare(
	    s->db, "SELECT scope, version, digest, envelope, applied_ms, expires FROM applied",
	    &st);
	if (rc < 0)
		return rg_errf(rc, err, errcap, "%s: %s", s->path, rg_db_errmsg(s->db));
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int scope = cfgdoc_scope_parse((const char *)sqlite3_column_text(st, 0));
		const void *env = sqlite3_column_blob(st, 3);
		size_t len = (size_t)sqlite3_column_bytes(st, 3);
		struct scope_state *sc;
		if (scope < 0 || scope >= N_DOC_SCOPES ||
		    sqlite3_column_bytes(st, 2) != RG_SHA256_LEN || !env) {
			sqlite3_reset(st);
			return rg_errf(RG_ERR_PARSE, err, errcap, "%s: an unreadable applied row",
				       s->path);
		}
		sc = &s->sc[scope];
		sc->settings = stored_settings(env, len);
		if (!sc->settings) {
			sqlite3_reset(st);
			return rg_errf(RG_ERR_PARSE, err, errcap,
				       "%s: the applied %s document is unreadable", s->path,
				       cfgdoc_scope_name((enum cfgdoc_scope)scope));
		}
		sc->has = true;
		sc->version = sqlite3_column_int64(st, 1);
		memcpy(sc->digest, sqlite3_column_blob(st, 2), RG_SHA256_LEN);
		rg_sha256(env, len, sc->env_digest);
		sc->applied_ms = sqlite3_column_int64(st, 4);
		sc->expires = sqlite3_column_int64(st, 5);
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return rg_errf(rg_db_err(rc), err, errcap, "%s: reading applied documents: %s",
			       s->path, sqlite3_errstr(rc));
	return 0;
}

static int load_refused(struct cfgstate *s, char *err, size_t errcap)
{
	sqlite3_stmt *st;
	int rc;

	rc = rg_db_prepare(
	    s->db, "SELECT scope, version, reason, detail, envelope_digest, at_ms FROM refused",
	    &st);
	if (rc < 0)
		return rg_errf(rc, err, errcap, "%s: %s", s->path, rg_db_errmsg(s->db));
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int scope = cfgdoc_scope_parse((const char *)sqlite3_column_text(st, 0));
		const char *detail = (const char *)sqlite3_column_text(st, 3);
		struct scope_state *sc;
		if (scope < 0)
			continue;
		sc = &s->sc[scope];
		sc->rejected = true;
		sc->rej_version = sqlite3_column_int64(st, 1);
		sc->rej_reason =
		    (enum cfgdoc_reason)reason_parse((const char *)sqlite3_column_text(st, 2));
		snprintf(sc->rej_detail, sizeof sc->rej_detail, "%s", detail ? detail : "");
		if (sqlite3_column_bytes(st, 4) == RG_SHA256_LEN)
			memcpy(sc->rej_digest, sqlite3_column_blob(st, 4), RG_SHA256_LEN);
		sc->rej_ms = sqlite3_column_int64(st, 5);
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return rg_errf(rg_db_err(rc), err, errcap, "%s: reading refusals: %s", s->path,
			       sqlite3_errstr(rc));
	return 0;
}

static bool update_expiry(struct cfgstate *s)
{
	int64_t now = secs(now_ms(s));
	bool changed = false;

	for (int i = 0; i < N_DOC_SCOPES; i++) {
		struct scope_state *sc = &s->sc[i];
		bool e = sc->has && sc->expires <= now;
		if (e == sc->expired)
			continue;
		sc->expired = e;
		changed = true;
		if (e) {
			char t[21];
			cfgdoc_time_format(sc->expires, t);
			rg_warn(COMP, "config_expired", "scope=%s version=%lld expires=%s",
				cfgdoc_scope_name((enum cfgdoc_scope)i), (long long)sc->version, t);
		}
	}
	return changed;
}

int cfgstate_open(const struct cfgstate_params *p, struct cfgstate **out, char *err, size_t errcap)
{
	struct rg_db_opts o = {.durability = RG_DB_DURABLE};
	struct cfgstate *s;
	int rc;

	if (out)
		*out = NULL;
	if (!p || !out || !p->path || !p->anchor || !p->store || !p->identity)
		return rg_errf(RG_ERR_INVAL, err, errcap,
			       "configuration state: missing parameters");
	if (strlen(p->store) > CFGDOC_STORE_MAX || strlen(p->identity) > CFGDOC_DEVICE_MAX ||
	    strlen(p->path) >= sizeof s->path)
		return rg_errf(RG_ERR_INVAL, err, errcap,
			       "configuration state: store, identity or path too long");
	if (p->anchor->n < 1 || p->anchor->n > CFGDOC_KEYS_MAX || p->anchor->threshold < 1 ||
	    (size_t)p->anchor->threshold > p->anchor->n || !p->anchor->tenant[0])
		return rg_errf(RG_ERR_INVAL, err, errcap, "configuration state: an invalid anchor");
	if ((s = calloc(1, sizeof *s)) == NULL)
		return rg_errf(RG_ERR_NOMEM, err, errcap, "out of memory");
	snprintf(s->path, sizeof s->path, "%s", p->path);
	snprintf(s->store, sizeof s->store, "%s", p->store);
	snprintf(s->identity, sizeof s->identity, "%s", p->identity);
	s->clock = p->clock ? p->clock : rg_clock_system();
	s->validate = p->validate;
	s->ctx = p->ctx;
	if ((rc = rg_db_open(p->path, &o, &s->db)) < 0) {
		rg_errf(rc, err, errcap, "%s: cannot open: %s", p->path, rg_strerror(rc));
		goto fail;
	}
	if ((rc = rg_db_migrate(s->db, migrations, sizeof migrations / sizeof migrations[0],
				NULL)) < 0) {
		rg_errf(rc, err, errcap, "%s: %s", p->path, rg_db_errmsg(s->db));
		goto fail;
	}
	if ((rc = load_keyset(s, p->anchor, err, errcap)) < 0 ||
	    (rc = load_applied(s, err, errcap)) < 0 || (rc = load_refused(s, err, errcap)) < 0)
		goto fail;
	update_expiry(s);
	rg_info(COMP, "config_state_open", "keys=%lld tenant=%lld store=%lld device=%lld",
		(long long)s->keys.version, (long long)s->sc[0].version,
		(long long)s->sc[1].version, (long long)s->sc[2].version);
	*out = s;
	return 0;
fail:
	cfgstate_close(s);
	return rc;
}

void cfgstate_close(struct cfgstate *s)
{
	if (!s)
		return;
	for (int i = 0; i < CFGDOC_SCOPE__COUNT; i++) {
		cJSON_Delete(s->sc[i].settings);
		clear_pending(&s->sc[i]);
	}
	for (size_t i = 0; i < s->n_ahead; i++)
		free(s->ahead[i].env);
	rg_db_close(s->db);
	free(s);
}

/* ---- offers ---- */

/* Records a refusal: memory, the state file, the log. A refusal identical
 * to the one on record (same envelope, same reason) changes nothing. */
static int refused(struct cfgstate *s, enum cfgdoc_scope scope, const void *env, size_t len,
		   const uint8_t envd[RG_SHA256_LEN], enum cfgdoc_reason r, const char *detail)
{
	struct scope_state *sc = &s->sc[scope];
	int64_t version = peek_version(env, len);
	char q[DETAIL_MAX + 16];
	sqlite3_stmt *st;
	int rc;

	rg_log_quote(q, sizeof q, detail);
	if (sc->rejected && sc->rej_reason == r && sc->rej_version == version &&
	    !memcmp(sc->rej_digest, envd, RG_SHA256_LEN) && !strcmp(sc->rej_detail, detail)) {
		rg_debug(COMP, "config_refused_again", "scope=%s version=%lld reason=%s",
			 cfgdoc_scope_name(scope), (long long)version, cfgdoc_reason_name(r));
		return 0;
	}
	sc->rejected = true;
	sc->rej_version = version;
	sc->rej_reason = r;
	snprintf(sc->rej_detail, sizeof sc->rej_detail, "%s", detail);
	sc->rej_ms = now_ms(s);
	memcpy(sc->rej_digest, envd, RG_SHA256_LEN);
	rg_warn(COMP, "config_refused", "scope=%s version=%lld reason=%s detail=%s",
		cfgdoc_scope_name(scope), (long long)version, cfgdoc_reason_name(r), q);

	rc = rg_db_prepare(s->db,
			   "INSERT OR REPLACE INTO refused(scope, version, reason, detail, "
			   "envelope_digest, at_ms) VALUES (?, ?, ?, ?, ?, ?)",
			   &st);
	if (rc == 0) {
		sqlite3_bind_text(st, 1, cfgdoc_scope_name(scope), -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, version);
		sqlite3_bind_text(st, 3, cfgdoc_reason_name(r), -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 4, sc->rej_detail, -1, SQLITE_STATIC);
		sqlite3_bind_blob(st, 5, envd, RG_SHA256_LEN, SQLITE_STATIC);
		sqlite3_bind_int64(st, 6, sc->rej_ms);
		rc = step_done(s->db, st);
		sqlite3_reset(st);
		sqlite3_clear_bindings(st);
	}
	if (rc < 0) /* the refusal stands; only its record after a restart is lost */
		rg_warn(COMP, "state_write_failed", "path=%s what=refusal error=%s", s->path,
			rg_errname(rc));
	return 0;
}

static void clear_refusal(struct scope_state *sc)
{
	sc->rejected = false;
	sc->rej_version = 0;
	sc->rej_reason = CFGDOC_OK;
	sc->rej_detail[0] = '\0';
	sc->rej_ms = 0;
	memset(sc->rej_digest, 0, sizeof sc->rej_digest);
}

static int commit_doc(struct cfgstate *s, const struct cfgdoc *d, const void *env, size_t len,
		      int64_t at)
{
	sqlite3_stmt *st;
	int rc;

	if ((rc = rg_db_begin(s->db)) < 0)
		return db_fail(s, "begin", rc);
	rc = rg_db_prepare(s->db,
			   "INSERT OR REPLACE INTO applied(scope, version, digest, envelope, "
			   "applied_ms, expires) VALUES (?, ?, ?, ?, ?, ?)",
			   &st);
	if (rc < 0)
		return db_fail(s, "prepare", rc);
	sqlite3_bind_text(st, 1, cfgdoc_scope_name(d->scope), -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, d->version);
	sqlite3_bind_blob(st, 3, d->digest, RG_SHA256_LEN, SQLITE_STATIC);
	sqlite3_bind_blob(st, 4, env, (int)len, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, at);
	sqlite3_bind_int64(st, 6, d->expires);
	rc = step_done(s->db, st);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (rc < 0)
		return db_fail(s, "applied", rc);
	if ((rc = delete_refused(s, d->scope)) < 0)
		return db_fail(s, "refused", rc);
	if ((rc = rg_db_commit(s->db)) < 0)
		return db_fail(s, "commit", rc);
	return 0;
}

static int offer_doc(struct cfgstate *s, enum cfgdoc_scope scope, const void *env, size_t len,
		     enum cfgdoc_reason *reason)
{
	struct scope_state *sc = &s->sc[scope];
	uint8_t envd[RG_SHA256_LEN] = {0}, dd[RG_SHA256_LEN];
	char detail[DETAIL_MAX], msg[DETAIL_MAX];
	struct cfgdoc d;
	enum cfgdoc_reason r;
	const cJSON *layers[N_DOC_SCOPES];
	cJSON *merged;
	int rc;

	if (len <= CFGDOC_ENVELOPE_MAX && rg_sha256(env, len, envd) < 0)
		return RG_ERR_CRYPTO;
	if (sc->has && !memcmp(envd, sc->env_digest, sizeof envd))
		return 0; /* the applied envelope again (a reconnect's retained copy) */
	if (sc->has && doc_digest(env, len, dd) && !memcmp(dd, sc->digest, sizeof dd))
		return 0; /* the applied document in another envelope */

	struct cfgdoc_expect exp = {
	    .store = s->store,
	    .device = s->identity,
	    .scope = (int)scope,
	    .now = secs(now_ms(s)),
	    .applied_version = sc->has ? sc->version : 0,
	    .check_settings = true,
	};
	r = cfgdoc_verify(&s->keys, env, len, &exp, &d, detail, sizeof detail);
	if (r == CFGDOC_SIGNATURE) {
		/* perhaps signed by keys of a rotation still to come */
		uint8_t *copy = dup_bytes(env, len);
		if (copy) {
			clear_pending(sc);
			sc->pending = copy;
			sc->pending_len = len;
		}
	}
	if (r != CFGDOC_OK) {
		if (reason)
			*reason = r;
		return refused(s, scope, env, len, envd, r, detail);
	}

	for (int i = 0; i < N_DOC_SCOPES; i++)
		layers[i] = i == (int)scope ? d.settings : s->sc[i].settings;
	if ((merged = rg_settings_merge(layers, N_DOC_SCOPES)) == NULL) {
		cfgdoc_clear(&d);
		return RG_ERR_NOMEM;
	}
	rc = rg_settings_check(merged, msg, sizeof msg);
	if (rc == 0 && s->validate) {
		msg[0] = '\0';
		rc = s->validate(s->ctx, merged, msg, sizeof msg);
	}
	cJSON_Delete(merged);
	if (rc == RG_ERR_NOMEM) {
		cfgdoc_clear(&d);
		return rc;
	}
	if (rc < 0) {
		snprintf(detail, sizeof detail, "%s", msg[0] ? msg : rg_strerror(rc));
		cfgdoc_clear(&d);
		if (reason)
			*reason = CFGDOC_INVALID;
		return refused(s, scope, env, len, envd, CFGDOC_INVALID, detail);
	}

	int64_t at = now_ms(s);
	if ((rc = commit_doc(s, &d, env, len, at)) < 0) {
		cfgdoc_clear(&d);
		return rc;
	}
	cJSON_Delete(sc->settings);
	sc->settings = d.settings;
	d.settings = NULL;
	sc->has = true;
	sc->version = d.version;
	memcpy(sc->digest, d.digest, sizeof sc->digest);
	memcpy(sc->env_digest, envd, sizeof sc->env_digest);
	sc->applied_ms = at;
	sc->expires = d.expires;
	sc->expired = false;
	clear_refusal(sc);
	clear_pending(sc);
	rg_info(COMP, "config_applied", "scope=%s version=%lld signatures=%d",
		cfgdoc_scope_name(scope), (long long)d.version, d.valid_signatures);
	cfgdoc_clear(&d);
	return 1;
}

/* Applies one rotation if it follows the current set: 1 rotated, 0 refused. */
static int rotate_one(struct cfgstate *s, const void *env, size_t len, enum cfgdoc_reason *reason)
{
	struct scope_state *sc = &s->sc[CFGDOC_SCOPE_KEYS];
	struct cfgdoc_keyset next;
	uint8_t envd[RG_SHA256_LEN] = {0};
	char detail[DETAIL_MAX];
	enum cfgdoc_reason r;
	int rc;

	if (len <= CFGDOC_ENVELOPE_MAX && rg_sha256(env, len, envd) < 0)
		return RG_ERR_CRYPTO;
	r = cfgdoc_rotate(&s->keys, env, len, &next, detail, sizeof detail);
	if (r != CFGDOC_OK) {
		if (reason)
			*reason = r;
		return refused(s, CFGDOC_SCOPE_KEYS, env, len, envd, r, detail);
	}
	if ((rc = rg_db_begin(s->db)) < 0)
		return db_fail(s, "begin", rc);
	if ((rc = write_keyset(s, &next)) < 0)
		return db_fail(s, "keyset", rc);
	if ((rc = delete_refused(s, CFGDOC_SCOPE_KEYS)) < 0)
		return db_fail(s, "refused", rc);
	if ((rc = rg_db_commit(s->db)) < 0)
		return db_fail(s, "commit", rc);
	rg_info(COMP, "config_keys_rotated", "from=%lld version=%lld keys=%zu threshold=%d",
		(long long)s->keys.version, (long long)next.version, next.n, next.threshold);
	s->keys = next;
	clear_refusal(sc);
	return 1;
}

/* Keeps a rotation that is ahead of the current set (latest bytes per
 * version; when full, the farthest ahead gives way). */
static void keep_ahead(struct cfgstate *s, int64_t version, const void *env, size_t len)
{
	size_t i, far = 0;
	uint8_t *copy;

	for (i = 0; i < s->n_ahead; i++)
		if (s->ahead[i].version == version)
			break;
	if (i == s->n_ahead && s->n_ahead == AHEAD_MAX) {
		for (size_t j = 1; j < s->n_ahead; j++)
			if (s->ahead[j].version > s->ahead[far].version)
				far = j;
		if (s->ahead[far].version < version)
			return;
		i = far;
	}
	if ((copy = dup_bytes(env, len)) == NULL)
		return;
	if (i < s->n_ahead)
		free(s->ahead[i].env);
	else
		s->n_ahead++;
	s->ahead[i] = (struct ahead){version, copy, len};
	rg_info(COMP, "config_keys_deferred", "version=%lld current=%lld", (long long)version,
		(long long)s->keys.version);
}

static int offer_keys(struct cfgstate *s, const void *env, size_t len, enum cfgdoc_reason *reason)
{
	int64_t v = peek_version(env, len);
	int rc, changed = 0;

	if (v && v <= s->keys.version) {
		/* a retained rotation already walked: normal on every connect */
		rg_debug(COMP, "config_keys_known", "version=%lld current=%lld", (long long)v,
			 (long long)s->keys.version);
		return 0;
	}
	if (v > s->keys.version + 1) {
		keep_ahead(s, v, env, len);
		return 0;
	}
	if ((rc = rotate_one(s, env, len, reason)) <= 0)
		return rc;
	for (;;) { /* walk the rotations that were waiting for this one */
		size_t i;
		for (i = 0; i < s->n_ahead; i++)
			if (s->ahead[i].version <= s->keys.version + 1)
				break;
		if (i == s->n_ahead)
			break;
		struct ahead a = s->ahead[i];
		s->ahead[i] = s->ahead[--s->n_ahead];
		rc = a.version == s->keys.version + 1 ? rotate_one(s, a.env, a.len, NULL) : 0;
		free(a.env);
		if (rc < 0)
			return rc;
	}
	/* documents refused for their signatures may be signed by the new keys */
	for (int i = 0; i < N_DOC_SCOPES; i++) {
		struct scope_state *sc = &s->sc[i];
		uint8_t *p = sc->pending;
		size_t n = sc->pending_len;
		if (!p)
			continue;
		sc->pending = NULL;
		sc->pending_len = 0;
		rc = offer_doc(s, (enum cfgdoc_scope)i, p, n, NULL);
		free(p);
		if (rc < 0)
			return rc;
		changed |= rc;
	}
	return changed;
}

int cfgstate_offer(struct cfgstate *s, enum cfgdoc_scope scope, const void *payload, size_t len,
		   enum cfgdoc_reason *reason)
{
	if (reason)
		*reason = CFGDOC_OK;
	if (!s || (unsigned)scope >= CFGDOC_SCOPE__COUNT || (!payload && len))
		return RG_ERR_INVAL;
	if (len == 0)
		return 0; /* a cleared retained topic: keep running what is applied */
	if (scope == CFGDOC_SCOPE_KEYS)
		return offer_keys(s, payload, len, reason);
	return offer_doc(s, scope, payload, len, reason);
}

/* ---- reading ---- */

cJSON *cfgstate_merged(struct cfgstate *s)
{
	const cJSON *layers[N_DOC_SCOPES];
	if (!s)
		return NULL;
	for (int i = 0; i < N_DOC_SCOPES; i++)
		layers[i] = s->sc[i].settings;
	return rg_settings_merge(layers, N_DOC_SCOPES);
}

static bool add_time(cJSON *o, const char *key, int64_t t)
{
	char buf[21];
	cfgdoc_time_format(t, buf);
	return cJSON_AddStringToObject(o, key, buf) != NULL;
}

static bool add_refusal(cJSON *o, const struct scope_state *sc)
{
	if (sc->rej_version &&
	    !cJSON_AddNumberToObject(o, "rejected_version", (double)sc->rej_version))
		return false;
	return cJSON_AddStringToObject(o, "reason", cfgdoc_reason_name(sc->rej_reason)) &&
	       cJSON_AddStringToObject(o, "detail", sc->rej_detail) &&
	       add_time(o, "at", secs(sc->rej_ms));
}

cJSON *cfgstate_report(struct cfgstate *s)
{
	cJSON *r, *o;

	if (!s || (r = cJSON_CreateObject()) == NULL)
		return NULL;
	if ((o = cJSON_AddObjectToObject(r, "keys")) == NULL ||
	    !cJSON_AddNumberToObject(o, "version", (double)s->keys.version))
		goto nomem;
	if (s->sc[CFGDOC_SCOPE_KEYS].rejected && !add_refusal(o, &s->sc[CFGDOC_SCOPE_KEYS]))
		goto nomem;
	for (int i = 0; i < N_DOC_SCOPES; i++) {
		const struct scope_state *sc = &s->sc[i];
		const char *status = sc->rejected  ? "rejected"
				     : !sc->has	   ? "none"
				     : sc->expired ? "expired"
						   : "applied";
		if ((o = cJSON_AddObjectToObject(r, cfgdoc_scope_name((enum cfgdoc_scope)i))) ==
			NULL ||
		    !cJSON_AddStringToObject(o, "status", status) ||
		    !cJSON_AddNumberToObject(o, "version", sc->has ? (double)sc->version : 0))
			goto nomem;
		if (sc->has && (!add_time(o, "applied_at", secs(sc->applied_ms)) ||
				!add_time(o, "expires", sc->expires)))
			goto nomem;
		if (sc->rejected && !add_refusal(o, sc))
			goto nomem;
	}
	return r;
nomem:
	cJSON_Delete(r);
	return NULL;
}

bool cfgstate_tick(struct cfgstate *s)
{
	return s ? update_expiry(s) : false;
}

int64_t cfgstate_version(const struct cfgstate *s, enum cfgdoc_scope scope)
{
	if (!s || (unsigned)scope >= CFGDOC_SCOPE__COUNT)
		return 0;
	if (scope == CFGDOC_SCOPE_KEYS)
		return s->keys.version;
	return s->sc[scope].has ? s->sc[scope].version : 0;
}

const struct cfgdoc_keyset *cfgstate_keys(const struct cfgstate *s)
{
	return s ? &s->keys : NULL;
}
