/*
 * smtp_data.h - the SMTP DATA reader (RFC 5321 §4.1.1.4, §4.5.2), no I/O.
 *
 * Fed the bytes that follow the 354 reply, in pieces of any size (one byte
 * at a time works), it finds the end of data, which is only
 * <CR><LF>.<CR><LF> (the data starts at the beginning of a line, so a
 * first line of "." also ends it). "\n.\n" and "\r.\r" are not an end.
 * It removes the leading dot of dot-stuffed lines and keeps every other
 * byte exactly.
 *
 * Checks, reported as flags once the end is found (the reader keeps reading
 * so that the session can answer after the final dot):
 *   SMTP_DATA_TOO_BIG   more than max_size bytes (after unstuffing); the
 *                       bytes past the limit are counted but not stored;
 *   SMTP_DATA_LONG_LINE a line longer than 998 octets without CRLF;
 *   SMTP_DATA_BARE_LF   an LF not preceded by CR;
 *   SMTP_DATA_BARE_CR   a CR not followed by LF.
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
    SMTP_DATA_TOO_BIG   = 1 << 0,
    SMTP_DATA_LONG_LINE = 1 << 1,
    SMTP_DATA_BARE_LF   = 1 << 2,
    SMTP_DATA_BARE_CR   = 1 << 3,
};

typedef struct smtp_data {
    int      state;      /* private: position in the line */
    size_t   line_len;   /* octets in the current line so far */
    size_t   size;       /* octets of message data seen (unstuffed) */
    size_t   max_size;
    unsigned flags;      /* SMTP_DATA_* */
    int      done;       /* the end of data was found */
    buf      body;       /* the message (owned), up to max_size */
} smtp_data;

void   smtp_data_init(smtp_data *d, size_t max_size);
void   smtp_data_release(smtp_data *d);
/* Consumes bytes up to and including the end of data. Returns how many of
 * the n bytes were used: n while the end was not found; after the end, the
 * remaining bytes belong to the next command. Feeding a done reader uses
 * nothing. */
size_t smtp_data_feed(smtp_data *d, const char *p, size_t n);

#endif
