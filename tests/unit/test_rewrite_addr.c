/*
 * test_rewrite_addr.c - unit tests for rewrite's address and domain
 * validation (services/rewrite/rewrite_addr.c), table-driven.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "../../services/rewrite/rewrite_addr.c"

static void test_normalize_table(void **state)
{
    (void)state;
    static const struct { const char *in; const char *out; } cases[] = {
        { "a@b.test",                 "a@b.test" },
        { "Alice.Smith@Example.TEST", "alice.smith@example.test" },
        { "x+tag@sub-1.example.test", "x+tag@sub-1.example.test" },
        { "SRS0=HHHH=TT=far.test=u@ours.test", "srs0=hhhh=tt=far.test=u@ours.test" },
        { "",                         NULL },
        { "no-at-sign",               NULL },
        { "@b.test",                  NULL },
        { "a@",                       NULL },
        { "<a@b.test>",               NULL },
        { "a@b.test>",                NULL },
        { "a b@c.test",               NULL },
        { "a%b@c.test",               NULL },
        { "a!b@c.test",               NULL },
        { "a@-bad.test",              NULL },
        { "a@bad-.test",              NULL },
        { "a@b..test",                NULL },
        { "a@b_c.test",               NULL },
        { "a@[127.0.0.1]",            NULL },
        { "@a,@b:u@d.test",           NULL },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char out[REWRITE_ADDR_MAX + 1];
        const char *why = NULL;
        int rc = rewrite_addr_normalize(cases[i].in, out, sizeof(out), &why);
        if (cases[i].out == NULL) {
            if (rc != -1)
                fail_msg("accepted %s", cases[i].in);
            assert_non_null(why);
        } else {
            if (rc != 0)
                fail_msg("refused %s: %s", cases[i].in, why);
            assert_string_equal(out, cases[i].out);
        }
    }
}

static void test_check_keeps_case(void **state)
{
    (void)state;
    char out[REWRITE_ADDR_MAX + 1];
    const char *why = NULL;
    assert_int_equal(rewrite_addr_check("Bob.Smith@Far.Example", out, sizeof(out), &why), 0);
    assert_string_equal(out, "Bob.Smith@Far.Example");
    assert_int_equal(rewrite_addr_check("Bob@bad_domain", out, sizeof(out), &why), -1);
    assert_non_null(why);
    /* too small an output buffer is refused, not truncated */
    assert_int_equal(rewrite_addr_check("bob@far.example", out, 5, &why), -1);
}

static void test_normalize_lengths(void **state)
{
    (void)state;
    char in[400], out[REWRITE_ADDR_MAX + 1];
    const char *why;
    /* local part of 65 octets is over the RFC 5321 limit */
    memset(in, 'a', 65);
    memcpy(in + 65, "@b.test", sizeof("@b.test"));
    assert_int_equal(rewrite_addr_normalize(in, out, sizeof(out), &why), -1);
    /* 64 is fine */
    memmove(in, in + 1, strlen(in));
    assert_int_equal(rewrite_addr_normalize(in, out, sizeof(out), &why), 0);
    /* longer than a path at all */
    memset(in, 'a', 300);
    in[300] = '\0';
    in[10] = '@';
    assert_int_equal(rewrite_addr_normalize(in, out, sizeof(out), &why), -1);
}

static void test_domain_table(void **state)
{
    (void)state;
    static const struct { const char *in; int ok; } cases[] = {
        { "example.test", 1 }, { "EXAMPLE.Test", 1 }, { "localhost", 1 },
        { "a-b.c-d.test", 1 }, { "x1.test", 1 },
        { "", 0 }, { ".test", 0 }, { "test.", 0 }, { "a..b", 0 }, { "-a.test", 0 },
        { "a-.test", 0 }, { "a_b.test", 0 }, { "a b.test", 0 }, { "a@b.test", 0 },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        if (rewrite_addr_domain_valid(cases[i].in) != cases[i].ok)
            fail_msg("domain %s: expected %d", cases[i].in, cases[i].ok);

    char label[70], name[300], out[256];
    memset(label, 'a', 64);
    label[64] = '\0';
    snprintf(name, sizeof(name), "%s.test", label);
    assert_int_equal(rewrite_addr_domain_valid(name), 0);      /* 64-octet label */
    label[63] = '\0';
    snprintf(name, sizeof(name), "%s.test", label);
    assert_int_equal(rewrite_addr_domain_valid(name), 1);
    assert_int_equal(rewrite_addr_domain_normalize("Mail.Example.TEST", out, sizeof(out)), 0);
    assert_string_equal(out, "mail.example.test");
    assert_int_equal(rewrite_addr_domain_normalize("bad_domain", out, sizeof(out)), -1);
    assert_int_equal(rewrite_addr_domain_normalize("example.test", out, 5), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_normalize_table),
        cmocka_unit_test(test_check_keeps_case),
        cmocka_unit_test(test_normalize_lengths),
        cmocka_unit_test(test_domain_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
