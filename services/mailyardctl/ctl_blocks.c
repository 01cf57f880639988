/*
 * ctl_blocks.c - mailyardctl commands for mx's block rules, over /v1/blocks
 * of mx (services/mx/mx_api_blocks.c, docs/mx.md "Block rules"):
 *
 *   block list [--kind K]                               GET /v1/blocks
 *   block add KIND VALUE --reason R [--expires-in S | --expires-at T]
 *                                                       POST /v1/blocks
 *   block del ID                                        DELETE /v1/blocks/{id}
 *
 * KIND is address, domain or network; mx checks values (bad CIDR, unknown
 * kind) and answers a JSON error that is printed as is. Owns nothing
 * beyond each call.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"

#define BLOCK_ADD_USAGE "block add KIND VALUE --reason R [--expires-in SECONDS | " \
                        "--expires-at 2030-01-31T12:00:00Z]"

static int blocks_list(ctl *c, int argc, char **argv);
static int blocks_add(ctl *c, int argc, char **argv);
static int blocks_del(ctl *c, int argc, char **argv);

const ctl_cmd ctl_blocks_cmds[] = {
    { "block", "list", "block list [--kind address|domain|network]", blocks_list },
    { "block", "add",  BLOCK_ADD_USAGE,                              blocks_add },
    { "block", "del",  "block del ID",                               blocks_del },
    { NULL, NULL, NULL, NULL },
};

static int blocks_list(ctl *c, int argc, char **argv)
{
    ctl_opt opts[] = { { "--kind", 1, NULL } };
    char *pos[1];
    if (ctl_args_parse(argc, argv, opts, 1, pos, 0) != 0)
        return ctl_usage("block list [--kind address|domain|network]");
    char *path = opts[0].value != NULL ? ctl_path("/v1/blocks?kind={}", opts[0].value, NULL)
                                       : ctl_path("/v1/blocks", NULL);
    if (path == NULL)
        return CTL_ERR;
    int rc = ctl_run(c, CTL_MX, "GET", path, NULL, CTL_SHOW_LIST);
    free(path);
    return rc;
}

static int blocks_add(ctl *c, int argc, char **argv)
{
    ctl_opt opts[] = { { "--reason", 1, NULL }, { "--expires-in", 1, NULL },
                       { "--expires-at", 1, NULL } };
    char *pos[2];
    if (ctl_args_parse(argc, argv, opts, 3, pos, 2) != 2 || opts[0].value == NULL ||
        (opts[1].value != NULL && opts[2].value != NULL))
        return ctl_usage(BLOCK_ADD_USAGE);
    json_t *body = json_pack("{s:s,s:s,s:s}", "kind", pos[0], "value", pos[1],
                             "reason", opts[0].value);
    if (body == NULL)
        return ctl_bad_text();
    if (opts[1].value != NULL) {
        char *end = NULL;
        errno = 0;
        long long s = strtoll(opts[1].value, &end, 10);
        if (errno != 0 || end == opts[1].value || *end != '\0' || s < 1) {
            json_decref(body);
            fprintf(stderr, "mailyardctl: --expires-in wants a number of seconds\n");
            return CTL_USAGE;
        }
        json_object_set_new(body, "expires_in", json_integer((json_int_t)s));
    }
    if (opts[2].value != NULL &&
        json_object_set_new(body, "expires_at", json_string(opts[2].value)) != 0) {
        json_decref(body);
        return ctl_bad_text();
    }
    int rc = ctl_run(c, CTL_MX, "POST", "/v1/blocks", body, CTL_SHOW_OBJECT);
    json_decref(body);
    return rc;
}

static int blocks_del(ctl *c, int argc, char **argv)
{
    char *pos[1];
    if (ctl_args_parse(argc, argv, NULL, 0, pos, 1) != 1)
        return ctl_usage("block del ID");
    char *path = ctl_path("/v1/blocks/{}", pos[0], NULL);
    if (path == NULL)
        return CTL_ERR;
    int rc = ctl_run(c, CTL_MX, "DELETE", path, NULL, CTL_SHOW_DONE);
    free(path);
    return rc;
}
