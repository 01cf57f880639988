/*
 * smtp_conn.c - one SMTP connection on mx's event loop (smtp_loop.c): the
 * PROXY header, the per-IP limit, pregreet detection, the TLS handshake
 * (implicit or STARTTLS, with OpenSSL bufferevents), reading and writing,
 * per-state timeouts and the close. The session itself is fed on a worker
 * thread (smtp_workers.h): the loop takes up to SMTP_FEED_MAX bytes,
 * pauses reading and queues a job; the worker runs smtp_session_feed()
 * (whose callbacks block: rewrite, DNSBL, the commit) and hands the
 * connection back; the loop writes the replies, queues the publication of
 * newly committed jobs if any (after the 250 is queued for writing), and
 * then reads on. See smtp_conn.h for who touches what when.
 *
 * Phases: PROXY -> (per-IP limit) -> PREGREET -> [HANDSHAKE] -> SESSION
 * [-> STARTTLS -> HANDSHAKE -> SESSION] -> CLOSING -> freed.
 *
 * SECURITY: the PROXY header is read with recv() from trusted networks
 * only, exactly as many bytes as it has (never the SMTP or TLS after it),
 * before any bufferevent exists. After STARTTLS every byte already read is
 * dropped (RFC 3207 §4.2, CVE-2011-0411). At most SMTP_INPUT_MAX bytes are
 * buffered per connection (reading pauses above it, and while a job runs);
 * replies are bounded by the session (SMTP_FEED_MAX per feed). Every wait
 * has a timeout: command or data block (RFC 5321 §4.5.3.2), and the write
 * of a reply.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/err.h>
#include "jobq.h"
#include "log.h"
#include "xalloc.h"
#include "proxy_parse.h"
#include "smtp_loop.h"
#include "smtp_conn.h"

#define SMTP_INPUT_MAX  (64 * 1024)     /* read high watermark */
#define SMTP_PROXY_BUF  (16 + PROXY_V2_MAX_LEN)

void smtp_conn_open(smtp_server *srv, const smtp_listener *lst, int fd, const char *ip);
void smtp_conn_job_finished(smtp_conn *c);
void smtp_conn_shutdown(smtp_conn *c, int abort_all);

static void smtp_conn_free(smtp_conn *c);
static void smtp_conn_opened(smtp_conn *c);
static void smtp_conn_begin(smtp_conn *c);
static void smtp_conn_tls_begin(smtp_conn *c);
static void smtp_conn_session_start(smtp_conn *c);
static void smtp_conn_resume(smtp_conn *c);
static void smtp_conn_closing(smtp_conn *c);
static void smtp_conn_run(smtp_work *w, smtp_worker_local *local);

static int smtp_conn_max_wait(const smtp_server *srv)
{
    return srv->timeout_s > srv->data_timeout_s ? srv->timeout_s : srv->data_timeout_s;
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

/* Waits for c->fd to become readable (or secs/ms to pass), then cb. */
static int smtp_conn_wait(smtp_conn *c, event_callback_fn cb, long ms)
{
    if (c->ev != NULL)
        event_free(c->ev);
    c->ev = event_new(smtp_loop_base(c->srv->loop), c->fd, EV_READ, cb, c);
    struct timeval tv = { .tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000 };
    if (c->ev == NULL || event_add(c->ev, &tv) != 0) {
        log_error("smtp: cannot wait on a connection", "client", c->ip);
        return -1;
    }
    return 0;
}

static void smtp_conn_proxy_fail(smtp_conn *c, const char *why)
{
    log_warn("connection refused: bad PROXY header", "peer", c->peer,
             "listener", c->lst->name, "error", why);
    metrics_counter_inc(c->srv->m_rejections, strstr(why, "untrusted") != NULL
                        ? "proxy_untrusted" : "proxy_invalid");
    smtp_conn_free(c);
}

/* Reads the PROXY header, exactly its bytes, as they arrive. */
static void smtp_conn_proxy_cb(evutil_socket_t fd, short what, void *arg)
{
    smtp_conn *c = arg;
    if (what & EV_TIMEOUT) {
        smtp_conn_proxy_fail(c, "no complete PROXY header");
        return;
    }
    unsigned char *hdr = (unsigned char *)c->rbuf;
    proxy_info pi;
    for (;;) {
        enum proxy_result r = proxy_parse(hdr, c->rlen, c->lst->proxy, &pi);
        if (r == PROXY_ERROR) {
            smtp_conn_proxy_fail(c, pi.error);
            return;
        }
        if (r == PROXY_OK)
            break;
        if (pi.need > SMTP_PROXY_BUF - c->rlen)
            panic("proxy_parse asked for more than its maximum");
        ssize_t n = recv(fd, hdr + c->rlen, pi.need, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (smtp_conn_wait(c, smtp_conn_proxy_cb, smtp_conn_max_wait(c->srv) * 1000L) != 0)
                smtp_conn_free(c);
            return;
        }
        if (n <= 0) {
            smtp_conn_proxy_fail(c, "no complete PROXY header");
            return;
        }
        c->rlen += (size_t)n;
    }
    if (!pi.local) {
        if (str_copy(c->ip, sizeof c->ip, pi.src_ip) != 0)
            panic("proxied address too long");
        if (strncmp(c->ip, "::ffff:", 7) == 0 && strchr(c->ip + 7, '.') != NULL)
            memmove(c->ip, c->ip + 7, strlen(c->ip + 7) + 1);   /* v4-mapped */
    }
    log_debug("proxy header", "peer", c->peer, "client", c->ip,
              "version", pi.version == 1 ? "1" : "2");
    free(c->rbuf);
    c->rbuf = NULL;
    c->rlen = 0;
    smtp_conn_opened(c);
}

void smtp_conn_open(smtp_server *srv, const smtp_listener *lst, int fd, const char *ip)
{
    smtp_conn *c = xcalloc(1, sizeof *c);
    c->srv = srv;
    c->lst = lst;
    c->fd = fd;
    c->no = atomic_fetch_add(&srv->seq, 1) + 1;
    c->why = "session ended";             /* QUIT, too many errors, 421 */
    c->work.run = smtp_conn_run;
    if (str_copy(c->ip, sizeof c->ip, ip) != 0 || str_copy(c->peer, sizeof c->peer, ip) != 0)
        panic("peer address too long");
    smtp_loop_conn_add(srv->loop, c);
    metrics_counter_inc(srv->m_conns_total);
    metrics_gauge_add(srv->m_conns, 1);
    if (lst->proxy == 0) {
        smtp_conn_opened(c);
        return;
    }
    c->phase = SMTP_CONN_PROXY;
    if (!smtp_cidr_match(srv->proxy_trusted, c->peer)) {
        smtp_conn_proxy_fail(c, "PROXY protocol from an untrusted address");
        return;
    }
    c->rbuf = xmalloc(SMTP_PROXY_BUF);
    c->rlen = 0;
    if (smtp_conn_wait(c, smtp_conn_proxy_cb, smtp_conn_max_wait(srv) * 1000L) != 0)
        smtp_conn_free(c);
}

static void smtp_conn_pregreet_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    smtp_conn *c = arg;
    if (what & EV_READ) {
        log_info("connection refused: client talked before the greeting", "client", c->ip);
        smtp_conn_say(c, "554 5.5.0 Error: you talked before the greeting\r\n", "pregreet");
        smtp_conn_free(c);
        return;
    }
    smtp_conn_begin(c);
}

/* The client address is final: log, count it per IP, watch for pregreet. */
static void smtp_conn_opened(smtp_conn *c)
{
    smtp_server *srv = c->srv;
    char no[24];
    snprintf(no, sizeof no, "%lu", c->no);
    log_info("connection open", "client", c->ip, "peer", c->peer, "conn", no,
             "listener", c->lst->name);
    if (smtp_iplimit_acquire(srv->per_ip, c->ip) != 0) {
        log_warn("connection refused: too many connections from this address",
                 "client", c->ip);
        if (!c->lst->implicit_tls)
            smtp_conn_say(c, "421 4.7.0 Error: too many connections from your address\r\n",
                          "connection_per_ip");
        else
            metrics_counter_inc(srv->m_rejections, "connection_per_ip");
        smtp_conn_free(c);
        return;
    }
    c->ip_counted = 1;
    if (srv->pregreet_ms == 0 || c->lst->implicit_tls) {
        smtp_conn_begin(c);
        return;
    }
    c->phase = SMTP_CONN_PREGREET;
    if (smtp_conn_wait(c, smtp_conn_pregreet_cb, srv->pregreet_ms) != 0)
        smtp_conn_free(c);
}

/* Queues the session's replies for writing. */
static void smtp_conn_write_out(smtp_conn *c)
{
    buf *out = &c->sess->out;
    if (out->len == 0)
        return;
    if (bufferevent_write(c->bev, out->data, out->len) != 0)
        log_warn("smtp: cannot queue a reply", "client", c->ip);
    else
        metrics_counter_add(c->srv->m_bytes, (double)out->len, "out");
    buf_reset(out);
}

static void smtp_conn_timeouts(smtp_conn *c, int read_s)
{
    struct timeval rt = { .tv_sec = read_s, .tv_usec = 0 };
    struct timeval wt = { .tv_sec = smtp_conn_max_wait(c->srv), .tv_usec = 0 };
    if (bufferevent_set_timeouts(c->bev, &rt, &wt) != 0)
        log_warn("smtp: cannot set timeouts", "client", c->ip);
}

/* Takes up to SMTP_FEED_MAX buffered bytes to a worker. */
static void smtp_conn_dispatch(smtp_conn *c)
{
    struct evbuffer *in = bufferevent_get_input(c->bev);
    size_t len = evbuffer_get_length(in);
    if (len == 0)
        return;
    if (len > SMTP_FEED_MAX)
        len = SMTP_FEED_MAX;
    c->rbuf = xmalloc(SMTP_FEED_MAX);
    int n = evbuffer_remove(in, c->rbuf, len);
    if (n <= 0) {
        c->why = "read error";
        smtp_conn_free(c);              /* frees c->rbuf */
        return;
    }
    c->rlen = (size_t)n;
    metrics_counter_add(c->srv->m_bytes, (double)n, "in");
    if (bufferevent_disable(c->bev, EV_READ) != 0)
        log_warn("smtp: cannot pause reading", "client", c->ip);
    c->busy = 1;
    c->job = SMTP_JOB_FEED;
    smtp_workers_submit(c->srv->workers, &c->work);
}

static void smtp_conn_read_cb(struct bufferevent *bev, void *arg)
{
    smtp_conn *c = arg;
    if (c->busy)
        return;
    if (c->phase != SMTP_CONN_SESSION) {
        (void)evbuffer_drain(bufferevent_get_input(bev), SMTP_INPUT_MAX);
        return;
    }
    smtp_conn_dispatch(c);
}

static void smtp_conn_write_cb(struct bufferevent *bev, void *arg)
{
    (void)bev;
    smtp_conn *c = arg;
    if (c->busy)
        return;
    if (c->phase == SMTP_CONN_CLOSING) {
        smtp_conn_free(c);
    } else if (c->phase == SMTP_CONN_STARTTLS) {
        /* the 220 is out: the same socket goes on under TLS */
        bufferevent_free(c->bev);
        c->bev = NULL;
        smtp_conn_tls_begin(c);
    }
}

static void smtp_conn_event_cb(struct bufferevent *bev, short what, void *arg)
{
    smtp_conn *c = arg;
    if (what & BEV_EVENT_CONNECTED) {
        if (c->phase != SMTP_CONN_HANDSHAKE)
            return;
        char desc[128];
        smtp_tls_describe(c->ssl, desc, sizeof desc);
        log_info("tls established", "client", c->ip, "tls", desc);
        metrics_counter_inc(c->srv->m_tls, SSL_get_version(c->ssl));
        if (c->sess == NULL) {
            smtp_conn_session_start(c);
        } else {
            smtp_session_tls_started(c->sess);
            c->phase = SMTP_CONN_SESSION;
            if (c->lst->policy->submission) {     /* the client certificate */
                c->busy = 1;
                c->job = SMTP_JOB_TLS;
                smtp_workers_submit(c->srv->workers, &c->work);
            } else {
                smtp_conn_resume(c);
            }
        }
        return;
    }
    if (c->phase == SMTP_CONN_HANDSHAKE) {
        char err[256] = "connection closed";
        unsigned long e = bufferevent_get_openssl_error(bev);
        if (e != 0)
            ERR_error_string_n(e, err, sizeof err);
        else if (what & BEV_EVENT_TIMEOUT)
            snprintf(err, sizeof err, "timeout");
        while (bufferevent_get_openssl_error(bev) != 0)
            ;
        log_info("tls handshake failed", "client", c->ip, "error", err);
        metrics_counter_inc(c->srv->m_rejections, "tls_handshake");
        c->why = "tls handshake failed";
        smtp_conn_free(c);
        return;
    }
    if ((what & BEV_EVENT_TIMEOUT) && (what & BEV_EVENT_READING) &&
        c->phase == SMTP_CONN_SESSION && !c->busy) {
        /* RFC 5321 §4.5.3.2: 5 minutes for a command, 3 per data block */
        smtp_session_abort(c->sess, 421, "4.4.2 Error: timeout exceeded");
        c->why = "timeout";
        smtp_conn_write_out(c);
        smtp_conn_closing(c);
        return;
    }
    if (what & BEV_EVENT_EOF)
        c->why = "client closed";
    else if (what & BEV_EVENT_WRITING)
        c->why = "write error";
    else
        c->why = "read error";
    if (c->busy) {                       /* the worker still has it */
        c->dead = 1;
        (void)bufferevent_disable(c->bev, EV_READ | EV_WRITE);
        return;
    }
    smtp_conn_free(c);
}

static int smtp_conn_bev_setup(smtp_conn *c)
{
    bufferevent_setcb(c->bev, smtp_conn_read_cb, smtp_conn_write_cb, smtp_conn_event_cb, c);
    bufferevent_setwatermark(c->bev, EV_READ, 0, SMTP_INPUT_MAX);
    smtp_conn_timeouts(c, c->srv->timeout_s);
    if (bufferevent_enable(c->bev, EV_READ | EV_WRITE) != 0) {
        log_error("smtp: cannot enable a connection", "client", c->ip);
        return -1;
    }
    return 0;
}

/* Server-side TLS on c->fd with the current certificate; the handshake
 * goes on in the loop (BEV_EVENT_CONNECTED). */
static void smtp_conn_tls_begin(smtp_conn *c)
{
    smtp_server *srv = c->srv;
    SSL_CTX *ctx = smtp_tls_store_get(srv->tls, atomic_load(&srv->svc->shutdown.reload_gen));
    SSL *ssl = SSL_new(ctx);
    smtp_tls_ctx_free(ctx);              /* the SSL holds its own reference */
    if (ssl != NULL && c->lst->policy->submission && smtp_tls_request_client_cert(ssl) != 0) {
        SSL_free(ssl);
        ssl = NULL;
    }
    if (ssl == NULL) {
        log_info("tls handshake failed", "client", c->ip, "error", "SSL_new");
        metrics_counter_inc(srv->m_rejections, "tls_handshake");
        c->why = "tls handshake failed";
        smtp_conn_free(c);
        return;
    }
    c->bev = bufferevent_openssl_socket_new(smtp_loop_base(srv->loop), c->fd, ssl,
                                            BUFFEREVENT_SSL_ACCEPTING,
                                            BEV_OPT_CLOSE_ON_FREE);
    if (c->bev == NULL) {
        SSL_free(ssl);
        c->why = "tls handshake failed";
        smtp_conn_free(c);
        return;
    }
    c->fd = -1;                          /* the bufferevent closes it now */
    c->ssl = ssl;
    c->phase = SMTP_CONN_HANDSHAKE;
    bufferevent_openssl_set_allow_dirty_shutdown(c->bev, 1);
    if (smtp_conn_bev_setup(c) != 0)
        smtp_conn_free(c);
}

/* After pregreet: TLS first on the implicit-TLS listener, else the 220. */
static void smtp_conn_begin(smtp_conn *c)
{
    if (c->ev != NULL) {
        event_free(c->ev);
        c->ev = NULL;
    }
    if (c->lst->implicit_tls) {
        smtp_conn_tls_begin(c);
        return;
    }
    c->bev = bufferevent_socket_new(smtp_loop_base(c->srv->loop), c->fd, 0);
    if (c->bev == NULL || smtp_conn_bev_setup(c) != 0) {
        smtp_conn_free(c);
        return;
    }
    smtp_conn_session_start(c);
}

/* The session with its 220 queued; a worker runs the connection checks
 * (they may wait on Redis or PostgreSQL) before anything is written. */
static void smtp_conn_session_start(smtp_conn *c)
{
    c->sess = smtp_session_create(c->lst->policy, c->ip, c);
    if (c->ssl != NULL)
        smtp_session_tls_started(c->sess);
    c->phase = SMTP_CONN_SESSION;
    c->busy = 1;
    c->job = SMTP_JOB_ADMIT;
    smtp_workers_submit(c->srv->workers, &c->work);
}

/* Stops reading; frees the connection once the replies are written. */
static void smtp_conn_closing(smtp_conn *c)
{
    c->phase = SMTP_CONN_CLOSING;
    (void)bufferevent_disable(c->bev, EV_READ);
    if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
        smtp_conn_free(c);
}

static int smtp_conn_idle(const smtp_session *s)
{
    return s->state == SMTP_STATE_CMD && s->tx == NULL && s->in.len == 0;
}

/* Loop thread, not busy, SESSION: close, feed what is buffered, or read. */
static void smtp_conn_resume(smtp_conn *c)
{
    smtp_loop *l = c->srv->loop;
    smtp_session *s = c->sess;
    if (s->state == SMTP_STATE_CLOSED) {
        smtp_conn_closing(c);
        return;
    }
    size_t buffered = evbuffer_get_length(bufferevent_get_input(c->bev));
    if (smtp_loop_aborting(l) || (smtp_loop_stopping(l) && smtp_conn_idle(s) && buffered == 0)) {
        smtp_session_abort(s, 421, "4.3.2 Service shutting down, closing connection");
        c->why = "shutdown";
        smtp_conn_write_out(c);
        smtp_conn_closing(c);
        return;
    }
    if (buffered > 0) {
        smtp_conn_dispatch(c);
        return;
    }
    smtp_conn_timeouts(c, smtp_session_in_data(s) ? c->srv->data_timeout_s : c->srv->timeout_s);
    if (bufferevent_enable(c->bev, EV_READ) != 0) {
        c->why = "read error";
        smtp_conn_free(c);
    }
}

/* Worker thread: the job of a busy connection. */
static void smtp_conn_run(smtp_work *w, smtp_worker_local *local)
{
    smtp_conn *c = (smtp_conn *)w;
    smtp_server *srv = c->srv;
    if (c->job == SMTP_JOB_FEED) {
        c->http = local->http;           /* smtp_conn_rcpt creates it if NULL */
        c->act = smtp_session_feed(c->sess, c->rbuf, c->rlen);
        local->http = c->http;
        c->http = NULL;
        free(c->rbuf);
        c->rbuf = NULL;
        c->rlen = 0;
    } else if (c->job == SMTP_JOB_ADMIT) {
        smtp_server_conn_admit(c);
    } else if (c->job == SMTP_JOB_TLS) {
        smtp_server_conn_tls(c);
    } else {
        if (local->q == NULL) {
            char consumer[64];
            snprintf(consumer, sizeof consumer, "mx-%d-w%d", (int)getpid(), local->index);
            local->q = jobq_create(srv->svc->redis_url, srv->svc->redis_password, consumer);
        }
        smtp_commit_publish(&srv->cenv, local->q, &c->pending);
    }
    smtp_loop_job_done(srv->loop, c);
}

void smtp_conn_job_finished(smtp_conn *c)
{
    c->busy = 0;
    if (c->dead) {
        smtp_conn_free(c);
        return;
    }
    if (c->job == SMTP_JOB_ADMIT)
        smtp_conn_write_out(c);              /* the 220, or the refusal */
    if (c->job == SMTP_JOB_FEED) {
        smtp_conn_write_out(c);
        if (c->pending.n > 0) {           /* the 250 is queued: now publish */
            c->busy = 1;
            c->job = SMTP_JOB_PUBLISH;
            smtp_workers_submit(c->srv->workers, &c->work);
            return;
        }
    }
    if (c->act == SMTP_ACT_STARTTLS && !smtp_loop_aborting(c->srv->loop)) {
        /* Anything read after STARTTLS is dropped (RFC 3207 §4.2;
         * CVE-2011-0411); the handshake starts once the 220 is out. */
        c->act = SMTP_ACT_CONTINUE;
        struct evbuffer *in = bufferevent_get_input(c->bev);
        (void)evbuffer_drain(in, evbuffer_get_length(in));
        c->phase = SMTP_CONN_STARTTLS;
        (void)bufferevent_disable(c->bev, EV_READ);
        if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
            smtp_conn_write_cb(c->bev, c);
        return;
    }
    smtp_conn_resume(c);
}

void smtp_conn_shutdown(smtp_conn *c, int abort_all)
{
    if (c->busy)
        return;                          /* resume() decides after the job */
    if (c->phase == SMTP_CONN_SESSION) {
        smtp_conn_resume(c);             /* 421 if idle (or aborting) */
        return;
    }
    if (abort_all && c->phase != SMTP_CONN_CLOSING) {
        c->why = "shutdown";
        smtp_conn_free(c);
    }
}

/* Loop thread, not busy: closes and frees everything of c. */
static void smtp_conn_free(smtp_conn *c)
{
    smtp_server *srv = c->srv;
    if (c->sess != NULL) {
        char no[24];
        snprintf(no, sizeof no, "%lu", c->no);
        const char *why = c->why;
        if (c->sess->state != SMTP_STATE_CLOSED && strcmp(why, "session ended") == 0)
            why = "write error";
        log_info("connection closed", "client", c->ip, "conn", no, "reason", why);
    }
    if (c->pending.n > 0)
        smtp_commit_publish(&srv->cenv, NULL, &c->pending);   /* left to the sweeper */
    if (c->ev != NULL)
        event_free(c->ev);
    if (c->bev != NULL) {
        if (c->ssl != NULL && SSL_is_init_finished(c->ssl))
            (void)SSL_shutdown(c->ssl);  /* close_notify, best effort */
        bufferevent_free(c->bev);        /* TLS: also the SSL and the socket */
    }
    if (c->fd >= 0)
        close(c->fd);
    if (c->ip_counted)
        smtp_iplimit_release(srv->per_ip, c->ip);
    smtp_session_free(c->sess);
    httpc_free(c->http);
    free(c->rbuf);
    metrics_gauge_add(srv->m_conns, -1);
    smtp_loop_conn_remove(srv->loop, c);
    free(c);
}
