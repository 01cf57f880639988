/*
 * test_smtp_blocks.c - unit tests of services/mx/smtp_blocks.c and the
 * single-network functions of smtp_cidr.c: value normalisation (table),
 * CIDR parsing and matching, and the cache against a real PostgreSQL
 * (run under tests/unit/with-services.sh): rules loaded, reloaded when
 * mx.blocks_version changes, domain rules covering subdomains, expired
 * rules ignored.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../services/mx/smtp_cidr.c"
#include "../../services/mx/smtp_blocks.c"
#include "services_fixture.h"

static void test_normalize_table(void **state)
{
    (void)state;
    static const struct {
        enum smtp_block_kind kind;
        const char *in, *out;                   /* out NULL: refused */
    } cases[] = {
        { SMTP_BLOCK_NETWORK, "192.0.2.7/24",        "192.0.2.0/24" },
        { SMTP_BLOCK_NETWORK, "192.0.2.7",           "192.0.2.7/32" },
        { SMTP_BLOCK_NETWORK, "10.1.2.3/0",          "0.0.0.0/0" },
        { SMTP_BLOCK_NETWORK, "10.255.255.255/9",    "10.128.0.0/9" },
        { SMTP_BLOCK_NETWORK, "2001:DB8:1:2::5/48",  "2001:db8:1::/48" },
        { SMTP_BLOCK_NETWORK, "::ffff:192.0.2.1/32", "192.0.2.1/32" },
        { SMTP_BLOCK_NETWORK, "2001:db8::1",         "2001:db8::1/128" },
        { SMTP_BLOCK_NETWORK, "10.0.0.0/33",         NULL },
        { SMTP_BLOCK_NETWORK, "10.0.0.0/",           NULL },
        { SMTP_BLOCK_NETWORK, "10.0.0.0/-1",         NULL },
        { SMTP_BLOCK_NETWORK, "10.0.0.0/0008",       NULL },
        { SMTP_BLOCK_NETWORK, "10.0.0/8",            NULL },
        { SMTP_BLOCK_NETWORK, "2001:db8::/129",      NULL },
        { SMTP_BLOCK_NETWORK, "example.test",        NULL },
        { SMTP_BLOCK_NETWORK, "",                    NULL },
        { SMTP_BLOCK_ADDRESS, "Bob@Example.TEST",    "bob@example.test" },
        { SMTP_BLOCK_ADDRESS, "a@b@example.test",    "a@b@example.test" },
        { SMTP_BLOCK_ADDRESS, "@example.test",       NULL },
        { SMTP_BLOCK_ADDRESS, "bob",                 NULL },
        { SMTP_BLOCK_ADDRESS, "bob@",                NULL },
        { SMTP_BLOCK_ADDRESS, "b ob@example.test",   NULL },
        { SMTP_BLOCK_ADDRESS, "<bob@example.test>",  NULL },
        { SMTP_BLOCK_ADDRESS, "bob@exa_mple.test",   NULL },
        { SMTP_BLOCK_DOMAIN,  "Example.TEST.",       "example.test" },
        { SMTP_BLOCK_DOMAIN,  "xn--bcher-kva.test",  "xn--bcher-kva.test" },
        { SMTP_BLOCK_DOMAIN,  "bad..test",           NULL },
        { SMTP_BLOCK_DOMAIN,  ".test",               NULL },
        { SMTP_BLOCK_DOMAIN,  "-a.test",             NULL },
        { SMTP_BLOCK_DOMAIN,  "a-.test",             NULL },
        { SMTP_BLOCK_DOMAIN,  "a@b.test",            NULL },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char out[SMTP_BLOCK_VALUE_MAX + 1], why[160];
        int rc = smtp_blocks_value_normalize(cases[i].kind, cases[i].in, out, sizeof out,
                                             why, sizeof why);
        if (cases[i].out == NULL) {
            if (rc != -1)
                fail_msg("case %zu (%s): accepted as %s", i, cases[i].in, out);
            assert_true(why[0] != '\0');
        } else {
            if (rc != 0)
                fail_msg("case %zu (%s): refused: %s", i, cases[i].in, why);
            assert_string_equal(out, cases[i].out);
        }
    }
    char big[400], out[SMTP_BLOCK_VALUE_MAX + 1], why[160];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    big[10] = '@';
    assert_int_equal(smtp_blocks_value_normalize(SMTP_BLOCK_ADDRESS, big, out, sizeof out,
                                                 why, sizeof why), -1);
    enum smtp_block_kind k;
    assert_int_equal(smtp_blocks_kind_parse("network", &k), 0);
    assert_int_equal(k, SMTP_BLOCK_NETWORK);
    assert_int_equal(smtp_blocks_kind_parse("Network", &k), -1);
    assert_int_equal(smtp_blocks_kind_parse(NULL, &k), -1);
    assert_string_equal(smtp_blocks_kind_name(SMTP_BLOCK_DOMAIN), "domain");
}

static void test_cidr_net_match(void **state)
{
    (void)state;
    smtp_cidr_net n;
    char err[128];
    assert_int_equal(smtp_cidr_net_parse("192.0.2.0/25", &n, err, sizeof err), 0);
    assert_true(smtp_cidr_net_match(&n, "192.0.2.1"));
    assert_true(smtp_cidr_net_match(&n, "192.0.2.127"));
    assert_false(smtp_cidr_net_match(&n, "192.0.2.128"));
    assert_true(smtp_cidr_net_match(&n, "::ffff:192.0.2.5"));     /* v4-mapped */
    assert_false(smtp_cidr_net_match(&n, "2001:db8::1"));
    assert_false(smtp_cidr_net_match(&n, "not an ip"));
    assert_int_equal(smtp_cidr_net_parse("2001:db8::/32", &n, err, sizeof err), 0);
    assert_true(smtp_cidr_net_match(&n, "2001:db8:ffff::1"));
    assert_false(smtp_cidr_net_match(&n, "2001:db9::1"));
    assert_false(smtp_cidr_net_match(&n, "32.1.13.184"));
    assert_int_equal(smtp_cidr_net_parse("0.0.0.0/0", &n, err, sizeof err), 0);
    assert_true(smtp_cidr_net_match(&n, "203.0.113.9"));
    assert_int_equal(smtp_cidr_net_parse("1.2.3.4/7/8", &n, err, sizeof err), -1);
}

static int db_exec_sql(const char *dsn, const char *sql)
{
    PGconn *pg = PQconnectdb(dsn);
    PGresult *r = PQexec(pg, sql);
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;
    if (!ok)
        fprintf(stderr, "%s: %s", sql, PQerrorMessage(pg));
    PQclear(r);
    PQfinish(pg);
    return ok ? 0 : -1;
}

/* Waits (at most 15 s) until the sender check gives want. */
static int wait_sender(smtp_blocks *b, const char *addr, int want)
{
    smtp_block_hit hit;
    for (int i = 0; i < 150; i++) {
        if (smtp_blocks_match_sender(b, addr, &hit) == want)
            return 1;
        usleep(100 * 1000);
    }
    return 0;
}

static void test_cache_against_postgres(void **state)
{
    (void)state;
    char *dsn = fixture_pg_dsn("mx_blocks");
    assert_non_null(dsn);
    char err[512];
    assert_true(migrate_run(dsn, ".", err, sizeof err) >= 0);
    assert_int_equal(db_exec_sql(dsn,
        "INSERT INTO mx.blocks (kind, value, reason) VALUES"
        " ('network', '192.0.2.0/24', 'test net'),"
        " ('network', '2001:db8:5::/48', 'test net6'),"
        " ('address', 'bad@example.test', 'bad sender'),"
        " ('domain', 'spam.test', 'spam domain');"
        "INSERT INTO mx.blocks (kind, value, reason, expires_at) VALUES"
        " ('address', 'gone@example.test', 'expired', now() - interval '1 minute')"), 0);

    setenv("MAILYARD_MX_BLOCKS_REFRESH_SECONDS", "1", 1);
    config *cfg = config_load(err, sizeof err);
    assert_non_null(cfg);
    db_pool *pool = db_pool_create(dsn, 2);
    smtp_blocks *b = NULL;
    assert_int_equal(smtp_blocks_create(cfg, pool, &b, err, sizeof err), 0);

    smtp_block_hit hit;
    assert_int_equal(smtp_blocks_match_client(b, "192.0.2.200", &hit), 1);   /* loaded at once */
    assert_string_equal(hit.rule, "network:192.0.2.0/24");
    assert_string_equal(hit.reason, "test net");
    assert_int_equal(smtp_blocks_match_client(b, "2001:db8:5:1::9", &hit), 1);
    assert_int_equal(smtp_blocks_match_client(b, "198.51.100.1", &hit), 0);
    assert_int_equal(smtp_blocks_match_sender(b, "Bad@Example.test", &hit), 1);
    assert_string_equal(hit.reason, "bad sender");
    assert_int_equal(smtp_blocks_match_rcpt(b, "bad@example.test", &hit), 1);
    assert_int_equal(smtp_blocks_match_sender(b, "x@spam.test", &hit), 1);
    assert_string_equal(hit.rule, "domain:spam.test");
    assert_int_equal(smtp_blocks_match_sender(b, "x@a.b.SPAM.test", &hit), 1);
    assert_int_equal(smtp_blocks_match_sender(b, "x@nospam.test", &hit), 0);
    assert_int_equal(smtp_blocks_match_rcpt(b, "x@spam.test", &hit), 0);   /* senders only */
    assert_int_equal(smtp_blocks_match_sender(b, "", &hit), 0);
    assert_int_equal(smtp_blocks_match_sender(b, "gone@example.test", &hit), 0);
    assert_int_equal(smtp_blocks_match_sender(NULL, "bad@example.test", &hit), 0);

    /* a change bumps the version: the reload thread picks it up */
    assert_int_equal(db_exec_sql(dsn, "INSERT INTO mx.blocks (kind, value, reason)"
                                      " VALUES ('address', 'new@example.test', 'new')"), 0);
    assert_true(wait_sender(b, "new@example.test", 1));
    assert_int_equal(db_exec_sql(dsn, "DELETE FROM mx.blocks WHERE kind = 'domain'"), 0);
    assert_true(wait_sender(b, "x@spam.test", 0));
    /* a rule that expires between reloads stops matching by itself */
    assert_int_equal(db_exec_sql(dsn, "INSERT INTO mx.blocks (kind, value, reason, expires_at)"
                                      " VALUES ('address', 'soon@example.test', 'soon',"
                                      " now() + interval '2 seconds')"), 0);
    assert_true(wait_sender(b, "soon@example.test", 1));
    assert_true(wait_sender(b, "soon@example.test", 0));

    smtp_blocks_free(b);
    db_pool_free(pool);
    config_free(cfg);
    unsetenv("MAILYARD_MX_BLOCKS_REFRESH_SECONDS");
    free(dsn);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_normalize_table),
        cmocka_unit_test(test_cidr_net_match),
        cmocka_unit_test(test_cache_against_postgres),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
