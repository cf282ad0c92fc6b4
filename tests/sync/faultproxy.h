/*
 * faultproxy.h - a fault-injecting TCP forwarder on loopback, the "WAN" of
 * the sync tests: the gateway connects to the proxy, the proxy to the
 * central broker. One thread, poll() over every socket; bytes are passed on
 * unchanged (TLS goes end to end). fp_cut() drops every proxied connection
 * at once (both sides closed) and refuses new ones (accepted and closed at
 * once) until fp_restore(). Test code only.
 */
#ifndef TESTS_SYNC_FAULTPROXY_H
#define TESTS_SYNC_FAULTPROXY_H

#include <stdbool.h>
#include <stdint.h>

struct fp_proxy;

struct fp_stats {
	int64_t accepted;  /* connections forwarded */
	int64_t refused;   /* connections closed at once while cut */
	int64_t dropped;   /* live connections dropped by a cut */
	int64_t bytes_up;  /* client -> target */
	int64_t bytes_down;
	int live;
	bool cut;
};

/* Listen on 127.0.0.1 (a free port) and forward to 127.0.0.1:target_port.
 * 0, or a negative rg_err. */
int fp_start(unsigned target_port, struct fp_proxy **out);
unsigned fp_port(const struct fp_proxy *p);
/* Both return once the forwarder thread has applied the change. */
void fp_cut(struct fp_proxy *p);
void fp_restore(struct fp_proxy *p);
bool fp_is_cut(struct fp_proxy *p);
void fp_stats_get(struct fp_proxy *p, struct fp_stats *out);
/* Stop the thread, close everything. NULL is fine. */
void fp_stop(struct fp_proxy *p);

#endif
