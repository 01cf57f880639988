/*
 * smtp_server.c - the SMTP listeners (port 25 style and implicit TLS),
 * connection threads, the PROXY header, pregreet detection, per-IP
 * connection limits, socket and TLS I/O, per-state timeouts, metrics and
 * the drain on shutdown. The protocol lives in smtp_session.c; this file
 * only moves bytes and wires the session's callbacks to rcpt_check.c and
 * smtp_commit.c. See smtp_server.h.
 *
 * SECURITY: the number of connections (in total and per client IP), the
 * idle time, the bytes read per feed (SMTP_FEED_MAX) and the time to write
 * a reply (SO_SNDTIMEO) are bounded; a connection problem ends that
 * connection only. A PROXY header is read only from trusted networks, and
 * exactly as many bytes as it has (never the SMTP or TLS after it).
 */
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <openssl/ssl.h>
#include "config.h"
#include "httpc.h"
#include "jobq.h"
#include "log.h"
#include "xalloc.h"
#include "proxy_parse.h"
#include "rcpt_check.h"
#include "smtp_cidr.h"
#include "smtp_commit.h"
#include "smtp_iplimit.h"
#include "smtp_dnsbl.h"
#include "smtp_listen.h"
#include "smtp_nuisance.h"
#include "smtp_session.h"
#include "smtp_submit.h"
#include "smtp_tls.h"
#include "smtp_server.h"

#define SMTP_THREAD_STACK   (256 * 1024)
#define SMTP_POLL_MS        1000
#define SMTP_RCPT_CACHE_MAX 100000
#define SMTP_HTTP_TIMEOUT_MS 5000
#define SMTP_DB_TIMEOUT_MS  10000

/* One listening socket and its policy. */
typedef struct smtp_listener {
    int         fd;
    const char *name;                    /* "smtp" or "smtps" (static) */
    int         implicit_tls;            /* RFC 8314: TLS from the first byte */
    unsigned    proxy;                   /* PROXY_ACCEPT_* mask; 0: off */
    const smtp_session_cfg *scfg;        /* its policy: srv->scfg (MX) or scfg_sub */
} smtp_listener;

struct smtp_server {
    service         *svc;                /* borrowed */
    smtp_listener    lst[3];
    size_t           nlst;
    pthread_t        listener;
    smtp_tls_store  *tls;                /* owned, NULL without a certificate */
    smtp_cidr_list  *proxy_trusted;      /* owned */
    int              pregreet_ms;
    int              data_timeout_s;
    smtp_iplimit    *per_ip;             /* owned */
    rcpt_cache      *cache;              /* owned */
    smtp_dnsbl      *dnsbl;              /* owned, NULL without zones */
    smtp_nuisance   *nuisance;           /* owned: block rules, rate limits */
    smtp_session_cfg scfg;
    smtp_session_cfg scfg_sub;           /* the SUBMISSION policy (smtp_submit.h) */
    smtp_submit     *submit;             /* owned */
    smtp_commit_env  cenv;
    char             hostname[256];
    const char      *rewrite_url;        /* owned by svc->cfg */
    int              timeout_s, drain_s;
    long             max_conns;
    pthread_mutex_t  lock;               /* protects nconns */
    pthread_cond_t   cond;
    long             nconns;
    atomic_int       stopping;           /* no new connections; idle ones close */
    atomic_int       aborting;           /* drain over: every session closes */
    atomic_ulong     seq;
    metrics_family  *m_conns_total, *m_conns, *m_replies;
    metrics_family  *m_tls, *m_commands, *m_rejections, *m_bytes;
};

typedef struct smtp_conn {
    smtp_server  *srv;                   /* borrowed */
    const smtp_listener *lst;            /* borrowed */
    int           fd;                    /* owned */
    SSL          *ssl;                   /* owned, NULL in plaintext */
    char          ip[INET6_ADDRSTRLEN];  /* the client (proxied if PROXY) */
    char          peer[INET6_ADDRSTRLEN];/* the socket's peer */
    int           ip_counted;            /* counted in srv->per_ip */
    smtp_session *sess;                  /* owned */
    httpc        *http;                  /* owned, lazily created */
    jobq         *q;                     /* owned, lazily created */
    spool_jobs    pending;               /* committed, to publish after the reply */
    unsigned long no;
    int           dnsbl_done;            /* the DNSBL check ran (once) */
    int           dnsbl_listed;
    char          dnsbl_zones[160];      /* the zones that list c->ip */
} smtp_conn;

static int   smtp_conn_proxy(smtp_conn *c, char *why, size_t whylen);
static int   smtp_conn_pregreet(smtp_conn *c);
static int   smtp_conn_ip_acquire(smtp_conn *c);
static void  smtp_conn_ip_release(smtp_conn *c);
static int   smtp_conn_tls_start(smtp_conn *c);
static void  smtp_conn_say(smtp_conn *c, const char *reply, const char *reason);
static void  smtp_conn_command(void *arg, const char *verb);
static void *smtp_server_accept_loop(void *arg);
static void *smtp_conn_main(void *arg);
static void  smtp_conn_done(smtp_conn *c);
static int   smtp_conn_flush(smtp_conn *c);
static long  smtp_conn_read(smtp_conn *c, char *p, size_t n);
static enum smtp_rcpt_verdict smtp_conn_rcpt(void *arg, const char *addr);
static enum smtp_cred smtp_conn_auth_check(void *arg, const char *user, const char *pass);
static enum smtp_cred smtp_conn_sender_check(void *arg, const char *user, const char *from);
static void  smtp_conn_tls_session(smtp_conn *c);
static int   smtp_conn_commit(void *arg, smtp_session *s, smtp_tx *tx, char *qid, size_t qidlen);
static int   smtp_conn_mail(void *arg, smtp_session *s, smtp_tx *tx);
static void  smtp_conn_reply(void *arg, smtp_session *s, int code, const char *text);
static time_t smtp_now(void);

static time_t smtp_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec;
}

smtp_server *smtp_server_start(service *svc, char *err, size_t errlen)
{
    const config *cfg = svc->cfg;
    smtp_server *srv = xcalloc(1, sizeof *srv);
    srv->svc = svc;
    srv->lst[0].fd = srv->lst[1].fd = srv->lst[2].fd = -1;

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
    const char *bare_lf = config_get(cfg, "MAILYARD_SMTP_BARE_LF", "reject");
    if (max_size < 1 || max_size > 1L << 30 || max_rcpts < 1 || max_rcpts > 100000 ||
        max_header < 0 || max_errors < 1 || timeout < 1 || data_timeout < 1 || drain < 0 ||
        ttl < 0 || srv->max_conns < 1 || srv->max_conns > 1000000 || max_per_ip < 1 ||
        pregreet < 0 || pregreet > 60000) {
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

    pthread_condattr_t ca;
    if (pthread_mutex_init(&srv->lock, NULL) != 0 || pthread_condattr_init(&ca) != 0 ||
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) != 0 ||
        pthread_cond_init(&srv->cond, &ca) != 0)
        fatal("smtp server: pthread init failed");
    pthread_condattr_destroy(&ca);

    srv->lst[0] = (smtp_listener){ .fd = -1, .name = "smtp", .implicit_tls = 0,
                                   .proxy = proxy_smtp, .scfg = &srv->scfg };
    srv->lst[0].fd = smtp_listen_bind("MAILYARD_SMTP_LISTEN", smtp_spec, err, errlen);
    srv->nlst = 1;
    int ok = srv->lst[0].fd >= 0;
    if (ok && *smtps_spec != '\0') {
        srv->lst[1] = (smtp_listener){ .fd = -1, .name = "smtps", .implicit_tls = 1,
                                       .proxy = proxy_smtps,
                                       .scfg = strcmp(smtps_policy, "mx") == 0
                                               ? &srv->scfg : &srv->scfg_sub };
        srv->lst[1].fd = smtp_listen_bind("MAILYARD_SMTPS_LISTEN", smtps_spec, err, errlen);
        srv->nlst = 2;
        ok = srv->lst[1].fd >= 0;
    }
    if (ok && *sub_spec != '\0') {          /* port 587 style: STARTTLS, SUBMISSION */
        srv->lst[srv->nlst] = (smtp_listener){ .fd = -1, .name = "submission",
                                               .implicit_tls = 0, .proxy = proxy_sub,
                                               .scfg = &srv->scfg_sub };
        srv->lst[srv->nlst].fd = smtp_listen_bind("MAILYARD_SUBMISSION_LISTEN", sub_spec,
                                                  err, errlen);
        ok = srv->lst[srv->nlst++].fd >= 0;
    }
    if (ok && pthread_create(&srv->listener, NULL, smtp_server_accept_loop, srv) != 0) {
        snprintf(err, errlen, "cannot start the SMTP listener thread");
        ok = 0;
    }
    if (!ok) {
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
        pthread_cond_destroy(&srv->cond);
        pthread_mutex_destroy(&srv->lock);
        free(srv);
        return NULL;
    }
    log_info("smtp listening", "listen", smtp_spec, "smtps", smtps_spec,
             "submission", sub_spec, "smtps_policy", smtps_policy,
             "hostname", srv->hostname, "tls", srv->tls ? "yes" : "no",
             "bare_lf", bare_lf);
    return srv;
}

static void *smtp_server_accept_loop(void *arg)
{
    smtp_server *srv = arg;
    pthread_attr_t attr;
    if (pthread_attr_init(&attr) != 0 ||
        pthread_attr_setstacksize(&attr, SMTP_THREAD_STACK) != 0 ||
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED) != 0)
        fatal("smtp listener: pthread attributes");
    while (!atomic_load(&srv->stopping)) {
        struct pollfd pfd[3];
        for (size_t i = 0; i < srv->nlst; i++)
            pfd[i] = (struct pollfd){ .fd = srv->lst[i].fd, .events = POLLIN };
        if (poll(pfd, (nfds_t)srv->nlst, 250) <= 0)
            continue;
        for (size_t li = 0; li < srv->nlst; li++) {
            if (!(pfd[li].revents & POLLIN))
                continue;
            struct sockaddr_storage ss;
            socklen_t sl = sizeof ss;
            int fd = accept4(srv->lst[li].fd, (struct sockaddr *)&ss, &sl, SOCK_CLOEXEC);
            if (fd < 0) {
                if (errno == EMFILE || errno == ENFILE)
                    usleep(100 * 1000);
                continue;
            }
            char ip[INET6_ADDRSTRLEN];
            smtp_listen_peer_ip(&ss, ip, sizeof ip);
            pthread_mutex_lock(&srv->lock);
            int full = srv->nconns >= srv->max_conns;
            if (!full)
                srv->nconns++;
            pthread_mutex_unlock(&srv->lock);
            if (!full) {
                smtp_conn *c = xcalloc(1, sizeof *c);
                c->srv = srv;
                c->lst = &srv->lst[li];
                c->fd = fd;
                c->no = atomic_fetch_add(&srv->seq, 1) + 1;
                memcpy(c->ip, ip, sizeof c->ip);
                memcpy(c->peer, ip, sizeof c->peer);
                pthread_t t;
                if (pthread_create(&t, &attr, smtp_conn_main, c) == 0)
                    continue;
                free(c);
                pthread_mutex_lock(&srv->lock);
                srv->nconns--;
                pthread_cond_broadcast(&srv->cond);
                pthread_mutex_unlock(&srv->lock);
            }
            /* No TLS and no PROXY read yet: a plaintext 421 is the best we
             * can do (an implicit-TLS client just sees the close). */
            char msg[320];
            int n = snprintf(msg, sizeof msg, "421 4.7.0 %s Error: too many connections, "
                             "try again later\r\n", srv->hostname);
            log_warn("connection refused: too many connections", "client", ip);
            if (!srv->lst[li].implicit_tls && srv->lst[li].proxy == 0 &&
                send(fd, msg, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
                log_debug("421 not sent", "client", ip);
            metrics_counter_inc(srv->m_replies, "421");
            metrics_counter_inc(srv->m_rejections, "connection_limit");
            close(fd);
        }
    }
    pthread_attr_destroy(&attr);
    return NULL;
}

/* Writes and clears the session's queued replies. 0, or -1 if the peer is
 * gone or too slow (SO_SNDTIMEO). */
static int smtp_conn_flush(smtp_conn *c)
{
    buf *out = &c->sess->out;
    size_t off = 0;
    while (off < out->len) {
        long n;
        if (c->ssl != NULL) {
            int w = out->len - off > (size_t)1 << 30 ? 1 << 30 : (int)(out->len - off);
            n = SSL_write(c->ssl, out->data + off, w);
        } else {
            n = send(c->fd, out->data + off, out->len - off, MSG_NOSIGNAL);
            if (n < 0 && errno == EINTR)
                continue;
        }
        if (n <= 0) {
            buf_reset(out);
            return -1;
        }
        off += (size_t)n;
    }
    if (off > 0)
        metrics_counter_add(c->srv->m_bytes, (double)off, "out");
    buf_reset(out);
    return 0;
}

static long smtp_conn_read(smtp_conn *c, char *p, size_t n)
{
    long r;
    if (c->ssl != NULL) {
        r = SSL_read(c->ssl, p, (int)n);
    } else {
        do
            r = (long)recv(c->fd, p, n, 0);
        while (r < 0 && errno == EINTR);
    }
    if (r > 0)
        metrics_counter_add(c->srv->m_bytes, (double)r, "in");
    return r;
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

/* TLS is up: tell the session; on a submission listener a registered
 * client certificate authenticates it (smtp_submit.h). */
static void smtp_conn_tls_session(smtp_conn *c)
{
    smtp_session_tls_started(c->sess);
    if (c->lst->scfg->submission)
        smtp_submit_client_cert(c->srv->submit, c->ssl, c->sess);
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

/* A reply written before (or instead of) a session; best effort. */
static void smtp_conn_say(smtp_conn *c, const char *reply, const char *reason)
{
    size_t n = strlen(reply);
    if (send(c->fd, reply, n, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
        log_debug("reply not sent", "client", c->ip);
    char code[4];
    memcpy(code, reply, 3);
    code[3] = '\0';
    metrics_counter_inc(c->srv->m_replies, code);
    metrics_counter_inc(c->srv->m_rejections, reason);
}

/* Reads the PROXY header (exactly its bytes) when the listener wants one.
 * 0 (c->ip now the proxied client), or -1 with why filled. */
static int smtp_conn_proxy(smtp_conn *c, char *why, size_t whylen)
{
    if (!smtp_cidr_match(c->srv->proxy_trusted, c->peer)) {
        snprintf(why, whylen, "PROXY protocol from an untrusted address");
        return -1;
    }
    unsigned char hdr[16 + PROXY_V2_MAX_LEN];
    size_t have = 0;
    proxy_info pi;
    for (;;) {
        enum proxy_result r = proxy_parse(hdr, have, c->lst->proxy, &pi);
        if (r == PROXY_ERROR) {
            snprintf(why, whylen, "%s", pi.error);
            return -1;
        }
        if (r == PROXY_OK)
            break;
        if (pi.need > sizeof hdr - have)
            panic("proxy_parse asked for more than its maximum");
        ssize_t n = recv(c->fd, hdr + have, pi.need, 0);   /* SO_RCVTIMEO bounds it */
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            snprintf(why, whylen, "no complete PROXY header");
            return -1;
        }
        have += (size_t)n;
    }
    if (!pi.local) {
        if (str_copy(c->ip, sizeof c->ip, pi.src_ip) != 0)
            panic("proxied address too long");
        if (strncmp(c->ip, "::ffff:", 7) == 0 && strchr(c->ip + 7, '.') != NULL)
            memmove(c->ip, c->ip + 7, strlen(c->ip + 7) + 1);   /* v4-mapped */
    }
    log_debug("proxy header", "peer", c->peer, "client", c->ip,
              "version", pi.version == 1 ? "1" : "2");
    return 0;
}

/* Pregreet: the client must wait for our 220. 0 if it stayed quiet for
 * pregreet_ms, 1 if it talked (or closed) first. */
static int smtp_conn_pregreet(smtp_conn *c)
{
    if (c->srv->pregreet_ms == 0 || c->lst->implicit_tls)
        return 0;
    struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
    int pr;
    do
        pr = poll(&pfd, 1, c->srv->pregreet_ms);
    while (pr < 0 && errno == EINTR);
    return pr > 0;
}

/* Counts the connection for its client IP. 0, or -1 over the limit. */
static int smtp_conn_ip_acquire(smtp_conn *c)
{
    if (smtp_iplimit_acquire(c->srv->per_ip, c->ip) != 0)
        return -1;
    c->ip_counted = 1;
    return 0;
}

static void smtp_conn_ip_release(smtp_conn *c)
{
    if (!c->ip_counted)
        return;
    smtp_iplimit_release(c->srv->per_ip, c->ip);
    c->ip_counted = 0;
}

/* Server-side TLS handshake with the current certificate. 0 or -1. */
static int smtp_conn_tls_start(smtp_conn *c)
{
    smtp_server *srv = c->srv;
    char err[256];
    SSL_CTX *ctx = smtp_tls_store_get(srv->tls, atomic_load(&srv->svc->shutdown.reload_gen));
    c->ssl = smtp_tls_accept(ctx, c->fd, c->lst->scfg->submission, err, sizeof err);
    smtp_tls_ctx_free(ctx);                   /* the SSL holds its own reference */
    if (c->ssl == NULL) {
        log_info("tls handshake failed", "client", c->ip, "error", err);
        metrics_counter_inc(srv->m_rejections, "tls_handshake");
        return -1;
    }
    char desc[128];
    smtp_tls_describe(c->ssl, desc, sizeof desc);
    log_info("tls established", "client", c->ip, "tls", desc);
    metrics_counter_inc(srv->m_tls, SSL_get_version(c->ssl));
    return 0;
}

static void *smtp_conn_main(void *arg)
{
    smtp_conn *c = arg;
    smtp_server *srv = c->srv;
    metrics_counter_inc(srv->m_conns_total);
    metrics_gauge_add(srv->m_conns, 1);
    int max_wait = srv->timeout_s > srv->data_timeout_s ? srv->timeout_s : srv->data_timeout_s;
    struct timeval tv = { .tv_sec = max_wait, .tv_usec = 0 };
    if (setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) != 0 ||
        setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) != 0)
        log_warn("cannot set socket timeouts", "client", c->ip);
    char no[24];
    snprintf(no, sizeof no, "%lu", c->no);
    const char *why = "session ended";   /* QUIT, too many errors, 421 */

    if (c->lst->proxy != 0) {
        char perr[128];
        if (smtp_conn_proxy(c, perr, sizeof perr) != 0) {
            log_warn("connection refused: bad PROXY header", "peer", c->peer,
                     "listener", c->lst->name, "error", perr);
            metrics_counter_inc(srv->m_rejections, strstr(perr, "untrusted") != NULL
                                ? "proxy_untrusted" : "proxy_invalid");
            smtp_conn_done(c);
            return NULL;
        }
    }
    log_info("connection open", "client", c->ip, "peer", c->peer, "conn", no,
             "listener", c->lst->name);
    if (smtp_conn_ip_acquire(c) != 0) {
        log_warn("connection refused: too many connections from this address",
                 "client", c->ip);
        if (!c->lst->implicit_tls)
            smtp_conn_say(c, "421 4.7.0 Error: too many connections from your address\r\n",
                          "connection_per_ip");
        else
            metrics_counter_inc(srv->m_rejections, "connection_per_ip");
        smtp_conn_done(c);
        return NULL;
    }
    char nreply[192];
    const char *nreason = NULL;
    if (smtp_nuisance_connect(srv->nuisance, c->ip, nreply, sizeof nreply, &nreason) != 0) {
        if (!c->lst->implicit_tls)           /* block rule or connection rate */
            smtp_conn_say(c, nreply, nreason);
        else
            metrics_counter_inc(srv->m_rejections, nreason);
        smtp_conn_done(c);
        return NULL;
    }
    if (smtp_conn_pregreet(c)) {
        log_info("connection refused: client talked before the greeting", "client", c->ip);
        smtp_conn_say(c, "554 5.5.0 Error: you talked before the greeting\r\n", "pregreet");
        smtp_conn_done(c);
        return NULL;
    }
    if (c->lst->implicit_tls && smtp_conn_tls_start(c) != 0) {
        smtp_conn_done(c);
        return NULL;
    }

    c->sess = smtp_session_create(c->lst->scfg, c->ip, c);
    if (c->ssl != NULL)
        smtp_conn_tls_session(c);
    metrics_counter_inc(srv->m_replies, "220");
    time_t last = smtp_now();
    char rbuf[SMTP_FEED_MAX];
    while (smtp_conn_flush(c) == 0) {
        smtp_session *s = c->sess;
        if (c->pending.n > 0) {              /* the 250 is out: now publish */
            if (c->q == NULL) {
                char consumer[64];
                snprintf(consumer, sizeof consumer, "mx-%d-%lu", (int)getpid(), c->no);
                c->q = jobq_create(srv->svc->redis_url, srv->svc->redis_password, consumer);
            }
            smtp_commit_publish(&srv->cenv, c->q, &c->pending);
        }
        if (s->state == SMTP_STATE_CLOSED)
            break;
        if (atomic_load(&srv->aborting)) {
            smtp_session_abort(s, 421, "4.3.2 Service shutting down, closing connection");
            why = "shutdown";
            continue;                        /* flush, then leave */
        }
        int ready = c->ssl != NULL && SSL_pending(c->ssl) > 0;
        if (!ready) {
            struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
            int pr = poll(&pfd, 1, SMTP_POLL_MS);
            if (pr < 0 && errno != EINTR) {
                why = "poll error";
                break;
            }
            ready = pr > 0;
        }
        if (!ready) {
            /* RFC 5321 §4.5.3.2: 5 minutes for a command, 3 per data block */
            int limit = smtp_session_in_data(s) ? srv->data_timeout_s : srv->timeout_s;
            int idle = s->state == SMTP_STATE_CMD && s->tx == NULL && s->in.len == 0;
            if (atomic_load(&srv->stopping) && idle) {
                smtp_session_abort(s, 421, "4.3.2 Service shutting down, closing connection");
                why = "shutdown";
            } else if (smtp_now() - last >= limit) {
                smtp_session_abort(s, 421, "4.4.2 Error: timeout exceeded");
                why = "timeout";
            }
            continue;
        }
        long n = smtp_conn_read(c, rbuf, sizeof rbuf);
        if (n <= 0) {
            why = n == 0 ? "client closed" : "read error";
            break;
        }
        last = smtp_now();
        enum smtp_action act = smtp_session_feed(s, rbuf, (size_t)n);
        if (act == SMTP_ACT_STARTTLS) {
            /* Anything read after STARTTLS is dropped with rbuf (RFC 3207 §4.2;
             * CVE-2011-0411). */
            if (smtp_conn_flush(c) != 0) {
                why = "write error";
                break;
            }
            if (smtp_conn_tls_start(c) != 0) {
                why = "tls handshake failed";
                break;
            }
            smtp_conn_tls_session(c);
        }
    }
    if (c->sess->state != SMTP_STATE_CLOSED && strcmp(why, "session ended") == 0)
        why = "write error";
    log_info("connection closed", "client", c->ip, "conn", no, "reason", why);
    smtp_conn_done(c);
    return NULL;
}

/* Frees the connection and tells the server it is gone. */
static void smtp_conn_done(smtp_conn *c)
{
    smtp_server *srv = c->srv;
    if (c->pending.n > 0)
        smtp_commit_publish(&srv->cenv, c->q, &c->pending);   /* q may be NULL */
    if (c->ssl != NULL) {
        SSL_shutdown(c->ssl);
        SSL_free(c->ssl);
    }
    smtp_conn_ip_release(c);
    close(c->fd);
    smtp_session_free(c->sess);
    httpc_free(c->http);
    jobq_free(c->q);
    free(c);
    metrics_gauge_add(srv->m_conns, -1);
    pthread_mutex_lock(&srv->lock);
    srv->nconns--;
    pthread_cond_broadcast(&srv->cond);
    pthread_mutex_unlock(&srv->lock);
}

void smtp_server_stop(smtp_server *srv)
{
    if (srv == NULL)
        return;
    atomic_store(&srv->stopping, 1);
    pthread_join(srv->listener, NULL);
    for (size_t i = 0; i < srv->nlst; i++)
        close(srv->lst[i].fd);
    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += srv->drain_s;
    pthread_mutex_lock(&srv->lock);
    if (srv->nconns > 0) {
        char n[24];
        snprintf(n, sizeof n, "%ld", srv->nconns);
        log_info("smtp draining", "connections", n);
    }
    while (srv->nconns > 0 &&
           pthread_cond_timedwait(&srv->cond, &srv->lock, &deadline) != ETIMEDOUT)
        ;
    if (srv->nconns > 0) {
        atomic_store(&srv->aborting, 1);
        while (srv->nconns > 0)              /* each notices within SMTP_POLL_MS */
            pthread_cond_wait(&srv->cond, &srv->lock);
    }
    pthread_mutex_unlock(&srv->lock);
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
    pthread_cond_destroy(&srv->cond);
    pthread_mutex_destroy(&srv->lock);
    free(srv);
}
