/*
 * hdr.c - byte-exact RFC 5322 header section parsing and editing.
 *
 * Owns: each hdr_msg, its field array, each field's raw bytes and the body
 * copy. The parser does no I/O and keeps every byte: a message parsed and
 * serialised without edits is identical to the input, whatever its line
 * ends (CRLF, bare LF, or a mix), folding, empty values, or a missing
 * empty line / body. The empty line is kept in hdr_msg.sep for that reason.
 *
 * SECURITY: input comes from peers. Field count and field size are bounded
 * by the caller's limits (0 means "no limit"; the message itself is already
 * bounded by the caller's size limit). Edited values are checked so that a
 * caller cannot inject a new field: every line break in a value must be
 * followed by a space or tab (folding).
 *
 * STANDARDS: RFC 5322 §2.2 (fields, folding), §3.6.8 (field names), with
 * the obsolete "Name :" form (§4.5) accepted; the name excludes the blanks.
 */
#include "hdr.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "xalloc.h"

static int    hdr_is_name_char(unsigned char c);
static char  *hdr_dup(const char *p, size_t n);
static int    hdr_name_ok(const char *name);
static int    hdr_value_ok(const char *value);
static size_t hdr_line_len(const char *p, size_t left);
static void   hdr_push(hdr_msg *m, size_t pos, char *raw, size_t raw_len, size_t name_len);
static char  *hdr_build_raw(const hdr_msg *m, const char *name, size_t name_len,
                            const char *value, size_t *raw_len);
static void   hdr_ensure_eol(hdr_msg *m, size_t i);

static int hdr_is_name_char(unsigned char c)
{
    return c >= 33 && c <= 126 && c != ':';
}

/* Binary-safe copy of n bytes plus a NUL; malloc'd. */
static char *hdr_dup(const char *p, size_t n)
{
    char *d = xmalloc(n + 1);
    memcpy(d, p, n);
    d[n] = '\0';
    return d;
}

static int hdr_name_ok(const char *name)
{
    if (name == NULL || name[0] == '\0')
        return 0;
    for (const char *p = name; *p; p++)
        if (!hdr_is_name_char((unsigned char)*p))
            return 0;
    return 1;
}

/* A value may contain folding ("\r\n " or "\n\t"), but no other CR or LF,
 * and may not end in a line break. */
static int hdr_value_ok(const char *value)
{
    for (const char *p = value; *p; p++) {
        if (*p == '\r' && p[1] != '\n')
            return 0;
        if (*p == '\n' && p[1] != ' ' && p[1] != '\t')
            return 0;
    }
    return 1;
}

/* Length of the line at p including its '\n' (or to the end). */
static size_t hdr_line_len(const char *p, size_t left)
{
    const char *nl = memchr(p, '\n', left);
    return nl ? (size_t)(nl - p) + 1 : left;
}

static void hdr_push(hdr_msg *m, size_t pos, char *raw, size_t raw_len, size_t name_len)
{
    if (m->nfields == m->cap) {
        m->cap = m->cap ? m->cap * 2 : 16;
        m->fields = xrealloc(m->fields, m->cap * sizeof *m->fields);
    }
    memmove(m->fields + pos + 1, m->fields + pos, (m->nfields - pos) * sizeof *m->fields);
    m->fields[pos].raw = raw;
    m->fields[pos].raw_len = raw_len;
    m->fields[pos].name_len = name_len;
    m->nfields++;
}

hdr_msg *hdr_parse(const char *msg, size_t len, size_t max_fields,
                   size_t max_field_len, enum hdr_error *err)
{
    enum hdr_error dummy;
    if (err == NULL)
        err = &dummy;
    *err = HDR_OK;
    hdr_msg *m = xcalloc(1, sizeof *m);
    const char *nl = memchr(msg, '\n', len);
    m->eol = (nl != NULL && nl > msg && nl[-1] == '\r') || nl == NULL ? "\r\n" : "\n";
    m->sep = "";

    size_t pos = 0;
    const char *cur = NULL;     /* start of the field being gathered */
    size_t cur_len = 0, cur_name = 0;
    while (pos < len) {
        const char *line = msg + pos;
        size_t ll = hdr_line_len(line, len - pos);
        int is_lf = line[ll - 1] == '\n';
        int empty = (ll == 1 && is_lf) || (ll == 2 && is_lf && line[0] == '\r');
        if (empty || (line[0] != ' ' && line[0] != '\t')) {
            if (cur != NULL) {        /* the previous field is complete */
                if (max_fields && m->nfields >= max_fields) {
                    *err = HDR_ERR_LIMIT;
                    goto fail;
                }
                hdr_push(m, m->nfields, hdr_dup(cur, cur_len), cur_len, cur_name);
                cur = NULL;
            }
            if (empty) {
                m->sep = ll == 1 ? "\n" : "\r\n";
                pos += ll;
                break;
            }
            size_t n = 0;
            while (n < ll && hdr_is_name_char((unsigned char)line[n]))
                n++;
            size_t c = n;
            while (c < ll && (line[c] == ' ' || line[c] == '\t'))
                c++;
            if (n == 0 || c >= ll || line[c] != ':') {
                *err = HDR_ERR_SYNTAX;
                goto fail;
            }
            cur = line;
            cur_len = ll;
            cur_name = n;
        } else {                      /* continuation line */
            if (cur == NULL) {
                *err = HDR_ERR_SYNTAX;
                goto fail;
            }
            cur_len += ll;
        }
        if (max_field_len && cur_len > max_field_len) {
            *err = HDR_ERR_LIMIT;
            goto fail;
        }
        pos += ll;
    }
    if (cur != NULL) {
        if (max_fields && m->nfields >= max_fields) {
            *err = HDR_ERR_LIMIT;
            goto fail;
        }
        hdr_push(m, m->nfields, hdr_dup(cur, cur_len), cur_len, cur_name);
    }
    m->body_len = len - pos;
    m->body = xmalloc(m->body_len + 1);
    memcpy(m->body, msg + pos, m->body_len);
    m->body[m->body_len] = '\0';
    return m;
fail:
    hdr_msg_free(m);
    return NULL;
}

void hdr_msg_free(hdr_msg *m)
{
    if (m == NULL)
        return;
    for (size_t i = 0; i < m->nfields; i++)
        free(m->fields[i].raw);
    free(m->fields);
    free(m->body);
    free(m);
}

long hdr_find(const hdr_msg *m, const char *name, size_t nth)
{
    size_t nl = strlen(name);
    for (size_t i = 0; i < m->nfields; i++) {
        const hdr_field *f = &m->fields[i];
        if (f->name_len == nl && strncasecmp(f->raw, name, nl) == 0) {
            if (nth == 0)
                return (long)i;
            nth--;
        }
    }
    return -1;
}

size_t hdr_count(const hdr_msg *m, const char *name)
{
    size_t nl = strlen(name), n = 0;
    for (size_t i = 0; i < m->nfields; i++)       /* one pass */
        if (m->fields[i].name_len == nl && strncasecmp(m->fields[i].raw, name, nl) == 0)
            n++;
    return n;
}

char *hdr_field_value(const hdr_msg *m, size_t i)
{
    if (i >= m->nfields)
        return NULL;
    const hdr_field *f = &m->fields[i];
    const char *p = memchr(f->raw, ':', f->raw_len);
    if (p == NULL)      /* cannot happen for a parsed or built field */
        return xstrdup("");
    p++;
    const char *end = f->raw + f->raw_len;
    char *out = xmalloc((size_t)(end - p) + 1);
    size_t n = 0;
    for (; p < end; p++) {
        if (*p == '\n')
            continue;
        if (*p == '\r' && p + 1 < end && p[1] == '\n')
            continue;
        out[n++] = *p;
    }
    while (n > 0 && (out[n - 1] == ' ' || out[n - 1] == '\t'))
        n--;
    size_t s = 0;
    while (s < n && (out[s] == ' ' || out[s] == '\t'))
        s++;
    memmove(out, out + s, n - s);
    out[n - s] = '\0';
    return out;
}

char *hdr_get_value(const hdr_msg *m, const char *name)
{
    long i = hdr_find(m, name, 0);
    return i < 0 ? NULL : hdr_field_value(m, (size_t)i);
}

/* "Name: value<eol>" (or "Name:<eol>" for an empty value), malloc'd. */
static char *hdr_build_raw(const hdr_msg *m, const char *name, size_t name_len,
                           const char *value, size_t *raw_len)
{
    size_t vl = strlen(value), el = strlen(m->eol);
    size_t n = name_len + 1 + (vl ? 1 + vl : 0) + el;
    char *raw = xmalloc(n + 1);
    size_t k = 0;
    memcpy(raw, name, name_len);
    k += name_len;
    raw[k++] = ':';
    if (vl) {
        raw[k++] = ' ';
        memcpy(raw + k, value, vl);
        k += vl;
    }
    memcpy(raw + k, m->eol, el);
    k += el;
    raw[k] = '\0';
    *raw_len = k;
    return raw;
}

/* A field read at the very end of an input without a final line end gets
 * one before anything is placed after it. */
static void hdr_ensure_eol(hdr_msg *m, size_t i)
{
    hdr_field *f = &m->fields[i];
    if (f->raw_len > 0 && f->raw[f->raw_len - 1] == '\n')
        return;
    size_t el = strlen(m->eol);
    f->raw = xrealloc(f->raw, f->raw_len + el + 1);
    memcpy(f->raw + f->raw_len, m->eol, el + 1);
    f->raw_len += el;
}

int hdr_insert(hdr_msg *m, size_t pos, const char *name, const char *value)
{
    if (pos > m->nfields || !hdr_name_ok(name) || value == NULL || !hdr_value_ok(value))
        return -1;
    if (pos > 0)
        hdr_ensure_eol(m, pos - 1);
    size_t raw_len;
    char *raw = hdr_build_raw(m, name, strlen(name), value, &raw_len);
    hdr_push(m, pos, raw, raw_len, strlen(name));
    return 0;
}

int hdr_add_top(hdr_msg *m, const char *name, const char *value)
{
    return hdr_insert(m, 0, name, value);
}

int hdr_replace(hdr_msg *m, size_t i, const char *name, const char *value)
{
    if (i >= m->nfields || value == NULL || !hdr_value_ok(value))
        return -1;
    if (name != NULL && !hdr_name_ok(name))
        return -1;
    hdr_field *f = &m->fields[i];
    size_t name_len = name ? strlen(name) : f->name_len;
    size_t raw_len;
    char *raw = hdr_build_raw(m, name ? name : f->raw, name_len, value, &raw_len);
    free(f->raw);
    f->raw = raw;
    f->raw_len = raw_len;
    f->name_len = name_len;
    return 0;
}

void hdr_remove(hdr_msg *m, size_t i)
{
    if (i >= m->nfields)
        return;
    free(m->fields[i].raw);
    memmove(m->fields + i, m->fields + i + 1, (m->nfields - i - 1) * sizeof *m->fields);
    m->nfields--;
}

size_t hdr_remove_all(hdr_msg *m, const char *name)
{
    size_t n = 0;
    long i;
    while ((i = hdr_find(m, name, 0)) >= 0) {
        hdr_remove(m, (size_t)i);
        n++;
    }
    return n;
}

int hdr_serialize(const hdr_msg *m, buf *out)
{
    const char *sep = m->sep ? m->sep : m->eol;
    if (sep[0] == '\0' && m->body_len > 0)
        sep = m->eol;           /* a body was added to a header-only message */
    for (size_t i = 0; i < m->nfields; i++) {
        const hdr_field *f = &m->fields[i];
        if (buf_append(out, f->raw, f->raw_len) != 0)
            return -1;
        if (i + 1 == m->nfields && sep[0] != '\0' &&
            (f->raw_len == 0 || f->raw[f->raw_len - 1] != '\n') &&
            buf_append_str(out, m->eol) != 0)
            return -1;
    }
    if (buf_append_str(out, sep) != 0)
        return -1;
    return buf_append(out, m->body, m->body_len);
}
