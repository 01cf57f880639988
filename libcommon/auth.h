/*
 * auth.h - sender authentication of one message in one call: SPF, DKIM,
 * DMARC (from the SPF and DKIM results) and ARC, and the
 * Authentication-Results value that says so (authres.h).
 *
 * Used by mx (record the result, apply the DMARC policy), the relay and
 * `mailyardctl check-auth`. Every DNS query goes through the given resolver
 * (dns.h), so timeouts give temperror results, never a hang.
 *
 * Ownership: auth_results owns the DKIM result array and the header value;
 * release with auth_results_release() (safe on a zeroed struct and twice).
 */
#ifndef MAILYARD_AUTH_H
#define MAILYARD_AUTH_H

#include <stddef.h>
#include <time.h>

#include "arc.h"
#include "dkim.h"
#include "dmarc.h"
#include "dns.h"
#include "spf.h"

enum auth_method { AUTH_SPF = 1, AUTH_DKIM = 2, AUTH_DMARC = 4, AUTH_ARC = 8, AUTH_ALL = 15 };

typedef struct auth_input {
    const char *ip;            /* client address (the proxied one) */
    const char *helo;          /* EHLO name, may be NULL */
    const char *mail_from;     /* envelope sender ("" or "<>" when null) */
    const char *msg;           /* the message as received (header + body) */
    size_t      len;
    const char *authserv_id;   /* our host name in the header */
    time_t      now;
    unsigned    methods;       /* AUTH_* to run and report (0 = AUTH_ALL);
                                * DMARC also runs SPF and DKIM for itself */
    int         fold;          /* 1: header value folded for a message */
} auth_input;

typedef struct auth_results {
    unsigned      ran;         /* AUTH_* reported */
    spf_outcome   spf;
    dkim_result  *dkim;        /* owned, ndkim entries */
    size_t        ndkim;
    dmarc_outcome dmarc;
    arc_result    arc;
    char         *header;      /* owned Authentication-Results value */
} auth_results;

/* Runs the methods. Returns 0 with out filled (out->header set), or -1
 * when dns or the input is unusable (nothing allocated). */
int  auth_check(dns_resolver *dns, const auth_input *in, auth_results *out);
void auth_results_release(auth_results *r);

/* One word per method for logs and check-auth: */
const char *auth_spf_text(const auth_results *r);
/* "none" without signatures, "pass" when any passed, else "temperror"
 * when any had one, else the first signature's result. */
const char *auth_dkim_text(const auth_results *r);
const char *auth_dmarc_text(const auth_results *r);
const char *auth_arc_text(const auth_results *r);

#endif
