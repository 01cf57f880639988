/*
 * dkim_dns.c - the DNS side of DKIM and ARC: the default key lookup
 * (TXT at "<selector>._domainkey.<domain>" through dns.h) and the entry
 * points that take a resolver, dkim_verify_message and arc_verify_message.
 *
 * SECURITY: answers are peer input; a record with an embedded NUL is
 * skipped; at most `max` records are returned.
 *
 * Owns nothing beyond one answer during a lookup.
 */
#include <string.h>

#include "arc.h"
#include "dkim.h"
#include "xalloc.h"

enum dkim_lookup_status
dkim_lookup_dns(void *ctx, const char *name, char **recs, size_t max, size_t *n)
{
    dns_answer a;
    enum dkim_lookup_status st;

    *n = 0;
    memset(&a, 0, sizeof(a));
    if (dns_query(ctx, name, DNS_T_TXT, &a) != 0)
        return DKIM_LOOKUP_TEMPFAIL;
    if (a.status == DNS_TEMPFAIL) {
        st = DKIM_LOOKUP_TEMPFAIL;
    } else if (a.status != DNS_OK) {
        st = DKIM_LOOKUP_NONE;
    } else {
        for (size_t i = 0; i < a.n && *n < max; i++)
            if (a.rrs[i].text != NULL && strlen(a.rrs[i].text) == a.rrs[i].len)
                recs[(*n)++] = xstrdup(a.rrs[i].text);
        st = *n > 0 ? DKIM_LOOKUP_OK : DKIM_LOOKUP_NONE;
    }
    dns_answer_release(&a);
    return st;
}

int
dkim_verify_message(dns_resolver *dns, const char *msg, size_t len, time_t now,
                    dkim_result **out, size_t *n)
{
    return dkim_verify_message_cb(dkim_lookup_dns, dns, msg, len, now, out, n);
}

int
arc_verify_message(dns_resolver *dns, const char *msg, size_t len, time_t now,
                   arc_result *out)
{
    return arc_verify_message_cb(dkim_lookup_dns, dns, msg, len, now, out);
}
