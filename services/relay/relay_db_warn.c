/*
 * relay_db_warn.c - the delay warning bookkeeping on relay.deliveries
 * (column delay_warned_at, sql/003_delay_warning.sql): picks the pending
 * recipients of a job that have been failing for at least the warning
 * time and were never warned, and marks them warned in the same statement,
 * so each recipient gets at most one delay DSN. Also hands out when each
 * row was created (the arrival the give-up age counts from). Runs on the caller's
 * connection inside the worker's transaction (a rollback forgets the mark
 * together with the DSN). Rows handed out are owned by the caller
 * (relay_db_rows_free).
 */
#include "relay.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "log.h"
#include "xalloc.h"

static const char SQL_WARN[] =
    "UPDATE relay.deliveries SET delay_warned_at = now() "
    "WHERE job_id = $1::bigint AND state = 'pending' AND attempts > 0 "
    "  AND delay_warned_at IS NULL "
    "  AND created_at <= now() - make_interval(secs => $2::double precision) "
    "RETURNING id, rcpt, attempts, last_reply, coalesce(last_host, ''), "
    "  floor(extract(epoch from created_at))::bigint";

int relay_db_warn_due(db_conn *c, int64_t job_id, long after, relay_row **rows,
                      char ***hosts, time_t **since)
{
    char jid[24], secs[24];

    *rows = NULL;
    *hosts = NULL;
    *since = NULL;
    snprintf(jid, sizeof(jid), "%" PRId64, job_id);
    snprintf(secs, sizeof(secs), "%ld", after);
    PGresult *r = db_queryv(c, SQL_WARN, 2, jid, secs);
    if (r == NULL) {
        log_error("selecting delay warnings failed", "job_id", jid,
                  "error", db_conn_error(c));
        return -1;
    }
    int n = PQntuples(r);
    if (n > 0) {
        *rows = xcalloc((size_t)n, sizeof(**rows));
        *hosts = xcalloc((size_t)n, sizeof(**hosts));
        *since = xcalloc((size_t)n, sizeof(**since));
        for (int i = 0; i < n; i++) {
            (*rows)[i].id = strtoll(PQgetvalue(r, i, 0), NULL, 10);
            (*rows)[i].rcpt = xstrdup(PQgetvalue(r, i, 1));
            (*rows)[i].attempts = atoi(PQgetvalue(r, i, 2));
            (*rows)[i].last_reply = PQgetisnull(r, i, 3) ? NULL
                                                         : xstrdup(PQgetvalue(r, i, 3));
            (*hosts)[i] = xstrdup(PQgetvalue(r, i, 4));
            (*since)[i] = (time_t)strtoll(PQgetvalue(r, i, 5), NULL, 10);
        }
    }
    PQclear(r);
    return n;
}

void relay_db_warn_hosts_free(char **hosts, size_t n)
{
    if (hosts == NULL)
        return;
    for (size_t i = 0; i < n; i++)
        free(hosts[i]);
    free(hosts);
}
