/*
 * relay_warn.c - the delay warning: once a recipient of a job has been
 * deferred for MAILYARD_RELAY_DELAY_WARNING_SECONDS, one DSN with
 * "Action: delayed" (RFC 3464 §2.3.3) goes to the envelope sender, listing
 * every such recipient of the job with its last reply. At most one warning
 * per recipient (relay_db_warn.c marks them); none to the null sender
 * (dsn_queue suppresses it, the mark is still set), and none for a
 * recipient whose NOTIFY (RFC 3461) does not include DELAY
 * (relay_dsnp.h; the mark is set too). Each recipient carries
 * Will-Retry-Until (RFC 3464 §2.3.9): its arrival at the relay plus
 * MAILYARD_RELAY_MAX_AGE_SECONDS, when it would be bounced. Runs inside the
 * worker's transaction. Owns nothing beyond the call.
 */
#include "relay.h"
#include "relay_dsnp.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dsn.h"
#include "log.h"
#include "xalloc.h"

#define WARN_TEXT_MAX (RELAY_SMTP_REPLY_MAX + 64)

static void warn_status(const char *reply, char *out, size_t outlen);

int relay_warn_queue(relay_state *st, worker_job_ctx *ctx, const spool_message *msg,
                     const char *mail_from)
{
    relay_row *rows = NULL;
    char **hosts = NULL;
    time_t *since = NULL;
    int rc = -1;

    if (st->delay_warning <= 0)
        return 0;
    int n = relay_db_warn_due(ctx->db, ctx->job->id, st->delay_warning, &rows, &hosts, &since);
    if (n <= 0)
        return n;
    dsn_rcpt *dr = xcalloc((size_t)n, sizeof(*dr));
    char (*status)[16] = xcalloc((size_t)n, sizeof(*status));
    char (*diag)[WARN_TEXT_MAX] = xcalloc((size_t)n, sizeof(*diag));
    char (*remote)[340] = xcalloc((size_t)n, sizeof(*remote));
    relay_dsnp *dp = xcalloc((size_t)n, sizeof(*dp));
    int nw = 0;     /* recipients whose NOTIFY asks for DELAY (or is absent) */
    for (int k = 0; k < n; k++) {
        relay_dsnp_lookup(ctx->job->payload, msg, rows[k].rcpt, &dp[nw]);
        if (!relay_dsnp_wants(&dp[nw], RELAY_NOTIFY_DELAY))
            continue;
        int i = nw++;
        const char *last = rows[k].last_reply ? rows[k].last_reply : "";
        warn_status(last, status[i], sizeof(status[i]));
        dr[i].rcpt = rows[k].rcpt;
        dr[i].orcpt = dp[i].orcpt[0] != '\0' ? dp[i].orcpt : NULL;
        dr[i].status = status[i];
        dr[i].will_retry_until = since[k] + st->max_age;   /* RFC 3464 §2.3.9 */
        (void)snprintf(diag[i], sizeof(diag[i]), "smtp; %.*s", RELAY_SMTP_REPLY_MAX, last);
        dr[i].diagnostic = last[0] != '\0' ? diag[i] : NULL;
        if (hosts[k][0] != '\0' && strncmp(hosts[k], "maildir:", 8) != 0) {
            size_t hl = strcspn(hosts[k], "[");
            (void)snprintf(remote[i], sizeof(remote[i]), "dns; %.*s", (int)(hl > 300 ? 300 : hl),
                           hosts[k]);
            dr[i].remote_mta = remote[i];
        }
    }
    int q = nw == 0 ? 0 : dsn_queue(ctx->db, st->hostname, msg, mail_from, dr, (size_t)nw,
                                    DSN_DELAYED, ctx->outputs);
    if (q < 0) {
        log_error("queueing a delay warning failed", "queue_id", msg->queue_id);
        goto out;
    }
    json_t *d = json_pack("{s:i, s:b, s:i}", "recipients", n, "sent", q == 1, "notified", nw);
    if (d == NULL)
        panic("json_pack failed");
    json_t *list = json_array();
    for (int i = 0; i < n; i++)
        json_array_append_new(list, json_string(rows[i].rcpt));
    json_object_set_new(d, "rcpts", list);
    int ev = spool_event(ctx->db, msg->id, ctx->job->id, "relay", "delay_warning", d);
    json_decref(d);
    if (ev != 0)
        goto out;
    log_info(q == 1 ? "delay warning queued"
             : nw == 0 ? "delay warning suppressed (NOTIFY without DELAY)"
                       : "delay warning suppressed (null sender)",
             "queue_id", msg->queue_id);
    rc = n;
out:
    free(since);
    free(dp);
    free(remote);
    free(diag);
    free(status);
    free(dr);
    relay_db_warn_hosts_free(hosts, (size_t)n);
    relay_db_rows_free(rows, (size_t)n);
    return rc;
}

/* The enhanced status code of a recorded reply ("451 4.3.0 text" -> 4.3.0),
 * else "4.0.0": a delayed recipient always has a 4.x.x status. */
static void warn_status(const char *reply, char *out, size_t outlen)
{
    const char *p = reply;
    while (*p != '\0' && *p != ' ')
        p++;
    while (*p == ' ')
        p++;
    size_t len = strcspn(p, " ");
    int ok = len >= 5 && len < outlen && p[0] == '4' && p[1] == '.';
    for (size_t i = 2; ok && i < len; i++)
        if (!isdigit((unsigned char)p[i]) && p[i] != '.')
            ok = 0;
    if (ok) {
        memcpy(out, p, len);
        out[len] = '\0';
    } else {
        (void)snprintf(out, outlen, "4.0.0");
    }
}
