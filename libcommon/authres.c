/*
 * authres.c - build and read Authentication-Results values (authres.h).
 *
 * Owns: the builder's buffer until authres_finish().
 * SECURITY: incoming fields are peer input: the scanner is bounded by the
 * value, comments nest at most 8 deep, nothing is allocated. Our own values
 * never carry peer text unquoted (addresses and reasons are quoted or
 * filtered).
 * STANDARDS: RFC 8601 §2.2 (syntax), §5 (removing forged fields), RFC 6008
 * (header.b).
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "authres.h"
#include "xalloc.h"

static int         authres_put_value(buf *b, const char *v);
static const char *authres_skip_cfws(const char *p);
static const char *authres_token(const char *p, char *out, size_t outlen);
static const char *authres_next_semi(const char *p);

/* RFC 2045 token characters, plus '@' and '.' so addresses stay bare. */
static int authres_plain_char(unsigned char c)
{
    return c > 32 && c < 127 && strchr("()<>,;:\\\"/[]?=", c) == NULL;
}

static int authres_put_value(buf *b, const char *v)
{
    int plain = v[0] != '\0';

    for (const char *p = v; *p; p++)
        if (!authres_plain_char((unsigned char)*p))
            plain = 0;
    if (plain)
        return buf_append_str(b, v);
    if (buf_append(b, "\"", 1) != 0)
        return -1;
    for (const char *p = v; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c < 32 || c == 127)
            continue;
        if ((c == '"' || c == '\\') && buf_append(b, "\\", 1) != 0)
            return -1;
        if (buf_append(b, p, 1) != 0)
            return -1;
    }
    return buf_append(b, "\"", 1);
}

void authres_begin(authres_builder *a, const char *authserv_id, int fold)
{
    buf_init(&a->b, AUTHRES_MAX_LEN);
    a->fold = fold;
    a->clauses = 0;
    (void)authres_put_value(&a->b, authserv_id && authserv_id[0] ? authserv_id : "localhost");
}

int authres_add(authres_builder *a, const char *method, const char *result,
                const char *comment, ...)
{
    va_list ap;
    int rc = 0;

    rc |= buf_append_str(&a->b, a->fold ? ";\r\n\t" : "; ");
    rc |= buf_printf(&a->b, "%s=%s", method, result);
    if (comment != NULL && comment[0] != '\0') {
        rc |= buf_append_str(&a->b, " (");
        size_t n = 0;
        for (const char *p = comment; *p && n < 120; p++, n++) {
            unsigned char c = (unsigned char)*p;
            if (c < 32 || c >= 127 || c == '(' || c == ')' || c == '\\')
                continue;
            rc |= buf_append(&a->b, p, 1);
        }
        rc |= buf_append_str(&a->b, ")");
    }
    va_start(ap, comment);
    for (;;) {
        const char *prop = va_arg(ap, const char *);
        if (prop == NULL)
            break;
        const char *val = va_arg(ap, const char *);
        if (val == NULL || val[0] == '\0')
            continue;
        rc |= buf_printf(&a->b, " %s=", prop);
        rc |= authres_put_value(&a->b, val);
    }
    va_end(ap);
    a->clauses++;
    return rc != 0 ? -1 : 0;
}

char *authres_finish(authres_builder *a)
{
    if (a->clauses == 0)
        (void)buf_append_str(&a->b, "; none");
    return buf_steal(&a->b, NULL);
}

/* Skips white space and (nested) comments. */
static const char *authres_skip_cfws(const char *p)
{
    for (;;) {
        while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
            p++;
        if (*p != '(')
            return p;
        int depth = 0;
        while (*p) {
            if (*p == '\\' && p[1] != '\0')
                p++;
            else if (*p == '(')
                depth++;
            else if (*p == ')' && --depth == 0) {
                p++;
                break;
            }
            p++;
        }
        if (depth > 0)
            return p;
    }
}

/* A token or quoted-string into out; returns the position after it, or
 * NULL when there is none or it does not fit. */
static const char *authres_token(const char *p, char *out, size_t outlen)
{
    size_t o = 0;

    if (*p == '"') {
        for (p++; *p && *p != '"'; p++) {
            if (*p == '\\' && p[1] != '\0')
                p++;
            if (o + 1 >= outlen)
                return NULL;
            out[o++] = *p;
        }
        if (*p != '"')
            return NULL;
        p++;
    } else {
        while (*p && authres_plain_char((unsigned char)*p) && *p != '(') {
            if (o + 1 >= outlen)
                return NULL;
            out[o++] = *p++;
        }
    }
    if (o == 0)
        return NULL;
    out[o] = '\0';
    return p;
}

/* The next ';' outside quoted strings and comments, or NULL. */
static const char *authres_next_semi(const char *p)
{
    int depth = 0, quoted = 0;

    for (; *p; p++) {
        if (*p == '\\' && p[1] != '\0')
            p++;
        else if (quoted)
            quoted = *p != '"';
        else if (*p == '"' && depth == 0)
            quoted = 1;
        else if (*p == '(')
            depth++;
        else if (*p == ')' && depth > 0)
            depth--;
        else if (*p == ';' && depth == 0)
            return p;
    }
    return NULL;
}

int authres_authserv_id(const char *value, char *out, size_t outlen)
{
    const char *p = authres_token(authres_skip_cfws(value), out, outlen);
    return p == NULL ? -1 : 0;
}

int authres_parse(const char *value, authres_entry *out, size_t max)
{
    char id[256];
    const char *p = authres_token(authres_skip_cfws(value), id, sizeof(id));
    int n = 0;

    if (p == NULL)
        return -1;
    for (;;) {
        p = authres_next_semi(p);
        if (p == NULL)
            break;
        p = authres_skip_cfws(p + 1);
        authres_entry e;
        size_t k = 0;
        /* method [ "/" version ] "=" result */
        while (*p && (isalnum((unsigned char)*p) || *p == '-' || *p == '_') &&
               k + 1 < sizeof(e.method))
            e.method[k++] = (char)tolower((unsigned char)*p++);
        e.method[k] = '\0';
        if (*p == '/')
            while (*p && *p != '=' && *p != ';')
                p++;
        p = authres_skip_cfws(p);
        if (k == 0 || *p != '=')
            continue;
        p = authres_skip_cfws(p + 1);
        k = 0;
        while (*p && (isalnum((unsigned char)*p) || *p == '-' || *p == '_') &&
               k + 1 < sizeof(e.result))
            e.result[k++] = (char)tolower((unsigned char)*p++);
        e.result[k] = '\0';
        if (k == 0 || strcmp(e.method, "none") == 0)
            continue;
        if ((size_t)n < max)
            out[n] = e;
        n++;
    }
    return (size_t)n > max ? (int)max : n;
}

size_t authres_remove_ours(hdr_msg *m, const char *authserv_id)
{
    size_t removed = 0;
    long i;

    while ((i = hdr_find(m, "Authentication-Results", 0)) >= 0) {
        /* find the next one that is ours, from index 0 each time */
        size_t nth = 0, found = 0;
        while ((i = hdr_find(m, "Authentication-Results", nth)) >= 0) {
            char *v = hdr_field_value(m, (size_t)i), id[256];
            int ours = v != NULL && authres_authserv_id(v, id, sizeof(id)) == 0 &&
                       strcasecmp(id, authserv_id) == 0;
            free(v);
            if (ours) {
                hdr_remove(m, (size_t)i);
                removed++;
                found = 1;
                break;
            }
            nth++;
        }
        if (!found)
            break;
    }
    return removed;
}
