/*
 * rewrite_verp.c - bounces to VERP addresses of lists, matched to the list
 * copy and the member (see rewrite_verp.h). Writes trace events in the
 * job's transaction; owns nothing beyond the call.
 */
#include "rewrite_verp.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"
#include "rewrite_bounce.h"

#define VERP_SUFFIX "-bounces"
#define VERP_ADDR_MAX REWRITE_VERP_ADDR_MAX

static int verp_record(worker_job_ctx *ctx, const spool_message *msg, const char *mid,
                       const char *member, const char *bounces);

int rewrite_verp_decode(const char *addr, const char delims[2], char *member, size_t mlen,
                        char *bounces, size_t blen)
{
    const char *at = strrchr(addr, '@');
    size_t sl = strlen(VERP_SUFFIX);
    if (at == NULL || at[1] == '\0' || strlen(addr) > VERP_ADDR_MAX)
        return -1;
    /* "-bounces" then the first delimiter, the last such in the local part */
    const char *mark = NULL;
    for (const char *p = addr; p + sl < at; p++)
        if (strncasecmp(p, VERP_SUFFIX, sl) == 0 && p[sl] == delims[0])
            mark = p;
    if (mark == NULL || mark == addr)
        return -1;
    const char *enc = mark + sl + 1;             /* "m=d" up to at */
    const char *eq = NULL;
    for (const char *p = enc; p < at; p++)
        if (*p == delims[1])
            eq = p;
    if (eq == NULL || eq == enc || eq + 1 == at)
        return -1;
    int n = snprintf(member, mlen, "%.*s@%.*s", (int)(eq - enc), enc, (int)(at - eq - 1),
                     eq + 1);
    if (n < 0 || (size_t)n >= mlen)
        return -1;
    n = snprintf(bounces, blen, "%.*s%s", (int)(mark + sl - addr), addr, at);
    return n > 0 && (size_t)n < blen ? 0 : -1;
}

int rewrite_verp_member_for(const rewrite_plan *p, const char *list, const char delims[2],
                            char *member, size_t mlen)
{
    size_t i;
    json_t *e;
    char bounces[VERP_ADDR_MAX + 1];
    json_array_foreach(p->events, i, e) {
        json_t *d = json_object_get(e, "detail");
        const char *ev = json_string_value(json_object_get(e, "event"));
        const char *l = json_string_value(json_object_get(d, "list"));
        const char *via = json_string_value(json_object_get(d, "via"));
        if (ev == NULL || strcmp(ev, "to_list") != 0 || l == NULL || via == NULL ||
            strcasecmp(l, list) != 0)
            continue;
        if (rewrite_verp_decode(via, delims, member, mlen, bounces, sizeof(bounces)) == 0)
            return 0;
    }
    return -1;
}

int rewrite_verp_match(worker_job_ctx *ctx, const spool_message *msg, const rewrite_plan *p,
                       const char delims[2])
{
    size_t i;
    json_t *e;
    char *mid = NULL;
    int rc = 0, searched = 0;
    json_array_foreach(p->events, i, e) {
        if (strcmp(json_string_value(json_object_get(e, "event")), "to_list") != 0)
            continue;
        const char *via = json_string_value(json_object_get(json_object_get(e, "detail"),
                                                            "via"));
        char member[VERP_ADDR_MAX + 1], bounces[VERP_ADDR_MAX + 1];
        if (via == NULL || rewrite_verp_decode(via, delims, member, sizeof(member), bounces,
                                               sizeof(bounces)) != 0)
            continue;
        if (!searched) {
            searched = 1;
            mid = rewrite_bounce_message_id(msg->raw, msg->raw_len);
        }
        if (verp_record(ctx, msg, mid, member, bounces) != 0) {
            rc = -1;
            break;
        }
    }
    free(mid);
    return rc;
}

static int verp_record(worker_job_ctx *ctx, const spool_message *msg, const char *mid,
                       const char *member, const char *bounces)
{
    json_t *d = json_pack("{s:s, s:s}", "member", member, "list_bounces", bounces);
    if (d == NULL)
        return 0;              /* not UTF-8: nothing to record */
    int rc = spool_event(ctx->db, msg->id, ctx->job->id, "rewrite", "verp_bounce", d);
    json_decref(d);
    if (rc != 0 || mid == NULL)
        return rc;
    int64_t oid = 0;
    int found = spool_message_find_by_message_id(ctx->db, mid, bounces, msg->id, &oid);
    if (found <= 0)
        return found < 0 ? -1 : 0;
    json_t *det = json_pack("{s:s, s:s, s:s, s:s, s:b}", "bounce_queue_id", msg->queue_id,
                            "verp_rcpt", member, "list_bounces", bounces, "message_id", mid,
                            "dsn", msg->mail_from[0] == '\0');
    json_t *det2 = json_pack("{s:I, s:s, s:s}", "original_message", (json_int_t)oid,
                             "message_id", mid, "verp_rcpt", member);
    if (det == NULL || det2 == NULL)
        abort();
    rc = spool_event(ctx->db, oid, ctx->job->id, "rewrite", "bounce_received", det) != 0 ||
         spool_event(ctx->db, msg->id, ctx->job->id, "rewrite", "bounce_matched", det2) != 0
         ? -1 : 0;
    json_decref(det);
    json_decref(det2);
    if (rc == 0)
        log_info("VERP bounce matched to the list copy", "queue_id", msg->queue_id,
                 "member", member, "message_id", mid);
    return rc;
}
