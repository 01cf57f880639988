/*
 * smtp_parse.c - SMTP command-line parsing: verb + argument, MAIL/RCPT
 * paths and ESMTP parameters (SIZE=, BODY=). Pure functions, no I/O, no
 * allocation; see smtp_parse.h for the contract and limits.
 *
 * STANDARDS: RFC 5321 §4.1.1-§4.1.2, RFC 1870 (SIZE), RFC 6152 (8BITMIME).
 */
#include <string.h>
#include <strings.h>
#include <ctype.h>
#include "addr.h"
#include "smtp_parse.h"

static const struct { const char *name; enum smtp_verb verb; } smtp_verbs[] = {
    { "EHLO", SMTP_VERB_EHLO }, { "HELO", SMTP_VERB_HELO },
    { "MAIL", SMTP_VERB_MAIL }, { "RCPT", SMTP_VERB_RCPT },
    { "DATA", SMTP_VERB_DATA }, { "RSET", SMTP_VERB_RSET },
    { "NOOP", SMTP_VERB_NOOP }, { "QUIT", SMTP_VERB_QUIT },
    { "VRFY", SMTP_VERB_VRFY }, { "STARTTLS", SMTP_VERB_STARTTLS },
};

static enum smtp_path_error smtp_path_take(const char **p, int allow_null,
                                           char *addr, size_t addrlen);
static enum smtp_path_error smtp_param_next(const char **p, char *kw, size_t kwlen,
                                            char *val, size_t vallen, int *has_val);

enum smtp_parse_result smtp_cmd_parse(const char *line, size_t len, smtp_cmd *out)
{
    memset(out, 0, sizeof *out);
    if (len >= SMTP_LINE_MAX)
        return SMTP_PARSE_BAD_BYTES;          /* the session never passes this */
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)line[i];
        if ((c < 0x20 && c != '\t') || c >= 0x7f)
            return SMTP_PARSE_BAD_BYTES;
    }
    size_t vlen = 0;
    while (vlen < len && line[vlen] != ' ')
        vlen++;
    for (size_t i = 0; i < sizeof smtp_verbs / sizeof smtp_verbs[0]; i++) {
        if (strlen(smtp_verbs[i].name) == vlen &&
            strncasecmp(line, smtp_verbs[i].name, vlen) == 0) {
            out->verb = smtp_verbs[i].verb;
            break;
        }
    }
    if (out->verb == SMTP_VERB_UNKNOWN)
        return SMTP_PARSE_UNKNOWN;
    size_t a = vlen < len ? vlen + 1 : len;   /* skip the one space */
    size_t e = len;
    while (e > a && (line[e - 1] == ' ' || line[e - 1] == '\t'))
        e--;
    memcpy(out->arg, line + a, e - a);
    out->arg[e - a] = '\0';
    out->arg_len = e - a;
    return SMTP_PARSE_OK;
}

/* Takes "<...>" at *p (quoted strings may hold '>' or spaces), parses it
 * with addr_parse_path and advances *p past it. */
static enum smtp_path_error smtp_path_take(const char **p, int allow_null,
                                           char *addr, size_t addrlen)
{
    const char *s = *p;
    if (*s != '<')
        return SMTP_PATH_BAD_ADDR;
    size_t i = 1;
    int quoted = 0;
    while (s[i] != '\0') {
        if (quoted && s[i] == '\\' && s[i + 1] != '\0') { i += 2; continue; }
        if (s[i] == '"') quoted = !quoted;
        else if (!quoted && s[i] == '>') break;
        i++;
    }
    if (s[i] != '>' || i + 1 > SMTP_PATH_MAX + 2)
        return SMTP_PATH_BAD_ADDR;
    char token[SMTP_PATH_MAX + 3];
    memcpy(token, s, i + 1);
    token[i + 1] = '\0';
    size_t used = 0;
    enum addr_error ae = addr_parse_path(token, allow_null, addr, addrlen, &used);
    if (ae == ADDR_ROUTE)
        return SMTP_PATH_ROUTE;
    if (ae != ADDR_OK)
        return SMTP_PATH_BAD_ADDR;
    *p = s + i + 1;
    return SMTP_PATH_OK;
}

/* Reads one " KEYWORD[=VALUE]" at *p. Returns OK with kw[0] == 0 at the
 * end of the text. */
static enum smtp_path_error smtp_param_next(const char **p, char *kw, size_t kwlen,
                                            char *val, size_t vallen, int *has_val)
{
    const char *s = *p;
    kw[0] = '\0';
    val[0] = '\0';
    *has_val = 0;
    if (*s == '\0')
        return SMTP_PATH_OK;
    if (*s != ' ')
        return SMTP_PATH_BAD_PARAM;
    while (*s == ' ')
        s++;
    if (*s == '\0') { *p = s; return SMTP_PATH_OK; }
    size_t k = 0;
    while (*s != '\0' && *s != ' ' && *s != '=') {
        if (!isalnum((unsigned char)*s) && *s != '-')
            return SMTP_PATH_BAD_PARAM;
        if (k + 1 >= kwlen)
            return SMTP_PATH_UNKNOWN_PARAM;   /* longer than any we know */
        kw[k++] = *s++;
    }
    kw[k] = '\0';
    if (k == 0)
        return SMTP_PATH_BAD_PARAM;
    if (*s == '=') {
        s++;
        *has_val = 1;
        size_t v = 0;
        while (*s != '\0' && *s != ' ') {
            if (v + 1 >= vallen)
                return SMTP_PATH_BAD_PARAM;
            val[v++] = *s++;
        }
        val[v] = '\0';
        if (v == 0)
            return SMTP_PATH_BAD_PARAM;
    }
    *p = s;
    return SMTP_PATH_OK;
}

enum smtp_path_error smtp_mail_parse(const char *arg, int esmtp, smtp_mail_args *out)
{
    memset(out, 0, sizeof *out);
    out->size = -1;
    if (strncasecmp(arg, "FROM:", 5) != 0)
        return SMTP_PATH_SYNTAX;
    const char *p = arg + 5;
    while (*p == ' ')                 /* tolerated: "MAIL FROM: <a@b>" */
        p++;
    enum smtp_path_error e = smtp_path_take(&p, 1, out->addr, sizeof out->addr);
    if (e != SMTP_PATH_OK)
        return e;
    int seen_size = 0, seen_body = 0;
    for (;;) {
        char kw[16], val[32];
        int has_val;
        e = smtp_param_next(&p, kw, sizeof kw, val, sizeof val, &has_val);
        if (e != SMTP_PATH_OK)
            return e;
        if (kw[0] == '\0')
            return SMTP_PATH_OK;
        if (!esmtp)
            return SMTP_PATH_UNKNOWN_PARAM;
        if (strcasecmp(kw, "SIZE") == 0) {
            if (seen_size++ || !has_val || strlen(val) > 18)
                return SMTP_PATH_BAD_PARAM;
            long long n = 0;
            for (const char *d = val; *d; d++) {
                if (!isdigit((unsigned char)*d))
                    return SMTP_PATH_BAD_PARAM;
                n = n * 10 + (*d - '0');
            }
            out->size = n;
        } else if (strcasecmp(kw, "BODY") == 0) {
            if (seen_body++ || !has_val)
                return SMTP_PATH_BAD_PARAM;
            if (strcasecmp(val, "8BITMIME") == 0) out->body_8bit = 1;
            else if (strcasecmp(val, "7BIT") == 0) out->body_8bit = 0;
            else return SMTP_PATH_BAD_PARAM;
        } else {
            return SMTP_PATH_UNKNOWN_PARAM;
        }
    }
}

enum smtp_path_error smtp_rcpt_parse(const char *arg, int esmtp, char *addr, size_t addrlen)
{
    (void)esmtp;                      /* no RCPT parameters supported */
    addr[0] = '\0';
    if (strncasecmp(arg, "TO:", 3) != 0)
        return SMTP_PATH_SYNTAX;
    const char *p = arg + 3;
    while (*p == ' ')
        p++;
    enum smtp_path_error e = smtp_path_take(&p, 0, addr, addrlen);
    if (e != SMTP_PATH_OK)
        return e;
    char kw[16], val[32];
    int has_val;
    e = smtp_param_next(&p, kw, sizeof kw, val, sizeof val, &has_val);
    if (e != SMTP_PATH_OK)
        return e;
    return kw[0] == '\0' ? SMTP_PATH_OK : SMTP_PATH_UNKNOWN_PARAM;
}

int smtp_helo_valid(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > SMTP_DOMAIN_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!isalnum(c) && c != '.' && c != '-' && c != '_' && c != ':' &&
            c != '[' && c != ']')
            return 0;
    }
    return 1;
}
