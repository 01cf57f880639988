/*
 * xalloc.h - allocation for internal bookkeeping: abort on failure.
 *
 * Use these only where running out of memory is a broken environment
 * (STYLE.md rule 3). Allocation driven by a peer goes through buf with a
 * ceiling, or plain malloc with a checked result and a soft error.
 */
#ifndef MAILYARD_XALLOC_H
#define MAILYARD_XALLOC_H

#include <stddef.h>

void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
/* Copy src into dst of size dstlen; returns -1 if truncated (dst still
 * NUL-terminated), 0 otherwise. The only string copy we use. */
int   str_copy(char *dst, size_t dstlen, const char *src);

#endif
