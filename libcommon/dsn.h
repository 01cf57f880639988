/*
 * dsn.h - delivery status notifications (RFC 3464, multipart/report;
 * RFC 3462 report-type=delivery-status) for recipients that failed or are
 * delayed, queued as a new spool message to the original envelope sender.
 *
 * Never to the null sender: a message whose mail_from is "" gets no DSN
 * (dsn_queue returns 0 and logs). A DSN's own envelope sender is "" so a DSN
 * about a DSN cannot happen. The original message is returned in a
 * message/rfc822 part (headers only when it is larger than 64 KiB: then
 * text/rfc822-headers).
 *
 * RFC 3461 parameters of the original (spool_message dsn_ret, dsn_envid):
 * a failure report returns only the header with RET=HDRS and the whole
 * message with RET=FULL (whatever its size; without RET the 64 KiB rule
 * above); success reports ("relayed", "delivered") always return only the
 * header, delay reports follow RET=HDRS. ENVID is rendered as
 * Original-Envelope-Id, a recipient's ORCPT as Original-Recipient.
 * A delay report renders a recipient's will_retry_until as Will-Retry-Until.
 */
#ifndef MAILYARD_DSN_H
#define MAILYARD_DSN_H

#include <stddef.h>
#include <time.h>
#include "buf.h"
#include "spool.h"

typedef struct dsn_rcpt {
    const char *rcpt;         /* final recipient */
    const char *status;       /* "5.1.1", "4.4.1" */
    const char *diagnostic;   /* "smtp; 550 5.1.1 no such user" or NULL */
    const char *remote_mta;   /* "dns; mx.example" or NULL */
    const char *orcpt;        /* ORCPT "rfc822;a@b" (RFC 3461 §4.2) or NULL */
    time_t will_retry_until;  /* delay reports: when retries stop (Will-Retry-Until,
                               * RFC 3464 §2.3.9); 0 = not rendered */
} dsn_rcpt;

/* The report's Action (RFC 3464 §2.3.3): failed, delayed, or for
 * NOTIFY=SUCCESS relayed (the next hop does not do DSN) or delivered. */
enum dsn_action { DSN_FAILED, DSN_DELAYED, DSN_RELAYED, DSN_DELIVERED };

/* Render the DSN to env_sender (the envelope sender of the failed delivery,
 * which may be an SRS address of ours) about orig. CRLF line ends. */
int dsn_build(const char *reporting_mta, const spool_message *orig,
              const char *env_sender, const dsn_rcpt *rcpts, size_t n,
              enum dsn_action action, time_t now, buf *out);
/* Build, insert as a spool message (origin "dsn", mail_from "", rcpts
 * {env_sender}, parent orig) and create a *rewrite* job for it, all on c
 * inside the caller's transaction; the job id is added to out. The DSN goes
 * through rewrite like received mail, so a DSN to one of our SRS addresses
 * is reversed to the original sender. Returns 1 if queued, 0 if suppressed
 * (env_sender is the null sender), -1 on error. */
int dsn_queue(db_conn *c, const char *reporting_mta, const spool_message *orig,
              const char *env_sender, const dsn_rcpt *rcpts, size_t n,
              enum dsn_action action, spool_jobs *out);

#endif
