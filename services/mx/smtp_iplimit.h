/*
 * smtp_iplimit.h - open connections per client address, for
 * MAILYARD_SMTP_MAX_CONN_PER_IP (the address after PROXY).
 *
 * A table of at most `slots` distinct addresses (the server passes its
 * connection limit, so it never fills), each with a count; an address
 * leaves the table when its count drops to 0. Linear search under a
 * mutex (used by the event-loop thread only, at connect and close).
 *
 * Ownership: smtp_iplimit_create() returns a table the server owns, freed
 * with smtp_iplimit_free() (accepts NULL). Thread-safe.
 */
#ifndef MAILYARD_SMTP_IPLIMIT_H
#define MAILYARD_SMTP_IPLIMIT_H

#include <stddef.h>

typedef struct smtp_iplimit smtp_iplimit;

smtp_iplimit *smtp_iplimit_create(size_t slots, long max_per_ip);
void          smtp_iplimit_free(smtp_iplimit *t);
/* Counts one more connection from ip: 0, or -1 when ip already has
 * max_per_ip (or the table is full); nothing is counted then. */
int           smtp_iplimit_acquire(smtp_iplimit *t, const char *ip);
/* Undoes one successful acquire for ip. */
void          smtp_iplimit_release(smtp_iplimit *t, const char *ip);

#endif
