/*
 * test_dkim_core.c - unit tests for libcommon's DKIM modules: the
 * canonicalization examples of RFC 6376 §3.4.6, tag list errors, base64,
 * the fixed Ed25519 example of RFC 8463 Appendix A (message, key record and
 * signature as published; also checked against dkimpy), sign/verify round
 * trips with generated RSA and Ed25519 keys, Ed25519 signatures made by
 * libsodium byte for byte equal to OpenSSL's (and the RFC 8463 key), and
 * the refusals (RSA key under 1024 bits, rsa-sha1, revoked or missing key,
 * DNS tempfail).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "dkim.h"
#include "xalloc.h"

static const char rfc8463_msg[] =
    "DKIM-Signature: v=1; a=ed25519-sha256; c=relaxed/relaxed;\r\n"
    " d=football.example.com; i=@football.example.com;\r\n"
    " q=dns/txt; s=brisbane; t=1528637909; h=from : to :\r\n"
    " subject : date : message-id : from : subject : date;\r\n"
    " bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=;\r\n"
    " b=/gCrinpcQOoIfuHNQIbq4pgh9kyIK3AQUdt9OdqQehSwhEIug4D11Bus\r\n"
    " Fa3bT3FY5OsU7ZbnKELq+eXdp1Q1Dw==\r\n"
    "From: Joe SixPack <joe@football.example.com>\r\n"
    "To: Suzie Q <suzie@shopping.example.net>\r\n"
    "Subject: Is dinner ready?\r\n"
    "Date: Fri, 11 Jul 2003 21:00:37 -0700 (PDT)\r\n"
    "Message-ID: <20030712040037.46341.5F8J@football.example.com>\r\n"
    "\r\n"
    "Hi.\r\n"
    "\r\n"
    "We lost the game.  Are you hungry yet?\r\n"
    "\r\n"
    "Joe.\r\n";

typedef struct fake_dns {
    const char *name;
    const char *rec;
    int         tempfail;
} fake_dns;

static enum dkim_lookup_status
fake_lookup(void *ctx, const char *name, char **recs, size_t max, size_t *n)
{
    fake_dns *f = ctx;
    *n = 0;
    if (f->tempfail)
        return DKIM_LOOKUP_TEMPFAIL;
    if (f->name == NULL || strcmp(name, f->name) != 0 || max == 0)
        return DKIM_LOOKUP_NONE;
    recs[0] = xstrdup(f->rec);
    *n = 1;
    return DKIM_LOOKUP_OK;
}

static void test_canon_rfc6376_examples(void **state)
{
    const char h1[] = "A: X\r\n", h2[] = "B : Y\t\r\n\tZ  \r\n";
    const char body[] = " C \r\n  D \t E\r\n\r\n\r\n";
    buf *b = buf_create(4096);
    (void)state;

    assert_int_equal(dkim_canon_header(DKIM_CANON_RELAXED, h1, strlen(h1), 0, b), 0);
    assert_int_equal(dkim_canon_header(DKIM_CANON_RELAXED, h2, strlen(h2), 0, b), 0);
    assert_string_equal(b->data, "a:X\r\nb:Y Z\r\n");
    buf_reset(b);
    assert_int_equal(dkim_canon_header(DKIM_CANON_SIMPLE, h2, strlen(h2), 0, b), 0);
    assert_string_equal(b->data, h2);
    buf_reset(b);
    assert_int_equal(dkim_canon_body(DKIM_CANON_RELAXED, body, strlen(body), b), 0);
    assert_string_equal(b->data, " C\r\n D E\r\n");
    buf_reset(b);
    assert_int_equal(dkim_canon_body(DKIM_CANON_SIMPLE, body, strlen(body), b), 0);
    assert_string_equal(b->data, " C \r\n  D \t E\r\n");
    /* empty bodies; bare LF counts as a line end; no final line end */
    buf_reset(b);
    dkim_canon_body(DKIM_CANON_SIMPLE, "", 0, b);
    assert_string_equal(b->data, "\r\n");
    buf_reset(b);
    dkim_canon_body(DKIM_CANON_RELAXED, "\r\n\r\n", 4, b);
    assert_string_equal(b->data, "");
    buf_reset(b);
    dkim_canon_body(DKIM_CANON_SIMPLE, "a\nb", 3, b);
    assert_string_equal(b->data, "a\r\nb\r\n");
    buf_free(b);
}

/* Output longer than the canonicalizer's staging block (2 KiB), and an
 * output buf whose ceiling is too small: -1, never a partial success. */
static void test_canon_long_and_limited(void **state)
{
    enum { WORDS = 3000 };
    char *body = malloc(WORDS * 4 + 3), *want = malloc(WORDS * 2 + 3);
    size_t bl = 0, wl = 0;
    buf *b = buf_create(1 << 20), *small = buf_create(100);
    (void)state;

    assert_non_null(body);
    assert_non_null(want);
    for (int i = 0; i < WORDS; i++) {
        memcpy(body + bl, "x \t ", 4);
        bl += 4;
        memcpy(want + wl, i + 1 < WORDS ? "x " : "x", i + 1 < WORDS ? 2 : 1);
        wl += i + 1 < WORDS ? 2 : 1;
    }
    memcpy(body + bl, "\r\n", 3);
    memcpy(want + wl, "\r\n", 3);
    assert_int_equal(dkim_canon_body(DKIM_CANON_RELAXED, body, strlen(body), b), 0);
    assert_int_equal(b->len, strlen(want));
    assert_string_equal(b->data, want);
    assert_int_equal(dkim_canon_body(DKIM_CANON_RELAXED, body, strlen(body), small), -1);
    free(body);
    free(want);
    buf_free(b);
    buf_free(small);
}

static void test_strip_b(void **state)
{
    const char f[] = "DKIM-Signature: a=1; b=abc\r\n def; bh=xyz; c=2\r\n";
    size_t n;
    char *s = dkim_canon_strip_b(f, strlen(f), &n);
    (void)state;
    assert_non_null(s);
    assert_string_equal(s, "DKIM-Signature: a=1; b=; bh=xyz; c=2");
    free(s);
    assert_null(dkim_canon_strip_b("X: bh=1\r\n", 9, &n));
}

static void test_tags(void **state)
{
    dkim_tags t;
    char err[128];
    const char *bad[] = { "a=1; a=2", "=1", "1a=2", "a", "a=1; b", "a=\x01" };
    (void)state;

    assert_int_equal(dkim_tags_parse(" v = 1 ;\r\n\tb=x y ; ", 19, &t, err, sizeof(err)), 0);
    assert_int_equal(t.n, 2);
    assert_string_equal(dkim_tags_get(&t, "v"), "1");
    assert_string_equal(dkim_tags_get(&t, "b"), "x y");
    assert_null(dkim_tags_get(&t, "c"));
    dkim_tags_release(&t);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(dkim_tags_parse(bad[i], strlen(bad[i]), &t, err, sizeof(err)), -1);
    {
        buf *b = buf_create(1 << 20);
        for (int i = 0; i < DKIM_MAX_TAGS + 1; i++)
            buf_printf(b, "t%d=1;", i);
        assert_int_equal(dkim_tags_parse(b->data, b->len, &t, err, sizeof(err)), -1);
        buf_reset(b);
        buf_append_str(b, "a=");
        for (int i = 0; i < DKIM_MAX_TAG_LEN + 1; i++)
            buf_append(b, "x", 1);
        assert_int_equal(dkim_tags_parse(b->data, b->len, &t, err, sizeof(err)), -1);
        buf_free(b);
    }
}

static void test_base64(void **state)
{
    size_t n;
    unsigned char *p = dkim_b64_decode("aGVs\r\n bG8=", 11, &n);
    (void)state;
    assert_non_null(p);
    assert_int_equal(n, 5);
    assert_memory_equal(p, "hello", 5);
    free(p);
    assert_null(dkim_b64_decode("aGV", 3, &n));
    assert_null(dkim_b64_decode("a*Vs", 4, &n));
    assert_null(dkim_b64_decode("aG==bG8=", 8, &n));
}

static void test_rfc8463_vector(void **state)
{
    fake_dns f = { "brisbane._domainkey.football.example.com",
                   "v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=", 0 };
    dkim_result *r;
    size_t n;
    char *tampered;
    (void)state;

    assert_int_equal(dkim_verify_message_cb(fake_lookup, &f, rfc8463_msg, strlen(rfc8463_msg),
                                            1528637909, &r, &n), 0);
    assert_int_equal(n, 1);
    assert_string_equal(r[0].result, "pass");
    assert_string_equal(r[0].domain, "football.example.com");
    assert_string_equal(r[0].algo, "ed25519-sha256");
    assert_string_equal(r[0].header_b, "/gCrinpc");
    free(r);
    tampered = xstrdup(rfc8463_msg);
    *strstr(tampered, "Is dinner") = 'I' ^ 0x20;       /* "is dinner" */
    dkim_verify_message_cb(fake_lookup, &f, tampered, strlen(tampered), 1528637909, &r, &n);
    assert_string_equal(r[0].result, "fail");
    free(r);
    *strstr(tampered, "is dinner") = 'I';
    *strstr(tampered, "hungry") = 'H';
    dkim_verify_message_cb(fake_lookup, &f, tampered, strlen(tampered), 1528637909, &r, &n);
    assert_string_equal(r[0].result, "fail");
    assert_string_equal(r[0].reason, "body hash did not verify");
    free(r);
    free(tampered);
    f.tempfail = 1;
    dkim_verify_message_cb(fake_lookup, &f, rfc8463_msg, strlen(rfc8463_msg), 0, &r, &n);
    assert_string_equal(r[0].result, "temperror");
    free(r);
    f.tempfail = 0;
    f.name = "other";
    dkim_verify_message_cb(fake_lookup, &f, rfc8463_msg, strlen(rfc8463_msg), 0, &r, &n);
    assert_string_equal(r[0].result, "permerror");
    free(r);
}

static char *
pem_of(EVP_PKEY *pk)
{
    BIO *bio = BIO_new(BIO_s_mem());
    char *data, *out;
    long n;
    assert_int_equal(PEM_write_bio_PrivateKey(bio, pk, NULL, NULL, 0, NULL, NULL), 1);
    n = BIO_get_mem_data(bio, &data);
    out = xstrndup(data, (size_t)n);
    BIO_free(bio);
    return out;
}

static dkim_key *
key_gen(int rsa_bits)
{
    EVP_PKEY *pk = rsa_bits > 0 ? EVP_RSA_gen((unsigned)rsa_bits) : EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    char *pem = pem_of(pk), err[128];
    dkim_key *k = dkim_key_load_pem(pem, strlen(pem), err, sizeof(err));
    assert_non_null(k);
    free(pem);
    EVP_PKEY_free(pk);
    return k;
}

static const char plain_msg[] =
    "From: a@example.test\r\nTo: b@example.test\r\nSubject: hi\r\n\r\nbody  \r\nline\r\n\r\n";

static char *
signed_msg(const dkim_key *k, const char *extra_body)
{
    char *v, err[128];
    buf *b = buf_create(1 << 20);
    assert_int_equal(dkim_sign(k, "example.test", "sel", "from:to:subject:date", 1700000000,
                               plain_msg, strlen(plain_msg), &v, err, sizeof(err)), 0);
    buf_printf(b, "DKIM-Signature: %s\r\n%s%s", v, plain_msg, extra_body);
    free(v);
    {
        char *out = buf_steal(b, NULL);
        buf_free(b);
        return out;
    }
}

static void test_sign_verify_roundtrip(void **state)
{
    (void)state;
    for (int alg = 0; alg < 2; alg++) {
        dkim_key *k = key_gen(alg == 0 ? 2048 : 0);
        char *rec = dkim_key_dns_record(k), *m = signed_msg(k, "");
        fake_dns f = { "sel._domainkey.example.test", rec, 0 };
        dkim_result *r;
        size_t n;

        /* every line of the field within 78 columns */
        for (const char *p = m, *e; (e = strstr(p, "\r\n")) != NULL && p < strstr(m, "From:"); p = e + 2)
            assert_true(e - p <= 78);
        assert_non_null(strstr(m, "h=from:from:to:subject;"));
        assert_int_equal(dkim_verify_message_cb(fake_lookup, &f, m, strlen(m), 1700000100, &r, &n), 0);
        assert_int_equal(n, 1);
        assert_string_equal(r[0].result, "pass");
        assert_string_equal(r[0].algo, alg == 0 ? "rsa-sha256" : "ed25519-sha256");
        free(r);
        /* an added From after signing breaks the over-signed From */
        {
            buf *b = buf_create(1 << 20);
            const char *from = strstr(m, "From:");
            buf_append(b, m, (size_t)(from - m));
            buf_append_str(b, "From: evil@example.test\r\n");
            buf_append_str(b, from);
            dkim_verify_message_cb(fake_lookup, &f, b->data, b->len, 1700000100, &r, &n);
            assert_string_equal(r[0].result, "fail");
            free(r);
            buf_free(b);
        }
        free(m);
        free(rec);
        dkim_key_free(k);
    }
}

static void test_refusals(void **state)
{
    dkim_key *k = key_gen(2048), *small = key_gen(512);
    char *m = signed_msg(k, ""), *rec = dkim_key_dns_record(small), *v, err[128];
    fake_dns f = { "sel._domainkey.example.test", rec, 0 };
    dkim_result *r;
    size_t n;
    (void)state;

    /* a 512-bit key record: refused (RFC 8301) */
    dkim_verify_message_cb(fake_lookup, &f, m, strlen(m), 1700000100, &r, &n);
    assert_string_equal(r[0].result, "policy");
    free(r);
    assert_int_equal(dkim_sign(small, "example.test", "sel", NULL, 1, plain_msg,
                               strlen(plain_msg), &v, err, sizeof(err)), -1);
    free(rec);
    /* rsa-sha1 and a revoked key */
    {
        char *sha1 = xstrdup(m);
        memcpy(strstr(sha1, "rsa-sha256"), "rsa-sha1;;", 10);
        dkim_verify_message_cb(fake_lookup, &f, sha1, strlen(sha1), 1700000100, &r, &n);
        assert_string_equal(r[0].result, "permerror");
        free(r);
        free(sha1);
    }
    f.rec = "v=DKIM1; k=rsa; p=";
    dkim_verify_message_cb(fake_lookup, &f, m, strlen(m), 1700000100, &r, &n);
    assert_string_equal(r[0].result, "permerror");
    assert_string_equal(r[0].reason, "key revoked");
    free(r);
    free(m);
    dkim_key_free(small);
    dkim_key_free(k);
}

/* Our signer never sets l=, so text appended to the body fails; the l=
 * flag is checked against dkimpy signatures in test_dkim_interop.py. */
static void test_appended_body(void **state)
{
    dkim_key *k = key_gen(0);
    char *rec = dkim_key_dns_record(k), *m = signed_msg(k, "appended\r\n");
    fake_dns f = { "sel._domainkey.example.test", rec, 0 };
    dkim_result *r;
    size_t n;
    (void)state;

    /* appended text breaks the body hash (no l=) */
    dkim_verify_message_cb(fake_lookup, &f, m, strlen(m), 1700000100, &r, &n);
    assert_string_equal(r[0].result, "fail");
    free(r);
    free(m);
    free(rec);
    dkim_key_free(k);
}

/* The signer uses libsodium for Ed25519; Ed25519 is deterministic, so its
 * signature over a digest must equal OpenSSL's for the same key, and must
 * verify (a wrong secret-key derivation would give different bytes). */
static void test_ed25519_matches_openssl(void **state)
{
    /* RFC 8463 Appendix A's private key, and a generated one */
    static const char rfc8463_pem[] =
        "-----BEGIN PRIVATE KEY-----\n"
        "MC4CAQAwBQYDK2VwBCIEIJ1hsZ3v/VpguoRK9JLsLMREScVpezJpGXA7rAMcrn9g\n"
        "-----END PRIVATE KEY-----\n";
    (void)state;
    for (int round = 0; round < 2; round++) {
        EVP_PKEY *pk;
        char *pem, err[128];
        if (round == 0) {
            BIO *bio = BIO_new_mem_buf(rfc8463_pem, -1);
            pk = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
            BIO_free(bio);
        } else {
            pk = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
        }
        assert_non_null(pk);
        pem = pem_of(pk);
        dkim_key *k = dkim_key_load_pem(pem, strlen(pem), err, sizeof(err));
        assert_non_null(k);
        for (int d = 0; d < 4; d++) {
            unsigned char dig[32], want[64], raw[64];
            size_t wantlen = sizeof(want), rawlen;
            for (int i = 0; i < 32; i++)
                dig[i] = (unsigned char)(i * 7 + d * 31 + round);
            EVP_MD_CTX *md = EVP_MD_CTX_new();
            assert_int_equal(EVP_DigestSignInit(md, NULL, NULL, NULL, pk), 1);
            assert_int_equal(EVP_DigestSign(md, want, &wantlen, dig, 32), 1);
            EVP_MD_CTX_free(md);
            char *got = dkim_key_sign_digest(k, dig);
            assert_non_null(got);
            unsigned char *dec = dkim_b64_decode(got, strlen(got), &rawlen);
            assert_non_null(dec);
            assert_int_equal(rawlen, 64);
            memcpy(raw, dec, 64);
            assert_memory_equal(raw, want, 64);
            /* and it verifies with the public key of the record */
            unsigned char pub[32];
            size_t publen = sizeof(pub);
            assert_int_equal(EVP_PKEY_get_raw_public_key(pk, pub, &publen), 1);
            dkim_pubkey *vk = dkim_pubkey_create(DKIM_ALGO_ED25519_SHA256, pub, publen);
            assert_non_null(vk);
            assert_true(dkim_pubkey_verify_digest(vk, dig, raw, 64));
            dig[0] ^= 1;
            assert_false(dkim_pubkey_verify_digest(vk, dig, raw, 64));
            dkim_pubkey_free(vk);
            free(dec);
            free(got);
        }
        if (round == 0) {
            char *rec = dkim_key_dns_record(k);
            assert_string_equal(rec, "v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=");
            free(rec);
        }
        dkim_key_free(k);
        free(pem);
        EVP_PKEY_free(pk);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_canon_rfc6376_examples),
        cmocka_unit_test(test_canon_long_and_limited),
        cmocka_unit_test(test_strip_b),
        cmocka_unit_test(test_tags),
        cmocka_unit_test(test_base64),
        cmocka_unit_test(test_rfc8463_vector),
        cmocka_unit_test(test_sign_verify_roundtrip),
        cmocka_unit_test(test_ed25519_matches_openssl),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_appended_body),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
