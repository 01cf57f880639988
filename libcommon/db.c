/*
 * db.c - PostgreSQL connection pool on libpq, with statements prepared
 * automatically per connection and transaction tracking (see db.h).
 *
 * Owns: the pool (a fixed array of slots guarded by one mutex and condvar),
 * every PGconn in it, and each connection's statement cache (SQL text ->
 * statement name "s<N>"). Connections are opened lazily by the thread that
 * acquires a free slot, outside the mutex. A connection found broken
 * (PQstatus, or a failed prepare/exec that left it CONNECTION_BAD, or
 * unsolicited input such as a termination notice while idle) is closed and
 * reopened on the next acquire; its statement cache is dropped with it.
 *
 * Trusts: the DSN (from configuration) and the SQL text (from our code).
 * Parameter values may come from peers; they are always sent as parameters.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "db.h"
#include "log.h"
#include "xalloc.h"

#define DB_CONNECT_TIMEOUT "5"      /* seconds, unless the DSN says otherwise */
#define DB_STMT_MAX        512      /* cached statements per connection */

typedef struct db_stmt {
    uint64_t hash;
    char    *sql;                   /* owned copy of the SQL text */
    char     name[16];              /* "s<N>" */
} db_stmt;

struct db_conn {
    PGconn  *pg;                    /* owned; NULL until connected */
    int      in_use;                /* guarded by the pool mutex */
    int      in_tx;                 /* BEGIN issued, no COMMIT/ROLLBACK yet */
    int      broken;                /* reconnect on next acquire */
    char     err[512];              /* last error message */
    db_stmt *stmts;                 /* owned array */
    size_t   nstmts, capstmts;
    unsigned next_stmt;
};

struct db_pool {
    char           *dsn;            /* owned */
    int             size;
    db_conn        *conns;          /* owned array of size slots */
    pthread_mutex_t mu;
    pthread_cond_t  cv;             /* signalled when a slot is released */
};

static void     db_conn_close(db_conn *c);
static int      db_conn_open(db_pool *p, db_conn *c);
static int      db_conn_healthy(db_conn *c);
static uint64_t db_hash(const char *s);
static const char *db_stmt_name(db_conn *c, const char *sql, int nparams, int *failed);
static void     db_conn_seterr(db_conn *c, const char *what, const char *msg);
static void     db_conn_check_broken(db_conn *c);
static void     db_notice(void *arg, const PGresult *res);

db_pool *db_pool_create(const char *dsn, int size)
{
    db_pool *p = xcalloc(1, sizeof(*p));
    p->dsn = xstrdup(dsn ? dsn : "");
    p->size = size > 0 ? size : 1;
    p->conns = xcalloc((size_t)p->size, sizeof(*p->conns));
    pthread_condattr_t ca;
    if (pthread_mutex_init(&p->mu, NULL) != 0 ||
        pthread_condattr_init(&ca) != 0 ||
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) != 0 ||
        pthread_cond_init(&p->cv, &ca) != 0)
        abort();
    pthread_condattr_destroy(&ca);
    return p;
}

void db_pool_free(db_pool *p)
{
    if (p == NULL)
        return;
    for (int i = 0; i < p->size; i++)
        db_conn_close(&p->conns[i]);
    free(p->conns);
    free(p->dsn);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    free(p);
}

int db_pool_grow(db_pool *p, int size)
{
    pthread_mutex_lock(&p->mu);
    if (size <= p->size) {
        pthread_mutex_unlock(&p->mu);
        return 0;
    }
    for (int i = 0; i < p->size; i++) {
        if (p->conns[i].in_use) {
            pthread_mutex_unlock(&p->mu);
            return -1;
        }
    }
    /* The notice processor points at the slot: close before moving them. */
    for (int i = 0; i < p->size; i++)
        db_conn_close(&p->conns[i]);
    db_conn *n = xcalloc((size_t)size, sizeof(*n));
    free(p->conns);
    p->conns = n;
    p->size = size;
    pthread_mutex_unlock(&p->mu);
    return 0;
}

int db_pool_size(db_pool *p)
{
    pthread_mutex_lock(&p->mu);
    int n = p->size;
    pthread_mutex_unlock(&p->mu);
    return n;
}

db_conn *db_pool_acquire(db_pool *p, int timeout_ms)
{
    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    if (timeout_ms < 0)
        timeout_ms = 0;
    deadline.tv_sec += timeout_ms / 1000;
    deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }

    db_conn *c = NULL;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        /* Prefer a slot with an open connection, then any free slot. */
        for (int i = 0; i < p->size && c == NULL; i++)
            if (!p->conns[i].in_use && p->conns[i].pg != NULL)
                c = &p->conns[i];
        for (int i = 0; i < p->size && c == NULL; i++)
            if (!p->conns[i].in_use)
                c = &p->conns[i];
        if (c != NULL)
            break;
        int rc = pthread_cond_timedwait(&p->cv, &p->mu, &deadline);
        if (rc == ETIMEDOUT) {
            pthread_mutex_unlock(&p->mu);
            return NULL;
        }
    }
    c->in_use = 1;
    pthread_mutex_unlock(&p->mu);

    /* Connect or reconnect outside the mutex. */
    if (c->pg == NULL || c->broken || !db_conn_healthy(c)) {
        db_conn_close(c);
        if (db_conn_open(p, c) != 0) {
            db_conn_close(c);
            pthread_mutex_lock(&p->mu);
            c->in_use = 0;
            pthread_cond_signal(&p->cv);
            pthread_mutex_unlock(&p->mu);
            return NULL;
        }
    }
    c->err[0] = '\0';
    c->in_tx = 0;
    return c;
}

void db_pool_release(db_pool *p, db_conn *c)
{
    if (c == NULL)
        return;
    if (c->pg != NULL && !c->broken &&
        (c->in_tx || PQtransactionStatus(c->pg) != PQTRANS_IDLE))
        (void)db_rollback(c);
    if (c->pg != NULL && PQstatus(c->pg) != CONNECTION_OK)
        c->broken = 1;
    c->in_tx = 0;
    pthread_mutex_lock(&p->mu);
    c->in_use = 0;
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

int db_pool_ping(db_pool *p)
{
    db_conn *c = db_pool_acquire(p, 1000);
    if (c == NULL)
        return 0;
    PGresult *r = db_query(c, "SELECT 1", 0, NULL, NULL, NULL);
    int ok = r != NULL && PQntuples(r) == 1;
    PQclear(r);
    db_pool_release(p, c);
    return ok;
}

PGconn *db_conn_pg(db_conn *c)
{
    return c->pg;
}

const char *db_conn_error(db_conn *c)
{
    return c->err;
}

/* BEGIN/COMMIT/ROLLBACK go through the simple protocol. */
static int db_simple(db_conn *c, const char *sql, const char *expect_tag)
{
    PGresult *r = PQexec(c->pg, sql);
    int ok = r != NULL && PQresultStatus(r) == PGRES_COMMAND_OK &&
             (expect_tag == NULL || strcmp(PQcmdStatus(r), expect_tag) == 0);
    if (!ok) {
        if (r != NULL && PQresultStatus(r) == PGRES_COMMAND_OK)
            db_conn_seterr(c, sql, "transaction was aborted and rolled back");
        else
            db_conn_seterr(c, sql, r ? PQresultErrorMessage(r) : PQerrorMessage(c->pg));
        db_conn_check_broken(c);
    }
    PQclear(r);
    return ok ? 0 : -1;
}

int db_begin(db_conn *c)
{
    if (c->in_tx) {
        db_conn_seterr(c, "BEGIN", "already in a transaction");
        return -1;
    }
    if (db_simple(c, "BEGIN", NULL) != 0)
        return -1;
    c->in_tx = 1;
    return 0;
}

int db_commit(db_conn *c)
{
    /* An aborted transaction answers COMMIT with the tag ROLLBACK. */
    int rc = db_simple(c, "COMMIT", "COMMIT");
    c->in_tx = 0;
    if (rc != 0 && c->pg != NULL && !c->broken &&
        PQtransactionStatus(c->pg) != PQTRANS_IDLE) {
        PQclear(PQexec(c->pg, "ROLLBACK"));
    }
    return rc;
}

int db_rollback(db_conn *c)
{
    c->in_tx = 0;
    if (c->pg == NULL || c->broken)
        return -1;
    return db_simple(c, "ROLLBACK", NULL);
}

PGresult *db_query(db_conn *c, const char *sql, int nparams,
                   const char *const *values, const int *lengths,
                   const int *formats)
{
    if (c->pg == NULL || c->broken) {
        db_conn_seterr(c, "query", "connection is broken");
        return NULL;
    }
    int failed = 0;
    const char *name = db_stmt_name(c, sql, nparams, &failed);
    PGresult *r;
    if (failed)
        return NULL;            /* error recorded by db_stmt_name */
    if (name != NULL)
        r = PQexecPrepared(c->pg, name, nparams, values, lengths, formats, 0);
    else            /* cache full: unnamed statement */
        r = PQexecParams(c->pg, sql, nparams, NULL, values, lengths, formats, 0);
    ExecStatusType st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
        return r;
    db_conn_seterr(c, "query", r ? PQresultErrorMessage(r) : PQerrorMessage(c->pg));
    PQclear(r);
    db_conn_check_broken(c);
    return NULL;
}

int db_exec(db_conn *c, const char *sql, int nparams, const char *const *values)
{
    PGresult *r = db_query(c, sql, nparams, values, NULL, NULL);
    if (r == NULL)
        return -1;
    PQclear(r);
    return 0;
}

/* ---- internals ---- */

static void db_conn_seterr(db_conn *c, const char *what, const char *msg)
{
    size_t n;
    (void)snprintf(c->err, sizeof(c->err), "%s: %s", what, msg ? msg : "unknown error");
    n = strlen(c->err);
    while (n > 0 && (c->err[n - 1] == '\n' || c->err[n - 1] == ' '))
        c->err[--n] = '\0';
}

/* Server notices go to the debug log, not to stderr. A FATAL received
 * while idle (the backend was terminated) marks the connection broken. */
static void db_notice(void *arg, const PGresult *res)
{
    db_conn *c = arg;
    const char *sev = PQresultErrorField(res, PG_DIAG_SEVERITY_NONLOCALIZED);
    if (sev != NULL && (strcmp(sev, "FATAL") == 0 || strcmp(sev, "PANIC") == 0))
        c->broken = 1;
    char line[512];
    (void)str_copy(line, sizeof(line), PQresultErrorMessage(res)); /* truncation is fine */
    size_t n = strlen(line);
    while (n > 0 && line[n - 1] == '\n')
        line[--n] = '\0';
    log_debug("postgresql notice", "detail", line);
}

static void db_conn_check_broken(db_conn *c)
{
    if (c->pg == NULL || PQstatus(c->pg) != CONNECTION_OK)
        c->broken = 1;
}

static void db_conn_close(db_conn *c)
{
    if (c->pg != NULL)
        PQfinish(c->pg);
    c->pg = NULL;
    for (size_t i = 0; i < c->nstmts; i++)
        free(c->stmts[i].sql);
    free(c->stmts);
    c->stmts = NULL;
    c->nstmts = c->capstmts = 0;
    c->next_stmt = 0;
    c->broken = 0;
    c->in_tx = 0;
}

static int db_conn_open(db_pool *p, db_conn *c)
{
    /* connect_timeout first so that a value inside the DSN overrides it. */
    const char *keys[] = { "connect_timeout", "dbname", NULL };
    const char *vals[] = { DB_CONNECT_TIMEOUT, p->dsn, NULL };
    c->pg = PQconnectdbParams(keys, vals, 1);
    if (c->pg == NULL) {
        db_conn_seterr(c, "connect", "out of memory");
        return -1;
    }
    if (PQstatus(c->pg) != CONNECTION_OK) {
        db_conn_seterr(c, "connect", PQerrorMessage(c->pg));
        return -1;
    }
    PQsetNoticeReceiver(c->pg, db_notice, c);
    return 0;
}

/* A connection is healthy when libpq thinks so and nothing arrived while it
 * was idle (a server that terminates a backend sends an error, then EOF). */
static int db_conn_healthy(db_conn *c)
{
    if (PQstatus(c->pg) != CONNECTION_OK)
        return 0;
    struct pollfd pfd = { .fd = PQsocket(c->pg), .events = POLLIN };
    if (pfd.fd < 0)
        return 0;
    /* Read what is there; a termination notice is usually followed by EOF,
     * which the next read reports as a broken connection. */
    for (int i = 0; i < 4 && poll(&pfd, 1, 0) > 0; i++) {
        if (pfd.revents & (POLLHUP | POLLERR | POLLNVAL))
            return 0;
        if (!PQconsumeInput(c->pg))
            return 0;
        PGnotify *nt;
        while ((nt = PQnotifies(c->pg)) != NULL)
            PQfreemem(nt);
        if (PQstatus(c->pg) != CONNECTION_OK || c->broken)
            return 0;
    }
    return 1;
}

static uint64_t db_hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL;             /* FNV-1a */
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return h;
}

/* The statement name for sql on c, preparing it on first use. NULL when the
 * cache is full (the caller runs it unnamed) or on error (*failed set, the
 * message recorded, c->broken set if the connection died). */
static const char *db_stmt_name(db_conn *c, const char *sql, int nparams, int *failed)
{
    uint64_t h = db_hash(sql);
    for (size_t i = 0; i < c->nstmts; i++)
        if (c->stmts[i].hash == h && strcmp(c->stmts[i].sql, sql) == 0)
            return c->stmts[i].name;
    if (c->nstmts >= DB_STMT_MAX)
        return NULL;
    if (c->nstmts == c->capstmts) {
        c->capstmts = c->capstmts ? c->capstmts * 2 : 16;
        c->stmts = xrealloc(c->stmts, c->capstmts * sizeof(*c->stmts));
    }
    db_stmt *s = &c->stmts[c->nstmts];
    (void)snprintf(s->name, sizeof(s->name), "s%u", c->next_stmt++);
    PGresult *r = PQprepare(c->pg, s->name, sql, nparams, NULL);
    if (r == NULL || PQresultStatus(r) != PGRES_COMMAND_OK) {
        db_conn_seterr(c, "prepare", r ? PQresultErrorMessage(r) : PQerrorMessage(c->pg));
        PQclear(r);
        db_conn_check_broken(c);
        *failed = 1;            /* bad SQL is not cached */
        return NULL;
    }
    PQclear(r);
    s->hash = h;
    s->sql = xstrdup(sql);
    c->nstmts++;
    return s->name;
}
