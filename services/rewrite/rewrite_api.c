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
 *   POST   /v1/aliases:import          {"entries":[...],"dry_run"} -> counts
 *   GET    /v1/recipients/{addr}       the RCPT-time classification for mx
 *   GET    /v1/srs/secrets             {"secrets":[{"id","created_at",...}]}
 *   POST   /v1/srs/secrets/rotate      201 {"id","created_at","signing"}
 *   DELETE /v1/srs/secrets/{id}        204 | 404 | 409 last_secret
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
#include "rewrite_secrets.h"
#include "rewrite_store.h"
#include "xalloc.h"

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

/* Normalises an alias key: an address, or "@domain" for a catch-all.
 * 0, or -1 with a static reason in *why. */
static int api_alias_key(const char *in, char *out, size_t outlen, const char **why)
{
    if (in != NULL && in[0] == '@') {
        if (rewrite_addr_domain_normalize(in + 1, out + 1, outlen - 1) != 0) {
            *why = "not a catch-all \"@domain\" with a valid domain";
            return -1;
        }
        out[0] = '@';
        return 0;
    }
    if (in == NULL) {
        *why = "missing";
        return -1;
    }
    return rewrite_addr_normalize(in, out, outlen, why);
}

/* Normalises an alias key from the request into out; -1 after 400. */
static int api_alias_key(const char *in, char *out, size_t outlen, const char **why);
static int api_alias(const char *in, char *out, size_t outlen, http_response *resp)
{
    const char *why = NULL;
    if (api_alias_key(in, out, outlen, &why) != 0) {
        http_reply_error(resp, 400, "invalid_address", "address: %s", why);
        return -1;
    }
    return 0;
}

/* Validates "targets": a non-empty array of addresses, at most the
 * configured number, none equal to self. Returns a new array of the
 * targets as written (case kept: the local part of a foreign address may be
 * case-sensitive), de-duplicated case-insensitively, or NULL with the
 * problem in err (*code: a stable error code). */
static json_t *api_targets_check(rewrite_state *st, const json_t *in, const char *self,
                                 const char **code, char *err, size_t errlen)
{
    *code = "bad_request";
    if (!json_is_array(in) || json_array_size(in) == 0) {
        snprintf(err, errlen, "targets must be a non-empty array of addresses");
        return NULL;
    }
    if ((long)json_array_size(in) > st->max_alias_targets) {
        *code = "too_many_targets";
        snprintf(err, errlen, "at most %ld targets", st->max_alias_targets);
        return NULL;
    }
    json_t *out = json_array();
    size_t i;
    json_t *v;
    json_array_foreach(in, i, v) {
        char norm[REWRITE_ADDR_MAX + 1];
        const char *why = NULL;
        if (!json_is_string(v)) {
            snprintf(err, errlen, "targets[%zu] is not a string", i);
        } else if (rewrite_addr_check(json_string_value(v), norm, sizeof(norm), &why) != 0) {
            *code = "invalid_address";
            snprintf(err, errlen, "targets[%zu]: %s", i, why);
        } else if (strcasecmp(norm, self) == 0) {
            *code = "bad_target";
            snprintf(err, errlen, "an alias cannot target itself");
        } else {
            int dup = 0;
            size_t j;
            json_t *w;
            json_array_foreach(out, j, w)
                if (strcasecmp(json_string_value(w), norm) == 0)
                    dup = 1;
            if (!dup)
                json_array_append_new(out, json_string(norm));
            continue;
        }
        json_decref(out);
        return NULL;
    }
    return out;
}

/* api_targets_check() answering 400 on a problem. */
static json_t *api_targets(rewrite_state *st, const json_t *in, const char *self,
                           http_response *resp)
{
    char err[256];
    const char *code;
    json_t *out = api_targets_check(st, in, self, &code, err, sizeof(err));
    if (out == NULL)
        http_reply_error(resp, 400, code, "%s", err);
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
    if (api_alias(json_string_value(json_object_get(req->json, "address")),
                  addr, sizeof(addr), resp) != 0)
        return;
    json_t *targets = api_targets(st, json_object_get(req->json, "targets"), addr, resp);
    if (targets == NULL)
        return;
    int rc = rewrite_store_domain_exists(c, addr + strcspn(addr, "@") + 1);
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
    if (api_alias(req->nparams ? req->params[0] : NULL, addr, sizeof(addr), resp) != 0)
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
    if (api_alias(req->nparams ? req->params[0] : NULL, addr, sizeof(addr), resp) != 0)
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
    if (api_alias(req->nparams ? req->params[0] : NULL, addr, sizeof(addr), resp) != 0)
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
    const char *in = req->nparams ? req->params[0] : NULL;
    if (in != NULL && rewrite_classify_is_bare_postmaster(in))
        str_copy(addr, sizeof(addr), "postmaster");
    else if (api_addr(in, addr, sizeof(addr), resp, "address") != 0)
        return;
    rewrite_lookup lk = { .db = c, .lists = st->lists, .st = st };
    rewrite_resolver r;
    rewrite_srs_conf srs;
    rewrite_resolver_init(&r, &lk);
    rewrite_class_result res;
    const rewrite_secrets_snap *snap = rewrite_state_srs(st, &srs);
    enum rewrite_err err = rewrite_classify(&r, &srs, addr, time(NULL), &res);
    rewrite_secrets_put(st->secrets, snap);
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
        if (res.matched != NULL && strcmp(res.matched, addr) != 0)
            json_object_set_new(out, "matched", json_string(res.matched));
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

/* ---- import ---- */

static void import_error(json_t *errors, json_int_t line, const char *code,
                         const char *msg)
{
    json_array_append_new(errors, json_pack("{s:I,s:s,s:s}", "line", line, "code", code,
                                            "message", msg));
}

enum { IMP_CREATED, IMP_UPDATED, IMP_UNCHANGED, IMP_DOM_CREATED, IMP_DOM_EXISTING,
       IMP_NCOUNTS };

/* One entry {"line","domain"} or {"line","address","targets"}; counts go
 * into cnt (IMP_*). -1 on a database error (the whole import is rolled
 * back). */
static int import_entry(rewrite_state *st, db_conn *c, const json_t *e, json_t *errors,
                        long cnt[IMP_NCOUNTS])
{
    char key[REWRITE_ADDR_MAX + 2], err[256];
    const char *why = NULL, *code = NULL;
    json_int_t line = json_integer_value(json_object_get(e, "line"));
    const char *dom = json_string_value(json_object_get(e, "domain"));
    const char *addr = json_string_value(json_object_get(e, "address"));
    if (!json_is_object(e) || (dom == NULL) == (addr == NULL)) {
        import_error(errors, line, "bad_request",
                     "an entry has either \"domain\" or \"address\" and \"targets\"");
        return 0;
    }
    if (dom != NULL) {
        if (rewrite_addr_domain_normalize(dom, key, sizeof(key)) != 0) {
            import_error(errors, line, "invalid_domain", "not a domain name");
            return 0;
        }
        int rc = rewrite_store_domain_create(c, key, NULL);
        if (rc < 0)
            return -1;
        cnt[rc > 0 ? IMP_DOM_CREATED : IMP_DOM_EXISTING]++;
        return 0;
    }
    if (api_alias_key(addr, key, sizeof(key), &why) != 0) {
        snprintf(err, sizeof(err), "address: %s", why);
        import_error(errors, line, "invalid_address", err);
        return 0;
    }
    json_t *targets = api_targets_check(st, json_object_get(e, "targets"), key, &code,
                                        err, sizeof(err));
    if (targets == NULL) {
        import_error(errors, line, code, err);
        return 0;
    }
    int rc = rewrite_store_domain_exists(c, key + strcspn(key, "@") + 1);
    if (rc == 0) {
        import_error(errors, line, "unknown_domain", "the domain is not one of ours");
        json_decref(targets);
        return 0;
    }
    if (rc > 0)
        rc = rewrite_store_alias_upsert(c, key, targets);
    json_decref(targets);
    if (rc < 0)
        return -1;
    cnt[rc == 1 ? IMP_CREATED : rc == 2 ? IMP_UPDATED : IMP_UNCHANGED]++;
    return 0;
}

static void aliases_import(rewrite_state *st, db_conn *c, const http_request *req,
                           http_response *resp)
{
    static const char *const fields[] = { "entries", "dry_run", NULL };
    static const char *const required[] = { "entries", NULL };
    long cnt[IMP_NCOUNTS] = { 0 };
    if (http_json_check_fields(req, resp, fields, required) != 0)
        return;
    const json_t *entries = json_object_get(req->json, "entries");
    const json_t *dry = json_object_get(req->json, "dry_run");
    if (!json_is_array(entries) || (dry != NULL && !json_is_boolean(dry))) {
        http_reply_error(resp, 400, "bad_request",
                         "entries must be an array, dry_run a boolean");
        return;
    }
    if ((long)json_array_size(entries) > st->max_import) {
        http_reply_error(resp, 400, "too_many_entries", "at most %ld entries per import",
                         st->max_import);
        return;
    }
    if (db_begin(c) != 0) {
        api_db_error(resp);
        return;
    }
    json_t *errors = json_array();
    size_t i;
    json_t *e;
    /* domains first, so that aliases in new domains are accepted */
    for (int pass = 0; pass < 2; pass++)
        json_array_foreach(entries, i, e) {
            int is_domain = json_object_get(e, "domain") != NULL;
            if (is_domain != (pass == 0))
                continue;
            if (import_entry(st, c, e, errors, cnt) != 0) {
                db_rollback(c);
                json_decref(errors);
                api_db_error(resp);
                return;
            }
        }
    int dry_run = json_is_true(dry);
    if ((dry_run ? db_rollback(c) : db_commit(c)) != 0) {
        json_decref(errors);
        api_db_error(resp);
        return;
    }
    if (!dry_run) {
        char n[3][24];
        snprintf(n[0], sizeof(n[0]), "%ld", cnt[IMP_CREATED]);
        snprintf(n[1], sizeof(n[1]), "%ld", cnt[IMP_UPDATED]);
        snprintf(n[2], sizeof(n[2]), "%ld", cnt[IMP_DOM_CREATED]);
        log_info("aliases imported", "created", n[0], "updated", n[1],
                 "domains_created", n[2]);
    }
    http_reply_json(resp, 200, json_pack("{s:b,s:I,s:I,s:I,s:I,s:I,s:o}",
        "dry_run", dry_run, "created", (json_int_t)cnt[IMP_CREATED],
        "updated", (json_int_t)cnt[IMP_UPDATED], "unchanged", (json_int_t)cnt[IMP_UNCHANGED],
        "domains_created", (json_int_t)cnt[IMP_DOM_CREATED],
        "domains_existing", (json_int_t)cnt[IMP_DOM_EXISTING], "errors", errors));
}

/* ---- SRS secrets ---- */

static void srs_list(rewrite_state *st, db_conn *c, const http_request *req,
                     http_response *resp)
{
    json_t *out = NULL;
    (void)st;
    (void)req;
    if (rewrite_secrets_list(c, &out) != 0) {
        api_db_error(resp);
        return;
    }
    http_reply_json(resp, 200, out);
}

static void srs_rotate(rewrite_state *st, db_conn *c, const http_request *req,
                       http_response *resp)
{
    json_t *out = NULL;
    if (req->json != NULL && (!json_is_object(req->json) || json_object_size(req->json))) {
        http_reply_error(resp, 400, "bad_request", "rotate takes no fields");
        return;
    }
    if (rewrite_secrets_rotate(c, &out) < 0) {
        api_db_error(resp);
        return;
    }
    rewrite_secrets_invalidate(st->secrets);
    log_info("SRS secret rotated");
    http_reply_json(resp, 201, out);
}

static void srs_retire(rewrite_state *st, db_conn *c, const http_request *req,
                       http_response *resp)
{
    const char *id = req->nparams ? req->params[0] : "";
    size_t n = strlen(id);
    if (n == 0 || n > 18 || strspn(id, "0123456789") != n) {
        http_reply_error(resp, 404, "not_found", "no such secret");
        return;
    }
    int rc = rewrite_secrets_retire(c, id);
    if (rc < 0)
        api_db_error(resp);
    else if (rc == 0)
        http_reply_error(resp, 404, "not_found", "no such active secret");
    else if (rc == 2)
        http_reply_error(resp, 409, "last_secret",
                         "the last active secret cannot be retired; rotate first");
    else {
        rewrite_secrets_invalidate(st->secrets);
        log_info("SRS secret retired", "id", id);
        api_no_content(resp);
    }
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
API_HANDLER(aliases_import)
API_HANDLER(srs_list)
API_HANDLER(srs_rotate)
API_HANDLER(srs_retire)

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
        { "POST",   "/v1/aliases:import", api_aliases_import },
        { "GET",    "/v1/srs/secrets",  api_srs_list },
        { "POST",   "/v1/srs/secrets/rotate", api_srs_rotate },
        { "DELETE", "/v1/srs/secrets/*", api_srs_retire },
    };
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
        if (http_route(svc->http, routes[i].method, routes[i].pattern,
                       routes[i].h, st) != 0)
            return -1;
    return rewrite_api_dmarc_register(svc, st);
}
