/*
 * relay_smtp.h - one outgoing SMTP transaction on a blocking socket:
 * connect (with timeout), greeting, EHLO (HELO fallback) or LHLO (LMTP),
 * STARTTLS by policy (may / encrypt / verify, OpenSSL; the certificate is
 * always checked and the result recorded, and enforced in verify mode),
 * AUTH PLAIN or LOGIN (only over TLS), MAIL
 * FROM (with SIZE= when offered), one RCPT per recipient, DATA with
 * dot-stuffing, QUIT. The message is sent byte-exact (it is CRLF already).
 *
 * SECURITY: the server is untrusted; replies go through relay_reply's
 * bounded parser and every read and write has a timeout.
 * STANDARDS: RFC 5321, RFC 3207 (STARTTLS), RFC 1870 (SIZE), RFC 6152,
 * RFC 4954 (AUTH), RFC 4616 (PLAIN), RFC 2033 (LMTP), RFC 6125 (names),
 * RFC 3461 (DSN parameters, only to a server that announces DSN).
 *
 * A session (relay_smtp_open) can carry several transactions
 * (relay_smtp_txn, with relay_smtp_reset = RSET between them) so the
 * connection cache (relay_conn.h) can reuse it.
 *
 * Ownership: the caller owns every argument; results are written into
 * caller-provided structs. A session owns its socket, SSL and SSL_CTX and
 * belongs to one thread at a time; relay_smtp_close frees it (NULL ok).
 */
#ifndef MAILYARD_RELAY_SMTP_H
#define MAILYARD_RELAY_SMTP_H

#include <stddef.h>
#include <sys/socket.h>

#define RELAY_SMTP_REPLY_MAX 512

/* MAILYARD_RELAY_TLS: may = STARTTLS when offered (plain text when not
 * offered or when the handshake fails); encrypt = STARTTLS required, any
 * certificate; verify = STARTTLS required and a certificate that chains to
 * the CA file (or the system store) and is valid for the host name. */
enum relay_tls_mode { RELAY_TLS_MAY, RELAY_TLS_ENCRYPT, RELAY_TLS_VERIFY };

/* One usable TLSA record (RFC 6698; DANE-TA(2) or DANE-EE(3), see
 * relay_dane.h). data is borrowed. */
typedef struct relay_tlsa {
    unsigned char        usage, selector, mtype;
    const unsigned char *data;
    size_t               len;
} relay_tlsa;

typedef struct relay_smtp_opts {
    const char *helo;        /* our EHLO name */
    int         timeout_s;   /* per connect / read / write */
    int         try_tls;     /* use STARTTLS when offered (0: the plain retry in may mode) */
    enum relay_tls_mode tls; /* policy; encrypt/verify never fall back to plain text */
    const char *ca_file;     /* PEM bundle for verification, NULL = system store */
    const char *verify_name; /* name the certificate must match; NULL = host */
    const char *auth_user;   /* AUTH credentials or NULL (no AUTH) */
    const char *auth_pass;
    int         lmtp;        /* LHLO instead of EHLO; one reply per recipient after DATA */
    /* DANE (RFC 7672): with ntlsa > 0 the certificate is authenticated by
     * these records (OpenSSL DANE; tls must be RELAY_TLS_VERIFY); names for
     * DANE-TA(2): the host, dane_domain (the next-hop domain) or NULL, and
     * dane_base (the CNAME-expanded host name whose TLSA records these are,
     * RFC 7672 §2.2.3) or NULL. */
    const relay_tlsa *tlsa;
    size_t      ntlsa;
    const char *dane_domain;
    const char *dane_base;
    const struct relay_smtp_dsn *dsn; /* for the caller's relay_smtp_txn_dsn; not
                                         used by relay_smtp_open, may be NULL */
} relay_smtp_opts;

/* Per-recipient answer: code 2xx, 4xx or 5xx with the formatted reply. */
typedef struct relay_smtp_rcpt {
    int  code;
    char status[16];                     /* enhanced status or "" */
    char reply[RELAY_SMTP_REPLY_MAX];
} relay_smtp_rcpt;

/* What happened to the session as a whole. */
typedef struct relay_smtp_info {
    int  code;                           /* reply that ended it early, 0 for I/O */
    char reply[RELAY_SMTP_REPLY_MAX];    /* or an I/O error description */
    char tls[128];                       /* "TLSv1.3 TLS_AES_256_GCM_SHA384" or "" */
    char tls_verify[160];                /* "verified", "not verified: why", or "" */
    char dane[160];                      /* with TLSA: "verified (DANE-EE)", "failed: why" */
    int  dsn;                            /* the server announced DSN (RFC 3461) */
} relay_smtp_info;

/* RFC 3461 parameters of one transaction, sent only to a server that
 * announces DSN: RET and ENVID on MAIL, NOTIFY and ORCPT on each RCPT
 * (values decoded; xtext-encoded here). Arrays parallel to rcpts; a NULL
 * array or entry means "none". */
typedef struct relay_smtp_dsn {
    const char        *ret;     /* "FULL" / "HDRS" or NULL */
    const char        *envid;   /* or NULL */
    const char *const *notify;  /* "SUCCESS,FAILURE", "NEVER", or NULL */
    const char *const *orcpt;   /* "rfc822;a@b" or NULL */
} relay_smtp_dsn;

enum relay_smtp_result {
    RELAY_SMTP_OK,        /* every rcpts[i] has a final code */
    RELAY_SMTP_TRYNEXT,   /* failed before any recipient answer; try another host
                             (also: TLS required but missing or not verified) */
    RELAY_SMTP_TLSFAIL,   /* STARTTLS handshake failed: retry the host without TLS */
};

typedef struct relay_smtp_session relay_smtp_session;

/* Connect, greeting, EHLO/LHLO, STARTTLS by policy, AUTH. RELAY_SMTP_OK
 * with *out set, or TRYNEXT / TLSFAIL with info->reply saying why. */
enum relay_smtp_result relay_smtp_open(const struct sockaddr *addr, socklen_t alen,
                                       const char *host, const relay_smtp_opts *o,
                                       relay_smtp_session **out, relay_smtp_info *info);
/* One MAIL/RCPT/DATA transaction on an open session; results as in
 * relay_smtp_send (info->tls is the session's). */
enum relay_smtp_result relay_smtp_txn(relay_smtp_session *s, const char *mail_from,
                                      const char *const *rcpts, size_t n,
                                      const char *msg, size_t len,
                                      relay_smtp_rcpt *out, relay_smtp_info *info);
/* relay_smtp_txn with DSN parameters (dsn may be NULL); info->dsn tells
 * whether the server took them (announced DSN). */
enum relay_smtp_result relay_smtp_txn_dsn(relay_smtp_session *s, const char *mail_from,
                                          const relay_smtp_dsn *dsn,
                                          const char *const *rcpts, size_t n,
                                          const char *msg, size_t len,
                                          relay_smtp_rcpt *out, relay_smtp_info *info);
/* 1 when the session is in step with the server and may carry another
 * transaction (after relay_smtp_reset). */
int  relay_smtp_reusable(const relay_smtp_session *s);
/* RSET; 0 when the server answered 250 (else the session is not reusable). */
int  relay_smtp_reset(relay_smtp_session *s);
/* QUIT (unless the session is broken), close, free. */
void relay_smtp_close(relay_smtp_session *s);

/* open + txn + close in one call.
 * host: the server's name for logs and SNI (may be an IP literal).
 * mail_from "" sends MAIL FROM:<>. */
enum relay_smtp_result relay_smtp_send(const struct sockaddr *addr, socklen_t alen,
                                       const char *host, const relay_smtp_opts *o,
                                       const char *mail_from,
                                       const char *const *rcpts, size_t n,
                                       const char *msg, size_t len,
                                       relay_smtp_rcpt *out, relay_smtp_info *info);

#endif
