/*
 * authres.h - the Authentication-Results header field (RFC 8601): building
 * ours, and reading enough of incoming ones to find (and remove) those that
 * claim our authserv-id.
 *
 * Built value: "authserv-id; method=result (comment) ptype.prop=value ...;
 * method=result ..." with one method per clause, or "authserv-id; none"
 * without any. With fold set, every clause starts on a new line
 * ("\r\n\t"), ready for hdr_add_top(); without, it is one line (for
 * printing).
 *
 * Ownership: authres_builder owns its buffer until authres_finish() hands
 * the value to the caller (free()). Parsing functions allocate nothing.
 */
#ifndef MAILYARD_AUTHRES_H
#define MAILYARD_AUTHRES_H

#include <stddef.h>

#include "buf.h"
#include "hdr.h"

#define AUTHRES_MAX_LEN 16384

typedef struct authres_builder {
    buf b;
    int fold;
    int clauses;
} authres_builder;

/* Starts a value for authserv_id (a host name; quoted if it needs it). */
void  authres_begin(authres_builder *a, const char *authserv_id, int fold);
/* Adds "method=result" with an optional comment (NULL: none; parentheses,
 * backslashes and control characters are dropped) and property pairs
 * ("smtp.mailfrom", value, ...) ending with NULL. Values that are not a
 * token or an address are quoted. Returns 0, or -1 over AUTHRES_MAX_LEN. */
int   authres_add(authres_builder *a, const char *method, const char *result,
                  const char *comment, ...) __attribute__((sentinel));
/* Returns the value (caller frees) and releases the builder. */
char *authres_finish(authres_builder *a);

/* The authserv-id of a field value (comments and white space skipped).
 * Returns 0, or -1 when there is none or it does not fit. */
int    authres_authserv_id(const char *value, char *out, size_t outlen);

typedef struct authres_entry {
    char method[32];
    char result[32];
} authres_entry;

/* The method=result pairs of a field value (at most max; extra ignored).
 * Returns the number found, or -1 on a value without an authserv-id. */
int    authres_parse(const char *value, authres_entry *out, size_t max);

/* Removes every Authentication-Results field of m whose authserv-id is
 * authserv_id (case-insensitive). Returns how many were removed. */
size_t authres_remove_ours(hdr_msg *m, const char *authserv_id);

#endif
