/*
 * ctl_trace.c - mailyardctl trace ID: every event of a message, from
 * acceptance to final delivery, gathered from all five services.
 *
 * Asks GET /v1/trace/{id} (libcommon/trace_api.h) of rewrite, lists,
 * archive, relay (MAILYARD_*_URL, as every command) and mx
 * (MAILYARD_MX_URL, default http://127.0.0.1:9101), merges the events by
 * time ("at", microseconds UTC) and prints one line per event:
 *
 *   AT  SERVICE  EVENT  QUEUE_ID  key=value ...   (the detail, flattened)
 *
 * With --json: {"id": ID, "events": [...merged...], "errors": [{"service",
 * "error"}]}. A service that cannot be asked is reported on stderr (and in
 * "errors"); the others are still printed, and the exit code is 1. No
 * event anywhere: "no trace for ID" on stderr, exit 1.
 *
 * Owns the results of its calls and the merged list, all freed here.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"

#define TRACE_DETAIL_MAX 2000

typedef struct trace_ev {
    json_t *ev;      /* borrowed from the merged array */
    size_t  order;   /* arrival order: ties keep each service's order */
} trace_ev;

static int  trace_cmd(ctl *c, int argc, char **argv);
static int  trace_fetch_mx(ctl *c, const char *path, httpc_result *res);
static void trace_collect(json_t *all, json_t *errors, const char *svc, int rc,
                          httpc_result *res);
static int  trace_cmp(const void *a, const void *b);
static void trace_print(const json_t *ev);
static void trace_detail(const json_t *detail);

const ctl_cmd ctl_trace_cmds[] = {
    { "trace", NULL, "trace MESSAGE_ID|QUEUE_ID", trace_cmd },
    { NULL, NULL, NULL, NULL },
};

static int
trace_cmd(ctl *c, int argc, char **argv)
{
    static const struct { const char *name; enum ctl_service svc; } svcs[] = {
        { "rewrite", CTL_REWRITE }, { "lists", CTL_LISTS },
        { "archive", CTL_ARCHIVE }, { "relay", CTL_RELAY },
    };
    char *pos[1];
    httpc_result res;
    int json_out = c->json, failed = 0;

    if (ctl_args_parse(argc, argv, NULL, 0, pos, 1) != 1)
        return ctl_usage("trace MESSAGE_ID|QUEUE_ID");
    char *path = ctl_path("/v1/trace/{}", pos[0], (char *)NULL);
    if (path == NULL) {
        fprintf(stderr, "mailyardctl: argument too long\n");
        return CTL_ERR;
    }
    json_t *all = json_array(), *errors = json_array();
    c->json = 0;   /* errors of the calls go to stderr, not into our JSON */
    for (size_t i = 0; i < sizeof(svcs) / sizeof(svcs[0]); i++) {
        int rc = ctl_api(c, svcs[i].svc, "GET", path, NULL, &res);
        failed |= rc != CTL_OK;
        trace_collect(all, errors, svcs[i].name, rc, &res);
    }
    int rc = trace_fetch_mx(c, path, &res);
    failed |= rc != CTL_OK;
    trace_collect(all, errors, "mx", rc, &res);
    c->json = json_out;
    free(path);

    size_t n = json_array_size(all);
    trace_ev *v = calloc(n + 1, sizeof(*v));
    if (v == NULL) {
        json_decref(all);
        json_decref(errors);
        fprintf(stderr, "mailyardctl: out of memory\n");
        return CTL_ERR;
    }
    for (size_t i = 0; i < n; i++)
        v[i] = (trace_ev){ json_array_get(all, i), i };
    qsort(v, n, sizeof(*v), trace_cmp);
    json_t *merged = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append(merged, v[i].ev);
    free(v);
    json_decref(all);

    if (json_out) {
        json_t *out = json_pack("{s:s, s:o, s:o}", "id", pos[0], "events", merged,
                                "errors", errors);
        char *s = out != NULL ? json_dumps(out, JSON_COMPACT) : NULL;
        printf("%s\n", s != NULL ? s : "{}");
        free(s);
        json_decref(out);
    } else {
        size_t i;
        json_t *ev;
        json_array_foreach(merged, i, ev)
            trace_print(ev);
        json_decref(merged);
        json_decref(errors);
    }
    if (n == 0 && !failed) {
        fprintf(stderr, "mailyardctl: no trace for %s\n", pos[0]);
        return CTL_ERR;
    }
    return failed ? CTL_ERR : CTL_OK;
}

/* mx is not one of ctl_api's services (it has no admin resources of its
 * own): the same call with the token ctl_api already loaded. */
static int
trace_fetch_mx(ctl *c, const char *path, httpc_result *res)
{
    const char *base = config_get(c->cfg, "MAILYARD_MX_URL", "http://127.0.0.1:9101");
    long timeout = config_get_long(c->cfg, "MAILYARD_CTL_TIMEOUT_MS", 10000);

    memset(res, 0, sizeof(*res));
    if (c->token == NULL)      /* the token could not be read: already reported */
        return CTL_ERR;
    httpc *h = httpc_create(base, c->token, timeout);
    if (h == NULL) {
        fprintf(stderr, "mailyardctl: cannot create an HTTP client\n");
        return CTL_ERR;
    }
    int rc = httpc_request(h, "GET", path, NULL, res);
    httpc_free(h);
    if (rc < 0) {
        fprintf(stderr, "mailyardctl: mx: GET %s\n", res->error);
        httpc_result_free(res);
        return CTL_ERR;
    }
    if (res->status < 200 || res->status >= 300) {
        fprintf(stderr, "mailyardctl: mx: GET %s: HTTP %ld\n", path, res->status);
        httpc_result_free(res);
        return CTL_ERR;
    }
    return CTL_OK;
}

/* Moves the events of one answer into all (or notes the failure). */
static void
trace_collect(json_t *all, json_t *errors, const char *svc, int rc, httpc_result *res)
{
    size_t i;
    json_t *ev;

    if (rc != CTL_OK) {
        json_array_append_new(errors, json_pack("{s:s, s:s}", "service", svc,
                                                "error", "unreachable or error answer"));
        return;
    }
    json_t *events = json_object_get(res->json, "events");
    if (!json_is_array(events)) {
        fprintf(stderr, "mailyardctl: %s: the trace answer has no event list\n", svc);
        json_array_append_new(errors, json_pack("{s:s, s:s}", "service", svc,
                                                "error", "malformed answer"));
    } else {
        json_array_foreach(events, i, ev)
            if (json_is_object(ev) && json_is_string(json_object_get(ev, "at")))
                json_array_append(all, ev);
    }
    httpc_result_free(res);
}

static int
trace_cmp(const void *a, const void *b)
{
    const trace_ev *x = a, *y = b;
    int c = strcmp(json_string_value(json_object_get(x->ev, "at")),
                   json_string_value(json_object_get(y->ev, "at")));
    if (c != 0)
        return c;
    return (x->order > y->order) - (x->order < y->order);
}

static const char *
trace_str(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s != NULL ? s : "-";
}

static void
trace_print(const json_t *ev)
{
    printf("%s  %-7s  %-18s %-12s ", trace_str(ev, "at"), trace_str(ev, "service"),
           trace_str(ev, "event"), trace_str(ev, "queue_id"));
    trace_detail(json_object_get(ev, "detail"));
    putchar('\n');
}

/* The detail flattened to key=value (strings with spaces quoted, arrays of
 * scalars joined with ',', anything else as compact JSON), cut at
 * TRACE_DETAIL_MAX bytes. */
static void
trace_detail(const json_t *detail)
{
    const char *key;
    json_t *v;
    size_t used = 0;

    if (!json_is_object(detail))
        return;
    json_object_foreach((json_t *)detail, key, v) {
        char *s = NULL;
        if (json_is_string(v)) {
            const char *t = json_string_value(v);
            size_t tl = strlen(t) + 3;
            s = malloc(tl);
            if (s != NULL)
                snprintf(s, tl, strpbrk(t, " \t") ? "\"%s\"" : "%s", t);
        } else if (json_is_array(v)) {
            size_t i;
            json_t *e;
            int scalars = 1;
            json_array_foreach(v, i, e)
                scalars &= json_is_string(e) || json_is_number(e);
            if (scalars) {
                size_t cap = 1;
                json_array_foreach(v, i, e)
                    cap += (json_is_string(e) ? strlen(json_string_value(e)) : 24) + 1;
                s = calloc(1, cap);
                size_t off = 0;
                json_array_foreach(v, i, e) {
                    if (s == NULL)
                        break;
                    int w = json_is_string(e)
                        ? snprintf(s + off, cap - off, "%s%s", i ? "," : "",
                                   json_string_value(e))
                        : snprintf(s + off, cap - off, "%s%lld", i ? "," : "",
                                   (long long)json_number_value(e));
                    if (w > 0 && (size_t)w < cap - off)
                        off += (size_t)w;
                }
            }
        }
        if (s == NULL)
            s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        if (s == NULL)
            continue;
        size_t sl = strlen(key) + strlen(s) + 2;
        if (used + sl > TRACE_DETAIL_MAX) {
            printf(" ...");
            free(s);
            return;
        }
        printf(" %s=%s", key, s);
        used += sl;
        free(s);
    }
}
