/*
 * lists_api.c - the /v1/lists API (docs/api/lists.yaml): list, create,
 * show and delete lists, plus the helpers the member and held handlers
 * share. Members are in lists_api_members.c, moderation in lists_api_held.c.
 *
 * GET /v1/lists/{addr} also answers for a list's <lp>-bounces and
 * <lp>-request addresses (with "role"), which is how rewrite classifies
 * recipients.
 *
 * Input is from API clients (authenticated by http.c, but still checked):
 * unknown fields are refused; names and prefixes may hold no control
 * characters (they end up in header fields); sizes are bounded.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "log.h"
#include "service.h"
#include "xalloc.h"
#include "lists.h"

#define DB_TIMEOUT_MS 5000

static const char *const policies[] = { "members", "open", "moderated", NULL };

db_conn *lists_api_conn(lists_state *st, http_response *resp)
{
    db_conn *c = db_pool_acquire(st->svc->db, DB_TIMEOUT_MS);
    if (c == NULL)
        http_reply_error(resp, 503, "unavailable", "database unavailable");
    return c;
}

void lists_api_release(lists_state *st, db_conn *c)
{
    db_pool_release(st->svc->db, c);
}

void lists_api_db_error(http_response *resp, db_conn *c)
{
    log_error("database error", "error", db_conn_error(c));
    http_reply_error(resp, 500, "internal", "database error");
}

int lists_api_find(db_conn *c, const char *param, http_response *resp,
                   lists_list **out)
{
    char addr[LISTS_ADDR_MAX + 1];
    if (lists_addr_normalize(param, addr, sizeof addr) != 0) {
        http_reply_error(resp, 404, "not_found", "no such list");
        return -1;
    }
    int rc = lists_store_get(c, addr, out);
    if (rc < 0) {
        lists_api_db_error(resp, c);
        return -1;
    }
    if (rc == 0) {
        http_reply_error(resp, 404, "not_found", "no such list: %s", addr);
        return -1;
    }
    return 0;
}

/* Optional string field: *out = value or def. -1 (replied) when it is not a
 * string, too long, or holds control characters that are not allowed. */
static int text_field(const http_request *req, http_response *resp, const char *key,
                      size_t max, int allow_newlines, const char *def, const char **out)
{
    json_t *v = json_object_get(req->json, key);
    *out = def;
    if (v == NULL)
        return 0;
    if (!json_is_string(v)) {
        http_reply_error(resp, 400, "bad_request", "%s must be a string", key);
        return -1;
    }
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);
    if (n > max || strlen(s) != n) {
        http_reply_error(resp, 400, "bad_request", "%s is too long or holds NUL", key);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if ((ch < 0x20 || ch == 0x7f) && !(allow_newlines && (ch == '\n' || ch == '\t'))) {
            http_reply_error(resp, 400, "bad_request", "%s holds control characters", key);
            return -1;
        }
    }
    *out = s;
    return 0;
}

static void api_lists_get(void *arg, const http_request *req, http_response *resp)
{
    lists_state *st = arg;
    (void)req;
    db_conn *c = lists_api_conn(st, resp);
    if (c == NULL)
        return;
    json_t *body = lists_store_all_json(c);
    if (body == NULL)
        lists_api_db_error(resp, c);
    else
        http_reply_json(resp, 200, body);
    lists_api_release(st, c);
}

/* 1 when addr (normalized) is taken by another list as its own address or
 * as one of its -bounces/-request addresses, or when addr's own companions
 * are lists; -1 on error. */
static int address_conflicts(db_conn *c, const char *addr)
{
    char other[LISTS_ADDR_MAX + 16];
    lists_list *l = NULL;
    int role = LISTS_ROLE_POST;
    int rc = lists_store_resolve(c, addr, &l, &role);
    lists_list_free(l);
    if (rc != 0)
        return rc;
    static const char *const sfx[] = { "-bounces", "-request" };
    for (size_t i = 0; i < 2; i++) {
        if (lists_addr_with_suffix(addr, sfx[i], other, sizeof other) != 0)
            return 1;
        rc = lists_store_get(c, other, &l);
        lists_list_free(l);
        l = NULL;
        if (rc != 0)
            return rc;
    }
    return 0;
}

static void api_lists_post(void *arg, const http_request *req, http_response *resp)
{
    static const char *const allowed[] = { "address", "name", "description",
                                           "subject_prefix", "policy", "dmarc_mitigation",
                                           "dmarc_mitigation_always", NULL };
    static const char *const required[] = { "address", NULL };
    lists_state *st = arg;
    char addr[LISTS_ADDR_MAX + 1], local[LISTS_ADDR_MAX + 1], domain[LISTS_ADDR_MAX + 1];
    char prefix_def[LISTS_ADDR_MAX + 4];
    const char *a, *name, *desc, *prefix, *policy;

    if (http_json_check_fields(req, resp, allowed, required) != 0)
        return;
    if (text_field(req, resp, "address", LISTS_ADDR_MAX, 0, NULL, &a) != 0)
        return;
    if (lists_addr_normalize(a, addr, sizeof addr) != 0 ||
        lists_addr_split(addr, local, sizeof local, domain, sizeof domain) != 0) {
        http_reply_error(resp, 400, "bad_request", "address is not a valid mail address");
        return;
    }
    snprintf(prefix_def, sizeof prefix_def, "[%s] ", local);
    if (text_field(req, resp, "name", LISTS_NAME_MAX, 0, local, &name) != 0 ||
        text_field(req, resp, "description", LISTS_DESC_MAX, 1, "", &desc) != 0 ||
        text_field(req, resp, "subject_prefix", LISTS_PREFIX_MAX, 0, prefix_def, &prefix) != 0 ||
        text_field(req, resp, "policy", 16, 0, "members", &policy) != 0)
        return;
    if (strlen(prefix) > LISTS_PREFIX_MAX) {
        http_reply_error(resp, 400, "bad_request", "the default subject_prefix is too "
                         "long; give a shorter one");
        return;
    }
    const char *dmarc_mode = "none";
    int dmarc_always = 0;
    if (lists_api_dmarc_fields(req, resp, &dmarc_mode, &dmarc_always) != 0)
        return;
    int known = 0;
    for (size_t i = 0; policies[i] != NULL; i++)
        known |= strcmp(policy, policies[i]) == 0;
    if (!known) {
        http_reply_error(resp, 400, "bad_request",
                         "policy must be members, open or moderated");
        return;
    }

    db_conn *c = lists_api_conn(st, resp);
    if (c == NULL)
        return;
    lists_list want = { .address = addr, .name = (char *)name,
                        .description = (char *)desc,
                        .subject_prefix = (char *)prefix, .policy = (char *)policy };
    lists_list *made = NULL;
    int rc = address_conflicts(c, addr);
    if (rc == 0)
        rc = lists_store_create(c, &want) == 1 ? 2 : -1;
    if (rc == 2 && lists_store_get(c, addr, &made) != 1)
        rc = -1;
    if (rc == 2 && (strcmp(dmarc_mode, "none") != 0 || dmarc_always)) {
        int64_t id = made->id;
        lists_list_free(made);
        made = NULL;
        if (lists_store_set_dmarc(c, id, dmarc_mode, dmarc_always) != 1 ||
            lists_store_get(c, addr, &made) != 1)
            rc = -1;
    }
    if (rc == 1)
        http_reply_error(resp, 409, "conflict", "address %s is taken", addr);
    else if (rc == 2)
        http_reply_json(resp, 201, lists_list_to_json(made));
    else
        lists_api_db_error(resp, c);
    if (rc == 2)
        log_info("list created", "list", addr);
    lists_list_free(made);
    lists_api_release(st, c);
}

static void api_list_get(void *arg, const http_request *req, http_response *resp)
{
    lists_state *st = arg;
    char addr[LISTS_ADDR_MAX + 1];
    lists_list *l = NULL;
    int role = LISTS_ROLE_POST;

    if (lists_addr_normalize(req->params[0], addr, sizeof addr) != 0) {
        http_reply_error(resp, 404, "not_found", "no such list");
        return;
    }
    db_conn *c = lists_api_conn(st, resp);
    if (c == NULL)
        return;
    int rc = lists_store_resolve(c, addr, &l, &role);
    if (rc < 0) {
        lists_api_db_error(resp, c);
    } else if (rc == 0) {
        http_reply_error(resp, 404, "not_found", "no such list: %s", addr);
    } else {
        json_t *o = lists_list_to_json(l);
        if (role != LISTS_ROLE_POST)
            json_object_set_new(o, "role", json_string(role == LISTS_ROLE_BOUNCES
                                                       ? "bounces" : "request"));
        http_reply_json(resp, 200, o);
    }
    lists_list_free(l);
    lists_api_release(st, c);
}

static void api_list_delete(void *arg, const http_request *req, http_response *resp)
{
    lists_state *st = arg;
    char addr[LISTS_ADDR_MAX + 1];

    if (lists_addr_normalize(req->params[0], addr, sizeof addr) != 0) {
        http_reply_error(resp, 404, "not_found", "no such list");
        return;
    }
    db_conn *c = lists_api_conn(st, resp);
    if (c == NULL)
        return;
    int rc = lists_store_delete(c, addr);
    if (rc < 0) {
        lists_api_db_error(resp, c);
    } else if (rc == 0) {
        http_reply_error(resp, 404, "not_found", "no such list: %s", addr);
    } else {
        resp->status = 204;
        log_info("list deleted", "list", addr);
    }
    lists_api_release(st, c);
}

int lists_api_register(service *svc, lists_state *st)
{
    http_server *h = svc->http;
    if (http_route(h, "GET", "/v1/lists", api_lists_get, st) != 0 ||
        http_route(h, "POST", "/v1/lists", api_lists_post, st) != 0 ||
        http_route(h, "GET", "/v1/lists/*", api_list_get, st) != 0 ||
        http_route(h, "DELETE", "/v1/lists/*", api_list_delete, st) != 0)
        return -1;
    if (lists_api_members_register(svc, st) != 0 || lists_api_held_register(svc, st) != 0 ||
        lists_api_dmarc_register(svc, st) != 0)
        return -1;
    return 0;
}
