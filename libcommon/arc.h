/*
 * arc.h - ARC (RFC 8617): verification of a message's ARC chain and
 * sealing (adding one ARC set: ARC-Authentication-Results,
 * ARC-Message-Signature, ARC-Seal).
 *
 * arc_verify.c checks the structure (instances 1..N contiguous, N <= 50,
 * exactly one AAR, AMS and AS per instance, cv=none on instance 1 and
 * cv=pass on the others), the newest AMS (like DKIM, see dkim.h), every
 * AS over the sets in order, and computes oldest_pass: the lowest
 * instance from which every AMS up to the newest still verifies (so 1
 * when all do; 0 when the chain is not "pass").
 *
 * arc_seal.c seals with RSA keys only (RFC 8617 defines rsa-sha256 alone,
 * and verifiers such as dkimpy know no other); it adds the set i=N+1 with cv "none" for the first set, else
 * the cv the caller's verification found ("pass" or "fail"). It refuses
 * (returns 1) when the newest seal already says cv=fail, when there are 50
 * sets, or when the existing chain's structure is broken.
 *
 * SECURITY: the message and key records are peer input; limits as in
 * dkim.h plus ARC_MAX_SETS.
 *
 * Ownership: *fields from arc_seal is malloc'd for the caller.
 */
#ifndef MAILYARD_ARC_H
#define MAILYARD_ARC_H

#include <stddef.h>
#include <time.h>

#include "dkim.h"
#include "dns.h"
#include "hdr.h"

#define ARC_MAX_SETS 50

typedef struct arc_result {
    char cv[16];          /* none pass fail */
    int  instances;       /* number of ARC sets found (0 for none) */
    int  oldest_pass;     /* see above */
    char domain[256];     /* d= of the newest ARC-Seal */
    char reason[160];
} arc_result;

/* Indexes (into hdr_msg.fields) of each instance's fields, -1 if absent. */
typedef struct arc_chain {
    int  n;                          /* highest instance seen */
    long aar[ARC_MAX_SETS + 1];
    long ams[ARC_MAX_SETS + 1];
    long as[ARC_MAX_SETS + 1];
} arc_chain;

/* Collects the ARC fields of m. Returns 0, or -1 with reason filled when an
 * instance number is bad or a field is repeated. */
int arc_chain_collect(const hdr_msg *m, arc_chain *c, char *reason, size_t rlen);
/* SHA-256 over the sets 1..upto (relaxed) for ARC-Seal upto, whose raw
 * field is last_as (its b= value is removed). Returns 0 or -1. */
int arc_chain_digest(const hdr_msg *m, const arc_chain *c, int upto,
                     const char *last_as, size_t last_as_len, unsigned char dig[32]);

/* Verifies the chain with the given key lookup. Returns 0 (out filled),
 * or -1 when the message cannot be parsed (out says cv=fail). */
int arc_verify_message_cb(dkim_key_lookup_fn lookup, void *ctx, const char *msg,
                          size_t len, time_t now, arc_result *out);
/* The same with DNS (dkim_dns.c). */
int arc_verify_message(dns_resolver *dns, const char *msg, size_t len, time_t now,
                       arc_result *out);

/* Seals msg. authserv_id and auth_results (the results text after the
 * authserv-id, e.g. "spf=pass smtp.mailfrom=a.example; dkim=pass
 * header.d=a.example"; NULL means "none") go into the AAR; headers is the
 * AMS's header list (NULL: DKIM_DEFAULT_HEADERS); chain_cv is the cv from
 * arc_verify of the incoming message (ignored when it has no ARC set).
 * timestamp 0 means now. On success (0) *fields holds the three fields to
 * prepend, newest first, each ending in "\r\n" and folded with "\r\n\t".
 * Returns 1 when the message must not be sealed (err says why), -1 on an
 * error. */
int arc_seal(const dkim_key *key, const char *domain, const char *selector,
             const char *authserv_id, const char *auth_results, time_t timestamp,
             const char *headers, const char *chain_cv, const char *msg, size_t len,
             char **fields, char *err, size_t errlen);

#endif
