/*
 * fuzz_srs.c - libFuzzer target for libcommon/srs.c.
 *
 * The input is used as an address for srs_reverse() (never crashes, only
 * SRS_OK gives output) and as a sender for srs_forward(); every forwarded
 * address must reverse to the original sender, also case-folded.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "srs.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const secrets[] = { "fuzz-secret", "old-secret" };
    const srs_secrets s = { secrets, 2, 0 };
    const time_t now = 1700000000;
    char *text = malloc(size + 1);
    if (text == NULL)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';

    char out[600], back[600];
    (void)srs_reverse(&s, text, now, out, sizeof out);
    (void)srs_is_srs(text);

    enum srs_result r = srs_forward(&s, text, "fwd.example", now, out, sizeof out);
    if (r == SRS_OK && strcmp(out, text) != 0) {
        if (!srs_is_srs(out))
            abort();
        enum srs_result rr = srs_reverse(&s, out, now + 86400, back, sizeof back);
        if (rr != SRS_OK)
            abort();
        /* SRS1 reverses to the previous hop's SRS0, not to the sender */
        if (strncmp(out, "SRS0", 4) == 0 && strcmp(back, text) != 0)
            abort();
        for (char *p = out; *p; p++)
            *p = (char)toupper((unsigned char)*p);
        if (srs_reverse(&s, out, now, back, sizeof back) != SRS_OK)
            abort();
    }
    (void)srs_result_text(r);
    free(text);
    return 0;
}
