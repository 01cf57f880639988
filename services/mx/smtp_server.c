/*
 * smtp_server.c - the SMTP server's configuration (MAILYARD_SMTP_*), its
 * listener table (port 25 style, implicit TLS and submission, each with its
 * session policy: MX or SUBMISSION), metrics, start and stop, and the
 * session's callbacks wired to rcpt_check.c, smtp_dnsbl.c, smtp_nuisance.c,
 * smtp_submit.c and smtp_commit.c (they run on a worker thread, as do the
 * connection checks before the greeting: smtp_server_conn_admit). The event loop and the connection I/O are in smtp_loop.c and
 * smtp_conn.c, the worker pool in smtp_workers.c; the protocol lives in
 * smtp_session.c. See smtp_server.h.
 *
 * SECURITY: the limits read here (connections in total and per client IP,
 * timeouts, sizes) are enforced by smtp_loop.c/smtp_conn.c and the session.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "config.h"
#include "httpc.h"
#include "log.h"
#include "xalloc.h"
#include "rcpt_check.h"
#include "smtp_cidr.h"
#include "smtp_commit.h"
#include "smtp_conn.h"
#include "smtp_iplimit.h"
#include "smtp_dnsbl.h"
#include "smtp_listen.h"
#include "smtp_loop.h"
#include "smtp_nuisance.h"
#include "smtp_session.h"
#include "smtp_submit.h"
#include "smtp_tls.h"
#include "smtp_workers.h"
#include "smtp_server.h"

#define SMTP_RCPT_CACHE_MAX 100000
#define SMTP_HTTP_TIMEOUT_MS 5000
#define SMTP_DB_TIMEOUT_MS  10000

static enum smtp_rcpt_verdict smtp_conn_rcpt(void *arg, const char *addr);
static int   smtp_conn_commit(void *arg, smtp_session *s, smtp_tx *tx, char *qid, size_t qidlen);
static void  smtp_conn_reply(void *arg, smtp_session *s, int code, const char *text);
static void  smtp_conn_command(void *arg, const char *verb);
static enum smtp_cred smtp_conn_auth_check(void *arg, const char *user, const char *pass);
static enum smtp_cred smtp_conn_sender_check(void *arg, const char *user, const char *from);
static int   smtp_conn_mail(void *arg, smtp_session *s, smtp_tx *tx);

smtp_server *smtp_server_start(service *svc, char *err, size_t errlen)
{
    const config *cfg = svc->cfg;
    smtp_server *srv = xcalloc(1, sizeof *srv);
    srv->svc = svc;
    for (size_t i = 0; i < SMTP_MAX_LISTENERS; i++)
        srv->lst[i].fd = -1;

    const char *host = config_get(cfg, "MAILYARD_HOSTNAME", NULL);
    char sysname[256] = "localhost";
    if (host == NULL && gethostname(sysname, sizeof sysname) == 0)
        sysname[sizeof sysname - 1] = '\0';
    if (str_copy(srv->hostname, sizeof srv->hostname, host ? host : sysname) != 0 ||
        !smtp_helo_valid(srv->hostname)) {
        snprintf(err, errlen, "MAILYARD_HOSTNAME is not a valid host name");
        free(srv);
        return NULL;
    }
    long max_size = config_get_long(cfg, "MAILYARD_SMTP_MAX_MESSAGE_SIZE", 26214400);
    long max_header = config_get_long(cfg, "MAILYARD_SMTP_MAX_HEADER_SIZE", 262144);
    long max_rcpts = config_get_long(cfg, "MAILYARD_SMTP_MAX_RECIPIENTS", 100);
    long max_errors = config_get_long(cfg, "MAILYARD_SMTP_MAX_ERRORS", 20);
    long timeout = config_get_long(cfg, "MAILYARD_SMTP_TIMEOUT_SECONDS", 300);
    long data_timeout = config_get_long(cfg, "MAILYARD_SMTP_DATA_TIMEOUT_SECONDS", 180);
    long drain = config_get_long(cfg, "MAILYARD_SMTP_DRAIN_SECONDS", 30);
    long ttl = config_get_long(cfg, "MAILYARD_MX_RCPT_CACHE_SECONDS", 30);
    long pregreet = config_get_long(cfg, "MAILYARD_SMTP_PREGREET_MS", 1000);
    srv->max_conns = config_get_long(cfg, "MAILYARD_SMTP_MAX_CONNECTIONS", 1000);
    long max_per_ip = config_get_long(cfg, "MAILYARD_SMTP_MAX_CONN_PER_IP", 50);
    long workers = config_get_long(cfg, "MAILYARD_SMTP_WORKERS", 32);
    long db_conns = config_get_long(cfg, "MAILYARD_SMTP_DB_CONNECTIONS", 32);
    const char *bare_lf = config_get(cfg, "MAILYARD_SMTP_BARE_LF", "reject");
    if (max_size < 1 || max_size > 1L << 30 || max_rcpts < 1 || max_rcpts > 100000 ||
        max_header < 0 || max_errors < 1 || timeout < 1 || data_timeout < 1 || drain < 0 ||
        ttl < 0 || srv->max_conns < 1 || srv->max_conns > 1000000 || max_per_ip < 1 ||
        pregreet < 0 || pregreet > 60000 || workers < 1 || workers > 1024 ||
        db_conns < 1 || db_conns > 1000) {
        snprintf(err, errlen, "a MAILYARD_SMTP_* limit is out of range");
        free(srv);
        return NULL;
    }
    if (strcmp(bare_lf, "reject") != 0 && strcmp(bare_lf, "normalize") != 0) {
        snprintf(err, errlen, "MAILYARD_SMTP_BARE_LF must be reject or normalize");
        free(srv);
        return NULL;
    }
    srv->timeout_s = (int)timeout;
    srv->data_timeout_s = (int)data_timeout;
    srv->drain_s = (int)drain;
    srv->pregreet_ms = (int)pregreet;
    srv->nworkers = (int)workers;
    srv->ndb_conns = (int)db_conns;
    srv->rewrite_url = config_get(cfg, "MAILYARD_REWRITE_URL", "http://127.0.0.1:9102");

    /* listeners and their PROXY policy */
    const char *smtp_spec = config_get(cfg, "MAILYARD_SMTP_LISTEN", "127.0.0.1:2525");
    const char *smtps_spec = config_get(cfg, "MAILYARD_SMTPS_LISTEN", "");
    const char *sub_spec = config_get(cfg, "MAILYARD_SUBMISSION_LISTEN", "");
    const char *smtps_policy = config_get(cfg, "MAILYARD_SMTPS_POLICY", "submission");
    unsigned proxy_smtp, proxy_smtps, proxy_sub;
    if (smtp_listen_proxy_mode(config_get(cfg, "MAILYARD_SMTP_PROXY_PROTOCOL", "off"), &proxy_smtp) != 0 ||
        smtp_listen_proxy_mode(config_get(cfg, "MAILYARD_SMTPS_PROXY_PROTOCOL", "off"), &proxy_smtps) != 0 ||
        smtp_listen_proxy_mode(config_get(cfg, "MAILYARD_SUBMISSION_PROXY_PROTOCOL", "off"),
                               &proxy_sub) != 0) {
        snprintf(err, errlen, "MAILYARD_SMTP(S)/SUBMISSION_PROXY_PROTOCOL must be off, v1, v2 or any");
        free(srv);
        return NULL;
    }
    if (strcmp(smtps_policy, "submission") != 0 && strcmp(smtps_policy, "mx") != 0) {
        snprintf(err, errlen, "MAILYARD_SMTPS_POLICY must be submission or mx");
        free(srv);
        return NULL;
    }
    srv->proxy_trusted = smtp_cidr_parse(config_get(cfg, "MAILYARD_SMTP_PROXY_TRUSTED_NETWORKS",
                                                    ""), err, errlen);
    if (srv->proxy_trusted == NULL) {
        free(srv);
        return NULL;
    }

    const char *cert = config_get(cfg, "MAILYARD_TLS_CERT_FILE", NULL);
    const char *key = config_get(cfg, "MAILYARD_TLS_KEY_FILE", NULL);
    if ((cert && *cert) || (key && *key)) {
        if (!(cert && *cert && key && *key)) {
            snprintf(err, errlen, "MAILYARD_TLS_CERT_FILE and MAILYARD_TLS_KEY_FILE go together");
            smtp_cidr_free(srv->proxy_trusted);
            free(srv);
            return NULL;
        }
        srv->tls = smtp_tls_store_create(cert, key, err, errlen);
        if (srv->tls == NULL) {
            smtp_cidr_free(srv->proxy_trusted);
            free(srv);
            return NULL;
        }
    }
    if ((*smtps_spec != '\0' || *sub_spec != '\0') && srv->tls == NULL) {
        snprintf(err, errlen, "MAILYARD_SMTPS_LISTEN and MAILYARD_SUBMISSION_LISTEN need "
                 "MAILYARD_TLS_CERT_FILE/KEY_FILE");
        smtp_cidr_free(srv->proxy_trusted);
        free(srv);
        return NULL;
    }

    srv->scfg.hostname = srv->hostname;
    srv->scfg.max_message_size = (size_t)max_size;
    srv->scfg.max_header_size = (size_t)max_header;
    srv->scfg.bare_lf_normalize = strcmp(bare_lf, "normalize") == 0;
    srv->scfg.max_rcpts = (size_t)max_rcpts;
    srv->scfg.max_errors = (int)max_errors;
    srv->scfg.tls_available = srv->tls != NULL;
    srv->scfg.rcpt_check = smtp_conn_rcpt;
    srv->scfg.commit = smtp_conn_commit;
    srv->scfg.on_reply = smtp_conn_reply;
    srv->scfg.on_command = smtp_conn_command;
    srv->scfg.mail_check = smtp_conn_mail;
    srv->scfg_sub = srv->scfg;               /* submission: the same plus AUTH */
    srv->scfg_sub.submission = 1;
    srv->scfg_sub.auth_check = smtp_conn_auth_check;
    srv->scfg_sub.sender_check = smtp_conn_sender_check;

    static const char *const code_label[] = { "code", NULL };
    static const char *const version_label[] = { "version", NULL };
    static const char *const command_label[] = { "command", NULL };
    static const char *const reason_label[] = { "reason", NULL };
    static const char *const dir_label[] = { "direction", NULL };
    static const double accept_bounds[] = { 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                                            1, 2.5, 5, 10 };
    metrics_registry *mr = svc->metrics;
    srv->m_conns_total = metrics_counter(mr, "mailyard_smtp_connections_total",
                                         "SMTP connections accepted", NULL);
    srv->m_conns = metrics_gauge(mr, "mailyard_smtp_connections",
                                 "SMTP connections open now", NULL);
    srv->m_replies = metrics_counter(mr, "mailyard_smtp_replies_total",
                                     "SMTP replies sent, by reply code", code_label);
    srv->m_tls = metrics_counter(mr, "mailyard_smtp_tls_sessions_total",
                                 "TLS sessions established (STARTTLS or implicit), by "
                                 "protocol version", version_label);
    srv->m_commands = metrics_counter(mr, "mailyard_smtp_commands_total",
                                      "SMTP commands received, by verb", command_label);
    srv->m_rejections = metrics_counter(mr, "mailyard_smtp_rejections_total",
                                        "4xx/5xx replies and refused connections, by "
                                        "reason (enhanced status code or connection "
                                        "check)", reason_label);
    srv->m_bytes = metrics_counter(mr, "mailyard_smtp_bytes_total",
                                   "SMTP bytes read (in) and written (out), after TLS",
                                   dir_label);
    srv->cenv.db = svc->db;
    srv->cenv.hostname = srv->hostname;
    srv->cenv.db_timeout_ms = SMTP_DB_TIMEOUT_MS;
    srv->cenv.accepted = metrics_counter(mr, "mailyard_smtp_messages_accepted_total",
                                         "messages committed to the spool", NULL);
    srv->cenv.accept_seconds = metrics_histogram(mr, "mailyard_smtp_accept_seconds",
                                                 "end of DATA to the 250 reply", NULL,
                                                 accept_bounds,
                                                 sizeof accept_bounds / sizeof accept_bounds[0]);
    if (smtp_auth_create(cfg, srv->hostname, mr, &srv->cenv.auth, err, errlen) != 0) {
        smtp_tls_store_free(srv->tls);
        smtp_cidr_free(srv->proxy_trusted);
        free(srv);
        return NULL;
    }
    /* DNSBL shares the authentication checks' resolver (its own one when
     * MAILYARD_MX_AUTH=off); smtp_dnsbl_free runs before smtp_auth_free. */
    if (smtp_dnsbl_create(cfg, srv->cenv.auth ? smtp_auth_resolver(srv->cenv.auth) : NULL,
                          &srv->dnsbl, err, errlen) != 0) {
        smtp_auth_free(srv->cenv.auth);
        smtp_tls_store_free(srv->tls);
        smtp_cidr_free(srv->proxy_trusted);
        free(srv);
        return NULL;
    }
    if (smtp_rspamd_create(cfg, mr, &srv->cenv.rspamd, err, errlen) != 0) {
        smtp_dnsbl_free(srv->dnsbl);
        smtp_auth_free(srv->cenv.auth);
        smtp_tls_store_free(srv->tls);
        smtp_cidr_free(srv->proxy_trusted);
        free(srv);
        return NULL;
    }
    if (smtp_nuisance_create(svc, &srv->nuisance, err, errlen) != 0) {
        smtp_rspamd_free(srv->cenv.rspamd);
        smtp_dnsbl_free(srv->dnsbl);
        smtp_auth_free(srv->cenv.auth);
        smtp_tls_store_free(srv->tls);
        smtp_cidr_free(srv->proxy_trusted);
        free(srv);
        return NULL;
    }
    srv->cache = rcpt_cache_create((int)ttl, SMTP_RCPT_CACHE_MAX);
    srv->submit = smtp_submit_create(svc->db, SMTP_DB_TIMEOUT_MS);
    srv->per_ip = smtp_iplimit_create((size_t)srv->max_conns, max_per_ip);

    srv->lst[0] = (smtp_listener){ .fd = -1, .name = "smtp", .implicit_tls = 0,
                                   .proxy = proxy_smtp, .policy = &srv->scfg };
    srv->lst[0].fd = smtp_listen_bind("MAILYARD_SMTP_LISTEN", smtp_spec, err, errlen);
    srv->nlst = 1;
    int ok = srv->lst[0].fd >= 0;
    if (ok && *smtps_spec != '\0') {
        srv->lst[1] = (smtp_listener){ .fd = -1, .name = "smtps", .implicit_tls = 1,
                                       .proxy = proxy_smtps,
                                       .policy = strcmp(smtps_policy, "mx") == 0
                                                 ? &srv->scfg : &srv->scfg_sub };
        srv->lst[1].fd = smtp_listen_bind("MAILYARD_SMTPS_LISTEN", smtps_spec, err, errlen);
        srv->nlst = 2;
        ok = srv->lst[1].fd >= 0;
    }
    if (ok && *sub_spec != '\0') {          /* port 587 style: STARTTLS, SUBMISSION */
        srv->lst[srv->nlst] = (smtp_listener){ .fd = -1, .name = "submission",
                                               .implicit_tls = 0, .proxy = proxy_sub,
                                               .policy = &srv->scfg_sub };
        srv->lst[srv->nlst].fd = smtp_listen_bind("MAILYARD_SUBMISSION_LISTEN", sub_spec,
                                                  err, errlen);
        ok = srv->lst[srv->nlst++].fd >= 0;
    }
    if (ok) {
        /* the workers' own pool: concurrent commits share WAL flushes */
        srv->commit_db = db_pool_create(config_get(cfg, "MAILYARD_PG_DSN",
                                                   CONFIG_DEFAULT_PG_DSN), srv->ndb_conns);
        srv->cenv.db = srv->commit_db;
        ok = (srv->workers = smtp_workers_create(srv->nworkers, err, errlen)) != NULL;
    }
    if (ok)
        ok = smtp_loop_start(srv, err, errlen) != NULL;   /* sets srv->loop */
    if (!ok) {
        smtp_workers_free(srv->workers);
        db_pool_free(srv->commit_db);
        for (size_t i = 0; i < srv->nlst; i++)
            if (srv->lst[i].fd >= 0)
                close(srv->lst[i].fd);
        rcpt_cache_free(srv->cache);
        smtp_nuisance_free(srv->nuisance);
        smtp_submit_free(srv->submit);
        smtp_rspamd_free(srv->cenv.rspamd);
        smtp_dnsbl_free(srv->dnsbl);
        smtp_auth_free(srv->cenv.auth);
        smtp_tls_store_free(srv->tls);
        smtp_cidr_free(srv->proxy_trusted);
        smtp_iplimit_free(srv->per_ip);
        free(srv);
        return NULL;
    }
    char workers_s[16];
    snprintf(workers_s, sizeof workers_s, "%d", srv->nworkers);
    log_info("smtp listening", "listen", smtp_spec, "smtps", smtps_spec,
             "submission", sub_spec, "smtps_policy", smtps_policy, "hostname", srv->hostname, "tls", srv->tls ? "yes" : "no",
             "bare_lf", bare_lf, "workers", workers_s);
    return srv;
}

static enum smtp_rcpt_verdict smtp_conn_rcpt(void *arg, const char *addr)
{
    smtp_conn *c = arg;
    int authed = c->sess != NULL && c->sess->auth_user[0] != '\0';   /* submission */
    if (!authed && c->srv->dnsbl != NULL && !c->dnsbl_done) {   /* once per connection */
        c->dnsbl_done = 1;
        c->dnsbl_listed = smtp_dnsbl_check(c->srv->dnsbl, c->ip, c->dnsbl_zones,
                                           sizeof c->dnsbl_zones);
    }
    if (!authed && c->dnsbl_listed && c->sess != NULL && c->sess->tx != NULL) {
        smtp_tx *tx = c->sess->tx;
        tx->reply_code = 554;
        tx->reply_reason = "dnsbl";
        snprintf(tx->reply_text, sizeof tx->reply_text,
                 "5.7.1 Service unavailable; client [%s] listed by %s", c->ip, c->dnsbl_zones);
        return SMTP_RCPT_REFUSED;
    }
    /* block rules, rate limits (per IP, and per user after AUTH) */
    if (c->sess != NULL && c->sess->tx != NULL &&
        smtp_nuisance_rcpt(c->srv->nuisance, c->ip, authed ? c->sess->auth_user : NULL,
                           addr, c->sess->tx) != 0)
        return SMTP_RCPT_REFUSED;
    if (c->http == NULL)
        c->http = httpc_create(c->srv->rewrite_url, c->srv->svc->admin_token,
                               SMTP_HTTP_TIMEOUT_MS);
    enum smtp_rcpt_verdict v = rcpt_check(c->http, c->srv->cache, addr);
    /* an authenticated user may relay anywhere; local recipients were
     * still checked by rewrite */
    return authed && v == SMTP_RCPT_RELAY_DENIED ? SMTP_RCPT_ACCEPT : v;
}

static enum smtp_cred smtp_conn_auth_check(void *arg, const char *user, const char *pass)
{
    smtp_conn *c = arg;
    return smtp_submit_auth(c->srv->submit, user, pass);
}

static enum smtp_cred smtp_conn_sender_check(void *arg, const char *user, const char *from)
{
    smtp_conn *c = arg;
    return smtp_submit_sender(c->srv->submit, user, from);
}

static int smtp_conn_commit(void *arg, smtp_session *s, smtp_tx *tx, char *qid, size_t qidlen)
{
    smtp_conn *c = arg;
    if (s->auth_user[0] != '\0' && smtp_submit_from_check(c->srv->submit, s, tx) != 0)
        return -1;                           /* submission: From: not granted */
    return smtp_commit_message(&c->srv->cenv, s, tx, qid, qidlen, &c->pending);
}

/* MAIL FROM: block rules and rate limits (smtp_nuisance.h), per IP and,
 * after AUTH, per user. */
static int smtp_conn_mail(void *arg, smtp_session *s, smtp_tx *tx)
{
    smtp_conn *c = arg;
    return smtp_nuisance_mail(c->srv->nuisance, c->ip,
                              s->auth_user[0] != '\0' ? s->auth_user : NULL, tx);
}

void smtp_server_conn_admit(smtp_conn *c)
{
    smtp_server *srv = c->srv;
    smtp_session *s = c->sess;
    char nreply[192];
    const char *nreason = NULL;
    if (smtp_nuisance_connect(srv->nuisance, c->ip, nreply, sizeof nreply, &nreason) != 0) {
        /* block rule or connection rate: this reply instead of the 220 */
        char code[4] = { nreply[0], nreply[1], nreply[2], '\0' };
        buf_reset(&s->out);
        if (buf_append_str(&s->out, nreply) != 0)
            log_warn("smtp: connection refusal not queued", "client", c->ip);
        s->state = SMTP_STATE_CLOSED;
        c->why = "refused at connection";
        metrics_counter_inc(srv->m_replies, code);
        metrics_counter_inc(srv->m_rejections, nreason != NULL ? nreason : "other");
        return;
    }
    metrics_counter_inc(srv->m_replies, "220");
    smtp_server_conn_tls(c);
}

void smtp_server_conn_tls(smtp_conn *c)
{
    if (c->ssl != NULL && c->lst->policy->submission)
        smtp_submit_client_cert(c->srv->submit, c->ssl, c->sess);
}

static void smtp_conn_reply(void *arg, smtp_session *s, int code, const char *text)
{
    smtp_conn *c = arg;
    char cs[8];
    snprintf(cs, sizeof cs, "%d", code);
    metrics_counter_inc(c->srv->m_replies, cs);
    if (code >= 400) {
        /* reason: the enhanced status code ("5.1.1"), a bounded set of ours */
        char reason[16] = "other";
        size_t n = strspn(text, "0123456789.");
        if (s->tx != NULL && s->tx->reply_reason != NULL && s->tx->reply_code == code) {
            (void)str_copy(reason, sizeof reason, s->tx->reply_reason);   /* "dmarc" */
        } else if (n >= 5 && n < sizeof reason) {
            memcpy(reason, text, n);
            reason[n] = '\0';
        }
        metrics_counter_inc(c->srv->m_rejections, reason);
        log_info("smtp rejection", "client", c->ip, "helo", s->helo, "code", cs,
                 "reason", text);
    }
}

static void smtp_conn_command(void *arg, const char *verb)
{
    smtp_conn *c = arg;
    metrics_counter_inc(c->srv->m_commands, verb);
}

void smtp_server_stop(smtp_server *srv)
{
    if (srv == NULL)
        return;
    smtp_loop_stop(srv->loop);           /* accepts no more, drains, 421s the rest */
    smtp_workers_free(srv->workers);     /* runs what is still queued */
    db_pool_free(srv->commit_db);
    for (size_t i = 0; i < srv->nlst; i++)
        if (srv->lst[i].fd >= 0)             /* the loop closed them at stop */
            close(srv->lst[i].fd);
    log_info("smtp stopped");
    rcpt_cache_free(srv->cache);
    smtp_nuisance_free(srv->nuisance);
    smtp_submit_free(srv->submit);
    smtp_rspamd_free(srv->cenv.rspamd);
    smtp_dnsbl_free(srv->dnsbl);
    smtp_auth_free(srv->cenv.auth);
    smtp_tls_store_free(srv->tls);
    smtp_cidr_free(srv->proxy_trusted);
    smtp_iplimit_free(srv->per_ip);
    free(srv);
}
