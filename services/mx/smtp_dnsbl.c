/*
 * smtp_dnsbl.c - DNSBL check of the SMTP client address (smtp_dnsbl.h):
 * parses the zone list, builds the RFC 5782 query names and sums the
 * weights of the zones that list the client. Owns the zone list and, when
 * no shared resolver is given, its own resolver.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "xalloc.h"
#include "smtp_dnsbl.h"

#define DNSBL_MAX_ZONES 32
#define DNSBL_ZONE_MAX  200

typedef struct dnsbl_zone {
    char name[DNSBL_ZONE_MAX + 1];
    long weight;
} dnsbl_zone;

struct smtp_dnsbl {
    dns_resolver *dns;                 /* borrowed or owned (own_dns) */
    int           own_dns;
    dnsbl_zone    zones[DNSBL_MAX_ZONES];
    size_t        nzones;
    long          threshold;
};

/* Parses "zone[=weight],..." into d. 0, or -1 with err filled. */
static int smtp_dnsbl_zones_parse(smtp_dnsbl *d, const char *spec, char *err, size_t errlen)
{
    const char *p = spec;
    while (*p != '\0') {
        size_t n = strcspn(p, ",");
        char item[DNSBL_ZONE_MAX + 32];
        if (n >= sizeof item) {
            snprintf(err, errlen, "zone entry too long");
            return -1;
        }
        memcpy(item, p, n);
        item[n] = '\0';
        p += n;
        if (*p == ',')
            p++;
        char *s = item;
        while (*s == ' ')
            s++;
        size_t len = strlen(s);
        while (len > 0 && s[len - 1] == ' ')
            s[--len] = '\0';
        if (len == 0)
            continue;
        long weight = 1;
        char *eq = strchr(s, '=');
        if (eq != NULL) {
            *eq = '\0';
            char *end;
            errno = 0;
            weight = strtol(eq + 1, &end, 10);
            if (errno != 0 || end == eq + 1 || *end != '\0' || weight < 0 || weight > 1000) {
                snprintf(err, errlen, "bad weight for zone %.64s (0..1000)", s);
                return -1;
            }
        }
        len = strlen(s);
        while (len > 0 && s[len - 1] == '.')
            s[--len] = '\0';
        if (len == 0 || len > DNSBL_ZONE_MAX || strspn(s, "abcdefghijklmnopqrstuvwxyz"
                "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._") != len) {
            snprintf(err, errlen, "bad zone name");
            return -1;
        }
        if (d->nzones == DNSBL_MAX_ZONES) {
            snprintf(err, errlen, "more than %d zones", DNSBL_MAX_ZONES);
            return -1;
        }
        if (str_copy(d->zones[d->nzones].name, sizeof d->zones[0].name, s) != 0) {
            snprintf(err, errlen, "bad zone name");
            return -1;
        }
        d->zones[d->nzones++].weight = weight;
    }
    return 0;
}

int smtp_dnsbl_create(const config *cfg, dns_resolver *shared, smtp_dnsbl **out,
                      char *err, size_t errlen)
{
    *out = NULL;
    long threshold = config_get_long(cfg, "MAILYARD_MX_DNSBL_THRESHOLD", 1);
    if (threshold < 1 || threshold > 100000) {
        snprintf(err, errlen, "MAILYARD_MX_DNSBL_THRESHOLD must be 1..100000");
        return -1;
    }
    smtp_dnsbl *d = xcalloc(1, sizeof *d);
    d->threshold = threshold;
    char perr[128];
    if (smtp_dnsbl_zones_parse(d, config_get(cfg, "MAILYARD_MX_DNSBL_ZONES", ""),
                               perr, sizeof perr) != 0) {
        snprintf(err, errlen, "MAILYARD_MX_DNSBL_ZONES: %s", perr);
        smtp_dnsbl_free(d);
        return -1;
    }
    if (d->nzones == 0) {
        smtp_dnsbl_free(d);
        return 0;
    }
    if (shared != NULL) {
        d->dns = shared;
    } else {
        long timeout = config_get_long(cfg, "MAILYARD_DNS_TIMEOUT_MS", 5000);
        if (timeout < 100 || timeout > 60000) {
            snprintf(err, errlen, "MAILYARD_DNS_TIMEOUT_MS must be 100..60000");
            smtp_dnsbl_free(d);
            return -1;
        }
        char derr[256];
        d->dns = dns_resolver_create_unbound(config_get(cfg, "MAILYARD_DNS_SERVERS", ""),
                                             (int)timeout, NULL, derr, sizeof derr);
        if (d->dns == NULL) {
            snprintf(err, errlen, "DNSBL resolver: %s", derr);
            smtp_dnsbl_free(d);
            return -1;
        }
        d->own_dns = 1;
    }
    char nz[16], th[16];
    snprintf(nz, sizeof nz, "%zu", d->nzones);
    snprintf(th, sizeof th, "%ld", d->threshold);
    log_info("dnsbl checks on", "zones", nz, "threshold", th);
    *out = d;
    return 0;
}

void smtp_dnsbl_free(smtp_dnsbl *d)
{
    if (d == NULL)
        return;
    if (d->own_dns)
        dns_resolver_free(d->dns);
    free(d);
}

int smtp_dnsbl_query_name(const char *ip, const char *zone, char *out, size_t outlen)
{
    unsigned char a[16];
    int n;
    if (inet_pton(AF_INET, ip, a) == 1) {
        n = snprintf(out, outlen, "%u.%u.%u.%u.%s", a[3], a[2], a[1], a[0], zone);
    } else if (inet_pton(AF_INET6, ip, a) == 1) {
        static const char hex[] = "0123456789abcdef";
        char nib[65];
        size_t k = 0;
        for (int i = 15; i >= 0; i--) {
            nib[k++] = hex[a[i] & 0xf];
            nib[k++] = '.';
            nib[k++] = hex[a[i] >> 4];
            nib[k++] = '.';
        }
        nib[k] = '\0';
        n = snprintf(out, outlen, "%s%s", nib, zone);
    } else {
        return -1;
    }
    return n < 0 || (size_t)n >= outlen ? -1 : 0;
}

/* 1 when some A record of the answer is in 127.0.0.0/8 (code gets it). */
static int smtp_dnsbl_listed(const dns_answer *ans, char *code, size_t codelen)
{
    for (size_t i = 0; i < ans->n; i++) {
        struct in_addr v4;
        if (ans->rrs[i].type != DNS_T_A || inet_pton(AF_INET, ans->rrs[i].text, &v4) != 1)
            continue;
        if ((ntohl(v4.s_addr) >> 24) == 127) {
            (void)str_copy(code, codelen, ans->rrs[i].text);
            return 1;
        }
    }
    return 0;
}

int smtp_dnsbl_check(smtp_dnsbl *d, const char *ip, char *zones, size_t zoneslen)
{
    long sum = 0;
    size_t used = 0;
    if (zoneslen > 0)
        zones[0] = '\0';
    for (size_t i = 0; i < d->nzones; i++) {
        const dnsbl_zone *z = &d->zones[i];
        char name[320];
        if (smtp_dnsbl_query_name(ip, z->name, name, sizeof name) != 0) {
            log_warn("dnsbl: cannot build query name", "client", ip, "zone", z->name);
            return 0;
        }
        dns_answer ans;
        memset(&ans, 0, sizeof ans);
        if (dns_query(d->dns, name, DNS_T_A, &ans) != 0) {
            log_warn("dnsbl: resolver failed, not counted", "client", ip, "zone", z->name);
            dns_answer_release(&ans);
            continue;
        }
        char code[64] = "";
        if (ans.status == DNS_OK && smtp_dnsbl_listed(&ans, code, sizeof code)) {
            log_info("dnsbl listed", "client", ip, "zone", z->name, "code", code);
            sum += z->weight;
            size_t zl = strlen(z->name);
            if (used + zl + 2 <= zoneslen) {
                if (used > 0)
                    zones[used++] = ',';
                memcpy(zones + used, z->name, zl + 1);
                used += zl;
            }
        } else if (ans.status == DNS_TEMPFAIL || ans.status == DNS_PERMFAIL) {
            log_warn("dnsbl lookup failed, not counted (fail open)", "client", ip,
                     "zone", z->name, "status", dns_status_text(ans.status), "why", ans.why);
        }
        dns_answer_release(&ans);
    }
    return sum >= d->threshold;
}
