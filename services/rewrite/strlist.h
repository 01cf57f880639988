/*
 * strlist.h - a small growable list of owned C strings for the rewrite
 * service (recipient sets, alias targets, visited sets).
 *
 * The list is embedded by value (STRLIST_INIT) and owns every string in it;
 * strlist_release() frees them all. Lookups are linear: the lists here are
 * bounded by the rewrite limits (targets per expansion), not by a peer.
 * Allocation failure aborts (internal bookkeeping, STYLE.md rule 3).
 */
#ifndef MAILYARD_REWRITE_STRLIST_H
#define MAILYARD_REWRITE_STRLIST_H

#include <stddef.h>

typedef struct strlist {
    char  **v;     /* owned array of owned strings */
    size_t  n;
    size_t  cap;
} strlist;

#define STRLIST_INIT { NULL, 0, 0 }

/* Appends a copy of s. */
void strlist_add(strlist *l, const char *s);
/* Appends a copy of s unless an equal string is present; 1 if added. */
int  strlist_add_unique(strlist *l, const char *s);
/* Index of s (exact compare) or -1. */
long strlist_find(const strlist *l, const char *s);
/* Removes the last element (no-op when empty). */
void strlist_pop(strlist *l);
void strlist_release(strlist *l);

#endif
