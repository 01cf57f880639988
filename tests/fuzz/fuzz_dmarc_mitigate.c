/*
 * fuzz_dmarc_mitigate.c - libFuzzer target for libcommon/dmarc_mitigate.c
 * (DMARC From mitigation) and hdr_phrase.c.
 *
 * Checks, for any input: the From parser, the address decoding and each
 * mitigation mode never crash; a mitigated message re-parses with exactly
 * one From field; an encoded address decodes back to the author; a
 * phrase never holds CR or LF.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "dmarc_mitigate.h"
#include "hdr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_reparse(const hdr_msg *m)
{
    buf *b = buf_create(1u << 24);
    if (hdr_serialize(m, b) != 0)
        abort();
    enum hdr_error err;
    hdr_msg *again = hdr_parse(b->data, b->len, 1024, 1u << 20, &err);
    if (again == NULL || hdr_count(again, "From") != 1)
        abort();
    hdr_msg_free(again);
    buf_free(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char text[1024], addr[257], name[201], local[65], back[257];
    size_t tl = size < sizeof text - 1 ? size : sizeof text - 1;
    memcpy(text, data, tl);
    text[tl] = '\0';

    if (dmarc_mitigate_parse_from(text, addr, sizeof addr, name, sizeof name) == 0 &&
        dmarc_mitigate_encode_local(addr, local, sizeof local) == 0) {
        if (dmarc_mitigate_decode_local(local, back, sizeof back) != 0 ||
            strcmp(back, addr) != 0)
            abort();                       /* encoding must be reversible */
    }
    (void)dmarc_mitigate_decode_local(text, back, sizeof back);
    buf *p = buf_create(1u << 16);
    if (hdr_phrase_append(p, text) == 0 && (strchr(p->data, '\r') || strchr(p->data, '\n')))
        abort();
    buf_free(p);

    static const dmarc_mitigate_info info = {
        .address = "dev@example.test", .name = "Dev List",
        .encode_domain = "dmarc.example.test",
    };
    for (int mode = DMARC_MIT_MUNGE_FROM; mode <= DMARC_MIT_ENCODE_ADDRESS; mode++) {
        enum hdr_error err;
        hdr_msg *m = hdr_parse((const char *)data, size, 64, 4096, &err);
        if (m == NULL)
            return 0;
        int had_one_from = hdr_count(m, "From") == 1;
        if (dmarc_mitigate_apply(m, (enum dmarc_mitigation)mode, &info, NULL) == 0 &&
            had_one_from)
            check_reparse(m);
        hdr_msg_free(m);
    }
    return 0;
}
