/*
 * ctl_relay.c - mailyardctl queue commands (like postqueue, postsuper and
 * qshape), over the relay service's API (docs/api/relay.yaml,
 * docs/queue.md):
 *
 *   queue ls [--state S] [--domain D] [--sender A] [--min-age N]
 *            [--max-age N] [--limit N] [--after ID]   GET /v1/queue?...
 *   queue show QUEUE_ID                  GET /v1/queue/{queue_id}
 *   queue flush [--domain D | QUEUE_ID]  POST /v1/queue/flush
 *   queue hold|release|delete|requeue QUEUE_ID
 *                                        POST /v1/queue/{queue_id}/{action}
 *   queue summary [--all]                GET /v1/queue/summary
 *
 * show prints one line per delivery and an indented line per attempt;
 * summary prints a qshape-like table. --json prints the API's answer.
 * Owns nothing beyond each call's path and result.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "ctl.h"

#define QUEUE_PATH_MAX 4096

static int queue_ls(ctl *c, int argc, char **argv);
static int queue_show(ctl *c, int argc, char **argv);
static int queue_flush(ctl *c, int argc, char **argv);
static int queue_action(ctl *c, int argc, char **argv, const char *action);
static int queue_hold(ctl *c, int argc, char **argv);
static int queue_release(ctl *c, int argc, char **argv);
static int queue_delete(ctl *c, int argc, char **argv);
static int queue_requeue(ctl *c, int argc, char **argv);
static int queue_summary(ctl *c, int argc, char **argv);
static const char *queue_str(const json_t *o, const char *key);

#define QUEUE_LS_USAGE \
    "queue ls [--state S] [--domain D] [--sender A] [--min-age N] [--max-age N] " \
    "[--limit N] [--after ID]"

const ctl_cmd ctl_relay_cmds[] = {
    { "queue", "ls",      QUEUE_LS_USAGE,                        queue_ls },
    { "queue", "show",    "queue show QUEUE_ID",                 queue_show },
    { "queue", "flush",   "queue flush [--domain D | QUEUE_ID]", queue_flush },
    { "queue", "hold",    "queue hold QUEUE_ID",                 queue_hold },
    { "queue", "release", "queue release QUEUE_ID",              queue_release },
    { "queue", "delete",  "queue delete QUEUE_ID",               queue_delete },
    { "queue", "requeue", "queue requeue QUEUE_ID",              queue_requeue },
    { "queue", "summary", "queue summary [--all]",               queue_summary },
    { NULL, NULL, NULL, NULL },
};

static int
queue_ls(ctl *c, int argc, char **argv)
{
    ctl_opt opts[] = {
        { "--state", 1, NULL }, { "--domain", 1, NULL }, { "--sender", 1, NULL },
        { "--min-age", 1, NULL }, { "--max-age", 1, NULL }, { "--limit", 1, NULL },
        { "--after", 1, NULL },
    };
    static const char *const keys[] = {
        "state", "domain", "sender", "min_age", "max_age", "limit", "after",
    };
    char *pos[1];
    buf b;
    int rc = CTL_ERR, sep = '?';

    if (ctl_args_parse(argc, argv, opts, sizeof(opts) / sizeof(opts[0]), pos, 0) != 0)
        return ctl_usage(QUEUE_LS_USAGE);
    buf_init(&b, QUEUE_PATH_MAX);
    if (buf_append_str(&b, "/v1/queue") < 0)
        goto out;
    for (size_t i = 0; i < sizeof(opts) / sizeof(opts[0]); i++) {
        if (opts[i].value == NULL)
            continue;
        char *esc = httpc_escape(opts[i].value);
        int bad = esc == NULL || buf_printf(&b, "%c%s=%s", sep, keys[i], esc) < 0;
        free(esc);
        if (bad) {
            fprintf(stderr, "mailyardctl: argument too long\n");
            goto out;
        }
        sep = '&';
    }
    char *path = buf_steal(&b, NULL);
    rc = ctl_run(c, CTL_RELAY, "GET", path, NULL, CTL_SHOW_LIST);
    free(path);
out:
    buf_release(&b);
    return rc;
}

static int
queue_show(ctl *c, int argc, char **argv)
{
    char *pos[1], *path;
    httpc_result res;
    size_t i, j;
    json_t *d, *a;

    if (ctl_args_parse(argc, argv, NULL, 0, pos, 1) != 1)
        return ctl_usage("queue show QUEUE_ID");
    path = ctl_path("/v1/queue/{}", pos[0], (char *)NULL);
    int rc = ctl_api(c, CTL_RELAY, "GET", path, NULL, &res);
    free(path);
    if (rc != CTL_OK)
        return rc;
    if (c->json || !json_is_array(json_object_get(res.json, "deliveries"))) {
        ctl_print(c, &res, CTL_SHOW_OBJECT);
        httpc_result_free(&res);
        return CTL_OK;
    }
    printf("queue_id: %s\n", queue_str(res.json, "queue_id"));
    json_array_foreach(json_object_get(res.json, "deliveries"), i, d) {
        printf("%s  from=<%s>  %s  attempts=%lld", queue_str(d, "rcpt"),
               queue_str(d, "mail_from"), queue_str(d, "state"),
               (long long)json_integer_value(json_object_get(d, "attempts")));
        if (json_is_string(json_object_get(d, "next_attempt_at")))
            printf("  next=%s", queue_str(d, "next_attempt_at"));
        putchar('\n');
        json_array_foreach(json_object_get(d, "history"), j, a) {
            printf("    %s  %-9s %s", queue_str(a, "at"), queue_str(a, "result"),
                   queue_str(a, "host"));
            if (json_is_string(json_object_get(a, "tls_version")))
                printf("  tls=%s %s", queue_str(a, "tls_version"), queue_str(a, "tls_cipher"));
            printf("  \"%s\"\n", queue_str(a, "reply"));
        }
    }
    httpc_result_free(&res);
    return CTL_OK;
}

static int
queue_flush(ctl *c, int argc, char **argv)
{
    ctl_opt opts[] = { { "--domain", 1, NULL } };
    char *pos[1];
    json_t *body;

    int npos = ctl_args_parse(argc, argv, opts, 1, pos, 1);
    if (npos < 0 || (npos == 1 && opts[0].value != NULL))
        return ctl_usage("queue flush [--domain D | QUEUE_ID]");
    if (npos == 1)
        body = json_pack("{s:s}", "queue_id", pos[0]);
    else if (opts[0].value != NULL)
        body = json_pack("{s:s}", "domain", opts[0].value);
    else
        body = json_object();
    if (body == NULL)
        return ctl_bad_text();
    int rc = ctl_run(c, CTL_RELAY, "POST", "/v1/queue/flush", body, CTL_SHOW_DONE);
    json_decref(body);
    return rc;
}

static int
queue_action(ctl *c, int argc, char **argv, const char *action)
{
    char *pos[1], usage[64];

    if (ctl_args_parse(argc, argv, NULL, 0, pos, 1) != 1) {
        snprintf(usage, sizeof(usage), "queue %s QUEUE_ID", action);
        return ctl_usage(usage);
    }
    char *path = ctl_path("/v1/queue/{}/{}", pos[0], action, (char *)NULL);
    int rc = ctl_run(c, CTL_RELAY, "POST", path, NULL, CTL_SHOW_DONE);
    free(path);
    return rc;
}

static int
queue_hold(ctl *c, int argc, char **argv)
{
    return queue_action(c, argc, argv, "hold");
}

static int
queue_release(ctl *c, int argc, char **argv)
{
    return queue_action(c, argc, argv, "release");
}

static int
queue_delete(ctl *c, int argc, char **argv)
{
    return queue_action(c, argc, argv, "delete");
}

static int
queue_requeue(ctl *c, int argc, char **argv)
{
    return queue_action(c, argc, argv, "requeue");
}

/* qshape-like: one line for the total and one per domain with queued
 * rows (every domain with --all): queued rows, counts per age bucket, then
 * the state counts. */
static int
queue_summary(ctl *c, int argc, char **argv)
{
    static const char *const states[] = { "pending", "deferred", "held", "delivered",
                                          "bounced", "deleted" };
    ctl_opt opts[] = { { "--all", 0, NULL } };
    char *pos[1];
    httpc_result res;
    size_t i, k;
    json_t *d, *v;

    if (ctl_args_parse(argc, argv, opts, 1, pos, 0) != 0)
        return ctl_usage("queue summary [--all]");
    int rc = ctl_api(c, CTL_RELAY, "GET", "/v1/queue/summary", NULL, &res);
    if (rc != CTL_OK)
        return rc;
    if (c->json || !json_is_object(json_object_get(res.json, "total"))) {
        ctl_print(c, &res, CTL_SHOW_OBJECT);
        httpc_result_free(&res);
        return CTL_OK;
    }
    printf("%-32s %7s", "domain", "queued");
    json_array_foreach(json_object_get(res.json, "buckets"), k, v)
        printf(" %9s", json_string_value(v) ? json_string_value(v) : "?");
    for (k = 0; k < sizeof(states) / sizeof(states[0]); k++)
        printf(" %9s", states[k]);
    putchar('\n');
    json_t *total = json_object_get(res.json, "total");
    json_object_set_new(total, "domain", json_string("TOTAL"));
    for (i = 0; ; i++) {
        d = i == 0 ? total : json_array_get(json_object_get(res.json, "domains"), i - 1);
        if (d == NULL)
            break;
        if (i > 0 && opts[0].value == NULL &&
            json_integer_value(json_object_get(d, "queued")) == 0)
            continue;
        printf("%-32s %7lld", queue_str(d, "domain"),
               (long long)json_integer_value(json_object_get(d, "queued")));
        json_array_foreach(json_object_get(d, "ages"), k, v)
            printf(" %9lld", (long long)json_integer_value(v));
        for (k = 0; k < sizeof(states) / sizeof(states[0]); k++)
            printf(" %9lld", (long long)json_integer_value(
                       json_object_get(json_object_get(d, "states"), states[k])));
        putchar('\n');
    }
    httpc_result_free(&res);
    return CTL_OK;
}

static const char *
queue_str(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s != NULL ? s : "-";
}
