/*
 * test_web.c - the device web server over real loopback HTTP: static files
 * without path traversal, staff login with PIN hash, lockout after wrong
 * PINs, session expiry on a manual clock, SSE delivery of broadcasts, API
 * dispatch with the staff flag, and request-size and content-type guards.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "common/err.h"
#include "common/log.h"
#include "web.h"

static char dir[64];
static struct rg_clock_manual clk;
static struct web_server *srv;
static char pin_hash[WEB_PIN_HASH_MAX];
static int api_calls;
static bool api_last_staff;
static int sse_fd = -1; /* left open across teardown: web_stop must not hang */

static void fake_api(void *ctx, const struct web_request *req, struct web_response *res)
{
	char buf[256];
	(void)ctx;
	api_calls++;
	api_last_staff = req->staff;
	if (!strcmp(req->path, "/echo")) {
		snprintf(buf, sizeof buf, "{\"method\":\"%s\",\"staff\":%s,\"len\":%zu}", req->method,
			 req->staff ? "true" : "false", req->body_len);
		res->status = 200;
		res->body = strdup(buf);
		res->len = strlen(buf);
	}
}

static const struct web_ops ops = {.api = fake_api};

static int connect_to(void)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(web_port(srv))};
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
	return fd;
}

/* Sends a request and reads the whole response (Connection: close). */
static int http(const char *method, const char *path, const char *headers, const char *body,
		char *resp, size_t cap)
{
	char req[32768];
	int fd = connect_to(), status = 0;
	size_t got = 0;
	ssize_t n;
	int len = snprintf(req, sizeof req,
			   "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n%s"
			   "Content-Length: %zu\r\n\r\n%s",
			   method, path, headers ? headers : "", body ? strlen(body) : 0, body ? body : "");
	assert_true(len > 0 && (size_t)len < sizeof req);
	assert_int_equal(write(fd, req, (size_t)len), len);
	while (got + 1 < cap && (n = read(fd, resp + got, cap - 1 - got)) > 0)
		got += (size_t)n;
	resp[got] = '\0';
	close(fd);
	sscanf(resp, "HTTP/1.1 %d", &status);
	return status;
}

static int setup(void **state)
{
	char path[128];
	(void)state;
	rg_log_set_level(RG_LOG_ERROR);
	const char *t = getenv("TMPDIR");
	snprintf(dir, sizeof dir, "%s/rg-web-XXXXXX", t && *t && strlen(t) < 40 ? t : "/tmp");
	if (!mkdtemp(dir))
		return -1;
	snprintf(path, sizeof path, "%s/kiosk.html", dir);
	FILE *f = fopen(path, "w");
	fputs("<h1>kiosk</h1>", f);
	fclose(f);
	snprintf(path, sizeof path, "%s/secret.txt", dir);
	rg_clock_manual_init(&clk, 1763881290000);
	if (web_pin_hash("4711", 1000, pin_hash, sizeof pin_hash) < 0)
		return -1;
	struct web_config cfg = {.port = 0, .assets_dir = dir, .index_page = "kiosk.html",
				 .pin_hash = pin_hash, .session_idle_s = 60, .clock = &clk.clock};
	api_calls = 0;
	return web_start(&cfg, &ops, NULL, &srv) == 0 ? 0 : -1;
}

static int teardown(void **state)
{
	char path[128];
	(void)state;
	web_stop(srv);
	if (sse_fd >= 0)
		close(sse_fd);
	sse_fd = -1;
	snprintf(path, sizeof path, "%s/kiosk.html", dir);
	unlink(path);
	rmdir(dir);
	return 0;
}

static void pin_hash_roundtrip(void **state)
{
	char h[WEB_PIN_HASH_MAX], h2[WEB_PIN_HASH_MAX];
	(void)state;
	assert_true(web_pin_hash("123456", 1000, h, sizeof h) > 0);
	assert_int_equal(strncmp(h, "pbkdf2-sha256$1000$", 19), 0);
	assert_int_equal(web_pin_verify("123456", h), 0);
	assert_int_equal(web_pin_verify("123457", h), RG_ERR_VERIFY);
	assert_int_equal(web_pin_verify("", h), RG_ERR_VERIFY);
	web_pin_hash("123456", 1000, h2, sizeof h2);
	assert_string_not_equal(h, h2); /* salted */
	assert_int_equal(web_pin_verify("123456", "plain:123456"), RG_ERR_PARSE);
	assert_int_equal(web_pin_verify("123456", "pbkdf2-sha256$10$AAAA$AAAA"), RG_ERR_PARSE);
	assert_int_equal(web_pin_hash("1", 10, h, sizeof h), RG_ERR_INVAL);
}

static void static_files_and_no_traversal(void **state)
{
	char r[4096];
	(void)state;
	assert_int_equal(http("GET", "/", NULL, NULL, r, sizeof r), 200);
	assert_non_null(strstr(r, "<h1>kiosk</h1>"));
	assert_non_null(strstr(r, "text/html"));
	assert_int_equal(http("GET", "/kiosk.html", NULL, NULL, r, sizeof r), 200);
	assert_int_equal(http("GET", "/../../etc/passwd", NULL, NULL, r, sizeof r), 404);
	assert_int_equal(http("GET", "/%2e%2e/etc/passwd", NULL, NULL, r, sizeof r), 404);
	assert_int_equal(http("GET", "/nope.html", NULL, NULL, r, sizeof r), 404);
	assert_int_equal(http("POST", "/kiosk.html", NULL, "", r, sizeof r), 405);
}

static void staff_login_gates_the_api(void **state)
{
	char r[4096], cookie[200];
	const char *json = "Content-Type: application/json\r\n";
	(void)state;
	assert_int_equal(http("GET", "/api/v1/echo", NULL, NULL, r, sizeof r), 200);
	assert_non_null(strstr(r, "\"staff\":false"));
	assert_int_equal(http("POST", "/api/v1/session", json, "{\"pin\":\"0000\"}", r, sizeof r), 401);
	assert_null(strstr(r, "Set-Cookie"));
	assert_int_equal(http("POST", "/api/v1/session", json, "{\"pin\":\"4711\"}", r, sizeof r), 200);
	const char *c = strstr(r, "rg_session=");
	assert_non_null(c);
	assert_non_null(strstr(r, "HttpOnly; SameSite=Strict"));
	snprintf(cookie, sizeof cookie, "Cookie: %.75s\r\n", c);
	assert_int_equal(http("GET", "/api/v1/echo", cookie, NULL, r, sizeof r), 200);
	assert_non_null(strstr(r, "\"staff\":true"));
	/* A forged session id is not staff. */
	assert_int_equal(http("GET", "/api/v1/echo",
			      "Cookie: rg_session=0000000000000000000000000000000000000000000000000000000000000000\r\n",
			      NULL, r, sizeof r), 200);
	assert_non_null(strstr(r, "\"staff\":false"));
	/* Idle expiry (monotonic clock): 61 s later the session is gone. */
	rg_clock_manual_advance(&clk, 61000);
	assert_int_equal(http("GET", "/api/v1/echo", cookie, NULL, r, sizeof r), 200);
	assert_non_null(strstr(r, "\"staff\":false"));
}

static void logout_ends_the_session(void **state)
{
	char r[4096], cookie[200];
	const char *json = "Content-Type: application/json\r\n";
	(void)state;
	assert_int_equal(http("POST", "/api/v1/session", json, "{\"pin\":\"4711\"}", r, sizeof r), 200);
	snprintf(cookie, sizeof cookie, "Cookie: %.75s\r\n", strstr(r, "rg_session="));
	assert_int_equal(http("GET", "/api/v1/session", cookie, NULL, r, sizeof r), 200);
	assert_non_null(strstr(r, "\"staff\":true"));
	assert_int_equal(http("DELETE", "/api/v1/session", cookie, NULL, r, sizeof r), 200);
	assert_int_equal(http("GET", "/api/v1/session", cookie, NULL, r, sizeof r), 200);
	assert_non_null(strstr(r, "\"staff\":false"));
}

static void wrong_pins_lock_out(void **state)
{
	char r[4096];
	const char *json = "Content-Type: application/json\r\n";
	(void)state;
	for (int i = 0; i < 5; i++)
		assert_int_equal(http("POST", "/api/v1/session", json, "{\"pin\":\"1111\"}", r, sizeof r), 401);
	/* Locked: even the right PIN is refused for now. */
	assert_int_equal(http("POST", "/api/v1/session", json, "{\"pin\":\"4711\"}", r, sizeof r), 429);
	rg_clock_manual_advance(&clk, 31000);
	assert_int_equal(http("POST", "/api/v1/session", json, "{\"pin\":\"4711\"}", r, sizeof r), 200);
	assert_int_equal(http("POST", "/api/v1/session", json, "not json", r, sizeof r), 400);
}

static void guards_on_bodies_and_types(void **state)
{
	char r[4096];
	char *big = malloc(WEB_BODY_MAX + 100);
	(void)state;
	memset(big, 'x', WEB_BODY_MAX + 99);
	big[WEB_BODY_MAX + 99] = '\0';
	/* A form post (what a cross-site page could send) is refused. */
	assert_int_equal(http("POST", "/api/v1/echo", "Content-Type: application/x-www-form-urlencoded\r\n",
			      "a=b", r, sizeof r), 415);
	assert_int_equal(api_calls, 0);
	assert_int_equal(http("POST", "/api/v1/echo", "Content-Type: application/json\r\n", big, r,
			      sizeof r), 413);
	assert_int_equal(api_calls, 0);
	assert_int_equal(http("POST", "/api/v1/echo", "Content-Type: application/json\r\n", "{}", r,
			      sizeof r), 200);
	assert_non_null(strstr(r, "\"len\":2"));
	assert_int_equal(http("GET", "/api/v1/unknown", NULL, NULL, r, sizeof r), 404);
	free(big);
}

static void sse_delivers_broadcasts(void **state)
{
	char r[8192];
	size_t got = 0;
	ssize_t n;
	(void)state;
	web_broadcast(srv, "screen", "{\"n\":1}");
	int fd = connect_to();
	const char *req = "GET /api/v1/events HTTP/1.1\r\nHost: x\r\n\r\n";
	assert_int_equal(write(fd, req, strlen(req)), (ssize_t)strlen(req));
	/* The newest event is replayed at connect; then new ones stream. */
	int phase = 0;
	while (got + 1 < sizeof r) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		assert_int_equal(poll(&p, 1, 5000), 1);
		n = read(fd, r + got, sizeof r - 1 - got);
		assert_true(n > 0);
		got += (size_t)n;
		r[got] = '\0';
		if (phase == 0 && strstr(r, "data: {\"n\":1}")) {
			phase = 1;
			web_broadcast(srv, "screen", "{\"n\":2}");
			web_broadcast(srv, "screen", "{\"n\":3}");
		}
		if (phase == 1 && strstr(r, "data: {\"n\":3}"))
			break;
	}
	assert_non_null(strstr(r, "text/event-stream"));
	assert_non_null(strstr(r, "event: screen\ndata: {\"n\":2}\n\n"));
	assert_true(strstr(r, "{\"n\":2}") < strstr(r, "{\"n\":3}"));
	sse_fd = fd;
	/* Multi-line data would break the SSE framing: it is dropped. */
	web_broadcast(srv, "screen", "{\"a\":\n1}");
}

static void metrics_and_health(void **state)
{
	char r[8192];
	(void)state;
	assert_int_equal(http("GET", "/healthz", NULL, NULL, r, sizeof r), 200);
	assert_int_equal(http("GET", "/metrics", NULL, NULL, r, sizeof r), 200);
	assert_non_null(strstr(r, "# TYPE regulars_http_requests_total counter"));
	assert_non_null(strstr(r, "regulars_sse_clients "));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(pin_hash_roundtrip),
		cmocka_unit_test_setup_teardown(static_files_and_no_traversal, setup, teardown),
		cmocka_unit_test_setup_teardown(staff_login_gates_the_api, setup, teardown),
		cmocka_unit_test_setup_teardown(logout_ends_the_session, setup, teardown),
		cmocka_unit_test_setup_teardown(wrong_pins_lock_out, setup, teardown),
		cmocka_unit_test_setup_teardown(guards_on_bodies_and_types, setup, teardown),
		cmocka_unit_test_setup_teardown(sse_delivers_broadcasts, setup, teardown),
		cmocka_unit_test_setup_teardown(metrics_and_health, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
