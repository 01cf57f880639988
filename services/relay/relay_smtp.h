/*
 * relay_smtp.h - one outgoing SMTP transaction on a blocking socket:
 * connect (with timeout), greeting, EHLO (HELO fallback), opportunistic
 * STARTTLS (OpenSSL, no certificate verification in this version), MAIL
 * FROM (with SIZE= when offered), one RCPT per recipient, DATA with
 * dot-stuffing, QUIT. The message is sent byte-exact (it is CRLF already).
 *
 * SECURITY: the server is untrusted; replies go through relay_reply's
 * bounded parser and every read and write has a timeout.
 * STANDARDS: RFC 5321, RFC 3207 (STARTTLS), RFC 1870 (SIZE), RFC 6152.
 *
 * Ownership: the caller owns every argument; results are written into
 * caller-provided structs. The socket, SSL and SSL_CTX live only inside
 * relay_smtp_send().
 */
#ifndef MAILYARD_RELAY_SMTP_H
#define MAILYARD_RELAY_SMTP_H

#include <stddef.h>
#include <sys/socket.h>

#define RELAY_SMTP_REPLY_MAX 512

typedef struct relay_smtp_opts {
    const char *helo;        /* our EHLO name */
    int         timeout_s;   /* per connect / read / write */
    int         try_tls;     /* use STARTTLS when offered */
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
} relay_smtp_info;

enum relay_smtp_result {
    RELAY_SMTP_OK,        /* every rcpts[i] has a final code */
    RELAY_SMTP_TRYNEXT,   /* failed before any recipient answer; try another host */
    RELAY_SMTP_TLSFAIL,   /* STARTTLS handshake failed: retry the host without TLS */
};

/* host: the server's name for logs and SNI (may be an IP literal).
 * mail_from "" sends MAIL FROM:<>. */
enum relay_smtp_result relay_smtp_send(const struct sockaddr *addr, socklen_t alen,
                                       const char *host, const relay_smtp_opts *o,
                                       const char *mail_from,
                                       const char *const *rcpts, size_t n,
                                       const char *msg, size_t len,
                                       relay_smtp_rcpt *out, relay_smtp_info *info);

#endif
