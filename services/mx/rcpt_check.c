/*
 * rcpt_check.c - recipient validation through rewrite's API, with the TTL
 * cache the server owns. See rcpt_check.h.
 *
 * SECURITY: addr has been parsed by the session (addr_parse_path) and is
 * percent-encoded with httpc_escape before going into the URL. rewrite's
 * answer is trusted only as far as its status and "class" field.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include "addr.h"
#include "log.h"
#include "xalloc.h"
#include "rcpt_check.h"

typedef struct rcpt_entry {
    char                  *key;      /* owned, lower-cased address */
    enum smtp_rcpt_verdict v;
    time_t                 expires;
    struct rcpt_entry     *next;
} rcpt_entry;

#define RCPT_CACHE_BUCKETS 1024

struct rcpt_cache {
    pthread_mutex_t lock;
    int             ttl;
    size_t          max_entries, n;
    rcpt_entry     *buckets[RCPT_CACHE_BUCKETS];
};

static size_t rcpt_cache_hash(const char *s);
static void   rcpt_cache_prune(rcpt_cache *c, time_t now, int all);

rcpt_cache *rcpt_cache_create(int ttl_seconds, size_t max_entries)
{
    rcpt_cache *c = xcalloc(1, sizeof *c);
    if (pthread_mutex_init(&c->lock, NULL) != 0)
        fatal("pthread_mutex_init failed");
    c->ttl = ttl_seconds > 0 ? ttl_seconds : 0;
    c->max_entries = max_entries > 0 ? max_entries : 1;
    return c;
}

void rcpt_cache_free(rcpt_cache *c)
{
    if (c == NULL)
        return;
    rcpt_cache_prune(c, 0, 1);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

static size_t rcpt_cache_hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL;          /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return (size_t)(h % RCPT_CACHE_BUCKETS);
}

/* Drops expired entries (or all). Caller holds the lock (or owns c). */
static void rcpt_cache_prune(rcpt_cache *c, time_t now, int all)
{
    for (size_t b = 0; b < RCPT_CACHE_BUCKETS; b++) {
        rcpt_entry **pp = &c->buckets[b];
        while (*pp != NULL) {
            rcpt_entry *e = *pp;
            if (all || e->expires <= now) {
                *pp = e->next;
                free(e->key);
                free(e);
                c->n--;
            } else {
                pp = &e->next;
            }
        }
    }
}

int rcpt_cache_get(rcpt_cache *c, const char *addr, time_t now, enum smtp_rcpt_verdict *v)
{
    if (c == NULL || c->ttl == 0)
        return 0;
    char *key = addr_lower(addr);
    int found = 0;
    pthread_mutex_lock(&c->lock);
    for (rcpt_entry *e = c->buckets[rcpt_cache_hash(key)]; e != NULL; e = e->next) {
        if (strcmp(e->key, key) == 0) {
            if (e->expires > now) {
                *v = e->v;
                found = 1;
            }
            break;
        }
    }
    pthread_mutex_unlock(&c->lock);
    free(key);
    return found;
}

void rcpt_cache_put(rcpt_cache *c, const char *addr, time_t now, enum smtp_rcpt_verdict v)
{
    if (c == NULL || c->ttl == 0 || v == SMTP_RCPT_TEMPFAIL)
        return;
    char *key = addr_lower(addr);
    size_t h = rcpt_cache_hash(key);
    pthread_mutex_lock(&c->lock);
    for (rcpt_entry *e = c->buckets[h]; e != NULL; e = e->next) {
        if (strcmp(e->key, key) == 0) {
            e->v = v;
            e->expires = now + c->ttl;
            pthread_mutex_unlock(&c->lock);
            free(key);
            return;
        }
    }
    if (c->n >= c->max_entries)
        rcpt_cache_prune(c, now, 0);
    if (c->n >= c->max_entries)
        rcpt_cache_prune(c, now, 1);
    rcpt_entry *e = xcalloc(1, sizeof *e);
    e->key = key;                                  /* owned by the entry now */
    e->v = v;
    e->expires = now + c->ttl;
    e->next = c->buckets[h];
    c->buckets[h] = e;
    c->n++;
    pthread_mutex_unlock(&c->lock);
}

enum smtp_rcpt_verdict rcpt_check_map(const httpc_result *res)
{
    if (res->status == 404)
        return SMTP_RCPT_UNKNOWN;
    if (res->status != 200 || !json_is_object(res->json))
        return SMTP_RCPT_TEMPFAIL;
    const char *cls = json_string_value(json_object_get(res->json, "class"));
    if (cls == NULL || cls[0] == '\0')
        return SMTP_RCPT_TEMPFAIL;
    if (strcmp(cls, "foreign") == 0)
        return SMTP_RCPT_RELAY_DENIED;
    return SMTP_RCPT_ACCEPT;
}

enum smtp_rcpt_verdict rcpt_check(httpc *http, rcpt_cache *cache, const char *addr)
{
    enum smtp_rcpt_verdict v;
    time_t now = time(NULL);
    if (rcpt_cache_get(cache, addr, now, &v))
        return v;
    if (http == NULL)
        return SMTP_RCPT_TEMPFAIL;
    char *seg = httpc_escape(addr);
    if (seg == NULL)
        return SMTP_RCPT_TEMPFAIL;
    char path[1024];
    int n = snprintf(path, sizeof path, "/v1/recipients/%s", seg);
    free(seg);
    if (n < 0 || (size_t)n >= sizeof path)
        return SMTP_RCPT_TEMPFAIL;
    httpc_result res;
    memset(&res, 0, sizeof res);
    if (httpc_request(http, "GET", path, NULL, &res) != 0) {
        log_warn("rewrite lookup failed", "rcpt", addr, "error", res.error);
        httpc_result_free(&res);
        return SMTP_RCPT_TEMPFAIL;
    }
    v = rcpt_check_map(&res);
    if (v == SMTP_RCPT_TEMPFAIL) {
        char status[16];
        snprintf(status, sizeof status, "%ld", res.status);
        log_warn("rewrite lookup gave an unexpected answer", "rcpt", addr, "status", status);
    }
    httpc_result_free(&res);
    rcpt_cache_put(cache, addr, now, v);
    return v;
}
