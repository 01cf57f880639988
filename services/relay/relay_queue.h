/*
 * relay_queue.h - queue control (docs/queue.md, docs/api/relay.yaml): the
 * operator's actions on relay.deliveries (relay_queue_act.c), the
 * qshape-like summary (relay_queue_summary.c), the attempt log of one
 * delivery (relay_queue_show.c), and the outcome recorder that also logs
 * TLS details (relay_db.c).
 *
 * The HTTP handlers borrow the relay_state given at registration and a
 * pooled connection for the request only. Actions run in one transaction:
 * they change the rows, then wake the jobs concerned (due_at = now(),
 * published_at = NULL, so the relay's sweeper publishes them within
 * MAILYARD_SWEEP_MS).
 */
#ifndef MAILYARD_RELAY_QUEUE_H
#define MAILYARD_RELAY_QUEUE_H

#include <jansson.h>
#include <libpq-fe.h>

#include "relay.h"

/* A job whose only remaining rows are held is looked at again after this
 * long (release wakes it at once). */
#define RELAY_QUEUE_HELD_RECHECK_SECONDS 3600
/* Queue ids are [0-9A-Z]{12} (spool_queue_id_new); accept alnum < 32. */
#define RELAY_QUEUE_ID_MAX 31

/* Records an outcome on a row: state "delivered" / "bounced" / "pending"
 * (deferred: next_attempt_at = now + delay seconds, but never later than
 * created_at + max_age, so an expiring row is bounced on time), the
 * attempt with its TLS version, cipher and verification result, and the
 * trace event (event, detail) of the message and job, in one statement.
 * o->host "" is stored as NULL. */
int  relay_db_record(db_conn *c, int64_t id, const char *state, int attempts, long delay,
                     long max_age, const relay_outcome *o, int64_t message_id,
                     int64_t job_id, const char *event, const json_t *detail);

/* relay_queue_act.c: POST /v1/queue/flush and /v1/queue/{qid}/{action};
 * relay_queue_summary.c: GET /v1/queue/summary. Registered by
 * relay_api_register() before GET /v1/queue/{qid}. 0 or -1. */
int  relay_queue_act_register(service *svc, relay_state *st);
int  relay_queue_summary_register(service *svc, relay_state *st);
/* relay_api_dpol.c: GET /v1/destinations (domain policies, relay_dpol.h). */
int  relay_api_dpol_register(service *svc, relay_state *st);

/* relay_queue_show.c: adds "history" (the attempt log, oldest first) to
 * every delivery object of arr (each has "id"). 0 or -1 (database). */
int  relay_queue_history_add(db_conn *c, json_t *arr);

/* 1 when qid looks like a queue id (non-empty, alnum, short). */
int  relay_queue_id_ok(const char *qid);
/* A text column as a JSON string (bytes that are not UTF-8 become '?'),
 * or null. */
json_t *relay_queue_text(PGresult *r, int row, int col);

#endif
