/*
 * dns.h - DNS lookups for sender authentication (SPF, DKIM, DMARC, ARC) and
 * later the relay, behind one interface with two backends:
 *
 *   - libunbound (dns_resolver_create_unbound): forwards to the configured
 *     servers ("ip[@port],..."; /etc/resolv.conf when empty), caches, and
 *     answers within timeout_ms (an unanswered query gives DNS_TEMPFAIL,
 *     never a hang). Local zones such as .test are made transparent so test
 *     servers are asked. DNSSEC validation when a trust anchor file is given
 *     (answer->secure; answer->bogus when validation failed). The file holds
 *     DS or DNSKEY records in zone-file format (e.g. /usr/share/dns/root.key).
 *   - a JSON file (dns_resolver_create_file), for `mailyardctl check-auth
 *     --dns-records FILE` and tests: an object mapping each name to a list of
 *     records {"type": T, "data": D} with T one of A, AAAA, MX
 *     (D = [pref, "host"]), TXT (D = a list of strings), PTR, CNAME, and
 *     {"type": "TIMEOUT"}, which makes every query of that name for a type it
 *     has no records of time out (DNS_TEMPFAIL). A name with no entry is
 *     NXDOMAIN; a name with entries but none of the type is NODATA.
 *
 * Names are compared case-insensitively, without a trailing dot.
 * A resolver is thread-safe (one may be shared by all threads).
 *
 * Ownership: the caller owns the resolver (dns_resolver_free accepts NULL)
 * and each answer (dns_answer_release frees the records, not the struct).
 */
#ifndef MAILYARD_DNS_H
#define MAILYARD_DNS_H

#include <stddef.h>

enum dns_type {
    DNS_T_A = 1, DNS_T_CNAME = 5, DNS_T_PTR = 12, DNS_T_MX = 15,
    DNS_T_TXT = 16, DNS_T_AAAA = 28, DNS_T_TLSA = 52,
};

enum dns_status {
    DNS_OK = 0,        /* at least one record of the type */
    DNS_NXDOMAIN,      /* the name does not exist */
    DNS_NODATA,        /* the name exists, no record of that type */
    DNS_TEMPFAIL,      /* timeout, SERVFAIL, network error */
    DNS_PERMFAIL,      /* malformed name or answer */
};

typedef struct dns_rr {
    enum dns_type type;
    char   *text;      /* owned. A/AAAA: address in presentation form;
                        * MX/PTR/CNAME: target name without trailing dot
                        * ("" for a null MX "."); TXT: the record's strings
                        * concatenated (NUL-terminated; may contain NULs,
                        * see len) */
    size_t  len;       /* length of text */
    int     pref;      /* MX preference; 0 otherwise */
} dns_rr;

typedef struct dns_answer {
    enum dns_status status;
    dns_rr *rrs;       /* owned array */
    size_t  n;
    int     secure;    /* 1 when DNSSEC-validated */
    char    why[128];  /* text for logs when status != DNS_OK */
    int     bogus;     /* 1 when DNSSEC validation failed (status is then
                        * DNS_TEMPFAIL); the validator's reason is in why */
} dns_answer;

typedef struct dns_resolver dns_resolver;

dns_resolver *dns_resolver_create_unbound(const char *servers, int timeout_ms,
                                          const char *trust_anchor_file,
                                          char *err, size_t errlen);
dns_resolver *dns_resolver_create_file(const char *json_path, char *err, size_t errlen);
void          dns_resolver_free(dns_resolver *r);
/* Always fills out (status says what happened); returns 0, or -1 only on a
 * broken resolver. */
int           dns_query(dns_resolver *r, const char *name, enum dns_type type,
                        dns_answer *out);
void          dns_answer_release(dns_answer *a);
const char   *dns_status_text(enum dns_status s);
/* An uncompressed wire-format name at p[0..len) as lower-case text without
 * the trailing dot ("" for the root) into out. Labels over 63 octets,
 * names over 253, compression pointers, dots, spaces, control and 8-bit
 * octets are refused. Returns 0, or -1. Pure. */
int           dns_wire_name_text(const unsigned char *p, size_t len, char *out,
                                 size_t outlen);

#endif
