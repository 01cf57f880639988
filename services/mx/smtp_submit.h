/*
 * smtp_submit.h - the submission service's checks against PostgreSQL
 * (schema mx, services/mx/sql/001_submission.sql): credentials (AUTH),
 * the addresses a user may use as envelope sender and in From: (grants:
 * exact addresses or "@domain"), and the client certificates that
 * authenticate internal hosts (pinned by SHA-256 fingerprint).
 *
 * Results are enum smtp_cred (smtp_session.h): OK, BAD (refused) or
 * TEMPFAIL (the database did not answer: 454/451, never a 5xx).
 *
 * Policy: the null sender ("MAIL FROM:<>") needs no grant; every address
 * of every From: field must be granted (kind "any" or "from"), and a
 * message without a parseable From: is refused (550 5.7.1), so a user
 * can never send with someone else's address.
 *
 * Ownership: smtp_submit_create() returns an object the server owns and
 * frees with smtp_submit_free() (accepts NULL); db is borrowed. All
 * functions may be called from every connection thread at once.
 */
#ifndef MAILYARD_SMTP_SUBMIT_H
#define MAILYARD_SMTP_SUBMIT_H

#include <stddef.h>
#include <openssl/ssl.h>
#include "db.h"
#include "smtp_parse.h"
#include "smtp_session.h"

#define SMTP_SUBMIT_FROM_MAX 32     /* addresses checked in From: fields */

typedef struct smtp_submit smtp_submit;

smtp_submit *smtp_submit_create(db_pool *db, int db_timeout_ms);
void         smtp_submit_free(smtp_submit *x);
/* The session's auth_check: user's password hash verified (yescrypt). */
enum smtp_cred smtp_submit_auth(smtp_submit *x, const char *user, const char *pass);
/* The session's sender_check: mail_from granted to user (kind any or
 * envelope)? "" (null sender) is OK. */
enum smtp_cred smtp_submit_sender(smtp_submit *x, const char *user, const char *mail_from);
/* After DATA (called by the commit callback): every From: address of
 * tx's message granted to s->auth_user? 0, or -1 with tx->reply_code/
 * reply_text set (550 5.7.1, or 451 4.7.1 when the database failed). */
int  smtp_submit_from_check(smtp_submit *x, const smtp_session *s, smtp_tx *tx);
/* The user a client certificate (SHA-256 fingerprint, lower-case hex)
 * authenticates as: OK with user filled, BAD when not registered. */
enum smtp_cred smtp_submit_cert_user(smtp_submit *x, const char *fingerprint,
                                     char *user, size_t userlen);
/* The lower-case hex SHA-256 fingerprint of the peer's certificate. 0, or
 * -1 when the client sent none. */
int  smtp_submit_peer_fingerprint(SSL *ssl, char hex[65]);
/* After the handshake on a submission listener: when the client sent a
 * certificate whose fingerprint is registered, marks s authenticated as
 * its user (method "certificate"); otherwise only logs. */
void smtp_submit_client_cert(smtp_submit *x, SSL *ssl, smtp_session *s);
/* The mailboxes of a From: value (RFC 5322 mailbox-list: display names,
 * comments, quoted strings and groups allowed), lower-cased, into out.
 * Their number (0..max), or -1 on a syntax error or more than max. */
int  smtp_submit_from_parse(const char *value, char out[][SMTP_PATH_MAX + 1], int max);

#endif
