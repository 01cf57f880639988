/*
 * ctl_migrate.c - "mailyardctl migrate": apply the database migrations with
 * libcommon's runner (migrate.h) to MAILYARD_PG_DSN (default: the `make run`
 * instance), reading the SQL files
 * under MAILYARD_SQL_ROOT (default "."). Needs no token and no service.
 *
 * Owns nothing.
 */
#include <stdio.h>

#include "ctl.h"
#include "migrate.h"

static int migrate_cmd(ctl *c, int argc, char **argv);

const ctl_cmd ctl_migrate_cmds[] = {
    { "migrate", NULL, "migrate", migrate_cmd },
    { NULL, NULL, NULL, NULL },
};

static int
migrate_cmd(ctl *c, int argc, char **argv)
{
    char *pos[1];
    char err[512] = "";
    const char *dsn, *root;
    int n;

    if (ctl_args_parse(argc, argv, NULL, 0, pos, 0) != 0)
        return ctl_usage("migrate");
    dsn = config_get(c->cfg, "MAILYARD_PG_DSN", CONFIG_DEFAULT_PG_DSN);
    root = config_get(c->cfg, "MAILYARD_SQL_ROOT", ".");
    n = migrate_run(dsn, root, err, sizeof(err));
    if (n < 0) {
        fprintf(stderr, "mailyardctl: migrate: %s\n", err[0] ? err : "failed");
        return CTL_ERR;
    }
    if (c->json)
        printf("{\"applied\":%d}\n", n);
    else if (n == 0)
        printf("migrations: up to date\n");
    else
        printf("migrations: applied %d file%s\n", n, n == 1 ? "" : "s");
    return CTL_OK;
}
