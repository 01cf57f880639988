/*
 * lists_verp.c - the per-list VERP setting and the per-member bounce
 * counters (services/lists/sql/003_member_bounces.sql, docs/lists.md "VERP
 * and bounce counters"):
 *
 *  - lists.verp (NULL = the relay's MAILYARD_RELAY_VERP, true/false
 *    overrides it): read with the list (LISTS_LIST_COLS), set through
 *    PATCH /v1/lists/{addr} {"verp": "on"|"off"|"default"}, and passed to
 *    the relay in the copy's relay job payload ("verp": bool).
 *  - a bounce to <list>-bounces that rewrite decoded as a VERP bounce
 *    (rewrite_verp.c puts "verp_member" in the lists job payload) counts
 *    one for that member: bounce_count + 1, last_bounce_at = now().
 *
 * Owns nothing beyond a call; runs on the caller's connection (the
 * worker's transaction or an API connection).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "lists.h"

int lists_verp_field(const struct http_request *req, struct http_response *resp, int *verp)
{
    json_t *v = json_object_get(req->json, "verp");
    if (v == NULL)
        return 0;
    const char *s = json_is_string(v) ? json_string_value(v) : "";
    if (strcmp(s, "on") == 0)
        *verp = 1;
    else if (strcmp(s, "off") == 0)
        *verp = 0;
    else if (strcmp(s, "default") == 0)
        *verp = -1;
    else {
        http_reply_error(resp, 400, "bad_request", "verp must be on, off or default");
        return -1;
    }
    return 0;
}

const char *lists_verp_name(int verp)
{
    return verp < 0 ? "default" : verp ? "on" : "off";
}

int lists_store_set_verp(db_conn *c, int64_t id, int verp)
{
    char sid[24];
    snprintf(sid, sizeof sid, "%" PRId64, id);
    PGresult *r = db_queryv(c, "UPDATE lists.lists SET verp = $2::boolean"
                               " WHERE id = $1::bigint RETURNING id", 2, sid,
                            verp < 0 ? NULL : verp ? "true" : "false");
    if (r == NULL)
        return -1;
    int changed = PQntuples(r) > 0;
    PQclear(r);
    return changed;
}

int lists_store_member_bounce(db_conn *c, int64_t list_id, const char *address,
                              long *count)
{
    char id[24];
    snprintf(id, sizeof id, "%" PRId64, list_id);
    PGresult *r = db_queryv(c, "UPDATE lists.members SET bounce_count = bounce_count + 1,"
                               " last_bounce_at = now() WHERE list_id = $1::bigint"
                               " AND address = $2 RETURNING bounce_count", 2, id, address);
    if (r == NULL)
        return -1;
    int found = PQntuples(r) > 0;
    *count = found ? strtol(PQgetvalue(r, 0, 0), NULL, 10) : 0;
    PQclear(r);
    return found;
}
