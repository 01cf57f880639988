/*
 * smtp_cidr.c - network lists and membership tests. See smtp_cidr.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include "xalloc.h"
#include "smtp_cidr.h"

#define SMTP_CIDR_MAX 256

typedef struct smtp_cidr {
    int           v6;
    unsigned char addr[16];
    unsigned      bits;
} smtp_cidr;

struct smtp_cidr_list {
    smtp_cidr *items;
    size_t     n;
};

static int smtp_cidr_addr(const char *s, unsigned char out[16], int *v6);
static int smtp_cidr_prefix_eq(const unsigned char *a, const unsigned char *b, unsigned bits);

/* Numeric address to bytes; v4-mapped v6 becomes v4. 0 or -1. */
static int smtp_cidr_addr(const char *s, unsigned char out[16], int *v6)
{
    if (inet_pton(AF_INET, s, out) == 1) {
        *v6 = 0;
        return 0;
    }
    if (inet_pton(AF_INET6, s, out) != 1)
        return -1;
    static const unsigned char mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
    if (memcmp(out, mapped, 12) == 0) {
        memmove(out, out + 12, 4);
        *v6 = 0;
        return 0;
    }
    *v6 = 1;
    return 0;
}

smtp_cidr_list *smtp_cidr_parse(const char *spec, char *err, size_t errlen)
{
    smtp_cidr_list *l = xcalloc(1, sizeof *l);
    l->items = xcalloc(SMTP_CIDR_MAX, sizeof *l->items);
    const char *p = spec != NULL ? spec : "";
    while (*p != '\0') {
        while (*p == ' ' || *p == ',' || *p == '\t')
            p++;
        if (*p == '\0')
            break;
        size_t len = strcspn(p, " ,\t");
        char item[80];
        if (len >= sizeof item || l->n == SMTP_CIDR_MAX) {
            snprintf(err, errlen, "network entry too long or too many entries");
            smtp_cidr_free(l);
            return NULL;
        }
        memcpy(item, p, len);
        item[len] = '\0';
        p += len;
        smtp_cidr *c = &l->items[l->n];
        char *slash = strchr(item, '/');
        if (slash != NULL)
            *slash = '\0';
        if (smtp_cidr_addr(item, c->addr, &c->v6) != 0) {
            snprintf(err, errlen, "not an IP address: \"%s\"", item);
            smtp_cidr_free(l);
            return NULL;
        }
        unsigned max = c->v6 ? 128 : 32;
        c->bits = max;
        if (slash != NULL) {
            char *end = NULL;
            unsigned long b = strtoul(slash + 1, &end, 10);
            if (slash[1] < '0' || slash[1] > '9' || *end != '\0' || b > max) {
                snprintf(err, errlen, "bad prefix length in \"%s/%s\"", item, slash + 1);
                smtp_cidr_free(l);
                return NULL;
            }
            c->bits = (unsigned)b;
        }
        l->n++;
    }
    return l;
}

void smtp_cidr_free(smtp_cidr_list *l)
{
    if (l == NULL)
        return;
    free(l->items);
    free(l);
}

static int smtp_cidr_prefix_eq(const unsigned char *a, const unsigned char *b, unsigned bits)
{
    unsigned full = bits / 8, rest = bits % 8;
    if (memcmp(a, b, full) != 0)
        return 0;
    if (rest == 0)
        return 1;
    unsigned char mask = (unsigned char)(0xff << (8 - rest));
    return (a[full] & mask) == (b[full] & mask);
}

int smtp_cidr_match(const smtp_cidr_list *l, const char *ip)
{
    unsigned char a[16];
    int v6;
    if (l == NULL || smtp_cidr_addr(ip, a, &v6) != 0)
        return 0;
    for (size_t i = 0; i < l->n; i++)
        if (l->items[i].v6 == v6 && smtp_cidr_prefix_eq(a, l->items[i].addr, l->items[i].bits))
            return 1;
    return 0;
}

int smtp_cidr_net_parse(const char *s, smtp_cidr_net *out, char *err, size_t errlen)
{
    char item[80];
    if (s == NULL || str_copy(item, sizeof item, s) != 0) {
        snprintf(err, errlen, "network too long");
        return -1;
    }
    memset(out, 0, sizeof *out);
    char *slash = strchr(item, '/');
    if (slash != NULL)
        *slash = '\0';
    if (smtp_cidr_addr(item, out->addr, &out->v6) != 0) {
        snprintf(err, errlen, "not an IP address: \"%s\"", item);
        return -1;
    }
    unsigned max = out->v6 ? 128 : 32;
    out->bits = max;
    if (slash != NULL) {
        char *end = NULL;
        unsigned long b = strtoul(slash + 1, &end, 10);
        if (slash[1] < '0' || slash[1] > '9' || *end != '\0' || b > max || end - slash > 4) {
            snprintf(err, errlen, "bad prefix length \"/%s\"", slash + 1);
            return -1;
        }
        out->bits = (unsigned)b;
    }
    unsigned nbytes = out->v6 ? 16 : 4;
    for (unsigned i = 0; i < nbytes; i++) {       /* clear the host bits */
        unsigned lo = i * 8;
        if (lo >= out->bits)
            out->addr[i] = 0;
        else if (out->bits - lo < 8)
            out->addr[i] &= (unsigned char)(0xff << (8 - (out->bits - lo)));
    }
    return 0;
}

int smtp_cidr_net_format(const smtp_cidr_net *n, char *out, size_t outlen)
{
    char a[INET6_ADDRSTRLEN];
    if (inet_ntop(n->v6 ? AF_INET6 : AF_INET, n->addr, a, sizeof a) == NULL)
        return -1;
    int k = snprintf(out, outlen, "%s/%u", a, n->bits);
    return k < 0 || (size_t)k >= outlen ? -1 : 0;
}

int smtp_cidr_net_match(const smtp_cidr_net *n, const char *ip)
{
    unsigned char a[16];
    int v6;
    if (n == NULL || smtp_cidr_addr(ip, a, &v6) != 0)
        return 0;
    return v6 == n->v6 && smtp_cidr_prefix_eq(a, n->addr, n->bits);
}
