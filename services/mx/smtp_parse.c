/*
 * smtp_parse.c - SMTP command-line parsing: verb + argument, MAIL/RCPT
 * paths and ESMTP parameters (SIZE=, BODY=, SMTPUTF8, RET=, ENVID=,
 * NOTIFY=, ORCPT=), BDAT arguments. Pure functions, no I/O, no
 * allocation; see smtp_parse.h for the contract and limits.
 *
 * STANDARDS: RFC 5321 §4.1.1-§4.1.2, RFC 1870 (SIZE), RFC 6152 (8BITMIME),
 * RFC 6531 (SMTPUTF8), RFC 3461 §4 (DSN parameters, xtext), RFC 3030 (BDAT).
 */
#include <string.h>
#include <strings.h>
#include <ctype.h>
#include <stdio.h>
#include "addr.h"
#include "utf8.h"
#include "smtp_parse.h"
#include "xalloc.h"

static const struct { const char *name, *lower; enum smtp_verb verb; } smtp_verbs[] = {
    { "EHLO", "ehlo", SMTP_VERB_EHLO }, { "HELO", "helo", SMTP_VERB_HELO },
    { "MAIL", "mail", SMTP_VERB_MAIL }, { "RCPT", "rcpt", SMTP_VERB_RCPT },
    { "DATA", "data", SMTP_VERB_DATA }, { "RSET", "rset", SMTP_VERB_RSET },
    { "NOOP", "noop", SMTP_VERB_NOOP }, { "QUIT", "quit", SMTP_VERB_QUIT },
    { "VRFY", "vrfy", SMTP_VERB_VRFY }, { "STARTTLS", "starttls", SMTP_VERB_STARTTLS },
    { "BDAT", "bdat", SMTP_VERB_BDAT }, { "AUTH", "auth", SMTP_VERB_AUTH },
};

static enum smtp_path_error smtp_path_take(const char **p, int allow_null, int utf8_ok,
                                           char *addr, size_t addrlen);
static int smtp_xtext_decode(const char *in, char *out, size_t outlen);
static enum smtp_path_error smtp_param_next(const char **p, char *kw, size_t kwlen,
                                            char *val, size_t vallen, int *has_val);

enum smtp_parse_result smtp_cmd_parse(const char *line, size_t len, smtp_cmd *out)
{
    memset(out, 0, sizeof *out);
    if (len >= SMTP_LINE_MAX)
        return SMTP_PARSE_BAD_BYTES;          /* the session never passes this */
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)line[i];
        if (c >= 0x80) {                      /* UTF-8 only (RFC 6531) */
            size_t k = utf8_seq_len((const unsigned char *)line + i, len - i);
            if (k < 2)
                return SMTP_PARSE_BAD_BYTES;
            out->utf8 = 1;
            i += k - 1;
            continue;
        }
        if ((c < 0x20 && c != '\t') || c == 0x7f)
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

const char *smtp_verb_name(enum smtp_verb v)
{
    for (size_t i = 0; i < sizeof smtp_verbs / sizeof smtp_verbs[0]; i++)
        if (smtp_verbs[i].verb == v)
            return smtp_verbs[i].lower;
    return "unknown";
}

/* xtext (RFC 3461 §4): '!'..'~' except '+' and '=', or "+HH" (upper-case
 * hex). Decoded into out; the decoded value must be printable ASCII.
 * 0, or -1 on bad syntax or when out is too small. */
static int smtp_xtext_decode(const char *in, char *out, size_t outlen)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    for (const char *s = in; *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '+') {
            const char *h1 = s[1] ? strchr(hex, s[1]) : NULL;
            const char *h2 = h1 && s[2] ? strchr(hex, s[2]) : NULL;
            if (h1 == NULL || h2 == NULL)
                return -1;
            c = (unsigned char)((h1 - hex) * 16 + (h2 - hex));
            s += 2;
            if (c < 0x20 || c > 0x7e)
                return -1;
        } else if (c < '!' || c > '~' || c == '=') {
            return -1;
        }
        if (o + 1 >= outlen)
            return -1;
        out[o++] = (char)c;
    }
    out[o] = '\0';
    return 0;
}

/* Takes "<...>" at *p (quoted strings may hold '>' or spaces), parses it
 * with addr_parse_path and advances *p past it. Non-ASCII octets (already
 * checked to be UTF-8 by smtp_cmd_parse) are allowed when utf8_ok: the
 * syntax is checked on a copy with each such octet replaced by 'x' (so the
 * octet limits hold), and the original bytes are returned. */
static enum smtp_path_error smtp_path_take(const char **p, int allow_null, int utf8_ok,
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
    int eight = 0;
    for (size_t k = 0; k <= i; k++) {
        if ((unsigned char)token[k] >= 0x80) {
            token[k] = 'x';
            eight = 1;
        }
    }
    if (eight && !utf8_ok)
        return SMTP_PATH_NEED_UTF8;
    /* RFC 5321 4.5.1: a recipient "<Postmaster>" without a domain must be
     * accepted (rewrite routes it). Not valid as a sender. */
    if (!allow_null && strcasecmp(token, "<postmaster>") == 0) {
        if (str_copy(addr, addrlen, "Postmaster") != 0)
            return SMTP_PATH_BAD_ADDR;
        *p = s + i + 1;
        return SMTP_PATH_OK;
    }
    size_t used = 0;
    enum addr_error ae = addr_parse_path(token, allow_null, addr, addrlen, &used);
    if (ae == ADDR_ROUTE)
        return SMTP_PATH_ROUTE;
    if (ae != ADDR_OK)
        return SMTP_PATH_BAD_ADDR;
    if (eight) {                          /* give back the UTF-8 octets */
        if (strlen(addr) != i - 1 || i > addrlen)
            return SMTP_PATH_BAD_ADDR;
        memcpy(addr, s + 1, i - 1);
        addr[i - 1] = '\0';
    }
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
    const char *path = p;
    enum smtp_path_error e = smtp_path_take(&p, 1, 1, out->addr, sizeof out->addr);
    if (e != SMTP_PATH_OK)
        return e;
    int seen_size = 0, seen_body = 0, seen_envid = 0, seen_auth = 0;
    for (;;) {
        char kw[16], val[SMTP_LINE_MAX];
        int has_val;
        e = smtp_param_next(&p, kw, sizeof kw, val, sizeof val, &has_val);
        if (e != SMTP_PATH_OK)
            return e;
        if (kw[0] == '\0')
            break;
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
        } else if (strcasecmp(kw, "SMTPUTF8") == 0) {
            if (out->smtputf8++ || has_val)
                return SMTP_PATH_BAD_PARAM;
        } else if (strcasecmp(kw, "RET") == 0) {
            if (out->ret != SMTP_RET_NONE || !has_val)
                return SMTP_PATH_BAD_PARAM;
            if (strcasecmp(val, "FULL") == 0) out->ret = SMTP_RET_FULL;
            else if (strcasecmp(val, "HDRS") == 0) out->ret = SMTP_RET_HDRS;
            else return SMTP_PATH_BAD_PARAM;
        } else if (strcasecmp(kw, "ENVID") == 0) {
            if (seen_envid++ || !has_val || strlen(val) > SMTP_ENVID_MAX ||
                smtp_xtext_decode(val, out->envid, sizeof out->envid) != 0)
                return SMTP_PATH_BAD_PARAM;
        } else if (strcasecmp(kw, "AUTH") == 0) {    /* RFC 4954 §5: "<>" or xtext */
            char authid[SMTP_LINE_MAX];
            if (seen_auth++ || !has_val || (strcmp(val, "<>") != 0 &&
                smtp_xtext_decode(val, authid, sizeof authid) != 0))
                return SMTP_PATH_BAD_PARAM;
        } else {
            return SMTP_PATH_UNKNOWN_PARAM;
        }
    }
    if (!out->smtputf8) {                 /* the parameter comes after the path */
        for (const char *c = path; c < p; c++)
            if ((unsigned char)*c >= 0x80)
                return SMTP_PATH_NEED_UTF8;
    }
    return SMTP_PATH_OK;
}

enum smtp_path_error smtp_rcpt_parse(const char *arg, int esmtp, int utf8_ok,
                                     smtp_rcpt_args *out)
{
    memset(out, 0, sizeof *out);
    if (strncasecmp(arg, "TO:", 3) != 0)
        return SMTP_PATH_SYNTAX;
    const char *p = arg + 3;
    while (*p == ' ')
        p++;
    enum smtp_path_error e = smtp_path_take(&p, 0, utf8_ok, out->addr, sizeof out->addr);
    if (e != SMTP_PATH_OK)
        return e;
    int seen_orcpt = 0;
    for (;;) {
        char kw[16], val[SMTP_LINE_MAX];
        int has_val;
        e = smtp_param_next(&p, kw, sizeof kw, val, sizeof val, &has_val);
        if (e != SMTP_PATH_OK)
            return e;
        if (kw[0] == '\0')
            return SMTP_PATH_OK;
        if (!esmtp)
            return SMTP_PATH_UNKNOWN_PARAM;
        if (strcasecmp(kw, "NOTIFY") == 0) {
            if (out->notify != 0 || !has_val)
                return SMTP_PATH_BAD_PARAM;
            size_t vl = strlen(val);
            if (val[0] == ',' || val[vl - 1] == ',' || strstr(val, ",,") != NULL)
                return SMTP_PATH_BAD_PARAM;
            char *save = NULL;
            for (char *t = strtok_r(val, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
                unsigned f = strcasecmp(t, "NEVER") == 0 ? SMTP_NOTIFY_NEVER
                           : strcasecmp(t, "SUCCESS") == 0 ? SMTP_NOTIFY_SUCCESS
                           : strcasecmp(t, "FAILURE") == 0 ? SMTP_NOTIFY_FAILURE
                           : strcasecmp(t, "DELAY") == 0 ? SMTP_NOTIFY_DELAY : 0;
                if (f == 0 || (out->notify & f))
                    return SMTP_PATH_BAD_PARAM;
                out->notify |= f;
            }
            if (out->notify == 0 ||
                ((out->notify & SMTP_NOTIFY_NEVER) && out->notify != SMTP_NOTIFY_NEVER))
                return SMTP_PATH_BAD_PARAM;
        } else if (strcasecmp(kw, "ORCPT") == 0) {
            /* addr-type ";" xtext; the type is an atom ("rfc822", "utf-8") */
            char *semi = strchr(val, ';');
            if (seen_orcpt++ || !has_val || semi == NULL || semi == val ||
                strlen(val) > SMTP_ORCPT_MAX)
                return SMTP_PATH_BAD_PARAM;
            *semi = '\0';
            for (const char *t = val; *t; t++)
                if (!isalnum((unsigned char)*t) && *t != '-')
                    return SMTP_PATH_BAD_PARAM;
            size_t tl = strlen(val);
            memcpy(out->orcpt, val, tl);
            out->orcpt[tl] = ';';
            if (semi[1] == '\0' ||
                smtp_xtext_decode(semi + 1, out->orcpt + tl + 1, sizeof out->orcpt - tl - 1) != 0)
                return SMTP_PATH_BAD_PARAM;
        } else {
            return SMTP_PATH_UNKNOWN_PARAM;
        }
    }
}

void smtp_notify_format(unsigned notify, char *out, size_t outlen)
{
    static const struct { unsigned f; const char *name; } names[] = {
        { SMTP_NOTIFY_NEVER, "NEVER" }, { SMTP_NOTIFY_SUCCESS, "SUCCESS" },
        { SMTP_NOTIFY_FAILURE, "FAILURE" }, { SMTP_NOTIFY_DELAY, "DELAY" },
    };
    size_t o = 0;
    out[0] = '\0';
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (!(notify & names[i].f))
            continue;
        int n = snprintf(out + o, outlen - o, "%s%s", o ? "," : "", names[i].name);
        if (n < 0 || (size_t)n >= outlen - o)
            return;
        o += (size_t)n;
    }
}

int smtp_bdat_parse(const char *arg, unsigned long long *size, int *last)
{
    *size = 0;
    *last = 0;
    size_t n = 0;
    while (isdigit((unsigned char)arg[n]))
        n++;
    if (n == 0 || n > 18)
        return -1;
    for (size_t i = 0; i < n; i++)
        *size = *size * 10 + (unsigned long long)(arg[i] - '0');
    const char *p = arg + n;
    if (*p == '\0')
        return 0;
    if (*p != ' ')
        return -1;
    while (*p == ' ')
        p++;
    if (strcasecmp(p, "LAST") != 0)
        return -1;
    *last = 1;
    return 0;
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
