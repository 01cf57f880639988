/*
 * test_relay_verp.c - unit tests for VERP: the relay's encoding
 * (services/relay/relay_verp.c) and rewrite's decoding
 * (rewrite_verp_decode in services/rewrite/rewrite_verp.c) round-trip,
 * with the default and other delimiters, and refuse what is not VERP.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "../../services/relay/relay_verp.c"
#include "../../services/rewrite/rewrite_verp.c"
#include "../../services/rewrite/rewrite_bounce.c"

static void test_applies(void **state)
{
    (void)state;
    assert_true(relay_verp_applies("lists", "dev-bounces@lists.example"));
    assert_true(relay_verp_applies("lists", "dev-BOUNCES@lists.example"));
    assert_false(relay_verp_applies("mx", "dev-bounces@lists.example"));
    assert_false(relay_verp_applies("lists", "dev@lists.example"));
    assert_false(relay_verp_applies("lists", "-bounces@lists.example"));
    assert_false(relay_verp_applies("lists", ""));
    assert_false(relay_verp_applies(NULL, "dev-bounces@lists.example"));
}

static void test_round_trip(void **state)
{
    (void)state;
    char v[300], m[300], b[300];
    assert_int_equal(relay_verp_encode("dev-bounces@lists.example", "Ann.X@remote.example",
                                       "+=", v, sizeof(v)), 0);
    assert_string_equal(v, "dev-bounces+Ann.X=remote.example@lists.example");
    assert_int_equal(rewrite_verp_decode(v, "+=", m, sizeof(m), b, sizeof(b)), 0);
    assert_string_equal(m, "Ann.X@remote.example");
    assert_string_equal(b, "dev-bounces@lists.example");

    assert_int_equal(relay_verp_encode("a-b-bounces@l.example", "x+tag@r.example", "-_",
                                       v, sizeof(v)), 0);
    assert_string_equal(v, "a-b-bounces-x+tag_r.example@l.example");
    assert_int_equal(rewrite_verp_decode(v, "-_", m, sizeof(m), b, sizeof(b)), 0);
    assert_string_equal(m, "x+tag@r.example");
    assert_string_equal(b, "a-b-bounces@l.example");
}

static void test_refusals(void **state)
{
    (void)state;
    char v[40], m[300], b[300];
    assert_int_equal(relay_verp_encode("dev-bounces@l.example", "\"a b\"@r.example", "+=",
                                       v, sizeof(v)), -1);
    assert_int_equal(relay_verp_encode("dev-bounces@l.example", "norcptdomain", "+=",
                                       v, sizeof(v)), -1);
    assert_int_equal(relay_verp_encode("dev-bounces@l.example",
                                       "a-very-long-member-name@remote.example", "+=",
                                       v, sizeof(v)), -1);            /* does not fit */
    assert_int_equal(rewrite_verp_decode("dev-bounces@l.example", "+=", m, sizeof(m), b,
                                         sizeof(b)), -1);
    assert_int_equal(rewrite_verp_decode("dev+x=y@l.example", "+=", m, sizeof(m), b,
                                         sizeof(b)), -1);
    assert_int_equal(rewrite_verp_decode("dev-bounces+x@l.example", "+=", m, sizeof(m), b,
                                         sizeof(b)), -1);
    assert_int_equal(rewrite_verp_decode("dev-bounces+=y@l.example", "+=", m, sizeof(m), b,
                                         sizeof(b)), -1);
    assert_int_equal(rewrite_verp_decode("dev-bounces+x=@l.example", "+=", m, sizeof(m), b,
                                         sizeof(b)), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_applies),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
