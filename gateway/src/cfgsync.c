/*
 * cfgsync.c - configuration documents through the gateway
 * (gateway/include/gateway/cfgsync.h): topic routing, the two caches of
 * retained messages (central -> store documents, store -> central device
 * statuses) that are published again after a reconnect, and the gateway's
 * own cfgstate. It never verifies what it relays: the receivers do.
 */
#include "gateway/cfgsync.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cfgstate.h"
#include "common/err.h"
#include "common/file.h"
#include "common/log.h"
#include "common/wire.h"

#define COMP "gateway"
#define CONFIG_PREFIX "rg/v1/config/"
#define ANCHOR_MAX (64 * 1024)

/* Offered in place of a message too large to have been copied: cfgstate
 * refuses it as too_large by its length alone, before reading a byte. */
static const char too_large_view[CFGDOC_ENVELOPE_MAX + 1];

struct kept {
	char *topic;
	char *payload; /* NULL when len is 0 (a clear) */
	size_t len;
	bool sent; /* the client took it since it last changed */
};

struct cache {
	struct kept *v;
	size_t n, cap;
	size_t bytes;
};

struct gw_cfgsync {
	char store[RG_WIRE_STORE_MAX + 1];
	char identity[RG_WIRE_ID_MAX + 1];
	const struct gw_cfgsync_ops *ops;
	void *ctx;
	struct cache kept[2]; /* by enum gw_broker: what is published there */
	struct cfgstate *cs;  /* NULL: no settings of its own */
	char *last_report;    /* the report last announced, printed */
	struct gw_cfgsync_stats st;
};

/* ---- topics ---- */

static bool version_valid(const char *s)
{
	size_t n = strlen(s);
	if (n < 1 || n > 15 || s[0] == '0')
		return false;
	for (size_t i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

int gw_cfg_route(const char *topic, const char *store, const char *gw_identity,
		 struct gw_cfg_route *out)
{
	const char *rest, *slash;
	char level[RG_WIRE_ID_MAX + 1];
	size_t n;

	memset(out, 0, sizeof *out);
	out->kind = GW_ROUTE_BAD_TOPIC;
	out->scope = -1;
	if (!topic || strncmp(topic, CONFIG_PREFIX, strlen(CONFIG_PREFIX)))
		return out->kind;
	rest = topic + strlen(CONFIG_PREFIX);

	if (!strcmp(rest, "tenant")) {
		out->kind = GW_ROUTE_RELAY;
		out->scope = CFGDOC_SCOPE_TENANT;
		out->own = true;
		snprintf(out->store_topic, sizeof out->store_topic, "rg/v1/s/%s/config/tenant",
			 store);
		return out->kind;
	}
	if (!strncmp(rest, "store/", 6)) {
		rest += 6;
		if (!rg_wire_identity_valid(rest) || strlen(rest) > RG_WIRE_STORE_MAX)
			return out->kind;
		if (strcmp(rest, store)) {
			out->kind = GW_ROUTE_OTHER_STORE;
			return out->kind;
		}
		out->kind = GW_ROUTE_RELAY;
		out->scope = CFGDOC_SCOPE_STORE;
		out->own = true;
		snprintf(out->store_topic, sizeof out->store_topic, "rg/v1/s/%s/config/store",
			 store);
		return out->kind;
	}
	if (!strncmp(rest, "keys/", 5)) {
		rest += 5;
		if (!version_valid(rest))
			return out->kind;
		out->kind = GW_ROUTE_RELAY;
		out->scope = CFGDOC_SCOPE_KEYS;
		out->own = true;
		snprintf(out->store_topic, sizeof out->store_topic, "rg/v1/s/%s/config/keys/%s",
			 store, rest);
		return out->kind;
	}
	if (!strncmp(rest, "device/", 7)) {
		rest += 7;
		if (!(slash = strchr(rest, '/')) ||
		    (n = (size_t)(slash - rest)) > RG_WIRE_STORE_MAX)
			return out->kind;
		memcpy(level, rest, n);
		level[n] = '\0';
		if (!rg_wire_identity_valid(level) || !rg_wire_identity_valid(slash + 1))
			return out->kind;
		if (strcmp(level, store)) {
			out->kind = GW_ROUTE_OTHER_STORE;
			return out->kind;
		}
		out->scope = CFGDOC_SCOPE_DEVICE;
		if (!strcmp(slash + 1, gw_identity)) {
			out->kind = GW_ROUTE_OWN;
			out->own = true;
			return out->kind;
		}
		if (!strncmp(slash + 1, "gw-", 3)) {
			out->scope = -1;
			return out->kind; /* another gateway is no device of this store */
		}
		out->kind = GW_ROUTE_RELAY;
		snprintf(out->store_topic, sizeof out->store_topic, "rg/v1/s/%s/d/%s/config", store,
			 slash + 1);
		return out->kind;
	}
	return out->kind;
}

int gw_status_topic_device(const char *topic, const char *store, char dev[65])
{
	char prefix[64];
	const char *rest, *slash;
	size_t n;

	dev[0] = '\0';
	n = (size_t)snprintf(prefix, sizeof prefix, "rg/v1/s/%s/d/", store);
	if (!topic || n >= sizeof prefix || strncmp(topic, prefix, n))
		return RG_ERR_NOTFOUND;
	rest = topic + n;
	if (!(slash = strchr(rest, '/')) || strcmp(slash, "/status"))
		return RG_ERR_NOTFOUND;
	n = (size_t)(slash - rest);
	if (n < 1 || n > RG_WIRE_ID_MAX)
		return RG_ERR_PARSE;
	memcpy(dev, rest, n);
	dev[n] = '\0';
	if (!rg_wire_identity_valid(dev) || !strncmp(dev, "gw-", 3)) {
		dev[0] = '\0';
		return RG_ERR_PARSE;
	}
	return 0;
}

/* ---- the caches ---- */

static void cache_free(struct cache *c)
{
	for (size_t i = 0; i < c->n; i++) {
		free(c->v[i].topic);
		free(c->v[i].payload);
	}
	free(c->v);
	memset(c, 0, sizeof *c);
}

/* Keep payload as topic's latest message. *out is the entry, or NULL when
 * the cache is full (RG_ERR_TOOBIG). Returns 1 if it changed (or is new), 0
 * for the same bytes again, or a negative rg_err. */
static int cache_put(struct cache *c, const char *topic, const void *payload, size_t len,
		     struct kept **out)
{
	struct kept *k = NULL;
	char *copy = NULL;

	*out = NULL;
	for (size_t i = 0; i < c->n; i++)
		if (!strcmp(c->v[i].topic, topic)) {
			k = &c->v[i];
			break;
		}
	if (k && k->len == len && (!len || !memcmp(k->payload, payload, len))) {
		*out = k;
		return 0;
	}
	if (c->bytes - (k ? k->len : 0) + len > GW_CFG_CACHE_BYTES ||
	    (!k && c->n >= GW_CFG_CACHE_TOPICS))
		return RG_ERR_TOOBIG;
	if (len) {
		if (!(copy = malloc(len)))
			return RG_ERR_NOMEM;
		memcpy(copy, payload, len);
	}
	if (!k) {
		if (c->n == c->cap) {
			size_t cap = c->cap ? c->cap * 2 : 16;
			struct kept *v = realloc(c->v, cap * sizeof *v);
			if (!v) {
				free(copy);
				return RG_ERR_NOMEM;
			}
			c->v = v;
			c->cap = cap;
		}
		k = &c->v[c->n];
		memset(k, 0, sizeof *k);
		if (!(k->topic = strdup(topic))) {
			free(copy);
			return RG_ERR_NOMEM;
		}
		c->n++;
	}
	c->bytes = c->bytes - k->len + len;
	free(k->payload);
	k->payload = copy;
	k->len = len;
	k->sent = false;
	*out = k;
	return 1;
}

/* Publish topic's latest message on b, keeping it for b's reconnects. */
static int forward(struct gw_cfgsync *s, enum gw_broker b, const char *topic, const void *payload,
		   size_t len, bool *done)
{
	struct kept *k;
	int rc;

	*done = false;
	rc = cache_put(&s->kept[b], topic, payload, len, &k);
	if (rc == RG_ERR_NOMEM)
		return rc;
	if (rc == 0 && k->sent) {
		s->st.unchanged++;
		return 0;
	}
	if (!k) { /* full: still sent now, just not again after a reconnect */
		s->st.uncached++;
		rg_warn(COMP, "relay_uncached", "topic=%s bytes=%zu topics_max=%d bytes_max=%u",
			topic, len, GW_CFG_CACHE_TOPICS, GW_CFG_CACHE_BYTES);
	}
	if ((rc = s->ops->publish(s->ctx, b, topic, payload, len)) < 0) {
		s->st.deferred++;
		rg_debug(COMP, "relay_deferred", "topic=%s bytes=%zu error=%s", topic, len,
			 rg_errname(rc));
		return 0;
	}
	if (k)
		k->sent = true;
	*done = true;
	return 0;
}

int gw_cfgsync_link_up(struct gw_cfgsync *s, enum gw_broker b)
{
	struct cache *c = &s->kept[b];
	int n = 0;
	for (size_t i = 0; i < c->n; i++) {
		struct kept *k = &c->v[i];
		k->sent = s->ops->publish(s->ctx, b, k->topic, k->payload, k->len) == 0;
		n += k->sent;
	}
	s->st.republished += n;
	if (c->n)
		rg_info(COMP, b == GW_BROKER_STORE ? "config_republished" : "status_republished",
			"kept=%zu published=%d", c->n, n);
	return n;
}

/* ---- the gateway's own settings ---- */

static int validate_hook(void *ctx, const cJSON *merged, char *err, size_t errcap)
{
	struct gw_cfgsync *s = ctx;
	return s->ops->validate ? s->ops->validate(s->ctx, merged, err, errcap) : 0;
}

/* Tell the caller when the report's text changed. */
static void announce(struct gw_cfgsync *s)
{
	cJSON *r = cfgstate_report(s->cs);
	char *text = r ? cJSON_PrintUnformatted(r) : NULL;
	cJSON_Delete(r);
	if (!text)
		return;
	if (s->last_report && !strcmp(s->last_report, text)) {
		cJSON_free(text);
		return;
	}
	cJSON_free(s->last_report);
	s->last_report = text;
	if (s->ops->report_changed)
		s->ops->report_changed(s->ctx);
}

static void offer(struct gw_cfgsync *s, enum cfgdoc_scope scope, const void *payload, size_t len)
{
	enum cfgdoc_reason reason = CFGDOC_OK;
	int rc;

	if (!s->cs || !len)
		return; /* a clear: keep running what is applied */
	s->st.offered++;
	rc = cfgstate_offer(s->cs, scope, payload, len, &reason);
	if (rc < 0) {
		s->st.state_errors++;
		rg_error(COMP, "config_state_failed", "scope=%s error=%s", cfgdoc_scope_name(scope),
			 rg_errname(rc));
		return;
	}
	if (reason != CFGDOC_OK)
		s->st.refused++;
	if (rc == 1) {
		cJSON *m = cfgstate_merged(s->cs);
		s->st.applied++;
		if (!m) {
			rg_error(COMP, "out_of_memory", "what=merged_settings");
		} else {
			if (s->ops->settings)
				s->ops->settings(s->ctx, m);
			cJSON_Delete(m);
		}
	}
	announce(s);
}

/* ---- messages ---- */

int gw_cfgsync_central(struct gw_cfgsync *s, const char *topic, const void *payload, size_t len)
{
	struct gw_cfg_route r;
	char q[GW_CFG_TOPIC_MAX * 2];
	bool done;
	int rc;

	if (strncmp(topic, CONFIG_PREFIX, strlen(CONFIG_PREFIX)))
		return 0;
	switch (gw_cfg_route(topic, s->store, s->identity, &r)) {
	case GW_ROUTE_OTHER_STORE:
		s->st.other_store++;
		rg_warn(COMP, "config_not_relayed", "reason=other_store topic=%s bytes=%zu",
			rg_log_quote(q, sizeof q, topic), len);
		return 1;
	case GW_ROUTE_BAD_TOPIC:
		s->st.bad_topic++;
		rg_warn(COMP, "config_not_relayed", "reason=bad_topic topic=%s bytes=%zu",
			rg_log_quote(q, sizeof q, topic), len);
		return 1;
	case GW_ROUTE_RELAY:
	case GW_ROUTE_OWN:
		break;
	}
	if (len > CFGDOC_ENVELOPE_MAX || (!payload && len)) {
		s->st.too_large++;
		rg_warn(COMP, "config_not_relayed", "reason=too_large topic=%s bytes=%zu max=%d",
			topic, len, CFGDOC_ENVELOPE_MAX);
		if (r.own)
			offer(s, (enum cfgdoc_scope)r.scope, too_large_view, sizeof too_large_view);
		return 1;
	}
	if (r.kind == GW_ROUTE_RELAY) {
		if ((rc = forward(s, GW_BROKER_STORE, r.store_topic, payload, len, &done)) < 0) {
			rg_error(COMP, "out_of_memory", "what=config topic=%s bytes=%zu", topic,
				 len);
			return rc;
		}
		if (done) {
			s->st.relayed++;
			s->st.cleared += len == 0;
			rg_info(COMP, len ? "config_relayed" : "config_cleared",
				"topic=%s bytes=%zu", r.store_topic, len);
		}
	}
	if (r.own)
		offer(s, (enum cfgdoc_scope)r.scope, payload, len);
	return 1;
}

int gw_cfgsync_store(struct gw_cfgsync *s, const char *topic, const void *payload, size_t len)
{
	char dev[RG_WIRE_ID_MAX + 1], central[GW_CFG_TOPIC_MAX], q[GW_CFG_TOPIC_MAX * 2];
	bool done;
	int rc = gw_status_topic_device(topic, s->store, dev);

	if (rc == RG_ERR_NOTFOUND)
		return 0;
	if (rc < 0 || s->ops->device_known(s->ctx, dev) <= 0) {
		s->st.mirror_unknown++;
		rg_warn(COMP, "status_not_mirrored", "reason=unknown_device topic=%s bytes=%zu",
			rg_log_quote(q, sizeof q, topic), len);
		return 1;
	}
	if (len > GW_STATUS_MAX || (!payload && len)) {
		s->st.mirror_too_large++;
		rg_warn(COMP, "status_not_mirrored", "reason=too_large device=%s bytes=%zu max=%d",
			dev, len, GW_STATUS_MAX);
		return 1;
	}
	snprintf(central, sizeof central, "rg/v1/g/%s/d/%s/status", s->identity, dev);
	if ((rc = forward(s, GW_BROKER_CENTRAL, central, payload, len, &done)) < 0) {
		rg_error(COMP, "out_of_memory", "what=status device=%s bytes=%zu", dev, len);
		return rc;
	}
	if (done) {
		s->st.mirrored++;
		rg_debug(COMP, "status_mirrored", "device=%s bytes=%zu", dev, len);
	}
	return 1;
}

/* ---- lifecycle ---- */

static int open_state(struct gw_cfgsync *s, const struct gw_cfgsync_params *p, char *err,
		      size_t errcap)
{
	struct cfgdoc_keyset anchor;
	struct cfgstate_params cp;
	char m[512];
	char *text;
	size_t n;
	int rc;

	if ((rc = rg_file_read(p->trust_anchor, ANCHOR_MAX, &text, &n, m, sizeof m)) < 0)
		return rg_errf(RG_ERR_CONFIG, err, errcap, "config.trust_anchor: %s", m);
	rc = cfgdoc_keyset_parse(text, n, &anchor, m, sizeof m);
	free(text);
	if (rc < 0)
		return rg_errf(RG_ERR_CONFIG, err, errcap, "config.trust_anchor %s: %s",
			       p->trust_anchor, m);
	memset(&cp, 0, sizeof cp);
	cp.path = p->state_path;
	cp.anchor = &anchor;
	cp.store = p->store_id;
	cp.identity = p->identity;
	cp.clock = p->clock;
	cp.validate = validate_hook;
	cp.ctx = s;
	if ((rc = cfgstate_open(&cp, &s->cs, m, sizeof m)) < 0)
		return rg_errf(RG_ERR_CONFIG, err, errcap, "config.state %s: %s", p->state_path, m);
	return 0;
}

int gw_cfgsync_new(const struct gw_cfgsync_params *p, struct gw_cfgsync **out, char *err,
		   size_t errcap)
{
	struct gw_cfgsync *s;
	int rc;

	*out = NULL;
	if (!p || !p->store_id || !p->identity || !p->ops || !p->ops->publish ||
	    !p->ops->device_known || !p->trust_anchor != !p->state_path ||
	    strlen(p->store_id) > RG_WIRE_STORE_MAX || strlen(p->identity) > RG_WIRE_ID_MAX)
		return rg_errf(RG_ERR_INVAL, err, errcap, "gw_cfgsync_new: bad parameters");
	if (!(s = calloc(1, sizeof *s)))
		return rg_errf(RG_ERR_NOMEM, err, errcap, "out of memory");
	snprintf(s->store, sizeof s->store, "%s", p->store_id);
	snprintf(s->identity, sizeof s->identity, "%s", p->identity);
	s->ops = p->ops;
	s->ctx = p->ctx;
	if (p->trust_anchor && (rc = open_state(s, p, err, errcap)) < 0) {
		gw_cfgsync_free(s);
		return rc;
	}
	if (s->cs) {
		/* The first report is what the status starts with. */
		cJSON *r = cfgstate_report(s->cs);
		s->last_report = r ? cJSON_PrintUnformatted(r) : NULL;
		cJSON_Delete(r);
	}
	*out = s;
	return 0;
}

void gw_cfgsync_free(struct gw_cfgsync *s)
{
	if (!s)
		return;
	cache_free(&s->kept[0]);
	cache_free(&s->kept[1]);
	cfgstate_close(s->cs);
	cJSON_free(s->last_report);
	free(s);
}

bool gw_cfgsync_own_enabled(const struct gw_cfgsync *s)
{
	return s && s->cs;
}

cJSON *gw_cfgsync_merged(struct gw_cfgsync *s)
{
	return s && s->cs ? cfgstate_merged(s->cs) : NULL;
}

cJSON *gw_cfgsync_report(struct gw_cfgsync *s)
{
	return s && s->cs ? cfgstate_report(s->cs) : NULL;
}

void gw_cfgsync_tick(struct gw_cfgsync *s)
{
	if (s && s->cs && cfgstate_tick(s->cs))
		announce(s);
}

void gw_cfgsync_stats_get(const struct gw_cfgsync *s, struct gw_cfgsync_stats *out)
{
	*out = s->st;
}
