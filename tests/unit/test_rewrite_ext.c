/*
 * test_rewrite_ext.c - unit tests for rewrite's recipient matching beyond
 * exact keys: "+extension" stripping (rewrite_addr.c), user+tag@ matching
 * the alias or list user@, postmaster@/abuse@ defaults, per-domain
 * catch-alls "@domain" used only when nothing else matches, and how the
 * plan expands them (loops through a catch-all, lists reached with an
 * extension). In-memory resolver; no database.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "../../services/rewrite/strlist.c"
#include "../../services/rewrite/rewrite_addr.c"
#include "../../services/rewrite/rewrite_classify.c"
#include "../../services/rewrite/rewrite_plan.c"

typedef struct fake_alias {
    const char *addr;
    const char *targets[4];
} fake_alias;

static const char *const domains[] = { "ours.test", "ca.test", "loop.test", NULL };
static const char *const lists[] = { "dev@ours.test", NULL };
static const fake_alias aliases[] = {
    { "user@ours.test",      { "u@remote.test", NULL } },
    { "user+exact@ours.test", { "exact@remote.test", NULL } },
    { "abuse@ours.test",     { "abuse-desk@remote.test", NULL } },
    { "known@ca.test",       { "k@remote.test", NULL } },
    { "@ca.test",            { "catch@remote.test", NULL } },
    { "@loop.test",          { "other@loop.test", NULL } },
    { NULL, { NULL } },
};

static int f_domain(void *arg, const char *d)
{
    (void)arg;
    for (size_t i = 0; domains[i]; i++)
        if (strcmp(domains[i], d) == 0)
            return 1;
    return 0;
}

static int f_alias(void *arg, const char *a, strlist *out)
{
    (void)arg;
    for (size_t i = 0; aliases[i].addr; i++) {
        if (strcmp(aliases[i].addr, a) != 0)
            continue;
        for (size_t j = 0; aliases[i].targets[j]; j++)
            strlist_add(out, aliases[i].targets[j]);
        return 1;
    }
    return 0;
}

static int f_list(void *arg, const char *a)
{
    (void)arg;
    for (size_t i = 0; lists[i]; i++)
        if (strcmp(lists[i], a) == 0)
            return 1;
    return 0;
}

static const char *const secrets[] = { "s1" };

typedef struct fx {
    rewrite_resolver  r;
    rewrite_srs_conf  srs;
    rewrite_plan_opts o;
} fx;

static void fx_init(fx *f, const char *delims, const char *postmaster)
{
    memset(f, 0, sizeof(*f));
    f->r.domain_is_ours = f_domain;
    f->r.alias_get = f_alias;
    f->r.list_exists = f_list;
    f->r.delimiters = delims;
    f->r.postmaster = postmaster;
    f->srs.secrets.secrets = secrets;
    f->srs.secrets.nsecrets = 1;
    f->srs.secrets.max_age_days = 21;
    f->o.max_depth = 10;
    f->o.max_targets = 100;
}

/* Classifies addr; returns the class, copies matched (or "") into m. */
static enum rewrite_class cls(fx *f, const char *addr, char *m, size_t mlen)
{
    rewrite_class_result res;
    assert_int_equal(rewrite_classify(&f->r, &f->srs, addr, 1700000000, &res), REWRITE_OK);
    enum rewrite_class c = res.cls;
    snprintf(m, mlen, "%s", res.matched ? res.matched : "");
    rewrite_class_result_release(&res);
    return c;
}

static void test_strip_extension(void **state)
{
    (void)state;
    static const struct { const char *in, *delims; int rc; const char *out; } t[] = {
        { "user+tag@d.test",     "+",  1, "user@d.test" },
        { "user+a+b@d.test",     "+",  1, "user@d.test" },
        { "user-tag@d.test",     "+-", 1, "user@d.test" },
        { "user@d.test",         "+",  0, NULL },
        { "+tag@d.test",         "+",  0, NULL },
        { "user+tag@d.test",     "",   0, NULL },
        { "user+tag@d.test",     NULL, 0, NULL },
        { "user@d+x.test",       "+",  0, NULL },    /* '+' in the domain */
        { "postmaster",          "+",  0, NULL },
    };
    char out[64];
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        assert_int_equal(rewrite_addr_strip_extension(t[i].in, t[i].delims, out,
                                                      sizeof(out)), t[i].rc);
        if (t[i].rc == 1)
            assert_string_equal(out, t[i].out);
    }
    char small[6];
    assert_int_equal(rewrite_addr_strip_extension("user+x@d.test", "+", small,
                                                  sizeof(small)), -1);
    assert_int_equal(rewrite_addr_is_catchall("@d.test"), 1);
    assert_int_equal(rewrite_addr_is_catchall("@"), 0);
    assert_int_equal(rewrite_addr_is_catchall("a@d.test"), 0);
}

static void test_extension_matches(void **state)
{
    (void)state;
    fx f;
    char m[300];
    fx_init(&f, "+", NULL);
    assert_int_equal(cls(&f, "User+Tag@Ours.Test", m, sizeof(m)), REWRITE_ALIAS);
    assert_string_equal(m, "user@ours.test");
    /* an exact key wins over the stripped one */
    assert_int_equal(cls(&f, "user+exact@ours.test", m, sizeof(m)), REWRITE_ALIAS);
    assert_string_equal(m, "user+exact@ours.test");
    assert_int_equal(cls(&f, "dev+news@ours.test", m, sizeof(m)), REWRITE_LIST);
    assert_string_equal(m, "dev@ours.test");
    assert_int_equal(cls(&f, "nobody+x@ours.test", m, sizeof(m)), REWRITE_UNKNOWN);
    /* disabled */
    fx_init(&f, NULL, NULL);
    assert_int_equal(cls(&f, "user+tag@ours.test", m, sizeof(m)), REWRITE_UNKNOWN);
    fx_init(&f, "-", NULL);
    assert_int_equal(cls(&f, "user+tag@ours.test", m, sizeof(m)), REWRITE_UNKNOWN);
    assert_int_equal(cls(&f, "user-tag@ours.test", m, sizeof(m)), REWRITE_ALIAS);
}

static void test_postmaster_and_abuse(void **state)
{
    (void)state;
    fx f;
    char m[300];
    fx_init(&f, "+", "ops@remote.test");
    rewrite_class_result res;
    assert_int_equal(rewrite_classify(&f.r, &f.srs, "PostMaster@ca.test", 1700000000, &res),
                     REWRITE_OK);
    assert_int_equal(res.cls, REWRITE_ALIAS);
    assert_int_equal(res.targets.n, 1);
    assert_string_equal(res.targets.v[0], "ops@remote.test");
    rewrite_class_result_release(&res);
    /* an explicit alias wins */
    assert_int_equal(rewrite_classify(&f.r, &f.srs, "abuse@ours.test", 1700000000, &res),
                     REWRITE_OK);
    assert_string_equal(res.targets.v[0], "abuse-desk@remote.test");
    rewrite_class_result_release(&res);
    assert_int_equal(cls(&f, "abuse@loop.test", m, sizeof(m)), REWRITE_ALIAS);
    assert_string_equal(m, "abuse@loop.test");
    assert_int_equal(cls(&f, "postmaster+x@ours.test", m, sizeof(m)), REWRITE_ALIAS);
    /* RFC 5321 4.5.1: the bare "Postmaster" */
    assert_int_equal(cls(&f, "Postmaster", m, sizeof(m)), REWRITE_ALIAS);
    /* foreign postmasters are not ours */
    assert_int_equal(cls(&f, "postmaster@remote.test", m, sizeof(m)), REWRITE_FOREIGN);
    /* without MAILYARD_REWRITE_POSTMASTER they are unknown */
    fx_init(&f, "+", NULL);
    assert_int_equal(cls(&f, "postmaster@ours.test", m, sizeof(m)), REWRITE_UNKNOWN);
    assert_int_equal(cls(&f, "Postmaster", m, sizeof(m)), REWRITE_UNKNOWN);
}

static void test_catchall_last(void **state)
{
    (void)state;
    fx f;
    char m[300];
    fx_init(&f, "+", "ops@remote.test");
    assert_int_equal(cls(&f, "anything@ca.test", m, sizeof(m)), REWRITE_ALIAS);
    assert_string_equal(m, "@ca.test");
    assert_int_equal(cls(&f, "known@ca.test", m, sizeof(m)), REWRITE_ALIAS);
    assert_string_equal(m, "known@ca.test");
    assert_int_equal(cls(&f, "known+x@ca.test", m, sizeof(m)), REWRITE_ALIAS);
    assert_string_equal(m, "known@ca.test");
    /* postmaster comes before the catch-all */
    assert_int_equal(cls(&f, "postmaster@ca.test", m, sizeof(m)), REWRITE_ALIAS);
    assert_string_equal(m, "postmaster@ca.test");
    /* no catch-all in ours.test */
    assert_int_equal(cls(&f, "anything@ours.test", m, sizeof(m)), REWRITE_UNKNOWN);
}

static void test_plan_with_matches(void **state)
{
    (void)state;
    fx f;
    rewrite_plan p;
    fx_init(&f, "+", "ops@remote.test");
    const char *rcpts[] = { "user+a@ours.test", "user+b@ours.test", "dev+x@ours.test",
                            "who@ca.test", "who@loop.test", "postmaster", NULL };
    assert_int_equal(rewrite_plan_build(&f.r, &f.srs, &f.o, "s@src.test",
                                        (char *const *)rcpts, 6, 1700000000, &p),
                     REWRITE_OK);
    /* the list job goes to the list itself */
    assert_int_equal(p.lists.n, 1);
    assert_string_equal(p.lists.v[0], "dev@ours.test");
    /* user+a and user+b reach u@remote.test once */
    size_t relayed = 0;
    for (size_t i = 0; i < p.nrelays; i++)
        relayed += p.relays[i].rcpts.n;
    assert_int_equal(strlist_find(&p.relayed, "u@remote.test") >= 0, 1);
    assert_int_equal(strlist_find(&p.relayed, "catch@remote.test") >= 0, 1);
    assert_int_equal(strlist_find(&p.relayed, "ops@remote.test") >= 0, 1);
    assert_int_equal(relayed, 3);
    /* @loop.test -> other@loop.test -> @loop.test is a loop: bounced */
    assert_int_equal(p.nbounces, 1);
    assert_string_equal(p.bounces[0].rcpt, "who@loop.test");
    assert_string_equal(p.bounces[0].status, "5.4.6");
    rewrite_plan_release(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_strip_extension),
        cmocka_unit_test(test_extension_matches),
        cmocka_unit_test(test_postmaster_and_abuse),
        cmocka_unit_test(test_catchall_last),
        cmocka_unit_test(test_plan_with_matches),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
