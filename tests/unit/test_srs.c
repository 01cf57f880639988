/*
 * test_srs.c - unit tests for libcommon/srs.c (postsrsd-compatible SRS).
 *
 * The expected hashes were computed independently with Python's hmac and
 * base64 modules, not with srs.c:
 *
 *   def h(secret, *parts):
 *       d = ''.join(parts).lower().encode()
 *       mac = hmac.new(secret.encode(), d, hashlib.sha1).digest()
 *       return base64.urlsafe_b64encode(mac).decode()[:4]
 *   b32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
 *   d = (now // 86400) % 1024; tt = b32[d >> 5] + b32[d & 31]
 *
 * with now = 1700000000 (day 19675, 19675 % 1024 = 219 -> "G3").
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "srs.h"

#define NOW ((time_t)1700000000)
#define DAY 86400

static const char *const one_secret[] = { "tops3cret" };
static const char *const two_secrets[] = { "n3wsecret", "tops3cret" };
static const srs_secrets S1 = { one_secret, 1, 0 };
static const srs_secrets S2 = { two_secrets, 2, 0 };

struct fwd_case {
    const char *sender;
    const char *want;
};

static void test_forward_vectors(void **state)
{
    (void)state;
    static const struct fwd_case cases[] = {
        { "alice@example.org", "SRS0=GGBr=G3=example.org=alice@fwd.example" },
        /* case kept in the address, lower-cased in the hash */
        { "Alice.B@Example.ORG", "SRS0=mAPT=G3=Example.ORG=Alice.B@fwd.example" },
        /* hash with a base64url character */
        { "user6@example.org", "SRS0=_1sZ=G3=example.org=user6@fwd.example" },
        /* foreign SRS0 -> SRS1: h(secret, "fwd1.example", "=abcd=G3=orig.example=bob") */
        { "SRS0=abcd=G3=orig.example=bob@fwd1.example",
          "SRS1=OM49=fwd1.example==abcd=G3=orig.example=bob@fwd.example" },
        /* our own domain and the null sender are unchanged */
        { "bob@FWD.example", "bob@FWD.example" },
        { "", "" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char out[256];
        assert_int_equal(srs_forward(&S1, cases[i].sender, "fwd.example", NOW, out, sizeof out),
                         SRS_OK);
        assert_string_equal(out, cases[i].want);
    }
}

static void test_forward_errors(void **state)
{
    (void)state;
    char out[256];
    assert_int_equal(srs_forward(&S1, "no-at-sign", "fwd.example", NOW, out, sizeof out),
                     SRS_SYNTAX);
    assert_int_equal(srs_forward(&S1, "a@", "fwd.example", NOW, out, sizeof out), SRS_SYNTAX);
    assert_int_equal(srs_forward(&S1, "alice@example.org", "fwd.example", NOW, out, 20),
                     SRS_NOSPACE);
    srs_secrets none = { NULL, 0, 0 };
    assert_int_equal(srs_forward(&none, "alice@example.org", "fwd.example", NOW, out, sizeof out),
                     SRS_SYNTAX);
}

struct rev_case {
    const char *addr;
    time_t now;
    enum srs_result want;
    const char *orig;
};

static void test_reverse_vectors(void **state)
{
    (void)state;
    static const struct rev_case cases[] = {
        { "SRS0=GGBr=G3=example.org=alice@fwd.example", NOW, SRS_OK, "alice@example.org" },
        /* case-insensitive: the whole address upper-cased */
        { "SRS0=GGBR=G3=EXAMPLE.ORG=ALICE@FWD.EXAMPLE", NOW, SRS_OK, "ALICE@EXAMPLE.ORG" },
        { "srs0=ggbr=g3=example.org=alice@fwd.example", NOW, SRS_OK, "alice@example.org" },
        /* '_' and '/' are the same hash character */
        { "SRS0=_1sZ=G3=example.org=user6@fwd.example", NOW, SRS_OK, "user6@example.org" },
        { "SRS0=/1sZ=G3=example.org=user6@fwd.example", NOW, SRS_OK, "user6@example.org" },
        /* the tag separator may be '+' or '-' as in libsrs2 */
        { "SRS0+GGBr=G3=example.org=alice@fwd.example", NOW, SRS_OK, "alice@example.org" },
        /* forged: one character changed, or another local part */
        { "SRS0=GGBs=G3=example.org=alice@fwd.example", NOW, SRS_BAD_HASH, NULL },
        { "SRS0=GGBr=G3=example.org=mallory@fwd.example", NOW, SRS_BAD_HASH, NULL },
        { "SRS0=GGB=G3=example.org=alice@fwd.example", NOW, SRS_BAD_HASH, NULL },
        /* age: made 1 day ago is fine, 21 days is the limit, 22 is expired
         * (GG/UY1K and GF/HyXW computed with the same Python) */
        { "SRS0=GGBr=G3=example.org=alice@fwd.example", NOW + DAY, SRS_OK, "alice@example.org" },
        { "SRS0=UY1K=GG=example.org=alice@fwd.example", NOW, SRS_OK, "alice@example.org" },
        { "SRS0=HyXW=GF=example.org=alice@fwd.example", NOW, SRS_EXPIRED, NULL },
        { "SRS0=GGBr=G3=example.org=alice@fwd.example", NOW + 22 * DAY, SRS_EXPIRED, NULL },
        /* SRS1 gives back the previous hop's SRS0 address */
        { "SRS1=OM49=fwd1.example==abcd=G3=orig.example=bob@fwd.example", NOW, SRS_OK,
          "SRS0=abcd=G3=orig.example=bob@fwd1.example" },
        { "SRS1=om49=FWD1.example==abcd=G3=orig.example=bob@fwd.example", NOW, SRS_OK,
          "SRS0=abcd=G3=orig.example=bob@FWD1.example" },
        { "SRS1=OM4A=fwd1.example==abcd=G3=orig.example=bob@fwd.example", NOW, SRS_BAD_HASH,
          NULL },
        /* not SRS, or malformed */
        { "alice@example.org", NOW, SRS_NOT_SRS, NULL },
        { "SRS2=GGBr=G3=example.org=alice@fwd.example", NOW, SRS_NOT_SRS, NULL },
        { "SRS0=GGBr@fwd.example", NOW, SRS_SYNTAX, NULL },
        { "SRS0=GGBr=G31=example.org=alice@fwd.example", NOW, SRS_SYNTAX, NULL },
        { "SRS0=GGBr=G1=example.org=alice@fwd.example", NOW, SRS_SYNTAX, NULL },
        { "SRS0=GGBr=G3=example.org@fwd.example", NOW, SRS_SYNTAX, NULL },
        { "SRS0=GGBr=G3=example.org=@fwd.example", NOW, SRS_SYNTAX, NULL },
        { "SRS1=OM49=fwd1.example@fwd.example", NOW, SRS_SYNTAX, NULL },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char out[256] = "untouched";
        enum srs_result r = srs_reverse(&S1, cases[i].addr, cases[i].now, out, sizeof out);
        if (r != cases[i].want)
            fail_msg("case %zu (%s): got %s, want %s", i, cases[i].addr, srs_result_text(r),
                     srs_result_text(cases[i].want));
        if (cases[i].orig != NULL)
            assert_string_equal(out, cases[i].orig);
    }
}

static void test_multiple_secrets(void **state)
{
    (void)state;
    char out[256];
    /* signed by the old secret (now second in the list): still verifies */
    assert_int_equal(srs_reverse(&S2, "SRS0=GGBr=G3=example.org=alice@fwd.example", NOW,
                                 out, sizeof out), SRS_OK);
    assert_string_equal(out, "alice@example.org");
    /* h('0ldsecret', 'G3', 'example.org', 'alice') = xbqN: not in either list */
    assert_int_equal(srs_reverse(&S2, "SRS0=xbqN=G3=example.org=alice@fwd.example", NOW,
                                 out, sizeof out), SRS_BAD_HASH);
    /* the first secret signs: the result differs from S1's and verifies */
    assert_int_equal(srs_forward(&S2, "alice@example.org", "fwd.example", NOW, out, sizeof out),
                     SRS_OK);
    assert_string_not_equal(out, "SRS0=GGBr=G3=example.org=alice@fwd.example");
    char back[256];
    assert_int_equal(srs_reverse(&S2, out, NOW, back, sizeof back), SRS_OK);
    assert_string_equal(back, "alice@example.org");
    /* ...but not with only the old secret */
    assert_int_equal(srs_reverse(&S1, out, NOW, back, sizeof back), SRS_BAD_HASH);
}

static void test_max_age_setting(void **state)
{
    (void)state;
    char out[256];
    srs_secrets s = { one_secret, 1, 30 };
    assert_int_equal(srs_reverse(&s, "SRS0=GGBr=G3=example.org=alice@fwd.example",
                                 NOW + 25 * DAY, out, sizeof out), SRS_OK);
    s.max_age_days = 3;
    assert_int_equal(srs_reverse(&s, "SRS0=GGBr=G3=example.org=alice@fwd.example",
                                 NOW + 4 * DAY, out, sizeof out), SRS_EXPIRED);
}

static void test_round_trip_and_nospace(void **state)
{
    (void)state;
    static const char *const senders[] = {
        "a@b.example", "first.last+tag@sub.example.co.uk", "\"quoted user\"@example.net",
        "x=y=z@example.org",
    };
    for (size_t i = 0; i < sizeof senders / sizeof senders[0]; i++) {
        char fwd[256], back[256];
        assert_int_equal(srs_forward(&S1, senders[i], "fwd.example", NOW, fwd, sizeof fwd),
                         SRS_OK);
        assert_true(srs_is_srs(fwd));
        assert_int_equal(srs_reverse(&S1, fwd, NOW + 3 * DAY, back, sizeof back), SRS_OK);
        assert_string_equal(back, senders[i]);
        assert_int_equal(srs_reverse(&S1, fwd, NOW, back, 5), SRS_NOSPACE);
    }
    assert_false(srs_is_srs("SRS0"));
    assert_false(srs_is_srs("srs0x=a"));
    assert_true(srs_is_srs("srs1=a"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_forward_vectors),
        cmocka_unit_test(test_forward_errors),
        cmocka_unit_test(test_reverse_vectors),
        cmocka_unit_test(test_multiple_secrets),
        cmocka_unit_test(test_max_age_setting),
        cmocka_unit_test(test_round_trip_and_nospace),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
