/*
 * ctl_api.c - mailyardctl's calls to the services' admin APIs.
 *
 * Owns: the admin token (read once from --token-file, else
 * MAILYARD_ADMIN_TOKEN_FILE, else ./var/admin-token; stored in the ctl
 * context and wiped at exit) and one httpc per call.
 *
 * Service base URLs: MAILYARD_REWRITE_URL (http://127.0.0.1:9102),
 * MAILYARD_LISTS_URL (:9103), MAILYARD_ARCHIVE_URL (:9104),
 * MAILYARD_RELAY_URL (:9105), MAILYARD_MX_URL (:9101); timeout MAILYARD_CTL_TIMEOUT_MS (10000).
 *
 * Errors: a non-2xx answer prints "mailyardctl: <code>: <message> (HTTP n)"
 * on stderr from the API's {"error":{...}} object (or the status alone when
 * the answer is not such an object); a transport error prints curl's text.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "ctl.h"
#include "xalloc.h"

#define CTL_TOKEN_MAX 4096
#define CTL_PATH_MAX  8192

static const struct {
    const char *key;
    const char *def;
} ctl_service_urls[] = {
    [CTL_REWRITE] = { "MAILYARD_REWRITE_URL", "http://127.0.0.1:9102" },
    [CTL_LISTS]   = { "MAILYARD_LISTS_URL",   "http://127.0.0.1:9103" },
    [CTL_ARCHIVE] = { "MAILYARD_ARCHIVE_URL", "http://127.0.0.1:9104" },
    [CTL_RELAY]   = { "MAILYARD_RELAY_URL",   "http://127.0.0.1:9105" },
    [CTL_MX]      = { "MAILYARD_MX_URL",      "http://127.0.0.1:9101" },
};

static int token_load(ctl *c);

char *
ctl_path(const char *tmpl, ...)
{
    va_list ap;
    buf b;
    const char *p = tmpl;

    buf_init(&b, CTL_PATH_MAX);
    va_start(ap, tmpl);
    while (*p != '\0') {
        const char *hole = strstr(p, "{}");
        if (hole == NULL) {
            if (buf_append_str(&b, p) < 0)
                goto toolong;
            break;
        }
        if (buf_append(&b, p, (size_t)(hole - p)) < 0)
            goto toolong;
        const char *arg = va_arg(ap, const char *);
        char *esc = httpc_escape(arg ? arg : "");
        if (esc == NULL || buf_append_str(&b, esc) < 0) {
            free(esc);
            goto toolong;
        }
        free(esc);
        p = hole + 2;
    }
    va_end(ap);
    return buf_steal(&b, NULL);
toolong:
    va_end(ap);
    buf_release(&b);
    return NULL;
}

int
ctl_api(ctl *c, enum ctl_service svc, const char *method, const char *path,
        const json_t *body, httpc_result *res)
{
    const char *base = config_get(c->cfg, ctl_service_urls[svc].key,
                                  ctl_service_urls[svc].def);
    long timeout = config_get_long(c->cfg, "MAILYARD_CTL_TIMEOUT_MS", 10000);
    httpc *h;
    json_t *err;
    const char *code, *msg;

    memset(res, 0, sizeof(*res));
    if (path == NULL) {
        fprintf(stderr, "mailyardctl: argument too long\n");
        return CTL_ERR;
    }
    if (token_load(c) < 0)
        return CTL_ERR;
    h = httpc_create(base, c->token, timeout);
    if (h == NULL) {
        fprintf(stderr, "mailyardctl: cannot create an HTTP client\n");
        return CTL_ERR;
    }
    if (httpc_request(h, method, path, body, res) < 0) {
        fprintf(stderr, "mailyardctl: %s %s\n", method, res->error);
        httpc_result_free(res);
        httpc_free(h);
        return CTL_ERR;
    }
    httpc_free(h);
    if (res->status >= 200 && res->status < 300)
        return CTL_OK;
    if (c->json && res->body != NULL && res->body[0] != '\0')
        printf("%s\n", res->body);
    err = json_object_get(res->json, "error");
    code = json_string_value(json_object_get(err, "code"));
    msg = json_string_value(json_object_get(err, "message"));
    if (code != NULL)
        fprintf(stderr, "mailyardctl: %s: %s (HTTP %ld)\n", code, msg ? msg : "",
                res->status);
    else
        fprintf(stderr, "mailyardctl: %s %s: HTTP %ld\n", method, path, res->status);
    httpc_result_free(res);
    return CTL_ERR;
}

int
ctl_run(ctl *c, enum ctl_service svc, const char *method, const char *path,
        const json_t *body, enum ctl_show show)
{
    httpc_result res;
    int rc = ctl_api(c, svc, method, path, body, &res);

    if (rc != CTL_OK)
        return rc;
    ctl_print(c, &res, show);
    httpc_result_free(&res);
    return CTL_OK;
}

/* Reads the token file once; strips trailing white space. */
static int
token_load(ctl *c)
{
    const char *path = c->token_file;
    char tmp[CTL_TOKEN_MAX + 1];
    size_t n;
    FILE *f;

    if (c->token != NULL)
        return 0;
    if (path == NULL)
        path = config_get(c->cfg, "MAILYARD_ADMIN_TOKEN_FILE", "./var/admin-token");
    f = fopen(path, "r");
    if (f == NULL) {
        fprintf(stderr, "mailyardctl: cannot read the admin token file %s: %s\n",
                path, strerror(errno));
        return -1;
    }
    n = fread(tmp, 1, sizeof(tmp), f);
    fclose(f);
    if (n > CTL_TOKEN_MAX || memchr(tmp, '\0', n) != NULL) {
        explicit_bzero(tmp, sizeof(tmp));
        fprintf(stderr, "mailyardctl: the admin token file %s is not a token\n", path);
        return -1;
    }
    while (n > 0 && (tmp[n - 1] == '\n' || tmp[n - 1] == '\r' ||
                     tmp[n - 1] == ' ' || tmp[n - 1] == '\t'))
        n--;
    tmp[n] = '\0';
    if (n == 0) {
        fprintf(stderr, "mailyardctl: the admin token file %s is empty\n", path);
        return -1;
    }
    c->token = xstrdup(tmp);
    explicit_bzero(tmp, sizeof(tmp));
    return 0;
}
