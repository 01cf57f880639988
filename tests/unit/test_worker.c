/*
 * test_worker.c - unit tests for libcommon/worker.c (consumer loop and
 * sweeper) against a real PostgreSQL and Redis (run under
 * tests/unit/with-services.sh; fails without it). Uses Redis database 2 and
 * its own PostgreSQL database. A handler records its calls and does what
 * the job's payload says: {"verdict": "done"|"failed"|"defer",
 * "fail_first": N (WORKER_ERROR the first N calls), "out": stage (create an
 * output job)}. A deferred job is done on its next call.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <hiredis.h>

#include "db.h"
#include "jobq.h"
#include "metrics.h"
#include "spool.h"
#include "worker.h"
#include "services_fixture.h"

#define DBNO 2

typedef struct recorder {
    pthread_mutex_t mu;
    int64_t ids[1024];
    int     n;
} recorder;

typedef struct wk_fixture {
    char         *dsn;
    char         *url;
    db_pool      *pool;
    redisContext *admin;
    jobq         *producer;
    recorder      rec;
    int64_t       msg_id;
    metrics_registry *metrics;
} wk_fixture;

static int record_call(recorder *r, int64_t id)
{
    pthread_mutex_lock(&r->mu);
    int n = 0;
    if (r->n < 1024)
        r->ids[r->n++] = id;
    for (int i = 0; i < r->n; i++)
        n += r->ids[i] == id;
    pthread_mutex_unlock(&r->mu);
    return n;
}

static int calls(recorder *r, int64_t id)
{
    pthread_mutex_lock(&r->mu);
    int n = 0;
    for (int i = 0; i < r->n; i++)
        n += r->ids[i] == id;
    pthread_mutex_unlock(&r->mu);
    return n;
}

static enum worker_verdict handler(void *arg, worker_job_ctx *ctx)
{
    recorder *r = arg;
    int n = record_call(r, ctx->job->id);
    json_t *pl = ctx->job->payload;
    const char *verdict = json_string_value(json_object_get(pl, "verdict"));
    const char *out = json_string_value(json_object_get(pl, "out"));
    json_int_t fail_first = json_integer_value(json_object_get(pl, "fail_first"));
    if (out != NULL &&
        spool_job_create(ctx->db, out, ctx->job->message_id, NULL, 0, ctx->outputs) < 0)
        return WORKER_ERROR;
    if (n <= fail_first)
        return WORKER_ERROR;
    if (verdict != NULL && strcmp(verdict, "failed") == 0)
        return WORKER_FAILED;
    if (verdict != NULL && strcmp(verdict, "defer") == 0 && n == 1) {
        ctx->retry_at = time(NULL) + 2;
        return WORKER_DEFER;
    }
    return WORKER_DONE;
}

static redisReply *admin(wk_fixture *f, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(f->admin, fmt, ap);
    va_end(ap);
    if (r == NULL)
        fail_msg("redis: %s", f->admin->errstr);
    return r;
}

static long long admin_int(wk_fixture *f, const char *fmt, const char *arg)
{
    redisReply *r = admin(f, fmt, arg);
    long long v = r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
    freeReplyObject(r);
    return v;
}

static long long group_pending(wk_fixture *f, const char *stage)
{
    redisReply *r = admin(f, "XPENDING mailyard:stage:%s %s", stage, stage);
    long long v = -1;
    if (r->type == REDIS_REPLY_ARRAY && r->elements >= 1 &&
        r->element[0]->type == REDIS_REPLY_INTEGER)
        v = r->element[0]->integer;
    freeReplyObject(r);
    return v;
}

static char *q1(wk_fixture *f, const char *fmt, int64_t id)
{
    char sql[512];
    snprintf(sql, sizeof(sql), fmt, id);
    db_conn *c = db_pool_acquire(f->pool, 5000);
    assert_non_null(c);
    PGresult *r = db_query(c, sql, 0, NULL, NULL, NULL);
    if (r == NULL)
        fail_msg("%s: %s", sql, db_conn_error(c));
    char *v = strdup(PQntuples(r) > 0 ? PQgetvalue(r, 0, 0) : "");
    PQclear(r);
    db_pool_release(f->pool, c);
    return v;
}

static int wait_sql(wk_fixture *f, const char *fmt, int64_t id, const char *want, int ms)
{
    for (int waited = 0; waited <= ms; waited += 50) {
        char *v = q1(f, fmt, id);
        int same = strcmp(v, want) == 0;
        free(v);
        if (same)
            return 1;
        usleep(50000);
    }
    return 0;
}

#define STATE_SQL "SELECT state FROM spool.jobs WHERE id = %" PRId64

/* Creates a job; publish: 1 = commit then worker_publish, 0 = leave it
 * unpublished (a producer that died after its commit). */
static int64_t make_job(wk_fixture *f, const char *stage, const char *payload, int publish)
{
    db_conn *c = db_pool_acquire(f->pool, 5000);
    assert_non_null(c);
    json_error_t je;
    json_t *pl = json_loads(payload, 0, &je);
    assert_non_null(pl);
    spool_jobs out = {0};
    assert_int_equal(db_begin(c), 0);
    int64_t id = spool_job_create(c, stage, f->msg_id, pl, 0, &out);
    assert_true(id > 0);
    assert_int_equal(db_commit(c), 0);
    if (publish)
        worker_publish(f->producer, c, &out);
    spool_jobs_release(&out);
    json_decref(pl);
    db_pool_release(f->pool, c);
    return id;
}

static worker_pool *start_batch(wk_fixture *f, const char *stage, int threads,
                                long claim_idle_ms, int stuck_seconds, int batch_max)
{
    worker_opts o = {
        .stage = stage, .threads = threads, .db = f->pool, .redis_url = f->url,
        .consumer = "test", .block_ms = 100, .claim_idle_ms = claim_idle_ms,
        .sweep_ms = 200, .stuck_seconds = stuck_seconds, .handler = handler,
        .handler_arg = &f->rec, .metrics = f->metrics, .batch_max = batch_max,
    };
    char err[256];
    worker_pool *p = worker_pool_start(&o, err, sizeof(err));
    if (p == NULL)
        fail_msg("worker_pool_start: %s", err);
    return p;
}

static worker_pool *start(wk_fixture *f, const char *stage, int threads, long claim_idle_ms,
                          int stuck_seconds)
{
    return start_batch(f, stage, threads, claim_idle_ms, stuck_seconds, 1);
}

static int setup(void **state)
{
    static wk_fixture f;
    f.dsn = fixture_pg_dsn("worker");
    f.url = fixture_redis_url(DBNO);
    if (f.dsn == NULL || f.url == NULL || fixture_spool_migrate(f.dsn) != 0)
        return -1;
    f.pool = db_pool_create(f.dsn, 8);
    char host[64];
    int port;
    if (sscanf(f.url, "redis://%63[^:]:%d", host, &port) != 2)
        return -1;
    f.admin = redisConnect(host, port);
    if (f.admin == NULL || f.admin->err)
        return -1;
    redisReply *r = redisCommand(f.admin, "SELECT %d", DBNO);
    freeReplyObject(r);
    r = redisCommand(f.admin, "FLUSHDB");
    freeReplyObject(r);
    f.producer = jobq_create(f.url, NULL, "producer");
    pthread_mutex_init(&f.rec.mu, NULL);
    f.metrics = metrics_registry_create();

    db_conn *c = db_pool_acquire(f.pool, 5000);
    if (c == NULL)
        return -1;
    char *rcpts[] = { "r@example.org" };
    spool_message m = { .mail_from = "s@example.com", .rcpts = rcpts, .nrcpts = 1,
                        .origin = "test", .raw = "x", .raw_len = 1 };
    if (spool_message_insert(c, &m) != 0)
        return -1;
    f.msg_id = m.id;
    db_pool_release(f.pool, c);
    *state = &f;
    return 0;
}

static int teardown(void **state)
{
    wk_fixture *f = *state;
    jobq_free(f->producer);
    redisFree(f->admin);
    db_pool_free(f->pool);
    metrics_registry_free(f->metrics);
    free(f->dsn);
    free(f->url);
    return 0;
}

static void test_done_publishes_and_acks(void **state)
{
    wk_fixture *f = *state;
    worker_pool *p = start(f, "w1", 1, 60000, 300);
    usleep(200000);                              /* group created */
    int64_t j = make_job(f, "w1", "{\"verdict\":\"done\",\"out\":\"w1out\"}", 1);
    assert_true(wait_sql(f, STATE_SQL, j, "done", 5000));
    assert_int_equal(calls(&f->rec, j), 1);
    /* The output job exists, is pending, published and on its stream. */
    char *out = q1(f, "SELECT count(*) || ',' || bool_and(published_at IS NOT NULL) || ','"
                   " || min(state) FROM spool.jobs WHERE stage = 'w1out' AND message_id = %" PRId64,
                   f->msg_id);
    assert_string_equal(out, "1,true,pending");
    free(out);
    assert_int_equal(admin_int(f, "XLEN %s", "mailyard:stage:w1out"), 1);
    for (int i = 0; i < 40 && group_pending(f, "w1") != 0; i++)
        usleep(50000);
    assert_int_equal(group_pending(f, "w1"), 0);

    /* A duplicate entry of the done job is acked and skipped. The follow-up
     * job proves the single thread got past the duplicate. */
    assert_int_equal(jobq_publish(f->producer, "w1", j), 0);
    int64_t k = make_job(f, "w1", "{\"verdict\":\"done\"}", 1);
    assert_true(wait_sql(f, STATE_SQL, k, "done", 5000));
    assert_int_equal(calls(&f->rec, j), 1);
    assert_int_equal(calls(&f->rec, k), 1);

    /* A malformed entry and an entry for a missing job are acked. */
    redisReply *r = admin(f, "XADD mailyard:stage:w1 * junk 1");
    freeReplyObject(r);
    assert_int_equal(jobq_publish(f->producer, "w1", 987654), 0);
    int64_t l = make_job(f, "w1", "{\"verdict\":\"failed\"}", 1);
    assert_true(wait_sql(f, STATE_SQL, l, "failed", 5000));
    for (int i = 0; i < 40 && group_pending(f, "w1") != 0; i++)
        usleep(50000);
    assert_int_equal(group_pending(f, "w1"), 0);

    double t0 = (double)time(NULL);
    worker_pool_stop(p);
    assert_true((double)time(NULL) - t0 < 3);

    buf *m = buf_create(1 << 20);
    assert_int_equal(metrics_render(f->metrics, m), 0);
    assert_non_null(strstr(m->data, "mailyard_jobs_total{stage=\"w1\",verdict=\"done\"} 2"));
    assert_non_null(strstr(m->data, "mailyard_jobs_total{stage=\"w1\",verdict=\"failed\"} 1"));
    assert_non_null(strstr(m->data, "mailyard_job_seconds"));
    buf_free(m);
}

static void test_defer_then_sweeper(void **state)
{
    wk_fixture *f = *state;
    worker_pool *p = start(f, "w2", 2, 60000, 300);
    usleep(200000);
    time_t before = time(NULL);
    int64_t j = make_job(f, "w2", "{\"verdict\":\"defer\"}", 1);
    assert_true(wait_sql(f, "SELECT attempts FROM spool.jobs WHERE id = %" PRId64, j, "1", 5000));
    char *v = q1(f, "SELECT state || ',' || (published_at IS NULL) || ',' || (due_at > now())"
                 " FROM spool.jobs WHERE id = %" PRId64, j);
    /* Right after the defer it is pending, unpublished and not due (unless
     * this check itself was slow). */
    if (time(NULL) - before < 2)
        assert_string_equal(v, "pending,true,true");
    free(v);
    assert_int_equal(calls(&f->rec, j), 1);
    /* The sweeper publishes it when due; the second call finishes it. */
    assert_true(wait_sql(f, STATE_SQL, j, "done", 8000));
    assert_int_equal(calls(&f->rec, j), 2);
    assert_true(time(NULL) - before >= 2);
    worker_pool_stop(p);
}

static void test_error_is_retried(void **state)
{
    wk_fixture *f = *state;
    worker_pool *p = start(f, "w3", 2, 500, 300);
    usleep(200000);
    int64_t j = make_job(f, "w3", "{\"verdict\":\"done\",\"fail_first\":1,\"out\":\"w3out\"}", 1);
    for (int i = 0; i < 100 && calls(&f->rec, j) < 1; i++)
        usleep(20000);
    assert_int_equal(calls(&f->rec, j), 1);
    char *v = q1(f, STATE_SQL, j);
    assert_string_equal(v, "pending");
    free(v);
    assert_int_equal(group_pending(f, "w3"), 1);   /* left unacked */
    /* Retried through XAUTOCLAIM after the idle time. */
    assert_true(wait_sql(f, STATE_SQL, j, "done", 8000));
    assert_int_equal(calls(&f->rec, j), 2);
    /* The output of the failed attempt was rolled back: exactly one. */
    v = q1(f, "SELECT count(*) FROM spool.jobs WHERE stage = 'w3out' AND message_id = %" PRId64,
           f->msg_id);
    assert_string_equal(v, "1");
    free(v);
    for (int i = 0; i < 40 && group_pending(f, "w3") != 0; i++)
        usleep(50000);
    assert_int_equal(group_pending(f, "w3"), 0);
    worker_pool_stop(p);
}

/* Several waiting entries in one transaction: each job is handled once,
 * failed and done verdicts and outputs recorded, a duplicate entry in the
 * same batch skipped, every entry acked. */
static void test_batch(void **state)
{
    wk_fixture *f = *state;
    int64_t ids[12];
    /* published before any consumer reads: they are all waiting at once */
    for (int i = 0; i < 10; i++)
        ids[i] = make_job(f, "w5", i == 3 ? "{\"verdict\":\"failed\"}"
                                  : i == 5 ? "{\"verdict\":\"done\",\"out\":\"w5out\"}"
                                  : "{\"verdict\":\"done\"}", 1);
    assert_int_equal(jobq_publish(f->producer, "w5", ids[1]), 0);      /* duplicate */
    worker_pool *p = start_batch(f, "w5", 1, 60000, 300, 8);
    for (int i = 0; i < 10; i++)
        assert_true(wait_sql(f, STATE_SQL, ids[i], i == 3 ? "failed" : "done", 8000));
    for (int i = 0; i < 10; i++)
        assert_int_equal(calls(&f->rec, ids[i]), 1);
    char *v = q1(f, "SELECT count(*) || ',' || bool_and(published_at IS NOT NULL)"
                 " FROM spool.jobs WHERE stage = 'w5out' AND message_id = %" PRId64, f->msg_id);
    assert_string_equal(v, "1,true");
    free(v);
    for (int i = 0; i < 40 && group_pending(f, "w5") != 0; i++)
        usleep(50000);
    assert_int_equal(group_pending(f, "w5"), 0);
    worker_pool_stop(p);

    /* One transient error rolls the whole batch back: every job of it is
     * handled again and its outputs exist exactly once. */
    for (int i = 0; i < 4; i++)
        ids[i] = make_job(f, "w6", i == 2 ? "{\"verdict\":\"done\",\"fail_first\":1,"
                                            "\"out\":\"w6out\"}"
                                          : "{\"verdict\":\"done\",\"out\":\"w6out\"}", 1);
    p = start_batch(f, "w6", 1, 500, 300, 8);
    for (int i = 0; i < 4; i++)
        assert_true(wait_sql(f, STATE_SQL, ids[i], "done", 8000));
    assert_int_equal(calls(&f->rec, ids[2]), 2);
    assert_int_equal(calls(&f->rec, ids[0]), 2);    /* ran before the error, rolled back */
    v = q1(f, "SELECT count(*) FROM spool.jobs WHERE stage = 'w6out' AND message_id = %" PRId64,
           f->msg_id);
    assert_string_equal(v, "4");
    free(v);
    for (int i = 0; i < 40 && group_pending(f, "w6") != 0; i++)
        usleep(50000);
    assert_int_equal(group_pending(f, "w6"), 0);
    worker_pool_stop(p);
}

static void test_sweeper_after_flush(void **state)
{
    wk_fixture *f = *state;
    /* Published while no consumer runs, then Redis loses everything. */
    int64_t j = make_job(f, "w4", "{\"verdict\":\"done\"}", 1);
    char *v = q1(f, "SELECT published_at IS NOT NULL FROM spool.jobs WHERE id = %" PRId64, j);
    assert_string_equal(v, "t");
    free(v);
    /* Committed but never published (the producer died). */
    int64_t k = make_job(f, "w4", "{\"verdict\":\"done\"}", 0);
    redisReply *r = admin(f, "FLUSHDB");
    freeReplyObject(r);

    worker_pool *p = start(f, "w4", 2, 60000, 1);
    assert_true(wait_sql(f, STATE_SQL, k, "done", 5000));
    assert_true(wait_sql(f, STATE_SQL, j, "done", 8000));
    assert_int_equal(calls(&f->rec, j), 1);
    assert_int_equal(calls(&f->rec, k), 1);

    /* FLUSHDB while running: a job published just before is recovered. */
    r = admin(f, "FLUSHDB");
    freeReplyObject(r);
    int64_t l = make_job(f, "w4", "{\"verdict\":\"done\"}", 1);
    r = admin(f, "FLUSHDB");
    freeReplyObject(r);
    assert_true(wait_sql(f, STATE_SQL, l, "done", 8000));
    assert_int_equal(calls(&f->rec, l), 1);
    worker_pool_stop(p);
}

static void test_bad_options(void **state)
{
    wk_fixture *f = *state;
    char err[256];
    worker_opts o = { .stage = "x", .db = f->pool, .redis_url = "nope", .handler = handler };
    assert_null(worker_pool_start(&o, err, sizeof(err)));
    o.redis_url = f->url;
    o.stage = "a-stage-name-that-is-too-long";
    assert_null(worker_pool_start(&o, err, sizeof(err)));
    o.stage = "x";
    o.handler = NULL;
    assert_null(worker_pool_start(&o, err, sizeof(err)));
    worker_pool_stop(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_done_publishes_and_acks),
        cmocka_unit_test(test_defer_then_sweeper),
        cmocka_unit_test(test_error_is_retried),
        cmocka_unit_test(test_sweeper_after_flush),
        cmocka_unit_test(test_batch),
        cmocka_unit_test(test_bad_options),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
