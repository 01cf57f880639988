/*
 * relay_dane.h - DANE for SMTP (RFC 7672) in the mx transport.
 *
 * relay_dane_create() looks at a destination's MX hosts through the
 * validating resolver (libcommon dns.h with MAILYARD_DNS_TRUST_ANCHOR_FILE):
 * only when the MX RRset (or, for an implicit MX, the domain's address) is
 * DNSSEC-secure are the hosts' TLSA records _<port>._tcp.<host> looked up,
 * and only when the host's address records are secure too (an alias host
 * with a secure CNAME chain: the expanded name's records first, then the
 * original name's, §2.2.3). Per host:
 *
 *   NONE     no secure TLSA records: the usual policy (MAILYARD_RELAY_TLS,
 *            MTA-STS) applies;
 *   ON       usable records (DANE-TA(2) or DANE-EE(3), selector 0/1,
 *            matching type 0/1/2): STARTTLS is mandatory and the
 *            certificate must match a record (OpenSSL's DANE support; names
 *            for DANE-TA per §3.2.2: the MX host and the next-hop domain;
 *            DANE-EE ignores names, §3.2.1);
 *   ENCRYPT  secure TLSA records, none usable (PKIX-TA/EE are unusable per
 *            §3.1.3): STARTTLS mandatory, no authentication (§2.2);
 *   BOGUS    the TLSA or address lookup failed validation or failed
 *            (SERVFAIL, timeout): the host is not used (§2.2); when no host
 *            is left the recipients are deferred (4.7.5).
 *
 * When any host is not NONE, DANE decides and MTA-STS is not applied
 * (RFC 8461 §2).
 *
 * SECURITY: TLSA rdata is untrusted: lengths are checked (SHA-256 32,
 * SHA-512 64 octets, full data at most RELAY_DANE_DATA_MAX), at most
 * RELAY_DANE_MAX_TLSA records per host are kept.
 * Ownership: relay_dane_create returns a heap object owned by the caller
 * (relay_dane_free, NULL ok); options filled by relay_dane_host_opts
 * borrow from it.
 */
#ifndef MAILYARD_RELAY_DANE_H
#define MAILYARD_RELAY_DANE_H

#include <stddef.h>

#include <jansson.h>
#include <openssl/ssl.h>

#include "dns.h"
#include "relay_dns.h"
#include "relay_smtp.h"

#define RELAY_DANE_MAX_TLSA 8
#define RELAY_DANE_DATA_MAX 2048

enum relay_dane_state { RELAY_DANE_NONE, RELAY_DANE_ON, RELAY_DANE_ENCRYPT, RELAY_DANE_BOGUS };

typedef struct relay_dane relay_dane;

/* Never fails: problems show as BOGUS hosts. port: the SMTP port of the
 * hosts (the TLSA owner name). */
relay_dane *relay_dane_create(dns_resolver *dns, int port, const char *domain,
                              const relay_mx *mx, size_t nmx);
void        relay_dane_free(relay_dane *d);
/* 1 when some MX host has TLSA records (or a failed TLSA lookup): DANE
 * decides instead of MTA-STS. */
int         relay_dane_active(const relay_dane *d);
enum relay_dane_state relay_dane_host_state(const relay_dane *d, size_t m);
/* Adjusts o for MX host m (mandatory TLS, TLSA records). Returns 0 when the
 * host may be tried, -1 when it must not (why says so). */
int         relay_dane_host_opts(const relay_dane *d, size_t m, const char *domain,
                                 relay_smtp_opts *o, char *why, size_t whylen);
/* Appends the usable TLSA records of every DANE host to arr as RFC 8460
 * policy strings ("3 1 1 <hex>", at most 16). */
void        relay_dane_policy_strings(const relay_dane *d, json_t *arr);
/* Pure (unit-tested): 1 when the TLSA rdata is usable for SMTP (fills t,
 * borrowing rdata), 0 when not usable, -1 when malformed. */
int         relay_dane_tlsa_parse(const unsigned char *rdata, size_t len, relay_tlsa *t);

/* OpenSSL side (used by relay_smtp.c): enables DANE on ssl with o's
 * records; 0, or -1 when none could be added. */
int         relay_smtp_dane_setup(SSL_CTX *ctx, SSL *ssl, const char *host,
                                  const relay_smtp_opts *o);
/* After the handshake: "verified (DANE-EE)" / "verified (DANE-TA)" or
 * "failed: why". */
void        relay_smtp_dane_result(SSL *ssl, char *out, size_t outlen);

#endif
