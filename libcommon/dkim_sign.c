/*
 * dkim_sign.c - DKIM signing (RFC 6376 §5, RFC 8463): relaxed/relaxed,
 * rsa-sha256 or ed25519-sha256 by the key's type, an h= list of the named
 * fields present in the message with From over-signed, and the field
 * folded at 78 columns. The folding and the "sign the folded value with
 * an empty b=" steps are shared with ARC (arc_seal.c).
 *
 * How b= is filled: the value is folded with a placeholder of the exact
 * signature length in b=, the part up to "b=" is hashed and signed, and
 * the placeholder's characters are replaced in place, so the folding the
 * verifier sees is the one that was signed.
 *
 * Owns: the temporary strings of one signature.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>
#include <openssl/sha.h>

#include "dkim.h"
#include "xalloc.h"

#define SIGN_LINE 78
#define SIGN_BUF_MAX (256u * 1024 * 1024)

static size_t sign_sig_b64_len(const dkim_key *key);
static char *sign_h_list(const hdr_msg *m, const char *headers, int arc_skip);
static int sign_header_digest(void *ctx, const char *field_name, const char *folded_no_b,
                              unsigned char dig[32]);

typedef struct sign_ctx {
    const hdr_msg *m;
    const char    *h;
} sign_ctx;

static size_t
sign_sig_b64_len(const dkim_key *key)
{
    size_t bytes = key != NULL && dkim_key_algo(key) == DKIM_ALGO_ED25519_SHA256
                   ? 64 : (size_t)(dkim_key_bits(key) + 7) / 8;
    return (bytes + 2) / 3 * 4;
}

char *
dkim_fold(const char *field_name, const char *value)
{
    buf b;
    size_t col = strlen(field_name) + 2;
    const char *p = value;
    int first = 1;

    buf_init(&b, SIGN_BUF_MAX);
    while (*p != '\0') {
        const char *sep = strstr(p, "; ");
        size_t tl = sep != NULL ? (size_t)(sep - p) + 1 : strlen(p);
        size_t prefix = 0;
        int is_b, is_h;

        if (!first) {
            if (col + 1 + tl > SIGN_LINE) {
                buf_append(&b, "\r\n\t", 3);
                col = 1;
            } else {
                buf_append(&b, " ", 1);
                col++;
            }
        }
        is_b = strncmp(p, "b=", 2) == 0 || strncmp(p, "bh=", 3) == 0;
        is_h = strncmp(p, "h=", 2) == 0;
        if (is_b)
            prefix = p[1] == 'h' ? 3 : 2;
        for (size_t j = 0; j < tl; j++) {
            buf_append(&b, p + j, 1);
            col++;
            if (j + 1 >= tl || (j + 1 < tl && p[j + 1] == ';'))
                continue;
            if (is_b && j + 1 >= prefix && col >= SIGN_LINE) {
                buf_append(&b, "\r\n\t", 3);
                col = 1;
            } else if (is_h && p[j] == ':') {
                size_t next = 0;
                while (j + 1 + next < tl && p[j + 1 + next] != ':' && p[j + 1 + next] != ';')
                    next++;
                if (col + next + 2 > SIGN_LINE) {
                    buf_append(&b, "\r\n\t", 3);
                    col = 1;
                }
            }
        }
        first = 0;
        p += tl;
        if (sep != NULL)
            p++;                           /* the space after ';' */
    }
    {
        char *out = buf_steal(&b, NULL);
        buf_release(&b);
        return out;
    }
}

char *
dkim_sign_value_cb(const dkim_key *key, const char *field_name, const char *tags_without_b,
                   dkim_digest_fn fn, void *ctx)
{
    size_t siglen = sign_sig_b64_len(key), blen, k;
    char *placeholder = xmalloc(siglen + 1), *full, *folded, *bpos, *sig;
    unsigned char dig[32];
    buf v;

    memset(placeholder, 'A', siglen);
    placeholder[siglen] = '\0';
    buf_init(&v, SIGN_BUF_MAX);
    if (buf_printf(&v, "%s b=%s", tags_without_b, placeholder) != 0) {
        buf_release(&v);
        free(placeholder);
        return NULL;
    }
    free(placeholder);
    full = buf_steal(&v, NULL);
    buf_release(&v);
    folded = dkim_fold(field_name, full);
    free(full);
    /* b= is the last tag: find its start ("b=" after a space or tab) */
    bpos = NULL;
    for (char *q = folded; (q = strstr(q, "b=")) != NULL; q++)
        if (q > folded && (q[-1] == ' ' || q[-1] == '\t'))
            bpos = q;
    if (bpos == NULL) {
        free(folded);
        return NULL;
    }
    {
        char saved = bpos[2];
        bpos[2] = '\0';
        if (fn(ctx, field_name, folded, dig) != 0) {
            free(folded);
            return NULL;
        }
        bpos[2] = saved;
    }
    sig = dkim_key_sign_digest(key, dig);
    if (sig == NULL || strlen(sig) != siglen) {
        free(sig);
        free(folded);
        return NULL;
    }
    blen = strlen(bpos + 2);
    k = 0;
    for (size_t j = 0; j < blen && k < siglen; j++)
        if (bpos[2 + j] == 'A')
            bpos[2 + j] = sig[k++];
    free(sig);
    return folded;
}

/* Digest of the h= fields plus the new field (b= empty), relaxed. */
static int
sign_header_digest(void *ctx, const char *field_name, const char *folded_no_b,
                   unsigned char dig[32])
{
    sign_ctx *sc = ctx;
    buf raw;
    int rc;

    buf_init(&raw, SIGN_BUF_MAX);
    if (buf_printf(&raw, "%s: %s", field_name, folded_no_b) != 0) {
        buf_release(&raw);
        return -1;
    }
    rc = dkim_hash_headers(sc->m, sc->h, DKIM_CANON_RELAXED, raw.data, raw.len, dig);
    buf_release(&raw);
    return rc;
}

/* The h= list: each named field present, as many times as present, From
 * once more. Names are deduplicated; ARC-* dropped with arc_skip. */
static char *
sign_h_list(const hdr_msg *m, const char *headers, int arc_skip)
{
    char *names = xstrdup(headers), *save = NULL, *tok;
    buf b;

    buf_init(&b, 64 * 1024);
    for (tok = strtok_r(names, ":", &save); tok != NULL; tok = strtok_r(NULL, ":", &save)) {
        size_t n = hdr_count(m, tok);
        int dup = 0;
        char *prev, *s2 = NULL, *copy;

        if (*tok == '\0' || (arc_skip && strncasecmp(tok, "arc-", 4) == 0)
            || strcasecmp(tok, "dkim-signature") == 0)
            continue;
        copy = xstrdup(headers);
        for (prev = strtok_r(copy, ":", &s2); prev != NULL && prev < copy + (tok - names);
             prev = strtok_r(NULL, ":", &s2))
            if (strcasecmp(prev, tok) == 0)
                dup = 1;
        free(copy);
        if (dup)
            continue;
        if (strcasecmp(tok, "from") == 0)
            n++;                           /* over-sign From */
        for (size_t i = 0; i < n; i++)
            if ((b.len > 0 && buf_append(&b, ":", 1) != 0) || buf_append_str(&b, tok) != 0)
                goto fail;
    }
    free(names);
    {
        char *out = buf_steal(&b, NULL);
        buf_release(&b);
        return out;
    }
fail:
    free(names);
    buf_release(&b);
    return NULL;
}

int
dkim_sign_field(const dkim_key *key, const hdr_msg *m, const char *field_name,
                const char *tags_before, const char *headers, int arc_skip,
                char **value, char *err, size_t errlen)
{
    char *h = sign_h_list(m, headers != NULL ? headers : DKIM_DEFAULT_HEADERS, arc_skip);
    char *bh;
    unsigned char bdig[32];
    buf body, tags;
    sign_ctx sc;

    *value = NULL;
    if (h == NULL || hdr_count(m, "from") == 0) {
        snprintf(err, errlen, "%s", h == NULL ? "header list too long" : "message has no From");
        free(h);
        return -1;
    }
    buf_init(&body, SIGN_BUF_MAX);
    if (dkim_canon_body(DKIM_CANON_RELAXED, m->body, m->body_len, &body) != 0) {
        snprintf(err, errlen, "body too large");
        buf_release(&body);
        free(h);
        return -1;
    }
    SHA256((const unsigned char *)body.data, body.len, bdig);
    buf_release(&body);
    bh = dkim_b64_encode(bdig, 32);
    buf_init(&tags, 64 * 1024);
    if (buf_printf(&tags, "%s h=%s; bh=%s;", tags_before, h, bh) != 0) {
        snprintf(err, errlen, "header list too long");
        buf_release(&tags);
        free(bh);
        free(h);
        return -1;
    }
    free(bh);
    sc.m = m;
    sc.h = h;
    *value = dkim_sign_value_cb(key, field_name, tags.data, sign_header_digest, &sc);
    buf_release(&tags);
    free(h);
    if (*value == NULL) {
        snprintf(err, errlen, "signing failed");
        return -1;
    }
    return 0;
}

int
dkim_sign(const dkim_key *key, const char *domain, const char *selector,
          const char *headers, time_t timestamp, const char *msg, size_t len,
          char **value, char *err, size_t errlen)
{
    hdr_msg *m;
    char tags[1024];
    int rc;

    *value = NULL;
    if (strpbrk(domain, "; \t\r\n") != NULL || strpbrk(selector, "; \t\r\n") != NULL
        || *domain == '\0' || *selector == '\0') {
        snprintf(err, errlen, "bad domain or selector");
        return -1;
    }
    if (dkim_key_algo(key) == DKIM_ALGO_RSA_SHA256 && dkim_key_bits(key) < 1024) {
        snprintf(err, errlen, "RSA key under 1024 bits");
        return -1;
    }
    m = dkim_msg_parse(msg, len, err, errlen);
    if (m == NULL)
        return -1;
    if (timestamp == 0)
        timestamp = time(NULL);
    if (snprintf(tags, sizeof(tags), "v=1; a=%s; c=relaxed/relaxed; d=%s; s=%s; t=%lld;",
                 dkim_algo_name(dkim_key_algo(key)), domain, selector,
                 (long long)timestamp) >= (int)sizeof(tags)) {
        snprintf(err, errlen, "domain or selector too long");
        hdr_msg_free(m);
        return -1;
    }
    rc = dkim_sign_field(key, m, "DKIM-Signature", tags, headers, 0, value, err, errlen);
    hdr_msg_free(m);
    return rc;
}
