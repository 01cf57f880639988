/*
 * rewrite_lcache.h - a short-lived cache of "is this address a list?"
 * answers from the lists service, so that RCPT-time lookups and alias
 * expansions do not ask lists for every recipient.
 *
 * Only definitive answers (200 = list, 404 = not a list) are cached, for
 * ttl_seconds (0 disables the cache). At most max_entries are kept; when
 * full, an expired entry or else the oldest one is replaced. Thread-safe
 * (one mutex); time is passed in so tests can drive it.
 *
 * Ownership: created and freed by the service state; keys are copied.
 */
#ifndef MAILYARD_REWRITE_LCACHE_H
#define MAILYARD_REWRITE_LCACHE_H

#include <stddef.h>
#include <time.h>

typedef struct rewrite_lcache rewrite_lcache;

rewrite_lcache *rewrite_lcache_create(size_t max_entries, int ttl_seconds);
void            rewrite_lcache_free(rewrite_lcache *c);
/* 1 a list, 0 not a list, -1 not cached (or expired). */
int             rewrite_lcache_get(rewrite_lcache *c, const char *addr, time_t now);
void            rewrite_lcache_put(rewrite_lcache *c, const char *addr,
                                   int is_list, time_t now);

#endif
