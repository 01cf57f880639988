/*
 * dkim_verify.c - DKIM signature verification (RFC 6376 §6), with
 * rsa-sha256 and ed25519-sha256 (RFC 8463) and the rules of RFC 8301
 * (no rsa-sha1, no RSA key under 1024 bits). Also verifies ARC's
 * ARC-Message-Signature (arc_mode) and, for ARC-Seal, a digest against a
 * key record (dkim_verify_digest).
 *
 * The key lookup is a callback (dkim_key_lookup_fn) so tests and the CLI
 * can answer it without DNS; dkim_dns.c has the DNS one.
 *
 * SECURITY: the message and key records are peer input. Limits: see
 * dkim.h (signatures, header fields, tags, h= names). Every error is a
 * result (permerror, temperror), never a crash.
 *
 * Owns: the temporary buffers of one verification.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>
#include <openssl/sha.h>

#include "dkim.h"
#include "xalloc.h"

#define VERIFY_MAX_RECS 8
#define VERIFY_BUF_MAX  (256u * 1024 * 1024)

static void res_set(dkim_result *res, const char *result, const char *reason);
static int parse_uint(const char *s, unsigned long long *out);
static int name_ok(const char *s, size_t max);
static const char *key_fetch(dkim_key_lookup_fn lookup, void *ctx, const char *domain,
                             const char *selector, enum dkim_algo algo,
                             dkim_pubkey **pk, int *strict, char *reason, size_t rlen);

static void
res_set(dkim_result *res, const char *result, const char *reason)
{
    snprintf(res->result, sizeof(res->result), "%s", result);
    snprintf(res->reason, sizeof(res->reason), "%s", reason);
}

static int
parse_uint(const char *s, unsigned long long *out)
{
    unsigned long long v = 0;

    if (s == NULL || *s == '\0' || strlen(s) > 19)
        return -1;
    for (; *s; s++) {
        if (!isdigit((unsigned char)*s))
            return -1;
        v = v * 10 + (unsigned long long)(*s - '0');
    }
    *out = v;
    return 0;
}

/* A domain or selector: letters, digits, '-', '_', '.', not empty. */
static int
name_ok(const char *s, size_t max)
{
    size_t n = strlen(s);

    if (n == 0 || n >= max || s[0] == '.')
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!(isalnum(c) || c == '-' || c == '_' || c == '.' || c >= 0x80))
            return 0;
    }
    return 1;
}

hdr_msg *
dkim_msg_parse(const char *msg, size_t len, char *err, size_t errlen)
{
    enum hdr_error he;
    hdr_msg *m = hdr_parse(msg, len, DKIM_MAX_HEADERS, DKIM_MAX_FIELD_LEN, &he);

    if (m == NULL)
        snprintf(err, errlen, "%s", he == HDR_ERR_LIMIT
                 ? "header section over the limits" : "header section cannot be parsed");
    return m;
}

/* Looks up and parses the key record. Returns NULL with *pk set, or the
 * result string (temperror, permerror, policy) with reason filled. */
static const char *
key_fetch(dkim_key_lookup_fn lookup, void *ctx, const char *domain, const char *selector,
          enum dkim_algo algo, dkim_pubkey **pk, int *strict, char *reason, size_t rlen)
{
    char name[512], *recs[VERIFY_MAX_RECS];
    size_t n = 0;
    const char *ret = NULL;
    dkim_tags t = { 0 };
    enum dkim_lookup_status st;

    *pk = NULL;
    *strict = 0;
    if (snprintf(name, sizeof(name), "%s._domainkey.%s", selector, domain) >= (int)sizeof(name)) {
        snprintf(reason, rlen, "key name too long");
        return "permerror";
    }
    st = lookup(ctx, name, recs, VERIFY_MAX_RECS, &n);
    if (st == DKIM_LOOKUP_TEMPFAIL) {
        snprintf(reason, rlen, "key lookup failed temporarily");
        return "temperror";
    }
    if (st != DKIM_LOOKUP_OK || n == 0) {
        snprintf(reason, rlen, "no key record at %s", name);
        return "permerror";
    }
    if (dkim_tags_parse(recs[0], strlen(recs[0]), &t, reason, rlen) != 0) {
        ret = "permerror";
        goto out;
    }
    {
        const char *v = dkim_tags_get(&t, "v"), *k = dkim_tags_get(&t, "k");
        const char *h = dkim_tags_get(&t, "h"), *p = dkim_tags_get(&t, "p");
        const char *s = dkim_tags_get(&t, "s"), *fl = dkim_tags_get(&t, "t");
        const char *want = algo == DKIM_ALGO_ED25519_SHA256 ? "ed25519" : "rsa";
        unsigned char *der;
        size_t derlen;

        if (v != NULL && strcmp(v, "DKIM1") != 0) {
            snprintf(reason, rlen, "key record version is not DKIM1");
            ret = "permerror";
        } else if (strcmp(k != NULL ? k : "rsa", want) != 0) {
            snprintf(reason, rlen, "key type does not match a=");
            ret = "permerror";
        } else if (h != NULL && strstr(h, "sha256") == NULL) {
            snprintf(reason, rlen, "key record does not allow sha256");
            ret = "permerror";
        } else if (s != NULL && strchr(s, '*') == NULL && strstr(s, "email") == NULL) {
            snprintf(reason, rlen, "key record is not for email");
            ret = "permerror";
        } else if (p == NULL) {
            snprintf(reason, rlen, "key record has no p=");
            ret = "permerror";
        } else if (*p == '\0') {
            snprintf(reason, rlen, "key revoked");
            ret = "permerror";
        } else if ((der = dkim_b64_decode(p, strlen(p), &derlen)) == NULL) {
            snprintf(reason, rlen, "key record p= is not base64");
            ret = "permerror";
        } else {
            *pk = dkim_pubkey_create(algo, der, derlen);
            free(der);
            if (*pk == NULL) {
                snprintf(reason, rlen, "key record has an unusable key");
                ret = "permerror";
            } else if (algo == DKIM_ALGO_RSA_SHA256 && dkim_pubkey_bits(*pk) < 1024) {
                snprintf(reason, rlen, "RSA key of %d bits is under 1024 (RFC 8301)",
                         dkim_pubkey_bits(*pk));
                dkim_pubkey_free(*pk);
                *pk = NULL;
                ret = "policy";
            }
            if (fl != NULL && strchr(fl, 's') != NULL)
                *strict = 1;
        }
    }
out:
    dkim_tags_release(&t);
    for (size_t i = 0; i < n; i++)
        free(recs[i]);
    return ret;
}

int
dkim_hash_headers(const hdr_msg *m, const char *h, enum dkim_canon hc,
                  const char *sig_raw, size_t sig_len, unsigned char dig[32])
{
    char *names = xstrdup(h), *save = NULL, *tok;
    const char *used_names[DKIM_MAX_H_NAMES];
    size_t used_count[DKIM_MAX_H_NAMES], nused = 0, striplen;
    char *stripped;
    buf b;
    int rc = -1;

    buf_init(&b, VERIFY_BUF_MAX);
    for (tok = strtok_r(names, ":", &save); tok != NULL; tok = strtok_r(NULL, ":", &save)) {
        size_t k, have, tl, *used;
        char *e;

        while (*tok == ' ' || *tok == '\t' || *tok == '\r' || *tok == '\n')
            tok++;
        e = tok + strlen(tok);
        while (e > tok && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r' || e[-1] == '\n'))
            *--e = '\0';
        for (k = 0; k < nused; k++)
            if (strcasecmp(used_names[k], tok) == 0)
                break;
        if (k == nused) {
            if (nused >= DKIM_MAX_H_NAMES)
                goto out;
            used_names[nused] = tok;
            used_count[nused++] = 0;
        }
        used = &used_count[k];
        /* the (*used)-th instance counted from the bottom, in one pass */
        long idx = -1;
        have = *used;
        tl = strlen(tok);
        for (size_t fi = m->nfields; fi-- > 0;) {
            const hdr_field *f = &m->fields[fi];
            if (f->name_len == tl && strncasecmp(f->raw, tok, tl) == 0 && have-- == 0) {
                idx = (long)fi;
                break;
            }
        }
        if (idx < 0)
            continue;                  /* over-signed: no instance left */
        (*used)++;
        if (dkim_canon_header(hc, m->fields[idx].raw, m->fields[idx].raw_len, 0, &b) != 0)
            goto out;
    }
    stripped = dkim_canon_strip_b(sig_raw, sig_len, &striplen);
    if (stripped == NULL)
        goto out;
    rc = dkim_canon_header(hc, stripped, striplen, 1, &b);
    free(stripped);
    if (rc == 0)
        SHA256((const unsigned char *)b.data, b.len, dig);
out:
    buf_release(&b);
    free(names);
    return rc;
}

const char *
dkim_verify_digest(dkim_key_lookup_fn lookup, void *ctx, const char *domain,
                   const char *selector, enum dkim_algo algo, const unsigned char dig[32],
                   const char *b64sig, char *reason, size_t reasonlen)
{
    dkim_pubkey *pk;
    int strict, ok;
    unsigned char *sig;
    size_t siglen;
    const char *r;

    sig = dkim_b64_decode(b64sig, strlen(b64sig), &siglen);
    if (sig == NULL || siglen == 0) {
        free(sig);
        snprintf(reason, reasonlen, "b= is not base64");
        return "permerror";
    }
    r = key_fetch(lookup, ctx, domain, selector, algo, &pk, &strict, reason, reasonlen);
    if (r != NULL) {
        free(sig);
        return r;
    }
    ok = dkim_pubkey_verify_digest(pk, dig, sig, siglen);
    dkim_pubkey_free(pk);
    free(sig);
    if (!ok) {
        snprintf(reason, reasonlen, "signature did not verify");
        return "fail";
    }
    reason[0] = '\0';
    return "pass";
}

void
dkim_verify_field(dkim_key_lookup_fn lookup, void *ctx, const hdr_msg *m, size_t sig_index,
                  int arc_mode, time_t now, dkim_result *res)
{
    const hdr_field *f = &m->fields[sig_index];
    const char *colon = memchr(f->raw, ':', f->raw_len);
    dkim_tags t = { 0 };
    char err[128];
    const char *a, *b, *bh, *d, *s, *h, *c, *i, *l, *tt, *x, *r;
    enum dkim_canon hc, bc;
    enum dkim_algo algo;
    unsigned long long lval = 0, tval = 0, xval = 0;
    unsigned char dig[32], bdig[32], *bhraw = NULL;
    size_t bhlen = 0;
    unsigned long long clen = 0;
    int partial = 0;

    memset(res, 0, sizeof(*res));
    if (colon == NULL || dkim_tags_parse(colon + 1, f->raw_len - (size_t)(colon - f->raw) - 1,
                                         &t, err, sizeof(err)) != 0) {
        res_set(res, "permerror", colon == NULL ? "no value" : err);
        goto out;
    }
    a = dkim_tags_get(&t, "a"); b = dkim_tags_get(&t, "b"); bh = dkim_tags_get(&t, "bh");
    d = dkim_tags_get(&t, "d"); s = dkim_tags_get(&t, "s"); h = dkim_tags_get(&t, "h");
    c = dkim_tags_get(&t, "c"); i = dkim_tags_get(&t, "i"); l = dkim_tags_get(&t, "l");
    tt = dkim_tags_get(&t, "t"); x = dkim_tags_get(&t, "x");
    if (d != NULL)
        snprintf(res->domain, sizeof(res->domain), "%s", d);
    if (s != NULL)
        snprintf(res->selector, sizeof(res->selector), "%s", s);
    if (a != NULL)
        snprintf(res->algo, sizeof(res->algo), "%s", a);
    if (b != NULL) {
        size_t k = 0;
        for (const char *p = b; *p && k < 8; p++)
            if (!isspace((unsigned char)*p))
                res->header_b[k++] = *p;
        res->header_b[k] = '\0';
    }
    if (!arc_mode && (dkim_tags_get(&t, "v") == NULL || strcmp(dkim_tags_get(&t, "v"), "1") != 0)) {
        res_set(res, "permerror", "missing or unknown v=");
        goto out;
    }
    if (a == NULL || b == NULL || bh == NULL || d == NULL || s == NULL || h == NULL) {
        res_set(res, "permerror", "missing a required tag (a b bh d h s)");
        goto out;
    }
    if (arc_mode && i == NULL) {
        res_set(res, "permerror", "missing i=");
        goto out;
    }
    if (strcmp(a, "rsa-sha256") == 0) {
        algo = DKIM_ALGO_RSA_SHA256;
    } else if (strcmp(a, "ed25519-sha256") == 0) {
        algo = DKIM_ALGO_ED25519_SHA256;
    } else if (strcmp(a, "rsa-sha1") == 0) {
        res_set(res, "permerror", "rsa-sha1 is not accepted (RFC 8301)");
        goto out;
    } else {
        res_set(res, "permerror", "unknown algorithm");
        goto out;
    }
    if (!name_ok(d, sizeof(res->domain)) || !name_ok(s, sizeof(res->selector))) {
        res_set(res, "permerror", "bad d= or s=");
        goto out;
    }
    if (dkim_canon_parse(c, &hc, &bc) != 0) {
        res_set(res, "permerror", "unknown canonicalization");
        goto out;
    }
    {
        char *hl = xstrdup(h), *sv = NULL, *tok;
        int from = 0;
        size_t cnt = 0;
        for (tok = strtok_r(hl, ":", &sv); tok != NULL; tok = strtok_r(NULL, ":", &sv)) {
            while (isspace((unsigned char)*tok))
                tok++;
            size_t tl = strlen(tok);
            while (tl > 0 && isspace((unsigned char)tok[tl - 1]))
                tl--;
            if (tl == 4 && strncasecmp(tok, "from", 4) == 0)
                from = 1;
            if (arc_mode && tl == 8 && strncasecmp(tok, "arc-seal", 8) == 0)
                from = -100;
            cnt++;
        }
        free(hl);
        if (cnt == 0 || cnt > DKIM_MAX_H_NAMES || (!arc_mode && from <= 0) || from < 0) {
            res_set(res, "permerror", cnt > DKIM_MAX_H_NAMES ? "h= lists too many fields"
                    : from < 0 ? "h= includes ARC-Seal" : "h= does not include From");
            goto out;
        }
    }
    if (!arc_mode && i != NULL) {
        const char *at = strrchr(i, '@');
        size_t dl = strlen(d), il;
        const char *idom = at != NULL ? at + 1 : NULL;
        il = idom != NULL ? strlen(idom) : 0;
        if (idom == NULL || il < dl || strcasecmp(idom + il - dl, d) != 0
            || (il > dl && idom[il - dl - 1] != '.')) {
            res_set(res, "permerror", "i= is not in d=");
            goto out;
        }
    }
    if ((l != NULL && parse_uint(l, &lval) != 0) || (tt != NULL && parse_uint(tt, &tval) != 0)
        || (x != NULL && parse_uint(x, &xval) != 0)) {
        res_set(res, "permerror", "bad l=, t= or x=");
        goto out;
    }
    if (tt != NULL && x != NULL && xval < tval) {
        res_set(res, "permerror", "x= is before t=");
        goto out;
    }
    if (x != NULL && (unsigned long long)now > xval) {
        res_set(res, "fail", "signature expired");
        goto out;
    }
    bhraw = dkim_b64_decode(bh, strlen(bh), &bhlen);
    if (bhraw == NULL) {
        res_set(res, "permerror", "bh= is not base64");
        goto out;
    }
    if (dkim_canon_body_hash(bc, m->body, m->body_len, l != NULL ? lval : DKIM_BODY_ALL,
                             bdig, &clen) != 0) {
        res_set(res, "temperror", "cannot hash the body");
        goto out;
    }
    if (l != NULL) {
        if (lval > clen) {
            res_set(res, "fail", "l= is longer than the body");
            goto out;
        }
        if (lval < clen)
            partial = 1;
    }
    if (bhlen != 32 || memcmp(bdig, bhraw, 32) != 0) {
        res_set(res, "fail", "body hash did not verify");
        goto out;
    }
    if (dkim_hash_headers(m, h, hc, f->raw, f->raw_len, dig) != 0) {
        res_set(res, "permerror", "cannot hash the signed header fields");
        goto out;
    }
    {
        dkim_pubkey *pk;
        int strict, ok;
        unsigned char *sig;
        size_t siglen;
        char reason[160];

        r = key_fetch(lookup, ctx, d, s, algo, &pk, &strict, reason, sizeof(reason));
        if (r != NULL) {
            res_set(res, r, reason);
            goto out;
        }
        if (strict && i != NULL && strcasecmp(strrchr(i, '@') + 1, d) != 0) {
            dkim_pubkey_free(pk);
            res_set(res, "permerror", "key requires i= domain equal to d= (t=s)");
            goto out;
        }
        sig = dkim_b64_decode(b, strlen(b), &siglen);
        if (sig == NULL || siglen == 0) {
            free(sig);
            dkim_pubkey_free(pk);
            res_set(res, "permerror", "b= is not base64");
            goto out;
        }
        ok = dkim_pubkey_verify_digest(pk, dig, sig, siglen);
        free(sig);
        dkim_pubkey_free(pk);
        if (!ok) {
            res_set(res, "fail", "signature did not verify");
            goto out;
        }
        res_set(res, "pass", partial ? "l= covers only part of the body" : "");
    }
out:
    if (partial && res->reason[0] == '\0')
        snprintf(res->reason, sizeof(res->reason), "l= covers only part of the body");
    free(bhraw);
    dkim_tags_release(&t);
}

int
dkim_verify_message_cb(dkim_key_lookup_fn lookup, void *ctx, const char *msg, size_t len,
                       time_t now, dkim_result **out, size_t *n)
{
    char err[128];
    hdr_msg *m = dkim_msg_parse(msg, len, err, sizeof(err));
    size_t count;

    *out = NULL;
    *n = 0;
    if (m == NULL)
        return -1;
    count = hdr_count(m, "DKIM-Signature");
    if (count > DKIM_MAX_SIGS)
        count = DKIM_MAX_SIGS;
    if (count > 0)
        *out = xcalloc(count, sizeof(dkim_result));
    for (size_t k = 0; k < count; k++) {
        long idx = hdr_find(m, "DKIM-Signature", k);
        if (idx < 0)
            break;
        dkim_verify_field(lookup, ctx, m, (size_t)idx, 0, now, &(*out)[k]);
        (*n)++;
    }
    hdr_msg_free(m);
    return 0;
}
