/*
 * test_relay_backoff.c - unit tests for the relay's retry schedule
 * (services/relay/relay_backoff.c).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <limits.h>
#include <cmocka.h>

#include "../../services/relay/relay_backoff.c"

static void test_default_schedule(void **state)
{
    (void)state;
    static const long want[] = { 300, 600, 1200, 2400, 4200, 4200, 4200 };
    for (int i = 0; i < (int)(sizeof(want) / sizeof(want[0])); i++)
        assert_int_equal(relay_backoff_delay(i + 1, 300, 4200), want[i]);
}

static void test_no_overflow(void **state)
{
    (void)state;
    assert_int_equal(relay_backoff_delay(1000, 300, 4200), 4200);
    assert_true(relay_backoff_delay(INT_MAX, 1, LONG_MAX) > 0);
    long big = relay_backoff_delay(200, 7, LONG_MAX);
    assert_true(big > 0);
    assert_true(big <= LONG_MAX);
}

static void test_odd_inputs(void **state)
{
    (void)state;
    assert_int_equal(relay_backoff_delay(0, 300, 4200), 300);    /* attempts < 1 */
    assert_int_equal(relay_backoff_delay(-5, 300, 4200), 300);
    assert_int_equal(relay_backoff_delay(1, 0, 4200), 1);        /* base < 1 */
    assert_int_equal(relay_backoff_delay(3, 500, 100), 500);     /* max < base */
    assert_int_equal(relay_backoff_delay(2, 10, 15), 15);        /* cap not a power */
    assert_int_equal(relay_backoff_delay(3, 1, 100), 4);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_default_schedule),
        cmocka_unit_test(test_no_overflow),
        cmocka_unit_test(test_odd_inputs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
