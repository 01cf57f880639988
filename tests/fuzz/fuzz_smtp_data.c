/*
 * fuzz_smtp_data.c - libFuzzer target for services/mx/smtp_data.c, the
 * DATA and BDAT reader. The first byte picks the mode (DATA/BDAT, reject
 * or normalize) and the piece size; the rest is fed in pieces.
 *
 * Checks: no crash; the reader never uses more than it is given; in DATA
 * mode the data ends only where the input has <CR><LF>.<CR><LF> (or starts
 * with ".<CR><LF>"); the stored body is at most max_size; in normalize
 * mode every stored LF follows a CR and every CR precedes an LF; without
 * normalization a stored bare LF/CR is flagged.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../services/mx/smtp_data.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    unsigned mode = data[0];
    unsigned opts = 0;
    if (mode & 1) opts |= SMTP_DATA_OPT_RAW;
    if (mode & 2) opts |= SMTP_DATA_OPT_NORMALIZE;
    size_t step = (mode >> 2) + 1;
    const char *in = (const char *)data + 1;
    size_t n = size - 1;
    smtp_data d;
    smtp_data_init(&d, 4096, (mode & 0x80) ? 64 : 0, opts);
    size_t off = 0, used_total = 0;
    while (off < n && !d.done) {
        size_t k = n - off < step ? n - off : step;
        size_t u = smtp_data_feed(&d, in + off, k);
        if (u > k || (!d.done && u != k))
            abort();
        used_total += u;
        off += k;
    }
    if (opts & SMTP_DATA_OPT_RAW) {
        if (d.done)
            abort();
        smtp_data_finish(&d);
    } else if (d.done) {
        int first = used_total == 3 && memcmp(in, ".\r\n", 3) == 0;
        if (!first && (used_total < 5 || memcmp(in + used_total - 5, "\r\n.\r\n", 5) != 0))
            abort();
    }
    if (d.body.len > d.max_size)
        abort();
    if (!(d.flags & SMTP_DATA_TOO_BIG)) {
        for (size_t i = 0; i < d.body.len; i++) {
            int lf_ok = d.body.data[i] != '\n' || (i > 0 && d.body.data[i - 1] == '\r');
            int cr_ok = d.body.data[i] != '\r' ||
                        (i + 1 < d.body.len && d.body.data[i + 1] == '\n');
            if (opts & SMTP_DATA_OPT_NORMALIZE) {
                if (!lf_ok || (!cr_ok && d.done))
                    abort();
            } else {
                if (!lf_ok && !(d.flags & SMTP_DATA_BARE_LF))
                    abort();
                if (!cr_ok && d.done && !(d.flags & SMTP_DATA_BARE_CR))
                    abort();
            }
        }
    }
    smtp_data_release(&d);
    return 0;
}
