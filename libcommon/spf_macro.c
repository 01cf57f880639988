/*
 * spf_macro.c - SPF macro strings (RFC 7208 §7): syntax check and
 * expansion of %{s l o d i p h c r t v} with digit and 'r' transformers,
 * delimiters, URL-escaping for upper-case letters, and %% %_ %-.
 *
 * Owns nothing. %{p} does DNS lookups through the context's resolver (PTR,
 * then at most 10 forward confirmations); everything else is pure.
 * SECURITY: the spec comes from DNS: every '%' must start a valid macro,
 * output is bounded by the caller's buffer (a longer result is an error).
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "spf.h"
#include "xalloc.h"

#define SPF_MACRO_MAX_PARTS 128

static int  spf_macro_letter_ok(char c, int exp);
static int  spf_macro_value(char letter, const spf_macro_ctx *m, char *v, size_t vlen);
static int  spf_macro_put(char *out, size_t outlen, size_t *o, const char *s, size_t n);
static void spf_macro_ptr(const spf_macro_ctx *m, char *v, size_t vlen);
static int  spf_macro_ip_matches(const spf_macro_ctx *m, const char *name);

static int spf_macro_letter_ok(char c, int exp)
{
    c = (char)tolower((unsigned char)c);
    if (strchr("slodiphv", c) != NULL && c != '\0')
        return 1;
    return exp && c != '\0' && strchr("crt", c) != NULL;
}

int spf_macro_valid(const char *spec, size_t len, int exp)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)spec[i];
        if (c == '%') {
            if (++i >= len)
                return 0;
            if (spec[i] == '%' || spec[i] == '_' || spec[i] == '-')
                continue;
            if (spec[i] != '{' || ++i >= len || !spf_macro_letter_ok(spec[i], exp))
                return 0;
            i++;
            while (i < len && isdigit((unsigned char)spec[i]))
                i++;
            if (i < len && (spec[i] == 'r' || spec[i] == 'R'))
                i++;
            while (i < len && strchr(".-+,/_=", spec[i]) != NULL && spec[i] != '\0')
                i++;
            if (i >= len || spec[i] != '}')
                return 0;
        } else if (c < 0x21 || c > 0x7e) {
            if (!(exp && c == ' '))
                return 0;
        }
    }
    return 1;
}

static int spf_macro_put(char *out, size_t outlen, size_t *o, const char *s, size_t n)
{
    if (*o + n >= outlen)
        return -1;
    memcpy(out + *o, s, n);
    *o += n;
    out[*o] = '\0';
    return 0;
}

int spf_macro_expand(const char *spec, const spf_macro_ctx *m, int exp,
                     char *out, size_t outlen)
{
    size_t len = strlen(spec), o = 0;

    if (outlen == 0 || !spf_macro_valid(spec, len, exp))
        return -1;
    out[0] = '\0';
    for (size_t i = 0; i < len; i++) {
        if (spec[i] != '%') {
            if (spf_macro_put(out, outlen, &o, spec + i, 1) != 0)
                return -1;
            continue;
        }
        i++;
        if (spec[i] == '%' || spec[i] == '_' || spec[i] == '-') {
            const char *lit = spec[i] == '%' ? "%" : spec[i] == '_' ? " " : "%20";
            if (spf_macro_put(out, outlen, &o, lit, strlen(lit)) != 0)
                return -1;
            continue;
        }
        /* '{' letter digits ['r'] delimiters '}' (checked above) */
        char letter = spec[++i];
        int upper = isupper((unsigned char)letter), digits = 0, have_digits = 0, rev = 0;
        char delims[8] = "";
        size_t nd = 0;
        i++;
        while (isdigit((unsigned char)spec[i])) {
            have_digits = 1;
            if (digits < 1000)
                digits = digits * 10 + (spec[i] - '0');
            i++;
        }
        if (spec[i] == 'r' || spec[i] == 'R') {
            rev = 1;
            i++;
        }
        while (spec[i] != '}') {
            if (nd + 1 < sizeof(delims) && strchr(delims, spec[i]) == NULL)
                delims[nd++] = spec[i];
            i++;
        }
        delims[nd] = '\0';
        if (have_digits && digits == 0)
            return -1;
        char value[1024];
        if (spf_macro_value((char)tolower((unsigned char)letter), m, value, sizeof(value)) != 0)
            return -1;
        /* split into parts, reverse, keep the right-most digits parts */
        char *parts[SPF_MACRO_MAX_PARTS];
        size_t np = 0;
        char *p = value;
        const char *sep = nd ? delims : ".";
        for (;;) {
            char *q = p + strcspn(p, sep);
            int last = *q == '\0';
            *q = '\0';
            if (np < SPF_MACRO_MAX_PARTS)
                parts[np++] = p;
            if (last)
                break;
            p = q + 1;
        }
        if (rev)
            for (size_t a = 0, b = np - 1; a < b; a++, b--) {
                char *tmp = parts[a];
                parts[a] = parts[b];
                parts[b] = tmp;
            }
        size_t first = (have_digits && (size_t)digits < np) ? np - (size_t)digits : 0;
        for (size_t k = first; k < np; k++) {
            if (k > first && spf_macro_put(out, outlen, &o, ".", 1) != 0)
                return -1;
            if (!upper) {
                if (spf_macro_put(out, outlen, &o, parts[k], strlen(parts[k])) != 0)
                    return -1;
                continue;
            }
            for (const char *c = parts[k]; *c; c++) {
                char enc[4];
                unsigned char uc = (unsigned char)*c;
                if (isalnum(uc) || strchr("-._~", uc) != NULL) {
                    enc[0] = (char)uc;
                    enc[1] = '\0';
                } else {
                    snprintf(enc, sizeof(enc), "%%%02X", uc);
                }
                if (spf_macro_put(out, outlen, &o, enc, strlen(enc)) != 0)
                    return -1;
            }
        }
    }
    if (!exp && o > 253) {
        /* RFC 7208 §7.3: drop labels from the left until 253 or less */
        size_t cut = 0;
        while (o - cut > 253) {
            char *dot = strchr(out + cut, '.');
            if (dot == NULL)
                return -1;
            cut = (size_t)(dot - out) + 1;
        }
        memmove(out, out + cut, o - cut + 1);
    }
    return 0;
}

static int spf_macro_value(char letter, const spf_macro_ctx *m, char *v, size_t vlen)
{
    const char *s = NULL, *at;
    size_t o = 0;

    switch (letter) {
    case 's': s = m->sender; break;
    case 'l':
        at = m->sender ? strrchr(m->sender, '@') : NULL;
        if (at == NULL || at == m->sender)
            s = "postmaster";
        else {
            size_t n = (size_t)(at - m->sender);
            if (n >= vlen)
                return -1;
            memcpy(v, m->sender, n);
            v[n] = '\0';
            return 0;
        }
        break;
    case 'o':
        at = m->sender ? strrchr(m->sender, '@') : NULL;
        s = at ? at + 1 : m->sender;
        break;
    case 'd': s = m->domain; break;
    case 'h': s = m->helo; break;
    case 'r': s = m->receiver ? m->receiver : "unknown"; break;
    case 'v': s = m->ipv6 ? "ip6" : "in-addr"; break;
    case 't':
        snprintf(v, vlen, "%lld", (long long)m->now);
        return 0;
    case 'c':
        if (inet_ntop(m->ipv6 ? AF_INET6 : AF_INET, m->ip, v, (socklen_t)vlen) == NULL)
            return -1;
        return 0;
    case 'i':
        if (!m->ipv6) {
            snprintf(v, vlen, "%u.%u.%u.%u", m->ip[0], m->ip[1], m->ip[2], m->ip[3]);
            return 0;
        }
        for (int k = 0; k < 16; k++) {
            char nib[5];
            snprintf(nib, sizeof(nib), "%s%x.%x", k ? "." : "", m->ip[k] >> 4, m->ip[k] & 15);
            if (spf_macro_put(v, vlen, &o, nib, strlen(nib)) != 0)
                return -1;
        }
        return 0;
    case 'p':
        spf_macro_ptr(m, v, vlen);
        return 0;
    default:
        return -1;
    }
    return str_copy(v, vlen, s ? s : "");
}

/* 1 if name has an A/AAAA record equal to the client address. */
static int spf_macro_ip_matches(const spf_macro_ctx *m, const char *name)
{
    dns_answer a;
    int hit = 0;

    if (dns_query(m->dns, name, m->ipv6 ? DNS_T_AAAA : DNS_T_A, &a) != 0 || a.status != DNS_OK) {
        dns_answer_release(&a);
        return 0;
    }
    for (size_t k = 0; k < a.n && !hit; k++) {
        unsigned char bin[16];
        if (inet_pton(m->ipv6 ? AF_INET6 : AF_INET, a.rrs[k].text, bin) == 1 &&
            memcmp(bin, m->ip, m->ipv6 ? 16 : 4) == 0)
            hit = 1;
    }
    dns_answer_release(&a);
    return hit;
}

/* %{p}: a validated name of the client (RFC 7208 §7.3), else "unknown". */
static void spf_macro_ptr(const spf_macro_ctx *m, char *v, size_t vlen)
{
    char rev[80], best[256] = "";
    size_t o = 0, dl = m->domain ? strlen(m->domain) : 0;
    int best_rank = 0;
    dns_answer a;

    (void)str_copy(v, vlen, "unknown");
    if (m->dns == NULL)
        return;
    if (!m->ipv6) {
        snprintf(rev, sizeof(rev), "%u.%u.%u.%u.in-addr.arpa", m->ip[3], m->ip[2],
                 m->ip[1], m->ip[0]);
    } else {
        for (int k = 15; k >= 0; k--) {
            char nib[5];
            snprintf(nib, sizeof(nib), "%x.%x.", m->ip[k] & 15, m->ip[k] >> 4);
            (void)spf_macro_put(rev, sizeof(rev), &o, nib, strlen(nib));
        }
        (void)spf_macro_put(rev, sizeof(rev), &o, "ip6.arpa", 8);
    }
    if (dns_query(m->dns, rev, DNS_T_PTR, &a) != 0 || a.status != DNS_OK) {
        dns_answer_release(&a);
        return;
    }
    for (size_t k = 0; k < a.n && k < 10; k++) {
        const char *name = a.rrs[k].text;
        size_t nl = strlen(name);
        int rank = 1;
        if (m->domain && strcasecmp(name, m->domain) == 0)
            rank = 3;
        else if (m->domain && nl > dl && name[nl - dl - 1] == '.' &&
                 strcasecmp(name + nl - dl, m->domain) == 0)
            rank = 2;
        if (rank > best_rank && spf_macro_ip_matches(m, name)) {
            best_rank = rank;
            (void)str_copy(best, sizeof(best), name);
        }
    }
    dns_answer_release(&a);
    if (best[0] != '\0')
        (void)str_copy(v, vlen, best);
}
