/*
 * relay_api.c - the relay's admin API (docs/api/relay.yaml), under the
 * bearer-token /v1/ routing of libcommon http:
 *
 *   GET /v1/queue[?state=pending|deferred|delivered|bounced][&limit=N]
 *       newest first, limit 100 by default (at most 1000)
 *       -> {"deliveries": [delivery, ...]}
 *   GET /v1/queue/{queue_id}
 *       -> {"queue_id": "...", "deliveries": [...]} or 404 not_found
 *
 * delivery = {"id","queue_id","mail_from","rcpt","state","attempts",
 * "next_attempt_at" (RFC 3339 UTC, null unless pending),"last_reply",
 * "last_host"}. "deferred" as a filter means pending rows that have had a
 * failed attempt. Handlers borrow a pooled connection for the request only.
 */
#include "relay.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "log.h"

#define API_COLUMNS \
    "SELECT id, queue_id, mail_from, rcpt, state, attempts, " \
    "  CASE WHEN state = 'pending' THEN to_char(next_attempt_at AT TIME ZONE 'UTC', " \
    "    'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') END, last_reply, last_host " \
    "FROM relay.deliveries "

static const char SQL_ALL[] = API_COLUMNS "ORDER BY id DESC LIMIT $1::integer";
static const char SQL_STATE[] =
    API_COLUMNS "WHERE state = $2::text ORDER BY id DESC LIMIT $1::integer";
static const char SQL_DEFERRED[] =
    API_COLUMNS "WHERE state = 'pending' AND last_reply IS NOT NULL "
    "ORDER BY id DESC LIMIT $1::integer";
static const char SQL_QUEUE_ID[] =
    API_COLUMNS "WHERE queue_id = $1 ORDER BY id LIMIT 10000";

static void    api_queue_list(void *arg, const http_request *req, http_response *resp);
static void    api_queue_get(void *arg, const http_request *req, http_response *resp);
static json_t *api_rows_json(PGresult *r);
static json_t *api_text_or_null(PGresult *r, int row, int col);

int relay_api_register(service *svc, relay_state *st)
{
    if (http_route(svc->http, "GET", "/v1/queue", api_queue_list, st) != 0 ||
        http_route(svc->http, "GET", "/v1/queue/*", api_queue_get, st) != 0) {
        log_error("cannot register the relay API routes");
        return -1;
    }
    return 0;
}

static void api_queue_list(void *arg, const http_request *req, http_response *resp)
{
    relay_state *st = arg;
    const char *state = http_request_query(req, "state");
    const char *lim = http_request_query(req, "limit");
    char limit[16] = "100";

    if (state != NULL && strcmp(state, "pending") != 0 && strcmp(state, "deferred") != 0 &&
        strcmp(state, "delivered") != 0 && strcmp(state, "bounced") != 0) {
        http_reply_error(resp, 400, "bad_request",
                         "state must be pending, deferred, delivered or bounced");
        return;
    }
    if (lim != NULL) {
        char *e = NULL;
        long l = strtol(lim, &e, 10);
        if (e == lim || *e != '\0' || l < 1 || l > 1000) {
            http_reply_error(resp, 400, "bad_request", "limit must be 1..1000");
            return;
        }
        snprintf(limit, sizeof(limit), "%ld", l);
    }
    db_conn *c = db_pool_acquire(st->db, 5000);
    if (c == NULL) {
        http_reply_error(resp, 503, "unavailable", "database unavailable");
        return;
    }
    PGresult *r;
    if (state == NULL)
        r = db_queryv(c, SQL_ALL, 1, limit);
    else if (strcmp(state, "deferred") == 0)
        r = db_queryv(c, SQL_DEFERRED, 1, limit);
    else
        r = db_queryv(c, SQL_STATE, 2, limit, state);
    if (r == NULL) {
        log_error("queue listing failed", "error", db_conn_error(c));
        db_pool_release(st->db, c);
        http_reply_error(resp, 500, "internal", "database error");
        return;
    }
    json_t *body = json_pack("{s:o}", "deliveries", api_rows_json(r));
    PQclear(r);
    db_pool_release(st->db, c);
    http_reply_json(resp, 200, body);
}

static void api_queue_get(void *arg, const http_request *req, http_response *resp)
{
    relay_state *st = arg;
    const char *qid = req->nparams > 0 ? req->params[0] : "";
    size_t ql = strlen(qid);
    int ok = ql > 0 && ql < 32;

    for (size_t i = 0; ok && i < ql; i++)
        ok = isalnum((unsigned char)qid[i]) != 0;
    if (!ok) {
        http_reply_error(resp, 404, "not_found", "no such queue id");
        return;
    }
    db_conn *c = db_pool_acquire(st->db, 5000);
    if (c == NULL) {
        http_reply_error(resp, 503, "unavailable", "database unavailable");
        return;
    }
    PGresult *r = db_queryv(c, SQL_QUEUE_ID, 1, qid);
    if (r == NULL) {
        log_error("queue lookup failed", "error", db_conn_error(c));
        db_pool_release(st->db, c);
        http_reply_error(resp, 500, "internal", "database error");
        return;
    }
    if (PQntuples(r) == 0) {
        PQclear(r);
        db_pool_release(st->db, c);
        http_reply_error(resp, 404, "not_found", "no deliveries for queue id %s", qid);
        return;
    }
    json_t *body = json_pack("{s:s, s:o}", "queue_id", qid, "deliveries", api_rows_json(r));
    PQclear(r);
    db_pool_release(st->db, c);
    http_reply_json(resp, 200, body);
}

static json_t *api_rows_json(PGresult *r)
{
    json_t *arr = json_array();
    for (int i = 0; i < PQntuples(r); i++) {
        json_t *o = json_object();
        json_object_set_new(o, "id", json_integer(strtoll(PQgetvalue(r, i, 0), NULL, 10)));
        json_object_set_new(o, "queue_id", api_text_or_null(r, i, 1));
        json_object_set_new(o, "mail_from", api_text_or_null(r, i, 2));
        json_object_set_new(o, "rcpt", api_text_or_null(r, i, 3));
        json_object_set_new(o, "state", api_text_or_null(r, i, 4));
        json_object_set_new(o, "attempts", json_integer(atoi(PQgetvalue(r, i, 5))));
        json_object_set_new(o, "next_attempt_at", api_text_or_null(r, i, 6));
        json_object_set_new(o, "last_reply", api_text_or_null(r, i, 7));
        json_object_set_new(o, "last_host", api_text_or_null(r, i, 8));
        json_array_append_new(arr, o);
    }
    return arr;
}

/* Text columns may hold bytes that are not UTF-8 (a remote reply): jansson
 * refuses those, so fall back to a lossy copy. */
static json_t *api_text_or_null(PGresult *r, int row, int col)
{
    if (PQgetisnull(r, row, col))
        return json_null();
    const char *v = PQgetvalue(r, row, col);
    json_t *s = json_string(v);
    if (s != NULL)
        return s;
    size_t n = strlen(v);
    char *copy = malloc(n + 1);
    if (copy == NULL)
        return json_null();
    for (size_t i = 0; i <= n; i++)
        copy[i] = ((unsigned char)v[i] & 0x80) ? '?' : v[i];
    s = json_string(copy);
    free(copy);
    return s != NULL ? s : json_null();
}
