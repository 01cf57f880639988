/*
 * test_relay_mtasts.c - unit tests for the MTA-STS helpers of the relay
 * (services/relay/relay_mtasts.c): TXT record, policy parser, MX matching.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "../../services/relay/relay_dns.c"
#include "../../services/relay/relay_mtasts.c"

static void test_txt_record(void **state)
{
    (void)state;
    char id[33];
    assert_int_equal(relay_mtasts_txt_id("v=STSv1; id=20160831085700Z;", id, sizeof(id)), 0);
    assert_string_equal(id, "20160831085700Z");
    assert_int_equal(relay_mtasts_txt_id("v=STSv1;id=abc;ext=1", id, sizeof(id)), 0);
    assert_string_equal(id, "abc");
    assert_int_equal(relay_mtasts_txt_id("v=STSv1;", id, sizeof(id)), -1);          /* no id */
    assert_int_equal(relay_mtasts_txt_id("id=abc; v=STSv1", id, sizeof(id)), -1);   /* v first */
    assert_int_equal(relay_mtasts_txt_id("v=STSv1; id=a-b", id, sizeof(id)), -1);   /* alnum */
    assert_int_equal(relay_mtasts_txt_id("v=STSv1; id=012345678901234567890123456789012",
                                         id, sizeof(id)), -1);                       /* > 32 */
    assert_int_equal(relay_mtasts_txt_id("v=spf1 -all", id, sizeof(id)), -1);
}

static void test_policy_parse(void **state)
{
    (void)state;
    relay_sts_policy p;
    char err[128];
    const char *ok = "version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\n"
                     "mx: *.example.net\r\nmx: Backupmx.Example.com\r\nmax_age: 604800\r\n";
    assert_int_equal(relay_mtasts_parse(ok, strlen(ok), &p, err, sizeof(err)), 0);
    assert_int_equal(p.mode, RELAY_STS_ENFORCE);
    assert_int_equal(p.nmx, 3);
    assert_int_equal(p.max_age, 604800);
    assert_string_equal(p.mx[2], "backupmx.example.com");

    assert_true(relay_mtasts_mx_match(&p, "mail.example.com"));
    assert_true(relay_mtasts_mx_match(&p, "MAIL.example.com."));
    assert_true(relay_mtasts_mx_match(&p, "mx1.example.net"));
    assert_false(relay_mtasts_mx_match(&p, "a.b.example.net"));   /* one label only */
    assert_false(relay_mtasts_mx_match(&p, "example.net"));
    assert_false(relay_mtasts_mx_match(&p, "evil-mail.example.com"));

    const char *big = "version: STSv1\nmode: testing\nmx: a.example\nmax_age: 99999999999\n";
    assert_int_equal(relay_mtasts_parse(big, strlen(big), &p, err, sizeof(err)), 0);
    assert_int_equal(p.max_age, RELAY_MTASTS_MAX_AGE);
    assert_int_equal(p.mode, RELAY_STS_TESTING);
    const char *none = "version: STSv1\nmode: none\nmax_age: 1\n";
    assert_int_equal(relay_mtasts_parse(none, strlen(none), &p, err, sizeof(err)), 0);

    static const char *const bad[] = {
        "mode: enforce\nmx: a\nmax_age: 1\n",                       /* no version */
        "version: STSv2\nmode: enforce\nmx: a\nmax_age: 1\n",
        "version: STSv1\nmode: strict\nmx: a\nmax_age: 1\n",
        "version: STSv1\nmode: enforce\nmax_age: 1\n",              /* no mx */
        "version: STSv1\nmode: enforce\nmx: a\nmax_age: -5\n",
        "version: STSv1\nmode: enforce\nmx: a\n",                   /* no max_age */
        "version: STSv1\ngarbage line\n",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (relay_mtasts_parse(bad[i], strlen(bad[i]), &p, err, sizeof(err)) == 0)
            fail_msg("accepted: %s", bad[i]);
    assert_int_equal(relay_mtasts_parse("version: STSv1\0mode: x", 22, &p, err, sizeof(err)),
                     -1);
}

/* TLS-RPT result types of a failed policy fetch (RFC 8460 §4.3.1). */
static void test_fetch_result(void **state)
{
    (void)state;
    assert_string_equal(relay_mtasts_fetch_result(CURLE_PEER_FAILED_VERIFICATION, 0, 0, 0),
                        "sts-webpki-invalid");
    assert_string_equal(relay_mtasts_fetch_result(CURLE_COULDNT_CONNECT, 0, 0, 0),
                        "sts-policy-fetch-error");
    assert_string_equal(relay_mtasts_fetch_result(CURLE_OPERATION_TIMEDOUT, 0, 0, 0),
                        "sts-policy-fetch-error");
    assert_string_equal(relay_mtasts_fetch_result(0, 404, 0, 0), "sts-policy-fetch-error");
    assert_string_equal(relay_mtasts_fetch_result(0, 301, 0, 0), "sts-policy-fetch-error");
    assert_string_equal(relay_mtasts_fetch_result(0, 200, 0, 1), "sts-policy-invalid");
    assert_string_equal(relay_mtasts_fetch_result(0, 200, 1, 0), "sts-policy-invalid");
    assert_null(relay_mtasts_fetch_result(0, 200, 1, 1));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_txt_record),
        cmocka_unit_test(test_policy_parse),
        cmocka_unit_test(test_fetch_result),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
