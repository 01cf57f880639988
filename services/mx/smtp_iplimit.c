/*
 * smtp_iplimit.c - per-address connection counts. See smtp_iplimit.h.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include "log.h"
#include "xalloc.h"
#include "smtp_iplimit.h"

#define SMTP_IPLIMIT_IP_MAX 64

typedef struct smtp_ip_count {
    char ip[SMTP_IPLIMIT_IP_MAX];
    long n;
} smtp_ip_count;

struct smtp_iplimit {
    pthread_mutex_t lock;
    smtp_ip_count  *items;       /* owned, slots entries */
    size_t          n, slots;
    long            max_per_ip;
};

smtp_iplimit *smtp_iplimit_create(size_t slots, long max_per_ip)
{
    smtp_iplimit *t = xcalloc(1, sizeof *t);
    if (pthread_mutex_init(&t->lock, NULL) != 0)
        fatal("smtp_iplimit: mutex");
    t->items = xcalloc(slots ? slots : 1, sizeof *t->items);
    t->slots = slots;
    t->max_per_ip = max_per_ip;
    return t;
}

void smtp_iplimit_free(smtp_iplimit *t)
{
    if (t == NULL)
        return;
    pthread_mutex_destroy(&t->lock);
    free(t->items);
    free(t);
}

int smtp_iplimit_acquire(smtp_iplimit *t, const char *ip)
{
    if (strlen(ip) >= SMTP_IPLIMIT_IP_MAX)
        return -1;
    int ok = 0;
    pthread_mutex_lock(&t->lock);
    smtp_ip_count *e = NULL;
    for (size_t i = 0; i < t->n && e == NULL; i++)
        if (strcmp(t->items[i].ip, ip) == 0)
            e = &t->items[i];
    if (e == NULL && t->n < t->slots) {
        e = &t->items[t->n++];
        memcpy(e->ip, ip, strlen(ip) + 1);
        e->n = 0;
    }
    if (e != NULL && e->n < t->max_per_ip) {
        e->n++;
        ok = 1;
    }
    pthread_mutex_unlock(&t->lock);
    return ok ? 0 : -1;
}

void smtp_iplimit_release(smtp_iplimit *t, const char *ip)
{
    pthread_mutex_lock(&t->lock);
    for (size_t i = 0; i < t->n; i++) {
        if (strcmp(t->items[i].ip, ip) != 0)
            continue;
        if (--t->items[i].n <= 0)               /* swap-remove */
            t->items[i] = t->items[--t->n];
        break;
    }
    pthread_mutex_unlock(&t->lock);
}
