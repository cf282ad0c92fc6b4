/*
 * ca.c - creating the tenant CA: a self-signed EC P-256 certificate with
 * basicConstraints CA:true pathlen 0 and keyUsage keyCertSign|cRLSign, its key
 * in ca.key (0600). An existing CA is never replaced unless asked to, because
 * every certificate issued under it stops being trusted.
 */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/err.h"
#include "common/log.h"
#include "pki_internal.h"

/* Backdating not_before tolerates clocks that run a little behind. */
#define BACKDATE_S 3600

int pki_ca_create(const char *dir, const struct pki_ca_params *p, char *err, size_t errcap)
{
	char crt_path[PATH_MAX], key_path[PATH_MAX], subject[128];
	char crt_pem[PKI_PEM_MAX], key_pem[PKI_PEM_MAX];
	struct pki__staged skey = {.live = false}, scrt = {.live = false};
	struct pki__crt_spec spec = {.subject = NULL};
	mbedtls_pk_context key;
	unsigned days;
	int64_t now;
	int rc;

	if (!dir || !*dir || !p)
		return pki__fail(RG_ERR_INVAL, err, errcap, "no directory or parameters");
	if (!pki_tenant_valid(p->tenant))
		return pki__fail(RG_ERR_INVAL, err, errcap,
				 "tenant \"%.40s\" is not 1-%d of [a-z0-9-] starting with a letter "
				 "or digit",
				 p->tenant ? p->tenant : "", PKI_TENANT_MAX);
	days = p->days ? p->days : PKI_CA_DAYS_DEFAULT;
	if (days > PKI_CA_DAYS_MAX)
		return pki__fail(RG_ERR_RANGE, err, errcap, "days %u is above the maximum %d", days,
				 PKI_CA_DAYS_MAX);
	if (pki__path(crt_path, sizeof crt_path, dir, PKI_CA_FILE, ".crt") < 0 ||
	    pki__path(key_path, sizeof key_path, dir, PKI_CA_FILE, ".key") < 0)
		return pki__fail(RG_ERR_TOOBIG, err, errcap, "directory path too long");
	if ((rc = pki__mkdirs(dir, 0700)) < 0)
		return pki__fail(rc, err, errcap, "cannot create directory %s: %s", dir,
				 rg_strerror(rc));
	if (!p->force && (pki__exists(key_path) || pki__exists(crt_path)))
		return pki__fail(RG_ERR_EXISTS, err, errcap,
				 "%s already holds a CA (ca.key/ca.crt); refusing to replace it "
				 "without force",
				 dir);
	pki__ca_subject(subject, sizeof subject, p->tenant);
	now = rg_clock_wall_ms(p->clock ? p->clock : rg_clock_system()) / 1000;

	mbedtls_pk_init(&key);
	if ((rc = pki__key_generate(&key, p->rng)) < 0) {
		pki__fail(rc, err, errcap, "generating the CA key failed");
		goto out;
	}
	spec.subject = subject;
	spec.issuer = subject;
	spec.subject_key = &key;
	spec.issuer_key = &key;
	spec.not_before = now - BACKDATE_S;
	spec.not_after = now + (int64_t)days * 86400;
	spec.is_ca = true;
	spec.rng = p->rng;
	if ((rc = pki__crt_write(&spec, crt_pem, sizeof crt_pem, err, errcap)) < 0)
		goto out;
	if (mbedtls_pk_write_key_pem(&key, (unsigned char *)key_pem, sizeof key_pem)) {
		rc = pki__fail(RG_ERR_CRYPTO, err, errcap, "encoding the CA key failed");
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
		/* Someone created ca.crt meanwhile: take back the key we just placed. */
		if (!p->force)
			unlink(key_path);
		pki__fail(rc, err, errcap, "placing %s: %s", crt_path, rg_strerror(rc));
		goto out;
	}
	if ((rc = pki__fsync_dir(dir)) < 0) {
		pki__fail(rc, err, errcap, "syncing %s: %s", dir, rg_strerror(rc));
		goto out;
	}
	rg_info("pki", "ca_created", "tenant=%s days=%u replaced=%d", p->tenant, days,
		p->force ? 1 : 0);
out:
	pki__discard(&skey);
	pki__discard(&scrt);
	rg_wipe(key_pem, sizeof key_pem);
	mbedtls_pk_free(&key);
	return rc;
}
