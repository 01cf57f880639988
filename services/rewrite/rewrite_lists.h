/*
 * rewrite_lists.h - the client rewrite uses to ask the lists service
 * whether an address is a list: GET /v1/lists/{addr} with the admin
 * token; 200 means a list, 404 means not a list, anything else (or no
 * answer) means "unavailable" so the caller can answer 503 / retry the job
 * instead of bouncing mail.
 *
 * Answers are cached (rewrite_lcache.h). Each lookup borrows an httpc
 * handle from a small mutex-protected pool (a curl handle is not
 * thread-safe, and API handlers and workers run on many threads).
 *
 * Ownership: created and freed by the service state; url and token are
 * copied (the token is wiped on free).
 */
#ifndef MAILYARD_REWRITE_LISTS_H
#define MAILYARD_REWRITE_LISTS_H

#include <time.h>

typedef struct rewrite_lists rewrite_lists;

rewrite_lists *rewrite_lists_create(const char *base_url, const char *token,
                                    long timeout_ms, int cache_seconds);
void           rewrite_lists_free(rewrite_lists *l);
/* 1 a list, 0 not a list, -1 the lists service is unavailable. */
int            rewrite_lists_exists(rewrite_lists *l, const char *addr);

#endif
