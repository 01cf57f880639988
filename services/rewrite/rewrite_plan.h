/*
 * rewrite_plan.h - what the rewrite stage does with one message, decided
 * without touching the database: the "plan" that rewrite_job.c then
 * carries out in the job's transaction.
 *
 * For each envelope recipient (normalised, duplicates ignored) the
 * classification (rewrite_classify.h) decides:
 *   alias    expanded recursively. Targets in our domains are classified
 *            again (alias, list, SRS; unknown ones bounce); off-domain
 *            targets are relayed with the SRS-forwarded envelope sender
 *            (srs_forward(sender) under the SRS domain, or the root alias's
 *            domain when none is configured; the null sender and senders
 *            already in the SRS domain stay as they are). A target already
 *            on the current expansion path is a loop: that branch is
 *            dropped with an "alias_loop" event; so is a branch deeper than
 *            max_depth. A target seen before on another branch is a
 *            duplicate and skipped. An alias whose every branch looped
 *            bounces with 5.4.6.
 *   list     a "lists" job for the list.
 *   srs      our own SRS address (a bounce coming back): relayed to the
 *            reversed original address with the message's sender as is.
 *   foreign  relayed as is.
 *   unknown, forged/expired SRS, invalid syntax: bounced (5.1.1, 5.1.3).
 * Relay recipients are grouped by envelope sender (one group per distinct
 * sender) and each final recipient is relayed at most once. Addresses are
 * compared lower-case but relayed as written (a foreign local part may be
 * case-sensitive); list addresses and alias roots are reported lower-case.
 *
 * Every decision is recorded as an event {"event": name, "detail": {...}}
 * in plan->events: "rewritten", "to_list", "srs_reversed", "foreign",
 * "unknown_recipient", "srs_invalid", "alias_loop", "expansion_limit",
 * "srs_error".
 *
 * Ownership: the plan owns everything in it; rewrite_plan_release() frees
 * it (and accepts a zeroed plan). Inputs are not kept.
 */
#ifndef MAILYARD_REWRITE_PLAN_H
#define MAILYARD_REWRITE_PLAN_H

#include <stddef.h>
#include <time.h>
#include <jansson.h>

#include "rewrite_classify.h"
#include "strlist.h"

typedef struct rewrite_plan_opts {
    int    max_depth;        /* nesting limit of aliases (10) */
    size_t max_targets;      /* targets visited per recipient (1000) */
} rewrite_plan_opts;

typedef struct rewrite_relay_group {
    char   *mail_from;       /* owned; "" for the null sender */
    strlist rcpts;
    strlist roots;           /* parallel to rcpts: the envelope recipient each
                                one came from (for its DSN parameters) */
} rewrite_relay_group;

typedef struct rewrite_bounce {
    char       *rcpt;        /* owned */
    const char *status;      /* static: "5.1.1", "5.1.3", "5.4.6" */
    char       *diagnostic;  /* owned */
} rewrite_bounce;

typedef struct rewrite_plan {
    rewrite_relay_group *relays;   /* owned array */
    size_t               nrelays, relays_cap;
    strlist              lists;    /* list addresses, each once */
    rewrite_bounce      *bounces;  /* owned array */
    size_t               nbounces, bounces_cap;
    json_t              *events;   /* owned array of event objects */
    strlist              relayed;  /* every relay recipient (dedup) */
    strlist              seen;     /* envelope recipients handled */
} rewrite_plan;

/* Builds the plan for a message with envelope sender mail_from ("" for
 * null) and recipients rcpts. Returns REWRITE_OK, or the transient error
 * that stopped it (the plan is then released). */
enum rewrite_err rewrite_plan_build(const rewrite_resolver *r,
                                    const rewrite_srs_conf *srs,
                                    const rewrite_plan_opts *o,
                                    const char *mail_from,
                                    char *const *rcpts, size_t nrcpts,
                                    time_t now, rewrite_plan *out);
void rewrite_plan_release(rewrite_plan *p);
/* The relay group for mail_from, or NULL. */
const rewrite_relay_group *rewrite_plan_group(const rewrite_plan *p,
                                              const char *mail_from);

#endif
