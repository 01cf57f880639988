/*
 * addr.c - SMTP path parsing (RFC 5321 §4.1.2, limits of §4.5.3.1).
 *
 * Owns nothing; addr_lower() returns a malloc'd copy for the caller.
 *
 * SECURITY: the text comes straight from an SMTP peer. The parser reads
 * only up to the closing '>' (or the first byte that cannot belong to a
 * path), writes only into the caller's buffer and refuses anything that
 * could route mail through us: source routes and '%' or '!' in the local
 * part (quoted or not). Only ASCII is accepted (no SMTPUTF8).
 *
 * Grammar accepted:
 *   Path       = "<" Mailbox ">"          ("<>" when allow_null)
 *   Mailbox    = Local-part "@" ( Domain / address-literal )
 *   Local-part = Dot-string / Quoted-string
 *   Domain     = sub-domain *("." sub-domain), labels [A-Za-z0-9-], no
 *                leading/trailing '-', at most 63 octets each
 *   literal    = "[" IPv4 "]" / "[IPv6:" IPv6 "]"
 */
#include "addr.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "xalloc.h"

#define ADDR_LOCAL_MAX  64
#define ADDR_DOMAIN_MAX 255
#define ADDR_PATH_MAX   256

static int    addr_is_atext(unsigned char c);
static size_t addr_scan_local(const char *p, enum addr_error *err);
static size_t addr_scan_domain(const char *p, enum addr_error *err);
static size_t addr_scan_literal(const char *p, enum addr_error *err);

static int addr_is_atext(unsigned char c)
{
    return isalnum(c) || (c != 0 && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL);
}

/* Length of the local part at p, or 0 with *err set. */
static size_t addr_scan_local(const char *p, enum addr_error *err)
{
    size_t i = 0;
    int route = 0;
    if (p[0] == '"') {
        i = 1;
        for (;;) {
            unsigned char c = (unsigned char)p[i];
            if (c == '"')
                break;
            if (c == '\\') {
                unsigned char q = (unsigned char)p[i + 1];
                if (q < 32 || q > 126) {
                    *err = ADDR_SYNTAX;
                    return 0;
                }
                if (q == '%' || q == '!')
                    route = 1;
                i += 2;
            } else if (c >= 32 && c <= 126) {
                if (c == '%' || c == '!')
                    route = 1;
                i++;
            } else {
                *err = ADDR_SYNTAX;
                return 0;
            }
            if (i > ADDR_PATH_MAX) {
                *err = ADDR_TOO_LONG;
                return 0;
            }
        }
        i++;            /* closing quote */
        if (i == 2) {   /* "" is not a useful mailbox */
            *err = ADDR_SYNTAX;
            return 0;
        }
    } else {
        int prev_dot = 1;   /* no leading dot */
        for (;;) {
            unsigned char c = (unsigned char)p[i];
            if (c == '.') {
                if (prev_dot) {
                    *err = ADDR_SYNTAX;
                    return 0;
                }
                prev_dot = 1;
            } else if (addr_is_atext(c)) {
                if (c == '%' || c == '!')
                    route = 1;
                prev_dot = 0;
            } else {
                break;
            }
            i++;
            if (i > ADDR_PATH_MAX) {
                *err = ADDR_TOO_LONG;
                return 0;
            }
        }
        if (i == 0 || prev_dot) {
            *err = ADDR_SYNTAX;
            return 0;
        }
    }
    if (p[i] != '@') {
        *err = ADDR_SYNTAX;
        return 0;
    }
    if (route) {
        *err = ADDR_ROUTE;
        return 0;
    }
    if (i > ADDR_LOCAL_MAX) {
        *err = ADDR_TOO_LONG;
        return 0;
    }
    return i;
}

/* Address literal at p (starting with '['), or 0 with *err set. */
static size_t addr_scan_literal(const char *p, enum addr_error *err)
{
    const char *end = strchr(p, ']');
    if (end == NULL || end - p > 64) {
        *err = ADDR_SYNTAX;
        return 0;
    }
    char tmp[72];
    size_t n = (size_t)(end - p - 1);
    memcpy(tmp, p + 1, n);
    tmp[n] = '\0';
    unsigned char bin[16];
    int ok;
    if (strncasecmp(tmp, "IPv6:", 5) == 0)
        ok = inet_pton(AF_INET6, tmp + 5, bin) == 1;
    else
        ok = strchr(tmp, ':') == NULL && inet_pton(AF_INET, tmp, bin) == 1;
    if (!ok) {
        *err = ADDR_SYNTAX;
        return 0;
    }
    return n + 2;
}

/* Length of the domain (or literal) at p, or 0 with *err set. */
static size_t addr_scan_domain(const char *p, enum addr_error *err)
{
    if (p[0] == '[')
        return addr_scan_literal(p, err);
    size_t i = 0, label = 0;
    for (;;) {
        unsigned char c = (unsigned char)p[i];
        if (isalnum(c) || c == '-') {
            if (c == '-' && label == 0) {
                *err = ADDR_SYNTAX;
                return 0;
            }
            label++;
        } else if (c == '.') {
            if (label == 0 || p[i - 1] == '-') {
                *err = ADDR_SYNTAX;
                return 0;
            }
            label = 0;
        } else {
            break;
        }
        if (label > 63) {
            *err = ADDR_TOO_LONG;
            return 0;
        }
        i++;
        if (i > ADDR_DOMAIN_MAX) {
            *err = ADDR_TOO_LONG;
            return 0;
        }
    }
    if (label == 0 || p[i - 1] == '-') {
        *err = ADDR_SYNTAX;
        return 0;
    }
    return i;
}

enum addr_error addr_parse_path(const char *text, int allow_null,
                                char *out, size_t outlen, size_t *consumed)
{
    enum addr_error err = ADDR_SYNTAX;
    if (outlen > 0)
        out[0] = '\0';
    if (consumed != NULL)
        *consumed = 0;
    if (text == NULL || text[0] != '<')
        return ADDR_SYNTAX;
    if (text[1] == '>') {
        if (!allow_null)
            return ADDR_NULL_REFUSED;
        if (outlen == 0)
            return ADDR_TOO_LONG;
        if (consumed != NULL)
            *consumed = 2;
        return ADDR_OK;
    }
    if (text[1] == '@')
        return ADDR_ROUTE;
    const char *local = text + 1;
    size_t llen = addr_scan_local(local, &err);
    if (llen == 0)
        return err;
    const char *domain = local + llen + 1;
    size_t dlen = addr_scan_domain(domain, &err);
    if (dlen == 0)
        return err;
    if (domain[dlen] != '>')
        return ADDR_SYNTAX;
    size_t mlen = llen + 1 + dlen;
    if (mlen + 2 > ADDR_PATH_MAX)
        return ADDR_TOO_LONG;
    if (mlen >= outlen)
        return ADDR_TOO_LONG;
    memcpy(out, local, mlen);
    out[mlen] = '\0';
    if (consumed != NULL)
        *consumed = mlen + 2;
    return ADDR_OK;
}

const char *addr_error_text(enum addr_error e)
{
    switch (e) {
    case ADDR_OK:           return "ok";
    case ADDR_SYNTAX:       return "syntax error in mailbox address";
    case ADDR_TOO_LONG:     return "address too long";
    case ADDR_ROUTE:        return "source routes and %/! routing are not allowed";
    case ADDR_NULL_REFUSED: return "null address not allowed here";
    }
    return "unknown address error";
}

const char *addr_domain(const char *addr)
{
    const char *at = strrchr(addr, '@');
    return at ? at + 1 : NULL;
}

char *addr_lower(const char *addr)
{
    char *s = xstrdup(addr);
    for (char *p = s; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    return s;
}
