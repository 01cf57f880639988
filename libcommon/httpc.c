/*
 * httpc.c - the blocking HTTP client (httpc.h) on one libcurl easy handle.
 *
 * Owns: the curl handle (kept between calls, so the connection stays
 * alive: curl_easy_reset() clears options but keeps live connections), a
 * copy of the base URL and the "Authorization: Bearer" header line.
 *
 * Each call sends an optional JSON body (Content-Type: application/json,
 * no "Expect: 100-continue" round trip), collects the response up to
 * HTTPC_MAX_RESPONSE bytes and parses it with jansson when the server says
 * it is JSON. Only http and https are allowed; redirects are not followed.
 *
 * httpc_post_raw() sends raw bytes instead (a message to a scanner) with
 * the caller's header lines, which are refused when they hold CR or LF.
 *
 * SECURITY: the response is untrusted: its size is capped and a malformed
 * JSON body only yields json == NULL (the raw body stays available).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "buf.h"
#include "httpc.h"
#include "xalloc.h"

#define HTTPC_MAX_RESPONSE (16L * 1024 * 1024)

struct httpc {
    CURL *curl;          /* owned */
    char *base_url;      /* owned, without trailing '/' */
    char *auth_header;   /* owned "Authorization: Bearer ..." or NULL; wiped */
    long  timeout_ms;
};

static size_t write_cb(char *ptr, size_t size, size_t nmemb, void *userdata);

httpc *
httpc_create(const char *base_url, const char *token, long timeout_ms)
{
    httpc *c;
    size_t n;

    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return NULL;
    c = xcalloc(1, sizeof(*c));
    c->curl = curl_easy_init();
    if (c->curl == NULL) {
        free(c);
        curl_global_cleanup();
        return NULL;
    }
    c->base_url = xstrdup(base_url ? base_url : "");
    n = strlen(c->base_url);
    while (n > 0 && c->base_url[n - 1] == '/')
        c->base_url[--n] = '\0';
    if (token != NULL && token[0] != '\0') {
        size_t len = strlen("Authorization: Bearer ") + strlen(token) + 1;
        c->auth_header = xmalloc(len);
        snprintf(c->auth_header, len, "Authorization: Bearer %s", token);
    }
    c->timeout_ms = timeout_ms > 0 ? timeout_ms : 10000;
    return c;
}

void
httpc_free(httpc *c)
{
    if (c == NULL)
        return;
    curl_easy_cleanup(c->curl);
    if (c->auth_header != NULL) {
        explicit_bzero(c->auth_header, strlen(c->auth_header));
        free(c->auth_header);
    }
    free(c->base_url);
    free(c);
    curl_global_cleanup();
}

/* The part of every request after its method, body and headers are set:
 * URL, limits, no redirects, http(s) only; performs it and fills res
 * (status, body, json). 0, or -1 with res->error set. resp collects the
 * response (its ceiling is HTTPC_MAX_RESPONSE); its bytes move to res. */
static int
httpc_perform(httpc *c, const char *url, struct curl_slist *headers, buf *resp,
              httpc_result *res)
{
    char *ctype = NULL;
    CURLcode cc;

    curl_easy_setopt(c->curl, CURLOPT_URL, url);
    curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(c->curl, CURLOPT_TIMEOUT_MS, c->timeout_ms);
    curl_easy_setopt(c->curl, CURLOPT_CONNECTTIMEOUT_MS, c->timeout_ms);
    curl_easy_setopt(c->curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c->curl, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c->curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, write_cb);
    curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, resp);

    cc = curl_easy_perform(c->curl);
    if (cc != CURLE_OK) {
        if (cc == CURLE_WRITE_ERROR)
            snprintf(res->error, sizeof(res->error), "response larger than %ld bytes",
                     HTTPC_MAX_RESPONSE);
        else
            snprintf(res->error, sizeof(res->error), "%s: %s", url,
                     curl_easy_strerror(cc));
        return -1;
    }
    curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &res->status);
    curl_easy_getinfo(c->curl, CURLINFO_CONTENT_TYPE, &ctype);
    res->body = buf_steal(resp, NULL);
    if (ctype != NULL && strcasestr(ctype, "json") != NULL && res->body[0] != '\0')
        res->json = json_loads(res->body, 0, NULL);
    return 0;
}

int
httpc_request(httpc *c, const char *method, const char *path, const json_t *body,
              httpc_result *res)
{
    struct curl_slist *headers = NULL, *h;
    char *url = NULL, *payload = NULL;
    buf resp;
    size_t url_len;
    int rc = -1;

    memset(res, 0, sizeof(*res));
    buf_init(&resp, HTTPC_MAX_RESPONSE);
    url_len = strlen(c->base_url) + strlen(path) + 2;
    url = xmalloc(url_len);
    snprintf(url, url_len, "%s%s%s", c->base_url, path[0] == '/' ? "" : "/", path);

    curl_easy_reset(c->curl);
    if (c->auth_header != NULL &&
        (h = curl_slist_append(headers, c->auth_header)) != NULL)
        headers = h;
    if ((h = curl_slist_append(headers, "Accept: application/json")) != NULL)
        headers = h;
    if ((h = curl_slist_append(headers, "Expect:")) != NULL)
        headers = h;
    if (body != NULL) {
        payload = json_dumps(body, JSON_COMPACT);
        if (payload == NULL) {
            snprintf(res->error, sizeof(res->error), "cannot encode the request body");
            goto out;
        }
        if ((h = curl_slist_append(headers, "Content-Type: application/json")) != NULL)
            headers = h;
        curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, payload);
        curl_easy_setopt(c->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(payload));
    }
    if (strcmp(method, "GET") == 0 && body == NULL)
        curl_easy_setopt(c->curl, CURLOPT_HTTPGET, 1L);
    else if (body == NULL && strcmp(method, "POST") == 0) {
        curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, "");
        if ((h = curl_slist_append(headers, "Content-Type:")) != NULL)
            headers = h;      /* no form content type on an empty POST */
    }
    if (strcmp(method, "GET") != 0 && strcmp(method, "POST") != 0)
        curl_easy_setopt(c->curl, CURLOPT_CUSTOMREQUEST, method);
    rc = httpc_perform(c, url, headers, &resp, res);
out:
    curl_slist_free_all(headers);
    /* curl may still point at payload and the header list; the next call
     * resets the handle before using it. */
    curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, NULL);
    curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, NULL);
    free(payload);
    free(url);
    buf_release(&resp);
    return rc;
}

int
httpc_post_raw(httpc *c, const char *path, const char *const *headers, size_t nheaders,
               const char *body, size_t len, httpc_result *res)
{
    struct curl_slist *list = NULL, *h;
    char *url = NULL;
    buf resp;
    size_t url_len;
    int rc = -1;

    memset(res, 0, sizeof(*res));
    for (size_t i = 0; i < nheaders; i++) {
        if (strpbrk(headers[i], "\r\n") != NULL || strchr(headers[i], ':') == NULL) {
            snprintf(res->error, sizeof(res->error), "bad request header line");
            return -1;
        }
    }
    buf_init(&resp, HTTPC_MAX_RESPONSE);
    url_len = strlen(c->base_url) + strlen(path) + 2;
    url = xmalloc(url_len);
    snprintf(url, url_len, "%s%s%s", c->base_url, path[0] == '/' ? "" : "/", path);

    curl_easy_reset(c->curl);
    if (c->auth_header != NULL &&
        (h = curl_slist_append(list, c->auth_header)) != NULL)
        list = h;
    if ((h = curl_slist_append(list, "Expect:")) != NULL)
        list = h;
    if ((h = curl_slist_append(list, "Content-Type: application/octet-stream")) != NULL)
        list = h;
    for (size_t i = 0; i < nheaders; i++) {
        if ((h = curl_slist_append(list, headers[i])) == NULL) {
            snprintf(res->error, sizeof(res->error), "out of memory for the headers");
            goto out;
        }
        list = h;
    }
    curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, len > 0 ? body : "");
    curl_easy_setopt(c->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    rc = httpc_perform(c, url, list, &resp, res);
out:
    curl_slist_free_all(list);
    curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, NULL);
    curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, NULL);
    free(url);
    buf_release(&resp);
    return rc;
}

void
httpc_result_free(httpc_result *res)
{
    if (res == NULL)
        return;
    if (res->json != NULL)
        json_decref(res->json);
    free(res->body);
    res->json = NULL;
    res->body = NULL;
}

char *
httpc_escape(const char *segment)
{
    char *e, *copy;

    if (segment == NULL)
        return NULL;
    e = curl_easy_escape(NULL, segment, (int)strlen(segment));
    if (e == NULL)
        return NULL;
    copy = xstrdup(e);
    curl_free(e);
    return copy;
}

/* Appends to the response buffer; returning less than asked aborts the
 * transfer (CURLE_WRITE_ERROR) when the response is over the cap. */
static size_t
write_cb(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    buf *b = userdata;

    if (buf_append(b, ptr, size * nmemb) < 0)
        return 0;
    return size * nmemb;
}
