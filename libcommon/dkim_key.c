/*
 * dkim_key.c - DKIM keys: private keys loaded from PEM (RSA in PKCS#1 or
 * PKCS#8, Ed25519 in PKCS#8), the public TXT record to publish for them,
 * public keys from key records (RSA SubjectPublicKeyInfo or PKCS#1, raw
 * 32-byte Ed25519 keys of RFC 8463), and the sign/verify primitive over a
 * SHA-256 digest shared by DKIM and ARC.
 *
 * Ed25519 signatures are made with libsodium (crypto_sign_detached: about
 * twice as fast as OpenSSL 3.0's EVP path here, and Ed25519 is
 * deterministic, so the bytes are the same; tests/unit/test_dkim_key.c
 * checks that); keys are still read and published through OpenSSL, and
 * every verification stays with OpenSSL.
 *
 * SECURITY: private key bytes are never logged; error texts name the file
 * only. Public keys come from DNS (peer input) and are parsed by OpenSSL.
 *
 * Owns: the EVP_PKEY inside each dkim_key / dkim_pubkey.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <sodium.h>

#include "dkim.h"
#include "xalloc.h"

struct dkim_key {
    EVP_PKEY      *pkey;   /* owned */
    enum dkim_algo algo;
    /* RSA: a signing context set up once at load (the provider fetch and
     * init cost about a tenth of a signature); each signature works on a
     * copy, so threads may sign with one key at once. Owned; NULL for
     * Ed25519. */
    EVP_PKEY_CTX  *rsa_tmpl;
    /* Ed25519: libsodium's secret key (seed || public key), made once at
     * load; read-only afterwards, so threads may share it. Wiped on free. */
    unsigned char  ed_sk[crypto_sign_ed25519_SECRETKEYBYTES];
};

struct dkim_pubkey {
    EVP_PKEY      *pkey;   /* owned */
    enum dkim_algo algo;
};

static dkim_key *key_from_pkey(EVP_PKEY *pkey, char *err, size_t errlen);
static int       ed_secret_from_pkey(EVP_PKEY *pkey, unsigned char *sk);

/* libsodium's 64-byte Ed25519 secret key from the key's 32-byte seed (the
 * RFC 8032 private key OpenSSL holds). 0 or -1. */
static int
ed_secret_from_pkey(EVP_PKEY *pkey, unsigned char *sk)
{
    unsigned char seed[crypto_sign_ed25519_SEEDBYTES];
    unsigned char pk[crypto_sign_ed25519_PUBLICKEYBYTES];
    size_t seedlen = sizeof(seed);
    int rc = -1;

    if (sodium_init() < 0)
        return -1;
    if (EVP_PKEY_get_raw_private_key(pkey, seed, &seedlen) == 1
        && seedlen == sizeof(seed)
        && crypto_sign_ed25519_seed_keypair(pk, sk, seed) == 0)
        rc = 0;
    sodium_memzero(seed, sizeof(seed));
    return rc;
}

static dkim_key *
key_from_pkey(EVP_PKEY *pkey, char *err, size_t errlen)
{
    dkim_key *k;
    int id = EVP_PKEY_get_base_id(pkey);

    if (id != EVP_PKEY_RSA && id != EVP_PKEY_ED25519) {
        snprintf(err, errlen, "key is neither RSA nor Ed25519");
        EVP_PKEY_free(pkey);
        return NULL;
    }
    k = xcalloc(1, sizeof(*k));
    k->pkey = pkey;
    k->algo = id == EVP_PKEY_RSA ? DKIM_ALGO_RSA_SHA256 : DKIM_ALGO_ED25519_SHA256;
    if (k->algo == DKIM_ALGO_RSA_SHA256) {
        k->rsa_tmpl = EVP_PKEY_CTX_new(pkey, NULL);
        if (k->rsa_tmpl == NULL || EVP_PKEY_sign_init(k->rsa_tmpl) != 1
            || EVP_PKEY_CTX_set_rsa_padding(k->rsa_tmpl, RSA_PKCS1_PADDING) != 1
            || EVP_PKEY_CTX_set_signature_md(k->rsa_tmpl, EVP_sha256()) != 1) {
            snprintf(err, errlen, "cannot set up RSA signing");
            dkim_key_free(k);
            return NULL;
        }
    } else {
        if (ed_secret_from_pkey(pkey, k->ed_sk) != 0) {
            snprintf(err, errlen, "cannot set up Ed25519 signing");
            dkim_key_free(k);
            return NULL;
        }
    }
    return k;
}

dkim_key *
dkim_key_load_pem(const char *pem, size_t len, char *err, size_t errlen)
{
    BIO *bio = BIO_new_mem_buf(pem, (int)len);
    EVP_PKEY *pkey;

    if (bio == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    pkey = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
    BIO_free(bio);
    if (pkey == NULL) {
        snprintf(err, errlen, "not a PEM private key");
        return NULL;
    }
    return key_from_pkey(pkey, err, errlen);
}

dkim_key *
dkim_key_load_file(const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    EVP_PKEY *pkey;

    if (f == NULL) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return NULL;
    }
    pkey = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    fclose(f);
    if (pkey == NULL) {
        snprintf(err, errlen, "%s: not a PEM private key", path);
        return NULL;
    }
    return key_from_pkey(pkey, err, errlen);
}

void
dkim_key_free(dkim_key *k)
{
    if (k == NULL)
        return;
    EVP_PKEY_CTX_free(k->rsa_tmpl);
    sodium_memzero(k->ed_sk, sizeof(k->ed_sk));
    EVP_PKEY_free(k->pkey);
    free(k);
}

enum dkim_algo
dkim_key_algo(const dkim_key *k)
{
    return k->algo;
}

const char *
dkim_algo_name(enum dkim_algo a)
{
    return a == DKIM_ALGO_ED25519_SHA256 ? "ed25519-sha256" : "rsa-sha256";
}

int
dkim_key_bits(const dkim_key *k)
{
    return EVP_PKEY_get_bits(k->pkey);
}

char *
dkim_key_dns_record(const dkim_key *k)
{
    unsigned char *der = NULL, raw[32];
    size_t rawlen = sizeof(raw);
    char *b64, *rec;
    int n;
    buf b;

    if (k->algo == DKIM_ALGO_ED25519_SHA256) {
        if (EVP_PKEY_get_raw_public_key(k->pkey, raw, &rawlen) != 1)
            return NULL;
        b64 = dkim_b64_encode(raw, rawlen);
    } else {
        n = i2d_PUBKEY(k->pkey, &der);
        if (n <= 0)
            return NULL;
        b64 = dkim_b64_encode(der, (size_t)n);
        OPENSSL_free(der);
    }
    buf_init(&b, 16384);
    if (buf_printf(&b, "v=DKIM1; k=%s; p=%s",
                   k->algo == DKIM_ALGO_ED25519_SHA256 ? "ed25519" : "rsa", b64) != 0) {
        free(b64);
        buf_release(&b);
        return NULL;
    }
    free(b64);
    rec = buf_steal(&b, NULL);
    buf_release(&b);
    return rec;
}

char *
dkim_key_sign_digest(const dkim_key *k, const unsigned char dig[32])
{
    unsigned char *sig = NULL;
    size_t siglen = 0;
    char *b64 = NULL;
    int ok = 0;

    if (k->algo == DKIM_ALGO_ED25519_SHA256) {
        unsigned long long sl = 0;
        siglen = crypto_sign_ed25519_BYTES;
        sig = xmalloc(siglen);
        ok = crypto_sign_ed25519_detached(sig, &sl, dig, 32, k->ed_sk) == 0
             && sl == siglen;
    } else {
        EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_dup(k->rsa_tmpl);
        if (ctx != NULL && EVP_PKEY_sign(ctx, NULL, &siglen, dig, 32) == 1) {
            sig = xmalloc(siglen);
            ok = EVP_PKEY_sign(ctx, sig, &siglen, dig, 32) == 1;
        }
        EVP_PKEY_CTX_free(ctx);
    }
    if (ok)
        b64 = dkim_b64_encode(sig, siglen);
    free(sig);
    return b64;
}

dkim_pubkey *
dkim_pubkey_create(enum dkim_algo algo, const unsigned char *p, size_t len)
{
    EVP_PKEY *pkey = NULL;
    dkim_pubkey *pk;

    if (algo == DKIM_ALGO_ED25519_SHA256) {
        if (len != 32)
            return NULL;
        pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, p, len);
    } else {
        const unsigned char *q = p;
        pkey = d2i_PUBKEY(NULL, &q, (long)len);
        if (pkey == NULL) {                /* some publish PKCS#1 RSAPublicKey */
            q = p;
            pkey = d2i_PublicKey(EVP_PKEY_RSA, NULL, &q, (long)len);
        }
        if (pkey != NULL && EVP_PKEY_get_base_id(pkey) != EVP_PKEY_RSA) {
            EVP_PKEY_free(pkey);
            pkey = NULL;
        }
    }
    if (pkey == NULL)
        return NULL;
    pk = xcalloc(1, sizeof(*pk));
    pk->pkey = pkey;
    pk->algo = algo;
    return pk;
}

void
dkim_pubkey_free(dkim_pubkey *pk)
{
    if (pk == NULL)
        return;
    EVP_PKEY_free(pk->pkey);
    free(pk);
}

int
dkim_pubkey_bits(const dkim_pubkey *pk)
{
    return EVP_PKEY_get_bits(pk->pkey);
}

int
dkim_pubkey_verify_digest(const dkim_pubkey *pk, const unsigned char dig[32],
                          const unsigned char *sig, size_t siglen)
{
    int ok = 0;

    if (pk->algo == DKIM_ALGO_ED25519_SHA256) {
        EVP_MD_CTX *md = EVP_MD_CTX_new();
        if (md != NULL && EVP_DigestVerifyInit(md, NULL, NULL, NULL, pk->pkey) == 1)
            ok = EVP_DigestVerify(md, sig, siglen, dig, 32) == 1;
        EVP_MD_CTX_free(md);
    } else {
        EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(pk->pkey, NULL);
        if (ctx != NULL && EVP_PKEY_verify_init(ctx) == 1
            && EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) == 1
            && EVP_PKEY_CTX_set_signature_md(ctx, EVP_sha256()) == 1)
            ok = EVP_PKEY_verify(ctx, sig, siglen, dig, 32) == 1;
        EVP_PKEY_CTX_free(ctx);
    }
    return ok;
}
