/*
 * auth.c - staff PIN hashes (PBKDF2-HMAC-SHA256 on mbedTLS) and the table of
 * staff sessions: random 256-bit ids, idle and absolute expiry, a bounded
 * table, and a lockout after repeated wrong PINs so a 4-6 digit PIN cannot be
 * guessed through the API.
 */
#include "web_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/md.h>
#include <mbedtls/pkcs5.h>

#include "common/codec.h"
#include "common/crypto.h"
#include "common/err.h"

#define PIN_MAX 64
#define SALT_LEN 16
#define HASH_LEN 32
#define ITER_MIN 1000
#define ITER_MAX 10000000

static int pbkdf2(const char *pin, const uint8_t *salt, uint32_t iter, uint8_t out[HASH_LEN])
{
	mbedtls_md_context_t md;
	int rc;
	mbedtls_md_init(&md);
	rc = mbedtls_md_setup(&md, mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), 1);
	if (!rc)
		rc = mbedtls_pkcs5_pbkdf2_hmac(&md, (const unsigned char *)pin, strlen(pin), salt,
					       SALT_LEN, iter, HASH_LEN, out);
	mbedtls_md_free(&md);
	return rc ? RG_ERR_CRYPTO : 0;
}

int web_pin_hash(const char *pin, uint32_t iterations, char *out, size_t cap)
{
	uint8_t salt[SALT_LEN], hash[HASH_LEN];
	char s64[RG_B64URL_LEN(SALT_LEN) + 1], h64[RG_B64URL_LEN(HASH_LEN) + 1];
	int rc, n;

	if (!pin || !*pin || strlen(pin) > PIN_MAX || iterations < ITER_MIN || iterations > ITER_MAX)
		return RG_ERR_INVAL;
	if ((rc = rg_random(salt, sizeof salt)) < 0 || (rc = pbkdf2(pin, salt, iterations, hash)) < 0)
		return rc;
	rg_b64url_encode(salt, sizeof salt, s64, sizeof s64);
	rg_b64url_encode(hash, sizeof hash, h64, sizeof h64);
	rg_wipe(hash, sizeof hash);
	n = snprintf(out, cap, "pbkdf2-sha256$%u$%s$%s", iterations, s64, h64);
	return n < 0 || (size_t)n >= cap ? RG_ERR_TOOBIG : n;
}

int web_pin_verify(const char *pin, const char *hash)
{
	uint8_t salt[SALT_LEN], want[HASH_LEN], got[HASH_LEN];
	const char *p, *q;
	char *end;
	unsigned long iter;
	int rc;

	if (!hash || strncmp(hash, "pbkdf2-sha256$", 14))
		return RG_ERR_PARSE;
	p = hash + 14;
	iter = strtoul(p, &end, 10);
	if (end == p || *end != '$' || iter < ITER_MIN || iter > ITER_MAX)
		return RG_ERR_PARSE;
	p = end + 1;
	if (!(q = strchr(p, '$')) ||
	    rg_b64url_decode(p, (size_t)(q - p), salt, sizeof salt) != SALT_LEN ||
	    rg_b64url_decode(q + 1, strlen(q + 1), want, sizeof want) != HASH_LEN)
		return RG_ERR_PARSE;
	if (!pin || strlen(pin) > PIN_MAX)
		return RG_ERR_VERIFY;
	if ((rc = pbkdf2(pin, salt, (uint32_t)iter, got)) < 0)
		return rc;
	rc = rg_ct_equal(got, want, HASH_LEN) ? 0 : RG_ERR_VERIFY;
	rg_wipe(got, sizeof got);
	return rc;
}

void web__sessions_init(struct web_sessions *t, const struct rg_clock *clock, int idle_s, int max_s)
{
	memset(t, 0, sizeof *t);
	t->clock = clock;
	t->idle_ms = (int64_t)(idle_s > 0 ? idle_s : 300) * 1000;
	t->max_ms = (int64_t)(max_s > 0 ? max_s : 8 * 3600) * 1000;
}

static int64_t now_ms(const struct web_sessions *t)
{
	/* Monotonic: a wall-clock step must neither expire nor extend sessions. */
	return rg_clock_mono_ns(t->clock) / 1000000;
}

int web__login_begin(struct web_sessions *t, const char *pin_hash)
{
	if (!pin_hash)
		return RG_ERR_STATE;
	return t->locked_until_ms > now_ms(t) ? RG_ERR_AGAIN : 0;
}

int web__login_finish(struct web_sessions *t, int verify_rc, char id_out[WEB_SESSION_ID_LEN + 1])
{
	int64_t now = now_ms(t);
	uint8_t raw[WEB_SESSION_ID_LEN / 2];
	struct web_session *slot = NULL;
	int rc;

	if (verify_rc < 0) {
		if (verify_rc == RG_ERR_VERIFY && ++t->failures >= WEB_LOGIN_MAX_FAILURES) {
			t->locked_until_ms = now + WEB_LOGIN_LOCKOUT_MS;
			t->failures = 0;
		}
		return verify_rc;
	}
	/* Other attempts ran while this PIN was checked; one may have locked us out. */
	if (t->locked_until_ms > now)
		return RG_ERR_AGAIN;
	t->failures = 0;
	/* Reuse a free or expired slot, else evict the oldest login. */
	for (size_t i = 0; i < WEB_SESSIONS_MAX; i++) {
		struct web_session *s = &t->s[i];
		if (!s->in_use || now - s->last_ms > t->idle_ms || now - s->created_ms > t->max_ms) {
			slot = s;
			break;
		}
		if (!slot || s->created_ms < slot->created_ms)
			slot = s;
	}
	if ((rc = rg_random(raw, sizeof raw)) < 0)
		return rc;
	rg_hex_encode(raw, sizeof raw, slot->id, sizeof slot->id);
	slot->in_use = true;
	slot->created_ms = slot->last_ms = now;
	memcpy(id_out, slot->id, WEB_SESSION_ID_LEN + 1);
	return 0;
}

const struct web_session *web__session_check(struct web_sessions *t, const char *id)
{
	int64_t now = now_ms(t);
	if (!id || strlen(id) != WEB_SESSION_ID_LEN)
		return NULL;
	for (size_t i = 0; i < WEB_SESSIONS_MAX; i++) {
		struct web_session *s = &t->s[i];
		if (!s->in_use || !rg_ct_equal(s->id, id, WEB_SESSION_ID_LEN))
			continue;
		if (now - s->last_ms > t->idle_ms || now - s->created_ms > t->max_ms) {
			s->in_use = false;
			return NULL;
		}
		s->last_ms = now;
		return s;
	}
	return NULL;
}

void web__session_logout(struct web_sessions *t, const char *id)
{
	for (size_t i = 0; id && i < WEB_SESSIONS_MAX; i++)
		if (t->s[i].in_use && strlen(id) == WEB_SESSION_ID_LEN &&
		    rg_ct_equal(t->s[i].id, id, WEB_SESSION_ID_LEN))
			t->s[i].in_use = false;
}
