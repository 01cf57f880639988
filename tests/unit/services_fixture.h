/*
 * services_fixture.h - helpers for unit tests that need the PostgreSQL and
 * Redis started by tests/unit/with-services.sh.
 *
 * fixture_pg_dsn(name) creates a fresh database "<base>_<name>" (dropping an
 * old one) next to the one in MAILYARD_TEST_PG_DSN and returns a DSN for it,
 * so each test binary has its own schema state. fixture_redis_url(db)
 * returns MAILYARD_TEST_REDIS_URL with the database number replaced, so each
 * binary has its own keyspace. fixture_spool_migrate(dsn) applies only
 * libcommon/sql (MAILYARD_SQL_ROOT or the current directory). They fail the test (not skip) when the
 * variables are missing. Returned strings are malloc'd; the caller frees.
 * Header-only (static functions) so that every test binary stays one file.
 */
#ifndef MAILYARD_SERVICES_FIXTURE_H
#define MAILYARD_SERVICES_FIXTURE_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>
#include <unistd.h>
#include <libpq-fe.h>
#include "migrate.h"

static inline void fixture_pg_quiet(void *arg, const char *msg)
{
    (void)arg;
    (void)msg;
}

static inline char *fixture_pg_dsn(const char *name)
{
    const char *base = getenv("MAILYARD_TEST_PG_DSN");
    if (base == NULL || base[0] == '\0') {
        fprintf(stderr, "MAILYARD_TEST_PG_DSN is not set: run under tests/unit/with-services.sh\n");
        return NULL;
    }
    PGconn *pg = PQconnectdb(base);
    if (PQstatus(pg) != CONNECTION_OK) {
        fprintf(stderr, "cannot connect to %s: %s", base, PQerrorMessage(pg));
        PQfinish(pg);
        return NULL;
    }
    PQsetNoticeProcessor(pg, fixture_pg_quiet, NULL);
    char dbname[128], sql[512];
    snprintf(dbname, sizeof(dbname), "%s_%s", PQdb(pg), name);
    snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS \"%s\" WITH (FORCE)", dbname);
    PGresult *r = PQexec(pg, sql);
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    PQclear(r);
    snprintf(sql, sizeof(sql), "CREATE DATABASE \"%s\"", dbname);
    if (ok) {
        r = PQexec(pg, sql);
        ok = PQresultStatus(r) == PGRES_COMMAND_OK;
        if (!ok)
            fprintf(stderr, "%s: %s", sql, PQresultErrorMessage(r));
        PQclear(r);
    }
    PQfinish(pg);
    if (!ok)
        return NULL;
    size_t n = strlen(base) + strlen(dbname) + 16;
    char *dsn = malloc(n);
    if (dsn == NULL)
        return NULL;
    snprintf(dsn, n, "%s dbname=%s", base, dbname);   /* last dbname wins */
    return dsn;
}

static inline char *fixture_redis_url(int db)
{
    const char *base = getenv("MAILYARD_TEST_REDIS_URL");
    if (base == NULL || base[0] == '\0') {
        fprintf(stderr, "MAILYARD_TEST_REDIS_URL is not set: run under tests/unit/with-services.sh\n");
        return NULL;
    }
    size_t n = strlen(base);
    const char *slash = strrchr(base, '/');
    /* Strip a trailing "/<digits>" (but not the "//" of the scheme). */
    if (slash != NULL && slash > base && slash[-1] != '/' && slash[1] != '\0' &&
        strspn(slash + 1, "0123456789") == strlen(slash + 1))
        n = (size_t)(slash - base);
    char *url = malloc(n + 16);
    if (url == NULL)
        return NULL;
    snprintf(url, n + 16, "%.*s/%d", (int)n, base, db);
    return url;
}

/* Migrates only libcommon/sql: a temporary root with a symlink to it. */
static inline int fixture_spool_migrate(const char *dsn)
{
    const char *root = getenv("MAILYARD_SQL_ROOT");
    char src[PATH_MAX], lib[PATH_MAX + 32], tmp[] = "/tmp/mailyard-spoolroot.XXXXXX", err[512];
    snprintf(lib, sizeof(lib), "%s/libcommon", root ? root : ".");
    if (realpath(lib, src) == NULL || mkdtemp(tmp) == NULL)
        return -1;
    snprintf(lib, sizeof(lib), "%s/libcommon", tmp);
    if (symlink(src, lib) != 0)
        return -1;
    int n = migrate_run(dsn, tmp, err, sizeof(err));
    if (n < 0)
        fprintf(stderr, "migrate: %s\n", err);
    (void)unlink(lib);
    (void)rmdir(tmp);
    return n < 0 ? -1 : 0;
}

#endif
