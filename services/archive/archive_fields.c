/*
 * archive_fields.c - what the archive reads out of a post: the header
 * fields it indexes (Message-ID, Subject, From, Date, In-Reply-To), the
 * header section as JSON, base64 of the raw bytes, and the paging
 * parameters of the list view.
 *
 * Pure functions (no I/O); unit-tested in tests/unit/test_archive_fields.c.
 * Posts are peer input: any bytes. Text that goes to PostgreSQL text
 * columns or JSON strings is made valid UTF-8 without NULs (U+FFFD for
 * bad bytes) and bounded; the raw bytes are kept untouched (bytea).
 * Encoded words (RFC 2047) are stored as written; decoding comes later.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/evp.h>

#include "log.h"
#include "xalloc.h"
#include "archive.h"
#include "utf8.h"


/* The cleaned value of the first field called name, or NULL. */
static char *field_clean(const hdr_msg *m, const char *name)
{
    char *v = hdr_get_value(m, name);
    if (v == NULL)
        return NULL;
    char *c = utf8_clean(v, strlen(v), ARCHIVE_TEXT_MAX);
    free(v);
    return c;
}

void archive_fields_extract(const hdr_msg *m, archive_fields *f)
{
    memset(f, 0, sizeof *f);
    if (m == NULL)
        return;
    f->message_id = field_clean(m, "Message-ID");
    f->subject = field_clean(m, "Subject");
    f->from = field_clean(m, "From");
    f->date = field_clean(m, "Date");
    f->in_reply_to = field_clean(m, "In-Reply-To");
}

void archive_fields_release(archive_fields *f)
{
    free(f->message_id);
    free(f->subject);
    free(f->from);
    free(f->date);
    free(f->in_reply_to);
    memset(f, 0, sizeof *f);
}

json_t *archive_headers_json(const hdr_msg *m)
{
    json_t *arr = json_array();
    if (m == NULL)
        return arr;
    for (size_t i = 0; i < m->nfields; i++) {
        const hdr_field *fl = &m->fields[i];
        size_t nl = fl->name_len;
        while (nl > 0 && isspace((unsigned char)fl->raw[nl - 1]))
            nl--;
        char *name = utf8_clean(fl->raw, nl, ARCHIVE_TEXT_MAX);
        char *v = hdr_field_value(m, i);
        char *value = utf8_clean(v != NULL ? v : "", v != NULL ? strlen(v) : 0,
                                         fl->raw_len);
        json_array_append_new(arr, json_pack("{s:s, s:s}", "name", name, "value", value));
        free(v);
        free(name);
        free(value);
    }
    return arr;
}

char *archive_base64(const unsigned char *p, size_t len)
{
    size_t out_len = 4 * ((len + 2) / 3);
    char *out = xmalloc(out_len + 1);
    size_t o = 0;
    /* EVP_EncodeBlock takes an int length: encode in chunks of 3 * 2^20 */
    for (size_t i = 0; i < len;) {
        size_t n = len - i > 3u << 20 ? 3u << 20 : len - i;
        int w = EVP_EncodeBlock((unsigned char *)out + o, p + i, (int)n);
        if (w < 0)
            panic("EVP_EncodeBlock failed");
        o += (size_t)w;
        i += n;
    }
    out[o] = '\0';
    return out;
}

/* A decimal number of at most 9 digits within [min, max], or -1. */
static long parse_num(const char *s, long def, long min, long max)
{
    if (s == NULL)
        return def;
    size_t n = strlen(s);
    if (n == 0 || n > 9)
        return -1;
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return -1;
    long v = strtol(s, NULL, 10);
    return (v < min || v > max) ? -1 : v;
}

int archive_page_parse(const char *page, const char *per_page,
                       long *page_out, long *per_page_out)
{
    long p = parse_num(page, 1, 1, 999999999);
    long pp = parse_num(per_page, ARCHIVE_PER_PAGE_DEF, 1, ARCHIVE_PER_PAGE_MAX);
    if (p < 0 || pp < 0)
        return -1;
    *page_out = p;
    *per_page_out = pp;
    return 0;
}
