/*
 * db.h - PostgreSQL access on libpq: a connection pool, statements that are
 * prepared automatically on first use per connection, and transactions.
 *
 * A pool holds up to size connections, opened lazily. db_pool_acquire()
 * blocks until a connection is free (or timeout_ms passes) and checks it is
 * healthy (PQstatus), reconnecting a broken one. A connection must be
 * released by the thread that acquired it; a connection released inside a
 * transaction is rolled back first.
 *
 * db_query() runs sql with text parameters (values[i] may be NULL for SQL
 * NULL; lengths/formats may be NULL for all-text parameters, as in
 * PQexecPrepared). The statement is prepared once per connection, keyed by
 * the SQL text. Results of PGRES_COMMAND_OK or PGRES_TUPLES_OK are returned
 * (caller PQclear()s); any error returns NULL, records the message (see
 * db_conn_error()) and, if inside a transaction, leaves it aborted: the
 * caller must db_rollback().
 *
 * Ownership: main creates and frees the pool. Connections are borrowed from
 * it. Strings from db_conn_error() live until the next call on that conn.
 */
#ifndef MAILYARD_DB_H
#define MAILYARD_DB_H

#include <stddef.h>
#include <libpq-fe.h>

typedef struct db_pool db_pool;
typedef struct db_conn db_conn;

db_pool    *db_pool_create(const char *dsn, int size);
void        db_pool_free(db_pool *p);
db_conn    *db_pool_acquire(db_pool *p, int timeout_ms);   /* NULL on failure */
void        db_pool_release(db_pool *p, db_conn *c);
/* 1 when a connection can be acquired and answers SELECT 1. */
int         db_pool_ping(db_pool *p);
/* Grows the pool to at least size slots. Only while no connection is
 * acquired (start-up, before any thread uses the pool): idle connections are
 * closed and reopened lazily. 0, or -1 when a connection is in use. */
int         db_pool_grow(db_pool *p, int size);
int         db_pool_size(db_pool *p);

PGconn     *db_conn_pg(db_conn *c);
const char *db_conn_error(db_conn *c);
int         db_begin(db_conn *c);      /* 0 or -1 */
int         db_commit(db_conn *c);     /* 0 or -1 (then rolled back) */
int         db_rollback(db_conn *c);
PGresult   *db_query(db_conn *c, const char *sql, int nparams,
                     const char *const *values, const int *lengths,
                     const int *formats);
/* Convenience: text params only, NULL-terminated list is NOT used; pass n. */
#define db_queryv(c, sql, n, ...) \
    db_query((c), (sql), (n), (const char *const[]){__VA_ARGS__}, NULL, NULL)
/* Run a statement and return 0 on success (result discarded). */
int         db_exec(db_conn *c, const char *sql, int nparams,
                    const char *const *values);

#endif
