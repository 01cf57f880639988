/*
 * smtp_data.c - the SMTP DATA/BDAT reader: end-of-data detection,
 * dot-unstuffing, size, header size, line-length, NUL and bare CR/LF
 * checks (or bare CR/LF normalization). No I/O; see smtp_data.h.
 *
 * The state is where we are in the current line:
 *   BOL     at the start of a line (after CRLF, or at the start of data)
 *   TEXT    inside a line
 *   CR      a CR was seen inside a line; LF completes the line
 *   DOT     a '.' at the start of a line (not stored yet)
 *   DOT_CR  ".\r" at the start of a line; LF ends the data
 * A bare LF or CR never brings us back to BOL, so only CRLF.CRLF ends.
 * In raw (BDAT) mode BOL goes straight to TEXT.
 *
 * STANDARDS: RFC 5321 §4.1.1.4 (end of data), §4.5.2 (transparency),
 * §4.5.3.1.6 (line length), §2.3.8 (bare CR/LF refused); RFC 3030 (BDAT).
 */
#include <string.h>
#include "smtp_data.h"

enum { ST_BOL, ST_TEXT, ST_CR, ST_DOT, ST_DOT_CR };

static void smtp_data_emit(smtp_data *d, const char *p, size_t n);
static void smtp_data_bare(smtp_data *d, unsigned flag, const char *c);

void smtp_data_init(smtp_data *d, size_t max_size, size_t max_header, unsigned opts)
{
    memset(d, 0, sizeof *d);
    d->state = ST_BOL;
    d->max_size = max_size;
    d->max_header = max_header;
    d->in_header = 1;
    d->opts = opts;
    buf_init(&d->body, max_size);
}

void smtp_data_release(smtp_data *d)
{
    if (d == NULL)
        return;
    buf_release(&d->body);
}

/* Counts n message bytes and stores them while under the limit. */
static void smtp_data_emit(smtp_data *d, const char *p, size_t n)
{
    d->size += n;
    if (memchr(p, '\0', n) != NULL)
        d->flags |= SMTP_DATA_NUL;
    if (d->in_header && d->max_header > 0 && d->size > d->max_header)
        d->flags |= SMTP_DATA_HEADER_BIG;
    if (d->flags & SMTP_DATA_TOO_BIG)
        return;
    if (d->size > d->max_size || buf_append(&d->body, p, n) != 0) {
        d->flags |= SMTP_DATA_TOO_BIG;
        buf_release(&d->body);              /* will not be stored: free now */
        buf_init(&d->body, d->max_size);
    }
}

/* A bare CR or LF (c is "\r" or "\n"): flagged and kept, or stored as
 * CRLF. Either way the line goes on (no BOL). */
static void smtp_data_bare(smtp_data *d, unsigned flag, const char *c)
{
    if (d->opts & SMTP_DATA_OPT_NORMALIZE) {
        smtp_data_emit(d, "\r\n", 2);
        d->line_len = 0;
        return;
    }
    d->flags |= flag;
    smtp_data_emit(d, c, 1);
    if (*c == '\n')
        d->line_len = 0;
    else
        d->line_len++;
}

size_t smtp_data_feed(smtp_data *d, const char *p, size_t n)
{
    size_t i = 0;
    if (d->done)
        return 0;
    while (i < n) {
        char c = p[i];
        switch (d->state) {
        case ST_BOL:
            if (c == '.' && !(d->opts & SMTP_DATA_OPT_RAW)) {
                d->state = ST_DOT;
                i++;
                break;
            }
            d->state = ST_TEXT;
            break;                          /* reprocess c as TEXT */
        case ST_TEXT: {
            size_t j = i;
            while (j < n && p[j] != '\r' && p[j] != '\n')
                j++;
            if (j > i) {
                smtp_data_emit(d, p + i, j - i);
                d->line_len += j - i;
                if (d->line_len > SMTP_DATA_LINE_MAX)
                    d->flags |= SMTP_DATA_LONG_LINE;
                i = j;
                break;
            }
            if (c == '\r')
                d->state = ST_CR;
            else                            /* bare LF: stay in TEXT */
                smtp_data_bare(d, SMTP_DATA_BARE_LF, "\n");
            i++;
            break;
        }
        case ST_CR:
            if (c == '\n') {
                if (d->line_len == 0)
                    d->in_header = 0;       /* the empty line ends the header */
                smtp_data_emit(d, "\r\n", 2);
                d->line_len = 0;
                d->state = ST_BOL;
                i++;
            } else {                        /* bare CR; reprocess c */
                smtp_data_bare(d, SMTP_DATA_BARE_CR, "\r");
                d->state = ST_TEXT;
            }
            break;
        case ST_DOT:
            if (c == '\r') { d->state = ST_DOT_CR; i++; break; }
            if (c == '\n') {                /* ".<LF>": keep the dot */
                smtp_data_emit(d, ".", 1);
                d->line_len++;
            }
            d->state = ST_TEXT;             /* else the stuffed dot is dropped */
            break;
        case ST_DOT_CR:
            if (c == '\n') {
                d->done = 1;
                return i + 1;
            }
            smtp_data_emit(d, ".", 1);      /* ".<CR>x": not an end, keep all */
            d->line_len++;
            smtp_data_bare(d, SMTP_DATA_BARE_CR, "\r");
            d->state = ST_TEXT;
            break;
        }
    }
    return n;
}

void smtp_data_finish(smtp_data *d)
{
    if (d->state == ST_CR)
        smtp_data_bare(d, SMTP_DATA_BARE_CR, "\r");
    d->state = ST_TEXT;
    d->done = 1;
}
