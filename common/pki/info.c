/*
 * info.c - reading certificates back: what a Regulars certificate says
 * (identity, kind, store, tenant, validity, EKU, SANs), verifying one against
 * the directory's CA at a given time, and listing a PKI directory. Reads only
 * certificates, never a private key.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/oid.h>

#include "common/codec.h"
#include "common/err.h"
#include "common/log.h"
#include "pki_internal.h"

/* Copy an X.509 string value; 0 if it does not fit (or holds a NUL). */
static int copy_val(char *dst, size_t cap, const mbedtls_x509_buf *v)
{
	if (v->len >= cap || memchr(v->p, '\0', v->len))
		return 0;
	memcpy(dst, v->p, v->len);
	dst[v->len] = '\0';
	return 1;
}

static void san_text(const mbedtls_x509_crt *crt, char *out, size_t cap)
{
	size_t used = 0;
	out[0] = '\0';
	for (const mbedtls_x509_sequence *s = &crt->subject_alt_names; s && s->buf.p; s = s->next) {
		char one[PKI_SAN_LEN_MAX + 1];
		unsigned char tag = (unsigned char)s->buf.tag;
		if (tag == (MBEDTLS_ASN1_CONTEXT_SPECIFIC | 2)) {
			if (s->buf.len >= sizeof one)
				continue; /* longer than a DNS name: not one of ours */
			memcpy(one, s->buf.p, s->buf.len);
			one[s->buf.len] = '\0';
		} else if (tag == (MBEDTLS_ASN1_CONTEXT_SPECIFIC | 7) &&
			   (s->buf.len == 4 || s->buf.len == 16)) {
			if (!inet_ntop(s->buf.len == 4 ? AF_INET : AF_INET6, s->buf.p, one,
				       sizeof one))
				continue;
		} else {
			continue;
		}
		int n = snprintf(out + used, cap - used, "%s%s", used ? "," : "", one);
		if (n < 0 || (size_t)n >= cap - used) {
			/* Display only: cut at the last name that fits, and say so. */
			snprintf(out + (used > cap - 5 ? cap - 5 : used), 5, "%s",
				 used ? ",..." : "...");
			return;
		}
		used += (size_t)n;
	}
}

int pki__info_from_crt(const mbedtls_x509_crt *crt, struct pki_cert_info *info, char *err,
		       size_t errcap)
{
	char ou[64] = "";
	bool have_cn = false, have_ou = false, have_o = false;

	memset(info, 0, sizeof *info);
	for (const mbedtls_x509_name *n = &crt->subject; n && n->oid.p; n = n->next) {
		if (!MBEDTLS_OID_CMP(MBEDTLS_OID_AT_CN, &n->oid)) {
			if (have_cn || !copy_val(info->cn, sizeof info->cn, &n->val))
				return pki__fail(RG_ERR_PARSE, err, errcap, "bad or repeated CN");
			have_cn = true;
		} else if (!MBEDTLS_OID_CMP(MBEDTLS_OID_AT_ORG_UNIT, &n->oid)) {
			if (have_ou || !copy_val(ou, sizeof ou, &n->val))
				return pki__fail(RG_ERR_PARSE, err, errcap, "bad or repeated OU");
			have_ou = true;
		} else if (!MBEDTLS_OID_CMP(MBEDTLS_OID_AT_ORGANIZATION, &n->oid)) {
			if (have_o || !copy_val(info->tenant, sizeof info->tenant, &n->val))
				return pki__fail(RG_ERR_PARSE, err, errcap, "bad or repeated O");
			have_o = true;
		}
	}
	if (!have_cn || !have_o || !pki_tenant_valid(info->tenant))
		return pki__fail(RG_ERR_PARSE, err, errcap,
				 "subject lacks a CN or a valid O (tenant)");
	info->is_ca = crt->ca_istrue != 0;
	info->not_before = pki__x509_time(&crt->valid_from);
	info->not_after = pki__x509_time(&crt->valid_to);
	if (rg_hex_encode(crt->serial.p, crt->serial.len, info->serial, sizeof info->serial) < 0)
		return pki__fail(RG_ERR_PARSE, err, errcap, "serial number too long");
	if (crt->ext_types & MBEDTLS_X509_EXT_EXTENDED_KEY_USAGE) {
		info->client_auth = !mbedtls_x509_crt_check_extended_key_usage(
		    crt, MBEDTLS_OID_CLIENT_AUTH, MBEDTLS_OID_SIZE(MBEDTLS_OID_CLIENT_AUTH));
		info->server_auth = !mbedtls_x509_crt_check_extended_key_usage(
		    crt, MBEDTLS_OID_SERVER_AUTH, MBEDTLS_OID_SIZE(MBEDTLS_OID_SERVER_AUTH));
	}
	san_text(crt, info->sans, sizeof info->sans);
	if (info->is_ca)
		return 0;

	/* A leaf: CN is an identity, OU is "<kind>" or "<kind>:<store>". */
	char *colon = have_ou ? strchr(ou, ':') : NULL;
	int kind;
	if (colon) {
		*colon = '\0';
		if (!pki_store_valid(colon + 1))
			return pki__fail(RG_ERR_PARSE, err, errcap, "OU has a bad store id");
		memcpy(info->store, colon + 1, strlen(colon + 1) + 1);
	}
	if (!have_ou || (kind = pki_kind_parse(ou)) < 0)
		return pki__fail(RG_ERR_PARSE, err, errcap, "OU does not name a kind");
	info->kind = (enum pki_kind)kind;
	if (pki_identity_check(info->kind, info->cn, info->store[0] ? info->store : NULL, err,
			       errcap) < 0)
		return RG_ERR_PARSE;
	return 0;
}

int pki_cert_info_read(const char *path, struct pki_cert_info *out, char *err, size_t errcap)
{
	mbedtls_x509_crt crt;
	int rc;

	if (!path || !out)
		return pki__fail(RG_ERR_INVAL, err, errcap, "no path");
	mbedtls_x509_crt_init(&crt);
	rc = pki__crt_load(&crt, path, err, errcap);
	if (!rc && (rc = pki__info_from_crt(&crt, out, err, errcap)) < 0) {
		char msg[PKI_ERR_MAX];
		snprintf(msg, sizeof msg, "%s", err ? err : "");
		pki__fail(rc, err, errcap, "%s: %s", path, msg);
	}
	mbedtls_x509_crt_free(&crt);
	if (rc < 0)
		memset(out, 0, sizeof *out);
	return rc;
}

/* The signature chain only, whatever the time: mbedTLS checks validity
 * periods against the system clock, so those flags are ignored here. */
static int chain_ok(mbedtls_x509_crt *leaf, mbedtls_x509_crt *ca, char *err, size_t errcap)
{
	const uint32_t timing = MBEDTLS_X509_BADCERT_EXPIRED | MBEDTLS_X509_BADCERT_FUTURE;
	uint32_t flags = 0;

	if (mbedtls_x509_crt_verify(leaf, ca, NULL, NULL, &flags, NULL, NULL) &&
	    (flags & ~timing)) {
		char why[160];
		if (mbedtls_x509_crt_verify_info(why, sizeof why, "", flags & ~timing) < 0)
			why[0] = '\0';
		why[strcspn(why, "\n")] = '\0';
		return pki__fail(RG_ERR_VERIFY, err, errcap, "does not chain to the CA: %s",
				 why[0] ? why : "unknown reason");
	}
	return 0;
}

/* The chain, then the validity periods of leaf and CA at the clock's time. */
static int verify_crt(mbedtls_x509_crt *leaf, mbedtls_x509_crt *ca, const struct rg_clock *clock,
		      char *err, size_t errcap)
{
	int64_t now = rg_clock_wall_ms(clock ? clock : rg_clock_system()) / 1000;
	int rc;

	if ((rc = chain_ok(leaf, ca, err, errcap)) < 0)
		return rc;
	if (now < pki__x509_time(&leaf->valid_from))
		return pki__fail(RG_ERR_VERIFY, err, errcap, "not valid yet");
	if (now > pki__x509_time(&leaf->valid_to))
		return pki__fail(RG_ERR_VERIFY, err, errcap, "expired");
	if (now < pki__x509_time(&ca->valid_from) || now > pki__x509_time(&ca->valid_to))
		return pki__fail(RG_ERR_VERIFY, err, errcap, "the CA is expired or not valid yet");
	return 0;
}

int pki_cert_verify(const char *dir, const char *id, const struct rg_clock *clock, char *err,
		    size_t errcap)
{
	char path[PATH_MAX];
	mbedtls_x509_crt ca, leaf;
	int rc;

	if (!dir || !pki_identity_valid(id))
		return pki__fail(RG_ERR_INVAL, err, errcap, "bad directory or identity");
	mbedtls_x509_crt_init(&ca);
	mbedtls_x509_crt_init(&leaf);
	if ((rc = pki__path(path, sizeof path, dir, PKI_CA_FILE, ".crt")) < 0 ||
	    (rc = pki__crt_load(&ca, path, err, errcap)) < 0)
		goto out;
	if ((rc = pki__path(path, sizeof path, dir, id, ".crt")) < 0 ||
	    (rc = pki__crt_load(&leaf, path, err, errcap)) < 0)
		goto out;
	rc = verify_crt(&leaf, &ca, clock, err, errcap);
out:
	if (rc == RG_ERR_TOOBIG)
		pki__fail(rc, err, errcap, "path too long");
	mbedtls_x509_crt_free(&leaf);
	mbedtls_x509_crt_free(&ca);
	return rc;
}

static int by_cn(const void *a, const void *b)
{
	return strcmp(((const struct pki_cert_info *)a)->cn, ((const struct pki_cert_info *)b)->cn);
}

int pki_dir_list(const char *dir, struct pki_cert_info **out, char *err, size_t errcap)
{
	char path[PATH_MAX];
	mbedtls_x509_crt ca;
	struct pki_cert_info *v = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;
	DIR *d;
	int rc;

	*out = NULL;
	if (!dir)
		return pki__fail(RG_ERR_INVAL, err, errcap, "no directory");
	mbedtls_x509_crt_init(&ca);
	if ((rc = pki__path(path, sizeof path, dir, PKI_CA_FILE, ".crt")) < 0 ||
	    (rc = pki__crt_load(&ca, path, err, errcap)) < 0) {
		mbedtls_x509_crt_free(&ca);
		return rc;
	}
	if (!(d = opendir(dir))) {
		mbedtls_x509_crt_free(&ca);
		return pki__fail(RG_ERR_IO, err, errcap, "cannot open directory %s", dir);
	}
	while ((de = readdir(d))) {
		size_t len = strlen(de->d_name);
		char msg[PKI_ERR_MAX], name[PKI_ID_MAX + 1];
		mbedtls_x509_crt crt;

		if (len < 5 || strcmp(de->d_name + len - 4, ".crt") || len - 4 > PKI_ID_MAX ||
		    !strcmp(de->d_name, PKI_CA_FILE ".crt"))
			continue;
		memcpy(name, de->d_name, len - 4);
		name[len - 4] = '\0';
		if (!pki_identity_valid(name))
			continue;
		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 16;
			struct pki_cert_info *nv;
			if (ncap > PKI_LIST_MAX)
				ncap = PKI_LIST_MAX;
			if (n == ncap) {
				rc =
				    pki__fail(RG_ERR_TOOBIG, err, errcap,
					      "more than %d certificates in %s", PKI_LIST_MAX, dir);
				goto fail;
			}
			if (!(nv = realloc(v, ncap * sizeof *v))) {
				rc = pki__fail(RG_ERR_NOMEM, err, errcap,
					       "out of memory listing %s", dir);
				goto fail;
			}
			v = nv;
			cap = ncap;
		}
		if (pki__path(path, sizeof path, dir, de->d_name, NULL) < 0)
			continue;
		mbedtls_x509_crt_init(&crt);
		msg[0] = '\0';
		if (pki__crt_load(&crt, path, msg, sizeof msg) < 0 ||
		    pki__info_from_crt(&crt, &v[n], msg, sizeof msg) < 0 || v[n].is_ca ||
		    strcmp(v[n].cn, name)) {
			char qp[PATH_MAX + 8], qm[PKI_ERR_MAX + 8];
			if (!msg[0])
				snprintf(msg, sizeof msg, "%s",
					 v[n].is_ca ? "a CA certificate"
						    : "CN is not the file name");
			rg_warn("pki", "list_skip", "file=%s reason=%s",
				rg_log_quote(qp, sizeof qp, path),
				rg_log_quote(qm, sizeof qm, msg));
			mbedtls_x509_crt_free(&crt);
			continue;
		}
		v[n].trusted = chain_ok(&crt, &ca, NULL, 0) == 0;
		mbedtls_x509_crt_free(&crt);
		n++;
	}
	closedir(d);
	mbedtls_x509_crt_free(&ca);
	if (n)
		qsort(v, n, sizeof *v, by_cn);
	else {
		free(v);
		v = NULL;
	}
	*out = v;
	return (int)n;
fail:
	closedir(d);
	mbedtls_x509_crt_free(&ca);
	free(v);
	return rc;
}
