/*
 * ctl_virtual.c - the Postfix virtual(5) table parser of "alias import"
 * (see ctl_virtual.h). Works on logical lines: a physical line that starts
 * with white space is appended (after one space) to the pending one.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "ctl_virtual.h"

static int virt_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v';
}

static void virt_error(json_t *errors, size_t line, const char *msg)
{
    json_array_append_new(errors, json_pack("{s:I,s:s}", "line", (json_int_t)line,
                                            "message", msg));
}

/* Splits the value into targets (commas and white space separate). */
static json_t *virt_targets(char *v, size_t line, json_t *errors)
{
    json_t *t = json_array();
    char *save = NULL;
    for (char *tok = strtok_r(v, ", \t\r\n\f\v", &save); tok != NULL;
         tok = strtok_r(NULL, ", \t\r\n\f\v", &save)) {
        if (json_array_size(t) == CTL_VIRTUAL_MAX_TARGETS) {
            virt_error(errors, line, "too many targets");
            json_decref(t);
            return NULL;
        }
        json_t *s = json_string(tok);
        if (s == NULL) {
            virt_error(errors, line, "target is not valid UTF-8");
            json_decref(t);
            return NULL;
        }
        json_array_append_new(t, s);
    }
    return t;
}

/* 1 if key (compared lower-case) was seen before: an error for this line,
 * as postmap warns about duplicates and keeps the first. */
static int virt_duplicate(json_t *seen, const char *key, size_t line, json_t *errors)
{
    char low[512], msg[64];
    size_t n = strlen(key);
    if (n >= sizeof(low))
        return 0;                    /* the API refuses such a key anyway */
    for (size_t i = 0; i <= n; i++)
        low[i] = (key[i] >= 'A' && key[i] <= 'Z') ? (char)(key[i] + 32) : key[i];
    json_t *first = json_object_get(seen, low);
    if (first != NULL) {
        snprintf(msg, sizeof(msg), "duplicate key (first on line %lld)",
                 (long long)json_integer_value(first));
        virt_error(errors, line, msg);
        return 1;
    }
    json_object_set_new(seen, low, json_integer((json_int_t)line));
    return 0;
}

/* One logical line (NUL-terminated, modified in place). */
static void virt_logical(char *l, size_t line, json_t *out, json_t *errors,
                         json_t *seen)
{
    char *key = l;
    while (*key != '\0' && !virt_blank(*key))
        key++;
    char *val = key;
    if (*val != '\0')
        *val++ = '\0';
    key = l;
    while (virt_blank(*val))
        val++;
    if (*val == '\0') {
        virt_error(errors, line, "a key without a value");
        return;
    }
    json_t *k = json_string(key);
    if (k == NULL) {
        virt_error(errors, line, "key is not valid UTF-8");
        return;
    }
    if (virt_duplicate(seen, key, line, errors)) {
        json_decref(k);
        return;
    }
    if (strchr(key, '@') == NULL) {
        if (strchr(key, '.') == NULL) {
            virt_error(errors, line, "a local part without domain is not supported");
            json_decref(k);
            return;
        }
        json_array_append_new(out, json_pack("{s:I,s:o}", "line", (json_int_t)line,
                                             "domain", k));
        return;
    }
    json_t *t = virt_targets(val, line, errors);
    if (t == NULL) {
        json_decref(k);
        return;
    }
    json_array_append_new(out, json_pack("{s:I,s:o,s:o}", "line", (json_int_t)line,
                                         "address", k, "targets", t));
}

json_t *ctl_virtual_parse(const char *text, size_t len, json_t **errors)
{
    json_t *out = json_array();
    *errors = json_array();
    if (out == NULL || *errors == NULL)
        abort();
    json_t *seen = json_object();           /* lower-case key -> first line */
    buf *cur = buf_create(CTL_VIRTUAL_MAX_LINE);
    size_t cur_line = 0, lineno = 0;
    int overflow = 0;
    const char *p = text, *end = text + len;
    while (p <= end) {
        const char *nl = p < end ? memchr(p, '\n', (size_t)(end - p)) : NULL;
        const char *stop = nl ? nl : end;
        size_t n = (size_t)(stop - p);
        int last = nl == NULL;
        lineno++;
        size_t i = 0;
        while (i < n && virt_blank(p[i]))
            i++;
        int empty = i == n, comment = i < n && p[i] == '#';
        if (!empty && !comment && i != 0 && cur_line == 0) {
            virt_error(*errors, lineno, "continuation line without a key");
        } else if (!empty && !comment) {
            if (i == 0) {                           /* a new logical line */
                if (cur_line != 0 && !overflow) {
                    virt_logical(cur->data, cur_line, out, *errors, seen);
                } else if (cur_line != 0) {
                    virt_error(*errors, cur_line, "logical line too long");
                }
                buf_reset(cur);
                overflow = 0;
                cur_line = lineno;
            } else if (buf_append(cur, " ", 1) != 0) {
                overflow = 1;
            }
            if (buf_append(cur, p + i, n - i) != 0)
                overflow = 1;
        }
        if (last)
            break;
        p = nl + 1;
    }
    if (cur_line != 0 && !overflow)
        virt_logical(cur->data, cur_line, out, *errors, seen);
    else if (cur_line != 0)
        virt_error(*errors, cur_line, "logical line too long");
    buf_free(cur);
    json_decref(seen);
    return out;
}
