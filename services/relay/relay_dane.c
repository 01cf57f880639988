/*
 * relay_dane.c - DANE for SMTP (RFC 7672, see relay_dane.h): the per-host
 * TLSA state of a destination from DNSSEC-validated lookups, and the
 * OpenSSL DANE set-up and result of one TLS session.
 *
 * Owns: the relay_dane object (hosts' states and copies of their TLSA
 * rdata).
 * STANDARDS: RFC 6698 (TLSA), RFC 7671 (DANE operations), RFC 7672 (SMTP).
 */
#include "relay_dane.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/err.h>
#include <openssl/x509_vfy.h>

#include "xalloc.h"

#define DANE_CNAME_MAX_HOPS 8

typedef struct dane_host {
    enum relay_dane_state state;
    relay_tlsa            tlsa[RELAY_DANE_MAX_TLSA];
    unsigned char        *data[RELAY_DANE_MAX_TLSA];   /* owned copies */
    size_t                ntlsa;
    char                  why[200];
    char                  base[256];   /* the CNAME-expanded name whose TLSA records
                                          these are (§2.2.3), or "" */
} dane_host;

struct relay_dane {
    dane_host hosts[RELAY_DNS_MAX_MX];
    size_t    n;
    int       active;
};

static void dane_fmt(char *out, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void dane_host_lookup(dns_resolver *dns, int port, const char *host, dane_host *h);
static int  dane_cname_expand(dns_resolver *dns, const char *host, char *out, size_t outlen);
static int  dane_tlsa_at(dns_resolver *dns, int port, const char *base, dane_host *h);
static int  dane_secure(dns_resolver *dns, const char *name, enum dns_type t, int *bogus,
                        char *why, size_t whylen);

relay_dane *relay_dane_create(dns_resolver *dns, int port, const char *domain,
                              const relay_mx *mx, size_t nmx)
{
    relay_dane *d = xcalloc(1, sizeof(*d));
    int bogus = 0;
    char why[200] = "";

    d->n = nmx < RELAY_DNS_MAX_MX ? nmx : RELAY_DNS_MAX_MX;
    /* RFC 7672 §2.2.1: only a secure MX RRset (or, for an implicit MX, a
     * secure address of the domain itself) leads to TLSA lookups. */
    int implicit = (nmx == 1 && strcmp(mx[0].host, domain) == 0);
    if (dns == NULL || !dane_secure(dns, domain, implicit ? DNS_T_A : DNS_T_MX, &bogus,
                                    why, sizeof(why)))
        return d;
    for (size_t m = 0; m < d->n; m++) {
        dane_host_lookup(dns, port, mx[m].host, &d->hosts[m]);
        if (d->hosts[m].state != RELAY_DANE_NONE)
            d->active = 1;
    }
    return d;
}

void relay_dane_free(relay_dane *d)
{
    if (d == NULL)
        return;
    for (size_t m = 0; m < d->n; m++)
        for (size_t i = 0; i < d->hosts[m].ntlsa; i++)
            free(d->hosts[m].data[i]);
    free(d);
}

int relay_dane_active(const relay_dane *d)
{
    return d != NULL && d->active;
}

enum relay_dane_state relay_dane_host_state(const relay_dane *d, size_t m)
{
    if (d == NULL || m >= d->n)
        return RELAY_DANE_NONE;
    return d->hosts[m].state;
}

int relay_dane_host_opts(const relay_dane *d, size_t m, const char *domain,
                         relay_smtp_opts *o, char *why, size_t whylen)
{
    switch (relay_dane_host_state(d, m)) {
    case RELAY_DANE_NONE:
        return 0;
    case RELAY_DANE_ON:
        o->tls = RELAY_TLS_VERIFY;
        o->tlsa = d->hosts[m].tlsa;
        o->ntlsa = d->hosts[m].ntlsa;
        o->dane_domain = domain;
        o->dane_base = d->hosts[m].base[0] != '\0' ? d->hosts[m].base : NULL;
        return 0;
    case RELAY_DANE_ENCRYPT:
        o->tls = RELAY_TLS_ENCRYPT;
        o->ntlsa = 0;
        return 0;
    case RELAY_DANE_BOGUS:
        dane_fmt(why, whylen, "%s", d->hosts[m].why);
        return -1;
    }
    return 0;
}

void relay_dane_policy_strings(const relay_dane *d, json_t *arr)
{
    static const char hex[] = "0123456789abcdef";

    for (size_t m = 0; d != NULL && m < d->n; m++) {
        const dane_host *h = &d->hosts[m];
        for (size_t i = 0; i < h->ntlsa && json_array_size(arr) < 16; i++) {
            const relay_tlsa *t = &h->tlsa[i];
            size_t cap = 16 + 2 * t->len;
            char *s = xmalloc(cap);
            int w = snprintf(s, cap, "%u %u %u ", t->usage, t->selector, t->mtype);
            size_t o = w > 0 ? (size_t)w : 0;
            for (size_t k = 0; k < t->len && o + 2 < cap; k++) {
                s[o++] = hex[t->data[k] >> 4];
                s[o++] = hex[t->data[k] & 15];
            }
            s[o] = '\0';
            json_t *v = json_string(s);
            int dup = 0;
            for (size_t k = 0; v != NULL && k < json_array_size(arr); k++)
                dup |= json_equal(json_array_get(arr, k), v);
            if (v != NULL && !dup)
                json_array_append(arr, v);
            json_decref(v);
            free(s);
        }
    }
}

int relay_dane_tlsa_parse(const unsigned char *rdata, size_t len, relay_tlsa *t)
{
    if (len < 4)
        return -1;
    t->usage = rdata[0];
    t->selector = rdata[1];
    t->mtype = rdata[2];
    t->data = rdata + 3;
    t->len = len - 3;
    if (t->mtype == 1 && t->len != 32)
        return -1;
    if (t->mtype == 2 && t->len != 64)
        return -1;
    /* RFC 7672 §3.1.3: PKIX-TA(0) and PKIX-EE(1) are unusable for SMTP */
    if (t->usage != 2 && t->usage != 3)
        return 0;
    if (t->selector > 1 || t->mtype > 2)
        return 0;
    if (t->mtype == 0 && t->len > RELAY_DANE_DATA_MAX)
        return 0;
    return 1;
}

/* 1 when name/type has a DNSSEC-secure answer (data or a secure denial),
 * 0 otherwise; *bogus when validation failed. */
static int dane_secure(dns_resolver *dns, const char *name, enum dns_type t, int *bogus,
                       char *why, size_t whylen)
{
    dns_answer a;

    *bogus = 0;
    if (dns_query(dns, name, t, &a) != 0) {
        dane_fmt(why, whylen, "lookup %s: resolver failure", name);
        return 0;
    }
    int secure = a.secure && (a.status == DNS_OK || a.status == DNS_NODATA ||
                              a.status == DNS_NXDOMAIN);
    *bogus = a.bogus;
    if (a.status != DNS_OK)
        dane_fmt(why, whylen, "lookup %s: %s", name,
                       a.why[0] ? a.why : dns_status_text(a.status));
    dns_answer_release(&a);
    return secure;
}

static void dane_host_lookup(dns_resolver *dns, int port, const char *host, dane_host *h)
{
    char why[200] = "", base[256];
    int bogus = 0;

    /* §2.2.2: TLSA only for a host whose address records are secure */
    if (!dane_secure(dns, host, DNS_T_A, &bogus, why, sizeof(why))) {
        if (bogus) {
            h->state = RELAY_DANE_BOGUS;
            dane_fmt(h->why, sizeof(h->why), "DANE: address of %s: %s", host, why);
        }
        return;
    }
    /* §2.2.3: an MX host name that is an alias with a secure CNAME chain:
     * TLSA at the fully expanded name first, then at the original name */
    if (dane_cname_expand(dns, host, base, sizeof(base)) &&
        dane_tlsa_at(dns, port, base, h) != 0) {
        if (h->state == RELAY_DANE_ON)      /* a DANE-TA(2) name too (§2.2.3) */
            (void)str_copy(h->base, sizeof(h->base), base);
        return;
    }
    (void)dane_tlsa_at(dns, port, host, h);
}

/* Follows a DNSSEC-secure CNAME chain from host (at most
 * DANE_CNAME_MAX_HOPS). 1 and the final name in out when host is an alias
 * and every link is secure, else 0. */
static int dane_cname_expand(dns_resolver *dns, const char *host, char *out, size_t outlen)
{
    char name[256];
    int hops = 0;

    if (str_copy(name, sizeof(name), host) != 0)
        return 0;
    for (;;) {
        dns_answer a;
        if (dns_query(dns, name, DNS_T_CNAME, &a) != 0)
            return 0;
        int link = a.status == DNS_OK && a.n > 0;
        int ok = a.secure && (link || a.status == DNS_NODATA);
        if (ok && link && (hops == DANE_CNAME_MAX_HOPS ||
                           str_copy(name, sizeof(name), a.rrs[0].text) != 0))
            ok = 0;
        dns_answer_release(&a);
        if (!ok)
            return 0;                 /* insecure or failed: no expansion */
        if (!link)
            break;
        hops++;
    }
    if (hops == 0 || strcasecmp(name, host) == 0)
        return 0;
    return str_copy(out, outlen, name) == 0;
}

/* The TLSA records of _<port>._tcp.<base> into h: 1 when h's state was
 * set (records found, or the lookup failed: BOGUS), 0 when there are none
 * (or the answer is insecure). */
static int dane_tlsa_at(dns_resolver *dns, int port, const char *base, dane_host *h)
{
    char name[300];
    dns_answer a;

    int w = snprintf(name, sizeof(name), "_%d._tcp.%s", port, base);
    if (w < 0 || (size_t)w >= sizeof(name))
        return 0;
    if (dns_query(dns, name, DNS_T_TLSA, &a) != 0) {
        h->state = RELAY_DANE_BOGUS;
        dane_fmt(h->why, sizeof(h->why), "DANE: TLSA lookup %s: resolver failure", name);
        return 1;
    }
    int set = 0;
    if (a.status == DNS_TEMPFAIL || a.status == DNS_PERMFAIL) {
        /* §2.2: a failed TLSA lookup of a secure host makes it unusable */
        h->state = RELAY_DANE_BOGUS;
        dane_fmt(h->why, sizeof(h->why), "DANE: TLSA lookup %.100s: %.90s", name,
                       a.why[0] ? a.why : dns_status_text(a.status));
        set = 1;
    } else if (a.status == DNS_OK && a.secure) {
        h->state = RELAY_DANE_ENCRYPT;
        set = 1;
        for (size_t i = 0; i < a.n && h->ntlsa < RELAY_DANE_MAX_TLSA; i++) {
            relay_tlsa t;
            if (relay_dane_tlsa_parse((const unsigned char *)a.rrs[i].text, a.rrs[i].len,
                                      &t) != 1)
                continue;
            unsigned char *copy = xmalloc(t.len);
            memcpy(copy, t.data, t.len);
            t.data = copy;
            h->data[h->ntlsa] = copy;
            h->tlsa[h->ntlsa++] = t;
            h->state = RELAY_DANE_ON;
        }
    }
    dns_answer_release(&a);
    return set;
}

/* --- OpenSSL ------------------------------------------------------------ */

int relay_smtp_dane_setup(SSL_CTX *ctx, SSL *ssl, const char *host,
                          const relay_smtp_opts *o)
{
    int usable = 0;

    if (SSL_CTX_dane_enable(ctx) <= 0)
        goto fail;
    if (SSL_dane_enable(ssl, host) <= 0)
        goto fail;
    /* §3.2.1: DANE-EE(3) authenticates the key alone, names do not matter.
     * On the SSL itself: SSL_new copied the context's flags before. */
    (void)SSL_dane_set_flags(ssl, DANE_FLAG_NO_DANE_EE_NAMECHECKS);
    /* §3.2.2: DANE-TA(2) names: the MX host and the next-hop domain */
    if (o->dane_domain != NULL && o->dane_domain[0] != '\0' &&
        SSL_add1_host(ssl, o->dane_domain) != 1)
        ERR_clear_error();
    /* §2.2.3: records found at the CNAME-expanded MX name: that name too */
    if (o->dane_base != NULL && SSL_add1_host(ssl, o->dane_base) != 1)
        ERR_clear_error();
    for (size_t i = 0; i < o->ntlsa; i++) {
        const relay_tlsa *t = &o->tlsa[i];
        if (SSL_dane_tlsa_add(ssl, t->usage, t->selector, t->mtype, t->data, t->len) > 0)
            usable++;
        else
            ERR_clear_error();
    }
    if (usable > 0)
        return 0;
fail:
    ERR_clear_error();
    return -1;
}

void relay_smtp_dane_result(SSL *ssl, char *out, size_t outlen)
{
    uint8_t usage = 0, selector = 0, mtype = 0;
    long vr = SSL_get_verify_result(ssl);

    if (vr == X509_V_OK && SSL_get0_dane_authority(ssl, NULL, NULL) >= 0 &&
        SSL_get0_dane_tlsa(ssl, &usage, &selector, &mtype, NULL, NULL) >= 0)
        dane_fmt(out, outlen, "verified (%s %u %u %u)",
                       usage == 3 ? "DANE-EE" : "DANE-TA", usage, selector, mtype);
    else
        dane_fmt(out, outlen, "failed: %s",
                       vr != X509_V_OK ? X509_verify_cert_error_string(vr)
                                       : "no TLSA record matched");
}

/* snprintf where truncation is intended (names and resolver text in logs). */
static void dane_fmt(char *out, size_t len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    (void)vsnprintf(out, len, fmt, ap);
    va_end(ap);
}
