/*
 * lists_store.c - the "lists" schema (services/lists/sql/): lists, their
 * members and the moderation queue (held posts).
 *
 * Every function runs on a connection the caller holds, inside or outside
 * the caller's transaction; a NULL from db_query() means the statement
 * failed (and an open transaction is aborted: the caller rolls back).
 * Addresses are stored lower-case; callers normalise them first.
 *
 * Ownership: lists_list and the string arrays returned here belong to the
 * caller (lists_list_free, lists_strv_free); JSON results are new
 * references.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "xalloc.h"
#include "lists.h"

#define TS(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"

void lists_list_free(lists_list *l)
{
    if (l == NULL)
        return;
    free(l->address);
    free(l->name);
    free(l->description);
    free(l->subject_prefix);
    free(l->policy);
    free(l->dmarc_mitigation);
    free(l);
}

json_t *lists_list_to_json(const lists_list *l)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:s, s:b, s:s}",
                     "address", l->address, "name", l->name,
                     "description", l->description,
                     "subject_prefix", l->subject_prefix, "policy", l->policy,
                     "members_count", (json_int_t)l->members_count,
                     "dmarc_mitigation", l->dmarc_mitigation ? l->dmarc_mitigation : "none",
                     "dmarc_mitigation_always", l->dmarc_always,
                     "verp", lists_verp_name(l->verp));
}

lists_list *lists_store_row_list(const PGresult *r, int row, int col0)
{
    lists_list *l = xcalloc(1, sizeof *l);
    l->id = strtoll(PQgetvalue(r, row, col0), NULL, 10);
    l->address = xstrdup(PQgetvalue(r, row, col0 + 1));
    l->name = xstrdup(PQgetvalue(r, row, col0 + 2));
    l->description = xstrdup(PQgetvalue(r, row, col0 + 3));
    l->subject_prefix = xstrdup(PQgetvalue(r, row, col0 + 4));
    l->policy = xstrdup(PQgetvalue(r, row, col0 + 5));
    l->members_count = strtol(PQgetvalue(r, row, col0 + 6), NULL, 10);
    l->dmarc_mitigation = xstrdup(PQgetvalue(r, row, col0 + 7));
    l->dmarc_always = PQgetvalue(r, row, col0 + 8)[0] == 't';
    l->verp = (int)strtol(PQgetvalue(r, row, col0 + 9), NULL, 10);
    return l;
}

int lists_store_get(db_conn *c, const char *address, lists_list **out)
{
    PGresult *r = db_queryv(c, "SELECT " LISTS_LIST_COLS
                               " FROM lists.lists l WHERE l.address = $1",
                            1, address);
    if (r == NULL)
        return -1;
    int found = PQntuples(r) > 0;
    *out = found ? lists_store_row_list(r, 0, 0) : NULL;
    PQclear(r);
    return found;
}

int lists_store_resolve(db_conn *c, const char *address, lists_list **out,
                        int *role)
{
    char base[LISTS_ADDR_MAX + 1];

    *role = LISTS_ROLE_POST;
    int rc = lists_store_get(c, address, out);
    if (rc != 0)
        return rc;
    int r = lists_addr_role(address, base, sizeof base);
    if (r <= LISTS_ROLE_POST)
        return 0;
    rc = lists_store_get(c, base, out);
    if (rc == 1)
        *role = r;
    return rc;
}

json_t *lists_store_all_json(db_conn *c)
{
    PGresult *r = db_query(c, "SELECT " LISTS_LIST_COLS
                              " FROM lists.lists l ORDER BY l.address",
                           0, NULL, NULL, NULL);
    if (r == NULL)
        return NULL;
    json_t *arr = json_array();
    for (int i = 0; i < PQntuples(r); i++) {
        lists_list *l = lists_store_row_list(r, i, 0);
        json_array_append_new(arr, lists_list_to_json(l));
        lists_list_free(l);
    }
    PQclear(r);
    return json_pack("{s:o}", "lists", arr);
}

int lists_store_create(db_conn *c, const lists_list *l)
{
    PGresult *r = db_queryv(c,
        "INSERT INTO lists.lists (address, name, description, subject_prefix, policy)"
        " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (address) DO NOTHING RETURNING id",
        5, l->address, l->name, l->description, l->subject_prefix, l->policy);
    if (r == NULL)
        return -1;
    int created = PQntuples(r) > 0;
    PQclear(r);
    return created;
}

int lists_store_delete(db_conn *c, const char *address)
{
    PGresult *r = db_queryv(c, "DELETE FROM lists.lists WHERE address = $1 RETURNING id",
                            1, address);
    if (r == NULL)
        return -1;
    int deleted = PQntuples(r) > 0;
    PQclear(r);
    return deleted;
}

int lists_store_set_dmarc(db_conn *c, int64_t id, const char *mode, int always)
{
    char sid[24];
    snprintf(sid, sizeof sid, "%" PRId64, id);
    PGresult *r = db_queryv(c, "UPDATE lists.lists SET dmarc_mitigation = $2,"
                               " dmarc_mitigation_always = $3::boolean WHERE id = $1::bigint"
                               " RETURNING id", 3, sid, mode, always ? "true" : "false");
    if (r == NULL)
        return -1;
    int changed = PQntuples(r) > 0;
    PQclear(r);
    return changed;
}

json_t *lists_store_members_json(db_conn *c, int64_t list_id)
{
    char id[24];
    snprintf(id, sizeof id, "%" PRId64, list_id);
    PGresult *r = db_queryv(c, "SELECT address, role, bounce_count,"
                               " to_char(last_bounce_at AT TIME ZONE 'UTC',"
                               " 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') FROM lists.members"
                               " WHERE list_id = $1 ORDER BY address", 1, id);
    if (r == NULL)
        return NULL;
    json_t *arr = json_array();
    for (int i = 0; i < PQntuples(r); i++)
        json_array_append_new(arr, json_pack("{s:s, s:s, s:I, s:o}",
                                             "address", PQgetvalue(r, i, 0),
                                             "role", PQgetvalue(r, i, 1),
                                             "bounce_count",
                                             (json_int_t)strtoll(PQgetvalue(r, i, 2), NULL, 10),
                                             "last_bounce_at", PQgetisnull(r, i, 3)
                                             ? json_null() : json_string(PQgetvalue(r, i, 3))));
    PQclear(r);
    return json_pack("{s:o}", "members", arr);
}

int lists_store_member_add(db_conn *c, int64_t list_id, const char *address,
                           const char *role)
{
    char id[24];
    snprintf(id, sizeof id, "%" PRId64, list_id);
    PGresult *r = db_queryv(c, "INSERT INTO lists.members (list_id, address, role)"
                               " VALUES ($1, $2, $3) ON CONFLICT DO NOTHING"
                               " RETURNING address", 3, id, address, role);
    if (r == NULL)
        return -1;
    int added = PQntuples(r) > 0;
    PQclear(r);
    return added;
}

int lists_store_member_remove(db_conn *c, int64_t list_id, const char *address)
{
    char id[24];
    snprintf(id, sizeof id, "%" PRId64, list_id);
    PGresult *r = db_queryv(c, "DELETE FROM lists.members WHERE list_id = $1"
                               " AND address = $2 RETURNING address", 2, id, address);
    if (r == NULL)
        return -1;
    int removed = PQntuples(r) > 0;
    PQclear(r);
    return removed;
}

int lists_store_is_member(db_conn *c, int64_t list_id, const char *a,
                          const char *b)
{
    char id[24];
    snprintf(id, sizeof id, "%" PRId64, list_id);
    PGresult *r = db_queryv(c, "SELECT 1 FROM lists.members WHERE list_id = $1"
                               " AND address IN ($2, $3) LIMIT 1",
                            3, id, a != NULL ? a : "", b != NULL ? b : "");
    if (r == NULL)
        return -1;
    int member = PQntuples(r) > 0;
    PQclear(r);
    return member;
}

int lists_store_member_addresses(db_conn *c, int64_t list_id, long disable_after,
                                 char ***out, size_t *n)
{
    char id[24], lim[24];
    snprintf(id, sizeof id, "%" PRId64, list_id);
    snprintf(lim, sizeof lim, "%ld", disable_after);
    PGresult *r = db_queryv(c, "SELECT address FROM lists.members WHERE list_id = $1"
                               " AND ($2::int <= 0 OR bounce_count < $2::int)"
                               " ORDER BY address", 2, id, lim);
    if (r == NULL)
        return -1;
    size_t rows = (size_t)PQntuples(r);
    char **v = xcalloc(rows + 1, sizeof *v);
    for (size_t i = 0; i < rows; i++)
        v[i] = xstrdup(PQgetvalue(r, (int)i, 0));
    PQclear(r);
    *out = v;
    *n = rows;
    return 0;
}

void lists_strv_free(char **v, size_t n)
{
    if (v == NULL)
        return;
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

int64_t lists_store_held_insert(db_conn *c, int64_t list_id, int64_t message_id,
                                const char *mail_from, const char *from_header,
                                const char *subject, const char *reason)
{
    char lid[24], mid[24];
    snprintf(lid, sizeof lid, "%" PRId64, list_id);
    snprintf(mid, sizeof mid, "%" PRId64, message_id);
    PGresult *r = db_queryv(c,
        "INSERT INTO lists.held (list_id, message_id, mail_from, from_header, subject, reason)"
        " VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        6, lid, mid, mail_from, from_header, subject, reason);
    if (r == NULL || PQntuples(r) != 1) {
        if (r != NULL)
            PQclear(r);
        return -1;
    }
    int64_t id = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    return id;
}

#define HELD_COLS "h.id, h.mail_from, h.from_header, h.subject, h.reason, h.state, " \
                  TS("h.created_at") ", " TS("h.decided_at") ", l.address"

/* One row of HELD_COLS as the API's held object. */
static json_t *held_row_json(const PGresult *r, int i)
{
    json_t *o = json_pack("{s:I, s:s, s:s, s:s, s:s, s:s, s:s, s:s}",
        "id", (json_int_t)strtoll(PQgetvalue(r, i, 0), NULL, 10),
        "list", PQgetvalue(r, i, 8),
        "mail_from", PQgetvalue(r, i, 1),
        "from", PQgetvalue(r, i, 2),
        "subject", PQgetvalue(r, i, 3),
        "reason", PQgetvalue(r, i, 4),
        "state", PQgetvalue(r, i, 5),
        "created_at", PQgetvalue(r, i, 6));
    if (o == NULL)
        return json_object();
    json_object_set_new(o, "decided_at", PQgetisnull(r, i, 7) ? json_null()
                                         : json_string(PQgetvalue(r, i, 7)));
    return o;
}

json_t *lists_store_held_json(db_conn *c, int64_t list_id, int all)
{
    char id[24];
    snprintf(id, sizeof id, "%" PRId64, list_id);
    PGresult *r = db_queryv(c, "SELECT " HELD_COLS " FROM lists.held h"
                               " JOIN lists.lists l ON l.id = h.list_id"
                               " WHERE h.list_id = $1 AND ($2 = 'all' OR h.state = 'held')"
                               " ORDER BY h.id", 2, id, all ? "all" : "held");
    if (r == NULL)
        return NULL;
    json_t *arr = json_array();
    for (int i = 0; i < PQntuples(r); i++)
        json_array_append_new(arr, held_row_json(r, i));
    PQclear(r);
    return json_pack("{s:o}", "held", arr);
}

json_t *lists_store_held_one_json(db_conn *c, int64_t held_id)
{
    char id[24];
    snprintf(id, sizeof id, "%" PRId64, held_id);
    PGresult *r = db_queryv(c, "SELECT " HELD_COLS " FROM lists.held h"
                               " JOIN lists.lists l ON l.id = h.list_id"
                               " WHERE h.id = $1", 1, id);
    if (r == NULL)
        return NULL;
    json_t *o = PQntuples(r) > 0 ? held_row_json(r, 0) : NULL;
    PQclear(r);
    return o;
}
