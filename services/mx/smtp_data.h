/*
 * smtp_data.h - the SMTP DATA and BDAT reader (RFC 5321 §4.1.1.4, §4.5.2;
 * RFC 3030), no I/O.
 *
 * DATA mode: fed the bytes that follow the 354 reply, in pieces of any size
 * (one byte at a time works), it finds the end of data, which is only
 * <CR><LF>.<CR><LF> (the data starts at the beginning of a line, so a
 * first line of "." also ends it). "\n.\n", "\r.\r", "\r\n.\n", "\n.\r\n",
 * "\r\n\x00.\r\n" and every other mix are not an end (SMTP smuggling): a
 * bare LF or CR never brings the reader back to the start of a line. It
 * removes the leading dot of dot-stuffed lines and keeps every other byte
 * exactly.
 *
 * BDAT mode (SMTP_DATA_OPT_RAW): every byte fed is message data (no dot
 * handling, no end marker); the session counts the chunk sizes and calls
 * smtp_data_finish() after the LAST chunk. The same checks apply.
 *
 * Checks, reported as flags (the reader keeps reading so that the session
 * can answer after the final dot / the last chunk):
 *   SMTP_DATA_TOO_BIG    more than max_size bytes (after unstuffing); the
 *                        bytes past the limit are counted but not stored;
 *   SMTP_DATA_LONG_LINE  a line longer than 998 octets without CRLF;
 *   SMTP_DATA_BARE_LF    an LF not preceded by CR;
 *   SMTP_DATA_BARE_CR    a CR not followed by LF;
 *   SMTP_DATA_NUL        a NUL byte (downstream software that drops NULs
 *                        would otherwise see "\r\n\x00.\r\n" as an end);
 *   SMTP_DATA_HEADER_BIG the header section (up to the first empty line)
 *                        is longer than max_header octets.
 * With SMTP_DATA_OPT_NORMALIZE, a bare LF or bare CR is stored as CRLF and
 * not flagged (MAILYARD_SMTP_BARE_LF=normalize); it still never ends the
 * data and never starts a line for dot handling.
 *
 * Ownership: the reader is embedded by value; smtp_data_init() allocates
 * nothing up front, body grows up to max_size; smtp_data_release() frees it.
 * The caller may take the bytes with buf_steal(&d->body, ...).
 */
#ifndef MAILYARD_SMTP_DATA_H
#define MAILYARD_SMTP_DATA_H

#include <stddef.h>
#include "buf.h"

#define SMTP_DATA_LINE_MAX 998   /* octets per line without CRLF (§4.5.3.1.6) */

enum {
    SMTP_DATA_TOO_BIG    = 1 << 0,
    SMTP_DATA_LONG_LINE  = 1 << 1,
    SMTP_DATA_BARE_LF    = 1 << 2,
    SMTP_DATA_BARE_CR    = 1 << 3,
    SMTP_DATA_NUL        = 1 << 4,
    SMTP_DATA_HEADER_BIG = 1 << 5,
};

enum {
    SMTP_DATA_OPT_RAW       = 1 << 0,   /* BDAT: no dots, no end marker */
    SMTP_DATA_OPT_NORMALIZE = 1 << 1,   /* bare LF/CR stored as CRLF */
};

typedef struct smtp_data {
    int      state;      /* private: position in the line */
    size_t   line_len;   /* octets in the current line so far */
    size_t   size;       /* octets of message data seen (unstuffed) */
    size_t   max_size;
    size_t   max_header; /* 0: no header limit */
    int      in_header;  /* no empty line seen yet */
    unsigned opts;       /* SMTP_DATA_OPT_* */
    unsigned flags;      /* SMTP_DATA_* */
    int      done;       /* the end of data was found (DATA mode) */
    buf      body;       /* the message (owned), up to max_size */
} smtp_data;

void   smtp_data_init(smtp_data *d, size_t max_size, size_t max_header, unsigned opts);
void   smtp_data_release(smtp_data *d);
/* Consumes bytes up to and including the end of data. Returns how many of
 * the n bytes were used: n while the end was not found (always n in BDAT
 * mode); after the end, the remaining bytes belong to the next command.
 * Feeding a done reader uses nothing. */
size_t smtp_data_feed(smtp_data *d, const char *p, size_t n);
/* BDAT LAST: a CR left pending at the end is a bare CR. Sets done. */
void   smtp_data_finish(smtp_data *d);

#endif
