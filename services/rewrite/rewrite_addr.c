/*
 * rewrite_addr.c - address and domain validation for rewrite (see
 * rewrite_addr.h). The path grammar is libcommon's addr.h; this file adds
 * the rules rewrite needs on top: a host-name domain and lower case.
 */
#include <string.h>

#include "addr.h"
#include "rewrite_addr.h"
#include "xalloc.h"

void rewrite_addr_lower(char *s)
{
    for (; *s; s++)
        if (*s >= 'A' && *s <= 'Z')
            *s = (char)(*s - 'A' + 'a');
}

static int label_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || c == '-';
}

int rewrite_addr_domain_valid(const char *name)
{
    size_t len = strlen(name), label = 0;
    if (len == 0 || len > 253)
        return 0;
    for (size_t i = 0; i <= len; i++) {
        char c = name[i];
        if (c == '.' || c == '\0') {
            if (label == 0 || label > 63)
                return 0;
            if (name[i - 1] == '-' || name[i - label] == '-')
                return 0;
            label = 0;
            continue;
        }
        if (!label_char(c))
            return 0;
        label++;
    }
    return 1;
}

int rewrite_addr_domain_normalize(const char *in, char *out, size_t outlen)
{
    if (!rewrite_addr_domain_valid(in))
        return -1;
    if (str_copy(out, outlen, in) != 0)
        return -1;
    rewrite_addr_lower(out);
    return 0;
}

int rewrite_addr_normalize(const char *in, char *out, size_t outlen,
                           const char **why)
{
    if (rewrite_addr_check(in, out, outlen, why) != 0)
        return -1;
    rewrite_addr_lower(out);
    return 0;
}

int rewrite_addr_check(const char *in, char *out, size_t outlen, const char **why)
{
    char path[REWRITE_ADDR_MAX + 3];
    size_t inlen = strlen(in), consumed = 0;

    *why = "invalid address";
    if (inlen == 0) {
        *why = "empty address";
        return -1;
    }
    if (inlen > REWRITE_ADDR_MAX) {
        *why = "address too long";
        return -1;
    }
    if (strchr(in, '<') != NULL || strchr(in, '>') != NULL)
        return -1;
    path[0] = '<';
    memcpy(path + 1, in, inlen);
    path[inlen + 1] = '>';
    path[inlen + 2] = '\0';

    enum addr_error e = addr_parse_path(path, 0, out, outlen, &consumed);
    if (e != ADDR_OK) {
        *why = addr_error_text(e);
        return -1;
    }
    if (consumed != inlen + 2)
        return -1;
    const char *dom = addr_domain(out);
    if (dom == NULL || dom == out + 1 || out[0] == '@') {
        *why = "address needs local@domain";
        return -1;
    }
    if (!rewrite_addr_domain_valid(dom)) {
        *why = "invalid domain";
        return -1;
    }
    return 0;
}

int rewrite_addr_strip_extension(const char *addr, const char *delims,
                                 char *out, size_t outlen)
{
    if (delims == NULL || *delims == '\0')
        return 0;
    const char *at = strrchr(addr, '@');
    if (at == NULL)
        return 0;
    size_t cut = strcspn(addr, delims);
    if (cut == 0 || addr + cut >= at)
        return 0;
    size_t dlen = strlen(at);
    if (cut + dlen + 1 > outlen)
        return -1;
    memcpy(out, addr, cut);
    memcpy(out + cut, at, dlen + 1);
    return 1;
}

int rewrite_addr_is_catchall(const char *addr)
{
    return addr != NULL && addr[0] == '@' && rewrite_addr_domain_valid(addr + 1);
}
