/*
 * ctl_rewrite.c - mailyardctl domain and alias commands, over the rewrite
 * service's API (GET/POST /v1/domains, DELETE /v1/domains/{name},
 * GET/POST /v1/aliases, GET/DELETE /v1/aliases/{addr}).
 *
 * Owns nothing beyond each call's request body and path.
 */
#include <stdlib.h>

#include "ctl.h"

#define CTL_MAX_TARGETS 256

static int domain_add(ctl *c, int argc, char **argv);
static int domain_ls(ctl *c, int argc, char **argv);
static int domain_del(ctl *c, int argc, char **argv);
static int alias_add(ctl *c, int argc, char **argv);
static int alias_ls(ctl *c, int argc, char **argv);
static int alias_show(ctl *c, int argc, char **argv);
static int alias_del(ctl *c, int argc, char **argv);

const ctl_cmd ctl_rewrite_cmds[] = {
    { "domain", "add",  "domain add NAME",             domain_add },
    { "domain", "ls",   "domain ls",                   domain_ls },
    { "domain", "del",  "domain del NAME",             domain_del },
    { "alias",  "add",  "alias add ADDR TARGET...",    alias_add },
    { "alias",  "ls",   "alias ls",                    alias_ls },
    { "alias",  "show", "alias show ADDR",             alias_show },
    { "alias",  "del",  "alias del ADDR",              alias_del },
    { NULL, NULL, NULL, NULL },
};

/* Runs one call on rewrite for "VERB ONE-ARG" commands. */
static int
one_arg(ctl *c, int argc, char **argv, const char *usage, const char *method,
        const char *tmpl, enum ctl_show show)
{
    char *pos[1], *path;
    int rc;

    if (ctl_args_parse(argc, argv, NULL, 0, pos, 1) != 1)
        return ctl_usage(usage);
    path = ctl_path(tmpl, pos[0], (char *)NULL);
    rc = ctl_run(c, CTL_REWRITE, method, path, NULL, show);
    free(path);
    return rc;
}

static int
no_arg(ctl *c, int argc, char **argv, const char *usage, const char *path)
{
    char *pos[1];

    if (ctl_args_parse(argc, argv, NULL, 0, pos, 0) != 0)
        return ctl_usage(usage);
    return ctl_run(c, CTL_REWRITE, "GET", path, NULL, CTL_SHOW_LIST);
}

static int
domain_add(ctl *c, int argc, char **argv)
{
    char *pos[1];
    json_t *body;
    int rc;

    if (ctl_args_parse(argc, argv, NULL, 0, pos, 1) != 1)
        return ctl_usage("domain add NAME");
    body = json_pack("{s:s}", "name", pos[0]);
    if (body == NULL)
        return ctl_bad_text();
    rc = ctl_run(c, CTL_REWRITE, "POST", "/v1/domains", body, CTL_SHOW_DONE);
    json_decref(body);
    return rc;
}

static int
domain_ls(ctl *c, int argc, char **argv)
{
    return no_arg(c, argc, argv, "domain ls", "/v1/domains");
}

static int
domain_del(ctl *c, int argc, char **argv)
{
    return one_arg(c, argc, argv, "domain del NAME", "DELETE", "/v1/domains/{}",
                   CTL_SHOW_DONE);
}

static int
alias_add(ctl *c, int argc, char **argv)
{
    char *pos[CTL_MAX_TARGETS + 1];
    json_t *body, *targets;
    int n, rc;

    n = ctl_args_parse(argc, argv, NULL, 0, pos, CTL_MAX_TARGETS + 1);
    if (n < 2)
        return ctl_usage("alias add ADDR TARGET...");
    targets = json_array();
    for (int i = 1; i < n; i++)
        json_array_append_new(targets, json_string(pos[i]));
    if (json_array_size(targets) != (size_t)(n - 1)) {
        json_decref(targets);
        return ctl_bad_text();
    }
    body = json_pack("{s:s,s:o}", "address", pos[0], "targets", targets);
    if (body == NULL)       /* json_pack consumed targets */
        return ctl_bad_text();
    rc = ctl_run(c, CTL_REWRITE, "POST", "/v1/aliases", body, CTL_SHOW_DONE);
    json_decref(body);
    return rc;
}

static int
alias_ls(ctl *c, int argc, char **argv)
{
    return no_arg(c, argc, argv, "alias ls", "/v1/aliases");
}

static int
alias_show(ctl *c, int argc, char **argv)
{
    return one_arg(c, argc, argv, "alias show ADDR", "GET", "/v1/aliases/{}",
                   CTL_SHOW_OBJECT);
}

static int
alias_del(ctl *c, int argc, char **argv)
{
    return one_arg(c, argc, argv, "alias del ADDR", "DELETE", "/v1/aliases/{}",
                   CTL_SHOW_DONE);
}
