/*
 * proxy_parse.c - PROXY protocol v1 (text) and v2 (binary) header parser.
 * Pure: no I/O, no allocation. See proxy_parse.h.
 *
 * STANDARDS: HAProxy "The PROXY protocol", versions 1 and 2.
 */
#include <stdio.h>
#include <string.h>
#include <arpa/inet.h>
#include "proxy_parse.h"

static const unsigned char proxy_v2_sig[12] = {
    0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A,
};

static enum proxy_result proxy_fail(proxy_info *out, const char *why);
static enum proxy_result proxy_v1(const unsigned char *p, size_t n, proxy_info *out);
static enum proxy_result proxy_v2(const unsigned char *p, size_t n, proxy_info *out);
static int proxy_port(const char *s, unsigned *port);

static enum proxy_result proxy_fail(proxy_info *out, const char *why)
{
    snprintf(out->error, sizeof out->error, "%s", why);
    return PROXY_ERROR;
}

enum proxy_result proxy_parse(const unsigned char *p, size_t n, unsigned accept,
                              proxy_info *out)
{
    memset(out, 0, sizeof *out);
    if (n == 0) {
        out->need = 1;
        return PROXY_NEED_MORE;
    }
    if ((accept & PROXY_ACCEPT_V2) && p[0] == proxy_v2_sig[0]) {
        size_t k = n < sizeof proxy_v2_sig ? n : sizeof proxy_v2_sig;
        if (memcmp(p, proxy_v2_sig, k) != 0)
            return proxy_fail(out, "not a PROXY v2 signature");
        return proxy_v2(p, n, out);
    }
    if ((accept & PROXY_ACCEPT_V1) && p[0] == 'P') {
        size_t k = n < 6 ? n : 6;
        if (memcmp(p, "PROXY ", k) != 0)
            return proxy_fail(out, "not a PROXY v1 header");
        return proxy_v1(p, n, out);
    }
    return proxy_fail(out, "no PROXY header");
}

/* Decimal 0-65535 without leading zeros. */
static int proxy_port(const char *s, unsigned *port)
{
    size_t len = strlen(s);
    if (len == 0 || len > 5 || (len > 1 && s[0] == '0'))
        return -1;
    unsigned v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (unsigned)(s[i] - '0');
    }
    if (v > 65535)
        return -1;
    *port = v;
    return 0;
}

static enum proxy_result proxy_v1(const unsigned char *p, size_t n, proxy_info *out)
{
    size_t lim = n < PROXY_V1_MAX ? n : PROXY_V1_MAX;
    const unsigned char *lf = memchr(p, '\n', lim);
    if (lf == NULL) {
        if (n >= PROXY_V1_MAX)
            return proxy_fail(out, "PROXY v1 line too long");
        out->need = 1;                      /* byte by byte: never read past LF */
        return PROXY_NEED_MORE;
    }
    size_t len = (size_t)(lf - p) + 1;
    if (len < 8 || p[len - 2] != '\r')
        return proxy_fail(out, "PROXY v1 line does not end with CRLF");
    char line[PROXY_V1_MAX + 1];
    memcpy(line, p, len - 2);
    line[len - 2] = '\0';
    for (size_t i = 0; i < len - 2; i++)
        if (line[i] < 0x20 || line[i] > 0x7e)
            return proxy_fail(out, "PROXY v1 line has control bytes");
    out->version = 1;
    out->header_len = len;
    if (strncmp(line, "PROXY UNKNOWN", 13) == 0 && (line[13] == '\0' || line[13] == ' ')) {
        out->local = 1;
        return PROXY_OK;
    }
    char *f[6];
    size_t nf = 0;
    char *s = line;
    for (;;) {
        if (nf == 6)
            return proxy_fail(out, "PROXY v1: too many fields");
        f[nf++] = s;
        char *sp = strchr(s, ' ');
        if (sp == NULL)
            break;
        *sp = '\0';
        s = sp + 1;
    }
    if (nf != 6)
        return proxy_fail(out, "PROXY v1: wrong number of fields");
    int v6;
    if (strcmp(f[1], "TCP4") == 0) v6 = 0;
    else if (strcmp(f[1], "TCP6") == 0) v6 = 1;
    else return proxy_fail(out, "PROXY v1: unknown protocol");
    unsigned char bin[16];
    int af = v6 ? AF_INET6 : AF_INET;
    if (inet_pton(af, f[2], bin) != 1 || inet_pton(af, f[3], bin) != 1)
        return proxy_fail(out, "PROXY v1: bad address");
    if (proxy_port(f[4], &out->src_port) != 0 || proxy_port(f[5], &out->dst_port) != 0)
        return proxy_fail(out, "PROXY v1: bad port");
    out->v6 = v6;
    snprintf(out->src_ip, sizeof out->src_ip, "%s", f[2]);
    snprintf(out->dst_ip, sizeof out->dst_ip, "%s", f[3]);
    return PROXY_OK;
}

static enum proxy_result proxy_v2(const unsigned char *p, size_t n, proxy_info *out)
{
    if (n < 16) {
        out->need = 16 - n;
        return PROXY_NEED_MORE;
    }
    unsigned ver = p[12] >> 4, cmd = p[12] & 0x0f;
    unsigned fam = p[13] >> 4, proto = p[13] & 0x0f;
    size_t len = ((size_t)p[14] << 8) | p[15];
    if (ver != 2)
        return proxy_fail(out, "PROXY v2: bad version");
    if (cmd > 1)
        return proxy_fail(out, "PROXY v2: bad command");
    if (len > PROXY_V2_MAX_LEN)
        return proxy_fail(out, "PROXY v2: header too long");
    if (n < 16 + len) {
        out->need = 16 + len - n;
        return PROXY_NEED_MORE;
    }
    out->version = 2;
    out->header_len = 16 + len;
    const unsigned char *a = p + 16;
    size_t alen;
    if (fam == 1) alen = 12;
    else if (fam == 2) alen = 36;
    else if (fam == 3) alen = 216;
    else if (fam == 0) alen = 0;
    else return proxy_fail(out, "PROXY v2: bad address family");
    if (proto > 2)
        return proxy_fail(out, "PROXY v2: bad transport");
    if (len < alen)
        return proxy_fail(out, "PROXY v2: addresses truncated");
    /* TLVs: type (1), length (2), value; they must fill the rest exactly */
    size_t off = alen;
    while (off < len) {
        if (len - off < 3)
            return proxy_fail(out, "PROXY v2: truncated TLV");
        size_t tl = ((size_t)a[off + 1] << 8) | a[off + 2];
        if (len - off - 3 < tl)
            return proxy_fail(out, "PROXY v2: TLV longer than the header");
        off += 3 + tl;
        out->ntlv++;
    }
    if (cmd == 0 || fam == 0 || fam == 3) {     /* LOCAL, UNSPEC, UNIX */
        out->local = 1;
        return PROXY_OK;
    }
    if (proto != 1)
        return proxy_fail(out, "PROXY v2: not a stream connection");
    if (fam == 1) {
        if (inet_ntop(AF_INET, a, out->src_ip, sizeof out->src_ip) == NULL ||
            inet_ntop(AF_INET, a + 4, out->dst_ip, sizeof out->dst_ip) == NULL)
            return proxy_fail(out, "PROXY v2: bad address");
        out->src_port = ((unsigned)a[8] << 8) | a[9];
        out->dst_port = ((unsigned)a[10] << 8) | a[11];
    } else {
        if (inet_ntop(AF_INET6, a, out->src_ip, sizeof out->src_ip) == NULL ||
            inet_ntop(AF_INET6, a + 16, out->dst_ip, sizeof out->dst_ip) == NULL)
            return proxy_fail(out, "PROXY v2: bad address");
        out->src_port = ((unsigned)a[32] << 8) | a[33];
        out->dst_port = ((unsigned)a[34] << 8) | a[35];
        out->v6 = 1;
    }
    return PROXY_OK;
}
