/*
 * relay_db.c - the relay.deliveries table (services/relay/sql/001_relay.sql):
 * creating a job's rows, loading the due ones, recording outcomes and the
 * job's remaining work. Every function runs on the caller's connection
 * inside the worker's transaction. Results are PQclear()ed here; rows
 * handed out are owned by the caller (relay_db_rows_free).
 */
#include "relay.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "xalloc.h"

static const char SQL_INSERT[] =
    "INSERT INTO relay.deliveries (job_id, message_id, queue_id, mail_from, rcpt) "
    "VALUES ($1::bigint, $2::bigint, $3, $4, $5) ON CONFLICT (job_id, rcpt) DO NOTHING";
static const char SQL_DUE[] =
    "SELECT id, rcpt, attempts, "
    "  (created_at < now() - make_interval(secs => $2::double precision)), last_reply "
    "FROM relay.deliveries "
    "WHERE job_id = $1::bigint AND state = 'pending' AND next_attempt_at <= now() "
    "ORDER BY id FOR UPDATE";
static const char SQL_UPDATE[] =
    "UPDATE relay.deliveries SET state = $2::text, attempts = $3::integer, "
    "  next_attempt_at = CASE WHEN $2::text = 'pending' THEN "
    "    LEAST(now() + make_interval(secs => $4::double precision), "
    "          created_at + make_interval(secs => $7::double precision)) "
    "    ELSE next_attempt_at END, "
    "  last_reply = $5, last_host = NULLIF($6::text, ''), updated_at = now() "
    "WHERE id = $1::bigint";
static const char SQL_PENDING[] =
    "SELECT count(*), ceil(extract(epoch FROM min(next_attempt_at)))::bigint "
    "FROM relay.deliveries WHERE job_id = $1::bigint AND state = 'pending'";

int relay_db_insert_rcpts(db_conn *c, const spool_job *job, const spool_message *msg,
                          const char *mail_from, const char *const *rcpts, size_t n)
{
    char jid[24], mid[24];

    snprintf(jid, sizeof(jid), "%" PRId64, job->id);
    snprintf(mid, sizeof(mid), "%" PRId64, msg->id);
    for (size_t i = 0; i < n; i++) {
        PGresult *r = db_queryv(c, SQL_INSERT, 5, jid, mid, msg->queue_id, mail_from, rcpts[i]);
        if (r == NULL) {
            log_error("inserting a delivery failed", "job_id", jid, "error", db_conn_error(c));
            return -1;
        }
        PQclear(r);
    }
    return 0;
}

int relay_db_load_due(db_conn *c, int64_t job_id, long max_age, relay_row **rows)
{
    char jid[24], age[24];

    *rows = NULL;
    snprintf(jid, sizeof(jid), "%" PRId64, job_id);
    snprintf(age, sizeof(age), "%ld", max_age);
    PGresult *r = db_queryv(c, SQL_DUE, 2, jid, age);
    if (r == NULL) {
        log_error("loading deliveries failed", "job_id", jid, "error", db_conn_error(c));
        return -1;
    }
    int n = PQntuples(r);
    if (n > 0) {
        *rows = xcalloc((size_t)n, sizeof(**rows));
        for (int i = 0; i < n; i++) {
            (*rows)[i].id = strtoll(PQgetvalue(r, i, 0), NULL, 10);
            (*rows)[i].rcpt = xstrdup(PQgetvalue(r, i, 1));
            (*rows)[i].attempts = atoi(PQgetvalue(r, i, 2));
            (*rows)[i].expired = PQgetvalue(r, i, 3)[0] == 't';
            (*rows)[i].last_reply = PQgetisnull(r, i, 4) ? NULL : xstrdup(PQgetvalue(r, i, 4));
        }
    }
    PQclear(r);
    return n;
}

void relay_db_rows_free(relay_row *rows, size_t n)
{
    if (rows == NULL)
        return;
    for (size_t i = 0; i < n; i++) {
        free(rows[i].rcpt);
        free(rows[i].last_reply);
    }
    free(rows);
}

int relay_db_update(db_conn *c, int64_t id, const char *state, int attempts,
                    long delay, long max_age, const char *reply, const char *host)
{
    char sid[24], att[16], del[24], age[24];

    snprintf(sid, sizeof(sid), "%" PRId64, id);
    snprintf(att, sizeof(att), "%d", attempts);
    snprintf(del, sizeof(del), "%ld", delay);
    snprintf(age, sizeof(age), "%ld", max_age);
    PGresult *r = db_queryv(c, SQL_UPDATE, 7, sid, state, att, del, reply, host, age);
    if (r == NULL) {
        log_error("updating a delivery failed", "error", db_conn_error(c));
        return -1;
    }
    PQclear(r);
    return 0;
}

int relay_db_job_pending(db_conn *c, int64_t job_id, long *npending, time_t *earliest)
{
    char jid[24];

    snprintf(jid, sizeof(jid), "%" PRId64, job_id);
    PGresult *r = db_queryv(c, SQL_PENDING, 1, jid);
    if (r == NULL || PQntuples(r) != 1) {
        log_error("counting pending deliveries failed", "job_id", jid,
                  "error", db_conn_error(c));
        if (r != NULL)
            PQclear(r);
        return -1;
    }
    *npending = strtol(PQgetvalue(r, 0, 0), NULL, 10);
    *earliest = PQgetisnull(r, 0, 1) ? 0 : (time_t)strtoll(PQgetvalue(r, 0, 1), NULL, 10);
    PQclear(r);
    return 0;
}
