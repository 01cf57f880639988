/*
 * relay_dkim_store.c - relay.dkim_keys (sql/004_dkim_keys.sql): inserting
 * keys, and the per-process cache of the active keys used for signing.
 *
 * The cache is an immutable, reference-counted snapshot of every active
 * key. relay_dkim_snapshot_get() asks the table for a cheap version
 * (count, highest id, number retired) at most every STORE_RECHECK_MS (one
 * query per message was a tenth of the relay's statements); when it
 * differs from the snapshot's, the active keys are loaded anew and swapped
 * in under the mutex. This process's key API calls relay_dkim_cache_touch()
 * after each change, so its own changes apply to the next message; another
 * replica's within STORE_RECHECK_MS. Readers keep their reference while
 * signing, so a swap never frees a key in use.
 *
 * The cache (relay_dkim_cache) is owned by the relay state
 * (relay_state.dkim); its mutex guards the current snapshot and every
 * snapshot's reference count. It must outlive the worker threads.
 *
 * SECURITY: the PEMs are parsed here and wiped from the query result copy;
 * they are never logged.
 */
#include "relay_dkim.h"

#include <pthread.h>
#include <stdlib.h>
#include <time.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>

#include "log.h"
#include "xalloc.h"

#define STORE_VERSION_MAX 96
#define STORE_KEYS_MAX    10000
#define STORE_RECHECK_MS  1000

struct relay_dkim_cache {
    pthread_mutex_t      mu;
    relay_dkim_snapshot *current;              /* guarded by mu; one reference */
    long long            checked_ms;           /* guarded by mu; monotonic ms of the
                                                  last version check, 0: check now */
    const relay_dkim_files *files;             /* borrowed, immutable; may be NULL */
};

struct relay_dkim_snapshot {
    relay_dkim_cache *cache;                   /* not owned */
    int               refs;                    /* guarded by cache->mu */
    char              version[STORE_VERSION_MAX];
    relay_dkim_entry *keys;                    /* owned; newest first */
    size_t            n;
};


static const char SQL_VERSION[] =
    "SELECT count(*)::text || ':' || coalesce(max(id), 0)::text || ':' || "
    "count(retired_at)::text FROM relay.dkim_keys";
static const char SQL_ACTIVE[] =
    "SELECT id, domain, selector, algorithm, private_pem FROM relay.dkim_keys "
    "WHERE state = 'active' ORDER BY created_at DESC, id DESC LIMIT 10000";
static const char SQL_INSERT[] =
    "INSERT INTO relay.dkim_keys (domain, selector, algorithm, private_pem, public_txt) "
    "VALUES (lower($1), $2, $3, $4, $5) ON CONFLICT DO NOTHING RETURNING id";

static relay_dkim_snapshot *store_load(relay_dkim_cache *cache, db_conn *c,
                                       const char *version);
static void store_snapshot_free(relay_dkim_snapshot *s);
static long long store_now_ms(void);

static long long store_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void relay_dkim_cache_touch(relay_dkim_cache *cache)
{
    pthread_mutex_lock(&cache->mu);
    cache->checked_ms = 0;
    pthread_mutex_unlock(&cache->mu);
}

relay_dkim_cache *relay_dkim_cache_create(void)
{
    relay_dkim_cache *cache = xcalloc(1, sizeof(*cache));
    if (pthread_mutex_init(&cache->mu, NULL) != 0)
        fatal("relay: cannot create the DKIM key cache mutex");
    return cache;
}

void relay_dkim_cache_free(relay_dkim_cache *cache)
{
    if (cache == NULL)
        return;
    relay_dkim_snapshot_release(cache->current);
    pthread_mutex_destroy(&cache->mu);
    free(cache);
}

void relay_dkim_cache_set_files(relay_dkim_cache *cache, const relay_dkim_files *f)
{
    cache->files = f;
}

relay_dkim_snapshot *relay_dkim_snapshot_get(relay_dkim_cache *cache, db_conn *c)
{
    long long now = store_now_ms();
    relay_dkim_snapshot *fresh = NULL;
    pthread_mutex_lock(&cache->mu);
    if (cache->current != NULL && cache->checked_ms != 0 &&
        now - cache->checked_ms < STORE_RECHECK_MS) {
        fresh = cache->current;
        fresh->refs++;
    }
    pthread_mutex_unlock(&cache->mu);
    if (fresh != NULL)
        return fresh;

    PGresult *r = db_queryv(c, SQL_VERSION, 0, NULL);
    if (r == NULL || PQntuples(r) != 1) {
        log_error("dkim key version query failed", "error", db_conn_error(c));
        if (r != NULL)
            PQclear(r);
        return NULL;
    }
    char version[STORE_VERSION_MAX];
    (void)str_copy(version, sizeof(version), PQgetvalue(r, 0, 0));
    PQclear(r);

    relay_dkim_snapshot *s = NULL;
    pthread_mutex_lock(&cache->mu);
    if (cache->current != NULL && strcmp(cache->current->version, version) == 0) {
        s = cache->current;
        s->refs++;
        cache->checked_ms = now;
    }
    pthread_mutex_unlock(&cache->mu);
    if (s != NULL)
        return s;

    s = store_load(cache, c, version);
    if (s == NULL)
        return NULL;
    pthread_mutex_lock(&cache->mu);
    relay_dkim_snapshot *old = cache->current;
    cache->current = s;
    cache->checked_ms = now;
    s->refs += 2;                  /* the cache's and the caller's */
    int free_old = old != NULL && --old->refs == 0;
    pthread_mutex_unlock(&cache->mu);
    if (free_old)
        store_snapshot_free(old);
    log_info("dkim keys loaded", "version", version);
    return s;
}

void relay_dkim_snapshot_release(relay_dkim_snapshot *s)
{
    if (s == NULL)
        return;
    pthread_mutex_lock(&s->cache->mu);
    int last = --s->refs == 0;
    pthread_mutex_unlock(&s->cache->mu);
    if (last)
        store_snapshot_free(s);
}

const relay_dkim_entry *relay_dkim_snapshot_find(const relay_dkim_snapshot *s,
                                                 const char *domain, enum dkim_algo algo)
{
    for (size_t i = 0; s != NULL && i < s->n; i++)
        if (s->keys[i].algo == algo && strcasecmp(s->keys[i].domain, domain) == 0)
            return &s->keys[i];
    return s != NULL ? relay_dkim_files_find(s->cache->files, domain, algo) : NULL;
}

int relay_dkim_store_insert(db_conn *c, const char *domain, const char *selector,
                            const char *algorithm, const char *pem, const char *txt,
                            long long *id)
{
    PGresult *r = db_queryv(c, SQL_INSERT, 5, domain, selector, algorithm, pem, txt);
    if (r == NULL) {
        log_error("dkim key insert failed", "error", db_conn_error(c));
        return -1;
    }
    int n = PQntuples(r);
    if (n == 1)
        *id = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    return n == 1 ? 0 : 1;
}

/* Loads every active key; keys that do not parse are skipped (logged by id). */
static relay_dkim_snapshot *store_load(relay_dkim_cache *cache, db_conn *c,
                                       const char *version)
{
    PGresult *r = db_queryv(c, SQL_ACTIVE, 0, NULL);
    if (r == NULL) {
        log_error("dkim key load failed", "error", db_conn_error(c));
        return NULL;
    }
    relay_dkim_snapshot *s = xcalloc(1, sizeof(*s));
    s->cache = cache;
    (void)str_copy(s->version, sizeof(s->version), version);
    size_t rows = (size_t)PQntuples(r);
    s->keys = xcalloc(rows + 1, sizeof(*s->keys));
    for (size_t i = 0; i < rows && i < STORE_KEYS_MAX; i++) {
        relay_dkim_entry *e = &s->keys[s->n];
        char err[160];
        char *pem = PQgetvalue(r, (int)i, 4);
        size_t pl = (size_t)PQgetlength(r, (int)i, 4);
        e->key = dkim_key_load_pem(pem, pl, err, sizeof(err));
        OPENSSL_cleanse(pem, pl);
        if (e->key == NULL) {
            log_error("unusable dkim key skipped", "key_id", PQgetvalue(r, (int)i, 0),
                      "error", err);
            continue;
        }
        e->id = strtoll(PQgetvalue(r, (int)i, 0), NULL, 10);
        if (str_copy(e->domain, sizeof(e->domain), PQgetvalue(r, (int)i, 1)) != 0 ||
            str_copy(e->selector, sizeof(e->selector), PQgetvalue(r, (int)i, 2)) != 0) {
            dkim_key_free(e->key);
            e->key = NULL;
            continue;
        }
        e->algo = dkim_key_algo(e->key);
        s->n++;
    }
    PQclear(r);
    return s;
}

static void store_snapshot_free(relay_dkim_snapshot *s)
{
    if (s == NULL)
        return;
    for (size_t i = 0; i < s->n; i++)
        dkim_key_free(s->keys[i].key);
    free(s->keys);
    free(s);
}
