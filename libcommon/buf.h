/*
 * buf.h - a length-counted, binary-safe byte buffer with a mandatory ceiling.
 *
 * Every buffer is created with a maximum size; growth past it fails softly
 * (returns -1) so that peer-driven input can be refused instead of aborting.
 * The data is always NUL-terminated (the NUL is not counted in len), so text
 * can be passed to C string functions, but the buffer may hold NUL bytes.
 * Allocation failure of the buffer's own bookkeeping aborts (STYLE.md rule 3
 * applies to the caller: a failed append because of the ceiling is soft).
 *
 * Ownership: buf_create() returns a buffer owned by the caller, released with
 * buf_free() (which accepts NULL). Pointers into data are invalidated by any
 * append; never keep them across an append.
 */
#ifndef MAILYARD_BUF_H
#define MAILYARD_BUF_H

#include <stdarg.h>
#include <stddef.h>

typedef struct buf {
    char  *data;   /* owned; always NUL-terminated */
    size_t len;    /* bytes used, not counting the NUL */
    size_t cap;    /* bytes allocated, not counting the NUL */
    size_t max;    /* ceiling on len */
} buf;

buf   *buf_create(size_t max);
void   buf_free(buf *b);
/* Initialise/release a buf embedded in another struct. */
void   buf_init(buf *b, size_t max);
void   buf_release(buf *b);
void   buf_reset(buf *b);                         /* len = 0, keeps memory */
int    buf_append(buf *b, const void *p, size_t n);   /* 0, or -1 over max */
/* Makes room for extra more bytes at once (a hint that saves regrowth);
 * 0, or -1 if len + extra would pass the max. */
int    buf_reserve(buf *b, size_t extra);
int    buf_append_str(buf *b, const char *s);
int    buf_printf(buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int    buf_vprintf(buf *b, const char *fmt, va_list ap);
/* Remove the first n bytes (n <= len). */
void   buf_consume(buf *b, size_t n);
/* Hand the data to the caller (free() it) and leave the buffer empty.
 * An empty buffer holds no allocation, so an embedded buf needs no
 * buf_release after a steal (calling it is harmless). */
char  *buf_steal(buf *b, size_t *len_out);

#endif
