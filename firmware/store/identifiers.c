/*
 * identifiers.c - token -> profile id rows, written one at a time (a card
 * linked at the device, a delta from sync). Only tokens are stored, never
 * the identifier itself; a token always points at a cached, final profile id
 * when written.
 */
#include <string.h>

#include "common/err.h"
#include "common/log.h"
#include "store_internal.h"

static int profile_cached(struct store *s, const char *id)
{
	return store__exists(s, "SELECT 1 FROM profiles WHERE id = ?1", id, "profile_cached");
}

static int upsert_locked(struct store *s, const uint8_t *token, const char *type,
			 const char *profile_id)
{
	char final[STORE_ID_MAX + 1];
	int rc;

	if ((rc = store__begin(s, "identifier_upsert")) < 0)
		return rc;
	if ((rc = store__resolve(s, profile_id, final)) < 0 || (rc = profile_cached(s, final)) < 0)
		goto fail;
	if (rc == 0) {
		rc = RG_ERR_NOTFOUND;
		goto fail;
	}
	if ((rc = store__identifier_put(s, token, type, final, rg_clock_wall_ms(s->clock))) < 0)
		goto fail;
	return store__commit(s, "identifier_upsert");
fail:
	rg_db_rollback(s->db);
	return rc;
}

int store_identifier_upsert(struct store *s, const uint8_t token[RG_TOKEN_LEN], const char *type,
			    const char *profile_id)
{
	int rc;

	if (!s || !token || !store__type_valid(type) || !store__id_valid(profile_id))
		return RG_ERR_INVAL;
	if ((rc = store__lock(s)) < 0)
		return rc;
	rc = upsert_locked(s, token, type, profile_id);
	store__unlock(s);
	return rc;
}

int store_identifier_remove(struct store *s, const uint8_t token[RG_TOKEN_LEN])
{
	sqlite3_stmt *st;
	int rc;

	if (!s || !token)
		return RG_ERR_INVAL;
	if ((rc = store__lock(s)) < 0)
		return rc;
	if ((rc = store__prepare(s, "DELETE FROM identifiers WHERE token = ?1", &st)) == 0) {
		sqlite3_bind_blob(st, 1, token, RG_TOKEN_LEN, SQLITE_STATIC);
		if ((rc = store__step_done(s, st, "identifier_remove")) == 0)
			rc = sqlite3_changes(rg_db_handle(s->db)) > 0;
	}
	store__unlock(s);
	return rc;
}
