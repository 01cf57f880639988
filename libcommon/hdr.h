/*
 * hdr.h - RFC 5322 header section parsing that keeps the bytes exactly.
 *
 * A message is split into its header fields and body. Each field keeps its
 * raw bytes (name, colon, value, every folded continuation line and the
 * final CRLF) so that a message re-serialised without changes is byte for
 * byte the original; DKIM and ARC depend on it. Line ends are kept as they
 * are (CRLF, or LF in files read from disk).
 *
 * Like hiredis's reader, the parser does no I/O: it is given the whole
 * message (or its header section) in memory. Limits: at most max_fields
 * fields and max_field_len bytes per field (folded), both set at parse time;
 * going over gives HDR_ERR_LIMIT. A line that is not a field and not a
 * continuation ends the header section only if it is empty; anything else
 * gives HDR_ERR_SYNTAX (a caller may choose to treat that as "body starts").
 *
 * Ownership: hdr_parse() returns a hdr_msg owned by the caller, freed with
 * hdr_msg_free() (accepts NULL). It copies the input. Strings returned by
 * hdr_get_value() are malloc'd for the caller.
 */
#ifndef MAILYARD_HDR_H
#define MAILYARD_HDR_H

#include <stddef.h>
#include "buf.h"

enum hdr_error { HDR_OK = 0, HDR_ERR_SYNTAX, HDR_ERR_LIMIT };

typedef struct hdr_field {
    char  *raw;        /* owned: "Name: value\r\n" including folding */
    size_t raw_len;
    size_t name_len;   /* raw[0..name_len) is the field name */
} hdr_field;

typedef struct hdr_msg {
    hdr_field *fields;  /* owned array, in message order */
    size_t     nfields;
    size_t     cap;
    char      *body;    /* owned: bytes after the empty line (may be empty) */
    size_t     body_len;
    const char *eol;    /* "\r\n" or "\n": the line end the message uses */
    const char *sep;    /* static: the empty line as read ("\r\n" or "\n"),
                         * or "" when the input had none; serialised as is */
} hdr_msg;

hdr_msg *hdr_parse(const char *msg, size_t len, size_t max_fields,
                   size_t max_field_len, enum hdr_error *err);
void     hdr_msg_free(hdr_msg *m);
/* Index of the n-th (0-based) field named name (case-insensitive), or -1. */
long     hdr_find(const hdr_msg *m, const char *name, size_t nth);
size_t   hdr_count(const hdr_msg *m, const char *name);
/* Unfolded value of the first field named name, leading/trailing white
 * space removed; NULL if absent. Caller frees. */
char    *hdr_get_value(const hdr_msg *m, const char *name);
/* Unfolded value of field index i. Caller frees. */
char    *hdr_field_value(const hdr_msg *m, size_t i);
/* Insert "Name: value<eol>" at position pos (0 = top; nfields = bottom).
 * value is used as given (caller folds long values). Returns 0 or -1. */
int      hdr_insert(hdr_msg *m, size_t pos, const char *name, const char *value);
int      hdr_add_top(hdr_msg *m, const char *name, const char *value);
/* Replace field i's value (keeps its position). */
int      hdr_replace(hdr_msg *m, size_t i, const char *name, const char *value);
/* Remove field i. */
void     hdr_remove(hdr_msg *m, size_t i);
/* Remove every field named name; returns how many. */
size_t   hdr_remove_all(hdr_msg *m, const char *name);
/* Serialise header fields, the empty line and the body into out. */
int      hdr_serialize(const hdr_msg *m, buf *out);
/* Appends text (UTF-8, no CR/LF) as an RFC 5322 phrase: atoms, a quoted
 * string, or RFC 2047 encoded words (hdr_phrase.c). 0 or -1 (out full). */
int      hdr_phrase_append(buf *out, const char *text);

#endif
