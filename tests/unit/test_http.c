/*
 * test_http.c - unit tests for libcommon/http.c and httpc.c: a real server on
 * a free loopback port, called with the httpc client (and a raw socket for
 * requests httpc cannot make: malformed JSON, chunked bodies).
 *
 * Covers: /healthz, /readyz (both answers), /metrics with request counters,
 * 401 without and with a wrong token, 400 bad_json, 400 unknown_field and
 * missing_field (http_json_check_fields), 404 as a JSON error, 405, 413
 * (Content-Length and chunked), path parameter decoding, query strings,
 * a handler that forgets to reply (500), bad listen addresses.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "http.h"
#include "httpc.h"
#include "metrics.h"

#define TOKEN    "s3cret-token"
#define MAX_BODY 256

typedef struct fixture {
    http_server      *srv;
    metrics_registry *metrics;
    atomic_int        ready;
    int               port;
    char              base[64];
    httpc            *c;        /* with the right token */
} fixture;

/* --- handlers ------------------------------------------------------------ */

static void
h_thing_create(void *arg, const http_request *req, http_response *resp)
{
    static const char *const allowed[] = { "tags", NULL };
    static const char *const required[] = { "name", NULL };

    (void)arg;
    if (http_json_check_fields(req, resp, allowed, required) < 0)
        return;
    http_reply_json(resp, 201, json_pack("{s:O}", "name",
                                         json_object_get(req->json, "name")));
}

static void
h_thing_get(void *arg, const http_request *req, http_response *resp)
{
    (void)arg;
    assert_int_equal(req->nparams, 1);
    http_reply_json(resp, 200, json_pack("{s:s,s:s}", "id", req->params[0],
                                         "path", req->path));
}

static void
h_member_get(void *arg, const http_request *req, http_response *resp)
{
    const char *page = http_request_query(req, "page");

    (void)arg;
    assert_int_equal(req->nparams, 2);
    http_reply_json(resp, 200, json_pack("{s:s,s:s,s:s?}", "list", req->params[0],
                                         "member", req->params[1], "page", page));
}

static void
h_silent(void *arg, const http_request *req, http_response *resp)
{
    (void)arg;
    (void)req;
    (void)resp;     /* forgets to reply on purpose */
}

static int
ready_cb(void *arg)
{
    return atomic_load((atomic_int *)arg);
}

/* --- helpers ------------------------------------------------------------- */

static int
free_port(void)
{
    struct sockaddr_in sa = { .sin_family = AF_INET };
    socklen_t len = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM, 0), port;

    assert_true(fd >= 0);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    port = ntohs(sa.sin_port);
    close(fd);
    return port;
}

/* Sends raw bytes on a new connection and returns the whole response
 * (malloc'd; the request must say "Connection: close"). */
static char *
raw_request(int port, const char *req, size_t len)
{
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    size_t cap = 65536, n = 0;
    char *out = malloc(cap);
    ssize_t r;

    assert_non_null(out);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(write(fd, req, len), (ssize_t)len);
    while (n < cap - 1 && (r = read(fd, out + n, cap - 1 - n)) > 0)
        n += (size_t)r;
    out[n] = '\0';
    close(fd);
    return out;
}

static const char *
err_code(const httpc_result *res)
{
    json_t *e = json_object_get(res->json, "error");
    const char *code = json_string_value(json_object_get(e, "code"));

    assert_non_null(json_string_value(json_object_get(e, "message")));
    return code ? code : "(none)";
}

static int
setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    char err[256];
    int started = 0;

    assert_non_null(f);
    f->metrics = metrics_registry_create();
    atomic_store(&f->ready, 1);
    for (int attempt = 0; attempt < 5 && !started; attempt++) {
        char listen[64];
        http_server_opts o = { 0 };
        f->port = free_port();
        snprintf(listen, sizeof(listen), "127.0.0.1:%d", f->port);
        o.listen = listen;
        o.admin_token = TOKEN;
        o.max_body = MAX_BODY;
        o.threads = 2;
        o.metrics = f->metrics;
        o.ready = ready_cb;
        o.ready_arg = &f->ready;
        f->srv = http_server_create(&o);
        assert_non_null(f->srv);
        assert_int_equal(http_route(f->srv, "POST", "/v1/things", h_thing_create, NULL), 0);
        assert_int_equal(http_route(f->srv, "GET", "/v1/things/*", h_thing_get, NULL), 0);
        assert_int_equal(http_route(f->srv, "GET", "/v1/things/*/members/*",
                                    h_member_get, NULL), 0);
        assert_int_equal(http_route(f->srv, "*", "/v1/silent", h_silent, NULL), 0);
        if (http_server_start(f->srv, err, sizeof(err)) == 0) {
            started = 1;
        } else {
            http_server_stop(f->srv);
            f->srv = NULL;
        }
    }
    assert_true(started);
    snprintf(f->base, sizeof(f->base), "http://127.0.0.1:%d", f->port);
    f->c = httpc_create(f->base, TOKEN, 5000);
    assert_non_null(f->c);
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    fixture *f = *state;

    httpc_free(f->c);
    http_server_stop(f->srv);
    metrics_registry_free(f->metrics);
    free(f);
    return 0;
}

/* --- tests --------------------------------------------------------------- */

static void
test_health_ready(void **state)
{
    fixture *f = *state;
    httpc *anon = httpc_create(f->base, NULL, 5000);
    httpc_result res;

    assert_int_equal(httpc_request(anon, "GET", "/healthz", NULL, &res), 0);
    assert_int_equal(res.status, 200);
    assert_string_equal(json_string_value(json_object_get(res.json, "status")), "ok");
    httpc_result_free(&res);

    assert_int_equal(httpc_request(anon, "GET", "/readyz", NULL, &res), 0);
    assert_int_equal(res.status, 200);
    assert_string_equal(json_string_value(json_object_get(res.json, "status")), "ready");
    httpc_result_free(&res);

    atomic_store(&f->ready, 0);
    assert_int_equal(httpc_request(anon, "GET", "/readyz", NULL, &res), 0);
    assert_int_equal(res.status, 503);
    assert_string_equal(json_string_value(json_object_get(res.json, "status")),
                        "not_ready");
    httpc_result_free(&res);
    atomic_store(&f->ready, 1);

    assert_int_equal(httpc_request(anon, "POST", "/healthz", NULL, &res), 0);
    assert_int_equal(res.status, 405);
    assert_string_equal(err_code(&res), "method_not_allowed");
    httpc_result_free(&res);
    httpc_free(anon);
}

static void
test_metrics_endpoint(void **state)
{
    fixture *f = *state;
    httpc_result res;

    assert_int_equal(httpc_request(f->c, "GET", "/healthz", NULL, &res), 0);
    httpc_result_free(&res);
    assert_int_equal(httpc_request(f->c, "GET", "/v1/nope", NULL, &res), 0);
    httpc_result_free(&res);
    assert_int_equal(httpc_request(f->c, "GET", "/metrics", NULL, &res), 0);
    assert_int_equal(res.status, 200);
    assert_null(res.json);
    assert_non_null(strstr(res.body, "# TYPE mailyard_http_requests_total counter\n"));
    assert_non_null(strstr(res.body, "mailyard_http_requests_total{code=\"200\"} "));
    assert_non_null(strstr(res.body, "mailyard_http_requests_total{code=\"404\"} 1\n"));
    assert_non_null(strstr(res.body, "mailyard_http_request_duration_seconds_count "));
    httpc_result_free(&res);
}

static void
test_auth(void **state)
{
    fixture *f = *state;
    httpc *anon = httpc_create(f->base, NULL, 5000);
    httpc *wrong = httpc_create(f->base, "s3cret-tokeX", 5000);
    httpc *shorter = httpc_create(f->base, "s3cret", 5000);
    httpc_result res;

    assert_int_equal(httpc_request(anon, "GET", "/v1/things/x", NULL, &res), 0);
    assert_int_equal(res.status, 401);
    assert_string_equal(err_code(&res), "unauthorized");
    httpc_result_free(&res);
    assert_int_equal(httpc_request(wrong, "GET", "/v1/things/x", NULL, &res), 0);
    assert_int_equal(res.status, 401);
    assert_string_equal(err_code(&res), "unauthorized");
    httpc_result_free(&res);
    assert_int_equal(httpc_request(shorter, "GET", "/v1/things/x", NULL, &res), 0);
    assert_int_equal(res.status, 401);
    httpc_result_free(&res);
    assert_int_equal(httpc_request(f->c, "GET", "/v1/things/x", NULL, &res), 0);
    assert_int_equal(res.status, 200);
    assert_string_equal(json_string_value(json_object_get(res.json, "id")), "x");
    httpc_result_free(&res);
    httpc_free(anon);
    httpc_free(wrong);
    httpc_free(shorter);
}

static void
test_json_errors(void **state)
{
    fixture *f = *state;
    httpc_result res;
    json_t *body;
    char req[512], *out;
    const char *bad = "{\"name\": ";

    snprintf(req, sizeof(req),
             "POST /v1/things HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " TOKEN
             "\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
             "Connection: close\r\n\r\n%s", strlen(bad), bad);
    out = raw_request(f->port, req, strlen(req));
    assert_non_null(strstr(out, "HTTP/1.1 400"));
    assert_non_null(strstr(out, "\"code\":\"bad_json\""));
    free(out);

    body = json_pack("{s:s,s:i}", "name", "x", "bogus", 1);
    assert_int_equal(httpc_request(f->c, "POST", "/v1/things", body, &res), 0);
    assert_int_equal(res.status, 400);
    assert_string_equal(err_code(&res), "unknown_field");
    assert_non_null(strstr(res.body, "bogus"));
    httpc_result_free(&res);
    json_decref(body);

    body = json_pack("{s:[]}", "tags");
    assert_int_equal(httpc_request(f->c, "POST", "/v1/things", body, &res), 0);
    assert_int_equal(res.status, 400);
    assert_string_equal(err_code(&res), "missing_field");
    httpc_result_free(&res);
    json_decref(body);

    body = json_pack("[s]", "x");
    assert_int_equal(httpc_request(f->c, "POST", "/v1/things", body, &res), 0);
    assert_int_equal(res.status, 400);
    assert_string_equal(err_code(&res), "bad_request");
    httpc_result_free(&res);
    json_decref(body);

    body = json_pack("{s:s,s:[s]}", "name", "ok", "tags", "a");
    assert_int_equal(httpc_request(f->c, "POST", "/v1/things", body, &res), 0);
    assert_int_equal(res.status, 201);
    assert_string_equal(json_string_value(json_object_get(res.json, "name")), "ok");
    httpc_result_free(&res);
    json_decref(body);
}

static void
test_not_found_and_method(void **state)
{
    fixture *f = *state;
    httpc_result res;

    assert_int_equal(httpc_request(f->c, "GET", "/v1/unknown/route", NULL, &res), 0);
    assert_int_equal(res.status, 404);
    assert_string_equal(err_code(&res), "not_found");
    httpc_result_free(&res);
    assert_int_equal(httpc_request(f->c, "GET", "/elsewhere", NULL, &res), 0);
    assert_int_equal(res.status, 404);
    assert_string_equal(err_code(&res), "not_found");
    httpc_result_free(&res);
    assert_int_equal(httpc_request(f->c, "DELETE", "/v1/things/x", NULL, &res), 0);
    assert_int_equal(res.status, 405);
    assert_string_equal(err_code(&res), "method_not_allowed");
    httpc_result_free(&res);
    assert_int_equal(httpc_request(f->c, "GET", "/v1/things", NULL, &res), 0);
    assert_int_equal(res.status, 405);
    httpc_result_free(&res);
    /* empty segment does not match '*' */
    assert_int_equal(httpc_request(f->c, "GET", "/v1/things/", NULL, &res), 0);
    assert_int_equal(res.status, 404);
    httpc_result_free(&res);
    assert_int_equal(httpc_request(f->c, "PUT", "/v1/silent", NULL, &res), 0);
    assert_int_equal(res.status, 500);
    assert_string_equal(err_code(&res), "internal");
    httpc_result_free(&res);
}

static void
test_too_large(void **state)
{
    fixture *f = *state;
    httpc_result res;
    char big[MAX_BODY * 2], *out;
    json_t *body;
    const char *chunked =
        "POST /v1/things HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " TOKEN "\r\n"
        "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n";
    char req[4096];
    size_t n;

    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    body = json_pack("{s:s}", "name", big);
    assert_int_equal(httpc_request(f->c, "POST", "/v1/things", body, &res), 0);
    assert_int_equal(res.status, 413);
    assert_string_equal(err_code(&res), "payload_too_large");
    httpc_result_free(&res);
    json_decref(body);

    /* chunked: no Content-Length, the limit applies while reading */
    n = (size_t)snprintf(req, sizeof(req), "%s%x\r\n%s\r\n0\r\n\r\n", chunked,
                         (unsigned)strlen(big), big);
    out = raw_request(f->port, req, n);
    assert_non_null(strstr(out, "HTTP/1.1 413"));
    assert_non_null(strstr(out, "payload_too_large"));
    free(out);

    /* the client keeps working afterwards */
    assert_int_equal(httpc_request(f->c, "GET", "/v1/things/y", NULL, &res), 0);
    assert_int_equal(res.status, 200);
    httpc_result_free(&res);
}

static void
test_path_params(void **state)
{
    fixture *f = *state;
    httpc_result res;
    char *a = httpc_escape("list+tag@lists.example");
    char *b = httpc_escape("we/ird %user@x.example");
    char path[512];

    assert_non_null(a);
    assert_non_null(b);
    assert_null(strchr(b, '/'));
    snprintf(path, sizeof(path), "/v1/things/%s/members/%s?page=3", a, b);
    assert_int_equal(httpc_request(f->c, "GET", path, NULL, &res), 0);
    assert_int_equal(res.status, 200);
    assert_string_equal(json_string_value(json_object_get(res.json, "list")),
                        "list+tag@lists.example");
    assert_string_equal(json_string_value(json_object_get(res.json, "member")),
                        "we/ird %user@x.example");
    assert_string_equal(json_string_value(json_object_get(res.json, "page")), "3");
    httpc_result_free(&res);

    snprintf(path, sizeof(path), "/v1/things/%s", a);
    assert_int_equal(httpc_request(f->c, "GET", path, NULL, &res), 0);
    assert_string_equal(json_string_value(json_object_get(res.json, "path")),
                        "/v1/things/list+tag@lists.example");
    httpc_result_free(&res);

    /* %00 and broken escapes are refused */
    assert_int_equal(httpc_request(f->c, "GET", "/v1/things/a%00b", NULL, &res), 0);
    assert_int_equal(res.status, 400);
    httpc_result_free(&res);
    assert_int_equal(httpc_request(f->c, "GET", "/v1/things/a%zz", NULL, &res), 0);
    assert_int_equal(res.status, 400);
    httpc_result_free(&res);
    free(a);
    free(b);
}

static void
test_listen_parse(void **state)
{
    static const char *const bad[] = { "nonsense", "127.0.0.1:", "[::1]9000",
                                       "127.0.0.1:99999", "1.2.3.4.5:80" };
    char err[256];

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        http_server_opts o = { .listen = bad[i], .admin_token = TOKEN };
        http_server *s = http_server_create(&o);
        err[0] = '\0';
        assert_int_equal(http_server_start(s, err, sizeof(err)), -1);
        assert_true(err[0] != '\0');
        http_server_stop(s);
    }
}

static void
test_client_transport_error(void **state)
{
    char base[64];
    httpc *c;
    httpc_result res;

    (void)state;
    snprintf(base, sizeof(base), "http://127.0.0.1:%d", free_port());
    c = httpc_create(base, TOKEN, 2000);
    assert_int_equal(httpc_request(c, "GET", "/healthz", NULL, &res), -1);
    assert_int_equal(res.status, 0);
    assert_true(res.error[0] != '\0');
    httpc_result_free(&res);
    httpc_free(c);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_health_ready),
        cmocka_unit_test(test_metrics_endpoint),
        cmocka_unit_test(test_auth),
        cmocka_unit_test(test_json_errors),
        cmocka_unit_test(test_not_found_and_method),
        cmocka_unit_test(test_too_large),
        cmocka_unit_test(test_path_params),
        cmocka_unit_test(test_listen_parse),
        cmocka_unit_test(test_client_transport_error),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
