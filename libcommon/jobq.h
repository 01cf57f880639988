/*
 * jobq.h - the Redis Streams side of the job protocol, on hiredis.
 *
 * Each stage has a stream "mailyard:stage:<stage>" and a consumer group
 * named after the stage. An entry has one field, "job", the spool job id;
 * it never carries the only copy of anything.
 *
 * jobq_read() returns, in order of preference: entries idle for more than
 * claim_idle_ms in the group's pending list (XAUTOCLAIM, consumers that
 * died), this consumer's own pending entries (after a restart with the same
 * name), then new entries (XREADGROUP ... >), blocking up to block_ms. A
 * missing stream or group (NOGROUP, e.g. after FLUSHALL) is recreated
 * (XGROUP CREATE ... $ MKSTREAM) and reported as no entry; the sweeper
 * republishes what was lost.
 *
 * Connection failures are reported as -1; the next call reconnects. One
 * jobq per thread (a hiredis context is not thread-safe).
 *
 * Ownership: jobq_create() copies its arguments; jobq_free() accepts NULL.
 */
#ifndef MAILYARD_JOBQ_H
#define MAILYARD_JOBQ_H

#include <stdint.h>
#include <stddef.h>

typedef struct jobq jobq;

typedef struct jobq_entry {
    char    entry_id[64];   /* stream entry id, for jobq_ack */
    int64_t job_id;         /* 0 if the entry was malformed (ack and skip) */
    int     retry;          /* 1: read before and not acked (claimed from a dead or
                               failed consumer, or this consumer's own pending list) */
} jobq_entry;

/* url: redis://[:password@]host:port[/db]; password may also come from
 * password (NULL if none). consumer: unique per process, e.g. host-pid. */
jobq *jobq_create(const char *url, const char *password, const char *consumer);
void  jobq_free(jobq *q);
int   jobq_ping(jobq *q);                                  /* 0 or -1 */
int   jobq_publish(jobq *q, const char *stage, int64_t job_id);
/* Returns 1 with *e filled, 0 when nothing arrived, -1 on error. */
int   jobq_read(jobq *q, const char *stage, int block_ms, long claim_idle_ms,
                jobq_entry *e);
/* After jobq_read gave an entry: up to max more new entries that are
 * already waiting (XREADGROUP COUNT max, no BLOCK), for a consumer that
 * handles several in one transaction. Returns how many were put in e[0..],
 * 0 when none, -1 on error. */
int   jobq_read_more(jobq *q, const char *stage, jobq_entry *e, int max);
int   jobq_ack(jobq *q, const char *stage, const char *entry_id);
/* XACK of n entries in one command. 0 or -1. */
int   jobq_ack_many(jobq *q, const char *stage, const char *const *entry_ids, int n);

/* Runs one command on q's connection (connecting first if needed), for
 * code that needs Redis beyond the job protocol (mx's rate limits). Waits
 * at most timeout_ms for the reply. Returns the reply, error replies
 * included, which the caller frees with freeReplyObject(); NULL on a
 * connection error (the next call reconnects). */
struct redisReply;
struct redisReply *jobq_command(jobq *q, int timeout_ms, int argc, const char **argv);

#endif
