/*
 * smtp_workers.c - the worker threads of mx's event-driven SMTP server:
 * a FIFO of intrusive jobs under one mutex and condition variable. See
 * smtp_workers.h.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include "log.h"
#include "xalloc.h"
#include "smtp_workers.h"

struct smtp_workers {
    pthread_mutex_t    lock;
    pthread_cond_t     cond;
    smtp_work         *head, *tail;    /* borrowed nodes */
    int                stopping;       /* finish the queue, then exit */
    pthread_t         *threads;        /* owned */
    smtp_worker_local *locals;         /* owned, one per thread */
    int                n;
};

typedef struct smtp_worker_arg {
    smtp_workers      *pool;
    smtp_worker_local *local;
} smtp_worker_arg;

static void *smtp_workers_main(void *arg)
{
    smtp_workers *p = ((smtp_worker_arg *)arg)->pool;
    smtp_worker_local *local = ((smtp_worker_arg *)arg)->local;
    free(arg);
    pthread_mutex_lock(&p->lock);
    for (;;) {
        while (p->head == NULL && !p->stopping)
            pthread_cond_wait(&p->cond, &p->lock);
        smtp_work *w = p->head;
        if (w == NULL)
            break;                      /* stopping and nothing left */
        p->head = w->next;
        if (p->head == NULL)
            p->tail = NULL;
        w->next = NULL;
        pthread_mutex_unlock(&p->lock);
        w->run(w, local);
        pthread_mutex_lock(&p->lock);
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

smtp_workers *smtp_workers_create(int n, char *err, size_t errlen)
{
    if (n < 1 || n > 1024) {
        snprintf(err, errlen, "worker count out of range");
        return NULL;
    }
    smtp_workers *p = xcalloc(1, sizeof *p);
    if (pthread_mutex_init(&p->lock, NULL) != 0 || pthread_cond_init(&p->cond, NULL) != 0)
        fatal("smtp workers: pthread init failed");
    p->threads = xcalloc((size_t)n, sizeof *p->threads);
    p->locals = xcalloc((size_t)n, sizeof *p->locals);
    for (int i = 0; i < n; i++) {
        smtp_worker_arg *a = xcalloc(1, sizeof *a);
        a->pool = p;
        a->local = &p->locals[i];
        a->local->index = i;
        if (pthread_create(&p->threads[i], NULL, smtp_workers_main, a) != 0) {
            free(a);
            snprintf(err, errlen, "cannot start SMTP worker thread %d", i);
            smtp_workers_free(p);       /* joins the p->n started so far */
            return NULL;
        }
        p->n = i + 1;
    }
    return p;
}

void smtp_workers_free(smtp_workers *p)
{
    if (p == NULL)
        return;
    pthread_mutex_lock(&p->lock);
    p->stopping = 1;
    pthread_cond_broadcast(&p->cond);
    pthread_mutex_unlock(&p->lock);
    for (int i = 0; i < p->n; i++)
        pthread_join(p->threads[i], NULL);
    int total = p->threads != NULL ? p->n : 0;
    for (int i = 0; i < total; i++) {
        httpc_free(p->locals[i].http);
        jobq_free(p->locals[i].q);
    }
    free(p->threads);
    free(p->locals);
    pthread_cond_destroy(&p->cond);
    pthread_mutex_destroy(&p->lock);
    free(p);
}

void smtp_workers_submit(smtp_workers *p, smtp_work *w)
{
    w->next = NULL;
    pthread_mutex_lock(&p->lock);
    if (p->tail != NULL)
        p->tail->next = w;
    else
        p->head = w;
    p->tail = w;
    pthread_cond_signal(&p->cond);
    pthread_mutex_unlock(&p->lock);
}
