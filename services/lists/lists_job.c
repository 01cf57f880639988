/*
 * lists_job.c - the "lists" stage: one job per (post, list address), with
 * payload {"list": addr, "mail_from": sender}.
 *
 *   <list>-bounces   event "bounce_received"; with "verp_member" in the
 *                    payload (rewrite_verp.c) and a null envelope sender,
 *                    the member's bounce counter goes up (lists_verp.c)
 *   <list>-request   event "request_received" (commands come later)
 *   <list>           posting policy:
 *       members   (default) the envelope sender or the From address is a
 *                 member -> distribute; otherwise held ("non-member")
 *       open      anyone -> distribute
 *       moderated everyone held ("moderated")
 *   A post carrying our own List-Id is a loop: event "loop_detected",
 *   dropped.
 *
 * Runs inside the worker's transaction with the job locked, so a duplicate
 * delivery of the same job never distributes or holds twice. Database
 * errors return WORKER_ERROR (rolled back, retried); a message or payload
 * that can never be processed is WORKER_FAILED with a "failed" event.
 */
#include <stdlib.h>
#include <string.h>

#include "utf8.h"
#include "addr.h"
#include "log.h"
#include "xalloc.h"
#include "lists.h"

/* Records event on the job's message; -1 on a database error. */
static int job_event(worker_job_ctx *ctx, const char *event, json_t *detail)
{
    int rc = spool_event(ctx->db, ctx->job->message_id, ctx->job->id, "lists",
                         event, detail);
    json_decref(detail);
    return rc;
}

static enum worker_verdict job_fail(lists_state *st, worker_job_ctx *ctx,
                                    const char *reason)
{
    log_warn("lists job failed", "reason", reason);
    metrics_counter_inc(st->posts, "failed");
    if (job_event(ctx, "failed", json_pack("{s:s}", "reason", reason)) != 0)
        return WORKER_ERROR;
    return WORKER_FAILED;
}

/* Holds the post for moderation. */
static enum worker_verdict job_hold(lists_state *st, worker_job_ctx *ctx,
                                    const lists_list *l, const hdr_msg *h,
                                    const char *mail_from, const char *reason)
{
    char *from = hdr_get_value(h, "From");
    char *subj = hdr_get_value(h, "Subject");
    char *from_c = utf8_clean(from ? from : "", from ? strlen(from) : 0,
                                    LISTS_HELD_TEXT_MAX);
    char *subj_c = utf8_clean(subj ? subj : "", subj ? strlen(subj) : 0,
                                    LISTS_HELD_TEXT_MAX);
    char *sender_c = utf8_clean(mail_from, strlen(mail_from), LISTS_ADDR_MAX);
    int64_t id = lists_store_held_insert(ctx->db, l->id, ctx->job->message_id,
                                         sender_c, from_c, subj_c, reason);
    free(from);
    free(subj);
    free(from_c);
    free(subj_c);
    free(sender_c);
    if (id < 0)
        return WORKER_ERROR;
    if (job_event(ctx, "held", json_pack("{s:s, s:s, s:I}", "list", l->address,
                                         "reason", reason, "held_id", (json_int_t)id)) != 0)
        return WORKER_ERROR;
    metrics_counter_inc(st->posts, "held");
    return WORKER_DONE;
}

/* The posting policy for a post to the list address itself. */
static enum worker_verdict job_post(lists_state *st, worker_job_ctx *ctx,
                                    const lists_list *l, const char *mail_from)
{
    spool_message *msg = NULL;
    hdr_msg *h = NULL;
    enum hdr_error herr = HDR_OK;
    enum worker_verdict v = WORKER_ERROR;
    char *from_addr = NULL, *sender = NULL;

    if (spool_message_load(ctx->db, ctx->job->message_id, &msg) != 0)
        return WORKER_ERROR;
    h = hdr_parse(msg->raw, msg->raw_len, st->hdr_max_fields, st->hdr_max_field_len, &herr);
    if (h == NULL) {
        v = job_fail(st, ctx, herr == HDR_ERR_LIMIT ? "header over limits"
                                                   : "unparseable header");
        goto out;
    }
    if (lists_headers_is_loop(h, l->address)) {
        metrics_counter_inc(st->posts, "loop");
        v = job_event(ctx, "loop_detected", json_pack("{s:s}", "list", l->address)) != 0
            ? WORKER_ERROR : WORKER_DONE;
        goto out;
    }
    if (mail_from == NULL)
        mail_from = msg->mail_from;

    int member;
    const char *reason;
    if (strcmp(l->policy, "open") == 0) {
        member = 1;
        reason = NULL;
    } else if (strcmp(l->policy, "moderated") == 0) {
        member = 0;
        reason = "moderated";
    } else {
        char *fv = hdr_get_value(h, "From");
        from_addr = lists_addr_from_header(fv);
        free(fv);
        sender = addr_lower(mail_from);
        member = lists_store_is_member(ctx->db, l->id, sender, from_addr);
        if (member < 0)
            goto out;
        reason = "non-member";
    }
    if (!member) {
        v = job_hold(st, ctx, l, h, mail_from, reason);
        goto out;
    }
    int rc = lists_distribute(st, ctx->db, l, msg, ctx->job->id, ctx->outputs);
    if (rc == LISTS_ERR_MESSAGE)
        v = job_fail(st, ctx, "cannot build the list copy");
    else if (rc == LISTS_OK) {
        metrics_counter_inc(st->posts, "distributed");
        v = WORKER_DONE;
    }
out:
    free(from_addr);
    free(sender);
    hdr_msg_free(h);
    spool_message_free(msg);
    return v;
}

/* A bounce rewrite decoded from a VERP address: one more for the member.
 * Only a null envelope sender counts (RFC 5321 §4.5.5 non-delivery
 * reports), so mail anyone sends to a VERP address does not. */
static int job_verp_bounce(lists_state *st, worker_job_ctx *ctx, const lists_list *l,
                           const char *mail_from)
{
    const char *m = json_string_value(json_object_get(ctx->job->payload, "verp_member"));
    char member[LISTS_ADDR_MAX + 1];
    long count = 0;

    if (m == NULL || mail_from == NULL || mail_from[0] != '\0' ||
        lists_addr_normalize(m, member, sizeof member) != 0)
        return 0;
    int rc = lists_store_member_bounce(ctx->db, l->id, member, &count);
    if (rc < 0)
        return -1;
    if (rc == 0)
        return 0;                       /* no longer a member */
    int disabled = st->bounce_disable_after > 0 && count >= st->bounce_disable_after;
    log_info(disabled ? "member bounce counted; no more list mail to the member"
                      : "member bounce counted", "list", l->address, "rcpt", member);
    return job_event(ctx, "member_bounce", json_pack("{s:s, s:s, s:I, s:b}", "list",
                                                     l->address, "member", member,
                                                     "bounce_count", (json_int_t)count,
                                                     "disabled", disabled));
}

enum worker_verdict lists_job_handle(void *arg, worker_job_ctx *ctx)
{
    lists_state *st = arg;
    json_t *p = ctx->job->payload;
    const char *addr = json_string_value(json_object_get(p, "list"));
    const char *mail_from = json_string_value(json_object_get(p, "mail_from"));
    char norm[LISTS_ADDR_MAX + 1];
    lists_list *l = NULL;
    int role = LISTS_ROLE_POST;

    if (addr == NULL || lists_addr_normalize(addr, norm, sizeof norm) != 0)
        return job_fail(st, ctx, "payload has no valid list address");
    int rc = lists_store_resolve(ctx->db, norm, &l, &role);
    if (rc < 0)
        return WORKER_ERROR;
    if (rc == 0)
        return job_fail(st, ctx, "no such list");

    enum worker_verdict v;
    if (role == LISTS_ROLE_BOUNCES && job_verp_bounce(st, ctx, l, mail_from) != 0) {
        v = WORKER_ERROR;
    } else if (role == LISTS_ROLE_BOUNCES || role == LISTS_ROLE_REQUEST) {
        const char *ev = role == LISTS_ROLE_BOUNCES ? "bounce_received" : "request_received";
        metrics_counter_inc(st->posts, role == LISTS_ROLE_BOUNCES ? "bounce" : "request");
        v = job_event(ctx, ev, json_pack("{s:s, s:s}", "list", l->address,
                                         "address", norm)) != 0
            ? WORKER_ERROR : WORKER_DONE;
    } else {
        v = job_post(st, ctx, l, mail_from);
    }
    lists_list_free(l);
    return v;
}
