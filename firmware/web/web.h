/*
 * web.h - the device's local web server (libmicrohttpd, loopback only): static
 * UI assets, Server-Sent Events for the live screens, staff login with a PIN
 * and expiring sessions, and dispatch of /api/v1/ requests to the daemon.
 * The server owns its threads; callbacks run on them and must lock what they
 * share with the daemon's main loop.
 */
#ifndef FIRMWARE_WEB_H
#define FIRMWARE_WEB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/clock.h"

#define WEB_BODY_MAX (16 * 1024)  /* request bodies */
#define WEB_EVENT_MAX (16 * 1024) /* one SSE event's data */

struct web_request {
	const char *method;  /* "GET", "POST", ... */
	const char *path;    /* below /api/v1, e.g. "/profiles/p-1/notes" */
	const char *body;    /* NUL-terminated; "" when none */
	size_t body_len;
	bool staff;          /* a valid staff session came with the request */
	const char *staff_session; /* its id (for logs), else NULL */
	void *conn;          /* for web_request_arg() */
};

struct web_response {
	int status;                /* HTTP status */
	char *body;                /* malloc'd JSON (or text), freed by the server */
	size_t len;
	const char *content_type;  /* static string; NULL means application/json */
};

struct web_ops {
	/* /api/v1/... except login/logout/session, which the server handles. */
	void (*api)(void *ctx, const struct web_request *req, struct web_response *res);
	/* Prometheus text for /metrics; the server appends its own counters. */
	void (*metrics)(void *ctx, char **text, size_t *len);
	/* /healthz: fill a JSON body; return true when healthy. */
	bool (*health)(void *ctx, char **json, size_t *len);
};

struct web_config {
	const char *bind_addr;     /* "127.0.0.1" (default) */
	uint16_t port;             /* 0 picks a free port (see web_port) */
	const char *assets_dir;    /* the UI files */
	const char *index_page;    /* served for "/", e.g. "kiosk.html" */
	const char *pin_hash;      /* staff PIN hash (web_pin_hash), NULL disables login */
	int session_idle_s;        /* staff session idle expiry, default 300 */
	int session_max_s;         /* absolute expiry, default 8 h */
	const struct rg_clock *clock;
};

struct web_server;

/* Start serving. On success *out is owned by the caller (web_stop). */
int web_start(const struct web_config *cfg, const struct web_ops *ops, void *ctx,
	      struct web_server **out);
void web_stop(struct web_server *s);
uint16_t web_port(const struct web_server *s);
/* Replace the staff PIN hash (a reload); NULL disables login. Sessions stay. */
int web_set_pin_hash(struct web_server *s, const char *pin_hash);

/* Send an event to every connected SSE client (and keep it as the latest,
 * replayed to clients that connect later). data is one line of JSON. */
void web_broadcast(struct web_server *s, const char *event, const char *data);

/* A query argument of the request being handled, or NULL. */
const char *web_request_arg(const struct web_request *req, const char *name);

/* Staff PIN hashing: PBKDF2-HMAC-SHA256, "pbkdf2-sha256$<iter>$<salt>$<hash>"
 * with base64url salt (16 bytes) and hash (32 bytes). */
#define WEB_PIN_HASH_MAX 128
int web_pin_hash(const char *pin, uint32_t iterations, char *out, size_t cap);
/* 0 if pin matches hash, RG_ERR_VERIFY if not, RG_ERR_PARSE if hash is malformed. */
int web_pin_verify(const char *pin, const char *hash);

#endif
