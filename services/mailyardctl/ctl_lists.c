/*
 * ctl_lists.c - mailyardctl list, member and held commands, over the lists
 * service's API:
 *   GET/POST /v1/lists, GET/DELETE /v1/lists/{addr},
 *   GET/POST /v1/lists/{addr}/members, DELETE /v1/lists/{addr}/members/{m},
 *   GET /v1/lists/{addr}/held, POST /v1/held/{id}/approve|reject.
 *
 * Owns nothing beyond each call's request body and path.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"

static int list_create(ctl *c, int argc, char **argv);
static int list_ls(ctl *c, int argc, char **argv);
static int list_show(ctl *c, int argc, char **argv);
static int list_del(ctl *c, int argc, char **argv);
static int member_add(ctl *c, int argc, char **argv);
static int member_ls(ctl *c, int argc, char **argv);
static int member_del(ctl *c, int argc, char **argv);
static int held_ls(ctl *c, int argc, char **argv);
static int held_approve(ctl *c, int argc, char **argv);
static int held_reject(ctl *c, int argc, char **argv);

#define LIST_CREATE_USAGE \
    "list create ADDR [--name N] [--prefix P] [--policy members|open|moderated]"

const ctl_cmd ctl_lists_cmds[] = {
    { "list",   "create",  LIST_CREATE_USAGE,               list_create },
    { "list",   "ls",      "list ls",                       list_ls },
    { "list",   "show",    "list show ADDR",                list_show },
    { "list",   "del",     "list del ADDR",                 list_del },
    { "member", "add",     "member add LIST ADDR [--role R]", member_add },
    { "member", "ls",      "member ls LIST",                member_ls },
    { "member", "del",     "member del LIST ADDR",          member_del },
    { "held",   "ls",      "held ls LIST",                  held_ls },
    { "held",   "approve", "held approve ID",               held_approve },
    { "held",   "reject",  "held reject ID",                held_reject },
    { NULL, NULL, NULL, NULL },
};

/* A call whose path takes nargs positional arguments and no body. */
static int
simple(ctl *c, int argc, char **argv, size_t nargs, const char *usage,
       const char *method, const char *tmpl, enum ctl_show show)
{
    char *pos[2] = { NULL, NULL }, *path;
    int rc;

    if (ctl_args_parse(argc, argv, NULL, 0, pos, nargs) != (int)nargs)
        return ctl_usage(usage);
    path = ctl_path(tmpl, pos[0], pos[1], (char *)NULL);
    rc = ctl_run(c, CTL_LISTS, method, path, NULL, show);
    free(path);
    return rc;
}

/* Sets key to value (a C string) in obj unless value is NULL. */
static int
set_opt(json_t *obj, const char *key, const char *value)
{
    json_t *s;

    if (value == NULL)
        return 0;
    s = json_string(value);
    if (s == NULL)
        return -1;
    return json_object_set_new(obj, key, s);
}

static int
list_create(ctl *c, int argc, char **argv)
{
    ctl_opt opts[] = {
        { "--name", 1, NULL }, { "--prefix", 1, NULL }, { "--policy", 1, NULL },
    };
    char *pos[1];
    const char *policy;
    json_t *body;
    int rc;

    if (ctl_args_parse(argc, argv, opts, 3, pos, 1) != 1)
        return ctl_usage(LIST_CREATE_USAGE);
    policy = opts[2].value;
    if (policy != NULL && strcmp(policy, "members") != 0 &&
        strcmp(policy, "open") != 0 && strcmp(policy, "moderated") != 0) {
        fprintf(stderr, "mailyardctl: --policy must be members, open or moderated\n");
        return ctl_usage(LIST_CREATE_USAGE);
    }
    body = json_object();
    if (set_opt(body, "address", pos[0]) < 0 || set_opt(body, "name", opts[0].value) < 0 ||
        set_opt(body, "subject_prefix", opts[1].value) < 0 ||
        set_opt(body, "policy", policy) < 0) {
        json_decref(body);
        return ctl_bad_text();
    }
    rc = ctl_run(c, CTL_LISTS, "POST", "/v1/lists", body, CTL_SHOW_DONE);
    json_decref(body);
    return rc;
}

static int
list_ls(ctl *c, int argc, char **argv)
{
    return simple(c, argc, argv, 0, "list ls", "GET", "/v1/lists", CTL_SHOW_LIST);
}

static int
list_show(ctl *c, int argc, char **argv)
{
    return simple(c, argc, argv, 1, "list show ADDR", "GET", "/v1/lists/{}",
                  CTL_SHOW_OBJECT);
}

static int
list_del(ctl *c, int argc, char **argv)
{
    return simple(c, argc, argv, 1, "list del ADDR", "DELETE", "/v1/lists/{}",
                  CTL_SHOW_DONE);
}

static int
member_add(ctl *c, int argc, char **argv)
{
    ctl_opt opts[] = { { "--role", 1, NULL } };
    char *pos[2], *path;
    json_t *body;
    int rc;

    if (ctl_args_parse(argc, argv, opts, 1, pos, 2) != 2)
        return ctl_usage("member add LIST ADDR [--role R]");
    body = json_object();
    if (set_opt(body, "address", pos[1]) < 0 || set_opt(body, "role", opts[0].value) < 0) {
        json_decref(body);
        return ctl_bad_text();
    }
    path = ctl_path("/v1/lists/{}/members", pos[0], (char *)NULL);
    rc = ctl_run(c, CTL_LISTS, "POST", path, body, CTL_SHOW_DONE);
    free(path);
    json_decref(body);
    return rc;
}

static int
member_ls(ctl *c, int argc, char **argv)
{
    return simple(c, argc, argv, 1, "member ls LIST", "GET", "/v1/lists/{}/members",
                  CTL_SHOW_LIST);
}

static int
member_del(ctl *c, int argc, char **argv)
{
    return simple(c, argc, argv, 2, "member del LIST ADDR", "DELETE",
                  "/v1/lists/{}/members/{}", CTL_SHOW_DONE);
}

static int
held_ls(ctl *c, int argc, char **argv)
{
    return simple(c, argc, argv, 1, "held ls LIST", "GET", "/v1/lists/{}/held",
                  CTL_SHOW_LIST);
}

static int
held_approve(ctl *c, int argc, char **argv)
{
    return simple(c, argc, argv, 1, "held approve ID", "POST", "/v1/held/{}/approve",
                  CTL_SHOW_DONE);
}

static int
held_reject(ctl *c, int argc, char **argv)
{
    return simple(c, argc, argv, 1, "held reject ID", "POST", "/v1/held/{}/reject",
                  CTL_SHOW_DONE);
}
