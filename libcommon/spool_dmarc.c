/*
 * spool_dmarc.c - the record of encoded DMARC authors (see spool_dmarc.h):
 * spool.dmarc_encoded, one row per author, refreshed on every encoding.
 */
#include <stdio.h>

#include "log.h"
#include "spool_dmarc.h"

int spool_dmarc_record(db_conn *c, const char *author, const char *encoded)
{
    PGresult *r = db_queryv(c,
        "INSERT INTO spool.dmarc_encoded (author, encoded) VALUES (lower($1), $2)"
        " ON CONFLICT (author) DO UPDATE SET encoded = EXCLUDED.encoded, last_seen = now()",
        2, author, encoded);
    if (r == NULL) {
        log_error("spool_dmarc_record failed", "error", db_conn_error(c));
        return -1;
    }
    PQclear(r);
    return 0;
}

int spool_dmarc_seen(db_conn *c, const char *author, long window_days)
{
    char days[32];
    snprintf(days, sizeof days, "%ld", window_days > 0 ? window_days : 0);
    PGresult *r = db_queryv(c,
        "SELECT 1 FROM spool.dmarc_encoded WHERE author = lower($1)"
        " AND last_seen > now() - make_interval(days => $2::int)",
        2, author, days);
    if (r == NULL) {
        log_error("spool_dmarc_seen failed", "error", db_conn_error(c));
        return -1;
    }
    int found = PQntuples(r) > 0;
    PQclear(r);
    return found;
}
