/*
 * spool.h - the shared spool schema: messages, jobs and trace events.
 *
 * This is the job protocol of DESIGN.md, PostgreSQL side. A message is raw
 * bytes plus envelope. A job is one unit of work for a stage ("rewrite",
 * "lists", "archive", "relay") about one message, with a JSON payload and a
 * state: pending -> done | failed. A pending job with due_at <= now() is
 * runnable. published_at records the last time it was put on the stage's
 * Redis stream; the sweeper republishes runnable jobs that were never
 * published or whose publication is older than the stuck interval.
 *
 * Every function here runs on a connection the caller holds, normally inside
 * the caller's transaction, so a stage writes its outputs and its state
 * change atomically. Nothing here publishes to Redis: the caller collects
 * new job ids (spool_jobs) and publishes them after the commit (worker.h
 * does this for consumers).
 *
 * Payload conventions (JSON objects):
 *   rewrite: {}                       recipients = the message's rcpts
 *   lists:   {"list": addr, "mail_from": sender}
 *   archive: {"list": addr}
 *   relay:   {"mail_from": sender, "rcpts": [addr, ...],
 *             "dsn": [null | {"notify", "orcpt"}, ...]}  (optional, parallel
 *             to rcpts: docs/architecture.md, DSN parameters)
 */
#ifndef MAILYARD_SPOOL_H
#define MAILYARD_SPOOL_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <jansson.h>
#include "db.h"

typedef struct spool_message {
    int64_t id;
    char    queue_id[32];
    int64_t parent_id;         /* 0 if none */
    char   *mail_from;         /* owned; "" for the null sender */
    char  **rcpts;             /* owned array of owned strings */
    size_t  nrcpts;
    char   *client_ip;         /* owned, may be NULL */
    char   *helo;              /* owned, may be NULL */
    char   *message_id;        /* owned Message-ID header value, may be NULL */
    char   *origin;            /* owned: "mx", "lists", "dsn", ... */
    char   *raw;               /* owned raw message bytes */
    size_t  raw_len;
    /* Envelope extensions (libcommon/sql/002_dsn.sql); zero/NULL = absent. */
    int     smtputf8;          /* MAIL ... SMTPUTF8 (RFC 6531) */
    char   *dsn_ret;           /* owned, "FULL" or "HDRS" (RFC 3461 RET=), may be NULL */
    char   *dsn_envid;         /* owned ENVID= (xtext-decoded), may be NULL */
    json_t *rcpt_dsn;          /* owned array parallel to rcpts: null or
                                * {"notify": "SUCCESS,FAILURE"|"NEVER",
                                *  "orcpt": "rfc822;a@b"}; may be NULL */
} spool_message;

typedef struct spool_job {
    int64_t id;
    char    stage[16];
    int64_t message_id;
    json_t *payload;           /* owned */
    char    state[12];
    int     attempts;
    int     not_due;           /* due_at > now() when locked */
    char    queue_id[32];      /* its message's queue id ("" if none) */
} spool_job;

/* A growable list of job ids created in a transaction, to publish after the
 * commit. Embedded by value; spool_jobs_release() frees the array. */
typedef struct spool_jobs {
    struct { int64_t id; char stage[16]; } *items;
    size_t n, cap;
} spool_jobs;

/* Fills m->id. If m->queue_id is empty, fills it with a new random id
 * (spool_queue_id_new); a non-empty m->queue_id is used as given (mx puts
 * it in the Received header before the insert). The caller fills the other
 * fields; strings are copied into the database. */
int  spool_message_insert(db_conn *c, spool_message *m);
/* Loads a message by id; *out owned by caller. -1 if missing or on error. */
int  spool_message_load(db_conn *c, int64_t id, spool_message **out);
void spool_message_free(spool_message *m);
/* The newest message with Message-ID message_id other than exclude_id,
 * preferring one whose envelope sender is prefer_sender (case-insensitive).
 * Returns 1 with *id, 0 if none, -1 on error. */
int  spool_message_find_by_message_id(db_conn *c, const char *message_id,
                                      const char *prefer_sender, int64_t exclude_id,
                                      int64_t *id);
/* A new random queue id: 12 chars of [0-9A-Z] (RAND_bytes), into out
 * (at least 13 bytes). */
void spool_queue_id_new(char out[13]);

/* Creates a pending job due at due (0 = now) and records it in out (may be
 * NULL). Returns the job id, or -1. payload is not stolen. */
int64_t spool_job_create(db_conn *c, const char *stage, int64_t message_id,
                         const json_t *payload, time_t due, spool_jobs *out);
/* Locks a job (SELECT ... FOR UPDATE SKIP LOCKED). Returns 1 and *out when
 * locked, 0 when locked by someone else or missing, -1 on error. */
int  spool_job_lock(db_conn *c, int64_t job_id, spool_job **out);
/* Locks the jobs of ids at once, like spool_job_lock each: out[i] is the
 * job of ids[i] (owned by the caller) or NULL when it is locked elsewhere
 * or missing (an id given twice is filled at its first place only). 0, or -1 on a database error (all NULL). */
int  spool_job_lock_many(db_conn *c, const int64_t *ids, size_t n, spool_job **out);
void spool_job_free(spool_job *j);
int  spool_job_finish(db_conn *c, int64_t job_id, const char *state /* "done"/"failed" */);
/* spool_job_finish for n distinct jobs in one statement. 0 or -1. */
int  spool_job_finish_many(db_conn *c, const int64_t *ids, size_t n, const char *state);
/* Leaves the job pending, due at due, unpublished (the sweeper publishes it
 * when due). attempts is incremented. */
int  spool_job_defer(db_conn *c, int64_t job_id, time_t due);
/* Marks published_at = now() for a runnable job not yet published.
 * Returns 1 when marked (the caller then publishes it), 0 when there is
 * nothing to publish (already published by the sweeper, deferred or
 * finished), -1 on error. */
int  spool_job_mark_published(db_conn *c, int64_t job_id);
/* Runnable jobs of a stage that need (re)publishing: never published, or
 * published more than stuck_seconds ago. Marks them published. Up to limit;
 * ids written into out. Returns the count or -1. */
int  spool_job_claim_for_publish(db_conn *c, const char *stage, int stuck_seconds,
                                 int limit, spool_jobs *out);

void spool_jobs_add(spool_jobs *l, int64_t id, const char *stage);
void spool_jobs_release(spool_jobs *l);

/* Appends a trace event. detail may be NULL. job_id 0 for none. */
int  spool_event(db_conn *c, int64_t message_id, int64_t job_id,
                 const char *service, const char *event, const json_t *detail);

#endif
