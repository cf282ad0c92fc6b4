/*
 * cfgdoc.h - signed configuration documents (docs/config.md): the envelope
 * IT publishes retained on MQTT, the key sets devices trust (TUF style: a
 * set of ECDSA P-256 config-signing keys and a threshold), rotation of that
 * set, and the checks a device or gateway makes before it applies anything.
 *
 * The envelope (at most CFGDOC_ENVELOPE_MAX bytes, JSON):
 *
 *   {"payload": "<base64url, no padding, of the document's exact bytes>",
 *    "signatures": [{"keyid": "<64 hex>", "sig": "<base64url DER ECDSA>"}, ...]}
 *
 * Each signature is ECDSA P-256 over SHA-256 of the document's exact bytes
 * (the decoded payload): nothing is canonicalised, what was signed is what
 * is parsed. A key id is the lowercase hex SHA-256 of the key's raw public
 * point (rg_ec_key_id). Signatures are counted per distinct key id of the
 * trusted set whose signature verifies; the same key twice counts once,
 * unknown key ids and bad signatures count zero.
 *
 * A configuration document (the decoded payload, JSON, strict):
 *
 *   {"type": "regulars-config", "tenant": "acme", "scope": "store",
 *    "store": "0042", "version": 7, "issued": "2026-11-23T10:00:00Z",
 *    "expires": "2026-12-23T10:00:00Z", "settings": {...}}
 *
 * scope tenant: no "store", no "device"; scope store: "store"; scope device:
 * "store" and "device". version 1..2^53-1. Times are RFC 3339 UTC ("Z").
 * settings is checked by common/settings.h.
 *
 * A key-set document (also the format of the provisioned trust anchor file,
 * which is the same JSON, unsigned):
 *
 *   {"type": "regulars-keys", "tenant": "acme", "version": 2,
 *    "issued": "...", "expires": "...", "threshold": 2,
 *    "keys": [{"keyid": "<64 hex>", "public": "<base64url raw 65-byte point>"}, ...]}
 *
 * 1..CFGDOC_KEYS_MAX keys, distinct, keyid matching public; threshold
 * 1..number of keys. Key set version N+1 is accepted only when signed by a
 * threshold of set N and by a threshold of set N+1 itself; afterwards set N's
 * keys are retired (documents signed only by them are refused).
 */
#ifndef COMMON_CFGDOC_H
#define COMMON_CFGDOC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cJSON.h>

#include "common/crypto.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CFGDOC_ENVELOPE_MAX (64 * 1024) /* bytes; bigger is refused unread */
#define CFGDOC_KEYS_MAX 16		/* keys in a set */
#define CFGDOC_SIGS_MAX 16		/* signatures in an envelope */
#define CFGDOC_TENANT_MAX 64
#define CFGDOC_STORE_MAX 32
#define CFGDOC_DEVICE_MAX 64
#define CFGDOC_KEYID_HEX 64

enum cfgdoc_scope {
	CFGDOC_SCOPE_TENANT = 0,
	CFGDOC_SCOPE_STORE = 1,
	CFGDOC_SCOPE_DEVICE = 2,
	CFGDOC_SCOPE_KEYS = 3, /* a key-set document */
	CFGDOC_SCOPE__COUNT
};
/* "tenant", "store", "device", "keys"; parse returns the scope or RG_ERR_PARSE. */
const char *cfgdoc_scope_name(enum cfgdoc_scope s);
int cfgdoc_scope_parse(const char *name);

/* Why a document was refused: what a device reports as "reason". */
enum cfgdoc_reason {
	CFGDOC_OK = 0,
	CFGDOC_TOO_LARGE,	/* "too_large": over CFGDOC_ENVELOPE_MAX */
	CFGDOC_MALFORMED,	/* "malformed": envelope or document is not what this file says */
	CFGDOC_SIGNATURE,	/* "signature": fewer valid distinct trusted signatures than the threshold */
	CFGDOC_WRONG_TENANT,	/* "wrong_tenant" */
	CFGDOC_WRONG_TARGET,	/* "wrong_target": another store or device, or the wrong scope for the topic */
	CFGDOC_EXPIRED,		/* "expired": expires <= now */
	CFGDOC_REPLAY,		/* "replay": version not higher than the applied one */
	CFGDOC_INVALID,		/* "invalid": a setting is unknown, of the wrong type or out of range */
	CFGDOC_ROTATION,	/* "rotation": a key-set document that does not follow the current set */
	CFGDOC_REASON__COUNT
};
const char *cfgdoc_reason_name(enum cfgdoc_reason r);

/* A set of trusted config-signing keys. */
struct cfgdoc_keyset {
	char tenant[CFGDOC_TENANT_MAX + 1];
	int64_t version;
	int64_t expires; /* unix seconds; 0 for an anchor file without "expires" */
	int threshold;
	size_t n;
	struct {
		uint8_t id[RG_SHA256_LEN];
		uint8_t pub[RG_EC_PUB_RAW_LEN];
	} keys[CFGDOC_KEYS_MAX];
};

/* A verified document. */
struct cfgdoc {
	enum cfgdoc_scope scope;
	char tenant[CFGDOC_TENANT_MAX + 1];
	char store[CFGDOC_STORE_MAX + 1];   /* "" for tenant scope */
	char device[CFGDOC_DEVICE_MAX + 1]; /* "" unless device scope */
	int64_t version;
	int64_t issued, expires; /* unix seconds */
	uint8_t digest[RG_SHA256_LEN]; /* SHA-256 of the document bytes */
	int valid_signatures;	       /* distinct trusted keys whose signature verified */
	cJSON *settings;	       /* owned; NULL for a key-set document */
	struct cfgdoc_keyset keys;     /* the announced set, for a key-set document */
};
void cfgdoc_clear(struct cfgdoc *d); /* frees settings; safe on a zeroed or cleared doc */

/* Parse a key-set document's JSON (the anchor file, or a rotation document's
 * payload) without any signature check. RG_ERR_PARSE with a message. */
int cfgdoc_keyset_parse(const char *json, size_t len, struct cfgdoc_keyset *out, char *err,
			size_t errcap);
/* Its JSON text (malloc'd, NUL-terminated; free()), e.g. to persist it. */
char *cfgdoc_keyset_json(const struct cfgdoc_keyset *ks);

/* What the receiver expects of a document. */
struct cfgdoc_expect {
	const char *store;   /* this store; NULL: any (IT tooling) */
	const char *device;  /* this device; NULL: any */
	int scope;	     /* the scope the topic carries, or -1: any */
	int64_t now;	     /* unix seconds, for expiry */
	int64_t applied_version; /* the version applied for this scope; 0: none */
	bool check_settings;	 /* also rg_settings_check() the settings */
};

/*
 * The whole check, in this order: size, envelope, signatures against trust
 * (threshold of distinct valid key ids), document, tenant = trust's tenant,
 * scope/store/device against exp, expiry, version > applied_version, and
 * settings. Returns CFGDOC_OK with *out filled (cfgdoc_clear it), or the
 * first reason that applies with a one-line detail in err (which names the
 * key for CFGDOC_INVALID: "screen.idle_after_ms: must be 1000..600000").
 * For a key-set document use cfgdoc_rotate instead (this refuses it as
 * CFGDOC_MALFORMED unless exp->scope is CFGDOC_SCOPE_KEYS or -1, and then
 * checks it only against trust, not the rotation rule).
 */
enum cfgdoc_reason cfgdoc_verify(const struct cfgdoc_keyset *trust, const void *envelope,
				 size_t len, const struct cfgdoc_expect *exp, struct cfgdoc *out,
				 char *err, size_t errcap);

/*
 * A rotation: envelope holds key-set document version current->version + 1
 * of the same tenant, signed by a threshold of current and a threshold of
 * the set it announces. CFGDOC_OK with *next filled, else CFGDOC_ROTATION
 * (wrong version / tenant), CFGDOC_SIGNATURE, CFGDOC_MALFORMED or
 * CFGDOC_TOO_LARGE with a detail. Expiry is not checked here: a device that
 * was away walks the chain of rotations whatever their age.
 */
enum cfgdoc_reason cfgdoc_rotate(const struct cfgdoc_keyset *current, const void *envelope,
				 size_t len, struct cfgdoc_keyset *next, char *err, size_t errcap);

/*
 * Signing (IT tooling). The document bytes are signed as they are. If
 * envelope_in is non-NULL it must be an envelope over the same document
 * (checked) whose signatures are kept; keys already present are not added
 * twice. Returns 0 with a malloc'd NUL-terminated envelope in *out, or an
 * rg_err with a message.
 */
int cfgdoc_sign(const void *doc, size_t doc_len, const char *envelope_in, size_t envelope_in_len,
		struct rg_ec_key *const *keys, size_t n_keys, char **out, char *err,
		size_t errcap);

/* The document bytes inside an envelope, without any check beyond the
 * envelope's shape (for `regularsctl config verify/diff`): malloc'd copy,
 * NUL-terminated, length in *len. RG_ERR_PARSE with a message. */
int cfgdoc_envelope_payload(const void *envelope, size_t len, char **doc, size_t *doc_len,
			    char *err, size_t errcap);

/* RFC 3339 UTC ("2026-11-23T10:00:00Z") <-> unix seconds. */
int cfgdoc_time_parse(const char *s, int64_t *out);
void cfgdoc_time_format(int64_t t, char out[21]);

#ifdef __cplusplus
}
#endif

#endif
