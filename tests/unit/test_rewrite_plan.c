/*
 * test_rewrite_plan.c - unit tests for rewrite's pure decision logic:
 * recipient classification (rewrite_classify.c) and the per-message plan
 * with alias expansion, loop detection, SRS and relay grouping
 * (rewrite_plan.c). The lookups are an in-memory resolver; no database,
 * no lists service. SRS is libcommon's real srs.c.
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

/* ---- the fake world ---- */

typedef struct fake_alias {
    const char *addr;
    const char *targets[16];   /* NULL-terminated */
} fake_alias;

typedef struct fake_world {
    const char *const *domains;
    const fake_alias  *aliases;
    const char *const *lists;
    int                db_fail;
    int                lists_fail;
    int                list_calls;
} fake_world;

static const char *const world_domains[] = { "ours.test", "other.test", NULL };
static const char *const world_lists[] = { "list@ours.test", "news@other.test", NULL };
static const fake_alias world_aliases[] = {
    { "fwd@ours.test",    { "Someone@Far.Test", NULL } },
    { "team@ours.test",   { "b@ours.test", "list@ours.test", "nobody@ours.test",
                            "x@remote.test", NULL } },
    { "b@ours.test",      { "y@remote.test", "x@remote.test", NULL } },
    { "loop1@ours.test",  { "loop2@ours.test", "r@remote.test", NULL } },
    { "loop2@ours.test",  { "loop1@ours.test", NULL } },
    { "p1@ours.test",     { "p2@ours.test", NULL } },
    { "p2@ours.test",     { "p1@ours.test", NULL } },
    { "self@ours.test",   { "self@ours.test", NULL } },
    { "d@ours.test",      { "e@ours.test", "f@ours.test", NULL } },
    { "e@ours.test",      { "g@remote.test", NULL } },
    { "f@ours.test",      { "g@remote.test", NULL } },
    { "c0@ours.test",     { "c1@ours.test", NULL } },
    { "c1@ours.test",     { "c2@ours.test", NULL } },
    { "c2@ours.test",     { "c3@ours.test", NULL } },
    { "c3@ours.test",     { "c4@ours.test", NULL } },
    { "c4@ours.test",     { "c5@ours.test", NULL } },
    { "c5@ours.test",     { "c6@ours.test", NULL } },
    { "c6@ours.test",     { "c7@ours.test", NULL } },
    { "c7@ours.test",     { "c8@ours.test", NULL } },
    { "c8@ours.test",     { "c9@ours.test", NULL } },
    { "c9@ours.test",     { "c10@ours.test", NULL } },
    { "c10@ours.test",    { "z@remote.test", NULL } },
    { "many@ours.test",   { "m1@remote.test", "m2@remote.test", "m3@remote.test",
                            "m4@remote.test", NULL } },
    { "bad@ours.test",    { "not an address", "ok@remote.test", NULL } },
    { "tolist@other.test", { "news@other.test", NULL } },
    { NULL, { NULL } },
};

static int fake_domain(void *arg, const char *domain)
{
    fake_world *w = arg;
    if (w->db_fail)
        return -1;
    for (size_t i = 0; w->domains[i]; i++)
        if (strcmp(w->domains[i], domain) == 0)
            return 1;
    return 0;
}

static int fake_alias_get(void *arg, const char *addr, strlist *out)
{
    fake_world *w = arg;
    if (w->db_fail)
        return -1;
    for (size_t i = 0; w->aliases[i].addr; i++) {
        if (strcmp(w->aliases[i].addr, addr) != 0)
            continue;
        for (size_t j = 0; w->aliases[i].targets[j]; j++)
            strlist_add(out, w->aliases[i].targets[j]);
        return 1;
    }
    return 0;
}

static int fake_list(void *arg, const char *addr)
{
    fake_world *w = arg;
    w->list_calls++;
    if (w->lists_fail)
        return -1;
    for (size_t i = 0; w->lists[i]; i++)
        if (strcmp(w->lists[i], addr) == 0)
            return 1;
    return 0;
}

typedef struct fixture {
    fake_world        w;
    rewrite_resolver  r;
    rewrite_srs_conf  srs;
    rewrite_plan_opts o;
    rewrite_plan      p;
    time_t            now;
} fixture;

static const char *const secrets[] = { "first-secret", "old-secret" };

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    f->w.domains = world_domains;
    f->w.aliases = world_aliases;
    f->w.lists = world_lists;
    f->r.domain_is_ours = fake_domain;
    f->r.alias_get = fake_alias_get;
    f->r.list_exists = fake_list;
    f->r.arg = &f->w;
    f->srs.secrets.secrets = secrets;
    f->srs.secrets.nsecrets = 2;
    f->srs.secrets.max_age_days = 21;
    f->srs.domain = NULL;
    f->o.max_depth = 10;
    f->o.max_targets = 1000;
    f->now = 1700000000;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    rewrite_plan_release(&f->p);
    free(f);
    return 0;
}

static enum rewrite_err build(fixture *f, const char *mail_from, const char **rcpts)
{
    size_t n = 0;
    while (rcpts[n])
        n++;
    rewrite_plan_release(&f->p);
    return rewrite_plan_build(&f->r, &f->srs, &f->o, mail_from, (char *const *)rcpts,
                              n, f->now, &f->p);
}

/* Number of events named name. */
static size_t count_events(const rewrite_plan *p, const char *name)
{
    size_t i, n = 0;
    json_t *e;
    json_array_foreach(p->events, i, e)
        if (strcmp(json_string_value(json_object_get(e, "event")), name) == 0)
            n++;
    return n;
}

static json_t *find_event(const rewrite_plan *p, const char *name, const char *rcpt)
{
    size_t i;
    json_t *e;
    json_array_foreach(p->events, i, e) {
        json_t *d = json_object_get(e, "detail");
        if (strcmp(json_string_value(json_object_get(e, "event")), name) == 0 &&
            (rcpt == NULL || strcmp(json_string_value(json_object_get(d, "rcpt")), rcpt) == 0))
            return d;
    }
    return NULL;
}

static const rewrite_bounce *find_bounce(const rewrite_plan *p, const char *rcpt)
{
    for (size_t i = 0; i < p->nbounces; i++)
        if (strcmp(p->bounces[i].rcpt, rcpt) == 0)
            return &p->bounces[i];
    return NULL;
}

static void assert_group(const rewrite_plan *p, const char *mail_from,
                         const char **rcpts)
{
    const rewrite_relay_group *g = rewrite_plan_group(p, mail_from);
    assert_non_null(g);
    size_t n = 0;
    for (; rcpts[n]; n++)
        assert_int_equal(strlist_find(&g->rcpts, rcpts[n]) >= 0, 1);
    assert_int_equal(g->rcpts.n, n);
}

/* ---- classification ---- */

static void test_classify_basic(void **state)
{
    fixture *f = *state;
    rewrite_class_result c;
    static const struct { const char *addr; enum rewrite_class cls; } cases[] = {
        { "x@elsewhere.test",  REWRITE_FOREIGN },
        { "fwd@ours.test",     REWRITE_ALIAS },
        { "list@ours.test",    REWRITE_LIST },
        { "news@other.test",   REWRITE_LIST },
        { "nobody@ours.test",  REWRITE_UNKNOWN },
        { "SRS0=xxxx=AB=far.test=u@ours.test", REWRITE_SRS_INVALID },
        { "srs0@ours.test",    REWRITE_UNKNOWN },      /* no separator: not SRS */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_int_equal(rewrite_classify(&f->r, &f->srs, cases[i].addr, f->now, &c),
                         REWRITE_OK);
        assert_string_equal(rewrite_class_name(c.cls), rewrite_class_name(cases[i].cls));
        if (c.cls == REWRITE_ALIAS) {
            assert_int_equal(c.targets.n, 1);
            assert_string_equal(c.targets.v[0], "Someone@Far.Test");
        }
        rewrite_class_result_release(&c);
    }
}

static void test_classify_foreign_skips_lists(void **state)
{
    fixture *f = *state;
    rewrite_class_result c;
    f->w.lists_fail = 1;
    assert_int_equal(rewrite_classify(&f->r, &f->srs, "a@far.test", f->now, &c), REWRITE_OK);
    assert_int_equal(c.cls, REWRITE_FOREIGN);
    assert_int_equal(f->w.list_calls, 0);
    /* an alias is found before lists is asked */
    assert_int_equal(rewrite_classify(&f->r, &f->srs, "fwd@ours.test", f->now, &c),
                     REWRITE_OK);
    assert_int_equal(c.cls, REWRITE_ALIAS);
    rewrite_class_result_release(&c);
    assert_int_equal(f->w.list_calls, 0);
    assert_int_equal(rewrite_classify(&f->r, &f->srs, "who@ours.test", f->now, &c),
                     REWRITE_ERR_LISTS);
    f->w.db_fail = 1;
    assert_int_equal(rewrite_classify(&f->r, &f->srs, "a@far.test", f->now, &c),
                     REWRITE_ERR_DB);
}

static void test_classify_srs_domain(void **state)
{
    fixture *f = *state;
    rewrite_class_result c;
    char srs[512];
    f->srs.domain = "bounces.ours.test";     /* not in the domains table */
    assert_int_equal(srs_forward(&f->srs.secrets, "Orig@Far.Test", f->srs.domain,
                                 f->now, srs, sizeof(srs)), SRS_OK);
    rewrite_addr_lower(srs);
    assert_int_equal(rewrite_classify(&f->r, &f->srs, srs, f->now, &c), REWRITE_OK);
    assert_int_equal(c.cls, REWRITE_SRS);
    assert_string_equal(c.original, "orig@far.test");
    rewrite_class_result_release(&c);
    /* given as written, the original comes back as written */
    assert_int_equal(srs_forward(&f->srs.secrets, "Orig@Far.Test", f->srs.domain,
                                 f->now, srs, sizeof(srs)), SRS_OK);
    assert_int_equal(rewrite_classify(&f->r, &f->srs, srs, f->now, &c), REWRITE_OK);
    assert_int_equal(c.cls, REWRITE_SRS);
    assert_string_equal(c.original, "Orig@Far.Test");
    rewrite_class_result_release(&c);

    /* an SRS-looking address in another of our domains is not ours to reverse */
    assert_int_equal(rewrite_classify(&f->r, &f->srs, "SRS0=abcd=AB=far.test=u@ours.test",
                                      f->now, &c), REWRITE_OK);
    assert_int_equal(c.cls, REWRITE_UNKNOWN);
    /* a plain address in the SRS domain is ours, but unknown */
    assert_int_equal(rewrite_classify(&f->r, &f->srs, "postmaster@bounces.ours.test",
                                      f->now, &c), REWRITE_OK);
    assert_int_equal(c.cls, REWRITE_UNKNOWN);

    /* expired: forged 30 days ago */
    assert_int_equal(srs_forward(&f->srs.secrets, "orig@far.test", f->srs.domain,
                                 f->now - 30 * 86400, srs, sizeof(srs)), SRS_OK);
    assert_int_equal(rewrite_classify(&f->r, &f->srs, srs, f->now, &c), REWRITE_OK);
    assert_int_equal(c.cls, REWRITE_SRS_INVALID);
    assert_non_null(c.why);
    /* signed with the old secret: still valid */
    static const char *const old[] = { "old-secret" };
    srs_secrets olds = { old, 1, 21 };
    assert_int_equal(srs_forward(&olds, "orig@far.test", f->srs.domain, f->now, srs,
                                 sizeof(srs)), SRS_OK);
    assert_int_equal(rewrite_classify(&f->r, &f->srs, srs, f->now, &c), REWRITE_OK);
    assert_int_equal(c.cls, REWRITE_SRS);
    rewrite_class_result_release(&c);
    /* signed with an unknown secret: forged */
    static const char *const other[] = { "someone-else" };
    srs_secrets others = { other, 1, 21 };
    assert_int_equal(srs_forward(&others, "orig@far.test", f->srs.domain, f->now, srs,
                                 sizeof(srs)), SRS_OK);
    assert_int_equal(rewrite_classify(&f->r, &f->srs, srs, f->now, &c), REWRITE_OK);
    assert_int_equal(c.cls, REWRITE_SRS_INVALID);
}

/* ---- plans ---- */

static void test_plan_foreign_as_is(void **state)
{
    fixture *f = *state;
    const char *rcpts[] = { "a@far.test", "B@Far.Test", NULL };
    assert_int_equal(build(f, "sender@src.test", rcpts), REWRITE_OK);
    assert_int_equal(f->p.nrelays, 1);
    /* relayed as written: a foreign local part may be case-sensitive */
    assert_group(&f->p, "sender@src.test", (const char *[]){ "a@far.test", "B@Far.Test", NULL });
    assert_int_equal(count_events(&f->p, "foreign"), 2);
    assert_int_equal(f->p.nbounces, 0);
}

static void test_plan_alias_srs_sender(void **state)
{
    fixture *f = *state;
    const char *rcpts[] = { "FWD@ours.test", NULL };
    assert_int_equal(build(f, "alice@src.test", rcpts), REWRITE_OK);
    assert_int_equal(f->p.nrelays, 1);
    const rewrite_relay_group *g = &f->p.relays[0];
    assert_int_equal(strncmp(g->mail_from, "SRS0=", 5), 0);
    size_t len = strlen(g->mail_from);
    assert_true(len > 10);
    assert_string_equal(g->mail_from + len - strlen("@ours.test"), "@ours.test");
    assert_int_equal(g->rcpts.n, 1);
    assert_string_equal(g->rcpts.v[0], "Someone@Far.Test");
    /* the SRS sender reverses to the original sender */
    char orig[512];
    assert_int_equal(srs_reverse(&f->srs.secrets, g->mail_from, f->now, orig,
                                 sizeof(orig)), SRS_OK);
    assert_string_equal(orig, "alice@src.test");
    json_t *d = find_event(&f->p, "rewritten", "fwd@ours.test");
    assert_non_null(d);
    assert_string_equal(json_string_value(json_object_get(d, "mail_from")), g->mail_from);
    assert_int_equal(json_array_size(json_object_get(d, "targets")), 1);
}

static void test_plan_srs_domain_configured(void **state)
{
    fixture *f = *state;
    f->srs.domain = "bounces.ours.test";
    const char *rcpts[] = { "fwd@ours.test", NULL };
    assert_int_equal(build(f, "alice@src.test", rcpts), REWRITE_OK);
    const char *s = f->p.relays[0].mail_from;
    assert_string_equal(s + strlen(s) - strlen("@bounces.ours.test"), "@bounces.ours.test");
    /* a sender already in the SRS domain stays as it is */
    assert_int_equal(build(f, "SRS0=abcd=AB=x.test=y@bounces.ours.test", rcpts), REWRITE_OK);
    assert_string_equal(f->p.relays[0].mail_from, "SRS0=abcd=AB=x.test=y@bounces.ours.test");
}

static void test_plan_null_sender_alias(void **state)
{
    fixture *f = *state;
    const char *rcpts[] = { "fwd@ours.test", NULL };
    assert_int_equal(build(f, "", rcpts), REWRITE_OK);
    assert_int_equal(f->p.nrelays, 1);
    assert_string_equal(f->p.relays[0].mail_from, "");
}

static void test_plan_nested(void **state)
{
    fixture *f = *state;
    const char *rcpts[] = { "team@ours.test", NULL };
    assert_int_equal(build(f, "s@src.test", rcpts), REWRITE_OK);
    assert_int_equal(f->p.nrelays, 1);
    assert_group(&f->p, f->p.relays[0].mail_from,
                 (const char *[]){ "x@remote.test", "y@remote.test", NULL });
    assert_int_equal(f->p.lists.n, 1);
    assert_string_equal(f->p.lists.v[0], "list@ours.test");
    assert_int_equal(f->p.nbounces, 1);
    assert_string_equal(f->p.bounces[0].rcpt, "nobody@ours.test");
    assert_string_equal(f->p.bounces[0].status, "5.1.1");
    json_t *d = find_event(&f->p, "unknown_recipient", "nobody@ours.test");
    assert_non_null(d);
    assert_string_equal(json_string_value(json_object_get(d, "via")), "team@ours.test");
    assert_int_equal(count_events(&f->p, "to_list"), 1);
    assert_int_equal(count_events(&f->p, "alias_loop"), 0);
}

static void test_plan_loop_branch_dropped(void **state)
{
    fixture *f = *state;
    const char *rcpts[] = { "loop1@ours.test", NULL };
    assert_int_equal(build(f, "s@src.test", rcpts), REWRITE_OK);
    assert_int_equal(f->p.nrelays, 1);
    assert_int_equal(f->p.relays[0].rcpts.n, 1);
    assert_string_equal(f->p.relays[0].rcpts.v[0], "r@remote.test");
    json_t *d = find_event(&f->p, "alias_loop", "loop1@ours.test");
    assert_non_null(d);
    assert_string_equal(json_string_value(json_object_get(d, "alias")), "loop2@ours.test");
    assert_string_equal(json_string_value(json_object_get(d, "target")), "loop1@ours.test");
    assert_string_equal(json_string_value(json_object_get(d, "reason")), "loop");
    assert_int_equal(json_array_size(json_object_get(d, "path")), 2);
    assert_int_equal(f->p.nbounces, 0);
}

static void test_plan_pure_loop_bounces(void **state)
{
    fixture *f = *state;
    const char *rcpts[] = { "p1@ours.test", "self@ours.test", NULL };
    assert_int_equal(build(f, "s@src.test", rcpts), REWRITE_OK);
    assert_int_equal(f->p.nrelays, 0);
    assert_int_equal(f->p.nbounces, 2);
    assert_string_equal(find_bounce(&f->p, "p1@ours.test")->status, "5.4.6");
    assert_string_equal(find_bounce(&f->p, "self@ours.test")->status, "5.4.6");
    assert_int_equal(count_events(&f->p, "alias_loop"), 2);
}

static void test_plan_diamond_not_a_loop(void **state)
{
    fixture *f = *state;
    const char *rcpts[] = { "d@ours.test", NULL };
    assert_int_equal(build(f, "s@src.test", rcpts), REWRITE_OK);
    assert_int_equal(f->p.nrelays, 1);
    assert_int_equal(f->p.relays[0].rcpts.n, 1);
    assert_string_equal(f->p.relays[0].rcpts.v[0], "g@remote.test");
    assert_int_equal(count_events(&f->p, "alias_loop"), 0);
}

static void test_plan_depth_limit(void **state)
{
    fixture *f = *state;
    const char *rcpts[] = { "c0@ours.test", NULL };
    /* c0 .. c10 is 11 levels: over the limit of 10 */
    assert_int_equal(build(f, "s@src.test", rcpts), REWRITE_OK);
    assert_int_equal(f->p.nrelays, 0);
    json_t *d = find_event(&f->p, "alias_loop", "c0@ours.test");
    assert_non_null(d);
    assert_string_equal(json_string_value(json_object_get(d, "reason")), "too_deep");
    assert_string_equal(json_string_value(json_object_get(d, "target")), "c10@ours.test");
    assert_string_equal(find_bounce(&f->p, "c0@ours.test")->status, "5.4.6");
    /* starting one level lower fits */
    const char *rcpts1[] = { "c1@ours.test", NULL };
    assert_int_equal(build(f, "s@src.test", rcpts1), REWRITE_OK);
    assert_int_equal(f->p.nrelays, 1);
    assert_string_equal(f->p.relays[0].rcpts.v[0], "z@remote.test");
    assert_int_equal(count_events(&f->p, "alias_loop"), 0);
}

static void test_plan_target_limit(void **state)
{
    fixture *f = *state;
    f->o.max_targets = 2;
    const char *rcpts[] = { "many@ours.test", NULL };
    assert_int_equal(build(f, "s@src.test", rcpts), REWRITE_OK);
    assert_int_equal(f->p.relays[0].rcpts.n, 2);
    assert_int_equal(count_events(&f->p, "expansion_limit"), 1);
}

static void test_plan_srs_bounce_reversed(void **state)
{
    fixture *f = *state;
    char srs[512];
    assert_int_equal(srs_forward(&f->srs.secrets, "orig@far.test", "ours.test", f->now,
                                 srs, sizeof(srs)), SRS_OK);
    const char *rcpts[] = { srs, "SRS0=zzzz=AA=far.test=forged@ours.test", NULL };
    assert_int_equal(build(f, "", rcpts), REWRITE_OK);
    assert_int_equal(f->p.nrelays, 1);
    assert_group(&f->p, "", (const char *[]){ "orig@far.test", NULL });
    assert_int_equal(count_events(&f->p, "srs_reversed"), 1);
    assert_int_equal(count_events(&f->p, "srs_invalid"), 1);
    assert_int_equal(f->p.nbounces, 1);
    assert_string_equal(f->p.bounces[0].rcpt, "SRS0=zzzz=AA=far.test=forged@ours.test");
}

static void test_plan_grouping_and_dedup(void **state)
{
    fixture *f = *state;
    const char *rcpts[] = { "someone@far.test", "fwd@ours.test", "other@far.test",
                            "FWD@OURS.TEST", "list@ours.test", "tolist@other.test",
                            "ghost@other.test", "not-an-address", NULL };
    assert_int_equal(build(f, "s@src.test", rcpts), REWRITE_OK);
    /* someone@far.test is relayed once (as a direct foreign recipient) */
    assert_int_equal(f->p.nrelays, 1);
    assert_group(&f->p, "s@src.test",
                 (const char *[]){ "someone@far.test", "other@far.test", NULL });
    assert_int_equal(f->p.lists.n, 2);
    assert_int_equal(strlist_find(&f->p.lists, "news@other.test") >= 0, 1);
    assert_int_equal(f->p.nbounces, 2);
    assert_string_equal(find_bounce(&f->p, "ghost@other.test")->status, "5.1.1");
    assert_string_equal(find_bounce(&f->p, "not-an-address")->status, "5.1.3");
    assert_int_equal(count_events(&f->p, "rewritten"), 2);
}

static void test_plan_two_senders(void **state)
{
    fixture *f = *state;
    const char *rcpts[] = { "direct@far.test", "b@ours.test", NULL };
    assert_int_equal(build(f, "s@src.test", rcpts), REWRITE_OK);
    assert_int_equal(f->p.nrelays, 2);
    assert_group(&f->p, "s@src.test", (const char *[]){ "direct@far.test", NULL });
    const char *srs = f->p.relays[1].mail_from;
    assert_int_equal(strncmp(srs, "SRS0=", 5), 0);
    assert_group(&f->p, srs, (const char *[]){ "y@remote.test", "x@remote.test", NULL });
}

static void test_plan_bad_target_bounces(void **state)
{
    fixture *f = *state;
    const char *rcpts[] = { "bad@ours.test", NULL };
    assert_int_equal(build(f, "s@src.test", rcpts), REWRITE_OK);
    assert_int_equal(f->p.relays[0].rcpts.n, 1);
    assert_non_null(find_bounce(&f->p, "not an address"));
}

static void test_plan_errors(void **state)
{
    fixture *f = *state;
    const char *rcpts[] = { "a@far.test", "nobody@ours.test", NULL };
    f->w.lists_fail = 1;
    assert_int_equal(build(f, "s@src.test", rcpts), REWRITE_ERR_LISTS);
    assert_int_equal(f->p.nrelays, 0);
    assert_null(f->p.events);
    f->w.lists_fail = 0;
    f->w.db_fail = 1;
    assert_int_equal(build(f, "s@src.test", rcpts), REWRITE_ERR_DB);
    /* an error deep inside an expansion is reported too */
    f->w.db_fail = 0;
    f->w.lists_fail = 1;
    const char *r2[] = { "team@ours.test", NULL };
    assert_int_equal(build(f, "s@src.test", r2), REWRITE_ERR_LISTS);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_classify_basic, setup, teardown),
        cmocka_unit_test_setup_teardown(test_classify_foreign_skips_lists, setup, teardown),
        cmocka_unit_test_setup_teardown(test_classify_srs_domain, setup, teardown),
        cmocka_unit_test_setup_teardown(test_plan_foreign_as_is, setup, teardown),
        cmocka_unit_test_setup_teardown(test_plan_alias_srs_sender, setup, teardown),
        cmocka_unit_test_setup_teardown(test_plan_srs_domain_configured, setup, teardown),
        cmocka_unit_test_setup_teardown(test_plan_null_sender_alias, setup, teardown),
        cmocka_unit_test_setup_teardown(test_plan_nested, setup, teardown),
        cmocka_unit_test_setup_teardown(test_plan_loop_branch_dropped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_plan_pure_loop_bounces, setup, teardown),
        cmocka_unit_test_setup_teardown(test_plan_diamond_not_a_loop, setup, teardown),
        cmocka_unit_test_setup_teardown(test_plan_depth_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_plan_target_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_plan_srs_bounce_reversed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_plan_grouping_and_dedup, setup, teardown),
        cmocka_unit_test_setup_teardown(test_plan_two_senders, setup, teardown),
        cmocka_unit_test_setup_teardown(test_plan_bad_target_bounces, setup, teardown),
        cmocka_unit_test_setup_teardown(test_plan_errors, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
