/*
 * lists_api_held.c - the moderation queue: GET /v1/lists/{addr}/held
 * (?state=all for decided posts too), POST /v1/held/{id}/approve and
 * POST /v1/held/{id}/reject.
 *
 * Approve, in one transaction: lock the held row (FOR UPDATE), check it is
 * still "held" (else 409: a second approve never distributes twice),
 * distribute the post exactly as a member post (lists_distribute), mark it
 * approved, record an event; commit; then publish the new jobs (the sweeper
 * publishes them if that fails). Reject only records the decision: no
 * notice is sent to the poster in this version.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "log.h"
#include "service.h"
#include "lists.h"

static void api_held_get(void *arg, const http_request *req, http_response *resp)
{
    lists_state *st = arg;
    lists_list *l = NULL;
    const char *state = http_request_query(req, "state");

    if (state != NULL && strcmp(state, "all") != 0 && strcmp(state, "held") != 0) {
        http_reply_error(resp, 400, "bad_request", "state must be held or all");
        return;
    }
    db_conn *c = lists_api_conn(st, resp);
    if (c == NULL)
        return;
    if (lists_api_find(c, req->params[0], resp, &l) == 0) {
        json_t *body = lists_store_held_json(c, l->id, state != NULL && strcmp(state, "all") == 0);
        if (body == NULL)
            lists_api_db_error(resp, c);
        else
            http_reply_json(resp, 200, body);
    }
    lists_list_free(l);
    lists_api_release(st, c);
}

/* Parses a positive decimal id; 0 if it is not one. */
static int64_t parse_id(const char *s)
{
    if (s == NULL || *s == '\0' || strlen(s) > 18)
        return 0;
    for (const char *p = s; *p != '\0'; p++)
        if (*p < '0' || *p > '9')
            return 0;
    return strtoll(s, NULL, 10);
}

/* Inside the transaction: the decision. Returns 0 done (resp untouched),
 * -1 replied (error). */
static int held_decide_tx(lists_state *st, db_conn *c, int64_t id, int approve,
                          spool_jobs *out, http_response *resp)
{
    char sid[24];
    snprintf(sid, sizeof sid, "%" PRId64, id);
    PGresult *r = db_queryv(c, "SELECT h.state, h.message_id, " LISTS_LIST_COLS
                               " FROM lists.held h JOIN lists.lists l ON l.id = h.list_id"
                               " WHERE h.id = $1 FOR UPDATE OF h", 1, sid);
    if (r == NULL) {
        lists_api_db_error(resp, c);
        return -1;
    }
    if (PQntuples(r) == 0) {
        PQclear(r);
        http_reply_error(resp, 404, "not_found", "no such held post: %s", sid);
        return -1;
    }
    if (strcmp(PQgetvalue(r, 0, 0), "held") != 0) {
        http_reply_error(resp, 409, "conflict", "post %s is already %s", sid,
                         PQgetvalue(r, 0, 0));
        PQclear(r);
        return -1;
    }
    int64_t msg_id = strtoll(PQgetvalue(r, 0, 1), NULL, 10);
    lists_list *l = lists_store_row_list(r, 0, 2);
    PQclear(r);

    int rc = 0;
    if (approve) {
        spool_message *msg = NULL;
        if (spool_message_load(c, msg_id, &msg) != 0) {
            lists_api_db_error(resp, c);
            rc = -1;
        } else {
            int d = lists_distribute(st, c, l, msg, 0, out);
            if (d == LISTS_ERR_MESSAGE) {
                http_reply_error(resp, 422, "unprocessable",
                                 "the post cannot be turned into a list copy");
                rc = -1;
            } else if (d != LISTS_OK) {
                lists_api_db_error(resp, c);
                rc = -1;
            }
        }
        spool_message_free(msg);
    }
    const char *state = approve ? "approved" : "rejected";
    if (rc == 0 && db_exec(c, "UPDATE lists.held SET state = $2, decided_at = now()"
                              " WHERE id = $1", 2, (const char *const[]){ sid, state }) != 0) {
        lists_api_db_error(resp, c);
        rc = -1;
    }
    if (rc == 0) {
        json_t *detail = json_pack("{s:s, s:I}", "list", l->address, "held_id", (json_int_t)id);
        if (spool_event(c, msg_id, 0, "lists", state, detail) != 0) {
            lists_api_db_error(resp, c);
            rc = -1;
        }
        json_decref(detail);
    }
    if (rc == 0)
        log_info(approve ? "held post approved" : "held post rejected",
                 "list", l->address, "held_id", sid);
    lists_list_free(l);
    return rc;
}

static void held_decide(lists_state *st, const http_request *req, http_response *resp,
                        int approve)
{
    static const char *const none[] = { NULL };
    spool_jobs out = { 0 };
    if (req->json != NULL && http_json_check_fields(req, resp, none, none) != 0)
        return;
    int64_t id = parse_id(req->params[0]);
    if (id <= 0) {
        http_reply_error(resp, 404, "not_found", "no such held post");
        return;
    }
    db_conn *c = lists_api_conn(st, resp);
    if (c == NULL)
        return;
    if (db_begin(c) != 0) {
        lists_api_db_error(resp, c);
    } else if (held_decide_tx(st, c, id, approve, &out, resp) != 0) {
        db_rollback(c);
    } else if (db_commit(c) != 0) {
        lists_api_db_error(resp, c);
    } else {
        lists_state_publish(st, c, &out);
        if (approve)
            metrics_counter_inc(st->posts, "approved");
        json_t *o = lists_store_held_one_json(c, id);
        if (o == NULL)
            o = json_pack("{s:I, s:s}", "id", (json_int_t)id,
                          "state", approve ? "approved" : "rejected");
        http_reply_json(resp, 200, o);
    }
    spool_jobs_release(&out);
    lists_api_release(st, c);
}

static void api_held_approve(void *arg, const http_request *req, http_response *resp)
{
    held_decide(arg, req, resp, 1);
}

static void api_held_reject(void *arg, const http_request *req, http_response *resp)
{
    held_decide(arg, req, resp, 0);
}

int lists_api_held_register(service *svc, lists_state *st)
{
    http_server *h = svc->http;
    if (http_route(h, "GET", "/v1/lists/*/held", api_held_get, st) != 0 ||
        http_route(h, "POST", "/v1/held/*/approve", api_held_approve, st) != 0 ||
        http_route(h, "POST", "/v1/held/*/reject", api_held_reject, st) != 0)
        return -1;
    return 0;
}
