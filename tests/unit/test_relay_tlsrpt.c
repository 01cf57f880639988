/*
 * test_relay_tlsrpt.c - unit tests for the pure parts of the relay's
 * TLS-RPT (services/relay/relay_tlsrpt*.c): the RFC 8460 result type of an
 * attempt's outcome and the rua list of a TLSRPTv1 record.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "../../services/relay/relay_dns.c"
#include "../../services/relay/relay_dane.c"
#include "../../services/relay/relay_tlsrpt.c"
#include "../../services/relay/relay_tlsrpt_report.c"

static relay_outcome outcome(int code, const char *reply, const char *host, const char *tls)
{
    relay_outcome o;
    memset(&o, 0, sizeof(o));
    o.code = code;
    snprintf(o.reply, sizeof(o.reply), "%s", reply);
    snprintf(o.host, sizeof(o.host), "%s", host);
    snprintf(o.tls, sizeof(o.tls), "%s", tls);
    return o;
}

static void test_classify(void **state)
{
    (void)state;
    relay_outcome o = outcome(250, "250 ok", "mx.a.test[192.0.2.1]:25", "TLSv1.3 X");
    assert_string_equal(relay_tlsrpt_classify(&o, 0, 1), "");
    o = outcome(451, "451 4.7.5 no MX host of a.test answered: mx.a.test[192.0.2.1]:25: DANE: "
                "the certificate of mx.a.test matches none of its TLSA records (x)", "", "");
    assert_string_equal(relay_tlsrpt_classify(&o, 0, 1), "tlsa-invalid");
    o = outcome(451, "451 4.7.5 no MX host of a.test answered: DANE: TLSA lookup "
                "_25._tcp.mx.a.test: DNSSEC bogus: validation failure", "", "");
    assert_string_equal(relay_tlsrpt_classify(&o, 0, 1), "dnssec-invalid");
    o = outcome(451, "451 4.4.1 no MX host of a.test answered: mx[1.2.3.4]:25: TLS is required "
                "(DANE TLSA records) but mx does not offer STARTTLS", "", "");
    assert_string_equal(relay_tlsrpt_classify(&o, 0, 1), "starttls-not-supported");
    o = outcome(451, "451 4.7.5 MTA-STS policy of a.test (mode enforce, id 1) allows none", "",
                "");
    assert_string_equal(relay_tlsrpt_classify(&o, 1, 0), "validation-failure");
    o = outcome(451, "451 4.4.1 no MX host answered: m[1.2.3.4]:25: TLS is required with a "
                "verified certificate but the certificate of m is not verified: certificate "
                "has expired", "", "");
    assert_string_equal(relay_tlsrpt_classify(&o, 1, 0), "certificate-expired");
    o = outcome(451, "451 x: TLS is required with a verified certificate but the certificate "
                "of m is not verified: self-signed certificate", "", "");
    assert_string_equal(relay_tlsrpt_classify(&o, 1, 0), "certificate-not-trusted");
    /* plain text without a policy: counted; connection failures: not sessions */
    o = outcome(250, "250 ok", "mx.a.test[192.0.2.1]:25", "");
    assert_string_equal(relay_tlsrpt_classify(&o, 0, 0), "starttls-not-supported");
    o = outcome(451, "451 4.4.1 no MX host of a.test answered: m[1.2.3.4]:25: connect: "
                "Connection refused", "", "");
    assert_null(relay_tlsrpt_classify(&o, 0, 0));
}

static void test_receiver(void **state)
{
    (void)state;
    char host[256] = "", ip[64] = "";
    relay_outcome o = outcome(451, "451 4.7.5 no MX host of a.test answered: "
                              "mx.a.test[192.0.2.7]:25: DANE: x", "", "");
    tlsrpt_receiver(&o, host, sizeof(host), ip, sizeof(ip));
    assert_string_equal(host, "mx.a.test");
    assert_string_equal(ip, "192.0.2.7");
    host[0] = ip[0] = '\0';
    o = outcome(451, "451 4.7.5 no MX host of a.test answered: DANE: TLSA [x]", "", "");
    tlsrpt_receiver(&o, host, sizeof(host), ip, sizeof(ip));
    assert_string_equal(host, "");
}

static void test_rua_parse(void **state)
{
    (void)state;
    char rua[RELAY_TLSRPT_MAX_RUA][RELAY_TLSRPT_URI_MAX];
    assert_int_equal(relay_tlsrpt_rua_parse("v=TLSRPTv1; rua=mailto:r@a.test,https://r.a.test/x",
                                            rua, RELAY_TLSRPT_MAX_RUA), 2);
    assert_string_equal(rua[0], "mailto:r@a.test");
    assert_string_equal(rua[1], "https://r.a.test/x");
    assert_int_equal(relay_tlsrpt_rua_parse("v=TLSRPTv1;rua=ftp://x/,https://y/", rua, 8), 1);
    assert_string_equal(rua[0], "https://y/");
    assert_int_equal(relay_tlsrpt_rua_parse("v=TLSRPTv2; rua=https://y/", rua, 8), 0);
    assert_int_equal(relay_tlsrpt_rua_parse("v=spf1 -all", rua, 8), 0);
    assert_int_equal(relay_tlsrpt_rua_parse("v=TLSRPTv1;", rua, 8), 0);
    assert_int_equal(relay_tlsrpt_rua_parse("v=TLSRPTv1; rua=https://a/,https://b/,https://c/",
                                            rua, 2), 2);
}

static void test_gzip_roundtrip(void **state)
{
    (void)state;
    const char *in = "{\"organization-name\":\"x\"}";
    unsigned char *gz = NULL, back[128];
    size_t gzlen = 0;
    assert_int_equal(rpt_gzip(in, strlen(in), &gz, &gzlen), 0);
    assert_true(gzlen > 18 && gz[0] == 0x1f && gz[1] == 0x8b);
    z_stream z;
    memset(&z, 0, sizeof(z));
    assert_int_equal(inflateInit2(&z, 15 + 16), Z_OK);
    z.next_in = gz;
    z.avail_in = (uInt)gzlen;
    z.next_out = back;
    z.avail_out = sizeof(back);
    assert_int_equal(inflate(&z, Z_FINISH), Z_STREAM_END);
    assert_int_equal(sizeof(back) - z.avail_out, strlen(in));
    assert_memory_equal(back, in, strlen(in));
    inflateEnd(&z);
    free(gz);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_classify),
        cmocka_unit_test(test_receiver),
        cmocka_unit_test(test_rua_parse),
        cmocka_unit_test(test_gzip_roundtrip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
