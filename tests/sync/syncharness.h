/*
 * syncharness.h - the whole sync path as real processes for the end-to-end
 * tests of tests/sync: a tenant PKI and the store and central Mosquitto
 * brokers (tests/mqtt harness), the fault proxy standing in for the WAN
 * between the gateway and the central broker, one regulars-cloud worker on
 * a seeded SQLite profile store (`regularsctl customers generate` +
 * `regulars-cloud --seed`), one regulars-gateway with its spool, and
 * devices (regulars-device with an uplink, driven through the device
 * harness: sim reader taps, the SSE stream, the log). Every device and
 * central share one tenant.key. The harness records every interaction a
 * screen confirmed, per device and in order, and checks the end state: each
 * one in the central store exactly once, in per-device order, every outbox
 * and the spool empty. Test code only: a failure is a cmocka failure.
 */
#ifndef TESTS_SYNC_SYNCHARNESS_H
#define TESTS_SYNC_SYNCHARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/uuid.h"
#include "devharness.h"
#include "faultproxy.h"
#include "testbroker.h"

#define SX_STORE "0042"
#define SX_GW "gw-0042"
/* A second store, on request (sx_world_opts.second_store): its own store
 * broker, gateway and WAN proxy, the same central. */
#define SX_STORE2 "0043"
#define SX_GW2 "gw-0043"
#define SX_CLOUD "cloud-1"
#define SX_DEVS_MAX 4
#define SX_TAPS_WINDOW 6 /* taps outstanding per device (the sim reader queues 32) */

/* Sanitized builds run every daemon several times slower. */
#define SX_SLOW (DH_SANITIZED ? 4 : 1)

/* A child daemon whose stderr goes to a log file. */
struct sx_proc {
	const char *name;
	pid_t pid;
	char log[400];
	int starts, kills;
};

struct sx_planned {
	int customer; /* 1-based customer number, or 0 for a stranger */
	bool nfc;
};

struct sx_dev {
	char id[40];
	const char *store_id; /* SX_STORE or SX_STORE2 */
	bool handheld;
	int lookup_timeout_ms, batch_max, resend_ms;
	struct dh_env de; /* daemon, config, db, keys, sock (nothing seeded) */
	struct dh_daemon d;
	struct dh_sse sse;
	struct dh_tap tap;
	bool running;
	int starts, kills;
	/* taps of the running process, oldest first, not yet on a screen */
	struct sx_planned q[SX_TAPS_WINDOW];
	size_t q_head, q_len;
	/* every confirmed interaction, in the order the screens showed them */
	struct rg_uuid *conf;
	size_t n_conf, cap_conf;
	size_t taps_sent, greetings, unknowns, named;
	size_t maybe_extra; /* taps in flight at a SIGKILL: recorded perhaps, never confirmed */
	int64_t last_screen_ms;
	struct sx_world *w;
};

struct sx_world {
	struct tb_env *env;
	struct tb_broker *store, *central;
	struct fp_proxy *wan; /* NULL: the gateway talks to central directly */
	struct tb_broker *store2; /* the second store (NULL unless asked for) */
	struct fp_proxy *wan2;
	struct sx_proc gw2;
	char gw2_cfg[400], gw2_spool[400];
	const char *device_bin, *gateway_bin, *cloud_bin, *ctl_bin, *ui_dir;
	char dir[100];
	char tenant_key_file[400], customers[400];
	uint8_t tenant_key[32];
	int n_customers;
	char cloud_cfg[400], cloud_db[400], gw_cfg[400], gw_spool[400];
	struct sx_proc cloud, gw;
	struct sx_dev dev[SX_DEVS_MAX];
	int n_dev;
	struct dh_rng rng;
	bool keep; /* leave the directory (a failed test says where) */
};

struct sx_dev_opts {
	const char *id;
	bool handheld;
	int lookup_timeout_ms; /* 0: never ask central */
	int batch_max;	       /* 0: 100 */
	int resend_ms;	       /* 0: 2000 */
	bool seed_cache;       /* load the customers into the device's cache */
	const char *config_trust; /* pushed configuration: the trust anchor file, or NULL */
	const char *extra_json;	  /* more members of device.json ("staff": {...}), or NULL */
	bool store2;		  /* a device of the second store (SX_STORE2) */
};

struct sx_world_opts {
	int customers; /* `regularsctl customers generate --count` */
	bool wan_proxy;
	int gw_resend_ms; /* 0: 2000 */
	int gw_window;	  /* 0: 64 */
	int gw_pull_ms;	  /* replica.pull_ms of the gateways; 0: their default (5000) */
	const struct sx_dev_opts *devs;
	int n_devs;
	uint64_t seed;
	const char *it_identity;   /* an IT identity (`it-<name>`) to issue, or NULL */
	const char *gw_config_trust; /* the gateway's own pushed settings: anchor file, or NULL */
	bool second_store; /* also SX_STORE2 with its broker, gateway SX_GW2 (and WAN proxy) */
	const char *cloud_policy; /* central's replication policy (docs/replication.md); NULL: "all" */
};

/* A test's command line: regulars-device regulars-gateway regulars-cloud
 * regularsctl ui-dir, then the test's own (usage_more, or NULL). Prints the
 * usage and exits 2 when it is short; returns argv. */
char **sx_args(int argc, char **argv, const char *usage_more);
/* argv: regulars-device regulars-gateway regulars-cloud regularsctl ui-dir. */
void sx_world_create(struct sx_world *w, char **argv, const struct sx_world_opts *o);
/* Kill what runs, remove the directory unless the test failed and
 * RG_TEST_KEEP is set (the path is printed then). */
void sx_world_free(struct sx_world *w, bool passed);

/* Run a tool (argv[0] a path) with stdout and stderr appended to log; its
 * exit status (fails the test if it hangs past timeout_ms or dies of a signal). */
int sx_run_tool(const char *log, int timeout_ms, const char *const argv[]);

/* ---- processes ---- */
void sx_cloud_start(struct sx_world *w);
void sx_gw_start(struct sx_world *w);
void sx_gw2_start(struct sx_world *w); /* the second store's gateway */
void sx_proc_kill(struct sx_proc *p);	      /* SIGKILL + reap */
int sx_proc_term(struct sx_proc *p, int timeout_ms); /* SIGTERM + reap: exit status */
/* Fails the test if the child died on its own (a crash). */
void sx_proc_check(struct sx_proc *p);
bool sx_log_has(const char *path, const char *needle);
size_t sx_log_count(const char *path, const char *needle); /* occurrences */
/* Wait (bounded) for needle in the log, pumping the devices meanwhile. */
void sx_wait_log(struct sx_world *w, const char *path, const char *needle, int timeout_ms);
/* The same, until the needle occurs at least n times. */
void sx_wait_log_n(struct sx_world *w, const char *path, const char *needle, size_t n,
		   int timeout_ms);

void sx_dev_start(struct sx_dev *d);
void sx_dev_kill(struct sx_dev *d);		     /* SIGKILL; in-flight taps counted */
void sx_dev_term(struct sx_dev *d, int timeout_ms); /* clean stop, exit 0 expected */

/* ---- taps ---- */
/* The card number (EAN-13) and NFC UID (odd customers) of customer i. */
void sx_card(int customer, char out[14]);
void sx_uid(int customer, char out[15]);
/* Send one tap (card or, for odd customers sometimes, NFC); 0, or -1 if the
 * reader is gone or the window is full. */
int sx_tap(struct sx_dev *d, int customer, bool nfc);
/* Send random taps while the window allows; known customers with
 * probability known_pct, else strangers. Returns taps sent. */
size_t sx_tap_fill(struct sx_dev *d, int known_pct, size_t budget);
/* One poll over every running device's SSE, reader and stderr (at most
 * timeout_ms), handling what arrived. */
void sx_pump(struct sx_world *w, int timeout_ms);
/* Pump until every device's window is empty (bounded). */
void sx_settle(struct sx_world *w, int timeout_ms);
/* A handler called for each screen event with an interaction (the planned
 * tap and the parsed screen, a cJSON *). NULL: none. */
typedef void (*sx_screen_fn)(struct sx_dev *d, const struct sx_planned *t, const void *screen);
void sx_set_screen_hook(sx_screen_fn fn);

/* ---- state ---- */
/* GET path from the device's web server: the raw response (headers and
 * body) in buf; its length, or -1. */
long sx_http_get(struct sx_dev *d, const char *path, char *buf, size_t cap);
/* Any request: method, path, a Cookie header value or NULL, a JSON body or NULL. */
long sx_http(struct sx_dev *d, const char *method, const char *path, const char *cookie,
	     const char *body, char *buf, size_t cap);
/* Wait (bounded) for needle in the device's log, pumping meanwhile. */
void sx_wait_dev_log(struct sx_world *w, struct sx_dev *d, const char *needle, int timeout_ms);
/* GET /healthz: the device's outbox rows, or -1 if it did not answer. */
long sx_dev_outbox(struct sx_dev *d);
/* Rows in the gateway's spool (batches), read from its SQLite file. */
long sx_spool_batches(struct sx_world *w);
/* Interactions of our devices in the central store. */
long sx_central_count(struct sx_world *w);
/* Confirmed interactions in total. */
size_t sx_confirmed(const struct sx_world *w);

/* Wait (bounded) until central holds every confirmed interaction, every
 * running device's outbox is empty and the spool too. Returns ms taken. */
int64_t sx_wait_drained(struct sx_world *w, int timeout_ms);

/* The end-state checks, on stopped devices and gateway (SIGTERM first):
 * each confirmed id in central exactly once, nothing else there but at most
 * maybe_extra unconfirmed rows per device; per device, central's order of
 * application (interactions.seq) has strictly increasing HLCs and follows
 * the order the screens confirmed; devices(device, lane).out_of_order = 0
 * and .applied = the rows; every outbox (store_stats, opened with the
 * device's store.key) and the spool are empty. Prints a summary. */
void sx_check_end_state(struct sx_world *w);

#endif
