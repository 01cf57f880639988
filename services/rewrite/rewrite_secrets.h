/*
 * rewrite_secrets.h - the SRS secrets every rewrite process signs and
 * verifies with, kept in PostgreSQL (rewrite.srs_secrets, migration
 * 002_srs_secrets.sql) so that a rotation through the API reaches every
 * replica.
 *
 * The newest non-retired secret signs; every non-retired one verifies (at
 * most REWRITE_MAX_SECRETS, newest first). A process keeps an immutable,
 * reference-counted snapshot and reloads it from the table when it is
 * older than reload_seconds (MAILYARD_SRS_RELOAD_SECONDS), on a connection
 * of its own from the pool (never inside a job's transaction). When the
 * table is empty, the first load seeds it from the secrets file
 * (MAILYARD_SRS_SECRETS_FILE; the first line signs). When the database
 * cannot be read, the last snapshot (at start: the file) stays in use.
 *
 * Thread-safe (one mutex around the current snapshot). Secrets are wiped
 * when freed and never logged.
 *
 * Ownership: rewrite_secrets_create() copies the file secrets; the pool is
 * borrowed. A snapshot from rewrite_secrets_get() is the caller's until
 * rewrite_secrets_put().
 */
#ifndef MAILYARD_REWRITE_SECRETS_H
#define MAILYARD_REWRITE_SECRETS_H

#include <stddef.h>
#include <time.h>

#include <jansson.h>

#include "db.h"

#define REWRITE_MAX_SECRETS 32
#define REWRITE_SECRET_BYTES 32     /* generated secrets: 32 random bytes, hex */

typedef struct rewrite_secrets rewrite_secrets;

typedef struct rewrite_secrets_snap {
    const char *const *secrets;     /* the first signs */
    size_t             n;
} rewrite_secrets_snap;

rewrite_secrets *rewrite_secrets_create(db_pool *pool, int db_timeout_ms,
                                        char *const *file_secrets, size_t n,
                                        int reload_seconds);
void             rewrite_secrets_free(rewrite_secrets *s);
/* The current snapshot, reloaded first when stale. Never NULL. */
const rewrite_secrets_snap *rewrite_secrets_get(rewrite_secrets *s, time_t now);
void             rewrite_secrets_put(rewrite_secrets *s, const rewrite_secrets_snap *snap);
/* Makes the next rewrite_secrets_get() reload (after a rotation). */
void             rewrite_secrets_invalidate(rewrite_secrets *s);

/* API helpers on the caller's connection. */
/* {"secrets":[{"id","created_at","retired_at","signing"}]}; 0 or -1. */
int rewrite_secrets_list(db_conn *c, json_t **out);
/* Inserts a new random secret (RAND_bytes); 1 and *out = {"id","created_at"}
 * or -1. */
int rewrite_secrets_rotate(db_conn *c, json_t **out);
/* Retires secret id: 1 done, 0 no such active secret, 2 refused (it is the
 * last active one), -1 database error. */
int rewrite_secrets_retire(db_conn *c, const char *id);

#endif
