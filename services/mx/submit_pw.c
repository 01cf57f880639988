/*
 * submit_pw.c - yescrypt hashing and verification of submission
 * passwords (libxcrypt). See submit_pw.h.
 */
#include <stdlib.h>
#include <string.h>
#include <crypt.h>
#include <openssl/crypto.h>
#include "xalloc.h"
#include "submit_pw.h"

char *submit_pw_hash(const char *pass)
{
    char *salt = crypt_gensalt_ra("$y$", 0, NULL, 0);   /* default cost, OS random */
    if (salt == NULL)
        return NULL;
    struct crypt_data *cd = xcalloc(1, sizeof *cd);
    const char *h = crypt_r(pass, salt, cd);
    char *out = NULL;
    if (h != NULL && h[0] == '$')
        out = xstrdup(h);
    OPENSSL_cleanse(cd, sizeof *cd);
    free(cd);
    free(salt);
    return out;
}

int submit_pw_verify(const char *pass, const char *hash)
{
    if (hash == NULL || hash[0] != '$')
        return 0;
    struct crypt_data *cd = xcalloc(1, sizeof *cd);
    const char *h = crypt_r(pass, hash, cd);
    size_t n = strlen(hash);
    int ok = h != NULL && h[0] == '$' && strlen(h) == n && CRYPTO_memcmp(h, hash, n) == 0;
    OPENSSL_cleanse(cd, sizeof *cd);
    free(cd);
    return ok;
}
