/*
 * rewrite_plan.c - the rewrite decision for one message (see
 * rewrite_plan.h). Pure: lookups go through the resolver, time is passed
 * in, the result is data.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "addr.h"
#include "log.h"
#include "rewrite_addr.h"
#include "rewrite_plan.h"
#include "xalloc.h"

/* State of the expansion of one envelope recipient that is an alias. */
typedef struct expansion {
    const char *root;      /* the envelope recipient (borrowed) */
    strlist     path;      /* aliases being expanded, outermost first */
    strlist     visited;   /* every address reached from root */
    strlist     remote;    /* off-domain targets, in order */
    strlist     lists;     /* lists reached */
    size_t      ntargets;  /* targets looked at (limit) */
    size_t      nloops;    /* branches dropped as loops / too deep */
    size_t      nother;    /* bounces and SRS relays produced */
    int         limited;   /* expansion_limit already recorded */
} expansion;

typedef struct planner {
    const rewrite_resolver  *r;
    const rewrite_srs_conf  *srs;
    const rewrite_plan_opts *o;
    const char              *mail_from;
    time_t                   now;
    rewrite_plan            *p;
} planner;

static enum rewrite_err expand_alias(planner *pl, expansion *x,
                                     const char *alias, const strlist *targets,
                                     int depth);

static void plan_event(rewrite_plan *p, const char *event, json_t *detail)
{
    json_t *e = json_object();
    if (e == NULL)
        abort();     /* bookkeeping allocation: STYLE.md rule 3 */
    json_object_set_new(e, "event", json_string(event));
    json_object_set_new(e, "detail", detail);
    json_array_append_new(p->events, e);
}

static json_t *json_strlist(const strlist *l)
{
    json_t *a = json_array();
    for (size_t i = 0; l != NULL && i < l->n; i++)
        json_array_append_new(a, json_string(l->v[i]));
    return a;
}

/* Adds rcpt (case kept) to the group of mail_from, unless it is relayed
 * already (compared case-insensitively); root is the envelope recipient
 * it came from. */
static void plan_relay(rewrite_plan *p, const char *mail_from, const char *rcpt,
                       const char *root)
{
    char key[REWRITE_ADDR_MAX + 1];
    if (str_copy(key, sizeof(key), rcpt) != 0)
        panic("relay recipient longer than an address");
    rewrite_addr_lower(key);
    if (!strlist_add_unique(&p->relayed, key))
        return;
    rewrite_relay_group *g = NULL;
    for (size_t i = 0; i < p->nrelays; i++)
        if (strcmp(p->relays[i].mail_from, mail_from) == 0)
            g = &p->relays[i];
    if (g == NULL) {
        if (p->nrelays == p->relays_cap) {
            p->relays_cap = p->relays_cap ? p->relays_cap * 2 : 4;
            p->relays = xrealloc(p->relays, p->relays_cap * sizeof(*p->relays));
        }
        g = &p->relays[p->nrelays++];
        g->mail_from = xstrdup(mail_from);
        g->rcpts = (strlist)STRLIST_INIT;
        g->roots = (strlist)STRLIST_INIT;
    }
    strlist_add(&g->rcpts, rcpt);
    strlist_add(&g->roots, root);
}

static void plan_bounce(rewrite_plan *p, const char *rcpt, const char *status,
                        const char *diagnostic)
{
    for (size_t i = 0; i < p->nbounces; i++)
        if (strcasecmp(p->bounces[i].rcpt, rcpt) == 0)
            return;
    if (p->nbounces == p->bounces_cap) {
        p->bounces_cap = p->bounces_cap ? p->bounces_cap * 2 : 4;
        p->bounces = xrealloc(p->bounces, p->bounces_cap * sizeof(*p->bounces));
    }
    rewrite_bounce *b = &p->bounces[p->nbounces++];
    b->rcpt = xstrdup(rcpt);
    b->status = status;
    b->diagnostic = xstrdup(diagnostic);
}

static void plan_list(rewrite_plan *p, const char *list, const char *via)
{
    if (!strlist_add_unique(&p->lists, list))
        return;
    json_t *d = json_pack("{s:s}", "list", list);
    if (via != NULL)
        json_object_set_new(d, "via", json_string(via));
    plan_event(p, "to_list", d);
}

/* A target that does not exist (or a forged SRS address): bounce it. */
static void plan_unknown(rewrite_plan *p, const char *rcpt, const char *via,
                         const char *event, const char *why)
{
    json_t *d = json_pack("{s:s}", "rcpt", rcpt);
    if (via != NULL)
        json_object_set_new(d, "via", json_string(via));
    if (why != NULL)
        json_object_set_new(d, "reason", json_string(why));
    plan_event(p, event, d);
    plan_bounce(p, rcpt, "5.1.1", "smtp; 550 5.1.1 recipient address unknown");
}

static void plan_srs_reversed(planner *pl, const char *rcpt, const char *orig,
                              const char *via)
{
    json_t *d = json_pack("{s:s,s:s}", "rcpt", rcpt, "original", orig);
    if (via != NULL)
        json_object_set_new(d, "via", json_string(via));
    plan_event(pl->p, "srs_reversed", d);
    plan_relay(pl->p, pl->mail_from, orig, via != NULL ? via : rcpt);
}

static void expansion_drop(planner *pl, expansion *x, const char *alias,
                           const char *target, const char *reason)
{
    x->nloops++;
    json_t *d = json_pack("{s:s,s:s,s:s,s:s}", "rcpt", x->root, "alias", alias,
                          "target", target, "reason", reason);
    json_object_set_new(d, "path", json_strlist(&x->path));
    plan_event(pl->p, "alias_loop", d);
}

/* Classifies one alias target and acts on it. */
static enum rewrite_err expand_target(planner *pl, expansion *x,
                                      const char *alias, const char *raw,
                                      int depth)
{
    char t[REWRITE_ADDR_MAX + 1], key[REWRITE_ADDR_MAX + 1];
    const char *why = NULL;
    if (rewrite_addr_check(raw, t, sizeof(t), &why) != 0) {
        x->nother++;
        plan_unknown(pl->p, raw, x->root, "unknown_recipient", why);
        return REWRITE_OK;
    }
    memcpy(key, t, sizeof(key));
    rewrite_addr_lower(key);
    if (strlist_find(&x->path, key) >= 0) {
        expansion_drop(pl, x, alias, key, "loop");
        return REWRITE_OK;
    }
    if (!strlist_add_unique(&x->visited, key))
        return REWRITE_OK;       /* reached on another branch already */

    rewrite_class_result c;
    enum rewrite_err err = rewrite_classify(pl->r, pl->srs, t, pl->now, &c);
    if (err != REWRITE_OK)
        return err;
    switch (c.cls) {
    case REWRITE_FOREIGN:
        strlist_add(&x->remote, t);      /* unique: visited guards it */
        break;
    case REWRITE_LIST:
        strlist_add_unique(&x->lists, c.matched);
        break;
    case REWRITE_ALIAS:
        /* matched differs from key for user+tag@, postmaster@ and
         * catch-alls: that is the alias being expanded. */
        if (strcmp(c.matched, key) != 0 && strlist_find(&x->path, c.matched) >= 0)
            expansion_drop(pl, x, alias, c.matched, "loop");
        else if (strcmp(c.matched, key) != 0 &&
                 !strlist_add_unique(&x->visited, c.matched)) {
            /* expanded on another branch already */
        } else if (depth + 1 > pl->o->max_depth)
            expansion_drop(pl, x, alias, key, "too_deep");
        else
            err = expand_alias(pl, x, c.matched, &c.targets, depth + 1);
        break;
    case REWRITE_SRS:
        x->nother++;
        plan_srs_reversed(pl, t, c.original, x->root);
        break;
    case REWRITE_SRS_INVALID:
        x->nother++;
        plan_unknown(pl->p, t, x->root, "srs_invalid", c.why);
        break;
    case REWRITE_UNKNOWN:
        x->nother++;
        plan_unknown(pl->p, t, x->root, "unknown_recipient", NULL);
        break;
    }
    rewrite_class_result_release(&c);
    return err;
}

static enum rewrite_err expand_alias(planner *pl, expansion *x,
                                     const char *alias, const strlist *targets,
                                     int depth)
{
    enum rewrite_err err = REWRITE_OK;
    strlist_add(&x->path, alias);
    strlist_add_unique(&x->visited, alias);
    for (size_t i = 0; i < targets->n && err == REWRITE_OK; i++) {
        if (x->ntargets >= pl->o->max_targets) {
            if (!x->limited) {
                x->limited = 1;
                plan_event(pl->p, "expansion_limit",
                           json_pack("{s:s,s:I}", "rcpt", x->root, "max_targets",
                                     (json_int_t)pl->o->max_targets));
            }
            break;
        }
        x->ntargets++;
        err = expand_target(pl, x, alias, targets->v[i], depth);
    }
    strlist_pop(&x->path);
    return err;
}

/* The envelope sender for off-domain targets of the alias root. */
static char *plan_srs_sender(planner *pl, const char *root)
{
    const char *dom = pl->srs->domain ? pl->srs->domain : addr_domain(root);
    char out[1024];
    if (dom == NULL || *dom == '\0') {      /* the bare "postmaster" */
        plan_event(pl->p, "srs_error", json_pack("{s:s,s:s}", "rcpt", root, "reason",
                                                 "no SRS domain (MAILYARD_SRS_DOMAIN)"));
        return xstrdup(pl->mail_from);
    }
    enum srs_result sr = srs_forward(&pl->srs->secrets, pl->mail_from, dom,
                                     pl->now, out, sizeof(out));
    if (sr == SRS_OK)
        return xstrdup(out);
    plan_event(pl->p, "srs_error",
               json_pack("{s:s,s:s}", "rcpt", root, "reason", srs_result_text(sr)));
    return xstrdup(pl->mail_from);
}

/* root: the envelope recipient (lower case); matched: the alias key it
 * matched (root itself, or user@ for user+tag@, or a catch-all). */
static enum rewrite_err plan_alias(planner *pl, const char *root,
                                   const char *matched, const strlist *targets)
{
    expansion x = { .root = root, .path = STRLIST_INIT, .visited = STRLIST_INIT,
                    .remote = STRLIST_INIT, .lists = STRLIST_INIT };
    if (strcmp(root, matched) != 0)
        strlist_add(&x.visited, root);
    enum rewrite_err err = expand_alias(pl, &x, matched, targets, 1);
    if (err == REWRITE_OK) {
        char *sender = NULL;
        if (x.remote.n > 0) {
            sender = plan_srs_sender(pl, root);
            for (size_t i = 0; i < x.remote.n; i++)
                plan_relay(pl->p, sender, x.remote.v[i], root);
        }
        for (size_t i = 0; i < x.lists.n; i++)
            plan_list(pl->p, x.lists.v[i], root);
        json_t *d = json_pack("{s:s}", "rcpt", root);
        if (strcmp(root, matched) != 0)
            json_object_set_new(d, "matched", json_string(matched));
        json_object_set_new(d, "targets", json_strlist(&x.remote));
        json_object_set_new(d, "lists", json_strlist(&x.lists));
        json_object_set_new(d, "mail_from", sender ? json_string(sender) : json_null());
        plan_event(pl->p, "rewritten", d);
        if (x.remote.n == 0 && x.lists.n == 0 && x.nother == 0 && x.nloops > 0)
            plan_bounce(pl->p, root, "5.4.6",
                        "smtp; 550 5.4.6 alias loop: no deliverable target");
        free(sender);
    }
    strlist_release(&x.path);
    strlist_release(&x.visited);
    strlist_release(&x.remote);
    strlist_release(&x.lists);
    return err;
}

static enum rewrite_err plan_rcpt(planner *pl, const char *raw)
{
    char a[REWRITE_ADDR_MAX + 1], key[REWRITE_ADDR_MAX + 1];
    const char *why = NULL;
    rewrite_plan *p = pl->p;

    if (rewrite_classify_is_bare_postmaster(raw)) {
        if (str_copy(a, sizeof(a), raw) != 0)
            panic("postmaster longer than an address");
    } else if (rewrite_addr_check(raw, a, sizeof(a), &why) != 0) {
        plan_event(p, "unknown_recipient", json_pack("{s:s,s:s}", "rcpt", raw,
                                                     "reason", why));
        plan_bounce(p, raw, "5.1.3", "smtp; 553 5.1.3 invalid recipient address");
        return REWRITE_OK;
    }
    memcpy(key, a, sizeof(key));
    rewrite_addr_lower(key);
    if (!strlist_add_unique(&p->seen, key))
        return REWRITE_OK;

    rewrite_class_result c;
    enum rewrite_err err = rewrite_classify(pl->r, pl->srs, a, pl->now, &c);
    if (err != REWRITE_OK)
        return err;
    switch (c.cls) {
    case REWRITE_FOREIGN:
        plan_event(p, "foreign", json_pack("{s:s}", "rcpt", a));
        plan_relay(p, pl->mail_from, a, a);
        break;
    case REWRITE_ALIAS:
        err = plan_alias(pl, key, c.matched, &c.targets);
        break;
    case REWRITE_LIST:
        plan_list(p, c.matched, strcmp(c.matched, key) != 0 ? key : NULL);
        break;
    case REWRITE_SRS:
        plan_srs_reversed(pl, a, c.original, NULL);
        break;
    case REWRITE_SRS_INVALID:
        plan_unknown(p, a, NULL, "srs_invalid", c.why);
        break;
    case REWRITE_UNKNOWN:
        plan_unknown(p, a, NULL, "unknown_recipient", NULL);
        break;
    }
    rewrite_class_result_release(&c);
    return err;
}

enum rewrite_err rewrite_plan_build(const rewrite_resolver *r,
                                    const rewrite_srs_conf *srs,
                                    const rewrite_plan_opts *o,
                                    const char *mail_from,
                                    char *const *rcpts, size_t nrcpts,
                                    time_t now, rewrite_plan *out)
{
    memset(out, 0, sizeof(*out));
    out->events = json_array();
    if (out->events == NULL)
        abort();
    planner pl = { .r = r, .srs = srs, .o = o,
                   .mail_from = mail_from ? mail_from : "", .now = now, .p = out };
    for (size_t i = 0; i < nrcpts; i++) {
        enum rewrite_err err = plan_rcpt(&pl, rcpts[i]);
        if (err != REWRITE_OK) {
            rewrite_plan_release(out);
            return err;
        }
    }
    return REWRITE_OK;
}

const rewrite_relay_group *rewrite_plan_group(const rewrite_plan *p,
                                              const char *mail_from)
{
    for (size_t i = 0; i < p->nrelays; i++)
        if (strcmp(p->relays[i].mail_from, mail_from) == 0)
            return &p->relays[i];
    return NULL;
}

void rewrite_plan_release(rewrite_plan *p)
{
    if (p == NULL)
        return;
    for (size_t i = 0; i < p->nrelays; i++) {
        free(p->relays[i].mail_from);
        strlist_release(&p->relays[i].rcpts);
        strlist_release(&p->relays[i].roots);
    }
    free(p->relays);
    for (size_t i = 0; i < p->nbounces; i++) {
        free(p->bounces[i].rcpt);
        free(p->bounces[i].diagnostic);
    }
    free(p->bounces);
    strlist_release(&p->lists);
    strlist_release(&p->relayed);
    strlist_release(&p->seen);
    json_decref(p->events);
    memset(p, 0, sizeof(*p));
}
