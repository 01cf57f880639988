/*
 * relay_conn.h - what the worker threads of one relay process share about
 * outgoing connections:
 *
 *  - a cache of idle SMTP/LMTP sessions, keyed by destination address and
 *    session options, so several jobs to the same host reuse one connection
 *    (RSET between transactions) while it has been idle for less than
 *    MAILYARD_RELAY_CONN_IDLE_SECONDS (0 disables reuse). Expired sessions
 *    are closed (QUIT) whenever the cache is used and at shutdown. At most
 *    RELAY_CONN_IDLE_MAX idle sessions are kept (the oldest goes first).
 *
 *  - a per-destination concurrency limit (MAILYARD_RELAY_DEST_CONCURRENCY):
 *    at most that many attempts to one destination (the recipient domain,
 *    or the next hop of a smarthost/LMTP route) run at the same time; a
 *    thread waits for a slot up to a timeout.
 *
 * Thread-safe (one mutex, one condition variable). Ownership: the pool is
 * owned by relay_state; a session taken from it belongs to the caller until
 * it is put back (relay_conn_put takes it in every case).
 */
#ifndef MAILYARD_RELAY_CONN_H
#define MAILYARD_RELAY_CONN_H

#include <stddef.h>
#include "relay_smtp.h"

#define RELAY_CONN_IDLE_MAX 256
#define RELAY_CONN_KEY_MAX  512

typedef struct relay_conn_pool relay_conn_pool;

relay_conn_pool    *relay_conn_pool_create(long idle_s, int dest_limit);
/* Closes every idle session. NULL ok. */
void                relay_conn_pool_free(relay_conn_pool *p);
/* An idle session for key (most recently used first) or NULL. */
relay_smtp_session *relay_conn_take(relay_conn_pool *p, const char *key);
/* Keeps s for reuse when it is reusable and reuse is on; else closes it. */
void                relay_conn_put(relay_conn_pool *p, const char *key, relay_smtp_session *s);
/* Waits up to timeout_s for a slot of dest. 0, or -1 on timeout. */
int                 relay_conn_dest_acquire(relay_conn_pool *p, const char *dest,
                                            int timeout_s);
/* The same with the caller's limit instead of the pool's (slow start,
 * relay_dpol.h). */
int                 relay_conn_dest_acquire_n(relay_conn_pool *p, const char *dest,
                                              int limit, int timeout_s);
void                relay_conn_dest_release(relay_conn_pool *p, const char *dest);
/* Counters for tests and metrics: sessions opened / reused so far. */
void                relay_conn_stats(relay_conn_pool *p, unsigned long *idle_now,
                                     unsigned long *reused);
void                relay_conn_count_reuse(relay_conn_pool *p);

#endif
