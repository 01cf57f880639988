/*
 * relay_queue_summary.c - GET /v1/queue/summary: the shape of the queue per
 * destination domain, like Postfix's qshape.
 *
 *   -> {"buckets": ["0-5m", "5-10m", ..., "1280m+"],
 *       "total":   {"queued": n, "states": {...}, "ages": [n, ...]},
 *       "domains": [{"domain": d, "queued": n, "states": {...},
 *                    "ages": [n, ...]}, ...]}
 *
 * states counts every row of the domain by state, with deferred (pending
 * after a failed attempt) apart from pending (not yet tried): pending,
 * deferred, held, delivered, bounced, deleted. queued = pending + deferred
 * + held; ages splits the queued rows by time since they were queued, one
 * count per bucket. Domains with queued rows come first (most queued
 * first), then by name; at most SUMMARY_DOMAINS_MAX domains are listed
 * (the total counts all).
 */
#include "relay_queue.h"

#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "log.h"

#define SUMMARY_DOMAINS_MAX 1000
#define SUMMARY_NBUCKETS    10

static const char *const summary_buckets[SUMMARY_NBUCKETS] = {
    "0-5m", "5-10m", "10-20m", "20-40m", "40-80m", "80-160m", "160-320m", "320-640m",
    "640-1280m", "1280m+",
};
static const char *const summary_states[] = {
    "pending", "deferred", "held", "delivered", "bounced", "deleted", NULL,
};

static const char SQL_SUMMARY[] =
    "SELECT coalesce(lower(substring(rcpt FROM '@([^@]*)$')), ''), "
    "  CASE WHEN state = 'pending' AND last_reply IS NOT NULL THEN 'deferred' "
    "    ELSE state END, "
    "  CASE WHEN state IN ('pending', 'held') THEN width_bucket("
    "    extract(epoch FROM now() - created_at)::double precision / 60, "
    "    ARRAY[5, 10, 20, 40, 80, 160, 320, 640, 1280]::double precision[]) END, "
    "  count(*) "
    "FROM relay.deliveries GROUP BY 1, 2, 3";

static void    summary_get(void *arg, const http_request *req, http_response *resp);
static json_t *summary_entry_new(void);
static void    summary_add(json_t *e, const char *state, int bucket, json_int_t n);
static int     summary_cmp(const void *a, const void *b);

int relay_queue_summary_register(service *svc, relay_state *st)
{
    return http_route(svc->http, "GET", "/v1/queue/summary", summary_get, st);
}

static void summary_get(void *arg, const http_request *req, http_response *resp)
{
    relay_state *st = arg;
    (void)req;

    db_conn *c = db_pool_acquire(st->db, 5000);
    if (c == NULL) {
        http_reply_error(resp, 503, "unavailable", "database unavailable");
        return;
    }
    PGresult *r = db_queryv(c, SQL_SUMMARY, 0, NULL);
    if (r == NULL) {
        log_error("queue summary failed", "error", db_conn_error(c));
        db_pool_release(st->db, c);
        http_reply_error(resp, 500, "internal", "database error");
        return;
    }
    json_t *total = summary_entry_new();
    json_t *by_domain = json_object();
    for (int i = 0; i < PQntuples(r); i++) {
        const char *dom = PQgetvalue(r, i, 0);
        const char *state = PQgetvalue(r, i, 1);
        int bucket = PQgetisnull(r, i, 2) ? -1 : atoi(PQgetvalue(r, i, 2));
        json_int_t n = strtoll(PQgetvalue(r, i, 3), NULL, 10);
        json_t *e = json_object_get(by_domain, dom);
        if (e == NULL) {
            json_t *name = relay_queue_text(r, i, 0);
            e = summary_entry_new();
            json_object_set_new(e, "domain", name);
            /* a non-UTF-8 key is refused: count it in the total only */
            if (json_object_set_new(by_domain, dom, e) != 0)
                e = NULL;
        }
        summary_add(total, state, bucket, n);
        if (e != NULL)
            summary_add(e, state, bucket, n);
    }
    PQclear(r);
    db_pool_release(st->db, c);

    size_t nd = json_object_size(by_domain), k = 0;
    json_t **v = calloc(nd + 1, sizeof(*v));
    if (v == NULL) {
        json_decref(total);
        json_decref(by_domain);
        http_reply_error(resp, 500, "internal", "out of memory");
        return;
    }
    const char *key;
    json_t *e;
    json_object_foreach(by_domain, key, e)
        v[k++] = e;
    qsort(v, nd, sizeof(*v), summary_cmp);
    json_t *domains = json_array();
    for (k = 0; k < nd && k < SUMMARY_DOMAINS_MAX; k++)
        json_array_append(domains, v[k]);
    free(v);
    json_decref(by_domain);
    json_t *buckets = json_array();
    for (int b = 0; b < SUMMARY_NBUCKETS; b++)
        json_array_append_new(buckets, json_string(summary_buckets[b]));
    http_reply_json(resp, 200, json_pack("{s:o, s:o, s:o}", "buckets", buckets,
                                         "total", total, "domains", domains));
}

static json_t *summary_entry_new(void)
{
    json_t *states = json_object(), *ages = json_array();
    for (size_t i = 0; summary_states[i] != NULL; i++)
        json_object_set_new(states, summary_states[i], json_integer(0));
    for (int b = 0; b < SUMMARY_NBUCKETS; b++)
        json_array_append_new(ages, json_integer(0));
    return json_pack("{s:I, s:o, s:o}", "queued", (json_int_t)0, "states", states,
                     "ages", ages);
}

/* bucket: width_bucket's 0..9, or -1 for a row that is not queued. */
static void summary_add(json_t *e, const char *state, int bucket, json_int_t n)
{
    json_t *s = json_object_get(json_object_get(e, "states"), state);
    if (s != NULL)
        json_integer_set(s, json_integer_value(s) + n);
    if (bucket < 0 || bucket >= SUMMARY_NBUCKETS)
        return;
    json_t *q = json_object_get(e, "queued");
    json_integer_set(q, json_integer_value(q) + n);
    json_t *a = json_array_get(json_object_get(e, "ages"), (size_t)bucket);
    json_integer_set(a, json_integer_value(a) + n);
}

static int summary_cmp(const void *a, const void *b)
{
    const json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
    json_int_t qx = json_integer_value(json_object_get(x, "queued"));
    json_int_t qy = json_integer_value(json_object_get(y, "queued"));
    if (qx != qy)
        return qx > qy ? -1 : 1;
    return strcmp(json_string_value(json_object_get(x, "domain")),
                  json_string_value(json_object_get(y, "domain")));
}
