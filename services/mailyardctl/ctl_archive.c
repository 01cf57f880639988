/*
 * ctl_archive.c - mailyardctl archive commands, over the archive service's
 * API: GET /v1/lists/{addr}/messages?page=N, GET /v1/messages/{id}.
 *
 * "archive show ID --raw" prints the message's "raw" field (the original
 * bytes as archived) exactly, instead of its fields.
 *
 * Owns nothing beyond each call's path and result.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"

static int archive_ls(ctl *c, int argc, char **argv);
static int archive_show(ctl *c, int argc, char **argv);

const ctl_cmd ctl_archive_cmds[] = {
    { "archive", "ls",   "archive ls LIST [--page N]", archive_ls },
    { "archive", "show", "archive show ID [--raw]",    archive_show },
    { NULL, NULL, NULL, NULL },
};

static int
archive_ls(ctl *c, int argc, char **argv)
{
    ctl_opt opts[] = { { "--page", 1, NULL } };
    char *pos[1], *path, *full;
    const char *page;
    size_t len;
    int rc;

    if (ctl_args_parse(argc, argv, opts, 1, pos, 1) != 1)
        return ctl_usage("archive ls LIST [--page N]");
    page = opts[0].value;
    if (page != NULL && (page[0] == '\0' || strlen(page) > 9 ||
                         strspn(page, "0123456789") != strlen(page))) {
        fprintf(stderr, "mailyardctl: --page must be a number\n");
        return ctl_usage("archive ls LIST [--page N]");
    }
    path = ctl_path("/v1/lists/{}/messages", pos[0], (char *)NULL);
    if (path == NULL || page == NULL) {
        rc = ctl_run(c, CTL_ARCHIVE, "GET", path, NULL, CTL_SHOW_LIST);
        free(path);
        return rc;
    }
    len = strlen(path) + strlen(page) + 8;
    full = malloc(len);
    if (full == NULL) {
        free(path);
        fprintf(stderr, "mailyardctl: out of memory\n");
        return CTL_ERR;
    }
    snprintf(full, len, "%s?page=%s", path, page);
    rc = ctl_run(c, CTL_ARCHIVE, "GET", full, NULL, CTL_SHOW_LIST);
    free(full);
    free(path);
    return rc;
}

static int
archive_show(ctl *c, int argc, char **argv)
{
    ctl_opt opts[] = { { "--raw", 0, NULL } };
    char *pos[1], *path;
    httpc_result res;
    const json_t *raw;
    int rc;

    if (ctl_args_parse(argc, argv, opts, 1, pos, 1) != 1)
        return ctl_usage("archive show ID [--raw]");
    path = ctl_path("/v1/messages/{}", pos[0], (char *)NULL);
    if (opts[0].value == NULL) {
        rc = ctl_run(c, CTL_ARCHIVE, "GET", path, NULL, CTL_SHOW_OBJECT);
        free(path);
        return rc;
    }
    rc = ctl_api(c, CTL_ARCHIVE, "GET", path, NULL, &res);
    free(path);
    if (rc != CTL_OK)
        return rc;
    raw = json_object_get(res.json, "raw");
    if (json_is_string(raw)) {
        fwrite(json_string_value(raw), 1, json_string_length(raw), stdout);
    } else if (res.json == NULL && res.body != NULL) {
        fputs(res.body, stdout);          /* the API sent the raw message */
    } else {
        fprintf(stderr, "mailyardctl: the archive answer has no \"raw\" field\n");
        rc = CTL_ERR;
    }
    httpc_result_free(&res);
    return rc;
}
