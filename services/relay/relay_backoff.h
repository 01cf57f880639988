/*
 * relay_backoff.h - the relay's retry schedule (pure arithmetic).
 *
 * After the n-th failed attempt (n >= 1) the next attempt is
 * min(base * 2^(n-1), max) seconds later: 300, 600, 1200, 2400, 4200, 4200,
 * ... with the defaults (MAILYARD_RELAY_RETRY_BASE_SECONDS=300,
 * MAILYARD_RELAY_RETRY_MAX_SECONDS=4200). Never overflows; never negative.
 */
#ifndef MAILYARD_RELAY_BACKOFF_H
#define MAILYARD_RELAY_BACKOFF_H

long relay_backoff_delay(int attempts, long base, long max);

#endif
