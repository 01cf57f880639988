/*
 * dmarc.h - DMARC (RFC 7489, with the DMARCbis DNS tree walk): policy
 * discovery, organizational domain, identifier alignment and the result.
 *
 * Policy discovery queries _dmarc.<From domain>, then walks up (a name of
 * 8 or more labels jumps to its 7 right-most labels, then one label at a
 * time down to the TLD): at most DMARC_MAX_QUERIES queries. The
 * organizational domain of a name is found by the same walk: the first
 * record with psd=n, the domain below a record with psd=y (not at the
 * start), else the shortest name with a record, else the name itself.
 * Relaxed alignment compares organizational domains; strict compares the
 * names. pct= is ignored (DMARCbis). np= applies when the From domain does
 * not exist (NXDOMAIN for A, AAAA and MX) and the record is not its own.
 *
 * Ownership: plain structs, nothing allocated.
 */
#ifndef MAILYARD_DMARC_H
#define MAILYARD_DMARC_H

#include <stddef.h>

#include "dns.h"

#define DMARC_MAX_QUERIES 8

enum dmarc_result { DMARC_NONE = 0, DMARC_PASS, DMARC_FAIL, DMARC_TEMPERROR, DMARC_PERMERROR };
enum dmarc_policy { DMARC_P_UNSET = 0, DMARC_P_NONE, DMARC_P_QUARANTINE, DMARC_P_REJECT };

typedef struct dmarc_record {
    enum dmarc_policy p, sp, np;   /* sp/np UNSET when absent */
    char adkim, aspf;              /* 'r' or 's' */
    char psd;                      /* 'y', 'n' or 'u' */
} dmarc_record;

/* One authenticated identifier given to dmarc_check. */
typedef struct dmarc_ident {
    const char *domain;            /* SPF: the MAIL FROM (or HELO) domain;
                                    * DKIM: d= */
    int         pass;              /* 1 when that SPF/DKIM result is pass */
} dmarc_ident;

typedef struct dmarc_outcome {
    enum dmarc_result result;
    enum dmarc_policy policy;      /* to apply on fail (p, sp or np); NONE
                                    * when there is no record */
    char from_domain[256];
    char policy_domain[256];       /* where the record was found */
    char org_domain[256];          /* of the From domain */
    int  spf_aligned;
    int  dkim_aligned;
    dmarc_record rec;
    char reason[160];
} dmarc_outcome;

const char *dmarc_result_text(enum dmarc_result r);   /* "pass" ... */
const char *dmarc_policy_text(enum dmarc_policy p);   /* "none" ... ("" unset) */

/* Parses a TXT string; 0 when it is a valid DMARC record ("v=DMARC1"
 * first), else -1. */
int dmarc_record_parse(const char *text, size_t len, dmarc_record *out);

/* Organizational domain of name (DMARCbis tree walk). Returns 0, or -1 on
 * a DNS temporary failure. */
int dmarc_org_domain(dns_resolver *dns, const char *name, char *out, size_t outlen);

/* Evaluates DMARC for the From domain with the SPF identity and the DKIM
 * identities (n of them). Always fills out; returns 0. */
int dmarc_check(dns_resolver *dns, const char *from_domain, const dmarc_ident *spf,
                const dmarc_ident *dkim, size_t ndkim, dmarc_outcome *out);

/* The domain of the single address in a From field value ("Name <a@b>",
 * "a@b", comments, quoted names). Returns 0, -1 when there is no address,
 * -2 when there are several with different domains. */
int dmarc_from_domain(const char *value, char *out, size_t outlen);

#endif
