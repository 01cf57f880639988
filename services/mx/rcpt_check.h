/*
 * rcpt_check.h - "is this recipient ours?", asked of rewrite at RCPT time:
 * GET /v1/recipients/{addr} with the admin bearer token, with a small TTL
 * cache in front so RCPT stays fast.
 *
 * Mapping (docs/architecture.md): 200 with class "foreign" -> relay denied
 * (the server turns it into accept for an authenticated submission
 * session); 200 with any other class
 * -> accept; 404 (unknown_recipient, srs_invalid) -> unknown; anything
 * else, a malformed answer or a transport error -> tempfail (451, never
 * 550). Only definite answers (accept, unknown, relay denied) are cached.
 *
 * The cache is shared by every connection thread (mutex inside); the httpc
 * client is per thread. Keys are lower-cased addresses. At most
 * max_entries are kept; when full, expired entries are dropped, and if none
 * expired the whole cache is emptied (simple and bounded).
 *
 * Ownership: rcpt_cache_create() returns a cache owned by the server,
 * freed with rcpt_cache_free() (accepts NULL). ttl_seconds 0 disables
 * caching (get always misses, put does nothing).
 */
#ifndef MAILYARD_RCPT_CHECK_H
#define MAILYARD_RCPT_CHECK_H

#include <stddef.h>
#include <time.h>
#include "httpc.h"
#include "smtp_session.h"

typedef struct rcpt_cache rcpt_cache;

rcpt_cache *rcpt_cache_create(int ttl_seconds, size_t max_entries);
void        rcpt_cache_free(rcpt_cache *c);
/* 1 and *v when a fresh entry exists, else 0. */
int         rcpt_cache_get(rcpt_cache *c, const char *addr, time_t now,
                           enum smtp_rcpt_verdict *v);
void        rcpt_cache_put(rcpt_cache *c, const char *addr, time_t now,
                           enum smtp_rcpt_verdict v);

/* Maps an HTTP answer to a verdict (pure; exposed for tests). */
enum smtp_rcpt_verdict rcpt_check_map(const httpc_result *res);
/* Asks the cache, else rewrite through http (may be NULL: tempfail). */
enum smtp_rcpt_verdict rcpt_check(httpc *http, rcpt_cache *cache, const char *addr);

#endif
