/*
 * utf8.h - making peer-supplied bytes safe as text: valid UTF-8 with no
 * NUL bytes, for PostgreSQL text columns, JSON strings and log lines.
 *
 * Invalid sequences (overlong forms, surrogates, code points over
 * U+10FFFF, truncated sequences) count as invalid; utf8_clean() replaces
 * each invalid byte with U+FFFD. Pure functions.
 */
#ifndef MAILYARD_UTF8_H
#define MAILYARD_UTF8_H

#include <stddef.h>

/* Length (1-4) of the valid UTF-8 sequence at s (at most n bytes), or 0. */
size_t utf8_seq_len(const unsigned char *s, size_t n);
/* A malloc'd copy of s[0..len) that is valid UTF-8 without NULs, at most
 * max bytes (never cutting a sequence). Caller frees. */
char  *utf8_clean(const char *s, size_t len, size_t max);

#endif
