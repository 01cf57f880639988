/*
 * smtp_workers.h - mx's bounded pool of worker threads
 * (MAILYARD_SMTP_WORKERS) that run the blocking part of SMTP sessions
 * for the event loop (smtp_loop.h): smtp_session_feed() with its
 * callbacks (rewrite over HTTP, DNSBL, the PostgreSQL commit with sender
 * authentication) and the Redis publication after a 250.
 *
 * A job is an smtp_work node embedded in its owner (the connection); the
 * pool never allocates per job. Jobs run in FIFO order, each on one
 * worker; a connection has at most one job queued or running at a time
 * (the loop pauses its reading meanwhile), so the queue is bounded by the
 * number of connections.
 *
 * Each worker owns its clients, created lazily and reused by every job it
 * runs: an httpc for rewrite and a jobq for publishing (a few connections
 * per worker instead of one per SMTP connection).
 *
 * Ownership: smtp_workers_create() returns a pool the server owns;
 * smtp_workers_free() runs every job still queued, joins the threads and
 * frees the pool (accepts NULL). Thread-safe: submit from any thread.
 */
#ifndef MAILYARD_SMTP_WORKERS_H
#define MAILYARD_SMTP_WORKERS_H

#include <stddef.h>
#include "httpc.h"
#include "jobq.h"

/* What a worker lends to the job it runs (valid for the call only). */
typedef struct smtp_worker_local {
    httpc *http;                    /* NULL until a job creates it */
    jobq  *q;                       /* NULL until a job creates it */
    int    index;                   /* 0..n-1, for names */
} smtp_worker_local;

typedef struct smtp_work smtp_work;
struct smtp_work {
    smtp_work *next;                /* the pool's queue link */
    void     (*run)(smtp_work *w, smtp_worker_local *local);
};

typedef struct smtp_workers smtp_workers;

/* n threads (1..1024). NULL with err filled when a thread cannot start. */
smtp_workers *smtp_workers_create(int n, char *err, size_t errlen);
void          smtp_workers_free(smtp_workers *p);
/* Queues w (which must not be queued already); w->run is called once on
 * a worker thread. */
void          smtp_workers_submit(smtp_workers *p, smtp_work *w);

#endif
