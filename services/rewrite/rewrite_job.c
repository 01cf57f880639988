/*
 * rewrite_job.c - the worker handler of stage "rewrite": load the spool
 * message, build the plan (rewrite_plan.h) with lookups on the job's own
 * transaction, then record it in that transaction: one trace event per
 * decision, one "relay" job per envelope sender (with the recipients' DSN
 * parameters, rewrite_dsn.h), one "lists" job per list,
 * one DSN (dsn_queue) for every recipient that bounces, and, for mail to
 * one of our SRS addresses (a bounce coming back), a "bounce_received"
 * event on the original message (found by the returned message's
 * Message-ID, rewrite_bounce.h). The worker loop
 * (libcommon worker.c) commits, publishes the new jobs and acks.
 *
 * Verdicts: WORKER_DONE when the plan is recorded; WORKER_ERROR on a
 * database error (the transaction is rolled back and the entry retried);
 * WORKER_DEFER when the lists service is unavailable (nothing is decided
 * until it answers; the message waits, it is never bounced for that).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dsn.h"
#include "log.h"
#include "rewrite.h"
#include "rewrite_bounce.h"
#include "rewrite_dsn.h"
#include "rewrite_verp.h"
#include "rewrite_store.h"
#include "spool.h"
#include "xalloc.h"

#define JOB_LISTS_RETRY_SECONDS 30

static int job_record_events(worker_job_ctx *ctx, const spool_message *msg,
                             const rewrite_plan *p)
{
    size_t i;
    json_t *e;
    json_array_foreach(p->events, i, e) {
        const char *name = json_string_value(json_object_get(e, "event"));
        if (strcmp(name, "alias_loop") == 0 || strcmp(name, "expansion_limit") == 0) {
            char *d = json_dumps(json_object_get(e, "detail"), JSON_COMPACT);
            log_warn("alias expansion cut short", "queue_id", msg->queue_id,
                     "event", name, "detail", d ? d : "");
            free(d);
        }
        if (spool_event(ctx->db, msg->id, ctx->job->id, "rewrite", name,
                        json_object_get(e, "detail")) != 0)
            return -1;
    }
    return 0;
}

/* Counted only once the plan is recorded (the transaction may still roll
 * back at commit; the counter is a rate, not a ledger). */
static void job_count_events(rewrite_state *st, const rewrite_plan *p)
{
    size_t i;
    json_t *e;
    if (st->m_decisions == NULL)
        return;
    json_array_foreach(p->events, i, e)
        metrics_counter_inc(st->m_decisions,
                            json_string_value(json_object_get(e, "event")));
}

static int job_create(worker_job_ctx *ctx, const spool_message *msg,
                      const char *stage, json_t *payload /* stolen */)
{
    if (payload == NULL)
        abort();
    int64_t id = spool_job_create(ctx->db, stage, msg->id, payload, 0, ctx->outputs);
    json_decref(payload);
    return id < 0 ? -1 : 0;
}

static int job_record_relays(worker_job_ctx *ctx, const spool_message *msg,
                             const rewrite_plan *p)
{
    for (size_t i = 0; i < p->nrelays; i++) {
        const rewrite_relay_group *g = &p->relays[i];
        json_t *rcpts = json_array();
        for (size_t j = 0; j < g->rcpts.n; j++)
            json_array_append_new(rcpts, json_string(g->rcpts.v[j]));
        json_t *payload = json_pack("{s:s,s:o}", "mail_from", g->mail_from, "rcpts", rcpts);
        json_t *dsn = rewrite_dsn_params(msg, g);     /* NOTIFY/ORCPT, rewrite_dsn.h */
        if (payload != NULL && dsn != NULL)
            json_object_set_new(payload, "dsn", dsn);
        else
            json_decref(dsn);
        if (job_create(ctx, msg, "relay", payload) != 0)
            return -1;
    }
    return 0;
}

static int job_record_lists(rewrite_state *st, worker_job_ctx *ctx, const spool_message *msg,
                            const rewrite_plan *p)
{
    char member[REWRITE_VERP_ADDR_MAX + 1];
    for (size_t i = 0; i < p->lists.n; i++) {
        json_t *payload = json_pack("{s:s,s:s}", "list", p->lists.v[i],
                                    "mail_from", msg->mail_from);
        /* a bounce to a VERP address: lists counts it for the member */
        if (payload != NULL && rewrite_verp_member_for(p, p->lists.v[i], st->verp_delims,
                                                       member, sizeof(member)) == 0)
            json_object_set_new(payload, "verp_member", json_string(member));
        if (job_create(ctx, msg, "lists", payload) != 0)
            return -1;
    }
    return 0;
}

static int job_record_bounces(rewrite_state *st, worker_job_ctx *ctx,
                              const spool_message *msg, const rewrite_plan *p)
{
    if (p->nbounces == 0)
        return 0;
    dsn_rcpt *r = xcalloc(p->nbounces, sizeof(*r));
    for (size_t i = 0; i < p->nbounces; i++) {
        r[i].rcpt = p->bounces[i].rcpt;
        r[i].status = p->bounces[i].status;
        r[i].diagnostic = p->bounces[i].diagnostic;
        r[i].remote_mta = NULL;
    }
    int rc = dsn_queue(ctx->db, st->reporting_mta, msg, msg->mail_from, r,
                       p->nbounces, DSN_FAILED, ctx->outputs);
    free(r);
    return rc < 0 ? -1 : 0;
}

/* A bounce to our SRS address: record "bounce_received" on the message it
 * returns, and "bounce_matched" on the bounce. No match is not an error. */
static int job_match_bounces(worker_job_ctx *ctx, const spool_message *msg,
                             const rewrite_plan *p)
{
    size_t i;
    json_t *e;
    char *mid = NULL;
    int rc = 0, searched = 0;
    json_array_foreach(p->events, i, e) {
        json_t *d = json_object_get(e, "detail");
        if (strcmp(json_string_value(json_object_get(e, "event")), "srs_reversed") != 0 ||
            json_object_get(d, "via") != NULL)
            continue;
        if (!searched) {
            searched = 1;
            mid = rewrite_bounce_message_id(msg->raw, msg->raw_len);
        }
        if (mid == NULL)
            break;
        const char *orig = json_string_value(json_object_get(d, "original"));
        int64_t oid = 0;
        int found = spool_message_find_by_message_id(ctx->db, mid, orig ? orig : "",
                                                     msg->id, &oid);
        if (found < 0) {
            rc = -1;
            break;
        }
        if (found == 0)
            continue;
        json_t *det = json_pack("{s:s,s:s,s:s,s:s,s:b}", "bounce_queue_id", msg->queue_id,
                                "srs_rcpt", json_string_value(json_object_get(d, "rcpt")),
                                "original_sender", orig ? orig : "",
                                "message_id", mid, "dsn", msg->mail_from[0] == '\0');
        json_t *det2 = json_pack("{s:I,s:s}", "original_message", (json_int_t)oid,
                                 "message_id", mid);
        if (det == NULL || det2 == NULL)
            abort();
        if (spool_event(ctx->db, oid, ctx->job->id, "rewrite", "bounce_received", det) != 0 ||
            spool_event(ctx->db, msg->id, ctx->job->id, "rewrite", "bounce_matched",
                        det2) != 0)
            rc = -1;
        json_decref(det);
        json_decref(det2);
        if (rc != 0)
            break;
        log_info("bounce matched to the original message", "queue_id", msg->queue_id,
                 "message_id", mid);
    }
    free(mid);
    return rc;
}

static enum worker_verdict job_run(rewrite_state *st, worker_job_ctx *ctx,
                                   const spool_message *msg, char *jid)
{
    rewrite_lookup lk = { .db = ctx->db, .lists = st->lists, .st = st };
    rewrite_resolver r;
    rewrite_plan p;
    rewrite_srs_conf srs;
    rewrite_resolver_init(&r, &lk);

    const rewrite_secrets_snap *snap = rewrite_state_srs(st, &srs);
    enum rewrite_err err = rewrite_plan_build(&r, &srs, &st->plan, msg->mail_from,
                                              msg->rcpts, msg->nrcpts, time(NULL), &p);
    rewrite_secrets_put(st->secrets, snap);
    if (err == REWRITE_ERR_LISTS) {
        log_warn("lists service unavailable, job deferred", "job_id", jid,
                 "queue_id", msg->queue_id);
        ctx->retry_at = time(NULL) + JOB_LISTS_RETRY_SECONDS;
        return WORKER_DEFER;
    }
    if (err != REWRITE_OK) {
        log_error("database error while classifying", "job_id", jid,
                  "queue_id", msg->queue_id);
        return WORKER_ERROR;
    }
    enum worker_verdict v = WORKER_DONE;
    if (job_record_events(ctx, msg, &p) != 0 || rewrite_dmarc_divert(st, ctx, msg, &p) != 0 ||
        job_record_relays(ctx, msg, &p) != 0 ||
        job_record_lists(st, ctx, msg, &p) != 0 || job_record_bounces(st, ctx, msg, &p) != 0 ||
        job_match_bounces(ctx, msg, &p) != 0 ||
        rewrite_verp_match(ctx, msg, &p, st->verp_delims) != 0) {
        log_error("database error while recording the rewrite", "job_id", jid,
                  "queue_id", msg->queue_id, "error", db_conn_error(ctx->db));
        v = WORKER_ERROR;
    } else {
        char nrel[32], nlists[32], nbounce[32];
        job_count_events(st, &p);
        size_t relayed = 0;
        for (size_t i = 0; i < p.nrelays; i++)
            relayed += p.relays[i].rcpts.n;
        snprintf(nrel, sizeof(nrel), "%zu", relayed);
        snprintf(nlists, sizeof(nlists), "%zu", p.lists.n);
        snprintf(nbounce, sizeof(nbounce), "%zu", p.nbounces);
        log_info("rewritten", "job_id", jid, "queue_id", msg->queue_id,
                 "relay_rcpts", nrel, "lists", nlists, "bounces", nbounce);
    }
    rewrite_plan_release(&p);
    return v;
}

enum worker_verdict rewrite_job_handle(void *arg, worker_job_ctx *ctx)
{
    rewrite_state *st = arg;
    spool_message *msg = NULL;
    char jid[32];
    snprintf(jid, sizeof(jid), "%lld", (long long)ctx->job->id);

    if (spool_message_load(ctx->db, ctx->job->message_id, &msg) != 0) {
        log_error("cannot load the message of a rewrite job", "job_id", jid,
                  "error", db_conn_error(ctx->db));
        return WORKER_ERROR;
    }
    enum worker_verdict v = job_run(st, ctx, msg, jid);
    spool_message_free(msg);
    return v;
}
