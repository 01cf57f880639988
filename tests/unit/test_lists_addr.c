/*
 * test_lists_addr.c - unit tests for the pure address and text helpers of
 * the lists service (services/lists/lists_addr.c) and libcommon/utf8.c: address
 * validation, -bounces/-request roles, the From header's mailbox, and the
 * UTF-8 clean-up of held-post text.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "utf8.h"
#include "../../services/lists/lists_addr.c"

static void test_normalize(void **state)
{
    (void)state;
    static const struct { const char *in, *want; } cases[] = {
        { "Dev@Example.TEST", "dev@example.test" },
        { "a.b+c@x.test", "a.b+c@x.test" },
        { "", NULL },
        { "nodomain", NULL },
        { "a@", NULL },
        { "@b.test", NULL },
        { "a b@c.test", NULL },
        { "a@b.test>", NULL },
        { "<a@b.test>", NULL },
        { "a@b.test\r\nBcc: x@y", NULL },
        { "a%b@c.test", NULL },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char out[LISTS_ADDR_MAX + 1];
        int rc = lists_addr_normalize(cases[i].in, out, sizeof out);
        if (cases[i].want == NULL) {
            assert_int_equal(rc, -1);
        } else {
            assert_int_equal(rc, 0);
            assert_string_equal(out, cases[i].want);
        }
    }
    char long_addr[400];
    memset(long_addr, 'a', sizeof long_addr - 1);
    long_addr[sizeof long_addr - 1] = '\0';
    long_addr[10] = '@';
    char out[LISTS_ADDR_MAX + 1];
    assert_int_equal(lists_addr_normalize(long_addr, out, sizeof out), -1);
}

static void test_role(void **state)
{
    (void)state;
    static const struct { const char *in; int role; const char *base; } cases[] = {
        { "dev@example.test", LISTS_ROLE_POST, "dev@example.test" },
        { "dev-bounces@example.test", LISTS_ROLE_BOUNCES, "dev@example.test" },
        { "dev-request@example.test", LISTS_ROLE_REQUEST, "dev@example.test" },
        { "DEV-Request@example.test", LISTS_ROLE_REQUEST, "DEV@example.test" },
        { "-bounces@example.test", LISTS_ROLE_POST, "-bounces@example.test" },
        { "dev-bouncesx@example.test", LISTS_ROLE_POST, "dev-bouncesx@example.test" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char base[LISTS_ADDR_MAX + 1];
        assert_int_equal(lists_addr_role(cases[i].in, base, sizeof base), cases[i].role);
        assert_string_equal(base, cases[i].base);
    }
    char tiny[4];
    assert_int_equal(lists_addr_role("dev-bounces@example.test", tiny, sizeof tiny), -1);

    char out[64];
    assert_int_equal(lists_addr_with_suffix("dev@example.test", "-bounces", out, sizeof out), 0);
    assert_string_equal(out, "dev-bounces@example.test");
    assert_int_equal(lists_addr_with_suffix("dev@example.test", "-bounces", out, 10), -1);
    assert_int_equal(lists_addr_with_suffix("dev", "-bounces", out, sizeof out), -1);

    char lp[32], dom[32];
    assert_int_equal(lists_addr_split("dev@example.test", lp, sizeof lp, dom, sizeof dom), 0);
    assert_string_equal(lp, "dev");
    assert_string_equal(dom, "example.test");
}

static void test_from_header(void **state)
{
    (void)state;
    static const struct { const char *in, *want; } cases[] = {
        { "Alice <Alice@Example.ORG>", "alice@example.org" },
        { "alice@example.org", "alice@example.org" },
        { "  alice@example.org (Alice A.) ", "alice@example.org" },
        { "\"Doe, John\" <jd@example.org>", "jd@example.org" },
        { "\"a <fake@x>\" <real@example.org>", "real@example.org" },
        { "(c <x@y>) real@example.org", "real@example.org" },
        { "a@example.org, b@example.org", "a@example.org" },
        { "Team: a@example.org, b@example.org;", "a@example.org" },
        { "=?UTF-8?B?w7w=?= <u@example.org>", "u@example.org" },
        { "", NULL },
        { "Nobody", NULL },
        { "Broken <a@b", NULL },
        { "undisclosed-recipients:;", NULL },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *got = lists_addr_from_header(cases[i].in);
        if (cases[i].want == NULL) {
            assert_null(got);
        } else {
            assert_non_null(got);
            assert_string_equal(got, cases[i].want);
        }
        free(got);
    }
    assert_null(lists_addr_from_header(NULL));
}

static void test_text_clean(void **state)
{
    (void)state;
    static const struct { const char *in; size_t len, max; const char *want; } cases[] = {
        { "plain", 5, 100, "plain" },
        { "caf\xc3\xa9", 5, 100, "caf\xc3\xa9" },
        { "bad\xff!", 5, 100, "bad\xef\xbf\xbd!" },
        { "nul\0x", 5, 100, "nulx" },
        { "\xc0\xaf", 2, 100, "\xef\xbf\xbd\xef\xbf\xbd" },          /* overlong */
        { "\xed\xa0\x80", 3, 100, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd" }, /* surrogate */
        { "trunc\xe2\x82", 7, 100, "trunc\xef\xbf\xbd\xef\xbf\xbd" },
        { "ab\xc3\xa9", 4, 3, "ab" },          /* never split a character */
        { "abcdef", 6, 4, "abcd" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *got = utf8_clean(cases[i].in, cases[i].len, cases[i].max);
        assert_string_equal(got, cases[i].want);
        free(got);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_normalize),
        cmocka_unit_test(test_role),
        cmocka_unit_test(test_from_header),
        cmocka_unit_test(test_text_clean),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
