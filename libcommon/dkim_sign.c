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

#include "dkim.h"
#include "xalloc.h"

#define SIGN_LINE 78

static size_t sign_sig_b64_len(const dkim_key *key);
static int sign_h_list(buf *out, const hdr_msg *m, const char *headers, int arc_skip);
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

/* Appends to the fold output; the caller sized it (at most 4 output bytes
 * per input byte: the byte and one "\r\n\t"). */
#define FOLD_PUT(o, n, s, l) (memcpy((o) + (n), (s), (l)), (n) += (l))

char *
dkim_fold(const char *field_name, const char *value)
{
    size_t vlen = strlen(value), n = 0;
    size_t col = strlen(field_name) + 2;
    const char *p = value;
    char *out = xmalloc(4 * vlen + 1);
    int first = 1;

    while (*p != '\0') {
        const char *sep = strstr(p, "; ");
        size_t tl = sep != NULL ? (size_t)(sep - p) + 1 : strlen(p);
        size_t prefix = 0, j = 0;
        int is_b, is_h;

        if (!first) {
            if (col + 1 + tl > SIGN_LINE) {
                FOLD_PUT(out, n, "\r\n\t", 3);
                col = 1;
            } else {
                out[n++] = ' ';
                col++;
            }
        }
        is_b = strncmp(p, "b=", 2) == 0 || strncmp(p, "bh=", 3) == 0;
        is_h = strncmp(p, "h=", 2) == 0;
        if (is_b)
            prefix = p[1] == 'h' ? 3 : 2;
        if (is_b) {
            /* the prefix, then chunks up to column 78; no break before a
             * ';' nor after the last byte */
            while (j < tl) {
                size_t room = col < SIGN_LINE ? SIGN_LINE - col : 0, take;
                if (j < prefix) {
                    take = prefix - j;
                } else {
                    take = room > 0 ? room : 1;
                }
                if (take > tl - j)
                    take = tl - j;
                FOLD_PUT(out, n, p + j, take);
                col += take;
                j += take;
                if (j >= tl || p[j] == ';')
                    continue;
                if (j >= prefix && col >= SIGN_LINE) {
                    FOLD_PUT(out, n, "\r\n\t", 3);
                    col = 1;
                }
            }
        } else {
            for (; j < tl; j++) {
                out[n++] = p[j];
                col++;
                if (j + 1 >= tl || p[j + 1] == ';')
                    continue;
                if (is_h && p[j] == ':') {
                    size_t next = 0;
                    while (j + 1 + next < tl && p[j + 1 + next] != ':' && p[j + 1 + next] != ';')
                        next++;
                    if (col + next + 2 > SIGN_LINE) {
                        FOLD_PUT(out, n, "\r\n\t", 3);
                        col = 1;
                    }
                }
            }
        }
        first = 0;
        p += tl;
        if (sep != NULL)
            p++;                           /* the space after ';' */
    }
    out[n] = '\0';
    return out;
}

char *
dkim_sign_value_cb(const dkim_key *key, const char *field_name, const char *tags_without_b,
                   dkim_digest_fn fn, void *ctx)
{
    size_t siglen = sign_sig_b64_len(key), tlen = strlen(tags_without_b), blen, k;
    char *full = xmalloc(tlen + 3 + siglen + 1), *folded, *bpos, *sig;
    unsigned char dig[32];

    /* "<tags> b=<placeholder>" */
    memcpy(full, tags_without_b, tlen);
    memcpy(full + tlen, " b=", 3);
    memset(full + tlen + 3, 'A', siglen);
    full[tlen + 3 + siglen] = '\0';
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
    size_t nl = strlen(field_name), vl = strlen(folded_no_b);
    char *raw = xmalloc(nl + 2 + vl + 1);
    int rc;

    memcpy(raw, field_name, nl);
    memcpy(raw + nl, ": ", 2);
    memcpy(raw + nl + 2, folded_no_b, vl + 1);
    rc = dkim_hash_headers(sc->m, sc->h, DKIM_CANON_RELAXED, raw, nl + 2 + vl, dig);
    free(raw);
    return rc;
}

/* The h= list: each named field present, as many times as present, From
 * once more. Names are deduplicated; ARC-* dropped with arc_skip. One
 * pass over headers, appended to out (which already holds "... h="). */
static int
sign_h_list(buf *out, const hdr_msg *m, const char *headers, int arc_skip)
{
    const char *seen[DKIM_MAX_H_NAMES];
    size_t seen_len[DKIM_MAX_H_NAMES], nseen = 0, start = out->len;
    const char *p = headers;

    while (*p != '\0') {
        const char *e = strchr(p, ':');
        size_t tl = e != NULL ? (size_t)(e - p) : strlen(p), n, k;
        char name[256], *nm;

        if (tl > 0
            && !(arc_skip && tl >= 4 && strncasecmp(p, "arc-", 4) == 0)
            && !(tl == 14 && strncasecmp(p, "dkim-signature", 14) == 0)) {
            for (k = 0; k < nseen; k++)
                if (seen_len[k] == tl && strncasecmp(seen[k], p, tl) == 0)
                    break;
            if (k == nseen) {
                if (nseen == DKIM_MAX_H_NAMES)
                    return -1;
                seen[nseen] = p;
                seen_len[nseen++] = tl;
                nm = tl < sizeof(name) ? name : xmalloc(tl + 1);
                memcpy(nm, p, tl);
                nm[tl] = '\0';
                n = hdr_count(m, nm);
                if (nm != name)
                    free(nm);
                if (tl == 4 && strncasecmp(p, "from", 4) == 0)
                    n++;                   /* over-sign From */
                for (size_t i = 0; i < n; i++)
                    if ((out->len > start && buf_append(out, ":", 1) != 0)
                        || buf_append(out, p, tl) != 0)
                        return -1;
            }
        }
        p += tl;
        if (*p == ':')
            p++;
    }
    return 0;
}

/* dkim_sign_field with an optional shared body hash (see dkim_sign_shared). */
static int
sign_field_bh(const dkim_key *key, const hdr_msg *m, const char *field_name,
              const char *tags_before, const char *headers, int arc_skip,
              dkim_body_hash *shared, char **value, char *err, size_t errlen)
{
    unsigned char bdig[32];
    char *bh;
    buf tags;
    sign_ctx sc;

    *value = NULL;
    if (hdr_count(m, "from") == 0) {
        snprintf(err, errlen, "message has no From");
        return -1;
    }
    if (shared != NULL && shared->set) {
        memcpy(bdig, shared->dig, 32);
    } else {
        if (dkim_canon_body_hash(DKIM_CANON_RELAXED, m->body, m->body_len, DKIM_BODY_ALL,
                                 bdig, NULL) != 0) {
            snprintf(err, errlen, "cannot hash the body");
            return -1;
        }
        if (shared != NULL) {
            memcpy(shared->dig, bdig, 32);
            shared->set = 1;
        }
    }
    /* "<tags_before> h=<list>; bh=<base64>;"; the h= list also stays on
     * its own (from h_at) for the header digest */
    buf_init(&tags, 64 * 1024);
    if (buf_append_str(&tags, tags_before) != 0 || buf_append(&tags, " h=", 3) != 0) {
        snprintf(err, errlen, "header list too long");
        buf_release(&tags);
        return -1;
    }
    size_t h_at = tags.len, h_len;
    if (sign_h_list(&tags, m, headers != NULL ? headers : DKIM_DEFAULT_HEADERS, arc_skip) != 0) {
        snprintf(err, errlen, "header list too long");
        buf_release(&tags);
        return -1;
    }
    h_len = tags.len - h_at;
    bh = dkim_b64_encode(bdig, 32);
    if (bh == NULL || buf_append(&tags, "; bh=", 5) != 0 || buf_append_str(&tags, bh) != 0
        || buf_append(&tags, ";", 1) != 0) {
        snprintf(err, errlen, "header list too long");
        free(bh);
        buf_release(&tags);
        return -1;
    }
    free(bh);
    {
        char *h = xmalloc(h_len + 1);
        memcpy(h, tags.data + h_at, h_len);
        h[h_len] = '\0';
        sc.m = m;
        sc.h = h;
        *value = dkim_sign_value_cb(key, field_name, tags.data, sign_header_digest, &sc);
        free(h);
    }
    buf_release(&tags);
    if (*value == NULL) {
        snprintf(err, errlen, "signing failed");
        return -1;
    }
    return 0;
}

int
dkim_sign_field(const dkim_key *key, const hdr_msg *m, const char *field_name,
                const char *tags_before, const char *headers, int arc_skip,
                char **value, char *err, size_t errlen)
{
    return sign_field_bh(key, m, field_name, tags_before, headers, arc_skip, NULL, value,
                         err, errlen);
}

int
dkim_sign(const dkim_key *key, const char *domain, const char *selector,
          const char *headers, time_t timestamp, const char *msg, size_t len,
          char **value, char *err, size_t errlen)
{
    return dkim_sign_shared(key, domain, selector, headers, timestamp, msg, len, NULL,
                            value, err, errlen);
}

int
dkim_sign_shared(const dkim_key *key, const char *domain, const char *selector,
                 const char *headers, time_t timestamp, const char *msg, size_t len,
                 dkim_body_hash *bh, char **value, char *err, size_t errlen)
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
    rc = sign_field_bh(key, m, "DKIM-Signature", tags, headers, 0, bh, value, err, errlen);
    hdr_msg_free(m);
    return rc;
}
