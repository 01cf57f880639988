/*
 * test_addr.c - unit tests for libcommon/addr.c (SMTP path parsing).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "addr.h"

struct path_case {
    const char     *text;
    int             allow_null;
    enum addr_error want;
    const char     *out;        /* expected mailbox when ADDR_OK */
    size_t          consumed;
};

static void test_parse_table(void **state)
{
    (void)state;
    static const struct path_case cases[] = {
        { "<a@b.example>", 0, ADDR_OK, "a@b.example", 13 },
        { "<a@b.example> SIZE=100", 0, ADDR_OK, "a@b.example", 13 },
        { "<First.Last+tag@Sub.Example.COM>", 0, ADDR_OK, "First.Last+tag@Sub.Example.COM", 32 },
        { "<postmaster@localhost>", 0, ADDR_OK, "postmaster@localhost", 22 },
        { "<x{y}=z#'*/?^`|~&$@a-b.c1>", 0, ADDR_OK, "x{y}=z#'*/?^`|~&$@a-b.c1", 26 },
        { "<\"john doe\"@example.org>", 0, ADDR_OK, "\"john doe\"@example.org", 24 },
        { "<\"a\\\"b@c\"@example.org>", 0, ADDR_OK, "\"a\\\"b@c\"@example.org", 22 },
        { "<u@[192.0.2.1]>", 0, ADDR_OK, "u@[192.0.2.1]", 15 },
        { "<u@[IPv6:2001:db8::1]>", 0, ADDR_OK, "u@[IPv6:2001:db8::1]", 22 },
        { "<u@[ipv6:::1]>", 0, ADDR_OK, "u@[ipv6:::1]", 14 },
        { "<>", 1, ADDR_OK, "", 2 },
        { "<> BODY=8BITMIME", 1, ADDR_OK, "", 2 },
        { "<>", 0, ADDR_NULL_REFUSED, NULL, 0 },
        /* routing */
        { "<@relay.example:u@d.example>", 0, ADDR_ROUTE, NULL, 0 },
        { "<@a,@b:u@d.example>", 0, ADDR_ROUTE, NULL, 0 },
        { "<u%other.example@d.example>", 0, ADDR_ROUTE, NULL, 0 },
        { "<other!u@d.example>", 0, ADDR_ROUTE, NULL, 0 },
        { "<\"u%x\"@d.example>", 0, ADDR_ROUTE, NULL, 0 },
        { "<\"u\\!x\"@d.example>", 0, ADDR_ROUTE, NULL, 0 },
        /* syntax */
        { "a@b.example", 0, ADDR_SYNTAX, NULL, 0 },
        { "<a@b.example", 0, ADDR_SYNTAX, NULL, 0 },
        { "<a@b.example >", 0, ADDR_SYNTAX, NULL, 0 },
        { "< a@b.example>", 0, ADDR_SYNTAX, NULL, 0 },
        { "<ab.example>", 0, ADDR_SYNTAX, NULL, 0 },
        { "<a@>", 0, ADDR_SYNTAX, NULL, 0 },
        { "<@>", 0, ADDR_ROUTE, NULL, 0 },
        { "<a@@b>", 0, ADDR_SYNTAX, NULL, 0 },
        { "<a@b@c>", 0, ADDR_SYNTAX, NULL, 0 },
        { "<.a@b>", 0, ADDR_SYNTAX, NULL, 0 },
        { "<a.@b>", 0, ADDR_SYNTAX, NULL, 0 },
        { "<a..b@c>", 0, ADDR_SYNTAX, NULL, 0 },
        { "<a@b..c>", 0, ADDR_SYNTAX, NULL, 0 },
        { "<a@.b>", 0, ADDR_SYNTAX, NULL, 0 },
        { "<a@b.>", 0, ADDR_SYNTAX, NULL, 0 },
        { "<a@-b.c>", 0, ADDR_SYNTAX, NULL, 0 },
        { "<a@b-.c>", 0, ADDR_SYNTAX, NULL, 0 },
        { "<a@b_c.d>", 0, ADDR_SYNTAX, NULL, 0 },
        { "<a b@c>", 0, ADDR_SYNTAX, NULL, 0 },
        { "<\"ab@c>", 0, ADDR_SYNTAX, NULL, 0 },
        { "<\"\"@c>", 0, ADDR_SYNTAX, NULL, 0 },
        { "<\"a\tb\"@c>", 0, ADDR_SYNTAX, NULL, 0 },
        { "<a\x80@c>", 0, ADDR_SYNTAX, NULL, 0 },
        { "<u@[300.0.2.1]>", 0, ADDR_SYNTAX, NULL, 0 },
        { "<u@[IPv6:2001:db8::g]>", 0, ADDR_SYNTAX, NULL, 0 },
        { "<u@[2001:db8::1]>", 0, ADDR_SYNTAX, NULL, 0 },
        { "<u@[192.0.2.1>", 0, ADDR_SYNTAX, NULL, 0 },
        { "", 0, ADDR_SYNTAX, NULL, 0 },
        { "<", 0, ADDR_SYNTAX, NULL, 0 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const struct path_case *c = &cases[i];
        char out[300];
        size_t consumed = 12345;
        enum addr_error e = addr_parse_path(c->text, c->allow_null, out, sizeof out, &consumed);
        if (e != c->want)
            fail_msg("case %zu \"%s\": got %s, want %s", i, c->text, addr_error_text(e),
                     addr_error_text(c->want));
        if (e == ADDR_OK) {
            assert_string_equal(out, c->out);
            assert_int_equal(consumed, c->consumed);
        } else {
            assert_int_equal(consumed, 0);
        }
    }
}

static char *repeat(char ch, size_t n)
{
    char *s = malloc(n + 1);
    assert_non_null(s);
    memset(s, ch, n);
    s[n] = '\0';
    return s;
}

static void test_limits(void **state)
{
    (void)state;
    char text[600], out[300];
    size_t used;
    char *l64 = repeat('l', 64), *l65 = repeat('l', 65);
    char *lab63 = repeat('d', 63), *lab64 = repeat('d', 64);

    snprintf(text, sizeof text, "<%s@x.example>", l64);
    assert_int_equal(addr_parse_path(text, 0, out, sizeof out, &used), ADDR_OK);
    snprintf(text, sizeof text, "<%s@x.example>", l65);
    assert_int_equal(addr_parse_path(text, 0, out, sizeof out, &used), ADDR_TOO_LONG);
    snprintf(text, sizeof text, "<a@%s.example>", lab63);
    assert_int_equal(addr_parse_path(text, 0, out, sizeof out, &used), ADDR_OK);
    snprintf(text, sizeof text, "<a@%s.example>", lab64);
    assert_int_equal(addr_parse_path(text, 0, out, sizeof out, &used), ADDR_TOO_LONG);

    /* domain of 63+1+63+1+63+1+61 = 253; path = 64 + 1 + 253 + 2 = 320 > 256 */
    snprintf(text, sizeof text, "<%s@%s.%s.%s.%.61s>", l64, lab63, lab63, lab63, lab63);
    assert_int_equal(addr_parse_path(text, 0, out, sizeof out, &used), ADDR_TOO_LONG);
    /* path of exactly 256: local 62 + '@' + domain 191 + brackets */
    snprintf(text, sizeof text, "<%.62s@%s.%s.%.63s>", l64, lab63, lab63, lab63);
    assert_int_equal(strlen(text), 256);
    assert_int_equal(addr_parse_path(text, 0, out, sizeof out, &used), ADDR_OK);
    assert_int_equal(used, 256);
    snprintf(text, sizeof text, "<%.63s@%s.%s.%.63s>", l64, lab63, lab63, lab63);
    assert_int_equal(addr_parse_path(text, 0, out, sizeof out, &used), ADDR_TOO_LONG);
    /* domain over 255 octets */
    snprintf(text, sizeof text, "<a@%s.%s.%s.%s.%s>", lab63, lab63, lab63, lab63, lab63);
    assert_int_equal(addr_parse_path(text, 0, out, sizeof out, &used), ADDR_TOO_LONG);
    /* out buffer too small */
    assert_int_equal(addr_parse_path("<a@b.example>", 0, out, 11, &used), ADDR_TOO_LONG);
    assert_int_equal(addr_parse_path("<a@b.example>", 0, out, 12, &used), ADDR_OK);
    free(l64);
    free(l65);
    free(lab63);
    free(lab64);
}

static void test_domain_lower(void **state)
{
    (void)state;
    assert_string_equal(addr_domain("a@B.example"), "B.example");
    assert_string_equal(addr_domain("\"x@y\"@z.example"), "z.example");
    assert_null(addr_domain("nodomain"));
    assert_string_equal(addr_domain("a@"), "");
    char *l = addr_lower("Alice.SMITH@Example.ORG");
    assert_string_equal(l, "alice.smith@example.org");
    free(l);
    for (int e = ADDR_OK; e <= ADDR_NULL_REFUSED; e++)
        assert_true(strlen(addr_error_text((enum addr_error)e)) > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_table),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_domain_lower),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
