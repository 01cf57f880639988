/*
 * smtp_commit.c - sender authentication (smtp_auth.c) + spam scan
 * (smtp_rspamd.c) + Received header +
 * spool insert + rewrite job + trace events in one transaction, then the publication after the reply. See
 * smtp_commit.h for the durability rule.
 *
 * SECURITY: the message bytes are stored as received (byte-exact after
 * dot-unstuffing); only the Message-ID value is read from them, with the
 * header parser's limits.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <jansson.h>
#include "hdr.h"
#include "jobq.h"
#include "log.h"
#include "worker.h"
#include "xalloc.h"
#include "smtp_received.h"
#include "smtp_commit.h"

#define SMTP_HDR_MAX_FIELDS    1000
#define SMTP_HDR_MAX_FIELD_LEN (64 * 1024)
#define SMTP_MESSAGE_ID_MAX    998

static double smtp_commit_now(void);
static json_t *smtp_commit_rcpt_dsn(const smtp_tx *tx);
static int    smtp_commit_store(db_conn *c, spool_message *m, const smtp_commit_client *s,
                                const smtp_auth_outcome *auth, spool_jobs *jobs);
static int    smtp_commit_auth(const smtp_commit_env *env, const smtp_session *s,
                               smtp_tx *tx, smtp_auth_outcome *auth);
static int    smtp_commit_spam(const smtp_commit_env *env, const smtp_session *s,
                               smtp_tx *tx, const char *qid);

static double smtp_commit_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

char *smtp_commit_message_id(const char *raw, size_t len)
{
    size_t hlen = len;
    if (len >= 2 && raw[0] == '\r' && raw[1] == '\n')
        return NULL;                              /* no header section */
    const char *end = memmem(raw, len, "\r\n\r\n", 4);
    if (end != NULL)
        hlen = (size_t)(end - raw) + 4;
    enum hdr_error err;
    hdr_msg *h = hdr_parse(raw, hlen, SMTP_HDR_MAX_FIELDS, SMTP_HDR_MAX_FIELD_LEN, &err);
    if (h == NULL)
        return NULL;
    char *v = hdr_get_value(h, "Message-ID");
    hdr_msg_free(h);
    if (v != NULL && (v[0] == '\0' || strlen(v) > SMTP_MESSAGE_ID_MAX)) {
        free(v);
        v = NULL;
    }
    return v;
}

/* The per-recipient DSN array for the spool, or NULL when no recipient
 * gave NOTIFY or ORCPT. New reference. */
static json_t *smtp_commit_rcpt_dsn(const smtp_tx *tx)
{
    int any = 0;
    for (size_t i = 0; i < tx->nrcpts; i++)
        any |= tx->notify[i] != 0 || tx->orcpt[i] != NULL;
    if (!any)
        return NULL;
    json_t *arr = json_array();
    for (size_t i = 0; i < tx->nrcpts; i++) {
        if (tx->notify[i] == 0 && tx->orcpt[i] == NULL) {
            json_array_append_new(arr, json_null());
            continue;
        }
        json_t *o = json_object();
        if (tx->notify[i] != 0) {
            char n[64];
            smtp_notify_format(tx->notify[i], n, sizeof n);
            json_object_set_new(o, "notify", json_string(n));
        }
        if (tx->orcpt[i] != NULL)               /* printable ASCII: valid JSON */
            json_object_set_new(o, "orcpt", json_string(tx->orcpt[i]));
        json_array_append_new(arr, o);
    }
    return arr;
}

/* The transaction itself. 0 after COMMIT, -1 (rolled back) otherwise. */
static int smtp_commit_store(db_conn *c, spool_message *m, const smtp_commit_client *s,
                             const smtp_auth_outcome *auth, spool_jobs *jobs)
{
    if (db_begin(c) != 0)
        return -1;
    json_t *payload = json_object();
    json_t *detail = json_pack("{s:s, s:s, s:I, s:b}", "client", s->ip,
                               "helo", s->helo, "size", (json_int_t)m->raw_len,
                               "tls", s->tls);
    json_t *adetail = NULL;
    if (auth != NULL && auth->checked)
        adetail = json_pack("{s:s, s:s, s:s, s:s}", "spf", auth->spf, "dkim", auth->dkim,
                            "dmarc", auth->dmarc, "arc", auth->arc);
    int rc = -1;
    if (payload != NULL && detail != NULL &&
        spool_message_insert(c, m) == 0 &&
        spool_job_create(c, "rewrite", m->id, payload, 0, jobs) > 0 &&
        (adetail == NULL ||
         spool_event(c, m->id, 0, "mx", "authenticated", adetail) == 0) &&
        spool_event(c, m->id, 0, "mx", "accepted", detail) == 0 &&
        db_commit(c) == 0)
        rc = 0;
    if (rc != 0) {
        log_error("spool commit failed", "queue_id", m->queue_id, "client", s->ip,
                  "error", db_conn_error(c));
        db_rollback(c);
        spool_jobs_release(jobs);
        memset(jobs, 0, sizeof *jobs);
    }
    json_decref(payload);
    json_decref(detail);
    json_decref(adetail);
    return rc;
}

/* Sender authentication before anything is stored. 0 to go on (auth
 * filled), -1 when the message is refused (tx->reply_* set) or could not
 * be rebuilt. */
static int smtp_commit_auth(const smtp_commit_env *env, const smtp_session *s,
                            smtp_tx *tx, smtp_auth_outcome *auth)
{
    memset(auth, 0, sizeof *auth);
    if (env->auth == NULL)
        return 0;
    if (smtp_auth_message(env->auth, s->client_ip, s->helo, tx->mail_from, tx->rcpts,
                          tx->nrcpts, &tx->data.body, auth) != 0) {
        log_error("authentication header does not fit", "client", s->client_ip);
        return -1;
    }
    if (auth->verdict == SMTP_AUTH_ACCEPT || s->auth_user[0] != '\0')
        return 0;                 /* submission: no DMARC policy for our own users */
    tx->reply_reason = "dmarc";
    if (auth->verdict == SMTP_AUTH_REJECT) {
        tx->reply_code = 550;
        (void)str_copy(tx->reply_text, sizeof tx->reply_text,
                       "5.7.1 Error: message rejected: the DMARC policy of the "
                       "From domain (p=reject) failed");
    } else {
        tx->reply_code = 451;
        (void)str_copy(tx->reply_text, sizeof tx->reply_text,
                       "4.7.0 Error: DMARC check failed temporarily (DNS), try again later");
    }
    log_info("message refused by DMARC", "client", s->client_ip, "from", tx->mail_from,
             "from_domain", auth->dmarc_domain, "spf", auth->spf, "dkim", auth->dkim,
             "dmarc", auth->dmarc, "arc", auth->arc);
    return -1;
}

/* The spam scan (smtp_rspamd.h) after authentication. 0 to go on (the
 * verdict fields on top of the body), -1 when the message is refused
 * (tx->reply_* set). */
static int smtp_commit_spam(const smtp_commit_env *env, const smtp_session *s,
                            smtp_tx *tx, const char *qid)
{
    if (env->rspamd == NULL)
        return 0;
    smtp_rspamd_req req = { .ip = s->client_ip, .helo = s->helo,
                            .mail_from = tx->mail_from, .rcpts = tx->rcpts,
                            .nrcpts = tx->nrcpts, .queue_id = qid,
                            .user = s->auth_user[0] != '\0' ? s->auth_user : NULL };
    enum smtp_rspamd_verdict v = smtp_rspamd_message(env->rspamd, &req, &tx->data.body,
                                                     tx->reply_text, sizeof tx->reply_text);
    if (v == SMTP_RSPAMD_ACCEPT)
        return 0;
    tx->reply_reason = "spam";
    tx->reply_code = v == SMTP_RSPAMD_REJECT ? 550 : 451;
    return -1;
}

int smtp_commit_message(const smtp_commit_env *env, const smtp_session *s,
                        smtp_tx *tx, char *qid, size_t qidlen, spool_jobs *jobs)
{
    double t0 = smtp_commit_now();
    char id[13];
    spool_queue_id_new(id);                  /* rspamd sees the id we store */
    smtp_auth_outcome auth;
    if (smtp_commit_auth(env, s, tx, &auth) != 0)
        return -1;
    if (smtp_commit_spam(env, s, tx, id) != 0)
        return -1;
    /* RFC 3848 / RFC 6531 §3.7.3: UTF8SMTP(S) when SMTPUTF8 was used,
     * ...A for an authenticated submission */
    const char *proto = tx->smtputf8 ? (s->tls ? "UTF8SMTPS" : "UTF8SMTP")
                      : s->tls ? "ESMTPS" : s->esmtp ? "ESMTP" : "SMTP";
    if (s->auth_user[0] != '\0')
        proto = tx->smtputf8 ? "UTF8SMTPSA" : "ESMTPSA";
    smtp_commit_client cl = {
        .ip = s->client_ip, .helo = s->helo, .tls = s->tls, .t0 = t0, .proto = proto,
        .qid = id,
    };
    return smtp_commit_message_client(env, &cl, tx, &auth, qid, qidlen, jobs);
}

int smtp_commit_message_client(const smtp_commit_env *env, const smtp_commit_client *s,
                               smtp_tx *tx, const smtp_auth_outcome *auth,
                               char *qid, size_t qidlen, spool_jobs *jobs)
{
    double t0 = s->t0 > 0 ? s->t0 : smtp_commit_now();
    char id[13];
    if (s->qid == NULL || str_copy(id, sizeof id, s->qid) != 0)
        spool_queue_id_new(id);
    const buf *body = &tx->data.body;

    buf raw;
    buf_init(&raw, body->len + 4096);
    if (smtp_received_format(&raw, s->helo, s->ip, env->hostname, s->proto, id,
                             tx->nrcpts == 1 ? tx->rcpts[0] : NULL, time(NULL)) != 0 ||
        buf_append(&raw, body->data, body->len) != 0) {
        buf_release(&raw);
        log_error("received header does not fit", "client", s->ip);
        return -1;
    }
    buf_release(&tx->data.body);                  /* raw holds the bytes now */

    spool_message m;
    memset(&m, 0, sizeof m);
    if (str_copy(m.queue_id, sizeof m.queue_id, id) != 0)
        panic("queue id does not fit");
    m.mail_from = tx->mail_from;                  /* borrowed: insert copies */
    m.rcpts = tx->rcpts;
    m.nrcpts = tx->nrcpts;
    m.client_ip = (char *)s->ip;
    m.helo = (char *)s->helo;
    m.message_id = smtp_commit_message_id(raw.data, raw.len);   /* owned here */
    m.origin = "mx";
    m.raw = raw.data;
    m.raw_len = raw.len;
    m.smtputf8 = tx->smtputf8;
    m.dsn_ret = tx->dsn_ret == SMTP_RET_FULL ? "FULL"
              : tx->dsn_ret == SMTP_RET_HDRS ? "HDRS" : NULL;     /* borrowed */
    m.dsn_envid = tx->dsn_envid[0] ? tx->dsn_envid : NULL;      /* borrowed */
    m.rcpt_dsn = smtp_commit_rcpt_dsn(tx);                      /* owned here */

    int rc = -1;
    db_conn *c = db_pool_acquire(env->db, env->db_timeout_ms);
    if (c == NULL) {
        log_error("no database connection for the commit", "client", s->ip);
    } else {
        rc = smtp_commit_store(c, &m, s, auth, jobs);
        db_pool_release(env->db, c);
    }
    if (rc == 0) {
        if (str_copy(qid, qidlen, m.queue_id) != 0)
            panic("queue id buffer too small");
        char size[32], nrcpt[32];
        snprintf(size, sizeof size, "%zu", m.raw_len);
        snprintf(nrcpt, sizeof nrcpt, "%zu", m.nrcpts);
        log_info("message accepted", "queue_id", m.queue_id, "client", s->ip,
                 "from", tx->mail_from, "nrcpt", nrcpt, "size", size,
                 "message_id", m.message_id != NULL ? m.message_id : "");
        if (env->accepted != NULL)
            metrics_counter_inc(env->accepted);
        if (env->accept_seconds != NULL)
            metrics_histogram_observe(env->accept_seconds, smtp_commit_now() - t0);
    }
    free(m.message_id);
    json_decref(m.rcpt_dsn);
    buf_release(&raw);
    return rc;
}

void smtp_commit_publish(const smtp_commit_env *env, struct jobq *q, spool_jobs *jobs)
{
    if (jobs->n == 0) {
        spool_jobs_release(jobs);
        return;
    }
    if (q != NULL) {
        db_conn *c = db_pool_acquire(env->db, env->db_timeout_ms);
        if (c != NULL) {
            worker_publish(q, c, jobs);
            db_pool_release(env->db, c);
        } else {
            log_warn("no database connection to publish; the sweeper will");
        }
    }
    spool_jobs_release(jobs);
    memset(jobs, 0, sizeof *jobs);
}
