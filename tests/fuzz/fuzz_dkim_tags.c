/*
 * fuzz_dkim_tags.c - libFuzzer target for libcommon/dkim_tags.c (tag=value
 * lists of DKIM-Signature, ARC-* and key records) and the b= stripping and
 * header canonicalization of dkim_canon.c that run on the same fields.
 *
 * Checks, for any input: no crash; a parsed list respects the limits and
 * every tag is findable; canonical forms never grow past a bound.
 * Build: clang -fsanitize=fuzzer,address,undefined with dkim_tags.c,
 * dkim_canon.c, buf.c, xalloc.c and -lcrypto.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dkim.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    dkim_tags t;
    char err[128], *stripped;
    size_t n;
    buf *b;

    if (dkim_tags_parse(s, size, &t, err, sizeof(err)) == 0) {
        if (t.n > DKIM_MAX_TAGS)
            abort();
        for (size_t i = 0; i < t.n; i++) {
            if (dkim_tags_get(&t, t.tags[i].name) != t.tags[i].value
                || strlen(t.tags[i].value) > DKIM_MAX_TAG_LEN)
                abort();
            free(dkim_b64_decode(t.tags[i].value, strlen(t.tags[i].value), &n));
        }
        dkim_tags_release(&t);
    }
    b = buf_create(8 * size + 16);   /* each LF may become CRLF, 3 forms */
    if (dkim_canon_header(DKIM_CANON_RELAXED, s, size, 0, b) != 0
        || dkim_canon_header(DKIM_CANON_SIMPLE, s, size, 1, b) != 0
        || dkim_canon_body(DKIM_CANON_RELAXED, s, size, b) != 0)
        abort();
    stripped = dkim_canon_strip_b(s, size, &n);
    if (stripped != NULL && n > size)
        abort();
    free(stripped);
    buf_free(b);
    return 0;
}
