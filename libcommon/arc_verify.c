/*
 * arc_verify.c - ARC chain verification (RFC 8617 §5.2): structure,
 * the newest ARC-Message-Signature, every ARC-Seal, cv and oldest-pass.
 * Also the chain collection and seal digest shared with arc_seal.c.
 *
 * SECURITY: peer input; at most ARC_MAX_SETS sets, every other limit from
 * dkim.h. A broken chain is a result (cv=fail with a reason).
 *
 * Owns: the parsed message of one verification.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/sha.h>

#include "arc.h"
#include "xalloc.h"

#define ARC_BUF_MAX (16u * 1024 * 1024)

static int arc_instance(const hdr_msg *m, size_t idx, int is_aar);
static void arc_fail(arc_result *out, const char *why);

/* The i= of an ARC field, or -1. The AAR's value starts with "i=N;"; the
 * AMS and AS are tag lists. */
static int
arc_instance(const hdr_msg *m, size_t idx, int is_aar)
{
    const hdr_field *f = &m->fields[idx];
    const char *p = memchr(f->raw, ':', f->raw_len), *end = f->raw + f->raw_len;
    dkim_tags t;
    char err[64];
    int v = 0, digits = 0;

    if (p == NULL)
        return -1;
    p++;
    if (!is_aar) {
        const char *iv;
        if (dkim_tags_parse(p, (size_t)(end - p), &t, err, sizeof(err)) != 0)
            return -1;
        iv = dkim_tags_get(&t, "i");
        if (iv != NULL)
            for (; *iv && digits < 3; iv++, digits++) {
                if (!isdigit((unsigned char)*iv)) {
                    digits = 0;
                    break;
                }
                v = v * 10 + (*iv - '0');
            }
        if (iv == NULL || *iv != '\0')
            digits = 0;
        dkim_tags_release(&t);
    } else {
        while (p < end && isspace((unsigned char)*p))
            p++;
        if (p >= end || *p != 'i')
            return -1;
        p++;
        while (p < end && isspace((unsigned char)*p))
            p++;
        if (p >= end || *p != '=')
            return -1;
        p++;
        while (p < end && isspace((unsigned char)*p))
            p++;
        for (; p < end && isdigit((unsigned char)*p) && digits < 3; p++, digits++)
            v = v * 10 + (*p - '0');
        while (p < end && isspace((unsigned char)*p))
            p++;
        if (p >= end || *p != ';')
            digits = 0;
    }
    if (digits == 0 || v < 1 || v > ARC_MAX_SETS)
        return -1;
    return v;
}

int
arc_chain_collect(const hdr_msg *m, arc_chain *c, char *reason, size_t rlen)
{
    c->n = 0;
    for (int i = 0; i <= ARC_MAX_SETS; i++)
        c->aar[i] = c->ams[i] = c->as[i] = -1;
    for (size_t k = 0; k < m->nfields; k++) {
        const hdr_field *f = &m->fields[k];
        long *slot;
        int is_aar = 0, inst;

        if (f->name_len == 26 && strncasecmp(f->raw, "ARC-Authentication-Results", 26) == 0) {
            slot = c->aar;
            is_aar = 1;
        } else if (f->name_len == 21 && strncasecmp(f->raw, "ARC-Message-Signature", 21) == 0) {
            slot = c->ams;
        } else if (f->name_len == 8 && strncasecmp(f->raw, "ARC-Seal", 8) == 0) {
            slot = c->as;
        } else {
            continue;
        }
        inst = arc_instance(m, k, is_aar);
        if (inst < 0) {
            snprintf(reason, rlen, "ARC field with a bad or missing i=");
            return -1;
        }
        if (slot[inst] >= 0) {
            snprintf(reason, rlen, "two ARC fields of one kind with i=%d", inst);
            return -1;
        }
        slot[inst] = (long)k;
        if (inst > c->n)
            c->n = inst;
    }
    return 0;
}

int
arc_chain_digest(const hdr_msg *m, const arc_chain *c, int upto, const char *last_as,
                 size_t last_as_len, unsigned char dig[32])
{
    buf b;
    char *stripped;
    size_t slen;
    int rc = 0;

    buf_init(&b, ARC_BUF_MAX);
    for (int i = 1; i <= upto && rc == 0; i++) {
        const hdr_field *aar, *ams;
        if (c->aar[i] < 0 || c->ams[i] < 0 || (i < upto && c->as[i] < 0)) {
            rc = -1;
            break;
        }
        aar = &m->fields[c->aar[i]];
        ams = &m->fields[c->ams[i]];
        rc |= dkim_canon_header(DKIM_CANON_RELAXED, aar->raw, aar->raw_len, 0, &b);
        rc |= dkim_canon_header(DKIM_CANON_RELAXED, ams->raw, ams->raw_len, 0, &b);
        if (i < upto) {
            const hdr_field *as = &m->fields[c->as[i]];
            rc |= dkim_canon_header(DKIM_CANON_RELAXED, as->raw, as->raw_len, 0, &b);
        }
    }
    if (rc == 0) {
        stripped = dkim_canon_strip_b(last_as, last_as_len, &slen);
        if (stripped == NULL)
            rc = -1;
        else
            rc = dkim_canon_header(DKIM_CANON_RELAXED, stripped, slen, 1, &b);
        free(stripped);
    }
    if (rc == 0)
        SHA256((const unsigned char *)b.data, b.len, dig);
    buf_release(&b);
    return rc;
}

static void
arc_fail(arc_result *out, const char *why)
{
    snprintf(out->cv, sizeof(out->cv), "fail");
    snprintf(out->reason, sizeof(out->reason), "%s", why);
    out->oldest_pass = 0;
}

int
arc_verify_message_cb(dkim_key_lookup_fn lookup, void *ctx, const char *msg, size_t len,
                      time_t now, arc_result *out)
{
    char reason[160];
    hdr_msg *m;
    arc_chain c;
    dkim_result r;

    memset(out, 0, sizeof(*out));
    m = dkim_msg_parse(msg, len, reason, sizeof(reason));
    if (m == NULL) {
        arc_fail(out, reason);
        return -1;
    }
    if (arc_chain_collect(m, &c, reason, sizeof(reason)) != 0) {
        arc_fail(out, reason);
        goto done;
    }
    out->instances = c.n;
    if (c.n == 0) {
        snprintf(out->cv, sizeof(out->cv), "none");
        goto done;
    }
    for (int i = 1; i <= c.n; i++) {
        if (c.aar[i] < 0 || c.ams[i] < 0 || c.as[i] < 0) {
            snprintf(reason, sizeof(reason), "ARC set %d is incomplete", i);
            arc_fail(out, reason);
            goto done;
        }
    }
    /* every AS: tags, cv rule, signature (newest first) */
    for (int i = c.n; i >= 1; i--) {
        const hdr_field *f = &m->fields[c.as[i]];
        const char *colon = memchr(f->raw, ':', f->raw_len);
        dkim_tags t;
        const char *cv, *a, *d, *s, *b, *res;
        unsigned char dig[32];

        if (dkim_tags_parse(colon + 1, f->raw_len - (size_t)(colon - f->raw) - 1, &t,
                            reason, sizeof(reason)) != 0) {
            arc_fail(out, reason);
            goto done;
        }
        cv = dkim_tags_get(&t, "cv"); a = dkim_tags_get(&t, "a");
        d = dkim_tags_get(&t, "d"); s = dkim_tags_get(&t, "s"); b = dkim_tags_get(&t, "b");
        if (i == c.n && d != NULL)
            snprintf(out->domain, sizeof(out->domain), "%s", d);
        if (cv == NULL || a == NULL || d == NULL || s == NULL || b == NULL
            || dkim_tags_get(&t, "h") != NULL) {
            arc_fail(out, "ARC-Seal is missing a tag or has h=");
        } else if (i == c.n && strcmp(cv, "fail") == 0) {
            arc_fail(out, "the newest ARC-Seal says cv=fail");
        } else if (strcmp(cv, i == 1 ? "none" : "pass") != 0) {
            snprintf(reason, sizeof(reason), "ARC-Seal i=%d has cv=%s", i, cv);
            arc_fail(out, reason);
        } else if (strcmp(a, "rsa-sha256") != 0 && strcmp(a, "ed25519-sha256") != 0) {
            arc_fail(out, "ARC-Seal with an unsupported algorithm");
        } else if (arc_chain_digest(m, &c, i, f->raw, f->raw_len, dig) != 0) {
            arc_fail(out, "cannot hash the ARC sets");
        } else {
            res = dkim_verify_digest(lookup, ctx, d, s,
                                     strcmp(a, "rsa-sha256") == 0 ? DKIM_ALGO_RSA_SHA256
                                     : DKIM_ALGO_ED25519_SHA256,
                                     dig, b, reason, sizeof(reason));
            if (strcmp(res, "pass") != 0) {
                char why[160];
                snprintf(why, sizeof(why), "ARC-Seal i=%d: %s: %.100s", i, res, reason);
                arc_fail(out, why);
            }
        }
        dkim_tags_release(&t);
        if (out->cv[0] != '\0')
            goto done;
    }
    /* the newest AMS must verify; older ones give oldest-pass */
    dkim_verify_field(lookup, ctx, m, (size_t)c.ams[c.n], 1, now, &r);
    if (strcmp(r.result, "pass") != 0) {
        snprintf(reason, sizeof(reason), "ARC-Message-Signature i=%d: %s: %.100s", c.n,
                 r.result, r.reason);
        arc_fail(out, reason);
        goto done;
    }
    out->oldest_pass = c.n;
    for (int i = c.n - 1; i >= 1; i--) {
        dkim_verify_field(lookup, ctx, m, (size_t)c.ams[i], 1, now, &r);
        if (strcmp(r.result, "pass") != 0)
            break;
        out->oldest_pass = i;
    }
    snprintf(out->cv, sizeof(out->cv), "pass");
done:
    hdr_msg_free(m);
    return 0;
}
