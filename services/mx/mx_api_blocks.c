/*
 * mx_api_blocks.c - the /v1/blocks handlers of mx (see mx_api_blocks.h):
 * validation of the request, SQL on mx.blocks, JSON answers.
 *
 * Every handler borrows one pooled database connection for its duration
 * (503 "database_unavailable" when none comes). Input is never trusted:
 * kinds are checked against the three known ones, values normalised with
 * smtp_blocks_value_normalize() (400 "invalid_value" with the reason, e.g.
 * a bad CIDR), reasons bounded, expiry times parsed strictly and passed to
 * SQL as numbers. Owns nothing beyond a request.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "http.h"
#include "log.h"
#include "smtp_blocks.h"
#include "mx_api_blocks.h"

#define MX_API_DB_TIMEOUT_MS 5000
#define MX_API_BLOCKS_MAX    100000
#define MX_API_EXPIRES_MAX   (10LL * 366 * 86400)   /* ten years ahead at most */

#define TS(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
#define BLOCK_COLS "id, kind, value, reason, " TS("created_at") ", " TS("expires_at") \
                   ", (expires_at IS NULL OR expires_at > now())"

typedef void (*mx_api_db_fn)(db_conn *c, const http_request *req, http_response *resp);

static json_t *mx_api_block_row(PGresult *r, int row);
static int     mx_api_expiry(const http_request *req, http_response *resp, long long *out);
static int     mx_api_time_parse(const char *s, long long *out);

static void mx_api_with_db(service *svc, const http_request *req, http_response *resp,
                           mx_api_db_fn fn)
{
    db_conn *c = db_pool_acquire(svc->db, MX_API_DB_TIMEOUT_MS);
    if (c == NULL) {
        http_reply_error(resp, 503, "database_unavailable", "database unavailable");
        return;
    }
    fn(c, req, resp);
    db_pool_release(svc->db, c);
}

static void mx_api_db_error(db_conn *c, http_response *resp, const char *op)
{
    log_error("database error", "op", op, "error", db_conn_error(c));
    http_reply_error(resp, 503, "database_unavailable", "database error");
}

static json_t *mx_api_block_row(PGresult *r, int row)
{
    json_t *o = json_pack("{s:I,s:s,s:s,s:s,s:s,s:b}",
                          "id", (json_int_t)strtoll(PQgetvalue(r, row, 0), NULL, 10),
                          "kind", PQgetvalue(r, row, 1),
                          "value", PQgetvalue(r, row, 2),
                          "reason", PQgetvalue(r, row, 3),
                          "created_at", PQgetvalue(r, row, 4),
                          "active", strcmp(PQgetvalue(r, row, 6), "t") == 0);
    if (o == NULL)
        return NULL;
    json_object_set_new(o, "expires_at", PQgetisnull(r, row, 5)
                        ? json_null() : json_string(PQgetvalue(r, row, 5)));
    return o;
}

/* "YYYY-MM-DDTHH:MM:SS" then "Z" or "+HH:MM"/"-HH:MM" (RFC 3339 without
 * fractions) to Unix time. 0 or -1. */
static int mx_api_time_parse(const char *s, long long *out)
{
    int y, mo, d, h, mi, sec, n = 0;
    if (strlen(s) > 32 ||
        sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec, &n) != 6 || n != 19)
        return -1;
    static const char shape[] = "dddd-dd-ddTdd:dd:dd";   /* d: a digit */
    for (int i = 0; i < 19; i++) {
        if (shape[i] == 'd' ? (s[i] < '0' || s[i] > '9') : s[i] != shape[i])
            return -1;
    }
    long off = 0;
    const char *z = s + 19;
    if (strcmp(z, "Z") != 0) {
        if ((z[0] != '+' && z[0] != '-') || strlen(z) != 6 || z[3] != ':' ||
            z[1] < '0' || z[1] > '9' || z[2] < '0' || z[2] > '9' ||
            z[4] < '0' || z[4] > '9' || z[5] < '0' || z[5] > '9')
            return -1;
        off = ((z[1] - '0') * 10 + (z[2] - '0')) * 3600L + ((z[4] - '0') * 10 + (z[5] - '0')) * 60L;
        if (z[0] == '-')
            off = -off;
    }
    struct tm tm = { .tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d,
                     .tm_hour = h, .tm_min = mi, .tm_sec = sec };
    time_t t = timegm(&tm);
    if (t == (time_t)-1 || tm.tm_year != y - 1900 || tm.tm_mon != mo - 1 || tm.tm_mday != d ||
        tm.tm_hour != h || tm.tm_min != mi || tm.tm_sec != sec)
        return -1;                               /* 2026-02-30 and the like */
    *out = (long long)t - off;
    return 0;
}

/* expires_at (RFC 3339) or expires_in (seconds) into *out (Unix time, 0:
 * never). -1 after answering 400. */
static int mx_api_expiry(const http_request *req, http_response *resp, long long *out)
{
    json_t *at = json_object_get(req->json, "expires_at");
    json_t *in = json_object_get(req->json, "expires_in");
    long long now = (long long)time(NULL);
    *out = 0;
    if (at != NULL && !json_is_null(at) && in != NULL && !json_is_null(in)) {
        http_reply_error(resp, 400, "bad_request", "give expires_at or expires_in, not both");
        return -1;
    }
    if (in != NULL && !json_is_null(in)) {
        if (!json_is_integer(in) || json_integer_value(in) < 1 ||
            json_integer_value(in) > MX_API_EXPIRES_MAX) {
            http_reply_error(resp, 400, "invalid_expiry",
                             "expires_in must be a number of seconds, 1..%lld",
                             MX_API_EXPIRES_MAX);
            return -1;
        }
        *out = now + (long long)json_integer_value(in);
    } else if (at != NULL && !json_is_null(at)) {
        if (!json_is_string(at) || mx_api_time_parse(json_string_value(at), out) != 0) {
            http_reply_error(resp, 400, "invalid_expiry",
                             "expires_at must be a time such as 2030-01-31T12:00:00Z");
            return -1;
        }
        if (*out <= now || *out > now + MX_API_EXPIRES_MAX) {
            http_reply_error(resp, 400, "invalid_expiry",
                             "expires_at must be in the future (at most ten years)");
            return -1;
        }
    }
    return 0;
}

static void mx_api_blocks_list(db_conn *c, const http_request *req, http_response *resp)
{
    const char *kind = http_request_query(req, "kind");
    enum smtp_block_kind k;
    if (kind != NULL && smtp_blocks_kind_parse(kind, &k) != 0) {
        http_reply_error(resp, 400, "invalid_kind", "kind must be address, domain or network");
        return;
    }
    char limit[24];
    snprintf(limit, sizeof limit, "%d", MX_API_BLOCKS_MAX);
    PGresult *r = db_queryv(c, "SELECT " BLOCK_COLS " FROM mx.blocks"
                               " WHERE ($1::text IS NULL OR kind = $1) ORDER BY id LIMIT $2::int",
                            2, kind, limit);
    if (r == NULL) {
        mx_api_db_error(c, resp, "blocks list");
        return;
    }
    json_t *arr = json_array();
    for (int i = 0; i < PQntuples(r); i++) {
        json_t *o = mx_api_block_row(r, i);
        if (o != NULL)
            json_array_append_new(arr, o);
    }
    PQclear(r);
    http_reply_json(resp, 200, json_pack("{s:o}", "blocks", arr));
}

static void mx_api_blocks_add(db_conn *c, const http_request *req, http_response *resp)
{
    static const char *const allowed[] = { "kind", "value", "reason", "expires_at",
                                           "expires_in", NULL };
    static const char *const required[] = { "kind", "value", "reason", NULL };
    if (http_json_check_fields(req, resp, allowed, required) != 0)
        return;
    enum smtp_block_kind kind;
    const char *ks = json_string_value(json_object_get(req->json, "kind"));
    if (ks == NULL || smtp_blocks_kind_parse(ks, &kind) != 0) {
        http_reply_error(resp, 400, "invalid_kind", "kind must be address, domain or network");
        return;
    }
    const char *vs = json_string_value(json_object_get(req->json, "value"));
    char value[SMTP_BLOCK_VALUE_MAX + 1], why[160];
    if (vs == NULL) {
        http_reply_error(resp, 400, "invalid_value", "value must be a string");
        return;
    }
    if (smtp_blocks_value_normalize(kind, vs, value, sizeof value, why, sizeof why) != 0) {
        http_reply_error(resp, 400, kind == SMTP_BLOCK_NETWORK ? "invalid_cidr" : "invalid_value",
                         "%s: %s", smtp_blocks_kind_name(kind), why);
        return;
    }
    const char *reason = json_string_value(json_object_get(req->json, "reason"));
    if (reason == NULL || reason[0] == '\0' || strlen(reason) > SMTP_BLOCK_REASON_MAX) {
        http_reply_error(resp, 400, "invalid_reason",
                         "reason must be a non-empty string of at most %d bytes",
                         SMTP_BLOCK_REASON_MAX);
        return;
    }
    long long expires;
    if (mx_api_expiry(req, resp, &expires) != 0)
        return;
    char exp[24];
    snprintf(exp, sizeof exp, "%lld", expires);
    PGresult *r = db_queryv(c, "INSERT INTO mx.blocks (kind, value, reason, expires_at)"
                               " VALUES ($1, $2, $3, CASE WHEN $4::bigint = 0 THEN NULL"
                               " ELSE to_timestamp($4::bigint) END)"
                               " ON CONFLICT (kind, value) DO NOTHING RETURNING " BLOCK_COLS,
                            4, smtp_blocks_kind_name(kind), value, reason, exp);
    if (r == NULL) {
        mx_api_db_error(c, resp, "blocks add");
        return;
    }
    if (PQntuples(r) != 1) {
        PQclear(r);
        http_reply_error(resp, 409, "conflict", "a %s rule for %s exists",
                         smtp_blocks_kind_name(kind), value);
        return;
    }
    json_t *o = mx_api_block_row(r, 0);
    log_info("block rule added", "id", PQgetvalue(r, 0, 0), "kind", smtp_blocks_kind_name(kind),
             "value", value, "reason", reason);
    PQclear(r);
    if (o == NULL) {
        http_reply_error(resp, 500, "internal", "cannot build the answer");
        return;
    }
    http_reply_json(resp, 201, o);
}

static void mx_api_blocks_delete(db_conn *c, const http_request *req, http_response *resp)
{
    const char *id = req->nparams == 1 ? req->params[0] : "";
    char *end = NULL;
    errno = 0;
    long long v = strtoll(id, &end, 10);
    if (id[0] < '0' || id[0] > '9' || errno != 0 || *end != '\0' || v < 1) {
        http_reply_error(resp, 404, "not_found", "no such block rule");
        return;
    }
    char ids[24];
    snprintf(ids, sizeof ids, "%lld", v);
    PGresult *r = db_queryv(c, "DELETE FROM mx.blocks WHERE id = $1::bigint"
                               " RETURNING kind, value", 1, ids);
    if (r == NULL) {
        mx_api_db_error(c, resp, "blocks delete");
        return;
    }
    if (PQntuples(r) != 1) {
        PQclear(r);
        http_reply_error(resp, 404, "not_found", "no such block rule");
        return;
    }
    log_info("block rule deleted", "id", ids, "kind", PQgetvalue(r, 0, 0),
             "value", PQgetvalue(r, 0, 1));
    PQclear(r);
    resp->status = 204;
}

#define MX_API_HANDLER(name)                                                  \
    static void mx_api_h_##name(void *arg, const http_request *req,           \
                                http_response *resp)                          \
    {                                                                         \
        mx_api_with_db(arg, req, resp, mx_api_blocks_##name);                 \
    }

MX_API_HANDLER(list)
MX_API_HANDLER(add)
MX_API_HANDLER(delete)

int mx_api_blocks_register(service *svc)
{
    if (http_route(svc->http, "GET", "/v1/blocks", mx_api_h_list, svc) != 0 ||
        http_route(svc->http, "POST", "/v1/blocks", mx_api_h_add, svc) != 0 ||
        http_route(svc->http, "DELETE", "/v1/blocks/*", mx_api_h_delete, svc) != 0)
        return -1;
    return 0;
}
