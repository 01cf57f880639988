/*
 * test_dkim_bodyhash.c - unit tests for the streamed DKIM body hash
 * (dkim_canon_body_hash) and what is built on it: the canonical body
 * (simple and relaxed) against a plain reference implementation of RFC
 * 6376 §3.4.3/§3.4.4 on fixed and random bodies (WSP runs, tabs, trailing
 * WSP, empty lines, bare LF, bare CR, no final line end, lines longer than
 * the staging area), the hash against SHA-256 of the buffered bytes, l=
 * prefixes, verification of signatures with l= (shorter, equal, longer
 * than the body), and dkim_sign_shared (one body hash for the rsa and the
 * ed25519 signature of a message).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/sha.h>

#include "dkim.h"
#include "xalloc.h"

/* Reference: line by line, as the RFC words it. A line end is CRLF or a
 * bare LF. */
static void
ref_canon_body(enum dkim_canon c, const char *b, size_t len, buf *out)
{
    size_t pos = 0, pending = 0;
    int any = 0;

    while (pos < len) {
        size_t e = pos, next;
        buf line;
        while (e < len && b[e] != '\n')
            e++;
        next = e < len ? e + 1 : e;
        if (e < len && e > pos && b[e - 1] == '\r')
            e--;
        buf_init(&line, 1 << 20);
        if (c == DKIM_CANON_RELAXED) {
            int in_wsp = 0;
            for (size_t i = pos; i < e; i++) {
                if (b[i] == ' ' || b[i] == '\t') {
                    in_wsp = 1;
                    continue;
                }
                if (in_wsp)
                    buf_append(&line, " ", 1);
                in_wsp = 0;
                buf_append(&line, b + i, 1);
            }
        } else {
            buf_append(&line, b + pos, e - pos);
        }
        if (line.len == 0) {
            pending++;
        } else {
            for (; pending > 0; pending--)
                buf_append(out, "\r\n", 2);
            buf_append(out, line.data, line.len);
            buf_append(out, "\r\n", 2);
            any = 1;
        }
        buf_release(&line);
        pos = next;
    }
    if (!any && c == DKIM_CANON_SIMPLE)
        buf_append(out, "\r\n", 2);
}

static void
check_body(const char *body, size_t len)
{
    for (int c = 0; c < 2; c++) {
        buf ref, got;
        unsigned char want[32], dig[32];
        unsigned long long clen = 0;

        buf_init(&ref, 1 << 24);
        buf_init(&got, 1 << 24);
        ref_canon_body((enum dkim_canon)c, body, len, &ref);
        assert_int_equal(dkim_canon_body((enum dkim_canon)c, body, len, &got), 0);
        assert_int_equal(got.len, ref.len);
        assert_true(ref.len == 0 || memcmp(got.data, ref.data, ref.len) == 0);
        SHA256((const unsigned char *)ref.data, ref.len, want);
        assert_int_equal(dkim_canon_body_hash((enum dkim_canon)c, body, len, DKIM_BODY_ALL,
                                              dig, &clen), 0);
        assert_int_equal(clen, ref.len);
        assert_memory_equal(dig, want, 32);
        /* l= prefixes: 0, 1, the middle, all but one, all, over */
        {
            size_t ls[6] = { 0, 1, ref.len / 2, ref.len > 0 ? ref.len - 1 : 0, ref.len,
                             ref.len + 5 };
            for (size_t i = 0; i < 6; i++) {
                size_t l = ls[i] < ref.len ? ls[i] : ref.len;
                SHA256((const unsigned char *)ref.data, l, want);
                assert_int_equal(dkim_canon_body_hash((enum dkim_canon)c, body, len, ls[i],
                                                      dig, &clen), 0);
                assert_int_equal(clen, ref.len);
                assert_memory_equal(dig, want, 32);
            }
        }
        buf_release(&ref);
        buf_release(&got);
    }
}

static void test_fixed_bodies(void **state)
{
    static const char *bodies[] = {
        "", "\r\n", "\r\n\r\n\r\n", "\n\n", "x", "x\r\n", "x\n", "x  ",
        " C \r\n  D \t E\r\n\r\n\r\n",
        "a  b\tc \t d\r\n\t\r\n  \r\nend \t \r\n",
        "trailing   \r\nwsp\t\t\r\n",
        "bare\nLF\nlines\n\nand\r\nCRLF\r\n",
        "no final line end  ",
        "bare CR\r inside\r\r\n\r",
        "12345678 2345678  345678\t\t45678   5678\r\n",
        "       \r\n", "\t", " ", "a\r\n\r\n\r\nb\r\n\r\n",
    };
    (void)state;
    for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++)
        check_body(bodies[i], strlen(bodies[i]));
    /* lines longer than the 4 KiB staging area, with and without WSP runs */
    {
        size_t n = 20000;
        char *b = xmalloc(n);
        for (size_t i = 0; i < n; i++)
            b[i] = (char)('a' + i % 26);
        check_body(b, n);
        for (size_t i = 0; i < n; i += 7)
            b[i] = i % 3 == 0 ? '\t' : ' ';
        check_body(b, n);
        free(b);
    }
}

static void test_random_bodies(void **state)
{
    static const char alpha[] = "ab  \t\r\n\n.";
    uint32_t seed = 12345;
    char b[600];
    (void)state;

    for (int it = 0; it < 20000; it++) {
        size_t len;
        seed = seed * 1103515245u + 12345u;
        len = (seed >> 8) % sizeof(b);
        for (size_t i = 0; i < len; i++) {
            seed = seed * 1103515245u + 12345u;
            b[i] = alpha[(seed >> 16) % (sizeof(alpha) - 1)];
        }
        check_body(b, len);
    }
}

static dkim_key *
key_gen(int rsa_bits)
{
    EVP_PKEY *pk = rsa_bits > 0 ? EVP_RSA_gen((unsigned)rsa_bits)
                                : EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    BIO *bio = BIO_new(BIO_s_mem());
    char *data, err[128];
    long n;
    dkim_key *k;

    assert_int_equal(PEM_write_bio_PrivateKey(bio, pk, NULL, NULL, 0, NULL, NULL), 1);
    n = BIO_get_mem_data(bio, &data);
    k = dkim_key_load_pem(data, (size_t)n, err, sizeof(err));
    assert_non_null(k);
    BIO_free(bio);
    EVP_PKEY_free(pk);
    return k;
}

typedef struct fake_dns {
    const char *name[2];
    const char *rec[2];
} fake_dns;

static enum dkim_lookup_status
fake_lookup(void *ctx, const char *name, char **recs, size_t max, size_t *n)
{
    fake_dns *f = ctx;
    *n = 0;
    for (int i = 0; i < 2; i++)
        if (f->name[i] != NULL && strcmp(name, f->name[i]) == 0 && max > 0) {
            recs[0] = xstrdup(f->rec[i]);
            *n = 1;
            return DKIM_LOOKUP_OK;
        }
    return DKIM_LOOKUP_NONE;
}

static const char msg_head[] = "From: a@example.test\r\nTo: b@example.test\r\n"
                               "Subject: l= test\r\n\r\n";
static const char msg_body[] = "Hello  there \r\n\tsecond line\r\n\r\n";

typedef struct lsig_ctx {
    const hdr_msg *m;
} lsig_ctx;

static int
lsig_digest(void *ctx, const char *field_name, const char *folded_no_b, unsigned char dig[32])
{
    lsig_ctx *lc = ctx;
    char raw[4096];
    int n = snprintf(raw, sizeof(raw), "%s: %s", field_name, folded_no_b);
    assert_true(n > 0 && (size_t)n < sizeof(raw));
    return dkim_hash_headers(lc->m, "from:to:subject", DKIM_CANON_RELAXED, raw, (size_t)n, dig);
}

/* A DKIM-Signature with l=lval over msg_head+msg_body, as a whole message
 * (signature on top) with extra appended to the body. */
static char *
lsig_message(const dkim_key *k, unsigned long long lval, const char *extra)
{
    char err[128], tags[512], *bh, *value, *out;
    unsigned char dig[32];
    size_t blen = strlen(msg_body), mlen;
    buf msg;
    hdr_msg *m;
    lsig_ctx lc;

    assert_int_equal(dkim_canon_body_hash(DKIM_CANON_RELAXED, msg_body, blen, lval, dig, NULL), 0);
    bh = dkim_b64_encode(dig, 32);
    snprintf(tags, sizeof(tags), "v=1; a=%s; c=relaxed/relaxed; d=example.test; s=sel; "
             "l=%llu; h=from:to:subject; bh=%s;", dkim_algo_name(dkim_key_algo(k)), lval, bh);
    free(bh);
    buf_init(&msg, 1 << 20);
    buf_append_str(&msg, msg_head);
    buf_append_str(&msg, msg_body);
    m = dkim_msg_parse(msg.data, msg.len, err, sizeof(err));
    assert_non_null(m);
    lc.m = m;
    value = dkim_sign_value_cb(k, "DKIM-Signature", tags, lsig_digest, &lc);
    assert_non_null(value);
    hdr_msg_free(m);
    buf_reset(&msg);
    buf_printf(&msg, "DKIM-Signature: %s\r\n%s%s%s", value, msg_head, msg_body, extra);
    free(value);
    out = buf_steal(&msg, &mlen);
    buf_release(&msg);
    return out;
}

static void test_verify_l(void **state)
{
    dkim_key *k = key_gen(0);
    char *rec = dkim_key_dns_record(k), *m;
    fake_dns f = { { "sel._domainkey.example.test", NULL }, { rec, NULL } };
    unsigned long long full = 0;
    unsigned char dig[32];
    dkim_result *r;
    size_t n;
    (void)state;

    assert_int_equal(dkim_canon_body_hash(DKIM_CANON_RELAXED, msg_body, strlen(msg_body),
                                          DKIM_BODY_ALL, dig, &full), 0);
    /* l= the whole body: pass, nothing partial */
    m = lsig_message(k, full, "");
    assert_int_equal(dkim_verify_message_cb(fake_lookup, &f, m, strlen(m), 1700000000, &r, &n), 0);
    assert_int_equal(n, 1);
    assert_string_equal(r[0].result, "pass");
    assert_string_equal(r[0].reason, "");
    free(r);
    free(m);
    /* l= the whole body, text appended later: pass, partial */
    m = lsig_message(k, full, "appended\r\n");
    dkim_verify_message_cb(fake_lookup, &f, m, strlen(m), 1700000000, &r, &n);
    assert_string_equal(r[0].result, "pass");
    assert_string_equal(r[0].reason, "l= covers only part of the body");
    free(r);
    free(m);
    /* l= shorter than the body: pass, partial */
    m = lsig_message(k, 7, "");
    dkim_verify_message_cb(fake_lookup, &f, m, strlen(m), 1700000000, &r, &n);
    assert_string_equal(r[0].result, "pass");
    assert_string_equal(r[0].reason, "l= covers only part of the body");
    free(r);
    free(m);
    /* l= longer than the body: fail */
    m = lsig_message(k, full + 1, "");
    dkim_verify_message_cb(fake_lookup, &f, m, strlen(m), 1700000000, &r, &n);
    assert_string_equal(r[0].result, "fail");
    assert_string_equal(r[0].reason, "l= is longer than the body");
    free(r);
    free(m);
    free(rec);
    dkim_key_free(k);
}

static void test_sign_shared(void **state)
{
    dkim_key *rsa = key_gen(1024), *ed = key_gen(0);
    char *rrec = dkim_key_dns_record(rsa), *erec = dkim_key_dns_record(ed);
    fake_dns f = { { "r._domainkey.example.test", "e._domainkey.example.test" },
                   { rrec, erec } };
    dkim_body_hash bh = { 0 };
    char *v1, *v2, *v3, err[128];
    buf msg;
    dkim_result *r;
    size_t n;
    (void)state;

    buf_init(&msg, 1 << 20);
    buf_append_str(&msg, msg_head);
    buf_append_str(&msg, msg_body);
    assert_int_equal(dkim_sign_shared(rsa, "example.test", "r", NULL, 1700000000, msg.data,
                                      msg.len, &bh, &v1, err, sizeof(err)), 0);
    assert_true(bh.set);
    {
        unsigned char want[32];
        assert_int_equal(dkim_canon_body_hash(DKIM_CANON_RELAXED, msg_body, strlen(msg_body),
                                              DKIM_BODY_ALL, want, NULL), 0);
        assert_memory_equal(bh.dig, want, 32);
    }
    /* the second signature goes on top of the first, as the relay does */
    {
        buf top;
        buf_init(&top, 1 << 20);
        buf_printf(&top, "DKIM-Signature: %s\r\n%s%s", v1, msg_head, msg_body);
        assert_int_equal(dkim_sign_shared(ed, "example.test", "e", NULL, 1700000000, top.data,
                                          top.len, &bh, &v2, err, sizeof(err)), 0);
        /* same as without sharing */
        assert_int_equal(dkim_sign(ed, "example.test", "e", NULL, 1700000000, top.data,
                                   top.len, &v3, err, sizeof(err)), 0);
        assert_string_equal(v2, v3);
        buf_reset(&msg);
        buf_printf(&msg, "DKIM-Signature: %s\r\n%s", v2, top.data);
        buf_release(&top);
    }
    assert_int_equal(dkim_verify_message_cb(fake_lookup, &f, msg.data, msg.len, 1700000000,
                                            &r, &n), 0);
    assert_int_equal(n, 2);
    assert_string_equal(r[0].result, "pass");
    assert_string_equal(r[1].result, "pass");
    free(r);
    free(v1);
    free(v2);
    free(v3);
    buf_release(&msg);
    free(rrec);
    free(erec);
    dkim_key_free(rsa);
    dkim_key_free(ed);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fixed_bodies),
        cmocka_unit_test(test_random_bodies),
        cmocka_unit_test(test_verify_l),
        cmocka_unit_test(test_sign_shared),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
