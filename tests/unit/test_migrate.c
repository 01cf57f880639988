/*
 * test_migrate.c - unit tests for libcommon/migrate.c against a real
 * PostgreSQL (run under tests/unit/with-services.sh; fails without it).
 * Each test builds its own SQL root in a temporary directory.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "migrate.h"
#include "services_fixture.h"

typedef struct mig_fixture {
    char *dsn;
    char  root[256];
} mig_fixture;

static void write_file(const char *root, const char *rel, const char *content)
{
    char path[512], dir[512];
    snprintf(path, sizeof(path), "%s/%s", root, rel);
    /* mkdir -p of the parent */
    snprintf(dir, sizeof(dir), "%s", path);
    for (char *p = dir + strlen(root) + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            (void)mkdir(dir, 0755);
            *p = '/';
        }
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    assert_true(fputs(content, fp) >= 0);
    assert_int_equal(fclose(fp), 0);
}

static char *query1(const char *dsn, const char *sql)
{
    PGconn *pg = PQconnectdb(dsn);
    assert_int_equal(PQstatus(pg), CONNECTION_OK);
    PGresult *r = PQexec(pg, sql);
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        fail_msg("%s: %s", sql, PQresultErrorMessage(r));
    char *v = strdup(PQntuples(r) ? PQgetvalue(r, 0, 0) : "");
    PQclear(r);
    PQfinish(pg);
    return v;
}

static void assert_query(const char *dsn, const char *sql, const char *want)
{
    char *got = query1(dsn, sql);
    assert_string_equal(got, want);
    free(got);
}

static int setup(void **state)
{
    mig_fixture *f = calloc(1, sizeof(*f));
    f->dsn = fixture_pg_dsn("migrate");
    if (f->dsn == NULL)
        return -1;
    snprintf(f->root, sizeof(f->root), "/tmp/mailyard-migrate.XXXXXX");
    if (mkdtemp(f->root) == NULL)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    mig_fixture *f = *state;
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->root);
    if (system(cmd) != 0)
        return -1;
    free(f->dsn);
    free(f);
    return 0;
}

#define LOG(x) "INSERT INTO public.order_log (what) VALUES ('" x "');\n"

static void test_apply_order_idempotent_checksum(void **state)
{
    mig_fixture *f = *state;
    char err[512];
    write_file(f->root, "libcommon/sql/001_base.sql",
               "CREATE TABLE public.order_log (seq serial PRIMARY KEY, what text);\n"
               LOG("spool1"));
    write_file(f->root, "libcommon/sql/010_ten.sql", LOG("spool10"));
    write_file(f->root, "libcommon/sql/002_two.sql",
               "CREATE SCHEMA s2; CREATE TABLE s2.t (v int);\n" LOG("spool2"));
    write_file(f->root, "libcommon/sql/README", "not a migration");
    write_file(f->root, "services/beta/sql/001_b.sql", LOG("beta1"));
    write_file(f->root, "services/alpha/sql/001_a.sql", LOG("alpha1"));
    write_file(f->root, "services/alpha/sql/002_a.sql", LOG("alpha2"));
    write_file(f->root, "services/gamma/README", "no sql dir");

    int n = migrate_run(f->dsn, f->root, err, sizeof(err));
    if (n < 0)
        fail_msg("migrate_run: %s", err);
    assert_int_equal(n, 6);
    assert_query(f->dsn, "SELECT string_agg(what, ',' ORDER BY seq) FROM order_log",
                 "spool1,spool2,spool10,alpha1,alpha2,beta1");
    assert_query(f->dsn, "SELECT string_agg(component || ':' || version || ':' || name, ','"
                 " ORDER BY applied_at, component, version) FROM mailyard_migrations",
                 "spool:1:001_base.sql,spool:2:002_two.sql,spool:10:010_ten.sql,"
                 "alpha:1:001_a.sql,alpha:2:002_a.sql,beta:1:001_b.sql");
    assert_query(f->dsn, "SELECT count(*) FROM mailyard_migrations WHERE length(sha256) = 64", "6");

    /* Second run: nothing to do. */
    assert_int_equal(migrate_run(f->dsn, f->root, err, sizeof(err)), 0);
    assert_query(f->dsn, "SELECT count(*) FROM order_log", "6");

    /* A new file is applied alone. */
    write_file(f->root, "services/beta/sql/002_b.sql", LOG("beta2"));
    assert_int_equal(migrate_run(f->dsn, f->root, err, sizeof(err)), 1);
    assert_query(f->dsn, "SELECT count(*) FROM order_log", "7");

    /* An edited, already applied file is an error. */
    write_file(f->root, "services/alpha/sql/001_a.sql", LOG("alpha1-edited"));
    assert_int_equal(migrate_run(f->dsn, f->root, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "001_a.sql"));
    assert_non_null(strstr(err, "checksum"));
    assert_query(f->dsn, "SELECT count(*) FROM order_log", "7");
    write_file(f->root, "services/alpha/sql/001_a.sql", LOG("alpha1"));
    assert_int_equal(migrate_run(f->dsn, f->root, err, sizeof(err)), 0);

    /* A failing file is rolled back entirely and not recorded. */
    write_file(f->root, "services/beta/sql/003_bad.sql",
               "CREATE TABLE public.half (v int);\n" LOG("beta3") "SELECT no_such_function();\n");
    assert_int_equal(migrate_run(f->dsn, f->root, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "003_bad.sql"));
    assert_query(f->dsn, "SELECT count(*) FROM order_log", "7");
    assert_query(f->dsn, "SELECT count(*) FROM pg_tables WHERE tablename = 'half'", "0");
    assert_query(f->dsn, "SELECT count(*) FROM mailyard_migrations WHERE version = 3", "0");
    write_file(f->root, "services/beta/sql/003_bad.sql", LOG("beta3"));
    assert_int_equal(migrate_run(f->dsn, f->root, err, sizeof(err)), 1);

    /* Duplicate numbers are refused. */
    write_file(f->root, "services/beta/sql/3_dup.sql", LOG("dup"));
    assert_int_equal(migrate_run(f->dsn, f->root, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "same number"));
}

typedef struct runner {
    const char *dsn, *root;
    int         result;
    char        err[512];
} runner;

static void *run_thread(void *arg)
{
    runner *r = arg;
    r->result = migrate_run(r->dsn, r->root, r->err, sizeof(r->err));
    return NULL;
}

static void test_concurrent_runners(void **state)
{
    (void)state;
    char *dsn = fixture_pg_dsn("migrate_conc");
    assert_non_null(dsn);
    char root[] = "/tmp/mailyard-migrate-conc.XXXXXX";
    assert_non_null(mkdtemp(root));
    /* Not idempotent on purpose: applying twice would fail. */
    write_file(root, "libcommon/sql/001_slow.sql",
               "CREATE TABLE public.once (v int); SELECT pg_sleep(0.3);\n");
    write_file(root, "services/x/sql/001_x.sql",
               "CREATE TABLE public.once_x (v int); INSERT INTO public.once_x VALUES (1);\n");

    enum { N = 4 };
    runner rs[N];
    pthread_t th[N];
    for (int i = 0; i < N; i++) {
        rs[i] = (runner){ .dsn = dsn, .root = root };
        assert_int_equal(pthread_create(&th[i], NULL, run_thread, &rs[i]), 0);
    }
    int sum = 0;
    for (int i = 0; i < N; i++) {
        assert_int_equal(pthread_join(th[i], NULL), 0);
        if (rs[i].result < 0)
            fail_msg("runner %d: %s", i, rs[i].err);
        sum += rs[i].result;
    }
    assert_int_equal(sum, 2);
    assert_query(dsn, "SELECT count(*) FROM once_x", "1");
    assert_query(dsn, "SELECT count(*) FROM mailyard_migrations", "2");

    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
    assert_int_equal(system(cmd), 0);
    free(dsn);
}

static void test_real_tree(void **state)
{
    /* The repository's own migrations apply cleanly, twice. */
    (void)state;
    char *dsn = fixture_pg_dsn("migrate_real");
    assert_non_null(dsn);
    const char *root = getenv("MAILYARD_SQL_ROOT");
    if (root == NULL)
        root = ".";
    char err[512];
    int n = migrate_run(dsn, root, err, sizeof(err));
    if (n < 0)
        fail_msg("migrate_run(%s): %s", root, err);
    assert_true(n >= 1);
    assert_int_equal(migrate_run(dsn, root, err, sizeof(err)), 0);
    /* messages, jobs, events, dmarc_encoded (004_dmarc_encoded.sql) */
    assert_query(dsn, "SELECT count(*) FROM pg_tables WHERE schemaname = 'spool'", "4");
    free(dsn);
}

static void test_bad_dsn(void **state)
{
    (void)state;
    char err[256];
    assert_int_equal(migrate_run("host=127.0.0.1 port=1 connect_timeout=2", "/nonexistent",
                                 err, sizeof(err)), -1);
    assert_non_null(strstr(err, "connect"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_apply_order_idempotent_checksum, setup, teardown),
        cmocka_unit_test(test_concurrent_runners),
        cmocka_unit_test(test_real_tree),
        cmocka_unit_test(test_bad_dsn),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
