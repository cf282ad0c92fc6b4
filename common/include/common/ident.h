/*
 * ident.h - the identifier pipeline: a raw read (NFC UID, NDEF message,
 * barcode / QR / magstripe text) in, (type, token) out, or a refusal with a
 * stable reason. Raw and canonical values stay inside the pipeline; the
 * normal API hands out only HMAC tokens. Rules, canonical forms, reasons and
 * the JSON config schema: docs/identifiers.md. App token and TOTP wallet
 * formats: docs/app-token.md (ident_token.h, ident_totp.h).
 */
#ifndef COMMON_IDENT_H
#define COMMON_IDENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cJSON.h>

#include "common/clock.h"
#include "common/crypto.h"

#ifdef __cplusplus
extern "C" {
#endif

#define IDENT_TEXT_MAX 512	 /* longest text read (bytes); longer is too_long */
#define IDENT_CANON_MAX 64	 /* longest canonical value (bytes, without NUL) */
#define IDENT_REF_MAX 64	 /* customer reference in app tokens / TOTP barcodes */
#define IDENT_LOYALTY_LEN_MAX 32 /* longest loyalty id a rule may accept */
#define IDENT_LOYALTY_RULES_MAX 16
#define IDENT_NDEF_PATTERNS_MAX 8
#define IDENT_NDEF_PREFIX_MAX 128 /* bytes in a URI / Text prefix */
#define IDENT_QR_PREFIXES_MAX 4
#define IDENT_PREFIX_MAX 16  /* bytes in a QR / TOTP prefix */
#define IDENT_APP_KEYS_MAX 4 /* app-signing public keys at once (rotation) */
#define IDENT_TENANT_KEY_MIN 16
#define IDENT_TENANT_KEY_MAX 64

/* Where a read came from. Same values as hal_read_kind (hal/reader.h). */
enum ident_source {
	IDENT_SRC_NFC_UID = 0,	 /* bytes: the UID */
	IDENT_SRC_NDEF = 1,	 /* bytes: a raw NDEF message */
	IDENT_SRC_BARCODE = 2,	 /* text from a scanner (1D or 2D: a wedge cannot tell) */
	IDENT_SRC_QR = 3,	 /* text from a 2D code; classified like BARCODE */
	IDENT_SRC_MAGSTRIPE = 4, /* track text: %B...^NAME^...? and/or ;PAN=...? */
};

/* Identifier types. The name (ident_type_name) is what rg_token() hashes. */
enum ident_type {
	IDENT_TYPE_NONE = 0, /* not recognised as any type */
	IDENT_TYPE_LOYALTY = 1,
	IDENT_TYPE_NFC_UID = 2,
	IDENT_TYPE_NFC_NDEF = 3,
	IDENT_TYPE_QR = 4,
	IDENT_TYPE_APP_TOKEN = 5,
	IDENT_TYPE_TOTP = 6,
};

/* Why a read was refused. Stable: values and names are never renumbered or
 * reused; new reasons go at the end, before IDENT__REASON_COUNT. */
enum ident_reason {
	IDENT_OK = 0,			    /* "ok" */
	IDENT_BAD_CHECK_DIGIT = 1,	    /* "bad_check_digit" */
	IDENT_TOO_SHORT = 2,		    /* "too_short" */
	IDENT_TOO_LONG = 3,		    /* "too_long" */
	IDENT_BAD_CHARSET = 4,		    /* "bad_charset" */
	IDENT_NOT_UTF8 = 5,		    /* "not_utf8" */
	IDENT_NO_MATCH = 6,		    /* "no_match" */
	IDENT_TOKEN_EXPIRED = 7,	    /* "token_expired" */
	IDENT_TOKEN_NOT_YET_VALID = 8,	    /* "token_not_yet_valid" */
	IDENT_TOKEN_BAD_SIGNATURE = 9,	    /* "token_bad_signature" */
	IDENT_TOKEN_REPLAYED = 10,	    /* "token_replayed" */
	IDENT_TOKEN_MALFORMED = 11,	    /* "token_malformed" */
	IDENT_TOTP_OUT_OF_WINDOW = 12,	    /* "totp_out_of_window" */
	IDENT_TOTP_REUSED = 13,		    /* "totp_reused" */
	IDENT_TOKEN_UNKNOWN_KEY = 14,	    /* "token_unknown_key" */
	IDENT_TOKEN_LIFETIME_TOO_LONG = 15, /* "token_lifetime_too_long" */
	IDENT_TOKEN_BAD_VERSION = 16,	    /* "token_bad_version" */
	IDENT_TOTP_MALFORMED = 17,	    /* "totp_malformed" */
	IDENT_TOTP_UNKNOWN_CUSTOMER = 18,   /* "totp_unknown_customer" */
	IDENT_UID_BAD_LENGTH = 19,	    /* "uid_bad_length" */
	IDENT_UID_RANDOM = 20,		    /* "uid_random" */
	IDENT_NDEF_MALFORMED = 21,	    /* "ndef_malformed" */
	IDENT_NDEF_CHUNKED = 22,	    /* "ndef_chunked" */
	IDENT_MAGSTRIPE_MALFORMED = 23,	    /* "magstripe_malformed" */
	IDENT_TYPE_DISABLED = 24,	    /* "type_disabled" */
	IDENT__REASON_COUNT		    /* not a reason */
};

/* Stable lower-case names; never NULL ("unknown" / "none" out of range). */
const char *ident_reason_name(enum ident_reason r);
const char *ident_type_name(enum ident_type t);
const char *ident_source_name(enum ident_source s);
/* The enum value for a name, or RG_ERR_NOTFOUND. */
int ident_reason_from_name(const char *name);
int ident_type_from_name(const char *name);

/* ---- configuration (docs/identifiers.md, "Configuration") ---- */

enum ident_loyalty_kind {
	IDENT_LOYALTY_EAN13 = 0,   /* 13 digits, GS1 check digit */
	IDENT_LOYALTY_UPCA = 1,	   /* 12 digits, GS1 check digit; canonical: "0" + the 12 */
	IDENT_LOYALTY_LUHN = 2,	   /* min_len..max_len digits, Luhn check digit */
	IDENT_LOYALTY_PATTERN = 3, /* min_len..max_len of charset, no check digit */
};

enum ident_charset {
	IDENT_CHARSET_DIGITS = 0, /* 0-9 */
	IDENT_CHARSET_ALNUM = 1,  /* 0-9 A-Z (upper case only) */
};

struct ident_loyalty_rule {
	enum ident_loyalty_kind kind;
	enum ident_charset charset;		/* PATTERN only; DIGITS for the others */
	unsigned min_len, max_len;		/* in characters of the input */
	char prefix[IDENT_LOYALTY_LEN_MAX + 1]; /* "" = any */
};

enum ident_ndef_field {
	IDENT_NDEF_FIELD_URI = 0,  /* well-known "U" record, prefix code expanded */
	IDENT_NDEF_FIELD_TEXT = 1, /* well-known "T" record, UTF-8 text */
};

struct ident_ndef_pattern {
	enum ident_ndef_field field;
	char prefix[IDENT_NDEF_PREFIX_MAX + 1]; /* the id is everything after it */
	enum ident_type as; /* IDENT_TYPE_LOYALTY (through the loyalty rules) or _NFC_NDEF */
};

enum ident_totp_alg {
	IDENT_TOTP_SHA1 = 0, /* what wallet passes and oathtool use by default */
	IDENT_TOTP_SHA256 = 1,
	IDENT_TOTP_SHA512 = 2,
};

struct ident_config {
	struct {
		bool enabled;
		bool magstripe; /* accept magstripe track text (and %.../;... text from wedges) */
		size_t n_rules;
		struct ident_loyalty_rule rules[IDENT_LOYALTY_RULES_MAX]; /* tried in order */
	} loyalty;
	struct {
		bool enabled;
	} nfc_uid;
	struct {
		bool enabled;
		size_t n_patterns;
		struct ident_ndef_pattern patterns[IDENT_NDEF_PATTERNS_MAX];
	} nfc_ndef;
	struct {
		bool enabled;
		size_t n_prefixes;
		char prefixes[IDENT_QR_PREFIXES_MAX][IDENT_PREFIX_MAX + 1];
		unsigned min_len, max_len; /* member id length, 1..IDENT_CANON_MAX */
	} qr;
	struct {
		bool enabled;
		size_t n_keys;
		uint8_t keys[IDENT_APP_KEYS_MAX][RG_EC_PUB_RAW_LEN]; /* 0x04||X||Y */
		int64_t skew_s;		/* clock-skew allowance, both directions */
		int64_t max_lifetime_s; /* longest exp - iat accepted */
	} app_token;
	struct {
		bool enabled;
		char prefix[IDENT_PREFIX_MAX + 1];
		enum ident_totp_alg alg;
		unsigned digits;   /* 6..8 */
		unsigned period_s; /* 10..300 */
		unsigned window;   /* accept steps T-window..T+window, 0..10 */
	} totp;
};

/* The defaults (docs/identifiers.md): every type enabled; loyalty rules
 * ean13 then upca; no NDEF patterns; QR prefix "RGM1:"; no app keys, skew
 * 60 s, max lifetime 600 s; TOTP "RGW1:", SHA-1, 6 digits, 30 s, window 1. */
void ident_config_default(struct ident_config *c);

/* Fill *c from a JSON object: defaults, then every key present (unknown keys
 * are errors). Returns 0, or RG_ERR_CONFIG / RG_ERR_TYPE / RG_ERR_RANGE /
 * RG_ERR_MISSING / RG_ERR_PARSE with a message naming the key in err. *c is
 * unspecified on failure. */
int ident_config_from_json(const cJSON *obj, struct ident_config *c, char *err, size_t errcap);

/* Check a config built in code (the same rules the JSON parser applies). */
int ident_config_validate(const struct ident_config *c, char *err, size_t errcap);

/* ---- the pipeline ---- */

struct ident_pipeline;	   /* opaque */
struct ident_replay_store; /* ident_token.h */
struct ident_secret_store; /* ident_totp.h */

struct ident_pipeline_params {
	const struct ident_config *config;  /* copied */
	const uint8_t *tenant_key;	    /* copied, then wiped on free */
	size_t tenant_key_len;		    /* IDENT_TENANT_KEY_MIN..MAX */
	const uint8_t *totp_seal_key;	    /* RG_AEAD_KEY_LEN bytes, copied; totp only */
	const struct rg_clock *clock;	    /* borrowed; NULL = rg_clock_system() */
	struct ident_replay_store *replay;  /* borrowed; required if app_token.enabled */
	struct ident_secret_store *secrets; /* borrowed; required if totp.enabled */
};

/* Validates the config and builds a pipeline. On success *out is owned by
 * the caller (ident_pipeline_free). RG_ERR_CONFIG (logged), RG_ERR_INVAL
 * (missing key/store), RG_ERR_NOMEM. One thread at a time per pipeline. */
int ident_pipeline_new(const struct ident_pipeline_params *pp, struct ident_pipeline **out);
/* Wipes the keys it holds and frees. NULL is a no-op. */
void ident_pipeline_free(struct ident_pipeline *p);

struct ident_result {
	enum ident_reason reason; /* IDENT_OK: accepted */
	enum ident_type type;	  /* the type recognised; set on most refusals too */
	enum ident_source source;
	uint8_t token[RG_TOKEN_LEN]; /* rg_token(tenant, type, canonical) if OK, else zeros */
};

/* Classify, canonicalise and tokenise one read. Returns 0 with *out filled
 * (accepted or refused: see out->reason), or a negative rg_err when the
 * pipeline could not decide (RG_ERR_INVAL, RG_ERR_CRYPTO, a replay or secret
 * store error such as RG_ERR_TOOBIG for a full replay store, RG_ERR_VERIFY
 * for a sealed TOTP secret that does not open); *out then has no token and
 * the reason IDENT__REASON_COUNT (never IDENT_OK; named "unknown").
 * Accepting an app token records its nonce and accepting a TOTP code its time
 * step: each is accepted once. Working buffers holding raw values are wiped
 * before returning. */
int ident_classify(struct ident_pipeline *p, enum ident_source src, const void *data, size_t len,
		   struct ident_result *out);

/* Exactly ident_classify (same state changes), and also copies the canonical
 * value (NUL-terminated) to canon when accepted; canon is "" otherwise.
 * cap >= IDENT_CANON_MAX + 1. For tests, tools and benchmarks only: a store
 * device's normal path uses ident_classify and never sees raw values. */
int ident_classify_canonical(struct ident_pipeline *p, enum ident_source src, const void *data,
			     size_t len, struct ident_result *out, char *canon, size_t cap);

#ifdef __cplusplus
}
#endif

#endif
