/*
 * worker.c - the consumer loop and the sweeper of the job protocol (see
 * worker.h and docs/architecture.md "The job protocol").
 *
 * Owns: the pool's threads, one jobq per thread (and one for the sweeper),
 * copies of the option strings, and the stop flag. Borrows the database
 * pool, the shutdown state and the metrics registry.
 *
 * One entry, one transaction: BEGIN; lock the job (SKIP LOCKED); skip it
 * (ack) when it is locked elsewhere, missing, not pending, of another stage
 * or not yet due; else run the handler with the transaction open; record the
 * verdict; COMMIT; publish the outputs; XACK. WORKER_ERROR (or a failed
 * commit) rolls back and leaves the entry unacked in this consumer's
 * pending list, where jobq_read's XAUTOCLAIM picks it up again after
 * claim_idle_ms; the thread backs off briefly so a broken database or peer
 * does not become a hot loop. No mutex is held while the handler runs.
 *
 * Batches (worker_opts.batch_max > 1, the relay): after an entry arrives
 * the thread takes up to batch_max - 1 more that are already waiting and
 * runs them all in one transaction: BEGIN; lock them in one statement (a
 * job locked elsewhere for an instant is left for the one-entry path after
 * the batch); run the handler for each runnable one; record the verdicts
 * (done and failed jobs in one statement each); one COMMIT; publish every
 * output; one XACK for all. One WORKER_ERROR (or a failed commit) rolls
 * the whole batch back and leaves every entry unacked:
 * each is retried after claim_idle_ms, so a job of the batch whose remote
 * side had already accepted it is delivered again (at-least-once, as after
 * a crash). A retried entry (claimed, or from the own pending list) always
 * runs alone: a job that keeps failing cannot take other batches down.
 *
 * The sweeper republishes runnable jobs that were never published, or whose
 * publication is older than stuck_seconds, every sweep_ms.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jobq.h"
#include "log.h"
#include "worker.h"
#include "xalloc.h"

#define WORKER_ACQUIRE_MS     5000
#define WORKER_BACKOFF_MIN_MS 100
#define WORKER_BACKOFF_MAX_MS 5000
#define WORKER_DEFER_DEFAULT  60      /* seconds, when a handler leaves retry_at 0 */
#define WORKER_SWEEP_BATCH    500
#define WORKER_SWEEP_ROUNDS   20
#define WORKER_LOCK_RETRIES   3
#define WORKER_LOCK_RETRY_MS  20
#define WORKER_BATCH_MAX      64

/* One entry of a batch (worker_batch_run). */
typedef struct worker_item {
    const jobq_entry   *e;          /* borrowed from the caller's array */
    spool_job          *job;        /* owned; NULL when not locked */
    const char         *skip;       /* static text: ack without running */
    int                 single;     /* locked elsewhere: the one-entry path */
    enum worker_verdict v;
    double              seconds;    /* handler time */
    char                queue_id[32];
} worker_item;

typedef struct worker_thread {
    struct worker_pool *pool;      /* the owner */
    int                 no;
    pthread_t           tid;
    int                 started;
} worker_thread;

struct worker_pool {
    worker_opts     o;             /* copy; string fields point at the copies below */
    char           *stage;         /* owned */
    char           *redis_url;     /* owned */
    char           *redis_password;/* owned, may be NULL; wiped on free */
    char           *consumer;      /* owned */
    atomic_int      stop;
    pthread_mutex_t mu;            /* only for the stop condvar */
    pthread_cond_t  cv;
    worker_thread  *threads;       /* owned array of o.threads */
    pthread_t       sweeper;
    int             sweeper_started;
    metrics_family *jobs_total;    /* borrowed from the registry, may be NULL */
    metrics_family *job_seconds;
};

static void *worker_thread_main(void *arg);
static void *worker_sweeper_main(void *arg);
static int   worker_stopping(worker_pool *p);
static void  worker_sleep(worker_pool *p, int ms);
static int   worker_job_run(worker_pool *p, worker_thread *t, jobq *q, const jobq_entry *e);
static int   worker_batch_run(worker_pool *p, worker_thread *t, jobq *q, const jobq_entry *es,
                              int n);
static const char *worker_skip_reason(const worker_pool *p, const spool_job *job);
static int   worker_verdict_record(db_conn *c, const spool_job *job, enum worker_verdict v,
                                   time_t retry_at);
static void  worker_count(worker_pool *p, const char *verdict, double seconds);
static double worker_now(void);

worker_pool *worker_pool_start(const worker_opts *o, char *err, size_t errlen)
{
    if (o == NULL || o->stage == NULL || o->stage[0] == '\0' || strlen(o->stage) >= 16 ||
        o->handler == NULL || o->db == NULL || o->redis_url == NULL) {
        (void)snprintf(err, errlen, "worker: stage (< 16 chars), handler, db and redis_url are required");
        return NULL;
    }
    jobq *probe = jobq_create(o->redis_url, o->redis_password, "probe");
    if (probe == NULL) {
        (void)snprintf(err, errlen, "worker: malformed redis URL");
        return NULL;
    }
    jobq_free(probe);

    worker_pool *p = xcalloc(1, sizeof(*p));
    p->o = *o;
    p->stage = xstrdup(o->stage);
    p->redis_url = xstrdup(o->redis_url);
    p->redis_password = o->redis_password ? xstrdup(o->redis_password) : NULL;
    p->consumer = xstrdup(o->consumer && o->consumer[0] ? o->consumer : o->stage);
    p->o.stage = p->stage;
    p->o.redis_url = p->redis_url;
    p->o.redis_password = p->redis_password;
    p->o.consumer = p->consumer;
    if (p->o.threads <= 0)
        p->o.threads = 2;
    if (p->o.block_ms <= 0)
        p->o.block_ms = 1000;
    if (p->o.claim_idle_ms <= 0)
        p->o.claim_idle_ms = 60000;
    if (p->o.sweep_ms <= 0)
        p->o.sweep_ms = 2000;
    if (p->o.stuck_seconds <= 0)
        p->o.stuck_seconds = 300;
    if (p->o.batch_max <= 0)
        p->o.batch_max = 1;
    if (p->o.batch_max > WORKER_BATCH_MAX)
        p->o.batch_max = WORKER_BATCH_MAX;
    atomic_init(&p->stop, 0);
    if (pthread_mutex_init(&p->mu, NULL) != 0 || pthread_cond_init(&p->cv, NULL) != 0)
        abort();

    if (o->metrics != NULL) {
        static const char *const labels[] = { "stage", "verdict", NULL };
        static const char *const stage_label[] = { "stage", NULL };
        static const double bounds[] = { 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                                         1, 2.5, 5, 10, 30, 60, 300 };
        p->jobs_total = metrics_counter(o->metrics, "mailyard_jobs_total",
                                        "Jobs handled, by stage and verdict", labels);
        p->job_seconds = metrics_histogram(o->metrics, "mailyard_job_seconds",
                                           "Time to handle one job, by stage", stage_label,
                                           bounds, sizeof(bounds) / sizeof(bounds[0]));
    }

    p->threads = xcalloc((size_t)p->o.threads, sizeof(*p->threads));
    for (int i = 0; i < p->o.threads; i++) {
        p->threads[i].pool = p;
        p->threads[i].no = i;
        if (pthread_create(&p->threads[i].tid, NULL, worker_thread_main, &p->threads[i]) != 0) {
            (void)snprintf(err, errlen, "worker: cannot start thread: %s", strerror(errno));
            worker_pool_stop(p);
            return NULL;
        }
        p->threads[i].started = 1;
    }
    if (pthread_create(&p->sweeper, NULL, worker_sweeper_main, p) != 0) {
        (void)snprintf(err, errlen, "worker: cannot start sweeper: %s", strerror(errno));
        worker_pool_stop(p);
        return NULL;
    }
    p->sweeper_started = 1;
    char n[16];
    (void)snprintf(n, sizeof(n), "%d", p->o.threads);
    log_info("worker pool started", "stage", p->stage, "threads", n, "consumer", p->consumer);
    return p;
}

void worker_pool_stop(worker_pool *p)
{
    if (p == NULL)
        return;
    pthread_mutex_lock(&p->mu);
    atomic_store(&p->stop, 1);
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < p->o.threads; i++)
        if (p->threads[i].started)
            pthread_join(p->threads[i].tid, NULL);
    if (p->sweeper_started)
        pthread_join(p->sweeper, NULL);
    log_info("worker pool stopped", "stage", p->stage);
    free(p->threads);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    if (p->redis_password != NULL) {
        explicit_bzero(p->redis_password, strlen(p->redis_password));
        free(p->redis_password);
    }
    free(p->stage);
    free(p->redis_url);
    free(p->consumer);
    free(p);
}

void worker_publish(struct jobq *q, db_conn *c, const spool_jobs *l)
{
    if (l == NULL)
        return;
    for (size_t i = 0; i < l->n; i++) {
        char id[24];
        (void)snprintf(id, sizeof(id), "%" PRId64, l->items[i].id);
        /* Mark first, then XADD: a consumer that reads the entry at once
         * never finds the row locked by our UPDATE. A job the sweeper
         * published meanwhile (or a consumer already deferred) is skipped. */
        if (c != NULL) {
            int m = spool_job_mark_published(c, l->items[i].id);
            if (m == 0)
                continue;
            if (m < 0)
                log_warn("cannot mark job published", "job_id", id);
        }
        if (q == NULL || jobq_publish(q, l->items[i].stage, l->items[i].id) != 0) {
            /* Redis is unreachable: do not try the rest one by one; the
             * sweeper publishes every unpublished job. */
            if (c != NULL)
                (void)db_exec(c, "UPDATE spool.jobs SET published_at = NULL"
                                 " WHERE id = $1::bigint", 1, (const char *const[]){ id });
            log_warn("publish failed, left to the sweeper", "stage", l->items[i].stage,
                     "job_id", id);
            return;
        }
    }
}

/* ---- the consumer threads ---- */

static void *worker_thread_main(void *arg)
{
    worker_thread *t = arg;
    worker_pool *p = t->pool;
    char consumer[256];
    (void)snprintf(consumer, sizeof(consumer), "%s-%d", p->consumer, t->no);
    jobq *q = jobq_create(p->redis_url, p->redis_password, consumer);
    if (q == NULL)
        panic("worker: jobq_create failed after the URL was checked");
    int backoff = 0;
    jobq_entry *es = xcalloc((size_t)p->o.batch_max, sizeof(*es));
    while (!worker_stopping(p)) {
        int r = jobq_read(q, p->stage, p->o.block_ms, p->o.claim_idle_ms, &es[0]);
        int failed = 0, n = r > 0 ? 1 : 0;
        /* An entry read before (its batch or job failed) runs alone, so a
         * job that keeps failing does not take others down with it. */
        if (r > 0 && p->o.batch_max > 1 && !es[0].retry) {
            int more = jobq_read_more(q, p->stage, &es[1], p->o.batch_max - 1);
            n += more > 0 ? more : 0;
        }
        /* malformed entries are acknowledged and dropped from the batch */
        int k = 0;
        for (int i = 0; i < n; i++) {
            if (es[i].job_id <= 0) {
                log_warn("malformed job entry, acknowledged and skipped", "stage", p->stage,
                         "entry", es[i].entry_id);
                (void)jobq_ack(q, p->stage, es[i].entry_id);
            } else {
                es[k++] = es[i];
            }
        }
        if (r < 0)
            failed = 1;
        else if (k == 1)
            failed = worker_job_run(p, t, q, &es[0]) != 0;
        else if (k > 1)
            failed = worker_batch_run(p, t, q, es, k) != 0;
        if (failed) {
            backoff = backoff == 0 ? WORKER_BACKOFF_MIN_MS : backoff * 2;
            if (backoff > WORKER_BACKOFF_MAX_MS)
                backoff = WORKER_BACKOFF_MAX_MS;
            worker_sleep(p, backoff);
        } else if (r > 0) {
            backoff = 0;
        }
    }
    free(es);
    jobq_free(q);
    return NULL;
}

static const char *worker_verdict_name(enum worker_verdict v)
{
    switch (v) {
    case WORKER_DONE:   return "done";
    case WORKER_DEFER:  return "defer";
    case WORKER_FAILED: return "failed";
    case WORKER_ERROR:  return "error";
    }
    return "error";
}

/* Processes one entry. Returns 0 when the entry was settled (acked), -1
 * when it was left for a retry. */
static int worker_job_run(worker_pool *p, worker_thread *t, jobq *q, const jobq_entry *e)
{
    char jid[24];
    (void)snprintf(jid, sizeof(jid), "%" PRId64, e->job_id);
    double t0 = worker_now();
    db_conn *c = db_pool_acquire(p->o.db, WORKER_ACQUIRE_MS);
    if (c == NULL) {
        log_error("no database connection for a job", "stage", p->stage, "job_id", jid);
        worker_count(p, "error", -1);
        return -1;
    }
    spool_job *job = NULL;
    if (db_begin(c) != 0) {
        log_error("BEGIN failed", "stage", p->stage, "job_id", jid, "error", db_conn_error(c));
        db_pool_release(p->o.db, c);
        worker_count(p, "error", -1);
        return -1;
    }
    /* A row can be locked for an instant by a sweeper's claim or a
     * producer's mark; look again briefly before calling it a duplicate. */
    int lr = spool_job_lock(c, e->job_id, &job);
    for (int i = 0; lr == 0 && i < WORKER_LOCK_RETRIES; i++) {
        (void)db_rollback(c);
        worker_sleep(p, WORKER_LOCK_RETRY_MS);
        if (db_begin(c) != 0)
            lr = -1;
        else
            lr = spool_job_lock(c, e->job_id, &job);
    }
    if (lr < 0) {
        log_error("cannot lock job", "stage", p->stage, "job_id", jid, "error", db_conn_error(c));
        db_pool_release(p->o.db, c);           /* rolls back */
        worker_count(p, "error", -1);
        return -1;
    }

    /* Duplicates, foreign or not-yet-due jobs: ack and skip. A deferred job
     * is published again by the sweeper when it is due. */
    char queue_id[32] = "";
    const char *skip = NULL;
    if (lr == 0) {
        skip = "locked elsewhere or missing";
    } else {
        skip = worker_skip_reason(p, job);
        (void)str_copy(queue_id, sizeof(queue_id), job->queue_id);
    }
    if (skip != NULL) {
        log_debug("job skipped", "stage", p->stage, "job_id", jid, "queue_id", queue_id,
                  "reason", skip);
        (void)db_rollback(c);
        db_pool_release(p->o.db, c);
        spool_job_free(job);
        (void)jobq_ack(q, p->stage, e->entry_id);
        worker_count(p, "skipped", -1);
        return 0;
    }

    spool_jobs outputs = {0};
    worker_job_ctx ctx = {
        .db = c, .job = job, .outputs = &outputs, .retry_at = 0, .thread_no = t->no,
    };
    enum worker_verdict v = p->o.handler(p->o.handler_arg, &ctx);
    int ok = 0;
    if (v == WORKER_DONE || v == WORKER_FAILED || v == WORKER_DEFER) {
        ok = worker_verdict_record(c, job, v, ctx.retry_at) == 0 && db_commit(c) == 0;
    } else {
        v = WORKER_ERROR;
        (void)db_rollback(c);
    }
    const char *vname = worker_verdict_name(v);
    if (v != WORKER_ERROR && !ok) {
        log_error("cannot record the job's verdict, will retry", "stage", p->stage,
                  "job_id", jid, "queue_id", queue_id, "verdict", vname,
                  "error", db_conn_error(c));
        (void)db_rollback(c);
        vname = "error";
        v = WORKER_ERROR;
    }
    if (v == WORKER_ERROR) {
        log_error("job failed transiently, will retry", "stage", p->stage, "job_id", jid,
                  "queue_id", queue_id);
    } else {
        worker_publish(q, c, &outputs);
        (void)jobq_ack(q, p->stage, e->entry_id);
        log_debug("job handled", "stage", p->stage, "job_id", jid, "queue_id", queue_id,
                  "verdict", vname);
    }
    db_pool_release(p->o.db, c);
    spool_jobs_release(&outputs);
    spool_job_free(job);
    worker_count(p, vname, worker_now() - t0);
    return v == WORKER_ERROR ? -1 : 0;
}

/* Why a locked job is not run (static text), or NULL to run it. */
static const char *worker_skip_reason(const worker_pool *p, const spool_job *job)
{
    if (strcmp(job->state, "pending") != 0)
        return "not pending";
    if (strcmp(job->stage, p->stage) != 0)
        return "job of another stage";
    if (job->not_due)       /* due and queue id come with the lock */
        return "not due yet";
    return NULL;
}

/* Records a handler's verdict on the job, inside the open transaction. */
static int worker_verdict_record(db_conn *c, const spool_job *job, enum worker_verdict v,
                                 time_t retry_at)
{
    switch (v) {
    case WORKER_DONE:
        return spool_job_finish(c, job->id, "done");
    case WORKER_FAILED:
        return spool_job_finish(c, job->id, "failed");
    case WORKER_DEFER:
        return spool_job_defer(c, job->id, retry_at > 0 ? retry_at
                                                        : time(NULL) + WORKER_DEFER_DEFAULT);
    case WORKER_ERROR:
        break;
    }
    return -1;
}

/* Processes n (> 1) entries in one transaction (see the top of the file).
 * Returns 0 when the batch was settled, -1 when it was rolled back and
 * left unacked. Entries whose job was locked elsewhere go through
 * worker_job_run afterwards. */
static int worker_batch_run(worker_pool *p, worker_thread *t, jobq *q, const jobq_entry *es,
                            int n)
{
    char jid[24];
    (void)snprintf(jid, sizeof(jid), "%" PRId64, es[0].job_id);
    db_conn *c = db_pool_acquire(p->o.db, WORKER_ACQUIRE_MS);
    if (c == NULL) {
        log_error("no database connection for a batch", "stage", p->stage, "job_id", jid);
        worker_count(p, "error", -1);
        return -1;
    }
    if (db_begin(c) != 0) {
        log_error("BEGIN failed", "stage", p->stage, "job_id", jid, "error", db_conn_error(c));
        db_pool_release(p->o.db, c);
        worker_count(p, "error", -1);
        return -1;
    }
    worker_item *it = xcalloc((size_t)n, sizeof(*it));
    int64_t *ids = xcalloc((size_t)n, sizeof(*ids));
    spool_job **jobs = xcalloc((size_t)n, sizeof(*jobs));
    size_t ndone = 0, nfailed = 0;
    int64_t *done = xcalloc((size_t)n, sizeof(*done)), *fail = xcalloc((size_t)n, sizeof(*fail));
    spool_jobs outputs = {0};
    int failed = 0;
    for (int i = 0; i < n; i++)
        ids[i] = es[i].job_id;
    if (spool_job_lock_many(c, ids, (size_t)n, jobs) != 0) {
        log_error("cannot lock the jobs of a batch", "stage", p->stage, "job_id", jid,
                  "error", db_conn_error(c));
        failed = 1;
    }
    for (int i = 0; i < n && !failed; i++) {
        it[i].e = &es[i];
        it[i].job = jobs[i];
        if (it[i].job == NULL) {
            it[i].single = 1;
        } else {
            it[i].skip = worker_skip_reason(p, it[i].job);
            (void)str_copy(it[i].queue_id, sizeof(it[i].queue_id), it[i].job->queue_id);
        }
    }
    for (int i = 0; i < n && !failed; i++) {
        if (it[i].single || it[i].skip != NULL)
            continue;
        worker_job_ctx ctx = {
            .db = c, .job = it[i].job, .outputs = &outputs, .retry_at = 0,
            .thread_no = t->no,
        };
        double h0 = worker_now();
        it[i].v = p->o.handler(p->o.handler_arg, &ctx);
        it[i].seconds = worker_now() - h0;
        (void)snprintf(jid, sizeof(jid), "%" PRId64, it[i].job->id);
        if (it[i].v == WORKER_ERROR) {
            log_error("job failed transiently, its batch will retry", "stage", p->stage,
                      "job_id", jid, "queue_id", it[i].queue_id);
            failed = 1;
        } else if (it[i].v == WORKER_DONE) {
            done[ndone++] = it[i].job->id;         /* finished together below */
        } else if (it[i].v == WORKER_FAILED) {
            fail[nfailed++] = it[i].job->id;
        } else if (worker_verdict_record(c, it[i].job, it[i].v, ctx.retry_at) != 0) {
            log_error("cannot record the job's verdict, its batch will retry",
                      "stage", p->stage, "job_id", jid, "queue_id", it[i].queue_id,
                      "verdict", worker_verdict_name(it[i].v), "error", db_conn_error(c));
            failed = 1;
        }
    }
    if (!failed && (spool_job_finish_many(c, done, ndone, "done") != 0 ||
                    spool_job_finish_many(c, fail, nfailed, "failed") != 0)) {
        log_error("cannot record the verdicts of a batch, will retry", "stage", p->stage,
                  "error", db_conn_error(c));
        failed = 1;
    }
    if (!failed && db_commit(c) != 0) {
        log_error("COMMIT of a batch failed, will retry", "stage", p->stage,
                  "error", db_conn_error(c));
        failed = 1;
    }
    if (failed) {
        (void)db_rollback(c);
    } else {
        worker_publish(q, c, &outputs);
    }
    db_pool_release(p->o.db, c);
    const char **acks = xcalloc((size_t)n, sizeof(*acks));
    int nacks = 0;
    for (int i = 0; i < n; i++) {
        if (it[i].job == NULL)
            it[i].job = jobs[i];     /* locked but not looked at (lock failed) */
        if (!failed && !it[i].single) {
            acks[nacks++] = es[i].entry_id;
            if (it[i].skip != NULL)
                worker_count(p, "skipped", -1);
            else
                worker_count(p, worker_verdict_name(it[i].v), it[i].seconds);
        } else if (failed && it[i].job != NULL && it[i].skip == NULL) {
            worker_count(p, "error", -1);
        }
        spool_job_free(it[i].job);
    }
    (void)jobq_ack_many(q, p->stage, acks, nacks);
    free(acks);
    spool_jobs_release(&outputs);
    /* the ones locked elsewhere for an instant: alone, with the lock retries */
    for (int i = 0; i < n && !failed; i++)
        if (it[i].single)
            (void)worker_job_run(p, t, q, &es[i]);
    free(it);
    free(ids);
    free(jobs);
    free(done);
    free(fail);
    return failed ? -1 : 0;
}

/* ---- the sweeper ---- */

static void *worker_sweeper_main(void *arg)
{
    worker_pool *p = arg;
    char consumer[256];
    (void)snprintf(consumer, sizeof(consumer), "%s-sweeper", p->consumer);
    jobq *q = jobq_create(p->redis_url, p->redis_password, consumer);
    if (q == NULL)
        panic("worker: jobq_create failed after the URL was checked");
    while (!worker_stopping(p)) {
        /* Claiming marks jobs published: only claim when Redis answers, so
         * that an outage does not push them back by stuck_seconds. */
        if (jobq_ping(q) != 0) {
            worker_sleep(p, p->o.sweep_ms);
            continue;
        }
        db_conn *c = db_pool_acquire(p->o.db, WORKER_ACQUIRE_MS);
        if (c == NULL) {
            log_warn("sweeper: no database connection", "stage", p->stage);
        } else {
            for (int round = 0; round < WORKER_SWEEP_ROUNDS && !worker_stopping(p); round++) {
                spool_jobs l = {0};
                int n = spool_job_claim_for_publish(c, p->stage, p->o.stuck_seconds,
                                                    WORKER_SWEEP_BATCH, &l);
                int published = 0;
                for (int i = 0; i < n; i++) {
                    if (jobq_publish(q, p->stage, l.items[i].id) != 0)
                        break;          /* left for the next stuck interval */
                    published++;
                }
                if (n > 0) {
                    char a[16], b[16];
                    (void)snprintf(a, sizeof(a), "%d", n);
                    (void)snprintf(b, sizeof(b), "%d", published);
                    log_info("sweeper republished jobs", "stage", p->stage,
                             "claimed", a, "published", b);
                }
                spool_jobs_release(&l);
                if (n < WORKER_SWEEP_BATCH || published < n)
                    break;
            }
            db_pool_release(p->o.db, c);
        }
        worker_sleep(p, p->o.sweep_ms);
    }
    jobq_free(q);
    return NULL;
}

/* ---- helpers ---- */

static int worker_stopping(worker_pool *p)
{
    return atomic_load(&p->stop) ||
           (p->o.shutdown != NULL && shutdown_requested(p->o.shutdown));
}

/* Sleeps ms, or less when the pool is stopped. */
static void worker_sleep(worker_pool *p, int ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&p->mu);
    while (!atomic_load(&p->stop)) {
        if (pthread_cond_timedwait(&p->cv, &p->mu, &ts) == ETIMEDOUT)
            break;
    }
    pthread_mutex_unlock(&p->mu);
}

/* Counts a verdict; seconds < 0 means "no handler ran". */
static void worker_count(worker_pool *p, const char *verdict, double seconds)
{
    if (p->jobs_total != NULL)
        metrics_counter_inc(p->jobs_total, p->stage, verdict);
    if (p->job_seconds != NULL && seconds >= 0)
        metrics_histogram_observe(p->job_seconds, seconds, p->stage);
}

static double worker_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}
