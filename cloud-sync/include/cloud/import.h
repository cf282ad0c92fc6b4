/*
 * import.h - bulk imports into the central store (docs/import.md): profiles
 * in the customer format (docs/customers.md, parsed by rg_customer_parse)
 * and other channels' interactions, from JSON Lines or CSV files. Every line
 * is validated before anything is written; identifiers are tokenised with
 * the tenant key and never stored raw; a re-import changes nothing.
 * `regularsctl import` is the command; bench_import measures it.
 */
#ifndef CLOUD_IMPORT_H
#define CLOUD_IMPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "cloud/store.h"
#include "common/customer.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CLOUD_IMPORT_BATCH_DEFAULT 1000 /* rows per transaction */
#define CLOUD_IMPORT_BATCH_MAX 10000
#define CLOUD_IMPORT_ERRORS_DEFAULT 100	  /* bad lines reported per run */
#define CLOUD_IMPORT_BODY_MAX (16 * 1024) /* an interaction's body, compact JSON */
#define CLOUD_CSV_FIELDS_MAX 32

/* One interaction record (docs/import.md), parsed strictly. */
struct cloud_import_rec {
	struct rg_uuid id;
	struct rg_hlc hlc;
	char kind[24];
	char channel[17];
	char department[33];
	char profile[RG_CUSTOMER_ID_MAX + 1]; /* "" when by identifier */
	bool has_ident;
	struct rg_customer_ident ident; /* raw: tokenise, never store */
	cJSON *body;			/* owned; an object */
};

/* Parse one JSON Lines record of type "interaction". Returns 0, or a
 * negative code with a message naming the field in err; on failure *out
 * holds nothing to free. */
int cloud_import_interaction_parse(const char *line, size_t len, struct cloud_import_rec *out,
				   char *err, size_t errcap);
/* The same from a parsed object (CSV rows become one). */
int cloud_import_interaction_from(const cJSON *obj, struct cloud_import_rec *out, char *err,
				  size_t errcap);
void cloud_import_rec_free(struct cloud_import_rec *r);

/* RFC 3339 with a "Z" or a numeric offset, optional fraction (ms kept):
 * "2026-01-15T09:12:00Z", "2026-01-15T10:12:00.5+01:00". */
int cloud_import_time_parse(const char *s, int64_t *ms);

/* One CSV record: RFC 4180 quoting ("a ""b""", commas inside quotes), no
 * line break inside a field. Fields point into buf (owned). */
struct cloud_csv_row {
	size_t n;
	const char *field[CLOUD_CSV_FIELDS_MAX];
	char *buf;
	size_t cap; /* bytes of buf */
};
int cloud_csv_split(const char *line, size_t len, struct cloud_csv_row *row, char *err,
		    size_t errcap);
void cloud_csv_row_free(struct cloud_csv_row *row);

/* What a CSV file holds, from its header row. */
enum cloud_csv_kind { CLOUD_CSV_PROFILES = 1, CLOUD_CSV_INTERACTIONS = 2 };
struct cloud_csv_header {
	enum cloud_csv_kind kind;
	size_t n;
	char name[CLOUD_CSV_FIELDS_MAX][24];
};
int cloud_csv_header_parse(const char *line, size_t len, struct cloud_csv_header *h, char *err,
			   size_t errcap);
/* A data row as the JSON object its file kind means (a customer line or an
 * interaction record); *out owned by the caller. Errors name the column. */
int cloud_csv_row_to_json(const struct cloud_csv_header *h, const struct cloud_csv_row *row,
			  cJSON **out, char *err, size_t errcap);

struct cloud_import_stats {
	const char *phase;		   /* "checking", "profiles", "interactions", "done" */
	uint64_t work_total, work_done;	   /* bytes over every pass: progress and ETA */
	size_t lines, bad;		   /* lines read (pass 1), bad lines */
	size_t profiles, interactions;	   /* valid rows */
	size_t loaded;			   /* rows handed to the store so far */
	size_t written;			   /* profiles written (not already there) */
	struct cloud_apply_result applied; /* the interactions' outcomes */
};

struct cloud_import_opts {
	const uint8_t *tenant_key; /* for identifiers; NULL: a line with one is bad */
	size_t key_len;
	size_t batch;	   /* rows per transaction; 0: CLOUD_IMPORT_BATCH_DEFAULT */
	bool skip_bad;	   /* apply the good lines of a file with bad ones */
	size_t max_errors; /* bad lines reported; 0: CLOUD_IMPORT_ERRORS_DEFAULT */
	FILE *errors;	   /* "FILE:LINE: field: message" lines; NULL: none */
	/* called now and then (at most per batch) with the running figures */
	void (*progress)(void *ctx, const struct cloud_import_stats *st);
	void *ctx;
};

/* Import the files (.jsonl or .csv, regular files: each is read more than
 * once). Pass 1 checks every line of every file; with a bad line and no
 * skip_bad nothing is written (RG_ERR_PARSE). Then profiles are loaded,
 * then interactions, in batches of o->batch rows per transaction. */
int cloud_import_files(struct cloud_store *s, const char *const *paths, size_t n,
		       const struct cloud_import_opts *o, struct cloud_import_stats *st, char *err,
		       size_t errcap);

#ifdef __cplusplus
}
#endif

#endif
