/*
 * app_token.c - the app token format (docs/app-token.md): issue with a
 * private key, decode the structure, verify against a keyring, a policy and
 * a replay store. Verification order: structure, key id, signature, then
 * lifetime, not-before, expiry and finally the nonce (so only genuine,
 * currently valid tokens ever reach the replay store).
 */
#include <string.h>

#include "common/codec.h"
#include "common/err.h"
#include "common/ident_token.h"
#include "common/log.h"
#include "ident_internal.h"

#define OFF_VERSION 0
#define OFF_KID 1
#define OFF_REF_LEN (OFF_KID + IDENT_TOKEN_KID_LEN)
#define OFF_REF (OFF_REF_LEN + 1)
#define POLICY_MAX_S (366LL * 24 * 3600) /* a sane bound for skew and lifetime */

int ident_ref_valid(const char *ref, size_t len)
{
	if (!ref || len == 0 || len > IDENT_REF_MAX)
		return 0;
	for (size_t i = 0; i < len; i++) {
		char c = ref[i];
		if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		      c == '.' || c == '_' || c == '-'))
			return 0;
	}
	return 1;
}

int ident_token_kid(const struct rg_ec_key *key, uint8_t kid[IDENT_TOKEN_KID_LEN])
{
	uint8_t id[RG_SHA256_LEN];
	int rc;

	if (!key || !kid)
		return RG_ERR_INVAL;
	if ((rc = rg_ec_key_id(key, id)) < 0)
		return rc;
	memcpy(kid, id, IDENT_TOKEN_KID_LEN);
	return 0;
}

static void put_u64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

static uint64_t get_u64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

int ident_token_issue(const struct rg_ec_key *key, const char *ref, int64_t iat, int64_t exp,
		      const struct rg_rand *rng, char *out, size_t cap)
{
	uint8_t bin[IDENT_TOKEN_BIN_MAX];
	size_t rl, n;
	int rc;

	if (!key || !ref || !rng || !out || cap < IDENT_TOKEN_TEXT_MAX + 1)
		return RG_ERR_INVAL;
	rl = strlen(ref);
	if (!ident_ref_valid(ref, rl) || iat < 0 || exp <= iat || exp > IDENT_TOKEN_TIME_MAX)
		return RG_ERR_INVAL;
	if (!rg_ec_key_has_private(key))
		return RG_ERR_STATE;
	bin[OFF_VERSION] = IDENT_TOKEN_VERSION;
	if ((rc = ident_token_kid(key, bin + OFF_KID)) < 0)
		return rc;
	bin[OFF_REF_LEN] = (uint8_t)rl;
	memcpy(bin + OFF_REF, ref, rl);
	n = OFF_REF + rl;
	put_u64(bin + n, (uint64_t)iat);
	put_u64(bin + n + 8, (uint64_t)exp);
	n += 16;
	if ((rc = rg_rand_fill(rng, bin + n, IDENT_TOKEN_NONCE_LEN)) < 0)
		return rc;
	n += IDENT_TOKEN_NONCE_LEN;
	if ((rc = rg_ecdsa_sign_raw(key, bin, n, bin + n, rng)) < 0)
		return rc;
	n += RG_ECDSA_RAW_LEN;
	memcpy(out, IDENT_TOKEN_PREFIX, IDENT_TOKEN_PREFIX_LEN);
	rc = rg_b64url_encode(bin, n, out + IDENT_TOKEN_PREFIX_LEN, cap - IDENT_TOKEN_PREFIX_LEN);
	if (rc < 0)
		return rc;
	return IDENT_TOKEN_PREFIX_LEN + rc;
}

/* Decodes text into bin and claims; *body_len is where the signature starts. */
static enum ident_reason decode(const char *text, size_t len, uint8_t bin[IDENT_TOKEN_BIN_MAX],
				size_t *body_len, struct ident_token_claims *c)
{
	int n;
	size_t rl, off;
	uint64_t iat, exp;

	if (len < IDENT_TOKEN_PREFIX_LEN ||
	    memcmp(text, IDENT_TOKEN_PREFIX, IDENT_TOKEN_PREFIX_LEN))
		return IDENT_TOKEN_MALFORMED;
	if (len > IDENT_TOKEN_TEXT_MAX)
		return IDENT_TOKEN_MALFORMED;
	n = rg_b64url_decode(text + IDENT_TOKEN_PREFIX_LEN, len - IDENT_TOKEN_PREFIX_LEN, bin,
			     IDENT_TOKEN_BIN_MAX);
	/* shorter than the shortest version-1 token: malformed whatever its version */
	if (n < 0 || (size_t)n < IDENT_TOKEN_BODY_FIXED + 1 + RG_ECDSA_RAW_LEN)
		return IDENT_TOKEN_MALFORMED;
	if (bin[OFF_VERSION] != IDENT_TOKEN_VERSION)
		return IDENT_TOKEN_BAD_VERSION;
	rl = bin[OFF_REF_LEN];
	if ((size_t)n != IDENT_TOKEN_BODY_FIXED + rl + RG_ECDSA_RAW_LEN)
		return IDENT_TOKEN_MALFORMED;
	if (!ident_ref_valid((const char *)bin + OFF_REF, rl))
		return IDENT_TOKEN_MALFORMED;
	off = OFF_REF + rl;
	iat = get_u64(bin + off);
	exp = get_u64(bin + off + 8);
	if (iat > (uint64_t)IDENT_TOKEN_TIME_MAX || exp > (uint64_t)IDENT_TOKEN_TIME_MAX ||
	    exp <= iat)
		return IDENT_TOKEN_MALFORMED;
	memcpy(c->kid, bin + OFF_KID, IDENT_TOKEN_KID_LEN);
	memcpy(c->ref, bin + OFF_REF, rl);
	c->ref[rl] = '\0';
	c->ref_len = rl;
	c->iat = (int64_t)iat;
	c->exp = (int64_t)exp;
	memcpy(c->nonce, bin + off + 16, IDENT_TOKEN_NONCE_LEN);
	*body_len = off + 16 + IDENT_TOKEN_NONCE_LEN;
	return IDENT_OK;
}

int ident_token_decode(const char *text, size_t len, struct ident_token_claims *claims,
		       enum ident_reason *why)
{
	uint8_t bin[IDENT_TOKEN_BIN_MAX];
	size_t body_len;

	if ((!text && len) || !claims || !why)
		return RG_ERR_INVAL;
	memset(claims, 0, sizeof *claims);
	*why = decode(text, len, bin, &body_len, claims);
	if (*why != IDENT_OK)
		memset(claims, 0, sizeof *claims);
	rg_wipe(bin, sizeof bin);
	return 0;
}

void ident_keyring_init(struct ident_keyring *kr)
{
	memset(kr, 0, sizeof *kr);
}

int ident_keyring_add_raw(struct ident_keyring *kr, const uint8_t raw[RG_EC_PUB_RAW_LEN])
{
	struct rg_ec_key *key;
	uint8_t kid[IDENT_TOKEN_KID_LEN];
	int rc;

	if (!kr || !raw)
		return RG_ERR_INVAL;
	if (kr->n == IDENT_APP_KEYS_MAX)
		return RG_ERR_TOOBIG;
	if ((rc = rg_ec_key_from_public_raw(&key, raw)) < 0)
		return rc == RG_ERR_NOMEM ? rc : RG_ERR_PARSE;
	if ((rc = ident_token_kid(key, kid)) < 0) {
		rg_ec_key_free(key);
		return rc;
	}
	for (size_t i = 0; i < kr->n; i++) {
		if (!memcmp(kr->keys[i].kid, kid, sizeof kid)) {
			rg_ec_key_free(key);
			return RG_ERR_EXISTS;
		}
	}
	memcpy(kr->keys[kr->n].kid, kid, sizeof kid);
	kr->keys[kr->n].key = key;
	kr->n++;
	return 0;
}

int ident_keyring_add(struct ident_keyring *kr, const struct rg_ec_key *key)
{
	uint8_t raw[RG_EC_PUB_RAW_LEN];
	int rc;

	if (!kr || !key)
		return RG_ERR_INVAL;
	if ((rc = rg_ec_key_public_raw(key, raw)) < 0)
		return rc;
	return ident_keyring_add_raw(kr, raw);
}

void ident_keyring_clear(struct ident_keyring *kr)
{
	if (!kr)
		return;
	for (size_t i = 0; i < kr->n; i++)
		rg_ec_key_free(kr->keys[i].key);
	memset(kr, 0, sizeof *kr);
}

int ident_token_verify(const struct ident_keyring *kr, const struct ident_token_policy *pol,
		       struct ident_replay_store *replay, int64_t now_s, const char *text,
		       size_t len, struct ident_token_claims *claims, enum ident_reason *why)
{
	uint8_t bin[IDENT_TOKEN_BIN_MAX];
	size_t body_len = 0;
	const struct rg_ec_key *key = NULL;
	int rc;

	if (!kr || !pol || (!text && len) || !claims || !why)
		return RG_ERR_INVAL;
	if (pol->skew_s < 0 || pol->skew_s > POLICY_MAX_S || pol->max_lifetime_s < 1 ||
	    pol->max_lifetime_s > POLICY_MAX_S || now_s < -POLICY_MAX_S ||
	    now_s > IDENT_TOKEN_TIME_MAX + POLICY_MAX_S)
		return RG_ERR_INVAL;
	memset(claims, 0, sizeof *claims);
	*why = decode(text, len, bin, &body_len, claims);
	if (*why != IDENT_OK)
		goto refused;
	for (size_t i = 0; i < kr->n && !key; i++)
		if (!memcmp(kr->keys[i].kid, claims->kid, IDENT_TOKEN_KID_LEN))
			key = kr->keys[i].key;
	if (!key) {
		*why = IDENT_TOKEN_UNKNOWN_KEY;
		goto refused;
	}
	rc = rg_ecdsa_verify_raw(key, bin, body_len, bin + body_len);
	if (rc == RG_ERR_VERIFY) {
		*why = IDENT_TOKEN_BAD_SIGNATURE;
		goto refused;
	}
	if (rc < 0) {
		memset(claims, 0, sizeof *claims);
		rg_wipe(bin, sizeof bin);
		return rc;
	}
	if (claims->exp - claims->iat > pol->max_lifetime_s)
		*why = IDENT_TOKEN_LIFETIME_TOO_LONG;
	else if (now_s < claims->iat - pol->skew_s)
		*why = IDENT_TOKEN_NOT_YET_VALID;
	else if (now_s >= claims->exp + pol->skew_s)
		*why = IDENT_TOKEN_EXPIRED;
	if (*why != IDENT_OK)
		goto refused;
	if (replay) {
		rc = replay->ops->check_add(replay->priv, claims->nonce, claims->exp + pol->skew_s,
					    now_s);
		if (rc < 0) {
			rg_warn(IDENT_LOG, "replay_store_failed", "error=%s", rg_errname(rc));
			memset(claims, 0, sizeof *claims);
			rg_wipe(bin, sizeof bin);
			return rc;
		}
		if (rc > 0) {
			*why = IDENT_TOKEN_REPLAYED;
			goto refused;
		}
	}
	rg_wipe(bin, sizeof bin);
	return 0;
refused:
	memset(claims, 0, sizeof *claims);
	rg_wipe(bin, sizeof bin);
	return 0;
}
