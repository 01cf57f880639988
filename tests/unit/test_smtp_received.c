/*
 * test_smtp_received.c - the Received: header mx prepends
 * (services/mx/smtp_received.c) and the recipient cache and answer mapping
 * of services/mx/rcpt_check.c (no network: rcpt_check_map and the cache).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>
#include "../../services/mx/smtp_received.c"
#include "../../services/mx/rcpt_check.c"

static void test_date(void **state)
{
    (void)state;
    char d[64];
    smtp_received_date(0, d, sizeof d);
    assert_string_equal(d, "Thu, 1 Jan 1970 00:00:00 +0000");
    smtp_received_date(1795330800, d, sizeof d);     /* 2026-11-22 07:00:00 UTC */
    assert_string_equal(d, "Sun, 22 Nov 2026 07:00:00 +0000");
}

static void test_received(void **state)
{
    (void)state;
    buf b;
    buf_init(&b, 4096);
    assert_int_equal(smtp_received_format(&b, "client.example", "192.0.2.7", "mx.example",
                                          "ESMTPS", "ABCDEF123456", "a@b.example", 0), 0);
    assert_string_equal(b.data,
        "Received: from client.example ([192.0.2.7]) by mx.example (Mailyard) with ESMTPS"
        " id ABCDEF123456\r\n\tfor <a@b.example>; Thu, 1 Jan 1970 00:00:00 +0000\r\n");
    buf_reset(&b);
    assert_int_equal(smtp_received_format(&b, "c", "2001:db8::1", "mx.example", "ESMTP",
                                          "Q", NULL, 0), 0);
    assert_string_equal(b.data,
        "Received: from c ([IPv6:2001:db8::1]) by mx.example (Mailyard) with ESMTP id Q;\r\n"
        "\tThu, 1 Jan 1970 00:00:00 +0000\r\n");
    buf_release(&b);
    buf_init(&b, 20);                  /* too small: soft failure */
    assert_int_equal(smtp_received_format(&b, "c", "1.2.3.4", "h", "SMTP", "Q", NULL, 0), -1);
    buf_release(&b);
}

static void test_rcpt_map(void **state)
{
    (void)state;
    httpc_result r;
    memset(&r, 0, sizeof r);
    r.status = 404;
    assert_int_equal(rcpt_check_map(&r), SMTP_RCPT_UNKNOWN);
    r.status = 0;
    assert_int_equal(rcpt_check_map(&r), SMTP_RCPT_TEMPFAIL);
    r.status = 500;
    assert_int_equal(rcpt_check_map(&r), SMTP_RCPT_TEMPFAIL);
    r.status = 401;
    assert_int_equal(rcpt_check_map(&r), SMTP_RCPT_TEMPFAIL);
    r.status = 200;
    assert_int_equal(rcpt_check_map(&r), SMTP_RCPT_TEMPFAIL);       /* no JSON */
    r.json = json_pack("{s:s, s:s}", "address", "a@b", "class", "alias");
    assert_int_equal(rcpt_check_map(&r), SMTP_RCPT_ACCEPT);
    json_decref(r.json);
    r.json = json_pack("{s:s}", "class", "list");
    assert_int_equal(rcpt_check_map(&r), SMTP_RCPT_ACCEPT);
    json_decref(r.json);
    r.json = json_pack("{s:s}", "class", "foreign");
    assert_int_equal(rcpt_check_map(&r), SMTP_RCPT_RELAY_DENIED);
    json_decref(r.json);
    r.json = json_pack("{s:i}", "class", 3);
    assert_int_equal(rcpt_check_map(&r), SMTP_RCPT_TEMPFAIL);
    json_decref(r.json);
}

static void test_rcpt_cache(void **state)
{
    (void)state;
    rcpt_cache *c = rcpt_cache_create(30, 3);
    enum smtp_rcpt_verdict v;
    assert_int_equal(rcpt_cache_get(c, "a@b", 100, &v), 0);
    rcpt_cache_put(c, "A@B", 100, SMTP_RCPT_UNKNOWN);
    assert_int_equal(rcpt_cache_get(c, "a@b", 129, &v), 1);
    assert_int_equal(v, SMTP_RCPT_UNKNOWN);
    assert_int_equal(rcpt_cache_get(c, "a@b", 130, &v), 0);            /* expired */
    rcpt_cache_put(c, "t@b", 100, SMTP_RCPT_TEMPFAIL);                  /* never cached */
    assert_int_equal(rcpt_cache_get(c, "t@b", 101, &v), 0);
    for (int i = 0; i < 10; i++) {                                      /* bounded */
        char a[32];
        snprintf(a, sizeof a, "u%d@b", i);
        rcpt_cache_put(c, a, 200, SMTP_RCPT_ACCEPT);
        assert_true(c->n <= 3);
    }
    assert_int_equal(rcpt_cache_get(c, "u9@b", 201, &v), 1);
    assert_int_equal(v, SMTP_RCPT_ACCEPT);
    rcpt_cache_free(c);

    c = rcpt_cache_create(0, 10);                                       /* disabled */
    rcpt_cache_put(c, "a@b", 100, SMTP_RCPT_ACCEPT);
    assert_int_equal(rcpt_cache_get(c, "a@b", 100, &v), 0);
    rcpt_cache_free(c);
    rcpt_cache_free(NULL);
    /* no client: tempfail, never 550 */
    assert_int_equal(rcpt_check(NULL, NULL, "a@b.example"), SMTP_RCPT_TEMPFAIL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_date),
        cmocka_unit_test(test_received),
        cmocka_unit_test(test_rcpt_map),
        cmocka_unit_test(test_rcpt_cache),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
