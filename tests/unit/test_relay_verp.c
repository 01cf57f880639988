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

/* The list's own setting in the relay job payload wins over the global one. */
static void test_wanted(void **state)
{
    (void)state;
    json_t *on = json_pack("{s:b}", "verp", 1), *off = json_pack("{s:b}", "verp", 0);
    json_t *none = json_object(), *junk = json_pack("{s:s}", "verp", "yes");
    assert_true(relay_verp_wanted(0, on));
    assert_false(relay_verp_wanted(1, off));
    assert_true(relay_verp_wanted(1, none));
    assert_false(relay_verp_wanted(0, none));
    assert_false(relay_verp_wanted(0, junk));      /* not a boolean: the default */
    assert_true(relay_verp_wanted(1, NULL));
    json_decref(on);
    json_decref(off);
    json_decref(none);
    json_decref(junk);
}

/* The member handed to lists comes from the to_list event of that list. */
static void test_member_for(void **state)
{
    (void)state;
    rewrite_plan p;
    char m[REWRITE_VERP_ADDR_MAX + 1];
    memset(&p, 0, sizeof(p));
    p.events = json_pack("[{s:s, s:{s:s}}, {s:s, s:{s:s, s:s}}]",
                         "event", "to_list", "detail", "list", "a-bounces@l.example",
                         "event", "to_list", "detail", "list", "dev-bounces@l.example",
                         "via", "dev-bounces+ann=r.example@l.example");
    assert_non_null(p.events);
    assert_int_equal(rewrite_verp_member_for(&p, "dev-bounces@l.example", "+=", m,
                                             sizeof(m)), 0);
    assert_string_equal(m, "ann@r.example");
    assert_int_equal(rewrite_verp_member_for(&p, "a-bounces@l.example", "+=", m, sizeof(m)),
                     -1);                            /* no via */
    assert_int_equal(rewrite_verp_member_for(&p, "x@l.example", "+=", m, sizeof(m)), -1);
    json_decref(p.events);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wanted),
        cmocka_unit_test(test_member_for),
        cmocka_unit_test(test_applies),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
