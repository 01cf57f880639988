/*
 * test_smtp_ratelimit.c - unit tests of services/mx/smtp_ratelimit.c
 * against a real Redis (run under tests/unit/with-services.sh; fails
 * without it). Uses Redis database 7 of the test server and FLUSHDB.
 * Covers the per-user path (no SMTP AUTH yet to drive it through mx), the
 * per-IP path, keys and windows, limits turned off, bad kinds and keys,
 * and fail open against a Redis that is not there.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../services/mx/smtp_ratelimit.c"
#include "services_fixture.h"

#define DBNO 7

static long long rcmd_int(jobq *q, int argc, const char **argv)
{
    redisReply *r = jobq_command(q, 2000, argc, argv);
    assert_non_null(r);
    long long v = r->type == REDIS_REPLY_INTEGER ? r->integer
                : r->type == REDIS_REPLY_STRING ? strtoll(r->str, NULL, 10) : -999;
    freeReplyObject(r);
    return v;
}

static smtp_ratelimit *make(const char *url, metrics_registry *mr)
{
    char err[256];
    config *cfg = config_load(err, sizeof err);
    assert_non_null(cfg);
    smtp_ratelimit *rl = NULL;
    int rc = smtp_ratelimit_create(cfg, url, NULL, mr, &rl, err, sizeof err);
    config_free(cfg);
    assert_int_equal(rc, 0);
    return rl;
}

static void test_user_and_ip_limits(void **state)
{
    (void)state;
    char *url = fixture_redis_url(DBNO);
    assert_non_null(url);
    jobq *admin = jobq_create(url, NULL, "test");
    const char *flush[] = { "FLUSHDB" };
    redisReply *fr = jobq_command(admin, 2000, 1, flush);
    assert_non_null(fr);
    freeReplyObject(fr);

    setenv("MAILYARD_MX_RATE_USER_MESSAGES", "2", 1);
    setenv("MAILYARD_MX_RATE_USER_RECIPIENTS", "0", 1);          /* off */
    setenv("MAILYARD_MX_RATE_IP_RECIPIENTS", "3", 1);
    setenv("MAILYARD_MX_RATE_MESSAGES_WINDOW_SECONDS", "120", 1);
    metrics_registry *mr = metrics_registry_create();
    smtp_ratelimit *rl = make(url, mr);

    long win = 0;
    assert_int_equal(smtp_ratelimit_limit(rl, "user", SMTP_RATE_MESSAGES, &win), 2);
    assert_int_equal(win, 120);
    assert_int_equal(smtp_ratelimit_limit(rl, "ip", SMTP_RATE_CONNECTIONS, &win), 300);
    assert_int_equal(win, 60);

    /* per user: two messages, then over; another user has its own count */
    assert_int_equal(smtp_ratelimit_hit(rl, "user", "alice@example.test", SMTP_RATE_MESSAGES), 0);
    assert_int_equal(smtp_ratelimit_hit(rl, "user", "alice@example.test", SMTP_RATE_MESSAGES), 0);
    assert_int_equal(smtp_ratelimit_hit(rl, "user", "alice@example.test", SMTP_RATE_MESSAGES), 1);
    assert_int_equal(smtp_ratelimit_hit(rl, "user", "alice@example.test", SMTP_RATE_MESSAGES), 1);
    assert_int_equal(smtp_ratelimit_hit(rl, "user", "bob", SMTP_RATE_MESSAGES), 0);
    /* the same key under kind "ip" is another counter */
    assert_int_equal(smtp_ratelimit_hit(rl, "ip", "alice@example.test", SMTP_RATE_MESSAGES), 0);

    char key[SMTP_RATE_KEY_MAX + 64];
    assert_int_equal(smtp_ratelimit_key("user", "alice@example.test", SMTP_RATE_MESSAGES,
                                        key, sizeof key), 0);
    assert_string_equal(key, "mailyard:mx:rate:messages:user:alice@example.test");
    const char *get[] = { "GET", key };
    assert_int_equal(rcmd_int(admin, 2, get), 4);
    const char *ttl[] = { "TTL", key };
    long long t = rcmd_int(admin, 2, ttl);
    assert_true(t > 0 && t <= 120);
    /* a counter that lost its time to live gets one again */
    const char *persist[] = { "PERSIST", key };
    assert_int_equal(rcmd_int(admin, 2, persist), 1);
    assert_int_equal(smtp_ratelimit_hit(rl, "user", "alice@example.test", SMTP_RATE_MESSAGES), 1);
    t = rcmd_int(admin, 2, ttl);
    assert_true(t > 0 && t <= 120);
    /* the window is over when the counter is gone */
    const char *del[] = { "DEL", key };
    assert_int_equal(rcmd_int(admin, 2, del), 1);
    assert_int_equal(smtp_ratelimit_hit(rl, "user", "alice@example.test", SMTP_RATE_MESSAGES), 0);

    /* a limit of 0 is off: nothing counted */
    for (int i = 0; i < 10; i++)
        assert_int_equal(smtp_ratelimit_hit(rl, "user", "carol", SMTP_RATE_RECIPIENTS), 0);
    assert_int_equal(smtp_ratelimit_key("user", "carol", SMTP_RATE_RECIPIENTS, key, sizeof key), 0);
    const char *exists[] = { "EXISTS", key };
    assert_int_equal(rcmd_int(admin, 2, exists), 0);

    /* per IP recipients */
    for (int i = 0; i < 3; i++)
        assert_int_equal(smtp_ratelimit_hit(rl, "ip", "2001:db8::7", SMTP_RATE_RECIPIENTS), 0);
    assert_int_equal(smtp_ratelimit_hit(rl, "ip", "2001:db8::7", SMTP_RATE_RECIPIENTS), 1);

    /* bad calls */
    assert_int_equal(smtp_ratelimit_hit(rl, "group", "x", SMTP_RATE_MESSAGES), -1);
    assert_int_equal(smtp_ratelimit_hit(rl, "user", "", SMTP_RATE_MESSAGES), -1);
    assert_int_equal(smtp_ratelimit_hit(rl, "user", NULL, SMTP_RATE_MESSAGES), -1);
    char big[SMTP_RATE_KEY_MAX + 2];
    memset(big, 'u', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    assert_int_equal(smtp_ratelimit_hit(rl, "user", big, SMTP_RATE_MESSAGES), -1);
    assert_int_equal(smtp_ratelimit_key("user", "x", SMTP_RATE_NWHAT, key, sizeof key), -1);
    assert_int_equal(smtp_ratelimit_key("user", "x", SMTP_RATE_MESSAGES, key, 8), -1);

    buf out;
    buf_init(&out, 1 << 20);
    assert_int_equal(metrics_render(mr, &out), 0);
    assert_non_null(strstr(out.data, "mailyard_mx_ratelimit_exceeded_total{kind=\"user\","
                                     "what=\"messages\"} 3"));
    buf_release(&out);

    smtp_ratelimit_free(rl);
    metrics_registry_free(mr);
    jobq_free(admin);
    free(url);
    unsetenv("MAILYARD_MX_RATE_USER_MESSAGES");
    unsetenv("MAILYARD_MX_RATE_USER_RECIPIENTS");
    unsetenv("MAILYARD_MX_RATE_IP_RECIPIENTS");
    unsetenv("MAILYARD_MX_RATE_MESSAGES_WINDOW_SECONDS");
}

static void test_redis_down_fails_open(void **state)
{
    (void)state;
    char url[64];
    snprintf(url, sizeof url, "redis://127.0.0.1:%d/0", 1);      /* nobody listens */
    setenv("MAILYARD_MX_RATE_USER_MESSAGES", "1", 1);
    metrics_registry *mr = metrics_registry_create();
    smtp_ratelimit *rl = make(url, mr);
    for (int i = 0; i < 5; i++)
        assert_int_equal(smtp_ratelimit_hit(rl, "user", "dave", SMTP_RATE_MESSAGES), 0);
    buf out;
    buf_init(&out, 1 << 20);
    assert_int_equal(metrics_render(mr, &out), 0);
    assert_non_null(strstr(out.data, "mailyard_mx_ratelimit_failopen_total 5"));
    buf_release(&out);
    smtp_ratelimit_free(rl);
    metrics_registry_free(mr);
    unsetenv("MAILYARD_MX_RATE_USER_MESSAGES");
}

static void test_bad_configuration(void **state)
{
    (void)state;
    char err[256];
    setenv("MAILYARD_MX_RATE_CONNECTIONS_WINDOW_SECONDS", "0", 1);
    config *cfg = config_load(err, sizeof err);
    assert_non_null(cfg);
    metrics_registry *mr = metrics_registry_create();
    smtp_ratelimit *rl = NULL;
    assert_int_equal(smtp_ratelimit_create(cfg, "redis://127.0.0.1:1", NULL, mr, &rl,
                                           err, sizeof err), -1);
    assert_null(rl);
    assert_non_null(strstr(err, "MAILYARD_MX_RATE_CONNECTIONS_WINDOW_SECONDS"));
    unsetenv("MAILYARD_MX_RATE_CONNECTIONS_WINDOW_SECONDS");
    setenv("MAILYARD_MX_RATE_IP_MESSAGES", "-1", 1);
    assert_int_equal(smtp_ratelimit_create(cfg, "redis://127.0.0.1:1", NULL, mr, &rl,
                                           err, sizeof err), -1);
    unsetenv("MAILYARD_MX_RATE_IP_MESSAGES");
    config_free(cfg);
    metrics_registry_free(mr);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_user_and_ip_limits),
        cmocka_unit_test(test_redis_down_fails_open),
        cmocka_unit_test(test_bad_configuration),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
