/*
 * devharness.h - what the device daemon's fault and privacy tests share: a
 * temp dir with a file keystore, a config, and a database the test seeds
 * itself (realistic profiles; identifiers tokenised by the real pipeline
 * under the tenant key the daemon reads); the real regulars-device as a child
 * (started, watched through its log, SIGKILLed, reaped); a client for the SSE
 * stream /api/v1/events and one for the sim reader socket; and a scan of
 * files for seeded secrets. Test-only code: a failure is a cmocka failure.
 */
#ifndef TESTS_DEVICE_DEVHARNESS_H
#define TESTS_DEVICE_DEVHARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/crypto.h"
#include "common/uuid.h"
#include "common/wire.h"
#include "firmware/store.h"

/* Sanitized builds run the daemon several times slower. */
#if defined(__SANITIZE_ADDRESS__)
#define DH_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define DH_SANITIZED 1
#endif
#endif
#ifndef DH_SANITIZED
#define DH_SANITIZED 0
#endif

#define DH_CARD_LEN 13 /* EAN-13 loyalty numbers */
#define DH_UID_LEN 7   /* double-size ISO 14443 UIDs */
#define DH_DEVICE_ID "dev-test-k1"
#define DH_STORE_ID "0042"

/* A seeded customer (known) or a stranger: valid identifiers nobody owns. */
struct dh_person {
	bool known;
	char id[16]; /* profile id, "" for a stranger */
	char first[24], last[24], name[56];
	int consent; /* number of show_in_public categories; 0 = none */
	char card[DH_CARD_LEN + 1];
	char bad_card[DH_CARD_LEN + 1]; /* the card with a wrong check digit */
	uint8_t uid[DH_UID_LEN];
	char uid_lo[2 * DH_UID_LEN + 1], uid_up[2 * DH_UID_LEN + 1];
	uint8_t card_tok[RG_TOKEN_LEN], uid_tok[RG_TOKEN_LEN];
};

struct dh_env {
	char dir[160];
	char db[200], keys[200], sock[200], config[200];
	const char *daemon, *ui;
	uint64_t seed;
	uint8_t store_key[STORE_KEY_LEN];
	uint8_t tenant_key[32];
	size_t n_people; /* people[0 .. n_known) are known, the rest strangers */
	size_t n_known;
	struct dh_person *people;
	struct dh_tokref *toks; /* sorted by token, for dh_token_owner */
	size_t n_toks;
	bool passed; /* set by a test that got to its end: teardown removes dir */
};

/* ---- a seeded PRNG (splitmix64): every run is reproducible from its seed ---- */
struct dh_rng {
	uint64_t s;
};
uint64_t dh_rand(struct dh_rng *r);
/* Uniform in lo..hi (inclusive). */
int64_t dh_range(struct dh_rng *r, int64_t lo, int64_t hi);
/* The seed from environment variable name (decimal or 0x hex), else from the
 * clock and pid. */
uint64_t dh_seed_from_env(const char *name);
/* An integer from the environment, or def. */
long dh_env_long(const char *name, long def);
int64_t dh_now_ms(void);

/* ---- the environment ---- */

/* Temp dir under $TMPDIR, file keystore (tenant.key, store.key, totp.key),
 * config (kiosk, sim reader at dir/reader.sock, http.port 0, assets = ui),
 * n_known seeded customers and n_strangers, and the database seeded with the
 * customers (store_open, store_profiles_load, store_close). */
void dh_env_setup(struct dh_env *e, const char *daemon, const char *ui, uint64_t seed,
		  size_t n_known, size_t n_strangers);
/* Kills a daemon still running, removes the dir if e->passed (else keeps it
 * and says where), frees. */
void dh_env_teardown(struct dh_env *e);
/* Who owns a token: the person's index, or -1. *is_uid says which of theirs. */
int dh_token_owner(const struct dh_env *e, const uint8_t tok[RG_TOKEN_LEN], bool *is_uid);

/* ---- the daemon as a child process ---- */
struct dh_daemon {
	pid_t pid;
	int err_fd; /* read end of its stderr; -1 after EOF */
	int port;
	bool started;
	char *log; /* the tail of what it logged (at most DH_LOG_KEEP bytes) */
	size_t log_len;
};
#define DH_LOG_KEEP (1024 * 1024)

/* Fork/exec regulars-device --config, wait (bounded) for event=started and
 * the port from event=http_listening. */
void dh_daemon_start(const struct dh_env *e, struct dh_daemon *d, int timeout_ms);
/* Take what is in its stderr pipe without blocking. Returns 1 once EOF. */
int dh_daemon_pump(struct dh_daemon *d);
/* SIGKILL, wait (bounded) for stderr EOF, reap; fails unless it died of
 * that SIGKILL (a crash or an exit of its own is a failure). */
void dh_daemon_kill(struct dh_daemon *d);
/* Print the tail of its log to stderr (for failure messages). */
void dh_daemon_dump(const struct dh_daemon *d, const char *why);
void dh_daemon_free(struct dh_daemon *d);

/* ---- the SSE client (HTTP/1.1 over loopback TCP, chunked or not) ---- */
struct dh_sse {
	int fd;
	bool headers_done, chunked, hello, eof;
	int chunk_state;
	size_t chunk_left;
	char hdr[2048];
	size_t hdr_len;
	char line[16384];
	size_t line_len;
	char event[32];
	char data[16384];
	size_t data_len;
	bool has_data;
};
typedef void (*dh_sse_fn)(void *ctx, const char *event, const char *data);
/* Connect to 127.0.0.1:port, GET /api/v1/events, and wait (bounded) for the
 * stream's opening "retry:" so every later event reaches this client. */
void dh_sse_open(struct dh_sse *s, int port, int timeout_ms);
/* Read what is there (non-blocking) and call fn per complete event.
 * Returns 1 once the stream ended (EOF or reset), else 0. */
int dh_sse_pump(struct dh_sse *s, dh_sse_fn fn, void *ctx);
void dh_sse_close(struct dh_sse *s);

/* ---- the sim reader client (docs/sim-reader.md) ---- */
struct dh_tap {
	int fd;
	size_t sent, ok;
	char buf[512];
	size_t len;
	bool eof;
};
void dh_tap_open(struct dh_tap *t, const char *sock_path);
/* One command line (without LF). Returns 0, or -1 if the daemon is gone. */
int dh_tap_send(struct dh_tap *t, const char *line);
/* Read replies without blocking; fails on any "err ..." reply. 1 once EOF. */
int dh_tap_pump(struct dh_tap *t);
void dh_tap_close(struct dh_tap *t);

/* ---- files ---- */

/* PRAGMA integrity_check through plain sqlite3 is "ok". The WAL is left as it
 * is (no checkpoint on close), so the next start sees the crash state. */
void dh_integrity_ok(const char *db_path);

struct dh_needle {
	const uint8_t *p;
	size_t n; /* >= DH_NEEDLE_MIN */
	char what[96];
};
#define DH_NEEDLE_MIN 6
/* Every secret of every person: full name, first name, surname (known ones),
 * card number text, and the UID as raw bytes, lower and upper hex. */
size_t dh_secret_needles(const struct dh_env *e, struct dh_needle **out);
/* Search a file for the needles. Returns how many distinct needles occur,
 * with found[i] set for each (found may be NULL); -1 if the file is missing.
 * report: print each hit (file, what, offset) to stderr. *len gets its size. */
long dh_scan_file(const char *path, const struct dh_needle *nd, size_t n, bool *found, bool report,
		  size_t *len);
/* The database file, its -wal (required: the crash state) and -shm hold no
 * secret of any person (dh_secret_needles). The search is proven able to see:
 * it finds every profile id (stored in clear by design) in the file or WAL,
 * the device id in the WAL, and each of one person's secrets in a control
 * file it writes. Returns the bytes searched. */
size_t dh_privacy_check(const struct dh_env *e);

#endif
