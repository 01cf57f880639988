/*
 * rewrite_api.c - rewrite's HTTP API (docs/api/rewrite.yaml):
 *
 *   GET    /v1/domains                 {"domains":[{"name","created_at"}]}
 *   POST   /v1/domains                 {"name"} -> 201 | 409 conflict
 *   DELETE /v1/domains/{name}          204 | 404
 *   GET    /v1/aliases                 {"aliases":[{"address","targets",...}]}
 *   POST   /v1/aliases                 {"address","targets"} -> 201 | 409 | 422
 *   GET    /v1/aliases/{addr}          200 | 404
 *   PUT    /v1/aliases/{addr}          {"targets"} -> 200 | 404
 *   DELETE /v1/aliases/{addr}          204 | 404
 *   GET    /v1/recipients/{addr}       the RCPT-time classification for mx
 *
 * Authentication, body limits and JSON parsing are done by libcommon's
 * http server; handlers validate fields and values and answer JSON errors.
 * Every handler borrows one pooled database connection for its duration.
 * Input from the request is never trusted: addresses and names are
 * normalised with rewrite_addr.h before they reach SQL (as parameters).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "addr.h"
#include "http.h"
#include "log.h"
#include "rewrite.h"
#include "rewrite_addr.h"
#include "rewrite_store.h"

typedef void (*api_db_fn)(rewrite_state *st, db_conn *c, const http_request *req,
                          http_response *resp);

/* Borrow a connection, run fn, give it back; 503 if none is available. */
static void api_with_db(rewrite_state *st, const http_request *req,
                        http_response *resp, api_db_fn fn)
{
    db_conn *c = db_pool_acquire(st->svc->db, st->db_timeout_ms);
    if (c == NULL) {
        http_reply_error(resp, 503, "database_unavailable", "database unavailable");
        return;
    }
    fn(st, c, req, resp);
    db_pool_release(st->svc->db, c);
}

static void api_db_error(http_response *resp)
{
    http_reply_error(resp, 503, "database_unavailable", "database error");
}

static void api_no_content(http_response *resp)
{
    resp->status = 204;
}

/* ?limit= and ?after= for list calls; -1 after answering 400. */
static int api_page(rewrite_state *st, const http_request *req, http_response *resp,
                    long *limit, const char **after)
{
    const char *l = http_request_query(req, "limit");
    *after = http_request_query(req, "after");
    *limit = st->max_page;
    if (l != NULL) {
        char *end = NULL;
        errno = 0;
        long v = strtol(l, &end, 10);
        if (errno != 0 || end == l || *end != '\0' || v < 1 || v > st->max_page) {
            http_reply_error(resp, 400, "bad_request", "limit must be 1..%ld",
                             st->max_page);
            return -1;
        }
        *limit = v;
    }
    if (*after != NULL && strlen(*after) > REWRITE_ADDR_MAX) {
        http_reply_error(resp, 400, "bad_request", "after is too long");
        return -1;
    }
    return 0;
}

/* Normalises a request address into out; -1 after answering 400. */
static int api_addr(const char *in, char *out, size_t outlen, http_response *resp,
                    const char *field)
{
    const char *why = NULL;
    if (in == NULL || rewrite_addr_normalize(in, out, outlen, &why) != 0) {
        http_reply_error(resp, 400, "invalid_address", "%s: %s", field,
                         in == NULL ? "missing" : why);
        return -1;
    }
    return 0;
}

/* Validates "targets": a non-empty array of addresses, at most the
 * configured number, none equal to self. Returns a new array of the
 * targets as written (case kept: the local part of a foreign address may be
 * case-sensitive), de-duplicated case-insensitively, or NULL after
 * answering 400. */
static json_t *api_targets(rewrite_state *st, const json_t *in, const char *self,
                           http_response *resp)
{
    if (!json_is_array(in) || json_array_size(in) == 0) {
        http_reply_error(resp, 400, "bad_request",
                         "targets must be a non-empty array of addresses");
        return NULL;
    }
    if ((long)json_array_size(in) > st->max_alias_targets) {
        http_reply_error(resp, 400, "too_many_targets", "at most %ld targets",
                         st->max_alias_targets);
        return NULL;
    }
    json_t *out = json_array();
    size_t i;
    json_t *v;
    json_array_foreach(in, i, v) {
        char norm[REWRITE_ADDR_MAX + 1];
        if (!json_is_string(v)) {
            http_reply_error(resp, 400, "bad_request", "targets[%zu] is not a string", i);
            json_decref(out);
            return NULL;
        }
        const char *why = NULL;
        if (rewrite_addr_check(json_string_value(v), norm, sizeof(norm), &why) != 0) {
            http_reply_error(resp, 400, "invalid_address", "targets[%zu]: %s", i, why);
            json_decref(out);
            return NULL;
        }
        if (strcasecmp(norm, self) == 0) {
            http_reply_error(resp, 400, "bad_target", "an alias cannot target itself");
            json_decref(out);
            return NULL;
        }
        int dup = 0;
        size_t j;
        json_t *w;
        json_array_foreach(out, j, w)
            if (strcasecmp(json_string_value(w), norm) == 0)
                dup = 1;
        if (!dup)
            json_array_append_new(out, json_string(norm));
    }
    return out;
}

/* ---- domains ---- */

static void domains_list(rewrite_state *st, db_conn *c, const http_request *req,
                         http_response *resp)
{
    long limit;
    const char *after;
    json_t *out = NULL;
    if (api_page(st, req, resp, &limit, &after) != 0)
        return;
    if (rewrite_store_domain_list(c, after, limit, &out) != 0) {
        api_db_error(resp);
        return;
    }
    http_reply_json(resp, 200, out);
}

static void domains_create(rewrite_state *st, db_conn *c, const http_request *req,
                           http_response *resp)
{
    static const char *const fields[] = { "name", NULL };
    char name[256];
    json_t *out = NULL;
    (void)st;
    if (http_json_check_fields(req, resp, fields, fields) != 0)
        return;
    const char *in = json_string_value(json_object_get(req->json, "name"));
    if (in == NULL || rewrite_addr_domain_normalize(in, name, sizeof(name)) != 0) {
        http_reply_error(resp, 400, "invalid_domain", "name must be a domain name");
        return;
    }
    int rc = rewrite_store_domain_create(c, name, &out);
    if (rc < 0) {
        api_db_error(resp);
        return;
    }
    if (rc == 0) {
        http_reply_error(resp, 409, "conflict", "domain %s exists", name);
        return;
    }
    log_info("domain added", "domain", name);
    http_reply_json(resp, 201, out);
}

static void domains_delete(rewrite_state *st, db_conn *c, const http_request *req,
                           http_response *resp)
{
    char name[256];
    (void)st;
    if (req->nparams < 1 ||
        rewrite_addr_domain_normalize(req->params[0], name, sizeof(name)) != 0) {
        http_reply_error(resp, 404, "not_found", "no such domain");
        return;
    }
    int rc = rewrite_store_domain_delete(c, name);
    if (rc < 0) {
        api_db_error(resp);
        return;
    }
    if (rc == 0) {
        http_reply_error(resp, 404, "not_found", "no such domain");
        return;
    }
    log_info("domain removed", "domain", name);
    api_no_content(resp);
}

/* ---- aliases ---- */

static void aliases_list(rewrite_state *st, db_conn *c, const http_request *req,
                         http_response *resp)
{
    long limit;
    const char *after;
    json_t *out = NULL;
    if (api_page(st, req, resp, &limit, &after) != 0)
        return;
    if (rewrite_store_alias_list(c, after, limit, &out) != 0) {
        api_db_error(resp);
        return;
    }
    http_reply_json(resp, 200, out);
}

static void aliases_create(rewrite_state *st, db_conn *c, const http_request *req,
                           http_response *resp)
{
    static const char *const fields[] = { "address", "targets", NULL };
    char addr[REWRITE_ADDR_MAX + 1];
    json_t *out = NULL;
    if (http_json_check_fields(req, resp, fields, fields) != 0)
        return;
    if (api_addr(json_string_value(json_object_get(req->json, "address")),
                 addr, sizeof(addr), resp, "address") != 0)
        return;
    json_t *targets = api_targets(st, json_object_get(req->json, "targets"), addr, resp);
    if (targets == NULL)
        return;
    int rc = rewrite_store_domain_exists(c, addr_domain(addr));
    if (rc == 0) {
        http_reply_error(resp, 422, "unknown_domain",
                         "the domain of %s is not one of ours", addr);
    } else if (rc > 0) {
        rc = rewrite_store_alias_create(c, addr, targets, &out);
        if (rc == 0)
            http_reply_error(resp, 409, "conflict", "alias %s exists", addr);
        else if (rc > 0) {
            log_info("alias added", "rcpt", addr);
            http_reply_json(resp, 201, out);
        }
    }
    if (rc < 0)
        api_db_error(resp);
    json_decref(targets);
}

static void aliases_get(rewrite_state *st, db_conn *c, const http_request *req,
                        http_response *resp)
{
    char addr[REWRITE_ADDR_MAX + 1];
    json_t *out = NULL;
    (void)st;
    if (api_addr(req->nparams ? req->params[0] : NULL, addr, sizeof(addr), resp,
                 "address") != 0)
        return;
    int rc = rewrite_store_alias_get(c, addr, &out);
    if (rc < 0) {
        api_db_error(resp);
        return;
    }
    if (rc == 0) {
        http_reply_error(resp, 404, "not_found", "no such alias");
        return;
    }
    http_reply_json(resp, 200, out);
}

static void aliases_put(rewrite_state *st, db_conn *c, const http_request *req,
                        http_response *resp)
{
    static const char *const fields[] = { "targets", NULL };
    char addr[REWRITE_ADDR_MAX + 1];
    json_t *out = NULL;
    if (api_addr(req->nparams ? req->params[0] : NULL, addr, sizeof(addr), resp,
                 "address") != 0)
        return;
    if (http_json_check_fields(req, resp, fields, fields) != 0)
        return;
    json_t *targets = api_targets(st, json_object_get(req->json, "targets"), addr, resp);
    if (targets == NULL)
        return;
    int rc = rewrite_store_alias_update(c, addr, targets, &out);
    json_decref(targets);
    if (rc < 0) {
        api_db_error(resp);
        return;
    }
    if (rc == 0) {
        http_reply_error(resp, 404, "not_found", "no such alias");
        return;
    }
    log_info("alias updated", "rcpt", addr);
    http_reply_json(resp, 200, out);
}

static void aliases_delete(rewrite_state *st, db_conn *c, const http_request *req,
                           http_response *resp)
{
    char addr[REWRITE_ADDR_MAX + 1];
    (void)st;
    if (api_addr(req->nparams ? req->params[0] : NULL, addr, sizeof(addr), resp,
                 "address") != 0)
        return;
    int rc = rewrite_store_alias_delete(c, addr);
    if (rc < 0) {
        api_db_error(resp);
        return;
    }
    if (rc == 0) {
        http_reply_error(resp, 404, "not_found", "no such alias");
        return;
    }
    log_info("alias removed", "rcpt", addr);
    api_no_content(resp);
}

/* ---- recipients ---- */

static void recipients_get(rewrite_state *st, db_conn *c, const http_request *req,
                           http_response *resp)
{
    char addr[REWRITE_ADDR_MAX + 1];
    if (api_addr(req->nparams ? req->params[0] : NULL, addr, sizeof(addr), resp,
                 "address") != 0)
        return;
    rewrite_lookup lk = { .db = c, .lists = st->lists };
    rewrite_resolver r;
    rewrite_resolver_init(&r, &lk);
    rewrite_class_result res;
    enum rewrite_err err = rewrite_classify(&r, &st->srs, addr, time(NULL), &res);
    if (err == REWRITE_ERR_DB) {
        api_db_error(resp);
        return;
    }
    if (err == REWRITE_ERR_LISTS) {
        http_reply_error(resp, 503, "lists_unavailable", "the lists service did not answer");
        return;
    }
    switch (res.cls) {
    case REWRITE_SRS_INVALID:
        http_reply_error(resp, 404, "srs_invalid", "invalid SRS address: %s", res.why);
        break;
    case REWRITE_UNKNOWN:
        http_reply_error(resp, 404, "unknown_recipient", "no such recipient");
        break;
    default: {
        json_t *out = json_pack("{s:s,s:s}", "address", addr,
                                "class", rewrite_class_name(res.cls));
        if (res.cls == REWRITE_ALIAS) {
            json_t *t = json_array();
            for (size_t i = 0; i < res.targets.n; i++)
                json_array_append_new(t, json_string(res.targets.v[i]));
            json_object_set_new(out, "targets", t);
        }
        http_reply_json(resp, 200, out);
        break;
    }
    }
    rewrite_class_result_release(&res);
}

/* ---- routing ---- */

#define API_HANDLER(name)                                                     \
    static void api_##name(void *arg, const http_request *req,               \
                           http_response *resp)                               \
    {                                                                         \
        api_with_db(arg, req, resp, name);                                    \
    }

API_HANDLER(domains_list)
API_HANDLER(domains_create)
API_HANDLER(domains_delete)
API_HANDLER(aliases_list)
API_HANDLER(aliases_create)
API_HANDLER(aliases_get)
API_HANDLER(aliases_put)
API_HANDLER(aliases_delete)
API_HANDLER(recipients_get)

int rewrite_api_register(service *svc, rewrite_state *st)
{
    static const struct {
        const char *method, *pattern;
        http_handler h;
    } routes[] = {
        { "GET",    "/v1/domains",      api_domains_list },
        { "POST",   "/v1/domains",      api_domains_create },
        { "DELETE", "/v1/domains/*",    api_domains_delete },
        { "GET",    "/v1/aliases",      api_aliases_list },
        { "POST",   "/v1/aliases",      api_aliases_create },
        { "GET",    "/v1/aliases/*",    api_aliases_get },
        { "PUT",    "/v1/aliases/*",    api_aliases_put },
        { "DELETE", "/v1/aliases/*",    api_aliases_delete },
        { "GET",    "/v1/recipients/*", api_recipients_get },
    };
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
        if (http_route(svc->http, routes[i].method, routes[i].pattern,
                       routes[i].h, st) != 0)
            return -1;
    return 0;
}
