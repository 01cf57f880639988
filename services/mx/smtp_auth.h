/*
 * smtp_auth.h - sender authentication of inbound mail in mx: runs
 * auth_check() (SPF, DKIM, DMARC, ARC; libcommon/auth.h) on each message
 * after the end of data and before the commit, replaces incoming
 * Authentication-Results fields that claim our authserv-id with ours, and
 * decides 250 / 550 5.7.1 / 451 4.7.0 by the DMARC policy of the recipient
 * domains (docs/authentication.md, "mx policy").
 *
 * Configuration: MAILYARD_MX_AUTH (on|off), MAILYARD_MX_AUTHSERV_ID,
 * MAILYARD_DNS_SERVERS, MAILYARD_DNS_TIMEOUT_MS, MAILYARD_MX_DMARC_POLICY
 * (record|reject), MAILYARD_MX_DMARC_POLICY_MAP ("dom=reject,dom2=record"),
 * MAILYARD_MX_ARC_TRUSTED_SEALERS (comma-separated domains).
 *
 * Policy: a message is refused when DMARC fails with p=reject (550 5.7.1),
 * or DMARC gives temperror (451 4.7.0), and at least one recipient domain
 * is in reject mode, unless the ARC chain validates (cv=pass) and its
 * newest sealer is trusted.
 *
 * Ownership: smtp_auth_create() gives the server an object it frees with
 * smtp_auth_free() (accepts NULL); it owns the shared (thread-safe)
 * resolver and the parsed policy. smtp_auth_message() may be called from
 * every connection thread at once.
 */
#ifndef MAILYARD_SMTP_AUTH_H
#define MAILYARD_SMTP_AUTH_H

#include <stddef.h>
#include "buf.h"
#include "config.h"
#include "dns.h"
#include "metrics.h"

typedef struct smtp_auth smtp_auth;

enum smtp_auth_verdict { SMTP_AUTH_ACCEPT = 0, SMTP_AUTH_REJECT, SMTP_AUTH_TEMPFAIL };

typedef struct smtp_auth_outcome {
    enum smtp_auth_verdict verdict;
    int  checked;                 /* 1 when the results below are set */
    char spf[16], dkim[16], dmarc[16], arc[16];
    char dmarc_domain[256];       /* the From domain (for the reply) */
} smtp_auth_outcome;

/* Reads the configuration. Returns 0 with *out set (NULL when
 * MAILYARD_MX_AUTH=off), or -1 with err filled on a bad value or a
 * resolver that cannot be created. */
int  smtp_auth_create(const config *cfg, const char *hostname, metrics_registry *mr,
                      smtp_auth **out, char *err, size_t errlen);
void smtp_auth_free(smtp_auth *a);
/* The shared resolver (thread-safe), for other checks of the connection
 * such as DNSBL; owned by a, valid until smtp_auth_free. */
dns_resolver *smtp_auth_resolver(const smtp_auth *a);
/* Our authserv-id (owned by a), for callers that edit headers themselves
 * (milter mode). */
const char *smtp_auth_authserv_id(const smtp_auth *a);

/* Checks msg (the message as received, CRLF lines) from client ip / helo /
 * mail_from for the given recipients, rewrites msg (our old
 * Authentication-Results removed, the new one on top) and fills out. On
 * an unusable message the verdict is ACCEPT and checked is 0 (msg kept).
 * Returns 0, or -1 when msg could not be rebuilt (out of memory/limit). */
int  smtp_auth_message(smtp_auth *a, const char *ip, const char *helo,
                       const char *mail_from, char *const *rcpts, size_t nrcpts,
                       buf *msg, smtp_auth_outcome *out);

#endif
