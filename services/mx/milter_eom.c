/*
 * milter_eom.c - the end of a message in milter mode: sender
 * authentication on the reassembled message (smtp_auth_message, the same
 * code as mx's own listener), the DMARC policy (550 5.7.1 / 451 4.7.0),
 * then either the header edits for the MTA (our old Authentication-Results
 * deleted by index, ours inserted at the top) or, in hand-off mode, the
 * durable commit to the spool (smtp_commit_message_client) and only then
 * SMFIS_DISCARD so the MTA drops its copy. See milter_server.h.
 *
 * SECURITY: the Authentication-Results fields to delete are found by
 * parsing the message as received with the header parser's limits; a
 * message whose header section does not parse keeps its fields (mx does
 * the same) and gets ours on top.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include "authres.h"
#include "hdr.h"
#include "log.h"
#include "xalloc.h"
#include "milter_conn.h"
#include "smtp_auth.h"

#define MILTER_HDR_MAX_FIELDS    1000
#define MILTER_HDR_MAX_FIELD_LEN (64 * 1024)
#define MILTER_AR_MAX            64      /* of ours deleted per message */
#define MILTER_AR_NAME           "Authentication-Results"

static size_t   milter_eom_ours(const buf *msg, const char *authserv_id, int *idx,
                                size_t max);
static char    *milter_eom_top_value(const buf *msg, int leadspc);
static sfsistat milter_eom_edit(SMFICTX *ctx, milter_conn *c, const int *idx, size_t n,
                                const buf *msg);
static sfsistat milter_eom_handoff(SMFICTX *ctx, milter_conn *c, const smtp_auth_outcome *o,
                                   double t0);
static double   milter_eom_now(void);

static double milter_eom_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The 1-based indexes (among the Authentication-Results fields, as
 * smfi_chgheader counts them) of the fields that claim authserv_id, in
 * increasing order. Returns how many (at most max). */
static size_t milter_eom_ours(const buf *msg, const char *authserv_id, int *idx, size_t max)
{
    const char *end = memmem(msg->data, msg->len, "\r\n\r\n", 4);
    size_t hlen = end != NULL ? (size_t)(end - msg->data) + 4 : msg->len;
    enum hdr_error err;
    hdr_msg *h = hdr_parse(msg->data, hlen, MILTER_HDR_MAX_FIELDS, MILTER_HDR_MAX_FIELD_LEN,
                           &err);
    if (h == NULL)
        return 0;
    size_t n = 0;
    long i;
    for (size_t nth = 0; n < max && (i = hdr_find(h, MILTER_AR_NAME, nth)) >= 0; nth++) {
        char *v = hdr_field_value(h, (size_t)i), id[256];
        if (v != NULL && authres_authserv_id(v, id, sizeof id) == 0 &&
            strcasecmp(id, authserv_id) == 0)
            idx[n++] = (int)nth + 1;
        free(v);
    }
    hdr_msg_free(h);
    return n;
}

/* The value of the topmost field of msg (our new Authentication-Results,
 * put there by smtp_auth_message), unfolded; with leadspc with the one
 * space the MTA then does not add. Caller frees; NULL if unparsable. */
static char *milter_eom_top_value(const buf *msg, int leadspc)
{
    const char *end = memmem(msg->data, msg->len, "\r\n\r\n", 4);
    size_t hlen = end != NULL ? (size_t)(end - msg->data) + 4 : msg->len;
    enum hdr_error err;
    hdr_msg *h = hdr_parse(msg->data, hlen, MILTER_HDR_MAX_FIELDS, MILTER_HDR_MAX_FIELD_LEN,
                           &err);
    char *v = NULL;
    if (h != NULL && h->nfields > 0 && h->fields[0].name_len == strlen(MILTER_AR_NAME) &&
        strncasecmp(h->fields[0].raw, MILTER_AR_NAME, h->fields[0].name_len) == 0)
        v = hdr_field_value(h, 0);
    hdr_msg_free(h);
    if (v != NULL && leadspc) {
        size_t n = strlen(v);
        char *s = xmalloc(n + 2);
        s[0] = ' ';
        memcpy(s + 1, v, n + 1);
        free(v);
        v = s;
    }
    return v;
}

/* Check mode: delete our old fields (from the last, so no index moves),
 * insert ours at the top. */
static sfsistat milter_eom_edit(SMFICTX *ctx, milter_conn *c, const int *idx, size_t n,
                                const buf *msg)
{
    for (size_t k = n; k > 0; k--) {
        if (smfi_chgheader(ctx, MILTER_AR_NAME, idx[k - 1], NULL) != MI_SUCCESS) {
            log_error("milter: the MTA refused to delete a header", "client", c->ip);
            milter_conn_refuse(ctx, c, "451", "4.3.0", "Error: header change failed, "
                               "try again later", "4.3.0");
            return SMFIS_TEMPFAIL;
        }
    }
    char *v = milter_eom_top_value(msg, c->leadspc);
    if (v == NULL) {
        log_warn("milter: no Authentication-Results to insert", "client", c->ip);
        return SMFIS_CONTINUE;
    }
    int rc = smfi_insheader(ctx, 0, MILTER_AR_NAME, v);
    free(v);
    if (rc != MI_SUCCESS) {
        log_error("milter: the MTA refused to insert a header", "client", c->ip);
        milter_conn_refuse(ctx, c, "451", "4.3.0", "Error: header change failed, "
                           "try again later", "4.3.0");
        return SMFIS_TEMPFAIL;
    }
    return SMFIS_CONTINUE;
}

/* Hand-off mode: store the message (its bytes move into a transaction
 * built from the envelope) and publish its rewrite job; DISCARD only after
 * the commit. */
static sfsistat milter_eom_handoff(SMFICTX *ctx, milter_conn *c, const smtp_auth_outcome *o,
                                   double t0)
{
    milter_server *ms = c->srv;
    milter_msg *m = c->msg;
    smtp_tx *tx = xcalloc(1, sizeof *tx);
    if (str_copy(tx->mail_from, sizeof tx->mail_from, m->mail_from) != 0)
        panic("milter: sender does not fit the transaction");
    tx->declared_size = -1;
    tx->rcpts = m->rcpts;                        /* borrowed from m */
    tx->nrcpts = m->nrcpts;
    tx->notify = xcalloc(m->nrcpts, sizeof *tx->notify);
    tx->orcpt = xcalloc(m->nrcpts, sizeof *tx->orcpt);
    tx->data.body = m->data;                     /* the bytes move to tx */
    memset(&m->data, 0, sizeof m->data);
    const char *tls = smfi_getsymval(ctx, "{tls_version}");
    smtp_commit_client cl = {
        .ip = c->ip, .helo = c->helo, .tls = tls != NULL && *tls != '\0',
        .proto = tls != NULL && *tls != '\0' ? "ESMTPS" : "ESMTP", .t0 = t0,
    };
    char qid[64];
    spool_jobs jobs;
    memset(&jobs, 0, sizeof jobs);
    int rc = smtp_commit_message_client(&ms->cenv, &cl, tx, o, qid, sizeof qid, &jobs);
    buf_release(&tx->data.body);
    free(tx->notify);
    free(tx->orcpt);
    free(tx);
    if (rc != 0) {
        milter_conn_refuse(ctx, c, "451", "4.3.0", "Error: queue file write error, "
                           "try again later", "4.3.0");
        return SMFIS_TEMPFAIL;
    }
    const char *mta_qid = smfi_getsymval(ctx, "i");
    log_info("milter: message handed off, the MTA discards its copy", "queue_id", qid,
             "mta_queue_id", mta_qid != NULL ? mta_qid : "", "client", c->ip);
    if (c->q == NULL) {
        char consumer[64];
        snprintf(consumer, sizeof consumer, "mx-milter-%d-%lu", (int)getpid(), c->no);
        c->q = jobq_create(ms->svc->redis_url, ms->svc->redis_password, consumer);
    }
    smtp_commit_publish(&ms->cenv, c->q, &jobs);
    return SMFIS_DISCARD;
}

sfsistat milter_eom_run(SMFICTX *ctx, milter_conn *c)
{
    milter_server *ms = c->srv;
    milter_msg *m = c->msg;
    double t0 = milter_eom_now();
    if (m->nrcpts == 0) {
        milter_conn_refuse(ctx, c, "554", "5.5.1", "Error: no valid recipients", "5.5.1");
        return SMFIS_REJECT;
    }
    if (milter_msg_eoh(m) != 0) {                /* a message without a body */
        milter_conn_refuse(ctx, c, "552", "5.3.4", "Message size exceeds fixed limit",
                           "5.3.4");
        return SMFIS_REJECT;
    }
    smtp_auth_outcome o;
    memset(&o, 0, sizeof o);
    int ours[MILTER_AR_MAX];
    size_t nours = 0;
    if (ms->cenv.auth != NULL) {
        nours = milter_eom_ours(&m->data, smtp_auth_authserv_id(ms->cenv.auth), ours,
                                MILTER_AR_MAX);
        if (smtp_auth_message(ms->cenv.auth, c->ip, c->helo, m->mail_from, m->rcpts,
                              m->nrcpts, &m->data, &o) != 0) {
            log_error("authentication header does not fit", "client", c->ip);
            milter_conn_refuse(ctx, c, "552", "5.3.4", "Message size exceeds fixed limit",
                               "5.3.4");
            return SMFIS_REJECT;
        }
        if (o.verdict != SMTP_AUTH_ACCEPT)
            log_info("message refused by DMARC", "client", c->ip, "from", m->mail_from,
                     "from_domain", o.dmarc_domain, "spf", o.spf, "dkim", o.dkim,
                     "dmarc", o.dmarc, "arc", o.arc);
        if (o.verdict == SMTP_AUTH_REJECT) {
            milter_conn_refuse(ctx, c, "550", "5.7.1", "Error: message rejected: the DMARC "
                               "policy of the From domain (p=reject) failed", "dmarc");
            return SMFIS_REJECT;
        }
        if (o.verdict == SMTP_AUTH_TEMPFAIL) {
            milter_conn_refuse(ctx, c, "451", "4.7.0", "Error: DMARC check failed "
                               "temporarily (DNS), try again later", "dmarc");
            return SMFIS_TEMPFAIL;
        }
    }
    if (ms->handoff)
        return milter_eom_handoff(ctx, c, &o, t0);
    sfsistat v = ms->cenv.auth != NULL ? milter_eom_edit(ctx, c, ours, nours, &m->data)
                                       : SMFIS_CONTINUE;
    if (v == SMFIS_CONTINUE) {
        const char *mta_qid = smfi_getsymval(ctx, "i");
        log_info("milter: message checked", "mta_queue_id", mta_qid != NULL ? mta_qid : "",
                 "client", c->ip, "from", m->mail_from, "spf", o.spf, "dkim", o.dkim,
                 "dmarc", o.dmarc, "arc", o.arc);
        if (ms->cenv.accept_seconds != NULL)
            metrics_histogram_observe(ms->cenv.accept_seconds, milter_eom_now() - t0);
    }
    return v;
}
