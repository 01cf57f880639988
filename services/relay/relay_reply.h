/*
 * relay_reply.h - the pure half of the relay's SMTP client: a reply parser
 * that is fed bytes and hands back complete (multi-line) replies, the EHLO
 * keyword reader and the DATA dot-stuffer. No I/O here, so unit tests can
 * drive it byte by byte (STYLE.md, like hiredis's reader).
 *
 * SECURITY: everything here comes from a remote SMTP server. Limits: a reply
 * line is at most RELAY_REPLY_LINE_MAX bytes and a reply at most
 * RELAY_REPLY_LINES_MAX lines; going over is a sticky protocol error. Text
 * beyond RELAY_REPLY_TEXT_MAX is truncated silently (it is only kept for
 * logs and DSNs); it is kept printable ASCII (control bytes become spaces,
 * 8-bit bytes '?'), so it can go into JSON, PostgreSQL and DSNs as is.
 *
 * STANDARDS: RFC 5321 §4.2 (reply codes, multi-line replies), §4.5.2
 * (transparency / dot-stuffing), RFC 3463 (enhanced status codes), RFC 1870
 * (SIZE), RFC 3207 (STARTTLS), RFC 4954 (AUTH).
 *
 * Ownership: the parser and replies are plain structs owned by the caller
 * (normally on its stack); nothing allocates except relay_dot_stuff(),
 * which appends into the caller's buf.
 */
#ifndef MAILYARD_RELAY_REPLY_H
#define MAILYARD_RELAY_REPLY_H

#include <stddef.h>
#include "buf.h"

#define RELAY_REPLY_LINE_MAX  2048
#define RELAY_REPLY_LINES_MAX 128
#define RELAY_REPLY_TEXT_MAX  4096

typedef struct relay_reply {
    int    code;                        /* 200..599 */
    char   enhanced[16];                /* "5.1.1" from the first line, or "" */
    char   text[RELAY_REPLY_TEXT_MAX];  /* each line's text, '\n' separated */
    size_t nlines;
} relay_reply;

typedef struct relay_reply_parser {
    char        line[RELAY_REPLY_LINE_MAX + 1];
    size_t      line_len;
    relay_reply cur;       /* reply being assembled */
    int         err;       /* sticky: once set, feed returns no more replies */
    const char *errstr;    /* static text describing err */
} relay_reply_parser;

void   relay_reply_parser_init(relay_reply_parser *p);
/* Feed up to len bytes. Consumes bytes until one reply is complete; then
 * copies it to *out, sets *done = 1 and returns the bytes consumed (the rest
 * belongs to the next reply). Returns the bytes consumed with *done = 0 when
 * more input is needed. On a protocol error sets p->err/p->errstr, *done = 0
 * and returns 0 (and does so on every later call). */
size_t relay_reply_feed(relay_reply_parser *p, const char *data, size_t len,
                        relay_reply *out, int *done);

/* One-line rendering "550 5.1.1 text of line one text of line two" (text
 * lines joined by a space) into out; truncated to outlen. */
void   relay_reply_format(const relay_reply *r, char *out, size_t outlen);

typedef struct relay_ehlo {
    int           starttls;
    int           size;        /* SIZE offered */
    unsigned long size_max;    /* 0 = no limit announced */
    int           eightbitmime;
    int           auth_plain;  /* AUTH PLAIN offered (RFC 4954, 4616) */
    int           auth_login;  /* AUTH LOGIN offered */
    int           dsn;         /* DSN offered (RFC 3461) */
    int           pipelining;  /* PIPELINING offered (RFC 2920) */
} relay_ehlo;

/* Reads the extension keywords of a 250 EHLO reply (lines after the first). */
void   relay_ehlo_parse(const relay_reply *r, relay_ehlo *out);

/* Appends msg to out with RFC 5321 §4.5.2 dot-stuffing (a '.' at the start
 * of a line is doubled), a CRLF if msg does not end with one, and the final
 * ".\r\n". The message bytes are otherwise sent as they are. Returns 0, or
 * -1 when out's ceiling is reached. */
int    relay_dot_stuff(const char *msg, size_t len, buf *out);

#endif
