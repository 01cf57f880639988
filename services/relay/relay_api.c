/*
 * relay_api.c - the relay's read API on the queue (docs/api/relay.yaml),
 * under the bearer-token /v1/ routing of libcommon http, and the
 * registration of the queue-control routes (relay_queue_act.c,
 * relay_queue_summary.c):
 *
 *   GET /v1/queue[?state=S][&domain=D][&sender=A][&min_age=N][&max_age=N]
 *                [&limit=N][&after=ID]
 *       newest first, limit 100 by default (at most 1000); "after" is the
 *       "next" cursor of the previous page (rows with a smaller id)
 *       -> {"deliveries": [delivery, ...], "next": id or null}
 *   GET /v1/queue/{queue_id}
 *       -> {"queue_id": "...", "deliveries": [delivery + "history"]}
 *          or 404 not_found
 *
 * delivery = {"id","job_id","queue_id","mail_from","rcpt","state",
 * "attempts","next_attempt_at" (RFC 3339 UTC, null unless pending),
 * "last_reply","last_host","created_at","age_seconds"}. States: pending,
 * held, delivered, bounced, deleted; "deferred" as a filter means pending
 * rows that have had a failed attempt. domain is the recipient's domain
 * (case-insensitive), sender the envelope sender (case-insensitive; "" or
 * "<>" for the null sender), ages in seconds since the row was queued.
 * Handlers borrow a pooled connection for the request only.
 */
#include "relay.h"
#include "relay_queue.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "log.h"

#define API_TEXT_MAX 320

#define API_COLUMNS \
    "SELECT id, queue_id, mail_from, rcpt, state, attempts, " \
    "  CASE WHEN state = 'pending' THEN to_char(next_attempt_at AT TIME ZONE 'UTC', " \
    "    'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') END, last_reply, last_host, job_id, " \
    "  to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), " \
    "  floor(extract(epoch FROM now() - created_at))::bigint, wait_reason " \
    "FROM relay.deliveries "

static const char SQL_LIST[] =
    API_COLUMNS
    "WHERE ($2::text IS NULL OR (CASE WHEN $2::text = 'deferred' "
    "        THEN state = 'pending' AND last_reply IS NOT NULL "
    "        WHEN $2::text = 'waiting' THEN state = 'pending' AND wait_reason IS NOT NULL "
    "        ELSE state = $2::text END)) "
    "  AND ($3::text IS NULL OR lower(substring(rcpt FROM '@([^@]*)$')) = lower($3::text)) "
    "  AND ($4::text IS NULL OR lower(mail_from) = lower($4::text)) "
    "  AND ($5::bigint IS NULL OR "
    "       created_at <= now() - make_interval(secs => $5::bigint::double precision)) "
    "  AND ($6::bigint IS NULL OR "
    "       created_at >= now() - make_interval(secs => $6::bigint::double precision)) "
    "  AND ($7::bigint IS NULL OR id < $7::bigint) "
    "ORDER BY id DESC LIMIT $1::integer";
static const char SQL_QUEUE_ID[] =
    API_COLUMNS "WHERE queue_id = $1 ORDER BY id LIMIT 10000";

static void    api_queue_list(void *arg, const http_request *req, http_response *resp);
static void    api_queue_get(void *arg, const http_request *req, http_response *resp);
static json_t *api_rows_json(PGresult *r);
static int     api_query_num(const http_request *req, http_response *resp, const char *key,
                             long long min, long long max, char *out, size_t outlen);
static int     api_query_text(const http_request *req, http_response *resp, const char *key,
                              const char **out);

int relay_api_register(service *svc, relay_state *st)
{
    if (http_route(svc->http, "GET", "/v1/queue", api_queue_list, st) != 0 ||
        relay_queue_summary_register(svc, st) != 0 ||
        relay_queue_act_register(svc, st) != 0 ||
        relay_api_dpol_register(svc, st) != 0 ||
        http_route(svc->http, "GET", "/v1/queue/*", api_queue_get, st) != 0) {
        log_error("cannot register the relay API routes");
        return -1;
    }
    return 0;
}

int relay_queue_id_ok(const char *qid)
{
    size_t ql = strlen(qid);
    int ok = ql > 0 && ql <= RELAY_QUEUE_ID_MAX;

    for (size_t i = 0; ok && i < ql; i++)
        ok = isalnum((unsigned char)qid[i]) != 0;
    return ok;
}

static void api_queue_list(void *arg, const http_request *req, http_response *resp)
{
    relay_state *st = arg;
    const char *state = http_request_query(req, "state");
    const char *domain = NULL, *sender = NULL;
    char limit[24] = "100", min_age[24] = "", max_age[24] = "", after[24] = "";

    if (state != NULL && strcmp(state, "pending") != 0 && strcmp(state, "deferred") != 0 &&
        strcmp(state, "waiting") != 0 &&
        strcmp(state, "held") != 0 && strcmp(state, "delivered") != 0 &&
        strcmp(state, "bounced") != 0 && strcmp(state, "deleted") != 0) {
        http_reply_error(resp, 400, "bad_request", "state must be pending, deferred, "
                         "waiting, held, delivered, bounced or deleted");
        return;
    }
    if (api_query_num(req, resp, "limit", 1, 1000, limit, sizeof(limit)) != 0 ||
        api_query_num(req, resp, "min_age", 0, 100L * 365 * 86400, min_age,
                      sizeof(min_age)) != 0 ||
        api_query_num(req, resp, "max_age", 0, 100L * 365 * 86400, max_age,
                      sizeof(max_age)) != 0 ||
        api_query_num(req, resp, "after", 1, INT64_MAX, after, sizeof(after)) != 0 ||
        api_query_text(req, resp, "domain", &domain) != 0 ||
        api_query_text(req, resp, "sender", &sender) != 0)
        return;
    if (sender != NULL && strcmp(sender, "<>") == 0)
        sender = "";
    db_conn *c = db_pool_acquire(st->db, 5000);
    if (c == NULL) {
        http_reply_error(resp, 503, "unavailable", "database unavailable");
        return;
    }
    PGresult *r = db_queryv(c, SQL_LIST, 7, limit, state, domain, sender,
                            min_age[0] ? min_age : NULL, max_age[0] ? max_age : NULL,
                            after[0] ? after : NULL);
    if (r == NULL) {
        log_error("queue listing failed", "error", db_conn_error(c));
        db_pool_release(st->db, c);
        http_reply_error(resp, 500, "internal", "database error");
        return;
    }
    int n = PQntuples(r);
    json_t *next = json_null();
    if (n > 0 && n == atoi(limit))
        next = json_integer(strtoll(PQgetvalue(r, n - 1, 0), NULL, 10));
    json_t *body = json_pack("{s:o, s:o}", "deliveries", api_rows_json(r), "next", next);
    PQclear(r);
    db_pool_release(st->db, c);
    http_reply_json(resp, 200, body);
}

static void api_queue_get(void *arg, const http_request *req, http_response *resp)
{
    relay_state *st = arg;
    const char *qid = req->nparams > 0 ? req->params[0] : "";

    if (!relay_queue_id_ok(qid)) {
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
    json_t *rows = api_rows_json(r);
    PQclear(r);
    if (relay_queue_history_add(c, rows) != 0) {
        json_decref(rows);
        db_pool_release(st->db, c);
        http_reply_error(resp, 500, "internal", "database error");
        return;
    }
    db_pool_release(st->db, c);
    http_reply_json(resp, 200, json_pack("{s:s, s:o}", "queue_id", qid, "deliveries", rows));
}

static json_t *api_rows_json(PGresult *r)
{
    json_t *arr = json_array();
    for (int i = 0; i < PQntuples(r); i++) {
        json_t *o = json_object();
        json_object_set_new(o, "id", json_integer(strtoll(PQgetvalue(r, i, 0), NULL, 10)));
        json_object_set_new(o, "job_id", json_integer(strtoll(PQgetvalue(r, i, 9), NULL, 10)));
        json_object_set_new(o, "queue_id", relay_queue_text(r, i, 1));
        json_object_set_new(o, "mail_from", relay_queue_text(r, i, 2));
        json_object_set_new(o, "rcpt", relay_queue_text(r, i, 3));
        json_object_set_new(o, "state", relay_queue_text(r, i, 4));
        json_object_set_new(o, "attempts", json_integer(atoi(PQgetvalue(r, i, 5))));
        json_object_set_new(o, "next_attempt_at", relay_queue_text(r, i, 6));
        json_object_set_new(o, "last_reply", relay_queue_text(r, i, 7));
        json_object_set_new(o, "last_host", relay_queue_text(r, i, 8));
        json_object_set_new(o, "created_at", relay_queue_text(r, i, 10));
        json_object_set_new(o, "age_seconds",
                            json_integer(strtoll(PQgetvalue(r, i, 11), NULL, 10)));
        json_object_set_new(o, "wait_reason", relay_queue_text(r, i, 12));
        json_array_append_new(arr, o);
    }
    return arr;
}

/* An optional integer query parameter in [min, max], copied as text into
 * out ("" when absent). -1 after a 400 reply. */
static int api_query_num(const http_request *req, http_response *resp, const char *key,
                         long long min, long long max, char *out, size_t outlen)
{
    const char *v = http_request_query(req, key);
    char *e = NULL;

    if (v == NULL)
        return 0;
    long long l = strtoll(v, &e, 10);
    if (e == v || *e != '\0' || l < min || l > max) {
        http_reply_error(resp, 400, "bad_request", "%s must be an integer in %lld..%lld",
                         key, min, max);
        return -1;
    }
    snprintf(out, outlen, "%lld", l);
    return 0;
}

/* An optional text query parameter: bounded, UTF-8, no control characters.
 * -1 after a 400 reply. */
static int api_query_text(const http_request *req, http_response *resp, const char *key,
                          const char **out)
{
    const char *v = http_request_query(req, key);

    *out = NULL;
    if (v == NULL)
        return 0;
    json_t *probe = json_string(v);
    int ok = probe != NULL && strlen(v) <= API_TEXT_MAX;
    json_decref(probe);
    for (const char *p = v; ok && *p != '\0'; p++)
        ok = (unsigned char)*p >= 0x20 && *p != 0x7f;
    if (!ok) {
        http_reply_error(resp, 400, "bad_request", "%s must be printable UTF-8 of at most "
                         "%d bytes", key, API_TEXT_MAX);
        return -1;
    }
    *out = v;
    return 0;
}

/* Text columns may hold bytes that are not UTF-8 (a remote reply): jansson
 * refuses those, so fall back to a lossy copy. */
json_t *relay_queue_text(PGresult *r, int row, int col)
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
