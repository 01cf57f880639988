/*
 * smtp_sasl.h - the server side of the SMTP AUTH exchanges (RFC 4954) for
 * the PLAIN (RFC 4616) and LOGIN mechanisms, and the strict base64 they
 * use. No I/O and no credential check: the session feeds the AUTH
 * argument and every response line and gets back what to answer; when the
 * exchange is complete the user name and password are in the object for
 * the session's auth_check callback.
 *
 * SECURITY: everything here comes from the peer before it is
 * authenticated. Decoded messages are bounded (SMTP_SASL_MSG_MAX), user
 * names and passwords by SMTP_SASL_FIELD_MAX, NUL is refused inside them,
 * and base64 must be canonical (alphabet, padding, length) or the
 * exchange ends with SMTP_SASL_BAD_B64. Decoding happens into fixed
 * buffers of the object only; smtp_sasl_clear() wipes the password.
 * A PLAIN authorization identity different from the authentication
 * identity is refused (we do not let one user act as another).
 *
 * Ownership: the object is a plain struct embedded in the session;
 * nothing is allocated.
 */
#ifndef MAILYARD_SMTP_SASL_H
#define MAILYARD_SMTP_SASL_H

#include <stddef.h>

#define SMTP_SASL_FIELD_MAX 255      /* user name, password (octets) */
#define SMTP_SASL_MSG_MAX   (3 * SMTP_SASL_FIELD_MAX + 2)
#define SMTP_SASL_CHALLENGE_MAX 64   /* base64 text of our 334 challenges */

enum smtp_sasl_step {
    SMTP_SASL_IDLE = 0,
    SMTP_SASL_PLAIN,                 /* waiting for the PLAIN message */
    SMTP_SASL_LOGIN_USER,            /* waiting for the LOGIN user name */
    SMTP_SASL_LOGIN_PASS,            /* waiting for the LOGIN password */
};

enum smtp_sasl_result {
    SMTP_SASL_CONTINUE = 0,  /* send "334 <challenge>" and feed the next line */
    SMTP_SASL_DONE,          /* user and pass are set: check them */
    SMTP_SASL_CANCELLED,     /* the client sent "*": 501 5.0.0 */
    SMTP_SASL_BAD_B64,       /* not canonical base64: 501 5.5.2 */
    SMTP_SASL_BAD_MESSAGE,   /* decoded, but not a valid PLAIN/LOGIN value: 535 5.7.8 */
    SMTP_SASL_BAD_MECH,      /* mechanism we do not offer: 504 5.5.4 */
    SMTP_SASL_SYNTAX,        /* AUTH without a mechanism: 501 5.5.4 */
};

typedef struct smtp_sasl {
    enum smtp_sasl_step step;
    char user[SMTP_SASL_FIELD_MAX + 1];
    char pass[SMTP_SASL_FIELD_MAX + 1];
} smtp_sasl;

/* arg is the text after "AUTH " ("PLAIN", "PLAIN <initial-response>",
 * "LOGIN", "LOGIN <user>"). On CONTINUE challenge holds the base64 text of
 * the 334 reply (may be ""). */
enum smtp_sasl_result smtp_sasl_start(smtp_sasl *x, const char *arg,
                                      char *challenge, size_t clen);
/* One response line (CRLF removed) during an exchange. */
enum smtp_sasl_result smtp_sasl_step(smtp_sasl *x, const char *line, size_t len,
                                     char *challenge, size_t clen);
/* 1 while an exchange waits for a response line. */
int  smtp_sasl_active(const smtp_sasl *x);
/* Ends the exchange and wipes user and password. */
void smtp_sasl_clear(smtp_sasl *x);

/* Strict base64 (RFC 4648 §4, padding required, no white space) of
 * in[0..len) into out (at most outmax octets). The decoded length, or -1
 * when the text is not canonical base64 or does not fit. */
long smtp_sasl_b64_decode(const char *in, size_t len, unsigned char *out, size_t outmax);
/* base64 of in[0..len) into out (NUL-terminated). 0, or -1 if it does not
 * fit. */
int  smtp_sasl_b64_encode(const unsigned char *in, size_t len, char *out, size_t outlen);

#endif
