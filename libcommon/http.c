/*
 * http.c - the internal HTTP server of every service (http.h), on
 * libmicrohttpd with an internal thread pool.
 *
 * Owns: the server (route table, listen address, the MHD daemon) and one
 * per-request context (raw path, body buffer) that lives from the URI log
 * callback to the request-completed callback.
 *
 * Request flow: the URI log callback copies the raw (still percent-encoded)
 * URI, so that path segments are decoded one by one ("a%2Fb" stays one
 * segment). The access handler collects the body up to max_body (a
 * Content-Length over it is refused at once with 413), then dispatches:
 *   /healthz, /readyz, /metrics      built in, GET/HEAD only (else 405);
 *   /v1 and /v1/...                  bearer token required (else 401);
 *   any registered route              body parsed as JSON (400 bad_json),
 *                                     handler called; a path that matches
 *                                     with another method gives 405;
 *   anything else                     404 not_found.
 * Routes outside /v1/ may be registered (public pages) and need no token.
 * Every reply is built inside the access handler; every error is JSON. A
 * handler that sets no reply (or http_reply_json(r, s, NULL), e.g. from a
 * failed json_pack) gives 500 "internal". With a metrics registry, every
 * reply counts in mailyard_http_requests_total{code} and
 * mailyard_http_request_duration_seconds.
 *
 * SECURITY: everything from the peer is untrusted: the path (decoded with
 * %00 and bad escapes refused), headers, the body (size-limited, JSON
 * parsed with duplicate keys refused). The token compare is constant-time
 * (SHA-256 of both sides, CRYPTO_memcmp).
 */
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include <microhttpd.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>

#include "buf.h"
#include "http.h"
#include "log.h"
#include "xalloc.h"

#define HTTP_MAX_ROUTES      64
#define HTTP_MAX_SEGMENTS    16
#define HTTP_MAX_PARAMS      8
#define HTTP_DEFAULT_BODY    (1024 * 1024)
#define HTTP_DEFAULT_THREADS 4
#define HTTP_METRICS_MAX     (16 * 1024 * 1024)
#define HTTP_CONN_LIMIT      512
#define HTTP_CONN_TIMEOUT_S  30

typedef struct http_route_entry {
    char        *method;                       /* owned */
    char        *pattern;                      /* owned, split in place */
    const char  *segs[HTTP_MAX_SEGMENTS];      /* point into pattern */
    size_t       nsegs;
    http_handler handler;
    void        *arg;
} http_route_entry;

struct http_server {
    http_server_opts  opts;       /* listen points to listen below */
    char             *listen;     /* owned copy */
    struct MHD_Daemon *daemon;
    http_route_entry  routes[HTTP_MAX_ROUTES];
    size_t            nroutes;
    metrics_family   *m_requests; /* owned by the registry */
    metrics_family   *m_duration;
};

/* One request; created by uri_log, freed by request_completed. */
typedef struct http_ctx {
    char           *raw_uri;      /* owned, as received */
    char           *path;         /* owned, decoded path */
    char           *segbuf;       /* owned, decoded segments, NUL separated */
    const char     *segs[HTTP_MAX_SEGMENTS];
    size_t          nsegs;
    int             bad_path;     /* 1 malformed escape, 2 too many segments */
    buf             body;         /* ceiling max_body */
    int             started;      /* first access-handler call done */
    int             too_large;
    int             replied;
    struct timespec start;
} http_ctx;

static void *uri_log(void *cls, const char *uri, struct MHD_Connection *conn);
static void  request_completed(void *cls, struct MHD_Connection *conn,
                               void **con_cls, enum MHD_RequestTerminationCode t);
static enum MHD_Result access_handler(void *cls, struct MHD_Connection *conn,
                                      const char *url, const char *method,
                                      const char *version, const char *upload,
                                      size_t *upload_size, void **con_cls);
static void  mhd_logger(void *cls, const char *fmt, va_list ap);
static http_ctx *ctx_create(const http_server *s, const char *uri);
static void  ctx_free(http_ctx *c);
static int   path_decode(http_ctx *c);
static int   listen_parse(const char *listen, struct sockaddr_storage *ss,
                          socklen_t *sslen, char *err, size_t errlen);
static enum MHD_Result dispatch(http_server *s, struct MHD_Connection *conn,
                                http_ctx *ctx, const char *method);
static enum MHD_Result send_response(http_server *s, struct MHD_Connection *conn,
                                     http_ctx *ctx, http_response *r,
                                     const char *allow);
static int   auth_ok(const http_server *s, struct MHD_Connection *conn);
static void  builtin(http_server *s, const char *name, http_response *r);

/* --- public API ---------------------------------------------------------- */

http_server *
http_server_create(const http_server_opts *o)
{
    http_server *s = xcalloc(1, sizeof(*s));
    static const char *const code_label[] = { "code", NULL };
    static const double dur_bounds[] = { 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                         0.5, 1, 2.5, 5, 10 };

    s->opts = *o;
    s->listen = xstrdup(o->listen ? o->listen : "");
    s->opts.listen = s->listen;
    if (s->opts.max_body == 0)
        s->opts.max_body = HTTP_DEFAULT_BODY;
    if (s->opts.threads == 0)
        s->opts.threads = HTTP_DEFAULT_THREADS;
    s->m_requests = metrics_counter(o->metrics, "mailyard_http_requests_total",
                                    "HTTP requests answered, by status code",
                                    code_label);
    s->m_duration = metrics_histogram(o->metrics,
                                      "mailyard_http_request_duration_seconds",
                                      "Time from request line to reply", NULL,
                                      dur_bounds,
                                      sizeof(dur_bounds) / sizeof(dur_bounds[0]));
    return s;
}

int
http_route(http_server *s, const char *method, const char *pattern,
           http_handler h, void *arg)
{
    http_route_entry *r;
    size_t nstar = 0;
    char *p;

    if (s == NULL || s->daemon != NULL || s->nroutes >= HTTP_MAX_ROUTES ||
        method == NULL || pattern == NULL || pattern[0] != '/' || h == NULL)
        return -1;
    r = &s->routes[s->nroutes];
    memset(r, 0, sizeof(*r));
    r->method = xstrdup(method);
    r->pattern = xstrdup(pattern);
    p = r->pattern + 1;
    while (*p != '\0') {
        char *slash = strchr(p, '/');
        if (r->nsegs >= HTTP_MAX_SEGMENTS)
            goto bad;
        r->segs[r->nsegs++] = p;
        if (slash == NULL)
            break;
        *slash = '\0';
        p = slash + 1;
    }
    for (size_t i = 0; i < r->nsegs; i++)
        nstar += strcmp(r->segs[i], "*") == 0;
    if (nstar > HTTP_MAX_PARAMS)
        goto bad;
    r->handler = h;
    r->arg = arg;
    s->nroutes++;
    return 0;
bad:
    free(r->method);
    free(r->pattern);
    memset(r, 0, sizeof(*r));
    return -1;
}

int
http_server_start(http_server *s, char *err, size_t errlen)
{
    struct sockaddr_storage ss;
    socklen_t sslen;
    unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG |
                         MHD_USE_AUTO;
    unsigned short port;

    if (s == NULL || s->daemon != NULL) {
        snprintf(err, errlen, "http: server missing or already started");
        return -1;
    }
    if (listen_parse(s->listen, &ss, &sslen, err, errlen) < 0)
        return -1;
    if (ss.ss_family == AF_INET6) {
        flags |= MHD_USE_IPv6;
        port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    } else {
        port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
    }
    s->daemon = MHD_start_daemon(flags, port, NULL, NULL, access_handler, s,
                    MHD_OPTION_EXTERNAL_LOGGER, mhd_logger, s,
                    MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
                    MHD_OPTION_THREAD_POOL_SIZE, (unsigned int)s->opts.threads,
                    MHD_OPTION_URI_LOG_CALLBACK, uri_log, s,
                    MHD_OPTION_NOTIFY_COMPLETED, request_completed, s,
                    MHD_OPTION_CONNECTION_LIMIT, (unsigned int)HTTP_CONN_LIMIT,
                    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)HTTP_CONN_TIMEOUT_S,
                    MHD_OPTION_END);
    if (s->daemon == NULL) {
        snprintf(err, errlen, "http: cannot listen on %s", s->listen);
        return -1;
    }
    return 0;
}

void
http_server_stop(http_server *s)
{
    if (s == NULL)
        return;
    if (s->daemon != NULL)
        MHD_stop_daemon(s->daemon);
    for (size_t i = 0; i < s->nroutes; i++) {
        free(s->routes[i].method);
        free(s->routes[i].pattern);
    }
    free(s->listen);
    free(s);
}

const char *
http_request_query(const http_request *req, const char *key)
{
    if (req == NULL || req->conn == NULL || key == NULL)
        return NULL;
    return MHD_lookup_connection_value((struct MHD_Connection *)req->conn,
                                       MHD_GET_ARGUMENT_KIND, key);
}

void
http_reply_json(http_response *r, int status, json_t *body)
{
    if (r->json != NULL)
        json_decref(r->json);
    free(r->text);
    r->text = NULL;
    if (body == NULL) {
        r->json = NULL;
        http_reply_error(r, 500, "internal", "could not build the reply");
        return;
    }
    r->status = status;
    r->json = body;
}

void
http_reply_error(http_response *r, int status, const char *code,
                 const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    json_t *body;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (r->json != NULL)
        json_decref(r->json);
    free(r->text);
    r->text = NULL;
    body = json_pack("{s:{s:s,s:s}}", "error", "code", code, "message", msg);
    if (body == NULL)
        panic("http: cannot build an error object");
    r->status = status;
    r->json = body;
}

int
http_json_check_fields(const http_request *req, http_response *resp,
                       const char *const *allowed, const char *const *required)
{
    const char *key;
    json_t *value;

    if (req->json == NULL || !json_is_object(req->json)) {
        http_reply_error(resp, 400, "bad_request", "the body must be a JSON object");
        return -1;
    }
    json_object_foreach(req->json, key, value) {
        int ok = 0;
        for (size_t i = 0; allowed != NULL && allowed[i] != NULL && !ok; i++)
            ok = strcmp(allowed[i], key) == 0;
        for (size_t i = 0; required != NULL && required[i] != NULL && !ok; i++)
            ok = strcmp(required[i], key) == 0;
        if (!ok) {
            http_reply_error(resp, 400, "unknown_field", "unknown field \"%.100s\"", key);
            return -1;
        }
    }
    for (size_t i = 0; required != NULL && required[i] != NULL; i++) {
        if (json_object_get(req->json, required[i]) == NULL) {
            http_reply_error(resp, 400, "missing_field", "missing field \"%s\"",
                             required[i]);
            return -1;
        }
    }
    return 0;
}

/* --- MHD callbacks ------------------------------------------------------- */

static void *
uri_log(void *cls, const char *uri, struct MHD_Connection *conn)
{
    (void)conn;
    return ctx_create(cls, uri);
}

static void
request_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                  enum MHD_RequestTerminationCode t)
{
    (void)cls;
    (void)conn;
    (void)t;
    ctx_free(*con_cls);
    *con_cls = NULL;
}

static void
mhd_logger(void *cls, const char *fmt, va_list ap)
{
    char text[512];
    size_t n;

    (void)cls;
    vsnprintf(text, sizeof(text), fmt, ap);
    n = strlen(text);
    while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == '\r'))
        text[--n] = '\0';
    log_warn("http: libmicrohttpd", "detail", text);
}

static enum MHD_Result
access_handler(void *cls, struct MHD_Connection *conn, const char *url,
               const char *method, const char *version, const char *upload,
               size_t *upload_size, void **con_cls)
{
    http_server *s = cls;
    http_ctx *ctx = *con_cls;

    (void)version;
    if (ctx == NULL) {          /* no URI log call happened: use MHD's url */
        ctx = ctx_create(s, url);
        *con_cls = ctx;
    }
    if (ctx->replied) {
        *upload_size = 0;
        return MHD_YES;
    }
    if (!ctx->started) {
        const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                     MHD_HTTP_HEADER_CONTENT_LENGTH);
        ctx->started = 1;
        if (cl != NULL && strtoull(cl, NULL, 10) > s->opts.max_body) {
            http_response r = { 0 };
            http_reply_error(&r, 413, "payload_too_large",
                             "the body is larger than %zu bytes", s->opts.max_body);
            return send_response(s, conn, ctx, &r, NULL);
        }
        return MHD_YES;
    }
    if (*upload_size > 0) {
        if (!ctx->too_large && buf_append(&ctx->body, upload, *upload_size) < 0) {
            ctx->too_large = 1;
            buf_reset(&ctx->body);
        }
        *upload_size = 0;
        return MHD_YES;
    }
    return dispatch(s, conn, ctx, method);
}

/* --- request context ----------------------------------------------------- */

static http_ctx *
ctx_create(const http_server *s, const char *uri)
{
    http_ctx *c = xcalloc(1, sizeof(*c));

    clock_gettime(CLOCK_MONOTONIC, &c->start);
    c->raw_uri = xstrdup(uri ? uri : "/");
    buf_init(&c->body, s->opts.max_body);
    if (path_decode(c) < 0 && c->bad_path == 0)
        c->bad_path = 1;
    return c;
}

static void
ctx_free(http_ctx *c)
{
    if (c == NULL)
        return;
    free(c->raw_uri);
    free(c->path);
    free(c->segbuf);
    buf_release(&c->body);
    free(c);
}

static int
hex_value(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

/* Splits the raw path (up to '?') into decoded segments in c->segbuf and
 * builds c->path. Returns -1 on a bad escape, %00 or too many segments. */
static int
path_decode(http_ctx *c)
{
    size_t rawlen = strcspn(c->raw_uri, "?#");
    char *out, *seg;
    const char *p = c->raw_uri;
    buf path;

    c->segbuf = xmalloc(rawlen + 2);
    c->path = NULL;
    if (rawlen == 0 || p[0] != '/')
        return -1;
    out = c->segbuf;
    seg = out;
    for (size_t i = 1; rawlen > 1 && i <= rawlen; i++) {
        if (i == rawlen || p[i] == '/') {
            *out++ = '\0';
            if (c->nsegs >= HTTP_MAX_SEGMENTS) {
                c->bad_path = 2;
                return -1;
            }
            c->segs[c->nsegs++] = seg;
            seg = out;
        } else if (p[i] == '%') {
            int hi, lo;
            if (i + 2 >= rawlen || (hi = hex_value(p[i + 1])) < 0 ||
                (lo = hex_value(p[i + 2])) < 0 || (hi == 0 && lo == 0))
                return -1;
            *out++ = (char)(hi * 16 + lo);
            i += 2;
        } else {
            *out++ = p[i];
        }
    }
    buf_init(&path, rawlen + 2);
    if (c->nsegs == 0 && buf_append_str(&path, "/") < 0)
        panic("http: path buffer");
    for (size_t i = 0; i < c->nsegs; i++)
        if (buf_append_str(&path, "/") < 0 || buf_append_str(&path, c->segs[i]) < 0)
            panic("http: path buffer");
    c->path = buf_steal(&path, NULL);
    buf_release(&path);
    return 0;
}

/* "host:port", "[v6]:port" or ":port" (all IPv4 interfaces). */
static int
listen_parse(const char *listen, struct sockaddr_storage *ss, socklen_t *sslen,
             char *err, size_t errlen)
{
    char host[256] = "";
    const char *port, *colon;
    struct addrinfo hints, *res = NULL;
    int rc;

    if (listen[0] == '[') {
        const char *end = strchr(listen, ']');
        if (end == NULL || end[1] != ':' || (size_t)(end - listen - 1) >= sizeof(host))
            goto bad;
        memcpy(host, listen + 1, (size_t)(end - listen - 1));
        host[end - listen - 1] = '\0';
        port = end + 2;
    } else {
        colon = strrchr(listen, ':');
        if (colon == NULL || (size_t)(colon - listen) >= sizeof(host))
            goto bad;
        memcpy(host, listen, (size_t)(colon - listen));
        host[colon - listen] = '\0';
        port = colon + 1;
    }
    if (*port == '\0' || strspn(port, "0123456789") != strlen(port) ||
        strtol(port, NULL, 10) > 65535)
        goto bad;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = host[0] ? AF_UNSPEC : AF_INET;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    rc = getaddrinfo(host[0] ? host : NULL, port, &hints, &res);
    if (rc != 0 || res == NULL) {
        snprintf(err, errlen, "http: cannot resolve listen address %s: %s", listen,
                 gai_strerror(rc));
        if (res != NULL)
            freeaddrinfo(res);
        return -1;
    }
    memset(ss, 0, sizeof(*ss));
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    *sslen = res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
bad:
    snprintf(err, errlen, "http: bad listen address \"%s\" (want host:port, "
             "[v6]:port or :port)", listen);
    return -1;
}

/* --- dispatch ------------------------------------------------------------ */

static int
method_is(const char *m, const char *want)
{
    return strcmp(m, want) == 0;
}

static enum MHD_Result
dispatch(http_server *s, struct MHD_Connection *conn, http_ctx *ctx,
         const char *method)
{
    http_response r = { 0 };
    http_request req = { 0 };
    char allow[128] = "";
    const http_route_entry *hit = NULL;
    int path_matched = 0;

    if (ctx->bad_path) {
        if (ctx->bad_path == 2)
            http_reply_error(&r, 404, "not_found", "no such resource");
        else
            http_reply_error(&r, 400, "bad_request", "malformed request path");
        return send_response(s, conn, ctx, &r, NULL);
    }
    if (strcmp(ctx->path, "/healthz") == 0 || strcmp(ctx->path, "/readyz") == 0 ||
        strcmp(ctx->path, "/metrics") == 0) {
        if (method_is(method, "GET") || method_is(method, "HEAD"))
            builtin(s, ctx->path + 1, &r);
        else
            http_reply_error(&r, 405, "method_not_allowed", "use GET");
        return send_response(s, conn, ctx, &r, "GET, HEAD");
    }
    if ((ctx->nsegs >= 1 && strcmp(ctx->segs[0], "v1") == 0) && !auth_ok(s, conn)) {
        http_reply_error(&r, 401, "unauthorized", "missing or wrong bearer token");
        return send_response(s, conn, ctx, &r, NULL);
    }
    if (ctx->too_large) {
        http_reply_error(&r, 413, "payload_too_large",
                         "the body is larger than %zu bytes", s->opts.max_body);
        return send_response(s, conn, ctx, &r, NULL);
    }
    for (size_t i = 0; i < s->nroutes; i++) {
        const http_route_entry *rt = &s->routes[i];
        size_t np = 0, j;
        if (rt->nsegs != ctx->nsegs)
            continue;
        for (j = 0; j < rt->nsegs; j++) {
            if (strcmp(rt->segs[j], "*") == 0) {
                if (ctx->segs[j][0] == '\0')
                    break;
                req.params[np++] = ctx->segs[j];
            } else if (strcmp(rt->segs[j], ctx->segs[j]) != 0) {
                break;
            }
        }
        if (j < rt->nsegs)
            continue;
        path_matched = 1;
        if (strcmp(rt->method, "*") == 0 || strcmp(rt->method, method) == 0) {
            hit = rt;
            req.nparams = np;
            break;
        }
        if (strlen(allow) + strlen(rt->method) + 3 < sizeof(allow) &&
            strstr(allow, rt->method) == NULL) {
            if (allow[0] != '\0')
                (void)str_copy(allow + strlen(allow), sizeof(allow) - strlen(allow), ", ");
            (void)str_copy(allow + strlen(allow), sizeof(allow) - strlen(allow),
                           rt->method);
        }
        memset(req.params, 0, sizeof(req.params));
    }
    if (hit == NULL) {
        if (path_matched)
            http_reply_error(&r, 405, "method_not_allowed",
                             "method %s not allowed here", method);
        else
            http_reply_error(&r, 404, "not_found", "no such resource");
        return send_response(s, conn, ctx, &r, path_matched ? allow : NULL);
    }
    req.method = method;
    req.path = ctx->path;
    req.conn = conn;
    if (ctx->body.len > 0) {
        /* The APIs speak only JSON: a body is parsed whatever its
         * Content-Type says (curl -d sends a form type by default). */
        json_error_t jerr;
        req.body = ctx->body.data;
        req.body_len = ctx->body.len;
        req.json = json_loadb(ctx->body.data, ctx->body.len,
                              JSON_REJECT_DUPLICATES, &jerr);
        if (req.json == NULL) {
            http_reply_error(&r, 400, "bad_json", "malformed JSON: %s at %d:%d",
                             jerr.text, jerr.line, jerr.column);
            return send_response(s, conn, ctx, &r, NULL);
        }
    }
    hit->handler(hit->arg, &req, &r);
    if (req.json != NULL)
        json_decref(req.json);
    if (r.status == 0 && (r.json != NULL || r.text != NULL))
        r.status = 200;
    if (r.status < 100 || r.status > 599) {
        log_error("http: handler gave no valid reply", "path", ctx->path);
        http_reply_error(&r, 500, "internal", "internal error");
    }
    return send_response(s, conn, ctx, &r, NULL);
}

static void
builtin(http_server *s, const char *name, http_response *r)
{
    if (strcmp(name, "healthz") == 0) {
        http_reply_json(r, 200, json_pack("{s:s}", "status", "ok"));
    } else if (strcmp(name, "readyz") == 0) {
        int ready = s->opts.ready == NULL || s->opts.ready(s->opts.ready_arg) == 1;
        http_reply_json(r, ready ? 200 : 503,
                        json_pack("{s:s}", "status", ready ? "ready" : "not_ready"));
    } else {
        buf out;
        buf_init(&out, HTTP_METRICS_MAX);
        if (metrics_render(s->opts.metrics, &out) < 0) {
            buf_release(&out);
            http_reply_error(r, 500, "internal", "metrics too large");
            return;
        }
        r->status = 200;
        r->text = buf_steal(&out, NULL);
        r->content_type = "text/plain; version=0.0.4; charset=utf-8";
        buf_release(&out);
    }
}

/* Builds and queues the reply, then releases r's contents. */
static enum MHD_Result
send_response(http_server *s, struct MHD_Connection *conn, http_ctx *ctx,
              http_response *r, const char *allow)
{
    struct MHD_Response *mr;
    enum MHD_Result rc;
    const char *ct;
    char *body;
    char code[8];
    struct timespec now;

    if (r->json != NULL) {
        body = json_dumps(r->json, JSON_COMPACT);
        ct = "application/json";
        if (body == NULL) {
            json_decref(r->json);
            r->json = NULL;
            r->status = 500;
            body = xstrdup("{\"error\":{\"code\":\"internal\",\"message\":\"cannot encode reply\"}}");
        }
    } else if (r->text != NULL) {
        body = r->text;
        r->text = NULL;
        ct = r->content_type ? r->content_type : "text/plain; charset=utf-8";
    } else {
        body = xstrdup("");
        ct = "application/json";
    }
    mr = MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_COPY);
    free(body);
    if (r->json != NULL)
        json_decref(r->json);
    free(r->text);
    r->json = NULL;
    r->text = NULL;
    if (mr == NULL)
        return MHD_NO;
    if (MHD_add_response_header(mr, MHD_HTTP_HEADER_CONTENT_TYPE, ct) != MHD_YES ||
        MHD_add_response_header(mr, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store") != MHD_YES ||
        (r->status == 405 && allow != NULL && allow[0] != '\0' &&
         MHD_add_response_header(mr, MHD_HTTP_HEADER_ALLOW, allow) != MHD_YES)) {
        MHD_destroy_response(mr);
        return MHD_NO;
    }
    rc = MHD_queue_response(conn, (unsigned int)r->status, mr);
    MHD_destroy_response(mr);
    ctx->replied = 1;
    snprintf(code, sizeof(code), "%d", r->status);
    metrics_counter_inc(s->m_requests, code);
    clock_gettime(CLOCK_MONOTONIC, &now);
    metrics_histogram_observe(s->m_duration,
                              (double)(now.tv_sec - ctx->start.tv_sec) +
                              (double)(now.tv_nsec - ctx->start.tv_nsec) / 1e9);
    return rc;
}

static int
auth_ok(const http_server *s, struct MHD_Connection *conn)
{
    const char *h = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                MHD_HTTP_HEADER_AUTHORIZATION);
    unsigned char want[SHA256_DIGEST_LENGTH], got[SHA256_DIGEST_LENGTH];
    const char *tok;

    if (h == NULL || s->opts.admin_token == NULL || s->opts.admin_token[0] == '\0')
        return 0;
    if (strncasecmp(h, "Bearer ", 7) != 0)
        return 0;
    tok = h + 7;
    while (*tok == ' ')
        tok++;
    if (*tok == '\0')
        return 0;
    SHA256((const unsigned char *)s->opts.admin_token, strlen(s->opts.admin_token), want);
    SHA256((const unsigned char *)tok, strlen(tok), got);
    return CRYPTO_memcmp(want, got, sizeof(want)) == 0;
}
