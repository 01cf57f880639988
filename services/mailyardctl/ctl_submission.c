/*
 * ctl_submission.c - mailyardctl commands for mx's submission service,
 * over /v1/submission/... of mx (services/mx/mx_api_submission.c,
 * docs/mx.md "Submission"):
 *
 *   submission user add NAME [--password-file F]     POST   /v1/submission/users
 *   submission user list                             GET    /v1/submission/users
 *   submission user del NAME                         DELETE /v1/submission/users/{name}
 *   submission user passwd NAME [--password-file F]  PUT    .../users/{name}/password
 *   submission grant add USER ADDRESS [--kind K]     POST   .../users/{user}/grants
 *   submission grant list USER                       GET    .../users/{user}/grants
 *   submission grant del USER ADDRESS                DELETE .../users/{user}/grants/{addr}
 *   submission cert add NAME USER (--fingerprint HEX | --pem FILE)
 *                                                    POST   /v1/submission/certs
 *   submission cert list                             GET    /v1/submission/certs
 *   submission cert del NAME                         DELETE /v1/submission/certs/{name}
 *
 * Passwords never come from the command line (visible in ps): the first
 * line of --password-file, else of standard input. Owns nothing beyond
 * each call; the password buffer is wiped.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "ctl.h"

#define SUB_PASSWORD_MAX 255
#define SUB_PEM_MAX      (64 * 1024)

static int sub_user(ctl *c, int argc, char **argv);
static int sub_grant(ctl *c, int argc, char **argv);
static int sub_cert(ctl *c, int argc, char **argv);
static int sub_password_read(const char *file, char *out, size_t outlen);
static char *sub_file_read(const char *path, size_t max);
static int sub_user_password(ctl *c, const char *method, const char *name,
                             const char *file);

static const char sub_user_usage[] =
    "submission user add|passwd NAME [--password-file F] | list | del NAME";
static const char sub_grant_usage[] =
    "submission grant add USER ADDRESS [--kind any|envelope|from] | list USER | del USER ADDRESS";
static const char sub_cert_usage[] =
    "submission cert add NAME USER (--fingerprint HEX | --pem FILE) | list | del NAME";

const ctl_cmd ctl_submission_cmds[] = {
    { "submission", "user",  sub_user_usage,  sub_user },
    { "submission", "grant", sub_grant_usage, sub_grant },
    { "submission", "cert",  sub_cert_usage,  sub_cert },
    { NULL, NULL, NULL, NULL },
};

/* The first line of file (or stdin when NULL), without its line end. 0,
 * or -1 after printing the problem. */
static int sub_password_read(const char *file, char *out, size_t outlen)
{
    FILE *f = file != NULL ? fopen(file, "r") : stdin;
    if (f == NULL) {
        fprintf(stderr, "mailyardctl: cannot open %s\n", file);
        return -1;
    }
    int ok = fgets(out, (int)outlen, f) != NULL;
    if (f != stdin)
        fclose(f);
    size_t n = ok ? strcspn(out, "\r\n") : 0;
    if (ok && out[n] == '\0' && n == outlen - 1)
        ok = 0;                                  /* longer than the limit */
    if (ok)
        out[n] = '\0';
    if (!ok || n == 0) {
        fprintf(stderr, "mailyardctl: the password must be one line of 1..%d octets\n",
                SUB_PASSWORD_MAX);
        return -1;
    }
    return 0;
}

static char *sub_file_read(const char *path, size_t max)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        fprintf(stderr, "mailyardctl: cannot open %s\n", path);
        return NULL;
    }
    buf b;
    buf_init(&b, max);
    char chunk[4096];
    size_t n;
    int ok = 1;
    while (ok && (n = fread(chunk, 1, sizeof chunk, f)) > 0)
        ok = buf_append(&b, chunk, n) == 0;
    fclose(f);
    if (!ok) {
        fprintf(stderr, "mailyardctl: %s is too large\n", path);
        buf_release(&b);
        return NULL;
    }
    if (buf_append(&b, "", 0) != 0) {
        buf_release(&b);
        return NULL;
    }
    return buf_steal(&b, NULL);
}

static int sub_user_password(ctl *c, const char *method, const char *name,
                             const char *file)
{
    char pw[SUB_PASSWORD_MAX + 3];
    if (sub_password_read(file, pw, sizeof pw) != 0)
        return CTL_ERR;
    json_t *body = strcmp(method, "POST") == 0
                   ? json_pack("{s:s, s:s}", "name", name, "password", pw)
                   : json_pack("{s:s}", "password", pw);
    memset(pw, 0, sizeof pw);
    if (body == NULL)
        return ctl_bad_text();
    char *path = strcmp(method, "POST") == 0
                 ? ctl_path("/v1/submission/users", NULL)
                 : ctl_path("/v1/submission/users/{}/password", name, NULL);
    int rc = ctl_run(c, CTL_MX, method, path, body, CTL_SHOW_DONE);
    json_decref(body);                 /* jansson does not wipe: short-lived */
    free(path);
    return rc;
}

static int sub_user(ctl *c, int argc, char **argv)
{
    ctl_opt opts[] = { { "--password-file", 1, NULL } };
    char *pos[3];
    int n = ctl_args_parse(argc, argv, opts, 1, pos, 3);
    if (n < 1)
        return ctl_usage(sub_user_usage);
    const char *op = pos[0];
    if (strcmp(op, "list") == 0 && n == 1)
        return ctl_run(c, CTL_MX, "GET", "/v1/submission/users", NULL, CTL_SHOW_LIST);
    if (strcmp(op, "add") == 0 && n == 2)
        return sub_user_password(c, "POST", pos[1], opts[0].value);
    if (strcmp(op, "passwd") == 0 && n == 2)
        return sub_user_password(c, "PUT", pos[1], opts[0].value);
    if (strcmp(op, "del") == 0 && n == 2) {
        char *path = ctl_path("/v1/submission/users/{}", pos[1], NULL);
        int rc = ctl_run(c, CTL_MX, "DELETE", path, NULL, CTL_SHOW_DONE);
        free(path);
        return rc;
    }
    return ctl_usage(sub_user_usage);
}

static int sub_grant(ctl *c, int argc, char **argv)
{
    ctl_opt opts[] = { { "--kind", 1, NULL } };
    char *pos[3];
    int n = ctl_args_parse(argc, argv, opts, 1, pos, 3);
    if (n < 2)
        return ctl_usage(sub_grant_usage);
    const char *op = pos[0];
    char *path = NULL;
    int rc;
    if (strcmp(op, "list") == 0 && n == 2) {
        path = ctl_path("/v1/submission/users/{}/grants", pos[1], NULL);
        rc = ctl_run(c, CTL_MX, "GET", path, NULL, CTL_SHOW_LIST);
    } else if (strcmp(op, "add") == 0 && n == 3) {
        json_t *body = json_pack("{s:s}", "address", pos[2]);
        if (body == NULL)
            return ctl_bad_text();
        if (opts[0].value != NULL &&
            json_object_set_new(body, "kind", json_string(opts[0].value)) != 0) {
            json_decref(body);
            return ctl_bad_text();
        }
        path = ctl_path("/v1/submission/users/{}/grants", pos[1], NULL);
        rc = ctl_run(c, CTL_MX, "POST", path, body, CTL_SHOW_DONE);
        json_decref(body);
    } else if (strcmp(op, "del") == 0 && n == 3) {
        path = ctl_path("/v1/submission/users/{}/grants/{}", pos[1], pos[2], NULL);
        rc = ctl_run(c, CTL_MX, "DELETE", path, NULL, CTL_SHOW_DONE);
    } else {
        return ctl_usage(sub_grant_usage);
    }
    free(path);
    return rc;
}

static int sub_cert(ctl *c, int argc, char **argv)
{
    ctl_opt opts[] = { { "--fingerprint", 1, NULL }, { "--pem", 1, NULL } };
    char *pos[3];
    int n = ctl_args_parse(argc, argv, opts, 2, pos, 3);
    if (n < 1)
        return ctl_usage(sub_cert_usage);
    const char *op = pos[0];
    if (strcmp(op, "list") == 0 && n == 1)
        return ctl_run(c, CTL_MX, "GET", "/v1/submission/certs", NULL, CTL_SHOW_LIST);
    if (strcmp(op, "del") == 0 && n == 2) {
        char *path = ctl_path("/v1/submission/certs/{}", pos[1], NULL);
        int rc = ctl_run(c, CTL_MX, "DELETE", path, NULL, CTL_SHOW_DONE);
        free(path);
        return rc;
    }
    if (strcmp(op, "add") != 0 || n != 3 || (opts[0].value == NULL) == (opts[1].value == NULL))
        return ctl_usage(sub_cert_usage);
    json_t *body = json_pack("{s:s, s:s}", "name", pos[1], "user", pos[2]);
    if (body == NULL)
        return ctl_bad_text();
    int bad;
    if (opts[0].value != NULL) {
        bad = json_object_set_new(body, "fingerprint", json_string(opts[0].value)) != 0;
    } else {
        char *pem = sub_file_read(opts[1].value, SUB_PEM_MAX);
        if (pem == NULL) {
            json_decref(body);
            return CTL_ERR;
        }
        bad = json_object_set_new(body, "pem", json_string(pem)) != 0;
        free(pem);
    }
    if (bad) {
        json_decref(body);
        return ctl_bad_text();
    }
    int rc = ctl_run(c, CTL_MX, "POST", "/v1/submission/certs", body, CTL_SHOW_DONE);
    json_decref(body);
    return rc;
}
