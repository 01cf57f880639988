/*
 * smtp_dnsbl.h - DNS blocklist (DNSBL, RFC 5782) check of the SMTP client's
 * address in mx. For each configured zone it asks <reversed address>.<zone>
 * A (IPv4: octets reversed; IPv6: nibbles reversed) and adds the zone's
 * weight when the answer is in 127.0.0.0/8. When the sum reaches the
 * threshold the client is listed; the server refuses its recipients with
 * 554 5.7.1 (docs/mx.md, "DNS blocklists"). A timeout or SERVFAIL counts 0
 * (fail open) and is logged. Nothing is cached here beyond the resolver.
 *
 * Configuration: MAILYARD_MX_DNSBL_ZONES ("zone[=weight],...", weight 1 by
 * default, empty: off), MAILYARD_MX_DNSBL_THRESHOLD (default 1),
 * MAILYARD_DNS_SERVERS and MAILYARD_DNS_TIMEOUT_MS for an own resolver.
 *
 * Ownership: smtp_dnsbl_create() gives an object freed with
 * smtp_dnsbl_free() (accepts NULL). It borrows the shared resolver when one
 * is passed, else owns one it creates. smtp_dnsbl_check() may be called
 * from every connection thread at once.
 */
#ifndef MAILYARD_SMTP_DNSBL_H
#define MAILYARD_SMTP_DNSBL_H

#include <stddef.h>
#include "config.h"
#include "dns.h"

typedef struct smtp_dnsbl smtp_dnsbl;

/* Reads the configuration. Returns 0 with *out set (NULL when no zone is
 * configured), or -1 with err filled on a bad value. shared may be NULL. */
int  smtp_dnsbl_create(const config *cfg, dns_resolver *shared, smtp_dnsbl **out,
                       char *err, size_t errlen);
void smtp_dnsbl_free(smtp_dnsbl *d);

/* The query name for ip under zone ("1.0.0.127.zone"; IPv6 nibbles).
 * Returns 0, or -1 for an unparsable address or a too small out. Pure. */
int  smtp_dnsbl_query_name(const char *ip, const char *zone, char *out, size_t outlen);

/* Checks ip against every zone. Returns 1 when the weights of the zones
 * that list it reach the threshold (zones then holds their names,
 * comma-separated, truncated to fit), else 0. */
int  smtp_dnsbl_check(smtp_dnsbl *d, const char *ip, char *zones, size_t zoneslen);

#endif
