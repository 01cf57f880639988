/*
 * test_httpc_raw.c - unit tests of httpc_post_raw() (libcommon/httpc.c):
 * a raw, binary-safe body and the caller's header lines reach a loopback
 * peer byte for byte (a one-shot TCP server in a thread records the
 * request), the JSON reply is parsed, and header lines with CR/LF or
 * without a colon are refused before anything is sent.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include "httpc.h"

typedef struct peer {
    int       lfd;
    int       port;
    pthread_t t;
    char      req[8192];     /* the request as received */
    size_t    len;
} peer;

/* Reads one request (headers + Content-Length body), answers JSON. */
static void *peer_main(void *arg)
{
    peer *p = arg;
    int fd = accept(p->lfd, NULL, NULL);
    if (fd < 0)
        return NULL;
    size_t want = 0;
    for (;;) {
        ssize_t r = read(fd, p->req + p->len, sizeof p->req - 1 - p->len);
        if (r <= 0)
            break;
        p->len += (size_t)r;
        p->req[p->len] = '\0';
        char *end = strstr(p->req, "\r\n\r\n");
        if (end != NULL && want == 0) {
            char *cl = strcasestr(p->req, "\r\nContent-Length:");
            want = (size_t)(end + 4 - p->req) + (cl ? strtoul(cl + 17, NULL, 10) : 0);
        }
        if (want != 0 && p->len >= want)
            break;
    }
    static const char reply[] = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                                "Content-Length: 11\r\nConnection: close\r\n\r\n{\"ok\":true}";
    ssize_t w = write(fd, reply, sizeof reply - 1);
    (void)w;
    close(fd);
    return NULL;
}

static void peer_start(peer *p)
{
    struct sockaddr_in sa = { .sin_family = AF_INET };
    socklen_t len = sizeof sa;
    memset(p, 0, sizeof *p);
    p->lfd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(p->lfd >= 0);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(p->lfd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(listen(p->lfd, 1), 0);
    assert_int_equal(getsockname(p->lfd, (struct sockaddr *)&sa, &len), 0);
    p->port = ntohs(sa.sin_port);
    assert_int_equal(pthread_create(&p->t, NULL, peer_main, p), 0);
}

static void test_raw_body_and_headers(void **state)
{
    (void)state;
    peer p;
    peer_start(&p);
    char base[64];
    snprintf(base, sizeof base, "http://127.0.0.1:%d", p.port);
    httpc *c = httpc_create(base, NULL, 5000);
    assert_non_null(c);
    static const char body[] = "Subject: x\r\n\r\nbinary \0 byte\r\n";
    const char *hdrs[] = { "IP: 192.0.2.1", "Rcpt: <a@example.test>",
                           "Rcpt: <b@example.test>" };
    httpc_result res;
    assert_int_equal(httpc_post_raw(c, "/checkv2", hdrs, 3, body, sizeof body - 1, &res), 0);
    assert_int_equal(pthread_join(p.t, NULL), 0);
    close(p.lfd);
    assert_int_equal(res.status, 200);
    assert_true(json_is_true(json_object_get(res.json, "ok")));
    httpc_result_free(&res);
    httpc_free(c);

    assert_memory_equal(p.req, "POST /checkv2 HTTP/1.1\r\n", 24);
    assert_non_null(strstr(p.req, "\r\nIP: 192.0.2.1\r\n"));
    assert_non_null(strstr(p.req, "\r\nRcpt: <a@example.test>\r\nRcpt: <b@example.test>\r\n"));
    char cl[64];
    snprintf(cl, sizeof cl, "\r\nContent-Length: %zu\r\n", sizeof body - 1);
    assert_non_null(strstr(p.req, cl));
    assert_null(strcasestr(p.req, "Expect:"));
    char *sep = strstr(p.req, "\r\n\r\n");
    assert_non_null(sep);
    assert_int_equal(p.len - (size_t)(sep + 4 - p.req), sizeof body - 1);
    assert_memory_equal(sep + 4, body, sizeof body - 1);      /* the NUL too */
}

static void test_bad_header_lines_refused(void **state)
{
    (void)state;
    httpc *c = httpc_create("http://127.0.0.1:1", NULL, 1000);
    assert_non_null(c);
    const char *crlf[] = { "Helo: x\r\nX-Injected: 1" };
    const char *nocolon[] = { "just text" };
    httpc_result res;
    assert_int_equal(httpc_post_raw(c, "/checkv2", crlf, 1, "x", 1, &res), -1);
    assert_int_equal(res.status, 0);
    assert_string_equal(res.error, "bad request header line");
    httpc_result_free(&res);
    assert_int_equal(httpc_post_raw(c, "/checkv2", nocolon, 1, "x", 1, &res), -1);
    httpc_result_free(&res);
    /* nothing listens on port 1: a transport error, reported */
    assert_int_equal(httpc_post_raw(c, "/checkv2", NULL, 0, "x", 1, &res), -1);
    assert_true(res.error[0] != '\0');
    httpc_result_free(&res);
    httpc_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_raw_body_and_headers),
        cmocka_unit_test(test_bad_header_lines_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
