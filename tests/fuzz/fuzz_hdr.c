/*
 * fuzz_hdr.c - libFuzzer target for libcommon/hdr.c.
 *
 * Checks, for any input: parsing never crashes; a parsed message
 * re-serialises byte for byte; values can be read; edits keep the message
 * parseable and never let a value create an extra field.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "hdr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    enum hdr_error err;
    hdr_msg *m = hdr_parse((const char *)data, size, 64, 4096, &err);
    if (m == NULL) {
        if (err == HDR_OK)
            abort();
        return 0;
    }
    buf *b = buf_create(size + 1024 * 1024);
    if (hdr_serialize(m, b) != 0 || b->len != size || memcmp(b->data, data, size) != 0)
        abort();                /* round trip must be exact */
    for (size_t i = 0; i < m->nfields; i++)
        free(hdr_field_value(m, i));
    free(hdr_get_value(m, "subject"));
    (void)hdr_count(m, "received");

    /* edits: a value taken from the input (may be rejected) */
    size_t n = m->nfields;
    char value[64];
    size_t vl = size < sizeof value - 1 ? size : sizeof value - 1;
    memcpy(value, data, vl);
    value[vl] = '\0';
    int added = hdr_add_top(m, "X-Fuzz", value) == 0;
    if (hdr_insert(m, m->nfields, "X-Bottom", "b") != 0)
        abort();
    if (m->nfields != n + 1 + (size_t)added)
        abort();
    if (m->nfields > 1 && hdr_replace(m, 1, NULL, "replaced") != 0)
        abort();
    (void)hdr_remove_all(m, "x-bottom");
    buf_reset(b);
    if (hdr_serialize(m, b) != 0)
        abort();
    hdr_msg *again = hdr_parse(b->data, b->len, 1000, 1 << 20, &err);
    if (again == NULL || again->nfields != m->nfields)
        abort();                /* an edit created or broke a field */
    hdr_msg_free(again);
    buf_free(b);
    hdr_msg_free(m);
    return 0;
}
