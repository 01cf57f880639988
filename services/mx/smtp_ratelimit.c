/*
 * smtp_ratelimit.c - per-IP and per-user rate limits of mx in Redis, fixed
 * windows with INCR+EXPIRE in one Lua script (see smtp_ratelimit.h).
 *
 * Owns: the limits, a pool of Redis connections (jobq handles, used through
 * jobq_command; at most SMTP_RATE_POOL_IDLE kept idle, more made on
 * demand), and the "Redis is down until" time of the fail-open back-off.
 *
 * SECURITY: keys come from the peer (its address) or from AUTH (a user
 * name); they are bounded (SMTP_RATE_KEY_MAX) and sent as one binary-safe
 * argument, never interpreted. Redis replies are checked for type.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <hiredis.h>
#include "jobq.h"
#include "log.h"
#include "xalloc.h"
#include "smtp_ratelimit.h"

#define SMTP_RATE_POOL_IDLE  16
#define SMTP_RATE_TIMEOUT_MS 1000

/* KEYS[1] counter, ARGV[1] window: increment, start the window on the
 * first hit (and repair a counter that lost its time to live). */
static const char smtp_rate_script[] =
    "local n = redis.call('INCR', KEYS[1]) "
    "if n == 1 or redis.call('TTL', KEYS[1]) < 0 then "
    "redis.call('EXPIRE', KEYS[1], ARGV[1]) end "
    "return n";

static const char *const smtp_rate_what_name[SMTP_RATE_NWHAT] = {
    "connections", "messages", "recipients"
};

struct smtp_ratelimit {
    long            limit[2][SMTP_RATE_NWHAT];   /* [0] ip, [1] user; 0: off */
    long            window[SMTP_RATE_NWHAT];     /* seconds */
    long            retry_s;
    char           *url;                         /* owned */
    char           *password;                    /* owned, may be NULL; wiped */
    pthread_mutex_t lock;                        /* protects idle, nidle, down_until */
    jobq           *idle[SMTP_RATE_POOL_IDLE];   /* owned */
    size_t          nidle;
    time_t          down_until;                  /* monotonic; 0: Redis is up */
    metrics_family *m_failopen, *m_exceeded;     /* borrowed from the registry */
};

static int   smtp_ratelimit_kind(const char *kind);
static jobq *smtp_ratelimit_conn_get(smtp_ratelimit *rl);
static void  smtp_ratelimit_conn_put(smtp_ratelimit *rl, jobq *q);
static time_t smtp_ratelimit_now(void);
static long long smtp_ratelimit_incr(smtp_ratelimit *rl, const char *rkey, long window);

static time_t smtp_ratelimit_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec;
}

/* 0 for "ip", 1 for "user", -1 otherwise. */
static int smtp_ratelimit_kind(const char *kind)
{
    if (kind != NULL && strcmp(kind, "ip") == 0)
        return 0;
    if (kind != NULL && strcmp(kind, "user") == 0)
        return 1;
    return -1;
}

int smtp_ratelimit_create(const config *cfg, const char *redis_url, const char *redis_password,
                          metrics_registry *mr, smtp_ratelimit **out, char *err, size_t errlen)
{
    static const struct {
        const char *key;
        long        def;
        int         kind;                        /* -1: a window, -2: the retry */
        enum smtp_rate_what what;
    } knobs[] = {
        { "MAILYARD_MX_RATE_IP_CONNECTIONS",   300,   0, SMTP_RATE_CONNECTIONS },
        { "MAILYARD_MX_RATE_IP_MESSAGES",      3000,  0, SMTP_RATE_MESSAGES },
        { "MAILYARD_MX_RATE_IP_RECIPIENTS",    10000, 0, SMTP_RATE_RECIPIENTS },
        { "MAILYARD_MX_RATE_USER_MESSAGES",    1000,  1, SMTP_RATE_MESSAGES },
        { "MAILYARD_MX_RATE_USER_RECIPIENTS",  5000,  1, SMTP_RATE_RECIPIENTS },
        { "MAILYARD_MX_RATE_CONNECTIONS_WINDOW_SECONDS", 60,   -1, SMTP_RATE_CONNECTIONS },
        { "MAILYARD_MX_RATE_MESSAGES_WINDOW_SECONDS",    3600, -1, SMTP_RATE_MESSAGES },
        { "MAILYARD_MX_RATE_RECIPIENTS_WINDOW_SECONDS",  3600, -1, SMTP_RATE_RECIPIENTS },
        { "MAILYARD_MX_RATE_REDIS_RETRY_SECONDS",        5,    -2, SMTP_RATE_CONNECTIONS },
    };
    *out = NULL;
    smtp_ratelimit *rl = xcalloc(1, sizeof *rl);
    for (size_t i = 0; i < sizeof knobs / sizeof knobs[0]; i++) {
        long v = config_get_long(cfg, knobs[i].key, knobs[i].def);
        long min = knobs[i].kind == -1 ? 1 : 0;
        if (v < min || v > 1000000000L) {
            snprintf(err, errlen, "%s must be %ld..1000000000", knobs[i].key, min);
            free(rl);
            return -1;
        }
        if (knobs[i].kind >= 0)
            rl->limit[knobs[i].kind][knobs[i].what] = v;
        else if (knobs[i].kind == -1)
            rl->window[knobs[i].what] = v;
        else
            rl->retry_s = v;
    }
    rl->url = xstrdup(redis_url != NULL ? redis_url : "");
    rl->password = redis_password != NULL ? xstrdup(redis_password) : NULL;
    if (pthread_mutex_init(&rl->lock, NULL) != 0)
        fatal("smtp ratelimit: pthread_mutex_init failed");
    static const char *const kw_labels[] = { "kind", "what", NULL };
    rl->m_failopen = metrics_counter(mr, "mailyard_mx_ratelimit_failopen_total",
                                     "rate-limit checks allowed without counting because "
                                     "Redis did not answer (fail open)", NULL);
    rl->m_exceeded = metrics_counter(mr, "mailyard_mx_ratelimit_exceeded_total",
                                     "connections, messages and recipients refused by a "
                                     "rate limit, by kind (ip, user) and what", kw_labels);
    *out = rl;
    return 0;
}

void smtp_ratelimit_free(smtp_ratelimit *rl)
{
    if (rl == NULL)
        return;
    for (size_t i = 0; i < rl->nidle; i++)
        jobq_free(rl->idle[i]);
    if (rl->password != NULL) {
        explicit_bzero(rl->password, strlen(rl->password));
        free(rl->password);
    }
    free(rl->url);
    pthread_mutex_destroy(&rl->lock);
    free(rl);
}

long smtp_ratelimit_limit(const smtp_ratelimit *rl, const char *kind, enum smtp_rate_what what,
                          long *window_s)
{
    int k = smtp_ratelimit_kind(kind);
    if (rl == NULL || k < 0 || (unsigned)what >= SMTP_RATE_NWHAT)
        return 0;
    if (window_s != NULL)
        *window_s = rl->window[what];
    return rl->limit[k][what];
}

int smtp_ratelimit_key(const char *kind, const char *key, enum smtp_rate_what what,
                       char *out, size_t outlen)
{
    if (smtp_ratelimit_kind(kind) < 0 || (unsigned)what >= SMTP_RATE_NWHAT || key == NULL)
        return -1;
    int n = snprintf(out, outlen, "mailyard:mx:rate:%s:%s:%s",
                     smtp_rate_what_name[what], kind, key);
    return n < 0 || (size_t)n >= outlen ? -1 : 0;
}

/* A pooled connection (or a new one); NULL only for a malformed URL. */
static jobq *smtp_ratelimit_conn_get(smtp_ratelimit *rl)
{
    pthread_mutex_lock(&rl->lock);
    jobq *q = rl->nidle > 0 ? rl->idle[--rl->nidle] : NULL;
    pthread_mutex_unlock(&rl->lock);
    if (q == NULL)
        q = jobq_create(rl->url, rl->password, "mx-ratelimit");
    return q;
}

static void smtp_ratelimit_conn_put(smtp_ratelimit *rl, jobq *q)
{
    if (q == NULL)
        return;
    pthread_mutex_lock(&rl->lock);
    if (rl->nidle < SMTP_RATE_POOL_IDLE) {
        rl->idle[rl->nidle++] = q;
        q = NULL;
    }
    pthread_mutex_unlock(&rl->lock);
    jobq_free(q);                                /* the pool is full */
}

/* Runs the script. The counter's new value, or -1 when Redis did not
 * answer (or answered nonsense): the caller fails open. */
static long long smtp_ratelimit_incr(smtp_ratelimit *rl, const char *rkey, long window)
{
    pthread_mutex_lock(&rl->lock);
    int down = rl->down_until != 0 && smtp_ratelimit_now() < rl->down_until;
    pthread_mutex_unlock(&rl->lock);
    if (down)
        return -1;
    char win[24];
    snprintf(win, sizeof win, "%ld", window);
    const char *argv[] = { "EVAL", smtp_rate_script, "1", rkey, win };
    jobq *q = smtp_ratelimit_conn_get(rl);
    redisReply *r = q != NULL ? jobq_command(q, SMTP_RATE_TIMEOUT_MS, 5, argv) : NULL;
    long long n = -1;
    if (r != NULL && r->type == REDIS_REPLY_INTEGER)
        n = r->integer;
    else if (r != NULL)
        log_warn("rate limit: unexpected redis reply", "key", rkey,
                 "error", r->type == REDIS_REPLY_ERROR ? r->str : "not an integer");
    if (r != NULL)
        freeReplyObject(r);
    smtp_ratelimit_conn_put(rl, q);
    pthread_mutex_lock(&rl->lock);
    if (n < 0 && rl->retry_s > 0)
        rl->down_until = smtp_ratelimit_now() + rl->retry_s;
    else if (n >= 0)
        rl->down_until = 0;
    pthread_mutex_unlock(&rl->lock);
    return n;
}

int smtp_ratelimit_hit(smtp_ratelimit *rl, const char *kind, const char *key,
                       enum smtp_rate_what what)
{
    int k = smtp_ratelimit_kind(kind);
    if (k < 0 || (unsigned)what >= SMTP_RATE_NWHAT || key == NULL || key[0] == '\0' ||
        strlen(key) > SMTP_RATE_KEY_MAX)
        return -1;
    if (rl == NULL || rl->limit[k][what] == 0)
        return 0;
    char rkey[SMTP_RATE_KEY_MAX + 64];
    if (smtp_ratelimit_key(kind, key, what, rkey, sizeof rkey) != 0)
        return -1;
    long long n = smtp_ratelimit_incr(rl, rkey, rl->window[what]);
    if (n < 0) {
        metrics_counter_inc(rl->m_failopen);
        log_warn("rate limit not checked: redis unavailable (fail open)", "kind", kind,
                 "key", key, "what", smtp_rate_what_name[what]);
        return 0;
    }
    if (n <= rl->limit[k][what])
        return 0;
    metrics_counter_inc(rl->m_exceeded, kind, smtp_rate_what_name[what]);
    char cnt[24], lim[24];
    snprintf(cnt, sizeof cnt, "%lld", n);
    snprintf(lim, sizeof lim, "%ld", rl->limit[k][what]);
    log_info("rate limit exceeded", "kind", kind, "key", key,
             "what", smtp_rate_what_name[what], "count", cnt, "limit", lim);
    return 1;
}
