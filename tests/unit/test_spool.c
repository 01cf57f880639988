/*
 * test_spool.c - unit tests for libcommon/spool.c against a real
 * PostgreSQL (run under tests/unit/with-services.sh; fails without it).
 * The spool schema comes from libcommon/sql through migrate_run().
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "db.h"
#include "migrate.h"
#include "spool.h"
#include "services_fixture.h"

typedef struct spool_fixture {
    char    *dsn;
    db_pool *pool;
    int64_t  msg_id;
} spool_fixture;

static int setup(void **state)
{
    static spool_fixture f;
    f.dsn = fixture_pg_dsn("spool");
    if (f.dsn == NULL || fixture_spool_migrate(f.dsn) != 0)
        return -1;
    f.pool = db_pool_create(f.dsn, 4);
    *state = &f;
    return 0;
}

static int teardown(void **state)
{
    spool_fixture *f = *state;
    db_pool_free(f->pool);
    free(f->dsn);
    return 0;
}

static char *q1(db_conn *c, const char *sql)
{
    PGresult *r = db_query(c, sql, 0, NULL, NULL, NULL);
    if (r == NULL)
        fail_msg("%s: %s", sql, db_conn_error(c));
    char *v = strdup(PQntuples(r) > 0 ? PQgetvalue(r, 0, 0) : "");
    PQclear(r);
    return v;
}

static void assert_q(db_conn *c, const char *sql, const char *want)
{
    char *got = q1(c, sql);
    assert_string_equal(got, want);
    free(got);
}

static void test_queue_id(void **state)
{
    (void)state;
    char a[13], b[13];
    for (int i = 0; i < 1000; i++) {
        spool_queue_id_new(a);
        assert_int_equal(strlen(a), 12);
        assert_int_equal(strspn(a, "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"), 12);
    }
    spool_queue_id_new(b);
    assert_string_not_equal(a, b);
}

static void test_message_roundtrip(void **state)
{
    spool_fixture *f = *state;
    db_conn *c = db_pool_acquire(f->pool, 5000);
    assert_non_null(c);

    char raw[] = "Subject: x\r\n\r\nbody\0with NUL\r\n\xff\xfe end\r\n.\r\n";
    size_t raw_len = sizeof(raw) - 1;
    char *rcpts[] = { "a@example.org", "b\"q\\@example.org", "c@example.net" };
    spool_message m = {
        .mail_from = "sender@example.com", .rcpts = rcpts, .nrcpts = 3,
        .client_ip = NULL, .helo = "mail.example.com", .message_id = "<1@x>",
        .origin = "mx", .raw = raw, .raw_len = raw_len,
    };
    assert_int_equal(db_begin(c), 0);
    assert_int_equal(spool_message_insert(c, &m), 0);
    assert_int_equal(db_commit(c), 0);
    assert_true(m.id > 0);
    assert_int_equal(strlen(m.queue_id), 12);
    f->msg_id = m.id;

    spool_message *l = NULL;
    assert_int_equal(spool_message_load(c, m.id, &l), 0);
    assert_non_null(l);
    assert_int_equal(l->id, m.id);
    assert_string_equal(l->queue_id, m.queue_id);
    assert_int_equal(l->parent_id, 0);
    assert_string_equal(l->mail_from, "sender@example.com");
    assert_int_equal(l->nrcpts, 3);
    for (size_t i = 0; i < 3; i++)
        assert_string_equal(l->rcpts[i], rcpts[i]);
    assert_null(l->client_ip);
    assert_string_equal(l->helo, "mail.example.com");
    assert_string_equal(l->message_id, "<1@x>");
    assert_string_equal(l->origin, "mx");
    assert_int_equal(l->raw_len, raw_len);
    assert_memory_equal(l->raw, raw, raw_len);
    spool_message_free(l);

    /* Found by Message-ID (each run uses a fresh database: "<1@x>" is ours). */
    int64_t found = 0;
    assert_int_equal(spool_message_find_by_message_id(c, "<1@x>", "SENDER@example.com", 0,
                                                      &found), 1);
    assert_int_equal(found, m.id);
    assert_int_equal(spool_message_find_by_message_id(c, "<1@x>", "", m.id, &found), 0);
    assert_int_equal(spool_message_find_by_message_id(c, "<none@x>", "", 0, &found), 0);

    /* A child with a given queue id and an empty envelope sender. */
    spool_message d = {
        .queue_id = "GIVEN0000001", .parent_id = m.id, .mail_from = "", .rcpts = rcpts,
        .nrcpts = 1, .client_ip = "192.0.2.1", .origin = "dsn", .raw = "", .raw_len = 0,
    };
    assert_int_equal(spool_message_insert(c, &d), 0);
    assert_int_equal(spool_message_load(c, d.id, &l), 0);
    assert_string_equal(l->queue_id, "GIVEN0000001");
    assert_int_equal(l->parent_id, m.id);
    assert_string_equal(l->mail_from, "");
    assert_string_equal(l->client_ip, "192.0.2.1");
    assert_null(l->message_id);
    assert_int_equal(l->raw_len, 0);
    spool_message_free(l);
    /* Duplicate queue id fails. */
    d.id = 0;
    assert_int_equal(spool_message_insert(c, &d), -1);

    assert_int_equal(spool_message_load(c, 999999, &l), -1);
    assert_null(l);
    spool_message_free(NULL);
    db_pool_release(f->pool, c);
}

static void test_jobs(void **state)
{
    spool_fixture *f = *state;
    assert_true(f->msg_id > 0);
    db_conn *a = db_pool_acquire(f->pool, 5000);
    db_conn *b = db_pool_acquire(f->pool, 5000);
    assert_non_null(a);
    assert_non_null(b);

    spool_jobs out = {0};
    json_t *pl = json_pack("{s:s, s:[s]}", "mail_from", "x@y", "rcpts", "r@z");
    assert_int_equal(db_begin(a), 0);
    int64_t j1 = spool_job_create(a, "t1", f->msg_id, pl, 0, &out);
    int64_t j2 = spool_job_create(a, "t1", f->msg_id, NULL, 0, &out);
    int64_t j3 = spool_job_create(a, "t1", f->msg_id, NULL, time(NULL) + 3600, NULL);
    int64_t jo = spool_job_create(a, "other", f->msg_id, NULL, 0, &out);
    assert_int_equal(db_commit(a), 0);
    assert_true(j1 > 0 && j2 > j1 && j3 > j2 && jo > j3);
    assert_int_equal(out.n, 3);
    assert_int_equal(out.items[0].id, j1);
    assert_string_equal(out.items[0].stage, "t1");
    assert_string_equal(out.items[2].stage, "other");
    spool_jobs_release(&out);
    assert_int_equal(out.n, 0);

    /* Lock j1 on a; b skips it, also in claim_for_publish. */
    spool_job *ja = NULL, *jb = NULL;
    assert_int_equal(db_begin(a), 0);
    assert_int_equal(spool_job_lock(a, j1, &ja), 1);
    assert_non_null(ja);
    assert_int_equal(ja->id, j1);
    assert_string_equal(ja->stage, "t1");
    assert_string_equal(ja->state, "pending");
    assert_int_equal(ja->message_id, f->msg_id);
    assert_int_equal(ja->attempts, 0);
    assert_true(json_equal(ja->payload, pl));
    assert_int_equal(db_begin(b), 0);
    assert_int_equal(spool_job_lock(b, j1, &jb), 0);
    assert_null(jb);
    assert_int_equal(db_rollback(b), 0);

    spool_jobs claimed = {0};
    assert_int_equal(spool_job_claim_for_publish(b, "t1", 300, 100, &claimed), 1);
    assert_int_equal(claimed.items[0].id, j2);            /* not j1 (locked), not j3 (future) */
    spool_jobs_release(&claimed);

    assert_int_equal(spool_job_finish(a, j1, "done"), 0);
    assert_int_equal(db_commit(a), 0);
    spool_job_free(ja);
    assert_int_equal(spool_job_lock(a, j1, &ja), 1);
    assert_string_equal(ja->state, "done");
    spool_job_free(ja);
    assert_int_equal(spool_job_lock(a, 424242, &ja), 0);   /* missing */

    /* Nothing to claim now: j1 done, j2 just published, j3 not due. */
    assert_int_equal(spool_job_claim_for_publish(a, "t1", 300, 100, &claimed), 0);
    /* A publication older than the stuck interval is claimed again. */
    char sql[256];
    snprintf(sql, sizeof(sql), "UPDATE spool.jobs SET published_at = now() - interval '10 minutes'"
             " WHERE id = %" PRId64, j2);
    assert_int_equal(db_exec(a, sql, 0, NULL), 0);
    assert_int_equal(spool_job_claim_for_publish(a, "t1", 300, 100, &claimed), 1);
    assert_int_equal(claimed.items[0].id, j2);
    spool_jobs_release(&claimed);

    /* Defer: pending, unpublished, attempts+1, not runnable until due. */
    assert_int_equal(spool_job_defer(a, j2, time(NULL) + 600), 0);
    snprintf(sql, sizeof(sql), "SELECT state || ',' || (published_at IS NULL) || ',' || attempts"
             " || ',' || (due_at > now() + interval '9 minutes') FROM spool.jobs WHERE id = %" PRId64, j2);
    assert_q(a, sql, "pending,true,1,true");
    assert_int_equal(spool_job_claim_for_publish(a, "t1", 300, 100, &claimed), 0);
    assert_int_equal(spool_job_defer(a, j2, time(NULL) - 1), 0);
    assert_int_equal(spool_job_claim_for_publish(a, "t1", 300, 100, &claimed), 1);
    assert_int_equal(claimed.items[0].id, j2);
    spool_jobs_release(&claimed);
    /* Deferring a finished job fails. */
    assert_int_equal(spool_job_defer(a, j1, time(NULL)), -1);

    /* mark_published, failed state, limit. */
    assert_int_equal(spool_job_mark_published(a, jo), 1);
    assert_int_equal(spool_job_mark_published(a, jo), 0);   /* already published */
    assert_int_equal(spool_job_mark_published(a, j1), 0);   /* finished */
    assert_int_equal(spool_job_claim_for_publish(a, "other", 300, 100, &claimed), 0);
    assert_int_equal(spool_job_finish(a, j2, "failed"), 0);
    assert_int_equal(spool_job_finish(a, 424242, "done"), -1);
    for (int i = 0; i < 5; i++)
        assert_true(spool_job_create(a, "t2", f->msg_id, NULL, 0, NULL) > 0);
    assert_int_equal(spool_job_claim_for_publish(a, "t2", 300, 2, &claimed), 2);
    assert_int_equal(spool_job_claim_for_publish(a, "t2", 300, 10, &claimed), 3);
    assert_int_equal(claimed.n, 5);
    spool_jobs_release(&claimed);

    /* Several at once: locked ones and missing ones come back NULL, a
     * repeated id is filled once; finish_many needs every job. */
    assert_int_equal(db_begin(a), 0);
    int64_t m1 = spool_job_create(a, "t3", f->msg_id, NULL, 0, NULL);
    int64_t m2 = spool_job_create(a, "t3", f->msg_id, NULL, 0, NULL);
    int64_t m3 = spool_job_create(a, "t3", f->msg_id, NULL, 0, NULL);
    assert_int_equal(db_commit(a), 0);
    assert_int_equal(db_begin(b), 0);
    assert_int_equal(spool_job_lock(b, m2, &jb), 1);                /* b holds m2 */
    spool_job_free(jb);
    assert_int_equal(db_begin(a), 0);
    int64_t many[5] = { m3, m2, 424242, m1, m3 };
    spool_job *got[5];
    assert_int_equal(spool_job_lock_many(a, many, 5, got), 0);
    assert_non_null(got[0]);
    assert_int_equal(got[0]->id, m3);
    assert_null(got[1]);                                             /* locked by b */
    assert_null(got[2]);                                             /* missing */
    assert_non_null(got[3]);
    assert_int_equal(got[3]->id, m1);
    assert_string_equal(got[3]->state, "pending");
    assert_string_equal(got[3]->stage, "t3");
    assert_null(got[4]);                                             /* repeated */
    for (int i = 0; i < 5; i++)
        spool_job_free(got[i]);
    int64_t fin[2] = { m1, m3 };
    assert_int_equal(spool_job_finish_many(a, fin, 2, "done"), 0);
    int64_t bad[2] = { m1, 424242 };
    assert_int_equal(spool_job_finish_many(a, bad, 2, "done"), -1);
    assert_int_equal(spool_job_finish_many(a, bad, 0, "done"), 0);
    assert_int_equal(db_commit(a), 0);
    assert_int_equal(db_rollback(b), 0);
    snprintf(sql, sizeof(sql), "SELECT string_agg(state, ',' ORDER BY id) FROM spool.jobs"
             " WHERE stage = 't3'");
    assert_q(a, sql, "done,pending,done");

    /* Events. */
    json_t *det = json_pack("{s:i}", "n", 3);
    assert_int_equal(spool_event(a, f->msg_id, j1, "test", "expanded", det), 0);
    assert_int_equal(spool_event(a, f->msg_id, 0, "test", "accepted", NULL), 0);
    json_decref(det);
    snprintf(sql, sizeof(sql), "SELECT string_agg(event || ':' || coalesce(job_id::text, '-') || ':'"
             " || coalesce(detail->>'n', '-'), ',' ORDER BY id) FROM spool.events"
             " WHERE message_id = %" PRId64, f->msg_id);
    char want[128];
    snprintf(want, sizeof(want), "expanded:%" PRId64 ":3,accepted:-:-", j1);
    assert_q(a, sql, want);

    json_decref(pl);
    db_pool_release(f->pool, a);
    db_pool_release(f->pool, b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_queue_id),
        cmocka_unit_test(test_message_roundtrip),
        cmocka_unit_test(test_jobs),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
