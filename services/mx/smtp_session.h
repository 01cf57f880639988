/*
 * smtp_session.h - the SMTP server state machine, without I/O.
 *
 * A session is one connection (client address, HELO name, TLS, error
 * count); a transaction (smtp_tx) is one MAIL..DATA exchange and is rolled
 * back as a whole by RSET, EHLO/HELO, STARTTLS or a failed DATA.
 *
 * The server feeds bytes read from the socket with smtp_session_feed() and
 * writes whatever replies appeared in s->out (then buf_reset()s it). The
 * session asks the outside world through two callbacks, so tests can drive
 * it without sockets: rcpt_check (is this recipient ours?) and commit (store
 * the message durably; the 250 reply is only written after it returns 0).
 * on_reply (optional) sees every reply code, for metrics and logs;
 * mail_check (optional) may refuse a MAIL FROM (block rules, rate limits).
 *
 * feed() returns what the server must do next:
 *   SMTP_ACT_CONTINUE  write s->out, read more;
 *   SMTP_ACT_STARTTLS  write s->out (the 220), discard every byte already
 *                      read, run the TLS handshake, then call
 *                      smtp_session_tls_started();
 *   SMTP_ACT_CLOSE     write s->out and close the connection.
 * Bytes after the command that stopped processing (STARTTLS, QUIT, a fatal
 * error) are ignored. feed() takes at most SMTP_FEED_MAX bytes per call, so
 * pipelined replies stay bounded.
 *
 * Pipelining is allowed only after the EHLO reply (RFC 2920): bytes that
 * arrive in the same feed after a command given before EHLO (or after
 * HELO, or after the EHLO command itself) are a synchronization error:
 * 554 5.5.0 and close. (Talking before the 220 is caught by the server.)
 *
 * BDAT (RFC 3030): the chunk bytes that follow a BDAT command are always
 * consumed, even when the command is refused; errors are answered after
 * the chunk. DATA and BDAT share the reader's checks (size, header size,
 * bare CR/LF, NUL, line length).
 *
 * STANDARDS: RFC 5321, RFC 1870 (SIZE), RFC 6152 (8BITMIME), RFC 2920
 * (PIPELINING), RFC 2034/3463 (enhanced status codes; not on the greeting
 * and EHLO/HELO replies, as RFC 2034 says), RFC 3207 (STARTTLS), RFC 6531
 * (SMTPUTF8), RFC 3030 (CHUNKING), RFC 3461 (DSN parameters, stored).
 *
 * Ownership: smtp_session_create() returns a session the caller frees with
 * smtp_session_free() (accepts NULL). cfg and arg are borrowed and must
 * outlive the session. The tx passed to commit is borrowed for the call.
 */
#ifndef MAILYARD_SMTP_SESSION_H
#define MAILYARD_SMTP_SESSION_H

#include <stddef.h>
#include "buf.h"
#include "smtp_parse.h"
#include "smtp_data.h"
#include "smtp_sasl.h"

#define SMTP_FEED_MAX 4096

enum smtp_rcpt_verdict {
    SMTP_RCPT_ACCEPT = 0,     /* 250 2.1.5 */
    SMTP_RCPT_UNKNOWN,        /* 550 5.1.1 */
    SMTP_RCPT_RELAY_DENIED,   /* 554 5.7.1 */
    SMTP_RCPT_TEMPFAIL,       /* 451 4.4.3 */
    SMTP_RCPT_REFUSED,        /* the callback set tx->reply_code/_text/_reason */
};

enum smtp_action { SMTP_ACT_CONTINUE = 0, SMTP_ACT_STARTTLS, SMTP_ACT_CLOSE };
enum smtp_state  { SMTP_STATE_CMD = 0, SMTP_STATE_DATA, SMTP_STATE_BDAT, SMTP_STATE_CLOSED };

typedef struct smtp_tx {
    char      mail_from[SMTP_PATH_MAX + 1];  /* "" for the null sender */
    long long declared_size;                 /* MAIL SIZE=, -1 if none */
    int       body_8bit;
    int       smtputf8;                      /* MAIL SMTPUTF8 */
    enum smtp_dsn_ret dsn_ret;               /* MAIL RET= */
    char      dsn_envid[SMTP_ENVID_MAX + 1]; /* MAIL ENVID= (decoded), "" if none */
    char    **rcpts;                         /* owned array of owned strings */
    unsigned *notify;                        /* owned, parallel to rcpts (0: none) */
    char    **orcpt;                         /* owned, parallel; NULL entries: none */
    size_t    nrcpts, cap;
    size_t    nrejected;                     /* RCPTs refused (any reason) */
    smtp_data data;                          /* the message, once DATA/BDAT began */
    int       in_data;
    int       bdat;                          /* the data comes in BDAT chunks */
    unsigned long long bdat_octets;          /* sum of the BDAT chunk sizes */
    /* set by a commit callback that refuses the message (returns -1):
     * the reply instead of 451 4.3.0, and a metrics reason ("dmarc") */
    int       reply_code;                    /* 0: the default 451 4.3.0 */
    char      reply_text[256];               /* "5.7.1 ..." without the code */
    const char *reply_reason;                /* static string or NULL */
} smtp_tx;

struct smtp_session;
typedef enum smtp_rcpt_verdict (*smtp_rcpt_fn)(void *arg, const char *addr);
/* Stores s->tx durably. On success writes the queue id into qid and
 * returns 0; -1 on a temporary failure (the client gets 451 4.3.0) or a
 * refusal (the callback set tx->reply_code and tx->reply_text). The
 * callback may take the message bytes (buf_steal(&tx->data.body, ...)). */
typedef int  (*smtp_commit_fn)(void *arg, struct smtp_session *s, smtp_tx *tx,
                               char *qid, size_t qidlen);
/* Called for every reply line group: code (e.g. 250) and the text of the
 * (last) line, e.g. "5.1.1 <a@b>: Recipient address rejected". */
typedef void (*smtp_reply_fn)(void *arg, struct smtp_session *s, int code,
                              const char *text);

/* Called for every command line with the verb name ("mail", "unknown"). */
typedef void (*smtp_command_fn)(void *arg, const char *verb);

/* MAIL FROM policy (block rules, rate limits): called with the new
 * transaction (tx->mail_from set) before the 250. 0 accepts; -1 refuses
 * with tx->reply_code/reply_text/reply_reason (else 550 5.7.1) and the
 * transaction is rolled back. */
typedef int  (*smtp_mail_fn)(void *arg, struct smtp_session *s, smtp_tx *tx);
/* Submission (smtp_session_auth.c). auth_check: are these credentials
 * valid? SMTP_CRED_OK, SMTP_CRED_BAD (535 5.7.8) or SMTP_CRED_TEMPFAIL
 * (454 4.7.0). sender_check: may the authenticated user send as
 * mail_from ("" for the null sender)? Same results (553 5.7.1 / 451 4.7.1). */
enum smtp_cred { SMTP_CRED_OK = 0, SMTP_CRED_BAD, SMTP_CRED_TEMPFAIL };
typedef enum smtp_cred (*smtp_auth_check_fn)(void *arg, const char *user, const char *pass);
typedef enum smtp_cred (*smtp_sender_check_fn)(void *arg, const char *user,
                                                const char *mail_from);

typedef struct smtp_session_cfg {
    const char    *hostname;
    size_t         max_message_size;
    size_t         max_header_size;   /* 0: no separate header limit */
    int            bare_lf_normalize; /* store bare LF/CR as CRLF instead of 550 */
    size_t         max_rcpts;
    int            max_errors;
    int            tls_available;   /* a certificate is configured */
    smtp_rcpt_fn   rcpt_check;
    smtp_commit_fn commit;
    smtp_reply_fn  on_reply;        /* may be NULL */
    smtp_command_fn on_command;     /* may be NULL */
    smtp_mail_fn   mail_check;      /* may be NULL */
    /* the SUBMISSION policy (RFC 6409/8314): AUTH offered after TLS and
     * required before MAIL; 0: the MX policy (no AUTH) */
    int            submission;
    smtp_auth_check_fn   auth_check;    /* required when submission */
    smtp_sender_check_fn sender_check;  /* may be NULL: any sender */
} smtp_session_cfg;

typedef struct smtp_session {
    const smtp_session_cfg *cfg;            /* borrowed */
    void  *arg;                             /* borrowed, passed to callbacks */
    char   client_ip[64];
    char   helo[SMTP_DOMAIN_MAX + 1];       /* "" until EHLO/HELO */
    int    esmtp;                           /* EHLO (not HELO) was used */
    int    tls;                             /* TLS is active */
    int    errors;
    enum smtp_state state;
    buf    in;                              /* partial command line (owned) */
    int    discarding;                      /* inside an over-long line */
    int    tls_pending;                     /* STARTTLS accepted, feed() stops */
    buf    out;                             /* replies to write (owned) */
    smtp_tx *tx;                            /* owned; NULL outside MAIL..DATA */
    unsigned long long bdat_left;           /* octets of the BDAT chunk to read */
    int    bdat_last;                       /* the chunk is the LAST one */
    int    bdat_refused;                    /* reply code for a refused chunk, 0 */
    smtp_sasl sasl;                         /* an AUTH exchange in progress */
    char   auth_user[SMTP_SASL_FIELD_MAX + 1]; /* "" until authenticated */
    const char *auth_method;                /* "PLAIN", "LOGIN", "certificate" (static) */
    int    auth_failures;                   /* 535s in this session */
} smtp_session;

/* Creates a session and queues the 220 greeting in s->out. */
smtp_session *smtp_session_create(const smtp_session_cfg *cfg, const char *client_ip,
                                  void *arg);
void smtp_session_free(smtp_session *s);
enum smtp_action smtp_session_feed(smtp_session *s, const char *p, size_t n);
void smtp_session_tls_started(smtp_session *s);
/* Queues a final reply (421 timeouts, shutdown) and closes the session. */
void smtp_session_abort(smtp_session *s, int code, const char *text);
/* Rolls back the current transaction (frees s->tx). */
void smtp_session_tx_rollback(smtp_session *s);
/* 1 while the session waits for message data (inside DATA or a BDAT
 * chunk, RFC 5321 §4.5.3.2.5 "data block" timeout), else 0 (waiting for a
 * command, §4.5.3.2.7). */
int  smtp_session_in_data(const smtp_session *s);
/* Queues a reply from the session's helper modules (smtp_session_auth.c);
 * counts errors like every other reply. */
void smtp_session_reply(smtp_session *s, int code, const char *text);

/* --- smtp_session_auth.c: AUTH (RFC 4954) and the submission policy --- */
#define SMTP_AUTH_MAX_FAILURES 3     /* then 421 4.7.0 and close */
/* The EHLO line "250-AUTH PLAIN LOGIN\r\n" when AUTH is offered, else "". */
const char *smtp_session_auth_ehlo(const smtp_session *s);
void smtp_session_auth_cmd(smtp_session *s, const char *arg);
/* A response line of an AUTH exchange (smtp_sasl_active(&s->sasl)). */
void smtp_session_auth_line(smtp_session *s, const char *line, size_t len);
/* Submission checks at MAIL: 1 to go on, 0 after a refusal reply (530
 * without authentication, 553/451 from sender_check). */
int  smtp_session_auth_mail(smtp_session *s, const char *mail_from);
/* Marks the session authenticated (e.g. by a client certificate). */
void smtp_session_auth_set(smtp_session *s, const char *user, const char *method);

#endif
