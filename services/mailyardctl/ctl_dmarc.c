/*
 * ctl_dmarc.c - mailyardctl commands for DMARC From mitigation
 * (docs/lists.md, docs/rewrite.md):
 *   list dmarc LIST MODE [--always]    PATCH /v1/lists/{addr}   (lists)
 *   alias dmarc ADDR MODE [--always]   PATCH /v1/aliases/{addr} (rewrite)
 * MODE is none, munge-from, wrap or encode-address; --always applies it to
 * every message, not only to authors whose domain publishes a DMARC policy
 * of quarantine or reject.
 *
 * Owns nothing beyond each call's request body and path.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"

static int dmarc_list(ctl *c, int argc, char **argv);
static int dmarc_alias(ctl *c, int argc, char **argv);

#define DMARC_LIST_USAGE  "list dmarc LIST none|munge-from|wrap|encode-address [--always]"
#define DMARC_ALIAS_USAGE "alias dmarc ADDR none|munge-from|wrap|encode-address [--always]"

const ctl_cmd ctl_dmarc_cmds[] = {
    { "list",  "dmarc", DMARC_LIST_USAGE,  dmarc_list },
    { "alias", "dmarc", DMARC_ALIAS_USAGE, dmarc_alias },
    { NULL, NULL, NULL, NULL },
};

static int dmarc_set(ctl *c, int argc, char **argv, const char *usage,
                     enum ctl_service svc, const char *tmpl)
{
    static const char *const modes[] = { "none", "munge-from", "wrap", "encode-address",
                                         NULL };
    ctl_opt opts[] = { { "--always", 0, NULL } };
    char *pos[2] = { NULL, NULL };
    int known = 0;

    if (ctl_args_parse(argc, argv, opts, 1, pos, 2) != 2)
        return ctl_usage(usage);
    for (size_t i = 0; modes[i] != NULL; i++)
        known |= strcmp(pos[1], modes[i]) == 0;
    if (!known) {
        fprintf(stderr, "mailyardctl: the mode must be none, munge-from, wrap or "
                        "encode-address\n");
        return ctl_usage(usage);
    }
    json_t *body = json_pack("{s:s, s:b}", "dmarc_mitigation", pos[1],
                             "dmarc_mitigation_always", opts[0].value != NULL);
    if (body == NULL)
        return ctl_bad_text();
    char *path = ctl_path(tmpl, pos[0], (char *)NULL);
    int rc = ctl_run(c, svc, "PATCH", path, body, CTL_SHOW_OBJECT);
    free(path);
    json_decref(body);
    return rc;
}

static int dmarc_list(ctl *c, int argc, char **argv)
{
    return dmarc_set(c, argc, argv, DMARC_LIST_USAGE, CTL_LISTS, "/v1/lists/{}");
}

static int dmarc_alias(ctl *c, int argc, char **argv)
{
    return dmarc_set(c, argc, argv, DMARC_ALIAS_USAGE, CTL_REWRITE, "/v1/aliases/{}");
}
