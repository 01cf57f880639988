/*
 * ctl_virtual.h - parsing a Postfix virtual(5) alias table for
 * "mailyardctl alias import" into the entries of POST /v1/aliases:import.
 *
 * Accepted syntax (a subset of postmap's "hash:" text input):
 *   - "#" as the first non-blank character: a comment line; empty lines
 *     are skipped;
 *   - a line starting with white space continues the previous logical
 *     line (comments and empty lines do not end it);
 *   - "user@domain  target, target ..." : an alias (targets separated by
 *     commas and/or white space);
 *   - "@domain  target ..."              : the domain's catch-all;
 *   - "domain.example  anything"         : a virtual alias domain (the key
 *     has no '@' but a '.'; the value is ignored): the domain is created.
 * Anything else (a key without '@' and '.', a key without a value, a line
 * over CTL_VIRTUAL_MAX_LINE, a key already seen, compared case-
 * insensitively: postmap keeps the first) is an error for that line,
 * which is skipped.
 * Addresses are not validated here: the API checks them and reports
 * errors per line.
 *
 * Pure: no I/O. Ownership: the returned array and *errors are new
 * references for the caller.
 */
#ifndef MAILYARD_CTL_VIRTUAL_H
#define MAILYARD_CTL_VIRTUAL_H

#include <stddef.h>
#include <jansson.h>

#define CTL_VIRTUAL_MAX_LINE    65536   /* bytes of a logical line */
#define CTL_VIRTUAL_MAX_TARGETS 1000    /* targets of one key */

/* Returns [{"line":N,"domain":D} | {"line":N,"address":A,"targets":[...]}]
 * in file order (N: the first physical line of the entry, 1-based), and
 * in *errors [{"line":N,"message":M}]. Never NULL. */
json_t *ctl_virtual_parse(const char *text, size_t len, json_t **errors);

#endif
