/*
 * relay_db.c - the relay.deliveries table (services/relay/sql/001_relay.sql):
 * loading a job's due rows, recording outcomes (one relay.attempts row
 * per real attempt, sql/002_queue.sql, and the trace event, in the same
 * statement; the rows of a job never attempted are inserted then, with
 * their first outcome) and the job's remaining work. Every function runs on the caller's connection
 * inside the worker's transaction. Results are PQclear()ed here; rows
 * handed out are owned by the caller (relay_db_rows_free).
 *
 * Queue states (docs/queue.md): only 'pending' rows are loaded and
 * attempted; 'held' rows are never attempted but count as remaining work,
 * so a job with held rows stays pending (looked at again after
 * RELAY_QUEUE_HELD_RECHECK_SECONDS, or at
 * once when an operator releases them); 'deleted' rows are finished.
 */
#include "relay.h"
#include "relay_queue.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "xalloc.h"

/* The due pending rows of the job, locked, and two counts on every row
 * (one row with NULLs when none is due): all the job's rows (0: a job never
 * attempted; its rows are inserted with their outcome, SQL_INSERT_DONE) and
 * its open rows (pending or held) that are not among the due ones: when
 * that is 0 and every attempted row ends delivered or bounced, nothing is
 * left and the job is done without asking again. */
static const char SQL_DUE[] =
    "WITH due AS ("
    "  SELECT id, rcpt, attempts, "
    "    (created_at < now() - make_interval(secs => $2::double precision)) AS expired, "
    "    last_reply "
    "  FROM relay.deliveries "
    "  WHERE job_id = $1::bigint AND state = 'pending' AND next_attempt_at <= now() "
    "  FOR UPDATE), "
    "agg AS (SELECT count(*) AS total, "
    "  count(*) FILTER (WHERE state IN ('pending', 'held')) AS open "
    "  FROM relay.deliveries WHERE job_id = $1::bigint) "
    "SELECT d.id, d.rcpt, d.attempts, d.expired, d.last_reply, agg.total, "
    "  agg.open - (SELECT count(*) FROM due) "
    "FROM agg LEFT JOIN due d ON true ORDER BY d.id";
/* A row of a job never attempted, inserted with its first outcome and
 * trace event (the same as SQL_RECORD for a row that existed: nobody else
 * sees the row before the commit, and one insert costs half of an insert
 * and an update with every index). $8 'pending' only when the row waits
 * (then next_attempt_at is now + $9 seconds, at most now + max age). */
static const char SQL_INSERT_DONE[] =
    "WITH ins AS (INSERT INTO relay.deliveries (job_id, message_id, queue_id, mail_from, "
    "  rcpt, state, attempts, next_attempt_at, last_reply, last_host) "
    "  VALUES ($1::bigint, $2::bigint, $3, $4, $5, $6::text, $7::integer, "
    "    CASE WHEN $6::text = 'pending' THEN "
    "      now() + make_interval(secs => LEAST($8::double precision, $9::double precision)) "
    "      ELSE now() END, "
    "    $10, NULLIF($11::text, '')) RETURNING id), "
    "att AS (INSERT INTO relay.attempts (delivery_id, host, reply, tls_version, tls_cipher, "
    "  tls_verify, result) "
    "  SELECT ins.id, NULLIF($11::text, ''), $10, NULLIF($12::text, ''), "
    "    NULLIF($13::text, ''), NULLIF($14::text, ''), CASE $6::text WHEN 'pending' "
    "    THEN 'deferred' WHEN 'delivered' THEN 'delivered' ELSE 'bounced' END "
    "  FROM ins WHERE $7::integer > 0), "
    "ev AS (INSERT INTO spool.events (message_id, job_id, service, event, detail) "
    "  SELECT $2::bigint, NULLIF($1::bigint, 0), 'relay', $15, $16::jsonb WHERE $15 <> '') "
    "SELECT id FROM ins";
/* Updates the row, logs the attempt when the attempt counter grew (a real
 * attempt, not an expiry) and appends the trace event, in one statement
 * ("old" reads the row before the update: one snapshot for the whole
 * statement; every data-modifying part runs whether or not it is read). */
static const char SQL_RECORD[] =
    "WITH old AS (SELECT attempts FROM relay.deliveries WHERE id = $1::bigint), "
    "upd AS (UPDATE relay.deliveries SET state = $2::text, attempts = $3::integer, "
    "  next_attempt_at = CASE WHEN $2::text = 'pending' THEN "
    "    LEAST(now() + make_interval(secs => $4::double precision), "
    "          created_at + make_interval(secs => $7::double precision)) "
    "    ELSE next_attempt_at END, "
    "  last_reply = $5, last_host = NULLIF($6::text, ''), wait_reason = NULL, "
    "  updated_at = now() "
    "  WHERE id = $1::bigint RETURNING id), "
    "att AS (INSERT INTO relay.attempts (delivery_id, host, reply, tls_version, tls_cipher, "
    "  tls_verify, result) "
    "  SELECT upd.id, NULLIF($6::text, ''), $5, NULLIF($8::text, ''), NULLIF($9::text, ''), "
    "    NULLIF($10::text, ''), CASE $2::text WHEN 'pending' THEN 'deferred' "
    "      WHEN 'delivered' THEN 'delivered' ELSE 'bounced' END "
    "  FROM upd, old WHERE $3::integer > old.attempts) "
    "INSERT INTO spool.events (message_id, job_id, service, event, detail) "
    "VALUES ($11::bigint, NULLIF($12::bigint, 0), 'relay', $13, $14::jsonb)";
/* Held rows count as remaining work; when only held rows remain, the job
 * is due again after $2 seconds, or earlier when released. */
static const char SQL_PENDING[] =
    "SELECT count(*), ceil(extract(epoch FROM coalesce("
    "    min(next_attempt_at) FILTER (WHERE state = 'pending'), "
    "    now() + make_interval(secs => $2::double precision))))::bigint "
    "FROM relay.deliveries WHERE job_id = $1::bigint AND state IN ('pending', 'held')";

int relay_db_load_due(db_conn *c, int64_t job_id, long max_age, relay_row **rows,
                      long *unloaded_open, long *total)
{
    char jid[24], age[24];

    *rows = NULL;
    *unloaded_open = -1;
    *total = -1;
    snprintf(jid, sizeof(jid), "%" PRId64, job_id);
    snprintf(age, sizeof(age), "%ld", max_age);
    PGresult *r = db_queryv(c, SQL_DUE, 2, jid, age);
    if (r == NULL || PQntuples(r) < 1) {
        log_error("loading deliveries failed", "job_id", jid, "error", db_conn_error(c));
        if (r != NULL)
            PQclear(r);
        return -1;
    }
    int nr = PQntuples(r);
    *total = strtol(PQgetvalue(r, 0, 5), NULL, 10);
    *unloaded_open = strtol(PQgetvalue(r, 0, 6), NULL, 10);
    if (PQgetisnull(r, 0, 0))
        nr = 0;                              /* the one row of counts only */
    if (nr > 0) {
        *rows = xcalloc((size_t)nr, sizeof(**rows));
        for (int i = 0; i < nr; i++) {
            (*rows)[i].id = strtoll(PQgetvalue(r, i, 0), NULL, 10);
            (*rows)[i].rcpt = xstrdup(PQgetvalue(r, i, 1));
            (*rows)[i].attempts = atoi(PQgetvalue(r, i, 2));
            (*rows)[i].expired = PQgetvalue(r, i, 3)[0] == 't';
            (*rows)[i].last_reply = PQgetisnull(r, i, 4) ? NULL : xstrdup(PQgetvalue(r, i, 4));
        }
    }
    PQclear(r);
    return nr;
}

int relay_db_new_rows(const char *const *rcpts, size_t n, relay_row **rows)
{
    size_t k = 0;

    *rows = n > 0 ? xcalloc(n, sizeof(**rows)) : NULL;
    for (size_t i = 0; i < n; i++) {
        size_t j = 0;
        while (j < k && strcmp((*rows)[j].rcpt, rcpts[i]) != 0)
            j++;
        if (j < k)
            continue;                        /* (job_id, rcpt) is unique */
        (*rows)[k].rcpt = xstrdup(rcpts[i]);
        k++;
    }
    return (int)k;
}

int relay_db_insert_row(db_conn *c, const spool_job *job, const spool_message *msg,
                        const char *mail_from, relay_row *row, const char *state, int attempts,
                        long delay, long max_age, const relay_outcome *o, const char *event,
                        const json_t *detail)
{
    char jid[24], mid[24], att[16], del[24], age[24], ver[64] = "";
    const char *cipher = "";
    static const relay_outcome none;

    if (o == NULL)
        o = &none;
    snprintf(jid, sizeof(jid), "%" PRId64, job->id);
    snprintf(mid, sizeof(mid), "%" PRId64, msg->id);
    snprintf(att, sizeof(att), "%d", attempts);
    snprintf(del, sizeof(del), "%ld", delay);
    snprintf(age, sizeof(age), "%ld", max_age);
    if (o->tls[0] != '\0') {
        size_t vl = strcspn(o->tls, " ");
        snprintf(ver, sizeof(ver), "%.*s", (int)(vl < sizeof(ver) ? vl : sizeof(ver) - 1),
                 o->tls);
        cipher = o->tls[vl] == ' ' ? o->tls + vl + 1 : "";
    }
    char *d = detail != NULL ? json_dumps(detail, JSON_COMPACT) : NULL;
    if (detail != NULL && d == NULL)
        panic("json_dumps failed");
    const char *reply = o->reply[0] != '\0' || attempts > 0 ? o->reply : NULL;
    PGresult *r = db_queryv(c, SQL_INSERT_DONE, 16, jid, mid, msg->queue_id, mail_from,
                            row->rcpt, state, att, del, age, reply, o->host, ver, cipher,
                            o->tls_verify, event != NULL ? event : "", d);
    free(d);
    if (r == NULL || PQntuples(r) != 1) {
        log_error("inserting a delivery failed", "job_id", jid, "error", db_conn_error(c));
        if (r != NULL)
            PQclear(r);
        return -1;
    }
    row->id = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    return 0;
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

/* tls is "VERSION CIPHER" (relay_smtp.c) or "": split at the first space. */
int relay_db_record(db_conn *c, int64_t id, const char *state, int attempts, long delay,
                    long max_age, const relay_outcome *o, int64_t message_id,
                    int64_t job_id, const char *event, const json_t *detail)
{
    char sid[24], att[16], del[24], age[24], ver[64] = "", mid[24], jid[24];
    const char *cipher = "";

    snprintf(sid, sizeof(sid), "%" PRId64, id);
    snprintf(att, sizeof(att), "%d", attempts);
    snprintf(del, sizeof(del), "%ld", delay);
    snprintf(age, sizeof(age), "%ld", max_age);
    snprintf(mid, sizeof(mid), "%" PRId64, message_id);
    snprintf(jid, sizeof(jid), "%" PRId64, job_id);
    if (o->tls[0] != '\0') {
        size_t vl = strcspn(o->tls, " ");
        snprintf(ver, sizeof(ver), "%.*s", (int)(vl < sizeof(ver) ? vl : sizeof(ver) - 1),
                 o->tls);
        cipher = o->tls[vl] == ' ' ? o->tls + vl + 1 : "";
    }
    char *d = json_dumps(detail, JSON_COMPACT);
    if (d == NULL)
        panic("json_dumps failed");
    PGresult *r = db_queryv(c, SQL_RECORD, 14, sid, state, att, del, o->reply, o->host, age,
                            ver, cipher, o->tls_verify, mid, jid, event, d);
    free(d);
    if (r == NULL) {
        log_error("recording a delivery failed", "error", db_conn_error(c));
        return -1;
    }
    PQclear(r);
    return 0;
}

int relay_db_job_pending(db_conn *c, int64_t job_id, long *npending, time_t *earliest)
{
    char jid[24], age[24];

    snprintf(jid, sizeof(jid), "%" PRId64, job_id);
    snprintf(age, sizeof(age), "%d", RELAY_QUEUE_HELD_RECHECK_SECONDS);
    PGresult *r = db_queryv(c, SQL_PENDING, 2, jid, age);
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
