/*
 * lists_addr.c - addresses as the lists service sees them: validation and
 * lower-casing of list and member addresses, the list's -bounces and
 * -request companions, and the first mailbox of a From header.
 *
 * Pure functions (no I/O, no global state); unit-tested in
 * tests/unit/test_lists_addr.c. Input comes from API clients and from
 * message headers: every length is bounded by LISTS_ADDR_MAX.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "addr.h"
#include "xalloc.h"
#include "lists.h"

static const char *const role_suffix[] = { "", "-bounces", "-request" };

int lists_addr_normalize(const char *addr, char *out, size_t outlen)
{
    char path[LISTS_ADDR_MAX + 3];
    size_t consumed = 0;
    size_t n = strlen(addr);

    if (n == 0 || n > LISTS_ADDR_MAX)
        return -1;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)addr[i] <= ' ' || addr[i] == 0x7f)
            return -1;
    path[0] = '<';
    memcpy(path + 1, addr, n);
    path[n + 1] = '>';
    path[n + 2] = '\0';
    if (addr_parse_path(path, 0, out, outlen, &consumed) != ADDR_OK)
        return -1;
    if (consumed != n + 2)
        return -1;
    const char *at = strrchr(out, '@');
    if (at == NULL || at == out || at[1] == '\0')
        return -1;
    for (char *p = out; *p != '\0'; p++)
        *p = (char)tolower((unsigned char)*p);
    return 0;
}

int lists_addr_split(const char *addr, char *local, size_t locallen,
                     char *domain, size_t domainlen)
{
    const char *at = strrchr(addr, '@');
    if (at == NULL)
        return -1;
    size_t ll = (size_t)(at - addr);
    if (ll + 1 > locallen)
        return -1;
    memcpy(local, addr, ll);
    local[ll] = '\0';
    return str_copy(domain, domainlen, at + 1);
}

int lists_addr_role(const char *addr, char *base, size_t baselen)
{
    const char *at = strrchr(addr, '@');
    if (at != NULL) {
        size_t ll = (size_t)(at - addr);
        for (int role = LISTS_ROLE_BOUNCES; role <= LISTS_ROLE_REQUEST; role++) {
            size_t sl = strlen(role_suffix[role]);
            if (ll > sl && strncasecmp(at - sl, role_suffix[role], sl) == 0) {
                size_t keep = ll - sl;
                if (keep + strlen(at) + 1 > baselen)
                    return -1;
                memcpy(base, addr, keep);
                memcpy(base + keep, at, strlen(at) + 1);
                return role;
            }
        }
    }
    if (str_copy(base, baselen, addr) != 0)
        return -1;
    return LISTS_ROLE_POST;
}

int lists_addr_with_suffix(const char *addr, const char *suffix,
                           char *out, size_t outlen)
{
    const char *at = strrchr(addr, '@');
    if (at == NULL)
        return -1;
    size_t ll = (size_t)(at - addr), sl = strlen(suffix), dl = strlen(at);
    if (ll + sl + dl + 1 > outlen)
        return -1;
    memcpy(out, addr, ll);
    memcpy(out + ll, suffix, sl);
    memcpy(out + ll + sl, at, dl + 1);
    return 0;
}

/* Trims white space around [*s, *e) in place. */
static void trim_span(const char **s, const char **e)
{
    while (*s < *e && isspace((unsigned char)**s))
        (*s)++;
    while (*e > *s && isspace((unsigned char)(*e)[-1]))
        (*e)--;
}

/* Copies the span without comments and quotes removed as an address,
 * lower-cased; NULL when it is not one mailbox. */
static char *span_to_addr(const char *s, const char *e)
{
    char out[LISTS_ADDR_MAX + 1];
    size_t n = 0;
    int depth = 0;

    trim_span(&s, &e);
    for (const char *p = s; p < e; p++) {
        if (depth > 0) {
            if (*p == '\\' && p + 1 < e)
                p++;
            else if (*p == '(')
                depth++;
            else if (*p == ')')
                depth--;
            continue;
        }
        if (*p == '(') {
            depth++;
            continue;
        }
        if (isspace((unsigned char)*p))
            continue;
        if (n >= LISTS_ADDR_MAX)
            return NULL;
        out[n++] = (char)tolower((unsigned char)*p);
    }
    out[n] = '\0';
    char *at = strrchr(out, '@');
    if (n == 0 || at == NULL || at == out || at[1] == '\0')
        return NULL;
    return xstrdup(out);
}

char *lists_addr_from_header(const char *value)
{
    if (value == NULL)
        return NULL;
    const char *start = value;     /* start of the current mailbox */
    const char *lt = NULL;
    int quoted = 0, depth = 0;

    for (const char *p = value;; p++) {
        char ch = *p;
        if (ch == '\0' || (ch == ',' && !quoted && depth == 0)) {
            if (lt != NULL)
                return NULL;                 /* '<' without '>' */
            char *a = span_to_addr(start, p);
            if (a != NULL || ch == '\0')
                return a;
            start = p + 1;                   /* empty entry or a group name */
            continue;
        }
        if (quoted) {
            if (ch == '\\' && p[1] != '\0')
                p++;
            else if (ch == '"')
                quoted = 0;
            continue;
        }
        if (depth > 0) {
            if (ch == '\\' && p[1] != '\0')
                p++;
            else if (ch == '(')
                depth++;
            else if (ch == ')')
                depth--;
            continue;
        }
        if (ch == '"')
            quoted = 1;
        else if (ch == '(')
            depth++;
        else if (ch == ':' && lt == NULL)
            start = p + 1;                   /* "group: a@b, c@d;" */
        else if (ch == '<')
            lt = p + 1;
        else if (ch == '>' && lt != NULL)
            return span_to_addr(lt, p);
        else if (ch == ';' && lt == NULL)
            return span_to_addr(start, p);
    }
}
