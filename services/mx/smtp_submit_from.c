/*
 * smtp_submit_from.c - the mailboxes of a From: field value for the
 * submission From: check (smtp_submit_from_parse, see smtp_submit.h).
 * Pure: no I/O, no allocation beyond addr_lower's copy.
 *
 * SECURITY: the value comes from the authenticated client's message. At
 * most max addresses of at most SMTP_PATH_MAX octets each; each must be a
 * valid mailbox by addr_parse_path (no quoted local parts outside <...>,
 * no source routes); anything else makes the whole value a syntax error,
 * which the caller refuses. Display names, comments and groups are
 * skipped (RFC 5322 §3.4).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "addr.h"
#include "xalloc.h"
#include "smtp_submit.h"

static int smtp_submit_mailbox_end(char *item, size_t len, int bad,
                                   char out[][SMTP_PATH_MAX + 1], int *n, int max);

/* One mailbox of a From: value is complete: validate, lower-case, store.
 * 0, or -1 on a bad mailbox or too many. An empty item (empty group) is
 * skipped. */
static int smtp_submit_mailbox_end(char *item, size_t len, int bad,
                                   char out[][SMTP_PATH_MAX + 1], int *n, int max)
{
    while (len > 0 && (item[len - 1] == ' ' || item[len - 1] == '\t'))
        len--;
    size_t start = 0;
    while (start < len && (item[start] == ' ' || item[start] == '\t'))
        start++;
    if (bad)
        return -1;
    if (start == len)
        return 0;
    if (*n >= max)
        return -1;
    char path[SMTP_PATH_MAX + 4], addr[SMTP_PATH_MAX + 1];
    size_t used;
    int k = snprintf(path, sizeof path, "<%.*s>", (int)(len - start), item + start);
    if (k < 0 || (size_t)k >= sizeof path ||
        addr_parse_path(path, 0, addr, sizeof addr, &used) != ADDR_OK || used != (size_t)k ||
        addr_domain(addr) == NULL)
        return -1;
    char *low = addr_lower(addr);
    int rc = str_copy(out[*n], SMTP_PATH_MAX + 1, low);
    free(low);
    if (rc != 0)
        return -1;
    (*n)++;
    return 0;
}

int smtp_submit_from_parse(const char *value, char out[][SMTP_PATH_MAX + 1], int max)
{
    char item[SMTP_PATH_MAX + 1];
    size_t il = 0;
    int n = 0, depth = 0, quoted = 0, angle = 0, bad = 0, in_group = 0;
    for (const char *p = value;; p++) {
        char ch = *p;
        if (ch == '\0') {
            if (quoted || depth > 0 || angle == 1 ||
                smtp_submit_mailbox_end(item, il, bad, out, &n, max) != 0)
                return -1;
            return n;
        }
        if (quoted) {                       /* display name text: dropped */
            if (ch == '\\' && p[1] != '\0')
                p++;
            else if (ch == '"')
                quoted = 0;
            continue;
        }
        if (depth > 0) {                    /* comment */
            if (ch == '\\' && p[1] != '\0')
                p++;
            else if (ch == '(')
                depth++;
            else if (ch == ')')
                depth--;
            continue;
        }
        if (ch == '(') { depth = 1; continue; }
        if (ch == '"' && angle != 1) {      /* quoted local parts are refused below */
            quoted = 1;
            if (il > 0)
                bad = 1;                    /* "x"@y outside <>: not supported */
            continue;
        }
        if (angle == 1) {
            if (ch == '>')
                angle = 2;
            else if (il < SMTP_PATH_MAX)
                item[il++] = ch;
            else
                bad = 1;
            continue;
        }
        if (ch == '<') {
            if (angle == 2)
                return -1;                  /* two angle addresses in one mailbox */
            angle = 1;
            il = 0;
            bad = 0;                        /* what came before was a display name */
            continue;
        }
        if (ch == ':' && !in_group && angle == 0) {   /* group "name:" */
            in_group = 1;
            il = 0;
            bad = 0;
            continue;
        }
        if (ch == ',' || ch == ';') {
            if (ch == ';') {
                if (!in_group)
                    return -1;
                in_group = 0;
            }
            if (smtp_submit_mailbox_end(item, il, bad, out, &n, max) != 0)
                return -1;
            il = 0;
            angle = 0;
            bad = 0;
            continue;
        }
        if (angle == 2) {                   /* only blanks after <addr> */
            if (ch != ' ' && ch != '\t')
                return -1;
            continue;
        }
        if (il < SMTP_PATH_MAX)
            item[il++] = ch;                /* addr-spec or display-name words */
        else
            bad = 1;
    }
}
