/*
 * relay_db_wait.c - a recipient that waits for its destination's rate
 * limit (relay_dpol.h): the row stays pending, is due again after the
 * wait (never later than its expiry), keeps its attempts and last reply,
 * and records the reason (relay.deliveries.wait_reason, sql/006). Runs in
 * the caller's transaction; owns nothing.
 */
#include "relay.h"

#include <inttypes.h>
#include <stdio.h>

#include "log.h"

static const char SQL_WAIT[] =
    "UPDATE relay.deliveries SET "
    "  next_attempt_at = LEAST(now() + make_interval(secs => $2::double precision), "
    "                          created_at + make_interval(secs => $3::double precision)), "
    "  wait_reason = $4, updated_at = now() "
    "WHERE id = $1::bigint AND state = 'pending'";

int relay_db_wait(db_conn *c, int64_t id, long wait_s, long max_age, const char *reason)
{
    char sid[24], w[24], age[24];

    snprintf(sid, sizeof(sid), "%" PRId64, id);
    snprintf(w, sizeof(w), "%ld", wait_s);
    snprintf(age, sizeof(age), "%ld", max_age);
    PGresult *r = db_queryv(c, SQL_WAIT, 4, sid, w, age, reason);
    if (r == NULL) {
        log_error("marking a delivery as waiting failed", "error", db_conn_error(c));
        return -1;
    }
    PQclear(r);
    return 0;
}
