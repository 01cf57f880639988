/*
 * rewrite_secrets.c - SRS secrets from rewrite.srs_secrets with periodic
 * reload, seeding from the secrets file, rotation and retirement (see
 * rewrite_secrets.h).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#include "log.h"
#include "rewrite_secrets.h"
#include "xalloc.h"

#define TS(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"

typedef struct snap {
    rewrite_secrets_snap pub;        /* pub.secrets points at v */
    char  *v[REWRITE_MAX_SECRETS];   /* owned, wiped on free */
    size_t refs;                     /* under the mutex */
} snap;

struct rewrite_secrets {
    pthread_mutex_t mu;
    db_pool *pool;                   /* borrowed */
    int      timeout_ms;
    int      reload_seconds;
    time_t   checked_at;             /* last load attempt (under mu) */
    snap    *cur;                    /* one reference held here */
    json_t  *seed;                   /* the file's secrets, file order (owned) */
};

static void snap_free(snap *sn)
{
    if (sn == NULL)
        return;
    for (size_t i = 0; i < sn->pub.n; i++) {
        memset(sn->v[i], 0, strlen(sn->v[i]));
        free(sn->v[i]);
    }
    free(sn);
}

static snap *snap_new(void)
{
    snap *sn = xcalloc(1, sizeof(*sn));
    sn->pub.secrets = (const char *const *)sn->v;
    sn->refs = 1;
    return sn;
}

rewrite_secrets *rewrite_secrets_create(db_pool *pool, int db_timeout_ms,
                                        char *const *file_secrets, size_t n,
                                        int reload_seconds)
{
    rewrite_secrets *s = xcalloc(1, sizeof(*s));
    if (pthread_mutex_init(&s->mu, NULL) != 0)
        abort();
    s->pool = pool;
    s->timeout_ms = db_timeout_ms;
    s->reload_seconds = reload_seconds;
    s->cur = snap_new();
    s->seed = json_array();
    for (size_t i = 0; i < n && i < REWRITE_MAX_SECRETS; i++) {
        s->cur->v[s->cur->pub.n++] = xstrdup(file_secrets[i]);
        json_array_append_new(s->seed, json_string(file_secrets[i]));
    }
    return s;
}

void rewrite_secrets_free(rewrite_secrets *s)
{
    if (s == NULL)
        return;
    snap_free(s->cur);
    json_decref(s->seed);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

/* Loads the active secrets; NULL on error or when there are none. */
static snap *secrets_query(db_conn *c)
{
    PGresult *r = db_queryv(c,
        "SELECT secret FROM rewrite.srs_secrets WHERE retired_at IS NULL"
        " ORDER BY id DESC LIMIT " "32", 0, NULL);
    if (r == NULL) {
        log_warn("cannot load the SRS secrets, keeping the current ones",
                 "error", db_conn_error(c));
        return NULL;
    }
    int n = PQntuples(r);
    snap *sn = NULL;
    if (n > 0) {
        sn = snap_new();
        for (int i = 0; i < n && i < REWRITE_MAX_SECRETS; i++)
            sn->v[sn->pub.n++] = xstrdup(PQgetvalue(r, i, 0));
    }
    PQclear(r);
    return sn;
}

/* Seeds an empty table from the file (the first line gets the highest id,
 * so it signs). Concurrent seeding by replicas inserts each secret once. */
static void secrets_seed(rewrite_secrets *s, db_conn *c)
{
    if (json_array_size(s->seed) == 0)
        return;
    char *j = json_dumps(s->seed, JSON_COMPACT);
    if (j == NULL)
        return;
    PGresult *r = db_queryv(c,
        "INSERT INTO rewrite.srs_secrets (secret)"
        " SELECT t FROM json_array_elements_text($1::json) WITH ORDINALITY AS u(t, n)"
        " WHERE NOT EXISTS (SELECT 1 FROM rewrite.srs_secrets)"
        " ORDER BY n DESC ON CONFLICT (secret) DO NOTHING", 1, j);
    memset(j, 0, strlen(j));
    free(j);
    if (r == NULL) {
        log_warn("cannot seed rewrite.srs_secrets", "error", db_conn_error(c));
        return;
    }
    log_info("SRS secrets seeded from MAILYARD_SRS_SECRETS_FILE", "count", PQcmdTuples(r));
    PQclear(r);
}

static void secrets_reload(rewrite_secrets *s)
{
    /* the caller may hold a pooled connection already: do not wait long */
    db_conn *c = db_pool_acquire(s->pool, s->timeout_ms < 1000 ? s->timeout_ms : 1000);
    if (c == NULL) {
        log_warn("no database connection to reload the SRS secrets");
        return;
    }
    snap *sn = secrets_query(c);
    if (sn == NULL) {
        secrets_seed(s, c);
        sn = secrets_query(c);
    }
    db_pool_release(s->pool, c);
    if (sn == NULL)
        return;
    pthread_mutex_lock(&s->mu);
    snap *old = s->cur;
    s->cur = sn;
    int last = --old->refs == 0;
    pthread_mutex_unlock(&s->mu);
    if (last)
        snap_free(old);
}

const rewrite_secrets_snap *rewrite_secrets_get(rewrite_secrets *s, time_t now)
{
    pthread_mutex_lock(&s->mu);
    int stale = s->checked_at == 0 || now - s->checked_at >= s->reload_seconds ||
                now < s->checked_at;
    if (stale)
        s->checked_at = now;      /* one thread reloads; others use cur */
    pthread_mutex_unlock(&s->mu);
    if (stale)
        secrets_reload(s);
    pthread_mutex_lock(&s->mu);
    snap *sn = s->cur;
    sn->refs++;
    pthread_mutex_unlock(&s->mu);
    return &sn->pub;
}

void rewrite_secrets_put(rewrite_secrets *s, const rewrite_secrets_snap *pub)
{
    if (pub == NULL)
        return;
    snap *sn = (snap *)((char *)pub - offsetof(snap, pub));
    pthread_mutex_lock(&s->mu);
    int last = --sn->refs == 0;
    pthread_mutex_unlock(&s->mu);
    if (last)
        snap_free(sn);
}

void rewrite_secrets_invalidate(rewrite_secrets *s)
{
    pthread_mutex_lock(&s->mu);
    s->checked_at = 0;
    pthread_mutex_unlock(&s->mu);
}

/* ---- API helpers ---- */

int rewrite_secrets_list(db_conn *c, json_t **out)
{
    PGresult *r = db_queryv(c,
        "SELECT id::text, " TS("created_at") ", coalesce(" TS("retired_at") ", ''),"
        " id = (SELECT max(id) FROM rewrite.srs_secrets WHERE retired_at IS NULL)"
        " FROM rewrite.srs_secrets ORDER BY id DESC", 0, NULL);
    if (r == NULL) {
        log_error("database error", "op", "srs_secrets_list", "error", db_conn_error(c));
        return -1;
    }
    json_t *arr = json_array();
    for (int i = 0; i < PQntuples(r); i++) {
        const char *ret = PQgetvalue(r, i, 2);
        json_array_append_new(arr, json_pack("{s:I,s:s,s:o,s:b}",
            "id", (json_int_t)strtoll(PQgetvalue(r, i, 0), NULL, 10),
            "created_at", PQgetvalue(r, i, 1),
            "retired_at", *ret ? json_string(ret) : json_null(),
            "signing", PQgetvalue(r, i, 3)[0] == 't'));
    }
    PQclear(r);
    *out = json_pack("{s:o}", "secrets", arr);
    return 0;
}

int rewrite_secrets_rotate(db_conn *c, json_t **out)
{
    unsigned char raw[REWRITE_SECRET_BYTES];
    char hex[2 * REWRITE_SECRET_BYTES + 1];
    if (RAND_bytes(raw, sizeof(raw)) != 1) {
        log_error("RAND_bytes failed: no SRS secret generated");
        return -1;
    }
    for (size_t i = 0; i < sizeof(raw); i++)
        snprintf(hex + 2 * i, 3, "%02x", raw[i]);
    memset(raw, 0, sizeof(raw));
    PGresult *r = db_queryv(c,
        "INSERT INTO rewrite.srs_secrets (secret) VALUES ($1)"
        " RETURNING id::text, " TS("created_at"), 1, hex);
    memset(hex, 0, sizeof(hex));
    if (r == NULL || PQntuples(r) != 1) {
        log_error("database error", "op", "srs_secrets_rotate", "error", db_conn_error(c));
        PQclear(r);
        return -1;
    }
    *out = json_pack("{s:I,s:s,s:n,s:b}",
                     "id", (json_int_t)strtoll(PQgetvalue(r, 0, 0), NULL, 10),
                     "created_at", PQgetvalue(r, 0, 1), "retired_at", "signing", 1);
    PQclear(r);
    return 1;
}

int rewrite_secrets_retire(db_conn *c, const char *id)
{
    PGresult *r = db_queryv(c,
        "WITH active AS (SELECT id FROM rewrite.srs_secrets WHERE retired_at IS NULL"
        " FOR UPDATE)"
        " UPDATE rewrite.srs_secrets SET retired_at = now()"
        " WHERE id = $1::bigint AND retired_at IS NULL"
        " AND (SELECT count(*) FROM active) > 1 RETURNING id", 1, id);
    if (r == NULL) {
        log_error("database error", "op", "srs_secrets_retire", "error", db_conn_error(c));
        return -1;
    }
    int done = PQntuples(r) > 0;
    PQclear(r);
    if (done)
        return 1;
    r = db_queryv(c, "SELECT 1 FROM rewrite.srs_secrets WHERE id = $1::bigint"
                     " AND retired_at IS NULL", 1, id);
    if (r == NULL)
        return -1;
    int active = PQntuples(r) > 0;
    PQclear(r);
    return active ? 2 : 0;
}
