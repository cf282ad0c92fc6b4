/*
 * pki_internal.h - what the files of rg_pki share and nobody else sees:
 * error-message helpers, capped file reading, staged (temp + fsync + link or
 * rename) file writing, and the mbedTLS certificate writer used for both the
 * CA and the leaves. Names are pki__*; never include this outside common/pki.
 */
#ifndef COMMON_PKI_INTERNAL_H
#define COMMON_PKI_INTERNAL_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <mbedtls/pk.h>
#include <mbedtls/x509_crt.h>

#include "common/pki.h"

#define PKI_FILE_MAX (64 * 1024) /* any PEM file we read */
#define PKI_PEM_MAX 8192	 /* a certificate or key we write */
#define PKI_CA_FILE "ca"	 /* ca.crt / ca.key */

/* Writes a message into err (if not NULL) and returns code. */
int pki__fail(int code, char *err, size_t errcap, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* dir + "/" + name + ext into buf; RG_ERR_TOOBIG if it does not fit. */
int pki__path(char *buf, size_t cap, const char *dir, const char *name, const char *ext);

/* Read a whole file of at most max bytes into a malloc'd, NUL-terminated
 * buffer (*len excludes the NUL). The caller frees (after rg_wipe for keys).
 * RG_ERR_NOTFOUND, RG_ERR_PERM, RG_ERR_IO, RG_ERR_TOOBIG, RG_ERR_NOMEM. */
int pki__read_file(const char *path, size_t max, unsigned char **out, size_t *len);

/* 1 if path exists (any type), 0 if not, RG_ERR_IO/RG_ERR_PERM on other errors. */
int pki__exists(const char *path);

/* mkdir -p with the given mode for the directories it creates. */
int pki__mkdirs(const char *dir, mode_t mode);

int pki__fsync_dir(const char *dir);

/* A file written under a temporary name beside its final one. */
struct pki__staged {
	char tmp[PATH_MAX];
	char final[PATH_MAX];
	bool live; /* tmp exists */
};

/* Write data to a fresh temporary file next to `final` with mode, fsync it. */
int pki__stage(struct pki__staged *s, const char *final, const void *data, size_t len, mode_t mode);
/* Put the staged file in place: rename() when replace, else link() so an
 * existing file is never replaced (RG_ERR_EXISTS). The temp name is gone after. */
int pki__commit(struct pki__staged *s, bool replace);
/* Remove the temporary file if it is still there. */
void pki__discard(struct pki__staged *s);

/* mbedTLS RNG callback over a struct rg_rand (NULL: the system one). */
int pki__rng(void *rand, unsigned char *buf, size_t n);

/* A fresh P-256 key in pk (initialised by the caller). */
int pki__key_generate(mbedtls_pk_context *pk, const struct rg_rand *rng);

/* Parse a PEM certificate / private key file, capped at PKI_FILE_MAX. */
int pki__crt_load(mbedtls_x509_crt *crt, const char *path, char *err, size_t errcap);
int pki__key_load(mbedtls_pk_context *pk, const char *path, char *err, size_t errcap);

/* Fill info from a parsed certificate (trusted is left false). */
int pki__info_from_crt(const mbedtls_x509_crt *crt, struct pki_cert_info *info, char *err,
		       size_t errcap);

/* The CA's subject in mbedTLS string form, from the tenant. */
int pki__ca_subject(char *buf, size_t cap, const char *tenant);

/* x509 time to Unix seconds (UTC). */
int64_t pki__x509_time(const mbedtls_x509_time *t);

/* Everything that differs between the certificates we write. */
struct pki__crt_spec {
	const char *subject; /* mbedTLS string form "CN=...,OU=...,O=..." */
	const char *issuer;  /* likewise; equal to subject for the self-signed CA */
	mbedtls_pk_context *subject_key;
	mbedtls_pk_context *issuer_key;
	int64_t not_before; /* Unix seconds */
	int64_t not_after;
	bool is_ca;	  /* CA:true pathlen 0, keyCertSign|cRLSign */
	bool server_auth; /* leaves: extendedKeyUsage serverAuth, else clientAuth */
	const char *const *sans;
	size_t n_sans;
	const struct rg_rand *rng;
};

/* Build, sign and PEM-encode a certificate into buf (NUL-terminated).
 * Returns the length, or RG_ERR_INVAL / RG_ERR_CRYPTO / RG_ERR_TOOBIG. */
int pki__crt_write(const struct pki__crt_spec *s, char *buf, size_t cap, char *err, size_t errcap);

/* Check one subjectAltName value: a DNS name or an IPv4/IPv6 literal. */
int pki__san_valid(const char *san);

#endif
