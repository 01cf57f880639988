/*
 * mx_api_submission.c - the submission API of mx (docs/api/mx.yaml):
 *
 *   GET    /v1/submission/users                 {"users":[{"name","created_at","updated_at"}]}
 *   POST   /v1/submission/users                 {"name","password"} -> 201 | 409
 *   DELETE /v1/submission/users/{name}          204 | 404 (grants and certificates too)
 *   PUT    /v1/submission/users/{name}/password {"password"} -> 204 | 404
 *   GET    /v1/submission/users/{name}/grants   {"grants":[{"address","kind","created_at"}]}
 *   POST   /v1/submission/users/{name}/grants   {"address","kind"?} -> 201 | 404 | 409
 *   DELETE /v1/submission/users/{name}/grants/{address}  204 | 404 (every kind)
 *   GET    /v1/submission/certs                 {"certs":[{"name","user","fingerprint",...}]}
 *   POST   /v1/submission/certs                 {"name","user","fingerprint"|"pem"} -> 201
 *   DELETE /v1/submission/certs/{name}          204 | 404
 *
 * Grants: "address" is a mailbox ("a@example.org") or a whole domain
 * ("@example.org"), stored lower-case; "kind" is "any" (default),
 * "envelope" (MAIL FROM only) or "from" (From: only).
 *
 * SECURITY: the bearer token is checked by libcommon's http server.
 * Passwords (1..255 octets, no NUL) are hashed with yescrypt
 * (submit_pw.h) before they reach SQL and are never logged or returned.
 * Names, addresses and fingerprints are validated and passed as SQL
 * parameters. A PEM certificate is parsed by OpenSSL only to take its
 * SHA-256 fingerprint; it is not stored.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include "addr.h"
#include "http.h"
#include "log.h"
#include "xalloc.h"
#include "submit_pw.h"
#include "mx_api_submission.h"

#define API_DB_TIMEOUT_MS 5000
#define API_NAME_MAX      128
#define API_PEM_MAX       (64 * 1024)
#define API_TS(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"

typedef void (*api_db_fn)(const http_request *req, http_response *resp, db_conn *c);

static void api_with_db(service *svc, const http_request *req, http_response *resp,
                        api_db_fn fn);
static int  api_name_ok(const char *s);
static const char *api_password(const http_request *req, http_response *resp);
static int  api_grant_address(const char *in, char *out, size_t outlen);
static int  api_fingerprint(const char *in, char out[65]);
static int  api_pem_fingerprint(const char *pem, char out[65]);
static json_t *api_rows(PGresult *r, const char *const *keys);
static void api_users_list(const http_request *req, http_response *resp, db_conn *c);
static void api_user_create(const http_request *req, http_response *resp, db_conn *c);
static void api_user_delete(const http_request *req, http_response *resp, db_conn *c);
static void api_user_password(const http_request *req, http_response *resp, db_conn *c);
static void api_grants_list(const http_request *req, http_response *resp, db_conn *c);
static void api_grant_add(const http_request *req, http_response *resp, db_conn *c);
static void api_grant_delete(const http_request *req, http_response *resp, db_conn *c);
static void api_certs_list(const http_request *req, http_response *resp, db_conn *c);
static void api_cert_add(const http_request *req, http_response *resp, db_conn *c);
static void api_cert_delete(const http_request *req, http_response *resp, db_conn *c);
static int  api_user_exists(db_conn *c, const char *name, http_response *resp);

static void api_with_db(service *svc, const http_request *req, http_response *resp,
                        api_db_fn fn)
{
    db_conn *c = db_pool_acquire(svc->db, API_DB_TIMEOUT_MS);
    if (c == NULL) {
        http_reply_error(resp, 503, "database_unavailable", "database unavailable");
        return;
    }
    fn(req, resp, c);
    db_pool_release(svc->db, c);
}

static void api_db_error(http_response *resp, db_conn *c)
{
    log_error("submission api: database error", "error", db_conn_error(c));
    http_reply_error(resp, 503, "database_unavailable", "database error");
}

/* 1..API_NAME_MAX printable ASCII octets without blanks. */
static int api_name_ok(const char *s)
{
    size_t n = s != NULL ? strlen(s) : 0;
    if (n == 0 || n > API_NAME_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
            return 0;
    return 1;
}

/* The "password" field (1..SUBMIT_PW_MAX octets, no NUL), or NULL after
 * answering 400. */
static const char *api_password(const http_request *req, http_response *resp)
{
    json_t *p = json_object_get(req->json, "password");
    if (!json_is_string(p) || json_string_length(p) == 0 ||
        json_string_length(p) > SUBMIT_PW_MAX ||
        strlen(json_string_value(p)) != json_string_length(p)) {
        http_reply_error(resp, 400, "invalid_password",
                         "password: 1..%d octets without NUL", SUBMIT_PW_MAX);
        return NULL;
    }
    return json_string_value(p);
}

/* A grant: "local@domain" or "@domain", lower-cased into out. 0 or -1. */
static int api_grant_address(const char *in, char *out, size_t outlen)
{
    char path[300], addr[300];
    size_t used;
    if (in == NULL || strlen(in) > 256)
        return -1;
    if (in[0] == '@') {
        /* check the domain as part of a mailbox */
        snprintf(path, sizeof path, "<x%s>", in);
        if (addr_parse_path(path, 0, addr, sizeof addr, &used) != ADDR_OK ||
            used != strlen(path))
            return -1;
    } else {
        snprintf(path, sizeof path, "<%s>", in);
        if (addr_parse_path(path, 0, addr, sizeof addr, &used) != ADDR_OK ||
            used != strlen(path) || addr_domain(addr) == NULL)
            return -1;
    }
    char *low = addr_lower(in);
    int rc = str_copy(out, outlen, low);
    free(low);
    return rc;
}

/* 64 hex digits, colons allowed between bytes, into lower-case hex. */
static int api_fingerprint(const char *in, char out[65])
{
    size_t n = 0;
    for (const char *p = in; *p != '\0'; p++) {
        if (*p == ':')
            continue;
        if (!isxdigit((unsigned char)*p) || n == 64)
            return -1;
        out[n++] = (char)tolower((unsigned char)*p);
    }
    out[n] = '\0';
    return n == 64 ? 0 : -1;
}

static int api_pem_fingerprint(const char *pem, char out[65])
{
    BIO *b = BIO_new_mem_buf(pem, -1);
    X509 *x = b != NULL ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
    BIO_free(b);
    if (x == NULL)
        return -1;
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    int ok = X509_digest(x, EVP_sha256(), md, &n) == 1 && n == 32;
    X509_free(x);
    if (!ok)
        return -1;
    for (unsigned i = 0; i < n; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
    return 0;
}

/* Every row of r as an object with the given keys (one per column). */
static json_t *api_rows(PGresult *r, const char *const *keys)
{
    json_t *arr = json_array();
    for (int i = 0; i < PQntuples(r); i++) {
        json_t *o = json_object();
        for (int k = 0; keys[k] != NULL; k++)
            json_object_set_new(o, keys[k], json_string(PQgetvalue(r, i, k)));
        json_array_append_new(arr, o);
    }
    return arr;
}

/* 1 if the user exists; 0 after answering 404; -1 after answering 503. */
static int api_user_exists(db_conn *c, const char *name, http_response *resp)
{
    PGresult *r = db_queryv(c, "SELECT 1 FROM mx.submission_users WHERE name = $1", 1, name);
    if (r == NULL) {
        api_db_error(resp, c);
        return -1;
    }
    int found = PQntuples(r) > 0;
    PQclear(r);
    if (!found)
        http_reply_error(resp, 404, "not_found", "no such submission user");
    return found;
}

static void api_users_list(const http_request *req, http_response *resp, db_conn *c)
{
    (void)req;
    static const char *const keys[] = { "name", "created_at", "updated_at", NULL };
    PGresult *r = db_queryv(c, "SELECT name, " API_TS("created_at") ", " API_TS("updated_at")
                               " FROM mx.submission_users ORDER BY name", 0, NULL);
    if (r == NULL) {
        api_db_error(resp, c);
        return;
    }
    http_reply_json(resp, 200, json_pack("{s:o}", "users", api_rows(r, keys)));
    PQclear(r);
}

static void api_user_create(const http_request *req, http_response *resp, db_conn *c)
{
    static const char *const allowed[] = { "name", "password", NULL };
    if (http_json_check_fields(req, resp, allowed, allowed) != 0)
        return;
    const char *name = json_string_value(json_object_get(req->json, "name"));
    if (!api_name_ok(name)) {
        http_reply_error(resp, 400, "invalid_name",
                         "name: 1..%d printable ASCII characters without blanks", API_NAME_MAX);
        return;
    }
    const char *pass = api_password(req, resp);
    if (pass == NULL)
        return;
    char *hash = submit_pw_hash(pass);
    if (hash == NULL) {
        http_reply_error(resp, 500, "internal", "cannot hash the password");
        return;
    }
    PGresult *r = db_queryv(c, "INSERT INTO mx.submission_users (name, password_hash)"
                               " VALUES ($1, $2) ON CONFLICT DO NOTHING RETURNING "
                               API_TS("created_at"), 2, name, hash);
    free(hash);
    if (r == NULL) {
        api_db_error(resp, c);
        return;
    }
    if (PQntuples(r) == 0) {
        http_reply_error(resp, 409, "conflict", "the user exists");
    } else {
        http_reply_json(resp, 201, json_pack("{s:s, s:s}", "name", name,
                                             "created_at", PQgetvalue(r, 0, 0)));
        log_info("submission user created", "user", name);
    }
    PQclear(r);
}

static void api_user_delete(const http_request *req, http_response *resp, db_conn *c)
{
    PGresult *r = db_queryv(c, "DELETE FROM mx.submission_users WHERE name = $1 RETURNING 1",
                            1, req->params[0]);
    if (r == NULL) {
        api_db_error(resp, c);
        return;
    }
    if (PQntuples(r) == 0)
        http_reply_error(resp, 404, "not_found", "no such submission user");
    else
        resp->status = 204;
    PQclear(r);
}

static void api_user_password(const http_request *req, http_response *resp, db_conn *c)
{
    static const char *const allowed[] = { "password", NULL };
    if (http_json_check_fields(req, resp, allowed, allowed) != 0)
        return;
    const char *pass = api_password(req, resp);
    if (pass == NULL)
        return;
    char *hash = submit_pw_hash(pass);
    if (hash == NULL) {
        http_reply_error(resp, 500, "internal", "cannot hash the password");
        return;
    }
    PGresult *r = db_queryv(c, "UPDATE mx.submission_users SET password_hash = $2,"
                               " updated_at = now() WHERE name = $1 RETURNING 1",
                            2, req->params[0], hash);
    free(hash);
    if (r == NULL) {
        api_db_error(resp, c);
        return;
    }
    if (PQntuples(r) == 0)
        http_reply_error(resp, 404, "not_found", "no such submission user");
    else
        resp->status = 204;
    PQclear(r);
}

static void api_grants_list(const http_request *req, http_response *resp, db_conn *c)
{
    static const char *const keys[] = { "address", "kind", "created_at", NULL };
    if (api_user_exists(c, req->params[0], resp) != 1)
        return;
    PGresult *r = db_queryv(c, "SELECT address, kind, " API_TS("created_at")
                               " FROM mx.submission_grants WHERE username = $1"
                               " ORDER BY address, kind", 1, req->params[0]);
    if (r == NULL) {
        api_db_error(resp, c);
        return;
    }
    http_reply_json(resp, 200, json_pack("{s:s, s:o}", "user", req->params[0],
                                         "grants", api_rows(r, keys)));
    PQclear(r);
}

static void api_grant_add(const http_request *req, http_response *resp, db_conn *c)
{
    static const char *const allowed[] = { "address", "kind", NULL };
    static const char *const required[] = { "address", NULL };
    if (http_json_check_fields(req, resp, allowed, required) != 0)
        return;
    char addr[300];
    const char *kind = json_string_value(json_object_get(req->json, "kind"));
    if (json_object_get(req->json, "kind") != NULL &&
        (kind == NULL || (strcmp(kind, "any") != 0 && strcmp(kind, "envelope") != 0 &&
                          strcmp(kind, "from") != 0))) {
        http_reply_error(resp, 400, "invalid_kind", "kind: any, envelope or from");
        return;
    }
    if (kind == NULL)
        kind = "any";
    if (api_grant_address(json_string_value(json_object_get(req->json, "address")),
                          addr, sizeof addr) != 0) {
        http_reply_error(resp, 400, "invalid_address",
                         "address: a mailbox (a@example.org) or a domain (@example.org)");
        return;
    }
    int e = api_user_exists(c, req->params[0], resp);
    if (e != 1)
        return;
    PGresult *r = db_queryv(c, "INSERT INTO mx.submission_grants (username, address, kind)"
                               " VALUES ($1, $2, $3) ON CONFLICT DO NOTHING RETURNING "
                               API_TS("created_at"), 3, req->params[0], addr, kind);
    if (r == NULL) {
        api_db_error(resp, c);
        return;
    }
    if (PQntuples(r) == 0)
        http_reply_error(resp, 409, "conflict", "the grant exists");
    else
        http_reply_json(resp, 201, json_pack("{s:s, s:s, s:s, s:s}", "user", req->params[0],
                                             "address", addr, "kind", kind,
                                             "created_at", PQgetvalue(r, 0, 0)));
    PQclear(r);
}

static void api_grant_delete(const http_request *req, http_response *resp, db_conn *c)
{
    char addr[300];
    if (api_grant_address(req->params[1], addr, sizeof addr) != 0) {
        http_reply_error(resp, 400, "invalid_address", "not a grant address");
        return;
    }
    PGresult *r = db_queryv(c, "DELETE FROM mx.submission_grants WHERE username = $1"
                               " AND address = $2 RETURNING 1", 2, req->params[0], addr);
    if (r == NULL) {
        api_db_error(resp, c);
        return;
    }
    if (PQntuples(r) == 0)
        http_reply_error(resp, 404, "not_found", "no such grant");
    else
        resp->status = 204;
    PQclear(r);
}

static void api_certs_list(const http_request *req, http_response *resp, db_conn *c)
{
    (void)req;
    static const char *const keys[] = { "name", "user", "fingerprint", "created_at", NULL };
    PGresult *r = db_queryv(c, "SELECT name, username, fingerprint, " API_TS("created_at")
                               " FROM mx.submission_certs ORDER BY name", 0, NULL);
    if (r == NULL) {
        api_db_error(resp, c);
        return;
    }
    http_reply_json(resp, 200, json_pack("{s:o}", "certs", api_rows(r, keys)));
    PQclear(r);
}

static void api_cert_add(const http_request *req, http_response *resp, db_conn *c)
{
    static const char *const allowed[] = { "name", "user", "fingerprint", "pem", NULL };
    static const char *const required[] = { "name", "user", NULL };
    if (http_json_check_fields(req, resp, allowed, required) != 0)
        return;
    const char *name = json_string_value(json_object_get(req->json, "name"));
    const char *user = json_string_value(json_object_get(req->json, "user"));
    json_t *fpj = json_object_get(req->json, "fingerprint");
    json_t *pemj = json_object_get(req->json, "pem");
    char fp[65];
    if (!api_name_ok(name) || !api_name_ok(user)) {
        http_reply_error(resp, 400, "invalid_name", "name and user: 1..%d printable "
                         "ASCII characters without blanks", API_NAME_MAX);
        return;
    }
    if ((fpj == NULL) == (pemj == NULL)) {
        http_reply_error(resp, 400, "bad_request", "give either fingerprint or pem");
        return;
    }
    if (fpj != NULL && (!json_is_string(fpj) ||
                        api_fingerprint(json_string_value(fpj), fp) != 0)) {
        http_reply_error(resp, 400, "invalid_fingerprint",
                         "fingerprint: the SHA-256 of the certificate, 64 hex digits");
        return;
    }
    if (pemj != NULL && (!json_is_string(pemj) || json_string_length(pemj) > API_PEM_MAX ||
                         api_pem_fingerprint(json_string_value(pemj), fp) != 0)) {
        http_reply_error(resp, 400, "invalid_pem", "pem: one PEM certificate");
        return;
    }
    if (api_user_exists(c, user, resp) != 1)
        return;
    PGresult *r = db_queryv(c, "INSERT INTO mx.submission_certs (name, fingerprint, username)"
                               " VALUES ($1, $2, $3) ON CONFLICT DO NOTHING RETURNING "
                               API_TS("created_at"), 3, name, fp, user);
    if (r == NULL) {
        api_db_error(resp, c);
        return;
    }
    if (PQntuples(r) == 0)
        http_reply_error(resp, 409, "conflict", "a certificate with this name or "
                         "fingerprint exists");
    else
        http_reply_json(resp, 201, json_pack("{s:s, s:s, s:s, s:s}", "name", name,
                                             "user", user, "fingerprint", fp,
                                             "created_at", PQgetvalue(r, 0, 0)));
    PQclear(r);
}

static void api_cert_delete(const http_request *req, http_response *resp, db_conn *c)
{
    PGresult *r = db_queryv(c, "DELETE FROM mx.submission_certs WHERE name = $1 RETURNING 1",
                            1, req->params[0]);
    if (r == NULL) {
        api_db_error(resp, c);
        return;
    }
    if (PQntuples(r) == 0)
        http_reply_error(resp, 404, "not_found", "no such certificate");
    else
        resp->status = 204;
    PQclear(r);
}

/* One http_handler per route: the arg is the service. */
#define API_HANDLER(h, fn) \
    static void h(void *arg, const http_request *req, http_response *resp) \
    { api_with_db(arg, req, resp, fn); }
API_HANDLER(h_users_list, api_users_list)
API_HANDLER(h_user_create, api_user_create)
API_HANDLER(h_user_delete, api_user_delete)
API_HANDLER(h_user_password, api_user_password)
API_HANDLER(h_grants_list, api_grants_list)
API_HANDLER(h_grant_add, api_grant_add)
API_HANDLER(h_grant_delete, api_grant_delete)
API_HANDLER(h_certs_list, api_certs_list)
API_HANDLER(h_cert_add, api_cert_add)
API_HANDLER(h_cert_delete, api_cert_delete)

int mx_api_submission_register(service *svc)
{
    static const struct { const char *method, *pattern; http_handler h; } routes[] = {
        { "GET",    "/v1/submission/users",              h_users_list },
        { "POST",   "/v1/submission/users",              h_user_create },
        { "DELETE", "/v1/submission/users/*",            h_user_delete },
        { "PUT",    "/v1/submission/users/*/password",   h_user_password },
        { "GET",    "/v1/submission/users/*/grants",     h_grants_list },
        { "POST",   "/v1/submission/users/*/grants",     h_grant_add },
        { "DELETE", "/v1/submission/users/*/grants/*",   h_grant_delete },
        { "GET",    "/v1/submission/certs",              h_certs_list },
        { "POST",   "/v1/submission/certs",              h_cert_add },
        { "DELETE", "/v1/submission/certs/*",            h_cert_delete },
    };
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++)
        if (http_route(svc->http, routes[i].method, routes[i].pattern, routes[i].h, svc) != 0)
            return -1;
    return 0;
}
