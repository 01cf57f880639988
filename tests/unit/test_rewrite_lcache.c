/*
 * test_rewrite_lcache.c - unit tests for the lists-lookup cache of the
 * rewrite service (services/rewrite/rewrite_lcache.c): expiry, replacement
 * when full, the disabled cache.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>

#include "../../services/rewrite/rewrite_lcache.c"

static void test_hit_and_expiry(void **state)
{
    (void)state;
    rewrite_lcache *c = rewrite_lcache_create(8, 10);
    assert_int_equal(rewrite_lcache_get(c, "l@x.test", 100), -1);
    rewrite_lcache_put(c, "l@x.test", 1, 100);
    rewrite_lcache_put(c, "n@x.test", 0, 100);
    assert_int_equal(rewrite_lcache_get(c, "l@x.test", 100), 1);
    assert_int_equal(rewrite_lcache_get(c, "n@x.test", 109), 0);
    assert_int_equal(rewrite_lcache_get(c, "l@x.test", 110), -1);   /* expired */
    assert_int_equal(rewrite_lcache_get(c, "l@x.test", 99), -1);    /* clock went back */
    /* a new answer replaces the old one */
    rewrite_lcache_put(c, "l@x.test", 0, 120);
    assert_int_equal(rewrite_lcache_get(c, "l@x.test", 121), 0);
    rewrite_lcache_free(c);
    rewrite_lcache_free(NULL);
}

static void test_full_cache_replaces(void **state)
{
    (void)state;
    rewrite_lcache *c = rewrite_lcache_create(3, 100);
    char addr[32];
    for (int i = 0; i < 3; i++) {
        snprintf(addr, sizeof(addr), "a%d@x.test", i);
        rewrite_lcache_put(c, addr, 1, 10 + i);
    }
    rewrite_lcache_put(c, "new@x.test", 0, 20);        /* evicts the oldest, a0 */
    assert_int_equal(rewrite_lcache_get(c, "new@x.test", 20), 0);
    assert_int_equal(rewrite_lcache_get(c, "a0@x.test", 20), -1);
    assert_int_equal(rewrite_lcache_get(c, "a1@x.test", 20), 1);
    assert_int_equal(rewrite_lcache_get(c, "a2@x.test", 20), 1);
    /* an expired entry is reused before a fresh one */
    rewrite_lcache_put(c, "late@x.test", 1, 112);      /* a1 (11) expired at 111 */
    assert_int_equal(rewrite_lcache_get(c, "late@x.test", 112), 1);
    assert_int_equal(rewrite_lcache_get(c, "new@x.test", 112), 0);
    rewrite_lcache_free(c);
}

static void test_disabled(void **state)
{
    (void)state;
    rewrite_lcache *c = rewrite_lcache_create(4, 0);
    rewrite_lcache_put(c, "l@x.test", 1, 100);
    assert_int_equal(rewrite_lcache_get(c, "l@x.test", 100), -1);
    rewrite_lcache_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hit_and_expiry),
        cmocka_unit_test(test_full_cache_replaces),
        cmocka_unit_test(test_disabled),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
