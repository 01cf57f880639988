/*
 * ctl_tlsrpt.c - mailyardctl TLS-RPT commands (RFC 8460), over the relay
 * service's API (docs/api/relay.yaml, docs/relay.md "TLS-RPT"):
 *
 *   relay tls-report send [--date YYYY-MM-DD] [--force]
 *                               POST /v1/tls-reports/send (default: yesterday)
 *   relay tls-report show DOMAIN [--date YYYY-MM-DD]
 *                               GET /v1/tls-reports?date=D&domain=X (a preview)
 *
 * send prints one line per domain (state, rua, detail); show prints the
 * report JSON. Owns nothing beyond each call's body and result.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "xalloc.h"

#define TLSRPT_USAGE "relay tls-report send [--date YYYY-MM-DD] [--force] | " \
                     "show DOMAIN [--date YYYY-MM-DD]"

static int tlsrpt_send(ctl *c, int argc, char **argv);
static int tlsrpt_show(ctl *c, int argc, char **argv);
static int tlsrpt_cmd(ctl *c, int argc, char **argv);

const ctl_cmd ctl_tlsrpt_cmds[] = {
    { "relay", "tls-report", TLSRPT_USAGE, tlsrpt_cmd },
    { NULL, NULL, NULL, NULL },
};

static int tlsrpt_cmd(ctl *c, int argc, char **argv)
{
    if (argc >= 1 && strcmp(argv[0], "send") == 0)
        return tlsrpt_send(c, argc - 1, argv + 1);
    if (argc >= 1 && strcmp(argv[0], "show") == 0)
        return tlsrpt_show(c, argc - 1, argv + 1);
    return ctl_usage(TLSRPT_USAGE);
}

static int tlsrpt_send(ctl *c, int argc, char **argv)
{
    ctl_opt opts[] = { { "--date", 1, NULL }, { "--force", 0, NULL } };
    char *pos[1];
    httpc_result res;

    if (ctl_args_parse(argc, argv, opts, 2, pos, 0) != 0)
        return ctl_usage(TLSRPT_USAGE);
    json_t *body = json_object();
    if (opts[0].value != NULL && json_object_set_new(body, "date",
                                                     json_string(opts[0].value)) != 0) {
        json_decref(body);
        return ctl_bad_text();
    }
    if (opts[1].value != NULL)
        json_object_set_new(body, "force", json_true());
    int rc = ctl_api(c, CTL_RELAY, "POST", "/v1/tls-reports/send", body, &res);
    json_decref(body);
    if (rc != CTL_OK)
        return rc;
    if (c->json) {
        ctl_print(c, &res, CTL_SHOW_OBJECT);
    } else {
        json_t *reports = json_object_get(res.json, "reports"), *r;
        size_t i;
        if (json_array_size(reports) == 0)
            printf("no TLS sessions to report for %s\n",
                   json_string_value(json_object_get(res.json, "date")));
        json_array_foreach(reports, i, r)
            printf("%s %s %s %s\n", json_string_value(json_object_get(r, "domain")),
                   json_string_value(json_object_get(r, "state")),
                   json_string_value(json_object_get(r, "report_id")),
                   json_string_value(json_object_get(r, "detail")));
    }
    httpc_result_free(&res);
    return CTL_OK;
}

static int tlsrpt_show(ctl *c, int argc, char **argv)
{
    ctl_opt opts[] = { { "--date", 1, NULL } };
    char *pos[1];
    httpc_result res;

    if (ctl_args_parse(argc, argv, opts, 1, pos, 1) != 1)
        return ctl_usage(TLSRPT_USAGE);
    char *path = opts[0].value != NULL
        ? ctl_path("/v1/tls-reports?domain={}&date={}", pos[0], opts[0].value, NULL)
        : ctl_path("/v1/tls-reports?domain={}", pos[0], NULL);
    int rc = ctl_api(c, CTL_RELAY, "GET", path, NULL, &res);
    free(path);
    if (rc != CTL_OK)
        return rc;
    char *s = json_dumps(res.json, JSON_INDENT(2));
    if (s != NULL)
        printf("%s\n", s);
    free(s);
    httpc_result_free(&res);
    return CTL_OK;
}
