/*
 * test_smtp_workers.c - mx's worker pool (services/mx/smtp_workers.c):
 * every submitted job runs exactly once, on a worker with its own local
 * slot, and freeing the pool runs what is still queued.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdatomic.h>
#include <string.h>
#include "../../services/mx/smtp_workers.c"

#define NJOBS 2000

typedef struct test_job {
    smtp_work   work;                  /* first */
    atomic_int *ran;
    int         runs;
    int         worker;
} test_job;

static void test_job_run(smtp_work *w, smtp_worker_local *local)
{
    test_job *j = (test_job *)w;
    j->runs++;
    j->worker = local->index;
    atomic_fetch_add(j->ran, 1);
}

static void test_every_job_runs_once(void **state)
{
    (void)state;
    char err[128];
    smtp_workers *p = smtp_workers_create(4, err, sizeof err);
    assert_non_null(p);
    static test_job jobs[NJOBS];
    atomic_int ran = 0;
    for (int i = 0; i < NJOBS; i++) {
        jobs[i] = (test_job){ .work.run = test_job_run, .ran = &ran, .worker = -1 };
        smtp_workers_submit(p, &jobs[i].work);
    }
    smtp_workers_free(p);              /* runs the rest, then joins */
    assert_int_equal(atomic_load(&ran), NJOBS);
    for (int i = 0; i < NJOBS; i++) {
        assert_int_equal(jobs[i].runs, 1);
        assert_true(jobs[i].worker >= 0 && jobs[i].worker < 4);
    }
}

static void test_bad_counts_are_refused(void **state)
{
    (void)state;
    char err[128] = "";
    assert_null(smtp_workers_create(0, err, sizeof err));
    assert_true(strlen(err) > 0);
    assert_null(smtp_workers_create(1025, err, sizeof err));
    smtp_workers_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_job_runs_once),
        cmocka_unit_test(test_bad_counts_are_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
