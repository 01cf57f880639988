/*
 * ctl_output.c - how mailyardctl prints API answers.
 *
 * --json: the body exactly as the API sent it. Otherwise generic text, so
 * new fields in an API show up without changes here:
 *   a list answer ({"aliases":[...]}, any object whose member is an array)
 *       one line per element: key=value for scalar fields, arrays of
 *       scalars joined with ',', values with spaces quoted;
 *   an object: one "key: value" line per field;
 *   an empty or non-JSON 2xx answer to a change: "ok".
 * Owns nothing.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"

static int  scalar_print(FILE *out, const json_t *v, int quote);
static const json_t *list_array(const json_t *body);

void
ctl_print(const ctl *c, const httpc_result *res, enum ctl_show show)
{
    const json_t *arr;
    size_t i;
    json_t *v;

    if (c->json) {
        if (res->body != NULL && res->body[0] != '\0') {
            size_t n = strlen(res->body);
            fputs(res->body, stdout);
            if (res->body[n - 1] != '\n')
                putchar('\n');
        }
        return;
    }
    if (res->json == NULL) {
        if (show == CTL_SHOW_DONE || res->body == NULL || res->body[0] == '\0')
            printf("ok\n");
        else
            printf("%s\n", res->body);
        return;
    }
    switch (show) {
    case CTL_SHOW_LIST:
        arr = list_array(res->json);
        if (arr == NULL) {
            ctl_print_object(res->json);
            return;
        }
        json_array_foreach(arr, i, v)
            ctl_print_line(v);
        return;
    case CTL_SHOW_OBJECT:
    case CTL_SHOW_DONE:
        if (json_is_object(res->json))
            ctl_print_object(res->json);
        else
            ctl_print_line(res->json);
        return;
    }
}

void
ctl_print_line(const json_t *v)
{
    const char *key;
    json_t *f;
    int first = 1;

    if (!json_is_object(v)) {
        if (json_is_array(v) || json_is_object(v)) {
            char *s = json_dumps(v, JSON_COMPACT);
            printf("%s\n", s ? s : "");
            free(s);
        } else {
            scalar_print(stdout, v, 0);
            putchar('\n');
        }
        return;
    }
    json_object_foreach((json_t *)v, key, f) {
        if (json_is_object(f))
            continue;
        if (json_is_array(f)) {
            size_t i;
            json_t *e;
            int ok = 1;
            json_array_foreach(f, i, e)
                ok = ok && !json_is_object(e) && !json_is_array(e);
            if (!ok)
                continue;
            printf("%s%s=", first ? "" : "  ", key);
            json_array_foreach(f, i, e) {
                if (i > 0)
                    putchar(',');
                scalar_print(stdout, e, 1);
            }
        } else {
            printf("%s%s=", first ? "" : "  ", key);
            scalar_print(stdout, f, 1);
        }
        first = 0;
    }
    putchar('\n');
}

void
ctl_print_object(const json_t *obj)
{
    const char *key;
    json_t *f;

    json_object_foreach((json_t *)obj, key, f) {
        printf("%s: ", key);
        if (json_is_object(f) || json_is_array(f)) {
            char *s = json_dumps(f, JSON_COMPACT);
            printf("%s", s ? s : "");
            free(s);
        } else {
            scalar_print(stdout, f, 0);
        }
        putchar('\n');
    }
}

/* The array to list: the body itself, or the first array member of an
 * object ({"lists":[...]}). NULL if there is none. */
static const json_t *
list_array(const json_t *body)
{
    const char *key;
    json_t *v;

    if (json_is_array(body))
        return body;
    if (!json_is_object(body))
        return NULL;
    json_object_foreach((json_t *)body, key, v)
        if (json_is_array(v))
            return v;
    return NULL;
}

/* Strings as is (quoted with JSON escapes when quote is set and they hold
 * white space, quotes or are empty), numbers, true/false, null as "-". */
static int
scalar_print(FILE *out, const json_t *v, int quote)
{
    const char *s;

    switch (json_typeof(v)) {
    case JSON_STRING:
        s = json_string_value(v);
        if (quote && (s[0] == '\0' || strpbrk(s, " \t\r\n\"=,") != NULL)) {
            char *q = json_dumps(v, JSON_ENCODE_ANY);
            fputs(q ? q : "\"\"", out);
            free(q);
        } else {
            fputs(s, out);
        }
        return 0;
    case JSON_INTEGER:
        return fprintf(out, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    case JSON_REAL:
        return fprintf(out, "%g", json_real_value(v));
    case JSON_TRUE:
        return fputs("true", out);
    case JSON_FALSE:
        return fputs("false", out);
    case JSON_NULL:
        return fputs("-", out);
    default:
        return 0;
    }
}
