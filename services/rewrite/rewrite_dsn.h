/*
 * rewrite_dsn.h - the RFC 3461 parameters that follow a recipient through
 * rewriting: for each recipient of a relay group, the NOTIFY and ORCPT
 * that mx stored for the envelope recipient it came from (spool rcpt_dsn),
 * with ORCPT defaulting to "rfc822;<envelope recipient>" when the target
 * differs (an alias expansion), so the DSN names the address the sender
 * used. Lists are not concerned: a list post is a new message from the
 * list (RFC 3461 §6.2.7.3, the poster's parameters stop there).
 *
 * Ownership: returns a new JSON reference (the caller decrefs) or NULL.
 */
#ifndef MAILYARD_REWRITE_DSN_H
#define MAILYARD_REWRITE_DSN_H

#include <jansson.h>

#include "rewrite_plan.h"
#include "spool.h"

/* The relay payload's "dsn" array, parallel to g->rcpts: null or
 * {"notify": ..., "orcpt": ...} per recipient; NULL when every entry
 * would be null. */
json_t *rewrite_dsn_params(const spool_message *msg, const rewrite_relay_group *g);

#endif
