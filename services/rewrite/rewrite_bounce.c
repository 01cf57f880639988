/*
 * rewrite_bounce.c - the Message-ID of the message a bounce returns (see
 * rewrite_bounce.h). Line-oriented: a MIME part is recognised by its
 * Content-Type line, then the returned header section that follows the
 * part's header section is parsed with libcommon's hdr.h.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "hdr.h"
#include "rewrite_bounce.h"
#include "xalloc.h"

#define BOUNCE_FIELD_MAX 65536

/* The next line [p, *next): returns its length without the line end. */
static size_t bounce_line(const char *p, const char *end, const char **next)
{
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    const char *stop = nl ? nl : end;
    *next = nl ? nl + 1 : end;
    size_t n = (size_t)(stop - p);
    if (n > 0 && p[n - 1] == '\r')
        n--;
    return n;
}

static int bounce_starts(const char *p, size_t n, const char *prefix)
{
    size_t k = strlen(prefix);
    return n >= k && strncasecmp(p, prefix, k) == 0;
}

/* 1 if the line is a Content-Type of a returned message or its headers. */
static int bounce_returned_type(const char *p, size_t n)
{
    if (!bounce_starts(p, n, "content-type:"))
        return 0;
    p += 13;
    n -= 13;
    while (n > 0 && (*p == ' ' || *p == '\t')) {
        p++;
        n--;
    }
    return bounce_starts(p, n, "message/rfc822") ||
           bounce_starts(p, n, "message/global") ||
           bounce_starts(p, n, "text/rfc822-headers");
}

static char *bounce_id_checked(char *v)
{
    if (v != NULL && (v[0] == '\0' || strlen(v) > REWRITE_BOUNCE_MAX_ID)) {
        free(v);
        return NULL;
    }
    return v;
}

/* Parses the header section at [p, end) and returns its Message-ID. */
static char *bounce_section_id(const char *p, const char *end)
{
    enum hdr_error err;
    hdr_msg *h = hdr_parse(p, (size_t)(end - p), REWRITE_BOUNCE_MAX_FIELDS,
                           BOUNCE_FIELD_MAX, &err);
    if (h == NULL)
        return NULL;
    char *v = hdr_get_value(h, "Message-ID");
    hdr_msg_free(h);
    return bounce_id_checked(v);
}

/* Inline fallback: the first "Message-ID:" line of the body. */
static char *bounce_inline_id(const char *p, const char *end)
{
    const char *next;
    while (p < end) {
        size_t n = bounce_line(p, end, &next);
        if (bounce_starts(p, n, "message-id:")) {
            const char *v = p + 11, *e = p + n;
            while (v < e && (*v == ' ' || *v == '\t'))
                v++;
            while (e > v && (e[-1] == ' ' || e[-1] == '\t'))
                e--;
            char *out = xcalloc(1, (size_t)(e - v) + 1);
            memcpy(out, v, (size_t)(e - v));
            return bounce_id_checked(out);
        }
        p = next;
    }
    return NULL;
}

char *rewrite_bounce_message_id(const char *raw, size_t len)
{
    const char *end = raw + len, *p = raw, *next;
    /* skip the bounce's own header section */
    while (p < end) {
        size_t n = bounce_line(p, end, &next);
        p = next;
        if (n == 0)
            break;
    }
    const char *body = p;
    while (p < end) {
        size_t n = bounce_line(p, end, &next);
        if (!bounce_returned_type(p, n)) {
            p = next;
            continue;
        }
        /* skip the rest of the part's header section */
        p = next;
        while (p < end) {
            size_t m = bounce_line(p, end, &next);
            p = next;
            if (m == 0)
                break;
        }
        char *id = bounce_section_id(p, end);
        if (id != NULL)
            return id;
    }
    return bounce_inline_id(body, end);
}
