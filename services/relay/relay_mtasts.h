/*
 * relay_mtasts.h - MTA-STS (RFC 8461) for the mx transport: discovery by
 * TXT _mta-sts.<domain> ("v=STSv1; id=..."), the policy fetched with
 * libcurl from https://mta-sts.<domain>/.well-known/mta-sts.txt (HTTPS
 * with a verified certificate, no redirects, at most 64 KiB, the host
 * resolved with the relay's resolver), cached per domain by id until
 * max_age.
 *
 * What the transport does with a policy (relay_transport.c): "enforce"
 * keeps only the MX hosts that match a policy "mx:" pattern and requires
 * STARTTLS with a certificate valid for the MX name (tls=verify); none
 * matching defers the recipients. "testing" only logs what enforce would
 * have refused. "none" or no policy: nothing changes. A failed fetch with
 * no cached policy means no policy (RFC 8461 §5); with a cached one, the
 * cached policy is used until it expires.
 *
 * SECURITY: TXT records, the HTTP body and its size are untrusted input:
 * bounded parsing, at most RELAY_MTASTS_MAX_MX patterns, max_age capped at
 * one year (RFC 8461 §3.2).
 * Ownership: the cache is owned by relay_state and is thread-safe (mutex);
 * policies are copied out to the caller.
 */
#ifndef MAILYARD_RELAY_MTASTS_H
#define MAILYARD_RELAY_MTASTS_H

#include "dns.h"

#include <stddef.h>


#define RELAY_MTASTS_MAX_MX     16
#define RELAY_MTASTS_BODY_MAX   65536
#define RELAY_MTASTS_MAX_AGE    31557600L

enum relay_sts_mode { RELAY_STS_NONE, RELAY_STS_TESTING, RELAY_STS_ENFORCE };

typedef struct relay_sts_policy {
    enum relay_sts_mode mode;
    char   id[33];                               /* from the TXT record */
    char   mx[RELAY_MTASTS_MAX_MX][256];         /* "mx.example" or "*.example" */
    size_t nmx;
    long   max_age;
    /* Set only when mode is NONE because the policy announced by the TXT
     * record could not be had (no cached one either), for TLS-RPT: the
     * RFC 8460 §4.3.1 result type ("sts-policy-fetch-error",
     * "sts-policy-invalid", "sts-webpki-invalid") and the reason. */
    const char *failure;                         /* static string or NULL */
    char   failure_why[200];
} relay_sts_policy;

typedef struct relay_mtasts relay_mtasts;

/* port: HTTPS port of the policy host (443; MAILYARD_RELAY_MTASTS_PORT for
 * tests); ca_file: NULL = system store. */
relay_mtasts *relay_mtasts_create(int port, const char *ca_file, int timeout_s);
void          relay_mtasts_free(relay_mtasts *m);
/* The policy of domain (mode NONE when it has none); always fills *pol.
 * why explains a fetch problem for the log ("" otherwise); pol->failure
 * classifies it when no policy applies because of it. */
void          relay_mtasts_get(relay_mtasts *m, dns_resolver *dns, const char *domain,
                               relay_sts_policy *pol, char *why, size_t whylen);

/* Pure helpers (unit-tested). */
/* 0 and the id when txt is a valid "v=STSv1; id=..." record, else -1. */
int relay_mtasts_txt_id(const char *txt, char *id, size_t idlen);
/* The RFC 8460 result type of a failed fetch (pure, unit-tested): curl_code
 * the libcurl result (0 = transfer done), http_status, content-type ok,
 * parse_ok. */
const char *relay_mtasts_fetch_result(int curl_code, long http_status, int ctype_ok,
                                      int parse_ok);
/* Parses a policy body; 0, or -1 with err. */
int relay_mtasts_parse(const char *body, size_t len, relay_sts_policy *pol,
                       char *err, size_t errlen);
/* 1 when host matches one of the policy's mx patterns (RFC 8461 §4.1). */
int relay_mtasts_mx_match(const relay_sts_policy *pol, const char *host);

#endif
