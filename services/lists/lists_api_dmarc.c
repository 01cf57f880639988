/*
 * lists_api_dmarc.c - the DMARC mitigation setting of a list through the
 * API (docs/api/lists.yaml):
 *
 *   PATCH /v1/lists/{addr}   {"dmarc_mitigation": "none|munge-from|wrap|
 *                            encode-address", "dmarc_mitigation_always": bool}
 *                            -> 200 with the list | 400 | 404
 *                            (also "verp": "on|off|default", lists_verp.c)
 *
 * POST /v1/lists takes the same two fields (lists_api.c calls
 * lists_api_dmarc_fields). Input is checked strictly: unknown fields,
 * wrong types and unknown modes get 400.
 */
#include <string.h>

#include "dmarc_mitigate.h"
#include "http.h"
#include "log.h"
#include "service.h"
#include "lists.h"

int lists_api_dmarc_fields(const http_request *req, http_response *resp,
                           const char **mode, int *always)
{
    enum dmarc_mitigation m;
    json_t *v = json_object_get(req->json, "dmarc_mitigation");
    json_t *a = json_object_get(req->json, "dmarc_mitigation_always");

    if (v != NULL && (!json_is_string(v) ||
                      dmarc_mitigation_parse(json_string_value(v), &m) != 0)) {
        http_reply_error(resp, 400, "bad_request", "dmarc_mitigation must be none, "
                         "munge-from, wrap or encode-address");
        return -1;
    }
    if (a != NULL && !json_is_boolean(a)) {
        http_reply_error(resp, 400, "bad_request", "dmarc_mitigation_always must be a boolean");
        return -1;
    }
    if (v != NULL)
        *mode = json_string_value(v);
    if (a != NULL)
        *always = json_is_true(a);
    return 0;
}

static void api_list_patch(void *arg, const http_request *req, http_response *resp)
{
    static const char *const allowed[] = { "dmarc_mitigation", "dmarc_mitigation_always",
                                           "verp", NULL };
    static const char *const required[] = { NULL };
    lists_state *st = arg;
    lists_list *l = NULL, *after = NULL;

    if (http_json_check_fields(req, resp, allowed, required) != 0)
        return;
    db_conn *c = lists_api_conn(st, resp);
    if (c == NULL)
        return;
    if (lists_api_find(c, req->params[0], resp, &l) != 0)
        goto out;
    const char *mode = l->dmarc_mitigation;
    int always = l->dmarc_always;
    int verp = l->verp;
    if (lists_api_dmarc_fields(req, resp, &mode, &always) != 0 ||
        lists_verp_field(req, resp, &verp) != 0)
        goto out;
    if (lists_store_set_dmarc(c, l->id, mode, always) != 1 ||
        (verp != l->verp && lists_store_set_verp(c, l->id, verp) != 1) ||
        lists_store_get(c, l->address, &after) != 1) {
        lists_api_db_error(resp, c);
        goto out;
    }
    log_info("list DMARC mitigation set", "list", l->address, "mode", mode);
    http_reply_json(resp, 200, lists_list_to_json(after));
out:
    lists_list_free(l);
    lists_list_free(after);
    lists_api_release(st, c);
}

int lists_api_dmarc_register(service *svc, lists_state *st)
{
    return http_route(svc->http, "PATCH", "/v1/lists/*", api_list_patch, st);
}
