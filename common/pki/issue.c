/*
 * issue.c - issuing leaf certificates under the tenant CA: a fresh P-256 key
 * per identity, subject "CN=<id>, OU=<kind>[:<store>], O=<tenant>", clientAuth
 * or serverAuth, SANs for brokers. Every certificate is parsed and verified
 * against the CA before it is written; keys are never replaced unless asked,
 * and an identity can never be re-issued as another kind or for another store.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/err.h"
#include "common/log.h"
#include "pki_internal.h"

#define BACKDATE_S 3600

static int check_params(const struct pki_issue_params *p, unsigned *days, char *err, size_t errcap)
{
	int rc;
	if ((rc = pki_identity_check(p->kind, p->id, p->store, err, errcap)) < 0)
		return rc;
	if (p->kind == PKI_KIND_BROKER) {
		if (!p->n_sans || !p->sans)
			return pki__fail(RG_ERR_INVAL, err, errcap,
					 "a broker certificate needs at least one subjectAltName "
					 "(the host names and addresses clients connect to)");
		if (p->n_sans > PKI_SAN_MAX)
			return pki__fail(RG_ERR_RANGE, err, errcap, "at most %d subjectAltNames",
					 PKI_SAN_MAX);
		for (size_t i = 0; i < p->n_sans; i++)
			if (!pki__san_valid(p->sans[i]))
				return pki__fail(RG_ERR_INVAL, err, errcap,
						 "subjectAltName \"%.80s\" is neither a DNS name "
						 "nor an IP address",
						 p->sans[i] ? p->sans[i] : "");
	} else if (p->n_sans) {
		return pki__fail(RG_ERR_INVAL, err, errcap,
				 "subjectAltNames are for broker certificates only");
	}
	*days = p->days ? p->days : PKI_LEAF_DAYS_DEFAULT;
	if (*days > PKI_LEAF_DAYS_MAX)
		return pki__fail(RG_ERR_RANGE, err, errcap, "days %u is above the maximum %d",
				 *days, PKI_LEAF_DAYS_MAX);
	return 0;
}

/* With force, the identity may get a new key and certificate, but it keeps
 * its kind and store: brokers grant rights by name. */
static int check_replace(const struct pki_issue_params *p, const char *crt_path, char *err,
			 size_t errcap)
{
	struct pki_cert_info old;
	char msg[PKI_ERR_MAX];
	const char *store = p->store ? p->store : "";

	if (pki__exists(crt_path) != 1)
		return 0;
	if (pki_cert_info_read(crt_path, &old, msg, sizeof msg) < 0)
		return pki__fail(RG_ERR_EXISTS, err, errcap,
				 "%s exists and is not a Regulars certificate (%s); remove it "
				 "by hand if it must go",
				 crt_path, msg);
	if (old.is_ca || old.kind != p->kind || strcmp(old.store, store))
		return pki__fail(RG_ERR_EXISTS, err, errcap,
				 "%s is a %s%s%s; an identity never changes kind or store (choose "
				 "another identity)",
				 p->id, pki_kind_name(old.kind), old.store[0] ? " of store " : "",
				 old.store);
	return 0;
}

int pki_cert_issue(const char *dir, const struct pki_issue_params *p, char *err, size_t errcap)
{
	char ca_crt_path[PATH_MAX], ca_key_path[PATH_MAX], crt_path[PATH_MAX], key_path[PATH_MAX];
	char subject[256], issuer[128], crt_pem[PKI_PEM_MAX], key_pem[PKI_PEM_MAX];
	struct pki__staged skey = {.live = false}, scrt = {.live = false};
	struct pki__crt_spec spec = {.subject = NULL};
	struct pki_cert_info ca_info;
	mbedtls_x509_crt ca, check;
	mbedtls_pk_context ca_key, key;
	unsigned days = 0;
	int64_t now;
	uint32_t flags = 0;
	int rc, n;

	if (!dir || !*dir || !p)
		return pki__fail(RG_ERR_INVAL, err, errcap, "no directory or parameters");
	if ((rc = check_params(p, &days, err, errcap)) < 0)
		return rc;
	if (pki__path(ca_crt_path, sizeof ca_crt_path, dir, PKI_CA_FILE, ".crt") < 0 ||
	    pki__path(ca_key_path, sizeof ca_key_path, dir, PKI_CA_FILE, ".key") < 0 ||
	    pki__path(crt_path, sizeof crt_path, dir, p->id, ".crt") < 0 ||
	    pki__path(key_path, sizeof key_path, dir, p->id, ".key") < 0)
		return pki__fail(RG_ERR_TOOBIG, err, errcap, "directory path too long");
	if (!p->force && (pki__exists(key_path) || pki__exists(crt_path)))
		return pki__fail(RG_ERR_EXISTS, err, errcap,
				 "%s/%s.key or .crt already exists; refusing to replace it without "
				 "force",
				 dir, p->id);
	if (p->force && (rc = check_replace(p, crt_path, err, errcap)) < 0)
		return rc;

	mbedtls_x509_crt_init(&ca);
	mbedtls_x509_crt_init(&check);
	mbedtls_pk_init(&ca_key);
	mbedtls_pk_init(&key);
	if ((rc = pki__crt_load(&ca, ca_crt_path, err, errcap)) < 0 ||
	    (rc = pki__key_load(&ca_key, ca_key_path, err, errcap)) < 0)
		goto out;
	if ((rc = pki__info_from_crt(&ca, &ca_info, err, errcap)) < 0 || !ca_info.is_ca) {
		rc = pki__fail(RG_ERR_PARSE, err, errcap, "%s is not a Regulars CA certificate",
			       ca_crt_path);
		goto out;
	}
	if (mbedtls_pk_check_pair(&ca.pk, &ca_key)) {
		rc = pki__fail(RG_ERR_VERIFY, err, errcap, "%s does not match %s", ca_key_path,
			       ca_crt_path);
		goto out;
	}
	now = rg_clock_wall_ms(p->clock ? p->clock : rg_clock_system()) / 1000;
	spec.not_before = now - BACKDATE_S;
	spec.not_after = now + (int64_t)days * 86400;
	if (spec.not_after > ca_info.not_after)
		spec.not_after = ca_info.not_after; /* a leaf never outlives its CA */
	if (spec.not_after <= now) {
		rc = pki__fail(RG_ERR_RANGE, err, errcap, "the CA has expired");
		goto out;
	}
	n = snprintf(subject, sizeof subject, "CN=%s,OU=%s%s%s,O=%s", p->id, pki_kind_name(p->kind),
		     p->store ? ":" : "", p->store ? p->store : "", ca_info.tenant);
	if (n < 0 || (size_t)n >= sizeof subject ||
	    pki__ca_subject(issuer, sizeof issuer, ca_info.tenant) < 0) {
		rc = pki__fail(RG_ERR_TOOBIG, err, errcap, "subject too long");
		goto out;
	}
	if ((rc = pki__key_generate(&key, p->rng)) < 0) {
		pki__fail(rc, err, errcap, "generating the key failed");
		goto out;
	}
	spec.subject = subject;
	spec.issuer = issuer;
	spec.subject_key = &key;
	spec.issuer_key = &ca_key;
	spec.server_auth = p->kind == PKI_KIND_BROKER;
	spec.sans = p->sans;
	spec.n_sans = p->kind == PKI_KIND_BROKER ? p->n_sans : 0;
	spec.rng = p->rng;
	if ((rc = pki__crt_write(&spec, crt_pem, sizeof crt_pem, err, errcap)) < 0)
		goto out;

	/* Never hand out a certificate that does not verify under its CA. */
	if (mbedtls_x509_crt_parse(&check, (const unsigned char *)crt_pem, strlen(crt_pem) + 1) ||
	    check.issuer_raw.len != ca.subject_raw.len ||
	    memcmp(check.issuer_raw.p, ca.subject_raw.p, ca.subject_raw.len) ||
	    (mbedtls_x509_crt_verify(&check, &ca, NULL, NULL, &flags, NULL, NULL) &&
	     (flags & ~(uint32_t)(MBEDTLS_X509_BADCERT_EXPIRED | MBEDTLS_X509_BADCERT_FUTURE)))) {
		rc = pki__fail(RG_ERR_CRYPTO, err, errcap,
			       "the new certificate does not verify under %s (flags 0x%x)",
			       ca_crt_path, (unsigned)flags);
		goto out;
	}
	if (mbedtls_pk_write_key_pem(&key, (unsigned char *)key_pem, sizeof key_pem)) {
		rc = pki__fail(RG_ERR_CRYPTO, err, errcap, "encoding the key failed");
		goto out;
	}
	if ((rc = pki__stage(&skey, key_path, key_pem, strlen(key_pem), 0600)) < 0 ||
	    (rc = pki__stage(&scrt, crt_path, crt_pem, strlen(crt_pem), 0644)) < 0) {
		pki__fail(rc, err, errcap, "writing into %s: %s", dir, rg_strerror(rc));
		goto out;
	}
	if ((rc = pki__commit(&skey, p->force)) < 0) {
		pki__fail(rc, err, errcap, "placing %s: %s", key_path, rg_strerror(rc));
		goto out;
	}
	if ((rc = pki__commit(&scrt, p->force)) < 0) {
		if (!p->force)
			unlink(key_path);
		pki__fail(rc, err, errcap, "placing %s: %s", crt_path, rg_strerror(rc));
		goto out;
	}
	if ((rc = pki__fsync_dir(dir)) < 0) {
		pki__fail(rc, err, errcap, "syncing %s: %s", dir, rg_strerror(rc));
		goto out;
	}
	rg_info("pki", "issued", "id=%s kind=%s store=%s days=%u replaced=%d", p->id,
		pki_kind_name(p->kind), p->store ? p->store : "-", days, p->force ? 1 : 0);
	rc = 0;
out:
	pki__discard(&skey);
	pki__discard(&scrt);
	rg_wipe(key_pem, sizeof key_pem);
	mbedtls_pk_free(&key);
	mbedtls_pk_free(&ca_key);
	mbedtls_x509_crt_free(&check);
	mbedtls_x509_crt_free(&ca);
	return rc;
}
