/*
 * pipeline.c - the identifier pipeline's front door: route a raw read to
 * its classifier (text by unambiguous prefix, see docs/identifiers.md),
 * tokenise the canonical value with the tenant key, and wipe every working
 * copy. Owns copies of the tenant and TOTP seal keys; borrows the clock and
 * the replay and secret stores. One thread at a time.
 */
#include <stdlib.h>
#include <string.h>

#include "common/codec.h"
#include "common/err.h"
#include "common/json.h"
#include "common/log.h"
#include "ident_internal.h"

struct ident_pipeline {
	struct ident_config cfg;
	uint8_t tenant_key[IDENT_TENANT_KEY_MAX];
	size_t tenant_key_len;
	uint8_t seal_key[RG_AEAD_KEY_LEN];
	const struct rg_clock *clock;
	struct ident_replay_store *replay;
	struct ident_secret_store *secrets;
	struct ident_keyring keys;
	struct ident_token_policy policy;
};

int ident_pipeline_new(const struct ident_pipeline_params *pp, struct ident_pipeline **out)
{
	struct ident_pipeline *p;
	char err[RG_JSON_ERR_MAX];
	int rc;

	if (!out)
		return RG_ERR_INVAL;
	*out = NULL;
	if (!pp || !pp->config || !pp->tenant_key || pp->tenant_key_len < IDENT_TENANT_KEY_MIN ||
	    pp->tenant_key_len > IDENT_TENANT_KEY_MAX)
		return RG_ERR_INVAL;
	if ((rc = ident_config_validate(pp->config, err, sizeof err)) < 0) {
		char q[RG_JSON_ERR_MAX + 8];
		rg_error(IDENT_LOG, "config_invalid", "error=%s", rg_log_quote(q, sizeof q, err));
		return RG_ERR_CONFIG;
	}
	if ((pp->config->app_token.enabled && !pp->replay) ||
	    (pp->config->totp.enabled && (!pp->secrets || !pp->totp_seal_key)))
		return RG_ERR_INVAL;
	p = calloc(1, sizeof *p);
	if (!p)
		return RG_ERR_NOMEM;
	p->cfg = *pp->config;
	memcpy(p->tenant_key, pp->tenant_key, pp->tenant_key_len);
	p->tenant_key_len = pp->tenant_key_len;
	if (pp->totp_seal_key)
		memcpy(p->seal_key, pp->totp_seal_key, RG_AEAD_KEY_LEN);
	p->clock = pp->clock ? pp->clock : rg_clock_system();
	p->replay = pp->replay;
	p->secrets = pp->secrets;
	p->policy.skew_s = p->cfg.app_token.skew_s;
	p->policy.max_lifetime_s = p->cfg.app_token.max_lifetime_s;
	ident_keyring_init(&p->keys);
	for (size_t i = 0; i < p->cfg.app_token.n_keys; i++) {
		rc = ident_keyring_add_raw(&p->keys, p->cfg.app_token.keys[i]);
		if (rc < 0) {
			rg_error(IDENT_LOG, "config_invalid", "key=app_token.keys[%zu] error=%s", i,
				 rg_errname(rc));
			ident_pipeline_free(p);
			return rc == RG_ERR_NOMEM ? rc : RG_ERR_CONFIG;
		}
	}
	*out = p;
	return 0;
}

void ident_pipeline_free(struct ident_pipeline *p)
{
	if (!p)
		return;
	ident_keyring_clear(&p->keys);
	rg_wipe(p, sizeof *p);
	free(p);
}

static int64_t now_s(const struct ident_pipeline *p)
{
	int64_t ms = rg_clock_wall_ms(p->clock);
	return ms >= 0 ? ms / 1000 : -((-ms + 999) / 1000);
}

static enum ident_reason magstripe(const struct ident_pipeline *p, const char *s, size_t len,
				   struct ident__canon *c)
{
	char pan[32];
	size_t n;
	enum ident_reason why;

	c->type = IDENT_TYPE_LOYALTY;
	if (!p->cfg.loyalty.enabled || !p->cfg.loyalty.magstripe)
		return IDENT_TYPE_DISABLED;
	why = ident__magstripe_pan(s, len, pan, sizeof pan, &n);
	if (why == IDENT_OK)
		why = ident__loyalty(&p->cfg, pan, n, c);
	rg_wipe(pan, sizeof pan);
	return why;
}

static int app_token(struct ident_pipeline *p, const char *s, size_t len, struct ident__canon *c,
		     enum ident_reason *why)
{
	struct ident_token_claims claims;
	int rc;

	c->type = IDENT_TYPE_APP_TOKEN;
	if (!p->cfg.app_token.enabled) {
		*why = IDENT_TYPE_DISABLED;
		return 0;
	}
	rc = ident_token_verify(&p->keys, &p->policy, p->replay, now_s(p), s, len, &claims, why);
	if (rc == 0 && *why == IDENT_OK)
		rc = ident__canon_set(c, IDENT_TYPE_APP_TOKEN, claims.ref, claims.ref_len);
	rg_wipe(&claims, sizeof claims);
	return rc;
}

/* Text from a scanner: routed by prefix, never by guessing (config
 * validation guarantees that no two prefixes overlap). */
static int text(struct ident_pipeline *p, enum ident_source src, const char *s, size_t len,
		struct ident__canon *c, enum ident_reason *why)
{
	c->type = src == IDENT_SRC_MAGSTRIPE ? IDENT_TYPE_LOYALTY : IDENT_TYPE_NONE;
	if (len == 0) {
		*why = IDENT_TOO_SHORT;
		return 0;
	}
	if (len > IDENT_TEXT_MAX) {
		*why = IDENT_TOO_LONG;
		return 0;
	}
	if (!rg_utf8_valid(s, len)) {
		*why = IDENT_NOT_UTF8;
		return 0;
	}
	if (src == IDENT_SRC_MAGSTRIPE || s[0] == '%' || s[0] == ';') {
		*why = magstripe(p, s, len, c);
		return 0;
	}
	if (ident__has_prefix(s, len, IDENT_TOKEN_PREFIX))
		return app_token(p, s, len, c, why);
	if (ident__has_prefix(s, len, p->cfg.totp.prefix))
		return ident__totp_check(&p->cfg, p->secrets, p->seal_key, now_s(p), s, len, c,
					 why);
	for (size_t i = 0; i < p->cfg.qr.n_prefixes; i++) {
		if (ident__has_prefix(s, len, p->cfg.qr.prefixes[i])) {
			*why = ident__qr(&p->cfg, s, len, strlen(p->cfg.qr.prefixes[i]), c);
			return 0;
		}
	}
	*why = ident__loyalty(&p->cfg, s, len, c);
	return 0;
}

static int classify(struct ident_pipeline *p, enum ident_source src, const void *data, size_t len,
		    struct ident_result *out, char *canon, size_t cap)
{
	struct ident__canon c;
	enum ident_reason why = IDENT_NO_MATCH;
	int rc = 0;

	if (!out)
		return RG_ERR_INVAL;
	memset(out, 0, sizeof *out);
	out->reason = IDENT_UNDECIDED;
	if (!p || (!data && len) || (canon && cap < IDENT_CANON_MAX + 1))
		return RG_ERR_INVAL;
	if (canon)
		canon[0] = '\0';
	memset(&c, 0, sizeof c);
	out->source = src;
	switch (src) {
	case IDENT_SRC_NFC_UID:
		c.type = IDENT_TYPE_NFC_UID;
		why = p->cfg.nfc_uid.enabled ? ident__nfc_uid(data, len, &c) : IDENT_TYPE_DISABLED;
		break;
	case IDENT_SRC_NDEF:
		why = ident__nfc_ndef(&p->cfg, data, len, &c);
		break;
	case IDENT_SRC_BARCODE:
	case IDENT_SRC_QR:
	case IDENT_SRC_MAGSTRIPE:
		rc = text(p, src, data, len, &c, &why);
		break;
	default:
		out->source = 0;
		return RG_ERR_INVAL;
	}
	out->type = c.type;
	if (rc == 0 && why == IDENT_OK) {
		rc = rg_token(p->tenant_key, p->tenant_key_len, ident_type_name(c.type), c.v, c.len,
			      out->token);
		if (rc == 0 && canon)
			memcpy(canon, c.v, c.len + 1);
	}
	rg_wipe(&c, sizeof c);
	if (rc < 0) {
		memset(out, 0, sizeof *out);
		out->reason = IDENT_UNDECIDED;
		if (canon)
			canon[0] = '\0';
		return rc;
	}
	out->reason = why;
	if (why == IDENT_OK) {
		char hex[9];
		rg_hex_encode(out->token, 4, hex, sizeof hex);
		rg_debug(IDENT_LOG, "accepted", "source=%s type=%s token=%s",
			 ident_source_name(src), ident_type_name(out->type), hex);
	} else {
		rg_debug(IDENT_LOG, "refused", "source=%s type=%s reason=%s",
			 ident_source_name(src), ident_type_name(out->type),
			 ident_reason_name(why));
	}
	return 0;
}

int ident_classify(struct ident_pipeline *p, enum ident_source src, const void *data, size_t len,
		   struct ident_result *out)
{
	return classify(p, src, data, len, out, NULL, 0);
}

int ident_classify_canonical(struct ident_pipeline *p, enum ident_source src, const void *data,
			     size_t len, struct ident_result *out, char *canon, size_t cap)
{
	if (!canon) {
		if (out) {
			memset(out, 0, sizeof *out);
			out->reason = IDENT_UNDECIDED;
		}
		return RG_ERR_INVAL;
	}
	return classify(p, src, data, len, out, canon, cap);
}
