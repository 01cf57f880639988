/*
 * archive_api.c - the archive's JSON API (docs/api/archive.yaml):
 *   GET /v1/lists/{addr}/messages?page=1&per_page=50   newest first
 *   GET /v1/messages/{id}                              one message, raw
 * Query parameters are peer input: numbers only, per_page at most 200,
 * 400 otherwise.
 */
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "http.h"
#include "log.h"
#include "service.h"
#include "archive.h"

#define DB_TIMEOUT_MS 5000

static void db_error(http_response *resp, db_conn *c)
{
    log_error("database error", "error", db_conn_error(c));
    http_reply_error(resp, 500, "internal", "database error");
}

static void api_messages(void *arg, const http_request *req, http_response *resp)
{
    archive_state *st = arg;
    long page, per_page;

    if (archive_page_parse(http_request_query(req, "page"),
                           http_request_query(req, "per_page"), &page, &per_page) != 0) {
        http_reply_error(resp, 400, "bad_request",
                         "page must be a number >= 1 and per_page a number in 1..%d",
                         ARCHIVE_PER_PAGE_MAX);
        return;
    }
    if (strlen(req->params[0]) > ARCHIVE_LIST_MAX) {
        http_reply_error(resp, 404, "not_found", "no such list");
        return;
    }
    db_conn *c = db_pool_acquire(st->svc->db, DB_TIMEOUT_MS);
    if (c == NULL) {
        http_reply_error(resp, 503, "unavailable", "database unavailable");
        return;
    }
    char *list = addr_lower(req->params[0]);
    json_t *body = archive_store_page_json(c, list, page, per_page);
    if (body == NULL)
        db_error(resp, c);
    else
        http_reply_json(resp, 200, body);
    free(list);
    db_pool_release(st->svc->db, c);
}

static void api_message(void *arg, const http_request *req, http_response *resp)
{
    archive_state *st = arg;
    const char *s = req->params[0];
    size_t n = strlen(s);
    int ok = n > 0 && n <= 18;
    for (size_t i = 0; ok && i < n; i++)
        ok = s[i] >= '0' && s[i] <= '9';
    if (!ok) {
        http_reply_error(resp, 404, "not_found", "no such message");
        return;
    }
    db_conn *c = db_pool_acquire(st->svc->db, DB_TIMEOUT_MS);
    if (c == NULL) {
        http_reply_error(resp, 503, "unavailable", "database unavailable");
        return;
    }
    json_t *o = NULL;
    int rc = archive_store_message_json(st, c, strtoll(s, NULL, 10), &o);
    if (rc < 0)
        db_error(resp, c);
    else if (rc == 0)
        http_reply_error(resp, 404, "not_found", "no such message: %s", s);
    else
        http_reply_json(resp, 200, o);
    db_pool_release(st->svc->db, c);
}

int archive_api_register(service *svc, archive_state *st)
{
    if (http_route(svc->http, "GET", "/v1/lists/*/messages", api_messages, st) != 0 ||
        http_route(svc->http, "GET", "/v1/messages/*", api_message, st) != 0)
        return -1;
    return 0;
}
