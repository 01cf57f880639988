/*
 * dkim_canon.c - DKIM canonicalization (RFC 6376 §3.4): "simple" and
 * "relaxed" for header fields and bodies, plus the removal of the b= value
 * from a signature field (§3.7). Used by DKIM and ARC.
 *
 * Input is the raw bytes as hdr.c keeps them. A line end is CRLF or a bare
 * LF (files on disk); both canonicalize to CRLF, like dkimpy. Anything else,
 * including a bare CR, is an ordinary byte. No I/O, no allocation beyond
 * the output buffer (whose ceiling the caller sets). dkim_canon_body_hash
 * streams the canonical body straight into SHA-256 (no copy of the body),
 * optionally cut at l= bytes.
 *
 * Owns nothing.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "dkim.h"
#include "log.h"
#include "xalloc.h"

static int canon_is_wsp(char c);
static size_t canon_eol_len(const char *p, size_t left);
static size_t canon_field_end(const char *raw, size_t len);

static int
canon_is_wsp(char c)
{
    return c == ' ' || c == '\t';
}

/* Length of the line end at p (2 for CRLF, 1 for LF), 0 if none. */
static size_t
canon_eol_len(const char *p, size_t left)
{
    if (left >= 2 && p[0] == '\r' && p[1] == '\n')
        return 2;
    if (left >= 1 && p[0] == '\n')
        return 1;
    return 0;
}

/* Length of raw without its final line end. */
static size_t
canon_field_end(const char *raw, size_t len)
{
    if (len >= 1 && raw[len - 1] == '\n') {
        len--;
        if (len >= 1 && raw[len - 1] == '\r')
            len--;
    }
    return len;
}

int
dkim_canon_parse(const char *c, enum dkim_canon *hdr, enum dkim_canon *body)
{
    const char *slash;
    size_t hl;

    *hdr = *body = DKIM_CANON_SIMPLE;
    if (c == NULL)
        return 0;
    slash = strchr(c, '/');
    hl = slash != NULL ? (size_t)(slash - c) : strlen(c);
    if (hl == 6 && strncmp(c, "simple", 6) == 0)
        *hdr = DKIM_CANON_SIMPLE;
    else if (hl == 7 && strncmp(c, "relaxed", 7) == 0)
        *hdr = DKIM_CANON_RELAXED;
    else
        return -1;
    if (slash == NULL)
        return 0;
    if (strcmp(slash + 1, "simple") == 0)
        *body = DKIM_CANON_SIMPLE;
    else if (strcmp(slash + 1, "relaxed") == 0)
        *body = DKIM_CANON_RELAXED;
    else
        return -1;
    return 0;
}

/* Canonicalization emits single bytes and short runs; they reach the
 * output (a buf, or a SHA-256 context) in blocks through this staging area
 * (a per-byte buf_append was a third of the signing time). rc collects
 * the outputs' failures. With md, only the first limit bytes are hashed;
 * total counts every canonical byte either way. */
typedef struct canon_sink {
    buf                *out;
    EVP_MD_CTX         *md;
    unsigned long long  limit;
    unsigned long long  total;
    size_t              n;
    int                 rc;
    char                tmp[4096];
} canon_sink;

static void
canon_sink_emit(canon_sink *k, const char *p, size_t n)
{
    if (k->md != NULL) {
        unsigned long long room = k->total < k->limit ? k->limit - k->total : 0;
        size_t h = room < n ? (size_t)room : n;
        if (h > 0 && EVP_DigestUpdate(k->md, p, h) != 1)
            k->rc = -1;
    } else if (buf_append(k->out, p, n) != 0) {
        k->rc = -1;
    }
    k->total += n;
}

static void
canon_sink_flush(canon_sink *k)
{
    if (k->n > 0)
        canon_sink_emit(k, k->tmp, k->n);
    k->n = 0;
}

static void
canon_sink_put(canon_sink *k, const char *p, size_t n)
{
    if (n > sizeof k->tmp - k->n) {
        canon_sink_flush(k);
        if (n > sizeof k->tmp) {
            canon_sink_emit(k, p, n);
            return;
        }
    }
    memcpy(k->tmp + k->n, p, n);
    k->n += n;
}

static void
canon_sink_byte(canon_sink *k, char ch)
{
    if (k->n == sizeof k->tmp)
        canon_sink_flush(k);
    k->tmp[k->n++] = ch;
}

static int
canon_sink_end(canon_sink *k)
{
    canon_sink_flush(k);
    return k->rc == 0 ? 0 : -1;
}

int
dkim_canon_header(enum dkim_canon c, const char *raw, size_t len, int strip_eol, buf *out)
{
    size_t end = canon_field_end(raw, len), i, name_end;
    int pending_sp = 0, started = 0;
    canon_sink k;

    memset(&k, 0, offsetof(canon_sink, tmp));
    k.out = out;
    if (c == DKIM_CANON_SIMPLE) {
        for (i = 0; i < end; i++) {
            size_t e = canon_eol_len(raw + i, end - i);
            if (e > 0) {
                canon_sink_put(&k, "\r\n", 2);
                i += e - 1;
            } else {
                canon_sink_byte(&k, raw[i]);
            }
        }
        if (!strip_eol)
            canon_sink_put(&k, "\r\n", 2);
        return canon_sink_end(&k);
    }
    for (name_end = 0; name_end < end && raw[name_end] != ':'; name_end++)
        ;
    i = name_end;
    while (i > 0 && (canon_is_wsp(raw[i - 1]) || raw[i - 1] == '\r' || raw[i - 1] == '\n'))
        i--;
    for (size_t j = 0; j < i; j++) {
        char ch = raw[j];
        if (ch >= 'A' && ch <= 'Z')
            ch = (char)(ch - 'A' + 'a');
        canon_sink_byte(&k, ch);
    }
    canon_sink_byte(&k, ':');
    for (i = name_end + 1; i < end; i++) {
        size_t e = canon_eol_len(raw + i, end - i);
        if (e > 0) {                     /* unfold: drop the line end */
            i += e - 1;
            continue;
        }
        if (canon_is_wsp(raw[i])) {
            pending_sp = started;
            continue;
        }
        if (pending_sp)
            canon_sink_byte(&k, ' ');
        pending_sp = 0;
        started = 1;
        canon_sink_byte(&k, raw[i]);
    }
    if (!strip_eol)
        canon_sink_put(&k, "\r\n", 2);
    return canon_sink_end(&k);
}

/* 1 when a line (no line end, no trailing WSP) is already relaxed
 * canonical: no tab and no two SPs in a row. Eight bytes at a time on
 * little-endian machines (z(x) has 0x80 exactly at the zero bytes of x). */
#define CANON_ONES  0x0101010101010101ULL
#define CANON_HIGHS 0x8080808080808080ULL
#define CANON_LOWS  0x7f7f7f7f7f7f7f7fULL

static uint64_t
canon_zero_bytes(uint64_t x)
{
    return ~(((x & CANON_LOWS) + CANON_LOWS) | x | CANON_LOWS);
}

static int
canon_line_is_relaxed(const char *line, size_t len)
{
    size_t i = 0;
    int prev_sp = 0;

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    for (; i + 8 <= len; i += 8) {
        uint64_t w, sp, tab;
        memcpy(&w, line + i, 8);
        sp = canon_zero_bytes(w ^ (CANON_ONES * ' '));
        tab = canon_zero_bytes(w ^ (CANON_ONES * '\t'));
        if (tab != 0 || (sp & (sp >> 8)) != 0 || (prev_sp && (sp & 0x80) != 0))
            return 0;
        prev_sp = (sp >> 63) != 0;
    }
#endif
    for (; i < len; i++) {
        if (line[i] == '\t' || (line[i] == ' ' && prev_sp))
            return 0;
        prev_sp = line[i] == ' ';
    }
    return 1;
}

/* Emits the canonical body into k. In relaxed mode a line is copied in
 * the longest stretches that are already canonical (single SPs between
 * words), so a plain text line is one copy. */
static void
canon_body_emit(enum dkim_canon c, const char *body, size_t len, canon_sink *k)
{
    size_t pos = 0, empty_lines = 0;
    int any = 0;

    while (pos < len) {
        const char *line = body + pos;
        const char *nl = memchr(line, '\n', len - pos);
        size_t ll = nl != NULL ? (size_t)(nl - line) : len - pos;
        size_t content = ll;

        pos += nl != NULL ? ll + 1 : ll;
        if (nl != NULL && content > 0 && line[content - 1] == '\r')
            content--;
        if (c == DKIM_CANON_RELAXED)
            while (content > 0 && canon_is_wsp(line[content - 1]))
                content--;
        if (content == 0) {
            empty_lines++;
            continue;
        }
        for (; empty_lines > 0; empty_lines--)
            canon_sink_put(k, "\r\n", 2);
        if (c == DKIM_CANON_SIMPLE
            || canon_line_is_relaxed(line, content)) {
            canon_sink_put(k, line, content);  /* already canonical */
        } else {
            /* each WSP run other than a single SP becomes one SP; trailing
             * WSP is gone, so a run is never the last thing on the line */
            size_t i = 0, j = 0;
            while (j < content) {
                if (!canon_is_wsp(line[j]) || (line[j] == ' ' && !canon_is_wsp(line[j + 1]))) {
                    j++;
                    continue;
                }
                canon_sink_put(k, line + i, j - i);
                canon_sink_byte(k, ' ');
                while (j < content && canon_is_wsp(line[j]))
                    j++;
                i = j;
            }
            canon_sink_put(k, line + i, content - i);
        }
        canon_sink_put(k, "\r\n", 2);
        any = 1;
    }
    if (!any && c == DKIM_CANON_SIMPLE)
        canon_sink_put(k, "\r\n", 2);
}

int
dkim_canon_body(enum dkim_canon c, const char *body, size_t len, buf *out)
{
    canon_sink k;

    memset(&k, 0, offsetof(canon_sink, tmp));
    k.out = out;
    /* usually the final size, so no regrowth; only a hint: over the max,
     * the appends report the limit */
    if (buf_reserve(out, len + 2) != 0)
        log_debug("dkim body canonicalization: no room reserved");
    canon_body_emit(c, body, len, &k);
    return canon_sink_end(&k);
}

int
dkim_canon_body_hash(enum dkim_canon c, const char *body, size_t len,
                     unsigned long long limit, unsigned char dig[32],
                     unsigned long long *canon_len)
{
    EVP_MD *sha = EVP_MD_fetch(NULL, "SHA256", NULL);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned int dl = 0;
    canon_sink k;
    int rc = -1;

    if (sha != NULL && md != NULL && EVP_DigestInit_ex(md, sha, NULL) == 1) {
        memset(&k, 0, offsetof(canon_sink, tmp));
        k.md = md;
        k.limit = limit;
        canon_body_emit(c, body, len, &k);
        if (canon_sink_end(&k) == 0 && EVP_DigestFinal_ex(md, dig, &dl) == 1 && dl == 32) {
            if (canon_len != NULL)
                *canon_len = k.total;
            rc = 0;
        }
    }
    EVP_MD_CTX_free(md);
    EVP_MD_free(sha);
    return rc;
}

char *
dkim_canon_strip_b(const char *raw, size_t len, size_t *outlen)
{
    size_t end = canon_field_end(raw, len), pos;
    const char *colon = memchr(raw, ':', end);

    if (colon == NULL)
        return NULL;
    pos = (size_t)(colon - raw) + 1;
    while (pos < end) {
        size_t ns, ne;
        while (pos < end && (canon_is_wsp(raw[pos]) || raw[pos] == '\r' || raw[pos] == '\n'))
            pos++;
        ns = pos;
        while (pos < end && raw[pos] != '=' && raw[pos] != ';'
               && !canon_is_wsp(raw[pos]) && raw[pos] != '\r' && raw[pos] != '\n')
            pos++;
        ne = pos;
        while (pos < end && raw[pos] != '=' && raw[pos] != ';')
            pos++;
        if (pos < end && raw[pos] == '=' && ne - ns == 1 && raw[ns] == 'b') {
            size_t vs = pos + 1, ve = vs;
            char *out;
            while (ve < end && raw[ve] != ';')
                ve++;
            out = xmalloc(end - (ve - vs) + 1);
            memcpy(out, raw, vs);
            memcpy(out + vs, raw + ve, end - ve);
            *outlen = end - (ve - vs);
            out[*outlen] = '\0';
            return out;
        }
        while (pos < end && raw[pos] != ';')
            pos++;
        if (pos < end)
            pos++;
    }
    return NULL;
}
