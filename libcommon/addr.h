/*
 * addr.h - mail addresses as they appear in SMTP paths (RFC 5321 §4.1.2).
 *
 * addr_parse_path() takes the text after "MAIL FROM:" or "RCPT TO:" up to
 * the first space that is outside the angle brackets, e.g. "<a@b.example>",
 * and returns the mailbox without brackets. The null path "<>" is valid only
 * when allow_null is set and yields "". Source routes ("<@a,@b:u@d>") and
 * '%' or '!' in the local part are refused. Quoted local parts are kept as
 * written. Limits: local part 64 octets, domain 255, path 256 (RFC 5321
 * §4.5.3.1).
 *
 * addr_domain() returns a pointer into the address after the last '@'
 * (or NULL). addr_lower() returns a malloc'd lower-cased copy, which is how
 * we compare addresses (we do not treat local parts case-sensitively).
 */
#ifndef MAILYARD_ADDR_H
#define MAILYARD_ADDR_H

#include <stddef.h>

enum addr_error {
    ADDR_OK = 0,
    ADDR_SYNTAX,        /* not a valid path */
    ADDR_TOO_LONG,      /* over a length limit */
    ADDR_ROUTE,         /* source route or %/! routing */
    ADDR_NULL_REFUSED,  /* "<>" where not allowed */
};

/* Parse "<local@domain>" (brackets required) into out (size outlen).
 * *consumed receives the number of bytes of text used, so ESMTP parameters
 * can be parsed after it. */
enum addr_error addr_parse_path(const char *text, int allow_null,
                                char *out, size_t outlen, size_t *consumed);
const char *addr_error_text(enum addr_error e);
const char *addr_domain(const char *addr);
char       *addr_lower(const char *addr);    /* caller frees */

#endif
