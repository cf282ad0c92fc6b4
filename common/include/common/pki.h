/*
 * pki.h - the tenant PKI of Regulars (rg_pki, on mbedTLS 2.28): one
 * self-signed EC P-256 tenant CA per PKI directory, leaf certificates for
 * devices, gateways, cloud workers and brokers (CN = the identity), and the
 * Mosquitto configuration + ACL of a store or central broker generated from
 * that directory. Callers never get mbedTLS types; see docs/pki.md.
 */
#ifndef COMMON_PKI_H
#define COMMON_PKI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/clock.h"
#include "common/crypto.h"

#ifdef __cplusplus
extern "C" {
#endif

#define PKI_ID_MAX 64	  /* identity: [a-z0-9-]{1,64}, not starting with '-' */
#define PKI_STORE_MAX 32  /* store id: [a-z0-9-]{1,32}, not starting with '-' */
#define PKI_TENANT_MAX 32 /* tenant: [a-z0-9-]{1,32}, not starting with '-' */
#define PKI_SAN_MAX 8	  /* subjectAltName entries on a broker certificate */
#define PKI_SAN_LEN_MAX 253
#define PKI_ERR_MAX 256		  /* a good size for the err buffers below */
#define PKI_CA_DAYS_DEFAULT 3650  /* 10 years */
#define PKI_LEAF_DAYS_DEFAULT 730 /* 2 years */
#define PKI_CA_DAYS_MAX 9125	  /* 25 years */
#define PKI_LEAF_DAYS_MAX 3650
#define PKI_GATEWAY_PREFIX "gw-" /* reserved: a gateway is exactly "gw-<store>" */
#define PKI_IT_PREFIX "it-"	 /* reserved: an IT identity is "it-<name>" */

/* The kinds of identity. Names are what the certificate's OU and the CLI
 * carry; values are stable. */
enum pki_kind {
	PKI_KIND_DEVICE = 0,  /* kiosk / handheld: client of the store broker */
	PKI_KIND_GATEWAY = 1, /* store gateway: client of both brokers */
	PKI_KIND_CLOUD = 2,   /* cloud-sync worker: client of the central broker */
	PKI_KIND_BROKER = 3,  /* a Mosquitto broker: TLS server, with subjectAltNames */
	PKI_KIND_IT = 4,      /* IT staff (regularsctl config): client of the central broker */
	PKI_KIND__COUNT
};

/* "device", "gateway", "cloud", "broker", "it"; "invalid" for anything else. */
const char *pki_kind_name(enum pki_kind kind);
/* Returns the kind, or RG_ERR_PARSE. */
int pki_kind_parse(const char *name);

/* Grammar checks: 1 if valid, else 0. Identities become MQTT usernames and
 * topic levels, so '+', '#', '/' and the like can never appear in them. */
int pki_identity_valid(const char *id);
int pki_store_valid(const char *store);
int pki_tenant_valid(const char *tenant);

/* The whole rule for a (kind, id, store) triple: grammar; device and gateway
 * need a store, cloud and it have none; a gateway's id is exactly "gw-<store>"
 * and no other kind may use the "gw-" prefix (brokers grant gateway rights by
 * that name); an IT identity is "it-<name>" and no other kind starts with
 * "it-" (so a name says what it may do). Returns 0,
 * or RG_ERR_INVAL with a message in err (err may be NULL). */
int pki_identity_check(enum pki_kind kind, const char *id, const char *store, char *err,
		       size_t errcap);

/* ---- the CA ---- */

struct pki_ca_params {
	const char *tenant;	      /* required; subject "CN=<tenant> Regulars CA, O=<tenant>" */
	unsigned days;		      /* 0: PKI_CA_DAYS_DEFAULT; at most PKI_CA_DAYS_MAX */
	bool force;		      /* replace an existing CA: every issued cert stops chaining */
	const struct rg_rand *rng;    /* NULL: the system CSPRNG */
	const struct rg_clock *clock; /* NULL: the system clock */
};

/* Create dir (0700) if missing and write dir/ca.key (0600) and dir/ca.crt.
 * RG_ERR_EXISTS if either file exists and !force. Files are written to a
 * temporary name, fsync'ed and then linked (or, with force, renamed) into
 * place, so a crash never leaves a half-written key. Errors: RG_ERR_INVAL,
 * RG_ERR_RANGE, RG_ERR_EXISTS, RG_ERR_IO, RG_ERR_PERM, RG_ERR_CRYPTO. */
int pki_ca_create(const char *dir, const struct pki_ca_params *p, char *err, size_t errcap);

/* ---- leaf certificates ---- */

struct pki_issue_params {
	enum pki_kind kind;
	const char *id;		 /* the identity: CN, file name, MQTT username */
	const char *store;	 /* device, gateway: required; broker: optional; cloud: NULL */
	const char *const *sans; /* broker only: DNS names or IPv4/IPv6 literals, >= 1 */
	size_t n_sans;		 /* at most PKI_SAN_MAX */
	unsigned days;		 /* 0: PKI_LEAF_DAYS_DEFAULT; capped by the CA's own expiry */
	bool force;		 /* replace dir/<id>.key and .crt (same kind and store only) */
	const struct rg_rand *rng;
	const struct rg_clock *clock;
};

/* Issue dir/<id>.crt signed by dir/ca.key, with a fresh P-256 key in
 * dir/<id>.key (0600). Subject "CN=<id>, OU=<kind>[:<store>], O=<tenant>";
 * extendedKeyUsage clientAuth (device, gateway, cloud) or serverAuth (broker);
 * a random 16-byte serial. RG_ERR_EXISTS if either file exists and !force;
 * with force, RG_ERR_EXISTS too if the existing certificate is of another
 * kind or store (an identity never changes kind). */
int pki_cert_issue(const char *dir, const struct pki_issue_params *p, char *err, size_t errcap);

/* What a certificate says, as Regulars reads it. */
struct pki_cert_info {
	char cn[PKI_ID_MAX + 1];       /* the identity; for the CA "<tenant> Regulars CA" */
	bool is_ca;		       /* basicConstraints CA:true */
	enum pki_kind kind;	       /* from OU; meaningless when is_ca */
	char store[PKI_STORE_MAX + 1]; /* "" when the certificate has none */
	char tenant[PKI_TENANT_MAX + 1];
	int64_t not_before; /* Unix seconds, UTC */
	int64_t not_after;
	char serial[41];	       /* lower-case hex */
	bool client_auth, server_auth; /* extendedKeyUsage */
	char sans[PKI_SAN_MAX * 48];   /* SANs, comma separated, for display (cut with "...") */
	bool trusted;		       /* pki_dir_list only: chains to dir/ca.crt */
};

/* Read one PEM certificate file written by this library. RG_ERR_PARSE if it
 * is not one (wrong subject shape, unknown kind, ...), with a message. */
int pki_cert_info_read(const char *path, struct pki_cert_info *out, char *err, size_t errcap);

/* Verify dir/<id>.crt against dir/ca.crt: signature chain, and validity
 * period at the clock's time (NULL: system). 0, RG_ERR_VERIFY (err says why),
 * RG_ERR_NOTFOUND, RG_ERR_PARSE. */
int pki_cert_verify(const char *dir, const char *id, const struct rg_clock *clock, char *err,
		    size_t errcap);

/* Every leaf certificate (*.crt but ca.crt) in dir, sorted by cn, each with
 * `trusted` set. On success *out is a malloc'd array owned by the caller
 * (free()), possibly NULL when the count is 0; returns the count (at most
 * PKI_LIST_MAX). Files that do not parse are skipped with a warning log. */
#define PKI_LIST_MAX 100000
int pki_dir_list(const char *dir, struct pki_cert_info **out, char *err, size_t errcap);

/* ---- broker configuration ---- */

enum pki_broker_role {
	PKI_BROKER_STORE = 0,	/* devices of one store + that store's gateway */
	PKI_BROKER_CENTRAL = 1, /* gateways + cloud workers */
};

struct pki_broker_params {
	enum pki_broker_role role;
	const char *store;     /* store role: required */
	const char *broker_id; /* the broker's identity in the PKI dir; NULL: "broker-<store>"
				  or "broker-central" */
	unsigned port;	       /* MQTT over TLS listener, 1..65535 */
	const char *bind;      /* listen address; NULL: every interface */
	unsigned autosave_s;   /* persistence autosave interval; 0: 30 s */
	bool run_as_root;      /* add `user root` (see docs/pki.md: test brokers run as root) */
	bool force;	       /* replace certs/broker.key in out_dir if it differs */
	const struct rg_clock *clock; /* what "expired" means for the central ACL; NULL: system */
};

/* Write out_dir/mosquitto.conf and out_dir/acl (both regenerated every time,
 * atomically), copy the CA certificate and the broker's certificate and key
 * into out_dir/certs/ (the key 0600; an existing different key is refused
 * unless force) and create out_dir/data/ for persistence. Never reads ca.key.
 * For the central role, the ACL names every gateway, cloud worker and IT
 * identity whose certificate in pki_dir chains to ca.crt and has not expired;
 * regenerate and SIGHUP the broker after issuing a new one. See
 * docs/topics.md. */
int pki_broker_config_write(const char *pki_dir, const char *out_dir,
			    const struct pki_broker_params *p, char *err, size_t errcap);

#ifdef __cplusplus
}
#endif

#endif
