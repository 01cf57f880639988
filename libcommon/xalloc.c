/*
 * xalloc.c - aborting allocation for internal bookkeeping, and str_copy().
 *
 * Owns nothing. Running out of memory here is a broken environment
 * (STYLE.md rule 3): we write one line to stderr and abort(). This file
 * deliberately does not use log.c, so that log.c can use it.
 */
#include "xalloc.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static _Noreturn void xalloc_die(void);

static _Noreturn void xalloc_die(void)
{
    static const char msg[] = "{\"level\":\"panic\",\"msg\":\"out of memory\"}\n";
    ssize_t r = write(2, msg, sizeof msg - 1);
    (void)r;
    abort();
}

void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (p == NULL)
        xalloc_die();
    return p;
}

void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (p == NULL)
        xalloc_die();
    return p;
}

void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (q == NULL)
        xalloc_die();
    return q;
}

char *xstrdup(const char *s)
{
    return xstrndup(s, strlen(s));
}

/* Copies at most n bytes of s (stops early at a NUL); result NUL-terminated. */
char *xstrndup(const char *s, size_t n)
{
    size_t len = strnlen(s, n);
    char *p = xmalloc(len + 1);
    memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

int str_copy(char *dst, size_t dstlen, const char *src)
{
    if (dstlen == 0)
        return -1;
    size_t len = strlen(src);
    if (len >= dstlen) {
        memcpy(dst, src, dstlen - 1);
        dst[dstlen - 1] = '\0';
        return -1;
    }
    memcpy(dst, src, len + 1);
    return 0;
}
