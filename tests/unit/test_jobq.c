/*
 * test_jobq.c - unit tests for libcommon/jobq.c against a real Redis (run
 * under tests/unit/with-services.sh; fails without it). Uses Redis database
 * 1 of the test server and FLUSHDB, so it does not disturb other binaries.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <hiredis.h>

#include "jobq.h"
#include "services_fixture.h"

#define DBNO 1

typedef struct jq_fixture {
    char         *url;
    char          host[64];
    int           port;
    redisContext *admin;        /* direct hiredis connection for checks */
} jq_fixture;

static redisReply *admin_cmd(jq_fixture *f, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(f->admin, fmt, ap);
    va_end(ap);
    if (r == NULL)
        fail_msg("redis admin: %s", f->admin->errstr);
    return r;
}

static void admin_ok(jq_fixture *f, const char *cmd)
{
    redisReply *r = admin_cmd(f, cmd);
    if (r->type == REDIS_REPLY_ERROR)
        fail_msg("%s: %s", cmd, r->str);
    freeReplyObject(r);
}

static long long admin_int(jq_fixture *f, const char *fmt, const char *arg)
{
    redisReply *r = admin_cmd(f, fmt, arg);
    assert_int_equal(r->type, REDIS_REPLY_INTEGER);
    long long v = r->integer;
    freeReplyObject(r);
    return v;
}

/* Number of pending entries of consumer (or of the group when NULL). */
static long long pending(jq_fixture *f, const char *stage, const char *consumer)
{
    redisReply *r = admin_cmd(f, "XPENDING mailyard:stage:%s %s", stage, stage);
    assert_int_equal(r->type, REDIS_REPLY_ARRAY);
    long long total = r->element[0]->integer, mine = 0;
    if (consumer != NULL && r->element[3]->type == REDIS_REPLY_ARRAY)
        for (size_t i = 0; i < r->element[3]->elements; i++)
            if (strcmp(r->element[3]->element[i]->element[0]->str, consumer) == 0)
                mine = atoll(r->element[3]->element[i]->element[1]->str);
    freeReplyObject(r);
    return consumer != NULL ? mine : total;
}

static int setup(void **state)
{
    static jq_fixture f;
    f.url = fixture_redis_url(DBNO);
    if (f.url == NULL)
        return -1;
    if (sscanf(f.url, "redis://%63[^:]:%d", f.host, &f.port) != 2)
        return -1;
    f.admin = redisConnect(f.host, f.port);
    if (f.admin == NULL || f.admin->err)
        return -1;
    redisReply *r = redisCommand(f.admin, "SELECT %d", DBNO);
    if (r == NULL)
        return -1;
    freeReplyObject(r);
    *state = &f;
    return 0;
}

static int teardown(void **state)
{
    jq_fixture *f = *state;
    redisFree(f->admin);
    free(f->url);
    return 0;
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000.0 + ts.tv_nsec / 1e6;
}

static void test_publish_read_ack(void **state)
{
    jq_fixture *f = *state;
    admin_ok(f, "FLUSHDB");
    jobq *q = jobq_create(f->url, NULL, "c1");
    assert_non_null(q);
    assert_int_equal(jobq_ping(q), 0);
    jobq_entry e;

    /* No stream yet: the group is created, nothing returned. */
    assert_int_equal(jobq_read(q, "s1", 100, 60000, &e), 0);
    assert_int_equal(admin_int(f, "EXISTS %s", "mailyard:stage:s1"), 1);

    assert_int_equal(jobq_publish(q, "s1", 5), 0);
    assert_int_equal(jobq_publish(q, "s1", 6), 0);
    assert_int_equal(admin_int(f, "XLEN %s", "mailyard:stage:s1"), 2);
    assert_int_equal(jobq_read(q, "s1", 100, 60000, &e), 1);
    assert_int_equal(e.job_id, 5);
    assert_true(e.entry_id[0] != '\0');
    assert_int_equal(pending(f, "s1", "c1"), 1);
    assert_int_equal(jobq_ack(q, "s1", e.entry_id), 0);
    assert_int_equal(pending(f, "s1", NULL), 0);
    assert_int_equal(jobq_read(q, "s1", 100, 60000, &e), 1);
    assert_int_equal(e.job_id, 6);
    assert_int_equal(jobq_ack(q, "s1", e.entry_id), 0);

    /* Empty: blocks about block_ms and returns 0. */
    double t0 = now_ms();
    assert_int_equal(jobq_read(q, "s1", 200, 60000, &e), 0);
    double dt = now_ms() - t0;
    assert_true(dt >= 150 && dt < 2000);

    /* A malformed entry is returned with job_id 0 so that it is acked. */
    admin_ok(f, "XADD mailyard:stage:s1 * foo bar");
    assert_int_equal(jobq_read(q, "s1", 100, 60000, &e), 1);
    assert_int_equal(e.job_id, 0);
    assert_int_equal(jobq_ack(q, "s1", e.entry_id), 0);
    admin_ok(f, "XADD mailyard:stage:s1 * job -3");
    assert_int_equal(jobq_read(q, "s1", 100, 60000, &e), 1);
    assert_int_equal(e.job_id, 0);
    assert_int_equal(jobq_ack(q, "s1", e.entry_id), 0);
    assert_int_equal(pending(f, "s1", NULL), 0);

    /* A batch: one read, then what is waiting (not more than asked, no
     * blocking when nothing is), one XACK for all. */
    for (int i = 10; i < 14; i++)
        assert_int_equal(jobq_publish(q, "s1", i), 0);
    jobq_entry b[4];
    assert_int_equal(jobq_read(q, "s1", 100, 60000, &b[0]), 1);
    assert_int_equal(b[0].job_id, 10);
    assert_int_equal(jobq_read_more(q, "s1", &b[1], 2), 2);
    assert_int_equal(b[1].job_id, 11);
    assert_int_equal(b[2].job_id, 12);
    assert_int_equal(jobq_read_more(q, "s1", &b[3], 1), 1);
    assert_int_equal(b[3].job_id, 13);
    t0 = now_ms();
    assert_int_equal(jobq_read_more(q, "s1", &e, 3), 0);
    assert_true(now_ms() - t0 < 1000);
    assert_int_equal(pending(f, "s1", "c1"), 4);
    const char *ids[3] = { b[0].entry_id, b[1].entry_id, b[3].entry_id };
    assert_int_equal(jobq_ack_many(q, "s1", ids, 3), 0);
    assert_int_equal(pending(f, "s1", NULL), 1);              /* b[2] left */
    assert_int_equal(jobq_ack_many(q, "s1", ids, 0), 0);
    ids[0] = b[2].entry_id;
    assert_int_equal(jobq_ack_many(q, "s1", ids, 1), 0);
    assert_int_equal(pending(f, "s1", NULL), 0);
    jobq_free(q);
}

static void test_autoclaim_and_own_pending(void **state)
{
    jq_fixture *f = *state;
    admin_ok(f, "FLUSHDB");
    jobq *q1 = jobq_create(f->url, NULL, "c1");
    jobq *q2 = jobq_create(f->url, NULL, "c2");
    jobq_entry e;
    assert_int_equal(jobq_read(q1, "s2", 10, 60000, &e), 0);   /* creates group */

    /* c1 takes 7 and dies without acking. */
    assert_int_equal(jobq_publish(q1, "s2", 7), 0);
    assert_int_equal(jobq_read(q1, "s2", 100, 60000, &e), 1);
    assert_int_equal(e.job_id, 7);
    assert_int_equal(e.retry, 0);                              /* a new entry */
    jobq_free(q1);

    /* c2 does not see it until it has been idle long enough. */
    assert_int_equal(jobq_read(q2, "s2", 50, 300, &e), 0);
    usleep(400000);
    assert_int_equal(jobq_read(q2, "s2", 50, 300, &e), 1);
    assert_int_equal(e.job_id, 7);
    assert_int_equal(e.retry, 1);                              /* claimed */
    assert_int_equal(pending(f, "s2", "c2"), 1);
    assert_int_equal(pending(f, "s2", "c1"), 0);
    /* Not acked (a WORKER_ERROR): not returned again right away. */
    assert_int_equal(jobq_read(q2, "s2", 50, 300, &e), 0);
    usleep(400000);
    assert_int_equal(jobq_read(q2, "s2", 50, 300, &e), 1);   /* ...but after the idle time */
    assert_int_equal(e.job_id, 7);
    assert_int_equal(jobq_ack(q2, "s2", e.entry_id), 0);
    jobq_free(q2);

    /* A consumer restarted with the same name gets its own pending entries
     * first, once. */
    q1 = jobq_create(f->url, NULL, "c1");
    assert_int_equal(jobq_publish(q1, "s2", 8), 0);
    assert_int_equal(jobq_publish(q1, "s2", 9), 0);
    assert_int_equal(jobq_read(q1, "s2", 50, 60000, &e), 1);
    assert_int_equal(e.job_id, 8);
    assert_int_equal(jobq_read(q1, "s2", 50, 60000, &e), 1);
    assert_int_equal(e.job_id, 9);
    jobq_free(q1);
    q1 = jobq_create(f->url, NULL, "c1");
    assert_int_equal(jobq_read(q1, "s2", 50, 60000, &e), 1);
    assert_int_equal(e.job_id, 8);
    assert_int_equal(e.retry, 1);                              /* own pending */
    assert_int_equal(jobq_ack(q1, "s2", e.entry_id), 0);
    assert_int_equal(jobq_read(q1, "s2", 50, 60000, &e), 1);
    assert_int_equal(e.job_id, 9);
    assert_int_equal(jobq_read(q1, "s2", 50, 60000, &e), 0);  /* 9 unacked, not repeated */
    assert_int_equal(pending(f, "s2", "c1"), 1);
    jobq_free(q1);
}

static void test_flush_recreates_group(void **state)
{
    jq_fixture *f = *state;
    admin_ok(f, "FLUSHDB");
    jobq *q = jobq_create(f->url, NULL, "c1");
    jobq *p = jobq_create(f->url, NULL, "producer");
    jobq_entry e;
    assert_int_equal(jobq_read(q, "s3", 10, 60000, &e), 0);
    assert_int_equal(jobq_publish(p, "s3", 11), 0);
    assert_int_equal(jobq_read(q, "s3", 100, 60000, &e), 1);
    assert_int_equal(jobq_ack(q, "s3", e.entry_id), 0);

    admin_ok(f, "FLUSHDB");                    /* Redis lost everything */
    assert_int_equal(jobq_read(q, "s3", 50, 60000, &e), 0);
    assert_int_equal(admin_int(f, "EXISTS %s", "mailyard:stage:s3"), 1);
    assert_int_equal(jobq_publish(p, "s3", 12), 0);
    assert_int_equal(jobq_read(q, "s3", 100, 60000, &e), 1);
    assert_int_equal(e.job_id, 12);
    assert_int_equal(jobq_ack(q, "s3", e.entry_id), 0);

    /* Flushed, then a producer publishes before the consumer notices: the
     * group is created at the start of the stream and the entry is read. */
    admin_ok(f, "FLUSHDB");
    assert_int_equal(jobq_publish(p, "s3", 13), 0);
    assert_int_equal(jobq_read(q, "s3", 50, 60000, &e), 0);   /* NOGROUP -> created */
    assert_int_equal(jobq_read(q, "s3", 100, 60000, &e), 1);
    assert_int_equal(e.job_id, 13);
    jobq_free(q);
    jobq_free(p);
}

static void test_reconnect_auth_urls(void **state)
{
    jq_fixture *f = *state;
    jobq *q = jobq_create(f->url, NULL, "c1");
    assert_int_equal(jobq_ping(q), 0);
    admin_ok(f, "CLIENT KILL SKIPME yes TYPE normal");
    (void)jobq_ping(q);                          /* may notice the kill */
    assert_int_equal(jobq_ping(q), 0);           /* reconnected */
    jobq_free(q);

    /* Bad URLs. */
    assert_null(jobq_create("http://x", NULL, "c"));
    assert_null(jobq_create("redis://", NULL, "c"));
    assert_null(jobq_create("redis://h:0", NULL, "c"));
    assert_null(jobq_create("redis://h:12/x", NULL, "c"));
    jobq_free(NULL);

    /* Unreachable server: errors, not crashes. */
    q = jobq_create("redis://127.0.0.1:1/0", NULL, "c");
    assert_non_null(q);
    jobq_entry e;
    assert_int_equal(jobq_ping(q), -1);
    assert_int_equal(jobq_read(q, "s", 10, 100, &e), -1);
    assert_int_equal(jobq_publish(q, "s", 1), -1);
    jobq_free(q);

    /* AUTH from the URL or from the password argument. */
    char url[256];
    admin_ok(f, "CONFIG SET requirepass t0psecret");
    snprintf(url, sizeof(url), "redis://:t0psecret@%s:%d/%d", f->host, f->port, DBNO);
    q = jobq_create(url, NULL, "c");
    int with_url = jobq_ping(q);
    jobq_free(q);
    q = jobq_create(f->url, "t0psecret", "c");
    int with_arg = jobq_ping(q);
    jobq_free(q);
    q = jobq_create(f->url, NULL, "c");
    int without = jobq_ping(q);
    jobq_free(q);
    redisReply *r = admin_cmd(f, "CONFIG SET requirepass %s", "");   /* empty: off */
    assert_int_equal(r->type, REDIS_REPLY_STATUS);
    freeReplyObject(r);
    q = jobq_create(f->url, NULL, "c");
    assert_int_equal(jobq_ping(q), 0);
    jobq_free(q);
    assert_int_equal(with_url, 0);
    assert_int_equal(with_arg, 0);
    assert_int_equal(without, -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_publish_read_ack),
        cmocka_unit_test(test_autoclaim_and_own_pending),
        cmocka_unit_test(test_flush_recreates_group),
        cmocka_unit_test(test_reconnect_auth_urls),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
