/*
 * x509.c - the mbedTLS side of rg_pki: P-256 key generation, loading PEM
 * certificates and keys with a size cap, and the one certificate writer the
 * CA and the leaves share. mbedTLS 2.28 has no writer for subjectAltName or
 * extendedKeyUsage, so those two extensions are DER-encoded here by hand.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mbedtls/asn1write.h>
#include <mbedtls/base64.h>
#include <mbedtls/bignum.h>
#include <mbedtls/ecp.h>
#include <mbedtls/oid.h>

#include "common/crypto.h"
#include "common/err.h"
#include "pki_internal.h"

#define SERIAL_LEN 16
#define EXT_BUF_MAX 2048

int pki__rng(void *rand, unsigned char *buf, size_t n)
{
	const struct rg_rand *r = rand ? rand : rg_rand_system();
	return rg_rand_fill(r, buf, n) < 0 ? MBEDTLS_ERR_ECP_RANDOM_FAILED : 0;
}

int pki__key_generate(mbedtls_pk_context *pk, const struct rg_rand *rng)
{
	if (mbedtls_pk_setup(pk, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY)) ||
	    mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1, mbedtls_pk_ec(*pk), pki__rng,
				(void *)rng))
		return RG_ERR_CRYPTO;
	return 0;
}

int pki__crt_load(mbedtls_x509_crt *crt, const char *path, char *err, size_t errcap)
{
	unsigned char *buf;
	size_t len;
	int rc = pki__read_file(path, PKI_FILE_MAX, &buf, &len);
	if (rc < 0)
		return pki__fail(rc, err, errcap, "reading %s: %s", path, rg_strerror(rc));
	/* PEM input is parsed with its terminating NUL counted. */
	rc = mbedtls_x509_crt_parse(crt, buf, len + 1);
	free(buf);
	if (rc)
		return pki__fail(RG_ERR_PARSE, err, errcap, "%s is not a PEM certificate (-0x%04x)",
				 path, (unsigned)-rc);
	return 0;
}

int pki__key_load(mbedtls_pk_context *pk, const char *path, char *err, size_t errcap)
{
	unsigned char *buf;
	size_t len;
	int rc = pki__read_file(path, PKI_FILE_MAX, &buf, &len);
	if (rc < 0)
		return pki__fail(rc, err, errcap, "reading %s: %s", path, rg_strerror(rc));
	rc = mbedtls_pk_parse_key(pk, buf, len + 1, NULL, 0);
	rg_wipe(buf, len);
	free(buf);
	if (rc)
		return pki__fail(RG_ERR_PARSE, err, errcap, "%s is not a PEM private key (-0x%04x)",
				 path, (unsigned)-rc);
	if (!mbedtls_pk_can_do(pk, MBEDTLS_PK_ECKEY) ||
	    mbedtls_pk_ec(*pk)->grp.id != MBEDTLS_ECP_DP_SECP256R1)
		return pki__fail(RG_ERR_UNSUPPORTED, err, errcap, "%s is not a P-256 key", path);
	return 0;
}

int64_t pki__x509_time(const mbedtls_x509_time *t)
{
	struct tm tm;
	memset(&tm, 0, sizeof tm);
	tm.tm_year = t->year - 1900;
	tm.tm_mon = t->mon - 1;
	tm.tm_mday = t->day;
	tm.tm_hour = t->hour;
	tm.tm_min = t->min;
	tm.tm_sec = t->sec;
	return (int64_t)timegm(&tm);
}

int pki__ca_subject(char *buf, size_t cap, const char *tenant)
{
	int n = snprintf(buf, cap, "CN=%s Regulars CA,O=%s", tenant, tenant);
	return n < 0 || (size_t)n >= cap ? RG_ERR_TOOBIG : n;
}

/* "YYYYMMDDhhmmss", as mbedtls_x509write_crt_set_validity wants it. */
static int validity_str(int64_t t, char out[32])
{
	struct tm tm;
	time_t tt = (time_t)t;
	if (!gmtime_r(&tt, &tm) || tm.tm_year + 1900 > 9999 || tm.tm_year + 1900 < 1950)
		return RG_ERR_RANGE;
	snprintf(out, 32, "%04d%02d%02d%02d%02d%02d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
		 tm.tm_hour, tm.tm_min, tm.tm_sec);
	return 0;
}

static int dns_name_valid(const char *s)
{
	size_t n = strlen(s), label = 0;
	if (!n || n > PKI_SAN_LEN_MAX || s[0] == '.' || s[n - 1] == '.')
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (c == '.') {
			if (!label || s[i - 1] == '-')
				return 0;
			label = 0;
			continue;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-'))
			return 0;
		if (c == '-' && label == 0)
			return 0;
		if (++label > 63)
			return 0;
	}
	return s[n - 1] != '-';
}

int pki__san_valid(const char *san)
{
	unsigned char ip[16];
	if (!san)
		return 0;
	return inet_pton(AF_INET, san, ip) == 1 || inet_pton(AF_INET6, san, ip) == 1 ||
	       dns_name_valid(san);
}

/* SubjectAltName ::= SEQUENCE OF GeneralName; dNSName [2] IA5String,
 * iPAddress [7] OCTET STRING. asn1write writes backwards from the end. */
static int san_der(const char *const *sans, size_t n, unsigned char *buf, size_t cap,
		   const unsigned char **der, size_t *derlen)
{
	unsigned char *p = buf + cap;
	size_t len = 0;
	int r;

	for (size_t i = n; i-- > 0;) {
		unsigned char ip[16];
		size_t iplen = 0, one = 0;
		if (inet_pton(AF_INET, sans[i], ip) == 1)
			iplen = 4;
		else if (inet_pton(AF_INET6, sans[i], ip) == 1)
			iplen = 16;
		if (iplen) {
			if ((r = mbedtls_asn1_write_raw_buffer(&p, buf, ip, iplen)) < 0)
				return RG_ERR_TOOBIG;
			one += (size_t)r;
		} else {
			if ((r = mbedtls_asn1_write_raw_buffer(
				 &p, buf, (const unsigned char *)sans[i], strlen(sans[i]))) < 0)
				return RG_ERR_TOOBIG;
			one += (size_t)r;
		}
		if ((r = mbedtls_asn1_write_len(&p, buf, one)) < 0)
			return RG_ERR_TOOBIG;
		one += (size_t)r;
		if ((r = mbedtls_asn1_write_tag(
			 &p, buf, MBEDTLS_ASN1_CONTEXT_SPECIFIC | (iplen ? 7 : 2))) < 0)
			return RG_ERR_TOOBIG;
		one += (size_t)r;
		len += one;
	}
	if ((r = mbedtls_asn1_write_len(&p, buf, len)) < 0)
		return RG_ERR_TOOBIG;
	len += (size_t)r;
	if ((r = mbedtls_asn1_write_tag(&p, buf,
					MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE)) < 0)
		return RG_ERR_TOOBIG;
	len += (size_t)r;
	*der = p;
	*derlen = len;
	return 0;
}

static int random_serial(mbedtls_mpi *serial, const struct rg_rand *rng)
{
	unsigned char b[SERIAL_LEN];
	int rc;
	if ((rc = rg_rand_fill(rng ? rng : rg_rand_system(), b, sizeof b)) < 0)
		return rc;
	/* Positive (RFC 5280) and never zero: clear the top bit, set the next. */
	b[0] = (unsigned char)((b[0] & 0x7f) | 0x40);
	return mbedtls_mpi_read_binary(serial, b, sizeof b) ? RG_ERR_CRYPTO : 0;
}

int pki__crt_write(const struct pki__crt_spec *s, char *buf, size_t cap, char *err, size_t errcap)
{
	/* SEQUENCE { OBJECT IDENTIFIER id-kp-serverAuth / id-kp-clientAuth } */
	static const unsigned char eku_server[] = {0x30, 0x0a, 0x06, 0x08, 0x2b, 0x06,
						   0x01, 0x05, 0x05, 0x07, 0x03, 0x01};
	static const unsigned char eku_client[] = {0x30, 0x0a, 0x06, 0x08, 0x2b, 0x06,
						   0x01, 0x05, 0x05, 0x07, 0x03, 0x02};
	mbedtls_x509write_cert w;
	mbedtls_mpi serial;
	char nb[32], na[32];
	unsigned char ext[EXT_BUF_MAX];
	const unsigned char *san = NULL;
	size_t sanlen = 0;
	int rc, mrc = 0;

	if (validity_str(s->not_before, nb) < 0 || validity_str(s->not_after, na) < 0 ||
	    s->not_after <= s->not_before)
		return pki__fail(RG_ERR_RANGE, err, errcap, "validity period out of range");
	if (s->n_sans > PKI_SAN_MAX)
		return pki__fail(RG_ERR_RANGE, err, errcap, "at most %d subjectAltNames",
				 PKI_SAN_MAX);
	if (s->n_sans && (rc = san_der(s->sans, s->n_sans, ext, sizeof ext, &san, &sanlen)) < 0)
		return pki__fail(rc, err, errcap, "subjectAltNames too long");

	mbedtls_x509write_crt_init(&w);
	mbedtls_mpi_init(&serial);
	if ((rc = random_serial(&serial, s->rng)) < 0) {
		pki__fail(rc, err, errcap, "no randomness for the serial number");
		goto out;
	}
	mbedtls_x509write_crt_set_version(&w, MBEDTLS_X509_CRT_VERSION_3);
	mbedtls_x509write_crt_set_md_alg(&w, MBEDTLS_MD_SHA256);
	mbedtls_x509write_crt_set_subject_key(&w, s->subject_key);
	mbedtls_x509write_crt_set_issuer_key(&w, s->issuer_key);
	if ((mrc = mbedtls_x509write_crt_set_serial(&w, &serial)) ||
	    (mrc = mbedtls_x509write_crt_set_validity(&w, nb, na)) ||
	    (mrc = mbedtls_x509write_crt_set_subject_name(&w, s->subject)) ||
	    (mrc = mbedtls_x509write_crt_set_issuer_name(&w, s->issuer)) ||
	    (mrc = mbedtls_x509write_crt_set_basic_constraints(&w, s->is_ca, s->is_ca ? 0 : -1)) ||
	    (mrc = mbedtls_x509write_crt_set_subject_key_identifier(&w)) ||
	    (mrc = mbedtls_x509write_crt_set_authority_key_identifier(&w)) ||
	    (mrc = mbedtls_x509write_crt_set_key_usage(
		 &w, s->is_ca ? MBEDTLS_X509_KU_KEY_CERT_SIGN | MBEDTLS_X509_KU_CRL_SIGN
			      : MBEDTLS_X509_KU_DIGITAL_SIGNATURE)))
		goto crypto;
	if (!s->is_ca) {
		const unsigned char *eku = s->server_auth ? eku_server : eku_client;
		if ((mrc = mbedtls_x509write_crt_set_extension(
			 &w, MBEDTLS_OID_EXTENDED_KEY_USAGE,
			 MBEDTLS_OID_SIZE(MBEDTLS_OID_EXTENDED_KEY_USAGE), 0, eku,
			 sizeof eku_server)))
			goto crypto;
	}
	if (san && (mrc = mbedtls_x509write_crt_set_extension(
			&w, MBEDTLS_OID_SUBJECT_ALT_NAME,
			MBEDTLS_OID_SIZE(MBEDTLS_OID_SUBJECT_ALT_NAME), 0, san, sanlen)))
		goto crypto;
	mrc = mbedtls_x509write_crt_pem(&w, (unsigned char *)buf, cap, pki__rng, (void *)s->rng);
	if (mrc == MBEDTLS_ERR_ASN1_BUF_TOO_SMALL || mrc == MBEDTLS_ERR_BASE64_BUFFER_TOO_SMALL) {
		rc =
		    pki__fail(RG_ERR_TOOBIG, err, errcap, "certificate larger than %zu bytes", cap);
		goto out;
	}
	if (mrc)
		goto crypto;
	rc = (int)strlen(buf);
	goto out;
crypto:
	rc = pki__fail(RG_ERR_CRYPTO, err, errcap,
		       "mbedTLS could not build the certificate (-0x%04x)", (unsigned)-mrc);
out:
	mbedtls_mpi_free(&serial);
	mbedtls_x509write_crt_free(&w);
	return rc;
}
