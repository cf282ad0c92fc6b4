/*
 * device.c - identify -> context -> record -> screen, the counters, and the
 * kiosk's opening hours (closed outside screen.hours). The staff API is in
 * api.c.
 */
#include "device_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/err.h"
#include "common/log.h"
#include "common/codec.h"
#include "common/hlc.h"
#include "common/settings.h"

_Static_assert(VIEW_TEXT_MAX == RG_SETTINGS_TEXT_MAX, "view and settings texts differ in size");
_Static_assert(VIEW_LANGS == DEVCFG_LANGS, "view and devconfig languages differ");

int device_new(const struct devcfg *cfg, struct store *store, struct ident_pipeline *pipeline,
	       const struct rg_clock *clock, struct device **out)
{
	*out = NULL;
	if (!cfg || !store || !pipeline)
		return RG_ERR_INVAL;
	struct device *d = calloc(1, sizeof *d);
	if (!d)
		return RG_ERR_NOMEM;
	d->cfg = *cfg;
	d->store = store;
	d->pipe = pipeline;
	d->clock = clock ? clock : rg_clock_system();
	pthread_mutex_init(&d->mu, NULL);
	pthread_mutex_init(&d->edit_mu, NULL);
	rg_uuid7_gen_init(&d->ids, d->clock, NULL);
	d->channel = cfg->role == DEVCFG_ROLE_KIOSK ? "kiosk" : "handheld";
	d->hours_minute = -1;
	*out = d;
	return 0;
}

void device_free(struct device *d)
{
	if (!d)
		return;
	free(d->last_screen);
	free(d->config_json);
	pthread_mutex_destroy(&d->mu);
	pthread_mutex_destroy(&d->edit_mu);
	rg_wipe(d->scans, sizeof d->scans);
	free(d);
}

void device_set_web(struct device *d, struct web_server *web)
{
	pthread_mutex_lock(&d->mu);
	d->web = web;
	pthread_mutex_unlock(&d->mu);
}

void device_set_remote(struct device *d, const struct device_remote *remote)
{
	pthread_mutex_lock(&d->mu);
	if (remote) {
		d->remote = *remote;
		d->has_remote = true;
	} else {
		d->has_remote = false;
	}
	pthread_mutex_unlock(&d->mu);
}

/* Whether cfg's opening hours are open at wall time ms (local time). */
static bool hours_open(const struct devcfg *cfg, int64_t ms)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	if (cfg->role != DEVCFG_ROLE_KIOSK || !cfg->screen.hours.set)
		return true;
	if (!localtime_r(&t, &tm))
		return true; /* cannot tell: never lock customers out on a clock fault */
	return rg_settings_hours_open(&cfg->screen.hours, (tm.tm_wday + 6) % 7,
				      tm.tm_hour * 60 + tm.tm_min);
}

/* Show the rest screen (idle or closed) now. */
static void show_rest(struct device *d)
{
	cJSON *v = device__rest_screen(d);
	char *s = v ? cJSON_PrintUnformatted(v) : NULL;
	cJSON_Delete(v);
	if (s)
		device__broadcast(d, "screen", s);
	free(s);
}

/* Check the hours if the minute changed (or recheck); on a change, or with
 * reshow while resting, show the rest screen. Main loop thread. */
static bool check_hours(struct device *d, bool recheck, bool reshow)
{
	int64_t ms = rg_clock_wall_ms(d->clock), minute = ms / 60000;
	bool was, closed, resting;

	pthread_mutex_lock(&d->mu);
	if (!recheck && minute == d->hours_minute) {
		closed = d->closed;
		pthread_mutex_unlock(&d->mu);
		return closed;
	}
	d->hours_minute = minute;
	was = d->closed;
	closed = d->closed = !hours_open(&d->cfg, ms);
	resting = d->last_state == VIEW_IDLE || d->last_state == VIEW_CLOSED;
	pthread_mutex_unlock(&d->mu);
	if (was != closed)
		rg_info("device", closed ? "closed" : "opened", "reason=screen.hours");
	if (was != closed || (reshow && resting))
		show_rest(d);
	return closed;
}

bool device_tick(struct device *d)
{
	return check_hours(d, false, false);
}

void device_reload(struct device *d, const struct devcfg *cfg, struct ident_pipeline *pipeline)
{
	struct ident_pipeline *old = NULL;
	pthread_mutex_lock(&d->mu);
	bool limits = d->cfg.cache.max_profiles != cfg->cache.max_profiles ||
		      d->cfg.cache.max_bytes != cfg->cache.max_bytes;
	d->cfg = *cfg;
	if (pipeline) {
		old = d->pipe;
		d->pipe = pipeline;
	}
	pthread_mutex_unlock(&d->mu);
	ident_pipeline_free(old);
	/* A lowered limit evicts now (the store's own transaction and lock). */
	if (limits) {
		int rc = store_set_limits(d->store, cfg->cache.max_profiles, cfg->cache.max_bytes);
		if (rc < 0)
			rg_error("device", "cache_limits_failed", "max_profiles=%lld max_bytes=%lld "
				 "error=%s", (long long)cfg->cache.max_profiles,
				 (long long)cfg->cache.max_bytes, rg_errname(rc));
	}
	check_hours(d, true, true);
}

void device_set_config_json(struct device *d, const char *json)
{
	char *copy = json ? strdup(json) : NULL;
	pthread_mutex_lock(&d->mu);
	free(d->config_json);
	d->config_json = copy;
	pthread_mutex_unlock(&d->mu);
}

cJSON *device__rest_screen(struct device *d)
{
	struct view_opts vo;
	pthread_mutex_lock(&d->mu);
	device__view_opts(d, &vo);
	bool closed = d->closed;
	pthread_mutex_unlock(&d->mu);
	return view_kiosk_state(closed ? VIEW_CLOSED : VIEW_IDLE, &vo, NULL, NULL);
}

struct ident_pipeline *device_pipeline(struct device *d)
{
	pthread_mutex_lock(&d->mu);
	struct ident_pipeline *p = d->pipe;
	d->pipe = NULL;
	pthread_mutex_unlock(&d->mu);
	return p;
}

void device_idle(struct device *d)
{
	int rc = store_flush(d->store);
	if (rc < 0)
		rg_warn("device", "flush_failed", "error=%s", rg_errname(rc));
}

void device_counters_get(struct device *d, struct device_counters *out)
{
	pthread_mutex_lock(&d->mu);
	*out = d->n;
	pthread_mutex_unlock(&d->mu);
}

void device_outcome_clear(struct device_outcome *o)
{
	cJSON_Delete(o->screen);
	rg_wipe(o, sizeof *o);
}

void device__view_opts(struct device *d, struct view_opts *o)
{
	memset(o, 0, sizeof *o);
	o->public_items_max = d->cfg.screen.public_items_max;
	o->idle_after_ms = d->cfg.screen.idle_after_ms;
	snprintf(o->default_language, sizeof o->default_language, "%s",
		 d->cfg.screen.default_language);
	o->privacy = d->cfg.screen.privacy == DEVCFG_PRIVACY_ANONYMOUS	  ? VIEW_PRIVACY_ANONYMOUS
		     : d->cfg.screen.privacy == DEVCFG_PRIVACY_FIRST_NAME ? VIEW_PRIVACY_FIRST_NAME
									  : VIEW_PRIVACY_FULL;
	for (int i = 0; i < VIEW_LANGS; i++) {
		const struct devcfg_texts *t = &d->cfg.screen.text[i];
		memcpy(o->text[i].greeting, t->greeting, sizeof t->greeting);
		memcpy(o->text[i].welcome, t->welcome, sizeof t->welcome);
		memcpy(o->text[i].unknown, t->unknown, sizeof t->unknown);
		memcpy(o->text[i].closed, t->closed, sizeof t->closed);
	}
}

void device__iso_time(struct device *d, char out[32])
{
	int64_t ms = rg_clock_wall_ms(d->clock);
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* Ask upstream for a token the cache does not know; on success cache the
 * profile under the token. Returns 1 if now cached. Called without d->mu. */
static int remote_fill(struct device *d, const struct device_remote *r, int timeout_ms,
		       const struct ident_result *id)
{
	char *buf = malloc(STORE_BODY_MAX + 4096);
	int rc, ret = 0;
	if (!buf)
		return RG_ERR_NOMEM;
	rc = r->lookup(r->ctx, id->token, timeout_ms, buf, STORE_BODY_MAX + 4096);
	if (rc == 1) {
		cJSON *j = cJSON_Parse(buf);
		const cJSON *pid = cJSON_GetObjectItemCaseSensitive(j, "id");
		const cJSON *ver = cJSON_GetObjectItemCaseSensitive(j, "version");
		const cJSON *hlc = cJSON_GetObjectItemCaseSensitive(j, "hlc");
		const cJSON *body = cJSON_GetObjectItemCaseSensitive(j, "body");
		struct rg_hlc h;
		char *text = cJSON_IsObject(body) ? cJSON_PrintUnformatted(body) : NULL;
		if (cJSON_IsString(pid) && cJSON_IsNumber(ver) && ver->valuedouble >= 0 &&
		    cJSON_IsString(hlc) && rg_hlc_parse(hlc->valuestring, &h) == 0 && text) {
			struct store_ident si = {.token = id->token, .type = ident_type_name(id->type)};
			struct store_profile p = {.id = pid->valuestring,
						  .version = (int64_t)ver->valuedouble,
						  .hlc = rg_hlc_pack(&h),
						  .body = text,
						  .body_len = strlen(text),
						  .idents = &si,
						  .n_idents = 1};
			rc = store_profile_upsert(d->store, &p);
			if (rc < 0)
				rg_warn("device", "remote_cache_failed", "error=%s", rg_errname(rc));
			else
				ret = 1;
		} else {
			rg_warn("device", "remote_answer_invalid", "reason=shape");
		}
		if (text) {
			rg_wipe(text, strlen(text));
			free(text);
		}
		cJSON_Delete(j);
	} else if (rc < 0) {
		rg_debug("device", "remote_lookup", "result=%s", rg_errname(rc));
	}
	rg_wipe(buf, STORE_BODY_MAX + 4096);
	free(buf);
	return ret;
}

int device__identify_buf(struct device *d, enum ident_source src, const void *data, size_t len,
			 struct device_outcome *o, char *buf, size_t cap)
{
	struct view_opts vo;
	struct store_hit hit;
	struct device_remote remote;
	bool has_remote;
	int lookup_ms;
	int rc;

	memset(o, 0, sizeof *o);
	pthread_mutex_lock(&d->mu);
	rc = d->pipe ? ident_classify(d->pipe, src, data, len, &o->ident) : RG_ERR_STATE;
	device__view_opts(d, &vo);
	remote = d->remote;
	has_remote = d->has_remote && d->remote.lookup;
	lookup_ms = d->cfg.has_uplink ? d->cfg.uplink.lookup_timeout_ms : 0;
	pthread_mutex_unlock(&d->mu);
	if (rc < 0)
		return rc;

	if (o->ident.reason != IDENT_OK) {
		o->state = VIEW_REFUSED;
		o->screen = view_kiosk_state(VIEW_REFUSED, &vo, ident_reason_name(o->ident.reason),
					     NULL);
		return o->screen ? 0 : RG_ERR_NOMEM;
	}

	rc = store_identify(d->store, o->ident.token, buf, cap, &hit);
	if (rc == 0 && hit.profile_id[0] == '\0' && has_remote && lookup_ms > 0 &&
	    remote_fill(d, &remote, lookup_ms, &o->ident) == 1) {
		o->remote = true;
		rc = store_identify(d->store, o->ident.token, buf, cap, &hit);
	}
	if (rc < 0) {
		rg_wipe(buf, cap);
		return rc;
	}
	if (rc == 1) {
		o->state = VIEW_GREETING;
		snprintf(o->profile_id, sizeof o->profile_id, "%s", hit.profile_id);
		o->screen = view_kiosk(buf, hit.body_len, &vo, NULL, &rc);
		rg_wipe(buf, hit.body_len + 1);
		return o->screen ? 0 : rc;
	}
	/* Unknown here (or known by id but its body is not cached: the
	 * interaction is still recorded under the profile id). */
	o->state = VIEW_UNKNOWN;
	snprintf(o->profile_id, sizeof o->profile_id, "%s", hit.profile_id);
	o->screen = view_kiosk_state(VIEW_UNKNOWN, &vo, NULL, NULL);
	return o->screen ? 0 : RG_ERR_NOMEM;
}

int device_identify(struct device *d, enum ident_source src, const void *data, size_t len,
		    struct device_outcome *o)
{
	/* The main loop's buffer: reads are handled on one thread. */
	return device__identify_buf(d, src, data, len, o, d->body_buf, sizeof d->body_buf);
}

/* Append to the outbox (durable), then poke the uplink. */
int device__record(struct device *d, enum rg_kind kind, const char *profile_id,
		   const uint8_t *token, cJSON *body, struct store_outbox_ref *ref)
{
	char *text = cJSON_PrintUnformatted(body);
	if (!text)
		return RG_ERR_NOMEM;
	struct store_event ev = {.kind = kind,
				 .profile_id = profile_id && profile_id[0] ? profile_id : NULL,
				 .token = token,
				 .body = text,
				 .body_len = strlen(text)};
	int rc = store_outbox_append(d->store, &ev, ref);
	rg_wipe(text, ev.body_len);
	free(text);
	pthread_mutex_lock(&d->mu);
	if (rc < 0)
		d->n.record_failures++;
	else
		d->n.recorded++;
	struct device_remote r = d->remote;
	bool has = d->has_remote && r.notify;
	pthread_mutex_unlock(&d->mu);
	if (rc == 0 && has)
		r.notify(r.ctx);
	return rc;
}

static enum view_state state_of(const char *screen)
{
	static const enum view_state all[] = {VIEW_IDLE, VIEW_GREETING, VIEW_UNKNOWN, VIEW_REFUSED,
					      VIEW_CLOSED};
	char want[48];
	for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
		snprintf(want, sizeof want, "{\"state\":\"%s\"", view_state_name(all[i]));
		if (!strncmp(screen, want, strlen(want)))
			return all[i];
	}
	return VIEW_GREETING;
}

void device__broadcast(struct device *d, const char *event, const char *json)
{
	pthread_mutex_lock(&d->mu);
	struct web_server *web = d->web;
	if (!strcmp(event, "screen")) {
		char *copy = strdup(json);
		if (copy) {
			free(d->last_screen);
			d->last_screen = copy;
			d->last_state = state_of(json);
		}
	}
	pthread_mutex_unlock(&d->mu);
	if (web)
		web_broadcast(web, event, json);
}

static int remember_scan(struct device *d, const struct device_outcome *o)
{
	pthread_mutex_lock(&d->mu);
	int no = ++d->scan_seq;
	struct device_scan *s = &d->scans[no % DEVICE_SCANS];
	s->no = no;
	s->at_ms = rg_clock_mono_ns(d->clock) / 1000000;
	s->unknown = o->state == VIEW_UNKNOWN && o->profile_id[0] == '\0';
	s->type = o->ident.type;
	memcpy(s->token, o->ident.token, RG_TOKEN_LEN);
	pthread_mutex_unlock(&d->mu);
	return no;
}

char *device_screen_copy(struct device *d)
{
	pthread_mutex_lock(&d->mu);
	char *s = d->last_screen ? strdup(d->last_screen) : NULL;
	pthread_mutex_unlock(&d->mu);
	return s;
}

int device_handle_read(struct device *d, enum ident_source src, const void *data, size_t len,
		       enum view_state *state)
{
	struct device_outcome o;
	struct store_outbox_ref ref;
	char id[RG_UUID_STR_LEN + 1] = "";
	int64_t t0 = rg_clock_mono_ns(d->clock);

	/* Outside the opening hours a kiosk sleeps: the read is not looked at. */
	if (check_hours(d, true, false)) {
		pthread_mutex_lock(&d->mu);
		d->n.reads_closed++;
		pthread_mutex_unlock(&d->mu);
		if (state)
			*state = VIEW_CLOSED;
		rg_info("device", "read_ignored", "source=%s reason=closed", ident_source_name(src));
		return 0;
	}
	int rc = device_identify(d, src, data, len, &o);
	int64_t us = (rg_clock_mono_ns(d->clock) - t0) / 1000;

	pthread_mutex_lock(&d->mu);
	d->n.reads++;
	d->n.identify_us_sum += us;
	if (us > d->n.identify_us_max)
		d->n.identify_us_max = us;
	if (rc < 0)
		d->n.errors++;
	else if (o.state == VIEW_REFUSED)
		d->n.refused++;
	else if (o.state == VIEW_GREETING)
		d->n.greeted++;
	else
		d->n.unknown++;
	if (rc == 0 && o.remote)
		d->n.remote_hits++;
	pthread_mutex_unlock(&d->mu);

	if (state)
		*state = rc < 0 ? VIEW_IDLE : o.state;
	if (rc < 0) {
		rg_error("device", "identify_failed", "source=%s error=%s", ident_source_name(src),
			 rg_errname(rc));
		device_outcome_clear(&o);
		return rc;
	}

	if (o.state != VIEW_REFUSED) {
		cJSON *body = cJSON_CreateObject();
		cJSON_AddStringToObject(body, "channel", d->channel);
		cJSON_AddStringToObject(body, "type", ident_type_name(o.ident.type));
		cJSON_AddStringToObject(body, "source", ident_source_name(src));
		rc = device__record(d, o.state == VIEW_GREETING ? RG_KIND_IDENTIFIED
								 : RG_KIND_UNKNOWN_IDENTIFIER,
				    o.profile_id, o.ident.token, body, &ref);
		cJSON_Delete(body);
		if (rc < 0) {
			/* Nothing durable: the screen must not confirm. */
			rg_error("device", "record_failed", "kind=%s error=%s",
				 o.state == VIEW_GREETING ? "identified" : "unknown_identifier",
				 rg_errname(rc));
			device_outcome_clear(&o);
			return rc;
		}
		rg_uuid_format(&ref.id, id);
		cJSON_AddStringToObject(o.screen, "interaction", id);
	}

	char *screen = cJSON_PrintUnformatted(o.screen);
	int scan = remember_scan(d, &o);
	cJSON *ev = cJSON_CreateObject();
	cJSON_AddNumberToObject(ev, "scan", scan);
	cJSON_AddStringToObject(ev, "state", view_state_name(o.state));
	if (o.state == VIEW_GREETING)
		cJSON_AddStringToObject(ev, "profile", o.profile_id);
	if (o.state == VIEW_REFUSED)
		cJSON_AddStringToObject(ev, "reason", ident_reason_name(o.ident.reason));
	if (id[0])
		cJSON_AddStringToObject(ev, "interaction", id);
	char *scan_json = cJSON_PrintUnformatted(ev);
	cJSON_Delete(ev);
	if (screen)
		device__broadcast(d, "screen", screen);
	if (scan_json)
		device__broadcast(d, "scan", scan_json);
	if (screen)
		rg_wipe(screen, strlen(screen));
	free(screen);
	free(scan_json);

	/* One line per read; no personal data (the profile id is a pseudonym). */
	rg_info("device", "read", "source=%s type=%s result=%s%s%s interaction=%s us=%lld",
		ident_source_name(src), ident_type_name(o.ident.type), view_state_name(o.state),
		o.state == VIEW_REFUSED ? " reason=" : "",
		o.state == VIEW_REFUSED ? ident_reason_name(o.ident.reason) : "", id[0] ? id : "-",
		(long long)us);
	device_outcome_clear(&o);
	return 0;
}
