/*
 * test_db.c - unit tests for libcommon/db.c against a real PostgreSQL
 * (run under tests/unit/with-services.sh; fails without it).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>
#include <unistd.h>

#include "db.h"
#include "services_fixture.h"

typedef struct db_fixture {
    char    *dsn;
    db_pool *pool;
} db_fixture;

static int setup(void **state)
{
    static db_fixture f;
    f.dsn = fixture_pg_dsn("db");
    if (f.dsn == NULL)
        return -1;
    f.pool = db_pool_create(f.dsn, 3);
    *state = &f;
    return 0;
}

static int teardown(void **state)
{
    db_fixture *f = *state;
    db_pool_free(f->pool);
    free(f->dsn);
    return 0;
}

static void test_query_params(void **state)
{
    db_fixture *f = *state;
    db_conn *c = db_pool_acquire(f->pool, 5000);
    assert_non_null(c);
    PGresult *r = db_queryv(c, "SELECT $1::int + $2::int, $3::text IS NULL", 3, "40", "2", NULL);
    assert_non_null(r);
    assert_int_equal(PQntuples(r), 1);
    assert_string_equal(PQgetvalue(r, 0, 0), "42");
    assert_string_equal(PQgetvalue(r, 0, 1), "t");
    PQclear(r);
    /* The same SQL again uses the prepared statement. */
    r = db_queryv(c, "SELECT $1::int + $2::int, $3::text IS NULL", 3, "1", "2", "x");
    assert_non_null(r);
    assert_string_equal(PQgetvalue(r, 0, 0), "3");
    assert_string_equal(PQgetvalue(r, 0, 1), "f");
    PQclear(r);
    r = PQexec(db_conn_pg(c), "SELECT count(*) FROM pg_prepared_statements");
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    assert_string_equal(PQgetvalue(r, 0, 0), "1");
    PQclear(r);
    /* An error returns NULL with a message, and the connection still works. */
    r = db_query(c, "SELECT * FROM no_such_table", 0, NULL, NULL, NULL);
    assert_null(r);
    assert_non_null(strstr(db_conn_error(c), "no_such_table"));
    assert_int_equal(db_exec(c, "SELECT 1", 0, NULL), 0);
    db_pool_release(f->pool, c);
    assert_int_equal(db_pool_ping(f->pool), 1);
}

static void test_binary_bytea(void **state)
{
    db_fixture *f = *state;
    db_conn *c = db_pool_acquire(f->pool, 5000);
    assert_non_null(c);
    assert_int_equal(db_exec(c, "CREATE TEMP TABLE blobs (b bytea)", 0, NULL), 0);
    unsigned char data[300];
    for (size_t i = 0; i < sizeof(data); i++)
        data[i] = (unsigned char)(i * 7);
    data[0] = 0;
    data[1] = '\\';
    const char *vals[] = { (const char *)data };
    int lens[] = { (int)sizeof(data) };
    int fmts[] = { 1 };
    PGresult *r = db_query(c, "INSERT INTO blobs VALUES ($1)", 1, vals, lens, fmts);
    assert_non_null(r);
    PQclear(r);
    r = db_query(c, "SELECT b, length(b) FROM blobs", 0, NULL, NULL, NULL);
    assert_non_null(r);
    assert_string_equal(PQgetvalue(r, 0, 1), "300");
    size_t n = 0;
    unsigned char *back = PQunescapeBytea((const unsigned char *)PQgetvalue(r, 0, 0), &n);
    assert_non_null(back);
    assert_int_equal(n, sizeof(data));
    assert_memory_equal(back, data, sizeof(data));
    PQfreemem(back);
    PQclear(r);
    db_pool_release(f->pool, c);
}

static void test_transactions(void **state)
{
    db_fixture *f = *state;
    db_conn *c = db_pool_acquire(f->pool, 5000);
    assert_non_null(c);
    assert_int_equal(db_exec(c, "CREATE TABLE IF NOT EXISTS t (v int)", 0, NULL), 0);
    assert_int_equal(db_exec(c, "DELETE FROM t", 0, NULL), 0);

    assert_int_equal(db_begin(c), 0);
    assert_int_equal(db_exec(c, "INSERT INTO t VALUES (1)", 0, NULL), 0);
    assert_int_equal(db_rollback(c), 0);

    assert_int_equal(db_begin(c), 0);
    assert_int_equal(db_exec(c, "INSERT INTO t VALUES (2)", 0, NULL), 0);
    assert_int_equal(db_commit(c), 0);

    /* An error inside a transaction makes the commit fail. */
    assert_int_equal(db_begin(c), 0);
    assert_int_equal(db_exec(c, "INSERT INTO t VALUES (3)", 0, NULL), 0);
    assert_int_equal(db_exec(c, "INSERT INTO t VALUES ('x')", 0, NULL), -1);
    assert_int_equal(db_commit(c), -1);

    /* Released inside a transaction: rolled back. */
    assert_int_equal(db_begin(c), 0);
    assert_int_equal(db_exec(c, "INSERT INTO t VALUES (4)", 0, NULL), 0);
    db_pool_release(f->pool, c);

    c = db_pool_acquire(f->pool, 5000);
    assert_non_null(c);
    PGresult *r = db_query(c, "SELECT string_agg(v::text, ',' ORDER BY v) FROM t", 0, NULL, NULL, NULL);
    assert_non_null(r);
    assert_string_equal(PQgetvalue(r, 0, 0), "2");
    PQclear(r);
    db_pool_release(f->pool, c);
}

static void test_pool_exhaustion(void **state)
{
    db_fixture *f = *state;
    db_conn *a = db_pool_acquire(f->pool, 1000);
    db_conn *b = db_pool_acquire(f->pool, 1000);
    db_conn *c = db_pool_acquire(f->pool, 1000);
    assert_non_null(a);
    assert_non_null(b);
    assert_non_null(c);
    assert_ptr_not_equal(a, b);
    assert_ptr_not_equal(b, c);
    assert_null(db_pool_acquire(f->pool, 100));   /* size 3 */
    assert_int_equal(db_pool_ping(f->pool), 0);
    db_pool_release(f->pool, b);
    db_conn *d = db_pool_acquire(f->pool, 100);
    assert_ptr_equal(d, b);
    db_pool_release(f->pool, a);
    db_pool_release(f->pool, c);
    db_pool_release(f->pool, d);
}

static int backend_pid(db_conn *c)
{
    PGresult *r = db_query(c, "SELECT pg_backend_pid()", 0, NULL, NULL, NULL);
    if (r == NULL)
        fail_msg("backend_pid: %s", db_conn_error(c));
    int pid = atoi(PQgetvalue(r, 0, 0));
    PQclear(r);
    return pid;
}

static void terminate(const char *dsn, int pid)
{
    PGconn *pg = PQconnectdb(dsn);
    assert_int_equal(PQstatus(pg), CONNECTION_OK);
    char p[32];
    snprintf(p, sizeof(p), "%d", pid);
    const char *v[] = { p };
    PGresult *r = PQexecParams(pg, "SELECT pg_terminate_backend($1::int)", 1, NULL, v, NULL, NULL, 0);
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    assert_string_equal(PQgetvalue(r, 0, 0), "t");
    PQclear(r);
    /* Wait until the backend is gone. */
    for (int i = 0; i < 100; i++) {
        r = PQexecParams(pg, "SELECT count(*) FROM pg_stat_activity WHERE pid = $1::int",
                         1, NULL, v, NULL, NULL, 0);
        int n = atoi(PQgetvalue(r, 0, 0));
        PQclear(r);
        if (n == 0)
            break;
        usleep(20000);
    }
    PQfinish(pg);
}

static void test_reconnect(void **state)
{
    db_fixture *f = *state;
    db_pool *pool = db_pool_create(f->dsn, 1);

    /* Killed while idle in the pool: the next acquire reconnects. */
    db_conn *c = db_pool_acquire(pool, 5000);
    assert_non_null(c);
    int pid1 = backend_pid(c);
    db_pool_release(pool, c);
    terminate(f->dsn, pid1);
    c = db_pool_acquire(pool, 5000);
    assert_non_null(c);
    int pid2 = backend_pid(c);
    assert_int_not_equal(pid1, pid2);

    /* Killed while held: the query fails, the next acquire reconnects. */
    terminate(f->dsn, pid2);
    PGresult *r = db_query(c, "SELECT pg_backend_pid()", 0, NULL, NULL, NULL);
    assert_null(r);
    db_pool_release(pool, c);
    c = db_pool_acquire(pool, 5000);
    assert_non_null(c);
    int pid3 = backend_pid(c);
    assert_int_not_equal(pid3, pid2);
    db_pool_release(pool, c);
    assert_int_equal(db_pool_ping(pool), 1);
    db_pool_free(pool);
}

/* db_pool_grow: refused while a connection is out; afterwards the new
 * slots are usable at the same time and the old connection was reopened. */
static void test_pool_grow(void **state)
{
    db_fixture *f = *state;
    db_pool *pool = db_pool_create(f->dsn, 1);
    assert_int_equal(db_pool_size(pool), 1);
    db_conn *c = db_pool_acquire(pool, 5000);
    assert_non_null(c);
    assert_int_equal(db_pool_grow(pool, 3), -1);
    assert_int_equal(db_pool_size(pool), 1);
    db_pool_release(pool, c);
    assert_int_equal(db_pool_grow(pool, 3), 0);
    assert_int_equal(db_pool_grow(pool, 2), 0);         /* never shrinks */
    assert_int_equal(db_pool_size(pool), 3);
    db_conn *cs[3];
    for (int i = 0; i < 3; i++) {
        cs[i] = db_pool_acquire(pool, 5000);
        assert_non_null(cs[i]);
        PGresult *r = db_query(cs[i], "SELECT 1", 0, NULL, NULL, NULL);
        assert_non_null(r);
        PQclear(r);
    }
    assert_null(db_pool_acquire(pool, 100));
    for (int i = 0; i < 3; i++)
        db_pool_release(pool, cs[i]);
    db_pool_free(pool);
}

static void test_bad_dsn(void **state)
{
    (void)state;
    db_pool *pool = db_pool_create("host=127.0.0.1 port=1 dbname=x user=x connect_timeout=2", 1);
    assert_null(db_pool_acquire(pool, 1000));
    assert_int_equal(db_pool_ping(pool), 0);
    db_pool_free(pool);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_query_params),
        cmocka_unit_test(test_binary_bytea),
        cmocka_unit_test(test_transactions),
        cmocka_unit_test(test_pool_exhaustion),
        cmocka_unit_test(test_reconnect),
        cmocka_unit_test(test_pool_grow),
        cmocka_unit_test(test_bad_dsn),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
