/*
 * web.c - the device's HTTP server on libmicrohttpd: one thread per
 * connection (so a Server-Sent Events stream can block waiting for the next
 * event), loopback only by default. Serves the UI files, /healthz, /metrics,
 * the SSE stream and the staff session; hands the rest of /api/v1/ to the
 * daemon through struct web_ops.
 */
#include "web.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cJSON.h>
#include <microhttpd.h>

#include "common/err.h"
#include "common/log.h"
#include "web_internal.h"

#define SSE_RING 64
#define SSE_KEEPALIVE_MS 15000
#define ASSET_PATH_MAX 128
#define CONN_LIMIT 64

struct sse_event {
	uint64_t seq;
	char *text; /* the whole "id: ..\nevent: ..\ndata: ..\n\n" block */
	size_t len;
};

struct web_server {
	struct MHD_Daemon *mhd;
	const struct web_ops *ops;
	void *ctx;
	char *assets_dir, *index_page, *pin_hash;
	uint16_t port;

	pthread_mutex_t lock; /* everything below */
	pthread_cond_t cond;
	bool stopping;
	struct web_sessions sessions;
	struct sse_event ring[SSE_RING];
	uint64_t seq; /* of the newest event, 0 = none yet */
	unsigned sse_clients;
	uint64_t requests, logins_ok, logins_failed;
};

struct sse_client {
	struct web_server *s;
	uint64_t next_seq;
	bool greeted;
	char *buf; /* the block being sent */
	size_t len, off;
};

struct req_state {
	char *body;
	size_t len;
	bool too_big;
};

/* ---- responses ---- */

static enum MHD_Result send_buf(struct MHD_Connection *c, int status, const char *type, char *body,
				size_t len, const char *cookie)
{
	struct MHD_Response *r =
		MHD_create_response_from_buffer(len, body, body ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
	enum MHD_Result ret;
	if (!r) {
		free(body);
		return MHD_NO;
	}
	MHD_add_response_header(r, "Content-Type", type ? type : "application/json; charset=utf-8");
	MHD_add_response_header(r, "Cache-Control", "no-store");
	MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(r, "Content-Security-Policy", "default-src 'self'; img-src 'self' data:");
	if (cookie)
		MHD_add_response_header(r, "Set-Cookie", cookie);
	ret = MHD_queue_response(c, (unsigned)status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result send_json(struct MHD_Connection *c, int status, const char *json,
				 const char *cookie)
{
	char *copy = strdup(json);
	if (!copy)
		return MHD_NO;
	return send_buf(c, status, NULL, copy, strlen(copy), cookie);
}

static enum MHD_Result send_error(struct MHD_Connection *c, int status, const char *code,
				  const char *message)
{
	char buf[512], q[256];
	/* message is ours (static text), but keep the JSON valid regardless. */
	size_t o = 0;
	for (const char *p = message; *p && o + 2 < sizeof q; p++) {
		if (*p == '"' || *p == '\\')
			q[o++] = '\\';
		q[o++] = (char)((unsigned char)*p < 0x20 ? ' ' : *p);
	}
	q[o] = '\0';
	snprintf(buf, sizeof buf, "{\"error\":\"%s\",\"message\":\"%s\"}", code, q);
	return send_json(c, status, buf, NULL);
}

/* ---- static assets ---- */

static const char *mime_of(const char *path)
{
	const char *dot = strrchr(path, '.');
	if (!dot)
		return "application/octet-stream";
	if (!strcmp(dot, ".html"))
		return "text/html; charset=utf-8";
	if (!strcmp(dot, ".css"))
		return "text/css; charset=utf-8";
	if (!strcmp(dot, ".js"))
		return "text/javascript; charset=utf-8";
	if (!strcmp(dot, ".svg"))
		return "image/svg+xml";
	if (!strcmp(dot, ".png"))
		return "image/png";
	if (!strcmp(dot, ".json"))
		return "application/json";
	return "application/octet-stream";
}

static bool asset_path_ok(const char *p)
{
	size_t n = strlen(p);
	if (!n || n > ASSET_PATH_MAX || p[0] == '.' || strstr(p, ".."))
		return false;
	for (; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
		      *p == '.' || *p == '-' || *p == '_' || *p == '/'))
			return false;
	return true;
}

static enum MHD_Result serve_asset(struct web_server *s, struct MHD_Connection *c, const char *rel)
{
	char path[512];
	struct stat st;
	struct MHD_Response *r;
	enum MHD_Result ret;
	int fd;

	if (!asset_path_ok(rel))
		return send_error(c, 404, "not_found", "no such page");
	snprintf(path, sizeof path, "%s/%s", s->assets_dir, rel);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return send_error(c, 404, "not_found", "no such page");
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return send_error(c, 404, "not_found", "no such page");
	}
	r = MHD_create_response_from_fd((uint64_t)st.st_size, fd); /* owns fd */
	if (!r) {
		close(fd);
		return MHD_NO;
	}
	MHD_add_response_header(r, "Content-Type", mime_of(rel));
	MHD_add_response_header(r, "Cache-Control", "no-cache");
	MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(r, "Content-Security-Policy", "default-src 'self'; img-src 'self' data:");
	ret = MHD_queue_response(c, MHD_HTTP_OK, r);
	MHD_destroy_response(r);
	return ret;
}

/* ---- Server-Sent Events ---- */

static void sse_take_next(struct sse_client *cl)
{
	struct web_server *s = cl->s;
	/* Fell behind the ring: skip to the oldest event still held. */
	if (s->seq >= SSE_RING && cl->next_seq <= s->seq - SSE_RING)
		cl->next_seq = s->seq - SSE_RING + 1;
	struct sse_event *e = &s->ring[cl->next_seq % SSE_RING];
	free(cl->buf);
	cl->buf = malloc(e->len);
	cl->len = cl->buf ? e->len : 0;
	cl->off = 0;
	if (cl->buf)
		memcpy(cl->buf, e->text, e->len);
	cl->next_seq++;
}

static ssize_t sse_read(void *cls, uint64_t pos, char *out, size_t max)
{
	struct sse_client *cl = cls;
	struct web_server *s = cl->s;
	(void)pos;

	pthread_mutex_lock(&s->lock);
	while (cl->off >= cl->len) {
		if (s->stopping) {
			pthread_mutex_unlock(&s->lock);
			return MHD_CONTENT_READER_END_OF_STREAM;
		}
		if (!cl->greeted) {
			static const char hello[] = "retry: 1000\n\n";
			cl->greeted = true;
			free(cl->buf);
			cl->buf = strdup(hello);
			cl->len = cl->buf ? sizeof hello - 1 : 0;
			cl->off = 0;
			/* Replay the newest event so a new screen shows the current state. */
			cl->next_seq = s->seq ? s->seq : 1;
			break;
		}
		if (cl->next_seq <= s->seq) {
			sse_take_next(cl);
			break;
		}
		struct timespec until;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += SSE_KEEPALIVE_MS / 1000;
		if (pthread_cond_timedwait(&s->cond, &s->lock, &until) == ETIMEDOUT &&
		    cl->next_seq > s->seq) {
			static const char ka[] = ": keepalive\n\n";
			free(cl->buf);
			cl->buf = strdup(ka);
			cl->len = cl->buf ? sizeof ka - 1 : 0;
			cl->off = 0;
			break;
		}
	}
	pthread_mutex_unlock(&s->lock);
	if (!cl->buf)
		return MHD_CONTENT_READER_END_WITH_ERROR;
	size_t n = cl->len - cl->off < max ? cl->len - cl->off : max;
	memcpy(out, cl->buf + cl->off, n);
	cl->off += n;
	return (ssize_t)n;
}

static void sse_free(void *cls)
{
	struct sse_client *cl = cls;
	pthread_mutex_lock(&cl->s->lock);
	cl->s->sse_clients--;
	pthread_mutex_unlock(&cl->s->lock);
	free(cl->buf);
	free(cl);
}

static enum MHD_Result serve_sse(struct web_server *s, struct MHD_Connection *c)
{
	struct sse_client *cl = calloc(1, sizeof *cl);
	struct MHD_Response *r;
	enum MHD_Result ret;
	if (!cl)
		return MHD_NO;
	cl->s = s;
	r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, sse_read, cl, sse_free);
	if (!r) {
		free(cl);
		return MHD_NO;
	}
	pthread_mutex_lock(&s->lock);
	s->sse_clients++;
	pthread_mutex_unlock(&s->lock);
	MHD_add_response_header(r, "Content-Type", "text/event-stream");
	MHD_add_response_header(r, "Cache-Control", "no-store");
	ret = MHD_queue_response(c, MHD_HTTP_OK, r);
	MHD_destroy_response(r);
	return ret;
}

void web_broadcast(struct web_server *s, const char *event, const char *data)
{
	size_t cap;
	char *text;
	int n;

	if (!s || !event || !data || strlen(data) > WEB_EVENT_MAX || strchr(data, '\n'))
		return;
	cap = strlen(event) + strlen(data) + 64;
	if (!(text = malloc(cap)))
		return;
	pthread_mutex_lock(&s->lock);
	n = snprintf(text, cap, "id: %llu\nevent: %s\ndata: %s\n\n", (unsigned long long)(s->seq + 1),
		     event, data);
	if (n > 0 && (size_t)n < cap) {
		struct sse_event *e = &s->ring[(s->seq + 1) % SSE_RING];
		free(e->text);
		e->text = text;
		e->len = (size_t)n;
		e->seq = ++s->seq;
		text = NULL;
		pthread_cond_broadcast(&s->cond);
	}
	pthread_mutex_unlock(&s->lock);
	free(text);
}

/* ---- session endpoints ---- */

static enum MHD_Result handle_session(struct web_server *s, struct MHD_Connection *c,
				      const char *method, const struct req_state *rs,
				      const char *cookie_id)
{
	char id[WEB_SESSION_ID_LEN + 1], cookie[160];
	int rc;

	if (!strcmp(method, "GET")) {
		pthread_mutex_lock(&s->lock);
		bool ok = web__session_check(&s->sessions, cookie_id) != NULL;
		pthread_mutex_unlock(&s->lock);
		return send_json(c, 200, ok ? "{\"staff\":true}" : "{\"staff\":false}", NULL);
	}
	if (!strcmp(method, "DELETE")) {
		pthread_mutex_lock(&s->lock);
		web__session_logout(&s->sessions, cookie_id);
		pthread_mutex_unlock(&s->lock);
		return send_json(c, 200, "{\"staff\":false}",
				 "rg_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0");
	}
	if (strcmp(method, "POST"))
		return send_error(c, 405, "method_not_allowed", "use GET, POST or DELETE");

	/* Body: {"pin":"1234"}. */
	cJSON *j = cJSON_ParseWithLength(rs->body ? rs->body : "", rs->len);
	const cJSON *pin = cJSON_GetObjectItemCaseSensitive(j, "pin");
	if (!cJSON_IsString(pin)) {
		cJSON_Delete(j);
		return send_error(c, 400, "bad_request", "expected {\"pin\": \"...\"}");
	}
	/* The PIN check (PBKDF2, ~0.1 s) runs without the lock, so screens keep
	 * streaming while someone logs in. */
	char *hash = NULL;
	pthread_mutex_lock(&s->lock);
	rc = web__login_begin(&s->sessions, s->pin_hash);
	if (rc == 0 && !(hash = strdup(s->pin_hash)))
		rc = RG_ERR_NOMEM;
	pthread_mutex_unlock(&s->lock);
	if (rc == 0) {
		int verified = web_pin_verify(pin->valuestring, hash);
		free(hash);
		pthread_mutex_lock(&s->lock);
		rc = web__login_finish(&s->sessions, verified, id);
		if (rc == 0)
			s->logins_ok++;
		else if (rc == RG_ERR_VERIFY)
			s->logins_failed++;
		pthread_mutex_unlock(&s->lock);
	}
	cJSON_Delete(j);
	if (rc == RG_ERR_AGAIN) {
		rg_warn("web", "login_locked", "reason=too_many_failures");
		return send_error(c, 429, "locked", "too many wrong PINs; wait 30 seconds");
	}
	if (rc == RG_ERR_STATE)
		return send_error(c, 503, "no_pin", "staff login is not configured on this device");
	if (rc < 0) {
		rg_warn("web", "login_failed", "reason=%s", rc == RG_ERR_VERIFY ? "wrong_pin" : rg_errname(rc));
		return send_error(c, 401, "wrong_pin", "wrong PIN");
	}
	rg_info("web", "login", "session=%.8s", id);
	snprintf(cookie, sizeof cookie, "rg_session=%s; Path=/; HttpOnly; SameSite=Strict", id);
	return send_json(c, 200, "{\"staff\":true}", cookie);
}

/* ---- dispatch ---- */

static enum MHD_Result serve_metrics(struct web_server *s, struct MHD_Connection *c)
{
	char *app = NULL, *out;
	size_t app_len = 0, cap;
	int n;
	if (s->ops->metrics)
		s->ops->metrics(s->ctx, &app, &app_len);
	cap = app_len + 1024;
	if (!(out = malloc(cap))) {
		free(app);
		return MHD_NO;
	}
	pthread_mutex_lock(&s->lock);
	n = snprintf(out, cap,
		     "%.*s"
		     "# HELP regulars_http_requests_total HTTP requests served.\n"
		     "# TYPE regulars_http_requests_total counter\n"
		     "regulars_http_requests_total %llu\n"
		     "# HELP regulars_sse_clients Screens connected to the live event stream.\n"
		     "# TYPE regulars_sse_clients gauge\n"
		     "regulars_sse_clients %u\n"
		     "# HELP regulars_staff_logins_total Staff logins by result.\n"
		     "# TYPE regulars_staff_logins_total counter\n"
		     "regulars_staff_logins_total{result=\"ok\"} %llu\n"
		     "regulars_staff_logins_total{result=\"wrong_pin\"} %llu\n",
		     (int)app_len, app ? app : "", (unsigned long long)s->requests, s->sse_clients,
		     (unsigned long long)s->logins_ok, (unsigned long long)s->logins_failed);
	pthread_mutex_unlock(&s->lock);
	free(app);
	if (n < 0 || (size_t)n >= cap) {
		free(out);
		return send_error(c, 500, "internal", "metrics too large");
	}
	return send_buf(c, 200, "text/plain; version=0.0.4; charset=utf-8", out, (size_t)n, NULL);
}

static enum MHD_Result dispatch(struct web_server *s, struct MHD_Connection *c, const char *url,
				const char *method, struct req_state *rs)
{
	const char *cookie = MHD_lookup_connection_value(c, MHD_COOKIE_KIND, "rg_session");
	bool is_get = !strcmp(method, "GET") || !strcmp(method, "HEAD");

	pthread_mutex_lock(&s->lock);
	s->requests++;
	pthread_mutex_unlock(&s->lock);

	if (rs->too_big)
		return send_error(c, 413, "too_large", "request body too large");
	/* The short name tests and staff type: the same as /api/v1/config. */
	if (!strcmp(url, "/api/config"))
		url = "/api/v1/config";
	if (!strcmp(url, "/healthz") && is_get) {
		char *body = NULL;
		size_t len = 0;
		bool ok = s->ops->health ? s->ops->health(s->ctx, &body, &len) : true;
		if (!body)
			return send_json(c, ok ? 200 : 503, ok ? "{\"ok\":true}" : "{\"ok\":false}", NULL);
		return send_buf(c, ok ? 200 : 503, NULL, body, len, NULL);
	}
	if (!strcmp(url, "/metrics") && is_get)
		return serve_metrics(s, c);
	if (!strncmp(url, "/api/v1/", 8)) {
		const char *path = url + 7; /* keeps the leading '/' */
		if (!is_get && strcmp(method, "DELETE")) {
			/* Only JSON bodies: a cross-site form cannot send this type
			 * without a CORS preflight, which we never grant. */
			const char *ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type");
			if (!ct || strncmp(ct, "application/json", 16))
				return send_error(c, 415, "unsupported_media_type",
						  "send JSON with Content-Type: application/json");
		}
		if (!strcmp(path, "/events") && is_get)
			return serve_sse(s, c);
		if (!strcmp(path, "/session"))
			return handle_session(s, c, method, rs, cookie);

		struct web_request req = {.method = method, .path = path,
					  .body = rs->body ? rs->body : "", .body_len = rs->len,
					  .conn = c};
		pthread_mutex_lock(&s->lock);
		const struct web_session *ss = web__session_check(&s->sessions, cookie);
		req.staff = ss != NULL;
		pthread_mutex_unlock(&s->lock);
		req.staff_session = req.staff ? cookie : NULL;
		struct web_response res = {.status = 404};
		if (s->ops->api)
			s->ops->api(s->ctx, &req, &res);
		if (!res.body)
			return send_error(c, res.status >= 400 ? res.status : 500,
					  res.status == 404 ? "not_found" : "error",
					  res.status == 404 ? "no such API endpoint" : "request failed");
		return send_buf(c, res.status, res.content_type, res.body, res.len, NULL);
	}
	if (!is_get)
		return send_error(c, 405, "method_not_allowed", "static pages are read-only");
	if (!strcmp(url, "/"))
		return serve_asset(s, c, s->index_page);
	return serve_asset(s, c, url + 1);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
				  const char *method, const char *version, const char *upload,
				  size_t *upload_size, void **con_cls)
{
	struct web_server *s = cls;
	struct req_state *rs = *con_cls;
	(void)version;

	if (!rs) {
		if (!(rs = calloc(1, sizeof *rs)))
			return MHD_NO;
		*con_cls = rs;
		return MHD_YES;
	}
	if (*upload_size) {
		if (!rs->too_big && rs->len + *upload_size <= WEB_BODY_MAX) {
			char *nb = realloc(rs->body, rs->len + *upload_size + 1);
			if (!nb)
				return MHD_NO;
			memcpy(nb + rs->len, upload, *upload_size);
			rs->body = nb;
			rs->len += *upload_size;
			rs->body[rs->len] = '\0';
		} else {
			rs->too_big = true;
		}
		*upload_size = 0;
		return MHD_YES;
	}
	return dispatch(s, c, url, method, rs);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct req_state *rs = *con_cls;
	(void)cls;
	(void)c;
	(void)toe;
	if (rs) {
		free(rs->body);
		free(rs);
		*con_cls = NULL;
	}
}

static void mhd_log(void *cls, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	char msg[256], q[300];
	(void)cls;
	vsnprintf(msg, sizeof msg, fmt, ap);
	rg_warn("web", "httpd", "message=%s", rg_log_quote(q, sizeof q, msg));
}

int web_start(const struct web_config *cfg, const struct web_ops *ops, void *ctx,
	      struct web_server **out)
{
	struct web_server *s;
	struct sockaddr_in sa = {.sin_family = AF_INET};
	const union MHD_DaemonInfo *info;

	*out = NULL;
	if (!cfg || !ops || !cfg->assets_dir)
		return RG_ERR_INVAL;
	if (inet_pton(AF_INET, cfg->bind_addr ? cfg->bind_addr : "127.0.0.1", &sa.sin_addr) != 1)
		return RG_ERR_CONFIG;
	sa.sin_port = htons(cfg->port);
	if (!(s = calloc(1, sizeof *s)))
		return RG_ERR_NOMEM;
	s->ops = ops;
	s->ctx = ctx;
	s->assets_dir = strdup(cfg->assets_dir);
	s->index_page = strdup(cfg->index_page ? cfg->index_page : "index.html");
	s->pin_hash = cfg->pin_hash ? strdup(cfg->pin_hash) : NULL;
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->cond, NULL);
	web__sessions_init(&s->sessions, cfg->clock ? cfg->clock : rg_clock_system(),
			   cfg->session_idle_s, cfg->session_max_s);
	if (!s->assets_dir || !s->index_page || (cfg->pin_hash && !s->pin_hash)) {
		web_stop(s);
		return RG_ERR_NOMEM;
	}
	s->mhd = MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
					  MHD_USE_ERROR_LOG | MHD_USE_ITC,
				  0, NULL, NULL, on_request, s,
				  /* the logger first, so no message goes to stderr raw */
				  MHD_OPTION_EXTERNAL_LOGGER, mhd_log, s, MHD_OPTION_SOCK_ADDR,
				  (struct sockaddr *)&sa, MHD_OPTION_CONNECTION_LIMIT, (unsigned)CONN_LIMIT,
				  MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)60,
				  MHD_OPTION_NOTIFY_COMPLETED, on_completed, s, MHD_OPTION_END);
	if (!s->mhd) {
		rg_error("web", "listen_failed", "addr=%s port=%u",
			 cfg->bind_addr ? cfg->bind_addr : "127.0.0.1", cfg->port);
		web_stop(s);
		return RG_ERR_IO;
	}
	info = MHD_get_daemon_info(s->mhd, MHD_DAEMON_INFO_BIND_PORT);
	s->port = info ? info->port : cfg->port;
	rg_info("web", "listening", "url=http://%s:%u/", cfg->bind_addr ? cfg->bind_addr : "127.0.0.1",
		s->port);
	*out = s;
	return 0;
}

int web_set_pin_hash(struct web_server *s, const char *pin_hash)
{
	char *copy = NULL;
	if (pin_hash && !(copy = strdup(pin_hash)))
		return RG_ERR_NOMEM;
	pthread_mutex_lock(&s->lock);
	free(s->pin_hash);
	s->pin_hash = copy;
	pthread_mutex_unlock(&s->lock);
	return 0;
}

uint16_t web_port(const struct web_server *s)
{
	return s->port;
}

void web_stop(struct web_server *s)
{
	if (!s)
		return;
	pthread_mutex_lock(&s->lock);
	s->stopping = true;
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
	if (s->mhd)
		MHD_stop_daemon(s->mhd);
	for (size_t i = 0; i < SSE_RING; i++)
		free(s->ring[i].text);
	pthread_cond_destroy(&s->cond);
	pthread_mutex_destroy(&s->lock);
	free(s->assets_dir);
	free(s->index_page);
	free(s->pin_hash);
	free(s);
}

const char *web_request_arg(const struct web_request *req, const char *name)
{
	return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, name);
}
