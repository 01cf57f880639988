/*
 * ctl_rewrite.c - mailyardctl domain, alias and SRS commands, over the
 * rewrite service's API (GET/POST /v1/domains, DELETE /v1/domains/{name},
 * GET/POST /v1/aliases, GET/DELETE /v1/aliases/{addr},
 * POST /v1/aliases:import, GET /v1/srs/secrets,
 * POST /v1/srs/secrets/rotate, DELETE /v1/srs/secrets/{id}).
 *
 * "alias import FILE" parses a Postfix virtual table (ctl_virtual.h) and
 * sends it in one import call; parse errors are printed with their line
 * numbers and make the exit code 1 (the good lines are still imported).
 *
 * Owns nothing beyond each call's request body, path and the file text.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "ctl.h"
#include "ctl_virtual.h"

#define CTL_IMPORT_MAX_FILE (64L * 1024 * 1024)

#define CTL_MAX_TARGETS 256

static int domain_add(ctl *c, int argc, char **argv);
static int domain_ls(ctl *c, int argc, char **argv);
static int domain_del(ctl *c, int argc, char **argv);
static int alias_add(ctl *c, int argc, char **argv);
static int alias_ls(ctl *c, int argc, char **argv);
static int alias_show(ctl *c, int argc, char **argv);
static int alias_del(ctl *c, int argc, char **argv);
static int alias_import(ctl *c, int argc, char **argv);
static int srs_ls(ctl *c, int argc, char **argv);
static int srs_rotate(ctl *c, int argc, char **argv);
static int srs_retire(ctl *c, int argc, char **argv);

const ctl_cmd ctl_rewrite_cmds[] = {
    { "domain", "add",  "domain add NAME",             domain_add },
    { "domain", "ls",   "domain ls",                   domain_ls },
    { "domain", "del",  "domain del NAME",             domain_del },
    { "alias",  "add",  "alias add ADDR TARGET...",    alias_add },
    { "alias",  "ls",   "alias ls",                    alias_ls },
    { "alias",  "show", "alias show ADDR",             alias_show },
    { "alias",  "del",  "alias del ADDR",              alias_del },
    { "alias",  "import", "alias import FILE [--dry-run]", alias_import },
    { "srs",    "ls",   "srs ls",                      srs_ls },
    { "srs",    "rotate", "srs rotate",                srs_rotate },
    { "srs",    "retire", "srs retire ID",             srs_retire },
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

/* Reads a whole file (at most CTL_IMPORT_MAX_FILE bytes) into a buf. */
static buf *
file_read(const char *path)
{
    FILE *f = fopen(path, "rb");
    char chunk[65536];
    size_t n;
    buf *b;

    if (f == NULL) {
        fprintf(stderr, "mailyardctl: %s: %s\n", path, strerror(errno));
        return NULL;
    }
    b = buf_create(CTL_IMPORT_MAX_FILE);
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        if (buf_append(b, chunk, n) != 0) {
            fprintf(stderr, "mailyardctl: %s: larger than %ld bytes\n", path,
                    CTL_IMPORT_MAX_FILE);
            break;
        }
    }
    if (ferror(f) || n > 0) {
        if (ferror(f))
            fprintf(stderr, "mailyardctl: %s: read error\n", path);
        fclose(f);
        buf_free(b);
        return NULL;
    }
    fclose(f);
    return b;
}

static void
import_print(const ctl *c, const httpc_result *res, json_t *perrors)
{
    size_t i;
    json_t *e;

    if (c->json) {
        json_t *out = json_deep_copy(res->json);
        if (out != NULL)
            json_object_set(out, "parse_errors", perrors);
        char *s = out ? json_dumps(out, JSON_COMPACT) : NULL;
        if (s != NULL)
            printf("%s\n", s);
        free(s);
        json_decref(out);
        return;
    }
    printf("%screated=%lld updated=%lld unchanged=%lld domains_created=%lld"
           " errors=%zu\n",
           json_is_true(json_object_get(res->json, "dry_run")) ? "(dry run) " : "",
           (long long)json_integer_value(json_object_get(res->json, "created")),
           (long long)json_integer_value(json_object_get(res->json, "updated")),
           (long long)json_integer_value(json_object_get(res->json, "unchanged")),
           (long long)json_integer_value(json_object_get(res->json, "domains_created")),
           json_array_size(json_object_get(res->json, "errors")) +
               json_array_size(perrors));
    json_array_foreach(json_object_get(res->json, "errors"), i, e)
        printf("line %lld: %s: %s\n",
               (long long)json_integer_value(json_object_get(e, "line")),
               json_string_value(json_object_get(e, "code")),
               json_string_value(json_object_get(e, "message")));
}

static int
alias_import(ctl *c, int argc, char **argv)
{
    ctl_opt opts[] = { { "--dry-run", 0, NULL } };
    char *pos[1];
    json_t *perrors = NULL, *entries, *body;
    httpc_result res;
    size_t i;
    json_t *e;
    buf *text;
    int rc;

    if (ctl_args_parse(argc, argv, opts, 1, pos, 1) != 1)
        return ctl_usage("alias import FILE [--dry-run]");
    text = file_read(pos[0]);
    if (text == NULL)
        return CTL_ERR;
    entries = ctl_virtual_parse(text->data, text->len, &perrors);
    buf_free(text);
    json_array_foreach(perrors, i, e)
        fprintf(stderr, "%s:%lld: %s\n", pos[0],
                (long long)json_integer_value(json_object_get(e, "line")),
                json_string_value(json_object_get(e, "message")));
    body = json_pack("{s:o,s:b}", "entries", entries, "dry_run", opts[0].value != NULL);
    if (body == NULL) {
        json_decref(perrors);
        return ctl_bad_text();
    }
    rc = ctl_api(c, CTL_REWRITE, "POST", "/v1/aliases:import", body, &res);
    json_decref(body);
    if (rc == CTL_OK) {
        import_print(c, &res, perrors);
        if (json_array_size(json_object_get(res.json, "errors")) > 0 ||
            json_array_size(perrors) > 0)
            rc = CTL_ERR;
        httpc_result_free(&res);
    }
    json_decref(perrors);
    return rc;
}

static int
srs_ls(ctl *c, int argc, char **argv)
{
    return no_arg(c, argc, argv, "srs ls", "/v1/srs/secrets");
}

static int
srs_rotate(ctl *c, int argc, char **argv)
{
    char *pos[1];

    if (ctl_args_parse(argc, argv, NULL, 0, pos, 0) != 0)
        return ctl_usage("srs rotate");
    return ctl_run(c, CTL_REWRITE, "POST", "/v1/srs/secrets/rotate", NULL, CTL_SHOW_DONE);
}

static int
srs_retire(ctl *c, int argc, char **argv)
{
    return one_arg(c, argc, argv, "srs retire ID", "DELETE", "/v1/srs/secrets/{}",
                   CTL_SHOW_DONE);
}
