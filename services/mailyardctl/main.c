/*
 * main.c - mailyardctl: the operator command line (docs/mailyardctl.md).
 *
 * Reads the global options (--json, --token-file F, --help) wherever they
 * appear, then looks "GROUP [VERB]" up in the command tables of the
 * resource files and runs the command. Output is plain text on stdout and
 * errors on stderr (no JSON logging: this is an interactive tool).
 *
 * Owns: the ctl context (config, token) for the life of the process.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "xalloc.h"

static const ctl_cmd *const ctl_tables[] = {
    ctl_migrate_cmds, ctl_rewrite_cmds, ctl_lists_cmds, ctl_archive_cmds,
    ctl_relay_cmds, ctl_trace_cmds, ctl_dkim_cmds, ctl_checkauth_cmds,
    ctl_dkimkeys_cmds, ctl_blocks_cmds, ctl_tlsrpt_cmds, ctl_dmarc_cmds,
    ctl_submission_cmds, ctl_verp_cmds, NULL,
};

static void usage_all(FILE *out);
static const ctl_cmd *cmd_find(const char *group, const char *verb, int *group_known);
static void ctl_cleanup(ctl *c);

int
main(int argc, char **argv)
{
    ctl c = { 0 };
    char **args = xcalloc((size_t)argc + 1, sizeof(char *));
    int nargs = 0, rc, group_known = 0;
    const ctl_cmd *cmd;
    char err[256];

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0) {
            c.json = 1;
        } else if (strcmp(argv[i], "--token-file") == 0) {
            if (i + 1 >= argc) {
                fprintf(stderr, "mailyardctl: --token-file needs a value\n");
                free(args);
                return CTL_USAGE;
            }
            c.token_file = argv[++i];
        } else if (strncmp(argv[i], "--token-file=", 13) == 0) {
            c.token_file = argv[i] + 13;
        } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage_all(stdout);
            free(args);
            return CTL_OK;
        } else {
            args[nargs++] = argv[i];
        }
    }
    if (nargs == 0) {
        usage_all(stderr);
        free(args);
        return CTL_USAGE;
    }
    cmd = cmd_find(args[0], nargs > 1 ? args[1] : NULL, &group_known);
    if (cmd == NULL) {
        if (group_known)
            fprintf(stderr, "mailyardctl: %s: unknown or missing subcommand\n", args[0]);
        else
            fprintf(stderr, "mailyardctl: unknown command \"%s\"\n", args[0]);
        usage_all(stderr);
        free(args);
        return CTL_USAGE;
    }
    c.cfg = config_load(err, sizeof(err));
    if (c.cfg == NULL) {
        fprintf(stderr, "mailyardctl: configuration: %s\n", err);
        free(args);
        return CTL_ERR;
    }
    if (cmd->verb == NULL)
        rc = cmd->fn(&c, nargs - 1, args + 1);
    else
        rc = cmd->fn(&c, nargs - 2, args + 2);
    ctl_cleanup(&c);
    free(args);
    return rc;
}

static const ctl_cmd *
cmd_find(const char *group, const char *verb, int *group_known)
{
    for (size_t t = 0; ctl_tables[t] != NULL; t++) {
        for (const ctl_cmd *cmd = ctl_tables[t]; cmd->group != NULL; cmd++) {
            if (strcmp(cmd->group, group) != 0)
                continue;
            *group_known = 1;
            if (cmd->verb == NULL)
                return cmd;
            if (verb != NULL && strcmp(cmd->verb, verb) == 0)
                return cmd;
        }
    }
    return NULL;
}

static void
usage_all(FILE *out)
{
    fprintf(out, "usage: mailyardctl [--json] [--token-file FILE] COMMAND ...\n\n"
                 "commands:\n");
    for (size_t t = 0; ctl_tables[t] != NULL; t++)
        for (const ctl_cmd *cmd = ctl_tables[t]; cmd->group != NULL; cmd++)
            fprintf(out, "  %s\n", cmd->usage);
    fprintf(out, "\nSee docs/mailyardctl.md for the environment variables.\n");
}

static void
ctl_cleanup(ctl *c)
{
    if (c->token != NULL) {
        explicit_bzero(c->token, strlen(c->token));
        free(c->token);
        c->token = NULL;
    }
    config_free(c->cfg);
    c->cfg = NULL;
}
