/*
 * archive_store.c - the "archive" schema (services/archive/sql/):
 * archive.messages, one row per archived list copy.
 *
 * Runs on a connection the caller holds (the worker's transaction, or a
 * pooled connection for the API). The raw message goes in and out as
 * bytea; JSON results are new references owned by the caller.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "archive.h"

#define TS(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"

int archive_store_insert(db_conn *c, const char *list, int64_t spool_id,
                         const archive_fields *f, const char *raw, size_t raw_len,
                         int64_t *id)
{
    char sid[24];
    snprintf(sid, sizeof sid, "%" PRId64, spool_id);
    if (raw_len > 0x7fffffff)
        return -1;
    const char *const values[] = { list, sid, f->message_id, f->subject, f->from,
                                   f->date, f->in_reply_to, raw };
    const int lengths[] = { 0, 0, 0, 0, 0, 0, 0, (int)raw_len };
    const int formats[] = { 0, 0, 0, 0, 0, 0, 0, 1 };
    PGresult *r = db_query(c,
        "INSERT INTO archive.messages (list, spool_message_id, message_id, subject,"
        " from_header, date_header, in_reply_to, raw)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
        " ON CONFLICT (spool_message_id) DO NOTHING RETURNING id",
        8, values, lengths, formats);
    if (r == NULL)
        return -1;
    int inserted = PQntuples(r) > 0;
    if (inserted)
        *id = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    if (inserted)
        return 1;
    r = db_queryv(c, "SELECT id FROM archive.messages WHERE spool_message_id = $1", 1, sid);
    if (r == NULL)
        return -1;
    *id = PQntuples(r) > 0 ? strtoll(PQgetvalue(r, 0, 0), NULL, 10) : 0;
    PQclear(r);
    return 0;
}

/* A text column as a JSON string, or null when SQL NULL. */
static json_t *col_json(const PGresult *r, int row, int col)
{
    if (PQgetisnull(r, row, col))
        return json_null();
    json_t *s = json_string(PQgetvalue(r, row, col));
    return s != NULL ? s : json_null();
}

json_t *archive_store_page_json(db_conn *c, const char *list, long page, long per_page)
{
    char limit[24], offset[24];
    snprintf(limit, sizeof limit, "%ld", per_page);
    snprintf(offset, sizeof offset, "%lld", (long long)(page - 1) * per_page);

    PGresult *t = db_queryv(c, "SELECT count(*) FROM archive.messages WHERE list = $1",
                            1, list);
    if (t == NULL)
        return NULL;
    json_int_t total = strtoll(PQgetvalue(t, 0, 0), NULL, 10);
    PQclear(t);

    PGresult *r = db_queryv(c,
        "SELECT id, message_id, subject, from_header, date_header, " TS("archived_at")
        " FROM archive.messages WHERE list = $1"
        " ORDER BY archived_at DESC, id DESC LIMIT $2 OFFSET $3",
        3, list, limit, offset);
    if (r == NULL)
        return NULL;
    json_t *arr = json_array();
    for (int i = 0; i < PQntuples(r); i++) {
        json_t *o = json_object();
        json_object_set_new(o, "id", json_integer(strtoll(PQgetvalue(r, i, 0), NULL, 10)));
        json_object_set_new(o, "message_id", col_json(r, i, 1));
        json_object_set_new(o, "subject", col_json(r, i, 2));
        json_object_set_new(o, "from", col_json(r, i, 3));
        json_object_set_new(o, "date", col_json(r, i, 4));
        json_object_set_new(o, "archived_at", col_json(r, i, 5));
        json_array_append_new(arr, o);
    }
    PQclear(r);
    return json_pack("{s:s, s:I, s:I, s:I, s:o}", "list", list,
                     "page", (json_int_t)page, "per_page", (json_int_t)per_page,
                     "total", total, "messages", arr);
}

int archive_store_message_json(const archive_state *st, db_conn *c, int64_t id,
                               json_t **out)
{
    char sid[24];
    snprintf(sid, sizeof sid, "%" PRId64, id);
    PGresult *r = db_queryv(c,
        "SELECT id, list, message_id, subject, from_header, date_header, in_reply_to, "
        TS("archived_at") ", raw FROM archive.messages WHERE id = $1", 1, sid);
    if (r == NULL)
        return -1;
    if (PQntuples(r) == 0) {
        PQclear(r);
        return 0;
    }
    size_t raw_len = 0;
    unsigned char *raw = PQunescapeBytea((const unsigned char *)PQgetvalue(r, 0, 8),
                                         &raw_len);
    if (raw == NULL) {
        PQclear(r);
        log_error("cannot decode archived bytea", "archive_id", sid);
        return -1;
    }
    json_t *o = json_object();
    json_object_set_new(o, "id", json_integer(id));
    json_object_set_new(o, "list", col_json(r, 0, 1));
    json_object_set_new(o, "message_id", col_json(r, 0, 2));
    json_object_set_new(o, "subject", col_json(r, 0, 3));
    json_object_set_new(o, "from", col_json(r, 0, 4));
    json_object_set_new(o, "date", col_json(r, 0, 5));
    json_object_set_new(o, "in_reply_to", col_json(r, 0, 6));
    json_object_set_new(o, "archived_at", col_json(r, 0, 7));
    PQclear(r);

    enum hdr_error herr = HDR_OK;
    hdr_msg *m = hdr_parse((const char *)raw, raw_len, st->hdr_max_fields,
                           st->hdr_max_field_len, &herr);
    json_object_set_new(o, "headers", archive_headers_json(m));
    hdr_msg_free(m);
    /* json_stringn() refuses invalid UTF-8: then raw is null */
    json_t *text = json_stringn((const char *)raw, raw_len);
    json_object_set_new(o, "raw", text != NULL ? text : json_null());
    char *b64 = archive_base64(raw, raw_len);
    json_object_set_new(o, "raw_base64", json_string(b64));
    free(b64);
    PQfreemem(raw);
    *out = o;
    return 1;
}
