/*
 * test_relay_dane.c - unit tests for the TLSA rdata check of the relay's
 * DANE support (services/relay/relay_dane.c): usable DANE-TA/DANE-EE
 * records, unusable PKIX usages and unknown parameters, malformed rdata.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "../../services/relay/relay_dane.c"

static size_t rd(unsigned char *out, int usage, int sel, int mtype, size_t datalen)
{
    out[0] = (unsigned char)usage;
    out[1] = (unsigned char)sel;
    out[2] = (unsigned char)mtype;
    memset(out + 3, 0xab, datalen);
    return datalen + 3;
}

static void test_tlsa_usable(void **state)
{
    (void)state;
    unsigned char b[4096];
    relay_tlsa t;
    assert_int_equal(relay_dane_tlsa_parse(b, rd(b, 3, 1, 1, 32), &t), 1);
    assert_int_equal(t.usage, 3);
    assert_int_equal(t.selector, 1);
    assert_int_equal(t.mtype, 1);
    assert_int_equal(t.len, 32);
    assert_ptr_equal(t.data, b + 3);
    assert_int_equal(relay_dane_tlsa_parse(b, rd(b, 2, 0, 2, 64), &t), 1);
    assert_int_equal(relay_dane_tlsa_parse(b, rd(b, 3, 0, 0, 700), &t), 1);
}

static void test_tlsa_unusable(void **state)
{
    (void)state;
    unsigned char b[4096];
    relay_tlsa t;
    /* PKIX-TA(0) / PKIX-EE(1): unusable for SMTP (RFC 7672 §3.1.3) */
    assert_int_equal(relay_dane_tlsa_parse(b, rd(b, 0, 1, 1, 32), &t), 0);
    assert_int_equal(relay_dane_tlsa_parse(b, rd(b, 1, 1, 1, 32), &t), 0);
    assert_int_equal(relay_dane_tlsa_parse(b, rd(b, 4, 1, 1, 32), &t), 0);
    assert_int_equal(relay_dane_tlsa_parse(b, rd(b, 3, 2, 1, 32), &t), 0);     /* selector */
    assert_int_equal(relay_dane_tlsa_parse(b, rd(b, 3, 1, 3, 32), &t), 0);     /* mtype */
    assert_int_equal(relay_dane_tlsa_parse(b, rd(b, 3, 0, 0, RELAY_DANE_DATA_MAX + 1), &t), 0);
}

static void test_tlsa_malformed(void **state)
{
    (void)state;
    unsigned char b[4096] = { 3, 1, 1 };
    relay_tlsa t;
    assert_int_equal(relay_dane_tlsa_parse(b, 3, &t), -1);                      /* no data */
    assert_int_equal(relay_dane_tlsa_parse(b, rd(b, 3, 1, 1, 31), &t), -1);    /* SHA-256 */
    assert_int_equal(relay_dane_tlsa_parse(b, rd(b, 3, 1, 2, 32), &t), -1);    /* SHA-512 */
}

static void test_no_dane_without_resolver(void **state)
{
    (void)state;
    relay_mx mx[1] = { { "mx.example.test", 10 } };
    relay_dane *d = relay_dane_create(NULL, 25, "example.test", mx, 1);
    relay_smtp_opts o = { .tls = RELAY_TLS_MAY };
    char why[64] = "";
    assert_int_equal(relay_dane_active(d), 0);
    assert_int_equal(relay_dane_host_state(d, 0), RELAY_DANE_NONE);
    assert_int_equal(relay_dane_host_opts(d, 0, "example.test", &o, why, sizeof(why)), 0);
    assert_int_equal(o.tls, RELAY_TLS_MAY);
    assert_int_equal(o.ntlsa, 0);
    relay_dane_free(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tlsa_usable),
        cmocka_unit_test(test_tlsa_unusable),
        cmocka_unit_test(test_tlsa_malformed),
        cmocka_unit_test(test_no_dane_without_resolver),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
