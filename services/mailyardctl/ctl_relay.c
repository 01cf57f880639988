/*
 * ctl_relay.c - mailyardctl queue commands, over the relay service's API:
 * GET /v1/queue?state=S, GET /v1/queue/{queue_id}.
 *
 * Owns nothing beyond each call's path.
 */
#include <stdio.h>
#include <stdlib.h>

#include "ctl.h"

static int queue_ls(ctl *c, int argc, char **argv);
static int queue_show(ctl *c, int argc, char **argv);

const ctl_cmd ctl_relay_cmds[] = {
    { "queue", "ls",   "queue ls [--state S]",  queue_ls },
    { "queue", "show", "queue show QUEUE_ID",   queue_show },
    { NULL, NULL, NULL, NULL },
};

static int
queue_ls(ctl *c, int argc, char **argv)
{
    ctl_opt opts[] = { { "--state", 1, NULL } };
    char *pos[1], *path;
    int rc;

    if (ctl_args_parse(argc, argv, opts, 1, pos, 0) != 0)
        return ctl_usage("queue ls [--state S]");
    if (opts[0].value == NULL)
        return ctl_run(c, CTL_RELAY, "GET", "/v1/queue", NULL, CTL_SHOW_LIST);
    path = ctl_path("/v1/queue?state={}", opts[0].value, (char *)NULL);
    rc = ctl_run(c, CTL_RELAY, "GET", path, NULL, CTL_SHOW_LIST);
    free(path);
    return rc;
}

static int
queue_show(ctl *c, int argc, char **argv)
{
    char *pos[1], *path;
    int rc;

    if (ctl_args_parse(argc, argv, NULL, 0, pos, 1) != 1)
        return ctl_usage("queue show QUEUE_ID");
    path = ctl_path("/v1/queue/{}", pos[0], (char *)NULL);
    rc = ctl_run(c, CTL_RELAY, "GET", path, NULL, CTL_SHOW_OBJECT);
    free(path);
    return rc;
}
