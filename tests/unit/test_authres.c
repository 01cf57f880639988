/*
 * test_authres.c - unit tests for libcommon/authres.c (Authentication-
 * Results, RFC 8601): building (quoting, comments, folding), reading the
 * authserv-id and method results, and removing fields claiming our id.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "authres.h"

static void test_build(void **state)
{
    (void)state;
    authres_builder a;
    char *v;

    authres_begin(&a, "mx.example.net", 0);
    assert_int_equal(authres_add(&a, "spf", "pass", NULL, "smtp.mailfrom", "u@example.com",
                                 (const char *)NULL), 0);
    assert_int_equal(authres_add(&a, "dkim", "pass", "good (really) sig\\", "header.d",
                                 "example.com", "header.s", "sel", "header.b", "ab/c+d=",
                                 "header.a", "", (const char *)NULL), 0);
    assert_int_equal(authres_add(&a, "dmarc", "pass", NULL, "header.from", "example.com",
                                 (const char *)NULL), 0);
    assert_int_equal(authres_add(&a, "arc", "none", NULL, (const char *)NULL), 0);
    v = authres_finish(&a);
    assert_string_equal(v, "mx.example.net; spf=pass smtp.mailfrom=u@example.com; "
                           "dkim=pass (good really sig) header.d=example.com header.s=sel "
                           "header.b=\"ab/c+d=\"; dmarc=pass header.from=example.com; arc=none");
    free(v);

    authres_begin(&a, "mx.example.net", 1);
    assert_int_equal(authres_add(&a, "spf", "fail", NULL, "smtp.mailfrom",
                                 "\"odd local\"@example.com", (const char *)NULL), 0);
    assert_int_equal(authres_add(&a, "dmarc", "fail", NULL, (const char *)NULL), 0);
    v = authres_finish(&a);
    assert_string_equal(v, "mx.example.net;\r\n\tspf=fail smtp.mailfrom=\"\\\"odd local\\\"@example.com\";"
                           "\r\n\tdmarc=fail");
    free(v);

    authres_begin(&a, "mx.example.net", 0);
    v = authres_finish(&a);
    assert_string_equal(v, "mx.example.net; none");
    free(v);
}

static void test_parse(void **state)
{
    (void)state;
    char id[64];
    authres_entry e[4];

    assert_int_equal(authres_authserv_id("  (comment (nested)) mx.example.net ; spf=pass", id,
                                         sizeof(id)), 0);
    assert_string_equal(id, "mx.example.net");
    assert_int_equal(authres_authserv_id("\"quoted.id\"; none", id, sizeof(id)), 0);
    assert_string_equal(id, "quoted.id");
    assert_int_equal(authres_authserv_id("mx.example.net 1; none", id, sizeof(id)), 0);
    assert_string_equal(id, "mx.example.net");
    assert_int_equal(authres_authserv_id("   ", id, sizeof(id)), -1);
    assert_int_equal(authres_authserv_id("; spf=pass", id, sizeof(id)), -1);
    assert_int_equal(authres_authserv_id("averyveryverylongidentifier", id, 8), -1);

    int n = authres_parse("mx.example.net; SPF=Pass (a;b) smtp.mailfrom=\"x;y\"@e.com;\r\n\t"
                          "dkim/1 = fail header.d=e.com; none; dmarc=none", e, 4);
    assert_int_equal(n, 3);
    assert_string_equal(e[0].method, "spf");
    assert_string_equal(e[0].result, "pass");
    assert_string_equal(e[1].method, "dkim");
    assert_string_equal(e[1].result, "fail");
    assert_string_equal(e[2].method, "dmarc");
    assert_int_equal(authres_parse("mx; spf=pass; dkim=pass; dmarc=pass", e, 2), 2);
    assert_int_equal(authres_parse("", e, 2), -1);
}

static void test_remove_ours(void **state)
{
    (void)state;
    const char *msg =
        "Authentication-Results: MX.Example.NET; spf=pass\r\n"
        "Received: from a by b\r\n"
        "Authentication-Results: other.example; dkim=pass\r\n"
        "Authentication-Results: (forged)\r\n mx.example.net; dmarc=pass\r\n"
        "Subject: hi\r\n"
        "\r\n"
        "body\r\n";
    enum hdr_error err;
    hdr_msg *m = hdr_parse(msg, strlen(msg), 100, 4096, &err);
    assert_non_null(m);
    assert_int_equal(authres_remove_ours(m, "mx.example.net"), 2);
    assert_int_equal(hdr_count(m, "Authentication-Results"), 1);
    char *v = hdr_get_value(m, "Authentication-Results");
    assert_string_equal(v, "other.example; dkim=pass");
    free(v);
    assert_int_equal(authres_remove_ours(m, "mx.example.net"), 0);
    hdr_msg_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_build),
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_remove_ours),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
