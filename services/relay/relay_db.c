/*
 * relay_db.c - the relay.deliveries table (services/relay/sql/001_relay.sql):
 * creating a job's rows together with loading the due ones, recording
 * outcomes (one relay.attempts row per real attempt, sql/002_queue.sql,
 * and the trace event, in the same statement) and the job's remaining
 * work. Every function runs on the caller's connection
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

/* The job's rows and the due ones in one statement: every recipient is
 * inserted ($5 a JSON array of strings, payload order; DO NOTHING also
 * skips a duplicate within the array) and the due pending rows come back
 * locked: the rows that existed before (one snapshot: "due" does not see
 * what "ins" adds) and the new ones (pending and due from their defaults,
 * locked by the insert). The last column is the number of the job's open
 * rows (pending or held) that existed and are not among the due ones: when
 * it is 0 and every attempted row ends delivered or bounced, nothing is
 * left and the job is done without asking again. */
static const char SQL_INSERT_DUE[] =
    "WITH ins AS ("
    "  INSERT INTO relay.deliveries (job_id, message_id, queue_id, mail_from, rcpt) "
    "  SELECT $1::bigint, $2::bigint, $3, $4, u.r "
    "  FROM jsonb_array_elements_text($5::jsonb) WITH ORDINALITY AS u(r, n) ORDER BY u.n "
    "  ON CONFLICT (job_id, rcpt) DO NOTHING "
    "  RETURNING id, rcpt, attempts, last_reply), "
    "due AS ("
    "  SELECT id, rcpt, attempts, "
    "    (created_at < now() - make_interval(secs => $6::double precision)) AS expired, "
    "    last_reply "
    "  FROM relay.deliveries "
    "  WHERE job_id = $1::bigint AND state = 'pending' AND next_attempt_at <= now() "
    "  FOR UPDATE) "
    "SELECT x.id, x.rcpt, x.attempts, x.expired, x.last_reply, "
    "  (SELECT count(*) FROM relay.deliveries "
    "    WHERE job_id = $1::bigint AND state IN ('pending', 'held')) "
    "  - (SELECT count(*) FROM due) "
    "FROM (SELECT id, rcpt, attempts, expired, last_reply FROM due "
    "      UNION ALL SELECT id, rcpt, attempts, false, last_reply FROM ins) x "
    "ORDER BY x.id";
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

int relay_db_insert_load_due(db_conn *c, const spool_job *job, const spool_message *msg,
                             const char *mail_from, const char *const *rcpts, size_t n,
                             long max_age, relay_row **rows, long *unloaded_open)
{
    char jid[24], mid[24], age[24];

    *rows = NULL;
    *unloaded_open = -1;
    snprintf(jid, sizeof(jid), "%" PRId64, job->id);
    snprintf(mid, sizeof(mid), "%" PRId64, msg->id);
    snprintf(age, sizeof(age), "%ld", max_age);
    json_t *a = json_array();
    for (size_t i = 0; a != NULL && i < n; i++)
        if (json_array_append_new(a, json_string(rcpts[i])) != 0) {
            json_decref(a);
            a = NULL;
        }
    char *list = a != NULL ? json_dumps(a, JSON_COMPACT) : NULL;
    json_decref(a);
    if (list == NULL) {
        log_error("recipients not representable as JSON", "job_id", jid);
        return -1;
    }
    PGresult *r = db_queryv(c, SQL_INSERT_DUE, 6, jid, mid, msg->queue_id, mail_from, list,
                            age);
    free(list);
    if (r == NULL) {
        log_error("inserting and loading the deliveries failed", "job_id", jid,
                  "error", db_conn_error(c));
        return -1;
    }
    int nr = PQntuples(r);
    if (nr > 0) {
        *rows = xcalloc((size_t)nr, sizeof(**rows));
        for (int i = 0; i < nr; i++) {
            (*rows)[i].id = strtoll(PQgetvalue(r, i, 0), NULL, 10);
            (*rows)[i].rcpt = xstrdup(PQgetvalue(r, i, 1));
            (*rows)[i].attempts = atoi(PQgetvalue(r, i, 2));
            (*rows)[i].expired = PQgetvalue(r, i, 3)[0] == 't';
            (*rows)[i].last_reply = PQgetisnull(r, i, 4) ? NULL : xstrdup(PQgetvalue(r, i, 4));
        }
        *unloaded_open = strtol(PQgetvalue(r, 0, 5), NULL, 10);
    }
    PQclear(r);
    return nr;
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
