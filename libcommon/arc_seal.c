/*
 * arc_seal.c - ARC sealing (RFC 8617 §5.1): adds the set i=N+1 to a
 * message: ARC-Authentication-Results (our results), ARC-Message-Signature
 * (a DKIM-like signature, relaxed/relaxed, without ARC fields in h=) and
 * ARC-Seal over all sets in order, with the cv the caller's verification
 * found. No seal after a cv=fail, at most ARC_MAX_SETS sets.
 *
 * Owns: a parsed copy of the message during sealing.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arc.h"
#include "xalloc.h"

typedef struct seal_ctx {
    hdr_msg *m;
    int      inst;
} seal_ctx;

static int seal_digest(void *ctx, const char *field_name, const char *folded_no_b,
                       unsigned char dig[32]);
static int seal_last_cv_fail(const hdr_msg *m, const arc_chain *c);

static int
seal_digest(void *ctx, const char *field_name, const char *folded_no_b, unsigned char dig[32])
{
    seal_ctx *sc = ctx;
    arc_chain c;
    char reason[160];
    buf raw;
    int rc;

    if (arc_chain_collect(sc->m, &c, reason, sizeof(reason)) != 0)
        return -1;
    buf_init(&raw, 1024 * 1024);
    if (buf_printf(&raw, "%s: %s", field_name, folded_no_b) != 0) {
        buf_release(&raw);
        return -1;
    }
    rc = arc_chain_digest(sc->m, &c, sc->inst, raw.data, raw.len, dig);
    buf_release(&raw);
    return rc;
}

static int
seal_last_cv_fail(const hdr_msg *m, const arc_chain *c)
{
    const hdr_field *f;
    const char *colon, *cv;
    dkim_tags t;
    char err[64];
    int fail;

    if (c->n == 0 || c->as[c->n] < 0)
        return 0;
    f = &m->fields[c->as[c->n]];
    colon = memchr(f->raw, ':', f->raw_len);
    if (colon == NULL || dkim_tags_parse(colon + 1, f->raw_len - (size_t)(colon - f->raw) - 1,
                                         &t, err, sizeof(err)) != 0)
        return 1;
    cv = dkim_tags_get(&t, "cv");
    fail = cv == NULL || strcmp(cv, "fail") == 0;
    dkim_tags_release(&t);
    return fail;
}

int
arc_seal(const dkim_key *key, const char *domain, const char *selector,
         const char *authserv_id, const char *auth_results, time_t timestamp,
         const char *headers, const char *chain_cv, const char *msg, size_t len,
         char **fields, char *err, size_t errlen)
{
    hdr_msg *m;
    arc_chain c;
    char tags[1024], *aar = NULL, *ams = NULL, *as = NULL, *aar_folded = NULL;
    const char *cv;
    int inst, rc = -1;
    buf out, aarv;
    seal_ctx sc;

    *fields = NULL;
    if (strpbrk(domain, "; \t\r\n") != NULL || strpbrk(selector, "; \t\r\n") != NULL
        || *domain == '\0' || *selector == '\0' || strpbrk(authserv_id, "; \t\r\n") != NULL
        || *authserv_id == '\0'
        || (auth_results != NULL && strpbrk(auth_results, "\r\n") != NULL)) {
        snprintf(err, errlen, "bad domain, selector, authserv-id or results text");
        return -1;
    }
    if (dkim_key_algo(key) != DKIM_ALGO_RSA_SHA256) {
        snprintf(err, errlen, "ARC seals use rsa-sha256 (RFC 8617): give an RSA key");
        return -1;
    }
    m = dkim_msg_parse(msg, len, err, errlen);
    if (m == NULL)
        return -1;
    if (arc_chain_collect(m, &c, err, errlen) != 0) {
        hdr_msg_free(m);
        return 1;
    }
    for (int i = 1; i <= c.n; i++)
        if (c.aar[i] < 0 || c.ams[i] < 0 || c.as[i] < 0) {
            snprintf(err, errlen, "the ARC chain is broken (set %d incomplete)", i);
            hdr_msg_free(m);
            return 1;
        }
    if (seal_last_cv_fail(m, &c)) {
        snprintf(err, errlen, "the newest ARC-Seal says cv=fail: not sealing");
        hdr_msg_free(m);
        return 1;
    }
    if (c.n >= ARC_MAX_SETS) {
        snprintf(err, errlen, "the message already has %d ARC sets", ARC_MAX_SETS);
        hdr_msg_free(m);
        return 1;
    }
    inst = c.n + 1;
    if (c.n == 0) {
        cv = "none";
    } else if (chain_cv != NULL && (strcmp(chain_cv, "pass") == 0 || strcmp(chain_cv, "fail") == 0)) {
        cv = chain_cv;
    } else {
        snprintf(err, errlen, "the message has an ARC chain: its cv (pass or fail) is needed");
        hdr_msg_free(m);
        return -1;
    }
    if (timestamp == 0)
        timestamp = time(NULL);
    /* AAR */
    buf_init(&aarv, 64 * 1024);
    if (buf_printf(&aarv, "i=%d; %s; %s", inst, authserv_id,
                   auth_results != NULL && *auth_results ? auth_results : "none") != 0) {
        snprintf(err, errlen, "results text too long");
        buf_release(&aarv);
        goto out;
    }
    aar_folded = dkim_fold("ARC-Authentication-Results", aarv.data);
    buf_release(&aarv);
    if (aar_folded == NULL || hdr_add_top(m, "ARC-Authentication-Results", aar_folded) != 0) {
        snprintf(err, errlen, "cannot add the AAR");
        goto out;
    }
    /* AMS */
    if (snprintf(tags, sizeof(tags), "i=%d; a=%s; c=relaxed/relaxed; d=%s; s=%s; t=%lld;",
                 inst, dkim_algo_name(dkim_key_algo(key)), domain, selector,
                 (long long)timestamp) >= (int)sizeof(tags)) {
        snprintf(err, errlen, "domain or selector too long");
        goto out;
    }
    if (dkim_sign_field(key, m, "ARC-Message-Signature", tags, headers, 1, &ams, err, errlen) != 0)
        goto out;
    if (hdr_add_top(m, "ARC-Message-Signature", ams) != 0) {
        snprintf(err, errlen, "cannot add the AMS");
        goto out;
    }
    /* AS */
    if (snprintf(tags, sizeof(tags), "i=%d; a=%s; cv=%s; d=%s; s=%s; t=%lld;",
                 inst, dkim_algo_name(dkim_key_algo(key)), cv, domain, selector,
                 (long long)timestamp) >= (int)sizeof(tags)) {
        snprintf(err, errlen, "domain or selector too long");
        goto out;
    }
    sc.m = m;
    sc.inst = inst;
    as = dkim_sign_value_cb(key, "ARC-Seal", tags, seal_digest, &sc);
    if (as == NULL) {
        snprintf(err, errlen, "sealing failed");
        goto out;
    }
    buf_init(&out, 1024 * 1024);
    if (buf_printf(&out, "ARC-Seal: %s\r\nARC-Message-Signature: %s\r\n"
                   "ARC-Authentication-Results: %s\r\n", as, ams, aar_folded) != 0) {
        snprintf(err, errlen, "fields too long");
        buf_release(&out);
        goto out;
    }
    *fields = buf_steal(&out, NULL);
    buf_release(&out);
    rc = 0;
out:
    free(aar);
    free(ams);
    free(as);
    free(aar_folded);
    hdr_msg_free(m);
    return rc;
}
