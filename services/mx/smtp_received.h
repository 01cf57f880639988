/*
 * smtp_received.h - the Received: trace header mx prepends (RFC 5321
 * §4.4, RFC 5322 §3.6.7, with-protocol names from RFC 3848). Pure.
 *
 *   Received: from <helo> ([<ip>]) by <hostname> (Mailyard) with ESMTPS id <qid>
 *   \tfor <rcpt>; <date>            (one recipient)
 *   \t; <date>  is written as "id <qid>;\r\n\t<date>" with several recipients
 *
 * IPv6 client addresses are written as [IPv6:addr]. Every input has been
 * validated by the session (HELO charset, parsed paths), so no CR/LF can
 * be injected.
 *
 * Ownership: the header is appended to out (caller's buffer).
 */
#ifndef MAILYARD_SMTP_RECEIVED_H
#define MAILYARD_SMTP_RECEIVED_H

#include <time.h>
#include "buf.h"

/* proto: "SMTP", "ESMTP" or "ESMTPS". rcpt may be NULL (several
 * recipients). Returns 0, or -1 when out is full. */
int smtp_received_format(buf *out, const char *helo, const char *client_ip,
                         const char *hostname, const char *proto,
                         const char *qid, const char *rcpt, time_t now);
/* RFC 5322 date-time in UTC ("Sun, 22 Nov 2026 07:00:00 +0000"). */
void smtp_received_date(time_t t, char *out, size_t outlen);

#endif
