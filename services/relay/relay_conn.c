/*
 * relay_conn.c - the shared idle-session cache and per-destination
 * concurrency limit of the relay's worker threads (see relay_conn.h).
 * Owns the idle sessions and the destination counters.
 */
#include "relay_conn.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "log.h"
#include "xalloc.h"

typedef struct conn_idle {
    struct conn_idle   *next;
    char                key[RELAY_CONN_KEY_MAX];
    relay_smtp_session *s;          /* owned */
    time_t              expires;    /* CLOCK_MONOTONIC seconds */
} conn_idle;

typedef struct conn_dest {
    struct conn_dest *next;
    char             *name;         /* owned */
    int               active;
} conn_dest;

struct relay_conn_pool {
    pthread_mutex_t mu;
    pthread_cond_t  cv;             /* a destination slot was released */
    long            idle_s;
    int             dest_limit;
    conn_idle      *idle;           /* most recently put first */
    size_t          nidle;
    conn_dest      *dests;          /* only destinations with active > 0 */
    unsigned long   reused;
};

static time_t conn_now(void);
static void   conn_expire_locked(relay_conn_pool *p, relay_smtp_session **out, size_t *nout,
                                 size_t max);

relay_conn_pool *relay_conn_pool_create(long idle_s, int dest_limit)
{
    relay_conn_pool *p = xcalloc(1, sizeof(*p));
    pthread_condattr_t ca;

    if (pthread_mutex_init(&p->mu, NULL) != 0 || pthread_condattr_init(&ca) != 0 ||
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) != 0 ||
        pthread_cond_init(&p->cv, &ca) != 0)
        panic("relay_conn_pool_create: pthread init failed");
    pthread_condattr_destroy(&ca);
    p->idle_s = idle_s < 0 ? 0 : idle_s;
    p->dest_limit = dest_limit < 1 ? 1 : dest_limit;
    return p;
}

void relay_conn_pool_free(relay_conn_pool *p)
{
    if (p == NULL)
        return;
    for (conn_idle *i = p->idle, *next; i != NULL; i = next) {
        next = i->next;
        relay_smtp_close(i->s);
        free(i);
    }
    for (conn_dest *d = p->dests, *next; d != NULL; d = next) {
        next = d->next;
        free(d->name);
        free(d);
    }
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
    free(p);
}

relay_smtp_session *relay_conn_take(relay_conn_pool *p, const char *key)
{
    relay_smtp_session *expired[16], *found = NULL;
    size_t nexp = 0;

    pthread_mutex_lock(&p->mu);
    conn_expire_locked(p, expired, &nexp, sizeof(expired) / sizeof(expired[0]));
    for (conn_idle **pp = &p->idle; *pp != NULL; pp = &(*pp)->next) {
        if (strcmp((*pp)->key, key) == 0) {
            conn_idle *i = *pp;
            *pp = i->next;
            p->nidle--;
            found = i->s;
            free(i);
            break;
        }
    }
    pthread_mutex_unlock(&p->mu);
    for (size_t k = 0; k < nexp; k++)     /* QUIT outside the lock */
        relay_smtp_close(expired[k]);
    return found;
}

void relay_conn_put(relay_conn_pool *p, const char *key, relay_smtp_session *s)
{
    relay_smtp_session *expired[17];
    size_t nexp = 0;

    if (s == NULL)
        return;
    if (p->idle_s == 0 || !relay_smtp_reusable(s) || strlen(key) >= RELAY_CONN_KEY_MAX) {
        relay_smtp_close(s);
        return;
    }
    conn_idle *n = xcalloc(1, sizeof(*n));
    memcpy(n->key, key, strlen(key) + 1);
    n->s = s;
    n->expires = conn_now() + p->idle_s;
    pthread_mutex_lock(&p->mu);
    conn_expire_locked(p, expired, &nexp, 16);
    n->next = p->idle;
    p->idle = n;
    p->nidle++;
    if (p->nidle > RELAY_CONN_IDLE_MAX) {   /* drop the oldest (the tail) */
        conn_idle **pp = &p->idle;
        while ((*pp)->next != NULL)
            pp = &(*pp)->next;
        expired[nexp++] = (*pp)->s;
        free(*pp);
        *pp = NULL;
        p->nidle--;
    }
    pthread_mutex_unlock(&p->mu);
    for (size_t k = 0; k < nexp; k++)
        relay_smtp_close(expired[k]);
}

int relay_conn_dest_acquire(relay_conn_pool *p, const char *dest, int timeout_s)
{
    return relay_conn_dest_acquire_n(p, dest, 0, timeout_s);
}

int relay_conn_dest_acquire_n(relay_conn_pool *p, const char *dest, int limit, int timeout_s)
{
    struct timespec until;
    int rc = 0;

    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += timeout_s > 0 ? timeout_s : 1;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        conn_dest *d = p->dests;
        while (d != NULL && strcasecmp(d->name, dest) != 0)
            d = d->next;
        if (d == NULL) {
            d = xcalloc(1, sizeof(*d));
            d->name = xstrdup(dest);
            d->next = p->dests;
            p->dests = d;
        }
        if (d->active < (limit > 0 ? limit : p->dest_limit)) {
            d->active++;
            break;
        }
        int w = pthread_cond_timedwait(&p->cv, &p->mu, &until);
        if (w == ETIMEDOUT) {
            rc = -1;
            break;
        }
    }
    pthread_mutex_unlock(&p->mu);
    return rc;
}

void relay_conn_dest_release(relay_conn_pool *p, const char *dest)
{
    pthread_mutex_lock(&p->mu);
    for (conn_dest **pp = &p->dests; *pp != NULL; pp = &(*pp)->next) {
        conn_dest *d = *pp;
        if (strcasecmp(d->name, dest) != 0)
            continue;
        if (--d->active <= 0) {
            *pp = d->next;
            free(d->name);
            free(d);
        }
        break;
    }
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

void relay_conn_stats(relay_conn_pool *p, unsigned long *idle_now, unsigned long *reused)
{
    pthread_mutex_lock(&p->mu);
    *idle_now = p->nidle;
    *reused = p->reused;
    pthread_mutex_unlock(&p->mu);
}

void relay_conn_count_reuse(relay_conn_pool *p)
{
    pthread_mutex_lock(&p->mu);
    p->reused++;
    pthread_mutex_unlock(&p->mu);
}

/* Unlinks up to max expired sessions into out (closed by the caller after
 * unlocking, since QUIT waits for the server). */
static void conn_expire_locked(relay_conn_pool *p, relay_smtp_session **out, size_t *nout,
                               size_t max)
{
    time_t now = conn_now();
    for (conn_idle **pp = &p->idle; *pp != NULL && *nout < max;) {
        conn_idle *i = *pp;
        if (i->expires <= now) {
            *pp = i->next;
            out[(*nout)++] = i->s;
            free(i);
            p->nidle--;
        } else {
            pp = &i->next;
        }
    }
}

static time_t conn_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec;
}
