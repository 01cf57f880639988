/*
 * relay_dns.h - MX and address lookups for the "mx" transport, on
 * libcommon's resolver (dns.h).
 *
 * relay_dns_create() builds the resolver: a forwarder for every entry of
 * MAILYARD_DNS_SERVERS ("ip" or "ip@port", comma separated), or
 * /etc/resolv.conf when that is empty, answering each query within
 * timeout_ms (MAILYARD_RELAY_DNS_TIMEOUT_MS) or as a temporary failure. The
 * resolver is thread-safe; one is shared by all worker threads.
 *
 * relay_dns_mx() answers RFC 5321 §5.1: the MX hosts sorted by preference
 * (ties keep DNS order), or, when the domain has no MX records, the domain
 * itself as an implicit MX. A null MX (RFC 7505: one MX whose exchange is
 * ".") is reported as RELAY_DNS_NULLMX. RELAY_DNS_NXDOMAIN is a name that
 * does not exist; RELAY_DNS_TEMPFAIL is SERVFAIL, a timeout or any other
 * resolver error.
 *
 * relay_dns_txt() reads TXT records (for MTA-STS discovery, RFC 8461 §3.1).
 *
 * relay_dns_addrs() resolves a host name (or IP literal) to its A then
 * AAAA addresses with the given port.
 *
 * Ownership: the resolver is owned by the relay state (relay_dns_free()
 * accepts NULL); results are written into caller arrays.
 */
#ifndef MAILYARD_RELAY_DNS_H
#define MAILYARD_RELAY_DNS_H

#include <stddef.h>
#include <sys/socket.h>

#include "dns.h"

enum relay_dns_status {
    RELAY_DNS_OK,
    RELAY_DNS_NXDOMAIN,
    RELAY_DNS_NODATA,     /* the name exists but has no such records */
    RELAY_DNS_NULLMX,
    RELAY_DNS_TEMPFAIL,
};

#define RELAY_DNS_MAX_MX    16
#define RELAY_DNS_MAX_ADDRS 16

typedef struct relay_mx {
    char host[256];
    int  pref;
} relay_mx;

typedef struct relay_addr {
    struct sockaddr_storage sa;
    socklen_t               len;
    char                    text[64];   /* "192.0.2.1" or "2001:db8::1" */
} relay_addr;

/* servers: MAILYARD_DNS_SERVERS or "" / NULL. NULL and err filled on failure. */
dns_resolver *relay_dns_create(const char *servers, int timeout_ms, char *err, size_t errlen);
void          relay_dns_free(dns_resolver *r);

enum relay_dns_status relay_dns_mx(dns_resolver *r, const char *domain,
                                   relay_mx *out, size_t *n, char *err, size_t errlen);
enum relay_dns_status relay_dns_addrs(dns_resolver *r, const char *host, int port,
                                      relay_addr *out, size_t *n, char *err, size_t errlen);
/* TXT records of name, each record's strings concatenated, into out[0..max)
 * (records longer than RELAY_DNS_TXT_MAX - 1 or with NUL bytes are
 * skipped). RELAY_DNS_NODATA / NXDOMAIN when there are none. */
#define RELAY_DNS_TXT_MAX 512
enum relay_dns_status relay_dns_txt(dns_resolver *r, const char *name,
                                    char (*out)[RELAY_DNS_TXT_MAX], size_t max, size_t *n,
                                    char *err, size_t errlen);

#endif
