/*
 * httpc.h - a small blocking HTTP client on libcurl for service-to-service
 * API calls and mailyardctl.
 *
 * One httpc per thread (a curl easy handle is not thread-safe); it keeps the
 * connection alive between calls. Bodies are JSON; responses are parsed with
 * jansson when the body is JSON.
 *
 * Ownership: httpc_create() returns a client the caller frees with
 * httpc_free() (accepts NULL); base_url and token are copied. A result's
 * json is owned by the result; free the result with httpc_result_free().
 */
#ifndef MAILYARD_HTTPC_H
#define MAILYARD_HTTPC_H

#include <jansson.h>

typedef struct httpc httpc;

typedef struct httpc_result {
    long    status;      /* HTTP status, or 0 when the request failed */
    json_t *json;        /* parsed body if JSON, else NULL */
    char   *body;        /* raw body (NUL-terminated), malloc'd */
    char    error[256];  /* transport error text when status == 0 */
} httpc_result;

httpc *httpc_create(const char *base_url, const char *token, long timeout_ms);
void   httpc_free(httpc *c);
/* path is appended to base_url; path segments must already be escaped
 * (use httpc_escape). body may be NULL. Returns 0 when a response was
 * received (any status), -1 on transport failure (res->error filled). */
int    httpc_request(httpc *c, const char *method, const char *path,
                     const json_t *body, httpc_result *res);
void   httpc_result_free(httpc_result *res);
/* POSTs len raw bytes of body (binary-safe, sent as they are, e.g. a
 * message to a scanner) to path with extra request header lines
 * ("Name: value", no CR or LF; nheaders may be 0 and headers NULL). The
 * response is handled as in httpc_request. Returns 0 when a response was
 * received, -1 on transport failure or a bad header line (res->error). */
int    httpc_post_raw(httpc *c, const char *path, const char *const *headers,
                      size_t nheaders, const char *body, size_t len, httpc_result *res);
/* Percent-encode one path segment; caller frees. */
char  *httpc_escape(const char *segment);

#endif
