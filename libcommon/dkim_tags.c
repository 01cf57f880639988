/*
 * dkim_tags.c - tag=value lists of RFC 6376 §3.2 (DKIM-Signature, ARC-Seal,
 * ARC-Message-Signature, DKIM key records) and base64 for b=, bh=, p=.
 *
 * SECURITY: input is peer data. Limits: DKIM_MAX_TAGS tags, 31-byte tag
 * names, DKIM_MAX_TAG_LEN-byte values; duplicates and syntax errors are
 * refused (a permerror for the caller). No I/O.
 *
 * Owns: the dkim_tags arrays it fills (released by dkim_tags_release).
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>

#include "dkim.h"
#include "xalloc.h"

static int tags_is_fws(char c);
static int tags_fail(dkim_tags *out, char *err, size_t errlen, const char *why);

static int
tags_is_fws(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static int
tags_fail(dkim_tags *out, char *err, size_t errlen, const char *why)
{
    if (err != NULL && errlen > 0)
        snprintf(err, errlen, "%s", why);
    dkim_tags_release(out);
    return -1;
}

int
dkim_tags_parse(const char *s, size_t len, dkim_tags *out, char *err, size_t errlen)
{
    size_t pos = 0;

    out->tags = NULL;
    out->n = 0;
    while (pos < len) {
        size_t ns, ne, vs, ve;

        while (pos < len && tags_is_fws(s[pos]))
            pos++;
        if (pos >= len)
            break;                       /* trailing ';' then FWS is allowed */
        ns = pos;
        if (!isalpha((unsigned char)s[pos]))
            return tags_fail(out, err, errlen, "tag name must start with a letter");
        while (pos < len && (isalnum((unsigned char)s[pos]) || s[pos] == '_'))
            pos++;
        ne = pos;
        if (ne - ns >= sizeof(out->tags[0].name))
            return tags_fail(out, err, errlen, "tag name too long");
        while (pos < len && tags_is_fws(s[pos]))
            pos++;
        if (pos >= len || s[pos] != '=')
            return tags_fail(out, err, errlen, "tag without '='");
        pos++;
        while (pos < len && tags_is_fws(s[pos]))
            pos++;
        vs = pos;
        while (pos < len && s[pos] != ';')
            pos++;
        ve = pos;
        while (ve > vs && tags_is_fws(s[ve - 1]))
            ve--;
        for (size_t i = vs; i < ve; i++) {
            unsigned char c = (unsigned char)s[i];
            if (c == 0 || (c < 0x20 && !tags_is_fws((char)c)) || c == 0x7f)
                return tags_fail(out, err, errlen, "control character in tag value");
        }
        if (ve - vs > DKIM_MAX_TAG_LEN)
            return tags_fail(out, err, errlen, "tag value too long");
        if (out->n >= DKIM_MAX_TAGS)
            return tags_fail(out, err, errlen, "too many tags");
        for (size_t i = 0; i < out->n; i++)
            if (strlen(out->tags[i].name) == ne - ns
                && memcmp(out->tags[i].name, s + ns, ne - ns) == 0)
                return tags_fail(out, err, errlen, "duplicate tag");
        out->tags = xrealloc(out->tags, (out->n + 1) * sizeof(*out->tags));
        memcpy(out->tags[out->n].name, s + ns, ne - ns);
        out->tags[out->n].name[ne - ns] = '\0';
        out->tags[out->n].value = xstrndup(s + vs, ve - vs);
        out->n++;
        if (pos < len)
            pos++;                        /* the ';' */
    }
    return 0;
}

const char *
dkim_tags_get(const dkim_tags *t, const char *name)
{
    for (size_t i = 0; i < t->n; i++)
        if (strcmp(t->tags[i].name, name) == 0)
            return t->tags[i].value;
    return NULL;
}

void
dkim_tags_release(dkim_tags *t)
{
    if (t == NULL)
        return;
    for (size_t i = 0; i < t->n; i++)
        free(t->tags[i].value);
    free(t->tags);
    t->tags = NULL;
    t->n = 0;
}

unsigned char *
dkim_b64_decode(const char *s, size_t len, size_t *outlen)
{
    char *clean = xmalloc(len + 1);
    size_t n = 0, pad = 0;
    unsigned char *out;
    int got;

    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (tags_is_fws((char)c))
            continue;
        if (c == '=') {
            pad++;
        } else if (pad > 0 || !(isalnum(c) || c == '+' || c == '/')) {
            free(clean);
            return NULL;                  /* data after padding, or bad char */
        }
        clean[n++] = (char)c;
    }
    if (n % 4 != 0 || pad > 2) {
        free(clean);
        return NULL;
    }
    out = xmalloc(n / 4 * 3 + 1);
    got = n == 0 ? 0 : EVP_DecodeBlock(out, (unsigned char *)clean, (int)n);
    free(clean);
    if (got < 0 || (size_t)got < pad) {
        free(out);
        return NULL;
    }
    *outlen = (size_t)got - pad;
    return out;
}

char *
dkim_b64_encode(const unsigned char *p, size_t len)
{
    char *out = xmalloc((len + 2) / 3 * 4 + 1);
    int n = EVP_EncodeBlock((unsigned char *)out, p, (int)len);
    out[n < 0 ? 0 : n] = '\0';
    return out;
}
