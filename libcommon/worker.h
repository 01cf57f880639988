/*
 * worker.h - the consumer loop every stage runs: read a job from Redis,
 * process it in one PostgreSQL transaction, commit, publish the outputs,
 * acknowledge. And the sweeper that makes Redis disposable.
 *
 * For each entry: BEGIN; spool_job_lock (SKIP LOCKED: if another worker
 * holds it, ack the duplicate and move on); if the job is no longer pending,
 * ack and skip (idempotent); else call the handler with the transaction
 * open. Then by the handler's verdict:
 *   WORKER_DONE   job marked done, COMMIT, publish every job in outputs, ACK;
 *   WORKER_DEFER  job deferred to *retry_at (spool_job_defer), COMMIT,
 *                 publish outputs, ACK; the sweeper republishes it when due;
 *   WORKER_FAILED job marked failed (permanent), COMMIT, publish, ACK;
 *   WORKER_ERROR  ROLLBACK, no ACK: a transient problem (database, a peer
 *                 service); the entry is retried after claim_idle_ms.
 * Publishing failures after a commit are logged only: the sweeper recovers.
 *
 * The sweeper thread (one per worker_pool) runs every sweep_ms and
 * republishes runnable jobs of the pool's stage that were never published
 * or were published more than stuck_seconds ago (spool.h).
 *
 * Shutdown: worker_pool_stop() lets each thread finish the job in hand
 * (no new reads), then joins them. An unfinished transaction is rolled back
 * and its entry left unacked, so another consumer takes it.
 */
#ifndef MAILYARD_WORKER_H
#define MAILYARD_WORKER_H

#include <time.h>
#include "db.h"
#include "spool.h"
#include "shutdown.h"
#include "metrics.h"

enum worker_verdict { WORKER_DONE, WORKER_DEFER, WORKER_FAILED, WORKER_ERROR };

typedef struct worker_job_ctx {
    db_conn    *db;         /* inside an open transaction; do not commit */
    spool_job  *job;        /* locked, pending */
    spool_jobs *outputs;    /* add jobs created here (spool_job_create) */
    time_t      retry_at;   /* set with WORKER_DEFER */
    int         thread_no;  /* 0..threads-1, to index per-thread state */
} worker_job_ctx;

typedef enum worker_verdict (*worker_handler)(void *arg, worker_job_ctx *ctx);

typedef struct worker_opts {
    const char *stage;
    int         threads;          /* default 2 */
    db_pool    *db;               /* borrowed */
    const char *redis_url;        /* copied */
    const char *redis_password;   /* may be NULL; copied */
    const char *consumer;         /* base name; thread number appended */
    int         block_ms;         /* XREADGROUP BLOCK, default 1000 */
    long        claim_idle_ms;    /* XAUTOCLAIM min idle, default 60000 */
    int         sweep_ms;         /* default 2000 */
    int         stuck_seconds;    /* default 300 */
    int         batch_max;        /* entries per transaction, default 1 (max 64) */
    worker_handler handler;
    void       *handler_arg;
    shutdown_state   *shutdown;   /* borrowed */
    metrics_registry *metrics;    /* borrowed, may be NULL */
} worker_opts;

typedef struct worker_pool worker_pool;

worker_pool *worker_pool_start(const worker_opts *o, char *err, size_t errlen);
void         worker_pool_stop(worker_pool *p);   /* join and free; accepts NULL */

/* After a commit: publish every job in l on q and mark each published on c
 * (outside any transaction). Used by the worker loop and by code outside it
 * (mx after its commit, API handlers such as "approve"). Errors are logged
 * only: the sweeper publishes what failed. Needs #include "jobq.h". */
struct jobq;
void worker_publish(struct jobq *q, db_conn *c, const spool_jobs *l);

#endif
