/*
 * cloud.h - the parts of regulars-cloud that need no broker, so they can be
 * unit-tested and fuzzed alone: the JSON configuration (docs/cloud.md), the
 * central topic names a worker consumes, the lookup request/answer, and
 * seeding the store from a customer file (docs/customers.md). Everything
 * here that reads outside data is strict and size-capped.
 */
#ifndef CLOUD_CLOUD_H
#define CLOUD_CLOUD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "cloud/store.h"
#include "common/crypto.h"
#include "common/wire.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CLOUD_PATH_MAX 512
#define CLOUD_HOST_MAX 255
#define CLOUD_CONFIG_FILE_MAX (64 * 1024)
#define CLOUD_LOOKUP_MAX 1024 /* a lookup request document */
#define CLOUD_NOTICE_MS_DEFAULT 500
#define CLOUD_NOTICE_MS_MIN 50
#define CLOUD_NOTICE_MS_MAX 600000

struct cloud_config {
	char identity[RG_WIRE_ID_MAX + 1]; /* certificate CN = MQTT client id */
	char host[CLOUD_HOST_MAX + 1];
	int port;
	char ca_file[CLOUD_PATH_MAX], cert_file[CLOUD_PATH_MAX], key_file[CLOUD_PATH_MAX];
	char backend[16];
	char db_path[CLOUD_PATH_MAX];
	int busy_timeout_ms;
	int cache_mib; /* store.cache_mib: SQLite page cache per connection */
	int mmap_mib;  /* store.mmap_mib: memory-mapped reads, 0 off */
	char tenant_key_file[CLOUD_PATH_MAX]; /* "" when absent (no --seed) */
	int stats_interval_s;
	int log_level; /* enum rg_log_level */
	int queue_max_kib;
	struct cloud_repl_policy repl; /* "replication" (docs/replication.md) */
	int notice_ms; /* replication.notice_ms: how often to look for changes to announce, 0 off */
};

/* Parse a configuration document. Defaults as in docs/cloud.md. Returns 0 or
 * RG_ERR_CONFIG with a message naming the key in err. */
int cloud_config_parse(const char *json, size_t len, struct cloud_config *out, char *err,
		       size_t errcap);
/* Read and parse a file (at most CLOUD_CONFIG_FILE_MAX bytes). */
int cloud_config_load(const char *path, struct cloud_config *out, char *err, size_t errcap);

/* A central topic a worker receives: rg/v1/g/gw-<store>/up/<lane> or
 * rg/v1/g/gw-<store>/req/<op>. */
struct cloud_topic {
	char gateway[RG_WIRE_ID_MAX + 1]; /* gw-<store> */
	char store[RG_WIRE_STORE_MAX + 1];
	bool is_request;
	enum rg_lane lane; /* when !is_request */
	char op[16];	   /* when is_request */
};
/* 0, or RG_ERR_PARSE for anything else (including a gateway level that is
 * not gw-<valid store> or an unknown lane). */
int cloud_topic_parse(const char *topic, struct cloud_topic *out);

/* Why a batch is refused (never acked; logged and counted). */
enum cloud_refusal {
	CLOUD_REFUSE_MALFORMED = 0, /* rg_wire_batch_parse failed */
	CLOUD_REFUSE_STORE = 1,	    /* batch store != the topic's gateway store */
	CLOUD_REFUSE_LANE = 2,	    /* an item's kind is not of the topic's lane */
	CLOUD_REFUSE_TOPIC = 3,	    /* not a topic this worker serves */
	CLOUD_REFUSE__COUNT
};
const char *cloud_refusal_name(enum cloud_refusal r);
/* Check a parsed batch against the topic it came on: 0 or a refusal (>0). */
int cloud_batch_check(const struct cloud_topic *t, const struct rg_wire_batch *b);

/* {"v":1,"type":"lookup","token":"<64 hex>"} -> token. 0 or RG_ERR_PARSE/
 * RG_ERR_TOOBIG/RG_ERR_MISSING/RG_ERR_TYPE with a message. */
int cloud_lookup_parse(const char *buf, size_t len, uint8_t token[RG_TOKEN_LEN], char *err,
		       size_t errcap);
/* The answer document (proto.md): p NULL (or erased) -> found:false. *out
 * malloc'd, caller frees. */
int cloud_lookup_result(const struct cloud_profile *p, char **out, size_t *len);

/* Answers to a gateway's replication requests (docs/replication.md) for the
 * replica of `store` under policy pol. changes: a page, or the
 * snapshot_needed answer; snapshot: one chunk (a new snapshot when the one
 * asked for is gone). *out malloc'd (caller frees), as_of = now_ms. res
 * (may be NULL) tells what was sent. */
int cloud_repl_changes_answer(struct cloud_store *s, const char *store,
			      const struct cloud_repl_policy *pol, const struct delta_request *rq,
			      int64_t now_ms, char **out, size_t *len,
			      struct cloud_repl_result *res);
int cloud_repl_snapshot_answer(struct cloud_store *s, const char *store,
			       const struct cloud_repl_policy *pol, const struct delta_request *rq,
			       int64_t now_ms, char **out, size_t *len,
			       struct cloud_repl_result *res);

/* Read a tenant key file (the raw key bytes, 16..64). */
int cloud_tenant_key_read(const char *path, uint8_t *key, size_t cap, size_t *len);

struct cloud_seed_stats {
	size_t lines, profiles, written, identifiers;
};
/* Seed the store from a customer file (JSON Lines, docs/customers.md): a
 * first pass validates every line (parse + tokenise with the tenant key);
 * the first bad line stops it before anything is written ("line N: ...").
 * The second pass loads in transactions of `batch` profiles; a profile
 * whose stored version is not older is left alone (re-seeding is a no-op).
 * f must be seekable. */
int cloud_seed_file(struct cloud_store *s, const uint8_t *tenant_key, size_t key_len, FILE *f,
		    size_t batch, struct cloud_seed_stats *st, char *err, size_t errcap);

#ifdef __cplusplus
}
#endif

#endif
