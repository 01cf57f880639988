/*
 * smtp_blocks.c - the in-memory copy of mx.blocks, its reload thread and
 * the lookups of the SMTP server (see smtp_blocks.h).
 *
 * Owns: the current rule set (replaced as a whole on reload, under a
 * read-write lock), the reload thread and its stop flag.
 *
 * SECURITY: the addresses looked up come from the peer; they are bounded
 * by the SMTP parser (SMTP_PATH_MAX) and copied into fixed buffers with a
 * length check. Rule values come from our own API, which validates them
 * with smtp_blocks_value_normalize(); the reload checks them again.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "log.h"
#include "xalloc.h"
#include "smtp_cidr.h"
#include "smtp_blocks.h"

#define SMTP_BLOCKS_DB_TIMEOUT_MS 2000
#define SMTP_BLOCKS_ADDR_MAX      512

typedef struct smtp_block_rule {
    long long            id;
    enum smtp_block_kind kind;
    char                *value;       /* owned, normalised */
    char                *reason;      /* owned */
    long long            expires;     /* Unix time; 0: never */
    smtp_cidr_net        net;         /* for SMTP_BLOCK_NETWORK */
} smtp_block_rule;

typedef struct smtp_block_set {
    smtp_block_rule *rules;           /* owned */
    size_t           n;
} smtp_block_set;

struct smtp_blocks {
    db_pool         *db;              /* borrowed */
    int              refresh_s;
    pthread_rwlock_t rw;              /* protects set */
    smtp_block_set  *set;             /* owned; NULL before the first load */
    long long        version;         /* of set; -1 before the first load */
    int              failing;         /* the last reload failed (logged once) */
    pthread_t        thread;
    pthread_mutex_t  lock;            /* protects stop */
    pthread_cond_t   cond;
    int              stop;
};

static void  smtp_block_set_free(smtp_block_set *s);
static int   smtp_blocks_reload(smtp_blocks *b);
static int   smtp_blocks_load(db_conn *c, long long *version, smtp_block_set **out);
static void *smtp_blocks_main(void *arg);
static int   smtp_blocks_find(smtp_blocks *b, enum smtp_block_kind kind, const char *value,
                              smtp_block_hit *hit);
static int   smtp_blocks_lower(const char *in, char *out, size_t outlen);

static const char *const smtp_block_kind_names[] = { "address", "domain", "network" };

int smtp_blocks_kind_parse(const char *s, enum smtp_block_kind *kind)
{
    for (size_t i = 0; i < 3; i++) {
        if (s != NULL && strcmp(s, smtp_block_kind_names[i]) == 0) {
            *kind = (enum smtp_block_kind)i;
            return 0;
        }
    }
    return -1;
}

const char *smtp_blocks_kind_name(enum smtp_block_kind kind)
{
    return (unsigned)kind < 3 ? smtp_block_kind_names[kind] : "unknown";
}

/* ASCII lower case copy. 0, or -1 if it does not fit. */
static int smtp_blocks_lower(const char *in, char *out, size_t outlen)
{
    size_t n = strlen(in);
    if (n >= outlen)
        return -1;
    for (size_t i = 0; i <= n; i++)
        out[i] = in[i] >= 'A' && in[i] <= 'Z' ? (char)(in[i] - 'A' + 'a') : in[i];
    return 0;
}

/* A domain name: dot-separated labels of letters, digits, '-' and UTF-8
 * bytes, none empty, none starting or ending with '-'. */
static int smtp_blocks_domain_ok(const char *d)
{
    size_t n = strlen(d), label = 0;
    if (n == 0 || n > 253)
        return 0;
    for (size_t i = 0; i <= n; i++) {
        unsigned char ch = (unsigned char)d[i];
        if (ch == '.' || ch == '\0') {
            if (label == 0 || label > 63 || d[i - 1] == '-')
                return 0;
            label = 0;
            continue;
        }
        if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch >= 0x80 ||
              (ch == '-' && label > 0)))
            return 0;
        label++;
    }
    return 1;
}

int smtp_blocks_value_normalize(enum smtp_block_kind kind, const char *in,
                                char *out, size_t outlen, char *why, size_t whylen)
{
    if (in == NULL || in[0] == '\0') {
        snprintf(why, whylen, "the value is empty");
        return -1;
    }
    if (kind == SMTP_BLOCK_NETWORK) {
        smtp_cidr_net net;
        if (smtp_cidr_net_parse(in, &net, why, whylen) != 0)
            return -1;
        if (smtp_cidr_net_format(&net, out, outlen) != 0) {
            snprintf(why, whylen, "network too long");
            return -1;
        }
        return 0;
    }
    if (strlen(in) > SMTP_BLOCK_VALUE_MAX || smtp_blocks_lower(in, out, outlen) != 0) {
        snprintf(why, whylen, "longer than %d bytes", SMTP_BLOCK_VALUE_MAX);
        return -1;
    }
    for (const unsigned char *p = (const unsigned char *)out; *p != '\0'; p++) {
        if (*p <= ' ' || *p == 0x7f || *p == '<' || *p == '>' || *p == ',') {
            snprintf(why, whylen, "contains a space, a control character or <>,");
            return -1;
        }
    }
    if (kind == SMTP_BLOCK_DOMAIN) {
        size_t n = strlen(out);
        if (n > 1 && out[n - 1] == '.')
            out[n - 1] = '\0';                   /* "example.com." */
        if (!smtp_blocks_domain_ok(out)) {
            snprintf(why, whylen, "not a domain name");
            return -1;
        }
        return 0;
    }
    const char *at = strrchr(out, '@');
    if (at == NULL || at == out || !smtp_blocks_domain_ok(at + 1)) {
        snprintf(why, whylen, "not an address (local@domain)");
        return -1;
    }
    return 0;
}

int smtp_blocks_create(const config *cfg, db_pool *db, smtp_blocks **out,
                       char *err, size_t errlen)
{
    *out = NULL;
    long refresh = config_get_long(cfg, "MAILYARD_MX_BLOCKS_REFRESH_SECONDS", 5);
    if (refresh < 1 || refresh > 3600) {
        snprintf(err, errlen, "MAILYARD_MX_BLOCKS_REFRESH_SECONDS must be 1..3600");
        return -1;
    }
    smtp_blocks *b = xcalloc(1, sizeof *b);
    b->db = db;
    b->refresh_s = (int)refresh;
    b->version = -1;
    pthread_condattr_t ca;
    if (pthread_rwlock_init(&b->rw, NULL) != 0 || pthread_mutex_init(&b->lock, NULL) != 0 ||
        pthread_condattr_init(&ca) != 0 || pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) != 0 ||
        pthread_cond_init(&b->cond, &ca) != 0)
        fatal("smtp blocks: pthread init failed");
    pthread_condattr_destroy(&ca);
    (void)smtp_blocks_reload(b);                 /* logged; the thread retries */
    if (pthread_create(&b->thread, NULL, smtp_blocks_main, b) != 0) {
        snprintf(err, errlen, "cannot start the block rules thread");
        smtp_block_set_free(b->set);
        pthread_rwlock_destroy(&b->rw);
        pthread_cond_destroy(&b->cond);
        pthread_mutex_destroy(&b->lock);
        free(b);
        return -1;
    }
    *out = b;
    return 0;
}

void smtp_blocks_free(smtp_blocks *b)
{
    if (b == NULL)
        return;
    pthread_mutex_lock(&b->lock);
    b->stop = 1;
    pthread_cond_broadcast(&b->cond);
    pthread_mutex_unlock(&b->lock);
    pthread_join(b->thread, NULL);
    smtp_block_set_free(b->set);
    pthread_rwlock_destroy(&b->rw);
    pthread_cond_destroy(&b->cond);
    pthread_mutex_destroy(&b->lock);
    free(b);
}

static void smtp_block_set_free(smtp_block_set *s)
{
    if (s == NULL)
        return;
    for (size_t i = 0; i < s->n; i++) {
        free(s->rules[i].value);
        free(s->rules[i].reason);
    }
    free(s->rules);
    free(s);
}

static void *smtp_blocks_main(void *arg)
{
    smtp_blocks *b = arg;
    pthread_mutex_lock(&b->lock);
    while (!b->stop) {
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_sec += b->refresh_s;
        while (!b->stop && pthread_cond_timedwait(&b->cond, &b->lock, &until) != ETIMEDOUT)
            ;
        if (b->stop)
            break;
        pthread_mutex_unlock(&b->lock);
        (void)smtp_blocks_reload(b);
        pthread_mutex_lock(&b->lock);
    }
    pthread_mutex_unlock(&b->lock);
    return NULL;
}

/* Checks the version and reloads the rules if it changed. Only the reload
 * thread (and create, before it starts) calls this. 0 or -1 (logged once
 * per failure streak). */
static int smtp_blocks_reload(smtp_blocks *b)
{
    db_conn *c = db_pool_acquire(b->db, SMTP_BLOCKS_DB_TIMEOUT_MS);
    long long version = b->version;
    smtp_block_set *set = NULL;
    int rc = c != NULL ? smtp_blocks_load(c, &version, &set) : -1;
    if (rc != 0 && !b->failing)
        log_warn("block rules not reloaded; the last ones stay in force", "error",
                 c != NULL ? db_conn_error(c) : "no database connection");
    if (c != NULL)
        db_pool_release(b->db, c);
    if (rc == 0 && b->failing)
        log_info("block rules reachable again");
    b->failing = rc != 0;
    if (rc != 0 || set == NULL)
        return rc;
    pthread_rwlock_wrlock(&b->rw);
    smtp_block_set *old = b->set;
    b->set = set;
    b->version = version;
    pthread_rwlock_unlock(&b->rw);
    smtp_block_set_free(old);
    char v[24], n[24];
    snprintf(v, sizeof v, "%lld", version);
    snprintf(n, sizeof n, "%zu", set->n);
    log_info("block rules loaded", "version", v, "rules", n);
    return 0;
}

/* Reads the version; when it differs from *version, reads the rules into a
 * new set (*out) and updates *version. *out stays NULL when nothing
 * changed. 0 or -1. */
static int smtp_blocks_load(db_conn *c, long long *version, smtp_block_set **out)
{
    PGresult *r = db_query(c, "SELECT version FROM mx.blocks_version", 0, NULL, NULL, NULL);
    if (r == NULL)
        return -1;
    long long v = PQntuples(r) == 1 ? strtoll(PQgetvalue(r, 0, 0), NULL, 10) : 0;
    PQclear(r);
    if (v == *version)
        return 0;
    r = db_query(c, "SELECT id, kind, value, reason,"
                    " coalesce(extract(epoch FROM expires_at)::bigint, 0)"
                    " FROM mx.blocks WHERE expires_at IS NULL OR expires_at > now()"
                    " ORDER BY id", 0, NULL, NULL, NULL);
    if (r == NULL)
        return -1;
    smtp_block_set *s = xcalloc(1, sizeof *s);
    int rows = PQntuples(r);
    s->rules = xcalloc(rows > 0 ? (size_t)rows : 1, sizeof *s->rules);
    for (int i = 0; i < rows; i++) {
        smtp_block_rule *rule = &s->rules[s->n];
        char why[128], norm[SMTP_BLOCK_VALUE_MAX + 1];
        if (smtp_blocks_kind_parse(PQgetvalue(r, i, 1), &rule->kind) != 0 ||
            smtp_blocks_value_normalize(rule->kind, PQgetvalue(r, i, 2), norm, sizeof norm,
                                        why, sizeof why) != 0) {
            log_warn("block rule skipped: bad value", "id", PQgetvalue(r, i, 0),
                     "kind", PQgetvalue(r, i, 1));
            continue;
        }
        if (rule->kind == SMTP_BLOCK_NETWORK &&
            smtp_cidr_net_parse(norm, &rule->net, why, sizeof why) != 0)
            continue;
        rule->id = strtoll(PQgetvalue(r, i, 0), NULL, 10);
        rule->value = xstrdup(norm);
        rule->reason = xstrdup(PQgetvalue(r, i, 3));
        rule->expires = strtoll(PQgetvalue(r, i, 4), NULL, 10);
        s->n++;
    }
    PQclear(r);
    *version = v;
    *out = s;
    return 0;
}

/* The first live rule of kind whose value equals value (or, for networks,
 * contains the address value). 1 with hit filled, else 0. */
static int smtp_blocks_find(smtp_blocks *b, enum smtp_block_kind kind, const char *value,
                            smtp_block_hit *hit)
{
    if (b == NULL)
        return 0;
    long long now = (long long)time(NULL);
    int found = 0;
    pthread_rwlock_rdlock(&b->rw);
    for (size_t i = 0; b->set != NULL && i < b->set->n && !found; i++) {
        const smtp_block_rule *rule = &b->set->rules[i];
        if (rule->kind != kind || (rule->expires != 0 && rule->expires <= now))
            continue;
        found = kind == SMTP_BLOCK_NETWORK ? smtp_cidr_net_match(&rule->net, value)
                                           : strcmp(rule->value, value) == 0;
        if (found) {
            hit->id = rule->id;
            snprintf(hit->rule, sizeof hit->rule, "%s:%s", smtp_blocks_kind_name(kind),
                     rule->value);
            snprintf(hit->reason, sizeof hit->reason, "%s", rule->reason);
        }
    }
    pthread_rwlock_unlock(&b->rw);
    return found;
}

int smtp_blocks_match_client(smtp_blocks *b, const char *ip, smtp_block_hit *hit)
{
    return ip != NULL && smtp_blocks_find(b, SMTP_BLOCK_NETWORK, ip, hit);
}

int smtp_blocks_match_rcpt(smtp_blocks *b, const char *addr, smtp_block_hit *hit)
{
    char low[SMTP_BLOCKS_ADDR_MAX];
    if (addr == NULL || addr[0] == '\0' || smtp_blocks_lower(addr, low, sizeof low) != 0)
        return 0;
    return smtp_blocks_find(b, SMTP_BLOCK_ADDRESS, low, hit);
}

int smtp_blocks_match_sender(smtp_blocks *b, const char *addr, smtp_block_hit *hit)
{
    char low[SMTP_BLOCKS_ADDR_MAX];
    if (addr == NULL || addr[0] == '\0' || smtp_blocks_lower(addr, low, sizeof low) != 0)
        return 0;                                /* the null sender has no domain */
    if (smtp_blocks_find(b, SMTP_BLOCK_ADDRESS, low, hit))
        return 1;
    const char *at = strrchr(low, '@');
    for (const char *d = at != NULL ? at + 1 : NULL; d != NULL && *d != '\0';) {
        if (smtp_blocks_find(b, SMTP_BLOCK_DOMAIN, d, hit))   /* the domain, its parents */
            return 1;
        d = strchr(d, '.');
        if (d != NULL)
            d++;
    }
    return 0;
}
