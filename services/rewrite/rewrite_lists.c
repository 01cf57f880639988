/*
 * rewrite_lists.c - lists-service lookups with a cache (see
 * rewrite_lists.h).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "httpc.h"
#include "log.h"
#include "rewrite_lcache.h"
#include "rewrite_lists.h"
#include "xalloc.h"

#define LISTS_POOL_MAX   16      /* idle curl handles kept */
#define LISTS_CACHE_MAX  4096    /* cached answers */

struct rewrite_lists {
    char            *base_url;   /* owned */
    char            *token;      /* owned, wiped on free */
    long             timeout_ms;
    rewrite_lcache  *cache;      /* owned */
    pthread_mutex_t  lock;       /* protects idle */
    httpc           *idle[LISTS_POOL_MAX];
    size_t           nidle;
};

rewrite_lists *rewrite_lists_create(const char *base_url, const char *token,
                                    long timeout_ms, int cache_seconds)
{
    rewrite_lists *l = xcalloc(1, sizeof(*l));
    l->base_url = xstrdup(base_url);
    l->token = xstrdup(token ? token : "");
    l->timeout_ms = timeout_ms;
    l->cache = rewrite_lcache_create(LISTS_CACHE_MAX, cache_seconds);
    if (pthread_mutex_init(&l->lock, NULL) != 0)
        abort();
    return l;
}

void rewrite_lists_free(rewrite_lists *l)
{
    if (l == NULL)
        return;
    for (size_t i = 0; i < l->nidle; i++)
        httpc_free(l->idle[i]);
    rewrite_lcache_free(l->cache);
    free(l->base_url);
    memset(l->token, 0, strlen(l->token));
    free(l->token);
    pthread_mutex_destroy(&l->lock);
    free(l);
}

static httpc *lists_handle_take(rewrite_lists *l)
{
    httpc *h = NULL;
    pthread_mutex_lock(&l->lock);
    if (l->nidle > 0)
        h = l->idle[--l->nidle];
    pthread_mutex_unlock(&l->lock);
    if (h == NULL)
        h = httpc_create(l->base_url, l->token, l->timeout_ms);
    return h;
}

static void lists_handle_give(rewrite_lists *l, httpc *h)
{
    pthread_mutex_lock(&l->lock);
    if (l->nidle < LISTS_POOL_MAX) {
        l->idle[l->nidle++] = h;
        h = NULL;
    }
    pthread_mutex_unlock(&l->lock);
    httpc_free(h);
}

int rewrite_lists_exists(rewrite_lists *l, const char *addr)
{
    time_t now = time(NULL);
    int cached = rewrite_lcache_get(l->cache, addr, now);
    if (cached >= 0)
        return cached;

    httpc *h = lists_handle_take(l);
    if (h == NULL) {
        log_error("lists client unavailable", "rcpt", addr);
        return -1;
    }
    char *esc = httpc_escape(addr);
    char path[1024];
    int n = esc ? snprintf(path, sizeof(path), "/v1/lists/%s", esc) : -1;
    free(esc);
    if (n < 0 || (size_t)n >= sizeof(path)) {
        lists_handle_give(l, h);
        return -1;
    }
    httpc_result res;
    memset(&res, 0, sizeof(res));
    int rc = httpc_request(h, "GET", path, NULL, &res);
    int answer = -1;
    if (rc != 0) {
        log_warn("lists service unreachable", "rcpt", addr, "error", res.error);
    } else if (res.status == 200) {
        answer = 1;
    } else if (res.status == 404) {
        answer = 0;
    } else {
        char st[16];
        snprintf(st, sizeof(st), "%ld", res.status);
        log_warn("lists service answered unexpectedly", "rcpt", addr, "status", st);
    }
    httpc_result_free(&res);
    lists_handle_give(l, h);
    if (answer >= 0)
        rewrite_lcache_put(l->cache, addr, answer, now);
    return answer;
}
