/*
 * smtp_server.c - the SMTP listener, connection threads, socket and TLS
 * I/O, timeouts and the drain on shutdown. The protocol lives in
 * smtp_session.c; this file only moves bytes and wires the session's
 * callbacks to rcpt_check.c and smtp_commit.c. See smtp_server.h.
 *
 * SECURITY: the number of connections, the idle time, the bytes read per
 * feed (SMTP_FEED_MAX) and the time to write a reply (SO_SNDTIMEO) are
 * bounded; a connection problem ends that connection only.
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
#include "rcpt_check.h"
#include "smtp_commit.h"
#include "smtp_session.h"
#include "smtp_tls.h"
#include "smtp_server.h"

#define SMTP_THREAD_STACK   (256 * 1024)
#define SMTP_POLL_MS        1000
#define SMTP_RCPT_CACHE_MAX 100000
#define SMTP_HTTP_TIMEOUT_MS 5000
#define SMTP_DB_TIMEOUT_MS  10000

struct smtp_server {
    service         *svc;                /* borrowed */
    int              listen_fd;
    pthread_t        listener;
    SSL_CTX         *tls;                /* owned, NULL without a certificate */
    rcpt_cache      *cache;              /* owned */
    smtp_session_cfg scfg;
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
};

typedef struct smtp_conn {
    smtp_server  *srv;                   /* borrowed */
    int           fd;                    /* owned */
    SSL          *ssl;                   /* owned, NULL in plaintext */
    char          ip[INET6_ADDRSTRLEN];
    smtp_session *sess;                  /* owned */
    httpc        *http;                  /* owned, lazily created */
    jobq         *q;                     /* owned, lazily created */
    spool_jobs    pending;               /* committed, to publish after the reply */
    unsigned long no;
} smtp_conn;

static int   smtp_server_listen(const char *spec, char *err, size_t errlen);
static void *smtp_server_accept_loop(void *arg);
static void *smtp_conn_main(void *arg);
static void  smtp_conn_done(smtp_conn *c);
static int   smtp_conn_flush(smtp_conn *c);
static long  smtp_conn_read(smtp_conn *c, char *p, size_t n);
static enum smtp_rcpt_verdict smtp_conn_rcpt(void *arg, const char *addr);
static int   smtp_conn_commit(void *arg, smtp_session *s, smtp_tx *tx, char *qid, size_t qidlen);
static void  smtp_conn_reply(void *arg, smtp_session *s, int code, const char *text);
static void  smtp_peer_ip(const struct sockaddr_storage *ss, char *out, size_t outlen);
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
    srv->listen_fd = -1;

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
    long max_rcpts = config_get_long(cfg, "MAILYARD_SMTP_MAX_RECIPIENTS", 100);
    long max_errors = config_get_long(cfg, "MAILYARD_SMTP_MAX_ERRORS", 20);
    long timeout = config_get_long(cfg, "MAILYARD_SMTP_TIMEOUT_SECONDS", 300);
    long drain = config_get_long(cfg, "MAILYARD_SMTP_DRAIN_SECONDS", 30);
    long ttl = config_get_long(cfg, "MAILYARD_MX_RCPT_CACHE_SECONDS", 30);
    srv->max_conns = config_get_long(cfg, "MAILYARD_SMTP_MAX_CONNECTIONS", 1000);
    if (max_size < 1 || max_size > 1L << 30 || max_rcpts < 1 || max_rcpts > 100000 ||
        max_errors < 1 || timeout < 1 || drain < 0 || ttl < 0 || srv->max_conns < 1) {
        snprintf(err, errlen, "a MAILYARD_SMTP_* limit is out of range");
        free(srv);
        return NULL;
    }
    srv->timeout_s = (int)timeout;
    srv->drain_s = (int)drain;
    srv->rewrite_url = config_get(cfg, "MAILYARD_REWRITE_URL", "http://127.0.0.1:9102");

    const char *cert = config_get(cfg, "MAILYARD_TLS_CERT_FILE", NULL);
    const char *key = config_get(cfg, "MAILYARD_TLS_KEY_FILE", NULL);
    if ((cert && *cert) || (key && *key)) {
        if (!(cert && *cert && key && *key)) {
            snprintf(err, errlen, "MAILYARD_TLS_CERT_FILE and MAILYARD_TLS_KEY_FILE go together");
            free(srv);
            return NULL;
        }
        srv->tls = smtp_tls_ctx_create(cert, key, err, errlen);
        if (srv->tls == NULL) {
            free(srv);
            return NULL;
        }
    }

    srv->scfg.hostname = srv->hostname;
    srv->scfg.max_message_size = (size_t)max_size;
    srv->scfg.max_rcpts = (size_t)max_rcpts;
    srv->scfg.max_errors = (int)max_errors;
    srv->scfg.tls_available = srv->tls != NULL;
    srv->scfg.rcpt_check = smtp_conn_rcpt;
    srv->scfg.commit = smtp_conn_commit;
    srv->scfg.on_reply = smtp_conn_reply;

    static const char *const code_label[] = { "code", NULL };
    static const double accept_bounds[] = { 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                                            1, 2.5, 5, 10 };
    metrics_registry *mr = svc->metrics;
    srv->m_conns_total = metrics_counter(mr, "mailyard_smtp_connections_total",
                                         "SMTP connections accepted", NULL);
    srv->m_conns = metrics_gauge(mr, "mailyard_smtp_connections",
                                 "SMTP connections open now", NULL);
    srv->m_replies = metrics_counter(mr, "mailyard_smtp_replies_total",
                                     "SMTP replies sent, by reply code", code_label);
    srv->cenv.db = svc->db;
    srv->cenv.hostname = srv->hostname;
    srv->cenv.db_timeout_ms = SMTP_DB_TIMEOUT_MS;
    srv->cenv.accepted = metrics_counter(mr, "mailyard_smtp_messages_accepted_total",
                                         "messages committed to the spool", NULL);
    srv->cenv.accept_seconds = metrics_histogram(mr, "mailyard_smtp_accept_seconds",
                                                 "end of DATA to the 250 reply", NULL,
                                                 accept_bounds,
                                                 sizeof accept_bounds / sizeof accept_bounds[0]);
    srv->cache = rcpt_cache_create((int)ttl, SMTP_RCPT_CACHE_MAX);

    pthread_condattr_t ca;
    if (pthread_mutex_init(&srv->lock, NULL) != 0 || pthread_condattr_init(&ca) != 0 ||
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) != 0 ||
        pthread_cond_init(&srv->cond, &ca) != 0)
        fatal("smtp server: pthread init failed");
    pthread_condattr_destroy(&ca);

    const char *listen_spec = config_get(cfg, "MAILYARD_SMTP_LISTEN", "127.0.0.1:2525");
    srv->listen_fd = smtp_server_listen(listen_spec, err, errlen);
    if (srv->listen_fd < 0 ||
        pthread_create(&srv->listener, NULL, smtp_server_accept_loop, srv) != 0) {
        if (srv->listen_fd >= 0) {
            snprintf(err, errlen, "cannot start the SMTP listener thread");
            close(srv->listen_fd);
        }
        rcpt_cache_free(srv->cache);
        smtp_tls_ctx_free(srv->tls);
        pthread_cond_destroy(&srv->cond);
        pthread_mutex_destroy(&srv->lock);
        free(srv);
        return NULL;
    }
    log_info("smtp listening", "listen", listen_spec, "hostname", srv->hostname,
             "tls", srv->tls ? "yes" : "no");
    return srv;
}

/* "host:port", "[v6]:port" or ":port" (every address). */
static int smtp_server_listen(const char *spec, char *err, size_t errlen)
{
    char host[256];
    const char *orig = spec;
    const char *colon = strrchr(spec, ':');
    if (colon == NULL || colon[1] == '\0') {
        snprintf(err, errlen, "MAILYARD_SMTP_LISTEN: expected host:port, got \"%s\"", spec);
        return -1;
    }
    size_t hl = (size_t)(colon - spec);
    if (hl >= 2 && spec[0] == '[' && spec[hl - 1] == ']') {
        spec++;
        hl -= 2;
    }
    if (hl >= sizeof host) {
        snprintf(err, errlen, "MAILYARD_SMTP_LISTEN: host too long");
        return -1;
    }
    memcpy(host, spec, hl);
    host[hl] = '\0';
    struct addrinfo hints, *ai = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICHOST | AI_NUMERICSERV;
    int gr = getaddrinfo(hl ? host : NULL, colon + 1, &hints, &ai);
    if (gr != 0) {
        snprintf(err, errlen, "MAILYARD_SMTP_LISTEN: %s", gai_strerror(gr));
        return -1;
    }
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 128) != 0) {
        snprintf(err, errlen, "MAILYARD_SMTP_LISTEN %s: %s", orig, strerror(errno));
        if (fd >= 0)
            close(fd);
        fd = -1;
    }
    freeaddrinfo(ai);
    return fd;
}

static void smtp_peer_ip(const struct sockaddr_storage *ss, char *out, size_t outlen)
{
    if (getnameinfo((const struct sockaddr *)ss, sizeof *ss, out, (socklen_t)outlen,
                    NULL, 0, NI_NUMERICHOST) != 0) {
        str_copy(out, outlen, "unknown");
        return;
    }
    if (strncmp(out, "::ffff:", 7) == 0 && strchr(out + 7, '.') != NULL)
        memmove(out, out + 7, strlen(out + 7) + 1);   /* v4-mapped */
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
        struct pollfd pfd = { .fd = srv->listen_fd, .events = POLLIN };
        if (poll(&pfd, 1, 250) <= 0)
            continue;
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        int fd = accept4(srv->listen_fd, (struct sockaddr *)&ss, &sl, SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EMFILE || errno == ENFILE)
                usleep(100 * 1000);
            continue;
        }
        char ip[INET6_ADDRSTRLEN];
        smtp_peer_ip(&ss, ip, sizeof ip);
        pthread_mutex_lock(&srv->lock);
        int full = srv->nconns >= srv->max_conns;
        if (!full)
            srv->nconns++;
        pthread_mutex_unlock(&srv->lock);
        if (!full) {
            smtp_conn *c = xcalloc(1, sizeof *c);
            c->srv = srv;
            c->fd = fd;
            c->no = atomic_fetch_add(&srv->seq, 1) + 1;
            memcpy(c->ip, ip, sizeof c->ip);
            pthread_t t;
            if (pthread_create(&t, &attr, smtp_conn_main, c) == 0)
                continue;
            free(c);
            pthread_mutex_lock(&srv->lock);
            srv->nconns--;
            pthread_cond_broadcast(&srv->cond);
            pthread_mutex_unlock(&srv->lock);
        }
        char msg[320];
        int n = snprintf(msg, sizeof msg, "421 4.7.0 %s Error: too many connections, "
                         "try again later\r\n", srv->hostname);
        log_warn("connection refused: too many connections", "client", ip);
        if (send(fd, msg, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
            log_debug("421 not sent", "client", ip);
        metrics_counter_inc(srv->m_replies, "421");
        close(fd);
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
    buf_reset(out);
    return 0;
}

static long smtp_conn_read(smtp_conn *c, char *p, size_t n)
{
    if (c->ssl != NULL)
        return SSL_read(c->ssl, p, (int)n);
    for (;;) {
        ssize_t r = recv(c->fd, p, n, 0);
        if (r < 0 && errno == EINTR)
            continue;
        return (long)r;
    }
}

static enum smtp_rcpt_verdict smtp_conn_rcpt(void *arg, const char *addr)
{
    smtp_conn *c = arg;
    if (c->http == NULL)
        c->http = httpc_create(c->srv->rewrite_url, c->srv->svc->admin_token,
                               SMTP_HTTP_TIMEOUT_MS);
    return rcpt_check(c->http, c->srv->cache, addr);
}

static int smtp_conn_commit(void *arg, smtp_session *s, smtp_tx *tx, char *qid, size_t qidlen)
{
    smtp_conn *c = arg;
    return smtp_commit_message(&c->srv->cenv, s, tx, qid, qidlen, &c->pending);
}

static void smtp_conn_reply(void *arg, smtp_session *s, int code, const char *text)
{
    smtp_conn *c = arg;
    char cs[8];
    snprintf(cs, sizeof cs, "%d", code);
    metrics_counter_inc(c->srv->m_replies, cs);
    if (code >= 400)
        log_info("smtp rejection", "client", c->ip, "helo", s->helo, "code", cs,
                 "reason", text);
}

static void *smtp_conn_main(void *arg)
{
    smtp_conn *c = arg;
    smtp_server *srv = c->srv;
    metrics_counter_inc(srv->m_conns_total);
    metrics_gauge_add(srv->m_conns, 1);
    struct timeval tv = { .tv_sec = srv->timeout_s, .tv_usec = 0 };
    if (setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) != 0 ||
        setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) != 0)
        log_warn("cannot set socket timeouts", "client", c->ip);
    char no[24];
    snprintf(no, sizeof no, "%lu", c->no);
    log_info("connection open", "client", c->ip, "conn", no);

    c->sess = smtp_session_create(&srv->scfg, c->ip, c);
    metrics_counter_inc(srv->m_replies, "220");
    const char *why = "session ended";   /* QUIT, too many errors, 421 */
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
            int idle = s->state == SMTP_STATE_CMD && s->tx == NULL && s->in.len == 0;
            if (atomic_load(&srv->stopping) && idle) {
                smtp_session_abort(s, 421, "4.3.2 Service shutting down, closing connection");
                why = "shutdown";
            } else if (smtp_now() - last >= srv->timeout_s) {
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
            /* Anything read after STARTTLS is dropped with rbuf (RFC 3207 §4.2). */
            if (smtp_conn_flush(c) != 0) {
                why = "write error";
                break;
            }
            char err[256];
            c->ssl = smtp_tls_accept(srv->tls, c->fd, err, sizeof err);
            if (c->ssl == NULL) {
                log_info("tls handshake failed", "client", c->ip, "error", err);
                why = "tls handshake failed";
                break;
            }
            char desc[128];
            smtp_tls_describe(c->ssl, desc, sizeof desc);
            log_info("tls established", "client", c->ip, "tls", desc);
            smtp_session_tls_started(s);
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
    close(srv->listen_fd);
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
    smtp_tls_ctx_free(srv->tls);
    pthread_cond_destroy(&srv->cond);
    pthread_mutex_destroy(&srv->lock);
    free(srv);
}
