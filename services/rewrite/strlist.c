/*
 * strlist.c - growable list of owned strings (see strlist.h).
 */
#include <stdlib.h>
#include <string.h>

#include "strlist.h"
#include "xalloc.h"

void strlist_add(strlist *l, const char *s)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 8;
        l->v = xrealloc(l->v, cap * sizeof(*l->v));
        l->cap = cap;
    }
    l->v[l->n++] = xstrdup(s);
}

int strlist_add_unique(strlist *l, const char *s)
{
    if (strlist_find(l, s) >= 0)
        return 0;
    strlist_add(l, s);
    return 1;
}

long strlist_find(const strlist *l, const char *s)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->v[i], s) == 0)
            return (long)i;
    return -1;
}

void strlist_pop(strlist *l)
{
    if (l->n == 0)
        return;
    free(l->v[--l->n]);
}

void strlist_release(strlist *l)
{
    if (l == NULL)
        return;
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    l->v = NULL;
    l->n = l->cap = 0;
}
