/*
 * lists_api_members.c - /v1/lists/{addr}/members: list, add and remove
 * the members of a list (roles member, owner, moderator). Every role
 * receives the list's mail; owners and moderators matter for later
 * features (moderation notices).
 */
#include <string.h>

#include "http.h"
#include "log.h"
#include "service.h"
#include "lists.h"

static const char *const roles[] = { "member", "owner", "moderator", NULL };

static void api_members_get(void *arg, const http_request *req, http_response *resp)
{
    lists_state *st = arg;
    lists_list *l = NULL;
    db_conn *c = lists_api_conn(st, resp);
    if (c == NULL)
        return;
    if (lists_api_find(c, req->params[0], resp, &l) == 0) {
        json_t *body = lists_store_members_json(c, l->id);
        if (body == NULL)
            lists_api_db_error(resp, c);
        else
            http_reply_json(resp, 200, body);
    }
    lists_list_free(l);
    lists_api_release(st, c);
}

static void api_members_post(void *arg, const http_request *req, http_response *resp)
{
    static const char *const allowed[] = { "address", "role", NULL };
    static const char *const required[] = { "address", NULL };
    lists_state *st = arg;
    char addr[LISTS_ADDR_MAX + 1];
    lists_list *l = NULL;

    if (http_json_check_fields(req, resp, allowed, required) != 0)
        return;
    json_t *ja = json_object_get(req->json, "address");
    json_t *jr = json_object_get(req->json, "role");
    if (!json_is_string(ja) || json_string_length(ja) > LISTS_ADDR_MAX ||
        lists_addr_normalize(json_string_value(ja), addr, sizeof addr) != 0) {
        http_reply_error(resp, 400, "bad_request", "address is not a valid mail address");
        return;
    }
    const char *role = "member";
    if (jr != NULL) {
        int known = 0;
        if (json_is_string(jr))
            for (size_t i = 0; roles[i] != NULL; i++)
                known |= strcmp(json_string_value(jr), roles[i]) == 0;
        if (!known) {
            http_reply_error(resp, 400, "bad_request",
                             "role must be member, owner or moderator");
            return;
        }
        role = json_string_value(jr);
    }
    db_conn *c = lists_api_conn(st, resp);
    if (c == NULL)
        return;
    if (lists_api_find(c, req->params[0], resp, &l) == 0) {
        int rc = lists_store_member_add(c, l->id, addr, role);
        if (rc < 0) {
            lists_api_db_error(resp, c);
        } else if (rc == 0) {
            http_reply_error(resp, 409, "conflict", "%s is already a member", addr);
        } else {
            http_reply_json(resp, 201, json_pack("{s:s, s:s}", "address", addr,
                                                 "role", role));
            log_info("member added", "list", l->address, "rcpt", addr);
        }
    }
    lists_list_free(l);
    lists_api_release(st, c);
}

static void api_member_delete(void *arg, const http_request *req, http_response *resp)
{
    lists_state *st = arg;
    char addr[LISTS_ADDR_MAX + 1];
    lists_list *l = NULL;

    db_conn *c = lists_api_conn(st, resp);
    if (c == NULL)
        return;
    if (lists_api_find(c, req->params[0], resp, &l) == 0) {
        int rc = lists_addr_normalize(req->params[1], addr, sizeof addr) == 0
                 ? lists_store_member_remove(c, l->id, addr) : 0;
        if (rc < 0) {
            lists_api_db_error(resp, c);
        } else if (rc == 0) {
            http_reply_error(resp, 404, "not_found", "not a member");
        } else {
            resp->status = 204;
            log_info("member removed", "list", l->address, "rcpt", addr);
        }
    }
    lists_list_free(l);
    lists_api_release(st, c);
}

int lists_api_members_register(service *svc, lists_state *st)
{
    http_server *h = svc->http;
    if (http_route(h, "GET", "/v1/lists/*/members", api_members_get, st) != 0 ||
        http_route(h, "POST", "/v1/lists/*/members", api_members_post, st) != 0 ||
        http_route(h, "DELETE", "/v1/lists/*/members/*", api_member_delete, st) != 0)
        return -1;
    return 0;
}
