/*
 * test_arc_chain.c - unit tests for libcommon/arc_seal.c and arc_verify.c:
 * no ARC fields gives cv=none; one and two seals verify (cv=pass,
 * oldest-pass); a change of the body after sealing fails; no seal after
 * cv=fail; a missing field breaks the structure; ed25519 keys are refused
 * for sealing. Keys come from a callback, no DNS.
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

#include "arc.h"
#include "xalloc.h"

static const char msg[] =
    "From: a@example.test\r\nTo: b@example.test\r\nSubject: hi\r\n\r\nbody\r\n";

typedef struct keyring {
    char *rec;
} keyring;

static enum dkim_lookup_status
lookup(void *ctx, const char *name, char **recs, size_t max, size_t *n)
{
    keyring *k = ctx;
    *n = 0;
    if (strcmp(name, "arc._domainkey.example.test") != 0 || max == 0)
        return DKIM_LOOKUP_NONE;
    recs[0] = xstrdup(k->rec);
    *n = 1;
    return DKIM_LOOKUP_OK;
}

static dkim_key *
gen(const char *type)
{
    EVP_PKEY *pk = strcmp(type, "RSA") == 0 ? EVP_RSA_gen(2048) : EVP_PKEY_Q_keygen(NULL, NULL, type);
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

static char *
seal(const dkim_key *k, const char *m, const char *cv, int want_rc)
{
    char *fields = NULL, err[160];
    int rc = arc_seal(k, "example.test", "arc", "mx.example.test", "spf=pass", 1700000000,
                      NULL, cv, m, strlen(m), &fields, err, sizeof(err));
    assert_int_equal(rc, want_rc);
    if (rc != 0)
        return NULL;
    {
        buf *b = buf_create(1 << 20);
        char *out;
        buf_append_str(b, fields);
        buf_append_str(b, m);
        free(fields);
        out = buf_steal(b, NULL);
        buf_free(b);
        return out;
    }
}

static void test_chain(void **state)
{
    dkim_key *k = gen("RSA");
    keyring kr = { dkim_key_dns_record(k) };
    arc_result r;
    char *one, *two, *bad;
    (void)state;

    assert_int_equal(arc_verify_message_cb(lookup, &kr, msg, strlen(msg), 1700000001, &r), 0);
    assert_string_equal(r.cv, "none");
    assert_int_equal(r.instances, 0);

    one = seal(k, msg, NULL, 0);
    assert_non_null(strstr(one, "ARC-Seal: i=1; a=rsa-sha256; cv=none;"));
    arc_verify_message_cb(lookup, &kr, one, strlen(one), 1700000001, &r);
    assert_string_equal(r.cv, "pass");
    assert_int_equal(r.instances, 1);
    assert_int_equal(r.oldest_pass, 1);
    assert_string_equal(r.domain, "example.test");

    assert_null(seal(k, one, NULL, -1));       /* a chain needs the caller's cv */
    two = seal(k, one, "pass", 0);
    assert_non_null(strstr(two, "ARC-Seal: i=2; a=rsa-sha256; cv=pass;"));
    arc_verify_message_cb(lookup, &kr, two, strlen(two), 1700000001, &r);
    assert_string_equal(r.cv, "pass");
    assert_int_equal(r.instances, 2);

    bad = xstrdup(two);
    memcpy(strstr(bad, "\r\nbody"), "\r\nBODY", 6);
    arc_verify_message_cb(lookup, &kr, bad, strlen(bad), 1700000001, &r);
    assert_string_equal(r.cv, "fail");
    free(bad);

    bad = xstrdup(two);                          /* drop the AAR of i=1 */
    memcpy(strstr(bad, "ARC-Authentication-Results: i=1"), "X-Removed-Field-Here-XXXXX", 26);
    arc_verify_message_cb(lookup, &kr, bad, strlen(bad), 1700000001, &r);
    assert_string_equal(r.cv, "fail");
    assert_null(seal(k, bad, "fail", 1));
    free(bad);

    bad = xstrdup(two);
    memcpy(strstr(bad, "cv=pass"), "cv=fail", 7);
    arc_verify_message_cb(lookup, &kr, bad, strlen(bad), 1700000001, &r);
    assert_string_equal(r.cv, "fail");
    assert_null(seal(k, bad, "fail", 1));       /* nothing after cv=fail */
    free(bad);

    free(one);
    free(two);
    free(kr.rec);
    dkim_key_free(k);
}

static void test_ed25519_refused(void **state)
{
    dkim_key *k = gen("ED25519");
    (void)state;
    assert_null(seal(k, msg, NULL, -1));
    dkim_key_free(k);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_chain),
        cmocka_unit_test(test_ed25519_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
