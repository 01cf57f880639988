/*
 * relay_dns.c - MX and A/AAAA lookups with libunbound (see relay_dns.h).
 *
 * SECURITY: DNS answers are untrusted: names are decoded with bounds checks
 * and only hostname characters are accepted; counts are capped.
 * STANDARDS: RFC 5321 §5.1, RFC 7505 (null MX), RFC 1035 §3.3.9 (MX).
 */
#include "relay_dns.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unbound.h>

#include "xalloc.h"

#define DNS_TYPE_A    1
#define DNS_TYPE_MX   15
#define DNS_TYPE_TXT  16
#define DNS_TYPE_AAAA 28
#define DNS_CLASS_IN  1
#define DNS_RCODE_SERVFAIL 2
#define DNS_RCODE_NXDOMAIN 3

static enum relay_dns_status dns_query(struct ub_ctx *ctx, const char *name, int type,
                                       struct ub_result **res, char *err, size_t errlen);
static int dns_mx_cmp(const void *a, const void *b);

struct ub_ctx *relay_dns_create(const char *servers, char *err, size_t errlen)
{
    struct ub_ctx *ctx = ub_ctx_create();
    int rc = 0;

    if (ctx == NULL) {
        snprintf(err, errlen, "ub_ctx_create failed");
        return NULL;
    }
    if ((rc = ub_ctx_set_option(ctx, "do-not-query-localhost:", "no")) != 0)
        goto fail;
    /* unbound answers the RFC 6761 name "test." itself (NXDOMAIN; and
     * "nodefault" does not lift that through ub_ctx_set_option); pass it on
     * to the configured servers as a stub resolver would. */
    if ((rc = ub_ctx_set_option(ctx, "local-zone:", "test. transparent")) != 0)
        goto fail;
    if (servers != NULL && servers[0] != '\0') {
        char *copy = xstrdup(servers);
        char *save = NULL;
        for (char *tok = strtok_r(copy, ",", &save); tok != NULL;
             tok = strtok_r(NULL, ",", &save)) {
            while (*tok == ' ')
                tok++;
            size_t tl = strlen(tok);
            while (tl > 0 && tok[tl - 1] == ' ')
                tok[--tl] = '\0';
            if (tl == 0)
                continue;
            if ((rc = ub_ctx_set_fwd(ctx, tok)) != 0) {
                snprintf(err, errlen, "DNS server \"%s\": %s", tok, ub_strerror(rc));
                free(copy);
                ub_ctx_delete(ctx);
                return NULL;
            }
        }
        free(copy);
    } else if ((rc = ub_ctx_resolvconf(ctx, NULL)) != 0) {
        goto fail;
    }
    return ctx;
fail:
    snprintf(err, errlen, "unbound: %s", ub_strerror(rc));
    ub_ctx_delete(ctx);
    return NULL;
}

void relay_dns_free(struct ub_ctx *ctx)
{
    if (ctx != NULL)
        ub_ctx_delete(ctx);
}

int relay_dns_name_text(const unsigned char *rdata, size_t len, char *out, size_t outlen)
{
    size_t i = 0, o = 0;

    if (outlen < 2)
        return -1;
    for (;;) {
        if (i >= len)
            return -1;
        size_t l = rdata[i++];
        if (l == 0)
            break;
        if (l > 63 || i + l > len)
            return -1;
        if (o > 0) {
            if (o + 1 >= outlen)
                return -1;
            out[o++] = '.';
        }
        for (size_t k = 0; k < l; k++) {
            unsigned char ch = rdata[i + k];
            if (!isalnum(ch) && ch != '-' && ch != '_')
                return -1;
            if (o + 1 >= outlen)
                return -1;
            out[o++] = (char)tolower(ch);
        }
        i += l;
    }
    if (o == 0)
        out[o++] = '.';
    out[o] = '\0';
    return o > 253 ? -1 : 0;
}

enum relay_dns_status relay_dns_mx(struct ub_ctx *ctx, const char *domain,
                                   relay_mx *out, size_t *n, char *err, size_t errlen)
{
    struct ub_result *res = NULL;
    enum relay_dns_status st = dns_query(ctx, domain, DNS_TYPE_MX, &res, err, errlen);

    *n = 0;
    if (st == RELAY_DNS_NODATA) {
        /* RFC 5321 §5.1: no MX, the domain is its own implicit MX. */
        if (str_copy(out[0].host, sizeof(out[0].host), domain) != 0) {
            snprintf(err, errlen, "domain name too long");
            return RELAY_DNS_NXDOMAIN;
        }
        out[0].pref = 0;
        *n = 1;
        return RELAY_DNS_OK;
    }
    if (st != RELAY_DNS_OK)
        return st;
    int nrec = 0;
    for (int i = 0; res->data[i] != NULL; i++) {
        nrec++;
        if (res->len[i] < 3 || *n >= RELAY_DNS_MAX_MX)
            continue;
        const unsigned char *d = (const unsigned char *)res->data[i];
        relay_mx *mx = &out[*n];
        mx->pref = (d[0] << 8) | d[1];
        if (relay_dns_name_text(d + 2, (size_t)res->len[i] - 2, mx->host,
                                sizeof(mx->host)) != 0)
            continue;
        (*n)++;
    }
    ub_resolve_free(res);
    if (nrec == 1 && *n == 1 && strcmp(out[0].host, ".") == 0) {
        snprintf(err, errlen, "domain %s does not accept mail (null MX)", domain);
        *n = 0;
        return RELAY_DNS_NULLMX;
    }
    /* Drop a "." mixed with real MX records (a misconfiguration). */
    size_t w = 0;
    for (size_t i = 0; i < *n; i++)
        if (strcmp(out[i].host, ".") != 0)
            out[w++] = out[i];
    *n = w;
    if (*n == 0) {
        snprintf(err, errlen, "no usable MX records for %s", domain);
        return RELAY_DNS_TEMPFAIL;
    }
    /* Stable sort by preference (insertion sort keeps DNS order on ties). */
    for (size_t i = 1; i < *n; i++) {
        relay_mx tmp = out[i];
        size_t j = i;
        while (j > 0 && dns_mx_cmp(&out[j - 1], &tmp) > 0) {
            out[j] = out[j - 1];
            j--;
        }
        out[j] = tmp;
    }
    return RELAY_DNS_OK;
}

enum relay_dns_status relay_dns_addrs(struct ub_ctx *ctx, const char *host, int port,
                                      relay_addr *out, size_t *n, char *err, size_t errlen)
{
    static const int types[] = { DNS_TYPE_A, DNS_TYPE_AAAA };
    enum relay_dns_status worst = RELAY_DNS_NODATA;
    unsigned char raw[16];

    *n = 0;
    /* An IP literal needs no lookup. */
    if (inet_pton(AF_INET, host, raw) == 1 || inet_pton(AF_INET6, host, raw) == 1) {
        relay_addr *a = &out[0];
        memset(a, 0, sizeof(*a));
        if (strchr(host, ':') != NULL) {
            struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&a->sa;
            s6->sin6_family = AF_INET6;
            s6->sin6_port = htons((uint16_t)port);
            memcpy(&s6->sin6_addr, raw, 16);
            a->len = sizeof(*s6);
        } else {
            struct sockaddr_in *s4 = (struct sockaddr_in *)&a->sa;
            s4->sin_family = AF_INET;
            s4->sin_port = htons((uint16_t)port);
            memcpy(&s4->sin_addr, raw, 4);
            a->len = sizeof(*s4);
        }
        (void)str_copy(a->text, sizeof(a->text), host);
        *n = 1;
        return RELAY_DNS_OK;
    }
    for (size_t t = 0; t < 2; t++) {
        struct ub_result *res = NULL;
        enum relay_dns_status st = dns_query(ctx, host, types[t], &res, err, errlen);
        if (st != RELAY_DNS_OK) {
            if (st == RELAY_DNS_TEMPFAIL || (st == RELAY_DNS_NXDOMAIN && worst != RELAY_DNS_TEMPFAIL))
                worst = st;
            continue;
        }
        for (int i = 0; res->data[i] != NULL && *n < RELAY_DNS_MAX_ADDRS; i++) {
            relay_addr *a = &out[*n];
            memset(a, 0, sizeof(*a));
            if (types[t] == DNS_TYPE_A && res->len[i] == 4) {
                struct sockaddr_in *s4 = (struct sockaddr_in *)&a->sa;
                s4->sin_family = AF_INET;
                s4->sin_port = htons((uint16_t)port);
                memcpy(&s4->sin_addr, res->data[i], 4);
                a->len = sizeof(*s4);
                inet_ntop(AF_INET, &s4->sin_addr, a->text, sizeof(a->text));
            } else if (types[t] == DNS_TYPE_AAAA && res->len[i] == 16) {
                struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&a->sa;
                s6->sin6_family = AF_INET6;
                s6->sin6_port = htons((uint16_t)port);
                memcpy(&s6->sin6_addr, res->data[i], 16);
                a->len = sizeof(*s6);
                inet_ntop(AF_INET6, &s6->sin6_addr, a->text, sizeof(a->text));
            } else {
                continue;
            }
            (*n)++;
        }
        ub_resolve_free(res);
    }
    if (*n > 0)
        return RELAY_DNS_OK;
    if (worst == RELAY_DNS_NODATA)
        snprintf(err, errlen, "%s has no A or AAAA records", host);
    return worst;
}

static enum relay_dns_status dns_query(struct ub_ctx *ctx, const char *name, int type,
                                       struct ub_result **res, char *err, size_t errlen)
{
    int rc = ub_resolve(ctx, name, type, DNS_CLASS_IN, res);
    if (rc != 0) {
        snprintf(err, errlen, "lookup %s: %s", name, ub_strerror(rc));
        *res = NULL;
        return RELAY_DNS_TEMPFAIL;
    }
    struct ub_result *r = *res;
    if (r->nxdomain || r->rcode == DNS_RCODE_NXDOMAIN) {
        snprintf(err, errlen, "%s: domain does not exist (NXDOMAIN)", name);
        ub_resolve_free(r);
        *res = NULL;
        return RELAY_DNS_NXDOMAIN;
    }
    if (r->rcode != 0 || r->bogus) {
        snprintf(err, errlen, "lookup %s: %s", name,
                 r->rcode == DNS_RCODE_SERVFAIL ? "SERVFAIL" : r->bogus ? "bogus answer" : "error");
        ub_resolve_free(r);
        *res = NULL;
        return RELAY_DNS_TEMPFAIL;
    }
    if (!r->havedata) {
        ub_resolve_free(r);
        *res = NULL;
        return RELAY_DNS_NODATA;
    }
    return RELAY_DNS_OK;
}

static int dns_mx_cmp(const void *a, const void *b)
{
    const relay_mx *x = a, *y = b;
    return (x->pref > y->pref) - (x->pref < y->pref);
}

enum relay_dns_status relay_dns_txt(struct ub_ctx *ctx, const char *name,
                                    char (*out)[RELAY_DNS_TXT_MAX], size_t max, size_t *n,
                                    char *err, size_t errlen)
{
    struct ub_result *res = NULL;
    enum relay_dns_status st = dns_query(ctx, name, DNS_TYPE_TXT, &res, err, errlen);

    *n = 0;
    if (st != RELAY_DNS_OK)
        return st;
    for (int i = 0; res->data[i] != NULL && *n < max; i++) {
        const unsigned char *d = (const unsigned char *)res->data[i];
        size_t len = (size_t)res->len[i], p = 0, o = 0;
        int ok = 1;
        /* one or more <length><bytes> character-strings, concatenated */
        while (p < len) {
            size_t l = d[p++];
            if (p + l > len || o + l >= RELAY_DNS_TXT_MAX) {
                ok = 0;
                break;
            }
            memcpy(out[*n] + o, d + p, l);
            o += l;
            p += l;
        }
        if (!ok || memchr(out[*n], '\0', o) != NULL)
            continue;   /* too long or binary: not a record we use */
        out[*n][o] = '\0';
        (*n)++;
    }
    ub_resolve_free(res);
    return RELAY_DNS_OK;
}
