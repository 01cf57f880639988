/*
 * utf8.c - UTF-8 validation and clean-up of peer-supplied text (utf8.h).
 * Owns nothing; utf8_clean's result belongs to the caller.
 */
#include <string.h>

#include "utf8.h"
#include "xalloc.h"

/* Length of the valid UTF-8 sequence at s (at most n bytes), or 0. */
size_t utf8_seq_len(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    size_t len;
    unsigned cp;

    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf) {
        len = 2; cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3; cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4; cp = c & 0x07;
    } else {
        return 0;
    }
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
        (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
        return 0;
    return len;
}

char *utf8_clean(const char *s, size_t len, size_t max)
{
    static const char repl[] = "\xef\xbf\xbd";
    char *out = xmalloc(max + 1);
    size_t o = 0;
    const unsigned char *u = (const unsigned char *)s;

    for (size_t i = 0; i < len;) {
        size_t n = utf8_seq_len(u + i, len - i);
        const char *src = s + i;
        size_t w = n;
        if (n == 0) {
            src = repl;
            w = 3;
            i++;
        } else {
            i += n;
            if (n == 1 && src[0] == '\0')
                continue;
        }
        if (o + w > max)
            break;
        memcpy(out + o, src, w);
        o += w;
    }
    out[o] = '\0';
    return out;
}
