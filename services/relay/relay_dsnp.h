/*
 * relay_dsnp.h - the RFC 3461 DSN parameters of one relay recipient:
 * NOTIFY and ORCPT as mx stored them (spool rcpt_dsn) and as rewrite
 * carried them through alias expansion (the relay job's "dsn" array), and
 * what they mean for the relay: which reports to send, and what to pass
 * on to a next hop that announces DSN (xtext, RFC 3461 §4).
 *
 * Where the parameters come from, for a recipient r of a relay job:
 *   1. the job payload's "dsn" array, parallel to "rcpts" (rewrite writes
 *      it: the parameters of the envelope recipient that r was expanded
 *      from, with ORCPT defaulting to that envelope recipient);
 *   2. without that array, the message's own rcpt_dsn entry of r
 *      (case-insensitive match in the message's recipients);
 *   3. else none: RFC 3461 defaults (failure and delay reports, no
 *      success report, nothing passed on).
 *
 * SECURITY: payload and spool values are checked (types, lengths, known
 * NOTIFY keywords); a malformed entry counts as "no parameters".
 * Ownership: everything is copied into the caller's struct.
 */
#ifndef MAILYARD_RELAY_DSNP_H
#define MAILYARD_RELAY_DSNP_H

#include <stddef.h>
#include <jansson.h>

#include "spool.h"

#define RELAY_NOTIFY_NEVER   1u
#define RELAY_NOTIFY_SUCCESS 2u
#define RELAY_NOTIFY_FAILURE 4u
#define RELAY_NOTIFY_DELAY   8u

#define RELAY_DSNP_ORCPT_MAX 512

typedef struct relay_dsnp {
    unsigned notify;                     /* RELAY_NOTIFY_* bits; 0 = not given */
    char     orcpt[RELAY_DSNP_ORCPT_MAX]; /* "rfc822;a@b" (decoded) or "" */
} relay_dsnp;

/* "SUCCESS,DELAY" -> bits; 0 for NULL, "" or anything malformed. */
unsigned relay_dsnp_parse_notify(const char *s);
/* Fills out for rcpt (see above). Never fails. */
void     relay_dsnp_lookup(const json_t *payload, const spool_message *msg,
                           const char *rcpt, relay_dsnp *out);
/* Whether a report of kind RELAY_NOTIFY_FAILURE / _DELAY / _SUCCESS is
 * wanted: without NOTIFY failure and delay are, success is not. */
int      relay_dsnp_wants(const relay_dsnp *p, unsigned kind);
/* NOTIFY value for the wire ("SUCCESS,FAILURE"), "" when not given. */
void     relay_dsnp_notify_format(unsigned notify, char *out, size_t outlen);
/* xtext-encodes in (RFC 3461 §4: '+' '=' controls, space and 8-bit as
 * "+HH"). 0, or -1 when out is too small. */
int      relay_dsnp_xtext(const char *in, char *out, size_t outlen);

#endif
