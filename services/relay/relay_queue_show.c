/*
 * relay_queue_show.c - the attempt log of deliveries (relay.attempts,
 * sql/002_queue.sql) for GET /v1/queue/{queue_id}: every delivery object
 * gets "history": [{"at","host","reply","tls_version","tls_cipher",
 * "tls_verify","result"}, ...], oldest first, at most
 * QUEUE_HISTORY_MAX per delivery (the newest are kept).
 *
 * arr must be ordered by delivery id. Runs on the caller's pooled
 * connection; owns only its query results.
 */
#include "relay_queue.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "log.h"

#define QUEUE_HISTORY_MAX 100

static const char SQL_HISTORY[] =
    "SELECT delivery_id, "
    "  to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), "
    "  host, reply, tls_version, tls_cipher, tls_verify, result "
    "FROM (SELECT a.*, row_number() OVER (PARTITION BY delivery_id ORDER BY id DESC) AS n "
    "      FROM relay.attempts a WHERE delivery_id = ANY($1::bigint[])) t "
    "WHERE n <= $2::integer ORDER BY delivery_id, id";

int relay_queue_history_add(db_conn *c, json_t *arr)
{
    size_t i, n = json_array_size(arr);
    json_t *d;
    char *ids = NULL;
    size_t len = 0;
    char lim[16];

    if (n == 0)
        return 0;
    /* "{1,2,3}": a bigint[] literal of the deliveries' ids. */
    ids = malloc(n * 22 + 3);
    if (ids == NULL)
        return -1;
    ids[len++] = '{';
    json_array_foreach(arr, i, d) {
        int w = snprintf(ids + len, 22, "%s%" PRId64, i > 0 ? "," : "",
                         (int64_t)json_integer_value(json_object_get(d, "id")));
        if (w < 0 || w >= 22) {
            free(ids);
            return -1;
        }
        len += (size_t)w;
        json_object_set_new(d, "history", json_array());
    }
    ids[len++] = '}';
    ids[len] = '\0';
    snprintf(lim, sizeof(lim), "%d", QUEUE_HISTORY_MAX);
    PGresult *r = db_queryv(c, SQL_HISTORY, 2, ids, lim);
    free(ids);
    if (r == NULL) {
        log_error("loading the attempt log failed", "error", db_conn_error(c));
        return -1;
    }
    /* Both are ordered by delivery id (arr by the caller's ORDER BY id):
     * walk them together. */
    size_t k = 0;
    for (int row = 0; row < PQntuples(r); row++) {
        json_int_t did = strtoll(PQgetvalue(r, row, 0), NULL, 10);
        while (k < n && json_integer_value(json_object_get(json_array_get(arr, k), "id")) < did)
            k++;
        if (k == n)
            break;
        d = json_array_get(arr, k);
        if (json_integer_value(json_object_get(d, "id")) != did)
            continue;
        json_t *a = json_object();
        json_object_set_new(a, "at", relay_queue_text(r, row, 1));
        json_object_set_new(a, "host", relay_queue_text(r, row, 2));
        json_object_set_new(a, "reply", relay_queue_text(r, row, 3));
        json_object_set_new(a, "tls_version", relay_queue_text(r, row, 4));
        json_object_set_new(a, "tls_cipher", relay_queue_text(r, row, 5));
        json_object_set_new(a, "tls_verify", relay_queue_text(r, row, 6));
        json_object_set_new(a, "result", relay_queue_text(r, row, 7));
        json_array_append_new(json_object_get(d, "history"), a);
    }
    PQclear(r);
    return 0;
}
