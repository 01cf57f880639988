/*
 * relay_dpol.c - per-destination-domain concurrency (slow start) and rate
 * limits (see relay_dpol.h). Owns the parsed entries and their state.
 *
 * SECURITY: the spec comes from the operator; it is still parsed with
 * limits (entry count, name length, number ranges) and rejected as a whole
 * when malformed, so the service does not start with a half policy.
 */
#include "relay_dpol.h"

#include <ctype.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"
#include "xalloc.h"

#define DPOL_NAME_MAX 254
#define DPOL_DYN_MAX  (RELAY_DPOL_MAX_ENTRIES + 10000)   /* with the "*" copies */

typedef struct dpol_entry {
    char   domain[DPOL_NAME_MAX + 1];  /* lower case, or "*" */
    int    concurrency;                /* max window */
    int    start;                      /* initial window */
    int    window;                     /* current window (slow start) */
    long   rate;                       /* transactions per period, 0 = none */
    long   period;                     /* seconds */
    double tokens;                     /* token bucket, at most rate */
    double last;                       /* monotonic time of the last refill, 0 = never */
} dpol_entry;

struct relay_dpol {
    pthread_mutex_t mu;
    dpol_entry     *e;                 /* owned array */
    size_t          n;
};

static int         dpol_parse_entry(const char *s, size_t len, int defc, dpol_entry *out,
                                    char *err, size_t errlen);
static int         dpol_parse_opt(const char *s, size_t len, dpol_entry *out);
static dpol_entry *dpol_find(relay_dpol *p, const char *domain);
static void        dpol_refill(dpol_entry *e, double now);

relay_dpol *relay_dpol_create(const char *spec, int default_concurrency, char *err,
                              size_t errlen)
{
    relay_dpol *p = xcalloc(1, sizeof(*p));
    if (pthread_mutex_init(&p->mu, NULL) != 0)
        panic("relay_dpol_create: mutex init failed");
    const char *s = spec != NULL ? spec : "";
    while (*s != '\0') {
        size_t len = strcspn(s, ";");
        const char *t = s;
        while (len > 0 && isspace((unsigned char)*t)) {
            t++;
            len--;
        }
        while (len > 0 && isspace((unsigned char)t[len - 1]))
            len--;
        if (len > 0) {
            if (p->n >= RELAY_DPOL_MAX_ENTRIES) {
                snprintf(err, errlen, "more than %d entries", RELAY_DPOL_MAX_ENTRIES);
                relay_dpol_free(p);
                return NULL;
            }
            p->e = xrealloc(p->e, (p->n + 1) * sizeof(*p->e));
            if (dpol_parse_entry(t, len, default_concurrency, &p->e[p->n], err, errlen) != 0) {
                relay_dpol_free(p);
                return NULL;
            }
            p->n++;
        }
        s += strcspn(s, ";");
        if (*s == ';')
            s++;
    }
    return p;
}

void relay_dpol_free(relay_dpol *p)
{
    if (p == NULL)
        return;
    pthread_mutex_destroy(&p->mu);
    free(p->e);
    free(p);
}

int relay_dpol_window(relay_dpol *p, const char *domain, int *limit)
{
    if (p == NULL || p->n == 0)
        return 0;
    pthread_mutex_lock(&p->mu);
    dpol_entry *e = dpol_find(p, domain);
    if (e != NULL)
        *limit = e->window;
    pthread_mutex_unlock(&p->mu);
    return e != NULL;
}

long relay_dpol_rate_take(relay_dpol *p, const char *domain, double now, char *why,
                          size_t whylen)
{
    long wait = 0;
    if (p == NULL || p->n == 0)
        return 0;
    pthread_mutex_lock(&p->mu);
    dpol_entry *e = dpol_find(p, domain);
    if (e != NULL && e->rate > 0) {
        dpol_refill(e, now);
        if (e->tokens >= 1.0) {
            e->tokens -= 1.0;
        } else {
            double secs = (1.0 - e->tokens) * (double)e->period / (double)e->rate;
            wait = (long)ceil(secs);
            if (wait < 1)
                wait = 1;
            snprintf(why, whylen, "rate limit of %s: %ld per %ld seconds "
                     "(MAILYARD_RELAY_DOMAIN_POLICY)", e->domain, e->rate, e->period);
        }
    }
    pthread_mutex_unlock(&p->mu);
    return wait;
}

void relay_dpol_feedback(relay_dpol *p, const char *domain, int delivered, int tempfail)
{
    if (p == NULL || p->n == 0)
        return;
    pthread_mutex_lock(&p->mu);
    dpol_entry *e = dpol_find(p, domain);
    if (e != NULL) {
        if (delivered > 0 && e->window < e->concurrency)
            e->window++;
        else if (delivered == 0 && tempfail > 0)
            e->window = e->window / 2 > 0 ? e->window / 2 : 1;
    }
    pthread_mutex_unlock(&p->mu);
}

json_t *relay_dpol_json(relay_dpol *p, double now)
{
    json_t *arr = json_array();
    if (p == NULL)
        return arr;
    pthread_mutex_lock(&p->mu);
    for (size_t i = 0; i < p->n; i++) {
        dpol_entry *e = &p->e[i];
        if (e->rate > 0)
            dpol_refill(e, now);
        json_t *o = json_pack("{s:s, s:i, s:i, s:i}", "domain", e->domain, "concurrency",
                              e->concurrency, "start", e->start, "window", e->window);
        if (o == NULL)
            panic("json_pack failed");
        if (e->rate > 0) {
            json_object_set_new(o, "rate", json_integer(e->rate));
            json_object_set_new(o, "per_seconds", json_integer(e->period));
            json_object_set_new(o, "tokens", json_real(floor(e->tokens * 100.0) / 100.0));
        }
        json_array_append_new(arr, o);
    }
    pthread_mutex_unlock(&p->mu);
    return arr;
}

/* "domain=opt,opt" */
static int dpol_parse_entry(const char *s, size_t len, int defc, dpol_entry *out,
                            char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    const char *eq = memchr(s, '=', len);
    size_t nl = eq != NULL ? (size_t)(eq - s) : len;
    while (nl > 0 && isspace((unsigned char)s[nl - 1]))
        nl--;
    if (eq == NULL || nl == 0 || nl > DPOL_NAME_MAX) {
        snprintf(err, errlen, "entry '%.*s': want domain=option,...", (int)(len > 80 ? 80 : len),
                 s);
        return -1;
    }
    for (size_t i = 0; i < nl; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!(isalnum(c) || c == '.' || c == '-' || c == '_' || (c == '*' && nl == 1))) {
            snprintf(err, errlen, "entry '%.*s': bad domain", (int)nl, s);
            return -1;
        }
        out->domain[i] = (char)tolower(c);
    }
    out->domain[nl] = '\0';
    out->concurrency = defc;
    out->start = 1;
    const char *o = eq + 1, *end = s + len;
    while (o < end) {
        const char *c = memchr(o, ',', (size_t)(end - o));
        size_t ol = c != NULL ? (size_t)(c - o) : (size_t)(end - o);
        while (ol > 0 && isspace((unsigned char)*o)) {
            o++;
            ol--;
        }
        while (ol > 0 && isspace((unsigned char)o[ol - 1]))
            ol--;
        if (ol > 0 && dpol_parse_opt(o, ol, out) != 0) {
            snprintf(err, errlen, "entry for %s: bad option '%.*s' (want concurrency:N, "
                     "start:N or rate:N/s|m|h|d)", out->domain, (int)(ol > 60 ? 60 : ol), o);
            return -1;
        }
        if (c == NULL)
            break;
        o = c + 1;
    }
    if (out->start > out->concurrency)
        out->start = out->concurrency;
    out->window = out->start;
    out->tokens = (double)out->rate;
    return 0;
}

static int dpol_parse_opt(const char *s, size_t len, dpol_entry *out)
{
    char buf[64];
    if (len >= sizeof(buf))
        return -1;
    memcpy(buf, s, len);
    buf[len] = '\0';
    char *colon = strchr(buf, ':');
    if (colon == NULL)
        return -1;
    *colon = '\0';
    char *v = colon + 1, *e = NULL;
    long n = strtol(v, &e, 10);
    if (e == v)
        return -1;
    if (strcasecmp(buf, "concurrency") == 0 && *e == '\0' && n >= 1 && n <= 10000) {
        out->concurrency = (int)n;
    } else if (strcasecmp(buf, "start") == 0 && *e == '\0' && n >= 1 && n <= 10000) {
        out->start = (int)n;
    } else if (strcasecmp(buf, "rate") == 0 && *e == '/' && n >= 1 && n <= 1000000 &&
               e[1] != '\0' && e[2] == '\0') {
        switch (tolower((unsigned char)e[1])) {
        case 's': out->period = 1; break;
        case 'm': out->period = 60; break;
        case 'h': out->period = 3600; break;
        case 'd': out->period = 86400; break;
        default: return -1;
        }
        out->rate = n;
    } else {
        return -1;
    }
    return 0;
}

/* The entry of domain; for a domain without one, a new entry with the
 * settings of "*" (each domain has its own window and bucket), up to
 * DPOL_DYN_MAX entries (then NULL: no policy). Under the mutex. */
static dpol_entry *dpol_find(relay_dpol *p, const char *domain)
{
    const dpol_entry *star = NULL;
    size_t dl = strlen(domain);
    for (size_t i = 0; i < p->n; i++) {
        if (strcasecmp(p->e[i].domain, domain) == 0)
            return &p->e[i];
        if (strcmp(p->e[i].domain, "*") == 0)
            star = &p->e[i];
    }
    if (star == NULL || p->n >= DPOL_DYN_MAX || dl == 0 || dl > DPOL_NAME_MAX)
        return NULL;
    dpol_entry copy = *star;
    for (size_t i = 0; i <= dl; i++)
        copy.domain[i] = (char)tolower((unsigned char)domain[i]);
    p->e = xrealloc(p->e, (p->n + 1) * sizeof(*p->e));
    p->e[p->n] = copy;
    return &p->e[p->n++];
}

static void dpol_refill(dpol_entry *e, double now)
{
    if (e->last > 0 && now > e->last) {
        e->tokens += (now - e->last) * (double)e->rate / (double)e->period;
        if (e->tokens > (double)e->rate)
            e->tokens = (double)e->rate;
    }
    e->last = now;
}
