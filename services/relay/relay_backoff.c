/*
 * relay_backoff.c - exponential retry delay, capped (see relay_backoff.h).
 */
#include "relay_backoff.h"

long relay_backoff_delay(int attempts, long base, long max)
{
    if (base < 1)
        base = 1;
    if (max < base)
        max = base;
    if (attempts < 1)
        attempts = 1;
    long d = base;
    for (int i = 1; i < attempts; i++) {
        if (d >= max / 2 + 1)
            return max;
        d *= 2;
    }
    return d < max ? d : max;
}
