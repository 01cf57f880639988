/*
 * test_shutdown.c - unit tests of libcommon/shutdown.c: signals delivered to
 * the process become the stop flag, the readable pipe and the reload
 * generation; shutdown_sleep returns early on a stop.
 */
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "shutdown.h"

static int wait_until_stop(shutdown_state *s, int ms)
{
    for (int i = 0; i < ms / 10; i++) {
        if (shutdown_requested(s))
            return 1;
        usleep(10000);
    }
    return shutdown_requested(s);
}

static void test_sighup_reloads_sigterm_stops(void **state)
{
    (void)state;
    shutdown_state s;
    assert_int_equal(shutdown_install(&s), 0);
    assert_false(shutdown_requested(&s));

    /* SIGPIPE is ignored: raising it must not kill us. */
    assert_int_equal(raise(SIGPIPE), 0);

    assert_int_equal(kill(getpid(), SIGHUP), 0);
    for (int i = 0; i < 200 && atomic_load(&s.reload_gen) == 0; i++)
        usleep(10000);
    assert_int_equal(atomic_load(&s.reload_gen), 1);
    assert_false(shutdown_requested(&s));

    /* Nothing to read before the stop. */
    struct pollfd p = { .fd = s.pipe_rd, .events = POLLIN };
    assert_int_equal(poll(&p, 1, 0), 0);

    assert_int_equal(kill(getpid(), SIGTERM), 0);
    assert_true(wait_until_stop(&s, 2000));
    assert_int_equal(poll(&p, 1, 1000), 1);
    assert_true(p.revents & POLLIN);

    /* A stopped state makes shutdown_sleep return at once with 1. */
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    assert_int_equal(shutdown_sleep(&s, 5000), 1);
    clock_gettime(CLOCK_MONOTONIC, &b);
    assert_true(b.tv_sec - a.tv_sec < 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sighup_reloads_sigterm_stops),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
