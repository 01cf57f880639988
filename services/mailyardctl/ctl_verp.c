/*
 * ctl_verp.c - mailyardctl command for a list's VERP setting
 * (docs/lists.md "VERP and bounce counters"):
 *   list verp LIST on|off|default      PATCH /v1/lists/{addr} (lists)
 * default follows the relay's MAILYARD_RELAY_VERP. The members' bounce
 * counters show in `member ls LIST`.
 *
 * Owns nothing beyond the call's request body and path.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"

static int verp_list(ctl *c, int argc, char **argv);

#define VERP_LIST_USAGE "list verp LIST on|off|default"

const ctl_cmd ctl_verp_cmds[] = {
    { "list", "verp", VERP_LIST_USAGE, verp_list },
    { NULL, NULL, NULL, NULL },
};

static int verp_list(ctl *c, int argc, char **argv)
{
    char *pos[2] = { NULL, NULL };

    if (ctl_args_parse(argc, argv, NULL, 0, pos, 2) != 2)
        return ctl_usage(VERP_LIST_USAGE);
    if (strcmp(pos[1], "on") != 0 && strcmp(pos[1], "off") != 0 &&
        strcmp(pos[1], "default") != 0) {
        fprintf(stderr, "mailyardctl: verp must be on, off or default\n");
        return ctl_usage(VERP_LIST_USAGE);
    }
    json_t *body = json_pack("{s:s}", "verp", pos[1]);
    if (body == NULL)
        return ctl_bad_text();
    char *path = ctl_path("/v1/lists/{}", pos[0], (char *)NULL);
    int rc = ctl_run(c, CTL_LISTS, "PATCH", path, body, CTL_SHOW_OBJECT);
    free(path);
    json_decref(body);
    return rc;
}
