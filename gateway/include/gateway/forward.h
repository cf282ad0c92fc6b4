/*
 * forward.h - the gateway's forwarding scheduler: which spooled batch goes to
 * central next. At most one message per device and lane is in flight (central's
 * workers share a subscription, so order is kept by the protocol, not the
 * broker: docs/topics.md), at most `window` in all; a message is one batch or
 * a bundle of the oldest few of that device and lane; free slots go to the
 * priority lane first, then interactions, then telemetry, oldest first. A
 * batch not acked within resend_ms is forwarded again, and everything in
 * flight is forwarded again after a reconnect. Single-threaded, no I/O of its
 * own: publishing goes through the ops below, so tests drive it directly.
 */
#ifndef GATEWAY_FORWARD_H
#define GATEWAY_FORWARD_H

#include <stdbool.h>
#include <stdint.h>

#include "common/clock.h"
#include "common/wire.h"
#include "gateway/spool.h"

#ifdef __cplusplus
extern "C" {
#endif

struct gw_fwd_ops {
	/* Publish payload on rg/v1/g/<gw>/up/<lane>, QoS 1 (a batch as spooled,
	 * or a bundle: then payload is the bundle and the rest is its first
	 * batch's). 0, or a negative
	 * rg_err (RG_ERR_CLOSED: the link is down; the scheduler stops). */
	int (*publish)(void *ctx, const struct gw_spool_entry *e);
};

struct gw_fwd_stats {
	int64_t forwarded;   /* batches sent the first time */
	int64_t reforwarded; /* batches resent after the timeout or a reconnect */
	int64_t bundles;     /* messages that carried several batches */
	int inflight;
	int queues; /* (device, lane) pairs known */
};

struct gw_fwd;

/* spool, clock and ops are borrowed. Loads the queues from the spool. */
int gw_fwd_new(struct gw_spool *spool, const struct rg_clock *clock, int window, int resend_ms,
	       const struct gw_fwd_ops *ops, void *ctx, struct gw_fwd **out);
void gw_fwd_free(struct gw_fwd *f);
void gw_fwd_set_limits(struct gw_fwd *f, int window, int resend_ms);
/* Forward up to `batches` (1..RG_WIRE_BUNDLE_MAX_BATCHES; 1 at creation)
 * spooled batches of one device and lane as one bundle (docs/wire.md). */
void gw_fwd_set_bundle(struct gw_fwd *f, int batches);

/* The central link went up or down. Down forgets what is in flight (it is
 * all sent again once up). */
void gw_fwd_link(struct gw_fwd *f, bool up);
bool gw_fwd_link_up(const struct gw_fwd *f);
/* Something was spooled for (device, lane). */
int gw_fwd_spooled(struct gw_fwd *f, const char *device, enum rg_lane lane);
/* An ack for device was applied to the spool: free the slots it finished. */
int gw_fwd_acked(struct gw_fwd *f, const char *device);
/* Send what is due: resends first, then new heads into free slots. Returns
 * how many batches were published, or a negative rg_err (spool failure). */
int gw_fwd_pump(struct gw_fwd *f);
/* Milliseconds until the next resend falls due (0: now), or -1 if none. */
int64_t gw_fwd_next_due_ms(const struct gw_fwd *f);
void gw_fwd_stats_get(const struct gw_fwd *f, struct gw_fwd_stats *out);

#ifdef __cplusplus
}
#endif

#endif
