/*
 * test_smtp_iplimit.c - unit tests of services/mx/smtp_iplimit.c: the
 * per-address connection limit, release, and a full table.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>
#include "../../services/mx/smtp_iplimit.c"

static void test_limit(void **state)
{
    (void)state;
    smtp_iplimit *t = smtp_iplimit_create(3, 2);
    assert_int_equal(smtp_iplimit_acquire(t, "192.0.2.1"), 0);
    assert_int_equal(smtp_iplimit_acquire(t, "192.0.2.1"), 0);
    assert_int_equal(smtp_iplimit_acquire(t, "192.0.2.1"), -1);     /* third one */
    assert_int_equal(smtp_iplimit_acquire(t, "2001:db8::1"), 0);
    smtp_iplimit_release(t, "192.0.2.1");
    assert_int_equal(smtp_iplimit_acquire(t, "192.0.2.1"), 0);       /* a slot again */
    assert_int_equal(smtp_iplimit_acquire(t, "192.0.2.2"), 0);
    assert_int_equal(smtp_iplimit_acquire(t, "192.0.2.3"), -1);      /* table full */
    smtp_iplimit_release(t, "2001:db8::1");                          /* leaves the table */
    assert_int_equal(smtp_iplimit_acquire(t, "192.0.2.3"), 0);
    assert_int_equal(t->n, 3);
    smtp_iplimit_release(t, "not there");                            /* harmless */
    char big[100];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    assert_int_equal(smtp_iplimit_acquire(t, big), -1);
    smtp_iplimit_free(t);
    smtp_iplimit_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_limit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
