/*
 * lists_distribute.c - turns an accepted post into the list's copy: the
 * original with List-* fields and the subject prefix, a new spool message
 * (origin "lists", parent = the post, envelope sender
 * <localpart>-bounces@<domain>, recipients = every member), a "relay" job
 * for the members and an "archive" job, and an "expanded" event on the
 * post. Used by the stage handler (member posts) and by the approve API.
 *
 * Runs inside the caller's transaction; the new jobs go into out and are
 * published by the caller after its commit. Idempotency is the caller's:
 * the worker holds the job lock, the approve API the held row's lock.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "xalloc.h"
#include "lists.h"

#define HEADROOM 65536   /* room for the fields we add */

static int create_jobs(db_conn *c, const lists_list *l, int64_t msg_id,
                       const char *bounces, char **rcpts, size_t n, spool_jobs *out)
{
    if (n > 0) {
        json_t *arr = json_array();
        for (size_t i = 0; i < n; i++)
            json_array_append_new(arr, json_string(rcpts[i]));
        json_t *relay = json_pack("{s:s, s:o}", "mail_from", bounces, "rcpts", arr);
        if (relay != NULL && l->verp >= 0)      /* the list's VERP (lists_verp.c) */
            json_object_set_new(relay, "verp", json_boolean(l->verp));
        int64_t id = relay != NULL ? spool_job_create(c, "relay", msg_id, relay, 0, out) : -1;
        json_decref(relay);
        if (id < 0)
            return -1;
    }
    json_t *archive = json_pack("{s:s}", "list", l->address);
    int64_t id = archive != NULL ? spool_job_create(c, "archive", msg_id, archive, 0, out) : -1;
    json_decref(archive);
    return id < 0 ? -1 : 0;
}

int lists_distribute(lists_state *st, db_conn *c, const lists_list *l,
                     const spool_message *orig, int64_t job_id, spool_jobs *out)
{
    char bounces[LISTS_ADDR_MAX + 16];
    enum hdr_error herr = HDR_OK;
    char **rcpts = NULL;
    size_t n = 0;
    hdr_msg *m = NULL;
    buf raw;
    int rc = LISTS_ERR_DB;

    buf_init(&raw, orig->raw_len + HEADROOM);
    if (lists_addr_with_suffix(l->address, "-bounces", bounces, sizeof bounces) != 0) {
        rc = LISTS_ERR_MESSAGE;
        goto out;
    }
    if (lists_store_member_addresses(c, l->id, st->bounce_disable_after, &rcpts, &n) != 0)
        goto out;
    m = hdr_parse(orig->raw, orig->raw_len, st->hdr_max_fields,
                  st->hdr_max_field_len, &herr);
    lists_header_info info = {
        .address = l->address, .name = l->name,
        .subject_prefix = l->subject_prefix, .archive_url = st->archive_url,
    };
    if (m == NULL) {
        rc = LISTS_ERR_MESSAGE;
        goto out;
    }
    if (lists_dmarc_apply(st, c, l, m, orig, job_id) != LISTS_OK)
        goto out;
    if (lists_headers_apply(m, &info) != 0 || hdr_serialize(m, &raw) != 0) {
        rc = LISTS_ERR_MESSAGE;
        goto out;
    }

    spool_message copy = {
        .parent_id = orig->id,
        .mail_from = bounces,
        .rcpts = rcpts,
        .nrcpts = n,
        .message_id = orig->message_id,
        .origin = "lists",
        .raw = raw.data,
        .raw_len = raw.len,
    };
    if (spool_message_insert(c, &copy) != 0)
        goto out;
    if (create_jobs(c, l, copy.id, bounces, rcpts, n, out) != 0)
        goto out;
    json_t *detail = json_pack("{s:s, s:I, s:I, s:s}", "list", l->address,
                               "members", (json_int_t)n,
                               "message", (json_int_t)copy.id,
                               "queue_id", copy.queue_id);
    int erc = spool_event(c, orig->id, job_id, "lists", "expanded", detail);
    json_decref(detail);
    if (erc != 0)
        goto out;
    log_info("post distributed", "queue_id", copy.queue_id,
             "message_id", orig->message_id != NULL ? orig->message_id : "",
             "list", l->address);
    rc = LISTS_OK;
out:
    hdr_msg_free(m);
    buf_release(&raw);
    lists_strv_free(rcpts, n);
    return rc;
}
