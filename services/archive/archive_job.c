/*
 * archive_job.c - the "archive" stage: payload {"list": addr}. Loads the
 * spool message (a list copy made by lists), reads its indexed fields and
 * stores it in archive.messages. Storing is idempotent (one row per spool
 * message: ON CONFLICT DO NOTHING), so a job that arrives twice, or two
 * jobs for one message, archive it once. A header section we cannot parse
 * is archived anyway, with empty fields: the record keeps the raw bytes.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "addr.h"
#include "log.h"
#include "xalloc.h"
#include "archive.h"

enum worker_verdict archive_job_handle(void *arg, worker_job_ctx *ctx)
{
    archive_state *st = arg;
    const char *list = json_string_value(json_object_get(ctx->job->payload, "list"));

    if (list == NULL || list[0] == '\0' || strlen(list) > ARCHIVE_LIST_MAX) {
        json_t *d = json_pack("{s:s}", "reason", "payload has no list");
        int rc = spool_event(ctx->db, ctx->job->message_id, ctx->job->id, "archive",
                             "failed", d);
        json_decref(d);
        metrics_counter_inc(st->archived, "failed");
        return rc != 0 ? WORKER_ERROR : WORKER_FAILED;
    }
    spool_message *msg = NULL;
    if (spool_message_load(ctx->db, ctx->job->message_id, &msg) != 0)
        return WORKER_ERROR;

    enum hdr_error herr = HDR_OK;
    hdr_msg *m = hdr_parse(msg->raw, msg->raw_len, st->hdr_max_fields,
                           st->hdr_max_field_len, &herr);
    archive_fields f;
    archive_fields_extract(m, &f);
    hdr_msg_free(m);
    char *lower = addr_lower(list);
    int64_t id = 0;
    int rc = archive_store_insert(ctx->db, lower, msg->id, &f, msg->raw, msg->raw_len, &id);
    enum worker_verdict v = WORKER_ERROR;
    if (rc >= 0) {
        json_t *d = json_pack("{s:s, s:I, s:b}", "list", lower, "archive_id", (json_int_t)id,
                              "duplicate", rc == 0);
        if (spool_event(ctx->db, msg->id, ctx->job->id, "archive", "archived", d) == 0) {
            v = WORKER_DONE;
            char sid[24];
            snprintf(sid, sizeof sid, "%" PRId64, id);
            log_info("message archived", "queue_id", msg->queue_id, "list", lower,
                     "archive_id", sid);
            metrics_counter_inc(st->archived, rc == 1 ? "archived" : "duplicate");
        }
        json_decref(d);
    }
    free(lower);
    archive_fields_release(&f);
    spool_message_free(msg);
    return v;
}
