/*
 * lists_headers.c - the header changes a list makes to a post: the RFC 2369
 * List-* fields and RFC 2919 List-Id, "Precedence: list", and the subject
 * prefix. Everything else in the message stays byte for byte as posted
 * (libcommon hdr keeps raw fields; the body is not touched).
 *
 * Pure functions on a hdr_msg (no I/O); unit-tested in
 * tests/unit/test_lists_headers.c. The list's name and prefix come from the
 * API, which refuses CR, LF and other control characters in them, so they
 * cannot inject fields; addresses put into URLs are percent-encoded.
 *
 * STANDARDS: RFC 2369 (List-Help/Post/Unsubscribe/Archive), RFC 2919
 * (List-Id), RFC 2047 (encoded words for a non-ASCII list name, through libcommon's
 * hdr_phrase_append),
 * RFC 6068 (mailto URIs).
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "xalloc.h"
#include "lists.h"

static int is_atext(unsigned char c)
{
    return isalnum(c) || (c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL);
}

/* Appends addr to out, percent-encoding what is not safe in a URI path or
 * a mailto address. */
static int url_append_addr(buf *out, const char *addr)
{
    for (const unsigned char *p = (const unsigned char *)addr; *p != '\0'; p++) {
        int rc;
        if (isalnum(*p) || strchr("-._~!$'*+=@", *p) != NULL)
            rc = buf_append(out, p, 1);
        else
            rc = buf_printf(out, "%%%02X", *p);
        if (rc != 0)
            return -1;
    }
    return 0;
}

int lists_headers_list_id(const char *address, const char *name, buf *out)
{
    const char *at = strrchr(address, '@');
    if (at == NULL)
        return -1;
    if (name != NULL && name[0] != '\0') {
        if (hdr_phrase_append(out, name) != 0 || buf_append_str(out, " ") != 0)
            return -1;
    }
    if (buf_append_str(out, "<") != 0)
        return -1;
    for (const char *p = address; p < at; p++) {
        char ch = (is_atext((unsigned char)*p) || *p == '.') ? *p : '-';
        if (buf_append(out, &ch, 1) != 0)
            return -1;
    }
    if (buf_printf(out, ".%s>", at + 1) != 0)
        return -1;
    return 0;
}

/* Field i's name without trailing white space, into out. */
static void field_name(const hdr_msg *m, size_t i, char *out, size_t outlen)
{
    size_t n = m->fields[i].name_len;
    while (n > 0 && isspace((unsigned char)m->fields[i].raw[n - 1]))
        n--;
    if (n >= outlen)
        n = outlen - 1;
    memcpy(out, m->fields[i].raw, n);
    out[n] = '\0';
}

int lists_headers_is_loop(const hdr_msg *m, const char *address)
{
    buf id;
    int loop = 0;

    buf_init(&id, LISTS_ADDR_MAX + 8);
    if (lists_headers_list_id(address, "", &id) != 0) {
        buf_release(&id);
        return 0;
    }
    for (size_t n = 0;; n++) {
        long i = hdr_find(m, "List-Id", n);
        if (i < 0)
            break;
        char *v = hdr_field_value(m, (size_t)i);
        if (v != NULL && strcasestr(v, id.data) != NULL)
            loop = 1;
        free(v);
    }
    buf_release(&id);
    return loop;
}

size_t lists_headers_strip(hdr_msg *m)
{
    size_t removed = 0;
    for (size_t i = m->nfields; i-- > 0;) {
        char name[64];
        field_name(m, i, name, sizeof name);
        if (strncasecmp(name, "List-", 5) == 0 || strcasecmp(name, "Precedence") == 0) {
            hdr_remove(m, i);
            removed++;
        }
    }
    return removed;
}

int lists_headers_subject(hdr_msg *m, const char *prefix)
{
    char tag[LISTS_PREFIX_MAX + 1];
    const char *s = prefix, *e = prefix + strlen(prefix);

    while (s < e && isspace((unsigned char)*s))
        s++;
    while (e > s && isspace((unsigned char)e[-1]))
        e--;
    if (e == s)
        return 0;
    if ((size_t)(e - s) >= sizeof tag)
        return -1;
    memcpy(tag, s, (size_t)(e - s));
    tag[e - s] = '\0';

    long i = hdr_find(m, "Subject", 0);
    if (i < 0) {
        char value[LISTS_PREFIX_MAX + 32];
        snprintf(value, sizeof value, "%s (no subject)", tag);
        return hdr_insert(m, m->nfields, "Subject", value);
    }
    char *unfolded = hdr_field_value(m, (size_t)i);
    if (unfolded == NULL)
        return -1;
    int present = strcasestr(unfolded, tag) != NULL;
    free(unfolded);
    if (present)
        return 0;

    /* keep the original value bytes (folding, encoded words) after the prefix */
    const hdr_field *f = &m->fields[i];
    const char *v = f->raw + f->name_len;
    const char *ve = f->raw + f->raw_len;
    while (v < ve && (*v == ' ' || *v == '\t'))
        v++;
    if (v < ve && *v == ':')
        v++;
    while (v < ve && (*v == ' ' || *v == '\t' || *v == '\r' || *v == '\n'))
        v++;
    while (ve > v && isspace((unsigned char)ve[-1]))
        ve--;
    buf nv;
    buf_init(&nv, f->raw_len + LISTS_PREFIX_MAX + 4);
    int rc = -1;
    if (buf_append_str(&nv, prefix) == 0 && buf_append(&nv, v, (size_t)(ve - v)) == 0) {
        while (nv.len > 0 && isspace((unsigned char)nv.data[nv.len - 1]))
            nv.data[--nv.len] = '\0';
        rc = hdr_replace(m, (size_t)i, NULL, nv.data);
        if (rc != 0) {
            /* stray CR/LF or NUL that is not folding: fall back to one line */
            size_t k = 0;
            for (size_t j = 0; j < nv.len; j++)
                if (nv.data[j] != '\r' && nv.data[j] != '\n' && nv.data[j] != '\0')
                    nv.data[k++] = nv.data[j];
            nv.data[k] = '\0';
            nv.len = k;
            rc = hdr_replace(m, (size_t)i, NULL, nv.data);
        }
    }
    buf_release(&nv);
    return rc;
}

/* Appends one field "name: <prefix><addr><suffix>". */
static int add_url_field(hdr_msg *m, buf *tmp, const char *name, const char *prefix,
                         const char *addr, const char *suffix)
{
    buf_reset(tmp);
    if (buf_append_str(tmp, prefix) != 0 || url_append_addr(tmp, addr) != 0 ||
        buf_append_str(tmp, suffix) != 0)
        return -1;
    return hdr_insert(m, m->nfields, name, tmp->data);
}

int lists_headers_apply(hdr_msg *m, const lists_header_info *info)
{
    char request[LISTS_ADDR_MAX + 16];
    buf tmp;
    int rc = -1;

    if (lists_addr_with_suffix(info->address, "-request", request, sizeof request) != 0)
        return -1;
    lists_headers_strip(m);
    buf_init(&tmp, 4096);
    if (lists_headers_list_id(info->address, info->name, &tmp) != 0 ||
        hdr_insert(m, m->nfields, "List-Id", tmp.data) != 0)
        goto out;
    if (add_url_field(m, &tmp, "List-Post", "<mailto:", info->address, ">") != 0 ||
        add_url_field(m, &tmp, "List-Help", "<mailto:", request, "?subject=help>") != 0 ||
        add_url_field(m, &tmp, "List-Unsubscribe", "<mailto:", request,
                      "?subject=unsubscribe>") != 0)
        goto out;
    buf_reset(&tmp);
    if (buf_printf(&tmp, "<%s/v1/lists/", info->archive_url) != 0 ||
        url_append_addr(&tmp, info->address) != 0 ||
        buf_append_str(&tmp, "/messages>") != 0 ||
        hdr_insert(m, m->nfields, "List-Archive", tmp.data) != 0)
        goto out;
    if (hdr_insert(m, m->nfields, "Precedence", "list") != 0)
        goto out;
    rc = lists_headers_subject(m, info->subject_prefix);
out:
    buf_release(&tmp);
    return rc;
}
