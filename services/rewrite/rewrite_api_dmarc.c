/*
 * rewrite_api_dmarc.c - the DMARC mitigation setting of an alias through
 * rewrite's API (docs/api/rewrite.yaml):
 *
 *   PATCH /v1/aliases/{addr}  {"dmarc_mitigation": "none|munge-from|wrap|
 *                             encode-address", "dmarc_mitigation_always": bool}
 *                             -> 200 with the alias | 400 | 404
 *
 * The alias key is an address or "@domain" (a catch-all), normalised as
 * the other alias routes do. Unknown fields, wrong types and unknown modes
 * get 400.
 */
#include <string.h>

#include "http.h"
#include "log.h"
#include "rewrite.h"
#include "rewrite_addr.h"
#include "rewrite_store.h"

static int dmarc_alias_key(const char *in, char *out, size_t outlen)
{
    const char *why = NULL;
    if (in != NULL && in[0] == '@') {
        if (rewrite_addr_domain_normalize(in + 1, out + 1, outlen - 1) != 0)
            return -1;
        out[0] = '@';
        return 0;
    }
    return in != NULL ? rewrite_addr_normalize(in, out, outlen, &why) : -1;
}

static void api_alias_patch(void *arg, const http_request *req, http_response *resp)
{
    static const char *const allowed[] = { "dmarc_mitigation", "dmarc_mitigation_always",
                                           NULL };
    static const char *const required[] = { NULL };
    rewrite_state *st = arg;
    char addr[REWRITE_ADDR_MAX + 2];
    enum dmarc_mitigation mode;
    int always;

    if (dmarc_alias_key(req->nparams ? req->params[0] : NULL, addr, sizeof(addr)) != 0) {
        http_reply_error(resp, 400, "invalid_address", "address: not a valid alias");
        return;
    }
    if (http_json_check_fields(req, resp, allowed, required) != 0)
        return;
    json_t *v = json_object_get(req->json, "dmarc_mitigation");
    json_t *a = json_object_get(req->json, "dmarc_mitigation_always");
    if (v != NULL && (!json_is_string(v) ||
                      dmarc_mitigation_parse(json_string_value(v), &mode) != 0)) {
        http_reply_error(resp, 400, "bad_request", "dmarc_mitigation must be none, "
                         "munge-from, wrap or encode-address");
        return;
    }
    if (a != NULL && !json_is_boolean(a)) {
        http_reply_error(resp, 400, "bad_request", "dmarc_mitigation_always must be a boolean");
        return;
    }
    db_conn *c = db_pool_acquire(st->svc->db, st->db_timeout_ms);
    if (c == NULL) {
        http_reply_error(resp, 503, "database_unavailable", "database unavailable");
        return;
    }
    json_t *out = NULL;
    enum dmarc_mitigation cur;
    int found = rewrite_dmarc_alias_get(c, addr, &cur, &always);
    if (found > 0) {
        if (v == NULL)
            mode = cur;
        if (a != NULL)
            always = json_is_true(a);
        found = rewrite_dmarc_alias_set(c, addr, dmarc_mitigation_text(mode), always);
    }
    if (found > 0)
        found = rewrite_store_alias_get(c, addr, &out);
    if (found < 0) {
        http_reply_error(resp, 503, "database_unavailable", "database error");
    } else if (found == 0) {
        http_reply_error(resp, 404, "not_found", "no such alias");
    } else {
        log_info("alias DMARC mitigation set", "rcpt", addr,
                 "mode", dmarc_mitigation_text(mode));
        http_reply_json(resp, 200, out);
    }
    db_pool_release(st->svc->db, c);
}

int rewrite_api_dmarc_register(service *svc, rewrite_state *st)
{
    return http_route(svc->http, "PATCH", "/v1/aliases/*", api_alias_patch, st);
}
