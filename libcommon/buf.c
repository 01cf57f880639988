/*
 * buf.c - length-counted, binary-safe byte buffer with a mandatory ceiling.
 *
 * Owns: the data array of each buf (allocated cap + 1 bytes so that the
 * terminating NUL always fits). Growth doubles the capacity, clamped to the
 * ceiling (max). Going over the ceiling fails softly (-1) and leaves the
 * buffer unchanged; running out of memory aborts (xalloc).
 *
 * An empty buffer that never grew (cap == 0) allocates nothing: its data
 * points at a shared read-only "" (buf_empty), which is never written or
 * freed. So buf_init, buf_steal and buf_release leave nothing to leak, and
 * an embedded buf whose bytes were stolen needs no further release.
 */
#include "buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "xalloc.h"

#define BUF_MIN_CAP 64

static const char buf_empty[1] = "";

int buf_reserve(buf *b, size_t extra)
{
    if (extra > b->max || b->len > b->max - extra)
        return -1;
    size_t need = b->len + extra;
    if (need <= b->cap)
        return 0;
    size_t ncap = b->cap < BUF_MIN_CAP ? BUF_MIN_CAP : b->cap;
    while (ncap < need) {
        if (ncap > ((size_t)-1 - 1) / 2) {
            ncap = need;
            break;
        }
        ncap *= 2;
    }
    if (ncap > b->max)
        ncap = b->max;
    if (ncap == 0)
        return 0;               /* nothing to hold: stay on buf_empty */
    if (b->cap == 0) {
        b->data = xmalloc(ncap + 1);
        b->data[0] = '\0';
    } else {
        b->data = xrealloc(b->data, ncap + 1);
    }
    b->cap = ncap;
    return 0;
}

buf *buf_create(size_t max)
{
    buf *b = xmalloc(sizeof *b);
    buf_init(b, max);
    return b;
}

void buf_free(buf *b)
{
    if (b == NULL)
        return;
    buf_release(b);
    free(b);
}

void buf_init(buf *b, size_t max)
{
    if (max >= (size_t)-1 / 2)
        panic("buf_init: absurd ceiling");
    b->data = (char *)buf_empty;
    b->len = 0;
    b->cap = 0;
    b->max = max;
}

void buf_release(buf *b)
{
    if (b == NULL)
        return;
    if (b->cap > 0)
        free(b->data);
    b->data = (char *)buf_empty;
    b->len = b->cap = 0;
}

void buf_reset(buf *b)
{
    b->len = 0;
    if (b->cap > 0)
        b->data[0] = '\0';
}

int buf_append(buf *b, const void *p, size_t n)
{
    if (n == 0)
        return 0;
    if (buf_reserve(b, n) != 0)
        return -1;
    memmove(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

int buf_append_str(buf *b, const char *s)
{
    return buf_append(b, s, strlen(s));
}

int buf_printf(buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int r = buf_vprintf(b, fmt, ap);
    va_end(ap);
    return r;
}

int buf_vprintf(buf *b, const char *fmt, va_list ap)
{
    va_list ap2;
    if (b->cap == 0 && buf_reserve(b, b->max < BUF_MIN_CAP ? b->max : BUF_MIN_CAP) != 0)
        return -1;
    if (b->cap == 0) {          /* max == 0: only "" fits */
        va_copy(ap2, ap);
        int n0 = vsnprintf(NULL, 0, fmt, ap2);
        va_end(ap2);
        return n0 == 0 ? 0 : -1;
    }
    va_copy(ap2, ap);
    size_t room = b->cap - b->len + 1;
    int n = vsnprintf(b->data + b->len, room, fmt, ap2);
    va_end(ap2);
    if (n < 0) {
        b->data[b->len] = '\0';
        return -1;
    }
    if ((size_t)n < room) {
        if ((size_t)n > b->max - b->len) {  /* fitted the allocation, not the ceiling */
            b->data[b->len] = '\0';
            return -1;
        }
        b->len += (size_t)n;
        return 0;
    }
    if (buf_reserve(b, (size_t)n) != 0) {
        b->data[b->len] = '\0';
        return -1;
    }
    va_copy(ap2, ap);
    int n2 = vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap2);
    va_end(ap2);
    if (n2 != n) {
        b->data[b->len] = '\0';
        return -1;
    }
    b->len += (size_t)n;
    return 0;
}

void buf_consume(buf *b, size_t n)
{
    if (n > b->len)
        panic("buf_consume: past the end");
    if (n == 0)
        return;
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
    b->data[b->len] = '\0';
}

char *buf_steal(buf *b, size_t *len_out)
{
    char *d = b->cap > 0 ? b->data : xcalloc(1, 1);
    if (len_out != NULL)
        *len_out = b->len;
    b->data = (char *)buf_empty;
    b->len = 0;
    b->cap = 0;
    return d;
}
