/*
 * test_smtp_spool_dsn.c - the envelope extensions mx stores (SMTPUTF8 and
 * the RFC 3461 DSN parameters, libcommon/sql/002_dsn.sql) survive
 * spool_message_insert() and spool_message_load(); a rcpt_dsn array that
 * does not match the recipients is refused. Needs PostgreSQL: run under
 * tests/unit/with-services.sh.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "migrate.h"
#include "spool.h"
#include "services_fixture.h"

typedef struct dsn_fixture {
    char    *dsn;
    db_pool *pool;
} dsn_fixture;

static int setup(void **state)
{
    static dsn_fixture f;
    f.dsn = fixture_pg_dsn("smtp_dsn");
    if (f.dsn == NULL || fixture_spool_migrate(f.dsn) != 0)
        return -1;
    f.pool = db_pool_create(f.dsn, 2);
    *state = &f;
    return 0;
}

static int teardown(void **state)
{
    dsn_fixture *f = *state;
    db_pool_free(f->pool);
    free(f->dsn);
    return 0;
}

static void test_roundtrip(void **state)
{
    dsn_fixture *f = *state;
    db_conn *c = db_pool_acquire(f->pool, 5000);
    assert_non_null(c);
    char raw[] = "Subject: x\r\n\r\nbody\r\n";
    char *rcpts[] = { "\xc3\xa9t\xc3\xa9@example.org", "b@example.org" };
    json_t *rd = json_pack("[{s:s, s:s}, n]", "notify", "SUCCESS,DELAY",
                           "orcpt", "rfc822;orig@example.net");
    spool_message m = {
        .mail_from = "j\xc3\xb6rg@example.com", .rcpts = rcpts, .nrcpts = 2,
        .origin = "mx", .raw = raw, .raw_len = sizeof raw - 1,
        .smtputf8 = 1, .dsn_ret = "HDRS", .dsn_envid = "env+1", .rcpt_dsn = rd,
    };
    assert_int_equal(spool_message_insert(c, &m), 0);
    spool_message *l = NULL;
    assert_int_equal(spool_message_load(c, m.id, &l), 0);
    assert_int_equal(l->smtputf8, 1);
    assert_string_equal(l->dsn_ret, "HDRS");
    assert_string_equal(l->dsn_envid, "env+1");
    assert_true(json_equal(l->rcpt_dsn, rd));
    assert_string_equal(l->rcpts[0], rcpts[0]);
    spool_message_free(l);

    /* nothing given: NULLs and false */
    spool_message p = { .mail_from = "", .rcpts = rcpts, .nrcpts = 1, .origin = "mx",
                        .raw = raw, .raw_len = sizeof raw - 1 };
    assert_int_equal(spool_message_insert(c, &p), 0);
    assert_int_equal(spool_message_load(c, p.id, &l), 0);
    assert_int_equal(l->smtputf8, 0);
    assert_null(l->dsn_ret);
    assert_null(l->dsn_envid);
    assert_null(l->rcpt_dsn);
    spool_message_free(l);

    /* an array that does not match the recipients is refused */
    spool_message bad = m;
    bad.queue_id[0] = '\0';
    bad.nrcpts = 1;
    assert_int_equal(spool_message_insert(c, &bad), -1);
    json_decref(rd);
    db_pool_release(f->pool, c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
