/*
 * jobq.c - the Redis Streams side of the job protocol, on hiredis (see
 * jobq.h).
 *
 * Owns: one hiredis context (connected lazily, reconnected on the next call
 * after any I/O error), copies of the URL parts, password and consumer name,
 * and per-stage read state (the XAUTOCLAIM cursor and whether this
 * consumer's own pending list has been drained since start).
 *
 * Reading order (jobq_read): XAUTOCLAIM entries idle longer than
 * claim_idle_ms (asked at most every JOBQ_CLAIM_EVERY_MS, or claim_idle_ms
 * when that is shorter, while it finds nothing: an entry cannot become
 * claimable faster than it idles, and asking before every read doubled the
 * Redis round trips per job); then this consumer's own pending entries, read once after
 * start (a restart with the same name) and never again, so that an entry
 * left unacked by a WORKER_ERROR is retried only after claim_idle_ms instead
 * of blocking the consumer; then new entries with XREADGROUP BLOCK.
 *
 * A missing group (NOGROUP: first start, FLUSHALL, Redis restart) is
 * created with XGROUP CREATE key group 0 MKSTREAM and the call reports "no
 * entry". The group starts at 0, not $, so that entries added between the
 * loss and the re-creation (a producer's XADD recreates the stream) are not
 * skipped; duplicates are harmless, consumers are idempotent.
 *
 * Streams are capped (XADD MAXLEN ~ JOBQ_STREAM_MAXLEN); an entry trimmed
 * before it was read is recovered by the sweeper like any lost entry.
 *
 * Trusts: the Redis server to speak RESP; replies are checked for type
 * before use. Entry field values are parsed strictly (job id > 0).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include <hiredis.h>

#include "jobq.h"
#include "log.h"
#include "xalloc.h"

#define JOBQ_CONNECT_TIMEOUT_MS 2000
#define JOBQ_COMMAND_TIMEOUT_MS 5000
#define JOBQ_STREAM_MAXLEN      "100000"
#define JOBQ_STAGE_MAX          32
#define JOBQ_CLAIM_EVERY_MS     1000

struct jobq {
    char        *host;             /* owned */
    int          port;
    int          db;
    char        *password;         /* owned, may be NULL; wiped on free */
    char        *consumer;         /* owned */
    redisContext *ctx;             /* owned; NULL when disconnected */
    int          timeout_ms;       /* current command timeout on ctx */
    /* Read state, for the stage last read. */
    char         stage[JOBQ_STAGE_MAX];
    char         claim_cursor[64]; /* XAUTOCLAIM start */
    char         own_cursor[64];   /* own-PEL read position */
    int          own_drained;      /* own pending list read since start */
    long long    claim_next_ms;    /* CLOCK_MONOTONIC ms of the next XAUTOCLAIM */
};

static int   jobq_parse_url(jobq *q, const char *url);
static int   jobq_connect(jobq *q);
static void  jobq_disconnect(jobq *q);
static redisReply *jobq_cmd(jobq *q, int timeout_ms, int argc, const char **argv);
static int   jobq_key(char *out, size_t outlen, const char *stage);
static int   jobq_is_nogroup(const redisReply *r);
static int   jobq_group_create(jobq *q, const char *key, const char *group);
static int   jobq_entry_parse(const redisReply *ent, jobq_entry *e);
static const redisReply *jobq_reply_entries(const redisReply *r);
static int   jobq_read_new(jobq *q, const char *stage, const char *key, int block_ms,
                           jobq_entry *e, int max);
static void  jobq_stage_select(jobq *q, const char *stage);
static long long jobq_now_ms(void);

jobq *jobq_create(const char *url, const char *password, const char *consumer)
{
    jobq *q = xcalloc(1, sizeof(*q));
    if (jobq_parse_url(q, url ? url : "") != 0) {
        log_error("jobq: malformed redis URL (want redis://[:password@]host:port[/db])");
        jobq_free(q);
        return NULL;
    }
    if (password != NULL && password[0] != '\0') {
        if (q->password != NULL) {
            explicit_bzero(q->password, strlen(q->password));
            free(q->password);
        }
        q->password = xstrdup(password);
    }
    q->consumer = xstrdup(consumer && consumer[0] ? consumer : "consumer");
    return q;
}

void jobq_free(jobq *q)
{
    if (q == NULL)
        return;
    jobq_disconnect(q);
    if (q->password != NULL) {
        explicit_bzero(q->password, strlen(q->password));
        free(q->password);
    }
    free(q->host);
    free(q->consumer);
    free(q);
}

int jobq_ping(jobq *q)
{
    const char *argv[] = { "PING" };
    redisReply *r = jobq_cmd(q, JOBQ_COMMAND_TIMEOUT_MS, 1, argv);
    int ok = r != NULL && r->type == REDIS_REPLY_STATUS && strcmp(r->str, "PONG") == 0;
    if (r != NULL)
        freeReplyObject(r);
    return ok ? 0 : -1;
}

int jobq_publish(jobq *q, const char *stage, int64_t job_id)
{
    char key[96], id[24];
    if (jobq_key(key, sizeof(key), stage) != 0)
        return -1;
    (void)snprintf(id, sizeof(id), "%" PRId64, job_id);
    const char *argv[] = { "XADD", key, "MAXLEN", "~", JOBQ_STREAM_MAXLEN, "*", "job", id };
    redisReply *r = jobq_cmd(q, JOBQ_COMMAND_TIMEOUT_MS, 8, argv);
    int ok = r != NULL && r->type == REDIS_REPLY_STRING;
    if (r != NULL && !ok)
        log_warn("jobq: XADD failed", "stage", stage, "job_id", id,
                 "error", r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
    if (r != NULL)
        freeReplyObject(r);
    return ok ? 0 : -1;
}

int jobq_ack(jobq *q, const char *stage, const char *entry_id)
{
    return jobq_ack_many(q, stage, &entry_id, 1);
}

int jobq_ack_many(jobq *q, const char *stage, const char *const *entry_ids, int n)
{
    char key[96];
    if (n <= 0)
        return 0;
    if (jobq_key(key, sizeof(key), stage) != 0)
        return -1;
    const char **argv = xcalloc((size_t)n + 3, sizeof(*argv));
    argv[0] = "XACK";
    argv[1] = key;
    argv[2] = stage;
    for (int i = 0; i < n; i++)
        argv[3 + i] = entry_ids[i];
    redisReply *r = jobq_cmd(q, JOBQ_COMMAND_TIMEOUT_MS, n + 3, argv);
    free(argv);
    int ok = r != NULL && r->type == REDIS_REPLY_INTEGER;
    if (r != NULL && !ok)
        log_warn("jobq: XACK failed", "stage", stage,
                 "error", r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
    if (r != NULL)
        freeReplyObject(r);
    return ok ? 0 : -1;
}

int jobq_read(jobq *q, const char *stage, int block_ms, long claim_idle_ms, jobq_entry *e)
{
    char key[96], idle[24];
    if (jobq_key(key, sizeof(key), stage) != 0)
        return -1;
    jobq_stage_select(q, stage);
    memset(e, 0, sizeof(*e));
    (void)snprintf(idle, sizeof(idle), "%ld", claim_idle_ms > 0 ? claim_idle_ms : 0);

    /* 1. Entries a dead (or stuck) consumer left behind. */
    long long now = jobq_now_ms();
    if (now < q->claim_next_ms)
        goto own;
    const char *ac[] = { "XAUTOCLAIM", key, stage, q->consumer, idle, q->claim_cursor,
                         "COUNT", "1" };
    redisReply *r = jobq_cmd(q, JOBQ_COMMAND_TIMEOUT_MS, 8, ac);
    if (r == NULL)
        return -1;
    if (jobq_is_nogroup(r)) {
        freeReplyObject(r);
        return jobq_group_create(q, key, stage);
    }
    if (r->type != REDIS_REPLY_ARRAY || r->elements < 2 ||
        r->element[0]->type != REDIS_REPLY_STRING ||
        r->element[1]->type != REDIS_REPLY_ARRAY) {
        log_warn("jobq: XAUTOCLAIM failed", "stage", stage,
                 "error", r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
        freeReplyObject(r);
        return -1;
    }
    (void)str_copy(q->claim_cursor, sizeof(q->claim_cursor), r->element[0]->str);
    /* Ask again at once while a scan is under way or it found something. */
    if (strcmp(q->claim_cursor, "0-0") == 0 && r->element[1]->elements == 0)
        q->claim_next_ms = now + (claim_idle_ms > 0 && claim_idle_ms < JOBQ_CLAIM_EVERY_MS
                                  ? claim_idle_ms : JOBQ_CLAIM_EVERY_MS);
    for (size_t i = 0; i < r->element[1]->elements; i++) {
        (void)jobq_entry_parse(r->element[1]->element[i], e);
        if (e->entry_id[0] != '\0') {     /* job_id 0 if malformed: ack and skip */
            e->retry = 1;
            freeReplyObject(r);
            log_info("jobq: claimed an idle entry", "stage", stage, "entry", e->entry_id);
            return 1;
        }
    }
    freeReplyObject(r);

own:
    /* 2. This consumer's own pending entries, once after start. */
    while (!q->own_drained) {
        const char *pc[] = { "XREADGROUP", "GROUP", stage, q->consumer, "COUNT", "1",
                             "STREAMS", key, q->own_cursor };
        r = jobq_cmd(q, JOBQ_COMMAND_TIMEOUT_MS, 9, pc);
        if (r == NULL)
            return -1;
        if (jobq_is_nogroup(r)) {
            freeReplyObject(r);
            return jobq_group_create(q, key, stage);
        }
        /* Reply: [[key, [entry...]]] */
        const redisReply *ents = jobq_reply_entries(r);
        if (ents == NULL && r->type != REDIS_REPLY_NIL) {
            log_warn("jobq: XREADGROUP (own pending) failed", "stage", stage,
                     "error", r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
            freeReplyObject(r);
            return -1;
        }
        if (ents == NULL || ents->elements == 0) {
            q->own_drained = 1;
            freeReplyObject(r);
            break;
        }
        const redisReply *ent = ents->element[0];
        int ok = jobq_entry_parse(ent, e);
        /* Advance past it even if malformed (a deleted entry has no fields). */
        if (ent->type == REDIS_REPLY_ARRAY && ent->elements >= 1 &&
            ent->element[0]->type == REDIS_REPLY_STRING)
            (void)str_copy(q->own_cursor, sizeof(q->own_cursor), ent->element[0]->str);
        else
            q->own_drained = 1;
        freeReplyObject(r);
        e->retry = 1;
        if (ok == 0 || e->entry_id[0] != '\0')
            return 1;                  /* a malformed one is acked by the caller */
    }

    /* 3. New entries. */
    return jobq_read_new(q, stage, key, block_ms > 0 ? block_ms : 1, e, 1);
}

int jobq_read_more(jobq *q, const char *stage, jobq_entry *e, int max)
{
    char key[96];
    if (max <= 0)
        return 0;
    if (jobq_key(key, sizeof(key), stage) != 0)
        return -1;
    jobq_stage_select(q, stage);
    return jobq_read_new(q, stage, key, 0, e, max);
}

/* XREADGROUP ... COUNT max [BLOCK block_ms] STREAMS key ">": up to max new
 * entries into e[0..] (a malformed one comes back with job_id 0, for the
 * caller to ack). block_ms 0: only what is waiting, and a missing group is
 * "nothing" (the next jobq_read recreates it); otherwise a missing group is
 * created here. Returns the count, or -1. */
static int jobq_read_new(jobq *q, const char *stage, const char *key, int block_ms,
                         jobq_entry *e, int max)
{
    char count[16], block[24];
    (void)snprintf(count, sizeof(count), "%d", max);
    (void)snprintf(block, sizeof(block), "%d", block_ms);
    const char *nc[] = { "XREADGROUP", "GROUP", stage, q->consumer, "COUNT", count,
                         "BLOCK", block, "STREAMS", key, ">" };
    if (block_ms == 0) {        /* without BLOCK */
        nc[6] = "STREAMS";
        nc[7] = key;
        nc[8] = ">";
    }
    redisReply *r = jobq_cmd(q, block_ms + JOBQ_COMMAND_TIMEOUT_MS, block_ms > 0 ? 11 : 9, nc);
    if (r == NULL)
        return -1;
    if (jobq_is_nogroup(r)) {
        freeReplyObject(r);
        return block_ms > 0 ? jobq_group_create(q, key, stage) : 0;
    }
    /* NIL: timed out or nothing waiting. UNBLOCKED: the stream was deleted
     * while we waited (FLUSHALL); the next call recreates the group. */
    if (r->type == REDIS_REPLY_NIL ||
        (r->type == REDIS_REPLY_ERROR && strncmp(r->str, "UNBLOCKED", 9) == 0)) {
        freeReplyObject(r);
        return 0;
    }
    const redisReply *ents = jobq_reply_entries(r);
    if (ents == NULL) {
        log_warn("jobq: XREADGROUP failed", "stage", stage,
                 "error", r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
        freeReplyObject(r);
        return -1;
    }
    int n = 0;
    for (size_t i = 0; i < ents->elements && n < max; i++) {
        memset(&e[n], 0, sizeof(e[n]));
        (void)jobq_entry_parse(ents->element[i], &e[n]);
        if (e[n].entry_id[0] != '\0')
            n++;
    }
    freeReplyObject(r);
    return n;
}

/* ---- internals ---- */

/* The entries of an XREADGROUP reply of one stream, [[key, [entry...]]],
 * or NULL when it has another shape. Borrowed from r. */
static const redisReply *jobq_reply_entries(const redisReply *r)
{
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 1 &&
        r->element[0]->type == REDIS_REPLY_ARRAY && r->element[0]->elements == 2 &&
        r->element[0]->element[1]->type == REDIS_REPLY_ARRAY)
        return r->element[0]->element[1];
    return NULL;
}

static long long jobq_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void jobq_stage_select(jobq *q, const char *stage)
{
    if (strcmp(q->stage, stage) == 0)
        return;
    (void)str_copy(q->stage, sizeof(q->stage), stage);
    (void)str_copy(q->claim_cursor, sizeof(q->claim_cursor), "0-0");
    (void)str_copy(q->own_cursor, sizeof(q->own_cursor), "0");
    q->own_drained = 0;
    q->claim_next_ms = 0;
}

static int jobq_key(char *out, size_t outlen, const char *stage)
{
    if (stage == NULL || stage[0] == '\0' || strlen(stage) >= JOBQ_STAGE_MAX) {
        log_error("jobq: bad stage name");
        return -1;
    }
    return snprintf(out, outlen, "mailyard:stage:%s", stage) < (int)outlen ? 0 : -1;
}

static int jobq_is_nogroup(const redisReply *r)
{
    return r->type == REDIS_REPLY_ERROR && strncmp(r->str, "NOGROUP", 7) == 0;
}

/* Creates the group (and stream); returns 0 ("no entry") or -1. */
static int jobq_group_create(jobq *q, const char *key, const char *group)
{
    const char *argv[] = { "XGROUP", "CREATE", key, group, "0", "MKSTREAM" };
    redisReply *r = jobq_cmd(q, JOBQ_COMMAND_TIMEOUT_MS, 6, argv);
    if (r == NULL)
        return -1;
    int ok = r->type == REDIS_REPLY_STATUS ||
             (r->type == REDIS_REPLY_ERROR && strncmp(r->str, "BUSYGROUP", 9) == 0);
    if (!ok)
        log_warn("jobq: XGROUP CREATE failed", "stream", key,
                 "error", r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
    else if (r->type == REDIS_REPLY_STATUS)
        log_info("jobq: consumer group created", "stream", key);
    freeReplyObject(r);
    /* A fresh group: nothing of ours is pending any more. */
    (void)str_copy(q->claim_cursor, sizeof(q->claim_cursor), "0-0");
    q->own_drained = 1;
    return ok ? 0 : -1;
}

/* Entry [id, [field, value, ...]]. Fills e->entry_id when the id is there
 * and e->job_id when the "job" field is a positive integer. Returns 0 when
 * both are, -1 otherwise (e->job_id left 0: ack and skip). */
static int jobq_entry_parse(const redisReply *ent, jobq_entry *e)
{
    memset(e, 0, sizeof(*e));
    if (ent == NULL || ent->type != REDIS_REPLY_ARRAY || ent->elements < 1 ||
        ent->element[0]->type != REDIS_REPLY_STRING ||
        str_copy(e->entry_id, sizeof(e->entry_id), ent->element[0]->str) != 0) {
        e->entry_id[0] = '\0';
        return -1;
    }
    if (ent->elements < 2 || ent->element[1]->type != REDIS_REPLY_ARRAY)
        return -1;
    const redisReply *f = ent->element[1];
    for (size_t i = 0; i + 1 < f->elements; i += 2) {
        if (f->element[i]->type != REDIS_REPLY_STRING ||
            f->element[i + 1]->type != REDIS_REPLY_STRING ||
            strcmp(f->element[i]->str, "job") != 0)
            continue;
        const char *s = f->element[i + 1]->str;
        char *end = NULL;
        errno = 0;
        long long v = strtoll(s, &end, 10);
        if (errno == 0 && end != s && *end == '\0' && v > 0) {
            e->job_id = v;
            return 0;
        }
        return -1;
    }
    return -1;
}

static int jobq_parse_url(jobq *q, const char *url)
{
    const char *p = url;
    if (strncmp(p, "redis://", 8) != 0)
        return -1;
    p += 8;
    const char *at = strrchr(p, '@');
    if (at != NULL) {
        /* [user]:password@ ; the user part is ignored (AUTH password). */
        const char *colon = memchr(p, ':', (size_t)(at - p));
        if (colon != NULL && at > colon + 1)
            q->password = xstrndup(colon + 1, (size_t)(at - colon - 1));
        p = at + 1;
    }
    const char *host_end;
    const char *rest;
    if (*p == '[') {
        host_end = strchr(p, ']');
        if (host_end == NULL)
            return -1;
        q->host = xstrndup(p + 1, (size_t)(host_end - p - 1));
        rest = host_end + 1;
    } else {
        host_end = p + strcspn(p, ":/");
        q->host = xstrndup(p, (size_t)(host_end - p));
        rest = host_end;
    }
    if (q->host[0] == '\0')
        return -1;
    q->port = 6379;
    if (*rest == ':') {
        char *end = NULL;
        long port = strtol(rest + 1, &end, 10);
        if (end == rest + 1 || port <= 0 || port > 65535)
            return -1;
        q->port = (int)port;
        rest = end;
    }
    q->db = 0;
    if (*rest == '/') {
        if (rest[1] != '\0') {
            char *end = NULL;
            long db = strtol(rest + 1, &end, 10);
            if (end == rest + 1 || *end != '\0' || db < 0 || db > 1000000)
                return -1;
            q->db = (int)db;
        }
    } else if (*rest != '\0') {
        return -1;
    }
    return 0;
}

static void jobq_disconnect(jobq *q)
{
    if (q->ctx != NULL)
        redisFree(q->ctx);
    q->ctx = NULL;
}

static int jobq_set_timeout(jobq *q, int ms)
{
    if (q->timeout_ms == ms)
        return 0;
    struct timeval tv = { .tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000 };
    if (redisSetTimeout(q->ctx, tv) != REDIS_OK)
        return -1;
    q->timeout_ms = ms;
    return 0;
}

static int jobq_connect(jobq *q)
{
    struct timeval tv = { .tv_sec = JOBQ_CONNECT_TIMEOUT_MS / 1000,
                          .tv_usec = (JOBQ_CONNECT_TIMEOUT_MS % 1000) * 1000 };
    q->ctx = redisConnectWithTimeout(q->host, q->port, tv);
    if (q->ctx == NULL || q->ctx->err) {
        log_warn("jobq: cannot connect to redis", "error",
                 q->ctx ? q->ctx->errstr : "out of memory");
        jobq_disconnect(q);
        return -1;
    }
    q->timeout_ms = 0;
    if (jobq_set_timeout(q, JOBQ_COMMAND_TIMEOUT_MS) != 0) {
        jobq_disconnect(q);
        return -1;
    }
    if (q->password != NULL) {
        redisReply *r = redisCommand(q->ctx, "AUTH %s", q->password);
        int ok = r != NULL && r->type == REDIS_REPLY_STATUS;
        if (!ok)
            log_warn("jobq: redis AUTH failed", "error",
                     r && r->type == REDIS_REPLY_ERROR ? r->str : q->ctx->errstr);
        if (r != NULL)
            freeReplyObject(r);
        if (!ok) {
            jobq_disconnect(q);
            return -1;
        }
    }
    if (q->db != 0) {
        redisReply *r = redisCommand(q->ctx, "SELECT %d", q->db);
        int ok = r != NULL && r->type == REDIS_REPLY_STATUS;
        if (!ok)
            log_warn("jobq: redis SELECT failed", "error",
                     r && r->type == REDIS_REPLY_ERROR ? r->str : q->ctx->errstr);
        if (r != NULL)
            freeReplyObject(r);
        if (!ok) {
            jobq_disconnect(q);
            return -1;
        }
    }
    return 0;
}

/* Runs a command, connecting first if needed. NULL on an I/O error (the
 * context is dropped; the next call reconnects). An error reply is
 * returned to the caller. */
static redisReply *jobq_cmd(jobq *q, int timeout_ms, int argc, const char **argv)
{
    if (q->ctx != NULL && q->ctx->err)
        jobq_disconnect(q);
    if (q->ctx == NULL && jobq_connect(q) != 0)
        return NULL;
    if (jobq_set_timeout(q, timeout_ms) != 0) {
        jobq_disconnect(q);
        return NULL;
    }
    redisReply *r = redisCommandArgv(q->ctx, argc, argv, NULL);
    if (r == NULL) {
        log_warn("jobq: redis command failed", "command", argv[0],
                 "error", q->ctx->errstr);
        jobq_disconnect(q);
        return NULL;
    }
    return r;
}

struct redisReply *jobq_command(jobq *q, int timeout_ms, int argc, const char **argv)
{
    return jobq_cmd(q, timeout_ms, argc, argv);
}
