/*
 * smtp_loop.c - the libevent loop thread of mx's SMTP server: listener
 * events and accept, the total connection limit (421 over it), the list
 * of open connections, the finished-jobs queue the workers fill, and the
 * stop/drain/abort sequence. Per-connection I/O is in smtp_conn.c. See
 * smtp_loop.h.
 *
 * SECURITY: at most srv->max_conns connections (more get a plaintext 421
 * where possible and are closed); accept runs at most SMTP_ACCEPT_BURST
 * times per wake-up; out of descriptors, accepting pauses for 100 ms.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <event2/event.h>
#include <event2/thread.h>
#include "log.h"
#include "xalloc.h"
#include "smtp_listen.h"
#include "smtp_loop.h"

#define SMTP_ACCEPT_BURST 64

/* in smtp_conn.c */
void smtp_conn_open(smtp_server *srv, const smtp_listener *lst, int fd, const char *ip);
void smtp_conn_job_finished(smtp_conn *c);
void smtp_conn_shutdown(smtp_conn *c, int abort_all);

struct smtp_loop {
    smtp_server       *srv;              /* borrowed */
    struct event_base *base;             /* owned */
    struct event      *accept_ev[SMTP_MAX_LISTENERS];   /* owned */
    struct event      *resume_ev;        /* owned: accept again after EMFILE */
    struct event      *done_ev;          /* owned: workers finished jobs */
    struct event      *stop_ev;          /* owned: smtp_loop_stop was called */
    struct event      *drain_ev;         /* owned: the drain time is over */
    pthread_t          thread;
    pthread_mutex_t    lock;             /* protects done_head */
    smtp_conn         *done_head;        /* borrowed connections */
    smtp_conn         *conns;            /* open connections (loop thread) */
    long               nconns;           /* loop thread */
    int                stopping, aborting;   /* loop thread */
};

struct event_base *smtp_loop_base(smtp_loop *l)
{
    return l->base;
}

int smtp_loop_stopping(const smtp_loop *l)
{
    return l->stopping;
}

int smtp_loop_aborting(const smtp_loop *l)
{
    return l->aborting;
}

void smtp_loop_conn_add(smtp_loop *l, smtp_conn *c)
{
    c->prev = NULL;
    c->next = l->conns;
    if (l->conns != NULL)
        l->conns->prev = c;
    l->conns = c;
}

void smtp_loop_conn_remove(smtp_loop *l, smtp_conn *c)
{
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        l->conns = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    c->prev = c->next = NULL;
    l->nconns--;
    if (l->stopping && l->nconns == 0 && event_base_loopexit(l->base, NULL) != 0)
        log_error("smtp loop: cannot leave the event loop");
}

void smtp_loop_job_done(smtp_loop *l, smtp_conn *c)
{
    pthread_mutex_lock(&l->lock);
    c->done_next = l->done_head;
    l->done_head = c;
    pthread_mutex_unlock(&l->lock);
    event_active(l->done_ev, EV_READ, 0);
}

static void smtp_loop_done_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    smtp_loop *l = arg;
    pthread_mutex_lock(&l->lock);
    smtp_conn *list = l->done_head;
    l->done_head = NULL;
    pthread_mutex_unlock(&l->lock);
    /* the list is newest first: reverse it to keep the order */
    smtp_conn *fifo = NULL;
    while (list != NULL) {
        smtp_conn *n = list->done_next;
        list->done_next = fifo;
        fifo = list;
        list = n;
    }
    while (fifo != NULL) {
        smtp_conn *n = fifo->done_next;
        fifo->done_next = NULL;
        smtp_conn_job_finished(fifo);   /* may free fifo */
        fifo = n;
    }
}

/* Over the total limit: no TLS and no PROXY read yet, so a plaintext 421
 * is the best we can do (an implicit-TLS client just sees the close). */
static void smtp_loop_refuse(smtp_loop *l, const smtp_listener *lst, int fd, const char *ip)
{
    smtp_server *srv = l->srv;
    char msg[320];
    int n = snprintf(msg, sizeof msg, "421 4.7.0 %s Error: too many connections, "
                     "try again later\r\n", srv->hostname);
    log_warn("connection refused: too many connections", "client", ip);
    if (!lst->implicit_tls && lst->proxy == 0 && n > 0 && (size_t)n < sizeof msg &&
        send(fd, msg, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
        log_debug("421 not sent", "client", ip);
    metrics_counter_inc(srv->m_replies, "421");
    metrics_counter_inc(srv->m_rejections, "connection_limit");
    close(fd);
}

static void smtp_loop_resume_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    smtp_loop *l = arg;
    if (l->stopping)
        return;
    for (size_t i = 0; i < l->srv->nlst; i++)
        if (event_add(l->accept_ev[i], NULL) != 0)
            log_error("smtp loop: cannot watch a listener");
}

static void smtp_loop_accept_cb(evutil_socket_t lfd, short what, void *arg)
{
    (void)what;
    smtp_loop *l = arg;
    smtp_server *srv = l->srv;
    const smtp_listener *lst = NULL;
    for (size_t i = 0; i < srv->nlst; i++)
        if (srv->lst[i].fd == lfd)
            lst = &srv->lst[i];
    if (lst == NULL || l->stopping)
        return;
    for (int k = 0; k < SMTP_ACCEPT_BURST; k++) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        int fd = accept4(lfd, (struct sockaddr *)&ss, &sl, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (fd < 0) {
            if (errno == EMFILE || errno == ENFILE) {
                log_warn("smtp: out of file descriptors; accepting pauses");
                struct timeval pause = { .tv_sec = 0, .tv_usec = 100 * 1000 };
                for (size_t i = 0; i < srv->nlst; i++)
                    (void)event_del(l->accept_ev[i]);
                if (event_add(l->resume_ev, &pause) != 0)
                    log_error("smtp loop: cannot arm the accept pause");
            }
            return;                      /* EAGAIN, ECONNABORTED, ... */
        }
        char ip[INET6_ADDRSTRLEN];
        smtp_listen_peer_ip(&ss, ip, sizeof ip);
        if (l->nconns >= srv->max_conns) {
            smtp_loop_refuse(l, lst, fd, ip);
            continue;
        }
        l->nconns++;
        smtp_conn_open(srv, lst, fd, ip);
    }
}

static void smtp_loop_drain_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    smtp_loop *l = arg;
    l->aborting = 1;
    if (l->nconns > 0) {
        char n[24];
        snprintf(n, sizeof n, "%ld", l->nconns);
        log_info("smtp drain time over; closing the rest", "connections", n);
    }
    smtp_conn *c = l->conns;
    while (c != NULL) {
        smtp_conn *n = c->next;         /* c may be freed */
        smtp_conn_shutdown(c, 1);
        c = n;
    }
}

static void smtp_loop_stop_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    smtp_loop *l = arg;
    l->stopping = 1;
    for (size_t i = 0; i < l->srv->nlst; i++) {   /* new clients are refused now */
        (void)event_del(l->accept_ev[i]);
        if (l->srv->lst[i].fd >= 0 && close(l->srv->lst[i].fd) != 0)
            log_warn("smtp: closing a listener failed");
        l->srv->lst[i].fd = -1;
    }
    (void)event_del(l->resume_ev);
    if (l->nconns == 0) {
        if (event_base_loopexit(l->base, NULL) != 0)
            log_error("smtp loop: cannot leave the event loop");
        return;
    }
    char n[24];
    snprintf(n, sizeof n, "%ld", l->nconns);
    log_info("smtp draining", "connections", n);
    struct timeval drain = { .tv_sec = l->srv->drain_s, .tv_usec = 0 };
    if (event_add(l->drain_ev, &drain) != 0)
        log_error("smtp loop: cannot arm the drain timer");
    smtp_conn *c = l->conns;
    while (c != NULL) {
        smtp_conn *nx = c->next;        /* c may be freed */
        smtp_conn_shutdown(c, 0);
        c = nx;
    }
}

static void *smtp_loop_main(void *arg)
{
    smtp_loop *l = arg;
    /* runs until the stop found no connection left (loopexit) */
    if (event_base_loop(l->base, EVLOOP_NO_EXIT_ON_EMPTY) < 0)
        log_error("smtp loop: event_base_loop failed");
    return NULL;
}

static void smtp_loop_free(smtp_loop *l)
{
    for (size_t i = 0; i < SMTP_MAX_LISTENERS; i++)
        if (l->accept_ev[i] != NULL)
            event_free(l->accept_ev[i]);
    if (l->resume_ev != NULL)
        event_free(l->resume_ev);
    if (l->done_ev != NULL)
        event_free(l->done_ev);
    if (l->stop_ev != NULL)
        event_free(l->stop_ev);
    if (l->drain_ev != NULL)
        event_free(l->drain_ev);
    if (l->base != NULL)
        event_base_free(l->base);
    pthread_mutex_destroy(&l->lock);
    free(l);
}

smtp_loop *smtp_loop_start(smtp_server *srv, char *err, size_t errlen)
{
    /* libevent's locks, so workers may wake the loop (event_active) */
    if (evthread_use_pthreads() != 0) {
        snprintf(err, errlen, "libevent: no pthreads support");
        return NULL;
    }
    smtp_loop *l = xcalloc(1, sizeof *l);
    l->srv = srv;
    if (pthread_mutex_init(&l->lock, NULL) != 0)
        fatal("smtp loop: mutex");
    l->base = event_base_new();
    int ok = l->base != NULL;
    for (size_t i = 0; ok && i < srv->nlst; i++) {
        if (evutil_make_socket_nonblocking(srv->lst[i].fd) != 0) {
            ok = 0;
            break;
        }
        l->accept_ev[i] = event_new(l->base, srv->lst[i].fd, EV_READ | EV_PERSIST,
                                    smtp_loop_accept_cb, l);
        ok = l->accept_ev[i] != NULL && event_add(l->accept_ev[i], NULL) == 0;
    }
    if (ok) {
        l->resume_ev = evtimer_new(l->base, smtp_loop_resume_cb, l);
        l->done_ev = event_new(l->base, -1, 0, smtp_loop_done_cb, l);
        l->stop_ev = event_new(l->base, -1, 0, smtp_loop_stop_cb, l);
        l->drain_ev = evtimer_new(l->base, smtp_loop_drain_cb, l);
        ok = l->resume_ev && l->done_ev && l->stop_ev && l->drain_ev;
    }
    if (!ok) {
        snprintf(err, errlen, "cannot set up the SMTP event loop");
        smtp_loop_free(l);
        return NULL;
    }
    srv->loop = l;                       /* before the first accept */
    if (pthread_create(&l->thread, NULL, smtp_loop_main, l) != 0) {
        snprintf(err, errlen, "cannot start the SMTP event loop thread");
        srv->loop = NULL;
        smtp_loop_free(l);
        return NULL;
    }
    return l;
}

void smtp_loop_stop(smtp_loop *l)
{
    if (l == NULL)
        return;
    event_active(l->stop_ev, EV_READ, 0);
    pthread_join(l->thread, NULL);
    smtp_loop_free(l);
}
