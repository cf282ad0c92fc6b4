/*
 * codec.h - hex and base64url (RFC 4648 section 5, no padding) encoders and
 * strict decoders. Decoders reject anything that is not canonical input
 * (odd hex length, stray characters, padding, non-zero trailing bits).
 */
#ifndef COMMON_CODEC_H
#define COMMON_CODEC_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Lower-case hex, NUL-terminated; cap must be >= 2*n+1. Returns 2*n. */
int rg_hex_encode(const void *in, size_t n, char *out, size_t cap);
/* Upper or lower case. Returns bytes written, RG_ERR_PARSE, RG_ERR_TOOBIG. */
int rg_hex_decode(const char *in, size_t len, uint8_t *out, size_t cap);

#define RG_B64URL_LEN(n) (((n) * 4 + 2) / 3)
/* Returns characters written (excluding NUL); cap >= RG_B64URL_LEN(n)+1. */
int rg_b64url_encode(const void *in, size_t n, char *out, size_t cap);
int rg_b64url_decode(const char *in, size_t len, uint8_t *out, size_t cap);

#ifdef __cplusplus
}
#endif

#endif
