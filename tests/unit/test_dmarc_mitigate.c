/*
 * test_dmarc_mitigate.c - unit tests for libcommon/dmarc_mitigate.c (DMARC
 * From mitigation) and hdr_phrase.c: the From parser, the reversible
 * address encoding, munge-from / wrap / encode-address on real header
 * sections (what changes and that the rest stays byte for byte), the
 * policy question over a file resolver, and hostile input.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "dmarc_mitigate.h"

#define TXT(n, v) "\"" n "\": [{\"type\":\"TXT\",\"data\":[\"" v "\"]}]"

static const dmarc_mitigate_info dev = {
    .address = "dev@example.test", .name = "Developers",
    .encode_domain = "dmarc.example.test",
};

static const char POST[] =
    "Received: from x by y; Sun, 1 Jan 2026 00:00:00 +0000\r\n"
    "From: \"Alice Author\" <alice@author.test>\r\n"
    "To: dev@example.test\r\n"
    "Subject: hello\r\n"
    " folded\r\n"
    "Message-ID: <m1@author.test>\r\n"
    "DKIM-Signature: v=1; d=author.test; b=abc\r\n"
    "\r\n"
    "body line\r\n";

static hdr_msg *parse(const char *s)
{
    enum hdr_error err = HDR_OK;
    hdr_msg *m = hdr_parse(s, strlen(s), 100, 65536, &err);
    assert_non_null(m);
    return m;
}

static char *ser(const hdr_msg *m)
{
    buf *b = buf_create(1 << 20);
    assert_int_equal(hdr_serialize(m, b), 0);
    char *s = buf_steal(b, NULL);
    buf_free(b);
    return s;
}

static void test_modes(void **state)
{
    (void)state;
    enum dmarc_mitigation m;
    assert_int_equal(dmarc_mitigation_parse("munge-from", &m), 0);
    assert_int_equal(m, DMARC_MIT_MUNGE_FROM);
    assert_int_equal(dmarc_mitigation_parse("encode-address", &m), 0);
    assert_int_equal(m, DMARC_MIT_ENCODE_ADDRESS);
    assert_int_equal(dmarc_mitigation_parse("wrap", &m), 0);
    assert_int_equal(dmarc_mitigation_parse("none", &m), 0);
    assert_int_equal(m, DMARC_MIT_NONE);
    assert_int_equal(dmarc_mitigation_parse("Wrap", &m), -1);
    assert_int_equal(dmarc_mitigation_parse(NULL, &m), -1);
    assert_string_equal(dmarc_mitigation_text(DMARC_MIT_WRAP), "wrap");
    assert_true(dmarc_mitigate_needed(DMARC_P_REJECT, 0));
    assert_true(dmarc_mitigate_needed(DMARC_P_QUARANTINE, 0));
    assert_false(dmarc_mitigate_needed(DMARC_P_NONE, 0));
    assert_true(dmarc_mitigate_needed(DMARC_P_NONE, 1));
}

static void test_parse_from(void **state)
{
    (void)state;
    static const struct { const char *in, *addr, *name; } ok[] = {
        { "\"Alice Author\" <alice@author.test>", "alice@author.test", "Alice Author" },
        { "Bob <bob@b.test>", "bob@b.test", "Bob" },
        { "carol@c.test", "carol@c.test", "" },
        { "carol@c.test (Carol C)", "carol@c.test", "Carol C" },
        { "\"x, \\\"y\\\"\" <x@y.test>", "x@y.test", "x, \"y\"" },
        { "=?UTF-8?B?w4lsaXNl?= <e@f.test>", "e@f.test", "=?UTF-8?B?w4lsaXNl?=" },
        { "  Dan   (comment) <d@d.test>", "d@d.test", "Dan" },
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        char a[257], n[201];
        assert_int_equal(dmarc_mitigate_parse_from(ok[i].in, a, sizeof a, n, sizeof n), 0);
        assert_string_equal(a, ok[i].addr);
        assert_string_equal(n, ok[i].name);
    }
    static const char *const bad[] = { "", "no address", "<>", "Name <a@b", "\"open <a@b>",
                                       "<@b.test>", "(a@b.test)", "<a b@c.test>" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char a[257], n[201];
        assert_int_equal(dmarc_mitigate_parse_from(bad[i], a, sizeof a, n, sizeof n), -1);
    }
}

static void test_encode_decode(void **state)
{
    (void)state;
    char l[65], back[257];
    assert_int_equal(dmarc_mitigate_encode_local("alice@author.example", l, sizeof l), 0);
    assert_string_equal(l, "alice=40author.example");
    assert_int_equal(dmarc_mitigate_decode_local(l, back, sizeof back), 0);
    assert_string_equal(back, "alice@author.example");
    static const char *const round[] = { "a.b+c@x.test", "we=ird%@x.test", ".x..y.@z.test",
                                         "O'Brien@Caps.TEST", "\"q s\"@x.test" };
    for (size_t i = 0; i < sizeof round / sizeof round[0]; i++) {
        assert_int_equal(dmarc_mitigate_encode_local(round[i], l, sizeof l), 0);
        assert_null(strchr(l, '@'));
        assert_null(strstr(l, ".."));
        assert_true(l[0] != '.');
        assert_int_equal(dmarc_mitigate_decode_local(l, back, sizeof back), 0);
        assert_string_equal(back, round[i]);
    }
    assert_string_equal((dmarc_mitigate_encode_local("we=ird%@x.test", l, sizeof l), l),
                        "we=3Dird=25=40x.test");
    /* lower-cased on the way back (mx, rewrite) still decodes */
    assert_int_equal(dmarc_mitigate_decode_local("we=3dird=25=40x.test", back, sizeof back), 0);
    assert_string_equal(back, "we=ird%@x.test");
    /* too long for a local part */
    char longa[100];
    snprintf(longa, sizeof longa, "%070d@x.test", 0);
    assert_int_equal(dmarc_mitigate_encode_local(longa, l, sizeof l), -1);
    static const char *const bad[] = { "alice", "alice=4", "alice=zz=40x", "=40x", "x=40",
                                       "a=0A=40b", "a b=40c", "a=40b=00" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(dmarc_mitigate_decode_local(bad[i], back, sizeof back), -1);
}

static void test_phrase(void **state)
{
    (void)state;
    buf *b = buf_create(4096);
    assert_int_equal(hdr_phrase_append(b, "Plain Name"), 0);
    assert_string_equal(b->data, "Plain Name");
    buf_reset(b);
    assert_int_equal(hdr_phrase_append(b, "a@b \"q\""), 0);
    assert_string_equal(b->data, "\"a@b \\\"q\\\"\"");
    buf_reset(b);
    assert_int_equal(hdr_phrase_append(b, "\xc3\x89lise via Dev"), 0);
    assert_string_equal(b->data, "=?UTF-8?B?w4lsaXNlIHZpYSBEZXY=?=");
    buf_free(b);
}

static void test_munge_from(void **state)
{
    (void)state;
    hdr_msg *m = parse(POST);
    dmarc_mitigate_result r;
    assert_int_equal(dmarc_mitigate_apply(m, DMARC_MIT_MUNGE_FROM, &dev, &r), 0);
    assert_int_equal(r.applied, DMARC_MIT_MUNGE_FROM);
    assert_string_equal(r.author, "alice@author.test");
    char *s = ser(m);
    assert_non_null(strstr(s, "\r\nFrom: Alice Author via Developers <dev@example.test>\r\n"
                              "Reply-To: \"Alice Author\" <alice@author.test>\r\n"
                              "To: dev@example.test\r\nSubject: hello\r\n folded\r\n"));
    assert_non_null(strstr(s, "DKIM-Signature: v=1; d=author.test; b=abc\r\n\r\nbody line\r\n"));
    assert_int_equal(hdr_count(m, "From"), 1);
    free(s);
    hdr_msg_free(m);

    /* a Reply-To already there: the author goes into Cc */
    m = parse("From: a@author.test\r\nReply-To: other@x.test\r\nCc: c@x.test\r\n\r\nb\r\n");
    assert_int_equal(dmarc_mitigate_apply(m, DMARC_MIT_MUNGE_FROM, &dev, NULL), 0);
    s = ser(m);
    assert_string_equal(s, "From: \"a@author.test via Developers\" <dev@example.test>\r\n"
                           "Reply-To: other@x.test\r\nCc: c@x.test,\r\n a@author.test\r\n"
                           "\r\nb\r\n");
    free(s);
    hdr_msg_free(m);

    /* the list sets Reply-To itself; non-ASCII name, no Cc yet */
    dmarc_mitigate_info li = dev;
    li.sets_reply_to = 1;
    m = parse("From: =?UTF-8?B?w4lsaXNl?= <e@author.test>\r\n\r\nb\r\n");
    assert_int_equal(dmarc_mitigate_apply(m, DMARC_MIT_MUNGE_FROM, &li, NULL), 0);
    s = ser(m);
    assert_string_equal(s, "From: =?UTF-8?B?w4lsaXNl?= via Developers <dev@example.test>\r\n"
                           "Cc: =?UTF-8?B?w4lsaXNl?= <e@author.test>\r\n\r\nb\r\n");
    free(s);
    hdr_msg_free(m);

    /* a raw UTF-8 name is encoded */
    m = parse("From: \xc3\x89lise <e@author.test>\r\n\r\nb\r\n");
    assert_int_equal(dmarc_mitigate_apply(m, DMARC_MIT_MUNGE_FROM, &dev, NULL), 0);
    s = ser(m);
    assert_non_null(strstr(s, "From: =?UTF-8?B?w4lsaXNlIHZpYSBEZXZlbG9wZXJz?= "
                              "<dev@example.test>\r\n"));
    free(s);
    hdr_msg_free(m);
}

static void test_encode_address(void **state)
{
    (void)state;
    hdr_msg *m = parse(POST);
    dmarc_mitigate_result r;
    assert_int_equal(dmarc_mitigate_apply(m, DMARC_MIT_ENCODE_ADDRESS, &dev, &r), 0);
    assert_int_equal(r.applied, DMARC_MIT_ENCODE_ADDRESS);
    assert_string_equal(r.encoded, "alice=40author.test@dmarc.example.test");
    char *s = ser(m);
    assert_non_null(strstr(s, "\r\nFrom: Alice Author <alice=40author.test@dmarc.example.test>"
                              "\r\nX-Original-From: \"Alice Author\" <alice@author.test>\r\n"
                              "To: dev@example.test\r\n"));
    assert_null(strstr(s, "Reply-To"));
    free(s);
    hdr_msg_free(m);

    /* a forged X-Original-From is replaced */
    m = parse("X-Original-From: forged@x.test\r\nFrom: a@author.test\r\n\r\nb\r\n");
    assert_int_equal(dmarc_mitigate_apply(m, DMARC_MIT_ENCODE_ADDRESS, &dev, &r), 0);
    s = ser(m);
    assert_string_equal(s, "From: <a=40author.test@dmarc.example.test>\r\n"
                           "X-Original-From: a@author.test\r\n\r\nb\r\n");
    free(s);
    hdr_msg_free(m);

    /* too long to encode, or no encode domain: munge-from instead */
    char big[512];
    snprintf(big, sizeof big, "From: %s@author.test\r\n\r\nb\r\n",
             "a-very-long-local-part-that-cannot-be-encoded-into-sixty-four-octets");
    m = parse(big);
    assert_int_equal(dmarc_mitigate_apply(m, DMARC_MIT_ENCODE_ADDRESS, &dev, &r), 0);
    assert_int_equal(r.applied, DMARC_MIT_MUNGE_FROM);
    hdr_msg_free(m);
    dmarc_mitigate_info nd = dev;
    nd.encode_domain = NULL;
    m = parse(POST);
    assert_int_equal(dmarc_mitigate_apply(m, DMARC_MIT_ENCODE_ADDRESS, &nd, &r), 0);
    assert_int_equal(r.applied, DMARC_MIT_MUNGE_FROM);
    hdr_msg_free(m);
}

static void test_wrap(void **state)
{
    (void)state;
    hdr_msg *m = parse(POST);
    char *orig = ser(m);
    dmarc_mitigate_result r;
    assert_int_equal(dmarc_mitigate_apply(m, DMARC_MIT_WRAP, &dev, &r), 0);
    assert_int_equal(r.applied, DMARC_MIT_WRAP);
    char *s = ser(m);
    static const char head[] =
        "Received: from x by y; Sun, 1 Jan 2026 00:00:00 +0000\r\n"
        "From: Alice Author via Developers <dev@example.test>\r\n"
        "Message-ID: <m1@author.test>\r\nSubject: hello\r\n folded\r\n"
        "To: dev@example.test\r\n"
        "Reply-To: \"Alice Author\" <alice@author.test>\r\n"
        "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"";
    assert_memory_equal(s, head, strlen(head));
    assert_null(hdr_get_value(m, "DKIM-Signature"));
    /* the original rides unchanged in the message/rfc822 part */
    const char *part = strstr(s, "Content-Type: message/rfc822\r\n");
    assert_non_null(part);
    const char *inner = strstr(part, "\r\n\r\n");
    assert_non_null(inner);
    assert_memory_equal(inner + 4, orig, strlen(orig));
    char *ct = hdr_get_value(m, "Content-Type");
    const char *b = strstr(ct, "boundary=\"") + 10;
    char bound[80];
    snprintf(bound, sizeof bound, "\r\n--%.*s--\r\n", (int)strcspn(b, "\""), b);
    assert_non_null(strstr(s, bound));
    assert_null(strstr(orig, bound + 4));
    free(ct);
    free(s);
    free(orig);
    hdr_msg_free(m);
}

static void test_hostile(void **state)
{
    (void)state;
    static const char *const msgs[] = {
        "Subject: no from\r\n\r\nb\r\n",
        "From: \r\n\r\nb\r\n",
        "From: <unterminated@x.test\r\n\r\nb\r\n",
        "From: \"\xff\xfe\" <a@b.test>\r\n\r\nb\r\n",
    };
    for (size_t i = 0; i < 3; i++) {
        hdr_msg *m = parse(msgs[i]);
        assert_int_equal(dmarc_mitigate_apply(m, DMARC_MIT_MUNGE_FROM, &dev, NULL), -1);
        hdr_msg_free(m);
    }
    for (int mode = DMARC_MIT_MUNGE_FROM; mode <= DMARC_MIT_ENCODE_ADDRESS; mode++) {
        hdr_msg *m = parse(msgs[3]);
        assert_int_equal(dmarc_mitigate_apply(m, (enum dmarc_mitigation)mode, &dev, NULL), 0);
        hdr_msg_free(m);
    }
    /* a long name is cut to DMARC_MITIGATE_NAME_MAX on a UTF-8 boundary */
    char big[2048];
    size_t bn = (size_t)snprintf(big, sizeof big, "From: ");
    for (int i = 0; i < 300; i++)
        bn += (size_t)snprintf(big + bn, sizeof big - bn, "\xc3\x89");
    snprintf(big + bn, sizeof big - bn, " <a@b.test>\r\n\r\nb\r\n");
    hdr_msg *m = parse(big);
    assert_int_equal(dmarc_mitigate_apply(m, DMARC_MIT_MUNGE_FROM, &dev, NULL), 0);
    hdr_msg_free(m);
    /* found by fuzz_dmarc_mitigate: DEL in an address (not reversible),
     * a last trace field without a line end (wrap merged it with From) */
    char a[257], nm[201];
    assert_int_equal(dmarc_mitigate_parse_from("<a\x7f@b.test>", a, sizeof a, nm, sizeof nm),
                     -1);
    m = parse("From: a@author.test\r\nReceived: x@");
    assert_int_equal(dmarc_mitigate_apply(m, DMARC_MIT_WRAP, &dev, NULL), 0);
    char *w = ser(m);
    hdr_msg *again = parse(w);
    assert_int_equal(hdr_count(again, "From"), 1);
    assert_int_equal(hdr_count(again, "Received"), 1);
    hdr_msg_free(again);
    free(w);
    hdr_msg_free(m);
    hdr_msg *n = parse(POST);
    assert_int_equal(dmarc_mitigate_apply(n, DMARC_MIT_NONE, &dev, NULL), 0);
    char *s = ser(n);
    assert_string_equal(s, POST);
    free(s);
    hdr_msg_free(n);
}

static const char ZONE[] = "{"
    TXT("_dmarc.reject.test", "v=DMARC1; p=reject") ","
    TXT("_dmarc.quar.test", "v=DMARC1; p=quarantine") ","
    TXT("_dmarc.none.test", "v=DMARC1; p=none") ","
    TXT("_dmarc.org.test", "v=DMARC1; p=none; sp=reject") ","
    "\"_dmarc.slow.test\": [{\"type\":\"TIMEOUT\"}]"
    "}";

static void test_policy(void **state)
{
    (void)state;
    char path[] = "/tmp/test_dmarc_mit_XXXXXX", err[256];
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, ZONE, strlen(ZONE)), (ssize_t)strlen(ZONE));
    close(fd);
    dns_resolver *r = dns_resolver_create_file(path, err, sizeof err);
    unlink(path);
    assert_non_null(r);
    static const struct { const char *d; enum dmarc_policy p; } t[] = {
        { "reject.test", DMARC_P_REJECT }, { "quar.test", DMARC_P_QUARANTINE },
        { "none.test", DMARC_P_NONE }, { "nothing.test", DMARC_P_NONE },
        { "sub.org.test", DMARC_P_REJECT }, { "org.test", DMARC_P_NONE },
        { "slow.test", DMARC_P_QUARANTINE }, { "", DMARC_P_NONE },
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        enum dmarc_policy p = DMARC_P_UNSET;
        assert_int_equal(dmarc_mitigate_policy(r, t[i].d, &p), 0);
        if (p != t[i].p)
            fail_msg("%s: policy %d, want %d", t[i].d, p, t[i].p);
    }
    dns_resolver_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_modes),
        cmocka_unit_test(test_parse_from),
        cmocka_unit_test(test_encode_decode),
        cmocka_unit_test(test_phrase),
        cmocka_unit_test(test_munge_from),
        cmocka_unit_test(test_encode_address),
        cmocka_unit_test(test_wrap),
        cmocka_unit_test(test_hostile),
        cmocka_unit_test(test_policy),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
