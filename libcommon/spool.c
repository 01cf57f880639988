/*
 * spool.c - messages, jobs and trace events in the spool schema (see
 * spool.h and libcommon/sql/001_spool.sql): the PostgreSQL side of the job
 * protocol.
 *
 * Owns: the SQL for spool.messages, spool.jobs and spool.events. Every
 * function runs on a connection the caller holds (normally inside the
 * caller's transaction) and never publishes to Redis.
 *
 * Trusts: nothing from peers beyond "it is a C string" for envelope fields;
 * every value is passed as a statement parameter; raw message bytes go as a
 * binary parameter so NUL and 8-bit bytes are kept exactly.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#include "buf.h"
#include "log.h"
#include "spool.h"
#include "xalloc.h"

static char *spool_json_text(const json_t *j);
static int   spool_parse_i64(const char *s, int64_t *out);

void spool_queue_id_new(char out[13])
{
    static const char alphabet[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    unsigned char rnd[12];
    size_t i = 0;
    while (i < 12) {
        if (RAND_bytes(rnd, sizeof(rnd)) != 1)
            fatal("RAND_bytes failed");
        /* Rejection sampling keeps the 36 characters equally likely. */
        for (size_t k = 0; k < sizeof(rnd) && i < 12; k++)
            if (rnd[k] < 252)
                out[i++] = alphabet[rnd[k] % 36];
    }
    out[12] = '\0';
}

int spool_message_insert(db_conn *c, spool_message *m)
{
    if (m->raw_len > INT_MAX || m->mail_from == NULL || m->origin == NULL) {
        log_error("spool_message_insert: invalid message");
        return -1;
    }
    if (m->queue_id[0] == '\0')
        spool_queue_id_new(m->queue_id);

    json_t *arr = json_array();
    for (size_t i = 0; i < m->nrcpts; i++) {
        json_t *s = json_string(m->rcpts[i]);
        if (s == NULL) {                       /* not valid UTF-8 */
            json_decref(arr);
            log_error("spool_message_insert: recipient is not valid UTF-8",
                      "queue_id", m->queue_id);
            return -1;
        }
        json_array_append_new(arr, s);
    }
    char *rcpts = spool_json_text(arr);
    json_decref(arr);
    if (m->rcpt_dsn != NULL && (!json_is_array(m->rcpt_dsn) ||
                                json_array_size(m->rcpt_dsn) != m->nrcpts)) {
        free(rcpts);
        log_error("spool_message_insert: rcpt_dsn does not match rcpts",
                  "queue_id", m->queue_id);
        return -1;
    }
    char *rcpt_dsn = m->rcpt_dsn != NULL ? spool_json_text(m->rcpt_dsn) : NULL;

    char parent[24], size[24];
    (void)snprintf(parent, sizeof(parent), "%" PRId64, m->parent_id);
    (void)snprintf(size, sizeof(size), "%zu", m->raw_len);
    const char *vals[14] = {
        m->queue_id, m->parent_id > 0 ? parent : NULL, m->origin, m->mail_from,
        rcpts, m->client_ip, m->helo, m->message_id, size,
        m->raw != NULL ? m->raw : "",
        m->smtputf8 ? "t" : "f", m->dsn_ret, m->dsn_envid, rcpt_dsn,
    };
    int lens[14] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, (int)m->raw_len, 0, 0, 0, 0 };
    int fmts[14] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0 };
    PGresult *r = db_query(c,
        "INSERT INTO spool.messages (queue_id, parent_id, origin, mail_from, rcpts,"
        " client_ip, helo, message_id, size, raw, smtputf8, dsn_ret, dsn_envid, rcpt_dsn)"
        " VALUES ($1, $2::bigint, $3, $4,"
        " ARRAY(SELECT jsonb_array_elements_text($5::jsonb)),"
        " $6, $7, $8, $9::int, $10::bytea, $11::boolean, $12, $13, $14::jsonb) RETURNING id",
        14, vals, lens, fmts);
    free(rcpts);
    free(rcpt_dsn);
    if (r == NULL) {
        log_error("spool_message_insert failed", "queue_id", m->queue_id,
                  "error", db_conn_error(c));
        return -1;
    }
    int rc = spool_parse_i64(PQgetvalue(r, 0, 0), &m->id);
    PQclear(r);
    return rc;
}

int spool_message_load(db_conn *c, int64_t id, spool_message **out)
{
    char idbuf[24];
    (void)snprintf(idbuf, sizeof(idbuf), "%" PRId64, id);
    *out = NULL;
    PGresult *r = db_queryv(c,
        "SELECT id, queue_id, coalesce(parent_id, 0), mail_from, array_to_json(rcpts)::text,"
        " client_ip, helo, message_id, origin, raw,"
        " smtputf8, dsn_ret, dsn_envid, rcpt_dsn::text"
        " FROM spool.messages WHERE id = $1::bigint", 1, idbuf);
    if (r == NULL) {
        log_error("spool_message_load failed", "error", db_conn_error(c));
        return -1;
    }
    if (PQntuples(r) != 1) {
        PQclear(r);
        return -1;
    }
    spool_message *m = xcalloc(1, sizeof(*m));
    int ok = spool_parse_i64(PQgetvalue(r, 0, 0), &m->id) == 0 &&
             spool_parse_i64(PQgetvalue(r, 0, 2), &m->parent_id) == 0 &&
             str_copy(m->queue_id, sizeof(m->queue_id), PQgetvalue(r, 0, 1)) == 0;
    m->mail_from = xstrdup(PQgetvalue(r, 0, 3));
    json_error_t jerr;
    json_t *rc = json_loads(PQgetvalue(r, 0, 4), 0, &jerr);
    if (ok && json_is_array(rc)) {
        m->nrcpts = json_array_size(rc);
        m->rcpts = xcalloc(m->nrcpts ? m->nrcpts : 1, sizeof(*m->rcpts));
        for (size_t i = 0; i < m->nrcpts; i++) {
            const char *s = json_string_value(json_array_get(rc, i));
            m->rcpts[i] = xstrdup(s ? s : "");
        }
    } else {
        ok = 0;
    }
    json_decref(rc);
    m->client_ip = PQgetisnull(r, 0, 5) ? NULL : xstrdup(PQgetvalue(r, 0, 5));
    m->helo = PQgetisnull(r, 0, 6) ? NULL : xstrdup(PQgetvalue(r, 0, 6));
    m->message_id = PQgetisnull(r, 0, 7) ? NULL : xstrdup(PQgetvalue(r, 0, 7));
    m->origin = xstrdup(PQgetvalue(r, 0, 8));
    m->smtputf8 = strcmp(PQgetvalue(r, 0, 10), "t") == 0;
    m->dsn_ret = PQgetisnull(r, 0, 11) ? NULL : xstrdup(PQgetvalue(r, 0, 11));
    m->dsn_envid = PQgetisnull(r, 0, 12) ? NULL : xstrdup(PQgetvalue(r, 0, 12));
    if (!PQgetisnull(r, 0, 13)) {
        m->rcpt_dsn = json_loads(PQgetvalue(r, 0, 13), 0, &jerr);
        if (!json_is_array(m->rcpt_dsn))
            ok = 0;
    }
    size_t n = 0;
    unsigned char *raw = PQunescapeBytea((const unsigned char *)PQgetvalue(r, 0, 9), &n);
    PQclear(r);
    if (raw == NULL)
        panic("PQunescapeBytea: out of memory");
    m->raw = xmalloc(n + 1);
    memcpy(m->raw, raw, n);
    m->raw[n] = '\0';                 /* convenience NUL, not counted */
    m->raw_len = n;
    PQfreemem(raw);
    if (!ok) {
        log_error("spool_message_load: malformed row", "queue_id", m->queue_id);
        spool_message_free(m);
        return -1;
    }
    *out = m;
    return 0;
}

void spool_message_free(spool_message *m)
{
    if (m == NULL)
        return;
    free(m->mail_from);
    for (size_t i = 0; i < m->nrcpts; i++)
        free(m->rcpts[i]);
    free(m->rcpts);
    free(m->client_ip);
    free(m->helo);
    free(m->message_id);
    free(m->origin);
    free(m->raw);
    free(m->dsn_ret);
    free(m->dsn_envid);
    json_decref(m->rcpt_dsn);
    free(m);
}

int64_t spool_job_create(db_conn *c, const char *stage, int64_t message_id,
                         const json_t *payload, time_t due, spool_jobs *out)
{
    char mid[24], duebuf[24];
    (void)snprintf(mid, sizeof(mid), "%" PRId64, message_id);
    (void)snprintf(duebuf, sizeof(duebuf), "%lld", (long long)due);
    char *pl = payload != NULL ? spool_json_text(payload) : xstrdup("{}");
    PGresult *r = db_queryv(c,
        "INSERT INTO spool.jobs (stage, message_id, payload, due_at)"
        " VALUES ($1, $2::bigint, $3::jsonb,"
        " CASE WHEN $4::bigint = 0 THEN now() ELSE to_timestamp($4::bigint) END)"
        " RETURNING id", 4, stage, mid, pl, duebuf);
    free(pl);
    if (r == NULL) {
        log_error("spool_job_create failed", "stage", stage, "error", db_conn_error(c));
        return -1;
    }
    int64_t id = -1;
    if (spool_parse_i64(PQgetvalue(r, 0, 0), &id) != 0)
        id = -1;
    PQclear(r);
    if (id > 0 && out != NULL)
        spool_jobs_add(out, id, stage);
    return id;
}

/* The columns spool_job_lock and spool_job_lock_many select. */
#define SPOOL_JOB_LOCK_COLUMNS \
    "SELECT j.id, j.stage, j.message_id, j.payload::text, j.state, j.attempts," \
    " j.due_at > now(), (SELECT m.queue_id FROM spool.messages m WHERE m.id = j.message_id)" \
    " FROM spool.jobs j "

/* A spool_job from row i of a SPOOL_JOB_LOCK_COLUMNS result; NULL if malformed. */
static spool_job *spool_job_from_row(const PGresult *r, int i)
{
    spool_job *j = xcalloc(1, sizeof(*j));
    json_error_t jerr;
    int ok = spool_parse_i64(PQgetvalue(r, i, 0), &j->id) == 0 &&
             str_copy(j->stage, sizeof(j->stage), PQgetvalue(r, i, 1)) == 0 &&
             spool_parse_i64(PQgetvalue(r, i, 2), &j->message_id) == 0 &&
             str_copy(j->state, sizeof(j->state), PQgetvalue(r, i, 4)) == 0 &&
             (j->payload = json_loads(PQgetvalue(r, i, 3), 0, &jerr)) != NULL;
    j->attempts = atoi(PQgetvalue(r, i, 5));
    j->not_due = strcmp(PQgetvalue(r, i, 6), "t") == 0;
    (void)str_copy(j->queue_id, sizeof(j->queue_id), PQgetvalue(r, i, 7));
    if (!ok) {
        log_error("spool_job_lock: malformed row");
        spool_job_free(j);
        return NULL;
    }
    return j;
}

/* "{id,id,...}": a bigint[] parameter; caller frees. */
static char *spool_id_array(const int64_t *ids, size_t n)
{
    buf b;
    buf_init(&b, 2 + n * 21);
    int ok = buf_append(&b, "{", 1) == 0;
    for (size_t i = 0; ok && i < n; i++)
        ok = buf_printf(&b, "%s%" PRId64, i > 0 ? "," : "", ids[i]) == 0;
    ok = ok && buf_append(&b, "}", 1) == 0;
    char *out = ok ? buf_steal(&b, NULL) : NULL;
    buf_release(&b);
    if (out == NULL)
        panic("spool_id_array: out of memory");
    return out;
}

int spool_job_lock(db_conn *c, int64_t job_id, spool_job **out)
{
    char idbuf[24];
    (void)snprintf(idbuf, sizeof(idbuf), "%" PRId64, job_id);
    *out = NULL;
    PGresult *r = db_queryv(c,
        SPOOL_JOB_LOCK_COLUMNS "WHERE j.id = $1::bigint FOR UPDATE SKIP LOCKED", 1, idbuf);
    if (r == NULL) {
        log_error("spool_job_lock failed", "error", db_conn_error(c));
        return -1;
    }
    if (PQntuples(r) != 1) {
        PQclear(r);
        return 0;
    }
    spool_job *j = spool_job_from_row(r, 0);
    PQclear(r);
    if (j == NULL)
        return -1;
    *out = j;
    return 1;
}

int spool_job_lock_many(db_conn *c, const int64_t *ids, size_t n, spool_job **out)
{
    for (size_t i = 0; i < n; i++)
        out[i] = NULL;
    if (n == 0)
        return 0;
    char *arr = spool_id_array(ids, n);
    PGresult *r = db_queryv(c,
        SPOOL_JOB_LOCK_COLUMNS "WHERE j.id = ANY($1::bigint[]) ORDER BY j.id"
        " FOR UPDATE OF j SKIP LOCKED", 1, arr);
    free(arr);
    if (r == NULL) {
        log_error("spool_job_lock_many failed", "error", db_conn_error(c));
        return -1;
    }
    int rc = 0;
    for (int k = 0; k < PQntuples(r) && rc == 0; k++) {
        spool_job *j = spool_job_from_row(r, k);
        if (j == NULL) {
            rc = -1;
            break;
        }
        size_t i = 0;
        while (i < n && (ids[i] != j->id || out[i] != NULL))
            i++;
        if (i < n)
            out[i] = j;
        else
            spool_job_free(j);          /* cannot happen: the ids asked for */
    }
    PQclear(r);
    if (rc != 0)
        for (size_t i = 0; i < n; i++) {
            spool_job_free(out[i]);
            out[i] = NULL;
        }
    return rc;
}

void spool_job_free(spool_job *j)
{
    if (j == NULL)
        return;
    json_decref(j->payload);
    free(j);
}

int spool_job_finish(db_conn *c, int64_t job_id, const char *state)
{
    char idbuf[24];
    (void)snprintf(idbuf, sizeof(idbuf), "%" PRId64, job_id);
    PGresult *r = db_queryv(c,
        "UPDATE spool.jobs SET state = $2, updated_at = now() WHERE id = $1::bigint",
        2, idbuf, state);
    if (r == NULL) {
        log_error("spool_job_finish failed", "job_id", idbuf, "error", db_conn_error(c));
        return -1;
    }
    int n = atoi(PQcmdTuples(r));
    PQclear(r);
    return n == 1 ? 0 : -1;
}

int spool_job_finish_many(db_conn *c, const int64_t *ids, size_t n, const char *state)
{
    if (n == 0)
        return 0;
    char *arr = spool_id_array(ids, n);
    PGresult *r = db_queryv(c,
        "UPDATE spool.jobs SET state = $2, updated_at = now() WHERE id = ANY($1::bigint[])",
        2, arr, state);
    free(arr);
    if (r == NULL) {
        log_error("spool_job_finish_many failed", "error", db_conn_error(c));
        return -1;
    }
    long got = atol(PQcmdTuples(r));
    PQclear(r);
    return got == (long)n ? 0 : -1;
}

int spool_job_defer(db_conn *c, int64_t job_id, time_t due)
{
    char idbuf[24], duebuf[24];
    (void)snprintf(idbuf, sizeof(idbuf), "%" PRId64, job_id);
    (void)snprintf(duebuf, sizeof(duebuf), "%lld", (long long)due);
    PGresult *r = db_queryv(c,
        "UPDATE spool.jobs SET due_at = to_timestamp($2::bigint), published_at = NULL,"
        " attempts = attempts + 1, updated_at = now()"
        " WHERE id = $1::bigint AND state = 'pending'", 2, idbuf, duebuf);
    if (r == NULL) {
        log_error("spool_job_defer failed", "job_id", idbuf, "error", db_conn_error(c));
        return -1;
    }
    int n = atoi(PQcmdTuples(r));
    PQclear(r);
    return n == 1 ? 0 : -1;
}

int spool_job_mark_published(db_conn *c, int64_t job_id)
{
    char idbuf[24];
    (void)snprintf(idbuf, sizeof(idbuf), "%" PRId64, job_id);
    /* Only a runnable job that nobody published yet: the sweeper may have
     * published it already, or a consumer may already have deferred it. */
    PGresult *r = db_queryv(c,
        "UPDATE spool.jobs SET published_at = now() WHERE id = $1::bigint"
        "   AND state = 'pending' AND published_at IS NULL AND due_at <= now()",
        1, idbuf);
    if (r == NULL) {
        log_error("spool_job_mark_published failed", "job_id", idbuf,
                  "error", db_conn_error(c));
        return -1;
    }
    int n = atoi(PQcmdTuples(r));
    PQclear(r);
    return n == 1 ? 1 : 0;
}

int spool_job_claim_for_publish(db_conn *c, const char *stage, int stuck_seconds,
                                int limit, spool_jobs *out)
{
    char stuck[24], lim[24];
    (void)snprintf(stuck, sizeof(stuck), "%d", stuck_seconds);
    (void)snprintf(lim, sizeof(lim), "%d", limit > 0 ? limit : 100);
    PGresult *r = db_queryv(c,
        "UPDATE spool.jobs SET published_at = now()"
        " WHERE id IN (SELECT id FROM spool.jobs"
        "   WHERE stage = $1 AND state = 'pending' AND due_at <= now()"
        "   AND (published_at IS NULL"
        "        OR published_at < now() - make_interval(secs => $2::int))"
        "   ORDER BY due_at LIMIT $3::int FOR UPDATE SKIP LOCKED)"
        " RETURNING id", 3, stage, stuck, lim);
    if (r == NULL) {
        log_error("spool_job_claim_for_publish failed", "stage", stage,
                  "error", db_conn_error(c));
        return -1;
    }
    int n = PQntuples(r);
    for (int i = 0; i < n; i++) {
        int64_t id;
        if (spool_parse_i64(PQgetvalue(r, i, 0), &id) == 0)
            spool_jobs_add(out, id, stage);
    }
    PQclear(r);
    return n;
}

void spool_jobs_add(spool_jobs *l, int64_t id, const char *stage)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 8;
        l->items = xrealloc(l->items, l->cap * sizeof(*l->items));
    }
    l->items[l->n].id = id;
    if (str_copy(l->items[l->n].stage, sizeof(l->items[l->n].stage), stage) != 0)
        panic("spool_jobs_add: stage name too long");
    l->n++;
}

void spool_jobs_release(spool_jobs *l)
{
    if (l == NULL)
        return;
    free(l->items);
    l->items = NULL;
    l->n = l->cap = 0;
}

int spool_event(db_conn *c, int64_t message_id, int64_t job_id,
                const char *service, const char *event, const json_t *detail)
{
    char mid[24], jid[24];
    (void)snprintf(mid, sizeof(mid), "%" PRId64, message_id);
    (void)snprintf(jid, sizeof(jid), "%" PRId64, job_id);
    char *d = detail != NULL ? spool_json_text(detail) : NULL;
    PGresult *r = db_queryv(c,
        "INSERT INTO spool.events (message_id, job_id, service, event, detail)"
        " VALUES ($1::bigint, NULLIF($2::bigint, 0), $3, $4, $5::jsonb)",
        5, mid, jid, service, event, d);
    free(d);
    if (r == NULL) {
        log_error("spool_event failed", "event", event, "error", db_conn_error(c));
        return -1;
    }
    PQclear(r);
    return 0;
}

/* ---- internals ---- */

/* Compact JSON text of j (any type); caller frees. */
static char *spool_json_text(const json_t *j)
{
    char *s = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
    if (s == NULL)
        panic("json_dumps failed");
    return s;
}

static int spool_parse_i64(const char *s, int64_t *out)
{
    char *end = NULL;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0')
        return -1;
    *out = v;
    return 0;
}

int spool_message_find_by_message_id(db_conn *c, const char *message_id,
                                     const char *prefer_sender, int64_t exclude_id,
                                     int64_t *id)
{
    char ex[32];
    snprintf(ex, sizeof(ex), "%lld", (long long)exclude_id);
    PGresult *r = db_queryv(c,
        "SELECT id::text FROM spool.messages WHERE message_id = $1 AND id <> $2::bigint"
        " ORDER BY (lower(mail_from) = lower($3)) DESC, id DESC LIMIT 1",
        3, message_id, ex, prefer_sender);
    if (r == NULL) {
        log_error("spool_message_find_by_message_id failed", "error", db_conn_error(c));
        return -1;
    }
    int found = PQntuples(r) > 0;
    if (found)
        *id = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    return found;
}
