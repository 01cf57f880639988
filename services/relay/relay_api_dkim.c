/*
 * relay_api_dkim.c - the DKIM key API of the relay (bearer auth and JSON
 * errors from libcommon http):
 *
 *   GET    /v1/dkim/keys[?domain=D]  -> {"keys": [key, ...]}
 *   POST   /v1/dkim/keys {"domain", "selector"?, "algorithm"?}
 *          -> 201 key (algorithm default rsa-sha256; selector default
 *             "my" + yyyymm + the first free letter, plus "-ed" for an
 *             ed25519 key: one DNS name holds one key record)
 *   POST   /v1/dkim/keys/rotate {"domain"} -> 201 {"selector", "keys":
 *          [rsa, ed25519]} with new selectors S and S-ed; older keys stay
 *          active (and keep signing only where no newer key of their
 *          algorithm exists) until retired
 *   DELETE /v1/dkim/keys/{id} -> key (state "retired"), 404 if unknown
 *
 * key = {"id","domain","selector","algorithm","state","created_at",
 * "retired_at","public_txt","dns_record","source"}: never the private key.
 * source is "db" (relay.dkim_keys) or "file" (MAILYARD_RELAY_DKIM_KEY_DIR,
 * listed after the table's keys, "id" null, not retirable here).
 * Handlers borrow a pooled connection for the request only.
 */
#include "relay.h"
#include "relay_dkim.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "http.h"
#include "log.h"
#include "xalloc.h"

#define KEY_COLUMNS \
    "SELECT id, domain, selector, algorithm, state, " \
    "  to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), " \
    "  to_char(retired_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), public_txt " \
    "FROM relay.dkim_keys "

static const char SQL_LIST[] =
    KEY_COLUMNS "WHERE ($1::text IS NULL OR domain = lower($1::text)) "
    "ORDER BY domain, created_at DESC, id DESC LIMIT 10000";
static const char SQL_ONE[] = KEY_COLUMNS "WHERE id = $1::bigint";
static const char SQL_RETIRE[] =
    "UPDATE relay.dkim_keys SET state = 'retired', retired_at = coalesce(retired_at, now()) "
    "WHERE id = $1::bigint";
static const char SQL_SEL_USED[] =
    "SELECT 1 FROM relay.dkim_keys WHERE domain = lower($1) "
    "  AND (selector = $2 OR selector = $2 || '-ed')";

static void api_keys_list(void *arg, const http_request *req, http_response *resp);
static void api_keys_create(void *arg, const http_request *req, http_response *resp);
static void api_keys_rotate(void *arg, const http_request *req, http_response *resp);
static void api_keys_retire(void *arg, const http_request *req, http_response *resp);
static json_t *api_key_rows(PGresult *r);
static int  api_name_ok(const char *s, size_t max, int dots);
static int  api_new_key(db_conn *c, const char *domain, const char *selector,
                        const char *algorithm, http_response *resp, json_t **key);
static int  api_free_selector(db_conn *c, const char *domain, char *out, size_t outlen);

int relay_api_dkim_register(service *svc, relay_state *st)
{
    if (http_route(svc->http, "GET", "/v1/dkim/keys", api_keys_list, st) != 0 ||
        http_route(svc->http, "POST", "/v1/dkim/keys/rotate", api_keys_rotate, st) != 0 ||
        http_route(svc->http, "POST", "/v1/dkim/keys", api_keys_create, st) != 0 ||
        http_route(svc->http, "DELETE", "/v1/dkim/keys/*", api_keys_retire, st) != 0) {
        log_error("cannot register the dkim key routes");
        return -1;
    }
    return 0;
}

static void api_keys_list(void *arg, const http_request *req, http_response *resp)
{
    relay_state *st = arg;
    const char *domain = http_request_query(req, "domain");

    if (domain != NULL && !api_name_ok(domain, RELAY_DKIM_DOMAIN_MAX, 1)) {
        http_reply_error(resp, 400, "bad_request", "domain is not a domain name");
        return;
    }
    db_conn *c = db_pool_acquire(st->db, 5000);
    if (c == NULL) {
        http_reply_error(resp, 503, "unavailable", "database unavailable");
        return;
    }
    PGresult *r = db_queryv(c, SQL_LIST, 1, domain);
    if (r == NULL) {
        log_error("dkim key listing failed", "error", db_conn_error(c));
        db_pool_release(st->db, c);
        http_reply_error(resp, 500, "internal", "database error");
        return;
    }
    json_t *keys = api_key_rows(r);
    PQclear(r);
    db_pool_release(st->db, c);
    json_t *fkeys = relay_dkim_files_json(st->dkim_files, domain);     /* file keys */
    if (json_array_extend(keys, fkeys) != 0)
        panic("json_array_extend failed");
    json_decref(fkeys);
    http_reply_json(resp, 200, json_pack("{s:o}", "keys", keys));
}

static void api_keys_create(void *arg, const http_request *req, http_response *resp)
{
    static const char *const allowed[] = { "domain", "selector", "algorithm", NULL };
    static const char *const required[] = { "domain", NULL };
    relay_state *st = arg;
    char sel[RELAY_DKIM_SELECTOR_MAX + 1];

    if (req->json == NULL) {
        http_reply_error(resp, 400, "bad_request", "a JSON body is required");
        return;
    }
    if (http_json_check_fields(req, resp, allowed, required) != 0)
        return;
    json_t *jd = json_object_get(req->json, "domain");
    json_t *js = json_object_get(req->json, "selector");
    json_t *ja = json_object_get(req->json, "algorithm");
    const char *domain = json_string_value(jd);
    const char *algorithm = ja != NULL ? json_string_value(ja) : "rsa-sha256";
    if (domain == NULL || !api_name_ok(domain, RELAY_DKIM_DOMAIN_MAX, 1) ||
        (js != NULL && (!json_is_string(js) ||
                        !api_name_ok(json_string_value(js), RELAY_DKIM_SELECTOR_MAX, 1))) ||
        algorithm == NULL || (strcmp(algorithm, "rsa-sha256") != 0 &&
                              strcmp(algorithm, "ed25519-sha256") != 0)) {
        http_reply_error(resp, 400, "bad_request", "domain (a domain name), selector (letters, "
                         "digits, '-', '.') and algorithm (rsa-sha256 or ed25519-sha256)");
        return;
    }
    db_conn *c = db_pool_acquire(st->db, 5000);
    if (c == NULL) {
        http_reply_error(resp, 503, "unavailable", "database unavailable");
        return;
    }
    json_t *key = NULL;
    if (js != NULL)
        (void)str_copy(sel, sizeof(sel), json_string_value(js));
    if (js == NULL && api_free_selector(c, domain, sel, sizeof(sel)) != 0)
        http_reply_error(resp, 500, "internal", "no free selector");
    else if (js == NULL && strcmp(algorithm, "ed25519-sha256") == 0 &&
             str_copy(sel + strlen(sel), sizeof(sel) - strlen(sel), "-ed") != 0)
        http_reply_error(resp, 500, "internal", "selector too long");
    else if (api_new_key(c, domain, sel, algorithm, resp, &key) == 0)
        http_reply_json(resp, 201, key);
    relay_dkim_cache_touch(st->dkim);   /* even a failed change may have written */
    db_pool_release(st->db, c);
}

static void api_keys_rotate(void *arg, const http_request *req, http_response *resp)
{
    static const char *const allowed[] = { "domain", NULL };
    relay_state *st = arg;
    char sel[RELAY_DKIM_SELECTOR_MAX + 1], sel_ed[RELAY_DKIM_SELECTOR_MAX + 8];

    if (req->json == NULL) {
        http_reply_error(resp, 400, "bad_request", "a JSON body is required");
        return;
    }
    if (http_json_check_fields(req, resp, allowed, allowed) != 0)
        return;
    const char *domain = json_string_value(json_object_get(req->json, "domain"));
    if (domain == NULL || !api_name_ok(domain, RELAY_DKIM_DOMAIN_MAX, 1)) {
        http_reply_error(resp, 400, "bad_request", "domain is not a domain name");
        return;
    }
    db_conn *c = db_pool_acquire(st->db, 5000);
    if (c == NULL) {
        http_reply_error(resp, 503, "unavailable", "database unavailable");
        return;
    }
    json_t *k1 = NULL, *k2 = NULL;
    if (api_free_selector(c, domain, sel, sizeof(sel)) != 0)
        http_reply_error(resp, 500, "internal", "no free selector");
    else if (snprintf(sel_ed, sizeof(sel_ed), "%s-ed", sel) < 0 || db_begin(c) != 0)
        http_reply_error(resp, 500, "internal", "database error");
    else if (api_new_key(c, domain, sel, "rsa-sha256", resp, &k1) != 0 ||
             api_new_key(c, domain, sel_ed, "ed25519-sha256", resp, &k2) != 0)
        (void)db_rollback(c);
    else if (db_commit(c) != 0)
        http_reply_error(resp, 500, "internal", "database error");
    else
        http_reply_json(resp, 201, json_pack("{s:s, s:[O, O]}", "selector", sel, "keys",
                                             k1, k2));
    json_decref(k1);
    json_decref(k2);
    relay_dkim_cache_touch(st->dkim);   /* even a failed change may have written */
    db_pool_release(st->db, c);
}

static void api_keys_retire(void *arg, const http_request *req, http_response *resp)
{
    relay_state *st = arg;
    const char *id = req->nparams > 0 ? req->params[0] : "";
    size_t l = strlen(id);
    int ok = l > 0 && l <= 18;

    for (size_t i = 0; ok && i < l; i++)
        ok = isdigit((unsigned char)id[i]) != 0;
    if (!ok) {
        http_reply_error(resp, 404, "not_found", "no such key");
        return;
    }
    db_conn *c = db_pool_acquire(st->db, 5000);
    if (c == NULL) {
        http_reply_error(resp, 503, "unavailable", "database unavailable");
        return;
    }
    PGresult *r = NULL;
    if (db_exec(c, SQL_RETIRE, 1, (const char *const[]){ id }) != 0 ||
        (r = db_queryv(c, SQL_ONE, 1, id)) == NULL) {
        log_error("dkim key retire failed", "error", db_conn_error(c));
        http_reply_error(resp, 500, "internal", "database error");
    } else if (PQntuples(r) == 0) {
        http_reply_error(resp, 404, "not_found", "no key with id %s", id);
    } else {
        json_t *rows = api_key_rows(r);
        http_reply_json(resp, 200, json_incref(json_array_get(rows, 0)));
        json_decref(rows);
        log_info("dkim key retired", "key_id", id);
    }
    if (r != NULL)
        PQclear(r);
    relay_dkim_cache_touch(st->dkim);   /* even a failed change may have written */
    db_pool_release(st->db, c);
}

/* Generates and stores one key; on success *key is its JSON (caller owns).
 * -1 after filling resp. */
static int api_new_key(db_conn *c, const char *domain, const char *selector,
                       const char *algorithm, http_response *resp, json_t **key)
{
    char *pem = NULL, *txt = NULL, err[256], id[24];
    long long nid = 0;

    if (relay_dkim_keygen(algorithm, &pem, &txt, err, sizeof(err)) != 0) {
        log_error("dkim key generation failed", "error", err);
        http_reply_error(resp, 500, "internal", "key generation failed");
        return -1;
    }
    int ins = relay_dkim_store_insert(c, domain, selector, algorithm, pem, txt, &nid);
    relay_dkim_pem_free(pem);
    free(txt);
    if (ins != 0) {
        if (ins > 0)
            http_reply_error(resp, 409, "conflict", "%s key with selector %s exists for %s",
                             algorithm, selector, domain);
        else
            http_reply_error(resp, 500, "internal", "database error");
        return -1;
    }
    snprintf(id, sizeof(id), "%lld", nid);
    PGresult *r = db_queryv(c, SQL_ONE, 1, id);
    if (r == NULL || PQntuples(r) != 1) {
        if (r != NULL)
            PQclear(r);
        http_reply_error(resp, 500, "internal", "database error");
        return -1;
    }
    json_t *rows = api_key_rows(r);
    PQclear(r);
    *key = json_incref(json_array_get(rows, 0));
    json_decref(rows);
    log_info("dkim key generated", "domain", domain, "selector", selector,
             "algorithm", algorithm, "key_id", id);
    return 0;
}

/* "my" + yyyymm + the first letter a..z not used by the domain yet. */
static int api_free_selector(db_conn *c, const char *domain, char *out, size_t outlen)
{
    time_t now = time(NULL);
    struct tm tm;
    char ym[16];

    if (gmtime_r(&now, &tm) == NULL || strftime(ym, sizeof(ym), "%Y%m", &tm) == 0)
        return -1;
    for (char l = 'a'; l <= 'z'; l++) {
        snprintf(out, outlen, "my%s%c", ym, l);
        PGresult *r = db_queryv(c, SQL_SEL_USED, 2, domain, out);
        if (r == NULL)
            return -1;
        int used = PQntuples(r) > 0;
        PQclear(r);
        if (!used)
            return 0;
    }
    return -1;
}

static json_t *api_key_rows(PGresult *r)
{
    json_t *arr = json_array();
    for (int i = 0; i < PQntuples(r); i++) {
        json_t *o = json_object();
        json_object_set_new(o, "id", json_integer(strtoll(PQgetvalue(r, i, 0), NULL, 10)));
        json_object_set_new(o, "domain", json_string(PQgetvalue(r, i, 1)));
        json_object_set_new(o, "selector", json_string(PQgetvalue(r, i, 2)));
        json_object_set_new(o, "algorithm", json_string(PQgetvalue(r, i, 3)));
        json_object_set_new(o, "state", json_string(PQgetvalue(r, i, 4)));
        json_object_set_new(o, "created_at", json_string(PQgetvalue(r, i, 5)));
        json_object_set_new(o, "retired_at", PQgetisnull(r, i, 6) ? json_null()
                                                : json_string(PQgetvalue(r, i, 6)));
        json_object_set_new(o, "public_txt", json_string(PQgetvalue(r, i, 7)));
        json_object_set_new(o, "source", json_string("db"));
        size_t n = strlen(PQgetvalue(r, i, 1)) + strlen(PQgetvalue(r, i, 2)) +
                   strlen(PQgetvalue(r, i, 7)) + 40;
        char *rec = malloc(n);
        if (rec != NULL) {
            snprintf(rec, n, "%s._domainkey.%s IN TXT \"%s\"", PQgetvalue(r, i, 2),
                     PQgetvalue(r, i, 1), PQgetvalue(r, i, 7));
            json_object_set_new(o, "dns_record", json_string(rec));
            free(rec);
        }
        json_array_append_new(arr, o);
    }
    return arr;
}

/* Letters, digits, '-' and (with dots) '.', not empty, at most max bytes. */
static int api_name_ok(const char *s, size_t max, int dots)
{
    size_t l = strlen(s);
    if (l == 0 || l > max || s[0] == '.' || s[0] == '-')
        return 0;
    for (size_t i = 0; i < l; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (!isalnum(ch) && ch != '-' && !(dots && ch == '.'))
            return 0;
    }
    return 1;
}
