/*
 * relay_job.c - the "relay" stage handler: turns a job's payload
 * {"mail_from": sender, "rcpts": [addr, ...]} into relay.deliveries rows
 * (idempotently), attempts every due pending row of the job (one SMTP
 * transaction per domain, up to RELAY_RCPTS_PER_TXN recipients each),
 * records each outcome (row, trace event, metric; a job's first attempt
 * inserts its rows only then, with the outcome), queues one DSN for the
 * recipients that bounced (and success DSNs), honouring each recipient's
 * RFC 3461 parameters (relay_dsnp.h, relay_notify.h), and tells the worker
 * loop whether the job is done or when to come back.
 *
 * Runs inside the worker's transaction (worker.h): the delivery rows, the
 * events, the DSN message and its rewrite job commit together with the
 * job's new state. A crash between a remote 250 and the commit means the
 * recipient is tried again (at-least-once delivery, as every MTA).
 *
 * SECURITY: the payload is written by our own stages but is still checked:
 * sizes, types, and addresses without line breaks or brackets (they end up
 * on the SMTP wire and in headers).
 */
#include "relay.h"
#include "relay_backoff.h"
#include "relay_dkim.h"
#include "relay_dpol.h"
#include "relay_dsnp.h"
#include "relay_notify.h"
#include "relay_queue.h"
#include "relay_verp.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "dsn.h"
#include "log.h"
#include "xalloc.h"

#define RELAY_MAX_RCPTS      10000
#define RELAY_RCPTS_PER_TXN  100
#define RELAY_ADDR_MAX       256

static int  job_addr_ok(const char *a, int allow_null);
static int  job_domain_cmp(const void *a, const void *b);
static const char *job_domain(const char *rcpt);
static void job_mark_invalid(relay_outcome *o);
static void job_mark_expired(relay_outcome *o, const relay_row *row);
static void job_mark_waiting(relay_outcome *o, size_t n, long wait, const char *why);
static double job_now(void);
static int  job_record(relay_state *st, worker_job_ctx *ctx, const spool_message *msg,
                       const char *mail_from, relay_row *row, const relay_outcome *o,
                       const relay_dsnp *dp, relay_notify *nt);

typedef struct job_item {
    size_t      row;      /* index into rows */
    const char *domain;   /* points into rows[row].rcpt */
} job_item;

enum worker_verdict relay_job_handle(void *arg, worker_job_ctx *ctx)
{
    relay_state *st = arg;
    const spool_job *job = ctx->job;
    enum worker_verdict verdict = WORKER_ERROR;
    spool_message *msg = NULL;
    relay_row *rows = NULL;
    relay_outcome *oc = NULL;
    job_item *items = NULL;
    relay_dsnp *dp = NULL;
    relay_notify *nt = NULL;
    const char **rcpts = NULL;
    int nrows = 0;
    char jid[24];

    snprintf(jid, sizeof(jid), "%" PRId64, job->id);

    /* 1. The payload. */
    json_t *jf = json_object_get(job->payload, "mail_from");
    json_t *jr = json_object_get(job->payload, "rcpts");
    size_t nr = json_is_array(jr) ? json_array_size(jr) : 0;
    if (!json_is_string(jf) || !job_addr_ok(json_string_value(jf), 1) ||
        !json_is_array(jr) || nr == 0 || nr > RELAY_MAX_RCPTS) {
        log_error("malformed relay payload", "job_id", jid);
        json_t *d = json_pack("{s:s}", "error", "malformed relay payload");
        int ev = spool_event(ctx->db, job->message_id, job->id, "relay", "failed", d);
        json_decref(d);
        return ev == 0 ? WORKER_FAILED : WORKER_ERROR;
    }
    const char *mail_from = json_string_value(jf);
    rcpts = xcalloc(nr, sizeof(*rcpts));
    size_t nvalid = 0;
    for (size_t i = 0; i < nr; i++) {
        json_t *e = json_array_get(jr, i);
        const char *a = json_is_string(e) ? json_string_value(e) : NULL;
        if (a == NULL || a[0] == '\0' || strlen(a) > RELAY_ADDR_MAX ||
            strpbrk(a, "\r\n") != NULL) {
            log_warn("skipping a malformed recipient in the payload", "job_id", jid);
            continue;
        }
        rcpts[nvalid++] = a;
    }

    /* 2. The message and the rows. */
    if (spool_message_load(ctx->db, job->message_id, &msg) != 0) {
        log_error("cannot load the message", "job_id", jid);
        goto out;
    }
    long unloaded_open = -1, total = -1;
    nrows = relay_db_load_due(ctx->db, job->id, st->max_age, &rows, &unloaded_open, &total);
    if (nrows < 0)
        goto out;
    if (total == 0) {        /* never attempted: rows are inserted with their outcome */
        nrows = relay_db_new_rows(rcpts, nvalid, &rows);
        unloaded_open = 0;
    }

    /* 2b. ARC seal and DKIM signatures: the last change before it leaves. */
    if (nrows > 0 && relay_sign_message(st, ctx, msg, mail_from) != 0)
        goto out;

    /* 3. Attempt delivery, grouped by domain. */
    oc = xcalloc((size_t)nrows + 1, sizeof(*oc));
    items = xcalloc((size_t)nrows + 1, sizeof(*items));
    dp = xcalloc((size_t)nrows + 1, sizeof(*dp));
    size_t nitems = 0;
    for (int i = 0; i < nrows; i++) {
        relay_dsnp_lookup(job->payload, msg, rows[i].rcpt, &dp[i]);
        if (rows[i].expired)
            job_mark_expired(&oc[i], &rows[i]);
        else if (!job_addr_ok(rows[i].rcpt, 0))
            job_mark_invalid(&oc[i]);
        else
            items[nitems++] = (job_item){ (size_t)i, job_domain(rows[i].rcpt) };
    }
    qsort(items, nitems, sizeof(*items), job_domain_cmp);
    /* VERP (relay_verp.h): list mail goes one envelope per recipient. */
    int verp = relay_verp_wanted(st->verp, job->payload) &&
               relay_verp_applies(msg->origin, mail_from);
    char vfrom[RELAY_ADDR_MAX + 1];
    const char *group[RELAY_RCPTS_PER_TXN];
    const char *gnotify[RELAY_RCPTS_PER_TXN], *gorcpt[RELAY_RCPTS_PER_TXN];
    char gnbuf[RELAY_RCPTS_PER_TXN][40];
    relay_outcome gout[RELAY_RCPTS_PER_TXN];
    relay_smtp_dsn gdsn = { .ret = msg->dsn_ret, .envid = msg->dsn_envid,
                            .notify = gnotify, .orcpt = gorcpt };
    for (size_t s = 0; s < nitems;) {
        size_t e = s + 1;
        while (!verp && e < nitems && e - s < RELAY_RCPTS_PER_TXN &&
               strcasecmp(items[e].domain, items[s].domain) == 0)
            e++;
        const char *gfrom = mail_from;
        if (verp && relay_verp_encode(mail_from, rows[items[s].row].rcpt, st->verp_delims,
                                      vfrom, sizeof(vfrom)) == 0)
            gfrom = vfrom;
        for (size_t k = s; k < e; k++) {
            const relay_dsnp *d = &dp[items[k].row];
            group[k - s] = rows[items[k].row].rcpt;
            relay_dsnp_notify_format(d->notify, gnbuf[k - s], sizeof(gnbuf[k - s]));
            gnotify[k - s] = gnbuf[k - s][0] != '\0' ? gnbuf[k - s] : NULL;
            gorcpt[k - s] = d->orcpt[0] != '\0' ? d->orcpt : NULL;
        }
        char why[256];
        long wait = relay_dpol_rate_take(st->dpol, items[s].domain, job_now(), why,
                                         sizeof(why));
        if (wait > 0)
            job_mark_waiting(gout, e - s, wait, why);
        else
            relay_transport_deliver_dsn(st, ctx->thread_no, msg, gfrom, items[s].domain,
                                        group, &gdsn, e - s, gout);
        for (size_t k = s; k < e; k++)
            oc[items[k].row] = gout[k - s];
        s = e;
    }

    /* 4. Record outcomes; collect the reports: one DSN per action. */
    nt = relay_notify_create();
    for (int i = 0; i < nrows; i++)
        if (job_record(st, ctx, msg, mail_from, &rows[i], &oc[i], &dp[i], nt) != 0)
            goto out;
    if (relay_notify_queue(nt, ctx->db, st->hostname, msg, mail_from, ctx->outputs) != 0) {
        log_error("queueing a DSN failed", "job_id", jid, "queue_id", msg->queue_id);
        goto out;
    }

    /* 4b. The recipients still to do (pending or held): none when no other
     * row was open and every attempted one ended (no question to ask). */
    long npending = 0;
    time_t earliest = 0;
    int left = 0;
    for (int i = 0; i < nrows; i++)
        if (oc[i].wait_s > 0 || (oc[i].code / 100 == 4 && !rows[i].expired))
            left++;
    if ((unloaded_open != 0 || left > 0) &&
        relay_db_job_pending(ctx->db, job->id, &npending, &earliest) != 0)
        goto out;

    /* 4c. One delay warning per recipient deferred for long enough; only
     * pending rows get one, so there is nothing to ask when none is left. */
    if (npending > 0 && relay_warn_queue(st, ctx, msg, mail_from) < 0)
        goto out;

    /* 5. The verdict. */
    if (npending == 0) {
        verdict = WORKER_DONE;
    } else {
        ctx->retry_at = earliest > 0 ? earliest : time(NULL) + st->retry_base;
        verdict = WORKER_DEFER;
    }
out:
    relay_notify_free(nt);
    free(dp);
    free(items);
    free(oc);
    relay_db_rows_free(rows, nrows > 0 ? (size_t)nrows : 0);
    spool_message_free(msg);
    free(rcpts);
    return verdict;
}

/* Adds the recipient's report to nt (as its NOTIFY asks), updates the row
 * with its trace event (one statement) and counts the metric. */
static int job_record(relay_state *st, worker_job_ctx *ctx, const spool_message *msg,
                      const char *mail_from, relay_row *row, const relay_outcome *o,
                      const relay_dsnp *dp, relay_notify *nt)
{
    const char *state, *event;
    long delay = 0;
    int attempts = row->attempts;

    if (o->wait_s > 0) {      /* not tried: its destination's rate limit */
        if (row->id == 0 &&   /* a new row: a plain pending one first */
            relay_db_insert_row(ctx->db, ctx->job, msg, mail_from, row, "pending", 0, 0,
                                st->max_age, NULL, NULL, NULL) != 0)
            return -1;
        if (relay_db_wait(ctx->db, row->id, o->wait_s, st->max_age, o->reply) != 0)
            return -1;
        json_t *w = json_pack("{s:s, s:s, s:I}", "rcpt", row->rcpt, "reason", o->reply,
                              "wait_seconds", (json_int_t)o->wait_s);
        int wev = w != NULL ? spool_event(ctx->db, msg->id, ctx->job->id, "relay", "waiting", w)
                            : -1;
        json_decref(w);
        log_info("waiting", "queue_id", msg->queue_id, "rcpt", row->rcpt, "reason", o->reply);
        return wev;
    }

    if (o->code / 100 == 2) {
        state = "delivered";
        event = "delivered";
        attempts++;
    } else if (o->code / 100 == 4 && !row->expired) {
        state = "pending";
        event = "deferred";
        attempts++;
        delay = relay_backoff_delay(attempts, st->retry_base, st->retry_max);
    } else {
        state = "bounced";
        event = "bounced";
        if (!row->expired)
            attempts++;
    }
    json_t *d = json_pack("{s:s, s:s, s:s, s:i}", "rcpt", row->rcpt, "reply", o->reply,
                          "status", o->status, "attempts", attempts);
    if (d == NULL)   /* not UTF-8 (cannot happen for replies: relay_reply cleans them) */
        d = json_pack("{s:s, s:i}", "status", o->status, "attempts", attempts);
    if (d == NULL)
        panic("json_pack failed");
    if (o->host[0] != '\0')
        json_object_set_new(d, "host", json_string(o->host));
    if (o->tls[0] != '\0')
        json_object_set_new(d, "tls", json_string(o->tls));
    if (o->tls_verify[0] != '\0')
        json_object_set_new(d, "tls_verify", json_string(o->tls_verify));
    if (o->dane[0] != '\0')
        json_object_set_new(d, "dane", json_string(o->dane));
    if (delay > 0)
        json_object_set_new(d, "retry_in_seconds", json_integer(delay));
    if (strcmp(state, "pending") != 0) {
        char nbuf[40];
        const char *report = relay_notify_add(nt, row->rcpt, o, strcmp(state, "bounced") == 0,
                                              dp);
        relay_dsnp_notify_format(dp->notify, nbuf, sizeof(nbuf));
        if (nbuf[0] != '\0')
            json_object_set_new(d, "notify", json_string(nbuf));
        if (o->dsn_passed && dp->notify != 0)
            json_object_set_new(d, "dsn_passed", json_true());
        if (report != NULL)
            json_object_set_new(d, "dsn", json_string(report));
    }
    int rec = row->id == 0
        ? relay_db_insert_row(ctx->db, ctx->job, msg, mail_from, row, state, attempts, delay,
                              st->max_age, o, event, d)
        : relay_db_record(ctx->db, row->id, state, attempts, delay, st->max_age, o,
                          msg->id, ctx->job->id, event, d);
    json_decref(d);
    if (rec != 0)
        return -1;
    metrics_counter_inc(st->m_deliveries, event);
    log_info(event, "queue_id", msg->queue_id, "rcpt", row->rcpt, "reply", o->reply,
             "host", o->host);
    return 0;
}

/* A path's mailbox as we accept it on the wire: bounded, no line breaks,
 * brackets or white space, and local@domain (or "" where the null sender is
 * allowed). */
static int job_addr_ok(const char *a, int allow_null)
{
    if (a[0] == '\0')
        return allow_null;
    if (strlen(a) > RELAY_ADDR_MAX || strpbrk(a, "\r\n<> \t") != NULL)
        return 0;
    const char *at = strrchr(a, '@');
    return at != NULL && at != a && at[1] != '\0';
}

static const char *job_domain(const char *rcpt)
{
    const char *at = strrchr(rcpt, '@');
    return at ? at + 1 : "";
}

static int job_domain_cmp(const void *a, const void *b)
{
    const job_item *x = a, *y = b;
    int c = strcasecmp(x->domain, y->domain);
    if (c != 0)
        return c;
    return (x->row > y->row) - (x->row < y->row);
}

static void job_mark_invalid(relay_outcome *o)
{
    memset(o, 0, sizeof(*o));
    o->code = 553;
    (void)str_copy(o->status, sizeof(o->status), "5.1.3");
    (void)str_copy(o->reply, sizeof(o->reply),
                   "553 5.1.3 bad destination mailbox address syntax");
}

static void job_mark_waiting(relay_outcome *o, size_t n, long wait, const char *why)
{
    for (size_t i = 0; i < n; i++) {
        memset(&o[i], 0, sizeof(o[i]));
        o[i].wait_s = wait;
        (void)str_copy(o[i].status, sizeof(o[i].status), "4.4.5");
        snprintf(o[i].reply, sizeof(o[i].reply), "%s", why);
    }
}

static double job_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void job_mark_expired(relay_outcome *o, const relay_row *row)
{
    memset(o, 0, sizeof(*o));
    o->code = 0;   /* neither delivered nor deferred: recorded as bounced */
    (void)str_copy(o->status, sizeof(o->status), "4.4.7");
    snprintf(o->reply, sizeof(o->reply), "expired: message too old, undeliverable after %d "
             "attempts%s%.400s", row->attempts, row->last_reply ? "; last reply: " : "",
             row->last_reply ? row->last_reply : "");
}
