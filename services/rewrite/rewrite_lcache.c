/*
 * rewrite_lcache.c - the lists-lookup cache (see rewrite_lcache.h).
 * A fixed array scanned linearly under a mutex: max_entries is small
 * (a few thousand) and a scan costs far less than the HTTP call it saves.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "rewrite_lcache.h"
#include "xalloc.h"

typedef struct lcache_entry {
    char  *addr;       /* owned; NULL for a free slot */
    int    is_list;
    time_t stored;
} lcache_entry;

struct rewrite_lcache {
    pthread_mutex_t lock;
    lcache_entry   *e;       /* owned array of max entries */
    size_t          max;
    int             ttl;
};

rewrite_lcache *rewrite_lcache_create(size_t max_entries, int ttl_seconds)
{
    rewrite_lcache *c = xcalloc(1, sizeof(*c));
    if (max_entries == 0)
        max_entries = 1;
    c->e = xcalloc(max_entries, sizeof(*c->e));
    c->max = max_entries;
    c->ttl = ttl_seconds < 0 ? 0 : ttl_seconds;
    if (pthread_mutex_init(&c->lock, NULL) != 0)
        abort();
    return c;
}

void rewrite_lcache_free(rewrite_lcache *c)
{
    if (c == NULL)
        return;
    for (size_t i = 0; i < c->max; i++)
        free(c->e[i].addr);
    free(c->e);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

static int lcache_fresh(const rewrite_lcache *c, const lcache_entry *e, time_t now)
{
    return e->addr != NULL && now >= e->stored && now - e->stored < c->ttl;
}

int rewrite_lcache_get(rewrite_lcache *c, const char *addr, time_t now)
{
    int rc = -1;
    if (c->ttl == 0)
        return -1;
    pthread_mutex_lock(&c->lock);
    for (size_t i = 0; i < c->max; i++) {
        lcache_entry *e = &c->e[i];
        if (e->addr != NULL && strcmp(e->addr, addr) == 0) {
            if (lcache_fresh(c, e, now))
                rc = e->is_list;
            break;
        }
    }
    pthread_mutex_unlock(&c->lock);
    return rc;
}

void rewrite_lcache_put(rewrite_lcache *c, const char *addr, int is_list, time_t now)
{
    if (c->ttl == 0)
        return;
    pthread_mutex_lock(&c->lock);
    lcache_entry *slot = NULL, *oldest = NULL;
    for (size_t i = 0; i < c->max; i++) {
        lcache_entry *e = &c->e[i];
        if (e->addr != NULL && strcmp(e->addr, addr) == 0) {
            slot = e;
            break;
        }
        if (slot == NULL && (e->addr == NULL || !lcache_fresh(c, e, now)))
            slot = e;
        if (oldest == NULL || e->stored < oldest->stored)
            oldest = e;
    }
    if (slot == NULL)
        slot = oldest;
    if (slot->addr == NULL || strcmp(slot->addr, addr) != 0) {
        free(slot->addr);
        slot->addr = xstrdup(addr);
    }
    slot->is_list = is_list ? 1 : 0;
    slot->stored = now;
    pthread_mutex_unlock(&c->lock);
}
