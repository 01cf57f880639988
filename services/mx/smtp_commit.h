/*
 * smtp_commit.h - the durability step of mx: after the final dot, run
 * sender authentication (smtp_auth.h: Authentication-Results added, and a
 * DMARC refusal decided here, before anything is stored), the spam scan
 * (smtp_rspamd.h: X-Spam-* fields, or a refusal), prepend
 * Received: (it stays the topmost field), then in ONE PostgreSQL
 * transaction insert the message into the spool, create its "rewrite" job,
 * the "authenticated" and "accepted" trace events, and COMMIT. Only a successful commit lets the session answer 250; a failure
 * gives 451 4.3.0 and nothing is stored (the client retries).
 *
 * Publishing the new job on Redis happens after the 250 has been written
 * (smtp_commit_publish); if it fails the sweeper publishes the job later.
 *
 * Ownership: env and its pointers are borrowed (server-owned). The jobs
 * list is filled for the caller, who passes it to smtp_commit_publish(),
 * which releases it.
 */
#ifndef MAILYARD_SMTP_COMMIT_H
#define MAILYARD_SMTP_COMMIT_H

#include <stddef.h>
#include "db.h"
#include "metrics.h"
#include "spool.h"
#include "smtp_auth.h"
#include "smtp_rspamd.h"
#include "smtp_session.h"

struct jobq;

typedef struct smtp_commit_env {
    db_pool        *db;
    const char     *hostname;
    int             db_timeout_ms;
    metrics_family *accepted;        /* mailyard_smtp_messages_accepted_total */
    metrics_family *accept_seconds;  /* mailyard_smtp_accept_seconds */
    smtp_auth      *auth;            /* sender authentication; NULL: off */
    smtp_rspamd    *rspamd;          /* spam scanning (smtp_rspamd.h); NULL: off */
} smtp_commit_env;

/* Stores tx (which must have at least one recipient) for session s.
 * Takes tx->data.body's bytes. Returns 0 with qid and jobs filled, or -1
 * (with tx->reply_code/reply_text set when the message is refused by the
 * DMARC policy: 550 5.7.1 or 451 4.7.0, or by the spam scan: 550 5.7.1 or
 * 451 4.7.1). */
int  smtp_commit_message(const smtp_commit_env *env, const smtp_session *s,
                         smtp_tx *tx, char *qid, size_t qidlen, spool_jobs *jobs);
/* The client of a message, for the Received field and the trace event. */
typedef struct smtp_commit_client {
    const char *ip;                  /* borrowed */
    const char *helo;                /* borrowed, "" if none */
    const char *proto;               /* Received "with" (RFC 3848), borrowed */
    int         tls;
    double      t0;                  /* CLOCK_MONOTONIC seconds at the end of
                                      * data, for accept_seconds; 0: now */
    const char *qid;                 /* the queue id to store under (borrowed);
                                      * NULL: a new one */
} smtp_commit_client;

/* The same store for a message that did not come through an smtp_session
 * (milter mode, milter_server.h): cl describes the client, auth is the
 * outcome of the sender authentication the caller already ran (NULL or
 * not checked: no "authenticated" event). Same ownership and result as
 * smtp_commit_message, without a DMARC refusal. */
int  smtp_commit_message_client(const smtp_commit_env *env, const smtp_commit_client *cl,
                                smtp_tx *tx, const smtp_auth_outcome *auth,
                                char *qid, size_t qidlen, spool_jobs *jobs);
/* Publishes jobs on q (which may be NULL: left to the sweeper) and marks
 * them published; releases the list. */
void smtp_commit_publish(const smtp_commit_env *env, struct jobq *q, spool_jobs *jobs);
/* The Message-ID header value of raw (header section only), or NULL.
 * Caller frees. */
char *smtp_commit_message_id(const char *raw, size_t len);

#endif
