/*
 * test_spool_dmarc.c - unit tests for libcommon/spool_dmarc.c (the record of
 * encoded DMARC authors) against a real PostgreSQL (run under
 * tests/unit/with-services.sh): record, case-insensitive lookup, the reply
 * window, refresh on a new encoding.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "db.h"
#include "migrate.h"
#include "spool_dmarc.h"
#include "services_fixture.h"

static int setup(void **state)
{
    static char *dsn;
    dsn = fixture_pg_dsn("spool_dmarc");
    if (dsn == NULL || fixture_spool_migrate(dsn) != 0)
        return -1;
    db_pool *pool = db_pool_create(dsn, 2);
    free(dsn);
    *state = pool;
    return pool != NULL ? 0 : -1;
}

static int teardown(void **state)
{
    db_pool_free(*state);
    return 0;
}

static void exec_sql(db_conn *c, const char *sql)
{
    PGresult *r = db_query(c, sql, 0, NULL, NULL, NULL);
    if (r == NULL)
        fail_msg("%s: %s", sql, db_conn_error(c));
    PQclear(r);
}

static void test_record_and_window(void **state)
{
    db_conn *c = db_pool_acquire(*state, 5000);
    assert_non_null(c);
    assert_int_equal(spool_dmarc_seen(c, "alice@author.test", 30), 0);
    assert_int_equal(spool_dmarc_record(c, "Alice@Author.TEST",
                                        "alice=40author.test@dmarc.example.test"), 0);
    assert_int_equal(spool_dmarc_seen(c, "alice@author.test", 30), 1);
    assert_int_equal(spool_dmarc_seen(c, "ALICE@author.test", 30), 1);
    assert_int_equal(spool_dmarc_seen(c, "bob@author.test", 30), 0);
    /* seen 31 days ago: outside a 30-day window, inside a 60-day one */
    exec_sql(c, "UPDATE spool.dmarc_encoded SET last_seen = now() - interval '31 days'");
    assert_int_equal(spool_dmarc_seen(c, "alice@author.test", 30), 0);
    assert_int_equal(spool_dmarc_seen(c, "alice@author.test", 60), 1);
    /* a new encoding refreshes it */
    assert_int_equal(spool_dmarc_record(c, "alice@author.test",
                                        "alice=40author.test@dmarc.example.test"), 0);
    assert_int_equal(spool_dmarc_seen(c, "alice@author.test", 30), 1);
    assert_int_equal(spool_dmarc_seen(c, "alice@author.test", 0), 0);
    db_pool_release(*state, c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_record_and_window),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
