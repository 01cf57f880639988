/*
 * fuzz_addr.c - libFuzzer target for libcommon/addr.c.
 *
 * Checks: no crash on any text; an accepted path respects the limits, has
 * one '@' outside quotes with a non-empty domain, no '%' or '!', reports a
 * consumed length that ends at '>', and re-parses to the same mailbox.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (text == NULL)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    char out[300];
    size_t used;
    enum addr_error e = addr_parse_path(text, size & 1, out, sizeof out, &used);
    if (e == ADDR_OK) {
        size_t ol = strlen(out);
        if (used != ol + 2 || used > 256 || text[used - 1] != '>')
            abort();
        if (ol > 0) {
            const char *d = addr_domain(out);
            if (d == NULL || d[0] == '\0' || strlen(d) > 255 || (size_t)(d - out - 1) > 64)
                abort();
            if (strpbrk(out, "%!") != NULL && strpbrk(out, "%!") < d)
                abort();
            char again[300];
            size_t used2;
            if (addr_parse_path(text, 0, again, sizeof again, &used2) != ADDR_OK ||
                strcmp(again, out) != 0 || used2 != used)
                abort();
            free(addr_lower(out));
        }
    } else if (strlen(addr_error_text(e)) == 0) {
        abort();
    }
    free(text);
    return 0;
}
