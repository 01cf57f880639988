/*
 * test_rewrite_dmarc_reply.c - unit tests for the classification of replies
 * to DMARC-encoded From addresses (services/rewrite/rewrite_classify.c with
 * a resolver whose dmarc_seen is in memory): a seen author is an alias to
 * the author and the plan relays to it with an SRS sender; an unseen or
 * undecodable one is unknown (mx: 550 5.1.1); a database error is
 * transient; other addresses in the encode domain classify as usual; the
 * hook is off without an encode domain.
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

typedef struct world {
    int fail;                   /* dmarc_seen answers -1 */
    const char *seen[4];
} world;

static int f_domain(void *arg, const char *d)
{
    (void)arg;
    return strcmp(d, "ours.test") == 0;
}

static int f_alias(void *arg, const char *a, strlist *out)
{
    (void)arg;
    if (strcmp(a, "help@dmarc.ours.test") != 0)
        return 0;
    strlist_add(out, "helpdesk@remote.test");
    return 1;
}

static int f_list(void *arg, const char *a)
{
    (void)arg;
    (void)a;
    return 0;
}

static int f_seen(void *arg, const char *author)
{
    world *w = arg;
    if (w->fail)
        return -1;
    for (size_t i = 0; w->seen[i] != NULL; i++)
        if (strcasecmp(w->seen[i], author) == 0)
            return 1;
    return 0;
}

static const char *const secrets[] = { "s1" };

static void init(rewrite_resolver *r, rewrite_srs_conf *srs, world *w)
{
    memset(r, 0, sizeof(*r));
    memset(srs, 0, sizeof(*srs));
    r->domain_is_ours = f_domain;
    r->alias_get = f_alias;
    r->list_exists = f_list;
    r->arg = w;
    r->dmarc_domain = "dmarc.ours.test";
    r->dmarc_seen = f_seen;
    srs->secrets.secrets = secrets;
    srs->secrets.nsecrets = 1;
    srs->secrets.max_age_days = 21;
    srs->domain = "ours.test";
}

static void test_classify(void **state)
{
    (void)state;
    world w = { .seen = { "alice@author.test", NULL } };
    rewrite_resolver r;
    rewrite_srs_conf srs;
    rewrite_class_result c;
    init(&r, &srs, &w);

    assert_int_equal(rewrite_classify(&r, &srs, "Alice=40Author.test@DMARC.ours.test",
                                      1700000000, &c), REWRITE_OK);
    assert_int_equal(c.cls, REWRITE_ALIAS);
    assert_int_equal(c.targets.n, 1);
    assert_string_equal(c.targets.v[0], "Alice@Author.test");
    rewrite_class_result_release(&c);

    static const char *const unknown[] = { "bob=40author.test@dmarc.ours.test",
                                           "bad=4Gauthor.test@dmarc.ours.test",
                                           "x=40@dmarc.ours.test",
                                           "nobody@dmarc.ours.test" };
    for (size_t i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++) {
        assert_int_equal(rewrite_classify(&r, &srs, unknown[i], 1700000000, &c), REWRITE_OK);
        assert_int_equal(c.cls, REWRITE_UNKNOWN);
        rewrite_class_result_release(&c);
    }
    /* a plain alias in the encode domain still works */
    assert_int_equal(rewrite_classify(&r, &srs, "help@dmarc.ours.test", 1700000000, &c),
                     REWRITE_OK);
    assert_int_equal(c.cls, REWRITE_ALIAS);
    assert_string_equal(c.targets.v[0], "helpdesk@remote.test");
    rewrite_class_result_release(&c);

    w.fail = 1;
    assert_int_equal(rewrite_classify(&r, &srs, "alice=40author.test@dmarc.ours.test",
                                      1700000000, &c), REWRITE_ERR_DB);
    w.fail = 0;

    /* no encode domain: the domain is not ours */
    r.dmarc_domain = NULL;
    assert_int_equal(rewrite_classify(&r, &srs, "alice=40author.test@dmarc.ours.test",
                                      1700000000, &c), REWRITE_OK);
    assert_int_equal(c.cls, REWRITE_FOREIGN);
    rewrite_class_result_release(&c);
}

static void test_plan_relays_with_srs(void **state)
{
    (void)state;
    world w = { .seen = { "alice@author.test", NULL } };
    rewrite_resolver r;
    rewrite_srs_conf srs;
    rewrite_plan_opts o = { .max_depth = 10, .max_targets = 100 };
    rewrite_plan p;
    init(&r, &srs, &w);
    char *rcpts[] = { "alice=40author.test@dmarc.ours.test",
                      "eve=40author.test@dmarc.ours.test" };
    assert_int_equal(rewrite_plan_build(&r, &srs, &o, "member@remote.test", rcpts, 2,
                                        1700000000, &p), REWRITE_OK);
    assert_int_equal(p.nrelays, 1);
    assert_true(strncmp(p.relays[0].mail_from, "SRS0=", 5) == 0);
    assert_non_null(strstr(p.relays[0].mail_from, "@ours.test"));
    assert_int_equal(p.relays[0].rcpts.n, 1);
    assert_string_equal(p.relays[0].rcpts.v[0], "alice@author.test");
    assert_int_equal(p.nbounces, 1);
    assert_string_equal(p.bounces[0].rcpt, "eve=40author.test@dmarc.ours.test");
    rewrite_plan_release(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_classify),
        cmocka_unit_test(test_plan_relays_with_srs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
