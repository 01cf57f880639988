/*
 * relay_reply.c - SMTP reply parser, EHLO keywords and dot-stuffing for the
 * relay's client (see relay_reply.h). Pure: no I/O, no allocation except the
 * caller's buf in relay_dot_stuff().
 */
#include "relay_reply.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int  reply_line_finish(relay_reply_parser *p, int *final);
static void reply_text_append(relay_reply *r, const char *s, size_t n);
static void reply_enhanced_parse(relay_reply *r, const char *s, size_t n);
static void reply_set_error(relay_reply_parser *p, const char *why);
static void reply_auth_mechs(const char *p, size_t len, relay_ehlo *out);

void relay_reply_parser_init(relay_reply_parser *p)
{
    memset(p, 0, sizeof(*p));
}

size_t relay_reply_feed(relay_reply_parser *p, const char *data, size_t len,
                        relay_reply *out, int *done)
{
    size_t i;

    *done = 0;
    if (p->err)
        return 0;
    for (i = 0; i < len; i++) {
        char ch = data[i];
        if (ch != '\n') {
            if (p->line_len >= RELAY_REPLY_LINE_MAX) {
                reply_set_error(p, "reply line too long");
                return 0;
            }
            p->line[p->line_len++] = ch;
            continue;
        }
        /* End of line: drop one CR, then interpret. */
        if (p->line_len > 0 && p->line[p->line_len - 1] == '\r')
            p->line_len--;
        p->line[p->line_len] = '\0';
        int final = 0;
        if (reply_line_finish(p, &final) != 0)
            return 0;
        p->line_len = 0;
        if (final) {
            *out = p->cur;
            memset(&p->cur, 0, sizeof(p->cur));
            *done = 1;
            return i + 1;
        }
    }
    return len;
}

/* Interprets p->line (NUL-terminated, no line end) as one line of the
 * current reply. Sets *final when it is the last line. */
static int reply_line_finish(relay_reply_parser *p, int *final)
{
    const char *l = p->line;
    size_t n = p->line_len;

    if (n < 3 || !isdigit((unsigned char)l[0]) || !isdigit((unsigned char)l[1]) ||
        !isdigit((unsigned char)l[2]) || l[0] < '2' || l[0] > '5') {
        reply_set_error(p, "malformed reply line");
        return -1;
    }
    if (n > 3 && l[3] != ' ' && l[3] != '-') {
        reply_set_error(p, "malformed reply line");
        return -1;
    }
    int code = (l[0] - '0') * 100 + (l[1] - '0') * 10 + (l[2] - '0');
    if (p->cur.nlines == 0) {
        p->cur.code = code;
    } else if (p->cur.code != code) {
        reply_set_error(p, "reply code changed inside a multi-line reply");
        return -1;
    }
    if (p->cur.nlines >= RELAY_REPLY_LINES_MAX) {
        reply_set_error(p, "too many reply lines");
        return -1;
    }
    const char *text = n > 4 ? l + 4 : "";
    size_t tlen = n > 4 ? n - 4 : 0;
    if (p->cur.nlines == 0)
        reply_enhanced_parse(&p->cur, text, tlen);
    if (p->cur.nlines > 0)
        reply_text_append(&p->cur, "\n", 1);
    reply_text_append(&p->cur, text, tlen);
    p->cur.nlines++;
    *final = (n == 3 || l[3] == ' ');
    return 0;
}

/* Appends reply text, keeping it printable ASCII plus '\n' (our separator):
 * other control bytes become ' ' and 8-bit bytes '?', so the text is safe in
 * JSON, PostgreSQL text and DSN fields whatever the server sent. */
static void reply_text_append(relay_reply *r, const char *s, size_t n)
{
    size_t have = strlen(r->text);
    size_t room = sizeof(r->text) - 1 - have;
    if (n > room)
        n = room;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x80)
            c = '?';
        else if ((c < 0x20 && c != '\n') || c == 0x7f)
            c = ' ';
        r->text[have + i] = (char)c;
    }
    r->text[have + n] = '\0';
}

/* "class.subject.detail" at the start of the text, class matching the
 * reply code's first digit (RFC 3463, RFC 2034). */
static void reply_enhanced_parse(relay_reply *r, const char *s, size_t n)
{
    size_t i = 0, part = 0, digits = 0;

    r->enhanced[0] = '\0';
    if (n < 5 || s[0] != (char)('0' + r->code / 100))
        return;
    for (i = 0; i < n && i < sizeof(r->enhanced) - 1; i++) {
        if (isdigit((unsigned char)s[i])) {
            digits++;
            if ((part == 0 && digits > 1) || digits > 3)
                return;
        } else if (s[i] == '.' && digits > 0 && part < 2) {
            part++;
            digits = 0;
        } else {
            break;
        }
    }
    if (part != 2 || digits == 0 || (i < n && s[i] != ' '))
        return;
    memcpy(r->enhanced, s, i);
    r->enhanced[i] = '\0';
}

static void reply_set_error(relay_reply_parser *p, const char *why)
{
    p->err = 1;
    p->errstr = why;
}

void relay_reply_format(const relay_reply *r, char *out, size_t outlen)
{
    size_t o = 0;

    if (outlen == 0)
        return;
    int w = snprintf(out, outlen, "%03d", r->code);
    if (w < 0)
        w = 0;
    o = (size_t)w < outlen ? (size_t)w : outlen - 1;
    const char *t = r->text;
    if (*t != '\0' && o + 1 < outlen)
        out[o++] = ' ';
    for (; *t != '\0' && o + 1 < outlen; t++) {
        unsigned char c = (unsigned char)*t;
        out[o++] = (c == '\n' || c < 0x20 || c == 0x7f) ? ' ' : (char)c;
    }
    out[o] = '\0';
}

void relay_ehlo_parse(const relay_reply *r, relay_ehlo *out)
{
    memset(out, 0, sizeof(*out));
    const char *line = strchr(r->text, '\n');   /* skip the greeting line */
    while (line != NULL) {
        line++;
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        size_t kw = 0;
        while (kw < len && line[kw] != ' ' && line[kw] != '=')
            kw++;
        if (kw == 8 && strncasecmp(line, "STARTTLS", 8) == 0) {
            out->starttls = 1;
        } else if (kw == 8 && strncasecmp(line, "8BITMIME", 8) == 0) {
            out->eightbitmime = 1;
        } else if (kw == 3 && len == 3 && strncasecmp(line, "DSN", 3) == 0) {
            out->dsn = 1;
        } else if (kw == 10 && len == 10 && strncasecmp(line, "PIPELINING", 10) == 0) {
            out->pipelining = 1;
        } else if (kw == 4 && strncasecmp(line, "AUTH", 4) == 0) {
            reply_auth_mechs(line + kw, len - kw, out);
        } else if (kw == 4 && strncasecmp(line, "SIZE", 4) == 0) {
            out->size = 1;
            if (kw < len) {
                char num[24];
                size_t nl = len - kw - 1;
                if (nl < sizeof(num)) {
                    memcpy(num, line + kw + 1, nl);
                    num[nl] = '\0';
                    char *e = NULL;
                    unsigned long v = strtoul(num, &e, 10);
                    if (e != num && *e == '\0')
                        out->size_max = v;
                }
            }
        }
        line = end;
    }
}

int relay_dot_stuff(const char *msg, size_t len, buf *out)
{
    size_t start = 0;     /* first byte not yet copied */
    int bol = 1;          /* at the beginning of a line */

    for (size_t i = 0; i < len; i++) {
        if (bol && msg[i] == '.') {
            /* copy up to and including this dot, then add one more */
            if (buf_append(out, msg + start, i - start + 1) != 0 ||
                buf_append(out, ".", 1) != 0)
                return -1;
            start = i + 1;
        }
        bol = (msg[i] == '\n');
    }
    if (buf_append(out, msg + start, len - start) != 0)
        return -1;
    if (len < 2 || msg[len - 2] != '\r' || msg[len - 1] != '\n') {
        if (len > 0 && buf_append(out, "\r\n", 2) != 0)
            return -1;
    }
    return buf_append(out, ".\r\n", 3);
}

/* The mechanisms after "AUTH" (" PLAIN LOGIN CRAM-MD5" or "=PLAIN LOGIN"). */
static void reply_auth_mechs(const char *p, size_t len, relay_ehlo *out)
{
    size_t i = 0;
    while (i < len) {
        while (i < len && (p[i] == ' ' || p[i] == '='))
            i++;
        size_t s = i;
        while (i < len && p[i] != ' ')
            i++;
        if (i - s == 5 && strncasecmp(p + s, "PLAIN", 5) == 0)
            out->auth_plain = 1;
        else if (i - s == 5 && strncasecmp(p + s, "LOGIN", 5) == 0)
            out->auth_login = 1;
    }
}
