/*
 * rewrite_verp.h - matching a bounce that comes back to a VERP address of
 * a list (relay_verp.h writes them: <list>-bounces+member=domain@listdomain
 * with MAILYARD_VERP_DELIMITERS "+=" by default) to the list copy it
 * returns and the member it was sent to.
 *
 * The address still reaches the list's -bounces (rewrite strips the
 * +extension, lists records "bounce_received"); this adds, on the
 * bounce, "verp_bounce" {"member", "list_bounces"} and, when the returned
 * Message-ID (rewrite_bounce.h) finds the list copy (envelope sender
 * <list>-bounces@listdomain), "bounce_received" on that copy with the
 * member and "bounce_matched" on the bounce. The member also goes to lists
 * in the payload of the bounce's lists job ("verp_member"), where it
 * counts against the member (services/lists/lists_verp.c).
 */
#ifndef MAILYARD_REWRITE_VERP_H
#define MAILYARD_REWRITE_VERP_H

#include <stddef.h>

#include "rewrite_plan.h"
#include "spool.h"
#include "worker.h"

/* Decodes addr ("x-bounces+m=d@l", delimiters delims) into the member
 * ("m@d") and the plain bounce address ("x-bounces@l"). 0, or -1 when addr
 * is not a VERP address. Pure. */
int rewrite_verp_decode(const char *addr, const char delims[2], char *member, size_t mlen,
                        char *bounces, size_t blen);
#define REWRITE_VERP_ADDR_MAX 320

/* The member of the VERP address through which the plan reached list (the
 * plain list address of a "to_list" event whose "via" decodes), for the
 * lists job payload ("verp_member": lists counts the member's bounces).
 * 0, or -1 when list was not reached through a VERP address. */
int rewrite_verp_member_for(const rewrite_plan *p, const char *list, const char delims[2],
                            char *member, size_t mlen);
/* Records the events above for every VERP recipient of msg (the plan's
 * "to_list" events with a "via"). 0, or -1 on a database error. */
int rewrite_verp_match(worker_job_ctx *ctx, const spool_message *msg, const rewrite_plan *p,
                       const char delims[2]);

#endif
