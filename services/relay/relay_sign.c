/*
 * relay_sign.c - the last change to a message before it leaves: an ARC set
 * (RFC 8617) when we forwarded or modified it, then our DKIM signatures
 * (RFC 6376, rsa-sha256 and ed25519-sha256 of RFC 8463), relaxed/relaxed.
 *
 * Signing domain: the From header's domain when we hold active keys for
 * it, else the envelope sender's (our SRS or list -bounces domain). Each
 * algorithm is signed with the domain's newest active key of it.
 *
 * Sealing: when the envelope sender is an SRS address (SRS0=/SRS1=, an
 * alias forward) or the message was made by lists (origin "lists"); never
 * for mail we originated (DSNs). The incoming chain is verified first; a
 * chain that failed (or a newest seal with cv=fail, or 50 sets) is not
 * sealed. The AAR carries the topmost Authentication-Results field whose
 * authserv-id is ours (MAILYARD_HOSTNAME), else "none". ARC is rsa only.
 * ARC fields go on first, then the DKIM signatures, whose h= does not list
 * ARC fields.
 *
 * Failures to sign are logged and the message goes out unchanged: a
 * missing signature is better than undelivered mail. Owns nothing beyond
 * the call; msg->raw is replaced (the message belongs to the job handler).
 *
 * SECURITY: the message is peer input (limits in dkim.h/arc.h); keys are
 * never logged.
 */
#include "relay.h"
#include "relay_dkim.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "addr.h"
#include "arc.h"
#include "authres.h"
#include "buf.h"
#include "log.h"
#include "xalloc.h"

#define SIGN_HEADERS \
    "from:to:cc:subject:date:message-id:reply-to:list-id:list-unsubscribe:" \
    "list-unsubscribe-post:mime-version:content-type:content-transfer-encoding"
#define SIGN_AR_MAX 4000

static int  sign_from_domain(const hdr_msg *m, char *out, size_t outlen);
static char *sign_our_authres(const hdr_msg *m, const char *authserv_id);
static int  sign_prepend(spool_message *msg, const char *fields, size_t flen);
static enum dkim_lookup_status sign_no_dns(void *ctx, const char *name, char **recs,
                                           size_t max, size_t *n);
static int  sign_is_srs(const char *mail_from);

int relay_sign_message(relay_state *st, worker_job_ctx *ctx, spool_message *msg,
                       const char *mail_from)
{
    char err[256], domain[RELAY_DKIM_DOMAIN_MAX + 1] = "";
    int rc = 0;

    relay_dkim_snapshot *snap = relay_dkim_snapshot_get(st->dkim, ctx->db);
    if (snap == NULL)
        return -1;
    hdr_msg *m = dkim_msg_parse(msg->raw, msg->raw_len, err, sizeof(err));
    if (m == NULL) {
        log_warn("message not signed: unparsable header", "queue_id", msg->queue_id,
                 "error", err);
        goto out;
    }
    /* 1. The signing domain. */
    if (sign_from_domain(m, domain, sizeof(domain)) != 0 ||
        (relay_dkim_snapshot_find(snap, domain, DKIM_ALGO_RSA_SHA256) == NULL &&
         relay_dkim_snapshot_find(snap, domain, DKIM_ALGO_ED25519_SHA256) == NULL)) {
        const char *d = mail_from[0] != '\0' ? addr_domain(mail_from) : NULL;
        if (d == NULL || str_copy(domain, sizeof(domain), d) != 0)
            domain[0] = '\0';
    }
    const relay_dkim_entry *rsa = relay_dkim_snapshot_find(snap, domain, DKIM_ALGO_RSA_SHA256);
    const relay_dkim_entry *ed = relay_dkim_snapshot_find(snap, domain,
                                                          DKIM_ALGO_ED25519_SHA256);
    if (rsa == NULL && ed == NULL)
        goto out;

    /* 2. ARC for forwarded or list mail. */
    int forwarded = sign_is_srs(mail_from) ||
                    (msg->origin != NULL && strcmp(msg->origin, "lists") == 0);
    if (forwarded && rsa != NULL) {
        arc_result ar;
        if (st->dns != NULL)
            (void)arc_verify_message(st->dns, msg->raw, msg->raw_len, time(NULL), &ar);
        else
            (void)arc_verify_message_cb(sign_no_dns, NULL, msg->raw, msg->raw_len,
                                        time(NULL), &ar);
        char *aar = sign_our_authres(m, st->hostname);
        char *fields = NULL;
        int sr = 1;
        if (strcmp(ar.cv, "fail") == 0)
            snprintf(err, sizeof(err), "incoming ARC chain failed: %s", ar.reason);
        else
            sr = arc_seal(rsa->key, rsa->domain, rsa->selector, st->hostname, aar, 0,
                          SIGN_HEADERS, ar.cv, msg->raw, msg->raw_len, &fields, err,
                          sizeof(err));
        free(aar);
        if (sr == 0) {
            int pr = sign_prepend(msg, fields, strlen(fields));
            free(fields);
            json_t *d = json_pack("{s:s, s:s, s:i, s:s}", "d", rsa->domain, "s",
                                  rsa->selector, "i", ar.instances + 1, "cv", ar.cv);
            if (pr == 0 && d != NULL &&
                spool_event(ctx->db, msg->id, ctx->job->id, "relay", "arc_sealed", d) != 0)
                rc = -1;
            json_decref(d);
            if (rc != 0)
                goto out;
            hdr_msg_free(m);
            m = NULL;
        } else {
            log_info("message not ARC-sealed", "queue_id", msg->queue_id, "error", err);
        }
    }

    /* 3. DKIM, rsa then ed25519 (each signature is on top of the message). */
    const relay_dkim_entry *keys[2] = { rsa, ed };
    dkim_body_hash bh = { 0 };          /* one body hash for both signatures */
    for (size_t k = 0; k < 2; k++) {
        if (keys[k] == NULL)
            continue;
        char *value = NULL;
        if (dkim_sign_shared(keys[k]->key, keys[k]->domain, keys[k]->selector, SIGN_HEADERS,
                             0, msg->raw, msg->raw_len, &bh, &value, err, sizeof(err)) != 0) {
            log_warn("DKIM signing failed", "queue_id", msg->queue_id, "error", err);
            continue;
        }
        buf f;
        buf_init(&f, 64 * 1024);
        int bad = buf_printf(&f, "DKIM-Signature: %s\r\n", value) < 0;
        free(value);
        bad = bad || sign_prepend(msg, f.data, f.len) != 0;
        buf_release(&f);
        if (bad)
            continue;
        json_t *d = json_pack("{s:s, s:s, s:s}", "d", keys[k]->domain, "s",
                              keys[k]->selector, "a", dkim_algo_name(keys[k]->algo));
        int ev = d != NULL ? spool_event(ctx->db, msg->id, ctx->job->id, "relay",
                                         "dkim_signed", d) : 0;
        json_decref(d);
        if (ev != 0) {
            rc = -1;
            goto out;
        }
    }
out:
    hdr_msg_free(m);
    relay_dkim_snapshot_release(snap);
    return rc;
}

/* The domain of the (first) From address: the part after the last '@'
 * inside <...>, or of the bare value. */
static int sign_from_domain(const hdr_msg *m, char *out, size_t outlen)
{
    char *v = hdr_get_value(m, "From");
    if (v == NULL)
        return -1;
    char *a = strrchr(v, '<');
    char *s = a != NULL ? a + 1 : v;
    char *at = strrchr(s, '@');
    int rc = -1;
    if (at != NULL) {
        size_t l = strcspn(at + 1, "> \t\r\n,;()");
        if (l > 0 && l < outlen) {
            memcpy(out, at + 1, l);
            out[l] = '\0';
            rc = 0;
        }
    }
    free(v);
    return rc;
}

/* The results text of the topmost Authentication-Results field of ours
 * (after "authserv-id;"), unfolded; NULL when there is none. */
static char *sign_our_authres(const hdr_msg *m, const char *authserv_id)
{
    for (size_t i = 0; i < m->nfields; i++) {
        if (m->fields[i].name_len != 22 ||
            strncasecmp(m->fields[i].raw, "Authentication-Results", 22) != 0)
            continue;
        char *v = hdr_field_value(m, i);
        char id[256];
        if (v == NULL)
            continue;
        if (authres_authserv_id(v, id, sizeof(id)) != 0 || strcasecmp(id, authserv_id) != 0) {
            free(v);
            continue;
        }
        char *semi = strchr(v, ';');
        char *res = NULL;
        if (semi != NULL && strlen(semi + 1) <= SIGN_AR_MAX) {
            const char *p = semi + 1;
            res = xcalloc(strlen(p) + 1, 1);
            size_t o = 0;
            for (; *p != '\0'; p++) {        /* unfold; collapse white space */
                char c = (*p == '\r' || *p == '\n' || *p == '\t') ? ' ' : *p;
                if (c == ' ' && (o == 0 || res[o - 1] == ' '))
                    continue;
                res[o++] = c;
            }
            while (o > 0 && res[o - 1] == ' ')
                o--;
            res[o] = '\0';
            if (o == 0 || strcmp(res, "none") == 0) {
                free(res);
                res = NULL;
            }
        }
        free(v);
        return res;
    }
    return NULL;
}

/* Puts fields (complete lines ending in CRLF) on top of msg->raw, in the
 * message's own line ends. */
static int sign_prepend(spool_message *msg, const char *fields, size_t flen)
{
    int lf_only = memchr(msg->raw, '\r', msg->raw_len < 4096 ? msg->raw_len : 4096) == NULL &&
                  memchr(msg->raw, '\n', msg->raw_len) != NULL;
    char *n = malloc(flen + msg->raw_len + 1);
    if (n == NULL)
        return -1;
    size_t o = 0;
    for (size_t i = 0; i < flen; i++) {
        if (lf_only && fields[i] == '\r' && i + 1 < flen && fields[i + 1] == '\n')
            continue;
        n[o++] = fields[i];
    }
    memcpy(n + o, msg->raw, msg->raw_len);
    o += msg->raw_len;
    n[o] = '\0';
    free(msg->raw);
    msg->raw = n;
    msg->raw_len = o;
    return 0;
}

/* Without a resolver every key lookup is a temporary failure: an incoming
 * chain then cannot pass and is not sealed. */
static enum dkim_lookup_status sign_no_dns(void *ctx, const char *name, char **recs,
                                           size_t max, size_t *n)
{
    (void)ctx;
    (void)name;
    (void)recs;
    (void)max;
    *n = 0;
    return DKIM_LOOKUP_TEMPFAIL;
}

static int sign_is_srs(const char *mail_from)
{
    return strncasecmp(mail_from, "SRS0=", 5) == 0 || strncasecmp(mail_from, "SRS1=", 5) == 0 ||
           strncasecmp(mail_from, "SRS0+", 5) == 0 || strncasecmp(mail_from, "SRS0-", 5) == 0;
}
