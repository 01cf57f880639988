/*
 * relay_queue_act.c - the operator's actions on the relay queue
 * (docs/queue.md, docs/api/relay.yaml), like postqueue -f and postsuper:
 *
 *   POST /v1/queue/flush            body {} | {"domain": D} | {"queue_id": Q}
 *        pending rows (deferred or not) due now, their jobs woken
 *   POST /v1/queue/{queue_id}/hold     pending -> held (never attempted)
 *   POST /v1/queue/{queue_id}/release  held -> pending, due now, job woken
 *   POST /v1/queue/{queue_id}/delete   pending/held -> deleted, no DSN; a job
 *        with nothing pending or held left is finished ("done")
 *   POST /v1/queue/{queue_id}/requeue  bounced or deferred -> pending with
 *        attempts, last reply and age reset, due now, job reopened
 *   -> 200 {"action","queue_id" (or null),"domain" (or null),"changed": rows,
 *           "messages": n}; 404 not_found for an unknown queue id or action.
 *
 * Each action is one statement (the rows, then the relay jobs concerned:
 * woken = pending, due_at now(), published_at NULL, so the relay's sweeper
 * publishes them) plus one "relay" trace event per message
 * (held/released/deleted/requeued/flushed with the recipients), in one
 * transaction. Row locks make it safe against a worker attempting the same
 * rows: the statement waits for the worker's commit and then sees the new
 * states. Handlers borrow a pooled connection for the request only.
 */
#include "relay_queue.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "log.h"

#define ACT_DOMAIN_MAX 255

/* The rows changed (ch), the jobs changed (w), and per message the
 * recipients, for the trace events. */
#define ACT_TAIL \
    "SELECT ch.message_id, json_agg(ch.rcpt ORDER BY ch.rcpt)::text, " \
    "  (SELECT count(*) FROM w) FROM ch GROUP BY ch.message_id"
#define ACT_WAKE \
    "w AS (UPDATE spool.jobs j SET state = 'pending', due_at = now(), published_at = NULL, " \
    "  updated_at = now() WHERE j.id IN (SELECT job_id FROM ch) AND j.stage = 'relay' " \
    "  RETURNING j.id) "

static const char SQL_HOLD[] =
    "WITH ch AS (UPDATE relay.deliveries SET state = 'held', updated_at = now() "
    "  WHERE queue_id = $1 AND state = 'pending' RETURNING id, job_id, message_id, rcpt), "
    "w AS (SELECT 1 WHERE false) " ACT_TAIL;
static const char SQL_RELEASE[] =
    "WITH ch AS (UPDATE relay.deliveries SET state = 'pending', next_attempt_at = now(), "
    "  updated_at = now() WHERE queue_id = $1 AND state = 'held' "
    "  RETURNING id, job_id, message_id, rcpt), " ACT_WAKE ACT_TAIL;
static const char SQL_DELETE[] =
    "WITH ch AS (UPDATE relay.deliveries SET state = 'deleted', updated_at = now() "
    "  WHERE queue_id = $1 AND state IN ('pending', 'held') "
    "  RETURNING id, job_id, message_id, rcpt), "
    "w AS (UPDATE spool.jobs j SET state = 'done', updated_at = now() "
    "  WHERE j.id IN (SELECT job_id FROM ch) AND j.stage = 'relay' AND j.state = 'pending' "
    "  AND NOT EXISTS (SELECT 1 FROM relay.deliveries d WHERE d.job_id = j.id "
    "    AND d.state IN ('pending', 'held') AND d.id NOT IN (SELECT id FROM ch)) "
    "  RETURNING j.id) " ACT_TAIL;
static const char SQL_REQUEUE[] =
    "WITH ch AS (UPDATE relay.deliveries SET state = 'pending', attempts = 0, "
    "  next_attempt_at = now(), last_reply = NULL, last_host = NULL, created_at = now(), "
    "  delay_warned_at = NULL, updated_at = now() "
    "  WHERE queue_id = $1 AND (state = 'bounced' OR "
    "    (state = 'pending' AND last_reply IS NOT NULL)) "
    "  RETURNING id, job_id, message_id, rcpt), " ACT_WAKE ACT_TAIL;
static const char SQL_FLUSH[] =
    "WITH ch AS (UPDATE relay.deliveries SET next_attempt_at = LEAST(next_attempt_at, now()), "
    "  updated_at = now() WHERE state = 'pending' "
    "  AND ($1::text IS NULL OR queue_id = $1::text) "
    "  AND ($2::text IS NULL OR lower(substring(rcpt FROM '@([^@]*)$')) = lower($2::text)) "
    "  RETURNING id, job_id, message_id, rcpt), " ACT_WAKE ACT_TAIL;
static const char SQL_EXISTS[] =
    "SELECT 1 FROM relay.deliveries WHERE queue_id = $1 LIMIT 1";

typedef struct act_def {
    const char *name;     /* path segment */
    const char *sql;      /* $1 queue id */
    const char *event;    /* trace event */
} act_def;

static const act_def act_defs[] = {
    { "hold",    SQL_HOLD,    "held" },
    { "release", SQL_RELEASE, "released" },
    { "delete",  SQL_DELETE,  "deleted" },
    { "requeue", SQL_REQUEUE, "requeued" },
};

static void act_flush(void *arg, const http_request *req, http_response *resp);
static void act_message(void *arg, const http_request *req, http_response *resp);
static void act_run(relay_state *st, http_response *resp, const char *action,
                    const char *sql, const char *event, const char *qid, const char *domain);

int relay_queue_act_register(service *svc, relay_state *st)
{
    if (http_route(svc->http, "POST", "/v1/queue/flush", act_flush, st) != 0 ||
        http_route(svc->http, "POST", "/v1/queue/*/*", act_message, st) != 0)
        return -1;
    return 0;
}

static void act_flush(void *arg, const http_request *req, http_response *resp)
{
    static const char *const allowed[] = { "domain", "queue_id", NULL };
    const char *domain = NULL, *qid = NULL;

    if (req->json != NULL) {
        if (http_json_check_fields(req, resp, allowed, NULL) != 0)
            return;
        json_t *d = json_object_get(req->json, "domain");
        json_t *q = json_object_get(req->json, "queue_id");
        if ((d != NULL && !json_is_string(d)) || (q != NULL && !json_is_string(q))) {
            http_reply_error(resp, 400, "bad_request", "domain and queue_id are strings");
            return;
        }
        if (d != NULL && q != NULL) {
            http_reply_error(resp, 400, "bad_request", "give domain or queue_id, not both");
            return;
        }
        domain = json_string_value(d);
        qid = json_string_value(q);
    }
    if (domain != NULL && (domain[0] == '\0' || strlen(domain) > ACT_DOMAIN_MAX ||
                           strpbrk(domain, "@ \t\r\n") != NULL)) {
        http_reply_error(resp, 400, "bad_request", "domain must be a domain name");
        return;
    }
    if (qid != NULL && !relay_queue_id_ok(qid)) {
        http_reply_error(resp, 404, "not_found", "no such queue id");
        return;
    }
    act_run(arg, resp, "flush", SQL_FLUSH, "flushed", qid, domain);
}

static void act_message(void *arg, const http_request *req, http_response *resp)
{
    const char *qid = req->params[0], *action = req->params[1];

    if (req->json != NULL && (!json_is_object(req->json) || json_object_size(req->json) > 0)) {
        http_reply_error(resp, 400, "bad_request", "this action takes no body");
        return;
    }
    for (size_t i = 0; i < sizeof(act_defs) / sizeof(act_defs[0]); i++) {
        if (strcmp(action, act_defs[i].name) != 0)
            continue;
        if (!relay_queue_id_ok(qid)) {
            http_reply_error(resp, 404, "not_found", "no such queue id");
            return;
        }
        act_run(arg, resp, action, act_defs[i].sql, act_defs[i].event, qid, NULL);
        return;
    }
    http_reply_error(resp, 404, "not_found",
                     "no such action (hold, release, delete, requeue)");
}

/* Runs the action's statement and its trace events in one transaction and
 * replies. For flush, sql takes ($1 qid, $2 domain); otherwise ($1 qid). */
static void act_run(relay_state *st, http_response *resp, const char *action,
                    const char *sql, const char *event, const char *qid, const char *domain)
{
    db_conn *c = db_pool_acquire(st->db, 5000);
    if (c == NULL) {
        http_reply_error(resp, 503, "unavailable", "database unavailable");
        return;
    }
    int is_flush = strcmp(action, "flush") == 0;
    long long changed = 0, jobs = 0;
    PGresult *r = NULL;
    if (db_begin(c) != 0)
        goto dberr;
    r = is_flush ? db_queryv(c, sql, 2, qid, domain) : db_queryv(c, sql, 1, qid);
    if (r == NULL)
        goto dberr;
    int nmsg = PQntuples(r);
    for (int i = 0; i < nmsg; i++) {
        json_t *rcpts = json_loads(PQgetvalue(r, i, 1), 0, NULL);
        json_t *d = json_pack("{s:o, s:s}", "rcpts", rcpts ? rcpts : json_array(),
                              "by", "operator");
        changed += (long long)json_array_size(json_object_get(d, "rcpts"));
        jobs = strtoll(PQgetvalue(r, i, 2), NULL, 10);
        int ev = spool_event(c, strtoll(PQgetvalue(r, i, 0), NULL, 10), 0, "relay", event, d);
        json_decref(d);
        if (ev != 0)
            goto dberr;
    }
    PQclear(r);
    r = NULL;
    if (nmsg == 0 && qid != NULL) {
        r = db_queryv(c, SQL_EXISTS, 1, qid);
        if (r == NULL)
            goto dberr;
        int found = PQntuples(r) > 0;
        PQclear(r);
        r = NULL;
        if (!found) {
            db_rollback(c);
            db_pool_release(st->db, c);
            http_reply_error(resp, 404, "not_found", "no deliveries for queue id %s", qid);
            return;
        }
    }
    if (db_commit(c) != 0)
        goto dberr;
    db_pool_release(st->db, c);
    char n1[24], n2[24];
    snprintf(n1, sizeof(n1), "%lld", changed);
    snprintf(n2, sizeof(n2), "%lld", jobs);
    log_info("queue action", "action", action, "queue_id", qid ? qid : "",
             "domain", domain ? domain : "", "changed", n1, "jobs", n2);
    http_reply_json(resp, 200, json_pack("{s:s, s:s?, s:s?, s:I, s:i}", "action", action,
                                         "queue_id", qid, "domain", domain,
                                         "changed", (json_int_t)changed, "messages", nmsg));
    return;
dberr:
    log_error("queue action failed", "action", action, "error", db_conn_error(c));
    if (r != NULL)
        PQclear(r);
    db_rollback(c);
    db_pool_release(st->db, c);
    http_reply_error(resp, 500, "internal", "database error");
}
