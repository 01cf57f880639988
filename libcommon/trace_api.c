/*
 * trace_api.c - GET /v1/trace/{id} (see trace_api.h): one service's trace
 * events of a message and of every message that shares its Message-ID or
 * descends from it.
 *
 * Owns nothing beyond the request: a pooled connection, the query result
 * and the JSON answer (handed to the response).
 *
 * SECURITY: the id comes from the peer: bounded (TRACE_ID_MAX), no control
 * characters, valid UTF-8; it is only ever a query parameter. The answer
 * is bounded (TRACE_EVENTS_MAX events, TRACE_DEPTH_MAX generations).
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "log.h"
#include "service.h"
#include "trace_api.h"

#define TRACE_ID_MAX     998     /* a header line's worth */
#define TRACE_QID_MAX    31
#define TRACE_EVENTS_MAX 10000
#define TRACE_DEPTH_MAX  8

/* $1 queue id or NULL, $2 bare Message-ID, $3 "<bare>", $4 service. */
static const char SQL_TRACE[] =
    "WITH RECURSIVE start AS ("
    "  SELECT id, message_id FROM spool.messages WHERE queue_id = $1::text "
    "  UNION "
    "  SELECT id, message_id FROM spool.messages "
    "  WHERE message_id = $2::text OR message_id = $3::text), "
    "roots AS ("
    "  SELECT id FROM start "
    "  UNION "
    "  SELECT m.id FROM spool.messages m JOIN start s "
    "    ON s.message_id IS NOT NULL AND m.message_id = s.message_id), "
    "tree (id, depth) AS ("
    "  SELECT id, 0 FROM roots "
    "  UNION "
    "  SELECT m.id, t.depth + 1 FROM spool.messages m JOIN tree t ON m.parent_id = t.id "
    "  WHERE t.depth < $5::integer) "
    "SELECT to_char(e.at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), "
    "  e.service, e.event, e.detail::text, m.queue_id, e.job_id "
    "FROM spool.events e JOIN spool.messages m ON m.id = e.message_id "
    "WHERE e.message_id IN (SELECT id FROM tree) AND e.service = $4::text "
    "ORDER BY e.at, e.id LIMIT $6::integer";

static void    trace_get(void *arg, const http_request *req, http_response *resp);
static int     trace_id_ok(const char *id);
static int     trace_is_qid(const char *id);
static json_t *trace_text(PGresult *r, int row, int col);

int trace_api_register(struct service *svc)
{
    return http_route(svc->http, "GET", "/v1/trace/*", trace_get, svc);
}

static void trace_get(void *arg, const http_request *req, http_response *resp)
{
    service *svc = arg;
    const char *id = req->nparams > 0 ? req->params[0] : "";
    char bare[TRACE_ID_MAX + 1], angle[TRACE_ID_MAX + 3], depth[16], lim[16];

    if (!trace_id_ok(id)) {
        http_reply_error(resp, 400, "bad_request", "the id must be a queue id or a "
                         "Message-ID (printable UTF-8, at most %d bytes)", TRACE_ID_MAX);
        return;
    }
    /* Message-ID without white space and angle brackets, then with them. */
    size_t b = strspn(id, " \t<"), e = strlen(id);
    while (e > b && (id[e - 1] == ' ' || id[e - 1] == '\t' || id[e - 1] == '>'))
        e--;
    snprintf(bare, sizeof(bare), "%.*s", (int)(e - b), id + b);
    snprintf(angle, sizeof(angle), "<%s>", bare);
    snprintf(depth, sizeof(depth), "%d", TRACE_DEPTH_MAX);
    snprintf(lim, sizeof(lim), "%d", TRACE_EVENTS_MAX);

    db_conn *c = db_pool_acquire(svc->db, 5000);
    if (c == NULL) {
        http_reply_error(resp, 503, "unavailable", "database unavailable");
        return;
    }
    PGresult *r = db_queryv(c, SQL_TRACE, 6, trace_is_qid(id) ? id : NULL, bare, angle,
                            svc->name, depth, lim);
    if (r == NULL) {
        log_error("trace query failed", "error", db_conn_error(c));
        db_pool_release(svc->db, c);
        http_reply_error(resp, 500, "internal", "database error");
        return;
    }
    json_t *events = json_array();
    for (int i = 0; i < PQntuples(r); i++) {
        json_t *ev = json_object();
        json_t *detail = NULL;
        if (!PQgetisnull(r, i, 3))
            detail = json_loads(PQgetvalue(r, i, 3), JSON_DECODE_ANY, NULL);
        json_object_set_new(ev, "at", trace_text(r, i, 0));
        json_object_set_new(ev, "service", trace_text(r, i, 1));
        json_object_set_new(ev, "event", trace_text(r, i, 2));
        json_object_set_new(ev, "detail", detail != NULL ? detail : json_null());
        json_object_set_new(ev, "queue_id", trace_text(r, i, 4));
        json_object_set_new(ev, "job_id", PQgetisnull(r, i, 5) ? json_null()
                            : json_integer(strtoll(PQgetvalue(r, i, 5), NULL, 10)));
        json_array_append_new(events, ev);
    }
    PQclear(r);
    db_pool_release(svc->db, c);
    http_reply_json(resp, 200, json_pack("{s:s, s:o}", "service", svc->name,
                                         "events", events));
}

/* Bounded, printable, UTF-8 (json_string refuses anything else). */
static int trace_id_ok(const char *id)
{
    size_t n = strlen(id);
    if (n == 0 || n > TRACE_ID_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)id[i] < 0x20 || id[i] == 0x7f)
            return 0;
    json_t *probe = json_string(id);
    int ok = probe != NULL;
    json_decref(probe);
    return ok;
}

static int trace_is_qid(const char *id)
{
    size_t n = strlen(id);
    if (n > TRACE_QID_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)id[i]))
            return 0;
    return 1;
}

/* Database text is UTF-8 in practice; anything else becomes null rather
 * than failing the whole answer. */
static json_t *trace_text(PGresult *r, int row, int col)
{
    if (PQgetisnull(r, row, col))
        return json_null();
    json_t *s = json_string(PQgetvalue(r, row, col));
    return s != NULL ? s : json_null();
}
