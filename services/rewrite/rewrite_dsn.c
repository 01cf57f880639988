/*
 * rewrite_dsn.c - carries each envelope recipient's DSN parameters
 * (NOTIFY, ORCPT) onto the relay recipients it was rewritten to (see
 * rewrite_dsn.h). Pure: reads the message and the plan, builds JSON.
 */
#include "rewrite_dsn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define REWRITE_DSN_ORCPT_MAX 500

static const json_t *dsn_entry_of(const spool_message *msg, const char *root);

json_t *rewrite_dsn_params(const spool_message *msg, const rewrite_relay_group *g)
{
    json_t *arr = json_array();
    int any = 0;
    if (arr == NULL)
        abort();
    for (size_t i = 0; i < g->rcpts.n; i++) {
        const char *rcpt = g->rcpts.v[i];
        const char *root = i < g->roots.n ? g->roots.v[i] : rcpt;
        const json_t *e = dsn_entry_of(msg, root);
        json_t *o = json_is_object(e) ? json_deep_copy(e) : json_object();
        if (o == NULL)
            abort();
        if (json_object_get(o, "orcpt") == NULL && strcasecmp(root, rcpt) != 0 &&
            strlen(root) < REWRITE_DSN_ORCPT_MAX) {
            char oc[REWRITE_DSN_ORCPT_MAX + 8];
            snprintf(oc, sizeof(oc), "rfc822;%s", root);
            json_t *s = json_string(oc);
            if (s != NULL)
                json_object_set_new(o, "orcpt", s);
        }
        if (json_object_size(o) == 0) {
            json_decref(o);
            json_array_append_new(arr, json_null());
        } else {
            any = 1;
            json_array_append_new(arr, o);
        }
    }
    if (!any) {
        json_decref(arr);
        return NULL;
    }
    return arr;
}

/* The rcpt_dsn entry of the envelope recipient root, or NULL. */
static const json_t *dsn_entry_of(const spool_message *msg, const char *root)
{
    if (!json_is_array(msg->rcpt_dsn))
        return NULL;
    for (size_t i = 0; i < msg->nrcpts; i++)
        if (msg->rcpts[i] != NULL && strcasecmp(msg->rcpts[i], root) == 0)
            return json_array_get(msg->rcpt_dsn, i);
    return NULL;
}
