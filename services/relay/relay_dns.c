/*
 * relay_dns.c - MX, A/AAAA and TXT lookups for the relay (see relay_dns.h),
 * on libcommon's resolver (dns.h: libunbound with a deadline per query, so
 * an unresponsive server defers a delivery instead of blocking a worker).
 *
 * SECURITY: DNS answers are untrusted; dns.c decodes names with bounds
 * checks; here counts are capped and only well-formed records are used.
 * STANDARDS: RFC 5321 §5.1, RFC 7505 (null MX), RFC 1035 §3.3.9 (MX).
 */
#include "relay_dns.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "xalloc.h"

static enum relay_dns_status relay_dns_status_of(const dns_answer *a, const char *name,
                                                 char *err, size_t errlen);
static void relay_addr_set(relay_addr *a, int family, const void *raw, int port);
static int  relay_dns_hostname_ok(const char *h);

dns_resolver *relay_dns_create(const char *servers, int timeout_ms, char *err, size_t errlen)
{
    return dns_resolver_create_unbound(servers, timeout_ms, NULL, err, errlen);
}

void relay_dns_free(dns_resolver *r)
{
    dns_resolver_free(r);
}

static enum relay_dns_status relay_dns_status_of(const dns_answer *a, const char *name,
                                                 char *err, size_t errlen)
{
    switch (a->status) {
    case DNS_OK:
        return RELAY_DNS_OK;
    case DNS_NODATA:
        return RELAY_DNS_NODATA;
    case DNS_NXDOMAIN:
        snprintf(err, errlen, "%s: domain does not exist (NXDOMAIN)", name);
        return RELAY_DNS_NXDOMAIN;
    case DNS_TEMPFAIL:
    case DNS_PERMFAIL:
    default:
        snprintf(err, errlen, "lookup %s: %s", name, a->why[0] ? a->why : dns_status_text(a->status));
        return RELAY_DNS_TEMPFAIL;
    }
}

enum relay_dns_status relay_dns_mx(dns_resolver *r, const char *domain,
                                   relay_mx *out, size_t *n, char *err, size_t errlen)
{
    dns_answer a;
    *n = 0;
    if (dns_query(r, domain, DNS_T_MX, &a) != 0) {
        snprintf(err, errlen, "lookup %s: resolver failure", domain);
        return RELAY_DNS_TEMPFAIL;
    }
    enum relay_dns_status st = relay_dns_status_of(&a, domain, err, errlen);
    if (st == RELAY_DNS_NODATA) {
        dns_answer_release(&a);
        /* RFC 5321 §5.1: no MX, the domain is its own implicit MX. */
        if (str_copy(out[0].host, sizeof(out[0].host), domain) != 0) {
            snprintf(err, errlen, "domain name too long");
            return RELAY_DNS_NXDOMAIN;
        }
        out[0].pref = 0;
        *n = 1;
        return RELAY_DNS_OK;
    }
    if (st != RELAY_DNS_OK) {
        dns_answer_release(&a);
        return st;
    }
    /* RFC 7505: a single MX whose exchange is the root ("" here). */
    if (a.n == 1 && a.rrs[0].text[0] == '\0') {
        dns_answer_release(&a);
        snprintf(err, errlen, "domain %s does not accept mail (null MX)", domain);
        return RELAY_DNS_NULLMX;
    }
    for (size_t i = 0; i < a.n && *n < RELAY_DNS_MAX_MX; i++) {
        /* a "." mixed with real MX records is a misconfiguration: skip it */
        if (a.rrs[i].text[0] == '\0' || !relay_dns_hostname_ok(a.rrs[i].text) ||
            str_copy(out[*n].host, sizeof(out[*n].host), a.rrs[i].text) != 0)
            continue;
        out[*n].pref = a.rrs[i].pref;
        (*n)++;
    }
    dns_answer_release(&a);
    if (*n == 0) {
        snprintf(err, errlen, "no usable MX records for %s", domain);
        return RELAY_DNS_TEMPFAIL;
    }
    /* Stable sort by preference (insertion sort keeps DNS order on ties). */
    for (size_t i = 1; i < *n; i++) {
        relay_mx tmp = out[i];
        size_t j = i;
        while (j > 0 && out[j - 1].pref > tmp.pref) {
            out[j] = out[j - 1];
            j--;
        }
        out[j] = tmp;
    }
    return RELAY_DNS_OK;
}

/* MX exchanges we connect to must be host names: letters, digits, '-',
 * '_' and dots. */
static int relay_dns_hostname_ok(const char *h)
{
    for (; *h != '\0'; h++)
        if (!isalnum((unsigned char)*h) && *h != '-' && *h != '_' && *h != '.')
            return 0;
    return 1;
}

static void relay_addr_set(relay_addr *a, int family, const void *raw, int port)
{
    memset(a, 0, sizeof(*a));
    if (family == AF_INET6) {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&a->sa;
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons((uint16_t)port);
        memcpy(&s6->sin6_addr, raw, 16);
        a->len = sizeof(*s6);
        inet_ntop(AF_INET6, &s6->sin6_addr, a->text, sizeof(a->text));
    } else {
        struct sockaddr_in *s4 = (struct sockaddr_in *)&a->sa;
        s4->sin_family = AF_INET;
        s4->sin_port = htons((uint16_t)port);
        memcpy(&s4->sin_addr, raw, 4);
        a->len = sizeof(*s4);
        inet_ntop(AF_INET, &s4->sin_addr, a->text, sizeof(a->text));
    }
}

enum relay_dns_status relay_dns_addrs(dns_resolver *r, const char *host, int port,
                                      relay_addr *out, size_t *n, char *err, size_t errlen)
{
    static const struct { enum dns_type type; int family; } kinds[] = {
        { DNS_T_A, AF_INET }, { DNS_T_AAAA, AF_INET6 },
    };
    enum relay_dns_status worst = RELAY_DNS_NODATA;
    unsigned char raw[16];

    *n = 0;
    /* An IP literal needs no lookup. */
    if (inet_pton(AF_INET, host, raw) == 1) {
        relay_addr_set(&out[0], AF_INET, raw, port);
        *n = 1;
        return RELAY_DNS_OK;
    }
    if (inet_pton(AF_INET6, host, raw) == 1) {
        relay_addr_set(&out[0], AF_INET6, raw, port);
        *n = 1;
        return RELAY_DNS_OK;
    }
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        dns_answer a;
        if (dns_query(r, host, kinds[k].type, &a) != 0) {
            snprintf(err, errlen, "lookup %s: resolver failure", host);
            worst = RELAY_DNS_TEMPFAIL;
            continue;
        }
        enum relay_dns_status st = relay_dns_status_of(&a, host, err, errlen);
        if (st == RELAY_DNS_TEMPFAIL || (st == RELAY_DNS_NXDOMAIN && worst != RELAY_DNS_TEMPFAIL))
            worst = st;
        for (size_t i = 0; st == RELAY_DNS_OK && i < a.n && *n < RELAY_DNS_MAX_ADDRS; i++)
            if (inet_pton(kinds[k].family, a.rrs[i].text, raw) == 1)
                relay_addr_set(&out[(*n)++], kinds[k].family, raw, port);
        dns_answer_release(&a);
    }
    if (*n > 0)
        return RELAY_DNS_OK;
    if (worst == RELAY_DNS_NODATA)
        snprintf(err, errlen, "%s has no A or AAAA records", host);
    return worst;
}

enum relay_dns_status relay_dns_txt(dns_resolver *r, const char *name,
                                    char (*out)[RELAY_DNS_TXT_MAX], size_t max, size_t *n,
                                    char *err, size_t errlen)
{
    dns_answer a;
    *n = 0;
    if (dns_query(r, name, DNS_T_TXT, &a) != 0) {
        snprintf(err, errlen, "lookup %s: resolver failure", name);
        return RELAY_DNS_TEMPFAIL;
    }
    enum relay_dns_status st = relay_dns_status_of(&a, name, err, errlen);
    for (size_t i = 0; st == RELAY_DNS_OK && i < a.n && *n < max; i++) {
        /* too long or binary: not a record we use */
        if (a.rrs[i].len >= RELAY_DNS_TXT_MAX || memchr(a.rrs[i].text, '\0', a.rrs[i].len) != NULL)
            continue;
        memcpy(out[*n], a.rrs[i].text, a.rrs[i].len);
        out[*n][a.rrs[i].len] = '\0';
        (*n)++;
    }
    dns_answer_release(&a);
    return st;
}
