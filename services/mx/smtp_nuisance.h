/*
 * smtp_nuisance.h - the nuisance checks of the SMTP server in one place:
 * block rules (smtp_blocks.h) and rate limits (smtp_ratelimit.h), called
 * at connection, MAIL FROM and RCPT TO. smtp_server.c only calls these
 * hooks; what is checked and answered is decided here.
 *
 *   connection  network rule -> 554 5.7.1, close (reason "block");
 *               connections per IP over the limit -> 421 4.7.0, close
 *               (reason "ratelimit");
 *   MAIL FROM   sender address or domain rule -> 550 5.7.1 ("block");
 *               messages per IP / per user over -> 450 4.7.1 ("ratelimit");
 *   RCPT TO     recipient address rule -> 550 5.7.1 ("block");
 *               recipients per IP / per user over -> 450 4.7.1.
 * The rule's reason is logged, never shown to the client. user is the
 * authenticated user name, or NULL (no AUTH in this session).
 *
 * Ownership: smtp_nuisance_create() gives an object freed with
 * smtp_nuisance_free() (accepts NULL). svc is borrowed and must outlive it.
 */
#ifndef MAILYARD_SMTP_NUISANCE_H
#define MAILYARD_SMTP_NUISANCE_H

#include <stddef.h>
#include "service.h"
#include "smtp_session.h"

typedef struct smtp_nuisance smtp_nuisance;

/* 0 with *out set, or -1 with err filled (a bad MAILYARD_MX_RATE_* or
 * MAILYARD_MX_BLOCKS_* value). */
int  smtp_nuisance_create(service *svc, smtp_nuisance **out, char *err, size_t errlen);
void smtp_nuisance_free(smtp_nuisance *n);

/* At connection, before the greeting. 0: go on; -1: refuse with reply (a
 * full "code text\r\n" line) and *reason (a static metrics label). */
int  smtp_nuisance_connect(smtp_nuisance *n, const char *ip, char *reply, size_t replylen,
                           const char **reason);
/* At MAIL FROM (tx->mail_from is set). 0: accept; -1: refuse, with
 * tx->reply_code, reply_text and reply_reason set. */
int  smtp_nuisance_mail(smtp_nuisance *n, const char *ip, const char *user, smtp_tx *tx);
/* At RCPT TO for addr. 0: go on with the other checks; -1: refuse, with
 * tx->reply_code, reply_text and reply_reason set. */
int  smtp_nuisance_rcpt(smtp_nuisance *n, const char *ip, const char *user, const char *addr,
                        smtp_tx *tx);

#endif
