/*
 * testbroker.h - rg_testbroker, the harness integration tests use to run a
 * real Mosquitto: a temporary directory with a tenant PKI (rg_pki), broker
 * configurations from the same generator as `regularsctl broker config`, a
 * broker process on a free port (start, stop, restart on the same port and
 * persistence, SIGKILL, SIGHUP reload) and MQTT v5 mutual-TLS test clients
 * driven from the test's own thread. Test code only: it asserts nothing.
 */
#ifndef TESTS_MQTT_TESTBROKER_H
#define TESTS_MQTT_TESTBROKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/pki.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TB_WAIT_MS 5000 /* default bound for anything the harness waits for */

/* ---- environment: temp dir + PKI ---- */

struct tb_env;

/* Make a fresh directory under $TMPDIR (or /tmp) and a tenant CA in its pki/.
 * Ignores SIGPIPE and initialises libmosquitto. The directory is removed by
 * tb_env_free() unless the environment variable TB_KEEP is set (the path is
 * then printed), for post-mortems. */
int tb_env_create(struct tb_env **out, const char *tenant);
/* Frees every client still open, kills every broker still running, removes
 * the directory. NULL is fine. */
void tb_env_free(struct tb_env *env);
const char *tb_env_dir(const struct tb_env *env);
const char *tb_env_pki(const struct tb_env *env);

/* <pki>/<id><ext> into buf, for a daemon's configuration: id "ca" with ".crt"
 * is the CA certificate; "<identity>", ".crt" / ".key" a client's files.
 * Clients connect to host "localhost" (the brokers' subjectAltName).
 * 0 or RG_ERR_TOOBIG. */
int tb_env_file(const struct tb_env *env, const char *id, const char *ext, char *buf, size_t cap);

/* Issue a certificate into the PKI unless <id>.crt is already there. Brokers
 * get the subjectAltNames localhost and 127.0.0.1. */
int tb_env_issue(struct tb_env *env, enum pki_kind kind, const char *id, const char *store);

/* ---- broker process ---- */

struct tb_broker;

/* Issue the broker's certificate if needed (broker-<store> or broker-central),
 * generate its configuration in <dir>/broker-<store|central>/ (listening on
 * 127.0.0.1 only, `user root` when running as root), start `mosquitto -c` on
 * a free port (another port is tried if it was taken meanwhile) and wait until
 * it completes an MQTT v5 mutual-TLS CONNECT. The broker binary is
 * $REGULARS_MOSQUITTO, else `mosquitto` on $PATH, /usr/sbin or /usr/local/sbin.
 * Its log (stderr) goes to tb_broker_log(). The broker belongs to env. */
int tb_broker_start(struct tb_env *env, enum pki_broker_role role, const char *store,
		    struct tb_broker **out);
unsigned tb_broker_port(const struct tb_broker *b);
pid_t tb_broker_pid(const struct tb_broker *b); /* -1 when not running */
const char *tb_broker_log(const struct tb_broker *b);
const char *tb_broker_dir(const struct tb_broker *b);

/* SIGTERM and reap (Mosquitto saves its persistence file on the way out);
 * SIGKILL after TB_WAIT_MS. 0 if it exited by itself, RG_ERR_TIMEOUT if it
 * had to be killed. */
int tb_broker_stop(struct tb_broker *b);
/* SIGKILL and reap: a crash, nothing saved since the last autosave. */
int tb_broker_kill(struct tb_broker *b);
/* Start again with the same configuration, port and persistence directory
 * (stopping it first if it runs) and wait until it accepts clients. */
int tb_broker_restart(struct tb_broker *b);
/* Regenerate the configuration from the PKI (e.g. after issuing a gateway)
 * and SIGHUP the broker so it reloads its ACL. Does not wait for the reload. */
int tb_broker_reload(struct tb_broker *b);

/* ---- MQTT v5 clients ---- */

struct tb_client;

struct tb_client_opts {
	const char *identity; /* <pki>/<identity>.crt and .key; NULL: no client certificate */
	const char *certfile; /* override the certificate/key files (e.g. another CA's) */
	const char *keyfile;
	const char *client_id; /* asked-for client id; NULL: the identity */
	bool persistent;       /* clean start off, session expiry one hour */
};

/* A client of env (every wait below drives all of env's clients). */
int tb_client_new(struct tb_env *env, const struct tb_client_opts *o, struct tb_client **out);
void tb_client_free(struct tb_client *c);

/* Connect to localhost:<port of b> (the broker's certificate is verified,
 * host name included) and wait for the CONNACK. 0 when accepted;
 * RG_ERR_PERM with *reason set when refused in the CONNACK; RG_ERR_CLOSED when
 * the connection (TLS handshake included) failed before any CONNACK;
 * RG_ERR_TIMEOUT. reason may be NULL. */
int tb_client_connect(struct tb_client *c, const struct tb_broker *b, int *reason);
bool tb_client_connected(const struct tb_client *c);
/* Send DISCONNECT and wait until the connection is closed. */
int tb_client_disconnect(struct tb_client *c);

/* Publish and, for QoS 1, wait for the PUBACK: *reason is its MQTT v5 reason
 * code (0 success, 16 no matching subscribers, 135 not authorized). */
int tb_client_publish(struct tb_client *c, const char *topic, const char *payload, int qos,
		      bool retain, int *reason);
/* Subscribe and wait for the SUBACK: *granted is its reason code (the granted
 * QoS, or >= 0x80 on failure). */
int tb_client_subscribe(struct tb_client *c, const char *filter, int qos, int *granted);

struct tb_msg {
	char topic[256];
	char payload[1024]; /* the first 1023 bytes, NUL-terminated */
	bool retained;
	/* All of it (NUL-terminated), owned by the client until
	 * tb_client_free; NULL if out of memory. */
	const char *full;
	size_t len;
};

/* Take the oldest message received and not yet taken, waiting up to
 * timeout_ms for one. 0, or RG_ERR_TIMEOUT. */
int tb_client_next(struct tb_client *c, struct tb_msg *out, int timeout_ms);
/* Messages received and not yet taken. */
size_t tb_client_pending(const struct tb_client *c);

/* Monotonic milliseconds, for the tests' own deadlines. */
int64_t tb_now_ms(void);

/* Drive every client of env for ms milliseconds. */
void tb_env_pump(struct tb_env *env, int ms);

#ifdef __cplusplus
}
#endif

#endif
