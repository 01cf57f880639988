/*
 * test_smtp_proxy.c - unit tests of services/mx/proxy_parse.c (PROXY
 * protocol v1 and v2: TCP4, TCP6, UNKNOWN, LOCAL, TLVs, truncated,
 * oversized and garbage headers, byte-by-byte reading) and of
 * services/mx/smtp_cidr.c (trusted networks).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>
#include "../../services/mx/proxy_parse.c"
#include "../../services/mx/smtp_cidr.c"

/* Reads like the server: exactly out->need bytes at a time. */
static enum proxy_result read_like_server(const unsigned char *in, size_t n, unsigned acc,
                                          proxy_info *pi, size_t *used)
{
    size_t have = 0;
    for (;;) {
        enum proxy_result r = proxy_parse(in, have, acc, pi);
        if (r != PROXY_NEED_MORE) {
            *used = have;
            return r;
        }
        assert_true(pi->need > 0);
        if (have + pi->need > n) {
            *used = have;
            return PROXY_NEED_MORE;
        }
        have += pi->need;
    }
}

static void test_v1(void **state)
{
    (void)state;
    static const struct { const char *in; int ok; const char *src; unsigned sport; int local; } cases[] = {
        { "PROXY TCP4 192.0.2.1 198.51.100.2 56324 25\r\n", 1, "192.0.2.1", 56324, 0 },
        { "PROXY TCP6 2001:db8::1 2001:db8::2 1 65535\r\n", 1, "2001:db8::1", 1, 0 },
        { "PROXY UNKNOWN\r\n", 1, "", 0, 1 },
        { "PROXY UNKNOWN ffff:f...f:ffff ffff:f...f:ffff 65535 65535\r\n", 1, "", 0, 1 },
        { "PROXY TCP4 192.0.2.1 198.51.100.2 56324 25\n", 0, NULL, 0, 0 },
        { "PROXY TCP4 2001:db8::1 198.51.100.2 1 2\r\n", 0, NULL, 0, 0 },
        { "PROXY TCP6 192.0.2.1 2001:db8::2 1 2\r\n", 0, NULL, 0, 0 },
        { "PROXY TCP4 192.0.2.1 198.51.100.2 65536 25\r\n", 0, NULL, 0, 0 },
        { "PROXY TCP4 192.0.2.1 198.51.100.2 025 25\r\n", 0, NULL, 0, 0 },
        { "PROXY TCP4 192.0.2.1 198.51.100.2 25\r\n", 0, NULL, 0, 0 },
        { "PROXY TCP4 192.0.2.1  198.51.100.2 1 25\r\n", 0, NULL, 0, 0 },
        { "PROXY TCP4 192.0.2.1 198.51.100.2 1 25 x\r\n", 0, NULL, 0, 0 },
        { "PROXY UDP4 192.0.2.1 198.51.100.2 1 25\r\n", 0, NULL, 0, 0 },
        { "PROXY TCP4 192.0.2.1\x01 198.51.100.2 1 25\r\n", 0, NULL, 0, 0 },
        { "EHLO x\r\n", 0, NULL, 0, 0 },
        { "PROXZ TCP4\r\n", 0, NULL, 0, 0 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        proxy_info pi;
        size_t used;
        size_t n = strlen(cases[i].in);
        enum proxy_result r = read_like_server((const unsigned char *)cases[i].in, n,
                                               PROXY_ACCEPT_V1 | PROXY_ACCEPT_V2, &pi, &used);
        if (!cases[i].ok) {
            if (r != PROXY_ERROR)
                fail_msg("case %zu accepted: %s", i, cases[i].in);
            continue;
        }
        if (r != PROXY_OK)
            fail_msg("case %zu: %s", i, pi.error);
        assert_int_equal(pi.version, 1);
        assert_int_equal(pi.header_len, n);
        assert_int_equal(used, n);
        assert_int_equal(pi.local, cases[i].local);
        assert_string_equal(pi.src_ip, cases[i].src);
        assert_int_equal(pi.src_port, cases[i].sport);
    }
    /* the line is cut at 107 octets */
    char big[200];
    memset(big, 'x', sizeof big);
    memcpy(big, "PROXY UNKNOWN ", 14);
    proxy_info pi;
    size_t used;
    assert_int_equal(read_like_server((unsigned char *)big, sizeof big, 3, &pi, &used), PROXY_ERROR);
    assert_int_equal(used, PROXY_V1_MAX);
    /* v1 only: a v2 header is refused, and the other way round */
    assert_int_equal(proxy_parse((const unsigned char *)"PROXY UNKNOWN\r\n", 15, PROXY_ACCEPT_V2, &pi),
                     PROXY_ERROR);
    /* the SMTP that follows is not consumed */
    const char *both = "PROXY TCP4 192.0.2.1 198.51.100.2 1 25\r\nEHLO x\r\n";
    assert_int_equal(read_like_server((const unsigned char *)both, strlen(both), 1, &pi, &used),
                     PROXY_OK);
    assert_int_equal(used, strlen(both) - 8);
}

static size_t v2_header(unsigned char *out, unsigned cmd, unsigned fam_proto,
                        const unsigned char *addr, size_t alen,
                        const unsigned char *tlv, size_t tlen)
{
    static const unsigned char sig[12] = { 0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A,
                                           0x51, 0x55, 0x49, 0x54, 0x0A };
    memcpy(out, sig, 12);
    out[12] = (unsigned char)(0x20 | cmd);
    out[13] = (unsigned char)fam_proto;
    size_t len = alen + tlen;
    out[14] = (unsigned char)(len >> 8);
    out[15] = (unsigned char)(len & 0xff);
    if (alen)
        memcpy(out + 16, addr, alen);
    if (tlen)
        memcpy(out + 16 + alen, tlv, tlen);
    return 16 + len;
}

static void test_v2(void **state)
{
    (void)state;
    unsigned char h[4096];
    proxy_info pi;
    size_t used;
    const unsigned char a4[12] = { 192, 0, 2, 9, 198, 51, 100, 2, 0xdb, 0xff, 0, 25 };
    size_t n = v2_header(h, 1, 0x11, a4, sizeof a4, NULL, 0);
    memcpy(h + n, "\x16\x03\x01", 3);       /* a TLS ClientHello follows */
    assert_int_equal(read_like_server(h, n + 3, 3, &pi, &used), PROXY_OK);
    assert_int_equal(used, n);
    assert_int_equal(pi.version, 2);
    assert_string_equal(pi.src_ip, "192.0.2.9");
    assert_int_equal(pi.src_port, 0xdbff);
    assert_string_equal(pi.dst_ip, "198.51.100.2");
    assert_int_equal(pi.dst_port, 25);

    unsigned char a6[36];
    memset(a6, 0, sizeof a6);
    a6[0] = 0x20; a6[1] = 0x01; a6[2] = 0x0d; a6[3] = 0xb8; a6[15] = 7;
    a6[16] = 0x20; a6[17] = 0x01; a6[18] = 0x0d; a6[19] = 0xb8; a6[31] = 8;
    a6[33] = 99; a6[35] = 25;
    const unsigned char tlv[] = { 0x01, 0, 2, 'h', '2', 0x04, 0, 0, 0xE0, 0, 3, 1, 2, 3 };
    n = v2_header(h, 1, 0x21, a6, sizeof a6, tlv, sizeof tlv);
    assert_int_equal(read_like_server(h, n, 2, &pi, &used), PROXY_OK);
    assert_string_equal(pi.src_ip, "2001:db8::7");
    assert_int_equal(pi.src_port, 99);
    assert_int_equal(pi.ntlv, 3);
    assert_true(pi.v6);

    /* LOCAL (health checks) and UNSPEC keep the socket's address */
    n = v2_header(h, 0, 0x00, NULL, 0, NULL, 0);
    assert_int_equal(read_like_server(h, n, 2, &pi, &used), PROXY_OK);
    assert_true(pi.local);
    n = v2_header(h, 1, 0x00, NULL, 0, tlv, 5);
    assert_int_equal(read_like_server(h, n, 2, &pi, &used), PROXY_OK);
    assert_true(pi.local);

    /* errors */
    n = v2_header(h, 1, 0x11, a4, 8, NULL, 0);           /* addresses truncated */
    assert_int_equal(read_like_server(h, n, 2, &pi, &used), PROXY_ERROR);
    n = v2_header(h, 1, 0x11, a4, sizeof a4, tlv, 4);    /* TLV cut */
    assert_int_equal(read_like_server(h, n, 2, &pi, &used), PROXY_ERROR);
    n = v2_header(h, 2, 0x11, a4, sizeof a4, NULL, 0);   /* bad command */
    assert_int_equal(read_like_server(h, n, 2, &pi, &used), PROXY_ERROR);
    n = v2_header(h, 1, 0x12, a4, sizeof a4, NULL, 0);   /* DGRAM */
    assert_int_equal(read_like_server(h, n, 2, &pi, &used), PROXY_ERROR);
    n = v2_header(h, 1, 0x41, a4, sizeof a4, NULL, 0);   /* family 4 */
    assert_int_equal(read_like_server(h, n, 2, &pi, &used), PROXY_ERROR);
    n = v2_header(h, 1, 0x11, a4, sizeof a4, NULL, 0);
    h[12] = 0x11;                                         /* version 1 */
    assert_int_equal(read_like_server(h, n, 2, &pi, &used), PROXY_ERROR);
    n = v2_header(h, 1, 0x11, a4, sizeof a4, NULL, 0);
    h[14] = 0xff;                                         /* oversized */
    assert_int_equal(read_like_server(h, n, 2, &pi, &used), PROXY_ERROR);
    assert_int_equal(used, 16);
    n = v2_header(h, 1, 0x11, a4, sizeof a4, NULL, 0);
    h[5] = 'X';                                           /* bad signature */
    assert_int_equal(read_like_server(h, n, 2, &pi, &used), PROXY_ERROR);
    /* truncated: asks for exactly what is missing */
    n = v2_header(h, 1, 0x11, a4, sizeof a4, NULL, 0);
    assert_int_equal(proxy_parse(h, 10, 2, &pi), PROXY_NEED_MORE);
    assert_int_equal(pi.need, 6);
    assert_int_equal(proxy_parse(h, 20, 2, &pi), PROXY_NEED_MORE);
    assert_int_equal(pi.need, n - 20);
    assert_int_equal(proxy_parse(h, 0, 2, &pi), PROXY_NEED_MORE);
    assert_int_equal(proxy_parse(h, n, 1, &pi), PROXY_ERROR);   /* v1 only */
}

static void test_garbage(void **state)
{
    (void)state;
    unsigned char in[600];
    unsigned seed = 12345;
    for (int round = 0; round < 2000; round++) {
        size_t n = (size_t)(seed % sizeof in);
        for (size_t i = 0; i < n; i++) {
            seed = seed * 1103515245u + 12345u;
            in[i] = (unsigned char)(seed >> 16);
        }
        if (round % 3 == 0 && n > 16)
            memcpy(in, "\r\n\r\n\0\r\nQUIT\n\x21", 13);
        if (round % 3 == 1 && n > 6)
            memcpy(in, "PROXY ", 6);
        proxy_info pi;
        enum proxy_result r = proxy_parse(in, n, 3, &pi);
        if (r == PROXY_OK)
            assert_true(pi.header_len <= n);
        seed = seed * 1103515245u + 12345u;
    }
}

static void test_cidr(void **state)
{
    (void)state;
    char err[128];
    smtp_cidr_list *l = smtp_cidr_parse("127.0.0.0/8, 10.1.2.3 ,2001:db8::/32,::1", err, sizeof err);
    assert_non_null(l);
    assert_true(smtp_cidr_match(l, "127.0.0.1"));
    assert_true(smtp_cidr_match(l, "127.255.0.9"));
    assert_true(smtp_cidr_match(l, "10.1.2.3"));
    assert_false(smtp_cidr_match(l, "10.1.2.4"));
    assert_true(smtp_cidr_match(l, "2001:db8:ffff::1"));
    assert_false(smtp_cidr_match(l, "2001:db9::1"));
    assert_true(smtp_cidr_match(l, "::1"));
    assert_true(smtp_cidr_match(l, "::ffff:127.0.0.1"));   /* v4-mapped */
    assert_false(smtp_cidr_match(l, "192.0.2.1"));
    assert_false(smtp_cidr_match(l, "garbage"));
    smtp_cidr_free(l);
    assert_null(smtp_cidr_parse("10.0.0.0/33", err, sizeof err));
    assert_null(smtp_cidr_parse("10.0.0/8", err, sizeof err));
    assert_null(smtp_cidr_parse("::/129", err, sizeof err));
    assert_null(smtp_cidr_parse("10.0.0.0/", err, sizeof err));
    l = smtp_cidr_parse("", err, sizeof err);      /* empty: trusts nobody */
    assert_non_null(l);
    assert_false(smtp_cidr_match(l, "127.0.0.1"));
    smtp_cidr_free(l);
    smtp_cidr_free(NULL);
    l = smtp_cidr_parse("0.0.0.0/0", err, sizeof err);
    assert_true(smtp_cidr_match(l, "203.0.113.5"));
    smtp_cidr_free(l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_v1),
        cmocka_unit_test(test_v2),
        cmocka_unit_test(test_garbage),
        cmocka_unit_test(test_cidr),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
