/*
 * smtp_ratelimit.h - rate limits of mx kept in Redis, so that every mx
 * replica counts against the same numbers.
 *
 * What is counted: connections, messages (MAIL FROM) and recipients (RCPT
 * TO), per client IP address (the proxied one behind PROXY) and messages
 * and recipients per authenticated user. Each (what, kind, key) has one
 * Redis counter "mailyard:mx:rate:<what>:<kind>:<key>", a fixed window:
 * the first hit creates it with a time to live of the window, every hit
 * increments it (one Lua script, atomic), and the hit that makes it
 * exceed the limit and every later one in the window are refused. The
 * counter disappears when the window ends and counting starts afresh.
 *
 * Redis down or slow: the check fails open (the hit is allowed), is
 * logged and counted in mailyard_mx_ratelimit_failopen_total, and Redis is
 * not asked again for MAILYARD_MX_RATE_REDIS_RETRY_SECONDS, so a dead
 * Redis costs one connection attempt per interval, not one per command.
 *
 * Configuration (0 turns a limit off):
 *   MAILYARD_MX_RATE_IP_CONNECTIONS             300 per connections window
 *   MAILYARD_MX_RATE_IP_MESSAGES               3000 per messages window
 *   MAILYARD_MX_RATE_IP_RECIPIENTS            10000 per recipients window
 *   MAILYARD_MX_RATE_USER_MESSAGES             1000 per messages window
 *   MAILYARD_MX_RATE_USER_RECIPIENTS           5000 per recipients window
 *   MAILYARD_MX_RATE_CONNECTIONS_WINDOW_SECONDS  60
 *   MAILYARD_MX_RATE_MESSAGES_WINDOW_SECONDS   3600
 *   MAILYARD_MX_RATE_RECIPIENTS_WINDOW_SECONDS 3600
 *   MAILYARD_MX_RATE_REDIS_RETRY_SECONDS          5
 *
 * Threads: smtp_ratelimit_hit() may be called from any number of threads;
 * Redis connections come from a small pool (a hiredis context is used by
 * one thread at a time).
 *
 * Ownership: smtp_ratelimit_create() gives an object freed with
 * smtp_ratelimit_free() (accepts NULL); the URL and password are copied,
 * the metrics registry is borrowed.
 */
#ifndef MAILYARD_SMTP_RATELIMIT_H
#define MAILYARD_SMTP_RATELIMIT_H

#include <stddef.h>
#include "config.h"
#include "metrics.h"

typedef struct smtp_ratelimit smtp_ratelimit;

enum smtp_rate_what {
    SMTP_RATE_CONNECTIONS = 0,
    SMTP_RATE_MESSAGES,
    SMTP_RATE_RECIPIENTS,
    SMTP_RATE_NWHAT
};

#define SMTP_RATE_KEY_MAX 320   /* longer keys (user names) are refused */

/* Reads the configuration. Returns 0 with *out set, or -1 with err filled
 * on a value out of range. */
int  smtp_ratelimit_create(const config *cfg, const char *redis_url, const char *redis_password,
                           metrics_registry *mr, smtp_ratelimit **out, char *err, size_t errlen);
void smtp_ratelimit_free(smtp_ratelimit *rl);

/* Counts one event of what for key under kind ("ip" or "user") and says
 * whether it is over the limit: 1 over (refuse), 0 allowed (under the
 * limit, limit off, or Redis unavailable: fail open). -1 for an unknown
 * kind, an empty key or one longer than SMTP_RATE_KEY_MAX. */
int  smtp_ratelimit_hit(smtp_ratelimit *rl, const char *kind, const char *key,
                        enum smtp_rate_what what);

/* The limit and the window (seconds) in force for kind/what; 0: off. */
long smtp_ratelimit_limit(const smtp_ratelimit *rl, const char *kind, enum smtp_rate_what what,
                          long *window_s);

/* The Redis key of a counter ("mailyard:mx:rate:messages:ip:192.0.2.1").
 * 0, or -1 if out is too small or kind/what unknown. Pure. */
int  smtp_ratelimit_key(const char *kind, const char *key, enum smtp_rate_what what,
                        char *out, size_t outlen);

#endif
