/*
 * smtp_rspamd.h - the spam-scanning hook of mx: after sender
 * authentication and before the commit, each message is POSTed to
 * rspamd's /checkv2 with its envelope and client (IP, Helo, From, one
 * Rcpt per recipient, Queue-Id, User when authenticated). The verdict
 * becomes header fields on top of the message (X-Spam-Score,
 * X-Spam-Status, X-Rspamd-Action, X-Spamd-Result with the symbols; any
 * incoming copies of these fields are removed first), or a refusal:
 *   - score >= MAILYARD_MX_RSPAMD_REJECT_SCORE (when set), or rspamd's
 *     own "reject" action (when it is not set): 550 5.7.1, reason "spam";
 *   - rspamd's "soft reject" action: 451 4.7.1;
 *   - rspamd unreachable, timed out or answering nonsense: the message is
 *     accepted without the headers (MAILYARD_MX_RSPAMD_FAIL_OPEN=on, the
 *     default) or refused with 451 4.7.1 (off); logged and counted.
 * See docs/mx.md, "Spam scanning".
 *
 * Configuration: MAILYARD_MX_RSPAMD_URL (base URL, empty: off),
 * MAILYARD_MX_RSPAMD_TIMEOUT_MS, MAILYARD_MX_RSPAMD_REJECT_SCORE,
 * MAILYARD_MX_RSPAMD_FAIL_OPEN.
 *
 * SECURITY: rspamd's reply is untrusted input: symbol names and options
 * are filtered to printable ASCII and the X-Spamd-Result field is bounded
 * (SMTP_RSPAMD_RESULT_MAX bytes, SMTP_RSPAMD_MAX_SYMBOLS symbols).
 *
 * Ownership: smtp_rspamd_create() gives the server an object it frees
 * with smtp_rspamd_free() (accepts NULL). smtp_rspamd_message() may be
 * called from every connection thread at once (one HTTP client per call).
 */
#ifndef MAILYARD_SMTP_RSPAMD_H
#define MAILYARD_SMTP_RSPAMD_H

#include <stddef.h>
#include <jansson.h>
#include "buf.h"
#include "config.h"
#include "metrics.h"

#define SMTP_RSPAMD_RESULT_MAX  2048   /* bytes of the X-Spamd-Result value */
#define SMTP_RSPAMD_MAX_SYMBOLS 64

typedef struct smtp_rspamd smtp_rspamd;

enum smtp_rspamd_verdict {
    SMTP_RSPAMD_ACCEPT = 0,    /* headers added (or fail open) */
    SMTP_RSPAMD_REJECT,        /* 550 5.7.1 */
    SMTP_RSPAMD_TEMPFAIL,      /* 451 4.7.1 */
};

/* The envelope and client of one message; every pointer is borrowed and
 * may be NULL (user, queue_id) when unknown. */
typedef struct smtp_rspamd_req {
    const char  *ip;
    const char  *helo;
    const char  *mail_from;
    char *const *rcpts;
    size_t       nrcpts;
    const char  *queue_id;
    const char  *user;         /* the authenticated user, NULL if none */
} smtp_rspamd_req;

/* The parts of a /checkv2 reply that matter to us. */
typedef struct smtp_rspamd_result {
    double score, required;
    char   action[32];         /* "no action", "add header", "reject", ... */
    char   symbols[SMTP_RSPAMD_RESULT_MAX];  /* the X-Spamd-Result value */
} smtp_rspamd_result;

/* Reads the configuration. Returns 0 with *out set (NULL when
 * MAILYARD_MX_RSPAMD_URL is empty), or -1 with err filled on a bad value.
 * mr may be NULL (no metrics). */
int  smtp_rspamd_create(const config *cfg, metrics_registry *mr, smtp_rspamd **out,
                        char *err, size_t errlen);
void smtp_rspamd_free(smtp_rspamd *r);

/* Scans msg (CRLF lines) and decides. On ACCEPT the verdict fields are
 * on top of msg (unless the scan failed open); on REJECT/TEMPFAIL msg is
 * unchanged and text holds the enhanced status code and text of the
 * reply ("5.7.1 ..."). Returns the verdict. */
enum smtp_rspamd_verdict smtp_rspamd_message(smtp_rspamd *r, const smtp_rspamd_req *req,
                                             buf *msg, char *text, size_t textlen);

/* Pure helpers, for the tests. */
/* Parses a /checkv2 reply. 0, or -1 when it has no numeric score or no
 * action. */
int  smtp_rspamd_parse(const json_t *reply, smtp_rspamd_result *out);
/* Removes incoming X-Spam-Score/-Status, X-Rspamd-Action and
 * X-Spamd-Result fields from msg and puts ours on top. 0, or -1 (msg
 * unchanged) when the result does not fit. */
int  smtp_rspamd_headers_apply(const smtp_rspamd_result *res, buf *msg);

#endif
