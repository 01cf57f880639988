/*
 * archive.h - the archive service's internal interfaces (not a libcommon
 * contract: only the .c files of services/archive and their unit tests
 * include it).
 *
 * Modules:
 *   archive_fields.c  pure: the fields we index from a parsed post, text
 *                     clean-up, the JSON of a header section, base64,
 *                     paging parameters
 *   archive_store.c   the "archive" schema (archive.messages)
 *   archive_job.c     the "archive" stage handler
 *   archive_api.c     the /v1 API
 *   archive_state.c   configuration shared by the API and the worker
 */
#ifndef MAILYARD_ARCHIVE_H
#define MAILYARD_ARCHIVE_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include "db.h"
#include "hdr.h"
#include "metrics.h"
#include "worker.h"

struct service;

#define ARCHIVE_TEXT_MAX     998   /* bytes kept of an indexed header value */
#define ARCHIVE_LIST_MAX     256
#define ARCHIVE_PER_PAGE_MAX 200
#define ARCHIVE_PER_PAGE_DEF 50

typedef struct archive_state {
    struct service *svc;               /* borrowed */
    size_t          hdr_max_fields;
    size_t          hdr_max_field_len;
    metrics_family *archived;          /* mailyard_archive_messages_total{result} */
} archive_state;

void archive_state_init(archive_state *st, struct service *svc);

/* ---- fields (archive_fields.c, pure) ---- */

typedef struct archive_fields {
    char *message_id;    /* owned, NULL when absent; each cleaned UTF-8 */
    char *subject;
    char *from;
    char *date;
    char *in_reply_to;
} archive_fields;

/* Fills f from m (m may be NULL: every field NULL). */
void  archive_fields_extract(const hdr_msg *m, archive_fields *f);
void  archive_fields_release(archive_fields *f);
/* [{"name","value"}...] with unfolded, cleaned values. */
json_t *archive_headers_json(const hdr_msg *m);
/* Base64 (no line breaks) of len bytes; caller frees. */
char *archive_base64(const unsigned char *p, size_t len);
/* Paging parameters from query strings (NULL = default). 0 or -1. */
int   archive_page_parse(const char *page, const char *per_page,
                         long *page_out, long *per_page_out);

/* ---- store (archive_store.c) ---- */

/* 1 inserted (*id set), 0 already archived (*id of the existing row), -1. */
int archive_store_insert(db_conn *c, const char *list, int64_t spool_id,
                         const archive_fields *f, const char *raw, size_t raw_len,
                         int64_t *id);
/* The page object of GET /v1/lists/{addr}/messages, or NULL on error. */
json_t *archive_store_page_json(db_conn *c, const char *list, long page, long per_page);
/* The message object of GET /v1/messages/{id}: 1 found, 0 none, -1 error. */
int archive_store_message_json(const archive_state *st, db_conn *c, int64_t id,
                               json_t **out);

/* ---- stage handler and API ---- */

enum worker_verdict archive_job_handle(void *arg, worker_job_ctx *ctx);
int archive_api_register(struct service *svc, archive_state *st);

#endif
