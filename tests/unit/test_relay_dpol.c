/*
 * test_relay_dpol.c - unit tests for the destination-domain policies
 * (services/relay/relay_dpol.c): parsing and its errors, slow start
 * (grow by one, halve on a temporary failure, bounds), the token-bucket
 * rate with an explicit clock, and the "*" template.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "../../services/relay/relay_dpol.c"

static void test_parse(void **state)
{
    (void)state;
    char err[256];
    relay_dpol *p = relay_dpol_create(" gmail.com=concurrency:10,rate:600/h ; "
                                      "Example.NET=concurrency:2 ;", 7, err, sizeof(err));
    assert_non_null(p);
    assert_int_equal(p->n, 2);
    assert_string_equal(p->e[0].domain, "gmail.com");
    assert_int_equal(p->e[0].concurrency, 10);
    assert_int_equal(p->e[0].rate, 600);
    assert_int_equal(p->e[0].period, 3600);
    assert_string_equal(p->e[1].domain, "example.net");
    int lim = 0;
    assert_int_equal(relay_dpol_window(p, "EXAMPLE.net", &lim), 1);
    assert_int_equal(lim, 1);                               /* slow start from 1 */
    assert_int_equal(relay_dpol_window(p, "other.test", &lim), 0);
    relay_dpol_free(p);

    p = relay_dpol_create("", 10, err, sizeof(err));
    assert_non_null(p);
    assert_int_equal(relay_dpol_window(p, "x.test", &lim), 0);
    relay_dpol_free(p);

    static const char *const bad[] = {
        "gmail.com", "=concurrency:1", "a.test=concurrency:0", "a.test=rate:5/w",
        "a.test=rate:5", "a.test=speed:3", "a b.test=concurrency:1", "a.test=start:x",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        assert_null(relay_dpol_create(bad[i], 10, err, sizeof(err)));
        assert_true(err[0] != '\0');
    }
}

static void test_slow_start(void **state)
{
    (void)state;
    char err[256];
    int lim = 0;
    relay_dpol *p = relay_dpol_create("a.test=concurrency:4,start:2", 10, err, sizeof(err));
    assert_non_null(p);
    assert_true(relay_dpol_window(p, "a.test", &lim) && lim == 2);
    relay_dpol_feedback(p, "a.test", 1, 0);
    relay_dpol_feedback(p, "a.test", 3, 1);
    relay_dpol_feedback(p, "a.test", 1, 0);                 /* capped at 4 */
    assert_true(relay_dpol_window(p, "a.test", &lim) && lim == 4);
    relay_dpol_feedback(p, "a.test", 0, 0);                 /* 5xx only: unchanged */
    assert_true(relay_dpol_window(p, "a.test", &lim) && lim == 4);
    relay_dpol_feedback(p, "a.test", 0, 2);
    assert_true(relay_dpol_window(p, "a.test", &lim) && lim == 2);
    relay_dpol_feedback(p, "a.test", 0, 1);
    relay_dpol_feedback(p, "a.test", 0, 1);                 /* never below 1 */
    assert_true(relay_dpol_window(p, "a.test", &lim) && lim == 1);
    relay_dpol_free(p);
}

static void test_rate(void **state)
{
    (void)state;
    char err[256], why[256];
    relay_dpol *p = relay_dpol_create("r.test=rate:2/m", 10, err, sizeof(err));
    assert_non_null(p);
    assert_int_equal(relay_dpol_rate_take(p, "r.test", 100.0, why, sizeof(why)), 0);
    assert_int_equal(relay_dpol_rate_take(p, "r.test", 100.0, why, sizeof(why)), 0);
    long w = relay_dpol_rate_take(p, "r.test", 100.0, why, sizeof(why));
    assert_int_equal(w, 30);                                /* one token per 30 s */
    assert_non_null(strstr(why, "rate limit of r.test"));
    assert_int_equal(relay_dpol_rate_take(p, "r.test", 130.0, why, sizeof(why)), 0);
    assert_true(relay_dpol_rate_take(p, "r.test", 131.0, why, sizeof(why)) > 0);
    /* the bucket never holds more than the rate */
    assert_int_equal(relay_dpol_rate_take(p, "r.test", 10000.0, why, sizeof(why)), 0);
    assert_int_equal(relay_dpol_rate_take(p, "r.test", 10000.0, why, sizeof(why)), 0);
    assert_true(relay_dpol_rate_take(p, "r.test", 10000.0, why, sizeof(why)) > 0);
    assert_int_equal(relay_dpol_rate_take(p, "none.test", 1.0, why, sizeof(why)), 0);
    relay_dpol_free(p);
}

static void test_star_template(void **state)
{
    (void)state;
    char err[256];
    int lim = 0;
    relay_dpol *p = relay_dpol_create("*=concurrency:3;big.test=concurrency:50,start:5", 10,
                                      err, sizeof(err));
    assert_non_null(p);
    assert_true(relay_dpol_window(p, "x.test", &lim) && lim == 1);
    relay_dpol_feedback(p, "x.test", 1, 0);
    assert_true(relay_dpol_window(p, "x.test", &lim) && lim == 2);
    assert_true(relay_dpol_window(p, "y.test", &lim) && lim == 1);   /* its own state */
    assert_true(relay_dpol_window(p, "big.test", &lim) && lim == 5);
    json_t *j = relay_dpol_json(p, 1.0);
    assert_int_equal(json_array_size(j), 4);
    json_decref(j);
    relay_dpol_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_slow_start),
        cmocka_unit_test(test_rate),
        cmocka_unit_test(test_star_template),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
