/*
 * relay_dkim_keygen.c - new DKIM key pairs with OpenSSL EVP: RSA 2048 bits
 * for rsa-sha256, Ed25519 for ed25519-sha256 (RFC 8463). Returns the PEM
 * (PKCS#8) and the public TXT record (through dkim_key_dns_record, so what
 * we publish is exactly what we sign with). Owns nothing between calls.
 */
#include "relay_dkim.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

int relay_dkim_keygen(const char *algorithm, char **pem, char **txt, char *err,
                      size_t errlen)
{
    EVP_PKEY *pk = NULL;
    BIO *bio = NULL;
    dkim_key *k = NULL;
    int rc = -1;

    *pem = NULL;
    *txt = NULL;
    if (strcmp(algorithm, "rsa-sha256") == 0)
        pk = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
    else if (strcmp(algorithm, "ed25519-sha256") == 0)
        pk = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    else {
        snprintf(err, errlen, "algorithm must be rsa-sha256 or ed25519-sha256");
        return -1;
    }
    if (pk == NULL) {
        snprintf(err, errlen, "key generation failed");
        goto out;
    }
    bio = BIO_new(BIO_s_mem());
    if (bio == NULL || PEM_write_bio_PrivateKey(bio, pk, NULL, NULL, 0, NULL, NULL) != 1) {
        snprintf(err, errlen, "cannot encode the key as PEM");
        goto out;
    }
    char *data = NULL;
    long len = BIO_get_mem_data(bio, &data);
    if (len <= 0 || data == NULL) {
        snprintf(err, errlen, "cannot encode the key as PEM");
        goto out;
    }
    *pem = malloc((size_t)len + 1);
    if (*pem == NULL) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    memcpy(*pem, data, (size_t)len);
    (*pem)[len] = '\0';
    k = dkim_key_load_pem(*pem, (size_t)len, err, errlen);
    if (k == NULL)
        goto out;
    *txt = dkim_key_dns_record(k);
    if (*txt == NULL) {
        snprintf(err, errlen, "cannot build the DNS record");
        goto out;
    }
    rc = 0;
out:
    if (rc != 0) {
        relay_dkim_pem_free(*pem);
        *pem = NULL;
    }
    dkim_key_free(k);
    BIO_free(bio);   /* a mem BIO: OpenSSL clears nothing; the key is short-lived */
    EVP_PKEY_free(pk);
    return rc;
}

void relay_dkim_pem_free(char *pem)
{
    if (pem == NULL)
        return;
    OPENSSL_cleanse(pem, strlen(pem));
    free(pem);
}
