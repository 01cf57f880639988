/*
 * http.h - the internal HTTP server of every service, on libmicrohttpd.
 *
 * Built-in routes: GET /healthz (200 while the process runs), GET /readyz
 * (200 only when the ready callback says PostgreSQL and Redis answer, else
 * 503), GET /metrics (Prometheus text from the registry). Everything under
 * /v1/ is routed to handlers registered with http_route(), after checking
 * "Authorization: Bearer <token>" against the admin token (401 with a JSON
 * error if missing or wrong; constant-time compare).
 *
 * Requests: bodies up to max_body bytes (413 over it); a JSON body is parsed
 * with jansson before the handler runs (400 "bad_json" if malformed) and
 * handed over as req->json (NULL for no body). Handlers reject unknown
 * fields themselves with http_json_check_fields().
 *
 * Responses: a handler fills resp with http_reply_json() or
 * http_reply_error(); errors are {"error":{"code":"...","message":"..."}}.
 *
 * Threads: libmicrohttpd's thread pool (MHD_USE_INTERNAL_POLLING_THREAD
 * with a pool of size threads); handlers must be thread-safe.
 *
 * Ownership: the server is created and freed by main. req and its fields
 * belong to the server and live only during the handler call; a json_t put
 * into resp is owned (stolen) by the response.
 */
#ifndef MAILYARD_HTTP_H
#define MAILYARD_HTTP_H

#include <stddef.h>
#include <jansson.h>
#include "metrics.h"

typedef struct http_server http_server;

typedef struct http_request {
    const char *method;        /* "GET", "POST", ... */
    const char *path;          /* decoded path, e.g. "/v1/aliases/a@b" */
    const char *params[8];     /* path segments captured by '*' in the route */
    size_t      nparams;
    json_t     *json;          /* parsed body or NULL; borrowed */
    const char *body;          /* raw body (NUL-terminated) or NULL */
    size_t      body_len;
    void       *conn;          /* the MHD connection, for http_request_query */
} http_request;

typedef struct http_response {
    int     status;            /* default 200 */
    json_t *json;              /* owned by the response once set */
    char   *text;              /* alternative plain body, malloc'd, owned */
    const char *content_type;  /* for text; static string */
} http_response;

typedef void (*http_handler)(void *arg, const http_request *req, http_response *resp);
typedef int  (*http_ready_fn)(void *arg);   /* 1 ready, 0 not */

typedef struct http_server_opts {
    const char *listen;        /* "127.0.0.1:9101" or "[::1]:9101" or ":9101" */
    const char *admin_token;   /* required for /v1/; not copied, must outlive */
    size_t      max_body;      /* default 1 MiB */
    unsigned    threads;       /* default 4 */
    metrics_registry *metrics; /* for /metrics and request counters */
    http_ready_fn ready;
    void       *ready_arg;
} http_server_opts;

/* Register before http_server_start(). pattern is a path where '*' matches
 * exactly one segment (URL-decoded into params), e.g. "/v1/aliases/ *"
 * (without the space). method "*" matches any method. */
http_server *http_server_create(const http_server_opts *o);
int  http_route(http_server *s, const char *method, const char *pattern,
                http_handler h, void *arg);
int  http_server_start(http_server *s, char *err, size_t errlen);
void http_server_stop(http_server *s);    /* stop accepting, wait, free */

/* Query-string value, or NULL. */
const char *http_request_query(const http_request *req, const char *key);

void http_reply_json(http_response *r, int status, json_t *body /* stolen */);
void http_reply_error(http_response *r, int status, const char *code,
                      const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* Checks req->json is an object whose keys are all in allowed (NULL
 * terminated) and that every key in required is present. On failure fills
 * resp with 400 "unknown_field"/"missing_field"/"bad_request" and returns -1. */
int  http_json_check_fields(const http_request *req, http_response *resp,
                            const char *const *allowed, const char *const *required);

#endif
