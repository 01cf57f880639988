/*
 * test_dmarc.c - unit tests for libcommon/dmarc.c: record parsing, the
 * From domain, policy discovery and the organizational domain by the
 * DMARCbis tree walk (psd=, the 7-label jump), alignment, p/sp/np, and
 * DNS failures, against the JSON records resolver.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "dmarc.h"

#define TXT(name, rec) "\"" name "\": [{\"type\":\"TXT\",\"data\":[\"" rec "\"]}]"

static const char *ZONE = "{"
    TXT("_dmarc.example.com", "v=DMARC1; p=reject; sp=quarantine; np=none; adkim=s") ","
    "\"example.com\": [{\"type\":\"A\",\"data\":\"192.0.2.1\"}],"
    "\"sub.example.com\": [{\"type\":\"A\",\"data\":\"192.0.2.2\"}],"
    TXT("_dmarc.strict.example", "v=DMARC1; p=reject; aspf=s") ","
    TXT("_dmarc.example", "v=DMARC1; p=quarantine; psd=y") ","
    TXT("_dmarc.ninelabels.example", "v=DMARC1; p=none") ","
    TXT("_dmarc.c.d.e.f.g.h.i.ninelabels.example", "v=DMARC1; p=reject; psd=n") ","
    TXT("_dmarc.org.psdn.example", "v=DMARC1; p=reject; psd=n") ","
    TXT("_dmarc.psdn.example", "v=DMARC1; p=none") ","
    "\"_dmarc.two.example\": [{\"type\":\"TXT\",\"data\":[\"v=DMARC1; p=reject\"]},"
    "                        {\"type\":\"TXT\",\"data\":[\"v=DMARC1; p=none\"]}],"
    "\"_dmarc.slow.example\": [{\"type\":\"TIMEOUT\"}],"
    TXT("_dmarc.nop.example", "v=DMARC1; rua=mailto:x@nop.example") ","
    TXT("_dmarc.bad.example", "p=reject; v=DMARC1")
    "}";

static dns_resolver *zone(void)
{
    char path[] = "/tmp/test_dmarc_XXXXXX", err[256];
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, ZONE, strlen(ZONE)), (ssize_t)strlen(ZONE));
    close(fd);
    dns_resolver *r = dns_resolver_create_file(path, err, sizeof(err));
    unlink(path);
    if (r == NULL)
        fail_msg("zone: %s", err);
    return r;
}

static void test_record_parse(void **state)
{
    (void)state;
    dmarc_record r;
    const char *t = "v=DMARC1; p=quarantine; sp=reject; np=none; adkim=s; aspf=r; pct=10; psd=y";

    assert_int_equal(dmarc_record_parse(t, strlen(t), &r), 0);
    assert_int_equal(r.p, DMARC_P_QUARANTINE);
    assert_int_equal(r.sp, DMARC_P_REJECT);
    assert_int_equal(r.np, DMARC_P_NONE);
    assert_int_equal(r.adkim, 's');
    assert_int_equal(r.aspf, 'r');
    assert_int_equal(r.psd, 'y');
    t = "v=DMARC1";
    assert_int_equal(dmarc_record_parse(t, strlen(t), &r), 0);
    assert_int_equal(r.p, DMARC_P_NONE);
    assert_int_equal(r.sp, DMARC_P_UNSET);
    assert_int_equal(r.adkim, 'r');
    static const char *const bad[] = { "", "v=DMARC2; p=none", "p=none; v=DMARC1",
                                       "v=spf1 -all", "v=DMARC1; p" };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (dmarc_record_parse(bad[i], strlen(bad[i]), &r) == 0)
            fail_msg("accepted \"%s\"", bad[i]);
    assert_string_equal(dmarc_policy_text(DMARC_P_REJECT), "reject");
    assert_string_equal(dmarc_result_text(DMARC_TEMPERROR), "temperror");
}

static void test_from_domain(void **state)
{
    (void)state;
    static const struct { const char *v; int rc; const char *want; } cases[] = {
        { "a@Example.COM", 0, "example.com" },
        { "Alice <alice@example.com>", 0, "example.com" },
        { "\"Doe, John\" <j@example.org>", 0, "example.org" },
        { "\"a@evil.example\" <a@good.example>", 0, "good.example" },
        { "a@example.com (a@evil.example)", 0, "example.com" },
        { "a@example.com, b@example.com", 0, "example.com" },
        { "a@example.com, b@example.org", -2, NULL },
        { "friends: a@x.example, b@x.example;", 0, "x.example" },
        { "undisclosed-recipients:;", -1, NULL },
        { "no address here", -1, NULL },
        { "<>", -1, NULL },
    };
    char out[256];
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int rc = dmarc_from_domain(cases[i].v, out, sizeof(out));
        if (rc != cases[i].rc)
            fail_msg("%s: rc %d want %d", cases[i].v, rc, cases[i].rc);
        if (rc == 0 && strcmp(out, cases[i].want) != 0)
            fail_msg("%s: got %s want %s", cases[i].v, out, cases[i].want);
    }
}

static void test_org_domain(void **state)
{
    (void)state;
    dns_resolver *r = zone();
    char out[256];
    static const struct { const char *name; const char *want; } cases[] = {
        { "example.com", "example.com" },
        { "mail.sub.example.com", "example.com" },
        /* psd=y at "example": one label below it */
        { "a.b.foo.example", "foo.example" },
        /* psd=n stops the walk at that name */
        { "x.y.org.psdn.example", "org.psdn.example" },
        /* no record anywhere: the name itself */
        { "host.nothing.test", "host.nothing.test" },
        /* 10 labels: the walk jumps to 7, so the 8-label record is never
         * seen; the shortest record (ninelabels.example) wins */
        { "a.b.c.d.e.f.g.h.i.ninelabels.example", "ninelabels.example" },
        /* 8 labels: the first query is the name, then 7 labels */
        { "c.d.e.f.g.h.i.ninelabels.example", "c.d.e.f.g.h.i.ninelabels.example" },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_int_equal(dmarc_org_domain(r, cases[i].name, out, sizeof(out)), 0);
        if (strcmp(out, cases[i].want) != 0)
            fail_msg("%s: got %s want %s", cases[i].name, out, cases[i].want);
    }
    assert_int_equal(dmarc_org_domain(r, "a.slow.example", out, sizeof(out)), -1);
    dns_resolver_free(r);
}

struct check_case {
    const char *from;
    const char *spf_domain;
    int spf_pass;
    const char *dkim_domain;
    int dkim_pass;
    enum dmarc_result want;
    enum dmarc_policy policy;
};

static void test_check(void **state)
{
    (void)state;
    static const struct check_case cases[] = {
        /* SPF aligned, exact and relaxed */
        { "example.com", "example.com", 1, NULL, 0, DMARC_PASS, DMARC_P_REJECT },
        { "example.com", "bounce.example.com", 1, NULL, 0, DMARC_PASS, DMARC_P_REJECT },
        { "example.com", "example.com", 0, NULL, 0, DMARC_FAIL, DMARC_P_REJECT },
        { "example.com", "other.example", 1, NULL, 0, DMARC_FAIL, DMARC_P_REJECT },
        /* adkim=s: a subdomain signature does not align, the exact one does */
        { "example.com", NULL, 0, "sub.example.com", 1, DMARC_FAIL, DMARC_P_REJECT },
        { "example.com", NULL, 0, "EXAMPLE.com", 1, DMARC_PASS, DMARC_P_REJECT },
        { "example.com", NULL, 0, "example.com", 0, DMARC_FAIL, DMARC_P_REJECT },
        /* aspf=s */
        { "strict.example", "mail.strict.example", 1, NULL, 0, DMARC_FAIL, DMARC_P_REJECT },
        /* subdomain that exists: sp; one that does not: np */
        { "sub.example.com", "example.com", 0, NULL, 0, DMARC_FAIL, DMARC_P_QUARANTINE },
        { "ghost.example.com", "example.com", 0, NULL, 0, DMARC_FAIL, DMARC_P_NONE },
        /* relaxed alignment across the tree walk */
        { "sub.example.com", "other.sub.example.com", 1, NULL, 0, DMARC_PASS, DMARC_P_QUARANTINE },
        /* PSD record: policy found at the TLD-like "example" */
        { "shop.psd.example", "shop.psd.example", 0, NULL, 0, DMARC_FAIL, DMARC_P_QUARANTINE },
        /* org domains differ below a psd=y */
        { "a.foo.example", "b.bar.example", 1, NULL, 0, DMARC_FAIL, DMARC_P_QUARANTINE },
        { "a.foo.example", "b.foo.example", 1, NULL, 0, DMARC_PASS, DMARC_P_QUARANTINE },
        /* no record; broken record; p missing */
        { "nothing.test", "nothing.test", 1, NULL, 0, DMARC_NONE, DMARC_P_UNSET },
        /* a broken record counts as none: the walk goes on to "example" */
        { "bad.example", "bad.example", 1, NULL, 0, DMARC_PASS, DMARC_P_QUARANTINE },
        { "nop.example", "nop.example", 0, NULL, 0, DMARC_FAIL, DMARC_P_NONE },
        /* DNS timeout */
        { "slow.example", "slow.example", 1, NULL, 0, DMARC_TEMPERROR, DMARC_P_UNSET },
        /* no usable From domain */
        { "", NULL, 0, NULL, 0, DMARC_PERMERROR, DMARC_P_UNSET },
        { "localhost", NULL, 0, NULL, 0, DMARC_PERMERROR, DMARC_P_UNSET },
    };
    dns_resolver *r = zone();
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct check_case *c = &cases[i];
        dmarc_ident spf = { c->spf_domain, c->spf_pass };
        dmarc_ident dk = { c->dkim_domain, c->dkim_pass };
        dmarc_outcome out;
        assert_int_equal(dmarc_check(r, c->from, &spf, &dk, c->dkim_domain ? 1 : 0, &out), 0);
        if (out.result != c->want || out.policy != c->policy)
            fail_msg("case %zu (%s): got %s/%s want %s/%s (%s)", i, c->from,
                     dmarc_result_text(out.result), dmarc_policy_text(out.policy),
                     dmarc_result_text(c->want), dmarc_policy_text(c->policy), out.reason);
    }
    dns_resolver_free(r);
}

static void test_two_records_at_level(void **state)
{
    (void)state;
    dns_resolver *r = zone();
    dmarc_outcome out;
    dmarc_ident spf = { "two.example", 1 };
    /* two records at _dmarc.two.example count as none there; the walk goes
     * on to _dmarc.example (psd=y), which applies as sp/p */
    assert_int_equal(dmarc_check(r, "two.example", &spf, NULL, 0, &out), 0);
    assert_int_equal(out.result, DMARC_PASS);
    assert_string_equal(out.policy_domain, "example");
    assert_string_equal(out.org_domain, "two.example");
    dns_resolver_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_record_parse),
        cmocka_unit_test(test_from_domain),
        cmocka_unit_test(test_org_domain),
        cmocka_unit_test(test_check),
        cmocka_unit_test(test_two_records_at_level),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
