/*
 * gateway.h - the regulars-gateway daemon around the core: two rg_mqtt
 * clients (store broker, central broker) whose threads only queue events,
 * and one main thread that owns the spool and the scheduler, commits
 * uplinks in groups before their receipts, relays acks and lookups,
 * publishes statuses and logs stats. Private to the daemon.
 */
#ifndef GATEWAY_GATEWAY_H
#define GATEWAY_GATEWAY_H

#include "gateway/gwconfig.h"

struct gw_daemon;

/* Open the spool and make the clients from cfg (taken over: the daemon frees
 * it). config_path is re-read on reload. RG_ERR_CONFIG for unusable TLS
 * files, other codes for a spool that does not open. */
int gw_daemon_new(struct gwcfg *cfg, const char *config_path, struct gw_daemon **out);
/* Run until RG_WAKE_STOP is posted (common/wake.h: SIGTERM/SIGINT); 0 after a clean stop. */
int gw_daemon_run(struct gw_daemon *d);
void gw_daemon_free(struct gw_daemon *d);

/* Async-signal-safe: ask the running daemon to stop / to reload. */

#endif
