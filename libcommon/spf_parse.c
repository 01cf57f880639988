/*
 * spf_parse.c - SPF record syntax (RFC 7208 §4.5, §4.6, §5, §6, §12):
 * turns a "v=spf1 ..." string into an spf_record. No I/O.
 *
 * Owns: the record it returns (spf_record_free).
 * SECURITY: the record comes from DNS (untrusted): at most SPF_MAX_TERMS
 * terms, every domain-spec checked as a macro-string, CIDR lengths bounded,
 * any syntax error is a permerror, never a crash.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "spf.h"
#include "xalloc.h"

static int spf_parse_term(spf_record *r, const char *t, size_t len, char *err, size_t errlen);
static int spf_domain_spec_ok(const char *s, size_t len);
static int spf_cidr_parse(const char *s, size_t len, int max, int *out);
static int spf_dual_cidr(const char *arg, size_t *len, int *c4, int *c6);

int spf_is_record(const char *text, size_t len)
{
    return len >= 6 && strncasecmp(text, "v=spf1", 6) == 0 && (len == 6 || text[6] == ' ');
}

void spf_record_free(spf_record *r)
{
    if (r == NULL)
        return;
    for (size_t i = 0; i < r->n; i++)
        free(r->terms[i].spec);
    free(r->terms);
    free(r->redirect);
    free(r->exp);
    free(r);
}

int spf_record_parse(const char *text, size_t len, spf_record **out, char *err, size_t errlen)
{
    spf_record *r;
    size_t i = 6;

    *out = NULL;
    if (!spf_is_record(text, len)) {
        snprintf(err, errlen, "not an SPF record");
        return -1;
    }
    r = xcalloc(1, sizeof(*r));
    while (i < len) {
        size_t start;
        while (i < len && text[i] == ' ')
            i++;
        if (i >= len)
            break;
        start = i;
        while (i < len && text[i] != ' ')
            i++;
        if (spf_parse_term(r, text + start, i - start, err, errlen) != 0) {
            spf_record_free(r);
            return -1;
        }
    }
    *out = r;
    return 0;
}

/* A toplabel (letters, digits, '-', at least one letter, no '-' at the
 * ends) or a macro-expand must end a domain-spec (RFC 7208 §7.1). */
static int spf_domain_spec_ok(const char *s, size_t len)
{
    size_t end = len, start;
    int alpha = 0;

    if (len == 0 || !spf_macro_valid(s, len, 0))
        return 0;
    if (s[len - 1] == '}') {
        /* ends with a macro-expand if the '{' before it follows a '%' */
        for (size_t k = len - 1; k > 0; k--)
            if (s[k] == '{')
                return s[k - 1] == '%';
        return 0;
    }
    if (s[end - 1] == '.')
        end--;
    start = end;
    while (start > 0 && s[start - 1] != '.')
        start--;
    if (start == 0 || start == end)
        return 0;
    if (s[start] == '-' || s[end - 1] == '-')
        return 0;
    for (size_t k = start; k < end; k++) {
        unsigned char c = (unsigned char)s[k];
        if (isalpha(c))
            alpha = 1;
        else if (!isdigit(c) && c != '-')
            return 0;
    }
    return alpha;
}

/* digits without a leading zero, value <= max */
static int spf_cidr_parse(const char *s, size_t len, int max, int *out)
{
    int v = 0;

    if (len == 0 || len > 3 || (len > 1 && s[0] == '0'))
        return -1;
    for (size_t k = 0; k < len; k++) {
        if (!isdigit((unsigned char)s[k]))
            return -1;
        v = v * 10 + (s[k] - '0');
    }
    if (v > max)
        return -1;
    *out = v;
    return 0;
}

/* Strips a trailing dual-cidr-length from arg[0..*len); -1 on a bad one. */
static int spf_dual_cidr(const char *arg, size_t *len, int *c4, int *c6)
{
    size_t n = *len, k;

    /* "//" ip6 */
    k = n;
    while (k > 0 && isdigit((unsigned char)arg[k - 1]))
        k--;
    if (k >= 2 && k < n && arg[k - 1] == '/' && arg[k - 2] == '/') {
        if (spf_cidr_parse(arg + k, n - k, 128, c6) != 0)
            return -1;
        n = k - 2;
    }
    k = n;
    while (k > 0 && isdigit((unsigned char)arg[k - 1]))
        k--;
    if (k >= 1 && k < n && arg[k - 1] == '/') {
        if (spf_cidr_parse(arg + k, n - k, 32, c4) != 0)
            return -1;
        n = k - 1;
    }
    /* a slash left over is a malformed length ("/", "/033", "///1") */
    if (n > 0 && arg[n - 1] == '/')
        return -1;
    *len = n;
    return 0;
}

static int spf_parse_term(spf_record *r, const char *t, size_t len, char *err, size_t errlen)
{
    static const struct { const char *name; enum spf_mech m; } mechs[] = {
        { "all", SPF_M_ALL }, { "include", SPF_M_INCLUDE }, { "a", SPF_M_A },
        { "mx", SPF_M_MX }, { "ptr", SPF_M_PTR }, { "ip4", SPF_M_IP4 },
        { "ip6", SPF_M_IP6 }, { "exists", SPF_M_EXISTS },
    };
    size_t k = 0, nl;
    spf_term term = { .qual = '+', .cidr4 = 32, .cidr6 = 128 };
    int found = 0;

    /* modifier: name "=" macro-string */
    if (isalpha((unsigned char)t[0])) {
        while (k < len && (isalnum((unsigned char)t[k]) || t[k] == '-' || t[k] == '_' ||
                           t[k] == '.'))
            k++;
        if (k < len && t[k] == '=') {
            const char *v = t + k + 1;
            size_t vl = len - k - 1;
            char **slot = NULL;
            if (k == 8 && strncasecmp(t, "redirect", 8) == 0)
                slot = &r->redirect;
            else if (k == 3 && strncasecmp(t, "exp", 3) == 0)
                slot = &r->exp;
            if (slot != NULL) {
                if (*slot != NULL) {
                    snprintf(err, errlen, "duplicate %.*s= modifier", (int)k, t);
                    return -1;
                }
                if (!spf_domain_spec_ok(v, vl)) {
                    snprintf(err, errlen, "bad domain-spec in %.*s=", (int)k, t);
                    return -1;
                }
                *slot = xstrndup(v, vl);
            } else if (!spf_macro_valid(v, vl, 0)) {
                snprintf(err, errlen, "bad value of modifier %.*s", (int)k, t);
                return -1;
            }
            return 0;
        }
        k = 0;
    }
    if (r->n >= SPF_MAX_TERMS) {
        snprintf(err, errlen, "more than %d terms", SPF_MAX_TERMS);
        return -1;
    }
    if (t[0] == '+' || t[0] == '-' || t[0] == '~' || t[0] == '?') {
        term.qual = t[0];
        k = 1;
    }
    nl = k;
    while (nl < len && t[nl] != ':' && t[nl] != '/')
        nl++;
    for (size_t m = 0; m < sizeof(mechs) / sizeof(mechs[0]); m++)
        if (strlen(mechs[m].name) == nl - k && strncasecmp(t + k, mechs[m].name, nl - k) == 0) {
            term.mech = mechs[m].m;
            found = 1;
        }
    if (!found) {
        snprintf(err, errlen, "unknown mechanism \"%.*s\"", (int)(len > 40 ? 40 : len), t);
        return -1;
    }
    const char *arg = t + nl;
    size_t al = len - nl;
    switch (term.mech) {
    case SPF_M_ALL:
        if (al != 0)
            goto bad;
        break;
    case SPF_M_INCLUDE:
    case SPF_M_EXISTS:
        if (al < 2 || arg[0] != ':' || !spf_domain_spec_ok(arg + 1, al - 1))
            goto bad;
        term.spec = xstrndup(arg + 1, al - 1);
        break;
    case SPF_M_A:
    case SPF_M_MX:
        if (spf_dual_cidr(arg, &al, &term.cidr4, &term.cidr6) != 0)
            goto bad;
        if (al > 0) {
            if (arg[0] != ':' || !spf_domain_spec_ok(arg + 1, al - 1))
                goto bad;
            term.spec = xstrndup(arg + 1, al - 1);
        }
        break;
    case SPF_M_PTR:
        if (al > 0) {
            if (arg[0] != ':' || !spf_domain_spec_ok(arg + 1, al - 1))
                goto bad;
            term.spec = xstrndup(arg + 1, al - 1);
        }
        break;
    case SPF_M_IP4:
    case SPF_M_IP6: {
        char ip[64];
        int v6 = term.mech == SPF_M_IP6;
        size_t slash;
        if (al < 2 || arg[0] != ':')
            goto bad;
        arg++;
        al--;
        slash = 0;
        while (slash < al && arg[slash] != '/')
            slash++;
        if (slash < al && spf_cidr_parse(arg + slash + 1, al - slash - 1, v6 ? 128 : 32,
                                         v6 ? &term.cidr6 : &term.cidr4) != 0)
            goto bad;
        if (slash == 0 || slash >= sizeof(ip))
            goto bad;
        memcpy(ip, arg, slash);
        ip[slash] = '\0';
        if (inet_pton(v6 ? AF_INET6 : AF_INET, ip, term.addr) != 1)
            goto bad;
        break;
    }
    }
    if (r->terms == NULL)
        r->terms = xcalloc(SPF_MAX_TERMS, sizeof(spf_term));
    r->terms[r->n++] = term;
    return 0;
bad:
    snprintf(err, errlen, "bad mechanism \"%.*s\"", (int)(len > 60 ? 60 : len), t);
    return -1;
}
