/*
 * fwseed.h - seeding a device's local store from a customer import file
 * (docs/customers.md, JSON Lines): every identifier is tokenised through the
 * device's identifier pipeline (raw values are never stored), and profiles
 * are written with store_profiles_load in batches. Used by
 * `regularsctl device seed`, tests and the demo.
 */
#ifndef FIRMWARE_FWSEED_H
#define FIRMWARE_FWSEED_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "common/ident.h"
#include "firmware/store.h"

#ifdef __cplusplus
extern "C" {
#endif

#define FWSEED_BATCH_DEFAULT 10000 /* profiles per transaction when batch is 0 */

/*
 * Load every customer of `in` (a seekable stream: a regular file) into s.
 *
 * Two passes, so that bad input changes nothing:
 *  1. validate: every line is parsed (rg_customer_parse), every identifier
 *     tokenised through p (refused or mistyped values are errors), a body
 *     too large for the store's max_bytes is an error, and a profile id or an
 *     identifier that appears on two lines is an error. The first problem
 *     stops the import before anything is written: RG_ERR_PARSE (and the
 *     other codes of rg_customer_parse) with "line N: what is wrong" in err.
 *  2. load: the file is read again from where it started and written in
 *     transactions of `batch` profiles (0: FWSEED_BATCH_DEFAULT; at most
 *     STORE_LOAD_MAX). Every profile gets the HLC of the moment the load
 *     began. Only a failure of the store itself (disk full, I/O) can stop
 *     this pass; the batches committed before it stay (*loaded says how
 *     many), and running the same file again completes the import.
 *
 * Blank lines are skipped; line numbers count them. progress (may be NULL)
 * is called with ctx after every `batch` lines: with -(lines validated)
 * during pass 1 and with the profiles loaded so far (>= 0) during pass 2.
 * *loaded (may be NULL) gets the profiles written: a profile already cached
 * with an equal or newer (version, hlc) is not rewritten and not counted.
 * Returns the number of customers in the file, or a negative rg_err.
 * RG_ERR_UNSUPPORTED if in cannot seek (a pipe).
 */
int fwseed_load(struct store *s, struct ident_pipeline *p, FILE *in, size_t batch,
		void (*progress)(void *ctx, int64_t done), void *ctx, int64_t *loaded, char *err,
		size_t errcap);

#ifdef __cplusplus
}
#endif

#endif
