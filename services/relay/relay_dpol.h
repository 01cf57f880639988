/*
 * relay_dpol.h - per-destination-domain delivery policies
 * (MAILYARD_RELAY_DOMAIN_POLICY): a concurrency limit reached by slow
 * start, and a rate limit.
 *
 *   MAILYARD_RELAY_DOMAIN_POLICY="gmail.com=concurrency:10,rate:600/h;example.net=concurrency:2"
 *
 * Entries are separated by ';', a domain (exact, case-insensitive, or "*"
 * for every domain without an entry of its own) then '=' and options
 * separated by ',':
 *   concurrency:N   at most N simultaneous deliveries (1..10000; default
 *                   MAILYARD_RELAY_DEST_CONCURRENCY)
 *   start:N         the initial window of slow start (default 1)
 *   rate:N/U        at most N transactions per U (s, m, h, d; N 1..1000000),
 *                   a token bucket holding at most N
 * Slow start: the window starts at `start`, grows by one per transaction
 * that delivered a recipient, up to `concurrency`, and halves (at least 1)
 * when a transaction delivered nothing and got a temporary failure (a
 * connection failure, a 4xx). Over the rate, a transaction is not tried:
 * the caller leaves its recipients waiting for the returned number of
 * seconds, with a reason.
 *
 * State is per process and in memory (N relay replicas: N times the
 * limits), guarded by one mutex; threads share one relay_dpol.
 * Ownership: relay_dpol_create copies what it needs from spec; the caller
 * frees with relay_dpol_free (NULL ok).
 */
#ifndef MAILYARD_RELAY_DPOL_H
#define MAILYARD_RELAY_DPOL_H

#include <stddef.h>
#include <jansson.h>

#define RELAY_DPOL_MAX_ENTRIES 1000

typedef struct relay_dpol relay_dpol;

/* Parses spec ("" = no policies: returns an empty policy set). NULL with
 * err filled on a syntax error. */
relay_dpol *relay_dpol_create(const char *spec, int default_concurrency, char *err,
                              size_t errlen);
void        relay_dpol_free(relay_dpol *p);
/* 1 and the current window in *limit when domain has a policy, else 0. */
int         relay_dpol_window(relay_dpol *p, const char *domain, int *limit);
/* Takes one transaction from domain's rate. 0 = go ahead; else the
 * seconds to wait (>= 1) and why filled ("rate limit of gmail.com:
 * 600/3600s"). now: monotonic seconds. */
long        relay_dpol_rate_take(relay_dpol *p, const char *domain, double now, char *why,
                                 size_t whylen);
/* Feedback of one transaction: delivered > 0 grows the window, else
 * tempfail halves it. */
void        relay_dpol_feedback(relay_dpol *p, const char *domain, int delivered, int tempfail);
/* [{"domain","concurrency","start","window","rate","per_seconds","tokens"}],
 * new reference. */
json_t     *relay_dpol_json(relay_dpol *p, double now);

#endif
