/*
 * rewrite_store.c - SQL for rewrite.domains and rewrite.aliases (see
 * rewrite_store.h). Arrays cross the libpq boundary as JSON text so that
 * no array-literal quoting is ever done by hand.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "rewrite_store.h"

#define TS(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
#define ALIAS_COLS "address, array_to_json(targets)::text, " \
                   TS("created_at") ", " TS("updated_at") ", " \
                   "dmarc_mitigation, dmarc_mitigation_always"   /* rewrite_dmarc.h */

static json_t *store_alias_row(PGresult *r, int row)
{
    json_t *targets = json_loads(PQgetvalue(r, row, 1), 0, NULL);
    if (targets == NULL)
        targets = json_array();
    return json_pack("{s:s,s:o,s:s,s:s,s:s,s:b}",
                     "address", PQgetvalue(r, row, 0),
                     "targets", targets,
                     "created_at", PQgetvalue(r, row, 2),
                     "updated_at", PQgetvalue(r, row, 3),
                     "dmarc_mitigation", PQgetvalue(r, row, 4),
                     "dmarc_mitigation_always", PQgetvalue(r, row, 5)[0] == 't');
}

static json_t *store_domain_row(PGresult *r, int row)
{
    return json_pack("{s:s,s:s}", "name", PQgetvalue(r, row, 0),
                     "created_at", PQgetvalue(r, row, 1));
}

static void store_log_error(db_conn *c, const char *what)
{
    log_error("database error", "op", what, "error", db_conn_error(c));
}

/* Runs a query expected to affect/return rows; 1 if it did, 0 if not. */
static int store_affected(db_conn *c, const char *what, PGresult *r)
{
    if (r == NULL) {
        store_log_error(c, what);
        return -1;
    }
    int n = PQntuples(r) > 0 || atoi(PQcmdTuples(r)) > 0;
    PQclear(r);
    return n;
}

int rewrite_store_domain_exists(db_conn *c, const char *name)
{
    PGresult *r = db_queryv(c, "SELECT 1 FROM rewrite.domains WHERE name = $1", 1, name);
    return store_affected(c, "domain_exists", r);
}

/* Shared by the two list calls: rows -> {"<key>":[...], "next"?}. */
static int store_list(db_conn *c, const char *sql, const char *key,
                      json_t *(*row_fn)(PGresult *, int),
                      const char *after, long limit, json_t **out)
{
    char lim[32];
    snprintf(lim, sizeof(lim), "%ld", limit + 1);
    PGresult *r = db_queryv(c, sql, 2, after ? after : "", lim);
    if (r == NULL) {
        store_log_error(c, key);
        return -1;
    }
    json_t *arr = json_array();
    int n = PQntuples(r);
    for (int i = 0; i < n && i < limit; i++)
        json_array_append_new(arr, row_fn(r, i));
    *out = json_pack("{s:o}", key, arr);
    if (n > limit)
        json_object_set_new(*out, "next", json_string(PQgetvalue(r, (int)limit - 1, 0)));
    PQclear(r);
    return 0;
}

int rewrite_store_domain_list(db_conn *c, const char *after, long limit, json_t **out)
{
    return store_list(c,
        "SELECT name, " TS("created_at") " FROM rewrite.domains"
        " WHERE name > $1 ORDER BY name LIMIT $2::bigint",
        "domains", store_domain_row, after, limit, out);
}

int rewrite_store_domain_create(db_conn *c, const char *name, json_t **out)
{
    PGresult *r = db_queryv(c,
        "INSERT INTO rewrite.domains (name) VALUES ($1) ON CONFLICT DO NOTHING"
        " RETURNING name, " TS("created_at"), 1, name);
    if (r == NULL) {
        store_log_error(c, "domain_create");
        return -1;
    }
    int created = PQntuples(r) > 0;
    if (created && out != NULL)
        *out = store_domain_row(r, 0);
    PQclear(r);
    return created;
}

int rewrite_store_domain_delete(db_conn *c, const char *name)
{
    PGresult *r = db_queryv(c, "DELETE FROM rewrite.domains WHERE name = $1", 1, name);
    return store_affected(c, "domain_delete", r);
}

int rewrite_store_alias_targets(db_conn *c, const char *addr, strlist *out)
{
    PGresult *r = db_queryv(c,
        "SELECT u.t FROM rewrite.aliases, unnest(targets) WITH ORDINALITY AS u(t, n)"
        " WHERE address = $1 ORDER BY u.n", 1, addr);
    if (r == NULL) {
        store_log_error(c, "alias_targets");
        return -1;
    }
    int n = PQntuples(r);
    for (int i = 0; i < n; i++)
        strlist_add(out, PQgetvalue(r, i, 0));
    PQclear(r);
    return n > 0;
}

int rewrite_store_alias_get(db_conn *c, const char *addr, json_t **out)
{
    PGresult *r = db_queryv(c,
        "SELECT " ALIAS_COLS " FROM rewrite.aliases WHERE address = $1", 1, addr);
    if (r == NULL) {
        store_log_error(c, "alias_get");
        return -1;
    }
    int found = PQntuples(r) > 0;
    if (found)
        *out = store_alias_row(r, 0);
    PQclear(r);
    return found;
}

int rewrite_store_alias_list(db_conn *c, const char *after, long limit, json_t **out)
{
    return store_list(c,
        "SELECT " ALIAS_COLS " FROM rewrite.aliases"
        " WHERE address > $1 ORDER BY address LIMIT $2::bigint",
        "aliases", store_alias_row, after, limit, out);
}

static int store_alias_write(db_conn *c, const char *what, const char *sql,
                             const char *addr, const json_t *targets, json_t **out)
{
    char *tj = json_dumps(targets, JSON_COMPACT);
    if (tj == NULL)
        return -1;
    PGresult *r = db_queryv(c, sql, 2, addr, tj);
    free(tj);
    if (r == NULL) {
        store_log_error(c, what);
        return -1;
    }
    int done = PQntuples(r) > 0;
    if (done && out != NULL)
        *out = store_alias_row(r, 0);
    PQclear(r);
    return done;
}

int rewrite_store_alias_create(db_conn *c, const char *addr, const json_t *targets,
                               json_t **out)
{
    return store_alias_write(c, "alias_create",
        "INSERT INTO rewrite.aliases (address, targets)"
        " VALUES ($1, ARRAY(SELECT json_array_elements_text($2::json)))"
        " ON CONFLICT DO NOTHING RETURNING " ALIAS_COLS,
        addr, targets, out);
}

int rewrite_store_alias_update(db_conn *c, const char *addr, const json_t *targets,
                               json_t **out)
{
    return store_alias_write(c, "alias_update",
        "UPDATE rewrite.aliases SET targets ="
        " ARRAY(SELECT json_array_elements_text($2::json)), updated_at = now()"
        " WHERE address = $1 RETURNING " ALIAS_COLS,
        addr, targets, out);
}

int rewrite_store_alias_delete(db_conn *c, const char *addr)
{
    PGresult *r = db_queryv(c, "DELETE FROM rewrite.aliases WHERE address = $1", 1, addr);
    return store_affected(c, "alias_delete", r);
}

int rewrite_store_alias_upsert(db_conn *c, const char *addr, const json_t *targets)
{
    char *tj = json_dumps(targets, JSON_COMPACT);
    if (tj == NULL)
        return -1;
    PGresult *r = db_queryv(c,
        "INSERT INTO rewrite.aliases AS a (address, targets)"
        " VALUES ($1, ARRAY(SELECT json_array_elements_text($2::json)))"
        " ON CONFLICT (address) DO UPDATE SET targets = EXCLUDED.targets,"
        " updated_at = now() WHERE a.targets IS DISTINCT FROM EXCLUDED.targets"
        " RETURNING (xmax = 0)::text", 2, addr, tj);
    free(tj);
    if (r == NULL) {
        store_log_error(c, "alias_upsert");
        return -1;
    }
    int rc = PQntuples(r) == 0 ? 0 : PQgetvalue(r, 0, 0)[0] == 't' ? 1 : 2;
    PQclear(r);
    return rc;
}
